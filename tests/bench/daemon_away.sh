#!/bin/sh
# daemon_away.sh: part of `make bench`: a program's wall time with the daemon up, stopped and killed.
#
# usage: sh tests/bench/daemon_away.sh BUILD_DIR
#
# alloc_ring 2 ITER runs under four variants, side by side in rounds:
#   none      no agent
#   up        the agent, memprobed running on its socket
#   stopped   the agent, memprobed stopped with SIGSTOP (the kernel still
#             accepts connections into the backlog and queues messages until
#             the socket buffer is full; then every send fails at once)
#   killed    the agent, memprobed killed with SIGKILL (its socket file stays;
#             connect is refused and the agent backs off)
# Every agent variant samples every 10 ms (MEMPROBE_INTERVAL_MS=10), 100
# times the default, so that a stopped daemon's buffers do fill during the
# run. Each round runs every variant once with hyperfine, in an order that
# reverses every round; the table gives the median over rounds of each
# variant's time divided by no agent's time in the same round.
#
# Knobs: BENCH_AWAY_ITER (20000000), BENCH_AWAY_ROUNDS (15).
# Figures only: exits 0 whatever they are, 1 only if it cannot run.

set -u

BUILD=$(cd "${1:-build}" && pwd) || exit 1
ITER=${BENCH_AWAY_ITER:-20000000}
ROUNDS=${BENCH_AWAY_ROUNDS:-15}
RING=$BUILD/bench/alloc_ring
AGENT=$BUILD/libmemprobe.so
DAEMON=$BUILD/memprobed
OUT=$BUILD/bench/results/away
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

say() { echo "bench: $*" >&2; }
command -v hyperfine >/dev/null 2>&1 || { say "no hyperfine; daemon_away skipped"; exit 0; }
for f in "$RING" "$AGENT" "$DAEMON"; do
	[ -e "$f" ] || { say "$f is missing: run make bench"; exit 1; }
done

TMP=$(mktemp -d /tmp/memprobe-away.XXXXXX) || exit 1
PIDS=
cleanup() {
	for p in $PIDS; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1

# start NAME: a memprobed on TMP/NAME.sock (any free port); waits for the
# socket, at most 10 s.
start() {
	"$DAEMON" --agent-socket "$TMP/$1.sock" --web.listen-address 127.0.0.1:0 \
	    --log-level warn 2> "$OUT/memprobed.$1.log" &
	PIDS="$PIDS $!"
	eval "PID_$1=$!"
	i=0
	while [ ! -S "$TMP/$1.sock" ]; do
		i=$((i + 1))
		[ "$i" -gt 100 ] && { say "memprobed ($1) did not start; see $OUT/memprobed.$1.log"; exit 1; }
		sleep 0.1
	done
}
start up
start stopped
start killed
# shellcheck disable=SC2154
kill -STOP "$PID_stopped"
# shellcheck disable=SC2154
kill -KILL "$PID_killed"
wait "$PID_killed" 2>/dev/null
[ -S "$TMP/killed.sock" ] || { say "the killed daemon's socket file is gone"; exit 1; }

cmd_of() {
	case $1 in
	none) echo "env MEMPROBE_SOCKET=$TMP/none.sock $RING 2 $ITER" ;;
	*) echo "env MEMPROBE_SOCKET=$TMP/$1.sock MEMPROBE_INTERVAL_MS=10 LD_PRELOAD=$AGENT $RING 2 $ITER" ;;
	esac
}

say "daemon up, stopped and killed: alloc_ring 2 $ITER, $ROUNDS rounds"
k=1
while [ "$k" -le "$ROUNDS" ]; do
	if [ $((k % 2)) -eq 1 ]; then order="none up stopped killed"; else order="killed stopped up none"; fi
	set --
	for v in $order; do
		set -- "$@" -n "$v" "$(cmd_of "$v")"
	done
	warm=0
	[ "$k" -eq 1 ] && warm=2
	if ! hyperfine -N --warmup "$warm" --runs 1 --style none \
	    --export-json "$OUT/round.$k.json" "$@" >> "$OUT/hyperfine.log" 2>&1; then
		say "hyperfine failed; see $OUT/hyperfine.log"
		exit 1
	fi
	k=$((k + 1))
done

"$PY" - "$OUT" "$ROUNDS" "$ITER" <<'EOF'
import glob, json, os, statistics, sys

out, rounds, it = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {}
for f in sorted(glob.glob(os.path.join(out, "round.*.json"))):
    rs = {r["command"]: r["times"][0] for r in json.load(open(f))["results"]}
    for v, t in rs.items():
        times.setdefault(v, []).append((t, rs["none"]))
print()
print(f"### The daemon up, stopped, killed: alloc_ring 2 {it}, {rounds} rounds")
print()
print("| variant | median wall | median ratio to no agent [IQR] |")
print("| --- | --- | --- |")
for v in ["none", "up", "stopped", "killed"]:
    ts = [t for t, _ in times[v]]
    rs = sorted(t / n for t, n in times[v])
    q = statistics.quantiles(rs, n=4) if len(rs) >= 2 else [rs[0]] * 3
    ratio = "1" if v == "none" else f"{statistics.median(rs):.3f} [{q[0]:.3f}–{q[2]:.3f}]"
    print(f"| {v} | {statistics.median(ts) * 1000:.0f} ms | {ratio} |")
EOF
exit 0
