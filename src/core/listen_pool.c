/* The process's listening sockets (contract in listen_pool.h). */
#include "core/listen_pool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop.h"

static int same_addr(const struct rlb_pool_socket *s, const struct sockaddr *addr, socklen_t len)
{
	return s->addr_len == len && memcmp(&s->addr, addr, len) == 0;
}

/* SO_REUSEPORT: one socket per worker, the kernel spreads connections;
 * TCP_NODELAY is inherited by accepted sockets. */
static int open_socket(const struct sockaddr *addr, socklen_t len)
{
	int one = 1, fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 || bind(fd, addr, len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Whether another socket already holds the address: a bind without
 * SO_REUSEPORT fails then. With SO_REUSEPORT ours would still bind (that is
 * how a second ringlb takes over for a restart), and the kernel would share
 * the port's connections with the other socket's owner: worth a log line.
 * Probed before any socket of ours exists, so ours never answer it. */
static int port_taken(const struct sockaddr *addr, socklen_t len)
{
	int one = 1, fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), taken;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	taken = bind(fd, addr, len) < 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

size_t rlb_listen_pool_count(const struct rlb_listen_pool *p, const struct sockaddr *addr, socklen_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += same_addr(&p->s[i], addr, len);
	return n;
}

static int pool_add(struct rlb_listen_pool *p, const struct sockaddr *addr, socklen_t len, int fd)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct rlb_pool_socket *s = realloc(p->s, cap * sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		p->s = s;
		p->cap = cap;
	}
	memset(&p->s[p->n], 0, sizeof(p->s[p->n]));
	memcpy(&p->s[p->n].addr, addr, len);
	p->s[p->n].addr_len = len;
	p->s[p->n].fd = fd;
	p->n++;
	return 0;
}

int rlb_listen_pool_take(struct rlb_listen_pool *p, const struct sockaddr *addr, socklen_t len, const char *text,
			 size_t want, uint32_t mark, int *fds, size_t fds_cap)
{
	size_t have = rlb_listen_pool_count(p, addr, len), n = 0;
	int shared = have == 0 && port_taken(addr, len);

	for (; have < want; have++) {
		int fd = open_socket(addr, len);

		if (fd < 0 || pool_add(p, addr, len, fd) < 0) {
			if (fd >= 0)
				close(fd);
			rlb_error("listen on %s: %s", text, strerror(fd < 0 ? -fd : ENOMEM));
			return fd < 0 ? fd : -ENOMEM;
		}
	}
	if (shared)
		rlb_warn("listen on %s: the port is already bound by another socket (another ringlb?); "
			"the kernel will share its connections with it", text);
	for (size_t i = 0; i < p->n; i++)
		if (same_addr(&p->s[i], addr, len)) {
			p->s[i].mark = mark; /* all of them, whatever fds has room for */
			if (n < fds_cap)
				fds[n++] = p->s[i].fd;
		}
	return (int)n;
}

void rlb_listen_pool_close_unmarked(struct rlb_listen_pool *p, uint32_t mark)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->n; i++) {
		if (p->s[i].mark == mark)
			p->s[kept++] = p->s[i];
		else
			close(p->s[i].fd);
	}
	p->n = kept;
}

void rlb_listen_pool_truncate(struct rlb_listen_pool *p, size_t n)
{
	while (p->n > n)
		close(p->s[--p->n].fd);
}

void rlb_listen_pool_free(struct rlb_listen_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		close(p->s[i].fd);
	free(p->s);
	memset(p, 0, sizeof(*p));
}
