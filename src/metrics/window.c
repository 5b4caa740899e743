/* Sliding windows of histograms (window.h). */
#include "metrics/window.h"

#include <errno.h>
#include <stdlib.h>

static void clear(struct rlb_window_second *s)
{
	free(s->bucket);
	free(s->count);
	*s = (struct rlb_window_second){ 0 };
}

/* The cumulative count of bucket i in the sparse prev, walking with *j
 * (buckets are visited in order). */
static uint64_t prev_count(const struct rlb_window_second *prev, uint32_t i, uint32_t *j)
{
	if (*j < prev->n && prev->bucket[*j] == i)
		return prev->count[(*j)++];
	return 0;
}

static int alloc_second(struct rlb_window_second *s, uint32_t n)
{
	if (n && ((s->bucket = malloc(n * sizeof(*s->bucket))) == NULL ||
		  (s->count = malloc(n * sizeof(*s->count))) == NULL)) {
		clear(s);
		return -ENOMEM;
	}
	s->n = n;
	return 0;
}

int rlb_window_tick(struct rlb_window *w, const struct rlb_hist_snapshot *now)
{
	struct rlb_window_second *s, next = { 0 };
	uint32_t moved = 0, used = 0, k = 0, u = 0, j = 0;
	int rc = 0;

	w->newest = (w->newest + 1) % RLB_WINDOW_SECONDS;
	if (w->seconds < RLB_WINDOW_SECONDS)
		w->seconds++;
	s = &w->ring[w->newest];
	clear(s);
	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++) {
		moved += now->counts[i] != prev_count(&w->prev, i, &j);
		used += now->counts[i] != 0;
	}
	if (alloc_second(s, moved) < 0 || alloc_second(&next, used) < 0) {
		clear(s);
		rc = -ENOMEM; /* this second stays empty; the next one catches up */
	}
	j = 0;
	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++) {
		uint64_t p = prev_count(&w->prev, i, &j);

		if (rc == 0 && now->counts[i] != p) {
			s->bucket[k] = i;
			s->count[k++] = now->counts[i] - p;
			s->total += now->counts[i] - p;
		}
		if (rc == 0 && now->counts[i] != 0) {
			next.bucket[u] = i;
			next.count[u++] = now->counts[i];
		}
	}
	if (rc == 0) {
		s->sum_us = now->sum_us - w->prev.sum_us;
		next.sum_us = now->sum_us;
		clear(&w->prev);
		w->prev = next;
	}
	return rc;
}

void rlb_window_sum(const struct rlb_window *w, uint32_t seconds, struct rlb_hist_snapshot *out)
{
	uint32_t top = 0;

	if (seconds > w->seconds)
		seconds = w->seconds;
	for (uint32_t back = 0; back < seconds; back++) {
		const struct rlb_window_second *s =
			&w->ring[(w->newest + RLB_WINDOW_SECONDS - back) % RLB_WINDOW_SECONDS];

		for (uint32_t k = 0; k < s->n; k++) {
			out->counts[s->bucket[k]] += s->count[k];
			if (s->bucket[k] > top)
				top = s->bucket[k];
		}
		out->count += s->total;
		out->sum_us += s->sum_us;
	}
	if (out->count && rlb_hist_bucket_high(top) > out->max_us)
		out->max_us = rlb_hist_bucket_high(top);
}

void rlb_window_free(struct rlb_window *w)
{
	for (uint32_t i = 0; i < RLB_WINDOW_SECONDS; i++)
		clear(&w->ring[i]);
	clear(&w->prev);
}
