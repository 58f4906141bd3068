/* ingest.c: the agent socket: accepts agents, decodes their messages, feeds the process table. */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "pending.h"
#include "procfs.h"

/* Work done per wakeup before other descriptors get their turn. */
#define INGEST_ACCEPT_BATCH 64
/*
 * The highest descriptor numbers under RLIMIT_NOFILE that agent
 * connections never take: libmicrohttpd's accept and the /proc reads of a
 * scrape need them, and an HTTP server that cannot accept busy-waits in
 * libmicrohttpd. A dozen scrapes at once fit.
 */
#define INGEST_FD_RESERVE   16
/* Out of descriptors, the listener rests this long, doubling up to the max. */
#define INGEST_BACKOFF_MIN_MS 100
#define INGEST_BACKOFF_MAX_MS 1000
#define INGEST_RECV_BATCH   32
#define INGEST_EVENTS       64

struct conn {
	struct conn *prev, *next;
	struct pending_node pn;         /* pending until its HELLO */
	int fd;
	pid_t pid;                      /* SO_PEERCRED at accept */
	uid_t uid;
	gid_t gid;
	uint64_t start_time;            /* from /proc at accept */
	int have_start_time;
	unsigned agent;                 /* enum proto_agent once HELLO came */
	int hello;
	int bye;
	struct ptab_proc *proc;         /* set by HELLO; owned by the ptab */
	int64_t rate_second;
	unsigned rate_count;
};

struct ingest {
	int ep;
	int lfd;
	int tfd;                        /* timerfd: the end of an accept backoff */
	unsigned backoff_ms;            /* > 0: the listener rests (out of descriptors) */
	char *path;
	gid_t group;                    /* given to the socket file; -1: ours */
	dev_t dev;                      /* of the socket file we bound */
	ino_t ino;
	unsigned remake_failures;       /* attempts to make it again, in a row */
	struct ingest_limits lim;
	struct ptab *pt;
	struct conn *conns;
	unsigned nconn;
	struct pending *pending;        /* connections before their HELLO */
	struct ingest_stats st;         /* updated with atomics, read by HTTP */
	unsigned char buf[PROTO_MAX_MSG + 1];
};

/* Marks the backoff timer in the epoll set (connections are struct conn,
 * the listener NULL). */
static char ingest_timer_tag;

static const char *const ingest_types[INGEST_NTYPES] = {
	[0] = "unknown",
	[PROTO_HELLO] = "hello",
	[PROTO_SAMPLE] = "sample",
	[PROTO_GAUGE] = "gauge",
	[PROTO_BYE] = "bye",
};

const char *ingest_type_name(unsigned t)
{
	return t < INGEST_NTYPES ? ingest_types[t] : "unknown";
}

const char *ingest_reason_name(unsigned i)
{
	if (i < PROTO_E__COUNT)
		return proto_strerror((enum proto_err)i);
	if (i == INGEST_R_SEQUENCE)
		return "sequence";
	if (i == INGEST_R_RATE)
		return "rate";
	if (i == INGEST_R_CREDENTIALS)
		return "credentials";
	if (i == INGEST_R_PENDING_LIMIT)
		return "pending_limit";
	if (i == INGEST_R_HELLO_TIMEOUT)
		return "hello_timeout";
	return "unknown";
}

#define STAT_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define STAT_SUB(field, n) __atomic_fetch_sub(&(field), (n), __ATOMIC_RELAXED)

void ingest_stats(const struct ingest *ing, struct ingest_stats *out)
{
	const uint64_t *in = (const uint64_t *)(const void *)&ing->st;
	uint64_t *o = (uint64_t *)(void *)out;

	/* Every field is a uint64_t; copy each atomically. */
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}

void ingest_set_limits(struct ingest *ing, const struct ingest_limits *lim)
{
	ing->lim = *lim;
}

int ingest_fd(const struct ingest *ing)
{
	return ing->ep;
}

