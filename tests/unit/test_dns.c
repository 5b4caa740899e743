/* How a DNS answer is laid over a group's slots (src/control/dns.c,
 * rlb_dns_assign): an address keeps its slot while the name has it, new
 * ones take the lowest empty slots, gone ones empty theirs; so with
 * consistent hashing only the keys of the slots that changed move. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "control/control.h"

static struct sockaddr_storage ip(int last)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	in->sin_family = AF_INET;
	in->sin_port = htons(8080);
	in->sin_addr.s_addr = htonl(0x0a000000u | (unsigned)last);
	return ss;
}

static const struct sockaddr_storage none;

/* slot i's address as its last octet, 0 for none */
static int octet(const struct sockaddr_storage *ss)
{
	return ss->ss_family ? (int)(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) & 0xff) : 0;
}

static void test_first_answer_fills_the_lowest_slots(void **state)
{
	struct sockaddr_storage cur[4] = { none, none, none, none }, next[4], a[2] = { ip(1), ip(2) };

	(void)state;
	assert_int_equal(rlb_dns_assign(cur, 4, a, 2, next), 2);
	assert_int_equal(octet(&next[0]), 1);
	assert_int_equal(octet(&next[1]), 2);
	assert_int_equal(octet(&next[2]), 0);
	assert_int_equal(octet(&next[3]), 0);
}

static void test_addresses_keep_their_slots_and_new_ones_take_empty_ones(void **state)
{
	/* slots: 10.0.0.1, -, 10.0.0.3; the answer: .3, .4, .5 (sorted) */
	struct sockaddr_storage cur[3] = { ip(1), none, ip(3) }, next[3], a[3] = { ip(3), ip(4), ip(5) };

	(void)state;
	assert_int_equal(rlb_dns_assign(cur, 3, a, 3, next), 2); /* slot 0: .1 -> .4; slot 1: - -> .5 */
	assert_int_equal(octet(&next[0]), 4);
	assert_int_equal(octet(&next[1]), 5);
	assert_int_equal(octet(&next[2]), 3); /* kept */
}

static void test_more_addresses_than_slots_and_an_empty_answer(void **state)
{
	struct sockaddr_storage cur[2] = { none, ip(9) }, next[2], a[3] = { ip(1), ip(2), ip(9) };

	(void)state;
	rlb_dns_assign(cur, 2, a, 3, next);
	assert_int_equal(octet(&next[1]), 9); /* kept, even though sorted last */
	assert_int_equal(octet(&next[0]), 1); /* one new fits; .2 is left out */
	assert_int_equal(rlb_dns_assign(next, 2, a, 0, cur), 2);
	assert_int_equal(octet(&cur[0]), 0);
	assert_int_equal(octet(&cur[1]), 0);
}

static void test_the_same_answer_changes_nothing(void **state)
{
	struct sockaddr_storage cur[3] = { ip(2), none, ip(1) }, next[3], a[2] = { ip(1), ip(2) };

	(void)state;
	assert_int_equal(rlb_dns_assign(cur, 3, a, 2, next), 0);
	assert_memory_equal(cur, next, sizeof(cur));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_answer_fills_the_lowest_slots),
		cmocka_unit_test(test_addresses_keep_their_slots_and_new_ones_take_empty_ones),
		cmocka_unit_test(test_more_addresses_than_slots_and_an_empty_answer),
		cmocka_unit_test(test_the_same_answer_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
