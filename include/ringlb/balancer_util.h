/* Building blocks the balancer modules share: a small PRNG, a stable 64-bit
 * hash, weighted sampling in O(1) (Vose's alias method), and a weighted scan
 * for the rare case where sampling keeps hitting ineligible servers.
 * None of these take locks; each belongs to one balancer instance. */
#ifndef RINGLB_BALANCER_UTIL_H
#define RINGLB_BALANCER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ringlb/balancer.h"

/* splitmix64: fast, good enough for load balancing, seedable for tests. */
static inline uint64_t rlb_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/** A seed that differs per instance but is the same on every run. */
uint64_t rlb_rand_seed(const struct rlb_backend *be);

/** FNV-1a then a murmur3 finaliser, with a seed: the same bytes give the same
 * hash in every process and build (consistent hashing relies on it). */
uint64_t rlb_hash64(const void *data, size_t len, uint64_t seed);

/* Weighted sampling over a backend's servers by their weights when built. */
struct rlb_alias {
	size_t n;
	uint32_t *alias;
	uint32_t *prob;  /* threshold scaled to 2^32 */
	uint64_t total_weight;
};

/** Builds the table from the servers' weights. Returns 0 or -ENOMEM. */
int rlb_alias_build(struct rlb_alias *a, const struct rlb_backend *be);
void rlb_alias_free(struct rlb_alias *a);

/** A server drawn with probability weight/total, eligible for ctx, or NULL
 * if none is. O(1) unless most servers are ineligible (then one scan). */
struct rlb_server *rlb_alias_pick(const struct rlb_alias *a, const struct rlb_backend *be,
				  const struct rlb_pick_ctx *ctx, uint64_t *rng);

/** Weighted draw among eligible servers other than except (may be NULL) by
 * a full scan: the fallback when sampling keeps missing. */
struct rlb_server *rlb_weighted_scan(const struct rlb_backend *be, const struct rlb_pick_ctx *ctx,
				     uint64_t *rng, const struct rlb_server *except);

/* Base of the modules that draw servers by weight (random, p2c, ewma):
 * embed it first, create with rlb_sampler_create(), and use the sampler hooks
 * for server_changed and destroy (or call them from your own). */
struct rlb_sampler {
	struct rlb_balancer base;
	struct rlb_alias alias;
	uint64_t rng;
};

/** Allocates size bytes (zeroed; size >= sizeof(struct rlb_sampler)), builds
 * the alias table and seeds the generator. Returns 0 or -ENOMEM. */
int rlb_sampler_create(struct rlb_backend *be, size_t size, struct rlb_balancer **out);
void rlb_sampler_server_changed(struct rlb_balancer *b, struct rlb_server *srv);
void rlb_sampler_destroy(struct rlb_balancer *b);

/** One eligible server by weight, or NULL. */
struct rlb_server *rlb_sampler_draw(struct rlb_sampler *s, const struct rlb_pick_ctx *ctx);

/** Two distinct eligible servers by weight: returns the first (NULL if none)
 * and sets *second (NULL when only one is eligible). */
struct rlb_server *rlb_sampler_draw_two(struct rlb_sampler *s, const struct rlb_pick_ctx *ctx,
					struct rlb_server **second);

/** Reads "in-flight requests per unit of weight" as a comparable integer. */
static inline uint64_t rlb_load_per_weight(const struct rlb_server *srv)
{
	uint64_t active = atomic_load_explicit(&srv->active_requests, memory_order_relaxed);
	uint32_t weight = rlb_server_weight(srv);

	return weight ? ((active + 1) << 16) / weight : UINT64_MAX; /* 0: it just left */
}

#endif
