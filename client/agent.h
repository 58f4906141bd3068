/* agent.h: the agent's counting core, shared by the allocator shim and the reporter. */
#ifndef MEMPROBE_AGENT_H
#define MEMPROBE_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/*
 * Counting model. Every thread owns a slot of counters and is the only
 * writer of them; the reporter only reads. The owner updates them with plain
 * adds (one memory-destination instruction each) and the reporter reads them
 * with relaxed atomic loads: an aligned 64-bit store is single-copy atomic on
 * every target we build for, so a read sees the old or the new value, and
 * the hot path takes no lock, makes no syscall and touches no shared line.
 *
 * Live bytes are the allocator's usable sizes: a block counts its usable
 * size when it is handed out and the same figure when it is freed (taken
 * just before the real free), so allocated - freed is exact whatever
 * alignment the block was made with. No header is added to any block. How
 * the usable size is read is said in agent_shim.c.
 *
 * Peak live bytes needs a process-wide sum at every moment, which per-thread
 * counters cannot give without a shared atomic per call. Each thread instead
 * publishes its net change to one shared counter when it has moved more than
 * AGENT_PEAK_BATCH from what it last published; the shared peak is raised
 * at each publication and again from the exact sum at every sample. The
 * shared figure is the true live sum less every thread's unpublished change,
 * each under AGENT_PEAK_BATCH in size, so the reported peak is within
 * T * AGENT_PEAK_BATCH of the true peak, either way, where T is the number
 * of threads holding unpublished changes (unpublished frees of one thread can
 * make another's publication overstate the sum). With one thread it is never
 * above the true peak and at most AGENT_PEAK_BATCH below it.
 */
#define AGENT_PEAK_BATCH (64 * 1024)

/*
 * Why the thread-local pointer is NULL, for the slow path. A thread's
 * counters live in a slot of the agent's own registry (mmap'd, never
 * unmapped), not in TLS itself, so the reporter can always read them safely,
 * even for a thread that registers during its own teardown.
 */
enum agent_mode {
	AGENT_NEW = 0,     /* not registered yet: the slow path registers it */
	AGENT_ACTIVE,      /* registered; slot is set and the hot path counts */
	AGENT_BUSY,        /* inside the agent itself, or agent disabled: forward only */
	AGENT_DEAD,        /* thread is exiting: count into the shared totals */
	AGENT_FORKED,      /* first call in a fork child: start its reporter */
	AGENT_GENERIC,     /* registered, but sizes must be asked of a non-glibc
	                      allocator: every call takes the slow path */
};

/*
 * A thread's counters. Each allocation bumps exactly one histogram bin,
 * by the block's usable size, so the allocation count is the bins' sum and
 * the histogram's sum is alloc_bytes; freed bytes are alloc_bytes - net.
 * Bins are powers of two, indexed by the highest set bit of
 * ((size - 1) | 15) with no clamping; the reporter merges them into the
 * protocol's power-of-4 buckets.
 */
#define AGENT_BINS 64

struct agent_counters {
	int64_t net;              /* usable bytes allocated minus freed */
	uint64_t alloc_bytes;     /* usable bytes handed out */
	uint64_t frees;
	uint64_t failed;
	uint64_t bins[AGENT_BINS];
};

/* Bin of a block of `size` bytes: bit index of (size - 1) | 15, 3..63. */
static inline __attribute__((always_inline)) unsigned agent_bin(uint64_t size)
{
	return 63u - (unsigned)__builtin_clzll((size - 1) | 15);
}

/* The protocol bucket a bin falls in: bin b holds sizes (2^b, 2^(b+1)], and
 * bucket i holds (16*4^(i-1), 16*4^i], so bins 3,4,5 -> 0,1,1 ... */
static inline unsigned agent_bin_bucket(unsigned bin)
{
	unsigned i = (bin - 2) / 2;

	return i < PROTO_HIST_BUCKETS - 1 ? i : PROTO_HIST_BUCKETS - 1;
}

/* One registered thread's slot. Counters and stack_low are written only by
 * the owning thread; the registry fields only under the registry lock. */
struct agent_thread {
	struct agent_counters c;
	uintptr_t stack_low;            /* lowest stack pointer seen; UINTPTR_MAX none */
	int64_t hi, lo;                 /* publish when net leaves (lo, hi) */
	int64_t mark;                   /* net at the last publication */

	struct agent_thread *next, *prev;
	pid_t tid;
	int is_main;
	uintptr_t stack_top;            /* highest address of the thread's stack */
	uint64_t stack_size;            /* its size (main: RLIMIT_STACK) */
	timer_t timer;                  /* stack sampling timer, if timer_on */
	int timer_on;
};

/* The hot path's thread-local state: one pointer, NULL off the fast path. */
struct agent_tls {
	struct agent_thread *slot;
	struct agent_thread *saved;     /* slot while the thread is BUSY or FORKED */
	unsigned char mode;             /* enum agent_mode */
};

extern __thread struct agent_tls agent_tls
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/* Shared batch target for the peak; see the comment at the top. */
extern _Atomic int64_t agent_live_published;
extern _Atomic uint64_t agent_peak;

/*
 * Slow path of every hook, when agent_tls.slot is NULL. Returns the slot to
 * count on (the thread was just registered, or its fork child's reporter just
 * started), or NULL: then the caller passes the event to agent_count_shared
 * if the thread is exiting (AGENT_DEAD) and forwards uncounted otherwise.
 */
struct agent_thread *agent_thread_slow(void);
/* Counts an event of an exiting thread into the shared totals. `usable` is
 * positive for an allocation, negative for a free, 0 for a failure. */
void agent_count_shared(int64_t usable);
/* Publishes a thread's pending net change; see AGENT_PEAK_BATCH. */
void agent_publish(struct agent_thread *t);

/* Marks the calling thread as inside the agent (its allocations are
 * forwarded uncounted) and returns the previous mode for agent_leave. */
unsigned char agent_enter(void);
void agent_leave(unsigned char mode);

/* The real pthread_create, for the agent's own thread. */
extern int (*agent_real_pthread_create)(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);
/* Registers the calling thread now, at its start, if it is not yet. */
void agent_thread_started(void);

/* Reads a counter another thread writes. */
#define AGENT_READ(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The stack pointer, without forcing a frame pointer on the caller. */
static inline __attribute__((always_inline)) uintptr_t agent_sp(void)
{
	uintptr_t sp;
#if defined(__x86_64__)
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
	__asm__ volatile("mov %0, sp" : "=r"(sp));
#else
	sp = (uintptr_t)__builtin_frame_address(0);
#endif
	return sp;
}

/* The span a stack pointer is accepted in below stack_top when the
 * thread's stack size is not known (main thread, RLIMIT_STACK unlimited). */
#define AGENT_STACK_SPAN_UNKNOWN (4ull << 30)

/*
 * Takes sp, already known to be below t->stack_low, as the thread's new
 * lowest stack pointer if it lies inside the thread's own stack,
 * [stack_top - stack_size, stack_top]: a coroutine's stack (ucontext on a
 * heap block), a sigaltstack handler or a stack not known yet (stack_top
 * 0) must not be taken for a depth. Only reached when sp is below the
 * lowest seen, so the common case pays nothing for it.
 */
static inline __attribute__((always_inline))
void agent_stack_seen(struct agent_thread *t, uintptr_t sp)
{
	uint64_t span = t->stack_size != 0 ? t->stack_size : AGENT_STACK_SPAN_UNKNOWN;

	if (t->stack_top - sp <= span)
		t->stack_low = sp;
}

/* Counts a block of `usable` bytes handed out, on an AGENT_ACTIVE thread. */
static inline __attribute__((always_inline))
void agent_on_alloc(struct agent_thread *t, uint64_t usable)
{
	uintptr_t sp = agent_sp();
	int64_t net = t->c.net + (int64_t)usable;

	t->c.net = net;
	t->c.alloc_bytes += usable;
	t->c.bins[agent_bin(usable)]++;
	if (__builtin_expect(net > t->hi, 0))
		agent_publish(t);
	/* stack_low starts at UINTPTR_MAX, so one compare covers "none yet" */
	if (__builtin_expect(sp < t->stack_low, 0))
		agent_stack_seen(t, sp);
}

static inline __attribute__((always_inline))
void agent_on_free(struct agent_thread *t, uint64_t usable)
{
	int64_t net = t->c.net - (int64_t)usable;

	t->c.net = net;
	t->c.frees++;
	if (__builtin_expect(net < t->lo, 0))
		agent_publish(t);
}

static inline void agent_on_fail(struct agent_thread *t)
{
	t->c.failed++;
}

/* ---- process-wide state (agent_core.c) ---- */

/* Figures of the whole process, summed over all threads. Takes the registry
 * lock; never call it from the hot path. */
void agent_collect(struct proto_sample *s);

/* Sets up the registry, TLS key and fork handlers; called once from the
 * constructor. Returns 0 or -errno. */
int agent_core_init(void);

/* The process this agent instance reports for; updated in fork children. */
extern pid_t agent_pid;
/* Set once MEMPROBE_DISABLE=1 or a fatal internal error: forward only. */
extern int agent_disabled;
/* Set by the shim when block sizes can be read from glibc's chunk headers;
 * threads then count on the fast path. */
extern int agent_glibc_sizes;
/* RLIMIT_STACK of the main thread at start, bytes; 0 unlimited or unknown. */
extern uint64_t agent_stack_limit;

/* ---- reporter (agent_report.c) ---- */

/* Starts the reporter thread for this process. Returns 0 or -errno. */
int agent_report_start(void);
/* Fork handlers: before fork, and after it in the parent (child 0) or the
 * child (child 1), where it must only reset state (async-signal-safe). */
void agent_report_prefork(void);
void agent_report_postfork(int child);
/* Sends the final sample and BYE; called at exit and _exit. */
void agent_report_final(void);
/* Sends a sample now from the calling thread. Returns 0 or -errno. */
int agent_report_flush(void);
/* Records a named gauge to send with the next sample. Returns 0 or -errno. */
int agent_report_gauge(const char *name, double value);
/* Samples sent and dropped by this process's agent so far. */
void agent_report_counts(uint64_t *sent, uint64_t *dropped);

/* ---- the program's anonymous mappings (agent_mmap.c) ---- */

/*
 * No lock is held across the system call, and a hook never waits for
 * another thread: see agent_mmap.c. A hook calls agent_mmap_begin() before
 * its system call, then exactly one of agent_mmap_mapped / _unmapped /
 * _moved with the ticket it got (on success) or agent_mmap_abort() (on
 * failure). All are async-signal-safe.
 */
uint64_t agent_mmap_begin(void);
void agent_mmap_abort(void);
/* A mapping of len bytes at addr was made: counted if anonymous; a file
 * mapping placed over counted ranges (MAP_FIXED) uncounts them. */
void agent_mmap_mapped(uint64_t ticket, void *addr, size_t len, int anonymous);
/* [addr, addr + len) was unmapped. */
void agent_mmap_unmapped(uint64_t ticket, void *addr, size_t len);
/* mremap moved or resized old to new; keep_old for MREMAP_DONTUNMAP. */
void agent_mmap_moved(uint64_t ticket, void *old, size_t old_len, void *new, size_t new_len,
    int keep_old);
/* Bytes in counted mappings now. */
uint64_t agent_mmap_live(void);
void agent_mmap_prefork(void);
void agent_mmap_postfork(int child);

/* ---- the allocator under the agent (agent_alloc.c, agent_sizes.c) ---- */

/*
 * The entry points the shim forwards to, each proved to belong to the
 * object that defines malloc (the owner), or built from the owner's own
 * (see agent_alloc.c). own_* are the owner's (NULL when it lacks them);
 * realloc, reallocarray and usable are NULL when the owner lacks them.
 */
struct agent_alloc {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable)(void *);
	void *(*own_memalign)(size_t, size_t);
	int (*own_posix_memalign)(void **, size_t, size_t);
	void *(*own_aligned_alloc)(size_t, size_t);
	const char *owner;              /* the owner's file name */
	size_t page;
};

