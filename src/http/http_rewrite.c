/* Builds the heads we forward: hop-by-hop headers removed (RFC 9110 7.6.1),
 * X-Forwarded-For / X-Forwarded-Proto added, Connection set for our side of
 * each hop. Bodies are never rewritten; their framing headers
 * (Content-Length, Transfer-Encoding) pass unchanged because the parser has
 * already refused every ambiguous combination.
 *
 * The seam with the parser: framing was decided from the parsed head, so
 * nothing here may remove a header that decided it. The parser refuses a
 * Connection header naming Content-Length, Transfer-Encoding or Host
 * (RLB_HTTP_CONN_FRAMING); a head carrying that flag never gets here. */
#include <assert.h>
#include <string.h>

#include "http/proxy.h"

/* Headers that describe one connection, not the message. */
static int is_hop_by_hop(const struct rlb_http_header *h)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection", "te",
					     "upgrade", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (rlb_http_token_eq(h->name, h->name_len, names[i]))
			return 1;
	return 0;
}

/* A header the Connection header names ("Connection: close, X-Foo") is
 * hop-by-hop too. */
static int named_by_connection(const struct rlb_http_msg *m, const struct rlb_http_header *h)
{
	char name[128];
	size_t i;

	if (!(m->flags & RLB_HTTP_CONN_OTHER) || h->name_len >= sizeof(name))
		return 0;
	memcpy(name, h->name, h->name_len);
	name[h->name_len] = '\0';
	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *c = &m->headers[i];

		if (rlb_http_token_eq(c->name, c->name_len, "connection") &&
		    rlb_http_list_has(c->value, c->value_len, name))
			return 1;
	}
	return 0;
}

/* Appends to a head; the first allocation failure sticks, so a head with a
 * piece missing is never returned as complete. */
struct writer {
	struct rlb_buf *out;
	int rc;
};

static inline void put(struct writer *w, const char *s, size_t len)
{
	struct rlb_buf *out = w->out;

	if (w->rc == 0 && out->len + len <= out->cap) { /* the usual case: room reserved up front */
		memcpy(out->data + out->len, s, len);
		out->len += (uint32_t)len;
	} else if (w->rc == 0) {
		w->rc = rlb_buf_append(out, s, len);
	}
}

/* Room for a rewritten head in one allocation: the parsed head's span
 * (request line to the last header) and what we add, X-Forwarded-Host
 * included for any usual Host. Only a hint: put() grows the buffer if it is
 * short. */
static void reserve_for(struct writer *w, const struct rlb_http_msg *m, const char *start)
{
	const struct rlb_http_header *last = m->num_headers ? &m->headers[m->num_headers - 1] : NULL;
	size_t span = last ? (size_t)(last->value + last->value_len - start) : 64;

	w->rc = rlb_buf_reserve(w->out, span + 320);
}

static void put_str(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_header(struct writer *w, const struct rlb_http_header *h)
{
	put(w, h->name, h->name_len);
	put(w, ": ", 2);
	put(w, h->value, h->value_len);
	put(w, "\r\n", 2);
}

/* Copies the end-to-end headers; skip() names more to leave out. */
static void copy_headers(struct writer *w, const struct rlb_http_msg *m, int keep_upgrade,
			 int (*skip)(const struct rlb_http_header *))
{
	size_t i;

	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];
		int upgrade = keep_upgrade && rlb_http_token_eq(h->name, h->name_len, "upgrade");

		/* The Upgrade we keep stays, whatever else Connection names. */
		if ((!upgrade && (is_hop_by_hop(h) || named_by_connection(m, h))) || (skip && skip(h)))
			continue;
		put_header(w, h);
	}
}

/* Whether a header name is lit with '_' read as '-', case-insensitively:
 * CGI, WSGI and Rack turn both X_Forwarded_Proto and X-Forwarded-Proto into
 * HTTP_X_FORWARDED_PROTO, so a client's underscore spelling could stand in
 * for the header we set. */
static int prefix_like(const struct rlb_http_header *h, const char *lit, size_t n)
{
	size_t i;

	if (h->name_len < n)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h->name[i] == '_' ? '-' : h->name[i];

		if ((c | 0x20) != (lit[i] | 0x20))
			return 0;
	}
	return 1;
}

static int name_like(const struct rlb_http_header *h, const char *lit)
{
	size_t n = strlen(lit);

	return h->name_len == n && prefix_like(h, lit, n);
}

