/* The load generator's connections and the client that owns them: types
 * and the per-connection operations (conn.c), shared with the loop
 * (client.c). Private to src/tools/load. */
#ifndef RINGLB_LOAD_CONN_H
#define RINGLB_LOAD_CONN_H

#include <liburing.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringlb/http_parser.h"
#include "ringlb/list.h"
#include "tools/load/client.h"
#include "tools/load/response.h"

#define LOAD_RBUF_BYTES 32768 /* receive buffer; also the longest response head */

enum conn_state {
	CONN_CONNECTING, /* connect in flight; on c->connecting */
	CONN_IDLE,       /* on c->idle, recv armed */
	CONN_BUSY,       /* a request outstanding; on c->busy */
	CONN_ANSWERED,   /* its response came before its send's completion; on c->busy */
	CONN_CLOSED,     /* fd closed, on no list but c->all; freed once inflight is 0 */
};

/* What a CQE completes, in the low bits of user_data (conns are 16-byte aligned). */
enum conn_op {
	OP_CONNECT = 1,
	OP_SEND,
	OP_RECV,
	OP_CANCEL, /* a counted completion with nothing to do */
	OP_KINDS,
};
#define OP_MASK 15u

struct load_conn {
	struct rlb_list link; /* on connecting, idle or busy */
	struct rlb_list all;  /* on c->all until freed */
	int fd;
	enum conn_state state;
	unsigned inflight;    /* SQEs naming this conn not completed yet */
	unsigned sending : 1, connect_pending : 1;
	uint64_t since_us;    /* connect start */
	struct load_req req;  /* the request outstanding (BUSY) */
	struct load_response resp;
	unsigned server_id;
	struct msghdr msg;
	struct iovec iov[2];  /* head, body */
	char *head;
	char *rbuf;
	uint32_t roff, rlen;  /* unread bytes: rbuf[roff .. rlen) */
};

struct load_client {
	struct io_uring ring;
	const struct load_target *t;
	struct load_recorder *rec;
	struct load_phase *phase;
	struct rlb_http_msg msg;              /* the parser's scratch */
	struct rlb_list connecting, idle, busy, all;
	unsigned open, n_connecting, n_idle;  /* open: every conn not closed */
	uint64_t now_us;                      /* this loop turn's clock */
	/* open loop: requests due and not sent, oldest first (a ring) */
	struct load_req *queue;
	size_t q_head, q_len, q_cap;
	uint64_t next_due_us;                 /* the next scheduled request */
	int have_next;
	int issuing;                          /* 0 once the phase sends no more */
	uint64_t measured_issued;
	uint64_t reconnect_at_us;             /* closed loop: after a failed connect */
	uint64_t next_sweep_us;
};

/** The user_data of an SQE for conn's op. */
static inline uint64_t conn_ud(struct load_conn *conn, enum conn_op op)
{
	return (uint64_t)(uintptr_t)conn | op;
}

/** An SQE, submitting first when the queue is full (never NULL). */
struct io_uring_sqe *load_sqe(struct load_client *c);

/** Opens a connection (connect in flight). 0, or a negative errno
 * from socket() or allocation: nothing is left open then. */
int conn_open(struct load_client *c);

/** Sends q on an idle conn. */
void conn_send(struct load_client *c, struct load_conn *conn, const struct load_req *q);

/** Closes conn (any state but CLOSED); memory stays until inflight is 0. */
void conn_close(struct load_client *c, struct load_conn *conn);

/** Frees conn if it is closed and nothing is in flight for it. */
void conn_release_if_done(struct load_client *c, struct load_conn *conn);

/** The completion dispatcher. */
void conn_on_cqe(struct load_client *c, struct io_uring_cqe *cqe);

/* The loop's side (client.c), called from the connection code. */

/** A request outstanding failed: recorded, counted for the phase. */
void client_fail(struct load_client *c, const struct load_req *q, enum load_err kind);

/** A connect failed (or socket() did): the error goes to a queued request or
 * a request made up for it; closed loop: reconnects wait a little. */
void client_connect_failed(struct load_client *c);

/** A response to q completed now. */
void client_answered(struct load_client *c, const struct load_req *q, int status, unsigned server_id);

#endif
