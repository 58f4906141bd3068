/* alloc_edge.c: the malloc family's edge cases, printed (result and errno), so runs with and without the agent can be compared; and the agent's heap figures for known blocks. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memprobe.h"

/*
 * Usage: alloc_edge cases | figures
 *
 * cases: runs each edge case with errno zeroed first and prints one line:
 * its name, "NULL" or "ptr" (or the int it returned), whether a block has
 * the alignment asked for, and errno. Nothing printed depends on addresses
 * or timing, so the output under one allocator must be the same with the
 * agent preloaded and without. pvalloc's blocks are never freed: with
 * jemalloc below and no agent, pvalloc is glibc's, and jemalloc's free
 * would be handed a glibc block. malloc_usable_size is only asked of NULL,
 * for the same reason with an allocator that has none.
 *
 * figures: (agent preloaded) makes blocks of known sizes through every
 * entry point, checks memprobe_snapshot() against them within the
 * allocator's rounding, frees them and checks the figures come back
 * exactly; then 4 threads churn through malloc, calloc, realloc and free
 * and the figures must come back exactly again. Prints "fail ..." lines,
 * then "ok"; exits 0 or 1.
 */

static volatile size_t huge = SIZE_MAX / 2;     /* volatile: no compile-time folding */
static volatile size_t max = SIZE_MAX;
static volatile size_t zero;
static void *volatile keep;      /* a block the compiler must not take for freed */

static void show(const char *name, const void *p, size_t align, int err)
{
	printf("%-36s %s", name, p != NULL ? "ptr" : "NULL");
	if (p != NULL && align > 1)
		printf(" %s", (uintptr_t)p % align == 0 ? "aligned" : "MISALIGNED");
	printf(" errno=%d\n", err);
}

static void show_int(const char *name, int r, int err)
{
	printf("%-36s ret=%d errno=%d\n", name, r, err);
}

#define CASE(name, align, expr, keep) do { \
	void *p_; \
	int e_; \
	errno = 0; \
	p_ = (expr); \
	e_ = errno; \
	show(name, p_, align, e_); \
	if (!(keep)) \
		free(p_); \
} while (0)

#define PM(name, align, size) do { \
	void *p_ = NULL; \
	int r_, e_; \
	errno = 0; \
	r_ = posix_memalign(&p_, align, size); \
	e_ = errno; \
	show_int(name, r_, r_ == 0 ? 0 : e_); \
	if (r_ == 0) \
		free(p_); \
} while (0)

/* realloc(p, size), shown; returns the block to go on with. */
static void *realloc_shown(const char *name, void *p, size_t size)
{
	void *q;
	int e;

	errno = 0;
	q = realloc(p, size);
	e = errno;
	show(name, q, 1, e);
	return q != NULL ? q : p;
}

