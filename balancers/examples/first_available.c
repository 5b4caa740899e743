/* Example plugin: "first available" (HAProxy's `balance first`): every
 * request goes to the first eligible server in config order, so servers fill
 * up one after another and the rest can be scaled down. Loaded with
 *
 *   balance = plugin:build/plugins/first_available.so
 *
 * A plugin is a shared object exporting one symbol, rlb_balancer_plugin, of
 * type struct rlb_balancer_ops with abi_version = RLB_BALANCER_ABI_VERSION.
 * Build: cc -shared -fPIC -Iinclude -o first_available.so first_available.c */
#include <errno.h>
#include <stdlib.h>

#include "ringlb/balancer.h"

static int first_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	(void)be;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static struct rlb_server *first_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	size_t i;

	for (i = 0; i < b->backend->num_servers; i++)
		if (rlb_server_eligible(&b->backend->servers[i], ctx))
			return &b->backend->servers[i];
	return NULL;
}

static void first_destroy(struct rlb_balancer *b)
{
	free(b);
}

const struct rlb_balancer_ops rlb_balancer_plugin = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "first_available",
	.create = first_create,
	.pick = first_pick,
	.destroy = first_destroy,
};
