/* The statistics slices (stats.h): their allocation, sharing across a
 * reload, and sums. */
#include "metrics/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Zeroed, page-aligned, and resident only where written: most of a
 * histogram's buckets are never touched, nor are the slices of slots no
 * worker has taken, so they cost no memory. */
static struct rlb_slices *slices_new(uint32_t cap, uint32_t size, struct rlb_slices *prev)
{
	struct rlb_slices *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->mem = mmap(NULL, (size_t)cap * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->mem == MAP_FAILED) {
		free(s);
		return NULL;
	}
	s->cap = cap;
	s->size = size;
	s->refs = 1;
	s->prev = prev;
	if (prev != NULL)
		prev->refs++;
	return s;
}

static void slices_put(struct rlb_slices *s)
{
	while (s != NULL && --s->refs == 0) {
		struct rlb_slices *prev = s->prev;

		munmap(s->mem, (size_t)s->cap * s->size);
		free(s);
		s = prev;
	}
}

/* Slices for slots 0..slots-1: old's if it has room (a reload's server of
 * the same name), else new ones, chained to old so its counts still count.
 * Room for twice the slots asked: the next reload's workers then fit
 * beside these ones. */
static struct rlb_slices *slices_for(struct rlb_slices *old, uint32_t slots, uint32_t size)
{
	if (old != NULL && old->cap >= slots) {
		old->refs++;
		return old;
	}
	return slices_new(2 * slots, size, old);
}

static const struct rlb_server *server_named(const struct rlb_config *cfg, const char *backend, const char *name)
{
	for (size_t i = 0; cfg != NULL && i < cfg->num_backends; i++)
		for (size_t j = 0; strcmp(cfg->backends[i].name, backend) == 0 && j < cfg->backends[i].num_servers; j++)
			if (strcmp(cfg->backends[i].servers[j].name, name) == 0)
				return &cfg->backends[i].servers[j];
	return NULL;
}

static const struct rlb_frontend *frontend_named(const struct rlb_config *cfg, const char *name)
{
	for (size_t i = 0; cfg != NULL && i < cfg->num_frontends; i++)
		if (strcmp(cfg->frontends[i].name, name) == 0)
			return &cfg->frontends[i];
	return NULL;
}

int rlb_stats_alloc(struct rlb_config *cfg, const struct rlb_config *prev, uint32_t slots)
{
	if (!cfg->metrics)
		return 0; /* no slices: the recording sites find NULL and skip */
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		struct rlb_frontend *fe = &cfg->frontends[i];
		const struct rlb_frontend *old = frontend_named(prev, fe->name);

		fe->stats = slices_for(old ? old->stats : NULL, slots, sizeof(struct rlb_frontend_stats));
		if (fe->stats == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			struct rlb_server *srv = &cfg->backends[i].servers[j];
			const struct rlb_server *old = server_named(prev, cfg->backends[i].name, srv->name);

			srv->stats = slices_for(old ? old->stats : NULL, slots, sizeof(struct rlb_server_stats));
			if (srv->stats == NULL)
				return -ENOMEM;
		}
	return 0;
}

void rlb_stats_free(struct rlb_config *cfg)
{
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		slices_put(cfg->frontends[i].stats);
		cfg->frontends[i].stats = NULL;
	}
	for (size_t i = 0; i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			slices_put(cfg->backends[i].servers[j].stats);
			cfg->backends[i].servers[j].stats = NULL;
		}
}

static uint64_t load(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void add_server_slice(const struct rlb_server_stats *st, struct rlb_server_totals *out)
{
	for (int k = 0; k < RLB_CLASSES; k++)
		out->requests[k] += load(&st->requests[k]);
	for (int k = 0; k < RLB_ERR_KINDS; k++)
		out->errors[k] += load(&st->errors[k]);
	out->retries += load(&st->retries);
	out->bytes_in += load(&st->bytes_in);
	out->bytes_out += load(&st->bytes_out);
	out->spliced_in += load(&st->spliced_in);
	out->spliced_out += load(&st->spliced_out);
	out->idle_pool += load(&st->idle_pool);
	rlb_hist_merge(&out->connect, &st->connect);
	rlb_hist_merge(&out->response, &st->response);
	rlb_hist_merge(&out->total, &st->total);
}

void rlb_stats_sum_server(const struct rlb_server *srv, struct rlb_server_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (const struct rlb_slices *s = srv->stats; s != NULL; s = s->prev)
		for (uint32_t slot = 0; slot < s->cap; slot++)
			add_server_slice((const struct rlb_server_stats *)s->mem + slot, out);
}

void rlb_stats_sum_frontend(const struct rlb_frontend *fe, struct rlb_frontend_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (const struct rlb_slices *s = fe->stats; s != NULL; s = s->prev)
		for (uint32_t slot = 0; slot < s->cap; slot++) {
			const struct rlb_frontend_stats *st = (const struct rlb_frontend_stats *)s->mem + slot;

			out->closed += load(&st->closed); /* first: a connection is counted before it closes */
			out->connections += load(&st->connections);
			for (int k = 0; k < RLB_CLASSES; k++)
				out->requests[k] += load(&st->requests[k]);
			for (int k = 0; k < RLB_REJECTS; k++)
				out->rejected[k] += load(&st->rejected[k]);
		}
}
