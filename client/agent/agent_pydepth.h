/* agent_pydepth.h: the exact depth of a Python program's stack, counted by a C profile function the Python agent installs. */
#ifndef MEMPROBE_AGENT_PYDEPTH_H
#define MEMPROBE_AGENT_PYDEPTH_H

/*
 * The Python agent (client/python/memprobe/_depth.py) finds these symbols in
 * the process when libmemprobe.so is preloaded (never loading the library
 * itself) and calls them through ctypes, holding the GIL:
 *
 *   memprobe_pydepth_begin(frames)      in the thread to be counted, with
 *                                       the frames on its stack now;
 *   PyEval_SetProfile(memprobe_pydepth_trace, marker)
 *                                       at once after, in the same thread;
 *   memprobe_pydepth_peak()             from the reporter, every interval.
 *
 * From then on the interpreter calls memprobe_pydepth_trace() at every
 * Python call and return of that thread, and the count follows the stack:
 * +1 for PyTrace_CALL (a frame starts or a generator resumes), -1 for
 * PyTrace_RETURN (a frame ends, by return, yield or exception, as CPython
 * 3.11 reports it). The C_CALL events of builtins are ignored. Each
 * thread's count lives in initial-exec TLS; no lock, no allocation and no
 * call into Python is made per frame.
 *
 * Nothing here names a Python symbol: the library is preloaded into every
 * program and must link without libpython. The types below are CPython's
 * Py_tracefunc with opaque pointers.
 */

/* CPython's PyTrace_* events this counts (Include/cpython/pystate.h). */
#define PYDEPTH_TRACE_CALL   0
#define PYDEPTH_TRACE_RETURN 3

/*
 * Sets the calling thread's depth to `frames`, the Python frames on its
 * stack (counted by the caller, its own frame included), and raises the
 * thread's and the process's deepest depth to it when deeper.
 */
void memprobe_pydepth_begin(long frames);

/*
 * A Py_tracefunc: int (*)(PyObject *, PyFrameObject *, int what, PyObject *).
 * Counts CALL and RETURN as above. Returns 0 (never an error, which would
 * make CPython remove it).
 */
int memprobe_pydepth_trace(void *obj, void *frame, int what, void *arg);

/* The deepest Python stack any counted thread of the process reached, in
 * frames; 0 before any memprobe_pydepth_begin(). */
long memprobe_pydepth_peak(void);

#endif
