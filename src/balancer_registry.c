/* The table of built-in balancers: the one place a new module is listed. */
#include <errno.h>
#include <string.h>

#include "ringlb/balancer.h"

extern const struct rlb_balancer_ops rlb_round_robin_ops;

static const struct rlb_balancer_ops *const builtin[] = {
	&rlb_round_robin_ops,
};

const struct rlb_balancer_ops *rlb_balancer_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
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
