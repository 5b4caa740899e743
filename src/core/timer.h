/* Timers as FIFO lists, one per distinct timeout value.
 *
 * Every timer on a list has the same timeout, so arming appends at the tail
 * and the list stays sorted by deadline: arm, re-arm and cancel are O(1) and
 * a run only looks at list heads. A list is made the first time a value is
 * armed, so any number of distinct timeouts works; if that allocation fails,
 * the timer goes to one list kept sorted by insertion (slower, never lost).
 *
 * A timer knows nothing of what it belongs to: it calls its fire callback.
 * Not thread-safe: a set of timers belongs to one thread's loop. */
#ifndef RINGLB_TIMER_H
#define RINGLB_TIMER_H

#include <stdint.h>

#include "ringlb/list.h"

struct rlb_timer;
typedef void (*rlb_timer_fn)(struct rlb_timer *t);

struct rlb_timer {
	struct rlb_list link;
	uint64_t deadline_ms;
	rlb_timer_fn fire;
};

struct rlb_timer_list;

struct rlb_timers {
	struct rlb_timer_list **lists; /* each malloc'd once: list heads never move */
	uint32_t nlists, cap;
	struct rlb_list sorted;        /* fallback: sorted by deadline */
	uint64_t now_ms;               /* the owner's clock, set before arming */
};

void rlb_timers_init(struct rlb_timers *ts);
/** Frees the lists (the timers on them are the owner's). */
void rlb_timers_free(struct rlb_timers *ts);

/** Prepares t to call fire when it expires; t starts disarmed. */
void rlb_timer_init(struct rlb_timer *t, rlb_timer_fn fire);
/** (Re)arms t to fire timeout_ms after ts->now_ms. */
void rlb_timer_arm(struct rlb_timers *ts, struct rlb_timer *t, uint32_t timeout_ms);
/** Disarms t; a no-op when it is not armed. */
void rlb_timer_cancel(struct rlb_timer *t);
static inline int rlb_timer_armed(const struct rlb_timer *t)
{
	return rlb_list_linked(&t->link);
}
/** Fires every timer whose deadline is <= ts->now_ms, each once; a callback
 * may arm or cancel any timer, itself included. */
void rlb_timers_run(struct rlb_timers *ts);

#endif
