/* The server side of a transaction: pick a server, take a pooled connection
 * or connect a new one, retry elsewhere on connect failure, and return the
 * connection to the per-worker pool when the exchange left it clean. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/proxy.h"

static const struct conn_ops upstream_conn_ops;

static struct rlb_balancer *balancer_of(struct session *s)
{
	const struct rlb_config *cfg = s->c.w->cfg;

	return s->c.w->upper->balancers[s->fe->backend - cfg->backends];
}

static struct server_pool *pool_of(struct worker *w, struct rlb_server *srv)
{
	return &w->upper->pools[srv->backend - w->cfg->backends][srv->index];
}

/* The idle pool's size, for the metrics (this worker's slice). */
static void pool_gauge(struct worker *w, struct rlb_server *srv)
{
	struct rlb_server_stats *st = server_stats(w, srv);

	if (st != NULL)
		atomic_store_explicit(&st->idle_pool, pool_of(w, srv)->n_idle, memory_order_relaxed);
}

/* Passive health: connect failures, timeouts, bad responses and 5xx count
 * in a row over all workers, any other answer resets the count; the control
 * thread ejects the server when the count reaches eject_after. A client
 * that went away says nothing about the server. */
static void note_outcome(struct rlb_server *srv, enum rlb_outcome outcome, int status)
{
	int failed = outcome != RLB_OUTCOME_OK || status >= 500;

	if (outcome == RLB_OUTCOME_ABORTED)
		return;
	if (!failed) { /* (loads first, to spare the shared lines a write) */
		if (atomic_load_explicit(&srv->consecutive_failures, memory_order_relaxed) != 0)
			atomic_store_explicit(&srv->consecutive_failures, 0, memory_order_relaxed);
		/* A server answered: an episode of "no server available" is over. */
		if (atomic_load_explicit(&srv->backend->unavailable_logged, memory_order_relaxed))
			atomic_store_explicit(&srv->backend->unavailable_logged, 0, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&srv->failures, 1, memory_order_relaxed);
	atomic_store_explicit(&srv->last_failure, status >= 500 ? status : -(int)outcome, memory_order_relaxed);
	atomic_fetch_add_explicit(&srv->consecutive_failures, 1, memory_order_relaxed);
}

/* This worker's statistics of a try's end: the answer's class and the
 * whole time, or the kind of failure. */
static void count_try(struct session *s, struct rlb_server *srv, enum rlb_outcome outcome)
{
	struct rlb_server_stats *st = server_stats(s->c.w, srv);
	int cls = rlb_status_class(s->status);
	enum rlb_err_kind kind;

	if (st == NULL || outcome == RLB_OUTCOME_ABORTED)
		return;
	if (outcome == RLB_OUTCOME_OK || (outcome == RLB_OUTCOME_BAD_RESPONSE && s->status >= 500)) {
		/* (a 5xx retried elsewhere is still an answer of this server's) */
		if (cls >= 0)
			rlb_counter_add(&st->requests[cls], 1);
		rlb_hist_record(&st->total, s->c.w->now_us - s->t_start_us);
		return;
	}
	kind = outcome == RLB_OUTCOME_CONNECT_FAIL ? RLB_ERR_CONNECT
	     : outcome == RLB_OUTCOME_TIMEOUT      ? RLB_ERR_TIMEOUT
	     : s->up != NULL && s->up->c.recv_failed ? RLB_ERR_RESET
						     : RLB_ERR_BAD_RESPONSE;
	rlb_counter_add(&st->errors[kind], 1);
}

/* Records the end of one try on s->srv, exactly once. */
void rlb_upstream_end_try(struct session *s, enum rlb_outcome outcome)
{
	struct rlb_balancer *b = balancer_of(s);
	struct rlb_server *srv = s->srv;

	if (srv == NULL)
		return;
	s->srv = NULL;
	atomic_fetch_sub_explicit(&srv->active_requests, 1, memory_order_relaxed);
	note_outcome(srv, outcome, s->status);
	count_try(s, srv, outcome);
	if (b->ops->request_end)
		b->ops->request_end(b, srv, outcome, s->c.w->now_us - s->t_start_us, s->c.w->now_us);
}

/* Unlinks the transaction's upstream from s. If a send of u may still read
 * s->req_out (a cancel is on its way), u keeps pointing at s, which holds
 * on to its memory until u's destroy (rlb_session_upstream_gone). */
static void detach(struct session *s)
{
	struct upstream *u = s->up;

	if (u == NULL)
		return;
	s->up = NULL;
	if (u->c.send_busy) {
		assert(s->held == NULL && u->c.closing); /* one abort per session, after which no request starts */
		s->held = u;
	} else {
		u->s = NULL;
	}
}

static void pool_remove(struct worker *w, struct upstream *u)
{
	if (rlb_list_linked(&u->pool_link)) {
		rlb_list_del(&u->pool_link);
		pool_of(w, u->srv)->n_idle--;
		pool_gauge(w, u->srv);
	}
}

void rlb_upstream_pool_flush(struct worker *w, struct rlb_server *srv)
{
	struct server_pool *p = pool_of(w, srv);

	while (p->n_idle > 0) {
		struct upstream *u = rlb_container_of(p->idle.next, struct upstream, pool_link);

		pool_remove(w, u);
		rlb_conn_close(&u->c);
	}
}

/* The most recently used idle connection: the least likely to have been
 * closed by the server's own keep-alive timeout. */
/* Whether u still goes where its server is: a DNS slot's address may have
 * changed while u was busy (the pool flush on the change saw only the idle
 * ones), or in this loop turn (the flush comes at its end); a request for
 * the slot must not reach the old machine. */
static int still_there(const struct upstream *u)
{
	struct sockaddr_storage now;
	socklen_t len;

	if (u->srv->group == NULL)
		return 1;
	rlb_server_addr(u->srv, &now, &len);
	return len == u->addr_len && memcmp(&now, &u->addr, len) == 0;
}

static struct upstream *pool_take(struct worker *w, struct rlb_server *srv)
{
	struct server_pool *p = pool_of(w, srv);
	struct upstream *u;

	while (p->n_idle > 0) {
		u = rlb_container_of(p->idle.prev, struct upstream, pool_link);
		pool_remove(w, u);
		if (still_there(u)) {
			rlb_timer_cancel(&u->c.timer);
			u->reused = 1;
			return u;
		}
		rlb_conn_close(&u->c); /* this loop turn moved its DNS slot: the pool flush comes at its end */
	}
	return NULL;
}

static struct upstream *connect_new(struct worker *w, struct rlb_server *srv)
{
	struct upstream *u = calloc(1, sizeof(*u));
	int fd;

	if (u == NULL)
		return NULL;
	rlb_server_addr(srv, &u->addr, &u->addr_len);
	if (u->addr_len == 0) { /* a DNS slot emptied since the pick: as a refused connect */
		free(u);
		return NULL;
	}
	fd = rlb_conn_socket(u->addr.ss_family);
	if (fd < 0) {
		rlb_error("backend %s server %s: socket: %s", srv->backend->name, srv->name, strerror(-fd));
		free(u);
		return NULL;
	}
	rlb_conn_init(&u->c, w, fd, &upstream_conn_ops);
	rlb_list_init(&u->pool_link);
	u->srv = srv;
	rlb_conn_connect(&u->c, (const struct sockaddr *)&u->addr, u->addr_len);
	u->t_connect_us = w->now_us;
	rlb_conn_arm_timer(&u->c, srv->backend->timeout_connect_ms);
	return u;
}

static void attach(struct session *s, struct upstream *u)
{
	u->s = s;
	s->up = u;
	s->req_head_sent = 0;
	s->status = 0;
}

/* The retry budget (Finagle's): each request earns retry_budget_pct
 * hundredths of a retry, up to RLB_RETRY_BURST; a retry a server may have
 * seen (after 502, 503, 504, a reset) spends one. So when every server
 * fails, retries add at most that share of the load (plus the burst)
 * instead of multiplying it by `retries`. A failed connect reached no
 * server: retrying it loads nobody twice, and it is what makes a dead
 * server cost clients nothing, so it spends no budget (`retries` still
 * bounds it). Per worker: no shared counter on the hot path. */
static void budget_earn(struct session *s)
{
	uint32_t *tokens = &s->c.w->upper->retry_tokens[s->fe->backend - s->c.w->cfg->backends];

	*tokens += s->fe->backend->retry_budget_pct;
	if (*tokens > RLB_RETRY_BURST * 100)
		*tokens = RLB_RETRY_BURST * 100;
}

static int budget_spend(struct session *s)
{
	uint32_t *tokens = &s->c.w->upper->retry_tokens[s->fe->backend - s->c.w->cfg->backends];

	if (*tokens < 100)
		return 0;
	*tokens -= 100;
	return 1;
}

/* Whether this request may go to one more server for reason why. A failed
 * connect always may (the request reached no server; `retries = 0` is how
 * to stop it); the rest as retry_on says, within the budget. */
static int may_retry(struct session *s, struct rlb_server *failed, uint32_t why)
{
	const struct rlb_backend *be = s->fe->backend;
	struct rlb_server_stats *st;

	if (s->tries >= be->retries || (why != RLB_RETRY_CONNECT && (!(be->retry_on & why) || !budget_spend(s))))
		return 0;
	if ((st = server_stats(s->c.w, failed)) != NULL)
		rlb_counter_add(&st->retries, 1);
	rlb_debug("backend %s server %s: %s; retrying the request elsewhere (retry %d of %d)", be->name, failed->name,
		  why == RLB_RETRY_CONNECT ? "connect failed" : why == RLB_RETRY_RESET ? "reset before its answer"
		  : why == RLB_RETRY_504 ? "timed out" : "answered 502/503", s->tries + 1, be->retries);
	return 1;
}

/* Why no server may take s's request, by cause: "2 down, 1 ejected, 1
 * tried for this request". */
static void unavailable_reason(const struct session *s, char *out, size_t n)
{
	/* indexed by enum rlb_server_state, then two more */
	static const char *const causes[] = { "up but not picked", "down", "drained", "disabled", "ejected",
					      "without an address (DNS)", "with weight 0", "tried for this request" };
	const struct rlb_backend *be = s->fe->backend;
	size_t count[8] = { 0 }, len = 0;

	for (size_t i = 0; i < be->num_servers; i++) {
		const struct rlb_server *srv = &be->servers[i];
		int st = atomic_load_explicit(&srv->state, memory_order_relaxed);

		if (rlb_avoid_has(s->avoid, srv->index))
			count[7]++;
		else if (st == RLB_SERVER_UP && rlb_server_weight(srv) == 0)
			count[6]++; /* a backup standing by, or weight 0 by the operator */
		else if (st >= 0 && st <= RLB_SERVER_UNRESOLVED)
			count[st]++;
	}
	out[0] = '\0';
	for (int k = 1; k < 9; k++) {
		int c = k % 8; /* "up but not picked" last: it should not happen */

		if (count[c] && len < n)
			len += (size_t)snprintf(out + len, n - len, "%s%zu %s", len ? ", " : "", count[c], causes[c]);
	}
}

/* No server is left for s: 503, and one line per episode, on whichever
 * worker meets it first; the episode ends when a server answers
 * (note_outcome) or comes up (the control thread's publish). */
static void answer_503(struct session *s, const char *after)
{
	struct rlb_backend *be = s->fe->backend;

	if (!atomic_exchange_explicit(&be->unavailable_logged, 1, memory_order_relaxed)) {
		char why[160];

		unavailable_reason(s, why, sizeof(why));
		rlb_warn("backend %s: answering 503: no server available (%s)%s; said once until a server answers "
			 "or comes up", be->name, why, after);
	}
	rlb_session_upstream_failed(s, RLB_OUTCOME_CONNECT_FAIL);
}

/* Picks a server not tried yet and attaches a connection to it; answers 503
 * when none is left. req is the parsed head (NULL if it could not be had). */
static void try_next(struct session *s, const struct rlb_http_msg *req)
{
	struct rlb_balancer *b = balancer_of(s);
	struct worker *w = s->c.w;
	struct rlb_pick_ctx ctx = { .client_addr = &s->peer.sa, .now_us = w->now_us,
				    .req = req, .avoid = s->avoid };

	for (;;) {
		struct rlb_server *srv = b->ops->pick(b, &ctx);
		struct upstream *u;

		if (srv == NULL && s->retry_of != RLB_OUTCOME_OK) {
			/* A retry found no other server: the answer is the failure
			 * that was being retried (502 for a reset, 504...), not a 503. */
			rlb_session_upstream_failed(s, s->retry_of);
			return;
		}
		if (srv == NULL) {
			answer_503(s, "");
			return;
		}
		rlb_avoid_add(s->avoid, srv->index);
		s->srv = s->log_server = srv;
		s->t_start_us = w->now_us;
		atomic_fetch_add_explicit(&srv->active_requests, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&srv->total_requests, 1, memory_order_relaxed);
		if (b->ops->request_start)
			b->ops->request_start(b, srv);
		u = pool_take(w, srv);
		if (u == NULL)
			u = connect_new(w, srv);
		if (u != NULL) {
			attach(s, u);
			return;
		}
		rlb_upstream_end_try(s, RLB_OUTCOME_CONNECT_FAIL);
		if (!may_retry(s, srv, RLB_RETRY_CONNECT)) {
			rlb_session_upstream_failed(s, RLB_OUTCOME_CONNECT_FAIL);
			return;
		}
		s->tries++;
	}
}

void rlb_upstream_start(struct session *s)
{
	memset(s->avoid, 0, RLB_AVOID_WORDS(s->fe->backend->num_servers) * sizeof(uint64_t));
	s->tries = 0;
	s->retried_stale = 0;
	s->retry_of = RLB_OUTCOME_OK;
	budget_earn(s);
	try_next(s, &s->c.w->upper->msg);
}

/* A retry picks with the request head too, so a hashing balancer keeps the
 * key: the head as the client sent it (s->req_in, kept until the request is
 * done) is parsed again into the worker's scratch message, free between
 * events, so both picks see the same headers. It parsed once already, so
 * this fails only on a bug; the pick then goes without a head. */
static const struct rlb_http_msg *head_again(struct session *s)
{
	struct rlb_http_msg *m = &s->c.w->upper->msg;
	struct rlb_http_limits lim = { s->req_in.len, s->req_in.len };

	return rlb_http_parse_request(s->req_in.data, s->req_in.len, 0, &lim, m) > 0 ? m : NULL;
}

/* A connect failed or timed out, before any byte of the request was sent:
 * safe to try another server, up to `retries` times. */
static void connect_failed(struct session *s, const char *why)
{
	struct upstream *u = s->up;

	rlb_warn("backend %s server %s: connect failed: %s", u->srv->backend->name, u->srv->name, why);
	rlb_upstream_end_try(s, RLB_OUTCOME_CONNECT_FAIL);
	rlb_conn_close(&u->c);
	detach(s);
	if (!may_retry(s, u->srv, RLB_RETRY_CONNECT)) {
		char after[48];

		snprintf(after, sizeof(after), " after %d connect tr%s", s->tries + 1, s->tries ? "ies" : "y");
		answer_503(s, after);
	} else {
		s->tries++;
		try_next(s, head_again(s));
	}
	rlb_session_pump(s);
}

static void on_connect(struct conn *c, int res)
{
	struct upstream *u = (struct upstream *)c;
	struct rlb_server_stats *st;

	if (u->s == NULL) { /* the session went away meanwhile */
		rlb_conn_close(&u->c);
		return;
	}
	if (res < 0) {
		connect_failed(u->s, strerror(-res));
		return;
	}
	u->connected = 1;
	u->c.readable = 1;
	if ((st = server_stats(c->w, u->srv)) != NULL)
		rlb_hist_record(&st->connect, c->w->now_us - u->t_connect_us);
	u->s->connect_us = c->w->now_us - u->t_connect_us;
	rlb_timer_cancel(&u->c.timer); /* timeout_connect is over; the session arms what it waits for */
	rlb_conn_arm_recv(&u->c);
	rlb_session_pump(u->s);
}

static void on_timeout(struct conn *c)
{
	struct upstream *u = (struct upstream *)c;
	struct session *s = u->s;

	if (s == NULL) { /* idle in the pool for pool_idle_timeout */
		pool_remove(u->c.w, u);
		rlb_conn_close(&u->c);
		return;
	}
	if (!u->connected) {
		connect_failed(s, "timeout_connect expired");
		return;
	}
	rlb_warn("backend %s server %s: timeout_server (%u ms) expired, answering 504", u->srv->backend->name,
		 u->srv->name, u->srv->backend->timeout_server_ms);
	rlb_session_upstream_failed(s, RLB_OUTCOME_TIMEOUT);
	rlb_session_pump(s);
}

/* A pooled connection that turns out dead (the server closed it while idle,
 * and we raced with that) gets one fresh connection to the same server, if
 * the request had no body and so can be sent again as it was, and if it is
 * idempotent: the server may have received it and acted on it before it
 * closed, so a POST is never sent twice (RFC 9110 9.2.2). */
int rlb_upstream_retry_stale(struct session *s)
{
	struct upstream *u = s->up, *fresh;
	struct rlb_server_stats *st;

	if (!u->reused || s->retried_stale || !s->idempotent || s->req_body.kind != RLB_BODY_NONE ||
	    s->rq != RQ_DONE || u->c.send_busy)
		return 0;
	fresh = connect_new(s->c.w, u->srv);
	if (fresh == NULL)
		return 0;
	rlb_conn_close(&u->c);
	detach(s);
	attach(s, fresh);
	s->retried_stale = 1;
	if ((st = server_stats(s->c.w, fresh->srv)) != NULL)
		rlb_counter_add(&st->retries, 1);
	s->rq = RQ_FORWARD;
	s->req_body.done = 1; /* no body (both retries require it): done once the head is out */
	s->req_abandoned = 0;
	return 1;
}

int rlb_upstream_retry_elsewhere(struct session *s, uint32_t why, enum rlb_outcome outcome)
{
	struct upstream *u = s->up;

	/* Sent again as it was: so no body, all of it sent, and idempotent
	 * (the server may have acted on it: RFC 9110 9.2.2). */
	if (u == NULL || !s->idempotent || s->req_body.kind != RLB_BODY_NONE || s->rq != RQ_DONE ||
	    u->c.send_busy || !may_retry(s, u->srv, why))
		return 0;
	s->tries++;
	rlb_upstream_end_try(s, outcome);
	rlb_conn_close(&u->c);
	detach(s);
	s->rq = RQ_FORWARD;
	s->req_body.done = 1; /* no body (both retries require it): done once the head is out */
	s->req_abandoned = 0;
	s->rs = RS_HEAD;
	/* If no other server takes it, the client gets what it would have:
	 * 503 for a 503, 504 for a 504, else 502. */
	s->retry_of = why == RLB_RETRY_503 ? RLB_OUTCOME_CONNECT_FAIL
		    : why == RLB_RETRY_504 ? RLB_OUTCOME_TIMEOUT : RLB_OUTCOME_BAD_RESPONSE;
	try_next(s, head_again(s));
	return 1;
}

/* The transaction ended cleanly: record it and pool or close the connection. */
void rlb_upstream_finish(struct session *s, int reusable)
{
	struct upstream *u = s->up;
	struct worker *w = s->c.w;
	struct server_pool *p = pool_of(w, u->srv);

	/* The session ended its splices (end_splices): a pooled conn with
	 * splice_src set would never read again. */
	assert(!u->c.splice_src && !u->c.splice_dst);
	rlb_upstream_end_try(s, RLB_OUTCOME_OK);
	detach(s);
	if (reusable && !u->c.eof && u->c.in.cnt == 0 && !w->stopping && p->n_idle < u->srv->backend->pool_max_idle &&
	    still_there(u)) {
		rlb_conn_trim(&u->c);
		rlb_list_add_tail(&p->idle, &u->pool_link);
		p->n_idle++;
		pool_gauge(w, u->srv);
		rlb_conn_arm_timer(&u->c, u->srv->backend->pool_idle_timeout_ms);
		return;
	}
	rlb_conn_close(&u->c);
}

/* The transaction is abandoned (client gone, error answered by us). */
void rlb_upstream_abort(struct session *s)
{
	rlb_upstream_end_try(s, RLB_OUTCOME_ABORTED);
	rlb_conn_close(&s->up->c);
	detach(s);
}

static void on_io(struct conn *c)
{
	struct upstream *u = (struct upstream *)c;

	if (u->s != NULL) {
		rlb_session_pump(u->s);
		return;
	}
	/* Data or EOF on an idle pooled connection: it cannot be reused. */
	pool_remove(c->w, u);
	rlb_conn_close(c);
}

/* Exit: idle pooled connections go; one in use goes with its session. */
static void on_shutdown(struct conn *c)
{
	struct upstream *u = (struct upstream *)c;

	if (u->s != NULL)
		return;
	pool_remove(c->w, u);
	rlb_conn_close(c);
}

static void destroy(struct conn *c)
{
	struct upstream *u = (struct upstream *)c;
	struct session *s = u->s;

	pool_remove(c->w, u);
	rlb_conn_release(c);
	free(u);
	if (s != NULL)
		rlb_session_upstream_gone(s);
}

static const struct conn_ops upstream_conn_ops = {
	.name = "upstream",
	.on_io = on_io,
	.on_connect = on_connect,
	.on_timeout = on_timeout,
	.on_shutdown = on_shutdown,
	.destroy = destroy,
};
