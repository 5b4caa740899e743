/* c-ares, blocking at load and on the control loop's ring (resolver.h). */
#include "control/resolver.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/loop.h"

#define QUERY_TIMEOUT_MS 1000 /* the first try; c-ares doubles it for the second */

int rlb_resolver_library_init(void)
{
	return ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS ? 0 : -EIO;
}

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sockaddr_storage));
}

/* The answer's addresses with port, sorted and without duplicates (each
 * record comes once per socket type otherwise), at most max: the lowest,
 * whatever order the answer had them in. */
static size_t collect(const struct ares_addrinfo *ai, uint16_t port, struct sockaddr_storage *out, size_t max)
{
	size_t n = 0, kept = 0, cap = 0;
	struct sockaddr_storage *all;

	for (const struct ares_addrinfo_node *node = ai ? ai->nodes : NULL; node; node = node->ai_next)
		cap++;
	if (cap == 0 || (all = calloc(cap, sizeof(*all))) == NULL)
		return 0;
	for (const struct ares_addrinfo_node *node = ai->nodes; node; node = node->ai_next) {
		if (node->ai_family == AF_INET) {
			memcpy(&all[n], node->ai_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)&all[n])->sin_port = htons(port);
		} else if (node->ai_family == AF_INET6) {
			memcpy(&all[n], node->ai_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)&all[n])->sin6_port = htons(port);
		} else {
			continue;
		}
		n++;
	}
	qsort(all, n, sizeof(all[0]), addr_cmp);
	for (size_t i = 0; i < n && kept < max; i++)
		if (i == 0 || addr_cmp(&all[i], &all[i - 1]) != 0)
			out[kept++] = all[i];
	free(all);
	return kept;
}

/* A name that exists without an address (NODATA) is an answer: none. */
static int status_errno(int status)
{
	return status == ARES_SUCCESS || status == ARES_ENODATA ? 0
	       : status == ARES_ENOTFOUND			 ? -ENOENT
	       : status == ARES_ETIMEOUT			 ? -ETIMEDOUT
	       : status == ARES_ENOMEM				 ? -ENOMEM
									 : -EIO;
}

static int new_channel(ares_channel *ch, const char *resolvers, struct ares_options *opt, int mask)
{
	opt->timeout = QUERY_TIMEOUT_MS;
	opt->tries = 2;
	mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	if (ares_init_options(ch, opt, mask) != ARES_SUCCESS)
		return -ENOMEM;
	if (resolvers != NULL && resolvers[0] && ares_set_servers_ports_csv(*ch, resolvers) != ARES_SUCCESS) {
		ares_destroy(*ch);
		return -EINVAL;
	}
	return 0;
}

static struct ares_addrinfo_hints stream_hints(void)
{
	struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };

	return h;
}

/* ---- blocking ---- */

/* ares_getsock's bits: c-ares's own ARES_GETSOCK_WRITABLE shifts a signed
 * 1 by up to 31 places (undefined behaviour, as UBSan says). */
static int sock_bit(int bits, int i)
{
	return (int)(((unsigned)bits >> i) & 1u);
}

static void got_blocking(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct rlb_resolve_job *j = arg;

	(void)timeouts;
	j->done = 1;
	j->n = status == ARES_SUCCESS ? collect(ai, j->port, j->out, j->max) : 0;
	j->rc = status == ARES_ECANCELLED ? -ETIMEDOUT : status_errno(status);
	if (j->rc < 0)
		snprintf(j->why, sizeof(j->why), "%s", j->rc == -ETIMEDOUT ? "no answer in time" : ares_strerror(status));
	ares_freeaddrinfo(ai);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Polls the channel's sockets until every job is done or the deadline. */
static void wait_all(ares_channel ch, struct rlb_resolve_job *jobs, size_t njobs, uint64_t deadline)
{
	for (;;) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), k = 0;
		size_t done = 0;

		for (size_t i = 0; i < njobs; i++)
			done += jobs[i].done;
		if (done == njobs)
			return;
		if (mono_ms() >= deadline) {
			ares_cancel(ch); /* calls got_blocking for the rest: done */
			return;
		}
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			int r = sock_bit(bits, i), w = sock_bit(bits, i + ARES_GETSOCK_MAXNUM);

			if (r || w)
				pfd[k++] = (struct pollfd){ socks[i], (short)((r ? POLLIN : 0) | (w ? POLLOUT : 0)), 0 };
		}
		poll(pfd, (nfds_t)k, 50);
		for (int i = 0; i < k; i++)
			ares_process_fd(ch, pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
					pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	}
}

int rlb_resolve_blocking(struct rlb_resolve_job *jobs, size_t njobs, const char *resolvers, uint32_t timeout_ms)
{
	struct ares_addrinfo_hints hints = stream_hints();
	struct ares_options opt = { 0 };
	ares_channel ch;
	int rc = njobs ? new_channel(&ch, resolvers, &opt, 0) : 0;

	for (size_t i = 0; i < njobs; i++) {
		jobs[i].done = 0;
		jobs[i].n = 0;
		jobs[i].rc = rc;
		snprintf(jobs[i].why, sizeof(jobs[i].why), "%s", rc == -EINVAL ? "bad resolvers" : "out of memory");
	}
	if (njobs == 0 || rc < 0)
		return rc;
	for (size_t i = 0; i < njobs; i++)
		ares_getaddrinfo(ch, jobs[i].host, NULL, &hints, got_blocking, &jobs[i]);
	wait_all(ch, jobs, njobs, mono_ms() + timeout_ms);
	ares_destroy(ch);
	return 0;
}

/* ---- on the control loop ---- */