/* ---- the listening socket ---- */

/* mkdir -p of path's parent directory, each new level 0755. */
static int ingest_mkdirs(const char *path)
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
static int ingest_check_dir(const char *path, char *err, size_t errsize)
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

		snprintf(err, errsize, "agent socket %s: directory %s: %s", path, dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "agent socket %s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errsize, "agent socket %s: directory %s belongs to uid %u, not to us",
		    path, dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	return 0;
}

/* Removes a socket file left by a daemon that is gone; fails if one answers. */
static int ingest_clear_stale(const char *path, const struct sockaddr_un *sun,
    char *err, size_t errsize)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errsize, "agent socket %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsize, "agent socket %s: exists and is not a socket; not removing it",
		    path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: socket: %s", path, strerror(-r));
		return r;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	r = r < 0 ? -errno : 0;
	close(fd);
	if (r == -ECONNREFUSED || r == -ENOENT) {
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errsize, "agent socket %s: removing the stale socket: %s",
			    path, strerror(-r));
			return r;
		}
		log_info("agent socket %s: removed a stale socket file", path);
		return 0;
	}
	if (r == 0) {
		snprintf(err, errsize, "agent socket %s: another memprobed is listening there",
		    path);
		return -EADDRINUSE;
	}
	snprintf(err, errsize, "agent socket %s: in use by another program (connect: %s)",
	    path, strerror(-r));
	return -EADDRINUSE;
}

static int ingest_listen(struct ingest *ing, const char *path, char *err, size_t errsize)
    __attribute__((nonnull));

static int ingest_listen(struct ingest *ing, const char *path, char *err, size_t errsize)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd = -1, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsize, "agent socket %s: path empty or longer than %zu bytes",
		    path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path));

	r = ingest_mkdirs(path);
	if (r < 0) {
		snprintf(err, errsize, "agent socket %s: creating its directory: %s",
		    path, strerror(-r));
		return r;
	}
	r = ingest_check_dir(path, err, errsize);
	if (r < 0)
		return r;
	r = ingest_clear_stale(path, &sun, err, errsize);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: socket: %s", path, strerror(-r));
		goto fail;
	}
	/* Bind with a strict umask so the file is never wider than 0660,
	 * even for the moment before chmod. The umask is the process's, but
	 * no other thread of ours creates files. */
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	r = r < 0 ? -errno : 0;
	umask(old);
	if (r < 0) {
		snprintf(err, errsize, "agent socket %s: bind: %s", path, strerror(-r));
		goto fail;
	}
	if (chmod(path, 0660) < 0 || stat(path, &st) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: chmod: %s", path, strerror(-r));
		unlink(path);
		goto fail;
	}
	if (ing->group != (gid_t)-1 && chown(path, (uid_t)-1, ing->group) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: giving it group %u: %s", path,
		    (unsigned)ing->group, strerror(-r));
		unlink(path);
		goto fail;
	}
	/* Accepted sockets inherit SO_PASSCRED, so even a message sent
	 * before accept() carries its sender's credentials. */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: SO_PASSCRED: %s", path, strerror(-r));
		unlink(path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: listen: %s", path, strerror(-r));
		unlink(path);
		goto fail;
	}
	ing->lfd = fd;
	ing->dev = st.st_dev;
	ing->ino = st.st_ino;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Takes over a listening socket passed by socket activation: the kernel
 * checks of the socket's type were made by the caller. The file (if any) is
 * not ours: ing->ino stays 0, so ingest_close() never removes it.
 */
static int ingest_take(struct ingest *ing, int fd, char *err, size_t errsize)
{
	int fl, r;

	ing->lfd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: fcntl: %s", ing->path, strerror(-r));
		return r;
	}
	/* A socket unit sets this with PassCredentials=yes; connections
	 * queued before it was set carry no credentials and are closed at
	 * their first message (the agent reconnects). */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: SO_PASSCRED: %s", ing->path, strerror(-r));
		return r;
	}
	return 0;
}

