/* Answers waiting for their time: a binary min-heap ordered by due time,
 * then by the order they were queued, so two answers due at the same
 * microsecond keep their order (a connection's answers go out in order).
 * One heap for the whole server drives one io_uring timeout: thousands of
 * pending answers cost one timer in the kernel. Pure: no I/O. */
#ifndef RINGLB_TESTSERVER_DUE_HEAP_H
#define RINGLB_TESTSERVER_DUE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "tools/testserver/answers.h"

struct client;

struct due_entry {
	uint64_t due_us;  /* CLOCK_MONOTONIC */
	uint64_t seq;     /* queue order: the tie-break */
	struct client *client; /* holds a count in client->pending until popped */
	struct answer answer;
};

struct due_heap {
	struct due_entry *e;
	size_t n, cap;
	uint64_t next_seq;
};

/** Adds an entry (seq is assigned here). Returns 0 or -ENOMEM. */
int due_heap_push(struct due_heap *h, uint64_t due_us, struct client *c, struct answer a);

/** The earliest entry, or NULL when empty. Valid until the next push or pop. */
static inline const struct due_entry *due_heap_top(const struct due_heap *h)
{
	return h->n ? &h->e[0] : NULL;
}

/** Removes the earliest entry into *out. Returns 0, or -ENOENT when empty. */
int due_heap_pop(struct due_heap *h, struct due_entry *out);

void due_heap_free(struct due_heap *h);

#endif
