/* accuracy.c: known allocations, mappings and stack depths through every entry point; prints what the agent must report. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memprobe.h"
#include "progs/progs.h"

/*
 * Usage: accuracy SCENARIO [ARGS]
 *
 * Run with libmemprobe.so preloaded. Each scenario makes allocations whose
 * usable sizes it learns from malloc_usable_size() and keeps its own books,
 * compares them with memprobe_snapshot(), and prints on stdout, one a line:
 *
 *   expect PID METRIC LABEL LO HI   METRIC{pid="PID",LABEL} must be in [LO, HI]
 *                                   in /metrics now (LABEL is name=value, "-"
 *                                   for none; le= compares as a number)
 *   final PID METRIC LABEL LO HI    the same, once PID has exited
 *   fail TEXT                       a check made here failed
 *   info TEXT                       context for a reader
 *   ready PID                       the end of a phase
 *
 * After "ready" the program holds its state and reads stdin: a line goes
 * on to the next phase; end of input finishes (frees, joins, exits 0; 1 if
 * anything failed). Output goes through write(2) from static buffers and
 * input through read(2), so the program's own heap is exactly its books plus
 * what the agent's baseline snapshot saw.
 *
 * Scenarios: entries failed threads thread_exit peak peak_threads fork
 * exit_while_forking exec gauge mmap
 * stack_main stack_thread stack_main_quiet stack_thread_quiet.
 */

#define KIB 1024ul
#define MIB (1024ul * 1024ul)
#define NBUCKETS 12
#define BATCH (64 * KIB)        /* the agent's documented per-thread peak slack */

static const uint64_t bucket_le[NBUCKETS - 1] = {
	16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
};

/* The program's own record of what it did to the heap since the baseline. */
struct book {
	uint64_t allocs, frees, alloc_bytes, failed;
	int64_t live, blocks, peak;
	uint64_t bucket[NBUCKETS];      /* not cumulative */
};

static int (*snap_fn)(struct memprobe_stats *);
static int (*flush_fn)(void);
static int (*gauge_fn)(const char *, double);
static struct memprobe_stats base;
static long self_pid;
static int failures;
static volatile size_t huge = SIZE_MAX / 2;   /* volatile: no compile-time warnings */

/* ---- output without the heap ---- */

static void put(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		s += n;
		len -= (size_t)n;
	}
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

#define FAIL(...) do { failures++; say("fail " __VA_ARGS__); } while (0)

static void expect_kind(const char *kind, long pid, const char *metric, const char *label,
    double lo, double hi)
{
	say("%s %ld %s %s %.17g %.17g\n", kind, pid, metric, label ? label : "-", lo, hi);
}

static void expect(const char *metric, const char *label, double lo, double hi)
{
	expect_kind("expect", self_pid, metric, label, lo, hi);
}

static void expect_eq(const char *metric, double v)
{
	expect(metric, NULL, v, v);
}

/* Reads one line of stdin; returns 0 for a line, -1 at end of input. */
static int wait_line(void)
{
	return prog_read_line(NULL, 0) < 0 ? -1 : 0;
}

static int ready(void)
{
	say("ready %ld\n", self_pid);
	return wait_line();
}

/* ---- books ---- */

static unsigned bucket_of(uint64_t size)
{
	unsigned i = 0;

	while (i < NBUCKETS - 1 && size > bucket_le[i])
		i++;
	return i;
}

static void b_alloc(struct book *b, void *p)
{
	uint64_t u = malloc_usable_size(p);

	b->allocs++;
	b->alloc_bytes += u;
	b->live += (int64_t)u;
	b->blocks++;
	if (b->live > b->peak)
		b->peak = b->live;
	b->bucket[bucket_of(u)]++;
}

static void b_free(struct book *b, uint64_t usable)
{
	b->frees++;
	b->live -= (int64_t)usable;
	b->blocks--;
}

static void b_add(struct book *to, const struct book *from)
{
	to->allocs += from->allocs;
	to->frees += from->frees;
	to->alloc_bytes += from->alloc_bytes;
	to->failed += from->failed;
	to->live += from->live;
	to->blocks += from->blocks;
	for (int i = 0; i < NBUCKETS; i++)
		to->bucket[i] += from->bucket[i];
}

static void *t_malloc(struct book *b, size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		FAIL("malloc(%zu) returned NULL\n", n);
	else
		b_alloc(b, p);
	return p;
}

static void t_free(struct book *b, void *p)
{
	if (p != NULL)
		b_free(b, malloc_usable_size(p));
	free(p);
}

static void *t_calloc(struct book *b, size_t n, size_t size)
{
	unsigned char *p = calloc(n, size);

	if (p == NULL) {
		FAIL("calloc(%zu, %zu) returned NULL\n", n, size);
		return NULL;
	}
	for (size_t i = 0; i < n * size; i++)
		if (p[i] != 0) {
			FAIL("calloc(%zu, %zu): byte %zu is not zero\n", n, size, i);
			break;
		}
	b_alloc(b, p);
	return p;
}

/* realloc counts as a free of the old block and an allocation of the new;
 * realloc(p, 0) frees. */
static void *t_realloc(struct book *b, void *p, size_t n)
{
	uint64_t old = p != NULL ? malloc_usable_size(p) : 0;
	void *q = realloc(p, n);

	if (q == NULL && n != 0) {
		FAIL("realloc(%p, %zu) returned NULL\n", p, n);
		return p;
	}
	if (p != NULL)
		b_free(b, old);
	if (q != NULL)
		b_alloc(b, q);
	return q;
}

static void *t_reallocarray(struct book *b, void *p, size_t n, size_t size)
{
	uint64_t old = p != NULL ? malloc_usable_size(p) : 0;
	void *q = reallocarray(p, n, size);

	if (q == NULL) {
		FAIL("reallocarray(%p, %zu, %zu) returned NULL\n", p, n, size);
		return p;
	}
	if (p != NULL)
		b_free(b, old);
	b_alloc(b, q);
	return q;
}

static void check_align(const char *what, void *p, size_t align)
{
	if (p != NULL && ((uintptr_t)p & (align - 1)) != 0)
		FAIL("%s: %p is not aligned to %zu\n", what, p, align);
}

static void *t_posix_memalign(struct book *b, size_t align, size_t n)
{
	void *p = NULL;
	int err = posix_memalign(&p, align, n);

	if (err != 0 || p == NULL) {
		FAIL("posix_memalign(%zu, %zu): %d\n", align, n, err);
		return NULL;
	}
	check_align("posix_memalign", p, align);
	b_alloc(b, p);
	return p;
}

static void *t_aligned(struct book *b, const char *what, void *p, size_t align, size_t n)
{
	if (p == NULL) {
		FAIL("%s(%zu, %zu) returned NULL\n", what, align, n);
		return NULL;
	}
	check_align(what, p, align);
	b_alloc(b, p);
	return p;
}

/* ---- the agent's view ---- */

static void snapshot(struct memprobe_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (snap_fn != NULL && snap_fn(s) != 0)
		FAIL("memprobe_snapshot failed\n");
}

