/* fuzz_profile.c: libFuzzer target for the heap-profile reader and the daemon's copy of it: any bytes an agent can write are read safely and clamped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heapprof.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input's header part: the rest fills the records. */
#define HDR_BYTES 256

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
	for (uint32_t i = 0; i < v->npyfuncs + 2; i++)
		if (profile_pyfunc(v, i, &f) && (i >= v->npyfuncs || f.first_line < 0 ||
		    strlen(f.name) >= PROF_PYNAME_MAX || strlen(f.file) >= PROF_PATH_MAX))
			abort();
}

/* The daemon's copy: bounded, [other] first and frameless, frames inside
 * the copy. */
static void copy(const unsigned char *buf, size_t len)
{
	struct heapprof *hp = NULL;
	size_t frames = 0;

	if (heapprof_read(buf, len, 0, len, &hp) != 0)
		return;
	if (hp->bytes > HEAPPROF_MAX_BYTES + (size_t)HEAPPROF_MAX_MAPS * (PROF_PATH_MAX + 64) ||
	    hp->nstacks == 0 || hp->stacks[0].nframes != 0)
		abort();
	for (uint32_t i = 0; i < hp->nstacks; i++) {
		if (hp->stacks[i].nframes > PROF_MAX_FRAMES || hp->stacks[i].first != frames ||
		    hp->stacks[i].inuse_bytes < 0)
			abort();
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
	unsigned char *buf;
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
		buf = calloc(1, len);
		if (buf == NULL)
			return 0;
		memcpy(buf, data, size < HDR_BYTES ? size : HDR_BYTES);
		if (size > HDR_BYTES)
			memcpy(buf + PROF_HDR_SIZE, data + HDR_BYTES,
			    size - HDR_BYTES < len - PROF_HDR_SIZE ? size - HDR_BYTES : len - PROF_HDR_SIZE);
		{
			/* The fixed part, as profile_init() writes it; the
			 * counters and claims stay as the input has them. */
			struct prof_hdr *h = (struct prof_hdr *)(void *)buf;

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
		buf = malloc(len ? len : 1);
		if (buf == NULL)
			return 0;
		memcpy(buf, data, size);
	}
	if (profile_check(buf, len, 0, len, &v) == 0)
		read_all(&v);
	copy(buf, len);
	free(buf);
	return 0;
}
