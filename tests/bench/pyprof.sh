#!/bin/sh
# pyprof.sh: `make bench`: what Python frames and samples of small Python objects cost (issue 15), and how close py_prof's estimates are.
#
# usage: sh tests/bench/pyprof.sh BUILD_DIR
#
# Variants of python3 tests/bench/py_alloc.py, each through env so that they
# differ only in the agent's settings:
#   none    no agent
#   off     the agent, MEMPROBE_PROFILE_PYTHON=0: native stacks, as before
#   frames  the agent, MEMPROBE_PROFILE_PYTHON=frames: Python frames in
#           stacks, CPython's allocator left alone
#   on      the agent as it comes: Python frames and small objects sampled
# 1. instructions (callgrind; BENCH_PY_CG_ROUNDS rounds, default 100),
# 2. wall time (hyperfine; BENCH_PY_ROUNDS rounds, default 1000, and
#    BENCH_PY_RUNS runs, default 20, the four variants interleaved),
# 3. the cost of a sample with and without Python frames: py_alloc at rate
#    16384, samples and the agent's own time spent sampling (sample_ns)
#    read back from memprobed's /sites,
# 4. tests/progs/py_prof/main.py modules at rate 16384: build_cache's and
#    load_rows's estimates beside the bytes the program holds.
# Prints tables; exits 0 whatever the figures.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SRC/../.." && pwd)
CG_ROUNDS=${BENCH_PY_CG_ROUNDS:-100}
ROUNDS=${BENCH_PY_ROUNDS:-1000}
RUNS=${BENCH_PY_RUNS:-20}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
AGENT=$BUILD/libmemprobe.so
TMP=$(mktemp -d /tmp/memprobe-pyprof.XXXXXX) || exit 1
dpid=
trap 'pkill -P $$ 2>/dev/null; [ -n "$dpid" ] && kill $dpid 2>/dev/null; rm -rf "$TMP"' EXIT
port=$("$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
URL=http://127.0.0.1:$port
"$BUILD/memprobed" --agent-socket "$TMP/a.sock" --web.listen-address "127.0.0.1:$port" \
	--exited-ttl 3600 2>"$TMP/memprobed.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$TMP/a.sock" ] && break; sleep 0.05; done

# env_of VARIANT [SOCKET]: the variant's env command, reporting to SOCKET
# (default: memprobed's).
env_of() {
	sock=${2:-$TMP/a.sock}
	case $1 in
	none) echo "env MEMPROBE_SOCKET=$sock" ;;
	off) echo "env MEMPROBE_SOCKET=$sock MEMPROBE_PROFILE_PYTHON=0 LD_PRELOAD=$AGENT" ;;
	frames) echo "env MEMPROBE_SOCKET=$sock MEMPROBE_PROFILE_PYTHON=frames LD_PRELOAD=$AGENT" ;;
	on) echo "env MEMPROBE_SOCKET=$sock LD_PRELOAD=$AGENT" ;;
	esac
}
VARIANTS="none off frames on"

# ratios FILE: "| variant | figure | ratio to none |" rows of FILE's
# "variant figure" lines.
ratios() {
	"$PY" - "$1" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
base = {v: float(n) for v, n in rows}.get("none")
for v, n in rows:
    r = "%.3f" % (float(n) / base) if base else "—"
    print("| %s | %s | %s× |" % (v, n, r))
PY
}

echo "== py_alloc.py $CG_ROUNDS: instructions (callgrind)"
if command -v valgrind >/dev/null 2>&1; then
	: >"$TMP/cg"
	for v in $VARIANTS; do
		# No daemon on this socket: the agent counts and samples the
		# same, and never registers, whose transient task (a clone of
		# its own, agent_outside.c) valgrind cannot run.
		# shellcheck disable=SC2046
		$(env_of "$v" "$TMP/no-daemon.sock") valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$v" \
		    "$PY" "$SRC/py_alloc.py" "$CG_ROUNDS" >/dev/null 2>&1
		echo "$v $(sed -n 's/^summary: *//p' "$TMP/cg.$v")" >>"$TMP/cg"
	done
	echo "| variant | instructions | ratio |"
	echo "| --- | --- | --- |"
	ratios "$TMP/cg"
