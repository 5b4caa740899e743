/* Latency histograms, HdrHistogram-style: log-linear buckets, exact below
 * 256 us and 128 buckets per power of two above, so a value is known to
 * within 1/128 (0.8%) of itself from 1 us to RLB_HIST_MAX_US; larger values
 * land in the last bucket (and in max). Percentiles are read at a bucket's
 * middle: at most 0.4% off.
 *
 * One writer (a worker, recording with relaxed loads and stores: no lock,
 * no locked instruction, no syscall) and any number of readers (the control
 * thread, merging the workers' histograms when it is asked for them). A
 * reader may see a record half made (its bucket but not yet its count):
 * harmless for statistics, and exact again once the writer is quiet. */
#ifndef RINGLB_HISTOGRAM_H
#define RINGLB_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define RLB_HIST_MAX_US (60ull * 1000 * 1000) /* 60 s */
#define RLB_HIST_BUCKETS 2560                  /* covers 0 .. 2^26 us (67 s) */

struct rlb_histogram {
	atomic_uint_fast64_t counts[RLB_HIST_BUCKETS]; /* 64 bits: a busy bucket passes 2^32 in days */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
	atomic_uint_fast64_t max_us;
};

/* A merged copy, for reading: plain numbers. */
struct rlb_hist_snapshot {
	uint64_t counts[RLB_HIST_BUCKETS];
	uint64_t count, sum_us, max_us;
};

/** The bucket of value_us. */
static inline uint32_t rlb_hist_bucket(uint64_t value_us)
{
	uint32_t e;

	if (value_us < 256)
		return (uint32_t)value_us;
	e = (uint32_t)(63 - __builtin_clzll(value_us)) - 7; /* value >> e is in [128, 256) */
	if (e > 18)
		return RLB_HIST_BUCKETS - 1;
	return 256 + (e - 1) * 128 + (uint32_t)((value_us >> e) - 128);
}

/* Single writer: a relaxed load and store, no locked instruction. */
static inline void rlb_counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/** Records value_us. Only the histogram's one writer thread may call it. */
static inline void rlb_hist_record(struct rlb_histogram *h, uint64_t value_us)
{
	rlb_counter_add(&h->counts[rlb_hist_bucket(value_us)], 1);
	rlb_counter_add(&h->count, 1);
	rlb_counter_add(&h->sum_us, value_us);
	if (value_us > atomic_load_explicit(&h->max_us, memory_order_relaxed))
		atomic_store_explicit(&h->max_us, value_us, memory_order_relaxed);
}

/** The lowest and highest value of bucket i. */
uint64_t rlb_hist_bucket_low(uint32_t i);
uint64_t rlb_hist_bucket_high(uint32_t i);

/** Adds h into s (any thread). */
void rlb_hist_merge(struct rlb_hist_snapshot *s, const struct rlb_histogram *h);

/** The value at quantile q (0..1) of s, in microseconds: the middle of the
 * bucket holding it (at most max). 0 when s is empty. */
uint64_t rlb_hist_quantile(const struct rlb_hist_snapshot *s, double q);

/** How many values of s are <= value_us (by bucket: those whose bucket
 * ends at or below it), for Prometheus' cumulative `le` buckets. */
uint64_t rlb_hist_count_below(const struct rlb_hist_snapshot *s, uint64_t value_us);

#endif
