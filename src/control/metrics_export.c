/* /metrics (Prometheus text exposition 0.0.4) and /stats (JSON): every
 * worker's statistics slices (metrics/stats.h) summed at the time of the
 * request, on the control thread. Metric names are a contract, listed in
 * the README. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "metrics/stats.h"
#include "ringlb/version.h"

/* Prometheus' buckets: a fixed subset of the histogram's, in seconds. */
static const double le_seconds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
static const char *const err_kinds[] = { "connect", "timeout", "reset", "bad_response" };
static const char *const rejects[] = { "400", "431", "other", "max_connections" };
#define NLE (sizeof(le_seconds) / sizeof(le_seconds[0]))

/* What /metrics prints of a histogram and of a server. */
struct hist_brief {
	uint64_t le[NLE], total, sum_us;
};

struct server_brief {
	uint64_t requests[RLB_CLASSES], errors[RLB_ERR_KINDS], retries, bytes_in, bytes_out, idle_pool;
	uint64_t spliced_in, spliced_out;
	struct hist_brief h[3];
};

void rlb_json_string(struct rlb_buf *b, const char *s)
{
	rlb_buf_printf(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			rlb_buf_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			rlb_buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			rlb_buf_printf(b, "%c", *s);
	}
	rlb_buf_printf(b, "\"");
}

/* A label value, escaped as Prometheus says (names are letters, digits and
 * - _ . : since the config allows no more: kept as a second line of defence). */
static void label(struct rlb_buf *b, const char *s)
{
	for (; *s; s++)
		rlb_buf_printf(b, *s == '"' || *s == '\\' ? "\\%c" : *s == '\n' ? "\\n" : "%c", *s);
}

static void server_labels(struct rlb_buf *b, const struct rlb_server *srv)
{
	rlb_buf_printf(b, "{backend=\"");
	label(b, srv->backend->name);
	rlb_buf_printf(b, "\",server=\"");
	label(b, srv->name);
	rlb_buf_printf(b, "\"");
}

static void head(struct rlb_buf *b, const char *name, const char *type, const char *help)
{
	rlb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One metric line per server: value(k) gives it, extra(k) the extra label. */
struct family {
	const char *name, *type, *help;
	const char *label;          /* NULL: no extra label */
	const char *const *values;  /* the extra label's values */
	int n;                      /* how many (1 without a label) */
};

static void server_family(struct rlb_control *ctl, struct rlb_buf *b, const struct family *f,
			  struct server_brief *sums, uint64_t (*value)(struct rlb_control *, size_t, size_t,
								   const struct server_brief *, int))
{
	size_t idx = 0;

	head(b, f->name, f->type, f->help);
	for (size_t i = 0; i < ctl->cfg->num_backends; i++)
		for (size_t j = 0; j < ctl->cfg->backends[i].num_servers; j++, idx++)
			for (int k = 0; k < f->n; k++) {
				rlb_buf_printf(b, "%s", f->name);
				server_labels(b, &ctl->cfg->backends[i].servers[j]);
				if (f->label)
					rlb_buf_printf(b, ",%s=\"%s\"", f->label, f->values[k]);
				rlb_buf_printf(b, "} %lu\n", (unsigned long)value(ctl, i, j, &sums[idx], k));
			}
}

static uint64_t v_up(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)s, (void)k;
	return atomic_load(&c->cfg->backends[i].servers[j].weight) > 0;
}

static uint64_t v_active(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)s, (void)k;
	return atomic_load(&c->cfg->backends[i].servers[j].active_requests);
}

static uint64_t v_idle(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j, (void)k;
	return s->idle_pool;
}

static uint64_t v_requests(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j;
	return s->requests[k];
}

static uint64_t v_errors(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j;
	return s->errors[k];
}

static uint64_t v_retries(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j, (void)k;
	return s->retries;
}

static uint64_t v_bytes(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j;
	return k == 0 ? s->bytes_in : s->bytes_out;
}

static uint64_t v_spliced(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	(void)c, (void)i, (void)j;
	return k == 0 ? s->spliced_in : s->spliced_out;
}

static uint64_t v_checks(struct rlb_control *c, size_t i, size_t j, const struct server_brief *s, int k)
{
	const struct ctl_server *cs = &c->backends[i].servers[j];

	(void)s;
	return k == 0 ? cs->checks_passed : cs->checks_failed;
}

static void histogram_family(struct rlb_control *ctl, struct rlb_buf *b, const char *name, const char *help,
			     struct server_brief *sums, int which)
{
	size_t idx = 0;

