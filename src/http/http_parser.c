/* Strict HTTP/1.1 head and chunked-framing parser. Contract in
 * include/ringlb/http_parser.h; every rejection here is one a smuggling or
 * desync attack could otherwise use. */
#include "ringlb/http_parser.h"

#include <errno.h>
#include <string.h>

/* tchar (RFC 9110 5.6.2): the bytes allowed in methods and field names. */
static const char tchar_set[] = "!#$%&'*+-.^_`|~";

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr(tchar_set, c) != NULL;
}

/* field-vchar, SP and HTAB (RFC 9110 5.5); obs-text is accepted, CTLs are not. */
static int is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Request-target bytes: visible ASCII only (RFC 3986 has no raw SP, CTL or 8-bit). */
static int is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int rlb_http_token_eq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (lit[i] == '\0' || lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return 0;
	return lit[len] == '\0';
}

/* Calls fn for each non-empty element of a comma-separated list, trimmed of
 * OWS; stops early and returns fn's non-zero result. */
static int list_each(const char *v, size_t len, int (*fn)(const char *, size_t, void *), void *arg)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;
		int rc;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end > start && (rc = fn(v + start, end - start, arg)) != 0)
			return rc;
	}
	return 0;
}

static int match_token(const char *tok, size_t len, void *arg)
{
	return rlb_http_token_eq(tok, len, arg);
}

int rlb_http_list_has(const char *value, size_t len, const char *lit)
{
	return list_each(value, len, match_token, (void *)lit);
}

/* Returns the offset just past the blank line ending the head, or -EAGAIN.
 * A bare "\n\n" also ends the head here, so the line checks can reject it
 * instead of waiting for a CRLF that never comes. */
static ssize_t find_head_end(const char *buf, size_t len, size_t start, size_t last_len)
{
	size_t i = last_len > start + 3 ? last_len - 3 : start;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);

		if (nl == NULL)
			return -EAGAIN;
		i = (size_t)(nl - buf) + 1;
		if (i < len && buf[i] == '\n')
			return (ssize_t)i + 1;
		if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
			return (ssize_t)i + 2;
		if (i + 1 >= len)
			return -EAGAIN;
	}
	return -EAGAIN;
}

static ssize_t fail(struct rlb_http_msg *m, int status, const char *why, ssize_t err)
{
	m->error_status = status;
	m->error = why;
	return err;
}

/* State carried across header lines for framing decisions. */
struct framing {
	int te_seen, te_chunked_last, te_chunked_seen, te_chunked_early, cl_seen, host_seen;
	const char *error;
};

static int parse_content_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 18) /* 18 digits cannot overflow 63 bits */
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

static int te_element(const char *tok, size_t len, void *arg)
{
	struct framing *f = arg;

	if (f->te_chunked_seen)
		f->te_chunked_early = 1; /* a coding after chunked */
	f->te_chunked_last = rlb_http_token_eq(tok, len, "chunked");
	f->te_chunked_seen |= f->te_chunked_last;
	return 0;
}

/* Headers that decide how a message is framed or where it goes. A
 * Connection header naming one would have the next hop drop it (RFC 9110
 * 7.6.1) after we framed by it: the two would disagree on where the message
 * ends. No honest sender does that, so the message is refused. */
static int names_framing_header(const char *tok, size_t len)
{
	return rlb_http_token_eq(tok, len, "content-length") || rlb_http_token_eq(tok, len, "transfer-encoding") ||
	       rlb_http_token_eq(tok, len, "host");
}

static int conn_element(const char *tok, size_t len, void *arg)
{
	uint32_t *flags = arg;

	if (names_framing_header(tok, len))
		*flags |= RLB_HTTP_CONN_FRAMING;
	if (rlb_http_token_eq(tok, len, "close"))
		*flags |= RLB_HTTP_CONN_CLOSE;
	else if (rlb_http_token_eq(tok, len, "keep-alive"))
		*flags |= RLB_HTTP_CONN_KEEPALIVE;
	else if (rlb_http_token_eq(tok, len, "upgrade"))
		*flags |= RLB_HTTP_CONN_UPGRADE;
	else
		*flags |= RLB_HTTP_CONN_OTHER;
	return 0;
}

/* Applies the meaning of one header to msg and the framing state.
 * Returns 0, or -1 with f->error set. */
