/* Generations: start beside the current one, drain, free (generation.h). */
#include "generation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/proxy.h"
#include "metrics/stats.h"

static uint8_t slot_used[RLB_WORKER_SLOTS];

/* The lowest free slots, one per worker; -ENOSPC when the generations
 * still draining hold too many. */
static int take_slots(struct rlb_generation *g)
{
	int i = 0;

	for (int slot = 0; slot < RLB_WORKER_SLOTS && i < g->cfg->workers; slot++)
		if (!slot_used[slot]) {
			slot_used[slot] = 1;
			g->workers[i++].id = slot;
		}
	if (i == g->cfg->workers)
		return 0;
	while (i-- > 0)
		slot_used[g->workers[i].id] = 0;
	return -ENOSPC;
}

static void release_slots(struct rlb_generation *g)
{
	for (int i = 0; i < g->cfg->workers; i++)
		slot_used[g->workers[i].id] = 0;
}

static uint32_t slots_needed(const struct rlb_generation *g)
{
	int top = 0;

	for (int i = 0; i < g->cfg->workers; i++)
		top = g->workers[i].id > top ? g->workers[i].id : top;
	return (uint32_t)top + 1;
}

/* Every frontend's sockets, dealt to the workers in turn (each gets at
 * least one; a reload to fewer workers deals the extra ones out too, so
 * no socket with waiting connections is closed): fills each worker's
 * listen list, [nsock] entries at listen[i * nsock_cap]. */
struct dealt {
	struct rlb_listen *listen; /* [workers][cap] */
	size_t *n;                 /* [workers] */
	size_t cap;
};

static int deal_sockets(struct rlb_generation *g, struct rlb_listen_pool *pool, struct dealt *d)
{
	const struct rlb_config *cfg = g->cfg;
	size_t nw = (size_t)cfg->workers, most = nw;
	int *fds;

	for (size_t f = 0; f < cfg->num_frontends; f++) {
		size_t have = rlb_listen_pool_count(pool, (const struct sockaddr *)&cfg->frontends[f].listen,
						    cfg->frontends[f].listen_len);
		most = have > most ? have : most;
	}
	d->cap = cfg->num_frontends * ((most + nw - 1) / nw);
	d->listen = calloc(nw * (d->cap ? d->cap : 1), sizeof(*d->listen));
	d->n = calloc(nw, sizeof(*d->n));
	fds = calloc(most, sizeof(*fds));
	if (d->listen == NULL || d->n == NULL || fds == NULL) {
		free(fds);
		return -ENOMEM;
	}
	for (size_t f = 0; f < cfg->num_frontends; f++) {
		struct rlb_frontend *fe = &g->cfg->frontends[f];
		int k = rlb_listen_pool_take(pool, (const struct sockaddr *)&fe->listen, fe->listen_len,
					     fe->listen_text, nw, g->number, fds, most);

		if (k < 0) {
			free(fds);
			return k;
		}
		for (int j = 0; j < k; j++) {
			size_t w = (size_t)j % nw;

			d->listen[w * d->cap + d->n[w]++] = (struct rlb_listen){
				(const struct sockaddr *)&fe->listen, fe->listen_len, fe->listen_text, fe, fds[j]
			};
		}
	}
	free(fds);
	return 0;
}

/* Every socket of the admin address: a reload may move the admin to an
 * address a frontend had, with a socket per worker, all of which get
 * connections. */
static int take_admin(struct rlb_generation *g, struct rlb_listen_pool *pool)
{
	const struct rlb_config *cfg = g->cfg;
	const struct sockaddr *addr = (const struct sockaddr *)&cfg->admin;
	size_t have;
	int k;

	if (cfg->admin_len == 0)
		return 0;
	have = rlb_listen_pool_count(pool, addr, cfg->admin_len);
	if ((g->admin_fds = calloc(have ? have : 1, sizeof(int))) == NULL)
		return -ENOMEM;
	k = rlb_listen_pool_take(pool, addr, cfg->admin_len, cfg->admin_text, 1, g->number, g->admin_fds,
				 have ? have : 1);
	if (k < 0)
		return k;
	g->nadmin = (size_t)k;
	return 0;
}

/* Marks g's sockets as g's again (a reload that failed after the next
 * generation took them), so closing the unmarked ones closes only what
 * the failed one opened. */
