/* The HTTP layer of the forwarding core, above the loop (loop.h): a client
 * connection's session (session.c), its server side (upstream.c) and the
 * heads we forward (http_rewrite.c). Two connection kinds live here, each
 * with its table of callbacks: client_conn_ops and upstream_conn_ops.
 *
 * Seams between the two objects (each written once, here):
 *  - a transaction given up on (our error answer, the client gone) forgets
 *    its upstream at once (s->up = NULL), so the session finishes or closes
 *    on its own time; only its memory waits, in s->held, while the
 *    upstream's cancelled send may still read s->req_out. The upstream's
 *    destroy hands back (rlb_session_upstream_gone);
 *  - framing is decided once, from the parsed head, and the rewrite keeps
 *    every header that decided it (the parser refuses a Connection header
 *    naming Content-Length, Transfer-Encoding or Host);
 *  - a request goes to a server a second time only if it is idempotent and
 *    had no body (rlb_upstream_retry_stale), or if no byte of it was sent.
 */
#ifndef RINGLB_PROXY_H
#define RINGLB_PROXY_H

#include <netinet/in.h>

#include "core/loop.h"
#include "metrics/stats.h"
#include "ringlb/balancer.h"
#include "ringlb/http_parser.h"

/* The retry budget's allowance beyond its share: retries a worker may make
 * per backend before any request earned one (Finagle's minimum). */
#define RLB_RETRY_BURST 10

