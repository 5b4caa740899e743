/* Logging to stderr, one line per event, with a UTC timestamp and, below
 * info, the level: "... ringlb: warning: backend app server s1: ...". */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/loop.h"

static const char *const level_names[] = {
	[RLB_LOG_ERROR] = "error", [RLB_LOG_WARNING] = "warning", [RLB_LOG_INFO] = "info", [RLB_LOG_DEBUG] = "debug",
};

/* Set by main (at start and on a reload), read by every thread. */
static atomic_int threshold = RLB_LOG_INFO;

void rlb_log_set_level(enum rlb_log_level level)
{
	atomic_store_explicit(&threshold, (int)level, memory_order_relaxed);
}

int rlb_log_level_parse(const char *name)
{
	for (int i = 0; i <= RLB_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

static void log_v(enum rlb_log_level level, const char *fmt, va_list ap)
{
	char line[512], stamp[32];
	struct timespec ts;
	struct tm tm;

	if ((int)level > atomic_load_explicit(&threshold, memory_order_relaxed))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s.%03ldZ ringlb: %s%s%s\n", stamp, ts.tv_nsec / 1000000,
		level == RLB_LOG_INFO ? "" : level_names[level], level == RLB_LOG_INFO ? "" : ": ", line);
}

#define LOG_AT(level)                   \
	do {                            \
		va_list ap;             \
		va_start(ap, fmt);      \
		log_v(level, fmt, ap);  \
		va_end(ap);             \
	} while (0)

void rlb_log(const char *fmt, ...) { LOG_AT(RLB_LOG_INFO); }
void rlb_warn(const char *fmt, ...) { LOG_AT(RLB_LOG_WARNING); }
void rlb_error(const char *fmt, ...) { LOG_AT(RLB_LOG_ERROR); }
void rlb_debug(const char *fmt, ...) { LOG_AT(RLB_LOG_DEBUG); }
