"""Exact depth: the deepest Python stack, counted at every call and return.

Two counters, one chosen at start(exact_depth=True):

- CDepth, when libmemprobe.so is preloaded (its symbols are in the
  process; it is never loaded here): its C function
  memprobe_pydepth_trace() becomes the profile function of this thread
  through PyEval_SetProfile (ctypes.pythonapi), and of each thread started
  later by a small Python hook that, on its first event, hands the thread
  over to the C function. No Python code runs per call after that
  (client/agent/agent_pydepth.c).
- PyDepth otherwise: a Python profile hook (sys.setprofile and
  threading.setprofile), a Python call per Python call.

Either counts from the frames already on the thread's stack when it is
installed, so the figure is the stack's depth in frames, the one a
traceback of the deepest point would show. Threads already running at
start() are not counted (their depth is still sampled every interval).
Costs are in BENCHMARKS.md, "Exact depth".
"""

import sys
import threading


def frame_depth(frame):
    """The frames on the stack from frame down, frame included."""
    n = 0
    while frame is not None:
        n += 1
        frame = frame.f_back
    return n


def _depth_after(frame, event):
    """The thread's depth once the event a profile hook was called for is
    done: a returning frame is gone, a called one is there."""
    d = frame_depth(frame)
    return d - 1 if event == "return" else d


class PyDepth:
    """The Python profile hook: one Python call per Python call."""

    kind = "python"

    def __init__(self):
        self.peak = 0
        self._local = threading.local()

    def _profile(self, frame, event, arg):
        local = self._local
        if event == "call":
            try:
                d = local.depth + 1
            except AttributeError:
                d = frame_depth(frame)
            local.depth = d
            if d > self.peak:
                self.peak = d
        elif event == "return":
            try:
                local.depth -= 1
            except AttributeError:
                local.depth = frame_depth(frame) - 1

    def install(self):
        """Counts this thread from now on, and every thread started later."""
        self._local = threading.local()
        threading.setprofile(self._profile)
        # This frame's return and its callers' are counted as they come.
        self._local.depth = frame_depth(sys._getframe())
        sys.setprofile(self._profile)

    def installed_here(self):
        return sys.getprofile() == self._profile

    def read(self):
        return self.peak


class _Marker:
    """What sys.getprofile() returns in a thread the C function counts."""

    def __repr__(self):
        return "<memprobe exact depth (libmemprobe.so)>"


class CDepth:
    """libmemprobe.so's profile function: no Python call per call."""

    kind = "c"

    def __init__(self, api):
        import ctypes

        self._api = api
        self._trace = ctypes.cast(api.memprobe_pydepth_trace, ctypes.c_void_p)
        self.marker = _Marker()

    def _first_event(self, frame, event, arg):
        # The hook threading.setprofile() gives each new thread, called on
        # the thread's first event: hands the thread to the C function,
        # which counts from the event's outcome on (this hook's own frames
        # raise no events). The count first, then the function. An error
        # here would reach the thread's code: the thread goes uncounted.
        try:
            self._api.memprobe_pydepth_begin(_depth_after(frame, event))
            self._api.PyEval_SetProfile(self._trace, self.marker)
        except Exception:
            sys.setprofile(None)

    def install(self):
        """Counts this thread from now on, and every thread started later."""
        threading.setprofile(self._first_event)
        # This frame's return and its callers' are counted as they come
        # (ctypes calls make no frame).
        self._api.memprobe_pydepth_begin(frame_depth(sys._getframe()))
        self._api.PyEval_SetProfile(self._trace, self.marker)

    def installed_here(self):
        return sys.getprofile() is self.marker

    def read(self):
        return self._api.memprobe_pydepth_peak()


def _c_api():
    """The process's global symbols (dlopen(NULL), as ctypes.pythonapi, but
    a handle of our own, so no one else's argtypes change) with
    libmemprobe.so's depth functions declared, when the library is already
    in the process; else None. Its calls hold the GIL."""
    try:
        import ctypes

        api = ctypes.PyDLL(None)
        api.memprobe_pydepth_trace          # only there when preloaded
        api.memprobe_pydepth_begin.argtypes = [ctypes.c_long]
        api.memprobe_pydepth_begin.restype = None
        api.memprobe_pydepth_peak.argtypes = []
        api.memprobe_pydepth_peak.restype = ctypes.c_long
        api.PyEval_SetProfile.argtypes = [ctypes.c_void_p, ctypes.py_object]
        api.PyEval_SetProfile.restype = None
    except (ImportError, AttributeError, OSError):
        return None
    return api


def counter(prefer_c=True):
    """The C counter when libmemprobe.so is preloaded (and prefer_c), else
    the Python one. Not installed yet."""
    api = _c_api() if prefer_c and sys.implementation.name == "cpython" else None
    return CDepth(api) if api is not None else PyDepth()
