/* One server's health rules with a virtual clock: rise and fall, the start
 * one failure away from down, ejection with doubling backoff, its cap and
 * reset, the operator's states and their precedence, and slow start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control/health_state.h"

static const struct rlb_health_rules rules = {
	.rise = 2, .fall = 3, .eject_after = 5, .eject_for_ms = 10000, .slow_start_ms = 10000,
};

static void test_starts_up_and_the_first_failure_marks_down(void **state)
{
	struct rlb_health h;

	(void)state;
	rlb_health_init(&h, &rules, 0);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_UP);
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 1); /* dead at start: out at once */
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_DOWN);
}

static void test_fall_and_rise_need_consecutive_results(void **state)
{
	struct rlb_health h;

	(void)state;
	rlb_health_init(&h, &rules, 0);
	assert_int_equal(rlb_health_check_result(&h, &rules, 1), 0); /* a pass: now a full `fall` away */
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 0);
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 0);
	assert_int_equal(rlb_health_check_result(&h, &rules, 1), 0); /* resets the count */
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 0);
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 0);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_UP);
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 1);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_DOWN);
	assert_int_equal(rlb_health_check_result(&h, &rules, 1), 0);
	assert_int_equal(rlb_health_check_result(&h, &rules, 0), 0); /* resets the rise */
	assert_int_equal(rlb_health_check_result(&h, &rules, 1), 0);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_DOWN);
	assert_int_equal(rlb_health_check_result(&h, &rules, 1), 1);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_UP);
}

static void test_ejection_doubles_is_capped_and_resets(void **state)
{
	struct rlb_health h;
	uint64_t t = 1000;

	(void)state;
	rlb_health_init(&h, &rules, 0);
	assert_int_equal(rlb_health_eject(&h, &rules, t), 10000);
	assert_int_equal(rlb_health_state(&h, t + 9999), RLB_SERVER_EJECTED);
	assert_int_equal(rlb_health_state(&h, t + 10000), RLB_SERVER_UP); /* tried again */
	t += 10000;
	rlb_health_note(&h, t);
	assert_int_equal(rlb_health_eject(&h, &rules, t), 20000); /* failed again soon: double */
	t += 20000;
	uint32_t ms = rlb_health_eject(&h, &rules, t);

	assert_int_equal(ms, 40000);
	for (int i = 0; i < 10; i++) { /* out again as soon as it is back */
		t += ms;
		rlb_health_note(&h, t);
		ms = rlb_health_eject(&h, &rules, t);
		assert_true(ms <= RLB_EJECT_MAX_MS);
	}
	assert_int_equal(ms, RLB_EJECT_MAX_MS);
	/* A clean period as long as the last ejection resets the backoff. */
	t += 2 * RLB_EJECT_MAX_MS;
	rlb_health_note(&h, t);
	assert_int_equal(rlb_health_eject(&h, &rules, t), 10000);
}

static void test_admin_states_take_precedence(void **state)
{
	struct rlb_health h;

	(void)state;
	rlb_health_init(&h, &rules, 1);
	assert_int_equal(rlb_health_state(&h, 0), RLB_SERVER_DISABLED); /* "disabled" in the config */
	h.admin = RLB_ADMIN_ENABLED;
	rlb_health_check_result(&h, &rules, 0);
	rlb_health_eject(&h, &rules, 0);
	assert_int_equal(rlb_health_state(&h, 1), RLB_SERVER_DOWN); /* down before ejected */
	h.admin = RLB_ADMIN_DRAIN;
	assert_int_equal(rlb_health_state(&h, 1), RLB_SERVER_DRAIN);
	assert_int_equal(rlb_health_weight(&h, &rules, 3, 1), 0);
	h.admin = RLB_ADMIN_DISABLED;
	assert_int_equal(rlb_health_state(&h, 1), RLB_SERVER_DISABLED);
}

static void test_slow_start_ramps_a_returning_server_only(void **state)
{
	struct rlb_health h;
	uint64_t back = 50000;

	(void)state;
	rlb_health_init(&h, &rules, 0);
	rlb_health_note(&h, 0);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, 0), 2 * RLB_WEIGHT_SCALE); /* at start: full */
	rlb_health_check_result(&h, &rules, 0);
	rlb_health_note(&h, 1000);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, 1000), 0);
	rlb_health_check_result(&h, &rules, 1);
	rlb_health_check_result(&h, &rules, 1);
	rlb_health_note(&h, back);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, back), 2 * RLB_WEIGHT_SCALE / 10);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, back + 4999), 2 * RLB_WEIGHT_SCALE * 5 / 10);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, back + 9999), 2 * RLB_WEIGHT_SCALE);
	assert_int_equal(rlb_health_weight(&h, &rules, 2, back + 20000), 2 * RLB_WEIGHT_SCALE);
	/* The ramp never reaches 0 while the operator's weight is not 0. */
	assert_int_equal(rlb_health_weight(&h, &rules, 1, back), 1);
	assert_int_equal(rlb_health_weight(&h, &rules, 0, back + 20000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_up_and_the_first_failure_marks_down),
		cmocka_unit_test(test_fall_and_rise_need_consecutive_results),
		cmocka_unit_test(test_ejection_doubles_is_capped_and_resets),
		cmocka_unit_test(test_admin_states_take_precedence),
		cmocka_unit_test(test_slow_start_ramps_a_returning_server_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
