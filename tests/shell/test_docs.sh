#!/bin/sh
# test_docs.sh: runs every command the README's code blocks and the man pages' EXAMPLES show, against a live memprobed, so the docs cannot drift.
#
# Usage: sh tests/shell/test_docs.sh BUILD   (from the source tree; tests/run.sh runs it)
# Prints "PASS name" / "FAIL name" lines like the other test binaries, one
# per document, and one line per command: RUN, or SKIP with the reason.
#
# Where the commands come from:
#   README.md: every code block carries a mark on the last line before it
#     <!-- doc-test: run -->          each line is a command
#     <!-- doc-test: prompt -->       lines starting "$ " are commands; the
#                                     rest is what they print
#     <!-- doc-test: skip REASON -->  not commands (output, Python): listed
#                                     as skipped with REASON
#   A block without a mark fails; a fenced block in another language
#   (```yaml) is a file, listed as skipped.
#   man/*.[1-8]: the .nf/.fi blocks of EXAMPLE and EXAMPLES: the lines
#   starting "$ " when there are any, else every line; a block that starts
#   with an INI section ("[memprobed]") is a configuration file, checked
#   with `memprobed --config FILE --check-config`; one that starts with a
#   YAML key ("tls_server_config:") is a web configuration: it becomes the
#   test's web.yml (its placeholders filled: a certificate and key made
#   with openssl, a real bcrypt hash for "$2y$10$..."), checked the same
#   way, and what a later configuration names as /etc/memprobe/web.yml.
#
# How they run: the test starts memprobed on a temporary socket and port
# and a program holding heap under the agent (the documented pid 4242
# stands for it); `adapt` puts the test's socket, port, build directory
# and pid in place of the documented defaults; each command runs with
# bash -o pipefail -c (a failure before a pipe counts) in a scratch
# directory (where ./your-program, ./program and script.py are small
# stand-ins), stdin /dev/null, a time limit, and must exit 0. A command
# that starts a stand-in program itself runs in the background until its
# block ends, once memprobed lists it. What cannot run on a test machine
# is in `skip_reason`. Waits are bounded polls.

set -u

BUILD=${1:-build}
LIMIT=30                        # seconds one command may take
POLL_TRIES=200                  # of 0.05 s: 10 s for memprobed to list a process

src=$(pwd)
abuild=$(cd "$BUILD" && pwd) || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memprobe-docs.XXXXXX") || exit 1
work=$tmp/work
sock=$tmp/agent.sock
mkdir "$work" || exit 1

daemon_pid=
hold_pid=
bg_pid=
cleanup() {
	exec 3>&- 4>&-
	for p in $bg_pid $hold_pid $daemon_pid; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$(dirname "$0")/harness.sh"

# poll CMD...: runs CMD until it succeeds, at most POLL_TRIES times.
poll() {
	i=0
	while [ "$i" -lt "$POLL_TRIES" ]; do
		"$@" >/dev/null 2>&1 && return 0
		i=$((i + 1))
		sleep 0.05
	done
	return 1
}

# listed COMM: memprobed lists a process named COMM.
listed() {
	curl -sf "$URL/api/v1/processes" | grep -q "\"comm\": *\"$1\""
}

# ---- the live daemon, and a program under the agent for the documented pid ----

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$abuild/memprobed" --agent-socket "$sock" --web.listen-address "127.0.0.1:$PORT" \
	>"$tmp/memprobed.log" 2>&1 &
daemon_pid=$!
if ! poll curl -sf "$URL/healthz"; then
	echo "test_docs.sh: memprobed did not answer $URL/healthz:" >&2
	cat "$tmp/memprobed.log" >&2
	echo "FAIL docs_daemon"
	exit 1
fi

mkfifo "$tmp/hold.in" "$tmp/bg.in" || exit 1
MEMPROBE_SOCKET=$sock LD_PRELOAD=$abuild/libmemprobe.so \
	"$abuild/tests/progs/alloc_hold" 64 16384 <"$tmp/hold.in" >"$tmp/hold.out" 2>&1 &
hold_pid=$!
exec 4>"$tmp/hold.in"
if ! poll curl -sf "$URL/api/v1/processes/$hold_pid" ||
    ! poll grep -q '^ready' "$tmp/hold.out"; then
	echo "test_docs.sh: memprobed does not list alloc_hold (pid $hold_pid):" >&2
	cat "$tmp/hold.out" "$tmp/memprobed.log" >&2
	echo "FAIL docs_daemon"
	exit 1
fi

# The stand-ins for the documented programs: they run until their input ends.
for p in your-program program; do
	printf '#!/bin/sh\nread -r line\nexit 0\n' >"$work/$p"
	chmod +x "$work/$p"
done
printf 'import sys\nblocks = [bytearray(4096) for _ in range(64)]\nprint(len(blocks), sys.argv[1:])\n' \
	>"$work/script.py"

# ---- from the documented command to the test's ----

# skip_reason COMMAND: why COMMAND (as documented) is not run here, or nothing.
skip_reason() {
	case $1 in
	"make run"*)
		echo "runs until Ctrl-C on the default port 19556; what it prints is tests/run-demo.sh" ;;
	"make test"*)
		echo "the suite this test is part of" ;;
	sudo* | *"&& sudo "*)
		echo "needs root on the machine: installs into /usr/local and /etc, restarts services" ;;
	systemctl*)
		echo "works on the machine's own services (tests/shell/test_install.sh checks the units)" ;;
	"pip install"*)
		echo "installs into the system's Python; the commands here use PYTHONPATH=client/python" ;;
	esac
}

