/* memprobe.h: the public API of libmemprobe, for programs that link or dlopen the agent. */
#ifndef MEMPROBE_H
#define MEMPROBE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A process's own figures, as the agent counts them. Sizes in bytes. */
struct memprobe_stats {
	uint64_t heap_live_bytes;        /* usable bytes of live heap blocks */
	uint64_t heap_live_blocks;
	uint64_t heap_peak_bytes;        /* within threads x 64 KiB; see libmemprobe(3) */
	uint64_t heap_allocations;       /* since start (a fork child: since its parent's) */
	uint64_t heap_frees;
	uint64_t heap_allocated_bytes;
	uint64_t heap_failed_allocations;
	uint64_t mmap_live_bytes;
	uint64_t stack_peak_bytes;       /* deepest thread */
	uint64_t stack_main_peak_bytes;
	uint64_t stack_limit_bytes;      /* main thread's RLIMIT_STACK; 0 unlimited */
	uint64_t threads;                /* threads that have used the allocator */
	uint64_t samples_sent;           /* registrations with memprobed made (the name is older) */
	uint64_t samples_dropped;        /* registrations that failed (no daemon, no memfd) */
	uint64_t reserved[8];            /* zero; room to grow */
};

/* Fills *out with the process's figures now; needs no daemon.
 * Returns 0, or -EINVAL if out is NULL. */
int memprobe_snapshot(struct memprobe_stats *out);

/* Registers the process's figures with memprobed now, from the calling
 * thread, without blocking, unless a daemon has them already (memprobed
 * reads them itself from then on). Returns 0, or a negative errno:
 * -ENOENT, -ECONNREFUSED, -EACCES... no daemon took them; -ECANCELED the
 * agent is disabled. */
int memprobe_flush(void);

/* Sets a named gauge of the program's own, exported as
 * memprobe_program_value{name="NAME"}. NAME is 1..128 of [A-Za-z0-9_.:-]; at most 64
 * names per process. Returns 0, -EINVAL for a bad name, -ENOSPC when full. */
int memprobe_gauge_set(const char *name, double value);

#ifdef __cplusplus
}
#endif

#endif
