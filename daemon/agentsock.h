/* agentsock.h: the agent socket file: made, made again when removed, or taken from socket activation. */
#ifndef MEMPROBE_AGENTSOCK_H
#define MEMPROBE_AGENTSOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The listening AF_UNIX SOCK_SEQPACKET socket agents connect to, with
 * SO_PASSCRED set (so every message carries its sender's credentials) and
 * O_NONBLOCK. Accepting and reading connections is ingest.c's job.
 *
 * Errors: err (errsize bytes) names the failed step ("bind: Address already
 * in use"); the caller adds the socket's path.
 */
struct agentsock;

/*
 * Creates the socket at `path` (mode 0660, group `group` unless it is
 * (gid_t)-1): makes a missing parent directory (0755), refuses a directory
 * that belongs to neither us nor root, removes a stale socket file that
 * nobody answers on, and refuses to start when another daemon answers.
 * Returns 0 and *out, or a negative errno with the failed step in err.
 */
int agentsock_open(struct agentsock **out, const char *path, gid_t group, char *err,
    size_t errsize);

/*
 * Takes fd, a listening AF_UNIX SOCK_SEQPACKET socket passed by socket
 * activation (sd.h), which is ours from the call on, even when it fails.
 * Sets O_NONBLOCK, FD_CLOEXEC and SO_PASSCRED on it. Its file belongs to
 * the service manager: never made again, never removed. Returns 0 and
 * *out, or a negative errno with the failed step in err.
 */
int agentsock_adopt(struct agentsock **out, int fd, char *err, size_t errsize);

/* The listening descriptor. */
int agentsock_fd(const struct agentsock *as);

/* The socket's path; for an adopted socket its bound address ("@name" for
 * an abstract one) or "(descriptor N)". */
const char *agentsock_path(const struct agentsock *as);

/* Whether the file we bound was removed or replaced since (agents can no
 * longer reach us there). Always 0 for an adopted socket. */
int agentsock_gone(const struct agentsock *as);

/*
 * Binds the path again as agentsock_open() did, for a file that is gone.
 * Returns the new listening descriptor, which the caller hands to
 * agentsock_replace() or closes, or a negative errno with the failed step
 * in err. The current listener stays until agentsock_replace().
 */
int agentsock_rebind(struct agentsock *as, char *err, size_t errsize);

/* Makes fd (from agentsock_rebind()) the listener and closes the one before;
 * the caller has taken that one out of its poll sets. */
void agentsock_replace(struct agentsock *as, int fd);

/* Closes the listener, removes the socket file if it is still the one we
 * bound (a newer daemon may have replaced it), and frees as. NULL is a
 * no-op. */
void agentsock_close(struct agentsock *as);

#endif
