/* Config loading: defaults, every key, and FILE:LINE errors naming the key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringlb/balancer.h"
#include "ringlb/config.h"

static char path[64];
static char err[512];

static int load(const char *text, struct rlb_config *cfg)
{
	int fd;

	strcpy(path, "/tmp/rlb-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	err[0] = '\0';
	fd = rlb_config_load(path, cfg, err, sizeof(err));
	unlink(path);
	return fd;
}

static void expect_error(const char *text, int line, const char *message)
{
	struct rlb_config cfg;
	char where[96];

	assert_int_equal(load(text, &cfg), -EINVAL);
	snprintf(where, sizeof(where), "%s:%d: ", path, line);
	if (strstr(err, where) == NULL || strstr(err, message) == NULL)
		fail_msg("want '%s%s', got '%s'", where, message, err);
}

static const char *good =
	"[global]\nworkers = 2\nmax_connections = 500\ndrain_timeout = 1500ms\n"
	"[frontend web]\nlisten = 127.0.0.1:8080\nbackend = app ; comment\ntimeout_client = 1m\ntimeout_tunnel = 2m\n"
	"timeout_linger = 0\nmax_header_size = 8192\nmax_uri_size = 4096\n"
	"[backend app]\nbalance = round_robin\ntimeout_connect = 250ms\ntimeout_server = 3s\n"
	"retries = 4\npool_max_idle = 7\npool_idle_timeout = 2s\n"
	"server = a 127.0.0.1:9001 weight=3\nserver = b [::1]:9002\n";

static void test_all_keys(void **state)
{
	struct rlb_config cfg;
	struct rlb_backend *be;

	(void)state;
	assert_int_equal(load(good, &cfg), 0);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.max_connections, 500);
	assert_int_equal(cfg.drain_timeout_ms, 1500);
	assert_int_equal(cfg.num_frontends, 1);
	assert_int_equal(cfg.frontends[0].timeout_client_ms, 60000);
	assert_int_equal(cfg.frontends[0].timeout_tunnel_ms, 120000);
	assert_int_equal(cfg.frontends[0].timeout_linger_ms, 0);
	assert_int_equal(cfg.frontends[0].max_header_bytes, 8192);
	assert_int_equal(cfg.frontends[0].max_uri_bytes, 4096);
	be = cfg.frontends[0].backend;
	assert_non_null(be);
	assert_string_equal(be->name, "app");
	assert_ptr_equal(be->balancer, rlb_balancer_find("round_robin"));
	assert_int_equal(be->timeout_connect_ms, 250);
	assert_int_equal(be->timeout_server_ms, 3000);
	assert_int_equal(be->retries, 4);
	assert_int_equal(be->pool_max_idle, 7);
	assert_int_equal(be->pool_idle_timeout_ms, 2000);
	assert_int_equal(be->num_servers, 2);
	assert_int_equal(be->servers[0].weight_config, 3);
	assert_int_equal(be->servers[1].weight_config, 1);
	assert_int_equal(be->servers[1].index, 1);
	assert_ptr_equal(be->servers[1].backend, be);
	assert_int_equal(be->servers[1].addr.ss_family, AF_INET6);
	rlb_config_free(&cfg);
}

/* c-ares takes "IP:PORT,IP:PORT" only: a list with blanks loaded, then
 * failed the start (fresh-eyes review). */
static void test_resolvers_are_given_to_c_ares_as_it_wants_them(void **state)
{
	struct rlb_config cfg;

	(void)state;
	assert_int_equal(load("[global]\nresolvers = 127.0.0.1:53, 127.0.0.2:5353\n[frontend f]\nlisten = 127.0.0.1:1\n"
			      "backend = b\n[backend b]\nserver = s 127.0.0.1:2\n", &cfg), 0);
	assert_string_equal(cfg.resolvers, "127.0.0.1:53,127.0.0.2:5353");
	rlb_config_free(&cfg);
}

static void test_defaults(void **state)
{
	struct rlb_config cfg;

	(void)state;
	assert_int_equal(load("[frontend f]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\n"
			      "server = s 127.0.0.1:2\n", &cfg), 0);
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(cfg.max_connections, 10000);
	assert_int_equal(cfg.frontends[0].timeout_client_ms, 30000);
	assert_int_equal(cfg.frontends[0].timeout_tunnel_ms, 3600000);
	assert_int_equal(cfg.frontends[0].timeout_linger_ms, 5000);
	assert_int_equal(cfg.frontends[0].max_header_bytes, 16384);
	assert_int_equal(cfg.backends[0].retries, 2);
	assert_int_equal(cfg.backends[0].timeout_connect_ms, 2000);
	assert_int_equal(cfg.backends[0].timeout_server_ms, 30000);
	rlb_config_free(&cfg);
	assert_int_equal(load("[global]\nworkers = auto\n[frontend f]\nlisten = 127.0.0.1:1\nbackend = b\n"
			      "[backend b]\nserver = s 127.0.0.1:2\n", &cfg), 0);
	assert_true(cfg.workers >= 1);
	rlb_config_free(&cfg);
}

