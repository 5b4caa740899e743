/* ringlb: command line, signals, worker start and graceful stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "control/control.h"
#include "git_describe.h" /* generated: RLB_GIT_DESCRIBE */
#include "ringlb/version.h"
#include "http/proxy.h"
#include "metrics/stats.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ringlb -c FILE [-t]\n"
		   "  -c FILE        configuration file (INI; see configs/demo.ini and the README)\n"
		   "  -t             check the configuration and exit\n"
		   "  -v, --version  the version, and the git commit it was built from\n"
		   "  -h, --help     this help\n"
		   "Signals: SIGTERM and SIGINT drain (requests in flight finish, up to drain_timeout).\n");
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void print_summary(const struct rlb_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->num_frontends; i++) {
		const struct rlb_frontend *fe = &cfg->frontends[i];

		rlb_log("frontend %s listening on %s -> backend %s (%s, %zu servers)", fe->name,
			fe->listen_text, fe->backend->name, fe->backend->balancer->name,
			fe->backend->num_servers);
	}
	for (i = 0; i < cfg->num_backends; i++) {
		const struct rlb_backend *be = &cfg->backends[i];

		if (be->health_kind != RLB_HEALTH_NONE)
			rlb_log("backend %s: health checks %s every %u ms (timeout %u ms, rise %u, fall %u)", be->name,
				be->health_kind == RLB_HEALTH_TCP ? "tcp" : be->health_path, be->health_interval_ms,
				be->health_timeout_ms, be->health_rise, be->health_fall);
	}
	if (cfg->admin_len)
		rlb_log("admin listening on %s%s", cfg->admin_text,
			cfg->admin_token[0] ? " (actions need the admin_token)"
			: is_loopback(&cfg->admin) ? ""
						   : "; WARNING: not loopback and no admin_token: anyone who "
						     "reaches it can drain or disable servers");
}

/* Starts worker i: a loop listening on every frontend, with the proxy's hooks. */
static int start_worker(struct worker *w, int i, const struct rlb_config *cfg, struct rlb_listen *listen)
{
	struct rlb_loop_spec spec = {
		.listen = listen,
		.nlisten = cfg->num_frontends,
		.nbufs = RLB_BUF_COUNT,
		.max_clients = (cfg->max_connections + (uint32_t)cfg->workers - 1) / (uint32_t)cfg->workers,
		.qsbr_reader = 1,
		.probe_shared = i == 0,
	};
	char name[24];

	snprintf(name, sizeof(name), "worker %d", i);
	spec.name = name;
	return rlb_worker_start(w, i, cfg, &rlb_proxy_hooks, &spec);
}

/* Descriptors beside the connections: listeners, rings, eventfds, logs, a
 * health check per server. */
static rlim_t fds_overhead(const struct rlb_config *cfg)
{
	rlim_t n = 64 + 8 * (rlim_t)cfg->workers;

	for (size_t b = 0; b < cfg->num_backends; b++)
		n += cfg->backends[b].num_servers;
	return n;
}

/* The soft limit up to what max_connections needs at most (a client and a
 * server connection each), as far as the hard limit allows (HAProxy raises
 * it itself; nginx has worker_rlimit_nofile): the first sign otherwise is
 * "accept: Too many open files" under load. A warning only when the hard
 * limit cannot even hold one descriptor per client. */
static void raise_fd_limit(const struct rlb_config *cfg)
{
	rlim_t need = 2 * (rlim_t)cfg->max_connections + fds_overhead(cfg);
	rlim_t least = (rlim_t)cfg->max_connections + fds_overhead(cfg);
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= need)
		return;
	r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max >= need ? need : r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) == 0)
		rlb_log("file descriptors: limit raised to %llu (max_connections = %u needs up to %llu: a client "
			"and a server connection each)", (unsigned long long)r.rlim_cur, cfg->max_connections,
			(unsigned long long)need);
	if (r.rlim_cur < least)
		rlb_log("warning: the hard limit on file descriptors (%llu) is below the %llu that max_connections = %u "
			"needs: raise it (LimitNOFILE= in a systemd unit, ulimit -Hn), or lower max_connections",
			(unsigned long long)r.rlim_max, (unsigned long long)least, cfg->max_connections);
}

/* Setups that load but can never serve as meant: said by -t and at start.
 * Returns how many it said. */
static int warn_never_serving(const struct rlb_config *cfg, void (*say)(const char *fmt, ...))
{
	int n = 0;

	for (size_t b = 0; b < cfg->num_backends; b++) {
		const struct rlb_backend *be = &cfg->backends[b];
		const char *m = rlb_backend_param(be, "maglev_table_size");
		size_t serving = 0;

		for (size_t i = 0; i < be->num_servers; i++)
			serving += be->servers[i].weight_config > 0 && !be->servers[i].disabled_config;
		if (serving == 0) {
			say("warning: backend %s: every server has weight 0 or is disabled: each request gets a 503 "
			    "until the admin API enables one", be->name);
			n++;
		}
		if (m != NULL && strtoull(m, NULL, 10) < be->num_servers) {
			say("warning: backend %s: maglev_table_size = %s is below its %zu servers: some can never be "
			    "picked (use a prime above 100 x servers, or leave the default)", be->name, m, be->num_servers);
			n++;
		}
	}
	return n;
}

