/* itest_guest.c: the agent as an invisible guest: hostile programs see themselves the same with it as without (issue 12). */
#include "harness.h"
#include "itest_util.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * One test per failure class of issue 12, each with real programs
 * (tests/progs/guest_*.c, util-linux, CPython in tests/shell/test_cpython.sh):
 * the program runs without the agent and with it reporting to a real
 * daemon, must print and end the same, and the daemon must show what it
 * should. The programs print nothing that depends on timing.
 */

#define HOLD_N    32
#define HOLD_SIZE 65536

/* build/tests/progs/NAME into out. */
static void prog(char *out, size_t size, const char *name)
{
	if (snprintf(out, size, "%s/tests/progs/%s", itest.build, name) >= (int)size)
		out[0] = '\0';
}

/* The daemon shows pid with at least one allocation counted: the agent
 * was there and reporting. */
static int agent_seen(const struct it_daemon *d, long pid)
{
	return pid > 0 && it_wait_api_num(d->url, pid, "heap.allocations", 1);
}

/* ---- 1. signals ---- */

/*
 * A program that resets every signal to SIG_DFL, handles SIGRTMAX itself,
 * blocks and sigtimedwait()s the real-time ones for 200 ms, then lets a
 * thread signal it while it maps and its handler maps: it receives no
 * signal under the agent, with the old MEMPROBE_STACK_SAMPLE_HZ=1000 set
 * too (ignored now), finds no handler, blocked signal or timer of ours,
 * and finishes.
 */
static void guest_signals(void)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 }, hz = { 0 };
	char bin[PATH_MAX], errpath[PATH_MAX];
	char *argv[] = { bin, NULL };

	prog(bin, sizeof(bin), "guest_signals");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	CHECK(it_run_both(&d, argv, NULL, NULL, &plain, &with) == 0);
	snprintf(errpath, sizeof(errpath), "%s/hz.stderr", d.dir);
	it_run_workload(argv, NULL, d.sock, "MEMPROBE_STACK_SAMPLE_HZ=1000", errpath, &hz);
	CHECK(it_compare("guest_signals, MEMPROBE_STACK_SAMPLE_HZ=1000", &plain, &hz) == 0);
	CHECK(plain.status == 0);
	CHECK(strstr(plain.out, "handlers at start:\nblocked at start:\n") == plain.out);
	CHECK(strstr(with.out, "signals received: 0\n") != NULL);
	CHECK(strstr(hz.out, "signals received: 0\n") != NULL);
	CHECK(strstr(hz.out, "mmap with signals in it: done\n") != NULL);
	CHECK(agent_seen(&d, with.pid));
	CHECK(agent_seen(&d, hz.pid));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	it_outcome_free(&hz);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 2. descriptors ---- */

/*
 * Started with stdout closed (the shell closes it before exec), write(1)
 * fails with EBADF under the agent as without: at start, after
 * allocating, in a thread, in a fork child that allocates (and so
 * registers). The same for stdin and read(0).
 */
