/* profsym.c: one process's profile addresses symbolized once and kept, so scrapes and requests do not symbolize again. */
#include "profsym.h"


#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"
#include "maps.h"

/* An address seen and its frames (in a chunk, never moved). */
struct ps_entry {
	uint64_t addr;
	uint32_t n;
	const struct profsym_frame *frames;
};

/* Frames are kept in chunks that never move, so that results handed out
 * stay valid while the cache grows. */
#define PS_CHUNK 4096
/* The frames kept, at most: 12 MiB of them; and the bytes of names. */
#define PS_MAX_CHUNKS 128
#define PS_MAX_STRBYTES (8u << 20)
struct ps_chunk {
	struct ps_chunk *next;
	size_t used;
	struct profsym_frame f[PS_CHUNK];
};

struct profsym {
	unsigned refs;                  /* atomic */
	pthread_mutex_t lock;           /* guards the rest */
	struct ps_entry *ent;
	size_t nent, capent;
	uint32_t *slots;                /* open addressing: entry index + 1, 0 empty */
	size_t nslots;                  /* a power of two, or 0 */
	struct ps_chunk *chunks;         /* newest first */
	size_t nchunks;
	char **strs;                    /* interned strings, open addressing */
	size_t nstrs, capstrs;
	size_t strbytes;
};

static uint64_t ps_hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint64_t ps_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct profsym *profsym_new(void)
{
	struct profsym *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return NULL;
	if (pthread_mutex_init(&ps->lock, NULL) != 0) {
		free(ps);
		return NULL;
	}
	ps->refs = 1;
	return ps;
}

struct profsym *profsym_ref(struct profsym *ps)
{
	if (ps != NULL)
		__atomic_fetch_add(&ps->refs, 1, __ATOMIC_RELAXED);
	return ps;
}