/* ingest_open() and ingest_adopt(): binds `path`, or takes fd when >= 0
 * (path then only names it in messages). */
static int ingest_start(struct ingest **out, const char *path, int fd, gid_t group,
    const struct ingest_limits *lim, struct ptab *pt, char *err, size_t errsize)
{
	struct ingest *ing = calloc(1, sizeof(*ing));
	struct epoll_event ev;
	int r;

	if (ing == NULL) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errsize, "agent socket %s: out of memory", path);
		return -ENOMEM;
	}
	ing->ep = ing->lfd = ing->tfd = -1;
	if (fd >= 0)
		ing->lfd = fd;          /* ours from here: ingest_close() closes it */
	ing->lim = *lim;
	ing->pt = pt;
	ing->group = group;
	ing->path = strdup(path);
	if (ing->path == NULL) {
		r = -ENOMEM;
		snprintf(err, errsize, "agent socket %s: out of memory", path);
		goto fail;
	}
	ing->pending = pending_new();
	if (ing->pending == NULL) {
		r = -ENOMEM;
		snprintf(err, errsize, "agent socket %s: out of memory", path);
		goto fail;
	}
	ing->ep = epoll_create1(EPOLL_CLOEXEC);
	ing->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ing->ep < 0 || ing->tfd < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: epoll: %s", path, strerror(-r));
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &ingest_timer_tag;
	if (epoll_ctl(ing->ep, EPOLL_CTL_ADD, ing->tfd, &ev) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: epoll_ctl: %s", path, strerror(-r));
		goto fail;
	}
	r = fd >= 0 ? ingest_take(ing, fd, err, errsize) : ingest_listen(ing, path, err, errsize);
	if (r < 0)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;             /* NULL marks the listener */
	if (epoll_ctl(ing->ep, EPOLL_CTL_ADD, ing->lfd, &ev) < 0) {
		r = -errno;
		snprintf(err, errsize, "agent socket %s: epoll_ctl: %s", path, strerror(-r));
		goto fail;
	}
	*out = ing;
	return 0;
fail:
	ingest_close(ing, 0);
	return r;
}

int ingest_open(struct ingest **out, const char *path, gid_t group,
    const struct ingest_limits *lim, struct ptab *pt, char *err, size_t errsize)
{
	return ingest_start(out, path, -1, group, lim, pt, err, errsize);
}

int ingest_adopt(struct ingest **out, int fd, const struct ingest_limits *lim,
    struct ptab *pt, char *err, size_t errsize)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	char name[sizeof(sun.sun_path) + 32];

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &sl) == 0 &&
	    sl > offsetof(struct sockaddr_un, sun_path) && sun.sun_path[0] != '\0')
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(sun.sun_path), sun.sun_path);
	else if (sl > offsetof(struct sockaddr_un, sun_path) + 1)
		snprintf(name, sizeof(name), "@%.*s",
		    (int)(sl - offsetof(struct sockaddr_un, sun_path) - 1), sun.sun_path + 1);
	else
		snprintf(name, sizeof(name), "(descriptor %d)", fd);
	return ingest_start(out, name, fd, (gid_t)-1, lim, pt, err, errsize);
}

const char *ingest_path(const struct ingest *ing)
{
	return ing->path;
}

