/* The run's summary: the text on stdout and the --json file (the shape the
 * comparison scripts read), and the judgement of whether the requested rate
 * was kept, with the reason when it was not. */
#ifndef RINGLB_LOAD_REPORT_H
#define RINGLB_LOAD_REPORT_H

#include <stdio.h>

#include "tools/load/knee.h"
#include "tools/load/results.h"
#include "tools/load/schedule.h"

#define LOAD_WARNINGS_MAX 8

struct load_report {
	const char *url;
	int open;                 /* open loop */
	unsigned connections;
	double rate_requested;    /* NAN: none */
	uint64_t seed;
	double warmup_s, duration_s;
	int rate_kept;            /* 1, 0, or -1: not judged (closed loop, knee) */
	int servers_counted;      /* --server-header was given */
	const struct load_recorder *rec;
	const struct load_schedule *stages; /* NULL unless --stages */
	const struct load_knee *knee;       /* NULL unless --find-knee */
	unsigned n_warnings;
	char warnings[LOAD_WARNINGS_MAX][256];
};

/** Seconds the measured phase sent for: to the end of sending (the planned
 * end, or the last request with --requests), not to the last answer
 * (0 if it never started). */
double load_measured_s(const struct load_dispatch_stats *s);

/** Adds a warning (dropped past LOAD_WARNINGS_MAX). */
void load_report_warn(struct load_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Open loop: sets r->rate_kept (achieved within 1% of expected_rate) and,
 * when it was not kept, a warning saying why: the generator fell behind
 * (requests left late while connections were free), requests waited for a
 * connection (all busy), errors, or a slow server. Also warns about late
 * dispatch and cut-off requests when the rate was kept.
 */
void load_report_judge(struct load_report *r, const struct load_dispatch_stats *s, double expected_rate);

void load_report_text(FILE *f, const struct load_report *r);

/** Writes the JSON summary to path; 0 or a negative errno. */
int load_report_json(const char *path, const struct load_report *r);

#endif
