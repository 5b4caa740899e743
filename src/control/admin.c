/* The admin listener: the fourth connection kind, on the control thread.
 * A small HTTP/1.1 server (keep-alive, one request at a time) for the
 * operator:
 *   GET  /backends                                   servers, state, weight, in-flight, last check
 *   POST /backends/NAME/servers/NAME/drain|enable|disable
 *   PUT  /backends/NAME/servers/NAME/weight           body: a number 0..256
 * With admin_token set, the actions need "Authorization: Bearer TOKEN"
 * (401 otherwise); reading needs nothing. Binds to loopback unless the
 * config says otherwise. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/control.h"

#define ADMIN_REQUEST_MS 10000 /* a whole request (idle time included), a fixed deadline: no slowloris */
#define ADMIN_BODY_MAX 1024
#define ADMIN_HEAD_MAX 8192

struct admin_conn {
	struct conn c;
	struct rlb_control *ctl;
	uint8_t reading_body : 1;
	uint8_t close_after : 1; /* the client asked for it, or the request was bad */
	uint8_t authorized : 1;  /* the request carried the right token (or none is needed) */
	uint8_t head_only : 1;   /* HEAD: the answer has no body */
	char method[8];
	char path[256];
	char body[ADMIN_BODY_MAX + 1];
	size_t body_len, body_want;
	struct rlb_buf resp;     /* the response being sent */
};

static const struct conn_ops admin_conn_ops;

/* Sends a whole response; content_type is a "Content-Type: ...\r\n" line. */
static void respond_typed(struct admin_conn *a, int status, const char *reason, const char *headers,
			  const struct rlb_buf *body)
{
	struct rlb_buf *r = &a->resp;

	r->len = 0;
	rlb_buf_printf(r, "HTTP/1.1 %d %s\r\nContent-Length: %u\r\nCache-Control: no-store\r\n%s%s\r\n",
		       status, reason, body->len, headers, a->close_after ? "Connection: close\r\n" : "");
	if (body->len && !a->head_only)
		rlb_buf_append(r, body->data, body->len);
	rlb_conn_send_add(&a->c, r->data, r->len);
	rlb_conn_send_submit(&a->c);
}

static void respond(struct admin_conn *a, int status, const char *reason, const char *extra_headers,
		    const struct rlb_buf *body)
{
	char headers[256];

	snprintf(headers, sizeof(headers), "Content-Type: application/json\r\n%s", extra_headers ? extra_headers : "");
	respond_typed(a, status, reason, headers, body);
}

static void respond_error(struct admin_conn *a, int status, const char *reason, const char *extra_headers,
			  const char *msg)
{
	struct rlb_buf body = { 0 };

	rlb_buf_printf(&body, "{\"error\":");
	rlb_json_string(&body, msg);
	rlb_buf_printf(&body, "}\n");
	respond(a, status, reason, extra_headers, &body);
	rlb_buf_free(&body);
}

static void put_server(struct rlb_buf *b, const struct ctl_server *cs)
{
	const struct rlb_server *srv = cs->srv;

	rlb_buf_printf(b, "{\"name\":");
	rlb_json_string(b, srv->name);
	rlb_buf_printf(b, ",\"address\":");
	rlb_json_string(b, srv->addr_text);
	rlb_buf_printf(b, ",\"state\":\"%s\",\"weight\":%u,\"effective_weight\":%.4g,\"backup\":%s,\"in_flight\":%lu,"
	       "\"requests\":%lu,\"failures\":%lu,\"last_check\":",
	    rlb_server_state_name((enum rlb_server_state)atomic_load(&srv->state)), cs->admin_weight,
	    (double)atomic_load(&srv->weight) / RLB_WEIGHT_SCALE, srv->backup ? "true" : "false",
	    (unsigned long)atomic_load(&srv->active_requests), (unsigned long)atomic_load(&srv->total_requests),
	    (unsigned long)atomic_load(&srv->failures));
	if (cs->hc != NULL)
		rlb_json_string(b, cs->last_check);
	else
		rlb_buf_printf(b, "null");
	rlb_buf_printf(b, "}");
}

