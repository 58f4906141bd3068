/* itest_python.c: the Python agent against the real daemon: interpreter figures, depth, both agents in one entry, no descriptor, kills and restarts. */
#include "harness.h"
#include "itest_util.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define PY_SCRIPT "tests/progs/py_agent.py"

struct py {
	struct it_daemon d;
	struct it_proc proc;
	long pid;
	char storage[3 * PATH_MAX];
	char *env[8];
};

/*
 * Starts memprobed and `python3 tests/progs/py_agent.py ARGS` reporting to
 * it; with_c also preloads the C agent. Waits for "ready PID".
 */
static int py_start(struct py *t, char *arg, int with_c)
{
	char line[128];
	char *argv[] = { "/usr/bin/env", "python3", PY_SCRIPT, arg, NULL };
	char *s = t->storage;
	int n = 0;

	memset(&t->proc, 0, sizeof(t->proc));
	t->proc.in_fd = t->proc.out_fd = -1;
	t->pid = -1;
	if (it_daemon_start(&t->d, 60) != 0)
		return -1;
	if (with_c) {
		t->env[n++] = s;
		s += sprintf(s, "LD_PRELOAD=%s", itest.agent) + 1;
		t->env[n++] = s;
		s += sprintf(s, "MEMPROBE_INTERVAL_MS=100") + 1;
	}
	t->env[n++] = s;
	s += sprintf(s, "MEMPROBE_SOCKET=%s", t->d.sock) + 1;
	t->env[n] = NULL;
	if (it_proc_start(&t->proc, argv, t->env, NULL) < 0)
		return -1;
	if (it_proc_readline(&t->proc, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    strncmp(line, "ready ", 6) != 0) {
		fprintf(stderr, "py_agent.py said no \"ready\" line\n");
		return -1;
	}
	t->pid = strtol(line + 6, NULL, 10);
	return 0;
}

static void py_stop(struct py *t)
{
	it_proc_kill(&t->proc);
	it_daemon_stop(&t->d);
}

/* Sends a command and waits for the reply line that starts with `want`. */
static int py_cmd(struct py *t, const char *cmd, const char *want, char *reply, size_t size)
{
	char buf[128];

	if (it_proc_write(&t->proc, cmd) < 0)
		return -1;
	if (reply == NULL) {
		reply = buf;
		size = sizeof(buf);
	}
	if (it_proc_readline(&t->proc, reply, size, IT_TIMEOUT_MS) < 0)
		return -1;
	return strncmp(reply, want, strlen(want)) == 0 ? 0 : -1;
}

static void py_allocated_blocks(void)
{
	struct py t;
	double base = 0, now = 0;

	REQUIRE(py_start(&t, NULL, 0) == 0);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", NULL, NULL, 1,
	    &base));
	REQUIRE(py_cmd(&t, "hold 50000\n", "held", NULL, 0) == 0);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", NULL, NULL,
	    base + 50000, &now));
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_recursion_limit", NULL, NULL, 1000,
	    NULL));
out:
	py_stop(&t);
}

static void py_gc_generation2(void)
{
	struct py t;
	double before = -1;

	REQUIRE(py_start(&t, NULL, 0) == 0);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_gc_collections_total", "generation",
	    "2", 0, &before));
	REQUIRE(py_cmd(&t, "gc\n", "collected", NULL, 0) == 0);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_gc_collections_total", "generation", "2",
	    before + 1, NULL));
out:
	py_stop(&t);
}

static void py_depth_sampled(void)
{
	struct py t;

	REQUIRE(py_start(&t, NULL, 0) == 0);
	REQUIRE(py_cmd(&t, "deep 800\n", "deep", NULL, 0) == 0);
	/* Held at the bottom until the next line, so a sample sees it. */
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_stack_depth_peak", NULL, NULL, 800,
	    NULL));
	it_proc_write(&t.proc, "\n");
out:
	py_stop(&t);
}

static void py_depth_exact(void)
{
	struct py t;
	char reply[64];
	long depth;

	REQUIRE(py_start(&t, "--exact", 0) == 0);
	/* Returns at once: only the exact mode can see it. */
	REQUIRE(py_cmd(&t, "flash 600\n", "flashed", reply, sizeof(reply)) == 0);
	depth = strtol(reply + 8, NULL, 10);
	CHECK(depth >= 600);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_stack_depth_peak", NULL, NULL,
	    (double)depth, NULL));
out:
	py_stop(&t);
}

