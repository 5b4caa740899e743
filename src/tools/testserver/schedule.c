/* Parsing the --schedule of timed events (schedule.h). */
#include "tools/testserver/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/tool_cli.h"

/* An event's argument after '=': what it must look like, for the message. */
enum arg_kind { ARG_NONE, ARG_FACTOR, ARG_DURATION, ARG_RATE };

static const struct {
	const char *name;
	enum sched_kind kind;
	enum arg_kind arg;
} event_names[] = {
	{ "slow", SCHED_SLOW, ARG_FACTOR },     { "normal", SCHED_NORMAL, ARG_NONE },
	{ "stall", SCHED_STALL, ARG_DURATION }, { "sick", SCHED_SICK, ARG_NONE },
	{ "well", SCHED_WELL, ARG_NONE },       { "die", SCHED_DIE, ARG_NONE },
	{ "live", SCHED_LIVE, ARG_NONE },       { "errors", SCHED_ERRORS, ARG_RATE },
};

static const char *const arg_wanted[] = {
	[ARG_NONE] = "no '=' value",
	[ARG_FACTOR] = "a factor like 10x or 2.5x",
	[ARG_DURATION] = "a duration with a unit like 2s",
	[ARG_RATE] = "a rate from 0 to 1",
};

/* "10x" or "2.5x": a positive factor. */
static int parse_factor(const char *s, double *factor)
{
	char num[32];
	size_t n = strlen(s);

	if (n < 2 || n >= sizeof(num) || s[n - 1] != 'x')
		return -EINVAL;
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	if (tool_parse_number(num, factor) < 0 || *factor <= 0)
		return -EINVAL;
	return 0;
}

static int parse_arg(enum arg_kind kind, const char *s, struct sched_event *ev)
{
	switch (kind) {
	case ARG_FACTOR:
		return s ? parse_factor(s, &ev->value) : -EINVAL;
	case ARG_DURATION:
		return s ? tool_parse_duration_us(s, &ev->duration_us) : -EINVAL;
	case ARG_RATE:
		if (!s || tool_parse_number(s, &ev->value) < 0 || ev->value > 1)
			return -EINVAL;
		return 0;
	default:
		return s ? -EINVAL : 0;
	}
}

/* "slow=10x" (cut at '=' in place) into ev; on error, says why in err. */
static int parse_event(char *text, struct sched_event *ev, char *err, size_t err_len)
{
	char *eq = strchr(text, '=');

	if (eq)
		*eq++ = '\0';
	for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
		if (strcmp(text, event_names[i].name) != 0)
			continue;
		ev->kind = event_names[i].kind;
		if (parse_arg(event_names[i].arg, eq, ev) == 0)
			return 0;
		snprintf(err, err_len, "%s takes %s", text, arg_wanted[event_names[i].arg]);
		return -EINVAL;
	}
	snprintf(err, err_len, "unknown event '%s' (slow=Fx normal stall=D sick well die live errors=F)", text);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One TIME:EVENT item (cut in place). why gets the reason on an error. */
static int parse_item(char *item, uint64_t prev_us, struct sched_event *ev, char *why, size_t why_len)
{
	char *colon = strchr(item, ':'), *event;

	if (!colon) {
		snprintf(why, why_len, "want TIME:EVENT");
		return -EINVAL;
	}
	*colon = '\0';
	item = trim(item);
	event = trim(colon + 1);
	if (tool_parse_duration_us(item, &ev->at_us) < 0) {
		snprintf(why, why_len, "bad time '%s' (a duration with a unit, like 10s)", item);
		return -EINVAL;
	}
	if (ev->at_us < prev_us) {
		snprintf(why, why_len, "times must not go backwards");
		return -EINVAL;
	}
	if (strlen(event) >= sizeof(ev->text)) {
		snprintf(why, why_len, "event too long");
		return -EINVAL;
	}
	strcpy(ev->text, event);
	return parse_event(event, ev, why, why_len);
}

static size_t count_items(const char *text)
{
	size_t n = 1;

	for (; *text; text++)
		n += *text == ',';
	return n;
}

/* Splits the copy at commas; each item is parsed into out->events[out->n++]. */
static int parse_items(char *copy, struct schedule *out, char *err, size_t err_len)
{
	char *next = copy, why[160];

	while (next) {
		char *item = next, *comma = strchr(next, ',');
		char shown[64];
		uint64_t prev_us = out->n ? out->events[out->n - 1].at_us : 0;

		next = comma ? comma + 1 : NULL;
		if (comma)
			*comma = '\0';
		item = trim(item);
		snprintf(shown, sizeof(shown), "%s", item);
		if (*item == '\0')
			snprintf(why, sizeof(why), "empty item");
		else if (parse_item(item, prev_us, &out->events[out->n], why, sizeof(why)) == 0) {
			out->n++;
			continue;
		}
		snprintf(err, err_len, "bad item '%s': %s", shown, why);
		return -EINVAL;
	}
	return 0;
}

int schedule_parse(const char *text, struct schedule *out, char *err, size_t err_len)
{
	char *copy = strdup(text);
	int ret = -ENOMEM;

	out->n = 0;
	out->events = calloc(count_items(text), sizeof(*out->events));
	if (!copy || !out->events) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	/* An empty schedule is no schedule: scripts may pass "" for none. */
	ret = *trim(copy) ? parse_items(copy, out, err, err_len) : 0;
out:
	free(copy);
	if (ret < 0)
		schedule_free(out);
	return ret;
}

void schedule_free(struct schedule *s)
{
	free(s->events);
	s->events = NULL;
	s->n = 0;
}
