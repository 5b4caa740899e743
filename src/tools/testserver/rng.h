/* The test server's one random sequence: splitmix64 (rlb_rand, shared with
 * the balancers), seeded from --seed or the server's name, so a run repeats
 * and two servers with different names differ. Latencies and error answers
 * draw from it in request order. */
#ifndef RINGLB_TESTSERVER_RNG_H
#define RINGLB_TESTSERVER_RNG_H

#include <stdint.h>

#include "ringlb/balancer_util.h"

/** A uniform double in [0, 1): the top 53 bits of the next value. */
static inline double rng_unit(uint64_t *state)
{
	return (double)(rlb_rand(state) >> 11) * 0x1.0p-53;
}

/** A seed from a name: each byte is folded in and mixed by the generator's
 * own step, so names differing in one byte give unrelated sequences. */
static inline uint64_t rng_seed_from_text(const char *text)
{
	uint64_t state = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		state ^= *p;
		state = rlb_rand(&state);
	}
	return state;
}

#endif
