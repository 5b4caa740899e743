/* One socket's plumbing: multishot recv into provided buffers, the inbound
 * queue, flow control, head reading, gathering body bytes into a peer's
 * sendmsg, and teardown. What the bytes mean is the kind's (c->ops). */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/loop.h"

static void timer_fired(struct rlb_timer *t)
{
	struct conn *c = rlb_container_of(t, struct conn, timer);

	c->ops->on_timeout(c);
}

void rlb_conn_init(struct conn *c, struct worker *w, int fd, const struct conn_ops *ops)
{
	c->fd = fd;
	c->ops = ops;
	c->w = w;
	c->msg.msg_iov = c->iov;
	w->nconns++;
	rlb_list_add_tail(&w->conns, &c->link);
	rlb_timer_init(&c->timer, timer_fired);
	rlb_list_init(&c->starved_link);
	rlb_list_init(&c->pinned_link);
}

int rlb_conn_socket(int family)
{
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void rlb_conn_connect(struct conn *c, const struct sockaddr *addr, socklen_t len)
{
	struct io_uring_sqe *sqe = rlb_sqe(c->w);

	io_uring_prep_connect(sqe, c->fd, addr, len);
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_CONNECT));
	c->connecting = 1;
	c->inflight++;
}

void rlb_conn_arm_timer(struct conn *c, uint32_t timeout_ms)
{
	rlb_timer_arm(&c->w->timers, &c->timer, timeout_ms);
}

void rlb_conn_arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->closing || c->eof || !c->readable || c->splice_src)
		return;
	sqe = rlb_sqe(c->w);
	c->recv_capped = !c->oneshot && !c->w->mshot_len_refused;
	if (c->oneshot)
		io_uring_prep_recv(sqe, c->fd, NULL, c->bulk ? 0 : RLB_RECV_MSG, 0);
	else
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, c->recv_capped ? RLB_RECV_MSG : 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_RECV));
	c->recv_armed = 1;
	c->inflight++;
}

static int inq_push(struct conn *c, char *data, uint32_t len, uint16_t bid)
{
	struct inq *q = &c->in;

	if (q->head + q->cnt == q->cap) {
		if (q->head > 0) {
			memmove(q->b, q->b + q->head, q->cnt * sizeof(*q->b));
			q->head = 0;
		} else {
			uint32_t cap = q->cap ? q->cap * 2 : 8;
			struct inbuf *b = realloc(q->b, cap * sizeof(*b));

			if (b == NULL)
				return -ENOMEM;
			q->b = b;
			q->cap = cap;
		}
	}
	q->b[q->head + q->cnt++] = (struct inbuf){ .data = data, .len = len, .bid = bid };
	return 0;
}

static struct inbuf *inq_front(struct conn *c)
{
	return c->in.cnt ? &c->in.b[c->in.head] : NULL;
}

/* Frees an inbuf's memory: back to the ring, or to the heap. */
static void inbuf_drop(struct conn *c, struct inbuf *f)
{
	if (f->bid == RLB_HEAP_BID) {
		free(f->data);
		return;
	}
	rlb_buf_give_back(c->w, f->bid);
	if (--c->npinned == 0)
		rlb_list_del(&c->pinned_link);
}

static void inq_pop(struct conn *c)
{
	inbuf_drop(c, &c->in.b[c->in.head]);
	c->in.head++;
	if (--c->in.cnt == 0)
		c->in.head = 0;
}

/* Cancels c's armed recv (a multishot, or a single one for splice_src);
 * single recvs from now on (flow control re-arms one once the queue allows). */
static void recv_cancel(struct conn *c)
{
	struct io_uring_sqe *sqe = rlb_sqe(c->w);

	io_uring_prep_cancel64(sqe, rlb_ud(c, OP_RECV), 0);
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_CANCEL));
	c->inflight++;
	c->recv_paused = 1;
	c->oneshot = 1;
}

/* Flow control: a peer that sends faster than the other side takes gets its
 * multishot recv cancelled, and is re-armed once the queue has drained.
 * A multishot recv reads all the socket holds on each wakeup (up to the
 * receive buffer, megabytes once autotuned), so a connection that needed
 * pausing once goes on with one-buffer recvs, kept RLB_INQ_PAUSE deep:
 * what a stalled connection holds stays bounded. */
