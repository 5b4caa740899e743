/* Key sampling for --key-header (contract in keys.h). */
#include "tools/load/keys.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/balancer_util.h"

/* xoshiro256**'s state from splitmix64, as its authors advise: ringlb's
 * own rlb_rand. */
void load_rng_seed(struct load_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = rlb_rand(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t load_rng_next(struct load_rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double load_rng_unit(struct load_rng *r)
{
	return (double)(load_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Sums 1/(i+1)^s in order; the last entry is set to exactly 1 so that a
 * draw just below 1 never runs off the table's end. */
static int zipf_table(struct load_keys *k, double s)
{
	double sum = 0;

	k->cdf = malloc(sizeof(double) * k->n);
	if (!k->cdf)
		return -ENOMEM;
	for (uint32_t i = 0; i < k->n; i++) {
		sum += pow((double)i + 1, -s);
		k->cdf[i] = sum;
	}
	for (uint32_t i = 0; i < k->n; i++)
		k->cdf[i] /= sum;
	k->cdf[k->n - 1] = 1.0;
	return 0;
}

int load_keys_init(struct load_keys *k, uint32_t n, double zipf_s, uint64_t seed)
{
	memset(k, 0, sizeof(*k));
	if (n == 0 || n > LOAD_KEYS_MAX || !(zipf_s >= 0) || !isfinite(zipf_s))
		return -EINVAL;
	k->n = n;
	load_rng_seed(&k->rng, seed);
	return zipf_s > 0 ? zipf_table(k, zipf_s) : 0;
}

/* The first index whose cumulative probability exceeds u. */
static uint32_t cdf_search(const double *cdf, uint32_t n, double u)
{
	uint32_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

uint32_t load_keys_next(struct load_keys *k)
{
	if (k->cdf)
		return cdf_search(k->cdf, k->n, load_rng_unit(&k->rng));
	/* Lemire's multiply-shift: unbiased enough at 2^64 / n, no division. */
	return (uint32_t)(((unsigned __int128)load_rng_next(&k->rng) * k->n) >> 64);
}

void load_keys_free(struct load_keys *k)
{
	free(k->cdf);
	k->cdf = NULL;
}
