/* Sliding windows over a cumulative histogram: the newest seconds only,
 * rotation past 60 s, sparse seconds, and quantiles of a window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/window.h"

static struct rlb_histogram h;
static struct rlb_hist_snapshot now, out;
static struct rlb_window w;

static void tick(void)
{
	memset(&now, 0, sizeof(now));
	rlb_hist_merge(&now, &h);
	assert_int_equal(rlb_window_tick(&w, &now), 0);
}

static void test_windows_hold_the_newest_seconds(void **state)
{
	(void)state;
	/* Second s records s+1 values of (s+1) ms, for 70 seconds. */
	for (uint32_t s = 0; s < 70; s++) {
		for (uint32_t i = 0; i <= s; i++)
			rlb_hist_record(&h, (s + 1) * 1000);
		tick();
	}
	memset(&out, 0, sizeof(out));
	rlb_window_sum(&w, 10, &out);
	assert_int_equal(out.count, 61 + 62 + 63 + 64 + 65 + 66 + 67 + 68 + 69 + 70); /* seconds 60..69 */
	assert_true(rlb_hist_quantile(&out, 0.0) >= 60900 && rlb_hist_quantile(&out, 1.0) <= 70600);
	memset(&out, 0, sizeof(out));
	rlb_window_sum(&w, 60, &out); /* seconds 10..69: the first ten rotated out */
	assert_int_equal(out.count, (11 + 70) * 60 / 2);
	assert_true(out.max_us >= 70000 && out.max_us <= 70600);
	memset(&out, 0, sizeof(out));
	rlb_window_sum(&w, 600, &out); /* at most what is kept */
	assert_int_equal(out.count, (11 + 70) * 60 / 2);
}

static void test_quiet_seconds_are_empty(void **state)
{
	(void)state;
	for (int s = 0; s < 10; s++)
		tick(); /* nothing recorded */
	memset(&out, 0, sizeof(out));
	rlb_window_sum(&w, 10, &out);
	assert_int_equal(out.count, 0);
	assert_int_equal(rlb_hist_quantile(&out, 0.99), 0);
	rlb_window_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_hold_the_newest_seconds),
		cmocka_unit_test(test_quiet_seconds_are_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
