/* agent.h: the agent's counting core, shared by the allocator shim and the region. */
#ifndef MEMPROBE_AGENT_H
#define MEMPROBE_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <unwind.h>

#include "profile.h"
#include "proto.h"
#include "region.h"

/*
 * Counting model. Every thread owns a slot of counters in the shared region
 * (region.h) and is the only writer of it. The owner updates them with plain
 * adds (one memory-destination instruction each); memprobed maps the region
 * read-only and reads them with single-copy-atomic loads, so it sees each
 * counter old or new, and the hot path takes no lock, makes no syscall and
 * touches no shared line. There is no thread, descriptor or signal of ours
 * in the host: the region's memfd is handed to memprobed and closed.
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
 * AGENT_PEAK_BATCH from what it last published; the region's peak is raised
 * at each publication, and the reader raises it again from the exact sum at
 * every read. The shared figure is the true live sum less every thread's
 * unpublished change, each under AGENT_PEAK_BATCH in size, so the reported
 * peak is within T * AGENT_PEAK_BATCH of the true peak, either way, where T
 * is the number of threads holding unpublished changes (unpublished frees of
 * one thread can make another's publication overstate the sum). With one
 * thread it is never above the true peak and at most AGENT_PEAK_BATCH below.
 *
 * The slow path a publication takes is also the agent's tick, at most once
 * a second per process (agent_region_maintain()): that is when it registers
 * with a daemon that was not there at start, or sees that the daemon was
 * replaced and registers again. It costs the hot path nothing more than the
 * window's compare. So a program whose heap stays within the window is not
 * seen by a daemon started after it until its heap moves (a daemon that
 * restarts gets every process back from its descriptor store at once). A
 * fork child's first publication, once its heap has grown by
 * AGENT_PEAK_BATCH, hands its own region over (fork_child()).
 */
#define AGENT_PEAK_BATCH (64 * 1024)

/*
 * Why the thread-local pointer is NULL, for the slow path. A thread's
 * counters live in a slot of the region, never in TLS itself, so memprobed
 * can always read them, even for a thread that registers during its own
 * teardown.
 */
enum agent_mode {
	AGENT_NEW = 0,     /* not registered yet: the slow path registers it */
	AGENT_ACTIVE,      /* registered; slot is set and the hot path counts */
	AGENT_BUSY,        /* inside the agent itself, or agent disabled: forward only */
	AGENT_DEAD,        /* thread is exiting: counts on its slot from the slow path */
	AGENT_GENERIC,     /* registered, but sizes must be asked of a non-glibc
	                      allocator: every call takes the slow path */
};

/* A thread's slot: its counters (read by memprobed) and the agent's own
 * bookkeeping (slot->agent). */
typedef struct region_slot agent_slot;

/* The hot path's thread-local state: one pointer, NULL off the fast path. */
struct agent_tls {
	agent_slot *slot;
	agent_slot *saved;              /* slot while the thread is BUSY, DEAD or GENERIC */
	unsigned char mode;             /* enum agent_mode */
	uint64_t rng;                   /* the sampler's xorshift state; 0 unseeded */
	int64_t py_left;                /* Python objects' countdown (agent_python.c) */
	unsigned char py_armed;         /* py_left has been drawn */
};

extern __thread struct agent_tls agent_tls
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/*
 * Slow path of every hook, when agent_tls.slot is NULL. Returns the slot to
 * count on (the thread was just registered, is exiting, or counts on the
 * slow path only), or NULL: then the caller forwards uncounted.
 */
agent_slot *agent_thread_slow(void);
/* The slow path of a counting thread: its slot left the peak window, passed
 * its tick, or was replaced. Publishes, ticks, follows the replacement.
 * Returns the slot to count on from now on. */
agent_slot *agent_slot_slow(agent_slot *t);

/* Marks the calling thread as inside the agent (its allocations are
 * forwarded uncounted) and returns the previous mode for agent_leave. */
unsigned char agent_enter(void);
void agent_leave(unsigned char mode);

/* The real pthread_create. */
extern int (*agent_real_pthread_create)(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);
/* Registers the calling thread now, at its start, if it is not yet. */
void agent_thread_started(void);

/*
 * The fields a replacement traps in another thread's slot (stack_low,
 * agent.hi, agent.lo; see agent_region.c) are read and written by their
 * owner through these: relaxed atomic accesses, plain loads and stores on
 * the machine, so that the designed race with the trap's store is not a
 * data race in C's model (nor in ThreadSanitizer's).
 */
#define AGENT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define AGENT_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

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
 *
 * It is also malloc's trap: a replacement of the region sets the old
 * slot's stack_low to UINT64_MAX (see agent_region.c), which no stack
 * pointer is above, so the owner's next allocation comes here; finding
 * `moved` set, it spends its room, so that the allocation takes the slow
 * path, which follows the slot to its copy. The hot path only reads
 * stack_low, so the trap cannot be lost to a write in flight; a write here
 * is followed by a look at `moved` (the replacement marks it before the
 * trap), so neither can it be lost to this one.
 */
