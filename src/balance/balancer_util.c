/* Shared pieces of the balancer modules; see include/ringlb/balancer_util.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/balancer_util.h"

uint64_t rlb_rand_seed(const struct rlb_backend *be)
{
	static atomic_uint_fast64_t instances;

	return rlb_hash64(be->name, strlen(be->name), atomic_fetch_add(&instances, 1) + 1);
}

uint64_t rlb_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	return h ^ (h >> 33);
}

int rlb_alias_build(struct rlb_alias *a, const struct rlb_backend *be)
{
	size_t n = be->num_servers, i, ns = 0, nl = 0;
	uint32_t *small = malloc(n * sizeof(uint32_t)), *large = malloc(n * sizeof(uint32_t));
	uint64_t *scaled = malloc(n * sizeof(uint64_t)); /* weight * n, in units of total */
	int rc = -ENOMEM;

	a->n = n;
	a->alias = calloc(n, sizeof(uint32_t));
	a->prob = calloc(n, sizeof(uint32_t));
	a->total_weight = 0;
	if (!small || !large || !scaled || !a->alias || !a->prob)
		goto out;
	for (i = 0; i < n; i++) { /* one load each: the control thread may change them meanwhile */
		scaled[i] = rlb_server_weight(&be->servers[i]);
		a->total_weight += scaled[i];
	}
	for (i = 0; i < n; i++) {
		scaled[i] *= n;
		if (scaled[i] < a->total_weight)
			small[ns++] = (uint32_t)i;
		else
			large[nl++] = (uint32_t)i;
	}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[nl - 1];

		a->prob[s] = (uint32_t)((scaled[s] << 32) / a->total_weight); /* scaled[s] < total */
		a->alias[s] = l;
		scaled[l] -= a->total_weight - scaled[s];
		if (scaled[l] < a->total_weight) {
			nl--;
			small[ns++] = l;
		}
	}
	while (nl)
		a->prob[large[--nl]] = UINT32_MAX;
	while (ns) /* rounding leftovers */
		a->prob[small[--ns]] = UINT32_MAX;
	rc = 0;
out:
	free(small);
	free(large);
	free(scaled);
	return rc;
}

void rlb_alias_free(struct rlb_alias *a)
{
	free(a->alias);
	free(a->prob);
	a->alias = a->prob = NULL;
}

struct rlb_server *rlb_weighted_scan(const struct rlb_backend *be, const struct rlb_pick_ctx *ctx,
				     uint64_t *rng, const struct rlb_server *except)
{
	struct rlb_server *last = NULL;
	uint64_t total = 0, r;
	size_t i;

	for (i = 0; i < be->num_servers; i++)
		if (rlb_server_eligible(&be->servers[i], ctx) && &be->servers[i] != except)
			total += rlb_server_weight(&be->servers[i]);
	if (total == 0)
		return NULL;
	r = rlb_rand(rng) % total;
	for (i = 0; i < be->num_servers; i++) {
		struct rlb_server *srv = &be->servers[i];
		uint32_t weight = rlb_server_weight(srv);

		if (!rlb_server_eligible(srv, ctx) || srv == except)
			continue;
		if (r < weight)
			return srv;
		r -= weight;
		last = srv;
	}
	return last; /* weights changed between the two passes */
}

struct rlb_server *rlb_alias_pick(const struct rlb_alias *a, const struct rlb_backend *be,
				  const struct rlb_pick_ctx *ctx, uint64_t *rng)
{
	int tries;

	if (a->n == 0 || a->total_weight == 0)
		return NULL;
	for (tries = 0; tries < 8; tries++) {
		uint64_t r = rlb_rand(rng);
		uint32_t i = (uint32_t)(((r >> 32) * a->n) >> 32);
		struct rlb_server *srv = &be->servers[(uint32_t)r <= a->prob[i] ? i : a->alias[i]];

		if (rlb_server_eligible(srv, ctx))
			return srv;
	}
	return rlb_weighted_scan(be, ctx, rng, NULL);
}

int rlb_sampler_create(struct rlb_backend *be, size_t size, struct rlb_balancer **out)
{
	struct rlb_sampler *s = calloc(1, size);

	if (s == NULL)
		return -ENOMEM;
	if (rlb_alias_build(&s->alias, be) < 0) {
		rlb_alias_free(&s->alias);
		free(s);
		return -ENOMEM;
	}
	s->rng = rlb_rand_seed(be);
	*out = &s->base;
	return 0;
}

/* A server's weight or state changed: draw from a table of the new weights
 * (a down server's weight is 0, so it leaves the table). */
void rlb_sampler_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	struct rlb_sampler *s = (struct rlb_sampler *)b;
	struct rlb_alias fresh;

	(void)srv;
	if (rlb_alias_build(&fresh, b->backend) == 0) {
		rlb_alias_free(&s->alias);
		s->alias = fresh;
	} else {
		rlb_alias_free(&fresh);
	}
}

void rlb_sampler_destroy(struct rlb_balancer *b)
{
	rlb_alias_free(&((struct rlb_sampler *)b)->alias);
	free(b);
}

struct rlb_server *rlb_sampler_draw(struct rlb_sampler *s, const struct rlb_pick_ctx *ctx)
{
	return rlb_alias_pick(&s->alias, s->base.backend, ctx, &s->rng);
}

struct rlb_server *rlb_sampler_draw_two(struct rlb_sampler *s, const struct rlb_pick_ctx *ctx,
					struct rlb_server **second)
{
	struct rlb_server *first = rlb_sampler_draw(s, ctx);
	int tries;

	*second = NULL;
	if (first == NULL)
		return NULL;
	for (tries = 0; tries < 4; tries++) {
		struct rlb_server *other = rlb_sampler_draw(s, ctx);

		if (other != first) {
			*second = other;
			return first;
		}
	}
	/* Most weight is on first: draw the other among the rest (NULL if alone). */
	*second = rlb_weighted_scan(s->base.backend, ctx, &s->rng, first);
	return first;
}