static void guest_closed_stdio(void)
{
	static char *const modes[][2] = {
		{ "closed-out", "exec \"$0\" closed-out 1>&-" },
		{ "closed-in", "exec \"$0\" closed-in 0<&-" },
	};
	struct it_daemon d;
	char bin[PATH_MAX];

	prog(bin, sizeof(bin), "guest_fds");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	for (size_t i = 0; i < 2; i++) {
		struct it_outcome plain = { 0 }, with = { 0 };
		char *argv[] = { "/bin/sh", "-c", modes[i][1], bin, NULL };
		const char *seen;

		CHECK(it_run_both(&d, argv, NULL, NULL, &plain, &with) == 0);
		CHECK(plain.status == 0);
		seen = i == 0 ? with.err : with.out;
		CHECK(strstr(seen, "in a fork child: EBADF\n") != NULL);
		if (harness_failures)
			fprintf(stderr, "  %s said:\n%s%s", modes[i][0], with.out, with.err);
		CHECK(agent_seen(&d, with.pid));
		it_outcome_free(&plain);
		it_outcome_free(&with);
	}
out:
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/*
 * A daemonising program closes 0..1023 and opens /dev/null three times:
 * it gets 0, 1 and 2, in itself and in a fork child that allocates first,
 * under the agent as without. It reports into a file.
 */
static void guest_daemonise(void)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 };
	char bin[PATH_MAX], file[PATH_MAX], errpath[PATH_MAX];
	char want[512], got[512];
	char *argv[] = { bin, "daemonise", file, NULL };

	prog(bin, sizeof(bin), "guest_fds");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(file, sizeof(file), "%s/report", d.dir);
	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d.dir);
	it_run_workload(argv, NULL, NULL, NULL, errpath, &plain);
	it_slurp(file, want, sizeof(want));
	unlink(file);
	snprintf(errpath, sizeof(errpath), "%s/agent.stderr", d.dir);
	it_run_workload(argv, NULL, d.sock, NULL, errpath, &with);
	it_slurp(file, got, sizeof(got));
	CHECK(it_compare("guest_fds daemonise", &plain, &with) == 0);
	CHECK(plain.status == 0);
	CHECK_STR(got, want);
	CHECK(strstr(got, "opened as 0 1 2; in a fork child as 0 1 2;") != NULL);
	CHECK(agent_seen(&d, with.pid));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/*
 * RLIMIT_NOFILE 4, set before exec: the program's own open() gets 3 and
 * the next EMFILE, at start, after allocating and in a fork child, as
 * without the agent. Registering needs two descriptors at once, so the
 * daemon may not see this program; that is said, not checked.
 */
static void guest_nofile(void)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 };
	char bin[PATH_MAX];
	char *argv[] = { "/bin/sh", "-c", "ulimit -n 4 && exec \"$0\" nofile", bin, NULL };
	json_t *e = NULL;

	prog(bin, sizeof(bin), "guest_fds");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	CHECK(it_run_both(&d, argv, NULL, NULL, &plain, &with) == 0);
	CHECK(plain.status == 0);
	CHECK(strstr(with.out, "in a fork child: open -> 3 (ok), open -> -1 (EMFILE)\n") != NULL);
	e = it_api_process(d.url, with.pid);
	printf("info guest_nofile: with RLIMIT_NOFILE 4 the daemon %s the program\n",
	    e != NULL ? "shows" : "does not show");
out:
	json_decref(e);
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/*
 * Under valgrind, which ends the whole program at a clone it does not
 * know, as the agent's registration task is (agent_outside.c): the agent
 * sees valgrind at load and registers in place. python3 (Python frames
 * read in every sample, one per 4 KiB) prints and ends as without the
 * agent, and memprobed lists it. valgrind's own stderr is not compared: it
 * warns of the pidfd_open the agent tries (and does without).
 */
static void guest_valgrind(void)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 };
	char vg[PATH_MAX], errpath[PATH_MAX + 32];
	json_t *e = NULL;
	char *argv[] = { vg, "--tool=none", "-q", "/usr/bin/python3", "-c",
	    "x = [(i, str(i)) for i in range(50000)]; print(len(x))", NULL };

	REQUIRE(it_which("valgrind", vg, sizeof(vg)) == 0);
	REQUIRE(it_daemon_start(&d, 60) == 0);
	snprintf(errpath, sizeof(errpath), "%s/valgrind.stderr", d.dir);
	it_run_workload(argv, NULL, NULL, NULL, errpath, &plain);
	it_run_workload(argv, NULL, d.sock, "MEMPROBE_PROFILE_RATE=4096", errpath, &with);
	CHECK(plain.status == 0);
	CHECK_I64(with.status, ==, plain.status);
	CHECK_STR(with.out != NULL ? with.out : "", "50000\n");
	e = it_api_process(d.url, with.pid);
	CHECK(e != NULL);
out:
	json_decref(e);
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/*
 * Four threads close and dup2 back their own descriptors, checking each
 * time that it is still their file, while two others allocate and fork
 * children that allocate and register: no descriptor changes under the
 * program, with a daemon (children register) and with none listening
 * (the parent's agent retries once a second, on the allocating threads).
 */
