/* The listening socket: opened at start and by live, closed by die and the
 * stop, accepting with one multishot accept (testserver.h). */
#include "tools/testserver/testserver.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void post_accept(struct listener *l)
{
	struct io_uring_sqe *sqe = server_sqe(l->srv, l, OP_ACCEPT);

	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
}

/* SO_REUSEADDR so live can bind while die's connections sit in TIME_WAIT;
 * TCP_NODELAY is inherited by the accepted sockets (pipelined answers go out
 * as they come due, not when Nagle allows). */
static int open_socket(const struct server_options *opt)
{
	int one = 1, fd = socket(opt->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&opt->addr, opt->addr_len) < 0 || listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int listener_open(struct listener *l)
{
	const struct server_options *opt = l->srv->opt;
	int fd = open_socket(opt);

	if (fd < 0) {
		fprintf(stderr, "ringlb-testserver %s: cannot listen on %s: %s\n", opt->name, opt->listen_text,
			strerror(-fd));
		return fd;
	}
	l->fd = fd;
	l->state = LISTENER_OPEN;
	post_accept(l);
	return 0;
}

/* The accept holds a reference to the socket: closing the fd alone would
 * leave it listening. So cancel, and close when the accept's last CQE comes. */
void listener_close(struct listener *l)
{
	struct io_uring_sqe *sqe;

	l->reopen = 0;
	if (l->state != LISTENER_OPEN)
		return;
	l->state = LISTENER_CLOSING;
	sqe = server_sqe(l->srv, NULL, OP_NOTE);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)l | OP_ACCEPT, 0);
}

/* The multishot accept ended: re-post it if still open (it stops on an
 * error such as EMFILE), else the socket can go, and live may reopen it. */
static void accept_ended(struct listener *l)
{
	struct server *s = l->srv;

	if (l->state == LISTENER_OPEN) {
		post_accept(l);
		return;
	}
	close(l->fd);
	l->fd = -1;
	l->state = LISTENER_CLOSED;
	if (l->reopen && !s->stopping) {
		l->reopen = 0;
		listener_open(l);
	}
}

void listener_on_accept(struct listener *l, int res, uint32_t cqe_flags)
{
	if (res >= 0) {
		/* Accepted just before a die or the stop took effect: as if refused. */
		if (l->state == LISTENER_OPEN && !l->srv->stopping)
			client_accept(l->srv, res);
		else
			close(res);
	}
	if (!(cqe_flags & IORING_CQE_F_MORE))
		accept_ended(l);
}
