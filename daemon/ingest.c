/* ingest.c: agent connections: accepts agents, checks who speaks, decodes their messages, feeds the process table. */
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
#include <sys/timerfd.h>
#include <unistd.h>

#include "agentsock.h"
#include "ingest_int.h"
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

/* Marks the backoff timer in the epoll set (connections are struct conn,
 * the listener NULL). */
static char ingest_timer_tag;

static const char *const ingest_types[INGEST_NTYPES] = {
	[0] = "unknown",
	[PROTO_HELLO] = "hello",
	[PROTO_SAMPLE] = "sample",
	[PROTO_GAUGE] = "gauge",
	[PROTO_BYE] = "bye",
	[PROTO_REGISTER] = "register",
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
	if (i == INGEST_R_REGION)
		return "region";
	if (i == INGEST_R_PENDING_LIMIT)
		return "pending_limit";
	if (i == INGEST_R_HELLO_TIMEOUT)
		return "hello_timeout";
	return "unknown";
}

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

/* ---- the listener ---- */

const char *ingest_path(const struct ingest *ing)
{
	return agentsock_path(ing->sock);
}

/* Puts the listener fd in the epoll set (NULL marks it). */
static int ingest_listen_on(struct ingest *ing, int fd)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	return epoll_ctl(ing->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The epoll set, with the backoff timer and the listener in it. */
static int ingest_poll_setup(struct ingest *ing, char *err, size_t errsize)
{
	struct epoll_event ev;
	int r;

	ing->ep = epoll_create1(EPOLL_CLOEXEC);
	ing->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ing->ep < 0 || ing->tfd < 0) {
		r = -errno;
		snprintf(err, errsize, "epoll: %s", strerror(-r));
		return r;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &ingest_timer_tag;
	r = epoll_ctl(ing->ep, EPOLL_CTL_ADD, ing->tfd, &ev) < 0 ? -errno :
	    ingest_listen_on(ing, agentsock_fd(ing->sock));
	if (r < 0)
		snprintf(err, errsize, "epoll_ctl: %s", strerror(-r));
	return r;
}

int ingest_open(struct ingest **out, struct agentsock *sock, const struct ingest_limits *lim,
    struct ptab *pt, char *err, size_t errsize)
{
	struct ingest *ing = calloc(1, sizeof(*ing));
	int r;

	*out = NULL;
	if (ing == NULL) {
		agentsock_close(sock);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	ing->ep = ing->tfd = -1;
	ing->sock = sock;       /* ours from here: ingest_close() closes it */
	ing->lim = *lim;
	ing->pt = pt;
	ing->pending = pending_new();
	if (ing->pending == NULL) {
		r = -ENOMEM;
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	r = ingest_poll_setup(ing, err, errsize);
	if (r < 0)
		goto fail;
	*out = ing;
	return 0;
fail:
	ingest_close(ing, 0);
	return r;
}

void ingest_check_socket(struct ingest *ing)
{
	const char *path = agentsock_path(ing->sock);
	char err[512];
	int fd, r;

	if (!agentsock_gone(ing->sock))
		return;
	/* Removed (a cleanup of /run or /tmp, a careless rm): agents could no
	 * longer reach us, so the socket is made again where they look. A
	 * failure is said once, each retry (every second) only at debug. */
	fd = agentsock_rebind(ing->sock, err, sizeof(err));
	if (fd < 0) {
		if (ing->remake_failures++ == 0)
			log_warnx("agent socket had gone and cannot be made again: agent socket %s: %s; "
			    "new agents cannot connect until it can (retrying every second)", path, err);
		else
			log_debug("attempt %u to make the agent socket again failed: agent socket %s: %s",
			    ing->remake_failures, path, err);
		return;
	}
	r = ingest_listen_on(ing, fd);
	if (r < 0) {
		log_warnx("agent socket %s: epoll_ctl: %s", path, strerror(-r));
		close(fd);
		return;
	}
	epoll_ctl(ing->ep, EPOLL_CTL_DEL, agentsock_fd(ing->sock), NULL);
	agentsock_replace(ing->sock, fd);
	if (ing->remake_failures > 0)
		log_warnx("agent socket %s made again after %u failed attempts "
		    "(connected agents kept their connections)", path, ing->remake_failures);
	else
		log_warnx("agent socket %s had gone; made it again "
		    "(connected agents keep their connections)", path);
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
		    ingest_path(ing), why, INGEST_BACKOFF_MAX_MS, INGEST_FD_RESERVE);
	} else {
		ing->backoff_ms = ing->backoff_ms * 2 > INGEST_BACKOFF_MAX_MS ?
		    INGEST_BACKOFF_MAX_MS : ing->backoff_ms * 2;
		log_debug("agent socket %s: %s; resting %u ms", ingest_path(ing), why, ing->backoff_ms);
	}
	epoll_ctl(ing->ep, EPOLL_CTL_MOD, agentsock_fd(ing->sock), &ev);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ing->backoff_ms / 1000;
	its.it_value.tv_nsec = (long)(ing->backoff_ms % 1000) * 1000000L;
	if (timerfd_settime(ing->tfd, 0, &its, NULL) < 0)
		log_ratelimited("accept", "agent socket %s: timerfd_settime: %s", ingest_path(ing),
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
	probe = fcntl(agentsock_fd(ing->sock), F_DUPFD_CLOEXEC, 0);
	if (probe >= 0)
		close(probe);
	if (probe < 0 || probe >= ingest_fd_budget()) {
		ingest_backoff(ing, "out of file descriptors");
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ing->ep, EPOLL_CTL_MOD, agentsock_fd(ing->sock), &ev) < 0)
		log_ratelimited("accept", "agent socket %s: epoll_ctl: %s", ingest_path(ing),
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

	ingest_expire_watches(ing, now);
	/* Oldest first: the first one still in time ends the walk. */
	while ((n = pending_oldest(ing->pending)) != NULL &&
	    now - n->since >= (double)ing->lim.hello_timeout)
		ingest_drop_pending(ing, ingest_conn_of(n), INGEST_R_HELLO_TIMEOUT, now);
}

/* What ingest_accept_fd() says besides a descriptor. */
#define INGEST_ACCEPT_DONE  (-1)        /* nothing more to accept now */
#define INGEST_ACCEPT_NEXT  (-2)        /* this one failed; try the next */

/* Accepts one connection under the descriptor budget. Returns its
 * descriptor, INGEST_ACCEPT_DONE or INGEST_ACCEPT_NEXT. */
static int ingest_accept_fd(struct ingest *ing, int budget)
{
	int fd = accept4(agentsock_fd(ing->sock), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return INGEST_ACCEPT_DONE;
		if (errno == EINTR || errno == ECONNABORTED)
			return INGEST_ACCEPT_NEXT;
		/* The connection stays queued for when descriptors are free
		 * again. */
		if (errno == EMFILE || errno == ENFILE)
			ingest_backoff(ing, "out of file descriptors");
		else
			log_ratelimited("accept", "agent socket %s: accept: %s", ingest_path(ing),
			    strerror(errno));
		return INGEST_ACCEPT_DONE;
	}
	/* Descriptors come lowest first: one at the budget means the table
	 * is full but for the reserve, which stays HTTP's. */
	if (fd >= budget) {
		close(fd);
		STAT_ADD(ing->st.connections_refused, 1);
		ingest_backoff(ing, "out of file descriptors (RLIMIT_NOFILE)");
		return INGEST_ACCEPT_DONE;
	}
	if (ing->backoff_ms > 0) {
		ing->backoff_ms = 0;
		log_info("agent socket %s: file descriptors free again; accepting connections",
		    ingest_path(ing));
	}
	return fd;
}

/* Refuses accepted fd (closed) for `why`, counted and logged. */
static void ingest_refuse(struct ingest *ing, int fd, const char *why)
{
	close(fd);
	STAT_ADD(ing->st.connections_refused, 1);
	log_ratelimited("refuse", "agent socket %s: %s", ingest_path(ing), why);
}

/*
 * The peer's credentials of accepted fd into *cred, and SO_PASSCRED set
 * on it. Returns 0, or -1 with fd closed (logged; counted as refused
 * when the peer has no pid we can see).
 */
static int ingest_peer(struct ingest *ing, int fd, struct ucred *cred)
{
	socklen_t cl = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &cl) < 0) {
		log_ratelimited("accept", "agent socket %s: SO_PEERCRED: %s", ingest_path(ing),
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Inherited from the listener; set again in case a kernel does not
	 * pass the flag on. */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0) {
		log_ratelimited("accept", "agent socket %s: SO_PASSCRED: %s", ingest_path(ing),
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* A peer in a pid namespace we cannot see has no pid here; without
	 * one its figures would merge with others'. */
	if (cred->pid <= 0) {
		ingest_refuse(ing, fd, "peer has no pid in our pid namespace; refused");
		return -1;
	}
	return 0;
}

/* A connection for fd from the process of cred, in the epoll set and the
 * list; NULL with fd closed (logged) when it cannot be had. */
static struct conn *ingest_conn_new(struct ingest *ing, int fd, const struct ucred *cred)
{
	struct epoll_event ev;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_ratelimited("accept", "agent pid %d: out of memory; connection closed",
		    (int)cred->pid);
		close(fd);
		return NULL;
	}
	c->kind = INGEST_K_CONN;
	c->fd = fd;
	c->pid = cred->pid;
	c->uid = cred->uid;
	c->gid = cred->gid;
	/* A process that already exited has no /proc entry; its HELLO's
	 * start time stands in (it can only name its own pid). */
	c->have_start_time = procfs_start_time(cred->pid, &c->start_time) == 0;
	/* Names too, as early as can be: a process that ends at once may be
	 * gone by the time its message is read. */
	c->have_names = c->have_start_time &&
	    procfs_names(cred->pid, c->comm, sizeof(c->comm), c->exe, sizeof(c->exe)) == 0 &&
	    c->comm[0] != '\0';
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(ing->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_ratelimited("accept", "agent pid %d: epoll_ctl: %s", (int)cred->pid,
		    strerror(errno));
		close(fd);
		free(c);
		return NULL;
	}
	c->next = ing->conns;
	if (ing->conns != NULL)
		ing->conns->prev = c;
	ing->conns = c;
	ing->nconn++;
	STAT_ADD(ing->st.connections_accepted, 1);
	STAT_ADD(ing->st.connections_open, 1);
	log_debug("agent pid %d uid %u: connected", (int)c->pid, (unsigned)c->uid);
	return c;
}

static void ingest_accept(struct ingest *ing, double now)
{
	int budget = ingest_fd_budget();

	for (int i = 0; i < INGEST_ACCEPT_BATCH; i++) {
		struct ucred cred;
		struct conn *c;
		char why[96];
		int fd = ingest_accept_fd(ing, budget);

		if (fd == INGEST_ACCEPT_DONE)
			return;
		if (fd == INGEST_ACCEPT_NEXT)
			continue;
		if (ing->nconn >= ing->lim.max_connections) {
			snprintf(why, sizeof(why), "%u connections open (max_connections); refused one",
			    ing->nconn);
			ingest_refuse(ing, fd, why);
			continue;
		}
		if (ingest_peer(ing, fd, &cred) < 0)
			continue;
		c = ingest_conn_new(ing, fd, &cred);
		if (c != NULL)
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

/*
 * The names of a connection's process, from /proc: read now when it still
 * runs (`alive`), else as read when it connected, else "?". Never from a
 * message: a process could otherwise pass for any other, and one gone
 * before we could look has its name lost with it.
 */
void ingest_names(const struct conn *c, int alive, char *comm, size_t csize, char *exe,
    size_t esize)
{
	if (alive && procfs_names(c->pid, comm, csize, exe, esize) == 0 && comm[0] != '\0')
		return;
	if (c->have_names) {
		snprintf(comm, csize, "%s", c->comm);
		snprintf(exe, esize, "%s", c->exe);
		return;
	}
	snprintf(comm, csize, "?");
	exe[0] = '\0';
}

static int ingest_hello(struct ingest *ing, struct conn *c, const struct proto_hello *said,
    double now)
{
	struct proto_hello named = *said, *h = &named;
	struct ptab_key key;
	char comm[4 * PROTO_COMM_MAX + 1];
	int r;

	/* Names come from /proc, never from the message: a process could
	 * otherwise pass for any other. */
	ingest_names(c, 1, h->comm, sizeof(h->comm), h->exe, sizeof(h->exe));
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
 * SO_PEERCRED, and takes the descriptors it carries into fds (at most
 * INGEST_MAX_FDS; any beyond are closed at once; *nfd says how many).
 * Returns 0 when the sender matches; 1 when another process sent it (a
 * child that inherited the descriptor, or one it was passed to): the
 * message is dropped but the connection still belongs to its owner; -1
 * when the owner changed its uid or gid (or no credentials came): the
 * connection is closed so the agent reconnects under its new identity.
 */
static int ingest_check_cred(struct ingest *ing, struct conn *c, const struct msghdr *mh,
    int *fds, int *nfd)
{
	struct cmsghdr *cm;
	struct ucred cred;
	int have = 0;

	*nfd = 0;
	for (cm = CMSG_FIRSTHDR((struct msghdr *)(uintptr_t)mh); cm != NULL;
	    cm = CMSG_NXTHDR((struct msghdr *)(uintptr_t)mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
			have = 1;
		} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int in[64];

			if (n > 64)
				n = 64;
			memcpy(in, CMSG_DATA(cm), n * sizeof(int));
			for (size_t i = 0; i < n; i++) {
				if (*nfd < INGEST_MAX_FDS)
					fds[(*nfd)++] = in[i];
				else
					close(in[i]);
			}
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

void ingest_close_fds(int *fds, int *nfd)
{
	for (int i = 0; i < *nfd; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	*nfd = 0;
}

/* Handles one datagram of n bytes (n may exceed the buffer: MSG_TRUNC) and
 * the descriptors it carried (consumed). Returns 0 to keep the connection,
 * -1 to close it. */
static int ingest_message(struct ingest *ing, struct conn *c, size_t n, int truncated,
    int *fds, int *nfd, double now)
{
	struct proto_msg msg;
	enum proto_err e;

	if (ingest_over_rate(ing, c, now)) {
		ingest_close_fds(fds, nfd);
		STAT_ADD(ing->st.rejected[INGEST_R_RATE], 1);
		log_ratelimited("rate", "agent pid %d: more than %u messages per second (max_message_rate); dropping",
		    (int)c->pid, ing->lim.max_message_rate);
		return 0;
	}
	e = truncated || n > PROTO_MAX_MSG ? PROTO_E_LONG : proto_decode(ing->buf, n, &msg);
	if (e != PROTO_OK) {
		ingest_close_fds(fds, nfd);
		ingest_reject(ing, c, e);
		return -1;
	}
	/* HELLO or REGISTER first and once; nothing after BYE or REGISTER. */
	if (c->bye || c->registered ||
	    (msg.type == PROTO_HELLO || msg.type == PROTO_REGISTER) == (c->hello != 0)) {
		ingest_close_fds(fds, nfd);
		ingest_reject(ing, c, INGEST_R_SEQUENCE);
		return -1;
	}
	if (msg.type != PROTO_REGISTER)
		ingest_close_fds(fds, nfd);     /* nobody asked for them */
	switch (msg.type) {
	case PROTO_HELLO:
		if (ingest_hello(ing, c, &msg.u.hello, now) < 0)
			return -1;
		break;
	case PROTO_REGISTER:
		if (ingest_register(ing, c, &msg.u.reg, fds, nfd, now) < 0)
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
		int fds[INGEST_MAX_FDS], nfd = 0;
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
		if (n == 0 && mh.msg_controllen == 0) {
			/* End of stream, or an empty datagram: only the peer's
			 * shutdown sets POLLRDHUP. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLRDHUP };

			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)))
				return -1;
		}
		/* Identity first: a message from another process is not
		 * decoded, whatever it holds, and cannot close the
		 * connection of the process it was meant to speak for. */
		cr = ingest_check_cred(ing, c, &mh, fds, &nfd);
		if (cr != 0)
			ingest_close_fds(fds, &nfd);
		if (cr < 0)
			return -1;
		if (cr > 0)
			continue;
		if (n == 0) {
			ingest_close_fds(fds, &nfd);
			ingest_reject(ing, c, PROTO_E_SHORT);
			return -1;
		}
		if (ingest_message(ing, c, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, fds, &nfd,
		    now) < 0)
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
		int *kind = evs[i].data.ptr;
		struct conn *c;

		/* Accepting may close other connections (the pending limit):
		 * it comes after every event naming one has been handled. */
		if (kind == NULL) {
			listener = 1;
			continue;
		}
		/* The listener, when it listens again, is reported by the
		 * next epoll_wait(). */
		if (evs[i].data.ptr == &ingest_timer_tag) {
			ingest_backoff_end(ing);
			continue;
		}
		if (*kind == INGEST_K_WATCH) {
			ingest_unwatch(ing, (struct watch *)(void *)kind, 1, now);
			continue;
		}
		c = (struct conn *)(void *)kind;
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
	if (ing == NULL)
		return;
	while (ing->conns != NULL)
		ingest_conn_close(ing, ing->conns, now);
	while (ing->watches != NULL)
		ingest_unwatch(ing, ing->watches, 0, now);
	agentsock_close(ing->sock);
	if (ing->ep >= 0)
		close(ing->ep);
	if (ing->tfd >= 0)
		close(ing->tfd);
	pending_free(ing->pending);
	free(ing);
}
