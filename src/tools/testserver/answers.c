/* The answers made once at start (answers.h). */
#include "tools/testserver/answers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Status line and body of each kind; a NULL body is the --size body. */
static const struct {
	int status;
	const char *reason;
	const char *body;
} kinds[ANSWER_KINDS] = {
	[ANSWER_OK] = { 200, "OK", NULL },
	[ANSWER_ERROR] = { 500, "Internal Server Error", NULL },
	[ANSWER_HEALTH_OK] = { 200, "OK", "ok" },
	[ANSWER_HEALTH_SICK] = { 503, "Service Unavailable", "sick" },
	[ANSWER_CONTINUE] = { 100, "Continue", "" },
	[ANSWER_400] = { 400, "Bad Request", "bad request\n" },
	[ANSWER_414] = { 414, "URI Too Long", "uri too long\n" },
	[ANSWER_431] = { 431, "Request Header Fields Too Large", "header too large\n" },
	[ANSWER_501] = { 501, "Not Implemented", "not implemented\n" },
	[ANSWER_505] = { 505, "HTTP Version Not Supported", "http version not supported\n" },
};

static const char *const conn_header[CONN_MODES] = {
	[CONN_KEEP] = "",
	[CONN_KEEP_10] = "Connection: keep-alive\r\n",
	[CONN_CLOSE] = "Connection: close\r\n",
};

enum answer_kind answer_kind_for_status(int status)
{
	for (int k = ANSWER_400; k < ANSWER_KINDS; k++) {
		if (kinds[k].status == status)
			return (enum answer_kind)k;
	}
	return ANSWER_400;
}

/* An interim 100 carries nothing but its status line. */
static int make_head(struct answers *t, int kind, int conn, const char *name)
{
	char *head;
	int n;

	if (kind == ANSWER_CONTINUE)
		n = asprintf(&head, "HTTP/1.1 100 Continue\r\n\r\n");
	else
		n = asprintf(&head, "HTTP/1.1 %d %s\r\nX-Server: %s\r\nContent-Length: %zu\r\n%s\r\n",
			     kinds[kind].status, kinds[kind].reason, name, t->body_len[kind],
			     conn_header[conn]);
	if (n < 0)
		return -ENOMEM;
	t->head[kind][conn] = head;
	t->head_len[kind][conn] = (size_t)n;
	return 0;
}

int answers_init(struct answers *t, const char *name, uint64_t body_bytes)
{
	memset(t, 0, sizeof(*t));
	t->sized_body = malloc(body_bytes ? body_bytes : 1);
	if (!t->sized_body)
		return -ENOMEM;
	memset(t->sized_body, 'x', body_bytes);
	for (int k = 0; k < ANSWER_KINDS; k++) {
		t->body[k] = kinds[k].body ? kinds[k].body : t->sized_body;
		t->body_len[k] = kinds[k].body ? strlen(kinds[k].body) : body_bytes;
		for (int c = 0; c < CONN_MODES; c++) {
			if (make_head(t, k, c, name) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

void answers_free(struct answers *t)
{
	for (int k = 0; k < ANSWER_KINDS; k++) {
		for (int c = 0; c < CONN_MODES; c++)
			free(t->head[k][c]);
	}
	free(t->sized_body);
	memset(t, 0, sizeof(*t));
}

size_t answer_len(const struct answers *t, struct answer a)
{
	return t->head_len[a.kind][a.conn] + (a.head_only ? 0 : t->body_len[a.kind]);
}

/* Appends the part of [p, p + len) past *skip to iov; *skip shrinks by what
 * it covered. Returns the entries added (0 or 1). */
static int add_part(const char *p, size_t len, size_t *skip, struct iovec *iov)
{
	if (*skip >= len) {
		*skip -= len;
		return 0;
	}
	iov->iov_base = (void *)(p + *skip);
	iov->iov_len = len - *skip;
	*skip = 0;
	return 1;
}

int answer_iov(const struct answers *t, struct answer a, size_t skip_bytes, struct iovec *iov)
{
	int n = add_part(t->head[a.kind][a.conn], t->head_len[a.kind][a.conn], &skip_bytes, iov);

	if (!a.head_only)
		n += add_part(t->body[a.kind], t->body_len[a.kind], &skip_bytes, iov + n);
	return n;
}