void ingest_check_socket(struct ingest *ing)
{
	struct epoll_event ev;
	struct stat st;
	char err[512];
	int old = ing->lfd;

	if (ing->ino == 0)
		return;         /* passed by systemd: its file is not ours to mind */
	if (lstat(ing->path, &st) == 0 && st.st_dev == ing->dev && st.st_ino == ing->ino)
		return;
	/* Removed (a cleanup of /run or /tmp, a careless rm): agents could no
	 * longer reach us, so the socket is made again where they look. A
	 * failure is said once, each retry (every second) only at debug. */
	if (ingest_listen(ing, ing->path, err, sizeof(err)) < 0) {
		if (ing->remake_failures++ == 0)
			log_warnx("agent socket had gone and cannot be made again: %s; "
			    "new agents cannot connect until it can (retrying every second)", err);
		else
			log_debug("attempt %u to make the agent socket again failed: %s",
			    ing->remake_failures, err);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ing->ep, EPOLL_CTL_ADD, ing->lfd, &ev) < 0) {
		log_warn("agent socket %s: epoll_ctl", ing->path);
		close(ing->lfd);
		ing->lfd = old;
		return;
	}
	epoll_ctl(ing->ep, EPOLL_CTL_DEL, old, NULL);
	close(old);
	if (ing->remake_failures > 0)
		log_warnx("agent socket %s made again after %u failed attempts "
		    "(connected agents kept their connections)", ing->path, ing->remake_failures);
	else
		log_warnx("agent socket %s had gone; made it again "
		    "(connected agents keep their connections)", ing->path);
	ing->remake_failures = 0;
}

/* ---- connections ---- */

static void ingest_conn_close(struct ingest *ing, struct conn *c, double now)
{
	pending_remove(ing->pending, &c->pn);
	epoll_ctl(ing->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->proc != NULL)
		ptab_conn_closed(ing->pt, c->proc, c->agent, now);
	if (c->hello)
		STAT_SUB(ing->st.agents_connected, 1);
	STAT_SUB(ing->st.connections_open, 1);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ing->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ing->nconn--;
	log_debug("agent pid %d: connection closed", (int)c->pid);
	free(c);
}

/* The first descriptor number agent connections may not take. */
static int ingest_fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (rlim_t)INT_MAX)
		return INT_MAX;
	return rl.rlim_cur > INGEST_FD_RESERVE ? (int)(rl.rlim_cur - INGEST_FD_RESERVE) : 0;
}

/* Starts or extends a rest of the listener: it leaves the epoll set's
 * events until the timer fires, so a backlog that stays readable cannot
 * make the main loop spin. `why` names the cause for the log. */
static void ingest_backoff(struct ingest *ing, const char *why)
{
	struct itimerspec its;
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.ptr = NULL;
	if (ing->backoff_ms == 0) {
		ing->backoff_ms = INGEST_BACKOFF_MIN_MS;
		log_ratelimited("accept", "agent socket %s: %s; not accepting connections for a "
		    "while (up to %d ms at a time); the last %d descriptors are kept for HTTP",
		    ing->path, why, INGEST_BACKOFF_MAX_MS, INGEST_FD_RESERVE);
	} else {
		ing->backoff_ms = ing->backoff_ms * 2 > INGEST_BACKOFF_MAX_MS ?
		    INGEST_BACKOFF_MAX_MS : ing->backoff_ms * 2;
		log_debug("agent socket %s: %s; resting %u ms", ing->path, why, ing->backoff_ms);
	}
	epoll_ctl(ing->ep, EPOLL_CTL_MOD, ing->lfd, &ev);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ing->backoff_ms / 1000;
	its.it_value.tv_nsec = (long)(ing->backoff_ms % 1000) * 1000000L;
	if (timerfd_settime(ing->tfd, 0, &its, NULL) < 0)
		log_ratelimited("accept", "agent socket %s: timerfd_settime: %s", ing->path,
		    strerror(errno));
}

/* The rest is over: listen again if a descriptor below the budget is free
 * (the lowest free one is what dup gives), else rest longer. */