__attribute__((format(printf, 1, 2))) static void say_stdout(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* SIGHUP, SIGUSR1, SIGUSR2: never fatal. Reload on SIGHUP is not built yet
 * (issue #9): say so, and keep serving on the config loaded at start. */
static void say_not_stopping(int sig)
{
	if (sig == SIGHUP)
		rlb_log("SIGHUP: configuration reload is not supported yet; still running on the configuration "
			"loaded at start (restart to apply changes)");
	else
		rlb_log("signal %d (%s): ignored", sig, sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

/* Runs the control thread and the workers until SIGTERM or SIGINT, then
 * stops the checks and drains the workers. Signals are blocked in every
 * thread and taken here with sigwait, so no handler runs inside the event
 * loops. */
static int run(struct rlb_config *cfg)
{
	struct worker *workers = calloc((size_t)cfg->workers, sizeof(*workers));
	struct rlb_listen *listen = calloc(cfg->num_frontends, sizeof(*listen));
	struct rlb_control ctl = { 0 };
	sigset_t set;
	int i, started = 0, sig = 0, rc, control_started;

	if (workers == NULL || listen == NULL || rlb_stats_alloc(cfg) < 0 || rlb_control_init(&ctl, cfg) < 0) {
		rlb_control_free(&ctl);
		rlb_stats_free(cfg);
		free(workers);
		free(listen);
		return 1;
	}
	for (size_t f = 0; f < cfg->num_frontends; f++) {
		struct rlb_frontend *fe = &cfg->frontends[f];

		listen[f] = (struct rlb_listen){ (const struct sockaddr *)&fe->listen, fe->listen_len,
						 fe->listen_text, fe };
	}
	raise_fd_limit(cfg);
	warn_never_serving(cfg, rlb_log);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);  /* their default action ends the process: a */
	sigaddset(&set, SIGUSR1); /* packaged `kill -HUP` reload would be a crash */
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < cfg->workers; i++)
		workers[i].wake_fd = -1;
	/* The control thread first: its start needs a few descriptors (its
	 * ring, eventfd, admin listener), and once the workers accept, clients
	 * may take every one. (Later, its checks may still find none left:
	 * then they give no verdict, see health_check.c.) */
	rc = rlb_control_needed(cfg) ? rlb_control_start(&ctl) : -ENOENT;
	if (rc < 0 && rc != -ENOENT)
		rlb_log("control thread failed to start: %s", strerror(-rc));
	control_started = rc == 0;
	rc = rc == -ENOENT ? 0 : rc;
	for (i = 0; rc == 0 && i < cfg->workers; i++, started++) {
		rc = start_worker(&workers[i], i, cfg, listen);
		if (rc < 0) {
			rlb_log("worker %d failed to start: %s", i, strerror(-rc));
			break;
		}
	}
	if (rc == 0) {
		print_summary(cfg);
		rlb_log("%d worker(s) running, pid %d", cfg->workers, (int)getpid());
		while (sigwait(&set, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
			say_not_stopping(sig);
		rlb_log("signal %d: draining (up to %u ms)", sig, cfg->drain_timeout_ms);
	}
	if (control_started)
		rlb_control_stop(&ctl); /* no check runs once the drain has begun */
	for (i = 0; i < started; i++)
		rlb_worker_stop(&workers[i]);
	for (i = 0; i < started; i++)
		rlb_worker_join(&workers[i]);
	for (i = 0; i < cfg->workers; i++)
		rlb_worker_free(&workers[i]);
	rlb_control_free(&ctl);
	rlb_stats_free(cfg);
	free(workers);
	free(listen);
	if (rc == 0)
		rlb_log("stopped");
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct rlb_config cfg;
	const char *path = NULL;
	char err[512];
	int opt, check_only = 0, rc;

	/* The first time conversion reads /etc/localtime (glibc's tzset), which
	 * would take a descriptor on a busy worker's first log line, when it
	 * may be out of them: read it now. */
	tzset();
	while ((opt = getopt_long(argc, argv, "c:thvV", long_options, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': check_only = 1; break;
		case 'h': usage(stdout); return 0;
		case 'v': /* fall through: -V as HAProxy and nginx spell it */
		case 'V': printf("ringlb %s (git %s)\n", RLB_VERSION, RLB_GIT_DESCRIBE); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (rlb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringlb: %s\n", err);
		return 1;
	}
	if (check_only) {
		int warnings = warn_never_serving(&cfg, say_stdout);

		if (warnings)
			printf("%s: configuration OK, with %d warning(s)\n", path, warnings);
		else
			printf("%s: configuration OK\n", path);
		rlb_config_free(&cfg);
		return 0;
	}
	rc = run(&cfg);
	rlb_config_free(&cfg);
	return rc;
}
