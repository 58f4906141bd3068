/* test_heapprof.c: a profile area built in memory, copied (heapprof), symbolized against this very program (profsym), and served as sites JSON and as pprof that go tool pprof reads. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "heappprof.h"
#include "heapprof.h"
#include "maps.h"
#include "profile.h"
#include "profsym.h"
#include "sites.h"
#include "symbolize.h"

/* Call sites to find by address: each records the return address of a
 * call it makes, which lies inside it. */
void hp_grab(uint64_t *out);
void hp_site_alpha(uint64_t *f);
void hp_site_beta(uint64_t *f);
void hp_outer(uint64_t *f, int which);

__attribute__((noinline)) void hp_grab(uint64_t *out)
{
	*out = (uint64_t)(uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void hp_site_alpha(uint64_t *f)
{
	hp_grab(&f[0]);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void hp_site_beta(uint64_t *f)
{
	hp_grab(&f[0]);
	__asm__ volatile("" ::: "memory");
}

/* Frames: the site first, then hp_outer, which called it. */
__attribute__((noinline)) void hp_outer(uint64_t *f, int which)
{
	if (which == 0)
		hp_site_alpha(f);
	else
		hp_site_beta(f);
	hp_grab(&f[1]);
	__asm__ volatile("" ::: "memory");
}

#define MiB (1024 * 1024)
#define AREA_OFF 4096u

/* A region holding a profile area at AREA_OFF. */
struct fake {
	unsigned char *mem;
	size_t len;
	struct prof_hdr *h;
	uint32_t nmaps;
};

static struct prof_stack *fake_stack(struct fake *fk, uint32_t i)
{
	return (struct prof_stack *)(void *)((unsigned char *)fk->h + fk->h->stack_off +
	    (size_t)i * fk->h->stack_size);
}

static int fake_init(struct fake *fk, uint32_t max_stacks, uint32_t max_maps)
{
	uint64_t area = profile_area_size(max_stacks, max_maps, 0);

	memset(fk, 0, sizeof(*fk));
	fk->len = AREA_OFF + area;
	fk->mem = calloc(1, fk->len);
	if (fk->mem == NULL)
		return -ENOMEM;
	fk->h = (struct prof_hdr *)(void *)(fk->mem + AREA_OFF);
	profile_init(fk->h, 524288, max_stacks, max_maps, 0);
	return 0;
}

/* Adds a ready stack of n frames with in-use and allocated figures
 * (objects in whole objects). Returns its index. */
static uint32_t fake_add(struct fake *fk, const uint64_t *frames, uint32_t n, int64_t inuse_bytes,
    double inuse_objects, int64_t alloc_bytes, double alloc_objects)
{
	uint32_t i = (uint32_t)fk->h->stacks_used++;
	struct prof_stack *s = fake_stack(fk, i);

	s->nframes = n;
	memcpy(s->frames, frames, n * sizeof(uint64_t));
	s->inuse_bytes = inuse_bytes;
	s->inuse_objects = (int64_t)(inuse_objects * PROF_OBJ_ONE);
	s->alloc_bytes = alloc_bytes;
	s->alloc_objects = (int64_t)(alloc_objects * PROF_OBJ_ONE);
	s->state = PROF_READY;
	return i;
}

static void fake_map(struct fake *fk, uint64_t start, uint64_t end, uint64_t off, const char *path,
    const unsigned char *id, uint32_t idlen)
{
	struct prof_map *m = (struct prof_map *)(void *)((unsigned char *)fk->h + fk->h->map_off +
	    (size_t)fk->nmaps * fk->h->map_size);

	m->start = start;
	m->end = end;
	m->offset = off;
	snprintf(m->path, sizeof(m->path), "%s", path);
	memcpy(m->build_id, id, idlen);
	m->build_id_len = idlen;
	m->state = PROF_READY;
	fk->h->maps_used = ++fk->nmaps;
}

/* This program's executable mappings, with their build-ids, as the agent
 * would record them. */
static int fake_self_maps(struct fake *fk)
{
	struct maps m;
	int r = maps_read(getpid(), &m);

	for (size_t i = 0; r == 0 && i < m.n; i++) {
		unsigned char id[PROF_BUILD_ID_MAX];
		int fd = open(m.v[i].path, O_RDONLY | O_CLOEXEC), len = 0;

		if (fd >= 0) {
			len = sym_read_build_id(fd, id, sizeof(id));
			close(fd);
		}
		fake_map(fk, m.v[i].start, m.v[i].end, m.v[i].offset, m.v[i].path, id,
		    len > 0 ? (uint32_t)len : 0);
	}
	maps_free(&m);
	return r;
}

/* The profile of the tests: alpha holds 3 MiB in 3 objects (two stacks
 * that read the same: they merge), beta 1 MiB in 1024 objects but
 * allocated 8 MiB, [other] 512 KiB, and one stack in a file that cannot
 * be read. */
static int fake_profile(struct fake *fk, uint64_t *alpha, uint64_t *beta)
{
	uint64_t raw[1] = { 0x10000500 };
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0 || fake_init(fk, 64, 64) < 0 || fake_self_maps(fk) < 0)
		return -1;
	exe[n] = '\0';
	hp_outer(alpha, 0);
	hp_outer(beta, 1);
	fake_add(fk, alpha, 2, 2 * MiB, 2.4, 2 * MiB, 2.4);
	fake_add(fk, alpha, 2, 1 * MiB, 0.6, 1 * MiB, 0.6);
	fake_add(fk, beta, 2, 1 * MiB, 1024, 8 * MiB, 8192);
	fake_map(fk, 0x10000000, 0x10001000, 0, "/nonexistent/libgone.so",
	    (const unsigned char *)"\x01\x02", 2);
	fake_add(fk, raw, 1, 4096, 1, 4096, 1);
	/* [other]: what did not fit. */
	fake_stack(fk, 0)->inuse_bytes = 512 * 1024;
	fake_stack(fk, 0)->inuse_objects = 8 * PROF_OBJ_ONE;
	fk->h->samples = 99;
	fk->h->folded = 7;
	return 0;
}

/* The profile and its symbols as a request sees them. */
struct got {
	struct ptab_profile pp;
	struct profsym_set set;
	struct sym_cache *sc;
};

static int got_build(struct got *g, const struct fake *fk, pid_t pid)
{
	static char comm[] = "test_heapprof";
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	memset(g, 0, sizeof(*g));
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	g->pp.pid = getpid();
	g->pp.comm = strdup(comm);
	g->pp.exe = strdup(exe);
	g->pp.syms = profsym_new();
	g->sc = sym_cache_new(0);
	if (heapprof_read(fk->mem, fk->len, AREA_OFF, fk->len - AREA_OFF, &g->pp.hp) < 0)
		return -1;
	return profsym_set_build(g->pp.syms, g->sc, pid, g->pp.hp, 0, &g->set);
}

/* The test profile, copied and symbolized: 0 or -1. */
static int setup(struct fake *fk, struct got *g, uint64_t *alpha, uint64_t *beta)
{
	memset(g, 0, sizeof(*g));
	memset(fk, 0, sizeof(*fk));
	if (fake_profile(fk, alpha, beta) < 0)
		return -1;
	return got_build(g, fk, getpid());
}

static void got_free(struct got *g)
{
	profsym_set_free(&g->set);
	heapprof_unref(g->pp.hp);
	profsym_unref(g->pp.syms);
	free(g->pp.comm);
	free(g->pp.exe);
	sym_cache_free(g->sc);
}

/* The copy: [other] first, every ready stack with its own frames, every
 * mapping; bytes counted. */
static void test_copy(void)
{
	struct fake fk;
	uint64_t a[2], b[2];
	struct heapprof *hp = NULL;

	REQUIRE(fake_profile(&fk, a, b) == 0);
	/* A stack being written is left out. */
	fake_stack(&fk, (uint32_t)fk.h->stacks_used++)->state = PROF_WRITING;
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	CHECK_U64(hp->nstacks, ==, 5);
	CHECK_U64(hp->stacks[0].nframes, ==, 0);
	CHECK_U64(hp->stacks[0].inuse_bytes, ==, 512 * 1024);
	CHECK_U64(hp->stacks[3].nframes, ==, 2);
	CHECK_U64(heapprof_frames(hp, 3)[0], ==, b[0]);
	CHECK_U64(hp->nmaps, ==, fk.nmaps);
	CHECK_U64(hp->samples, ==, 99);
	CHECK_U64(hp->bytes, <, 4096 + fk.nmaps * (sizeof(struct heapprof_map) + 4096));
	CHECK(heapprof_find_map(hp, 0x10000500) == (int)fk.nmaps - 1);
	CHECK(heapprof_find_map(hp, 8) == -1);
	/* No profile: -ENOENT. */
	CHECK(heapprof_read(fk.mem, fk.len, 0, 0, &hp) == -ENOENT);
	CHECK(heapprof_read(fk.mem, fk.len, AREA_OFF + 64, 4096, &hp) == -EINVAL);
out:
	heapprof_unref(hp);
	free(fk.mem);
}

/* The daemon's own bound: stacks past HEAPPROF_MAX_BYTES go into [other],
 * so a copy of the most stacks an agent may have stays bounded; 4096
 * full stacks fit whole. */
static void test_bound(void)
{
	struct fake fk;
	struct heapprof *hp = NULL;
	uint64_t f[PROF_MAX_FRAMES];

	for (unsigned k = 0; k < PROF_MAX_FRAMES; k++)
		f[k] = 0x400000 + k;
	REQUIRE(fake_init(&fk, PROF_STACKS_MAX, 4) == 0);
	for (uint32_t i = 1; i < PROF_STACKS_MAX; i++)
		fake_add(&fk, f, PROF_MAX_FRAMES, 100, 1, 100, 1);
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	CHECK_U64(hp->bytes, <=, HEAPPROF_MAX_BYTES);
	CHECK_U64(hp->daemon_folded, >, 0);
	CHECK_U64(hp->nstacks + hp->daemon_folded, ==, PROF_STACKS_MAX);
	/* Nothing is lost: [other] holds what was folded. */
	CHECK_U64(hp->stacks[0].inuse_bytes, ==, 100 * hp->daemon_folded);
	heapprof_unref(hp);
	hp = NULL;
	fk.h->stacks_used = PROF_STACKS_DEFAULT;
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	CHECK_U64(hp->nstacks, ==, PROF_STACKS_DEFAULT);
	CHECK_U64(hp->daemon_folded, ==, 0);
	printf("test_bound: a copy of %u full stacks holds %zu bytes\n", PROF_STACKS_DEFAULT,
	    hp->bytes);
out:
	heapprof_unref(hp);
	free(fk.mem);
}

/* The site of `function` in the sites array, or NULL. */
static json_t *site_named(json_t *sites, const char *function)
{
	size_t i;
	json_t *s;

	json_array_foreach(sites, i, s) {
		const char *f = json_string_value(json_object_get(s, "function"));

		if (f != NULL && strcmp(f, function) == 0)
			return s;
	}
	return NULL;
}

static int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The sites JSON of g, parsed; NULL when it fails or does not parse. */
static json_t *sites_of(const struct got *g, unsigned top, enum sites_order order)
{
	char *body = NULL;
	size_t len;
	json_t *j;
	json_error_t je;

	if (sites_json(&g->pp, &g->set, top, order, &body, &len) < 0)
		return NULL;
	j = json_loads(body, 0, &je);
	if (j == NULL)
		fprintf(stderr, "sites JSON: %s: %s\n", je.text, body);
	free(body);
	return j;
}

/* /sites: merged, ranked, shares, frames symbolized against this
 * program; [other]; a raw address with its mapping. */
static void test_sites_json(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	json_t *j = NULL, *sites, *s, *fr;

	REQUIRE(setup(&fk, &g, a, b) == 0);
	REQUIRE((j = sites_of(&g, 20, SITES_INUSE)) != NULL);
	CHECK(jint(j, "pid") == getpid());
	CHECK(jint(j, "rate") == 524288);
	CHECK(jint(j, "samples") == 99);
	CHECK(jint(j, "folded") == 7);
	CHECK_STR(json_string_value(json_object_get(j, "order")), "inuse");
	CHECK(json_is_false(json_object_get(j, "exited")));
	CHECK(jint(json_object_get(j, "total"), "inuse_bytes") == 4 * MiB + 512 * 1024 + 4096);
	CHECK(jint(json_object_get(j, "total"), "inuse_objects") == 3 + 1024 + 8 + 1);
	sites = json_object_get(j, "sites");
	/* The two alpha stacks read the same: one site. */
	CHECK_U64(json_array_size(sites), ==, 4);
	s = json_array_get(sites, 0);
	CHECK_STR(json_string_value(json_object_get(s, "function")), "hp_site_alpha");
	/* As DWARF has it: relative with gcc, absolute with clang. */
	CHECK(json_string_value(json_object_get(s, "file")) != NULL &&
	    strstr(json_string_value(json_object_get(s, "file")), "tests/unit/test_heapprof.c") != NULL);
	CHECK(jint(s, "line") > 0);
	CHECK(jint(s, "inuse_bytes") == 3 * MiB);
	CHECK(jint(s, "inuse_objects") == 3);
	CHECK(fabs(json_real_value(json_object_get(s, "share")) -
	    3.0 * MiB / (4 * MiB + 512 * 1024 + 4096)) < 1e-5);
	fr = json_object_get(s, "frames");
	CHECK_U64(json_array_size(fr), ==, 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(fr, 1), "function")), "hp_outer");
	CHECK(strstr(json_string_value(json_object_get(json_array_get(fr, 0), "mapping")),
	    "test_heapprof") != NULL);
	CHECK(json_string_length(json_object_get(json_array_get(fr, 0), "build_id")) == 40);
	s = json_array_get(sites, 1);
	CHECK_STR(json_string_value(json_object_get(s, "function")), "hp_site_beta");
	CHECK(jint(s, "alloc_bytes") == 8 * MiB);
	CHECK(jint(s, "alloc_objects") == 8192);
	s = site_named(sites, "[other]");
	CHECK(s != NULL && json_array_size(json_object_get(s, "frames")) == 0);
	CHECK(s != NULL && jint(s, "inuse_objects") == 8);
	/* The file that cannot be read: the raw address and its mapping. */
	s = json_array_get(sites, 3);
	CHECK(json_is_null(json_object_get(s, "function")));
	CHECK(json_is_null(json_object_get(s, "file")));
	CHECK(jint(s, "line") == 0);
	fr = json_array_get(json_object_get(s, "frames"), 0);
	CHECK_STR(json_string_value(json_object_get(fr, "address")), "0x10000500");
	CHECK_STR(json_string_value(json_object_get(fr, "mapping")), "/nonexistent/libgone.so");
	CHECK_STR(json_string_value(json_object_get(fr, "build_id")), "0102");
out:
	json_decref(j);
	got_free(&g);
	free(fk.mem);
}

