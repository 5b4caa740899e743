/* Name resolution with c-ares (the asynchronous resolver Envoy and curl
 * use; Debian's libc-ares-dev): blocking, for the config's
 * names at load (main thread, nothing else running yet), and asynchronous
 * on the control thread's io_uring loop, for the names re-resolved while
 * ringlb runs (src/control/dns.c). Never on a worker. Both read
 * /etc/hosts first, then DNS: the servers of /etc/resolv.conf, or those
 * `resolvers` names (IP:PORT, comma-separated). */
#ifndef RINGLB_RESOLVER_H
#define RINGLB_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RLB_RESOLVE_MAX 1024 /* addresses kept from one answer: as many as a group's slots */

struct worker;
struct rlb_resolver;

/** One answer: 0 and the addresses (port set, sorted, no duplicates, at
 * most max), or a negative errno with why ("name not found", "timeout"). */
typedef void (*rlb_resolved_fn)(void *arg, int status, const char *why, const struct sockaddr_storage *addrs,
				size_t n);

/** Once per process, before any other call here (main thread). 0 or -EIO. */
int rlb_resolver_library_init(void);

/* One name to resolve now (rlb_resolve_blocking). */
struct rlb_resolve_job {
	const char *host;
	uint16_t port;
	struct sockaddr_storage *out; /* [max]: the addresses with port, sorted */
	size_t max;
	size_t n;                     /* out: how many */
	int rc;                       /* out: 0, or a negative errno with why */
	char why[96];
	int done;                     /* (the resolver's) */
};

/**
 * Resolves every job's name now, all at once, waiting up to timeout_ms in
 * all (main thread, at config load: many names cost one timeout, not one
 * each). Fills each job's n, rc and why. Returns 0, or a negative errno
 * (bad resolvers, memory) with every job failed with why.
 */
int rlb_resolve_blocking(struct rlb_resolve_job *jobs, size_t njobs, const char *resolvers, uint32_t timeout_ms);

/** A resolver on loop (the control thread's): its sockets are polled by the
 * loop's ring. 0 or a negative errno. Control thread (or main, before it starts). */
int rlb_resolver_new(struct worker *loop, const char *resolvers, struct rlb_resolver **out);
/** Starts a query; done runs on the loop's thread, once, with at most max
 * addresses (also with an error when the resolver is freed first). */
void rlb_resolver_query(struct rlb_resolver *r, const char *host, uint16_t port, size_t max, rlb_resolved_fn done,
			void *arg);
/** Expires what timed out: call every loop turn. */
void rlb_resolver_tick(struct rlb_resolver *r);
/** Ends the queries in flight (their done runs with an error), then frees. */
void rlb_resolver_free(struct rlb_resolver *r);

#endif
