/* heappprof.c: a process's heap profile as pprof (gzipped profile.proto), in the form of Go's heap profiles. */
#include "heappprof.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapprof.h"
#include "pprof.h"

/* A profile being built: ids of what has been added. */
struct hpb {
	struct pprof *p;
	const struct ptab_profile *pp;
	const struct profsym_set *set;
	int *map_id;                    /* by the heapprof's map index */
	int *loc_id;                    /* by the set's index; 0: not yet */
	int64_t other[4];               /* [other] and what is folded into it */
};

static int64_t hpb_objects(int64_t fixed)
{
	return fixed / PROF_OBJ_ONE + (fixed % PROF_OBJ_ONE >= PROF_OBJ_ONE / 2);
}

static int hpb_types(struct pprof *p, uint64_t rate)
{
	static const char *const t[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	int r;

	for (int i = 0; i < 4; i++)
		if ((r = pprof_sample_type(p, t[i][0], t[i][1])) < 0)
			return r;
	return pprof_period(p, "space", "bytes", rate > INT64_MAX ? INT64_MAX : (int64_t)rate);
}

/* How far the addresses of mapping m are symbolized (PPROF_HAS_*). */
static unsigned hpb_map_flags(const struct hpb *b, int m)
{
	unsigned fl = 0;

	for (size_t i = 0; i < b->set->n; i++) {
		const struct profsym_addr *a = &b->set->v[i];

		if (a->map != m || a->nframes == 0)
			continue;
		fl |= PPROF_HAS_FUNCTIONS;
		if (a->nframes > 1)
			fl |= PPROF_HAS_INLINE_FRAMES;
		if (a->frames[0].file != NULL)
			fl |= PPROF_HAS_FILENAMES;
		if (a->frames[0].line > 0)
			fl |= PPROF_HAS_LINE_NUMBERS;
	}
	return fl;
}

static int hpb_map(struct hpb *b, int m)
{
	const struct heapprof_map *hm = &b->pp->hp->maps[m];
	char hex[2 * PROF_BUILD_ID_MAX + 1];
	struct pprof_map pm;
	int id;

	for (uint32_t i = 0; i < hm->build_id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", hm->build_id[i]);
	hex[2 * hm->build_id_len] = '\0';
	memset(&pm, 0, sizeof(pm));
	pm.start = hm->start;
	pm.limit = hm->end;
	pm.offset = hm->offset;
	pm.filename = hm->path;
	pm.build_id = hex;
	pm.flags = hpb_map_flags(b, m);
	if ((id = pprof_mapping(b->p, &pm)) < 0)
		return id;
	b->map_id[m] = id;
	return 0;
}

/* Every mapping, the main binary's first. */
static int hpb_maps(struct hpb *b)
{
	const struct heapprof *hp = b->pp->hp;
	int r;

	for (uint32_t i = 0; i < hp->nmaps; i++)
		if (strcmp(hp->maps[i].path, b->pp->exe) == 0 && b->pp->exe[0] != '\0' &&
		    (r = hpb_map(b, (int)i)) < 0)
			return r;
	for (uint32_t i = 0; i < hp->nmaps; i++)
		if (b->map_id[i] == 0 && (r = hpb_map(b, (int)i)) < 0)
			return r;
	return 0;
}

/* The location of the Python frame a: no mapping, no address, one line
 * in the function as the interpreter names it. */
static int hpb_py_location(struct hpb *b, const struct profsym_addr *a)
{
	const struct heapprof_pyfunc *fn = heapprof_pyfunc(b->pp->hp, a->addr);
	struct pprof_line line;
	int id;

	/* No system_name: pprof would take a name equal to it for a C++ one
	 * and strip its <...> as template parameters ("<module>" read as ""). */
	id = pprof_function(b->p, fn->name, NULL, fn->file, fn->first_line);
	if (id < 0)
		return id;
	line.function_id = id;
	line.line = PROF_PY_LINE(a->addr);
	return pprof_location(b->p, 0, 0, &line, 1);
}

/* The location of the set's address a. */
static int hpb_location(struct hpb *b, const struct profsym_addr *a)
{
	struct pprof_line lines[SYM_MAX_FRAMES];
	size_t i = (size_t)(a - b->set->v);
	int id;

	if (b->loc_id[i] != 0)
		return b->loc_id[i];
	if (a->kind == PROFSYM_PYTHON) {
		if ((id = hpb_py_location(b, a)) > 0)
			b->loc_id[i] = id;
		return id;
	}
	for (unsigned k = 0; k < a->nframes; k++) {
		const struct profsym_frame *f = &a->frames[k];
		const char *sys = f->function != NULL ? f->function : "[unknown]";
		const char *name = f->name != NULL ? f->name : sys;

		if ((id = pprof_function(b->p, name, sys, f->file, 0)) < 0)
			return id;
		lines[k].function_id = id;
		lines[k].line = f->line;
	}
	id = pprof_location(b->p, a->map >= 0 ? b->map_id[a->map] : 0, a->addr, lines, a->nframes);
	if (id > 0)
		b->loc_id[i] = id;
	return id;
}

static void hpb_values(const struct heapprof_stack *s, int64_t *v)
{
	v[0] = hpb_objects(s->alloc_objects);
	v[1] = s->alloc_bytes;
	v[2] = hpb_objects(s->inuse_objects);
	v[3] = s->inuse_bytes;
}

static void hpb_fold(struct hpb *b, const int64_t *v)
{
	for (int k = 0; k < 4; k++)
		b->other[k] = v[k] > INT64_MAX - b->other[k] ? INT64_MAX : b->other[k] + v[k];
}

/* Stack i as a sample; one past pprof's limits is folded into [other]. */
static int hpb_stack(struct hpb *b, uint32_t i)
{
	const struct heapprof_stack *s = &b->pp->hp->stacks[i];
	const uint64_t *f = heapprof_frames(b->pp->hp, i);
	int locs[PROF_MAX_FRAMES];
	int64_t v[4];
	int r = 0;

	hpb_values(s, v);
	for (uint32_t k = 0; k < s->nframes && r >= 0; k++) {
		const struct profsym_addr *a = profsym_set_find(b->set, f[k]);

		r = a != NULL ? hpb_location(b, a) :
		    pprof_location(b->p, 0, f[k], NULL, 0);
		locs[k] = r;
	}
	if (r >= 0)
		r = pprof_sample(b->p, locs, s->nframes, v);
	if (r == -E2BIG) {
		hpb_fold(b, v);
		return 0;
	}
	return r < 0 ? r : 0;
}

static int hpb_other(struct hpb *b)
{
	struct pprof_line line;
	int fn, loc;

	if ((fn = pprof_function(b->p, "[other]", "[other]", NULL, 0)) < 0)
		return fn;
	line.function_id = fn;
	line.line = 0;
	if ((loc = pprof_location(b->p, 0, 0, &line, 1)) < 0)
		return loc;
	return pprof_sample(b->p, &loc, 1, b->other);
}

int heappprof_build(const struct ptab_profile *pp, const struct profsym_set *set,
    int64_t time_nanos, unsigned char **out, size_t *len)
{
	const struct heapprof *hp = pp->hp;
	struct hpb b;
	int r = -ENOMEM;

	memset(&b, 0, sizeof(b));
	b.pp = pp;
	b.set = set;
	b.p = pprof_new();
	b.map_id = calloc(hp->nmaps ? hp->nmaps : 1, sizeof(*b.map_id));
	b.loc_id = calloc(set->n ? set->n : 1, sizeof(*b.loc_id));
	if (b.p == NULL || b.map_id == NULL || b.loc_id == NULL)
		goto out;
	if ((r = hpb_types(b.p, hp->rate)) < 0 || (r = hpb_maps(&b)) < 0)
		goto out;
	pprof_time(b.p, time_nanos, 0);
	if (hp->nstacks > 0)
		hpb_values(&hp->stacks[0], b.other);
	for (uint32_t i = 1; i < hp->nstacks && r >= 0; i++)
		r = hpb_stack(&b, i);
	if (r >= 0)
		r = hpb_other(&b);
	if (r >= 0)
		r = pprof_encode(b.p, 1, out, len);
out:
	pprof_free(b.p);
	free(b.map_id);
	free(b.loc_id);
	return r;
}
