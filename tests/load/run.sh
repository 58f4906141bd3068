#!/bin/sh
# run.sh: `make bench-daemon`: memprobed with 1,000 and 10,000 registered regions, and 1,000 old-protocol agents at 10 Hz.
#
# Usage: sh tests/load/run.sh BUILD. Figures only, never a failure
# on them; see BENCHMARKS.md ("Daemon" and "The invisible guest (issue 12)")
# for what they mean.
set -u
BUILD=${1:-build}
L=$BUILD/load/daemon_load
echo "== 1,000 processes, each a registered region, with process-exporter beside"
$L "$BUILD" 1000 1000 5 --regions --exporter
echo "== 10,000 processes, each a registered region, with process-exporter beside"
$L "$BUILD" 10000 1000 5 --regions --exporter
echo "== 1,000 processes at 10 Hz over the old protocol (HELLO, SAMPLE: 10,000 messages a second)"
$L "$BUILD" 1000 100 10
