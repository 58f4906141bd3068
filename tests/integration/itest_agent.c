/* itest_agent.c: the agent is invisible to its host when no daemon is there to listen, and says why with MEMPROBE_DEBUG=1. */
#include "harness.h"
#include "itest_util.h"

#include <errno.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETPRIV "/usr/bin/setpriv"     /* util-linux, essential in Debian */

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
 * Runs argv (alloc_hold, or a command that ends in running it) to the end,
 * sending "free" then end of input, with the environment additions env
 * (as it_proc_start) and its stderr in dir/stderr; what stands for the
 * agent's socket in messages.
 */
static void run_argv(const char *dir, char *const argv[], char *const env[], const char *what,
    struct run_result *res)
{
	char errpath[PATH_MAX];
	struct it_proc p;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	if (it_proc_start(&p, argv, env, errpath) < 0)
		goto out;
	/* Both commands at once: the program must get through them alone. */
	it_proc_write(&p, "free\n");
	it_proc_close_stdin(&p);
	if (it_proc_read_all(&p, res->out, sizeof(res->out), IT_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  alloc_hold (agent %s): output did not end\n", what);
		goto out;
	}
	if (it_proc_wait(&p, IT_TIMEOUT_MS) < 0) {
		fprintf(stderr, "  alloc_hold (agent %s): did not exit\n", what);
		goto out;
	}
	res->status = p.status;
	mask_pid(res->out);
	it_slurp(errpath, res->err, sizeof(res->err));
out:
	it_proc_kill(&p);
}

/*
 * Runs `alloc_hold 64 1024` to the end with the agent reporting to sock,
 * or without the agent when sock is NULL.
 */
static void run_hold(const char *dir, const char *sock, struct run_result *res)
{
	char *argv[] = { itest.alloc_hold, "64", "1024", NULL };
	char storage[2 * PATH_MAX + 64];
	char *env[4] = { NULL };

	if (sock != NULL)
		it_agent_env(env, storage, sock);
	run_argv(dir, argv, env, sock != NULL ? sock : "none", res);
}

/* Leaves a socket file at path with nobody behind it (connect: refused). */
static int stale_socket(const char *path)
{
	int fd = it_seqpacket_bind(path, -1);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* A socket that listens but never accepts: a daemon that hangs. The caller
 * closes the descriptor. */
static int deaf_socket(const char *path)
{
	return it_seqpacket_bind(path, 1);
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

/*
 * Checks that the program ran as without the agent and that its stderr is
 * one MEMPROBE_DEBUG line naming sock and why it could not connect.
 */
static void check_told(const struct run_result *r, const char *sock, const char *why)
{
	char want[PATH_MAX + 160];
	const char *line = "memprobe: not reporting: cannot connect to memprobed at ";
	const char *first;

	snprintf(want, sizeof(want), "%s%s: %s; trying again quietly\n", line, sock, why);
	CHECK(r->status != -1 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
	CHECK_STR(r->out, "ready PID\nfreed\n");
	first = strstr(r->err, line);
	CHECK(first != NULL && strstr(first + 1, line) == NULL);   /* once */
	if (strstr(r->err, want) == NULL) {
		fprintf(stderr, "  stderr \"%s\", want the line \"%s\"\n", r->err, want);
		CHECK(0);
	}
}

/* it_agent_env() and MEMPROBE_DEBUG=1; env has room for 5 entries. */
static void debug_env(char *env[], char *storage, const char *sock)
{
	it_agent_env(env, storage, sock);
	env[3] = "MEMPROBE_DEBUG=1";
	env[4] = NULL;
}

/*
 * MEMPROBE_DEBUG=1 says once, on stderr, which socket the agent could not
 * reach and why: no such file (ENOENT), nobody listening (ECONNREFUSED),
 * and a directory it may not search (EACCES), the last as user nobody
 * (root searches any directory), so only when the test runs as root.
 */
static void debug_unreachable(void)
{
	char dir[PATH_MAX] = "", sock[3][PATH_MAX], locked[PATH_MAX] = "";
	char storage[2 * PATH_MAX + 64];
	char *argv[] = { itest.alloc_hold, "64", "1024", NULL };
	char *env[5] = { NULL };
	struct passwd *pw = getpwnam("nobody");
	struct run_result r;

	REQUIRE(it_tmpdir(dir, sizeof(dir)) == 0);
	snprintf(sock[0], sizeof(sock[0]), "%s/absent.sock", dir);
	snprintf(sock[1], sizeof(sock[1]), "%s/stale.sock", dir);
	snprintf(locked, sizeof(locked), "%s/locked", dir);
	snprintf(sock[2], sizeof(sock[2]), "%s/agent.sock", locked);
	REQUIRE(stale_socket(sock[1]) == 0);

	debug_env(env, storage, sock[0]);
	run_argv(dir, argv, env, sock[0], &r);
	check_told(&r, sock[0], "ENOENT (No such file or directory)");
	debug_env(env, storage, sock[1]);
	run_argv(dir, argv, env, sock[1], &r);
	check_told(&r, sock[1], "ECONNREFUSED (Connection refused)");

	REQUIRE(mkdir(locked, 0755) == 0 && stale_socket(sock[2]) == 0 && chmod(locked, 0) == 0);
	if (geteuid() != 0) {
		debug_env(env, storage, sock[2]);
		run_argv(dir, argv, env, sock[2], &r);
		check_told(&r, sock[2], "EACCES (Permission denied)");
	} else if (pw != NULL && access(SETPRIV, X_OK) == 0) {
		char uid[32], gid[32], pre[PATH_MAX + 16], sk[PATH_MAX + 32];
		char *as_nobody[] = { SETPRIV, uid, gid, "--clear-groups", "--", "/usr/bin/env", pre,
		    sk, "MEMPROBE_DEBUG=1", itest.alloc_hold, "64", "1024", NULL };

		/* The agent is loaded after setpriv, into alloc_hold only. */
		snprintf(uid, sizeof(uid), "--reuid=%u", (unsigned)pw->pw_uid);
		snprintf(gid, sizeof(gid), "--regid=%u", (unsigned)pw->pw_gid);
		snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", itest.agent);
		snprintf(sk, sizeof(sk), "MEMPROBE_SOCKET=%s", sock[2]);
		REQUIRE(chmod(dir, 0755) == 0);
		run_argv(dir, as_nobody, NULL, sock[2], &r);
		check_told(&r, sock[2], "EACCES (Permission denied)");
	} else {
		printf("info debug_unreachable: root without user nobody or %s; EACCES not checked\n",
		    SETPRIV);
	}
out:
	if (locked[0] != '\0')
		chmod(locked, 0755);
	it_rmtree(dir);
}

int itest_agent_run(void)
{
	if (it_selected("no_daemon"))
		RUN_TEST(no_daemon);
	if (it_selected("debug_unreachable"))
		RUN_TEST(debug_unreachable);
	return harness_failed_tests;
}
