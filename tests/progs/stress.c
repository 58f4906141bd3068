/* stress.c: 8 threads mixing every allocator entry point on random sizes, checking every byte they wrote; runs the same with and without an agent. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Usage: stress [ROUNDS]
 *
 * Each of THREADS threads owns a table of SLOTS blocks. A round has two
 * halves, split by barriers: first every thread churns its own table (random
 * slot; an empty one gets a block from a random entry point, a full one is
 * checked and then freed or realloc'd), then every thread works on its
 * neighbour's table, so blocks are freed and realloc'd by threads that did
 * not make them. Every block is filled with a pattern from its tag and size
 * and checked before it is touched again; calloc'd memory is checked zero
 * and realloc'd memory keeps its prefix.
 *
 * Prints one line of totals, identical on every run (each thread's choices
 * depend only on its seed and the barriers), and exits 0; on a corrupted
 * byte or a failed allocation it says which on stderr and exits 1.
 */

#define THREADS 8
#define SLOTS   256
#define OPS     4000

struct blk {
	unsigned char *p;
	size_t n;
	uint32_t tag;
	int zeroed;             /* fresh from calloc: still all zero */
};

struct table {
	struct blk b[SLOTS];
	uint64_t rng;
	uint64_t allocs, frees, reallocs, bytes;
	uint32_t next_tag;
	unsigned idx;
};

static struct table tables[THREADS];
static pthread_barrier_t bar;
static int rounds = 3;
static volatile int corrupt;

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

	if (r % 256 == 0)
		return 130000 + r % 400000;     /* past the mmap threshold */
	if (r % 16 == 1)
		return 2048 + r % 30000;
	return 1 + r % 600;
}

static unsigned char pattern(uint32_t tag, size_t i)
{
	return (unsigned char)(tag * 31u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

static void fill(struct blk *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->p[i] = pattern(b->tag, i);
	b->zeroed = 0;
}

static void die(const char *what, const struct blk *b, size_t at)
{
	fprintf(stderr, "stress: %s: block tag %u size %zu at byte %zu\n", what,
	    (unsigned)b->tag, b->n, at);
	corrupt = 1;
	exit(1);
}

static void verify(const struct blk *b, size_t upto)
{
	if (upto > b->n)
		upto = b->n;
	for (size_t i = 0; i < upto; i++) {
		unsigned char want = b->zeroed ? 0 : pattern(b->tag, i);

		if (b->p[i] != want)
			die("corrupted", b, i);
	}
	if (malloc_usable_size(b->p) < b->n)
		die("usable size below the size asked", b, 0);
}

static void make(struct table *t, struct blk *b)
{
	size_t n = rnd_size(&t->rng);
	void *p = NULL;
	int zero = 0;

	switch (rnd(&t->rng) % 7) {
	case 0:
		p = calloc(1, n);
		zero = 1;
		break;
	case 1:
		p = realloc(NULL, n);
		break;
	case 2:
		p = memalign(64, n);
		break;
	case 3:
		if (posix_memalign(&p, 128, n) != 0)
			p = NULL;
		break;
	case 4:
		p = aligned_alloc(32, (n + 31) & ~(size_t)31);
		break;
	case 5:
		p = reallocarray(NULL, n, 1);
		break;
	default:
		p = malloc(n);
		break;
	}
	if (p == NULL) {
		fprintf(stderr, "stress: allocation of %zu bytes failed\n", n);
		exit(1);
	}
	b->p = p;
	b->n = n;
	b->tag = t->next_tag++ * THREADS + t->idx;
	b->zeroed = zero;
	t->allocs++;
	t->bytes += n;
	if (zero)
		verify(b, n);
	fill(b);
}

static void drop(struct table *t, struct blk *b)
{
	verify(b, b->n);
	free(b->p);
	b->p = NULL;
	t->frees++;
}

static void resize(struct table *t, struct blk *b)
{
	size_t n = rnd_size(&t->rng);
	unsigned char *p;

	verify(b, b->n);
	p = realloc(b->p, n);
	if (p == NULL) {
		fprintf(stderr, "stress: realloc to %zu bytes failed\n", n);
		exit(1);
	}
	b->p = p;
	if (n < b->n)
		b->n = n;
	verify(b, b->n);        /* the kept prefix survived the move */
	b->n = n;
	fill(b);
	t->reallocs++;
	t->bytes += n;
}

/* One op on table `on`, with choices from `mine`'s generator. */
static void op(struct table *mine, struct table *on)
{
	struct blk *b = &on->b[rnd(&mine->rng) % SLOTS];

	if (b->p == NULL)
		make(mine, b);
	else if (rnd(&mine->rng) % 3 == 0)
		resize(mine, b);
	else
		drop(mine, b);
}

static void *worker(void *arg)
{
	struct table *t = arg;
	struct table *next = &tables[(t->idx + 1) % THREADS];

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < OPS; i++)
			op(t, t);
		pthread_barrier_wait(&bar);
		for (int i = 0; i < OPS / 4; i++)
			op(t, next);
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];
	uint64_t allocs = 0, frees = 0, reallocs = 0, bytes = 0;

	if (argc > 1 && (rounds = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: stress [ROUNDS]\n");
		return 2;
	}
	pthread_barrier_init(&bar, NULL, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		tables[i].idx = i;
		tables[i].rng = 0x2545f4914f6cdd1dull * (i + 1);
		if (pthread_create(&th[i], NULL, worker, &tables[i]) != 0) {
			fprintf(stderr, "stress: pthread_create: %s\n", strerror(errno));
			return 1;
		}
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < THREADS; i++) {
		struct table *t = &tables[i];

		for (int s = 0; s < SLOTS; s++)
			if (t->b[s].p != NULL)
				drop(t, &t->b[s]);
		allocs += t->allocs;
		frees += t->frees;
		reallocs += t->reallocs;
		bytes += t->bytes;
	}
	pthread_barrier_destroy(&bar);
	printf("stress: ok threads=%d rounds=%d allocs=%llu frees=%llu reallocs=%llu bytes=%llu\n",
	    THREADS, rounds, (unsigned long long)allocs, (unsigned long long)frees,
	    (unsigned long long)reallocs, (unsigned long long)bytes);
	return corrupt;
}
