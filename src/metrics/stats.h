/* What ringlb counts and times, per server and per frontend. Each worker
 * writes its own slice (the one of its slot, w->id: a cache-line-aligned
 * block of its own: no lock, no locked instruction, no line shared with
 * another writer); the control thread sums the slices when /metrics or
 * /stats is read. So counts are exact once traffic stops: after N requests
 * the per-server request counters sum to N.
 *
 * A reload keeps them: a server (frontend) of the new configuration with
 * the name of one of the old shares the old one's slices (struct
 * rlb_slices), and the new workers take slots the old ones do not use, so
 * old and new workers count into the same sums while the old ones drain,
 * and no counter ever goes back. */
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
	atomic_uint_fast64_t spliced_in, spliced_out; /* of those, moved by splice (never copied) */
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
	uint64_t spliced_in, spliced_out;
	struct rlb_hist_snapshot connect, response, total;
};

struct rlb_frontend_totals {
	uint64_t connections, closed, requests[RLB_CLASSES], rejected[RLB_REJECTS];
};

/* One server's (frontend's) slices, one per worker slot. Shared by the
 * configurations that have the server, counted in refs (main thread only).
 * When a reload needs a slot past cap, the new configuration gets a larger
 * one whose prev is the old: sums walk the chain, so nothing counted is
 * left out. */
struct rlb_slices {
	void *mem;               /* [cap] slices, zeroed, resident only where written */
	uint32_t cap;
	uint32_t size;           /* one slice's bytes */
	int refs;
	struct rlb_slices *prev; /* held (a ref) by this one */
};

/** Sums srv's (fe's) slices into out (any thread; a record being written
 * may be half in). */
void rlb_stats_sum_server(const struct rlb_server *srv, struct rlb_server_totals *out);
void rlb_stats_sum_frontend(const struct rlb_frontend *fe, struct rlb_frontend_totals *out);

/** Gives every server and frontend of cfg slices for worker slots
 * 0..slots-1: those of prev's server (frontend) of the same name when prev
 * has one (a reload), else new ones. Main thread, before cfg's workers
 * start. Returns 0 or -ENOMEM (what was given is released by
 * rlb_stats_free). Nothing when cfg->metrics is off. */
int rlb_stats_alloc(struct rlb_config *cfg, const struct rlb_config *prev, uint32_t slots);
/** Releases cfg's holds; slices nobody holds any more are freed. */
void rlb_stats_free(struct rlb_config *cfg);

static inline struct rlb_server_stats *rlb_server_stats_of(const struct rlb_server *srv, int slot)
{
	return (struct rlb_server_stats *)srv->stats->mem + slot;
}

static inline struct rlb_frontend_stats *rlb_frontend_stats_of(const struct rlb_frontend *fe, int slot)
{
	return (struct rlb_frontend_stats *)fe->stats->mem + slot;
}

/* The class index of a final status (101 -> 0, 2xx -> 1 .. 5xx -> 4), or
 * -1 for none yet. */
static inline int rlb_status_class(int status)
{
	return status >= 100 && status < 600 ? status / 100 - 1 : -1;
}

#endif
