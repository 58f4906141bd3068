"""py_agent_bench.py: the Python agent's cost, no agent and agent run in alternation.

    python3 tests/bench/py_agent_bench.py [ROUNDS] [PAIRS] [EXACT_ROUNDS]

Runs tests/bench/py_cpu.py (a CPU-bound workload) as none/agent pairs, one
after the other, so that a change in the machine's load hits both alike,
then a shorter none/exact set for exact_depth (a profile hook on every
call, about ten times slower). The agent reports to a socket where nothing
listens. Prints medians of wall and CPU (user+sys) time and their ratios.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(mode, rounds, env):
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "py_cpu.py"), mode, str(rounds)],
                         stdout=subprocess.DEVNULL, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit("py_cpu.py %s failed with status %d" % (mode, status))
    return wall, ru.ru_utime + ru.ru_stime


def series(modes, rounds, pairs, env):
    res = {m: ([], []) for m in modes}
    for m in modes:                   # warm-up
        run(m, max(1, rounds // 10), env)
    for _ in range(pairs):
        for m in modes:
            w, c = run(m, rounds, env)
            res[m][0].append(w)
            res[m][1].append(c)
    return res


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    exact_rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["MEMPROBE_SOCKET"] = os.path.join(tempfile.mkdtemp(prefix="memprobe-pyb."), "none")
    print("== Python agent: py_cpu.py, %d alternating pairs" % pairs)
    print("| variant | rounds | wall median s | CPU median s | wall ratio | CPU ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for modes, n in ((("none", "agent"), rounds), (("none", "exact"), exact_rounds)):
        r = series(modes, n, pairs if modes[1] == "agent" else max(3, pairs // 2), env)
        bw, bc = statistics.median(r["none"][0]), statistics.median(r["none"][1])
        for m in modes:
            w, c = statistics.median(r[m][0]), statistics.median(r[m][1])
            print("| %s | %d | %.3f | %.3f | %.3f | %.3f |" % (m, n, w, c, w / bw, c / bc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
