/* Reading the latency histograms (contract in ringlb/histogram.h). */
#include "ringlb/histogram.h"

#include <math.h>

uint64_t rlb_hist_bucket_low(uint32_t i)
{
	uint32_t k, e;

	if (i < 256)
		return i;
	k = i - 256;
	e = k / 128 + 1;
	return (uint64_t)(k % 128 + 128) << e;
}

/* A bucket past the exact ones spans 2^e values, e its power of two's step. */
uint64_t rlb_hist_bucket_high(uint32_t i)
{
	return i < 256 ? i : rlb_hist_bucket_low(i) + (UINT64_C(1) << ((i - 256) / 128 + 1)) - 1;
}

void rlb_hist_merge(struct rlb_hist_snapshot *s, const struct rlb_histogram *h)
{
	uint64_t max = atomic_load_explicit(&h->max_us, memory_order_relaxed);

	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++)
		s->counts[i] += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	s->count += atomic_load_explicit(&h->count, memory_order_relaxed);
	s->sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	if (max > s->max_us)
		s->max_us = max;
}

uint64_t rlb_hist_quantile(const struct rlb_hist_snapshot *s, double q)
{
	uint64_t total = 0, rank, seen = 0;

	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++)
		total += s->counts[i]; /* not s->count: a reader may see a record half made */
	if (total == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)total);
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++) {
		seen += s->counts[i];
		if (seen >= rank) {
			uint64_t mid = (rlb_hist_bucket_low(i) + rlb_hist_bucket_high(i)) / 2;

			return mid < s->max_us || s->max_us == 0 ? mid : s->max_us;
		}
	}
	return s->max_us;
}

uint64_t rlb_hist_count_below(const struct rlb_hist_snapshot *s, uint64_t value_us)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < RLB_HIST_BUCKETS && rlb_hist_bucket_high(i) <= value_us; i++)
		n += s->counts[i];
	return n;
}
