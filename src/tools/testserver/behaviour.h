/* How the test server behaves right now, and the answer it gives each
 * request: latency from the distribution times the slow factor, a 500 with
 * the error rate, /healthz as sick says. The schedule's events change it
 * (events.c). Pure: no I/O. */
#ifndef RINGLB_TESTSERVER_BEHAVIOUR_H
#define RINGLB_TESTSERVER_BEHAVIOUR_H

#include <stdint.h>

#include "tools/testserver/answers.h"
#include "tools/testserver/capacity.h"
#include "tools/testserver/http_reader.h"
#include "tools/testserver/latency_dist.h"

struct behaviour {
	struct latency_dist latency;
	double slow_factor;      /* every latency times this (slow=Fx; normal: 1) */
	double error_rate;       /* share of 500s among the non-health answers */
	int sick;                /* /healthz answers 503 */
	uint64_t stall_until_us; /* no answer goes out before this (CLOCK_MONOTONIC) */
	uint64_t rng;            /* rng.h: the one random sequence */
	struct capacity capacity; /* --concurrency: answers in the works at once */
};

/**
 * The answer to a complete request read at now_us, and *due_us, when it is
 * due: its latency after it gets one of the server's workers (capacity.h).
 * Draws from b->rng (latency, then the error roll): the same seed and
 * request order give the same answers.
 */
struct answer behaviour_answer(struct behaviour *b, const struct request_info *req, uint64_t now_us,
			       uint64_t *due_us);

/** The refusal of a bad request (the reader's error_status): at once, then close. */
struct answer behaviour_refusal(const struct request_info *req);

#endif
