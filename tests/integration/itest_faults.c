/* itest_faults.c: faults around the daemon and its programs: killed, restarted, refused, no room. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct api_seen {
	const char *url;
	long pid;
	const char *state;
};

static int api_has(void *arg)
{
	struct api_seen *w = arg;
	json_t *e = it_api_process(w->url, w->pid);
	int ok = e != NULL && (w->state == NULL || it_json_str_is(e, "state", w->state));

	json_decref(e);
	return ok;
}

/*
 * SIGKILL the daemon under two running programs: they go on answering, and
 * when a new daemon comes up on the same socket both reappear by themselves
 * (the agent reconnects with a backoff of at most 2 s). The time it took is
 * printed, not asserted.
 */
static void fault_daemon_killed_and_restarted(void)
{
	struct it_daemon d;
	struct it_proc a = { .in_fd = -1, .out_fd = -1 }, b = { .in_fd = -1, .out_fd = -1 };
	struct api_seen wa, wb;
	char line[64];
	long pa, pb;
	long long t0;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pa = it_hold_start(&a, d.sock, 64, 4096, NULL);
	pb = it_hold_start(&b, d.sock, 128, 1024, NULL);
	REQUIRE(pa > 0 && pb > 0);
	wa = (struct api_seen){ d.url, pa, "live" };
	wb = (struct api_seen){ d.url, pb, "live" };
	REQUIRE(it_wait_until(api_has, &wa, IT_TIMEOUT_MS));
	REQUIRE(it_wait_until(api_has, &wb, IT_TIMEOUT_MS));

	it_proc_kill(&d.proc);                          /* SIGKILL: no cleanup */
	/* The programs do not notice. */
	REQUIRE(it_proc_write(&a, "free\n") == 0);
	REQUIRE(it_proc_readline(&a, line, sizeof(line), IT_TIMEOUT_MS) >= 0);
	CHECK_STR(line, "freed");

	t0 = it_now_ms();
	REQUIRE(it_daemon_restart(&d, 60) == 0);
	CHECK(it_wait_until(api_has, &wa, 3 * IT_TIMEOUT_MS));
	CHECK(it_wait_until(api_has, &wb, 3 * IT_TIMEOUT_MS));
	printf("info fault_daemon_killed_and_restarted: both programs back %lld ms after the restart began\n",
	    it_now_ms() - t0);
	/* And they end as they would have. */
	it_proc_close_stdin(&a);
	it_proc_close_stdin(&b);
	REQUIRE(it_proc_wait(&a, IT_TIMEOUT_MS) == 0 && it_proc_wait(&b, IT_TIMEOUT_MS) == 0);
	CHECK(WIFEXITED(a.status) && WEXITSTATUS(a.status) == 0);
	CHECK(WIFEXITED(b.status) && WEXITSTATUS(b.status) == 0);
out:
	it_proc_kill(&a);
	it_proc_kill(&b);
	it_daemon_stop(&d);
}

static int metrics_lack_pid(void *arg)
{
	struct api_seen *w = arg;
	struct it_http r = { 0 };
	double v;
	int gone = 0;

	if (it_get(w->url, "/metrics", &r) == 0 && r.status == 200)
		gone = !it_metric_pid(r.body, "memprobe_heap_live_bytes", w->pid, &v) &&
		    !it_metric_pid(r.body, "memprobe_process_exited", w->pid, &v);
	it_http_free(&r);
	return gone;
}

/* SIGKILL a program: it shows as exited, then its series go after the TTL. */
static void fault_program_killed(void)
{
	struct it_daemon d;
	struct it_proc p = { .in_fd = -1, .out_fd = -1 };
	struct api_seen w;
	double v = -1;
	long pid;

	REQUIRE(it_daemon_start(&d, 2) == 0);
	pid = it_hold_start(&p, d.sock, 32, 4096, NULL);
	REQUIRE(pid > 0);
	REQUIRE(it_wait_metric(d.url, "memprobe_process_exited", pid, 0, 0, IT_TIMEOUT_MS, &v));
	it_proc_kill(&p);
	CHECK(it_wait_metric(d.url, "memprobe_process_exited", pid, 1, 1, IT_TIMEOUT_MS, &v));
	w = (struct api_seen){ d.url, pid, NULL };
	CHECK(it_wait_until(metrics_lack_pid, &w, 3 * IT_TIMEOUT_MS));
	CHECK(!api_has(&w));
out:
	it_proc_kill(&p);
	it_daemon_stop(&d);
}