static void test_errors_name_file_line_key(void **state)
{
	(void)state;
	expect_error("[global]\n\nworkers = lots\n", 3, "workers: expected 1..256");
	expect_error("[global]\nfoo = 1\n", 2, "unknown key 'foo' in [global]");
	expect_error("[frontend f]\nlisten = local!host:80\n", 2,
		     "listen: invalid address 'local!host:80' (expected IP:PORT or HOST:PORT)");
	expect_error("[frontend f]\nlisten = 300.0.0.1:80\n", 2, "listen: invalid address '300.0.0.1:80'");
	expect_error("[backend b]\nserver = s1 a-name-of-sixty-characters-that-goes-on-and-on-and-on.example:8080\n", 2,
		     "server: address too long (at most 63 characters)");
	expect_error("[global]\nresolvers = ,,\n", 2, "resolvers: expected IP:PORT, comma-separated");
	expect_error("[backend b]\nserver = s\"1 127.0.0.1:80\n", 2,
		     "server: invalid name 's\"1' (letters, digits and - _ . : only)");
	expect_error("[frontend caf\xc3\xa9]\nlisten = 127.0.0.1:80\n", 1, "invalid frontend name 'caf");
	expect_error("[frontend f]\nlisten = 127.0.0.1:70000\n", 2, "listen: invalid address");
	expect_error("[frontend f]\ntimeout_client = 10x\n", 2, "timeout_client: invalid duration '10x'");
	expect_error("[backend b]\nbalance = fastest\n", 2, "balance: unknown algorithm 'fastest'");
	expect_error("[backend b]\nretries = -1\n", 2, "retries: expected a whole number");
	expect_error("[backend b]\nserver = a 127.0.0.1:1\nserver = a 127.0.0.1:2\n", 3, "duplicate server name 'a'");
	expect_error("[backend b]\nserver = a 127.0.0.1:1 spare\n", 2, "unknown option 'spare' (known: weight=N, backup, disabled)");
	expect_error("[listen x]\na = b\n", 1, "unknown section [listen x]");
	expect_error("[defaults]\n[frontend a]\nlisten = 127.0.0.1:1\n", 1, "unknown section [defaults]");
	expect_error("[frontend a]\nlisten = 127.0.0.1:1\nbackend = b\n[Backend x]\n", 4, "unknown section [Backend x]");
	expect_error("[global]\nthis line has no equals sign\n", 2, "syntax error");
	expect_error("[frontend f]\nlisten = 127.0.0.1:1\nbackend = nope\n[backend b]\nserver = s 127.0.0.1:2\n", 3,
		     "unknown backend 'nope'");
	expect_error("[frontend f]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\nretries = 1\n", 4,
		     "[backend b] has no 'server' line");
	expect_error("[frontend f]\nbackend = b\n[backend b]\nserver = s 127.0.0.1:2\n", 2,
		     "[frontend f] has no 'listen' key");
	expect_error("[backend b]\nserver = s 127.0.0.1:2\n", 2, "no [frontend NAME] section");
}

#define FE "[frontend f]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\nserver = s 127.0.0.1:2\n"

