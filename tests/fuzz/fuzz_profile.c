/* fuzz_profile.c: libFuzzer target for the heap-profile reader and the daemon's copy of it: any bytes an agent can write are read safely and clamped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heapprof.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input's header part: the rest fills the records. */
#define HDR_BYTES 256
/* Where the area lies in the region the reader is given: after the
 * region's own header page, as an agent's does (profile_check() refuses
 * an area at offset 0). */
#define AREA_OFF PROF_HDR_SIZE

/* Every record the reader hands out is within its bounds. */
static void read_all(const struct prof_view *v)
{
	struct prof_stack_read s;
	struct prof_map_read m;
	struct prof_pyfunc_read f;

	for (uint32_t i = 0; i < v->nstacks; i++) {
		if (!profile_stack(v, i, &s))
			continue;
		if (s.nframes > PROF_MAX_FRAMES || s.alloc_objects < 0 || s.alloc_bytes < 0 ||
		    s.inuse_objects < 0 || s.inuse_bytes < 0 || s.samples < 0 || s.inuse_samples < 0)
			abort();
	}
	for (uint32_t i = 0; i < v->nmaps; i++)
		if (profile_map(v, i, &m) && (m.start >= m.end || strlen(m.path) >= PROF_PATH_MAX ||
		    m.build_id_len > PROF_BUILD_ID_MAX))
			abort();
	if (profile_pyfuncs_now(v) > v->max_pyfuncs)
		abort();
	for (uint32_t i = 0; i < v->max_pyfuncs + 2; i++)
		if (profile_pyfunc(v, i, &f) && (i >= v->max_pyfuncs || f.first_line < 0 ||
		    strlen(f.name) >= PROF_PYNAME_MAX || strlen(f.file) >= PROF_PATH_MAX))
			abort();
}

/* A Python function of the copy: its strings NUL-terminated within the
 * agent's fields. */
static void check_pyfunc(const struct heapprof_pyfunc *f)
{
	if (f == NULL || f->name == NULL || f->file == NULL || strlen(f->name) >= PROF_PYNAME_MAX ||
	    strlen(f->file) >= PROF_PATH_MAX || f->first_line < 0)
		abort();
}

/* The daemon's copy: bounded, [other] first and frameless, frames inside
 * the copy; every Python frame, whatever function it names, reads as one
 * of the copy's functions or as [python]. */
static void copy(const unsigned char *buf, size_t len, size_t area_len)
{
	struct heapprof *hp = NULL;
	size_t frames = 0;

	if (heapprof_read(buf, len, AREA_OFF, area_len, &hp) != 0)
		return;
	if (hp->bytes > HEAPPROF_MAX_BYTES || hp->nstacks == 0 || hp->stacks[0].nframes != 0 ||
	    hp->npyfuncs > HEAPPROF_MAX_PYFUNCS || hp->py_samples < 0 || hp->pyfuncs_dropped < 0 ||
	    strcmp(hp->unknown.name, HEAPPROF_PY_UNKNOWN) != 0)
		abort();
	for (uint32_t i = 0; i < hp->npyfuncs; i++)
		check_pyfunc(&hp->pyfuncs[i]);
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		const uint64_t *f = heapprof_frames(hp, i);

		if (hp->stacks[i].nframes > PROF_MAX_FRAMES || hp->stacks[i].first != frames ||
		    hp->stacks[i].inuse_bytes < 0)
			abort();
		for (uint32_t k = 0; k < hp->stacks[i].nframes; k++)
			if (prof_frame_is_py(f[k]))
				check_pyfunc(heapprof_pyfunc(hp, f[k]));
		frames += hp->stacks[i].nframes;
	}
	heapprof_unref(hp);
}

/*
 * The first byte chooses whether the header is made to pass
 * profile_check() (with up to 15 stacks, 3 mappings and 3 Python functions
 * whose records come from the input after its first HDR_BYTES, so the
 * record readers are reached) or left as it came (so the checks themselves are tried).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prof_view v;
	unsigned char *buf, *area;
	size_t len = size;
	int force;

	if (size < 1)
		return 0;
	force = data[0] & 1;
	data++;
	size--;
	if (force) {
		uint32_t ns = size > 0 ? data[0] % 16 : 0, nm = size > 1 ? data[1] % 4 : 0;
		uint32_t np = size > 2 ? data[2] % 4 : 0;

		len = profile_area_size(ns, nm, np);
		buf = calloc(1, AREA_OFF + len);
		if (buf == NULL)
			return 0;
		area = buf + AREA_OFF;
		memcpy(area, data, size < HDR_BYTES ? size : HDR_BYTES);
		if (size > HDR_BYTES)
			memcpy(area + PROF_HDR_SIZE, data + HDR_BYTES,
			    size - HDR_BYTES < len - PROF_HDR_SIZE ? size - HDR_BYTES : len - PROF_HDR_SIZE);
		{
			/* The fixed part, as profile_init() writes it; the
			 * counters and claims stay as the input has them. */
			struct prof_hdr *h = (struct prof_hdr *)(void *)area;

			h->magic = PROF_MAGIC;
			h->layout = PROF_LAYOUT;
			h->stack_off = PROF_HDR_SIZE;
			h->stack_size = sizeof(struct prof_stack);
			h->max_stacks = ns;
			h->map_off = (uint32_t)(PROF_HDR_SIZE + (size_t)ns * sizeof(struct prof_stack));
			h->map_size = sizeof(struct prof_map);
			h->max_maps = nm;
			h->pyfunc_off = np > 0 ? h->map_off + nm * (uint32_t)sizeof(struct prof_map) : 0;
			h->pyfunc_size = np > 0 ? sizeof(struct prof_pyfunc) : 0;
			h->max_pyfuncs = np;
		}
	} else {
		buf = calloc(1, AREA_OFF + (len ? len : 1));
		if (buf == NULL)
			return 0;
		memcpy(buf + AREA_OFF, data, size);
	}
	if (profile_check(buf, AREA_OFF + len, AREA_OFF, len, &v) == 0)
		read_all(&v);
	copy(buf, AREA_OFF + len, len);
	free(buf);
	return 0;
}
