/* What each --schedule event does to the running server, fired by the loop
 * when its time comes (schedule.h parses them; testserver.h). */
#include "tools/testserver/testserver.h"

#include <stdint.h>

#include "tools/common/tool_cli.h"

typedef void (*event_fn)(struct server *s, const struct sched_event *ev);

static void on_slow(struct server *s, const struct sched_event *ev)
{
	s->behaviour.slow_factor = ev->value;
}

static void on_normal(struct server *s, const struct sched_event *ev)
{
	(void)ev;
	s->behaviour.slow_factor = 1.0;
}

/* Counted from the scheduled time, not from when the timer woke us: the
 * stall ends when the schedule says, a late wake-up does not stretch it. */
static void on_stall(struct server *s, const struct sched_event *ev)
{
	uint64_t until_us = s->t0_us + ev->at_us + ev->duration_us;

	if (until_us > s->behaviour.stall_until_us)
		s->behaviour.stall_until_us = until_us;
}

static void on_sick(struct server *s, const struct sched_event *ev)
{
	(void)ev;
	s->behaviour.sick = 1;
}

static void on_well(struct server *s, const struct sched_event *ev)
{
	(void)ev;
	s->behaviour.sick = 0;
}

static void on_die(struct server *s, const struct sched_event *ev)
{
	(void)ev;
	server_die(s);
}

static void on_live(struct server *s, const struct sched_event *ev)
{
	(void)ev;
	server_live(s);
}

static void on_errors(struct server *s, const struct sched_event *ev)
{
	s->behaviour.error_rate = ev->value;
}

static const event_fn handlers[SCHED_KINDS] = {
	[SCHED_SLOW] = on_slow, [SCHED_NORMAL] = on_normal, [SCHED_STALL] = on_stall,
	[SCHED_SICK] = on_sick, [SCHED_WELL] = on_well,     [SCHED_DIE] = on_die,
	[SCHED_LIVE] = on_live, [SCHED_ERRORS] = on_errors,
};

uint64_t events_next_us(const struct server *s)
{
	const struct schedule *sched = &s->opt->schedule;

	if (s->next_event >= sched->n)
		return UINT64_MAX;
	return s->t0_us + sched->events[s->next_event].at_us;
}

/* The line comes after the event took effect: a reader that sees
 * "event die" can count on refused connections. */
void events_run_due(struct server *s, uint64_t now_us)
{
	const struct schedule *sched = &s->opt->schedule;

	while (events_next_us(s) <= now_us) {
		const struct sched_event *ev = &sched->events[s->next_event++];

		handlers[ev->kind](s, ev);
		server_say(s, "event %s at %.3fs", ev->text, (double)(tool_now_us() - s->t0_us) / 1e6);
	}
}
