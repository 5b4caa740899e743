/* Growable byte buffers for message heads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"

int rlb_buf_reserve(struct rlb_buf *b, size_t extra)
{
	size_t need = (size_t)b->len + extra, cap = b->cap ? b->cap : 512;
	char *p;

	if (need <= b->cap)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = (uint32_t)cap;
	return 0;
}

int rlb_buf_append(struct rlb_buf *b, const void *data, size_t len)
{
	int rc = rlb_buf_reserve(b, len);

	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += (uint32_t)len;
	return 0;
}

int rlb_buf_printf(struct rlb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || rlb_buf_reserve(b, (size_t)n + 1) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (uint32_t)n;
	return 0;
}

void rlb_buf_free(struct rlb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
