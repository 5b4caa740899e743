/* DNS names re-resolved while ringlb runs ("servers = PREFIX HOST:PORT
 * resolve_every=5s max=N", ringlb/server.h's group): the control thread
 * asks every resolve_every (resolver.h, on its ring) and lays each answer
 * over the group's slots so that an address keeps its slot while the name
 * has it. A slot's address is rewritten only here, under its seqlock
 * (rlb_server_addr), and every change bumps the server's version, so
 * workers drop their pooled connections to it (proxy_worker.c; upstream.c
 * never takes one whose slot moved). A new address goes to the slot its
 * hash names, so ringlb instances agree. A failed answer (no reply,
 * SERVFAIL) changes nothing: the last addresses stay, as Envoy's DNS
 * clusters keep their hosts; one line per episode. "Name not found" does
 * the same for hold_nx, then empties the slots (HAProxy's hold nx). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "control/resolver.h"
#include "ringlb/balancer_util.h"

static int has_addr(const struct sockaddr_storage *ss)
{
	return ss->ss_family != AF_UNSPEC;
}

static int same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Where a new address goes first: a slot from a hash of the address, so
 * two ringlb that learn the same addresses in another order (one started
 * later, or restarted) mostly give them the same slots, and so the same
 * keys under consistent hashing. */
static size_t preferred_slot(const struct sockaddr_storage *ss, size_t slots)
{
	size_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	return (size_t)(rlb_hash64(ss, len, 0x646e73) % slots);
}

size_t rlb_dns_assign(const struct sockaddr_storage *cur, size_t slots, const struct sockaddr_storage *addrs,
		      size_t n, struct sockaddr_storage *next)
{
	size_t changed = 0, placed_new = 0, empty = 0;

	for (size_t i = 0; i < slots; i++) { /* a slot keeps its address while the answer has it */
		int kept = 0;

		for (size_t k = 0; k < n && !kept && has_addr(&cur[i]); k++)
			kept = same(&cur[i], &addrs[k]);
		if (kept)
			next[i] = cur[i];
		else
			memset(&next[i], 0, sizeof(next[i]));
	}
	for (size_t i = 0; i < slots; i++)
		empty += !has_addr(&next[i]);
	for (size_t k = 0; k < n && placed_new < empty; k++) { /* new ones: their slot, or the next empty one */
		int placed = 0;

		for (size_t i = 0; i < slots && !placed; i++)
			placed = same(&next[i], &addrs[k]);
		for (size_t i = preferred_slot(&addrs[k], slots), tries = 0; !placed && tries < slots; tries++) {
			if (!has_addr(&next[i])) {
				next[i] = addrs[k];
				placed = 1;
				placed_new++;
			}
			i = (i + 1) % slots;
		}
	}
	for (size_t i = 0; i < slots; i++)
		changed += !same(&cur[i], &next[i]);
	return changed;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n, const char *host)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(out, n, "none (%.50s)", host);
	}
}

