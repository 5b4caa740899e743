/* Example plugin: "first available" (HAProxy's `balance first`): every
 * request goes to the first eligible server in config order, so servers fill
 * up one after another and the rest can be scaled down. Loaded with
 *
 *   balance = plugin:build/plugins/first_available.so
 *
 * A plugin is a shared object exporting one symbol, rlb_balancer_plugin, of
 * type struct rlb_balancer_ops with abi_version = RLB_BALANCER_ABI_VERSION.
 * Its own backend keys are listed in params, checked by check_param and read
 * with rlb_backend_param() (ringlb exports its symbols to plugins): here,
 * `first_skip = N` leaves the first N servers out of the order.
 * Build: cc -shared -fPIC -Iinclude -o first_available.so first_available.c */
#include <errno.h>
#include <stdlib.h>

#include "ringlb/balancer.h"

struct first {
	struct rlb_balancer base;
	size_t skip;
};

static int first_check_param(const char *key, const char *value, const char **why)
{
	char *end;

	(void)key;
	if (value[0] < '0' || value[0] > '9' || strtoul(value, &end, 10) > 1000 || *end) {
		*why = "expected a number of servers from 0 to 1000";
		return -EINVAL;
	}
	return 0;
}

static int first_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	struct first *f = calloc(1, sizeof(*f));
	const char *skip = rlb_backend_param(be, "first_skip");

	if (f == NULL)
		return -ENOMEM;
	f->skip = skip ? strtoul(skip, NULL, 10) : 0;
	*out = &f->base;
	return 0;
}

static struct rlb_server *first_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	size_t i;

	for (i = ((struct first *)b)->skip; i < b->backend->num_servers; i++)
		if (rlb_server_eligible(&b->backend->servers[i], ctx))
			return &b->backend->servers[i];
	return NULL;
}

static void first_destroy(struct rlb_balancer *b)
{
	free(b);
}

static const char *const first_params[] = { "first_skip", NULL };

const struct rlb_balancer_ops rlb_balancer_plugin = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "first_available",
	.create = first_create,
	.pick = first_pick,
	.destroy = first_destroy,
	.params = first_params,
	.check_param = first_check_param,
};