static int note_header(struct rlb_http_msg *m, struct framing *f, const struct rlb_http_header *h)
{
	const char *n = h->name;
	size_t nl = h->name_len;

	if (rlb_http_token_eq(n, nl, "content-length")) {
		if (f->cl_seen) {
			f->error = "duplicate Content-Length";
			return -1;
		}
		f->cl_seen = 1;
		if (parse_content_length(h->value, h->value_len, &m->content_length) < 0) {
			f->error = "invalid Content-Length";
			return -1;
		}
	} else if (rlb_http_token_eq(n, nl, "transfer-encoding")) {
		f->te_seen = 1;
		if (list_each(h->value, h->value_len, te_element, f))
			return -1;
	} else if (rlb_http_token_eq(n, nl, "host")) {
		if (f->host_seen) {
			f->error = "duplicate Host";
			return -1;
		}
		f->host_seen = 1;
		m->flags |= RLB_HTTP_HAS_HOST;
	} else if (rlb_http_token_eq(n, nl, "connection")) {
		list_each(h->value, h->value_len, conn_element, &m->flags);
	} else if (rlb_http_token_eq(n, nl, "upgrade")) {
		m->flags |= RLB_HTTP_HAS_UPGRADE;
	} else if (rlb_http_token_eq(n, nl, "expect")) {
		if (rlb_http_token_eq(h->value, h->value_len, "100-continue"))
			m->flags |= RLB_HTTP_EXPECT_CONTINUE;
	}
	return 0;
}

/* Parses one "name: value CRLF" line starting at p; returns the next line's
 * offset or -1 with *why set. */
static ssize_t parse_header_line(const char *buf, size_t p, size_t end,
				 struct rlb_http_header *h, const char **why)
{
	size_t i = p, vstart, vend;

	if (buf[i] == ' ' || buf[i] == '\t') {
		*why = "obsolete line folding";
		return -1;
	}
	while (i < end && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == p || i >= end || buf[i] != ':') {
		*why = (i < end && (buf[i] == ' ' || buf[i] == '\t')) ?
		       "whitespace before colon" : "invalid header name";
		return -1;
	}
	h->name = buf + p;
	h->name_len = (uint32_t)(i - p);
	i++;
	while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	vstart = i;
	while (i < end && is_value_char((unsigned char)buf[i]))
		i++;
	if (i + 1 >= end || buf[i] != '\r' || buf[i + 1] != '\n') {
		*why = buf[i] == '\n' ? "bare LF" : "invalid character in header value";
		return -1;
	}
	vend = i;
	while (vend > vstart && (buf[vend - 1] == ' ' || buf[vend - 1] == '\t'))
		vend--;
	h->value = buf + vstart;
	h->value_len = (uint32_t)(vend - vstart);
	return (ssize_t)i + 2;
}

/* Parses the header lines in buf[p..end) (end includes the final CRLF). */
static ssize_t parse_headers(const char *buf, size_t p, size_t end, struct rlb_http_msg *m,
			     struct framing *f, int bad_status)
{
	while (p + 2 < end || (p + 2 == end && buf[p] != '\r')) {
		struct rlb_http_header *h;
		const char *why = NULL;
		ssize_t next;

		if (m->num_headers == RLB_HTTP_MAX_HEADERS)
			return fail(m, bad_status == 400 ? 431 : 502, "too many headers", -EMSGSIZE);
		h = &m->headers[m->num_headers];
		next = parse_header_line(buf, p, end, h, &why);
		if (next < 0)
			return fail(m, bad_status, why, -EBADMSG);
		if (note_header(m, f, h) < 0)
			return fail(m, bad_status, f->error, -EBADMSG);
		m->num_headers++;
		p = (size_t)next;
	}
	if (buf[p] != '\r')
		return fail(m, bad_status, "bare LF", -EBADMSG);
	return (ssize_t)end;
}

