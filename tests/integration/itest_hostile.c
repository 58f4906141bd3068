/* itest_hostile.c: the daemon against hostile input and starved resources (issue 12). */
#include "harness.h"
#include "itest_util.h"
#include "proto.h"
#include "region.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define HOLD_BLOCKS 256
#define HOLD_SIZE   65536   /* 16 MiB held */

/*
 * A {pid} segment with a NUL (sent as %00, which libmicrohttpd would decode
 * into a string-ending NUL) or any byte after the digits is 400 with a JSON
 * error on every endpoint that takes a pid, even for the pid of a tracked
 * process; the same paths without the junk are 200.
 */
static void pid_nul_400(void)
{
	static const char *const bad[] = {
		"/api/v1/processes/%ld%%00junk", "/api/v1/processes/%ld%%00",
		"/api/v1/processes/%ld%%00junk/history", "/api/v1/processes/%ld%%00/history",
		"/api/v1/processes/%ld%%20", "/api/v1/processes/%ld%%0a/history",
		"/api/v1/processes/%ldjunk",
	};
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct it_http r = { 0 };
	char path[128];
	long pid;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), bad[i], pid);
		CHECK(it_get(d.url, path, &r) == 0);
		if (r.status != 400 || !it_is_json_error(&r))
			fprintf(stderr, "  GET %s: %ld %.200s\n", path, r.status, r.body ? r.body : "");
		CHECK(r.status == 400);
		CHECK(it_is_json_error(&r));
		it_http_free(&r);
	}
	/* A NUL after a good pid and endpoint names no endpoint. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history%%00", pid);
	CHECK(it_get(d.url, path, &r) == 0);
	CHECK(r.status == 404 && it_is_json_error(&r));
	it_http_free(&r);
	/* Control: the same pid without the junk is served. */
	snprintf(path, sizeof(path), "/api/v1/processes/%ld", pid);
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
	it_http_free(&r);
	snprintf(path, sizeof(path), "/api/v1/processes/%ld/history", pid);
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
	it_http_free(&r);
	/* Digits sent escaped (%3N) are digits. */
	{
		char digits[24];
		size_t n = (size_t)snprintf(path, sizeof(path), "/api/v1/processes/");

		snprintf(digits, sizeof(digits), "%ld", pid);
		for (const char *c = digits; *c != '\0'; c++)
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%%3%c", *c);
	}
	CHECK(it_get(d.url, path, &r) == 0 && r.status == 200);
out:
	it_http_free(&r);
	it_proc_kill(&hold);
	it_daemon_finish(&d, harness_failures);
}

#define MANY_GROUPS 2000

/*
 * A program in 2,000 supplementary groups has a /proc/PID/status of about
 * 14 KiB, past one 4 KiB read; its /proc figures (resident bytes at least
 * the 16 MiB it holds) still show in /api/v1/processes/{pid}. Needs root
 * for setgroups(2): the test process takes the groups for the moment it
 * starts the program, which inherits them, and gives them back.
 */
