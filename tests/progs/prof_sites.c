/* prof_sites.c: holds 32, 16 and 8 MiB through three known call chains and churns a fourth; the heap profile's known answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>

#include "progs/progs.h"

/*
 * Usage: prof_sites [SCALE]
 *
 * Built with -O2 -fomit-frame-pointer, as Debian builds its programs, so
 * stacks must be read from the call frame information. Every block size is
 * a mixture of small sizes (16..496 bytes, multiples of 16), so the
 * estimates are tested on the blocks programs really make. With SCALE 1
 * (the default) it:
 *
 *   holds  32 MiB from hold_a (main -> chain_a -> hold_a)
 *          16 MiB from hold_b (main -> chain_b -> hold_b)
 *           8 MiB from hold_c (main -> hold_c)
 *   allocates and frees 64 MiB in churn_d, a few blocks live at a time
 *   allocates 16 MiB in gone_e and frees all of it
 *
 * then prints, for each site, "site NAME inuse BYTES OBJECTS alloc BYTES
 * OBJECTS" with the exact usable bytes (malloc_usable_size, which is what
 * the profile counts) and blocks, then "ready PID", and waits for a line
 * on stdin ("exit" or end of input) before it frees the rest and exits 0.
 */

#define MIB (1024ul * 1024)

/* The blocks a site holds; the array itself is mapped, not on the heap,
 * so the heap holds the sites' blocks only. */
struct held {
	void **v;
	size_t n, cap;
};

/* What a site allocated and holds, in usable bytes and blocks. */
struct tally {
	size_t alloc_bytes, alloc_objects, inuse_bytes, inuse_objects;
};

static struct tally t_a, t_b, t_c, t_d, t_e;

static void tally_alloc(struct tally *t, void *p)
{
	t->alloc_bytes += malloc_usable_size(p);
	t->alloc_objects++;
	t->inuse_bytes += malloc_usable_size(p);
	t->inuse_objects++;
}

static void tally_free(struct tally *t, void *p)
{
	t->inuse_bytes -= malloc_usable_size(p);
	t->inuse_objects--;
}

static void say_site(const char *name, const struct tally *t)
{
	char line[160];

	snprintf(line, sizeof(line), "site %s inuse %zu %zu alloc %zu %zu\n", name, t->inuse_bytes,
	    t->inuse_objects, t->alloc_bytes, t->alloc_objects);
	prog_say(line);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static size_t next_size(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return 16 + (size_t)(rng % 31) * 16;
}

/* Allocates blocks until `bytes` are held; the blocks go into h. */
static __attribute__((noinline)) void fill(struct held *h, size_t bytes, void *(*alloc)(size_t),
    struct tally *t)
{
	size_t done = 0;

	h->cap = bytes / 16 + 1;
	h->v = mmap(NULL, h->cap * sizeof(void *), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	h->n = 0;
	if (h->v == MAP_FAILED)
		exit(3);
	while (done < bytes) {
		size_t s = next_size();
		void *p;

		if (s > bytes - done)
			s = bytes - done;
		p = alloc(s);
		if (p == NULL)
			exit(3);
		memset(p, 1, s);
		tally_alloc(t, p);
		h->v[h->n++] = p;
		done += s;
	}
}

static void release(struct held *h, struct tally *t)
{
	for (size_t i = 0; i < h->n; i++) {
		tally_free(t, h->v[i]);
		free(h->v[i]);
	}
	munmap(h->v, h->cap * sizeof(void *));
	h->v = NULL;
	h->n = 0;
}

/* Each site is its own function calling malloc, so each is a stack of its
 * own; the store of its tag keeps the compiler from folding identical
 * functions into one (-fipa-icf), the asm from inlining them. */
static volatile int site_tag;

#define SITE(name, tag) \
	static __attribute__((noinline)) void *name(size_t s) \
	{ \
		void *p = malloc(s); \
		site_tag = tag; \
		__asm__ volatile("" : : "r"(p) : "memory"); \
		return p; \
	}

SITE(hold_a, 1)
SITE(hold_b, 2)
SITE(hold_c, 3)
SITE(churn_d, 4)
SITE(gone_e, 5)

static __attribute__((noinline)) void chain_a(struct held *h, size_t bytes)
{
	fill(h, bytes, hold_a, &t_a);
	__asm__ volatile("" : : : "memory");
}

static __attribute__((noinline)) void chain_b(struct held *h, size_t bytes)
{
	fill(h, bytes, hold_b, &t_b);
	__asm__ volatile("" : : : "memory");
}

/* Allocates `bytes` in all, holding at most 64 blocks at a time. */
static __attribute__((noinline)) void churn(size_t bytes)
{
	void *ring[64] = { 0 };
	size_t done = 0, i = 0;

	while (done < bytes) {
		size_t s = next_size();

		if (ring[i % 64] != NULL)
			tally_free(&t_d, ring[i % 64]);
		free(ring[i % 64]);
		ring[i % 64] = churn_d(s);
		if (ring[i % 64] == NULL)
			exit(3);
		tally_alloc(&t_d, ring[i % 64]);
		memset(ring[i % 64], 2, s);
		done += s;
		i++;
	}
	for (i = 0; i < 64; i++) {
		if (ring[i] != NULL)
			tally_free(&t_d, ring[i]);
		free(ring[i]);
	}
}

int main(int argc, char **argv)
{
	unsigned long scale = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;
	struct held a, b, c, e;
	char line[64];

	if (scale == 0 || scale > 64) {
		fprintf(stderr, "usage: prof_sites [SCALE 1..64]\n");
		return 2;
	}
	chain_a(&a, 32 * MIB * scale);
	chain_b(&b, 16 * MIB * scale);
	fill(&c, 8 * MIB * scale, hold_c, &t_c);
	churn(64 * MIB * scale);
	fill(&e, 16 * MIB * scale, gone_e, &t_e);
	release(&e, &t_e);
	say_site("hold_a", &t_a);
	say_site("hold_b", &t_b);
	say_site("hold_c", &t_c);
	say_site("churn_d", &t_d);
	say_site("gone_e", &t_e);
	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	prog_say(line);
	prog_read_line(line, sizeof(line));
	release(&a, &t_a);
	release(&b, &t_b);
	release(&c, &t_c);
	return 0;
}
