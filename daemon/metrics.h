/* metrics.h: the metric catalogue: every family memprobed exposes, with its type and help. */
#ifndef MEMPROBE_METRICS_H
#define MEMPROBE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ptab.h"

/* Where a per-process family's value is read, besides a PROTO_S_* section. */
#define METRIC_NEED_THREADS 0u          /* any SAMPLE carries the thread count */
#define METRIC_NEED_PROCFS  (1u << 31)  /* /proc was read */

struct metric {
	const char *name;       /* as its samples carry it (counters with _total) */
	const char *type;       /* "gauge", "counter" or "histogram" */
	const char *help;       /* holds no backslash, quote or newline */
	uint32_t need;          /* one-value per-process families only: the */
	size_t off;             /* section and the value's place (metric_value()) */
};

/*
 * Every family, in the order the exposition writes them. The three
 * METRIC_PROC_* ranges are one value per process, read with metric_has()
 * and metric_value(); the others are written by expo.c, each its own way.
 */
enum metric_id {
	METRIC_HEAP_LIVE_BYTES,                 /* METRIC_PROC_HEAP range */
	METRIC_HEAP_LIVE_BLOCKS,
	METRIC_HEAP_PEAK_BYTES,
	METRIC_HEAP_ALLOCATIONS,
	METRIC_HEAP_FREES,
	METRIC_HEAP_ALLOCATED_BYTES,
	METRIC_HEAP_FAILED_ALLOCATIONS,
	METRIC_HEAP_ALLOCATION_SIZE,            /* histogram, by le */
	METRIC_MMAP_LIVE_BYTES,                 /* METRIC_PROC_OTHER range */
	METRIC_STACK_PEAK_BYTES,
	METRIC_STACK_MAIN_PEAK_BYTES,
	METRIC_STACK_LIMIT_BYTES,
	METRIC_THREADS,
	METRIC_AGENT_SAMPLES_DROPPED,
	METRIC_PYTHON_ALLOCATED_BLOCKS,
	METRIC_PYTHON_RECURSION_LIMIT,
	METRIC_PYTHON_STACK_DEPTH_PEAK,
	METRIC_PROCESS_RESIDENT_BYTES,          /* METRIC_PROC_PROCFS range */
	METRIC_PROCESS_RESIDENT_PEAK_BYTES,
	METRIC_PROCESS_STACK_MAPPED_BYTES,
	METRIC_PROCESS_DATA_BYTES,
	METRIC_PROCESS_THREADS,
	METRIC_PYTHON_GC_COLLECTIONS,           /* by generation; off: [3] */
	METRIC_PYTHON_GC_COLLECTED,
	METRIC_PYTHON_GC_UNCOLLECTABLE,
	METRIC_PROGRAM_VALUE,                   /* by name */
	METRIC_HEAP_SITE_INUSE_BYTES,           /* by site (profile_top_sites) */
	METRIC_PROCESSES,                       /* series = command */
	METRIC_PROCESSES_EXITED,
	METRIC_PROCESS_INFO,                    /* series = process */
	METRIC_PROCESS_EXITED,
	METRIC_DAEMON_AGENTS_CONNECTED,         /* the daemon's own */
	METRIC_DAEMON_PROCESSES_TRACKED,
	METRIC_DAEMON_PROCESSES_LIVE,
	METRIC_DAEMON_CONNECTIONS_ACCEPTED,
	METRIC_DAEMON_CONNECTIONS_REFUSED,
	METRIC_DAEMON_MESSAGES_RECEIVED,        /* by type */
	METRIC_DAEMON_MESSAGES_REJECTED,        /* by reason */
	METRIC_DAEMON_PROCESSES_REFUSED,
	METRIC_DAEMON_GAUGES_DROPPED,
	METRIC_DAEMON_PROCESSES_LIMIT,
	METRIC_DAEMON_CONNECTIONS_LIMIT,
	METRIC_DAEMON_SCRAPE_DURATION,
	METRIC_DAEMON_PROCFS_REFRESH_DURATION,
	METRIC_DAEMON_PROFILE_BYTES,
	METRIC_DAEMON_PROFILES_KEPT,
	METRIC_BUILD_INFO,
	METRIC_SELF_CPU_SECONDS,                /* process_*: the daemon itself */
	METRIC_SELF_RESIDENT_MEMORY,
	METRIC_SELF_VIRTUAL_MEMORY,
	METRIC_SELF_START_TIME,
	METRIC_SELF_OPEN_FDS,
	METRIC_SELF_MAX_FDS,
	METRIC__COUNT
};

/* The one-value per-process ranges, first and one past the last. */
#define METRIC_PROC_HEAP_FIRST   METRIC_HEAP_LIVE_BYTES
#define METRIC_PROC_HEAP_END     METRIC_HEAP_ALLOCATION_SIZE
#define METRIC_PROC_OTHER_FIRST  METRIC_MMAP_LIVE_BYTES
#define METRIC_PROC_OTHER_END    METRIC_PROCESS_RESIDENT_BYTES
#define METRIC_PROC_PROCFS_FIRST METRIC_PROCESS_RESIDENT_BYTES
#define METRIC_PROC_PROCFS_END   METRIC_PYTHON_GC_COLLECTIONS

/* The family `id`. */
const struct metric *metric_get(enum metric_id id);

/* Whether v has the figure of the one-value family m. */
int metric_has(const struct ptab_view *v, const struct metric *m);

/* The figure of the one-value family m in v (metric_has() says whether it
 * is set); for the by-generation Python families, generation g's. */
uint64_t metric_value(const struct ptab_view *v, const struct metric *m, unsigned g);

#endif
