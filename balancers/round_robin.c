/* Smooth weighted round robin, nginx's algorithm
 * (ngx_http_upstream_get_peer): each pick adds every eligible server's weight
 * to its current weight, takes the largest, and subtracts the total from the
 * winner. Weights {5,1,1} give a a b a c a a: the heavy server's turns are
 * spread out instead of bunched, and any window of sum(weights) picks gives
 * each server exactly its weight. O(servers) per pick. */
#include <errno.h>
#include <stdlib.h>

#include "ringlb/balancer.h"

struct round_robin {
	struct rlb_balancer base;
	int64_t current[]; /* one per server, by index */
};

static int rr_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	struct round_robin *rr = calloc(1, sizeof(*rr) + be->num_servers * sizeof(int64_t));

	if (rr == NULL)
		return -ENOMEM;
	*out = &rr->base;
	return 0;
}

static struct rlb_server *rr_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct round_robin *rr = (struct round_robin *)b;
	struct rlb_backend *be = b->backend;
	struct rlb_server *best = NULL;
	int64_t total = 0;
	size_t i;

	for (i = 0; i < be->num_servers; i++) {
		struct rlb_server *srv = &be->servers[i];

		if (!rlb_server_eligible(srv, ctx))
			continue;
		rr->current[i] += srv->weight;
		total += srv->weight;
		if (best == NULL || rr->current[i] > rr->current[best->index])
			best = srv;
	}
	if (best != NULL)
		rr->current[best->index] -= total;
	return best;
}

/* A server coming back starts from zero, as in nginx, so it does not get a
 * burst of the turns it missed. */
static void rr_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	((struct round_robin *)b)->current[srv->index] = 0;
}

static void rr_destroy(struct rlb_balancer *b)
{
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
