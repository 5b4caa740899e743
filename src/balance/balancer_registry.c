/* The table of built-in balancers (the one place a new module is listed),
 * and the loader for plugin modules. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringlb/balancer.h"

extern const struct rlb_balancer_ops rlb_round_robin_ops, rlb_least_conn_ops, rlb_consistent_hash_ops,
	rlb_p2c_ops, rlb_ewma_ops, rlb_random_ops;

static const struct rlb_balancer_ops *const builtin[] = {
	&rlb_round_robin_ops, &rlb_least_conn_ops, &rlb_consistent_hash_ops,
	&rlb_p2c_ops,         &rlb_ewma_ops,       &rlb_random_ops,
};

const struct rlb_balancer_ops *rlb_balancer_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	return NULL;
}

size_t rlb_balancer_names(char *out, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]) && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : "", builtin[i]->name);
	return n;
}

const struct rlb_balancer_ops *rlb_balancer_load_plugin(const char *path, char *why, size_t whylen)
{
	const struct rlb_balancer_ops *ops;
	const char *invalid = NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(why, whylen, "%s", dlerror());
		return NULL;
	}
	ops = dlsym(h, "rlb_balancer_plugin");
	if (ops == NULL) {
		snprintf(why, whylen, "no symbol rlb_balancer_plugin (export a const struct rlb_balancer_ops)");
	} else if (rlb_balancer_validate(ops, &invalid) < 0) {
		if (ops->abi_version != RLB_BALANCER_ABI_VERSION)
			snprintf(why, whylen, "ABI version %u, ringlb needs %u", ops->abi_version,
				 RLB_BALANCER_ABI_VERSION);
		else
			snprintf(why, whylen, "%s", invalid);
	} else {
		return ops;
	}
	dlclose(h);
	return NULL;
}

int rlb_balancer_validate(const struct rlb_balancer_ops *ops, const char **why)
{
	if (ops->abi_version != RLB_BALANCER_ABI_VERSION)
		*why = "ABI version mismatch";
	else if (ops->name == NULL || ops->name[0] == '\0')
		*why = "no name";
	else if (ops->create == NULL || ops->pick == NULL || ops->destroy == NULL)
		*why = "a required hook (create, pick, destroy) is missing";
	else
		return 0;
	return -EINVAL;
}
