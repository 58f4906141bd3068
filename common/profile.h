/* profile.h: the heap profile an agent keeps in its shared region: sampled call stacks, their counters, and the code they ran in. */
#ifndef MEMPROBE_PROFILE_H
#define MEMPROBE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sampling. Each thread counts down a random number of bytes, drawn from
 * an exponential distribution of mean `rate`; the allocation that takes
 * the count below zero is sampled: its call stack is recorded and it
 * stands for 1 / (1 - e^(-size/rate)) allocations of its size
 * (profile_weight()). Sums of those weights are unbiased estimates of the
 * objects and bytes each stack allocated and still holds. The bytes are
 * the usable sizes the heap figures count (as in jemalloc's profiles), not
 * the sizes asked for; an object of CPython's small-object allocator
 * counts its size rounded up to that allocator's 16-byte classes.
 *
 * Where it lives. The profile is an area of the region (region.h) at
 * region_hdr.prof_off, prof_size bytes long, sized at the agent's start for
 * max_stacks stacks and max_maps code mappings. Pages are touched as
 * stacks are added, so memory grows with the stacks in use, up to the
 * bound. When the region is replaced its profile moves with it (see
 * client/agent/agent_profile.c).
 *
 *   [0, PROF_HDR_SIZE)                         struct prof_hdr
 *   [stack_off, + max_stacks * stack_size)     struct prof_stack[max_stacks]
 *   [map_off,   + max_maps * map_size)         struct prof_map[max_maps]
 *   [pyfunc_off, + max_pyfuncs * pyfunc_size)  struct prof_pyfunc[max_pyfuncs]
 *
 * The Python functions are there only in a Python process whose frames the
 * agent can read (max_pyfuncs 0 otherwise, and in areas written before
 * they existed: those fields were reserved, so zero).
 *
 * Stack 0 is "[other]": samples whose stack could not be given a record of
 * its own (the table is full, or it was being moved) are counted there,
 * with no frames. Records [0, stacks_used) have been claimed; a record is
 * readable once its state is PROF_READY (written with release order after
 * its frames), and its frames never change after that. Counters change at
 * any time with atomic adds; each is read with one single-copy-atomic load.
 *
 * Trust: a reader checks the area against the region's size, clamps
 * stacks_used and maps_used to their capacities, nframes to
 * PROF_MAX_FRAMES, string lengths to their fields, and counters to >= 0.
 * A value of PROF_MOVED in a counter means the agent moved it to a newer
 * region: read it as 0.
 */

#define PROF_MAGIC      0x31464f5250424d50ull  /* "PMBPROF1" as bytes */
#define PROF_LAYOUT     1
#define PROF_HDR_SIZE   4096u
#define PROF_MAX_FRAMES 64
#define PROF_PATH_MAX   512                     /* bytes of a path field, NUL included */
#define PROF_BUILD_ID_MAX 32
/* Fixed point of the object estimates: PROF_OBJ_ONE is one object. */
#define PROF_OBJ_ONE    (1ll << 16)
/* A counter the agent moved to a newer region. */
#define PROF_MOVED      INT64_MIN

/* Bounds: the default and largest numbers of stacks and mappings. */
#define PROF_STACKS_DEFAULT 4096u
#define PROF_STACKS_MAX     65536u
#define PROF_MAPS_DEFAULT   1024u
#define PROF_RATE_DEFAULT   524288u
#define PROF_PYFUNCS_DEFAULT 4096u
#define PROF_PYNAME_MAX     256                 /* bytes of a Python name field, NUL included */

/*
 * Python frames. A frame with its top bit set is not a return address (no
 * user-space address has it) but a Python frame:
 *
 *   PROF_PY_FRAME | func << 32 | line
 *
 * func the index of a struct prof_pyfunc (its code object: qualified name,
 * file, first line), line the line it was running (0: unknown). The agent
 * puts a Python function's frames where the interpreter's C frame that ran
 * them was (_PyEval_EvalFrameDefault), so native and Python frames read as
 * one stack, innermost first. Function 0 is "[python]": a Python frame
 * whose function the table had no room for.
 */
#define PROF_PY_FRAME       (1ull << 63)
#define PROF_PY_FUNC(f)     ((uint32_t)((f) >> 32) & 0x7fffffffu)
#define PROF_PY_LINE(f)     ((uint32_t)(f))
#define PROF_PY_MAKE(func, line) \
	(PROF_PY_FRAME | (uint64_t)((func) & 0x7fffffffu) << 32 | (uint32_t)(line))

static inline int prof_frame_is_py(uint64_t f)
{
	return (f & PROF_PY_FRAME) != 0;
}

/* Record states (prof_stack.state, prof_map.state). */
enum prof_state {
	PROF_EMPTY = 0,
	PROF_WRITING,                   /* claimed; its writer is filling it */
	PROF_READY,
};

struct prof_hdr {
	uint64_t magic;                 /* PROF_MAGIC */
	uint32_t layout;                /* PROF_LAYOUT */
	uint32_t reserved0;
	uint64_t rate;                  /* mean bytes between samples */
	uint32_t stack_off, stack_size; /* from the area's start; sizeof(struct prof_stack) */
	uint32_t max_stacks;
	uint32_t map_off, map_size;     /* sizeof(struct prof_map) */
	uint32_t max_maps;
	int64_t stacks_used;            /* records [0, stacks_used) claimed */
	int64_t maps_used;
	int64_t samples;                /* allocations sampled */
	int64_t folded;                 /* samples counted in [other] as the table was full */
	int64_t unwind_failed;          /* samples whose stack could not be read */
	int64_t maps_dropped;           /* code mappings the map table had no room for */
	int64_t sample_ns;              /* time spent sampling: capture + bookkeeping */
	uint64_t agent_moved;           /* the agent's own: this area's copy in a newer region */
	uint32_t pyfunc_off, pyfunc_size;       /* sizeof(struct prof_pyfunc); 0, 0: none */
	uint32_t max_pyfuncs;
	uint32_t reserved1;
	int64_t pyfuncs_used;           /* records [0, pyfuncs_used) claimed */
	int64_t pyfuncs_dropped;        /* Python functions the table had no room for */
	int64_t py_samples;             /* samples with Python frames in their stack */
	int64_t reserved[14];
};

/* One distinct call stack and the estimates of what it allocated. */
struct prof_stack {
	uint32_t state;                 /* enum prof_state */
	uint32_t nframes;               /* <= PROF_MAX_FRAMES */
	uint64_t hash;
	int64_t alloc_objects;          /* PROF_OBJ_ONE units */
	int64_t alloc_bytes;
	int64_t inuse_objects;          /* PROF_OBJ_ONE units */
	int64_t inuse_bytes;
	int64_t samples;                /* samples taken here (raw count) */
	int64_t inuse_samples;          /* of those, blocks still live */
	/* Return addresses, the allocating function's caller first (frames of
	 * the agent itself are left out). */
	uint64_t frames[PROF_MAX_FRAMES];
};

/* One executable segment of a loaded ELF file, as /proc/PID/maps would
 * show it: [start, end) maps the file from `offset`. */
struct prof_map {
	uint32_t state;                 /* enum prof_state */
	uint32_t build_id_len;          /* 0: none found */
	uint64_t start, end, offset;
	unsigned char build_id[PROF_BUILD_ID_MAX];
	char path[PROF_PATH_MAX];       /* NUL-terminated; "" when unknown */
};

/* One Python function: a code object as the agent read it. */
struct prof_pyfunc {
	uint32_t state;                 /* enum prof_state */
	int32_t first_line;             /* co_firstlineno */
	uint64_t agent_code;            /* the agent's own: the code object's address, */
	uint64_t agent_ident;           /* and what tells it from a later one there */
	uint64_t reserved[5];
	char name[PROF_PYNAME_MAX];     /* co_qualname, UTF-8, NUL-terminated */
	char file[PROF_PATH_MAX];       /* co_filename, UTF-8, NUL-terminated */
};

/* Bytes of a profile area for max_stacks stacks, max_maps mappings and
 * max_pyfuncs Python functions, in whole pages. */
uint64_t profile_area_size(uint32_t max_stacks, uint32_t max_maps, uint32_t max_pyfuncs);

/* Writes a fresh header (magic, layout, rate, offsets, capacities) at the
 * start of an area of profile_area_size(max_stacks, max_maps, max_pyfuncs)
 * bytes, and makes stack 0, "[other]", and (with Python functions)
 * function 0, "[python]", ready. The rest must be zero. */
void profile_init(struct prof_hdr *h, uint64_t rate, uint32_t max_stacks, uint32_t max_maps,
    uint32_t max_pyfuncs);

/*
 * The weight of a sampled allocation of `size` requested bytes at `rate`:
 * how many objects it stands for, in PROF_OBJ_ONE units, and how many
 * bytes. The same function in the agent at allocation and at free, so
 * in-use figures return to exactly zero.
 */
void profile_weight(uint64_t size, uint64_t rate, int64_t *objects, int64_t *bytes);

/* ---- the reader (memprobed) ---- */

/* A checked profile area: the header's figures copied out and clamped. */
struct prof_view {
	const unsigned char *base;      /* the area */
	uint64_t rate;
	uint32_t nstacks, nmaps, npyfuncs;      /* records to look at: used, clamped to capacity */
	uint32_t max_pyfuncs;                   /* capacity of the Python functions */
	uint32_t stack_off, map_off, stack_size, map_size, pyfunc_off, pyfunc_size;
	int64_t samples, folded, unwind_failed, maps_dropped, sample_ns;
	int64_t pyfuncs_dropped, py_samples;
};

/*
 * Checks the profile area of a region of region_len bytes mapped at
 * region (its header says prof_off and prof_size; pass them). Returns 0
 * and fills *v; -ENOENT when the region has no profile (prof_off 0);
 * -EINVAL when the area or its header is malformed. Reads nothing outside
 * [region, region + region_len).
 */
int profile_check(const void *region, uint64_t region_len, uint64_t prof_off,
    uint64_t prof_size, struct prof_view *v);

/* One stack as read: counters clamped to >= 0. */
struct prof_stack_read {
	uint64_t hash;
	uint32_t nframes;
	int64_t alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;   /* objects: PROF_OBJ_ONE */
	int64_t samples, inuse_samples;
	uint64_t frames[PROF_MAX_FRAMES];
};

/* Reads stack i (< v->nstacks). Returns 1 if it is ready, else 0 (being
 * written, or empty). */
int profile_stack(const struct prof_view *v, uint32_t i, struct prof_stack_read *out);

/* One mapping as read: path NUL-terminated within its field. */
struct prof_map_read {
	uint64_t start, end, offset;
	unsigned char build_id[PROF_BUILD_ID_MAX];
	uint32_t build_id_len;
	char path[PROF_PATH_MAX];
};

/* Reads mapping i (< v->nmaps). Returns 1 if it is ready and well formed
 * (start < end, a path or a build-id), else 0. */
int profile_map(const struct prof_view *v, uint32_t i, struct prof_map_read *out);

/* One Python function as read: strings NUL-terminated within their fields. */
struct prof_pyfunc_read {
	int32_t first_line;             /* >= 0 */
	char name[PROF_PYNAME_MAX];
	char file[PROF_PATH_MAX];
};

/* Reads Python function i (PROF_PY_FUNC of a frame). Returns 1 if it is
 * ready and has a name, else 0 (past the table, being written, or empty).
 * Any i below the table's capacity is looked at, not only those below
 * npyfuncs: the agent makes a function ready before any stack names it,
 * so a stack read after profile_check() may name one claimed since. */
int profile_pyfunc(const struct prof_view *v, uint32_t i, struct prof_pyfunc_read *out);
/* The Python functions claimed now ([0, n) to look at), read again:
 * for a reader that reads them after the stacks. */
uint32_t profile_pyfuncs_now(const struct prof_view *v);

#endif