static int cases(void)
{
	void *p;
	int e;

	CASE("malloc(0)", 1, malloc(zero), 0);
	CASE("malloc(1)", 16, malloc(1), 0);
	CASE("malloc(SIZE_MAX)", 1, malloc(max), 0);
	CASE("malloc(SIZE_MAX/2)", 1, malloc(huge), 0);
	CASE("calloc(0, 0)", 1, calloc(zero, zero), 0);
	CASE("calloc(10, 10)", 16, calloc(10, 10), 0);
	CASE("calloc(SIZE_MAX/2, 4) overflow", 1, calloc(huge, 4), 0);
	CASE("calloc(4, SIZE_MAX/2) overflow", 1, calloc(4, huge), 0);
	CASE("calloc(1, SIZE_MAX)", 1, calloc(1, max), 0);
	CASE("calloc(SIZE_MAX/2, 1)", 1, calloc(huge, 1), 0);
	CASE("realloc(NULL, 100)", 16, realloc(NULL, 100), 0);
	CASE("realloc(NULL, 0)", 1, realloc(NULL, zero), 0);
	CASE("realloc(NULL, SIZE_MAX/2)", 1, realloc(NULL, huge), 0);

	p = malloc(100);
	p = realloc_shown("realloc(p, SIZE_MAX/2)", p, huge);
	p = realloc_shown("realloc(p, SIZE_MAX)", p, max);
	keep = p;
	CASE("reallocarray(p, SIZE_MAX/2, 4) overflow", 1, reallocarray(keep, huge, 4), 1);
	errno = 0;
	p = realloc(keep, 3000);
	e = errno;
	show("realloc(p, 3000)", p, 16, e);
	errno = 0;
	p = realloc(p, zero);     /* frees, or a new minimal block */
	e = errno;
	show("realloc(p, 0)", p, 1, e);
	free(p);

	CASE("reallocarray(NULL, 10, 10)", 16, reallocarray(NULL, 10, 10), 0);
	CASE("reallocarray(NULL, SIZE_MAX/2, 4) overflow", 1, reallocarray(NULL, huge, 4), 0);
	CASE("reallocarray(NULL, 0, 0)", 1, reallocarray(NULL, zero, zero), 0);

	errno = 0;
	free(NULL);
	show_int("free(NULL)", 0, errno);
	errno = 0;
	show_int("malloc_usable_size(NULL)", (int)malloc_usable_size(NULL), errno);

	PM("posix_memalign(0, 16)", 0, 16);
	PM("posix_memalign(3, 16)", 3, 16);
	PM("posix_memalign(4, 16)", 4, 16);
	PM("posix_memalign(8, 16)", 8, 16);
	PM("posix_memalign(24, 16)", 24, 16);
	PM("posix_memalign(64, 100)", 64, 100);
	PM("posix_memalign(4096, 0)", 4096, zero);
	PM("posix_memalign(64, SIZE_MAX/2)", 64, huge);
	PM("posix_memalign(64, SIZE_MAX)", 64, max);
	PM("posix_memalign(SIZE_MAX/2+1, 16)", huge + 1, 16);

	CASE("aligned_alloc(0, 16)", 1, aligned_alloc(zero, 16), 0);
	CASE("aligned_alloc(3, 16)", 1, aligned_alloc(3, 16), 0);
	CASE("aligned_alloc(24, 100)", 8, aligned_alloc(24, 100), 0);
	CASE("aligned_alloc(96, 96)", 32, aligned_alloc(96, 96), 0);
	CASE("aligned_alloc(64, 128)", 64, aligned_alloc(64, 128), 0);
	CASE("aligned_alloc(64, 100) size not multiple", 64, aligned_alloc(64, 100), 0);
	CASE("aligned_alloc(4096, 4096)", 4096, aligned_alloc(4096, 4096), 0);
	CASE("aligned_alloc(64, SIZE_MAX/2)", 1, aligned_alloc(64, huge), 0);
	CASE("aligned_alloc(64, SIZE_MAX)", 1, aligned_alloc(64, max), 0);

	CASE("memalign(0, 16)", 1, memalign(zero, 16), 0);
	CASE("memalign(3, 16)", 1, memalign(3, 16), 0);
	CASE("memalign(24, 100)", 8, memalign(24, 100), 0);
	CASE("memalign(96, 96)", 32, memalign(96, 96), 0);
	CASE("memalign(16, 100)", 16, memalign(16, 100), 0);
	CASE("memalign(64, 0)", 64, memalign(64, zero), 0);
	CASE("memalign(128, 3000)", 128, memalign(128, 3000), 0);
	CASE("memalign(4096, 100)", 4096, memalign(4096, 100), 0);
	CASE("memalign(4096, SIZE_MAX/2)", 1, memalign(4096, huge), 0);
	CASE("memalign(SIZE_MAX, 16)", 1, memalign(max, 16), 0);

	CASE("valloc(0)", 4096, valloc(zero), 0);
	CASE("valloc(1)", 4096, valloc(1), 0);
	CASE("valloc(5000)", 4096, valloc(5000), 0);
	CASE("valloc(SIZE_MAX/2)", 1, valloc(huge), 0);
	CASE("valloc(SIZE_MAX)", 1, valloc(max), 0);

	CASE("pvalloc(0)", 4096, pvalloc(zero), 1);
	CASE("pvalloc(1)", 4096, pvalloc(1), 1);
	CASE("pvalloc(5000)", 4096, pvalloc(5000), 1);
	CASE("pvalloc(SIZE_MAX/2)", 1, pvalloc(huge), 1);
	CASE("pvalloc(SIZE_MAX)", 1, pvalloc(max), 1);
	return 0;
}

/* ---- figures ---- */

#define NB 64
#define PAGE 4096u

static int failures;

#define FAIL(...) do { failures++; printf("fail " __VA_ARGS__); } while (0)

struct blk {
	void *p;
	size_t lo, hi;          /* what the agent may count for it */
};

/* An allocator may round a request up: to its size class (jemalloc's are
 * at most 25% apart), a header word, or its alignment. */
static void bounds(struct blk *b, size_t req, size_t align)
{
	b->lo = req != 0 ? req : 1;
	b->hi = req + req / 4 + 64 + (align > 16 ? align : 0);
}

/* ---- figures with threads ---- */

#define THREADS 4
#define RING 64
#define OPS 20000

static void *churn(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	void *ring[RING] = { 0 };

	for (int i = 0; i < OPS; i++) {
		unsigned slot;
		size_t size;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		slot = (unsigned)(x % RING);
		size = 1 + (size_t)((x >> 8) % 2000);
		switch ((x >> 20) % 4) {
		case 0:
			free(ring[slot]);
			ring[slot] = malloc(size);
			break;
		case 1:
			free(ring[slot]);
			ring[slot] = calloc(2, size);
			break;
		case 2: {
			void *q = realloc(ring[slot], size);

			if (q != NULL)
				ring[slot] = q;
			break;
		}
		default:
			free(ring[slot]);
			ring[slot] = NULL;
		}
	}
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	return NULL;
}

