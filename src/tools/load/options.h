/* ringlb-load's command line: one table of flags, each with its own value
 * parser, and the checks across flags. A bad value is a one-line error
 * naming the flag and exit status 2; --help prints every flag and exits 0. */
#ifndef RINGLB_LOAD_OPTIONS_H
#define RINGLB_LOAD_OPTIONS_H

#include <stdint.h>
#include <sys/socket.h>

#include "tools/load/knee.h"
#include "tools/load/schedule.h"

#define HEADERS_MAX 64 /* --header given this often at most */

struct load_opts {
	unsigned connections;
	double rate;
	uint64_t duration_us, requests, warmup_us, timeout_us, body_bytes, seed;
	const char *method, *key_header, *server_header, *json_path, *timeline_path, *url;
	const char *headers[HEADERS_MAX];
	unsigned n_headers;
	uint32_t keys;
	double zipf;
	struct load_stage stages[LOAD_STAGES_MAX];
	unsigned n_stages;
	int find_knee, quiet;
	struct load_slo slo;
	double knee_start, knee_max_error_rate;
	uint64_t knee_step_us;
	unsigned set; /* SET_* bits: flags given */
	/* from the URL */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char hostport[128];
	const char *path;
};

/* Which flags were given: defaults and conflicts depend on it. */
enum {
	SET_CONNECTIONS = 1 << 0, SET_RATE = 1 << 1, SET_DURATION = 1 << 2, SET_REQUESTS = 1 << 3,
	SET_KEYS = 1 << 4, SET_ZIPF = 1 << 5, SET_SLO = 1 << 6, SET_KNEE_TUNING = 1 << 7, SET_STAGES = 1 << 8,
};

/** Fills o from argv (defaults first); exits on --help (0) or a usage error (2). */
void load_opts_parse(struct load_opts *o, int argc, char **argv);

/** Open loop: --rate, --stages or --find-knee. */
int load_opts_open_loop(const struct load_opts *o);

/** The stages' total length. */
uint64_t load_opts_stages_total_us(const struct load_opts *o);

#endif
