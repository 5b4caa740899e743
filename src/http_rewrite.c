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

/* Appends to a head; the first allocation failure sticks, so a head with a
 * piece missing is never returned as complete. */
struct writer {
	struct rlb_buf *out;
	int rc;
};

static void put(struct writer *w, const char *s, size_t len)
{
	if (w->rc == 0)
		w->rc = rlb_buf_append(w->out, s, len);
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

		if ((!upgrade && is_hop_by_hop(h)) || named_by_connection(m, h) || (skip && skip(h)))
			continue;
		put_header(w, h);
	}
}

static int is_forwarded_header(const struct rlb_http_header *h)
{
	return rlb_http_token_eq(h->name, h->name_len, "x-forwarded-for") ||
	       rlb_http_token_eq(h->name, h->name_len, "x-forwarded-proto");
}

/* X-Forwarded-For: the incoming chain, then the client we saw (nginx's
 * $proxy_add_x_forwarded_for). X-Forwarded-Proto is ours alone: a client
 * must not be able to claim https. */
static void put_forwarded(struct writer *w, const struct rlb_http_msg *m, const char *client_ip)
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
	put_str(w, client_ip);
	put_str(w, "\r\nX-Forwarded-Proto: http\r\n");
}

int rlb_rewrite_request(const struct rlb_http_msg *m, const char *client_ip, const char *host_fallback,
			struct rlb_buf *out)
{
	int upgrade = (m->flags & RLB_HTTP_HAS_UPGRADE) && (m->flags & RLB_HTTP_CONN_UPGRADE);
	struct writer w = { out, 0 };

	put(&w, m->method, m->method_len);
	put(&w, " ", 1);
	put(&w, m->target, m->target_len);
	/* An HTTP/1.0 client cannot read chunked: ask the server as 1.0 too, so
	 * it never chunks (nginx's default), but keep the connection for reuse. */
	put_str(&w, m->minor_version ? " HTTP/1.1\r\n" : " HTTP/1.0\r\nConnection: keep-alive\r\n");
	if (!(m->flags & RLB_HTTP_HAS_HOST)) {
		put_str(&w, "Host: ");
		put_str(&w, host_fallback);
		put(&w, "\r\n", 2);
	}
	copy_headers(&w, m, upgrade, is_forwarded_header);
	if (upgrade)
		put_str(&w, "Connection: upgrade\r\n");
	put_forwarded(&w, m, client_ip);
	put(&w, "\r\n", 2);
	return w.rc;
}

int rlb_rewrite_response(const struct rlb_http_msg *m, int keep_alive, int client_minor, int upgrade,
			 struct rlb_buf *out)
{
	struct writer w = { out, 0 };
	char line[32];

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", m->status);
	put_str(&w, line);
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
