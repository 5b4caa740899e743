/* Input placed right before a PROT_NONE page, so any read past the end of the
 * buffer crashes the test (picohttpparser's test trick). */
#ifndef RLB_TEST_GUARD_H
#define RLB_TEST_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
	char *map;
	size_t map_len;
	char *data;
};

static inline struct guarded guard_copy(const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page + 1;
	struct guarded g;

	g.map_len = pages * page;
	g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.map == MAP_FAILED)
		abort();
	mprotect(g.map + (pages - 1) * page, page, PROT_NONE);
	g.data = g.map + (pages - 1) * page - len;
	memcpy(g.data, src, len);
	return g;
}

static inline void guard_free(struct guarded *g)
{
	munmap(g->map, g->map_len);
}

#endif