/*
 * A caught RecursionError in exact mode: the deepest stack is the
 * recursion limit, within the frames CPython keeps for the handler. With
 * the C agent preloaded, its profile function counts; else the Python hook.
 */
static void py_recursion_limit(int with_c)
{
	struct py t;
	char reply[64];
	double limit = 0, last = -1;

	REQUIRE(py_start(&t, "--exact", with_c) == 0);
	REQUIRE(py_cmd(&t, "overflow\n", "caught", reply, sizeof(reply)) == 0);
	limit = (double)strtol(reply + 7, NULL, 10);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_recursion_limit", NULL, NULL, limit,
	    NULL));
	CHECK(it_wait_metric(t.d.url, "memprobe_python_stack_depth_peak", t.pid, limit - 5,
	    limit + 5, IT_TIMEOUT_MS, &last));
out:
	py_stop(&t);
}

static void py_recursion_past_limit(void)
{
	py_recursion_limit(0);
}

static void py_recursion_past_limit_c(void)
{
	py_recursion_limit(1);
}

static void py_and_c_in_one_entry(void)
{
	struct py t;
	json_t *e = NULL, *agents;
	double live = 0, blocks = 0;
	char pid[24];

	REQUIRE(py_start(&t, NULL, 1) == 0);
	/* With the C agent preloaded, launchers (env, a pyenv shim) and their
	 * children report too: wait for this pid's series. */
	snprintf(pid, sizeof(pid), "%ld", t.pid);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid, 1,
	    &blocks));
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_heap_live_bytes", "pid", pid, 1, &live));
	e = it_api_process(t.d.url, t.pid);
	REQUIRE(e != NULL);
	agents = json_object_get(e, "agents");
	CHECK(json_is_array(agents) && json_array_size(agents) == 2);
	CHECK(it_json_num(e, "heap.live_bytes", &live) && live > 0);
	CHECK(it_json_num(e, "python.allocated_blocks", &blocks) && blocks > 0);
	CHECK(it_json_num(e, "python.recursion_limit", &blocks) && blocks == 1000);
out:
	json_decref(e);
	py_stop(&t);
}

static void py_gauge(void)
{
	struct py t;

	REQUIRE(py_start(&t, NULL, 0) == 0);
	REQUIRE(py_cmd(&t, "gauge queue.depth 42.5\n", "gauge", NULL, 0) == 0);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_program_value", "name", "queue.depth", 42.5,
	    NULL));
out:
	py_stop(&t);
}

/*
 * The agent keeps no descriptor: the program's descriptors are the same
 * before memprobe.start() as once memprobed shows its figures, and none of
 * them is a socket or a memfd.
 */
static void py_no_descriptors(void)
{
	struct py t;
	char before[2048], after[2048], pid[24];

	REQUIRE(py_start(&t, "--no-agent", 0) == 0);
	REQUIRE(py_cmd(&t, "fds\n", "fds", before, sizeof(before)) == 0);
	REQUIRE(py_cmd(&t, "start\n", "started", NULL, 0) == 0);
	snprintf(pid, sizeof(pid), "%ld", t.pid);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid, 1,
	    NULL));
	REQUIRE(py_cmd(&t, "fds\n", "fds", after, sizeof(after)) == 0);
	CHECK_STR(after, before);
	CHECK(strstr(after, "socket:") == NULL && strstr(after, "memfd:") == NULL);
out:
	py_stop(&t);
}

/* SIGKILL of the Python program: its last figures and gauges stay, shown
 * as exited (memprobed reads its region after the process is gone). */
static void py_killed_keeps_figures(void)
{
	struct py t;
	json_t *e = NULL, *st;
	double base = 0, v = -1;
	char pid[24];

	REQUIRE(py_start(&t, NULL, 0) == 0);
	snprintf(pid, sizeof(pid), "%ld", t.pid);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid, 1,
	    &base));
	REQUIRE(py_cmd(&t, "hold 50000\n", "held", NULL, 0) == 0);
	REQUIRE(py_cmd(&t, "gauge last_words 7\n", "gauge", NULL, 0) == 0);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid,
	    base + 50000, NULL));
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_program_value", "name", "last_words", 7,
	    NULL));
	it_proc_kill(&t.proc);                          /* SIGKILL */
	CHECK(it_wait_metric(t.d.url, "memprobe_process_exited", t.pid, 1, 1, IT_TIMEOUT_MS, &v));
	e = it_api_process(t.d.url, t.pid);
	REQUIRE(e != NULL);
	st = json_object_get(e, "state");
	CHECK(json_is_string(st) && strcmp(json_string_value(st), "exited") == 0);
	/* The held objects are in the final figure (a few other blocks may
	 * have come and gone meanwhile). */
	CHECK(it_json_num(e, "python.allocated_blocks", &v) && v >= base + 45000);
	CHECK(it_json_num(e, "gauges.last_words", &v) && v == 7);
