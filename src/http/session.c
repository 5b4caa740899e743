/* A client connection and the HTTP transactions on it: read a request head,
 * hand it to the upstream side, stream the body, relay the response, then
 * either wait for the next request (keep-alive) or close.
 *
 * One request at a time: pipelined requests wait in the inbound queue (flow
 * control bounds it) and are answered in order. Every completion for the
 * client or its upstream ends in rlb_session_pump(), which advances both
 * directions as far as they can go. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/proxy.h"

static void session_free(struct session *s);

/* Our own answers. Static text, so nothing we do later can change a head
 * that a send in flight (a relayed 1xx, say) may still be reading; the
 * lengths are checked by tests/unit/test_session_errors.c. */
struct canned {
	int status;
	const char *text;
};

static const struct canned canned_errors[] = {
	{ 400, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
	       "Connection: close\r\n\r\nBad Request\n" },
	{ 408, "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
	       "Connection: close\r\n\r\nRequest Timeout\n" },
	{ 414, "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
	       "Connection: close\r\n\r\nURI Too Long\n" },
	{ 431, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
	       "Content-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n" },
	{ 500, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
	       "Connection: close\r\n\r\nInternal Server Error\n" },
	{ 501, "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
	       "Connection: close\r\n\r\nNot Implemented\n" },
	{ 502, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
	       "Connection: close\r\n\r\nBad Gateway\n" },
	{ 503, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
	       "Connection: close\r\n\r\nService Unavailable\n" },
	{ 504, "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
	       "Connection: close\r\n\r\nGateway Timeout\n" },
	{ 505, "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\n"
	       "Content-Length: 27\r\nConnection: close\r\n\r\nHTTP Version Not Supported\n" },
};

const char *rlb_canned_error(int status)
{
	for (size_t i = 0; i < sizeof(canned_errors) / sizeof(canned_errors[0]); i++)
		if (canned_errors[i].status == status)
			return canned_errors[i].text;
	return rlb_canned_error(500);
}

static const struct conn_ops client_conn_ops;

void rlb_session_accept(struct listener *l, int fd)
{
	struct worker *w = l->w;
	struct session *s = calloc(1, sizeof(*s));
	socklen_t len = sizeof(s->peer);
	struct rlb_frontend *fe = l->at.owner;
	struct rlb_frontend_stats *fst;
	size_t words = RLB_AVOID_WORDS(fe->backend->num_servers);

	if (s == NULL || (s->avoid = calloc(words, sizeof(uint64_t))) == NULL) {
		free(s);
		close(fd);
		return;
	}
	rlb_conn_init(&s->c, w, fd, &client_conn_ops);
	s->c.readable = 1;
	s->fe = fe;
	if (getpeername(fd, &s->peer.sa, &len) == 0) {
		const void *a = s->peer.sa.sa_family == AF_INET6 ? (const void *)&s->peer.in6.sin6_addr :
								    (const void *)&s->peer.in.sin_addr;

		inet_ntop(s->peer.sa.sa_family, a, s->peer_ip, sizeof(s->peer_ip));
	}
	w->nclients++;
	if ((fst = frontend_stats(w, fe)) != NULL)
		rlb_counter_add(&fst->connections, 1);
	rlb_conn_arm_recv(&s->c);
	rlb_conn_arm_timer(&s->c, s->fe->timeout_client_ms);
}

static struct body body_init(enum rlb_body_kind kind, uint64_t length)
{
	return (struct body){ .kind = kind, .left = length, .done = kind == RLB_BODY_NONE };
}

/* A new body in b's direction. The last one's splice has ended (its pipe
 * would leak otherwise): at its end, or by end_splices. */
static void body_start(struct body *b, enum rlb_body_kind kind, uint64_t length)
{
	assert(!b->sp.on);
	*b = body_init(kind, length);
}

/* A body past one small recv's worth switches its sender to whole-buffer
 * recvs (loop.h): known large from its Content-Length at the head, or once
 * that many bytes of a chunked or read-until-close body have gone by. */
