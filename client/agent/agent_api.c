/* agent_api.c: the public memprobe_* functions of memprobe.h. */
#include "agent.h"
#include "memprobe.h"

#include <errno.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int memprobe_snapshot(struct memprobe_stats *out)
{
	struct proto_sample s;
	unsigned char mode;

	if (out == NULL)
		return -EINVAL;
	mode = agent_enter();
	agent_collect(&s);
	memset(out, 0, sizeof(*out));
	out->heap_live_bytes = s.heap_live_bytes;
	out->heap_live_blocks = s.heap_live_blocks;
	out->heap_peak_bytes = s.heap_peak_bytes;
	out->heap_allocations = s.heap_allocations;
	out->heap_frees = s.heap_frees;
	out->heap_allocated_bytes = s.heap_allocated_bytes;
	out->heap_failed_allocations = s.heap_failed;
	out->mmap_live_bytes = s.mmap_live_bytes;
	out->stack_peak_bytes = s.stack_peak_bytes;
	out->stack_main_peak_bytes = s.stack_main_peak_bytes;
	out->stack_limit_bytes = s.stack_limit_bytes;
	out->threads = s.threads;
	agent_region_counts(&out->samples_sent, &out->samples_dropped);
	agent_leave(mode);
	return 0;
}

EXPORT int memprobe_flush(void)
{
	if (agent_disabled)
		return -ECANCELED;
	return agent_region_flush();
}

EXPORT int memprobe_gauge_set(const char *name, double value)
{
	int saved = errno, err;

	if (agent_disabled)
		return 0;
	err = agent_region_gauge(name, value);
	errno = saved;
	return err;
}