# adapt COMMAND: COMMAND with the test's socket, port, build directory and
# pid for the documented ones; `watch` shows one round; memprobed started
# in the background is checked with --check-config (the test's memprobed
# is the one that runs).
adapt() {
	printf '%s\n' "$1" | sed \
	    -e "s|4242|$hold_pid|g" \
	    -e "s|localhost:19556|127.0.0.1:$PORT|g" \
	    -e "s|127\.0\.0\.1:19556|127.0.0.1:$PORT|g" \
	    -e "s|/tmp/memprobe\.sock|$sock|g" \
	    -e "s|\\\$PWD/build/|$abuild/|g" \
	    -e "s|^build/|$abuild/|; s| build/| $abuild/|g" \
	    -e "s|^sh config/|sh $src/config/|" \
	    -e "s|/usr/local/lib/libmemprobe\.so|$abuild/libmemprobe.so|g" \
	    -e "s|memprobectl watch|memprobectl watch --count 1|g" \
	    -e "s|^\(.*memprobed .*\) &\$|\1 --check-config|"
}

# starts_program COMMAND: COMMAND runs a stand-in program itself, not
# through memprobectl run: it is kept running while its block goes on.
starts_program() {
	case $1 in
	*"memprobectl run"*) return 1 ;;
	*./your-program* | *./program*) return 0 ;;
	esac
	return 1
}

# stop_background: the block's stand-in program reads the end of its input.
stop_background() {
	[ -n "$bg_pid" ] || return 0
	exec 3>&-
	wait "$bg_pid" || fail "$bg_where: the program exited with status $?"
	bg_pid=
}

ran=0
skipped=0
# run_one WHERE COMMAND: runs one documented command (WHERE is file:line).
run_one() {
	where=$1
	reason=$(skip_reason "$2")
	if [ -n "$reason" ]; then
		echo "SKIP $where: $2 ($reason)"
		skipped=$((skipped + 1))
		return
	fi
	cmd=$(adapt "$2")
	echo "RUN  $where: $2"
	ran=$((ran + 1))
	if starts_program "$cmd"; then
		(cd "$work" && MEMPROBE_URL=$URL MEMPROBE_SOCKET=$sock PATH=$abuild:$PATH \
		    exec timeout -k 5 "$LIMIT" bash -o pipefail -c "$cmd") <"$tmp/bg.in" >"$tmp/bg.out" 2>&1 &
		bg_pid=$!
		bg_where=$where
		exec 3>"$tmp/bg.in"
		prog=$(printf '%s\n' "$cmd" | sed 's|.*\./\([a-z-]*\).*|\1|')
		poll listed "$prog" || fail "$where: memprobed does not list $prog: $(cat "$tmp/bg.out")"
		return
	fi
	(cd "$work" && MEMPROBE_URL=$URL MEMPROBE_SOCKET=$sock PYTHONPATH=$src/client/python \
	    PATH=$abuild:$PATH exec timeout -k 5 "$LIMIT" bash -o pipefail -c "$cmd") </dev/null >"$tmp/out" 2>&1
	st=$?
	if [ "$st" -ne 0 ]; then
		fail "$where: exit status $st from: $cmd"
		sed 's/^/    /' "$tmp/out" >&2
	fi
}