/* order=alloc ranks by allocated bytes; top cuts. */
static void test_sites_order_top(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	json_t *j = NULL, *s;

	REQUIRE(setup(&fk, &g, a, b) == 0);
	REQUIRE((j = sites_of(&g, 1, SITES_ALLOC)) != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "order")), "alloc");
	CHECK_U64(json_array_size(json_object_get(j, "sites")), ==, 1);
	s = json_array_get(json_object_get(j, "sites"), 0);
	CHECK_STR(json_string_value(json_object_get(s, "function")), "hp_site_beta");
	CHECK(fabs(json_real_value(json_object_get(s, "share")) -
	    8.0 * MiB / (11 * MiB + 4096)) < 1e-5);
out:
	json_decref(j);
	got_free(&g);
	free(fk.mem);
}

/* The leaf functions of the site series. */
static void test_top_leaves(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	struct sites_leaf lv[8];
	int n;

	REQUIRE(setup(&fk, &g, a, b) == 0);
	n = sites_top_leaves(&g.pp, &g.set, lv, 8);
	CHECK(n == 4);
	REQUIRE(n >= 4);
	CHECK_STR(lv[0].name, "hp_site_alpha");
	CHECK_U64(lv[0].inuse_bytes, ==, 3 * MiB);
	CHECK_STR(lv[1].name, "hp_site_beta");
	CHECK_STR(lv[2].name, "[other]");
	CHECK_STR(lv[3].name, "0x10000500");
	CHECK(sites_top_leaves(&g.pp, &g.set, lv, 2) == 2);
out:
	got_free(&g);
	free(fk.mem);
}

