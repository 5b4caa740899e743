/* ringlb-load's command line (contract in options.h). */
#include "tools/load/options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ringlb/addr.h"
#include "tools/common/tool_cli.h"
#include "tools/load/keys.h"

#define CONNECTIONS_MAX 65536
#define SECONDS_US 1000000u

static const char usage_text[] =
	"usage: ringlb-load [flags] http://IP:PORT/path\n"
	"\n"
	"An HTTP/1.1 load generator (io_uring, one thread). Closed loop by default (each\n"
	"connection sends its next request when the previous response is complete, like\n"
	"wrk); open loop with --rate, --stages or --find-knee (requests on a fixed schedule,\n"
	"latency measured from the scheduled time, like wrk2).\n"
	"\n"
	"  --connections N        connections: exactly N closed loop (default 10), at most N\n"
	"                         open loop (default 256)\n"
	"  --rate R               open loop at R requests/s\n"
	"  --duration D           measured time after the warmup (default 10s); units us ms s m h\n"
	"  --requests N           stop after N measured requests instead of a duration\n"
	"  --warmup D             unmeasured time first (default 0s)\n"
	"  --method M             request method (default GET)\n"
	"  --header \"K: V\"        add a header (repeatable; a Host header replaces IP:PORT)\n"
	"  --body-size BYTES      send a body of BYTES (k, m suffixes) with Content-Length\n"
	"  --key-header NAME      add NAME: k<i> to each request, i in [0, --keys)\n"
	"  --keys N               how many keys (with --key-header); uniform unless --zipf\n"
	"  --zipf S               key i has probability proportional to 1/(i+1)^S\n"
	"  --seed N               seed of the key sequence (default 1)\n"
	"  --server-header NAME   count responses by this header's value (e.g. X-Server)\n"
	"  --timeout D            a request without a whole response after D is an error (default 10s)\n"
	"  --json FILE            write the summary as JSON\n"
	"  --timeline FILE        write one JSON line per second of the run\n"
	"  --stages LIST          open loop ramps, e.g. \"30s:1000,60s:5000,30s:0\": the rate goes\n"
	"                         linearly to each target over each duration (from 0, or --rate)\n"
	"  --find-knee            open-loop steps, rate x1.5 each, until --slo breaks; then bisect\n"
	"  --slo pQ=D             the objective: p50, p90, p95, p99 or p999 at most D (p99=50ms)\n"
	"  --knee-start R         the first step's rate (default 100)\n"
	"  --knee-step D          each step's length (default 5s)\n"
	"  --knee-max-error-rate F  a step with more errors than F (default 0.01) breaks too\n"
	"  --quiet                no progress line on stderr\n"
	"  --help                 this text\n"
	"\n"
	"Errors are counted by kind: connect, closed, timeout, bad_response, status_5xx.\n"
	"Exit status: 0 the run completed (even with errors), 1 setup failed, 2 bad usage.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ringlb-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

/* ---- one parser per kind of value; each returns 0 or -EINVAL ---- */

static int parse_count(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	double d;

	if (tool_parse_number(v, &d) < 0 || d != floor(d) || d < (double)min || d > (double)max)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

static int parse_positive_duration(const char *v, uint64_t *us)
{
	return tool_parse_duration_us(v, us) < 0 || *us == 0 ? -EINVAL : 0;
}

/* An HTTP token (RFC 9110 5.6.2): methods and header names. */
static int is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
			return 0;
	return 1;
}

static int parse_header(const char *v)
{
	const char *colon = strchr(v, ':');
	char name[128];
	size_t len = colon ? (size_t)(colon - v) : 0;

	if (!colon || len == 0 || len >= sizeof(name) || strpbrk(v, "\r\n"))
		return -EINVAL;
	memcpy(name, v, len);
	name[len] = '\0';
	return is_token(name) ? 0 : -EINVAL;
}

static int is_framing_header(const char *v)
{
	return strncasecmp(v, "content-length:", 15) == 0 || strncasecmp(v, "transfer-encoding:", 18) == 0;
}

/* ---- the flag table ---- */

struct flag {
	const char *name;
	int takes_value;
	int (*parse)(struct load_opts *o, const char *v);
	const char *want; /* what a good value looks like, for the error */
};

static int f_connections(struct load_opts *o, const char *v)
{
	uint64_t n;

	if (parse_count(v, 1, CONNECTIONS_MAX, &n) < 0)
		return -EINVAL;
	o->connections = (unsigned)n;
	o->set |= SET_CONNECTIONS;
	return 0;
}

static int f_rate(struct load_opts *o, const char *v)
{
	o->set |= SET_RATE;
	return tool_parse_number(v, &o->rate) < 0 || o->rate <= 0 || o->rate > LOAD_RATE_MAX ? -EINVAL : 0;
}

static int f_duration(struct load_opts *o, const char *v)
{
	o->set |= SET_DURATION;
	return parse_positive_duration(v, &o->duration_us);
}

static int f_requests(struct load_opts *o, const char *v)
{
	o->set |= SET_REQUESTS;
	return parse_count(v, 1, UINT32_MAX, &o->requests);
}

