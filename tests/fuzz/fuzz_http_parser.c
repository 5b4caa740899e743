/* libFuzzer target: request and response heads, then chunked framing, on
 * arbitrary bytes; also checks that parsing in two pieces (the resumable
 * path) agrees with parsing at once. Build and run: make fuzz. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/http_parser.h"

static const struct rlb_http_limits lim = { 16384, 8192 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct rlb_http_msg a, b;
	const char *buf = (const char *)data;
	struct rlb_chunked ch = { 0 };
	ssize_t whole, split;

	whole = rlb_http_parse_request(buf, len, 0, &lim, &a);
	/* The seam with the rewrite: a head that parses never has Connection
	 * naming a framing header (http_rewrite.c asserts it). */
	if (whole > 0 && (a.flags & RLB_HTTP_CONN_FRAMING))
		abort();
	if (len > 1) {
		split = rlb_http_parse_request(buf, len / 2, 0, &lim, &b);
		if (split == -EAGAIN)
			split = rlb_http_parse_request(buf, len, len / 2, &lim, &b);
		/* A head complete in the first half ends there; else both agree. */
		if (split != whole && !(split > 0 && (size_t)split <= len / 2))
			abort();
	}
	if (whole > 0 && a.body == RLB_BODY_CHUNKED && rlb_chunked_feed(&ch, buf + whole, len - (size_t)whole) > (ssize_t)(len - (size_t)whole))
		abort();
	whole = rlb_http_parse_response(buf, len, 0, &lim, len & 1, &a);
	if (whole > 0 && (a.flags & RLB_HTTP_CONN_FRAMING))
		abort();
	memset(&ch, 0, sizeof(ch));
	if (rlb_chunked_feed(&ch, buf, len) > (ssize_t)len)
		abort();
	return 0;
}
