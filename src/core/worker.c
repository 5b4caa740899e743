/* A worker thread: its io_uring, provided-buffer ring, listeners, the event
 * loop and the one dispatcher every completion goes through. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"

#define RING_ENTRIES 4096

struct io_uring_sqe *rlb_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (sqe == NULL) { /* SQ full: hand what we have to the kernel */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

void rlb_buf_give_back(struct worker *w, uint16_t bid)
{
	io_uring_buf_ring_add(w->br, w->bufmem + (size_t)bid * RLB_BUF_SIZE, RLB_BUF_SIZE, bid,
			      io_uring_buf_ring_mask(w->nbufs), (int)w->buf_added++);
	w->bufs_free++;
}

char *rlb_send_buf_get(struct worker *w)
{
	if (w->nspare_sends > 0)
		return w->spare_sends[--w->nspare_sends];
	return malloc(RLB_SEND_MAX);
}

void rlb_send_buf_put(struct worker *w, char *buf)
{
	if (w->nspare_sends < RLB_SPARE_SENDS)
		w->spare_sends[w->nspare_sends++] = buf;
	else
		free(buf);
}

static int setup_buffers(struct worker *w)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes = w->nbufs * sizeof(struct io_uring_buf);
	uint16_t i;
	int rc;

	if (posix_memalign((void **)&w->br, 4096, ring_bytes) != 0)
		return -ENOMEM;
	w->bufmem = malloc((size_t)w->nbufs * RLB_BUF_SIZE);
	if (w->bufmem == NULL)
		return -ENOMEM;
	io_uring_buf_ring_init(w->br);
	reg.ring_addr = (uint64_t)(uintptr_t)w->br;
	reg.ring_entries = w->nbufs;
	reg.bgid = 0;
	rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0)
		return rc;
	/* The kernel owns a buffer until a recv completes into it; then the
	 * conn's inbound queue does, until it has used the bytes. */
	for (i = 0; i < w->nbufs; i++)
		rlb_buf_give_back(w, i);
	io_uring_buf_ring_advance(w->br, (int)w->buf_added);
	w->buf_added = 0;
	return 0;
}

/* SINGLE_ISSUER|DEFER_TASKRUN keeps completion work on our thread at our
 * wait; older kernels refuse the flags, so fall back to COOP_TASKRUN. */
static int setup_ring(struct worker *w)
{
	struct io_uring_params p = { 0 };
	int rc;

	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = RING_ENTRIES * 4;
	rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
		p.cq_entries = RING_ENTRIES * 4;
		rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	}
	return rc;
}

static void arm_accept(struct listener *l)
{
	struct io_uring_sqe *sqe;

	if (l->armed || l->fd < 0)
		return;
	sqe = rlb_sqe(l->w);
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, rlb_ud(l, OP_ACCEPT));
	l->armed = 1;
	l->paused = 0;
}

static void pause_accept(struct listener *l)
{
	struct io_uring_sqe *sqe;

	l->paused = 1;
	if (!l->armed)
		return;
	sqe = rlb_sqe(l->w);
	io_uring_prep_cancel64(sqe, rlb_ud(l, OP_ACCEPT), 0);
	io_uring_sqe_set_data64(sqe, rlb_ud(NULL, OP_IGNORE));
}

static void on_accept(struct listener *l, int res, unsigned flags)
{
	struct worker *w = l->w;

	if (!(flags & IORING_CQE_F_MORE))
		l->armed = 0;
	if (res >= 0) {
		l->starved_logged = 0;
		/* Even once stopping: an accept the cancel did not beat took the
		 * connection out of the shared queue, so it is served (one
		 * request, then closed) rather than reset. */
		w->hooks->accept(l, res);
		if (w->nclients >= w->max_clients) {
			pause_accept(l);
			if (w->hooks->full != NULL)
				w->hooks->full(l);
		}
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		/* Out of descriptors: back off to the next tick instead of spinning,
		 * and say so once per episode, not once per tick. */
		if (!l->starved_logged)
			rlb_warn("accept on %s: %s; retrying every %d ms", l->at.text, strerror(-res),
				RLB_TICK_MS);
		l->starved_logged = 1;
		l->paused = 1;
	} else if (res != -ECANCELED) {
		rlb_error("accept on %s: %s", l->at.text, strerror(-res));
	}
	/* A multishot accept may end at any time; post a new one unless paused. */
	if (!l->armed && !l->paused && !w->stopping)
		arm_accept(l);
}

