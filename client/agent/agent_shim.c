/* agent_shim.c: the interposed malloc family; each hook forwards to the real allocator and counts. */
#include "agent.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The allocator's entry points (agent_alloc.c): `owner` as found (and
 * built), `real` what the hooks call (in "requested" mode, wrappers that
 * record sizes); and the rest. Until they are found, real.malloc is
 * first_malloc, which finds them, so malloc calls through real.malloc
 * without a test; `ready` says they are found. */
static void *first_malloc(size_t size);
static struct agent_alloc owner, real = { .malloc = first_malloc };
static int ready;
static struct {
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	void (*exit_)(int) __attribute__((noreturn));
	void (*Exit_)(int) __attribute__((noreturn));
	void (*exit)(int) __attribute__((noreturn));
	void (*quick_exit)(int) __attribute__((noreturn));
} sys;

int (*agent_real_pthread_create)(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);

/*
 * Bootstrap pool. dlsym() allocates while we resolve the real allocator, so
 * those first requests are served from this static buffer. Its blocks are
 * never reused and are recognised by address in free, realloc and
 * malloc_usable_size. Each carries its size at p[-2] and, at p[-1], a word
 * with glibc's IS_MMAPPED bit set, so the glibc fast path of free() sends
 * it to the slow path, which knows it.
 */
static _Alignas(64) unsigned char boot_pool[64 * 1024];
static _Atomic size_t boot_used;
static __thread int resolving __attribute__((tls_model("initial-exec")));

#define CHUNK_IS_MMAPPED 2

static int in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot_pool < sizeof(boot_pool);
}

static size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-2];
}

static void *boot_alloc(size_t size, size_t align)
{
	size_t need, start, off;

	if (align < 16)
		align = 16;
	if (size > sizeof(boot_pool) || align > 4096)
		return NULL;
	need = (size + 16 + align + 15) & ~(size_t)15;
	start = atomic_fetch_add(&boot_used, need);
	if (start + need > sizeof(boot_pool))
		return NULL;
	off = (start + 16 + align - 1) & ~(align - 1);
	((size_t *)(boot_pool + off))[-2] = size;
	((size_t *)(boot_pool + off))[-1] = CHUNK_IS_MMAPPED;
	return boot_pool + off;
}

/* ---- sizes ---- */

/*
 * How a live block's size is known (agent_size_source, the region's
 * size_source), chosen once at
 * start:
 *
 * glibc_header: with glibc's malloc below us it is read straight from the
 * chunk header, as glibc's malloc_usable_size does: the size field less one
 * word (two for an mmapped chunk). Chosen only if the owner of malloc is
 * libc.so.6 and a self-check agrees with its malloc_usable_size on blocks
 * from malloc, memalign and valloc of small and mmapped sizes.
 *
 * usable: any other allocator with a malloc_usable_size of its own
 * (jemalloc, tcmalloc preloaded after us) is asked, on the slow path.
 *
 * requested: an allocator without one (arena and bump allocators) gets
 * each block's requested size recorded by the agent (agent_sizes.c) and
 * taken back at free; a zero-byte block counts as one byte. Blocks the
 * table could not record are not counted, nor are their frees. The
 * recording is done by wrappers that stand in `real` for the owner's
 * functions, so the hooks' fast path is the same in every mode.
 */
enum { SIZES_GLIBC, SIZES_USABLE, SIZES_TABLE };
static int size_mode;

static ALWAYS_INLINE size_t chunk_usable(const void *p)
{
	size_t hdr = ((const size_t *)p)[-1];

	return (hdr & ~(size_t)7) - sizeof(size_t) - ((hdr & CHUNK_IS_MMAPPED) << 2);
}

/*
 * region_bin() of a small chunk's usable size, from its header word: the
 * top bit of hdr - 16. usable - 1 is chunk - 9; the chunk size is a
 * multiple of 16 and at least 32, and the flag bits add under 16 (never
 * IS_MMAPPED here), so chunk - 16 + flags and chunk - 9 lie between the
 * same two multiples of 16 and have the same top bit, which is at least
 * 4: the `| 15` of region_bin() changes nothing. The fast path bins a
 * block in three instructions (sub, bsr, add) where region_bin_nonzero()
 * of usable took four. glibc_sizes_work checks it on the blocks it tries.
 */
