/* agent_mmap.c: the program's own anonymous mappings, tracked as ranges for memprobe_mmap_live_bytes, without a lock across any system call. */
#include "agent.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * munmap and mremap name an address range, not a mapping, and may cover
 * file mappings, parts of ours, or several of ours at once; so the table
 * keeps sorted, disjoint ranges and every change rewrites exactly the part
 * of it that it covers.
 *
 * No lock is ever held across a system call, and no thread ever waits for
 * another. A hook makes its system call first, then writes what happened
 * as an "op" into one of a fixed set of slots (claimed with a CAS), then
 * tries to become the table's applier (an exchange on mm_busy). The
 * applier applies every published op, releases, and looks again, so an op
 * published while the table was busy is applied by whoever holds it. A
 * signal handler whose hook interrupts its own thread inside the applier,
 * or a stop-the-world handler that suspends an applier while another thread
 * maps, only publishes: nothing spins, nothing deadlocks; the ops wait in
 * their slots until the applier runs again. If every slot is taken (an
 * applier suspended for a long time) an op is dropped and said once under
 * MEMPROBE_DEBUG=1.
 *
 * Order. Ops are applied in whatever order they reach the table, not in the
 * kernel's, so each carries a ticket from one global counter and the table
 * is "last ticket wins" per address: a table entry keeps the ticket of the
 * op that wrote it, an op overwrites only parts with older tickets, and
 * what is unmapped stays in the table as an uncounted entry (a tombstone)
 * so that an older op applied late cannot bring it back. An unmap takes its
 * ticket before its system call and a map after it, so when the kernel
 * unmaps X before it maps X again elsewhere (thread A munmaps X, thread B's
 * mmap gets X), A's ticket is lower than B's and A's late removal leaves B's
 * mapping counted. The one case left open: a munmap racing with an mmap
 * into the same addresses, by a thread that did not learn the address
 * from the mapping thread (a blind munmap over a region another thread maps
 * into at that moment), may leave those pages counted until they are
 * unmapped again. Tombstones are dropped whenever no hook is between its
 * first ticket and its op's publication (every later op then has a higher
 * ticket), and, should a hook never come back (a handler that longjmps out
 * of one), once there are many, keeping the most recent 1024 tickets.
 *
 * fork: the child keeps every mapping, so it keeps the table; the fork
 * handlers take the applier role around fork (unless the forking thread is
 * itself an interrupted applier), so the child never sees a half-applied
 * table or a held flag.
 *
 * The table lives in memory mapped with raw system calls (our own hooks
 * must not see it).
 */

struct range {
	uintptr_t lo, hi;
	uint64_t ticket;
	int counted;                /* 0: a tombstone */
};

enum { OP_FREE, OP_FILLING, OP_READY };
enum { OP_MAP, OP_UNMAP, OP_REMAP };

struct op {
	_Atomic int state;
	int kind;
	int counted;                /* OP_MAP: anonymous; OP_REMAP: keep the old range */
	uintptr_t lo, hi;           /* the range mapped or unmapped; OP_REMAP: the old one */
	uintptr_t nlo, nhi;         /* OP_REMAP: the new range */
	uint64_t t_before, t_after;
};

#define NOPS 256
#define TOMB_SLACK 4096             /* tombstones kept before a forced sweep */
#define TOMB_KEEP 1024              /* tickets a forced sweep keeps */

static struct op ops[NOPS];
static _Atomic unsigned op_hint;
static _Atomic int op_pending;      /* ops READY, not yet applied */
static _Atomic int mm_busy;         /* someone is applying */
static _Atomic int mm_inflight;     /* hooks between agent_mmap_begin and publication */
static _Atomic uint64_t mm_ticket = 1;
static _Atomic int mm_dropped;

static __thread int mm_applying __attribute__((tls_model("initial-exec")));
static __thread int mm_depth __attribute__((tls_model("initial-exec")));

/* Applier's state: only touched with mm_busy held. */
static struct range *ranges;
static size_t nranges, cap, ntombs;
static int mm_full;                 /* growing failed: stop adding */
static _Atomic uint64_t mm_live;

static void *raw_mmap(size_t len)
{
	long r = syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return r == -1 ? NULL : (void *)r;
}

