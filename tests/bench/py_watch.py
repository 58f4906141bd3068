"""py_watch.py: what memprobe.watch() costs on a 200,000-entry list: the time to its first figure, the reporter's CPU while it walks, and the memory the walk takes.

    python3 tests/bench/py_watch.py [BUILD]     (make bench runs it)

Each row is a child interpreter with BUILD/libmemprobe.so preloaded (its
heap figures are read through memprobe_snapshot()) reporting to a socket
where nothing listens. The child builds a list of 200,000 distinct ints,
starts the agent at the row's interval and watches the list; its main
thread sleeps, looking at the gauge every 10 ms, until the figure is
there, then WINDOW (5) seconds more: the process's CPU time over all of
it is the watch's cost (walks go on, one every interval at most). One more child does the same under tracemalloc, which sees
pymalloc's objects too (and slows the walk: its times are not used).
Then deep_sizeof() once on eight shapes of structure, under tracemalloc:
what the structure holds and what the walk adds at its peak.
BENCH_PY_TREE names another directory holding the memprobe package to
measure (an older commit's, say). Prints a table; exits 0 whatever the
figures.
"""

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENTRIES = 200000
WINDOW = 5.0


class _Stats(ctypes.Structure):
    # The head of struct memprobe_stats (client/agent/memprobe.h).
    _fields_ = [("live", ctypes.c_uint64), ("blocks", ctypes.c_uint64),
                ("peak", ctypes.c_uint64), ("rest", ctypes.c_uint64 * 32)]


def heap_peak():
    s = _Stats()
    ctypes.CDLL(None).memprobe_snapshot(ctypes.byref(s))
    return s.peak


def child(interval, traced):
    sys.path.insert(0, os.environ.get("BENCH_PY_TREE") or
                    os.path.join(HERE, "..", "..", "client", "python"))
    import memprobe
    import tracemalloc
    if traced:
        tracemalloc.start()
    data = list(range(10**9, 10**9 + ENTRIES))
    traced_before = tracemalloc.get_traced_memory()[0] if traced else 0
    peak_before = heap_peak()
    memprobe.start(interval=interval)
    agent = memprobe._agent
    t0, c0 = time.monotonic(), time.process_time()
    memprobe.watch(data, "data.bytes")
    while "data.bytes" not in agent.region.gauges:
        time.sleep(0.01)
    first = time.monotonic() - t0
    if not traced:
        while time.monotonic() - t0 < first + WINDOW:
            time.sleep(0.01)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    out = {"first": first, "wall": wall, "cpu": cpu, "heap_before": peak_before,
           "heap_after": heap_peak(),
           "share": getattr(sys.modules["memprobe._agent"], "WATCH_SHARE", None), "bytes": memprobe.deep_sizeof(data)}
    if traced:
        out["traced_before"] = traced_before
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
    memprobe.stop()
    print(json.dumps(out))


class _Point:
    def __init__(self, i):
        self.i = i * 7919
        self.name = "p%d" % i


def _chain(n):
    t = None
    for i in range(n):
        t = (i * 1000003, t)
    return t


def _shared(n):
    pool = ["x%d" % i for i in range(1000)]
    return [pool[i % 1000] for i in range(n)]


SHAPES = (
    ("200,000 distinct ints", lambda: list(range(10**6, 10**6 + 200000))),
    ("200,000 small ints (cached)", lambda: [i & 255 for i in range(200000)]),
    ("200,000 strings", lambda: ["s%d" % i for i in range(200000)]),
    ("dict of 100,000 str -> [int, str]", lambda: {"k%d" % i: [i, str(i)] for i in range(100000)}),
    ("set of 200,000 strings", lambda: {"e%d" % i for i in range(200000)}),
    ("chain of 200,000 tuples", lambda: _chain(200000)),
    ("100,000 objects with a __dict__", lambda: [_Point(i) for i in range(100000)]),
    ("200,000 refs to 1,000 strings", lambda: _shared(200000)),
)


def shapes():
    """deep_sizeof() once on each shape, under tracemalloc: a JSON line each."""
    import gc
    import tracemalloc
    from memprobe import deep_sizeof
    for name, make in SHAPES:
        gc.collect()
        tracemalloc.start()
        data = make()
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        deep_sizeof(data)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del data
        print(json.dumps({"name": name, "held": held, "extra": peak - held}))


def run(build, interval, traced):
    env = dict(os.environ)
    env["LD_PRELOAD"] = os.path.join(build, "libmemprobe.so")
    env["MEMPROBE_SOCKET"] = os.path.join(tempfile.gettempdir(), "memprobe-nobody.sock")
    p = subprocess.run([sys.executable, __file__, "--child", str(interval), str(int(traced))],
                       env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=600)
    return json.loads(p.stdout)


def mib(n):
    return "%.1f MiB" % (n / 2**20)


def main():
    if sys.argv[1:2] == ["--child"]:
        return child(float(sys.argv[2]), sys.argv[3] == "1")
    if sys.argv[1:2] == ["--shapes"]:
        sys.path.insert(0, os.environ.get("BENCH_PY_TREE") or
                        os.path.join(HERE, "..", "..", "client", "python"))
        return shapes()
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    rows = [(i, run(build, i, False)) for i in (1.0, 0.1)]
    t = run(build, 0.1, True)
    share = rows[0][1]["share"]
    print("== watch(): a list of %s distinct ints (deep_sizeof %s), walks %s, %s" % (
        "{:,}".format(ENTRIES), mib(rows[0][1]["bytes"]),
        "within %g %% of each interval" % (100 * share) if share else "unbounded",
        sys.executable))
    print("| interval | first figure after | intervals | CPU, to %g s after it | "
          "heap peak before → after |" % WINDOW)
    print("| --- | --- | --- | --- | --- |")
    for interval, r in rows:
        print("| %g s | %.2f s | %d | %.1f %% of a core | %s → %s |" % (
            interval, r["first"], round(r["first"] / interval), 100 * r["cpu"] / r["wall"],
            mib(r["heap_before"]), mib(r["heap_after"])))
    print("traced (tracemalloc, all of Python's allocations): peak %s before the walk, %s "
          "after" % (mib(t["traced_before"]), mib(t["traced_peak"])))
    print()
    print("== deep_sizeof() once, under tracemalloc: what the walk adds at its peak")
    print("| structure | traced | walk's extra peak |")
    print("| --- | ---: | ---: |")
    out = subprocess.run([sys.executable, __file__, "--shapes"], stdout=subprocess.PIPE,
                         universal_newlines=True, timeout=600).stdout
    for line in out.splitlines():
        r = json.loads(line)
        print("| %s | %s | %s (%.0f %%) |" % (r["name"], mib(r["held"]), mib(r["extra"]),
                                             100.0 * r["extra"] / r["held"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
