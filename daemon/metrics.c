/* metrics.c: the metric catalogue: every family memprobed exposes, with its type and help. */
#include "metrics.h"

#include <string.h>

#define S_OFF(f) offsetof(struct proto_sample, f)
#define P_OFF(f) offsetof(struct procfs_status, f)

/* One family; `need` and `off` only where a ptab_view holds its value. */
#define FAM(id, name, type, help) [id] = { name, type, help, 0, 0 }
#define VAL(id, name, type, help, need, off) [id] = { name, type, help, need, off }

static const struct metric metric_catalogue[METRIC__COUNT] = {
	VAL(METRIC_HEAP_LIVE_BYTES, "memprobe_heap_live_bytes", "gauge",
	    "Usable bytes of the live heap blocks of the process.", PROTO_S_HEAP,
	    S_OFF(heap_live_bytes)),
	VAL(METRIC_HEAP_LIVE_BLOCKS, "memprobe_heap_live_blocks", "gauge",
	    "Live heap blocks of the process.", PROTO_S_HEAP, S_OFF(heap_live_blocks)),
	VAL(METRIC_HEAP_PEAK_BYTES, "memprobe_heap_peak_bytes", "gauge",
	    "Highest live heap bytes of the process so far.", PROTO_S_HEAP, S_OFF(heap_peak_bytes)),
	VAL(METRIC_HEAP_ALLOCATIONS, "memprobe_heap_allocations_total", "counter",
	    "Heap allocations made by the process.", PROTO_S_HEAP, S_OFF(heap_allocations)),
	VAL(METRIC_HEAP_FREES, "memprobe_heap_frees_total", "counter",
	    "Heap blocks freed by the process.", PROTO_S_HEAP, S_OFF(heap_frees)),
	VAL(METRIC_HEAP_ALLOCATED_BYTES, "memprobe_heap_allocated_bytes_total", "counter",
	    "Bytes allocated on the heap by the process, freed or not.", PROTO_S_HEAP,
	    S_OFF(heap_allocated_bytes)),
	VAL(METRIC_HEAP_FAILED_ALLOCATIONS, "memprobe_heap_failed_allocations_total", "counter",
	    "Heap allocations of the process that returned no memory.", PROTO_S_HEAP,
	    S_OFF(heap_failed)),
	FAM(METRIC_HEAP_ALLOCATION_SIZE, "memprobe_heap_allocation_size_bytes", "histogram",
	    "Sizes of the heap allocations of the process."),
	VAL(METRIC_MMAP_LIVE_BYTES, "memprobe_mmap_live_bytes", "gauge",
	    "Bytes of anonymous mappings the program itself made and has not unmapped.",
	    PROTO_S_HEAP, S_OFF(mmap_live_bytes)),
	VAL(METRIC_STACK_PEAK_BYTES, "memprobe_stack_peak_bytes", "gauge",
	    "Deepest stack use of any thread of the process.", PROTO_S_STACK,
	    S_OFF(stack_peak_bytes)),
	VAL(METRIC_STACK_MAIN_PEAK_BYTES, "memprobe_stack_main_peak_bytes", "gauge",
	    "Deepest stack use of the main thread of the process.", PROTO_S_STACK,
	    S_OFF(stack_main_peak_bytes)),
	VAL(METRIC_STACK_LIMIT_BYTES, "memprobe_stack_limit_bytes", "gauge",
	    "Stack size limit of the main thread of the process.", PROTO_S_STACK,
	    S_OFF(stack_limit_bytes)),
	VAL(METRIC_THREADS, "memprobe_threads", "gauge",
	    "Threads of the process that the agent knows of.", METRIC_NEED_THREADS, S_OFF(threads)),
	VAL(METRIC_AGENT_SAMPLES_DROPPED, "memprobe_agent_samples_dropped_total", "counter",
	    "Samples a client of the legacy HELLO/SAMPLE messages said it could not send (agents that share a region send none).",
	    METRIC_NEED_THREADS, S_OFF(samples_dropped)),
	VAL(METRIC_PYTHON_ALLOCATED_BLOCKS, "memprobe_python_allocated_blocks", "gauge",
	    "Blocks allocated by the Python interpreter (sys.getallocatedblocks()).", PROTO_S_PYTHON,
	    S_OFF(py_allocated_blocks)),
	VAL(METRIC_PYTHON_RECURSION_LIMIT, "memprobe_python_recursion_limit", "gauge",
	    "Python recursion limit (sys.getrecursionlimit()).", PROTO_S_PYTHON,
	    S_OFF(py_recursion_limit)),
	VAL(METRIC_PYTHON_STACK_DEPTH_PEAK, "memprobe_python_stack_depth_peak", "gauge",
	    "Deepest Python stack seen, in frames.", PROTO_S_PYTHON, S_OFF(py_stack_depth_peak)),
	VAL(METRIC_PROCESS_RESIDENT_BYTES, "memprobe_process_resident_bytes", "gauge",
	    "Resident memory of the process (VmRSS in /proc/PID/status).", METRIC_NEED_PROCFS,
	    P_OFF(resident)),
	VAL(METRIC_PROCESS_RESIDENT_PEAK_BYTES, "memprobe_process_resident_peak_bytes", "gauge",
	    "Highest resident memory of the process (VmHWM in /proc/PID/status).",
	    METRIC_NEED_PROCFS, P_OFF(resident_peak)),
	VAL(METRIC_PROCESS_STACK_MAPPED_BYTES, "memprobe_process_stack_mapped_bytes", "gauge",
	    "Size of the main thread's stack mapping (VmStk in /proc/PID/status).",
	    METRIC_NEED_PROCFS, P_OFF(stack_mapped)),
	VAL(METRIC_PROCESS_DATA_BYTES, "memprobe_process_data_bytes", "gauge",
	    "Data segment and private anonymous mappings of the process (VmData in /proc/PID/status).",
	    METRIC_NEED_PROCFS, P_OFF(data)),
	VAL(METRIC_PROCESS_THREADS, "memprobe_process_threads", "gauge",
	    "Threads of the process (Threads in /proc/PID/status).", METRIC_NEED_PROCFS,
	    P_OFF(threads)),
	VAL(METRIC_PYTHON_GC_COLLECTIONS, "memprobe_python_gc_collections_total", "counter",
	    "Python garbage collector runs, by generation.", PROTO_S_PYTHON,
	    S_OFF(py_gc_collections)),
	VAL(METRIC_PYTHON_GC_COLLECTED, "memprobe_python_gc_collected_total", "counter",
	    "Objects the Python garbage collector freed, by generation.", PROTO_S_PYTHON,
	    S_OFF(py_gc_collected)),
	VAL(METRIC_PYTHON_GC_UNCOLLECTABLE, "memprobe_python_gc_uncollectable_total", "counter",
	    "Objects the Python garbage collector found uncollectable, by generation.",
	    PROTO_S_PYTHON, S_OFF(py_gc_uncollectable)),
	/* The contract's name; promtool's lint objects to any family named
	 * "..._gauge", whatever its TYPE. */
	FAM(METRIC_PROGRAM_VALUE, "memprobe_program_value", "gauge",
	    "Gauges the program sets itself (memprobe_gauge_set())."),
	FAM(METRIC_HEAP_SITE_INUSE_BYTES, "memprobe_heap_site_inuse_bytes", "gauge",
	    "Estimated in-use heap bytes allocated by each of the process's top leaf functions: the allocator's caller, or the innermost Python function (sampled; profile_top_sites)."),
	FAM(METRIC_PROCESSES, "memprobe_processes", "gauge",
	    "Tracked live processes of the command (series = command)."),
	FAM(METRIC_PROCESSES_EXITED, "memprobe_processes_exited", "gauge",
	    "Exited processes of the command still kept (exited_ttl)."),
	FAM(METRIC_PROCESS_INFO, "memprobe_process_info", "gauge",
	    "Always 1: descriptive labels of each tracked process."),
	FAM(METRIC_PROCESS_EXITED, "memprobe_process_exited", "gauge",
	    "1 while a process that exited is still kept (exited_ttl), else 0."),
	FAM(METRIC_DAEMON_AGENTS_CONNECTED, "memprobe_daemon_agents_connected", "gauge",
	    "Processes reporting: a shared region mapped and the process live, or a legacy connection past its HELLO."),
	FAM(METRIC_DAEMON_PROCESSES_TRACKED, "memprobe_daemon_processes_tracked", "gauge",
	    "Processes in the table, exited ones included."),
	FAM(METRIC_DAEMON_PROCESSES_LIVE, "memprobe_daemon_processes_live", "gauge",
	    "Processes in the table still running with an agent reporting."),
	FAM(METRIC_DAEMON_CONNECTIONS_ACCEPTED, "memprobe_daemon_connections_accepted_total",
	    "counter", "Agent connections accepted."),
	FAM(METRIC_DAEMON_CONNECTIONS_REFUSED, "memprobe_daemon_connections_refused_total",
	    "counter",
	    "Agent connections refused at the max_connections limit or for lack of descriptors."),
	FAM(METRIC_DAEMON_MESSAGES_RECEIVED, "memprobe_daemon_messages_received_total", "counter",
	    "Valid agent messages received, by type."),
	FAM(METRIC_DAEMON_MESSAGES_REJECTED, "memprobe_daemon_messages_rejected_total", "counter",
	    "Agent messages rejected, by reason."),
	FAM(METRIC_DAEMON_PROCESSES_REFUSED, "memprobe_daemon_processes_refused_total", "counter",
	    "Processes refused at the max_processes limit."),
	FAM(METRIC_DAEMON_GAUGES_DROPPED, "memprobe_daemon_gauges_dropped_total", "counter",
	    "Program gauge updates dropped at the max_gauges limit."),
	FAM(METRIC_DAEMON_PROCESSES_LIMIT, "memprobe_daemon_processes_limit", "gauge",
	    "Processes the table may hold (max_processes)."),
	FAM(METRIC_DAEMON_CONNECTIONS_LIMIT, "memprobe_daemon_connections_limit", "gauge",
	    "Agent connections the daemon accepts at once (max_connections)."),
	FAM(METRIC_DAEMON_SCRAPE_DURATION, "memprobe_daemon_scrape_duration_seconds", "gauge",
	    "Time the previous scrape of /metrics took to build."),
	FAM(METRIC_DAEMON_PROCFS_REFRESH_DURATION, "memprobe_daemon_procfs_refresh_duration_seconds",
	    "gauge", "Time the latest read of /proc for every live process took."),
	FAM(METRIC_DAEMON_PROFILE_BYTES, "memprobe_daemon_profile_bytes", "gauge",
	    "Bytes of heap profiles the daemon holds: copies kept for exited processes and symbolized addresses."),
	FAM(METRIC_DAEMON_PROFILES_KEPT, "memprobe_daemon_profiles_kept", "gauge",
	    "Exited processes whose heap profile is kept (exited_ttl)."),
	FAM(METRIC_BUILD_INFO, "memprobe_build_info", "gauge",
	    "Always 1: the version of memprobed."),
	/* The names and help client libraries give their process collector. */
	FAM(METRIC_SELF_CPU_SECONDS, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds."),
	FAM(METRIC_SELF_RESIDENT_MEMORY, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes."),
	FAM(METRIC_SELF_VIRTUAL_MEMORY, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes."),
	FAM(METRIC_SELF_START_TIME, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds."),
	FAM(METRIC_SELF_OPEN_FDS, "process_open_fds", "gauge",
	    "Number of open file descriptors."),
	FAM(METRIC_SELF_MAX_FDS, "process_max_fds", "gauge",
	    "Maximum number of open file descriptors."),
};

const struct metric *metric_get(enum metric_id id)
{
	return &metric_catalogue[id];
}

int metric_has(const struct ptab_view *v, const struct metric *m)
{
	if (m->need == METRIC_NEED_THREADS)
		return v->have_threads;
	if (m->need == METRIC_NEED_PROCFS)
		return v->have_procfs;
	return (v->have & m->need) == m->need;
}

uint64_t metric_value(const struct ptab_view *v, const struct metric *m, unsigned g)
{
	const char *base = m->need == METRIC_NEED_PROCFS ? (const char *)&v->pfs :
	    (const char *)&v->s;
	uint64_t x;

	memcpy(&x, base + m->off + g * sizeof(x), sizeof(x));
	return x;
}