static void ingest_backoff_end(struct ingest *ing)
{
	struct epoll_event ev;
	uint64_t ticks;
	int probe;

	if (read(ing->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	probe = fcntl(ing->lfd, F_DUPFD_CLOEXEC, 0);
	if (probe >= 0)
		close(probe);
	if (probe < 0 || probe >= ingest_fd_budget()) {
		ingest_backoff(ing, "out of file descriptors");
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ing->ep, EPOLL_CTL_MOD, ing->lfd, &ev) < 0)
		log_ratelimited("accept", "agent socket %s: epoll_ctl: %s", ing->path,
		    strerror(errno));
}

static int ingest_read(struct ingest *ing, struct conn *c, double now);

/* The connection that embeds pending node n. */
static struct conn *ingest_conn_of(struct pending_node *n)
{
	return (struct conn *)(void *)((char *)n - offsetof(struct conn, pn));
}

/*
 * Closes c, which has not said HELLO, for `reason` (INGEST_R_PENDING_LIMIT
 * or INGEST_R_HELLO_TIMEOUT), unless what it has queued, read first, is its
 * HELLO: a process whose HELLO is in flight is not the one to drop.
 */
static void ingest_drop_pending(struct ingest *ing, struct conn *c, unsigned reason, double now)
{
	if (ingest_read(ing, c, now) < 0) {
		ingest_conn_close(ing, c, now);         /* for what it sent: counted */
		return;
	}
	if (!pending_is(&c->pn))
		return;
	STAT_ADD(ing->st.rejected[reason], 1);
	if (reason == INGEST_R_HELLO_TIMEOUT)
		log_ratelimited("pending", "agent pid %d uid %u: no HELLO within %u s of connecting "
		    "(hello_timeout); connection closed", (int)c->pid, (unsigned)c->uid,
		    ing->lim.hello_timeout);
	else
		log_ratelimited("pending", "agent pid %d uid %u: uid %u has more than %u connections "
		    "that have not said HELLO (max_pending_per_uid); closed this one, its oldest",
		    (int)c->pid, (unsigned)c->uid, (unsigned)c->uid, ing->lim.max_pending_per_uid);
	ingest_conn_close(ing, c, now);
}

/*
 * A new connection c is pending until its HELLO, which may be queued
 * already: read it at once, so a prompt agent never counts. When c's uid
 * then holds more than max_pending_per_uid silent connections, its oldest
 * go: an idle hoard cannot keep a process of the same uid that connects
 * later out, nor (per uid) anyone else's. Returns -1 when c was closed.
 */
static int ingest_admit(struct ingest *ing, struct conn *c, double now)
{
	if (pending_add(ing->pending, &c->pn, c->uid, now) < 0) {
		log_ratelimited("accept", "agent pid %d: out of memory; connection closed", (int)c->pid);
		ingest_conn_close(ing, c, now);
		return -1;
	}
	if (ingest_read(ing, c, now) < 0) {
		ingest_conn_close(ing, c, now);
		return -1;
	}
	while (pending_is(&c->pn) &&
	    pending_count(ing->pending, c->uid) > ing->lim.max_pending_per_uid)
		ingest_drop_pending(ing, ingest_conn_of(pending_oldest_of(ing->pending, c->uid)),
		    INGEST_R_PENDING_LIMIT, now);
	return 0;
}

void ingest_expire(struct ingest *ing, double now)
{
	struct pending_node *n;

	/* Oldest first: the first one still in time ends the walk. */
	while ((n = pending_oldest(ing->pending)) != NULL &&
	    now - n->since >= (double)ing->lim.hello_timeout)
		ingest_drop_pending(ing, ingest_conn_of(n), INGEST_R_HELLO_TIMEOUT, now);
}

static void ingest_accept(struct ingest *ing, double now)
{
	int budget = ingest_fd_budget();

	for (int i = 0; i < INGEST_ACCEPT_BATCH; i++) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct epoll_event ev;
		struct conn *c;
		int fd;

		fd = accept4(ing->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* The connection stays queued for when descriptors
			 * are free again. */
			if (errno == EMFILE || errno == ENFILE) {
				ingest_backoff(ing, "out of file descriptors");
				return;
			}
			log_ratelimited("accept", "agent socket %s: accept: %s", ing->path,
			    strerror(errno));
			return;
		}
		/* Descriptors come lowest first: one at the budget means the
		 * table is full but for the reserve, which stays HTTP's. */
		if (fd >= budget) {
			close(fd);
			STAT_ADD(ing->st.connections_refused, 1);
			ingest_backoff(ing, "out of file descriptors (RLIMIT_NOFILE)");
			return;
		}
		if (ing->backoff_ms > 0) {
			ing->backoff_ms = 0;
			log_info("agent socket %s: file descriptors free again; accepting connections",
			    ing->path);
		}
		if (ing->nconn >= ing->lim.max_connections) {
			close(fd);
			STAT_ADD(ing->st.connections_refused, 1);
			log_ratelimited("refuse", "agent socket %s: %u connections open (max_connections); refused one",
			    ing->path, ing->nconn);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			log_ratelimited("accept", "agent socket %s: SO_PEERCRED: %s", ing->path,
			    strerror(errno));
			close(fd);
			continue;
		}
		/* Inherited from the listener; set again in case a kernel
		 * does not pass the flag on. */
		if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
			log_ratelimited("accept", "agent socket %s: SO_PASSCRED: %s", ing->path,
			    strerror(errno));
			close(fd);
			continue;
		}
		if (cred.pid <= 0) {
			/* A peer in a pid namespace we cannot see has no pid
			 * here; without one its figures would merge with others'. */
			close(fd);
			STAT_ADD(ing->st.connections_refused, 1);
			log_ratelimited("refuse", "agent socket %s: peer has no pid in our pid namespace; refused",
			    ing->path);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			log_ratelimited("accept", "agent pid %d: out of memory; connection closed",
			    (int)cred.pid);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
		/* A process that already exited has no /proc entry; its HELLO's
		 * start time stands in (it can only name its own pid). */
		c->have_start_time = procfs_start_time(cred.pid, &c->start_time) == 0;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(ing->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_ratelimited("accept", "agent pid %d: epoll_ctl: %s", (int)cred.pid,
			    strerror(errno));
			close(fd);
			free(c);
			continue;
		}
		c->next = ing->conns;
		if (ing->conns != NULL)
			ing->conns->prev = c;
		ing->conns = c;
		ing->nconn++;
		STAT_ADD(ing->st.connections_accepted, 1);
		STAT_ADD(ing->st.connections_open, 1);
		log_debug("agent pid %d uid %u: connected", (int)c->pid, (unsigned)c->uid);
		ingest_admit(ing, c, now);
	}
}

