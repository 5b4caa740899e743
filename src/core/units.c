/* Numbers with a unit suffix (ringlb/units.h). */
#include "ringlb/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rlb_parse_scaled(const char *s, const struct rlb_unit *units, size_t nunits, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	for (size_t i = 0; i < nunits; i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > max / units[i].scale)
				return -EINVAL;
			*out = v * units[i].scale;
			return 0;
		}
	return -EINVAL;
}