static int f_warmup(struct load_opts *o, const char *v)
{
	return tool_parse_duration_us(v, &o->warmup_us);
}

static int f_method(struct load_opts *o, const char *v)
{
	o->method = v;
	return is_token(v) ? 0 : -EINVAL;
}

static int f_header(struct load_opts *o, const char *v)
{
	if (o->n_headers == HEADERS_MAX || parse_header(v) < 0 || is_framing_header(v))
		return -EINVAL;
	o->headers[o->n_headers++] = v;
	return 0;
}

static int f_body_size(struct load_opts *o, const char *v)
{
	return tool_parse_size(v, &o->body_bytes) < 0 || o->body_bytes > (1u << 30) ? -EINVAL : 0;
}

static int f_key_header(struct load_opts *o, const char *v)
{
	o->key_header = v;
	return is_token(v) ? 0 : -EINVAL;
}

static int f_keys(struct load_opts *o, const char *v)
{
	uint64_t n;

	if (parse_count(v, 1, LOAD_KEYS_MAX, &n) < 0)
		return -EINVAL;
	o->keys = (uint32_t)n;
	o->set |= SET_KEYS;
	return 0;
}

static int f_zipf(struct load_opts *o, const char *v)
{
	o->set |= SET_ZIPF;
	return tool_parse_number(v, &o->zipf) < 0 || o->zipf <= 0 || o->zipf > 100 ? -EINVAL : 0;
}

