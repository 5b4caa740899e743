/* Which key a request carries (--key-header NAME --keys N [--zipf S]): a
 * seeded PRNG and a uniform or rank-Zipf sampler over [0, N).
 *
 * Pure code: no I/O, no clock, no global state. The same seed gives the
 * same sequence, so two runs against two algorithms send the same keys in
 * the same order (requests leave in schedule order). */
#ifndef RINGLB_LOAD_KEYS_H
#define RINGLB_LOAD_KEYS_H

#include <stdint.h>

#define LOAD_KEYS_MAX 100000000u /* the Zipf table costs 8 bytes per key */

/* xoshiro256**, seeded through splitmix64 (its authors' recommendation:
 * a raw small seed would leave the state mostly zero). */
struct load_rng {
	uint64_t s[4];
};

void load_rng_seed(struct load_rng *r, uint64_t seed);
uint64_t load_rng_next(struct load_rng *r);

/** A uniform double in [0, 1), 53 bits. */
double load_rng_unit(struct load_rng *r);

struct load_keys {
	struct load_rng rng;
	uint32_t n;   /* keys: k0 .. k<n-1> */
	double *cdf;  /* Zipf: cdf[i] = P(key <= i), cdf[n-1] = 1; NULL: uniform */
};

/**
 * Prepares a sampler of n keys (1 .. LOAD_KEYS_MAX). zipf_s == 0 means
 * uniform; zipf_s > 0 gives key i the probability (1/(i+1)^s) / H(n, s).
 * Returns 0, -EINVAL (bad n or s) or -ENOMEM. Free with load_keys_free().
 */
int load_keys_init(struct load_keys *k, uint32_t n, double zipf_s, uint64_t seed);

/** The next key index, in [0, n). */
uint32_t load_keys_next(struct load_keys *k);

/** Frees the table; k may be zeroed or initialised. */
void load_keys_free(struct load_keys *k);

#endif
