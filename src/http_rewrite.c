/* Builds the heads we forward: hop-by-hop headers removed (RFC 9110 7.6.1),
 * X-Forwarded-For / X-Forwarded-Proto added, Connection set for our side of
 * each hop. Bodies are never rewritten; their framing headers
 * (Content-Length, Transfer-Encoding) pass unchanged because the parser has
 * already refused every ambiguous combination. */
#include <stdio.h>
#include <string.h>

#include "worker.h"

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

static int put(struct rlb_buf *out, const char *s, size_t len)
{
	return rlb_buf_append(out, s, len);
}

static int put_str(struct rlb_buf *out, const char *s)
{
	return put(out, s, strlen(s));
}

static int put_header(struct rlb_buf *out, const struct rlb_http_header *h)
{
	int rc = rlb_buf_reserve(out, h->name_len + h->value_len + 4);

	if (rc < 0)
		return rc;
	put(out, h->name, h->name_len);
	put(out, ": ", 2);
	put(out, h->value, h->value_len);
	return put(out, "\r\n", 2);
}

/* Copies the end-to-end headers; skip() names more to leave out. */
static int copy_headers(const struct rlb_http_msg *m, struct rlb_buf *out, int keep_upgrade,
			int (*skip)(const struct rlb_http_header *))
{
	size_t i;
	int rc;

	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];
		int upgrade = keep_upgrade && rlb_http_token_eq(h->name, h->name_len, "upgrade");

		if ((!upgrade && is_hop_by_hop(h)) || named_by_connection(m, h) || (skip && skip(h)))
			continue;
		rc = put_header(out, h);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int is_forwarded_header(const struct rlb_http_header *h)
{
	return rlb_http_token_eq(h->name, h->name_len, "x-forwarded-for") ||
	       rlb_http_token_eq(h->name, h->name_len, "x-forwarded-proto");
}

/* X-Forwarded-For: the incoming chain, then the client we saw (nginx's
 * $proxy_add_x_forwarded_for). X-Forwarded-Proto is ours alone: a client
 * must not be able to claim https. */
static int put_forwarded(const struct rlb_http_msg *m, const char *client_ip, struct rlb_buf *out)
{
	size_t i;
	int first = 1;

	put_str(out, "X-Forwarded-For: ");
	for (i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];

		if (!rlb_http_token_eq(h->name, h->name_len, "x-forwarded-for") || h->value_len == 0)
			continue;
		if (!first)
			put(out, ", ", 2);
		put(out, h->value, h->value_len);
		first = 0;
	}
	if (!first)
		put(out, ", ", 2);
	put_str(out, client_ip);
	return put_str(out, "\r\nX-Forwarded-Proto: http\r\n");
}

int rlb_rewrite_request(const struct rlb_http_msg *m, const char *client_ip, const char *host_fallback,
			struct rlb_buf *out)
{
	int upgrade = (m->flags & RLB_HTTP_HAS_UPGRADE) && (m->flags & RLB_HTTP_CONN_UPGRADE);
	int rc;

	rc = rlb_buf_reserve(out, m->method_len + m->target_len + 16);
	if (rc < 0)
		return rc;
	put(out, m->method, m->method_len);
	put(out, " ", 1);
	put(out, m->target, m->target_len);
	/* An HTTP/1.0 client cannot read chunked: ask the server as 1.0 too, so
	 * it never chunks (nginx's default), but keep the connection for reuse. */
	put_str(out, m->minor_version ? " HTTP/1.1\r\n" : " HTTP/1.0\r\nConnection: keep-alive\r\n");
	if (!(m->flags & RLB_HTTP_HAS_HOST)) {
		put_str(out, "Host: ");
		put_str(out, host_fallback);
		put(out, "\r\n", 2);
	}
	rc = copy_headers(m, out, upgrade, is_forwarded_header);
	if (rc < 0)
		return rc;
	if (upgrade)
		put_str(out, "Connection: upgrade\r\n");
	put_forwarded(m, client_ip, out);
	return put(out, "\r\n", 2);
}

int rlb_rewrite_response(const struct rlb_http_msg *m, int keep_alive, int client_minor, int upgrade,
			 struct rlb_buf *out)
{
	char line[32];
	int rc;

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", m->status);
	rc = rlb_buf_reserve(out, strlen(line) + m->reason_len + 2);
	if (rc < 0)
		return rc;
	put_str(out, line);
	put(out, m->reason, m->reason_len);
	put(out, "\r\n", 2);
	rc = copy_headers(m, out, upgrade, NULL);
	if (rc < 0)
		return rc;
	if (upgrade)
		put_str(out, "Connection: upgrade\r\n");
	else if (!keep_alive)
		put_str(out, "Connection: close\r\n");
	else if (client_minor == 0)
		put_str(out, "Connection: keep-alive\r\n");
	return put(out, "\r\n", 2);
}