void rlb_worker_client_gone(struct worker *w)
{
	size_t i;

	if (w->stopping || w->nclients >= w->max_clients)
		return;
	for (i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].paused && !w->listeners[i].armed)
			arm_accept(&w->listeners[i]);
}

static void on_tick(struct rlb_callback *cb, int res);

static void arm_tick(struct worker *w)
{
	struct io_uring_sqe *sqe = rlb_sqe(w);

	w->tick_ts.tv_sec = 0;
	w->tick_ts.tv_nsec = RLB_TICK_MS * 1000000LL;
	w->tick_cb.fn = on_tick;
	io_uring_prep_timeout(sqe, &w->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, rlb_ud(&w->tick_cb, OP_CALLBACK));
}

static void begin_drain(struct worker *w);

static void arm_wake(struct worker *w);

/* Read again after each wake-up: a SIGTERM during a reload's drain wakes
 * the old loop a second time, to close its idle clients now. */
static void on_wake(struct rlb_callback *cb, int res)
{
	struct worker *w = rlb_container_of(cb, struct worker, wake_cb);

	begin_drain(w);
	if (res > 0)
		arm_wake(w);
}

static void arm_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = rlb_sqe(w);

	w->wake_cb.fn = on_wake;
	io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof(w->wake_val), 0);
	io_uring_sqe_set_data64(sqe, rlb_ud(&w->wake_cb, OP_CALLBACK));
}

static void update_clock(struct worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	w->now_ms = w->now_us / 1000u;
	w->timers.now_ms = w->now_ms;
}

/* Calls fn on every conn. Hooks may close conns (never free them: only the
 * dispatcher does) and may add conns, which land at the tail. */
static void each_conn(struct worker *w, void (*fn)(struct conn *c))
{
	struct rlb_list *it, *next;

	for (it = w->conns.next; it != &w->conns; it = next) {
		struct conn *c = rlb_container_of(it, struct conn, link);

		next = it->next;
		fn(c);
	}
}

static void drain_conn(struct conn *c)
{
	if (c->ops->on_drain != NULL && !c->closing)
		c->ops->on_drain(c);
}

static void shutdown_conn(struct conn *c)
{
	if (!c->closing)
		c->ops->on_shutdown(c);
}

/* SIGTERM or a reload: stop accepting (the sockets are the process's: a
 * reload's new loops accept on them already), drain the connections, and
 * let the requests in flight finish until drain_timeout. */
static void begin_drain(struct worker *w)
{
	size_t i;

	if (!w->stopping) {
		w->stopping = 1;
		w->drain_deadline_ms = w->now_ms + w->cfg->drain_timeout_ms;
		for (i = 0; i < w->nlisteners; i++)
			pause_accept(&w->listeners[i]);
	}
	each_conn(w, drain_conn);
}

static void on_tick(struct rlb_callback *cb, int res)
{
	struct worker *w = rlb_container_of(cb, struct worker, tick_cb);
	size_t i;

	(void)res; /* -ETIME: the tick's time came */
	rlb_timers_run(&w->timers);
	for (i = 0; i < w->nlisteners && !w->stopping; i++)
		if (w->listeners[i].paused && !w->listeners[i].armed && w->nclients < w->max_clients)
			arm_accept(&w->listeners[i]);
	arm_tick(w);
}

static void conn_event(struct conn *c, enum rlb_op op, int res, unsigned flags)
{
	c->inflight--;
	if (op == OP_RECV && (flags & IORING_CQE_F_MORE))
		c->inflight++; /* a multishot recv goes on */
	if (op == OP_POLL)
		c->poll_armed = c->poll_out = 0;
	else if (op == OP_CONNECT)
		c->connecting = 0;
	if (c->closing) {
		if (op == OP_SEND)
			rlb_conn_on_send(c, res < 0 ? res : -ECANCELED);
		else if (op == OP_RECV)
			rlb_conn_on_recv(c, res, flags);
		if (c->inflight == 0)
			c->ops->destroy(c);
		return;
	}
	switch (op) {
	case OP_RECV:
		rlb_conn_on_recv(c, res, flags);
		break;
	case OP_SEND:
		if (rlb_conn_on_send(c, res) == 0)
			return; /* the rest of a short send is on its way */
		break;
	case OP_CONNECT:
		c->ops->on_connect(c, res);
		return;
	case OP_POLL:
		break; /* ready (or failed, or cancelled): the splice finds out which */
	default:
		return; /* a flow-control cancel completed */
	}
	c->ops->on_io(c);
}

