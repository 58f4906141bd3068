"""test_watch.py: watch() and deep_sizeof() in steps: the figure a finished walk reports, the memory a walk takes, every=, and the rule for gauges before start().

Memory is traced with tracemalloc (every Python allocation, pymalloc's
too): a walk must stay far below the size of what it walks (the agent's
rule: never double the program's peak). No duration is asserted; waits
are bounded polls.
"""

import gc
import os
import struct
import sys
import tempfile
import time
import tracemalloc

import memprobe
from harness import check, finish
from memprobe import _region, deep_sizeof
from memprobe._agent import Agent
from memprobe._sizeof import SHARED_TYPES, SizeWalk

TIMEOUT = 60.0          # seconds: a bound, never a duration that is asserted
NOWHERE = os.path.join(tempfile.gettempdir(), "memprobe-nobody-%d.sock" % os.getpid())


def reference_size(obj):
    """deep_sizeof as the plain algorithm has it (a set of ids, every
    referent pushed), to hold the stepped walk against."""
    seen, total, pending = set(), 0, [obj]
    while pending:
        o = pending.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if o is not obj and isinstance(o, SHARED_TYPES):
            continue
        total += sys.getsizeof(o)
        pending.extend(gc.get_referents(o))
        if isinstance(o, dict):
            pending.extend(o.keys())
    return total


class Rec:
    def __init__(self, i):
        self.key = "rec-%d" % i
        self.vals = [i * 1000003, float(i)]


def structure(n=200000):
    """n entries (a multiple of 20) of several kinds: distinct ints,
    strings, a dict of lists, objects, a shared string, a cycle and a long
    chain of tuples."""
    shared = "shared-" * 10
    chain = None
    for i in range(n // 10):
        chain = (i * 7919, chain)
    data = [i * 1000003 for i in range(n // 2)]
    data += ["s%d" % i for i in range(n // 4)]
    data.append({"k%d" % i: [i, shared] for i in range(n // 10)})
    data += [Rec(i) for i in range(n // 20)]
    data += [shared] * (n // 10 - 3)
    data.append(chain)
    data.append(data)
    return data


def gauge(region, name):
    for i in range(_region.GAUGES):
        base = _region.GAUGE_OFF + i * _region.GAUGE_SIZE
        state, value, raw = struct.unpack_from("Qd128s", region.mm, base)
        if state == 1 and raw.rstrip(b"\0") == name.encode():
            return value
    return None


def wait_until(cond, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v is not None or time.monotonic() > deadline:
            return v
        time.sleep(0.01)


def walk_in_steps():
    """A walk of 1,000 objects a step does not finish at once, and when it
    does its total is the plain algorithm's and deep_sizeof()'s."""
    data = structure()
    want = reference_size(data)
    w = SizeWalk(data)
    steps = 1
    while not w.step(1000):
        steps += 1
    return (w.total, deep_sizeof(data), steps > 100), (want, want, True)


def walk_memory():
    """What a walk allocates at its peak, beside what it walks: under a
    fifth, where the plain algorithm takes twice as much again."""
    gc.collect()
    tracemalloc.start()
    try:
        data = structure()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        deep_sizeof(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - held
    if extra >= held / 5:
        sys.stderr.write("walk_memory: %d bytes held, %d more at the walk's peak\n"
                         % (held, extra))
    return extra < held / 5, True


def watch_reports():
    """watch() through the agent's reporter at a 10 ms interval (a walk of
    50,000 entries takes many): the gauge is the structure's size once the
    walk ends; the program's traced peak is not doubled meanwhile."""
    gc.collect()
    tracemalloc.start()
    a = None
    try:
        data = structure(50000)
        want = deep_sizeof(data)
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        a = Agent(NOWHERE, 0.01, False)
        a.start()
        a.watch(data, "data.bytes", 1)
        got = wait_until(lambda: gauge(a.region, "data.bytes"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if a is not None:
            a.stop()
        tracemalloc.stop()
    return (got, peak < 2 * held), (float(want), True)


def watch_every():
    """every=3: a walk at the first interval and the next three intervals
    later; the gauge keeps the last walk's figure between (the ticks are
    driven by hand, the structure grows after each)."""
    a = Agent(NOWHERE, 1.0, False)
    box = [1, 2, 3]
    a.watch(box, "box.bytes", 3)
    sizes, seen = [], []
    for _ in range(5):
        sizes.append(float(reference_size(box)))
        a.tick(final=False)
        seen.append(gauge(a.region, "box.bytes"))
        box.append(10**30 + len(box))
    os.close(a.memfd)                       # start() would have
    return seen, [sizes[0]] * 3 + [sizes[3]] * 2


def not_running_rule():
    """gauge_set() and watch() raise RuntimeError when the agent is not
    running, before start() and after stop(); unwatch() does nothing."""
    def raises(fn, *args):
        try:
            fn(*args)
        except RuntimeError:
            return "RuntimeError"
        return "returned"

    got = [memprobe.running(), raises(memprobe.gauge_set, "a.b", 1),
           raises(memprobe.watch, [], "a.c"), raises(memprobe.unwatch, "a.c")]
    memprobe.start(socket=NOWHERE, interval=3600)
    got += [raises(memprobe.gauge_set, "a.b", 1), raises(memprobe.watch, [], "a.c")]
    memprobe.stop()
    got += [raises(memprobe.gauge_set, "a.b", 1), raises(memprobe.watch, [], "a.c")]
    return got, [False, "RuntimeError", "RuntimeError", "returned",
                 "returned", "returned", "RuntimeError", "RuntimeError"]


for fn in (walk_in_steps, walk_memory, watch_reports, watch_every, not_running_rule):
    try:
        got, want = fn()
    except Exception as e:              # a failure, not a crash of the file
        got, want = repr(e), "no exception"
    check(fn.__name__, got, want)

finish()
