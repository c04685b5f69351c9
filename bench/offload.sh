#!/bin/bash
# bench/offload.sh — offloading, side by side with Nix 2.8's remote builds
# on this host: one trivial build remote and local, 20 trivial builds,
# 6 × `sleep 1`, a build with a fresh 50 MiB input, a build with a fresh
# input of 2,000 files (20 MiB).  Targets: issue 6.
#
# yonder: tests/cluster.sh with one machine m1 (its own network namespace,
# a real sshd, 2 slots: parallel-builds 2; overload-threshold #f, as the
# host's load is not the machine's; compression the default, zstd:3), the
# daemon in the master namespace with --max-jobs 0, its SSH sessions warmed
# by untimed builds first.  Its local figure: a daemon with --max-jobs 2
# and no machines.  Two extra rows repeat the input figures with
# compression "none", which is how Nix copies.
# Nix: bench/nix-peers.sh (a peer sshd on 127.0.0.1 with
# its own /nix; our own rig directory and port), `nix-store --realise
# --max-jobs 0 --builders "ssh://… 2 1"`; its local figure: `nix-store
# --realise` in its own store.
#
# Both sides time the builds alone, each command timed inside its
# namespace (cluster.sh exec master / nixrun.sh): the .drv files and the
# store inputs are written beforehand, untimed, with a nonce never used
# before, so nothing was ever built or copied.  The inputs are the same
# random bytes for both sides: one 50 MiB file; one directory of 2,000
# files of 10 KiB, a source tree given as one input, as Nix users pass one.
# Best of 3, yonder and Nix taking turns in each round so that both meet
# the same load (the machine is shared: the rows show the 1-minute load
# average before each round).  About 1.5 minutes.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench/offload.sh: needs root (namespaces)" >&2; exit 1; }
need_nix
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

CL=$BTOP/tests/cluster.sh
RIGSH=$BTOP/bench/nix-peers.sh
NIXDIR=$BTOP/bench/nix
sys=x86_64-linux
W=$(mktemp -d /tmp/yonder-bench-offload.XXXXXX)
export YONDER_CLUSTER_QUIET=1
# The machine's store is a tmpfs: room for 3 × (50 + 20) MiB of inputs and
# the 100 MiB a machine must keep free to be chosen.
export YONDER_CLUSTER_STORE_SIZE=1G
export PEER_RIG=$W/peer
DPID=""
stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=""
}
cleanup() {
	stop_daemon
	"$CL" down "$W/cluster" >/dev/null 2>&1 || true
	if [ -d "$PEER_RIG" ]; then "$RIGSH" down "$PEER_RIG" >/dev/null 2>&1 || true; fi
	chmod -R u+w "$W" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
	echo "bench/offload.sh: $*" >&2
	for f in "$W/last.err" "$W/daemon.log"; do
		[ -s "$f" ] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

# A free port on 127.0.0.1 for the peer's sshd (not 2222: others use it).
PEER_PORT=""
for p in $(seq 2240 2299); do
	ss -Hltn "sport = :$p" | grep -q . || { PEER_PORT=$p; break; }
done
[ -n "$PEER_PORT" ] || fail "no free port in 2240-2299 for the peer sshd"
export PEER_PORT
export NIX_PEERS_PORT=$((PEER_PORT - 1)) # nix-peers.sh: peer 1 listens on NIX_PEERS_PORT + 1

# Run inside the namespace: time "$@" (standard error to $0, output to
# $0.out), print the seconds.
# shellcheck disable=SC2016
TIMER='t0=$EPOCHREALTIME; "$@" >"$0.out" 2>"$0" || exit 1; t1=$EPOCHREALTIME
echo "$t0 $t1" | awk "{ printf \"%.3f\\n\", \$2 - \$1 }"'

# ---- the two sides -----------------------------------------------------------
"$CL" up 1 "$W/cluster" >/dev/null || fail "cluster up failed"
eval "$("$CL" env "$W/cluster")"
SOCK=$MASTER_STATE/daemon-socket/socket
machines() { # the machines file, with compression $1 (the default: zstd:3)
	cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (parallel-builds 2) (overload-threshold #f)
        (compression "$1")))
S
}
machines zstd:3
echo "'()" >"$W/no-machines.scm"
start_daemon() {
	"$CL" exec master "$YONDER" daemon "$@" 2>>"$W/daemon.log" &
	DPID=$!
	_i=0
	until [ -S "$SOCK" ]; do
		_i=$((_i + 1))
		[ $_i -lt 1000 ] || fail "no daemon socket after 10 s"
		kill -0 "$DPID" 2>/dev/null || fail "the daemon exited"
		sleep 0.01
	done
}
ym() { "$CL" exec master "$@"; }

