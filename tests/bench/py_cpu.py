"""py_cpu.py: a CPU-bound Python workload, for the Python agent's cost.

    python3 py_cpu.py [none|agent|exact] [ROUNDS]

none: no agent; agent: memprobe.start() at the default interval; exact:
memprobe.start(exact_depth=True). The agent reports to MEMPROBE_SOCKET (the
benchmark points it at a path where nothing listens, or at a daemon).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def work():
    total = 0
    for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 6):
        total += fib(24)
        d = {str(k): k * k for k in range(20000)}
        total += sum(len(k) for k in d)
        total += len(sorted(d.values(), reverse=True))
    return total


def main(mode):
    if mode != "none":
        import memprobe
        memprobe.start(exact_depth=(mode == "exact"))
    print(work())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "none"))
