/* The control thread: its loop, its state, and the one place where server
 * state is decided and published (contract in control.h). */
#include "control/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = {
	[RLB_SERVER_UP] = "up",           [RLB_SERVER_DOWN] = "down",         [RLB_SERVER_DRAIN] = "drain",
	[RLB_SERVER_DISABLED] = "disabled", [RLB_SERVER_EJECTED] = "ejected", [RLB_SERVER_UNRESOLVED] = "unresolved",
};

const char *rlb_server_state_name(enum rlb_server_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

static void set_reason(struct ctl_server *cs, const char *fmt, const char *arg)
{
	snprintf(cs->reason, sizeof(cs->reason), fmt, arg);
}

/* Stores what workers read, then the versions they compare (release). */
static int store(struct ctl_server *cs, enum rlb_server_state st, uint32_t weight)
{
	struct rlb_server *srv = cs->srv;

	if (atomic_load_explicit(&srv->state, memory_order_relaxed) == (int)st &&
	    atomic_load_explicit(&srv->weight, memory_order_relaxed) == weight)
		return 0;
	atomic_store_explicit(&srv->state, (int)st, memory_order_relaxed);
	atomic_store_explicit(&srv->weight, weight, memory_order_relaxed);
	atomic_fetch_add_explicit(&srv->version, 1, memory_order_release);
	return 1;
}

static void log_change(struct ctl_backend *cb, struct ctl_server *cs, enum rlb_server_state st)
{
	/* Out is a warning (something is wrong there); back, or the operator's doing, is news. */
	void (*say)(const char *, ...) = st == RLB_SERVER_DOWN || st == RLB_SERVER_EJECTED ? rlb_warn : rlb_log;

	say("backend %s server %s: %s -> %s (%s)", cb->be->name, cs->srv->name,
		rlb_server_state_name(cs->shown), rlb_server_state_name(st),
		cs->reason[0] ? cs->reason : "ejection over");
	if (cs->shown == RLB_SERVER_EJECTED) /* back from an ejection: a fresh count */
		atomic_store_explicit(&cs->srv->consecutive_failures, 0, memory_order_relaxed);
	cs->shown = st;
	cs->reason[0] = '\0';
	if (st == RLB_SERVER_UP)
		cs->cap_logged = 0;
}

void rlb_control_publish(struct rlb_control *ctl, struct ctl_backend *cb, uint64_t now_ms)
{
	struct rlb_backend *be = cb->be;
	int primary_up = 0, any_up = 0, changed = 0;

	for (size_t i = 0; i < be->num_servers; i++) {
		struct ctl_server *cs = &cb->servers[i];

		rlb_health_note(&cs->h, now_ms);
		if (!cs->srv->backup && rlb_health_state(&cs->h, now_ms) == RLB_SERVER_UP &&
		    cs->admin_weight > 0)
			primary_up = 1;
	}
	if (cb->has_backup && primary_up != cb->primary_up)
		(primary_up ? rlb_log : rlb_warn)("backend %s: %s", be->name,
			primary_up ? "a server is up again: backup servers stand by"
				   : "no server up: backup servers take the traffic");
	cb->primary_up = (uint8_t)primary_up;
	for (size_t i = 0; i < be->num_servers; i++) {
		struct ctl_server *cs = &cb->servers[i];
		enum rlb_server_state st = rlb_health_state(&cs->h, now_ms);
		uint32_t weight = rlb_health_weight(&cs->h, &cb->rules, cs->admin_weight, now_ms);

		if (cs->srv->backup && primary_up)
			weight = 0;
		if (st != cs->shown)
			log_change(cb, cs, st);
		changed |= store(cs, st, weight);
		any_up |= weight > 0;
	}
	if (!changed)
		return;
	if (any_up)
		atomic_store_explicit(&be->unavailable_logged, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&be->generation, 1, memory_order_release);
	atomic_fetch_add_explicit(&ctl->cfg->generation, 1, memory_order_release);
}

/* Whether cs counts in the share max_ejected protects: a normal server the
 * operator lets serve (not a backup, not drained or disabled, weight > 0). */
static int in_pool(const struct ctl_server *cs)
{
	return !cs->srv->backup && !cs->h.unresolved && cs->h.admin == RLB_ADMIN_ENABLED && cs->admin_weight > 0;
}

/* Passive ejection: servers whose requests failed eject_after times in a
 * row (counted by the workers) leave for a while, unless that would leave
 * out (ejected or down) more than max_ejected of the servers that may serve
 * (Envoy's max_ejection_percent), so at least the rest keep serving. */
static void eject_failing(struct ctl_backend *cb, uint64_t now_ms)
{
	struct rlb_backend *be = cb->be;
	size_t out = 0, pool = 0;

	if (be->eject_after == 0)
		return;
	for (size_t i = 0; i < be->num_servers; i++) {
		enum rlb_server_state st = rlb_health_state(&cb->servers[i].h, now_ms);

		pool += in_pool(&cb->servers[i]);
		out += in_pool(&cb->servers[i]) && (st == RLB_SERVER_EJECTED || st == RLB_SERVER_DOWN);
	}
	for (size_t i = 0; i < be->num_servers; i++) {
		struct ctl_server *cs = &cb->servers[i];
		struct rlb_server *srv = cs->srv;
		unsigned n = atomic_load_explicit(&srv->consecutive_failures, memory_order_relaxed);
		int last = atomic_load_explicit(&srv->last_failure, memory_order_relaxed);
		char why[32];
		uint32_t ms;

		if (n < be->eject_after || rlb_health_state(&cs->h, now_ms) != RLB_SERVER_UP)
			continue;
		if (in_pool(cs) && (out + 1) * 100 > (size_t)be->max_ejected_pct * pool) {
			if (!cs->cap_logged)
				rlb_warn("backend %s server %s: %u failures in a row, not ejected: max_ejected = %u%% "
					"of the servers are out already", be->name, srv->name, n, be->max_ejected_pct);
			cs->cap_logged = 1;
			continue;
		}
		ms = rlb_health_eject(&cs->h, &cb->rules, now_ms);
		out += in_pool(cs);
		atomic_store_explicit(&srv->consecutive_failures, 0, memory_order_relaxed);
		if (last >= 500)
			snprintf(why, sizeof(why), "status %d", last);
		else
			snprintf(why, sizeof(why), "%s", last == -RLB_OUTCOME_TIMEOUT ? "timeout"
						      : last == -RLB_OUTCOME_BAD_RESPONSE ? "bad response"
											   : "connect failure");
		snprintf(cs->reason, sizeof(cs->reason), "%u failures in a row, the last: %s; out for %u ms", n,
			 why, ms);
	}
}

/* The control loop's turn: what is due (ejections, their ends, slow-start
 * steps) is recomputed and published. */
static void after_turn(struct worker *w)
{
	struct rlb_control *ctl = w->control;

	if (w->now_ms >= ctl->next_tick_ms) {
		ctl->next_tick_ms = w->now_ms + 1000;
		rlb_control_tick_windows(ctl);
	}
	for (size_t i = 0; i < ctl->cfg->num_backends; i++) {
		eject_failing(&ctl->backends[i], w->now_ms);
		rlb_control_publish(ctl, &ctl->backends[i], w->now_ms);
	}
	rlb_dns_tick(ctl);
}

void rlb_control_check_result(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs, int pass,
			      const char *why)
{
	snprintf(cs->last_check, sizeof(cs->last_check), "%s: %s", pass ? "pass" : "fail", why);
	rlb_debug("backend %s server %s: health check %s", cb->be->name, cs->srv->name, cs->last_check);
	if (pass)
		cs->checks_passed++;
	else
		cs->checks_failed++;
	if (rlb_health_check_result(&cs->h, &cb->rules, pass))
		set_reason(cs, "health check: %s", why);
	rlb_control_publish(ctl, cb, ctl->loop.now_ms);
}

void rlb_control_set_admin(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs,
			   enum rlb_admin_state admin)
{
	static const char *const verbs[] = { "enabled", "drained", "disabled" };

	if (cs->h.admin == admin)
		return;
	cs->h.admin = (uint8_t)admin;
	set_reason(cs, "%s by admin", verbs[admin]);
	rlb_control_publish(ctl, cb, ctl->loop.now_ms);
}

void rlb_control_set_weight(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs,
			    uint32_t weight)
{
	if (cs->admin_weight != weight)
		rlb_log("backend %s server %s: weight %u -> %u (by admin)", cb->be->name, cs->srv->name,
			cs->admin_weight, weight);
	cs->admin_weight = weight;
	rlb_control_publish(ctl, cb, ctl->loop.now_ms);
}

void rlb_control_tick_windows(struct rlb_control *ctl)
{
	struct rlb_server_totals *t = ctl->scratch;

	for (size_t i = 0; i < ctl->cfg->num_backends; i++)
		for (size_t j = 0; j < ctl->backends[i].be->num_servers; j++) {
			struct ctl_server *cs = &ctl->backends[i].servers[j];
			struct ctl_counts *c;

			rlb_stats_sum_server(cs->srv, t);
			rlb_window_tick(&cs->win[0], &t->connect);
			rlb_window_tick(&cs->win[1], &t->response);
			rlb_window_tick(&cs->win[2], &t->total);
			cs->counts_newest = (cs->counts_newest + 1) % (RLB_WINDOW_SECONDS + 1);
			if (cs->counts_kept < RLB_WINDOW_SECONDS + 1)
				cs->counts_kept++;
			c = &cs->counts[cs->counts_newest];
			memcpy(c->requests, t->requests, sizeof(c->requests));
			memcpy(c->errors, t->errors, sizeof(c->errors));
			c->retries = t->retries;
			c->bytes_in = t->bytes_in;
			c->bytes_out = t->bytes_out;
		}
}

void rlb_control_window_counts(const struct ctl_server *cs, uint32_t seconds, struct ctl_counts *out)
{
	const struct ctl_counts *now = &cs->counts[cs->counts_newest], *then;

	memset(out, 0, sizeof(*out));
	if (cs->counts_kept == 0)
		return;
	if (seconds > cs->counts_kept - 1)
		seconds = cs->counts_kept - 1;
	then = &cs->counts[(cs->counts_newest + RLB_WINDOW_SECONDS + 1 - seconds) % (RLB_WINDOW_SECONDS + 1)];
	for (int k = 0; k < RLB_CLASSES; k++)
		out->requests[k] = now->requests[k] - then->requests[k];
	for (int k = 0; k < RLB_ERR_KINDS; k++)
		out->errors[k] = now->errors[k] - then->errors[k];
	out->retries = now->retries - then->retries;
	out->bytes_in = now->bytes_in - then->bytes_in;
	out->bytes_out = now->bytes_out - then->bytes_out;
}

struct ctl_backend *rlb_control_backend(struct rlb_control *ctl, const char *name, size_t len)
{
	for (size_t i = 0; i < ctl->cfg->num_backends; i++)
		if (strlen(ctl->backends[i].be->name) == len && memcmp(ctl->backends[i].be->name, name, len) == 0)
			return &ctl->backends[i];
	return NULL;
}

struct ctl_server *rlb_control_server(struct ctl_backend *cb, const char *name, size_t len)
{
	for (size_t i = 0; i < cb->be->num_servers; i++)
		if (strlen(cb->servers[i].srv->name) == len && memcmp(cb->servers[i].srv->name, name, len) == 0)
			return &cb->servers[i];
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What a reload keeps of a server of the same name (old, the previous
 * control's, whose thread has ended): its health, so a down server stays
 * down until its checks pass again (unless the address changed: another
 * machine starts as at start); the operator's admin state and weight,
 * unless the config changed them (then the config wins, as with HAProxy's
 * server-state file); its windows (moved: old is freed without them), and
 * its check history. */
static void carry_server(struct ctl_server *cs, const struct rlb_backend *be, struct ctl_server *old)
{
	const struct rlb_server *srv = cs->srv, *was = old->srv;
	uint8_t admin = cs->h.admin;

	if (srv->addr_len == was->addr_len && memcmp(&srv->addr, &was->addr, srv->addr_len) == 0) {
		cs->h = old->h;
		cs->h.admin = admin;
		if (be->health_kind == RLB_HEALTH_NONE && cs->h.checked_down) {
			cs->h.checked_down = 0; /* no check left to bring it back */
			set_reason(cs, "%s", "a reload removed its health checks");
		}
		cs->shown = old->shown;
		cs->cap_logged = old->cap_logged;
		cs->checks_passed = old->checks_passed;
		cs->checks_failed = old->checks_failed;
		memcpy(cs->last_check, old->last_check, sizeof(cs->last_check));
	}
	if (srv->disabled_config == was->disabled_config)
		cs->h.admin = old->h.admin;
	if (srv->weight_config == was->weight_config)
		cs->admin_weight = old->admin_weight;
	memcpy(cs->win, old->win, sizeof(cs->win));
	memset(old->win, 0, sizeof(old->win));
	memcpy(cs->counts, old->counts, sizeof(cs->counts));
	cs->counts_newest = old->counts_newest;
	cs->counts_kept = old->counts_kept;
}

static struct ctl_server *server_named(struct rlb_control *ctl, const char *backend, const char *name)
{
	struct ctl_backend *cb = ctl ? rlb_control_backend(ctl, backend, strlen(backend)) : NULL;

	return cb ? rlb_control_server(cb, name, strlen(name)) : NULL;
}

static int init_backend(struct ctl_backend *cb, struct rlb_backend *be, struct rlb_control *prev)
{
	cb->be = be;
	cb->rules = (struct rlb_health_rules){ .rise = be->health_rise, .fall = be->health_fall,
					       .eject_after = be->eject_after, .eject_for_ms = be->eject_for_ms,
					       .slow_start_ms = be->slow_start_ms };
	cb->servers = calloc(be->num_servers, sizeof(*cb->servers));
	if (cb->servers == NULL)
		return -ENOMEM;
	rlb_dns_init_slots(cb, prev);
	for (size_t j = 0; j < be->num_servers; j++) {
		struct ctl_server *cs = &cb->servers[j];
		struct ctl_server *old;

		cs->srv = &be->servers[j];
		cs->admin_weight = cs->srv->weight_config;
		cs->counts_kept = 1; /* counts[0]: all zero, as at start */
		rlb_health_init(&cs->h, &cb->rules, cs->srv->disabled_config);
		cs->h.unresolved = cs->srv->group != NULL && cs->srv->addr_len == 0;
		cs->shown = rlb_health_state(&cs->h, 0);
		if ((old = server_named(prev, be->name, cs->srv->name)) != NULL)
			carry_server(cs, be, old);
		atomic_store(&cs->srv->state, (int)cs->shown);
		cb->has_backup |= cs->srv->backup;
	}
	cb->primary_up = 1; /* so "backups take the traffic" is logged if it is so at start */
	return 0;
}

int rlb_control_init(struct rlb_control *ctl, struct rlb_config *cfg, struct rlb_control *prev)
{
	uint64_t t = now_ms();

	memset(ctl, 0, sizeof(*ctl));
	ctl->loop.wake_fd = -1;
	ctl->cfg = cfg;
	ctl->started_ms = prev != NULL ? prev->started_ms : t; /* the process's uptime */
	ctl->rng = t ^ (uint64_t)(uintptr_t)ctl;
	ctl->backends = calloc(cfg->num_backends, sizeof(*ctl->backends));
	ctl->scratch = malloc(sizeof(*ctl->scratch));
	ctl->hscratch = malloc(sizeof(*ctl->hscratch));
	if (ctl->backends == NULL || ctl->scratch == NULL || ctl->hscratch == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->num_backends; i++) {
		int rc = init_backend(&ctl->backends[i], &cfg->backends[i], prev);

		if (rc < 0)
			return rc;
		rlb_control_publish(ctl, &ctl->backends[i], t);
	}
	return 0;
}

/* The control loop's per-loop state is ctl itself; checks start here, on
 * the main thread before the loop's thread (their timers are the loop's). */
static int loop_init(struct worker *w)
{
	struct rlb_control *ctl = w->control;
	int rc = rlb_dns_start(ctl);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ctl->cfg->num_backends; i++) {
		struct ctl_backend *cb = &ctl->backends[i];

		for (size_t j = 0; cb->be->health_kind != RLB_HEALTH_NONE && j < cb->be->num_servers; j++) {
			rc = rlb_health_check_create(ctl, cb, &cb->servers[j]);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* After the loop ended: the checks' connections are gone (closed by the
 * drain), their timers with the loop's. */
static void loop_fini(struct worker *w)
{
	struct rlb_control *ctl = w->control;

	if (ctl != NULL)
		rlb_dns_free(ctl);
	for (size_t i = 0; ctl != NULL && i < ctl->cfg->num_backends; i++)
		for (size_t j = 0; j < ctl->backends[i].be->num_servers; j++) {
			rlb_health_check_free(ctl->backends[i].servers[j].hc);
			ctl->backends[i].servers[j].hc = NULL;
		}
}

static const struct rlb_worker_hooks control_hooks = {
	.init = loop_init,
	.accept = rlb_admin_accept,
	.after_turn = after_turn,
	.fini = loop_fini,
};

int rlb_control_needed(const struct rlb_config *cfg)
{
	for (size_t i = 0; i < cfg->num_backends; i++)
		if (cfg->backends[i].health_kind != RLB_HEALTH_NONE || cfg->backends[i].eject_after > 0 ||
		    cfg->backends[i].num_groups > 0)
			return 1;
	return cfg->admin_len > 0;
}

int rlb_control_start(struct rlb_control *ctl, const int *admin_fds, size_t nadmin)
{
	struct rlb_config *cfg = ctl->cfg;
	struct rlb_listen admin[nadmin ? nadmin : 1]; /* at most one per worker slot: copied by the start */
	struct rlb_loop_spec spec = { .name = "control", .listen = admin, .nbufs = 64,
				      .max_clients = RLB_ADMIN_CONNS_MAX };

	for (size_t i = 0; i < nadmin; i++, spec.nlisten++)
		admin[i] = (struct rlb_listen){ (const struct sockaddr *)&cfg->admin, cfg->admin_len, cfg->admin_text,
						ctl, admin_fds[i] };
	ctl->loop.control = ctl;
	return rlb_worker_start(&ctl->loop, -1, cfg, &control_hooks, &spec);
}

void rlb_control_stop(struct rlb_control *ctl)
{
	rlb_worker_stop(&ctl->loop, 0);
	rlb_worker_join(&ctl->loop);
}

int rlb_control_restart(struct rlb_control *ctl, const int *admin_fds, size_t nadmin)
{
	rlb_worker_free(&ctl->loop);
	memset(&ctl->loop, 0, sizeof(ctl->loop));
	ctl->loop.wake_fd = -1;
	return rlb_control_start(ctl, admin_fds, nadmin);
}

void rlb_control_free(struct rlb_control *ctl)
{
	if (ctl->loop.hooks != NULL)
		rlb_worker_free(&ctl->loop);
	for (size_t i = 0; ctl->backends != NULL && i < ctl->cfg->num_backends; i++) {
		for (size_t j = 0; ctl->backends[i].servers != NULL && j < ctl->backends[i].be->num_servers; j++)
			for (int k = 0; k < 3; k++)
				rlb_window_free(&ctl->backends[i].servers[j].win[k]);
		free(ctl->backends[i].servers);
	}
	free(ctl->backends);
	free(ctl->scratch);
	free(ctl->hscratch);
	ctl->backends = NULL;
	ctl->scratch = NULL;
	ctl->hscratch = NULL;
}
