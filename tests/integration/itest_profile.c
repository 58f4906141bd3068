/* itest_profile.c: heap profiles through the real daemon: a hand-built agent's profile area served as pprof (go tool pprof reads it) and as sites JSON, kept after the process exits; hostile areas clamped. */
#include "harness.h"
#include "itest_util.h"
#include "profile.h"
#include "proto.h"
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define SITE_SERIES "memprobe_heap_site_inuse_bytes"

/* Call sites for the profile: each records the return address of a call
 * it makes, which lies in it; this program's own code, so the daemon
 * symbolizes it from this very file. */
void prof_grab(uint64_t *out);
void prof_site_one(uint64_t *f);
void prof_site_two(uint64_t *f);
void prof_outer(uint64_t *f, int which);

__attribute__((noinline)) void prof_grab(uint64_t *out)
{
	*out = (uint64_t)(uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void prof_site_one(uint64_t *f)
{
	prof_grab(&f[0]);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void prof_site_two(uint64_t *f)
{
	prof_grab(&f[0]);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void prof_outer(uint64_t *f, int which)
{
	if (which == 0)
		prof_site_one(f);
	else
		prof_site_two(f);
	prof_grab(&f[1]);
	__asm__ volatile("" ::: "memory");
}

/* ---- a profile area written by hand ---- */

static struct prof_stack *area_stack(struct prof_hdr *h, uint32_t i)
{
	return (struct prof_stack *)(void *)((char *)h + h->stack_off + (size_t)i * h->stack_size);
}

static struct prof_map *area_map(struct prof_hdr *h, uint32_t i)
{
	return (struct prof_map *)(void *)((char *)h + h->map_off + (size_t)i * h->map_size);
}

static void area_add(struct prof_hdr *h, const uint64_t *frames, uint32_t n, int64_t inuse,
    int64_t inuse_objs, int64_t alloc, int64_t alloc_objs)
{
	struct prof_stack *s = area_stack(h, (uint32_t)h->stacks_used++);

	s->nframes = n;
	memcpy(s->frames, frames, (n < PROF_MAX_FRAMES ? n : PROF_MAX_FRAMES) * sizeof(*frames));
	s->inuse_bytes = inuse;
	s->inuse_objects = inuse_objs * PROF_OBJ_ONE;
	s->alloc_bytes = alloc;
	s->alloc_objects = alloc_objs * PROF_OBJ_ONE;
	s->state = PROF_READY;
}

/* This program's executable mappings, as the agent records them (no
 * build-ids: the unit test checks those). */
static void area_self_maps(struct prof_hdr *h)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long start, end, off;
		char perm[8], path[4096] = "";
		struct prof_map *m;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &start, &end, perm, &off,
		    path) < 4 || perm[2] != 'x' || path[0] != '/' || (uint64_t)h->maps_used >= h->max_maps)
			continue;
		m = area_map(h, (uint32_t)h->maps_used++);
		m->start = start;
		m->end = end;
		m->offset = off;
		snprintf(m->path, sizeof(m->path), "%s", path);
		m->state = PROF_READY;
	}
	if (f != NULL)
		fclose(f);
}

/* The good profile: prof_site_one holds 3 MiB in 3 objects, prof_site_two
 * 1 MiB in 1024 objects after allocating 8 MiB, [other] 512 KiB. */
static void fill_good(struct prof_hdr *h)
{
	uint64_t one[2], two[2];

	area_self_maps(h);
	prof_outer(one, 0);
	prof_outer(two, 1);
	area_add(h, one, 2, 3 * MiB, 3, 3 * MiB, 3);
	area_add(h, two, 2, 1 * MiB, 1024, 8 * MiB, 8192);
	area_stack(h, 0)->inuse_bytes = 512 * 1024;
	area_stack(h, 0)->inuse_objects = 8 * PROF_OBJ_ONE;
	h->samples = 40;
}

/* An agent's worst: more stacks claimed than there are, a stack of 1000
 * frames, negative counters, a path without its NUL, a mapping that ends
 * before it starts. */
