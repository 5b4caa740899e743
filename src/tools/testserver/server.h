/* The test server's entry point: main() parses the command line into
 * server_options and hands them to server_run(). */
#ifndef RINGLB_TESTSERVER_SERVER_H
#define RINGLB_TESTSERVER_SERVER_H

#include <stdint.h>
#include <sys/socket.h>

#include "tools/testserver/latency_dist.h"
#include "tools/testserver/schedule.h"

struct server_options {
	const char *name;        /* X-Server and the log lines */
	const char *listen_text; /* as given, for the log lines */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct latency_dist latency;
	uint64_t body_bytes;
	double error_rate;       /* 0..1 */
	struct schedule schedule;
	uint64_t seed;
	uint32_t concurrency;    /* answers in the works at once; 0: unlimited */
};

/**
 * Listens, prints the listening line, serves until SIGTERM or SIGINT, then
 * closes and frees everything. The options must outlive the call.
 * @return the exit status: 0 after a signal, 1 if it could not start.
 */
int server_run(const struct server_options *opt);

#endif