/* Counts a bad message and logs it; the caller closes the connection. */
static void ingest_reject(struct ingest *ing, struct conn *c, unsigned reason)
{
	STAT_ADD(ing->st.rejected[reason], 1);
	log_ratelimited("reject", "agent pid %d: rejected a message (%s); closing its connection",
	    (int)c->pid, ingest_reason_name(reason));
}

/* Over max_message_rate in the current second? */
static int ingest_over_rate(struct ingest *ing, struct conn *c, double now)
{
	int64_t sec = (int64_t)now;

	if (c->rate_second != sec) {
		c->rate_second = sec;
		c->rate_count = 0;
	}
	return ++c->rate_count > ing->lim.max_message_rate;
}

static int ingest_hello(struct ingest *ing, struct conn *c, const struct proto_hello *h,
    double now)
{
	struct ptab_key key;
	char comm[4 * PROTO_COMM_MAX + 1];
	int r;

	key.pid = c->pid;
	key.start_time = c->have_start_time ? c->start_time : h->start_time;
	if (c->have_start_time && h->start_time != c->start_time)
		log_debug("agent pid %d: HELLO start time %llu, /proc says %llu; using /proc",
		    (int)c->pid, (unsigned long long)h->start_time,
		    (unsigned long long)c->start_time);
	r = ptab_conn_open(ing->pt, &key, c->uid, h, now, &c->proc);
	if (r == -ENOSPC) {
		log_ratelimited("refuse", "agent pid %d (%s): process table full (max_processes); connection closed",
		    (int)c->pid, log_escape(h->comm, comm, sizeof(comm)));
		return r;
	}
	if (r < 0) {
		log_ratelimited("refuse", "agent pid %d: %s; connection closed", (int)c->pid,
		    strerror(-r));
		return r;
	}
	c->hello = 1;
	c->agent = h->agent;
	pending_remove(ing->pending, &c->pn);
	STAT_ADD(ing->st.agents_connected, 1);
	log_debug("agent pid %d: hello from %s agent, comm %s",
	    (int)c->pid, h->agent == PROTO_AGENT_C ? "c" : "python",
	    log_escape(h->comm, comm, sizeof(comm)));
	return 0;
}