void rlb_worker_dispatch(struct worker *w, uint64_t ud, int res, unsigned flags)
{
	enum rlb_op op = (enum rlb_op)(ud & OP_MASK);
	void *ptr = (void *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);

	(void)w; /* each user_data names its own object (the tick is a callback of w's) */
	switch (op) {
	case OP_IGNORE:
		break;
	case OP_ACCEPT:
		on_accept(ptr, res, flags);
		break;
	case OP_CALLBACK:
		((struct rlb_callback *)ptr)->fn(ptr, res);
		break;
	default:
		conn_event(ptr, op, res, flags);
		break;
	}
}

/* Re-arms connections that ran out of buffers, now that some came back. */
static void feed_starved(struct worker *w)
{
	while (!rlb_list_empty(&w->starved)) {
		struct conn *c = rlb_container_of(w->starved.next, struct conn, starved_link);

		rlb_list_del(&c->starved_link);
		c->starved = 0;
		rlb_conn_flow_control(c);
	}
}

/* With the ring half empty, bytes still queued at the end of a turn (their
 * destination is not taking them: a client that stopped reading, a server
 * slow to read an upload) move to the heap and their buffers go back. So
 * stalled connections hold memory of their own, bounded by flow control,
 * and can never starve the rest of the worker of receive buffers. */
static void unpin_all(struct worker *w)
{
	if (w->bufs_free >= w->nbufs / 2)
		return;
	while (!rlb_list_empty(&w->pinned))
		rlb_conn_unpin(rlb_container_of(w->pinned.next, struct conn, pinned_link));
}

/* One turn: submit, wait for at least one completion, dispatch them all. */
static int turn(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int rc;

	/* Blocked, a worker holds no pointer to shared balancer state: offline,
	 * it never holds up a grace period (ringlb/qsbr.h). */
	if (w->qsbr_reader)
		rlb_qsbr_offline(&w->qsbr);
	rc = io_uring_submit_and_wait(&w->ring, 1);
	if (w->qsbr_reader)
		rlb_qsbr_online(&w->qsbr);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
		rlb_error("%s: io_uring_submit_and_wait: %s", w->name, strerror(-rc));
		return rc;
	}
	update_clock(w);
	io_uring_for_each_cqe(&w->ring, head, cqe) {
		rlb_worker_dispatch(w, cqe->user_data, cqe->res, cqe->flags);
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	unpin_all(w);
	if (w->buf_added) {
		io_uring_buf_ring_advance(w->br, (int)w->buf_added);
		w->buf_added = 0;
		feed_starved(w);
	}
	if (w->hooks->after_turn != NULL)
		w->hooks->after_turn(w);
	return 0;
}

static void run_loop(struct worker *w)
{
	while (!(w->stopping && (w->nclients == w->nlingering || w->now_ms >= w->drain_deadline_ms)))
		if (turn(w) < 0)
			return;
}

/* After the drain: close whatever is left (sessions past drain_timeout, the
 * pooled server connections) and run the ring until the last completion of
 * every conn is in, so each is freed by the usual path. The cancels answer
 * at once; the bound only guards against a kernel that never does. */
static void close_all(struct worker *w)
{
	uint64_t limit;

	each_conn(w, shutdown_conn);
	limit = w->now_ms + 1000;
	while ((w->nconns > 0 || w->nwrites > 0) && w->now_ms < limit)
		if (turn(w) < 0)
			break;
	io_uring_submit(&w->ring); /* the final closes */
	if (w->nconns > 0)
		rlb_warn("%s: %u connection(s) still busy at exit", w->name, w->nconns);
}

/* The ring and its buffers, made on the loop's own thread (a single-issuer
 * ring belongs to the thread that made it). 0 or a negative errno, said. */
static int setup_loop(struct worker *w)
{
	int rc = setup_ring(w);

	if (rc < 0) {
		rlb_error("%s: io_uring setup failed: %s", w->name, strerror(-rc));
		return rc;
	}
	if ((rc = setup_buffers(w)) < 0) {
		rlb_error("%s: provided buffer ring: %s", w->name, strerror(-rc));
	} else if (w->qsbr_reader && rlb_qsbr_register(&w->qsbr) < 0) {
		rlb_error("%s: too many reader threads", w->name);
		rc = -EBUSY;
	}
	if (rc < 0)
		io_uring_queue_exit(&w->ring);
	return rc;
}

