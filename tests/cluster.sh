#!/bin/bash
# tests/cluster.sh — N build machines on one host, for the offload tests, the
# demo and the benchmarks.  Usage and layout: doc/CLUSTER.md.
#
# Each machine mK is a network namespace (veth to the host, 10.213.S.4K+2)
# plus a private mount and UTS namespace held open by a "holder" process, in
# which its own directories sit on /yonder/store (a tmpfs of fixed size),
# /var/yonder, /etc/yonder and /root, and a real OpenSSH sshd listens on port
# 22.  "master" is a private mount namespace on the host's network for the
# master's own /yonder/store, /var/yonder, /etc/yonder and /root.  Only the
# addresses of the veths created here are ever contacted.
#
# Everything started is recorded in DIR; `down` stops it by recorded PID
# (checked against the command line), then kills whatever is left inside the
# namespaces created here, deletes them and removes DIR.

set -eu -o pipefail
umask 022

TOP=$(cd "$(dirname "$0")/.." && pwd)
SELF=$TOP/tests/cluster.sh
YONDER_BIN=${YONDER_CLUSTER_YONDER:-$TOP/${O:-build}/yonder}
STORE_SIZE=${YONDER_CLUSTER_STORE_SIZE:-300M}
NET=10.213 # cluster slot S uses 10.213.S.0/24 (claimed by a blackhole route)
MAXN=62
SSHD=/usr/sbin/sshd
RUN_EXEC=""
SYSPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "cluster.sh: $*" >&2; exit 1; }
note() { [ -n "${YONDER_CLUSTER_QUIET:-}" ] || echo "cluster.sh: $*" >&2; }

usage() {
	cat >&2 <<'EOF'
usage: tests/cluster.sh up N [DIR]        start machines m1..mN (prints DIR)
       tests/cluster.sh down [DIR]        stop everything, remove DIR (idempotent)
       tests/cluster.sh status [DIR]      what runs
       tests/cluster.sh env [DIR]         shell variables, for eval
       tests/cluster.sh [-d DIR] stop K | start K       sshd of machine K
       tests/cluster.sh [-d DIR] cut K | heal K         link of machine K down/up
       tests/cluster.sh [-d DIR] slow K RATE|off        tc tbf both ways (RATE: 10mbit, 1mbps…)
       tests/cluster.sh [-d DIR] fill K [BYTES] | unfill K   fill the store (leave BYTES free)
       tests/cluster.sh [-d DIR] exec K|master CMD...   run CMD inside the machine
       tests/cluster.sh [-d DIR] ssh K [CMD...]         OpenSSH client from the master
DIR defaults to $YONDER_CLUSTER (set by `eval "$(tests/cluster.sh env DIR)"`).
EOF
	exit 2
}

now_ms() { local t=${EPOCHREALTIME/[.,]/}; NOW=$((t / 1000)); }

# wait_until MS WHAT CMD... — poll CMD every 10 ms until it succeeds.
wait_until() {
	local ms=$1 what=$2 end
	shift 2
	now_ms
	end=$((NOW + ms))
	until "$@"; do
		now_ms
		[ "$NOW" -lt "$end" ] || { echo "cluster.sh: timed out after ${ms} ms waiting for $what" >&2; return 1; }
		sleep 0.01
	done
}

# ---- identity and state ----------------------------------------------------

set_dir() { # DIR — sets D (absolute) and ID (from D: unique per instance)
	[ -n "$1" ] || die "no cluster directory (give DIR, -d DIR or set YONDER_CLUSTER)"
	D=$(realpath -m -- "$1")
	[[ $D =~ ^/[A-Za-z0-9/._+-]*$ ]] || die "cluster directory '$D': only [A-Za-z0-9/._+-] allowed (it goes into sshd_config)"
	ID=$(printf '%s' "$D" | sha256sum | cut -c1-8)
}

