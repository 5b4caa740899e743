/* Consistent hashing with a Maglev lookup table (Eisenbud et al., NSDI 2016),
 * with optional bounded loads (Mirrokni, Thorup, Zadimoghaddam; HAProxy's
 * hash-balance-factor).
 *
 * Each up server walks its own permutation of the M table slots (offset and
 * skip from a hash of its name), taking `weight` free slots per round until
 * the table is full: every server owns about M x weight / total slots, and
 * removing one server only moves the keys it owned plus a small extra. The
 * permutations depend only on names and weights, so every ringlb in front of
 * the same servers maps a key to the same server, whatever the start order.
 *
 * The table is shared by all workers and replaced as a whole: a builder
 * thread rebuilds it after a server changes state or weight and publishes it
 * with one atomic exchange; an old table is freed once every worker has
 * passed a quiescent state since (ringlb/qsbr.h), however many rebuilds
 * came in between and however long a worker was descheduled mid-pick.
 *
 * Keys (hash_key): client_ip (default), uri (the request target), header:NAME,
 * cookie:NAME. A request without its key (no such header or cookie) goes
 * round robin. A retry hashes the same key and walks on along the table past
 * the servers tried, so it too is the same for every request with that key.
 * hash_balance_factor = F (> 1, e.g. 1.25): no server takes more than
 * ceil(F x average in-flight x its weight share); the request walks on to the
 * next slot's server. maglev_table_size: a prime, default the larger of 65537
 * and the first prime >= 100 x servers. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ringlb/balancer_util.h"
#include "ringlb/maglev.h"
#include "ringlb/qsbr.h"

#define REAP_EVERY_MS 100 /* while tables wait for their grace period */

enum key_kind { KEY_CLIENT_IP, KEY_URI, KEY_HEADER, KEY_COOKIE };

/* A table swapped out, freed once rlb_qsbr_safe(token). */
struct retired {
	struct rlb_maglev *table;
	uint64_t token;
	struct retired *next;
};

struct ch_shared {
	_Atomic(struct rlb_maglev *) table;
	atomic_uint_fast64_t inflight;  /* the backend's in-flight total, for the bound */
	uint32_t size;                  /* M */
	int refs;
	struct rlb_backend *be;
	/* the builder thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started, dirty, stop;
	struct retired *retired;        /* oldest first */
	size_t nretired;
};

struct chash {
	struct rlb_balancer base;
	struct ch_shared *sh;
	enum key_kind kind;
	char name[RLB_NAME_MAX];        /* header or cookie name */
	double factor;                  /* 0: no bound */
	uint32_t rr;                    /* round robin for keyless requests */
};

/* Frees the retired tables no worker can still be reading (all of them at
 * destroy, when no worker runs). Builder mutex held. */
static void reap(struct ch_shared *sh, int all)
{
	struct retired **at = &sh->retired;

	while (*at != NULL) {
		struct retired *r = *at;

		if (all || rlb_qsbr_safe(r->token)) {
			*at = r->next;
			rlb_maglev_free(r->table);
			free(r);
			sh->nretired--;
		} else {
			at = &r->next;
		}
	}
}

/* Swaps the table in; the old one waits for its grace period. seq_cst, as
 * rlb_qsbr_retire() requires of the exchange before it. */
static void publish(struct ch_shared *sh, struct rlb_maglev *fresh)
{
	struct rlb_maglev *old = atomic_exchange(&sh->table, fresh);
	struct retired *r = malloc(sizeof(*r)), **tail = &sh->retired;
	uint64_t token = rlb_qsbr_retire();

	if (r == NULL) { /* nowhere to note it: wait out its grace period here */
		struct timespec ms = { 0, 1000000 };

		while (!rlb_qsbr_safe(token))
			nanosleep(&ms, NULL);
		rlb_maglev_free(old);
		return;
	}
	*r = (struct retired){ old, token, NULL };
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = r;
	sh->nretired++;
}

static void *builder(void *arg)
{
	struct ch_shared *sh = arg;
	struct rlb_maglev *fresh;

	pthread_mutex_lock(&sh->mu);
	while (!sh->stop) {
		if (!sh->dirty) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += REAP_EVERY_MS * 1000000L; /* wake up to reap retired tables */
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			if (sh->nretired == 0)
				until.tv_sec += 1;
			pthread_cond_timedwait(&sh->cv, &sh->mu, &until);
			reap(sh, 0);
			continue;
		}
		sh->dirty = 0;
		pthread_mutex_unlock(&sh->mu); /* build without holding up server_changed */
		fresh = rlb_maglev_build(sh->be, sh->size);
		pthread_mutex_lock(&sh->mu);
		if (fresh != NULL)
			publish(sh, fresh);
	}
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

static struct ch_shared *shared_new(struct rlb_backend *be, uint32_t size)
{
	struct ch_shared *sh = calloc(1, sizeof(*sh));
	struct rlb_maglev *t;

