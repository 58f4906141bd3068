/* test_profile.c: the profile area's layout, the sample weights, and the reader's checks and clamps. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "profile.h"
#include "region.h"

#define STACKS 16
#define MAPS 4

/* A region of a header page and a profile area after it; the area. */
static unsigned char *area_new(uint64_t *size)
{
	unsigned char *region;

	*size = profile_area_size(STACKS, MAPS, 0);
	region = calloc(1, *size + 4096);
	if (region == NULL)
		exit(1);
	return region + 4096;
}

static void area_free(unsigned char *a)
{
	free(a - 4096);
}

static struct prof_stack *stack_of(unsigned char *a, uint32_t i)
{
	struct prof_hdr *h = (struct prof_hdr *)(void *)a;

	return (struct prof_stack *)(void *)(a + h->stack_off + (uint64_t)i * h->stack_size);
}

static struct prof_map *map_of(unsigned char *a, uint32_t i)
{
	struct prof_hdr *h = (struct prof_hdr *)(void *)a;

	return (struct prof_map *)(void *)(a + h->map_off + (uint64_t)i * h->map_size);
}

/* The weight of a sample is 1 / (1 - e^(-size/rate)) objects and that
 * many times its size in bytes; large blocks stand for themselves. */
static void weights(void)
{
	int64_t obj, bytes;

	profile_weight(16, 524288, &obj, &bytes);
	CHECK_I64(llabs(obj - (int64_t)(32768.5 * PROF_OBJ_ONE)), <=, PROF_OBJ_ONE);
	CHECK_I64(llabs(bytes - 524296), <=, 2);
	profile_weight(524288, 524288, &obj, &bytes);
	CHECK_I64(llabs(obj - (int64_t)(1.0 / (1.0 - exp(-1.0)) * PROF_OBJ_ONE)), <=, 1);
	profile_weight(100u << 20, 524288, &obj, &bytes);
	CHECK_I64(obj, ==, PROF_OBJ_ONE);
	CHECK_I64(bytes, ==, 100 << 20);
	profile_weight(0, 16384, &obj, &bytes);         /* malloc(0) counts as 1 byte */
	CHECK_I64(bytes, >, 0);
	profile_weight(1000, 0, &obj, &bytes);          /* no rate: every block is itself */
	CHECK_I64(obj, ==, PROF_OBJ_ONE);
	CHECK_I64(bytes, ==, 1000);
}

/* A fresh area reads back as one empty [other] stack and no maps. */
static void fresh_area(void)
{
	uint64_t size;
	unsigned char *a = area_new(&size);
	struct prof_view v;
	struct prof_stack_read s;

	profile_init((struct prof_hdr *)(void *)a, 16384, STACKS, MAPS, 0);
	CHECK_I64(profile_check(a, size, 0, size, &v), ==, -EINVAL);   /* offset 0 is the region's */
	CHECK_I64(profile_check(a - 4096, size + 4096, 4096, size, &v), ==, 0);
	CHECK_U64(v.rate, ==, 16384);
	CHECK_U64(v.nstacks, ==, 1);
	CHECK_U64(v.nmaps, ==, 0);
	CHECK_I64(profile_stack(&v, 0, &s), ==, 1);
	CHECK_U64(s.nframes, ==, 0);
	CHECK_I64(profile_stack(&v, 1, &s), ==, 0);
	CHECK_I64(profile_check(a, size, 0, 0, &v), ==, -ENOENT);
	area_free(a);
}

/* Hostile areas: counts past capacity, frames past 64, negative and moved
 * counters, a path without its NUL, an area past the region's end. */
