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

static int fake_init_py(struct fake *fk, uint32_t max_stacks, uint32_t max_maps,
    uint32_t max_pyfuncs)
{
	uint64_t area = profile_area_size(max_stacks, max_maps, max_pyfuncs);

	memset(fk, 0, sizeof(*fk));
	fk->len = AREA_OFF + area;
	fk->mem = calloc(1, fk->len);
	if (fk->mem == NULL)
		return -ENOMEM;
	fk->h = (struct prof_hdr *)(void *)(fk->mem + AREA_OFF);
	profile_init(fk->h, 524288, max_stacks, max_maps, max_pyfuncs);
	return 0;
}

static int fake_init(struct fake *fk, uint32_t max_stacks, uint32_t max_maps)
{
	return fake_init_py(fk, max_stacks, max_maps, 0);
}

/* Writes Python function i (ready), and counts it as claimed. */
static void fake_pyfunc(struct fake *fk, uint32_t i, const char *name, const char *file,
    int32_t first_line)
{
	struct prof_pyfunc *f = (struct prof_pyfunc *)(void *)((unsigned char *)fk->h +
	    fk->h->pyfunc_off + (size_t)i * fk->h->pyfunc_size);

	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->file, sizeof(f->file), "%s", file);
	f->first_line = first_line;
	f->state = PROF_READY;
	if ((int64_t)i >= fk->h->pyfuncs_used)
		fk->h->pyfuncs_used = i + 1;
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

/* A profile filled by fill, copied and symbolized: 0 or -1. */
static int setup_with(int (*fill)(struct fake *, uint64_t *, uint64_t *), struct fake *fk,
    struct got *g, uint64_t *alpha, uint64_t *beta)
{
	memset(g, 0, sizeof(*g));
	memset(fk, 0, sizeof(*fk));
	if (fill(fk, alpha, beta) < 0)
		return -1;
	return got_build(g, fk, getpid());
}

