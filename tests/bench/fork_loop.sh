#!/bin/sh
# fork_loop.sh: `make bench`: a fork/malloc/_exit loop with no agent and with the agent, the daemon up.
#
# usage: sh tests/bench/fork_loop.sh BUILD_DIR
# The agent's cost per fork: a child registers its own region (memfd, one
# connection, closed at once) only once it has allocated AGENT_CHILD_BYTES
# (64 KiB) of its own, so no child of this loop registers; what it measures
# is the fork path itself (BENCHMARKS.md, "The invisible guest"). Wall time with hyperfine (BENCH_FORK_RUNS runs of
# BENCH_FORK_ITER forks, defaults 20 and 2000); instructions with callgrind
# are not meaningful across processes and are not taken. Prints a table;
# exits 0 whatever the figures.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 1
RUNS=${BENCH_FORK_RUNS:-20}
ITER=${BENCH_FORK_ITER:-2000}
PROG=$BUILD/bench/fork_loop
command -v hyperfine >/dev/null 2>&1 || { echo "bench: no hyperfine; fork loop skipped" >&2; exit 0; }
TMP=$(mktemp -d /tmp/memprobe-fork.XXXXXX) || exit 1
trap 'kill $dpid 2>/dev/null; wait $dpid 2>/dev/null; rm -rf "$TMP"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BUILD/memprobed" --agent-socket "$TMP/a.sock" --web.listen-address "127.0.0.1:$port" \
	--exited-ttl 1 --max-processes 100000 2>"$TMP/log" &
dpid=$!
for _ in $(seq 100); do [ -S "$TMP/a.sock" ] && break; sleep 0.05; done
hyperfine -N -w 2 -r "$RUNS" --export-json "$TMP/fork.json" \
	-n none "$PROG $ITER" \
	-n memprobe "env MEMPROBE_SOCKET=$TMP/a.sock LD_PRELOAD=$BUILD/libmemprobe.so $PROG $ITER" \
	>"$TMP/hf.log" 2>&1 || { cat "$TMP/hf.log"; exit 0; }
python3 - "$TMP/fork.json" "$ITER" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
base = r["none"]["median"]
print("fork loop (%d forks, median of %d runs)" % (n, len(r["none"]["times"])))
print("| variant | wall s | per fork | ratio |")
print("| --- | --- | --- | --- |")
for k in ("none", "memprobe"):
    m = r[k]["median"]
    print("| %s | %.3f | %.1f µs | %.2f× |" % (k, m, m / n * 1e6, m / base))
PY
