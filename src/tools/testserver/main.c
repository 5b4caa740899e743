/* ringlb-testserver: a backend for load-balancing experiments. The command
 * line only; the server is in server.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/addr.h"
#include "tools/common/tool_cli.h"
#include "tools/testserver/rng.h"
#include "tools/testserver/server.h"

#define NAME_MAX_BYTES 64
#define BODY_MAX_BYTES (1024ull * 1024 * 1024) /* made once, held in memory */
#define EXIT_USAGE 2

static const char usage[] =
	"usage: ringlb-testserver --listen IP:PORT --name NAME [--latency SPEC] [--size BYTES]\n"
	"                         [--concurrency N] [--error-rate F] [--schedule EVENTS] [--seed N]\n"
	"\n"
	"A backend for load-balancing experiments: answers every request with\n"
	"'200 OK', 'X-Server: NAME' and a body of --size bytes ('x'), after a latency\n"
	"drawn from --latency, counted from when the request was fully read.\n"
	"GET /healthz answers 200 'ok' at once (503 'sick' while sick). Keep-alive,\n"
	"pipelining (answered in order), Content-Length and chunked request bodies\n"
	"(read and dropped), HTTP/1.0; a bad request gets 400 and a close.\n"
	"\n"
	"  --listen IP:PORT    address to listen on (required), e.g. 127.0.0.1:9001\n"
	"  --name NAME         the X-Server header and log name (required; letters,\n"
	"                      digits, '.', '_', '-'; at most 64)\n"
	"  --latency SPEC      fixed:D            always D\n"
	"                      uniform:D1,D2      uniformly between D1 and D2\n"
	"                      exp:D              exponential with mean D\n"
	"                      lognormal:D,SIGMA  median D, SIGMA of the underlying normal\n"
	"                      bimodal:D1,D2,P    D2 for a share P of answers, else D1\n"
	"                      D is a duration with a unit: 250us, 5ms, 1.5s, 2m (only\n"
	"                      0 needs none). Default fixed:0\n"
	"  --size BYTES        body bytes of each answer: 512, 64k, 1m (at most 1024m).\n"
	"                      Default 0\n"
	"  --concurrency N     answers in the works at once (a server's workers); the\n"
	"                      rest wait their turn in arrival order, and that wait\n"
	"                      adds to their latency, so load makes the server slower.\n"
	"                      /healthz takes no worker; a request whose client left\n"
	"                      keeps its worker (the work goes on; only die clears\n"
	"                      the queue). Default 0: unlimited\n"
	"  --error-rate F      share of answers that are '500 Internal Server Error'\n"
	"                      (same headers and body), 0 to 1. Default 0\n"
	"  --schedule EVENTS   comma-separated TIME:EVENT, TIME since the listening\n"
	"                      line, in order, e.g. \"10s:slow=10x, 20s:normal\". EVENT:\n"
	"                      slow=Fx    every latency times F (10x, 2.5x)\n"
	"                      normal     latencies back to x1\n"
	"                      stall=D    every answer (/healthz too) due in [TIME, TIME+D)\n"
	"                                 waits until TIME+D, then all go out\n"
	"                      sick       /healthz answers 503\n"
	"                      well       /healthz answers 200\n"
	"                      die        close the listener and every connection: new\n"
	"                                 connections are refused, as a crashed process\n"
	"                      live       listen again on the same address\n"
	"                      errors=F   the error rate becomes F\n"
	"  --seed N            seed of the random latencies and errors (an integer).\n"
	"                      Default: a hash of NAME (servers differ, runs repeat)\n"
	"  -h, --help          this text\n"
	"\n"
	"Output on stdout, a line each, flushed:\n"
	"  ringlb-testserver NAME: listening on IP:PORT unix_ms=MS\n"
	"  ringlb-testserver NAME: event EVENT at 10.001s unix_ms=MS\n"
	"SIGTERM or SIGINT: close everything and exit 0. Exit 2: a bad command line;\n"
	"1: cannot listen.\n";

enum { OPT_LISTEN = 256, OPT_NAME, OPT_LATENCY, OPT_SIZE, OPT_ERROR_RATE, OPT_SCHEDULE, OPT_SEED, OPT_CONCURRENCY };

static const struct option long_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "latency", required_argument, NULL, OPT_LATENCY },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "error-rate", required_argument, NULL, OPT_ERROR_RATE },
	{ "schedule", required_argument, NULL, OPT_SCHEDULE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	struct server_options opt;
	int seed_given;
};