/* The test profile, copied and symbolized: 0 or -1. */
static int setup(struct fake *fk, struct got *g, uint64_t *alpha, uint64_t *beta)
{
	return setup_with(fake_profile, fk, g, alpha, beta);
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

/* ---- Python frames ---- */

#define PY(func, line) PROF_PY_MAKE(func, line)
enum { PF_LOAD = 1, PF_LISTCOMP, PF_MODULE, PF_CACHE, PF_ROWS_MODULE, PF_LOAD_AGAIN, PF_WRITING };

/*
 * A Python program's profile, as the agent writes it: stacks leaf first
 * with the Python frames where the interpreter's frame that ran them was
 * (hp_site_* stands for PyObject_Malloc, hp_outer for the interpreter
 * below them). build_cache holds 64 MiB; load_rows's list comprehension
 * 16 MiB in two stacks that read the same (load_rows's code object seen
 * twice); rows.py's <module> 1 MiB; a stack of unknown functions (out of
 * the table's range, one not ready) 512 KiB; a native stack 256 KiB.
 */
static int fake_py_profile(struct fake *fk, uint64_t *alpha, uint64_t *beta)
{
	struct prof_pyfunc *half;

	if (fake_init_py(fk, 64, 64, 16) < 0 || fake_self_maps(fk) < 0)
		return -1;
	hp_outer(alpha, 0);
	hp_outer(beta, 1);
	fake_pyfunc(fk, PF_LOAD, "load_rows", "/srv/app/rows.py", 10);
	fake_pyfunc(fk, PF_LISTCOMP, "load_rows.<locals>.<listcomp>", "/srv/app/rows.py", 12);
	fake_pyfunc(fk, PF_MODULE, "<module>", "/srv/app/main.py", 1);
	fake_pyfunc(fk, PF_CACHE, "build_cache", "/srv/app/cache.py", 5);
	fake_pyfunc(fk, PF_ROWS_MODULE, "<module>", "/srv/app/rows.py", 1);
	fake_pyfunc(fk, PF_LOAD_AGAIN, "load_rows", "/srv/app/rows.py", 10);
	fake_pyfunc(fk, PF_WRITING, "half", "/srv/app/half.py", 1);
	half = (struct prof_pyfunc *)(void *)((unsigned char *)fk->h + fk->h->pyfunc_off +
	    (size_t)PF_WRITING * fk->h->pyfunc_size);
	half->state = PROF_WRITING;
	{
		uint64_t cache[] = { beta[0], PY(PF_CACHE, 8), PY(PF_MODULE, 31), beta[1] };
		uint64_t rows[] = { alpha[0], PY(PF_LISTCOMP, 12), PY(PF_LOAD, 12), PY(PF_MODULE, 30),
			alpha[1] };
		uint64_t again[] = { alpha[0], PY(PF_LISTCOMP, 12), PY(PF_LOAD_AGAIN, 12),
			PY(PF_MODULE, 30), alpha[1] };
		uint64_t module[] = { alpha[0], PY(PF_ROWS_MODULE, 3), PY(PF_MODULE, 2), alpha[1] };
		uint64_t unknown[] = { beta[0], PY(999, 7), PY(PF_WRITING, 4), beta[1] };

		fake_add(fk, cache, 4, 64 * MiB, 16384, 64 * MiB, 16384);
		fake_add(fk, rows, 5, 12 * MiB, 3000, 12 * MiB, 3000);
		fake_add(fk, again, 5, 4 * MiB, 1000, 4 * MiB, 1000);
		fake_add(fk, module, 4, 1 * MiB, 100, 1 * MiB, 100);
		fake_add(fk, unknown, 4, 512 * 1024, 10, 512 * 1024, 10);
		fake_add(fk, alpha, 2, 256 * 1024, 1, 256 * 1024, 1);
	}
	fk->h->samples = 200;
	fk->h->py_samples = 180;
	fk->h->pyfuncs_dropped = 3;
	return 0;
}

static int py_setup(struct fake *fk, struct got *g, uint64_t *alpha, uint64_t *beta)
{
	return setup_with(fake_py_profile, fk, g, alpha, beta);
}

/* The copy keeps the Python functions: equal strings once, unknown ones
 * (function 0, out of range, not ready) as "[python]". */
static void test_py_copy(void)
{
	struct fake fk;
	uint64_t a[2], b[2];
	struct heapprof *hp = NULL;
	const struct heapprof_pyfunc *f;

	REQUIRE(fake_py_profile(&fk, a, b) == 0);
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	CHECK_U64(hp->npyfuncs, ==, PF_WRITING + 1);
	CHECK(hp->py_samples == 180 && hp->pyfuncs_dropped == 3);
	f = heapprof_pyfunc(hp, PY(PF_LISTCOMP, 12));
	CHECK_STR(f->name, "load_rows.<locals>.<listcomp>");
	CHECK_STR(f->file, "/srv/app/rows.py");
	CHECK(f->first_line == 12);
	/* One string for one text: the module's file, the name seen twice. */
	CHECK(f->file == heapprof_pyfunc(hp, PY(PF_LOAD, 1))->file);
	CHECK(heapprof_pyfunc(hp, PY(PF_LOAD, 1))->name == heapprof_pyfunc(hp, PY(PF_LOAD_AGAIN, 1))->name);
	CHECK(heapprof_pyfunc(hp, PY(999, 7)) == &hp->unknown);
	CHECK_STR(hp->unknown.name, HEAPPROF_PY_UNKNOWN);
	CHECK_STR(hp->unknown.file, "");
	CHECK_STR(heapprof_pyfunc(hp, PY(PF_WRITING, 4))->name, HEAPPROF_PY_UNKNOWN);
	CHECK_STR(heapprof_pyfunc(hp, PY(0, 4))->name, HEAPPROF_PY_UNKNOWN);
	/* Frames are kept as the agent wrote them. */
	CHECK_U64(heapprof_frames(hp, 1)[1], ==, PY(PF_CACHE, 8));
out:
	heapprof_unref(hp);
	free(fk.mem);
}

/* The most Python functions an agent may claim, each with names of the
 * longest: the copy stays within its bound, the rest read as [python]. */
static void test_py_bound(void)
{
	struct fake fk;
	struct heapprof *hp = NULL;
	char name[PROF_PYNAME_MAX], file[PROF_PATH_MAX];
	uint32_t kept = 0;

	REQUIRE(fake_init_py(&fk, 4, 4, PROF_STACKS_MAX) == 0);
	memset(name, 'n', sizeof(name) - 1);
	memset(file, 'f', sizeof(file) - 1);
	name[sizeof(name) - 1] = file[sizeof(file) - 1] = '\0';
	for (uint32_t i = 1; i < PROF_STACKS_MAX; i++) {
		char digits[16];

		/* Distinct names and files of the longest. */
		snprintf(digits, sizeof(digits), "%015u", i);
		memcpy(name, digits, 15);
		memcpy(file, digits, 15);
		fake_pyfunc(&fk, i, name, file, 1);
	}
	REQUIRE(heapprof_read(fk.mem, fk.len, AREA_OFF, fk.len - AREA_OFF, &hp) == 0);
	CHECK_U64(hp->bytes, <=, HEAPPROF_MAX_BYTES);
	CHECK_U64(hp->npyfuncs, ==, PROF_STACKS_MAX);
	for (uint32_t i = 1; i < hp->npyfuncs; i++)
		kept += hp->pyfuncs[i].name != hp->unknown.name;
	CHECK_U64(kept, >, 10000);
	CHECK_U64(kept, <, PROF_STACKS_MAX - 1);
	CHECK_U64(strlen(hp->pyfuncs[1].name), ==, PROF_PYNAME_MAX - 1);
	CHECK_U64(strlen(hp->pyfuncs[1].file), ==, PROF_PATH_MAX - 1);
	CHECK_STR(hp->pyfuncs[PROF_STACKS_MAX - 1].name, HEAPPROF_PY_UNKNOWN);
	printf("test_py_bound: %u of %u functions of the longest names kept in %zu bytes\n", kept,
	    PROF_STACKS_MAX - 1, hp->bytes);
out:
	heapprof_unref(hp);
	free(fk.mem);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "(not a string)";
}

/* Frame k of site s. */
static json_t *frame_at(json_t *s, size_t k)
{
	return json_array_get(json_object_get(s, "frames"), k);
}

/* A Python frame of the JSON: its kind, no address, no mapping. */
static int is_py_frame(json_t *f, const char *function, const char *file, int64_t line)
{
	return strcmp(jstr(f, "kind"), "python") == 0 && json_is_null(json_object_get(f, "address")) &&
	    json_is_null(json_object_get(f, "mapping")) && json_is_null(json_object_get(f, "build_id")) &&
	    strcmp(jstr(f, "function"), function) == 0 &&
	    (file != NULL ? strcmp(jstr(f, "file"), file) == 0 : json_is_null(json_object_get(f, "file"))) &&
	    jint(f, "line") == line;
}

/* /sites of a Python program: each site named by its innermost Python
 * frame, "python" set, frames with their kind; stacks that read the
 * same merged; the header's Python counts. */
static void test_py_sites(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	json_t *j = NULL, *sites, *s, *py;

	REQUIRE(py_setup(&fk, &g, a, b) == 0);
	REQUIRE((j = sites_of(&g, 20, SITES_INUSE)) != NULL);
	CHECK(jint(j, "py_samples") == 180 && jint(j, "pyfuncs_dropped") == 3);
	sites = json_object_get(j, "sites");
	/* [other] (empty) and five sites: the two load_rows stacks are one. */
	CHECK_U64(json_array_size(sites), ==, 6);
	s = json_array_get(sites, 0);
	CHECK_STR(jstr(s, "function"), "build_cache");
	CHECK_STR(jstr(s, "file"), "/srv/app/cache.py");
	CHECK(jint(s, "line") == 8 && jint(s, "inuse_bytes") == 64 * MiB);
	py = json_object_get(s, "python");
	CHECK(json_is_object(py) && strcmp(jstr(py, "function"), "build_cache") == 0 &&
	    strcmp(jstr(py, "file"), "/srv/app/cache.py") == 0 && jint(py, "line") == 8);
	CHECK_U64(json_array_size(json_object_get(s, "frames")), ==, 4);
	CHECK_STR(jstr(frame_at(s, 0), "kind"), "native");
	CHECK_STR(jstr(frame_at(s, 0), "function"), "hp_site_beta");
	CHECK(strncmp(jstr(frame_at(s, 0), "address"), "0x", 2) == 0);
	CHECK(is_py_frame(frame_at(s, 1), "build_cache", "/srv/app/cache.py", 8));
	CHECK(is_py_frame(frame_at(s, 2), "<module>", "/srv/app/main.py", 31));
	CHECK_STR(jstr(frame_at(s, 3), "function"), "hp_outer");
	CHECK_STR(jstr(frame_at(s, 3), "kind"), "native");
	s = json_array_get(sites, 1);
	CHECK_STR(jstr(s, "function"), "load_rows.<locals>.<listcomp>");
	CHECK(jint(s, "line") == 12 && jint(s, "inuse_bytes") == 16 * MiB && jint(s, "inuse_objects") == 4000);
	CHECK(is_py_frame(frame_at(s, 2), "load_rows", "/srv/app/rows.py", 12));
	s = json_array_get(sites, 2);
	CHECK_STR(jstr(s, "function"), "<module>");
	CHECK_STR(jstr(s, "file"), "/srv/app/rows.py");
	CHECK(jint(s, "line") == 3);
	/* Unknown functions: [python], no file, the line kept. */
	s = json_array_get(sites, 3);
	CHECK_STR(jstr(s, "function"), "[python]");
	CHECK(json_is_null(json_object_get(s, "file")) && jint(s, "line") == 7);
	CHECK(is_py_frame(frame_at(s, 1), "[python]", NULL, 7));
	CHECK(is_py_frame(frame_at(s, 2), "[python]", NULL, 4));
	/* A stack without Python frames: as ever, "python" null. */
	s = json_array_get(sites, 4);
	CHECK_STR(jstr(s, "function"), "hp_site_alpha");
	CHECK(json_is_null(json_object_get(s, "python")));
	CHECK_STR(jstr(frame_at(s, 0), "kind"), "native");
	s = json_array_get(sites, 5);
	CHECK_STR(jstr(s, "function"), "[other]");
	CHECK(json_is_null(json_object_get(s, "python")));
out:
	json_decref(j);
	got_free(&g);
	free(fk.mem);
}

/* The site series of a Python program: its functions with their file's
 * base name, from a set of leaves only (as a scrape builds it). */
static void test_py_top_leaves(void)
{
	struct fake fk;
	struct got g;
	struct profsym_set leaves;
	uint64_t a[2], b[2];
	struct sites_leaf lv[8];
	int n;

	memset(&leaves, 0, sizeof(leaves));
	REQUIRE(py_setup(&fk, &g, a, b) == 0);
	REQUIRE(profsym_set_build(g.pp.syms, g.sc, getpid(), g.pp.hp, 1, &leaves) == 0);
	/* Each stack's leaf and innermost Python frame: two leaves, four
	 * distinct Python frames. */
	CHECK_U64(leaves.n, ==, 6);
	n = sites_top_leaves(&g.pp, &leaves, lv, 8);
	CHECK(n == 6);
	REQUIRE(n == 6);
	CHECK_STR(lv[0].name, "build_cache (cache.py)");
	CHECK_U64(lv[0].inuse_bytes, ==, 64 * MiB);
	CHECK_STR(lv[1].name, "load_rows.<locals>.<listcomp> (rows.py)");
	CHECK_U64(lv[1].inuse_bytes, ==, 16 * MiB);
	CHECK_STR(lv[2].name, "<module> (rows.py)");
	CHECK_STR(lv[3].name, "[python]");
	CHECK_STR(lv[4].name, "hp_site_alpha");
	CHECK_STR(lv[5].name, "[other]");
out:
	profsym_set_free(&leaves);
	got_free(&g);
	free(fk.mem);
}

/* Runs go tool pprof ARGS on the profile of g, its output into out (size
 * bytes). Returns 0, 1 when go is not installed, -1 on failure. */
static int go_pprof(const struct got *g, const char *args, char *out, size_t size)
{
	unsigned char *gz = NULL;
	size_t len;
	char dir[] = "/tmp/memprobe-heapprof.XXXXXX", path[128], cmd[1024];
	FILE *f = NULL;
	int r = -1;

	if (system("command -v go >/dev/null 2>&1") != 0)
		return 1;
	if (heappprof_build(&g->pp, &g->set, 1700000000000000000ll, &gz, &len) < 0 || mkdtemp(dir) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/heap.pb.gz", dir);
	if (write_file(path, gz, len) < 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "HOME=%s GOCACHE=%s/cache GOFLAGS= PPROF_TMPDIR=%s timeout 120 "
	    "go tool pprof %s %s >%s/out.txt 2>&1", dir, dir, dir, args, path, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "go tool pprof %s failed\n", args);
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	if ((f = fopen(path, "r")) != NULL) {
		out[fread(out, 1, size - 1, f)] = '\0';
		fclose(f);
		r = 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = -1;
out:
	free(gz);
	return r;
}

/* The line of text holding every one of the strings, or NULL. */
static const char *line_with(const char *text, const char *a, const char *b)
{
	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strcspn(p, "\n");
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
			return p;
	}
	return NULL;
}

/* The pprof of a Python program, read by go tool pprof: Python functions
 * by name with their flat bytes, by file:line, in traces with their
 * native frames. */
static void test_py_pprof_go(void)
{
	struct fake fk;
	struct got g;
	uint64_t a[2], b[2];
	size_t size = 1 << 16;
	char *out = calloc(1, size);
	int r;

	REQUIRE(out != NULL);
	REQUIRE(py_setup(&fk, &g, a, b) == 0);
	r = go_pprof(&g, "-top -unit=B -sample_index=inuse_space -nodecount=100", out, size);
	if (r == 1) {
		printf("test_py_pprof_go: go not on PATH; skipped (Debian golang-go)\n");
		goto out;
	}
	REQUIRE(r == 0);
	/* Flat: what each function's frame held as the innermost; cum:
	 * with its callees. hp_site_* is the allocator's caller here. */
	CHECK(line_with(out, " build_cache", "67108864B") != NULL);
	CHECK(line_with(out, " load_rows.<locals>.<listcomp>", "16777216B") != NULL);
	CHECK(line_with(out, " load_rows", NULL) != NULL);
	CHECK(line_with(out, " [python]", "524288B") != NULL);
	/* Not taken for a C++ name whose template parameters pprof cuts. */
	CHECK(line_with(out, " <module>", "84934656B") != NULL);
	if (harness_failures)
		fprintf(stderr, "go tool pprof -top:\n%s\n", out);
	REQUIRE(go_pprof(&g, "-top -lines -unit=B -sample_index=inuse_space -nodecount=100", out, size) == 0);
	CHECK(line_with(out, "build_cache /srv/app/cache.py:8", NULL) != NULL);
	CHECK(line_with(out, "load_rows.<locals>.<listcomp> /srv/app/rows.py:12", NULL) != NULL);
	CHECK(line_with(out, "<module> /srv/app/main.py:30", NULL) != NULL);
	CHECK(line_with(out, "<module> /srv/app/main.py:31", NULL) != NULL);
	CHECK(line_with(out, "<module> /srv/app/rows.py:3", NULL) != NULL);
	if (harness_failures)
		fprintf(stderr, "go tool pprof -top -lines:\n%s\n", out);
	REQUIRE(go_pprof(&g, "-traces -sample_index=inuse_space", out, size) == 0);
	/* A trace reads leaf first: the native frame, then the Python ones. */
	CHECK(strstr(out, "hp_site_beta\n") != NULL);
	CHECK(strstr(out, "build_cache\n") != NULL && strstr(out, "<module>\n") != NULL);
	CHECK(strstr(out, "load_rows.<locals>.<listcomp>\n") != NULL);
	if (harness_failures)
		fprintf(stderr, "go tool pprof -traces:\n%s\n", out);
	REQUIRE(go_pprof(&g, "-raw", out, size) == 0);
	/* Python locations: no address, no mapping, the function's first line. */
	CHECK(strstr(out, ": 0x0 build_cache /srv/app/cache.py:8 s=5") != NULL);
	CHECK(strstr(out, ": 0x0 <module> /srv/app/main.py:31 s=1") != NULL);
	if (harness_failures)
		fprintf(stderr, "go tool pprof -raw:\n%s\n", out);
out:
	free(out);
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
	RUN_TEST(test_py_copy);
	RUN_TEST(test_py_bound);
	RUN_TEST(test_py_sites);
	RUN_TEST(test_py_top_leaves);
	RUN_TEST(test_py_pprof_go);
	return HARNESS_EXIT();
}
