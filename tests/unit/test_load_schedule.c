/* The load generator's open-loop timeline (src/tools/load/schedule.c):
 * request i at i/R for a constant rate, linear ramps between stage targets
 * (k6's ramping-arrival-rate) with the request times the integral of the
 * rate gives, ramps down to 0, and the --stages parser's refusals. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/tools/common/tool_cli.c"
#include "../../src/tools/load/schedule.c"

static struct load_schedule sched;

static void parse_into(const char *text, double start_rate)
{
	struct load_stage st[LOAD_STAGES_MAX];
	unsigned n;
	char err[160];

	assert_int_equal(load_stages_parse(text, st, &n, err, sizeof(err)), 0);
	assert_int_equal(load_schedule_init(&sched, start_rate, st, n), 0);
}

/* Every request the iterator yields, checked against load_schedule_time_us
 * and in order; returns how many there were. */
static uint64_t walk(uint64_t *last_us)
{
	uint64_t n = 0, t_us, prev_us = 0, direct_us;

	while (load_schedule_next(&sched, &t_us)) {
		assert_true(t_us >= prev_us);
		assert_int_equal(load_schedule_time_us(&sched, n, &direct_us), 0);
		assert_int_equal(direct_us, t_us);
		prev_us = t_us;
		n++;
	}
	*last_us = prev_us;
	return n;
}

static void test_constant_rate_sends_request_i_at_i_over_r(void **state)
{
	uint64_t t_us, last_us;

	(void)state;
	assert_int_equal(load_schedule_constant(&sched, 1000, 10000000), 0);
	for (uint64_t i = 0; i < 10000; i += 37) {
		assert_int_equal(load_schedule_time_us(&sched, i, &t_us), 0);
		assert_int_equal(t_us, i * 1000);
	}
	assert_int_equal(walk(&last_us), 10000);
	assert_int_equal(last_us, 9999000);
	assert_int_equal(load_schedule_time_us(&sched, 10000, &t_us), -ERANGE);
	assert_int_equal(load_schedule_count(&sched), 10000);

	assert_int_equal(load_schedule_constant(&sched, 3, 10000000), 0); /* no drift from rounding */
	assert_int_equal(load_schedule_time_us(&sched, 29, &t_us), 0);
	assert_int_equal(t_us, 9666667);
	assert_int_equal(load_schedule_count(&sched), 30);
}

static void test_unbounded_constant_rate(void **state)
{
	uint64_t t_us;

	(void)state;
	assert_int_equal(load_schedule_constant(&sched, 20000, LOAD_FOREVER_US), 0);
	assert_int_equal(load_schedule_time_us(&sched, 2000000000ull, &t_us), 0);
	assert_int_equal(t_us, 100000000000ull);
	assert_true(load_schedule_count(&sched) == UINT64_MAX);
	assert_true(load_schedule_total_us(&sched) == LOAD_FOREVER_US);
}

/* 0 -> 1000 req/s over 10 s: the rate integrates to 5000 requests, and
 * request i is due when 50 t^2 = i, at t = sqrt(i / 50) s. */
static void test_ramp_from_zero_sends_5000_at_the_integrals_times(void **state)
{
	uint64_t t_us, last_us;

	(void)state;
	parse_into("10s:1000", 0);
	assert_int_equal(load_schedule_count(&sched), 5000);
	for (uint64_t i = 0; i < 5000; i += 7) {
		double want_us = sqrt((double)i / 50) * 1e6;

		assert_int_equal(load_schedule_time_us(&sched, i, &t_us), 0);
		assert_true(fabs((double)t_us - want_us) <= 1.0);
	}
	assert_int_equal(walk(&last_us), 5000);
	assert_true(last_us < 10000000 && last_us > 9990000);
	assert_true(fabs(load_schedule_rate_at(&sched, 5000000) - 500) < 1e-6);
	assert_true(fabs(load_schedule_rate_at(&sched, 2500000) - 250) < 1e-6);
	assert_true(load_schedule_rate_at(&sched, 10000000) == 0);
}