static void fill_hostile(struct prof_hdr *h)
{
	uint64_t raw[PROF_MAX_FRAMES];
	struct prof_map *m;

	for (unsigned k = 0; k < PROF_MAX_FRAMES; k++)
		raw[k] = 0x1000 + 16 * k;
	area_add(h, raw, PROF_MAX_FRAMES, 4096, 1, 4096, 1);
	area_stack(h, 1)->nframes = 1000;
	area_add(h, raw, 1, -5, -1, INT64_MIN, INT64_MIN / PROF_OBJ_ONE);
	m = area_map(h, 0);
	memset(m->path, 'A', sizeof(m->path));
	m->start = 0x1000;
	m->end = 0x2000;
	m->state = PROF_READY;
	m = area_map(h, 1);
	m->start = 0x9000;
	m->end = 0x8000;
	snprintf(m->path, sizeof(m->path), "/backwards");
	m->state = PROF_READY;
	h->maps_used = 2;
	h->stacks_used = 1ll << 40;
	h->samples = -7;
}

/* ---- a Python program's profile ---- */

#define PY(func, line) PROF_PY_MAKE(func, line)
enum { PF_CACHE = 1, PF_LOAD, PF_MODULE };

static void area_pyfunc(struct prof_hdr *h, uint32_t i, const char *name, const char *file,
    int32_t first_line)
{
	struct prof_pyfunc *f = (struct prof_pyfunc *)(void *)((char *)h + h->pyfunc_off +
	    (size_t)i * h->pyfunc_size);

	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->file, sizeof(f->file), "%s", file);
	f->first_line = first_line;
	f->state = PROF_READY;
	if ((int64_t)i >= h->pyfuncs_used)
		h->pyfuncs_used = i + 1;
}

/* A Python program as the C agent sees it: build_cache (cache.py:8)
 * holds 6 MiB and load_rows (rows.py:12) 2 MiB, both called from
 * main.py's <module>; prof_site_one and prof_site_two stand for the
 * allocator below them, prof_outer for the interpreter above. */
static void fill_python(struct prof_hdr *h)
{
	uint64_t one[2], two[2];

	area_self_maps(h);
	prof_outer(one, 0);
	prof_outer(two, 1);
	area_pyfunc(h, PF_CACHE, "build_cache", "/srv/app/cache.py", 5);
	area_pyfunc(h, PF_LOAD, "load_rows", "/srv/app/rows.py", 10);
	area_pyfunc(h, PF_MODULE, "<module>", "/srv/app/main.py", 1);
	{
		uint64_t cache[] = { one[0], PY(PF_CACHE, 8), PY(PF_MODULE, 30), one[1] };
		uint64_t rows[] = { two[0], PY(PF_LOAD, 12), PY(PF_MODULE, 31), two[1] };

		area_add(h, cache, 4, 6 * MiB, 1536, 6 * MiB, 1536);
		area_add(h, rows, 4, 2 * MiB, 65536, 2 * MiB, 65536);
	}
	h->samples = 30;
	h->py_samples = 28;
	h->pyfuncs_dropped = 2;
}

/* A profile area that claims to be far larger than its region. */
static void lie_area(struct region_hdr *rh, struct prof_hdr *h)
{
	(void)h;
	rh->prof_size = 1ull << 30;
}

/* A sealed region of 4 slots with a profile area of max_stacks stacks
 * (and max_pyfuncs Python functions) filled by fill (fill NULL: no
 * profile at all); lie may then spoil the headers. Returns the memfd or
 * -1. */
