/* Internal types of the forwarding core: one worker per thread, each with its
 * own io_uring, buffer ring, sessions, upstream pools and timers. Nothing here
 * is shared between workers except the config and the servers' atomics.
 *
 * Lifetime rules (after liburing's examples/proxy.c):
 *  - every SQE that names a conn counts in conn->inflight; a conn's memory is
 *    freed only after it is closing and inflight is back to 0;
 *  - a provided buffer belongs to the inbound queue it was received into
 *    and goes back to the ring when the queue has used it. Sends copy what
 *    they take into the conn's own send buffer, so a peer that stops reading
 *    pins no ring buffer; and when the ring runs low, bytes still queued at
 *    the end of a loop turn are copied out too (worker.c: unpin_all). So no
 *    set of stalled connections can starve the others of buffers;
 *  - a session outlives its upstream: it is freed only once s->up is NULL,
 *    because the upstream's in-flight send may point at s->req_out.
 */
#ifndef RINGLB_WORKER_H
#define RINGLB_WORKER_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>

#include "ringlb/balancer.h"
#include "ringlb/config.h"
#include "ringlb/http_parser.h"
#include "ringlb/list.h"

#define RLB_BUF_SIZE 16384   /* one provided buffer */
#define RLB_BUF_COUNT 1024   /* buffers per worker: 16 MiB */
#define RLB_SEND_IOV 4       /* slices of one sendmsg: a head, then body bytes */
#define RLB_SEND_MAX 65536   /* body bytes copied into one send */
#define RLB_HEAP_BID 0xFFFFu /* an inbuf copied out of the ring into malloc'd memory */
#define RLB_INQ_PAUSE 8      /* stop reading a peer holding this many buffers */
#define RLB_INQ_RESUME 2     /* ... and start again at this many */
#define RLB_TICK_MS 100      /* timer resolution */

/* The operation a CQE completes, kept in the low bits of user_data. */
enum rlb_op {
	OP_IGNORE = 0, /* fire-and-forget (close) */
	OP_ACCEPT,
	OP_RECV,
	OP_SEND,
	OP_CONNECT,
	OP_CANCEL,     /* a counted completion with nothing to do: cancel, shutdown */
	OP_TICK,
	OP_WAKE,
};
#define OP_MASK 7u

static inline uint64_t rlb_ud(void *ptr, enum rlb_op op)
{
	return (uint64_t)(uintptr_t)ptr | op;
}

struct worker;

struct rlb_timer {
	struct rlb_list link;
	uint64_t deadline_ms;
};

/* A growable byte buffer for heads (accumulated or rewritten). */
struct rlb_buf {
	char *data;
	uint32_t len, cap;
};

/* A received provided buffer, consumed from off to len. */
struct inbuf {
	char *data;
	uint32_t len, off;
	uint16_t bid;
};

struct inq {
	struct inbuf *b;
	uint32_t head, cnt, cap;
};

enum conn_kind { CONN_CLIENT, CONN_UPSTREAM };

/* One socket: its inbound queue, its one in-flight send, its timer. */
struct conn {
	int fd;
	uint8_t kind;           /* enum conn_kind */
	uint8_t recv_armed : 1; /* a multishot recv is posted */
	uint8_t recv_paused : 1;/* flow control cancelled it on purpose */
	uint8_t starved : 1;    /* on worker->starved waiting for buffers */
	uint8_t closing : 1;
	uint8_t eof : 1;        /* the peer closed (or recv failed: see err) */
	uint8_t send_busy : 1;
	uint8_t readable : 1;   /* connected: flow control may post a recv */
	uint8_t oneshot : 1;    /* paused once: single-buffer recvs from now on */
	int err;                /* first socket error, negative errno */
	uint32_t inflight;
	struct worker *w;
	struct inq in;
	struct rlb_buf acc;     /* head bytes that spanned several buffers */
	size_t acc_scanned;     /* parser resume point within acc */
	uint32_t head_from_front; /* head bytes still to drop from the front buffer */
	/* the in-flight send */
	struct msghdr msg;
	struct iovec iov[RLB_SEND_IOV];
	struct rlb_buf out;     /* body bytes of the send, copied from the peer's queue */
	uint32_t npinned;       /* ring buffers in the inbound queue */
	struct rlb_timer timer;
	struct rlb_list starved_link;
	struct rlb_list pinned_link; /* on worker->pinned while npinned > 0 */
};

