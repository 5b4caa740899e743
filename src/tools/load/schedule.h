/* The open-loop timeline: when request i is due, for a constant rate or for
 * stages whose rate ramps linearly from one target to the next (k6's
 * ramping-arrival-rate). Request i is due when the integral of the rate
 * reaches i: request 0 at 0, at a constant rate R request i at i/R.
 *
 * Pure code: no I/O, no clock. Times are microsecond offsets from the
 * timeline's start; the caller adds its own start time. */
#ifndef RINGLB_LOAD_SCHEDULE_H
#define RINGLB_LOAD_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define LOAD_STAGES_MAX 64
#define LOAD_FOREVER_US UINT64_MAX /* a constant rate with no end (--requests) */

struct load_stage {
	uint64_t duration_us;
	double target_rate; /* req/s reached at the stage's end */
};

struct load_schedule {
	unsigned n_stages;
	struct load_stage stages[LOAD_STAGES_MAX];
	uint64_t start_us[LOAD_STAGES_MAX];  /* where stage k begins */
	double from_rate[LOAD_STAGES_MAX];   /* the rate at its beginning */
	double first[LOAD_STAGES_MAX + 1];   /* requests due before stage k; first[n] = all */
	unsigned cur;                        /* the iterator's stage */
	uint64_t next_index;                 /* the iterator's next request */
};

/**
 * Parses "30s:1000,60s:5000,10s:0" (DURATION:RATE, comma separated, at most
 * LOAD_STAGES_MAX) into out[0 .. *n). Returns 0, or -EINVAL with a short
 * reason in err (err_bytes long) naming the bad stage.
 */
int load_stages_parse(const char *text, struct load_stage *out, unsigned *n, char *err, size_t err_bytes);

/**
 * Sets up a timeline that starts at start_rate and ramps through stages
 * st[0 .. n) (1 .. LOAD_STAGES_MAX). Only a constant stage (its target equal
 * to the rate before it) may last LOAD_FOREVER_US, and only as the last one.
 * Returns 0 or -EINVAL.
 */
int load_schedule_init(struct load_schedule *s, double start_rate, const struct load_stage *st, unsigned n);

/** A constant rate for duration_us (LOAD_FOREVER_US: no end). */
int load_schedule_constant(struct load_schedule *s, double rate, uint64_t duration_us);

/** Offset of request i in *t_us; 0, or -ERANGE if the timeline ends before it. */
int load_schedule_time_us(const struct load_schedule *s, uint64_t i, uint64_t *t_us);

/** The iterator: offset of the next request in *t_us and 1, or 0 at the end. */
int load_schedule_next(struct load_schedule *s, uint64_t *t_us);

/** The requested rate (req/s) at offset t_us; 0 past the end. */
double load_schedule_rate_at(const struct load_schedule *s, uint64_t t_us);

/** The timeline's length (LOAD_FOREVER_US when unbounded). */
uint64_t load_schedule_total_us(const struct load_schedule *s);

/** How many requests the timeline has (UINT64_MAX when unbounded). */
uint64_t load_schedule_count(const struct load_schedule *s);

/* The highest rate a flag accepts (--rate, --stages, --knee-start): far past
 * what one thread can send, and low enough that a step's due requests fit
 * in memory. */
#define LOAD_RATE_MAX 1e7

#endif
