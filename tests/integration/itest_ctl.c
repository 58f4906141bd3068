/* itest_ctl.c: memprobectl against a live daemon: ps, show, watch, run, and its exit codes. */
#include "harness.h"
#include "itest_util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* 16 MiB held in 1024 blocks; glibc's usable size of a 16 KiB block is
 * 16392 B and the program holds a few more, so 2% above. */
#define HOLD_BLOCKS 1024
#define HOLD_SIZE   16384
#define HOLD_LO     ((double)HOLD_BLOCKS * HOLD_SIZE)
#define HOLD_HI     (HOLD_LO * 1.02)
/* A second, smaller program for the order of `ps`. */
#define SMALL_BLOCKS 64
#define SMALL_SIZE   4096

#define OUT_MAX     65536
#define NO_PID      "2147483646"

/* What one memprobectl run gave. */
struct ctl_result {
	int status;             /* exit status, or -1 if it did not exit normally */
	int signal;             /* the signal that ended it, or 0 */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static char ctl_path[PATH_MAX + 16];
static char err_path[PATH_MAX];
static char work_dir[64];

/*
 * Runs memprobectl with ARGV (after its name; NULL-terminated) and the
 * environment additions ENV (NULL-terminated or NULL), stdin closed at
 * once, and waits for it. Returns 0, or -1 when it did not finish in time.
 */
static int ctl_exec(struct ctl_result *r, char *const argv[], char *const env[])
{
	char *full[64];
	size_t n = 0;
	int st;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	full[n++] = ctl_path;
	for (size_t i = 0; argv[i] != NULL && n < 63; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	st = it_run(full, env, err_path, r->out, sizeof(r->out));
	it_slurp(err_path, r->err, sizeof(r->err));
	if (st == -1) {
		fprintf(stderr, "  memprobectl %s ... did not finish\n", argv[0]);
		return -1;
	}
	if (WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		r->signal = WTERMSIG(st);
	return 0;
}

/* Prints what a run gave, after a failed check. */
static void ctl_dump(const char *what, const struct ctl_result *r)
{
	fprintf(stderr, "  memprobectl %s: status %d signal %d\n  stdout:\n%s\n  stderr:\n%s\n",
	    what, r->status, r->signal, r->out, r->err);
}

/* The line of S that starts (after blanks) with WORD followed by a blank;
 * copied into LINE. Returns 1 if found. */
static int line_starting(const char *s, const char *word, char *line, size_t size)
{
	size_t wl = strlen(word);

	while (*s) {
		const char *end = strchr(s, '\n');
		const char *p = s;
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);

		while (*p == ' ')
			p++;
		if (strncmp(p, word, wl) == 0 && p[wl] == ' ') {
			if (len >= size)
				len = size - 1;
			memcpy(line, s, len);
			line[len] = '\0';
			return 1;
		}
		if (end == NULL)
			break;
		s = end + 1;
	}
	return 0;
}

/* The n-th (from 0) blank-separated field of LINE as a number, or -1. */
static double field(const char *line, int n)
{
	const char *p = line;

	for (int i = 0;; i++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -1;
		if (i == n)
			return isdigit((unsigned char)*p) ? strtod(p, NULL) : -1;
		while (*p != ' ' && *p != '\0')
			p++;
	}
}

struct heap_wait {
	const char *url;
	long pid;
	double lo, hi;
	int need_proc;          /* and the /proc figures (read every few seconds) */
};

/* The API shows the program's heap in range and the history has points. */
static int heap_ready(void *arg)
{
	struct heap_wait *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	double v = -1, blocks = -1;
	int ok;

	ok = e != NULL && it_json_num(e, "heap.live_bytes", &v) && v >= w->lo && v <= w->hi &&
	    it_json_num(e, "heap.live_blocks", &blocks) && blocks >= 1 &&
	    (!w->need_proc || it_json_num(e, "proc.resident_bytes", &v));
	json_decref(e);
	return ok;
}

static int setup(struct it_daemon *d, int ttl)
{
	snprintf(ctl_path, sizeof(ctl_path), "%s/memprobectl", itest.build);
	if (it_tmpdir(work_dir, sizeof(work_dir)) < 0)
		return -1;
	snprintf(err_path, sizeof(err_path), "%s/stderr", work_dir);
	return it_daemon_start(d, ttl);
}

static void teardown(struct it_daemon *d)
{
	if (harness_failures)
		it_daemon_dump_log(d);
	CHECK(it_daemon_stop(d) == 0);
	it_rmtree(work_dir);
	work_dir[0] = '\0';
}

static void ctl_ps(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_proc big = { .in_fd = -1, .out_fd = -1 }, small = { .in_fd = -1, .out_fd = -1 };
	struct heap_wait hw;
	static struct ctl_result r;
	char line[512], pidtext[32], smalltext[32];
	json_t *root = NULL, *procs, *e;
	long pid, spid;
	size_t i;
	int found = 0;
	double v;

	REQUIRE(setup(&d, 60) == 0);
	pid = it_hold_start(&big, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	spid = it_hold_start(&small, d.sock, SMALL_BLOCKS, SMALL_SIZE, NULL);
	REQUIRE(spid > 0);
	hw = (struct heap_wait){ d.url, pid, HOLD_LO, HOLD_HI, 0 };
	REQUIRE(it_wait_until(heap_ready, &hw, IT_TIMEOUT_MS));
	hw = (struct heap_wait){ d.url, spid, (double)SMALL_BLOCKS * SMALL_SIZE, 1e9, 0 };
	REQUIRE(it_wait_until(heap_ready, &hw, IT_TIMEOUT_MS));
	snprintf(pidtext, sizeof(pidtext), "%ld", pid);
	snprintf(smalltext, sizeof(smalltext), "%ld", spid);

	/* --json: the API's list, with the program's figure. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "ps", "--json", NULL }, NULL) == 0);
	CHECK(r.status == 0);
	root = json_loads(r.out, 0, NULL);
	procs = json_object_get(root, "processes");
	CHECK(json_is_array(procs));
	json_array_foreach(procs, i, e) {
		if (json_integer_value(json_object_get(e, "pid")) != pid)
			continue;
		found = 1;
		CHECK_STR(json_string_value(json_object_get(e, "comm")), "alloc_hold");
		CHECK(it_json_num(e, "heap.live_bytes", &v));
		CHECK_U64(v, >=, HOLD_LO);
		CHECK_U64(v, <=, HOLD_HI);
		CHECK(it_json_num(e, "heap.live_blocks", &v));
		CHECK_U64(v, >=, HOLD_BLOCKS);
	}
	CHECK(found);
	if (harness_failures)
		ctl_dump("ps --json", &r);

	/* The table: the program's row with its heap in human units, the
	 * bigger heap first. */
	REQUIRE(ctl_exec(&r, (char *[]){ "ps", "--url", d.url, NULL }, NULL) == 0);
	CHECK(r.status == 0);
	CHECK(strstr(r.out, "PID  COMM") != NULL && strstr(r.out, "PID  COMM") < strchr(r.out, '\n'));
	CHECK(strstr(r.out, "STACK%") != NULL && strstr(r.out, "RSS") != NULL);
	CHECK(line_starting(r.out, pidtext, line, sizeof(line)));
	CHECK(strstr(line, "alloc_hold") != NULL && strstr(line, "live") != NULL);
	CHECK(strstr(line, "16.0 MiB") != NULL || strstr(line, "16.1 MiB") != NULL);
	CHECK(strstr(r.out, pidtext) != NULL && strstr(r.out, smalltext) != NULL &&
	    strstr(r.out, pidtext) < strstr(r.out, smalltext));
	if (harness_failures)
		ctl_dump("ps", &r);

	/* --bytes: HEAP (the 4th column) as a number in range. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "--bytes", "ps", "--sort", "pid", NULL },
	    NULL) == 0);
	CHECK(r.status == 0);
	CHECK(line_starting(r.out, pidtext, line, sizeof(line)));
	v = field(line, 3);
	CHECK_U64(v, >=, HOLD_LO);
	CHECK_U64(v, <=, HOLD_HI);
	/* --sort pid: ascending */
	CHECK((pid < spid) == (strstr(r.out, pidtext) < strstr(r.out, smalltext)));
	if (harness_failures)
		ctl_dump("--bytes ps --sort pid", &r);
out:
	json_decref(root);
	it_proc_kill(&big);
	it_proc_kill(&small);
	teardown(&d);
}

static void ctl_show(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct heap_wait hw;
	static struct ctl_result r;
	char pidtext[32], *p;
	json_t *root = NULL;
	long pid;
	double v;

	REQUIRE(setup(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	hw = (struct heap_wait){ d.url, pid, HOLD_LO, HOLD_HI, 1 };
	REQUIRE(it_wait_until(heap_ready, &hw, IT_TIMEOUT_MS));
	snprintf(pidtext, sizeof(pidtext), "%ld", pid);

	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "show", pidtext, NULL }, NULL) == 0);
	CHECK(r.status == 0);
	CHECK(strncmp(r.out, "alloc_hold, pid ", 16) == 0);
	CHECK(strstr(r.out, "\nHeap\n") != NULL && strstr(r.out, "\nStack\n") != NULL);
	CHECK(strstr(r.out, "16.0 MiB in ") != NULL || strstr(r.out, "16.1 MiB in ") != NULL);
	/* The histogram: every block is in the 16 KiB < size <= 64 KiB bucket
	 * (a 16384-byte request), drawn as the longest bar. */
	p = strstr(r.out, "<= 64 KiB");
	CHECK(p != NULL && strstr(p, "########################################") != NULL &&
	    strchr(p, '\n') > strstr(p, "####"));
	CHECK(p != NULL && field(p + strlen("<= 64 KiB"), 0) >= HOLD_BLOCKS);
	CHECK(strstr(r.out, "not each thread's peak") != NULL);
	CHECK(strstr(r.out, "/status)\n  resident ") != NULL);
	if (harness_failures)
		ctl_dump("show", &r);

	/* --bytes: the live heap figure exactly as the API has it, in range. */
	REQUIRE(ctl_exec(&r, (char *[]){ "show", "--bytes", pidtext, "--url", d.url, NULL },
	    NULL) == 0);
	CHECK(r.status == 0);
	p = strstr(r.out, "\n  live ");
	CHECK(p != NULL);
	if (p != NULL) {
		v = field(p + 7, 0);
		CHECK_U64(v, >=, HOLD_LO);
		CHECK_U64(v, <=, HOLD_HI);
	}

	/* --json: the API's object, histogram included. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--json", "--url", d.url, "show", pidtext, NULL },
	    NULL) == 0);
	CHECK(r.status == 0);
	root = json_loads(r.out, 0, NULL);
	CHECK(json_integer_value(json_object_get(root, "pid")) == pid);
	CHECK(json_is_array(json_object_get(json_object_get(root, "histogram"), "buckets")));
	CHECK(it_json_num(root, "heap.live_bytes", &v));
	CHECK_U64(v, >=, HOLD_LO);
	if (harness_failures)
		ctl_dump("show --json", &r);
out:
	json_decref(root);
	it_proc_kill(&hold);
	teardown(&d);
}

static void ctl_watch(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct heap_wait hw;
	static struct ctl_result r;
	char pidtext[32], line[512], *s;
	json_t *root = NULL;
	long pid;

	REQUIRE(setup(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	hw = (struct heap_wait){ d.url, pid, HOLD_LO, HOLD_HI, 0 };
	REQUIRE(it_wait_until(heap_ready, &hw, IT_TIMEOUT_MS));
	snprintf(pidtext, sizeof(pidtext), "%ld", pid);

	/* stdout is a pipe: plain lines, one per refresh, then the end. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "watch", pidtext, "--count", "3",
	    "--interval", "0.2", NULL }, NULL) == 0);
	CHECK(r.status == 0);
	CHECK(it_count_lines(r.out) == 3);
	CHECK(strchr(r.out, '\033') == NULL);
	s = r.out;
	for (int i = 0; i < 3 && s != NULL; i++) {
		/* "HH:MM:SS PID alloc_hold live heap 16.0 MiB ..." */
		CHECK(strlen(s) > 9 && s[2] == ':' && s[5] == ':' && s[8] == ' ');
		CHECK(strncmp(s + 9, pidtext, strlen(pidtext)) == 0);
		CHECK(strncmp(s + 9 + strlen(pidtext), " alloc_hold live heap 16.", 25) == 0);
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	if (harness_failures)
		ctl_dump("watch PID --count 3", &r);

	/* Every process, --bytes: the program's line with its exact heap. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "--bytes", "watch", "--count", "1", NULL },
	    NULL) == 0);
	CHECK(r.status == 0);
	snprintf(line, sizeof(line), " %s alloc_hold live heap ", pidtext);
	s = strstr(r.out, line);
	CHECK(s != NULL);
	if (s != NULL) {
		double v = strtod(s + strlen(line), NULL);

		CHECK_U64(v, >=, HOLD_LO);
		CHECK_U64(v, <=, HOLD_HI);
	}
	if (harness_failures)
		ctl_dump("watch --count 1", &r);

	/* --json: one JSON object per line. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "watch", "--json", "--count", "2",
	    "--interval", "0.1", NULL }, NULL) == 0);
	CHECK(r.status == 0);
	CHECK(it_count_lines(r.out) == 2);
	s = strchr(r.out, '\n');
	if (s != NULL)
		*s = '\0';
	root = json_loads(r.out, 0, NULL);
	CHECK(json_is_array(json_object_get(root, "processes")));
	if (harness_failures)
		ctl_dump("watch --json", &r);

	/* A pid the daemon does not track: watch PID ends at once with 1. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "watch", NO_PID, "--count", "2", NULL },
	    NULL) == 0);
	CHECK(r.status == 1);
	CHECK(it_count_lines(r.err) == 1);
out:
	json_decref(root);
	it_proc_kill(&hold);
	teardown(&d);
}

static void ctl_exit_codes(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	static struct ctl_result r;
	char dead[64];
	int port;

	REQUIRE(setup(&d, 60) == 0);

	/* 1: the daemon tracks no such process. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "show", NO_PID, NULL }, NULL) == 0);
	CHECK(r.status == 1);
	CHECK(it_count_lines(r.err) == 1 && strstr(r.err, NO_PID) != NULL);
	CHECK(r.out[0] == '\0');
	if (harness_failures)
		ctl_dump("show " NO_PID, &r);

	/* 2: usage errors, each one line. */
	{
		/* Longer than the 107 bytes of a socket path. */
		char lsock[] = "/tmp/" "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789" "0123456789012345678901234567890";
		char *const cases[][8] = {
			{ "--url", d.url, NULL },                       /* no command */
			{ "--url", d.url, "frobnicate", NULL },
			{ "--url", d.url, "ps", "--sort", "size", NULL },
			{ "--url", d.url, "ps", "--bogus", NULL },
			{ "--url", d.url, "ps", "--sort", NULL },
			{ "--url", d.url, "ps", "--sort=size", NULL },
			{ "--url", d.url, "--bogus", "ps", NULL },
			{ "--url", d.url, "show", NULL },
			{ "--url", d.url, "show", "abc", NULL },
			{ "--url", d.url, "show", "1", "2", NULL },
			{ "--url", d.url, "watch", "--interval", "0", NULL },
			{ "--url", d.url, "run", NULL },
			{ "--url", d.url, "run", "--socket", lsock, "--", "/bin/true", NULL },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			REQUIRE(ctl_exec(&r, cases[i], NULL) == 0);
			if (r.status != 2 || it_count_lines(r.err) != 1 ||
			    strncmp(r.err, "memprobectl: ", 13) != 0) {
				fprintf(stderr, "  case %zu (%s ...):\n", i, cases[i][2] ?
				    cases[i][2] : "(none)");
				ctl_dump("usage case", &r);
				CHECK(0);
			}
		}
	}

	/* 3: nothing listens there. */
	port = it_free_port();
	REQUIRE(port > 0);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", port);
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", dead, "ps", NULL }, NULL) == 0);
	CHECK(r.status == 3);
	CHECK(it_count_lines(r.err) == 1 && strstr(r.err, "cannot reach memprobed") != NULL);
	/* MEMPROBE_URL as well as --url: the environment names the daemon. */
	{
		char env[96];

		snprintf(env, sizeof(env), "MEMPROBE_URL=%s", dead);
		REQUIRE(ctl_exec(&r, (char *[]){ "watch", "--count", "1", NULL },
		    (char *[]){ env, NULL }) == 0);
		CHECK(r.status == 3);
		CHECK(it_count_lines(r.err) == 1);
		snprintf(env, sizeof(env), "MEMPROBE_URL=%s", d.url);
		REQUIRE(ctl_exec(&r, (char *[]){ "ps", NULL }, (char *[]){ env, NULL }) == 0);
		CHECK(r.status == 0);
	}
	/* An https URL against this plain-HTTP daemon: the hint names plain
	 * HTTP and the http:// URL, and blames no client certificate. */
	{
		char https[96], want[112];

		REQUIRE(strncmp(d.url, "http://", 7) == 0);
		snprintf(https, sizeof(https), "https%s", d.url + 4);
		snprintf(want, sizeof(want), "plain HTTP, not TLS: try %s)", d.url);
		REQUIRE(ctl_exec(&r, (char *[]){ "--url", https, "ps", NULL }, NULL) == 0);
		CHECK(r.status == 3);
		CHECK(it_count_lines(r.err) == 1 && strstr(r.err, "cannot reach memprobed") != NULL);
		CHECK(strstr(r.err, want) != NULL && strstr(r.err, "--cert") == NULL);
		if (harness_failures)
			ctl_dump("--url https://... ps", &r);
	}
	/* Help: 0, on stdout, per command; -h as --help. */
	REQUIRE(ctl_exec(&r, (char *[]){ "run", "--help", NULL }, NULL) == 0);
	CHECK(r.status == 0 && strncmp(r.out, "usage: memprobectl run", 22) == 0);
	REQUIRE(ctl_exec(&r, (char *[]){ "-h", NULL }, NULL) == 0);
	CHECK(r.status == 0 && strncmp(r.out, "usage: memprobectl [", 20) == 0 && r.err[0] == '\0');
	REQUIRE(ctl_exec(&r, (char *[]){ "ps", "-h", NULL }, NULL) == 0);
	CHECK(r.status == 0 && strncmp(r.out, "usage: memprobectl ps", 21) == 0);
	/* "--opt=VALUE" as "--opt VALUE". */
	{
		char urlopt[96];

		snprintf(urlopt, sizeof(urlopt), "--url=%s", d.url);
		REQUIRE(ctl_exec(&r, (char *[]){ urlopt, "ps", "--sort=pid", NULL }, NULL) == 0);
		CHECK(r.status == 0 && strstr(r.out, "PID") != NULL);
	}
	REQUIRE(ctl_exec(&r, (char *[]){ "help", "watch", NULL }, NULL) == 0);
	CHECK(r.status == 0 && strncmp(r.out, "usage: memprobectl watch", 24) == 0);
out:
	teardown(&d);
}

/* The "heap peak N B" figure in a run's report, or -1. */
static double reported_peak(const char *err)
{
	const char *p = strstr(err, "heap peak ");

	return p != NULL ? strtod(p + 10, NULL) : -1;
}

static void ctl_run(void)
{
	struct it_daemon d = { .proc = { .in_fd = -1, .out_fd = -1 } };
	static struct ctl_result r;
	char nb[16], sz[16], sockenv[PATH_MAX + 32], missing[PATH_MAX];
	struct it_proc p = { .in_fd = -1, .out_fd = -1 };
	char line[128];
	double v;

	REQUIRE(setup(&d, 60) == 0);
	snprintf(nb, sizeof(nb), "%d", HOLD_BLOCKS);
	snprintf(sz, sizeof(sz), "%d", HOLD_SIZE);
	snprintf(sockenv, sizeof(sockenv), "MEMPROBE_SOCKET=%s", d.sock);

	/* The exit status passes through; the peaks come from the daemon. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "run", "--", "sh", "-c", "exit 7", NULL },
	    (char *[]){ sockenv, NULL }) == 0);
	CHECK(r.status == 7);
	CHECK(strstr(r.err, "sh (pid ") != NULL && strstr(r.err, "exited with status 7") != NULL);
	CHECK(strstr(r.err, "heap peak ") != NULL && strstr(r.err, "stack peak ") != NULL);
	if (harness_failures)
		ctl_dump("run -- sh -c 'exit 7'", &r);

	/* alloc_hold (ends at end of input, which comes at once): its peak is
	 * the 16 MiB it held, within 2%. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "--bytes", "run", "--socket", d.sock,
	    itest.alloc_hold, nb, sz, NULL }, NULL) == 0);
	CHECK(r.status == 0);
	CHECK(strncmp(r.out, "ready ", 6) == 0);
	v = reported_peak(r.err);
	CHECK_U64(v, >=, HOLD_LO);
	CHECK_U64(v, <=, HOLD_HI);
	CHECK(strstr(r.err, " B, stack peak ") != NULL && strstr(r.err, " of 8") != NULL);
	if (harness_failures)
		ctl_dump("run alloc_hold", &r);

	/* Killed by a signal: 128 + the signal. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "run", "--socket", d.sock, "--",
	    "sh", "-c", "kill -TERM $$", NULL }, NULL) == 0);
	CHECK(r.status == 128 + SIGTERM);
	CHECK(strstr(r.err, "killed by signal 15") != NULL);

	/* A command that is not there: 127. */
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "run", "/nonexistent/prog", NULL },
	    NULL) == 0);
	CHECK(r.status == 127);
	CHECK(it_count_lines(r.err) == 1);

	/* The daemon never hears from it: "not reported", status kept. */
	snprintf(missing, sizeof(missing), "%s/no.sock", work_dir);
	REQUIRE(ctl_exec(&r, (char *[]){ "--url", d.url, "run", "--wait", "0.5", "--socket",
	    missing, "sh", "-c", "exit 3", NULL }, NULL) == 0);
	CHECK(r.status == 3);
	CHECK(strstr(r.err, "not reported") != NULL);
	if (harness_failures)
		ctl_dump("run (no daemon socket)", &r);

	/* SIGTERM to memprobectl reaches CMD, whose status comes back; the
	 * peak is the last sample's (a signal leaves the agent no final one),
	 * so the test waits for a sample that has the heap. */
	{
		char *argv[] = { ctl_path, "--url", d.url, "--bytes", "run", "--socket", d.sock,
			itest.alloc_hold, nb, sz, NULL };
		struct heap_wait hw = { d.url, 0, HOLD_LO, HOLD_HI, 0 };

		REQUIRE(it_proc_start(&p, argv, (char *[]){ "MEMPROBE_INTERVAL_MS=100", NULL },
		    err_path) == 0);
		REQUIRE(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
		CHECK(strncmp(line, "ready ", 6) == 0);
		hw.pid = strtol(line + 6, NULL, 10);
		CHECK(it_wait_until(heap_ready, &hw, IT_TIMEOUT_MS));
		REQUIRE(it_proc_stop(&p, SIGTERM, IT_TIMEOUT_MS) == 0);
		CHECK(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 128 + SIGTERM);
		it_slurp(err_path, r.err, sizeof(r.err));
		CHECK(strstr(r.err, "killed by signal 15") != NULL);
		v = reported_peak(r.err);
		CHECK_U64(v, >=, HOLD_LO * 0.99);
		if (harness_failures)
			fprintf(stderr, "  run, SIGTERM: stderr:\n%s\n", r.err);
	}
out:
	it_proc_kill(&p);
	teardown(&d);
}

int itest_ctl_run(void)
{
	if (it_selected("ctl_ps"))
		RUN_TEST(ctl_ps);
	if (it_selected("ctl_show"))
		RUN_TEST(ctl_show);
	if (it_selected("ctl_watch"))
		RUN_TEST(ctl_watch);
	if (it_selected("ctl_exit_codes"))
		RUN_TEST(ctl_exit_codes);
	if (it_selected("ctl_run"))
		RUN_TEST(ctl_run);
	return harness_failed_tests;
}
