/* The test server's capacity (--concurrency): N workers serving in arrival
 * order, so a request's due time includes its wait for a free worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/tools/testserver/capacity.c"

static void unlimited_answers_after_the_service_time(void **state)
{
	struct capacity c;

	(void)state;
	assert_int_equal(capacity_init(&c, 0), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(capacity_due_us(&c, 1000, 50), 1050);
	capacity_free(&c);
}

/* Three at once on two workers: the third waits for the first free one. */
static void a_busy_server_queues_in_arrival_order(void **state)
{
	struct capacity c;

	(void)state;
	assert_int_equal(capacity_init(&c, 2), 0);
	assert_int_equal(capacity_due_us(&c, 1000, 10), 1010);
	assert_int_equal(capacity_due_us(&c, 1000, 30), 1030);
	assert_int_equal(capacity_due_us(&c, 1001, 10), 1020); /* after the first, at 1010 */
	assert_int_equal(capacity_due_us(&c, 1002, 5), 1025);  /* after the third, at 1020 */
	/* idle again later: no wait */
	assert_int_equal(capacity_due_us(&c, 5000, 7), 5007);
	capacity_free(&c);
}

/* Offered load above capacity: the queue, and so the latency, grows without
 * bound (one worker, service 10, an arrival every 5). */
static void overload_grows_the_wait(void **state)
{
	struct capacity c;
	uint64_t due = 0;

	(void)state;
	assert_int_equal(capacity_init(&c, 1), 0);
	for (uint64_t i = 0; i < 100; i++)
		due = capacity_due_us(&c, i * 5, 10);
	assert_int_equal(due, 1000); /* the 100th finishes after 100 x 10 */
	assert_true(due - 99 * 5 > 500);
	capacity_free(&c);
}

/* die: the queue goes with the process. */
static void reset_frees_every_worker(void **state)
{
	struct capacity c;

	(void)state;
	assert_int_equal(capacity_init(&c, 1), 0);
	for (int i = 0; i < 10; i++)
		capacity_due_us(&c, 0, 100);
	assert_int_equal(capacity_due_us(&c, 10, 5), 1005); /* behind the ten */
	capacity_reset(&c);
	assert_int_equal(capacity_due_us(&c, 20, 5), 25);
	capacity_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unlimited_answers_after_the_service_time),
		cmocka_unit_test(a_busy_server_queues_in_arrival_order),
		cmocka_unit_test(overload_grows_the_wait),
		cmocka_unit_test(reset_frees_every_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
