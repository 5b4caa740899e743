/* Transfers by splice (src/core/splice.c) between real sockets: the bytes
 * arrive as sent; a side that would block gets a readiness poll on the ring
 * (checked in the SQE, completed by hand through the dispatcher); EOF and
 * the pipe pool's rule (an empty pipe is kept, one with bytes is closed). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn_fixture.h"
#include "core/loop.h"

static struct worker w;
static int peer_src, peer_dst; /* the far ends: we write into src, read from dst */
static struct conn *src, *dst;

static struct conn *new_conn(int *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rlb_conn_init(c, &w, sv[0], &test_ops);
	*peer = sv[1];
	return c;
}

static int setup(void **state)
{
	(void)state;
	w = (struct worker){ 0 };
	if (io_uring_queue_init(64, &w.ring, 0) < 0)
		return -1;
	rlb_list_init(&w.conns);
	rlb_list_init(&w.starved);
	rlb_list_init(&w.pinned);
	rlb_timers_init(&w.timers);
	w.max_pipes = RLB_MAX_PIPES;
	ios = destroyed = 0;
	src = new_conn(&peer_src);
	dst = new_conn(&peer_dst);
	return 0;
}

static void complete(struct conn *c, enum rlb_op op, int res)
{
	rlb_worker_dispatch(&w, rlb_ud(c, op), res, 0);
}

static int teardown(void **state)
{
	(void)state;
	rlb_conn_close(src);
	rlb_conn_close(dst);
	if (src->poll_armed)
		complete(src, OP_POLL, -ECANCELED);
	if (dst->poll_armed)
		complete(dst, OP_POLL, -ECANCELED);
	complete(src, OP_CANCEL, 0);
	complete(dst, OP_CANCEL, 0);
	assert_int_equal(destroyed, 2); /* a poll is counted like any completion */
	close(peer_src);
	if (peer_dst >= 0)
		close(peer_dst);
	while (w.nspare_pipes > 0) {
		close(w.spare_pipes[--w.nspare_pipes].rd);
		close(w.spare_pipes[w.nspare_pipes].wr);
	}
	io_uring_queue_exit(&w.ring);
	rlb_timers_free(&w.timers);
	return 0;
}

static struct io_uring_sqe *last_sqe(void)
{
	return &w.ring.sq.sqes[(w.ring.sq.sqe_tail - 1) & w.ring.sq.ring_mask];
}

static void assert_polls(struct conn *c, unsigned events)
{
	assert_true(c->poll_armed);
	assert_int_equal(last_sqe()->opcode, IORING_OP_POLL_ADD);
	assert_int_equal(last_sqe()->fd, c->fd);
	assert_int_equal(last_sqe()->poll32_events & (POLLIN | POLLOUT), events);
	assert_int_equal(last_sqe()->user_data, rlb_ud(c, OP_POLL));
}

static void test_moves_the_bytes_and_stops_at_the_end(void **state)
{
	struct rlb_splice sp = { 0 };
	char out[50000], in[50000 + 1];
	uint64_t left = sizeof(out);

	(void)state;
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7);
	assert_int_equal(write(peer_src, out, sizeof(out)), sizeof(out));
	assert_int_equal(write(peer_src, "next", 4), 4); /* the next message: not ours */
	assert_int_equal(rlb_splice_open(&w, &sp), 0);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), sizeof(out));
	assert_int_equal(left, 0);
	assert_int_equal(sp.in_pipe, 0);
	assert_false(src->poll_armed || dst->poll_armed); /* done: nothing to wait for */
	assert_int_equal(recv(peer_dst, in, sizeof(in), MSG_WAITALL | MSG_DONTWAIT), sizeof(out));
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(recv(src->fd, in, sizeof(in), MSG_DONTWAIT), 4); /* left in the socket */
	rlb_splice_close(&w, &sp);
	assert_int_equal(w.nspare_pipes, 1); /* empty: kept */
	assert_int_equal(w.npipes, 1);
}

static void test_waits_for_bytes_with_a_poll(void **state)
{
	struct rlb_splice sp = { 0 };
	uint64_t left = 100;

	(void)state;
	assert_int_equal(rlb_splice_open(&w, &sp), 0);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 0);
	assert_polls(src, POLLIN);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 0); /* polled already: waits for it */
	assert_int_equal(write(peer_src, "abc", 3), 3);
	complete(src, OP_POLL, POLLIN);
	assert_false(src->poll_armed);
	assert_int_equal(ios, 1);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 3);
	assert_int_equal(left, 97);
	assert_polls(src, POLLIN);
	rlb_splice_close(&w, &sp);
}