/* Prints "ringlb-testserver: --FLAG: MESSAGE" (one line) and returns -EINVAL. */
static int flag_error(const char *flag, const char *fmt, const char *value)
{
	fprintf(stderr, "ringlb-testserver: --%s: ", flag);
	fprintf(stderr, fmt, value);
	fprintf(stderr, " (see --help)\n");
	return -EINVAL;
}

/* The name goes into a header and the log lines: nothing that could break either. */
static int check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_BYTES || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						       "0123456789._-") != n)
		return -EINVAL;
	return 0;
}

static int parse_seed(const char *s, uint64_t *seed)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*seed = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int parse_rate(const char *s, double *rate)
{
	return tool_parse_number(s, rate) < 0 || *rate > 1 ? -EINVAL : 0;
}

static int parse_concurrency(const char *s, uint32_t *n)
{
	double v;

	if (tool_parse_number(s, &v) < 0 || v > 100000 || v != (double)(uint32_t)v)
		return -EINVAL;
	*n = (uint32_t)v;
	return 0;
}

static int set_option(struct cli *cli, int opt, const char *arg)
{
	struct server_options *o = &cli->opt;
	char err[256];

	switch (opt) {
	case OPT_LISTEN:
		o->listen_text = arg;
		if (rlb_parse_addr(arg, &o->addr, &o->addr_len) < 0)
			return flag_error("listen", "bad address '%s': want IP:PORT, e.g. 127.0.0.1:9001", arg);
		return 0;
	case OPT_NAME:
		o->name = arg;
		if (check_name(arg) < 0)
			return flag_error("name", "bad name '%s': 1 to 64 of letters, digits, '.', '_', '-'", arg);
		return 0;
	case OPT_LATENCY:
		if (latency_dist_parse(arg, &o->latency) < 0)
			return flag_error("latency", "bad spec '%s': want fixed:D, uniform:D1,D2, exp:D, "
				"lognormal:D,SIGMA or bimodal:D1,D2,P, D with a unit (5ms)", arg);
		return 0;
	case OPT_SIZE:
		if (tool_parse_size(arg, &o->body_bytes) < 0 || o->body_bytes > BODY_MAX_BYTES)
			return flag_error("size", "bad size '%s': want bytes up to 1024m, e.g. 512, 64k, 1m", arg);
		return 0;
	case OPT_ERROR_RATE:
		if (parse_rate(arg, &o->error_rate) < 0)
			return flag_error("error-rate", "bad rate '%s': want a number from 0 to 1", arg);
		return 0;
	case OPT_SCHEDULE:
		schedule_free(&o->schedule); /* given twice: the last one counts */
		if (schedule_parse(arg, &o->schedule, err, sizeof(err)) < 0)
			return flag_error("schedule", "%s", err);
		return 0;
	case OPT_CONCURRENCY:
		if (parse_concurrency(arg, &o->concurrency) < 0)
			return flag_error("concurrency", "bad count '%s': want 0 (unlimited) to 100000", arg);
		return 0;
	default: /* OPT_SEED */
		cli->seed_given = 1;
		if (parse_seed(arg, &o->seed) < 0)
			return flag_error("seed", "bad seed '%s': want a whole number", arg);
		return 0;
	}
}

/* Returns 0 to run, 1 after --help, -EINVAL after printing the error. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	int opt;

	opterr = 0; /* our own messages, each naming the flag */
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return 1;
		}
		if (opt == ':')
			return flag_error(argv[optind - 1] + 2, "%s", "needs a value");
		if (opt == '?') {
			fprintf(stderr, "ringlb-testserver: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (set_option(cli, opt, optarg) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "ringlb-testserver: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (!cli->opt.listen_text)
		return flag_error("listen", "%s", "is required");
	if (!cli->opt.name)
		return flag_error("name", "%s", "is required");
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { .opt.latency = { LATENCY_FIXED, 0, 0, 0 } };
	int ret = parse_args(argc, argv, &cli), status;

	if (ret != 0) {
		schedule_free(&cli.opt.schedule);
		return ret > 0 ? 0 : EXIT_USAGE;
	}
	if (!cli.seed_given)
		cli.opt.seed = rng_seed_from_text(cli.opt.name);
	setvbuf(stdout, NULL, _IOLBF, 0);
	status = server_run(&cli.opt);
	schedule_free(&cli.opt.schedule);
	return status;
}
