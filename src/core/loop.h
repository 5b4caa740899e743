/* The lower layer of the forwarding core: one loop per thread, each with its
 * own io_uring, buffer ring, connections and timers, and the one dispatcher
 * every completion goes through. The forwarding workers run it, and so does
 * the control thread, with other hooks (struct worker names both). It knows
 * sockets and bytes, never HTTP: what a connection means is in its kind's
 * table (struct conn_ops), and what an accepted socket becomes is the hooks'
 * business (struct rlb_worker_hooks). Nothing here is shared between loops.
 *
 * Lifetime rules (after liburing's examples/proxy.c):
 *  - every SQE that names a conn counts in conn->inflight; a conn's memory is
 *    freed (ops->destroy) only after it is closing and inflight is back to 0,
 *    always from the dispatcher, never inside a caller;
 *  - rlb_conn_release() takes the conn off every worker list (conns, starved,
 *    pinned): no list membership outlives the conn;
 *  - a provided buffer belongs to the inbound queue it was received into
 *    and goes back to the ring when the queue has used it. Sends copy what
 *    they take into the conn's own send buffer, so a peer that stops reading
 *    pins no ring buffer; and when the ring runs low, bytes still queued at
 *    the end of a loop turn are copied out too (worker.c: unpin_all). So no
 *    set of stalled connections can starve the others of buffers.
 */
#ifndef RINGLB_LOOP_H
#define RINGLB_LOOP_H

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "ringlb/config.h"
#include "ringlb/list.h"
#include "ringlb/qsbr.h"
#include "core/timer.h"

/* Receive buffers. A connection carrying requests and responses (heads,
 * small bodies) keeps one multishot recv armed, each recv capped at
 * RLB_RECV_MSG bytes: cheap per message, and what one wake-up reads before
 * flow control can pause it stays small. A connection that starts a large
 * body switches to single recvs of a whole buffer (rlb_conn_bulk): four
 * times fewer wake-ups and copies per MiB, and never more queued than
 * RLB_INQ_PAUSE buffers. */
#define RLB_BUF_SIZE 65536   /* one provided buffer */
#define RLB_BUF_COUNT 256    /* buffers per forwarding worker: 16 MiB */
#define RLB_RECV_MSG 16384   /* the most one recv of a multishot takes */
#define RLB_SEND_IOV 4       /* slices of one sendmsg: a head, then body bytes */
#define RLB_SEND_MAX 65536   /* body bytes copied into one send */
#define RLB_SPARE_SENDS 64   /* send buffers a worker keeps for reuse: 4 MiB */
#define RLB_HEAP_BID 0xFFFFu /* an inbuf copied out of the ring into malloc'd memory */
#define RLB_INQ_PAUSE 2      /* stop reading a peer holding this many buffers */
#define RLB_INQ_RESUME 1     /* ... and start again at this many */
#define RLB_TICK_MS 100      /* timer resolution */
#define RLB_MAX_PIPES 256    /* pipes a worker may hold for splices (2 fds each) */
#define RLB_SPARE_PIPES 32   /* empty pipes kept for the next splice */
#define RLB_SPLICE_ROUNDS 4  /* pipefuls one splice step moves before it yields */

/* The operation a CQE completes, kept in the low bits of user_data. */
enum rlb_op {
	OP_IGNORE = 0, /* fire-and-forget (close) */
	OP_ACCEPT,
	OP_RECV,
	OP_SEND,
	OP_CONNECT,
	OP_CANCEL,     /* a counted completion with nothing to do: cancel, shutdown */
	OP_POLL,       /* readiness for a splice (splice.c) */
	OP_CALLBACK,   /* ptr is a struct rlb_callback: any completion the layers above own */
};
#define OP_MASK 7u

static inline uint64_t rlb_ud(void *ptr, enum rlb_op op)
{
	return (uint64_t)(uintptr_t)ptr | op;
}

struct worker;
struct conn;
struct listener;

/* A completion that belongs to no conn (the wake-up read, a log write):
 * the dispatcher calls fn with the CQE's result. */
