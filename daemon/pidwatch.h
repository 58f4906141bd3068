/* pidwatch.h: a process's end through its pidfd: opening one, whose it is, whether it ended, and how. */
#ifndef MEMPROBE_PIDWATCH_H
#define MEMPROBE_PIDWATCH_H

#include <stdint.h>
#include <sys/types.h>

/* A pidfd of process pid, or -1: then *alive is 0 if the process is gone,
 * and stays as it was when none could be had (out of descriptors). */
int pidwatch_open(pid_t pid, int *alive);

/* The pid a pidfd refers to, from /proc/self/fdinfo; -1 if fd is not a
 * pidfd (or its process has been reaped). */
pid_t pidwatch_pid(int fd);

/* Whether the process of a pidfd has ended. */
int pidwatch_ended(int fd);

/*
 * How process (pid, start_time) ended, as a wait status in *status: from
 * its pidfd where the kernel keeps it there (Linux 6.15 and later), else
 * from its zombie's /proc entry while its parent has not reaped it. pidfd
 * may be -1. Returns 1 when known, 0 when not.
 */
int pidwatch_exit_status(int pidfd, pid_t pid, uint64_t start_time, int *status);

#endif