static void hostile_area(void)
{
	uint64_t size;
	unsigned char *a = area_new(&size), *region = a - 4096;
	struct prof_hdr *h = (struct prof_hdr *)(void *)a;
	struct prof_view v;
	struct prof_stack_read s;
	struct prof_map_read m;

	profile_init(h, 16384, STACKS, MAPS, 0);
	h->stacks_used = 1000000;
	h->maps_used = -5;
	h->samples = PROF_MOVED;
	stack_of(a, 3)->state = PROF_READY;
	stack_of(a, 3)->nframes = 1000;
	stack_of(a, 3)->inuse_bytes = -77;
	stack_of(a, 3)->alloc_bytes = 500;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, 0);
	CHECK_U64(v.nstacks, ==, STACKS);
	CHECK_U64(v.nmaps, ==, 0);
	CHECK_I64(v.samples, ==, 0);
	CHECK_I64(profile_stack(&v, 3, &s), ==, 1);
	CHECK_U64(s.nframes, ==, PROF_MAX_FRAMES);
	CHECK_I64(s.inuse_bytes, ==, 0);
	CHECK_I64(s.alloc_bytes, ==, 500);
	CHECK_I64(profile_stack(&v, STACKS + 1, &s), ==, 0);

	h->maps_used = 1;
	map_of(a, 0)->state = PROF_READY;
	map_of(a, 0)->start = 0x1000;
	map_of(a, 0)->end = 0x2000;
	map_of(a, 0)->build_id_len = 999;
	memset(map_of(a, 0)->path, 'x', PROF_PATH_MAX);
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, 0);
	CHECK_I64(profile_map(&v, 0, &m), ==, 1);
	CHECK_U64(strlen(m.path), ==, PROF_PATH_MAX - 1);
	CHECK_U64(m.build_id_len, ==, PROF_BUILD_ID_MAX);
	map_of(a, 0)->end = 0x1000;                     /* empty: refused */
	CHECK_I64(profile_map(&v, 0, &m), ==, 0);

	/* the area, or its tables, past the region's end */
	CHECK_I64(profile_check(region, size + 4095, 4096, size, &v), ==, -EINVAL);
	h->max_stacks = PROF_STACKS_MAX;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, -EINVAL);
	h->max_stacks = STACKS;
	h->stack_size = 8;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, -EINVAL);
	h->stack_size = sizeof(struct prof_stack);
	h->magic ^= 1;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, -EINVAL);
	area_free(a);
}

static struct prof_pyfunc *pyfunc_of(unsigned char *a, uint32_t i)
{
	struct prof_hdr *h = (struct prof_hdr *)(void *)a;

	return (struct prof_pyfunc *)(void *)(a + h->pyfunc_off + (uint64_t)i * h->pyfunc_size);
}

/* Python functions: function 0 is "[python]"; a record reads back with its
 * strings cut at their fields and a negative first line as 0; a table past
 * the area, or overlapping the mappings, is refused; a frame's parts. */
static void python_functions(void)
{
	uint64_t size = profile_area_size(STACKS, MAPS, 3);
	unsigned char *region = calloc(1, size + 4096), *a = region + 4096;
	struct prof_hdr *h = (struct prof_hdr *)(void *)a;
	struct prof_pyfunc_read f;
	struct prof_view v;
	uint64_t frame = PROF_PY_MAKE(2, 41);

	REQUIRE(region != NULL);
	CHECK_U64(size, >=, profile_area_size(STACKS, MAPS, 0) + 3 * sizeof(struct prof_pyfunc));
	profile_init(h, 16384, STACKS, MAPS, 3);
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, 0);
	CHECK_U64(v.npyfuncs, ==, 1);
	CHECK_I64(profile_pyfunc(&v, 0, &f), ==, 1);
	CHECK_STR(f.name, "[python]");
	CHECK_I64(profile_pyfunc(&v, 1, &f), ==, 0);
	/* claimed and made ready after the check: read all the same */
	pyfunc_of(a, 1)->state = PROF_READY;
	memcpy(pyfunc_of(a, 1)->name, "late", 5);
	h->pyfuncs_used = 2;
	CHECK_U64(v.npyfuncs, ==, 1);
	CHECK_U64(profile_pyfuncs_now(&v), ==, 2);
	CHECK_I64(profile_pyfunc(&v, 1, &f), ==, 1);
	CHECK_STR(f.name, "late");

	h->pyfuncs_used = 99;
	pyfunc_of(a, 2)->state = PROF_READY;
	pyfunc_of(a, 2)->first_line = -3;
	memset(pyfunc_of(a, 2)->name, 'n', PROF_PYNAME_MAX);
	memset(pyfunc_of(a, 2)->file, 'f', PROF_PATH_MAX);
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, 0);
	CHECK_U64(v.npyfuncs, ==, 3);
	CHECK(prof_frame_is_py(frame));
	CHECK(!prof_frame_is_py(0x7fffffffe000ull));
	CHECK_U64(PROF_PY_FUNC(frame), ==, 2);
	CHECK_U64(PROF_PY_LINE(frame), ==, 41);
	CHECK_I64(profile_pyfunc(&v, PROF_PY_FUNC(frame), &f), ==, 1);
	CHECK_I64(f.first_line, ==, 0);
	CHECK_U64(strlen(f.name), ==, PROF_PYNAME_MAX - 1);
	CHECK_U64(strlen(f.file), ==, PROF_PATH_MAX - 1);
	CHECK_I64(profile_pyfunc(&v, 3, &f), ==, 0);

	h->max_pyfuncs = 1000;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, -EINVAL);
	h->max_pyfuncs = 3;
	h->pyfunc_off = h->map_off;
	CHECK_I64(profile_check(region, size + 4096, 4096, size, &v), ==, -EINVAL);
out:
	free(region);
}

int main(void)
{
	RUN_TEST(weights);
	RUN_TEST(fresh_area);
	RUN_TEST(hostile_area);
	RUN_TEST(python_functions);
	return HARNESS_EXIT();
}
