#!/bin/sh
# test_pyinstall.sh: the Python agent installs into a fresh venv on Debian's own Python as the README says, with no network, and `python -m memprobe run` from there reports to a real memprobed.
#
# Usage: sh tests/shell/test_pyinstall.sh BUILD   (from the source tree; tests/run.sh runs it)
# Prints "PASS name" / "FAIL name" lines like the other test binaries.
#
# The README's commands, on a copy of client/python (pip builds in the
# source directory): /usr/bin/python3 -m venv --system-site-packages V, then
# V/bin/pip install --no-index --no-build-isolation (Debian's setuptools and
# wheel, from the system site, build it; --no-index: no network). Then
# V/bin/python -m memprobe run SCRIPT, with MEMPROBE_LIBRARY naming the
# build's libmemprobe.so, against memprobed on a temporary socket and port:
# the script's process shows both agents and the interpreter's figures, it
# imported memprobe from the venv, and its exit status comes back.

set -u

BUILD=${1:-build}
PY=/usr/bin/python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-pyinstall.XXXXXX") || exit 1
daemon_pid=
run_pid=
trap 'exec 3>&-; kill $run_pid $daemon_pid 2>/dev/null; wait; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

. "$(dirname "$0")/harness.sh"

if [ ! -x "$PY" ] || ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
	echo "info test_pyinstall: $PY or its venv module (python3-venv) is missing; skipped"
	exit 0
fi
src=$(pwd)
BUILD=$(cd "$BUILD" && pwd) || exit 1
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
sock=$tmp/agent.sock
V=$tmp/venv

# poll CMD...: runs CMD until it succeeds, at most 200 times 0.05 s apart.
poll() {
	i=0
	while [ "$i" -lt 200 ]; do
		"$@" >/dev/null 2>&1 && return 0
		i=$((i + 1))
		sleep 0.05
	done
	return 1
}

# ---- pyinstall_venv: the README's install, offline ----
begin
cp -r "$src/client/python" "$tmp/src" || fail "cannot copy client/python"
if ! "$PY" -m venv --system-site-packages "$V" >"$tmp/venv.log" 2>&1; then
	fail "python3 -m venv --system-site-packages failed:"
	sed 's/^/    /' "$tmp/venv.log" >&2
elif ! "$V/bin/pip" install --no-index --no-build-isolation "$tmp/src" >"$tmp/pip.log" 2>&1; then
	fail "pip install --no-index --no-build-isolation failed:"
	sed 's/^/    /' "$tmp/pip.log" >&2
fi
want="memprobe $(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$src/client/python/memprobe/__init__.py")"
got=$(cd "$tmp" && "$V/bin/python" -m memprobe --version 2>&1)
[ "$got" = "$want" ] || fail "--version from the venv: \"$got\", want \"$want\""
end pyinstall_venv

# ---- pyinstall_run: python -m memprobe run from the venv, against memprobed ----
begin
"$BUILD/memprobed" --agent-socket "$sock" --web.listen-address "127.0.0.1:$port" \
	>"$tmp/memprobed.log" 2>&1 &
daemon_pid=$!
poll curl -sf --noproxy '*' "$url/healthz" || fail "memprobed did not answer $url/healthz"
cat >"$tmp/script.py" <<'EOF'
import os, sys
import memprobe
held = [object() for _ in range(50000)]
print("ready", os.getpid(), memprobe.__file__, flush=True)
sys.stdin.readline()
sys.exit(5)
EOF
mkfifo "$tmp/run.in" || exit 1
# From the scratch directory, with no PYTHONPATH: memprobe comes from the venv.
(cd "$tmp" && exec env -u PYTHONPATH MEMPROBE_SOCKET="$sock" MEMPROBE_LIBRARY="$BUILD/libmemprobe.so" \
    "$V/bin/python" -m memprobe run --interval 0.1 script.py) <"$tmp/run.in" >"$tmp/run.out" 2>&1 &
run_pid=$!
exec 3>"$tmp/run.in"
poll grep -q '^ready' "$tmp/run.out" || fail "the script did not start: $(cat "$tmp/run.out")"
set -- $(sed -n 's/^ready //p' "$tmp/run.out")
pid=${1:-0}
case ${2:-} in
"$V"/lib/*) ;;
*) fail "memprobe imported from ${2:-nowhere}, not from the venv" ;;
esac
# Bounded poll: the process's entry with both agents and the figures.
has_figures() {
	curl -sf --noproxy '*' "$url/api/v1/processes/$pid" | "$PY" -c '
import json, sys
e = json.load(sys.stdin)
ok = sorted(e.get("agents", [])) == ["c", "python"] and \
    e.get("python", {}).get("allocated_blocks", 0) >= 50000 and \
    e.get("heap", {}).get("live_bytes", 0) > 0
sys.exit(0 if ok else 1)'
}
if ! poll has_figures; then
	fail "memprobed does not show pid $pid with both agents and its figures:"
	curl -s --noproxy '*' "$url/api/v1/processes/$pid" | sed 's/^/    /' >&2
fi
exec 3>&-
wait "$run_pid"
st=$?
run_pid=
[ "$st" -eq 5 ] || fail "python -m memprobe run exited $st, the script 5: $(cat "$tmp/run.out")"
end pyinstall_run

[ "$failures" -eq 0 ]
