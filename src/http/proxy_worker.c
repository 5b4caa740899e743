/* What the HTTP layer keeps per worker (balancer instances, server
 * connection pools, the parse scratch), and the hooks main() hands to the
 * workers so the event loop needs nothing from this layer. */
#include <errno.h>
#include <stdlib.h>

#include "http/proxy.h"

/* Runs from the main thread, one worker after the other, before the
 * worker's thread starts (balancer create hooks rely on that). */
static int init(struct worker *w)
{
	const struct rlb_config *cfg = w->cfg;
	struct rlb_proxy_state *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return -ENOMEM;
	w->upper = ps;
	ps->balancers = calloc(cfg->num_backends, sizeof(*ps->balancers));
	ps->pools = calloc(cfg->num_backends, sizeof(*ps->pools));
	if (ps->balancers == NULL || ps->pools == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->num_backends; i++) {
		struct rlb_backend *be = &cfg->backends[i];
		int rc = be->balancer->create(be, &ps->balancers[i]);

		if (rc < 0)
			return rc;
		ps->balancers[i]->ops = be->balancer;
		ps->balancers[i]->backend = be;
		ps->pools[i] = calloc(be->num_servers, sizeof(struct server_pool));
		if (ps->pools[i] == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < be->num_servers; j++)
			rlb_list_init(&ps->pools[i][j].idle);
	}
	return 0;
}

/* After the worker's thread has ended (or never started); safe on a state
 * that init left half made (everything it did not reach is NULL). */
static void fini(struct worker *w)
{
	struct rlb_proxy_state *ps = w->upper;

	if (ps == NULL)
		return;
	for (size_t i = 0; ps->balancers != NULL && i < w->cfg->num_backends; i++)
		if (ps->balancers[i] != NULL)
			ps->balancers[i]->ops->destroy(ps->balancers[i]);
	for (size_t i = 0; ps->pools != NULL && i < w->cfg->num_backends; i++)
		free(ps->pools[i]);
	free(ps->balancers);
	free(ps->pools);
	free(ps);
	w->upper = NULL;
}

const struct rlb_worker_hooks rlb_proxy_hooks = {
	.init = init,
	.accept = rlb_session_accept,
	.fini = fini,
};
