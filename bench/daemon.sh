#!/bin/sh
# bench/daemon.sh — what the build daemon adds: 1,000 trivial derivations
# built through `yonder daemon` versus in-process (`yonder build` without
# a daemon), 10 clients at once (100 derivations each), and the daemon's
# resident memory while 10,000 builds wait in its graph; a 256 MiB `store
# add` through the daemon (ADD_NAR) and the daemon's peak memory then.
# Each run starts
# from a fresh store with the .drv files written beforehand (untimed);
# --max-jobs 2; best of 3.
. "$(dirname "$0")/lib.sh"
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

N=1000
NPEND=10000
W=$(mktemp -d /tmp/yonder-bench.XXXXXX)
DPID=""
trap '[ -n "$DPID" ] && kill -9 $DPID 2>/dev/null; chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
export YONDER_CONFIG_DIR="$W/config" YONDER_STORE_DIR="$W/ys" YONDER_STATE_DIR="$W/ystate"
sys=x86_64-linux
SOCK=$YONDER_STATE_DIR/daemon-socket/socket

many() { # n prefix [blocker]
	echo "(define (mk i) (derivation (name (string-append \"$2-\" (number->string i)))"
	echo "  (system \"$sys\") (builder \"/bin/sh\")"
	if [ -n "${3:-}" ]; then
		echo "  (args \"-c\" (string-append \"echo \" (number->string i) \" \" blocker \" > \$out\"))))"
	else
		echo "  (args \"-c\" (string-append \"echo \" (number->string i) \" > \$out\"))))"
	fi
	printf "(map mk '("
	seq -s ' ' 1 "$1"
	echo "))"
}
many $N t > "$W/many.scm"

fresh() { # instantiate into a fresh store: the .drv paths in $W/drvs
	[ -z "$DPID" ] || { echo "bench: a daemon is still running" >&2; exit 1; }
	rm -rf "$W/ys" "$W/ystate"
	"$YONDER" derivation "$W/many.scm" > "$W/drvs"
}
daemon_up() {
	"$YONDER" daemon -j 2 2>>"$W/daemon.log" &
	DPID=$!
	_i=0
	until [ -S "$SOCK" ]; do
		_i=$((_i + 1)); [ $_i -lt 500 ] || { echo "bench: no daemon socket" >&2; exit 1; }
		sleep 0.01
	done
}
daemon_down() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=""; }

timed() { # what: best of 3 of "$@" after fresh (and a daemon when $1 = d)
	_mode=$1; shift
	_best=""
	for _i in 1 2 3; do
		fresh
		[ "$_mode" = d ] && daemon_up
		_t0=$(now)
		"$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }
		_t=$(echo "$(now) - $_t0" | bc -l)
		[ "$_mode" = d ] && daemon_down
		if [ -z "$_best" ] || [ "$(echo "$_t < $_best" | bc -l)" = 1 ]; then _best=$_t; fi
	done
	printf '%.3f\n' "$_best"
}

all_at_once() { "$YONDER" build -Q -j 2 $(cat "$W/drvs"); }
ten_clients() {
	split -n l/10 "$W/drvs" "$W/part."
	_pids=""
	for f in "$W"/part.*; do
		"$YONDER" build -Q $(cat "$f") >/dev/null 2>&1 &
		_pids="$_pids $!"
	done
	_st=0
	for p in $_pids; do wait "$p" || _st=1; done
	rm -f "$W"/part.*
	return $_st
}

inproc=$(timed i all_at_once)
viad=$(timed d all_at_once)
ten=$(timed d ten_clients)
over=$(printf '%.3f' "$(echo "($viad - $inproc) * 1000 / $N" | bc -l)")
over10=$(printf '%.3f' "$(echo "($ten - $inproc) * 1000 / $N" | bc -l)")
tgt=$(printf '%.2f' "$(echo "1 + $N * 0.001 / $inproc" | bc -l)")
row "$N builds through the daemon vs in-process (daemon adds $over ms per build; target < 1 ms)" "$viad" "$inproc" "in-process" "$tgt" le
row "$N builds from 10 clients at once, 100 each (adds $over10 ms per build)" "$ten" "$inproc" "in-process" "$tgt" le

# Memory: NPEND derivations that all need one blocker, which sleeps.
rm -rf "$W/ys" "$W/ystate"
{
	echo "(define blocker (derivation (name \"blocker\") (system \"$sys\") (builder \"/bin/sh\")"
	echo "  (args \"-c\" \"echo started > $W/blocker.started; /bin/sleep 600\")))"
	many $NPEND p blocker | sed 1d | sed '1i (define (mk i) (derivation (name (string-append "p-" (number->string i)))'
} > "$W/pending.scm"
"$YONDER" derivation "$W/pending.scm" > "$W/pdrvs"
daemon_up
rss0=$(awk '/^VmRSS/ {print $2}' /proc/$DPID/status)
"$YONDER" build -Q $(cat "$W/pdrvs") >/dev/null 2>&1 &
CPID=$!
_i=0
until [ -e "$W/blocker.started" ]; do
	_i=$((_i + 1)); [ $_i -lt 3000 ] || { echo "bench: the blocker never started" >&2; exit 1; }
	sleep 0.02
done
rss=$(awk '/^VmRSS/ {print $2}' /proc/$DPID/status)
kill -9 $CPID; wait $CPID 2>/dev/null || true
daemon_down
mib=$(printf '%.1f' "$(echo "$rss / 1024" | bc -l)")
mib0=$(printf '%.1f' "$(echo "$rss0 / 1024" | bc -l)")
met=$([ "$(echo "$mib < 50" | bc -l)" = 1 ] && echo yes || echo no)
_rows="$_rows| daemon's resident memory with $NPEND builds pending (idle: $mib0 MiB) | $mib MiB | — | — | < 50 MiB | $met |
"

# ADD_NAR: `yonder store add` of a 256 MiB tree through the daemon (the
# client hashes it, then streams its NAR; the daemon restores, hashes and
# checks it on a thread, through a bounded queue) versus in-process; and
# the daemon's peak resident memory meanwhile (the queue bounds it).
mkdir -p "$W/big"
head -c $((128 << 20)) /dev/urandom > "$W/big/a"
head -c $((128 << 20)) /dev/urandom > "$W/big/b"
add_big() { sync; "$YONDER" store add "$W/big"; }
add_in=$(timed i add_big)
add_d=$(timed d add_big)
fresh
daemon_up
add_big >/dev/null
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$DPID/status)
daemon_down
row "store add of 256 MiB through the daemon (ADD_NAR) vs in-process" "$add_d" "$add_in" "in-process" - le
hmib=$(printf '%.1f' "$(echo "$hwm / 1024" | bc -l)")
met=$([ "$(echo "$hmib < 64" | bc -l)" = 1 ] && echo yes || echo no)
_rows="$_rows| daemon's peak resident memory while it receives 256 MiB (ADD_NAR) | $hmib MiB | — | — | < 64 MiB | $met |
"
rm -rf "$W/big"

emit_table daemon "The build daemon (bench/daemon.sh, --max-jobs 2, best of 3)"
