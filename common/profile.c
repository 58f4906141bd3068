/* profile.c: the profile area's layout, the sample weights, and a reader that trusts none of it. */
#include "profile.h"

#include <errno.h>
#include <math.h>
#include <string.h>

_Static_assert(sizeof(struct prof_hdr) <= PROF_HDR_SIZE, "header fits its page");
_Static_assert(sizeof(struct prof_stack) % 64 == 0, "stacks are whole cache lines");
_Static_assert(sizeof(struct prof_map) % 64 == 0, "maps are whole cache lines");
_Static_assert(sizeof(struct prof_pyfunc) % 64 == 0, "Python functions are whole cache lines");

/* A field the writer may change at any time, read once. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static uint64_t stacks_bytes(uint32_t max_stacks)
{
	return (uint64_t)max_stacks * sizeof(struct prof_stack);
}

static uint64_t maps_end(uint32_t max_stacks, uint32_t max_maps)
{
	return PROF_HDR_SIZE + stacks_bytes(max_stacks) + (uint64_t)max_maps * sizeof(struct prof_map);
}

uint64_t profile_area_size(uint32_t max_stacks, uint32_t max_maps, uint32_t max_pyfuncs)
{
	uint64_t n = maps_end(max_stacks, max_maps) +
	    (uint64_t)max_pyfuncs * sizeof(struct prof_pyfunc);

	return (n + 4095) & ~(uint64_t)4095;
}

void profile_init(struct prof_hdr *h, uint64_t rate, uint32_t max_stacks, uint32_t max_maps,
    uint32_t max_pyfuncs)
{
	struct prof_stack *other;

	h->magic = PROF_MAGIC;
	h->layout = PROF_LAYOUT;
	h->rate = rate;
	h->stack_off = PROF_HDR_SIZE;
	h->stack_size = sizeof(struct prof_stack);
	h->max_stacks = max_stacks;
	h->map_off = (uint32_t)(PROF_HDR_SIZE + stacks_bytes(max_stacks));
	h->map_size = sizeof(struct prof_map);
	h->max_maps = max_maps;
	if (max_pyfuncs > 0) {
		struct prof_pyfunc *unknown;

		h->pyfunc_off = (uint32_t)maps_end(max_stacks, max_maps);
		h->pyfunc_size = sizeof(struct prof_pyfunc);
		h->max_pyfuncs = max_pyfuncs;
		unknown = (struct prof_pyfunc *)(void *)((char *)h + h->pyfunc_off);
		memcpy(unknown->name, "[python]", sizeof("[python]"));
		__atomic_store_n(&unknown->state, PROF_READY, __ATOMIC_RELEASE);
		__atomic_store_n(&h->pyfuncs_used, 1, __ATOMIC_RELEASE);
	}
	other = (struct prof_stack *)(void *)((char *)h + PROF_HDR_SIZE);
	other->nframes = 0;
	__atomic_store_n(&other->state, PROF_READY, __ATOMIC_RELEASE);
	__atomic_store_n(&h->stacks_used, 1, __ATOMIC_RELEASE);
}

void profile_weight(uint64_t size, uint64_t rate, int64_t *objects, int64_t *bytes)
{
	double x, scale;

	if (size == 0)
		size = 1;
	/* Past 40 means the chance of a sample is 1 - e^-40: take it as 1
	 * (and keep exp from underflowing, which would set errno). */
	if (rate == 0 || (x = (double)size / (double)rate) > 40.0) {
		*objects = PROF_OBJ_ONE;
		*bytes = (int64_t)size;
		return;
	}
	scale = -1.0 / expm1(-x);
	*objects = (int64_t)(scale * (double)PROF_OBJ_ONE + 0.5);
	*bytes = (int64_t)(scale * (double)size + 0.5);
}

/* ---- the reader ---- */

static int64_t clamp_count(int64_t v)
{
	return v < 0 ? 0 : v;              /* PROF_MOVED and garbage alike */
}

static uint32_t clamp_used(int64_t used, uint32_t max)
{
	if (used < 0)
		return 0;
	return (uint64_t)used > max ? max : (uint32_t)used;
}