/* THREADS threads churn through malloc, calloc, realloc and free at once
 * (addresses pass between them as blocks are reused), then free all: the
 * figures come back exactly. Threads are made once beforehand, so the
 * runtime's per-thread blocks (kept with cached stacks) are there at the
 * start already. */
static void threaded(int (*snap)(struct memprobe_stats *))
{
	struct memprobe_stats s0, s1;
	pthread_t th[THREADS];

	for (int round = 0; round < 2; round++) {
		if (round == 1)
			snap(&s0);
		for (uintptr_t i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, churn, (void *)i);
		for (int i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
	}
	snap(&s1);
	if (s1.heap_live_bytes != s0.heap_live_bytes || s1.heap_live_blocks != s0.heap_live_blocks)
		FAIL("after %d threads: live bytes %llu, blocks %llu; want %llu, %llu\n", THREADS,
		    (unsigned long long)s1.heap_live_bytes, (unsigned long long)s1.heap_live_blocks,
		    (unsigned long long)s0.heap_live_bytes, (unsigned long long)s0.heap_live_blocks);
}

static int figures(void)
{
	int (*snap)(struct memprobe_stats *) =
	    (int (*)(struct memprobe_stats *))dlsym(RTLD_DEFAULT, "memprobe_snapshot");
	struct memprobe_stats s0, s1, s2;
	struct blk b[NB];
	uint64_t lo = 0, hi = 0;
	int n = 0;

	if (snap == NULL) {
		printf("fail memprobe_snapshot not found: run with the agent preloaded\n");
		return 1;
	}
	memset(b, 0, sizeof(b));
	snap(&s0);
	for (int i = 0; i < 6; i++) {
		size_t sz = (size_t)(i * 997 + 24);
		void *q = NULL;

		b[n].p = malloc(sz), bounds(&b[n++], sz, 16);
		b[n].p = calloc(3, sz), bounds(&b[n++], 3 * sz, 16);
		b[n].p = realloc(NULL, sz), bounds(&b[n++], sz, 16);
		b[n].p = realloc(malloc(10), sz * 2), bounds(&b[n++], sz * 2, 16);
		b[n].p = memalign(256, sz), bounds(&b[n++], sz, 256);
		if (posix_memalign(&q, 64, sz) != 0)
			q = NULL;
		b[n].p = q, bounds(&b[n++], sz, 64);
		b[n].p = aligned_alloc(128, 1280), bounds(&b[n++], 1280, 128);
		b[n].p = valloc(sz), bounds(&b[n++], sz, PAGE);
		b[n].p = pvalloc(sz), bounds(&b[n++], (sz + PAGE - 1) / PAGE * PAGE, PAGE);
	}
	b[n].p = malloc(300000), bounds(&b[n++], 300000, 16);   /* mmapped by glibc */
	for (int i = 0; i < n; i++) {
		if (b[i].p == NULL)
			FAIL("block %d: NULL\n", i);
		lo += b[i].lo;
		hi += b[i].hi;
	}
	snap(&s1);
	if (s1.heap_live_blocks - s0.heap_live_blocks != (uint64_t)n)
		FAIL("live blocks +%llu, want +%d\n",
		    (unsigned long long)(s1.heap_live_blocks - s0.heap_live_blocks), n);
	if (s1.heap_live_bytes - s0.heap_live_bytes < lo ||
	    s1.heap_live_bytes - s0.heap_live_bytes > hi)
		FAIL("live bytes +%llu, want within [%llu, %llu]\n",
		    (unsigned long long)(s1.heap_live_bytes - s0.heap_live_bytes),
		    (unsigned long long)lo, (unsigned long long)hi);
	if (s1.heap_failed_allocations != s0.heap_failed_allocations)
		FAIL("failed allocations moved\n");
	/* pvalloc's blocks are freed too: here the agent is below, so every
	 * entry point is the owner's. */
	for (int i = 0; i < n; i++)
		free(b[i].p);
	snap(&s2);
	if (s2.heap_live_bytes != s0.heap_live_bytes)
		FAIL("live bytes %llu after freeing all, want %llu\n",
		    (unsigned long long)s2.heap_live_bytes, (unsigned long long)s0.heap_live_bytes);
	if (s2.heap_live_blocks != s0.heap_live_blocks)
		FAIL("live blocks %llu after freeing all, want %llu\n",
		    (unsigned long long)s2.heap_live_blocks, (unsigned long long)s0.heap_live_blocks);
	threaded(snap);
	printf("%s\n", failures ? "failed" : "ok");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "cases") == 0)
		return cases();
	if (argc == 2 && strcmp(argv[1], "figures") == 0)
		return figures();
	fprintf(stderr, "usage: alloc_edge cases|figures\n");
	return 2;
}
