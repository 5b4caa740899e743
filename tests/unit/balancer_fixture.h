/* A backend of N servers and one balancer instance, driven the way the core
 * drives it (pick, then active_requests++ and request_start; at the end
 * active_requests-- and request_end), for the balancer unit tests. */
#ifndef RLB_TEST_BALANCER_FIXTURE_H
#define RLB_TEST_BALANCER_FIXTURE_H

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/balancer.h"

#define FX_MAX 1000

struct fixture {
	struct rlb_server servers[FX_MAX];
	struct rlb_backend be;
	struct rlb_param params[4];
	struct rlb_balancer *b;
	uint64_t avoid[RLB_AVOID_WORDS(FX_MAX)];
	struct sockaddr_in client;
	uint64_t now_us;
};

/* weights may be NULL (all 1); params is "key=value" pairs, NULL-terminated. */
static inline struct fixture *fx_new(const char *algo, size_t n, const uint32_t *weights, const char *const *params)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct rlb_balancer_ops *ops = rlb_balancer_find(algo);
	size_t i;

	if (f == NULL || ops == NULL)
		abort();
	snprintf(f->be.name, sizeof(f->be.name), "test");
	f->be.servers = f->servers;
	f->be.num_servers = n;
	f->be.params = f->params;
	for (i = 0; params && params[i]; i++) {
		const char *eq = strchr(params[i], '=');

		snprintf(f->params[i].key, sizeof(f->params[i].key), "%.*s", (int)(eq - params[i]), params[i]);
		snprintf(f->params[i].value, sizeof(f->params[i].value), "%s", eq + 1);
		f->be.num_params++;
	}
	for (i = 0; i < n; i++) {
		snprintf(f->servers[i].name, sizeof(f->servers[i].name), "server-%zu", i);
		f->servers[i].weight = weights ? weights[i] : 1;
		f->servers[i].index = (uint32_t)i;
		f->servers[i].backend = &f->be;
	}
	f->client.sin_family = AF_INET;
	f->client.sin_addr.s_addr = htonl(0x7f000001);
	if (ops->create(&f->be, &f->b) != 0)
		abort();
	f->b->ops = ops;
	f->b->backend = &f->be;
	return f;
}

static inline void fx_free(struct fixture *f)
{
	f->b->ops->destroy(f->b);
	free(f);
}

static inline struct rlb_server *fx_pick_req(struct fixture *f, const struct rlb_http_msg *req)
{
	struct rlb_pick_ctx ctx = { .client_addr = (struct sockaddr *)&f->client, .now_us = f->now_us,
				    .req = req, .avoid = f->avoid };
	struct rlb_server *srv = f->b->ops->pick(f->b, &ctx);

	if (srv != NULL) {
		atomic_fetch_add(&srv->active_requests, 1);
		if (f->b->ops->request_start)
			f->b->ops->request_start(f->b, srv);
	}
	return srv;
}

static inline struct rlb_server *fx_pick(struct fixture *f)
{
	return fx_pick_req(f, NULL);
}

static inline void fx_end(struct fixture *f, struct rlb_server *srv, uint64_t latency_us)
{
	atomic_fetch_sub(&srv->active_requests, 1);
	if (f->b->ops->request_end)
		f->b->ops->request_end(f->b, srv, RLB_OUTCOME_OK, latency_us, f->now_us);
}

#endif
