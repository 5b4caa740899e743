/* One connection of the load generator: connect, send the request, read the
 * response, close; and the dispatcher every completion goes through
 * (types and lifetime rules in conn.h and client.h). */
#include "tools/load/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct io_uring_sqe *load_sqe(struct load_client *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

	while (!sqe) {
		io_uring_submit(&c->ring);
		sqe = io_uring_get_sqe(&c->ring);
	}
	return sqe;
}

static void list_move(struct rlb_list *head, struct load_conn *conn)
{
	rlb_list_del(&conn->link);
	rlb_list_add_tail(head, &conn->link);
}

static void arm_recv(struct load_client *c, struct load_conn *conn)
{
	struct io_uring_sqe *sqe = load_sqe(c);

	io_uring_prep_recv(sqe, conn->fd, conn->rbuf + conn->rlen, LOAD_RBUF_BYTES - conn->rlen, 0);
	io_uring_sqe_set_data64(sqe, conn_ud(conn, OP_RECV));
	conn->inflight++;
}

/* A plain send when one buffer is left: sendmsg costs the kernel a copy of
 * the msghdr per call, measurable at 100k requests/s. */
static void submit_send(struct load_client *c, struct load_conn *conn)
{
	struct io_uring_sqe *sqe = load_sqe(c);

	if (conn->msg.msg_iovlen == 1)
		io_uring_prep_send(sqe, conn->fd, conn->msg.msg_iov->iov_base, conn->msg.msg_iov->iov_len, MSG_NOSIGNAL);
	else
		io_uring_prep_sendmsg(sqe, conn->fd, &conn->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, conn_ud(conn, OP_SEND));
	conn->inflight++;
	conn->sending = 1;
}

static struct load_conn *conn_alloc(struct load_client *c, int fd)
{
	struct load_conn *conn = calloc(1, sizeof(*conn));

	if (!conn)
		return NULL;
	conn->rbuf = malloc(LOAD_RBUF_BYTES);
	conn->head = malloc(c->t->request->head_max_bytes);
	if (!conn->rbuf || !conn->head) {
		free(conn->rbuf);
		free(conn->head);
		free(conn);
		return NULL;
	}
	conn->fd = fd;
	rlb_list_init(&conn->link);
	rlb_list_add_tail(&c->all, &conn->all);
	return conn;
}

int conn_open(struct load_client *c)
{
	int one = 1, fd = socket(c->t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct load_conn *conn;
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* a head and a body are two writes */
	conn = conn_alloc(c, fd);
	if (!conn) {
		close(fd);
		return -ENOMEM;
	}
	sqe = load_sqe(c);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->t->addr, c->t->addr_len);
	io_uring_sqe_set_data64(sqe, conn_ud(conn, OP_CONNECT));
	conn->inflight++;
	conn->connect_pending = 1;
	conn->state = CONN_CONNECTING;
	conn->since_us = c->now_us;
	rlb_list_add_tail(&c->connecting, &conn->link);
	c->open++;
	c->n_connecting++;
	return 0;
}

static void make_idle(struct load_client *c, struct load_conn *conn)
{
	conn->state = CONN_IDLE;
	list_move(&c->idle, conn);
	c->n_idle++;
}

void conn_send(struct load_client *c, struct load_conn *conn, const struct load_req *q)
{
	const struct load_request *r = c->t->request;
	uint32_t key = c->t->keys ? load_keys_next(c->t->keys) : 0;

	c->n_idle--;
	conn->state = CONN_BUSY;
	list_move(&c->busy, conn);
	conn->req = *q;
	load_response_start(&conn->resp);
	conn->server_id = 0;
	conn->iov[0].iov_base = conn->head;
	conn->iov[0].iov_len = load_request_head(r, conn->head, key);
	conn->iov[1].iov_base = r->body;
	conn->iov[1].iov_len = r->body_bytes;
	memset(&conn->msg, 0, sizeof(conn->msg));
	conn->msg.msg_iov = conn->iov;
	conn->msg.msg_iovlen = r->body_bytes ? 2 : 1;
	submit_send(c, conn);
}

void conn_close(struct load_client *c, struct load_conn *conn)
{
	if (conn->state == CONN_CLOSED)
		return;
	if (conn->state == CONN_CONNECTING)
		c->n_connecting--;
	if (conn->state == CONN_IDLE)
		c->n_idle--;
	if (conn->connect_pending) { /* shutdown may not end a connect to a silent host */
		struct io_uring_sqe *sqe = load_sqe(c);

		io_uring_prep_cancel64(sqe, conn_ud(conn, OP_CONNECT), 0);
		io_uring_sqe_set_data64(sqe, conn_ud(conn, OP_CANCEL));
		conn->inflight++;
	}
	rlb_list_del(&conn->link);
	c->open--;
	/* The ring holds the socket: close() alone would leave the armed recv
	 * waiting forever; shutdown ends it (and a send) with a completion. */
	shutdown(conn->fd, SHUT_RDWR);
	close(conn->fd);
	conn->fd = -1;
	conn->state = CONN_CLOSED;
}

void conn_release_if_done(struct load_client *c, struct load_conn *conn)
{
	(void)c;
	if (conn->state != CONN_CLOSED || conn->inflight)
		return;
	rlb_list_del(&conn->all);
	free(conn->rbuf);
	free(conn->head);
	free(conn);
}

static void on_connect(struct load_client *c, struct load_conn *conn, int res)
{
	conn->connect_pending = 0;
	if (conn->state == CONN_CLOSED)
		return;
	if (res < 0) {
		client_connect_failed(c);
		conn_close(c, conn);
		return;
	}
	c->n_connecting--;
	arm_recv(c, conn);
	make_idle(c, conn);
}

