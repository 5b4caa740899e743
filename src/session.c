/* A client connection and the HTTP transactions on it: read a request head,
 * hand it to the upstream side, stream the body, relay the response, then
 * either wait for the next request (keep-alive) or close.
 *
 * One request at a time: pipelined requests wait in the inbound queue (flow
 * control bounds it) and are answered in order. Every completion for the
 * client or its upstream ends in rlb_session_pump(), which advances both
 * directions as far as they can go. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

void rlb_session_accept(struct listener *l, int fd)
{
	struct worker *w = l->w;
	struct session *s = calloc(1, sizeof(*s));
	socklen_t len = sizeof(s->peer);
	size_t words = RLB_AVOID_WORDS(l->fe->backend->num_servers);

	if (s == NULL || (s->avoid = calloc(words, sizeof(uint64_t))) == NULL) {
		free(s);
		close(fd);
		return;
	}
	rlb_conn_init(&s->c, w, fd, CONN_CLIENT);
	s->c.readable = 1;
	s->fe = l->fe;
	if (getpeername(fd, (struct sockaddr *)&s->peer, &len) == 0) {
		const void *a = s->peer.ss_family == AF_INET6 ?
			(const void *)&((struct sockaddr_in6 *)&s->peer)->sin6_addr :
			(const void *)&((struct sockaddr_in *)&s->peer)->sin_addr;

		inet_ntop(s->peer.ss_family, a, s->peer_ip, sizeof(s->peer_ip));
	}
	rlb_list_add_tail(&w->sessions, &s->link);
	w->nsessions++;
	rlb_conn_arm_recv(&s->c);
	rlb_timer_arm(w, &s->c.timer, s->fe->timeout_client_ms);
}

/* Answers with an error of our own and closes after it. A response already
 * under way cannot be replaced: the client connection is closed instead, so
 * the client sees a truncated response, never a fabricated end. */
static void reply_error(struct session *s, int status)
{
	char text[256];
	int n;

	if (s->resp_head_sent || s->rs == RS_TUNNEL) {
		rlb_session_close(s);
		return;
	}
	if (s->up != NULL)
		rlb_upstream_abort(s);
	n = snprintf(text, sizeof(text),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s\n",
		     status, status_text(status), strlen(status_text(status)) + 1, status_text(status));
	s->resp_out.len = 0;
	if (rlb_buf_append(&s->resp_out, text, (size_t)n) < 0) {
		rlb_session_close(s);
		return;
	}
	s->resp_body = (struct body){ .kind = RLB_BODY_NONE };
	s->resp_head_sent = 0;
	s->keep_alive = 0;
	s->linger_wanted = 1; /* the client may be mid-request: let it read this */
	s->rq = RQ_DONE;
	s->rs = RS_FORWARD;
}

void rlb_session_upstream_failed(struct session *s, enum rlb_outcome outcome)
{
	rlb_upstream_end_try(s, outcome);
	reply_error(s, outcome == RLB_OUTCOME_TIMEOUT ? 504 : outcome == RLB_OUTCOME_CONNECT_FAIL ? 503 : 502);
}

static ssize_t parse_req(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct session *s = arg;
	struct rlb_http_limits lim = { s->fe->max_header_bytes, s->fe->max_uri_bytes };

	return rlb_http_parse_request(buf, len, last_len, &lim, &s->c.w->msg);
}

static ssize_t parse_resp(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct session *s = arg;
	struct rlb_http_limits lim = { s->fe->max_header_bytes, s->fe->max_uri_bytes };

	return rlb_http_parse_response(buf, len, last_len, &lim, s->head_request, &s->c.w->msg);
}

