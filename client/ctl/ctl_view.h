/* ctl_view.h: memprobectl's text views of the API's JSON: the process table, one process in full, one-line summaries. */
#ifndef MEMPROBE_CTL_VIEW_H
#define MEMPROBE_CTL_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A figure the daemon may leave out (a section still null): printed as "-". */
struct ctl_fig {
	uint64_t v;
	bool ok;
};

/*
 * The figure at obj[key], or obj[key][sub] when SUB is not NULL. Missing,
 * negative, non-finite or non-numeric values are left out (ok false)
 * rather than guessed at.
 */
struct ctl_fig ctl_fig_at(const json_t *obj, const char *key, const char *sub);

/* FIG as a size in BUF: "9.6 MiB", or "10016008 B" with BYTES; "-" when
 * left out. Returns BUF. */
const char *ctl_fig_size(char *buf, size_t size, struct ctl_fig fig, bool bytes);

/* FIG as a count in BUF, or "-" when left out. Returns BUF. */
const char *ctl_fig_count(char *buf, size_t size, struct ctl_fig fig);

/*
 * jansson's JSON_REAL_PRECISION for printing j again: the fewest digits
 * (15 to 17) with which every number in it reads back as itself, so
 * 262.555 prints as 262.555 and not 262.55500000000001 (jansson's
 * default of 17). OR it into json_dumpf()'s flags.
 */
size_t ctl_json_precision(const json_t *j);

/* Orders of the process table; every order breaks ties by pid. */
enum ctl_sort {
	CTL_SORT_HEAP,          /* live heap, largest first (the default) */
	CTL_SORT_PEAK,
	CTL_SORT_BLOCKS,
	CTL_SORT_STACK,         /* stack peak */
	CTL_SORT_RSS,
	CTL_SORT_PID,           /* ascending */
	CTL_SORT_COMM,          /* ascending, bytewise */
	CTL_SORT__COUNT,
};

/* The key names, for messages. */
#define CTL_SORT_KEYS "heap, peak, blocks, stack, rss, pid or comm"

/* Parses a --sort key. Returns 0 with *out set, or -EINVAL. */
int ctl_sort_parse(const char *name, enum ctl_sort *out);

/* The name of key S ("heap", ...). */
const char *ctl_sort_name(enum ctl_sort s);

/*
 * Prints the process table of ROOT (the body of /api/v1/processes) to F:
 * a header and one line per process with PID, COMM, STATE, HEAP, PEAK,
 * BLOCKS, STACK, LIMIT, STACK% (stack peak of the limit), RSS (from /proc)
 * and THREADS, in the order SORT. Sizes in binary units, or byte counts
 * when BYTES. Returns 0, -EPROTO when ROOT has no "processes" array,
 * -ENOMEM, or -EIO when F reports an error.
 */
int ctl_view_ps(FILE *f, const json_t *root, enum ctl_sort sort, bool bytes);

/*
 * Prints PROC (the body of /api/v1/processes/{pid}) to F in sections:
 * identity, heap, stack, /proc, Python, gauges, and the allocation-size
 * histogram as a bar chart. Sections the process has not reported say so.
 * Returns 0, -ENOMEM or -EIO.
 */
int ctl_view_process(FILE *f, const json_t *proc, bool bytes);

/*
 * Prints one line (with its newline) summing PROC (one entry of
 * /api/v1/processes) up: "PID COMM STATE heap X peak Y blocks N stack
 * S of L (P%) rss R threads T". Returns 0 or -EIO.
 */
int ctl_view_line(FILE *f, const json_t *proc, bool bytes);

/*
 * As ctl_view_ps() but with one ctl_view_line() per process, each starting
 * with PREFIX and a blank. Returns 0, -EPROTO, -ENOMEM or -EIO.
 */
int ctl_view_lines(FILE *f, const json_t *root, enum ctl_sort sort, bool bytes,
    const char *prefix);

#endif