/* Runs memprobed with args to its end in a temp dir of its own; returns
 * its wait status, its stderr in err. */
static int run_daemon(char *const args[], char *err, size_t size)
{
	char dir[64];
	int status;

	err[0] = '\0';
	if (it_tmpdir(dir, sizeof(dir)) < 0)
		return -1;
	status = it_daemon_run_once(args, dir, err, size);
	it_rmtree(dir);
	return status;
}

/* The HTTP port taken: one clear line, exit 1. */
static void fault_port_taken(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char dir[64], sock[128], listen_at[64], err[4096];
	char *args[] = { "--agent-socket", sock, "--web.listen-address", listen_at, NULL };
	int fd = socket(AF_INET, SOCK_STREAM, 0), status;

	dir[0] = '\0';
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", ntohs(sa.sin_port));
	status = run_daemon(args, err, sizeof(err));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK(strstr(err, listen_at) != NULL && strstr(err, "Address already in use") != NULL);
	CHECK(it_count_lines(err) <= 2);
	if (harness_failures)
		fprintf(stderr, "  memprobed said: %s\n", err);
	/* It did not leave its agent socket behind. */
	CHECK(access(sock, F_OK) != 0);
out:
	if (fd >= 0)
		close(fd);
	it_rmtree(dir);
}

/* The agent socket's directory cannot be made (its parent is a file). */
static void fault_socket_dir_impossible(void)
{
	char dir[64], file[128], sock[192], err[4096];
	char *args[] = { "--agent-socket", sock, "--web.listen-address", "127.0.0.1:0", NULL };
	int fd, status;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	snprintf(sock, sizeof(sock), "%s/sub/agent.sock", file);
	status = run_daemon(args, err, sizeof(err));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	CHECK(strstr(err, file) != NULL);
	CHECK(it_count_lines(err) <= 2);
	if (harness_failures)
		fprintf(stderr, "  memprobed said: %s\n", err);
out:
	it_rmtree(dir);
}

/*
 * No room on the runtime directory's file system: a tmpfs with one inode
 * left cannot take the socket. Needs mount(2); skipped (and said) where the
 * sandbox does not allow it.
 */
static void fault_runtime_dir_full(void)
{
	char dir[64], sock[128], err[4096], cmd[256];
	char *args[] = { "--agent-socket", sock, "--web.listen-address", "127.0.0.1:0", NULL };
	int status;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=64k,nr_inodes=2 memprobe-full %s 2>/dev/null", dir);
	if (geteuid() != 0 || system(cmd) != 0) {
		printf("info fault_runtime_dir_full: cannot mount a tmpfs here; skipped\n");
		goto out;
	}
	/* Use up the inodes (the root directory has one). */
	for (int i = 0; i < 4; i++) {
		char f[128];
		int fd;

		snprintf(f, sizeof(f), "%s/fill%d", dir, i);
		fd = open(f, O_CREAT | O_WRONLY, 0600);
		if (fd >= 0)
			close(fd);
	}
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	status = run_daemon(args, err, sizeof(err));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	CHECK(strstr(err, sock) != NULL);
	CHECK(it_count_lines(err) <= 2);
	if (harness_failures)
		fprintf(stderr, "  memprobed said: %s\n", err);
	snprintf(cmd, sizeof(cmd), "umount %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  umount %s failed\n", dir);
out:
	it_rmtree(dir);
}

/* Connects to sock as user pw (and only pw's own group); returns 0 when
 * it could, 1 for EACCES, else another number. */
