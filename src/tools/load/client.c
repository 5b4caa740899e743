/* The connection loop (contract in client.h): each turn reads the clock,
 * handles every completion, closes the seconds that ended, expires
 * timeouts, sends what is due, and sleeps in one submit-and-wait until the
 * next thing is due. */
#include "tools/load/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/tool_cli.h"

#define LOAD_RING_ENTRIES 4096
#define LOAD_SWEEP_US 10000       /* timeouts are checked this often */
#define LOAD_RECONNECT_US 10000   /* closed loop: pause after a failed connect */
#define LOAD_DESTROY_WAIT_US 1000000

volatile sig_atomic_t load_interrupts;

/* Single issuer and deferred task work: completions are handled only when
 * we ask for them, in the one thread that submits (kernel 6.1+). */
static int ring_init(struct io_uring *ring)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = LOAD_RING_ENTRIES * 4;
	ret = io_uring_queue_init_params(LOAD_RING_ENTRIES, ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = LOAD_RING_ENTRIES * 4;
		ret = io_uring_queue_init_params(LOAD_RING_ENTRIES, ring, &p);
	}
	return ret;
}

int load_client_create(struct load_client **out, const struct load_target *t, struct load_recorder *rec)
{
	struct load_client *c = calloc(1, sizeof(*c));
	int ret = -ENOMEM;

	if (!c)
		return -ENOMEM;
	c->q_cap = 1024;
	c->queue = malloc(sizeof(*c->queue) * c->q_cap);
	if (!c->queue)
		goto fail;
	ret = ring_init(&c->ring);
	if (ret < 0)
		goto fail;
	c->t = t;
	c->rec = rec;
	rlb_list_init(&c->connecting);
	rlb_list_init(&c->idle);
	rlb_list_init(&c->busy);
	rlb_list_init(&c->all);
	*out = c;
	return 0;
fail:
	free(c->queue);
	free(c);
	return ret;
}

/* ---- the open-loop queue: a ring of requests, oldest first ---- */

static int queue_push(struct load_client *c, const struct load_req *q)
{
	if (c->q_len == c->q_cap) {
		struct load_req *bigger = malloc(sizeof(*bigger) * c->q_cap * 2);

		if (!bigger)
			return -ENOMEM;
		for (size_t i = 0; i < c->q_len; i++)
			bigger[i] = c->queue[(c->q_head + i) % c->q_cap];
		free(c->queue);
		c->queue = bigger;
		c->q_head = 0;
		c->q_cap *= 2;
	}
	c->queue[(c->q_head + c->q_len++) % c->q_cap] = *q;
	return 0;
}

static struct load_req queue_pop(struct load_client *c)
{
	struct load_req q = c->queue[c->q_head];

	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	return q;
}

/* ---- outcomes, from the connections ---- */

static void note_done(struct load_client *c, const struct load_req *q)
{
	if (q->measured)
		c->phase->stats.last_done_us = c->now_us;
}

void client_fail(struct load_client *c, const struct load_req *q, enum load_err kind)
{
	load_record_error(c->rec, q, c->now_us, kind);
	note_done(c, q);
}

void client_answered(struct load_client *c, const struct load_req *q, int status, unsigned server_id)
{
	load_record_response(c->rec, q, c->now_us, status, server_id);
	note_done(c, q);
}

/* ---- sending ---- */

static uint64_t window_end_us(const struct load_client *c)
{
	return c->phase->stats.measure_start_us + c->phase->duration_us;
}

/* The measured window ends where it was planned, unless cut short. */
static void stop_issuing(struct load_client *c)
{
	struct load_phase *p = c->phase;

	if (!c->issuing)
		return;
	c->issuing = 0;
	c->have_next = 0;
	p->stats.issue_end_us = c->now_us;
	if (p->duration_us && !(load_interrupts && c->now_us < window_end_us(c)))
		p->stats.issue_end_us = window_end_us(c);
}

static void count_measured(struct load_client *c)
{
	struct load_phase *p = c->phase;

	c->measured_issued++;
	p->stats.scheduled++;
	if (p->max_requests && c->measured_issued >= p->max_requests)
		stop_issuing(c);
}

/* Closed loop: a request (or connect attempt) starts its clock now. */
static struct load_req closed_attempt(struct load_client *c)
{
	struct load_req q = { .origin_us = c->now_us };

	q.measured = c->issuing && c->now_us >= c->phase->stats.measure_start_us;
	if (q.measured)
		count_measured(c);
	return q;
}

void client_connect_failed(struct load_client *c)
{
	struct load_req q = { .origin_us = c->now_us };

	if (!c->phase->schedule) {
		q = closed_attempt(c);
		c->reconnect_at_us = c->now_us + LOAD_RECONNECT_US;
	} else if (c->q_len) {
		q = queue_pop(c); /* one failed connect, one request that could not go */
	}
	client_fail(c, &q, LOAD_ERR_CONNECT);
}

