/* The load generator's response reader (src/tools/load/response.c): a
 * response fed in pieces of every size ends exactly where it ends, whatever
 * its framing (Content-Length, chunked, until close, none), interim 1xx
 * heads are skipped, and a bad head or chunk is an error. Each piece sits
 * right before a guard page, so an over-read crashes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guard.h"
#include "../../src/tools/load/response.c"

static struct rlb_http_msg msg;

/* Feeds text in pieces of step bytes, the way the client does (an
 * incomplete head is fed again, grown); returns the bytes the response
 * took, or -EBADMSG. *done says whether it completed. */
static ssize_t feed_in_steps(struct load_response *r, const char *text, size_t step, int head_request, int *done)
{
	size_t len = strlen(text), start = 0, end = 0;

	load_response_start(r);
	while (r->state != LOAD_RESP_DONE && end < len) {
		end = end + step < len ? end + step : len;
		while (start < end && r->state != LOAD_RESP_DONE) {
			struct guarded g = guard_copy(text + start, end - start);
			ssize_t n = load_response_feed(r, &msg, g.data, end - start, 4096, head_request);

			guard_free(&g);
			if (n < 0)
				return n;
			start += (size_t)n;
			if (n == 0)
				break; /* an incomplete head: wait for more */
		}
	}
	*done = r->state == LOAD_RESP_DONE;
	return (ssize_t)start;
}

static void expect_whole(const char *text, size_t want_bytes, int status, int keep_alive, int head_request)
{
	for (size_t step = 1; step <= strlen(text); step++) {
		struct load_response r;
		int done;
		ssize_t n = feed_in_steps(&r, text, step, head_request, &done);

		if (n != (ssize_t)want_bytes || !done)
			fail_msg("step %zu: took %zd of %zu, done %d", step, n, want_bytes, done);
		assert_int_equal(r.status, status);
		assert_int_equal(r.keep_alive, keep_alive);
	}
}

static void test_content_length_ends_at_its_length(void **state)
{
	const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Server: a\r\n\r\nhelloHTTP/1.1 200 OK\r\n";

	(void)state;
	expect_whole(text, strlen(text) - strlen("HTTP/1.1 200 OK\r\n"), 200, 1, 0);
}

static void test_chunked_ends_after_the_last_chunk_and_trailer(void **state)
{
	const char *text = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\nnext";

	(void)state;
	expect_whole(text, strlen(text) - 4, 201, 1, 0);
}

static void test_no_body_after_head_204_or_304(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	const char *nc = "HTTP/1.1 204 No Content\r\n\r\n";

	(void)state;
	expect_whole(head, strlen(head), 200, 1, 1);
	expect_whole(nc, strlen(nc), 204, 1, 0);
}

static void test_interim_heads_are_skipped(void **state)
{
	const char *text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	(void)state;
	expect_whole(text, strlen(text), 200, 1, 0);
}

static void test_read_until_close_ends_at_eof(void **state)
{
	const char *text = "HTTP/1.1 200 OK\r\n\r\nall of it";
	struct load_response r;
	int done;

	(void)state;
	assert_int_equal(feed_in_steps(&r, text, 3, 0, &done), (ssize_t)strlen(text));
	assert_false(done);
	assert_int_equal(r.keep_alive, 0);
	assert_int_equal(load_response_eof(&r), 0);
	assert_int_equal(r.state, LOAD_RESP_DONE);
}

static void test_close_and_http10_are_not_kept_alive(void **state)
{
	const char *close = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	const char *old = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	const char *old_ka = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	expect_whole(close, strlen(close), 200, 0, 0);
	expect_whole(old, strlen(old), 200, 0, 0);
	expect_whole(old_ka, strlen(old_ka), 200, 1, 0);
}

static void test_cut_short_and_bad_responses(void **state)
{
	const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
	const char *twice = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
	const char *bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	struct load_response r;
	int done;

	(void)state;
	assert_int_equal(feed_in_steps(&r, cut, 7, 0, &done), (ssize_t)strlen(cut));
	assert_false(done);
	assert_int_equal(load_response_eof(&r), -ECONNRESET);
	assert_int_equal(feed_in_steps(&r, twice, 1000, 0, &done), -EBADMSG);
	assert_int_equal(feed_in_steps(&r, bad_chunk, 1000, 0, &done), -EBADMSG);
	assert_int_equal(feed_in_steps(&r, "garbage\r\n\r\n", 1000, 0, &done), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length_ends_at_its_length),
		cmocka_unit_test(test_chunked_ends_after_the_last_chunk_and_trailer),
		cmocka_unit_test(test_no_body_after_head_204_or_304),
		cmocka_unit_test(test_interim_heads_are_skipped),
		cmocka_unit_test(test_read_until_close_ends_at_eof),
		cmocka_unit_test(test_close_and_http10_are_not_kept_alive),
		cmocka_unit_test(test_cut_short_and_bad_responses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
