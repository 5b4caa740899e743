/* The min-heap of pending answers (due_heap.h). */
#include "tools/testserver/due_heap.h"

#include <errno.h>
#include <stdlib.h>

static int before(const struct due_entry *a, const struct due_entry *b)
{
	return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void swap(struct due_entry *a, struct due_entry *b)
{
	struct due_entry t = *a;

	*a = *b;
	*b = t;
}

static void sift_up(struct due_heap *h, size_t i)
{
	while (i > 0 && before(&h->e[i], &h->e[(i - 1) / 2])) {
		swap(&h->e[i], &h->e[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct due_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;

		if (l < h->n && before(&h->e[l], &h->e[min]))
			min = l;
		if (r < h->n && before(&h->e[r], &h->e[min]))
			min = r;
		if (min == i)
			return;
		swap(&h->e[i], &h->e[min]);
		i = min;
	}
}

int due_heap_push(struct due_heap *h, uint64_t due_us, struct client *c, struct answer a)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		struct due_entry *e = realloc(h->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		h->e = e;
		h->cap = cap;
	}
	h->e[h->n] = (struct due_entry){ due_us, h->next_seq++, c, a };
	sift_up(h, h->n++);
	return 0;
}

int due_heap_pop(struct due_heap *h, struct due_entry *out)
{
	if (!h->n)
		return -ENOENT;
	*out = h->e[0];
	h->e[0] = h->e[--h->n];
	sift_down(h, 0);
	return 0;
}

void due_heap_free(struct due_heap *h)
{
	free(h->e);
	*h = (struct due_heap){ 0 };
}
