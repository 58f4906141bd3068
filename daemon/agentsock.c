/* agentsock.c: the agent socket file: made, made again when removed, or taken from socket activation. */
#include "agentsock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

struct agentsock {
	int fd;                         /* the listener */
	char *path;
	gid_t group;                    /* given to the socket file; -1: ours */
	dev_t dev;                      /* of the socket file we bound; */
	ino_t ino;                      /* 0: adopted, the file is not ours */
};

/* mkdir -p of path's parent directory, each new level 0755. */
static int agentsock_mkdirs(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	size_t n;

	n = (size_t)snprintf(dir, sizeof(dir), "%s", path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* The socket's directory must be ours or root's: anyone else could swap
 * the socket under us and receive the agents' connections. */
static int agentsock_check_dir(const char *path, char *err, size_t errsize)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0) {
		int e = errno;

		snprintf(err, errsize, "directory %s: %s", dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errsize, "directory %s belongs to uid %u, not to us", dir,
		    (unsigned)st.st_uid);
		return -EPERM;
	}
	return 0;
}

/* Removes a socket file left by a daemon that is gone; fails if one answers. */
static int agentsock_clear_stale(const char *path, const struct sockaddr_un *sun,
    char *err, size_t errsize)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errsize, "lstat: %s", strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsize, "exists and is not a socket; not removing it");
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "socket: %s", strerror(-r));
		return r;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	r = r < 0 ? -errno : 0;
	close(fd);
	if (r == -ECONNREFUSED || r == -ENOENT) {
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errsize, "removing the stale socket: %s", strerror(-r));
			return r;
		}
		log_info("agent socket %s: removed a stale socket file", path);
		return 0;
	}
	if (r == 0) {
		snprintf(err, errsize, "another memprobed is listening there");
		return -EADDRINUSE;
	}
	snprintf(err, errsize, "in use by another program (connect: %s)", strerror(-r));
	return -EADDRINUSE;
}

/* Makes the directory and clears the way for binding as->path into *sun. */
static int agentsock_prepare(const struct agentsock *as, struct sockaddr_un *sun, char *err,
    size_t errsize)
{
	size_t len = strlen(as->path);
	int r;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(sun->sun_path)) {
		snprintf(err, errsize, "path empty or longer than %zu bytes",
		    sizeof(sun->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun->sun_path, as->path, len);
	r = agentsock_mkdirs(as->path);
	if (r < 0) {
		snprintf(err, errsize, "creating its directory: %s", strerror(-r));
		return r;
	}
	r = agentsock_check_dir(as->path, err, errsize);
	if (r < 0)
		return r;
	return agentsock_clear_stale(as->path, sun, err, errsize);
}

/* Says which step failed with errno into err; returns -errno. */
static int agentsock_fail(const char *step, char *err, size_t errsize)
{
	int e = errno;

	snprintf(err, errsize, "%s: %s", step, strerror(e));
	return -e;
}

/* Gives the bound file its mode and group, and listens on fd; the file's
 * identity goes to *st. */
static int agentsock_finish(const struct agentsock *as, int fd, struct stat *st, char *err,
    size_t errsize)
{
	if (chmod(as->path, 0660) < 0 || stat(as->path, st) < 0)
		return agentsock_fail("chmod", err, errsize);
	if (as->group != (gid_t)-1 && chown(as->path, (uid_t)-1, as->group) < 0) {
		int e = errno;

		snprintf(err, errsize, "giving it group %u: %s", (unsigned)as->group, strerror(e));
		return -e;
	}
	/* Accepted sockets inherit SO_PASSCRED, so even a message sent
	 * before accept() carries its sender's credentials. */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0)
		return agentsock_fail("SO_PASSCRED", err, errsize);
	if (listen(fd, SOMAXCONN) < 0)
		return agentsock_fail("listen", err, errsize);
	return 0;
}

