/* Quiescent-state-based reclamation (liburcu's QSBR, reduced to what ringlb
 * needs): memory that worker threads may still read through a pointer that
 * another thread has swapped out is freed only once every worker has since
 * passed a quiescent state, a point where it holds no such pointer.
 *
 * Readers are the worker threads. A worker is online only while it handles
 * completions (balancer picks run there) and goes offline before it blocks
 * in its wait, so an idle worker never holds up a grace period, and a busy
 * one ends one every loop turn. No lock, no counter on the pick path.
 *
 * Writer side (any thread, e.g. a module's rebuild thread):
 *     old = atomic_exchange(&shared, fresh);       (seq_cst)
 *     token = rlb_qsbr_retire();
 *     ... later, when rlb_qsbr_safe(token): free(old)
 * Proof sketch: a reader whose counter reaches token read the global counter
 * after the writer's increment, which follows the exchange, so it sees the
 * fresh pointer from then on; a reader that went offline holds no pointer;
 * every other reader holds up rlb_qsbr_safe(). All operations are seq_cst,
 * so a reader coming online (store, then fence, then pointer load) and the
 * writer (exchange, then counter loads) cannot both miss each other.
 */
#ifndef RINGLB_QSBR_H
#define RINGLB_QSBR_H

#include <stdatomic.h>
#include <stdint.h>

/* One per reader thread, registered for as long as the thread may read. */
struct rlb_qsbr_reader {
	atomic_uint_fast64_t seen; /* 0: offline; else the grace counter last seen */
};

/** Writer: call after unpublishing an object; returns the token to pass to
 * rlb_qsbr_safe(). Any thread. */
uint64_t rlb_qsbr_retire(void);

/** Writer: whether every reader has passed a quiescent state (or been
 * offline) since the rlb_qsbr_retire() that returned token. Any thread. */
int rlb_qsbr_safe(uint64_t token);

/** Reader (the core's worker threads): register online, at most 256 at once;
 * returns 0 or -ENOSPC. Unregister before the reader's memory goes. */
int rlb_qsbr_register(struct rlb_qsbr_reader *r);
void rlb_qsbr_unregister(struct rlb_qsbr_reader *r);
/** Reader: holds no shared pointer from before this call. */
void rlb_qsbr_quiescent(struct rlb_qsbr_reader *r);
/** Reader: about to block; holds no shared pointer until rlb_qsbr_online(). */
void rlb_qsbr_offline(struct rlb_qsbr_reader *r);
void rlb_qsbr_online(struct rlb_qsbr_reader *r);

#endif