static int parse_version(const char *p, size_t avail, int *minor)
{
	if (avail < 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
		return -1;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -2; /* well formed but not HTTP/1.x */
	*minor = p[7] - '0';
	return 0;
}

static void msg_reset(struct rlb_http_msg *m)
{
	m->num_headers = 0;
	m->flags = 0;
	m->status = 0;
	m->content_length = 0;
	m->body = RLB_BODY_NONE;
	m->error_status = 0;
	m->error = NULL;
}

/* Common first step: skip leading CRLFs (RFC 9112 2.2: at least one should
 * be ignored; a few more are allowed, as old clients send one after a POST
 * body), find the end of the head and enforce the size limit, which counts
 * the skipped lines too. So what a client can make us hold and scan before a
 * request line is bounded by max_head_bytes, and each call scans at most
 * RLB_HTTP_MAX_EMPTY_LINES lines again: never quadratic. Returns the head
 * end or a negative errno. */
static ssize_t locate_head(const char *buf, size_t len, size_t last_len, size_t *start,
			   const struct rlb_http_limits *lim, struct rlb_http_msg *m, int too_big_status)
{
	int bad_status = too_big_status == 431 ? 400 : 502;
	size_t s = 0;
	ssize_t end;

	while (s + 1 < len && buf[s] == '\r' && buf[s + 1] == '\n') {
		if (s / 2 == RLB_HTTP_MAX_EMPTY_LINES)
			return fail(m, bad_status, "too many empty lines before the start line", -EBADMSG);
		s += 2;
	}
	*start = s;
	end = find_head_end(buf, len, s, last_len);
	if (end == -EAGAIN && len > lim->max_head_bytes) {
		/* No line end at all yet: the request line alone is too long. */
		if (too_big_status == 431 && memchr(buf + s, '\n', len - s) == NULL)
			return fail(m, 414, "request line too long", -EMSGSIZE);
		return fail(m, too_big_status, "header section too large", -EMSGSIZE);
	}
	if (end > 0 && (size_t)end > lim->max_head_bytes)
		return fail(m, too_big_status, "header section too large", -EMSGSIZE);
	return end;
}

/* RTSP-only methods (RFC 7826) have no meaning in HTTP; llhttp refuses them
 * too. Other extension methods are tokens and pass (WebDAV, PURGE, ...). */
static int is_rtsp_method(const char *m, size_t len)
{
	static const char *const rtsp[] = { "ANNOUNCE", "DESCRIBE", "GET_PARAMETER", "PAUSE", "PLAY",
					    "PLAY_NOTIFY", "RECORD", "REDIRECT", "SETUP",
					    "SET_PARAMETER", "TEARDOWN", NULL };
	int i;

	for (i = 0; rtsp[i]; i++)
		if (strlen(rtsp[i]) == len && memcmp(rtsp[i], m, len) == 0)
			return 1;
	return 0;
}

static ssize_t parse_request_line(const char *buf, size_t p, size_t end,
				  const struct rlb_http_limits *lim, struct rlb_http_msg *m)
{
	size_t i = p;
	int rc;

	while (i < end && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == p || buf[i] != ' ')
		return fail(m, 400, "invalid method", -EBADMSG);
	m->method = buf + p;
	m->method_len = (uint32_t)(i - p);
	if (m->method_len >= 4 && is_rtsp_method(m->method, m->method_len))
		return fail(m, 400, "RTSP method in an HTTP request", -EBADMSG);
	p = ++i;
	while (i < end && is_target_char((unsigned char)buf[i]))
		i++;
	if (i == p || buf[i] != ' ')
		return fail(m, 400, "invalid request target", -EBADMSG);
	if (i - p > lim->max_target_bytes)
		return fail(m, 414, "request target too long", -EMSGSIZE);
	m->target = buf + p;
	m->target_len = (uint32_t)(i - p);
	i++;
	if (end - i < 10) /* "HTTP/1.1" CRLF */
		return fail(m, 400, "invalid HTTP version", -EBADMSG);
	rc = parse_version(buf + i, end - i, &m->minor_version);
	if (rc == -2)
		return fail(m, 505, "unsupported HTTP version", -ENOTSUP);
	if (rc < 0 || buf[i + 8] != '\r' || buf[i + 9] != '\n')
		return fail(m, 400, "invalid HTTP version", -EBADMSG);
	return (ssize_t)(i + 10);
}

ssize_t rlb_http_parse_request(const char *buf, size_t len, size_t last_len,
			       const struct rlb_http_limits *lim, struct rlb_http_msg *m)
{
	struct framing f = { 0 };
	size_t start;
	ssize_t end, p;

	msg_reset(m);
	end = locate_head(buf, len, last_len, &start, lim, m, 431);
	if (end < 0)
		return end;
	p = parse_request_line(buf, start, (size_t)end, lim, m);
	if (p < 0)
		return p;
	p = parse_headers(buf, (size_t)p, (size_t)end, m, &f, 400);
	if (p < 0)
		return p;
	if (f.te_seen && f.cl_seen)
		return fail(m, 400, "both Content-Length and Transfer-Encoding", -EBADMSG);
	if (f.te_seen && m->minor_version == 0)
		return fail(m, 400, "Transfer-Encoding in HTTP/1.0", -EBADMSG);
	if (f.te_seen && (!f.te_chunked_last || f.te_chunked_early))
		return fail(m, 400, "final transfer coding is not chunked", -EBADMSG);
	if (m->minor_version == 1 && !f.host_seen)
		return fail(m, 400, "missing Host", -EBADMSG);
	if (m->flags & RLB_HTTP_CONN_FRAMING)
		return fail(m, 400, "Connection names Content-Length, Transfer-Encoding or Host", -EBADMSG);
	if (f.te_seen)
		m->body = RLB_BODY_CHUNKED;
	else if (f.cl_seen && m->content_length > 0)
		m->body = RLB_BODY_LENGTH;
	return end;
}

static ssize_t parse_status_line(const char *buf, size_t p, size_t end, struct rlb_http_msg *m)
{
	size_t i = p + 8;
	const char *s;

	if (parse_version(buf + p, end - p, &m->minor_version) != 0 || end - i < 6 || buf[i] != ' ')
		return fail(m, 502, "invalid status line", -EBADMSG);
	s = buf + i + 1;
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
		return fail(m, 502, "invalid status code", -EBADMSG);
	m->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	i += 4;
	if (buf[i] == ' ')
		i++;
	m->reason = buf + i;
	while (i < end && is_value_char((unsigned char)buf[i]))
		i++;
	m->reason_len = (uint32_t)(buf + i - m->reason);
	if (i + 1 >= end || buf[i] != '\r' || buf[i + 1] != '\n')
		return fail(m, 502, "invalid status line", -EBADMSG);
	return (ssize_t)(i + 2);
}

ssize_t rlb_http_parse_response(const char *buf, size_t len, size_t last_len,
				const struct rlb_http_limits *lim, int head_request,
				struct rlb_http_msg *m)
{
	struct framing f = { 0 };
	size_t start;
	ssize_t end, p;

	msg_reset(m);
	end = locate_head(buf, len, last_len, &start, lim, m, 502);
	if (end < 0)
		return end;
	p = parse_status_line(buf, start, (size_t)end, m);
	if (p < 0)
		return p;
	p = parse_headers(buf, (size_t)p, (size_t)end, m, &f, 502);
	if (p < 0)
		return p;
	if (f.te_seen && (f.cl_seen || m->minor_version == 0))
		return fail(m, 502, "ambiguous response framing", -EBADMSG);
	if (m->flags & RLB_HTTP_CONN_FRAMING)
		return fail(m, 502, "Connection names a framing header", -EBADMSG);
	if (head_request || m->status < 200 || m->status == 204 || m->status == 304)
		m->body = RLB_BODY_NONE;
	else if (f.te_seen)
		m->body = f.te_chunked_last && !f.te_chunked_early ? RLB_BODY_CHUNKED : RLB_BODY_EOF;
	else if (f.cl_seen)
		m->body = m->content_length > 0 ? RLB_BODY_LENGTH : RLB_BODY_NONE;
	else
		m->body = RLB_BODY_EOF;
	return end;
}

/* Chunked framing states. */
enum {
	CH_SIZE,         /* first hex digit of a chunk size */
	CH_SIZE_MORE,    /* more hex digits, ';' or CR */
	CH_EXT_NAME_START, /* chunk-ext = *( ";" name [ "=" ( token / quoted-string ) ] ) */
	CH_EXT_NAME,
	CH_EXT_VAL_START,
	CH_EXT_VAL_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QUOTED_ESC,
	CH_EXT_AFTER_QUOTE,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line, or the final CRLF */
	CH_TRAILER_NAME,  /* field-name, up to its colon */
	CH_TRAILER,       /* field-value */
	CH_TRAILER_LF,
	CH_FINAL_LF,
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One byte of a chunk extension, strictly by RFC 9112 7.1.1 (no whitespace:
 * lenient extension parsing is a known desync vector). Returns 0 or -EBADMSG. */
static int chunk_ext_byte(struct rlb_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CH_EXT_NAME_START:
	case CH_EXT_VAL_START:
		if (c->state == CH_EXT_VAL_START && ch == '"')
			c->state = CH_EXT_QUOTED;
		else if (is_tchar(ch))
			c->state = c->state == CH_EXT_NAME_START ? CH_EXT_NAME : CH_EXT_VAL_TOKEN;
		else
			return -EBADMSG;
		return 0;
	case CH_EXT_NAME:
	case CH_EXT_VAL_TOKEN:
	case CH_EXT_AFTER_QUOTE:
		if (ch == ';')
			c->state = CH_EXT_NAME_START;
		else if (ch == '=' && c->state == CH_EXT_NAME)
			c->state = CH_EXT_VAL_START;
		else if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (c->state == CH_EXT_AFTER_QUOTE || !is_tchar(ch))
			return -EBADMSG;
		return 0;
	case CH_EXT_QUOTED:
		if (ch == '"')
			c->state = CH_EXT_AFTER_QUOTE;
		else if (ch == '\\')
			c->state = CH_EXT_QUOTED_ESC;
		else if (!is_value_char(ch))
			return -EBADMSG;
		return 0;
	case CH_EXT_QUOTED_ESC:
		if (!is_value_char(ch))
			return -EBADMSG;
		c->state = CH_EXT_QUOTED;
		return 0;
	}
	return -EBADMSG;
}

/* One byte of the line-oriented states; returns 0 or -EBADMSG. */
static int chunk_line_byte(struct rlb_chunked *c, unsigned char ch)
{
	int h;

	if (++c->line_len > RLB_CHUNK_LINE_MAX)
		return -EBADMSG;
	switch (c->state) {
	case CH_SIZE:
	case CH_SIZE_MORE:
		h = hexval(ch);
		if (h >= 0) {
			/* At most 2^63-1 in at most 16 digits (leading zeros
			 * included), as nginx's off_t cap: a server with a
			 * narrower integer must not read a smaller size. */
			if (c->left > (INT64_MAX >> 4) || ++c->digits > 16)
				return -EBADMSG;
			c->left = (c->left << 4) | (uint64_t)h;
			c->state = CH_SIZE_MORE;
		} else if (c->state == CH_SIZE_MORE && ch == ';') {
			c->state = CH_EXT_NAME_START;
		} else if (c->state == CH_SIZE_MORE && ch == '\r') {
			c->state = CH_SIZE_LF;
		} else {
			return -EBADMSG;
		}
		return 0;
	/* A trailer line is a field line (RFC 9112 7.1.2): a token, a colon,
	 * then a value. A server that merges trailers into the head would read
	 * "X-T v" or "X-T : v" its own way, so neither passes. */
	case CH_TRAILER_START:
		if (ch == '\r')
			c->state = CH_FINAL_LF;
		else if (is_tchar(ch))
			c->state = CH_TRAILER_NAME;
		else
			return -EBADMSG;
		return 0;
	case CH_TRAILER_NAME:
		if (ch == ':')
			c->state = CH_TRAILER;
		else if (!is_tchar(ch))
			return -EBADMSG;
		return 0;
	case CH_TRAILER:
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (!is_value_char(ch))
			return -EBADMSG;
		return 0;
	}
	return chunk_ext_byte(c, ch);
}

/* The LF states; returns 0 or -EBADMSG. */
static int chunk_lf_byte(struct rlb_chunked *c, unsigned char ch)
{
	if (ch != '\n')
		return -EBADMSG;
	c->line_len = 0;
	c->digits = 0;
	switch (c->state) {
	case CH_SIZE_LF:
		c->state = c->left ? CH_DATA : CH_TRAILER_START;
		break;
	case CH_DATA_LF:
		c->state = CH_SIZE;
		break;
	case CH_TRAILER_LF:
		c->state = CH_TRAILER_START;
		break;
	case CH_FINAL_LF:
		c->done = 1;
		break;
	}
	return 0;
}

ssize_t rlb_chunked_feed(struct rlb_chunked *c, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && !c->done) {
		unsigned char ch = (unsigned char)buf[i];
		int rc;

		switch (c->state) {
		case CH_DATA: {
			uint64_t n = len - i < c->left ? len - i : c->left;

			i += n;
			c->left -= n;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -EBADMSG;
			c->state = CH_DATA_LF;
			rc = 0;
			break;
		case CH_SIZE_LF:
		case CH_DATA_LF:
		case CH_TRAILER_LF:
		case CH_FINAL_LF:
			rc = chunk_lf_byte(c, ch);
			break;
		default:
			rc = chunk_line_byte(c, ch);
			break;
		}
		if (rc < 0)
			return rc;
		i++;
	}
	return (ssize_t)i;
}
