/* api.h: the JSON API (/api/v1/...) built from a process-table snapshot. */
#ifndef MEMPROBE_API_H
#define MEMPROBE_API_H

#include <stddef.h>
#include <stdint.h>
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
 *   "stack": {"peak_bytes", "main_peak_bytes", "limit_bytes",
 *             "resident_source": "pagemap" | "vmstk" | null} | null,
 *   "python": {"allocated_blocks", "recursion_limit", "stack_depth_peak",
 *              "gc": {"collections": [g0, g1, g2], "collected": [..],
 *                     "uncollectable": [..], "count": [..]}} | null,
 *   "proc": {"resident_bytes", "resident_peak_bytes", "stack_mapped_bytes",
 *            "data_bytes", "threads"} | null   (from /proc/PID/status),
 *   "gauges": {"NAME": number | null (NaN or infinite), ...},
 *   "gauges_dropped": int,
 *   full only: "histogram": {"buckets": [{"le": 16, "count": n}, ...,
 *              {"le": null, "count": n}], "sum": int, "count": int} | null
 *              (le is the inclusive upper bound in bytes, null for +Inf;
 *              bucket counts are per bucket, not cumulative).
 *
 * A section is null until an agent has sent it. Integers above 2^63-1 are
 * clamped to 2^63-1. Reals are written in the fewest digits that read back
 * as the same double ("262.555", not "262.55500000000001"), durations to
 * the millisecond. Every error is {"error": "message"}.
 *
 * Each function below writes its body by hand (no JSON library) and
 * returns 0 with a NUL-terminated body in *out, which the caller free()s,
 * or -ENOMEM.
 */

/* Builds the body of /api/v1/processes. Returns 0 and a NUL-terminated
 * body in *out (the caller free()s it), or -ENOMEM. */
int api_processes(const struct ptab_snap *snap, char **out, size_t *len);

/* Builds the body of /api/v1/processes/{pid}. Returns 0 and *out as above,
 * -ENOENT when no tracked process has that pid, or -ENOMEM. */
int api_process(const struct ptab_snap *snap, pid_t pid, char **out, size_t *len);

/* {"error": msg} into *out (the caller free()s it); a msg that is not
 * printable ASCII, as the daemon's own are, reads "bad request". Returns 0
 * or -ENOMEM. */
int api_error(const char *msg, char **out, size_t *len);

/*
 * GET /api/v1/processes/{pid}/history:
 *   {"pid": int, "start_time": int, "comm": str, "state": "live"|"exited",
 *    "samples": [{"time": seconds since the epoch, "heap_live_bytes",
 *                 "heap_peak_bytes", "heap_live_blocks", "stack_peak_bytes",
 *                 "mmap_live_bytes", "resident_bytes", "threads"}, ...]}
 *   (resident_bytes is null until /proc has been read)
 * oldest first, about one a second. Point times are on the monotonic clock
 * of `mono_now`; wall_now is the wall-clock time of the same instant.
 */
int api_history(const struct ptab_hist *h, double mono_now, double wall_now,
    char **out, size_t *len);

/* What GET /api/v1/status reports; gathered by the HTTP module. */
struct api_status {
	const char *version;
	double uptime_seconds;
	double started_at;              /* seconds since the epoch */
	uint64_t processes_tracked, processes_live;
	uint64_t agents_connected, connections_open;
	uint64_t messages_received, messages_rejected;
	uint64_t processes_refused, connections_refused, gauges_dropped;
	uint64_t table_bytes;           /* ptab_memory() */
	uint64_t profile_bytes, profiles_kept;  /* ptab_profile_memory() */
	double procfs_seconds;
	const char *series;             /* "process" | "command" */
	unsigned exited_ttl, history_length, proc_interval;
	unsigned max_connections, max_processes, max_gauges, max_message_rate;
	unsigned http_max_connections, http_max_connections_per_ip, http_timeout;
};

/*
 * {"version", "uptime_seconds", "started_at",
 *  "counts": {"processes_tracked", "processes_live", "processes_exited",
 *             "agents_connected", "connections_open", "messages_received",
 *             "messages_rejected", "processes_refused", "connections_refused",
 *             "gauges_dropped", "profiles_kept"},
 *  "limits": {"max_connections", "max_processes", "max_gauges",
 *             "max_message_rate", "http_max_connections",
 *             "http_max_connections_per_ip", "http_timeout"},
 *  "settings": {"series", "exited_ttl", "history_length", "proc_interval"},
 *  "memory": {"table_bytes", "profile_bytes"}, "procfs_refresh_seconds"}
 * (profiles_kept: exited processes whose heap profile is kept;
 * profile_bytes: those copies and the symbolized addresses of every
 * process's profile)
 */
int api_status(const struct api_status *st, char **out, size_t *len);

#endif
