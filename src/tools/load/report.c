/* The summary: text, JSON, and the rate judgement (contract in report.h). */
#include "tools/load/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define KEPT_TOLERANCE 0.01 /* "the rate was kept": within 1% */

/* The sending window: a rate is what went out per second of it. The drain
 * after it (answers still coming) is latency, already in the percentiles;
 * counting it here would call a slow server's drain a missed rate. */
double load_measured_s(const struct load_dispatch_stats *s)
{
	uint64_t end_us = s->issue_end_us ? s->issue_end_us : s->last_done_us;

	return end_us > s->measure_start_us ? (double)(end_us - s->measure_start_us) / 1e6 : 0;
}

void load_report_warn(struct load_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n_warnings == LOAD_WARNINGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->warnings[r->n_warnings++], sizeof(r->warnings[0]), fmt, ap);
	va_end(ap);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static double achieved_rate(const struct load_report *r)
{
	return r->duration_s > 0 ? (double)r->rec->all.requests / r->duration_s : 0;
}

/* Why the rate was missed: every cause above 1% of the requests, else the server's pace. */
static void explain_missed_rate(struct load_report *r, const struct load_dispatch_stats *s)
{
	uint64_t failed = load_tally_errors(&r->rec->all) - r->rec->all.errors[LOAD_ERR_STATUS_5XX];
	int said = 0;

	if (share(s->late_cpu, s->scheduled) > 1) {
		load_report_warn(r, "the generator fell behind (CPU): %lu requests (%.1f%%) left more than %d ms late "
				 "while connections were free", (unsigned long)s->late_cpu, share(s->late_cpu, s->scheduled),
				 LOAD_LATE_US / 1000);
		said = 1;
	}
	if (share(s->waited_limit, s->scheduled) > 1) {
		load_report_warn(r, "%lu requests (%.1f%%) waited for a free connection (all %u busy): raise --connections, "
				 "unless the server is saturated (see the latencies)",
				 (unsigned long)s->waited_limit, share(s->waited_limit, s->scheduled), r->connections);
		said = 1;
	}
	if (share(failed, s->scheduled) > 1) {
		load_report_warn(r, "%lu requests (%.1f%%) failed without a response", (unsigned long)failed,
				 share(failed, s->scheduled));
		said = 1;
	}
	if (!said)
		load_report_warn(r, "the server was slow: the last measured response came %.2f s after sending ended",
				 s->last_done_us > s->issue_end_us ? (double)(s->last_done_us - s->issue_end_us) / 1e6 : 0);
}

/* The rate is kept when the answers came at that rate and the requests went
 * out on time: an open loop whose requests queue in the generator (too few
 * connections, or too little CPU) offers the server less than asked, even if
 * every answer comes in the end. */
void load_report_judge(struct load_report *r, const struct load_dispatch_stats *s, double expected_rate)
{
	double achieved = achieved_rate(r);
	int on_time = share(s->late_cpu + s->waited_limit, s->scheduled) <= 100 * KEPT_TOLERANCE;

	r->dispatch = *s;
	r->rate_kept = expected_rate > 0 && on_time && fabs(achieved - expected_rate) <= KEPT_TOLERANCE * expected_rate;
	if (expected_rate <= 0)
		r->rate_kept = -1; /* a closed loop or a knee search: no rate to keep */
	if (!r->rate_kept && expected_rate > 0) {
		if (on_time)
			load_report_warn(r, "rate not kept: %.1f req/s answered, %.1f requested", achieved, expected_rate);
		else
			load_report_warn(r, "rate not kept: %.1f%% of the requests left more than %d ms after their "
					 "scheduled time", share(s->late_cpu + s->waited_limit, s->scheduled),
					 LOAD_LATE_US / 1000);
		explain_missed_rate(r, s);
	}
	if (s->stuck_sends)
		load_report_warn(r, "%lu connections closed at their timeout: answered, but the server stopped reading "
				 "the request (its body) before all of it was sent", (unsigned long)s->stuck_sends);
	if (s->cut_off)
		load_report_warn(r, "%lu requests were cut off at the end (still in flight, their timeout not passed): "
				 "not counted", (unsigned long)s->cut_off);
}

