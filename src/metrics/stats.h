/* What ringlb counts and times, per server and per frontend. Each worker
 * writes its own slice (stats[worker id], a cache-line-aligned block of its
 * own: no lock, no locked instruction, no line shared with another writer);
 * the control thread sums the slices when /metrics or /stats is read. So
 * counts are exact once traffic stops: after N requests the per-server
 * request counters sum to N. */
#ifndef RINGLB_STATS_H
#define RINGLB_STATS_H

#include "ringlb/config.h"
#include "ringlb/histogram.h"

#define RLB_CLASSES 5 /* status classes counted: 1xx (a 101's upgrade) .. 5xx */

enum rlb_err_kind { RLB_ERR_CONNECT, RLB_ERR_TIMEOUT, RLB_ERR_RESET, RLB_ERR_BAD_RESPONSE, RLB_ERR_KINDS };
enum rlb_reject { RLB_REJECT_400, RLB_REJECT_431, RLB_REJECT_OTHER, RLB_REJECT_MAXCONN, RLB_REJECTS };

struct rlb_server_stats {
	atomic_uint_fast64_t requests[RLB_CLASSES];  /* answers relayed, by class: 1xx (101 upgrades) .. 5xx */
	atomic_uint_fast64_t errors[RLB_ERR_KINDS];  /* tries that failed, by kind */
	atomic_uint_fast64_t retries;                /* tries after the first, for a request */
	atomic_uint_fast64_t bytes_in, bytes_out;    /* from and to the server */
	atomic_uint_fast64_t idle_pool;              /* a gauge: idle pooled connections */
	struct rlb_histogram connect;                /* connect() to connected */
	struct rlb_histogram response;               /* request sent to response head */
	struct rlb_histogram total;                  /* pick to the end of the response */
} __attribute__((aligned(64)));

struct rlb_frontend_stats {
	atomic_uint_fast64_t connections;            /* accepted */
	atomic_uint_fast64_t closed;                 /* of those, gone */
	atomic_uint_fast64_t requests[RLB_CLASSES];  /* answers to clients, by class: 1xx .. 5xx */
	atomic_uint_fast64_t rejected[RLB_REJECTS];  /* requests ringlb refused itself */
} __attribute__((aligned(64)));

/* One server summed over the workers: plain numbers. */
struct rlb_server_totals {
	uint64_t requests[RLB_CLASSES], errors[RLB_ERR_KINDS], retries, bytes_in, bytes_out, idle_pool;
	struct rlb_hist_snapshot connect, response, total;
};

struct rlb_frontend_totals {
	uint64_t connections, closed, requests[RLB_CLASSES], rejected[RLB_REJECTS];
};

/** Sums srv's (fe's) slices of `workers` workers into out (any thread; a
 * record being written may be half in). */
void rlb_stats_sum_server(const struct rlb_server *srv, int workers, struct rlb_server_totals *out);
void rlb_stats_sum_frontend(const struct rlb_frontend *fe, int workers, struct rlb_frontend_totals *out);

/** Allocates every server's and frontend's slices, one per worker (main
 * thread, before any worker starts). Returns 0 or -ENOMEM. */
int rlb_stats_alloc(struct rlb_config *cfg);
void rlb_stats_free(struct rlb_config *cfg);

static inline struct rlb_server_stats *rlb_server_stats_of(const struct rlb_server *srv, int worker)
{
	return &srv->stats[worker];
}

static inline struct rlb_frontend_stats *rlb_frontend_stats_of(const struct rlb_frontend *fe, int worker)
{
	return &fe->stats[worker];
}

/* The class index of a final status (101 -> 0, 2xx -> 1 .. 5xx -> 4), or
 * -1 for none yet. */
static inline int rlb_status_class(int status)
{
	return status >= 100 && status < 600 ? status / 100 - 1 : -1;
}

#endif
