#!/bin/sh
# test_install.sh: `make install` into a DESTDIR: the files, the systemd units (verify, security score), sysusers, a program built with pkg-config.
#
# Usage: sh tests/shell/test_install.sh BUILD   (from the source tree; tests/run.sh runs it)
# Prints "PASS name" / "FAIL name" lines like the other test binaries.

set -u

BUILD=${1:-build}
MAKE=${MAKE:-make}
CC=${CC:-cc}
# The highest `systemd-analyze security --offline=yes` exposure accepted.
MAX_EXPOSURE=2.0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
prefix=/usr/local
units=$dest$prefix/lib/systemd/system

. "$(dirname "$0")/harness.sh"

# make install from this tree into $1 with PREFIX $2; output in $tmp/make.log.
do_install() {
	$MAKE -s --no-print-directory BUILD="$BUILD" DESTDIR="$1" PREFIX="$2" install \
		>"$tmp/make.log" 2>&1
}

# ---- install_layout: every file, where it belongs, with the prefix in it ----
begin
if ! do_install "$dest" "$prefix"; then
	fail "make install DESTDIR=$dest failed:"
	sed 's/^/    /' "$tmp/make.log" >&2
fi
{
	echo etc/memprobe/memprobed.conf
	echo usr/local/bin/memprobectl
	echo usr/local/include/memprobe.h
	echo usr/local/lib/libmemprobe.so
	echo usr/local/lib/pkgconfig/memprobe.pc
	echo usr/local/lib/systemd/system/memprobed-http.socket
	echo usr/local/lib/systemd/system/memprobed.service
	echo usr/local/lib/systemd/system/memprobed.socket
	echo usr/local/lib/sysusers.d/memprobe.conf
	echo usr/local/sbin/memprobed
	echo usr/local/share/doc/memprobe/memprobe-agent.conf
	for m in man/*.[1-8]; do
		[ -f "$m" ] && echo "usr/local/share/man/man${m##*.}/${m#man/}"
	done
} | LC_ALL=C sort >"$tmp/want"
(cd "$dest" 2>/dev/null && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort) >"$tmp/got"
if ! cmp -s "$tmp/want" "$tmp/got"; then
	fail "installed files differ from the expected list (-want +got):"
	diff "$tmp/want" "$tmp/got" | sed -n 's/^[<>]/    &/p' >&2
fi
for f in man/memprobed.8 man/memprobed.conf.5 man/libmemprobe.3; do
	grep -qx "usr/local/share/man/man${f##*.}/${f#man/}" "$tmp/got" || fail "$f not installed"
done
echo "installed files:"
sed 's|^|  /|' "$tmp/got"
cmp -s "$BUILD/memprobed" "$dest$prefix/sbin/memprobed" || fail "sbin/memprobed is not $BUILD/memprobed"
cmp -s "$BUILD/libmemprobe.so" "$dest$prefix/lib/libmemprobe.so" || fail "lib/libmemprobe.so differs"
cmp -s client/agent/memprobe.h "$dest$prefix/include/memprobe.h" || fail "include/memprobe.h differs"
cmp -s config/memprobed.conf "$dest/etc/memprobe/memprobed.conf" || fail "memprobed.conf differs"
[ -x "$dest$prefix/sbin/memprobed" ] && [ -x "$dest$prefix/bin/memprobectl" ] ||
	fail "binaries not executable"
grep -qx "ExecStart=$prefix/sbin/memprobed" "$units/memprobed.service" ||
	fail "memprobed.service: ExecStart is not $prefix/sbin/memprobed"
grep -qx "Environment=LD_PRELOAD=$prefix/lib/libmemprobe.so" \
	"$dest$prefix/share/doc/memprobe/memprobe-agent.conf" ||
	fail "memprobe-agent.conf: LD_PRELOAD is not $prefix/lib/libmemprobe.so"
grep -qx "prefix=$prefix" "$dest$prefix/lib/pkgconfig/memprobe.pc" || fail "memprobe.pc: prefix"
grep -qx "Version: $(cat VERSION)" "$dest$prefix/lib/pkgconfig/memprobe.pc" || fail "memprobe.pc: version"
# Another prefix: every installed path follows it.
if do_install "$tmp/opt" /opt/memprobe; then
	grep -qx "ExecStart=/opt/memprobe/sbin/memprobed" \
		"$tmp/opt/opt/memprobe/lib/systemd/system/memprobed.service" ||
		fail "PREFIX=/opt/memprobe: ExecStart not rewritten"
	grep -qx "Environment=LD_PRELOAD=/opt/memprobe/lib/libmemprobe.so" \
		"$tmp/opt/opt/memprobe/share/doc/memprobe/memprobe-agent.conf" ||
		fail "PREFIX=/opt/memprobe: LD_PRELOAD not rewritten"
	grep -qx "libdir=/opt/memprobe/lib" "$tmp/opt/opt/memprobe/lib/pkgconfig/memprobe.pc" ||
		fail "PREFIX=/opt/memprobe: memprobe.pc libdir"
	[ -x "$tmp/opt/opt/memprobe/sbin/memprobed" ] || fail "PREFIX=/opt/memprobe: no sbin/memprobed"
else
	fail "make install PREFIX=/opt/memprobe failed"
	sed 's/^/    /' "$tmp/make.log" >&2
fi
end install_layout

# ---- units_verify: systemd-analyze verify on the installed units ----
# systemd need not run. verify checks that ExecStart= is executable, so a
# copy of the service names the DESTDIR binary; Documentation= man pages are
# looked up in the DESTDIR's man directory (with man-db; else not checked).
begin
if ! command -v systemd-analyze >/dev/null 2>&1; then
	fail "systemd-analyze not found: install the package systemd (make deps)"
else
	mkdir -p "$tmp/verify"
	sed "s|^ExecStart=$prefix/|ExecStart=$dest$prefix/|" "$units/memprobed.service" \
		>"$tmp/verify/memprobed.service"
	cp "$units/memprobed.socket" "$units/memprobed-http.socket" "$tmp/verify/"
	# A service that takes the agent drop-in, as the README says.
	mkdir -p "$tmp/verify/demo.service.d"
	printf '[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n' >"$tmp/verify/demo.service"
	cp "$dest$prefix/share/doc/memprobe/memprobe-agent.conf" "$tmp/verify/demo.service.d/"
	manopt=
	if command -v man >/dev/null 2>&1; then
		export MANPATH="$dest$prefix/share/man"
	else
		echo "  (man not installed: Documentation= pages not checked)"
		manopt=--man=no
	fi
	(cd "$tmp/verify" && systemd-analyze verify $manopt ./memprobed.service \
		./memprobed.socket ./memprobed-http.socket ./demo.service) >"$tmp/verify.log" 2>&1
	rc=$?
	unset MANPATH
	# Unknown keys are only warnings: any output is a failure here.
	if [ "$rc" -ne 0 ] || [ -s "$tmp/verify.log" ]; then
		fail "systemd-analyze verify: status $rc:"
		sed 's/^/    /' "$tmp/verify.log" >&2
	fi
	# The pieces that must stay as they are.
	for kv in Type=notify NotifyAccess=main Restart=on-failure User=memprobe \
		RuntimeDirectory=memprobe "ExecReload=/bin/kill -HUP \$MAINPID" \
		"Sockets=memprobed.socket memprobed-http.socket"; do
		grep -qxF "$kv" "$units/memprobed.service" || fail "memprobed.service lacks $kv"
	done
	grep -q '^WatchdogSec=' "$units/memprobed.service" || fail "memprobed.service lacks WatchdogSec="
	for kv in ListenSequentialPacket=/run/memprobe/agent.sock FileDescriptorName=agent \
		SocketMode=0660 SocketGroup=memprobe PassCredentials=yes Service=memprobed.service; do
		grep -qxF "$kv" "$units/memprobed.socket" || fail "memprobed.socket lacks $kv"
	done
	for kv in ListenStream=127.0.0.1:19556 FileDescriptorName=http Service=memprobed.service; do
		grep -qxF "$kv" "$units/memprobed-http.socket" || fail "memprobed-http.socket lacks $kv"
	done
	for kv in "Environment=MEMPROBE_SOCKET=/run/memprobe/agent.sock" SupplementaryGroups=memprobe; do
		grep -qxF "$kv" "$dest$prefix/share/doc/memprobe/memprobe-agent.conf" ||
			fail "memprobe-agent.conf lacks $kv"
	done
fi
end units_verify

# ---- units_security: the exposure score of the installed service ----
begin
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze security --offline=yes "$units/memprobed.service" >"$tmp/security.log" 2>&1
	line=$(grep 'Overall exposure level' "$tmp/security.log")
	score=$(echo "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]*\).*/\1/p')
	echo "  $line"
	if [ -z "$score" ]; then
		fail "no exposure level in systemd-analyze security's output:"
		sed 's/^/    /' "$tmp/security.log" >&2
	elif ! awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
		fail "exposure $score is above $MAX_EXPOSURE:"
		grep '✗' "$tmp/security.log" | sed 's/^/    /' >&2
	fi
else
	fail "systemd-analyze not found: install the package systemd (make deps)"
fi
end units_security

# ---- sysusers: the installed sysusers.d file makes the user and group ----
begin
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/sysroot/etc"
	: >"$tmp/sysroot/etc/passwd"
	: >"$tmp/sysroot/etc/group"
	if systemd-sysusers --root="$tmp/sysroot" "$dest$prefix/lib/sysusers.d/memprobe.conf" \
		>"$tmp/sysusers.log" 2>&1; then
		grep -q '^memprobe:x:[0-9]*:[0-9]*:' "$tmp/sysroot/etc/passwd" || fail "no user memprobe"
		grep -q '^memprobe:x:[0-9]*:' "$tmp/sysroot/etc/group" || fail "no group memprobe"
	else
		fail "systemd-sysusers failed:"
		sed 's/^/    /' "$tmp/sysusers.log" >&2
	fi
else
	fail "systemd-sysusers not found: install the package systemd (make deps)"
fi
end sysusers

# ---- pkgconfig_program: built against the installed header and library ----
begin
cat >"$tmp/prog.c" <<'EOF'
#include <memprobe.h>
#include <stdio.h>
#include <stdlib.h>

/* Allocates 1000 blocks and asks the linked agent what it counted. */
int main(void)
{
	static void *p[1000];
	struct memprobe_stats a, b;

	if (memprobe_snapshot(&a) != 0)
		return 1;
	for (int i = 0; i < 1000; i++)
		p[i] = malloc(100);
	if (memprobe_snapshot(&b) != 0)
		return 1;
	printf("blocks %llu allocations %llu\n",
	    (unsigned long long)(b.heap_live_blocks - a.heap_live_blocks),
	    (unsigned long long)(b.heap_allocations - a.heap_allocations));
	for (int i = 0; i < 1000; i++)
		free(p[i]);
	return memprobe_snapshot(NULL) == 0;    /* -EINVAL */
}
EOF
# The .pc names the final paths; the sysroot points them into the DESTDIR.
flags=$(PKG_CONFIG_PATH="$dest$prefix/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
	pkg-config --cflags --libs memprobe 2>"$tmp/pc.log")
if [ $? -ne 0 ]; then
	fail "pkg-config --cflags --libs memprobe failed:"
	sed 's/^/    /' "$tmp/pc.log" >&2
else
	echo "  pkg-config --cflags --libs memprobe: $flags"
	case $flags in
	*"-I$dest$prefix/include"*) ;;
	*) fail "cflags do not name the installed include directory" ;;
	esac
	# -fno-builtin: the compiler must not drop the malloc/free pairs.
	if $CC -std=c11 -fno-builtin -o "$tmp/prog" "$tmp/prog.c" $flags >"$tmp/cc.log" 2>&1; then
		out=$(LD_LIBRARY_PATH="$dest$prefix/lib" MEMPROBE_SOCKET="$tmp/none.sock" "$tmp/prog")
		rc=$?
		[ "$rc" -eq 0 ] || fail "the program exited with status $rc"
		[ "$out" = "blocks 1000 allocations 1000" ] ||
			fail "memprobe_snapshot counted \"$out\", want \"blocks 1000 allocations 1000\""
		LD_LIBRARY_PATH="$dest$prefix/lib" ldd "$tmp/prog" |
			grep -q "libmemprobe.so => $dest$prefix/lib/libmemprobe.so" ||
			fail "the program is not linked with the installed libmemprobe.so"
	else
		fail "compiling against the installed header failed:"
		sed 's/^/    /' "$tmp/cc.log" >&2
	fi
