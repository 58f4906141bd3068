#!/bin/sh
# deps.sh: makes sure the Debian packages that build and test memprobe are installed.
#
# As root it installs what is missing; otherwise it names the command to run
# and exits 1. Prints nothing when everything is there.

set -u

# Build: compiler, make, pkg-config and the libraries; test: libcurl and
# jansson (again), promtool and a Prometheus server (prometheus), curl,
# python3 and its prometheus_client (the OpenMetrics parser), systemd
# (systemd-analyze, systemd-socket-activate, systemd-sysusers; it need not
# run as PID 1), procps (/bin/kill, which memprobed.service's ExecReload=
# names and systemd-analyze verify looks for), chromium (renders the live
# page headless), openssl (the web config tests make their CA and
# certificates with it). libgnutls28-dev and libcrypt-dev: TLS client
# certificates and bcrypt for --web.config.file; libyaml-dev reads that
# file. libpython3.11-testsuite:
# CPython's own tests, run under the agent (tests/shell/test_cpython.sh).
# libjemalloc2 and libtcmalloc-minimal4: allocators the agent is tested above.
# jq and less: the docs' examples pipe into them (tests/shell/test_docs.sh).
# libprotobuf-c-dev and protobuf-c-compiler: pprof profiles, from
# daemon/profile.proto; golang-go: `go tool pprof` reads them in the tests.
# libdw-dev and libelf-dev: elfutils, which symbolizes addresses (daemon/symbolize.c).
# g++: a C++ test program (operator new, exceptions) for the heap profile.
# python3.11-dev: CPython's headers, which the agent's offsets into its
# frames are checked against (tests/unit/test_pylayout.c). valgrind: a
# program run under it with the agent preloaded (guest_valgrind).
# python3-venv, python3-setuptools and python3-wheel: the Python agent
# installed into a venv offline, as the README says (tests/shell/test_pyinstall.sh).
PACKAGES="gcc g++ make pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
libinih-dev libsystemd-dev zlib1g-dev libgnutls28-dev libcrypt-dev libyaml-dev prometheus curl python3
python3-prometheus-client systemd procps chromium openssl libpython3.11-testsuite libjemalloc2
libtcmalloc-minimal4 jq less libprotobuf-c-dev protobuf-c-compiler golang-go libdw-dev libelf-dev
python3-venv python3-setuptools python3-wheel python3.11-dev valgrind"

installed() {
	case $1 in
	# Tools that may also come from elsewhere on PATH.
	prometheus) command -v promtool >/dev/null 2>&1 && return 0 ;;
	python3) command -v python3 >/dev/null 2>&1 && return 0 ;;
	esac
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system (no dpkg-query); install by hand: $(echo $PACKAGES)" >&2
	exit 1
fi

missing=
for p in $PACKAGES; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "memprobe needs these Debian packages:$missing" >&2
	echo "install them with:" >&2
	echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive $cmd" >&2
	exit 1
fi

echo "deps.sh: installing$missing"
apt-get update || exit 1
DEBIAN_FRONTEND=noninteractive $cmd || exit 1