load() { # after set_dir: SLOT and N from DIR/cluster
	[ -r "$D/cluster" ] || die "'$D' is not a running cluster (no $D/cluster)"
	# shellcheck disable=SC1091
	. "$D/cluster"
}

ns_of() { echo "yonder-$ID-m$1"; }
hif_of() { echo "y${ID}m$1"; }
host_addr() { echo "$NET.$SLOT.$((4 * $1 + 1))"; }
addr_of() { echo "$NET.$SLOT.$((4 * $1 + 2))"; }
mac_of() { printf '02:59:%02x:%02x:00:%02x' "$SLOT" "$1" "$2"; } # K 1=host 2=machine

machine_num() { # K or mK -> K
	local k=${1#m}
	[[ $k =~ ^[1-9][0-9]*$ ]] && [ "$k" -le "$N" ] || die "no machine '$1' in this cluster (m1..m$N)"
	echo "$k"
}

# pid_from FILE PATTERN — print the PID in FILE if that process is alive and
# its command line contains PATTERN (so a reused PID is never taken for ours).
pid_from() {
	local pid cmd
	[ -s "$1" ] || return 1
	read -r pid <"$1" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$2"* ]] || return 1
	echo "$pid"
}
holder_pid() { pid_from "$D/$1/holder.pid" "yonder-cluster-holder $D/$1"; } # m1 | master
sshd_pid() { pid_from "$D/m$1/sshd.pid" "-f $D/m$1/sshd_config"; }

gone() { # PID... — all dead (a zombie counts as dead: init reaps it later)
	local p st
	for p; do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		st=${st##*) }
		[ "${st%% *}" = Z ] || return 1
	done
}

# kill_tree PID — SIGKILL PID and all its descendants (listed before killing,
# so none is lost by being reparented), and wait until PID is gone.
kill_tree() {
	local all
	all=$({ cat /proc/[0-9]*/stat 2>/dev/null || :; } | awk -v root="$1" '
		{ pid = $1; sub(/^.*\) /, ""); kids[$2] = kids[$2] " " pid }
		END { q[1] = root; n = 1; for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] } }')
	# shellcheck disable=SC2086
	kill -9 $all 2>/dev/null || true
	wait_until 5000 "process $1 to die" gone "$1"
}

# ---- up ----------------------------------------------------------------------

# The holder: inside the new namespaces, mount the machine's directories and
# then sleep for ever, keeping the namespaces alive across sshd restarts.
HOLDER_SCRIPT='
set -e
d=$1 m=$2 size=$3
for f in /proc/self/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-" 2>/dev/null; done || true
echo "$m" >/proc/sys/kernel/hostname
if [ "$m" = master ]; then
	mount --bind "$d/master/store" /yonder/store
	mount --bind "$d/master/hosts" /etc/hosts
else
	mount -t tmpfs -o "size=$size,mode=0755" yonder-store /yonder/store
	mount -t tmpfs -o mode=0755 tmpfs /run
	mkdir -m 0755 /run/sshd
fi
mount --bind "$d/$m/state" /var/yonder
mount --bind "$d/$m/config" /etc/yonder
mount --bind "$d/$m/home" /root
echo $$ >"$d/$m/holder.pid.new"
mv "$d/$m/holder.pid.new" "$d/$m/holder.pid"
exec -a "yonder-cluster-holder $d/$m" sleep infinity
'

