/* The control plane (Envoy's main thread): one thread with its own io_uring
 * loop (loop.h, the same loop the workers run, with its own hooks), never on
 * the forwarding path. It owns every server's health (health_state.h), runs
 * the active checks (health_check.c, one per server for the whole process),
 * ejects servers that fail in a row, serves the admin listener (admin.c), and
 * publishes what workers must see through the servers' atomics (rules in
 * ringlb/server.h). Everything here runs on the control thread, except
 * rlb_control_start/stop/free, which main() calls. */
#ifndef RINGLB_CONTROL_H
#define RINGLB_CONTROL_H

#include "control/health_state.h"
#include "core/loop.h"
#include "metrics/stats.h"
#include "metrics/window.h"
#include "ringlb/balancer.h"
#include "ringlb/http_parser.h"

struct health_check;
struct rlb_resolver;

/* A server's counters at one second, for windows of counts. */
struct ctl_counts {
	uint64_t requests[RLB_CLASSES], errors[RLB_ERR_KINDS], retries, bytes_in, bytes_out;
};

/* One server as the control thread keeps it. */
struct ctl_server {
	struct rlb_server *srv;
	struct rlb_health h;
	uint32_t admin_weight;        /* 0..256: the config's, then the operator's */
	enum rlb_server_state shown;  /* the state last published and logged */
	uint8_t cap_logged;           /* "max_ejected keeps it in" is logged for this episode */
	struct health_check *hc;      /* NULL: no active checks */
	char reason[160];             /* why the next state change happens, for its log line */
	char last_check[96];          /* "pass: status 200", for GET /backends */
	uint64_t checks_passed, checks_failed;
	/* The last 60 s, a second at a time (ticked by the control thread):
	 * latency windows (connect, response, total) and counter snapshots. */
	struct rlb_window win[3];
	struct ctl_counts counts[RLB_WINDOW_SECONDS + 1];
	uint32_t counts_newest, counts_kept;
};

struct ctl_backend {
	struct rlb_backend *be;
	struct rlb_health_rules rules;
	struct ctl_server *servers;   /* [be->num_servers] */
	uint8_t has_backup;
	uint8_t primary_up;           /* a non-backup server was up at the last publish */
};

/* A DNS name re-resolved while running (ringlb/server.h's group). */
struct ctl_group {
	struct rlb_control *ctl;
	struct ctl_backend *cb;
	struct rlb_server_group *g;
	struct rlb_timer next;        /* the next question */
	uint8_t asking;               /* a question is out */
	uint8_t failing;              /* an episode of failed answers is logged */
	uint8_t over_logged;          /* more addresses than slots is logged */
	uint8_t nx_emptied;           /* hold_nx ran out: the slots were emptied (said once) */
	uint64_t nx_since_ms;         /* the name has not been found since (0: it was, last time) */
};

struct rlb_control {
	struct worker loop;           /* the control thread's io_uring loop */
	struct rlb_resolver *resolver; /* NULL: no group to re-resolve */
	struct ctl_group *groups;
	size_t num_groups;
	struct rlb_config *cfg;
	uint64_t started_ms;          /* for the uptime metric */
	uint64_t next_tick_ms;        /* the windows' next second */
	struct rlb_server_totals *scratch; /* one server's sums, reused */
	struct rlb_hist_snapshot *hscratch; /* one window's sum, reused */
	struct ctl_backend *backends; /* [cfg->num_backends] */
	struct rlb_http_msg msg;      /* scratch for a head being parsed */
	uint64_t rng;
};

/** Builds the control state from cfg and publishes every server's first
 * state and weight, before any worker starts (main thread). On a reload,
 * prev is the previous configuration's control, whose thread has ended:
 * servers of the same name keep their health, admin state and windows
 * (rules in control.c, carry_server; the windows move out of prev).
 * Returns 0 or a negative errno. */
int rlb_control_init(struct rlb_control *ctl, struct rlb_config *cfg, struct rlb_control *prev);
/** Whether the config gives the control thread anything to do: an admin
 * listener, health checks, or passive ejection. Without, no thread starts. */
int rlb_control_needed(const struct rlb_config *cfg);
/** Starts the control thread (the admin listener on admin_fds, borrowed
 * from the listen pool, nadmin of them, 0: none; checks). 0 or a negative
 * errno, logged. */
