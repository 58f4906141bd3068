#!/bin/sh
# run.sh: `make bench`: the agent's cost beside no agent, libmemusage and heaptrack; prints tables.
#
# usage: sh tests/bench/run.sh BUILD_DIR    (make bench builds what it needs first)
#
# Two workloads, each run side by side under four variants:
#   alloc_ring   BUILD/bench/alloc_ring THREADS ITERATIONS (random sizes 16..528,
#                a ring of 1024 live blocks per thread)
#   python3      tests/bench/py_alloc.py ROUNDS (pure Python, allocation-heavy)
# and the variants
#   none         no agent
#   memprobe     LD_PRELOAD=BUILD/libmemprobe.so, MEMPROBE_SOCKET at a path where
#                nothing listens: the agent counts, its reporter finds no
#                daemon and drops its samples (no daemon is measured here)
#   libmemusage  LD_PRELOAD=glibc's libmemusage.so (summary to stderr at exit)
#   heaptrack    heaptrack -o TMP/ht PROG: wall time includes heaptrack_interpret
#                and the compressor, which run beside the program
#
# Measurements: instructions with callgrind (one thread) and wall time with
# hyperfine. Raw results (hyperfine JSON, callgrind out files, logs) go to
# BUILD/bench/results; scratch files to a temporary directory under /tmp, which
# is also the working directory, so nothing is written into the source tree.
# Benchmarks are measurements, not tests: this script exits 0 whatever the
# figures are, and only fails when it cannot run at all.
#
# Knobs (environment), with their defaults: BENCH_CG_ITER (2000000),
# BENCH_WALL_ITER (5000000), BENCH_PY_ROUNDS (3500), BENCH_PY_CG_ROUNDS (300),
# BENCH_RUNS (30) and BENCH_PY_RUNS (20) timed runs per variant for no agent
# and memprobe, one per round, BENCH_SLOW_RUNS (5) for libmemusage and
# heaptrack, PYTHON (/usr/bin/python3, else python3),
# BENCH_SKIP (any of: callgrind wall heaptrack), CC, BENCH_CFLAGS.

set -u

BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")" && pwd)
CG_ITER=${BENCH_CG_ITER:-2000000}
WALL_ITER=${BENCH_WALL_ITER:-5000000}
PY_ROUNDS=${BENCH_PY_ROUNDS:-3500}
PY_CG_ROUNDS=${BENCH_PY_CG_ROUNDS:-300}
RUNS=${BENCH_RUNS:-30}
PY_RUNS=${BENCH_PY_RUNS:-20}
SLOW_RUNS=${BENCH_SLOW_RUNS:-5}
SKIP=${BENCH_SKIP:-}
MEMUSAGE=/usr/lib/x86_64-linux-gnu/libmemusage.so
HT_LIB=/usr/lib/heaptrack/libheaptrack_preload.so

say() { echo "bench: $*" >&2; }
skipped() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
have() { command -v "$1" >/dev/null 2>&1; }

sh "$SRC/deps.sh" || say "continuing without the missing tools"

BUILD=$(cd "$BUILD" && pwd) || exit 1
AGENT=$BUILD/libmemprobe.so
RING=$BUILD/bench/alloc_ring
PYSCRIPT=$SRC/py_alloc.py
OUT=$BUILD/bench/results
for f in "$AGENT" "$RING"; do
	[ -x "$f" ] || [ -f "$f" ] || { say "$f is missing: run make bench"; exit 1; }
done
[ -f "$MEMUSAGE" ] || { say "no $MEMUSAGE; libmemusage is skipped"; MEMUSAGE=; }
if ! have heaptrack || [ ! -f "$HT_LIB" ]; then
	say "no heaptrack; it is skipped"
	SKIP="$SKIP heaptrack"
fi
have valgrind || { say "no valgrind; instruction counts are skipped"; SKIP="$SKIP callgrind"; }
have hyperfine || { say "no hyperfine; wall times are skipped"; SKIP="$SKIP wall"; }

# The system's interpreter by default (Debian's build, as a service would run
# it), and the interpreter itself, not a wrapper: a pyenv shim is a shell
# script that would be preloaded and timed too.
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PY=$("$PY" -c 'import sys; print(sys.executable)') || { say "no python3"; exit 1; }
# The same hashes and no .pyc writes in every run.
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

