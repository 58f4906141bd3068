/* test_pprof.c: a heap profile built, encoded, decoded with protobuf-c and checked field by field; gzip; go tool pprof reads it. */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "pprof.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;

static const char *const heap_types[4][2] = {
	{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
	{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
};

/* A new profile with Go's heap sample types and period. */
static struct pprof *heap_profile(void)
{
	struct pprof *p = pprof_new();

	if (p == NULL)
		return NULL;
	for (int i = 0; i < 4; i++)
		CHECK(pprof_sample_type(p, heap_types[i][0], heap_types[i][1]) == 0);
	CHECK(pprof_period(p, "space", "bytes", 524288) == 0);
	return p;
}

/* What the test profile holds: ids as the builder gave them. */
struct built {
	int map_exe, map_lib;
	int fn_main, fn_work, fn_inl, fn_malloc;
	int loc_leaf, loc_work, loc_main;
};

/*
 * Two mappings (the program and a library), four functions, three
 * locations (one with an inlined callee) and two samples:
 *   malloc <- inl (inlined into work) <- main   values 1 2 3 4
 *   work <- main                                 values 5 6 7 8
 */
static void build(struct pprof *p, struct built *b)
{
	struct pprof_map exe = { 0x400000, 0x401000, 0, "/usr/bin/prog", "abcdef0123",
		PPROF_HAS_FUNCTIONS | PPROF_HAS_FILENAMES | PPROF_HAS_LINE_NUMBERS |
		PPROF_HAS_INLINE_FRAMES };
	struct pprof_map lib = { 0x7f0000000000, 0x7f0000200000, 0x1000, "/lib/libc.so.6",
		NULL, PPROF_HAS_FUNCTIONS };

	b->map_exe = pprof_mapping(p, &exe);
	b->map_lib = pprof_mapping(p, &lib);
	b->fn_main = pprof_function(p, "main", NULL, "prog.c", 10);
	b->fn_work = pprof_function(p, "work", "_Z4workv", "prog.c", 20);
	b->fn_inl = pprof_function(p, "inl", NULL, "inl.h", 3);
	b->fn_malloc = pprof_function(p, "malloc", NULL, NULL, 0);

	struct pprof_line leaf[] = { { b->fn_malloc, 0 } };
	struct pprof_line work[] = { { b->fn_inl, 5 }, { b->fn_work, 25 } };
	struct pprof_line mainl[] = { { b->fn_main, 12 } };

	b->loc_leaf = pprof_location(p, b->map_lib, 0x7f0000001234, leaf, 1);
	b->loc_work = pprof_location(p, b->map_exe, 0x400100, work, 2);
	b->loc_main = pprof_location(p, b->map_exe, 0x400200, mainl, 1);

	int s1[] = { b->loc_leaf, b->loc_work, b->loc_main };
	int s2[] = { b->loc_work, b->loc_main };
	int64_t v1[] = { 1, 2, 3, 4 }, v2[] = { 5, 6, 7, 8 };

	CHECK(pprof_sample(p, s1, 3, v1) == 0);
	CHECK(pprof_sample(p, s2, 2, v2) == 0);
	pprof_time(p, 1700000000000000000, 5000000000);
}

static const char *str_at(const PbProfile *pr, int64_t i)
{
	return i >= 0 && (size_t)i < pr->n_string_table ? pr->string_table[i] : NULL;
}

static void check_header(const PbProfile *pr)
{
	CHECK_U64(pr->n_string_table, >, 0);
	CHECK_STR(str_at(pr, 0), "");
	CHECK_U64(pr->n_sample_type, ==, 4);
	for (size_t i = 0; i < pr->n_sample_type && i < 4; i++) {
		CHECK_STR(str_at(pr, pr->sample_type[i]->type), heap_types[i][0]);
		CHECK_STR(str_at(pr, pr->sample_type[i]->unit), heap_types[i][1]);
	}
	CHECK(pr->period_type != NULL);
	if (pr->period_type != NULL) {
		CHECK_STR(str_at(pr, pr->period_type->type), "space");
		CHECK_STR(str_at(pr, pr->period_type->unit), "bytes");
	}
	CHECK_U64(pr->period, ==, 524288);
	CHECK_U64(pr->time_nanos, ==, 1700000000000000000);
	CHECK_U64(pr->duration_nanos, ==, 5000000000);
	/* Each string once. */
	for (size_t i = 0; i < pr->n_string_table; i++)
		for (size_t j = i + 1; j < pr->n_string_table; j++)
			CHECK(strcmp(pr->string_table[i], pr->string_table[j]) != 0);
}

static void check_mappings(const PbProfile *pr, const struct built *b)
{
	CHECK_U64(pr->n_mapping, ==, 2);
	if (pr->n_mapping != 2)
		return;
	const Perftools__Profiles__Mapping *e = pr->mapping[0], *l = pr->mapping[1];

	CHECK_U64(e->id, ==, b->map_exe);
	CHECK_U64(e->memory_start, ==, 0x400000);
	CHECK_U64(e->memory_limit, ==, 0x401000);
	CHECK_U64(e->file_offset, ==, 0);
	CHECK_STR(str_at(pr, e->filename), "/usr/bin/prog");
	CHECK_STR(str_at(pr, e->build_id), "abcdef0123");
	CHECK(e->has_functions && e->has_filenames && e->has_line_numbers && e->has_inline_frames);
	CHECK_U64(l->id, ==, b->map_lib);
	CHECK_U64(l->memory_start, ==, 0x7f0000000000);
	CHECK_U64(l->memory_limit, ==, 0x7f0000200000);
	CHECK_U64(l->file_offset, ==, 0x1000);
	CHECK_STR(str_at(pr, l->filename), "/lib/libc.so.6");
	CHECK_U64(l->build_id, ==, 0);
	CHECK(l->has_functions && !l->has_filenames && !l->has_line_numbers && !l->has_inline_frames);
}

/* The decoded function with id id, checked against what was added. */
static void check_function(const PbProfile *pr, int id, const char *name, const char *sys,
    const char *file, int64_t start)
{
	CHECK(id >= 1 && (size_t)id <= pr->n_function);
	if (id < 1 || (size_t)id > pr->n_function)
		return;
	const Perftools__Profiles__Function *f = pr->function[id - 1];

	CHECK_U64(f->id, ==, id);
	CHECK_STR(str_at(pr, f->name), name);
	CHECK_STR(str_at(pr, f->system_name), sys);
	CHECK_STR(str_at(pr, f->filename), file);
	CHECK_U64(f->start_line, ==, start);
}

static void check_location(const PbProfile *pr, int id, int mapping, uint64_t addr,
    const int *fns, const int64_t *lines, size_t n)
{
	CHECK(id >= 1 && (size_t)id <= pr->n_location);
	if (id < 1 || (size_t)id > pr->n_location)
		return;
	const Perftools__Profiles__Location *l = pr->location[id - 1];

	CHECK_U64(l->id, ==, id);
	CHECK_U64(l->mapping_id, ==, mapping);
	CHECK_U64(l->address, ==, addr);
	CHECK_U64(l->n_line, ==, n);
	for (size_t i = 0; i < n && i < l->n_line; i++) {
		CHECK_U64(l->line[i]->function_id, ==, fns[i]);
		CHECK_U64(l->line[i]->line, ==, lines[i]);
	}
}

static void check_sample(const PbProfile *pr, size_t i, const int *locs, size_t n,
    const int64_t *v)
{
	const Perftools__Profiles__Sample *s = pr->sample[i];

	CHECK_U64(s->n_location_id, ==, n);
	for (size_t j = 0; j < n && j < s->n_location_id; j++)
		CHECK_U64(s->location_id[j], ==, locs[j]);
	CHECK_U64(s->n_value, ==, 4);
	for (size_t j = 0; j < 4 && j < s->n_value; j++)
		CHECK_U64(s->value[j], ==, v[j]);
	CHECK_U64(s->n_label, ==, 0);
}

/* Every field of the test profile, as decoded. */
static void check_decoded(const PbProfile *pr, const struct built *b)
{
	check_header(pr);
	check_mappings(pr, b);
	CHECK_U64(pr->n_function, ==, 4);
	check_function(pr, b->fn_main, "main", "", "prog.c", 10);
	check_function(pr, b->fn_work, "work", "_Z4workv", "prog.c", 20);
	check_function(pr, b->fn_inl, "inl", "", "inl.h", 3);
	check_function(pr, b->fn_malloc, "malloc", "", "", 0);
	CHECK_U64(pr->n_location, ==, 3);
	check_location(pr, b->loc_leaf, b->map_lib, 0x7f0000001234, (int[]){ b->fn_malloc },
	    (int64_t[]){ 0 }, 1);
	check_location(pr, b->loc_work, b->map_exe, 0x400100, (int[]){ b->fn_inl, b->fn_work },
	    (int64_t[]){ 5, 25 }, 2);
	check_location(pr, b->loc_main, b->map_exe, 0x400200, (int[]){ b->fn_main },
	    (int64_t[]){ 12 }, 1);
	CHECK_U64(pr->n_sample, ==, 2);
	if (pr->n_sample == 2) {
		check_sample(pr, 0, (int[]){ b->loc_leaf, b->loc_work, b->loc_main }, 3,
		    (int64_t[]){ 1, 2, 3, 4 });
		check_sample(pr, 1, (int[]){ b->loc_work, b->loc_main }, 2,
		    (int64_t[]){ 5, 6, 7, 8 });
	}
}

static void test_roundtrip(void)
{
	struct pprof *p = heap_profile();
	PbProfile *pr = NULL;
	unsigned char *out = NULL;
	size_t len = 0;
	struct built b;

	REQUIRE(p != NULL);
	build(p, &b);
	CHECK(b.map_exe == 1 && b.map_lib == 2);
	CHECK(b.fn_main == 1 && b.fn_malloc == 4);
	CHECK(b.loc_leaf == 1 && b.loc_main == 3);
	REQUIRE(pprof_encode(p, 0, &out, &len) == 0);
	pr = perftools__profiles__profile__unpack(NULL, len, out);
	REQUIRE(pr != NULL);
	check_decoded(pr, &b);
out:
	if (pr != NULL)
		perftools__profiles__profile__free_unpacked(pr, NULL);
	free(out);
	pprof_free(p);
}

/* Strings, functions and locations added again get their first index or
 * id; a location with other lines or another mapping is another. */
static void test_dedup(void)
{
	struct pprof *p = pprof_new();
	struct pprof_map m = { 0x1000, 0x2000, 0, "/bin/x", NULL, 0 };

	REQUIRE(p != NULL);
	CHECK(pprof_string(p, "") == 0);
	int a = pprof_string(p, "alpha");

	CHECK(a == 1);
	CHECK(pprof_string(p, "beta") == 2);
	CHECK(pprof_string(p, "alpha") == a);
	int f = pprof_function(p, "alpha", NULL, "beta", 1);

	CHECK(f == 1);
	CHECK(pprof_function(p, "alpha", NULL, "beta", 1) == f);
	CHECK(pprof_function(p, "alpha", "", "beta", 1) == f);
	CHECK(pprof_function(p, "alpha", NULL, "beta", 2) == 2);
	CHECK(pprof_function(p, "alpha", "alpha", "beta", 1) == 3);
	CHECK(pprof_string(p, "gamma") == 3);   /* no string was added twice */
	int mp = pprof_mapping(p, &m);
	struct pprof_line l1[] = { { 1, 7 } }, l2[] = { { 1, 8 } };
	int loc = pprof_location(p, mp, 0x1100, l1, 1);

	CHECK(loc == 1);
	CHECK(pprof_location(p, mp, 0x1100, l1, 1) == loc);
	CHECK(pprof_location(p, mp, 0x1100, l2, 1) == 2);
	CHECK(pprof_location(p, 0, 0x1100, l1, 1) == 3);
	CHECK(pprof_location(p, mp, 0x1100, NULL, 0) == 4);
	CHECK(pprof_location(p, mp, 0x1100, NULL, 0) == 4);
	/* Many strings, through the index's growth ("/bin/x" is 4). */
	for (int i = 0; i < 5000; i++) {
		char s[32];

		snprintf(s, sizeof(s), "s%d", i);
		CHECK(pprof_string(p, s) == 5 + i);
	}
	for (int i = 0; i < 5000; i += 97) {
		char s[32];

		snprintf(s, sizeof(s), "s%d", i);
		CHECK(pprof_string(p, s) == 5 + i);
	}
out:
	pprof_free(p);
}

/* Bad ids and past the limits: refused, nothing added. */
static void test_refusals(void)
{
	struct pprof *p = pprof_new();
	int64_t v[4] = { 0 };
	int loc;
	unsigned char *out = NULL;
	size_t len;
	PbProfile *pr = NULL;
	char *big = NULL;

	REQUIRE(p != NULL);
	CHECK(pprof_sample(p, NULL, 0, v) == -EINVAL);          /* no types yet */
	CHECK(pprof_sample_type(p, "inuse_space", "bytes") == 0);
	CHECK(pprof_function(p, NULL, NULL, NULL, 0) == -EINVAL);
	CHECK(pprof_location(p, 1, 0x10, NULL, 0) == -EINVAL);  /* no mapping 1 */
	struct pprof_line bad[] = { { 1, 1 } };

	CHECK(pprof_location(p, 0, 0x10, bad, 1) == -EINVAL);   /* no function 1 */
	loc = pprof_location(p, 0, 0x10, NULL, 0);
	CHECK(loc == 1);
	int toodeep[PPROF_MAX_DEPTH + 1];

	for (size_t i = 0; i < PPROF_MAX_DEPTH + 1; i++)
		toodeep[i] = loc;
	CHECK(pprof_sample(p, toodeep, PPROF_MAX_DEPTH + 1, v) == -E2BIG);
	CHECK(pprof_sample(p, toodeep, PPROF_MAX_DEPTH, v) == 0);
	CHECK(pprof_sample(p, (int[]){ 2 }, 1, v) == -EINVAL);  /* no location 2 */
	CHECK(pprof_sample_type(p, "late", "count") == -EINVAL);

	big = malloc(PPROF_MAX_STRLEN + 2);
	REQUIRE(big != NULL);
	memset(big, 'x', PPROF_MAX_STRLEN + 1);
	big[PPROF_MAX_STRLEN + 1] = '\0';
	CHECK(pprof_string(p, big) == -E2BIG);
	big[PPROF_MAX_STRLEN] = '\0';
	CHECK(pprof_string(p, big) > 0);
	free(big);

	struct pprof_map m = { 0, 1, 0, NULL, NULL, 0 };

	for (unsigned i = 0; i < PPROF_MAX_MAPPINGS; i++)
		CHECK(pprof_mapping(p, &m) == (int)i + 1);
	CHECK(pprof_mapping(p, &m) == -E2BIG);

	/* Still encodes, with exactly what was accepted. */
	REQUIRE(pprof_encode(p, 0, &out, &len) == 0);
	pr = perftools__profiles__profile__unpack(NULL, len, out);
	REQUIRE(pr != NULL);
	CHECK_U64(pr->n_sample, ==, 1);
	CHECK_U64(pr->sample[0]->n_location_id, ==, PPROF_MAX_DEPTH);
	CHECK_U64(pr->n_sample_type, ==, 1);
	CHECK_U64(pr->n_location, ==, 1);
	CHECK_U64(pr->n_function, ==, 0);
	CHECK_U64(pr->n_mapping, ==, PPROF_MAX_MAPPINGS);
out:
	if (pr != NULL)
		perftools__profiles__profile__free_unpacked(pr, NULL);
	free(out);
	pprof_free(p);
}

/* An empty profile encodes to the string table alone. */
static void test_empty(void)
{
	struct pprof *p = pprof_new();
	unsigned char *out = NULL;
	size_t len = 99;
	PbProfile *pr = NULL;

	REQUIRE(p != NULL);
	REQUIRE(pprof_encode(p, 0, &out, &len) == 0);
	pr = perftools__profiles__profile__unpack(NULL, len, out);
	REQUIRE(pr != NULL);
	CHECK_U64(pr->n_string_table, ==, 1);
	CHECK_U64(pr->n_sample, ==, 0);
out:
	if (pr != NULL)
		perftools__profiles__profile__free_unpacked(pr, NULL);
	free(out);
	pprof_free(p);
}

/* The inflated form of a gzip stream (*out malloc'd), or -1. */
static int gunzip(const unsigned char *in, size_t n, unsigned char **out, size_t *len)
{
	z_stream z;
	size_t cap = n * 8 + 1024;
	unsigned char *buf = malloc(cap);
	int r;

	memset(&z, 0, sizeof(z));
	if (buf == NULL || inflateInit2(&z, 15 + 16) != Z_OK) {
		free(buf);
		return -1;
	}
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	r = inflate(&z, Z_FINISH);
	*len = z.total_out;
	inflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static void test_gzip(void)
{
	struct pprof *p = heap_profile();
	unsigned char *raw = NULL, *gz = NULL, *back = NULL;
	size_t rawlen = 0, gzlen = 0, backlen = 0;
	PbProfile *pr = NULL;
	struct built b;

	REQUIRE(p != NULL);
	build(p, &b);
	REQUIRE(pprof_encode(p, 0, &raw, &rawlen) == 0);
	REQUIRE(pprof_encode(p, 1, &gz, &gzlen) == 0);
	REQUIRE(gzlen >= 2);
	CHECK(gz[0] == 0x1f && gz[1] == 0x8b);
	REQUIRE(gunzip(gz, gzlen, &back, &backlen) == 0);
	CHECK_U64(backlen, ==, rawlen);
	CHECK(backlen == rawlen && memcmp(back, raw, rawlen) == 0);
	pr = perftools__profiles__profile__unpack(NULL, backlen, back);
	REQUIRE(pr != NULL);
	check_decoded(pr, &b);
out:
	if (pr != NULL)
		perftools__profiles__profile__free_unpacked(pr, NULL);
	free(raw);
	free(gz);
	free(back);
	pprof_free(p);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A full-sized heap profile: 4096 samples of 64-frame stacks over 16
 * mappings, 2048 functions and 8192 locations. Prints the encode time and
 * sizes (a measurement, not a check) and checks it decodes.
 */
static void test_large(void)
{
	struct pprof *p = heap_profile();
	unsigned char *raw = NULL, *gz = NULL;
	size_t rawlen = 0, gzlen = 0;
	PbProfile *pr = NULL;
	int maps[16], fns[2048], locs[8192];
	unsigned seed = 1;

	REQUIRE(p != NULL);
	for (int i = 0; i < 16; i++) {
		char name[64];
		struct pprof_map m = { 0x400000 + (uint64_t)i * 0x100000,
			0x4fffff + (uint64_t)i * 0x100000, 0, name, "0123456789abcdef0123456789abcdef01234567",
			PPROF_HAS_FUNCTIONS | PPROF_HAS_FILENAMES | PPROF_HAS_LINE_NUMBERS };

		snprintf(name, sizeof(name), "/usr/lib/x86_64-linux-gnu/libmod%d.so.1", i);
		REQUIRE((maps[i] = pprof_mapping(p, &m)) > 0);
	}
	for (int i = 0; i < 2048; i++) {
		char name[64], file[64];

		snprintf(name, sizeof(name), "module_%d::function_number_%d", i % 16, i);
		snprintf(file, sizeof(file), "src/module_%d/file_%d.c", i % 16, i % 128);
		REQUIRE((fns[i] = pprof_function(p, name, NULL, file, i)) > 0);
	}
	for (int i = 0; i < 8192; i++) {
		struct pprof_line l[2] = { { fns[i % 2048], 100 + i }, { fns[(i * 7) % 2048], 50 } };

		REQUIRE((locs[i] = pprof_location(p, maps[i % 16], 0x400000 + (uint64_t)i * 0x1000 + 17, l,
		    1 + (i % 4 == 0))) > 0);
	}
	for (int i = 0; i < 4096; i++) {
		int stack[64];
		int64_t v[4] = { 10 + i, 4096 * (10 + i), i, 4096 * i };

		for (int j = 0; j < 64; j++) {
			seed = seed * 1103515245 + 12345;
			stack[j] = locs[(seed >> 8) % 8192];
		}
		REQUIRE(pprof_sample(p, stack, 64, v) == 0);
	}
	double t0 = now_ms();

	REQUIRE(pprof_encode(p, 0, &raw, &rawlen) == 0);
	double t1 = now_ms();

	REQUIRE(pprof_encode(p, 1, &gz, &gzlen) == 0);
	double t2 = now_ms();

	printf("pprof: 4096 samples x 64 frames, 8192 locations, 2048 functions: "
	    "encode %.1f ms, %zu bytes; with gzip %.1f ms, %zu bytes\n",
	    t1 - t0, rawlen, t2 - t1, gzlen);
	pr = perftools__profiles__profile__unpack(NULL, rawlen, raw);
	REQUIRE(pr != NULL);
	CHECK_U64(pr->n_sample, ==, 4096);
	CHECK_U64(pr->n_location, ==, 8192);
	CHECK_U64(pr->n_function, ==, 2048);
	CHECK_U64(pr->sample[4095]->n_location_id, ==, 64);
	CHECK_U64(pr->sample[4095]->value[3], ==, 4096 * 4095);
out:
	if (pr != NULL)
		perftools__profiles__profile__free_unpacked(pr, NULL);
	free(raw);
	free(gz);
	pprof_free(p);
}

/* Runs cmd through the shell and returns its output (up to cap - 1 bytes,
 * NUL-terminated) in out; returns its exit status, or -1. */
static int run_capture(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0, r;
	int st;

	if (f == NULL)
		return -1;
	while (n + 1 < cap && (r = fread(out + n, 1, cap - 1 - n, f)) > 0)
		n += r;
	out[n] = '\0';
	/* Drain what did not fit, so the child is not stopped on a full pipe. */
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* go tool pprof reads the gzipped profile from a file: its sample types,
 * period and function names. Skipped when go is not on PATH. */
static void test_go_pprof(void)
{
	struct pprof *p = heap_profile();
	unsigned char *gz = NULL;
	size_t gzlen = 0;
	char dir[] = "/tmp/memprobe-pprof.XXXXXX", path[128], cmd[1024];
	static char out[1 << 16];
	struct built b;
	FILE *f;

	REQUIRE(p != NULL);
	if (system("command -v go >/dev/null 2>&1") != 0) {
		printf("test_go_pprof: go not on PATH; skipped (Debian golang-go)\n");
		goto out;
	}
	build(p, &b);
	REQUIRE(pprof_encode(p, 1, &gz, &gzlen) == 0);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/heap.pb.gz", dir);
	f = fopen(path, "wb");
	REQUIRE(f != NULL);
	CHECK(fwrite(gz, 1, gzlen, f) == gzlen);
	CHECK(fclose(f) == 0);
	/* A HOME and GOCACHE of its own, and a bound on the time. */
	snprintf(cmd, sizeof(cmd),
	    "HOME=%s GOCACHE=%s/cache GOFLAGS= PPROF_TMPDIR=%s timeout 120 "
	    "go tool pprof -raw -symbolize=none %s 2>&1",
	    dir, dir, dir, path);
	int rc = run_capture(cmd, out, sizeof(out));

	CHECK(rc == 0);
	if (rc != 0)
		fprintf(stderr, "go tool pprof said:\n%s\n", out);
	CHECK(strstr(out, "alloc_objects/count") != NULL);
	CHECK(strstr(out, "inuse_space/bytes") != NULL);
	CHECK(strstr(out, "PeriodType: space bytes") != NULL);
	CHECK(strstr(out, "Period: 524288") != NULL);
	CHECK(strstr(out, "malloc") != NULL);
	CHECK(strstr(out, "work prog.c:25") != NULL);
	CHECK(strstr(out, "inl inl.h:5") != NULL);
	CHECK(strstr(out, "/usr/bin/prog") != NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
out:
	free(gz);
	pprof_free(p);
}

int main(void)
{
	RUN_TEST(test_roundtrip);
	RUN_TEST(test_dedup);
	RUN_TEST(test_refusals);
	RUN_TEST(test_empty);
	RUN_TEST(test_gzip);
	RUN_TEST(test_large);
	RUN_TEST(test_go_pprof);
	return HARNESS_EXIT();
}
