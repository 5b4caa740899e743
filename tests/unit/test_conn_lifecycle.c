/* Completion orders replayed through the worker's dispatcher, with a test
 * connection kind that records what the loop asks of it. A conn may be freed
 * only after its last completion, and no worker list may still hold it then:
 * a recv ending in -ENOBUFS on a conn already closing used to put it back on
 * w->starved, where feed_starved() found it after it was freed (issue #6,
 * defect 4). Each order is replayed with the close before and after. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn_fixture.h"
#include "core/loop.h"

static struct worker w;

static int setup(void **state)
{
	(void)state;
	w = (struct worker){ 0 };
	if (io_uring_queue_init(256, &w.ring, 0) < 0)
		return -1;
	if (posix_memalign((void **)&w.br, 4096, 4096) != 0)
		return -1;
	io_uring_buf_ring_init(w.br);
	w.bufmem = calloc(4, RLB_BUF_SIZE);
	w.nbufs = 4;
	rlb_list_init(&w.conns);
	rlb_list_init(&w.starved);
	rlb_list_init(&w.pinned);
	rlb_timers_init(&w.timers);
	destroyed = ios = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	io_uring_queue_exit(&w.ring); /* the queued cancels and closes never run */
	rlb_timers_free(&w.timers);
	free(w.br);
	free(w.bufmem);
	return 0;
}

/* A conn with a multishot recv posted (one completion outstanding). */
static struct conn *new_conn(void)
{
	struct conn *c = calloc(1, sizeof(*c));
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	rlb_conn_init(c, &w, sv[0], &test_ops);
	c->readable = 1;
	c->recv_armed = 1;
	c->inflight = 1;
	rlb_conn_arm_timer(c, 1000);
	return c;
}

static void complete(struct conn *c, enum rlb_op op, int res, unsigned flags)
{
	rlb_worker_dispatch(&w, rlb_ud(c, op), res, flags);
}

/* Nothing of the conn is left anywhere the worker looks. */
static void assert_gone(void)
{
	assert_int_equal(destroyed, 1);
	assert_int_equal(w.nconns, 0);
	assert_true(rlb_list_empty(&w.conns));
	assert_true(rlb_list_empty(&w.starved));
	assert_true(rlb_list_empty(&w.pinned));
}

static void test_enobufs_after_close(void **state)
{
	struct conn *c = new_conn();

	(void)state;
	rlb_conn_close(c);                         /* posts a cancel: 2 outstanding */
	complete(c, OP_RECV, -ENOBUFS, 0);         /* the recv ends: ring was dry */
	assert_int_equal(destroyed, 0);
	complete(c, OP_CANCEL, 0, 0);
	assert_gone();
}

static void test_enobufs_before_close(void **state)
{
	struct conn *c = new_conn();

	(void)state;
	complete(c, OP_RECV, -ENOBUFS, 0);         /* waits for buffers: on w.starved */
	assert_false(rlb_list_empty(&w.starved));
	rlb_conn_close(c);
	complete(c, OP_CANCEL, 0, 0);
	assert_gone();
}

static void test_cancel_before_enobufs(void **state)
{
	struct conn *c = new_conn();

	(void)state;
	rlb_conn_close(c);
	complete(c, OP_CANCEL, 0, 0);
	assert_int_equal(destroyed, 0);            /* the recv is still out */
	complete(c, OP_RECV, -ENOBUFS, 0);
	assert_gone();
}

/* Bytes arriving on a closing conn pin a ring buffer; release gives it back. */
static void test_data_then_enobufs_after_close(void **state)
{
	struct conn *c = new_conn();

	(void)state;
	rlb_conn_close(c);
	complete(c, OP_RECV, 10, (0u << IORING_CQE_BUFFER_SHIFT) | IORING_CQE_F_MORE | IORING_CQE_F_BUFFER);
	assert_false(rlb_list_empty(&w.pinned));
	complete(c, OP_RECV, -ENOBUFS, 0);
	complete(c, OP_CANCEL, 0, 0);
	assert_gone();
	assert_int_equal(ios, 0);                  /* a closing conn's events go nowhere */
}

/* The SQE prepared last (still in the submission queue: nothing submits). */
static struct io_uring_sqe *last_sqe(void)
{
	return &w.ring.sq.sqes[(w.ring.sq.sqe_tail - 1) & w.ring.sq.ring_mask];
}

/* A conn carrying messages reads with a multishot whose recvs are capped
 * small; a large body moves it to single recvs of a whole buffer, for good. */
