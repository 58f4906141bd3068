#!/bin/sh
# profile.sh: `make bench`: what the heap profile costs and how close it is: samples per second and per-sample cost per workload, estimates beside heaptrack's exact totals, memprobed's memory for full profiles.
#
# usage: sh tests/bench/profile.sh BUILD_DIR
#
# 1. alloc_ring (1 thread, BENCH_PROF_ITER iterations, default 20,000,000)
#    and python3 py_alloc.py (BENCH_PY_ROUNDS, default 200) with the agent
#    at its default rate: samples, samples per second of the run, and
#    microseconds per sample (stack capture and bookkeeping, as the agent
#    times them), read back from memprobed's /sites.
# 2. tests/progs/prof_sites: memprobe's in-use estimates at the default
#    rate and at 16384, beside the exact usable bytes the program counts
#    and heaptrack's exact per-site peaks (heaptrack_print; heaptrack counts
#    the sizes asked for, memprobe the usable sizes: a few bytes a block).
# 3. memprobed's memory for profiles: 20 processes of 4,096 stacks each
#    (prof_cases stacks 13 at rate 64), read from /api/v1/status
#    (profile_bytes) and memprobed's VmRSS before and after.
# Prints tables; exits 0 whatever the figures.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")" && pwd)
ITER=${BENCH_PROF_ITER:-20000000}
PY_ROUNDS=${BENCH_PY_ROUNDS:-200}
AGENT=$BUILD/libmemprobe.so
TMP=$(mktemp -d /tmp/memprobe-prof.XXXXXX) || exit 1
dpid=
trap 'pkill -P $$ 2>/dev/null; [ -n "$dpid" ] && kill $dpid 2>/dev/null; rm -rf "$TMP"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
URL=http://127.0.0.1:$port
"$BUILD/memprobed" --agent-socket "$TMP/a.sock" --web.listen-address "127.0.0.1:$port" \
	--exited-ttl 3600 2>"$TMP/memprobed.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$TMP/a.sock" ] && break; sleep 0.05; done

# sites PID QUERY: the /sites JSON of PID, waited for (bounded).
sites() {
	for _ in $(seq 100); do
		curl -sf "$URL/api/v1/processes/$1/sites?$2" && return 0
		sleep 0.1
	done
	echo '{}'
}

# run_timed NAME CMD...: runs CMD with the agent; prints "NAME PID SECONDS".
run_timed() {
	name=$1
	shift
	t0=$(date +%s.%N)
	env MEMPROBE_SOCKET="$TMP/a.sock" LD_PRELOAD="$AGENT" "$@" >/dev/null 2>&1 &
	pid=$!
	wait $pid
	t1=$(date +%s.%N)
	echo "$name $pid $(echo "$t1 - $t0" | bc)"
}

echo "== samples and their cost, default rate (524288)"
{
	run_timed alloc_ring "$BUILD/bench/alloc_ring" 1 "$ITER"
	run_timed py_alloc python3 "$SRC/py_alloc.py" "$PY_ROUNDS"
} >"$TMP/runs"
echo "| workload | seconds | samples | samples/s | µs a sample |"
echo "| --- | --- | --- | --- | --- |"
while read -r name pid secs; do
	sites "$pid" top=1 >"$TMP/s.json"
	python3 - "$TMP/s.json" "$name" "$secs" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, ns, secs = s.get("samples", 0), s.get("sample_ns", 0), float(sys.argv[3])
print("| %s | %.2f | %d | %.0f | %s |" % (sys.argv[2], secs, n, n / secs if secs else 0,
                                         "%.2f" % (ns / n / 1000) if n else "—"))
PY
done <"$TMP/runs"

echo
echo "== prof_sites: estimates beside exact figures and heaptrack"
for rate in 524288 16384; do
	rm -f "$TMP/in.$rate"
	mkfifo "$TMP/in.$rate"
	env MEMPROBE_SOCKET="$TMP/a.sock" LD_PRELOAD="$AGENT" MEMPROBE_PROFILE_RATE=$rate \
		"$BUILD/tests/progs/prof_sites" <"$TMP/in.$rate" >"$TMP/ps.$rate" 2>&1 &
	ppid=$!
	exec 3>"$TMP/in.$rate"
	for _ in $(seq 200); do grep -q '^ready' "$TMP/ps.$rate" && break; sleep 0.05; done
	pid=$(sed -n 's/^ready //p' "$TMP/ps.$rate")
	sleep 1.5          # memprobed reads a profile when asked: let the last samples land
	sites "$pid" top=20 >"$TMP/sites.$rate"
	echo exit >&3
	exec 3>&-
	wait $ppid
