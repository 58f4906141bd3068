/* test_symbolize.c: maps parsing, and addresses of this very program and of libc symbolized with elfutils. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "maps.h"
#include "symbolize.h"

/* Functions to find by address: not inlined, not merged, with a line of
 * their own in this file. */
__attribute__((noinline)) int sym_target_a(int x);
__attribute__((noinline)) int sym_target_b(int x);

__attribute__((noinline)) int sym_target_a(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

__attribute__((noinline)) int sym_target_b(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 5 + 2;
}

/* An inlined function between two real ones: sym_leaf() records its
 * return address, which lies in sym_inner()'s code inside sym_outer(). */
void sym_leaf(void);
void sym_outer(void);
static uint64_t leaf_return;
static unsigned inner_line, outer_line;

__attribute__((noinline)) void sym_leaf(void)
{
	leaf_return = (uint64_t)(uintptr_t)__builtin_return_address(0);
	__asm__ volatile("");
}

static inline __attribute__((always_inline)) void sym_inner(void)
{
	inner_line = __LINE__, sym_leaf();
	__asm__ volatile("");
}

__attribute__((noinline)) void sym_outer(void)
{
	outer_line = __LINE__, sym_inner();
	__asm__ volatile("");
}

static uint64_t fn_addr(int (*fn)(int))
{
	return (uint64_t)(uintptr_t)fn;
}

/* Whether path ends with name after a '/'. */
static int ends_with(const char *path, const char *name)
{
	size_t pl = path ? strlen(path) : 0, nl = strlen(name);

	return pl > nl && path[pl - nl - 1] == '/' && strcmp(path + pl - nl, name) == 0;
}

static void parse_odd_paths(void)
{
	static const char text[] =
	    "55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234    /usr/bin/prog\n"
	    "55d0c0a02000-55d0c0a05000 r-xp 00002000 fd:01 1234    /usr/bin/prog\n"
	    "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0       [heap]\n"
	    "7f0000000000-7f0000001000 r-xp 00001000 fd:01 77      /tmp/my dir/lib two.so\n"
	    "7f0000010000-7f0000011000 r-xp 00000000 fd:01 78      /tmp/gone (deleted)\n"
	    "7f0000020000-7f0000021000 r-xp 00000000 00:00 0 \n"
	    "7ffd0a1f0000-7ffd0a1f2000 r-xp 00000000 00:00 0       [vdso]\n"
	    "7f0000030000-7f0000031000 r-xp 00000000 fd:01 79      /tmp/a (deleted) b";
	struct maps m;

	REQUIRE(maps_parse(text, &m) == 0);
	REQUIRE(m.n == 4);
	CHECK_STR(m.v[0].path, "/usr/bin/prog");
	CHECK_U64(m.v[0].start, ==, 0x55d0c0a02000ull);
	CHECK_U64(m.v[0].end, ==, 0x55d0c0a05000ull);
	CHECK_U64(m.v[0].offset, ==, 0x2000);
	CHECK_U64(m.v[0].inode, ==, 1234);
	CHECK(!m.v[0].deleted);
	CHECK_STR(m.v[1].path, "/tmp/my dir/lib two.so");
	CHECK_U64(m.v[1].offset, ==, 0x1000);
	CHECK_STR(m.v[2].path, "/tmp/gone");
	CHECK(m.v[2].deleted);
	CHECK_STR(m.v[3].path, "/tmp/a (deleted) b");
	CHECK(!m.v[3].deleted);
	CHECK(maps_find(&m, 0x55d0c0a02000ull) == &m.v[0]);
	CHECK(maps_find(&m, 0x55d0c0a04fffull) == &m.v[0]);
	CHECK(maps_find(&m, 0x55d0c0a05000ull) == NULL);
	CHECK(maps_find(&m, 0x7f0000010800ull) == &m.v[2]);
	CHECK(maps_find(&m, 0x10) == NULL);
	maps_free(&m);
	/* Malformed lines are refused, not half-read. */
	CHECK(maps_parse("7f00-zz r-xp 0 fd:01 1 /x\n", &m) == -EINVAL);
	maps_free(&m);
	CHECK(maps_parse("7f00-7e00 r-xp 0 fd:01 1 /x\n", &m) == -EINVAL);
	maps_free(&m);
	CHECK(maps_parse("", &m) == 0 && m.n == 0);
out:
	maps_free(&m);
}

/* More executable mappings than MAPS_MAX_ENTRIES: the rest are counted. */
static void parse_bounded(void)
{
	size_t cap = (MAPS_MAX_ENTRIES + 10) * 64, len = 0;
	char *t = malloc(cap);
	struct maps m = { 0 };

	REQUIRE(t != NULL);
	for (int i = 0; i < MAPS_MAX_ENTRIES + 10; i++)
		len += (size_t)snprintf(t + len, cap - len, "%x000-%x000 r-xp 0 fd:01 %d /lib/l%d.so\n",
		    0x10 + 2 * i, 0x11 + 2 * i, i, i);
	REQUIRE(maps_parse(t, &m) == 0);
	CHECK_U64(m.n, ==, MAPS_MAX_ENTRIES);
	CHECK_U64(m.dropped, ==, 10);
out:
	maps_free(&m);
	free(t);
}

/* Symbolizes n addresses of this process with a new cache. */
static int resolve_self(struct sym_cache *c, const uint64_t *addrs, size_t n,
    struct sym_result *out, struct maps *m)
{
	int rc = maps_read(getpid(), m);

	return rc < 0 ? rc : sym_resolve(c, getpid(), m, NULL, NULL, addrs, n, out);
}

static void own_functions(void)
{
	struct sym_cache *c = sym_cache_new(0);
	uint64_t addrs[2] = { fn_addr(sym_target_a), fn_addr(sym_target_b) + 4 };
	struct sym_result r[2];
	struct maps m = { 0 };
	const struct sym_frame *fa, *fb;

	REQUIRE(c != NULL);
	REQUIRE(resolve_self(c, addrs, 2, r, &m) == 0);
	CHECK(r[0].status == SYM_OK);
	CHECK(r[1].status == SYM_OK);
	REQUIRE(r[0].nframes >= 1 && r[1].nframes >= 1);
	fa = &r[0].frames[r[0].nframes - 1];
	fb = &r[1].frames[r[1].nframes - 1];
	CHECK_STR(fa->function, "sym_target_a");
	CHECK_STR(fb->function, "sym_target_b");
	CHECK(ends_with(fa->file, "test_symbolize.c"));
	CHECK(ends_with(fb->file, "test_symbolize.c"));
	/* The functions' lines in this file, 21-25 and 27-31. */
	CHECK(fa->line >= 21 && fa->line <= 25);
	CHECK(fb->line >= 27 && fb->line <= 31);
	CHECK(r[0].map != NULL && r[0].build_id_len == 20);
	CHECK_U64(sym_cache_files(c), ==, 1);
	for (int i = 0; i < 2; i++)
		sym_result_clear(&r[i]);
out:
	maps_free(&m);
	sym_cache_free(c);
}

/* An address in inlined code: the inlined function first, at its line,
 * then its caller at the line of the inlined call. */
static void inlined_frames(void)
{
	struct sym_cache *c = sym_cache_new(0);
	struct sym_result r = { 0 };
	struct maps m = { 0 };
	uint64_t addr;

	sym_outer();
	addr = leaf_return - 1;
	REQUIRE(c != NULL);
	REQUIRE(resolve_self(c, &addr, 1, &r, &m) == 0);
	CHECK(r.status == SYM_OK);
	REQUIRE(r.nframes == 2);
	CHECK_STR(r.frames[0].function, "sym_inner");
	CHECK_U64(r.frames[0].line, ==, inner_line);
	CHECK(ends_with(r.frames[0].file, "test_symbolize.c"));
	CHECK_STR(r.frames[1].function, "sym_outer");
	CHECK_U64(r.frames[1].line, ==, outer_line);
	CHECK(ends_with(r.frames[1].file, "test_symbolize.c"));
out:
	sym_result_clear(&r);
	maps_free(&m);
	sym_cache_free(c);
}

/* A libc function, found through libc itself (a sanitizer may intercept
 * the name in this program). */
static void libc_function(void)
{
	struct sym_cache *c = sym_cache_new(0);
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *fn = h != NULL ? dlsym(h, "qsort") : NULL;
	uint64_t addr = (uint64_t)(uintptr_t)fn;
	struct sym_result r;
	struct maps m = { 0 };

	REQUIRE(c != NULL && fn != NULL);
	REQUIRE(resolve_self(c, &addr, 1, &r, &m) == 0);
	CHECK(r.status == SYM_OK);
	CHECK(r.map != NULL && strstr(r.map->path, "libc.so.6") != NULL);
	REQUIRE(r.nframes >= 1);
	CHECK_STR(r.frames[r.nframes - 1].function, "qsort");
	/* file:line only when libc's debug info is installed (libc6-dbg). */
	printf("# qsort: %s:%u, %zu frame(s)\n", r.frames[0].file ? r.frames[0].file : "?",
	    r.frames[0].line, r.nframes);
	sym_result_clear(&r);
out:
	if (h != NULL)
		dlclose(h);
	maps_free(&m);
	sym_cache_free(c);
}

static void unknown_addresses(void)
{
	struct sym_cache *c = sym_cache_new(0);
	static const char text[] =
	    "7f0000000000-7f0000001000 r-xp 00000000 fd:01 77 /nonexistent/libgone.so\n"
	    "7f0000010000-7f0000011000 r-xp 00000000 fd:01 78 /etc/hostname\n";
	uint64_t addrs[3] = { 0x10, 0x7f0000000123ull, 0x7f0000010010ull };
	struct sym_result r[3];
	struct maps m = { 0 };

	REQUIRE(c != NULL);
	REQUIRE(maps_parse(text, &m) == 0);
	/* pid 0 has no /proc entry: map_files fails, the path is tried. */
	REQUIRE(sym_resolve(c, 0, &m, NULL, NULL, addrs, 3, r) == 0);
	CHECK(r[0].status == SYM_NO_MAPPING && r[0].map == NULL && r[0].elf_addr == 0x10);
	CHECK(r[1].status == SYM_NO_FILE && r[1].map == &m.v[0]);
	CHECK_U64(r[1].elf_addr, ==, 0x123);
	CHECK(r[2].status == SYM_NOT_ELF && r[2].map == &m.v[1]);
	CHECK(r[0].nframes == 0 && r[1].nframes == 0 && r[2].nframes == 0);
	CHECK_U64(sym_cache_files(c), ==, 0);
	CHECK_STR(sym_status_name(r[1].status), "file unreadable");
	for (int i = 0; i < 3; i++)
		sym_result_clear(&r[i]);
out:
	maps_free(&m);
	sym_cache_free(c);
}

/* An expected build-id that differs from the file's: refused. */
static void build_id_mismatch(void)
{
	struct sym_cache *c = sym_cache_new(0);
	uint64_t addr = fn_addr(sym_target_a);
	struct maps m = { 0 };
	const struct maps_entry *e;
	unsigned char wrong[20] = { 1, 2, 3 };
	const unsigned char **ids = NULL;
	size_t *lens = NULL;
	struct sym_result r;

	REQUIRE(c != NULL && maps_read(getpid(), &m) == 0);
	REQUIRE((e = maps_find(&m, addr)) != NULL);
	ids = calloc(m.n, sizeof(*ids));
	lens = calloc(m.n, sizeof(*lens));
	REQUIRE(ids != NULL && lens != NULL);
	ids[e - m.v] = wrong;
	lens[e - m.v] = sizeof(wrong);
	REQUIRE(sym_resolve(c, getpid(), &m, ids, lens, &addr, 1, &r) == 0);
	CHECK(r.status == SYM_BUILD_ID_MISMATCH);
	CHECK(r.nframes == 0 && r.build_id_len == 20);
	sym_result_clear(&r);
out:
	free(ids);
	free(lens);
	maps_free(&m);
	sym_cache_free(c);
}

/* The cache keeps at most its bound; an evicted file is read again. */
static void cache_bound(void)
{
	struct sym_cache *c = sym_cache_new(1);
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	uint64_t addrs[3] = { fn_addr(sym_target_a), (uint64_t)(uintptr_t)dlsym(h, "qsort"),
	    fn_addr(sym_target_b) };
	struct sym_result r[3];
	struct maps m = { 0 };

	REQUIRE(c != NULL && h != NULL);
	REQUIRE(resolve_self(c, addrs, 3, r, &m) == 0);
	CHECK(r[0].status == SYM_OK && r[1].status == SYM_OK && r[2].status == SYM_OK);
	CHECK(r[2].nframes >= 1 && r[2].frames[r[2].nframes - 1].function != NULL &&
	    strcmp(r[2].frames[r[2].nframes - 1].function, "sym_target_b") == 0);
	CHECK_U64(sym_cache_files(c), ==, 1);
	for (int i = 0; i < 3; i++)
		sym_result_clear(&r[i]);
out:
	if (h != NULL)
		dlclose(h);
	maps_free(&m);
	sym_cache_free(c);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a check: the cost of 1000 addresses with a cold and a warm cache. */
static void measure(void)
{
	enum { N = 1000 };
	struct sym_cache *c = sym_cache_new(0);
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	uint64_t base[4] = { fn_addr(sym_target_a), fn_addr(sym_target_b),
	    (uint64_t)(uintptr_t)dlsym(h, "qsort"), (uint64_t)(uintptr_t)dlsym(h, "malloc") };
	uint64_t *addrs = malloc(N * sizeof(*addrs));
	struct sym_result *r = malloc(N * sizeof(*r));
	struct maps m = { 0 };
	double t0, t1, t2;
	int ok = 0;

	REQUIRE(c != NULL && h != NULL && addrs != NULL && r != NULL);
	for (int i = 0; i < N; i++)
		addrs[i] = base[i % 4] + (uint64_t)(i / 4 % 4);
	REQUIRE(maps_read(getpid(), &m) == 0);
	t0 = now();
	REQUIRE(sym_resolve(c, getpid(), &m, NULL, NULL, addrs, N, r) == 0);
	t1 = now();
	for (int i = 0; i < N; i++)
		sym_result_clear(&r[i]);
	REQUIRE(sym_resolve(c, getpid(), &m, NULL, NULL, addrs, N, r) == 0);
	t2 = now();
	for (int i = 0; i < N; i++) {
		ok += r[i].status == SYM_OK;
		sym_result_clear(&r[i]);
	}
	CHECK(ok == N);
	printf("# symbolize %d addresses in 2 files: cold %.2f ms, cached %.2f ms\n",
	    N, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
out:
	if (h != NULL)
		dlclose(h);
	free(addrs);
	free(r);
	maps_free(&m);
	sym_cache_free(c);
}

/* Copies this program to dir/copy. Returns 0 or -1. */
static int copy_self(const char *to)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	ssize_t n = 0;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		n = -1;
	return in >= 0 && out >= 0 && n == 0 ? 0 : -1;
}

/* Starts path --wait with pipes for its stdin and stdout; returns its pid
 * once it runs, or -1. *hold is the write end of its stdin. */
static pid_t start_waiting(const char *path, int *hold)
{
	int in[2], outp[2];
	char c;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		execl(path, path, "--wait", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	*hold = in[1];
	if (pid > 0 && read(outp[0], &c, 1) != 1)
		pid = -1;
	close(outp[0]);
	return pid;
}

/* The address in mapping set m of path at the file offset that own
 * address addr has in this process (same file, another process). */
static uint64_t same_offset(const struct maps *self, const struct maps *m, const char *path,
    uint64_t addr)
{
	const struct maps_entry *e = maps_find(self, addr);
	uint64_t off;

	if (e == NULL)
		return 0;
	off = addr - e->start + e->offset;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].path, path) == 0 && off >= m->v[i].offset &&
		    off - m->v[i].offset < m->v[i].end - m->v[i].start)
			return m->v[i].start + (off - m->v[i].offset);
	return 0;
}

