/* The running test server: one thread, one io_uring, the state its parts
 * share (server.c the loop, listener.c accepting, client.c connections,
 * events.c the schedule). Everything here belongs to the loop's thread.
 *
 * Lifetime rules (after liburing's examples/proxy.c):
 *  - every SQE counts in srv->ring_inflight until its last CQE (a multishot
 *    accept: the one without IORING_CQE_F_MORE), so the stop can wait for
 *    the ring to be quiet before freeing anything the kernel may touch;
 *  - a client's recv and send count in client->io_inflight, and each answer
 *    of it in the due heap in client->pending: the client's memory is freed
 *    only when it is closing and both are 0 (its fd is closed as soon as no
 *    I/O is in flight), so a completion or a due answer never finds freed
 *    memory. A disconnected client's due answers are dropped as they come.
 */
#ifndef RINGLB_TESTSERVER_TESTSERVER_H
#define RINGLB_TESTSERVER_TESTSERVER_H

#include <liburing.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "ringlb/list.h"
#include "tools/testserver/answers.h"
#include "tools/testserver/behaviour.h"
#include "tools/testserver/due_heap.h"
#include "tools/testserver/http_reader.h"
#include "tools/testserver/server.h"

/* The operation a CQE completes, in the low bits of user_data (the pointer
 * it names is at least 8-aligned). */
enum op {
	OP_NOTE = 0, /* counted, nothing to do: cancels, timer updates */
	OP_ACCEPT,   /* ptr: struct listener */
	OP_RECV,     /* ptr: struct client */
	OP_SEND,     /* ptr: struct client */
	OP_TIMER,    /* ptr: struct server */
	OP_SIGNAL,   /* ptr: struct server */
	OP_KINDS
};
#define OP_MASK 7u

enum listener_state { LISTENER_CLOSED, LISTENER_OPEN, LISTENER_CLOSING };

struct listener {
	struct server *srv;
	int fd;
	enum listener_state state;
	int reopen; /* live came while the old socket was still closing */
};

#define CLIENT_SEND_IOV 64 /* iovecs in one sendmsg: two per answer */

struct client {
	struct server *srv;
	int fd;                  /* -1 once closed */
	struct rlb_list link;    /* srv->clients, until freed */
	struct client *dirty_next; /* srv->dirty: answers became ready this turn */
	uint32_t io_inflight;    /* recv + send SQEs */
	uint32_t pending;        /* answers in the due heap */
	uint8_t recv_armed : 1;
	uint8_t send_armed : 1;
	uint8_t closing : 1;
	uint8_t read_eof : 1;    /* the client sent FIN: answer what it asked, then close */
	uint8_t done_reading : 1;/* a request said close, or was bad: read nothing more */
	uint8_t dirty : 1;
	char *in;                /* received bytes not yet consumed by the reader */
	uint32_t in_len, in_cap;
	struct http_reader reader;
	uint64_t last_due_us;    /* the latest answer's due time: they go out in order */
	/* answers due and not yet fully sent, a ring of ready_cap (a power of 2) */
	struct answer *ready;
	uint32_t ready_head, ready_count, ready_cap;
	size_t ready_sent_bytes; /* of the first ready answer */
	struct msghdr msg;       /* the send in flight: untouched until it completes */
	struct iovec iov[CLIENT_SEND_IOV];
};

struct server {
	const struct server_options *opt;
	struct io_uring ring;
	int ring_ready;
	uint32_t ring_inflight;
	struct answers answers;
	struct behaviour behaviour;
	struct due_heap due;
	struct listener listener;
	struct rlb_list clients;
	struct client *dirty;
	int stopping;            /* SIGTERM or SIGINT came */
	uint64_t t0_us;          /* the listening line: schedule times count from here */
	size_t next_event;
	/* the one timer: the earliest of the next due answer and the next event */
	int timer_armed;
	uint64_t timer_at_us;
	struct __kernel_timespec timer_ts, update_ts;
	int signal_fd;
	struct signalfd_siginfo siginfo;
};

/** An SQE for ptr's operation op, counted in ring_inflight; submits the
 * queue first when it is full. Never NULL (aborts if the kernel refuses the
 * submission: nothing to do then that would not lose a completion). */
struct io_uring_sqe *server_sqe(struct server *s, void *ptr, enum op op);

/** die: no listener, no connection. */
void server_die(struct server *s);
/** live: listen again (when the old socket is gone). */
void server_live(struct server *s);

/** Prints "ringlb-testserver NAME: TEXT unix_ms=..." and flushes. */
void server_say(const struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int listener_open(struct listener *l);
void listener_close(struct listener *l);
void listener_on_accept(struct listener *l, int res, uint32_t cqe_flags);

void client_accept(struct server *s, int fd);
void client_on_recv(struct client *c, int res);
void client_on_send(struct client *c, int res);
/** An answer of c's is due (popped from the heap): send it, or drop it
 * when c is closing. May free c. */
void client_deliver(struct client *c, struct answer a);
/** Posts the send of c's ready answers (called once per loop turn for each
 * dirty client). May free c. */
void client_flush(struct client *c);
/** Closes c; its memory goes when its last completion and answer are in. */
void client_close(struct client *c);
/** Frees c at once, whatever is in flight: only once the ring is gone. */
void client_free(struct client *c);

/** Fires every schedule event due at now_us. */
void events_run_due(struct server *s, uint64_t now_us);
/** When the next event is due (CLOCK_MONOTONIC us), or UINT64_MAX. */
uint64_t events_next_us(const struct server *s);

#endif
