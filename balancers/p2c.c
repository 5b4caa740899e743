/* Power of two choices (Mitzenmacher; Envoy's least_request, HAProxy's
 * random(2)): draw two distinct servers by weight, send to the one with fewer
 * in-flight requests per unit of weight. O(1) per pick, and unlike a global
 * least-loaded choice it does not herd every worker onto the same server.
 * In-flight counts are the shared atomics, so all workers see all requests. */
#include "ringlb/balancer_util.h"

static int p2c_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	return rlb_sampler_create(be, sizeof(struct rlb_sampler), out);
}

static struct rlb_server *p2c_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct rlb_server *other, *first = rlb_sampler_draw_two((struct rlb_sampler *)b, ctx, &other);

	if (other != NULL && rlb_load_per_weight(other) < rlb_load_per_weight(first))
		return other;
	return first;
}

const struct rlb_balancer_ops rlb_p2c_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "p2c",
	.create = p2c_create,
	.pick = p2c_pick,
	.server_changed = rlb_sampler_server_changed,
	.destroy = rlb_sampler_destroy,
};