/* How much of a body is still to come, in one direction. */
struct body {
	enum rlb_body_kind kind;
	uint64_t left;
	struct rlb_chunked ch;
	uint8_t done;
};

enum req_state {
	RQ_HEAD,    /* waiting for a request head (also: idle keep-alive) */
	RQ_FORWARD, /* head and body going to the server */
	RQ_DONE,    /* all of the request is sent */
	RQ_TUNNEL,  /* after 101: raw bytes both ways */
};

enum resp_state {
	RS_NONE,    /* no request outstanding */
	RS_HEAD,    /* waiting for the response head */
	RS_FORWARD, /* head and body going to the client */
	RS_DONE,
	RS_TUNNEL,
};

struct upstream;

struct session {
	struct conn c; /* first: the client socket */
	struct rlb_frontend *fe;
	struct rlb_list link;           /* worker->sessions */
	struct sockaddr_storage peer;
	char peer_ip[INET6_ADDRSTRLEN];
	enum req_state rq;
	enum resp_state rs;
	struct upstream *up;
	struct rlb_server *srv;         /* the server of the current try */
	struct body req_body, resp_body;
	struct rlb_buf req_out;         /* the head as sent to the server */
	struct rlb_buf resp_out;        /* the head as sent to the client */
	uint8_t req_head_sent : 1;
	uint8_t resp_head_sent : 1;
	uint8_t keep_alive : 1;         /* the client connection may carry another request */
	uint8_t head_request : 1;
	uint8_t client_minor : 1;
	uint8_t upgrade : 1;            /* the request asked for an Upgrade */
	uint8_t retried_stale : 1;      /* already retried a dead pooled connection */
	uint8_t in_pump : 1;
	uint8_t req_abandoned : 1;      /* the server stopped taking the request; its answer may still come */
	uint8_t linger_wanted : 1;      /* the client may still be sending when we close */
	uint8_t lingering : 1;          /* FIN sent; reading and dropping until EOF or timeout_linger */
	int tries;
	uint64_t *avoid;
	uint64_t t_start_us;
};

struct upstream {
	struct conn c; /* first */
	struct rlb_server *srv;
	struct session *s;        /* NULL while idle in the pool */
	struct rlb_list pool_link;
	uint8_t connected : 1;
	uint8_t reused : 1;
	uint8_t reusable : 1;     /* the response allows keep-alive */
};

struct server_pool {
	struct rlb_list idle;
	uint32_t n_idle;
};

struct listener {
	struct worker *w;
	struct rlb_frontend *fe;
	int fd;
	uint8_t armed : 1;
	uint8_t paused : 1;      /* EMFILE or max_connections: re-armed from the tick */
	uint8_t starved_logged : 1; /* the EMFILE episode was logged */
};

struct timer_list {
	uint32_t timeout_ms;
	struct rlb_list head;
};
#define RLB_TIMER_LISTS 32

struct worker {
	int id;
	pthread_t thread;
	struct io_uring ring;
	const struct rlb_config *cfg;
	/* provided buffers */
	struct io_uring_buf_ring *br;
	char *bufmem;
	unsigned buf_added;      /* returned since the last advance */
	uint32_t bufs_free;      /* in the ring, ready for a recv */
	struct rlb_list pinned;  /* conns holding ring buffers */
	/* listeners, balancers and pools, by config index */
	struct listener *listeners;
	struct rlb_balancer **balancers;   /* [backend] */
	struct server_pool **pools;        /* [backend][server] */
	struct rlb_list sessions;
	uint32_t nsessions, max_sessions;
	uint32_t nlingering;     /* sessions answered and lingering: the drain does not wait for them */
	uint32_t nconns;         /* conns not yet released, both kinds */
	struct rlb_list starved;
	struct timer_list timers[RLB_TIMER_LISTS];
	int ntimers;
	uint64_t now_ms;
	uint64_t now_us;
	struct __kernel_timespec tick_ts;
	int wake_fd;
	uint64_t wake_val;
	int stopping;
	uint64_t drain_deadline_ms;
	struct rlb_http_msg msg; /* scratch: the head being parsed right now */
};