/* Up, then down to 0: 5000 + 5000 requests, none after 20 s, the second
 * half mirroring the first (request 5000 + j at 20 s minus the time of
 * request 5000 - j). */
static void test_ramp_down_to_zero_ends_the_sending(void **state)
{
	uint64_t t_us, up_us, last_us;

	(void)state;
	parse_into("10s:1000,10s:0", 0);
	assert_int_equal(load_schedule_count(&sched), 10000);
	assert_true(fabs(load_schedule_rate_at(&sched, 15000000) - 500) < 1e-6);
	for (uint64_t j = 1; j < 5000; j += 11) {
		assert_int_equal(load_schedule_time_us(&sched, 5000 + j, &t_us), 0);
		assert_int_equal(load_schedule_time_us(&sched, 5000 - j, &up_us), 0);
		assert_true(llabs((long long)t_us - (long long)(20000000 - up_us)) <= 2);
	}
	assert_int_equal(walk(&last_us), 10000);
	assert_true(last_us < 20000000);
}

/* A stage at rate 0 sends nothing; the ramp after it starts from 0 at its start. */
static void test_zero_rate_stage_sends_nothing(void **state)
{
	uint64_t t_us, last_us;

	(void)state;
	parse_into("5s:0,1s:100,2s:100", 0);
	assert_int_equal(load_schedule_time_us(&sched, 0, &t_us), 0);
	assert_int_equal(t_us, 5000000);
	assert_int_equal(walk(&last_us), 50 + 200);
	assert_int_equal(load_schedule_total_us(&sched), 8000000);
}

/* With --rate, the first stage ramps from it rather than from 0. */
static void test_stages_start_at_the_given_rate(void **state)
{
	uint64_t last_us;

	(void)state;
	parse_into("10s:100", 100);
	assert_int_equal(walk(&last_us), 1000);
	assert_int_equal(last_us, 9990000);
}

static void test_stage_parse_errors(void **state)
{
	static const char *const bad[] = {
		"", "30s", "30:1000", "30s:", "30s:abc", "30s:1000,", ",30s:1000", "30s:-5", "1000:30s",
		"30s:1000;60s:5000", "30s :1000", "xs:10",
	};
	struct load_stage st[LOAD_STAGES_MAX];
	char err[160], many[65 * 8 + 1] = "";
	unsigned n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (load_stages_parse(bad[i], st, &n, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(err[0] != '\0');
	}
	for (int i = 0; i < 65; i++)
		strcat(many, i ? ",1s:10" : "1s:10");
	assert_int_equal(load_stages_parse(many, st, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(load_stages_parse("30s:1000,1.5m:2.5", st, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(st[0].duration_us, 30000000);
	assert_true(st[0].target_rate == 1000);
	assert_int_equal(st[1].duration_us, 90000000);
	assert_true(st[1].target_rate == 2.5);
}

/* Only a last, flat stage may go on forever. */
static void test_schedule_init_refusals(void **state)
{
	struct load_stage ramp_forever = { .duration_us = LOAD_FOREVER_US, .target_rate = 200 };

	(void)state;
	assert_int_equal(load_schedule_init(&sched, 100, &ramp_forever, 1), -EINVAL);
	assert_int_equal(load_schedule_init(&sched, 100, &ramp_forever, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_rate_sends_request_i_at_i_over_r),
		cmocka_unit_test(test_unbounded_constant_rate),
		cmocka_unit_test(test_ramp_from_zero_sends_5000_at_the_integrals_times),
		cmocka_unit_test(test_ramp_down_to_zero_ends_the_sending),
		cmocka_unit_test(test_zero_rate_stage_sends_nothing),
		cmocka_unit_test(test_stages_start_at_the_given_rate),
		cmocka_unit_test(test_stage_parse_errors),
		cmocka_unit_test(test_schedule_init_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