static void find_api(void)
{
	snap_fn = (int (*)(struct memprobe_stats *))dlsym(RTLD_DEFAULT, "memprobe_snapshot");
	flush_fn = (int (*)(void))dlsym(RTLD_DEFAULT, "memprobe_flush");
	gauge_fn = (int (*)(const char *, double))dlsym(RTLD_DEFAULT, "memprobe_gauge_set");
	if (snap_fn == NULL || flush_fn == NULL || gauge_fn == NULL) {
		FAIL("memprobe_* not found: run with LD_PRELOAD=libmemprobe.so\n");
		_exit(1);
	}
}

static void cmp(const char *when, const char *field, uint64_t got, uint64_t want)
{
	if (got != want)
		FAIL("snapshot %s: %s %llu, want %llu\n", when, field,
		    (unsigned long long)got, (unsigned long long)want);
}

/* The heap figures the agent must have now: from `from` plus the books. */
static void want_heap(const struct memprobe_stats *from, const struct book *b,
    struct memprobe_stats *w)
{
	*w = *from;
	w->heap_live_bytes = (uint64_t)((int64_t)from->heap_live_bytes + b->live);
	w->heap_live_blocks = (uint64_t)((int64_t)from->heap_live_blocks + b->blocks);
	w->heap_allocations = from->heap_allocations + b->allocs;
	w->heap_frees = from->heap_frees + b->frees;
	w->heap_allocated_bytes = from->heap_allocated_bytes + b->alloc_bytes;
	w->heap_failed_allocations = from->heap_failed_allocations + b->failed;
}

/* Compares the agent's snapshot with `from` plus the books, exactly. */
static void check_snapshot(const char *when, const struct memprobe_stats *from,
    const struct book *b)
{
	struct memprobe_stats s, w;

	snapshot(&s);
	want_heap(from, b, &w);
	cmp(when, "heap_live_bytes", s.heap_live_bytes, w.heap_live_bytes);
	cmp(when, "heap_live_blocks", s.heap_live_blocks, w.heap_live_blocks);
	cmp(when, "heap_allocations", s.heap_allocations, w.heap_allocations);
	cmp(when, "heap_frees", s.heap_frees, w.heap_frees);
	cmp(when, "heap_allocated_bytes", s.heap_allocated_bytes, w.heap_allocated_bytes);
	cmp(when, "heap_failed_allocations", s.heap_failed_allocations,
	    w.heap_failed_allocations);
}

/* Prints the heap expectations for /metrics: `from` plus the books. */
static void expect_heap(const struct memprobe_stats *from, const struct book *b)
{
	struct memprobe_stats w;

	want_heap(from, b, &w);
	expect_eq("memprobe_heap_live_bytes", (double)w.heap_live_bytes);
	expect_eq("memprobe_heap_live_blocks", (double)w.heap_live_blocks);
	expect_eq("memprobe_heap_allocations_total", (double)w.heap_allocations);
	expect_eq("memprobe_heap_frees_total", (double)w.heap_frees);
	expect_eq("memprobe_heap_allocated_bytes_total", (double)w.heap_allocated_bytes);
	expect_eq("memprobe_heap_failed_allocations_total", (double)w.heap_failed_allocations);
}

/*
 * The histogram: _count and _sum exactly; each cumulative bucket at least
 * the books' count and at most that plus every allocation before the
 * baseline (whose sizes the snapshot does not give).
 */
static void expect_histogram(const struct memprobe_stats *from, const struct book *b)
{
	uint64_t cum = 0;
	char le[32];

	for (int i = 0; i < NBUCKETS; i++) {
		cum += b->bucket[i];
		if (i < NBUCKETS - 1)
			snprintf(le, sizeof(le), "le=%llu", (unsigned long long)bucket_le[i]);
		else
			snprintf(le, sizeof(le), "le=+Inf");
		expect("memprobe_heap_allocation_size_bytes_bucket", le, (double)cum,
		    (double)(cum + from->heap_allocations));
	}
	expect_eq("memprobe_heap_allocation_size_bytes_count",
	    (double)(from->heap_allocations + b->allocs));
	expect_eq("memprobe_heap_allocation_size_bytes_sum",
	    (double)(from->heap_allocated_bytes + b->alloc_bytes));
}

/* ---- scenarios ---- */

/* Every entry point, small, large and mmapped sizes; about half freed. */
static int entries(void)
{
	static const size_t msizes[] = {
		0, 1, 8, 16, 24, 25, 40, 100, 200, 256, 1000, 1024, 4000, 5000, 16000,
		20000, 60000, 70000, 200000, 300000, 1u << 20, 20u << 20,
	};
	static void *keep[128];
	struct book b = { 0 };
	size_t n = 0;
	void *p;

	snapshot(&base);
	for (size_t i = 0; i < sizeof(msizes) / sizeof(msizes[0]); i++)
		keep[n++] = t_malloc(&b, msizes[i]);
	keep[n++] = t_calloc(&b, 1, 1);
	keep[n++] = t_calloc(&b, 10, 10);
	keep[n++] = t_calloc(&b, 100, 40);
	keep[n++] = t_calloc(&b, 3, 10000);
	keep[n++] = t_calloc(&b, 1, 250000);

	/* realloc: from NULL, grow, shrink, into and out of an mmapped chunk */
	p = t_realloc(&b, NULL, 100);
	p = t_realloc(&b, p, 3000);
	p = t_realloc(&b, p, 50);
	p = t_realloc(&b, p, 500000);
	p = t_realloc(&b, p, 1000);
	keep[n++] = p;
	p = t_realloc(&b, NULL, 64);
	p = t_realloc(&b, p, 0);           /* frees; glibc returns NULL */
	if (p != NULL)
		keep[n++] = p;
	p = t_reallocarray(&b, NULL, 10, 100);
	keep[n++] = t_reallocarray(&b, p, 30, 100);

	keep[n++] = t_posix_memalign(&b, 16, 100);
	keep[n++] = t_posix_memalign(&b, 64, 1000);
	keep[n++] = t_posix_memalign(&b, 4096, 10000);
	keep[n++] = t_posix_memalign(&b, 65536, 200000);
	keep[n++] = t_aligned(&b, "aligned_alloc", aligned_alloc(32, 64), 32, 64);
	keep[n++] = t_aligned(&b, "aligned_alloc", aligned_alloc(256, 512), 256, 512);
	keep[n++] = t_aligned(&b, "aligned_alloc", aligned_alloc(4096, 8192), 4096, 8192);
	keep[n++] = t_aligned(&b, "memalign", memalign(128, 3000), 128, 3000);
	keep[n++] = t_aligned(&b, "memalign", memalign(1024, 100), 1024, 100);
	keep[n++] = t_aligned(&b, "valloc", valloc(1), 4096, 1);
	keep[n++] = t_aligned(&b, "valloc", valloc(5000), 4096, 5000);
	keep[n++] = t_aligned(&b, "valloc", valloc(300000), 4096, 300000);
	keep[n++] = t_aligned(&b, "pvalloc", pvalloc(1), 4096, 1);
	keep[n++] = t_aligned(&b, "pvalloc", pvalloc(5000), 4096, 5000);

	/* Free every other block, so frees come from every kind. */
	for (size_t i = 0; i < n; i += 2) {
		t_free(&b, keep[i]);
		keep[i] = NULL;
	}
	free(NULL);                     /* not a free */

	check_snapshot("entries", &base, &b);
	expect_heap(&base, &b);
	expect_histogram(&base, &b);
	ready();
	for (size_t i = 0; i < n; i++)
		t_free(&b, keep[i]);
	return failures;
}