void agent_stack_deeper(agent_slot *t, uintptr_t sp);

/* The first half of agent_stack_deeper: the depth alone. */
static inline __attribute__((always_inline))
void agent_stack_seen(agent_slot *t, uintptr_t sp)
{
	uint64_t span = t->stack_size != 0 ? t->stack_size : AGENT_STACK_SPAN_UNKNOWN;

	if (t->stack_top - sp <= span)
		AGENT_SET(t->stack_low, sp);
}

/*
 * The room: bytes malloc may hand out before its slow path is due, one
 * subtract from memory and one branch on the hot path. The slow path arms
 * it as min(hi - net, sample_left): it runs no later than the allocation
 * that takes net past hi (the peak's publication), nor than the one that
 * runs the sampler's countdown out (agent_sample_due). Frees give no room
 * back, so it may run earlier; then it only arms the room again. Only the
 * owning thread writes room.
 */
static inline __attribute__((always_inline))
int agent_room_spent(agent_slot *t, uint64_t usable)
{
	return __builtin_expect((t->agent.room -= (int64_t)usable) < 0, 0);
}

/*
 * An allocation spent the room: charges the sampler's countdown with the
 * bytes allocated since the room was armed. Returns 1 when this
 * allocation ran the countdown out (a new one is drawn): it is the one to
 * sample. The caller then takes agent_slot_slow().
 */
int agent_sample_due(agent_slot *t);

/* Counts a block of `usable` bytes handed out, on a counting thread.
 * Returns 1 when it is to be sampled (agent_sample_due); the slow path
 * has run by then. */
static inline __attribute__((always_inline))
int agent_on_alloc(agent_slot *t, uint64_t usable)
{
	uintptr_t sp = agent_sp();
	int due = 0;

	t->net += (int64_t)usable;
	t->alloc_bytes += usable;
	t->bins[region_bin(usable)]++;
	/* stack_low starts at UINT64_MAX, so one compare covers "none yet" */
	if (__builtin_expect(sp < AGENT_GET(t->stack_low), 0))
		agent_stack_deeper(t, sp);
	if (agent_room_spent(t, usable)) {
		due = agent_sample_due(t);
		agent_slot_slow(t);
	}
	return due;
}

static inline __attribute__((always_inline))
void agent_on_free(agent_slot *t, uint64_t usable)
{
	int64_t net = t->net - (int64_t)usable;

	t->net = net;
	t->frees++;
	if (__builtin_expect(net < AGENT_GET(t->agent.lo), 0))
		agent_slot_slow(t);
}

static inline void agent_on_fail(agent_slot *t)
{
	t->failed++;
}

/* ---- process-wide state (agent_core.c) ---- */

/* Figures of the whole process, summed over all slots (region_read on our
 * own region). Never call it from the hot path. */
void agent_collect(struct proto_sample *s);

/* Sets up the TLS key and fork handlers; called once from the constructor.
 * Returns 0 or -errno. */
int agent_core_init(void);

/* The registry lock (taken only by BUSY threads; see agent_core.c). */
void agent_core_lock(void);
void agent_core_unlock(void);

/* Slots in the first region; a process with more threads at once gets a
 * region twice the size. Untouched slots cost address space only. */
#define AGENT_FIRST_SLOTS 256

/* The process this agent instance counts for; updated in fork children. */
extern pid_t agent_pid;
/* Set once MEMPROBE_DISABLE=1 or a fatal internal error: forward only. */
extern int agent_disabled;
/* Set by the shim when block sizes can be read from glibc's chunk headers;
 * threads then count on the fast path. */
extern int agent_glibc_sizes;
/* RLIMIT_STACK of the main thread at start, bytes; 0 unlimited or unknown. */
extern uint64_t agent_stack_limit;

/* ---- the shared region and registration (agent_region.c) ---- */

/* The current region; NULL until the first thread registers. Read it with
 * agent_region_get(): a replacement swaps it. */
extern struct region_hdr *agent_region_ptr;

static inline struct region_hdr *agent_region_get(void)
{
	return __atomic_load_n(&agent_region_ptr, __ATOMIC_ACQUIRE);
}

static inline agent_slot *agent_region_slots(struct region_hdr *r)
{
	return (agent_slot *)(void *)((char *)r + r->slot_off);
}

/*
 * Makes the first region (nslots slots), unregistered. Called under the
 * core's registry lock, the caller BUSY. Returns 0 or -errno.
 */
int agent_region_create(uint32_t nslots);

