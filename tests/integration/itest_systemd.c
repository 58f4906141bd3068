/* itest_systemd.c: memprobed under systemd's protocols: readiness, status, watchdog, socket activation. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The service manager's side is played by the test: a NOTIFY_SOCKET of our
 * own (an AF_UNIX datagram socket with SO_PASSCRED, so each message names
 * its sender), and systemd-socket-activate (package systemd) for socket
 * activation. systemd itself need not run.
 */

#define WATCHDOG_USEC "400000"

/* ---- a NOTIFY_SOCKET ---- */

struct notify {
	int fd;
	char path[PATH_MAX];
	pid_t expect_pid;               /* messages from anyone else count in foreign */
	unsigned messages, watchdogs, foreign;
	char last[1024];                /* the last message */
	char status[256];               /* the last STATUS= value */
};

static int notify_open(struct notify *n, const char *dir)
{
	struct sockaddr_un sun;

	memset(n, 0, sizeof(*n));
	snprintf(n->path, sizeof(n->path), "%s/notify", dir);
	if (it_unix_addr(&sun, n->path) < 0)
		return -ENAMETOOLONG;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -errno;
	if (bind(n->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
		int err = errno;

		close(n->fd);
		n->fd = -1;
		return -err;
	}
	return 0;
}

/* Receives one message within timeout_ms and accounts for it. Returns 1,
 * or 0 on timeout. */
static int notify_recv(struct notify *n, int timeout_ms)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct pollfd pfd = { .fd = n->fd, .events = POLLIN };
	struct iovec iov = { n->last, sizeof(n->last) - 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	pid_t sender = 0;
	ssize_t len;
	char *line, *save;
	char copy[sizeof(n->last)];

	if (poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	len = recvmsg(n->fd, &mh, MSG_DONTWAIT);
	if (len < 0)
		return 0;
	n->last[len] = '\0';
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			sender = uc.pid;
		}
	}
	n->messages++;
	if (sender != n->expect_pid) {
		n->foreign++;
		fprintf(stderr, "  notify: \"%s\" from pid %d, not memprobed's %d\n", n->last,
		    (int)sender, (int)n->expect_pid);
	}
	memcpy(copy, n->last, sizeof(copy));
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "WATCHDOG=1") == 0)
			n->watchdogs++;
		else if (strncmp(line, "STATUS=", 7) == 0)
			snprintf(n->status, sizeof(n->status), "%s", line + 7);
	}
	return 1;
}

/* Whether the last message has a line starting with `prefix`. */
static int notify_has(const struct notify *n, const char *prefix)
{
	const char *p = n->last;
	size_t len = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, len) == 0)
			return 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

/* Receives messages until one has a line starting with `prefix`, for at
 * most timeout_ms. Returns 1 if one came; else says what was last seen. */
static int notify_wait(struct notify *n, const char *prefix, int timeout_ms)
{
	long long end = it_now_ms() + timeout_ms;

	while (notify_recv(n, (int)(end - it_now_ms())))
		if (notify_has(n, prefix))
			return 1;
	fprintf(stderr, "  notify: no \"%s\" within %d ms (last message \"%s\")\n", prefix,
	    timeout_ms, n->last);
	return 0;
}