fi
end pkgconfig_program

# ---- man_pages: memprobed.conf(5) has every key with its default,
# memprobed(8) every flag; groff finds nothing to warn about ----
begin
env -u RUNTIME_DIRECTORY "$BUILD/memprobed" --check-config --config /dev/null \
	| sed -n 's/^\([a-z_]*\) = \(.*\)$/\1 \2/p' >"$tmp/keys"
[ -s "$tmp/keys" ] || fail "memprobed --check-config printed no keys"
while read -r key value; do
	# The key's paragraph: from its tag line to the next .TP.
	awk -v k="$key" 'on && /^\.(TP|SH)/ { exit } on { print }
		$1 ~ /^\.B[IR]?$/ && $2 == k { on = 1 }' man/memprobed.conf.5 >"$tmp/para"
	if [ ! -s "$tmp/para" ]; then
		fail "man/memprobed.conf.5 does not describe the key $key"
	elif [ "$key" != agent_socket ] && ! grep -qF -- "$value" "$tmp/para"; then
		fail "man/memprobed.conf.5: $key does not give its default $value"
	fi
done <"$tmp/keys"
"$BUILD/memprobed" --help | sed -n 's/^  \(--[a-z.-]*\).*/\1/p' >"$tmp/flags"
[ -s "$tmp/flags" ] || fail "memprobed --help printed no flags"
while read -r flag; do
	grep -qF -- "$(echo "$flag" | sed 's/-/\\-/g')" man/memprobed.8 ||
		fail "man/memprobed.8 does not name $flag"
