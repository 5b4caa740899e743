/* The test server's loop: one io_uring, one dispatcher, one timer for the
 * due answers and the schedule, and the stop on SIGTERM (testserver.h). */
#include "tools/testserver/testserver.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/common/tool_cli.h"

#define RING_ENTRIES 4096
#define STOP_WAIT_US (2 * 1000 * 1000) /* for the ring to go quiet after a signal */

struct io_uring_sqe *server_sqe(struct server *s, void *ptr, enum op op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		int ret = io_uring_submit(&s->ring);

		sqe = io_uring_get_sqe(&s->ring);
		if (!sqe) { /* the kernel took nothing: no way on that loses no completion */
			fprintf(stderr, "ringlb-testserver: io_uring_submit: %s\n", strerror(-ret));
			abort();
		}
	}
	/* liburing 2.3's prep helpers leave user_data alone: callers prep after. */
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)ptr | op);
	s->ring_inflight++;
	return sqe;
}

void server_say(const struct server *s, const char *fmt, ...)
{
	va_list ap;

	printf("ringlb-testserver %s: ", s->opt->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" unix_ms=%llu\n", (unsigned long long)tool_unix_ms());
	fflush(stdout);
}

static void close_all_clients(struct server *s)
{
	struct rlb_list *n, *next;

	for (n = s->clients.next; n != &s->clients; n = next) {
		next = n->next; /* client_close may free it */
		client_close(rlb_container_of(n, struct client, link));
	}
}

/* A crashed process loses its work queue too: the server that comes back
 * starts with every worker free. */
void server_die(struct server *s)
{
	listener_close(&s->listener);
	close_all_clients(s);
	capacity_reset(&s->behaviour.capacity);
}

void server_live(struct server *s)
{
	if (s->listener.state == LISTENER_CLOSING)
		s->listener.reopen = 1;
	else if (s->listener.state == LISTENER_CLOSED)
		listener_open(&s->listener);
}

/* Hands every due answer to its client, unless a stall holds them all. */
static void release_due(struct server *s, uint64_t now_us)
{
	const struct due_entry *top;
	struct due_entry e;

	if (now_us < s->behaviour.stall_until_us)
		return;
	while ((top = due_heap_top(&s->due)) && top->due_us <= now_us) {
		due_heap_pop(&s->due, &e);
		client_deliver(e.client, e.answer);
	}
}

static void flush_dirty(struct server *s)
{
	while (s->dirty) {
		struct client *c = s->dirty;

		s->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = 0;
		client_flush(c);
	}
}

static uint64_t next_deadline_us(const struct server *s)
{
	const struct due_entry *top = due_heap_top(&s->due);
	uint64_t at = events_next_us(s);

	if (top) {
		uint64_t due = top->due_us > s->behaviour.stall_until_us ? top->due_us : s->behaviour.stall_until_us;

		at = due < at ? due : at;
	}
	return at;
}

static void set_ts(struct __kernel_timespec *ts, uint64_t us)
{
	ts->tv_sec = (long long)(us / 1000000);
	ts->tv_nsec = (long long)(us % 1000000) * 1000;
}

/* One absolute timeout on the ring; moved earlier in place when an earlier
 * deadline comes (a later one lets it fire early: the loop re-arms). A move
 * that finds it already fired fails harmlessly: its CQE clears timer_armed. */
static void arm_timer(struct server *s)
{
	uint64_t at = next_deadline_us(s);
	struct io_uring_sqe *sqe;

	if (at == UINT64_MAX || (s->timer_armed && at >= s->timer_at_us))
		return;
	if (!s->timer_armed) {
		set_ts(&s->timer_ts, at);
		sqe = server_sqe(s, s, OP_TIMER);
		io_uring_prep_timeout(sqe, &s->timer_ts, 0, IORING_TIMEOUT_ABS);
		s->timer_armed = 1;
	} else {
		set_ts(&s->update_ts, at);
		sqe = server_sqe(s, NULL, OP_NOTE);
		io_uring_prep_timeout_update(sqe, &s->update_ts, (uint64_t)(uintptr_t)s | OP_TIMER,
					     IORING_TIMEOUT_ABS);
	}
	s->timer_at_us = at;
}

static void arm_signal_read(struct server *s)
{
	struct io_uring_sqe *sqe = server_sqe(s, s, OP_SIGNAL);

	io_uring_prep_read(sqe, s->signal_fd, &s->siginfo, sizeof(s->siginfo), 0);
}

static void cancel(struct server *s, uint64_t user_data)
{
	struct io_uring_sqe *sqe = server_sqe(s, NULL, OP_NOTE);

	io_uring_prep_cancel64(sqe, user_data, 0);
}

/* Closes everything and cancels what stays armed; the loop then runs until
 * the ring is quiet. Due answers are dropped: no one is waiting for them. */
static void begin_stop(struct server *s)
{
	struct due_entry e;

	s->stopping = 1;
	listener_close(&s->listener);
	close_all_clients(s);
	while (due_heap_pop(&s->due, &e) == 0)
		client_deliver(e.client, e.answer);
	if (s->timer_armed)
		cancel(s, (uint64_t)(uintptr_t)s | OP_TIMER);
	cancel(s, (uint64_t)(uintptr_t)s | OP_SIGNAL);
}

static void on_timer(void *ptr, int res, uint32_t flags)
{
	struct server *s = ptr;

	(void)res, (void)flags;
	s->timer_armed = 0;
}

