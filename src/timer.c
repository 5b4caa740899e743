/* Timers as FIFO lists, one per distinct timeout value.
 *
 * Every timer on a list has the same timeout, so arming appends at the tail
 * and the list stays sorted by deadline: arm, re-arm and cancel are O(1) and
 * the tick only looks at list heads. A config has a handful of distinct
 * timeouts, so the lookup by value is a short scan. */
#include "worker.h"

void rlb_timer_init(struct rlb_timer *t)
{
	rlb_list_init(&t->link);
}

static struct timer_list *list_for(struct worker *w, uint32_t timeout_ms)
{
	int i;

	for (i = 0; i < w->ntimers; i++)
		if (w->timers[i].timeout_ms == timeout_ms)
			return &w->timers[i];
	if (w->ntimers == RLB_TIMER_LISTS)
		return NULL;
	w->timers[i].timeout_ms = timeout_ms;
	rlb_list_init(&w->timers[i].head);
	w->ntimers++;
	return &w->timers[i];
}

void rlb_timer_arm(struct worker *w, struct rlb_timer *t, uint32_t timeout_ms)
{
	struct timer_list *tl = list_for(w, timeout_ms);

	rlb_list_del(&t->link);
	if (tl == NULL) /* more distinct timeouts than lists: cannot happen with sane configs */
		return;
	t->deadline_ms = w->now_ms + timeout_ms;
	rlb_list_add_tail(&tl->head, &t->link);
}

void rlb_timer_cancel(struct rlb_timer *t)
{
	rlb_list_del(&t->link);
}

static void expire(struct rlb_timer *t)
{
	struct conn *c = rlb_container_of(t, struct conn, timer);

	if (c->kind == CONN_CLIENT)
		rlb_session_timeout((struct session *)c);
	else
		rlb_upstream_timeout((struct upstream *)c);
}

void rlb_timers_run(struct worker *w)
{
	int i;

	for (i = 0; i < w->ntimers; i++) {
		struct rlb_list *head = &w->timers[i].head;

		while (!rlb_list_empty(head)) {
			struct rlb_timer *t = rlb_container_of(head->next, struct rlb_timer, link);

			if (t->deadline_ms > w->now_ms)
				break;
			rlb_list_del(&t->link);
			expire(t);
		}
	}
}
