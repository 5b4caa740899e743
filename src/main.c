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

#include "control/resolver.h"
#include "generation.h"
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
		   "Signals: SIGTERM and SIGINT drain (requests in flight finish, up to drain_timeout);\n"
		   "SIGHUP reloads FILE (new workers take over, the old ones drain; a bad file changes nothing).\n");
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

/* Descriptors beside the connections: listeners, rings, eventfds, logs, a
 * health check per server. */
static rlim_t fds_overhead(const struct rlb_config *cfg)
{
	rlim_t n = 64 + 8 * (rlim_t)cfg->workers;

	if (cfg->splice) /* a pipe per body in flight by splice, two fds each */
		n += 2 * RLB_MAX_PIPES * (rlim_t)cfg->workers;

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

	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= need)
		return;
	was = r.rlim_cur;
	r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max >= need ? need : r.rlim_max;
	if (r.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &r) == 0) /* (a reload may find it raised already) */
		rlb_log("file descriptors: limit raised to %llu (max_connections = %u needs up to %llu: a client "
			"and a server connection each, and pipes for splices)", (unsigned long long)r.rlim_cur,
			cfg->max_connections, (unsigned long long)need);
	if (r.rlim_cur < least)
		rlb_warn("the hard limit on file descriptors (%llu) is below the %llu that max_connections = %u "
			"needs: raise it (LimitNOFILE= in a systemd unit, ulimit -Hn), or lower max_connections",
			(unsigned long long)r.rlim_max, (unsigned long long)least, cfg->max_connections);
}

/* Large bodies go by splice(2) unless it is missing (a seccomp filter
 * may forbid it): then they are copied, as with splice = off. */
static void probe_splice(struct rlb_config *cfg)
{
	char why[128];

	if (cfg->splice && rlb_splice_probe(why, sizeof(why)) < 0) {
		rlb_warn("%s: large bodies are copied instead (splice = off)", why);
		cfg->splice = 0;
	}
}

/* Setups that load but can never serve as meant: warnings, said by -t and
 * at start. Returns how many it said. */
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
			say("backend %s: every server has weight 0 or is disabled: each request gets a 503 "
			    "until the admin API enables one", be->name);
			n++;
		}
		if (m != NULL && strtoull(m, NULL, 10) < be->num_servers) {
			say("backend %s: maglev_table_size = %s is below its %zu servers: some can never be "
			    "picked (use a prime above 100 x servers, or leave the default)", be->name, m, be->num_servers);
			n++;
		}
	}
	return n;
}

