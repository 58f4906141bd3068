#!/bin/sh
# run.sh: `make bench-daemon`: memprobed with 1,000 and 10,000 helper processes, and 1,000 at 10 Hz.
#
# Usage: sh tests/load/run.sh BUILD. Figures only, never a failure
# on them; see BENCHMARKS.md ("Daemon") for what they mean.
set -u
BUILD=${1:-build}
L=$BUILD/load/daemon_load
echo "== 1,000 processes, a sample a second each, with process-exporter beside"
$L "$BUILD" 1000 1000 5 --exporter
echo "== 1,000 processes at 10 Hz (10,000 messages a second)"
$L "$BUILD" 1000 100 10
echo "== 10,000 processes, a sample a second each, with process-exporter beside"
$L "$BUILD" 10000 1000 5 --exporter