/* Health checks, ejection, retries and the admin listener (issue #7). */
static void test_health_and_admin_keys(void **state)
{
	struct rlb_config cfg;
	struct rlb_backend *be;

	(void)state;
	assert_int_equal(load("[global]\nadmin = 9900\nadmin_token = abcdefgh12\n" FE
			      "health_check = /healthz?full=1\nhealth_interval = 500ms\nhealth_timeout = 200ms\n"
			      "health_rise = 3\nhealth_fall = 4\nhealth_expect = 200\nhealth_host = app.internal\n"
			      "eject_after = 0\neject_for = 2s\nmax_ejected = 25%\nslow_start = 10s\n"
			      "retry_on = 503, connect-failure,reset\nretry_budget = 0%\n"
			      "server = spare 127.0.0.1:3 backup\nserver = old 127.0.0.1:4 weight=0 disabled\n", &cfg), 0);
	assert_string_equal(cfg.admin_text, "127.0.0.1:9900");
	assert_string_equal(cfg.admin_token, "abcdefgh12");
	be = &cfg.backends[0];
	assert_int_equal(be->health_kind, RLB_HEALTH_HTTP);
	assert_string_equal(be->health_path, "/healthz?full=1");
	assert_int_equal(be->health_interval_ms, 500);
	assert_int_equal(be->health_timeout_ms, 200);
	assert_int_equal(be->health_rise, 3);
	assert_int_equal(be->health_fall, 4);
	assert_int_equal(be->health_expect_lo, 200);
	assert_int_equal(be->health_expect_hi, 200);
	assert_string_equal(be->health_host, "app.internal");
	assert_int_equal(be->eject_after, 0);
	assert_int_equal(be->eject_for_ms, 2000);
	assert_int_equal(be->max_ejected_pct, 25);
	assert_int_equal(be->slow_start_ms, 10000);
	assert_int_equal(be->retry_on, RLB_RETRY_503 | RLB_RETRY_CONNECT | RLB_RETRY_RESET);
	assert_int_equal(be->retry_budget_pct, 0);
	assert_true(be->servers[1].backup && !be->servers[1].disabled_config);
	assert_true(be->servers[2].disabled_config && be->servers[2].weight_config == 0);
	assert_non_null(strstr(be->unavailable, "Retry-After: 1\r\n")); /* the 500 ms interval, rounded up */
	rlb_config_free(&cfg);
	/* Defaults: no checks, passive ejection on, connect failures retried. */
	assert_int_equal(load(FE, &cfg), 0);
	be = &cfg.backends[0];
	assert_int_equal(be->health_kind, RLB_HEALTH_NONE);
	assert_int_equal(be->eject_after, 5);
	assert_int_equal(be->retry_on, RLB_RETRY_CONNECT | RLB_RETRY_RESET);
	assert_int_equal(cfg.admin_len, 0);
	assert_non_null(strstr(be->unavailable, "Retry-After: 10\r\n")); /* eject_for */
	rlb_config_free(&cfg);
	assert_int_equal(load(FE "health_check = tcp\n", &cfg), 0);
	assert_int_equal(cfg.backends[0].health_kind, RLB_HEALTH_TCP);
	rlb_config_free(&cfg);

	expect_error(FE "health_check = healthz\n", 6, "health_check: expected a path starting with '/'");
	expect_error(FE "health_interval = 50ms\n", 6, "health_interval: expected a duration of at least 100ms");
	expect_error(FE "health_timeout = 0\n", 6, "health_timeout: expected a duration of at least 100ms");
	expect_error(FE "health_rise = 0\n", 6, "health_rise: expected a whole number from 1 to 100");
	expect_error(FE "health_expect = 99\n", 6, "health_expect: expected a status or a range");
	expect_error(FE "health_expect = 400-200\n", 6, "health_expect: expected a status or a range");
	expect_error(FE "health_expect = 2xx\n", 6, "health_expect: expected a status or a range");
	expect_error(FE "max_ejected = 150%\n", 6, "max_ejected: expected a percentage from 0% to 100%");
	expect_error(FE "retry_budget = 20\n", 6, "retry_budget: expected a percentage");
	expect_error(FE "retry_on = 500\n", 6, "retry_on: unknown condition '500'");
	expect_error(FE "retry_on = ,\n", 6, "retry_on: expected conditions");
	expect_error("[global]\nadmin = 127.0.0.1:1\n" FE, 1 + 1, "admin: 127.0.0.1:1 already used by [frontend f]");
	expect_error(FE "eject_for = 10\n", 6, "eject_for: expected a duration of at least 100ms");
	expect_error("[global]\nadmin = localhost:9900\n", 2, "admin: invalid address 'localhost:9900'");
	expect_error("[global]\nadmin_token = short\n", 2, "admin_token: expected 8 to 127 characters");
	expect_error("[global]\nmetrics = maybe\n", 2, "metrics: expected on or off");
	expect_error("[global]\nsplice = yes\n", 2, "splice: expected on or off, got 'yes'");
	expect_error("[global]\naccess_log_format = csv\n", 2, "access_log_format: expected text or json");
	expect_error("[global]\nslo_p95 = fast\n", 2, "slo_p95: invalid duration");
	assert_int_equal(load("[global]\nmetrics = off\naccess_log = -\naccess_log_format = json\nslo_p99 = 1s\n" FE, &cfg), 0);
	assert_true(!cfg.metrics && cfg.access_log_json && strcmp(cfg.access_log, "-") == 0 && cfg.slo_p99_ms == 1000);
	assert_true(cfg.splice); /* on unless said */
	rlb_config_free(&cfg);
	assert_int_equal(load("[global]\nsplice = off\n" FE, &cfg), 0);
	assert_false(cfg.splice);
	rlb_config_free(&cfg);
}

