/* One generation of the running process: a configuration, the control
 * thread that decides its servers' state, and the workers that forward
 * with it. A reload starts the next generation beside the current one and
 * hands it the listening sockets (listen_pool.h), the servers' health and
 * windows (control.h) and their statistics (stats.h); then the old one
 * drains, and is freed once its last worker has exited. Main thread only. */
#ifndef RINGLB_GENERATION_H
#define RINGLB_GENERATION_H

#include "control/control.h"
#include "core/listen_pool.h"

/* Worker slots (a worker's id, its statistics slice): enough for the most
 * workers of one configuration twice over, the old generation's draining
 * beside the new one's. */
#define RLB_WORKER_SLOTS 512

struct rlb_generation {
	uint32_t number;             /* 1 at start, one more per reload: the listen pool's mark */
	struct rlb_config *cfg;      /* owned */
	struct rlb_control ctl;
	int control_started;
	int *admin_fds;              /* borrowed from the pool: all of the admin address's */
	size_t nadmin;               /* 0: no admin listener */
	struct worker *workers;      /* [cfg->workers] */
	int started;                 /* of them */
	uint64_t stopped_ms;         /* when a reload told it to drain, for the log */
	/* Per server (in config order): its request and failure counts when the
	 * next generation started with them, so what it counts while draining
	 * is added there too when it is freed. */
	uint64_t *handed;
	struct rlb_generation *next; /* the list of generations still draining */
};

/**
 * Starts a generation on cfg (which it owns from then on, also on failure:
 * freed). prev is the current generation on a reload (NULL at start): its
 * control thread is stopped and its state carried over; prev's workers go
 * on until rlb_generation_stop. Returns the generation, or NULL after
 * logging why; prev then runs on as before (its control thread restarted).
 */
struct rlb_generation *rlb_generation_start(struct rlb_config *cfg, struct rlb_generation *prev,
					    struct rlb_listen_pool *pool);

/** Tells g's control thread and workers to drain: hand_over 1 for a reload
 * (the next generation has the listeners), 0 for SIGTERM. Also again, with
 * 0, on a generation already draining for a reload. */
void rlb_generation_stop(struct rlb_generation *g, int hand_over);

/** Whether every worker (and the control thread) of a stopped g has ended. */
int rlb_generation_exited(struct rlb_generation *g);

/** Joins and frees g (stopped). Counts its servers made after handing over
 * are added to the same-named servers of current (NULL at exit). */
void rlb_generation_free(struct rlb_generation *g, struct rlb_generation *current);

#endif