	if (sh == NULL)
		return NULL;
	sh->be = be;
	sh->size = size;
	t = rlb_maglev_build(be, size);
	if (t == NULL) {
		free(sh);
		return NULL;
	}
	atomic_init(&sh->table, t);
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	return sh;
}

static int parse_key(struct chash *ch, const char *spec)
{
	if (spec == NULL || strcmp(spec, "client_ip") == 0)
		ch->kind = KEY_CLIENT_IP;
	else if (strcmp(spec, "uri") == 0)
		ch->kind = KEY_URI;
	else if (strncmp(spec, "header:", 7) == 0 && spec[7] && strlen(spec + 7) < sizeof(ch->name))
		ch->kind = KEY_HEADER, strcpy(ch->name, spec + 7);
	else if (strncmp(spec, "cookie:", 7) == 0 && spec[7] && strlen(spec + 7) < sizeof(ch->name))
		ch->kind = KEY_COOKIE, strcpy(ch->name, spec + 7);
	else
		return -EINVAL;
	return 0;
}

static int ch_check_param(const char *key, const char *value, const char **why)
{
	struct chash probe;
	char *end;
	double f;
	unsigned long m;

	if (strcmp(key, "hash_key") == 0 && parse_key(&probe, value) < 0)
		*why = "expected client_ip, uri, header:NAME or cookie:NAME";
	else if (strcmp(key, "hash_balance_factor") == 0 && ((f = strtod(value, &end)) <= 1.0 || *end))
		*why = "expected a number above 1 (e.g. 1.25)";
	else if (strcmp(key, "maglev_table_size") == 0 &&
		 ((m = strtoul(value, &end, 10)) < 7 || m > 40000000 || *end || !rlb_maglev_is_prime((uint32_t)m)))
		*why = "expected a prime from 7 to 40000000 (e.g. 65537)";
	else
		return 0;
	return -EINVAL;
}

static int ch_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	struct chash *ch = calloc(1, sizeof(*ch));
	const char *f = rlb_backend_param(be, "hash_balance_factor");
	const char *m = rlb_backend_param(be, "maglev_table_size");

	if (ch == NULL)
		return -ENOMEM;
	if (parse_key(ch, rlb_backend_param(be, "hash_key")) < 0) {
		free(ch);
		return -EINVAL;
	}
	ch->factor = f ? strtod(f, NULL) : 0.0;
	if (be->balancer_shared == NULL) {
		uint32_t size = m ? (uint32_t)strtoul(m, NULL, 10) : rlb_maglev_default_size(be->num_servers);

		be->balancer_shared = shared_new(be, size);
	}
	if (be->balancer_shared == NULL) {
		free(ch);
		return -ENOMEM;
	}
	ch->sh = be->balancer_shared;
	ch->sh->refs++;
	*out = &ch->base;
	return 0;
}

/* The value of the cookie NAME in a Cookie header value, or NULL. */
static const char *find_cookie(const char *v, size_t len, const char *name, size_t *out_len)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (v[i] == ' ' || v[i] == ';'))
			i++;
		start = i;
		while (i < len && v[i] != ';')
			i++;
		end = i;
		if (end - start > nl && v[start + nl] == '=' && memcmp(v + start, name, nl) == 0) {
			*out_len = end - start - nl - 1;
			return v + start + nl + 1;
		}
	}
	return NULL;
}

/* Hashes the request's key; returns 0 when the request has none. */
static int key_hash(const struct chash *ch, const struct rlb_pick_ctx *ctx, uint64_t *h)
{
	const struct rlb_http_msg *m = ctx->req;
	const struct sockaddr *sa = ctx->client_addr;
	size_t i, len;

	if (ch->kind == KEY_CLIENT_IP) {
		if (sa->sa_family == AF_INET6)
			*h = rlb_hash64(&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, 0);
		else
			*h = rlb_hash64(&((const struct sockaddr_in *)sa)->sin_addr, 4, 0);
		return 1;
	}
	if (m == NULL)
		return 0;
	if (ch->kind == KEY_URI) {
		*h = rlb_hash64(m->target, m->target_len, 0);
		return 1;
	}
	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *hd = &m->headers[i];
		const char *v;

		if (ch->kind == KEY_HEADER && rlb_http_token_eq(hd->name, hd->name_len, ch->name)) {
			*h = rlb_hash64(hd->value, hd->value_len, 0);
			return 1;
		}
		if (ch->kind == KEY_COOKIE && rlb_http_token_eq(hd->name, hd->name_len, "cookie") &&
		    (v = find_cookie(hd->value, hd->value_len, ch->name, &len)) != NULL) {
			*h = rlb_hash64(v, len, 0);
			return 1;
		}
	}
	return 0;
}

