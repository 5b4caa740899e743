/* The INI configuration: what `ringlb -c FILE` reads, and every key's default.
 * The README's "Configuration" section documents the same keys for users. */
#ifndef RINGLB_CONFIG_H
#define RINGLB_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringlb/addr.h"
#include "ringlb/server.h"

struct rlb_slices;

struct rlb_tls_config;

struct rlb_frontend {
	char name[RLB_NAME_MAX];
	int line;
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char listen_text[64];
	char listen_port[8];         /* its port alone, for X-Forwarded-Port */
	int listen_line;
	char backend_name[RLB_NAME_MAX];
	int backend_line;            /* where "backend =" was, for the unknown-name error */
	struct rlb_backend *backend; /* resolved after the whole file is read */
	uint32_t timeout_client_ms;  /* idle keep-alive and request-head deadline */
	uint32_t timeout_tunnel_ms;  /* inactivity of an upgraded (WebSocket) connection */
	uint32_t timeout_linger_ms;  /* draining a client before close, so no RST eats our answer; 0: off */
	uint32_t max_header_bytes;   /* 431 past it */
	uint32_t max_uri_bytes;      /* 414 past it */
	struct rlb_slices *stats;    /* per worker slot: each worker writes its own (src/metrics/stats.h) */
	struct rlb_tls_config *tls;  /* NULL: plain HTTP; its tls_* keys (src/tls/tls_context.h) */
};

struct rlb_config {
	int workers;                 /* worker threads, >= 1 ("auto" resolved) */
	uint32_t max_connections;    /* client connections over all workers */
	uint32_t drain_timeout_ms;   /* on SIGTERM: how long in-flight requests may run */
	struct rlb_frontend *frontends;
	size_t num_frontends;
	struct rlb_backend *backends;
	size_t num_backends;
	/* The admin listener (control thread): off unless "admin" is set. */
	struct sockaddr_storage admin;
	socklen_t admin_len;
	char admin_text[64];
	int admin_line;
	char admin_token[128];       /* "": actions need no token */
	uint32_t slo_p95_ms, slo_p99_ms; /* the dashboard's latency objectives */
	int metrics;                 /* count and time requests (default on; off only to measure the cost) */
	int splice;                  /* large bodies move by splice(2) (default on; off: copied, as before) */
	char access_log[256];        /* "": none; "-": standard output */
	int access_log_json;         /* one JSON object per line instead of text */
	int log_level;               /* enum rlb_log_level (src/core/loop.h): the lines kept */
	char resolvers[256];         /* "IP:PORT,...": the DNS servers names are asked of; "": resolv.conf */
	atomic_uint generation;      /* shared: bumped after any server changed (ringlb/server.h) */
};

/**
 * Reads and checks the config at path. On success fills *cfg (free it with
 * rlb_config_free()) and returns 0. On failure returns a negative errno and
 * writes "FILE:LINE: message" (naming the key) to err. Not thread-safe
 * (called once, before the workers start).
 */
int rlb_config_load(const char *path, struct rlb_config *cfg, char *err, size_t errlen);

void rlb_config_free(struct rlb_config *cfg);

/** Parses "250ms", "2s", "1m" (a bare number is milliseconds) into *ms.
 * Returns 0 or -EINVAL (also on overflow past ~49 days). */
int rlb_parse_duration_ms(const char *s, uint32_t *ms);

#endif
