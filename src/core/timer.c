/* Timers: FIFO lists per timeout value (contract in timer.h). A config has a
 * handful of distinct timeouts, so finding a value's list is a short scan. */
#include <stdlib.h>

#include "core/timer.h"

struct rlb_timer_list {
	uint32_t timeout_ms;
	struct rlb_list head;
};

void rlb_timers_init(struct rlb_timers *ts)
{
	*ts = (struct rlb_timers){ 0 };
	rlb_list_init(&ts->sorted);
}

void rlb_timers_free(struct rlb_timers *ts)
{
	for (uint32_t i = 0; i < ts->nlists; i++)
		free(ts->lists[i]);
	free(ts->lists);
	ts->lists = NULL;
	ts->nlists = ts->cap = 0;
}

void rlb_timer_init(struct rlb_timer *t, rlb_timer_fn fire)
{
	rlb_list_init(&t->link);
	t->fire = fire;
}

/* The list for a value, made on first use; NULL if memory ran out. */
static struct rlb_timer_list *list_for(struct rlb_timers *ts, uint32_t timeout_ms)
{
	struct rlb_timer_list *tl;
	uint32_t i;

	for (i = 0; i < ts->nlists; i++)
		if (ts->lists[i]->timeout_ms == timeout_ms)
			return ts->lists[i];
	if (ts->nlists == ts->cap) {
		uint32_t cap = ts->cap ? ts->cap * 2 : 8;
		struct rlb_timer_list **grown = realloc(ts->lists, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		ts->lists = grown;
		ts->cap = cap;
	}
	tl = malloc(sizeof(*tl));
	if (tl == NULL)
		return NULL;
	tl->timeout_ms = timeout_ms;
	rlb_list_init(&tl->head);
	ts->lists[ts->nlists++] = tl;
	return tl;
}

/* Insertion into the fallback list, from the tail: deadlines mostly grow. */
static void insert_sorted(struct rlb_timers *ts, struct rlb_timer *t)
{
	struct rlb_list *at = ts->sorted.prev;

	while (at != &ts->sorted && rlb_container_of(at, struct rlb_timer, link)->deadline_ms > t->deadline_ms)
		at = at->prev;
	rlb_list_add_tail(at->next, &t->link);
}

void rlb_timer_arm(struct rlb_timers *ts, struct rlb_timer *t, uint32_t timeout_ms)
{
	struct rlb_timer_list *tl = list_for(ts, timeout_ms);

	rlb_list_del(&t->link);
	/* At least 1 ms ahead: a callback re-arming a 0 timeout during a run
	 * must not fire again in that same run. */
	t->deadline_ms = ts->now_ms + (timeout_ms ? timeout_ms : 1);
	if (tl != NULL)
		rlb_list_add_tail(&tl->head, &t->link);
	else
		insert_sorted(ts, t);
}

void rlb_timer_cancel(struct rlb_timer *t)
{
	rlb_list_del(&t->link);
}

/* Fires the expired timers at the front of one sorted list. */
static void run_list(struct rlb_timers *ts, struct rlb_list *head)
{
	while (!rlb_list_empty(head)) {
		struct rlb_timer *t = rlb_container_of(head->next, struct rlb_timer, link);

		if (t->deadline_ms > ts->now_ms)
			break;
		rlb_list_del(&t->link);
		t->fire(t);
	}
}

void rlb_timers_run(struct rlb_timers *ts)
{
	for (uint32_t i = 0; i < ts->nlists; i++)
		run_list(ts, &ts->lists[i]->head);
	run_list(ts, &ts->sorted);
}
