/* A client connection: reading requests, queueing their answers in order,
 * sending the due ones, closing (testserver.h has the lifetime rules). */
#include "tools/testserver/testserver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/common/tool_cli.h"

#define IN_START_BYTES 4096
/* The reader refuses a head past READER_MAX_HEAD_BYTES, and it can only
 * tell once it holds one byte more: the buffer never needs to be larger. */
#define IN_MAX_BYTES (2 * READER_MAX_HEAD_BYTES)
/* Answers queued (due or waiting) per client: past it, its requests stay
 * unread until some go out, so a client that pipelines without reading
 * cannot make the server queue without bound. */
#define QUEUED_MAX 1024
#define READY_START 8

static uint32_t queued(const struct client *c)
{
	return c->pending + c->ready_count;
}

void client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	rlb_list_del(&c->link);
	free(c->in);
	free(c->ready);
	free(c);
}

/* Frees c once nothing can reach it any more: no I/O in flight, no answer in
 * the heap, not on the dirty list. The fd goes as soon as no I/O uses it. */
static void maybe_free(struct client *c)
{
	if (!c->closing || c->io_inflight)
		return;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (!c->pending && !c->dirty)
		client_free(c);
}

/* With I/O in flight, shutdown makes it complete now (a recv gets 0, a send
 * fails); the fd is closed when the last of it is in. */
void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->io_inflight)
		shutdown(c->fd, SHUT_RDWR);
	maybe_free(c);
}

static int grow_in(struct client *c)
{
	uint32_t cap = c->in_cap * 2;
	char *in;

	if (c->in_cap >= IN_MAX_BYTES)
		return -ENOBUFS;
	in = realloc(c->in, cap);
	if (!in)
		return -ENOMEM;
	c->in = in;
	c->in_cap = cap;
	return 0;
}

static void arm_recv(struct client *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->closing || c->done_reading || c->read_eof || queued(c) >= QUEUED_MAX)
		return;
	if (c->in_len == c->in_cap && grow_in(c) < 0) {
		client_close(c);
		return;
	}
	sqe = server_sqe(c->srv, c, OP_RECV);
	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	c->recv_armed = 1;
	c->io_inflight++;
}

/* Answers leave in order: one is never due before the one queued before it.
 * Returns 0 or -ENOMEM. */
static int queue_answer(struct client *c, struct answer a, uint64_t due_us)
{
	if (due_us < c->last_due_us)
		due_us = c->last_due_us;
	if (due_heap_push(&c->srv->due, due_us, c, a) < 0)
		return -ENOMEM;
	c->last_due_us = due_us;
	c->pending++;
	return 0;
}

static int on_request(struct client *c, enum reader_event ev, uint64_t now_us)
{
	const struct request_info *req = &c->reader.req;
	uint64_t due_us = 0;
	struct answer a;

	switch (ev) {
	case READER_HEAD: /* a body is coming: let a client that waits for it know */
		if (!req->expect_continue)
			return 0;
		return queue_answer(c, (struct answer){ ANSWER_CONTINUE, CONN_KEEP, 0 }, now_us);
	case READER_DONE:
		a = behaviour_answer(&c->srv->behaviour, req, now_us, &due_us);
		c->done_reading = answer_closes(a);
		return queue_answer(c, a, due_us);
	default: /* READER_BAD */
		c->done_reading = 1;
		return queue_answer(c, behaviour_refusal(req), now_us);
	}
}

/* Reads every complete request in the buffer (each answer's latency counts
 * from now, when it was read), keeps what is left for the next recv.
 * Returns 0 or -ENOMEM; never closes c (the caller does, as its last step). */
static int read_requests(struct client *c)
{
	uint64_t now_us = tool_now_us();
	size_t off = 0;
	int ret = 0;

	while (!ret && !c->done_reading && queued(c) < QUEUED_MAX) {
		size_t used;
		enum reader_event ev = http_reader_feed(&c->reader, c->in + off, c->in_len - off, &used);

		off += used;
		if (ev == READER_MORE)
			break;
		ret = on_request(c, ev, now_us);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= (uint32_t)off;
	return ret;
}

/* After any event: read what can be read, then close if nothing more will
 * be read and nothing is left to answer. May free c. */
static void settle(struct client *c)
{
	if (read_requests(c) < 0) {
		client_close(c);
		return;
	}
	if ((c->read_eof || c->done_reading) && !queued(c) && !c->send_armed) {
		client_close(c);
		return;
	}
	arm_recv(c);
}

void client_accept(struct server *s, int fd)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c || !(c->in = malloc(IN_START_BYTES))) {
		free(c);
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->in_cap = IN_START_BYTES;
	rlb_list_add_tail(&s->clients, &c->link);
	settle(c);
}

