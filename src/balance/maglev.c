/* Weighted Maglev table construction; see include/ringlb/maglev.h. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb/balancer_util.h"
#include "ringlb/maglev.h"

/* Fixed seeds: part of the on-the-wire contract that the same names give the
 * same table everywhere. Changing them remaps every key. */
#define SEED_OFFSET UINT64_C(0x6d61676c65763031) /* "maglev01" */
#define SEED_SKIP UINT64_C(0x6d61676c65763032)   /* "maglev02" */

int rlb_maglev_is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return 0;
	for (d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

uint32_t rlb_maglev_default_size(size_t servers)
{
	uint64_t want = (uint64_t)servers * 100;
	uint32_t m;

	if (want <= 65537)
		return 65537;
	for (m = (uint32_t)want; !rlb_maglev_is_prime(m); m++)
		;
	return m;
}

struct perm {
	uint32_t index, offset, skip, next, weight;
};

/* Each up server's permutation: slot(j) = (offset + j * skip) mod M. */
static size_t permutations(const struct rlb_backend *be, uint32_t size, struct perm *p, uint64_t *total)
{
	size_t i, n = 0;

	*total = 0;
	for (i = 0; i < be->num_servers; i++) {
		const struct rlb_server *srv = &be->servers[i];
		size_t len = strlen(srv->name);
		uint32_t weight = rlb_server_weight(srv);

		if (weight == 0 || atomic_load(&srv->state) != RLB_SERVER_UP)
			continue;
		p[n] = (struct perm){
			.index = (uint32_t)i,
			.offset = (uint32_t)(rlb_hash64(srv->name, len, SEED_OFFSET) % size),
			.skip = (uint32_t)(rlb_hash64(srv->name, len, SEED_SKIP) % (size - 1) + 1),
			.weight = weight,
		};
		*total += weight;
		n++;
	}
	return n;
}

/* Takes p's next free slot on its permutation. */
static void take_slot(struct rlb_maglev *t, struct perm *p)
{
	uint32_t slot;

	do {
		slot = (uint32_t)(((uint64_t)p->offset + (uint64_t)p->next * p->skip) % t->size);
		p->next++;
	} while (t->entry[slot] != RLB_MAGLEV_EMPTY);
	t->entry[slot] = p->index;
}

struct rlb_maglev *rlb_maglev_build(const struct rlb_backend *be, uint32_t size)
{
	static atomic_uint_fast64_t generations;
	struct rlb_maglev *t = malloc(sizeof(*t) + (size_t)size * sizeof(uint32_t));
	struct perm *p = malloc((be->num_servers + 1) * sizeof(*p));
	size_t n, i;
	uint32_t filled = 0, turn;

	if (t == NULL || p == NULL) {
		free(t);
		free(p);
		return NULL;
	}
	t->size = size;
	t->generation = atomic_fetch_add(&generations, 1) + 1;
	memset(t->entry, 0xff, (size_t)size * sizeof(uint32_t)); /* RLB_MAGLEV_EMPTY */
	n = permutations(be, size, p, &t->total_weight);
	/* Round after round, each server takes `weight` slots, until all are taken. */
	while (n > 0 && filled < size)
		for (i = 0; i < n && filled < size; i++)
			for (turn = 0; turn < p[i].weight && filled < size; turn++, filled++)
				take_slot(t, &p[i]);
	free(p);
	return t;
}

void rlb_maglev_free(struct rlb_maglev *t)
{
	free(t);
}
