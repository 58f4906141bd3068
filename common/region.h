/* region.h: the shared region: the memory in which an agent keeps its figures for memprobed to read. */
#ifndef MEMPROBE_REGION_H
#define MEMPROBE_REGION_H

#include <stddef.h>
#include <stdint.h>

/* The system interface a region needs, for C libraries that predate it
 * (memfd seals: Linux 3.17; pidfd_open: 5.3). */
#ifndef MFD_ALLOW_SEALING
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS (1024 + 9)
#define F_GET_SEALS (1024 + 10)
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* The seals an agent puts on its region; memprobed needs SHRINK and GROW. */
#define REGION_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * An agent keeps its figures in a memfd of its own: it sizes it, seals it
 * against shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
 * maps it shared, and hands it to memprobed with a REGISTER message
 * (proto.h) as SCM_RIGHTS, together with a pidfd of itself. It then closes
 * every descriptor: nothing of ours stays in the host's descriptor table.
 * memprobed checks the seals, maps the region read-only and reads it when
 * it is asked, so figures are exact at that instant; the mapping outlives
 * the process, so the final figures survive any way of dying.
 *
 * Trust: everything here is written by the agent's process and may be
 * garbage or hostile. The reader checks the header against the size it
 * mapped, reads only inside it, clamps every count and derived figure, and
 * can only ever misreport the figures of the process that wrote them.
 *
 * Encoding: native-endian, naturally aligned integers (writer and reader run
 * on one host). Each 64-bit field is written with a single store and read
 * with a single-copy-atomic load, so a reader sees it old or new, never
 * torn; fields are not consistent with each other at one instant.
 *
 * Layout REGION_LAYOUT (1):
 *
 *   [0, REGION_HDR_SIZE)                 struct region_hdr
 *   [REGION_GAUGE_OFF, + gauge area)     struct region_gauge[REGION_GAUGES]
 *   [slot_off, slot_off + nslots*slot_size)  struct region_slot[nslots]
 *
 * A region is replaced, never resized: when the agent must hand memprobed
 * a new one (a fork child, a region that is full, a daemon that restarted)
 * it makes a new memfd with the same `instance` and a higher `generation`,
 * copies the figures, and registers it; memprobed then reads the newer one.
 * A new `instance` from the same process means a new program image (exec).
 */

#define REGION_MAGIC    0x31475245424f5250ull   /* "PROBERG1" as bytes */
#define REGION_LAYOUT   1
#define REGION_HDR_SIZE 4096u
#define REGION_GAUGES   64
#define REGION_GAUGE_NAME_MAX 128               /* as PROTO_GAUGE_NAME_MAX */
#define REGION_BINS     64
/* Bounds the reader enforces: at most this many slots, this many bytes. */
#define REGION_MAX_SLOTS 16384u
#define REGION_MAX_SIZE  (64ull << 20)

/* How the agent learns the size of a block (region_hdr.size_source). */
enum region_size_source {
	REGION_SIZE_UNKNOWN = 0,
	REGION_SIZE_GLIBC_HEADER,       /* read from glibc's chunk header (exact, fast path) */
	REGION_SIZE_USABLE,             /* asked of the allocator's malloc_usable_size */
	REGION_SIZE_REQUESTED,          /* the sizes programs asked for (no usable size) */
	REGION_SIZE__COUNT
};

/* How the process ended, as far as the agent saw it (region_hdr.exit_kind). */
enum region_exit {
	REGION_EXIT_NONE = 0,           /* running, or ended without the agent seeing it */
	REGION_EXIT_EXIT,               /* exit(), _exit(), _Exit() or quick_exit(): exit_status */
	REGION_EXIT__COUNT
};

/* Slot states (region_slot.state). */
enum region_slot_state {
	REGION_SLOT_FREE = 0,           /* never used */
	REGION_SLOT_LIVE,               /* a running thread counts here */
	REGION_SLOT_EXITED,             /* its thread exited; the counts stay */
};

