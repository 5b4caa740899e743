/* Least connections: the server with the fewest in-flight requests per unit
 * of weight ((in-flight + 1) / weight, as HAProxy's leastconn), counted over
 * all worker threads.
 *
 * One tournament tree per backend is shared by every worker's instance: each
 * inner node holds the index of the smaller key of its two children, so the
 * root is the answer (O(1)) and a count change re-plays one leaf-to-root path
 * (O(log n)). A short spinlock guards it; the critical section is a few dozen
 * instructions, so two workers rarely meet there. Ties go to the server
 * picked least recently (the low bits of the key), so equal servers rotate
 * instead of the first one taking every tie. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ringlb/balancer.h"

#define KEY_NONE UINT64_MAX   /* down or weight 0: never the minimum */
#define STAMP_BITS 24

struct lc_shared {
	atomic_flag lock;
	int refs;
	uint32_t n, size;        /* servers; leaves (a power of two >= n) */
	uint32_t *tree;          /* [2 * size]: index of the min key below */
	uint64_t *key;           /* [n + 1]: key[n] is the KEY_NONE sentinel */
	/* [n]: in-flight per server. Not the core's srv->active_requests: a key
	 * must change only under the lock, or the tree would go stale. */
	uint32_t *inflight;
	uint64_t stamp;          /* pick counter, for tie rotation */
	uint64_t *last_pick;     /* [n] */
};

struct least_conn {
	struct rlb_balancer base;
	struct lc_shared *sh;
};

static void lock(struct lc_shared *sh)
{
	while (atomic_flag_test_and_set_explicit(&sh->lock, memory_order_acquire))
		__builtin_ia32_pause();
}

static void unlock(struct lc_shared *sh)
{
	atomic_flag_clear_explicit(&sh->lock, memory_order_release);
}

static uint64_t key_of(const struct lc_shared *sh, const struct rlb_server *srv)
{
	uint32_t i = srv->index, weight = rlb_server_weight(srv);

	if (weight == 0 || atomic_load_explicit(&srv->state, memory_order_relaxed) != RLB_SERVER_UP)
		return KEY_NONE;
	return ((((uint64_t)sh->inflight[i] + 1) << 16) / weight) << STAMP_BITS |
	       (sh->last_pick[i] & ((1u << STAMP_BITS) - 1));
}

static void replay(struct lc_shared *sh, uint32_t node)
{
	uint32_t l = sh->tree[2 * node], r = sh->tree[2 * node + 1];

	sh->tree[node] = sh->key[l] <= sh->key[r] ? l : r;
}

/* Re-computes srv's key and the path above it. Lock held. */
static void update(struct lc_shared *sh, const struct rlb_server *srv)
{
	uint32_t node;

	sh->key[srv->index] = key_of(sh, srv);
	for (node = (sh->size + srv->index) >> 1; node >= 1; node >>= 1)
		replay(sh, node);
}

static struct lc_shared *shared_new(const struct rlb_backend *be)
{
	struct lc_shared *sh = calloc(1, sizeof(*sh));
	uint32_t i;

	if (sh == NULL)
		return NULL;
	sh->n = (uint32_t)be->num_servers;
	for (sh->size = 1; sh->size < sh->n; sh->size *= 2)
		;
	sh->tree = calloc(2 * (size_t)sh->size, sizeof(uint32_t));
	sh->key = calloc(sh->n + 1, sizeof(uint64_t));
	sh->inflight = calloc(sh->n, sizeof(uint32_t));
	sh->last_pick = calloc(sh->n, sizeof(uint64_t));
	if (!sh->tree || !sh->key || !sh->inflight || !sh->last_pick) {
		free(sh->tree), free(sh->key), free(sh->inflight), free(sh->last_pick), free(sh);
		return NULL;
	}
	atomic_flag_clear(&sh->lock);
	sh->key[sh->n] = KEY_NONE;
	for (i = 0; i < sh->n; i++)
		sh->key[i] = key_of(sh, &be->servers[i]);
	for (i = 0; i < sh->size; i++) /* leaves past n are the sentinel */
		sh->tree[sh->size + i] = i < sh->n ? i : sh->n;
	for (i = sh->size - 1; i >= 1; i--)
		replay(sh, i);
	return sh;
}

/* Instances of one backend share its tree (create runs on the main thread,
 * one worker after another, so the refcount needs no atomics). */
static int lc_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	struct least_conn *lc = calloc(1, sizeof(*lc));

	if (lc == NULL)
		return -ENOMEM;
	if (be->balancer_shared == NULL && (be->balancer_shared = shared_new(be)) == NULL) {
		free(lc);
		return -ENOMEM;
	}
	lc->sh = be->balancer_shared;
	lc->sh->refs++;
	*out = &lc->base;
	return 0;
}

/* Retries (a server to avoid) and stale keys fall back to a scan. */
static uint32_t scan(const struct lc_shared *sh, const struct rlb_backend *be, const struct rlb_pick_ctx *ctx)
{
	uint32_t i, best = sh->n;

	for (i = 0; i < sh->n; i++)
		if (rlb_server_eligible(&be->servers[i], ctx) && (best == sh->n || sh->key[i] < sh->key[best]))
			best = i;
	return best;
}

static struct rlb_server *lc_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct lc_shared *sh = ((struct least_conn *)b)->sh;
	struct rlb_backend *be = b->backend;
	struct rlb_server *srv = NULL;
	uint32_t i;

	lock(sh);
	i = sh->tree[1];
	if (i == sh->n || !rlb_server_eligible(&be->servers[i], ctx))
		i = scan(sh, be, ctx);
	if (i < sh->n) {
		srv = &be->servers[i];
		sh->inflight[i]++;
		sh->last_pick[i] = ++sh->stamp;
		update(sh, srv);
	}
	unlock(sh);
	return srv;
}

static void lc_request_end(struct rlb_balancer *b, struct rlb_server *srv, enum rlb_outcome outcome,
			   uint64_t latency_us, uint64_t now_us)
{
	struct lc_shared *sh = ((struct least_conn *)b)->sh;

	(void)outcome, (void)latency_us, (void)now_us;
	lock(sh);
	if (sh->inflight[srv->index] > 0)
		sh->inflight[srv->index]--;
	update(sh, srv);
	unlock(sh);
}

static void lc_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	struct lc_shared *sh = ((struct least_conn *)b)->sh;

	lock(sh);
	update(sh, srv);
	unlock(sh);
}

static void lc_destroy(struct rlb_balancer *b)
{
	struct lc_shared *sh = ((struct least_conn *)b)->sh;

	if (--sh->refs == 0) {
		b->backend->balancer_shared = NULL;
		free(sh->tree), free(sh->key), free(sh->inflight), free(sh->last_pick), free(sh);
	}
	free(b);
}

const struct rlb_balancer_ops rlb_least_conn_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "least_conn",
	.create = lc_create,
	.pick = lc_pick,
	.request_end = lc_request_end,
	.server_changed = lc_server_changed,
	.destroy = lc_destroy,
};
