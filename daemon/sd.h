/* sd.h: systemd integration: socket activation, readiness and status notification, the watchdog. */
#ifndef MEMPROBE_SD_H
#define MEMPROBE_SD_H

#include <stddef.h>
#include <stdint.h>

#include "fdstore.h"

/*
 * The prefix is sysd_, not sd_: sd_ is libsystemd's.
 *
 * These call libsystemd: sd_listen_fds_with_names(), sd_notify() and
 * sd_watchdog_enabled(). Outside systemd (LISTEN_PID, NOTIFY_SOCKET and
 * WATCHDOG_USEC unset) every call is a no-op.
 */

/* The listening sockets socket activation passed, by use; -1 when not
 * passed. */
struct sysd_sockets {
	int agent;      /* AF_UNIX SOCK_SEQPACKET: the agent socket */
	int http;       /* AF_INET or AF_INET6 SOCK_STREAM: HTTP */
	/* What systemd's descriptor store kept for us: descriptors named
	 * "mp-..." (fdstore.h). A new array; the caller takes each fd and
	 * free()s it. */
	struct fdstore_item *stored;
	size_t nstored;
};

/*
 * Takes the descriptors passed by socket activation (when LISTEN_PID is this
 * process) and removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the
 * environment. A descriptor named "agent" must be a listening AF_UNIX
 * SOCK_SEQPACKET socket, one named "http" a listening AF_INET/AF_INET6
 * SOCK_STREAM socket; one of another name (a socket unit without
 * FileDescriptorName=) is taken by its type when that use is still free.
 * Descriptors named "mp-..." are regions from systemd's descriptor store,
 * returned in out->stored.
 * Anything else is an error: a descriptor of the wrong type, two of one use,
 * one that fits neither. Returns the number of sockets taken (0: not
 * socket-activated) with the caller owning them, or a negative errno with
 * one line naming the descriptor and what is wrong in err (every passed
 * descriptor is then closed).
 */
int sysd_listen(struct sysd_sockets *out, char *err, size_t errsize);

/*
 * Sends `state` (newline-separated VAR=VALUE lines: "READY=1",
 * "STATUS=...", "WATCHDOG=1", "RELOADING=1", "STOPPING=1") to the service
 * manager. Returns 1 when sent, 0 when NOTIFY_SOCKET is not set, or a
 * negative errno (logged once, the first time).
 */
int sysd_notify(const char *state);

/* Whether a service manager listens (NOTIFY_SOCKET is set). */
int sysd_notifying(void);

/* As sysd_notify() with a printf format; the text is cut at 1 KiB. */
int sysd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The watchdog interval the service manager asks for in microseconds
 * (WATCHDOG_USEC, when WATCHDOG_PID is unset or names this process), or 0
 * when there is no watchdog. The caller sends "WATCHDOG=1" at half of it.
 */
uint64_t sysd_watchdog_usec(void);

#endif
