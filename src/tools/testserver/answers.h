/* The answers the test server sends, made once at start: every kind of
 * answer in every connection mode is a fixed head and a shared body, so
 * sending one is two iovecs and no copy (--size 1m costs nothing per answer). */
#ifndef RINGLB_TESTSERVER_ANSWERS_H
#define RINGLB_TESTSERVER_ANSWERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum answer_kind {
	ANSWER_OK,          /* 200, the --size body */
	ANSWER_ERROR,       /* 500 (--error-rate), the same body: only the status differs */
	ANSWER_HEALTH_OK,   /* 200 "ok" */
	ANSWER_HEALTH_SICK, /* 503 "sick" */
	ANSWER_CONTINUE,    /* 100 Continue: interim, no headers */
	ANSWER_400,         /* the refusals, as the parser's error_status says */
	ANSWER_414,
	ANSWER_431,
	ANSWER_501,
	ANSWER_505,
	ANSWER_KINDS
};

/* How the answer treats the connection; each adds its Connection header. */
enum answer_conn {
	CONN_KEEP,    /* HTTP/1.1 default: no header */
	CONN_KEEP_10, /* an HTTP/1.0 client asked for keep-alive: say yes */
	CONN_CLOSE,   /* Connection: close, and we close once it is sent */
	CONN_MODES
};

struct answer {
	uint8_t kind;      /* enum answer_kind */
	uint8_t conn;      /* enum answer_conn */
	uint8_t head_only; /* a HEAD request: the same head, no body */
};

struct answers {
	char *head[ANSWER_KINDS][CONN_MODES]; /* NUL-terminated */
	size_t head_len[ANSWER_KINDS][CONN_MODES];
	const char *body[ANSWER_KINDS];
	size_t body_len[ANSWER_KINDS];
	char *sized_body; /* body_bytes of 'x', shared by 200 and 500 */
};

/**
 * Builds every head for server name (X-Server) and the --size body.
 * Returns 0 or -ENOMEM (then answers_free is still safe).
 */
int answers_init(struct answers *t, const char *name, uint64_t body_bytes);

void answers_free(struct answers *t);

/** The refusal for a parser error_status (400 when it is none we know). */
enum answer_kind answer_kind_for_status(int status);

/** Whether the connection closes once a is sent. */
static inline int answer_closes(struct answer a)
{
	return a.conn == CONN_CLOSE && a.kind != ANSWER_CONTINUE;
}

/** Total bytes of a on the wire. */
size_t answer_len(const struct answers *t, struct answer a);

/**
 * Fills iov (at most 2 entries) with a's bytes from offset skip_bytes on;
 * returns the number of entries used (0 when skip_bytes covers it all).
 */
int answer_iov(const struct answers *t, struct answer a, size_t skip_bytes, struct iovec *iov);

#endif
