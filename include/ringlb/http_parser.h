/* Strict HTTP/1.1 message-head and chunked-body parser (RFC 9112).
 *
 * Pure code: bytes in, result out. No I/O, no allocation, no global state, so
 * any thread may call it. Results point into the caller's buffer and are valid
 * as long as that buffer is.
 *
 * Parsing is resumable the picohttpparser way: call again with the grown buffer
 * and the previous length in last_len; the search for the end of the head
 * restarts only a few bytes before last_len.
 *
 * Strictness is deliberate: a load balancer that forwards a message its
 * servers may frame differently enables request smuggling, so every ambiguity
 * listed in tests/unit/test_http_conformance.c is an error, never a guess.
 */
#ifndef RINGLB_HTTP_PARSER_H
#define RINGLB_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RLB_HTTP_MAX_HEADERS 100

/* How the message body is delimited (RFC 9112 section 6.3). */
enum rlb_body_kind {
	RLB_BODY_NONE,    /* no body: request without CL/TE, HEAD/1xx/204/304 response */
	RLB_BODY_LENGTH,  /* exactly content_length bytes */
	RLB_BODY_CHUNKED, /* chunked coding, framing checked by rlb_chunked_feed() */
	RLB_BODY_EOF,     /* response read until the server closes */
};

struct rlb_http_header {
	const char *name;
	const char *value; /* leading and trailing whitespace removed */
	uint32_t name_len;
	uint32_t value_len;
};

/* Flags collected while parsing, for the proxy's rewrite and keep-alive logic. */
enum {
	RLB_HTTP_CONN_CLOSE = 1 << 0,     /* Connection: close */
	RLB_HTTP_CONN_KEEPALIVE = 1 << 1, /* Connection: keep-alive */
	RLB_HTTP_CONN_UPGRADE = 1 << 2,   /* Connection: upgrade */
	RLB_HTTP_HAS_UPGRADE = 1 << 3,    /* an Upgrade header is present */
	RLB_HTTP_EXPECT_CONTINUE = 1 << 4, /* Expect: 100-continue */
	RLB_HTTP_HAS_HOST = 1 << 5,
	RLB_HTTP_CONN_OTHER = 1 << 6,     /* Connection names other headers to drop */
	RLB_HTTP_CONN_FRAMING = 1 << 7,   /* ... among them Content-Length, Transfer-Encoding or Host: refused */
};

/* Empty lines (CRLF) skipped before a start line; one more is an error. */
#define RLB_HTTP_MAX_EMPTY_LINES 8

/* A parsed request or response head. */
struct rlb_http_msg {
	/* request line */
	const char *method;
	const char *target;
	uint32_t method_len;
	uint32_t target_len;
	/* status line */
	int status;
	const char *reason;
	uint32_t reason_len;

	int minor_version; /* HTTP/1.minor_version, 0 or 1 */
	uint32_t flags;    /* RLB_HTTP_* */
	enum rlb_body_kind body;
	uint64_t content_length; /* valid when body == RLB_BODY_LENGTH */

	size_t num_headers;
	struct rlb_http_header headers[RLB_HTTP_MAX_HEADERS];

	/* On error: the HTTP status to answer with (400, 414, 431, 501, 505 for a
	 * request; 502 for a response) and a short reason for the log. */
	int error_status;
	const char *error;
};

struct rlb_http_limits {
	size_t max_head_bytes;   /* whole head, request line included (431 past it) */
	size_t max_target_bytes; /* request-target (414 past it) */
};

/**
 * Parses a request head from buf[0..len).
 *
 * @param last_len  length already scanned by a previous incomplete call, or 0.
 * @param msg       filled on success and on error (error_status, error).
 * @return the head length in bytes (the body starts there), -EAGAIN when the
 *         head is not complete yet, or -EBADMSG / -EMSGSIZE / -ENOTSUP on a
 *         message that must be refused (msg->error_status says how).
 *
 * Up to RLB_HTTP_MAX_EMPTY_LINES leading empty lines are skipped (RFC 9112
 * 2.2); they count toward max_head_bytes and in the result. For HTTP/1.1,
 * exactly one Host header is required. A Connection header naming
 * Content-Length, Transfer-Encoding or Host is refused (400): the next hop
 * would remove the header that framed or routed the message.
 */
ssize_t rlb_http_parse_request(const char *buf, size_t len, size_t last_len,
			       const struct rlb_http_limits *lim, struct rlb_http_msg *msg);

/**
 * Parses a response head. Same contract as rlb_http_parse_request().
 *
 * @param head_request  the request was HEAD: the response has no body.
 * msg->body follows RFC 9112 6.3: 1xx, 204 and 304 have none; chunked when the
 * final transfer coding is chunked; a Content-Length; else read until close.
 * Errors set error_status 502 (also for a Connection header naming a framing
 * header, as for a request).
 */
ssize_t rlb_http_parse_response(const char *buf, size_t len, size_t last_len,
				const struct rlb_http_limits *lim, int head_request,
				struct rlb_http_msg *msg);

/* Case-insensitive compare of a header name or token with a C string. */
int rlb_http_token_eq(const char *s, size_t len, const char *lit);

/* Whether a token list (like a Connection value) contains the token lit. */
int rlb_http_list_has(const char *value, size_t len, const char *lit);

/* State of the chunked-body framing checker; zero-initialise to start. */
struct rlb_chunked {
	uint64_t left;      /* bytes of chunk data still to come */
	uint32_t line_len;  /* length of the current size or trailer line */
	uint8_t state;
	uint8_t digits;     /* of the current chunk size: at most 16 */
	uint8_t done;       /* the last chunk and the trailer section are complete */
};

/* Longest chunk-size or trailer line accepted. */
#define RLB_CHUNK_LINE_MAX 4096

/**
 * Feeds body bytes to the chunked framing checker. The bytes are not changed:
 * the proxy forwards them as they are, once the framing is known to be sound.
 *
 * @return the number of bytes that belong to this body (stops right after the
 *         final CRLF, so pipelined data is left alone), or -EBADMSG on a bad
 *         chunk size (also: above 2^63-1, or more than 16 hex digits),
 *         extension, missing CRLF, bare LF or an overlong line.
 *         c->done is set once the body is complete.
 */
ssize_t rlb_chunked_feed(struct rlb_chunked *c, const char *buf, size_t len);

#endif
