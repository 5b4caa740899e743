/* A plugin built against another ABI version: ringlb must refuse it. */
#include "ringlb/balancer.h"

const struct rlb_balancer_ops rlb_balancer_plugin = {
	.abi_version = RLB_BALANCER_ABI_VERSION + 1,
	.name = "from_the_future",
};