/* The thread's life; whatever way it ends, worker_main marks it exited.
 * rlb_worker_start waits for the setup's outcome: a loop that cannot run
 * fails its start (a reload short of descriptors is then refused, and the
 * running generation goes on), never after the start said it runs. */
static void run_worker(struct worker *w)
{
	w->setup_rc = setup_loop(w);
	sem_post(&w->setup_done);
	if (w->setup_rc < 0)
		return;
	update_clock(w);
	for (size_t i = 0; i < w->nlisteners; i++)
		arm_accept(&w->listeners[i]);
	arm_tick(w);
	arm_wake(w);
	run_loop(w);
	close_all(w);
	if (w->qsbr_reader)
		rlb_qsbr_unregister(&w->qsbr);
	io_uring_queue_exit(&w->ring);
}

/* exited tells the main thread (a reload's old workers) that the join
 * will not wait. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	run_worker(w);
	atomic_store_explicit(&w->exited, 1, memory_order_release);
	return NULL;
}

/* A worker's share of a quarter of the descriptor limit, two per pipe. */
static uint32_t pipe_budget(const struct rlb_config *cfg)
{
	rlim_t workers = cfg->workers > 0 ? (rlim_t)cfg->workers : 1, n;
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY)
		return RLB_MAX_PIPES;
	n = lim.rlim_cur / 4 / 2 / workers;
	return n < RLB_MAX_PIPES ? (uint32_t)n : RLB_MAX_PIPES;
}

/* Sets up everything that can fail with a clear message: the layer above's
 * per-loop state before the thread starts, then (waiting for the thread)
 * its ring and buffers. The listening sockets are spec's, already open
 * (listen_pool.h). */
int rlb_worker_start(struct worker *w, int id, const struct rlb_config *cfg,
		     const struct rlb_worker_hooks *hooks, const struct rlb_loop_spec *spec)
{
	size_t i;
	int rc;

	w->id = id;
	snprintf(w->name, sizeof(w->name), "%s", spec->name);
	w->cfg = cfg;
	w->hooks = hooks;
	w->nbufs = spec->nbufs;
	w->qsbr_reader = spec->qsbr_reader;
	w->max_clients = spec->max_clients;
	w->max_pipes = pipe_budget(cfg);
	rlb_list_init(&w->conns);
	rlb_list_init(&w->starved);
	rlb_list_init(&w->pinned);
	rlb_timers_init(&w->timers);
	w->listeners = calloc(spec->nlisten ? spec->nlisten : 1, sizeof(*w->listeners));
	if (w->listeners == NULL)
		return -ENOMEM;
	w->nlisteners = spec->nlisten;
	for (i = 0; i < spec->nlisten; i++)
		w->listeners[i] = (struct listener){ .w = w, .at = spec->listen[i], .fd = spec->listen[i].fd };
	update_clock(w); /* init may arm timers */
	rc = hooks->init(w);
	if (rc < 0)
		return rc;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	sem_init(&w->setup_done, 0, 0);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0)
		return -rc;
	while (sem_wait(&w->setup_done) < 0 && errno == EINTR)
		;
	if (w->setup_rc < 0) {
		pthread_join(w->thread, NULL);
		return w->setup_rc;
	}
	return 0;
}

void rlb_worker_stop(struct worker *w, int hand_over)
{
	uint64_t one = 1;

	atomic_store_explicit(&w->handing_over, hand_over, memory_order_release);
	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		rlb_error("%s: wake: %s", w->name, strerror(errno));
}

int rlb_worker_exited(struct worker *w)
{
	return atomic_load_explicit(&w->exited, memory_order_acquire);
}

void rlb_worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

/* Frees what rlb_worker_start and the thread allocated; safe on a worker
 * whose start failed part way (everything it did not reach is NULL). */
void rlb_worker_free(struct worker *w)
{
	if (w->hooks != NULL)
		w->hooks->fini(w);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	rlb_timers_free(&w->timers);
	free(w->listeners);
	while (w->nspare_sends > 0)
		free(w->spare_sends[--w->nspare_sends]);
	while (w->nspare_pipes > 0) {
		struct rlb_pipe *p = &w->spare_pipes[--w->nspare_pipes];

		close(p->rd);
		close(p->wr);
	}
	free(w->br);
	free(w->bufmem);
}
