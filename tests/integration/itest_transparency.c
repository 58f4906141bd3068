/* itest_transparency.c: real programs behave the same with the agent and a daemon as without; the agent exports only its hooks and API. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Each test runs one workload twice, without the agent and then with it
 * preloaded and reporting to a real daemon, and wants the same stdout,
 * stderr and exit status; then it looks for the workload's processes in
 * /api/v1/processes. The workloads print nothing that depends on timing or
 * pids, and exit with a status of their own choosing where they can, so a
 * lost status shows.
 */

/*
 * Runs argv without and with the agent, compares, and checks the top
 * process was seen. The daemon is started here; *d is stopped by the caller.
 */
static int both_ways(struct it_daemon *d, char *const argv[], const char *dir,
    const char *extra, struct it_outcome *plain, struct it_outcome *with)
{
	if (it_daemon_start(d, 60) < 0)
		return -1;
	CHECK(it_run_both(d, argv, dir, extra, plain, with) == 0);
	if (with->pid > 0)
		CHECK(it_wait_seen_pid(d->url, with->pid, argv[0]));
	return 0;
}

/* ---- the workloads ---- */

static char python_workload[] =
	"import hashlib, json, subprocess, sys, threading\n"
	"import multiprocessing as mp\n"
	"def work(n, out):\n"
	"    d = {}\n"
	"    for i in range(30000):\n"
	"        d[str(i * n)] = [i] * (i % 7 + 1)\n"
	"    rows = sorted(d.items())[:2000]\n"
	"    out[n] = hashlib.sha256(json.dumps(rows).encode()).hexdigest()\n"
	"out = {}\n"
	"ts = [threading.Thread(target=work, args=(n, out)) for n in range(1, 5)]\n"
	"for t in ts: t.start()\n"
	"for t in ts: t.join()\n"
	"for n in sorted(out): print('thread', n, out[n])\n"
	"r = subprocess.run([sys.executable, '-c', 'import sys; print(sum(range(10**5))); sys.exit(4)'],\n"
	"                   capture_output=True, text=True)\n"
	"print('child', r.returncode, r.stdout.strip())\n"
	"r = subprocess.run('{ sleep 0.3; echo hello; } | tr a-z A-Z', shell=True, capture_output=True,\n"
	"                   text=True)\n"
	"print('shell', r.returncode, r.stdout.strip())\n"
	/* Each worker holds 400 KB from its start, so it registers (a fork
	 * child does once it has allocated 64 KiB, AGENT_CHILD_BYTES) however
	 * the pool shares the tasks out, and long before it ends. */
	"def take():\n"
	"    global keep\n"
	"    keep = [bytes(100000) for _ in range(4)]\n"
	"pool = mp.get_context('fork').Pool(2, initializer=take)\n"
	"print('pool', sum(pool.map(abs, range(-3000, 3000))))\n"
	"print('pool bytes', sum(pool.map(len, [b'x' * 100000] * 8)))\n"
	"pool.close()\n"
	"pool.join()\n"
	"sys.stdout.flush()\n"
	"sys.exit(3)\n";

/* python3: threads, a child interpreter, a shell pipeline, a fork pool.
 * tr waits for its input a while: the daemon names a process from /proc,
 * so one gone before it could look is "?" (README, Troubleshooting). */
