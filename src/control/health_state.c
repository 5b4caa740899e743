/* The rise/fall, ejection and slow-start rules of one server (contract in
 * health_state.h). */
#include "control/health_state.h"

void rlb_health_init(struct rlb_health *h, const struct rlb_health_rules *r, int disabled)
{
	*h = (struct rlb_health){ 0 };
	h->admin = disabled ? RLB_ADMIN_DISABLED : RLB_ADMIN_ENABLED;
	h->fails = r->fall - 1; /* the lowest "up": the first failure marks it down */
	h->was_up = !disabled;
}

int rlb_health_check_result(struct rlb_health *h, const struct rlb_health_rules *r, int pass)
{
	if (pass) {
		h->fails = 0;
		if (h->checked_down && ++h->passes >= r->rise) {
			h->checked_down = 0;
			h->passes = 0;
			return 1;
		}
		return 0;
	}
	h->passes = 0;
	if (!h->checked_down && ++h->fails >= r->fall) {
		h->checked_down = 1;
		h->fails = 0;
		return 1;
	}
	return 0;
}

uint32_t rlb_health_eject(struct rlb_health *h, const struct rlb_health_rules *r, uint64_t now_ms)
{
	uint64_t cap = r->eject_for_ms > RLB_EJECT_MAX_MS ? r->eject_for_ms : RLB_EJECT_MAX_MS;
	uint64_t ms = r->eject_for_ms;

	for (uint32_t i = 0; i < h->ejections && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	h->ejections++;
	h->eject_until_ms = now_ms + ms;
	h->clean_at_ms = h->eject_until_ms + ms;
	return (uint32_t)ms;
}

enum rlb_server_state rlb_health_state(const struct rlb_health *h, uint64_t now_ms)
{
	if (h->unresolved)
		return RLB_SERVER_UNRESOLVED;
	if (h->admin == RLB_ADMIN_DISABLED)
		return RLB_SERVER_DISABLED;
	if (h->admin == RLB_ADMIN_DRAIN)
		return RLB_SERVER_DRAIN;
	if (h->checked_down)
		return RLB_SERVER_DOWN;
	if (now_ms < h->eject_until_ms)
		return RLB_SERVER_EJECTED;
	return RLB_SERVER_UP;
}

uint32_t rlb_health_weight(const struct rlb_health *h, const struct rlb_health_rules *r, uint32_t weight,
			   uint64_t now_ms)
{
	uint64_t full = (uint64_t)weight * RLB_WEIGHT_SCALE, elapsed, step, w;

	if (rlb_health_state(h, now_ms) != RLB_SERVER_UP || weight == 0)
		return 0;
	if (!h->ramping || r->slow_start_ms == 0)
		return (uint32_t)full;
	elapsed = now_ms - h->back_at_ms;
	step = r->slow_start_ms / RLB_SLOW_START_STEPS;
	if (step == 0 || elapsed >= r->slow_start_ms)
		return (uint32_t)full;
	w = full * (elapsed / step + 1) / RLB_SLOW_START_STEPS;
	return w > 0 ? (uint32_t)w : 1;
}

void rlb_health_note(struct rlb_health *h, uint64_t now_ms)
{
	int up = rlb_health_state(h, now_ms) == RLB_SERVER_UP;

	if (up && !h->was_up) {
		h->back_at_ms = now_ms;
		h->ramping = 1;
	}
	h->was_up = (uint8_t)up;
	if (h->ejections && now_ms >= h->clean_at_ms && now_ms >= h->eject_until_ms)
		h->ejections = 0;
}