static int read_request(struct session *s)
{
	struct rlb_http_msg *m = &s->c.w->msg;
	ssize_t n = rlb_conn_read_head(&s->c, parse_req, s);

	if (n == -EAGAIN) {
		if (s->c.eof) /* gone before a whole request: nothing to answer */
			rlb_session_close(s);
		return 0;
	}
	if (n < 0) {
		rlb_log("client %s: %s, answering %d", s->peer_ip, m->error ? m->error : strerror((int)-n),
			m->error_status ? m->error_status : 400);
		rlb_conn_head_consumed(&s->c);
		reply_error(s, m->error_status ? m->error_status : 400);
		return 1;
	}
	s->client_minor = (uint8_t)m->minor_version;
	s->head_request = rlb_http_token_eq(m->method, m->method_len, "HEAD");
	s->upgrade = (m->flags & RLB_HTTP_HAS_UPGRADE) && (m->flags & RLB_HTTP_CONN_UPGRADE);
	s->keep_alive = m->minor_version ? !(m->flags & RLB_HTTP_CONN_CLOSE) :
			!!(m->flags & RLB_HTTP_CONN_KEEPALIVE);
	s->req_body = (struct body){ .kind = m->body, .left = m->content_length };
	s->req_out.len = 0;
	s->req_head_sent = s->resp_head_sent = 0;
	s->req_abandoned = 0;
	s->rq = RQ_FORWARD;
	s->rs = RS_HEAD;
	if (rlb_rewrite_request(m, s->peer_ip, s->fe->backend->name, &s->req_out) < 0) {
		rlb_conn_head_consumed(&s->c);
		reply_error(s, 500);
		return 1;
	}
	rlb_upstream_start(s); /* picks with the parsed head, so before it is dropped */
	rlb_conn_head_consumed(&s->c);
	return 1;
}

static int forward_request(struct session *s)
{
	struct upstream *u = s->up;
	int err = 0;

	if (u == NULL || !u->connected || u->c.send_busy || u->c.closing)
		return 0;
	if (u->c.err) {
		/* The server stopped taking the request. It may have answered
		 * first (a 401 or 413 on an upload, then close): stop sending and
		 * read on; read_response gives 502 if no answer comes. */
		s->req_abandoned = 1;
		s->rq = RQ_DONE;
		return 1;
	}
	if (!s->req_head_sent) {
		rlb_conn_send_add(&u->c, s->req_out.data, s->req_out.len);
		s->req_head_sent = 1;
	}
	rlb_conn_gather(&s->c, &u->c, &s->req_body, &err);
	if (err) {
		rlb_log("client %s: bad chunked request body", s->peer_ip);
		reply_error(s, 400);
		return 1;
	}
	if (s->req_body.done)
		s->rq = RQ_DONE;
	if (u->c.msg.msg_iovlen) {
		rlb_conn_send_submit(&u->c);
		return 1;
	}
	if (s->c.eof) { /* the client left in the middle of its body */
		rlb_session_close(s);
		return 1;
	}
	return 0;
}

/* Raw bytes from src to dst after a 101; either side closing ends both. */
static int forward_tunnel(struct session *s, struct conn *src, struct conn *dst)
{
	struct body raw = { .kind = RLB_BODY_EOF };
	int err = 0;

	if (dst->send_busy)
		return 0;
	rlb_conn_gather(src, dst, &raw, &err);
	if (dst->msg.msg_iovlen) {
		rlb_conn_send_submit(dst);
		return 1;
	}
	if (src->eof || dst->err) {
		rlb_session_close(s);
		return 1;
	}
	return 0;
}

/* Sends a 1xx on (100 Continue and friends) and waits for the final head. */
static int relay_interim(struct session *s, const struct rlb_http_msg *m)
{
	s->resp_out.len = 0;
	if (rlb_rewrite_response(m, 1, s->client_minor, 0, &s->resp_out) < 0) {
		rlb_conn_head_consumed(&s->up->c);
		reply_error(s, 502);
		return 1;
	}
	rlb_conn_head_consumed(&s->up->c);
	rlb_conn_send_add(&s->c, s->resp_out.data, s->resp_out.len);
	rlb_conn_send_submit(&s->c);
	return 1;
}

