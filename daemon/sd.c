/* sd.c: systemd integration: socket activation, readiness and status notification, the watchdog. */
#include "sd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"

enum sysd_use { SYSD_NONE, SYSD_AGENT, SYSD_HTTP };

static const char *const sysd_use_want[] = {
	[SYSD_AGENT] = "a listening AF_UNIX SOCK_SEQPACKET socket (the agent socket)",
	[SYSD_HTTP] = "a listening AF_INET or AF_INET6 SOCK_STREAM socket (HTTP)",
};

/* What socket fd is, in words, into what; returns the use it fits. */
static enum sysd_use sysd_classify(int fd, char *what, size_t size)
{
	int family, type, listening;
	socklen_t l = sizeof(int);
	char fambuf[24], typbuf[24];
	const char *fam = fambuf, *typ = typbuf;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &l) < 0) {
		snprintf(what, size, "not a socket (%s)", strerror(errno));
		return SYSD_NONE;
	}
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		type = -1;
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0)
		listening = 0;
	switch (family) {
	case AF_UNIX: fam = "AF_UNIX"; break;
	case AF_INET: fam = "AF_INET"; break;
	case AF_INET6: fam = "AF_INET6"; break;
	default: snprintf(fambuf, sizeof(fambuf), "family %d", family); break;
	}
	switch (type) {
	case SOCK_STREAM: typ = "SOCK_STREAM"; break;
	case SOCK_DGRAM: typ = "SOCK_DGRAM"; break;
	case SOCK_SEQPACKET: typ = "SOCK_SEQPACKET"; break;
	default: snprintf(typbuf, sizeof(typbuf), "type %d", type); break;
	}
	snprintf(what, size, "a %slistening %s %s socket", listening ? "" : "non-", fam, typ);
	if (!listening)
		return SYSD_NONE;
	if (family == AF_UNIX && type == SOCK_SEQPACKET)
		return SYSD_AGENT;
	if ((family == AF_INET || family == AF_INET6) && type == SOCK_STREAM)
		return SYSD_HTTP;
	return SYSD_NONE;
}

/* Keeps descriptor fd, named "mp-..." by the descriptor store, in
 * out->stored (an array of room for n); without memory it is closed. */
static void sysd_keep_stored(struct sysd_sockets *out, int n, int fd, const char *name)
{
	if (out->stored == NULL)
		out->stored = calloc((size_t)n, sizeof(*out->stored));
	if (out->stored == NULL) {
		close(fd);
		return;
	}
	snprintf(out->stored[out->nstored].name, FDSTORE_NAME_MAX, "%s", name);
	out->stored[out->nstored++].fd = fd;
}

/* Puts socket fd, named `name`, in its slot of *out: by name, else by
 * type. Returns 0, or -EINVAL with one line naming the descriptor and what
 * is wrong in err. */
static int sysd_take(struct sysd_sockets *out, int fd, const char *name, char *err,
    size_t errsize)
{
	char what[128], esc[128];
	enum sysd_use got = sysd_classify(fd, what, sizeof(what)), want;
	int *slot;

	log_escape(name, esc, sizeof(esc));
	if (strcmp(name, "agent") == 0) {
		want = SYSD_AGENT;
	} else if (strcmp(name, "http") == 0) {
		want = SYSD_HTTP;
	} else if (got == SYSD_NONE) {
		snprintf(err, errsize, "socket activation: descriptor %d (\"%s\") is %s: neither "
		    "a listening AF_UNIX SOCK_SEQPACKET socket (agent) nor a listening "
		    "AF_INET/AF_INET6 SOCK_STREAM socket (http)", fd, esc, what);
		return -EINVAL;
	} else {
		want = got;
		log_info("socket activation: descriptor %d (\"%s\") taken as the %s socket by its "
		    "type; name it with FileDescriptorName=%s", fd, esc,
		    got == SYSD_AGENT ? "agent" : "HTTP", got == SYSD_AGENT ? "agent" : "http");
	}
	if (got != want) {
		snprintf(err, errsize, "socket activation: descriptor %d (\"%s\") is %s; "
		    "expected %s", fd, esc, what, sysd_use_want[want]);
		return -EINVAL;
	}
	slot = want == SYSD_AGENT ? &out->agent : &out->http;
	if (*slot >= 0) {
		snprintf(err, errsize, "socket activation: descriptors %d and %d are both %s",
		    *slot, fd, sysd_use_want[want]);
		return -EINVAL;
	}
	*slot = fd;
	return 0;
}

int sysd_listen(struct sysd_sockets *out, char *err, size_t errsize)
{
	char **names = NULL;
	int n, r = 0;

	out->agent = out->http = -1;
	out->stored = NULL;
	out->nstored = 0;
	/* Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, and sets
	 * FD_CLOEXEC on what it returns; unnamed descriptors are "unknown". */
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		snprintf(err, errsize, "socket activation: LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES "
		    "(one name per descriptor) not understood: %s", strerror(-n));
		return n;
	}
	for (int i = 0; i < n && r == 0; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		/* A region kept in systemd's store for a restart. */
		if (strncmp(names[i], "mp-", 3) == 0)
			sysd_keep_stored(out, n, fd, names[i]);
		else
			r = sysd_take(out, fd, names[i], err, errsize);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		for (int i = 0; i < n; i++)
			close(SD_LISTEN_FDS_START + i);
		out->agent = out->http = -1;
		free(out->stored);
		out->stored = NULL;
		out->nstored = 0;
		return r;
	}
	return n - (int)out->nstored;
}

/* The first failure to notify is logged; the next ones would say the
 * same at every watchdog tick. */
static int sysd_warned;

static int sysd_failed(int r)
{
	if (!sysd_warned) {
		sysd_warned = 1;
		log_warnx("systemd notification to NOTIFY_SOCKET %s failed: %s; not retrying the log",
		    getenv("NOTIFY_SOCKET") ? getenv("NOTIFY_SOCKET") : "", strerror(-r));
	}
	return r;
}

int sysd_notify(const char *state)
{
	int r = sd_notify(0, state);

	return r < 0 ? sysd_failed(r) : r > 0;
}

uint64_t sysd_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

int sysd_notifying(void)
{
	const char *path = getenv("NOTIFY_SOCKET");

	return path != NULL && path[0] != '\0';
}

int sysd_notifyf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sysd_notify(buf);
}
