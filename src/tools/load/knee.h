/* --find-knee: open-loop steps at growing rates until a latency objective
 * (--slo p99=50ms) or the error budget breaks, then a bisection between the
 * last good and the first bad rate. The knee is the highest rate that held.
 *
 * The step controller (load_knee_next) is pure; load_knee_run drives the
 * client through the steps. */
#ifndef RINGLB_LOAD_KNEE_H
#define RINGLB_LOAD_KNEE_H

#include <stdint.h>

#include "tools/load/results.h"
#include "tools/load/schedule.h"

#define LOAD_KNEE_STEPS_MAX 40   /* 100 req/s * 1.5^36: no generator gets there */
#define LOAD_KNEE_BISECTIONS 3
#define LOAD_KNEE_GROWTH 1.5

struct load_slo {
	double quantile;   /* 0.5 .. 0.999 */
	uint64_t limit_us;
	char text[48];     /* "p99<=50ms", for the report */
};

/** Parses "p99=50ms" (p50, p90, p95, p99, p999; a duration with its unit).
 * Returns 0 or -EINVAL. */
int load_slo_parse(const char *s, struct load_slo *slo);

struct load_knee_step {
	double rate;
	struct load_tally tally;  /* the step's measured requests */
	struct load_dispatch_stats stats;
	double error_rate;
	uint64_t slo_value_us;    /* the SLO's quantile in this step */
	int held;                 /* the SLO held and the error rate stayed within budget */
};

struct load_knee {
	struct load_slo slo;
	double start_rate, max_error_rate;
	uint64_t step_us;
	struct load_knee_step *steps; /* LOAD_KNEE_STEPS_MAX of them */
	unsigned n_steps;
	double good, bad;             /* highest rate that held (0: none), lowest that broke (0: none) */
	unsigned bisections;
	struct load_schedule schedule; /* the current step's: the recorder reads it until the end */
};

/** Allocates the steps; -ENOMEM. */
int load_knee_init(struct load_knee *k, const struct load_slo *slo, double start_rate, uint64_t step_us,
		   double max_error_rate);
void load_knee_free(struct load_knee *k);

/** The controller: the step at rate held (or not); returns the next step's
 * rate, or 0 when the search is over. */
double load_knee_next(struct load_knee *k, double rate, int held);

/** The step with the knee (the highest rate that held), or NULL. */
const struct load_knee_step *load_knee_best(const struct load_knee *k);

struct load_client;
struct load_recorder;

/**
 * Runs the search on c: step after step, each measured by rec into its own
 * tally (and into rec->all). warmup_us is spent, unmeasured, at the first
 * step's rate. total (the measured requests' dispatch, summed) and
 * *measured_s are filled for the summary. Returns 0 or a negative errno.
 */
int load_knee_run(struct load_knee *k, struct load_client *c, struct load_recorder *rec, uint64_t warmup_us,
		  struct load_dispatch_stats *total, double *measured_s);

#endif