static void transparent_python(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, with = { 0 };
	char py[PATH_MAX];
	char *argv[] = { py, "-c", python_workload, NULL };

	/* Debian's interpreter when there is one: a version manager's shim is
	 * a shell script, not the program under test. */
	if (access("/usr/bin/python3", X_OK) == 0)
		snprintf(py, sizeof(py), "/usr/bin/python3");
	else
		REQUIRE(it_which("python3", py, sizeof(py)) == 0);
	REQUIRE(both_ways(&d, argv, NULL, NULL, &plain, &with) == 0);
	CHECK(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 3);
	CHECK(strstr(with.out, "child 4 4999950000\n") != NULL);
	CHECK(strstr(with.out, "shell 0 HELLO\n") != NULL);
	CHECK(strstr(with.out, "pool 9000000\n") != NULL);
	CHECK(strstr(with.out, "pool bytes 800000\n") != NULL);
	/* The top interpreter, the child one and the pool's two workers. */
	CHECK(it_wait_seen_comm(d.url, "python3", 4));
	CHECK(it_wait_seen_short(d.url, "tr", 1));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

static char bash_workload[] =
	"set -u\n"
	"seq 1 30000 | sort -rn | tr 0-9 a-j | md5sum\n"
	"echo \"pipe ${PIPESTATUS[*]}\"\n"
	"f() { echo $(( $1 * 2 )); }\n"
	"s=0\n"
	"for i in $(seq 1 40); do s=$(( s + $(f $i) )); done\n"
	"echo \"sum $s\"\n"
	"( exit 7 ); echo \"subshell $?\"\n"
	"exit 5\n";

/* bash: a four-stage pipeline, command substitutions (forks without exec). */
static void transparent_bash(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, with = { 0 };
	char bash[PATH_MAX];
	char *argv[] = { bash, "-c", bash_workload, NULL };

	REQUIRE(it_which("bash", bash, sizeof(bash)) == 0);
	REQUIRE(both_ways(&d, argv, NULL, NULL, &plain, &with) == 0);
	CHECK(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 5);
	CHECK(strstr(with.out, "pipe 0 0 0 0\nsum 1640\nsubshell 7\n") != NULL);
	CHECK(it_wait_seen_short(d.url, "seq", 2));
	CHECK(it_wait_seen_short(d.url, "sort", 1));
	CHECK(it_wait_seen_short(d.url, "tr", 1));
	CHECK(it_wait_seen_short(d.url, "md5sum", 1));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* Writes n lines of pseudo-random words and numbers to path. */
static int write_lines(const char *path, int n)
{
	FILE *f = fopen(path, "w");
	uint64_t x = 88172645463325252ull;

	if (f == NULL)
		return -errno;
	for (int i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fprintf(f, "%08llx %llu line%d\n", (unsigned long long)(x >> 32),
		    (unsigned long long)(x % 100000), i);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* sort: 200k lines, threads and a small buffer, so it merges temp files. */
static void transparent_sort(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, with = { 0 };
	char sort[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX];
	char *argv[] = { sort, "--parallel=4", "-S", "1M", "-T", tmp, "-k2,2n", "-k1,1",
		file, NULL };

	file[0] = tmp[0] = '\0';
	REQUIRE(it_which("sort", sort, sizeof(sort)) == 0);
	REQUIRE(it_tmpdir(tmp, sizeof(tmp)) == 0);
	snprintf(file, sizeof(file), "%s/lines.txt", tmp);
	REQUIRE(write_lines(file, 200000) == 0);
	REQUIRE(both_ways(&d, argv, NULL, "LC_ALL=C", &plain, &with) == 0);
	CHECK(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 0);
	CHECK(with.len > 200000 * 20);
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
	it_rmtree(tmp);
}

/* Writes a small C project whose Makefile builds 8 objects and runs the
 * program; only the program prints. */
static int write_project(const char *dir)
{
	char path[PATH_MAX];
	FILE *f;

	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "%s/f%d.c", dir, i);
		if ((f = fopen(path, "w")) == NULL)
			return -errno;
		fprintf(f, "#include <stdlib.h>\n#include <string.h>\n"
		    "int f%d(int n);\n"
		    "int f%d(int n)\n{\n\tchar *p = malloc(1000 + n);\n\tint s = 0;\n"
		    "\tmemset(p, %d, 1000 + n);\n\tfor (int i = 0; i < 1000 + n; i++)\n"
		    "\t\ts += p[i];\n\tfree(p);\n\treturn s;\n}\n", i, i, i + 1);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/main.c", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -errno;
	fprintf(f, "#include <stdio.h>\n");
	for (int i = 0; i < 8; i++)
		fprintf(f, "int f%d(int n);\n", i);
	fprintf(f, "int main(void)\n{\n\tlong s = 0;\n");
	for (int i = 0; i < 8; i++)
		fprintf(f, "\ts += f%d(%d);\n", i, i * 10);
	fprintf(f, "\tprintf(\"total %%ld\\n\", s);\n\treturn (int)(s %% 7) + 10;\n}\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/Makefile", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -errno;
	fprintf(f, "OBJS = main.o f0.o f1.o f2.o f3.o f4.o f5.o f6.o f7.o\n"
	    "all: prog\n\t@./prog > result.txt; echo \"prog exit $$?\" >> result.txt\n"
	    "\t@cat result.txt\n"
	    "prog: $(OBJS)\n\t@$(CC) -o $@ $(OBJS)\n"
	    "%%.o: %%.c\n\t@$(CC) -O1 -c -o $@ $<\n"
	    "clean:\n\t@rm -f prog *.o result.txt\n");
	return fclose(f) == 0 ? 0 : -errno;
}

/* make -j4 of a small C project: make, its jobserver, cc and its passes. */
static void transparent_make(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, with = { 0 };
	char make[PATH_MAX], cc[PATH_MAX], dir[PATH_MAX] = "", errpath[PATH_MAX];
	char *argv[] = { make, "-s", "-j4", "--no-print-directory", NULL };
	char *clean[] = { make, "-s", "clean", NULL };
	char ccvar[PATH_MAX + 8];
	struct it_outcome c = { 0 };

	REQUIRE(it_which("make", make, sizeof(make)) == 0);
	if (it_which("cc", cc, sizeof(cc)) < 0)
		REQUIRE(it_which("gcc", cc, sizeof(cc)) == 0);
	snprintf(ccvar, sizeof(ccvar), "CC=%s", cc);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	REQUIRE(write_project(dir) == 0);
	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d.dir);
	it_run_workload(argv, dir, NULL, ccvar, errpath, &plain);
	it_run_workload(clean, dir, NULL, ccvar, errpath, &c);
	CHECK(c.status == 0);
	snprintf(errpath, sizeof(errpath), "%s/agent.stderr", d.dir);
	it_run_workload(argv, dir, d.sock, ccvar, errpath, &with);
	CHECK(it_compare("make", &plain, &with) == 0);
	CHECK(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 0);
	CHECK(strstr(with.out, "total ") != NULL && strstr(with.out, "prog exit 1") != NULL);
	if (with.pid > 0)
		CHECK(it_wait_seen_pid(d.url, with.pid, "make"));
	CHECK(it_wait_seen_short(d.url, "prog", 1));
	CHECK(it_wait_seen_short(d.url, "cc1", 9));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	it_outcome_free(&c);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
	it_rmtree(dir);
}

/* The C stress test: 8 threads, every entry point, data checked. Its
 * totals must also be the agent's, give or take the C runtime's own. */
static void transparent_stress(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, with = { 0 };
	char bin[PATH_MAX + 32];
	char *argv[] = { bin, "3", NULL };
	unsigned long long allocs, frees, reallocs;
	double v;
	struct it_http r = { 0 };

	snprintf(bin, sizeof(bin), "%s/tests/progs/stress", itest.build);
	REQUIRE(both_ways(&d, argv, NULL, NULL, &plain, &with) == 0);
	CHECK(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 0);
	REQUIRE(with.out != NULL && sscanf(with.out, "stress: ok threads=8 rounds=3 allocs=%llu "
	    "frees=%llu reallocs=%llu", &allocs, &frees, &reallocs) == 3);
	/* A realloc counts as a free and an allocation. The runtime adds a few
	 * (thread start, stdio's buffer, libstdc++'s exception pool under a
	 * UBSan agent); the program frees all its own at the end. */
	if (!it_wait_metric(d.url, "memprobe_process_exited", with.pid, 1, 1, IT_TIMEOUT_MS, &v)) {
		fprintf(stderr, "  stress (pid %ld) not shown as exited\n", with.pid);
		CHECK(0);
	}
	REQUIRE(it_get(d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(it_metric_pid(r.body, "memprobe_heap_allocations_total", with.pid, &v));
	CHECK_U64(v, >=, allocs + reallocs);
	CHECK_U64(v, <=, allocs + reallocs + 100);
	CHECK(it_metric_pid(r.body, "memprobe_heap_frees_total", with.pid, &v));
	CHECK_U64(v, >=, frees + reallocs);
	CHECK_U64(v, <=, frees + reallocs + 100);
	CHECK(it_metric_pid(r.body, "memprobe_heap_live_bytes", with.pid, &v));
	CHECK_U64(v, <, 256 * 1024);
	CHECK(it_metric_pid(r.body, "memprobe_heap_failed_allocations_total", with.pid, &v));
	CHECK_U64(v, ==, 0);
out:
	it_http_free(&r);
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- exported symbols ---- */

/* What the agent may export: its hooks (the malloc family, _exit/_Exit;
 * the mapping and thread-start hooks) and its API. */
static const char *const required_syms[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
	"_exit", "_Exit", "exit", "quick_exit", "memprobe_snapshot", "memprobe_flush", "memprobe_gauge_set",
};
static const char *const optional_syms[] = {
	"mmap", "mmap64", "munmap", "mremap", "pthread_create",
};

static int listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

#define NREQ (sizeof(required_syms) / sizeof(required_syms[0]))
#define NOPT (sizeof(optional_syms) / sizeof(optional_syms[0]))

/* nm -D --defined-only: exactly the hooks and memprobe_*, nothing else. */
static void exported_symbols(void)
{
	char cmd[PATH_MAX + 64], line[512], name[256], type[8];
	int found[NREQ] = { 0 }, n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>&1", itest.agent);
	f = popen(cmd, "r");
	REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		char addr[64];
		char *at;

		if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3) {
			fprintf(stderr, "  nm: \"%s\"\n", line);
			CHECK(0);
			continue;
		}
		if ((at = strchr(name, '@')) != NULL)
			*at = '\0';     /* a version suffix */
		n++;
		if (listed(name, required_syms, NREQ)) {
			for (size_t i = 0; i < NREQ; i++)
				if (strcmp(name, required_syms[i]) == 0)
					found[i] = 1;
			continue;
		}
		if (listed(name, optional_syms, NOPT) || strncmp(name, "memprobe_", 9) == 0)
			continue;
		fprintf(stderr, "  libmemprobe.so exports %s (%s), which is neither a hook "
		    "nor memprobe_*\n", name, type);
		CHECK(0);
	}
	st = pclose(f);
	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(n > 0);
	for (size_t i = 0; i < NREQ; i++)
		if (!found[i]) {
			fprintf(stderr, "  libmemprobe.so does not export %s\n", required_syms[i]);
			CHECK(0);
		}
out:
	;
}

/*
 * The daemon stopped (SIGSTOP: its socket accepts into the backlog, then
 * its buffers fill) and then killed (the socket file stays, nothing
 * listens): the stress test, sampling every 10 ms so that the buffers do
 * fill, prints what it prints without the agent and exits the same, and
 * finishes (the agent never waits for the daemon). Once continued, the
 * daemon reads what was queued and shows the run as exited. Run times are
 * printed, not asserted.
 */
static void transparent_daemon_stopped_killed(void)
{
	struct it_daemon d = { 0 };
	struct it_outcome plain = { 0 }, stopped = { 0 }, killed = { 0 };
	char bin[PATH_MAX + 32], errpath[PATH_MAX];
	char *argv[] = { bin, "20", NULL };
	const char *fast = "MEMPROBE_INTERVAL_MS=10";
	long long t0, t_plain, t_stopped, t_killed;
	double v;

	snprintf(bin, sizeof(bin), "%s/tests/progs/stress", itest.build);
	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d.dir);
	t0 = it_now_ms();
	it_run_workload(argv, NULL, NULL, NULL, errpath, &plain);
	t_plain = it_now_ms() - t0;

	REQUIRE(kill(d.proc.pid, SIGSTOP) == 0);
	snprintf(errpath, sizeof(errpath), "%s/stopped.stderr", d.dir);
	t0 = it_now_ms();
	it_run_workload(argv, NULL, d.sock, fast, errpath, &stopped);
	t_stopped = it_now_ms() - t0;
	REQUIRE(kill(d.proc.pid, SIGCONT) == 0);
	CHECK(it_compare("stress, daemon stopped", &plain, &stopped) == 0);
	CHECK(WIFEXITED(stopped.status) && WEXITSTATUS(stopped.status) == 0);
	CHECK(it_wait_metric(d.url, "memprobe_process_exited", stopped.pid, 1, 1, IT_TIMEOUT_MS, &v));

	it_proc_kill(&d.proc);                          /* SIGKILL: the file stays */
	REQUIRE(access(d.sock, F_OK) == 0);
	snprintf(errpath, sizeof(errpath), "%s/killed.stderr", d.dir);
	t0 = it_now_ms();
	it_run_workload(argv, NULL, d.sock, fast, errpath, &killed);
	t_killed = it_now_ms() - t0;
	CHECK(it_compare("stress, daemon killed", &plain, &killed) == 0);
	CHECK(WIFEXITED(killed.status) && WEXITSTATUS(killed.status) == 0);
	printf("info transparent_daemon_stopped_killed: stress 20 took %lld ms without the agent, "
	    "%lld ms with it and the daemon stopped, %lld ms with the daemon killed\n",
	    t_plain, t_stopped, t_killed);
out:
	if (harness_failures)
		it_daemon_dump_log(&d);
	it_outcome_free(&plain);
	it_outcome_free(&stopped);
	it_outcome_free(&killed);
	if (d.proc.pid != 0)
		kill(d.proc.pid, SIGCONT);
	it_daemon_stop(&d);
}

int itest_transparency_run(void)
{
	if (it_selected("exported_symbols"))
		RUN_TEST(exported_symbols);
	if (it_selected("transparent_stress"))
		RUN_TEST(transparent_stress);
	if (it_selected("transparent_daemon_stopped_killed"))
		RUN_TEST(transparent_daemon_stopped_killed);
	if (it_selected("transparent_bash"))
		RUN_TEST(transparent_bash);
	if (it_selected("transparent_sort"))
		RUN_TEST(transparent_sort);
	if (it_selected("transparent_make"))
		RUN_TEST(transparent_make);
	if (it_selected("transparent_python"))
		RUN_TEST(transparent_python);
	return harness_failed_tests;
}