	head(b, name, "histogram", help);
	for (size_t i = 0; i < ctl->cfg->num_backends; i++)
		for (size_t j = 0; j < ctl->cfg->backends[i].num_servers; j++, idx++) {
			const struct rlb_server *srv = &ctl->cfg->backends[i].servers[j];
			const struct hist_brief *h = &sums[idx].h[which];

			for (size_t k = 0; k < NLE; k++) {
				rlb_buf_printf(b, "%s_bucket", name);
				server_labels(b, srv);
				rlb_buf_printf(b, ",le=\"%g\"} %lu\n", le_seconds[k], (unsigned long)h->le[k]);
			}
			rlb_buf_printf(b, "%s_bucket", name);
			server_labels(b, srv);
			rlb_buf_printf(b, ",le=\"+Inf\"} %lu\n%s_sum", (unsigned long)h->total, name);
			server_labels(b, srv);
			rlb_buf_printf(b, "} %.6f\n%s_count", (double)h->sum_us / 1e6, name);
			server_labels(b, srv);
			rlb_buf_printf(b, "} %lu\n", (unsigned long)h->total);
		}
}

/* A frontend metric's line start: name{frontend="F" */
static void fe_line(struct rlb_buf *b, const char *name, const struct rlb_frontend *fe)
{
	rlb_buf_printf(b, "%s{frontend=\"", name);
	label(b, fe->name);
	rlb_buf_printf(b, "\"");
}

static void frontend_metrics(struct rlb_control *ctl, struct rlb_buf *b)
{
	const struct rlb_config *cfg = ctl->cfg;
	struct rlb_frontend_totals *f = calloc(cfg->num_frontends, sizeof(*f));

	if (f == NULL)
		return;
	for (size_t i = 0; i < cfg->num_frontends; i++)
		rlb_stats_sum_frontend(&cfg->frontends[i], &f[i]);
	head(b, "ringlb_frontend_connections_active", "gauge", "Client connections open now.");
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		fe_line(b, "ringlb_frontend_connections_active", &cfg->frontends[i]);
		rlb_buf_printf(b, "} %lu\n", (unsigned long)(f[i].connections > f[i].closed ? f[i].connections - f[i].closed : 0));
	}
	head(b, "ringlb_frontend_connections_total", "counter", "Client connections accepted.");
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		fe_line(b, "ringlb_frontend_connections_total", &cfg->frontends[i]);
		rlb_buf_printf(b, "} %lu\n", (unsigned long)f[i].connections);
	}
	head(b, "ringlb_frontend_requests_total", "counter", "Answers sent to clients, by status class.");
	for (size_t i = 0; i < cfg->num_frontends; i++)
		for (int k = 0; k < RLB_CLASSES; k++) {
			fe_line(b, "ringlb_frontend_requests_total", &cfg->frontends[i]);
			rlb_buf_printf(b, ",code=\"%s\"} %lu\n", classes[k], (unsigned long)f[i].requests[k]);
		}
	head(b, "ringlb_frontend_rejected_total", "counter", "Requests ringlb refused itself, by reason.");
	for (size_t i = 0; i < cfg->num_frontends; i++)
		for (int k = 0; k < RLB_REJECTS; k++) {
			fe_line(b, "ringlb_frontend_rejected_total", &cfg->frontends[i]);
			rlb_buf_printf(b, ",reason=\"%s\"} %lu\n", rejects[k], (unsigned long)f[i].rejected[k]);
		}
	free(f);
}

static void brief_hist(struct hist_brief *out, const struct rlb_hist_snapshot *h)
{
	out->total = 0;
	for (uint32_t k = 0; k < RLB_HIST_BUCKETS; k++)
		out->total += h->counts[k];
	for (size_t k = 0; k < NLE; k++)
		out->le[k] = rlb_hist_count_below(h, (uint64_t)(le_seconds[k] * 1e6));
	out->sum_us = h->sum_us;
}

/* Every server summed over the workers, one at a time through the
 * control thread's scratch, kept as what /metrics prints (a few hundred
 * bytes a server, not the whole histograms). */
static struct server_brief *brief_servers(struct rlb_control *ctl, size_t *n)
{
	const struct rlb_config *cfg = ctl->cfg;
	struct rlb_server_totals *t = ctl->scratch;
	struct server_brief *sums;
	size_t idx = 0;

