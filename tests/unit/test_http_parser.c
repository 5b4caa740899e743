/* Parser unit tests: every input sits right before a guard page. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ringlb/http_parser.h"
#include "guard.h"

static const struct rlb_http_limits lim = { 16384, 8192 };
static struct rlb_http_msg msg;

static ssize_t req(const char *s)
{
	struct guarded g = guard_copy(s, strlen(s));
	ssize_t n = rlb_http_parse_request(g.data, strlen(s), 0, &lim, &msg);

	guard_free(&g);
	return n;
}

static ssize_t resp(const char *s, int head)
{
	struct guarded g = guard_copy(s, strlen(s));
	ssize_t n = rlb_http_parse_response(g.data, strlen(s), 0, &lim, head, &msg);

	guard_free(&g);
	return n;
}

static void test_simple_request(void **state)
{
	const char *r = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A:  v 1 \t\r\n\r\nBODY";

	(void)state;
	assert_int_equal(req(r), strlen(r) - 4);
	assert_int_equal(msg.num_headers, 2);
	assert_int_equal(msg.minor_version, 1);
	assert_int_equal(msg.body, RLB_BODY_NONE);
	assert_int_equal(msg.headers[1].value_len, 3); /* "v 1": OWS trimmed both sides */
}

static void test_incomplete_then_complete_resumes(void **state)
{
	const char *full = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
	size_t i, last = 0;

	(void)state;
	for (i = 1; i < strlen(full) - 5; i++) {
		ssize_t n;
		char part[128];

		memcpy(part, full, i);
		part[i] = 0;
		n = req(part);
		assert_int_equal(n, -EAGAIN);
		last = i;
	}
	{
		struct guarded g = guard_copy(full, strlen(full) - 5);

		assert_int_equal(rlb_http_parse_request(g.data, strlen(full) - 5, last, &lim, &msg),
				 (ssize_t)strlen(full) - 5);
		guard_free(&g);
	}
	assert_int_equal(msg.body, RLB_BODY_LENGTH);
	assert_int_equal(msg.content_length, 5);
}

static void test_framing_rejections(void **state)
{
	static const struct { const char *in; int status; } cases[] = {
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400 },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nA: b\x7f\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n\"A\": b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505 },
		{ "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "ANNOUNCE / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ssize_t n = req(cases[i].in);

		if (n >= 0 || msg.error_status != cases[i].status)
			fail_msg("case %zu accepted or wrong status (%zd, %d): %s", i, n, msg.error_status,
				 cases[i].in);
	}
	/* The NUL byte cannot live in a C string literal case above. */
	{
		static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n";
		struct guarded g = guard_copy(nul, sizeof(nul) - 1);

		assert_true(rlb_http_parse_request(g.data, sizeof(nul) - 1, 0, &lim, &msg) < 0);
		guard_free(&g);
	}
}

static void test_limits_431_414(void **state)
{
	static char big[20000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(req(big), -EMSGSIZE);
	assert_int_equal(msg.error_status, 431);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /", 5); /* no line end at all: the URI is what is too long */
	assert_int_equal(req(big), -EMSGSIZE);
	assert_int_equal(msg.error_status, 414);
}

static void test_connection_and_upgrade_flags(void **state)
{
	(void)state;
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, X-Foo\r\nUpgrade: ws\r\n"
			"Expect: 100-continue\r\n\r\n") > 0);
	assert_true(msg.flags & RLB_HTTP_CONN_UPGRADE);
	assert_true(msg.flags & RLB_HTTP_HAS_UPGRADE);
	assert_true(msg.flags & RLB_HTTP_CONN_OTHER);
	assert_true(msg.flags & RLB_HTTP_EXPECT_CONTINUE);
	assert_true(req("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n") > 0);
	assert_true(msg.flags & RLB_HTTP_CONN_KEEPALIVE);
}