int agentsock_rebind(struct agentsock *as, char *err, size_t errsize)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, r;

	r = agentsock_prepare(as, &sun, err, errsize);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return agentsock_fail("socket", err, errsize);
	/* Bind with a strict umask so the file is never wider than 0660,
	 * even for the moment before chmod. The umask is the process's, but
	 * no other thread of ours creates files. */
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	r = r < 0 ? agentsock_fail("bind", err, errsize) : 0;
	umask(old);
	if (r < 0) {
		close(fd);
		return r;
	}
	r = agentsock_finish(as, fd, &st, err, errsize);
	if (r < 0) {
		unlink(as->path);
		close(fd);
		return r;
	}
	as->dev = st.st_dev;
	as->ino = st.st_ino;
	return fd;
}

void agentsock_replace(struct agentsock *as, int fd)
{
	if (as->fd >= 0)
		close(as->fd);
	as->fd = fd;
}

/* A new agentsock for path, without a listener yet; NULL without memory. */
static struct agentsock *agentsock_new(const char *path, gid_t group)
{
	struct agentsock *as = calloc(1, sizeof(*as));

	if (as == NULL)
		return NULL;
	as->fd = -1;
	as->group = group;
	as->path = strdup(path);
	if (as->path == NULL) {
		free(as);
		return NULL;
	}
	return as;
}

int agentsock_open(struct agentsock **out, const char *path, gid_t group, char *err,
    size_t errsize)
{
	struct agentsock *as = agentsock_new(path, group);
	int fd;

	*out = NULL;
	if (as == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	fd = agentsock_rebind(as, err, errsize);
	if (fd < 0) {
		agentsock_close(as);
		return fd;
	}
	as->fd = fd;
	*out = as;
	return 0;
}

/* The address fd is bound to, in words, into name. */
static void agentsock_name(int fd, char *name, size_t size)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &sl) == 0 &&
	    sl > offsetof(struct sockaddr_un, sun_path) && sun.sun_path[0] != '\0')
		snprintf(name, size, "%.*s", (int)sizeof(sun.sun_path), sun.sun_path);
	else if (sl > offsetof(struct sockaddr_un, sun_path) + 1)
		snprintf(name, size, "@%.*s",
		    (int)(sl - offsetof(struct sockaddr_un, sun_path) - 1), sun.sun_path + 1);
	else
		snprintf(name, size, "(descriptor %d)", fd);
}

int agentsock_adopt(struct agentsock **out, int fd, char *err, size_t errsize)
{
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	struct agentsock *as;
	int fl, r;

	*out = NULL;
	agentsock_name(fd, name, sizeof(name));
	as = agentsock_new(name, (gid_t)-1);
	if (as == NULL) {
		close(fd);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	as->fd = fd;            /* ours from here: agentsock_close() closes it */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = agentsock_fail("fcntl", err, errsize);
		goto fail;
	}
	/* A socket unit sets this with PassCredentials=yes; connections
	 * queued before it was set carry no credentials and are closed at
	 * their first message (the agent reconnects). */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
		r = agentsock_fail("SO_PASSCRED", err, errsize);
		goto fail;
	}
	*out = as;
	return 0;
fail:
	agentsock_close(as);
	return r;
}

int agentsock_fd(const struct agentsock *as)
{
	return as->fd;
}

const char *agentsock_path(const struct agentsock *as)
{
	return as->path;
}

int agentsock_gone(const struct agentsock *as)
{
	struct stat st;

	if (as->ino == 0)
		return 0;       /* passed by systemd: its file is not ours to mind */
	return !(lstat(as->path, &st) == 0 && st.st_dev == as->dev && st.st_ino == as->ino);
}

void agentsock_close(struct agentsock *as)
{
	struct stat st;

	if (as == NULL)
		return;
	if (as->fd >= 0) {
		close(as->fd);
		/* Remove the file only if it is still ours: a newer daemon may
		 * have replaced it. */
		if (as->ino != 0 && stat(as->path, &st) == 0 && st.st_dev == as->dev &&
		    st.st_ino == as->ino)
			unlink(as->path);
	}
	free(as->path);
	free(as);
}
