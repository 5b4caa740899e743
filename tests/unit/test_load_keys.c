/* The load generator's key sampling (src/tools/load/keys.c): uniform keys
 * fill every bucket evenly, Zipf keys follow 1/(i+1)^s, and a seed fixes
 * the sequence (two runs against two algorithms send the same keys). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../src/tools/load/keys.c"

/* 2,000,000 draws over 20 keys: 100,000 each, a standard deviation of
 * 0.3%, so 2% is a real defect, not chance. */
static void test_uniform_keys_fill_each_bucket_within_two_percent(void **state)
{
	enum { KEYS = 20, DRAWS = 2000000 };
	struct load_keys k;
	uint64_t count[KEYS] = { 0 };

	(void)state;
	assert_int_equal(load_keys_init(&k, KEYS, 0, 1), 0);
	for (int i = 0; i < DRAWS; i++) {
		uint32_t key = load_keys_next(&k);

		assert_true(key < KEYS);
		count[key]++;
	}
	for (int b = 0; b < KEYS; b++)
		if (fabs((double)count[b] - DRAWS / KEYS) > 0.02 * DRAWS / KEYS)
			fail_msg("key %d drawn %lu times, want %d +-2%%", b, (unsigned long)count[b], DRAWS / KEYS);
	load_keys_free(&k);
}

static double zipf_probability(uint32_t rank, uint32_t n, double s)
{
	double h = 0;

	for (uint32_t i = 1; i <= n; i++)
		h += pow(i, -s);
	return pow(rank, -s) / h;
}

/* Zipf 1.1 over 1000 keys: the most frequent key (rank 1, key k0) within
 * 3% of its analytic share, and ranks 2 and 10 too. */
static void test_zipf_rank_one_within_three_percent_of_analytic(void **state)
{
	enum { KEYS = 1000, DRAWS = 1000000 };
	static uint64_t count[KEYS];
	const uint32_t ranks[] = { 1, 2, 10 };
	struct load_keys k;

	(void)state;
	assert_int_equal(load_keys_init(&k, KEYS, 1.1, 7), 0);
	for (int i = 0; i < DRAWS; i++) {
		uint32_t key = load_keys_next(&k);

		assert_true(key < KEYS);
		count[key]++;
	}
	for (size_t r = 0; r < sizeof(ranks) / sizeof(ranks[0]); r++) {
		double want = zipf_probability(ranks[r], KEYS, 1.1), got = (double)count[ranks[r] - 1] / DRAWS;

		if (fabs(got - want) > 0.03 * want)
			fail_msg("rank %u: frequency %.5f, analytic %.5f", ranks[r], got, want);
	}
	assert_true(count[0] > count[1] && count[1] > count[9] && count[9] > count[999]);
	load_keys_free(&k);
}

static void test_same_seed_same_sequence(void **state)
{
	struct load_keys a, b, c;
	int differ = 0;

	(void)state;
	for (int zipf = 0; zipf < 2; zipf++) {
		assert_int_equal(load_keys_init(&a, 10000, zipf ? 1.1 : 0, 42), 0);
		assert_int_equal(load_keys_init(&b, 10000, zipf ? 1.1 : 0, 42), 0);
		assert_int_equal(load_keys_init(&c, 10000, zipf ? 1.1 : 0, 43), 0);
		for (int i = 0; i < 10000; i++) {
			uint32_t x = load_keys_next(&a);

			assert_int_equal(x, load_keys_next(&b));
			differ += x != load_keys_next(&c);
		}
		load_keys_free(&a);
		load_keys_free(&b);
		load_keys_free(&c);
	}
	assert_true(differ > 10000); /* another seed, another sequence */
}

/* A seed of 0 or 1 still gives a full-entropy state (splitmix64), and one key is always k0. */
static void test_small_seeds_and_edges(void **state)
{
	struct load_keys k;

	(void)state;
	assert_int_equal(load_keys_init(&k, 1, 0, 0), 0);
	assert_int_equal(load_keys_next(&k), 0);
	assert_true(k.rng.s[0] && k.rng.s[1] && k.rng.s[2] && k.rng.s[3]);
	load_keys_free(&k);
	assert_int_equal(load_keys_init(&k, 1, 2.0, 0), 0);
	assert_int_equal(load_keys_next(&k), 0);
	assert_true(k.cdf[0] == 1.0);
	load_keys_free(&k);
	assert_int_equal(load_keys_init(&k, 0, 0, 1), -EINVAL);
	assert_int_equal(load_keys_init(&k, 10, -1, 1), -EINVAL);
	assert_int_equal(load_keys_init(&k, 10, NAN, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uniform_keys_fill_each_bucket_within_two_percent),
		cmocka_unit_test(test_zipf_rank_one_within_three_percent_of_analytic),
		cmocka_unit_test(test_same_seed_same_sequence),
		cmocka_unit_test(test_small_seeds_and_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
