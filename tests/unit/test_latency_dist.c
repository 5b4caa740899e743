/* The test server's latency distributions: for each kind, 200k samples from
 * a fixed seed have the analytic mean and p50/p90/p99 within 5%; bad specs
 * are refused and leave the output alone. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The tool's sources are not in the core the tests link: include them (no
 * symbol of theirs is in the core). */
#include "../../src/tools/common/tool_cli.c"
#include "../../src/tools/testserver/latency_dist.c"

#define N 200000

struct expect {
	const char *spec;
	double mean_us, p50_us, p90_us, p99_us;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_close(const char *spec, const char *what, double got, double want)
{
	if (fabs(got - want) > 0.05 * want)
		fail_msg("%s: %s is %.1f us, want %.1f us within 5%%", spec, what, got, want);
}

/* Samples N values from seed 42 and checks them against e. */
static void check_dist(const struct expect *e)
{
	static uint64_t v[N];
	struct latency_dist d;
	uint64_t rng = 42;
	double sum = 0;

	assert_int_equal(latency_dist_parse(e->spec, &d), 0);
	for (int i = 0; i < N; i++) {
		v[i] = latency_dist_sample_us(&d, &rng);
		sum += (double)v[i];
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	check_close(e->spec, "mean", sum / N, e->mean_us);
	check_close(e->spec, "p50", (double)v[N / 2], e->p50_us);
	check_close(e->spec, "p90", (double)v[N * 9 / 10], e->p90_us);
	check_close(e->spec, "p99", (double)v[N * 99 / 100], e->p99_us);
}

static void test_fixed(void **state)
{
	const struct expect e = { "fixed:5ms", 5000, 5000, 5000, 5000 };

	(void)state;
	check_dist(&e);
}

static void test_uniform(void **state)
{
	const struct expect e = { "uniform:1ms,10ms", 5500, 5500, 9100, 9910 };

	(void)state;
	check_dist(&e);
}

/* Quantile q of an exponential with mean m: -m ln(1 - q). */
static void test_exponential(void **state)
{
	const double m = 5000;
	const struct expect e = { "exp:5ms", m, -m * log(0.5), -m * log(0.1), -m * log(0.01) };

	(void)state;
	check_dist(&e);
}

/* Median m, sigma s: mean m e^(s^2/2), quantile q at m e^(s z_q). */
static void test_lognormal(void **state)
{
	const double m = 5000, s = 1.0, z90 = 1.2815516, z99 = 2.3263479;
	const struct expect e = { "lognormal:5ms,1.0", m * exp(s * s / 2), m, m * exp(s * z90), m * exp(s * z99) };

	(void)state;
	check_dist(&e);
}

/* 5% at 100ms: p50 and p90 are the fast mode, p99 the slow one. */
static void test_bimodal(void **state)
{
	const struct expect e = { "bimodal:1ms,100ms,0.05", 0.95 * 1000 + 0.05 * 100000, 1000, 1000, 100000 };

	(void)state;
	check_dist(&e);
}

static void test_units_and_zero(void **state)
{
	struct latency_dist d;
	uint64_t rng = 1;

	(void)state;
	assert_int_equal(latency_dist_parse("fixed:0", &d), 0);
	assert_int_equal(latency_dist_sample_us(&d, &rng), 0);
	assert_int_equal(latency_dist_parse("fixed:250us", &d), 0);
	assert_int_equal(latency_dist_sample_us(&d, &rng), 250);
	assert_int_equal(latency_dist_parse("fixed:1.5s", &d), 0);
	assert_int_equal(latency_dist_sample_us(&d, &rng), 1500000);
	assert_int_equal(latency_dist_parse("uniform:2ms,2ms", &d), 0); /* a degenerate range is still one */
	assert_int_equal(latency_dist_sample_us(&d, &rng), 2000);
	assert_int_equal(latency_dist_parse("bimodal:1ms,2ms,1", &d), 0);
	assert_int_equal(latency_dist_sample_us(&d, &rng), 2000);
}

/* The same seed gives the same sequence; another seed another. */
static void test_seeded(void **state)
{
	struct latency_dist d;
	uint64_t a = 7, b = 7, c = 8;
	int same = 1, differ = 0;

	(void)state;
	assert_int_equal(latency_dist_parse("exp:5ms", &d), 0);
	for (int i = 0; i < 100; i++) {
		uint64_t x = latency_dist_sample_us(&d, &a);

		same &= x == latency_dist_sample_us(&d, &b);
		differ |= x != latency_dist_sample_us(&d, &c);
	}
	assert_true(same);
	assert_true(differ);
}

/* A huge sigma's tail is capped, not an overflowing cast (UBSan would say). */
static void test_tail_capped(void **state)
{
	struct latency_dist d;
	uint64_t rng = 3, max = 0;

	(void)state;
	assert_int_equal(latency_dist_parse("lognormal:1h,10", &d), 0);
	for (int i = 0; i < 1000; i++) {
		uint64_t v = latency_dist_sample_us(&d, &rng);

		max = v > max ? v : max;
	}
	assert_int_equal(max, LATENCY_MAX_US);
}

static void test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"fixed:", "uniform:5ms,1ms", "bimodal:1ms,2ms,1.5", "nonsense:1ms", "fixed:5", "5ms",
		"fixed", "", "fixed:5ms,", "fixed:5ms,6ms", "uniform:1ms", "uniform:1ms,,2ms", "uniform:,1ms",
		"exp:-1ms", "lognormal:5ms", "lognormal:5ms,1ms", "lognormal:5ms,11", "bimodal:1ms,2ms",
		"FIXED:5ms", "fixed:5 ms", "fixedx:5ms", "fixed:2h",
	};
	struct latency_dist d = { LATENCY_EXP, 123, 456, 7.5 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (latency_dist_parse(bad[i], &d) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(d.kind, LATENCY_EXP); /* untouched */
		assert_int_equal(d.a_us, 123);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed),          cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_exponential),    cmocka_unit_test(test_lognormal),
		cmocka_unit_test(test_bimodal),        cmocka_unit_test(test_units_and_zero),
		cmocka_unit_test(test_seeded),         cmocka_unit_test(test_tail_capped),
		cmocka_unit_test(test_parse_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