static void on_signal(void *ptr, int res, uint32_t flags)
{
	struct server *s = ptr;

	(void)flags;
	if (s->stopping)
		return;
	if (res == (int)sizeof(s->siginfo))
		begin_stop(s);
	else
		arm_signal_read(s); /* a short or failed read: keep listening for one */
}

static void on_note(void *ptr, int res, uint32_t flags)
{
	(void)ptr, (void)res, (void)flags;
}

static void on_accept(void *ptr, int res, uint32_t flags)
{
	listener_on_accept(ptr, res, flags);
}

static void on_recv(void *ptr, int res, uint32_t flags)
{
	(void)flags;
	client_on_recv(ptr, res);
}

static void on_send(void *ptr, int res, uint32_t flags)
{
	(void)flags;
	client_on_send(ptr, res);
}

static void (*const handlers[OP_KINDS])(void *ptr, int res, uint32_t flags) = {
	[OP_NOTE] = on_note,     [OP_ACCEPT] = on_accept, [OP_RECV] = on_recv,
	[OP_SEND] = on_send,     [OP_TIMER] = on_timer,   [OP_SIGNAL] = on_signal,
};

static void dispatch(struct server *s, const struct io_uring_cqe *cqe)
{
	unsigned op = (unsigned)(cqe->user_data & OP_MASK);

	if (!(cqe->flags & IORING_CQE_F_MORE))
		s->ring_inflight--;
	handlers[op]((void *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK), cqe->res, cqe->flags);
}

/* Submits, waits for at least one completion (at most until deadline_us when
 * one is given) and dispatches every completion there is. */
static void wait_and_dispatch(struct server *s, uint64_t deadline_us)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	if (deadline_us) {
		struct __kernel_timespec ts;
		uint64_t now = tool_now_us();

		set_ts(&ts, deadline_us > now ? deadline_us - now : 0);
		io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
	} else {
		io_uring_submit_and_wait(&s->ring, 1);
	}
	io_uring_for_each_cqe(&s->ring, head, cqe) {
		dispatch(s, cqe);
		n++;
	}
	io_uring_cq_advance(&s->ring, n);
}

static void run(struct server *s)
{
	uint64_t stop_deadline_us = 0;

	for (;;) {
		uint64_t now = tool_now_us();

		if (!s->stopping) {
			events_run_due(s, now);
			release_due(s, now);
		}
		flush_dirty(s);
		if (s->stopping && !stop_deadline_us)
			stop_deadline_us = now + STOP_WAIT_US;
		if (s->stopping && (!s->ring_inflight || now >= stop_deadline_us))
			break;
		if (!s->stopping)
			arm_timer(s);
		wait_and_dispatch(s, stop_deadline_us);
	}
	if (s->ring_inflight)
		fprintf(stderr, "ringlb-testserver %s: %u operations still in flight at exit\n", s->opt->name,
			s->ring_inflight);
}

/* SIGTERM and SIGINT arrive as reads on a signalfd, so the stop is one more
 * completion on the ring; SIGPIPE is off (sends also say MSG_NOSIGNAL). */
static int open_signal_fd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Load experiments open thousands of connections: take what the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static int init(struct server *s, const struct server_options *opt)
{
	int ret;

	s->opt = opt;
	s->signal_fd = -1;
	s->listener = (struct listener){ .srv = s, .fd = -1 };
	rlb_list_init(&s->clients);
	s->behaviour = (struct behaviour){ .latency = opt->latency, .slow_factor = 1.0,
					   .error_rate = opt->error_rate, .rng = opt->seed };
	if (answers_init(&s->answers, opt->name, opt->body_bytes) < 0 ||
	    capacity_init(&s->behaviour.capacity, opt->concurrency) < 0) {
		fprintf(stderr, "ringlb-testserver: out of memory\n");
		return -ENOMEM;
	}
	ret = io_uring_queue_init(RING_ENTRIES, &s->ring, 0);
	if (ret < 0) {
		fprintf(stderr, "ringlb-testserver: io_uring_queue_init: %s\n", strerror(-ret));
		return ret;
	}
	s->ring_ready = 1;
	s->signal_fd = open_signal_fd();
	if (s->signal_fd < 0) {
		fprintf(stderr, "ringlb-testserver: signalfd: %s\n", strerror(errno));
		return -errno;
	}
	raise_fd_limit();
	return listener_open(&s->listener);
}

/* The ring goes first: once it is gone the kernel touches none of our
 * memory, so what a forced exit left behind can be freed. */
static void cleanup(struct server *s)
{
	struct due_entry e;

	if (s->ring_ready)
		io_uring_queue_exit(&s->ring);
	while (due_heap_pop(&s->due, &e) == 0)
		; /* only after a forced exit: begin_stop emptied it */
	while (!rlb_list_empty(&s->clients)) {
		struct client *c = rlb_container_of(s->clients.next, struct client, link);

		client_free(c);
	}
	if (s->listener.fd >= 0)
		close(s->listener.fd);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	due_heap_free(&s->due);
	answers_free(&s->answers);
	capacity_free(&s->behaviour.capacity);
}

int server_run(const struct server_options *opt)
{
	struct server *s = calloc(1, sizeof(*s));
	int status = 1;

	if (!s) {
		fprintf(stderr, "ringlb-testserver: out of memory\n");
		return 1;
	}
	if (init(s, opt) < 0)
		goto out;
	s->t0_us = tool_now_us();
	server_say(s, "listening on %s", opt->listen_text);
	arm_signal_read(s);
	run(s);
	status = 0;
out:
	cleanup(s);
	free(s);
	return status;
}
