/* Transfers by splice(2): socket -> pipe -> socket, the pages moving by
 * reference, so the proxy touches no byte of a large body (HAProxy's splice,
 * nginx's sendfile for files). The loop drives them with readiness polls
 * and non-blocking splice(2) calls (HAProxy's model), not io_uring's
 * IORING_OP_SPLICE: the kernel runs every one of those in its io-wq thread
 * pool, and measured here that cost as much CPU as copying did.
 *
 * A pipe is filled only when empty: then an EAGAIN from the filling splice
 * can only mean the socket has nothing, never that the pipe is full (a
 * pipe's room is in pages, not bytes). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"

#define SPLICE_ASK (1u << 20) /* what one filling splice asks for: the pipe bounds it */

int rlb_splice_probe(char *err, size_t errlen)
{
	int p[2];

	/* (Out of descriptors for the moment says nothing of support.) */
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
		close(p[0]);
		close(p[1]);
	} else if (errno != EMFILE && errno != ENFILE) {
		int e = errno;

		snprintf(err, errlen, "pipe2: %s", strerror(e));
		return -e;
	}
	/* A bad descriptor: EBADF where the call exists, ENOSYS or EPERM
	 * where a kernel or a seccomp filter lacks it. */
	if (splice(-1, NULL, -1, NULL, 1, SPLICE_F_NONBLOCK) < 0 && errno != EBADF) {
		int e = errno;

		snprintf(err, errlen, "splice(2): %s", strerror(e));
		return -e;
	}
	return 0;
}

/* No pipe for a large body: it is copied. Said once per episode. */
static int pipes_short(struct worker *w, int err)
{
	if (!w->pipes_short_logged)
		rlb_warn("%s: no pipe for a large body (%s): such bodies are copied until pipes are free", w->name,
			 err == -ENOBUFS ? "all in use" : strerror(-err));
	w->pipes_short_logged = 1;
	return err;
}

int rlb_splice_open(struct worker *w, struct rlb_splice *sp)
{
	int p[2];

	sp->in_pipe = 0;
	sp->tried = 1;
	if (w->nspare_pipes > 0) {
		sp->pipe = w->spare_pipes[--w->nspare_pipes];
	} else {
		if (w->npipes >= w->max_pipes)
			return pipes_short(w, -ENOBUFS);
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return pipes_short(w, -errno);
		w->npipes++;
		w->pipes_short_logged = 0;
		sp->pipe = (struct rlb_pipe){ p[0], p[1] };
	}
	sp->on = 1;
	return 0;
}

void rlb_splice_close(struct worker *w, struct rlb_splice *sp)
{
	if (!sp->on)
		return;
	if (sp->in_pipe == 0 && w->nspare_pipes < RLB_SPARE_PIPES) {
		w->spare_pipes[w->nspare_pipes++] = sp->pipe;
	} else {
		close(sp->pipe.rd);
		close(sp->pipe.wr);
		w->npipes--;
	}
	sp->on = 0;
	sp->in_pipe = 0;
}

int rlb_conn_has_more(struct conn *c)
{
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* splice(2) on a socket blocks unless the socket itself is non-blocking
 * (SPLICE_F_NONBLOCK is about the pipe). io_uring's recv and send ignore
 * the flag, so it stays set for the socket's life. */
static int set_nonblock(struct conn *c)
{
	if (c->nonblock)
		return 0;
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	c->nonblock = 1;
	return 0;
}

static void poll_arm(struct conn *c, unsigned events)
{
	struct io_uring_sqe *sqe = rlb_sqe(c->w);

	io_uring_prep_poll_add(sqe, c->fd, events);
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_POLL));
	c->poll_armed = 1;
	c->poll_out = (events & POLLOUT) != 0;
	c->inflight++;
}

/* A transfer ended early: its poll is of no use any more. */
static void poll_cancel(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->poll_armed || c->closing)
		return;
	sqe = rlb_sqe(c->w);
	io_uring_prep_poll_remove(sqe, rlb_ud(c, OP_POLL));
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_CANCEL));
	c->inflight++;
}

void rlb_splice_begin(struct conn *src, struct conn *dst)
{
	assert(!src->splice_src && !src->splice_dst && !dst->splice_src && !dst->splice_dst);
	dst->splice_dst = 1;
	rlb_conn_recv_stop(src);
}

void rlb_splice_end(struct conn *src, struct conn *dst)
{
	if (dst != NULL) {
		dst->splice_dst = 0;
		poll_cancel(dst);
	}
	if (src != NULL) {
		src->splice_src = 0;
		src->bulk = 0; /* (else the next head's recv would take a whole buffer of what may be spliced) */
		poll_cancel(src);
		rlb_conn_flow_control(src);
	}
}

/* The source failed: as a failed recv would have it. */
static void src_failed(struct conn *c, int err)
{
	if (c->err == 0)
		c->err = err;
	c->eof = 1;
	c->recv_failed = 1;
}

/* Drains the pipe into dst: 1 when it is empty, 0 when dst would block
 * (a poll is armed) or failed (dst->err). splice(2) has no MSG_NOSIGNAL:
 * a peer gone raises SIGPIPE, which main() ignores for the process. */
static int drain(struct rlb_splice *sp, struct conn *dst, size_t *moved)
{
	while (sp->in_pipe > 0) {
		ssize_t n = splice(sp->pipe.rd, NULL, dst->fd, NULL, sp->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n < 0) {
			if (errno == EAGAIN)
				poll_arm(dst, POLLOUT);
			else if (dst->err == 0)
				dst->err = -errno;
			return 0;
		}
		sp->in_pipe -= (uint32_t)n;
		*moved += (size_t)n;
		dst->active = 1;
	}
	return 1;
}

size_t rlb_splice_move(struct rlb_splice *sp, struct conn *src, struct conn *dst, uint64_t *left)
{
	size_t moved = 0;
	int rounds, rc;

	if (src->poll_armed || dst->poll_armed || src->eof || dst->err)
		return 0;
	if ((rc = set_nonblock(src)) < 0) {
		src_failed(src, rc);
		return 0;
	}
	if ((rc = set_nonblock(dst)) < 0) {
		dst->err = rc;
		return 0;
	}
	for (rounds = 0; rounds < RLB_SPLICE_ROUNDS; rounds++) {
		ssize_t n;

		if (!drain(sp, dst, &moved) || *left == 0)
			return moved;
		n = splice(src->fd, NULL, sp->pipe.wr, NULL, *left < SPLICE_ASK ? (size_t)*left : SPLICE_ASK,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n <= 0) {
			if (n == 0)
				src->eof = 1;
			else if (errno == EAGAIN)
				poll_arm(src, POLLIN);
			else
				src_failed(src, -errno);
			return moved;
		}
		sp->in_pipe = (uint32_t)n;
		*left -= (uint64_t)n;
		src->active = 1;
	}
	/* Yield with the pipe full: a poll on a ready socket completes in the
	 * next turn, after the other conns' completions. */
	poll_arm(dst, POLLOUT);
	return moved;
}