static ALWAYS_INLINE unsigned chunk_bin(size_t hdr)
{
	return 63u - (unsigned)__builtin_clzll(hdr - 16);
}

/* The size of a live block in the glibc_header and usable modes. */
static size_t usable_of(void *p)
{
	return size_mode == SIZES_GLIBC ? chunk_usable(p) : real.usable(p);
}

static int chunk_check(size_t (*usable)(void *), void *p)
{
	size_t hdr;

	if (p == NULL)
		return 1;
	hdr = ((const size_t *)p)[-1];
	return chunk_usable(p) == usable(p) &&
	    ((hdr & CHUNK_IS_MMAPPED) || chunk_bin(hdr) == region_bin(usable(p)));
}

static int glibc_sizes_work(const struct agent_alloc *a)
{
	static const size_t sizes[] = { 0, 1, 24, 25, 1000, 4096, 200000, 300000 };
	int ok = 1;

	if (a->usable == NULL || a->own_memalign == NULL || a->valloc == NULL ||
	    strstr(a->owner, "/libc.so.6") == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && ok; i++) {
		void *x = a->malloc(sizes[i]), *y = a->memalign(256, sizes[i] + 1);
		void *z = a->valloc(sizes[i] + 1);

		ok = chunk_check(a->usable, x) && chunk_check(a->usable, y) &&
		    chunk_check(a->usable, z);
		a->free(x);
		a->free(y);
		a->free(z);
	}
	return ok;
}

/* Records p's requested size (not for the agent's own blocks). */
static void *record(void *p, size_t size)
{
	if (p != NULL && agent_tls.mode != AGENT_BUSY) {
		int saved = errno;

		agent_sizes_put(p, size != 0 ? size : 1);
		errno = saved;
	}
	return p;
}

static void *rec_malloc(size_t size)
{
	return record(owner.malloc(size), size);
}

static void *rec_calloc(size_t n, size_t size)
{
	return record(owner.calloc(n, size), n * size);
}

static void *rec_memalign(size_t align, size_t size)
{
	return record(owner.memalign(align, size), size);
}

static void *rec_aligned_alloc(size_t align, size_t size)
{
	return record(owner.aligned_alloc(align, size), size);
}

static void *rec_valloc(size_t size)
{
	return record(owner.valloc(size), size);
}

static void *rec_pvalloc(size_t size)
{
	return record(owner.pvalloc(size), agent_alloc_pvalloc_size(&owner, size));
}

static int rec_posix_memalign(void **out, size_t align, size_t size)
{
	int err = owner.posix_memalign(out, align, size);

	if (err == 0)
		record(*out, size);
	return err;
}

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/*
 * Resolves the real functions and chooses how to read sizes. Returns 0, or
 * -1 while this thread is inside the resolution (the caller then serves
 * from the boot pool).
 */
static int resolve(void)
{
	static struct agent_alloc a;

	if (resolving)
		return -1;
	resolving = 1;
	if (agent_alloc_resolve(&a) < 0 || (agent_real_pthread_create = sym("pthread_create")) == NULL) {
		agent_warn("cannot find the real allocator (static binary?); aborting");
		abort();
	}
	if (glibc_sizes_work(&a)) {
		size_mode = SIZES_GLIBC;
	} else if (a.usable != NULL) {
		size_mode = SIZES_USABLE;
		agent_size_source = "usable";
		agent_size_kind = REGION_SIZE_USABLE;
	} else {
		size_mode = SIZES_TABLE;
		agent_size_source = "requested";
		agent_size_kind = REGION_SIZE_REQUESTED;
	}
	agent_glibc_sizes = size_mode == SIZES_GLIBC;
	sys.mmap = sym("mmap");
	sys.munmap = sym("munmap");
	sys.mremap = sym("mremap");
	sys.exit_ = sym("_exit");
	sys.Exit_ = sym("_Exit");
	sys.exit = sym("exit");
	sys.quick_exit = sym("quick_exit");
	/* ready, then malloc, last: the hooks take them to mean "found". */
	owner = a;
	real = a;
	if (size_mode == SIZES_TABLE) {
		real.malloc = rec_malloc;
		real.calloc = rec_calloc;
		real.memalign = rec_memalign;
		real.aligned_alloc = rec_aligned_alloc;
		real.valloc = rec_valloc;
		real.pvalloc = rec_pvalloc;
		real.posix_memalign = rec_posix_memalign;
	}
	{
		void *(*m)(size_t) = real.malloc;

		real.malloc = first_malloc;
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&real.malloc, m, __ATOMIC_RELEASE);
	}
	resolving = 0;
	return 0;
}