static void proc_many_groups(void)
{
	static gid_t saved[NGROUPS_MAX + 1], many[MANY_GROUPS];
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	char path[64], *status = NULL;
	int nsaved = -1, set;
	long pid;

	d.dir[0] = '\0';
	d.proc.pid = 0;
	if (geteuid() != 0) {
		printf("info proc_many_groups: not root (setgroups needs it); skipped\n");
		return;
	}
	REQUIRE(it_daemon_start(&d, 60) == 0);
	nsaved = getgroups(NGROUPS_MAX + 1, saved);
	REQUIRE(nsaved >= 0);
	for (int i = 0; i < MANY_GROUPS; i++)
		many[i] = (gid_t)(200000 + i);
	set = setgroups(MANY_GROUPS, many);
	REQUIRE(set == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(setgroups((size_t)nsaved, saved) == 0);
	nsaved = -1;
	REQUIRE(pid > 0);

	/* The premise: its status file is longer than one read took. */
	status = malloc(65536);
	REQUIRE(status != NULL);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	it_slurp(path, status, 65536);
	CHECK(strlen(status) > 3 * 4096);
	CHECK(strstr(status, "\nVmRSS:") != NULL);

	CHECK(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	CHECK(it_wait_api_num(d.url, pid, "proc.resident_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	CHECK(it_wait_api_num(d.url, pid, "proc.threads", 1));
out:
	if (nsaved >= 0 && setgroups((size_t)nsaved, saved) != 0)
		fprintf(stderr, "  proc_many_groups: could not restore our groups\n");
	free(status);
	it_proc_kill(&hold);
	if (d.dir[0] != '\0')
		it_daemon_finish(&d, harness_failures);
}

#define REJECTED "memprobe_daemon_messages_rejected_total"
#define HOARD    4096

/*
 * A SOCK_SEQPACKET connection to the agent socket whose connect() gives up
 * after IT_TIMEOUT_MS when the backlog stays full (a Unix socket's connect
 * waits for room up to SO_SNDTIMEO). The descriptor, or -errno.
 */
static int connect_bounded(const char *sock)
{
	struct timeval tv = { IT_TIMEOUT_MS / 1000, 0 };
	struct sockaddr_un sun;
	int fd, err;

	if (it_unix_addr(&sun, sock) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Opens n connections with connect_bounded() into fds; returns how many
 * it could, having said why it stopped. */
static int connect_many(const char *sock, int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = connect_bounded(sock);
		if (fds[i] < 0) {
			fprintf(stderr, "  connection %d: %s\n", i, strerror(-fds[i]));
			return i;
		}
	}
	return n;
}

/* Raises our RLIMIT_NOFILE soft limit to at least want (within the hard
 * limit, or beyond it as root). Returns 0, or -1 when it cannot. */
static int nofile_at_least(rlim_t want, struct rlimit *saved)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, saved) < 0)
		return -1;
	rl = *saved;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * One process (us, as our uid) holds 4,096 idle connections to the agent
 * socket, never saying HELLO. Past max_pending_per_uid (64) the oldest of
 * them are closed, each counted as reason="pending_limit"; a real program
 * of the same uid with the agent, started afterwards, is still tracked with
 * its figures. With hello_timeout at an hour none is closed for silence.
 */
static void pending_limit(void)
{
	char *extra[] = { "--hello-timeout", "3600", NULL };
	static int fds[HOARD];
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	struct rlimit saved;
	int nfds = 0, raised;
	double v;
	long pid;

	d.dir[0] = '\0';
	d.proc.pid = 0;
	raised = nofile_at_least(HOARD + 256, &saved);
	if (raised < 0) {
		printf("info pending_limit: cannot raise RLIMIT_NOFILE to %d; skipped\n", HOARD + 256);
		return;
	}
	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	nfds = connect_many(d.sock, fds, HOARD);
	REQUIRE(nfds == HOARD);
	/* All accepted; all but the 64 newest closed for the limit. */
	CHECK(it_wait_metric_label(d.url, "memprobe_daemon_connections_accepted_total", NULL, NULL,
	    HOARD, HOARD));
	CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "pending_limit",
	    HOARD - 64, HOARD - 64));
	CHECK(it_peer_closed(fds[0], IT_TIMEOUT_MS));
	CHECK(it_peer_closed(fds[HOARD - 65], IT_TIMEOUT_MS));
	CHECK(!it_peer_closed(fds[HOARD - 1], 0));

	/* A real program of the same uid gets in and reports. */
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	CHECK(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	/* Its own registration may have waited among ours: one more of ours
	 * went then, never more. */
	v = it_metric_now(d.url, REJECTED, "reason", "pending_limit");
	CHECK(v >= HOARD - 64 && v <= HOARD - 63);
	CHECK(it_metric_now(d.url, REJECTED, "reason", "hello_timeout") == 0);
	CHECK(!it_peer_closed(fds[HOARD - 1], 0));
	CHECK(it_metric_now(d.url, "memprobe_daemon_agents_connected", NULL, NULL) == 1);
out:
	while (nfds > 0)
		close(fds[--nfds]);
	it_proc_kill(&hold);
	if (d.dir[0] != '\0')
		it_daemon_finish(&d, harness_failures);
	if (raised == 0)
		setrlimit(RLIMIT_NOFILE, &saved);
}

/*
 * --hello-timeout 1: a connection that says nothing is closed by the
 * daemon and counted once as reason="hello_timeout"; a program with the
 * agent, connected before it, is not (were it, the count would be 2 by the
 * time the idle one is closed, since it is older).
 */
static void hello_timeout(void)
{
	char *extra[] = { "--hello-timeout", "1", NULL };
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	json_t *e = NULL;
	int fd = -1;
	long pid;

	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
	fd = connect_bounded(d.sock);
	REQUIRE(fd >= 0);
	CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "hello_timeout", 1, 1e9));
	CHECK(it_peer_closed(fd, IT_TIMEOUT_MS));
	CHECK(it_metric_now(d.url, REJECTED, "reason", "hello_timeout") == 1);
	CHECK(it_metric_now(d.url, REJECTED, "reason", "pending_limit") == 0);
	e = it_api_process(d.url, pid);
	CHECK(e != NULL && json_is_string(json_object_get(e, "state")) &&
	    strcmp(json_string_value(json_object_get(e, "state")), "live") == 0);
	CHECK(it_wait_log(d.log, "(hello_timeout); connection closed"));
out:
	json_decref(e);
	if (fd >= 0)
		close(fd);
	it_proc_kill(&hold);
	it_daemon_finish(&d, harness_failures);
}