struct region_hdr {
	uint64_t magic;                 /* REGION_MAGIC */
	uint32_t layout;                /* REGION_LAYOUT */
	uint32_t agent;                 /* enum proto_agent */
	uint64_t size;                  /* bytes: the memfd's size */
	uint64_t instance;              /* random, one per program image */
	uint64_t generation;            /* 0 first; each replacement + 1 */
	uint32_t slot_off;              /* where the slots begin */
	uint32_t slot_size;             /* sizeof(struct region_slot) */
	uint32_t nslots;                /* slots in the array */
	uint32_t slots_used;            /* slots [0, slots_used) have been used */
	uint64_t start_time;            /* the agent's /proc/self/stat field 22 */
	uint64_t stack_limit;           /* main thread's RLIMIT_STACK, bytes; 0 unlimited */
	uint64_t heap_peak;             /* peak live heap bytes (see client/agent/agent.h) */
	uint64_t mmap_live;             /* bytes of the program's own anonymous mappings */
	uint32_t size_source;           /* enum region_size_source */
	uint32_t exit_kind;             /* enum region_exit */
	int64_t exit_status;            /* with REGION_EXIT_EXIT */
	uint64_t threads;               /* Python agent: its count; the C agent: slots tell */

	/* Python agent only: set when py_set is non-zero. */
	uint64_t py_set;
	uint64_t py_allocated_blocks;
	uint64_t py_recursion_limit;
	uint64_t py_stack_depth_peak;   /* frames */
	uint64_t py_gc_collections[3];
	uint64_t py_gc_collected[3];
	uint64_t py_gc_uncollectable[3];
	uint64_t py_gc_count[3];

	uint32_t ngauges;               /* gauges [0, ngauges) may be set */
	uint32_t reserved0;
	/* The heap profile (common/profile.h): its area in the region, after
	 * the slots; 0 and 0 when the agent keeps none. */
	uint64_t prof_off, prof_size;
	uint64_t reserved[30];          /* zero; room to grow within layout 1 */
};

/* A program's named gauge. The writer fills name and value, then sets
 * `state` to 1; a name never changes once set. */
struct region_gauge {
	uint64_t state;                 /* 0 empty, 1 set */
	double value;
	char name[REGION_GAUGE_NAME_MAX];   /* NUL-padded; [A-Za-z0-9_.:-] */
};

#define REGION_GAUGE_OFF REGION_HDR_SIZE
#define REGION_GAUGE_AREA (REGION_GAUGES * sizeof(struct region_gauge))

/*
 * One thread's counters. Only the thread that owns the slot writes it
 * (plain stores); a slot whose thread exited keeps its counts and is given
 * to a later thread, which counts on from them, so the sums over all slots
 * are the process's totals. Each allocation bumps exactly one bin, by the
 * usable size: bin b holds sizes in (2^b, 2^(b+1)] (bin 3 also holds 1..16;
 * bins 0..2 stay empty), so allocations are the bins' sum and alloc_bytes their size sum.
 */
struct region_slot {
	int64_t net;                    /* usable bytes allocated minus freed */
	uint64_t alloc_bytes;           /* usable bytes handed out */
	uint64_t frees;
	uint64_t failed;
	uint64_t bins[REGION_BINS];
	uint64_t stack_low;             /* lowest stack pointer seen in the stack; UINT64_MAX none */
	uint64_t stack_top;             /* highest address of the thread's stack; 0 unknown */
	uint64_t stack_size;            /* its size (main thread: RLIMIT_STACK, 0 unlimited) */
	uint64_t stack_peak_prev;       /* deepest stack of the slot's earlier threads */
	uint32_t tid;
	uint32_t state;                 /* enum region_slot_state */
	uint32_t is_main;
	uint32_t reserved0;
	uint64_t reserved[6];           /* zero; pads the slot to whole cache lines */
	/* The C agent's own bookkeeping (client/agent/agent.h); readers ignore it. */
	struct region_agent_private {
		int64_t hi, lo;         /* publish the peak when net leaves (lo, hi) */
		int64_t mark;           /* net at the last publication */
		int64_t room;           /* bytes malloc may hand out before its slow path */
		uint64_t moved;         /* the slot's copy in a newer region, once replaced */
		int64_t sample_left;    /* bytes before the next sample, when room was armed */
		int64_t armed;          /* room when it was last armed */
		uint64_t reserved[1];
	} agent;
};