static void body_watch(struct body *b, struct conn *src, size_t moved)
{
	b->moved += moved;
	if (!b->done && (b->moved > RLB_RECV_MSG || (b->kind == RLB_BODY_LENGTH && b->left > RLB_RECV_MSG)))
		rlb_conn_bulk(src);
}

/* rlb_take_fn for a body: how many bytes at p belong to it. */
static size_t body_take(void *arg, const char *p, size_t avail, int *err)
{
	struct body *b = arg;
	ssize_t n;

	if (b->done)
		return 0;
	switch (b->kind) {
	case RLB_BODY_NONE:
		b->done = 1;
		return 0;
	case RLB_BODY_LENGTH:
		n = (ssize_t)(avail < b->left ? avail : b->left);
		b->left -= (uint64_t)n;
		b->done = b->left == 0;
		return (size_t)n;
	case RLB_BODY_CHUNKED:
		n = rlb_chunked_feed(&b->ch, p, avail);
		if (n < 0) {
			*err = (int)n;
			return 0;
		}
		b->done = b->ch.done;
		return (size_t)n;
	case RLB_BODY_EOF:
		return avail;
	}
	return 0;
}

/* Ends b's transfer by splice, if it has one: its pipe goes back, and
 * both ends are free again (the source's recvs resume). src or dst is
 * NULL when that end is gone. */
static void splice_end(struct session *s, struct body *b, struct conn *src, struct conn *dst)
{
	if (!b->sp.on)
		return;
	rlb_splice_close(s->c.w, &b->sp);
	rlb_splice_end(src, dst);
}

/* Both directions' transfers by splice end: the transaction ends, or is
 * given up on. */
static void end_splices(struct session *s)
{
	struct conn *up = s->up != NULL ? &s->up->c : NULL;

	splice_end(s, &s->req_body, &s->c, up);
	splice_end(s, &s->resp_body, up, &s->c);
}

/* A Content-Length body with more than one small recv's worth still to
 * come moves by splice (splice.c) when a pipe is free and neither end
 * carries another splice: the source's recvs stop, and once what they
 * brought has been forwarded (rlb_conn_gather), the rest goes by
 * splice_body. Tried once per body. */
static void splice_try(struct session *s, struct body *b, struct conn *src, struct conn *dst)
{
	if (b->sp.tried || b->done || b->kind != RLB_BODY_LENGTH || b->left <= RLB_RECV_MSG || !s->c.w->cfg->splice ||
	    src->eof || src->splice_src || src->splice_dst || src->poll_armed || dst->splice_src ||
	    dst->splice_dst || dst->poll_armed)
		return;
	if (rlb_splice_open(s->c.w, &b->sp) < 0)
		return; /* no pipe: copied */
	rlb_splice_begin(src, dst);
}

/* Moves b's bytes by splice once nothing received is waiting in the
 * source's queue (nor can arrive there: no recv in flight) and the
 * destination has nothing else to send. Returns the bytes moved. */
static size_t splice_body(struct session *s, struct body *b, struct conn *src, struct conn *dst)
{
	size_t n;

	if (!b->sp.on || src->in.cnt || src->recv_armed || dst->send_busy || dst->msg.msg_iovlen)
		return 0;
	n = rlb_splice_move(&b->sp, src, dst, &b->left);
	if (b->left == 0 && b->sp.in_pipe == 0) {
		b->done = 1;
		/* A splice reads exactly the body, so whatever the server sent
		 * past it stays in the socket, where a recv would have shown it:
		 * such a connection answers no other request (a smuggled
		 * response), nor does one the server is closing. */
		if (b == &s->resp_body && s->up != NULL && rlb_conn_has_more(src))
			s->up->reusable = 0;
		splice_end(s, b, src, dst);
	}
	return n;
}

/* Answers with an error of our own and closes after it. A response already
 * under way cannot be replaced: the client connection is closed instead, so
 * the client sees a truncated response, never a fabricated end. The
 * transaction's upstream is given up on here; from now on the session
 * never waits for it (at most its memory does: rlb_upstream_abort). */