/* Failed allocations count; a bad alignment (EINVAL) does not. */
static void *volatile keep_v;

static int failed(void)
{
	struct book b = { 0 };
	void *p, *q, *keep;
	int err;

	snapshot(&base);
	keep = t_malloc(&b, 100);

#define MUST_FAIL(call, what) do { \
	errno = 0; \
	if ((call) != NULL) \
		FAIL("%s succeeded\n", what); \
	else \
		b.failed++; \
} while (0)
	MUST_FAIL(malloc(huge), "malloc(SIZE_MAX/2)");
	MUST_FAIL(calloc(huge, 4), "calloc overflow");
	if (errno != ENOMEM)
		FAIL("calloc overflow: errno %d, want ENOMEM\n", errno);
	MUST_FAIL(calloc(1, huge), "calloc(1, SIZE_MAX/2)");
	/* Through a volatile: the compiler must not take keep for freed. */
	keep_v = keep;
	MUST_FAIL(realloc(keep_v, huge), "realloc(p, SIZE_MAX/2)");
	MUST_FAIL(reallocarray(keep_v, huge, 4), "reallocarray overflow");
	if (errno != ENOMEM)
		FAIL("reallocarray overflow: errno %d, want ENOMEM\n", errno);
	MUST_FAIL(reallocarray(NULL, huge, 4), "reallocarray(NULL) overflow");
	MUST_FAIL(aligned_alloc(64, huge), "aligned_alloc(64, SIZE_MAX/2)");
	MUST_FAIL(memalign(64, huge), "memalign(64, SIZE_MAX/2)");
	MUST_FAIL(valloc(huge), "valloc(SIZE_MAX/2)");
	MUST_FAIL(pvalloc(huge), "pvalloc(SIZE_MAX/2)");
	p = NULL;
	err = posix_memalign(&p, 64, huge);
	if (err != ENOMEM)
		FAIL("posix_memalign(64, SIZE_MAX/2): %d, want ENOMEM\n", err);
	else
		b.failed++;
#undef MUST_FAIL
	/* The block realloc failed on is still there, whole. */
	memset(keep, 0x5a, 100);

	/* Not failures: bad alignments, free(NULL), malloc(0). */
	q = (void *)&b;
	err = posix_memalign(&q, 3, 16);
	if (err != EINVAL || q != (void *)&b)
		FAIL("posix_memalign(3, 16): %d, want EINVAL and *out untouched\n", err);
	err = posix_memalign(&q, 0, 16);
	if (err != EINVAL)
		FAIL("posix_memalign(0, 16): %d, want EINVAL\n", err);
	errno = 0;
	p = memalign(SIZE_MAX, 16);
	if (p != NULL)
		FAIL("memalign(SIZE_MAX, 16) succeeded\n");
	else if (errno != EINVAL)
		FAIL("memalign(SIZE_MAX, 16): errno %d, want EINVAL\n", errno);
	errno = 0;
	p = aligned_alloc(3, 16);
	if (p != NULL) {
		/* glibc before 2.38 rounds the alignment up */
		b_alloc(&b, p);
		t_free(&b, p);
	} else if (errno != EINVAL) {
		FAIL("aligned_alloc(3, 16): errno %d, want EINVAL\n", errno);
	}
	free(NULL);
	p = t_malloc(&b, 0);
	t_free(&b, p);

	check_snapshot("failed", &base, &b);
	expect_heap(&base, &b);
	ready();
	t_free(&b, keep);
	return failures;
}

/* ---- 8 threads ---- */

#define NTHREADS 8
#define RING     64
#define OPS      6000
#define HOLD     4

struct worker {
	pthread_t th;
	unsigned idx;
	uint64_t rng;
	struct book b;
	void *ring[RING];
	void *held[HOLD];
};

static struct worker workers[NTHREADS];
static pthread_barrier_t bar;

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static size_t rnd_size(uint64_t *s)
{
	uint64_t r = rnd(s);

	if (r % 512 == 0)
		return 140000 + r % 300000;     /* mmapped */
	if (r % 64 == 1)
		return 4096 + r % 100000;
	return 1 + r % 2048;
}

/* One random allocation through a random entry point. */
static void *any_alloc(struct book *b, uint64_t *s)
{
	size_t n = rnd_size(s);

	switch (rnd(s) % 6) {
	case 0: return t_calloc(b, 1, n);
	case 1: return t_realloc(b, NULL, n);
	case 2: return t_aligned(b, "memalign", memalign(64, n), 64, n);
	case 3: return t_posix_memalign(b, 32, n);
	case 4: return t_aligned(b, "aligned_alloc", aligned_alloc(16, n), 16, n);
	default: return t_malloc(b, n);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&bar);     /* everyone started: the baseline */
	pthread_barrier_wait(&bar);     /* go */
	for (int i = 0; i < OPS; i++) {
		unsigned slot = (unsigned)(rnd(&w->rng) % RING);

		if (w->ring[slot] == NULL)
			w->ring[slot] = any_alloc(&w->b, &w->rng);
		else if (rnd(&w->rng) % 4 == 0)
			w->ring[slot] = t_realloc(&w->b, w->ring[slot], rnd_size(&w->rng));
		else {
			t_free(&w->b, w->ring[slot]);
			w->ring[slot] = NULL;
		}
	}
	for (int i = 0; i < RING; i++) {
		t_free(&w->b, w->ring[i]);
		w->ring[i] = NULL;
	}
	for (int i = 0; i < HOLD; i++)
		w->held[i] = t_malloc(&w->b, 1000 * (w->idx + 1) + 10 * (unsigned)i);
	pthread_barrier_wait(&bar);     /* done, still alive */
	pthread_barrier_wait(&bar);     /* exit, holding */
	return NULL;
}

