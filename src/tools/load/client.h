/* The connection loop: one thread, one io_uring, keep-alive connections to
 * one target, sending the request template closed loop (each connection
 * sends again when its response is complete, as wrk does) or open loop (on
 * a schedule, latency measured from each request's scheduled time, as wrk2
 * does against coordinated omission), and reporting every outcome to the
 * recorder.
 *
 * Lifetime (after liburing's examples/proxy.c): every SQE that names a
 * connection counts in its inflight; a closed connection's memory is freed
 * only when inflight is back to 0, always from the completion dispatcher
 * (or load_client_destroy). An open connection always has a recv armed, so
 * a server's close is seen even while it is idle. */
#ifndef RINGLB_LOAD_CLIENT_H
#define RINGLB_LOAD_CLIENT_H

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/load/keys.h"
#include "tools/load/request.h"
#include "tools/load/results.h"
#include "tools/load/schedule.h"

struct load_target {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const struct load_request *request;
	struct load_keys *keys;     /* NULL: no key header */
	const char *server_header;  /* NULL: responses not counted by server */
	uint64_t timeout_us;
	unsigned max_conns;         /* closed loop: exactly this many; open loop: at most */
};

/* One stretch of load: a run, or one knee step. */
struct load_phase {
	struct load_schedule *schedule; /* NULL: closed loop */
	uint64_t start_us;              /* the schedule's zero (tool_now_us clock) */
	uint64_t warmup_us;             /* not measured */
	uint64_t duration_us;           /* measured, after the warmup; 0 with max_requests */
	uint64_t max_requests;          /* measured requests to send; 0 with duration_us */
	struct load_dispatch_stats stats; /* out */
};

struct load_client;

/* SIGINT count, set by main's handler: 1 stops sending (the run drains and
 * reports), 2 stops waiting too. */
extern volatile sig_atomic_t load_interrupts;

/** Sets up the ring. t and rec must outlive the client. Returns 0 or a
 * negative errno (-ENOMEM, or io_uring_queue_init's). */
int load_client_create(struct load_client **out, const struct load_target *t, struct load_recorder *rec);

/**
 * Runs phase p to its end: sends until the schedule, duration or request
 * count is done, then waits up to the timeout for what is still in flight;
 * what is left then is a timeout error if its timeout passed, else cut off.
 * Idle connections stay open for the next phase. Returns 0, or a negative
 * errno when the ring fails.
 */
int load_client_run(struct load_client *c, struct load_phase *p);

/** Closes every connection, waits (briefly) for their completions, frees all. */
void load_client_destroy(struct load_client *c);

#endif