# check_conf WHERE FILE: FILE is a configuration memprobed accepts.
check_conf() {
	echo "RUN  $1: memprobed --config (the example) --check-config"
	ran=$((ran + 1))
	if ! "$abuild/memprobed" --config "$2" --check-config </dev/null >"$tmp/out" 2>&1; then
		fail "$1: memprobed refuses the example configuration:"
		sed 's/^/    /' "$tmp/out" >&2
	fi
}

# check_webconf WHERE FILE: FILE, a web configuration with the man page's
# placeholders, becomes $tmp/web.yml, which memprobed accepts.
check_webconf() {
	if [ ! -s "$tmp/memprobed.crt" ] &&
	    ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj /CN=localhost -days 2 -keyout "$tmp/memprobed.key" \
	    -out "$tmp/memprobed.crt" >"$tmp/out" 2>&1; then
		fail "$1: openssl could not make the example's certificate"
		sed 's/^/    /' "$tmp/out" >&2
		return
	fi
	chmod 600 "$tmp/memprobed.key"
	# bcrypt of "secret" at cost 10 (tests/unit/test_webconf.c's HASH_A).
	sed 's|\$2y\$10\$\.\.\.|$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze|' \
	    "$2" >"$tmp/web.yml"
	printf '[memprobed]\nweb_config_file = %s\n' "$tmp/web.yml" >"$tmp/web.conf"
	check_conf "$1" "$tmp/web.conf"
}

# ---- what the documents show ----