/* One of c's recv or send completions is in. Returns 1 when c is closing:
 * nothing is left to do but free it, done here if that was the last. */
static int io_completed(struct client *c)
{
	c->io_inflight--;
	if (!c->closing)
		return 0;
	maybe_free(c);
	return 1;
}

void client_on_recv(struct client *c, int res)
{
	c->recv_armed = 0;
	if (io_completed(c))
		return;
	if (res < 0) { /* a reset: no one left to answer */
		client_close(c);
		return;
	}
	if (res == 0)
		c->read_eof = 1;
	c->in_len += (uint32_t)res;
	settle(c);
}

static struct answer ready_at(const struct client *c, uint32_t i)
{
	return c->ready[(c->ready_head + i) & (c->ready_cap - 1)];
}

/* Doubles the ring, unwrapping it to start at 0. */
static int grow_ready(struct client *c)
{
	uint32_t cap = c->ready_cap ? c->ready_cap * 2 : READY_START;
	struct answer *r = malloc(cap * sizeof(*r));

	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->ready_count; i++)
		r[i] = ready_at(c, i);
	free(c->ready);
	c->ready = r;
	c->ready_cap = cap;
	c->ready_head = 0;
	return 0;
}

static void mark_dirty(struct client *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->dirty_next = c->srv->dirty;
	c->srv->dirty = c;
}

void client_deliver(struct client *c, struct answer a)
{
	c->pending--;
	if (c->closing) {
		maybe_free(c);
		return;
	}
	if (c->ready_count == c->ready_cap && grow_ready(c) < 0) {
		client_close(c);
		return;
	}
	c->ready[(c->ready_head + c->ready_count++) & (c->ready_cap - 1)] = a;
	mark_dirty(c);
}

/* One sendmsg for as many ready answers as the iovecs hold; none after one
 * that closes the connection. */
static void post_send(struct client *c)
{
	const struct answers *t = &c->srv->answers;
	struct io_uring_sqe *sqe;
	size_t skip = c->ready_sent_bytes;
	int n = 0;

	for (uint32_t i = 0; i < c->ready_count && n + 2 <= CLIENT_SEND_IOV; i++) {
		struct answer a = ready_at(c, i);

		n += answer_iov(t, a, skip, c->iov + n);
		skip = 0;
		if (answer_closes(a))
			break;
	}
	c->msg = (struct msghdr){ .msg_iov = c->iov, .msg_iovlen = (size_t)n };
	sqe = server_sqe(c->srv, c, OP_SEND);
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	c->send_armed = 1;
	c->io_inflight++;
}

void client_flush(struct client *c)
{
	if (c->closing) {
		maybe_free(c);
		return;
	}
	if (!c->send_armed && c->ready_count)
		post_send(c);
}

/* Drops the answers sent_bytes completed. Returns 1 when one of them closes
 * the connection. */
static int consume_sent(struct client *c, size_t sent_bytes)
{
	const struct answers *t = &c->srv->answers;

	while (c->ready_count) {
		struct answer a = ready_at(c, 0);
		size_t left = answer_len(t, a) - c->ready_sent_bytes;

		if (sent_bytes < left) {
			c->ready_sent_bytes += sent_bytes;
			return 0;
		}
		sent_bytes -= left;
		c->ready_sent_bytes = 0;
		c->ready_head = (c->ready_head + 1) & (c->ready_cap - 1);
		c->ready_count--;
		if (answer_closes(a))
			return 1;
	}
	return 0;
}

void client_on_send(struct client *c, int res)
{
	c->send_armed = 0;
	if (io_completed(c))
		return;
	if (res <= 0 || consume_sent(c, (size_t)res)) {
		client_close(c); /* a failed send, or the answer that said close */
		return;
	}
	if (c->ready_count)
		post_send(c);
	settle(c); /* fewer queued: reading may resume */
}