/* Fills *a (kept: the built entry points use it). Returns 0, or -1 when
 * there is no malloc or free to forward to. Calls dlsym: run it with the
 * boot pool serving allocations. */
int agent_alloc_resolve(struct agent_alloc *a);
/* The size pvalloc(size) asks for: rounded up to a page, at least one. */
size_t agent_alloc_pvalloc_size(const struct agent_alloc *a, size_t size);
/* Says under MEMPROBE_DEBUG=1 which allocator, how sizes are read, and
 * which entry points were built. */
void agent_alloc_describe(const struct agent_alloc *a, const char *size_source);

/*
 * How block sizes are known, process-wide, set once at start:
 * "glibc_header" (read from glibc's chunk headers, on the fast path),
 * "usable" (asked of the allocator's own malloc_usable_size) or
 * "side_table" (the requested size, recorded by the agent: the allocator
 * has no malloc_usable_size).
 */
extern const char *agent_size_source;

/* The side table (agent_sizes.c): records block's size. Returns 0, or -1
 * when it could not (then the block is not counted). Async-signal-safe;
 * never waits on a lock across a system call. */
int agent_sizes_put(void *block, size_t size);
/* Finds block's size into *size, removing it if take. Returns 0, or -1
 * when it is not there (or the table could not be read). */
int agent_sizes_get(void *block, size_t *size, int take);
/* In a fork child. */
void agent_sizes_postfork(void);

/* ---- optional stack sampling (agent_sample.c) ---- */

/* The sampling signal, or 0 when sampling is off. */
extern int agent_sample_sig;
/* Reads MEMPROBE_STACK_SAMPLE_HZ and installs the handler. Returns 0. */
int agent_sample_init(void);
/* Starts or stops the calling thread's sampling timer. */
void agent_sample_thread_start(struct agent_thread *t);
void agent_sample_thread_stop(struct agent_thread *t);
/* Whether the program replaced our handler (then sampling is turned off
 * and the caller stops every thread's timer). */
int agent_sample_handler_lost(void);
/* Stops every registered thread's timer (reporter, on a lost handler). */
void agent_sample_stop_all(void);

/* ---- small utilities (agent_util.c): no allocation, no stdio ---- */

/* Writes "memprobe: MSG\n" to stderr. */
void agent_warn(const char *msg);
/* Writes "memprobe: MSG\n" to stderr when MEMPROBE_DEBUG=1. */
void agent_debug(const char *msg);
extern int agent_debug_on;

#endif