static void list_backends(struct admin_conn *a)
{
	struct rlb_control *ctl = a->ctl;
	struct rlb_buf body = { 0 };

	rlb_buf_printf(&body, "{\"backends\":[");
	for (size_t i = 0; i < ctl->cfg->num_backends; i++) {
		const struct ctl_backend *cb = &ctl->backends[i];

		rlb_buf_printf(&body, "%s{\"name\":", i ? "," : "");
		rlb_json_string(&body, cb->be->name);
		rlb_buf_printf(&body, ",\"balance\":");
		rlb_json_string(&body, cb->be->balancer->name);
		rlb_buf_printf(&body, ",\"servers\":[");
		for (size_t j = 0; j < cb->be->num_servers; j++) {
			rlb_buf_printf(&body, j ? "," : "");
			put_server(&body, &cb->servers[j]);
		}
		rlb_buf_printf(&body, "]}");
	}
	rlb_buf_printf(&body, "]}\n");
	respond(a, 200, "OK", NULL, &body);
	rlb_buf_free(&body);
}

/* Splits "/backends/B/servers/S/ACTION" into its three names. */
static int split_action(const char *path, const char **b, size_t *bl, const char **s, size_t *sl,
			const char **act)
{
	const char *p;

	if (strncmp(path, "/backends/", 10) != 0)
		return -1;
	*b = path + 10;
	if ((p = strchr(*b, '/')) == NULL || strncmp(p, "/servers/", 9) != 0)
		return -1;
	*bl = (size_t)(p - *b);
	*s = p + 9;
	if ((p = strchr(*s, '/')) == NULL)
		return -1;
	*sl = (size_t)(p - *s);
	*act = p + 1;
	return *bl && *sl ? 0 : -1;
}

