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
 * the raw address where there is no symbol) are one site, their estimates
 * summed. [other] (stack 0) is a site of its own, named "[other]", with
 * no frames. Objects are the agent's fixed-point estimates rounded to
 * whole objects.
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
 *  "samples", "folded", "unwind_failed",
 *  "total": {"inuse_bytes", "inuse_objects", "alloc_bytes", "alloc_objects"},
 *  "sites": [{"function": str|null, "file": str|null, "line": int,
 *             "inuse_bytes", "inuse_objects", "alloc_bytes", "alloc_objects",
 *             "share": real (the order's bytes over their total; 0 when it is 0),
 *             "frames": [{"address": "0x..", "function": str|null,
 *                         "file": str|null, "line": int,
 *                         "mapping": str|null, "build_id": hex|null}, ...]}]}
 *
 * frames leaf first (the function that called malloc first; inlined
 * functions before the function they are inlined in, at the same
 * address); a site's function, file and line are its first frame's.
 * Sites sorted by the order's bytes, the largest first, at most `top`.
 * set is pp's addresses symbolized (profsym_set_build()). Returns 0 and a
 * NUL-terminated body in *out (the caller free()s it), or -ENOMEM.
 */
int sites_json(const struct ptab_profile *pp, const struct profsym_set *set, unsigned top,
    enum sites_order order, char **out, size_t *len);

/* One leaf function of a process and the in-use bytes of its stacks. */
struct sites_leaf {
	char name[128];                 /* function, "[other]", or 0x.. when unknown */
	int64_t inuse_bytes;
};

/*
 * The top n leaf functions of pp by in-use bytes (stacks summed by the
 * function of their first frame), the largest first, into out[0..n).
 * Only the leaf addresses need to be in set. Returns how many were
 * written, or -ENOMEM.
 */
int sites_top_leaves(const struct ptab_profile *pp, const struct profsym_set *set,
    struct sites_leaf *out, size_t n);

#endif