#define READY() (likely(ready) || resolve() == 0)

/* malloc before the real functions are found: finds them, or serves from
 * the boot pool while this thread is finding them (dlsym allocates). */
static void *first_malloc(size_t size)
{
	if (resolve() < 0)
		return boot_alloc(size, 16);
	return real.malloc(size);
}

/* ---- sampled blocks ---- */

/*
 * Sampling (agent_profile.c) counts down usable bytes, after the allocator
 * has handed a block out: the countdown is folded into the room the fast
 * path already spends (agent_room_spent), so it costs the fast path
 * nothing, and the bytes a profile estimates are the usable bytes the heap
 * figures count (as jemalloc's profiles do), not the sizes asked for.
 *
 * A block the countdown picks is moved into a sampled block with a
 * recognisable shape, so that free() knows it with no lookup and no cost
 * on its fast path: the block p is carved from a real block R asked for
 * `head` bytes more (32, or the block's alignment when larger, aligned
 * so), the old block's bytes are copied when they matter (realloc) and it
 * is freed, and the four words before p are a chunk header such as glibc
 * writes for an mmapped chunk:
 *
 *   p[-4]  the sampled usable size | log2(head) << 56
 *   p[-3]  the stack id | the profile's epoch << 32
 *   p[-2]  p ^ agent_prof_secret  (where an mmapped chunk keeps its offset)
 *   p[-1]  (usable + 16) | IS_MMAPPED,  usable = R's usable size - head
 *
 * free()'s fast path already sends every chunk with IS_MMAPPED to the slow
 * path; there p[-2] tells ours from glibc's (whose offset is below a page,
 * where ours has its top bit set), and R goes back to the allocator.
 * glibc's own malloc_usable_size reads the header as an mmapped chunk's
 * and gives `usable`, which is at least the old block's. Only with glibc's
 * malloc below us (size_mode SIZES_GLIBC): another allocator's blocks
 * cannot be told apart this way, so its programs have no profile.
 */
#define SAMPLE_HEAD 32

/* Where a block came from: what moving it into a sampled block keeps. */
enum from {
	FROM_MALLOC,            /* nothing: its bytes are undefined */
	FROM_CALLOC,            /* zeros */
	FROM_REALLOC,           /* its bytes */
	FROM_ALIGNED,           /* its alignment */
};

static int is_sampled(const void *p)
{
	const size_t *w = p;

	return size_mode == SIZES_GLIBC && (w[-1] & CHUNK_IS_MMAPPED) && agent_prof_secret != 0 &&
	    w[-2] == ((uintptr_t)p ^ agent_prof_secret);
}

/* Whether an allocation the countdown picked can be sampled now. */
static int sample_ok(void)
{
	return size_mode == SIZES_GLIBC && agent_tls.mode != AGENT_BUSY &&
	    !agent_disabled && agent_prof_on();
}

/* The alignment a sampled copy of p must keep. */
static size_t align_of(const void *p, enum from from)
{
	size_t a = (size_t)1 << __builtin_ctzl((uintptr_t)p | (1ul << 20));

	return from == FROM_ALIGNED ? a : 16;
}

/* Records a sample of `size` bytes with stack s, and writes its header
 * before w, which is `head` bytes into its real block and has `usable`
 * bytes. */
static void mark_sampled(size_t *w, size_t head, size_t usable, size_t size,
    const struct agent_stack *s)
{
	unsigned char mode = agent_enter();
	uint32_t id = agent_prof_record(s, size);

	agent_leave(mode);
	w[-4] = size | (size_t)__builtin_ctzl(head) << 56;
	w[-3] = id | (size_t)agent_prof_epoch << 32;
	w[-2] = (uintptr_t)w ^ agent_prof_secret;
	w[-1] = (usable + 16) | CHUNK_IS_MMAPPED;
}

/*
 * Moves block p, of `usable` bytes, into a sampled block and records the
 * sample. Returns the sampled block, or p itself when the allocator has no
 * room for the copy (then p is not sampled). errno is kept.
 */
