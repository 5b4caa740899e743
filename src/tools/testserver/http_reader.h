/* Request framing for the test server: heads through ringlb's parser, bodies
 * (Content-Length or chunked) read and dropped, one request at a time so
 * pipelined requests are answered in order. Pure: no I/O, no allocation. */
#ifndef RINGLB_TESTSERVER_HTTP_READER_H
#define RINGLB_TESTSERVER_HTTP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "ringlb/http_parser.h"

/* Refused past these: the answer is the parser's 431 or 414. */
#define READER_MAX_HEAD_BYTES 16384
#define READER_MAX_TARGET_BYTES 8192

/* What a request asked, as far as the answer cares. */
struct request_info {
	uint8_t healthz;         /* GET or HEAD /healthz */
	uint8_t head_only;       /* HEAD: answer without a body */
	uint8_t keep_alive;      /* the connection stays open after the answer */
	uint8_t http10;          /* HTTP/1.0: keep-alive must be said */
	uint8_t expect_continue; /* Expect: 100-continue with a body to come */
	int error_status;        /* READER_BAD: the status to refuse with */
};

enum reader_event {
	READER_MORE, /* every byte given was used (or a head is incomplete): read more */
	READER_HEAD, /* a head with a body to come was read: r->req says what it asked */
	READER_DONE, /* a whole request was read: r->req says what it asked */
	READER_BAD,  /* a bad request: r->req.error_status; read nothing more */
};

enum reader_state { READ_HEAD, READ_LENGTH_BODY, READ_CHUNKED_BODY };

struct http_reader {
	enum reader_state state;
	size_t scanned;       /* head bytes already searched (the parser's last_len) */
	uint64_t body_left;   /* READ_LENGTH_BODY */
	struct rlb_chunked chunked;
	struct request_info req;
};

/**
 * Reads from buf[0..len), which starts where the last call's *used ended
 * (an incomplete head is left in place: call again with it and more bytes).
 * @param used  set to the bytes consumed, also on READER_MORE.
 * @return an event; after READER_DONE the reader is ready for the next request.
 */
enum reader_event http_reader_feed(struct http_reader *r, const char *buf, size_t len, size_t *used);

#endif