static void notify_close(struct notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

/* ---- helpers ---- */

static int healthz(const char *url)
{
	struct it_http r;
	int ok = it_get(url, "/healthz", &r) == 0 && r.status == 200 &&
	    r.body != NULL && strncmp(r.body, "ok", 2) == 0;

	it_http_free(&r);
	return ok;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. */
static int tcp_listening(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* systemd-socket-activate's path (static storage), or NULL when the
 * package systemd is missing. */
static char *socket_activate_path(void)
{
	static const char *const cands[] = {
		"/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate",
		"/usr/local/bin/systemd-socket-activate",
	};
	static char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (access(cands[i], X_OK) == 0) {
			snprintf(path, sizeof(path), "%s", cands[i]);
			return path;
		}
	}
	fprintf(stderr, "  systemd-socket-activate not found: install the package systemd "
	    "(make deps)\n");
	return NULL;
}

struct waitfile {
	const char *path;
	struct it_proc *proc;
};

static int file_or_exit(void *arg)
{
	struct waitfile *w = arg;

	return path_exists(w->path) || (it_proc_wait(w->proc, 0) == 0 && w->proc->pid == 0);
}

struct waitup {
	const char *url;
	struct it_proc *proc;
};

static int up_or_exit(void *arg)
{
	struct waitup *w = arg;

	return (it_proc_wait(w->proc, 0) == 0 && w->proc->pid == 0) || healthz(w->url);
}

/* ---- the tests ---- */

/*
 * Type=notify as systemd runs it: READY=1 once both sockets serve (so
 * /healthz answers and the agent socket accepts when it arrives), STATUS=
 * with the counts as they change, WATCHDOG=1 again and again at half of
 * WATCHDOG_USEC, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
 * SIGTERM; every message from memprobed's own pid (NotifyAccess=main).
 */
static void systemd_notify(void)
{
	struct it_daemon d;
	struct notify n = { .fd = -1 };
	struct it_proc hold;
	char listen[64], env_notify[PATH_MAX + 16];
	char *env[] = { env_notify, "WATCHDOG_USEC=" WATCHDOG_USEC, NULL };
	long pid;
	int fd;

	memset(&d, 0, sizeof(d));
	memset(&hold, 0, sizeof(hold));
	d.proc.in_fd = d.proc.out_fd = hold.in_fd = hold.out_fd = -1;
	REQUIRE(it_tmpdir(d.dir, sizeof(d.dir)) == 0);
	REQUIRE(notify_open(&n, d.dir) == 0);
	snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", n.path);
	snprintf(d.sock, sizeof(d.sock), "%s/agent.sock", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/memprobed.log", d.dir);
	d.port = it_free_port();
	REQUIRE(d.port > 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d.port);
	snprintf(d.url, sizeof(d.url), "http://127.0.0.1:%d", d.port);
	{
		/* WATCHDOG_PID names the process that execs memprobed, as
		 * systemd's does: the shell's pid is memprobed's after exec. */
		char *argv[] = {
			"/bin/sh", "-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", itest.memprobed,
			"--agent-socket", d.sock, "--web.listen-address", listen,
			"--log-level", "debug", NULL,
		};

		REQUIRE(it_proc_start(&d.proc, argv, env, d.log) == 0);
	}
	n.expect_pid = d.proc.pid;

	/* The moment READY=1 arrives, both sockets serve. */
	REQUIRE(notify_wait(&n, "READY=1", IT_START_TIMEOUT_MS));
	CHECK(healthz(d.url));
	fd = it_seqpacket_connect(d.sock);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(notify_has(&n, "STATUS="));
	CHECK_STR(n.status, "agents 0, processes 0 (live 0, exited 0)");

	/* The watchdog keeps being petted: several in a bounded wait. */
	{
		long long end = it_now_ms() + IT_TIMEOUT_MS;
		unsigned before = n.watchdogs;

		while (n.watchdogs < before + 5 && notify_recv(&n, (int)(end - it_now_ms())))
			;
		CHECK(n.watchdogs >= before + 5);
	}

	/* STATUS= follows the counts. */
	pid = it_hold_start(&hold, d.sock, 16, 4096, NULL);
	REQUIRE(pid > 0);
	CHECK(notify_wait(&n, "STATUS=agents 1, processes 1 (live 1, exited 0)", IT_TIMEOUT_MS));
	it_proc_kill(&hold);
	CHECK(notify_wait(&n, "STATUS=agents 0, processes 1 (live 0, exited 1)", IT_TIMEOUT_MS));

	/* A reload is announced and closed with READY=1. */
	CHECK(kill(d.proc.pid, SIGHUP) == 0);
	CHECK(notify_wait(&n, "RELOADING=1", IT_TIMEOUT_MS));
	CHECK(notify_wait(&n, "READY=1", IT_TIMEOUT_MS));
	CHECK(healthz(d.url));

	/* On the way out. */
	CHECK(kill(d.proc.pid, SIGTERM) == 0);
	CHECK(notify_wait(&n, "STOPPING=1", IT_TIMEOUT_MS));
	CHECK(it_proc_wait(&d.proc, IT_TIMEOUT_MS) == 0);
	CHECK(WIFEXITED(d.proc.status) && WEXITSTATUS(d.proc.status) == 0);
	CHECK(n.foreign == 0);
out:
	it_proc_kill(&hold);
	notify_close(&n);
	CHECK(it_daemon_finish(&d, harness_failures) == 0);
}

/*
 * Socket activation for real: systemd-socket-activate binds the agent
 * socket (SOCK_SEQPACKET) and execs a second systemd-socket-activate, which
 * passes that one on, binds HTTP and names both (agent:http) for memprobed;
 * one systemd-socket-activate makes sockets of one type only. memprobed
 * must serve on both and bind nothing of its own (its flags name other
 * addresses), and must leave the socket file it did not make.
 */
static void socket_activation(void)
{
	char *ssa = socket_activate_path();
	struct it_daemon d;
	struct it_proc hold;
	char own_sock[PATH_MAX], own_listen[64], listen[64], fdname[] = "--fdname=agent:http";
	int own_port = -1, trigger = -1;
	long pid;

	memset(&d, 0, sizeof(d));
	memset(&hold, 0, sizeof(hold));
	d.proc.in_fd = d.proc.out_fd = hold.in_fd = hold.out_fd = -1;
	REQUIRE(ssa != NULL);
	REQUIRE(it_tmpdir(d.dir, sizeof(d.dir)) == 0);
	snprintf(d.sock, sizeof(d.sock), "%s/agent.sock", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/memprobed.log", d.dir);
	snprintf(own_sock, sizeof(own_sock), "%s/own.sock", d.dir);

	/* A port can be taken between our probe and the bind: try again. */
	for (int attempt = 0; attempt < 5; attempt++) {
		char *argv[] = {
			ssa, "--seqpacket", "-l", d.sock,
			ssa, "-l", listen, fdname,
			itest.memprobed, "--agent-socket", own_sock,
			"--web.listen-address", own_listen, "--log-level", "debug", NULL,
		};
		struct waitfile wf = { d.sock, &d.proc };
		struct waitup wu = { d.url, &d.proc };

		d.port = it_free_port();
		own_port = it_free_port();
		REQUIRE(d.port > 0 && own_port > 0 && own_port != d.port);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", d.port);
		snprintf(own_listen, sizeof(own_listen), "127.0.0.1:%d", own_port);
		snprintf(d.url, sizeof(d.url), "http://127.0.0.1:%d", d.port);
		unlink(d.sock);
		REQUIRE(it_proc_start(&d.proc, argv, NULL, d.log) == 0);
		/* systemd-socket-activate starts its command at the first
		 * connection: ours, which sends nothing. */
		REQUIRE(it_wait_until(file_or_exit, &wf, IT_START_TIMEOUT_MS));
		if (d.proc.pid != 0)
			trigger = it_seqpacket_connect(d.sock);
		if (d.proc.pid != 0 && trigger >= 0 && it_wait_until(up_or_exit, &wu, IT_START_TIMEOUT_MS) &&
		    d.proc.pid != 0)
			break;
		fprintf(stderr, "  socket_activation: attempt %d failed (trigger %d)\n", attempt, trigger);
		it_daemon_dump_log(&d);
		if (trigger >= 0)
			close(trigger);
		trigger = -1;
		it_proc_kill(&d.proc);
	}
	REQUIRE(d.proc.pid != 0 && healthz(d.url));
	close(trigger);
	trigger = -1;
	CHECK(it_wait_log(d.log, "(socket activation) and http://127.0.0.1:"));

	/* An agent reports through the passed agent socket; /metrics is
	 * served on the passed HTTP socket. */
	pid = it_hold_start(&hold, d.sock, 256, 4096, NULL);
	REQUIRE(pid > 0);
	CHECK(it_wait_metric(d.url, "memprobe_heap_live_bytes", pid, 256 * 4096, 2 * 256 * 4096,
	    IT_TIMEOUT_MS, NULL));

	/* Nothing bound of its own. */
	CHECK(!path_exists(own_sock));
	CHECK(!tcp_listening(own_port));

	it_proc_kill(&hold);
	CHECK(it_proc_stop(&d.proc, SIGTERM, IT_TIMEOUT_MS) == 0);
	CHECK(WIFEXITED(d.proc.status) && WEXITSTATUS(d.proc.status) == 0);
	/* The socket file was systemd-socket-activate's: still there. */
	CHECK(path_exists(d.sock));
out:
	if (trigger >= 0)
		close(trigger);
	it_proc_kill(&hold);
	it_daemon_finish(&d, harness_failures);
}

/*
 * A passed socket of the wrong type is refused with a line naming the
 * descriptor, what it is and what was expected, and exit status 1: here a
 * SOCK_STREAM Unix socket named "agent".
 */
static void socket_activation_wrong_type(void)
{
	char *ssa = socket_activate_path();
	struct it_daemon d;
	char fdname[] = "--fdname=agent";
	int trigger = -1;

	memset(&d, 0, sizeof(d));
	d.proc.in_fd = d.proc.out_fd = -1;
	REQUIRE(ssa != NULL);
	REQUIRE(it_tmpdir(d.dir, sizeof(d.dir)) == 0);
	snprintf(d.sock, sizeof(d.sock), "%s/stream.sock", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/memprobed.log", d.dir);
	{
		char *argv[] = { ssa, "-l", d.sock, fdname, itest.memprobed,
			"--web.listen-address", "127.0.0.1:0", NULL };
		struct waitfile wf = { d.sock, &d.proc };
		struct sockaddr_un sun;

		REQUIRE(it_proc_start(&d.proc, argv, NULL, d.log) == 0);
		REQUIRE(it_wait_until(file_or_exit, &wf, IT_START_TIMEOUT_MS));
		REQUIRE(it_unix_addr(&sun, d.sock) == 0);
		trigger = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(trigger >= 0);
		CHECK(connect(trigger, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	}
	REQUIRE(it_proc_wait(&d.proc, IT_TIMEOUT_MS) == 0);
	CHECK(WIFEXITED(d.proc.status) && WEXITSTATUS(d.proc.status) == 1);
	CHECK(it_wait_log(d.log, "descriptor 3 (\"agent\") is a listening AF_UNIX SOCK_STREAM socket; "
	    "expected a listening AF_UNIX SOCK_SEQPACKET socket"));
	CHECK(it_wait_log(d.log, "not starting"));
out:
	if (trigger >= 0)
		close(trigger);
	it_daemon_finish(&d, harness_failures);
}

int itest_systemd_run(void)
{
	if (it_selected("systemd_notify"))
		RUN_TEST(systemd_notify);
	if (it_selected("socket_activation"))
		RUN_TEST(socket_activation);
	if (it_selected("socket_activation_wrong_type"))
		RUN_TEST(socket_activation_wrong_type);
	return harness_failed_tests;
}