/*
 * Replaces the region by a new one of nslots slots (>= the current count)
 * holding the same figures, and registers it with memprobed when `reg`.
 * Every other thread moves its slot over at its next slow path; the caller's
 * slot `self` (may be NULL) moves at once and the new one is returned
 * (self's old address when self is NULL or the replacement failed). Under
 * the registry lock, the caller BUSY. Returns 0 or -errno in *err.
 */
agent_slot *agent_region_replace(uint32_t nslots, agent_slot *self, int reg, int *err);

/* Follows a slot's replacements to its newest copy, copying its counts
 * over; the owning thread calls it. Returns the newest slot. */
agent_slot *agent_region_follow(agent_slot *t);

/* Reads the environment (socket path, debug) and registers the region
 * made at start; called once from the constructor. */
void agent_region_start(void);

/* The slow-path tick: at most once a second per process, registers with a
 * daemon that has appeared or restarted. Never blocks. */
void agent_region_maintain(void);

/* Registers now if not registered (memprobe_flush). Returns 0, or
 * -ECONNREFUSED (-ENOENT, -EACCES, ...) when no daemon took it. */
int agent_region_flush(void);

/* Raises the region's peak to v (a publication). */
void agent_region_raise_peak(uint64_t v);
/* Stores the bytes of the program's own mappings into the region. */
void agent_region_store_mmap(void);
/* Records how the process ends (exit, _exit, quick_exit) before it goes. */
void agent_region_exit(int status);
/* Sets a named gauge in the region. Returns 0, -EINVAL, or -ENOSPC. */
int agent_region_gauge(const char *name, double value);
/* Registrations made and failed by this process's agent so far. */
void agent_region_counts(uint64_t *done, uint64_t *failed);
/* In a fork child: the region becomes the child's own (private, until it
 * registers at its first tick). Async-signal-safe. */
void agent_region_postfork_child(void);

/* ---- descriptor work away from the program's table (agent_outside.c) ---- */

/* Runs fn(arg) in a transient task of our thread group with its own copy
 * of the descriptor table, the caller waiting; or in place where that
 * cannot be. Returns fn's value. The caller holds agent_core_lock. */
int agent_outside(int (*fn)(void *), void *arg);
/* Looks, once at load, for what cannot run such a task (valgrind). */
void agent_outside_setup(void);

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
 * "requested" (the requested size, recorded by the agent in a side table:
 * the allocator has no malloc_usable_size). agent_size_kind is the same as
 * an enum region_size_source, for the region.
 */
extern const char *agent_size_source;
extern uint32_t agent_size_kind;

/* The side table (agent_sizes.c): records block's size. Returns 0, or -1
 * when it could not (then the block is not counted). Async-signal-safe;
 * never waits on a lock across a system call. */
int agent_sizes_put(void *block, size_t size);
/* Finds block's size into *size, removing it if take. Returns 0, or -1
 * when it is not there (or the table could not be read). */
int agent_sizes_get(void *block, size_t *size, int take);
/* In a fork child. */
void agent_sizes_postfork(void);

/* ---- small utilities (agent_util.c): no allocation, no stdio ---- */

/* Writes "memprobe: MSG\n" to stderr. */
void agent_warn(const char *msg);
/* Writes "memprobe: MSG\n" to stderr when MEMPROBE_DEBUG=1. */
void agent_debug(const char *msg);
extern int agent_debug_on;

/* "ENOENT (No such file or directory)" for err (an errno value), or
 * "errno N" written into buf (AGENT_ERR_TEXT_LEN bytes) for one without a
 * name here. Returns a static string or buf. */
#define AGENT_ERR_TEXT_LEN 24
const char *agent_err_text(int err, char *buf, size_t size);
/* Writes "memprobe: MSG PATH: ERRTEXT TAIL\n" (no spaces added) to stderr
 * when MEMPROBE_DEBUG=1: the path an operation failed on and why. */
void agent_debug_path(const char *msg, const char *path, int err, const char *tail);

/* ---- the heap profile (agent_profile.c) ---- */

/* The mean bytes between samples (MEMPROBE_PROFILE_RATE); 0: no profile. */
extern uint64_t agent_prof_rate;
/* Marks of a sampled block (agent_shim.c): a random word with the top bit
 * set, and the profile's epoch (a fork child starts a new one). */
extern uint64_t agent_prof_secret;
extern uint32_t agent_prof_epoch;

/* Reads MEMPROBE_PROFILE_RATE and MEMPROBE_PROFILE_MAX_STACKS and sets the
 * sampler up, once; called when the first region is made. Returns 0 or
 * -ENOMEM (then profiling stays off). */
int agent_prof_setup(void);
/* Bytes of the profile area a region gets; 0 when profiling is off. */
uint64_t agent_prof_area_size(void);
/* Writes an empty profile into the area of region r (r->prof_off). */
void agent_prof_area_init(struct region_hdr *r);
/* Moves the profile of a region being replaced: before the new region is
 * published, the records; after, the counters (see agent_profile.c). */