static struct load_conn *first_idle(struct load_client *c)
{
	return rlb_container_of(c->idle.next, struct load_conn, link);
}

static void issue_closed(struct load_client *c)
{
	if (c->phase->duration_us && c->now_us >= window_end_us(c))
		stop_issuing(c);
	while (c->issuing && !rlb_list_empty(&c->idle)) {
		struct load_req q = closed_attempt(c);

		conn_send(c, first_idle(c), &q);
	}
	while (c->issuing && c->open < c->t->max_conns && c->now_us >= c->reconnect_at_us)
		if (conn_open(c) < 0)
			client_connect_failed(c);
}

/* The next scheduled time, or the end of sending. */
static void advance(struct load_client *c)
{
	struct load_phase *p = c->phase;
	uint64_t t_us;

	if (!load_schedule_next(p->schedule, &t_us)) {
		stop_issuing(c);
		return;
	}
	c->next_due_us = p->start_us + t_us;
	if (p->duration_us && c->next_due_us >= window_end_us(c))
		stop_issuing(c);
}

/* Why a due request may wait: kept to tell a slow generator from too few connections. */
static int wait_reason(const struct load_client *c)
{
	if (c->q_len < c->n_idle)
		return 0;
	return c->open < c->t->max_conns ? LOAD_WAIT_CONNECT : LOAD_WAIT_LIMIT;
}

static int enqueue_due(struct load_client *c)
{
	struct load_req q = { .origin_us = c->next_due_us };

	q.measured = q.origin_us >= c->phase->stats.measure_start_us;
	q.waited = (uint8_t)wait_reason(c);
	if (q.measured)
		count_measured(c);
	if (c->have_next)
		advance(c);
	return queue_push(c, &q);
}

static void note_dispatch(struct load_client *c, const struct load_req *q)
{
	struct load_dispatch_stats *s = &c->phase->stats;

	if (!q->measured || c->now_us - q->origin_us <= LOAD_LATE_US)
		return; /* on time */
	if (q->waited & LOAD_WAIT_LIMIT)
		s->waited_limit++;
	else if (!q->waited)
		s->late_cpu++;
}

static int issue_open(struct load_client *c)
{
	while (c->have_next && c->next_due_us <= c->now_us)
		if (enqueue_due(c) < 0)
			return -ENOMEM;
	while (c->q_len && !rlb_list_empty(&c->idle)) {
		struct load_req q = queue_pop(c);

		note_dispatch(c, &q);
		conn_send(c, first_idle(c), &q);
	}
	/* one connection per waiting request, not per due one: a few idle soon */
	while (c->q_len > c->n_connecting && c->open < c->t->max_conns)
		if (conn_open(c) < 0)
			client_connect_failed(c);
	return 0;
}

/* ---- timeouts ---- */

static int expired(const struct load_client *c, uint64_t since_us)
{
	return c->now_us >= since_us + c->t->timeout_us;
}

static void sweep(struct load_client *c)
{
	struct rlb_list *n, *next;

	if (c->now_us < c->next_sweep_us)
		return;
	c->next_sweep_us = c->now_us + LOAD_SWEEP_US;
	for (n = c->busy.next; n != &c->busy; n = next) {
		struct load_conn *conn = rlb_container_of(n, struct load_conn, link);

		next = n->next;
		if (conn->state == CONN_BUSY && expired(c, conn->req.origin_us)) {
			client_fail(c, &conn->req, LOAD_ERR_TIMEOUT);
			conn_close(c, conn);
		} else if (conn->state == CONN_ANSWERED && expired(c, conn->req.origin_us)) {
			/* answered, but its send never finished (a server that answered
			 * early and stopped reading): the connection is stuck, the
			 * request was counted; close it so the loop goes on */
			c->phase->stats.stuck_sends++;
			conn_close(c, conn);
		}
	}
	for (n = c->connecting.next; n != &c->connecting; n = next) {
		struct load_conn *conn = rlb_container_of(n, struct load_conn, link);

		next = n->next;
		if (expired(c, conn->since_us)) {
			client_connect_failed(c);
			conn_close(c, conn);
		}
	}
	while (c->q_len && expired(c, c->queue[c->q_head].origin_us)) {
		struct load_req q = queue_pop(c);

		client_fail(c, &q, LOAD_ERR_TIMEOUT);
	}
}

/* The run is over with requests outstanding: each is a timeout if its
 * time is up, else cut off (counted, not judged). */
static void settle_outstanding(struct load_client *c, const struct load_req *q)
{
	if (expired(c, q->origin_us))
		client_fail(c, q, LOAD_ERR_TIMEOUT);
	else if (q->measured)
		c->phase->stats.cut_off++;
}