static int threads(void)
{
	struct memprobe_stats s;
	pthread_attr_t attr;
	struct book all = { 0 };

	pthread_barrier_init(&bar, NULL, NTHREADS + 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * KIB);
	for (unsigned i = 0; i < NTHREADS; i++) {
		workers[i].idx = i;
		workers[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		if (pthread_create(&workers[i].th, &attr, worker_main, &workers[i]) != 0) {
			FAIL("pthread_create\n");
			_exit(1);
		}
	}
	pthread_attr_destroy(&attr);
	pthread_barrier_wait(&bar);
	snapshot(&base);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);

	/* Phase 1: the workers are done and alive, each holding HOLD blocks. */
	for (unsigned i = 0; i < NTHREADS; i++)
		b_add(&all, &workers[i].b);
	check_snapshot("threads alive", &base, &all);
	snapshot(&s);
	if (s.threads != NTHREADS + 1)
		FAIL("snapshot threads alive: threads %llu, want %d\n",
		    (unsigned long long)s.threads, NTHREADS + 1);
	expect_heap(&base, &all);
	expect_eq("memprobe_threads", NTHREADS + 1);
	if (ready() < 0)
		goto exit_workers;

	/* Phase 2: they exited; what they held is still live. */
	pthread_barrier_wait(&bar);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(workers[i].th, NULL);
	check_snapshot("threads exited", &base, &all);
	snapshot(&s);
	if (s.threads != 1)
		FAIL("snapshot threads exited: threads %llu, want 1\n",
		    (unsigned long long)s.threads);
	expect_heap(&base, &all);
	expect_eq("memprobe_threads", 1);
	ready();
	goto out;

exit_workers:
	pthread_barrier_wait(&bar);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(workers[i].th, NULL);
out:
	for (unsigned i = 0; i < NTHREADS; i++)
		for (int j = 0; j < HOLD; j++)
			t_free(&all, workers[i].held[j]);
	return failures;
}

/*
 * Frees and allocations made while a thread exits, by its thread-specific
 * data destructors, which run after the agent has retired the thread: each
 * of 4 threads holds 8 blocks in a key whose destructor frees them and
 * allocates one block that outlives the thread.
 */
#define TX_THREADS 4
#define TX_BLOCKS  8

struct tx_thread {
	pthread_t th;
	struct book b;
	void *blocks[TX_BLOCKS];
	void *left;                     /* made by the destructor, kept */
};

static struct tx_thread tx[TX_THREADS];
static pthread_key_t tx_key;

static void tx_dtor(void *arg)
{
	struct tx_thread *t = arg;

	for (int i = 0; i < TX_BLOCKS; i++)
		t_free(&t->b, t->blocks[i]);
	t->left = t_malloc(&t->b, 5000 + (size_t)(t - tx) * 100);
}

static void *tx_main(void *arg)
{
	struct tx_thread *t = arg;

	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < TX_BLOCKS; i++)
		t->blocks[i] = t_malloc(&t->b, 3000 + (size_t)i);
	pthread_setspecific(tx_key, t);
	return NULL;
}

static int thread_exit(void)
{
	struct book all = { 0 };
	struct memprobe_stats s;

	pthread_barrier_init(&bar, NULL, TX_THREADS + 1);
	if (pthread_key_create(&tx_key, tx_dtor) != 0) {
		FAIL("pthread_key_create\n");
		return failures;
	}
	for (int i = 0; i < TX_THREADS; i++)
		if (pthread_create(&tx[i].th, NULL, tx_main, &tx[i]) != 0) {
			FAIL("pthread_create\n");
			_exit(1);
		}
	pthread_barrier_wait(&bar);
	snapshot(&base);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < TX_THREADS; i++) {
		pthread_join(tx[i].th, NULL);
		b_add(&all, &tx[i].b);
	}
	check_snapshot("thread_exit", &base, &all);
	snapshot(&s);
	if (s.threads != 1)
		FAIL("snapshot thread_exit: threads %llu, want 1\n", (unsigned long long)s.threads);
	expect_heap(&base, &all);
	expect_eq("memprobe_threads", 1);
	ready();
	for (int i = 0; i < TX_THREADS; i++)
		t_free(&all, tx[i].left);
	return failures;
}

/* ---- peak ---- */

#define PEAK_BLOCKS 1024
#define PEAK_SIZE   (64 * 1024)

/* 64 MiB allocated and freed, then 1 MiB: the peak stays at 64 MiB,
 * within one thread's batch below the truth and never above it. */
static int peak(void)
{
	static void *blocks[PEAK_BLOCKS];
	struct book b = { 0 };
	struct memprobe_stats s;
	double truth, lo;
	void *last;

	snapshot(&base);
	for (int i = 0; i < PEAK_BLOCKS; i++) {
		blocks[i] = t_malloc(&b, PEAK_SIZE);
		memset(blocks[i], i, PEAK_SIZE);
	}
	for (int i = 0; i < PEAK_BLOCKS; i++)
		t_free(&b, blocks[i]);
	last = t_malloc(&b, MIB);
	truth = (double)((int64_t)base.heap_live_bytes + b.peak);
	if (truth < (double)base.heap_peak_bytes)
		truth = (double)base.heap_peak_bytes;
	lo = truth - BATCH;

	check_snapshot("peak", &base, &b);
	snapshot(&s);
	if ((double)s.heap_peak_bytes > truth || (double)s.heap_peak_bytes < lo)
		FAIL("snapshot peak: heap_peak_bytes %llu, want [%.0f, %.0f]\n",
		    (unsigned long long)s.heap_peak_bytes, lo, truth);
	say("info true peak %.0f, live %lld\n", truth,
	    (long long)((int64_t)base.heap_live_bytes + b.live));
	expect_heap(&base, &b);
	expect("memprobe_heap_peak_bytes", NULL, lo, truth);
	ready();
	t_free(&b, last);
	return failures;
}

/*
 * Two threads, strictly one after the other: A allocates 2 x 60000 B
 * (past its batch, so it publishes) and frees one (not past it, so it does
 * not); then B allocates 2 x 60000 B. Live bytes went 60k, 120k, 60k,
 * 120k, 180k: the true peak is 180k above the baseline, and a peak that adds
 * A's last publication to B's counts 240k. That overstatement is within the
 * documented bound: threads x 64 KiB either way (A's 60k unpublished free).
 */
#define PT_SIZE 60000

static struct book pt_book;             /* shared, but used in turn */
static sem_t pt_go[2], pt_done[2], pt_exit;

static void *pt_main(void *arg)
{
	int who = (int)(intptr_t)arg;
	void *p[2];

	pthread_barrier_wait(&bar);
	sem_wait(&pt_go[who]);
	p[0] = t_malloc(&pt_book, PT_SIZE);
	p[1] = t_malloc(&pt_book, PT_SIZE);
	if (who == 0) {
		t_free(&pt_book, p[0]);
		p[0] = NULL;
	}
	sem_post(&pt_done[who]);
	sem_wait(&pt_exit);
	t_free(&pt_book, p[0]);
	t_free(&pt_book, p[1]);
	return NULL;
}

