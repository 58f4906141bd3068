/* it_daemon.h: memprobed under test: started on a temporary socket and a free port, stopped, restarted. */
#ifndef MEMPROBE_IT_DAEMON_H
#define MEMPROBE_IT_DAEMON_H

#include <limits.h>
#include <stddef.h>

#include "it_proc.h"

struct it_daemon {
	struct it_proc proc;
	int port;
	char dir[64];           /* its temp dir: socket and log; removed by stop */
	char sock[PATH_MAX];    /* agent socket */
	char log[PATH_MAX];     /* its stderr */
	char url[64];           /* http://127.0.0.1:PORT */
};

/*
 * Starts memprobed in a new temp dir on a free port with the given exited
 * TTL, and waits until /healthz answers and the agent socket exists. Picks
 * another port and tries again if the daemon exits first (the port was
 * taken meanwhile). Returns 0 or -errno, having printed why on stderr.
 */
int it_daemon_start(struct it_daemon *d, int exited_ttl);

/* As it_daemon_start(), with more memprobed arguments (NULL-terminated,
 * after the others, so they win; NULL: none). */
int it_daemon_start_args(struct it_daemon *d, int exited_ttl, char *const extra[]);

/*
 * Starts memprobed again on d's socket, port and log (after d's daemon was
 * stopped or killed, its temp dir kept) and waits as it_daemon_start().
 * Returns 0, or -1 having said why on stderr.
 */
int it_daemon_restart(struct it_daemon *d, int exited_ttl);

/* Prints the daemon's log to stderr (after a failed check). */
void it_daemon_dump_log(const struct it_daemon *d);

/*
 * Stops the daemon with SIGTERM (SIGKILL if it hangs) and removes its temp
 * dir. Returns 0 if it was not running or exited with status 0, else -1
 * having printed its status and log (a sanitizer report lands there). Safe
 * to call more than once and after a failed start.
 */
int it_daemon_stop(struct it_daemon *d);

/* The end of a test: the daemon's log when failed (the test's
 * harness_failures) is not 0, then it_daemon_stop(). */
int it_daemon_finish(struct it_daemon *d, int failed);

/*
 * Runs memprobed with args (NULL-terminated, at most 14) to its end, its
 * stderr to dir/stderr, read back into err (size bytes, NUL-terminated).
 * Returns its wait status, or -1 if it could not start or did not end
 * within IT_TIMEOUT_MS (it is killed then).
 */
int it_daemon_run_once(char *const args[], const char *dir, char *err, size_t size);

#endif
