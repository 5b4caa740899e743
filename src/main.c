/* ringlb: command line, signals, worker start and graceful stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/proxy.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ringlb -c FILE [-t]\n"
		   "  -c FILE  configuration file (INI)\n"
		   "  -t       check the configuration and exit\n"
		   "  -h       this help\n");
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
}

/* Runs the workers until SIGTERM or SIGINT, then drains them. Signals are
 * blocked in every thread and taken here with sigwait, so no handler runs
 * inside the event loops. */
static int run(const struct rlb_config *cfg)
{
	struct worker *workers = calloc((size_t)cfg->workers, sizeof(*workers));
	sigset_t set;
	int i, started = 0, sig = 0, rc = 0;

	if (workers == NULL)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < cfg->workers; i++)
		workers[i].wake_fd = -1;
	for (i = 0; i < cfg->workers; i++, started++) {
		rc = rlb_worker_start(&workers[i], i, cfg, &rlb_proxy_hooks);
		if (rc < 0) {
			rlb_log("worker %d failed to start: %s", i, strerror(-rc));
			break;
		}
	}
	if (rc == 0) {
		print_summary(cfg);
		rlb_log("%d worker(s) running, pid %d", cfg->workers, (int)getpid());
		sigwait(&set, &sig);
		rlb_log("signal %d: draining (up to %u ms)", sig, cfg->drain_timeout_ms);
	}
	for (i = 0; i < started; i++)
		rlb_worker_stop(&workers[i]);
	for (i = 0; i < started; i++)
		rlb_worker_join(&workers[i]);
	for (i = 0; i < cfg->workers; i++)
		rlb_worker_free(&workers[i]);
	free(workers);
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

	while ((opt = getopt(argc, argv, "c:th")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': check_only = 1; break;
		case 'h': usage(stdout); return 0;
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
		printf("%s: configuration OK\n", path);
		rlb_config_free(&cfg);
		return 0;
	}
	rc = run(&cfg);
	rlb_config_free(&cfg);
	return rc;
}