/* The response is whole: record it, then keep the connection or close it. */
static void response_done(struct load_client *c, struct load_conn *conn)
{
	int leftover = conn->rlen > conn->roff; /* bytes nobody asked for: the framing is lost */

	client_answered(c, &conn->req, conn->resp.status, conn->server_id);
	if (!conn->resp.keep_alive || leftover)
		conn_close(c, conn);
	else if (conn->sending)
		conn->state = CONN_ANSWERED;
	else
		make_idle(c, conn);
	conn->roff = conn->rlen = 0;
}

static void fail_request(struct load_client *c, struct load_conn *conn, enum load_err kind)
{
	client_fail(c, &conn->req, kind);
	conn_close(c, conn);
}

static unsigned server_of(struct load_client *c)
{
	const struct rlb_http_msg *m = &c->msg;

	for (size_t i = 0; c->t->server_header && i < m->num_headers; i++)
		if (rlb_http_token_eq(m->headers[i].name, m->headers[i].name_len, c->t->server_header))
			return load_server_id(c->rec, m->headers[i].value, m->headers[i].value_len);
	return 0;
}

/* Feeds the unread bytes to the response reader; 0 or -EBADMSG. */
static int feed(struct load_client *c, struct load_conn *conn)
{
	struct load_response *r = &conn->resp;

	while (conn->roff < conn->rlen && r->state != LOAD_RESP_DONE) {
		ssize_t n = load_response_feed(r, &c->msg, conn->rbuf + conn->roff, conn->rlen - conn->roff,
					       LOAD_RBUF_BYTES, c->t->request->head_request);

		if (n < 0)
			return -EBADMSG;
		if (r->head_parsed) {
			r->head_parsed = 0;
			conn->server_id = server_of(c);
		}
		conn->roff += (uint32_t)n;
		if (n == 0)
			break;
	}
	return 0;
}

static void read_response(struct load_client *c, struct load_conn *conn)
{
	if (feed(c, conn) < 0) {
		fail_request(c, conn, LOAD_ERR_BAD_RESPONSE);
		return;
	}
	if (conn->resp.state == LOAD_RESP_DONE) {
		response_done(c, conn);
		return;
	}
	if (conn->roff == conn->rlen) {
		conn->roff = conn->rlen = 0;
	} else if (conn->roff > 0) { /* an incomplete head: keep it at the start */
		memmove(conn->rbuf, conn->rbuf + conn->roff, conn->rlen - conn->roff);
		conn->rlen -= conn->roff;
		conn->roff = 0;
	} else if (conn->rlen == LOAD_RBUF_BYTES) {
		fail_request(c, conn, LOAD_ERR_BAD_RESPONSE); /* a head longer than the buffer */
	}
}

/* The server closed (res 0) or reset: the end of a read-until-close body,
 * a request cut short, or an idle keep-alive connection let go. */
static void on_peer_gone(struct load_client *c, struct load_conn *conn, int res)
{
	if (conn->state != CONN_BUSY) {
		conn_close(c, conn);
		return;
	}
	if (res == 0 && load_response_eof(&conn->resp) == 0) {
		response_done(c, conn); /* closes: keep_alive is 0 */
		return;
	}
	fail_request(c, conn, LOAD_ERR_CLOSED);
}

static void on_recv(struct load_client *c, struct load_conn *conn, int res)
{
	if (conn->state == CONN_CLOSED)
		return;
	if (res <= 0) {
		on_peer_gone(c, conn, res);
		return;
	}
	conn->rlen += (uint32_t)res;
	if (conn->state != CONN_BUSY) { /* bytes nobody asked for */
		conn_close(c, conn);
		return;
	}
	read_response(c, conn);
	if (conn->state != CONN_CLOSED)
		arm_recv(c, conn);
}

/* Moves the iovecs past n sent bytes. */
static void iov_advance(struct msghdr *msg, size_t n)
{
	while (n && msg->msg_iovlen) {
		struct iovec *v = msg->msg_iov;
		size_t take = n < v->iov_len ? n : v->iov_len;

		v->iov_base = (char *)v->iov_base + take;
		v->iov_len -= take;
		n -= take;
		if (v->iov_len == 0) {
			msg->msg_iov++;
			msg->msg_iovlen--;
		}
	}
}

static void on_send(struct load_client *c, struct load_conn *conn, int res)
{
	conn->sending = 0;
	if (conn->state == CONN_CLOSED)
		return;
	if (res < 0 && conn->state == CONN_ANSWERED) {
		conn_close(c, conn); /* the answer is recorded; the connection is spoilt */
		return;
	}
	if (res < 0) {
		fail_request(c, conn, LOAD_ERR_CLOSED);
		return;
	}
	iov_advance(&conn->msg, (size_t)res);
	if (conn->msg.msg_iovlen)
		submit_send(c, conn);
	else if (conn->state == CONN_ANSWERED)
		make_idle(c, conn);
}

static void on_cancel(struct load_client *c, struct load_conn *conn, int res)
{
	(void)c, (void)conn, (void)res;
}

static void (*const handlers[OP_KINDS])(struct load_client *, struct load_conn *, int) = {
	[OP_CONNECT] = on_connect,
	[OP_SEND] = on_send,
	[OP_RECV] = on_recv,
	[OP_CANCEL] = on_cancel,
};

void conn_on_cqe(struct load_client *c, struct io_uring_cqe *cqe)
{
	struct load_conn *conn = (struct load_conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
	unsigned op = (unsigned)(cqe->user_data & OP_MASK);

	conn->inflight--;
	handlers[op](c, conn, cqe->res);
	conn_release_if_done(c, conn);
}