	*n = 0;
	for (size_t i = 0; i < cfg->num_backends; i++)
		*n += cfg->backends[i].num_servers;
	sums = calloc(*n ? *n : 1, sizeof(*sums));
	for (size_t i = 0; sums != NULL && i < cfg->num_backends; i++)
		for (size_t j = 0; j < cfg->backends[i].num_servers; j++) {
			struct server_brief *s = &sums[idx++];

			rlb_stats_sum_server(&cfg->backends[i].servers[j], t);
			memcpy(s->requests, t->requests, sizeof(s->requests));
			memcpy(s->errors, t->errors, sizeof(s->errors));
			s->retries = t->retries;
			s->bytes_in = t->bytes_in;
			s->bytes_out = t->bytes_out;
			s->spliced_in = t->spliced_in;
			s->spliced_out = t->spliced_out;
			s->idle_pool = t->idle_pool;
			brief_hist(&s->h[0], &t->connect);
			brief_hist(&s->h[1], &t->response);
			brief_hist(&s->h[2], &t->total);
		}
	return sums;
}

int rlb_export_prometheus(struct rlb_control *ctl, struct rlb_buf *b)
{
	static const char *const dirs[] = { "in", "out" }, *const results[] = { "pass", "fail" };
	const struct family fams[] = {
		{ "ringlb_server_up", "gauge", "Whether the server takes new requests.", NULL, NULL, 1 },
		{ "ringlb_server_active_connections", "gauge", "Requests in flight on the server.", NULL, NULL, 1 },
		{ "ringlb_server_idle_pool_connections", "gauge", "Idle pooled connections to the server.", NULL, NULL, 1 },
		{ "ringlb_server_requests_total", "counter", "Answers from the server, by status class.", "code", classes,
		  RLB_CLASSES },
		{ "ringlb_server_errors_total", "counter", "Tries that failed, by kind.", "kind", err_kinds, RLB_ERR_KINDS },
		{ "ringlb_server_retries_total", "counter", "Requests tried again after this server failed them.", NULL,
		  NULL, 1 },
		{ "ringlb_server_bytes_total", "counter", "Bytes from (in) and to (out) the server.", "direction", dirs, 2 },
		{ "ringlb_server_spliced_bytes_total", "counter",
		  "Of ringlb_server_bytes_total, the bytes moved by splice(2), never copied through ringlb.", "direction",
		  dirs, 2 },
		{ "ringlb_server_health_checks_total", "counter", "Active health checks, by result.", "result", results, 2 },
	};
	uint64_t (*const values[])(struct rlb_control *, size_t, size_t, const struct server_brief *, int) = {
		v_up, v_active, v_idle, v_requests, v_errors, v_retries, v_bytes, v_spliced, v_checks,
	};
	size_t n;
	struct server_brief *sums = brief_servers(ctl, &n);

	if (sums == NULL)
		return -ENOMEM;
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++)
		server_family(ctl, b, &fams[f], sums, values[f]);
	histogram_family(ctl, b, "ringlb_server_connect_duration_seconds", "Connect time to the server.", sums, 0);
	histogram_family(ctl, b, "ringlb_server_response_duration_seconds",
			 "From the request sent to the response head.", sums, 1);
	histogram_family(ctl, b, "ringlb_server_total_duration_seconds", "From the pick to the end of the response.",
			 sums, 2);
	free(sums);
	frontend_metrics(ctl, b);
	head(b, "ringlb_workers", "gauge", "Worker threads.");
	rlb_buf_printf(b, "ringlb_workers %d\n", ctl->cfg->workers);
	head(b, "ringlb_uptime_seconds", "gauge", "Seconds since start.");
	rlb_buf_printf(b, "ringlb_uptime_seconds %.3f\n", (double)(ctl->loop.now_ms - ctl->started_ms) / 1000.0);
	head(b, "ringlb_build_info", "gauge", "Always 1; the labels say what runs.");
	rlb_buf_printf(b, "ringlb_build_info{version=\"%s\"} 1\n", RLB_VERSION);
	return 0;
}

static void latency_json(struct rlb_buf *b, const char *name, const struct rlb_hist_snapshot *h)
{
	static const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
	static const char *const qn[] = { "p50", "p90", "p95", "p99", "p999" };

	rlb_buf_printf(b, "\"%s\":{", name);
	for (size_t k = 0; k < 5; k++)
		rlb_buf_printf(b, "\"%s\":%.3f,", qn[k], (double)rlb_hist_quantile(h, qs[k]) / 1000.0);
	rlb_buf_printf(b, "\"max\":%.3f,\"count\":%lu}", (double)h->max_us / 1000.0, (unsigned long)h->count);
}

