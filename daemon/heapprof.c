/* heapprof.c: a process's heap profile copied out of its shared region into compact, bounded daemon memory. */
#include "heapprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A copy being built: its arrays grow as stacks are read. */
struct hp_build {
	struct heapprof *hp;
	uint32_t cap_stacks;
	size_t cap_frames, nframes;
};

/* Bytes a stack of n frames costs in a copy. */
static size_t hp_stack_cost(uint32_t n)
{
	return sizeof(struct heapprof_stack) + (size_t)n * sizeof(uint64_t);
}

int heapprof_grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *g;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	g = realloc(*v, n * elem);
	if (g == NULL)
		return -ENOMEM;
	*v = g;
	*cap = n;
	return 0;
}

/* Adds the counters of s into d. */
static void hp_add(struct heapprof_stack *d, const struct prof_stack_read *s)
{
	/* Each counter is clamped >= 0 by the reader; keep sums from wrapping. */
	const int64_t add[4] = { s->alloc_objects, s->alloc_bytes, s->inuse_objects, s->inuse_bytes };
	int64_t *to[4] = { &d->alloc_objects, &d->alloc_bytes, &d->inuse_objects, &d->inuse_bytes };

	for (int k = 0; k < 4; k++)
		*to[k] = add[k] > INT64_MAX - *to[k] ? INT64_MAX : *to[k] + add[k];
}

/* Appends stack s (or, past the bound, adds it into [other]). */
static int hp_put_stack(struct hp_build *b, const struct prof_stack_read *s, int is_other)
{
	struct heapprof *hp = b->hp;
	struct heapprof_stack *d;
	uint32_t n = is_other ? 0 : s->nframes;
	size_t capn = b->cap_stacks;

	if (!is_other && hp->bytes + hp_stack_cost(n) > HEAPPROF_MAX_BYTES) {
		hp_add(&hp->stacks[0], s);
		hp->daemon_folded++;
		return 0;
	}
	if (heapprof_grow((void **)&hp->stacks, &capn, (size_t)hp->nstacks + 1, sizeof(*hp->stacks)) < 0 ||
	    heapprof_grow((void **)&hp->frames, &b->cap_frames, b->nframes + n, sizeof(uint64_t)) < 0)
		return -ENOMEM;
	b->cap_stacks = (uint32_t)capn;
	d = &hp->stacks[hp->nstacks++];
	memset(d, 0, sizeof(*d));
	hp_add(d, s);
	d->nframes = n;
	d->first = (uint32_t)b->nframes;
	if (n > 0)              /* frames is still NULL before the first frame */
		memcpy(hp->frames + b->nframes, s->frames, n * sizeof(uint64_t));
	b->nframes += n;
	hp->bytes += hp_stack_cost(n);
	return 0;
}

/* The stacks: [other] first whatever the agent's stack 0 says, then every
 * ready stack. */
static int hp_read_stacks(struct hp_build *b, const struct prof_view *v)
{
	struct prof_stack_read s;
	int r;

	memset(&s, 0, sizeof(s));
	if ((r = hp_put_stack(b, &s, 1)) < 0)
		return r;
	if (v->nstacks > 0 && profile_stack(v, 0, &s))
		hp_add(&b->hp->stacks[0], &s);
	for (uint32_t i = 1; i < v->nstacks; i++)
		if (profile_stack(v, i, &s) && (r = hp_put_stack(b, &s, 0)) < 0)
			return r;
	return 0;
}

static int hp_read_maps(struct hp_build *b, const struct prof_view *v)
{
	struct heapprof *hp = b->hp;
	uint32_t n = v->nmaps < HEAPPROF_MAX_MAPS ? v->nmaps : HEAPPROF_MAX_MAPS;
	struct prof_map_read m;

	hp->maps = calloc(n ? n : 1, sizeof(*hp->maps));
	if (hp->maps == NULL)
		return -ENOMEM;
	hp->bytes += (n ? n : 1) * sizeof(*hp->maps);
	for (uint32_t i = 0; i < n; i++) {
		struct heapprof_map *d = &hp->maps[hp->nmaps];
		char *path;

		if (!profile_map(v, i, &m))
			continue;
		if ((path = strdup(m.path)) == NULL)
			return -ENOMEM;
		d->start = m.start;
		d->end = m.end;
		d->offset = m.offset;
		d->build_id_len = m.build_id_len;
		memcpy(d->build_id, m.build_id, sizeof(d->build_id));
		d->path = path;
		hp->bytes += strlen(path) + 1;
		hp->nmaps++;
	}
	return 0;
}

/* Shrinks the arrays to their use. */
static void hp_trim(struct hp_build *b)
{
	struct heapprof *hp = b->hp;
	void *g;

	if ((g = realloc(hp->stacks, hp->nstacks * sizeof(*hp->stacks))) != NULL)
		hp->stacks = g;
	if (b->nframes > 0 && (g = realloc(hp->frames, b->nframes * sizeof(uint64_t))) != NULL)
		hp->frames = g;
}

static void hp_free(struct heapprof *hp)
{
	for (uint32_t i = 0; i < hp->nmaps; i++)
		free((char *)(uintptr_t)hp->maps[i].path);
	free(hp->maps);
	free(hp->stacks);
	free(hp->frames);
	free(hp);
}

int heapprof_read(const void *region, uint64_t region_len, uint64_t prof_off,
    uint64_t prof_size, struct heapprof **out)
{
	struct prof_view v;
	struct hp_build b;
	int r;

	r = profile_check(region, region_len, prof_off, prof_size, &v);
	if (r < 0)
		return r;
	memset(&b, 0, sizeof(b));
	b.hp = calloc(1, sizeof(*b.hp));
	if (b.hp == NULL)
		return -ENOMEM;
	b.hp->refs = 1;
	b.hp->bytes = sizeof(*b.hp);
	b.hp->rate = v.rate;
	b.hp->samples = v.samples;
	b.hp->folded = v.folded;
	b.hp->unwind_failed = v.unwind_failed;
	b.hp->maps_dropped = v.maps_dropped;
	b.hp->sample_ns = v.sample_ns;
	if ((r = hp_read_stacks(&b, &v)) < 0 || (r = hp_read_maps(&b, &v)) < 0) {
		hp_free(b.hp);
		return r;
	}
	hp_trim(&b);
	*out = b.hp;
	return 0;
}

struct heapprof *heapprof_ref(struct heapprof *hp)
{
	if (hp != NULL)
		__atomic_fetch_add(&hp->refs, 1, __ATOMIC_RELAXED);
	return hp;
}

void heapprof_unref(struct heapprof *hp)
{
	if (hp != NULL && __atomic_sub_fetch(&hp->refs, 1, __ATOMIC_ACQ_REL) == 0)
		hp_free(hp);
}

const uint64_t *heapprof_frames(const struct heapprof *hp, uint32_t i)
{
	/* No arithmetic on a NULL array (a profile without frames). */
	return hp->frames != NULL ? hp->frames + hp->stacks[i].first : NULL;
}

int heapprof_find_map(const struct heapprof *hp, uint64_t addr)
{
	/* A few dozen mappings: a scan is as quick as a search would be. */
	for (uint32_t i = 0; i < hp->nmaps; i++)
		if (addr >= hp->maps[i].start && addr < hp->maps[i].end)
			return (int)i;
	return -1;
}
