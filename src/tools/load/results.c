/* Recording, the timeline and the progress line (contract in results.h). */
#include "tools/load/results.h"

#include <math.h>
#include <string.h>

const char *const load_err_names[LOAD_ERR_KINDS] = {
	[LOAD_ERR_CONNECT] = "connect",
	[LOAD_ERR_CLOSED] = "closed",
	[LOAD_ERR_TIMEOUT] = "timeout",
	[LOAD_ERR_BAD_RESPONSE] = "bad_response",
	[LOAD_ERR_STATUS_5XX] = "status_5xx",
};

void load_tally_init(struct load_tally *t)
{
	memset(t, 0, sizeof(*t));
	t->min_us = UINT64_MAX;
}

void load_recorder_init(struct load_recorder *rec, uint64_t start_us, FILE *timeline, int progress)
{
	memset(rec, 0, sizeof(*rec));
	rec->start_us = rec->measure_start_us = start_us;
	load_tally_init(&rec->all);
	load_tally_init(&rec->second);
	rec->second_t = 1;
	rec->timeline = timeline;
	rec->progress = progress;
	strcpy(rec->server_names[0], "-");
	rec->n_servers = 1;
}

unsigned load_server_id(struct load_recorder *rec, const char *value, size_t len)
{
	if (!value)
		return 0;
	if (len >= LOAD_SERVER_NAME_BYTES)
		len = LOAD_SERVER_NAME_BYTES - 1;
	for (unsigned i = 1; i < rec->n_servers; i++)
		if (strncmp(rec->server_names[i], value, len) == 0 && rec->server_names[i][len] == '\0')
			return i;
	if (rec->n_servers == LOAD_SERVERS_MAX - 1) /* the last slot gathers the rest */
		strcpy(rec->server_names[rec->n_servers++], "(other)");
	if (rec->n_servers == LOAD_SERVERS_MAX)
		return LOAD_SERVERS_MAX - 1;
	memcpy(rec->server_names[rec->n_servers], value, len);
	rec->server_names[rec->n_servers][len] = '\0';
	return rec->n_servers++;
}

/* The stage whose time window holds the request's schedule. */
static struct load_tally *stage_of(struct load_recorder *rec, uint64_t origin_us)
{
	uint64_t off_us = origin_us - rec->start_us;

	for (unsigned k = 0; k < rec->n_stages; k++)
		if (off_us < rec->stage_end_us[k])
			return &rec->stages[k];
	return rec->n_stages ? &rec->stages[rec->n_stages - 1] : NULL;
}

static void tally_response(struct load_tally *t, uint64_t latency_us, unsigned server_id, int is_5xx)
{
	rlb_hist_record(&t->latency_us, latency_us);
	if (latency_us < t->min_us)
		t->min_us = latency_us;
	t->requests++;
	t->servers[server_id]++;
	if (is_5xx)
		t->errors[LOAD_ERR_STATUS_5XX]++;
}

/* The measured tallies a request counts in: the summary, its knee step, its stage. */
static unsigned measured_tallies(struct load_recorder *rec, const struct load_req *q, struct load_tally **out)
{
	unsigned n = 0;

	out[n++] = &rec->all;
	if (rec->step)
		out[n++] = rec->step;
	if (rec->stages)
		out[n++] = stage_of(rec, q->origin_us);
	return n;
}

void load_record_response(struct load_recorder *rec, const struct load_req *q, uint64_t now_us, int status,
			  unsigned server_id)
{
	uint64_t latency_us = now_us > q->origin_us ? now_us - q->origin_us : 0;
	struct load_tally *t[3];
	int is_5xx = status >= 500;

	load_recorder_tick(rec, now_us);
	tally_response(&rec->second, latency_us, server_id, is_5xx);
	if (!q->measured)
		return;
	for (unsigned i = 0, n = measured_tallies(rec, q, t); i < n; i++)
		tally_response(t[i], latency_us, server_id, is_5xx);
	rec->status[status > 0 && status < LOAD_STATUS_MAX ? status : 0]++;
}

void load_record_error(struct load_recorder *rec, const struct load_req *q, uint64_t now_us, enum load_err kind)
{
	struct load_tally *t[3];

	load_recorder_tick(rec, now_us);
	rec->second.errors[kind]++;
	if (!q->measured)
		return;
	for (unsigned i = 0, n = measured_tallies(rec, q, t); i < n; i++)
		t[i]->errors[kind]++;
}

