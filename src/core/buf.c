/* Growable byte buffers for message heads. */
#include <errno.h>
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

void rlb_buf_free(struct rlb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
