/* ringlb-load: an HTTP/1.1 load generator for comparing balancing
 * algorithms. This file runs it: the process's setup, the run (one phase,
 * or the knee search), the summary, the teardown. The command line is in
 * options.c. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/common/tool_cli.h"
#include "tools/load/client.h"
#include "tools/load/keys.h"
#include "tools/load/knee.h"
#include "tools/load/options.h"
#include "tools/load/report.h"
#include "tools/load/request.h"
#include "tools/load/results.h"
#include "tools/load/schedule.h"

static void on_sigint(int sig)
{
	(void)sig;
	load_interrupts++;
}

/* Each connection is a descriptor: take the hard limit, not the usual 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void process_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: the wait returns and the loop sees it */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
}

struct run {
	struct load_opts o;
	struct load_request request;
	struct load_keys keys;
	struct load_target target;
	struct load_recorder *rec;
	struct load_client *client;
	struct load_schedule schedule;
	uint64_t stage_end_us[LOAD_STAGES_MAX];
	struct load_knee knee;
	FILE *timeline;
	struct load_report report;
	struct load_dispatch_stats stats;
};

static void setup_fail(const char *what, int err)
{
	fprintf(stderr, "ringlb-load: %s: %s\n", what, strerror(-err));
}

static int setup_target(struct run *r)
{
	struct load_opts *o = &r->o;
	int ret = load_request_init(&r->request, o->method, o->path, o->hostport, o->headers, o->n_headers,
				    o->key_header, o->body_bytes);

	if (ret < 0)
		return ret;
	if (o->key_header && (ret = load_keys_init(&r->keys, o->keys, o->zipf, o->seed)) < 0)
		return ret;
	memcpy(&r->target.addr, &o->addr, sizeof(o->addr));
	r->target.addr_len = o->addr_len;
	r->target.request = &r->request;
	r->target.keys = o->key_header ? &r->keys : NULL;
	r->target.server_header = o->server_header;
	r->target.timeout_us = o->timeout_us;
	r->target.max_conns = o->connections;
	return 0;
}

/* The stages' tallies, by schedule time, in the recorder. */
static int setup_stages(struct run *r)
{
	if (!(r->o.set & SET_STAGES))
		return 0;
	r->rec->stages = calloc(r->o.n_stages, sizeof(*r->rec->stages));
	if (!r->rec->stages)
		return -ENOMEM;
	for (unsigned k = 0; k < r->o.n_stages; k++) {
		load_tally_init(&r->rec->stages[k]);
		r->stage_end_us[k] = r->schedule.start_us[k] + r->o.stages[k].duration_us;
	}
	r->rec->stage_end_us = r->stage_end_us;
	r->rec->n_stages = r->o.n_stages;
	return 0;
}

static int setup_schedule(struct run *r)
{
	struct load_opts *o = &r->o;

	if (o->set & SET_STAGES)
		return load_schedule_init(&r->schedule, (o->set & SET_RATE) ? o->rate : 0, o->stages, o->n_stages);
	if (o->set & SET_RATE)
		return load_schedule_constant(&r->schedule, o->rate,
					      o->duration_us ? o->warmup_us + o->duration_us : LOAD_FOREVER_US);
	return 0;
}

static int setup(struct run *r)
{
	int ret;

	if ((ret = setup_target(r)) < 0 || (ret = setup_schedule(r)) < 0) {
		setup_fail("setup", ret);
		return ret;
	}
	if (r->o.timeline_path && !(r->timeline = fopen(r->o.timeline_path, "w"))) {
		ret = -errno;
		setup_fail(r->o.timeline_path, ret);
		return ret;
	}
	r->rec = malloc(sizeof(*r->rec));
	if (!r->rec || (r->o.find_knee && (ret = load_knee_init(&r->knee, &r->o.slo, r->o.knee_start, r->o.knee_step_us,
						     r->o.knee_max_error_rate)) < 0)) {
		setup_fail("memory", -ENOMEM);
		return -ENOMEM;
	}
	return 0;
}

