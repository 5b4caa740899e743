/* How a DNS answer is laid over a group's slots (src/control/dns.c,
 * rlb_dns_assign): an address keeps its slot while the name has it, a new
 * one takes the slot its hash names (or the next empty one), gone ones
 * empty theirs; so with consistent hashing only the keys of the slots that
 * changed move, and two ringlb agree on where an address is. */
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

/* Which slot holds 10.0.0.last, or -1. */
static int slot_of(const struct sockaddr_storage *slots, size_t n, int last)
{
	for (size_t i = 0; i < n; i++)
		if (octet(&slots[i]) == last)
			return (int)i;
	return -1;
}

static void test_two_ringlb_that_learned_the_addresses_in_another_order_agree(void **state)
{
	/* One saw .1 .2 and later .3; the other started with all three (answers
	 * come sorted). Each address goes to the slot its hash names: the same
	 * in both, as long as no two of them want one slot. */
	struct sockaddr_storage empty[64] = { 0 }, early[64], later[64], fresh[64];
	struct sockaddr_storage two[2] = { ip(1), ip(2) }, three[3] = { ip(1), ip(2), ip(3) };

	(void)state;
	assert_int_equal(rlb_dns_assign(empty, 64, two, 2, early), 2);
	assert_int_equal(rlb_dns_assign(early, 64, three, 3, later), 1);
	assert_int_equal(rlb_dns_assign(empty, 64, three, 3, fresh), 3);
	assert_memory_equal(later, fresh, sizeof(later));
	for (int last = 1; last <= 3; last++)
		assert_true(slot_of(fresh, 64, last) >= 0);
}

static void test_addresses_keep_their_slots_and_gone_ones_empty_theirs(void **state)
{
	struct sockaddr_storage cur[4] = { ip(1), none, ip(3), none }, next[4], a[3] = { ip(3), ip(4), ip(5) };

	(void)state;
	assert_int_equal(rlb_dns_assign(cur, 4, a, 3, next), 3); /* .1 goes, .4 and .5 come */
	assert_int_equal(octet(&next[2]), 3);                    /* kept where it was */
	assert_int_equal(slot_of(next, 4, 1), -1);
	assert_true(slot_of(next, 4, 4) >= 0 && slot_of(next, 4, 5) >= 0);
}

static void test_more_addresses_than_slots_evict_none_that_stays(void **state)
{
	/* The answer has .3, .5, .6 for 2 slots holding .5 and .6: .3 is left
	 * out, not put in place of one still there (its keys would move). */
	struct sockaddr_storage cur[2] = { ip(5), ip(6) }, next[2], a[3] = { ip(3), ip(5), ip(6) };

	(void)state;
	assert_int_equal(rlb_dns_assign(cur, 2, a, 3, next), 0);
	assert_memory_equal(cur, next, sizeof(cur));
	assert_int_equal(rlb_dns_assign(next, 2, a, 0, cur), 2); /* an empty answer (NODATA) empties them */
	assert_int_equal(octet(&cur[0]) + octet(&cur[1]), 0);
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
		cmocka_unit_test(test_two_ringlb_that_learned_the_addresses_in_another_order_agree),
		cmocka_unit_test(test_addresses_keep_their_slots_and_gone_ones_empty_theirs),
		cmocka_unit_test(test_more_addresses_than_slots_evict_none_that_stays),
		cmocka_unit_test(test_the_same_answer_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