#define STARVED_NOFILE 40
#define STARVED_CONNS  60
#define CPU_WINDOW_MS  2000

/* utime + stime of process pid in clock ticks, or -1. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	it_slurp(path, buf, sizeof(buf));
	p = strrchr(buf, ')');
	/* Fields 14 and 15, counted from field 3 just after the comm. */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

struct starved_window {
	const char *url;
	long long start_ms;
	int answers, failures;
};

/* One /healthz and (every tenth) one /metrics; true once the window has
 * passed. */
static int window_served(void *arg)
{
	struct starved_window *w = arg;
	struct it_http r;

	if (it_get(w->url, w->answers % 10 == 0 ? "/metrics" : "/healthz", &r) == 0 &&
	    r.status == 200)
		w->answers++;
	else
		w->failures++;
	it_http_free(&r);
	return it_now_ms() - w->start_ms >= CPU_WINDOW_MS;
}

/*
 * memprobed with RLIMIT_NOFILE 40 (set on it with prlimit(2) once it
 * serves) and 60 connections to its agent socket: it stops polling the
 * listener for a while instead of spinning on EMFILE, and keeps the last
 * descriptors for HTTP, so /healthz and /metrics answer throughout; once
 * the connections go, a real program is tracked again.
 *
 * The CPU check is not a timing assertion that load can break: over a
 * window of at least 2 s of wall time (measured, not slept: the window is
 * spent polling /healthz), the daemon's utime + stime must stay under a
 * quarter of that wall time. A daemon blocked in epoll_wait uses a few
 * percent for the requests; one spinning on accept uses a whole core when
 * it can get it. A loaded machine only gives a process less CPU time per
 * wall second, never more, so load cannot make a healthy daemon fail; it
 * could at worst hide a spinning one, which is why the bar is a quarter,
 * not a half: on this 2-core machine, under other suites' load, the
 * spinning memprobed of before was measured at about half a core.
 */
