#!/bin/sh
# memprobe-profile-targets.sh: writes the processes memprobed has heap profiles of as a file_sd target list, one target per process, for Parca (parca.yaml) and Grafana Alloy (alloy-profiles.alloy).
#
# Usage: memprobe-profile-targets.sh [URL [FILE]]
#   URL   memprobed's HTTP address (default http://127.0.0.1:19556)
#   FILE  the target list to write (default: standard output); written to
#         FILE.tmp, then renamed, so a scraper never reads half a file
#
# Each target is memprobed's host:port with labels pid and comm. Processes
# with a C agent are listed, exited ones too (their last profile stays for
# memprobed's exited_ttl); one without a profile answers 404 and the
# scraper marks that target down. Needs curl and jq.
set -eu
url=${1:-http://127.0.0.1:19556}
out=${2:-}
hostport=${url#*://}
hostport=${hostport%%/*}
list=$(curl -fsS "$url/api/v1/processes" | jq --arg t "$hostport" \
	'[.processes[] | select(.agents | index("c")) |
	  {targets: [$t], labels: {pid: (.pid | tostring), comm: .comm}}]')
if [ -z "$out" ]; then
	printf '%s\n' "$list"
else
	printf '%s\n' "$list" >"$out.tmp"
	mv "$out.tmp" "$out"
fi
