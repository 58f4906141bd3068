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

/* ---- Python functions ---- */

/* The strings of the copy's Python functions, each kept once: an open
 * addressing index over hp->strs while the copy is built. */
struct hp_strs {
	struct heapprof *hp;
	char **slot;                    /* NULL: empty */
	size_t nslots;                  /* a power of two, > twice the strings */
	size_t cap;                     /* of hp->strs */
};

static uint64_t hp_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot of s in the index: where it is, or the empty one it would go in. */
static char **hp_strs_slot(struct hp_strs *t, const char *s)
{
	size_t i = hp_hash_str(s) & (t->nslots - 1);

	while (t->slot[i] != NULL && strcmp(t->slot[i], s) != 0)
		i = (i + 1) & (t->nslots - 1);
	return &t->slot[i];
}

/* Bytes that keeping s would add to the copy (at most). */
static size_t hp_strs_cost(struct hp_strs *t, const char *s)
{
	return *hp_strs_slot(t, s) != NULL ? 0 : strlen(s) + 1 + sizeof(char *);
}

/* The copy's own s, added if new; NULL when out of memory. The texts of
 * hp->unknown are its own (static) strings. */
static const char *hp_strs_intern(struct hp_strs *t, const char *s)
{
	struct heapprof *hp = t->hp;
	char **slot;

	if (strcmp(s, hp->unknown.name) == 0)
		return hp->unknown.name;
	if (strcmp(s, hp->unknown.file) == 0)
		return hp->unknown.file;
	slot = hp_strs_slot(t, s);
	if (*slot != NULL)
		return *slot;
	if (heapprof_grow((void **)&hp->strs, &t->cap, hp->nstrs + 1, sizeof(*hp->strs)) < 0 ||
	    (*slot = strdup(s)) == NULL)
		return NULL;
	hp->strs[hp->nstrs++] = *slot;
	hp->bytes += strlen(s) + 1 + sizeof(char *);
	return *slot;
}

/* The functions that fit the copy's bounds: at most HEAPPROF_MAX_PYFUNCS,
 * and an array that leaves HEAPPROF_MAX_BYTES unpassed. */
static uint32_t hp_pyfuncs_room(const struct heapprof *hp, uint32_t n)
{
	size_t left = hp->bytes < HEAPPROF_MAX_BYTES ? HEAPPROF_MAX_BYTES - hp->bytes : 0;

	if (n > HEAPPROF_MAX_PYFUNCS)
		n = HEAPPROF_MAX_PYFUNCS;
	if ((size_t)n * sizeof(struct heapprof_pyfunc) > left)
		n = (uint32_t)(left / sizeof(struct heapprof_pyfunc));
	return n;
}

/*
 * The agent's Python functions, after the stacks: every one that is
 * ready, with its strings kept once, while the copy stays within
 * HEAPPROF_MAX_BYTES; the others read as hp->unknown.
 */
static int hp_read_pyfuncs(struct heapprof *hp, const struct prof_view *v)
{
	struct hp_strs t = { hp, NULL, 16, 0 };
	struct prof_pyfunc_read f;
	/* counted now, after the stacks: every function they name is in */
	uint32_t n = hp_pyfuncs_room(hp, profile_pyfuncs_now(v));
	int r = -ENOMEM;

	/* Two strings a function; load at most one half. */
	while (t.nslots < 4 * (size_t)n)
		t.nslots *= 2;
	if ((t.slot = calloc(t.nslots, sizeof(*t.slot))) == NULL)
		goto out;
	if (n > 0 && (hp->pyfuncs = calloc(n, sizeof(*hp->pyfuncs))) == NULL)
		goto out;
	hp->npyfuncs = n;
	hp->bytes += (size_t)n * sizeof(*hp->pyfuncs);
	for (uint32_t i = 0; i < n; i++) {
		struct heapprof_pyfunc *d = &hp->pyfuncs[i];

		*d = hp->unknown;
		if (!profile_pyfunc(v, i, &f) ||
		    hp->bytes + hp_strs_cost(&t, f.name) + hp_strs_cost(&t, f.file) > HEAPPROF_MAX_BYTES)
			continue;
		if ((d->name = hp_strs_intern(&t, f.name)) == NULL ||
		    (d->file = hp_strs_intern(&t, f.file)) == NULL)
			goto out;
		d->first_line = f.first_line;
	}
	r = 0;
out:
	free(t.slot);
	return r;
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
	for (size_t i = 0; i < hp->nstrs; i++)
		free(hp->strs[i]);
	free(hp->strs);
	free(hp->pyfuncs);
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
	b.hp->py_samples = v.py_samples;
	b.hp->pyfuncs_dropped = v.pyfuncs_dropped;
	b.hp->unknown.name = HEAPPROF_PY_UNKNOWN;
	b.hp->unknown.file = "";
	/* The mappings are few and the stacks need them: they come first
	 * within the bound; the stacks next, as they carry the figures. */
	if ((r = hp_read_maps(&b, &v)) < 0 || (r = hp_read_stacks(&b, &v)) < 0 ||
	    (r = hp_read_pyfuncs(b.hp, &v)) < 0) {
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

const struct heapprof_pyfunc *heapprof_pyfunc(const struct heapprof *hp, uint64_t f)
{
	uint32_t i = PROF_PY_FUNC(f);

	return i < hp->npyfuncs ? &hp->pyfuncs[i] : &hp->unknown;
}

int heapprof_find_map(const struct heapprof *hp, uint64_t addr)
{
	/* A few dozen mappings: a scan is as quick as a search would be. */
	for (uint32_t i = 0; i < hp->nmaps; i++)
		if (addr >= hp->maps[i].start && addr < hp->maps[i].end)
			return (int)i;
	return -1;
}
