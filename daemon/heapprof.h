/* heapprof.h: a process's heap profile copied out of its shared region into compact, bounded daemon memory. */
#ifndef MEMPROBE_HEAPPROF_H
#define MEMPROBE_HEAPPROF_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/*
 * The daemon reads a live process's profile from its region (common/
 * profile.h) when asked, and keeps a copy when the process exits, so the
 * profile outlives the mapping for the exited TTL. A copy holds only the
 * ready stacks, each with its own frames (nframes, not PROF_MAX_FRAMES),
 * and the well-formed mappings, with their paths as strings of their own
 * length: a stack costs 48 bytes plus 8 a frame, a full one 560. In a
 * Python process it also holds the agent's Python functions (qualified
 * name, file, first line), each distinct string once (a module's file is
 * shared by its functions): 24 bytes a function plus its strings.
 *
 * Bounds, whatever the agent wrote: at most HEAPPROF_MAX_BYTES a copy,
 * filled in this order: its mappings (HEAPPROF_MAX_MAPS at most, 2.2 MiB
 * at worst), its stacks (those past the bound are added into [other],
 * stack 0, and counted in daemon_folded), its Python functions (those
 * past the bound, or past HEAPPROF_MAX_PYFUNCS, read as "[python]"). A
 * copy never changes once made; it is shared by reference count between
 * the process table and the HTTP threads reading it.
 */

#define HEAPPROF_MAX_BYTES (16u << 20)
#define HEAPPROF_MAX_MAPS 4096
#define HEAPPROF_MAX_PYFUNCS 65536u
/* What a Python frame whose function is unknown reads as: the agent's
 * function 0 (its table was full), one out of the copy's range, or one
 * that was not ready. */
#define HEAPPROF_PY_UNKNOWN "[python]"

struct heapprof_stack {
	int64_t alloc_objects, alloc_bytes;     /* objects: PROF_OBJ_ONE units */
	int64_t inuse_objects, inuse_bytes;
	uint32_t nframes;
	uint32_t first;                         /* index of its first frame in frames[] */
};

struct heapprof_map {
	uint64_t start, end, offset;
	uint32_t build_id_len;                  /* 0: none */
	unsigned char build_id[PROF_BUILD_ID_MAX];
	const char *path;                       /* owned by the copy; "" when unknown */
};

/* One Python function (a code object). Equal strings of one copy are one
 * pointer (hp->unknown's among them), so they compare by address. */
struct heapprof_pyfunc {
	const char *name;                       /* co_qualname; owned by the copy, never NULL */
	const char *file;                       /* co_filename; "" when unknown */
	int32_t first_line;                     /* >= 0; 0 when unknown */
};

struct heapprof {
	unsigned refs;                          /* atomic */
	uint64_t rate;
	int64_t samples, folded, unwind_failed, maps_dropped;
	int64_t sample_ns;                      /* the agent's time spent sampling */
	int64_t py_samples;                     /* samples whose stack has Python frames */
	int64_t pyfuncs_dropped;                /* functions the agent's table had no room for */
	uint64_t daemon_folded;                 /* stacks the daemon's bound put into [other] */
	uint32_t nstacks;                       /* stacks[0] is [other] */
	uint32_t nmaps;
	struct heapprof_stack *stacks;
	uint64_t *frames;                       /* leaf first per stack: return addresses and
						 * Python frames (profile.h) */
	struct heapprof_map *maps;
	uint32_t npyfuncs;                      /* pyfuncs[i] is the agent's function i */
	struct heapprof_pyfunc *pyfuncs;
	struct heapprof_pyfunc unknown;         /* HEAPPROF_PY_UNKNOWN */
	char **strs;                            /* the strings of pyfuncs, owned */
	size_t nstrs;
	size_t bytes;                           /* heap memory the copy holds */
};

/*
 * Copies the profile area of a region mapped at region (region_len bytes;
 * prof_off and prof_size as its header says) into a new copy with one
 * reference, in *out. Returns 0; -ENOENT when the region has no profile;
 * -EINVAL when the area is malformed (profile_check()); -ENOMEM.
 */
int heapprof_read(const void *region, uint64_t region_len, uint64_t prof_off,
    uint64_t prof_size, struct heapprof **out);

/* Another reference to hp (which may be NULL); returns hp. */
struct heapprof *heapprof_ref(struct heapprof *hp);

/* Drops a reference; the last frees the copy. NULL is allowed. */
void heapprof_unref(struct heapprof *hp);

/* The frames of stack i, leaf first (stacks[i].nframes of them). */
const uint64_t *heapprof_frames(const struct heapprof *hp, uint32_t i);

/* The function of the Python frame f (prof_frame_is_py(f)): the agent's
 * function PROF_PY_FUNC(f), or hp->unknown (HEAPPROF_PY_UNKNOWN) when the
 * copy does not have it. Never NULL; lives as long as hp. */
const struct heapprof_pyfunc *heapprof_pyfunc(const struct heapprof *hp, uint64_t f);

/* The mapping that holds addr, or -1. */
int heapprof_find_map(const struct heapprof *hp, uint64_t addr);

/* Grows the array *v of *cap elements of elem bytes (doubling) to hold
 * need; for the profile modules' arrays. Returns 0 or -ENOMEM (*v kept). */
int heapprof_grow(void **v, size_t *cap, size_t need, size_t elem);

#endif
