/* fdstore.c: keeps the agents' region descriptors beyond one daemon's life: a keeper process, or systemd's store. */
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "fdpass.h"

/*
 * The keeper's protocol, one SOCK_SEQPACKET datagram a message:
 *   daemon -> keeper, on the pair made at fork:
 *     "P NAME" + one descriptor   keep it (replacing NAME)
 *     "D NAME"                    forget NAME
 *     "S"                         a clean stop: exit now
 *   the next daemon -> keeper, on the abstract socket:
 *     "T"                         take everything
 *   keeper -> next daemon:
 *     "I NAME" + one descriptor   one item, then
 *     "E"                         the end; the keeper exits
 */
#define FDSTORE_MSG_MAX (FDSTORE_NAME_MAX + 8)

struct fdstore {
	int systemd;
	int ctl;                        /* our end of the pair; -1 none */
	pid_t keeper;
};

void fdstore_name(char *buf, pid_t pid, uint64_t start_time, unsigned agent, uid_t uid)
{
	snprintf(buf, FDSTORE_NAME_MAX, "mp-%d-%" PRIu64 "-%u-%u", (int)pid, start_time, agent,
	    (unsigned)uid);
}

int fdstore_parse(const char *name, pid_t *pid, uint64_t *start_time, unsigned *agent,
    uid_t *uid)
{
	int p, n = 0;
	uint64_t st;
	unsigned a, u;

	if (sscanf(name, "mp-%d-%" SCNu64 "-%u-%u%n", &p, &st, &a, &u, &n) != 4 ||
	    name[n] != '\0' || p <= 0)
		return -EINVAL;
	*pid = p;
	*start_time = st;
	*agent = a;
	*uid = u;
	return 0;
}

/* The abstract address of the keeper for sock_path and our uid. */
static socklen_t fdstore_addr(struct sockaddr_un *sun, const char *sock_path)
{
	uint64_t h = 14695981039346656037ull;
	int n;

	for (const char *p = sock_path; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "memprobed-keeper-%u-%016" PRIx64,
	    (unsigned)geteuid(), h);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Sends text and, when fd >= 0, that descriptor; flags as send(2)'s. */
static int fdstore_send(int sock, const char *text, int fd, int flags)
{
	return fdpass_send(sock, text, strlen(text), &fd, fd >= 0 ? 1 : 0, flags);
}

/* Receives one message into text (NUL-terminated) and its descriptor
 * (-1 none; extra ones are closed). Returns its length, 0 at the end, or
 * a negative errno. */
static ssize_t fdstore_recv(int sock, char *text, size_t size, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { text, size - 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k;
		int fds[4];

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > 4)
			k = 4;
		memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
		for (size_t i = 0; i < k; i++) {
			if (*fd < 0)
				*fd = fds[i];
			else
				close(fds[i]);
		}
	}
	text[n] = '\0';
	return n;
}

/* Copies a name, cut to FDSTORE_NAME_MAX - 1 bytes. */
static void fdstore_copy_name(char *dst, const char *src)
{
	size_t n = strnlen(src, FDSTORE_NAME_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- the keeper ---- */

struct keep_item {
	char name[FDSTORE_NAME_MAX];
	int fd;
};

struct keeper {
	struct keep_item *items;
	size_t n, cap;
};

static void keeper_put(struct keeper *k, const char *name, int fd)
{
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->items[i].name, name) == 0) {
			close(k->items[i].fd);
			k->items[i].fd = fd;
			return;
		}
	}
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		struct keep_item *n = realloc(k->items, cap * sizeof(*n));

		if (n == NULL) {
			close(fd);
			return;
		}
		k->items = n;
		k->cap = cap;
	}
	fdstore_copy_name(k->items[k->n].name, name);
	k->items[k->n].fd = fd;
	k->n++;
}

static void keeper_del(struct keeper *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->items[i].name, name) == 0) {
			close(k->items[i].fd);
			k->items[i] = k->items[--k->n];
			return;
		}
	}
}