/*
 * Checks the kernel's word on who sent a datagram against the connection's
 * SO_PEERCRED. Returns 0 when they match; 1 when another process sent it (a
 * child that inherited the descriptor, or one it was passed to): the message
 * is dropped but the connection still belongs to its owner; -1 when the
 * owner changed its uid or gid (or no credentials came): the connection is
 * closed so the agent reconnects under its new identity.
 */
static int ingest_check_cred(struct ingest *ing, struct conn *c, const struct msghdr *mh)
{
	struct cmsghdr *cm;
	struct ucred cred;
	int have = 0;

	for (cm = CMSG_FIRSTHDR((struct msghdr *)(uintptr_t)mh); cm != NULL;
	    cm = CMSG_NXTHDR((struct msghdr *)(uintptr_t)mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
			have = 1;
		} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			/* Descriptors nobody asked for: close them at once. */
			size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[64];

			if (nfd > 64)
				nfd = 64;
			memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
			for (size_t i = 0; i < nfd; i++)
				close(fds[i]);
		}
	}
	if (have && cred.pid == c->pid && cred.uid == c->uid && cred.gid == c->gid)
		return 0;
	STAT_ADD(ing->st.rejected[INGEST_R_CREDENTIALS], 1);
	if (have && cred.pid != c->pid) {
		log_ratelimited("credentials", "agent pid %d: message sent by pid %d on its connection; dropped",
		    (int)c->pid, (int)cred.pid);
		return 1;
	}
	if (have)
		log_ratelimited("credentials", "agent pid %d: uid/gid changed from %u/%u to %u/%u; closing its connection",
		    (int)c->pid, (unsigned)c->uid, (unsigned)c->gid, (unsigned)cred.uid,
		    (unsigned)cred.gid);
	else
		log_ratelimited("credentials", "agent pid %d: message without credentials; closing its connection",
		    (int)c->pid);
	return -1;
}

/* Handles one datagram of n bytes (n may exceed the buffer: MSG_TRUNC).
 * Returns 0 to keep the connection, -1 to close it. */