static void test_waits_for_room_with_a_poll_and_keeps_the_bytes(void **state)
{
	struct rlb_splice sp = { 0 };
	char junk[4096] = { 0 };
	uint64_t left = 3000;

	(void)state;
	/* dst's peer reads nothing: fill the way to it */
	fcntl(dst->fd, F_SETFL, O_NONBLOCK);
	while (write(dst->fd, junk, sizeof(junk)) > 0)
		;
	assert_int_equal(write(peer_src, junk, 3000), 3000);
	assert_int_equal(rlb_splice_open(&w, &sp), 0);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 0);
	assert_int_equal(left, 0);
	assert_int_equal(sp.in_pipe, 3000); /* read, held in the pipe */
	assert_polls(dst, POLLOUT);
	assert_true(dst->poll_out);
	complete(dst, OP_POLL, POLLOUT);
	assert_false(dst->poll_armed || dst->poll_out);
	rlb_splice_close(&w, &sp); /* cut short with bytes in it: closed, not kept */
	assert_int_equal(w.nspare_pipes, 0);
	assert_int_equal(w.npipes, 0);
}

static void test_eof_lands_on_the_source(void **state)
{
	struct rlb_splice sp = { 0 };
	uint64_t left = 100;

	(void)state;
	assert_int_equal(write(peer_src, "0123456789", 10), 10);
	shutdown(peer_src, SHUT_WR);
	assert_int_equal(rlb_splice_open(&w, &sp), 0);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 10);
	assert_true(src->eof);
	assert_false(src->recv_failed); /* a FIN, not a reset */
	assert_false(src->poll_armed || dst->poll_armed);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 0); /* nothing more after EOF */
	rlb_splice_close(&w, &sp);
}

static void test_a_gone_destination_is_its_error(void **state)
{
	struct rlb_splice sp = { 0 };
	uint64_t left = 10;

	(void)state;
	close(peer_dst);
	peer_dst = -1;
	assert_int_equal(write(peer_src, "0123456789", 10), 10);
	assert_int_equal(rlb_splice_open(&w, &sp), 0);
	assert_int_equal(rlb_splice_move(&sp, src, dst, &left), 0);
	assert_int_equal(dst->err, -EPIPE);
	assert_false(src->eof || src->err);
	assert_false(src->poll_armed || dst->poll_armed);
	assert_int_equal(sp.in_pipe, 10);
	rlb_splice_close(&w, &sp);
}

/* A worker makes no more pipes than its budget (a share of a quarter of
 * the descriptor limit: sockets need the rest); spares count in it. */
static void test_no_pipe_past_the_budget(void **state)
{
	struct rlb_splice a = { 0 }, b = { 0 };

	(void)state;
	w.max_pipes = 1;
	assert_int_equal(rlb_splice_open(&w, &a), 0);
	assert_int_equal(rlb_splice_open(&w, &b), -ENOBUFS);
	assert_false(b.on);
	rlb_splice_close(&w, &a);
	assert_int_equal(w.nspare_pipes, 1);
	assert_int_equal(rlb_splice_open(&w, &b), 0); /* the spare */
	assert_int_equal(w.npipes, 1);
	rlb_splice_close(&w, &b);
}

/* A conn that is an end of a splice reads by no recv: flow control leaves
 * it alone, and an armed recv is cancelled. When the transfer ends it reads
 * again, by a small recv even after a bulk body: a whole buffer would take
 * in most of the next (maybe spliced) body along with its head. */
static void test_a_splice_source_reads_only_after_the_transfer(void **state)
{
	(void)state;
	src->readable = 1;
	rlb_conn_bulk(src);
	rlb_conn_arm_recv(src);
	assert_true(src->recv_armed);
	rlb_splice_begin(src, dst);
	assert_int_equal(last_sqe()->opcode, IORING_OP_ASYNC_CANCEL);
	assert_int_equal(last_sqe()->addr, rlb_ud(src, OP_RECV));
	complete(src, OP_RECV, -ECANCELED);
	complete(src, OP_CANCEL, 0);
	rlb_conn_flow_control(src);
	assert_false(src->recv_armed);
	rlb_splice_end(src, dst);
	assert_false(src->splice_src || dst->splice_dst);
	assert_true(src->recv_armed);
	assert_int_equal(last_sqe()->opcode, IORING_OP_RECV);
	assert_int_equal(last_sqe()->len, RLB_RECV_MSG);
	rlb_conn_close(src);
	complete(src, OP_RECV, -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_moves_the_bytes_and_stops_at_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_bytes_with_a_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_room_with_a_poll_and_keeps_the_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_lands_on_the_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_gone_destination_is_its_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_splice_source_reads_only_after_the_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pipe_past_the_budget, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as ringlb's main: splice(2) cannot say MSG_NOSIGNAL */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
