"""memprobe: the Python interpreter's own memory figures, live, in memprobed.

    import memprobe
    memprobe.start()

keeps sys.getallocatedblocks(), the garbage collector's figures per
generation, the recursion limit, the deepest Python stack seen (in frames;
sampled every interval, or exact with exact_depth=True) and the thread
count in a shared memory region that memprobed reads (see
_agent.py): a daemon thread writes them every interval, since only Python
code can read them. The region is handed to memprobed once, over its agent
socket, and no descriptor stays open. When the C agent (libmemprobe.so) is
preloaded too, both report into the same process entry. Nothing here ever
raises into the program because of the daemon: if it is absent, slow or
restarted, the agent registers again quietly.
"""

import atexit
import os
import sys
import threading

from . import _proto, _sockpath
from ._agent import Agent
from ._sockpath import default_socket
from ._sizeof import SHARED_TYPES, deep_sizeof

__all__ = ["start", "stop", "deep_sizeof", "watch", "unwatch", "gauge_set",
           "running", "SHARED_TYPES"]
__version__ = "0.1.0"

_agent = None
_lock = threading.Lock()
_fork_hook_installed = False
_kept = None            # (pid, region) of a stopped agent, for the next start()


def start(socket=None, interval=1.0, exact_depth=False):
    """Starts reporting (idempotent: a second call returns the running agent).

    socket: the agent socket; default MEMPROBE_SOCKET, else (as a user
    other than root) the user's own memprobed socket when one is there,
    $XDG_RUNTIME_DIR/memprobe/agent.sock or, without XDG_RUNTIME_DIR,
    /tmp/memprobe-UID/agent.sock; else /run/memprobe/agent.sock. The same
    rule as the C agent (memprobe/_sockpath.py), asked again at each
    registration when neither socket nor MEMPROBE_SOCKET is given.
    interval: seconds between samples (0.01 to 3600).
    exact_depth: count every Python call and return of this thread and of
    threads started later, so the deepest stack is exact, even of a
    recursion that lasts microseconds (a caught RecursionError shows the
    recursion limit). When libmemprobe.so is preloaded its C profile
    function counts, with no Python call per call; else a Python profile
    hook does. Either replaces a sys.setprofile() function of those
    threads, and costs every call (see the README, "Exact depth").
    Without it the depth is sampled once per interval (the frames of every
    thread then), plus the depth of any uncaught RecursionError.
    Returns True if reporting is on; False, having said why on stderr,
    when the socket path is longer than a socket address can hold.
    """
    global _agent, _fork_hook_installed
    interval = float(interval)
    if not 0.01 <= interval <= 3600:
        raise ValueError("interval must be 0.01 to 3600 seconds")
    with _lock:
        if _agent is not None:
            return True
        path = socket or os.environ.get("MEMPROBE_SOCKET") or None
        if path is not None and not _sockpath.fits(path):
            sys.stderr.write("memprobe: %s is longer than a socket path can be; not reporting\n"
                             % ("the socket" if socket else "MEMPROBE_SOCKET"))
            return False
        region = _kept[1] if _kept is not None and _kept[0] == os.getpid() else None
        _agent = Agent(path, interval, bool(exact_depth), region)
        _agent.start()
        if not _fork_hook_installed:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            atexit.register(_at_exit)
            _fork_hook_installed = True
    return True


def stop():
    """Writes the figures a last time and stops the reporter. memprobed
    keeps the process's entry until it exits; a later start() goes on in
    the same region."""
    global _agent, _kept
    with _lock:
        agent, _agent = _agent, None
    if agent is not None:
        try:
            agent.stop(final=True)
        except Exception:
            pass
        _kept = (agent.pid, agent.region)


def running():
    return _agent is not None


def _running_agent():
    """The agent, for gauge_set() and watch(): RuntimeError when none runs
    (before start() or after stop())."""
    agent = _agent
    if agent is None:
        raise RuntimeError("memprobe is not running: call memprobe.start() first")
    return agent


def gauge_set(name, value):
    """Sets a gauge of the program's own, exported as
    memprobe_program_value{name=NAME}. NAME: 1..128 of [A-Za-z0-9_.:-].
    A process has room for 64 names; later new names are not reported.
    Raises RuntimeError when the agent is not running, as watch() does."""
    if not _proto.gauge_name_ok(name):
        raise ValueError("gauge name must be 1..128 of [A-Za-z0-9_.:-]")
    _running_agent().set_gauge(name, value)


def _note_exit(status):
    """The exit status the program is about to end with, where we see it
    (python -m memprobe run)."""
    agent = _agent
    if agent is not None:
        try:
            agent.note_exit(status)
        except Exception:
            pass


def watch(obj, name, every=1):
    """Reports deep_sizeof(obj) as the gauge NAME: a walk of obj starts
    every `every` intervals (never before the last one ended) and goes on
    in the reporter thread for at most 5 % of each interval of its CPU time
    (_agent.WATCH_SHARE), so a big structure takes several intervals; the
    gauge is set when a walk ends. The walk's memory is a small fraction of
    what it measures (memprobe._sizeof.SizeWalk). The agent holds a
    reference to obj until unwatch(name). Raises RuntimeError when the
    agent is not running."""
    if not _proto.gauge_name_ok(name):
        raise ValueError("gauge name must be 1..128 of [A-Za-z0-9_.:-]")
    if int(every) < 1:
        raise ValueError("every must be at least 1")
    _running_agent().watch(obj, name, int(every))


def unwatch(name):
    """Stops watching NAME; the gauge keeps its last value. Nothing when
    NAME is not watched or the agent is not running."""
    agent = _agent
    if agent is not None:
        agent.unwatch(name)


def _after_fork_in_child():
    global _kept
    _kept = None        # the parent's pages: never ours to write
    agent = _agent
    if agent is not None:
        try:
            agent.after_fork_in_child()
        except Exception:
            pass


def _at_exit():
    stop()