/* ---- text ---- */

static void text_header(FILE *f, const struct load_report *r)
{
	fprintf(f, "ringlb-load %s: %s loop", r->url, r->open ? "open" : "closed");
	if (!isnan(r->rate_requested))
		fprintf(f, " at %.1f req/s", r->rate_requested);
	if (r->knee)
		fprintf(f, " (knee search, %s)", r->knee->slo.text);
	fprintf(f, ", %s%u connections, %.2f s measured", r->open ? "up to " : "", r->connections, r->duration_s);
	if (r->warmup_s > 0)
		fprintf(f, " after %.2f s of warmup", r->warmup_s);
	fputc('\n', f);
}

static void text_counts(FILE *f, const struct load_report *r)
{
	const struct load_tally *t = &r->rec->all;

	fprintf(f, "  requests  %lu (%.1f req/s", (unsigned long)t->requests, achieved_rate(r));
	if (r->rate_kept >= 0)
		fprintf(f, "; rate %s", r->rate_kept ? "kept" : "NOT kept");
	fprintf(f, ")\n  errors    %lu:", (unsigned long)load_tally_errors(t));
	for (int k = 0; k < LOAD_ERR_KINDS; k++)
		fprintf(f, "%s %s %lu", k ? "," : "", load_err_names[k], (unsigned long)t->errors[k]);
	fputc('\n', f);
}

static void text_latency(FILE *f, const struct load_tally *t)
{
	static const struct {
		const char *name;
		double q;
	} qs[] = { { "p50", 0.5 }, { "p90", 0.9 }, { "p95", 0.95 }, { "p99", 0.99 }, { "p99.9", 0.999 } };

	if (!t->requests) {
		fputs("  latency   (no responses)\n", f);
		return;
	}
	fprintf(f, "  latency   min %.3f ms", (double)t->min_us / 1e3);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		fprintf(f, ", %s %.3f", qs[i].name, (double)load_tally_quantile(t, qs[i].q) / 1e3);
	fprintf(f, ", max %.3f, mean %.3f ms\n", (double)t->latency_us.max_us / 1e3,
		(double)t->latency_us.sum_us / (double)t->requests / 1e3);
}

static void text_status_servers(FILE *f, const struct load_report *r)
{
	const struct load_recorder *rec = r->rec;

	fputs("  status   ", f);
	for (int s = 0; s < LOAD_STATUS_MAX; s++)
		if (rec->status[s])
			fprintf(f, " %d: %lu", s, (unsigned long)rec->status[s]);
	fputs(rec->all.requests ? "\n" : " (none)\n", f);
	if (!r->servers_counted)
		return;
	fputs("  servers  ", f);
	for (unsigned i = 0; i < rec->n_servers; i++)
		if (rec->all.servers[i])
			fprintf(f, " %s %.1f%% (%lu)", rec->server_names[i], share(rec->all.servers[i], rec->all.requests),
				(unsigned long)rec->all.servers[i]);
	fputc('\n', f);
}

static uint64_t stage_until_us(const struct load_schedule *s, unsigned k)
{
	return s->start_us[k] + s->stages[k].duration_us;
}

static void text_stages(FILE *f, const struct load_report *r)
{
	for (unsigned k = 0; r->stages && k < r->stages->n_stages; k++) {
		const struct load_tally *t = &r->rec->stages[k];

		fprintf(f, "  stage     until %.1f s, to %.1f req/s: %lu requests, %lu errors, p50 %.3f ms, p99 %.3f ms\n",
			(double)stage_until_us(r->stages, k) / 1e6, r->stages->stages[k].target_rate,
			(unsigned long)t->requests, (unsigned long)load_tally_errors(t),
			(double)load_tally_quantile(t, 0.5) / 1e3, (double)load_tally_quantile(t, 0.99) / 1e3);
	}
}

