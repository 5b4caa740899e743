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
	struct load_dispatch_stats dispatch; /* as judged: late sends, stuck sends */
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
 * Judges the run and adds its warnings. expected_rate > 0 (an open loop):
 * the rate is kept when the answers came at it within 1% and at most 1% of
 * the requests left more than LOAD_LATE_US late; otherwise says why (the
 * generator fell behind, all connections were busy, errors, a slow server).
 * Any run: warns about connections closed with a stuck send and requests
 * cut off at the end. 0: no rate to keep (closed loop, knee): rate_kept -1.
 */
void load_report_judge(struct load_report *r, const struct load_dispatch_stats *s, double expected_rate);

void load_report_text(FILE *f, const struct load_report *r);

/** Writes the JSON summary to path; 0 or a negative errno. */
int load_report_json(const char *path, const struct load_report *r);

#endif