static int connect_as(const struct passwd *pw, const char *sock)
{
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		struct sockaddr_un sun;
		int fd;

		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(3);
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (fd < 0 || it_unix_addr(&sun, sock) < 0)
			_exit(4);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			_exit(0);
		_exit(errno == EACCES ? 1 : 2);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * The agent socket is mode 0660: a process of another uid, not in the
 * socket's group, cannot connect; with --agent-socket-group naming its
 * group, it can. Needs root to become `nobody`.
 */
static void fault_other_uid_refused(void)
{
	struct it_daemon d, g;
	struct stat st;
	struct passwd *pw = getpwnam("nobody");
	char gid[16];
	char *extra[] = { "--agent-socket-group", gid, NULL };

	g.proc.pid = 0;
	g.dir[0] = '\0';
	REQUIRE(it_daemon_start(&d, 60) == 0);
	REQUIRE(stat(d.sock, &st) == 0);
	CHECK_U64(st.st_mode & 0777, ==, 0660);
	if (geteuid() != 0 || pw == NULL) {
		printf("info fault_other_uid_refused: not root or no user nobody; connect check skipped\n");
		goto out;
	}
	/* The directory must be searchable for the test to mean anything. */
	chmod(d.dir, 0755);
	CHECK(connect_as(pw, d.sock) == 1);     /* EACCES */

	snprintf(gid, sizeof(gid), "%u", (unsigned)pw->pw_gid);
	REQUIRE(it_daemon_start_args(&g, 60, extra) == 0);
	chmod(g.dir, 0755);
	REQUIRE(stat(g.sock, &st) == 0);
	CHECK_U64(st.st_mode & 0777, ==, 0660);
	CHECK_U64(st.st_gid, ==, pw->pw_gid);
	CHECK(connect_as(pw, g.sock) == 0);
out:
	it_daemon_stop(&d);
	if (g.dir[0] != '\0')
		it_daemon_stop(&g);
}

/*
 * The agent socket's directory removed under a running daemon: it notices,
 * makes the socket again with one log line, and a program started after
 * that is tracked; one tracked before keeps its connection.
 */
static void fault_socket_removed(void)
{
	struct it_daemon d;
	struct it_proc a = { .in_fd = -1, .out_fd = -1 }, b = { .in_fd = -1, .out_fd = -1 };
	struct api_seen w;
	struct stat st;
	char log[64];
	long pa, pb;

	REQUIRE(it_daemon_start(&d, 60) == 0);
	pa = it_hold_start(&a, d.sock, 16, 4096, NULL);
	REQUIRE(pa > 0);
	w = (struct api_seen){ d.url, pa, "live" };
	REQUIRE(it_wait_until(api_has, &w, IT_TIMEOUT_MS));
	/* The whole directory goes (the daemon's log in it too; its
	 * descriptor stays open). */
	it_rmtree(d.dir);
	REQUIRE(stat(d.sock, &st) != 0);
	{
		long long deadline = it_now_ms() + IT_TIMEOUT_MS;

		while (stat(d.sock, &st) != 0 && it_now_ms() < deadline)
			it_proc_wait(&d.proc, 20);      /* a bounded nap; it keeps running */
	}
	CHECK(stat(d.sock, &st) == 0 && (st.st_mode & 0777) == 0660);
	/* Its log file went with the directory; its stderr is still open. */
	snprintf(log, sizeof(log), "/proc/%ld/fd/2", (long)d.proc.pid);
	CHECK(it_wait_log(log, "had gone; made it again"));
	CHECK(it_file_count(log, "warning:") == 1);
	pb = it_hold_start(&b, d.sock, 16, 4096, NULL);
	REQUIRE(pb > 0);
	w = (struct api_seen){ d.url, pb, "live" };
	CHECK(it_wait_until(api_has, &w, IT_TIMEOUT_MS));
	w = (struct api_seen){ d.url, pa, "live" };
	CHECK(api_has(&w));
out:
	it_proc_kill(&a);
	it_proc_kill(&b);
	it_daemon_stop(&d);
}

#define SETPRIV "/usr/bin/setpriv"     /* util-linux, essential in Debian */

/*
 * Starts memprobed as user pw (setpriv; no capabilities left) on d->sock,
 * logging to d->log; d->dir must exist. Tries other ports if one is taken.
 */
static int daemon_start_as(struct it_daemon *d, const struct passwd *pw)
{
	char uid[32], gid[32], listen[64];
	char *argv[] = { SETPRIV, uid, gid, "--clear-groups", "--", itest.memprobed,
	    "--agent-socket", d->sock, "--web.listen-address", listen, "--exited-ttl", "60",
	    "--log-level", "debug", NULL };

	snprintf(uid, sizeof(uid), "--reuid=%u", (unsigned)pw->pw_uid);
	snprintf(gid, sizeof(gid), "--regid=%u", (unsigned)pw->pw_gid);
	for (int attempt = 0; attempt < 5; attempt++) {
		long long deadline = it_now_ms() + IT_START_TIMEOUT_MS;

		d->port = it_free_port();
		if (d->port < 0)
			return -1;
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
		snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
		d->proc.in_fd = d->proc.out_fd = -1;
		if (it_proc_start(&d->proc, argv, NULL, d->log) < 0)
			return -1;
		while (it_now_ms() < deadline) {
			struct it_http r = { 0 };
			int up = it_get(d->url, "/healthz", &r) == 0 && r.status == 200;

			it_http_free(&r);
			if (up)
				return 0;
			if (it_proc_wait(&d->proc, 20) == 0)
				break;          /* it exited: the port, most likely */
		}
		it_daemon_dump_log(d);
		it_proc_kill(&d->proc);
	}
	return -1;
}

/*
 * The agent socket's directory not writable by memprobed (run as nobody,
 * so the permissions bind it). At start: one line naming the socket, exit
 * 1. While running, with the socket removed: one warning however many
 * retries, agents already connected go on reporting and HTTP answers; once
 * the directory is writable again the socket is made again (another line)
 * and a new program reports through it.
 */
static void fault_socket_dir_unwritable(void)
{
	struct passwd *pw = getpwnam("nobody");
	struct it_daemon d;
	struct it_proc a = { .in_fd = -1, .out_fd = -1 }, b = { .in_fd = -1, .out_fd = -1 };
	struct it_proc once = { .in_fd = -1, .out_fd = -1 };
	struct api_seen w;
	struct stat st;
	char ro[128], rosock[192], rolog[192], run[128], err[4096];
	const char *warned = "agent socket had gone and cannot be made again: agent socket ";
	double v = -1;
	long pa, pb;

	memset(&d, 0, sizeof(d));
	d.proc.in_fd = d.proc.out_fd = -1;
	if (geteuid() != 0 || pw == NULL || access(SETPRIV, X_OK) != 0) {
		printf("info fault_socket_dir_unwritable: not root, no user nobody or no %s; skipped\n",
		    SETPRIV);
		return;
	}
	REQUIRE(it_tmpdir(d.dir, sizeof(d.dir)) == 0);
	REQUIRE(chmod(d.dir, 0755) == 0);

	/* At start. */
	snprintf(ro, sizeof(ro), "%s/ro", d.dir);
	snprintf(rosock, sizeof(rosock), "%s/agent.sock", ro);
	snprintf(rolog, sizeof(rolog), "%s/ro.log", d.dir);
	REQUIRE(mkdir(ro, 0555) == 0 && chown(ro, pw->pw_uid, pw->pw_gid) == 0);
	{
		char uid[32], gid[32];
		char *argv[] = { SETPRIV, uid, gid, "--clear-groups", "--", itest.memprobed,
		    "--agent-socket", rosock, "--web.listen-address", "127.0.0.1:0", NULL };

		snprintf(uid, sizeof(uid), "--reuid=%u", (unsigned)pw->pw_uid);
		snprintf(gid, sizeof(gid), "--regid=%u", (unsigned)pw->pw_gid);
		REQUIRE(it_proc_start(&once, argv, NULL, rolog) == 0);
		REQUIRE(it_proc_wait(&once, IT_TIMEOUT_MS) == 0);
	}
	CHECK(WIFEXITED(once.status) && WEXITSTATUS(once.status) == 1);
	CHECK(it_file_has(rolog, rosock) && it_file_has(rolog, "Permission denied"));
	CHECK(it_file_count(rolog, "\n") <= 2);
	if (harness_failures) {
		it_slurp(rolog, err, sizeof(err));
		fprintf(stderr, "  memprobed said: %s\n", err);
	}

	/* While running. */
	snprintf(run, sizeof(run), "%s/run", d.dir);
	snprintf(d.sock, sizeof(d.sock), "%s/agent.sock", run);
	snprintf(d.log, sizeof(d.log), "%s/memprobed.log", d.dir);
	REQUIRE(mkdir(run, 0755) == 0 && chown(run, pw->pw_uid, pw->pw_gid) == 0);
	REQUIRE(daemon_start_as(&d, pw) == 0);
	pa = it_hold_start(&a, d.sock, 64, 65536, NULL);
	REQUIRE(pa > 0);
	REQUIRE(it_wait_metric(d.url, "memprobe_heap_live_bytes", pa, 64 * 65536, 64 * 65536 + (1 << 20),
	    IT_TIMEOUT_MS, &v));

	REQUIRE(chmod(run, 0555) == 0 && unlink(d.sock) == 0);
	CHECK(it_wait_log(d.log, warned));
	CHECK(it_wait_log(d.log, "attempt 3 to make the agent socket again failed"));
	CHECK(it_file_count(d.log, warned) == 1);
	/* The program already connected goes on reporting: it frees its
	 * 4 MiB and the daemon sees it (what is left is the C runtime's, and
	 * under `make asan` the UBSan runtime's in the agent). */
	REQUIRE(it_proc_write(&a, "free\n") == 0);
	CHECK(it_wait_metric(d.url, "memprobe_heap_live_bytes", pa, 0, 1 << 20, IT_TIMEOUT_MS, &v));

	REQUIRE(chmod(run, 0755) == 0);
	CHECK(it_wait_log(d.log, "made again after "));
	CHECK(stat(d.sock, &st) == 0 && (st.st_mode & 0777) == 0660 && st.st_uid == pw->pw_uid);
	pb = it_hold_start(&b, d.sock, 16, 4096, NULL);
	REQUIRE(pb > 0);
	w = (struct api_seen){ d.url, pb, "live" };
	CHECK(it_wait_until(api_has, &w, IT_TIMEOUT_MS));
	if (harness_failures)
		it_daemon_dump_log(&d);
out:
	it_proc_kill(&once);
	it_proc_kill(&a);
	it_proc_kill(&b);
	if (d.dir[0] != '\0')
		it_daemon_stop(&d);
}

int itest_faults_run(void)
{
	if (it_selected("fault_socket_removed"))
		RUN_TEST(fault_socket_removed);
	if (it_selected("fault_daemon_killed_and_restarted"))
		RUN_TEST(fault_daemon_killed_and_restarted);
	if (it_selected("fault_program_killed"))
		RUN_TEST(fault_program_killed);
	if (it_selected("fault_port_taken"))
		RUN_TEST(fault_port_taken);
	if (it_selected("fault_socket_dir_impossible"))
		RUN_TEST(fault_socket_dir_impossible);
	if (it_selected("fault_runtime_dir_full"))
		RUN_TEST(fault_runtime_dir_full);
	if (it_selected("fault_socket_dir_unwritable"))
		RUN_TEST(fault_socket_dir_unwritable);
	if (it_selected("fault_other_uid_refused"))
		RUN_TEST(fault_other_uid_refused);
	return harness_failed_tests;
}
