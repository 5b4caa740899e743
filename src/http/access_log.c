/* The access log: one line per request, off the hot path. Each worker
 * formats lines into the buffer it is filling; after each loop turn the
 * full one goes to the file with an io_uring write (a disk or a pipe never
 * blocks the worker) while the other fills. If both are busy, lines are
 * dropped and counted, and that is logged once per episode: a slow disk
 * costs log lines, never latency. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/proxy.h"

#define LOG_BUF 65536
#define LOG_LINE_MAX 1024

struct rlb_access_log {
	struct rlb_callback done;  /* first: the write's completion */
	struct worker *w;
	int fd;
	int json;
	char *buf[2];
	uint32_t len[2];
	uint32_t sent;             /* of the buffer being written */
	int filling;               /* the buffer lines go into */
	uint8_t busy;              /* the other one is being written */
	uint8_t drop_logged;
	uint64_t dropped;
};

static void submit(struct rlb_access_log *al)
{
	int out = !al->filling;
	struct io_uring_sqe *sqe = rlb_sqe(al->w);

	io_uring_prep_write(sqe, al->fd, al->buf[out] + al->sent, al->len[out] - al->sent, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, rlb_ud(&al->done, OP_CALLBACK));
	if (!al->busy)
		al->w->nwrites++; /* one until the whole buffer is out: the exit waits for it */
	al->busy = 1;
}

static void written(struct rlb_callback *cb, int res)
{
	struct rlb_access_log *al = (struct rlb_access_log *)cb;
	int out = !al->filling;

	if (res > 0 && al->sent + (uint32_t)res < al->len[out]) {
		al->sent += (uint32_t)res; /* a short write: the rest */
		submit(al);
		return;
	}
	if (res < 0)
		rlb_error("%s: access log: %s", al->w->name, strerror(-res));
	al->len[out] = al->sent = 0;
	al->busy = 0;
	al->w->nwrites--;
}

int rlb_access_log_open(struct worker *w)
{
	const struct rlb_config *cfg = w->cfg;
	struct rlb_access_log *al;
	int rc = -ENOMEM;

	if (cfg->access_log[0] == '\0')
		return 0;
	al = calloc(1, sizeof(*al));
	if (al == NULL || (al->buf[0] = malloc(LOG_BUF)) == NULL || (al->buf[1] = malloc(LOG_BUF)) == NULL)
		goto fail;
	al->fd = strcmp(cfg->access_log, "-") == 0 ? dup(STDOUT_FILENO)
						   : open(cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (al->fd < 0) {
		rc = -errno;
		rlb_error("access_log %s: %s", cfg->access_log, strerror(errno));
		goto fail;
	}
	al->w = w;
	al->json = cfg->access_log_json;
	al->done.fn = written;
	w->upper->access_log = al;
	return 0;
fail:
	if (al != NULL) {
		free(al->buf[0]);
		free(al->buf[1]);
	}
	free(al);
	return rc;
}

void rlb_access_log_flush(struct worker *w)
{
	struct rlb_access_log *al = w->upper->access_log;

	if (al == NULL || al->busy || al->len[al->filling] == 0)
		return;
	al->filling = !al->filling;
	submit(al);
}

/* At exit, after the loop (which waited for the write in flight): what is
 * left goes out with one plain write that must not block the exit (a
 * pipe nobody reads): what it cannot take is dropped and counted. */
void rlb_access_log_close(struct worker *w)
{
	struct rlb_access_log *al = w->upper ? w->upper->access_log : NULL;
	uint32_t len;
	ssize_t n;

	if (al == NULL)
		return;
	len = al->len[al->filling];
	if (len && !al->busy) {
		fcntl(al->fd, F_SETFL, fcntl(al->fd, F_GETFL) | O_NONBLOCK);
		n = write(al->fd, al->buf[al->filling], len);
		if (n < (ssize_t)len) /* lines cut short or not written: count them */
			for (uint32_t i = n > 0 ? (uint32_t)n : 0; i < len; i++)
				al->dropped += al->buf[al->filling][i] == '\n';
	}
	if (al->dropped)
		rlb_warn("%s: access log: %lu line(s) dropped in all (the file took them too slowly)", w->name,
			(unsigned long)al->dropped);
	close(al->fd);
	free(al->buf[0]);
	free(al->buf[1]);
	free(al);
	w->upper->access_log = NULL;
}

/* A JSON string value or a quoted text field: control bytes and quotes
 * escaped, so a client cannot forge a line. */
static int put_escaped(char *p, size_t room, const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 7 < room; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(p + n, room - n, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(p + n, room - n, "\\u%04x", c);
		else
			p[n++] = (char)c;
	}
	p[n] = '\0';
	return (int)n;
}

void rlb_access_log_line(struct session *s, const char *termination)
{
	struct rlb_access_log *al = s->c.w->upper->access_log;
	uint64_t now_us = s->c.w->now_us;
	char line[LOG_LINE_MAX], method[40], path[512], stamp[64], server[200];
	const char *req = s->log_req ? s->log_req : "- -", *sp = strchr(req, ' ');
	struct timespec ts;
	struct tm tm;
	int n;

	if (al == NULL)
		return;
	put_escaped(method, sizeof(method), req, sp ? (size_t)(sp - req) : strlen(req));
	put_escaped(path, sizeof(path), sp ? sp + 1 : "", sp ? strlen(sp + 1) : 0);
	put_escaped(server, sizeof(server), s->log_server ? s->log_server->name : "-",
		    strlen(s->log_server ? s->log_server->name : "-"));
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	(void)n;
	if (al->json)
		n = snprintf(line, sizeof(line),
			     "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
			     "\"server\":\"%s\",\"bytes\":%lu,\"connect_ms\":%.3f,\"response_ms\":%.3f,\"total_ms\":%.3f,"
			     "\"retries\":%d,\"termination\":\"%s\"}\n",
			     stamp, s->peer_ip, method, path, s->client_status, server,
			     (unsigned long)s->bytes_to_client, (double)s->connect_us / 1000.0,
			     (double)s->response_us / 1000.0, (double)(now_us - s->t_request_us) / 1000.0,
			     s->tries + s->retried_stale, termination);
	else
		n = snprintf(line, sizeof(line), "%s %s \"%s %s\" %d %s %lu %.3f %.3f %.3f %d %s\n", stamp, s->peer_ip,
			     method, path, s->client_status, server,
			     (unsigned long)s->bytes_to_client, (double)s->connect_us / 1000.0,
			     (double)s->response_us / 1000.0, (double)(now_us - s->t_request_us) / 1000.0,
			     s->tries + s->retried_stale, termination);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (al->len[al->filling] + (uint32_t)n > LOG_BUF) {
		if (!al->busy) { /* full and the other is free: switch now */
			rlb_access_log_flush(s->c.w);
		} else {
			if (!al->drop_logged)
				rlb_warn("%s: access log: the file takes lines too slowly, dropping some", s->c.w->name);
			al->drop_logged = 1;
			al->dropped++;
			return;
		}
	}
	al->drop_logged = 0;
	memcpy(al->buf[al->filling] + al->len[al->filling], line, (size_t)n);
	al->len[al->filling] += (uint32_t)n;
}
