/* history.h: the ring of recent figures of one process, a point a second, for plots. */
#ifndef MEMPROBE_HISTORY_H
#define MEMPROBE_HISTORY_H

#include <stddef.h>

#include "ptab.h"

/*
 * One process's ring of points (struct ptab_hpoint, ptab.h), oldest
 * dropped first. It grows by doubling up to the length asked for, so a
 * short-lived process holds little. A zeroed struct is an empty ring; the
 * fields are the functions' own. Not locked: the owner (ptab.c) holds its
 * lock around every call.
 */
struct history {
	struct ptab_hpoint *pts;        /* cap points, allocated lazily; owned */
	unsigned cap, len, pos;         /* pos: index of the newest point */
	double slot;                    /* when the newest point started */
};

/*
 * The point to fill for time `now`: a new one when the newest started a
 * second or more before `now` (or there is none), else the newest again.
 * `length` is the ring's length now (history_length); a changed one is
 * applied here, and 0 empties the ring. Returns NULL when length is 0 or
 * memory ran out (the point is then skipped).
 */
struct ptab_hpoint *history_point(struct history *h, unsigned length, double now);

/* Points held, and when the newest started (0 with none). */
unsigned history_len(const struct history *h);
double history_newest(const struct history *h);

/* Copies the points, oldest first, into out (history_len() of them). */
void history_copy(const struct history *h, struct ptab_hpoint *out);

/* Bytes the ring holds. */
size_t history_memory(const struct history *h);

/* Frees the ring; h is an empty ring again. */
void history_free(struct history *h);

#endif
