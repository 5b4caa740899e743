/* Servers and backends as the forwarding core and the balancers see them.
 *
 * Both are built once from the config before the workers start and never move
 * afterwards. Fields marked "shared" are read and written by more than one
 * thread, so they are atomics; everything else is read-only after start.
 *
 * Who writes what (Envoy's model: the control plane decides, workers forward):
 *  - state and weight are written by the control thread only (and by main
 *    before any thread starts). After changing a server it bumps the server's
 *    version, then its backend's generation, then the config's generation, each
 *    a release store; a worker loads the global generation once per loop turn
 *    (acquire) and, when it moved, calls its balancers' server_changed for
 *    each server whose version it has not seen. So a change reaches every
 *    worker within one loop turn (a 100 ms tick at most when idle).
 *  - In between, a pick may meet the new state with a balancer structure
 *    built for the old one: eventually consistent, never unsafe, because every
 *    pick checks eligibility (rlb_server_eligible) on the server it returns.
 *  - The counters (active_requests, ..., consecutive_failures) are written by
 *    workers with atomic adds and read by the control thread and the admin
 *    listener: relaxed, as statistics are.
 */
#ifndef RINGLB_SERVER_H
#define RINGLB_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rlb_balancer_ops;
struct rlb_slices;

enum rlb_server_state {
	RLB_SERVER_UP = 0,
	RLB_SERVER_DOWN,     /* failed its health checks */
	RLB_SERVER_DRAIN,    /* drained by the operator: finishes what it has, takes nothing new */
	RLB_SERVER_DISABLED, /* disabled by the operator or the config */
	RLB_SERVER_EJECTED,  /* passive: too many failures in a row, out for a while */
	RLB_SERVER_UNRESOLVED, /* a slot of a DNS name (struct rlb_server_group) without an address */
};

/* Published weights are the operator's weight (0..256) times this, so slow
 * start can ramp a weight-1 server in steps; modules treat weights as
 * relative, so the scale changes no share. */
#define RLB_WEIGHT_SCALE 16u

#define RLB_NAME_MAX 64

struct rlb_server_group;

struct rlb_server {
	char name[RLB_NAME_MAX];
	/* Where it is. Fixed, or for a slot of a DNS name (group != NULL)
	 * rewritten by the control thread while addr_seq is odd, and read with
	 * rlb_server_addr() (a seqlock: workers never wait). */
	char addr_text[64];        /* "127.0.0.1:9001", for logs and a check's Host */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	atomic_uint addr_seq;      /* shared: odd while addr is being rewritten */
	struct rlb_server_group *group; /* the DNS name it is a slot of, or NULL */
	uint32_t weight_config;    /* 0..256 from the config ("weight=N", default 1) */
	uint8_t backup;            /* serves only while no other server of its backend is up */
	uint8_t disabled_config;   /* starts disabled */
	uint32_t index;            /* position in backend->servers, for avoid bitmaps */
	struct rlb_backend *backend;

	atomic_int state;          /* shared: enum rlb_server_state */
	/* shared: the weight picks use, in units of 1/RLB_WEIGHT_SCALE of the
	 * operator's weight; 0 while the server takes no new requests (not up,
	 * or a backup while another server is up). */
	atomic_uint weight;
	atomic_uint version;       /* shared: bumped after each change of state or weight */
	atomic_uint_fast64_t active_requests; /* shared: requests in flight on all workers */
	atomic_uint_fast64_t total_requests;  /* shared */
	atomic_uint_fast64_t failures;        /* shared: connect failures, timeouts, bad responses, 5xx */
	/* shared: connect failures, timeouts and 5xx in a row, over all workers
	 * (any success resets it): passive ejection's count. */
	atomic_uint consecutive_failures;
	atomic_int last_failure;   /* shared: its last one, a status or -enum rlb_outcome, for the log */
	struct rlb_slices *stats;  /* per worker slot: each worker writes its own (src/metrics/stats.h) */
};

enum rlb_health_kind { RLB_HEALTH_NONE = 0, RLB_HEALTH_TCP, RLB_HEALTH_HTTP };

/* What a request may be retried on. A failed connect always is (it reached
 * no server); the rest only for an idempotent request without a body, all
 * of which was sent. */
enum {
	RLB_RETRY_CONNECT = 1u << 0,
	RLB_RETRY_502 = 1u << 1,
	RLB_RETRY_503 = 1u << 2,
	RLB_RETRY_504 = 1u << 3,
	RLB_RETRY_RESET = 1u << 4, /* the server closed or reset before its answer */
};

/* "servers = PREFIX HOST:PORT resolve_every=5s max=N": max slots
 * PREFIX1..PREFIXN among the backend's servers, one per address HOST has
 * (A and AAAA records), the rest UNRESOLVED. The control thread resolves
 * HOST every resolve_every (src/control/dns.c); an address keeps its slot
 * while HOST has it, so consistent hashing moves only the keys of slots
 * that changed. */
struct rlb_server_group {
	char prefix[RLB_NAME_MAX];
	char host[128];
	uint16_t port;
	uint32_t resolve_every_ms;
	uint32_t hold_nx_ms;       /* "name not found" this long empties the slots (HAProxy's hold nx) */
	uint32_t first, max;       /* backend->servers[first .. first + max) */
	int line;
	/* The answer at config load (sorted), given to the slots at start; on
	 * a reload whose question failed (loaded_ok 0), the slots keep what the
	 * running generation had. */
	struct sockaddr_storage *loaded;
	size_t num_loaded;
	uint8_t loaded_ok;
};

/** Copies srv's address (consistent, if the control thread rewrites it
 * meanwhile: a seqlock read). Any thread. */
static inline void rlb_server_addr(const struct rlb_server *srv, struct sockaddr_storage *out, socklen_t *len)
{
	unsigned seq;

	do {
		while ((seq = atomic_load_explicit(&srv->addr_seq, memory_order_acquire)) & 1)
			;
		*out = srv->addr;
		*len = srv->addr_len;
		atomic_thread_fence(memory_order_acquire);
	} while (atomic_load_explicit(&srv->addr_seq, memory_order_relaxed) != seq);
}

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
	uint32_t retry_on;                  /* RLB_RETRY_* bits */
	uint32_t retry_budget_pct;          /* retries add at most this share of requests */
	/* Active health checks (control thread): kind, and the HTTP check's
	 * request and accepted statuses. */
	uint8_t health_kind;                /* enum rlb_health_kind */
	char health_path[128];
	char health_host[128];              /* "": the server's address */
	uint16_t health_expect_lo, health_expect_hi;
	uint32_t health_interval_ms, health_timeout_ms;
	uint32_t health_rise, health_fall;
	/* Passive ejection and slow start. */
	uint32_t eject_after;               /* 0: off */
	uint32_t eject_for_ms;
	uint32_t max_ejected_pct;
	uint32_t slow_start_ms;
	char unavailable[224];              /* ringlb's 503 for this backend, with its Retry-After */
	atomic_uint generation;             /* shared: bumped after any of its servers changed */
	atomic_int unavailable_logged;      /* shared: this "no server up" episode is logged */
	struct rlb_server_group *groups;    /* DNS names re-resolved while running */
	size_t num_groups;
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
