/* test_sockpath.c: the default agent socket rule (common/sockpath.c) against the table the Python agent is checked against too. */
#include "harness.h"
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CASES "tests/unit/sockpath_cases.txt"
#define NFIELDS 8

/* What the fake is_socket() answers, and the path it was asked about. */
static int fake_exists;
static char fake_asked[8192];

static int fake_is_socket(const char *path)
{
	snprintf(fake_asked, sizeof(fake_asked), "%s", path);
	return fake_exists;
}

/*
 * A table value into a new string (the caller frees it), or NULL for "-":
 * "''" is "", "{N}" N letters a, "{N:c}" N times the character c.
 */
static char *expand(const char *v)
{
	size_t cap = strlen(v) + 1, len = 0;
	char *out;

	if (strcmp(v, "-") == 0)
		return NULL;
	if (strcmp(v, "''") == 0)
		v = "";
	out = malloc(cap);
	while (out != NULL && *v != '\0') {
		const char *rep = "a", *end;
		size_t n = 1, replen = 1;

		if (*v == '{' && (end = strchr(v, '}')) != NULL) {
			char *colon;

			n = strtoul(v + 1, &colon, 10);
			if (*colon == ':') {
				rep = colon + 1;
				replen = (size_t)(end - rep);
			}
			v = end + 1;
		} else {
			rep = v++;
		}
		if (len + n * replen + 1 > cap) {
			char *grown;

			cap = len + n * replen + 1;
			grown = realloc(out, cap);
			if (grown == NULL)
				free(out);
			out = grown;
		}
		for (size_t i = 0; out != NULL && i < n; i++, len += replen)
			memcpy(out + len, rep, replen);
	}
	if (out != NULL)
		out[len] = '\0';
	return out;
}

/* Splits line at '|' into f (trimmed, in place). Returns the field count. */
static int split(char *line, char *f[NFIELDS])
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\n")] = '\0';
	while (n < NFIELDS && p != NULL) {
		char *bar = strchr(p, '|'), *e;

		if (bar != NULL)
			*bar = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		f[n++] = p;
		p = bar != NULL ? bar + 1 : NULL;
	}
	return p == NULL ? n : n + 1;
}

/* Checks one answer: rc and buf against want (a path or ENAMETOOLONG). */
static void check_answer(const char *name, const char *what, int rc, const char *buf,
    const char *want)
{
	int ok = want != NULL && (strcmp(want, "ENAMETOOLONG") == 0 ?
	    rc == -ENAMETOOLONG && buf[0] == '\0' : rc == 0 && strcmp(buf, want) == 0);

	if (!ok) {
		fprintf(stderr, "  case \"%s\", %s: got %d \"%s\", want \"%s\"\n", name, what, rc,
		    buf, want != NULL ? want : "(unset)");
		CHECK(0);
	}
}

static void test_table(void)
{
	const char *src = getenv("MEMPROBE_SRCDIR");
	char path[4096], line[1024], *f[NFIELDS];
	int ncases = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/" CASES, src != NULL ? src : ".");
	fp = fopen(path, "r");
	if (fp == NULL) {
		fprintf(stderr, "  %s: cannot open\n", path);
		CHECK(0);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *env, *xdg, *own, *asked, *conn, buf[SOCKPATH_MAX + 1];
		uid_t euid;
		int rc;

		if (line[0] == '#' || line[strspn(line, " \t\n")] == '\0')
			continue;
		if (split(line, f) != NFIELDS) {
			fprintf(stderr, "  %s: not %d fields: %s\n", path, NFIELDS, line);
			CHECK(0);
			continue;
		}
		env = expand(f[1]);
		xdg = expand(f[2]);
		euid = (uid_t)strtoul(f[3], NULL, 10);
		own = expand(f[5]);
		asked = expand(f[6]);
		conn = expand(f[7]);
		fake_exists = strcmp(f[4], "yes") == 0;
		fake_asked[0] = '\0';

		rc = sockpath_own(buf, sizeof(buf), env, xdg, euid);
		check_answer(f[0], "own", rc, buf, own);
		/* memprobed's default is the own socket when systemd gave no
		 * RUNTIME_DIRECTORY: daemon and clients agree. */
		rc = sockpath_listen(buf, sizeof(buf), env, NULL, xdg, euid);
		check_answer(f[0], "listen", rc, buf, own);
		rc = sockpath_connect(buf, sizeof(buf), env, xdg, euid, fake_is_socket);
		check_answer(f[0], "connect", rc, buf, conn);
		if (strcmp(fake_asked, asked != NULL ? asked : "") != 0) {
			fprintf(stderr, "  case \"%s\": asked about \"%s\", want \"%s\"\n", f[0],
			    fake_asked, asked != NULL ? asked : "");
			CHECK(0);
		}
		free(env);
		free(xdg);
		free(own);
		free(asked);
		free(conn);
		ncases++;
	}
	fclose(fp);
	CHECK(ncases >= 20);
}

