/* consistent_hash: Maglev table quality (balance, disruption, weights,
 * determinism), bounded loads under a skewed key stream, key kinds, and the
 * rebuild off the request path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <cmocka.h>

#include "balancer_fixture.h"
#include "ringlb/balancer_util.h"
#include "ringlb/maglev.h"
#include "ringlb/qsbr.h"

#define KEYS 1000000

const struct rlb_maglev *rlb_consistent_hash_table(const struct rlb_balancer *b);
uint64_t rlb_consistent_hash_generation(const struct rlb_balancer *b);
size_t rlb_consistent_hash_retired(const struct rlb_balancer *b);

static uint32_t lookup(const struct rlb_maglev *t, uint32_t key)
{
	return t->entry[rlb_hash64(&key, sizeof(key), 0) % t->size];
}

static void test_balance_10_equal_servers(void **state)
{
	struct fixture *f = fx_new("round_robin", 10, NULL, NULL);
	struct rlb_maglev *t = rlb_maglev_build(&f->be, 65537);
	uint32_t count[10] = { 0 }, k, max = 0;

	(void)state;
	for (k = 0; k < KEYS; k++)
		count[lookup(t, k)]++;
	for (k = 0; k < 10; k++)
		max = count[k] > max ? count[k] : max;
	print_message("max/mean = %.4f\n", max / (KEYS / 10.0));
	assert_true(max / (KEYS / 10.0) <= 1.02);
	rlb_maglev_free(t);
	fx_free(f);
}

static void test_removing_one_of_ten_moves_little(void **state)
{
	struct fixture *f = fx_new("round_robin", 10, NULL, NULL);
	struct rlb_maglev *before = rlb_maglev_build(&f->be, 65537), *after;
	uint32_t k, moved = 0, moved_elsewhere = 0;

	(void)state;
	atomic_store(&f->servers[3].state, RLB_SERVER_DOWN);
	after = rlb_maglev_build(&f->be, 65537);
	for (k = 0; k < KEYS; k++) {
		uint32_t a = lookup(before, k), b = lookup(after, k);

		assert_int_not_equal(b, 3);
		if (a != b) {
			moved++;
			moved_elsewhere += a != 3; /* Maglev's small extra disruption */
		}
	}
	print_message("moved %.4f of keys (%.4f not from the removed server)\n", moved / (double)KEYS,
		      moved_elsewhere / (double)KEYS);
	assert_true(moved <= 1.05 * KEYS / 10);
	assert_true(moved_elsewhere <= 0.05 * KEYS / 10);
	rlb_maglev_free(before);
	rlb_maglev_free(after);
	fx_free(f);
}

static void test_weights_respected(void **state)
{
	static const uint32_t w[] = { 1, 2, 3, 4, 10 };
	struct fixture *f = fx_new("round_robin", 5, w, NULL);
	struct rlb_maglev *t = rlb_maglev_build(&f->be, 65537);
	uint32_t count[5] = { 0 }, k;

	(void)state;
	for (k = 0; k < KEYS; k++)
		count[lookup(t, k)]++;
	for (k = 0; k < 5; k++) {
		double want = KEYS * w[k] / 20.0;

		print_message("server %u weight %u: %.4f of its share\n", k, w[k], count[k] / want);
		assert_true(fabs(count[k] / want - 1.0) <= 0.02);
	}
	rlb_maglev_free(t);
	fx_free(f);
}

static void test_same_config_same_table(void **state)
{
	struct fixture *f = fx_new("round_robin", 50, NULL, NULL);
	struct rlb_maglev *a = rlb_maglev_build(&f->be, 65537), *b = rlb_maglev_build(&f->be, 65537);

	(void)state;
	assert_memory_equal(a->entry, b->entry, 65537 * sizeof(uint32_t));
	/* and a known slot, so a change of hash or seed (which would remap
	 * every key of every running fleet) cannot pass unnoticed */
	print_message("slot 0 -> %u, slot 12345 -> %u\n", a->entry[0], a->entry[12345]);
	assert_int_equal(a->entry[0], 28);
	assert_int_equal(a->entry[12345], 19);
	rlb_maglev_free(a);
	rlb_maglev_free(b);
	fx_free(f);
}