/* worker.c */
struct io_uring_sqe *rlb_sqe(struct worker *w);
void rlb_buf_give_back(struct worker *w, uint16_t bid);
int rlb_worker_start(struct worker *w, int id, const struct rlb_config *cfg);
void rlb_worker_stop(struct worker *w);
void rlb_worker_join(struct worker *w);
void rlb_worker_free(struct worker *w);
void rlb_session_done(struct worker *w); /* a session was freed */

/* timer.c */
void rlb_timer_init(struct rlb_timer *t);
void rlb_timer_arm(struct worker *w, struct rlb_timer *t, uint32_t timeout_ms);
void rlb_timer_cancel(struct rlb_timer *t);
void rlb_timers_run(struct worker *w);

/* buf.c */
int rlb_buf_reserve(struct rlb_buf *b, size_t extra);
int rlb_buf_append(struct rlb_buf *b, const void *data, size_t len);
void rlb_buf_free(struct rlb_buf *b);

/* conn.c */
void rlb_conn_init(struct conn *c, struct worker *w, int fd, enum conn_kind kind);
void rlb_conn_arm_recv(struct conn *c);
void rlb_conn_flow_control(struct conn *c);
void rlb_conn_on_recv(struct conn *c, int res, unsigned flags);
typedef ssize_t (*rlb_head_parser)(const char *buf, size_t len, size_t last_len, void *arg);
ssize_t rlb_conn_read_head(struct conn *c, rlb_head_parser parse, void *arg);
void rlb_conn_head_consumed(struct conn *c);
size_t rlb_conn_gather(struct conn *src, struct conn *dst, struct body *b, int *err);
void rlb_conn_send_add(struct conn *dst, const void *data, size_t len);
void rlb_conn_send_submit(struct conn *dst);
int rlb_conn_on_send(struct conn *c, int res);
void rlb_conn_discard_input(struct conn *c);
void rlb_conn_unpin(struct conn *c);
void rlb_conn_trim(struct conn *c);
void rlb_conn_close(struct conn *c);
void rlb_conn_release(struct conn *c);

/* session.c */
void rlb_session_accept(struct listener *l, int fd);
void rlb_session_pump(struct session *s);
void rlb_session_timeout(struct session *s);
void rlb_session_close(struct session *s);
void rlb_session_free(struct session *s);
void rlb_session_upstream_failed(struct session *s, enum rlb_outcome outcome);
void rlb_session_drain(struct session *s);

/* upstream.c */
void rlb_upstream_start(struct session *s);
void rlb_upstream_end_try(struct session *s, enum rlb_outcome outcome);
void rlb_upstream_on_connect(struct upstream *u, int res);
void rlb_upstream_timeout(struct upstream *u);
void rlb_upstream_finish(struct session *s, int reusable);
void rlb_upstream_abort(struct session *s);
void rlb_upstream_free(struct upstream *u);
void rlb_upstream_close_idle(struct worker *w, struct server_pool *p);
void rlb_upstream_on_idle_event(struct upstream *u);
int rlb_upstream_retry_stale(struct session *s);

/* http_rewrite.c */
int rlb_rewrite_request(const struct rlb_http_msg *m, const char *client_ip, const char *host_fallback,
			struct rlb_buf *out);
int rlb_rewrite_response(const struct rlb_http_msg *m, int keep_alive, int client_minor, int upgrade,
			 struct rlb_buf *out);

/* log.c */
void rlb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
