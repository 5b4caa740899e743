/* A connection kind for the loop's unit tests: it records what the loop
 * asks of it (ios: on_io calls; destroyed: conns freed) and frees a conn as
 * every kind must, by rlb_conn_release from its destroy hook. */
#ifndef RINGLB_TEST_CONN_FIXTURE_H
#define RINGLB_TEST_CONN_FIXTURE_H

#include <stdlib.h>

#include "core/loop.h"

static int destroyed, ios;

static void t_io(struct conn *c) { (void)c; ios++; }
static void t_close(struct conn *c) { rlb_conn_close(c); }

static void t_destroy(struct conn *c)
{
	rlb_conn_release(c);
	free(c);
	destroyed++;
}

static const struct conn_ops test_ops = {
	.name = "test", .on_io = t_io, .on_timeout = t_close, .on_shutdown = t_close, .destroy = t_destroy,
};

#endif