static void fd_race(const char *sock_name, char *min_ms)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 };
	char bin[PATH_MAX], dir[PATH_MAX] = "", sock[PATH_MAX], errpath[PATH_MAX];
	char *argv[] = { bin, dir, "20000", min_ms, NULL };

	prog(bin, sizeof(bin), "guest_fdrace");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(sock, sizeof(sock), "%s/%s", d.dir, sock_name);
	snprintf(errpath, sizeof(errpath), "%s/plain.stderr", d.dir);
	it_run_workload(argv, NULL, NULL, NULL, errpath, &plain);
	snprintf(errpath, sizeof(errpath), "%s/agent.stderr", d.dir);
	it_run_workload(argv, NULL, sock, NULL, errpath, &with);
	CHECK(it_compare("guest_fdrace", &plain, &with) == 0);
	CHECK(plain.status == 0);
	CHECK(strstr(with.out, "fdrace: ok,") == with.out);
	if (strcmp(sock, d.sock) == 0)
		CHECK(agent_seen(&d, with.pid));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	it_rmtree(dir);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

static void guest_fd_race(void)
{
	fd_race("agent.sock", "500");
}

static void guest_fd_race_no_daemon(void)
{
	fd_race("absent.sock", "4000");
}

/*
 * /proc/self/fd and the number of /proc/self/task listed at start, after
 * allocating, with three threads and in a fork child before and after it
 * allocates: the same with the agent as without.
 */
