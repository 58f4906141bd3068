/* fdstore.h: keeps the agents' region descriptors beyond one daemon's life, so a restart loses no process. */
#ifndef MEMPROBE_FDSTORE_H
#define MEMPROBE_FDSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * An agent hands its region over once and keeps no descriptor, so a daemon
 * that dies takes the only way to read an idle process's figures with it.
 * The store keeps a duplicate of each region's memfd where the next daemon
 * finds it:
 *
 *  - Outside systemd, a keeper process of ours (forked at start, in its own
 *    session, every other descriptor closed) holds them. When the daemon
 *    stops cleanly it tells the keeper to go; when it dies, the keeper waits
 *    up to FDSTORE_KEEP_SECONDS for the next daemon on the same agent socket
 *    (it answers on an abstract socket named after that path and our uid,
 *    and only to our uid), hands everything over and exits.
 *  - Under systemd the service manager's descriptor store does the same
 *    (FDSTORE=1, FileDescriptorStoreMax= in memprobed.service), and passes
 *    them back at the next start with the names given here.
 *
 * Names are "mp-PID-STARTTIME-AGENT-UID" (fdstore_name()).
 */
#define FDSTORE_KEEP_SECONDS 300
#define FDSTORE_NAME_MAX 96

struct fdstore;

/* What a previous daemon left, for the caller to take back. */
struct fdstore_item {
	char name[FDSTORE_NAME_MAX];
	int fd;                         /* owned by whoever takes the item */
};

/*
 * Opens the store for the agent socket at sock_path. With use_systemd, the
 * service manager's store is used; otherwise the keeper of a daemon that
 * died on this socket is asked for what it holds, and a keeper of our own
 * is started. Must be called before any thread starts (it forks). What was
 * left is returned in *items (*nitems of them; free() the array after
 * taking every fd). Returns 0, or a negative errno with why in err (the
 * daemon then runs without a store: a restart loses idle processes).
 */
int fdstore_open(struct fdstore **out, const char *sock_path, int use_systemd,
    struct fdstore_item **items, size_t *nitems, char *err, size_t errsize);

/* Writes the store name of a region into buf (FDSTORE_NAME_MAX bytes). */
void fdstore_name(char *buf, pid_t pid, uint64_t start_time, unsigned agent, uid_t uid);

/* Parses a store name. Returns 0, or -EINVAL when it is not one. */
int fdstore_parse(const char *name, pid_t *pid, uint64_t *start_time, unsigned *agent,
    uid_t *uid);

/* Keeps a duplicate of fd under name (replacing one of that name); the
 * caller keeps fd. Never blocks. Returns 0 or a negative errno. */
int fdstore_put(struct fdstore *fs, const char *name, int fd);

/* Forgets name (its process is gone and its figures expired or final). */
void fdstore_del(struct fdstore *fs, const char *name);

/* Closes the store. keep = 0: a clean stop, the keeper goes and what it
 * held with it; keep = 1: it waits for the next daemon. fs may be NULL. */
void fdstore_close(struct fdstore *fs, int keep);

#endif