__attribute__((format(printf, 1, 2))) static void warn_stdout(const char *fmt, ...)
{
	va_list ap;

	fputs("warning: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* What a reload changed, a line per backend that changed: servers added
 * and removed, the algorithm. */
static void log_changes(const struct rlb_config *old, const struct rlb_config *cfg)
{
	for (size_t b = 0; b < cfg->num_backends; b++) {
		const struct rlb_backend *be = &cfg->backends[b], *was = NULL;
		char added[256] = "", removed[256] = "";

		for (size_t i = 0; i < old->num_backends && was == NULL; i++)
			if (strcmp(old->backends[i].name, be->name) == 0)
				was = &old->backends[i];
		if (was == NULL) {
			rlb_log("reload: backend %s added (%s, %zu servers)", be->name, be->balancer->name, be->num_servers);
			continue;
		}
		for (int pass = 0; pass < 2; pass++) {
			const struct rlb_backend *x = pass ? was : be, *y = pass ? be : was;
			char *out = pass ? removed : added;

			for (size_t i = 0; i < x->num_servers; i++) {
				size_t j = 0, len = strlen(out);

				while (j < y->num_servers && strcmp(y->servers[j].name, x->servers[i].name) != 0)
					j++;
				if (j == y->num_servers)
					snprintf(out + len, 256 - len, "%s%s", len ? ", " : "", x->servers[i].name);
			}
		}
		if (added[0] || removed[0] || was->balancer != be->balancer)
			rlb_log("reload: backend %s: balance %s%s%s, servers added: %s; removed: %s", be->name,
				was->balancer != be->balancer ? was->balancer->name : "", was->balancer != be->balancer ? " -> " : "",
				be->balancer->name, added[0] ? added : "none", removed[0] ? removed : "none");
	}
}

/* SIGHUP: the configuration is read again; if it loads, a new generation
 * takes the listeners and the current one drains (generation.h); if not,
 * nothing changes but a log line with FILE:LINE. Returns the generation
 * now current. */
static struct rlb_generation *reload(const char *path, struct rlb_generation *cur, struct rlb_listen_pool *pool,
				     struct rlb_generation **draining)
{
	struct rlb_config *cfg = malloc(sizeof(*cfg));
	struct rlb_generation *g;
	char err[512];

	rlb_log("SIGHUP: reloading %s", path);
	if (cfg == NULL || rlb_config_load(path, cfg, err, sizeof(err)) < 0) {
		rlb_warn("reload failed: %s; still running on the previous configuration",
			cfg == NULL ? "out of memory" : err);
		free(cfg);
		return cur;
	}
	probe_splice(cfg);
	raise_fd_limit(cfg);
	warn_never_serving(cfg, rlb_warn);
	g = rlb_generation_start(cfg, cur, pool);
	if (g == NULL) {
		rlb_warn("reload failed (above); still running on the previous configuration");
		return cur;
	}
	rlb_log_set_level(g->cfg->log_level);
	log_changes(cur->cfg, g->cfg);
	rlb_generation_stop(cur, 1);
	rlb_listen_pool_close_unmarked(pool, g->number); /* addresses the new configuration dropped */
	cur->next = *draining;
	*draining = cur;
	print_summary(g->cfg);
	rlb_log("reload: generation %u running (%d worker(s)); generation %u drains (up to %u ms)", g->number,
		g->cfg->workers, cur->number, cur->cfg->drain_timeout_ms);
	return g;
}

/* The signals run() takes with sigwait: blocked in every thread from
 * before the config loads, so none comes meanwhile (their default action
 * ends the process: a `kill -HUP` then would be a crash). */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

/* Frees the draining generations whose workers have all exited. */
static void reap(struct rlb_generation **draining, struct rlb_generation *cur)
{
	while (*draining != NULL) {
		struct rlb_generation *g = *draining;

		if (!rlb_generation_exited(g)) {
			draining = &g->next;
			continue;
		}
		*draining = g->next;
		rlb_generation_free(g, cur);
	}
}

/* The next signal; while generations drain, at most 100 ms later, so they
 * are reaped soon after they end. 0 when none came. */
static int next_signal(const sigset_t *set, int draining)
{
	struct timespec wait = { 0, 100 * 1000000L };
	int sig = 0;

	if (!draining)
		return sigwait(set, &sig) == 0 ? sig : 0;
	sig = sigtimedwait(set, NULL, &wait);
	return sig > 0 ? sig : 0;
}

/* Runs generations of workers (and their control thread) until SIGTERM or
 * SIGINT, reloading on SIGHUP; then drains them all. Signals are blocked
 * in every thread and taken here, so no handler runs inside the event
 * loops; this thread does nothing else. */
static int run(const char *path, struct rlb_config *cfg)
{
	struct rlb_listen_pool pool = { 0 };
	struct rlb_generation *cur, *draining = NULL;
	sigset_t set;
	int sig;

	handled_signals(&set); /* blocked since main() began */
	rlb_log_set_level(cfg->log_level);
	probe_splice(cfg);
	raise_fd_limit(cfg);
	warn_never_serving(cfg, rlb_warn);
	cur = rlb_generation_start(cfg, NULL, &pool);
	if (cur == NULL) {
		rlb_listen_pool_free(&pool);
		return 1;
	}
	print_summary(cur->cfg);
	rlb_log("%d worker(s) running, pid %d", cur->cfg->workers, (int)getpid());
	for (;;) {
		sig = next_signal(&set, draining != NULL);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			cur = reload(path, cur, &pool, &draining);
		else if (sig != 0)
			rlb_log("signal %d (%s): ignored", sig, sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
		reap(&draining, cur);
	}
	rlb_log("signal %d: draining (up to %u ms)", sig, cur->cfg->drain_timeout_ms);
	rlb_generation_stop(cur, 0);
	for (struct rlb_generation *g = draining; g != NULL; g = g->next)
		rlb_generation_stop(g, 0);
	/* Closed now, so clients still in the queues are refused (and can try
	 * elsewhere) rather than kept waiting through the drain. */
	rlb_listen_pool_free(&pool);
	while (draining != NULL) {
		struct rlb_generation *g = draining;

		draining = g->next;
		rlb_generation_free(g, NULL);
	}
	rlb_generation_free(cur, NULL);
	rlb_log("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct rlb_config *cfg;
	const char *path = NULL;
	char err[512];
	int opt, check_only = 0;
	sigset_t set;

	/* The first time conversion reads /etc/localtime (glibc's tzset), which
	 * would take a descriptor on a busy worker's first log line, when it
	 * may be out of them: read it now. */
	tzset();
	if (rlb_resolver_library_init() < 0) {
		fprintf(stderr, "ringlb: c-ares failed to initialise\n");
		return 1;
	}
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
	if (!check_only) { /* (-t stays interruptible while it resolves names) */
		handled_signals(&set);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL || rlb_config_load(path, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringlb: %s\n", cfg == NULL ? "out of memory" : err);
		free(cfg);
		return 1;
	}
	if (check_only) {
		int warnings = warn_never_serving(cfg, warn_stdout);

		if (warnings)
			printf("%s: configuration OK, with %d warning(s)\n", path, warnings);
		else
			printf("%s: configuration OK\n", path);
		rlb_config_free(cfg);
		free(cfg);
		return 0;
	}
	return run(path, cfg); /* cfg is the first generation's from here */
}
