/* Active health checks: the third connection kind, on the control thread.
 * One check per server for the whole process. An HTTP check sends
 * "GET path" with User-Agent: ringlb-health-check and keeps the connection
 * alive where the server allows (HTTP/1.1, no Connection: close, a body of
 * a known small length, read and dropped); a "tcp" check only connects.
 * Whatever the server does, a check costs at most health_timeout: the
 * connection's timer runs from the check's start. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control.h"

#define HC_BODY_MAX 65536 /* a longer (or unframed) body: the connection is closed, not read */

struct hc_conn {
	struct conn c;
	struct health_check *hc; /* NULL once the check let go of it */
	uint8_t in_check : 1;    /* a check waits on it */
	uint8_t got_bytes : 1;   /* the server sent something in this check */
	uint64_t body_left;      /* bytes of the last response's body still to drop */
};

struct health_check {
	struct rlb_control *ctl;
	struct ctl_backend *cb;
	struct ctl_server *cs;
	struct rlb_timer next;   /* starts the next check */
	struct hc_conn *conn;    /* in a check, or kept alive between checks */
	char req[512];
	size_t req_len;
	uint64_t started_ms;
	uint8_t reused;          /* this check runs on a kept-alive connection */
};

static const struct conn_ops hc_conn_ops;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* interval +-10%, so checks of many servers drift apart instead of firing
 * together. */
static uint32_t jittered(struct health_check *hc)
{
	uint32_t interval = hc->cb->be->health_interval_ms, spread = interval / 5;

	return interval - interval / 10 + (spread ? (uint32_t)(next_rand(&hc->ctl->rng) % (spread + 1)) : 0);
}

static void schedule(struct health_check *hc, uint32_t ms)
{
	rlb_timer_arm(&hc->ctl->loop.timers, &hc->next, ms);
}

/* Lets go of hc's connection: closed, or kept for the next check. */
static void release_conn(struct health_check *hc, int keep)
{
	struct hc_conn *hcc = hc->conn;

	if (hcc == NULL)
		return;
	hcc->in_check = 0;
	rlb_timer_cancel(&hcc->c.timer);
	if (keep)
		return;
	hcc->hc = NULL;
	hc->conn = NULL;
	rlb_conn_close(&hcc->c);
}

static void finish(struct health_check *hc, int pass, int keep, const char *why)
{
	release_conn(hc, keep);
	rlb_control_check_result(hc->ctl, hc->cb, hc->cs, pass, why);
	if (!hc->ctl->loop.stopping)
		schedule(hc, jittered(hc));
}

/* Out of descriptors or memory here says nothing of the server: no verdict,
 * so a busy ringlb does not mark every healthy server down. */
static int local_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void fail_errno(struct health_check *hc, int err)
{
	char why[80];

	snprintf(why, sizeof(why), "%s", strerror(err));
	why[0] = (char)(why[0] >= 'A' && why[0] <= 'Z' ? why[0] - 'A' + 'a' : why[0]); /* "connection refused" */
	if (!local_error(err)) {
		finish(hc, 0, 0, why);
		return;
	}
	release_conn(hc, 0);
	snprintf(hc->cs->last_check, sizeof(hc->cs->last_check), "skipped: %.60s (here, not the server)", why);
	if (!hc->ctl->loop.stopping)
		schedule(hc, jittered(hc));
}

static void send_request(struct health_check *hc)
{
	struct hc_conn *hcc = hc->conn;

	hcc->in_check = 1;
	hcc->got_bytes = 0;
	rlb_conn_send_add(&hcc->c, hc->req, hc->req_len);
	rlb_conn_send_submit(&hcc->c);
}

static int connect_new(struct health_check *hc)
{
	struct rlb_server *srv = hc->cs->srv;
	struct hc_conn *hcc;
	int fd = rlb_conn_socket(srv->addr.ss_family);

	if (fd < 0)
		return fd;
	hcc = calloc(1, sizeof(*hcc));
	if (hcc == NULL) {
		close(fd);
		return -ENOMEM;
	}
	rlb_conn_init(&hcc->c, &hc->ctl->loop, fd, &hc_conn_ops);
	hcc->hc = hc;
	hcc->in_check = 1;
	hc->conn = hcc;
	hc->reused = 0;
	rlb_conn_connect(&hcc->c, (const struct sockaddr *)&srv->addr, srv->addr_len);
	return 0;
}