static int peak_threads(void)
{
	pthread_t th[2];
	struct memprobe_stats s;
	double truth, lo, hi;

	pthread_barrier_init(&bar, NULL, 3);
	sem_init(&pt_exit, 0, 0);
	for (int i = 0; i < 2; i++) {
		sem_init(&pt_go[i], 0, 0);
		sem_init(&pt_done[i], 0, 0);
		if (pthread_create(&th[i], NULL, pt_main, (void *)(intptr_t)i) != 0) {
			FAIL("pthread_create\n");
			_exit(1);
		}
	}
	pthread_barrier_wait(&bar);
	snapshot(&base);
	for (int i = 0; i < 2; i++) {
		sem_post(&pt_go[i]);
		sem_wait(&pt_done[i]);
	}
	truth = (double)((int64_t)base.heap_live_bytes + pt_book.peak);
	if (truth < (double)base.heap_peak_bytes)
		truth = (double)base.heap_peak_bytes;
	/* Three threads may each hold an unpublished change back. */
	lo = truth > 3.0 * BATCH ? truth - 3.0 * BATCH : 0;
	hi = truth + 3.0 * BATCH;

	check_snapshot("peak_threads", &base, &pt_book);
	snapshot(&s);
	if ((double)s.heap_peak_bytes > hi || (double)s.heap_peak_bytes < lo)
		FAIL("snapshot peak_threads: heap_peak_bytes %llu, want [%.0f, %.0f] "
		    "(true peak %.0f)\n", (unsigned long long)s.heap_peak_bytes, lo, hi, truth);
	expect_heap(&base, &pt_book);
	expect("memprobe_heap_peak_bytes", NULL, lo, hi);
	ready();
	sem_post(&pt_exit);
	sem_post(&pt_exit);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	return failures;
}

/* ---- fork ---- */

#define FK_HELPER_BLOCKS 16
#define FK_HELPER_SIZE   10000
#define FK_PARENT_BLOCKS 32
#define FK_PARENT_SIZE   20000
#define FK_CHILD_BLOCKS  24
#define FK_CHILD_SIZE    30000
#define FK_SPIKE         (8 * MIB)

static struct book fk_helper_book;
static void *fk_helper_blocks[FK_HELPER_BLOCKS];
static sem_t fk_helper_ready, fk_helper_exit;

static void *fk_helper(void *arg)
{
	(void)arg;
	for (int i = 0; i < FK_HELPER_BLOCKS; i++)
		fk_helper_blocks[i] = t_malloc(&fk_helper_book, FK_HELPER_SIZE);
	sem_post(&fk_helper_ready);
	sem_wait(&fk_helper_exit);
	return NULL;                     /* exits holding its blocks */
}

/*
 * The child: its figures are the parent's at the fork (a helper thread that
 * did not come along included) plus its own; its peak starts from what it
 * inherited, not from the parent's 8 MiB spike. Waits for end of input on
 * ctl, frees its blocks and leaves with _exit, whose final sample shows
 * them gone.
 */
