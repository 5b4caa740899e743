/* Maglev lookup tables (NSDI 2016, section 3.4), weighted: pure functions of
 * the servers' names, weights and states, so two builds (in two processes,
 * on two machines) of the same backend give the same table. */
#ifndef RINGLB_MAGLEV_H
#define RINGLB_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#include "ringlb/server.h"

#define RLB_MAGLEV_EMPTY UINT32_MAX

struct rlb_maglev {
	uint32_t size;          /* M, a prime */
	uint64_t total_weight;  /* of the servers in the table */
	uint64_t generation;    /* increases with every build in this process */
	uint32_t entry[];       /* [size]: server index, or RLB_MAGLEV_EMPTY if none is up */
};

/** Builds a table of size slots (a prime) over be's servers that are up with
 * weight > 0. Returns NULL on allocation failure. Any thread; reads the
 * servers' state atomics. */
struct rlb_maglev *rlb_maglev_build(const struct rlb_backend *be, uint32_t size);
void rlb_maglev_free(struct rlb_maglev *t);

int rlb_maglev_is_prime(uint32_t n);

/** The larger of 65537 and the first prime >= 100 x servers. */
uint32_t rlb_maglev_default_size(size_t servers);

#endif
