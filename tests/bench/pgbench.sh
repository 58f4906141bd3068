#!/bin/sh
# pgbench.sh: `make bench`: PostgreSQL 15 under pgbench (8 clients) without and with the agent (profiling at its default), alternated.
#
# usage: sh tests/bench/pgbench.sh BUILD_DIR
#
# A throwaway cluster (initdb in a temp dir, a Unix socket only, fsync and
# synchronous_commit off so the disk does not set the pace) is started
# BENCH_PG_ROUNDS times (default 4) for each variant, the variants
# alternating; each start runs `pgbench -c 8 -j 2 -T BENCH_PG_SECONDS`
# (default 20) of the default TPC-B-like script on a scale-10 database.
# With the agent the postmaster is started with LD_PRELOAD, so every
# backend (a fork of it) counts and samples its own heap, and reports to a
# memprobed started here. Prints tps per run, the ratio of the medians and,
# from memprobed, the samples the backends took and their cost. Exits 0
# whatever the figures; skipped when PostgreSQL 15 is not installed.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 1
ROUNDS=${BENCH_PG_ROUNDS:-4}
SECONDS_=${BENCH_PG_SECONDS:-20}
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] ||
	{ echo "bench: no PostgreSQL 15 ($PGBIN); pgbench skipped" >&2; exit 0; }
id postgres >/dev/null 2>&1 || { echo "bench: no user postgres; pgbench skipped" >&2; exit 0; }
TMP=$(mktemp -d /tmp/memprobe-pg.XXXXXX) || exit 1
chmod 755 "$TMP"
dpid=
stop_pg() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/data" -m fast -w stop >/dev/null 2>&1; }
trap 'stop_pg; [ -n "$dpid" ] && kill $dpid 2>/dev/null; rm -rf "$TMP"' EXIT
as_pg() { runuser -u postgres -- "$@"; }

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BUILD/memprobed" --agent-socket "$TMP/a.sock" --web.listen-address "127.0.0.1:$port" \
	--exited-ttl 3600 2>"$TMP/memprobed.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$TMP/a.sock" ] && break; sleep 0.05; done
chmod 777 "$TMP/a.sock"

mkdir "$TMP/data" "$TMP/run" && chown postgres "$TMP/data" "$TMP/run"
as_pg "$PGBIN/initdb" -D "$TMP/data" -A trust >"$TMP/initdb.log" 2>&1 ||
	{ echo "bench: initdb failed; see $TMP/initdb.log" >&2; cat "$TMP/initdb.log" >&2; exit 0; }
OPTS="-c listen_addresses= -c unix_socket_directories=$TMP/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

# start VARIANT: starts the cluster, preloading the agent for "memprobe".
start_pg() {
	if [ "$1" = memprobe ]; then
		as_pg env MEMPROBE_SOCKET="$TMP/a.sock" LD_PRELOAD="$BUILD/libmemprobe.so" \
			"$PGBIN/pg_ctl" -D "$TMP/data" -o "$OPTS" -l "$TMP/run/pg.log" -w start >/dev/null
	else
		as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -o "$OPTS" -l "$TMP/run/pg.log" -w start >/dev/null
	fi
}

start_pg none || { echo "bench: postgres did not start; see $TMP/run/pg.log" >&2; exit 0; }
as_pg "$PGBIN/pgbench" -h "$TMP/run" -i -s 10 -q postgres >"$TMP/init.log" 2>&1
stop_pg

: >"$TMP/tps"
k=1
while [ "$k" -le "$ROUNDS" ]; do
	if [ $((k % 2)) -eq 1 ]; then order="none memprobe"; else order="memprobe none"; fi
	for v in $order; do
		start_pg "$v" || { echo "bench: postgres did not start ($v)" >&2; exit 0; }
		tps=$(as_pg "$PGBIN/pgbench" -h "$TMP/run" -c 8 -j 2 -T "$SECONDS_" postgres 2>&1 |
			sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
		stop_pg
		echo "$v $tps" >>"$TMP/tps"
	done
	k=$((k + 1))
done

curl -s "http://127.0.0.1:$port/api/v1/processes" >"$TMP/procs.json" 2>/dev/null
python3 - "$TMP/tps" "$SECONDS_" "$TMP/procs.json" "http://127.0.0.1:$port" <<'PY'
import json, statistics, sys, urllib.request
runs = {}
for line in open(sys.argv[1]):
    v, *t = line.split()
    if t:
        runs.setdefault(v, []).append(float(t[0]))
secs = float(sys.argv[2])
print("pgbench -c 8 -j 2 -T %d, scale 10, PostgreSQL 15 (tps per run, alternated)" % secs)
print("| variant | runs | tps per run | median tps |")
print("| --- | --- | --- | --- |")
for v in ("none", "memprobe"):
    t = runs.get(v, [])
    print("| %s | %d | %s | %.0f |" % (v, len(t), ", ".join("%.0f" % x for x in t),
                                      statistics.median(t) if t else 0))
if runs.get("none") and runs.get("memprobe"):
    print("ratio of medians (memprobe / none): %.3f" %
          (statistics.median(runs["memprobe"]) / statistics.median(runs["none"])))
# The samples the postgres processes took, from memprobed.
try:
    procs = json.load(open(sys.argv[3]))
    procs = procs.get("processes", procs) if isinstance(procs, dict) else procs
except Exception:
    procs = []
samples = ns = 0
for p in procs:
    if p.get("comm") != "postgres":
        continue
    try:
        with urllib.request.urlopen("%s/api/v1/processes/%d/sites?top=1" % (sys.argv[4], p["pid"])) as r:
            s = json.load(r)
    except Exception:
        continue
    samples += s.get("samples", 0)
    ns += s.get("sample_ns", 0)
n = len(runs.get("memprobe", []))
if samples and n:
    print("samples by the postgres processes: %d over %d runs of %d s: %.0f a second; "
          "%.1f µs a sample (capture and bookkeeping)" %
          (samples, n, secs, samples / (n * secs), ns / samples / 1000))
PY
exit 0