done
if command -v heaptrack >/dev/null 2>&1 && command -v heaptrack_print >/dev/null 2>&1; then
	echo exit | heaptrack -o "$TMP/ht" "$BUILD/tests/progs/prof_sites" >/dev/null 2>&1
	heaptrack_print -f "$TMP"/ht*.zst -p 1 -a 0 -T 0 -n 10 -s 1 >"$TMP/ht.txt" 2>/dev/null
fi
python3 - "$TMP/ps.524288" "$TMP/sites.524288" "$TMP/sites.16384" "$TMP/ht.txt" <<'PY'
import json, re, sys
exact = {}
for line in open(sys.argv[1]):
    m = re.match(r"site (\S+) inuse (\d+) \d+ alloc (\d+)", line)
    if m:
        exact[m.group(1)] = (int(m.group(2)), int(m.group(3)))
def est(path):
    out = {}
    try:
        for s in json.load(open(path)).get("sites", []):
            fn = s.get("function") or ""
            a = out.setdefault(fn, [0, 0])
            a[0] += s.get("inuse_bytes", 0)
            a[1] += s.get("alloc_bytes", 0)
    except Exception:
        pass
    return out
d, l = est(sys.argv[2]), est(sys.argv[3])
ht = {}
try:
    text = open(sys.argv[4]).read()
    for m in re.finditer(r"^([\d.]+)([KMG]?) peak memory consumed over \d+ calls from\n(\S+)", text, re.M):
        ht[m.group(3)] = float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
except OSError:
    pass
print("| site | exact usable in use (MB) | memprobe @524288 | memprobe @16384 | heaptrack peak (requested, MB) |")
print("| --- | --- | --- | --- | --- |")
for name in ("hold_a", "hold_b", "hold_c"):
    e = exact.get(name, (0, 0))[0]
    def f(x):
        return "%.2f (%+.1f%%)" % (x / 1e6, (x / e - 1) * 100) if e else "—"
    print("| %s | %.2f | %s | %s | %s |" % (name, e / 1e6, f(d.get(name, [0])[0]),
          f(l.get(name, [0])[0]), "%.2f" % (ht[name] / 1e6) if name in ht else "—"))
e = exact.get("churn_d", (0, 0))[1]
print("| churn_d (allocated) | %.2f | %.2f | %.2f | — |" % (e / 1e6, d.get("churn_d", [0, 0])[1] / 1e6,
      l.get("churn_d", [0, 0])[1] / 1e6))
PY

echo
echo "== memprobed's memory for full profiles (20 processes x 4,096 stacks)"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$dpid/status"; }
rss0=$(rss)
: >"$TMP/stack_pids"
# Each waits on a stdin that never ends (a sleep's pipe); the EXIT trap
# ends them all.
for i in $(seq 20); do
	sleep 3600 | env MEMPROBE_SOCKET="$TMP/a.sock" LD_PRELOAD="$AGENT" MEMPROBE_PROFILE_RATE=64 \
		"$BUILD/tests/progs/prof_cases" stacks 13 >"$TMP/so.$i" 2>&1 &
done
for i in $(seq 20); do
	for _ in $(seq 200); do grep -q '^ready' "$TMP/so.$i" && break; sleep 0.05; done
	pid=$(sed -n 's/^ready //p' "$TMP/so.$i")
	sites "$pid" top=65536 >/dev/null       # each profile read (and kept) once
done
rss1=$(rss)
curl -s "$URL/api/v1/status" >"$TMP/status.json"
python3 - "$TMP/status.json" "$rss0" "$rss1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def find(o, k):
    if isinstance(o, dict):
        for a, b in o.items():
            if a == k:
                return b
            r = find(b, k)
            if r is not None:
                return r
    return None
pb = find(s, "profile_bytes") or 0
r0, r1 = int(sys.argv[2] or 0), int(sys.argv[3] or 0)
print("| measure | figure |")
print("| --- | --- |")
print("| profile_bytes (/api/v1/status), 20 processes | %d (%.0f KiB a process) |" % (pb, pb / 20 / 1024))
print("| memprobed VmRSS before → after | %d → %d KiB (+%.0f KiB a process) |" % (r0, r1, (r1 - r0) / 20))
PY
exit 0
