"""py_calls.py: a call-heavy Python workload, for the cost of exact depth (issue 15).

    python3 py_calls.py none|off|exact [N]

Recursive fib(N) (default 30: 2,692,537 Python calls), then fib(N) calls
(832,040) of a small method, and nothing else: the case where a cost per
call shows most.
none: no Python agent; off: memprobe.start() without exact depth; exact:
memprobe.start(exact_depth=True), whose counter is libmemprobe.so's C
function when that is preloaded, else the Python hook. Prints the counter
("counter c", "counter python" or "counter none") and a checksum.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Acc:
    def __init__(self):
        self.total = 0

    def add(self, v):
        self.total += v


def work(n):
    acc = Acc()
    for i in range(fib(n)):
        acc.add(i & 7)
    return acc.total


def main(mode, n):
    kind = "none"
    if mode != "none":
        import memprobe
        memprobe.start(exact_depth=(mode == "exact"))
        depth = memprobe._agent.depth
        kind = depth.kind if depth is not None else "none"
    print("counter", kind)
    print(work(n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "none",
                  int(sys.argv[2]) if len(sys.argv) > 2 else 30))