out:
	json_decref(e);
	py_stop(&t);
}

/*
 * memprobed stopped with sig and started again on the same socket. After
 * SIGTERM it has let its keeper go, so only the agent can bring the
 * process back: it sees a new socket file and registers a new region
 * (generation 1). After SIGKILL the keeper hands the old region to the new
 * daemon and the agent registers the newer one on top, which must be
 * harmless. Either way the figures written after the restart are shown.
 */
static void py_daemon_back(int sig)
{
	struct py t;
	double base = 0;
	char pid[24];

	REQUIRE(py_start(&t, NULL, 0) == 0);
	snprintf(pid, sizeof(pid), "%ld", t.pid);
	REQUIRE(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid, 1,
	    &base));
	REQUIRE(it_proc_stop(&t.d.proc, sig, IT_TIMEOUT_MS) == 0);
	REQUIRE(it_daemon_restart(&t.d, 60) == 0);
	CHECK(it_wait_log(t.d.log, "python region (generation 1,"));
	REQUIRE(py_cmd(&t, "hold 50000\n", "held", NULL, 0) == 0);
	CHECK(it_wait_metric_min(t.d.url, "memprobe_python_allocated_blocks", "pid", pid,
	    base + 50000, NULL));
out:
	py_stop(&t);
}

static void py_daemon_restarted(void)
{
	py_daemon_back(SIGTERM);
}

static void py_daemon_killed(void)
{
	py_daemon_back(SIGKILL);
}

/* A script run by `python3 -m memprobe run OPTION --interval 0.1 SCRIPT`. */
struct py_run {
	struct it_proc proc;
	char script[40];
	long pid;
	char line[128];         /* its "ready PID ..." line */
};

/*
 * Writes `code` to a temporary script, which must print "ready PID ..."
 * first, and runs it with python3 -m memprobe run, the package from the
 * source tree, reporting to d; option may be NULL. MEMPROBE_LIBRARY is lib
 * (a path that does not exist: the C agent is not found, so not
 * preloaded). Waits for the ready line.
 */
static int py_run_start(struct py_run *r, const struct it_daemon *d, const char *lib,
    char *option, const char *code)
{
	char storage[3 * PATH_MAX], *env[4], *s = storage;
	char *argv[] = { "/usr/bin/env", "python3", "-m", "memprobe", "run", "--interval", "0.1",
	    NULL, NULL, NULL };
	int fd, n = 7;

	memset(&r->proc, 0, sizeof(r->proc));
	r->proc.in_fd = r->proc.out_fd = -1;
	r->pid = -1;
	snprintf(r->script, sizeof(r->script), "/tmp/memprobe-pyrun-XXXXXX.py");
	fd = mkstemps(r->script, 3);
	if (fd < 0)
		return -1;
	dprintf(fd, "%s", code);
	close(fd);
	if (option != NULL)             /* before the script: memprobe's, not the script's */
		argv[n++] = option;
	argv[n] = r->script;
	env[0] = s;
	s += sprintf(s, "MEMPROBE_SOCKET=%s", d->sock) + 1;
	env[1] = s;
	s += sprintf(s, "MEMPROBE_LIBRARY=%s", lib) + 1;
	env[2] = s;
	sprintf(s, "PYTHONPATH=client/python");
	env[3] = NULL;
	if (it_proc_start(&r->proc, argv, env, NULL) != 0 ||
	    it_proc_readline(&r->proc, r->line, sizeof(r->line), IT_TIMEOUT_MS) <= 0 ||
	    strncmp(r->line, "ready ", 6) != 0)
		return -1;
	r->pid = strtol(r->line + 6, NULL, 10);
	return 0;
}

/* Ends the script (the end of its stdin); whether it exited with status. */
static int py_run_end(struct py_run *r, int status)
{
	it_proc_close_stdin(&r->proc);
	return it_proc_wait(&r->proc, IT_TIMEOUT_MS) == 0 && WIFEXITED(r->proc.status) &&
	    WEXITSTATUS(r->proc.status) == status;
}

static void py_run_stop(struct py_run *r)
{
	it_proc_kill(&r->proc);
	unlink(r->script);
}