static void fd_starved(void)
{
	char *extra[] = { "--hello-timeout", "3600", "--max-pending-per-uid", "1000", NULL };
	struct rlimit rl = { STARVED_NOFILE, STARVED_NOFILE };
	struct starved_window w = { 0 };
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	int fds[STARVED_CONNS], nfds = 0;
	long long cpu0, cpu1, elapsed;
	long tck = sysconf(_SC_CLK_TCK);
	double accepted;
	long pid;

	REQUIRE(it_daemon_start_args(&d, 60, extra) == 0);
	REQUIRE(prlimit(d.proc.pid, RLIMIT_NOFILE, &rl, NULL) == 0);
	nfds = connect_many(d.sock, fds, STARVED_CONNS);
	REQUIRE(nfds == STARVED_CONNS);
	REQUIRE(it_wait_log(d.log, "out of file descriptors"));
	accepted = it_metric_now(d.url, "memprobe_daemon_connections_accepted_total", NULL, NULL);
	CHECK(accepted >= 1 && accepted < STARVED_NOFILE);

	cpu0 = cpu_ticks(d.proc.pid);
	w.url = d.url;
	w.start_ms = it_now_ms();
	REQUIRE(it_wait_until(window_served, &w, CPU_WINDOW_MS + IT_TIMEOUT_MS));
	cpu1 = cpu_ticks(d.proc.pid);
	elapsed = it_now_ms() - w.start_ms;
	REQUIRE(cpu0 >= 0 && cpu1 >= cpu0 && tck > 0);
	printf("info fd_starved: memprobed used %lld ms of CPU in %lld ms with %d connections "
	    "waiting; %d HTTP answers\n", (cpu1 - cpu0) * 1000 / tck, elapsed,
	    STARVED_CONNS - (int)accepted, w.answers);
	CHECK((cpu1 - cpu0) * 1000 / tck < elapsed / 4);
	CHECK(w.failures == 0);
	CHECK(w.answers >= 2);

	/* The connections go: the daemon accepts again, a program reports. */
	while (nfds > 0)
		close(fds[--nfds]);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	CHECK(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
out:
	while (nfds > 0)
		close(fds[--nfds]);
	it_proc_kill(&hold);
	it_daemon_finish(&d, harness_failures);
}

/* A memfd holding a region of nslots slots (valid header), sealed with
 * `seals`; hdr_fix may then spoil the header. Returns the memfd or -1. */
static int make_region(uint32_t nslots, int seals, void (*hdr_fix)(struct region_hdr *))
{
	uint64_t size = region_size_for(nslots);
	struct region_hdr *h;
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -1;
	region_hdr_init(h, PROTO_AGENT_C, nslots);
	if (hdr_fix != NULL)
		hdr_fix(h);
	munmap(h, size);
	if (seals != 0 && fcntl(fd, F_ADD_SEALS, seals) < 0)
		return -1;
	return fd;
}

static void lie_nslots(struct region_hdr *h) { h->nslots = 1u << 20; }
static void lie_size(struct region_hdr *h) { h->size += 4096; }
static void lie_agent(struct region_hdr *h) { h->agent = PROTO_AGENT_PYTHON; }
static void lie_slot_size(struct region_hdr *h) { h->slot_size = 8; }

/*
 * Regions a hostile process could hand over: an unsealed memfd (it could
 * shrink it under the daemon's reads: SIGBUS), one sealed against growing
 * only, a header that lies about its slots, its size, its kind or its slot
 * size, and a descriptor that is no memfd at all. Each is refused and
 * counted (reason "region"); the daemon goes on serving the real program.
 */
static void hostile_regions(void)
{
	static const struct {
		const char *what;
		int seals;
		void (*fix)(struct region_hdr *);
	} cases[] = {
		{ "unsealed", 0, NULL },
		{ "sealed against growing only", F_SEAL_GROW, NULL },
		{ "too many slots", F_SEAL_SHRINK | F_SEAL_GROW, lie_nslots },
		{ "size unlike the file's", F_SEAL_SHRINK | F_SEAL_GROW, lie_size },
		{ "kind unlike the message's", F_SEAL_SHRINK | F_SEAL_GROW, lie_agent },
		{ "slot size", F_SEAL_SHRINK | F_SEAL_GROW, lie_slot_size },
	};
	const unsigned n = sizeof(cases) / sizeof(cases[0]);
	struct it_daemon d;
	struct it_proc hold = { .in_fd = -1, .out_fd = -1 };
	long pid;
	int fd;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pid = it_hold_start(&hold, d.sock, HOLD_BLOCKS, HOLD_SIZE, NULL);
	REQUIRE(pid > 0);
	for (unsigned i = 0; i < n; i++) {
		fd = make_region(4, cases[i].seals, cases[i].fix);
		REQUIRE(fd >= 0);
		if (it_send_register(d.sock, fd, PROTO_AGENT_C) < 0)
			fprintf(stderr, "  %s: could not send\n", cases[i].what);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK(it_send_register(d.sock, fd, PROTO_AGENT_C) == 0);
	close(fd);
	CHECK(it_wait_metric_label(d.url, REJECTED, "reason", "region", n + 1, n + 1));
	/* None of them became an entry of this process. */
	CHECK(it_api_process(d.url, getpid()) == NULL);
	CHECK(it_wait_api_num(d.url, pid, "heap.live_bytes", HOLD_BLOCKS * (double)HOLD_SIZE));
out:
	it_proc_kill(&hold);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

int itest_hostile_run(void)
{
	if (it_selected("pid_nul_400"))
		RUN_TEST(pid_nul_400);
	if (it_selected("hostile_regions"))
		RUN_TEST(hostile_regions);
	if (it_selected("proc_many_groups"))
		RUN_TEST(proc_many_groups);
	if (it_selected("pending_limit"))
		RUN_TEST(pending_limit);
	if (it_selected("hello_timeout"))
		RUN_TEST(hello_timeout);
	if (it_selected("fd_starved"))
		RUN_TEST(fd_starved);
	return harness_failed_tests;
}
