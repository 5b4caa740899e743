/* ringlb's own error answers: each one a well-formed response whose
 * Content-Length is its body, closing the connection. They are static text
 * (so no later rewrite can change bytes a send in flight reads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "http/proxy.h"

static void test_canned_errors_are_well_framed(void **state)
{
	static const int statuses[] = { 400, 408, 414, 431, 500, 501, 502, 503, 504, 505 };
	struct rlb_http_limits lim = { 16384, 8192 };
	static struct rlb_http_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const char *text = rlb_canned_error(statuses[i]);
		ssize_t n = rlb_http_parse_response(text, strlen(text), 0, &lim, 0, &m);

		assert_true(n > 0);
		assert_int_equal(m.status, statuses[i]);
		assert_int_equal(m.body, RLB_BODY_LENGTH);
		assert_int_equal(m.content_length, strlen(text) - (size_t)n);
		assert_true(m.flags & RLB_HTTP_CONN_CLOSE);
	}
	assert_ptr_equal(rlb_canned_error(418), rlb_canned_error(500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canned_errors_are_well_framed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
