/* fdpass.h: sending descriptors over a Unix socket (SCM_RIGHTS), for the agent and the tools that act as one. */
#ifndef MEMPROBE_FDPASS_H
#define MEMPROBE_FDPASS_H

#include <stddef.h>

/* Descriptors one call can pass. */
#define FDPASS_MAX 4

/*
 * Sends the len bytes at buf as one message on sock, with the nfd
 * descriptors fds[] attached (SCM_RIGHTS; nfd may be 0). flags are
 * sendmsg(2)'s; MSG_NOSIGNAL is always added. Returns 0 when the whole
 * message went, -EINVAL for nfd above FDPASS_MAX, -EMSGSIZE when only part
 * of it went, or sendmsg(2)'s negative errno. The descriptors stay the
 * caller's. No allocation: async-signal-safe, so the agent calls it
 * inside malloc.
 */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfd, int flags);

#endif
