#!/bin/sh
# bench/nix-peers.sh up N DIR | down DIR | env DIR
#
# N build machines for Nix 2.8's remote builds, on this host, for
# bench/scaling.sh (N of them) and bench/offload.sh (one).  Peer I is an
# OpenSSH sshd on 127.0.0.1:$((NIX_PEERS_PORT + I)) (NIX_PEERS_PORT defaults
# to 2300) inside its own private mount namespace,
# where /nix is DIR/pI/nix (its own store), /root is DIR/pI/home and /run a
# tmpfs; sessions get DIR/pI/conf/nix.conf (no sandbox, no build users) via
# sshd's SetEnv.  All peers share one client key, one ssh_config (host
# aliases nix-peer1..nix-peerN, given to Nix through NIX_SSHOPTS) and one
# known_hosts.  The local side is bench/nixrun.sh with ORACLE_NIX_ROOT=DIR/local.
#
#   up N DIR   create DIR (must not hold a running rig), start N sshds
#   down DIR   stop each sshd recorded in DIR (PID checked against its
#              command line) with its sessions, then remove DIR; idempotent
#   env DIR    export lines: ORACLE_NIX_ROOT, NIX_SSHOPTS, NIX_PEERS_BUILDERS
#              (one machine entry per peer, SLOTS slots each, default 2)
set -eu
BASE=${NIX_PEERS_PORT:-2300}
SLOTS=${NIX_PEERS_SLOTS:-2}

die() { echo "nix-peers.sh: $*" >&2; exit 1; }

sshd_pid() { # DIR/pI: print the pid if that sshd is alive and ours
	[ -s "$1/sshd.pid" ] || return 1
	_p=$(cat "$1/sshd.pid")
	case $_p in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$_p/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$_p/cmdline" | grep -q -- "-f $1/sshd_config" || return 1
	echo "$_p"
}

descendants() { # PID: its descendants, deepest first
	for _c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
		descendants "$_c"
		echo "$_c"
	done
}

peer_count() { cat "$1/n" 2>/dev/null || echo 0; }

builders() { # DIR
	_n=$(peer_count "$1") _i=1 _b=""
	while [ "$_i" -le "$_n" ]; do
		_b="$_b${_b:+;}ssh://nix-peer$_i x86_64-linux $1/client_key $SLOTS 1 - - -"
		_i=$((_i + 1))
	done
	echo "$_b"
}

cmd_env() {
	echo "export ORACLE_NIX_ROOT='$1/local'"
	echo "export NIX_SSHOPTS='-F $1/ssh_config'"
	echo "export NIX_PEERS_BUILDERS='$(builders "$1")'"
}

start_peer() { # DIR I
	P=$1/p$2
	_port=$((BASE + $2))
	if ss -Hltn "sport = :$_port" | grep -q .; then die "port $_port is already in use"; fi
	mkdir -p "$P/nix" "$P/home" "$P/conf"
	chmod 0700 "$P/home"
	ssh-keygen -q -t ed25519 -N '' -C "nix-peer$2" -f "$P/host_key"
	cat >"$P/conf/nix.conf" <<EOF
sandbox = false
build-users-group =
substituters =
builders =
experimental-features = nix-command
max-jobs = $SLOTS
EOF
	cat >"$P/sshd_config" <<EOF
Port $_port
ListenAddress 127.0.0.1
HostKey $P/host_key
PidFile $P/sshd.pid
AuthorizedKeysFile $1/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
MaxSessions 64
MaxStartups 64:30:128
SetEnv NIX_CONF_DIR=$P/conf NIX_USER_CONF_FILES=$P/conf/none NIX_REMOTE=local XDG_CACHE_HOME=/root/.cache
EOF
	cat >>"$1/ssh_config" <<EOF
Host nix-peer$2
  HostName 127.0.0.1
  Port $_port
  User root
  IdentityFile $1/client_key
  IdentitiesOnly yes
  StrictHostKeyChecking yes
  UserKnownHostsFile $1/known_hosts
  BatchMode yes
  LogLevel ERROR
EOF
	printf '[127.0.0.1]:%s %s\n' "$_port" "$(cut -d' ' -f1,2 "$P/host_key.pub")" >>"$1/known_hosts"
	# shellcheck disable=SC2016
	P="$P" setsid unshare -m --propagation private sh -c '
		mount --bind "$P/nix" /nix &&
		mount --bind "$P/home" /root &&
		mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd &&
		exec /usr/sbin/sshd -D -f "$P/sshd_config" -E "$P/sshd.log"' \
		</dev/null >"$P/unshare.log" 2>&1 &
}

cmd_up() { # N DIR
	case $1 in '' | *[!0-9]*) die "up: N must be a number, got '$1'" ;; esac
	[ "$1" -ge 1 ] && [ "$1" -le 60 ] || die "up: N must be 1..60, got $1"
	[ ! -e "$2/n" ] || die "'$2' already holds a rig (run: $0 down $2)"
	mkdir -p "$2/local" /nix
	D=$(cd "$2" && pwd)
	ssh-keygen -q -t ed25519 -N '' -C nix-peers-client -f "$D/client_key"
	cp "$D/client_key.pub" "$D/authorized_keys"
	: >"$D/ssh_config"
	: >"$D/known_hosts"
	echo "$1" >"$D/n"
	_i=1
	while [ "$_i" -le "$1" ]; do
		start_peer "$D" "$_i"
		_i=$((_i + 1))
	done
	_i=1
	while [ "$_i" -le "$1" ]; do
		_t=0
		until sshd_pid "$D/p$_i" >/dev/null && ssh -F "$D/ssh_config" "nix-peer$_i" true 2>/dev/null; do
			_t=$((_t + 1))
			[ $_t -lt 100 ] || die "peer $_i did not come up: $(cat "$D/p$_i/unshare.log" "$D/p$_i/sshd.log" 2>/dev/null)"
			sleep 0.1
		done
		_i=$((_i + 1))
	done
}

alive() { # PID: running (a zombie, which init reaps later, is not)
	_st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	_st=${_st##*) }
	[ "${_st%% *}" != Z ]
}

cmd_down() { # DIR
	[ -d "$1" ] || return 0
	_pids=""
	for P in "$1"/p*; do
		[ -d "$P" ] || continue
		if _pid=$(sshd_pid "$P"); then
			_kids=$(descendants "$_pid")
			kill "$_pid" 2>/dev/null || true
			for _k in $_kids; do kill "$_k" 2>/dev/null || true; done
			_pids="$_pids $_pid"
		fi
	done
	for _pid in $_pids; do
		_t=0
		while alive "$_pid" && [ $_t -lt 50 ]; do
			sleep 0.1
			_t=$((_t + 1))
		done
		! alive "$_pid" || kill -9 "$_pid" 2>/dev/null || true
	done
	chmod -R u+w "$1" 2>/dev/null || true
	rm -rf "$1"
}

case "${1:-}" in
up) [ $# -eq 3 ] || die "usage: $0 up N DIR"; cmd_up "$2" "$3" ;;
down) [ $# -eq 2 ] || die "usage: $0 down DIR"; cmd_down "$2" ;;
env) [ $# -eq 2 ] || die "usage: $0 env DIR"; cmd_env "$(cd "$2" && pwd)" ;;
*) echo "usage: $0 up N DIR | down DIR | env DIR" >&2; exit 2 ;;
esac