TMP=$(mktemp -d /tmp/memprobe-bench.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
cd "$TMP" || exit 1
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1
# No daemon listens here: the file never exists.
SOCK=$TMP/no-daemon.sock
unset LD_PRELOAD

# ---- the machine ----
{
	echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc	$(nproc)"
	echo "load	$(cut -d" " -f1-3 /proc/loadavg) (1, 5, 15 min, at start)"
	echo "cpu	$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "kernel	$(uname -sr)"
	echo "glibc	$(ldd --version 2>&1 | head -n 1)"
	echo "python	$PY $("$PY" -c 'import platform; print(platform.python_version())')"
	have valgrind && echo "valgrind	$(valgrind --version)"
	have hyperfine && echo "hyperfine	$(hyperfine --version)"
	have heaptrack && echo "heaptrack	$(heaptrack --version 2>&1 | head -n 1)"
	echo "commit	$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" status --porcelain -- ../../client 2>/dev/null | grep -q . && echo ' (client/ modified)')"
	echo "cg_iter	$CG_ITER"
	echo "wall_iter	$WALL_ITER"
	echo "py_rounds	$PY_ROUNDS"
	echo "py_cg_rounds	$PY_CG_ROUNDS"
	echo "runs	$RUNS"
	echo "py_runs	$PY_RUNS"
	echo "slow_runs	$SLOW_RUNS"
} > "$OUT/machine.tsv"

# The environment of each variant, for `env`. Every variant runs through env
# so that they differ only in what is preloaded.
env_of() {
	case $1 in
	none) echo "env MEMPROBE_SOCKET=$SOCK" ;;
	memprobe) echo "env MEMPROBE_SOCKET=$SOCK LD_PRELOAD=$AGENT" ;;
	noprof) echo "env MEMPROBE_SOCKET=$SOCK MEMPROBE_PROFILE_RATE=0 LD_PRELOAD=$AGENT" ;;
	libmemusage) echo "env LD_PRELOAD=$MEMUSAGE" ;;
	esac
}

VARIANTS="none memprobe noprof"
[ -n "$MEMUSAGE" ] && VARIANTS="$VARIANTS libmemusage"

# ---- instructions: callgrind, one thread ----

# cg WORKLOAD VARIANT CMD...: runs CMD under callgrind and records its total.
cg() {
	w=$1 v=$2
	shift 2
	f=$OUT/callgrind.out.$w.$v
	start=$(date +%s)
	if ! "$@" > "$OUT/callgrind.$w.$v.log" 2>&1; then
		say "callgrind $w $v failed; see $OUT/callgrind.$w.$v.log"
		return
	fi
	n=$(sed -n 's/^summary: *//p' "$f")
	echo "$w	$v	$n" >> "$OUT/callgrind.tsv"
	say "  $w $v: $n instructions ($(($(date +%s) - start)) s)"
}

if ! skipped callgrind; then
	say "callgrind: alloc_ring 1 $CG_ITER and python3 py_alloc.py $PY_CG_ROUNDS"
	: > "$OUT/callgrind.tsv"
	for v in $VARIANTS; do
		# The variant's env goes before valgrind, which hands it to the
		# program (valgrind's own launcher sees the preload too, and execs
		# the tool at once).
		# shellcheck disable=SC2046
		cg alloc_ring "$v" $(env_of "$v") valgrind --tool=callgrind \
		    --callgrind-out-file="$OUT/callgrind.out.alloc_ring.$v" "$RING" 1 "$CG_ITER"
	done
	if ! skipped heaptrack; then
		# heaptrack's preload library strips itself from the environment of
		# the first process it loads into, which under valgrind is the
		# launcher, not the program. So this variant links it instead:
		# the same hooks, without the LD_PRELOAD hop. The stream goes to
		# /dev/null: heaptrack_interpret, a separate process, is not counted.
		# shellcheck disable=SC2086
		${CC:-cc} ${BENCH_CFLAGS:--O2 -g -fno-builtin} -o "$TMP/alloc_ring_ht" \
		    "$SRC/alloc_ring.c" -Wl,--no-as-needed "$HT_LIB" \
		    -Wl,-rpath,"$(dirname "$HT_LIB")" -lpthread &&
		cg alloc_ring heaptrack env DUMP_HEAPTRACK_OUTPUT=/dev/null \
		    valgrind --tool=callgrind \
		    --callgrind-out-file="$OUT/callgrind.out.alloc_ring.heaptrack" \
		    "$TMP/alloc_ring_ht" 1 "$CG_ITER"
	fi
	for v in $VARIANTS; do
		# shellcheck disable=SC2046
		cg python3 "$v" $(env_of "$v") valgrind --tool=callgrind \
		    --callgrind-out-file="$OUT/callgrind.out.python3.$v" "$PY" "$PYSCRIPT" "$PY_CG_ROUNDS"
	done
