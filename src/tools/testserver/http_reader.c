/* Request framing: heads parsed, bodies dropped (http_reader.h). */
#include "tools/testserver/http_reader.h"

#include <errno.h>
#include <string.h>

static const struct rlb_http_limits limits = { READER_MAX_HEAD_BYTES, READER_MAX_TARGET_BYTES };

static int equals(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Methods are case-sensitive (RFC 9110 9.1): "head" is not HEAD. */
static void note_request(struct request_info *req, const struct rlb_http_msg *m)
{
	int is_head = equals(m->method, m->method_len, "HEAD");
	int is_get = equals(m->method, m->method_len, "GET");

	memset(req, 0, sizeof(*req));
	req->head_only = is_head;
	req->healthz = (is_get || is_head) && equals(m->target, m->target_len, "/healthz");
	req->http10 = m->minor_version == 0;
	if (req->http10)
		req->keep_alive = (m->flags & RLB_HTTP_CONN_KEEPALIVE) && !(m->flags & RLB_HTTP_CONN_CLOSE);
	else
		req->keep_alive = !(m->flags & RLB_HTTP_CONN_CLOSE);
	req->expect_continue = (m->flags & RLB_HTTP_EXPECT_CONTINUE) && m->body != RLB_BODY_NONE;
}

static enum reader_event read_head(struct http_reader *r, const char *buf, size_t len, size_t *used)
{
	struct rlb_http_msg m;
	ssize_t n = rlb_http_parse_request(buf, len, r->scanned, &limits, &m);

	if (n == -EAGAIN) {
		r->scanned = len;
		return READER_MORE;
	}
	r->scanned = 0;
	if (n < 0) {
		r->req.error_status = m.error_status ? m.error_status : 400;
		return READER_BAD;
	}
	*used = (size_t)n;
	note_request(&r->req, &m);
	if (m.body == RLB_BODY_LENGTH) {
		r->state = READ_LENGTH_BODY;
		r->body_left = m.content_length;
	} else if (m.body == RLB_BODY_CHUNKED) {
		r->state = READ_CHUNKED_BODY;
		memset(&r->chunked, 0, sizeof(r->chunked));
	}
	return r->state == READ_HEAD ? READER_DONE : READER_HEAD;
}

static enum reader_event read_length_body(struct http_reader *r, size_t len, size_t *used)
{
	*used = len < r->body_left ? len : (size_t)r->body_left;
	r->body_left -= *used;
	if (r->body_left)
		return READER_MORE;
	r->state = READ_HEAD;
	return READER_DONE;
}

static enum reader_event read_chunked_body(struct http_reader *r, const char *buf, size_t len,
					   size_t *used)
{
	ssize_t n = rlb_chunked_feed(&r->chunked, buf, len);

	if (n < 0) {
		r->req.error_status = 400;
		return READER_BAD;
	}
	*used = (size_t)n;
	if (!r->chunked.done)
		return READER_MORE;
	r->state = READ_HEAD;
	return READER_DONE;
}

enum reader_event http_reader_feed(struct http_reader *r, const char *buf, size_t len, size_t *used)
{
	*used = 0;
	switch (r->state) {
	case READ_LENGTH_BODY:
		return read_length_body(r, len, used);
	case READ_CHUNKED_BODY:
		return read_chunked_body(r, buf, len, used);
	default:
		return len ? read_head(r, buf, len, used) : READER_MORE;
	}
}
