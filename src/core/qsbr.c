/* Quiescent-state-based reclamation: contract and proof sketch in
 * include/ringlb/qsbr.h. Registration takes a mutex (at thread start and
 * end); the reader calls on the loop path are one seq_cst store each. */
#include "ringlb/qsbr.h"

#include <errno.h>
#include <pthread.h>

#define READERS_MAX 512 /* a reload's old workers and new ones, 256 each at most */

static atomic_uint_fast64_t grace = 1; /* readers' "seen" is 0 only when offline */
static pthread_mutex_t readers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rlb_qsbr_reader *readers[READERS_MAX];

uint64_t rlb_qsbr_retire(void)
{
	return atomic_fetch_add(&grace, 1) + 1;
}

int rlb_qsbr_safe(uint64_t token)
{
	int safe = 1;

	pthread_mutex_lock(&readers_mu);
	for (int i = 0; i < READERS_MAX && safe; i++) {
		uint64_t seen = readers[i] ? atomic_load(&readers[i]->seen) : 0;

		safe = seen == 0 || seen >= token;
	}
	pthread_mutex_unlock(&readers_mu);
	return safe;
}

int rlb_qsbr_register(struct rlb_qsbr_reader *r)
{
	int rc = -ENOSPC;

	rlb_qsbr_online(r);
	pthread_mutex_lock(&readers_mu);
	for (int i = 0; i < READERS_MAX; i++)
		if (readers[i] == NULL) {
			readers[i] = r;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&readers_mu);
	return rc;
}

void rlb_qsbr_unregister(struct rlb_qsbr_reader *r)
{
	pthread_mutex_lock(&readers_mu);
	for (int i = 0; i < READERS_MAX; i++)
		if (readers[i] == r)
			readers[i] = NULL;
	pthread_mutex_unlock(&readers_mu);
}

void rlb_qsbr_quiescent(struct rlb_qsbr_reader *r)
{
	atomic_store(&r->seen, atomic_load(&grace));
}

void rlb_qsbr_offline(struct rlb_qsbr_reader *r)
{
	atomic_store(&r->seen, 0);
}

void rlb_qsbr_online(struct rlb_qsbr_reader *r)
{
	atomic_store(&r->seen, atomic_load(&grace));
	atomic_thread_fence(memory_order_seq_cst); /* before any shared pointer is loaded */
}