/* The seqlock's writer side (readers: rlb_server_addr). */
static void set_address(struct rlb_server *srv, const struct sockaddr_storage *ss)
{
	unsigned seq = atomic_load_explicit(&srv->addr_seq, memory_order_relaxed);

	atomic_store_explicit(&srv->addr_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	srv->addr = *ss;
	srv->addr_len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
			: ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
	atomic_store_explicit(&srv->addr_seq, seq + 2, memory_order_release);
	addr_text(ss, srv->addr_text, sizeof(srv->addr_text), srv->group->host);
}

static struct ctl_group *find_group(struct rlb_control *ctl, const char *backend, const struct rlb_server_group *g)
{
	for (size_t i = 0; ctl != NULL && i < ctl->num_groups; i++) {
		const struct rlb_server_group *o = ctl->groups[i].g;

		if (strcmp(ctl->groups[i].cb->be->name, backend) == 0 && strcmp(o->prefix, g->prefix) == 0 &&
		    strcmp(o->host, g->host) == 0 && o->port == g->port)
			return &ctl->groups[i];
	}
	return NULL;
}

void rlb_dns_init_slots(struct ctl_backend *cb, struct rlb_control *prev)
{
	struct rlb_backend *be = cb->be;

	for (size_t k = 0; k < be->num_groups; k++) {
		struct rlb_server_group *g = &be->groups[k];
		struct ctl_group *was = find_group(prev, be->name, g);
		struct sockaddr_storage cur[1024] = { 0 }, next[1024];

		for (uint32_t i = 0; was != NULL && i < g->max && i < was->g->max; i++)
			cur[i] = was->cb->be->servers[was->g->first + i].addr;
		if (was != NULL && !g->loaded_ok) /* a reload while DNS fails: what ran goes on */
			memcpy(next, cur, sizeof(next));
		else
			rlb_dns_assign(cur, g->max, g->loaded, g->num_loaded, next);
		for (uint32_t i = 0; i < g->max; i++)
			set_address(&be->servers[g->first + i], &next[i]);
	}
}

/* Slot i of cg now has *ss (family 0: none): its health starts again as
 * a new server's (up, one failed check from down), or it waits unresolved. */
static void slot_changed(struct ctl_group *cg, uint32_t i, const struct sockaddr_storage *ss)
{
	struct ctl_server *cs = &cg->cb->servers[cg->g->first + i];
	struct rlb_server *srv = cs->srv;
	uint8_t admin = cs->h.admin;
	char was[64];

	snprintf(was, sizeof(was), "%s", srv->addr_text);
	set_address(srv, ss);
	rlb_log("backend %s server %s: address %s -> %s (DNS: %s)", cg->cb->be->name, srv->name, was,
		srv->addr_text, cg->g->host);
	if (has_addr(ss)) {
		rlb_health_init(&cs->h, &cg->cb->rules, srv->disabled_config);
		cs->h.admin = admin;
		/* Checked servers take traffic once a check passed (Envoy's
		 * pending first check), so an address that is dead, or comes
		 * and goes in DNS, gets none on its say-so alone. */
		if (cs->hc != NULL) {
			cs->h.checked_down = 1;
			cs->h.passes = cg->cb->rules.rise > 0 ? cg->cb->rules.rise - 1 : 0;
		}
		snprintf(cs->reason, sizeof(cs->reason), "DNS: %.60s has %.63s", cg->g->host, srv->addr_text);
	} else {
		cs->h.unresolved = 1;
		snprintf(cs->reason, sizeof(cs->reason), "DNS: %.60s no longer has %.63s", cg->g->host, was);
	}
	if (cs->hc != NULL)
		rlb_health_check_address_changed(cs->hc);
	atomic_store_explicit(&srv->consecutive_failures, 0, memory_order_relaxed); /* the old machine's */
	atomic_fetch_add_explicit(&srv->version, 1, memory_order_release);
}

static void ask(struct rlb_timer *t);

static void answered(void *arg, int status, const char *why, const struct sockaddr_storage *addrs, size_t n)
{
	struct ctl_group *cg = arg;
	struct rlb_control *ctl = cg->ctl;
	struct rlb_backend *be = cg->cb->be;
	struct sockaddr_storage cur[1024], next[1024];
	size_t changed;

	cg->asking = 0;
	if (ctl->loop.stopping || ctl->resolver == NULL)
		return; /* the thread ends, or the resolver is being freed */
	rlb_timer_arm(&ctl->loop.timers, &cg->next, cg->g->resolve_every_ms);
	if (status == -ENOENT && cg->nx_since_ms == 0)
		cg->nx_since_ms = ctl->loop.now_ms;
	if (status == -ENOENT && ctl->loop.now_ms - cg->nx_since_ms >= cg->g->hold_nx_ms) {
		/* Not found for hold_nx: the name is gone (a service scaled to
		 * zero, say), not a resolver's hiccup. HAProxy's hold nx. */
		if (!cg->nx_emptied)
			rlb_warn("backend %s servers %s: '%s' not found for %u ms (hold_nx): its servers empty", be->name,
				 cg->g->prefix, cg->g->host, cg->g->hold_nx_ms);
		cg->nx_emptied = cg->failing = 1;
		n = 0; /* an answer after all: no address */
	} else if (status < 0) {
		if (!cg->failing)
			rlb_warn("backend %s servers %s: cannot resolve '%s': %s; keeping the addresses it had%s, asking "
				 "again every %u ms", be->name, cg->g->prefix, cg->g->host, why,
				 status == -ENOENT ? " for hold_nx" : "", cg->g->resolve_every_ms);
		cg->failing = 1;
		return;
	} else {
		if (cg->failing)
			rlb_log("backend %s servers %s: '%s' resolves again (%zu address(es))", be->name, cg->g->prefix,
				cg->g->host, n);
		cg->failing = cg->nx_emptied = 0;
		cg->nx_since_ms = 0;
	}
	if (n > cg->g->max && !cg->over_logged)
		rlb_warn("backend %s servers %s: '%s' has %zu addresses, max = %u: those without a server are left "
			 "out (raise max)", be->name, cg->g->prefix, cg->g->host, n, cg->g->max);
	cg->over_logged = n > cg->g->max;
	for (uint32_t i = 0; i < cg->g->max; i++)
		cur[i] = be->servers[cg->g->first + i].addr;
	changed = rlb_dns_assign(cur, cg->g->max, addrs, n, next);
	if (changed == 0)
		return;
	for (uint32_t i = 0; i < cg->g->max; i++)
		if (!same(&cur[i], &next[i]))
			slot_changed(cg, i, &next[i]);
	rlb_control_publish(ctl, cg->cb, ctl->loop.now_ms);
	/* Workers notice the versions through the generations, also where
	 * state and weight stayed the same (an address replaced in place). */
	atomic_fetch_add_explicit(&be->generation, 1, memory_order_release);
	atomic_fetch_add_explicit(&ctl->cfg->generation, 1, memory_order_release);
}

static void ask(struct rlb_timer *t)
{
	struct ctl_group *cg = rlb_container_of(t, struct ctl_group, next);

	if (cg->ctl->loop.stopping || cg->asking)
		return;
	cg->asking = 1;
	rlb_resolver_query(cg->ctl->resolver, cg->g->host, cg->g->port, RLB_RESOLVE_MAX, answered, cg);
}

int rlb_dns_start(struct rlb_control *ctl)
{
	struct rlb_config *cfg = ctl->cfg;
	size_t n = 0;
	int rc;

	for (size_t b = 0; b < cfg->num_backends; b++)
		n += cfg->backends[b].num_groups;
	if (n == 0)
		return 0;
	if ((ctl->groups = calloc(n, sizeof(*ctl->groups))) == NULL)
		return -ENOMEM;
	if ((rc = rlb_resolver_new(&ctl->loop, cfg->resolvers, &ctl->resolver)) < 0)
		return rc;
	for (size_t b = 0; b < cfg->num_backends; b++)
		for (size_t k = 0; k < cfg->backends[b].num_groups; k++) {
			struct ctl_group *cg = &ctl->groups[ctl->num_groups++];

			*cg = (struct ctl_group){ .ctl = ctl, .cb = &ctl->backends[b], .g = &cfg->backends[b].groups[k] };
			cg->failing = !cg->g->loaded_ok; /* the load said so already: its end is said too */
			rlb_timer_init(&cg->next, ask);
			/* The answer at load is fresh: the first question one period on. */
			rlb_timer_arm(&ctl->loop.timers, &cg->next, cg->g->resolve_every_ms);
		}
	return 0;
}

void rlb_dns_tick(struct rlb_control *ctl)
{
	if (ctl->resolver != NULL)
		rlb_resolver_tick(ctl->resolver);
}

void rlb_dns_free(struct rlb_control *ctl)
{
	struct rlb_resolver *r = ctl->resolver;

	ctl->resolver = NULL; /* answered() ignores what ares_destroy hands back */
	rlb_resolver_free(r);
	for (size_t i = 0; i < ctl->num_groups; i++)
		rlb_timer_cancel(&ctl->groups[i].next);
	free(ctl->groups);
	ctl->groups = NULL;
	ctl->num_groups = 0;
}
