/* refresh.h: a thread that reads /proc figures of the live tracked processes on a timer. */
#ifndef MEMPROBE_REFRESH_H
#define MEMPROBE_REFRESH_H

#include "ptab.h"

/*
 * /proc is read off the ingest thread and outside the table's lock, so
 * neither agents nor scrapes wait for it: the thread copies the live keys,
 * reads /proc/PID/status once per process, then stores the figures under
 * the lock in one go. It then copies out the stack ranges of their live
 * threads and reads the part of /proc/PID/pagemap below each thread's
 * deepest page found so far (stackres.h), and stores the depths the same
 * way. A scrape shows the figures of the latest pass.
 */
struct refresh;

/*
 * Starts the thread: a pass every `interval` seconds (0: none until
 * refresh_set_interval() sets one). pt must outlive it. The caller has
 * blocked the signals it handles. Returns 0 and *out, or a negative errno.
 */
int refresh_start(struct refresh **out, struct ptab *pt, double interval);

/* Changes the interval; takes effect at once. Thread-safe. */
void refresh_set_interval(struct refresh *r, double interval);

/* Seconds the latest pass took, and how many processes it read. */
void refresh_last(struct refresh *r, double *seconds, uint64_t *processes);

/* Stops and joins the thread, then frees r. */
void refresh_stop(struct refresh *r);

#endif
