/* Whole numbers with a unit suffix, from text: the config's durations
 * ("250ms", "2s") and the tools' sizes ("64k"). */
#ifndef RINGLB_UNITS_H
#define RINGLB_UNITS_H

#include <stddef.h>
#include <stdint.h>

struct rlb_unit {
	const char *suffix; /* "" for a bare number, where that is allowed */
	uint64_t scale;     /* what one of it is worth */
};

/** Parses digits followed by exactly one of units' suffixes (no sign, no
 * blank) into *out, the number times that unit's scale. Returns 0, or
 * -EINVAL for anything else or a value above max. */
int rlb_parse_scaled(const char *s, const struct rlb_unit *units, size_t nunits, uint64_t max, uint64_t *out);

#endif
