/* random, p2c and ewma: weights, eligibility, and a simulated run with one
 * server 10x slower than nine others under 12 closed-loop clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sim.h"

static void test_random_follows_weights(void **state)
{
	static const uint32_t w[] = { 1, 2, 0, 5 };
	struct fixture *f = fx_new("random", 4, w, NULL);
	int count[4] = { 0 }, i;

	(void)state;
	for (i = 0; i < 80000; i++) {
		struct rlb_server *s = fx_pick(f);

		count[s->index]++;
		fx_end(f, s, 1);
	}
	assert_int_equal(count[2], 0);
	assert_in_range(count[0], 9000, 11000);
	assert_in_range(count[1], 19000, 21000);
	assert_in_range(count[3], 49000, 51000);
	fx_free(f);
}

static void test_sampling_skips_down_and_avoided(void **state)
{
	static const char *const algos[] = { "random", "p2c", "ewma" };
	size_t a;
	int i;

	(void)state;
	for (a = 0; a < 3; a++) {
		struct fixture *f = fx_new(algos[a], 100, NULL, NULL);

		for (i = 0; i < 100; i++)
			if (i != 42 && i != 99)
				atomic_store(&f->servers[i].state, RLB_SERVER_DOWN);
		rlb_avoid_add(f->avoid, 99);
		for (i = 0; i < 50; i++) {
			struct rlb_server *s = fx_pick(f);

			assert_int_equal(s->index, 42); /* found with 98 down and 1 avoided */
			fx_end(f, s, 1);
		}
		rlb_avoid_add(f->avoid, 42);
		assert_null(fx_pick(f));
		fx_free(f);
	}
}

static void test_p2c_prefers_less_loaded(void **state)
{
	struct fixture *f = fx_new("p2c", 2, NULL, NULL);
	int i;

	(void)state;
	for (i = 0; i < 5; i++) /* pin load on server 0 */
		atomic_fetch_add(&f->servers[0].active_requests, 1);
	for (i = 0; i < 100; i++) {
		struct rlb_server *s = fx_pick(f);

		assert_int_equal(s->index, 1);
		fx_end(f, s, 1);
	}
	fx_free(f);
}

static uint64_t service[10];

static void set_slow(uint64_t slow_us)
{
	int i;

	for (i = 0; i < 10; i++)
		service[i] = 1000;
	service[9] = slow_us;
}

static void test_slow_server_share(void **state)
{
	static const char *const algos[] = { "round_robin", "least_conn", "p2c", "ewma" };
	static const double at_most[] = { 0.11, 0.03, 0.03, 0.01 };
	size_t a;

	(void)state;
	set_slow(10000);
	for (a = 0; a < 4; a++) {
		struct fixture *f = fx_new(algos[a], 10, NULL, NULL);
		double share = sim_share(f, service, 12, 50000, 0, 9);

		print_message("%-12s slow server share %.4f (fair share 0.10)\n", algos[a], share);
		assert_true(share < at_most[a]);
		fx_free(f);
	}
}

static void test_ewma_reacts_and_recovers(void **state)
{
	static const char *const params[] = { "ewma_decay=1s", NULL };
	struct fixture *f = fx_new("ewma", 10, NULL, params);
	double share;

	(void)state;
	set_slow(1000);
	share = sim_share(f, service, 12, 20000, 0, 9);
	assert_true(share > 0.07); /* healthy: about a tenth */
	set_slow(10000);           /* it turns slow ... */
	share = sim_share(f, service, 12, 2000, 0, 9);
	print_message("first 2000 requests after turning slow: %.4f\n", share);
	assert_true(share < 0.01); /* what it got before its first slow answers came back */
	share = sim_share(f, service, 12, 10000, 0, 9);
	print_message("next 10000: %.4f\n", share);
	assert_true(share < 0.005); /* ... then it has lost its traffic */
	set_slow(1000);            /* it recovers: its cost decays, it is tried again */
	sim_share(f, service, 12, 60000, 0, 9); /* ~5 s of virtual time, 5 x ewma_decay */
	share = sim_share(f, service, 12, 20000, 0, 9);
	print_message("after recovery: %.4f\n", share);
	assert_true(share > 0.07);
	fx_free(f);
}

/* A server that died and came back (scripts/compare-algorithms with
 * configs/scenarios/dies-and-returns.ini): its failures left it a 1 s cost
 * that takes several ewma_decay to fade, and it got no request for 5 s after
 * it was up again. Back from down it restarts at the others' average cost. */
static void test_ewma_server_back_from_down_gets_traffic_at_once(void **state)
{
	struct fixture *f = fx_new("ewma", 10, NULL, NULL); /* ewma_decay 10s */
	struct rlb_server *dead = &f->servers[9];
	double share;
	int i;

	(void)state;
	set_slow(1000);
	sim_share(f, service, 12, 20000, 0, 9);
	for (i = 0; i < 5; i++) { /* its last tries fail: connect refused */
		atomic_fetch_add(&dead->active_requests, 1);
		atomic_fetch_sub(&dead->active_requests, 1);
		f->b->ops->request_end(f->b, dead, RLB_OUTCOME_CONNECT_FAIL, 100, f->now_us);
	}
	atomic_store(&dead->state, RLB_SERVER_DOWN);
	f->b->ops->server_changed(f->b, dead);
	f->now_us += 8000000; /* down for 8 s */
	share = sim_share(f, service, 12, 2000, 0, 9);
	assert_true(share == 0);
	atomic_store(&dead->state, RLB_SERVER_UP);
	f->b->ops->server_changed(f->b, dead);
	share = sim_share(f, service, 12, 2000, 0, 9);
	print_message("first 2000 requests after coming back: %.4f (fair 0.10)\n", share);
	assert_true(share > 0.05);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_follows_weights),
		cmocka_unit_test(test_sampling_skips_down_and_avoided),
		cmocka_unit_test(test_p2c_prefers_less_loaded),
		cmocka_unit_test(test_slow_server_share),
		cmocka_unit_test(test_ewma_reacts_and_recovers),
		cmocka_unit_test(test_ewma_server_back_from_down_gets_traffic_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