int profile_check(const void *region, uint64_t region_len, uint64_t prof_off,
    uint64_t prof_size, struct prof_view *v)
{
	const struct prof_hdr *h;
	struct prof_hdr c;

	if (prof_off == 0 && prof_size == 0)
		return -ENOENT;
	/* The region's own header page comes first. */
	if (prof_off < PROF_HDR_SIZE || prof_off % 64 != 0 || prof_off > region_len || prof_size > region_len - prof_off ||
	    prof_size < PROF_HDR_SIZE)
		return -EINVAL;
	h = (const struct prof_hdr *)(const void *)((const unsigned char *)region + prof_off);
	memcpy(&c, h, sizeof(c));
	if (c.magic != PROF_MAGIC || c.layout != PROF_LAYOUT)
		return -EINVAL;
	if (c.stack_size != sizeof(struct prof_stack) || c.map_size != sizeof(struct prof_map) ||
	    c.stack_off < PROF_HDR_SIZE || c.stack_off % 64 != 0 || c.map_off % 64 != 0 ||
	    c.max_stacks > PROF_STACKS_MAX || c.max_maps > PROF_STACKS_MAX ||
	    (uint64_t)c.stack_off + stacks_bytes(c.max_stacks) > prof_size ||
	    (uint64_t)c.map_off + (uint64_t)c.max_maps * c.map_size > prof_size ||
	    (c.max_maps > 0 && c.map_off < (uint64_t)c.stack_off + stacks_bytes(c.max_stacks)))
		return -EINVAL;
	if (c.max_pyfuncs > 0 &&
	    (c.pyfunc_size != sizeof(struct prof_pyfunc) || c.pyfunc_off % 64 != 0 ||
	    c.max_pyfuncs > PROF_STACKS_MAX ||
	    c.pyfunc_off < (uint64_t)c.map_off + (uint64_t)c.max_maps * c.map_size ||
	    c.pyfunc_off < (uint64_t)c.stack_off + stacks_bytes(c.max_stacks) ||
	    (uint64_t)c.pyfunc_off + (uint64_t)c.max_pyfuncs * c.pyfunc_size > prof_size))
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	v->base = (const unsigned char *)h;
	v->rate = c.rate;
	v->stack_off = c.stack_off;
	v->stack_size = c.stack_size;
	v->map_off = c.map_off;
	v->map_size = c.map_size;
	v->nstacks = clamp_used(LOAD(h->stacks_used), c.max_stacks);
	v->nmaps = clamp_used(LOAD(h->maps_used), c.max_maps);
	v->samples = clamp_count(LOAD(h->samples));
	v->folded = clamp_count(LOAD(h->folded));
	v->unwind_failed = clamp_count(LOAD(h->unwind_failed));
	v->maps_dropped = clamp_count(LOAD(h->maps_dropped));
	v->sample_ns = clamp_count(LOAD(h->sample_ns));
	if (c.max_pyfuncs > 0) {
		v->pyfunc_off = c.pyfunc_off;
		v->pyfunc_size = c.pyfunc_size;
		v->max_pyfuncs = c.max_pyfuncs;
		v->npyfuncs = clamp_used(LOAD(h->pyfuncs_used), c.max_pyfuncs);
		v->pyfuncs_dropped = clamp_count(LOAD(h->pyfuncs_dropped));
		v->py_samples = clamp_count(LOAD(h->py_samples));
	}
	return 0;
}

int profile_stack(const struct prof_view *v, uint32_t i, struct prof_stack_read *out)
{
	const struct prof_stack *s;
	uint32_t n;

	if (i >= v->nstacks)
		return 0;
	s = (const struct prof_stack *)(const void *)(v->base + v->stack_off +
	    (uint64_t)i * v->stack_size);
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != PROF_READY)
		return 0;
	n = LOAD(s->nframes);
	out->nframes = n > PROF_MAX_FRAMES ? PROF_MAX_FRAMES : n;
	out->hash = LOAD(s->hash);
	for (uint32_t k = 0; k < out->nframes; k++)
		out->frames[k] = LOAD(s->frames[k]);
	out->alloc_objects = clamp_count(LOAD(s->alloc_objects));
	out->alloc_bytes = clamp_count(LOAD(s->alloc_bytes));
	out->inuse_objects = clamp_count(LOAD(s->inuse_objects));
	out->inuse_bytes = clamp_count(LOAD(s->inuse_bytes));
	out->samples = clamp_count(LOAD(s->samples));
	out->inuse_samples = clamp_count(LOAD(s->inuse_samples));
	return 1;
}

int profile_map(const struct prof_view *v, uint32_t i, struct prof_map_read *out)
{
	const struct prof_map *m;

	if (i >= v->nmaps)
		return 0;
	m = (const struct prof_map *)(const void *)(v->base + v->map_off + (uint64_t)i * v->map_size);
	if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != PROF_READY)
		return 0;
	out->start = LOAD(m->start);
	out->end = LOAD(m->end);
	out->offset = LOAD(m->offset);
	out->build_id_len = LOAD(m->build_id_len);
	if (out->build_id_len > PROF_BUILD_ID_MAX)
		out->build_id_len = PROF_BUILD_ID_MAX;
	memcpy(out->build_id, m->build_id, sizeof(out->build_id));
	memcpy(out->path, m->path, sizeof(out->path));
	out->path[sizeof(out->path) - 1] = '\0';
	return out->start < out->end && (out->path[0] != '\0' || out->build_id_len > 0);
}

int profile_pyfunc(const struct prof_view *v, uint32_t i, struct prof_pyfunc_read *out)
{
	const struct prof_pyfunc *f;
	int32_t line;

	if (i >= v->max_pyfuncs)
		return 0;
	f = (const struct prof_pyfunc *)(const void *)(v->base + v->pyfunc_off +
	    (uint64_t)i * v->pyfunc_size);
	if (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) != PROF_READY)
		return 0;
	line = LOAD(f->first_line);
	out->first_line = line < 0 ? 0 : line;
	memcpy(out->name, f->name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = '\0';
	memcpy(out->file, f->file, sizeof(out->file));
	out->file[sizeof(out->file) - 1] = '\0';
	return out->name[0] != '\0';
}

uint32_t profile_pyfuncs_now(const struct prof_view *v)
{
	const struct prof_hdr *h = (const struct prof_hdr *)(const void *)v->base;

	return v->max_pyfuncs > 0 ? clamp_used(LOAD(h->pyfuncs_used), v->max_pyfuncs) : 0;
}