/* Serves one taker: only our own uid gets the descriptors. */
static int keeper_hand_over(struct keeper *k, int c)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char text[FDSTORE_MSG_MAX];
	int fd;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid())
		return -EPERM;
	if (fdstore_recv(c, text, sizeof(text), &fd) <= 0 || strcmp(text, "T") != 0) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	/* The taker reads as we write: a blocking send is what we want. */
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
	for (size_t i = 0; i < k->n; i++) {
		char msg[FDSTORE_MSG_MAX];
		int r;

		snprintf(msg, sizeof(msg), "I %s", k->items[i].name);
		r = fdstore_send(c, msg, k->items[i].fd, 0);
		if (r < 0)
			return r;
	}
	return send(c, "E", 1, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static double keeper_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The keeper's life: holds what the daemon sends until the daemon says
 * stop, or, once the daemon is gone, until a taker has everything or
 * FDSTORE_KEEP_SECONDS pass. It never returns.
 */
static void __attribute__((noreturn)) keeper_main(int ctl, int lfd)
{
	struct keeper k = { 0 };
	int daemon_gone = 0;
	double deadline = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = daemon_gone ? -1 : ctl, .events = POLLIN },
			{ .fd = lfd, .events = POLLIN },
		};
		int timeout = daemon_gone ? 1000 : -1;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			_exit(1);
		if (daemon_gone && keeper_now() > deadline)
			_exit(0);
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char text[FDSTORE_MSG_MAX];
			int fd;
			ssize_t n = fdstore_recv(ctl, text, sizeof(text), &fd);

			if (n <= 0 && n != -EINTR && n != -EAGAIN) {
				/* The daemon died without a word: wait for the next. */
				daemon_gone = 1;
				deadline = keeper_now() + FDSTORE_KEEP_SECONDS;
				close(ctl);
				continue;
			}
			if (n > 2 && text[0] == 'P' && text[1] == ' ' && fd >= 0)
				keeper_put(&k, text + 2, fd);
			else if (fd >= 0)
				close(fd);
			if (n > 2 && text[0] == 'D' && text[1] == ' ')
				keeper_del(&k, text + 2);
			if (n == 1 && text[0] == 'S')
				_exit(0);
		}
		if (pfd[1].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			struct pollfd cp = { .fd = ctl, .events = POLLIN };

			if (c < 0)
				continue;
			/* Only once the daemon is gone: a second daemon on the
			 * same socket while the first lives gets nothing. */
			if (!daemon_gone && (poll(&cp, 1, 0) != 1 || !(cp.revents & (POLLHUP | POLLERR)))) {
				close(c);
				continue;
			}
			close(lfd);
			_exit(keeper_hand_over(&k, c) == 0 ? 0 : 1);
		}
	}
}

/* Starts the keeper; returns its pid and our end of the pair in *ctl. */
static int fdstore_fork(const char *sock_path, int *ctl, pid_t *pid)
{
	struct sockaddr_un sun;
	socklen_t sl = fdstore_addr(&sun, sock_path);
	int pair[2], lfd, nul;
	pid_t p;

	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sun, sl) < 0 || listen(lfd, 4) < 0) {
		int e = -errno;

		close(lfd);
		return e;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		int e = -errno;

		close(lfd);
		return e;
	}
	p = fork();
	if (p < 0) {
		int e = -errno;

		close(lfd);
		close(pair[0]);
		close(pair[1]);
		return e;
	}
	if (p == 0) {
		sigset_t none;

		setsid();
		prctl(PR_SET_NAME, "memprobed-keep");
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		/* Nothing of the daemon's but the pair and the listener: no
		 * pipe of a parent waits on us, no socket stays open. */
		nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		if (dup2(pair[1], 3) < 0 || dup2(lfd, 4) < 0)
			_exit(1);
		syscall(SYS_close_range, 5, ~0u, 0);
		keeper_main(3, 4);
	}
	close(lfd);
	close(pair[1]);
	*ctl = pair[0];
	*pid = p;
	return 0;
}

