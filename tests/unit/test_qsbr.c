/* Quiescent-state-based reclamation: a grace period waits for every online
 * reader to pass a quiescent state, never for an offline one, and a reader
 * on another thread ends it when it quiesces. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <cmocka.h>

#include "ringlb/qsbr.h"

static void test_grace_waits_for_online_readers_only(void **state)
{
	struct rlb_qsbr_reader a = { 0 }, b = { 0 };
	uint64_t t;

	(void)state;
	assert_int_equal(rlb_qsbr_register(&a), 0);
	assert_int_equal(rlb_qsbr_register(&b), 0);
	t = rlb_qsbr_retire();
	assert_false(rlb_qsbr_safe(t));
	rlb_qsbr_quiescent(&a);
	assert_false(rlb_qsbr_safe(t)); /* b may still hold the old pointer */
	rlb_qsbr_offline(&b);
	assert_true(rlb_qsbr_safe(t));
	rlb_qsbr_online(&b); /* coming back online after the retire: sees the new pointer */
	assert_true(rlb_qsbr_safe(t));
	t = rlb_qsbr_retire();
	assert_false(rlb_qsbr_safe(t));
	rlb_qsbr_quiescent(&a);
	rlb_qsbr_quiescent(&b);
	assert_true(rlb_qsbr_safe(t));
	rlb_qsbr_unregister(&a);
	rlb_qsbr_unregister(&b);
	assert_true(rlb_qsbr_safe(rlb_qsbr_retire())); /* no reader: nothing to wait for */
}

static atomic_int go, stop;

static void *reader_thread(void *arg)
{
	struct rlb_qsbr_reader *r = arg;

	rlb_qsbr_register(r);
	while (!atomic_load(&go))
		;
	while (!atomic_load(&stop))
		rlb_qsbr_quiescent(r); /* a loop turn */
	rlb_qsbr_unregister(r);
	return NULL;
}

static void test_reader_thread_ends_grace_periods(void **state)
{
	struct rlb_qsbr_reader r = { 0 };
	struct timespec ms = { 0, 1000000 };
	pthread_t th;

	(void)state;
	pthread_create(&th, NULL, reader_thread, &r);
	while (atomic_load(&r.seen) == 0)
		nanosleep(&ms, NULL);
	for (int i = 0; i < 100; i++) {
		uint64_t t = rlb_qsbr_retire();
		int waited = 0;

		atomic_store(&go, 1);
		while (!rlb_qsbr_safe(t) && waited++ < 5000)
			nanosleep(&ms, NULL);
		assert_true(rlb_qsbr_safe(t));
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace_waits_for_online_readers_only),
		cmocka_unit_test(test_reader_thread_ends_grace_periods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
