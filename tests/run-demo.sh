#!/bin/sh
# run-demo.sh: starts memprobed and a demo workload under the agent, for `make run`; Ctrl-C stops both.
#
# Usage: sh tests/run-demo.sh BUILD
# MEMPROBE_PORT picks another HTTP port than 19556.

set -u

BUILD=${1:-build}
PORT=${MEMPROBE_PORT:-19556}
URL=http://127.0.0.1:$PORT

for f in "$BUILD/memprobed" "$BUILD/libmemprobe.so" "$BUILD/tests/progs/demo"; do
	if [ ! -f "$f" ]; then
		echo "run-demo.sh: $f is missing; run 'make run'" >&2
		exit 1
	fi
done
agent=$(cd "$(dirname "$BUILD/libmemprobe.so")" && pwd)/libmemprobe.so

# Something already answering on the port: our daemon could not bind it.
if curl -s -o /dev/null --max-time 2 --noproxy '*' "$URL/" 2>/dev/null; then
	echo "run-demo.sh: port $PORT on 127.0.0.1 is taken (is another memprobed running?)." >&2
	echo "Stop it, or pick another port: MEMPROBE_PORT=19557 make run" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-demo.XXXXXX") || exit 1
sock=$tmp/agent.sock
daemon_pid=
demo_pid=

cleanup() {
	trap - EXIT INT TERM
	[ -n "$demo_pid" ] && kill -TERM "$demo_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null
	[ -n "$demo_pid" ] && wait "$demo_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "stopping"; cleanup; exit 0' INT TERM

"$BUILD/memprobed" --agent-socket "$sock" --web.listen-address "127.0.0.1:$PORT" \
	--log-level info 2>"$tmp/memprobed.log" &
daemon_pid=$!

# Wait (at most 10 s) until it answers; stop early if it died.
i=0
until curl -s --max-time 1 --noproxy '*' "$URL/healthz" 2>/dev/null | grep -q ok; do
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		echo "run-demo.sh: memprobed exited at start:" >&2
		cat "$tmp/memprobed.log" >&2
		echo "If port $PORT is taken, pick another: MEMPROBE_PORT=19557 make run" >&2
		daemon_pid=
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -ge 100 ]; then
		echo "run-demo.sh: memprobed did not answer $URL/healthz within 10 s:" >&2
		cat "$tmp/memprobed.log" >&2
		exit 1
	fi
	sleep 0.1
done

MEMPROBE_SOCKET=$sock LD_PRELOAD=$agent \
	"$BUILD/tests/progs/demo" &
demo_pid=$!

ctl="$BUILD/memprobectl"
[ "$PORT" = 19556 ] || ctl="$ctl --url $URL"
cat <<MSG

memprobe demo running
  memprobed   pid $daemon_pid, HTTP $URL, agent socket $sock
  demo        pid $demo_pid, watched by the agent (memprobed reads its figures when asked)

Try, in another terminal:
  curl -s localhost:$PORT/metrics | grep memprobe_heap
  $ctl ps
  curl -s $URL/api/v1/processes
  curl -s $URL/api/v1/processes/$demo_pid/history
  $URL/ in a browser: a live table of the processes (click one for its heap
    and stack over time), with links to /metrics and the JSON API

The daemon's log: $tmp/memprobed.log (removed on exit).
Press Ctrl-C to stop.
MSG

wait "$demo_pid"
echo "run-demo.sh: the demo exited" >&2
demo_pid=