# The README's code blocks, as "LINE<TAB>BLOCK<TAB>KIND<TAB>TEXT": KIND is
# cmd, skip (TEXT the reason) or unmarked.
readme_blocks() {
	awk '
	function mark_of(s) {
		if (s !~ /^ *<!-- doc-test: .* -->$/)
			return ""
		sub(/^ *<!-- doc-test: /, "", s)
		sub(/ -->$/, "", s)
		return s
	}
	function line_out(kind, text) { printf "%d\t%d\t%s\t%s\n", NR, start, kind, text }
	function open_block(m) {
		start = NR
		mode = m
		if (m == "")
			line_out("unmarked", "a code block without a <!-- doc-test: ... --> mark")
		else if (m ~ /^skip /)
			line_out("skip", substr(m, 6))
		else if (m != "run" && m != "prompt")
			line_out("unmarked", "unknown mark: " m)
	}
	function take(s) {
		if (mode != "run" && mode != "prompt")
			return
		# A comment on a line of its own goes with the command above it.
		if (pending == "" && s ~ /^ *#/)
			return
		if (pending != "") {
			s = pending s
			pending = ""
		} else if (mode == "prompt") {
			if (s !~ /^\$ /)
				return
			s = substr(s, 3)
		}
		if (s ~ /\\$/) {
			pending = substr(s, 1, length(s) - 1)
			return
		}
		line_out("cmd", s)
	}
	fence {
		if ($0 ~ /^```/) { fence = 0; next }
		take($0)
		next
	}
	/^```/ {
		lang = substr($0, 4)
		fence = 1
		if (lang != "" && lang != "sh" && lang != "shell" && lang != "console") {
			start = NR
			mode = "file"
			line_out("skip", "a " lang " file, not commands")
		} else
			open_block(mark_of(last))
		next
	}
	indent != "" {
		if (index($0, indent) == 1) { take(substr($0, length(indent) + 1)); next }
		if ($0 ~ /^ *$/) next
		indent = ""
	}
	prev_blank && /^    / {
		indent = $0
		sub(/[^ ].*/, "", indent)
		open_block(mark_of(last))
		take(substr($0, length(indent) + 1))
		next
	}
	{
		prev_blank = $0 ~ /^ *$/
		if (!prev_blank)
			last = $0
	}
	' README.md
}

# The EXAMPLE(S) sections of a man page, as readme_blocks() gives them;
# KIND conf: TEXT is a line of a configuration file.
man_blocks() {
	awk '
	function unescape(s) {
		gsub(/\\-/, "-", s)
		gsub(/\\\(aq/, "\047", s)
		gsub(/\\\(dq/, "\"", s)
		gsub(/\\e/, "\\", s)
		gsub(/\\&/, "", s)
		return s
	}
	function flush(    i, prompt) {
		prompt = 0
		for (i = 1; i <= n; i++)
			if (text[i] ~ /^\$ /)
				prompt = 1
		for (i = 1; i <= n; i++) {
			if (text[i] ~ /^\[/ && i == 1)
				conf = 1
			if (text[i] ~ /^[a-z_]+:/ && i == 1)
				conf = 2
			if (conf == 1)
				printf "%d\t%d\tconf\t%s\n", at[i], start, text[i]
			else if (conf == 2)
				printf "%d\t%d\tyaml\t%s\n", at[i], start, text[i]
			else if (!prompt)
				printf "%d\t%d\tcmd\t%s\n", at[i], start, text[i]
			else if (text[i] ~ /^\$ /)
				printf "%d\t%d\tcmd\t%s\n", at[i], start, substr(text[i], 3)
		}
		n = 0
		conf = 0
	}
	/^\.SH/ { ex = $0 ~ /^\.SH "?EXAMPLES?"?$/; next }
	!ex { next }
	/^\.nf/ { nf = 1; n = 0; start = NR; next }
	/^\.fi/ { if (nf) flush(); nf = 0; next }
	nf && /^\./ { next }
	nf { n++; text[n] = unescape($0); at[n] = NR }
	' "$1"
}

# run_doc FILE: runs what readme_blocks or man_blocks gave for FILE (on stdin).
run_doc() {
	doc=$1
	block=
	conf=
	yaml=
	while IFS='	' read -r line blk kind text; do
		if [ "$blk" != "$block" ]; then
			end_block
			block=$blk
		fi
		case $kind in
		cmd)
			run_one "$doc:$line" "$text" ;;
		skip)
			echo "SKIP $doc:$line: the block ($text)"
			skipped=$((skipped + 1)) ;;
		conf)
			if [ -z "$conf" ]; then
				conf=$tmp/example.conf
				: >"$conf"
			fi
			printf '%s\n' "$text" | sed "s|/etc/memprobe/web.yml|$tmp/web.yml|" >>"$conf" ;;
		yaml)
			if [ -z "$yaml" ]; then
				yaml=$tmp/example.yml
				: >"$yaml"
			fi
			printf '%s\n' "$text" >>"$yaml" ;;
		*)
			fail "$doc:$line: $text" ;;
		esac
	done
	end_block
}

# end_block: what run_doc does when a block ends.
end_block() {
	stop_background
	[ -z "$conf" ] || check_conf "$doc:$block" "$conf"
	[ -z "$yaml" ] || check_webconf "$doc:$block" "$yaml"
	conf=
	yaml=
}

# Everything the documents run lands in these; a failure closes the doc's test.
begin
readme_blocks >"$tmp/readme.tsv"
run_doc README.md <"$tmp/readme.tsv"
[ -s "$tmp/readme.tsv" ] || fail "README.md: no code blocks found"
end docs_README.md

for page in man/*.[1-8]; do
	begin
	man_blocks "$page" >"$tmp/man.tsv"
	run_doc "$page" <"$tmp/man.tsv"
	end "docs_$(basename "$page")"
done

echo "test_docs.sh: $ran commands run, $skipped skipped"
if ! kill -0 "$daemon_pid" 2>/dev/null; then
	echo "test_docs.sh: memprobed exited during the test:" >&2
	cat "$tmp/memprobed.log" >&2
	echo "FAIL docs_daemon"
	exit 1
fi
[ "$failures" -eq 0 ]
