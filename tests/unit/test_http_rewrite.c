/* The heads we forward: hop-by-hop removal, X-Forwarded-*, Connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "http/proxy.h"

static const struct rlb_http_limits lim = { 16384, 8192 };
static const struct rlb_rewrite_ctx ctx = { "10.0.0.9", "app", "8080" };
#define OURS_FOR(chain) "X-Forwarded-For: " chain "\r\nX-Forwarded-Proto: http\r\n"

static char *rewrite_req(const char *in, struct rlb_buf *out)
{
	static struct rlb_http_msg m;

	assert_true(rlb_http_parse_request(in, strlen(in), 0, &lim, &m) > 0);
	out->len = 0;
	assert_int_equal(rlb_rewrite_request(&m, &ctx, out), 0);
	assert_int_equal(rlb_buf_append(out, "", 1), 0);
	return out->data;
}

static void test_request_hop_by_hop_and_forwarded(void **state)
{
	struct rlb_buf out = { 0 };
	char *r = rewrite_req("GET /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
			      "Keep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\nUpgrade: ws\r\n"
			      "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n"
			      "X-Forwarded-Proto: https\r\nX-Keep: 1\r\n\r\n", &out);

	(void)state;
	assert_string_equal(r, "GET /p HTTP/1.1\r\nHost: h\r\nX-Keep: 1\r\n" OURS_FOR("1.1.1.1, 2.2.2.2, 10.0.0.9")
			       "X-Forwarded-Host: h\r\nX-Forwarded-Port: 8080\r\n\r\n");
	rlb_buf_free(&out);
}

static void test_request_upgrade_kept(void **state)
{
	struct rlb_buf out = { 0 };
	char *r = rewrite_req("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &out);

	(void)state;
	assert_string_equal(r, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
			       OURS_FOR("10.0.0.9") "X-Forwarded-Host: h\r\nX-Forwarded-Port: 8080\r\n\r\n");
	rlb_buf_free(&out);
}

/* "Connection: Upgrade, X-Foo" named the Upgrade header we keep, and it was
 * dropped: the handshake failed (fresh-eyes review of issue #6). */
static void test_request_upgrade_kept_when_connection_names_more(void **state)
{
	struct rlb_buf out = { 0 };
	char *r = rewrite_req("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Foo\r\n"
			      "X-Foo: 1\r\n\r\n", &out);

	(void)state;
	assert_string_equal(r, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
			       OURS_FOR("10.0.0.9") "X-Forwarded-Host: h\r\nX-Forwarded-Port: 8080\r\n\r\n");
	rlb_buf_free(&out);
}

static void test_http10_request_goes_as_10_with_keepalive_and_host(void **state)
{
	struct rlb_buf out = { 0 };
	char *r = rewrite_req("GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &out);

	(void)state;
	assert_string_equal(r, "GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: app\r\nContent-Length: 0\r\n"
			       OURS_FOR("10.0.0.9") "X-Forwarded-Port: 8080\r\n\r\n");
	rlb_buf_free(&out);
}

/* ringlb owns the whole X-Forwarded-* family, Forwarded, X-Real-IP and
 * Front-End-Https; underscore spellings, which CGI and WSGI merge with the
 * dashed names, are dropped too. X-Forwarded-Ssl, -Scheme and -Prefix used
 * to pass (Rack reads X-Forwarded-Ssl: on as https): fresh-eyes review. */
static void test_request_owned_headers(void **state)
{
	struct rlb_buf out = { 0 };
	char *r = rewrite_req("GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4;proto=https\r\n"
			      "X-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\nx_forwarded_PROTO: https\r\n"
			      "X_Forwarded-For: 6.6.6.6\r\nX-Forwarded-Hosts: evil\r\nX-Forwarded-Ssl: on\r\n"
			      "X-Forwarded-Scheme: https\r\nX_Forwarded_Prefix: /evil\r\nX-Real-IP: 6.6.6.6\r\n"
			      "Front-End-Https: on\r\nX-Forwardedness: kept\r\nX-Forwarded-For: 7.7.7.7\r\n\r\n", &out);

	(void)state;
	assert_string_equal(r, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwardedness: kept\r\n" OURS_FOR("7.7.7.7, 10.0.0.9")
			       "X-Forwarded-Host: h\r\nX-Forwarded-Port: 8080\r\n\r\n");
	rlb_buf_free(&out);
}

static char *rewrite_resp(const char *in, int keep_alive, int minor, int upgrade, struct rlb_buf *out)
{
	static struct rlb_http_msg m;

	assert_true(rlb_http_parse_response(in, strlen(in), 0, &lim, 0, &m) > 0);
	out->len = 0;
	assert_int_equal(rlb_rewrite_response(&m, keep_alive, minor, upgrade, out), 0);
	assert_int_equal(rlb_buf_append(out, "", 1), 0);
	return out->data;
}

static void test_response_connection_header(void **state)
{
	struct rlb_buf out = { 0 };
	const char *in = "HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: x\r\nContent-Length: 2\r\n\r\n";

	(void)state;
	assert_string_equal(rewrite_resp(in, 1, 1, 0, &out), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
	assert_string_equal(rewrite_resp(in, 0, 1, 0, &out),
			    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
	assert_string_equal(rewrite_resp(in, 1, 0, 0, &out),
			    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
	assert_string_equal(rewrite_resp("HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n",
					 0, 1, 1, &out),
			    "HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n");
	/* The Upgrade header stays when Connection names more than it. */
	assert_string_equal(rewrite_resp("HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: Upgrade, X-Foo\r\n"
					 "X-Foo: 1\r\n\r\n", 0, 1, 1, &out),
			    "HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n");
	rlb_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_hop_by_hop_and_forwarded),
		cmocka_unit_test(test_request_upgrade_kept),
		cmocka_unit_test(test_request_upgrade_kept_when_connection_names_more),
		cmocka_unit_test(test_http10_request_goes_as_10_with_keepalive_and_host),
		cmocka_unit_test(test_request_owned_headers),
		cmocka_unit_test(test_response_connection_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