static int parse_weight(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (errno || *end || v > 256)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void server_action(struct admin_conn *a, struct ctl_backend *cb, struct ctl_server *cs, const char *act)
{
	static const char *const admin_acts[] = { "enable", "drain", "disable" };
	int is_weight = strcmp(act, "weight") == 0, found = is_weight;
	enum rlb_admin_state st = RLB_ADMIN_ENABLED;
	struct rlb_buf body = { 0 };
	uint32_t weight;

	for (int i = 0; i < 3 && !found; i++)
		if (strcmp(act, admin_acts[i]) == 0)
			found = 1, st = (enum rlb_admin_state)i;
	if (!found) {
		respond_error(a, 404, "Not Found", NULL, "unknown action (drain, enable, disable, weight)");
		return;
	}
	if (strcmp(a->method, is_weight ? "PUT" : "POST") != 0) {
		respond_error(a, 405, "Method Not Allowed", is_weight ? "Allow: PUT\r\n" : "Allow: POST\r\n",
			      is_weight ? "use PUT with the weight as the body" : "use POST");
		return;
	}
	if (!a->authorized) {
		respond_error(a, 401, "Unauthorized", "WWW-Authenticate: Bearer realm=\"ringlb\"\r\n",
			      "this action needs Authorization: Bearer <admin_token>");
		return;
	}
	if (is_weight) {
		a->body[a->body_len] = '\0';
		if (parse_weight(a->body, &weight) < 0) {
			respond_error(a, 400, "Bad Request", NULL, "the body must be a weight from 0 to 256");
			return;
		}
		rlb_control_set_weight(a->ctl, cb, cs, weight);
	} else {
		rlb_control_set_admin(a->ctl, cb, cs, st);
	}
	put_server(&body, cs);
	rlb_buf_printf(&body, "\n");
	respond(a, 200, "OK", NULL, &body);
	rlb_buf_free(&body);
}

/* /metrics and /stats: the metrics, summed now over the workers. */
static int export(struct admin_conn *a, int (*render)(struct rlb_control *, struct rlb_buf *), const char *type)
{
	struct rlb_buf body = { 0 };
	char ct[96];

	if (strcmp(a->method, "GET") != 0 && strcmp(a->method, "HEAD") != 0) {
		respond_error(a, 405, "Method Not Allowed", "Allow: GET\r\n", "use GET");
		return 1;
	}
	if (render(a->ctl, &body) < 0) {
		rlb_buf_free(&body);
		respond_error(a, 500, "Internal Server Error", NULL, "out of memory");
		return 1;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", type);
	respond_typed(a, 200, "OK", ct, &body);
	rlb_buf_free(&body);
	return 1;
}

static void route(struct admin_conn *a)
{
	const char *bn, *sn, *act;
	size_t bl, sl;
	struct ctl_backend *cb;
	struct ctl_server *cs;

	if (strcmp(a->path, "/") == 0 && strcmp(a->method, "GET") == 0) {
		struct rlb_buf page = { (char *)rlb_dashboard_html, rlb_dashboard_html_len, rlb_dashboard_html_len };

		respond_typed(a, 200, "OK", "Content-Type: text/html; charset=utf-8\r\n", &page);
		return;
	}
	if (strcmp(a->path, "/metrics") == 0 && export(a, rlb_export_prometheus, "text/plain; version=0.0.4"))
		return;
	if (strcmp(a->path, "/stats") == 0 && export(a, rlb_export_stats_json, "application/json"))
		return;

	if (strcmp(a->path, "/backends") == 0 || strcmp(a->path, "/backends/") == 0) {
		if (strcmp(a->method, "GET") != 0 && strcmp(a->method, "HEAD") != 0)
			respond_error(a, 405, "Method Not Allowed", "Allow: GET\r\n", "use GET");
		else
			list_backends(a);
		return;
	}
	if (split_action(a->path, &bn, &bl, &sn, &sl, &act) < 0) {
		respond_error(a, 404, "Not Found", NULL, "no such endpoint (GET /backends, "
			      "POST /backends/B/servers/S/{drain,enable,disable}, PUT /backends/B/servers/S/weight)");
		return;
	}
	if ((cb = rlb_control_backend(a->ctl, bn, bl)) == NULL) {
		respond_error(a, 404, "Not Found", NULL, "no such backend");
		return;
	}
	if ((cs = rlb_control_server(cb, sn, sl)) == NULL) {
		respond_error(a, 404, "Not Found", NULL, "no such server in this backend");
		return;
	}
	server_action(a, cb, cs, act);
}

/* Constant time, so the token cannot be guessed a byte at a time. */
static int token_ok(const char *want, const char *got, size_t len)
{
	size_t n = strlen(want);
	unsigned diff = (unsigned)(n ^ len);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < len ? got[i] : 0);
	return diff == 0;
}

static int authorized(struct rlb_control *ctl, const struct rlb_http_msg *m)
{
	const char *token = ctl->cfg->admin_token;

	if (token[0] == '\0')
		return 1;
	for (size_t i = 0; i < m->num_headers; i++) {
		const struct rlb_http_header *h = &m->headers[i];

		if (rlb_http_token_eq(h->name, h->name_len, "authorization") && h->value_len > 7 &&
		    strncmp(h->value, "Bearer ", 7) == 0)
			return token_ok(token, h->value + 7, h->value_len - 7);
	}
	return 0;
}

static ssize_t parse_req(const char *buf, size_t len, size_t last_len, void *arg)
{
	struct admin_conn *a = arg;
	struct rlb_http_limits lim = { ADMIN_HEAD_MAX, sizeof(a->path) - 1 };

	return rlb_http_parse_request(buf, len, last_len, &lim, &a->ctl->msg);
}

/* Takes in a request head: what route() needs is copied out of the buffer. */
static int read_head(struct admin_conn *a)
{
	const struct rlb_http_msg *m = &a->ctl->msg;
	ssize_t n = rlb_conn_read_head(&a->c, parse_req, a);

	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		int status = m->error_status ? m->error_status : 400;

		a->close_after = 1;
		a->head_only = 0;
		respond_error(a, status, status == 414 ? "URI Too Long" : status == 431 ? "Request Header Fields Too Large"
				   : status == 501 ? "Not Implemented" : status == 505 ? "HTTP Version Not Supported"
									: "Bad Request",
			      NULL, m->error ? m->error : "bad request");
		return -1;
	}
	snprintf(a->method, sizeof(a->method), "%.*s", (int)m->method_len, m->method);
	a->head_only = strcmp(a->method, "HEAD") == 0;
	snprintf(a->path, sizeof(a->path), "%.*s", (int)m->target_len, m->target);
	a->authorized = (uint8_t)authorized(a->ctl, m);
	a->close_after = m->minor_version == 0 ? !(m->flags & RLB_HTTP_CONN_KEEPALIVE)
					       : !!(m->flags & RLB_HTTP_CONN_CLOSE);
	a->body_len = 0;
	a->body_want = m->body == RLB_BODY_LENGTH ? m->content_length : 0;
	if (m->body == RLB_BODY_CHUNKED || a->body_want > ADMIN_BODY_MAX) {
		rlb_conn_head_consumed(&a->c);
		a->close_after = 1;
		respond_error(a, 413, "Content Too Large", NULL, "bodies are at most 1024 bytes, with Content-Length");
		return -1;
	}
	rlb_conn_head_consumed(&a->c);
	a->reading_body = 1;
	return 1;
}

