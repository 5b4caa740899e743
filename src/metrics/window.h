/* Sliding windows over a cumulative histogram (the last 10 s, the last
 * 60 s): once a second the owner hands in the cumulative snapshot; the
 * difference from the last one is kept, sparse (only the buckets that
 * moved), in a ring of RLB_WINDOW_SECONDS. A window is the sum of the
 * newest seconds. Pure and single-threaded: the control thread owns them. */
#ifndef RINGLB_WINDOW_H
#define RINGLB_WINDOW_H

#include "ringlb/histogram.h"

#define RLB_WINDOW_SECONDS 60

struct rlb_window_second {
	uint32_t n;          /* buckets that moved */
	uint32_t *bucket;    /* [n] their indexes */
	uint64_t *count;     /* [n] by how much */
	uint64_t total, sum_us;
};

struct rlb_window {
	struct rlb_window_second prev;                     /* the cumulative at the last tick, sparse too */
	struct rlb_window_second ring[RLB_WINDOW_SECONDS];
	uint32_t newest;                                   /* ring index of the newest second */
	uint32_t seconds;                                  /* how many are filled, up to RLB_WINDOW_SECONDS */
};

/** Takes the cumulative snapshot now (one second after the last): keeps its
 * difference from the last one as the newest second, and now itself,
 * sparse, for the next. 0 or -ENOMEM (the second is then kept empty and
 * the next one holds both). */
int rlb_window_tick(struct rlb_window *w, const struct rlb_hist_snapshot *now);

/** The last `seconds` seconds (at most those kept) added into out; max is
 * the highest value of the highest bucket that moved. */
void rlb_window_sum(const struct rlb_window *w, uint32_t seconds, struct rlb_hist_snapshot *out);

void rlb_window_free(struct rlb_window *w);

#endif