void rlb_conn_flow_control(struct conn *c)
{
	if (c->closing)
		return;
	if (c->in.cnt >= RLB_INQ_PAUSE && c->recv_armed && !c->recv_paused && !c->oneshot) {
		recv_cancel(c);
	} else if (c->in.cnt <= (c->oneshot ? RLB_INQ_PAUSE - 1 : RLB_INQ_RESUME) && !c->recv_armed &&
		   !c->starved) {
		c->recv_paused = 0;
		rlb_conn_arm_recv(c);
	}
}

/* A large body is coming: the multishot's small recvs would cost a
 * wake-up per RLB_RECV_MSG bytes, and its bursts grow with the buffers. */
void rlb_conn_bulk(struct conn *c)
{
	c->bulk = 1;
	if (c->oneshot || c->closing)
		return;
	if (c->recv_armed && !c->recv_paused)
		recv_cancel(c);
	else
		c->oneshot = 1;
}

void rlb_conn_recv_stop(struct conn *c)
{
	c->splice_src = 1;
	if (c->recv_armed && !c->recv_paused && !c->closing)
		recv_cancel(c);
}

void rlb_conn_on_recv(struct conn *c, int res, unsigned flags)
{
	struct worker *w = c->w;

	if (!(flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (res > 0) {
		uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);

		c->active = 1;
		w->bufs_free--;
		if (inq_push(c, w->bufmem + (size_t)bid * RLB_BUF_SIZE, (uint32_t)res, bid) < 0) {
			rlb_buf_give_back(w, bid);
			c->err = -ENOMEM;
			c->eof = 1;
		} else if (c->npinned++ == 0) {
			rlb_list_add_tail(&w->pinned, &c->pinned_link);
		}
	} else if (res == 0) {
		c->eof = 1;
		c->active = 1;
	} else if (res == -ENOBUFS) {
		/* The ring ran dry: wait for a buffer to come back, never spin.
		 * A closing conn waits for nothing: on the list, it would be
		 * touched by feed_starved() after it is freed. */
		if (!c->starved && !c->closing) {
			c->starved = 1;
			rlb_list_add_tail(&w->starved, &c->starved_link);
		}
	} else if (res == -EINVAL && c->recv_capped) {
		/* Kernels before 6.17 refuse a length on a multishot recv:
		 * uncapped from now on (bursts are then bounded only by the
		 * kernel's 32 retries per wake-up). Every conn whose capped
		 * recv was already posted gets here too, not only the first. */
		c->w->mshot_len_refused = 1;
		rlb_conn_arm_recv(c);
	} else if (res != -ECANCELED) {
		if (c->err == 0)
			c->err = res;
		c->eof = 1;
		c->recv_failed = 1;
	}
}

/* Parses in place when the whole head sits in the front buffer (the common
 * case); otherwise copies buffers into c->acc until the head is complete. */
ssize_t rlb_conn_read_head(struct conn *c, rlb_head_parser parse, void *arg)
{
	struct inbuf *f;
	ssize_t n;

	if (c->acc.len == 0 && (f = inq_front(c)) != NULL) {
		n = parse(f->data + f->off, f->len - f->off, 0, arg);
		if (n != -EAGAIN) {
			if (n > 0)
				c->head_from_front = (uint32_t)n;
			return n;
		}
	}
	while ((f = inq_front(c)) != NULL) {
		uint32_t k = f->len - f->off, before = c->acc.len;

		if (rlb_buf_append(&c->acc, f->data + f->off, k) < 0)
			return -ENOMEM;
		n = parse(c->acc.data, c->acc.len, c->acc_scanned, arg);
		c->acc_scanned = c->acc.len;
		if (n == -EAGAIN) {
			inq_pop(c);
			continue;
		}
		if (n > 0) /* the bytes past the head stay in the buffer for the body */
			c->head_from_front = (uint32_t)((size_t)n - before);
		return n;
	}
	return -EAGAIN;
}

/* Drops the head just parsed by rlb_conn_read_head(). Call once the parse
 * results (which may point into the buffer) are no longer needed. */
void rlb_conn_head_consumed(struct conn *c)
{
	struct inbuf *f = inq_front(c);

	if (f != NULL && c->head_from_front) {
		f->off += c->head_from_front;
		if (f->off == f->len)
			inq_pop(c);
	}
	c->head_from_front = 0;
	c->acc.len = 0;
	c->acc_scanned = 0;
}

void rlb_conn_send_add(struct conn *dst, const void *data, size_t len)
{
	dst->iov[dst->msg.msg_iovlen].iov_base = (void *)data;
	dst->iov[dst->msg.msg_iovlen].iov_len = len;
	dst->msg.msg_iovlen++;
}

/* Appends message bytes from src's queue to dst's pending send (up to
 * RLB_SEND_MAX), as many as take() says belong to the message, copying them
 * into dst's own send buffer: the ring buffers they came from go back at
 * once, so a destination that stops reading pins none. Called only with no
 * send in flight on dst. Returns the bytes taken; sets *err on bad framing
 * (or -ENOMEM). */
size_t rlb_conn_gather(struct conn *src, struct conn *dst, rlb_take_fn take, void *arg, int *err)
{
	struct rlb_buf *out = &dst->out;
	struct inbuf *f;
	size_t want = 0, total = 0;
	uint32_t i;

	if (src->in.cnt == 0 || out->len != 0 || dst->msg.msg_iovlen >= RLB_SEND_IOV)
		return 0;
	for (i = 0; i < src->in.cnt && want < RLB_SEND_MAX; i++)
		want += src->in.b[src->in.head + i].len - src->in.b[src->in.head + i].off;
	if (want > RLB_SEND_MAX)
		want = RLB_SEND_MAX;
	if (out->cap == 0) {
		if ((out->data = rlb_send_buf_get(dst->w)) == NULL) {
			*err = -ENOMEM;
			return 0;
		}
		out->cap = RLB_SEND_MAX;
	}
	while (*err == 0 && total < want && (f = inq_front(src))) {
		size_t avail = f->len - f->off, n;

		if (avail > want - total)
			avail = want - total;
		n = take(arg, f->data + f->off, avail, err);
		memcpy(out->data + total, f->data + f->off, n);
		f->off += (uint32_t)n;
		total += n;
		if (f->off == f->len)
			inq_pop(src);
		if (n < avail)
			break;
	}
	out->len = (uint32_t)total;
	if (total > 0)
		rlb_conn_send_add(dst, out->data, total);
	return total;
}

void rlb_conn_send_submit(struct conn *dst)
{
	struct io_uring_sqe *sqe;

	if (dst->msg.msg_iovlen == 0)
		return;
	sqe = rlb_sqe(dst->w);
	io_uring_prep_sendmsg(sqe, dst->fd, &dst->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, rlb_ud(dst, OP_SEND));
	dst->send_busy = 1;
	dst->inflight++;
}

static void send_reset(struct conn *c)
{
	c->out.len = 0;
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = 0;
	c->send_busy = 0;
}

/* Completes a send. Returns 1 when the whole send is done, 0 when a short send
 * was resubmitted for the rest, or a negative errno (the send is dropped). */
int rlb_conn_on_send(struct conn *c, int res)
{
	struct msghdr *m = &c->msg;
	size_t left = res > 0 ? (size_t)res : 0;

	if (res < 0) {
		send_reset(c);
		if (c->err == 0)
			c->err = res;
		return res;
	}
	c->active = 1;
	while (m->msg_iovlen > 0 && left >= m->msg_iov[0].iov_len) {
		left -= m->msg_iov[0].iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
	if (m->msg_iovlen == 0) {
		send_reset(c);
		return 1;
	}
	m->msg_iov[0].iov_base = (char *)m->msg_iov[0].iov_base + left;
	m->msg_iov[0].iov_len -= left;
	c->send_busy = 0;
	rlb_conn_send_submit(c);
	return 0;
}

/* Moves the queued bytes that sit in ring buffers to the heap and gives the
 * buffers back. Only between events: nothing points into the queue then. On
 * allocation failure the buffer simply stays pinned. */
void rlb_conn_unpin(struct conn *c)
{
	uint32_t i;

	for (i = 0; i < c->in.cnt; i++) {
		struct inbuf *f = &c->in.b[c->in.head + i];
		uint32_t n = f->len - f->off;
		char *copy;

		if (f->bid == RLB_HEAP_BID || (copy = malloc(n ? n : 1)) == NULL)
			continue;
		memcpy(copy, f->data + f->off, n);
		inbuf_drop(c, f);
		*f = (struct inbuf){ .data = copy, .len = n, .off = 0, .bid = RLB_HEAP_BID };
	}
	/* Off the list even if a copy failed (that buffer stays pinned until
	 * used), so the caller's loop ends. */
	rlb_list_del(&c->pinned_link);
}

/* Hands c's send buffer back to the worker's spares. */
static void send_buf_release(struct conn *c)
{
	if (c->out.cap == 0)
		return;
	rlb_send_buf_put(c->w, c->out.data);
	c->out = (struct rlb_buf){ 0 };
}

/* A transaction ended: the send buffer goes back to the worker, and an
 * empty queue's array and head accumulator to the allocator, so an idle
 * keep-alive or pooled connection holds nothing but its struct (kept while
 * a body streams). The next head is read by small recvs again. */
void rlb_conn_trim(struct conn *c)
{
	c->bulk = 0;
	if (!c->send_busy)
		send_buf_release(c);
	if (c->in.cnt == 0) {
		free(c->in.b);
		c->in = (struct inq){ 0 };
	}
	if (c->acc.len == 0)
		rlb_buf_free(&c->acc);
}

size_t rlb_conn_take(struct conn *c, void *dst, size_t max)
{
	struct inbuf *f;
	size_t total = 0;

	while (total < max && (f = inq_front(c)) != NULL) {
		size_t n = f->len - f->off;

		if (n > max - total)
			n = max - total;
		memcpy((char *)dst + total, f->data + f->off, n);
		f->off += (uint32_t)n;
		total += n;
		if (f->off == f->len)
			inq_pop(c);
	}
	return total;
}

size_t rlb_conn_queued(const struct conn *c)
{
	size_t n = 0;

	for (uint32_t i = 0; i < c->in.cnt; i++)
		n += c->in.b[c->in.head + i].len - c->in.b[c->in.head + i].off;
	return n;
}

/* Drops everything received and not yet used (lingering close). */
void rlb_conn_discard_input(struct conn *c)
{
	while (c->in.cnt)
		inq_pop(c);
	c->acc.len = 0;
	c->acc_scanned = 0;
	c->head_from_front = 0;
}

/* A counted completion for c: the cancel of its operation op (found by
 * user_data, so by a hash lookup), or with op OP_CANCEL a no-op. */
static void close_step(struct conn *c, enum rlb_op op)
{
	struct io_uring_sqe *sqe = rlb_sqe(c->w);

	if (op == OP_CANCEL)
		io_uring_prep_nop(sqe);
	else
		io_uring_prep_cancel64(sqe, rlb_ud(c, op), 0);
	io_uring_sqe_set_data64(sqe, rlb_ud(c, OP_CANCEL));
	c->inflight++;
}

/* Starts teardown: cancels each operation in flight on the socket, by its
 * user_data. (A cancel by fd walks every armed request of the ring: with
 * 1000 connections that walk was 40% of the CPU of a load with a
 * connection per request.) Cancels and shutdowns of our own complete
 * without help. The conn is destroyed by the dispatcher once the last
 * completion is in; there is always one (a no-op when nothing else is in
 * flight), so destruction never happens inside a caller. */
void rlb_conn_close(struct conn *c)
{
	int n = 0;

	if (c->closing)
		return;
	c->closing = 1;
	rlb_timer_cancel(&c->timer);
	if (c->starved) {
		rlb_list_del(&c->starved_link);
		c->starved = 0;
	}
	if (c->recv_armed && ++n)
		close_step(c, OP_RECV);
	if (c->send_busy && ++n)
		close_step(c, OP_SEND);
	if (c->connecting && ++n)
		close_step(c, OP_CONNECT);
	if (c->poll_armed && ++n)
		close_step(c, OP_POLL);
	if (n == 0)
		close_step(c, OP_CANCEL);
}

/* Closes with a reset instead of a FIN (SO_LINGER 0): the peer must be able
 * to tell that what it got is cut short, when the close itself would
 * otherwise mark the end of a message. */
void rlb_conn_abort(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->closing)
		return;
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	rlb_conn_close(c);
}

/* Frees what the conn holds, once nothing is in flight, and closes the fd.
 * Takes it off every worker list first: nothing may find it afterwards. */
void rlb_conn_release(struct conn *c)
{
	struct io_uring_sqe *sqe = rlb_sqe(c->w);

	assert(c->closing && c->inflight == 0);
	/* Nothing is in flight, so every operation's bit must be clear: the
	 * bits are what rlb_conn_close cancels by, and one that outlives its
	 * operation means that bookkeeping has slipped. */
	assert(!c->recv_armed && !c->send_busy && !c->connecting && !c->poll_armed);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, rlb_ud(NULL, OP_IGNORE));
	rlb_timer_cancel(&c->timer);
	rlb_list_del(&c->link);
	rlb_list_del(&c->starved_link);
	c->starved = 0;
	rlb_conn_discard_input(c); /* unlinks pinned_link with the last ring buffer */
	assert(!rlb_list_linked(&c->pinned_link));
	send_reset(c);
	free(c->in.b);
	rlb_buf_free(&c->acc);
	send_buf_release(c);
	c->w->nconns--;
}