done <"$tmp/flags"
if command -v groff >/dev/null 2>&1; then
	for m in man/memprobed.8 man/memprobed.conf.5; do
		w=$(LC_ALL=C.UTF-8 groff -man -ww -z "$m" 2>&1)
		[ -z "$w" ] || fail "groff warns about $m: $w"
	done
fi
end man_pages

# ---- install_keeps_config, uninstall ----
begin
echo "; edited by the admin" >>"$dest/etc/memprobe/memprobed.conf"
if do_install "$dest" "$prefix"; then
	grep -qx "; edited by the admin" "$dest/etc/memprobe/memprobed.conf" ||
		fail "a second make install overwrote /etc/memprobe/memprobed.conf"
else
	fail "second make install failed"
fi
if $MAKE -s --no-print-directory BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" uninstall \
	>"$tmp/make.log" 2>&1; then
	left=$(cd "$dest" && find . ! -type d | sed 's|^\./||')
	[ "$left" = "etc/memprobe/memprobed.conf" ] ||
		fail "after make uninstall, left: $(echo $left) (want only etc/memprobe/memprobed.conf)"
else
	fail "make uninstall failed:"
	sed 's/^/    /' "$tmp/make.log" >&2
fi
end install_uninstall

[ "$failures" -eq 0 ]
