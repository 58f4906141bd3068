/* agent.h: the agent's counting core, shared by the allocator shim and the reporter. */
#ifndef MEMPROBE_AGENT_H
#define MEMPROBE_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/*
 * Counting model. Every thread owns a `struct agent_thread` in initial-exec
 * TLS and is the only writer of its counters; the reporter reads them. The
 * counters are C11 atomics used only with relaxed loads and stores (plain
 * moves on every target we build for), never read-modify-write, so the hot
 * path takes no lock, makes no syscall and touches no shared cache line.
 *
 * Live bytes are the allocator's usable sizes: a block counts
 * malloc_usable_size(p) when it is handed out and the same figure when it is
 * freed (asked of the real allocator just before the real free), so
 * allocated - freed is exact whatever allocator sits below us and whatever
 * alignment the block was made with. No header is added to any block.
 *
 * Peak live bytes needs a process-wide sum at every moment, which per-thread
 * counters cannot give without a shared atomic per call. Each thread instead
 * batches its net change in `pending` and publishes it to one shared counter
 * when it passes +-AGENT_PEAK_BATCH; the shared peak is raised at each
 * publication and again from the exact sum at every sample. So the reported
 * peak is never above the true peak and at most
 * (threads holding unpublished growth) * AGENT_PEAK_BATCH below it.
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
};

struct agent_counters {
	_Atomic uint64_t allocs;
	_Atomic uint64_t frees;
	_Atomic uint64_t alloc_bytes;   /* usable bytes handed out */
	_Atomic uint64_t free_bytes;    /* usable bytes given back */
	_Atomic uint64_t failed;
	_Atomic uint64_t hist_sum;      /* requested bytes */
	_Atomic uint64_t hist[PROTO_HIST_BUCKETS];
};

/* One registered thread's slot. Counters and stack_low are written only by
 * the owning thread; the registry fields only under the registry lock. */
struct agent_thread {
	struct agent_counters c;
	_Atomic uintptr_t stack_low;    /* lowest stack pointer seen; 0 none */
	int64_t pending;                /* unpublished net change, owner only */

	struct agent_thread *next, *prev;
	pid_t tid;
	int is_main;
	uintptr_t stack_top;            /* highest address of the thread's stack */
	uint64_t stack_size;            /* its size (main: RLIMIT_STACK) */
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
void agent_count_shared(int64_t usable, size_t req);
/* Publishes a thread's pending net change; see AGENT_PEAK_BATCH. */
void agent_publish(struct agent_thread *t);

/* Marks the calling thread as inside the agent (its allocations are
 * forwarded uncounted) and returns the previous mode for agent_leave. */
unsigned char agent_enter(void);
void agent_leave(unsigned char mode);

static inline void agent_bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline void agent_note_stack(struct agent_thread *t)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t low = atomic_load_explicit(&t->stack_low, memory_order_relaxed);

	if (sp < low || low == 0)
		atomic_store_explicit(&t->stack_low, sp, memory_order_relaxed);
}

/* Counts a block of `usable` bytes handed out for a request of `req` bytes
 * on a thread in AGENT_ACTIVE mode. */
static inline void agent_on_alloc(struct agent_thread *t, size_t req, size_t usable)
{
	agent_bump(&t->c.allocs, 1);
	agent_bump(&t->c.alloc_bytes, usable);
	agent_bump(&t->c.hist[proto_hist_bucket(req)], 1);
	agent_bump(&t->c.hist_sum, req);
	t->pending += (int64_t)usable;
	if (t->pending > AGENT_PEAK_BATCH)
		agent_publish(t);
	agent_note_stack(t);
}

static inline void agent_on_free(struct agent_thread *t, size_t usable)
{
	agent_bump(&t->c.frees, 1);
	agent_bump(&t->c.free_bytes, usable);
	t->pending -= (int64_t)usable;
	if (t->pending < -AGENT_PEAK_BATCH)
		agent_publish(t);
}

static inline void agent_on_fail(struct agent_thread *t)
{
	agent_bump(&t->c.failed, 1);
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

/* ---- small utilities (agent_util.c): no allocation, no stdio ---- */

/* Writes "memprobe: MSG\n" to stderr. */
void agent_warn(const char *msg);
/* Writes "memprobe: MSG\n" to stderr when MEMPROBE_DEBUG=1. */
void agent_debug(const char *msg);
extern int agent_debug_on;

#endif