int rlb_control_start(struct rlb_control *ctl, const int *admin_fds, size_t nadmin);
/** SIGTERM or a reload: no check starts after this; the thread ends. Main thread. */
void rlb_control_stop(struct rlb_control *ctl);
/** Starts a stopped control thread again on the same state (a reload that
 * failed after stopping it). Main thread. */
int rlb_control_restart(struct rlb_control *ctl, const int *admin_fds, size_t nadmin);
/** After the thread ended (or never started). Main thread. */
void rlb_control_free(struct rlb_control *ctl);

/** Recomputes and publishes the state and weight of every server of cb at
 * now_ms: logs each change with its reason, bumps the generations. */
void rlb_control_publish(struct rlb_control *ctl, struct ctl_backend *cb, uint64_t now_ms);
/** The backend or server by name, or NULL. */
struct ctl_backend *rlb_control_backend(struct rlb_control *ctl, const char *name, size_t len);
struct ctl_server *rlb_control_server(struct ctl_backend *cb, const char *name, size_t len);
/** The operator's actions (admin listener): applied and published at once. */
void rlb_control_set_admin(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs,
			   enum rlb_admin_state admin);
void rlb_control_set_weight(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs,
			    uint32_t weight);
/** An active check of cs ended: pass or not, why ("status 503",
 * "timeout after 1000 ms", "connection refused"). */
void rlb_control_check_result(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs, int pass,
			      const char *why);
const char *rlb_server_state_name(enum rlb_server_state st);

/* health_check.c */
/** Creates cs's check and schedules its first run within one interval
 * (spread, so checks of many servers do not fire together). */
int rlb_health_check_create(struct rlb_control *ctl, struct ctl_backend *cb, struct ctl_server *cs);
void rlb_health_check_free(struct health_check *hc);

/* dns.c */
/** Gives addrs (sorted) to `slots` slots whose addresses are cur (family 0:
 * none), into next: an address a slot has keeps it, a new one takes the
 * lowest empty slot, the slot of one gone empties; addresses past the
 * slots are left out. Returns how many slots changed. Pure. */
size_t rlb_dns_assign(const struct sockaddr_storage *cur, size_t slots, const struct sockaddr_storage *addrs,
		      size_t n, struct sockaddr_storage *next);
/** At init (main thread, no worker yet): every group slot of cb takes its
 * address: from the config's answer at load, laid over prev's slots of
 * the same group on a reload, so an address keeps its slot (and its keys). */
void rlb_dns_init_slots(struct ctl_backend *cb, struct rlb_control *prev);
/** The resolver and a timer per group (main thread, before the loop runs). */
int rlb_dns_start(struct rlb_control *ctl);
/** Every loop turn: the resolver's timeouts. */
void rlb_dns_tick(struct rlb_control *ctl);
/** After the loop ended: answers still out are dropped. */
void rlb_dns_free(struct rlb_control *ctl);
/** health_check.c: cs's address changed (or went): the check's connection
 * and request are for the old one. */
void rlb_health_check_address_changed(struct health_check *hc);

/* metrics_export.c: what the admin listener serves, from every worker's
 * statistics slices summed now. Append to out; 0 or -ENOMEM. */
int rlb_export_prometheus(struct rlb_control *ctl, struct rlb_buf *out);
int rlb_export_stats_json(struct rlb_control *ctl, struct rlb_buf *out);
/** Once a second: every server's windows take their newest second. */
void rlb_control_tick_windows(struct rlb_control *ctl);
/** The counters of cs over its last `seconds` (at most those kept). */
void rlb_control_window_counts(const struct ctl_server *cs, uint32_t seconds, struct ctl_counts *out);
/** Appends s as a JSON string (quoted, escaped). */
void rlb_json_string(struct rlb_buf *b, const char *s);

/* The dashboard page (src/control/dashboard.html, built into the binary). */
extern const unsigned char rlb_dashboard_html[];
extern const unsigned rlb_dashboard_html_len;

/* admin.c */
#define RLB_ADMIN_CONNS_MAX 64 /* admin connections at once; accepting pauses there */
/** Accepts an admin connection (the control loop's accept hook). */
void rlb_admin_accept(struct listener *l, int fd);

#endif
