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

#define RLB_RESOLVE_MAX 256 /* addresses kept from one answer */

struct worker;
struct rlb_resolver;

/** One answer: 0 and the addresses (port set, sorted, no duplicates, at
 * most max), or a negative errno with why ("name not found", "timeout"). */
typedef void (*rlb_resolved_fn)(void *arg, int status, const char *why, const struct sockaddr_storage *addrs,
				size_t n);

/** Once per process, before any other call here (main thread). 0 or -EIO. */
int rlb_resolver_library_init(void);

/**
 * Resolves host now, waiting up to timeout_ms (main thread, at config load).
 * Writes up to max addresses with port to out, sorted, and their count to
 * *n. Returns 0, or a negative errno with why set.
 */
int rlb_resolve_blocking(const char *host, uint16_t port, const char *resolvers, uint32_t timeout_ms,
			 struct sockaddr_storage *out, size_t max, size_t *n, char *why, size_t whylen);

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
