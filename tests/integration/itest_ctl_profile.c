/* itest_ctl_profile.c: memprobectl top, profile and run --profile against the real daemon and agent, read back by `go tool pprof`. */
#include "harness.h"
#include "itest_util.h"

#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * site_hold holds 8 MiB in blocks of 1 KiB, all allocated in hold_blocks.
 * Sampled at one per 16 KiB on average, that is about 512 samples: the
 * estimate's relative error is about 1/sqrt(512), 4.4%, so +-15% is more
 * than three of it. glibc's usable size of a 1 KiB block is 1032 B, which
 * the upper bound allows for.
 */
#define BLOCKS      8192
#define BLOCK_SIZE  1024
#define RATE        "16384"
#define HELD        ((double)BLOCKS * BLOCK_SIZE)
#define EST_LO      (HELD * 0.85)
#define EST_HI      (HELD * 1.15 * 1032 / 1024)
#define NO_PID      "2147483646"
#define OUT_MAX     65536

static char ctl_path[PATH_MAX + 16];
static char prog_path[PATH_MAX + 32];
static char go_path[PATH_MAX];
static char work_dir[64];
static char err_path[PATH_MAX];

/* What one run of memprobectl or pprof gave. */
struct result {
	int status;             /* exit status, or -1 when it did not exit */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

/* Runs ARGV (ARGV[0] a path; NULL-terminated) with the environment
 * additions ENV (NULL-terminated, or NULL) to its end into *R. */
static void run(struct result *r, char *const argv[], char *const env[])
{
	int st = it_run(argv, env, err_path, r->out, sizeof(r->out));

	it_slurp(err_path, r->err, sizeof(r->err));
	r->status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void dump(const char *what, const struct result *r)
{
	fprintf(stderr, "  %s: status %d\n  stdout:\n%s\n  stderr:\n%s\n", what, r->status,
	    r->out, r->err);
}

/* The line after the one that starts with HEADER in TEXT, into LINE. Returns 1 if found. */
static int row_after(const char *text, const char *header, char *line, size_t size)
{
	const char *p = text, *end;

	for (; p != NULL && *p != '\0'; p = end != NULL ? end + 1 : NULL) {
		const char *q = p;

		end = strchr(p, '\n');
		while (*q == ' ')
			q++;
		if (strncmp(q, header, strlen(header)) != 0 || end == NULL)
			continue;
		p = end + 1;
		end = strchr(p, '\n');
		snprintf(line, size, "%.*s", (int)(end != NULL ? end - p : (long)strlen(p)), p);
		return 1;
	}
	return 0;
}

/* The N-th (from 0) blank-separated word of LINE into WORD ("" when there
 * are fewer). Returns WORD. */
static char *word(const char *line, int n, char *w, size_t size)
{
	for (int i = 0;; i++) {
		size_t len;

		line += strspn(line, " ");
		len = strcspn(line, " ");
		if (len == 0 || i == n) {
			snprintf(w, size, "%.*s", (int)len, line);
			return w;
		}
		line += len;
	}
}

/* The line of TEXT whose last word is NAME, into LINE. Returns 1 if found. */
static int row_named(const char *text, const char *name, char *line, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = text, *end; *p != '\0'; p = end + 1) {
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && p[end - p - n - 1] == ' ' &&
		    strncmp(end - n, name, n) == 0) {
			snprintf(line, size, "%.*s", (int)(end - p), p);
			return 1;
		}
		if (*end == '\0')
			break;
	}
	return 0;
}

/*
 * `go tool pprof -top` of FILE, its sizes in bytes: it reads the file as
 * a heap profile, and hold_blocks, with what it called (the allocator, if
 * the profile keeps its frames), holds an in-use estimate within the
 * bounds.
 */
static void check_pprof(char *file)
{
	static struct result r;
	char gocache[PATH_MAX], row[512], w[64];
	char *argv[] = { go_path, "tool", "pprof", "-top", "-unit=B",
		"-sample_index=inuse_space", file, NULL };
	double cum;

	snprintf(gocache, sizeof(gocache), "GOCACHE=%s/gocache", work_dir);
	run(&r, argv, (char *[]){ gocache, NULL });
	CHECK(r.status == 0);
	CHECK(strstr(r.out, "Type: inuse_space") != NULL);
	CHECK(row_named(r.out, "hold_blocks", row, sizeof(row)));
	/* flat flat% sum% cum cum% name */
	cum = strtod(word(row, 3, w, sizeof(w)), NULL);
	CHECK_U64(cum, >=, EST_LO);
	CHECK_U64(cum, <=, EST_HI);
	if (harness_failures)
		dump("go tool pprof -top", &r);
}