/* Whether srv may take one more request under the bound. */
static int under_cap(const struct chash *ch, const struct rlb_maglev *t, const struct rlb_server *srv)
{
	uint64_t total = atomic_load_explicit(&ch->sh->inflight, memory_order_relaxed) + 1;
	uint64_t active = atomic_load_explicit(&srv->active_requests, memory_order_relaxed);
	double cap = ch->factor * (double)total * rlb_server_weight(srv) / (double)t->total_weight;
	uint64_t whole = (uint64_t)cap;

	return active + 1 <= (cap > (double)whole ? whole + 1 : whole); /* ceil */
}

static struct rlb_server *keyless(struct chash *ch, const struct rlb_pick_ctx *ctx)
{
	struct rlb_backend *be = ch->base.backend;
	size_t i;

	for (i = 0; i < be->num_servers; i++) {
		struct rlb_server *srv = &be->servers[ch->rr++ % be->num_servers];

		if (rlb_server_eligible(srv, ctx))
			return srv;
	}
	return NULL;
}

static struct rlb_server *ch_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct chash *ch = (struct chash *)b;
	const struct rlb_maglev *t = atomic_load_explicit(&ch->sh->table, memory_order_acquire);
	uint64_t h;
	uint32_t pos, step;

	if (!key_hash(ch, ctx, &h))
		return keyless(ch, ctx);
	pos = (uint32_t)(h % t->size);
	/* The key's own slot first; a server that is down, tried or full sends
	 * the request on along the table, which spreads it by the same weights. */
	for (step = 0; step < t->size; step++, pos = pos + 1 == t->size ? 0 : pos + 1) {
		uint32_t i = t->entry[pos];
		struct rlb_server *srv;

		if (i == RLB_MAGLEV_EMPTY)
			return NULL; /* no server is up */
		srv = &b->backend->servers[i];
		if (rlb_server_eligible(srv, ctx) && (ch->factor == 0.0 || under_cap(ch, t, srv)))
			return srv;
	}
	return NULL;
}

static void ch_request_start(struct rlb_balancer *b, struct rlb_server *srv)
{
	(void)srv;
	atomic_fetch_add_explicit(&((struct chash *)b)->sh->inflight, 1, memory_order_relaxed);
}

static void ch_request_end(struct rlb_balancer *b, struct rlb_server *srv, enum rlb_outcome outcome,
			   uint64_t latency_us, uint64_t now_us)
{
	(void)srv, (void)outcome, (void)latency_us, (void)now_us;
	atomic_fetch_sub_explicit(&((struct chash *)b)->sh->inflight, 1, memory_order_relaxed);
}

/* Called on every worker for the same change: the first wakes the builder,
 * the others find it dirty already. */
static void ch_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	struct ch_shared *sh = ((struct chash *)b)->sh;

	(void)srv;
	pthread_mutex_lock(&sh->mu);
	if (!sh->started && pthread_create(&sh->thread, NULL, builder, sh) == 0)
		sh->started = 1;
	sh->dirty = 1;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

static void ch_destroy(struct rlb_balancer *b)
{
	struct ch_shared *sh = ((struct chash *)b)->sh;

	if (--sh->refs == 0) {
		pthread_mutex_lock(&sh->mu);
		sh->stop = 1;
		pthread_cond_signal(&sh->cv);
		pthread_mutex_unlock(&sh->mu);
		if (sh->started)
			pthread_join(sh->thread, NULL);
		reap(sh, 1);
		rlb_maglev_free(atomic_load(&sh->table));
		pthread_mutex_destroy(&sh->mu);
		pthread_cond_destroy(&sh->cv);
		b->backend->balancer_shared = NULL;
		free(sh);
	}
	free(b);
}

/* For tests: the current table (a reader holds it as a pick does), its
 * generation (to wait for a rebuild), and how many old tables still wait for
 * their grace period. */
const struct rlb_maglev *rlb_consistent_hash_table(const struct rlb_balancer *b)
{
	return atomic_load(&((const struct chash *)b)->sh->table);
}

uint64_t rlb_consistent_hash_generation(const struct rlb_balancer *b)
{
	return rlb_consistent_hash_table(b)->generation;
}

size_t rlb_consistent_hash_retired(const struct rlb_balancer *b)
{
	struct ch_shared *sh = ((const struct chash *)b)->sh;
	size_t n;

	pthread_mutex_lock(&sh->mu);
	n = sh->nretired;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

static const char *const ch_params[] = { "hash_key", "hash_balance_factor", "maglev_table_size", NULL };

const struct rlb_balancer_ops rlb_consistent_hash_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "consistent_hash",
	.create = ch_create,
	.pick = ch_pick,
	.request_start = ch_request_start,
	.request_end = ch_request_end,
	.server_changed = ch_server_changed,
	.destroy = ch_destroy,
	.params = ch_params,
	.check_param = ch_check_param,
};