/* Where the slots begin in layout 1. */
#define REGION_SLOT_OFF ((uint32_t)(REGION_GAUGE_OFF + REGION_GAUGE_AREA))

/*
 * The one size rule of the histogram, in two steps. The writer bumps
 * bins[region_bin(size)] on every allocation (one clz on the hot path);
 * the reader folds the 64 bins into proto_hist_bounds' PROTO_HIST_BUCKETS
 * buckets with region_bin_bucket(). So size s is counted in bucket
 * region_bin_bucket(region_bin(s)): the smallest i with
 * s <= proto_hist_bounds[i], else the last (+Inf).
 */
/* Bin of a block of size bytes: bit index of (size - 1) | 15, so sizes
 * 0..16 are bin 3 and bin b (b > 3) holds (2^b, 2^(b+1)]. */
static inline __attribute__((always_inline)) unsigned region_bin(uint64_t size)
{
	return 63u - (unsigned)__builtin_clzll((size - (size != 0)) | 15);
}

/* region_bin() of a size known not to be 0 (a glibc chunk's usable bytes),
 * one instruction shorter, for the allocator's fast path. */
static inline __attribute__((always_inline)) unsigned region_bin_nonzero(uint64_t size)
{
	return 63u - (unsigned)__builtin_clzll((size - 1) | 15);
}

/* The histogram bucket of bin b (0..REGION_BINS - 1). */
unsigned region_bin_bucket(unsigned b);

/* Bytes of a region with n slots, rounded up to whole pages. */
static inline uint64_t region_size_for(uint32_t nslots)
{
	uint64_t n = REGION_SLOT_OFF + (uint64_t)nslots * sizeof(struct region_slot);

	return (n + 4095) & ~(uint64_t)4095;
}

/* Writes the fixed part of a fresh header of agent kind `agent` (enum
 * proto_agent) with nslots slots: magic, layout, kind, size
 * (region_size_for(nslots)) and the slot array's place. The writer sets
 * the rest. */
void region_hdr_init(struct region_hdr *h, unsigned agent, uint32_t nslots);

/* ---- the reader (memprobed) ---- */

struct proto_sample;

/* Per-slot stack figures the reader derives. */
struct region_stack {
	uint32_t tid;
	int live;
	int is_main;
	uint64_t top, size;
	uint64_t depth;                 /* deepest seen at allocations, bytes */
};

/*
 * Checks a region of `len` mapped bytes (the memfd's size, which its seals
 * fix) and, if it is well formed, returns 0 and sets *hdr_out to its header
 * copied out; else a negative errno (-EINVAL bad magic, layout or offsets;
 * -EPROTO agent kind). Reads nothing outside [base, base + len).
 */
int region_check(const void *base, uint64_t len, struct region_hdr *hdr_out);

/*
 * Reads the figures of a checked region into *s (flags: the sections it
 * holds): sums of the slots, clamped so that live figures are never
 * negative and never exceed their counters. `peak_seen` carries the
 * highest live figure this reader has seen across reads (in and out), so
 * the peak never goes down. Writes up to `nstacks` entries of per-slot
 * stack figures to stacks (may be NULL) and returns how many slots were
 * live or exited.
 */
size_t region_read(const void *base, const struct region_hdr *hdr, struct proto_sample *s,
    uint64_t *peak_seen, struct region_stack *stacks, size_t nstacks);

/* Reads gauge i into name (NUL-terminated, nsize >= REGION_GAUGE_NAME_MAX + 1)
 * and *value. Returns 1 if it is set and its name valid, else 0. */
int region_gauge(const void *base, const struct region_hdr *hdr, unsigned i, char *name,
    size_t nsize, double *value);

#endif