static void text_knee(FILE *f, const struct load_knee *k)
{
	const struct load_knee_step *best = load_knee_best(k);

	for (unsigned i = 0; i < k->n_steps; i++) {
		const struct load_knee_step *s = &k->steps[i];

		fprintf(f, "  step      %.1f req/s: %lu requests, p50 %.3f ms, p99 %.3f ms, errors %.2f%%: %s\n", s->rate,
			(unsigned long)s->tally.requests, (double)load_tally_quantile(&s->tally, 0.5) / 1e3,
			(double)load_tally_quantile(&s->tally, 0.99) / 1e3, 100 * s->error_rate,
			s->held ? "held" : "broke");
	}
	if (best)
		fprintf(f, "  knee      %.1f req/s (%s): p99 %.3f ms, errors %.2f%%\n", best->rate, k->slo.text,
			(double)load_tally_quantile(&best->tally, 0.99) / 1e3, 100 * best->error_rate);
	else
		fprintf(f, "  knee      none: %s never held\n", k->slo.text);
}

void load_report_text(FILE *f, const struct load_report *r)
{
	text_header(f, r);
	text_counts(f, r);
	text_latency(f, &r->rec->all);
	text_status_servers(f, r);
	text_stages(f, r);
	if (r->knee)
		text_knee(f, r->knee);
	for (unsigned i = 0; i < r->n_warnings; i++)
		fprintf(f, "  warning: %s\n", r->warnings[i]);
}

/* ---- JSON ---- */

