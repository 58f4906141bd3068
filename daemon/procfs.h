/* procfs.h: what the daemon reads from /proc, about itself and about agents. */
#ifndef MEMPROBE_PROCFS_H
#define MEMPROBE_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procstat.h"

/* The standard process_* figures of the daemon itself. */
struct procfs_self {
	double cpu_seconds;             /* user + system */
	uint64_t resident_bytes;
	uint64_t virtual_bytes;
	double start_time_seconds;      /* since the epoch */
	uint64_t open_fds;
	uint64_t max_fds;               /* RLIMIT_NOFILE soft limit */
};

/*
 * The start time of process `pid` in clock ticks since boot (field 22 of
 * /proc/PID/stat): with the pid it tells a reused pid from its earlier
 * owner. Returns 0 or a negative errno (-ENOENT when the process is gone).
 */
int procfs_start_time(pid_t pid, uint64_t *out);

/* Figures of another process from /proc/PID/status, in bytes. */
struct procfs_status {
	uint64_t resident;              /* VmRSS */
	uint64_t resident_peak;         /* VmHWM */
	uint64_t stack_mapped;          /* VmStk: the main thread's stack mapping */
	uint64_t data;                  /* VmData: data segment and anonymous mappings */
	uint64_t threads;               /* Threads */
};

/*
 * Reads /proc/PID/status whole. Returns 0, -ENOENT (or -ESRCH)
 * when the process is gone, -EINVAL when a field is missing (a kernel
 * thread or a zombie has no Vm* lines), or another negative errno.
 */
int procfs_status(pid_t pid, struct procfs_status *out);

/* Parses the text of a /proc/PID/status file ("VmRSS:\t  1234 kB" lines).
 * Returns 0 or -EINVAL. Exposed for unit tests. */
int procfs_parse_status(const char *text, struct procfs_status *out);

/* A file read this long is refused (-EFBIG): no /proc file we read comes
 * near it. */
#define PROCFS_READ_MAX (16u << 20)

/*
 * Reads the file at path whole, however long (a /proc file reports no
 * size, so it is read until its end). Returns 0 and a NUL-terminated copy
 * in *out (the caller free()s it) and its length in *len (when len is not
 * NULL); or -ENOMEM, -EFBIG beyond PROCFS_READ_MAX, or open(2)'s and
 * read(2)'s negative errno.
 */
int procfs_read_all(const char *path, char **out, size_t *len);

/* Reads the daemon's own figures. Returns 0 or a negative errno. */
int procfs_self(struct procfs_self *out);

/* Reads /proc/PID/stat and parses it with procstat_parse() (common/).
 * Returns 0 or a negative errno. */
int procfs_stat(pid_t pid, struct procstat *out);

/*
 * The kernel's name of process pid (/proc/PID/comm, without its newline)
 * into comm, and the target of /proc/PID/exe into exe ("" when it cannot be
 * read: a kernel thread, a zombie, another user's process). Returns 0, or a
 * negative errno when comm cannot be read (the process is gone).
 */
int procfs_names(pid_t pid, char *comm, size_t csize, char *exe, size_t esize);

/*
 * /proc/PID/pagemap: one 64-bit word per virtual page (PROCFS_PAGE bytes),
 * at offset (address / PROCFS_PAGE) * 8. Bit 63: present in RAM; bit 62:
 * swapped out. Opening it needs ptrace-read access to the process (its own
 * user without a stricter Yama or dumpable setting, or CAP_SYS_PTRACE).
 */
#define PROCFS_PAGE 4096u
#define PROCFS_PM_PRESENT (1ull << 63)
#define PROCFS_PM_SWAPPED (1ull << 62)

/* Opens /proc/PID/pagemap: a descriptor (the caller closes it), or a
 * negative errno: -EACCES or -EPERM when it is not ours to read, -ENOENT
 * when the process is gone. */
int procfs_pagemap_open(pid_t pid);

/* Reads the words of pages [vpn, vpn + n) from a pagemap descriptor.
 * Returns 0, or a negative errno (-EIO for a short read). */
int procfs_pagemap_read(int fd, uint64_t vpn, uint64_t *words, size_t n);

/* Transparent huge pages, system-wide
 * (/sys/kernel/mm/transparent_hugepage/enabled). */
enum procfs_thp {
	PROCFS_THP_UNKNOWN,             /* no such file (a kernel without THP: never) */
	PROCFS_THP_NEVER,
	PROCFS_THP_MADVISE,             /* only ranges a program madvise()s */
	PROCFS_THP_ALWAYS,
};

/* Parses that file's text ("always [madvise] never"): the bracketed mode,
 * or PROCFS_THP_UNKNOWN. */
enum procfs_thp procfs_parse_thp(const char *text);

/* Reads the mode; PROCFS_THP_UNKNOWN when the file cannot be read. */
enum procfs_thp procfs_thp_mode(void);

/*
 * The AnonHugePages of the mapping of process pid that contains address
 * addr, in bytes, from /proc/PID/smaps (read whole: costly, so called
 * rarely). Returns 0 and *out, -ESRCH when no mapping holds addr, or a
 * negative errno.
 */
int procfs_smaps_huge(pid_t pid, uint64_t addr, uint64_t *out);

/* Parses the text of a smaps file as procfs_smaps_huge() does. Exposed for
 * unit tests. */
int procfs_parse_smaps_huge(const char *text, uint64_t addr, uint64_t *out);

#endif