"$RIGSH" up 1 "$PEER_RIG" >/dev/null || fail "nix-peers.sh up failed"
eval "$("$RIGSH" env "$PEER_RIG")"
PEER_BUILDERS=$NIX_PEERS_BUILDERS
nixr() { "$NIXRUN" "$@"; }

# ---- derivations, fresh for each run -----------------------------------------
# yrecipe KIND NONCE [INPUT] > FILE.scm, the same derivations as bench/nix/*.nix
yrecipe() {
	case $1 in
	trivial)
		echo "(derivation (name \"trivial\") (system \"$sys\") (builder \"/bin/sh\")"
		echo "  (args \"-c\" \"echo $2 > \$out\"))"
		;;
	many | sleepy)
		_cmd="" _n=20
		[ "$1" = sleepy ] && _cmd="/bin/sleep 1; " _n=6
		echo "(define (mk i) (derivation (name (string-append \"$1-\" (number->string i)))"
		echo "  (system \"$sys\") (builder \"/bin/sh\")"
		echo "  (args \"-c\" (string-append \"${_cmd}echo $2 \" (number->string i) \" > \$out\"))))"
		printf "(map mk '("
		seq -s ' ' 0 $((_n - 1))
		echo "))"
		;;
	big | dir)
		_t=-f
		[ "$1" = dir ] && _t=-d
		echo "(derivation (name \"$1-input\") (system \"$sys\") (builder \"/bin/sh\")"
		echo "  (args \"-c\" (string-append \"test $_t \" (local-file \"$3\" #:name \"$1\") \" && echo $2 > \$out\")))"
		;;
	esac
}

# fresh_input KIND I: new random bytes in $W/in/KIND-I (file or directory)
fresh_input() {
	rm -rf "$W/in"
	mkdir -p "$W/in"
	if [ "$1" = big ]; then
		head -c 50M /dev/urandom >"$W/in/big-$2"
	else
		head -c 20M /dev/urandom >"$W/in/all"
		mkdir "$W/in/dir-$2"
		(cd "$W/in/dir-$2" && split -n 2000 -a 4 ../all f)
		rm "$W/in/all"
	fi
	echo "$W/in/$1-$2"
}

# prep_y KIND NONCE [INPUT]: write the .drv files into the master's store
prep_y() {
	yrecipe "$@" >"$W/y.scm"
	ym "$YONDER" derivation "$W/y.scm" >"$W/drvs" 2>"$W/last.err" || fail "yonder derivation ($1)"
}
# prep_n KIND NONCE [INPUT]: nix-instantiate into the rig's local store
prep_n() {
	case $1 in
	trivial | many | sleepy)
		nixr nix-instantiate "$NIXDIR/$1.nix" --argstr nonce "$2" >"$W/drvs" 2>"$W/last.err" ;;
	big | dir)
		_p=$(nixr nix-store --add "$3" 2>"$W/last.err") || fail "nix-store --add $3"
		_arg=$1
		nixr nix-instantiate "$NIXDIR/$1-input.nix" --argstr "$_arg" "$_p" --argstr nonce "$2" >"$W/drvs" 2>"$W/last.err" ;;
	esac || fail "nix-instantiate ($1)"
}
time_yl() { time_y; }
time_yr() { time_y; }
drvs() { mapfile -t DRVS <"$W/drvs"; }
time_y() { drvs && ym bash -c "$TIMER" "$W/last.err" "$YONDER" build -Q "${DRVS[@]}"; }
time_n() { drvs && nixr bash -c "$TIMER" "$W/last.err" nix-store --realise "$@" "${DRVS[@]}"; }
time_nr() { time_n --max-jobs 0 --builders "$PEER_BUILDERS"; }
time_nl() { time_n --max-jobs 2 --builders ''; }

# measure KIND SIDE...: best of 3 for each SIDE (yl yr nl nr), the sides
# taking turns within each round so that they meet the same load; each
# run with a nonce never used before (the clock's nanoseconds) and, for
# big and dir, fresh input bytes (the same for every side of a round).
# Sets BEST[side]; LOADS gets the 1-minute load average of each round.
declare -A BEST
measure() {
	local kind=$1 side i t nonce by outs inp
	shift
	BEST=()
	LOADS=""
	for i in 1 2 3; do
		LOADS="$LOADS${LOADS:+ }$(cut -d' ' -f1 /proc/loadavg)"
		inp=()
		case $kind in big | dir) inp=("$(fresh_input "$kind" "$i-$(date +%s%N)")") ;; esac
		for side; do
			nonce=$side-$(date +%s%N)
			"prep_${side%[rl]}" "$kind" "$nonce" "${inp[@]}"
			t=$("time_$side") || fail "$side: build of $kind failed"
			if [ "$side" = yr ]; then # honest: each output built by m1, now
				mapfile -t outs <"$W/last.err.out"
				by=$(ym "$YONDER" store query --built-by "${outs[@]}" | sort | uniq -c | tr -s ' ')
				[ "$by" = " $(wc -l <"$W/drvs") m1" ] || fail "$kind: outputs not all built by m1: $by"
			fi
			if [ -z "${BEST[$side]:-}" ] || [ "$(echo "$t < ${BEST[$side]}" | bc -l)" = 1 ]; then
				BEST[$side]=$t
			fi
		done
	done
}

