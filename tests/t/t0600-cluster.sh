#!/bin/bash
# tests/cluster.sh itself: three machines with their own address, store and
# sshd; ssh with a checked host key; stop/start, cut/heal, slow, fill; the
# master's namespace; and `down` leaving no namespace, process, route or file.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
for c in /usr/sbin/sshd ssh ssh-keygen tc nsenter unshare; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done

CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
trap '"$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT

now() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); } # ms
sshm() { # ADDR CMD... — the OpenSSH client as the offload tests use it
	local a=$1
	shift
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="${KH:-$KNOWN_HOSTS}" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -i "$MASTER_KEY" -o ConnectTimeout=2 -o LogLevel=ERROR \
		"root@$a" "$@"
}
sshx() { sshm "$@" || return 1; } # any failure as 1 (ssh's own is 255)
addr() { local v="M$1_ADDR"; echo "${!v}"; }

t0=$(now)
ok "up 3" "$CL" up 3 "$D" || { done_testing; }
up_ms=$(($(now) - t0))
echo "# up 3 took $up_ms ms"
ok "up 3 in under 3 s ($up_ms ms)" test "$up_ms" -lt 3000
eval "$("$CL" env "$D")"
is "env names the cluster" "$YONDER_CLUSTER" "$D"
ns_ours() { ip netns list | grep -c "^yonder-$CLUSTER_ID-m" || true; }
is "three namespaces" "$(ns_ours)" 3
fails "up again on the same directory is refused" "$CL" up 3 "$D"
like "a second up says why" "$(cat "$T/.err")" "not empty"

# Each machine: reachable only with its own host key, yonder on PATH, own name.
for k in 1 2 3; do
	a=$(addr $k)
	like "m$k: address in the private range" "$a" '^10\.213\.[0-9]+\.[0-9]+$'
	is "m$k: ssh runs yonder --version" "$(sshm "$a" yonder --version 2>&1)" "$("$YONDER" --version)"
	is "m$k: host name" "$(sshm "$a" hostname 2>&1)" "m$k"
	is "m$k: host_key.pub is the key it offers" \
		"$(ssh-keyscan -t ed25519 -T 2 "$a" 2>/dev/null | cut -d' ' -f2,3)" "$(cut -d' ' -f1,2 "$D/m$k/host_key.pub")"
done

# Stores are per machine: written with exec on m1, seen over ssh on m1 only.
ok "exec writes into m1's store" "$CL" exec 1 sh -c 'echo hello-m1 > /yonder/store/probe'
is "m1 sees it over ssh" "$(sshm "$M1_ADDR" cat /yonder/store/probe 2>&1)" "hello-m1"
fails "m2 does not" sshx "$M2_ADDR" test -e /yonder/store/probe
ok "the host's /yonder/store does not" test ! -e /yonder/store/probe
is "M1_STORE shows it from the host" "$(cat "$M1_STORE/probe")" "hello-m1"
is "exec unsets the caller's YONDER_* (defaults apply)" \
	"$(YONDER_STORE_DIR=/elsewhere "$CL" exec 2 sh -c 'echo "${YONDER_STORE_DIR-unset} $(hostname)"')" "unset m2"
is "/var/yonder is m3's state dir" \
	"$("$CL" exec 3 sh -c 'echo s3 > /var/yonder/probe'; cat "$M3_STATE/probe")" "s3"

# Signing keys exchanged both ways.
mpub=$(cat "$MASTER_CONFIG/signing-key.pub")
like "master key named master" "$mpub" '^master:'
for k in 1 2 3; do
	c="M${k}_CONFIG"
	ok "m$k trusts the master" grep -qxF "$mpub" "${!c}/acl"
	ok "the master trusts m$k" grep -qxF "$(cat "${!c}/signing-key.pub")" "$MASTER_CONFIG/acl"
done
is "the master trusts exactly the 3 machines" "$(grep -c '^m[0-9]' "$MASTER_CONFIG/acl")" 3
is "master namespace: own store, names resolve, ssh by name with defaults" \
	"$("$CL" exec master sh -c 'echo x > /yonder/store/mprobe; ssh m2 hostname' 2>&1; cat "$MASTER_STORE/mprobe")" "m2
x"

# Host keys are checked: a wrong or unknown key is refused.
grep "^m2," "$KNOWN_HOSTS" | sed "s/^m2,$M2_ADDR/m1,$M1_ADDR/" >"$T/wrong_known_hosts"
KH=$T/wrong_known_hosts fails "wrong host key refused" sshx "$M1_ADDR" true
like "and said so" "$(cat "$T/.err")" "IDENTIFICATION HAS CHANGED|Host key verification failed"
: >"$T/empty_known_hosts"
KH=$T/empty_known_hosts fails "unknown host key refused" sshx "$M1_ADDR" true

