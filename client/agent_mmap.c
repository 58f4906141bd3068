/* agent_mmap.c: the program's own anonymous mappings, tracked as sorted ranges for memprobe_mmap_live_bytes. */
#include "agent.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * munmap and mremap name an address range, not a mapping, and may cover
 * file mappings, parts of ours, or several of ours at once; so the counted
 * ranges are kept, sorted and disjoint, and every unmap subtracts exactly
 * the part of it that was counted. mmap is a system call that costs
 * microseconds, so a mutex here costs the program nothing it would notice;
 * the malloc hot path never comes here.
 *
 * The range array lives in memory mapped with raw system calls (our own
 * hooks must not see it) and only grows.
 */
struct range {
	uintptr_t lo, hi;
};

static pthread_mutex_t mm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range *ranges;
static size_t nranges, cap;
static int mm_full;                 /* growing failed: stop adding */
static _Atomic uint64_t mm_live;

static void *raw_mmap(size_t len)
{
	long r = syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return r == -1 ? NULL : (void *)r;
}

static int grow(void)
{
	size_t ncap = cap ? cap * 2 : 4096 / sizeof(struct range);
	struct range *n = raw_mmap(ncap * sizeof(struct range));

	if (n == NULL)
		return -1;
	if (nranges > 0)
		memcpy(n, ranges, nranges * sizeof(struct range));
	if (ranges != NULL)
		syscall(SYS_munmap, ranges, cap * sizeof(struct range));
	ranges = n;
	cap = ncap;
	return 0;
}

/* Index of the first range that ends above addr. */
static size_t first_above(uintptr_t addr)
{
	size_t lo = 0, hi = nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ranges[mid].hi <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void erase(size_t i)
{
	memmove(&ranges[i], &ranges[i + 1], (nranges - i - 1) * sizeof(struct range));
	nranges--;
}

static int insert(size_t i, uintptr_t lo, uintptr_t hi)
{
	if (nranges == cap && grow() < 0)
		return -1;
	memmove(&ranges[i + 1], &ranges[i], (nranges - i) * sizeof(struct range));
	ranges[i].lo = lo;
	ranges[i].hi = hi;
	nranges++;
	return 0;
}

/* Forgets [lo, hi); returns the bytes that were counted in it. */
static uint64_t remove_locked(uintptr_t lo, uintptr_t hi)
{
	size_t i = first_above(lo);
	uint64_t gone = 0;

	while (i < nranges && ranges[i].lo < hi) {
		struct range r = ranges[i];
		uintptr_t cut_lo = r.lo > lo ? r.lo : lo;
		uintptr_t cut_hi = r.hi < hi ? r.hi : hi;

		gone += cut_hi - cut_lo;
		if (r.lo < lo && r.hi > hi) {
			/* A hole in the middle: split. If the array cannot grow,
			 * the far part is forgotten and its bytes with it. */
			ranges[i].hi = lo;
			if (insert(i + 1, hi, r.hi) < 0)
				gone += r.hi - hi;
			break;
		} else if (r.lo < lo) {
			ranges[i].hi = lo;
			i++;
		} else if (r.hi > hi) {
			ranges[i].lo = hi;
			break;
		} else {
			erase(i);
		}
	}
	atomic_fetch_sub_explicit(&mm_live, gone, memory_order_relaxed);
	return gone;
}

static void add_locked(uintptr_t lo, uintptr_t hi)
{
	remove_locked(lo, hi);    /* MAP_FIXED may land on a range of ours */
	if (mm_full)
		return;
	if (insert(first_above(lo), lo, hi) < 0) {
		mm_full = 1;
		agent_warn("cannot grow the mapping table; further mappings are not counted");
		return;
	}
	atomic_fetch_add_explicit(&mm_live, hi - lo, memory_order_relaxed);
}

static uintptr_t page_up(uintptr_t n)
{
	uintptr_t page = 4096;   /* the kernel rounds to its page; so do we */

	return (n + page - 1) & ~(page - 1);
}

void agent_mmap_lock(sigset_t *saved)
{
	sigset_t all;

	/* A signal handler that maps (a collector stopping the world, a crash
	 * handler) must not land while this thread holds the lock: it would
	 * wait for itself. Two system calls beside one that costs far more. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
	pthread_mutex_lock(&mm_lock);
}

void agent_mmap_unlock(const sigset_t *saved)
{
	pthread_mutex_unlock(&mm_lock);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

void agent_mmap_added_locked(void *addr, size_t len, int anonymous)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + page_up(len);

	if (anonymous)
		add_locked(lo, hi);
	else
		remove_locked(lo, hi);
}

void agent_mmap_removed_locked(void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr;

	remove_locked(lo, lo + page_up(len));
}

void agent_mmap_moved_locked(void *old, size_t old_len, void *new, size_t new_len,
    int keep_old)
{
	uintptr_t lo = (uintptr_t)old, nlo = (uintptr_t)new;
	int counted;

	if (keep_old) {
		/* MREMAP_DONTUNMAP: the old range stays mapped (and counted). */
		size_t i = first_above(lo);
		counted = i < nranges && ranges[i].lo <= lo;
	} else {
		counted = remove_locked(lo, lo + page_up(old_len)) > 0;
	}
	if (counted)
		add_locked(nlo, nlo + page_up(new_len));
	else
		remove_locked(nlo, nlo + page_up(new_len));
}

uint64_t agent_mmap_live(void)
{
	return atomic_load_explicit(&mm_live, memory_order_relaxed);
}

void agent_mmap_prefork(void)
{
	pthread_mutex_lock(&mm_lock);
}

void agent_mmap_postfork(int child)
{
	/* The child keeps every mapping, so it keeps the table too. */
	if (child)       /* an assignment: see agent_region_postfork_child() */
		mm_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	else
		pthread_mutex_unlock(&mm_lock);
}
