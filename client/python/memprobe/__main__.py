"""python -m memprobe run SCRIPT [ARGS]: runs a script with the agent started.

When the C agent library is found and not yet loaded, the interpreter is
re-executed with it preloaded first, so both halves report. The library is
looked up in MEMPROBE_LIBRARY, then beside this package in a source tree
(build/libmemprobe.so), then in the usual library directories.
"""

import os
import runpy
import sys

USAGE = "usage: python -m memprobe run [--interval SECONDS] [--exact-depth] SCRIPT [ARGS...]\n"


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
    if len(argv) < 2 or argv[0] != "run":
        sys.stderr.write(USAGE)
        return 2
    args = argv[1:]
    interval, exact = 1.0, False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        if opt == "--exact-depth":
            exact = True
        elif opt == "--interval" and args:
            try:
                interval = float(args.pop(0))
            except ValueError:
                sys.stderr.write(USAGE)
                return 2
        else:
            sys.stderr.write(USAGE)
            return 2
    if not args:
        sys.stderr.write(USAGE)
        return 2
    lib = find_library()
    if lib and not preloaded(lib) and os.environ.get("MEMPROBE_NO_REEXEC") != "1":
        env = dict(os.environ)
        env["LD_PRELOAD"] = (lib + " " + env.get("LD_PRELOAD", "")).strip()
        env["MEMPROBE_NO_REEXEC"] = "1"
        os.execve(sys.executable, [sys.executable, "-m", "memprobe"] + argv, env)
    os.environ.pop("MEMPROBE_NO_REEXEC", None)
    import memprobe
    memprobe.start(interval=interval, exact_depth=exact)
    sys.argv = args
    script = args[0]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        memprobe._note_exit(_exit_status(e.code))
        memprobe.stop()
        raise
    except Exception:
        memprobe._note_exit(1)      # the interpreter's status for an uncaught exception
        memprobe.stop()
        raise
    memprobe._note_exit(0)
    memprobe.stop()
    return 0


def _exit_status(code):
    """The status sys.exit(code) ends the interpreter with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