void profsym_unref(struct profsym *ps)
{
	if (ps == NULL || __atomic_sub_fetch(&ps->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < ps->capstrs; i++)
		free(ps->strs[i]);
	free(ps->strs);
	free(ps->ent);
	free(ps->slots);
	while (ps->chunks != NULL) {
		struct ps_chunk *c = ps->chunks;

		ps->chunks = c->next;
		free(c);
	}
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

size_t profsym_memory(struct profsym *ps)
{
	size_t m;

	pthread_mutex_lock(&ps->lock);
	m = sizeof(*ps) + ps->capent * sizeof(*ps->ent) + ps->nslots * sizeof(*ps->slots) +
	    ps->nchunks * sizeof(struct ps_chunk) + ps->capstrs * sizeof(*ps->strs) + ps->strbytes;
	pthread_mutex_unlock(&ps->lock);
	return m;
}

/* ---- the tables (lock held) ---- */

static const struct ps_entry *ps_find(const struct profsym *ps, uint64_t addr)
{
	if (ps->nslots == 0)
		return NULL;
	for (size_t i = ps_hash64(addr) & (ps->nslots - 1); ps->slots[i] != 0;
	    i = (i + 1) & (ps->nslots - 1))
		if (ps->ent[ps->slots[i] - 1].addr == addr)
			return &ps->ent[ps->slots[i] - 1];
	return NULL;
}

/* Room for one more entry in the index (load at most one half). */
static int ps_index_grow(struct profsym *ps)
{
	size_t n = ps->nslots ? ps->nslots * 2 : 1024;
	uint32_t *s;

	if ((ps->nent + 1) * 2 <= ps->nslots)
		return 0;
	if ((s = calloc(n, sizeof(*s))) == NULL)
		return -ENOMEM;
	for (size_t e = 0; e < ps->nent; e++) {
		size_t i = ps_hash64(ps->ent[e].addr) & (n - 1);

		while (s[i] != 0)
			i = (i + 1) & (n - 1);
		s[i] = (uint32_t)(e + 1);
	}
	free(ps->slots);
	ps->slots = s;
	ps->nslots = n;
	return 0;
}

/* The kept copy of s (NULL stays NULL); NULL when out of memory. */
static const char *ps_intern(struct profsym *ps, const char *s, int *err)
{
	size_t i;

	if (s == NULL)
		return NULL;
	if ((ps->nstrs + 1) * 2 > ps->capstrs) {
		size_t n = ps->capstrs ? ps->capstrs * 2 : 256;
		char **t = calloc(n, sizeof(*t));

		if (t == NULL)
			goto fail;
		for (size_t k = 0; k < ps->capstrs; k++) {
			if (ps->strs[k] == NULL)
				continue;
			for (i = ps_hash_str(ps->strs[k]) & (n - 1); t[i] != NULL; i = (i + 1) & (n - 1))
				;
			t[i] = ps->strs[k];
		}
		free(ps->strs);
		ps->strs = t;
		ps->capstrs = n;
	}
	for (i = ps_hash_str(s) & (ps->capstrs - 1); ps->strs[i] != NULL; i = (i + 1) & (ps->capstrs - 1))
		if (strcmp(ps->strs[i], s) == 0)
			return ps->strs[i];
	if ((ps->strs[i] = strdup(s)) == NULL)
		goto fail;
	ps->nstrs++;
	ps->strbytes += strlen(s) + 1;
	return ps->strs[i];
fail:
	*err = -ENOMEM;
	return NULL;
}

/* Room for n more frames in one chunk. */
static struct profsym_frame *ps_frames(struct profsym *ps, size_t n)
{
	struct ps_chunk *c = ps->chunks;

	if (c == NULL || c->used + n > PS_CHUNK) {
		if ((c = malloc(sizeof(*c))) == NULL)
			return NULL;
		c->used = 0;
		c->next = ps->chunks;
		ps->chunks = c;
		ps->nchunks++;
	}
	return c->f + c->used;
}

/* Whether the cache keeps no more (an address of n frames): past its
 * bounds, addresses are neither symbolized nor kept. */
static int ps_full(const struct profsym *ps, size_t n)
{
	return ps->nent >= PROFSYM_MAX_ADDRS || ps->strbytes >= PS_MAX_STRBYTES ||
	    (ps->nchunks >= PS_MAX_CHUNKS && ps->chunks->used + n > PS_CHUNK);
}

/* Keeps what r says of addr. */
static int ps_add(struct profsym *ps, uint64_t addr, const struct sym_result *r)
{
	/* Only a symbolized address has frames; the others are raw. */
	size_t n = r->status == SYM_OK ? r->nframes : 0;
	struct profsym_frame *f;
	struct ps_entry *e;
	int err = 0;

	if (ps_full(ps, n))
		return 0;               /* it comes back unsymbolized */
	if (ps_index_grow(ps) < 0 ||
	    heapprof_grow((void **)&ps->ent, &ps->capent, ps->nent + 1, sizeof(*ps->ent)) < 0 ||
	    (f = ps_frames(ps, n)) == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		char readable[512];

		f[k].function = ps_intern(ps, r->frames[k].function, &err);
		f[k].name = demangle(r->frames[k].function, readable, sizeof(readable)) ?
		    ps_intern(ps, readable, &err) : f[k].function;
		f[k].file = ps_intern(ps, r->frames[k].file, &err);
		f[k].line = r->frames[k].line;
	}
	if (err < 0)
		return err;
	ps->chunks->used += n;
	e = &ps->ent[ps->nent];
	e->addr = addr;
	e->n = (uint32_t)n;
	e->frames = f;
	for (size_t i = ps_hash64(addr) & (ps->nslots - 1); ; i = (i + 1) & (ps->nslots - 1)) {
		if (ps->slots[i] == 0) {
			ps->slots[i] = (uint32_t)(ps->nent + 1);
			break;
		}
	}
	ps->nent++;
	return 0;
}

/* ---- symbolizing ---- */

/* The profile's mappings as symbolize.h wants them: sorted by start, with
 * their expected build-ids. */
struct ps_maps {
	struct maps m;
	const unsigned char **ids;
	size_t *idlens;
};

static int ps_map_cmp(const void *a, const void *b)
{
	const struct maps_entry *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int ps_maps_build(const struct heapprof *hp, struct ps_maps *pm)
{
	size_t n = hp->nmaps;

	memset(pm, 0, sizeof(*pm));
	pm->m.v = calloc(n ? n : 1, sizeof(*pm->m.v));
	pm->ids = calloc(n ? n : 1, sizeof(*pm->ids));
	pm->idlens = calloc(n ? n : 1, sizeof(*pm->idlens));
	if (pm->m.v == NULL || pm->ids == NULL || pm->idlens == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct heapprof_map *h = &hp->maps[i];

		pm->m.v[i].start = h->start;
		pm->m.v[i].end = h->end;
		pm->m.v[i].offset = h->offset;
		/* The agent read its mappings while they were there; a path
		 * that is gone makes the open fail, never another file pass
		 * (the build-id is checked). */
		pm->m.v[i].path = (char *)(uintptr_t)h->path;
	}
	pm->m.n = n;
	qsort(pm->m.v, n, sizeof(*pm->m.v), ps_map_cmp);
	/* The build-ids follow the sorted order: find each by its start. */
	for (size_t i = 0; i < n; i++) {
		int k = heapprof_find_map(hp, pm->m.v[i].start);

		if (k >= 0 && hp->maps[k].start == pm->m.v[i].start) {
			pm->ids[i] = hp->maps[k].build_id;
			pm->idlens[i] = hp->maps[k].build_id_len;
		}
	}
	return 0;
}

static void ps_maps_free(struct ps_maps *pm)
{
	free(pm->m.v);
	free(pm->ids);
	free(pm->idlens);
}

/* Symbolizes the addresses of addrs[0..n) that the cache lacks and keeps
 * them. Lock held. */
static int ps_fill(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, const uint64_t *addrs, size_t n)
{
	struct ps_maps pm;
	struct sym_result *res = NULL;
	uint64_t *miss = malloc((n ? n : 1) * sizeof(*miss)), *pcs = NULL;
	size_t nmiss = 0;
	int r = -ENOMEM;

	if (miss == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int dup = 0;

		if (ps_find(ps, addrs[i]) != NULL)
			continue;
		/* Callers pass distinct addresses mostly; a repeat just costs a lookup. */
		for (size_t k = nmiss; k > 0 && k + 8 > nmiss && !dup; k--)
			dup = miss[k - 1] == addrs[i];
		if (!dup)
			miss[nmiss++] = addrs[i];
	}
	/* A full cache symbolizes nothing more: each scrape would do it again. */
	if (nmiss == 0 || ps_full(ps, SYM_MAX_FRAMES)) {
		free(miss);
		return 0;
	}
	if (ps_maps_build(hp, &pm) < 0)
		goto out;
	res = calloc(nmiss, sizeof(*res));
	pcs = malloc(nmiss * sizeof(*pcs));
	if (res == NULL || pcs == NULL)
		goto out_maps;
	/* A return address follows its call: the call is at the byte before. */
	for (size_t i = 0; i < nmiss; i++)
		pcs[i] = miss[i] > 0 ? miss[i] - 1 : 0;
	r = sym_resolve(sc, pid, &pm.m, pm.ids, pm.idlens, pcs, nmiss, res);
	for (size_t i = 0; i < nmiss; i++) {
		if (r == 0 && ps_find(ps, miss[i]) == NULL)
			r = ps_add(ps, miss[i], &res[i]);
		sym_result_clear(&res[i]);
	}
out_maps:
	ps_maps_free(&pm);
out:
	free(res);
	free(pcs);
	free(miss);
	return r;
}

int profsym_resolve(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, const uint64_t *addrs, size_t n, struct profsym_addr *out)
{
	int r;

	pthread_mutex_lock(&ps->lock);
	r = ps_fill(ps, sc, pid, hp, addrs, n);
	for (size_t i = 0; i < n; i++) {
		const struct ps_entry *e = ps_find(ps, addrs[i]);

		out[i].addr = addrs[i];
		out[i].kind = PROFSYM_NATIVE;
		out[i].map = heapprof_find_map(hp, addrs[i]);
		out[i].nframes = e != NULL ? e->n : 0;
		out[i].frames = e != NULL ? e->frames : NULL;
	}
	pthread_mutex_unlock(&ps->lock);
	return r;
}

static int ps_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The innermost Python frame of stack i (its index among the stack's
 * frames), or -1 when it has none. */
static int ps_first_py(const struct heapprof *hp, uint32_t i)
{
	const uint64_t *f = heapprof_frames(hp, i);

	for (uint32_t k = 0; k < hp->stacks[i].nframes; k++)
		if (prof_frame_is_py(f[k]))
			return (int)k;
	return -1;
}

/* The distinct frames of hp's stacks (with leaves_only, each stack's
 * first and its innermost Python frame), sorted, into a new array *out
 * of *n. Returns 0 or -ENOMEM. */
static int ps_distinct(const struct heapprof *hp, int leaves_only, uint64_t **out, size_t *n)
{
	size_t m = 0, total = 0;
	uint64_t *v;

	for (uint32_t i = 0; i < hp->nstacks; i++)
		total += hp->stacks[i].nframes;
	if ((v = malloc((total ? total : 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		const uint64_t *f = heapprof_frames(hp, i);
		uint32_t k = hp->stacks[i].nframes;
		int py;

		if (leaves_only && k > 1) {
			v[m++] = f[0];
			if ((py = ps_first_py(hp, i)) > 0)
				v[m++] = f[py];
			continue;
		}
		if (k > 0)
			memcpy(v + m, f, k * sizeof(*v));
		m += k;
	}
	qsort(v, m, sizeof(*v), ps_u64_cmp);
	total = m;
	m = 0;
	for (size_t i = 0; i < total; i++)
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	*out = v;
	*n = m;
	return 0;
}

/* The Python frames v[0..n) of s->hp, as their functions read. */
static int ps_python(struct profsym_set *s, struct profsym_addr *v, const uint64_t *frames,
    size_t n)
{
	if (n == 0)
		return 0;
	if ((s->py = calloc(n, sizeof(*s->py))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct heapprof_pyfunc *fn = heapprof_pyfunc(s->hp, frames[i]);

		s->py[i].function = fn->name;
		s->py[i].name = fn->name;
		s->py[i].file = fn->file[0] != '\0' ? fn->file : NULL;
		s->py[i].line = PROF_PY_LINE(frames[i]);
		v[i].addr = frames[i];
		v[i].kind = PROFSYM_PYTHON;
		v[i].map = -1;
		v[i].nframes = 1;
		v[i].frames = &s->py[i];
	}
	return 0;
}

int profsym_set_build(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, int leaves_only, struct profsym_set *out)
{
	size_t n, native = 0;
	uint64_t *frames;
	int r;

	memset(out, 0, sizeof(*out));
	if (ps_distinct(hp, leaves_only, &frames, &n) < 0)
		return -ENOMEM;
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (out->v == NULL) {
		free(frames);
		return -ENOMEM;
	}
	out->n = n;
	out->ps = profsym_ref(ps);
	/* The copy never changes; the reference keeps its strings. */
	out->hp = heapprof_ref((struct heapprof *)(uintptr_t)hp);
	/* Sorted: the Python frames, top bit set, come last. */
	while (native < n && !prof_frame_is_py(frames[native]))
		native++;
	r = ps_python(out, out->v + native, frames + native, n - native);
	if (r == 0)
		r = profsym_resolve(ps, sc, pid, hp, frames, native, out->v);
	free(frames);
	return r;
}

const struct profsym_addr *profsym_set_find(const struct profsym_set *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo].addr == addr ? &s->v[lo] : NULL;
}

void profsym_set_free(struct profsym_set *s)
{
	free(s->v);
	free(s->py);
	heapprof_unref(s->hp);
	profsym_unref(s->ps);
	memset(s, 0, sizeof(*s));
}
