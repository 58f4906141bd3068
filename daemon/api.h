/* api.h: the JSON API (/api/v1/...) built from a process-table snapshot. */
#ifndef MEMPROBE_API_H
#define MEMPROBE_API_H

#include <stddef.h>
#include <sys/types.h>

#include "ptab.h"

/*
 * GET /api/v1/processes returns every tracked process, sorted by pid:
 *
 *   {"processes": [PROCESS, ...]}
 *
 * GET /api/v1/processes/{pid} returns one PROCESS object in full (the same
 * keys plus "histogram"), or 404 {"error": ...}.
 *
 * PROCESS:
 *   "pid": int, "start_time": int (clock ticks since boot, from /proc),
 *   "comm": str, "exe": str (may be ""), "uid": int,
 *   "agents": ["c"] | ["python"] | ["c", "python"]  (agent kinds seen),
 *   "connections": int (open now),
 *   "state": "live" | "exited",
 *   "exited_seconds_ago": number | null (null while live),
 *   "tracked_seconds": number (since the daemon first saw it),
 *   "samples": int (SAMPLE messages received),
 *   "samples_dropped": int (samples the agent reports it could not send),
 *   "threads": int | null,
 *   "heap": {"live_bytes", "live_blocks", "peak_bytes", "allocations",
 *            "frees", "allocated_bytes", "failed_allocations"} | null,
 *   "mmap_live_bytes": int | null,
 *   "stack": {"peak_bytes", "main_peak_bytes", "limit_bytes"} | null,
 *   "python": {"allocated_blocks", "recursion_limit", "stack_depth_peak",
 *              "gc": {"collections": [g0, g1, g2], "collected": [..],
 *                     "uncollectable": [..], "count": [..]}} | null,
 *   "gauges": {"NAME": number | null (NaN or infinite), ...},
 *   "gauges_dropped": int,
 *   full only: "histogram": {"buckets": [{"le": 16, "count": n}, ...,
 *              {"le": null, "count": n}], "sum": int, "count": int} | null
 *              (le is the inclusive upper bound in bytes, null for +Inf;
 *              bucket counts are per bucket, not cumulative).
 *
 * A section is null until an agent has sent it. Integers above 2^63-1 are
 * clamped to 2^63-1. Every error is {"error": "message"}.
 */

/* Builds the body of /api/v1/processes. Returns 0 and a NUL-terminated
 * body in *out (the caller free()s it), or -ENOMEM. */
int api_processes(const struct ptab_snap *snap, char **out, size_t *len);

/* Builds the body of /api/v1/processes/{pid}. Returns 0 and *out as above,
 * -ENOENT when no tracked process has that pid, or -ENOMEM. */
int api_process(const struct ptab_snap *snap, pid_t pid, char **out, size_t *len);

/* {"error": msg} into *out (the caller free()s it). Returns 0 or -ENOMEM. */
int api_error(const char *msg, char **out, size_t *len);

#endif