static void test_response_framing(void **state)
{
	(void)state;
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_LENGTH);
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 1) > 0);
	assert_int_equal(msg.body, RLB_BODY_NONE); /* HEAD */
	assert_true(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_NONE);
	assert_true(resp("HTTP/1.1 204 No Content\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", 0) > 0);
	assert_int_equal(msg.status, 100);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_CHUNKED);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_EOF);
	assert_true(resp("HTTP/1.0 200 OK\r\n\r\n", 0) > 0);
	assert_int_equal(msg.body, RLB_BODY_EOF);
	assert_true(resp("HTTP/1.1 200\r\n\r\n", 0) > 0); /* no reason phrase */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
			 -EBADMSG);
	assert_int_equal(msg.error_status, 502);
	assert_int_equal(resp("HTTP/1.1 20 OK\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0), -EBADMSG);
}

static ssize_t feed(struct rlb_chunked *c, const char *s)
{
	struct guarded g = guard_copy(s, strlen(s));
	ssize_t n = rlb_chunked_feed(c, g.data, strlen(s));

	guard_free(&g);
	return n;
}

static void test_chunked_whole_and_bytewise(void **state)
{
	const char *body = "5\r\nhello\r\n1A;name=val;q=\"a\\\"b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			   "0\r\nTrailer: x\r\n\r\nNEXT";
	struct rlb_chunked c = { 0 };
	size_t i, total = 0;

	(void)state;
	assert_int_equal(feed(&c, body), strlen(body) - 4);
	assert_true(c.done);
	memset(&c, 0, sizeof(c));
	for (i = 0; i < strlen(body) && !c.done; i++) {
		char one[2] = { body[i], 0 };
		ssize_t n = feed(&c, one);

		assert_true(n >= 0);
		total += (size_t)n;
	}
	assert_true(c.done);
	assert_int_equal(total, strlen(body) - 4);
}

static void test_chunked_rejections(void **state)
{
	static const char *bad[] = {
		"x\r\n", "5 \r\n", " 5\r\n", "5\nhello", "5\r\nhelloX\r\n", "5;\r\n", "5; a=b\r\n",
		"5;a=\"b\r\n", "5;a=b c\r\n", "10000000000000000\r\n", "0\r\n x: y\r\n", "-1\r\n",
		"0x5\r\n", "5\r\rhello",
		/* trailer lines are field lines: no colon, or space before it, is refused */
		"0\r\nX-T v\r\n\r\n", "0\r\nX-T : v\r\n\r\n", "0\r\n:v\r\n\r\n", "0\r\nX(T): v\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rlb_chunked c = { 0 };

		if (feed(&c, bad[i]) >= 0)
			fail_msg("accepted bad chunked body %zu: %s", i, bad[i]);
	}
}

/* Chunk sizes stop at 2^63-1 and 16 hex digits (nginx's off_t cap), so a
 * server with a narrower integer never reads a smaller size than we do. */
static void test_chunk_size_caps(void **state)
{
	static const char *ok[] = { "7fffffffffffffff\r\n", "000000000000000a\r\n" };
	static const char *bad[] = { "8000000000000000\r\n", "ffffffffffffffff\r\n",
				     "00000000000000001\r\n" };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct rlb_chunked c = { 0 };

		assert_int_equal(feed(&c, ok[i]), (ssize_t)strlen(ok[i]));
	}
	for (i = 0; i < 3; i++) {
		struct rlb_chunked c = { 0 };

		if (feed(&c, bad[i]) >= 0)
			fail_msg("accepted chunk size %s", bad[i]);
	}
}

/* A Connection header must not name a header that framed or routed the
 * message: the next hop would drop it (issue #6, defect 1). */
static void test_connection_naming_framing_headers(void **state)
{
	static const char *reqs[] = {
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close, Transfer-Encoding\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: HOST\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: x\r\nConnection: content-length\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(req(reqs[i]), -EBADMSG);
		assert_int_equal(msg.error_status, 400);
	}
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: x-content-length, te\r\n\r\n") > 0);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Content-Length\r\n\r\n", 0),
			 -EBADMSG);
	assert_int_equal(msg.error_status, 502);
}

/* Leading empty lines: up to RLB_HTTP_MAX_EMPTY_LINES, counted toward the
 * head limit (issue #6, defect 3). */
static void test_leading_empty_lines(void **state)
{
	struct rlb_http_limits small = { 64, 64 };
	char buf[256];
	ssize_t n;

	(void)state;
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
	assert_int_equal(req(buf), (ssize_t)strlen(buf));
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
	assert_int_equal(req(buf), -EBADMSG);
	assert_int_equal(msg.error_status, 400);
	/* 9 CRLFs are refused even before a request line arrives. */
	assert_int_equal(req("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"), -EBADMSG);
	/* A 50-byte head fits in 64; behind 8 empty lines (66 bytes) it does not. */
	strcpy(buf, "GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n");
	assert_int_equal(strlen(buf), 50);
	assert_true(rlb_http_parse_request(buf, strlen(buf), 0, &small, &msg) > 0);
	snprintf(buf, sizeof(buf), "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n");
	n = rlb_http_parse_request(buf, strlen(buf), 0, &small, &msg);
	assert_int_equal(n, -EMSGSIZE);
	assert_int_equal(msg.error_status, 431);
	/* The response side has the same bound. */
	assert_int_equal(resp("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nHTTP/1.1 204 No\r\n\r\n", 0), -EBADMSG);
	assert_int_equal(msg.error_status, 502);
}

static void test_token_helpers(void **state)
{
	(void)state;
	assert_true(rlb_http_token_eq("CoNtEnT-LeNgTh", 14, "content-length"));
	assert_false(rlb_http_token_eq("Content-Length", 14, "content-lengthx"));
	assert_true(rlb_http_list_has(" a ,, B\t, c", 11, "b"));
	assert_false(rlb_http_list_has("ab, c", 5, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_request),
		cmocka_unit_test(test_incomplete_then_complete_resumes),
		cmocka_unit_test(test_framing_rejections),
		cmocka_unit_test(test_limits_431_414),
		cmocka_unit_test(test_connection_and_upgrade_flags),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_chunked_whole_and_bytewise),
		cmocka_unit_test(test_chunked_rejections),
		cmocka_unit_test(test_chunk_size_caps),
		cmocka_unit_test(test_connection_naming_framing_headers),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_token_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
