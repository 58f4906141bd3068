"""py_agent.py: a Python program driven over stdin, for the Python agent's integration tests.

Prints "ready PID" once the agent is started, then reads commands:
  hold N     create and hold N more objects; prints "held N"
  gc         gc.collect(); prints "collected"
  deep N     recurse to depth N, print "deep D" (D: frames at the bottom) and
             wait there for the next line
  flash N    recurse to depth N and return at once; prints "flashed D"
  overflow   recurse until RecursionError, caught; prints "caught D"
  gauge N V  memprobe.gauge_set(N, V); prints "gauge"
  start      memprobe.start() (after --no-agent); prints "started"
  fds        prints "fds" and each open descriptor as FD=TARGET (readlink)
EOF: exit 0. Arguments: [--exact] [--no-agent].
"""

import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))

import memprobe  # noqa: E402

held = []


def depth_here():
    f, n = sys._getframe(1), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def deep(n):
    if n == 0:
        print("deep", depth_here(), flush=True)
        sys.stdin.readline()
        return 0
    return deep(n - 1) + 1


def flash(n):
    if n == 0:
        return depth_here()
    return flash(n - 1)


def forever(n):
    return forever(n + 1) + 1


def fds():
    """This process's descriptors and what they are, in order; the one
    listdir itself used is gone by the time it is looked at."""
    out = []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            out.append("%s=%s" % (name, os.readlink("/proc/self/fd/" + name)))
        except OSError:
            pass
    return " ".join(out)


def start():
    memprobe.start(interval=0.1, exact_depth="--exact" in sys.argv)


def main():
    if "--no-agent" not in sys.argv:
        start()
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "hold":
            held.extend(object() for _ in range(int(words[1])))
            print("held", words[1], flush=True)
        elif cmd == "gc":
            gc.collect()
            print("collected", flush=True)
        elif cmd == "deep":
            deep(int(words[1]))
        elif cmd == "flash":
            print("flashed", flash(int(words[1])), flush=True)
        elif cmd == "overflow":
            try:
                forever(0)
            except RecursionError:
                print("caught", sys.getrecursionlimit(), flush=True)
        elif cmd == "gauge":
            memprobe.gauge_set(words[1], float(words[2]))
            print("gauge", flush=True)
        elif cmd == "start":
            start()
            print("started", flush=True)
        elif cmd == "fds":
            print("fds", fds(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