/* One socket c-ares asked us to watch: a poll on the loop's ring. */
struct sock_watch {
	struct rlb_callback cb;
	struct rlb_resolver *r;
	int fd;
	short want;            /* POLLIN | POLLOUT, as c-ares asked */
	uint8_t armed;         /* a poll (or its removal) is in flight */
	uint8_t closed;        /* c-ares let go of fd: freed once nothing is in flight */
	uint8_t processing;    /* inside ares_process_fd: do not free */
	struct sock_watch *next;
};

struct rlb_resolver {
	ares_channel ch;
	struct worker *loop;
	struct sock_watch *watches;
	int dying;             /* in rlb_resolver_free: the ring is gone */
};

struct query {
	rlb_resolved_fn done;
	void *arg;
	uint16_t port;
	size_t max;
};

static void unlink_watch(struct rlb_resolver *r, struct sock_watch *sw)
{
	for (struct sock_watch **p = &r->watches; *p != NULL; p = &(*p)->next)
		if (*p == sw) {
			*p = sw->next;
			break;
		}
	free(sw);
}

static void on_poll(struct rlb_callback *cb, int res);

static void arm(struct sock_watch *sw)
{
	struct io_uring_sqe *sqe;

	if (sw->armed || sw->closed || sw->want == 0 || sw->r->dying)
		return;
	sqe = rlb_sqe(sw->r->loop);
	io_uring_prep_poll_add(sqe, sw->fd, (unsigned)sw->want);
	io_uring_sqe_set_data64(sqe, rlb_ud(&sw->cb, OP_CALLBACK));
	sw->armed = 1;
}

/* The poll in flight has the old interest, or the fd is let go of: take
 * it back (its completion, -ECANCELED, comes to on_poll). */
static void disarm(struct sock_watch *sw)
{
	struct io_uring_sqe *sqe;

	if (!sw->armed || sw->r->dying)
		return;
	sqe = rlb_sqe(sw->r->loop);
	io_uring_prep_poll_remove(sqe, rlb_ud(&sw->cb, OP_CALLBACK));
	io_uring_sqe_set_data64(sqe, rlb_ud(NULL, OP_IGNORE));
}

static void on_poll(struct rlb_callback *cb, int res)
{
	struct sock_watch *sw = rlb_container_of(cb, struct sock_watch, cb);
	struct rlb_resolver *r = sw->r;

	sw->armed = 0;
	if (!sw->closed && res > 0) {
		sw->processing = 1;
		ares_process_fd(r->ch, res & (POLLIN | POLLERR | POLLHUP) ? sw->fd : ARES_SOCKET_BAD,
				res & POLLOUT ? sw->fd : ARES_SOCKET_BAD);
		sw->processing = 0;
	}
	if (sw->closed)
		unlink_watch(r, sw);
	else
		arm(sw);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rlb_resolver *r = data;
	short want = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
	struct sock_watch *sw = r->watches;

	while (sw != NULL && (sw->fd != fd || sw->closed))
		sw = sw->next;
	if (sw == NULL) {
		if (want == 0 || (sw = calloc(1, sizeof(*sw))) == NULL)
			return; /* (out of memory: the query times out) */
		*sw = (struct sock_watch){ .cb.fn = on_poll, .r = r, .fd = fd, .next = r->watches };
		r->watches = sw;
	}
	if (want == 0)
		sw->closed = 1;
	if (want != sw->want || sw->closed) {
		sw->want = want;
		disarm(sw);
	}
	if (sw->closed && !sw->armed && !sw->processing)
		unlink_watch(r, sw);
	else
		arm(sw);
}

int rlb_resolver_new(struct worker *loop, const char *resolvers, struct rlb_resolver **out)
{
	struct rlb_resolver *r = calloc(1, sizeof(*r));
	struct ares_options opt = { .sock_state_cb = sock_state };
	int rc;

	if (r == NULL)
		return -ENOMEM;
	r->loop = loop;
	opt.sock_state_cb_data = r;
	rc = new_channel(&r->ch, resolvers, &opt, ARES_OPT_SOCK_STATE_CB);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void got_async(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct query *q = arg;
	struct sockaddr_storage *addrs = calloc(q->max ? q->max : 1, sizeof(*addrs));
	size_t n = status == ARES_SUCCESS && addrs != NULL ? collect(ai, q->port, addrs, q->max) : 0;
	int rc = addrs == NULL ? -ENOMEM : status_errno(status);

	(void)timeouts;
	ares_freeaddrinfo(ai);
	q->done(q->arg, rc, rc == -ENOMEM ? "out of memory" : rc < 0 ? ares_strerror(status) : "", addrs, n);
	free(addrs);
	free(q);
}

void rlb_resolver_query(struct rlb_resolver *r, const char *host, uint16_t port, size_t max, rlb_resolved_fn done,
			void *arg)
{
	struct ares_addrinfo_hints hints = stream_hints();
	struct query *q = malloc(sizeof(*q));

	if (q == NULL) {
		done(arg, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	*q = (struct query){ done, arg, port, max < RLB_RESOLVE_MAX ? max : RLB_RESOLVE_MAX };
	ares_getaddrinfo(r->ch, host, NULL, &hints, got_async, q);
}

void rlb_resolver_tick(struct rlb_resolver *r)
{
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void rlb_resolver_free(struct rlb_resolver *r)
{
	if (r == NULL)
		return;
	r->dying = 1;
	ares_destroy(r->ch); /* every query's done runs, with ARES_EDESTRUCTION */
	while (r->watches != NULL)
		unlink_watch(r, r->watches);
	free(r);
}