static void guest_fd_list(void)
{
	struct it_daemon d;
	struct it_outcome plain = { 0 }, with = { 0 };
	char bin[PATH_MAX];
	char *argv[] = { bin, "list", NULL };

	prog(bin, sizeof(bin), "guest_fds");
	REQUIRE(it_daemon_start(&d, 60) == 0);
	CHECK(it_run_both(&d, argv, NULL, NULL, &plain, &with) == 0);
	CHECK(plain.status == 0);
	CHECK(strstr(with.out, "; tasks 4\n") != NULL);
	CHECK(agent_seen(&d, with.pid));
out:
	it_outcome_free(&plain);
	it_outcome_free(&with);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 3. namespaces ---- */

/* Whether process pid is in another mount namespace than we are. */
static int other_mnt_ns(void *arg)
{
	char path[64], ours[128] = "", theirs[128] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", *(long *)arg);
	n = readlink(path, theirs, sizeof(theirs) - 1);
	if (n <= 0)
		return 0;
	theirs[n] = '\0';
	n = readlink("/proc/self/ns/mnt", ours, sizeof(ours) - 1);
	ours[n > 0 ? n : 0] = '\0';
	return strcmp(ours, theirs) != 0;
}

/*
 * unshare(CLONE_NEWUSER), which the kernel refuses a multi-threaded
 * process: `unshare -U true`, `unshare -r id -u`, a C program that maps
 * its own uid, and (as root) nsenter into the mount and user namespaces
 * of another process (setns refuses those to a multi-threaded one too)
 * all succeed under the agent as without.
 */
static void guest_namespaces(void)
{
	struct it_daemon d;
	struct it_proc holder = { .pid = 0, .in_fd = -1, .out_fd = -1 };
	char unshare[PATH_MAX], nsenter[PATH_MAX], bin[PATH_MAX], target[32];
	char *unshare_u[] = { unshare, "-U", "true", NULL };
	char *unshare_r[] = { unshare, "-r", "id", "-u", NULL };
	char *own[] = { bin, NULL };
	char *hold[] = { unshare, "-U", "-m", "-r", "cat", NULL };
	char *enter_m[] = { nsenter, "-t", target, "-m", "true", NULL };
	char *enter_um[] = { nsenter, "-t", target, "-U", "-m", "--preserve-credentials",
		"id", "-u", NULL };
	char **runs[] = { unshare_u, unshare_r, own, enter_m, enter_um };
	size_t nruns = 3;
	long hpid;

	prog(bin, sizeof(bin), "guest_userns");
	REQUIRE(it_which("unshare", unshare, sizeof(unshare)) == 0);
	REQUIRE(it_daemon_start(&d, 60) == 0);
	if (geteuid() != 0 || it_which("nsenter", nsenter, sizeof(nsenter)) < 0) {
		printf("info guest_namespaces: nsenter into a mount namespace needs root and "
		    "nsenter; not tried\n");
	} else {
		/* The namespaces to enter: a process in new ones, made without
		 * the agent, waiting on its stdin. */
		REQUIRE(it_proc_start(&holder, hold, NULL, NULL) == 0);
		hpid = holder.pid;
		REQUIRE(it_wait_until(other_mnt_ns, &hpid, IT_TIMEOUT_MS));
		snprintf(target, sizeof(target), "%ld", hpid);
		nruns = 5;
	}
	for (size_t i = 0; i < nruns; i++) {
		struct it_outcome plain = { 0 }, with = { 0 };

		CHECK(it_run_both(&d, runs[i], NULL, NULL, &plain, &with) == 0);
		if (plain.status != 0)
			fprintf(stderr, "  %s %s: status 0x%x without the agent: %s\n", runs[i][0],
			    runs[i][1], plain.status, plain.err);
		CHECK(plain.status == 0);
		if (with.status != 0)
			fprintf(stderr, "  %s %s with the agent: %s\n", runs[i][0], runs[i][1],
			    with.err);
		/* true and id may allocate nothing: seen is enough. */
		CHECK(it_wait_seen_pid(d.url, with.pid, runs[i][0]));
		it_outcome_free(&plain);
		it_outcome_free(&with);
	}
out:
	it_proc_kill(&holder);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 4. endings ---- */

/* A memory-limited cgroup (v2, or v1's memory hierarchy) for the OOM
 * test: its cgroup.procs path, or "" when none can be made. */
struct cgroup {
	char dir[PATH_MAX];
	char procs[PATH_MAX + 16];
};

static int cgroup_make(struct cgroup *cg, const char *limit)
{
	char path[PATH_MAX + 32], ctl[256];
	const char *base, *max_file;

	cg->dir[0] = cg->procs[0] = '\0';
	it_slurp("/sys/fs/cgroup/cgroup.controllers", ctl, sizeof(ctl));
	if (strstr(ctl, "memory") != NULL) {
		base = "/sys/fs/cgroup";
		max_file = "memory.max";
		it_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	} else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
		base = "/sys/fs/cgroup/memory";
		max_file = "memory.limit_in_bytes";
	} else {
		return -ENOENT;
	}
	snprintf(cg->dir, sizeof(cg->dir), "%s/memprobe-guest.%ld", base, (long)getpid());
	if (mkdir(cg->dir, 0755) < 0 && errno != EEXIST) {
		cg->dir[0] = '\0';
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/%s", cg->dir, max_file);
	if (it_write_file(path, limit) < 0)
		return -EPERM;
	snprintf(path, sizeof(path), "%s/memory.swap.max", cg->dir);
	it_write_file(path, "0");
	snprintf(cg->procs, sizeof(cg->procs), "%s/cgroup.procs", cg->dir);
	return 0;
}

static void cgroup_remove(struct cgroup *cg)
{
	if (cg->dir[0] != '\0')
		rmdir(cg->dir);
	cg->dir[0] = '\0';
}

/* Whether the child p has ended, without reaping it: its zombie stays for
 * the daemon to read the wait status from /proc. */
static int ended(void *arg)
{
	struct it_proc *p = arg;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == p->pid;
}

struct ending {
	char *how;              /* guest_end's HOW */
	int sig;                /* sent by the test once ready; 0 none */
	int code, signal;       /* the wanted exit_code or exit_signal; -1 null */
};

/* One run of guest_end: its "held" line, its wait status (-1 if it did
 * not end), and with the agent (d not NULL) the daemon's entry of it just
 * after it ended, before it is reaped (a new reference, or NULL). */
static int end_run(const struct ending *e, const struct it_daemon *d, const struct cgroup *cg,
    char *held, size_t size, json_t **entry)
{
	char bin[PATH_MAX], script[PATH_MAX + 64], line[128], storage[2 * PATH_MAX + 64];
	char n[16], sz[16];
	char *argv[] = { "/bin/sh", "-c", script, bin, e->how, n, sz, NULL };
	char *env[4] = { NULL };
	struct it_proc p;
	int status = -1;
	long pid = 0;

	*held = '\0';
	*entry = NULL;
	prog(bin, sizeof(bin), "guest_end");
	snprintf(n, sizeof(n), "%d", HOLD_N);
	snprintf(sz, sizeof(sz), "%d", HOLD_SIZE);
	if (cg != NULL)
		snprintf(script, sizeof(script), "echo $$ > %s && exec \"$0\" \"$@\"", cg->procs);
	else
		snprintf(script, sizeof(script), "exec \"$0\" \"$@\"");
	if (d != NULL)
		it_agent_env(env, storage, d->sock);
	if (it_proc_start(&p, argv, env, NULL) < 0)
		return -1;
	if (it_proc_readline(&p, held, size, IT_TIMEOUT_MS) < 0 ||
	    it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    sscanf(line, "ready %ld", &pid) != 1) {
		fprintf(stderr, "  guest_end %s: no held and ready lines\n", e->how);
		goto out;
	}
	if (d != NULL && !agent_seen(d, pid))
		goto out;
	if (e->sig != 0)
		kill(p.pid, e->sig);
	if (!it_wait_until(ended, &p, 6 * IT_TIMEOUT_MS)) {
		fprintf(stderr, "  guest_end %s: did not end\n", e->how);
		goto out;
	}
	/* exited_seconds_ago is null while the process is live. */
	if (d != NULL && it_wait_api_num(d->url, pid, "exited_seconds_ago", 0))
		*entry = it_api_process(d->url, pid);
	if (it_proc_wait(&p, IT_TIMEOUT_MS) == 0)
		status = p.status;
out:
	it_proc_kill(&p);
	return status;
}

/* Checks the exit_code / exit_signal members of entry against e, when the
 * daemon has them (they come with the exit-status change). */
static void check_exit_fields(json_t *entry, const struct ending *e)
{
	static const char *const keys[] = { "exit_code", "exit_signal" };
	int want[] = { e->code, e->signal };

	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(entry, keys[i]);

		if (v == NULL) {
			printf("info guest_endings: %s: no \"%s\" in the process JSON yet; "
			    "not checked\n", e->how, keys[i]);
			continue;
		}
		if (want[i] < 0 ? !json_is_null(v) :
		    !json_is_integer(v) || json_integer_value(v) != want[i]) {
			char *text = json_dumps(v, JSON_ENCODE_ANY);

			fprintf(stderr, "  %s: %s is %s, want %d (-1: null)\n", e->how, keys[i],
			    text ? text : "?", want[i]);
			free(text);
			CHECK(0);
		}
	}
}

/*
 * Programs that hold 32 blocks of 64 KiB and end by quick_exit(3),
 * abort(), SIGKILL from the test and (where a memory-limited cgroup can be
 * made) the OOM killer: each ends the same with the agent as without, and
 * the daemon shows it exited with exactly the heap it held (the usable
 * sizes the program summed; the C runtime allocates nothing before main
 * here) and how it ended.
 */
/*
 * What else is live at the end besides the program's blocks: nothing in a
 * plain build; under `make asan` the agent carries UBSan's runtime, whose
 * libstdc++ keeps a 71 KiB block from start to end.
 */
#if defined(__SANITIZE_ADDRESS__)
#define END_RUNTIME_SLACK (128.0 * 1024)
#else
#define END_RUNTIME_SLACK 0.0
#endif

static void guest_endings(void)
{
	static const struct ending endings[] = {
		{ "quick_exit", 0, 3, -1 },
		{ "abort", 0, -1, SIGABRT },
		{ "wait", SIGKILL, -1, SIGKILL },
		{ "oom", 0, -1, SIGKILL },
	};
	struct it_daemon d;
	struct cgroup cg = { "", "" };

	REQUIRE(it_daemon_start(&d, 60) == 0);
	for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
		const struct ending *e = &endings[i];
		char held_plain[128], held[128], state[16] = "";
		const struct cgroup *in = NULL;
		int st_plain, st_with;
		json_t *entry = NULL;
		unsigned long usable = 0;
		double live = -1;

		if (strcmp(e->how, "oom") == 0) {
			int err = cgroup_make(&cg, "67108864");

			if (err < 0) {
				printf("info guest_endings: cannot make a memory-limited cgroup (%s); "
				    "the OOM killer not tried\n", strerror(-err));
				cgroup_remove(&cg);
				continue;
			}
			in = &cg;
		}
		st_plain = end_run(e, NULL, in, held_plain, sizeof(held_plain), &entry);
		st_with = end_run(e, &d, in, held, sizeof(held), &entry);
		if (st_plain != st_with)
			fprintf(stderr, "  %s: wait status 0x%x without the agent, 0x%x with\n",
			    e->how, st_plain, st_with);
		CHECK(st_plain == st_with);
		CHECK(e->signal < 0 ? WIFEXITED(st_with) && WEXITSTATUS(st_with) == e->code :
		    WIFSIGNALED(st_with) && WTERMSIG(st_with) == e->signal);
		CHECK_STR(held, held_plain);
		CHECK(sscanf(held, "held %*d blocks %lu usable bytes", &usable) == 1);
		CHECK(entry != NULL);
		if (entry != NULL) {
			const char *st = json_string_value(json_object_get(entry, "state"));

			snprintf(state, sizeof(state), "%s", st != NULL ? st : "");
			CHECK(it_json_num(entry, "heap.live_bytes", &live));
			check_exit_fields(entry, e);
		}
		CHECK_STR(state, "exited");
		if (live < (double)usable || live > (double)usable + END_RUNTIME_SLACK)
			fprintf(stderr, "  %s: heap.live_bytes %.0f, the program held %lu\n",
			    e->how, live, usable);
		CHECK(live >= (double)usable && live <= (double)usable + END_RUNTIME_SLACK);
		json_decref(entry);
		cgroup_remove(&cg);
	}
out:
	cgroup_remove(&cg);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 5. privileges ---- */

/* Sends cmd to p and wants the line `want` back (a prefix of it). */
static int ask(struct it_proc *p, const char *cmd, const char *want)
{
	char line[128];

	if (it_proc_write(p, cmd) < 0 || it_proc_readline(p, line, sizeof(line), IT_TIMEOUT_MS) < 0)
		return 0;
	if (strncmp(line, want, strlen(want)) == 0)
		return 1;
	fprintf(stderr, "  asked %s  got \"%s\", want \"%s\"\n", cmd, line, want);
	return 0;
}

/* Runs guest_setuid through ready, drop, more and fork; with the agent
 * (d set) the daemon must keep the process live and its figures moving. */
static int setuid_run(const struct it_daemon *d)
{
	char bin[PATH_MAX], line[128], storage[2 * PATH_MAX + 64], n[16];
	char *argv[] = { bin, "65534", n, "65536", NULL };
	char *env[4] = { NULL };
	struct it_proc p;
	json_t *e = NULL;
	int status = -1;
	long pid = 0;
	double first = 0;

	prog(bin, sizeof(bin), "guest_setuid");
	snprintf(n, sizeof(n), "%d", HOLD_N);
	if (d != NULL)
		it_agent_env(env, storage, d->sock);
	if (it_proc_start(&p, argv, env, NULL) < 0)
		return -1;
	if (it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) < 0 ||
	    sscanf(line, "ready %ld", &pid) != 1)
		goto out;
	if (d != NULL) {
		CHECK(it_wait_api_num(d->url, pid, "heap.live_bytes", HOLD_N * (double)HOLD_SIZE));
		e = it_api_process(d->url, pid);
		CHECK(e != NULL && it_json_num(e, "heap.allocations", &first));
		json_decref(e);
		e = NULL;
	}
	CHECK(ask(&p, "drop\n", "dropped uid 65534"));
	CHECK(ask(&p, "more\n", "more"));
	if (d != NULL) {
		/* Live, and the new blocks seen. */
		CHECK(it_wait_api_num(d->url, pid, "heap.live_bytes",
		    2 * HOLD_N * (double)HOLD_SIZE));
		CHECK(it_wait_api_num(d->url, pid, "heap.allocations", first + HOLD_N));
		e = it_api_process(d->url, pid);
		CHECK(e != NULL && json_is_string(json_object_get(e, "state")) &&
		    strcmp(json_string_value(json_object_get(e, "state")), "live") == 0);
	}
	CHECK(ask(&p, "fork\n", "forked 0"));
	it_proc_close_stdin(&p);
	if (it_proc_wait(&p, IT_TIMEOUT_MS) == 0)
		status = p.status;
out:
	json_decref(e);
	it_proc_kill(&p);
	return status;
}

