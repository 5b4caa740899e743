/* The open-loop timeline (contract in schedule.h). */
#include "tools/load/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tools/common/tool_cli.h"

static int stage_parse(const char *tok, size_t len, struct load_stage *st)
{
	char buf[64];
	char *colon;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (tool_parse_duration_us(buf, &st->duration_us) < 0 || tool_parse_number(colon + 1, &st->target_rate) < 0 ||
	    st->target_rate > LOAD_RATE_MAX)
		return -EINVAL;
	return 0;
}

int load_stages_parse(const char *text, struct load_stage *out, unsigned *n, char *err, size_t err_bytes)
{
	const char *p = text;

	*n = 0;
	for (;;) {
		size_t len = strcspn(p, ",");

		if (*n == LOAD_STAGES_MAX) {
			snprintf(err, err_bytes, "more than %d stages", LOAD_STAGES_MAX);
			return -EINVAL;
		}
		if (stage_parse(p, len, &out[*n]) < 0) {
			snprintf(err, err_bytes, "bad stage '%.*s' (want DURATION:RATE, e.g. 30s:1000)", (int)len, p);
			return -EINVAL;
		}
		(*n)++;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* Requests due within a stage: the integral of its linear ramp. */
static double stage_requests(double from, const struct load_stage *st)
{
	if (st->duration_us == LOAD_FOREVER_US)
		return from > 0 ? INFINITY : 0;
	return (from + st->target_rate) / 2 * ((double)st->duration_us / 1e6);
}

int load_schedule_init(struct load_schedule *s, double start_rate, const struct load_stage *st, unsigned n)
{
	double rate = start_rate;
	uint64_t t_us = 0;

	if (n == 0 || n > LOAD_STAGES_MAX || !(start_rate >= 0))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->n_stages = n;
	for (unsigned k = 0; k < n; k++) {
		if (st[k].duration_us == LOAD_FOREVER_US && (k != n - 1 || st[k].target_rate != rate))
			return -EINVAL;
		s->stages[k] = st[k];
		s->start_us[k] = t_us;
		s->from_rate[k] = rate;
		s->first[k + 1] = s->first[k] + stage_requests(rate, &st[k]);
		t_us = st[k].duration_us == LOAD_FOREVER_US ? LOAD_FOREVER_US : t_us + st[k].duration_us;
		rate = st[k].target_rate;
	}
	return 0;
}

int load_schedule_constant(struct load_schedule *s, double rate, uint64_t duration_us)
{
	struct load_stage st = { .duration_us = duration_us, .target_rate = rate };

	return load_schedule_init(s, rate, &st, 1);
}

/* Seconds into stage k at which x requests of it have become due: the root
 * of (a/2) t^2 + r0 t - x = 0, a = slope, written 2x / (r0 + sqrt(r0^2 + 2ax))
 * so that neither a flat stage (a = 0) nor a ramp from 0 (r0 = 0) divides
 * by zero or loses digits. */
static double stage_offset_s(const struct load_schedule *s, unsigned k, double x)
{
	const struct load_stage *st = &s->stages[k];
	double r0 = s->from_rate[k], a = 0, d;

	if (x <= 0)
		return 0;
	if (st->duration_us != LOAD_FOREVER_US)
		a = (st->target_rate - r0) / ((double)st->duration_us / 1e6);
	d = r0 * r0 + 2 * a * x;
	return 2 * x / (r0 + sqrt(d > 0 ? d : 0));
}

/* The stage holding request i, searching forward from hint. */
static int stage_of_index(const struct load_schedule *s, uint64_t i, unsigned hint, unsigned *k)
{
	double x = (double)i;

	if (hint >= s->n_stages || s->first[hint] > x)
		hint = 0;
	for (unsigned j = hint; j < s->n_stages; j++) {
		if (x < s->first[j + 1]) {
			*k = j;
			return 0;
		}
	}
	return -ERANGE;
}

static uint64_t time_in_stage(const struct load_schedule *s, unsigned k, uint64_t i)
{
	return s->start_us[k] + (uint64_t)llround(stage_offset_s(s, k, (double)i - s->first[k]) * 1e6);
}

int load_schedule_time_us(const struct load_schedule *s, uint64_t i, uint64_t *t_us)
{
	unsigned k;

	if (stage_of_index(s, i, 0, &k) < 0)
		return -ERANGE;
	*t_us = time_in_stage(s, k, i);
	return 0;
}

int load_schedule_next(struct load_schedule *s, uint64_t *t_us)
{
	if (stage_of_index(s, s->next_index, s->cur, &s->cur) < 0)
		return 0;
	*t_us = time_in_stage(s, s->cur, s->next_index);
	s->next_index++;
	return 1;
}

double load_schedule_rate_at(const struct load_schedule *s, uint64_t t_us)
{
	for (unsigned k = 0; k < s->n_stages; k++) {
		const struct load_stage *st = &s->stages[k];
		uint64_t in_us = t_us - s->start_us[k];

		if (t_us < s->start_us[k])
			break;
		if (st->duration_us == LOAD_FOREVER_US)
			return st->target_rate;
		if (in_us < st->duration_us)
			return s->from_rate[k] + (st->target_rate - s->from_rate[k]) * (double)in_us / (double)st->duration_us;
	}
	return 0;
}

uint64_t load_schedule_total_us(const struct load_schedule *s)
{
	const struct load_stage *last = &s->stages[s->n_stages - 1];

	if (last->duration_us == LOAD_FOREVER_US)
		return LOAD_FOREVER_US;
	return s->start_us[s->n_stages - 1] + last->duration_us;
}

uint64_t load_schedule_count(const struct load_schedule *s)
{
	double all = s->first[s->n_stages];

	return isinf(all) ? UINT64_MAX : (uint64_t)ceil(all);
}
