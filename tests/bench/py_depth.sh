#!/bin/sh
# py_depth.sh: `make bench`: what exact depth costs on a call-heavy Python workload, through libmemprobe.so's C profile function and through the Python hook.
#
# usage: sh tests/bench/py_depth.sh BUILD_DIR
#
# tests/bench/py_calls.py (recursive fib and small method calls) under
#   none    no agent at all
#   off     the C agent preloaded and memprobe.start(), exact depth off
#   c       the same with exact_depth=True: the C function counts
#   python  exact_depth=True without the C agent: the Python hook counts
# Wall time with hyperfine (BENCH_DEPTH_RUNS runs each, default 15, of
# fib(BENCH_DEPTH_N), default 30; the variants in turn, reversed each
# round of BENCH_DEPTH_ROUNDS, default 3, and ratios taken within a round)
# and instructions with callgrind (fib(BENCH_DEPTH_CG_N), default 27).
# Ratios are to no agent and to the agent with exact depth off: the
# second is what turning exact depth on costs.
# The agent reports to a socket where nothing listens. Prints a table;
# exits 0 whatever the figures.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")" && pwd)
RUNS=${BENCH_DEPTH_RUNS:-15}
ROUNDS=${BENCH_DEPTH_ROUNDS:-3}
N=${BENCH_DEPTH_N:-30}
CG_N=${BENCH_DEPTH_CG_N:-27}
AGENT=$BUILD/libmemprobe.so
# The interpreter itself, not a wrapper (a pyenv shim would be timed too).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(python3 -c 'import sys; print(sys.executable)') || exit 0
TMP=$(mktemp -d /tmp/memprobe-depth.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
SOCK=$TMP/no-daemon.sock
PROG="$SRC/py_calls.py"

# env_of VARIANT: the environment of a variant, as `env` arguments.
env_of() {
	case $1 in
	off | c) echo "env MEMPROBE_SOCKET=$SOCK LD_PRELOAD=$AGENT" ;;
	*) echo "env MEMPROBE_SOCKET=$SOCK" ;;
	esac
}

# prog VARIANT N: the program of a variant, with its arguments.
prog() {
	case $1 in
	none | off) echo "$PY $PROG $1 $2" ;;
	*) echo "$PY $PROG exact $2" ;;
	esac
}

# cmd VARIANT N: the command line of a variant, for hyperfine -N (no shell).
cmd() { echo "$(env_of "$1") $(prog "$1" "$2")"; }

VARIANTS="none off c python"
# Each variant counts as it says, or the table would lie.
for v in $VARIANTS; do
	want=$v
	case $v in off) want=none ;; esac
	# shellcheck disable=SC2046
	got=$($(cmd "$v" 5) | sed -n 's/^counter //p')
	if [ "$got" != "$want" ]; then
		echo "py_depth: variant $v counts with \"$got\", not \"$want\"; not measured"
		exit 0
	fi
done

echo "== Exact depth: py_calls.py, fib($N) wall, fib($CG_N) instructions ($PY)"
if command -v hyperfine >/dev/null 2>&1; then
	k=1
	order=$VARIANTS
	while [ "$k" -le "$ROUNDS" ]; do
		set --
		for v in $order; do
			set -- "$@" -n "$v" "$(cmd "$v" "$N")"
		done
		hyperfine -N -w 1 -r "$RUNS" --export-json "$TMP/wall.$k.json" "$@" \
			>"$TMP/hf.log" 2>&1 || { cat "$TMP/hf.log"; exit 0; }
		order=$(for v in $order; do echo "$v"; done | tac | tr '\n' ' ')
		k=$((k + 1))
	done
fi
if command -v valgrind >/dev/null 2>&1; then
	for v in $VARIANTS; do
		# The environment goes before valgrind, which hands it to the
		# program.
		# shellcheck disable=SC2046
		$(env_of "$v") valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$v" \
			$(prog "$v" "$CG_N") >"$TMP/cg.$v.log" 2>&1 &&
			echo "$v $(sed -n 's/^summary: *//p' "$TMP/cg.$v")" >>"$TMP/cg.txt"
	done
fi
"$PY" - "$TMP" "$ROUNDS" $VARIANTS <<'PY'
import json, os, statistics, sys
tmp, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
wall = {v: [] for v in variants}      # medians per round
for k in range(1, rounds + 1):
    try:
        res = json.load(open(os.path.join(tmp, "wall.%d.json" % k)))["results"]
    except OSError:
        break
    for r in res:
        wall[r["command"]].append(r["median"])
cg = {}
try:
    for line in open(os.path.join(tmp, "cg.txt")):
        v, n = line.split()
        cg[v] = int(n)
except OSError:
    pass


def wall_ratio(v, base):
    """The median of the ratios taken within each round."""
    r = [a / b for a, b in zip(wall[v], wall[base])]
    return "%.3f×" % statistics.median(r) if r else "—"


def cg_ratio(v, base):
    return "%.3f×" % (cg[v] / cg[base]) if v in cg and cg.get(base) else "—"


print("| variant | wall median s | wall / none | wall / off | instructions | instr. / none | instr. / off |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for v in variants:
    w = wall[v]
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        v, "%.3f" % statistics.median(w) if w else "—", wall_ratio(v, "none"),
        wall_ratio(v, "off"), "{:,}".format(cg[v]) if v in cg else "—",
        cg_ratio(v, "none"), cg_ratio(v, "off")))
PY
exit 0