/*
 * A program started as root setuid()s to nobody and allocates more: it
 * behaves the same with the agent, and the daemon keeps it live with its
 * figures moving (its region was handed over before; nothing is asked of
 * the process again).
 */
static void guest_setuid(void)
{
	struct it_daemon d;
	int plain, with;

	d.dir[0] = '\0';
	d.proc.pid = 0;
	if (geteuid() != 0) {
		printf("info guest_setuid: not root; skipped\n");
		return;
	}
	REQUIRE(it_daemon_start(&d, 60) == 0);
	plain = setuid_run(NULL);
	with = setuid_run(&d);
	CHECK(plain == 0);
	CHECK(with == plain);
out:
	if (d.dir[0] != '\0')
		CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 6. identity ---- */

/*
 * A hand-made client says HELLO as comm "sshd", exe "/usr/sbin/sshd": the
 * daemon (series = command) shows this test's real comm and exe from /proc
 * and no series labelled sshd.
 */
static void guest_identity(void)
{
	char *extra[] = { "--series", "command", NULL };
	struct it_daemon d;
	struct it_http r = { 0 };
	char comm[64], exe[PATH_MAX];
	json_t *e = NULL;
	ssize_t n;
	int fd = -1;

	it_slurp("/proc/self/comm", comm, sizeof(comm));
	comm[strcspn(comm, "\n")] = '\0';
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	REQUIRE(n > 0);
	exe[n] = '\0';
	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	fd = it_seqpacket_connect(d.sock);
	REQUIRE(fd >= 0);
	REQUIRE(it_send_hello(fd, PROTO_AGENT_C, "sshd", "/usr/sbin/sshd") == 0);
	REQUIRE(it_send_heap(fd, 4242) == 0);
	REQUIRE(it_wait_api_num(d.url, (long)getpid(), "heap.live_bytes", 4242));
	e = it_api_process(d.url, (long)getpid());
	REQUIRE(e != NULL);
	CHECK_STR(json_string_value(json_object_get(e, "comm")), comm);
	CHECK_STR(json_string_value(json_object_get(e, "exe")), exe);
	REQUIRE(it_get(d.url, "/metrics", &r) == 0 && r.status == 200);
	CHECK(strstr(r.body, "sshd") == NULL);
	CHECK(it_metric_sum(r.body, "memprobe_heap_live_bytes", "comm", comm) >= 4242);
	if (harness_failures)
		fprintf(stderr, "  /metrics:\n%.4000s\n", r.body);
out:
	it_http_free(&r);
	json_decref(e);
	if (fd >= 0)
		close(fd);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/* ---- 7. exec under series = command ---- */

#define EXEC_N 500
#define ALLOCS "memprobe_heap_allocations_total"

struct exec_watch {
	const char *url;
	double floor;           /* the old command's count before the exec */
	double lowest;          /* lowest seen since; -1 when the series was absent */
	int scrapes;
};

/* One scrape across the exec: the old command's count, kept if lower. */
static int old_count_seen(void *arg)
{
	struct exec_watch *w = arg;
	double v = it_metric_now(w->url, ALLOCS, "comm", "guest_exec");

	if (v < w->lowest)
		w->lowest = v;
	w->scrapes++;
	return w->scrapes >= 20;
}

/*
 * With series = command, a program (comm guest_exec) makes EXEC_N
 * allocations and execs a copy of itself named guest_exec_two, which
 * makes EXEC_N more: memprobe_heap_allocations_total{comm="guest_exec"}
 * never goes down across the exec (scraped before, during and after), and
 * the new command's series counts its own.
 */
static void guest_exec_command(void)
{
	char *extra[] = { "--series", "command", NULL };
	struct it_daemon d;
	struct it_proc p = { .pid = 0, .in_fd = -1, .out_fd = -1 };
	char bin[PATH_MAX], two[PATH_MAX + 32], dir[PATH_MAX] = "", n[16], line[64];
	char storage[2 * PATH_MAX + 64];
	char *argv[] = { bin, n, two, NULL };
	char *env[4] = { NULL };
	struct exec_watch w = { 0 };
	int plain;

	prog(bin, sizeof(bin), "guest_exec");
	snprintf(n, sizeof(n), "%d", EXEC_N);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(two, sizeof(two), "%s/guest_exec_two", dir);
	REQUIRE(it_copy_file(bin, two, 0755) == 0);
	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);

	/* Without the agent: two ready lines (one per image), then exit 0. */
	REQUIRE(it_proc_start(&p, argv, NULL, NULL) == 0);
	CHECK(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	CHECK(it_proc_write(&p, "\n") == 0);
	CHECK(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	it_proc_close_stdin(&p);
	CHECK(it_proc_wait(&p, IT_TIMEOUT_MS) == 0);
	plain = p.status;
	CHECK(plain == 0);

	it_agent_env(env, storage, d.sock);
	REQUIRE(it_proc_start(&p, argv, env, NULL) == 0);
	REQUIRE(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	REQUIRE(it_wait_metric_label(d.url, ALLOCS, "comm", "guest_exec", EXEC_N, 1e12));
	w.url = d.url;
	w.floor = w.lowest = it_metric_now(d.url, ALLOCS, "comm", "guest_exec");
	REQUIRE(it_proc_write(&p, "\n") == 0);
	it_wait_until(old_count_seen, &w, IT_TIMEOUT_MS);
	REQUIRE(it_proc_readline(&p, line, sizeof(line), IT_TIMEOUT_MS) > 0);
	CHECK(it_wait_metric_label(d.url, ALLOCS, "comm", "guest_exec_two", EXEC_N, 1e12));
	w.scrapes = 0;
	it_wait_until(old_count_seen, &w, IT_TIMEOUT_MS);
	if (w.lowest < w.floor)
		fprintf(stderr, "  %s{comm=\"guest_exec\"} was %.0f before the exec, %.0f after "
		    "(-1: gone)\n", ALLOCS, w.floor, w.lowest);
	CHECK(w.lowest >= w.floor);
	it_proc_close_stdin(&p);
	CHECK(it_proc_wait(&p, IT_TIMEOUT_MS) == 0);
	CHECK(p.status == plain);
out:
	it_proc_kill(&p);
	if (dir[0] != '\0')
		it_rmtree(dir);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_guest_run(void)
{
	if (it_selected("guest_signals"))
		RUN_TEST(guest_signals);
	if (it_selected("guest_closed_stdio"))
		RUN_TEST(guest_closed_stdio);
	if (it_selected("guest_daemonise"))
		RUN_TEST(guest_daemonise);
	if (it_selected("guest_nofile"))
		RUN_TEST(guest_nofile);
	if (it_selected("guest_fd_race"))
		RUN_TEST(guest_fd_race);
	if (it_selected("guest_fd_race_no_daemon"))
		RUN_TEST(guest_fd_race_no_daemon);
	if (it_selected("guest_fd_list"))
		RUN_TEST(guest_fd_list);
	if (it_selected("guest_namespaces"))
		RUN_TEST(guest_namespaces);
	if (it_selected("guest_endings"))
		RUN_TEST(guest_endings);
	if (it_selected("guest_setuid"))
		RUN_TEST(guest_setuid);
	if (it_selected("guest_identity"))
		RUN_TEST(guest_identity);
	if (it_selected("guest_exec_command"))
		RUN_TEST(guest_exec_command);
	if (it_selected("guest_valgrind"))
		RUN_TEST(guest_valgrind);
	return harness_failed_tests;
}
