/* itest_foreign.c: hostile programs: mappings from signal handlers, foreign allocators below the agent, allocations on foreign stacks. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Each test runs a program of tests/progs with the agent preloaded and no
 * daemon (these are the agent's own figures, read by the program through
 * memprobe_snapshot), and some also without it, to compare. A program that
 * hangs (a deadlock) is killed at RUN_TIMEOUT_MS and fails the test.
 */

#define RUN_TIMEOUT_MS 60000    /* a whole program, under load */
#define OUT_MAX 65536

static char progs[PATH_MAX + 16];   /* BUILD/tests/progs */

/* The allocators to run under: glibc's (no preload) always, the others
 * when their library is installed (tests/deps.sh installs them). */
struct allocator {
	const char *name;
	char path[PATH_MAX + 32];   /* "" for glibc */
	const char *size_source;
};

static struct allocator allocators[] = {
	{ "glibc", "", "glibc_header" },
	{ "jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "usable" },
	{ "tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "usable" },
	{ "bump", "", "requested" },
};
#define NALLOC (sizeof(allocators) / sizeof(allocators[0]))

/*
 * Runs argv (argv[0] absolute) to its end with LD_PRELOAD set to the agent
 * (when agent) followed by lib (when not empty), MEMPROBE_DEBUG=1, stdout
 * in out, stderr in err. Returns the wait status, or -1 when it could not
 * start or did not end within RUN_TIMEOUT_MS (it is killed).
 */
static int run(char *const argv[], int agent, const char *lib, char *out, char *err,
    size_t size)
{
	char preload[2 * PATH_MAX + 32], errpath[PATH_MAX], dir[64] = "";
	char *env[] = { preload, "MEMPROBE_DEBUG=1", "MEMPROBE_SOCKET=/nonexistent/agent.sock",
		NULL };
	struct it_proc p;
	int status = -1;

	out[0] = err[0] = '\0';
	if (it_tmpdir(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s%s%s", agent ? itest.agent : "",
	    agent && lib[0] != '\0' ? ":" : "", lib);
	if (it_proc_start(&p, argv, env, errpath) == 0) {
		it_proc_close_stdin(&p);
		if (it_proc_read_all(&p, out, size, RUN_TIMEOUT_MS) >= 0 &&
		    it_proc_wait(&p, RUN_TIMEOUT_MS) == 0)
			status = p.status;
		else
			fprintf(stderr, "  %s: did not finish within %d ms (a deadlock?)\n", argv[0],
			    RUN_TIMEOUT_MS);
	}
	it_proc_kill(&p);
	it_slurp(errpath, err, size);
	it_rmtree(dir);
	return status;
}

static int exited_ok(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Checks a self-checking program's run: exit 0 and a last line "ok". */
static void check_ok(const char *what, int status, const char *out, const char *err)
{
	size_t n = strlen(out);

	if (exited_ok(status) && n >= 3 && strcmp(out + n - 3, "ok\n") == 0)
		return;
	fprintf(stderr, "  %s: status 0x%x\n  stdout:\n%s\n  stderr:\n%.2000s\n", what, status,
	    out, err);
	CHECK(0);
}

/* Threads map and unmap while SIGUSR1 handlers map and unmap on them, and
 * the main thread forks: no deadlock, and mmap_live_bytes comes back. */
static void mmap_from_signal_handlers(void)
{
	char bin[PATH_MAX + 64], iters[] = "10000";
	char *argv[] = { bin, iters, NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	int st;

	snprintf(bin, sizeof(bin), "%s/mmap_signal", progs);
	st = run(argv, 1, "", out, err, sizeof(out));
	check_ok("mmap_signal", st, out, err);
}

/* Stack peaks ignore coroutine and sigaltstack stacks. */
static void stack_foreign_stacks(void)
{
	char bin[PATH_MAX + 64];
	char *argv[] = { bin, NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	int st;

	snprintf(bin, sizeof(bin), "%s/foreign_stack", progs);
	st = run(argv, 1, "", out, err, sizeof(out));
	check_ok("foreign_stack", st, out, err);
}

/* Whether allocator a can be tested here; says so on stderr if not. */
static int installed(const struct allocator *a)
{
	if (a->path[0] == '\0' || access(a->path, R_OK) == 0)
		return 1;
	fprintf(stderr, "  %s: %s not installed; not tested (tests/deps.sh installs it)\n", a->name,
	    a->path);
	return 0;
}

/*
 * alloc_edge's edge cases print the same results and errno with the
 * agent as without, under every allocator; its heap figures are right
 * within the allocator's rounding; the agent says which size source it
 * chose.
 */
static void allocator_edge_cases(void)
{
	char bin[PATH_MAX + 64], cases[] = "cases", figures[] = "figures", want[64];
	char *argv[] = { bin, cases, NULL };
	static char plain[OUT_MAX], with[OUT_MAX], err[OUT_MAX];
	int st0, st1;

	snprintf(bin, sizeof(bin), "%s/alloc_edge", progs);
	for (size_t i = 0; i < NALLOC; i++) {
		struct allocator *a = &allocators[i];

		if (!installed(a))
			continue;
		argv[1] = cases;
		st0 = run(argv, 0, a->path, plain, err, sizeof(plain));
		st1 = run(argv, 1, a->path, with, err, sizeof(with));
		if (!exited_ok(st0) || !exited_ok(st1)) {
			fprintf(stderr, "  %s: cases: status 0x%x without the agent, 0x%x with\n%.2000s\n",
			    a->name, st0, st1, err);
			CHECK(0);
		} else if (strcmp(plain, with) != 0) {
			fprintf(stderr, "  %s: cases:\n", a->name);
			it_show_diff("stdout", plain, with);
			CHECK(0);
		}
		snprintf(want, sizeof(want), "size_source %s", a->size_source);
		if (strstr(err, want) == NULL) {
			fprintf(stderr, "  %s: MEMPROBE_DEBUG=1 did not say \"%s\":\n%.2000s\n", a->name,
			    want, err);
			CHECK(0);
		}
		argv[1] = figures;
		st1 = run(argv, 1, a->path, with, err, sizeof(with));
		check_ok(a->name, st1, with, err);
	}
}

/* Real programs under the agent with each allocator below it: the same
 * output and status as under that allocator alone. */
static void allocator_workloads(void)
{
	char sh[] = "/bin/sh", c[] = "-c";
	char sort_cmd[] = "seq 1 40000 | sed 's/$/ line/' | sort -r | md5sum";
	char py_cmd[] = "python3 -c 'import json, threading; d = {str(i): [i] * (i % 9) for i in range(50000)};"
	    " ts = [threading.Thread(target=sorted, args=(list(d.items()),)) for _ in range(3)];"
	    " [t.start() for t in ts]; [t.join() for t in ts]; print(len(json.dumps(d)))'";
	char *cmds[] = { sort_cmd, py_cmd };
	static char plain[OUT_MAX], with[OUT_MAX], err[OUT_MAX];

	for (size_t k = 0; k < NALLOC; k++) {
		if (!installed(&allocators[k]))
			continue;
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			char *argv[] = { sh, c, cmds[i], NULL };
			int st0 = run(argv, 0, allocators[k].path, plain, err, sizeof(plain));
			int st1 = run(argv, 1, allocators[k].path, with, err, sizeof(with));

			if (!exited_ok(st0) || !exited_ok(st1) || strcmp(plain, with) != 0 ||
			    plain[0] == '\0') {
				fprintf(stderr, "  %s, %s: status 0x%x without the agent, 0x%x with\n",
				    allocators[k].name, cmds[i], st0, st1);
				it_show_diff("stdout", plain, with);
				fprintf(stderr, "  stderr with:\n%.2000s\n", err);
				CHECK(0);
			}
		}
	}
}

struct source_wait {
	const char *url;
	long pid;
	char got[32];
};

static int size_source_is_requested(void *arg)
{
	struct source_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	const char *src = json_string_value(json_object_get(e, "size_source"));

	snprintf(w->got, sizeof(w->got), "%s", src != NULL ? src : "(none)");
	json_decref(e);
	return strcmp(w->got, "requested") == 0;
}

/* Through the daemon: alloc_hold under the bump allocator shows
 * size_source "requested" and its 64 blocks of 1000 bytes, exactly as
 * asked, in memprobe_heap_live_bytes. */
static void allocator_size_source_api(void)
{
	struct it_daemon d = { 0 };
	struct it_proc p = { .pid = 0, .in_fd = -1, .out_fd = -1 };
	char preload[3 * PATH_MAX], sockenv[PATH_MAX + 32], n[] = "64", sz[] = "1000";
	char *env[] = { preload, sockenv, NULL };
	char *argv[] = { itest.alloc_hold, n, sz, NULL };
	struct source_wait w = { 0 };
	char line[128];
	double last = -1;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s:%s", itest.agent,
	    allocators[NALLOC - 1].path);
	snprintf(sockenv, sizeof(sockenv), "MEMPROBE_SOCKET=%s", d.sock);
	REQUIRE(it_proc_start(&p, argv, env, NULL) == 0);
	REQUIRE(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	REQUIRE(strncmp(line, "ready ", 6) == 0);
	w.url = d.url;
	w.pid = strtol(line + 6, NULL, 10);
	if (!it_wait_until(size_source_is_requested, &w, IT_TIMEOUT_MS)) {
		fprintf(stderr, "  size_source of pid %ld: %s, want requested\n", w.pid, w.got);
		CHECK(0);
	}
	/* 64 x 1000 and the 512-byte pointer array; what the runtime asked
	 * for before main is small. */
	if (!it_wait_metric(d.url, "memprobe_heap_live_bytes", w.pid, 64 * 1000 + 512,
	    64 * 1000 + 512 + 256 * 1024, IT_TIMEOUT_MS, &last)) {
		fprintf(stderr, "  memprobe_heap_live_bytes %.0f, want 64512 and a little\n", last);
		CHECK(0);
	}
out:
	it_proc_kill(&p);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_foreign_run(void)
{
	snprintf(progs, sizeof(progs), "%s/tests/progs", itest.build);
	snprintf(allocators[NALLOC - 1].path, sizeof(allocators[0].path), "%s/libbump.so", progs);
	if (access(allocators[NALLOC - 1].path, R_OK) != 0) {
		fprintf(stderr, "integration: %s: %s\n", allocators[NALLOC - 1].path, strerror(errno));
		printf("FAIL foreign_setup\n");
		return 1;
	}
	if (it_selected("mmap_from_signal_handlers"))
		RUN_TEST(mmap_from_signal_handlers);
	if (it_selected("stack_foreign_stacks"))
		RUN_TEST(stack_foreign_stacks);
	if (it_selected("allocator_edge_cases"))
		RUN_TEST(allocator_edge_cases);
	if (it_selected("allocator_workloads"))
		RUN_TEST(allocator_workloads);
	if (it_selected("allocator_size_source_api"))
		RUN_TEST(allocator_size_source_api);
	return harness_failed_tests;
}
