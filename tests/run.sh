#!/bin/sh
# run.sh: runs every unit test binary and the integration tests, then sums up PASS/FAIL.
#
# Usage: sh tests/run.sh BUILD
# Each binary prints "PASS name" / "FAIL name" lines. A binary that exits
# non-zero without printing FAIL (a crash, a timeout) counts as one failure
# named after it. Closes with "tests: N passed, M failed"; exits 1 when M > 0
# or when nothing passed.

set -u

BUILD=${1:-build}
# One binary may take this long before it counts as hung.
TIMEOUT=${MEMPROBE_TEST_TIMEOUT:-600}

if [ ! -d "$BUILD" ]; then
	echo "run.sh: build directory $BUILD not found; run 'make test'" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-run.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
failures=

# run NAME CMD...: runs one test binary, shows its output as it comes and
# counts its PASS/FAIL lines.
run() {
	name=$1
	shift
	log=$work/log
	rcfile=$work/rc
	echo "== $name"
	{ timeout -k 10 "$TIMEOUT" "$@" 2>&1; echo $? >"$rcfile"; } | tee "$log"
	rc=$(cat "$rcfile")
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	for t in $(sed -n 's/^FAIL \([^ ]*\).*/\1/p' "$log"); do
		failures="$failures $name:$t"
	done
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "$name: timed out after ${TIMEOUT}s"
		else
			echo "$name: exited with status $rc without a FAIL line"
		fi
		failed=$((failed + 1))
		failures="$failures $name"
	fi
}

# One binary per tests/unit/test_*.c; a binary left in an old build
# directory by a test since removed is not run.
for src in tests/unit/test_*.c; do
	name=$(basename "$src" .c)
	bin=$BUILD/tests/$name
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	run "$name" "$bin"
done

# The Python agent's unit tests, against the package in the source tree,
# under python3 and, when it is another interpreter, the system's too.
pyid='import sys; print(sys.version, sys.prefix)'
syspy=
if [ -x /usr/bin/python3 ] &&
    [ "$(/usr/bin/python3 -c "$pyid" 2>&1)" != "$(python3 -c "$pyid" 2>&1)" ]; then
	syspy=/usr/bin/python3
fi
for t in tests/python/test_*.py; do
	[ -f "$t" ] || continue
	run "$(basename "$t")" env PYTHONPATH=client/python MEMPROBE_BUILD="$BUILD" python3 "$t"
	[ -n "$syspy" ] || continue
	run "system-python:$(basename "$t")" env PYTHONPATH=client/python MEMPROBE_BUILD="$BUILD" \
	    "$syspy" "$t"
done

# Shell tests (tests/shell/test_*.sh BUILD): installation and the systemd units.
for t in tests/shell/test_*.sh; do
	[ -f "$t" ] || continue
	run "$(basename "$t" .sh)" sh "$t" "$BUILD"
done

if [ -x "$BUILD/tests/integration" ]; then
	run integration "$BUILD/tests/integration" "$BUILD"
else
	echo "run.sh: $BUILD/tests/integration is missing"
	failed=$((failed + 1))
	failures="$failures integration"
fi

echo
if [ "$failed" -gt 0 ]; then
	echo "failed:"
	for t in $failures; do
		echo "  $t"
	done
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
