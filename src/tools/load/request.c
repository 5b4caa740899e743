/* The request template (contract in request.h). */
#include "tools/load/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int has_host(const char *const *headers, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (strncasecmp(headers[i], "host:", 5) == 0)
			return 1;
	return 0;
}

/* open_memstream: the head's pieces are few and built once. */
static char *build_start(const char *method, const char *path, const char *host, const char *const *headers,
			 unsigned n, size_t *bytes)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, bytes);

	if (!f)
		return NULL;
	fprintf(f, "%s %s HTTP/1.1\r\n", method, path);
	if (!has_host(headers, n))
		fprintf(f, "Host: %s\r\n", host);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s\r\n", headers[i]);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int load_request_init(struct load_request *r, const char *method, const char *path, const char *host,
		      const char *const *headers, unsigned n_headers, const char *key_header, size_t body_bytes)
{
	memset(r, 0, sizeof(*r));
	r->head_request = strcmp(method, "HEAD") == 0; /* methods are case-sensitive */
	r->key_header = key_header;
	r->head_start = build_start(method, path, host, headers, n_headers, &r->head_start_bytes);
	if (body_bytes)
		r->head_end_bytes = (size_t)asprintf(&r->head_end, "Content-Length: %zu\r\n\r\n", body_bytes);
	else
		r->head_end_bytes = (size_t)asprintf(&r->head_end, "\r\n");
	r->body = body_bytes ? malloc(body_bytes) : NULL;
	if (!r->head_start || r->head_end_bytes == (size_t)-1 || (body_bytes && !r->body)) {
		if (r->head_end_bytes == (size_t)-1)
			r->head_end = NULL;
		load_request_free(r);
		return -ENOMEM;
	}
	if (body_bytes)
		memset(r->body, 'x', body_bytes);
	r->body_bytes = body_bytes;
	/* ": k" + 10 digits + CRLF */
	r->head_max_bytes = r->head_start_bytes + (key_header ? strlen(key_header) + 16 : 0) + r->head_end_bytes;
	return 0;
}

size_t load_request_head(const struct load_request *r, char *out, uint32_t key)
{
	size_t len = r->head_start_bytes;

	memcpy(out, r->head_start, len);
	if (r->key_header)
		len += (size_t)sprintf(out + len, "%s: k%u\r\n", r->key_header, key);
	memcpy(out + len, r->head_end, r->head_end_bytes);
	return len + r->head_end_bytes;
}

void load_request_free(struct load_request *r)
{
	free(r->head_start);
	free(r->head_end);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
