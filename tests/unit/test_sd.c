/* test_sd.c: unit tests of daemon/sd.c: socket activation, notification and the watchdog through libsystemd. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "sd.h"

/*
 * These set the variables systemd would (LISTEN_*, NOTIFY_SOCKET,
 * WATCHDOG_*) and check what sd.c makes of them; the integration tests
 * (itest_systemd.c) run the whole daemon under systemd's tools.
 */

static char tmpdir[] = "/tmp/memprobe-test-sd-XXXXXX";

static int unix_socket(int type, const char *name, int do_listen)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", tmpdir, name);
	unlink(sun.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    (do_listen && listen(fd, 4) < 0)) {
		perror("unix socket");
		exit(1);
	}
	return fd;
}

static int tcp_listener(void)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4) < 0) {
		perror("tcp socket");
		exit(1);
	}
	return fd;
}

/* Puts fd at descriptor `at` without FD_CLOEXEC, as systemd passes it. */
static void pass_at(int fd, int at)
{
	if (fd == at) {
		fcntl(fd, F_SETFD, 0);
		return;
	}
	if (dup2(fd, at) < 0) {
		perror("dup2");
		exit(1);
	}
	close(fd);
}

static void set_listen_env(pid_t pid, int n, const char *names)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	setenv("LISTEN_PID", buf, 1);
	snprintf(buf, sizeof(buf), "%d", n);
	setenv("LISTEN_FDS", buf, 1);
	if (names != NULL)
		setenv("LISTEN_FDNAMES", names, 1);
	else
		unsetenv("LISTEN_FDNAMES");
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int env_cleared(void)
{
	return getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
	    getenv("LISTEN_FDNAMES") == NULL;
}

static void test_listen_none(void)
{
	struct sysd_sockets sk;
	char err[256] = "";

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	CHECK(sysd_listen(&sk, err, sizeof(err)) == 0);
	CHECK(sk.agent == -1 && sk.http == -1);
}

/* Named in the other order than the usual one: names decide, not places. */
static void test_listen_named(void)
{
	struct sysd_sockets sk;
	char err[256] = "";

	pass_at(tcp_listener(), 3);
	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 1), 4);
	set_listen_env(getpid(), 2, "http:agent");
	CHECK(sysd_listen(&sk, err, sizeof(err)) == 2);
	CHECK(sk.http == 3);
	CHECK(sk.agent == 4);
	CHECK(env_cleared());
	/* Not inherited by anything memprobed would start. */
	CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK((fcntl(4, F_GETFD) & FD_CLOEXEC) != 0);
	close(3);
	close(4);
}

/* Meant for the process that exec'd us: not taken, not closed. */
static void test_listen_other_pid(void)
{
	struct sysd_sockets sk;
	char err[256] = "";

	pass_at(tcp_listener(), 3);
	set_listen_env(getpid() + 1, 1, "http");
	CHECK(sysd_listen(&sk, err, sizeof(err)) == 0);
	CHECK(sk.agent == -1 && sk.http == -1);
	CHECK(is_open(3));
	CHECK(env_cleared());
	close(3);
}

/* No names (a socket unit without FileDescriptorName=): taken by type. */
static void test_listen_by_type(void)
{
	struct sysd_sockets sk;
	char err[256] = "";

	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 1), 3);
	pass_at(tcp_listener(), 4);
	set_listen_env(getpid(), 2, NULL);
	CHECK(sysd_listen(&sk, err, sizeof(err)) == 2);
	CHECK(sk.agent == 3);
	CHECK(sk.http == 4);
	close(3);
	close(4);

	/* Fewer names than descriptors: refused, as libsystemd does. */
	pass_at(tcp_listener(), 3);
	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 1), 4);
	set_listen_env(getpid(), 2, "http");
	CHECK(sysd_listen(&sk, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "LISTEN_FDNAMES") != NULL);
	CHECK(sk.agent == -1 && sk.http == -1);
	CHECK(env_cleared());
	close(3);
	close(4);
}

/* Each wrong descriptor fails with its number and what it is, and every
 * passed descriptor is closed. */
static void expect_error(const char *names, int n, const char *want1, const char *want2)
{
	struct sysd_sockets sk;
	char err[512] = "";

	set_listen_env(getpid(), n, names);
	CHECK(sysd_listen(&sk, err, sizeof(err)) == -EINVAL);
	CHECK(sk.agent == -1 && sk.http == -1);
	if (strstr(err, want1) == NULL || strstr(err, want2) == NULL) {
		fprintf(stderr, "  error \"%s\" lacks \"%s\" or \"%s\"\n", err, want1, want2);
		CHECK(0);
	}
	for (int i = 0; i < n; i++)
		CHECK(!is_open(3 + i));
	CHECK(env_cleared());
}