start_holder() { # m1 | master
	if [ "$1" = master ]; then
		setsid unshare -m -u --propagation private bash -c "$HOLDER_SCRIPT" holder "$D" master "" \
			</dev/null >"$D/master/holder.log" 2>&1 &
		disown $!
	else
		setsid ip netns exec "$(ns_of "${1#m}")" unshare -m -u --propagation private \
			bash -c "$HOLDER_SCRIPT" holder "$D" "$1" "$STORE_SIZE" \
			</dev/null >"$D/$1/holder.log" 2>&1 &
		disown $!
	fi
}

holder_ready() { # m1 | master
	local pid
	pid=$(holder_pid "$1") || return 1
	readlink "/proc/$pid/ns/mnt" >"$D/$1/holder.mnt"
	[ "$1" = master ] || ln -sfn "/proc/$pid/root/yonder/store" "$D/$1/store"
}

start_sshd() { # K
	rm -f "$D/m$1/sshd.pid"
	local h
	h=$(holder_pid "m$1") || die "machine m$1 is not running (no holder process)"
	setsid nsenter -t "$h" -m -u -n -- env -i PATH=$SYSPATH \
		$SSHD -D -f "$D/m$1/sshd_config" -E "$D/m$1/sshd.log" \
		</dev/null >>"$D/m$1/sshd.out" 2>&1 &
	disown $!
}

tcp_open() { (exec 3<>"/dev/tcp/$1/22") 2>/dev/null; }

sshd_ready() { # K — our sshd is alive and accepts TCP connections
	sshd_pid "$1" >/dev/null && tcp_open "$(addr_of "$1")"
}

write_sshd_config() { # K
	cat >"$D/m$1/sshd_config" <<EOF
# machine m$1 of cluster $D (tests/cluster.sh)
ListenAddress $(addr_of "$1"):22
HostKey $D/m$1/host_key
PidFile $D/m$1/sshd.pid
AuthorizedKeysFile $D/m$1/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 64
MaxStartups 64:30:128
Subsystem sftp internal-sftp
SetEnv PATH=$D/bin:$SYSPATH
EOF
}

claim_slot() { # claim a free 10.213.S.0/24 by adding a blackhole route for it
	local s
	for ((s = 0; s < 256; s++)); do
		[ -z "$(ip -4 -o route show root "$NET.$s.0/24")" ] || continue
		[ -z "$(ip -4 -o addr show to "$NET.$s.0/24")" ] || continue
		if ip -4 route add blackhole "$NET.$s.0/24" 2>/dev/null; then
			SLOT=$s
			return 0
		fi
	done
	die "no free address block in $NET.0.0/16"
}

run_in() { # TARGET CMD... — CMD in the machine's namespaces, its YONDER_* defaults
	local h envs=() v
	h=$(holder_pid "$1") || die "machine $1 is not running (no holder process)"
	shift
	for v in $(compgen -e); do [[ $v != YONDER_* ]] || envs+=(-u "$v"); done
	$RUN_EXEC nsenter -t "$h" -m -u -n -- env "${envs[@]}" PATH="$D/bin:$PATH" HOME=/root \
		bash -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' run "$PWD" "$@"
}

exchange_yonder_keys() {
	if ! "$D/bin/yonder" archive --help >/dev/null 2>&1; then
		note "$D/bin/yonder does not run: no signing keys made (build yonder first)"
		return 0
	fi
	local k pids=()
	run_in master yonder archive --generate-key --name master
	for ((k = 1; k <= N; k++)); do
		run_in "m$k" sh -c 'yonder archive --generate-key --name "$1" && yonder archive --authorize <"$2"' \
			sh "m$k" "$D/master/config/signing-key.pub" &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
	# shellcheck disable=SC2016
	local pubs=()
	for ((k = 1; k <= N; k++)); do pubs+=("$D/m$k/config/signing-key.pub"); done
	run_in master sh -c 'for f; do yonder archive --authorize <"$f" || exit; done' sh "${pubs[@]}"
}

up_failed() {
	local f
	for f in "$D"/*/holder.log "$D"/m*/sshd.log "$D"/m*/sshd.out; do
		[ ! -s "$f" ] || sed "s|^|${f#"$D"/}: |" "$f" | tail -5 >&2
	done
	echo "cluster.sh: up failed; cleaning up" >&2
	"$SELF" down "$D" >&2 || true
}

cmd_up() {
	[ $# -ge 1 ] && [ $# -le 2 ] || usage
	N=$1
	[[ $N =~ ^[1-9][0-9]*$ ]] && [ "$N" -le $MAXN ] || die "N must be 1..$MAXN, not '$N'"
	[ "$(id -u)" = 0 ] || die "must run as root"
	local c
	for c in ip tc unshare nsenter setsid ssh ssh-keygen $SSHD; do
		command -v "$c" >/dev/null || die "'$c' not found (scripts/install-deps.sh installs it)"
	done
	local dir=${2:-}
	[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/yonder-cluster.XXXXXX")
	mkdir -p -- "$dir"
	set_dir "$dir"
	chmod 0700 "$D"
	[ -z "$(ls -A "$D")" ] || die "'$D' is not empty (a cluster already there? run: $0 down $D)"
	now_ms
	local t0=$NOW k
	UP_OK=0
	# Whatever fails from here on, leave nothing behind.
	trap '[ $UP_OK = 1 ] || up_failed' EXIT
	trap 'exit 130' INT TERM

	# Mount points, on the host: never removed (another cluster may use them).
	mkdir -p /yonder/store /var/yonder /etc/yonder
	claim_slot
	printf 'ID=%s\nSLOT=%s\nN=%s\n' "$ID" "$SLOT" "$N" >"$D/cluster"

	mkdir -p "$D/bin" "$D/master/store" "$D/master/state" "$D/master/config" "$D/master/home/.ssh"
	chmod 0700 "$D/master/home" "$D/master/home/.ssh"
	ln -s "$YONDER_BIN" "$D/bin/yonder"
	ssh-keygen -q -t ed25519 -N '' -C "master@yonder-cluster" -f "$D/master/id_ed25519"
	ln "$D/master/id_ed25519" "$D/master/home/.ssh/id_ed25519"
	ln "$D/master/id_ed25519.pub" "$D/master/home/.ssh/id_ed25519.pub"
	{ cat /etc/hosts; for ((k = 1; k <= N; k++)); do echo "$(addr_of "$k") m$k"; done; } >"$D/master/hosts"
	echo "$(host_addr 1) master" >>"$D/master/hosts"

	local ns hif batch=""
	for ((k = 1; k <= N; k++)); do
		mkdir -p "$D/m$k/state" "$D/m$k/config" "$D/m$k/home"
		chmod 0700 "$D/m$k/home"
		ssh-keygen -q -t ed25519 -N '' -C "root@m$k" -f "$D/m$k/host_key" &
		cp "$D/master/id_ed25519.pub" "$D/m$k/authorized_keys"
		write_sshd_config "$k"
		ns=$(ns_of "$k") hif=$(hif_of "$k")
		batch+="netns add $ns
link add $hif address $(mac_of "$k" 1) type veth peer name eth0 address $(mac_of "$k" 2) netns $ns
link set $hif addrgenmode none
addr add $(host_addr "$k")/30 dev $hif
link set $hif up
neigh replace $(addr_of "$k") lladdr $(mac_of "$k" 2) dev $hif nud permanent
"
	done
	ip -batch - <<<"$batch"
	for ((k = 1; k <= N; k++)); do
		ip -n "$(ns_of "$k")" -batch - <<EOF
link set lo up
link set eth0 addrgenmode none
addr add $(addr_of "$k")/30 dev eth0
link set eth0 up
neigh replace $(host_addr "$k") lladdr $(mac_of "$k" 1) dev eth0 nud permanent
EOF
	done
	wait # host keys

	start_holder master
	for ((k = 1; k <= N; k++)); do start_holder "m$k"; done
	wait_until 5000 "the master's namespace" holder_ready master
	for ((k = 1; k <= N; k++)); do wait_until 5000 "machine m$k's namespaces" holder_ready "m$k"; done
	for ((k = 1; k <= N; k++)); do start_sshd "$k"; done

	: >"$D/master/known_hosts"
	{
		for ((k = 1; k <= N; k++)); do
			echo "m$k,$(addr_of "$k") $(cut -d' ' -f1,2 "$D/m$k/host_key.pub")" >>"$D/master/known_hosts"
			printf 'Host m%s %s\n  HostName %s\n' "$k" "$(addr_of "$k")" "$(addr_of "$k")"
		done
		cat <<EOF
Host *
  User root
  Port 22
  IdentityFile $D/master/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $D/master/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
  LogLevel ERROR
EOF
	} >"$D/master/ssh_config"
	ln "$D/master/known_hosts" "$D/master/home/.ssh/known_hosts"
	ln "$D/master/ssh_config" "$D/master/home/.ssh/config"

	exchange_yonder_keys
	for ((k = 1; k <= N; k++)); do
		wait_until 5000 "sshd of m$k (see $D/m$k/sshd.log)" sshd_ready "$k"
	done
	UP_OK=1
	now_ms
	note "$N machines up in $((NOW - t0)) ms: $D"
	echo "$D"
}

# ---- down --------------------------------------------------------------------

# kill_netns NS — SIGKILL every process in network namespace NS (all of them
# were started here: the holder, sshd, its sessions, `exec` commands).
netns_empty() { [ -z "$(ip netns pids "$1" 2>/dev/null)" ]; }
kill_netns() {
	local pids
	pids=$(ip netns pids "$1" 2>/dev/null | grep -vx "$$" || true)
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	wait_until 5000 "the processes in $1 to die" netns_empty "$1"
}

mntns_pids() { # INODE-TEXT — PIDs whose mount namespace is that one
	find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' -lname "$(printf '%s' "$1" | sed 's/[][*?\\]/\\&/g')" 2>/dev/null |
		cut -d/ -f3 | grep -vx "$$" || true
}
mntns_empty() { [ -z "$(mntns_pids "$1")" ]; }

cmd_down() {
	[ $# -le 1 ] || usage
	set_dir "${1:-$DARG}"
	SLOT="" N=0
	[ ! -r "$D/cluster" ] || . "$D/cluster"
	now_ms
	local t0=$NOW k ns pid mnt nss left bad=0
	set +e # best effort: carry on past any failure, report it at the end
	# Machines: by recorded PID first, then whatever is left in the namespace.
	nss=$(ip netns list 2>/dev/null | awk -v p="yonder-$ID-m" 'index($1, p) == 1 { print $1 }')
	for ((k = 1; k <= N; k++)); do
		! pid=$(sshd_pid "$k") || kill_tree "$pid"
		! pid=$(holder_pid "m$k") || { kill -9 "$pid"; wait_until 5000 "holder of m$k to die" gone "$pid"; }
	done
	for ns in $nss; do
		kill_netns "$ns" || bad=1
		ip netns del "$ns" || bad=1
	done
	for ((k = 1; k <= N; k++)); do # gone with the namespace, unless that failed
		ip link del "$(hif_of "$k")" 2>/dev/null
	done
	# The master: its holder, then anything still in its mount namespace.
	! pid=$(holder_pid master) || kill -9 "$pid"
	if [ -s "$D/master/holder.mnt" ]; then
		read -r mnt <"$D/master/holder.mnt"
		left=$(mntns_pids "$mnt")
		[ -z "$left" ] || kill -9 $left 2>/dev/null
		wait_until 5000 "the master's processes to die" mntns_empty "$mnt" || bad=1
	fi
	if [ $bad = 1 ]; then
		echo "cluster.sh: could not stop everything; $D kept (run down again)" >&2
		exit 1
	fi
	[ -z "$SLOT" ] || ip -4 route del blackhole "$NET.$SLOT.0/24" 2>/dev/null
	if [ -e "$D" ]; then
		# Nothing is ever mounted under DIR on the host; never cross into a mount.
		! awk -v d="$D/" 'index($5, d) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo ||
			die "something is mounted under $D; not removing it"
		rm -rf --one-file-system -- "$D" || exit 1
	fi
	now_ms
	note "down in $((NOW - t0)) ms: $D"
}

# ---- the rest -------------------------------------------------------------------

cmd_status() {
	[ $# -le 1 ] || usage
	set_dir "${1:-$DARG}"
	load
	local k pid st=0 link up
	if pid=$(holder_pid master); then echo "master  holder $pid"; else echo "master  DOWN (no holder)"; st=1; fi
	for ((k = 1; k <= N; k++)); do
		printf 'm%-3s %-14s ' "$k" "$(addr_of "$k")"
		up=0
		if pid=$(holder_pid "m$k"); then printf 'holder %-7s ' "$pid"; up=1; else printf 'holder DOWN   '; st=1; fi
		if pid=$(sshd_pid "$k"); then printf 'sshd %-7s ' "$pid"; else printf 'sshd STOPPED '; fi
		link=up
		[[ $(ip -n "$(ns_of "$k")" -o link show eth0 2>&1) == *"state UP"* ]] || link=CUT
		[[ $(ip -o link show "$(hif_of "$k")" 2>&1) == *"state UP"* ]] || link=CUT
		[[ $(tc qdisc show dev "$(hif_of "$k")" 2>&1) != *tbf* ]] || link="$link,slow"
		printf 'link %s' "$link"
		if [ $up = 1 ] && run_in "m$k" mountpoint -q /yonder/store; then
			df=$(run_in "m$k" df -h --output=used,size /yonder/store | tail -1)
			printf '  store %s' "$(echo $df | tr ' ' /)"
		elif [ $up = 1 ]; then
			printf '  store NOT MOUNTED (was /yonder/store removed on the host?)'
			st=1
		fi
		echo
	done
	return $st
}

cmd_env() {
	[ $# -le 1 ] || usage
	set_dir "${1:-$DARG}"
	load
	local k
	echo "export YONDER_CLUSTER='$D'"
	echo "export CLUSTER_N='$N'"
	echo "export CLUSTER_ID='$ID'"
	echo "export MASTER_KEY='$D/master/id_ed25519'"
	echo "export MASTER_PUB='$D/master/id_ed25519.pub'"
	echo "export KNOWN_HOSTS='$D/master/known_hosts'"
	echo "export SSH_CONFIG='$D/master/ssh_config'"
	echo "export MASTER_STORE='$D/master/store' MASTER_STATE='$D/master/state' MASTER_CONFIG='$D/master/config'"
	for ((k = 1; k <= N; k++)); do
		echo "export M${k}_NAME='m$k' M${k}_ADDR='$(addr_of "$k")' M${k}_PORT='22' M${k}_NS='$(ns_of "$k")'"
		echo "export M${k}_HOST_KEY='$(cat "$D/m$k/host_key.pub")' M${k}_HOST_KEY_FILE='$D/m$k/host_key.pub'"
		echo "export M${k}_STORE='$D/m$k/store' M${k}_STATE='$D/m$k/state' M${k}_CONFIG='$D/m$k/config'"
	done
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	local k pid
	k=$(machine_num "$1")
	if pid=$(sshd_pid "$k"); then kill_tree "$pid"; fi
	rm -f "$D/m$k/sshd.pid"
}

cmd_start() {
	[ $# -eq 1 ] || usage
	local k
	k=$(machine_num "$1")
	sshd_pid "$k" >/dev/null && return 0
	start_sshd "$k"
	wait_until 5000 "sshd of m$k (see $D/m$k/sshd.log)" sshd_ready "$k"
}

link_updown() { # K up|down — the machine's end: the host keeps its route, so
	# packets to a cut machine are dropped, never sent elsewhere.
	local k
	k=$(machine_num "$1")
	ip -n "$(ns_of "$k")" link set eth0 "$2"
	[ "$2" = down ] || {
		ip -n "$(ns_of "$k")" neigh replace "$(host_addr "$k")" lladdr "$(mac_of "$k" 1)" dev eth0 nud permanent
		ip neigh replace "$(addr_of "$k")" lladdr "$(mac_of "$k" 2)" dev "$(hif_of "$k")" nud permanent
	}
}

rate_bytes() { # tc rate -> bytes/s (0 if not understood)
	local v u
	[[ $1 =~ ^([0-9]+)([A-Za-z]*)$ ]] || { echo 0; return; }
	v=${BASH_REMATCH[1]} u=${BASH_REMATCH[2],,}
	case $u in
	bit) echo $((v / 8)) ;; kbit) echo $((v * 125)) ;; mbit) echo $((v * 125000)) ;; gbit) echo $((v * 125000000)) ;;
	bps) echo "$v" ;; kbps) echo $((v * 1000)) ;; mbps) echo $((v * 1000000)) ;; gbps) echo $((v * 1000000000)) ;;
	*) echo 0 ;;
	esac
}

