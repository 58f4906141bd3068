"""py_prof/hostile.py: Python programs that make reading frames and wrapping
CPython's allocator hard, each run under the agent at a high sample rate.

    python3 hostile.py CASE

Prints "ok CASE" and exits 0 when the case ran to its end with the right
results; anything else (a crash, a hang, a wrong figure) is a failure.
"""

import gc
import os
import sys
import threading


def churn(n):
    """Allocates small and large objects, released at once."""
    for i in range(n):
        t = (i, str(i), [i] * (i % 40))
        b = bytes(600 + i % 3000)
        del t, b


def finalize():
    """Daemon threads allocate, with and without the GIL (zlib releases it
    around deflate, which calls malloc), while the interpreter finalizes
    and frees their thread states."""
    import zlib
    data = os.urandom(1 << 16) * 4

    def worker():
        while True:
            zlib.compress(data, 1)
            churn(50)

    for _ in range(4):
        threading.Thread(target=worker, daemon=True).start()
    churn(2000)


def deep():
    """Recursion to the limit, caught, allocating at every depth."""
    def down(n):
        x = [n] * 8
        return down(n + 1) + len(x)

    for _ in range(5):
        try:
            down(0)
        except RecursionError:
            pass


def names():
    """Functions whose names and files are not ASCII: Latin-1, two-byte
    and four-byte code points, and a qualified name past 256 bytes."""
    ns = {}
    src = ("def lädt_Zeilen(n):\n    return [(i, i * 2.5) for i in range(n)]\n"
           "def 行を読む(n):\n    return [str(i) * 3 for i in range(n)]\n"
           "class " + "K" * 300 + ":\n    def m(self, n):\n        return [[i] for i in range(n)]\n")
    exec(compile(src, "/tmp/ファイル-𝔣.py", "exec"), ns)
    for _ in range(20):
        ns["lädt_Zeilen"](2000)
        ns["行を読む"](2000)
        ns["K" * 300]().m(2000)


def tracing():
    """tracemalloc started and stopped while sampled blocks live, and
    sys.getallocatedblocks() still balanced afterwards."""
    import tracemalloc
    gc.collect()
    before = sys.getallocatedblocks()
    keep = [(i, str(i)) for i in range(50000)]
    tracemalloc.start()
    more = [(i, str(i)) for i in range(50000)]
    del keep
    tracemalloc.stop()
    del more
    gc.collect()
    after = sys.getallocatedblocks()
    if abs(after - before) > 2000:
        raise SystemExit("getallocatedblocks moved from %d to %d" % (before, after))


def subinterp():
    """Code run in a sub-interpreter, from the main thread and a thread."""
    import _xxsubinterpreters as interpreters
    code = "x = [(i, str(i)) for i in range(20000)]\n"
    interp = interpreters.create()
    interpreters.run_string(interp, code)
    t = threading.Thread(target=interpreters.run_string, args=(interp, code))
    t.start()
    t.join()
    interpreters.destroy(interp)


def forks():
    """Children fork from a thread-busy parent, allocate and exit."""
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            churn(20)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(10):
        pid = os.fork()
        if pid == 0:
            churn(500)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit("child ended with status %d" % status)
    stop.set()
    for t in threads:
        t.join()


def generators():
    """Generators and coroutines suspended and resumed from other threads."""
    def gen():
        while True:
            yield [0] * 100
    gens = [gen() for _ in range(50)]

    def pull():
        for _ in range(200):
            for g in gens:
                try:
                    next(g)
                except ValueError:
                    pass        # already executing in another thread

    threads = [threading.Thread(target=pull) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


CASES = {f.__name__: f for f in (finalize, deep, names, tracing, subinterp, forks, generators)}

if __name__ == "__main__":
    case = sys.argv[1]
    CASES[case]()
    print("ok", case, flush=True)