/* Makes room for `more` entries. Returns 0 or -1. */
static int reserve(size_t more)
{
	size_t ncap = cap ? cap : 4096 / sizeof(struct range);
	struct range *n;

	if (nranges + more <= cap)
		return 0;
	while (ncap < nranges + more)
		ncap *= 2;
	n = raw_mmap(ncap * sizeof(struct range));
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

static void put_at(size_t i, struct range r)
{
	memmove(&ranges[i + 1], &ranges[i], (nranges - i) * sizeof(struct range));
	ranges[i] = r;
	nranges++;
}

static void account(const struct range *r, int sign)
{
	if (r->counted)
		atomic_fetch_add_explicit(&mm_live, (uint64_t)sign * (r->hi - r->lo),
		    memory_order_relaxed);
	else if (sign > 0)
		ntombs++;
	else
		ntombs--;
}

/*
 * Writes [lo, hi) as counted or not with ticket t, except where the table
 * holds a newer ticket. Each step inserts at most two entries; if the
 * table cannot grow the rest of the op is dropped (and said once).
 */
static void assign(uintptr_t lo, uintptr_t hi, uint64_t t, int counted)
{
	size_t i = first_above(lo);
	uintptr_t pos = lo;

	while (pos < hi) {
		struct range e, piece = { pos, hi, t, counted };

		if (reserve(2) < 0) {
			if (!mm_full)
				agent_warn("cannot grow the mapping table; mappings are no longer counted exactly");
			mm_full = 1;
			return;
		}
		if (i == nranges || ranges[i].lo >= hi) {
			put_at(i, piece);              /* a gap up to hi */
			account(&ranges[i], 1);
			return;
		}
		e = ranges[i];
		if (e.lo > pos) {                      /* a gap before e */
			piece.hi = e.lo;
			put_at(i, piece);
			account(&ranges[i], 1);
			i++;
			pos = e.lo;
			continue;
		}
		if (e.ticket > t) {                    /* newer: it stays */
			pos = e.hi;
			i++;
			continue;
		}
		if (e.lo < pos) {                      /* keep e's part below pos */
			ranges[i].hi = pos;
			e.lo = pos;
			put_at(i + 1, e);
			ntombs += !e.counted;          /* one entry became two */
			i++;
		}
		if (e.hi > hi) {                       /* keep e's part above hi */
			struct range above = e;

			above.lo = hi;
			ranges[i].hi = hi;
			put_at(i + 1, above);
			ntombs += !above.counted;
		}
		account(&ranges[i], -1);
		ranges[i].ticket = t;
		ranges[i].counted = counted;
		account(&ranges[i], 1);
		pos = ranges[i].hi;
		i++;
	}
}

/* Whether any part of [lo, hi) is counted. */
static int counted_in(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = first_above(lo); i < nranges && ranges[i].lo < hi; i++)
		if (ranges[i].counted)
			return 1;
	return 0;
}

/* Drops tombstones with tickets below `below`. */
static void sweep(uint64_t below)
{
	size_t k = 0;

	for (size_t i = 0; i < nranges; i++) {
		if (!ranges[i].counted && ranges[i].ticket < below)
			continue;
		ranges[k++] = ranges[i];
	}
	nranges = k;
	ntombs = 0;
	for (size_t i = 0; i < nranges; i++)
		ntombs += !ranges[i].counted;
}

static void apply(const struct op *o)
{
	switch (o->kind) {
	case OP_MAP:
		assign(o->lo, o->hi, o->t_after, o->counted);
		break;
	case OP_UNMAP:
		assign(o->lo, o->hi, o->t_before, 0);
		break;
	case OP_REMAP: {
		int was = counted_in(o->lo, o->hi);

		if (!o->counted)
			assign(o->lo, o->hi, o->t_before, 0);
		assign(o->nlo, o->nhi, o->t_after, was);
		break;
	}
	}
}

/* Applies every published op. Runs with mm_busy held. */
static void apply_all(void)
{
	for (int i = 0; i < NOPS; i++) {
		struct op o;

		if (atomic_load_explicit(&ops[i].state, memory_order_acquire) != OP_READY)
			continue;
		o = ops[i];
		atomic_store_explicit(&ops[i].state, OP_FREE, memory_order_release);
		atomic_fetch_sub(&op_pending, 1);
		apply(&o);
	}
}

/* Drops tombstones no op can still need (see the top). mm_busy held. */
static void sweep_if_quiet(void)
{
	uint64_t t;

	if (ntombs == 0)
		return;
	t = atomic_load(&mm_ticket);
	if (atomic_load(&mm_inflight) == 0) {
		/* Every op with a ticket below t is published: apply them, and
		 * no later op can have a ticket below t. */
		apply_all();
		sweep(t);
	} else if (ntombs > TOMB_SLACK) {
		sweep(t > TOMB_KEEP ? t - TOMB_KEEP : 0);
	}
}

static int try_busy(void)
{
	return atomic_exchange_explicit(&mm_busy, 1, memory_order_acquire) == 0;
}

