/* Latency distributions for the test server: parsed from a --latency SPEC,
 * sampled with a caller's PRNG state. Pure code: no I/O, no allocation, no
 * global state, so the unit test can check the sampled quantiles against
 * the analytic ones with a fixed seed. */
#ifndef RINGLB_TESTSERVER_LATENCY_DIST_H
#define RINGLB_TESTSERVER_LATENCY_DIST_H

#include <stdint.h>

enum latency_kind {
	LATENCY_FIXED,     /* a_us */
	LATENCY_UNIFORM,   /* between a_us and b_us */
	LATENCY_EXP,       /* exponential with mean a_us */
	LATENCY_LOGNORMAL, /* median a_us, sigma of the underlying normal: param */
	LATENCY_BIMODAL,   /* b_us with probability param, else a_us */
};

struct latency_dist {
	enum latency_kind kind;
	uint64_t a_us, b_us;
	double param;
};

/* No sample exceeds this (one hour): a lognormal's tail would otherwise
 * overflow the conversion to an integer. */
#define LATENCY_MAX_US (3600ull * 1000 * 1000)

/**
 * Parses a SPEC: fixed:D, uniform:D,D (low <= high), exp:D (the mean),
 * lognormal:D,SIGMA (median, sigma >= 0), bimodal:D,D,P (P in [0,1] is the
 * share of the second value). D is a duration with a unit (5ms, 250us, 1.5s);
 * only 0 may go without one.
 * @return 0, or -EINVAL with *out untouched.
 */
int latency_dist_parse(const char *spec, struct latency_dist *out);

/**
 * Draws one latency in microseconds, advancing *rng_state (see rng.h).
 * Never more than LATENCY_MAX_US.
 */
uint64_t latency_dist_sample_us(const struct latency_dist *d, uint64_t *rng_state);

#endif
