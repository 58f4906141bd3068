/* sockpath.c: the default agent socket (the rule is in sockpath.h), with no allocation and no stdio. */
#include "sockpath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path being put together, never longer than a socket address allows. */
struct path {
	char s[SOCKPATH_MAX + 1];
	size_t len;
	int overflow;           /* a piece did not fit; s holds what did */
};

static void path_reset(struct path *p)
{
	p->s[0] = '\0';
	p->len = 0;
	p->overflow = 0;
}

static void path_add(struct path *p, const char *s, size_t n)
{
	if (p->overflow || n > SOCKPATH_MAX - p->len) {
		p->overflow = 1;
		return;
	}
	memcpy(p->s + p->len, s, n);
	p->len += n;
	p->s[p->len] = '\0';
}

/* Adds the NUL-terminated s; reads at most one byte more than fits. */
static void path_add_str(struct path *p, const char *s)
{
	path_add(p, s, strnlen(s, SOCKPATH_MAX + 1));
}

static void path_add_uint(struct path *p, unsigned long v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	path_add(p, d + i, sizeof(d) - i);
}

/* Whether an environment value counts as set. */
static int is_set(const char *v)
{
	return v != NULL && v[0] != '\0';
}

/* Steps 2-4 of the own socket: never fails. */
static void own_default(struct path *p, const char *xdg, uid_t euid)
{
	path_reset(p);
	if (euid == 0) {
		path_add_str(p, SOCKPATH_SYSTEM);
		return;
	}
	if (is_set(xdg) && xdg[0] == '/') {
		path_add_str(p, xdg);
		path_add_str(p, "/memprobe/agent.sock");
		if (!p->overflow)
			return;
		path_reset(p);
	}
	path_add_str(p, "/tmp/memprobe-");
	path_add_uint(p, (unsigned long)euid);
	path_add_str(p, "/agent.sock");
}

/* Copies p, or the error, into the caller's buffer. */
static int emit(char *buf, size_t size, const struct path *p)
{
	if (buf == NULL || size == 0)
		return -EINVAL;
	if (p->overflow || p->len >= size) {
		buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(buf, p->s, p->len + 1);
	return 0;
}

int sockpath_own(char *buf, size_t size, const char *env, const char *xdg, uid_t euid)
{
	struct path p;

	if (is_set(env)) {
		path_reset(&p);
		path_add_str(&p, env);
	} else {
		own_default(&p, xdg, euid);
	}
	return emit(buf, size, &p);
}

int sockpath_connect(char *buf, size_t size, const char *env, const char *xdg, uid_t euid,
    int (*is_socket)(const char *path))
{
	struct path p;

	if (is_set(env))
		return sockpath_own(buf, size, env, xdg, euid);
	if (is_socket == NULL)
		is_socket = sockpath_is_socket;
	own_default(&p, xdg, euid);
	if (euid != 0 && !is_socket(p.s)) {
		path_reset(&p);
		path_add_str(&p, SOCKPATH_SYSTEM);
	}
	return emit(buf, size, &p);
}

int sockpath_listen(char *buf, size_t size, const char *env, const char *rundir,
    const char *xdg, uid_t euid)
{
	struct path p;

	if (!is_set(env) && is_set(rundir) && rundir[0] == '/') {
		path_reset(&p);
		path_add(&p, rundir, strcspn(rundir, ":"));
		path_add_str(&p, "/agent.sock");
		if (!p.overflow)
			return emit(buf, size, &p);
	}
	return sockpath_own(buf, size, env, xdg, euid);
}

int sockpath_is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int sockpath_connect_env(char *buf, size_t size)
{
	return sockpath_connect(buf, size, getenv("MEMPROBE_SOCKET"), getenv("XDG_RUNTIME_DIR"),
	    geteuid(), sockpath_is_socket);
}

int sockpath_listen_env(char *buf, size_t size)
{
	return sockpath_listen(buf, size, getenv("MEMPROBE_SOCKET"), getenv("RUNTIME_DIRECTORY"),
	    getenv("XDG_RUNTIME_DIR"), geteuid());
}
