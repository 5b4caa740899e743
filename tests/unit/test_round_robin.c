/* Smooth weighted round robin: nginx's sequence, exact shares per window,
 * skipping ineligible servers, and the registry's checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringlb/balancer.h"

static struct rlb_server servers[4200];
static struct rlb_backend be = { .name = "b", .servers = servers };
static uint64_t avoid[RLB_AVOID_WORDS(4200)];

static struct rlb_balancer *make(const uint32_t *weights, size_t n)
{
	const struct rlb_balancer_ops *ops = rlb_balancer_find("round_robin");
	struct rlb_balancer *b;
	size_t i;

	memset(servers, 0, sizeof(servers));
	for (i = 0; i < n; i++) {
		servers[i].weight = weights[i];
		servers[i].index = (uint32_t)i;
		servers[i].name[0] = (char)('a' + i);
		servers[i].backend = &be;
	}
	be.num_servers = n;
	assert_int_equal(ops->create(&be, &b), 0);
	b->ops = ops;
	b->backend = &be;
	memset(avoid, 0, sizeof(avoid));
	return b;
}

static char pick(struct rlb_balancer *b)
{
	struct sockaddr_storage ss = { 0 };
	struct rlb_pick_ctx ctx = { .client_addr = (struct sockaddr *)&ss, .avoid = avoid };
	struct rlb_server *s = b->ops->pick(b, &ctx);

	return s ? s->name[0] : '-';
}

/* The next n picks as letters, e.g. "aabacaa". */
static const char *sequence(struct rlb_balancer *b, int n)
{
	static char seq[64];
	int i;

	for (i = 0; i < n; i++)
		seq[i] = pick(b);
	seq[n] = '\0';
	return seq;
}

static void test_nginx_sequence(void **state)
{
	static const uint32_t w[] = { 5, 1, 1 };
	struct rlb_balancer *b = make(w, 3);

	(void)state;
	assert_string_equal(sequence(b, 14), "aabacaaaabacaa");
	b->ops->destroy(b);
}

static void test_every_window_gives_exact_weights(void **state)
{
	static const uint32_t w[] = { 3, 7, 1, 4, 2 };
	struct rlb_balancer *b = make(w, 5);
	int window, i;

	(void)state;
	for (window = 0; window < 50; window++) {
		int count[5] = { 0 };

		for (i = 0; i < 17; i++)
			count[pick(b) - 'a']++;
		for (i = 0; i < 5; i++)
			assert_int_equal(count[i], (int)w[i]);
	}
	b->ops->destroy(b);
}

static void test_equal_weights_interleave(void **state)
{
	static const uint32_t w[] = { 1, 1, 1 };
	struct rlb_balancer *b = make(w, 3);

	(void)state;
	assert_string_equal(sequence(b, 6), "abcabc");
	b->ops->destroy(b);
}

static void test_skips_down_avoided_and_zero_weight(void **state)
{
	static const uint32_t w[] = { 1, 1, 0, 1 };
	struct rlb_balancer *b = make(w, 4);
	int i;

	(void)state;
	atomic_store(&servers[0].state, RLB_SERVER_DOWN);
	rlb_avoid_add(avoid, 1);
	for (i = 0; i < 5; i++)
		assert_int_equal(pick(b), 'd');
	rlb_avoid_add(avoid, 3);
	assert_int_equal(pick(b), '-');
	b->ops->destroy(b);
}

static void test_huge_total_weight_steps_per_pick(void **state)
{
	static uint32_t w[4200];
	struct rlb_balancer *b;
	int seen[4200] = { 0 }, i;

	(void)state;
	for (i = 0; i < 4200; i++) /* total weight above one precomputed cycle */
		w[i] = 256;
	b = make(w, 4200);
	for (i = 0; i < 4200; i++) {
		struct sockaddr_storage ss = { 0 };
		struct rlb_pick_ctx ctx = { .client_addr = (struct sockaddr *)&ss, .avoid = avoid };
		struct rlb_server *s = b->ops->pick(b, &ctx);

		assert_non_null(s);
		seen[s->index]++;
	}
	for (i = 0; i < 4200; i++) /* equal weights: one turn each per 4200 picks */
		assert_int_equal(seen[i], 1);
	b->ops->destroy(b);
}

uint32_t rlb_round_robin_cycle_len(const struct rlb_balancer *b);
uint32_t rlb_round_robin_builds(const struct rlb_balancer *b);

/* Server changes rebuilt the whole cycle once per changed server, on every
 * worker, at a cost of servers x total weight: 256 servers of weights up to
 * 256 (x RLB_WEIGHT_SCALE) froze a worker for hundreds of milliseconds on
 * each admin action (fresh-eyes review of issue #7). Now a change marks the
 * cycle stale, the next pick builds it once, and a build that would cost
 * too much gives way to per-pick steps. */
static void test_server_changes_rebuild_once_and_cheaply(void **state)
{
	static uint32_t w[256];
	struct rlb_balancer *b;
	uint32_t builds;
	int i;

	(void)state;
	for (i = 0; i < 256; i++)
		w[i] = (uint32_t)(i + 1) * RLB_WEIGHT_SCALE;
	b = make(w, 256);
	assert_int_equal(rlb_round_robin_cycle_len(b), 0); /* 256 x 32896 steps: too many to precompute */
	builds = rlb_round_robin_builds(b);
	for (i = 0; i < 256; i++)
		b->ops->server_changed(b, &servers[i]);
	assert_int_equal(rlb_round_robin_builds(b), builds); /* nothing built in server_changed */
	assert_true(pick(b) != '-');
	pick(b);
	assert_int_equal(rlb_round_robin_builds(b), builds + 1); /* once, at the first pick */
	b->ops->destroy(b);
	/* Weights with a common divisor (RLB_WEIGHT_SCALE) make the cycle no longer. */
	for (i = 0; i < 3; i++)
		w[i] = 5 * RLB_WEIGHT_SCALE;
	b = make(w, 3);
	assert_int_equal(rlb_round_robin_cycle_len(b), 3);
	b->ops->destroy(b);
}

static void test_registry_validates(void **state)
{
	struct rlb_balancer_ops ops = *rlb_balancer_find("round_robin");
	const char *why = NULL;

	(void)state;
	assert_null(rlb_balancer_find("nope"));
	assert_int_equal(rlb_balancer_validate(&ops, &why), 0);
	ops.abi_version++;
	assert_int_equal(rlb_balancer_validate(&ops, &why), -EINVAL);
	assert_string_equal(why, "ABI version mismatch");
	ops.abi_version--;
	ops.pick = NULL;
	assert_int_equal(rlb_balancer_validate(&ops, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nginx_sequence),
		cmocka_unit_test(test_server_changes_rebuild_once_and_cheaply),
		cmocka_unit_test(test_every_window_gives_exact_weights),
		cmocka_unit_test(test_equal_weights_interleave),
		cmocka_unit_test(test_skips_down_avoided_and_zero_weight),
		cmocka_unit_test(test_huge_total_weight_steps_per_pick),
		cmocka_unit_test(test_registry_validates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
