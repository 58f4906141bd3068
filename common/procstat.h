/* procstat.h: the one parser of a /proc/PID/stat line, for memprobed, the agent and memprobectl. */
#ifndef MEMPROBE_PROCSTAT_H
#define MEMPROBE_PROCSTAT_H

#include <stdint.h>

/* The fields of /proc/PID/stat that memprobe uses (proc(5) numbering). */
struct procstat {
	char state;                     /* field 3: R, S, Z, ... */
	uint64_t utime, stime;          /* fields 14, 15: clock ticks */
	uint64_t starttime;             /* field 22: clock ticks since boot */
	uint64_t vsize;                 /* field 23: bytes */
	uint64_t rss;                   /* field 24: pages */
	uint64_t exit_code;             /* field 52: a wait status, for a zombie */
	int have_exit_code;             /* field 52 was there (Linux 3.5 on) */
};

/* A buffer this long holds any stat line (pid, a comm of up to 64 bytes,
 * 50 fields of at most 20 digits each), with room for the NUL. */
#define PROCSTAT_TEXT_MAX 1536

/*
 * Parses the NUL-terminated text of a /proc/PID/stat file into *out.
 * Field 2, comm, is free text in parentheses (spaces and ')' included), so
 * the fields are read after the LAST ')'. Fields 3 to 24 must be there;
 * later ones are read when present (an older kernel has fewer). Negative
 * fields are skipped, not kept. Returns 0, or -EINVAL when the text is not
 * a stat line (*out is then unspecified).
 *
 * Pure: no allocation, no locale, no errno; async-signal-safe, so the
 * agent calls it inside malloc on what it read with read(2).
 */
int procstat_parse(const char *text, struct procstat *out);

/* Reads the stat file at path (/proc/self/stat, /proc/PID/stat) with
 * open(2) and read(2) and parses it. Returns 0, or -ENOENT when it cannot
 * be read, -EINVAL as procstat_parse(). Async-signal-safe; errno may change. */
int procstat_read(const char *path, struct procstat *out);

#endif
