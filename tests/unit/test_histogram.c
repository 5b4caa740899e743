/* The latency histogram: bucket boundaries, quantiles within 1% of the
 * exact ones on random data, merging, and Prometheus' cumulative counts. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringlb/histogram.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_buckets_tile_the_range_within_one_percent(void **state)
{
	(void)state;
	for (uint32_t i = 1; i < RLB_HIST_BUCKETS; i++) {
		assert_int_equal(rlb_hist_bucket_low(i), rlb_hist_bucket_high(i - 1) + 1); /* no gap, no overlap */
		assert_true((double)(rlb_hist_bucket_high(i) - rlb_hist_bucket_low(i)) <=
			    0.01 * (double)rlb_hist_bucket_low(i));
	}
	for (uint64_t v = 1; v < RLB_HIST_MAX_US; v = v * 3 / 2 + 1) {
		uint32_t b = rlb_hist_bucket(v);

		assert_true(rlb_hist_bucket_low(b) <= v && v <= rlb_hist_bucket_high(b));
	}
	assert_true(rlb_hist_bucket_high(RLB_HIST_BUCKETS - 1) >= RLB_HIST_MAX_US);
	assert_int_equal(rlb_hist_bucket(UINT64_MAX), RLB_HIST_BUCKETS - 1);
}

/* Log-uniform values from 1 us to 60 s, two workers' histograms merged:
 * every quantile within 1% of the exact one. */
static void test_quantiles_within_one_percent_after_merging(void **state)
{
	enum { N = 200000 };
	static struct rlb_histogram a, b;
	static struct rlb_hist_snapshot s;
	static uint64_t v[N];
	const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999, 1.0 };
	uint64_t sum = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		v[i] = (uint64_t)exp((double)(next() % 1000000) / 1000000.0 * log((double)RLB_HIST_MAX_US));
		rlb_hist_record(i % 2 ? &a : &b, v[i]);
		sum += v[i];
	}
	rlb_hist_merge(&s, &a);
	rlb_hist_merge(&s, &b);
	assert_int_equal(s.count, N);
	assert_int_equal(s.sum_us, sum);
	qsort(v, N, sizeof(v[0]), cmp_u64);
	assert_int_equal(s.max_us, v[N - 1]);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		uint64_t exact = v[(size_t)ceil(qs[k] * N) - 1], got = rlb_hist_quantile(&s, qs[k]);

		if (fabs((double)got - (double)exact) > 0.01 * (double)exact)
			fail_msg("q%.3f: got %lu, exact %lu", qs[k], (unsigned long)got, (unsigned long)exact);
	}
}

static void test_cumulative_counts_for_prometheus(void **state)
{
	static struct rlb_histogram h;
	static struct rlb_hist_snapshot s;

	(void)state;
	rlb_hist_record(&h, 100);    /* 0.1 ms */
	rlb_hist_record(&h, 400);    /* 0.4 ms */
	rlb_hist_record(&h, 20000);  /* 20 ms */
	rlb_hist_record(&h, 3000000); /* 3 s */
	rlb_hist_merge(&s, &h);
	assert_int_equal(rlb_hist_count_below(&s, 500), 2);
	assert_int_equal(rlb_hist_count_below(&s, 25000), 3);
	assert_int_equal(rlb_hist_count_below(&s, 10000000), 4);
	assert_int_equal(rlb_hist_quantile(&s, 0.5), 400); /* the middle of bucket [400, 401] */
	memset(&s, 0, sizeof(s));
	assert_int_equal(rlb_hist_quantile(&s, 0.99), 0);
}

/* Bucket counters were 32 bits: a busy bucket wrapped after 2^32 records
 * and read as a counter reset (fresh-eyes review of issue #8). */
static void test_buckets_count_past_two_to_the_32(void **state)
{
	static struct rlb_histogram h;
	static struct rlb_hist_snapshot s;

	(void)state;
	atomic_store(&h.counts[rlb_hist_bucket(100)], UINT32_MAX);
	rlb_hist_record(&h, 100);
	rlb_hist_merge(&s, &h);
	assert_true(s.counts[rlb_hist_bucket(100)] == (uint64_t)UINT32_MAX + 1);
	assert_true(rlb_hist_count_below(&s, 1000) == (uint64_t)UINT32_MAX + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_tile_the_range_within_one_percent),
		cmocka_unit_test(test_quantiles_within_one_percent_after_merging),
		cmocka_unit_test(test_cumulative_counts_for_prometheus),
		cmocka_unit_test(test_buckets_count_past_two_to_the_32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