static void cut_off(struct load_client *c)
{
	while (!rlb_list_empty(&c->busy)) {
		struct load_conn *conn = rlb_container_of(c->busy.next, struct load_conn, link);

		if (conn->state == CONN_BUSY)
			settle_outstanding(c, &conn->req);
		conn_close(c, conn);
	}
	while (c->q_len) {
		struct load_req q = queue_pop(c);

		settle_outstanding(c, &q);
	}
}

/* ---- the loop ---- */

static void handle_completions(struct load_client *c)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&c->ring, head, cqe) {
		conn_on_cqe(c, cqe);
		n++;
	}
	io_uring_cq_advance(&c->ring, n);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t drain_deadline_us(const struct load_client *c)
{
	return c->phase->stats.issue_end_us + c->t->timeout_us;
}

static uint64_t next_wake_us(const struct load_client *c)
{
	const struct load_phase *p = c->phase;
	uint64_t wake = c->rec->start_us + (uint64_t)c->rec->second_t * 1000000u;

	if (c->have_next)
		wake = min_u64(wake, c->next_due_us);
	if (c->issuing && p->duration_us)
		wake = min_u64(wake, window_end_us(c));
	if (c->q_len || !rlb_list_empty(&c->busy) || c->n_connecting)
		wake = min_u64(wake, c->next_sweep_us);
	if (!c->issuing)
		wake = min_u64(wake, drain_deadline_us(c));
	if (!p->schedule && c->issuing && c->open < c->t->max_conns)
		wake = min_u64(wake, c->reconnect_at_us);
	return wake;
}

/* Submits what the turn queued and sleeps until wake_us or a completion. */
static int submit_and_wait(struct load_client *c, uint64_t wake_us)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	uint64_t now_us = tool_now_us(), wait_us;
	int ret;

	if (wake_us <= now_us)
		return io_uring_submit_and_get_events(&c->ring);
	wait_us = wake_us - now_us;
	ts.tv_sec = (long long)(wait_us / 1000000u);
	ts.tv_nsec = (long long)(wait_us % 1000000u) * 1000;
	ret = io_uring_submit_and_wait_timeout(&c->ring, &cqe, 1, &ts, NULL);
	return ret == -ETIME || ret == -EINTR ? 0 : ret;
}

static void phase_start(struct load_client *c, struct load_phase *p)
{
	memset(&p->stats, 0, sizeof(p->stats));
	p->stats.measure_start_us = p->start_us + p->warmup_us;
	c->phase = p;
	c->issuing = 1;
	c->measured_issued = 0;
	c->have_next = 0;
	c->now_us = tool_now_us();
	c->rec->schedule = p->schedule;
	c->rec->schedule_start_us = p->start_us;
	if (p->schedule) {
		c->have_next = 1;
		advance(c);
	}
}

/* One turn of the loop; 1 when the phase is over. */
static int turn(struct load_client *c)
{
	handle_completions(c);
	load_recorder_tick(c->rec, c->now_us);
	if (load_interrupts)
		stop_issuing(c);
	sweep(c);
	if (c->phase->schedule) {
		if (issue_open(c) < 0)
			return -ENOMEM;
	} else {
		issue_closed(c);
	}
	if (!c->issuing && c->q_len == 0 && rlb_list_empty(&c->busy))
		return 1;
	if (!c->issuing && (c->now_us >= drain_deadline_us(c) || load_interrupts > 1)) {
		cut_off(c);
		return 1;
	}
	return 0;
}

int load_client_run(struct load_client *c, struct load_phase *p)
{
	int ret = 0;

	phase_start(c, p);
	for (;;) {
		c->now_us = tool_now_us();
		ret = turn(c);
		if (ret)
			break;
		ret = submit_and_wait(c, next_wake_us(c));
		if (ret < 0)
			break;
	}
	io_uring_submit(&c->ring);
	return ret < 0 ? ret : 0;
}

void load_client_destroy(struct load_client *c)
{
	struct rlb_list *n, *next;
	uint64_t deadline_us = tool_now_us() + LOAD_DESTROY_WAIT_US;

	for (n = c->all.next; n != &c->all; n = n->next)
		conn_close(c, rlb_container_of(n, struct load_conn, all));
	while (!rlb_list_empty(&c->all) && (c->now_us = tool_now_us()) < deadline_us) {
		submit_and_wait(c, c->now_us + 100000);
		handle_completions(c);
	}
	io_uring_queue_exit(&c->ring); /* cancels whatever is left: its memory is ours again */
	for (n = c->all.next; n != &c->all; n = next) {
		struct load_conn *conn = rlb_container_of(n, struct load_conn, all);

		next = n->next;
		conn->inflight = 0;
		conn_release_if_done(c, conn);
	}
	free(c->queue);
	free(c);
}
