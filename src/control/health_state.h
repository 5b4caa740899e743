/* One server's health as the control thread sees it: the active checks'
 * verdict (rise/fall), passive ejection with exponential backoff, the
 * operator's drain/disable, and slow start. Pure: no I/O, no clock of its
 * own (every call takes now_ms), so the unit tests drive it with a virtual
 * clock. Control thread only; workers see the result through the server's
 * published state and weight (ringlb/server.h). */
#ifndef RINGLB_HEALTH_STATE_H
#define RINGLB_HEALTH_STATE_H

#include <stdint.h>

#include "ringlb/server.h"

/* The most an ejection lasts, however often it repeats (Envoy's
 * max_ejection_time); a longer eject_for is used as it is. */
#define RLB_EJECT_MAX_MS 300000u
/* Slow start ramps the weight in this many steps (each a republish). */
#define RLB_SLOW_START_STEPS 10u

enum rlb_admin_state {
	RLB_ADMIN_ENABLED = 0,
	RLB_ADMIN_DRAIN,    /* finishes what it has, takes nothing new */
	RLB_ADMIN_DISABLED, /* takes nothing new (nginx's "down") */
};

/* The backend's rules, from the config. */
struct rlb_health_rules {
	uint32_t rise, fall;    /* consecutive check passes to mark up, failures to mark down */
	uint32_t eject_after;   /* consecutive passive failures that eject; 0: never */
	uint32_t eject_for_ms;  /* the first ejection; doubles on each repeat */
	uint32_t slow_start_ms; /* 0: a server that comes back takes its full weight at once */
};

struct rlb_health {
	uint8_t unresolved;   /* a DNS slot without an address (ringlb/server.h) */
	uint8_t checked_down; /* the active checks say down */
	uint8_t admin;        /* enum rlb_admin_state */
	uint32_t passes;      /* consecutive passes while down */
	uint32_t fails;       /* consecutive failures while up */
	uint32_t ejections;   /* ejections in a row without a clean period: the backoff level */
	uint64_t eject_until_ms;
	uint64_t clean_at_ms; /* the backoff level resets if no ejection comes before this */
	uint64_t back_at_ms;  /* when the server last came back: slow start runs from here */
	uint8_t ramping;      /* came back (not at start) and slow start may not be over */
	uint8_t was_up;       /* rlb_health_state() was UP at the last rlb_health_note() */
};

/** Starts h as the process starts a server: up, but one failed check away
 * from down (HAProxy's start at the lowest "up" health), so a server that is
 * dead at start leaves at its first check rather than after `fall`. A server
 * with `disabled` in the config starts disabled. */
void rlb_health_init(struct rlb_health *h, const struct rlb_health_rules *r, int disabled);

/** One active check's result. Returns 1 when the verdict flipped (up to
 * down or down to up), else 0. */
int rlb_health_check_result(struct rlb_health *h, const struct rlb_health_rules *r, int pass);

/** Ejects the server at now_ms. Returns how long it stays out:
 * eject_for x 2^(ejections in a row), at most max(RLB_EJECT_MAX_MS,
 * eject_for). The level resets after a clean period as long as the
 * ejection itself. */
uint32_t rlb_health_eject(struct rlb_health *h, const struct rlb_health_rules *r, uint64_t now_ms);

/** The state workers should see at now_ms. Precedence: unresolved,
 * disabled, drain, down, ejected, up. */
enum rlb_server_state rlb_health_state(const struct rlb_health *h, uint64_t now_ms);

/** The weight workers should use at now_ms for a server whose operator
 * weight is weight (0..256): 0 unless the state is UP, and during slow start
 * a share of weight x RLB_WEIGHT_SCALE that grows in RLB_SLOW_START_STEPS
 * steps (at least 1 while the operator weight is not 0). */
uint32_t rlb_health_weight(const struct rlb_health *h, const struct rlb_health_rules *r, uint32_t weight,
			   uint64_t now_ms);

/** Records the state at now_ms, for slow start (a server coming back) and
 * the backoff reset; call after every change and on every control tick. */
void rlb_health_note(struct rlb_health *h, uint64_t now_ms);

#endif