/* Symbols are kept: a second set finds every address in the cache, and
 * the process being gone (pid 0: by path) changes nothing. */
static void test_symbols_kept(void)
{
	struct fake fk;
	struct got g;
	struct profsym_set again;
	uint64_t a[2], b[2];
	size_t mem;

	memset(&again, 0, sizeof(again));
	REQUIRE(setup(&fk, &g, a, b) == 0);
	mem = profsym_memory(g.pp.syms);
	CHECK(sym_cache_files(g.sc) >= 1);
	REQUIRE(profsym_set_build(g.pp.syms, g.sc, 0, g.pp.hp, 0, &again) == 0);
	CHECK_U64(profsym_memory(g.pp.syms), ==, mem);
	CHECK_U64(again.n, ==, g.set.n);
	CHECK(profsym_set_find(&again, a[0]) != NULL &&
	    strcmp(profsym_set_find(&again, a[0])->frames[0].function, "hp_site_alpha") == 0);
out:
	profsym_set_free(&again);
	got_free(&g);
	free(fk.mem);
}

/* The symbol cache is bounded: 8192 stacks of 64 distinct addresses
 * (more than PROFSYM_MAX_ADDRS) keep at most that many. */
static void test_symbols_bounded(void)
{
	struct fake fk;
	struct heapprof *hp = NULL;
	struct profsym *ps = profsym_new();
	struct sym_cache *sc = sym_cache_new(0);
	struct profsym_set set;
	uint64_t f[PROF_MAX_FRAMES];
	size_t kept = 0;

	memset(&set, 0, sizeof(set));
	REQUIRE(ps != NULL && sc != NULL && fake_init(&fk, 8192, 4) == 0);
	for (uint32_t i = 1; i < 8192; i++) {
		for (unsigned k = 0; k < PROF_MAX_FRAMES; k++)
			f[k] = 0x10000000ull + ((uint64_t)i * PROF_MAX_FRAMES + k) * 16;
		fake_add(&fk, f, PROF_MAX_FRAMES, 100, 1, 100, 1);
	}
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	REQUIRE(profsym_set_build(ps, sc, 0, hp, 0, &set) == 0);
	CHECK_U64(set.n, ==, 8191 * PROF_MAX_FRAMES);
	for (size_t i = 0; i < set.n; i++)
		kept += set.v[i].map == -1 && set.v[i].nframes == 0;
	CHECK_U64(kept, ==, set.n);
	CHECK_U64(profsym_memory(ps), <, 16u << 20);
	printf("test_symbols_bounded: %zu addresses, the cache holds %zu bytes\n", set.n,
	    profsym_memory(ps));
out:
	profsym_set_free(&set);
	profsym_unref(ps);
	sym_cache_free(sc);
	heapprof_unref(hp);
	free(fk.mem);
}