static void reply_error(struct session *s, int status)
{
	if (s->resp_head_sent || s->rs == RS_TUNNEL) {
		rlb_session_close(s);
		return;
	}
	end_splices(s);
	if (s->up != NULL)
		rlb_upstream_abort(s);
	/* The backend's 503 says when to come back (static text, as the others). */
	s->resp_head = status == 503 ? s->fe->backend->unavailable : rlb_canned_error(status);
	s->client_status = status;
	/* The answer to HEAD has no body (RFC 9110 9.3.2), ours included. */
	s->resp_head_len = (uint32_t)(s->head_request ? strstr(s->resp_head, "\r\n\r\n") + 4 - s->resp_head :
				      (ptrdiff_t)strlen(s->resp_head));
	body_start(&s->resp_body, RLB_BODY_NONE, 0);
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

/* Parses a head and, when it is whole, notes where its bytes are (the
 * front buffer or the accumulator) so the caller can copy them. */
static ssize_t parse_req(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct session *s = arg;
	struct rlb_proxy_state *ps = s->c.w->upper;
	struct rlb_http_limits lim = { s->fe->max_header_bytes, s->fe->max_uri_bytes };
	ssize_t n = rlb_http_parse_request(buf, len, last_len, &lim, &ps->msg);

	ps->head_bytes = buf;
	ps->head_len = n > 0 ? (size_t)n : 0;
	return n;
}

static ssize_t parse_resp(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct session *s = arg;
	struct rlb_proxy_state *ps = s->c.w->upper;
	struct rlb_http_limits lim = { s->fe->max_header_bytes, s->fe->max_uri_bytes };

	return rlb_http_parse_response(buf, len, last_len, &lim, s->head_request, &ps->msg);
}

/* Methods are case-sensitive (RFC 9110 9.1): "head" is not HEAD. */
static int method_is(const struct rlb_http_msg *m, const char *name)
{
	size_t n = strlen(name);

	return m->method_len == n && memcmp(m->method, name, n) == 0;
}

/* RFC 9110 9.2.2: the methods a request may be sent again with. */
static int is_idempotent(const struct rlb_http_msg *m)
{
	static const char *const names[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", NULL };

	for (int i = 0; names[i]; i++)
		if (method_is(m, names[i]))
			return 1;
	return 0;
}

/* Whether the sender of m keeps its connection open after it (RFC 9112
 * 9.3): HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive", and
 * "close" wins over it when both are listed. */
static int wants_keep_alive(const struct rlb_http_msg *m)
{
	if (m->flags & RLB_HTTP_CONN_CLOSE)
		return 0;
	return m->minor_version || (m->flags & RLB_HTTP_CONN_KEEPALIVE);
}

/* Refuses a request head; the rest of what the client sends is dropped. */
static int refuse_request(struct session *s, int status, const char *why)
{
	struct rlb_frontend_stats *fst = frontend_stats(s->c.w, s->fe);

	if (fst != NULL)
		rlb_counter_add(&fst->rejected[status == 400 ? RLB_REJECT_400 : status == 431 ? RLB_REJECT_431
											    : RLB_REJECT_OTHER], 1);
	rlb_log("frontend %s client %s: %s, answering %d", s->fe->name, s->peer_ip, why, status);
	rlb_conn_head_consumed(&s->c);
	reply_error(s, status);
	return 1;
}

/* Notes what the access log line needs of a request: its method and
 * target (m NULL: a head too bad to have them) and when it came. */
static void log_begin(struct session *s, const struct rlb_http_msg *m)
{
	free(s->log_req);
	s->log_req = NULL;
	if (m != NULL && (s->log_req = malloc(m->method_len + m->target_len + 2)) != NULL)
		sprintf(s->log_req, "%.*s %.*s", (int)m->method_len, m->method, (int)m->target_len, m->target);
	s->t_request_us = s->c.w->now_us;
	s->log_server = NULL;
	s->connect_us = s->response_us = s->bytes_to_client = 0;
}

/* The transaction's access log line, once. */
static void log_end(struct session *s, const char *termination)
{
	if (s->t_request_us == 0)
		return;
	rlb_access_log_line(s, termination);
	s->t_request_us = 0;
	free(s->log_req);
	s->log_req = NULL;
}

static int read_request(struct session *s)
{
	struct rlb_proxy_state *ps = s->c.w->upper;
	struct rlb_http_msg *m = &ps->msg;
	struct rlb_rewrite_ctx ctx = { s->peer_ip, s->fe->backend->name, s->fe->listen_port };
	ssize_t n = rlb_conn_read_head(&s->c, parse_req, s);

	if (n == -EAGAIN) {
		if (s->c.eof) /* gone before a whole request: nothing to answer */
			rlb_session_close(s);
		return 0;
	}
	if (ps->access_log != NULL) /* this transaction's line starts here */
		log_begin(s, n > 0 ? m : NULL);
	if (n < 0)
		return refuse_request(s, m->error_status ? m->error_status : 400,
				      m->error ? m->error : strerror((int)-n));
	/* A tunnel to an authority of the client's choosing is a forward
	 * proxy's job, not a load balancer's (nginx and Envoy refuse it too). */
	if (method_is(m, "CONNECT"))
		return refuse_request(s, 501, "CONNECT is not supported");
	s->client_minor = (uint8_t)m->minor_version;
	s->head_request = method_is(m, "HEAD");
	s->idempotent = is_idempotent(m);
	s->upgrade = (m->flags & RLB_HTTP_HAS_UPGRADE) && (m->flags & RLB_HTTP_CONN_UPGRADE);
	s->keep_alive = wants_keep_alive(m);
	body_start(&s->req_body, m->body, m->content_length);
	body_watch(&s->req_body, &s->c, 0);
	s->req_in.len = s->req_out.len = 0;
	s->rq = RQ_FORWARD;
	s->rs = RS_HEAD;
	if (rlb_buf_append(&s->req_in, ps->head_bytes, ps->head_len) < 0 ||
	    rlb_rewrite_request(m, &ctx, &s->req_out) < 0)
		return refuse_request(s, 500, "out of memory");
	rlb_upstream_start(s); /* picks with the parsed head, so before it is dropped */
	rlb_conn_head_consumed(&s->c);
	return 1;
}

static int forward_request(struct session *s)
{
	struct upstream *u = s->up;
	struct rlb_server_stats *st;
	size_t sent = 0, got;
	int err = 0;

	if (u == NULL || !u->connected || u->c.send_busy || u->c.closing)
		return 0;
	if (u->c.err) {
		/* The server stopped taking the request. It may have answered
		 * first (a 401 or 413 on an upload, then close): stop sending and
		 * read on; read_response gives 502 if no answer comes. */
		s->req_abandoned = 1;
		s->rq = RQ_DONE;
		splice_end(s, &s->req_body, &s->c, &u->c);
		return 1;
	}
	if (!s->req_head_sent) {
		rlb_conn_send_add(&u->c, s->req_out.data, s->req_out.len);
		s->req_head_sent = 1;
		s->t_sent_us = s->c.w->now_us; /* the response time runs from here, whatever the body does */
		sent = s->req_out.len;
	}
	splice_try(s, &s->req_body, &s->c, &u->c);
	got = rlb_conn_gather(&s->c, &u->c, body_take, &s->req_body, &err);
	if (got == 0 && (got = splice_body(s, &s->req_body, &s->c, &u->c)) > 0 &&
	    (st = server_stats(s->c.w, u->srv)) != NULL)
		rlb_counter_add(&st->spliced_out, got);
	body_watch(&s->req_body, &s->c, got);
	sent += got;
	if (sent && (st = server_stats(s->c.w, u->srv)) != NULL)
		rlb_counter_add(&st->bytes_out, sent);
	if (err) {
		rlb_log("frontend %s client %s: %s, answering 400", s->fe->name, s->peer_ip,
			err == -EBADMSG ? "bad chunked request body" : strerror(-err));
		reply_error(s, 400);
		return 1;
	}
	if (s->req_body.done) {
		s->rq = RQ_DONE;
		/* (copied to its end, as a short body may be: its pipe goes back
		 * now, and the server connection may splice the response) */
		splice_end(s, &s->req_body, &s->c, &u->c);
	}
	if (u->c.msg.msg_iovlen) {
		rlb_conn_send_submit(&u->c);
		return 1;
	}
	if (s->c.eof) { /* the client left in the middle of its body */
		rlb_session_close(s);
		return 1;
	}
	/* A splice ended the body, or the server stopped taking it (above). */
	return s->rq == RQ_DONE || u->c.err;
}

/* Raw bytes from src to dst after a 101; either side closing ends both. */
static int forward_tunnel(struct session *s, struct conn *src, struct conn *dst)
{
	struct body raw = body_init(RLB_BODY_EOF, 0);
	int err = 0;

	if (dst->send_busy)
		return 0;
	rlb_conn_gather(src, dst, body_take, &raw, &err);
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

/* Sends a 1xx on (100 Continue and friends) and waits for the final head.
 * An HTTP/1.0 client gets none (RFC 9110 15.2): it could not read it. */
static int relay_interim(struct session *s, const struct rlb_http_msg *m)
{
	struct upstream *u = s->up;

	if (s->client_minor == 0) {
		rlb_conn_head_consumed(&u->c);
		return 1;
	}
	s->resp_out.len = 0;
	if (rlb_rewrite_response(m, 1, s->client_minor, 0, &s->resp_out) < 0) {
		rlb_conn_head_consumed(&u->c);
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	rlb_conn_head_consumed(&u->c);
	rlb_conn_send_add(&s->c, s->resp_out.data, s->resp_out.len);
	rlb_conn_send_submit(&s->c);
	return 1;
}

/* A response to the client starts: counted by its status's class. */
static void count_answer(struct session *s)
{
	struct rlb_frontend_stats *fst = frontend_stats(s->c.w, s->fe);
	int cls = rlb_status_class(s->client_status);

	if (fst != NULL && cls >= 0)
		rlb_counter_add(&fst->requests[cls], 1);
}

/* The server's response head is bad, or it closed before one came. */
static int bad_response(struct session *s, const char *why)
{
	rlb_warn("backend %s server %s: %s, answering 502", s->up->srv->backend->name, s->up->srv->name, why);
	rlb_conn_head_consumed(&s->up->c);
	rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
	return 1;
}

static int read_response(struct session *s)
{
	struct upstream *u = s->up;
	struct rlb_http_msg *m = &s->c.w->upper->msg;
	struct rlb_server_stats *st;
	int tunnel;
	ssize_t n;

	if (u == NULL || s->c.send_busy)
		return 0;
	n = rlb_conn_read_head(&u->c, parse_resp, s);
	if (n == -EAGAIN) {
		if (!u->c.eof)
			return 0;
		if (u->c.in.cnt == 0 && u->c.acc.len == 0 &&
		    (rlb_upstream_retry_stale(s) ||
		     rlb_upstream_retry_elsewhere(s, RLB_RETRY_RESET, RLB_OUTCOME_BAD_RESPONSE)))
			return 1;
		return bad_response(s, "closed before a complete response head");
	}
	if (n < 0)
		return bad_response(s, m->error ? m->error : strerror((int)-n));
	tunnel = m->status == 101 && s->upgrade && s->rq == RQ_DONE && !s->req_abandoned;
	if (m->status < 200 && m->status != 101)
		return relay_interim(s, m);
	if (m->status == 101 && !tunnel)
		return bad_response(s, "101 without an upgrade request");
	s->status = s->client_status = m->status;
	s->response_us = s->c.w->now_us - s->t_sent_us;
	if ((st = server_stats(s->c.w, u->srv)) != NULL) {
		rlb_hist_record(&st->response, s->c.w->now_us - s->t_sent_us);
		rlb_counter_add(&st->bytes_in, (uint64_t)n);
	}
	if (m->status >= 502 && m->status <= 504 &&
	    rlb_upstream_retry_elsewhere(s, RLB_RETRY_502 << (m->status - 502), RLB_OUTCOME_BAD_RESPONSE))
		return 1;
	u->reusable = wants_keep_alive(m) && m->body != RLB_BODY_EOF && !tunnel;
	/* We close after an answer that came before the request ended. */
	s->keep_alive = s->keep_alive && m->body != RLB_BODY_EOF && !s->c.w->stopping && !tunnel &&
			s->rq == RQ_DONE && !s->req_abandoned;
	body_start(&s->resp_body, m->body, m->content_length);
	body_watch(&s->resp_body, &u->c, 0);
	s->resp_out.len = 0;
	if (rlb_rewrite_response(m, s->keep_alive, s->client_minor, tunnel, &s->resp_out) < 0)
		return bad_response(s, "out of memory");
	rlb_conn_head_consumed(&u->c);
	s->resp_head = s->resp_out.data;
	s->resp_head_len = s->resp_out.len;
	s->rs = tunnel ? RS_TUNNEL : RS_FORWARD;
	if (tunnel) {
		s->rq = RQ_TUNNEL;
		rlb_conn_send_add(&s->c, s->resp_head, s->resp_head_len);
		rlb_conn_send_submit(&s->c);
		s->resp_head_sent = 1;
		count_answer(s);
		if (st != NULL) /* its answer; a tunnel's lifetime is no latency, so no total */
			rlb_counter_add(&st->requests[0], 1);
	}
	return 1;
}

static int forward_response(struct session *s)
{
	struct upstream *u = s->up;
	struct rlb_server_stats *st;
	size_t got;
	int err = 0;

	if (s->c.send_busy)
		return 0;
	if (!s->resp_head_sent) {
		rlb_conn_send_add(&s->c, s->resp_head, s->resp_head_len);
		s->bytes_to_client += s->resp_head_len;
	}
	if (u != NULL) {
		splice_try(s, &s->resp_body, &u->c, &s->c);
		got = rlb_conn_gather(&u->c, &s->c, body_take, &s->resp_body, &err);
		if (got == 0 && (got = splice_body(s, &s->resp_body, &u->c, &s->c)) > 0 &&
		    (st = server_stats(s->c.w, u->srv)) != NULL)
			rlb_counter_add(&st->spliced_in, got);
		if (s->c.err && s->resp_body.sp.on) { /* the client is gone: nothing more can reach it */
			rlb_session_close(s);
			return 1;
		}
		body_watch(&s->resp_body, &u->c, got);
		s->bytes_to_client += got;
		if (got && (st = server_stats(s->c.w, u->srv)) != NULL)
			rlb_counter_add(&st->bytes_in, got);
		/* A read-until-close body ends at the server's FIN; a reset is
		 * no end, and the client must be able to tell (below). */
		if (s->resp_body.kind == RLB_BODY_EOF && u->c.eof && u->c.in.cnt == 0 && !u->c.recv_failed)
			s->resp_body.done = 1;
	}
	if (err && !s->resp_head_sent) {
		/* Nothing of this response has left yet: drop what was queued
		 * and answer 502, as for a bad head. */
		s->c.msg.msg_iovlen = 0;
		s->c.out.len = 0;
		rlb_warn("backend %s server %s: bad chunked response body, answering 502", u->srv->backend->name,
			 u->srv->name);
		rlb_session_upstream_failed(s, RLB_OUTCOME_BAD_RESPONSE);
		return 1;
	}
	if (!s->resp_head_sent)
		count_answer(s);
	s->resp_head_sent = 1;
	if (err) {
		rlb_warn("backend %s server %s: bad chunked response body", u->srv->backend->name, u->srv->name);
		rlb_session_close(s);
		return 1;
	}
	if (s->resp_body.done) {
		s->rs = RS_DONE;
		if (u != NULL)
			splice_end(s, &s->resp_body, &u->c, &s->c);
	}
	if (s->c.msg.msg_iovlen) {
		rlb_conn_send_submit(&s->c);
		return 1;
	}
	if (u != NULL && u->c.eof && !s->resp_body.done) {
		rlb_warn("backend %s server %s: %s in the middle of a response", u->srv->backend->name, u->srv->name,
			 u->c.recv_failed ? "reset" : "closed");
		/* Its end is our close: a FIN would complete it. */
		s->reset_on_close = s->resp_body.kind == RLB_BODY_EOF;
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
	rlb_conn_arm_timer(&s->c, s->fe->timeout_linger_ms);
}

/* Back to waiting for a request head, with nothing of the last transaction
 * left: a refusal of the next head (or a 408) must see a fresh transaction,
 * not the last one's "head already sent" or "HEAD request". */
static void next_transaction(struct session *s)
{
	s->rq = RQ_HEAD;
	s->rs = RS_NONE;
	s->req_head_sent = s->resp_head_sent = 0;
	s->head_request = s->idempotent = s->upgrade = 0;
	s->req_abandoned = s->retried_stale = 0;
	s->resp_head = NULL;
	s->resp_head_len = 0;
}

/* Ends a transaction once both directions are done and nothing is in
 * flight; returns 1 when it did. */
static int finish(struct session *s)
{
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
	end_splices(s); /* only an early answer leaves one: the request body's, cut short */
	if (s->up != NULL)
		rlb_upstream_finish(s, s->up->reusable && !early);
	log_end(s, "-");
	/* SIGTERM closes after the response; a reload does not, when the
	 * response said keep-alive (its head was made before the reload): the
	 * client may send its next request, answered with Connection: close. */
	if (!s->keep_alive || s->c.eof ||
	    (s->c.w->stopping && !atomic_load_explicit(&s->c.w->handing_over, memory_order_acquire))) {
		end_connection(s);
		return 1;
	}
	next_transaction(s);
	/* An idle connection holds none of the last transaction's heads: the
	 * next one builds its own. (A given-up server send may still read
	 * req_out: then it waits for the session's end.) */
	rlb_conn_trim(&s->c);
	rlb_buf_free(&s->req_in);
	if (s->held == NULL)
		rlb_buf_free(&s->req_out);
	rlb_buf_free(&s->resp_out);
	rlb_conn_arm_timer(&s->c, s->fe->timeout_client_ms);
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

/* Runs c's inactivity timer while we wait on that side: armed when the wait
 * starts, pushed back whenever the side shows activity (c->active), and off
 * while we wait on the other side, so each side is charged only for its own
 * slowness (a client that stops reading never costs its server a timeout). */
static void wait_on(struct conn *c, int waiting, uint32_t timeout_ms)
{
	if (!waiting)
		rlb_timer_cancel(&c->timer);
	else if (c->active || !rlb_timer_armed(&c->timer))
		rlb_conn_arm_timer(c, timeout_ms);
}

static void update_timers(struct session *s)
{
	struct upstream *u = s->up;
	int client_late, server_late;

	if (s->rq == RQ_TUNNEL) { /* an upgraded connection: one inactivity timer for both */
		if (s->c.active || (u != NULL && u->c.active) || !rlb_timer_armed(&s->c.timer))
			rlb_conn_arm_timer(&s->c, s->fe->timeout_tunnel_ms);
		if (u != NULL)
			rlb_timer_cancel(&u->c.timer);
		goto out;
	}
	/* Waiting for the client: to take our bytes, or for body bytes the
	 * server is ready for. A request head has its own fixed deadline
	 * (slowloris), armed once in RQ_HEAD and left alone here. */
	client_late = s->c.send_busy || s->c.poll_out ||
		      (s->rq == RQ_FORWARD && u != NULL && u->connected && !u->c.send_busy && !u->c.poll_out &&
		       s->c.in.cnt == 0);
	if (s->rq != RQ_HEAD)
		wait_on(&s->c, client_late, s->fe->timeout_client_ms);
	/* Waiting for the server: to take the request, for its head once the
	 * request is sent, or for body bytes the client is ready for. The
	 * connect has its own timer (timeout_connect). */
	if (u != NULL && u->connected && !u->c.closing) {
		server_late = u->c.send_busy || u->c.poll_out || (s->rs == RS_HEAD && s->rq != RQ_FORWARD) ||
			      (s->rs == RS_FORWARD && !s->c.send_busy && !s->c.poll_out && !s->resp_body.done);
		wait_on(&u->c, server_late, s->fe->backend->timeout_server_ms);
	}
out:
	s->c.active = 0;
	if (u != NULL)
		u->c.active = 0;
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

static void on_timeout(struct conn *c)
{
	struct session *s = (struct session *)c;

	if (idle(s) || s->rq == RQ_TUNNEL || s->lingering) {
		rlb_session_close(s); /* idle keep-alive or tunnel ended */
		return;
	}
	rlb_log("frontend %s client %s: timeout_client expired, answering 408", s->fe->name, s->peer_ip);
	if (s->c.w->upper->access_log != NULL && s->t_request_us == 0)
		log_begin(s, NULL); /* a head that never came whole: its line says 408 */
	reply_error(s, 408);
	/* A client this slow gets no lingering (nor does it under nginx): the
	 * 408 goes out and the slot is freed at once. */
	s->linger_wanted = 0;
	rlb_conn_discard_input(&s->c);
	rlb_session_pump(s);
}

static void on_io(struct conn *c)
{
	rlb_session_pump((struct session *)c);
}

/* SIGTERM: idle connections go now; busy ones close after their response.
 * A reload: idle ones too close after their next response (or at
 * timeout_client), so none races its next request against our close. */
static void on_drain(struct conn *c)
{
	if (idle((struct session *)c) && !atomic_load_explicit(&c->w->handing_over, memory_order_acquire))
		rlb_session_close((struct session *)c);
}

static void on_shutdown(struct conn *c)
{
	rlb_session_close((struct session *)c);
}

void rlb_session_close(struct session *s)
{
	if (s->c.closing)
		return;
	/* A transaction cut short: who ended it, as far as we can tell. */
	log_end(s, s->rs == RS_TUNNEL ? "-"
		 : s->resp_head_sent ? (s->up && s->up->c.eof ? "server_closed" : "closed_mid_response")
		 : s->c.eof ? "client_closed" : "closed");
	end_splices(s);
	if (s->up != NULL)
		rlb_upstream_abort(s);
	if (s->reset_on_close)
		rlb_conn_abort(&s->c);
	else
		rlb_conn_close(&s->c);
}

/* The client conn has nothing in flight. Its memory waits for an upstream
 * given up on whose send may still read s->req_out (s->held). */
static void session_free(struct session *s)
{
	struct worker *w = s->c.w;
	struct rlb_frontend_stats *fst;

	if (s->held != NULL)
		return;
	free(s->log_req);
	rlb_splice_close(w, &s->req_body.sp); /* (closed with the session already: this is the rule, once more) */
	rlb_splice_close(w, &s->resp_body.sp);
	if ((fst = frontend_stats(w, s->fe)) != NULL)
		rlb_counter_add(&fst->closed, 1);
	w->nclients--;
	w->nlingering -= s->lingering;
	rlb_conn_release(&s->c);
	rlb_buf_free(&s->req_in);
	rlb_buf_free(&s->req_out);
	rlb_buf_free(&s->resp_out);
	free(s->avoid);
	free(s);
	rlb_proxy_client_left(w);
	rlb_worker_client_gone(w);
}

static void destroy(struct conn *c)
{
	session_free((struct session *)c);
}

/* An upstream that held s (its send read s->req_out) is gone: s may be freed
 * now if it was only waiting for that, or go on. */
void rlb_session_upstream_gone(struct session *s)
{
	s->held = NULL;
	if (s->c.closing) {
		if (s->c.inflight == 0) /* destroy ran, and waited for us */
			session_free(s);
		return;
	}
	rlb_session_pump(s);
}

static const struct conn_ops client_conn_ops = {
	.name = "client",
	.on_io = on_io,
	.on_timeout = on_timeout,
	.on_drain = on_drain,
	.on_shutdown = on_shutdown,
	.destroy = destroy,
};
