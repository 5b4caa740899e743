/* Smooth weighted round robin, nginx's algorithm
 * (ngx_http_upstream_get_peer): each step adds every server's weight to its
 * current weight, takes the largest, and subtracts the total from the
 * winner. Weights {5,1,1} give a a b a c a a: the heavy server's turns are
 * spread out instead of bunched, and any window of sum(weights) picks gives
 * each server exactly its weight.
 *
 * nginx runs those steps on every pick, O(servers). The sequence repeats
 * every sum(weights) steps (weights divided by their greatest common
 * divisor), so here one cycle is computed and a pick is the next entry that
 * is eligible: O(1) while servers are up. Servers that are down or already
 * tried are skipped, which keeps the others' proportions. The cycle is
 * rebuilt at the first pick after servers changed (once however many
 * changed), on the worker, so its cost is bounded: a cycle longer than
 * RR_CYCLE_MAX, or costing more than RR_BUILD_MAX steps to build, gives way
 * to nginx's per-pick steps. */
#include <errno.h>
#include <stdlib.h>

#include "ringlb/balancer.h"

#define RR_CYCLE_MAX (1u << 16)  /* entries: 256 KiB at most per instance */
#define RR_BUILD_MAX (1u << 20)  /* servers x entries: about a millisecond */

struct round_robin {
	struct rlb_balancer base;
	uint32_t *cycle;   /* server indexes, one cycle of the sequence; NULL: step per pick */
	uint32_t len, pos;
	uint8_t stale;     /* servers changed since the cycle was built */
	uint32_t builds;   /* cycles built, for the tests */
	int64_t current[]; /* one per server, by index */
};

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* One step of the smooth algorithm, with each server's weight from
 * weights[] (a snapshot, for a cycle) or loaded once now (a pick without a
 * cycle, over the servers ctx allows). Returns the winner's index or -1. */
static int64_t step(struct round_robin *rr, const struct rlb_backend *be, const uint32_t *weights,
		    const struct rlb_pick_ctx *ctx)
{
	int64_t total = 0, best = -1;
	size_t i;

	for (i = 0; i < be->num_servers; i++) {
		const struct rlb_server *srv = &be->servers[i];
		uint32_t weight = weights ? weights[i] : rlb_server_weight(srv);

		if (weight == 0 || (ctx && !rlb_server_eligible(srv, ctx)))
			continue;
		rr->current[i] += weight;
		total += weight;
		if (best < 0 || rr->current[i] > rr->current[best])
			best = (int64_t)i;
	}
	if (best >= 0)
		rr->current[best] -= total;
	return best;
}

/* Computes one cycle from a snapshot of the weights (the control thread may
 * change them meanwhile), or leaves cycle NULL when they are all 0 or too
 * large. */
static int build_cycle(struct round_robin *rr, const struct rlb_backend *be)
{
	uint32_t *weights = malloc(be->num_servers * sizeof(uint32_t)), div = 0;
	uint64_t total = 0;
	uint32_t i;

	free(rr->cycle);
	rr->cycle = NULL;
	rr->len = rr->pos = 0;
	rr->stale = 0;
	rr->builds++;
	if (weights == NULL)
		return -ENOMEM;
	for (i = 0; i < be->num_servers; i++)
		div = gcd(div, weights[i] = rlb_server_weight(&be->servers[i]));
	for (i = 0; div > 1 && i < be->num_servers; i++)
		weights[i] /= div;
	for (i = 0; i < be->num_servers; i++)
		total += weights[i];
	if (total > 0 && total <= RR_CYCLE_MAX && total * be->num_servers <= RR_BUILD_MAX &&
	    (rr->cycle = malloc(total * sizeof(uint32_t))) != NULL) {
		for (i = 0; i < be->num_servers; i++)
			rr->current[i] = 0;
		for (i = 0; i < total; i++)
			rr->cycle[i] = (uint32_t)step(rr, be, weights, NULL);
		rr->len = (uint32_t)total;
	}
	free(weights);
	return 0; /* without a cycle (too long, or no memory), picks step */
}

static int rr_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	struct round_robin *rr = calloc(1, sizeof(*rr) + be->num_servers * sizeof(int64_t));

	if (rr == NULL)
		return -ENOMEM;
	if (build_cycle(rr, be) < 0) {
		free(rr);
		return -ENOMEM;
	}
	*out = &rr->base;
	return 0;
}

static struct rlb_server *rr_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct round_robin *rr = (struct round_robin *)b;
	struct rlb_backend *be = b->backend;
	uint32_t tries;
	int64_t i;

	if (rr->stale)
		build_cycle(rr, be);
	if (rr->cycle == NULL) {
		i = step(rr, be, NULL, ctx);
		return i < 0 ? NULL : &be->servers[i];
	}
	for (tries = 0; tries < rr->len; tries++) {
		struct rlb_server *srv = &be->servers[rr->cycle[rr->pos]];

		rr->pos = rr->pos + 1 == rr->len ? 0 : rr->pos + 1;
		if (rlb_server_eligible(srv, ctx))
			return srv;
	}
	return NULL;
}

/* A new cycle from the new weights at the next pick (a server that is not
 * up has weight 0 and leaves it). Without a cycle, a returning server starts
 * from zero, as in nginx, so it does not get a burst of the turns it missed. */
static void rr_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	struct round_robin *rr = (struct round_robin *)b;

	rr->stale = 1;
	rr->current[srv->index] = 0;
}

/* For tests: the precomputed cycle's length (0: per-pick steps), and how
 * many times a cycle was computed. */
uint32_t rlb_round_robin_cycle_len(const struct rlb_balancer *b)
{
	return ((const struct round_robin *)b)->len;
}

uint32_t rlb_round_robin_builds(const struct rlb_balancer *b)
{
	return ((const struct round_robin *)b)->builds;
}

static void rr_destroy(struct rlb_balancer *b)
{
	free(((struct round_robin *)b)->cycle);
	free(b);
}

const struct rlb_balancer_ops rlb_round_robin_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "round_robin",
	.create = rr_create,
	.pick = rr_pick,
	.server_changed = rr_server_changed,
	.destroy = rr_destroy,
};
