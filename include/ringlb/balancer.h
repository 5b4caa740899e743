/* The balancer interface: one ops table per algorithm.
 *
 * Modelled on h2o's balancer callbacks and Linux tcp_congestion_ops: a named,
 * versioned ops struct with required and optional hooks. Built-in modules live
 * in balancers/, one file each, and are listed in src/balance/balancer_registry.c.
 *
 * Threading: the core creates one instance per (backend, worker thread), so an
 * instance is only ever called from its own worker and needs no locks. State
 * that must be seen by all workers (in-flight counts, server state) lives in
 * struct rlb_server as atomics. */
#ifndef RINGLB_BALANCER_H
#define RINGLB_BALANCER_H

#include <stdint.h>
#include <sys/socket.h>

#include "ringlb/http_parser.h"
#include "ringlb/server.h"

/* Bumped whenever the layout of anything in this header changes. */
#define RLB_BALANCER_ABI_VERSION 3 /* 3: servers from DNS (their address may change); 2: runtime state and weights */

/* What a pick may look at. */
struct rlb_pick_ctx {
	const struct sockaddr *client_addr; /* never NULL */
	uint64_t now_us;                    /* monotonic clock, microseconds */
	/* The parsed request head, for hashing on path, header or cookie: the
	 * head as the client sent it (hop-by-hop headers and X-Forwarded-* as
	 * they came), on the first try and, parsed again, on every retry, so
	 * both picks see the same headers. NULL only if it could not be had. */
	const struct rlb_http_msg *req;
	/* Servers already tried for this request: never pick one of these.
	 * One bit per server index (see rlb_avoid_has()); never NULL. */
	const uint64_t *avoid;
};

/* How a request ended, for request_end. */
enum rlb_outcome {
	RLB_OUTCOME_OK = 0,       /* a full response was relayed */
	RLB_OUTCOME_CONNECT_FAIL, /* refused or timed out before any byte was sent */
	RLB_OUTCOME_TIMEOUT,      /* no response head within timeout_server */
	RLB_OUTCOME_BAD_RESPONSE, /* malformed or truncated response */
	RLB_OUTCOME_ABORTED,      /* the client went away */
};

/* Base of every instance: modules embed it as their first member. */
struct rlb_balancer {
	const struct rlb_balancer_ops *ops;
	struct rlb_backend *backend;
};

struct rlb_balancer_ops {
	uint32_t abi_version; /* RLB_BALANCER_ABI_VERSION */
	const char *name;     /* the config's "balance = NAME" */

	/** Required. Creates an instance for backend be (its servers are final).
	 * Called at start, once per worker, before any pick. Sets *out and
	 * returns 0, or returns a negative errno. */
	int (*create)(struct rlb_backend *be, struct rlb_balancer **out);

	/** Required. Returns an eligible server (state UP, weight > 0, not in
	 * ctx->avoid), or NULL when none is left. Hot path: no allocation, no
	 * blocking. */
	struct rlb_server *(*pick)(struct rlb_balancer *b, const struct rlb_pick_ctx *ctx);

	/** Optional. A request was sent to srv (after a successful pick). */
	void (*request_start)(struct rlb_balancer *b, struct rlb_server *srv);

	/** Optional. The request on srv ended at now_us (monotonic); latency_us
	 * runs from the pick to the end of the response (or the failure). */
	void (*request_end)(struct rlb_balancer *b, struct rlb_server *srv,
			    enum rlb_outcome outcome, uint64_t latency_us, uint64_t now_us);

	/** Optional. srv changed state or weight; called on every worker. */
	void (*server_changed)(struct rlb_balancer *b, struct rlb_server *srv);

	/** Required. Frees what create allocated. */
	void (*destroy)(struct rlb_balancer *b);

	/** Optional. NULL-terminated names of the backend keys this module
	 * reads (e.g. "hash_key"); any other key it does not know is a config
	 * error. Values are read in create() with rlb_backend_param(). */
	const char *const *params;

	/** Optional. Checks one of those keys' value at config load; returns 0,
	 * or -EINVAL with *why set (reported as FILE:LINE: key: why). */
	int (*check_param)(const char *key, const char *value, const char **why);
};

/* The weight picks use now (see ringlb/server.h): load it once per use,
 * since the control thread may change it between two loads. */
static inline uint32_t rlb_server_weight(const struct rlb_server *srv)
{
	return atomic_load_explicit(&srv->weight, memory_order_relaxed);
}

/* Whether srv may take a new request in this pick. */
static inline int rlb_server_eligible(const struct rlb_server *srv, const struct rlb_pick_ctx *ctx)
{
	return rlb_server_weight(srv) > 0 && atomic_load_explicit(&srv->state, memory_order_relaxed) == RLB_SERVER_UP &&
	       !rlb_avoid_has(ctx->avoid, srv->index);
}

/**
 * Looks up a built-in module by name. Returns NULL when there is none.
 * Thread-safe (the table is constant).
 */
const struct rlb_balancer_ops *rlb_balancer_find(const char *name);

/** The built-in modules' names, ", "-separated, into out (for messages).
 * Returns the length written. */
size_t rlb_balancer_names(char *out, size_t len);

/**
 * Loads a balancer from a shared object for "balance = plugin:PATH". The
 * object exports `const struct rlb_balancer_ops rlb_balancer_plugin`. Returns
 * the ops, or NULL with *why set (cannot open, no symbol, wrong ABI version,
 * required hook missing). The object stays loaded for the process lifetime.
 */
const struct rlb_balancer_ops *rlb_balancer_load_plugin(const char *path, char *why, size_t whylen);

/**
 * Checks that ops is usable: right ABI version, name and required hooks set.
 * Returns 0 or -EINVAL, with *why set to a message for the user.
 */
int rlb_balancer_validate(const struct rlb_balancer_ops *ops, const char **why);

#endif
