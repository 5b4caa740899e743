/* Timers with a virtual clock: any number of distinct timeouts (there were
 * 32 lists, and a 33rd value armed nothing: issue #6, defect 7), FIFO order,
 * cancel, re-arm from a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/timer.h"

#define N 100

struct probe {
	struct rlb_timer t;
	int fired;
	uint64_t at_ms;
};

static struct rlb_timers ts;
static int order[N * 2], norder;

static void record(struct rlb_timer *t)
{
	struct probe *p = rlb_container_of(t, struct probe, t);

	p->fired++;
	p->at_ms = ts.now_ms;
}

static void advance_to(uint64_t ms)
{
	while (ts.now_ms < ms) {
		ts.now_ms++;
		rlb_timers_run(&ts);
	}
}

static void test_many_distinct_timeouts_all_fire_on_time(void **state)
{
	static struct probe p[N];

	(void)state;
	rlb_timers_init(&ts);
	for (int i = 0; i < N; i++) {
		rlb_timer_init(&p[i].t, record);
		rlb_timer_arm(&ts, &p[i].t, (uint32_t)(N - i) * 10); /* N distinct values */
	}
	advance_to(N * 10 + 5);
	for (int i = 0; i < N; i++) {
		assert_int_equal(p[i].fired, 1);
		assert_int_equal(p[i].at_ms, (uint64_t)(N - i) * 10);
		assert_false(rlb_timer_armed(&p[i].t));
	}
	rlb_timers_free(&ts);
}

static void test_cancel_and_rearm(void **state)
{
	struct probe a = { 0 }, b = { 0 };

	(void)state;
	rlb_timers_init(&ts);
	rlb_timer_init(&a.t, record);
	rlb_timer_init(&b.t, record);
	rlb_timer_arm(&ts, &a.t, 50);
	rlb_timer_arm(&ts, &b.t, 50);
	advance_to(30);
	rlb_timer_arm(&ts, &a.t, 50); /* pushed back: now due at 80, behind b */
	rlb_timer_cancel(&b.t);
	rlb_timer_cancel(&b.t);       /* twice is harmless */
	advance_to(79);
	assert_int_equal(a.fired + b.fired, 0);
	advance_to(80);
	assert_int_equal(a.fired, 1);
	assert_int_equal(b.fired, 0);
	rlb_timers_free(&ts);
}

static struct probe self_arming;

static void rearm_zero(struct rlb_timer *t)
{
	record(t);
	order[norder++] = (int)ts.now_ms;
	rlb_timer_arm(&ts, t, 0); /* must wait for the next run, not loop in this one */
}

static void test_rearm_from_callback_waits_for_next_run(void **state)
{
	(void)state;
	rlb_timers_init(&ts);
	norder = 0;
	self_arming = (struct probe){ 0 };
	rlb_timer_init(&self_arming.t, rearm_zero);
	rlb_timer_arm(&ts, &self_arming.t, 0);
	advance_to(5);
	assert_int_equal(self_arming.fired, 5); /* once per run, at 1, 2, 3, 4, 5 ms */
	assert_int_equal(order[0], 1);
	assert_int_equal(order[4], 5);
	rlb_timer_cancel(&self_arming.t);
	rlb_timers_free(&ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_distinct_timeouts_all_fire_on_time),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_rearm_from_callback_waits_for_next_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
