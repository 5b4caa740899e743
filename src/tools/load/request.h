/* The request every connection sends: built once from the command line, so
 * that sending one costs two memcpys and, with --key-header, one number. */
#ifndef RINGLB_LOAD_REQUEST_H
#define RINGLB_LOAD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

struct load_request {
	char *head_start;    /* request line, Host, --header lines */
	size_t head_start_bytes;
	char *head_end;      /* Content-Length (with --body-size) and the empty line */
	size_t head_end_bytes;
	const char *key_header; /* NULL: no key header */
	char *body;          /* body_bytes of 'x', shared by every connection */
	size_t body_bytes;
	int head_request;    /* HEAD: the response has no body */
	size_t head_max_bytes; /* a buffer this long holds any head load_request_head() writes */
};

/**
 * Builds the request. method, path (starts with '/'), host (the Host value
 * unless one of headers[0 .. n_headers) is a Host header: "Name: value", no
 * CR or LF), key_header (NULL for none), body_bytes (0: no body, no
 * Content-Length). The strings are copied. Returns 0 or -ENOMEM.
 */
int load_request_init(struct load_request *r, const char *method, const char *path, const char *host,
		      const char *const *headers, unsigned n_headers, const char *key_header, size_t body_bytes);

/** Writes the head carrying key (ignored without a key header) into out,
 * which is at least r->head_max_bytes long; returns its length. */
size_t load_request_head(const struct load_request *r, char *out, uint32_t key);

void load_request_free(struct load_request *r);

#endif