/* The caller's buffer: too small is -ENAMETOOLONG with "", none -EINVAL. */
static void test_buffer(void)
{
	char buf[SOCKPATH_MAX + 1], small[25];

	memset(small, 'x', sizeof(small));
	CHECK(sockpath_own(small, sizeof(small), NULL, NULL, 0) == 0);   /* 24 bytes + NUL */
	CHECK_STR(small, SOCKPATH_SYSTEM);
	CHECK(sockpath_own(small, sizeof(small) - 1, NULL, NULL, 0) == -ENAMETOOLONG);
	CHECK(small[0] == '\0');
	fake_exists = 0;
	CHECK(sockpath_connect(small, sizeof(small), NULL, "/run/user/1000", 1000,
	    fake_is_socket) == 0);
	CHECK_STR(small, SOCKPATH_SYSTEM);
	fake_exists = 1;
	CHECK(sockpath_connect(small, sizeof(small), NULL, "/run/user/1000", 1000,
	    fake_is_socket) == -ENAMETOOLONG);
	CHECK(small[0] == '\0');
	CHECK(sockpath_own(NULL, 10, NULL, NULL, 0) == -EINVAL);
	CHECK(sockpath_own(buf, 0, NULL, NULL, 0) == -EINVAL);
	CHECK(sockpath_connect(buf, 0, "/x", NULL, 0, NULL) == -EINVAL);
	CHECK(sockpath_listen(NULL, 0, NULL, "/run/x", NULL, 0) == -EINVAL);
}

/* memprobed under systemd: $RUNTIME_DIRECTORY/agent.sock, the first of
 * several, after MEMPROBE_SOCKET and only when absolute and short enough. */
static void test_listen_rundir(void)
{
	char buf[SOCKPATH_MAX + 1], lng[200];

	CHECK(sockpath_listen(buf, sizeof(buf), NULL, "/run/memprobe", NULL, 998) == 0);
	CHECK_STR(buf, "/run/memprobe/agent.sock");
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, "/run/user/1000/memprobe", "/run/user/1000",
	    1000) == 0);
	CHECK_STR(buf, "/run/user/1000/memprobe/agent.sock");
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, "/run/a:/run/b", NULL, 0) == 0);
	CHECK_STR(buf, "/run/a/agent.sock");
	CHECK(sockpath_listen(buf, sizeof(buf), "/srv/m.sock", "/run/a", NULL, 0) == 0);
	CHECK_STR(buf, "/srv/m.sock");
	CHECK(sockpath_listen(buf, sizeof(buf), "", "run/a", NULL, 1000) == 0);
	CHECK_STR(buf, "/tmp/memprobe-1000/agent.sock");
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, "", "/run/user/7", 7) == 0);
	CHECK_STR(buf, "/run/user/7/memprobe/agent.sock");
	/* 96 + "/agent.sock" (11) = 107 fits; 97 does not. */
	memset(lng, 'r', sizeof(lng));
	lng[0] = '/';
	lng[96] = '\0';
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, lng, NULL, 0) == 0);
	CHECK(strlen(buf) == SOCKPATH_MAX);
	lng[96] = 'r';
	lng[97] = '\0';
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, lng, NULL, 0) == 0);
	CHECK_STR(buf, SOCKPATH_SYSTEM);
	CHECK(sockpath_listen(buf, sizeof(buf), NULL, lng, "/run/user/5", 5) == 0);
	CHECK_STR(buf, "/run/user/5/memprobe/agent.sock");
}