static void fork_child(const struct memprobe_stats *at_fork, int ctl, int done)
{
	static void *blocks[FK_CHILD_BLOCKS];
	struct book b = { 0 };
	struct memprobe_stats s, w;
	char c = 'x';
	long child = getpid();

	self_pid = child;
	for (int i = 0; i < FK_CHILD_BLOCKS; i++)
		blocks[i] = t_malloc(&b, FK_CHILD_SIZE);
	check_snapshot("fork child", at_fork, &b);
	snapshot(&s);
	if (s.threads != 1)
		FAIL("snapshot fork child: threads %llu, want 1\n", (unsigned long long)s.threads);
	if (s.heap_peak_bytes > s.heap_live_bytes || s.heap_peak_bytes + BATCH < s.heap_live_bytes)
		FAIL("snapshot fork child: peak %llu, want [%llu, %llu]\n",
		    (unsigned long long)s.heap_peak_bytes,
		    (unsigned long long)(s.heap_live_bytes - BATCH),
		    (unsigned long long)s.heap_live_bytes);
	expect_heap(at_fork, &b);
	want_heap(at_fork, &b, &w);
	expect("memprobe_heap_peak_bytes", NULL, (double)w.heap_live_bytes - BATCH,
	    (double)w.heap_live_bytes);
	expect_eq("memprobe_threads", 1);
	/* After _exit: its own blocks freed, the inherited heap still there. */
	expect_kind("final", child, "memprobe_heap_live_bytes", NULL,
	    (double)at_fork->heap_live_bytes, (double)at_fork->heap_live_bytes);
	expect_kind("final", child, "memprobe_heap_frees_total", NULL,
	    (double)(at_fork->heap_frees + FK_CHILD_BLOCKS),
	    (double)(at_fork->heap_frees + FK_CHILD_BLOCKS));
	say("child %ld\n", child);
	if (write(done, &c, 1) != 1)
		_exit(1);
	for (;;) {
		ssize_t n = read(ctl, &c, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	for (int i = 0; i < FK_CHILD_BLOCKS; i++)
		t_free(&b, blocks[i]);
	_exit(failures ? 1 : 0);
}

static int forked(void)
{
	static void *blocks[FK_PARENT_BLOCKS];
	struct memprobe_stats at_fork, s;
	struct book b = { 0 };
	int ctl[2], done[2], status;
	pthread_t helper;
	pid_t pid;
	char c;
	void *spike;

	snapshot(&base);
	sem_init(&fk_helper_ready, 0, 0);
	sem_init(&fk_helper_exit, 0, 0);
	if (pthread_create(&helper, NULL, fk_helper, NULL) != 0) {
		FAIL("pthread_create\n");
		_exit(1);
	}
	sem_wait(&fk_helper_ready);
	spike = t_malloc(&b, FK_SPIKE);
	memset(spike, 1, FK_SPIKE);
	t_free(&b, spike);
	for (int i = 0; i < FK_PARENT_BLOCKS; i++)
		blocks[i] = t_malloc(&b, FK_PARENT_SIZE);
	if (pipe(ctl) < 0 || pipe(done) < 0) {
		FAIL("pipe\n");
		_exit(1);
	}
	snapshot(&at_fork);
	if (at_fork.heap_peak_bytes < FK_SPIKE)
		FAIL("snapshot fork parent: peak %llu, want >= %lu\n",
		    (unsigned long long)at_fork.heap_peak_bytes, FK_SPIKE);
	pid = fork();
	if (pid < 0) {
		FAIL("fork\n");
		_exit(1);
	}
	if (pid == 0) {
		close(ctl[1]);
		close(done[0]);
		fork_child(&at_fork, ctl[0], done[1]);
	}
	close(ctl[0]);
	close(done[1]);
	if (read(done[0], &c, 1) != 1)
		FAIL("the child did not get going\n");

	/* The parent's figures did not move with the child's. */
	snapshot(&s);
	cmp("fork parent", "heap_live_bytes", s.heap_live_bytes, at_fork.heap_live_bytes);
	cmp("fork parent", "heap_allocations", s.heap_allocations, at_fork.heap_allocations);
	expect_eq("memprobe_heap_live_bytes", (double)at_fork.heap_live_bytes);
	expect_eq("memprobe_heap_live_blocks", (double)at_fork.heap_live_blocks);
	expect_eq("memprobe_heap_allocations_total", (double)at_fork.heap_allocations);
	expect("memprobe_heap_peak_bytes", NULL, FK_SPIKE, 1e15);
	expect_eq("memprobe_threads", 2);
	ready();

	close(ctl[1]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the child failed (status 0x%x)\n", status);
	sem_post(&fk_helper_exit);
	pthread_join(helper, NULL);
	for (int i = 0; i < FK_PARENT_BLOCKS; i++)
		t_free(&b, blocks[i]);
	return failures;
}

/* ---- the final sample while another thread forks ---- */

/*
 * exit() must send a final sample even when another thread is inside
 * fork() at that moment (the agent's fork handlers hold its reporter lock
 * for the whole fork). A 30000-VMA address space makes each fork take tens
 * of milliseconds, and two threads fork in a loop (the children leave at
 * once with a raw exit_group, so they make no connection of their own).
 * The program holds 4 MiB until its input ends, then frees it and exits:
 * the final figures, without the 4 MiB, must reach the daemon. It first
 * re-runs itself with an interval of an hour, so the reporter thread does
 * not tick (nor wait on the lock) meanwhile; memprobe_flush() sends the
 * sample that shows the 4 MiB.
 */
#define XF_PAGES 30000
#define XF_HOLD  (4 * MIB)

static atomic_int xf_forks, xf_started;

static void *xf_forker(void *arg)
{
	(void)arg;
	atomic_fetch_add(&xf_started, 1);
	for (;;) {
		pid_t pid = fork();

		if (pid == 0)
			syscall(SYS_exit_group, 0);
		if (pid > 0)
			atomic_fetch_add(&xf_forks, 1);
	}
	return NULL;
}

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static int exit_while_forking(char **argv)
{
	const char *interval = getenv("MEMPROBE_INTERVAL_MS");
	struct memprobe_stats s;
	struct book b = { 0 };
	pthread_t th;
	char *m;
	void *hold;
	int i;

	if (interval == NULL || strcmp(interval, "3600000") != 0) {
		setenv("MEMPROBE_INTERVAL_MS", "3600000", 1);
		execv("/proc/self/exe", argv);
		FAIL("exec /proc/self/exe: %s\n", strerror(errno));
		return failures;
	}
	m = mmap(NULL, XF_PAGES * 4096ul, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (m == MAP_FAILED) {
		FAIL("mmap\n");
		return failures;
	}
	/* Every other page inaccessible: one mapping becomes 30000. */
	for (i = 0; i < XF_PAGES; i += 2)
		if (mprotect(m + (size_t)i * 4096, 4096, PROT_NONE) != 0) {
			say("info mprotect %d: %s\n", i, strerror(errno));
			break;
		}
	snapshot(&base);
	hold = t_malloc(&b, XF_HOLD);
	memset(hold, 1, XF_HOLD);
	/* A sample with the 4 MiB, now (the connection may take a moment). */
	for (i = 0; i < 500 && flush_fn() != 0; i++)
		nap_ms(10);
	signal(SIGCHLD, SIG_IGN);       /* children are reaped by the kernel */
	/* Two forkers: while one forks, the other waits for the lock. */
	for (i = 0; i < 2; i++)
		if (pthread_create(&th, NULL, xf_forker, NULL) != 0) {
			FAIL("pthread_create\n");
			return failures;
		}
	for (i = 0; i < 1000 && (atomic_load(&xf_started) < 2 ||
	    atomic_load(&xf_forks) < 2); i++)
		nap_ms(5);
	/* From here on only the 4 MiB moves (the threads' start allocated). */
	snapshot(&s);
	/* The daemon has the 4 MiB (not the threads' few bytes: no sample
	 * was sent after they started). */
	expect("memprobe_heap_live_bytes", NULL, (double)malloc_usable_size(hold),
	    (double)s.heap_live_bytes);
	expect_kind("final", self_pid, "memprobe_heap_live_bytes", NULL,
	    (double)(s.heap_live_bytes - malloc_usable_size(hold)),
	    (double)(s.heap_live_bytes - malloc_usable_size(hold)));
	/*
	 * The agent's exit path spins on sched_yield(); on a loaded machine
	 * each yield can last a time slice. As a real-time thread (when we may
	 * be one) this thread yields only to its peers, so the spin lasts what
	 * it lasts on an idle machine.
	 */
	{
		struct sched_param sp = { .sched_priority = 1 };
		int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);

		say("info %d forks so far; SCHED_FIFO: %s\n", atomic_load(&xf_forks),
		    err == 0 ? "yes" : strerror(err));
	}
	ready();
	t_free(&b, hold);
	exit(failures ? 1 : 0);         /* the forkers are still forking */
}

/* ---- exec ---- */

/* Holds 16 MiB, then execs alloc_hold: the same pid goes on being tracked,
 * with the new image's figures. */
static int exec_hold(const char *alloc_hold)
{
	static void *blocks[16];
	struct book b = { 0 };
	char *argv[] = { (char *)"alloc_hold", (char *)"32", (char *)"32768", NULL };

	snapshot(&base);
	for (int i = 0; i < 16; i++) {
		blocks[i] = t_malloc(&b, MIB);
		memset(blocks[i], i, MIB);
	}
	expect_heap(&base, &b);
	if (ready() < 0)
		return failures;
	execv(alloc_hold, argv);
	FAIL("exec %s: %s\n", alloc_hold, strerror(errno));
	return failures;
}

/* ---- gauges ---- */

static int gauge(void)
{
	char longname[200];
	int err;

	memset(longname, 'a', 129);
	longname[129] = '\0';
	if ((err = gauge_fn("queue_depth", 41)) != 0)
		FAIL("memprobe_gauge_set(queue_depth): %d\n", err);
	if ((err = gauge_fn("queue_depth", 43)) != 0)
		FAIL("memprobe_gauge_set(queue_depth) again: %d\n", err);
	if ((err = gauge_fn("cache.hit-ratio:x", 0.25)) != 0)
		FAIL("memprobe_gauge_set(cache.hit-ratio:x): %d\n", err);
	if ((err = gauge_fn("neg", -1.5e9)) != 0)
		FAIL("memprobe_gauge_set(neg): %d\n", err);
	if ((err = gauge_fn("", 1)) != -EINVAL)
		FAIL("memprobe_gauge_set(\"\"): %d, want -EINVAL\n", err);
	if ((err = gauge_fn("has space", 1)) != -EINVAL)
		FAIL("memprobe_gauge_set(\"has space\"): %d, want -EINVAL\n", err);
	if ((err = gauge_fn("quote\"d", 1)) != -EINVAL)
		FAIL("memprobe_gauge_set(quote\"d): %d, want -EINVAL\n", err);
	if ((err = gauge_fn(longname, 1)) != -EINVAL)
		FAIL("memprobe_gauge_set(129 chars): %d, want -EINVAL\n", err);
	if ((err = gauge_fn(NULL, 1)) != -EINVAL)
		FAIL("memprobe_gauge_set(NULL): %d, want -EINVAL\n", err);
	longname[128] = '\0';
	if ((err = gauge_fn(longname, 128)) != 0)
		FAIL("memprobe_gauge_set(128 chars): %d\n", err);
	flush_fn();     /* may be refused before the reporter connects; it retries */
	expect("memprobe_program_value", "name=queue_depth", 43, 43);
	expect("memprobe_program_value", "name=cache.hit-ratio:x", 0.25, 0.25);
	expect("memprobe_program_value", "name=neg", -1.5e9, -1.5e9);
	say("expect %ld memprobe_program_value name=%s 128 128\n", self_pid, longname);
	ready();
	return failures;
}

/* ---- mmap ---- */

static void mm_check(const char *when, uint64_t want)
{
	struct memprobe_stats s;

	snapshot(&s);
	if (s.mmap_live_bytes != want)
		FAIL("mmap %s: mmap_live_bytes %llu, want %llu\n", when,
		    (unsigned long long)s.mmap_live_bytes, (unsigned long long)want);
	if (s.heap_live_bytes != base.heap_live_bytes)
		FAIL("mmap %s: heap_live_bytes moved: %llu, was %llu\n", when,
		    (unsigned long long)s.heap_live_bytes,
		    (unsigned long long)base.heap_live_bytes);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		FAIL("mmap(%zu): %s\n", len, strerror(errno));
		_exit(1);
	}
	return p;
}

static int mapped(void)
{
	uint64_t m0;
	char *a, *b, *c, *d, *e, *f;
	int fd;

	snapshot(&base);
	m0 = base.mmap_live_bytes;
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		FAIL("open /proc/self/exe\n");
		_exit(1);
	}

	a = map_anon(4 * MIB);
	memset(a, 1, 4 * MIB);
	mm_check("4 MiB anonymous", m0 + 4 * MIB);
	if (munmap(a + MIB, MIB) != 0)
		FAIL("munmap hole\n");
	mm_check("a 1 MiB hole punched", m0 + 3 * MIB);
	f = mmap(a + MIB, MIB, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (f != a + MIB)
		FAIL("mmap file into the hole\n");
	mm_check("a file mapped into the hole", m0 + 3 * MIB);
	f = mmap(NULL, 64 * KIB, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		FAIL("mmap file\n");
	mm_check("a file mapping", m0 + 3 * MIB);
	if (munmap(f, 64 * KIB) != 0)
		FAIL("munmap file\n");
	mm_check("the file mapping unmapped", m0 + 3 * MIB);
	/* One munmap over 3 MiB anonymous and 1 MiB file: only 3 MiB go. */
	if (munmap(a, 4 * MIB) != 0)
		FAIL("munmap all\n");
	mm_check("anonymous and file unmapped at once", m0);

	b = map_anon(2 * MIB);
	b = mremap(b, 2 * MIB, 6 * MIB, MREMAP_MAYMOVE);
	if (b == MAP_FAILED) {
		FAIL("mremap grow\n");
		_exit(1);
	}
	memset(b, 2, 6 * MIB);
	mm_check("mremap 2 -> 6 MiB", m0 + 6 * MIB);
	if (mremap(b, 6 * MIB, MIB, 0) != b)
		FAIL("mremap shrink\n");
	mm_check("mremap 6 -> 1 MiB", m0 + MIB);
	c = map_anon(3 * 4096 + 100);
	mm_check("3 pages + 100 B (4 pages)", m0 + MIB + 4 * 4096);
	if (munmap(c, 3 * 4096 + 100) != 0)
		FAIL("munmap 3 pages + 100 B\n");
	mm_check("3 pages + 100 B unmapped", m0 + MIB);
	errno = 0;
	if (mmap(NULL, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED)
		FAIL("mmap(SIZE_MAX/2) succeeded\n");
	mm_check("a failed mmap", m0 + MIB);
	d = map_anon(3 * MIB);
	mm_check("another 3 MiB", m0 + 4 * MIB);

	/* Mappings placed over counted ones: never counted twice. */
	e = map_anon(4 * MIB);
	mm_check("4 MiB more", m0 + 8 * MIB);
	if (mmap(e + MIB, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
	    -1, 0) != e + MIB)
		FAIL("mmap MAP_FIXED anonymous\n");
	mm_check("1 MiB anonymous MAP_FIXED over it", m0 + 8 * MIB);
	if (mmap(e + 2 * MIB, MIB, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) != e + 2 * MIB)
		FAIL("mmap MAP_FIXED file\n");
	mm_check("1 MiB file MAP_FIXED over it", m0 + 7 * MIB);
	if (mremap(e, MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED, e + 3 * MIB) != e + 3 * MIB)
		FAIL("mremap MREMAP_FIXED\n");
	mm_check("its first 1 MiB moved over its last", m0 + 6 * MIB);
	if (munmap(e + 1, 4096) == 0)
		FAIL("munmap of an unaligned address succeeded\n");
	mm_check("a failed munmap", m0 + 6 * MIB);
	if (munmap(e, 4 * MIB) != 0)
		FAIL("munmap e\n");
	mm_check("all of it unmapped", m0 + 4 * MIB);

	expect_eq("memprobe_mmap_live_bytes", (double)(m0 + 4 * MIB));
	expect_eq("memprobe_heap_live_bytes", (double)base.heap_live_bytes);
	ready();
	munmap(b, MIB);
	munmap(d, 3 * MIB);
	close(fd);
	return failures;
}

/* ---- stack ---- */

#define FRAME 4096

static uintptr_t deepest;           /* address of the deepest frame's buffer */

/* Recurses n frames of about FRAME bytes, touching each, and allocates
 * only at the bottom, or (quiet) never: then only resident pages can tell
 * how deep it went. */
static __attribute__((noinline)) int recurse(int n, int quiet)
{
	volatile char buf[FRAME];
	int r;

	buf[0] = (char)n;
	buf[FRAME - 1] = (char)n;
	if (n == 0) {
		void *p = quiet ? NULL : malloc(100);

		deepest = (uintptr_t)&buf[0];
		r = quiet || p != NULL;
		free(p);
	} else {
		r = recurse(n - 1, quiet);
	}
	/* Used after the call: no tail call, the frame stays. */
	return r + buf[0] + buf[FRAME - 1] - 2 * (char)n;
}

/* The end of the [stack] mapping, from /proc/self/maps, without stdio. */
static uintptr_t main_stack_top(void)
{
	static char maps[256 * 1024];
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	char *line, *end;

	if (fd < 0)
		return 0;
	while (len < sizeof(maps) - 1 &&
	    (n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	maps[len] = '\0';
	line = strstr(maps, "[stack]");
	if (line == NULL)
		return 0;
	while (line > maps && line[-1] != '\n')
		line--;
	strtoull(line, &end, 16);
	return *end == '-' ? (uintptr_t)strtoull(end + 1, NULL, 16) : 0;
}

static void expect_depth(const char *metric, double truth)
{
	expect(metric, NULL, truth * 0.9, truth * 1.1);
}

static void expect_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_STACK, &rl) != 0)
		return;
	expect_eq("memprobe_stack_limit_bytes",
	    rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur);
}

static void check_depth(const char *when, uint64_t got, double truth)
{
	if ((double)got < truth * 0.9 || (double)got > truth * 1.1)
		FAIL("snapshot %s: %llu, want %.0f +- 10%%\n", when, (unsigned long long)got, truth);
}

/* Recurses `frames` frames in the main thread (see recurse()) and returns
 * the depth reached, from the end of [stack] as the agent takes it; 0
 * having said why when it cannot tell. */
static double main_depth(int frames, int quiet)
{
	uintptr_t top;

	if (recurse(frames, quiet) != 1)
		FAIL("recursion\n");
	top = main_stack_top();
	if (top == 0 || deepest == 0 || deepest > top) {
		FAIL("no [stack] in /proc/self/maps\n");
		return 0;
	}
	say("info main thread depth %lu%s\n", (unsigned long)(top - deepest),
	    quiet ? ", no allocation" : "");
	return (double)(top - deepest);
}

/* The main thread allocates shallow, then at the bottom of 1 MiB. */
static int stack_main(void)
{
	struct memprobe_stats s;
	double truth;
	void *p = malloc(32);

	free(p);
	truth = main_depth(256, 0);
	if (truth == 0)
		return failures;
	snapshot(&s);
	check_depth("stack_main_peak_bytes", s.stack_main_peak_bytes, truth);
	check_depth("stack_peak_bytes", s.stack_peak_bytes, truth);
	expect_depth("memprobe_stack_main_peak_bytes", truth);
	expect_depth("memprobe_stack_peak_bytes", truth);
	expect_limit();
	ready();
	return failures;
}

static double thread_truth;

/* Its first allocation is at the bottom of 2 MiB of its 4 MiB stack. */
static void *deep_thread(void *arg)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	(void)arg;
	if (recurse(512, 0) != 1)
		FAIL("recursion\n");
	if (pthread_getattr_np(pthread_self(), &attr) != 0 ||
	    pthread_attr_getstack(&attr, &addr, &size) != 0) {
		FAIL("pthread_getattr_np\n");
		return NULL;
	}
	pthread_attr_destroy(&attr);
	if (size < 4 * MIB)
		FAIL("thread stack %zu, want 4 MiB\n", size);
	thread_truth = (double)((uintptr_t)addr + size - deepest);
	return NULL;
}

static int stack_thread(void)
{
	struct memprobe_stats s;
	pthread_attr_t attr;
	pthread_t th;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 4 * MIB);
	if (pthread_create(&th, &attr, deep_thread, NULL) != 0) {
		FAIL("pthread_create\n");
		return failures;
	}
	pthread_attr_destroy(&attr);
	pthread_join(th, NULL);
	if (thread_truth <= 0)
		return failures;
	say("info thread depth %.0f\n", thread_truth);
	snapshot(&s);
	check_depth("stack_peak_bytes (the thread)", s.stack_peak_bytes, thread_truth);
	if (s.stack_main_peak_bytes > 256 * KIB)
		FAIL("snapshot stack_main_peak_bytes %llu: main never went deep\n",
		    (unsigned long long)s.stack_main_peak_bytes);
	expect_depth("memprobe_stack_peak_bytes", thread_truth);
	expect("memprobe_stack_main_peak_bytes", NULL, 1, 256 * KIB);
	expect_limit();
	ready();
	return failures;
}

/* ---- stack depth without allocations ---- */

#define QUIET_DEPTH (4 * MIB)
#define QUIET_FRAMES (QUIET_DEPTH / FRAME)

/* The daemon must find `truth` bytes (+- 10 % and a page) from resident
 * pages alone, now and once the program has exited. */
static void expect_quiet(const char *metric, double truth)
{
	expect(metric, NULL, truth * 0.9 - 4096, truth * 1.1 + 4096);
	expect_kind("final", self_pid, metric, NULL, truth * 0.9 - 4096, truth * 1.1 + 4096);
}

/* The main thread goes 4 MiB deep without allocating. */
static int stack_main_quiet(void)
{
	struct rlimit rl;
	double truth;

	if (getrlimit(RLIMIT_STACK, &rl) != 0 ||
	    (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < QUIET_DEPTH + 2 * MIB)) {
		FAIL("RLIMIT_STACK below 6 MiB: cannot recurse 4 MiB\n");
		return failures;
	}
	truth = main_depth((int)QUIET_FRAMES, 1);
	if (truth == 0)
		return failures;
	expect_quiet("memprobe_stack_main_peak_bytes", truth);
	expect_quiet("memprobe_stack_peak_bytes", truth);
	ready();
	return failures;
}

static sem_t quiet_done, quiet_exit;
static double quiet_truth;

/* Goes 4 MiB deep in its 8 MiB stack, then stays alive until told. */
static void *quiet_thread(void *arg)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	(void)arg;
	if (recurse((int)QUIET_FRAMES, 1) != 1)
		FAIL("recursion\n");
	if (pthread_getattr_np(pthread_self(), &attr) != 0 ||
	    pthread_attr_getstack(&attr, &addr, &size) != 0) {
		FAIL("pthread_getattr_np\n");
	} else {
		pthread_attr_destroy(&attr);
		quiet_truth = (double)((uintptr_t)addr + size - deepest);
	}
	sem_post(&quiet_done);
	sem_wait(&quiet_exit);
	return NULL;
}

