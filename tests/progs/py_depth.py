"""py_depth.py: exact depth under test: what the counter reports beside the depth the program knows it reached.

    python3 tests/progs/py_depth.py exact|seed|thread-seed

Starts the Python agent with exact_depth=True (MEMPROBE_SOCKET as given)
and prints "counter KIND" (c when libmemprobe.so is preloaded, else
python) and "loaded 0|1" (whether libmemprobe.so is mapped), then:

  exact        generators, caught exceptions, method calls and a thread
               started after start(), then one recursion deeper than all
               of them: "bottom D" (the frames on the stack at its bottom,
               counted there) and "peak P" (the counter's figure: P == D
               when every call and return was counted)
  seed         the seed's example, `def f(): f()` under try/except
               RecursionError: "limit L" and "peak P"
  thread-seed  the same in a thread started after start()
Then "peak_written P" (the figure the reporter writes into the region)
and, after memprobe.stop(), "profile_after_stop REPR" (sys.getprofile()).
"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))

import memprobe  # noqa: E402


def bottom(n):
    """Recurses n deeper; returns the frames on the stack at the bottom,
    counted there (a call to count them would be one frame deeper)."""
    if n == 0:
        f, d = sys._getframe(), 0
        while f is not None:
            d += 1
            f = f.f_back
        return d
    return bottom(n - 1)


def nested(n):
    if n == 0:
        raise KeyError("deep")
    nested(n - 1)


def gen(n):
    if n == 0:
        for i in range(50):
            yield i
        return
    yield from gen(n - 1)


class Box:
    def __init__(self):
        self.v = 0

    def bump(self, k):
        self.v += k
        return self.v


def in_thread(target):
    t = threading.Thread(target=target)
    t.start()
    t.join()


def churn():
    """Calls and returns of every kind, none deeper than 300 frames."""
    for _ in range(20):
        try:
            nested(100)
        except KeyError:
            pass
    total = sum(gen(40)) + sum(x for x in gen(30))
    b = Box()
    for i in range(1000):
        b.bump(i)
    sorted(range(100), key=lambda x: -x)
    in_thread(lambda: bottom(200))
    return total


def f():
    f()


def seed():
    try:
        f()
    except RecursionError:
        pass


def main(what):
    memprobe.start(interval=3600, exact_depth=True)
    agent = memprobe._agent
    print("counter", agent.depth.kind)
    with open("/proc/self/maps") as maps:
        print("loaded", int(any("libmemprobe" in line for line in maps)))
    if what == "exact":
        churn()
        print("bottom", bottom(480))
    elif what == "seed":
        seed()
        print("limit", sys.getrecursionlimit())
    elif what == "thread-seed":
        in_thread(seed)
        print("limit", sys.getrecursionlimit())
    print("peak", agent.depth.read())
    agent.tick(final=False)
    print("peak_written", agent.region.get("py_stack_depth_peak"))
    memprobe.stop()
    print("profile_after_stop", repr(sys.getprofile()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