uint64_t load_tally_errors(const struct load_tally *t)
{
	uint64_t n = 0;

	for (int k = 0; k < LOAD_ERR_KINDS; k++)
		n += t->errors[k];
	return n;
}

double load_tally_error_rate(const struct load_tally *t)
{
	/* 5xx answers are both requests and errors: count their outcome once */
	uint64_t failed = load_tally_errors(t), outcomes = t->requests + failed - t->errors[LOAD_ERR_STATUS_5XX];

	return outcomes ? (double)failed / (double)outcomes : 0;
}

uint64_t load_tally_quantile(const struct load_tally *t, double q)
{
	struct rlb_hist_snapshot s;

	memset(&s, 0, sizeof(s));
	rlb_hist_merge(&s, &t->latency_us);
	return rlb_hist_quantile(&s, q);
}

void load_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f) /* past ASCII: Latin-1, so any bytes make valid JSON */
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void timeline_servers(FILE *f, const struct load_recorder *rec, const struct load_tally *t)
{
	int first = 1;

	fputs("\"servers\":{", f);
	for (unsigned i = 0; i < rec->n_servers; i++) {
		if (!t->servers[i])
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		load_json_string(f, rec->server_names[i]);
		fprintf(f, ":%lu", (unsigned long)t->servers[i]);
	}
	fputc('}', f);
}

/* The schedule's rate in the middle of the second: a ramp's average over it. */
static double second_rate(const struct load_recorder *rec, uint64_t second_end_us)
{
	uint64_t mid_us = second_end_us - 500000;

	if (!rec->schedule)
		return NAN;
	if (mid_us < rec->schedule_start_us)
		mid_us = rec->schedule_start_us;
	return load_schedule_rate_at(rec->schedule, mid_us - rec->schedule_start_us);
}

static void timeline_line(const struct load_recorder *rec, uint64_t second_end_us)
{
	double rate = second_rate(rec, second_end_us);

	const struct load_tally *t = &rec->second;
	FILE *f = rec->timeline;

	fprintf(f, "{\"t\":%u,\"warmup\":%s,\"requests\":%lu,\"errors\":%lu,\"rate_requested\":", rec->second_t,
		second_end_us <= rec->measure_start_us ? "true" : "false", (unsigned long)t->requests,
		(unsigned long)load_tally_errors(t));
	if (isnan(rate))
		fputs("null", f);
	else
		fprintf(f, "%.1f", rate);
	fprintf(f, ",\"p50_us\":%lu,\"p90_us\":%lu,\"p99_us\":%lu,\"max_us\":%lu,",
		(unsigned long)load_tally_quantile(t, 0.5), (unsigned long)load_tally_quantile(t, 0.9),
		(unsigned long)load_tally_quantile(t, 0.99), (unsigned long)t->latency_us.max_us);
	timeline_servers(f, rec, t);
	fputs("}\n", f);
	fflush(f); /* a watcher may tail it while the run goes on */
}

static void progress_line(const struct load_recorder *rec, double seconds)
{
	const struct load_tally *t = &rec->second;

	fprintf(stderr, "\r%6.1fs", (double)rec->second_t);
	if (rec->total_us)
		fprintf(stderr, " / %.1fs", (double)rec->total_us / 1e6);
	fprintf(stderr, "  %8.0f req/s  p99 %8.2f ms  errors %lu   ", (double)t->requests / seconds,
		(double)load_tally_quantile(t, 0.99) / 1e3, (unsigned long)load_tally_errors(t));
}

/* Writes the current second (seconds long: shorter for the last one) and starts the next. */
static void close_second(struct load_recorder *rec, double seconds)
{
	uint64_t end_us = rec->start_us + (uint64_t)rec->second_t * 1000000u;

	if (rec->timeline)
		timeline_line(rec, end_us);
	if (rec->progress)
		progress_line(rec, seconds);
	load_tally_init(&rec->second);
	rec->second_t++;
}

void load_recorder_tick(struct load_recorder *rec, uint64_t now_us)
{
	while (now_us >= rec->start_us + (uint64_t)rec->second_t * 1000000u)
		close_second(rec, 1.0);
}

void load_recorder_finish(struct load_recorder *rec, uint64_t now_us)
{
	uint64_t begin_us = rec->start_us + (uint64_t)(rec->second_t - 1) * 1000000u;

	load_recorder_tick(rec, now_us);
	if (rec->second.requests || load_tally_errors(&rec->second))
		close_second(rec, now_us > begin_us ? (double)(now_us - begin_us) / 1e6 : 1.0);
	if (rec->progress)
		fputc('\n', stderr);
}
