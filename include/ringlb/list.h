/* Intrusive doubly linked list (the Linux list_head idea).
 *
 * Used for per-worker session lists, upstream pools and timer lists: O(1)
 * insert/remove with no allocation. Not thread-safe: a list belongs to one
 * worker. */
#ifndef RINGLB_LIST_H
#define RINGLB_LIST_H

#include <stddef.h>

struct rlb_list {
	struct rlb_list *next, *prev;
};

#define rlb_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline void rlb_list_init(struct rlb_list *l)
{
	l->next = l->prev = l;
}

static inline int rlb_list_empty(const struct rlb_list *l)
{
	return l->next == l;
}

/* Whether a node is on some list (nodes are initialised as empty lists). */
static inline int rlb_list_linked(const struct rlb_list *n)
{
	return n->next != n;
}

static inline void rlb_list_add_tail(struct rlb_list *head, struct rlb_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Removes n from its list (no-op when unlinked) and leaves it unlinked. */
static inline void rlb_list_del(struct rlb_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	rlb_list_init(n);
}

#endif
