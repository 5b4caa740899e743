/* least_conn: the minimum of (in-flight + 1) / weight, ties rotate, shared
 * between instances (workers) of one backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "balancer_fixture.h"

static void test_picks_min_in_flight(void **state)
{
	struct fixture *f = fx_new("least_conn", 4, NULL, NULL);
	struct rlb_server *held[3];
	int i;

	(void)state;
	for (i = 0; i < 3; i++) /* load servers 0..2 with one request each, in some order */
		held[i] = fx_pick(f);
	assert_true(held[0] != held[1] && held[1] != held[2] && held[0] != held[2]);
	for (i = 0; i < 10; i++) { /* the idle one is the minimum every time */
		struct rlb_server *s = fx_pick(f), *idle = NULL;

		for (size_t j = 0; j < 4; j++)
			if (atomic_load(&f->servers[j].active_requests) == (s == &f->servers[j] ? 1u : 0u) &&
			    s == &f->servers[j])
				idle = s;
		assert_non_null(idle);
		fx_end(f, s, 100);
	}
	fx_free(f);
}

static void test_ties_rotate(void **state)
{
	struct fixture *f = fx_new("least_conn", 5, NULL, NULL);
	int seen[5] = { 0 }, i;

	(void)state;
	for (i = 0; i < 50; i++) { /* nothing in flight: every pick is a 5-way tie */
		struct rlb_server *s = fx_pick(f);

		seen[s->index]++;
		fx_end(f, s, 100);
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(seen[i], 10);
	fx_free(f);
}

static void test_weights(void **state)
{
	static const uint32_t w[] = { 1, 3 };
	struct fixture *f = fx_new("least_conn", 2, w, NULL);
	int i, n0 = 0;

	(void)state;
	for (i = 0; i < 40; i++) /* all held: in-flight ends up proportional to weight */
		n0 += fx_pick(f)->index == 0;
	assert_int_equal(n0, 10);
	fx_free(f);
}

static void test_shared_between_workers_and_skips_avoided(void **state)
{
	struct fixture *f = fx_new("least_conn", 2, NULL, NULL);
	struct rlb_balancer *second;
	struct rlb_pick_ctx ctx = { .client_addr = (struct sockaddr *)&f->client, .avoid = f->avoid };

	(void)state;
	assert_int_equal(f->b->ops->create(&f->be, &second), 0);
	second->ops = f->b->ops;
	second->backend = &f->be;
	assert_int_equal(fx_pick(f)->index, 0);            /* worker 1 loads server 0 */
	assert_int_equal(second->ops->pick(second, &ctx)->index, 1); /* worker 2 sees it */
	rlb_avoid_add(f->avoid, 0);
	rlb_avoid_add(f->avoid, 1);
	assert_null(second->ops->pick(second, &ctx));
	second->ops->destroy(second);
	fx_free(f);
}

static void test_down_server_skipped(void **state)
{
	struct fixture *f = fx_new("least_conn", 3, NULL, NULL);
	int i;

	(void)state;
	atomic_store(&f->servers[1].state, RLB_SERVER_DOWN);
	f->b->ops->server_changed(f->b, &f->servers[1]);
	for (i = 0; i < 30; i++)
		assert_int_not_equal(fx_pick(f)->index, 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_picks_min_in_flight),
		cmocka_unit_test(test_ties_rotate),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_shared_between_workers_and_skips_avoided),
		cmocka_unit_test(test_down_server_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
