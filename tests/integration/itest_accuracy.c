/* itest_accuracy.c: the agent's figures, exactly, for programs whose allocations, mappings and stack depths are known. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Each test runs one scenario of tests/progs/accuracy (see the top of that
 * file) with the agent preloaded and a real daemon: the program keeps its
 * own books, checks memprobe_snapshot() against them, and prints what
 * /metrics must say; the test waits (bounded) until /metrics says it.
 */

#define MAX_EXPECT 64

struct expect {
	int final;                      /* checked once pid has exited */
	long pid;
	char metric[96];
	char label[160];                /* "" or name=value */
	double lo, hi;
	double last;                    /* last value seen; NAN if none */
};

struct acc_run {
	struct it_proc p;
	long pid;                       /* from the last "ready PID" */
	struct expect ex[MAX_EXPECT];
	int nex;
	char errpath[PATH_MAX];
};

static char accuracy_bin[PATH_MAX + 32];

/* ---- reading /metrics ---- */

/*
 * Finds the sample of `metric` with pid="pid" and, when label is not
 * empty, the label "name=value" (le compares as a number). Returns 1 and
 * sets *out, or 0.
 */
static int sample(const char *text, const char *metric, long pid, const char *label,
    double *out)
{
	char want_pid[32], lname[64] = "";
	struct it_label want[2] = { { "pid", want_pid }, { lname, "" } };

	snprintf(want_pid, sizeof(want_pid), "%ld", pid);
	if (label[0] != '\0') {
		const char *eq = strchr(label, '=');
		size_t n = eq != NULL ? (size_t)(eq - label) : 0;

		if (eq == NULL || n >= sizeof(lname))
			return 0;
		memcpy(lname, label, n);
		lname[n] = '\0';
		want[1].value = eq + 1;
	}
	return it_metric_labels(text, metric, want, label[0] != '\0' ? 2 : 1, out);
}

struct expect_wait {
	const char *url;
	struct acc_run *run;
	int final;
};

/* Whether every expectation of the wanted kind holds in one scrape (and,
 * for final ones, the process is shown as exited). */
static int expectations_hold(void *arg)
{
	struct expect_wait *w = arg;
	struct it_http r;
	int ok = 1;

	if (it_get(w->url, "/metrics", &r) < 0 || r.status != 200) {
		it_http_free(&r);
		return 0;
	}
	for (int i = 0; i < w->run->nex; i++) {
		struct expect *e = &w->run->ex[i];
		double v, exited;

		if (e->final != w->final)
			continue;
		if (e->final && (!it_metric_pid(r.body, "memprobe_process_exited", e->pid, &exited) ||
		    exited != 1)) {
			ok = 0;
			continue;
		}
		if (!sample(r.body, e->metric, e->pid, e->label, &v)) {
			e->last = NAN;
			ok = 0;
			continue;
		}
		e->last = v;
		if (v < e->lo || v > e->hi)
			ok = 0;
	}
	it_http_free(&r);
	return ok;
}

/* Waits until the expectations of one kind hold; says which did not. */
static void check_expectations(const struct it_daemon *d, struct acc_run *run, int final,
    const char *when)
{
	struct expect_wait w = { d->url, run, final };
	int n = 0;

	for (int i = 0; i < run->nex; i++)
		n += run->ex[i].final == final;
	if (n == 0 || it_wait_until(expectations_hold, &w, IT_TIMEOUT_MS))
		return;
	fprintf(stderr, "  %s: /metrics did not come to agree within %d ms:\n", when, IT_TIMEOUT_MS);
	for (int i = 0; i < run->nex; i++) {
		struct expect *e = &run->ex[i];

		if (e->final != final)
			continue;
		if (isnan(e->last) || e->last < e->lo || e->last > e->hi)
			fprintf(stderr, "    %s{pid=\"%ld\"%s%s}: %.17g, want [%.17g, %.17g]\n",
			    e->metric, e->pid, e->label[0] ? "," : "", e->label, e->last,
			    e->lo, e->hi);
	}
	CHECK(0);
}

/* ---- driving the program ---- */