/* The headers ringlb owns as the edge: a client's copies never pass. That
 * is the whole X-Forwarded-* family, not only the four we write: apps and
 * frameworks read X-Forwarded-Ssl, -Scheme, -Prefix, -Server too (Rack
 * takes X-Forwarded-Ssl: on as https, Werkzeug's ProxyFix takes the
 * prefix), and so the nginx names X-Real-IP and Front-End-Https. A client
 * must not be able to claim any of them. X-Forwarded-For's chain is kept,
 * but only under its exact name, and is written again by put_forwarded.
 * Forwarded (RFC 7239) is removed, not rewritten: apps read its first
 * element, which a client would control. */
static int is_owned_header(const struct rlb_http_header *h)
{
	char first = (char)(h->name[0] | 0x20);

	/* Most headers are none of these: decided by the first byte. */
	if (first == 'x')
		return prefix_like(h, "x-forwarded-", 12) || name_like(h, "x-real-ip");
	if (first == 'f')
		return rlb_http_token_eq(h->name, h->name_len, "forwarded") || name_like(h, "front-end-https");
	return 0;
}

/* X-Forwarded-For: the incoming chain, then the client we saw (nginx's
 * $proxy_add_x_forwarded_for). X-Forwarded-Proto, -Host and -Port are ours
 * alone: a client must not be able to claim https, another host or port. */
static void put_forwarded(struct writer *w, const struct rlb_http_msg *m, const struct rlb_rewrite_ctx *ctx)
{
	size_t i;

	put_str(w, "X-Forwarded-For: ");
	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];

		if (!rlb_http_token_eq(h->name, h->name_len, "x-forwarded-for") || h->value_len == 0)
			continue;
		put(w, h->value, h->value_len);
		put(w, ", ", 2);
	}
	put_str(w, ctx->client_ip);
	put_str(w, "\r\nX-Forwarded-Proto: http\r\n");
	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];

		if (rlb_http_token_eq(h->name, h->name_len, "host")) {
			put_str(w, "X-Forwarded-Host: ");
			put(w, h->value, h->value_len);
			put(w, "\r\n", 2);
		}
	}
	put_str(w, "X-Forwarded-Port: ");
	put_str(w, ctx->listen_port);
	put(w, "\r\n", 2);
}

int rlb_rewrite_request(const struct rlb_http_msg *m, const struct rlb_rewrite_ctx *ctx, struct rlb_buf *out)
{
	int upgrade = (m->flags & RLB_HTTP_HAS_UPGRADE) && (m->flags & RLB_HTTP_CONN_UPGRADE);
	struct writer w = { out, 0 };

	assert(!(m->flags & RLB_HTTP_CONN_FRAMING));
	reserve_for(&w, m, m->method);
	put(&w, m->method, m->method_len);
	put(&w, " ", 1);
	put(&w, m->target, m->target_len);
	/* An HTTP/1.0 client cannot read chunked: ask the server as 1.0 too, so
	 * it never chunks (nginx's default), but keep the connection for reuse. */
	put_str(&w, m->minor_version ? " HTTP/1.1\r\n" : " HTTP/1.0\r\nConnection: keep-alive\r\n");
	if (!(m->flags & RLB_HTTP_HAS_HOST)) {
		put_str(&w, "Host: ");
		put_str(&w, ctx->host_fallback);
		put(&w, "\r\n", 2);
	}
	copy_headers(&w, m, upgrade, is_owned_header);
	if (upgrade)
		put_str(&w, "Connection: upgrade\r\n");
	put_forwarded(&w, m, ctx);
	put(&w, "\r\n", 2);
	return w.rc;
}

int rlb_rewrite_response(const struct rlb_http_msg *m, int keep_alive, int client_minor, int upgrade,
			 struct rlb_buf *out)
{
	struct writer w = { out, 0 };
	char line[] = "HTTP/1.1 000 ";

	assert(!(m->flags & RLB_HTTP_CONN_FRAMING));
	reserve_for(&w, m, m->reason); /* (the message keeps a stale method pointer) */
	line[9] = (char)('0' + m->status / 100); /* the parser took three digits, 100..599 */
	line[10] = (char)('0' + m->status / 10 % 10);
	line[11] = (char)('0' + m->status % 10);
	put(&w, line, sizeof(line) - 1);
	put(&w, m->reason, m->reason_len);
	put(&w, "\r\n", 2);
	copy_headers(&w, m, upgrade, NULL);
	if (upgrade)
		put_str(&w, "Connection: upgrade\r\n");
	else if (!keep_alive)
		put_str(&w, "Connection: close\r\n");
	else if (client_minor == 0)
		put_str(&w, "Connection: keep-alive\r\n");
	put(&w, "\r\n", 2);
	return w.rc;
}