fi

# ---- wall time: hyperfine ----

# cpu_line KEY: "KEY<TAB>seconds ticks-per-second the cpu line of /proc/stat",
# the machine's CPU time at a moment; report.py subtracts what the timed
# runs used to tell how busy the rest of the machine was.
cpu_line() { echo "$1	$(date +%s.%N) $(getconf CLK_TCK) $(sed -n 's/^cpu  *//p' /proc/stat)"; }

# wall NAME ROUNDS WARMUP RUNS VARIANT... -- "PROGRAM ARGS": ROUNDS hyperfine
# runs over the variants (WARMUP runs in the first only), exported to
# OUT/wall.NAME.rK.json. Each round reverses the order of the variants, so a
# burst of load from elsewhere on the machine falls on all of them alike;
# report.py merges the rounds and takes paired ratios within each.
# hyperfine -N splits commands on white space itself (no shell in the
# measurement), so paths must not hold spaces.
wall() {
	name=$1 rounds=$2 warm=$3 runs=$4
	shift 4
	vs='' rvs=''
	while [ "$1" != -- ]; do
		vs="$vs $1"
		rvs="$1 $rvs"
		shift
	done
	prog=$2
	start=$(date +%s)
	k=1
	while [ "$k" -le "$rounds" ]; do
		if [ $((k % 2)) -eq 1 ]; then order=$vs; else order=$rvs; fi
		set --
		for v in $order; do
			case $v in
			heaptrack) c="heaptrack -o $TMP/ht" ;;
			*) c=$(env_of "$v") ;;
			esac
			set -- "$@" -n "$v" "$c $prog"
		done
		[ "$k" -gt 1 ] && warm=0
		# The machine's CPU time around the round, to tell quiet rounds.
		{ echo "warmup	$warm"; cpu_line start; } > "$OUT/wall.$name.r$k.cpu"
		if ! hyperfine -N --warmup "$warm" --runs "$runs" --style basic \
		    --export-json "$OUT/wall.$name.r$k.json" "$@" >> "$OUT/hyperfine.log" 2>&1; then
			say "hyperfine $name failed; see $OUT/hyperfine.log"
			return
		fi
		cpu_line end >> "$OUT/wall.$name.r$k.cpu"
		k=$((k + 1))
	done
	say "  $name:$vs ($(($(date +%s) - start)) s)"
}

if ! skipped wall; then
	cpu_line cpu_start >> "$OUT/machine.tsv"
	say "wall: alloc_ring 1 and 2 threads x $WALL_ITER, python3 py_alloc.py $PY_ROUNDS"
	SLOW=
	[ -n "$MEMUSAGE" ] && SLOW=libmemusage
	skipped heaptrack || SLOW="$SLOW heaptrack"
	# $SLOW is a list of variants.
	# shellcheck disable=SC2086
	for t in 1 2; do
		wall "alloc_ring_$t" "$RUNS" 3 1 none memprobe noprof -- "$RING $t $WALL_ITER"
		[ -n "$SLOW" ] && wall "alloc_ring_${t}_slow" 1 1 "$SLOW_RUNS" $SLOW -- "$RING $t $WALL_ITER"
	done
	wall python3 "$PY_RUNS" 1 1 none memprobe -- "$PY $PYSCRIPT $PY_ROUNDS"
	# shellcheck disable=SC2086
	[ -n "$SLOW" ] && wall python3_slow 1 1 "$SLOW_RUNS" $SLOW -- "$PY $PYSCRIPT $PY_ROUNDS"
	cpu_line cpu_end >> "$OUT/machine.tsv"
fi
echo "load_end	$(cut -d" " -f1-3 /proc/loadavg) (1, 5, 15 min, at the end)" >> "$OUT/machine.tsv"

"$PY" "$SRC/report.py" "$OUT" || say "report failed"
exit 0