/* Config honesty (issue #9): indented lines are lines, durations take h, a
 * repeated key is an error naming both lines, an unknown algorithm lists
 * the known ones. */
static void test_config_honesty(void **state)
{
	struct rlb_config cfg;

	(void)state;
	assert_int_equal(load("[global]\n  workers = 2\n\tmax_connections = 5\n" FE "  timeout_server = 1h\n", &cfg), 0);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.max_connections, 5);
	assert_int_equal(cfg.backends[0].timeout_server_ms, 3600000);
	rlb_config_free(&cfg);
	expect_error("[frontend f]\nlisten = 127.0.0.1:1\n\nlisten = 127.0.0.1:2\n", 4,
		     "listen: set twice in [frontend f] (first at line 2)");
	expect_error("[global]\nworkers = 1\n  workers = 2\n", 3, "workers: set twice in [global] (first at line 2)");
	expect_error(FE "retries = 1\nretries = 2\n", 7, "retries: set twice in [backend b] (first at line 6)");
	expect_error(FE "balance = fastest\n", 6,
		     "balance: unknown algorithm 'fastest' (known: round_robin, least_conn, consistent_hash, p2c, ewma, "
		     "random, or plugin:PATH)");
}

static void test_module_keys(void **state)
{
	struct rlb_config cfg;

	(void)state;
	/* a module's key before or after its balance line */
	assert_int_equal(load(FE "hash_key = header:X-User\nbalance = consistent_hash\n", &cfg), 0);
	assert_string_equal(rlb_backend_param(&cfg.backends[0], "hash_key"), "header:X-User");
	assert_null(rlb_backend_param(&cfg.backends[0], "hash_balance_factor"));
	rlb_config_free(&cfg);
	assert_int_equal(load(FE "balance = ewma\newma_decay = 5s\n", &cfg), 0);
	rlb_config_free(&cfg);
	expect_error(FE "hash_key = uri\n", 6, "unknown key 'hash_key' in [backend b] (balance = round_robin)");
	expect_error(FE "balance = consistent_hash\nhash_key = body\n", 7, "hash_key: expected client_ip, uri");
	expect_error(FE "balance = consistent_hash\nhash_balance_factor = 0.5\n", 7,
		     "hash_balance_factor: expected a number above 1");
	expect_error(FE "balance = consistent_hash\nmaglev_table_size = 65536\n", 7, "expected a prime");
	expect_error(FE "balance = ewma\newma_decay = soon\n", 7, "ewma_decay: expected a duration");
	expect_error(FE "balance = ewma\newma_decay = 1s\newma_decay = 2s\n", 8, "ewma_decay: set twice");
}

static void test_missing_file(void **state)
{
	struct rlb_config cfg;

	(void)state;
	assert_int_equal(rlb_config_load("/nonexistent/ringlb.ini", &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/ringlb.ini: cannot read: No such file"));
}

static void test_durations_and_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t ms;

	(void)state;
	assert_int_equal(rlb_parse_duration_ms("250", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(rlb_parse_duration_ms("2s", &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(rlb_parse_duration_ms("3m", &ms), 0);
	assert_int_equal(ms, 180000);
	assert_int_equal(rlb_parse_duration_ms("99999999m", &ms), -EINVAL);
	assert_int_equal(rlb_parse_duration_ms("-1s", &ms), -EINVAL);
	assert_int_equal(rlb_parse_duration_ms("1 s", &ms), -EINVAL);
	assert_int_equal(rlb_parse_addr("127.0.0.1:80", &ss, &len), 0);
	assert_int_equal(rlb_parse_addr("[::1]:80", &ss, &len), 0);
	assert_int_equal(rlb_parse_addr("::1:80", &ss, &len), -EINVAL);
	assert_int_equal(rlb_parse_addr("127.0.0.1:", &ss, &len), -EINVAL);
	assert_int_equal(rlb_parse_addr("127.0.0.1:0", &ss, &len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_resolvers_are_given_to_c_ares_as_it_wants_them),
		cmocka_unit_test(test_errors_name_file_line_key),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_module_keys),
		cmocka_unit_test(test_health_and_admin_keys),
		cmocka_unit_test(test_config_honesty),
		cmocka_unit_test(test_durations_and_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