/* A binary deleted after its start is read through /proc/PID/map_files. */
static void deleted_binary(void)
{
	char dir[] = "/tmp/memprobe-sym-XXXXXX", path[64];
	struct sym_cache *c = sym_cache_new(0);
	struct maps self = { 0 }, m = { 0 };
	struct sym_result r = { 0 };
	int hold = -1;
	pid_t pid = -1;
	uint64_t addr;

	if (geteuid() != 0) {
		printf("# deleted_binary: skipped: /proc/PID/map_files needs root\n");
		sym_cache_free(c);
		return;
	}
	REQUIRE(c != NULL && mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/copy", dir);
	REQUIRE(copy_self(path) == 0);
	pid = start_waiting(path, &hold);
	unlink(path);
	rmdir(dir);
	REQUIRE(pid > 0);
	REQUIRE(maps_read(getpid(), &self) == 0 && maps_read(pid, &m) == 0);
	addr = same_offset(&self, &m, path, fn_addr(sym_target_b));
	REQUIRE(addr != 0);
	REQUIRE(maps_find(&m, addr)->deleted);
	REQUIRE(sym_resolve(c, pid, &m, NULL, NULL, &addr, 1, &r) == 0);
	CHECK(r.status == SYM_OK);
	REQUIRE(r.nframes >= 1);
	CHECK_STR(r.frames[r.nframes - 1].function, "sym_target_b");
	sym_result_clear(&r);
	/* Once the process is gone its file is too: the raw address stays. */
	close(hold);
	hold = -1;
	waitpid(pid, NULL, 0);
	pid = -1;
	sym_cache_free(c);
	c = sym_cache_new(0);
	REQUIRE(c != NULL);
	REQUIRE(sym_resolve(c, pid, &m, NULL, NULL, &addr, 1, &r) == 0);
	CHECK(r.status == SYM_NO_FILE && r.map != NULL && r.nframes == 0);
	sym_result_clear(&r);
out:
	if (hold >= 0)
		close(hold);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	maps_free(&self);
	maps_free(&m);
	sym_cache_free(c);
}

int main(int argc, char **argv)
{
	char c;

	/* The copy deleted_binary() starts: says it runs, waits for EOF. */
	if (argc == 2 && strcmp(argv[1], "--wait") == 0) {
		if (write(1, "r", 1) != 1)
			return 1;
		while (read(0, &c, 1) > 0)
			;
		return sym_target_a(0) == 1 ? 0 : 1;
	}
	RUN_TEST(parse_odd_paths);
	RUN_TEST(parse_bounded);
	RUN_TEST(own_functions);
	RUN_TEST(inlined_frames);
	RUN_TEST(libc_function);
	RUN_TEST(unknown_addresses);
	RUN_TEST(build_id_mismatch);
	RUN_TEST(cache_bound);
	RUN_TEST(deleted_binary);
	RUN_TEST(measure);
	return HARNESS_EXIT();
}
