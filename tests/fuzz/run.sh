#!/bin/sh
# run.sh: runs each libFuzzer target for a bounded time on a copy of its seed corpus.
#
# Usage: sh tests/fuzz/run.sh BUILD SECONDS TARGET...
# The committed seeds under tests/fuzz/corpus/TARGET are read, never
# written; new inputs go to a temporary corpus. A crash, leak or timeout
# leaves its reproducer in BUILD/fuzz/artifacts/ and fails the run: add it
# to the seeds and fix the bug, so it stays a regression test.
set -u
BUILD=$1
SECONDS_EACH=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$BUILD/fuzz/artifacts"
passed=0
failed=0
for t in "$@"; do
	mkdir -p "$work/$t"
	echo "== fuzz_$t (${SECONDS_EACH}s)"
	if "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$BUILD/fuzz/artifacts/$t-" \
		"$work/$t" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$work/$t.log" | tail -2
		echo "PASS fuzz_$t"
		passed=$((passed + 1))
	else
		tail -40 "$work/$t.log"
		echo "FAIL fuzz_$t"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
