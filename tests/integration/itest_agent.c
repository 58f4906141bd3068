/* itest_agent.c: the agent is invisible to its host when no daemon is there to listen. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct run_result {
	char out[256];          /* stdout, "ready PID" masked */
	char err[1024];         /* stderr */
	int status;             /* wait status; -1 if it did not finish */
};

/* Replaces the number after "ready " with "PID". */
static void mask_pid(char *s)
{
	char *p = strstr(s, "ready ");
	size_t digits;

	if (p == NULL)
		return;
	p += 6;
	digits = strspn(p, "0123456789");
	/* The callers' buffers have room for a pid shorter than "PID". */
	memmove(p + 3, p + digits, strlen(p + digits) + 1);
	memcpy(p, "PID", 3);
}

/*
 * Runs `alloc_hold 64 1024` to the end (sending "free", then end of input)
 * with the agent reporting to sock, or without the agent when sock is NULL.
 */
static void run_hold(const char *dir, const char *sock, struct run_result *res)
{
	char *argv[] = { itest.alloc_hold, "64", "1024", NULL };
	char storage[2 * PATH_MAX + 64], errpath[PATH_MAX];
	char *env[4] = { NULL };
	struct it_proc p;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	if (sock != NULL)
		it_agent_env(env, storage, sock);
	if (it_proc_start(&p, argv, env, errpath) < 0)
		goto out;
	/* Both commands at once: the program must get through them alone. */
	it_proc_write(&p, "free\n");
	it_proc_close_stdin(&p);
	if (it_proc_read_all(&p, res->out, sizeof(res->out), IT_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  alloc_hold (agent %s): output did not end\n",
		    sock != NULL ? sock : "none");
		goto out;
	}
	if (it_proc_wait(&p, IT_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  alloc_hold (agent %s): did not exit\n",
		    sock != NULL ? sock : "none");
		goto out;
	}
	res->status = p.status;
	mask_pid(res->out);
	it_slurp(errpath, res->err, sizeof(res->err));
out:
	it_proc_kill(&p);
}

/* Leaves a socket file at path with nobody behind it (connect: refused). */
static int stale_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (it_unix_addr(&sun, path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

/* A socket that listens but never accepts: a daemon that hangs. The caller
 * closes the descriptor. */
static int deaf_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (it_unix_addr(&sun, path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static void no_daemon(void)
{
	static const char *const what[] = {
		"no socket file", "a stale socket file", "a listener that never accepts",
	};
	char dir[PATH_MAX] = "", sock[3][PATH_MAX];
	struct run_result plain, with[3];
	int deaf = -1;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(sock[0], sizeof(sock[0]), "%s/absent.sock", dir);
	snprintf(sock[1], sizeof(sock[1]), "%s/stale.sock", dir);
	snprintf(sock[2], sizeof(sock[2]), "%s/deaf.sock", dir);
	REQUIRE(stale_socket(sock[1]) == 0);
	deaf = deaf_socket(sock[2]);
	REQUIRE(deaf >= 0);

	run_hold(dir, NULL, &plain);
	REQUIRE(plain.status != -1);
	CHECK(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0);
	CHECK_STR(plain.out, "ready PID\nfreed\n");

	for (int i = 0; i < 3; i++) {
		run_hold(dir, sock[i], &with[i]);
		if (with[i].status == -1) {
			fprintf(stderr, "  with the agent and %s: did not finish\n", what[i]);
			CHECK(0);
			continue;
		}
		if (strcmp(with[i].out, plain.out) != 0 || with[i].status != plain.status ||
		    strcmp(with[i].err, plain.err) != 0) {
			fprintf(stderr, "  with the agent and %s:\n", what[i]);
			fprintf(stderr, "    stdout \"%s\" vs \"%s\" without\n", with[i].out, plain.out);
			fprintf(stderr, "    stderr \"%s\" vs \"%s\" without\n", with[i].err, plain.err);
			fprintf(stderr, "    status 0x%x vs 0x%x without\n", with[i].status, plain.status);
		}
		CHECK_STR(with[i].out, plain.out);
		CHECK_STR(with[i].err, plain.err);
		CHECK(with[i].status == plain.status);
	}
out:
	if (deaf >= 0)
		close(deaf);
	it_rmtree(dir);
}

int itest_agent_run(void)
{
	if (it_selected("no_daemon"))
		RUN_TEST(no_daemon);
	return harness_failed_tests;
}