cmd_slow() {
	[ $# -eq 2 ] || usage
	local k ns hif b burst
	k=$(machine_num "$1") ns=$(ns_of "$k") hif=$(hif_of "$k")
	if [ "$2" = off ]; then
		tc qdisc del dev "$hif" root 2>/dev/null || true
		tc -n "$ns" qdisc del dev eth0 root 2>/dev/null || true
		return 0
	fi
	b=$(rate_bytes "$2")
	[ "$b" -gt 0 ] || die "rate '$2': expected a number and bit, kbit, mbit, gbit, bps, kbps, mbps or gbps"
	burst=$((b / 50))
	[ $burst -ge 16384 ] || burst=16384
	tc qdisc replace dev "$hif" root tbf rate "$2" burst "$burst" latency 200ms
	tc -n "$ns" qdisc replace dev eth0 root tbf rate "$2" burst "$burst" latency 200ms
}

cmd_fill() {
	[ $# -ge 1 ] && [ $# -le 2 ] || usage
	local k keep=${2:-0}
	k=$(machine_num "$1")
	[[ $keep =~ ^[0-9]+$ ]] || die "fill: BYTES must be a number, not '$keep'"
	# shellcheck disable=SC2016
	run_in "m$k" sh -c '
		avail=$(df -B1 --output=avail /yonder/store | tail -1)
		[ "$avail" -gt "$1" ] || exit 0
		f=$(mktemp /yonder/store/.cluster-fill.XXXXXX)
		fallocate -l $((avail - $1)) "$f"' sh "$keep"
}

cmd_unfill() {
	[ $# -eq 1 ] || usage
	local k
	k=$(machine_num "$1")
	run_in "m$k" sh -c 'rm -f /yonder/store/.cluster-fill.*'
}

cmd_exec() {
	[ $# -ge 2 ] || usage
	local t=$1
	shift
	[ "$t" = master ] || t=m$(machine_num "$t")
	RUN_EXEC="exec" run_in "$t" "$@"
}

cmd_ssh() {
	[ $# -ge 1 ] || usage
	local k
	k=$(machine_num "$1")
	shift
	exec ssh -F "$D/master/ssh_config" "m$k" "$@"
}

DARG=${YONDER_CLUSTER:-}
if [ "${1:-}" = -d ]; then
	[ $# -ge 2 ] || usage
	DARG=$2
	shift 2
fi
[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
status) cmd_status "$@" ;;
env) cmd_env "$@" ;;
stop | start | slow | fill | unfill | exec | ssh | cut | heal)
	set_dir "$DARG"
	load
	case $cmd in
	cut) [ $# -eq 1 ] || usage; link_updown "$1" down ;;
	heal) [ $# -eq 1 ] || usage; link_updown "$1" up ;;
	*) "cmd_$cmd" "$@" ;;
	esac
	;;
*) usage ;;
esac