static void test_default_table_size(void **state)
{
	(void)state;
	assert_int_equal(rlb_maglev_default_size(10), 65537);
	assert_int_equal(rlb_maglev_default_size(1000), 100003);
	assert_true(rlb_maglev_is_prime(65537));
	assert_false(rlb_maglev_is_prime(65536));
}

/* Zipf(s) ranks over n keys by inverse CDF. */
static uint32_t zipf(const double *cdf, uint32_t n, uint64_t *rng)
{
	double u = (rlb_rand(rng) >> 11) * (1.0 / 9007199254740992.0);
	uint32_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void test_bounded_loads_under_zipf(void **state)
{
	static const char *const params[] = { "hash_key=uri", "hash_balance_factor=1.25", NULL };
	enum { N = 10000, WINDOW = 200, REQS = 200000 };
	struct fixture *f = fx_new("consistent_hash", 10, NULL, params);
	static double cdf[N];
	static struct rlb_server *held[WINDOW];
	static struct rlb_http_msg m;
	uint64_t rng = 42;
	double sum = 0;
	uint32_t i, inflight = 0, over = 0, max_seen = 0;
	char target[32];

	(void)state;
	for (i = 0; i < N; i++)
		cdf[i] = (sum += 1.0 / pow(i + 1, 1.1));
	for (i = 0; i < N; i++)
		cdf[i] /= sum;
	m.target = target;
	for (i = 0; i < REQS; i++) {
		struct rlb_server *s;
		uint32_t cap;

		if (inflight == WINDOW) { /* the oldest request ends */
			fx_end(f, held[i % WINDOW], 100);
			inflight--;
		}
		m.target_len = (uint32_t)snprintf(target, sizeof(target), "/k/%u", zipf(cdf, N, &rng));
		s = fx_pick_req(f, &m);
		cap = (uint32_t)ceil(1.25 * (inflight + 1) / 10.0);
		over += atomic_load(&s->active_requests) > cap;
		max_seen = atomic_load(&s->active_requests) > max_seen ? (uint32_t)atomic_load(&s->active_requests) : max_seen;
		held[i % WINDOW] = s;
		inflight++;
	}
	print_message("max in flight on one server: %u (cap %u)\n", max_seen, (uint32_t)ceil(1.25 * WINDOW / 10.0));
	assert_int_equal(over, 0);
	fx_free(f);
}

static struct rlb_server *pick_with_header(struct fixture *f, const char *name, const char *value)
{
	static struct rlb_http_msg m;

	m.num_headers = 1;
	m.headers[0] = (struct rlb_http_header){ name, value, (uint32_t)strlen(name), (uint32_t)strlen(value) };
	return fx_pick_req(f, &m);
}

static void test_key_kinds_and_fallback(void **state)
{
	static const char *const hdr[] = { "hash_key=header:X-User", NULL };
	static const char *const cookie[] = { "hash_key=cookie:sid", NULL };
	struct fixture *f = fx_new("consistent_hash", 20, NULL, hdr), *g;
	struct rlb_server *a = pick_with_header(f, "x-user", "alice");
	int i, distinct = 0, seen[20] = { 0 };

	(void)state;
	for (i = 0; i < 20; i++)
		assert_ptr_equal(pick_with_header(f, "X-USER", "alice"), a);
	for (i = 0; i < 20; i++) { /* no X-User: round robin over all servers */
		struct rlb_server *s = pick_with_header(f, "X-Other", "alice");

		distinct += !seen[s->index]++;
	}
	assert_int_equal(distinct, 20);
	g = fx_new("consistent_hash", 20, NULL, cookie);
	a = pick_with_header(g, "Cookie", "theme=dark; sid=abc123; x=1");
	assert_ptr_equal(pick_with_header(g, "Cookie", "sid=abc123"), a);
	/* client_ip, the default, needs no request at all */
	fx_free(g);
	g = fx_new("consistent_hash", 20, NULL, NULL);
	a = fx_pick(g);
	for (i = 0; i < 10; i++)
		assert_ptr_equal(fx_pick(g), a);
	fx_free(g);
	fx_free(f);
}

static void test_rebuild_after_server_down(void **state)
{
	struct fixture *f = fx_new("consistent_hash", 10, NULL, NULL);
	uint64_t gen = rlb_consistent_hash_generation(f->b);
	struct rlb_server *victim = fx_pick(f);
	struct timespec ms = { 0, 1000000 };
	int waited;

	(void)state;
	atomic_store(&victim->state, RLB_SERVER_DOWN);
	f->b->ops->server_changed(f->b, victim);
	for (waited = 0; waited < 5000 && rlb_consistent_hash_generation(f->b) == gen; waited++)
		nanosleep(&ms, NULL); /* the builder thread publishes a new table */
	assert_true(rlb_consistent_hash_generation(f->b) != gen);
	assert_ptr_not_equal(fx_pick(f), victim); /* the same client moves elsewhere */
	fx_free(f);
}

/* Flips a server's state and waits for the builder to publish the table. */
static void rebuild(struct fixture *f, struct rlb_server *srv, int state)
{
	uint64_t gen = rlb_consistent_hash_generation(f->b);
	struct timespec ms = { 0, 1000000 };

	atomic_store(&srv->state, state);
	f->b->ops->server_changed(f->b, srv);
	for (int waited = 0; waited < 5000 && rlb_consistent_hash_generation(f->b) == gen; waited++)
		nanosleep(&ms, NULL);
	assert_true(rlb_consistent_hash_generation(f->b) != gen);
}

/* A worker descheduled in the middle of a pick holds a table pointer across
 * any number of rebuilds: no table it may read is freed until it passes a
 * quiescent state. (Old tables used to be freed once 16 were retired,
 * whatever their age; under ASan this test then read freed memory.) */
static void test_table_held_by_a_reader_outlives_rebuilds(void **state)
{
	struct fixture *f = fx_new("consistent_hash", 10, NULL, NULL);
	struct rlb_qsbr_reader reader = { 0 };
	const struct rlb_maglev *held;
	struct timespec ms = { 0, 1000000 };
	uint64_t sum = 0;
	int waited;

	(void)state;
	assert_int_equal(rlb_qsbr_register(&reader), 0);
	held = rlb_consistent_hash_table(f->b); /* mid-pick */
	for (int i = 0; i < 40; i++)
		rebuild(f, &f->servers[3], i % 2 ? RLB_SERVER_UP : RLB_SERVER_DOWN);
	for (uint32_t k = 0; k < held->size; k++) /* still readable */
		sum += held->entry[k];
	assert_true(sum > 0);
	assert_true(rlb_consistent_hash_retired(f->b) >= 40);
	rlb_qsbr_quiescent(&reader); /* the pick is over */
	for (waited = 0; waited < 5000 && rlb_consistent_hash_retired(f->b) > 0; waited++)
		nanosleep(&ms, NULL);
	assert_int_equal(rlb_consistent_hash_retired(f->b), 0);
	rlb_qsbr_unregister(&reader);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balance_10_equal_servers),
		cmocka_unit_test(test_removing_one_of_ten_moves_little),
		cmocka_unit_test(test_weights_respected),
		cmocka_unit_test(test_same_config_same_table),
		cmocka_unit_test(test_default_table_size),
		cmocka_unit_test(test_bounded_loads_under_zipf),
		cmocka_unit_test(test_key_kinds_and_fallback),
		cmocka_unit_test(test_rebuild_after_server_down),
		cmocka_unit_test(test_table_held_by_a_reader_outlives_rebuilds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
