/* The N-worker FIFO queue (capacity.h). */
#include "tools/testserver/capacity.h"

#include <errno.h>
#include <stdlib.h>

int capacity_init(struct capacity *c, uint32_t workers)
{
	c->workers = workers;
	c->free_at_us = NULL;
	if (!workers)
		return 0;
	c->free_at_us = calloc(workers, sizeof(*c->free_at_us));
	return c->free_at_us ? 0 : -ENOMEM;
}

/* The root grew: move it down to its place. */
static void sift_down(uint64_t *h, uint32_t n)
{
	uint32_t i = 0;

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t t;

		if (l < n && h[l] < h[m])
			m = l;
		if (r < n && h[r] < h[m])
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

uint64_t capacity_due_us(struct capacity *c, uint64_t now_us, uint64_t service_us)
{
	uint64_t due_us;

	if (!c->workers)
		return now_us + service_us;
	/* the worker free first takes it, at once or when it is free */
	due_us = (c->free_at_us[0] > now_us ? c->free_at_us[0] : now_us) + service_us;
	c->free_at_us[0] = due_us;
	sift_down(c->free_at_us, c->workers);
	return due_us;
}

void capacity_reset(struct capacity *c)
{
	for (uint32_t i = 0; i < c->workers; i++)
		c->free_at_us[i] = 0;
}

void capacity_free(struct capacity *c)
{
	free(c->free_at_us);
	c->free_at_us = NULL;
}