/* Takes what the keeper of a daemon that died here holds. */
static int fdstore_take(const char *sock_path, struct fdstore_item **items, size_t *nitems)
{
	struct sockaddr_un sun;
	socklen_t sl = fdstore_addr(&sun, sock_path);
	struct fdstore_item *v = NULL;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t n = 0, cap = 0;
	int s, r = 0;

	*items = NULL;
	*nitems = 0;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sun, sl) < 0) {
		close(s);
		return 0;               /* no keeper: nothing to take */
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() ||
	    send(s, "T", 1, MSG_NOSIGNAL) < 0) {
		close(s);
		return -EPERM;
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 }, sizeof(struct timeval));
	for (;;) {
		char text[FDSTORE_MSG_MAX];
		int fd;
		ssize_t k = fdstore_recv(s, text, sizeof(text), &fd);

		if (k <= 0) {
			r = k < 0 ? (int)k : 0;
			if (fd >= 0)
				close(fd);
			break;          /* a keeper that declined (its daemon lives) */
		}
		if (k == 1 && text[0] == 'E')
			break;
		if (k < 3 || text[0] != 'I' || fd < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			struct fdstore_item *nv = realloc(v, c2 * sizeof(*nv));

			if (nv == NULL) {
				close(fd);
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = c2;
		}
		fdstore_copy_name(v[n].name, text + 2);
		v[n].fd = fd;
		n++;
	}
	close(s);
	*items = v;
	*nitems = n;
	return r;
}

int fdstore_open(struct fdstore **out, const char *sock_path, int use_systemd,
    struct fdstore_item **items, size_t *nitems, char *err, size_t errsize)
{
	struct fdstore *fs = calloc(1, sizeof(*fs));
	int r;

	*items = NULL;
	*nitems = 0;
	if (fs == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	fs->ctl = -1;
	err[0] = '\0';
	if (use_systemd) {
		/* systemd passes its store back with the sockets (sd.c). */
		fs->systemd = 1;
		*out = fs;
		return 0;
	}
	r = fdstore_take(sock_path, items, nitems);
	if (r < 0)
		snprintf(err, errsize, "taking the regions a previous memprobed kept: %s",
		    strerror(-r));
	r = fdstore_fork(sock_path, &fs->ctl, &fs->keeper);
	if (r < 0) {
		snprintf(err, errsize, "starting the descriptor keeper: %s", strerror(-r));
		free(fs);
		*out = NULL;
		return r;
	}
	*out = fs;
	return 0;
}

int fdstore_put(struct fdstore *fs, const char *name, int fd)
{
	char text[FDSTORE_MSG_MAX];

	if (fs == NULL)
		return -ENOTCONN;
	if (fs->systemd) {
		snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s", name);
		return sd_pid_notify_with_fds(0, 0, text, &fd, 1) > 0 ? 0 : -ENOTCONN;
	}
	if (fs->ctl < 0)
		return -ENOTCONN;
	snprintf(text, sizeof(text), "P %s", name);
	return fdstore_send(fs->ctl, text, fd, MSG_DONTWAIT);
}

void fdstore_del(struct fdstore *fs, const char *name)
{
	char text[FDSTORE_MSG_MAX];

	if (fs == NULL)
		return;
	if (fs->systemd) {
		snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
		sd_notify(0, text);
		return;
	}
	if (fs->ctl < 0)
		return;
	snprintf(text, sizeof(text), "D %s", name);
	fdstore_send(fs->ctl, text, -1, MSG_DONTWAIT);
}

void fdstore_close(struct fdstore *fs, int keep)
{
	if (fs == NULL)
		return;
	if (fs->ctl >= 0) {
		if (!keep)
			fdstore_send(fs->ctl, "S", -1, MSG_DONTWAIT);
		close(fs->ctl);
	}
	free(fs);
}
