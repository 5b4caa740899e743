/* Allocation of the per-worker statistics slices (stats.h). */
#include "metrics/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void *zalloc_aligned(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, n) != 0)
		return NULL;
	memset(p, 0, n);
	return p;
}

int rlb_stats_alloc(struct rlb_config *cfg)
{
	size_t nw = (size_t)cfg->workers;

	for (size_t i = 0; i < cfg->num_frontends; i++)
		if ((cfg->frontends[i].stats = zalloc_aligned(nw * sizeof(struct rlb_frontend_stats))) == NULL)
			return -ENOMEM;
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			struct rlb_server *srv = &cfg->backends[i].servers[j];

			if ((srv->stats = zalloc_aligned(nw * sizeof(struct rlb_server_stats))) == NULL)
				return -ENOMEM;
		}
	return 0;
}

void rlb_stats_free(struct rlb_config *cfg)
{
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		free(cfg->frontends[i].stats);
		cfg->frontends[i].stats = NULL;
	}
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			free(cfg->backends[i].servers[j].stats);
			cfg->backends[i].servers[j].stats = NULL;
		}
}