static int ingest_message(struct ingest *ing, struct conn *c, size_t n, int truncated,
    double now)
{
	struct proto_msg msg;
	enum proto_err e;

	if (ingest_over_rate(ing, c, now)) {
		STAT_ADD(ing->st.rejected[INGEST_R_RATE], 1);
		log_ratelimited("rate", "agent pid %d: more than %u messages per second (max_message_rate); dropping",
		    (int)c->pid, ing->lim.max_message_rate);
		return 0;
	}
	e = truncated || n > PROTO_MAX_MSG ? PROTO_E_LONG : proto_decode(ing->buf, n, &msg);
	if (e != PROTO_OK) {
		ingest_reject(ing, c, e);
		return -1;
	}
	/* HELLO first and once; nothing after BYE. */
	if (c->bye || (msg.type == PROTO_HELLO) == (c->hello != 0)) {
		ingest_reject(ing, c, INGEST_R_SEQUENCE);
		return -1;
	}
	switch (msg.type) {
	case PROTO_HELLO:
		if (ingest_hello(ing, c, &msg.u.hello, now) < 0)
			return -1;
		break;
	case PROTO_SAMPLE:
		ptab_sample(ing->pt, c->proc, c->agent, &msg.u.sample, now);
		break;
	case PROTO_GAUGE:
		if (ptab_gauge(ing->pt, c->proc, msg.u.gauge.name, msg.u.gauge.value) < 0)
			log_ratelimited("gauge", "agent pid %d: gauge %s dropped (max_gauges)",
			    (int)c->pid, msg.u.gauge.name);
		break;
	case PROTO_BYE:
		c->bye = 1;
		break;
	default:
		/* proto_decode() returns only the types above. */
		break;
	}
	STAT_ADD(ing->st.received[msg.type], 1);
	return 0;
}

/* Reads what the connection has queued. Returns 0 to keep it, -1 to close. */
static int ingest_read(struct ingest *ing, struct conn *c, double now)
{
	for (int i = 0; i < INGEST_RECV_BATCH; i++) {
		struct iovec iov = { ing->buf, sizeof(ing->buf) };
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(64 * sizeof(int))];
		} ctl;
		struct msghdr mh;
		ssize_t n;
		int cr;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			log_debug("agent pid %d: recvmsg: %s", (int)c->pid, strerror(errno));
			return -1;
		}
		if (n == 0) {
			/* End of stream, or an empty datagram: only the peer's
			 * shutdown sets POLLRDHUP. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLRDHUP };

			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)))
				return -1;
		}
		/* Identity first: a message from another process is not
		 * decoded, whatever it holds, and cannot close the
		 * connection of the process it was meant to speak for. */
		cr = ingest_check_cred(ing, c, &mh);
		if (cr < 0)
			return -1;
		if (cr > 0)
			continue;
		if (n == 0) {
			ingest_reject(ing, c, PROTO_E_SHORT);
			return -1;
		}
		if (ingest_message(ing, c, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, now) < 0)
			return -1;
	}
	return 0;
}

void ingest_run(struct ingest *ing, double now)
{
	struct epoll_event evs[INGEST_EVENTS];
	int n, listener = 0;

	n = epoll_wait(ing->ep, evs, INGEST_EVENTS, 0);
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		/* Accepting may close other connections (the pending limit):
		 * it comes after every event naming one has been handled. */
		if (c == NULL) {
			listener = 1;
			continue;
		}
		/* The listener, when it listens again, is reported by the
		 * next epoll_wait(). */
		if (evs[i].data.ptr == &ingest_timer_tag) {
			ingest_backoff_end(ing);
			continue;
		}
		/* Queued messages are read before a hangup is acted on, so a
		 * short-lived process's final sample is kept. */
		if (evs[i].events & EPOLLIN) {
			if (ingest_read(ing, c, now) < 0)
				ingest_conn_close(ing, c, now);
		} else if (evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
			ingest_conn_close(ing, c, now);
		}
	}
	if (listener)
		ingest_accept(ing, now);
}

void ingest_close(struct ingest *ing, double now)
{
	struct stat st;

	if (ing == NULL)
		return;
	while (ing->conns != NULL)
		ingest_conn_close(ing, ing->conns, now);
	if (ing->lfd >= 0) {
		close(ing->lfd);
		/* Remove the file only if it is still ours: a newer daemon may
		 * have replaced it. */
		if (ing->ino != 0 && stat(ing->path, &st) == 0 && st.st_dev == ing->dev &&
		    st.st_ino == ing->ino)
			unlink(ing->path);
	}
	if (ing->ep >= 0)
		close(ing->ep);
	if (ing->tfd >= 0)
		close(ing->tfd);
	pending_free(ing->pending);
	free(ing->path);
	free(ing);
}