static void serve(struct admin_conn *a);

/* One request at a time: a client that pipelines faster than it reads has
 * its reads paused (flow control), so it holds a few buffers at most. */
static void on_io(struct conn *c)
{
	serve((struct admin_conn *)c);
	rlb_conn_flow_control(c);
}

static void serve(struct admin_conn *a)
{
	struct conn *c = &a->c;

	if (c->send_busy)
		return;
	if (a->close_after && a->resp.len) { /* the last answer is out */
		rlb_conn_close(c);
		return;
	}
	if (a->resp.len || !rlb_timer_armed(&c->timer)) /* a new request may start: its deadline */
		rlb_conn_arm_timer(c, ADMIN_REQUEST_MS);
	a->resp.len = 0;
	if (!a->reading_body && read_head(a) <= 0) {
		if (c->eof && !c->send_busy)
			rlb_conn_close(c);
		return;
	}
	a->body_len += rlb_conn_take(c, a->body + a->body_len, a->body_want - a->body_len);
	if (a->body_len < a->body_want) {
		if (c->eof)
			rlb_conn_close(c);
		return;
	}
	a->reading_body = 0;
	rlb_conn_arm_timer(c, ADMIN_REQUEST_MS); /* for sending the answer; the next request gets its own */
	route(a);
}

static void on_timeout(struct conn *c)
{
	rlb_conn_close(c);
}

static void destroy(struct conn *c)
{
	struct admin_conn *a = (struct admin_conn *)c;
	struct worker *w = c->w;

	rlb_conn_release(c);
	rlb_buf_free(&a->resp);
	free(a);
	w->nclients--;
	rlb_worker_client_gone(w);
}

static const struct conn_ops admin_conn_ops = {
	.name = "admin",
	.on_io = on_io,
	.on_timeout = on_timeout,
	.on_drain = on_timeout,
	.on_shutdown = on_timeout,
	.destroy = destroy,
};

void rlb_admin_accept(struct listener *l, int fd)
{
	struct admin_conn *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		close(fd);
		return;
	}
	rlb_conn_init(&a->c, l->w, fd, &admin_conn_ops);
	l->w->nclients++; /* the loop pauses accepting at RLB_ADMIN_CONNS_MAX */
	a->ctl = l->at.owner;
	a->c.readable = 1;
	rlb_conn_arm_recv(&a->c);
	rlb_conn_arm_timer(&a->c, ADMIN_REQUEST_MS);
}
