/* it_workload.h: programs run with the agent preloaded, and the same run without it to compare. */
#ifndef MEMPROBE_IT_WORKLOAD_H
#define MEMPROBE_IT_WORKLOAD_H

#include "it_daemon.h"
#include "it_proc.h"

/*
 * Environment for a program watched by the daemon on sock: NULL-terminated,
 * in env (at least 4 entries), strings in storage (at least 2 * PATH_MAX
 * bytes). Sets LD_PRELOAD to the agent, MEMPROBE_SOCKET to sock and
 * MEMPROBE_INTERVAL_MS to 100.
 */
void it_agent_env(char *env[], char *storage, const char *sock);

/*
 * Starts `alloc_hold NBLOCKS SIZE` with the agent preloaded and reporting to
 * sock (no agent at all when sock is NULL), stderr to stderr_path (NULL:
 * ours), and waits for its "ready PID" line. Returns the pid it printed, or
 * -errno having said why on stderr; *p must be it_proc_kill()ed either way.
 */
long it_hold_start(struct it_proc *p, const char *sock, int nblocks, int size,
    const char *stderr_path);

#define IT_OUT_MAX (8u << 20)           /* stdout kept of a workload */
#define IT_RUN_TIMEOUT_MS 60000         /* a whole workload, under load */

/* How a workload ended. */
struct it_outcome {
	char *out;              /* stdout, NUL-terminated; owned */
	long len;
	char err[4096];         /* stderr, cut */
	int status;             /* wait status; -1 if it did not finish */
	long pid;
};

/* Frees o->out; safe on a zeroed *o and more than once. */
void it_outcome_free(struct it_outcome *o);

/*
 * Runs argv (argv[0] absolute) in directory dir (NULL: here) to its end,
 * stdin closed, with the agent reporting to sock, or without it when sock
 * is NULL; extra is one more NAME=VALUE for the environment, or NULL;
 * stderr to errpath. Fills *o (o->status -1 when it did not finish within
 * IT_RUN_TIMEOUT_MS; it is killed then).
 */
void it_run_workload(char *const argv[], const char *dir, const char *sock,
    const char *extra, const char *errpath, struct it_outcome *o);

/* Says on stderr where the outputs a (without the agent) and b (with it)
 * first differ, what names them. */
void it_show_diff(const char *what, const char *a, const char *b);

/* Compares the run with the agent against the one without: stdout,
 * stderr and wait status. Returns how many differ (each said on stderr);
 * a run that did not finish counts as one. */
int it_compare(const char *name, const struct it_outcome *plain, const struct it_outcome *with);

/* it_run_workload() without the agent and then with it reporting to d
 * (stderr files in d->dir), then it_compare(); returns what that returns. */
int it_run_both(const struct it_daemon *d, char *const argv[], const char *dir,
    const char *extra, struct it_outcome *plain, struct it_outcome *with);

#endif