/* How much of a body is still to come, in one direction. */
struct body {
	enum rlb_body_kind kind;
	uint64_t left;
	uint64_t moved;    /* bytes forwarded so far */
	struct rlb_splice sp; /* on: the rest goes by splice (session.c: splice_try) */
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
	union {                         /* the client's address: a TCP listener's peer is one of these */
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	char peer_ip[INET6_ADDRSTRLEN];
	enum req_state rq;
	enum resp_state rs;
	struct upstream *up;            /* the current transaction's server connection */
	struct upstream *held;          /* one given up on whose send still reads req_out: s outlives it */
	struct rlb_server *srv;         /* the server of the current try */
	struct body req_body, resp_body;
	struct rlb_buf req_in;          /* the head as the client sent it: a retry picks with it */
	struct rlb_buf req_out;         /* the head as sent to the server */
	struct rlb_buf resp_out;        /* a server's head as rewritten for the client */
	const char *resp_head;          /* the head forward_response sends: resp_out or a canned error */
	uint32_t resp_head_len;
	uint8_t req_head_sent : 1;
	uint8_t resp_head_sent : 1;
	uint8_t keep_alive : 1;         /* the client connection may carry another request */
	uint8_t head_request : 1;       /* the method is exactly HEAD */
	uint8_t idempotent : 1;         /* RFC 9110 9.2.2, exact method names */
	uint8_t client_minor : 1;
	uint8_t upgrade : 1;            /* the request asked for an Upgrade */
	uint8_t retried_stale : 1;      /* already retried a dead pooled connection */
	uint8_t in_pump : 1;
	uint8_t req_abandoned : 1;      /* the server stopped taking the request; its answer may still come */
	uint8_t linger_wanted : 1;      /* the client may still be sending when we close */
	uint8_t lingering : 1;          /* FIN sent; reading and dropping until EOF or timeout_linger */
	uint8_t reset_on_close : 1;     /* close with RST: a read-until-close body was cut short */
	int tries;
	int status;                     /* the final status of this try's response, 0 before one */
	enum rlb_outcome retry_of;      /* a retry after an answer went wrong: what went wrong (else OK) */
	uint64_t *avoid;
	uint64_t t_start_us;            /* this try's pick */
	uint64_t t_sent_us;             /* the request's last byte went to the server: response time runs from here */
	int client_status;              /* the status of the answer being sent to the client */
	/* For the access log (kept only when it is on): */
	char *log_req;                  /* "METHOD TARGET" of the request, malloc'd */
	struct rlb_server *log_server;  /* the last server tried */
	uint64_t t_request_us;          /* its head was read */
	uint64_t connect_us, response_us, bytes_to_client;
};

struct upstream {
	struct conn c; /* first */
	struct rlb_server *srv;
	uint64_t t_connect_us;    /* when its connect was submitted */
	struct session *s;        /* NULL while idle in the pool */
	struct rlb_list pool_link;
	/* Where it connects: a copy, since a DNS slot's address may change
	 * under us, and the ring reads it only when the connect is submitted. */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint8_t connected : 1;
	uint8_t reused : 1;
	uint8_t reusable : 1;     /* the response allows keep-alive */
};

struct server_pool {
	struct rlb_list idle;
	uint32_t n_idle;
};

/* What the HTTP layer keeps per worker (w->upper). */
struct rlb_proxy_state {
	struct rlb_balancer **balancers;   /* [backend] */
	struct server_pool **pools;        /* [backend][server] */
	/* The server changes this worker has applied (ringlb/server.h). */
	unsigned generation;               /* the config's */
	unsigned *backend_generation;      /* [backend] */
	unsigned **server_version;         /* [backend][server] */
	struct rlb_access_log *access_log; /* NULL: no access log */
	/* Retry budget, per backend: a token per retry, earned by requests. */
	uint32_t *retry_tokens;            /* [backend], in 1/100 of a retry */
	struct rlb_http_msg msg;           /* scratch: the head being parsed right now */
	const char *head_bytes;            /* ... and where its bytes are, once whole */
	size_t head_len;
	uint8_t at_max_connections;        /* an episode of accepting paused at max_clients is logged */
};

/* The hooks main() gives the workers: per-worker state and accepted sockets. */
extern const struct rlb_worker_hooks rlb_proxy_hooks;
/** A client connection was freed: ends a max_connections episode once the
 * worker has room again (proxy_worker.c). */
void rlb_proxy_client_left(struct worker *w);

/* This worker's statistics slice of srv or fe; NULL in unit tests that
 * allocate none. */
static inline struct rlb_server_stats *server_stats(const struct worker *w, const struct rlb_server *srv)
{
	return srv->stats ? rlb_server_stats_of(srv, w->id) : NULL;
}

static inline struct rlb_frontend_stats *frontend_stats(const struct worker *w, const struct rlb_frontend *fe)
{
	return fe->stats ? rlb_frontend_stats_of(fe, w->id) : NULL;
}

/* session.c */
void rlb_session_accept(struct listener *l, int fd);
void rlb_session_pump(struct session *s);
void rlb_session_close(struct session *s);
void rlb_session_upstream_failed(struct session *s, enum rlb_outcome outcome);
void rlb_session_upstream_gone(struct session *s);
/** The whole response ringlb answers with for status (400, 408, 414, 431,
 * 500, 501, 502, 503, 504, 505; 500's for any other): static text. */
const char *rlb_canned_error(int status);

/* upstream.c */
void rlb_upstream_start(struct session *s);
void rlb_upstream_end_try(struct session *s, enum rlb_outcome outcome);
void rlb_upstream_finish(struct session *s, int reusable);
void rlb_upstream_abort(struct session *s);
int rlb_upstream_retry_stale(struct session *s);
/** The try failed for a reason in the backend's retry_on (why: one
 * RLB_RETRY_* bit): if the request can be sent again as it was (idempotent,
 * no body, all of it sent), and retries and the retry budget allow, closes
 * this try's connection and starts the next one on another server; returns
 * 1. Else 0, and nothing changed. */
int rlb_upstream_retry_elsewhere(struct session *s, uint32_t why, enum rlb_outcome outcome);
/** Closes the idle pooled connections to srv (it left: down, drained...). */
void rlb_upstream_pool_flush(struct worker *w, struct rlb_server *srv);

/* access_log.c */
struct rlb_access_log;
int rlb_access_log_open(struct worker *w);
void rlb_access_log_flush(struct worker *w);
void rlb_access_log_close(struct worker *w);
/** One line for s's transaction; termination is "-" when it ended as it should. */
void rlb_access_log_line(struct session *s, const char *termination);

/* http_rewrite.c */
/* What the request rewrite adds of its own. */
struct rlb_rewrite_ctx {
	const char *client_ip;     /* appended to X-Forwarded-For */
	const char *host_fallback; /* Host for an HTTP/1.0 request without one */
	const char *listen_port;   /* X-Forwarded-Port */
};
int rlb_rewrite_request(const struct rlb_http_msg *m, const struct rlb_rewrite_ctx *ctx, struct rlb_buf *out);
int rlb_rewrite_response(const struct rlb_http_msg *m, int keep_alive, int client_minor, int upgrade,
			 struct rlb_buf *out);

#endif
