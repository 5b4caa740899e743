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
	ps->backend_generation = calloc(cfg->num_backends, sizeof(unsigned));
	ps->server_version = calloc(cfg->num_backends, sizeof(unsigned *));
	ps->retry_tokens = calloc(cfg->num_backends, sizeof(uint32_t));
	if (!ps->balancers || !ps->pools || !ps->backend_generation || !ps->server_version || !ps->retry_tokens)
		return -ENOMEM;
	/* What the balancers are created from is at least this new; a change
	 * after this read is noticed at the first turn (after_turn). */
	ps->generation = atomic_load(&cfg->generation);
	for (size_t i = 0; i < cfg->num_backends; i++) {
		struct rlb_backend *be = &cfg->backends[i];

		ps->backend_generation[i] = atomic_load(&be->generation);
		ps->server_version[i] = calloc(be->num_servers, sizeof(unsigned));
		if (ps->server_version[i] == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < be->num_servers; j++)
			ps->server_version[i][j] = atomic_load(&be->servers[j].version);
	}
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
		ps->retry_tokens[i] = RLB_RETRY_BURST * 100;
	}
	return rlb_access_log_open(w);
}

/* Applies the server changes the control thread published since the last
 * turn (rules in ringlb/server.h): each balancer hears of each changed
 * server once, and a server that takes no new requests loses its idle
 * pooled connections (it is going away, or has gone). */
static void after_turn(struct worker *w)
{
	struct rlb_proxy_state *ps = w->upper;
	const struct rlb_config *cfg = w->cfg;
	unsigned g = atomic_load_explicit(&cfg->generation, memory_order_acquire);

	rlb_access_log_flush(w);
	if (g == ps->generation)
		return;
	ps->generation = g;
	for (size_t i = 0; i < cfg->num_backends; i++) {
		struct rlb_backend *be = &cfg->backends[i];
		struct rlb_balancer *b = ps->balancers[i];
		unsigned bg = atomic_load_explicit(&be->generation, memory_order_acquire);

		if (bg == ps->backend_generation[i])
			continue;
		ps->backend_generation[i] = bg;
		for (size_t j = 0; j < be->num_servers; j++) {
			struct rlb_server *srv = &be->servers[j];
			unsigned v = atomic_load_explicit(&srv->version, memory_order_acquire);

			if (v == ps->server_version[i][j])
				continue;
			ps->server_version[i][j] = v;
			if (b->ops->server_changed)
				b->ops->server_changed(b, srv);
			/* Taking nothing new, it is going away; a DNS slot may be
			 * another machine now: either way its idle connections go. */
			if (rlb_server_weight(srv) == 0 || srv->group != NULL)
				rlb_upstream_pool_flush(w, srv);
		}
	}
}

/* After the worker's thread has ended (or never started); safe on a state
 * that init left half made (everything it did not reach is NULL). */
static void fini(struct worker *w)
{
	struct rlb_proxy_state *ps = w->upper;

	if (ps == NULL)
		return;
	rlb_access_log_close(w);
	for (size_t i = 0; ps->balancers != NULL && i < w->cfg->num_backends; i++)
		if (ps->balancers[i] != NULL)
			ps->balancers[i]->ops->destroy(ps->balancers[i]);
	for (size_t i = 0; ps->pools != NULL && i < w->cfg->num_backends; i++)
		free(ps->pools[i]);
	for (size_t i = 0; ps->server_version != NULL && i < w->cfg->num_backends; i++)
		free(ps->server_version[i]);
	free(ps->balancers);
	free(ps->pools);
	free(ps->server_version);
	free(ps->backend_generation);
	free(ps->retry_tokens);
	free(ps);
	w->upper = NULL;
}

/* max_connections reached on this worker: counted per frontend (each time
 * accepting pauses, connections are held back, not refused), and said once
 * per episode: clients hanging in the kernel's queue would otherwise be
 * the only sign. */
static void full(struct listener *l)
{
	struct worker *w = l->w;
	const struct rlb_frontend *fe = l->at.owner;
	struct rlb_frontend_stats *fst = frontend_stats(w, fe);

	if (fst != NULL)
		rlb_counter_add(&fst->rejected[RLB_REJECT_MAXCONN], 1);
	if (w->upper->at_max_connections)
		return;
	w->upper->at_max_connections = 1;
	rlb_warn("frontend %s: max_connections = %u reached (%s holds its share, %u clients): new connections wait "
		 "in the kernel's accept queue until clients leave; said once until it has room again", fe->name,
		 w->cfg->max_connections, w->name, w->max_clients);
}

/* The episode ends at 90% of the share, not at the first client to leave,
 * so a worker at the edge does not log every connection. */
void rlb_proxy_client_left(struct worker *w)
{
	if (!w->upper->at_max_connections || w->nclients > w->max_clients - 1 - w->max_clients / 10)
		return;
	w->upper->at_max_connections = 0;
	rlb_log("%s: below max_connections again (%u clients of its %u): accepting", w->name, w->nclients,
		w->max_clients);
}

const struct rlb_worker_hooks rlb_proxy_hooks = {
	.init = init,
	.accept = rlb_session_accept,
	.full = full,
	.after_turn = after_turn,
	.fini = fini,
};