/* The last `seconds` of cs: counts and latency percentiles. */
static void window_json(struct rlb_control *ctl, struct rlb_buf *b, const struct ctl_server *cs, uint32_t seconds)
{
	static const char *const names[] = { "connect", "response", "total" };
	struct rlb_hist_snapshot *h = ctl->hscratch;
	struct ctl_counts c;

	rlb_control_window_counts(cs, seconds, &c);
	rlb_buf_printf(b, "\"%us\":{\"requests\":{", seconds);
	for (int k = 0; k < RLB_CLASSES; k++)
		rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", classes[k], (unsigned long)c.requests[k]);
	rlb_buf_printf(b, "},\"errors\":{");
	for (int k = 0; k < RLB_ERR_KINDS; k++)
		rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", err_kinds[k], (unsigned long)c.errors[k]);
	rlb_buf_printf(b, "},\"retries\":%lu,\"latency\":{", (unsigned long)c.retries);
	for (int k = 0; k < 3; k++) {
		memset(h, 0, sizeof(*h));
		rlb_window_sum(&cs->win[k], seconds, h);
		rlb_buf_printf(b, k ? "," : "");
		latency_json(b, names[k], h);
	}
	rlb_buf_printf(b, "}}");
}

int rlb_export_stats_json(struct rlb_control *ctl, struct rlb_buf *b)
{
	const struct rlb_config *cfg = ctl->cfg;
	struct rlb_server_totals *s = ctl->scratch; /* one server at a time */

	rlb_buf_printf(b, "{\"uptime_s\":%.3f,\"workers\":%d,\"latency_unit\":\"ms\","
		       "\"slo_ms\":{\"p95\":%u,\"p99\":%u},\"frontends\":[",
		       (double)(ctl->loop.now_ms - ctl->started_ms) / 1000.0, cfg->workers, cfg->slo_p95_ms, cfg->slo_p99_ms);
	for (size_t i = 0; i < cfg->num_frontends; i++) {
		struct rlb_frontend_totals f;

		rlb_stats_sum_frontend(&cfg->frontends[i], &f);
		rlb_buf_printf(b, "%s{\"name\":", i ? "," : "");
		rlb_json_string(b, cfg->frontends[i].name);
		rlb_buf_printf(b, ",\"connections_active\":%lu,\"connections_total\":%lu,\"requests\":{",
			       (unsigned long)(f.connections > f.closed ? f.connections - f.closed : 0), (unsigned long)f.connections);
		for (int k = 0; k < RLB_CLASSES; k++)
			rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", classes[k], (unsigned long)f.requests[k]);
		rlb_buf_printf(b, "},\"rejected\":{");
		for (int k = 0; k < RLB_REJECTS; k++)
			rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", rejects[k], (unsigned long)f.rejected[k]);
		rlb_buf_printf(b, "}}");
	}
	rlb_buf_printf(b, "],\"backends\":[");
	for (size_t i = 0; i < cfg->num_backends; i++) {
		const struct ctl_backend *cb = &ctl->backends[i];

		rlb_buf_printf(b, "%s{\"name\":", i ? "," : "");
		rlb_json_string(b, cb->be->name);
		rlb_buf_printf(b, ",\"servers\":[");
		for (size_t j = 0; j < cb->be->num_servers; j++) {
			const struct rlb_server *srv = cb->servers[j].srv;

			rlb_stats_sum_server(srv, s);
			rlb_buf_printf(b, "%s{\"name\":", j ? "," : "");
			rlb_json_string(b, srv->name);
			rlb_buf_printf(b, ",\"state\":\"%s\",\"weight\":%u,\"active\":%lu,\"requests\":{",
				       rlb_server_state_name((enum rlb_server_state)atomic_load(&srv->state)),
				       cb->servers[j].admin_weight, (unsigned long)atomic_load(&srv->active_requests));
			for (int k = 0; k < RLB_CLASSES; k++)
				rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", classes[k], (unsigned long)s->requests[k]);
			rlb_buf_printf(b, "},\"errors\":{");
			for (int k = 0; k < RLB_ERR_KINDS; k++)
				rlb_buf_printf(b, "%s\"%s\":%lu", k ? "," : "", err_kinds[k], (unsigned long)s->errors[k]);
			rlb_buf_printf(b, "},\"retries\":%lu,\"bytes_in\":%lu,\"bytes_out\":%lu,\"latency\":{",
				       (unsigned long)s->retries, (unsigned long)s->bytes_in, (unsigned long)s->bytes_out);
			latency_json(b, "connect", &s->connect);
			rlb_buf_printf(b, ",");
			latency_json(b, "response", &s->response);
			rlb_buf_printf(b, ",");
			latency_json(b, "total", &s->total);
			rlb_buf_printf(b, "},\"windows\":{");
			window_json(ctl, b, &cb->servers[j], 1);
			rlb_buf_printf(b, ",");
			window_json(ctl, b, &cb->servers[j], 10);
			rlb_buf_printf(b, ",");
			window_json(ctl, b, &cb->servers[j], 60);
			rlb_buf_printf(b, "}}");
		}
		rlb_buf_printf(b, "]}");
	}
	rlb_buf_printf(b, "]}\n");
	return 0;
}