/* A thread goes 4 MiB deep without allocating, and lives on meanwhile. */
static int stack_thread_quiet(void)
{
	pthread_attr_t attr;
	pthread_t th;

	sem_init(&quiet_done, 0, 0);
	sem_init(&quiet_exit, 0, 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 2 * QUIET_DEPTH);
	if (pthread_create(&th, &attr, quiet_thread, NULL) != 0) {
		FAIL("pthread_create\n");
		return failures;
	}
	pthread_attr_destroy(&attr);
	sem_wait(&quiet_done);
	if (quiet_truth > 0) {
		say("info thread depth %.0f, no allocation\n", quiet_truth);
		expect_quiet("memprobe_stack_peak_bytes", quiet_truth);
		/* The main thread stays shallow. */
		expect("memprobe_stack_main_peak_bytes", NULL, 1, 512 * KIB);
	}
	ready();
	sem_post(&quiet_exit);
	pthread_join(th, NULL);
	return failures;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	self_pid = getpid();
	find_api();
	if (strcmp(what, "entries") == 0)
		entries();
	else if (strcmp(what, "failed") == 0)
		failed();
	else if (strcmp(what, "threads") == 0)
		threads();
	else if (strcmp(what, "thread_exit") == 0)
		thread_exit();
	else if (strcmp(what, "peak") == 0)
		peak();
	else if (strcmp(what, "peak_threads") == 0)
		peak_threads();
	else if (strcmp(what, "fork") == 0)
		forked();
	else if (strcmp(what, "exit_while_forking") == 0)
		exit_while_forking(argv);
	else if (strcmp(what, "exec") == 0 && argc > 2)
		exec_hold(argv[2]);
	else if (strcmp(what, "gauge") == 0)
		gauge();
	else if (strcmp(what, "mmap") == 0)
		mapped();
	else if (strcmp(what, "stack_main") == 0)
		stack_main();
	else if (strcmp(what, "stack_thread") == 0)
		stack_thread();
	else if (strcmp(what, "stack_main_quiet") == 0)
		stack_main_quiet();
	else if (strcmp(what, "stack_thread_quiet") == 0)
		stack_thread_quiet();
	else {
		say("usage: accuracy entries|failed|threads|thread_exit|peak|peak_threads|fork|"
		    "exit_while_forking|"
		    "exec ALLOC_HOLD|gauge|mmap|stack_main|stack_thread|stack_main_quiet|"
		    "stack_thread_quiet\n");
		return 2;
	}
	return failures ? 1 : 0;
}