static void test_listen_wrong(void)
{
	/* A stream socket where the agent's SEQPACKET one belongs. */
	pass_at(unix_socket(SOCK_STREAM, "stream.sock", 1), 3);
	expect_error("agent", 1, "descriptor 3 (\"agent\") is a listening AF_UNIX SOCK_STREAM",
	    "SOCK_SEQPACKET");

	/* The agent socket named http. */
	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 1), 3);
	expect_error("http", 1, "descriptor 3 (\"http\")", "AF_INET");

	/* Bound, not listening. */
	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 0), 3);
	expect_error("agent", 1, "non-listening AF_UNIX SOCK_SEQPACKET", "descriptor 3");

	/* Two agent sockets. */
	pass_at(unix_socket(SOCK_SEQPACKET, "agent.sock", 1), 3);
	pass_at(unix_socket(SOCK_SEQPACKET, "agent2.sock", 1), 4);
	expect_error("agent:agent", 2, "descriptors 3 and 4", "agent socket");

	/* Unnamed and of no use: a datagram socket. */
	pass_at(tcp_listener(), 3);
	pass_at(unix_socket(SOCK_DGRAM, "dgram.sock", 0), 4);
	expect_error("http:stuff", 2, "descriptor 4 (\"stuff\")", "SOCK_DGRAM");

	/* Not a socket at all. */
	pass_at(open("/dev/null", O_RDONLY), 3);
	expect_error("agent", 1, "descriptor 3", "not a socket");
}

/* Receives one datagram from fd into buf, waiting up to a second. */
static ssize_t recv_one(int fd, char *buf, size_t size)
{
	struct timeval tv = { 1, 0 };
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void test_notify(void)
{
	char path[256], buf[256];
	int fd = unix_socket(SOCK_DGRAM, "notify", 0), afd;
	struct sockaddr_un sun;

	unsetenv("NOTIFY_SOCKET");
	CHECK(!sysd_notifying());
	CHECK(sysd_notify("READY=1") == 0);

	snprintf(path, sizeof(path), "%s/notify", tmpdir);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK(sysd_notifying());
	CHECK(sysd_notify("READY=1\nSTATUS=agents 0") == 1);
	CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "READY=1\nSTATUS=agents 0");
	CHECK(sysd_notifyf("STATUS=agents %d, processes %d", 3, 4) == 1);
	CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "STATUS=agents 3, processes 4");

	/* An abstract socket, written with '@' as systemd does. */
	afd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "memprobe-test-sd-%d", (int)getpid());
	CHECK(bind(afd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sun.sun_path + 1))) == 0);
	snprintf(path, sizeof(path), "@%s", sun.sun_path + 1);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK(sysd_notify("WATCHDOG=1") == 1);
	CHECK(recv_one(afd, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "WATCHDOG=1");

	/* Nobody listens: an error, not a crash or a hang. */
	snprintf(path, sizeof(path), "%s/nobody", tmpdir);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK(sysd_notify("WATCHDOG=1") < 0);
	unsetenv("NOTIFY_SOCKET");
	close(afd);
	close(fd);
}

static void test_watchdog(void)
{
	char pid[32];

	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	CHECK_U64(sysd_watchdog_usec(), ==, 0);
	setenv("WATCHDOG_USEC", "400000", 1);
	CHECK_U64(sysd_watchdog_usec(), ==, 400000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_U64(sysd_watchdog_usec(), ==, 400000);
	/* Meant for another process. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_U64(sysd_watchdog_usec(), ==, 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	CHECK_U64(sysd_watchdog_usec(), ==, 0);
	setenv("WATCHDOG_USEC", "40x", 1);
	CHECK_U64(sysd_watchdog_usec(), ==, 0);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	log_init("test_sd");
	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	RUN_TEST(test_listen_none);
	RUN_TEST(test_listen_named);
	RUN_TEST(test_listen_other_pid);
	RUN_TEST(test_listen_by_type);
	RUN_TEST(test_listen_wrong);
	RUN_TEST(test_notify);
	RUN_TEST(test_watchdog);
	{
		const char *names[] = { "agent.sock", "agent2.sock", "stream.sock", "dgram.sock",
			"notify", NULL };
		char path[256];

		for (int i = 0; names[i] != NULL; i++) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
			unlink(path);
		}
		rmdir(tmpdir);
	}
	return HARNESS_EXIT();
}
