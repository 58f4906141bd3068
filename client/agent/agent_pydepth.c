/* agent_pydepth.c: the Python stack's exact depth, counted by a profile function CPython calls at every Python call and return. */
#include "agent_pydepth.h"

#include <stdatomic.h>

#define EXPORT __attribute__((visibility("default")))

/*
 * The calling thread's frames and the deepest it reached. Only the thread
 * itself reads and writes them, so plain loads and stores do; initial-exec
 * TLS is one %fs-relative access, with no call into the dynamic linker.
 */
static __thread long depth __attribute__((tls_model("initial-exec")));
static __thread long thread_peak __attribute__((tls_model("initial-exec")));

/* The deepest of every thread's, read by the Python agent's reporter. */
static _Atomic long process_peak;

/*
 * A thread's new deepest depth. Raising the process's figure is rare (a
 * thread goes deeper than it ever did), so the common case is one relaxed
 * load; a compare-and-swap only when this thread is the deepest yet.
 */
static void raise_peak(long d)
{
	long seen = atomic_load_explicit(&process_peak, memory_order_relaxed);

	thread_peak = d;
	while (d > seen && !atomic_compare_exchange_weak_explicit(&process_peak, &seen, d,
	    memory_order_relaxed, memory_order_relaxed))
		;
}

EXPORT void memprobe_pydepth_begin(long frames)
{
	depth = frames;
	if (frames > thread_peak)
		raise_peak(frames);
}

EXPORT int memprobe_pydepth_trace(void *obj, void *frame, int what, void *arg)
{
	(void)obj;
	(void)frame;
	(void)arg;
	if (what == PYDEPTH_TRACE_CALL) {
		if (++depth > thread_peak)
			raise_peak(depth);
	} else if (what == PYDEPTH_TRACE_RETURN) {
		depth--;
	}
	return 0;
}

EXPORT long memprobe_pydepth_peak(void)
{
	return atomic_load_explicit(&process_peak, memory_order_relaxed);
}
