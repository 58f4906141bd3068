/* sd.c: systemd integration: socket activation, readiness and status notification, the watchdog. */
#include "sd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define SYSD_FDS_START 3
/* More than memprobed could use; a bigger LISTEN_FDS is a mistake. */
#define SYSD_FDS_MAX 64

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

#ifdef HAVE_LIBSYSTEMD

/* The passed descriptors' count and names (a new array of n strings,
 * "unknown" where unnamed; the caller frees each and the array), or 0 when
 * none were passed to this process, or a negative errno. */
static int sysd_passed(char ***names)
{
	return sd_listen_fds_with_names(1, names);
}

#else

/* Parses a decimal without sign or blanks into *out. Returns 0 or -EINVAL. */
static int sysd_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int sysd_passed(char ***names)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
	const char *snames = getenv("LISTEN_FDNAMES");
	uint64_t pid, nfds;
	char **v = NULL;
	int r = 0;

	*names = NULL;
	if (spid == NULL || sfds == NULL)
		goto done;
	if (sysd_parse_u64(spid, &pid) < 0 || sysd_parse_u64(sfds, &nfds) < 0) {
		r = -EINVAL;
		goto done;
	}
	/* Meant for another process (one that exec'd us and left them). */
	if (pid != (uint64_t)getpid() || nfds == 0)
		goto done;
	if (nfds > SYSD_FDS_MAX) {
		r = -E2BIG;
		goto done;
	}
	v = calloc(nfds, sizeof(*v));
	if (v == NULL) {
		r = -ENOMEM;
		goto done;
	}
	/* As libsystemd: no names is "unknown" for each, but when names are
	 * given there must be one per descriptor. */
	if (snames != NULL) {
		uint64_t nnames = 1;

		for (const char *c = snames; *c != '\0'; c++)
			nnames += *c == ':';
		if (nnames != nfds) {
			free(v);
			v = NULL;
			r = -EINVAL;
			goto done;
		}
	}
	for (uint64_t i = 0; i < nfds; i++) {
		const char *end = snames != NULL ? strchrnul(snames, ':') : NULL;

		if (snames != NULL)
			v[i] = strndup(snames, (size_t)(end - snames));
		else
			v[i] = strdup("unknown");
		if (v[i] == NULL) {
			for (uint64_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			v = NULL;
			r = -ENOMEM;
			goto done;
		}
		snames = snames != NULL && *end == ':' ? end + 1 : NULL;
		if (fcntl(SYSD_FDS_START + (int)i, F_SETFD, FD_CLOEXEC) < 0 && r == 0)
			r = -errno;
	}
	if (r < 0) {
		for (uint64_t i = 0; i < nfds; i++)
			free(v[i]);
		free(v);
		v = NULL;
		goto done;
	}
	r = (int)nfds;
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	*names = v;
	return r;
}

#endif

int sysd_listen(struct sysd_sockets *out, char *err, size_t errsize)
{
	char **names = NULL, what[128], esc[128];
	int n, r = 0;

	out->agent = out->http = -1;
	out->stored = NULL;
	out->nstored = 0;
	n = sysd_passed(&names);
	if (n < 0) {
		snprintf(err, errsize, "socket activation: LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES "
		    "(one name per descriptor) not understood: %s", strerror(-n));
		return n;
	}
	for (int i = 0; i < n && r == 0; i++) {
		int fd = SYSD_FDS_START + i, *slot;
		enum sysd_use got = sysd_classify(fd, what, sizeof(what)), want;

		log_escape(names[i], esc, sizeof(esc));
		if (strncmp(names[i], "mp-", 3) == 0) {
			/* A region kept in systemd's store for a restart. */
			if (out->stored == NULL)
				out->stored = calloc((size_t)n, sizeof(*out->stored));
			if (out->stored == NULL) {
				close(fd);
				continue;
			}
			snprintf(out->stored[out->nstored].name, FDSTORE_NAME_MAX, "%s", names[i]);
			out->stored[out->nstored++].fd = fd;
			continue;
		}
		if (strcmp(names[i], "agent") == 0) {
			want = SYSD_AGENT;
		} else if (strcmp(names[i], "http") == 0) {
			want = SYSD_HTTP;
		} else if (got == SYSD_NONE) {
			snprintf(err, errsize, "socket activation: descriptor %d (\"%s\") is %s: neither "
			    "a listening AF_UNIX SOCK_SEQPACKET socket (agent) nor a listening "
			    "AF_INET/AF_INET6 SOCK_STREAM socket (http)", fd, esc, what);
			r = -EINVAL;
			break;
		} else {
			want = got;
			log_info("socket activation: descriptor %d (\"%s\") taken as the %s socket by its "
			    "type; name it with FileDescriptorName=%s", fd, esc,
			    got == SYSD_AGENT ? "agent" : "HTTP", got == SYSD_AGENT ? "agent" : "http");
		}
		if (got != want) {
			snprintf(err, errsize, "socket activation: descriptor %d (\"%s\") is %s; "
			    "expected %s", fd, esc, what, sysd_use_want[want]);
			r = -EINVAL;
			break;
		}
		slot = want == SYSD_AGENT ? &out->agent : &out->http;
		if (*slot >= 0) {
			snprintf(err, errsize, "socket activation: descriptors %d and %d are both %s",
			    *slot, fd, sysd_use_want[want]);
			r = -EINVAL;
			break;
		}
		*slot = fd;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		for (int i = 0; i < n; i++)
			close(SYSD_FDS_START + i);
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

#ifdef HAVE_LIBSYSTEMD

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

#else

int sysd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;
	ssize_t n;
	int fd, r;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* A path, or an abstract name written with a leading '@'. */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path))
		return sysd_failed(-EAFNOSUPPORT);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sysd_failed(-errno);
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	r = n < 0 ? -errno : 1;
	close(fd);
	return r < 0 ? sysd_failed(r) : r;
}

uint64_t sysd_watchdog_usec(void)
{
	const char *spid = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	if (sysd_parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0 || usec == 0)
		return 0;
	if (spid != NULL && (sysd_parse_u64(spid, &pid) < 0 || pid != (uint64_t)getpid()))
		return 0;
	return usec;
}

#endif

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
