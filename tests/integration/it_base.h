/* it_base.h: what every integration test needs: the paths under test, test selection, polling bounds. */
#ifndef MEMPROBE_IT_BASE_H
#define MEMPROBE_IT_BASE_H

#include <limits.h>
#include <stdint.h>

/*
 * Bounds for polling. Tests wait for a condition with it_wait_until() and
 * these as upper limits; they never sleep a fixed time and never assert how
 * long something took.
 */
#define IT_TIMEOUT_MS       10000   /* a figure, a line, a process exit */
#define IT_START_TIMEOUT_MS 10000   /* the daemon answering /healthz */

/* Paths of what is under test, set once by it_setup(); all absolute. */
struct itest_ctx {
	char build[PATH_MAX];
	char memprobed[PATH_MAX];
	char agent[PATH_MAX];           /* libmemprobe.so, for LD_PRELOAD */
	char alloc_hold[PATH_MAX];
};
extern struct itest_ctx itest;

/* Fills `itest` from the build directory. Returns 0 or -errno (a missing
 * file is reported on stderr). */
int it_setup(const char *build);

/* Whether the test `name` was selected on the command line (all are when
 * none was named). it_select() records the names; argv is kept, not copied. */
void it_select(int n, char **names);
int it_selected(const char *name);

/* This process's start time in clock ticks since boot (/proc/self/stat
 * field 22), as an agent's HELLO carries it; 0 if unreadable. */
uint64_t it_self_start_time(void);

/* Milliseconds of CLOCK_MONOTONIC. */
long long it_now_ms(void);

/*
 * Calls cond(arg) every few milliseconds until it returns non-zero or
 * timeout_ms have passed. Returns 1 if the condition became true, 0 if not.
 */
int it_wait_until(int (*cond)(void *), void *arg, int timeout_ms);

#endif
