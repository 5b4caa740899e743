/* Numbers with a unit suffix (src/core/units.c): what the config's
 * durations and the tools' sizes both parse with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "ringlb/units.h"

static const struct rlb_unit units[] = { { "", 1 }, { "k", 1000 } };

static int parse(const char *s, uint64_t max, uint64_t *out)
{
	return rlb_parse_scaled(s, units, 2, max, out);
}

static void test_a_number_and_one_of_the_suffixes(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse("7", 100000, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse("7k", 100000, &v), 0);
	assert_int_equal(v, 7000);
	assert_int_equal(parse("100k", 100000, &v), 0); /* max itself */
	assert_int_equal(v, 100000);
}

static void test_anything_else_is_refused(void **state)
{
	static const char *const bad[] = { "", "k", "-1", "+1", " 1", "1 ", "1kk", "1m", "1.5k", "0x10",
					   "99999999999999999999999" };
	uint64_t v = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("101k", 100000, &v), -EINVAL); /* past max */
	assert_int_equal(parse("18446744073709552k", UINT64_MAX, &v), -EINVAL); /* the product overflows */
	assert_int_equal(v, 42); /* untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_number_and_one_of_the_suffixes),
		cmocka_unit_test(test_anything_else_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