static void *sample_block(void *p, size_t usable, enum from from, const struct agent_stack *s)
{
	size_t align = align_of(p, from), head = align > SAMPLE_HEAD ? align : SAMPLE_HEAD;
	size_t total, *w;
	char *r;
	int saved = errno;

	if (__builtin_add_overflow(usable, head, &total) || usable >> 56 != 0 || align >= 1ul << 20)
		return p;
	if (align > 16)                 /* past what malloc's blocks have */
		r = real.memalign(head, total);
	else
		r = from == FROM_CALLOC ? real.calloc(1, total) : real.malloc(total);
	if (r == NULL) {
		errno = saved;
		return p;
	}
	w = (size_t *)(void *)(r + head);
	if (from == FROM_REALLOC)
		memcpy(w, p, usable);
	real.free(p);
	mark_sampled(w, head, chunk_usable(r) - head, usable, s);
	errno = saved;
	return w;
}

/* Moves block p, counted as `usable` bytes on slot t, into a sampled
 * block with the stack s, and counts the difference of their sizes. */
static void *sample_swap(agent_slot *t, void *p, size_t usable, enum from from,
    const struct agent_stack *s)
{
	void *q = sample_block(p, usable, from, s);
	size_t now = chunk_usable(q);

	if (q != p && now != usable) {
		t->net += (int64_t)(now - usable);
		t->alloc_bytes += now - usable;
		t->bins[region_bin(usable)]--;
		t->bins[region_bin(now)]++;
	}
	return q;
}

int agent_sample_ok(void)
{
	return sample_ok();
}

int agent_sampled_blocks_work(void)
{
	return size_mode == SIZES_GLIBC;
}

void *agent_sample_carve(void *r, size_t size, const struct agent_stack *s)
{
	size_t *w = (size_t *)(void *)((char *)r + SAMPLE_HEAD), have = chunk_usable(r);
	agent_slot *t;
	int saved = errno;

	if (size_mode == SIZES_GLIBC && !(((const size_t *)r)[-1] & CHUNK_IS_MMAPPED) &&
	    have >= size + SAMPLE_HEAD && size >> 56 == 0 && sample_ok()) {
		have -= SAMPLE_HEAD;
		mark_sampled(w, SAMPLE_HEAD, have, size, s);
		r = w;
	}
	t = agent_thread_slow();
	if (t != NULL)
		agent_on_alloc(t, have);        /* the sampler's pick, if any, passes */
	errno = saved;
	return r;
}

/* Gives a sampled block back: out of the profile (if it is this process's
 * own; a fork child's inherited blocks are not), then to the allocator. */
static void sample_release(void *p)
{
	const size_t *w = p;
	size_t head = (size_t)1 << (w[-4] >> 56);

	if ((uint32_t)(w[-3] >> 32) == agent_prof_epoch)
		agent_prof_unsample((uint32_t)w[-3], w[-4] & ((1ull << 56) - 1));
	real.free((char *)p - head);
}

/* ---- counting ---- */

/*
 * The fast paths below run only when agent_tls.slot is set, which implies
 * the real functions are resolved and glibc chunk sizes are in use; every
 * other case (first call of a thread, non-glibc allocator, inside the
 * agent, exiting thread, fork child) goes through the out-of-line slow
 * paths.
 */

/* Counts block p (NULL: a failure) and returns it, or its sampled copy. */
static void *count_alloc_errno_kept(void *p, enum from from)
{
	agent_slot *t = agent_thread_slow();
	size_t size;

	if (t == NULL)
		return p;                       /* inside the agent: not counted */
	if (p == NULL) {
		agent_on_fail(t);
		return p;
	}
	if (size_mode == SIZES_TABLE) {
		if (agent_sizes_get(p, &size, 0) < 0)
			return p;               /* not recorded: not counted */
		agent_on_alloc(t, size);
		return p;
	}
	size = usable_of(p);
	if (agent_on_alloc(t, size) && sample_ok()) {
		struct agent_stack s;
		unsigned char mode = agent_enter();

		agent_stack_capture(&s);
		agent_leave(mode);
		p = sample_swap(agent_tls.slot != NULL ? agent_tls.slot : agent_tls.saved, p, size,
		    from, &s);
	}
	return p;
}

/* Counts an allocation's result off the fast path; returns it (or its
 * sampled copy). Registering a thread or growing the side table makes
 * system calls: errno is the allocator's still. */
