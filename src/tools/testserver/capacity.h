/* A server's capacity: at most N answers in the works at once, the rest
 * waiting their turn in arrival order (a FIFO queue in front of N workers,
 * as a thread pool or a process pool is). Without it the test server's
 * latency would not depend on its load, and no algorithm could overload it.
 *
 * Pure: each request's due time is decided when it is read, from the times
 * the N workers become free (a min-heap of N values): start = max(now,
 * earliest free), due = start + service. Exact for FIFO service in arrival
 * order. N = 0: unlimited (due = now + service).
 *
 * A request whose client has gone keeps its worker booked, as in most real
 * servers (the work goes on; the answer is dropped): a flood of abandoned
 * requests leaves a backlog the server works through. Only `die` clears it. */
#ifndef RINGLB_TESTSERVER_CAPACITY_H
#define RINGLB_TESTSERVER_CAPACITY_H

#include <stdint.h>

struct capacity {
	uint64_t *free_at_us; /* min-heap: when each worker is free (CLOCK_MONOTONIC) */
	uint32_t workers;     /* 0: unlimited */
};

/** Sets up n workers, all free now. Returns 0 or -ENOMEM. */
int capacity_init(struct capacity *c, uint32_t workers);

/** The due time of a request read at now_us that takes service_us of work. */
uint64_t capacity_due_us(struct capacity *c, uint64_t now_us, uint64_t service_us);

/** Every worker free at once (the process died: its queue died with it). */
void capacity_reset(struct capacity *c);

void capacity_free(struct capacity *c);

#endif
