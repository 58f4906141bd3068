/* itest_hostile.c: hostile programs: mappings from signal handlers, allocations on foreign stacks. */
#include "harness.h"
#include "itest_util.h"

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

int itest_hostile_run(void)
{
	snprintf(progs, sizeof(progs), "%s/tests/progs", itest.build);
	if (it_selected("mmap_from_signal_handlers"))
		RUN_TEST(mmap_from_signal_handlers);
	if (it_selected("stack_foreign_stacks"))
		RUN_TEST(stack_foreign_stacks);
	return harness_failed_tests;
}