/* The time left of this check's health_timeout. */
static uint32_t time_left(struct health_check *hc)
{
	uint64_t spent = hc->ctl->loop.now_ms - hc->started_ms, limit = hc->cb->be->health_timeout_ms;

	return spent < limit ? (uint32_t)(limit - spent) : 1;
}

static void start(struct health_check *hc)
{
	int rc;

	if (hc->conn != NULL && (hc->conn->body_left > 0 || hc->conn->c.eof || hc->conn->c.closing))
		release_conn(hc, 0); /* not clean for another request */
	if (hc->conn != NULL) {
		hc->reused = 1;
		send_request(hc);
	} else if ((rc = connect_new(hc)) < 0) {
		fail_errno(hc, -rc);
		return;
	}
	rlb_conn_arm_timer(&hc->conn->c, time_left(hc));
}

static void next_fired(struct rlb_timer *t)
{
	struct health_check *hc = rlb_container_of(t, struct health_check, next);

	if (hc->ctl->loop.stopping)
		return; /* SIGTERM: no check starts after the drain began */
	if (hc->cs->h.unresolved) { /* a DNS slot without an address: nothing to check */
		schedule(hc, jittered(hc));
		return;
	}
	hc->started_ms = hc->ctl->loop.now_ms;
	start(hc);
}

static void on_connect(struct conn *c, int res)
{
	struct hc_conn *hcc = (struct hc_conn *)c;
	struct health_check *hc = hcc->hc;

	if (hc == NULL) {
		rlb_conn_close(c);
		return;
	}
	if (res < 0) {
		fail_errno(hc, -res);
		return;
	}
	if (hc->cb->be->health_kind == RLB_HEALTH_TCP) {
		finish(hc, 1, 0, "connected");
		return;
	}
	c->readable = 1;
	rlb_conn_arm_recv(c);
	send_request(hc);
}

static ssize_t parse_resp(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct rlb_control *ctl = arg;
	struct rlb_http_limits lim = { 16384, 16384 };

	return rlb_http_parse_response(buf, len, last_len, &lim, 0, &ctl->msg);
}

/* Drops what arrived of the last response's body; the connection is clean
 * again once all of it is in, and unusable if more than that came. */
static int drop_body(struct hc_conn *hcc)
{
	size_t q = rlb_conn_queued(&hcc->c);

	if (q > hcc->body_left)
		return -EBADMSG;
	rlb_conn_discard_input(&hcc->c);
	hcc->body_left -= q;
	return 0;
}

/* A response head is in: the verdict, and whether the connection can carry
 * the next check. */
static void got_head(struct health_check *hc, const struct rlb_http_msg *m)
{
	const struct rlb_backend *be = hc->cb->be;
	struct hc_conn *hcc = hc->conn;
	int pass = m->status >= be->health_expect_lo && m->status <= be->health_expect_hi;
	int keep = m->minor_version == 1 && !(m->flags & RLB_HTTP_CONN_CLOSE) &&
		   (m->body == RLB_BODY_NONE || (m->body == RLB_BODY_LENGTH && m->content_length <= HC_BODY_MAX));
	char why[32];

	hcc->body_left = m->body == RLB_BODY_LENGTH ? m->content_length : 0;
	rlb_conn_head_consumed(&hcc->c);
	if (keep && drop_body(hcc) < 0)
		keep = 0;
	snprintf(why, sizeof(why), "status %d", m->status);
	finish(hc, pass, keep, why);
}

static void on_check_io(struct health_check *hc)
{
	struct hc_conn *hcc = hc->conn;
	ssize_t n;

	hcc->got_bytes |= hcc->c.in.cnt > 0;
	for (;;) {
		n = rlb_conn_read_head(&hcc->c, parse_resp, hc->ctl);
		if (n <= 0 || hc->ctl->msg.status >= 200)
			break;
		rlb_conn_head_consumed(&hcc->c); /* a 1xx: the answer is still to come */
	}
	if (n > 0) {
		got_head(hc, &hc->ctl->msg);
	} else if (n != -EAGAIN) {
		char why[96];

		snprintf(why, sizeof(why), "bad response (%s)", hc->ctl->msg.error ? hc->ctl->msg.error : "?");
		finish(hc, 0, 0, why);
	} else if (hcc->c.eof || hcc->c.err) {
		if (hc->reused && !hcc->got_bytes) {
			/* The server closed the kept-alive connection between checks,
			 * and we raced with that: not the server's failure. */
			release_conn(hc, 0);
			start(hc);
			return;
		}
		if (hcc->c.err)
			fail_errno(hc, -hcc->c.err);
		else
			finish(hc, 0, 0, "connection closed before the response");
	}
}

