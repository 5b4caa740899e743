/* The listening sockets a reload hands over (src/core/listen_pool.c): a
 * second take of an address gets the same sockets, plus new ones up to
 * what it wants; closing the unmarked ones closes only what no generation
 * took since. Real sockets on 127.0.0.1, port 0 then the port it got. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "core/listen_pool.h"

static struct sockaddr_in free_addr(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return a;
}

static int take(struct rlb_listen_pool *p, const struct sockaddr_in *a, size_t want, uint32_t mark, int *fds)
{
	return rlb_listen_pool_take(p, (const struct sockaddr *)a, sizeof(*a), "test", want, mark, fds, 8);
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_a_second_take_gets_the_same_sockets_and_more_if_wanted(void **state)
{
	struct rlb_listen_pool p = { 0 };
	struct sockaddr_in a = free_addr();
	int first[8], second[8];

	(void)state;
	assert_int_equal(take(&p, &a, 2, 1, first), 2);
	assert_int_equal(take(&p, &a, 3, 2, second), 3);
	assert_int_equal(second[0], first[0]);
	assert_int_equal(second[1], first[1]);
	/* Fewer wanted: still every one, so none with waiting clients is closed. */
	assert_int_equal(take(&p, &a, 1, 3, second), 3);
	assert_int_equal(rlb_listen_pool_count(&p, (const struct sockaddr *)&a, sizeof(a)), 3);
	rlb_listen_pool_free(&p);
	assert_false(is_open(first[0]));
}

static void test_close_unmarked_closes_only_addresses_no_one_took(void **state)
{
	struct rlb_listen_pool p = { 0 };
	struct sockaddr_in a = free_addr(), b = free_addr();
	int fa[8], fb[8], fd;

	(void)state;
	assert_int_equal(take(&p, &a, 1, 1, fa), 1);
	assert_int_equal(take(&p, &b, 1, 1, fb), 1);
	assert_int_equal(take(&p, &a, 1, 2, fa), 1); /* generation 2 keeps a, drops b */
	rlb_listen_pool_close_unmarked(&p, 2);
	assert_true(is_open(fa[0]));
	assert_false(is_open(fb[0]));
	/* A failed generation 3 opened c; generation 2 takes its own back
	 * (want 0 opens nothing), and c goes. */
	{
		struct sockaddr_in c = free_addr();
		int fc[8];

		assert_int_equal(take(&p, &c, 1, 3, fc), 1);
		assert_int_equal(take(&p, &a, 0, 3, fa), 1);
		assert_int_equal(rlb_listen_pool_take(&p, (const struct sockaddr *)&a, sizeof(a), "test", 0, 2, &fd, 0), 0);
		rlb_listen_pool_close_unmarked(&p, 2);
		assert_true(is_open(fa[0]));
		assert_false(is_open(fc[0]));
	}
	rlb_listen_pool_free(&p);
}

static void test_an_address_taken_elsewhere_is_an_error(void **state)
{
	struct rlb_listen_pool p = { 0 };
	struct sockaddr_in a = free_addr();
	int holder = socket(AF_INET, SOCK_STREAM, 0), fds[8];

	(void)state;
	assert_int_equal(bind(holder, (struct sockaddr *)&a, sizeof(a)), 0); /* no SO_REUSEPORT */
	assert_int_equal(listen(holder, 1), 0);
	assert_int_equal(take(&p, &a, 1, 1, fds), -EADDRINUSE);
	assert_int_equal(p.n, 0);
	close(holder);
	rlb_listen_pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_second_take_gets_the_same_sockets_and_more_if_wanted),
		cmocka_unit_test(test_close_unmarked_closes_only_addresses_no_one_took),
		cmocka_unit_test(test_an_address_taken_elsewhere_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
