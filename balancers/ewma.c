/* Peak EWMA (Finagle, Linkerd): each server's cost is a moving average of
 * its latency that jumps to any higher sample at once ("peak") and decays with
 * time otherwise; a pick draws two servers by weight (as p2c) and takes the
 * lower cost x (in-flight + 1) / weight. A server that turns slow is avoided
 * after its first slow answers; as its cost decays with no new samples it is
 * tried again, and regains traffic if it has recovered.
 *
 * A server back in service (from down, ejected, drained or disabled) restarts
 * at the average cost of the servers that served meanwhile: the penalty its
 * failures left says nothing of the process that came back, and it kept that
 * server from traffic for seconds after it was up (found by
 * scripts/compare-algorithms configs/scenarios/dies-and-returns.ini: no
 * request for 5 s after its return, then a slow ramp). Average, not zero: a
 * zero cost would win every draw it is in and flood it.
 *
 * Key: ewma_decay (a duration, default 10s): the time constant of the decay.
 * Costs are per worker (each learns from the requests it sent); in-flight
 * counts are the shared atomics. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ringlb/balancer_util.h"
#include "ringlb/config.h"

#define FAILURE_PENALTY_US 1000000.0 /* a failed try counts as at least 1 s */

struct cost {
	double us;          /* peak EWMA latency */
	uint64_t stamp_us;  /* when it was last updated */
	uint8_t in_service; /* up when server_changed last looked */
	uint8_t returned;   /* back in service: its cost restarts at the next pick */
};

struct ewma {
	struct rlb_sampler s; /* first */
	double tau_us;
	uint32_t n_returned;  /* servers with returned set */
	struct cost cost[];   /* one per server */
};

static int in_service(const struct rlb_server *srv)
{
	return atomic_load_explicit(&srv->state, memory_order_relaxed) == RLB_SERVER_UP;
}

static int ewma_create(struct rlb_backend *be, struct rlb_balancer **out)
{
	const char *decay = rlb_backend_param(be, "ewma_decay");
	uint32_t ms = 10000;
	int rc;

	if (decay != NULL && rlb_parse_duration_ms(decay, &ms) < 0)
		return -EINVAL;
	rc = rlb_sampler_create(be, sizeof(struct ewma) + be->num_servers * sizeof(struct cost), out);
	if (rc == 0) {
		struct ewma *e = (struct ewma *)*out;

		e->tau_us = (double)ms * 1000.0;
		for (size_t i = 0; i < be->num_servers; i++)
			e->cost[i].in_service = (uint8_t)in_service(&be->servers[i]);
	}
	return rc;
}

/* The cost as of now: decayed toward zero since the last sample. */
static double cost_now(const struct ewma *e, uint32_t i, uint64_t now_us)
{
	const struct cost *c = &e->cost[i];
	double dt = now_us > c->stamp_us ? (double)(now_us - c->stamp_us) : 0.0;

	return c->us * exp(-dt / e->tau_us);
}

static double score(const struct ewma *e, const struct rlb_server *srv, uint64_t now_us)
{
	uint64_t active = atomic_load_explicit(&srv->active_requests, memory_order_relaxed);
	uint32_t weight = rlb_server_weight(srv);

	return cost_now(e, srv->index, now_us) * (double)(active + 1) / (weight ? weight : 1);
}

/* Each returned server's cost becomes the mean cost now of the servers in
 * service that have one. O(servers), once per return. */
static void restart_returned(struct ewma *e, const struct rlb_backend *be, uint64_t now_us)
{
	double sum = 0;
	uint32_t n = 0;

	for (uint32_t i = 0; i < be->num_servers; i++) {
		if (e->cost[i].in_service && !e->cost[i].returned && e->cost[i].us > 0) {
			sum += cost_now(e, i, now_us);
			n++;
		}
	}
	for (uint32_t i = 0; i < be->num_servers; i++) {
		if (e->cost[i].returned) {
			e->cost[i] = (struct cost){ n ? sum / n : 0, now_us, e->cost[i].in_service, 0 };
		}
	}
	e->n_returned = 0;
}

static struct rlb_server *ewma_pick(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx)
{
	struct ewma *e = (struct ewma *)b;
	struct rlb_server *other, *first;

	if (e->n_returned)
		restart_returned(e, b->backend, ctx->now_us);
	first = rlb_sampler_draw_two(&e->s, ctx, &other);

	if (other != NULL && score(e, other, ctx->now_us) < score(e, first, ctx->now_us))
		return other;
	return first;
}

static void ewma_request_end(struct rlb_balancer *b, struct rlb_server *srv, enum rlb_outcome outcome,
			     uint64_t latency_us, uint64_t now_us)
{
	struct ewma *e = (struct ewma *)b;
	struct cost *c = &e->cost[srv->index];
	double rtt = (double)latency_us, w;

	if (outcome == RLB_OUTCOME_ABORTED)
		return; /* the client left: says nothing about the server */
	if (outcome != RLB_OUTCOME_OK && rtt < FAILURE_PENALTY_US)
		rtt = FAILURE_PENALTY_US;
	w = c->us > 0 ? cost_now(e, srv->index, now_us) / c->us : 0.0; /* exp(-dt/tau) */
	c->us = rtt > c->us ? rtt : c->us * w + rtt * (1.0 - w);          /* Finagle's update */
	c->stamp_us = now_us;
}

/* server_changed has no clock: a return is noted here and acted on at the
 * next pick, which has one. */
static void ewma_server_changed(struct rlb_balancer *b, struct rlb_server *srv)
{
	struct ewma *e = (struct ewma *)b;
	struct cost *c = &e->cost[srv->index];
	int now_in = in_service(srv);

	rlb_sampler_server_changed(b, srv);
	if (now_in && !c->in_service && !c->returned) {
		c->returned = 1;
		e->n_returned++;
	}
	c->in_service = (uint8_t)now_in;
}

static int ewma_check_param(const char *key, const char *value, const char **why)
{
	uint32_t ms;

	(void)key;
	if (rlb_parse_duration_ms(value, &ms) < 0 || ms == 0) {
		*why = "expected a duration above zero (e.g. 10s)";
		return -EINVAL;
	}
	return 0;
}

static const char *const ewma_params[] = { "ewma_decay", NULL };

const struct rlb_balancer_ops rlb_ewma_ops = {
	.abi_version = RLB_BALANCER_ABI_VERSION,
	.name = "ewma",
	.create = ewma_create,
	.pick = ewma_pick,
	.request_end = ewma_request_end,
	.server_changed = ewma_server_changed,
	.destroy = rlb_sampler_destroy,
	.params = ewma_params,
	.check_param = ewma_check_param,
};