/* The first 2 bytes of PATH are gzip's. */
static int is_gzip_file(const char *path)
{
	unsigned char magic[2] = { 0, 0 };
	FILE *f = fopen(path, "rb");
	int ok = f != NULL && fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;

	if (f != NULL)
		fclose(f);
	return ok;
}

/* Files in DIR whose name starts with PREFIX (the temporary files of an
 * atomic write left behind). */
static int files_starting(const char *dir, const char *prefix)
{
	char cmd[PATH_MAX + 128], out[4096];

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^%s' || true", dir, prefix);
	if (it_shell(cmd, out, sizeof(out)) < 0)
		return -1;
	return atoi(out);
}

static int setup(struct it_daemon *d)
{
	snprintf(ctl_path, sizeof(ctl_path), "%s/memprobectl", itest.build);
	snprintf(prog_path, sizeof(prog_path), "%s/tests/progs/site_hold", itest.build);
	if (it_which("go", go_path, sizeof(go_path)) < 0) {
		fprintf(stderr, "  go (Debian golang-go) is not on PATH: tests/deps.sh installs it\n");
		return -1;
	}
	if (it_tmpdir(work_dir, sizeof(work_dir)) < 0)
		return -1;
	snprintf(err_path, sizeof(err_path), "%s/stderr", work_dir);
	return it_daemon_start(d, 60);
}

static void teardown(struct it_daemon *d)
{
	CHECK(it_daemon_finish(d, harness_failures) == 0);
	if (work_dir[0] != '\0')
		it_rmtree(work_dir);
	work_dir[0] = '\0';
}

/*
 * run --profile: site_hold ends with its 8 MiB still held; the profile
 * written when it exits has them at hold_blocks, as pprof reads it.
 */
static void ctl_run_profile(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	static struct result r;
	char file[PATH_MAX], nb[16], sz[16], expect[PATH_MAX + 64];
	long pid;

	REQUIRE(setup(&d) == 0);
	snprintf(file, sizeof(file), "%s/site_hold.pb.gz", work_dir);
	snprintf(nb, sizeof(nb), "%d", BLOCKS);
	snprintf(sz, sizeof(sz), "%d", BLOCK_SIZE);
	/* The rate reaches the agent through memprobectl's environment. */
	run(&r, (char *[]){ ctl_path, "--url", d.url, "run", "--socket", d.sock, "--profile", file,
	    "--", prog_path, nb, sz, NULL }, (char *[]){ "MEMPROBE_PROFILE_RATE=" RATE, NULL });
	CHECK(r.status == 0);
	REQUIRE(strncmp(r.out, "ready ", 6) == 0);
	pid = strtol(r.out + 6, NULL, 10);
	snprintf(expect, sizeof(expect), "heap profile of pid %ld written to %s (", pid, file);
	CHECK(strstr(r.err, expect) != NULL);
	CHECK(is_gzip_file(file));
	CHECK(files_starting(work_dir, ".site_hold.pb.gz.") == 0);
	if (harness_failures)
		dump("memprobectl run --profile", &r);
	check_pprof(file);

	/* A status other than 0 is CMD's still, profile or not. */
	run(&r, (char *[]){ ctl_path, "--url", d.url, "run", "--socket", d.sock, "--profile", file,
	    "--", "sh", "-c", "exit 5", NULL }, (char *[]){ "MEMPROBE_PROFILE_RATE=" RATE, NULL });
	CHECK(r.status == 5);
	if (harness_failures)
		dump("memprobectl run --profile -- sh -c 'exit 5'", &r);
out:
	teardown(&d);
}

struct sites_wait {
	const char *url;
	long pid;
};

/* The daemon's sites for the program add up to the blocks it holds. */
static int sites_ready(void *arg)
{
	struct sites_wait *w = arg;
	struct it_http h = { 0 };
	char path[96];
	json_t *j = NULL;
	double v = 0;
	int ok;

	snprintf(path, sizeof(path), "/api/v1/processes/%ld/sites?top=5", w->pid);
	ok = it_get(w->url, path, &h) == 0 && h.status == 200 &&
	    (j = json_loads(h.body, 0, NULL)) != NULL &&
	    it_json_num(j, "total.inuse_bytes", &v) && v >= EST_LO;
	json_decref(j);
	it_http_free(&h);
	return ok;
}

/*
 * top and profile on a live process: hold_blocks is the first site, with
 * its bytes, objects and share; -n and --alloc; an unknown pid is exit 1
 * and no file.
 */
