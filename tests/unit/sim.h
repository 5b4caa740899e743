/* A discrete-event simulation for balancer tests: `clients` closed-loop
 * clients, each sending its next request when the last one is answered, to
 * servers with a fixed service time; with fifo, a server works one request at
 * a time and queues the rest (a slow server then has a queue, as real ones
 * do); without, every request takes the service time whatever the load.
 * Returns the share of requests the given server got. Virtual time: the run
 * is deterministic and instant. */
#ifndef RLB_TEST_SIM_H
#define RLB_TEST_SIM_H

#include "balancer_fixture.h"

struct sim_req {
	struct rlb_server *srv;
	uint64_t sent_us, done_us;
};

static inline double sim_share(struct fixture *f, const uint64_t *service_us, int clients, int requests,
			       int fifo, uint32_t watch)
{
	struct sim_req *q = calloc((size_t)clients, sizeof(*q));
	uint64_t free_at[FX_MAX] = { 0 };
	int i, sent = 0, got = 0;
	uint64_t start;

	for (i = 0; i < clients; i++, sent++) {
		q[i].srv = fx_pick(f);
		q[i].sent_us = f->now_us;
		start = fifo && free_at[q[i].srv->index] > f->now_us ? free_at[q[i].srv->index] : f->now_us;
		q[i].done_us = start + service_us[q[i].srv->index];
		if (fifo)
			free_at[q[i].srv->index] = q[i].done_us;
		got += q[i].srv->index == watch;
	}
	while (sent < requests) {
		int next = 0;

		for (i = 1; i < clients; i++)
			if (q[i].done_us < q[next].done_us)
				next = i;
		f->now_us = q[next].done_us;
		fx_end(f, q[next].srv, q[next].done_us - q[next].sent_us);
		q[next].srv = fx_pick(f);
		q[next].sent_us = f->now_us;
		start = fifo && free_at[q[next].srv->index] > f->now_us ? free_at[q[next].srv->index] : f->now_us;
		q[next].done_us = start + service_us[q[next].srv->index];
		if (fifo)
			free_at[q[next].srv->index] = q[next].done_us;
		got += q[next].srv->index == watch;
		sent++;
	}
	for (i = 0; i < clients; i++) { /* drain, so runs can be chained in phases */
		f->now_us = q[i].done_us > f->now_us ? q[i].done_us : f->now_us;
		fx_end(f, q[i].srv, q[i].done_us - q[i].sent_us);
	}
	free(q);
	return (double)got / requests;
}

#endif
