/* INI config loading with inih. Every error names FILE:LINE and the key, and
 * stops the load: a load balancer that starts with half a config is worse than
 * one that refuses to start. */
#include "ringlb/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/resolver.h"
#include "core/loop.h" /* the log levels */
#include "tls/tls_context.h"

#include "ringlb/balancer.h"
#include "ringlb/units.h"

enum section_kind { SEC_NONE, SEC_GLOBAL, SEC_FRONTEND, SEC_BACKEND };

struct loader {
	struct rlb_config *cfg;
	const char *path;
	FILE *f;
	int line;            /* line the reader handed to inih last */
	int section_line;    /* line of the last [section] header */
	int failed;
	char *err;
	size_t errlen;
	char section[128];   /* last section seen, to detect a new one */
	enum section_kind kind;
	/* Keys of the current section so far, for "set twice". */
	struct { char key[RLB_NAME_MAX]; int line; } seen[64];
	int nseen;
	/* Addresses given by name, resolved once the whole file is read (the
	 * resolvers key may come last): a server (backend b, server i) or a
	 * frontend's listen (b = -1, frontend i). */
	struct { int b; size_t i; int line; } *names;
	size_t nnames;
};

static void error_at(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return;
	ld->failed = 1;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, ld->line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < ld->errlen)
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