static int read_response(struct session *s)
{
	struct upstream *u = s->up;
	struct rlb_http_msg *m = &s->c.w->msg;
	int tunnel;
	ssize_t n;

	if (u == NULL || s->c.send_busy)
		return 0;
	n = rlb_conn_read_head(&u->c, parse_resp, s);
	if (n == -EAGAIN) {
		if (!u->c.eof)
			return 0;
		if (u->c.in.cnt == 0 && u->c.acc.len == 0 && rlb_upstream_retry_stale(s))
			return 1;
		rlb_log("server %s: closed before a complete response head", u->srv->name);
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	if (n < 0) {
		rlb_log("server %s: %s, answering 502", u->srv->name, m->error ? m->error : strerror((int)-n));
		rlb_conn_head_consumed(&u->c);
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	tunnel = m->status == 101 && s->upgrade && s->rq == RQ_DONE && !s->req_abandoned;
	if (m->status < 200 && m->status != 101)
		return relay_interim(s, m);
	if (m->status == 101 && !tunnel) {
		rlb_conn_head_consumed(&u->c);
		rlb_log("server %s: 101 without an upgrade request", u->srv->name);
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	u->reusable = (m->minor_version ? !(m->flags & RLB_HTTP_CONN_CLOSE) :
		       !!(m->flags & RLB_HTTP_CONN_KEEPALIVE)) && m->body != RLB_BODY_EOF && !tunnel;
	/* We close after an answer that came before the request ended. */
	s->keep_alive = s->keep_alive && m->body != RLB_BODY_EOF && !s->c.w->stopping && !tunnel &&
			s->rq == RQ_DONE && !s->req_abandoned;
	s->resp_body = (struct body){ .kind = m->body, .left = m->content_length };
	s->resp_out.len = 0;
	n = rlb_rewrite_response(m, s->keep_alive, s->client_minor, tunnel, &s->resp_out);
	rlb_conn_head_consumed(&u->c);
	if (n < 0) {
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	s->rs = tunnel ? RS_TUNNEL : RS_FORWARD;
	if (tunnel) {
		s->rq = RQ_TUNNEL;
		rlb_conn_send_add(&s->c, s->resp_out.data, s->resp_out.len);
		rlb_conn_send_submit(&s->c);
		s->resp_head_sent = 1;
	}
	return 1;
}

static int forward_response(struct session *s)
{
	struct upstream *u = s->up;
	int err = 0;

	if (s->c.send_busy)
		return 0;
	if (!s->resp_head_sent) {
		rlb_conn_send_add(&s->c, s->resp_out.data, s->resp_out.len);
		s->resp_head_sent = 1;
	}
	if (u != NULL) {
		rlb_conn_gather(&u->c, &s->c, &s->resp_body, &err);
		if (s->resp_body.kind == RLB_BODY_EOF && u->c.eof && u->c.in.cnt == 0)
			s->resp_body.done = 1;
	} else {
		s->resp_body.done = 1; /* our own error response */
	}
	if (err) {
		rlb_log("server %s: bad chunked response body", u->srv->name);
		rlb_session_close(s);
		return 1;
	}
	if (s->resp_body.done)
		s->rs = RS_DONE;
	if (s->c.msg.msg_iovlen) {
		rlb_conn_send_submit(&s->c);
		return 1;
	}
	if (u != NULL && u->c.eof && !s->resp_body.done) {
		rlb_log("server %s: closed in the middle of a response", u->srv->name);
		rlb_session_close(s);
		return 1;
	}
	return 0;
}

/* Closing a socket with unread bytes makes the kernel send RST, and the RST
 * can destroy the answer we just sent before the client reads it: a 400 with
 * more request bytes behind it, a server's early 401 on a big upload. So, as
 * nginx's lingering_close does, send FIN first, then read and drop what still
 * comes until the client closes or timeout_linger (a fixed deadline, never
 * extended by the client) has passed. */
static void end_connection(struct session *s)
{
	struct worker *w = s->c.w;
	struct io_uring_sqe *sqe;

	if (s->lingering)
		return;
	if (s->c.eof || !(s->linger_wanted || s->c.in.cnt || s->c.acc.len) || s->fe->timeout_linger_ms == 0) {
		rlb_session_close(s);
		return;
	}
	s->lingering = 1;
	w->nlingering++;
	rlb_conn_discard_input(&s->c);
	sqe = rlb_sqe(w);
	io_uring_prep_shutdown(sqe, s->c.fd, SHUT_WR);
	io_uring_sqe_set_data64(sqe, rlb_ud(&s->c, OP_CANCEL));
	s->c.inflight++;
	rlb_timer_arm(w, &s->c.timer, s->fe->timeout_linger_ms);
}

/* Ends a transaction once both directions are done and nothing is in
 * flight; returns 1 when it did. */
static int finish(struct session *s)
{
	struct worker *w = s->c.w;
	/* answered before the request body ended */
	int early = s->rs == RS_DONE && (s->rq == RQ_FORWARD || s->req_abandoned);

	if (s->rs != RS_DONE || (s->rq != RQ_DONE && !early) || s->c.send_busy)
		return 0;
	if (s->up != NULL && s->up->c.send_busy)
		return 0;
	if (early) {
		s->keep_alive = 0;
		s->linger_wanted = 1; /* the rest of the body is still coming */
	}
	if (s->up != NULL)
		rlb_upstream_finish(s, s->up->reusable && !early);
	if (!s->keep_alive || s->c.eof || w->stopping) {
		end_connection(s);
		return 1;
	}
	s->rq = RQ_HEAD;
	s->rs = RS_NONE;
	rlb_conn_trim(&s->c);
	rlb_timer_arm(w, &s->c.timer, s->fe->timeout_client_ms);
	return 1;
}

static int step(struct session *s)
{
	int progress = 0;

	if ((s->rq == RQ_TUNNEL || s->rs == RS_TUNNEL) && s->up == NULL) {
		rlb_session_close(s); /* a tunnel needs both ends */
		return 0;
	}
	switch (s->rq) {
	case RQ_HEAD: progress |= read_request(s); break;
	case RQ_FORWARD: progress |= forward_request(s); break;
	case RQ_TUNNEL: progress |= forward_tunnel(s, &s->c, &s->up->c); break;
	case RQ_DONE: break;
	}
	if (s->c.closing)
		return 0;
	switch (s->rs) {
	case RS_HEAD: progress |= read_response(s); break;
	case RS_FORWARD: progress |= forward_response(s); break;
	case RS_TUNNEL: progress |= forward_tunnel(s, &s->up->c, &s->c); break;
	case RS_NONE:
	case RS_DONE: break;
	}
	if (s->c.closing)
		return 0;
	return progress | finish(s);
}

/* The client timer runs while we wait on the client: for a request head
 * (a fixed deadline, so a slow drip of bytes cannot hold the connection:
 * slowloris), for body bytes, or for it to take our sends. */
static void update_timers(struct session *s)
{
	struct worker *w = s->c.w;
	struct upstream *u = s->up;

	if (s->rq == RQ_TUNNEL) { /* an upgraded connection: one inactivity timer for both */
		rlb_timer_arm(w, &s->c.timer, s->fe->timeout_tunnel_ms);
		if (u != NULL)
			rlb_timer_cancel(&u->c.timer);
		return;
	}
	if (s->rq == RQ_FORWARD || s->c.send_busy)
		rlb_timer_arm(w, &s->c.timer, s->fe->timeout_client_ms);
	else if (s->rq != RQ_HEAD)
		rlb_timer_cancel(&s->c.timer);
	if (u != NULL && u->connected && !u->c.closing)
		rlb_timer_arm(w, &u->c.timer, s->fe->backend->timeout_server_ms);
}

void rlb_session_pump(struct session *s)
{
	if (s->in_pump || s->c.closing)
		return;
	s->in_pump = 1;
	while (!s->lingering && step(s))
		;
	s->in_pump = 0;
	if (s->c.closing)
		return;
	if (s->lingering) {
		rlb_conn_discard_input(&s->c);
		if (s->c.eof)
			rlb_session_close(s);
		else
			rlb_conn_flow_control(&s->c);
		return;
	}
	update_timers(s);
	rlb_conn_flow_control(&s->c);
	if (s->up != NULL)
		rlb_conn_flow_control(&s->up->c);
}

/* Between requests with nothing received: closing loses nothing. */
static int idle(const struct session *s)
{
	return s->rq == RQ_HEAD && s->c.in.cnt == 0 && s->c.acc.len == 0 && !s->c.send_busy;
}

void rlb_session_timeout(struct session *s)
{
	if (idle(s) || s->rq == RQ_TUNNEL || s->lingering) {
		rlb_session_close(s); /* idle keep-alive or tunnel ended */
		return;
	}
	rlb_log("client %s: timeout_client expired, answering 408", s->peer_ip);
	reply_error(s, 408);
	/* A client this slow gets no lingering (nor does it under nginx): the
	 * 408 goes out and the slot is freed at once. */
	s->linger_wanted = 0;
	rlb_conn_discard_input(&s->c);
	rlb_session_pump(s);
}

/* SIGTERM: idle connections go now; busy ones close after their response. */
void rlb_session_drain(struct session *s)
{
	if (idle(s))
		rlb_session_close(s);
}

void rlb_session_close(struct session *s)
{
	if (s->c.closing)
		return;
	if (s->up != NULL)
		rlb_upstream_abort(s);
	rlb_conn_close(&s->c);
}

/* Called once the client conn has nothing in flight; waits for the upstream
 * too, since its in-flight send may point at s->req_out. */
void rlb_session_free(struct session *s)
{
	struct worker *w = s->c.w;

	if (s->up != NULL)
		return;
	rlb_list_del(&s->link);
	w->nsessions--;
	w->nlingering -= s->lingering;
	rlb_conn_release(&s->c);
	rlb_buf_free(&s->req_out);
	rlb_buf_free(&s->resp_out);
	free(s->avoid);
	free(s);
	rlb_session_done(w);
}
