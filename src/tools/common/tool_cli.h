/* What the experiment tools (ringlb-load, ringlb-testserver) share: reading
 * durations, sizes and numbers from the command line, and the clocks.
 * Addresses: rlb_parse_addr (ringlb/addr.h), as the config reads them.
 * Every parser returns 0 or -EINVAL and leaves *out alone on an error. */
#ifndef RINGLB_TOOL_CLI_H
#define RINGLB_TOOL_CLI_H

#include <stdint.h>

/** A duration: a decimal number and a unit, us, ms, s, m or h ("250us",
 * "1.5s"); a bare number is refused (a tool's flags mean different units). */
int tool_parse_duration_us(const char *s, uint64_t *us);

/** A byte count: a whole number, optionally k or m (KiB, MiB): "512", "64k". */
int tool_parse_size(const char *s, uint64_t *bytes);

/** A rate or count: a decimal number >= 0 ("1500", "2.5"). */
int tool_parse_number(const char *s, double *out);

/** CLOCK_MONOTONIC in microseconds. */
uint64_t tool_now_us(void);

/** CLOCK_REALTIME in milliseconds: to line up the tools' logs with each other. */
uint64_t tool_unix_ms(void);

#endif