static int f_seed(struct load_opts *o, const char *v)
{
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	o->seed = strtoull(v, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int f_server_header(struct load_opts *o, const char *v)
{
	o->server_header = v;
	return is_token(v) ? 0 : -EINVAL;
}

static int f_timeout(struct load_opts *o, const char *v)
{
	return parse_positive_duration(v, &o->timeout_us);
}

static int f_json(struct load_opts *o, const char *v)
{
	o->json_path = v;
	return *v ? 0 : -EINVAL;
}

static int f_timeline(struct load_opts *o, const char *v)
{
	o->timeline_path = v;
	return *v ? 0 : -EINVAL;
}

static int f_stages(struct load_opts *o, const char *v)
{
	char err[160];

	o->set |= SET_STAGES;
	if (load_stages_parse(v, o->stages, &o->n_stages, err, sizeof(err)) < 0)
		usage_error("--stages: %s", err);
	return 0;
}

static int f_find_knee(struct load_opts *o, const char *v)
{
	(void)v;
	o->find_knee = 1;
	return 0;
}

static int f_slo(struct load_opts *o, const char *v)
{
	o->set |= SET_SLO;
	return load_slo_parse(v, &o->slo);
}

static int f_knee_start(struct load_opts *o, const char *v)
{
	o->set |= SET_KNEE_TUNING;
	return tool_parse_number(v, &o->knee_start) < 0 || o->knee_start <= 0 || o->knee_start > LOAD_RATE_MAX ? -EINVAL : 0;
}

static int f_knee_step(struct load_opts *o, const char *v)
{
	o->set |= SET_KNEE_TUNING;
	return parse_positive_duration(v, &o->knee_step_us);
}

static int f_knee_max_error_rate(struct load_opts *o, const char *v)
{
	o->set |= SET_KNEE_TUNING;
	return tool_parse_number(v, &o->knee_max_error_rate) < 0 || o->knee_max_error_rate > 1 ? -EINVAL : 0;
}

static int f_quiet(struct load_opts *o, const char *v)
{
	(void)v;
	o->quiet = 1;
	return 0;
}

static const struct flag flags[] = {
	{ "connections", 1, f_connections, "a whole number, 1 to 65536" },
	{ "rate", 1, f_rate, "requests per second, > 0 and at most 10000000" },
	{ "duration", 1, f_duration, "a duration > 0 with its unit, e.g. 10s" },
	{ "requests", 1, f_requests, "a whole number >= 1" },
	{ "warmup", 1, f_warmup, "a duration with its unit, e.g. 2s" },
	{ "method", 1, f_method, "an HTTP method token, e.g. GET" },
	{ "header", 1, f_header, "\"Name: value\" (Content-Length comes from --body-size)" },
	{ "body-size", 1, f_body_size, "a size in bytes (k, m suffixes), at most 1 GiB" },
	{ "key-header", 1, f_key_header, "a header name" },
	{ "keys", 1, f_keys, "a whole number, 1 to 100000000" },
	{ "zipf", 1, f_zipf, "an exponent > 0, e.g. 1.1" },
	{ "seed", 1, f_seed, "a whole number" },
	{ "server-header", 1, f_server_header, "a header name, e.g. X-Server" },
	{ "timeout", 1, f_timeout, "a duration > 0 with its unit, e.g. 10s" },
	{ "json", 1, f_json, "a file name" },
	{ "timeline", 1, f_timeline, "a file name" },
	{ "stages", 1, f_stages, "DURATION:RATE,... (RATE at most 10000000)" },
	{ "find-knee", 0, f_find_knee, NULL },
	{ "slo", 1, f_slo, "pQ=DURATION, Q one of 50 90 95 99 999, e.g. p99=50ms" },
	{ "knee-start", 1, f_knee_start, "requests per second, > 0 and at most 10000000" },
	{ "knee-step", 1, f_knee_step, "a duration > 0 with its unit, e.g. 5s" },
	{ "knee-max-error-rate", 1, f_knee_max_error_rate, "a fraction from 0 to 1, e.g. 0.01" },
	{ "quiet", 0, f_quiet, NULL },
};

static const struct flag *flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

/* One --flag[=value] [value] at argv[*i]; advances *i past what it used. */
static void parse_flag(struct load_opts *o, int argc, char **argv, int *i)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	const struct flag *f = flag_find(arg, eq ? (size_t)(eq - arg) : strlen(arg));
	const char *v = eq ? eq + 1 : NULL;

	if (!f)
		usage_error("unknown flag %s", argv[*i]);
	if (!f->takes_value && v)
		usage_error("--%s takes no value", f->name);
	if (f->takes_value && !v) {
		if (*i + 1 >= argc)
			usage_error("--%s needs a value: %s", f->name, f->want);
		v = argv[++*i];
	}
	if (f->parse(o, v) < 0)
		usage_error("--%s: want %s, got '%s'", f->name, f->want, v);
}

static void parse_url(struct load_opts *o)
{
	const char *rest, *slash;
	size_t len;

	if (strncmp(o->url, "http://", 7) != 0)
		usage_error("URL: want http://IP:PORT/path, got '%s'", o->url);
	rest = o->url + 7;
	slash = strchr(rest, '/');
	len = slash ? (size_t)(slash - rest) : strlen(rest);
	if (len == 0 || len >= sizeof(o->hostport))
		usage_error("URL: want http://IP:PORT/path, got '%s'", o->url);
	memcpy(o->hostport, rest, len);
	o->hostport[len] = '\0';
	if (rlb_parse_addr(o->hostport, &o->addr, &o->addr_len) < 0)
		usage_error("URL: want a numeric IP and a port (http://127.0.0.1:8080/), got '%s'", o->hostport);
	o->path = slash ? slash : "/";
	if (strpbrk(o->path, " \r\n\t"))
		usage_error("URL: the path may not hold spaces or line breaks: '%s'", o->path);
}

/* ---- checks across flags ---- */

uint64_t load_opts_stages_total_us(const struct load_opts *o)
{
	uint64_t t = 0;

	for (unsigned k = 0; k < o->n_stages; k++)
		t += o->stages[k].duration_us;
	return t;
}

static void check_knee(const struct load_opts *o)
{
	if (!o->find_knee) {
		if (o->set & SET_SLO)
			usage_error("--slo: only with --find-knee");
		if (o->set & SET_KNEE_TUNING)
			usage_error("--knee-start, --knee-step, --knee-max-error-rate: only with --find-knee");
		return;
	}
	if (!(o->set & SET_SLO))
		usage_error("--find-knee: needs --slo, e.g. --slo p99=50ms");
	if (o->set & (SET_RATE | SET_DURATION | SET_REQUESTS | SET_STAGES))
		usage_error("--find-knee: not with --rate, --duration, --requests or --stages (see --knee-start, --knee-step)");
}

static void check_combinations(const struct load_opts *o)
{
	if (!o->url)
		usage_error("missing URL");
	if ((o->set & SET_DURATION) && (o->set & SET_REQUESTS))
		usage_error("--requests: not with --duration");
	if ((o->set & SET_STAGES) && (o->set & (SET_DURATION | SET_REQUESTS)))
		usage_error("--stages: not with --duration or --requests (the stages set the length)");
	if ((o->set & SET_STAGES) && load_opts_stages_total_us(o) <= o->warmup_us)
		usage_error("--stages: the stages (%.1f s) must outlast --warmup", (double)load_opts_stages_total_us(o) / 1e6);
	if (!o->key_header != !(o->set & SET_KEYS))
		usage_error("--key-header and --keys: give both or neither");
	if ((o->set & SET_ZIPF) && !(o->set & SET_KEYS))
		usage_error("--zipf: only with --keys");
	check_knee(o);
}

static void opts_defaults(struct load_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->duration_us = 10 * SECONDS_US;
	o->timeout_us = 10 * SECONDS_US;
	o->method = "GET";
	o->seed = 1;
	o->knee_start = 100;
	o->knee_step_us = 5 * SECONDS_US;
	o->knee_max_error_rate = 0.01;
}

int load_opts_open_loop(const struct load_opts *o)
{
	return (o->set & (SET_RATE | SET_STAGES)) || o->find_knee;
}

void load_opts_parse(struct load_opts *o, int argc, char **argv)
{
	opts_defaults(o);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strncmp(argv[i], "--", 2) == 0)
			parse_flag(o, argc, argv, &i);
		else if (o->url)
			usage_error("one URL only, got '%s' and '%s'", o->url, argv[i]);
		else
			o->url = argv[i];
	}
	check_combinations(o);
	parse_url(o);
	if (!(o->set & SET_CONNECTIONS))
		o->connections = load_opts_open_loop(o) ? 256 : 10;
	if (o->set & SET_REQUESTS)
		o->duration_us = 0;
}