# stop / start: the store survives, since the namespaces outlive sshd.
sshd2=$(cat "$D/m2/sshd.pid")
ok "stop 2" "$CL" stop 2
dead() { # gone, or a zombie for init to reap
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	[ "${st%% *}" = Z ]
}
ok "m2's sshd is gone" dead "$sshd2"
fails "ssh to a stopped machine fails" sshx "$M2_ADDR" true
ok "ssh to m3 still works" sshm "$M3_ADDR" true
like "status shows it" "$("$CL" status "$D")" "m2 .*sshd STOPPED"
ok "start 2" "$CL" start 2
ok "ssh to m2 works again" sshm "$M2_ADDR" true
ok "start is idempotent" "$CL" start 2

# cut / heal: packets are dropped (a timeout), then it works again.
ok "cut 3" "$CL" cut 3
t0=$(now)
fails "ssh to a cut machine fails" sshx "$M3_ADDR" true
cut_ms=$(($(now) - t0))
like "by timing out" "$(cat "$T/.err")" "timed out"
ok "within 5 s ($cut_ms ms)" test "$cut_ms" -lt 5000
like "status shows the cut" "$("$CL" status "$D")" "m3 .*link CUT"
ok "heal 3" "$CL" heal 3
ok "ssh works after heal" sshm "$M3_ADDR" true

# slow: 512 KiB through 4 Mbit/s takes about 1 s.
ok "slow 1 4mbit" "$CL" slow 1 4mbit
t0=$(now)
is "512 KiB arrive" "$(sshm "$M1_ADDR" head -c 524288 /dev/zero | wc -c)" 524288
slow_ms=$(($(now) - t0))
ok "slowly ($slow_ms ms)" test "$slow_ms" -gt 700
ok "slow 1 off" "$CL" slow 1 off
fails "a bad rate is refused" "$CL" slow 1 fast

# fill: the store has a fixed size and can be filled.
size=$("$CL" exec 1 df -B1 --output=size /yonder/store | tail -1)
ok "the store has a fixed size ($size)" test "$size" -gt 100000000 -a "$size" -lt 1000000000
ok "fill 1" "$CL" fill 1
avail=$(sshm "$M1_ADDR" df -B1 --output=avail /yonder/store | tail -1)
ok "df shows it full ($avail bytes free)" test "$avail" -lt 1048576
fails "writing 1 MiB fails" sshx "$M1_ADDR" 'head -c 1048576 /dev/zero > /yonder/store/big'
avail2=$(sshm "$M2_ADDR" df -B1 --output=avail /yonder/store | tail -1)
ok "m2's store is not full" test "$avail2" -gt 100000000
ok "unfill 1" "$CL" unfill 1
avail=$(sshm "$M1_ADDR" df -B1 --output=avail /yonder/store | tail -1)
ok "m1's store has room again" test "$avail" -gt 100000000

# down: nothing of ours is left; a second down is a no-op.
# (holders and sshd name $D on their command line; the sleeps are ours)
sleeps() { grep -alP '^sleep\x0030[123]\x00$' /proc/[0-9]*/cmdline 2>/dev/null | grep -c . || true; }
ours_left() { { grep -lF -- "$D/" /proc/[0-9]*/cmdline 2>/dev/null; grep -alP '^sleep\x0030[123]\x00$' /proc/[0-9]*/cmdline 2>/dev/null; } | grep -c . || true; }
"$CL" exec 3 sleep 301 </dev/null >/dev/null 2>&1 &
"$CL" exec master sleep 302 </dev/null >/dev/null 2>&1 &
sshm "$M1_ADDR" sleep 303 </dev/null >/dev/null 2>&1 &
three_sleeps() { [ "$(sleeps)" -eq 3 ]; }
wait_for "3 commands in the cluster" 5 three_sleeps
disown -a # down kills them; no job messages
n=$(ours_left)
ok "before down, our processes are found ($n)" test "$n" -ge 10
t0=$(now)
ok "down" "$CL" down "$D"
down_ms=$(($(now) - t0))
echo "# down took $down_ms ms"
is "no namespace of ours left" "$(ns_ours)" 0
is "no process of ours left" "$(ours_left)" 0
ok "no host veth left" test -z "$(ip -o link show | grep "y${CLUSTER_ID}m")"
ok "no route left" test -z "$(ip -4 route show | grep "^blackhole ${M1_ADDR%.*}\.0/24")"
ok "DIR removed" test ! -e "$D"
ok "down again is a no-op" "$CL" down "$D"
done_testing