/* How many agents memprobed shows in pid's entry (0 when there is none). */
static size_t py_agents(const char *url, long pid)
{
	json_t *e = it_api_process(url, pid), *agents;
	size_t n;

	agents = e ? json_object_get(e, "agents") : NULL;
	n = json_is_array(agents) ? json_array_size(agents) : 0;
	json_decref(e);
	return n;
}

/* python -m memprobe run: re-executes with the C agent preloaded, so both
 * halves report, and passes the script's exit status through. */
static void py_module_run(void)
{
	struct it_daemon d;
	struct py_run r = { .proc = { .in_fd = -1, .out_fd = -1 } };
	char pid[24];

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(py_run_start(&r, &d, itest.agent, NULL, "import os, sys\n"
	    "print('ready', os.getpid(), flush=True)\nsys.stdin.readline()\nsys.exit(7)\n") == 0);
	snprintf(pid, sizeof(pid), "%ld", r.pid);
	CHECK(it_wait_metric_min(d.url, "memprobe_heap_live_bytes", "pid", pid, 1, NULL));
	CHECK(it_wait_metric_min(d.url, "memprobe_python_allocated_blocks", "pid", pid, 1, NULL));
	CHECK(py_agents(d.url, r.pid) == 2);
	CHECK(py_run_end(&r, 7));
out:
	py_run_stop(&r);
	it_daemon_stop(&d);
}

/*
 * The seed's example, `def f(): f()` under try/except RecursionError, run
 * by `python3 -m memprobe run --exact-depth`: memprobed shows the
 * recursion limit as the deepest stack, within 5 frames. lib is the C
 * agent (its profile function counts, and the process shows both agents)
 * or a path where there is none (the Python hook counts).
 */
static void py_seed_depth(const char *lib, size_t agents_want)
{
	struct it_daemon d;
	struct py_run r = { .proc = { .in_fd = -1, .out_fd = -1 } };
	double limit, last = -1;
	char *words;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(py_run_start(&r, &d, lib, "--exact-depth", "import os, sys\n"
	    "def f():\n    f()\n"
	    "try:\n    f()\nexcept RecursionError:\n    pass\n"
	    "print('ready', os.getpid(), sys.getrecursionlimit(), flush=True)\n"
	    "sys.stdin.readline()\n") == 0);
	words = strchr(r.line + 6, ' ');        /* "ready PID LIMIT" */
	REQUIRE(words != NULL);
	limit = strtod(words, NULL);
	REQUIRE(limit >= 100);
	CHECK(it_wait_metric(d.url, "memprobe_python_stack_depth_peak", r.pid, limit - 5,
	    limit + 5, IT_TIMEOUT_MS, &last));
	CHECK(py_agents(d.url, r.pid) == agents_want);
	CHECK(py_run_end(&r, 0));
out:
	py_run_stop(&r);
	it_daemon_stop(&d);
}

static void py_seed_depth_c(void)
{
	py_seed_depth(itest.agent, 2);
}

static void py_seed_depth_python(void)
{
	py_seed_depth("/nonexistent/libmemprobe.so", 1);
}

int itest_python_run(void)
{
	if (it_selected("py_allocated_blocks"))
		RUN_TEST(py_allocated_blocks);
	if (it_selected("py_gc_generation2"))
		RUN_TEST(py_gc_generation2);
	if (it_selected("py_depth_sampled"))
		RUN_TEST(py_depth_sampled);
	if (it_selected("py_depth_exact"))
		RUN_TEST(py_depth_exact);
	if (it_selected("py_recursion_past_limit"))
		RUN_TEST(py_recursion_past_limit);
	if (it_selected("py_recursion_past_limit_c"))
		RUN_TEST(py_recursion_past_limit_c);
	if (it_selected("py_seed_depth_c"))
		RUN_TEST(py_seed_depth_c);
	if (it_selected("py_seed_depth_python"))
		RUN_TEST(py_seed_depth_python);
	if (it_selected("py_and_c_in_one_entry"))
		RUN_TEST(py_and_c_in_one_entry);
	if (it_selected("py_gauge"))
		RUN_TEST(py_gauge);
	if (it_selected("py_module_run"))
		RUN_TEST(py_module_run);
	if (it_selected("py_no_descriptors"))
		RUN_TEST(py_no_descriptors);
	if (it_selected("py_killed_keeps_figures"))
		RUN_TEST(py_killed_keeps_figures);
	if (it_selected("py_daemon_restarted"))
		RUN_TEST(py_daemon_restarted);
	if (it_selected("py_daemon_killed"))
		RUN_TEST(py_daemon_killed);
	return harness_failed_tests;
}