/* The real is_socket: a socket file counts, a plain file or nothing does not. */
static void test_real_files(void)
{
	char dir[] = "/tmp/sockpath.XXXXXX", sub[64], own[128], buf[SOCKPATH_MAX + 1];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = -1;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(sub, sizeof(sub), "%s/memprobe", dir);
	snprintf(own, sizeof(own), "%s/agent.sock", sub);
	CHECK(sockpath_connect(buf, sizeof(buf), NULL, dir, 1000, sockpath_is_socket) == 0);
	CHECK_STR(buf, SOCKPATH_SYSTEM);
	CHECK(mkdir(sub, 0700) == 0);
	f = fopen(own, "w");
	CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(!sockpath_is_socket(own));
	CHECK(sockpath_connect(buf, sizeof(buf), NULL, dir, 1000, sockpath_is_socket) == 0);
	CHECK_STR(buf, SOCKPATH_SYSTEM);
	CHECK(unlink(own) == 0);
	memcpy(sun.sun_path, own, strlen(own));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(sockpath_is_socket(own));
	CHECK(sockpath_connect(buf, sizeof(buf), NULL, dir, 1000, sockpath_is_socket) == 0);
	CHECK_STR(buf, own);
	/* NULL is_socket is the real one. */
	CHECK(sockpath_connect(buf, sizeof(buf), NULL, dir, 1000, NULL) == 0);
	CHECK_STR(buf, own);
	/* Root does not look: the system socket is its own. */
	CHECK(sockpath_connect(buf, sizeof(buf), NULL, dir, 0, sockpath_is_socket) == 0);
	CHECK_STR(buf, SOCKPATH_SYSTEM);
	if (fd >= 0)
		close(fd);
	unlink(own);
	rmdir(sub);
	rmdir(dir);
}

/* The wrappers read MEMPROBE_SOCKET, XDG_RUNTIME_DIR, RUNTIME_DIRECTORY. */
static void test_env(void)
{
	static const char *const names[] = { "MEMPROBE_SOCKET", "XDG_RUNTIME_DIR", "RUNTIME_DIRECTORY" };
	char *saved[3], buf[SOCKPATH_MAX + 1], want[64];

	harness_env_clear(names, saved, 3);
	setenv("XDG_RUNTIME_DIR", "/nonexistent-xdg", 1);
	CHECK(sockpath_connect_env(buf, sizeof(buf)) == 0);
	CHECK_STR(buf, SOCKPATH_SYSTEM);     /* root, or no socket in that directory */
	CHECK(sockpath_listen_env(buf, sizeof(buf)) == 0);
	if (geteuid() == 0) {
		CHECK_STR(buf, SOCKPATH_SYSTEM);
	} else {
		CHECK_STR(buf, "/nonexistent-xdg/memprobe/agent.sock");
		unsetenv("XDG_RUNTIME_DIR");
		CHECK(sockpath_listen_env(buf, sizeof(buf)) == 0);
		snprintf(want, sizeof(want), "/tmp/memprobe-%u/agent.sock", (unsigned)geteuid());
		CHECK_STR(buf, want);
	}
	setenv("RUNTIME_DIRECTORY", "/run/unit", 1);
	CHECK(sockpath_listen_env(buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/run/unit/agent.sock");
	setenv("MEMPROBE_SOCKET", "/srv/m.sock", 1);
	CHECK(sockpath_listen_env(buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/srv/m.sock");
	CHECK(sockpath_connect_env(buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/srv/m.sock");
	harness_env_restore(names, saved, 3);
}

int main(void)
{
	RUN_TEST(test_table);
	RUN_TEST(test_buffer);
	RUN_TEST(test_listen_rundir);
	RUN_TEST(test_real_files);
	RUN_TEST(test_env);
	return HARNESS_EXIT();
}