# ---- local builds -------------------------------------------------------------
start_daemon --max-jobs 2 --machines "$W/no-machines.scm"
prep_y trivial warm-local
time_y >/dev/null || fail "yonder: local warm-up build"
prep_n trivial warm-local
time_nl >/dev/null || fail "Nix: local warm-up build"
measure trivial yl nl
yl=${BEST[yl]} nl=${BEST[nl]}
stop_daemon

# ---- remote builds ------------------------------------------------------------
prep_y trivial "cold-$(date +%s%N)"
start_daemon --max-jobs 0
ycold=$(time_y) || fail "the first remote build"
prep_y many warm-remote
time_y >/dev/null || fail "yonder: remote warm-up builds"
prep_n trivial warm-remote
time_nr >/dev/null || fail "Nix: remote warm-up build"
measure trivial yr nr
yr=${BEST[yr]} nr=${BEST[nr]} l1=$LOADS
measure many yr nr
ymany=${BEST[yr]} nmany=${BEST[nr]} l2=$LOADS
measure sleepy yr nr
ysleep=${BEST[yr]} nsleep=${BEST[nr]} l3=$LOADS
measure big yr nr
ybig=${BEST[yr]} nbig=${BEST[nr]} l4=$LOADS
measure dir yr nr
ydir=${BEST[yr]} ndir=${BEST[nr]} l5=$LOADS

# The same two with compression "none", as Nix copies: SIGHUP, warm again.
machines none
kill -HUP "$DPID"
_i=0
until grep -q "SIGHUP: .* reread" "$W/daemon.log"; do
	_i=$((_i + 1))
	[ $_i -lt 1000 ] || fail "the daemon did not reread machines.scm"
	sleep 0.01
done
prep_y many warm-again
time_y >/dev/null || fail "yonder: remote warm-up builds after SIGHUP"
measure big yr
ybig0=${BEST[yr]} l6=$LOADS
measure dir yr
ydir0=${BEST[yr]} l7=$LOADS
stop_daemon

# ---- the table ----------------------------------------------------------------
ms() { printf '%.0f' "$(echo "$1 * 1000" | bc -l)"; }
yo=$(printf '%.3f' "$(echo "$yr - $yl" | bc -l)")
no=$(printf '%.3f' "$(echo "$nr - $nl" | bc -l)")
row "one trivial build: remote − local (yonder $(ms "$yr") − $(ms "$yl") ms, warm; Nix $(ms "$nr") − $(ms "$nl") ms; load $l1)" "$yo" "$no" "nix-store -r" 0.2 le
row "one trivial build, remote, the first, sent as soon as the daemon's socket is up (no build warmed its connection; one run. Nix: a new connection each build)" "$ycold" "$nr" "nix-store -r" - -
row "20 trivial builds, one machine with 2 slots (load $l2)" "$ymany" "$nmany" "nix-store -r" 5 ge
row "6 × sleep 1 on 2 slots, against the ideal (load $l3)" "$ysleep" 3.000 "ideal" 1.15 le
row "6 × sleep 1 on 2 slots, against Nix (load $l3)" "$ysleep" "$nsleep" "nix-store -r" - -
row "a build with a fresh 50 MiB input (load $l4)" "$ybig" "$nbig" "nix-store -r" 0.6 le
row "a build with a fresh input of 2,000 files, 20 MiB, one directory (load $l5)" "$ydir" "$ndir" "nix-store -r" 0.3 le
info() { # figure yonder nix: time ratio, no target
	_rows="$_rows| $1 | $2 s | $3 s (nix-store -r) | $(printf '%.2f' "$(echo "$2 / $3" | bc -l)") | — | — |
"
}
info "a build with a fresh 50 MiB input, compression \"none\" as Nix copies (load $l6)" "$ybig0" "$nbig"
info "a build with a fresh input of 2,000 files, compression \"none\" (load $l7)" "$ydir0" "$ndir"
emit_table offload "Offloading to one machine with 2 slots over SSH, against Nix 2.8's remote builds (bench/offload.sh, builds alone, best of 3; yonder's and Nix's runs take turns; load: the 1-minute load average before each round)"
