"""test_depth.py: exact depth, through libmemprobe.so's C profile function and through the Python hook.

Runs tests/progs/py_depth.py in a child interpreter (this one's) twice per
case: with the C agent preloaded (MEMPROBE_BUILD/libmemprobe.so, reporting
to a socket where nothing listens), where the C function must count, and
without, where the Python hook must (and the library must not be loaded).
"""

import os
import subprocess
import sys
import tempfile

from harness import check, finish

BUILD = os.path.abspath(os.environ.get("MEMPROBE_BUILD", "build"))
PROG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "progs", "py_depth.py")
TIMEOUT = 120           # seconds: a bound, never a duration that is asserted


def run(what, preload):
    """py_depth.py's "key value" lines as a dict, and its exit status."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["MEMPROBE_SOCKET"] = os.path.join(tempfile.gettempdir(), "memprobe-nobody-%d.sock"
                                          % os.getpid())
    if preload:
        env["LD_PRELOAD"] = os.path.join(BUILD, "libmemprobe.so")
    p = subprocess.run([sys.executable, PROG, what], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)
    out = dict(line.split(" ", 1) for line in p.stdout.splitlines() if " " in line)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
    return out, p.returncode


def num(out, key):
    try:
        return int(out[key])
    except (KeyError, ValueError):
        return None


for preload, kind in ((True, "c"), (False, "python")):
    # Every call and return counted: after generators, caught exceptions,
    # methods and a later thread, the peak is exactly the deepest stack.
    out, rc = run("exact", preload)
    check("exact_depth_%s" % kind,
          (rc, out.get("counter"), out.get("loaded"), num(out, "peak"),
           num(out, "peak_written"), out.get("profile_after_stop")),
          (0, kind, "1" if preload else "0", num(out, "bottom"), num(out, "bottom"), "None"))
    # The seed's example: a caught RecursionError shows the recursion
    # limit, within the frames CPython keeps for the handler; in the main
    # thread and in one started after start().
    for what in ("seed", "thread-seed"):
        out, rc = run(what, preload)
        limit, peak = num(out, "limit"), num(out, "peak")
        near = limit is not None and peak is not None and abs(peak - limit) <= 5
        check("%s_%s" % (what.replace("-", "_"), kind),
              (rc, out.get("counter"), near, num(out, "peak_written") == peak),
              (0, kind, True, True))

finish()