void agent_prof_move(struct region_hdr *old, struct region_hdr *nw);
void agent_prof_move_counters(struct region_hdr *old, struct region_hdr *nw);
/* In a fork child: an empty profile in r, a new epoch. */
void agent_prof_postfork_child(struct region_hdr *r);
/* The next countdown for this thread: exponential with mean the rate;
 * INT64_MAX when profiling is off. */
int64_t agent_prof_next(void);
/* Whether a sample can be recorded now (profiling on, a region with a
 * profile). */
static inline int agent_prof_on(void)
{
	struct region_hdr *r = agent_region_get();

	return agent_prof_rate != 0 && r != NULL && r->prof_off != 0;
}
/* A captured call stack: return addresses, the caller of the agent's
 * frames first. */
struct agent_stack {
	uint64_t frames[PROF_MAX_FRAMES];
	unsigned n;
	unsigned skipped;               /* the agent's own frames passed over */
	unsigned evals_left;            /* interpreter loop frames still to come; 0: no end known */
	int64_t t0;                     /* agent_prof_clock() when capture began */
};

/* agent_python.c, below. */
unsigned agent_py_entries(void);

/* The unwinder's callback for agent_stack_capture. */
_Unwind_Reason_Code agent_stack_frame(struct _Unwind_Context *ctx, void *arg);
/* CLOCK_MONOTONIC in ns (vDSO: no system call). */
int64_t agent_prof_clock(void);

/*
 * Captures the calling thread's stack into *s with libgcc's unwinder.
 * Inlined into the hook's slow path, so that the agent's own frames, which
 * the unwinder walks through and agent_stack_frame leaves out, are as few
 * as can be: each costs about 1,700 instructions to unwind. The caller is
 * AGENT_BUSY.
 */
static inline __attribute__((always_inline)) void agent_stack_capture(struct agent_stack *s)
{
	s->n = s->skipped = 0;
	s->t0 = agent_prof_clock();
	s->evals_left = agent_py_entries();
	_Unwind_Backtrace(agent_stack_frame, s);
}

/* Records a sampled allocation of size bytes with its stack s; returns
 * its stack id. The caller is AGENT_BUSY. */
uint32_t agent_prof_record(const struct agent_stack *s, uint64_t size);
/* agent_stack_capture() then agent_prof_record(), for a caller with no
 * stack of its own at hand. */
uint32_t agent_prof_sample(uint64_t size);
/* A sampled block of stack id and size was freed. */
void agent_prof_unsample(uint32_t id, uint64_t size);

/* Whether an allocation picked now can be sampled (agent_shim.c). */
int agent_sample_ok(void);
/* Whether the allocator below is one whose blocks can be made sampled
 * blocks (glibc's malloc). */
int agent_sampled_blocks_work(void);
/* Makes r, a block of at least size + 32 bytes the allocator handed out
 * uncounted (the caller was busy), a sampled block of `size` bytes with
 * stack s: counted, recorded, shaped so that free() knows it. Returns it
 * (or r itself, counted, when it cannot be sampled now). */
void *agent_sample_carve(void *r, size_t size, const struct agent_stack *s);

/* ---- Python (agent_python.c) ---- */

/* One Python frame as read: its code object, the line it was running (0:
 * unknown), and whether it was the first frame of a C call of the
 * interpreter's loop (is_entry). */
struct agent_pyframe {
	uintptr_t code;
	uint32_t line;
	uint32_t entry;
};

/* Finds CPython 3.11 in the process and, with sample_objects (and unless
 * MEMPROBE_PROFILE_PYTHON says frames, or 0: then it does not look), wraps
 * its small-object allocator. Returns how many Python functions the
 * profile area has room for; 0 when this is not a Python process whose
 * frames the agent can read. Called once, from agent_prof_setup. */
uint32_t agent_py_setup(int sample_objects);
/* The calling thread's Python frames, innermost first, at most max; 0
 * when it has none or they cannot be read. */
unsigned agent_py_frames(struct agent_pyframe *out, unsigned max);
/* How many C calls of the interpreter's loop the thread's Python frames
 * ran in (their is_entry frames); 0 when it has none. The native stack
 * past the last of them is the interpreter's start-up, the same in every
 * sample: capture stops there. */
unsigned agent_py_entries(void);
/* Whether return address ip is in the interpreter's loop, the C frame
 * that runs Python frames. */
int agent_py_eval_frame(uint64_t ip);
/* What tells code object `code` from a later one at its address. */
uint64_t agent_py_ident(uintptr_t code);
/* Fills rec's first line, name and file from code object `code`. */
void agent_py_describe(uintptr_t code, struct prof_pyfunc *rec);

#endif