static void show_stderr(const struct acc_run *run)
{
	char buf[2048];
	size_t n = 0;
	FILE *f = fopen(run->errpath, "r");

	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n > 0)
		fprintf(stderr, "  its stderr:\n%s\n", buf);
}

/* Adds an expectation by hand (for programs that do not print them). */
static void add_expect(struct acc_run *run, int final, long pid, const char *metric,
    const char *label, double lo, double hi)
{
	struct expect *e;

	if (run->nex == MAX_EXPECT)
		return;
	e = &run->ex[run->nex++];
	memset(e, 0, sizeof(*e));
	e->final = final;
	e->pid = pid;
	snprintf(e->metric, sizeof(e->metric), "%s", metric);
	snprintf(e->label, sizeof(e->label), "%s", label != NULL ? label : "");
	e->lo = lo;
	e->hi = hi;
	e->last = NAN;
}

/* Parses "expect|final PID METRIC LABEL LO HI". Returns 0 or -1. */
static int parse_expect(struct acc_run *run, const char *line)
{
	char kind[8], metric[96], label[160];
	double lo, hi;
	long pid;

	if (sscanf(line, "%7s %ld %95s %159s %lf %lf", kind, &pid, metric, label, &lo, &hi) != 6)
		return -1;
	add_expect(run, strcmp(kind, "final") == 0, pid, metric,
	    strcmp(label, "-") == 0 ? "" : label, lo, hi);
	return 0;
}

/*
 * Reads the program's output up to its next "ready PID": expectations are
 * kept (the "expect" ones replace the previous phase's), "fail" lines
 * fail the test. Returns the pid, or -1 having said why.
 */
static long read_phase(struct acc_run *run, const char *when)
{
	char line[512];
	int n, k = 0;

	/* The last phase's "expect" lines are done with; "final" ones stay. */
	for (int i = 0; i < run->nex; i++)
		if (run->ex[i].final)
			run->ex[k++] = run->ex[i];
	run->nex = k;
	for (;;) {
		n = it_proc_readline(&run->p, line, sizeof(line), IT_TIMEOUT_MS);
		if (n < 0) {
			fprintf(stderr, "  %s: no \"ready\" line: %s\n", when, strerror(-n));
			show_stderr(run);
			return -1;
		}
		if (strncmp(line, "ready ", 6) == 0) {
			run->pid = strtol(line + 6, NULL, 10);
			return run->pid;
		}
		if (strncmp(line, "fail ", 5) == 0) {
			fprintf(stderr, "  %s: the program says: %s\n", when, line + 5);
			CHECK(0);
		} else if (strncmp(line, "expect ", 7) == 0 || strncmp(line, "final ", 6) == 0) {
			if (parse_expect(run, line) < 0) {
				fprintf(stderr, "  %s: bad line \"%s\"\n", when, line);
				CHECK(0);
			}
		} else if (strncmp(line, "info ", 5) != 0 && strncmp(line, "child ", 6) != 0) {
			fprintf(stderr, "  %s: unexpected line \"%s\"\n", when, line);
		}
	}
}

/* Starts `accuracy SCENARIO [ARG]` with the agent reporting to d. */
static int acc_start(struct acc_run *run, const struct it_daemon *d, const char *scenario,
    const char *arg)
{
	char sc[64], a[PATH_MAX];
	char *argv[] = { accuracy_bin, sc, arg != NULL ? a : NULL, NULL };
	char storage[2 * PATH_MAX + 64];
	char *env[4] = { NULL };
	int rc;

	snprintf(sc, sizeof(sc), "%s", scenario);
	snprintf(a, sizeof(a), "%s", arg != NULL ? arg : "");
	memset(run, 0, sizeof(*run));
	run->p.in_fd = run->p.out_fd = -1;
	snprintf(run->errpath, sizeof(run->errpath), "%s/accuracy.stderr", d->dir);
	it_agent_env(env, storage, d->sock);
	rc = it_proc_start(&run->p, argv, env, run->errpath);
	if (rc < 0)
		fprintf(stderr, "  start %s: %s\n", accuracy_bin, strerror(-rc));
	return rc;
}

