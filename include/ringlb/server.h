/* Servers and backends as the forwarding core and the balancers see them.
 *
 * Both are built once from the config before the workers start and never move
 * afterwards. Fields marked "shared" are read and written by every worker
 * thread, so they are atomics; everything else is read-only after start. */
#ifndef RINGLB_SERVER_H
#define RINGLB_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rlb_balancer_ops;

enum rlb_server_state {
	RLB_SERVER_UP = 0,
	RLB_SERVER_DOWN,  /* takes no new requests (health checks, to come) */
	RLB_SERVER_DRAIN, /* finishes what it has, takes nothing new */
};

#define RLB_NAME_MAX 64

struct rlb_server {
	char name[RLB_NAME_MAX];
	char addr_text[64];        /* "127.0.0.1:9001", for logs and the Host fallback */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint32_t weight;           /* 1..256, read-only after start */
	uint32_t index;            /* position in backend->servers, for avoid bitmaps */
	struct rlb_backend *backend;

	atomic_int state;                  /* shared: enum rlb_server_state */
	atomic_uint_fast64_t active_requests; /* shared: requests in flight on all workers */
	atomic_uint_fast64_t total_requests;  /* shared */
	atomic_uint_fast64_t failures;        /* shared: connect failures, timeouts, bad responses */
};

/* A module-specific backend key, e.g. "hash_key = header:X-User". */
struct rlb_param {
	char key[RLB_NAME_MAX];
	char value[192];
	int line;
};

struct rlb_backend {
	char name[RLB_NAME_MAX];
	int line;                           /* config line of the section, for errors */
	const struct rlb_balancer_ops *balancer;
	struct rlb_server *servers;
	size_t num_servers;
	uint32_t timeout_connect_ms;
	uint32_t timeout_server_ms;
	uint32_t pool_idle_timeout_ms;
	uint32_t pool_max_idle;             /* idle upstream connections per server and worker */
	int retries;
	struct rlb_param *params;           /* keys the balancer module reads */
	size_t num_params;
	/* Scratch a module may use for state shared by all workers' instances
	 * (create runs on the main thread, one worker after the other). */
	void *balancer_shared;
};

/** The value of a module key of be, or NULL when the config does not set it. */
const char *rlb_backend_param(const struct rlb_backend *be, const char *key);

/* Words needed for a bitmap with one bit per server of a backend. */
#define RLB_AVOID_WORDS(n) (((n) + 63) / 64)

static inline int rlb_avoid_has(const uint64_t *avoid, uint32_t index)
{
	return avoid != NULL && (avoid[index / 64] >> (index % 64)) & 1;
}

static inline void rlb_avoid_add(uint64_t *avoid, uint32_t index)
{
	avoid[index / 64] |= UINT64_C(1) << (index % 64);
}

#endif