/* A run that is not a knee search: one phase. */
static int run_phase(struct run *r)
{
	struct load_opts *o = &r->o;
	struct load_phase phase = {
		.schedule = load_opts_open_loop(o) ? &r->schedule : NULL,
		.start_us = r->rec->start_us,
		.warmup_us = o->warmup_us,
		.duration_us = (o->set & SET_STAGES) ? load_opts_stages_total_us(o) - o->warmup_us : o->duration_us,
		.max_requests = o->requests,
	};
	int ret = load_client_run(r->client, &phase);

	r->stats = phase.stats;
	r->report.duration_s = load_measured_s(&phase.stats);
	return ret;
}

static int execute(struct run *r)
{
	struct load_opts *o = &r->o;
	uint64_t start_us = tool_now_us();
	int ret;

	load_recorder_init(r->rec, start_us, r->timeline, !o->quiet && isatty(STDERR_FILENO));
	if ((ret = setup_stages(r)) < 0)
		return ret;
	r->rec->start_unix_ms = tool_unix_ms();
	r->rec->measure_start_us = start_us + o->warmup_us;
	r->rec->total_us = o->find_knee ? 0 : (o->set & SET_STAGES) ? load_opts_stages_total_us(o) :
					   o->duration_us ? o->warmup_us + o->duration_us : 0;
	if (o->find_knee)
		ret = load_knee_run(&r->knee, r->client, r->rec, o->warmup_us, &r->stats, &r->report.duration_s);
	else
		ret = run_phase(r);
	load_recorder_finish(r->rec, tool_now_us());
	return ret;
}

/* What the open loop was asked for on average over the measured window. */
static double expected_rate(const struct run *r)
{
	double window_s = r->stats.issue_end_us > r->stats.measure_start_us
				  ? (double)(r->stats.issue_end_us - r->stats.measure_start_us) / 1e6 : 0;

	if (r->o.set & SET_STAGES)
		return window_s > 0 ? (double)r->stats.scheduled / window_s : 0;
	return r->o.rate;
}

static void fill_report(struct run *r)
{
	struct load_opts *o = &r->o;
	struct load_report *rep = &r->report;

	rep->url = o->url;
	rep->open = load_opts_open_loop(o);
	rep->connections = o->connections;
	rep->rate_requested = (o->set & SET_RATE) && !(o->set & SET_STAGES) ? o->rate : NAN;
	rep->seed = o->seed;
	rep->warmup_s = (double)o->warmup_us / 1e6;
	rep->rec = r->rec;
	rep->stages = (o->set & SET_STAGES) ? &r->schedule : NULL;
	rep->knee = o->find_knee ? &r->knee : NULL;
	rep->rate_kept = -1;
	rep->servers_counted = o->server_header != NULL;
	load_report_judge(rep, &r->stats, rep->open && !o->find_knee ? expected_rate(r) : 0);
	if (load_interrupts)
		load_report_warn(rep, "interrupted (SIGINT): the run was cut short%s",
				 o->find_knee ? "; the step under way is left out of the knee search" : "");
}

static int finish(struct run *r)
{
	int ret = 0;

	fill_report(r);
	load_report_text(stdout, &r->report);
	if (r->o.json_path && (ret = load_report_json(r->o.json_path, &r->report)) < 0)
		setup_fail(r->o.json_path, ret);
	return ret;
}

static void teardown(struct run *r)
{
	if (r->client)
		load_client_destroy(r->client);
	if (r->timeline)
		fclose(r->timeline);
	if (r->rec)
		free(r->rec->stages);
	free(r->rec);
	load_knee_free(&r->knee);
	load_keys_free(&r->keys);
	load_request_free(&r->request);
}

int main(int argc, char **argv)
{
	static struct run r;
	int ret;

	load_opts_parse(&r.o, argc, argv);
	process_setup();
	ret = setup(&r);
	if (ret == 0 && (ret = load_client_create(&r.client, &r.target, r.rec)) < 0)
		setup_fail("cannot create the io_uring", ret);
	if (ret == 0 && (ret = execute(&r)) < 0)
		setup_fail("io_uring", ret);
	if (ret == 0)
		ret = finish(&r);
	teardown(&r);
	return ret < 0 ? 1 : 0;
}