static void remark(struct rlb_generation *g, struct rlb_listen_pool *pool)
{
	const struct rlb_config *cfg = g->cfg;
	int fd;

	for (size_t f = 0; f < cfg->num_frontends; f++)
		rlb_listen_pool_take(pool, (const struct sockaddr *)&cfg->frontends[f].listen,
				     cfg->frontends[f].listen_len, cfg->frontends[f].listen_text, 0, g->number, &fd, 0);
	if (cfg->admin_len)
		rlb_listen_pool_take(pool, (const struct sockaddr *)&cfg->admin, cfg->admin_len, cfg->admin_text, 0,
				     g->number, &fd, 0);
	rlb_listen_pool_close_unmarked(pool, g->number);
}

static int start_worker(struct rlb_generation *g, int i, const struct dealt *d)
{
	const struct rlb_config *cfg = g->cfg;
	struct rlb_loop_spec spec = {
		.listen = &d->listen[(size_t)i * d->cap],
		.nlisten = d->n[i],
		.nbufs = RLB_BUF_COUNT,
		.max_clients = (cfg->max_connections + (uint32_t)cfg->workers - 1) / (uint32_t)cfg->workers,
		.qsbr_reader = 1,
	};
	char name[24];

	snprintf(name, sizeof(name), "worker %d", g->workers[i].id);
	spec.name = name;
	return rlb_worker_start(&g->workers[i], g->workers[i].id, cfg, &rlb_proxy_hooks, &spec);
}

/* Calls fn(new server, old server, k) for every server of g whose name
 * prev's backend of the same name has; k counts prev's servers in config
 * order. */
static void each_kept_server(struct rlb_config *cfg, struct rlb_config *prev,
			     void (*fn)(struct rlb_server *to, struct rlb_server *from, uint64_t *handed),
			     uint64_t *handed)
{
	size_t k = 0;

	for (size_t i = 0; i < prev->num_backends; i++)
		for (size_t j = 0; j < prev->backends[i].num_servers; j++, k++) {
			struct rlb_server *from = &prev->backends[i].servers[j];

			for (size_t b = 0; b < cfg->num_backends; b++) {
				if (strcmp(cfg->backends[b].name, prev->backends[i].name) != 0)
					continue;
				for (size_t s = 0; s < cfg->backends[b].num_servers; s++)
					if (strcmp(cfg->backends[b].servers[s].name, from->name) == 0)
						fn(&cfg->backends[b].servers[s], from, &handed[2 * k]);
			}
		}
}

/* The admin API's request and failure counts (the server's own atomics,
 * not the statistics slices): the new server starts from the old one's. */
static void hand_counts(struct rlb_server *to, struct rlb_server *from, uint64_t *handed)
{
	handed[0] = atomic_load(&from->total_requests);
	handed[1] = atomic_load(&from->failures);
	atomic_store(&to->total_requests, handed[0]);
	atomic_store(&to->failures, handed[1]);
}

/* ... and what the old one counted while draining is added when it ends. */
static void settle_counts(struct rlb_server *to, struct rlb_server *from, uint64_t *handed)
{
	atomic_fetch_add(&to->total_requests, atomic_load(&from->total_requests) - handed[0]);
	atomic_fetch_add(&to->failures, atomic_load(&from->failures) - handed[1]);
}

static size_t count_servers(const struct rlb_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->num_backends; i++)
		n += cfg->backends[i].num_servers;
	return n;
}

static int start_control(struct rlb_generation *g)
{
	int rc = rlb_control_needed(g->cfg) ? rlb_control_start(&g->ctl, g->admin_fds, g->nadmin) : 0;

	if (rc < 0)
		rlb_error("control thread failed to start: %s", strerror(-rc));
	g->control_started = rc == 0 && rlb_control_needed(g->cfg);
	return rc;
}

static void free_workers(struct rlb_generation *g)
{
	for (int i = 0; i < g->started; i++)
		rlb_worker_join(&g->workers[i]);
	for (int i = 0; i < g->cfg->workers; i++)
		rlb_worker_free(&g->workers[i]);
	g->started = 0;
}

static void free_generation(struct rlb_generation *g)
{
	rlb_control_free(&g->ctl);
	rlb_stats_free(g->cfg);
	release_slots(g);
	rlb_config_free(g->cfg);
	free(g->cfg);
	free(g->workers);
	free(g->handed);
	free(g->admin_fds);
	free(g);
}