static void json_number_or_null(FILE *f, double v)
{
	if (isnan(v))
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

static void json_latency(FILE *f, const struct load_tally *t)
{
	fputs("\"latency_us\":", f);
	if (!t->requests) {
		fputs("{\"min\":null,\"p50\":null,\"p90\":null,\"p95\":null,\"p99\":null,\"p999\":null,\"max\":null,"
		      "\"mean\":null}", f);
		return;
	}
	fprintf(f, "{\"min\":%lu,\"p50\":%lu,\"p90\":%lu,\"p95\":%lu,\"p99\":%lu,\"p999\":%lu,\"max\":%lu,\"mean\":%.1f}",
		(unsigned long)t->min_us, (unsigned long)load_tally_quantile(t, 0.5),
		(unsigned long)load_tally_quantile(t, 0.9), (unsigned long)load_tally_quantile(t, 0.95),
		(unsigned long)load_tally_quantile(t, 0.99), (unsigned long)load_tally_quantile(t, 0.999),
		(unsigned long)t->latency_us.max_us, (double)t->latency_us.sum_us / (double)t->requests);
}

static void json_errors(FILE *f, const struct load_tally *t)
{
	fprintf(f, "\"errors_total\":%lu,\"errors\":{", (unsigned long)load_tally_errors(t));
	for (int k = 0; k < LOAD_ERR_KINDS; k++)
		fprintf(f, "%s\"%s\":%lu", k ? "," : "", load_err_names[k], (unsigned long)t->errors[k]);
	fputs("}", f);
}

static void json_status_servers(FILE *f, const struct load_report *r)
{
	const struct load_recorder *rec = r->rec;
	const char *sep = "";

	fputs("\"status\":{", f);
	for (int s = 0; s < LOAD_STATUS_MAX; s++) {
		if (rec->status[s]) {
			fprintf(f, "%s\"%d\":%lu", sep, s, (unsigned long)rec->status[s]);
			sep = ",";
		}
	}
	fputs("},\n \"servers\":{", f);
	sep = "";
	for (unsigned i = 0; r->servers_counted && i < rec->n_servers; i++) {
		if (rec->all.servers[i]) {
			fputs(sep, f);
			load_json_string(f, rec->server_names[i]);
			fprintf(f, ":%lu", (unsigned long)rec->all.servers[i]);
			sep = ",";
		}
	}
	fputs("}", f);
}

static void json_warnings(FILE *f, const struct load_report *r)
{
	const struct load_dispatch_stats *s = &r->dispatch;

	fprintf(f, "\"sent_late\":{\"generator\":%lu,\"no_free_connection\":%lu},\"stuck_sends\":%lu,",
		(unsigned long)s->late_cpu, (unsigned long)s->waited_limit, (unsigned long)s->stuck_sends);
	fputs("\"rate_kept\":", f);
	fputs(r->rate_kept < 0 ? "null" : r->rate_kept ? "true" : "false", f);
	fputs(",\"warnings\":[", f);
	for (unsigned i = 0; i < r->n_warnings; i++) {
		if (i)
			fputc(',', f);
		load_json_string(f, r->warnings[i]);
	}
	fputs("]", f);
}

static void json_stages(FILE *f, const struct load_report *r)
{
	fputs(",\n \"stages\":[", f);
	for (unsigned k = 0; k < r->stages->n_stages; k++) {
		const struct load_tally *t = &r->rec->stages[k];

		fprintf(f, "%s{\"until_s\":%.3f,\"target_rate\":%.3f,\"requests\":%lu,\"errors\":%lu,\"p50_us\":%lu,"
			"\"p99_us\":%lu}", k ? ",\n  " : "", (double)stage_until_us(r->stages, k) / 1e6,
			r->stages->stages[k].target_rate, (unsigned long)t->requests, (unsigned long)load_tally_errors(t),
			(unsigned long)load_tally_quantile(t, 0.5), (unsigned long)load_tally_quantile(t, 0.99));
	}
	fputs("]", f);
}

static void json_knee(FILE *f, const struct load_knee *k)
{
	const struct load_knee_step *best = load_knee_best(k);

	fputs(",\n \"knee\":{\"slo\":", f);
	load_json_string(f, k->slo.text);
	if (best)
		fprintf(f, ",\"rate\":%.3f,\"p99_us\":%lu,\"error_rate\":%.6f", best->rate,
			(unsigned long)load_tally_quantile(&best->tally, 0.99), best->error_rate);
	else
		fputs(",\"rate\":null,\"p99_us\":null,\"error_rate\":null", f);
	fputs(",\"steps\":[", f);
	for (unsigned i = 0; i < k->n_steps; i++) {
		const struct load_knee_step *s = &k->steps[i];

		fprintf(f, "%s{\"rate\":%.3f,\"requests\":%lu,\"p50_us\":%lu,\"p99_us\":%lu,\"error_rate\":%.6f,"
			"\"slo_held\":%s}", i ? ",\n  " : "", s->rate, (unsigned long)s->tally.requests,
			(unsigned long)load_tally_quantile(&s->tally, 0.5), (unsigned long)load_tally_quantile(&s->tally, 0.99),
			s->error_rate, s->held ? "true" : "false");
	}
	fputs("]}", f);
}

static void json_write(FILE *f, const struct load_report *r)
{
	fputs("{\"tool\":\"ringlb-load\",\"url\":", f);
	load_json_string(f, r->url);
	fprintf(f, ",\"mode\":\"%s\",\"connections\":%u,\"rate_requested\":", r->open ? "open" : "closed",
		r->connections);
	json_number_or_null(f, r->rate_requested);
	fprintf(f, ",\"seed\":%lu,\n \"start_unix_ms\":%lu,\"warmup_s\":%.3f,\"duration_s\":%.6f,\n \"requests\":%lu,"
		"\"rate_achieved\":%.3f,\n ", (unsigned long)r->seed, (unsigned long)r->rec->start_unix_ms, r->warmup_s,
		r->duration_s, (unsigned long)r->rec->all.requests, achieved_rate(r));
	json_errors(f, &r->rec->all);
	fputs(",\n ", f);
	json_status_servers(f, r);
	fputs(",\n ", f);
	json_latency(f, &r->rec->all);
	fputs(",\n ", f);
	json_warnings(f, r);
	if (r->stages)
		json_stages(f, r);
	if (r->knee)
		json_knee(f, r->knee);
	fputs("}\n", f);
}

int load_report_json(const char *path, const struct load_report *r)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	json_write(f, r);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -errno;
}