static void on_io(struct conn *c)
{
	struct hc_conn *hcc = (struct hc_conn *)c;

	if (hcc->hc == NULL) {
		rlb_conn_close(c);
		return;
	}
	if (hcc->in_check)
		on_check_io(hcc->hc);
	else if (c->eof || c->err || drop_body(hcc) < 0) /* idle: the rest of a body, or the server closing */
		release_conn(hcc->hc, 0);
	rlb_conn_flow_control(c);
}

static void on_timeout(struct conn *c)
{
	struct hc_conn *hcc = (struct hc_conn *)c;
	char why[48];

	if (hcc->hc == NULL || !hcc->in_check) {
		rlb_conn_close(c);
		return;
	}
	snprintf(why, sizeof(why), "timeout after %u ms", hcc->hc->cb->be->health_timeout_ms);
	finish(hcc->hc, 0, 0, why);
}

/* SIGTERM: checks stop (a check in progress is dropped, not judged). */
static void on_drain(struct conn *c)
{
	struct hc_conn *hcc = (struct hc_conn *)c;

	if (hcc->hc != NULL)
		release_conn(hcc->hc, 0);
	else
		rlb_conn_close(c);
}

static void destroy(struct conn *c)
{
	struct hc_conn *hcc = (struct hc_conn *)c;

	if (hcc->hc != NULL && hcc->hc->conn == hcc)
		hcc->hc->conn = NULL;
	rlb_conn_release(c);
	free(hcc);
}

static const struct conn_ops hc_conn_ops = {
	.name = "health_check",
	.on_io = on_io,
	.on_connect = on_connect,
	.on_timeout = on_timeout,
	.on_drain = on_drain,
	.on_shutdown = on_drain,
	.destroy = destroy,
};

/* The check's request: its Host is the server's address unless set. */
static void build_request(struct health_check *hc)
{
	const struct rlb_backend *be = hc->cb->be;
	int n = snprintf(hc->req, sizeof(hc->req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringlb-health-check\r\nAccept: */*\r\n\r\n",
			 be->health_path, be->health_host[0] ? be->health_host : hc->cs->srv->addr_text);

	hc->req_len = (size_t)n < sizeof(hc->req) ? (size_t)n : sizeof(hc->req) - 1;
}

void rlb_health_check_address_changed(struct health_check *hc)
{
	release_conn(hc, 0); /* a check in progress is dropped, not judged */
	build_request(hc);
	snprintf(hc->cs->last_check, sizeof(hc->cs->last_check), "none yet");
	if (!hc->ctl->loop.stopping) /* a new address waits for its first check: soon */
		schedule(hc, 1);
}

int rlb_health_check_create(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs)
{
	const struct rlb_backend *be = cb->be;
	struct health_check *hc = calloc(1, sizeof(*hc));

	if (hc == NULL)
		return -ENOMEM;
	*hc = (struct health_check){ .ctl = ctl, .cb = cb, .cs = cs };
	rlb_timer_init(&hc->next, next_fired);
	build_request(hc);
	cs->hc = hc;
	if (cs->last_check[0] == '\0') /* (a reload carries the last one over) */
		snprintf(cs->last_check, sizeof(cs->last_check), "none yet");
	/* The first check within the first interval, spread over it. */
	schedule(hc, 1 + (uint32_t)(next_rand(&ctl->rng) % be->health_interval_ms));
	return 0;
}

void rlb_health_check_free(struct health_check *hc)
{
	if (hc == NULL)
		return;
	rlb_timer_cancel(&hc->next);
	if (hc->conn != NULL)
		hc->conn->hc = NULL;
	free(hc);
}
