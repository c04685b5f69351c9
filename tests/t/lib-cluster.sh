# tests/t/lib-cluster.sh — sourced after lib.sh by the tests that run a
# cluster of build machines (tests/cluster.sh) and a daemon in its master:
#
#   cluster_up N            starts m1..mN (a test), exports their variables
#                           (M1_STORE, MASTER_CONFIG, …; doc/CLUSTER.md), SOCK
#   start_daemon [NAME=VALUE...] [--] [OPTION...]
#                           `yonder daemon OPTION...` in the master with that
#                           environment, its standard error appended to
#                           $T/daemon.log; waits for its socket; DPID
#   stop_daemon             SIGTERM, and waits for it
#   M ARG...                `yonder ARG...` in the master
#   outof DRV               the first output path of DRV
#   fp FILE                 the SHA256 fingerprint of a public key file, as
#                           an extended regular expression
#
# Skips the test where it cannot run (not root, no `ip netns`); on exit
# stops the daemon and takes the cluster down.
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
DPID=
sys=$(uname -m)-linux

stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}
trap 'stop_daemon; "$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT

cluster_up() {
	ok "cluster up $1" "$CL" up "$1" "$D" || done_testing
	eval "$("$CL" env "$D")"
	SOCK=$MASTER_STATE/daemon-socket/socket
}

M() { "$CL" exec master "$YONDER" "$@"; }

start_daemon() {
	local envs=()
	while [ $# -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do envs+=("$1"); shift; done
	[ "${1:-}" != -- ] || shift
	rm -f "$SOCK"
	"$CL" exec master env "${envs[@]}" "$YONDER" daemon "$@" 2>>"$T/daemon.log" &
	DPID=$!
	wait_for "the daemon's socket" 20 test -S "$SOCK"
}

outof() { M drv show "$1" | grep -o '"path": *"[^"]*"' | head -1 | cut -d'"' -f4; }
fp() { ssh-keygen -lf "$1" | cut -d' ' -f2 | sed 's/[+.]/\\&/g'; }