/* Applies what is published, unless someone else is at it (they will). */
static void drain(void)
{
	while (atomic_load(&op_pending) > 0 && try_busy()) {
		mm_applying = 1;
		apply_all();
		sweep_if_quiet();
		mm_applying = 0;
		atomic_store(&mm_busy, 0);
	}
}

static struct op *op_claim(void)
{
	unsigned start = atomic_fetch_add_explicit(&op_hint, 1, memory_order_relaxed);

	for (unsigned n = 0; n < NOPS; n++) {
		struct op *o = &ops[(start + n) % NOPS];
		int expect = OP_FREE;

		if (atomic_compare_exchange_strong(&o->state, &expect, OP_FILLING))
			return o;
	}
	return NULL;
}

static uintptr_t page_up(uintptr_t n)
{
	uintptr_t page = 4096;   /* the kernel rounds to its page; so do we */

	return (n + page - 1) & ~(page - 1);
}

uint64_t agent_mmap_begin(void)
{
	mm_depth++;
	atomic_fetch_add(&mm_inflight, 1);
	return atomic_fetch_add(&mm_ticket, 1);
}

/* Publishes *tmpl (its t_after is taken here), ends the hook, applies. */
static void finish(const struct op *tmpl)
{
	struct op *o = op_claim();

	if (o != NULL) {
		o->kind = tmpl->kind;
		o->counted = tmpl->counted;
		o->lo = tmpl->lo;
		o->hi = tmpl->hi;
		o->nlo = tmpl->nlo;
		o->nhi = tmpl->nhi;
		o->t_before = tmpl->t_before;
		o->t_after = atomic_fetch_add(&mm_ticket, 1);
		/* READY before the count: a count above zero then always has
		 * a READY op behind it, so no applier waits for a publisher. */
		atomic_store_explicit(&o->state, OP_READY, memory_order_release);
		atomic_fetch_add(&op_pending, 1);
	} else if (atomic_exchange(&mm_dropped, 1) == 0) {
		agent_debug("mapping table busy (an applier is suspended?): a mapping change was not counted");
	}
	agent_mmap_abort();
	drain();
}

void agent_mmap_abort(void)
{
	atomic_fetch_sub(&mm_inflight, 1);
	mm_depth--;
}

void agent_mmap_mapped(uint64_t ticket, void *addr, size_t len, int anonymous)
{
	struct op o = { .kind = OP_MAP, .counted = anonymous, .lo = (uintptr_t)addr,
	    .t_before = ticket };

	o.hi = o.lo + page_up(len);
	finish(&o);
}

void agent_mmap_unmapped(uint64_t ticket, void *addr, size_t len)
{
	struct op o = { .kind = OP_UNMAP, .lo = (uintptr_t)addr, .t_before = ticket };

	o.hi = o.lo + page_up(len);
	finish(&o);
}

void agent_mmap_moved(uint64_t ticket, void *old, size_t old_len, void *new, size_t new_len,
    int keep_old)
{
	struct op o = { .kind = OP_REMAP, .counted = keep_old, .lo = (uintptr_t)old,
	    .nlo = (uintptr_t)new, .t_before = ticket };

	o.hi = o.lo + page_up(old_len);
	o.nhi = o.nlo + page_up(new_len);
	finish(&o);
}

uint64_t agent_mmap_live(void)
{
	return atomic_load_explicit(&mm_live, memory_order_relaxed);
}

static int fork_held;

void agent_mmap_prefork(void)
{
	/* An applier is mid-update for microseconds; wait for it, yielding,
	 * unless it is this thread (fork from a handler that interrupted it)
	 * or it does not come back (suspended): then the child starts over. */
	fork_held = 0;
	if (mm_applying)
		return;
	for (long n = 0; n < 100000; n++) {
		if (try_busy()) {
			fork_held = 1;
			return;
		}
		sched_yield();
	}
}

void agent_mmap_postfork(int child)
{
	if (!child) {
		if (fork_held)
			atomic_store(&mm_busy, 0);
		drain();
		return;
	}
	/* Only this thread is left: ops others were filling never come. */
	for (int i = 0; i < NOPS; i++)
		if (atomic_load(&ops[i].state) == OP_FILLING)
			atomic_store(&ops[i].state, OP_FREE);
	atomic_store(&mm_inflight, mm_depth);
	if (!fork_held && !mm_applying) {
		/* The table may be half-written: forget it. */
		nranges = 0;
		ntombs = 0;
		atomic_store(&mm_live, 0);
		agent_debug("fork while the mapping table was being written: the child counts its mappings from zero");
	}
	if (!mm_applying)
		atomic_store(&mm_busy, 0);
	drain();
}
