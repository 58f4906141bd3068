/* it_proc.h: child processes for the integration tests: start with pipes, read, wait, kill. */
#ifndef MEMPROBE_IT_PROC_H
#define MEMPROBE_IT_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct it_proc {
	pid_t pid;              /* 0 when not running or reaped */
	int in_fd;              /* write end of its stdin, -1 once closed */
	int out_fd;             /* read end of its stdout, -1 once closed */
	int status;             /* wait status once reaped */
	size_t buffered;        /* bytes of stdout read but not yet returned */
	char buf[4096];
};

/*
 * Starts argv[0] (a path) with stdin and stdout on pipes. env_set is a
 * NULL-terminated list of "NAME=VALUE" strings set on top of this process's
 * environment, from which LD_PRELOAD, every MEMPROBE_* variable and a
 * service manager's (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*) are removed
 * first. stderr goes to the file stderr_path (truncated) or, when it
 * is NULL, to ours. The child is killed if this process dies.
 * Returns 0 or -errno; *p is ready for the functions below either way.
 */
int it_proc_start(struct it_proc *p, char *const argv[], char *const env_set[],
    const char *stderr_path);

/*
 * Reads one line of the child's stdout (without its newline) into line.
 * Returns its length, -ETIMEDOUT if no full line came within timeout_ms, or
 * -EPIPE at end of output.
 */
int it_proc_readline(struct it_proc *p, char *line, size_t size, int timeout_ms);

/* Reads the rest of the child's stdout into out (NUL-terminated, cut to
 * size - 1) until end of output. Returns its length or -ETIMEDOUT. */
long it_proc_read_all(struct it_proc *p, char *out, size_t size, int timeout_ms);

/* Writes s to the child's stdin. Returns 0 or -errno. */
int it_proc_write(struct it_proc *p, const char *s);

/* Closes the child's stdin (end of input). */
void it_proc_close_stdin(struct it_proc *p);

/*
 * Waits up to timeout_ms for the child to exit and stores its wait status in
 * p->status. Returns 0, or -ETIMEDOUT (the child keeps running).
 */
int it_proc_wait(struct it_proc *p, int timeout_ms);

/* Sends sig to a running child; then it_proc_wait() as above. */
int it_proc_stop(struct it_proc *p, int sig, int timeout_ms);

/* Kills (SIGKILL) and reaps the child if it still runs, closes its pipes.
 * Safe to call more than once and on a never-started *p. */
void it_proc_kill(struct it_proc *p);

/*
 * Runs argv (argv[0] absolute) to its end with the environment additions
 * env (as it_proc_start), stdin closed, stderr to stderr_path (NULL:
 * inherited) and stdout in out (cut to size - 1). Returns its wait
 * status, or -1 when it could not start or did not end within
 * IT_TIMEOUT_MS.
 */
int it_run(char *const argv[], char *const env[], const char *stderr_path, char *out,
    size_t size);

/* Runs the shell command cmd (popen) and puts what it printed in out (cut
 * to size - 1). Returns its exit status, or -1 if it could not run or was
 * killed. */
int it_shell(const char *cmd, char *out, size_t size);

/* Finds an executable on PATH (/usr/bin:/bin when unset), or checks an
 * absolute name, into out. Returns 0 or -ENOENT. */
int it_which(const char *name, char *out, size_t size);

/* How many newlines s holds: the lines a program printed. */
int it_count_lines(const char *s);

#endif
