/* The listening sockets, owned by the process rather than by a loop, so a
 * reload hands them to the next generation's loops instead of closing
 * them: a connection waiting in a socket's accept queue is accepted by
 * whichever loop accepts on it next, and none is reset (nginx passes its
 * listeners to the new binary, HAProxy hands them over with
 * expose-fd listeners, for the same reason). Loops borrow the descriptors
 * (struct rlb_listen.fd) and never close them.
 *
 * One address has as many sockets as the loops that listen on it want
 * (SO_REUSEPORT: the kernel spreads connections between them, one per
 * worker). Main thread only. */
#ifndef RINGLB_LISTEN_POOL_H
#define RINGLB_LISTEN_POOL_H

#include <stdint.h>
#include <sys/socket.h>

struct rlb_pool_socket {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int fd;
	uint32_t mark; /* the generation that took it last */
};

struct rlb_listen_pool {
	struct rlb_pool_socket *s;
	size_t n, cap;
};

/**
 * The sockets listening on addr for the generation mark: every socket the
 * pool already has for addr (all of them are taken, so none is left to
 * close while it holds waiting connections), and new ones up to `want`.
 * Marks every one of them with mark; writes their descriptors to fds (as
 * many as fds_cap allows: room for max(want, what the pool has) gets them
 * all) and returns how many it wrote, or a negative errno (logged with
 * text). The first
 * socket opened for an address logs when another process already holds it.
 */
int rlb_listen_pool_take(struct rlb_listen_pool *p, const struct sockaddr *addr, socklen_t len, const char *text,
			 size_t want, uint32_t mark, int *fds, size_t fds_cap);

/** How many sockets the pool holds for addr. */
size_t rlb_listen_pool_count(const struct rlb_listen_pool *p, const struct sockaddr *addr, socklen_t len);

/** Closes every socket no generation took since mark (an address the new
 * configuration dropped). Loops still accepting on one must have been told
 * to stop: their pending accept holds the socket until it is cancelled. */
void rlb_listen_pool_close_unmarked(struct rlb_listen_pool *p, uint32_t mark);

/** Closes the sockets opened since the pool held n (a generation that
 * failed to start opened them; no loop accepts on them, and the kernel
 * would queue connections there for nobody). */
void rlb_listen_pool_truncate(struct rlb_listen_pool *p, size_t n);

/** Closes every socket (SIGTERM: clients waiting in the queues are refused
 * rather than kept waiting for the drain) and frees the pool. */
void rlb_listen_pool_free(struct rlb_listen_pool *p);

#endif