static void ctl_top_live(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_proc p = { .in_fd = -1, .out_fd = -1 };
	static struct result r;
	char storage[2 * PATH_MAX + 64], nb[16], sz[16], line[128], pidtext[32];
	char file[PATH_MAX], row[512], w[64];
	char *env[6] = { NULL };
	struct sites_wait sw;
	double v;

	REQUIRE(setup(&d) == 0);
	snprintf(nb, sizeof(nb), "%d", BLOCKS);
	snprintf(sz, sizeof(sz), "%d", BLOCK_SIZE);
	it_agent_env(env, storage, d.sock);
	env[3] = "MEMPROBE_PROFILE_RATE=" RATE;
	REQUIRE(it_proc_start(&p, (char *[]){ prog_path, nb, sz, NULL }, env, NULL) == 0);
	REQUIRE(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	REQUIRE(strncmp(line, "ready ", 6) == 0);
	sw = (struct sites_wait){ d.url, strtol(line + 6, NULL, 10) };
	snprintf(pidtext, sizeof(pidtext), "%ld", sw.pid);
	if (!it_wait_until(sites_ready, &sw, IT_TIMEOUT_MS)) {
		run(&r, (char *[]){ ctl_path, "--url", d.url, "--json", "top", pidtext, NULL }, NULL);
		dump("memprobectl --json top (the sites never added up to the blocks held)", &r);
		REQUIRE(!"the daemon's sites add up to the blocks held");
	}

	/* --bytes: FUNCTION FILE:LINE IN-USE OBJECTS SHARE, hold_blocks first. */
	run(&r, (char *[]){ ctl_path, "--url", d.url, "--bytes", "top", pidtext, NULL }, NULL);
	CHECK(r.status == 0);
	CHECK(strstr(r.out, "site_hold (pid ") != NULL);
	CHECK(strstr(r.out, "samples, one per 16384 B allocated on average") != NULL);
	REQUIRE(row_after(r.out, "FUNCTION", row, sizeof(row)));
	CHECK_STR(word(row, 0, w, sizeof(w)), "hold_blocks");
	CHECK(strstr(word(row, 1, w, sizeof(w)), "site_hold.c:") != NULL);
	v = strtod(word(row, 2, w, sizeof(w)), NULL);
	CHECK_U64(v, >=, EST_LO);
	CHECK_U64(v, <=, EST_HI);
	v = strtod(word(row, 3, w, sizeof(w)), NULL);
	CHECK_U64(v, >=, BLOCKS * 0.85);
	CHECK_U64(v, <=, BLOCKS * 1.15);
	/* Everything else the program holds is a few KiB. */
	v = strtod(word(row, 4, w, sizeof(w)), NULL);
	CHECK_U64(v, >=, 90);
	if (harness_failures)
		dump("memprobectl top", &r);

	/* -n 1 --alloc: one row, of allocated bytes (the same blocks). */
	run(&r, (char *[]){ ctl_path, "--url", d.url, "top", pidtext, "-n", "1", "--alloc", NULL },
	    NULL);
	CHECK(r.status == 0);
	CHECK(strstr(r.out, "ALLOCATED  OBJECTS  SHARE\nhold_blocks ") != NULL);
	CHECK(strstr(r.out, "FUNCTION") != NULL && it_count_lines(strstr(r.out, "FUNCTION")) == 2);

	/* profile -o FILE of the live process. */
	snprintf(file, sizeof(file), "%s/live.pb.gz", work_dir);
	run(&r, (char *[]){ ctl_path, "--url", d.url, "profile", pidtext, "-o", file, NULL }, NULL);
	CHECK(r.status == 0);
	CHECK(r.err[0] == '\0');
	check_pprof(file);

	/* No profile: exit 1, the daemon's words, and no file. */
	snprintf(file, sizeof(file), "%s/none.pb.gz", work_dir);
	run(&r, (char *[]){ ctl_path, "--url", d.url, "profile", NO_PID, "-o", file, NULL }, NULL);
	CHECK(r.status == 1);
	CHECK(strstr(r.err, "profile: no profile for " NO_PID ": ") != NULL);
	CHECK(access(file, F_OK) < 0 && files_starting(work_dir, ".none.pb.gz.") == 0);
	run(&r, (char *[]){ ctl_path, "--url", d.url, "top", NO_PID, NULL }, NULL);
	CHECK(r.status == 1);
	CHECK(strstr(r.err, "top: no profile for " NO_PID ": ") != NULL);
	CHECK(it_count_lines(r.err) == 1);
	if (harness_failures)
		dump("memprobectl top (no such pid)", &r);
out:
	it_proc_kill(&p);
	teardown(&d);
}

int itest_ctl_profile_run(void)
{
	if (it_selected("ctl_run_profile"))
		RUN_TEST(ctl_run_profile);
	if (it_selected("ctl_top_live"))
		RUN_TEST(ctl_top_live);
	return harness_failed_tests;
}
