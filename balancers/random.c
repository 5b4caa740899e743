/* Weighted random: each pick draws a server with probability weight/total
 * (Vose's alias table, O(1)). No state between picks: the baseline the other
 * algorithms are compared with. */
#include "ringlb/balancer_util.h"

static int random_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	return rlb_sampler_create(be, sizeof(struct rlb_sampler), out);
}

static struct rlb_server *random_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	return rlb_sampler_draw((struct rlb_sampler *)b, ctx);
}

const struct rlb_balancer_ops rlb_random_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "random",
	.create = random_create,
	.pick = random_pick,
	.server_changed = rlb_sampler_server_changed,
	.destroy = rlb_sampler_destroy,
};
