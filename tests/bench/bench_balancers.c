/* Nanoseconds per pick for every built-in balancer at 10, 100 and 1000
 * servers, and the Maglev table rebuild at 1000 servers. A benchmark, not a
 * test: it prints figures and asserts nothing. Each cell is the fastest of 7
 * runs (the least disturbed by other work on a shared machine) and, in
 * brackets, their median.
 * Run: make bench-balancers */
#include <stdio.h>
#include <time.h>

#include "balancer_fixture.h"
#include "ringlb/maglev.h"

#define BATCH 1000
#define ROUNDS 200
#define RUNS 7

static const char *const algos[] = { "round_robin", "least_conn", "consistent_hash", "p2c", "ewma", "random" };

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stat {
	double min, median;
};

static struct stat summarise(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return (struct stat){ v[0], v[n / 2] };
}

/* Times picks only: a batch of picks (timed), then their ends (not timed),
 * so in-flight counts stay realistic. Clients vary, for hashing on client_ip. */
static struct stat ns_per_pick(const char *algo, size_t n)
{
	static struct rlb_server *held[BATCH];
	struct fixture *f = fx_new(algo, n, NULL, NULL);
	double runs[RUNS];
	int r, round, i;

	for (r = 0; r < RUNS; r++) {
		double total = 0;

		for (round = 0; round < ROUNDS; round++) {
			double t0 = now_ns();

			for (i = 0; i < BATCH; i++) {
				f->client.sin_addr.s_addr = (uint32_t)(round * BATCH + i);
				held[i] = fx_pick(f);
			}
			total += now_ns() - t0;
			for (i = 0; i < BATCH; i++) {
				f->now_us += 1;
				fx_end(f, held[i], 1000);
			}
		}
		runs[r] = total / (ROUNDS * BATCH);
	}
	fx_free(f);
	return summarise(runs, RUNS);
}

static struct stat rebuild_ms(size_t n)
{
	struct fixture *f = fx_new("round_robin", n, NULL, NULL);
	uint32_t size = rlb_maglev_default_size(n);
	double runs[RUNS];
	int r;

	for (r = 0; r < RUNS; r++) {
		double t0 = now_ns();
		struct rlb_maglev *t = rlb_maglev_build(&f->be, size);

		runs[r] = (now_ns() - t0) / 1e6;
		rlb_maglev_free(t);
	}
	fx_free(f);
	return summarise(runs, RUNS);
}

/* "bench_balancers ALGO SERVERS PICKS": just that many pick+end pairs, for
 * `valgrind --tool=callgrind` (instruction counts do not depend on what else
 * the machine is doing); see scripts/pick-instructions. */
static int single(const char *algo, size_t n, long picks)
{
	struct fixture *f = fx_new(algo, n, NULL, NULL);
	long i;

	for (i = 0; i < picks; i++) {
		struct rlb_server *srv;

		f->client.sin_addr.s_addr = (uint32_t)i;
		srv = fx_pick(f);
		f->now_us++;
		fx_end(f, srv, 1000);
	}
	fx_free(f);
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 100, 1000 };
	size_t a, s;
	struct stat big, small;

	if (argc == 4)
		return single(argv[1], (size_t)atol(argv[2]), atol(argv[3]));

	printf("ns per pick: fastest of %d runs of %d picks (median), the pick's request_start included\n\n",
	       RUNS, ROUNDS * BATCH);
	printf("| balancer        |   10 servers |  100 servers | 1000 servers |\n");
	printf("|-----------------|-------------:|-------------:|-------------:|\n");
	for (a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
		printf("| %-15s |", algos[a]);
		for (s = 0; s < 3; s++) {
			struct stat st = ns_per_pick(algos[a], sizes[s]);

			printf(" %5.1f (%5.1f) |", st.min, st.median);
		}
		printf("\n");
	}
	big = rebuild_ms(1000);
	small = rebuild_ms(10);
	printf("\nMaglev table rebuild: %.2f ms (%.2f) at 1000 servers (M = %u), %.2f ms (%.2f) at 10 servers (M = %u)\n",
	       big.min, big.median, rlb_maglev_default_size(1000), small.min, small.median,
	       rlb_maglev_default_size(10));
	return 0;
}