/* Writes len bytes to path; 0 or -1. */
static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The pprof profile: go tool pprof reads it and shows the functions with
 * their in-use bytes. */
static void test_pprof_go(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	unsigned char *gz = NULL;
	size_t len;
	char dir[] = "/tmp/memprobe-heapprof.XXXXXX", path[128], cmd[1024];
	char *out = calloc(1, 1 << 16);
	FILE *f = NULL;

	REQUIRE(out != NULL);
	REQUIRE(setup(&fk, &g, a, b) == 0);
	REQUIRE(heappprof_build(&g.pp, &g.set, 1700000000000000000ll, &gz, &len) == 0);
	CHECK(len > 20 && gz[0] == 0x1f && gz[1] == 0x8b);
	if (system("command -v go >/dev/null 2>&1") != 0) {
		printf("test_pprof_go: go not on PATH; skipped (Debian golang-go)\n");
		goto out;
	}
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/heap.pb.gz", dir);
	REQUIRE(write_file(path, gz, len) == 0);
	snprintf(cmd, sizeof(cmd), "HOME=%s GOCACHE=%s/cache GOFLAGS= PPROF_TMPDIR=%s timeout 120 "
	    "go tool pprof -top -unit=B -sample_index=inuse_space %s >%s/top.txt 2>&1 && "
	    "HOME=%s GOCACHE=%s/cache PPROF_TMPDIR=%s timeout 120 go tool pprof -raw %s >>%s/top.txt 2>&1",
	    dir, dir, dir, path, dir, dir, dir, dir, path, dir);
	CHECK(system(cmd) == 0);
	snprintf(path, sizeof(path), "%s/top.txt", dir);
	f = fopen(path, "r");
	REQUIRE(f != NULL);
	out[fread(out, 1, (1 << 16) - 1, f)] = '\0';
	/* -top: flat bytes per function. */
	CHECK(strstr(out, "3145728B") != NULL && strstr(out, "hp_site_alpha") != NULL);
	CHECK(strstr(out, "1048576B") != NULL && strstr(out, "hp_site_beta") != NULL);
	CHECK(strstr(out, "524288B") != NULL && strstr(out, "[other]") != NULL);
	/* -raw: the types in Go's order, the period, the mappings. */
	CHECK(strstr(out, "alloc_objects/count alloc_space/bytes inuse_objects/count "
	    "inuse_space/bytes") != NULL);
	CHECK(strstr(out, "Period: 524288") != NULL);
	CHECK(strstr(out, "/nonexistent/libgone.so") != NULL);
	CHECK(strstr(out, "test_heapprof.c") != NULL);
	if (strstr(out, "hp_site_alpha") == NULL)
		fprintf(stderr, "go tool pprof said:\n%s\n", out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
out:
	if (f != NULL)
		fclose(f);
	free(out);
	free(gz);
	got_free(&g);
	free(fk.mem);
}

int main(void)
{
	RUN_TEST(test_copy);
	RUN_TEST(test_bound);
	RUN_TEST(test_sites_json);
	RUN_TEST(test_sites_order_top);
	RUN_TEST(test_top_leaves);
	RUN_TEST(test_symbols_kept);
	RUN_TEST(test_symbols_bounded);
	RUN_TEST(test_pprof_go);
	return HARNESS_EXIT();
}
