/* Logging to stderr, one line per event, with a UTC timestamp. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/loop.h"

void rlb_log(const char *fmt, ...)
{
	char line[512], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ldZ ringlb: %s\n", stamp, ts.tv_nsec / 1000000, line);
}
