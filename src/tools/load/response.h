/* Reading one response off a connection: its head with ringlb's parser,
 * then its body by Content-Length, chunked framing or until the server
 * closes, keeping none of the bytes. Interim 1xx heads are skipped.
 *
 * Pure code: bytes in, state out; the caller owns the buffer and may move
 * or drop the bytes this consumed. */
#ifndef RINGLB_LOAD_RESPONSE_H
#define RINGLB_LOAD_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringlb/http_parser.h"

enum load_resp_state {
	LOAD_RESP_HEAD,    /* waiting for the (final) head */
	LOAD_RESP_LENGTH,  /* body_left bytes to come */
	LOAD_RESP_CHUNKED, /* chunks to come */
	LOAD_RESP_EOF,     /* body until the server closes */
	LOAD_RESP_DONE,
};

struct load_response {
	enum load_resp_state state;
	size_t head_scanned;  /* bytes of the head already searched (the parser's last_len) */
	uint64_t body_left;
	struct rlb_chunked chunked;
	int status;
	int keep_alive;       /* the connection may carry the next request */
	int head_parsed;      /* set by the feed that parsed the final head; the caller clears it */
};

/** Resets r for the next response. */
void load_response_start(struct load_response *r);

/**
 * Feeds buf[0 .. len), which starts where the previous feed stopped (for an
 * incomplete head: the same bytes, grown). max_head_bytes bounds the head.
 * @return how many bytes belong to this response (0 while the head is
 *         incomplete: feed the grown buffer again), or -EBADMSG. When the
 *         final head is parsed, r->head_parsed is set and msg describes it,
 *         its pointers into buf. r->state is LOAD_RESP_DONE once complete.
 */
ssize_t load_response_feed(struct load_response *r, struct rlb_http_msg *msg, const char *buf, size_t len,
			   size_t max_head_bytes, int head_request);

/** The server closed: 0 when that ends the response (a read-until-close
 * body), -ECONNRESET when the response was cut short. */
int load_response_eof(struct load_response *r);

#endif