static int region_with_profile(uint32_t max_stacks, uint32_t max_pyfuncs,
    void (*fill)(struct prof_hdr *), void (*lie)(struct region_hdr *, struct prof_hdr *))
{
	uint64_t rsize = region_size_for(4);
	uint64_t asize = fill != NULL ? profile_area_size(max_stacks, 64, max_pyfuncs) : 0;
	int fd = memfd_create("profile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct region_hdr *rh;
	struct prof_hdr *h = NULL;

	if (fd < 0 || ftruncate(fd, (off_t)(rsize + asize)) < 0)
		return -1;
	rh = mmap(NULL, rsize + asize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rh == MAP_FAILED)
		return -1;
	region_hdr_init(rh, PROTO_AGENT_C, 4);
	rh->size = rsize + asize;
	if (fill != NULL) {
		rh->prof_off = rsize;
		rh->prof_size = asize;
		h = (struct prof_hdr *)(void *)((char *)rh + rsize);
		profile_init(h, 524288, max_stacks, 64, max_pyfuncs);
		fill(h);
	}
	if (lie != NULL)
		lie(rh, h);
	munmap(rh, rsize + asize);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -1;
	return fd;
}

/* ---- a process that registers it ---- */

struct fake_agent {
	pid_t pid;
	int hold;                       /* closing it ends the process */
};

/* Forks a process that registers memfd (so the daemon keys it by that
 * process) and lives until fake_agent_end(). Returns 0 or -1. */
static int fake_agent_start(struct fake_agent *a, const char *sock, int memfd)
{
	int ready[2], hold[2];
	struct pollfd p;
	char c = 'n';

	a->pid = -1;
	a->hold = -1;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(hold, O_CLOEXEC) < 0 || (a->pid = fork()) < 0) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	if (a->pid == 0) {
		close(ready[0]);
		close(hold[1]);
		c = it_send_register(sock, memfd, PROTO_AGENT_C) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(hold[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	a->hold = hold[1];
	p.fd = ready[0];
	p.events = POLLIN;
	if (poll(&p, 1, IT_TIMEOUT_MS) != 1 || read(ready[0], &c, 1) != 1)
		c = 'n';
	close(ready[0]);
	return c == 'y' ? 0 : -1;
}

/* Ends the process and reaps it. A later sibling holds a copy of its
 * pipe, so closing ours may not end it: SIGTERM does. */
static void fake_agent_end(struct fake_agent *a)
{
	if (a->hold >= 0)
		close(a->hold);
	if (a->pid > 0) {
		kill(a->pid, SIGTERM);
		waitpid(a->pid, NULL, 0);
	}
	a->hold = -1;
	a->pid = -1;
}

/* ---- requests ---- */

/* GET base + path as JSON with status want; NULL otherwise. */
static json_t *get_json(const char *base, const char *path, long want)
{
	struct it_http r = { 0 };
	json_t *j = NULL;

	if (it_get(base, path, &r) == 0 && r.status == want)
		j = json_loads(r.body, 0, NULL);
	if (j == NULL)
		fprintf(stderr, "  GET %s: status %ld (want %ld): %s\n", path, r.status, want,
		    r.body != NULL ? r.body : "");
	it_http_free(&r);
	return j;
}

struct sites_wait {
	const char *url;
	char path[128];
	int exited;                     /* wait for "exited": true */
};

static int sites_ready(void *arg)
{
	struct sites_wait *w = arg;
	struct it_http r = { 0 };
	json_t *j = NULL;
	int ok = 0;

	if (it_get(w->url, w->path, &r) == 0 && r.status == 200 &&
	    (j = json_loads(r.body, 0, NULL)) != NULL)
		ok = !w->exited || json_is_true(json_object_get(j, "exited"));
	json_decref(j);
	it_http_free(&r);
	return ok;
}

/* Waits until /sites of pid answers 200 (and, with exited, says so). */
static int wait_sites(const char *url, long pid, int exited)
{
	struct sites_wait w = { url, "", exited };

	snprintf(w.path, sizeof(w.path), "/api/v1/processes/%ld/sites", pid);
	return it_wait_until(sites_ready, &w, IT_TIMEOUT_MS);
}

static int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "(none)";
}

/* The sites of the good profile, as /sites must give them. */
static void check_good_sites(const char *url, long pid, int exited)
{
	char path[128];
	json_t *j, *s;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites", pid);
	j = get_json(url, path, 200);
	REQUIRE(j != NULL);
	CHECK(jint(j, "pid") == pid);
	CHECK(json_is_boolean(json_object_get(j, "exited")) &&
	    json_is_true(json_object_get(j, "exited")) == exited);
	CHECK(jint(j, "rate") == 524288);
	CHECK(jint(j, "samples") == 40);
	CHECK(jint(json_object_get(j, "total"), "inuse_bytes") == 4 * MiB + 512 * 1024);
	CHECK_U64(json_array_size(json_object_get(j, "sites")), ==, 3);
	s = json_array_get(json_object_get(j, "sites"), 0);
	CHECK_STR(jstr(s, "function"), "prof_site_one");
	CHECK(strstr(jstr(s, "file"), "itest_profile.c") != NULL);
	CHECK(jint(s, "inuse_bytes") == 3 * MiB && jint(s, "inuse_objects") == 3);
	CHECK_STR(jstr(json_array_get(json_object_get(s, "frames"), 1), "function"), "prof_outer");
	s = json_array_get(json_object_get(j, "sites"), 1);
	CHECK_STR(jstr(s, "function"), "prof_site_two");
	CHECK(jint(s, "alloc_bytes") == 8 * MiB && jint(s, "alloc_objects") == 8192);
	s = json_array_get(json_object_get(j, "sites"), 2);
	CHECK_STR(jstr(s, "function"), "[other]");
	CHECK(json_array_size(json_object_get(s, "frames")) == 0);
out:
	json_decref(j);
}

/* GET the profile of pid, save it in dir, and have go tool pprof -top
 * show inuse_space by function, into out. Returns 0 or -1. */
static int pprof_top(const char *url, long pid, const char *dir, char *out, size_t size)
{
	char path[256], cmd[1024], hdr[128];
	struct it_http r = { 0 };
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/profile", pid);
	if (it_get(url, path, &r) < 0 || r.status != 200) {
		fprintf(stderr, "  GET %s: %ld %s\n", path, r.status, r.body != NULL ? r.body : "");
		it_http_free(&r);
		return -1;
	}
	CHECK(it_http_header(&r, "Content-Type", hdr, sizeof(hdr)) &&
	    strcmp(hdr, "application/octet-stream") == 0);
	snprintf(cmd, sizeof(cmd), "heap-%ld.pb.gz", pid);
	CHECK(it_http_header(&r, "Content-Disposition", hdr, sizeof(hdr)) &&
	    strstr(hdr, cmd) != NULL);
	snprintf(path, sizeof(path), "%s/heap-%ld.pb.gz", dir, pid);
	f = fopen(path, "wb");
	ok = f != NULL && fwrite(r.body, 1, r.len, f) == r.len;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	it_http_free(&r);
	if (!ok)
		return -1;
	snprintf(cmd, sizeof(cmd), "HOME=%s GOCACHE=%s/cache GOFLAGS= PPROF_TMPDIR=%s "
	    "timeout 120 go tool pprof -top -unit=B -sample_index=inuse_space %s 2>&1",
	    dir, dir, dir, path);
	return it_shell(cmd, out, size) == 0 ? 0 : -1;
}

/* Errors of the profile endpoints: JSON with the right status. */
static void check_errors(const char *url, long pid)
{
	static const char *const bad[] = { "top=0", "top=65537", "top=-1", "top=1x", "order=peak" };
	char path[160];
	json_t *j;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?%s", pid, bad[i]);
		j = get_json(url, path, 400);
		CHECK(j != NULL && json_is_string(json_object_get(j, "error")));
		json_decref(j);
	}
	j = get_json(url, "/api/v1/processes/2147483647/profile", 404);
	CHECK(j != NULL && strstr(jstr(j, "error"), "no tracked process") != NULL);
	json_decref(j);
	j = get_json(url, "/api/v1/profile?pid=x", 400);
	CHECK(j != NULL);
	json_decref(j);
	j = get_json(url, "/api/v1/processes/x1/sites", 400);
	CHECK(j != NULL);
	json_decref(j);
}

/* A daemon with three site series, a temporary directory, and a fake
 * agent whose profile area fill wrote, its sites served. */
struct served {
	struct it_daemon d;
	struct fake_agent a;
	char dir[256];
	char *out;                      /* 64 KiB for go tool pprof and promtool */
	int fd;
};

static int served_begin(struct served *sv, uint32_t max_pyfuncs, void (*fill)(struct prof_hdr *))
{
	char *const extra[] = { "--profile-top-sites", "3", NULL };

	memset(sv, 0, sizeof(*sv));
	sv->d.proc.in_fd = sv->d.proc.out_fd = -1;
	sv->a = (struct fake_agent){ -1, -1 };
	sv->fd = -1;
	if ((sv->out = malloc(1 << 16)) == NULL || it_tmpdir(sv->dir, sizeof(sv->dir)) < 0 ||
	    it_daemon_start_args(&sv->d, 60, extra) < 0 ||
	    (sv->fd = region_with_profile(64, max_pyfuncs, fill, NULL)) < 0 ||
	    fake_agent_start(&sv->a, sv->d.sock, sv->fd) < 0 || !wait_sites(sv->d.url, sv->a.pid, 0))
		return -1;
	return 0;
}

static void served_end(struct served *sv)
{
	fake_agent_end(&sv->a);
	if (sv->fd >= 0)
		close(sv->fd);
	if (sv->dir[0] != '\0')
		it_rmtree(sv->dir);
	free(sv->out);
	CHECK(it_daemon_finish(&sv->d, harness_failures) == 0);
}

/*
 * The whole path: a process's profile area, registered; /sites and
 * /profile (read by go tool pprof), /api/v1/profile?pid=, the site
 * series; then the process exits and its profile stays, counted in
 * /api/v1/status and memprobed's own series.
 */
static void profile_served(void)
{
	struct served sv;
	struct it_daemon *d = &sv.d;
	struct fake_agent *a = &sv.a;
	char path[128], *out, *dir;
	struct it_http r = { 0 };
	double v;
	json_t *j = NULL, *s;

	REQUIRE(served_begin(&sv, 0, fill_good) == 0);
	out = sv.out;
	dir = sv.dir;
	check_good_sites(d->url, a->pid, 0);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?order=alloc&top=1", (long)a->pid);
	j = get_json(d->url, path, 200);
	REQUIRE(j != NULL);
	CHECK_STR(jstr(j, "order"), "alloc");
	CHECK_U64(json_array_size(json_object_get(j, "sites")), ==, 1);
	s = json_array_get(json_object_get(j, "sites"), 0);
	CHECK_STR(jstr(s, "function"), "prof_site_two");
	check_errors(d->url, a->pid);
	if (pprof_top(d->url, a->pid, dir, out, 1 << 16) == 0) {
		CHECK(strstr(out, "3145728B") != NULL && strstr(out, "prof_site_one") != NULL);
		CHECK(strstr(out, "1048576B") != NULL && strstr(out, "prof_site_two") != NULL);
		CHECK(strstr(out, "[other]") != NULL);
	} else {
		fprintf(stderr, "  go tool pprof: %s\n", out);
		CHECK(0);
	}
	snprintf(path, sizeof(path), "/api/v1/profile?pid=%ld", (long)a->pid);
	CHECK(it_get(d->url, path, &r) == 0 && r.status == 200 && r.len > 2 &&
	    (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
	it_http_free(&r);
	/* The series of the top leaf functions, and promtool's word on them. */
	snprintf(path, sizeof(path), "%ld", (long)a->pid);
	CHECK(it_get(d->url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric(r.body, SITE_SERIES, "site", "prof_site_one", &v) && v == 3 * MiB);
	CHECK(it_metric(r.body, SITE_SERIES, "site", "[other]", &v) && v == 512 * 1024);
	if (it_which("promtool", out, 256) == 0)
		CHECK(it_promtool_check(dir, r.body, out, 1 << 16) == 0);
	it_http_free(&r);

	/* It exits: the profile stays for the exited TTL. */
	fake_agent_end(a);
	REQUIRE(wait_sites(d->url, atol(path), 1));
	check_good_sites(d->url, atol(path), 1);
	CHECK(pprof_top(d->url, atol(path), dir, out, 1 << 16) == 0 &&
	    strstr(out, "prof_site_one") != NULL);
	json_decref(j);
	j = get_json(d->url, "/api/v1/status", 200);
	REQUIRE(j != NULL);
	CHECK(jint(json_object_get(j, "counts"), "profiles_kept") == 1);
	CHECK(jint(json_object_get(j, "memory"), "profile_bytes") > 0);
	CHECK(it_wait_metric_label(d->url, "memprobe_daemon_profiles_kept", NULL, NULL, 1, 1));
out:
	json_decref(j);
	served_end(&sv);
}

/* A process whose agent keeps no profile (MEMPROBE_PROFILE_RATE=0), and
 * one whose area lies about its size: 404 saying why. */
static void profile_absent(void)
{
	struct fake_agent off = { -1, -1 }, liar = { -1, -1 };
	struct it_daemon d;
	char path[128];
	int fd_off = -1, fd_liar = -1;
	json_t *j;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	fd_off = region_with_profile(0, 0, NULL, NULL);
	fd_liar = region_with_profile(64, 0, fill_good, lie_area);
	REQUIRE(fd_off >= 0 && fd_liar >= 0);
	REQUIRE(fake_agent_start(&off, d.sock, fd_off) == 0);
	REQUIRE(fake_agent_start(&liar, d.sock, fd_liar) == 0);
	REQUIRE(it_wait_seen_pid(d.url, off.pid, "a process without a profile"));
	REQUIRE(it_wait_seen_pid(d.url, liar.pid, "a process with a lying profile"));
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/profile", (long)off.pid);
	j = get_json(d.url, path, 404);
	CHECK(j != NULL && strstr(jstr(j, "error"), "profiling is off") != NULL);
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites", (long)liar.pid);
	j = get_json(d.url, path, 404);
	CHECK(j != NULL && strstr(jstr(j, "error"), "malformed") != NULL);
	json_decref(j);
out:
	fake_agent_end(&off);
	fake_agent_end(&liar);
	if (fd_off >= 0)
		close(fd_off);
	if (fd_liar >= 0)
		close(fd_liar);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* The hostile area: served, clamped, and the daemon stays up. */
static void profile_hostile(void)
{
	struct fake_agent a = { -1, -1 };
	struct it_daemon d;
	struct it_http r = { 0 };
	char path[128];
	int fd = -1;
	json_t *j = NULL, *sites, *s;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	fd = region_with_profile(64, 0, fill_hostile, NULL);
	REQUIRE(fd >= 0);
	REQUIRE(fake_agent_start(&a, d.sock, fd) == 0);
	REQUIRE(wait_sites(d.url, a.pid, 0));
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?order=alloc", (long)a.pid);
	j = get_json(d.url, path, 200);
	REQUIRE(j != NULL);
	CHECK(jint(j, "samples") == 0);
	sites = json_object_get(j, "sites");
	/* [other], the 1000-frame stack (cut to 64) and the negative one (0). */
	CHECK_U64(json_array_size(sites), ==, 3);
	s = json_array_get(sites, 0);
	CHECK(jint(s, "alloc_bytes") == 4096);
	CHECK_U64(json_array_size(json_object_get(s, "frames")), ==, PROF_MAX_FRAMES);
	CHECK(json_is_null(json_object_get(s, "function")));
	CHECK(jint(json_object_get(j, "total"), "alloc_bytes") == 4096);
	CHECK(jint(json_object_get(j, "total"), "inuse_bytes") == 4096);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/profile", (long)a.pid);
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
	it_http_free(&r);
	CHECK(it_get(d.url, "/healthz", &r) == 0 && r.status == 200);
	it_http_free(&r);
out:
	json_decref(j);
	fake_agent_end(&a);
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* A Python frame of /sites: its kind, no address, no mapping. */
static int is_py_frame(json_t *f, const char *function, const char *file, int64_t line)
{
	return strcmp(jstr(f, "kind"), "python") == 0 && json_is_null(json_object_get(f, "address")) &&
	    json_is_null(json_object_get(f, "mapping")) && strcmp(jstr(f, "function"), function) == 0 &&
	    strcmp(jstr(f, "file"), file) == 0 && jint(f, "line") == line;
}

/* The sites of the Python profile: named by their Python functions. */
static void check_python_sites(const char *url, long pid)
{
	char path[128];
	json_t *j, *s, *fr, *py;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites", pid);
	j = get_json(url, path, 200);
	REQUIRE(j != NULL);
	CHECK(jint(j, "py_samples") == 28 && jint(j, "pyfuncs_dropped") == 2);
	CHECK_U64(json_array_size(json_object_get(j, "sites")), ==, 3);
	s = json_array_get(json_object_get(j, "sites"), 0);
	CHECK_STR(jstr(s, "function"), "build_cache");
	CHECK_STR(jstr(s, "file"), "/srv/app/cache.py");
	CHECK(jint(s, "line") == 8 && jint(s, "inuse_bytes") == 6 * MiB);
	py = json_object_get(s, "python");
	CHECK(strcmp(jstr(py, "function"), "build_cache") == 0 && jint(py, "line") == 8);
	fr = json_object_get(s, "frames");
	CHECK_U64(json_array_size(fr), ==, 4);
	/* The allocator's caller, symbolized from this program, is native. */
	CHECK_STR(jstr(json_array_get(fr, 0), "kind"), "native");
	CHECK_STR(jstr(json_array_get(fr, 0), "function"), "prof_site_one");
	CHECK(is_py_frame(json_array_get(fr, 1), "build_cache", "/srv/app/cache.py", 8));
	CHECK(is_py_frame(json_array_get(fr, 2), "<module>", "/srv/app/main.py", 30));
	CHECK_STR(jstr(json_array_get(fr, 3), "function"), "prof_outer");
	s = json_array_get(json_object_get(j, "sites"), 1);
	CHECK_STR(jstr(s, "function"), "load_rows");
	CHECK(jint(s, "line") == 12 && jint(s, "inuse_objects") == 65536);
	s = json_array_get(json_object_get(j, "sites"), 2);
	CHECK_STR(jstr(s, "function"), "[other]");
	CHECK(json_is_null(json_object_get(s, "python")));
out:
	json_decref(j);
}

/*
 * A Python program's profile, as the C agent writes it in a CPython
 * process: /sites names each site by its innermost Python function;
 * go tool pprof lists the Python functions with their file:line; the
 * site series are the Python functions.
 */
static void profile_python(void)
{
	struct served sv;
	struct it_http r = { 0 };
	char *out;
	double v;

	REQUIRE(served_begin(&sv, 16, fill_python) == 0);
	out = sv.out;
	check_python_sites(sv.d.url, sv.a.pid);
	if (pprof_top(sv.d.url, sv.a.pid, sv.dir, out, 1 << 16) == 0) {
		CHECK(strstr(out, "6291456B") != NULL && strstr(out, " build_cache\n") != NULL);
		CHECK(strstr(out, "2097152B") != NULL && strstr(out, " load_rows\n") != NULL);
		CHECK(strstr(out, " <module>\n") != NULL);
	} else {
		CHECK(0);
	}
	if (harness_failures)
		fprintf(stderr, "  go tool pprof: %s\n", out);
	CHECK(it_get(sv.d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric(r.body, SITE_SERIES, "site", "build_cache (cache.py)", &v) && v == 6 * MiB);
	CHECK(it_metric(r.body, SITE_SERIES, "site", "load_rows (rows.py)", &v) && v == 2 * MiB);
	if (it_which("promtool", out, 256) == 0)
		CHECK(it_promtool_check(sv.dir, r.body, out, 1 << 16) == 0);
	it_http_free(&r);
out:
	served_end(&sv);
}

int itest_profile_run(void)
{
	if (it_selected("profile_served"))
		RUN_TEST(profile_served);
	if (it_selected("profile_absent"))
		RUN_TEST(profile_absent);
	if (it_selected("profile_hostile"))
		RUN_TEST(profile_hostile);
	if (it_selected("profile_python"))
		RUN_TEST(profile_python);
	return harness_failed_tests;
}
