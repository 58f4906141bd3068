"""python3 -m memprobe run SCRIPT [ARGS]: runs a script with the agent started.

When the C agent library is found and not yet loaded, the interpreter is
re-executed with it preloaded first, so both halves report. The library is
looked up in MEMPROBE_LIBRARY, then beside this package in a source tree
(build/libmemprobe.so), then in the usual library directories.

The script runs as `python3 SCRIPT` would run it: sys.argv and sys.path[0]
are its own, a missing script is one line and exit status 2, and an
uncaught exception prints a traceback of the script's frames only (none
of memprobe's or runpy's) and ends with status 1.
"""

import argparse
import os
import runpy
import signal
import sys

from . import __version__

DESCRIPTION = """\
Runs SCRIPT with memprobe's Python agent started, as `python3 SCRIPT ARGS`
would run it, reporting to memprobed: the interpreter's figures (allocated
blocks, garbage collector, recursion limit, deepest stack), and, with the C
agent preloaded (this re-executes the interpreter with libmemprobe.so in
LD_PRELOAD when it finds the library), the heap beside them."""

EPILOG = """\
environment:
  MEMPROBE_SOCKET   memprobed's agent socket (default: the C agent's rule,
                    /run/memprobe/agent.sock for root)
  MEMPROBE_LIBRARY  libmemprobe.so to preload (default: build/libmemprobe.so
                    of a source tree, then the usual library directories)
  MEMPROBE_DEBUG=1  say once on stderr why the agent is not reporting"""


def parser():
    p = argparse.ArgumentParser(
        prog="python3 -m memprobe",
        usage="%(prog)s run [--interval SECONDS] [--exact-depth] SCRIPT [ARGS...]",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="memprobe " + __version__)
    p.add_argument("command", choices=["run"], help="run SCRIPT (the only command)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between two writes of the figures, 0.01 to 3600 "
                        "(default 1)")
    p.add_argument("--exact-depth", action="store_true",
                   help="count every Python call, so the deepest stack is exact "
                        "(default: sampled every interval); costs every call, "
                        "see the README")
    p.add_argument("script", metavar="SCRIPT", help="the Python script to run")
    rest = p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                          help="its arguments (sys.argv[1:])")
    rest.required = False           # argparse takes a remainder for required
    return p


def find_library():
    env = os.environ.get("MEMPROBE_LIBRARY")
    if env:
        return env if os.path.isfile(env) else None
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.path.join(here, "..", "..", "..", "build", "libmemprobe.so")]
    for d in ("/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64"):
        candidates.append(os.path.join(d, "libmemprobe.so"))
    for c in candidates:
        if os.path.isfile(c):
            return os.path.realpath(c)
    return None


def preloaded(lib):
    try:
        with open("/proc/self/maps") as f:
            return any(line.rstrip().endswith(lib) for line in f)
    except OSError:
        return lib in os.environ.get("LD_PRELOAD", "")


def main(argv):
    p = parser()
    opts = p.parse_args(argv)
    if not 0.01 <= opts.interval <= 3600:
        p.error("--interval must be 0.01 to 3600 seconds")
    try:
        os.stat(opts.script)
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                         % (p.prog, opts.script, e.errno, e.strerror))
        return 2
    lib = find_library()
    if lib and not preloaded(lib) and os.environ.get("MEMPROBE_NO_REEXEC") != "1":
        env = dict(os.environ)
        env["LD_PRELOAD"] = (lib + " " + env.get("LD_PRELOAD", "")).strip()
        env["MEMPROBE_NO_REEXEC"] = "1"
        os.execve(sys.executable, [sys.executable, "-m", "memprobe"] + argv, env)
    os.environ.pop("MEMPROBE_NO_REEXEC", None)
    return run(opts.script, opts.args, opts.interval, opts.exact_depth)


def run(script, args, interval, exact_depth):
    """Runs script as __main__ with the agent started; the exit status."""
    import memprobe
    memprobe.start(interval=interval, exact_depth=exact_depth)
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(os.path.abspath(script), run_name="__main__")
    except SystemExit as e:
        memprobe._note_exit(_exit_status(e.code))
        memprobe.stop()
        raise
    except BaseException as e:              # as the interpreter would end
        # The interpreter prints the exception's own traceback.
        tb = _script_frames(e.__traceback__)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        memprobe._note_exit(1)
        memprobe.stop()
        if isinstance(e, KeyboardInterrupt):
            _die_of_sigint()
        return 1
    memprobe._note_exit(0)
    memprobe.stop()
    return 0


def _script_frames(tb):
    """The traceback from the script's first frame on: this module's and
    runpy's frames, which run it, are left out (known by their module's
    globals: both may be named __main__, and runpy may be frozen)."""
    ours = (globals(), vars(runpy))
    while tb is not None and any(tb.tb_frame.f_globals is g for g in ours):
        tb = tb.tb_next
    return tb


def _die_of_sigint():
    """Ends the process by SIGINT, as the interpreter does after an
    uncaught KeyboardInterrupt, so the caller sees the signal."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _exit_status(code):
    """The status sys.exit(code) ends the interpreter with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