static void test_bulk_body_switches_to_single_whole_buffer_recvs(void **state)
{
	struct conn *c = new_conn();

	(void)state;
	c->recv_armed = 0;
	c->inflight = 0;
	rlb_conn_arm_recv(c);
	assert_int_equal(last_sqe()->opcode, IORING_OP_RECV);
	assert_true(last_sqe()->ioprio & IORING_RECV_MULTISHOT);
	assert_int_equal(last_sqe()->len, RLB_RECV_MSG);

	complete(c, OP_RECV, -EINVAL, 0);          /* a kernel before 6.17: no length on a multishot */
	assert_true(last_sqe()->ioprio & IORING_RECV_MULTISHOT);
	assert_int_equal(last_sqe()->len, 0);      /* re-armed uncapped, the connection lives */
	assert_false(c->eof);

	rlb_conn_bulk(c);                          /* cancels the multishot */
	assert_int_equal(last_sqe()->opcode, IORING_OP_ASYNC_CANCEL);
	assert_int_equal(last_sqe()->addr, rlb_ud(c, OP_RECV));
	complete(c, OP_RECV, -ECANCELED, 0);
	complete(c, OP_CANCEL, 0, 0);
	rlb_conn_flow_control(c);                  /* re-arms: a single recv, any size */
	assert_int_equal(last_sqe()->opcode, IORING_OP_RECV);
	assert_false(last_sqe()->ioprio & IORING_RECV_MULTISHOT);
	assert_int_equal(last_sqe()->len, 0);

	rlb_conn_bulk(c);                          /* already single: nothing more queued */
	assert_int_equal(last_sqe()->opcode, IORING_OP_RECV);
	rlb_conn_close(c);
	complete(c, OP_CANCEL, 0, 0);
	complete(c, OP_RECV, -ECANCELED, 0);
	assert_gone();
}

/* Every conn whose capped multishot was posted before the kernel's refusal
 * came back survives it, not only the first to hear of it. */
static void test_refused_recv_length_spares_every_conn(void **state)
{
	struct conn *a = new_conn(), *b = new_conn();

	(void)state;
	a->recv_armed = b->recv_armed = 0;
	a->inflight = b->inflight = 0;
	rlb_conn_arm_recv(a);
	rlb_conn_arm_recv(b);
	complete(a, OP_RECV, -EINVAL, 0);
	complete(b, OP_RECV, -EINVAL, 0);
	assert_false(a->eof);
	assert_false(b->eof);
	assert_true(a->recv_armed && b->recv_armed);
	complete(a, OP_RECV, -EINVAL, 0);          /* an uncapped recv's -EINVAL is an error: no re-arm loop */
	assert_true(a->eof);
	assert_false(a->recv_armed);
	rlb_conn_close(a);
	rlb_conn_close(b);
	complete(a, OP_CANCEL, 0, 0);
	complete(b, OP_CANCEL, 0, 0);
	complete(b, OP_RECV, -ECANCELED, 0);
	assert_int_equal(destroyed, 2);
	assert_int_equal(w.nconns, 0);
}

/* Closing cancels each operation in flight by its user_data (a hash
 * lookup), never by fd (a walk of every armed request in the ring: 40% of
 * the CPU with 1000 connections opened and closed per request), and with
 * nothing in flight still posts a completion to be freed from. */
static void test_close_cancels_each_operation_by_its_user_data(void **state)
{
	struct conn *c = new_conn(), *idle = new_conn();
	unsigned before;

	(void)state;
	c->send_busy = 1;
	c->inflight++;
	before = w.ring.sq.sqe_tail;
	rlb_conn_close(c);
	assert_int_equal(w.ring.sq.sqe_tail - before, 2);
	for (unsigned i = before; i < w.ring.sq.sqe_tail; i++) {
		struct io_uring_sqe *sqe = &w.ring.sq.sqes[i & w.ring.sq.ring_mask];

		assert_int_equal(sqe->opcode, IORING_OP_ASYNC_CANCEL);
		assert_false(sqe->cancel_flags & (IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL));
		assert_true(sqe->addr == rlb_ud(c, OP_RECV) || sqe->addr == rlb_ud(c, OP_SEND));
		assert_int_equal(sqe->user_data, rlb_ud(c, OP_CANCEL));
	}
	complete(c, OP_CANCEL, 0, 0);
	complete(c, OP_CANCEL, -ENOENT, 0);
	complete(c, OP_SEND, -ECANCELED, 0);
	complete(c, OP_RECV, -ECANCELED, 0);
	assert_int_equal(destroyed, 1);

	idle->recv_armed = 0;
	idle->inflight = 0;
	rlb_conn_close(idle);
	assert_int_equal(last_sqe()->opcode, IORING_OP_NOP);
	assert_int_equal(last_sqe()->user_data, rlb_ud(idle, OP_CANCEL));
	complete(idle, OP_CANCEL, 0, 0);
	assert_int_equal(destroyed, 2);
	assert_int_equal(w.nconns, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enobufs_after_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_cancels_each_operation_by_its_user_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_body_switches_to_single_whole_buffer_recvs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_recv_length_spares_every_conn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enobufs_before_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_before_enobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_then_enobufs_after_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