else
	echo "(no valgrind)"
fi

echo
echo "== py_alloc.py $ROUNDS: wall time (hyperfine, $RUNS runs each)"
if command -v hyperfine >/dev/null 2>&1; then
	set --
	for v in $VARIANTS; do
		set -- "$@" "$(env_of "$v") $PY $SRC/py_alloc.py $ROUNDS"
	done
	hyperfine -N --warmup 2 --runs "$RUNS" --style none --export-json "$TMP/wall.json" "$@" \
	    >/dev/null 2>&1
	"$PY" - "$TMP/wall.json" $VARIANTS <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
names = sys.argv[2:]
base = res[0]["median"]
print("| variant | median s | ratio to none |")
print("| --- | --- | --- |")
for name, r in zip(names, res):
    print("| %s | %.4f | %.3f× |" % (name, r["median"], r["median"] / base))
PY
else
	echo "(no hyperfine)"
fi

# sites PID: the /sites JSON of PID (top 65536), waited for (bounded).
sites() {
	for _ in $(seq 100); do
		curl -sf "$URL/api/v1/processes/$1/sites?top=65536" && return 0
		sleep 0.1
	done
	echo '{}'
}

echo
echo "== a sample's cost, py_alloc.py $ROUNDS at rate 16384"
echo "| variant | samples | with Python frames | µs a sample |"
echo "| --- | --- | --- | --- |"
for v in off frames on; do
	# shellcheck disable=SC2046
	$(env_of "$v") MEMPROBE_PROFILE_RATE=16384 "$PY" "$SRC/py_alloc.py" "$ROUNDS" >/dev/null &
	pid=$!
	wait $pid
	sites "$pid" >"$TMP/s.json"
	"$PY" - "$TMP/s.json" "$v" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, ns = s.get("samples", 0), s.get("sample_ns", 0)
print("| %s | %d | %d | %s |" % (sys.argv[2], n, s.get("py_samples", 0),
                                 "%.2f" % (ns / n / 1000) if n else "—"))
PY
done

echo
echo "== py_prof/main.py modules at rate 16384: estimates beside what it holds"
mkfifo "$TMP/in"
env MEMPROBE_SOCKET="$TMP/a.sock" LD_PRELOAD="$AGENT" MEMPROBE_PROFILE_RATE=16384 \
	"$PY" "$ROOT/tests/progs/py_prof/main.py" modules <"$TMP/in" >"$TMP/pp" 2>&1 &
ppid=$!
exec 3>"$TMP/in"
for _ in $(seq 600); do grep -q '^ready' "$TMP/pp" && break; sleep 0.05; done
pid=$(sed -n 's/^ready //p' "$TMP/pp")
sleep 1.5           # the last samples land as they are taken: give them a moment
sites "$pid" >"$TMP/pp.json"
exec 3>&-
wait $ppid
"$PY" - "$TMP/pp" "$TMP/pp.json" <<'PY'
import json, sys
want = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("site ")]
sites = json.load(open(sys.argv[2])).get("sites", [])
print("| function | file:line | holds | estimate | error |")
print("| --- | --- | --- | --- | --- |")
for fn, file, line, nbytes in want:
    est = sum(s.get("inuse_bytes", 0) for s in sites
              if any(f.get("kind") == "python" and f.get("function") == fn and
                     (f.get("file") or "").endswith("/" + file) and f.get("line") == int(line)
                     for f in s.get("frames", [])))
    print("| %s | %s:%s | %d | %d | %+.1f%% |" % (fn, file, line, int(nbytes), est,
                                                 100.0 * (est / int(nbytes) - 1)))
PY
