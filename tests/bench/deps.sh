#!/bin/sh
# deps.sh: makes sure the tools `make bench` measures with are installed.
#
# usage: sh tests/bench/deps.sh [PACKAGE...]   (default: make bench's own)
#
# As root it installs the missing Debian packages; otherwise it names them
# and exits 1, and run.sh skips what needs them. glibc's libmemusage.so comes
# with libc6 and needs nothing. Prints nothing when everything is there.

set -u

# valgrind (callgrind), hyperfine (wall time), heaptrack (a reference
# profiler; zstd makes it compress like a default install does).
PACKAGES=${*:-valgrind hyperfine heaptrack zstd}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ||
	    command -v "$1" >/dev/null 2>&1
}

missing=
for p in $PACKAGES; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "bench: missing tools:$missing (not a Debian system: install them by hand)" >&2
	exit 1
fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: missing tools:$missing; install them with:" >&2
	echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive $cmd" >&2
	exit 1
fi
echo "bench: installing$missing"
apt-get update >/dev/null || exit 1
DEBIAN_FRONTEND=noninteractive $cmd >/dev/null || exit 1
