/* Plugins: the example loads and picks; a wrong ABI, a missing symbol or a
 * missing file is refused with a clear reason, also from the config. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringlb/config.h"
#include "balancer_fixture.h"

static const char *dir(void)
{
	const char *d = getenv("RLB_PLUGIN_DIR");

	return d ? d : "build/plugins";
}

static void test_example_loads_and_picks(void **state)
{
	char path[256], why[256];
	const struct rlb_balancer_ops *ops;
	struct rlb_server servers[3] = { 0 };
	struct rlb_backend be = { .servers = servers, .num_servers = 3 };
	struct rlb_balancer *b;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct rlb_pick_ctx ctx = { .client_addr = (struct sockaddr *)&sa };
	uint64_t avoid = 0;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/first_available.so", dir());
	ops = rlb_balancer_load_plugin(path, why, sizeof(why));
	if (ops == NULL)
		fail_msg("%s", why);
	assert_string_equal(ops->name, "first_available");
	for (i = 0; i < 3; i++)
		servers[i] = (struct rlb_server){ .weight = 1, .index = (uint32_t)i, .backend = &be };
	assert_int_equal(ops->create(&be, &b), 0);
	b->ops = ops;
	b->backend = &be;
	ctx.avoid = &avoid;
	assert_ptr_equal(ops->pick(b, &ctx), &servers[0]);
	rlb_avoid_add(&avoid, 0);
	assert_ptr_equal(ops->pick(b, &ctx), &servers[1]);
	ops->destroy(b);
}

static void test_bad_plugins_refused(void **state)
{
	char path[256], why[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad_plugin.so", dir());
	assert_null(rlb_balancer_load_plugin(path, why, sizeof(why)));
	assert_non_null(strstr(why, "ABI version"));
	assert_null(rlb_balancer_load_plugin("/nonexistent/x.so", why, sizeof(why)));
	assert_non_null(strstr(why, "No such file"));
	assert_null(rlb_balancer_load_plugin("libc.so.6", why, sizeof(why)));
	assert_non_null(strstr(why, "no symbol rlb_balancer_plugin"));
}

static void test_config_refuses_bad_plugin_with_line(void **state)
{
	char ini[512], err[512], path[] = "/tmp/rlb-plugin-XXXXXX";
	struct rlb_config cfg;
	int fd = mkstemp(path);

	(void)state;
	snprintf(ini, sizeof(ini), "[frontend f]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\n"
		 "balance = plugin:%s/bad_plugin.so\nserver = s 127.0.0.1:2\n", dir());
	assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	assert_int_equal(rlb_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_non_null(strstr(err, ":5: balance: plugin"));
	assert_non_null(strstr(err, "ABI version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads_and_picks),
		cmocka_unit_test(test_bad_plugins_refused),
		cmocka_unit_test(test_config_refuses_bad_plugin_with_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
