/* history.c: the ring of recent figures of one process, a point a second, for plots. */
#include "history.h"

#include <stdlib.h>
#include <string.h>

/* Where the ring starts: 8 points, then doubling. */
#define HISTORY_FIRST_CAP 8

/* The i-th of the newest n points, oldest first. */
static const struct ptab_hpoint *history_at(const struct history *h, unsigned n, unsigned i)
{
	return &h->pts[(h->pos + h->cap - (n - 1 - i)) % h->cap];
}

/* Reallocates the ring to cap points, keeping the newest. Returns 0 or
 * -1 without memory (the ring is then as it was). */
static int history_resize(struct history *h, unsigned cap)
{
	unsigned keep = h->len < cap ? h->len : cap;
	struct ptab_hpoint *pts = malloc(cap * sizeof(*pts));

	if (pts == NULL)
		return -1;
	for (unsigned i = 0; i < keep; i++)
		pts[i] = *history_at(h, keep, i);
	free(h->pts);
	h->pts = pts;
	h->cap = cap;
	h->len = keep;
	h->pos = keep > 0 ? keep - 1 : cap - 1;
	return 0;
}

struct ptab_hpoint *history_point(struct history *h, unsigned length, double now)
{
	if (length == 0) {
		history_free(h);
		return NULL;
	}
	if (h->len == 0 || now - h->slot >= 1.0) {
		/* Full, or longer than asked for now: grow by doubling, or
		 * shrink, up to `length`. */
		if (h->len == h->cap || h->cap > length) {
			unsigned cap = h->cap == 0 ? HISTORY_FIRST_CAP : h->cap * 2;

			if (cap > length || h->cap > length)
				cap = length;
			if (cap != h->cap && history_resize(h, cap) < 0)
				return NULL;
		}
		h->pos = (h->pos + 1) % h->cap;
		if (h->len < h->cap)
			h->len++;
		h->slot = now;
	}
	return &h->pts[h->pos];
}

unsigned history_len(const struct history *h)
{
	return h->len;
}

double history_newest(const struct history *h)
{
	return h->slot;
}

void history_copy(const struct history *h, struct ptab_hpoint *out)
{
	for (unsigned i = 0; i < h->len; i++)
		out[i] = *history_at(h, h->len, i);
}

size_t history_memory(const struct history *h)
{
	return h->cap * sizeof(struct ptab_hpoint);
}

void history_free(struct history *h)
{
	free(h->pts);
	memset(h, 0, sizeof(*h));
}
