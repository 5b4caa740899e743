/* Recording what happened to the requests: latencies (ringlb's histograms),
 * errors by kind, status codes and which server answered, for the measured
 * phase, each stage, each knee step and each second of the run; the
 * --timeline file (one JSON line per second) and the progress line.
 *
 * Single-threaded: the client loop records, main reads when it is over. */
#ifndef RINGLB_LOAD_RESULTS_H
#define RINGLB_LOAD_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "ringlb/histogram.h"
#include "tools/load/schedule.h"

enum load_err {
	LOAD_ERR_CONNECT,      /* refused or failed connect */
	LOAD_ERR_CLOSED,       /* closed or reset before a whole response */
	LOAD_ERR_TIMEOUT,      /* no whole response within --timeout */
	LOAD_ERR_BAD_RESPONSE, /* the parser refused it */
	LOAD_ERR_STATUS_5XX,   /* a whole response, status >= 500 (also counted as a request) */
	LOAD_ERR_KINDS,
};

extern const char *const load_err_names[LOAD_ERR_KINDS];

#define LOAD_SERVERS_MAX 64      /* distinct --server-header values; id 0 is "-", the last "(other)" */
#define LOAD_SERVER_NAME_BYTES 64
#define LOAD_STATUS_MAX 600

/* What happened to one group of requests: the measured phase, a second,
 * a stage, a knee step. */
struct load_tally {
	struct rlb_histogram latency_us; /* whole responses, 5xx included */
	uint64_t requests;               /* whole responses, any status */
	uint64_t errors[LOAD_ERR_KINDS];
	uint64_t min_us;                 /* UINT64_MAX while empty */
	uint64_t servers[LOAD_SERVERS_MAX];
};

/* A request as the recorder sees it. */
struct load_req {
	uint64_t origin_us; /* the latency clock's start: its schedule (open loop) or its send (closed) */
	uint8_t measured;   /* counts in the summary (sent or scheduled in the measured window) */
	uint8_t waited;     /* open loop: LOAD_WAIT_* when it was due */
};

enum {
	LOAD_WAIT_CONNECT = 1, /* no idle connection; one was being opened */
	LOAD_WAIT_LIMIT = 2,   /* all --connections busy */
};

/* How the measured requests left, for judging whether the rate was kept. */
struct load_dispatch_stats {
	uint64_t scheduled;      /* measured requests due (open loop) or sent (closed) */
	uint64_t late_cpu;       /* left > LOAD_LATE_US after their time with a connection free */
	uint64_t waited_limit;   /* left > LOAD_LATE_US late: all --connections were busy */
	uint64_t cut_off;        /* still in flight when the run ended, their timeout not passed */
	uint64_t stuck_sends;    /* answered, but the request's send never finished: closed at its timeout */
	uint64_t measure_start_us, issue_end_us, last_done_us;
};

#define LOAD_LATE_US 1000

struct load_recorder {
	uint64_t start_us, start_unix_ms;  /* when the load started (warmup included) */
	uint64_t measure_start_us;         /* for the timeline's "warmup" mark */
	struct load_tally all;             /* every measured request */
	struct load_tally *step;           /* also the current knee step's, or NULL */
	struct load_tally *stages;         /* per stage, by schedule time, or NULL */
	const uint64_t *stage_end_us;      /* offsets from start_us */
	unsigned n_stages;
	uint64_t status[LOAD_STATUS_MAX];  /* measured; other values under 0 */
	char server_names[LOAD_SERVERS_MAX][LOAD_SERVER_NAME_BYTES];
	unsigned n_servers;
	struct load_tally second;          /* requests completed in the current second */
	unsigned second_t;                 /* its end, in whole seconds since start */
	const struct load_schedule *schedule; /* the open loop's, for the timeline's rate; NULL: closed */
	uint64_t schedule_start_us;        /* its zero */
	FILE *timeline;                    /* NULL: no --timeline */
	int progress;                      /* print a \r line every second on stderr */
	uint64_t total_us;                 /* the run's planned length, for the progress line; 0: unknown */
};

/** Starts recording at start_us; timeline may be NULL. Allocates nothing
 * (the recorder is large: keep it static or on the heap). */
void load_recorder_init(struct load_recorder *rec, uint64_t start_us, FILE *timeline, int progress);

/** The id of a --server-header value (NULL: the header was absent, "-"). */
unsigned load_server_id(struct load_recorder *rec, const char *value, size_t len);

/** A whole response to q arrived at now_us. */
void load_record_response(struct load_recorder *rec, const struct load_req *q, uint64_t now_us, int status,
			  unsigned server_id);

/** q failed at now_us (an error no request owns, like a failed connect
 * with nothing queued, passes a request made up for it). */
void load_record_error(struct load_recorder *rec, const struct load_req *q, uint64_t now_us, enum load_err kind);

/** Closes every second that ended by now_us: a timeline line, the progress line. */
void load_recorder_tick(struct load_recorder *rec, uint64_t now_us);

/** The run is over at now_us: the last (partial) second, the progress line ended. */
void load_recorder_finish(struct load_recorder *rec, uint64_t now_us);

void load_tally_init(struct load_tally *t);
uint64_t load_tally_errors(const struct load_tally *t);
/** Failed outcomes (errors, 5xx included) over all outcomes; 0 when none. */
double load_tally_error_rate(const struct load_tally *t);
/** The latency quantile q (0..1) in microseconds; 0 when empty. */
uint64_t load_tally_quantile(const struct load_tally *t, double q);

/** Writes s as a JSON string (quotes and escapes). */
void load_json_string(FILE *f, const char *s);

#endif
