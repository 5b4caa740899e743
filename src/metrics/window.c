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

int rlb_window_tick(struct rlb_window *w, const struct rlb_hist_snapshot *now)
{
	struct rlb_window_second *s;
	uint32_t moved = 0, k = 0;

	w->newest = (w->newest + 1) % RLB_WINDOW_SECONDS;
	if (w->seconds < RLB_WINDOW_SECONDS)
		w->seconds++;
	s = &w->ring[w->newest];
	clear(s);
	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++)
		moved += now->counts[i] != w->prev.counts[i];
	if (moved && ((s->bucket = malloc(moved * sizeof(*s->bucket))) == NULL ||
		      (s->count = malloc(moved * sizeof(*s->count))) == NULL)) {
		clear(s);
		w->prev = *now;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < RLB_HIST_BUCKETS; i++)
		if (now->counts[i] != w->prev.counts[i]) {
			s->bucket[k] = i;
			s->count[k++] = now->counts[i] - w->prev.counts[i];
			s->total += now->counts[i] - w->prev.counts[i];
		}
	s->n = moved;
	s->sum_us = now->sum_us - w->prev.sum_us;
	w->prev = *now;
	return 0;
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
}