struct rlb_generation *rlb_generation_start(struct rlb_config *cfg, struct rlb_generation *prev,
					    struct rlb_listen_pool *pool)
{
	struct rlb_generation *g = calloc(1, sizeof(*g));
	struct dealt d = { 0 };
	size_t pool_had = pool->n;
	int rc = -ENOMEM, prev_stopped = 0;

	if (g == NULL || (g->workers = calloc((size_t)cfg->workers, sizeof(*g->workers))) == NULL) {
		rlb_config_free(cfg);
		free(cfg);
		free(g);
		rlb_error("out of memory");
		return NULL;
	}
	g->cfg = cfg;
	g->number = prev != NULL ? prev->number + 1 : 1;
	for (int i = 0; i < cfg->workers; i++)
		g->workers[i].wake_fd = -1;
	g->ctl.loop.wake_fd = -1;
	if ((rc = take_slots(g)) < 0) {
		rlb_error("no worker slot left: the generations still draining hold them (wait for them to end)");
		g->cfg->workers = 0; /* none taken, none to release */
		goto fail;
	}
	/* The admin socket before the frontends': once a frontend listens
	 * (clients may connect: the kernel queues them), the admin does too. */
	if ((rc = rlb_stats_alloc(cfg, prev ? prev->cfg : NULL, slots_needed(g))) < 0 ||
	    (rc = take_admin(g, pool)) < 0 || (rc = deal_sockets(g, pool, &d)) < 0)
		goto fail;
	if (prev != NULL) {
		if ((prev->handed = calloc(2 * count_servers(prev->cfg) + 1, sizeof(uint64_t))) == NULL)
			goto fail;
		if (prev->control_started)
			rlb_control_stop(&prev->ctl); /* its state is ours to read, then */
		prev_stopped = prev->control_started;
		prev->control_started = 0;
	}
	if ((rc = rlb_control_init(&g->ctl, cfg, prev ? &prev->ctl : NULL)) < 0)
		goto fail;
	if (prev != NULL)
		each_kept_server(cfg, prev->cfg, hand_counts, prev->handed);
	/* The control thread first: its start needs a few descriptors (its
	 * ring, eventfd), and once the workers accept, clients may take every
	 * one. (Later, its checks may still find none left: then they give no
	 * verdict, see health_check.c.) */
	if ((rc = start_control(g)) < 0)
		goto fail;
	for (int i = 0; i < cfg->workers; i++, g->started++)
		if ((rc = start_worker(g, i, &d)) < 0) {
			rlb_error("worker %d failed to start: %s", g->workers[i].id, strerror(-rc));
			goto fail;
		}
	free(d.listen);
	free(d.n);
	return g;
fail:
	if (rc == -ENOMEM)
		rlb_error("out of memory");
	rlb_generation_stop(g, 1);
	free_workers(g);
	if (prev_stopped)
		prev->control_started = rlb_control_restart(&prev->ctl, prev->admin_fds, prev->nadmin) == 0;
	rlb_listen_pool_truncate(pool, pool_had);
	if (prev != NULL) {
		remark(prev, pool);
		free(prev->handed);
		prev->handed = NULL;
	}
	free(d.listen);
	free(d.n);
	free_generation(g);
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void rlb_generation_stop(struct rlb_generation *g, int hand_over)
{
	if (g->stopped_ms == 0)
		g->stopped_ms = now_ms();
	if (g->control_started) {
		rlb_control_stop(&g->ctl); /* no check runs once the drain has begun */
		g->control_started = 0;
	}
	for (int i = 0; i < g->started; i++)
		rlb_worker_stop(&g->workers[i], hand_over);
}

int rlb_generation_exited(struct rlb_generation *g)
{
	for (int i = 0; i < g->started; i++)
		if (!rlb_worker_exited(&g->workers[i]))
			return 0;
	return 1;
}

void rlb_generation_free(struct rlb_generation *g, struct rlb_generation *current)
{
	free_workers(g);
	if (current != NULL && g->handed != NULL)
		each_kept_server(current->cfg, g->cfg, settle_counts, g->handed);
	if (current != NULL)
		rlb_log("generation %u: its last worker exited, %llu ms after the reload", g->number,
			(unsigned long long)(now_ms() - g->stopped_ms));
	free_generation(g);
}
