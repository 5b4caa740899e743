/* Deciding each answer from the server's current behaviour (behaviour.h). */
#include "tools/testserver/behaviour.h"

#include "tools/testserver/rng.h"

static enum answer_conn conn_mode(const struct request_info *req)
{
	if (!req->keep_alive)
		return CONN_CLOSE;
	return req->http10 ? CONN_KEEP_10 : CONN_KEEP;
}

/* The health answer skips the latency: a balancer's checks should see the
 * server's state, not its load. */
static struct answer health_answer(const struct behaviour *b, const struct request_info *req)
{
	return (struct answer){ b->sick ? ANSWER_HEALTH_SICK : ANSWER_HEALTH_OK, conn_mode(req), req->head_only };
}

static uint64_t slowed_us(const struct behaviour *b, uint64_t us)
{
	double slowed = (double)us * b->slow_factor;

	return slowed < (double)LATENCY_MAX_US ? (uint64_t)slowed : LATENCY_MAX_US;
}

struct answer behaviour_answer(struct behaviour *b, const struct request_info *req, uint64_t now_us,
			       uint64_t *due_us)
{
	struct answer a = { ANSWER_OK, conn_mode(req), req->head_only };

	if (req->healthz) { /* takes no worker: a check sees the state, not the queue */
		*due_us = now_us;
		return health_answer(b, req);
	}
	*due_us = capacity_due_us(&b->capacity, now_us, slowed_us(b, latency_dist_sample_us(&b->latency, &b->rng)));
	if (b->error_rate > 0 && rng_unit(&b->rng) < b->error_rate)
		a.kind = ANSWER_ERROR;
	return a;
}

struct answer behaviour_refusal(const struct request_info *req)
{
	return (struct answer){ answer_kind_for_status(req->error_status), CONN_CLOSE, 0 };
}
