/* The knee search (contract in knee.h). */
#include "tools/load/knee.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/tool_cli.h"
#include "tools/load/client.h"
#include "tools/load/report.h"

static const struct {
	const char *name;
	double quantile;
} slo_quantiles[] = { { "p50", 0.5 }, { "p90", 0.9 }, { "p95", 0.95 }, { "p99", 0.99 }, { "p999", 0.999 } };

int load_slo_parse(const char *s, struct load_slo *slo)
{
	const char *eq = strchr(s, '=');

	if (!eq)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(slo_quantiles) / sizeof(slo_quantiles[0]); i++) {
		if (strlen(slo_quantiles[i].name) != (size_t)(eq - s) || strncmp(s, slo_quantiles[i].name, (size_t)(eq - s)))
			continue;
		if (tool_parse_duration_us(eq + 1, &slo->limit_us) < 0 || slo->limit_us == 0)
			return -EINVAL;
		slo->quantile = slo_quantiles[i].quantile;
		snprintf(slo->text, sizeof(slo->text), "%s<=%.20s", slo_quantiles[i].name, eq + 1);
		return 0;
	}
	return -EINVAL;
}

int load_knee_init(struct load_knee *k, const struct load_slo *slo, double start_rate, uint64_t step_us,
		   double max_error_rate)
{
	memset(k, 0, sizeof(*k));
	k->steps = calloc(LOAD_KNEE_STEPS_MAX, sizeof(*k->steps));
	if (!k->steps)
		return -ENOMEM;
	k->slo = *slo;
	k->start_rate = start_rate;
	k->step_us = step_us;
	k->max_error_rate = max_error_rate;
	return 0;
}

void load_knee_free(struct load_knee *k)
{
	free(k->steps);
	k->steps = NULL;
}

double load_knee_next(struct load_knee *k, double rate, int held)
{
	if (held && rate > k->good)
		k->good = rate;
	if (!held && (k->bad == 0 || rate < k->bad))
		k->bad = rate;
	if (k->n_steps >= LOAD_KNEE_STEPS_MAX)
		return 0;
	if (k->bad == 0)
		return rate * LOAD_KNEE_GROWTH;
	if (k->bisections == LOAD_KNEE_BISECTIONS)
		return 0;
	k->bisections++;
	return (k->good + k->bad) / 2;
}

const struct load_knee_step *load_knee_best(const struct load_knee *k)
{
	for (unsigned i = 0; i < k->n_steps; i++)
		if (k->steps[i].held && k->steps[i].rate == k->good)
			return &k->steps[i];
	return NULL;
}

static void judge_step(const struct load_knee *k, struct load_knee_step *s)
{
	s->error_rate = load_tally_error_rate(&s->tally);
	s->slo_value_us = load_tally_quantile(&s->tally, k->slo.quantile);
	s->held = s->tally.requests > 0 && s->slo_value_us <= k->slo.limit_us && s->error_rate <= k->max_error_rate;
}

static void add_stats(struct load_dispatch_stats *total, const struct load_dispatch_stats *s)
{
	total->scheduled += s->scheduled;
	total->late_cpu += s->late_cpu;
	total->waited_limit += s->waited_limit;
	total->cut_off += s->cut_off;
}

/* One step: the rate for step_us (after the warmup, the first time). */
static int run_step(struct load_knee *k, struct load_client *c, struct load_recorder *rec, double rate,
		    uint64_t warmup_us)
{
	struct load_knee_step *s = &k->steps[k->n_steps++];
	struct load_phase phase = { .schedule = &k->schedule, .warmup_us = warmup_us, .duration_us = k->step_us };
	int ret;

	s->rate = rate;
	load_tally_init(&s->tally);
	load_schedule_constant(&k->schedule, rate, warmup_us + k->step_us);
	phase.start_us = k->n_steps == 1 ? rec->start_us : tool_now_us();
	rec->step = &s->tally;
	ret = load_client_run(c, &phase);
	rec->step = NULL;
	s->stats = phase.stats;
	judge_step(k, s);
	return ret;
}

int load_knee_run(struct load_knee *k, struct load_client *c, struct load_recorder *rec, uint64_t warmup_us,
		  struct load_dispatch_stats *total, double *measured_s)
{
	double rate = k->start_rate;
	int ret = 0;

	memset(total, 0, sizeof(*total));
	*measured_s = 0;
	rec->measure_start_us = rec->start_us + warmup_us;
	while (rate > 0 && !load_interrupts) {
		ret = run_step(k, c, rec, rate, k->n_steps ? 0 : warmup_us);
		add_stats(total, &k->steps[k->n_steps - 1].stats);
		*measured_s += load_measured_s(&k->steps[k->n_steps - 1].stats);
		if (ret < 0 || load_interrupts) {
			k->n_steps--; /* a step cut short judges nothing (its requests stay in the summary) */
			break;
		}
		rate = load_knee_next(k, rate, k->steps[k->n_steps - 1].held);
	}
	return ret;
}
