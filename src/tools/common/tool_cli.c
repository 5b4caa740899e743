/* Command-line values and clocks for the experiment tools (tool_cli.h). */
#include "tools/common/tool_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringlb/units.h"

static const struct {
	const char *unit;
	double us;
} duration_units[] = { { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "m", 60e6 }, { "h", 3600e6 } };

/* A decimal number at the start of s (no sign, no leading dot), *end after it. */
static int leading_number(const char *s, double *v, char **end)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtod(s, end);
	return errno || !isfinite(*v) ? -EINVAL : 0;
}

int tool_parse_duration_us(const char *s, uint64_t *us)
{
	char *end;
	double v;

	if (leading_number(s, &v, &end) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(end, duration_units[i].unit) == 0) {
			double r = v * duration_units[i].us;

			if (r > 1e15) /* about 30 years: a typo, not a plan */
				return -EINVAL;
			*us = (uint64_t)llround(r);
			return 0;
		}
	}
	return -EINVAL;
}

int tool_parse_size(const char *s, uint64_t *bytes)
{
	static const struct rlb_unit units[] = {
		{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "m", 1024 * 1024 }, { "M", 1024 * 1024 },
	};

	return rlb_parse_scaled(s, units, sizeof(units) / sizeof(units[0]), 1ull << 40, bytes);
}

int tool_parse_number(const char *s, double *out)
{
	char *end;
	double v;

	if (leading_number(s, &v, &end) < 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tool_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

uint64_t tool_unix_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000u;
}
