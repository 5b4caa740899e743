/* Latency distributions: parsing a SPEC and sampling (latency_dist.h). */
#include "tools/testserver/latency_dist.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "tools/common/tool_cli.h"
#include "tools/testserver/rng.h"

#define SPEC_ARGS_MAX 3

/* Each kind's arguments, in order: D a duration (into a_us, then b_us),
 * N a plain number (into param). */
static const struct {
	const char *name;
	enum latency_kind kind;
	const char *args;
} kinds[] = {
	{ "fixed", LATENCY_FIXED, "D" },
	{ "uniform", LATENCY_UNIFORM, "DD" },
	{ "exp", LATENCY_EXP, "D" },
	{ "lognormal", LATENCY_LOGNORMAL, "DN" },
	{ "bimodal", LATENCY_BIMODAL, "DDN" },
};

/* A zero latency needs no unit: "fixed:0" reads as it means. */
static int parse_duration(const char *s, uint64_t *us)
{
	if (strcmp(s, "0") == 0) {
		*us = 0;
		return 0;
	}
	return tool_parse_duration_us(s, us);
}

static int parse_arg(char type, const char *s, struct latency_dist *d, int *ndur)
{
	if (type == 'N')
		return tool_parse_number(s, &d->param);
	return parse_duration(s, (*ndur)++ ? &d->b_us : &d->a_us);
}

/* Parses the comma-separated args (a copy: it is cut in place) by pattern. */
static int parse_args(char *args, const char *pattern, struct latency_dist *d)
{
	int ndur = 0;
	char *save = NULL, *tok = strtok_r(args, ",", &save);

	for (const char *p = pattern; *p; p++, tok = strtok_r(NULL, ",", &save)) {
		if (!tok || parse_arg(*p, tok, d, &ndur) < 0)
			return -EINVAL;
	}
	return tok ? -EINVAL : 0;
}

static int check(const struct latency_dist *d)
{
	if (d->a_us > LATENCY_MAX_US || d->b_us > LATENCY_MAX_US)
		return -EINVAL;
	switch (d->kind) {
	case LATENCY_UNIFORM:
		return d->a_us <= d->b_us ? 0 : -EINVAL;
	case LATENCY_LOGNORMAL:
		return d->param <= 10 ? 0 : -EINVAL; /* e^(10 sigma) is no longer a latency */
	case LATENCY_BIMODAL:
		return d->param <= 1 ? 0 : -EINVAL;
	default:
		return 0;
	}
}

int latency_dist_parse(const char *spec, struct latency_dist *out)
{
	const char *colon = strchr(spec, ':');
	struct latency_dist d = { 0 };
	char args[128];

	if (!colon || strlen(colon + 1) >= sizeof(args) || strstr(colon + 1, ",,") ||
	    colon[1] == ',' || (colon[1] && colon[strlen(colon) - 1] == ','))
		return -EINVAL; /* strtok would skip an empty argument */
	strcpy(args, colon + 1);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strlen(kinds[i].name) != (size_t)(colon - spec) ||
		    strncmp(spec, kinds[i].name, (size_t)(colon - spec)) != 0)
			continue;
		d.kind = kinds[i].kind;
		if (parse_args(args, kinds[i].args, &d) < 0 || check(&d) < 0)
			return -EINVAL;
		*out = d;
		return 0;
	}
	return -EINVAL;
}

/* A standard normal deviate (Box-Muller; the second deviate is dropped so a
 * sample is a pure function of the state). 1 - u keeps log() away from 0. */
static double standard_normal(uint64_t *rng)
{
	double u1 = 1.0 - rng_unit(rng), u2 = rng_unit(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double sample_real_us(const struct latency_dist *d, uint64_t *rng)
{
	double a = (double)d->a_us, b = (double)d->b_us;

	switch (d->kind) {
	case LATENCY_UNIFORM:
		return a + (b - a) * rng_unit(rng);
	case LATENCY_EXP:
		return -a * log(1.0 - rng_unit(rng));
	case LATENCY_LOGNORMAL:
		return a * exp(d->param * standard_normal(rng));
	case LATENCY_BIMODAL:
		return rng_unit(rng) < d->param ? b : a;
	default:
		return a;
	}
}

uint64_t latency_dist_sample_us(const struct latency_dist *d, uint64_t *rng_state)
{
	double us = sample_real_us(d, rng_state);

	/* Checked before the cast: a double out of uint64_t's range is UB there. */
	if (!(us < (double)LATENCY_MAX_US))
		return LATENCY_MAX_US;
	return (uint64_t)llround(us);
}