static __attribute__((noinline)) void *count_alloc_slow(void *p, enum from from)
{
	int saved;

	if (unlikely(!ready) || in_boot(p))
		return p;                       /* before the real functions: not counted */
	saved = errno;
	p = count_alloc_errno_kept(p, from);
	errno = saved;
	return p;
}

/* The fast path spent the room on block p of `usable` bytes: samples p
 * if the countdown picked it, then takes the slow path. */
static __attribute__((noinline)) void *room_out(agent_slot *t, void *p, size_t usable,
    enum from from)
{
	if (agent_sample_due(t) && sample_ok()) {
		struct agent_stack s;
		unsigned char mode = agent_enter();

		/* here, in the frame malloc's tail call left: one frame of ours */
		agent_stack_capture(&s);
		agent_leave(mode);
		p = sample_swap(t, p, usable, from, &s);
	}
	agent_slot_slow(t);
	return p;
}

/* count_alloc's fast path for an allocation deeper in the stack than any
 * before (or a trapped slot): out of line, so that the fast path makes no
 * call but tail calls. */
static __attribute__((noinline)) void *count_deeper(agent_slot *t, void *p, size_t usable,
    enum from from)
{
	agent_stack_deeper(t, agent_sp());
	t->net += (int64_t)usable;
	t->alloc_bytes += usable;
	t->bins[region_bin_nonzero(usable)]++;
	if (agent_room_spent(t, usable))
		return room_out(t, p, usable, from);
	return p;
}

/*
 * Jumps to `deeper` when the stack pointer is below t->stack_low: on x86-64
 * one compare of %rsp with memory and a branch, where C would first copy
 * %rsp into a register.
 */
#if defined(__x86_64__)
#define STACK_BELOW_LOW(t, deeper) \
	__asm__ goto("cmp %0, %%rsp\n\tjb %l1" : : "m"((t)->stack_low) : "cc" : deeper)
#else
#define STACK_BELOW_LOW(t, deeper) \
	do { if (unlikely(agent_sp() < (t)->stack_low)) goto deeper; } while (0)
#endif

/*
 * Counts the result of an allocation (a block, or NULL for a failure; only
 * called for requests that can fail) and returns it, or its sampled copy.
 * Written so that every call out of it is a tail call: the fast path saves
 * no registers.
 */
static ALWAYS_INLINE void *count_alloc(void *p, enum from from)
{
	agent_slot *t = agent_tls.slot;
	size_t hdr, usable;

	if (unlikely(t == NULL || p == NULL))
		return count_alloc_slow(p, from);
	hdr = ((const size_t *)p)[-1];
	if (unlikely(hdr & CHUNK_IS_MMAPPED))
		return count_alloc_slow(p, from);
	/* A chunk is at least 32 bytes: usable is never 0. */
	usable = (hdr - sizeof(size_t)) & ~(size_t)7;   /* the flags are under 8 */
	STACK_BELOW_LOW(t, deeper);
	t->net += (int64_t)usable;
	t->alloc_bytes += usable;
	t->bins[chunk_bin(hdr)]++;
	if (agent_room_spent(t, usable))
		return room_out(t, p, usable, from);
	return p;
deeper:
	return count_deeper(t, p, usable, from);
}

static __attribute__((noinline)) void count_free_slow(size_t usable)
{
	agent_slot *t;

	if (agent_tls.mode == AGENT_BUSY)
		return;
	t = agent_thread_slow();
	if (t != NULL)
		agent_on_free(t, usable);
}

/* Takes block p's size out of the side table; 0 if it was not counted. */
static int table_take(void *p, size_t *size)
{
	return agent_sizes_get(p, size, 1);
}

/* free() off the fast path: boot blocks, mmapped chunks, other allocators,
 * threads not counting on the fast path. */
static __attribute__((noinline)) void free_slow(void *p)
{
	size_t size;
	int saved;

	if (in_boot(p) || !READY())
		return;
	saved = errno;
	if (size_mode != SIZES_TABLE)
		count_free_slow(usable_of(p));
	else if (table_take(p, &size) == 0)
		count_free_slow(size);
	if (is_sampled(p))
		sample_release(p);
	else
		real.free(p);
	errno = saved;
}

/* ---- the hooks ---- */