struct rlb_callback {
	void (*fn)(struct rlb_callback *cb, int res);
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

/* A pipe of a worker's pool: the middle of a splice. */
struct rlb_pipe {
	int rd, wr;
};

/* One direction of a transfer by splice(2), socket -> pipe -> socket: the
 * bytes never enter user space. A pipe holds what the kernel's pipe holds
 * (16 pages by default), so a peer that stops reading holds at most that. */
struct rlb_splice {
	struct rlb_pipe pipe;
	uint32_t in_pipe;     /* read from the source, not yet written to the destination */
	uint8_t on : 1;       /* it has a pipe: the transfer goes by splice (zeroed: it does not) */
	uint8_t tried : 1;    /* rlb_splice_open was called for this transfer */
};

struct inq {
	struct inbuf *b;
	uint32_t head, cnt, cap;
};

/* What a kind of connection (client and upstream on the workers; health
 * check and admin on the control thread) does with its events. The
 * dispatcher and the timers call through this table only, so adding a kind
 * touches no switch in the loop. Every hook runs on the conn's loop thread. */
struct conn_ops {
	const char *name;
	/** Required. A recv or send completion was applied to c (by conn.c) and
	 * c is not closing: advance whatever state machine c belongs to. */
	void (*on_io)(struct conn *c);
	/** Optional (kinds that connect). The connect finished: res is 0 or a
	 * negative errno. */
	void (*on_connect)(struct conn *c, int res);
	/** Required. c's timer expired. */
	void (*on_timeout)(struct conn *c);
	/** Optional. SIGTERM: close c now if that loses nothing (idle). */
	void (*on_drain)(struct conn *c);
	/** Required. Exit after the drain: close c, whatever it is doing. */
	void (*on_shutdown)(struct conn *c);
	/** Required. c is closing and its last completion is in: release it
	 * (rlb_conn_release) and free the memory it is embedded in. */
	void (*destroy)(struct conn *c);
};

/* One socket: its inbound queue, its one in-flight send, its timer. */
struct conn {
	int fd;
	const struct conn_ops *ops;
	uint8_t recv_armed : 1; /* a recv is posted */
	uint8_t recv_paused : 1;/* flow control cancelled it on purpose */
	uint8_t starved : 1;    /* on worker->starved waiting for buffers */
	uint8_t closing : 1;
	uint8_t eof : 1;        /* the peer closed (or recv failed: see err) */
	uint8_t send_busy : 1;
	uint8_t connecting : 1; /* a connect is posted */
	uint8_t readable : 1;   /* connected: flow control may post a recv */
	uint8_t oneshot : 1;    /* paused once, or bulk: single recvs from now on */
	uint8_t bulk : 1;       /* a large body is coming by copy: each recv takes a whole buffer */
	uint8_t active : 1;     /* the peer sent bytes or took some since the owner last looked */
	uint8_t recv_failed : 1;/* eof came from an error (a reset), not a FIN */
	uint8_t recv_capped : 1;/* the armed recv is a multishot with RLB_RECV_MSG as its length */
	uint8_t splice_src : 1; /* bytes leave by splice (splice.c): no recv may be armed */
	uint8_t splice_dst : 1; /* bytes arrive by splice: its sends are the splices */
	uint8_t poll_armed : 1; /* a readiness poll is posted (only a splice posts them) */
	uint8_t poll_out : 1;   /* ... and it waits for room to write, not bytes to read */
	uint8_t nonblock : 1;   /* O_NONBLOCK is set (for splice(2); io_uring ignores it) */
	int err;                /* first socket error, negative errno */
	uint32_t inflight;
	struct worker *w;
	struct rlb_list link;   /* worker->conns */
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

/* What the layer above does with a loop: set by main(), so the loop
 * imports nothing from it. The forwarding workers run the proxy's hooks;
 * the control thread runs the same loop with its own. */
struct rlb_worker_hooks {
	/** Per-loop state of the layer above (w->upper): from the main thread,
	 * before the loop's thread starts, one after the other. */
	int (*init)(struct worker *w);
	/** A listener accepted fd; the hook owns it from now on. */
	void (*accept)(struct listener *l, int fd);
	/** Optional. The loop is at max_clients: accepting on l pauses (new
	 * connections wait in the kernel's backlog) until a client leaves. */
	void (*full)(struct listener *l);
	/** Optional. After each loop turn's completions (at least every tick):
	 * where a worker notices server changes, and the control thread runs
	 * what is due. */
	void (*after_turn)(struct worker *w);
	/** After the loop and the last completion: frees what init made. Also
	 * called (from the main thread) for a loop whose init never ran. */
	void (*fini)(struct worker *w);
};

/* An address a loop listens on, and what its connections belong to. */
struct rlb_listen {
	const struct sockaddr *addr;
	socklen_t addr_len;
	const char *text; /* "127.0.0.1:8080", for logs */
	void *owner;      /* the layer above's: a frontend, the admin */
	int fd;           /* the listening socket: borrowed from the process (listen_pool.h), never closed here */
};

/* What a loop is: its listeners, buffers, and role. */
struct rlb_loop_spec {
	const char *name;               /* "worker 0", "control": for logs */
	const struct rlb_listen *listen; /* copied: may be on the caller's stack */
	size_t nlisten;                 /* several may share an owner (more sockets than loops) */
	uint32_t nbufs;                 /* provided buffers, a power of two */
	uint32_t max_clients;           /* accepting pauses at this many client conns */
	uint8_t qsbr_reader;            /* reads shared balancer state (ringlb/qsbr.h) */
};

struct listener {
	struct worker *w;
	struct rlb_listen at;
	int fd;
	uint8_t armed : 1;
	uint8_t paused : 1;      /* EMFILE or max_connections: re-armed from the tick */
	uint8_t starved_logged : 1; /* the EMFILE episode was logged */
};

struct rlb_proxy_state; /* the layer above's per-worker state: a forwarding worker's */
struct rlb_control;     /* ... or the control thread's */

struct worker {
	int id;
	char name[24];
	pthread_t thread;
	struct io_uring ring;
	const struct rlb_config *cfg;
	const struct rlb_worker_hooks *hooks;
	union {
		struct rlb_proxy_state *upper;
		struct rlb_control *control;
	};
	/* provided buffers */
	struct io_uring_buf_ring *br;
	char *bufmem;
	unsigned buf_added;      /* returned since the last advance */
	uint32_t bufs_free;      /* in the ring, ready for a recv */
	struct rlb_list pinned;  /* conns holding ring buffers */
	/* Send buffers (RLB_SEND_MAX bytes) given back by conns between
	 * bodies, kept for the next body: back in malloc's hands, their pages
	 * went back to the kernel and were faulted in and cleared again for
	 * every body (15% of the CPU on 64 KiB responses). */
	char *spare_sends[RLB_SPARE_SENDS];
	uint32_t nspare_sends;
	uint8_t mshot_len_refused; /* the kernel refused RLB_RECV_MSG on a multishot: uncapped */
	/* Pipes for splices (splice.c): npipes open, of which the spares are
	 * empty and free. */
	struct rlb_pipe spare_pipes[RLB_SPARE_PIPES];
	uint32_t nspare_pipes, npipes;
	uint8_t pipes_short_logged; /* an episode of bodies copied for want of a pipe is logged */
	/* Pipes are a convenience, sockets are not: the workers' pipes hold
	 * at most a quarter of the descriptor limit (RLIMIT_NOFILE at start),
	 * and each at most RLB_MAX_PIPES. */
	uint32_t max_pipes;
	struct rlb_list starved; /* conns waiting for a buffer to come back */
	uint32_t nbufs;
	uint8_t qsbr_reader;
	struct listener *listeners;
	size_t nlisteners;
	struct rlb_list conns;   /* every conn not yet released, all kinds */
	uint32_t nconns;
	uint32_t nwrites;        /* writes of the layers above in flight (OP_CALLBACK): the exit waits for them */
	/* Client connections, counted by the layer above: accepting pauses at
	 * max_clients; the drain ends when every one left is lingering. */
	uint32_t nclients, max_clients, nlingering;
	struct rlb_timers timers;
	struct rlb_callback tick_cb;
	uint64_t now_ms;
	uint64_t now_us;
	struct __kernel_timespec tick_ts;
	int wake_fd;
	uint64_t wake_val;
	struct rlb_callback wake_cb;
	int stopping;
	/* A reload's drain (set before the wake-up): idle keep-alive clients
	 * are closed after their next response rather than at once (HAProxy's
	 * idle-close-on-response), so no client's next request races our
	 * close; the next generation accepts the new connections. */
	atomic_int handing_over;
	atomic_int exited;       /* the thread has ended: a join will not wait */
	sem_t setup_done;        /* posted by the thread once setup_rc is known */
	int setup_rc;            /* its ring and buffers: 0, or why the loop could not run */
	uint64_t drain_deadline_ms;
	struct rlb_qsbr_reader qsbr; /* online only while handling completions */
};

/* worker.c */
struct io_uring_sqe *rlb_sqe(struct worker *w);
/** A send buffer of RLB_SEND_MAX bytes (a spare, or malloc'd), or NULL. */
char *rlb_send_buf_get(struct worker *w);
/** Gives a send buffer back: kept as a spare, or freed. */
void rlb_send_buf_put(struct worker *w, char *buf);
void rlb_buf_give_back(struct worker *w, uint16_t bid);
/** Opens spec's listeners, runs hooks->init and starts the loop's thread,
 * and waits for it to make its ring and buffers. Returns 0 once the loop
 * runs, or a negative errno (logged; a thread that failed is joined). */
int rlb_worker_start(struct worker *w, int id, const struct rlb_config *cfg,
		     const struct rlb_worker_hooks *hooks, const struct rlb_loop_spec *spec);
/** Tells the loop to drain and end (main thread): SIGTERM (hand_over 0),
 * or a reload whose next generation has taken the listeners (1). */
void rlb_worker_stop(struct worker *w, int hand_over);
/** Whether the loop's thread has ended, so rlb_worker_join returns at once. */
int rlb_worker_exited(struct worker *w);
void rlb_worker_join(struct worker *w);
void rlb_worker_free(struct worker *w);
/** A client connection was freed: accepts paused for max_connections may resume. */
void rlb_worker_client_gone(struct worker *w);
/** Handles one completion: what the loop does for each CQE. Exposed so unit
 * tests can replay completions in any order. */
void rlb_worker_dispatch(struct worker *w, uint64_t user_data, int res, unsigned flags);

/* buf.c */
int rlb_buf_reserve(struct rlb_buf *b, size_t extra);
int rlb_buf_append(struct rlb_buf *b, const void *data, size_t len);
/** Appends printf-formatted text (without its NUL). 0 or -ENOMEM. */
int rlb_buf_printf(struct rlb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rlb_buf_free(struct rlb_buf *b);

/* conn.c */
void rlb_conn_init(struct conn *c, struct worker *w, int fd, const struct conn_ops *ops);
/** A TCP socket of family for an outgoing connection (TCP_NODELAY set):
 * the fd, or a negative errno. */
int rlb_conn_socket(int family);
/** Submits c's connect to addr; its completion reaches ops->on_connect. */
void rlb_conn_connect(struct conn *c, const struct sockaddr *addr, socklen_t len);
void rlb_conn_arm_recv(struct conn *c);
void rlb_conn_flow_control(struct conn *c);
/** c is about to carry a large body: single whole-buffer recvs from now on
 * (until rlb_conn_trim: other recvs take at most RLB_RECV_MSG, so a head's
 * first recv brings little of a body that may go by splice). */
void rlb_conn_bulk(struct conn *c);
void rlb_conn_on_recv(struct conn *c, int res, unsigned flags);
typedef ssize_t (*rlb_head_parser)(const char *buf, size_t len, size_t last_len, void *arg);
ssize_t rlb_conn_read_head(struct conn *c, rlb_head_parser parse, void *arg);
void rlb_conn_head_consumed(struct conn *c);
/** How many of the avail bytes at p belong to the message being forwarded
 * (its framing); 0 once it is complete. Sets *err on bad framing. */
typedef size_t (*rlb_take_fn)(void *arg, const char *p, size_t avail, int *err);
size_t rlb_conn_gather(struct conn *src, struct conn *dst, rlb_take_fn take, void *arg, int *err);
void rlb_conn_send_add(struct conn *dst, const void *data, size_t len);
void rlb_conn_send_submit(struct conn *dst);
int rlb_conn_on_send(struct conn *c, int res);
void rlb_conn_discard_input(struct conn *c);
/** Bytes received and not yet used. */
size_t rlb_conn_queued(const struct conn *c);
/** Moves up to max received bytes to dst (after the head is consumed); returns how many. */
size_t rlb_conn_take(struct conn *c, void *dst, size_t max);
void rlb_conn_unpin(struct conn *c);
void rlb_conn_trim(struct conn *c);
void rlb_conn_arm_timer(struct conn *c, uint32_t timeout_ms);
void rlb_conn_close(struct conn *c);
void rlb_conn_abort(struct conn *c);
void rlb_conn_release(struct conn *c);

/* splice.c: transfers by splice(2), driven by readiness polls on the ring.
 * io_uring's own IORING_OP_SPLICE always runs in the kernel's io-wq thread
 * pool; measured here it costs as much CPU as copying, while a poll and a
 * non-blocking splice(2) from the loop costs less than half (README). */
/** Whether splices can work here: a pipe can be made and splice(2) is
 * there. Probed once, at start; an error names what failed. */
int rlb_splice_probe(char *err, size_t errlen);
/** A pipe for sp (a spare, or a new one): 0 and sp->on, or a negative
 * errno, and the caller copies instead: -ENOBUFS at w->max_pipes, or
 * pipe2's (-EMFILE...). */
int rlb_splice_open(struct worker *w, struct rlb_splice *sp);
/** Gives sp's pipe back: empty, to the spares; with bytes left in it
 * (a transfer cut short), closed. Safe on a sp without one. */
void rlb_splice_close(struct worker *w, struct rlb_splice *sp);
/** Moves up to *left bytes from src to dst, each conn an end of no other
 * splice, with no recv in flight on src and no send on dst. Stops when a
 * side would block (a poll is armed on it, whose completion reaches its
 * on_io), after RLB_SPLICE_ROUNDS pipefuls (a poll on a ready socket:
 * other conns get their turn), at the end, or on an error or EOF (set on
 * the conn as a recv or send would: err, eof, recv_failed). Returns the
 * bytes written to dst; *left goes down by those read from src. */
size_t rlb_splice_move(struct rlb_splice *sp, struct conn *src, struct conn *dst, uint64_t *left);
/** src and dst become the ends of a transfer by splice (neither may be an
 * end of another): src's recvs stop (rlb_conn_recv_stop). */
void rlb_splice_begin(struct conn *src, struct conn *dst);
/** The transfer between src and dst ended (either NULL: that end is gone):
 * their polls are cancelled, and src reads again, by small recvs (what
 * comes next is a head). */
void rlb_splice_end(struct conn *src, struct conn *dst);
/** Whether bytes (or a FIN) wait in c's socket: after a transfer that
 * read exactly a body's length, anything there is not part of it. */
int rlb_conn_has_more(struct conn *c);
/** c's bytes are to leave by splice: no recv from now on (splice_src),
 * and an armed one is cancelled; what it still brings goes through the
 * queue as usual. */
void rlb_conn_recv_stop(struct conn *c);

/* log.c: one line per event on stderr. Levels as syslog's, least to most
 * said; log_level (config) keeps the lines up to its level. Any thread. */
enum rlb_log_level { RLB_LOG_ERROR = 0, RLB_LOG_WARNING, RLB_LOG_INFO, RLB_LOG_DEBUG };
/** ringlb cannot do what it should (a socket, a ring, memory). */
void rlb_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Something is wrong outside ringlb, or will be: a server failing, a setup that cannot serve. */
void rlb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** What happens: starts, reloads, state changes, a client's bad request. */
void rlb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rlb_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rlb_log_set_level(enum rlb_log_level level);
/** The level named (error, warning, info, debug), or -1. */
int rlb_log_level_parse(const char *name);

#endif
