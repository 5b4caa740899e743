/* The --schedule of timed events: "10s:slow=10x, 20s:normal, 30s:stall=2s".
 * Parsing only (pure, no I/O); what each event does to the running server
 * is in events.c. */
#ifndef RINGLB_TESTSERVER_SCHEDULE_H
#define RINGLB_TESTSERVER_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

enum sched_kind {
	SCHED_SLOW,   /* every latency times factor */
	SCHED_NORMAL, /* factor back to 1 */
	SCHED_STALL,  /* hold every answer due in [at, at + duration_us) until its end */
	SCHED_SICK,   /* /healthz answers 503 */
	SCHED_WELL,   /* /healthz answers 200 */
	SCHED_DIE,    /* no listener, no connection: as a crashed process */
	SCHED_LIVE,   /* listen again on the same address */
	SCHED_ERRORS, /* the error rate becomes value */
	SCHED_KINDS
};

#define SCHED_TEXT_MAX 40

struct sched_event {
	uint64_t at_us;         /* since the listening line */
	enum sched_kind kind;
	double value;           /* SLOW: the factor; ERRORS: the rate */
	uint64_t duration_us;   /* STALL */
	char text[SCHED_TEXT_MAX]; /* the event as written ("slow=10x"), for the log */
};

struct schedule {
	struct sched_event *events; /* malloc'd, in time order */
	size_t n;
};

/**
 * Parses comma-separated TIME:EVENT items (spaces around items allowed),
 * TIME a duration with a unit, each no earlier than the one before.
 * @param err  on failure, a message naming the bad item (err_len bytes).
 * @return 0 (out->events owned by the caller: schedule_free), -EINVAL or
 *         -ENOMEM; out is empty on failure.
 */
int schedule_parse(const char *text, struct schedule *out, char *err, size_t err_len);

void schedule_free(struct schedule *s);

#endif
