/* Response framing for the load generator (contract in response.h). */
#include "tools/load/response.h"

#include <errno.h>
#include <string.h>

void load_response_start(struct load_response *r)
{
	memset(r, 0, sizeof(*r));
}

/* What follows a final head: RFC 9112 6.3 as the parser decided it. */
static void head_done(struct load_response *r, const struct rlb_http_msg *msg)
{
	r->status = msg->status;
	r->head_parsed = 1;
	r->keep_alive = msg->minor_version >= 1 ? !(msg->flags & RLB_HTTP_CONN_CLOSE)
						: !!(msg->flags & RLB_HTTP_CONN_KEEPALIVE);
	switch (msg->body) {
	case RLB_BODY_LENGTH:
		r->body_left = msg->content_length;
		r->state = r->body_left ? LOAD_RESP_LENGTH : LOAD_RESP_DONE;
		break;
	case RLB_BODY_CHUNKED:
		r->state = LOAD_RESP_CHUNKED;
		break;
	case RLB_BODY_EOF:
		r->state = LOAD_RESP_EOF;
		r->keep_alive = 0;
		break;
	default:
		r->state = LOAD_RESP_DONE;
	}
	if (msg->status == 101) /* the connection now speaks something else */
		r->keep_alive = 0;
}

static ssize_t feed_head(struct load_response *r, struct rlb_http_msg *msg, const char *buf, size_t len,
			 size_t max_head_bytes, int head_request)
{
	struct rlb_http_limits lim = { .max_head_bytes = max_head_bytes, .max_target_bytes = max_head_bytes };
	ssize_t n = rlb_http_parse_response(buf, len, r->head_scanned, &lim, head_request, msg);

	if (n == -EAGAIN) {
		r->head_scanned = len;
		return 0;
	}
	if (n < 0)
		return -EBADMSG;
	r->head_scanned = 0;
	if (msg->status >= 100 && msg->status < 200 && msg->status != 101)
		return n; /* interim: the final head follows */
	head_done(r, msg);
	return n;
}

ssize_t load_response_feed(struct load_response *r, struct rlb_http_msg *msg, const char *buf, size_t len,
			   size_t max_head_bytes, int head_request)
{
	ssize_t n;

	switch (r->state) {
	case LOAD_RESP_HEAD:
		return feed_head(r, msg, buf, len, max_head_bytes, head_request);
	case LOAD_RESP_LENGTH:
		n = (ssize_t)(len < r->body_left ? len : r->body_left);
		r->body_left -= (uint64_t)n;
		if (r->body_left == 0)
			r->state = LOAD_RESP_DONE;
		return n;
	case LOAD_RESP_CHUNKED:
		n = rlb_chunked_feed(&r->chunked, buf, len);
		if (n >= 0 && r->chunked.done)
			r->state = LOAD_RESP_DONE;
		return n < 0 ? -EBADMSG : n;
	case LOAD_RESP_EOF:
		return (ssize_t)len;
	default:
		return 0;
	}
}

int load_response_eof(struct load_response *r)
{
	if (r->state == LOAD_RESP_EOF) {
		r->state = LOAD_RESP_DONE;
		return 0;
	}
	return r->state == LOAD_RESP_DONE ? 0 : -ECONNRESET;
}
