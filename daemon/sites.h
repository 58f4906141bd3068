/* sites.h: a heap profile's call sites: stacks merged after symbolization, ranked, as JSON and as top leaf functions. */
#ifndef MEMPROBE_SITES_H
#define MEMPROBE_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "ptab.h"
#include "profsym.h"

/*
 * A site is one distinct call stack after symbolization: stacks whose
 * frames read the same (function, file and line of every inlined frame;
 * the raw address where there is no symbol; for a Python frame its
 * function's qualified name, file and the line it ran) are one site,
 * their estimates summed. [other] (stack 0) is a site of its own, named
 * "[other]", with no frames. Objects are the agent's fixed-point
 * estimates rounded to whole objects.
 *
 * A site's name. In a stack with Python frames, its innermost Python
 * frame: the native frames below it (PyObject_Malloc, list_resize) are
 * the interpreter's, not the program's code. Otherwise its first frame
 * (innermost inlined first) that is not an allocation wrapper (C++'s
 * operator new, strdup: demangle.h), so that `new` sites are named by the
 * code that said new; the very first when all are wrappers.
 */

enum sites_order {
	SITES_INUSE,                    /* by in-use bytes */
	SITES_ALLOC,                    /* by allocated bytes */
};

#define SITES_TOP_DEFAULT 20
#define SITES_TOP_MAX 65536

/*
 * GET /api/v1/processes/{pid}/sites?top=N&order=inuse|alloc:
 *
 * {"pid", "comm", "exited", "rate", "order": "inuse"|"alloc",
 *  "samples", "folded", "py_samples", "pyfuncs_dropped", "unwind_failed",
 *  "sample_ns",
 *  "total": {"inuse_bytes", "inuse_objects", "alloc_bytes", "alloc_objects"},
 *  "sites": [{"function": str|null, "file": str|null, "line": int,
 *             "inuse_bytes", "inuse_objects", "alloc_bytes", "alloc_objects",
 *             "share": real (the order's bytes over their total; 0 when it is 0),
 *             "python": {"function": str, "file": str|null, "line": int}|null,
 *             "frames": [{"kind": "native", "address": "0x..",
 *                         "function": str|null, "file": str|null, "line": int,
 *                         "mapping": str|null, "build_id": hex|null}
 *                      | {"kind": "python", "address": null,
 *                         "function": str, "file": str|null, "line": int,
 *                         "mapping": null, "build_id": null}, ...]}]}
 *
 * py_samples: samples whose stack has Python frames; pyfuncs_dropped:
 * Python functions the agent's table had no room for (their frames read
 * "[python]"). frames leaf first (the function that called malloc first;
 * inlined functions before the function they are inlined in, at the same
 * address; Python frames where the interpreter ran them, innermost
 * first); a Python frame's line is the one it was running (0: unknown).
 * A site's function, file and line are those of the frame that names it
 * (above); "python" is its innermost Python frame, null when its stack
 * has none. Sites sorted by the order's bytes, the largest first, at most
 * `top`. set is pp's frames resolved (profsym_set_build()). Returns 0 and
 * a NUL-terminated body in *out (the caller free()s it), or -ENOMEM.
 */
int sites_json(const struct ptab_profile *pp, const struct profsym_set *set, unsigned top,
    enum sites_order order, char **out, size_t *len);

/* One leaf function of a process and the in-use bytes of its stacks. */
struct sites_leaf {
	char name[128];                 /* function, "[other]", or 0x.. when unknown */
	int64_t inuse_bytes;
};

/*
 * The top n leaf functions of pp by in-use bytes, the largest first, into
 * out[0..n): stacks summed by the name of the frame that names their site
 * (above). A Python function reads as its qualified name and its file's
 * base name, "load_rows (rows.py)" (a name such as "<module>" is in every
 * file); a native one as its function, 0x.. when it has no symbol. set
 * needs only each stack's first frame and innermost Python frame
 * (profsym_set_build() with leaves_only). Returns how many were written,
 * or -ENOMEM.
 */
int sites_top_leaves(const struct ptab_profile *pp, const struct profsym_set *set,
    struct sites_leaf *out, size_t n);

#endif