/* Ends the program (end of input), checks it exited 0, then checks the
 * "final" expectations against its exited entry. */
static void acc_finish(struct acc_run *run, const struct it_daemon *d, const char *when)
{
	it_proc_close_stdin(&run->p);
	if (it_proc_wait(&run->p, IT_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  %s: the program did not exit\n", when);
		CHECK(0);
		return;
	}
	if (!WIFEXITED(run->p.status) || WEXITSTATUS(run->p.status) != 0) {
		fprintf(stderr, "  %s: the program ended with status 0x%x\n", when, run->p.status);
		show_stderr(run);
		CHECK(0);
	}
	check_expectations(d, run, 1, when);
}

/*
 * The common shape: `phases` phases, each checked against /metrics, then
 * the end and the final figures.
 */
static void run_scenario(const char *scenario, int phases)
{
	struct it_daemon d = { 0 };
	struct acc_run run = { .p = { .in_fd = -1, .out_fd = -1 } };
	char when[64];

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(acc_start(&run, &d, scenario, NULL) == 0);
	for (int i = 1; i <= phases; i++) {
		snprintf(when, sizeof(when), "%s, phase %d", scenario, i);
		REQUIRE(read_phase(&run, when) > 0);
		check_expectations(&d, &run, 0, when);
		if (i < phases)
			REQUIRE(it_proc_write(&run.p, "next\n") == 0);
	}
	acc_finish(&run, &d, scenario);
out:
	if (harness_failures)
		show_stderr(&run);
	it_proc_kill(&run.p);
	CHECK(it_daemon_stop(&d) == 0);
}

/* ---- the tests ---- */

/* Every entry point, with exact live bytes, blocks, counters and histogram. */
static void accuracy_entries(void)
{
	run_scenario("entries", 1);
}

/* Failed allocations counted; bad alignments not. */
static void accuracy_failed(void)
{
	run_scenario("failed", 1);
}

/* 8 threads allocating and freeing at once, then exiting holding memory. */
static void accuracy_threads(void)
{
	run_scenario("threads", 2);
}

/* Frees and allocations in a thread's exit destructors still count. */
static void accuracy_thread_exit(void)
{
	run_scenario("thread_exit", 1);
}

/* 64 MiB then 1 MiB: the peak within one batch below 64 MiB, never above. */
static void accuracy_peak(void)
{
	run_scenario("peak", 1);
}

/* Two threads in turn: the peak is within threads x 64 KiB of the true peak. */
static void accuracy_peak_threads(void)
{
	run_scenario("peak_threads", 1);
}

/* A fork child's figures under its own pid, with the inherited heap; its
 * final sample comes from _exit. */
static void accuracy_fork(void)
{
	run_scenario("fork", 1);
}

/* exit() sends its final sample even while another thread is in fork(). */
static void accuracy_exit_final(void)
{
	run_scenario("exit_while_forking", 1);
}

/* The program's anonymous mappings, apart from the heap. */
static void accuracy_mmap(void)
{
	run_scenario("mmap", 1);
}

/* Recursion in the main thread, allocating only at the bottom. */
static void stack_main(void)
{
	run_scenario("stack_main", 1);
}

/* A thread with a 4 MiB stack whose first allocation is 2 MiB deep. */
static void stack_thread(void)
{
	run_scenario("stack_thread", 1);
}

/* 4 MiB of recursion in the main thread without one allocation: the
 * daemon finds the depth from resident stack pages (pagemap, or VmStk). */
static void stack_main_quiet(void)
{
	run_scenario("stack_main_quiet", 1);
}

/* The same in a live thread with an 8 MiB stack: pagemap only. */
static void stack_thread_quiet(void)
{
	run_scenario("stack_thread_quiet", 1);
}

/* exec with LD_PRELOAD set: the same pid is tracked on, with the new
 * image's figures and name. */
static void accuracy_exec(void)
{
	struct it_daemon d = { 0 };
	struct acc_run run = { .p = { .in_fd = -1, .out_fd = -1 } };
	/* alloc_hold 32 32768: 32 blocks of usable 32776, its pointer array, and
	 * what the runtime allocates before main (libstdc++'s 71 KiB exception
	 * pool when the agent is built with UBSan); not the 16 MiB from before. */
	double lo = 32.0 * 32776, hi = lo + 256 * 1024;
	long pid;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(acc_start(&run, &d, "exec", itest.alloc_hold) == 0);
	pid = read_phase(&run, "exec, before");
	REQUIRE(pid > 0);
	check_expectations(&d, &run, 0, "exec, before");
	REQUIRE(it_proc_write(&run.p, "next\n") == 0);
	REQUIRE(read_phase(&run, "exec, after") == pid);
	add_expect(&run, 0, pid, "memprobe_heap_live_bytes", "comm=alloc_hold", lo, hi);
	add_expect(&run, 0, pid, "memprobe_heap_live_blocks", "comm=alloc_hold", 33, 40);
	add_expect(&run, 0, pid, "memprobe_process_exited", "", 0, 0);
	check_expectations(&d, &run, 0, "exec, after");
	acc_finish(&run, &d, "exec");
out:
	it_proc_kill(&run.p);
	CHECK(it_daemon_stop(&d) == 0);
}

/* memprobe_gauge_set() values as memprobe_program_value{name}; the
 * exposition stays valid. */
static void accuracy_gauge(void)
{
	struct it_daemon d = { 0 };
	struct acc_run run = { .p = { .in_fd = -1, .out_fd = -1 } };
	char lint[4096];
	int st;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(acc_start(&run, &d, "gauge", NULL) == 0);
	REQUIRE(read_phase(&run, "gauge") > 0);
	check_expectations(&d, &run, 0, "gauge");
	{
		struct it_http r = { 0 };

		st = -1;
		lint[0] = '\0';
		if (it_get(d.url, "/metrics", &r) == 0 && r.status == 200)
			st = it_promtool_check(d.dir, r.body, lint, sizeof(lint));
		it_http_free(&r);
	}
	if (st != 0 || lint[0] != '\0')
		fprintf(stderr, "  promtool check metrics: exit %d:\n%s\n", st, lint);
	CHECK(st == 0);
	CHECK_STR(lint, "");
	acc_finish(&run, &d, "gauge");
out:
	it_proc_kill(&run.p);
	CHECK(it_daemon_stop(&d) == 0);
}

int itest_accuracy_run(void)
{
	snprintf(accuracy_bin, sizeof(accuracy_bin), "%s/tests/progs/accuracy", itest.build);
	if (access(accuracy_bin, X_OK) != 0) {
		fprintf(stderr, "integration: %s: %s\n", accuracy_bin, strerror(errno));
		printf("FAIL accuracy_setup\n");
		return 1;
	}
	if (it_selected("accuracy_entries"))
		RUN_TEST(accuracy_entries);
	if (it_selected("accuracy_failed"))
		RUN_TEST(accuracy_failed);
	if (it_selected("accuracy_threads"))
		RUN_TEST(accuracy_threads);
	if (it_selected("accuracy_thread_exit"))
		RUN_TEST(accuracy_thread_exit);
	if (it_selected("accuracy_peak"))
		RUN_TEST(accuracy_peak);
	if (it_selected("accuracy_peak_threads"))
		RUN_TEST(accuracy_peak_threads);
	if (it_selected("accuracy_fork"))
		RUN_TEST(accuracy_fork);
	if (it_selected("accuracy_exit_final"))
		RUN_TEST(accuracy_exit_final);
	if (it_selected("accuracy_exec"))
		RUN_TEST(accuracy_exec);
	if (it_selected("accuracy_gauge"))
		RUN_TEST(accuracy_gauge);
	if (it_selected("accuracy_mmap"))
		RUN_TEST(accuracy_mmap);
	if (it_selected("stack_main"))
		RUN_TEST(stack_main);
	if (it_selected("stack_thread"))
		RUN_TEST(stack_thread);
	if (it_selected("stack_main_quiet"))
		RUN_TEST(stack_main_quiet);
	if (it_selected("stack_thread_quiet"))
		RUN_TEST(stack_thread_quiet);
	return harness_failed_tests;
}