EXPORT void *malloc(size_t size)
{
	return count_alloc(real.malloc(size), FROM_MALLOC);
}

static __attribute__((noinline)) void slow_free(agent_slot *t, void *p)
{
	agent_slot_slow(t);
	real.free(p);
}

EXPORT void free(void *p)
{
	agent_slot *t = agent_tls.slot;
	size_t hdr;
	int64_t net;

	if (unlikely(t == NULL || p == NULL))
		goto slow;
	hdr = ((const size_t *)p)[-1];
	if (unlikely(hdr & CHUNK_IS_MMAPPED))
		goto slow;
	net = t->net - (int64_t)((hdr & ~(size_t)7) - sizeof(size_t));
	t->net = net;
	t->frees++;
	if (unlikely(net < AGENT_GET(t->agent.lo))) {
		slow_free(t, p);
		return;
	}
	real.free(p);
	return;
slow:
	if (p != NULL)
		free_slow(p);
}

/* calloc's n * size overflow is the allocator's to report (its errno);
 * only the boot pool checks it here. */
EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (!READY()) {
		if (__builtin_mul_overflow(n, size, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(total, 16);   /* the pool is zeroed and never reused */
	}
	p = real.calloc(n, size);
	return count_alloc(p, FROM_CALLOC);
}

/* realloc of a boot block: move it to the real heap. */
static void *boot_realloc(void *old, size_t size)
{
	size_t have = boot_size(old);
	void *p = malloc(size);

	if (p != NULL)
		memcpy(p, old, have < size ? have : size);
	return p;
}

/*
 * realloc where the owner has none: a new block, the old one's `have`
 * bytes copied, the old one freed; realloc(p, 0) frees and returns NULL,
 * as glibc's does. Fails with ENOMEM, the old block untouched, when its
 * size is not known.
 */
static void *realloc_by_copy(void *old, size_t size, size_t have, int known)
{
	void *p;

	if (size == 0) {
		real.free(old);
		return NULL;
	}
	if (!known) {
		errno = ENOMEM;
		return NULL;
	}
	p = real.malloc(size);
	if (p != NULL) {
		memcpy(p, old, have < size ? have : size);
		real.free(old);
	}
	return p;
}

/* realloc with the side table: the old size is taken out before the real
 * call (another thread may get the address as soon as it is freed) and put
 * back if the call fails. */
static void *realloc_table(void *old, size_t size)
{
	size_t have = 0;
	int known = table_take(old, &have) == 0;
	void *p;

	if (real.realloc != NULL)
		p = real.realloc(old, size);
	else
		p = realloc_by_copy(old, size, have, known);
	if (p == NULL && size != 0) {
		if (known)
			agent_sizes_put(old, have);
		count_alloc_slow(NULL, FROM_REALLOC);
		return NULL;
	}
	if (known)
		count_free_slow(have);
	if (p != NULL)
		count_alloc_slow(record(p, size), FROM_REALLOC);
	return p;
}

/*
 * realloc of a sampled block, which the allocator must never see: a new
 * block through the hooks (counted, and sampled if the countdown says so),
 * the old one's bytes copied, the old one freed; realloc(p, 0) frees and
 * returns NULL, as glibc's does.
 */
static __attribute__((noinline)) void *realloc_anew(void *old, size_t size)
{
	size_t have = usable_of(old);
	void *p;

	if (size == 0) {
		free(old);
		return NULL;
	}
	p = malloc(size);
	if (p == NULL)
		return NULL;            /* the old block is untouched */
	memcpy(p, old, have < size ? have : size);
	free(old);
	return p;
}

EXPORT void *realloc(void *old, size_t size)
{
	size_t old_usable;
	void *p;

	if (old == NULL)
		return malloc(size);
	if (unlikely(in_boot(old)))
		return boot_realloc(old, size);
	if (!READY())
		return NULL;
	if (size_mode == SIZES_TABLE)
		return realloc_table(old, size);
	if (unlikely(is_sampled(old)))
		return realloc_anew(old, size);
	old_usable = usable_of(old);
	if (likely(real.realloc != NULL))
		p = real.realloc(old, size);
	else
		p = realloc_by_copy(old, size, old_usable, 1);
	if (p == NULL && size != 0) {
		count_alloc(NULL, FROM_REALLOC);        /* the old block is untouched */
		return NULL;
	}
	/* Counted as a free of the old block and, unless size is 0 (which
	 * frees), an allocation of the new one. */
	if (likely(agent_tls.slot != NULL))
		agent_on_free(agent_tls.slot, old_usable);
	else
		count_free_slow(old_usable);
	if (p != NULL)
		p = count_alloc(p, FROM_REALLOC);
	return p;
}

/* An overflowing n * size goes to the owner's reallocarray when it has one
 * (its errno); otherwise it fails with ENOMEM, as glibc's does (the one the
 * program would have reached). */
EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	size_t total;
	void *p = NULL;

	if (__builtin_mul_overflow(n, size, &total)) {
		if (READY() && real.reallocarray != NULL)
			p = real.reallocarray(old, n, size);
		else
			errno = ENOMEM;
		if (p == NULL && ready)
			count_alloc(NULL, FROM_REALLOC);
		return p;
	}
	return realloc(old, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	int err;

	if (!READY()) {
		void *p = boot_alloc(size, align);
		if (p == NULL)
			return ENOMEM;
		*out = p;
		return 0;
	}
	err = real.posix_memalign(out, align, size);
	if (err == 0)
		*out = count_alloc(*out, FROM_ALIGNED);
	else if (err == ENOMEM)
		count_alloc(NULL, FROM_ALIGNED);
	return err;
}

/* aligned_alloc and memalign fail with EINVAL for a bad alignment: a usage
 * error, not an allocation failure. The caller zeroed errno before the call;
 * on success it is put back as it was. */
static void *count_aligned(void *p, int saved_errno)
{
	if (p != NULL) {
		errno = saved_errno;
		p = count_alloc(p, FROM_ALIGNED);
	} else if (errno == ENOMEM) {
		count_alloc(NULL, FROM_ALIGNED);
	}
	return p;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	int saved = errno;

	if (!READY())
		return boot_alloc(size, align);
	errno = 0;
	return count_aligned(real.aligned_alloc(align, size), saved);
}

EXPORT void *memalign(size_t align, size_t size)
{
	int saved = errno;

	if (!READY())
		return boot_alloc(size, align);
	errno = 0;
	return count_aligned(real.memalign(align, size), saved);
}

EXPORT void *valloc(size_t size)
{
	void *p;

	if (!READY())
		return boot_alloc(size, 4096);
	p = real.valloc(size);
	return count_alloc(p, FROM_ALIGNED);
}

EXPORT void *pvalloc(size_t size)
{
	void *p;

	if (!READY())
		return boot_alloc(size, 4096);
	p = real.pvalloc(size);
	return count_alloc(p, FROM_ALIGNED);
}

/* With no malloc_usable_size below us, the size the block was asked with
 * (0 if the agent does not know the block) rather than another
 * allocator's answer, which would crash. */
EXPORT size_t malloc_usable_size(void *p)
{
	size_t size = 0;

	if (p == NULL)
		return 0;
	if (in_boot(p))
		return boot_size(p);
	if (!READY())
		return 0;
	if (size_mode == SIZES_TABLE)
		return agent_sizes_get(p, &size, 0) == 0 ? size : 0;
	return real.usable(p);
}

/*
 * Threads are registered as they start, not at their first allocation, so
 * the thread count includes threads that never allocate, their stack top is
 * known from the start, and with stack sampling on they are sampled even if
 * they never call the allocator.
 */
struct thread_start {
	void *(*fn)(void *);
	void *arg;
};

static void *thread_trampoline(void *p)
{
	struct thread_start s = *(struct thread_start *)p;

	int saved = errno;

	owner.free(p);            /* the agent's own block: never counted */
	agent_thread_started();   /* registers this thread, on its own stack */
	errno = saved;            /* a new thread starts with errno 0 */
	return s.fn(s.arg);
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg)
{
	struct thread_start *s;
	int err;

	if (!READY())
		return EAGAIN;
	if (agent_disabled || (s = owner.malloc(sizeof(*s))) == NULL)
		return agent_real_pthread_create(th, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	err = agent_real_pthread_create(th, attr, thread_trampoline, s);
	if (err != 0)
		owner.free(s);
	return err;
}

/*
 * The program's own mappings. glibc's malloc maps through internal calls
 * that never reach these hooks, so what is counted here is what the program
 * and its libraries map themselves (Python's arenas, say), apart from the
 * heap. Before the real functions are known, the system calls are made
 * directly. The system call comes first and the table is written after it,
 * with no lock held across either (agent_mmap.c), so a signal handler that
 * maps while its thread is inside one of these hooks cannot deadlock.
 * Every successful call is recorded; a mapping made inside the agent itself
 * (AGENT_BUSY) is recorded as not counted, so it still uncounts what it
 * replaces.
 */
static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (sys.mmap != NULL)
		return sys.mmap(addr, len, prot, flags, fd, off);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	uint64_t ticket;
	void *p;
	int saved;

	if (agent_disabled)
		return do_mmap(addr, len, prot, flags, fd, off);
	ticket = agent_mmap_begin();
	p = do_mmap(addr, len, prot, flags, fd, off);
	saved = errno;
	if (p != MAP_FAILED)
		agent_mmap_mapped(ticket, p, len,
		    (flags & MAP_ANONYMOUS) != 0 && agent_tls.mode != AGENT_BUSY);
	else
		agent_mmap_abort();
	agent_region_store_mmap();
	errno = saved;
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

static int do_munmap(void *addr, size_t len)
{
	if (sys.munmap != NULL)
		return sys.munmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

EXPORT int munmap(void *addr, size_t len)
{
	uint64_t ticket;
	int r, saved;

	if (agent_disabled)
		return do_munmap(addr, len);
	ticket = agent_mmap_begin();     /* before the call: see agent_mmap.c */
	r = do_munmap(addr, len);
	saved = errno;
	if (r == 0)
		agent_mmap_unmapped(ticket, addr, len);
	else
		agent_mmap_abort();
	agent_region_store_mmap();
	errno = saved;
	return r;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *p;
	uint64_t ticket;
	int saved;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (sys.mremap == NULL)
		return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	if (agent_disabled)
		return sys.mremap(old, old_len, new_len, flags, new_addr);
	ticket = agent_mmap_begin();
	p = sys.mremap(old, old_len, new_len, flags, new_addr);
	saved = errno;
	if (p != MAP_FAILED)
		agent_mmap_moved(ticket, old, old_len, p, new_len, (flags & MREMAP_DONTUNMAP) != 0);
	else
		agent_mmap_abort();
	agent_region_store_mmap();
	errno = saved;
	return p;
}

/*
 * The ways a program ends by itself: each records its status in the region
 * (two stores, nothing else), so memprobed can say how it ended. The
 * figures need nothing at exit: memprobed reads them from the region after
 * the process is gone, however it went.
 */
EXPORT void _exit(int status)
{
	agent_region_exit(status);
	if (sys.exit_ != NULL)
		sys.exit_(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

EXPORT void _Exit(int status)
{
	agent_region_exit(status);
	if (sys.Exit_ != NULL)
		sys.Exit_(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

EXPORT void exit(int status)
{
	agent_region_exit(status);
	if (sys.exit != NULL)
		sys.exit(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

EXPORT void quick_exit(int status)
{
	agent_region_exit(status);
	if (sys.quick_exit != NULL)
		sys.quick_exit(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

/* ---- load and unload ---- */

__attribute__((constructor))
static void agent_init(void)
{
	const char *v;
	unsigned char mode;
	int err;

	if (!ready)
		resolve();
	mode = agent_enter();
	v = getenv("MEMPROBE_DEBUG");
	agent_debug_on = v != NULL && strcmp(v, "1") == 0;
	agent_alloc_describe(&real, agent_size_source);
	v = getenv("MEMPROBE_DISABLE");
	if (v != NULL && strcmp(v, "1") == 0) {
		agent_disabled = 1;
		agent_debug("disabled by MEMPROBE_DISABLE=1");
		agent_leave(mode);
		return;
	}
	if (size_mode == SIZES_TABLE)
		pthread_atfork(NULL, NULL, agent_sizes_postfork);
	agent_outside_setup();
	err = agent_core_init();
	if (err != 0) {
		agent_warn("cannot start; counting nothing, the program runs on");
		agent_disabled = 1;
	}
	agent_leave(mode);
	/* The loading thread (main, for a preload) is counted from now on,
	 * even if it never allocates; then the region is handed over. */
	agent_thread_started();
	if (agent_disabled)
		return;
	mode = agent_enter();
	agent_region_start();
	agent_leave(mode);
}