int rlb_parse_duration_ms(const char *s, uint32_t *ms)
{
	static const struct rlb_unit units[] = { { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	uint64_t v;

	if (rlb_parse_scaled(s, units, sizeof(units) / sizeof(units[0]), UINT32_MAX, &v) < 0)
		return -EINVAL;
	*ms = (uint32_t)v;
	return 0;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end != '\0' || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

/* Names (frontends, backends, servers) are HAProxy's set: letters, digits,
 * '-', '_', '.', ':'. They go into logs, JSON and Prometheus labels as they
 * are, and into URLs of the admin API: nothing there needs escaping, and
 * nothing can make invalid UTF-8 of /stats. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"
#define NAME_HINT "(letters, digits and - _ . : only)"

static int copy_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= RLB_NAME_MAX || strspn(src, NAME_CHARS) != n)
		return -EINVAL;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Grows an array by one zeroed element; returns it or NULL. */
static void *grow(void **arr, size_t *n, size_t size)
{
	char *p = realloc(*arr, (*n + 1) * size);

	if (p == NULL)
		return NULL;
	memset(p + *n * size, 0, size);
	*arr = p;
	return p + (*n)++ * size;
}

static int open_section(struct loader *ld, const char *section)
{
	struct rlb_config *cfg = ld->cfg;
	const char *name = strchr(section, ' ');

	if (strcmp(section, "global") == 0) {
		ld->kind = SEC_GLOBAL;
		return 0;
	}
	if (name && strncmp(section, "frontend ", 9) == 0) {
		struct rlb_frontend *fe = grow((void **)&cfg->frontends, &cfg->num_frontends, sizeof(*fe));

		if (fe == NULL)
			return -ENOMEM;
		fe->line = ld->section_line;
		fe->timeout_client_ms = 30000;
		fe->timeout_tunnel_ms = 3600000;
		fe->timeout_linger_ms = 5000;
		fe->max_header_bytes = 16384;
		fe->max_uri_bytes = 8192;
		ld->kind = SEC_FRONTEND;
		if (copy_name(fe->name, name + 1) < 0)
			error_at(ld, "invalid frontend name '%s' " NAME_HINT, name + 1);
		return 0;
	}
	if (name && strncmp(section, "backend ", 8) == 0) {
		struct rlb_backend *be = grow((void **)&cfg->backends, &cfg->num_backends, sizeof(*be));

		if (be == NULL)
			return -ENOMEM;
		be->line = ld->section_line;
		be->balancer = rlb_balancer_find("round_robin");
		be->timeout_connect_ms = 2000;
		be->timeout_server_ms = 30000;
		be->pool_idle_timeout_ms = 10000;
		be->pool_max_idle = 64;
		be->retries = 2;
		be->retry_on = RLB_RETRY_CONNECT | RLB_RETRY_RESET; /* nginx's "error": what a dead server causes */
		be->retry_budget_pct = 20;
		be->health_expect_lo = 200;
		be->health_expect_hi = 399;
		be->health_interval_ms = 2000;
		be->health_timeout_ms = 1000;
		be->health_rise = 2;
		be->health_fall = 3;
		be->eject_after = 5;
		be->eject_for_ms = 10000;
		be->max_ejected_pct = 50;
		ld->kind = SEC_BACKEND;
		if (copy_name(be->name, name + 1) < 0)
			error_at(ld, "invalid backend name '%s' " NAME_HINT, name + 1);
		return 0;
	}
	error_at(ld, "unknown section [%s] (expected [global], [frontend NAME] or [backend NAME])",
		 section);
	return 0;
}

static int set_workers(struct loader *ld, const char *value)
{
	unsigned long n;

	if (strcmp(value, "auto") == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		ld->cfg->workers = cpus > 0 ? (int)cpus : 1;
	} else if (parse_uint(value, 1, 256, &n) == 0) {
		ld->cfg->workers = (int)n;
	} else {
		error_at(ld, "workers: expected 1..256 or \"auto\", got '%s'", value);
	}
	return 0;
}

static void set_duration(struct loader *ld, const char *key, const char *value, uint32_t *out)
{
	if (rlb_parse_duration_ms(value, out) < 0)
		error_at(ld, "%s: invalid duration '%s' (use e.g. 500ms, 2s, 1m)", key, value);
}

/* A duration the 100 ms timer tick can keep: at least one tick. */
static void set_duration_ticks(struct loader *ld, const char *key, const char *value, uint32_t *out)
{
	uint32_t ms;

	if (rlb_parse_duration_ms(value, &ms) < 0 || ms < 100)
		error_at(ld, "%s: expected a duration of at least 100ms (e.g. 500ms, 2s), got '%s'", key, value);
	else
		*out = ms;
}

/* A connection timeout: at least one 100 ms tick. 0 is refused rather than
 * read as HAProxy's "no timeout": here it would close every connection
 * within a tick, and an endless timeout lets idle peers hold a slot forever. */
static void set_timeout(struct loader *ld, const char *key, const char *value, uint32_t *out)
{
	uint32_t ms;

	if (rlb_parse_duration_ms(value, &ms) < 0)
		error_at(ld, "%s: invalid duration '%s' (use e.g. 500ms, 2s, 1m)", key, value);
	else if (ms == 0)
		error_at(ld, "%s: 0 is not 'no timeout' here: give a duration of at least 100ms (e.g. 30s, 1h)", key);
	else if (ms < 100)
		error_at(ld, "%s: expected a duration of at least 100ms (the timer's tick), got '%s'", key, value);
	else
		*out = ms;
}

static void set_uint(struct loader *ld, const char *key, const char *value, unsigned long min,
		     unsigned long max, uint32_t *out)
{
	unsigned long n;

	if (parse_uint(value, min, max, &n) < 0)
		error_at(ld, "%s: expected a whole number from %lu to %lu, got '%s'", key, min, max, value);
	else
		*out = (uint32_t)n;
}

/* "IP:PORT", or a bare port on loopback: the admin listener is for the
 * operator's machine unless they say otherwise. */
static void set_admin(struct loader *ld, const char *value)
{
	struct rlb_config *cfg = ld->cfg;
	unsigned long port;

	if (parse_uint(value, 1, 65535, &port) == 0)
		snprintf(cfg->admin_text, sizeof(cfg->admin_text), "127.0.0.1:%lu", port);
	else
		snprintf(cfg->admin_text, sizeof(cfg->admin_text), "%s", value);
	if (rlb_parse_addr(cfg->admin_text, &cfg->admin, &cfg->admin_len) < 0)
		error_at(ld, "admin: invalid address '%s' (expected IP:PORT or a port)", value);
	cfg->admin_line = ld->line;
}

/* "IP:PORT[,IP:PORT...]": the DNS servers names are asked of (resolver.h). */
static void set_resolvers(struct loader *ld, const char *value)
{
	struct rlb_config *cfg = ld->cfg;
	char buf[sizeof(cfg->resolvers)], *save = NULL, *one;
	struct sockaddr_storage ss;
	socklen_t len;

	if (strlen(value) >= sizeof(buf)) {
		error_at(ld, "resolvers: too long (at most %zu characters)", sizeof(buf) - 1);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	cfg->resolvers[0] = '\0';
	/* c-ares takes "IP:PORT,IP:PORT" and nothing else: the list as it wants it */
	for (one = strtok_r(buf, ", \t", &save); one != NULL; one = strtok_r(NULL, ", \t", &save)) {
		size_t n = strlen(cfg->resolvers);

		if (rlb_parse_addr(one, &ss, &len) < 0) {
			error_at(ld, "resolvers: invalid address '%s' (expected IP:PORT, comma-separated)", one);
			return;
		}
		snprintf(cfg->resolvers + n, sizeof(cfg->resolvers) - n, "%s%s", n ? "," : "", one);
	}
	if (cfg->resolvers[0] == '\0')
		error_at(ld, "resolvers: expected IP:PORT, comma-separated");
}

/* A name (HOST:PORT, HOST not an IP): RFC 1123 letters, digits, '-', '.'
 * ('_' too, which container platforms put in service names), not all
 * digits and dots (that is a bad IPv4 address, "300.0.0.1"). Writes the
 * host and the port. */
static int split_name(const char *text, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(text, ':');
	unsigned long p;
	size_t n;

	if (colon == NULL || colon == text || (n = (size_t)(colon - text)) >= hostlen ||
	    parse_uint(colon + 1, 1, 65535, &p) < 0 || strspn(text, "abcdefghijklmnopqrstuvwxyz"
							  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != n ||
	    strspn(text, "0123456789.") == n)
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

#define ADDR_TEXT_MAX 64 /* sizeof addr_text and listen_text */

/* An address: IP:PORT now, or HOST:PORT noted to resolve at the end (b, i
 * as in struct loader's names). 0, -ENAMETOOLONG past ADDR_TEXT_MAX - 1
 * characters, or -EINVAL when it is neither. */
static int parse_or_note(struct loader *ld, const char *text, struct sockaddr_storage *ss, socklen_t *len, int b,
			 size_t i)
{
	char host[128];
	uint16_t port;
	void *slot;

	if (strlen(text) >= ADDR_TEXT_MAX)
		return -ENAMETOOLONG; /* kept as text, for the log and to resolve at the end */
	if (rlb_parse_addr(text, ss, len) == 0)
		return 0;
	if (split_name(text, host, sizeof(host), &port) < 0)
		return -EINVAL;
	*len = 0; /* resolved in resolve_names() */
	slot = grow((void **)&ld->names, &ld->nnames, sizeof(*ld->names));
	if (slot == NULL)
		return -ENOMEM;
	ld->names[ld->nnames - 1].b = b;
	ld->names[ld->nnames - 1].i = i;
	ld->names[ld->nnames - 1].line = ld->line;
	return 0;
}

static void set_on_off(struct loader *ld, const char *key, const char *value, int *out)
{
	if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
		error_at(ld, "%s: expected on or off, got '%s'", key, value);
	*out = strcmp(value, "on") == 0;
}

static int global_key(struct loader *ld, const char *key, const char *value)
{
	struct rlb_config *cfg = ld->cfg;

	if (strcmp(key, "workers") == 0)
		return set_workers(ld, value);
	if (strcmp(key, "max_connections") == 0)
		set_uint(ld, key, value, 1, 10000000, &cfg->max_connections);
	else if (strcmp(key, "drain_timeout") == 0)
		set_duration(ld, key, value, &cfg->drain_timeout_ms);
	else if (strcmp(key, "admin") == 0)
		set_admin(ld, value);
	else if (strcmp(key, "access_log") == 0) {
		if (value[0] == '\0' || strlen(value) >= sizeof(cfg->access_log))
			error_at(ld, "access_log: expected a file path or \"-\" (standard output)");
		else
			snprintf(cfg->access_log, sizeof(cfg->access_log), "%s", value);
	} else if (strcmp(key, "metrics") == 0) {
		set_on_off(ld, key, value, &cfg->metrics);
	} else if (strcmp(key, "splice") == 0) {
		set_on_off(ld, key, value, &cfg->splice);
	} else if (strcmp(key, "resolvers") == 0) {
		set_resolvers(ld, value);
	} else if (strcmp(key, "log_level") == 0) {
		if ((cfg->log_level = rlb_log_level_parse(value)) < 0)
			error_at(ld, "log_level: expected error, warning, info or debug, got '%s'", value);
	} else if (strcmp(key, "access_log_format") == 0) {
		if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
			error_at(ld, "access_log_format: expected text or json, got '%s'", value);
		cfg->access_log_json = strcmp(value, "json") == 0;
	} else if (strcmp(key, "slo_p95") == 0)
		set_duration(ld, key, value, &cfg->slo_p95_ms);
	else if (strcmp(key, "slo_p99") == 0)
		set_duration(ld, key, value, &cfg->slo_p99_ms);
	else if (strcmp(key, "admin_token") == 0) {
		if (strlen(value) < 8 || strlen(value) >= sizeof(cfg->admin_token) || strpbrk(value, " \t\r\n"))
			error_at(ld, "admin_token: expected 8 to %zu characters without spaces",
				 sizeof(cfg->admin_token) - 1);
		else
			snprintf(cfg->admin_token, sizeof(cfg->admin_token), "%s", value);
	} else
		error_at(ld, "unknown key '%s' in [global]", key);
	return 0;
}

/* A path a tls_* key names: kept as given, checked when the whole file is
 * read (check_tls). */
static void set_path(struct loader *ld, const char *key, const char *value, char *out)
{
	if (value[0] == '\0' || strlen(value) >= RLB_TLS_PATH_MAX)
		error_at(ld, "%s: expected a file path of 1 to %d characters", key, RLB_TLS_PATH_MAX - 1);
	else
		snprintf(out, RLB_TLS_PATH_MAX, "%s", value);
}

/* tls_sni = NAME:CERT:KEY (repeatable): a certificate for one server name. */
static void add_sni(struct loader *ld, struct rlb_tls_config *t, const char *value)
{
	const char *c1 = strchr(value, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char cert[RLB_TLS_PATH_MAX];

	if (c1 == NULL || c2 == NULL || c1 == value || (size_t)(c1 - value) >= sizeof(t->sni_name[0]) ||
	    c2 == c1 + 1 || c2[1] == '\0' || (size_t)(c2 - c1 - 1) >= sizeof(cert)) {
		error_at(ld, "tls_sni: expected NAME:CERT_PATH:KEY_PATH, got '%s'", value);
		return;
	}
	if (t->nsni == RLB_TLS_SNI_MAX) {
		error_at(ld, "tls_sni: at most %d per frontend", RLB_TLS_SNI_MAX);
		return;
	}
	snprintf(t->sni_name[t->nsni], sizeof(t->sni_name[0]), "%.*s", (int)(c1 - value), value);
	snprintf(t->sni[t->nsni].cert, RLB_TLS_PATH_MAX, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	set_path(ld, "tls_sni", c2 + 1, t->sni[t->nsni].key);
	t->sni[t->nsni++].line = ld->line;
}

/* The tls_* keys of a frontend (issue #10). */
static int tls_key(struct loader *ld, struct rlb_frontend *fe, const char *key, const char *value)
{
	struct rlb_tls_config *t = fe->tls;

	if (strncmp(key, "tls_", 4) != 0)
		return 0;
	if (t == NULL && (t = fe->tls = calloc(1, sizeof(*t))) == NULL) {
		error_at(ld, "out of memory");
		return 1;
	}
	if (t->min_version == 0)
		t->min_version = TLS1_2_VERSION;
	if (strcmp(key, "tls_cert") == 0) {
		set_path(ld, key, value, t->deflt.cert);
		t->deflt.line = ld->line;
	} else if (strcmp(key, "tls_key") == 0) {
		set_path(ld, key, value, t->deflt.key);
	} else if (strcmp(key, "tls_sni") == 0) {
		add_sni(ld, t, value);
	} else if (strcmp(key, "tls_min_version") == 0) {
		if (strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0)
			error_at(ld, "tls_min_version: expected 1.2 or 1.3, got '%s'", value);
		t->min_version = strcmp(value, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	} else {
		return 0;
	}
	return 1;
}

static int frontend_key(struct loader *ld, const char *key, const char *value)
{
	struct rlb_frontend *fe = &ld->cfg->frontends[ld->cfg->num_frontends - 1];

	if (tls_key(ld, fe, key, value))
		return 0;

	if (strcmp(key, "listen") == 0) {
		int rc = parse_or_note(ld, value, &fe->listen, &fe->listen_len, -1, ld->cfg->num_frontends - 1);

		if (rc < 0)
			error_at(ld, "listen: %s '%s' (expected IP:PORT or HOST:PORT)",
				 rc == -ENAMETOOLONG ? "address too long (at most 63 characters):" : "invalid address",
				 value);
		snprintf(fe->listen_text, sizeof(fe->listen_text), "%s", value);
		snprintf(fe->listen_port, sizeof(fe->listen_port), "%s", strrchr(value, ':') ? strrchr(value, ':') + 1 : "");
		fe->listen_line = ld->line;
	} else if (strcmp(key, "backend") == 0) {
		if (copy_name(fe->backend_name, value) < 0)
			error_at(ld, "backend: invalid name '%s' " NAME_HINT, value);
		fe->backend_line = ld->line;
	} else if (strcmp(key, "timeout_client") == 0) {
		set_timeout(ld, key, value, &fe->timeout_client_ms);
	} else if (strcmp(key, "timeout_tunnel") == 0) {
		set_timeout(ld, key, value, &fe->timeout_tunnel_ms);
	} else if (strcmp(key, "timeout_linger") == 0) {
		set_duration(ld, key, value, &fe->timeout_linger_ms);
	} else if (strcmp(key, "max_header_size") == 0) {
		set_uint(ld, key, value, 1024, 1048576, &fe->max_header_bytes);
	} else if (strcmp(key, "max_uri_size") == 0) {
		set_uint(ld, key, value, 256, 1048576, &fe->max_uri_bytes);
	} else {
		error_at(ld, "unknown key '%s' in [frontend %s]", key, fe->name);
	}
	return 0;
}

static int set_balance(struct loader *ld, struct rlb_backend *be, const char *value)
{
	char why[256];

	if (strncmp(value, "plugin:", 7) == 0) {
		be->balancer = rlb_balancer_load_plugin(value + 7, why, sizeof(why));
		if (be->balancer == NULL)
			error_at(ld, "balance: plugin %s: %s", value + 7, why);
	} else {
		be->balancer = rlb_balancer_find(value);
		if (be->balancer == NULL) {
			rlb_balancer_names(why, sizeof(why));
			error_at(ld, "balance: unknown algorithm '%s' (known: %s, or plugin:PATH)", value, why);
		}
	}
	return 0;
}

static int add_param(struct loader *ld, struct rlb_backend *be, const char *key, const char *value)
{
	struct rlb_param *p;

	if (strlen(key) >= sizeof(p->key) || strlen(value) >= sizeof(p->value)) {
		error_at(ld, "%s: key or value too long", key);
		return 0;
	}
	if (rlb_backend_param(be, key) != NULL) {
		error_at(ld, "%s: set twice in [backend %s]", key, be->name);
		return 0;
	}
	p = grow((void **)&be->params, &be->num_params, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	strcpy(p->key, key);
	strcpy(p->value, value);
	p->line = ld->line;
	return 0;
}

const char *rlb_backend_param(const struct rlb_backend *be, const char *key)
{
	size_t i;

	for (i = 0; i < be->num_params; i++)
		if (strcmp(be->params[i].key, key) == 0)
			return be->params[i].value;
	return NULL;
}

/* Module keys are checked once the algorithm is known (it may come later in
 * the section than its keys). */
static void check_params(struct loader *ld, struct rlb_backend *be)
{
	const struct rlb_balancer_ops *ops = be->balancer;
	size_t i;

	for (i = 0; i < be->num_params && !ld->failed; i++) {
		const struct rlb_param *p = &be->params[i];
		const char *why = NULL;
		int known = 0;

		for (const char *const *k = ops->params; k && *k; k++)
			known |= strcmp(*k, p->key) == 0;
		ld->line = p->line;
		if (!known)
			error_at(ld, "unknown key '%s' in [backend %s] (balance = %s)", p->key, be->name, ops->name);
		else if (ops->check_param && ops->check_param(p->key, p->value, &why) < 0)
			error_at(ld, "%s: %s", p->key, why);
	}
}

/* A server option every server line takes: weight=N, backup, disabled.
 * Returns 1 if opt was one. */
static int server_option(struct loader *ld, struct rlb_server *srv, const char *opt)
{
	if (strncmp(opt, "weight=", 7) == 0)
		set_uint(ld, "server weight", opt + 7, 0, 256, &srv->weight_config);
	else if (strcmp(opt, "backup") == 0)
		srv->backup = 1;
	else if (strcmp(opt, "disabled") == 0)
		srv->disabled_config = 1;
	else
		return 0;
	return 1;
}

static int name_taken(struct loader *ld, struct rlb_backend *be, const char *key, const char *name)
{
	for (size_t i = 0; i < be->num_servers; i++)
		if (strcmp(be->servers[i].name, name) == 0) {
			error_at(ld, "%s: duplicate server name '%s' in [backend %s]", key, name, be->name);
			return 1;
		}
	return 0;
}

/* "server = NAME ADDR [weight=N] [backup] [disabled]"; ADDR is IP:PORT, or
 * HOST:PORT resolved at load (its first address). */
static int add_server(struct loader *ld, struct rlb_backend *be, const char *value)
{
	char buf[256], *save = NULL, *name, *addr, *opt;
	struct rlb_server *srv;
	int rc;

	snprintf(buf, sizeof(buf), "%s", value);
	name = strtok_r(buf, " \t", &save);
	addr = strtok_r(NULL, " \t", &save);
	if (name == NULL || addr == NULL) {
		error_at(ld, "server: expected 'NAME IP:PORT [weight=N]', got '%s'", value);
		return 0;
	}
	if (name_taken(ld, be, "server", name))
		return 0;
	srv = grow((void **)&be->servers, &be->num_servers, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->weight_config = 1;
	if (copy_name(srv->name, name) < 0)
		error_at(ld, "server: invalid name '%s' " NAME_HINT, name);
	rc = parse_or_note(ld, addr, &srv->addr, &srv->addr_len, (int)(be - ld->cfg->backends), be->num_servers - 1);
	if (rc < 0)
		error_at(ld, "server: %s '%s' (expected IP:PORT or HOST:PORT)",
			 rc == -ENAMETOOLONG ? "address too long (at most 63 characters):" : "invalid address", addr);
	snprintf(srv->addr_text, sizeof(srv->addr_text), "%s", addr);
	while ((opt = strtok_r(NULL, " \t", &save)) != NULL)
		if (!server_option(ld, srv, opt))
			error_at(ld, "server: unknown option '%s' (known: weight=N, backup, disabled)", opt);
	return 0;
}

/* "servers = PREFIX HOST:PORT [resolve_every=D] [max=N] [hold_nx=D]
 * [weight=N] [backup] [disabled]": max slots PREFIX1..PREFIXmax (struct
 * rlb_server_group). */
static int add_group(struct loader *ld, struct rlb_backend *be, const char *value)
{
	char buf[256], *save = NULL, *prefix, *addr, *opt;
	struct rlb_server tmpl = { .weight_config = 1 };
	struct rlb_server_group *g;
	unsigned long max = 16;
	uint32_t every = 5000, hold_nx = 30000;
	unsigned seen = 0; /* resolve_every (1), max (2), hold_nx (4) */

	snprintf(buf, sizeof(buf), "%s", value);
	prefix = strtok_r(buf, " \t", &save);
	addr = strtok_r(NULL, " \t", &save);
	if (prefix == NULL || addr == NULL) {
		error_at(ld, "servers: expected 'PREFIX HOST:PORT [resolve_every=5s] [max=16]', got '%s'", value);
		return 0;
	}
	g = grow((void **)&be->groups, &be->num_groups, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->line = ld->line;
	if (strlen(prefix) + 5 > sizeof(g->prefix) || copy_name(g->prefix, prefix) < 0)
		error_at(ld, "servers: invalid prefix '%s' " NAME_HINT, prefix);
	if (split_name(addr, g->host, sizeof(g->host), &g->port) < 0)
		error_at(ld, "servers: invalid address '%s' (expected HOST:PORT)", addr);
	while ((opt = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strncmp(opt, "resolve_every=", 14) == 0) {
			if (seen & 1)
				error_at(ld, "servers: resolve_every given twice");
			seen |= 1;
			if (rlb_parse_duration_ms(opt + 14, &every) < 0 || every < 1000)
				error_at(ld, "servers: resolve_every: expected a duration of at least 1s, got '%s'", opt + 14);
		} else if (strncmp(opt, "hold_nx=", 8) == 0) {
			if (seen & 4)
				error_at(ld, "servers: hold_nx given twice");
			seen |= 4;
			if (rlb_parse_duration_ms(opt + 8, &hold_nx) < 0)
				error_at(ld, "servers: hold_nx: invalid duration '%s' (use e.g. 30s; 0: at once)", opt + 8);
		} else if (strncmp(opt, "max=", 4) == 0) {
			if (seen & 2)
				error_at(ld, "servers: max given twice");
			seen |= 2;
			if (parse_uint(opt + 4, 1, 1024, &max) < 0)
				error_at(ld, "servers: max: expected 1..1024, got '%s'", opt + 4);
		} else if (!server_option(ld, &tmpl, opt)) {
			error_at(ld, "servers: unknown option '%s' (known: resolve_every=D, max=N, hold_nx=D, weight=N, "
				 "backup, disabled)", opt);
		}
	}
	g->resolve_every_ms = every;
	g->hold_nx_ms = hold_nx;
	g->max = (uint32_t)max;
	g->first = (uint32_t)be->num_servers;
	for (unsigned long k = 1; k <= max && !ld->failed; k++) {
		struct rlb_server *srv;

		if (snprintf(tmpl.name, sizeof(tmpl.name), "%s%lu", g->prefix, k) >= (int)sizeof(tmpl.name))
			return 0; /* (the prefix is checked short enough above) */
		if (name_taken(ld, be, "servers", tmpl.name))
			return 0;
		if ((srv = grow((void **)&be->servers, &be->num_servers, sizeof(*srv))) == NULL)
			return -ENOMEM;
		*srv = tmpl;
		snprintf(srv->addr_text, sizeof(srv->addr_text), "none (%.50s)", g->host);
	}
	return 0;
}

/* "N%" with N from 0 to 100. */
static void set_percent(struct loader *ld, const char *key, const char *value, uint32_t *out)
{
	char num[8];
	size_t n = strlen(value);
	unsigned long v;

	if (n < 2 || n > 4 || value[n - 1] != '%' ||
	    (memcpy(num, value, n - 1), num[n - 1] = '\0', parse_uint(num, 0, 100, &v) < 0))
		error_at(ld, "%s: expected a percentage from 0%% to 100%%, got '%s'", key, value);
	else
		*out = (uint32_t)v;
}

/* "/path" (an HTTP GET) or "tcp" (connect only). */
static void set_health_check(struct loader *ld, struct rlb_backend *be, const char *value)
{
	if (strcmp(value, "tcp") == 0) {
		be->health_kind = RLB_HEALTH_TCP;
	} else if (value[0] == '/' && strlen(value) < sizeof(be->health_path) &&
		   strcspn(value, " \t\r\n") == strlen(value)) {
		be->health_kind = RLB_HEALTH_HTTP;
		snprintf(be->health_path, sizeof(be->health_path), "%s", value);
	} else {
		error_at(ld, "health_check: expected a path starting with '/' (at most %zu characters, no spaces) "
			 "or \"tcp\", got '%s'", sizeof(be->health_path) - 1, value);
	}
}

/* "200-399" or "200". */
static void set_health_expect(struct loader *ld, struct rlb_backend *be, const char *value)
{
	unsigned lo, hi;
	int n = 0;

	if (sscanf(value, "%3u-%3u%n", &lo, &hi, &n) == 2 && value[n] == '\0') {
	} else if (sscanf(value, "%3u%n", &lo, &n) == 1 && value[n] == '\0') {
		hi = lo;
	} else {
		lo = 1, hi = 0;
	}
	if (lo < 100 || hi > 599 || lo > hi || value[0] < '0' || value[0] > '9') {
		error_at(ld, "health_expect: expected a status or a range of statuses from 100 to 599 "
			 "(e.g. 200-399), got '%s'", value);
		return;
	}
	be->health_expect_lo = (uint16_t)lo;
	be->health_expect_hi = (uint16_t)hi;
}

/* "connect-failure, 502, 503, 504, reset" in any order, or "none". */
static void set_retry_on(struct loader *ld, struct rlb_backend *be, const char *value)
{
	static const struct { const char *name; uint32_t bit; } names[] = {
		{ "connect-failure", RLB_RETRY_CONNECT }, { "502", RLB_RETRY_502 }, { "503", RLB_RETRY_503 },
		{ "504", RLB_RETRY_504 }, { "reset", RLB_RETRY_RESET }, { "none", 0 },
	};
	char buf[128], *save = NULL, *tok;

	be->retry_on = 0;
	if (strspn(value, ", \t") == strlen(value)) {
		error_at(ld, "retry_on: expected conditions (connect-failure, 502, 503, 504, reset) or none");
		return;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]) && strcmp(names[i].name, tok) != 0; i++)
			;
		if (i == sizeof(names) / sizeof(names[0])) {
			error_at(ld, "retry_on: unknown condition '%s' (known: connect-failure, 502, 503, 504, "
				 "reset, none)", tok);
			return;
		}
		be->retry_on |= names[i].bit;
	}
}

static int backend_key(struct loader *ld, const char *key, const char *value)
{
	struct rlb_backend *be = &ld->cfg->backends[ld->cfg->num_backends - 1];
	uint32_t n;

	if (strcmp(key, "server") == 0)
		return add_server(ld, be, value);
	if (strcmp(key, "servers") == 0)
		return add_group(ld, be, value);
	if (strcmp(key, "balance") == 0)
		return set_balance(ld, be, value);
	if (strcmp(key, "timeout_connect") == 0) {
		set_timeout(ld, key, value, &be->timeout_connect_ms);
	} else if (strcmp(key, "timeout_server") == 0) {
		set_timeout(ld, key, value, &be->timeout_server_ms);
	} else if (strcmp(key, "pool_idle_timeout") == 0) {
		set_duration(ld, key, value, &be->pool_idle_timeout_ms);
	} else if (strcmp(key, "pool_max_idle") == 0) {
		set_uint(ld, key, value, 0, 100000, &be->pool_max_idle);
	} else if (strcmp(key, "retries") == 0) {
		n = (uint32_t)be->retries;
		set_uint(ld, key, value, 0, 100, &n);
		be->retries = (int)n;
	} else if (strcmp(key, "retry_on") == 0) {
		set_retry_on(ld, be, value);
	} else if (strcmp(key, "retry_budget") == 0) {
		set_percent(ld, key, value, &be->retry_budget_pct);
	} else if (strcmp(key, "health_check") == 0) {
		set_health_check(ld, be, value);
	} else if (strcmp(key, "health_interval") == 0) {
		set_duration_ticks(ld, key, value, &be->health_interval_ms);
	} else if (strcmp(key, "health_timeout") == 0) {
		set_duration_ticks(ld, key, value, &be->health_timeout_ms);
	} else if (strcmp(key, "health_rise") == 0) {
		set_uint(ld, key, value, 1, 100, &be->health_rise);
	} else if (strcmp(key, "health_fall") == 0) {
		set_uint(ld, key, value, 1, 100, &be->health_fall);
	} else if (strcmp(key, "health_expect") == 0) {
		set_health_expect(ld, be, value);
	} else if (strcmp(key, "health_host") == 0) {
		if (strlen(value) >= sizeof(be->health_host) || strcspn(value, " \t\r\n") != strlen(value))
			error_at(ld, "health_host: expected a host name without spaces, at most %zu characters",
				 sizeof(be->health_host) - 1);
		else
			snprintf(be->health_host, sizeof(be->health_host), "%s", value);
	} else if (strcmp(key, "eject_after") == 0) {
		set_uint(ld, key, value, 0, 1000, &be->eject_after);
	} else if (strcmp(key, "eject_for") == 0) {
		set_duration_ticks(ld, key, value, &be->eject_for_ms);
	} else if (strcmp(key, "max_ejected") == 0) {
		set_percent(ld, key, value, &be->max_ejected_pct);
	} else if (strcmp(key, "slow_start") == 0) {
		set_duration(ld, key, value, &be->slow_start_ms);
	} else {
		return add_param(ld, be, key, value); /* the module's, checked at the end */
	}
	return 0;
}

/* Whether key was set before in this section (an error naming both lines:
 * a value silently replaced is how a config lies). "server" and "servers" repeat. */
static int set_twice(struct loader *ld, const char *section, const char *key)
{
	for (int i = 0; i < ld->nseen; i++)
		if (strcmp(ld->seen[i].key, key) == 0) {
			error_at(ld, "%s: set twice in [%s] (first at line %d)", key, section, ld->seen[i].line);
			return 1;
		}
	if (ld->nseen < (int)(sizeof(ld->seen) / sizeof(ld->seen[0])) && strlen(key) < RLB_NAME_MAX) {
		snprintf(ld->seen[ld->nseen].key, RLB_NAME_MAX, "%s", key);
		ld->seen[ld->nseen++].line = ld->line;
	}
	return 0;
}

/* inih handler: returns 1 to go on, 0 on error (the reader then stops). */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct loader *ld = user;
	int rc = 0;

	if (ld->failed)
		return 0;
	if (strcmp(section, ld->section) != 0) {
		snprintf(ld->section, sizeof(ld->section), "%s", section);
		ld->nseen = 0;
		rc = open_section(ld, section);
	}
	if (rc == 0 && !ld->failed && strcmp(key, "server") != 0 && strcmp(key, "servers") != 0 && set_twice(ld, section, key))
		return 0;
	if (rc == 0 && !ld->failed) {
		switch (ld->kind) {
		case SEC_GLOBAL: rc = global_key(ld, key, value); break;
		case SEC_FRONTEND: rc = frontend_key(ld, key, value); break;
		case SEC_BACKEND: rc = backend_key(ld, key, value); break;
		case SEC_NONE: error_at(ld, "key '%s' outside of any section", key); break;
		}
	}
	if (rc < 0)
		error_at(ld, "%s", strerror(-rc));
	return !ld->failed;
}

/* A section opens at its header, not at its first key (inih's handler
 * sees only keys), so an empty section is checked too: an unknown one
 * stops the start like any other, an empty [frontend x] lacks its listen.
 * The name as inih reads it: from after '[' up to ']'. */
static void begin_section(struct loader *ld, const char *line)
{
	const char *name = line + 1, *end = strchr(name, ']');

	ld->section_line = ld->line;
	if (end == NULL || (size_t)(end - name) >= sizeof(ld->section))
		return; /* inih says what is wrong with it */
	snprintf(ld->section, sizeof(ld->section), "%.*s", (int)(end - name), name);
	ld->nseen = 0;
	if (open_section(ld, ld->section) < 0)
		error_at(ld, "out of memory");
}

/* Reads one line for inih and counts it, which gives the handler FILE:LINE
 * (Debian's inih is built without INI_HANDLER_LINENO). */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	char *s;

	if (ld->failed)
		return NULL;
	s = fgets(str, num, ld->f);
	if (s == NULL)
		return NULL;
	ld->line++;
	/* Indented lines are ordinary lines (HAProxy users indent by habit);
	 * inih would read them as a continuation of the line above. */
	if (s[0] == ' ' || s[0] == '\t')
		memmove(s, s + strspn(s, " \t"), strlen(s + strspn(s, " \t")) + 1);
	if (strchr(s, '\n') == NULL && !feof(ld->f)) {
		error_at(ld, "line longer than %d characters", num - 2);
		return NULL;
	}
	if (s[0] == '[')
		begin_section(ld, s);
	return s;
}

/* Whether two listen addresses are the same address and port. */
/* An IPv4-mapped IPv6 address ([::ffff:127.0.0.1]) as the IPv4 address it
 * stands for: a socket bound to it takes that IPv4 address's connections. */
static struct sockaddr_storage unmapped(const struct sockaddr_storage *a)
{
	const struct sockaddr_in6 *in6 = (const void *)a;
	struct sockaddr_storage out = *a;
	struct sockaddr_in *in = (void *)&out;

	if (a->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return out;
	memset(&out, 0, sizeof(out));
	in->sin_family = AF_INET;
	in->sin_port = in6->sin6_port;
	memcpy(&in->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	return out;
}

static int same_addr(const struct sockaddr_storage *a0, const struct sockaddr_storage *b0)
{
	struct sockaddr_storage sa = unmapped(a0), sb = unmapped(b0);
	const struct sockaddr_storage *a = &sa, *b = &sb;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* Two frontends on one address would both bind it (SO_REUSEPORT) and the
 * kernel would split its connections between them. */
static void check_listen_unique(struct loader *ld, size_t i)
{
	struct rlb_config *cfg = ld->cfg;
	struct rlb_frontend *fe = &cfg->frontends[i];

	for (size_t j = 0; j < i && !ld->failed; j++)
		if (cfg->frontends[j].listen_len && same_addr(&cfg->frontends[j].listen, &fe->listen)) {
			ld->line = fe->listen_line;
			error_at(ld, "listen: %s already used by [frontend %s]", fe->listen_text, cfg->frontends[j].name);
		}
}

static struct rlb_backend *find_backend(struct rlb_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->num_backends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return &cfg->backends[i];
	return NULL;
}

/* ringlb's 503 when no server can take a request. The soonest one may be
 * back is a health check (or an ejection's end) away: its Retry-After, in
 * whole seconds. */
static void set_unavailable(struct rlb_backend *be)
{
	uint32_t ms = be->eject_after ? be->eject_for_ms : 0;

	if (be->health_kind != RLB_HEALTH_NONE && (ms == 0 || be->health_interval_ms < ms))
		ms = be->health_interval_ms;
	snprintf(be->unavailable, sizeof(be->unavailable),
		 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
		 "Retry-After: %u\r\nConnection: close\r\n\r\nService Unavailable\n",
		 ms ? (ms + 999) / 1000 : 1);
}

#define RESOLVE_TIMEOUT_MS 5000 /* the names at load, all at once: no answer in this long is an error */

static struct rlb_server_group *group_at(struct rlb_config *cfg, size_t k)
{
	for (size_t b = 0; b < cfg->num_backends; k -= cfg->backends[b++].num_groups)
		if (k < cfg->backends[b].num_groups)
			return &cfg->backends[b].groups[k];
	return NULL;
}

/* Every name of the file, resolved together (one wait for all):
 *  - a server's or a listen address's name takes its first address (sorted,
 *    so the same answer gives the same one), or is an error naming its line
 *    (`servers =` makes one server per address);
 *  - a group's name gives the addresses its slots start with. One that does
 *    not resolve now is no error: its slots wait without an address and
 *    the control thread asks again every resolve_every (HAProxy's
 *    init-addr none); on a reload they keep what ran (dns.c). A warning. */
static void resolve_all(struct loader *ld)
{
	struct rlb_config *cfg = ld->cfg;
	size_t ngroups = 0, njobs;
	struct rlb_resolve_job *jobs;
	char (*hosts)[128];

	for (size_t b = 0; b < cfg->num_backends; b++)
		ngroups += cfg->backends[b].num_groups;
	njobs = ld->nnames + ngroups;
	if (njobs == 0)
		return;
	jobs = calloc(njobs, sizeof(*jobs));
	hosts = calloc(ld->nnames + 1, sizeof(*hosts));
	if (jobs == NULL || hosts == NULL)
		goto oom;
	for (size_t k = 0; k < ld->nnames; k++) {
		int b = ld->names[k].b;
		size_t i = ld->names[k].i;

		split_name(b < 0 ? cfg->frontends[i].listen_text : cfg->backends[b].servers[i].addr_text, hosts[k],
			   sizeof(hosts[k]), &jobs[k].port); /* it split when it was noted */
		jobs[k].host = hosts[k];
		jobs[k].out = b < 0 ? &cfg->frontends[i].listen : &cfg->backends[b].servers[i].addr;
		jobs[k].max = 1;
	}
	for (size_t k = 0; k < ngroups; k++) {
		struct rlb_server_group *g = group_at(cfg, k);
		struct rlb_resolve_job *j = &jobs[ld->nnames + k];

		if ((g->loaded = calloc(RLB_RESOLVE_MAX, sizeof(*g->loaded))) == NULL)
			goto oom;
		*j = (struct rlb_resolve_job){ .host = g->host, .port = g->port, .out = g->loaded,
					       .max = RLB_RESOLVE_MAX };
	}
	rlb_resolve_blocking(jobs, njobs, cfg->resolvers, RESOLVE_TIMEOUT_MS);
	for (size_t k = 0; k < ld->nnames && !ld->failed; k++) {
		int b = ld->names[k].b;
		size_t i = ld->names[k].i;
		socklen_t *len = b < 0 ? &cfg->frontends[i].listen_len : &cfg->backends[b].servers[i].addr_len;

		ld->line = ld->names[k].line;
		if (jobs[k].rc < 0)
			error_at(ld, "%s: cannot resolve '%s': %s", b < 0 ? "listen" : "server", hosts[k], jobs[k].why);
		else if (jobs[k].n == 0)
			error_at(ld, "%s: '%s' has no address", b < 0 ? "listen" : "server", hosts[k]);
		else
			*len = jobs[k].out->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	}
	for (size_t k = 0; k < ngroups; k++) {
		struct rlb_server_group *g = group_at(cfg, k);
		struct rlb_resolve_job *j = &jobs[ld->nnames + k];

		g->num_loaded = j->n;
		g->loaded_ok = j->rc == 0;
		if (!g->loaded_ok)
			rlb_warn("%s:%d: servers %s: cannot resolve '%s' now (%s): its servers wait without an address, "
				 "asked again every %u ms", ld->path, g->line, g->prefix, g->host, j->why, g->resolve_every_ms);
	}
	free(jobs);
	free(hosts);
	return;
oom:
	free(jobs);
	free(hosts);
	error_at(ld, "out of memory");
}

/* Checks what can only be checked once the whole file is read. */
/* A frontend's certificates: both files given, each loading, each key
 * matching its certificate. Then the refusal: TLS termination is not
 * served yet, and a frontend meant for TLS must never answer in plain
 * HTTP. */
static void check_tls(struct loader *ld, struct rlb_frontend *fe)
{
	struct rlb_tls_config *t = fe->tls;
	char why[512];
	int line = fe->line;

	if (t->deflt.cert[0] == '\0' || t->deflt.key[0] == '\0') {
		ld->line = t->deflt.line ? t->deflt.line : fe->line;
		error_at(ld, "[frontend %s]: tls_cert and tls_key go together (and tls_sni needs them: the default "
			 "certificate)", fe->name);
		return;
	}
	ld->line = t->deflt.line;
	if (rlb_tls_check(t, why, sizeof(why), &line) < 0) {
		ld->line = line;
		error_at(ld, "%s: %s", line == t->deflt.line ? "tls_cert" : "tls_sni", why);
		return;
	}
	error_at(ld, "tls_cert: the certificates load, but TLS termination is not served yet (issue #10): "
		 "remove the tls_* keys of [frontend %s]", fe->name);
}

static void check_whole(struct loader *ld)
{
	struct rlb_config *cfg = ld->cfg;
	size_t i, j;

	resolve_all(ld);
	if (ld->failed)
		return;
	if (cfg->num_frontends == 0) {
		error_at(ld, "no [frontend NAME] section");
		return;
	}
	for (i = 0; i < cfg->num_frontends && !ld->failed; i++) {
		struct rlb_frontend *fe = &cfg->frontends[i];

		ld->line = fe->backend_line ? fe->backend_line : fe->line;
		if (fe->listen_len == 0)
			error_at(ld, "[frontend %s] has no 'listen' key", fe->name);
		else if (fe->backend_name[0] == '\0')
			error_at(ld, "[frontend %s] has no 'backend' key", fe->name);
		else if ((fe->backend = find_backend(cfg, fe->backend_name)) == NULL)
			error_at(ld, "backend: unknown backend '%s'", fe->backend_name);
		for (j = 0; j < i && !ld->failed; j++)
			if (strcmp(cfg->frontends[j].name, fe->name) == 0)
				error_at(ld, "duplicate [frontend %s]", fe->name);
		if (!ld->failed && fe->listen_len)
			check_listen_unique(ld, i);
		if (!ld->failed && fe->tls != NULL)
			check_tls(ld, fe);
		if (!ld->failed && cfg->admin_len && same_addr(&cfg->admin, &fe->listen)) {
			ld->line = cfg->admin_line;
			error_at(ld, "admin: %s already used by [frontend %s]", cfg->admin_text, fe->name);
		}
	}
	for (i = 0; i < cfg->num_backends && !ld->failed; i++) {
		struct rlb_backend *be = &cfg->backends[i];

		check_params(ld, be);
		ld->line = be->line;
		if (!ld->failed && be->num_servers == 0)
			error_at(ld, "[backend %s] has no 'server' line", be->name);
		for (j = 0; j < i && !ld->failed; j++)
			if (strcmp(cfg->backends[j].name, be->name) == 0)
				error_at(ld, "duplicate [backend %s]", be->name);
		for (j = 0; j < be->num_servers; j++) {
			be->servers[j].index = (uint32_t)j;
			be->servers[j].backend = be;
		}
		for (size_t k = 0; k < be->num_groups; k++)
			for (uint32_t s = 0; s < be->groups[k].max; s++)
				be->servers[be->groups[k].first + s].group = &be->groups[k];
		set_unavailable(be);
	}
}

/* The file, or an error that says what the path is instead: a directory
 * and an empty file read as "no [frontend NAME] section" at line 0. */
static int open_config(const char *path, FILE **out, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		int rc = -errno;

		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a config file", path);
		fclose(f);
		return -EISDIR;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		snprintf(err, errlen, "%s: empty: a config needs a [frontend NAME] and a [backend NAME] "
			 "(see configs/demo.ini)", path);
		fclose(f);
		return -EINVAL;
	}
	*out = f;
	return 0;
}

int rlb_config_load(const char *path, struct rlb_config *cfg, char *err, size_t errlen)
{
	struct loader ld = { .cfg = cfg, .path = path, .err = err, .errlen = errlen };
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 1;
	cfg->max_connections = 10000;
	cfg->drain_timeout_ms = 10000;
	cfg->log_level = RLB_LOG_INFO;
	cfg->slo_p95_ms = 200;
	cfg->metrics = 1;
	cfg->splice = 1;
	cfg->slo_p99_ms = 500;
	rc = open_config(path, &ld.f, err, errlen);
	if (rc < 0)
		return rc;
	rc = ini_parse_stream(read_line, &ld, on_key, &ld);
	if (rc > 0 && !ld.failed) {
		ld.line = rc; /* inih reports the first bad line */
		error_at(&ld, "syntax error (expected [section] or key = value)");
	}
	if (!ld.failed)
		check_whole(&ld);
	fclose(ld.f);
	free(ld.names);
	if (ld.failed) {
		rlb_config_free(cfg);
		return -EINVAL;
	}
	return 0;
}

void rlb_config_free(struct rlb_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->num_backends; i++) {
		for (size_t k = 0; k < cfg->backends[i].num_groups; k++)
			free(cfg->backends[i].groups[k].loaded);
		free(cfg->backends[i].groups);
		free(cfg->backends[i].servers);
		free(cfg->backends[i].params);
	}
	free(cfg->backends);
	for (i = 0; i < cfg->num_frontends; i++)
		free(cfg->frontends[i].tls);
	free(cfg->frontends);
	memset(cfg, 0, sizeof(*cfg));
}
