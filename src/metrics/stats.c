/* Allocation of the per-worker statistics slices (stats.h). */
#include "metrics/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Zeroed, page-aligned, and resident only where written: most of a
 * histogram's buckets are never touched, so they cost no memory. */
static void *zalloc_lazy(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int rlb_stats_alloc(struct rlb_config *cfg)
{
	size_t nw = (size_t)cfg->workers;

	if (!cfg->metrics)
		return 0; /* no slices: the recording sites find NULL and skip */
	for (size_t i = 0; i < cfg->num_frontends; i++)
		if ((cfg->frontends[i].stats = zalloc_lazy(nw * sizeof(struct rlb_frontend_stats))) == NULL)
			return -ENOMEM;
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			struct rlb_server *srv = &cfg->backends[i].servers[j];

			if ((srv->stats = zalloc_lazy(nw * sizeof(struct rlb_server_stats))) == NULL)
				return -ENOMEM;
		}
	return 0;
}

static uint64_t load(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void rlb_stats_sum_server(const struct rlb_server *srv, int workers, struct rlb_server_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (int w = 0; srv->stats != NULL && w < workers; w++) {
		const struct rlb_server_stats *st = rlb_server_stats_of(srv, w);

		for (int k = 0; k < RLB_CLASSES; k++)
			out->requests[k] += load(&st->requests[k]);
		for (int k = 0; k < RLB_ERR_KINDS; k++)
			out->errors[k] += load(&st->errors[k]);
		out->retries += load(&st->retries);
		out->bytes_in += load(&st->bytes_in);
		out->bytes_out += load(&st->bytes_out);
		out->idle_pool += load(&st->idle_pool);
		rlb_hist_merge(&out->connect, &st->connect);
		rlb_hist_merge(&out->response, &st->response);
		rlb_hist_merge(&out->total, &st->total);
	}
}

void rlb_stats_sum_frontend(const struct rlb_frontend *fe, int workers, struct rlb_frontend_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (int w = 0; fe->stats != NULL && w < workers; w++) {
		const struct rlb_frontend_stats *st = rlb_frontend_stats_of(fe, w);

		out->closed += load(&st->closed); /* first: a connection is counted before it closes */
		out->connections += load(&st->connections);
		for (int k = 0; k < RLB_CLASSES; k++)
			out->requests[k] += load(&st->requests[k]);
		for (int k = 0; k < RLB_REJECTS; k++)
			out->rejected[k] += load(&st->rejected[k]);
	}
}

void rlb_stats_free(struct rlb_config *cfg)
{
	size_t nw = (size_t)cfg->workers;

	for (size_t i = 0; i < cfg->num_frontends; i++) {
		if (cfg->frontends[i].stats != NULL)
			munmap(cfg->frontends[i].stats, nw * sizeof(struct rlb_frontend_stats));
		cfg->frontends[i].stats = NULL;
	}
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			if (cfg->backends[i].servers[j].stats != NULL)
				munmap(cfg->backends[i].servers[j].stats, nw * sizeof(struct rlb_server_stats));
			cfg->backends[i].servers[j].stats = NULL;
		}
}
