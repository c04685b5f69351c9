#!/bin/bash
# The daemon offloading to machines that refuse or cannot take a build:
# a wrong host key in machines.scm (refused, the message names the key
# offered and the key expected, other machines used); our key not in the
# machine's ACL and the machine's key not in ours (refused, the message
# says which ACL lacks which key, retried elsewhere, or a clear failure);
# the machine's store full (transient, retried elsewhere, nothing partial
# registered), whether it is known before the upload (the handshake says
# so) or found during it (the disk fills up), and a machine with less than
# 100 MiB free not picked at all;
# a preferLocalBuild derivation built locally when there is a local slot.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-cluster.sh"
cluster_up 3
# machine NAME HOST-KEY SPEED [MORE] — the machines share this host's
# load average: no overload threshold.
machine() {
	printf '(build-machine (name "%s") (user "root") (host-key "%s") (systems (list "%s")) (speed %s) (overload-threshold #f) %s)\n' \
		"$1" "$2" "$sys" "$3" "${4:-}"
}
# A new derivation each time: NAME and its builder's shell script.
drv() {
	printf '(derivation (name "%s") (system "%s") (builder "/bin/sh") (args "-c" "%s") %s)\n' \
		"$1" "$sys" "$2" "${3:-}" >"$T/$1.scm"
	M derivation "$T/$1.scm"
}
HOSTNAME_OUT='/bin/hostname > $out'

# ---- c: a wrong host key ------------------------------------------------------
{
	echo "(list"
	machine m1 "$M2_HOST_KEY" 4.0 # m2's key for m1: wrong
	machine m2 "$M2_HOST_KEY" 1.0
	echo ")"
} >"$MASTER_CONFIG/machines.scm"
ok "the daemon starts" start_daemon --max-jobs 0
d=$(drv hostkey "$HOSTNAME_OUT")
M build "$d" >"$T/c.out" 2>"$T/c.err"
is "a wrong host key for m1: the build is done elsewhere" "$?" 0
is "by m2" "$(M store query --built-by "$(cat "$T/c.out")")" m2
M offload status >"$T/c.st"
st=$(tr '\n' ' ' <"$T/c.st")
like "m1 refused: the key it offered and the key expected" "$st" \
	"m1 .*health: down until .*root@m1: host key mismatch: it offered ssh-ed25519 $(fp "$M1_HOST_KEY_FILE"), expected ssh-ed25519 $(fp "$M2_HOST_KEY_FILE") \(the host-key of the machine at /etc/yonder/machines.scm:2:"
stop_daemon
# Only m1, with its wrong key: the build fails with that message.
{ echo "(list"; machine m1 "$M2_HOST_KEY" 1.0; echo ")"; } >"$T/only-m1.scm"
ok "a daemon whose only machine has a wrong key" start_daemon --max-jobs 0 --max-tries 1 --machines "$T/only-m1.scm"
d=$(drv hostkey2 "$HOSTNAME_OUT")
M build "$d" >"$T/c2.out" 2>"$T/c2.err"
ok "the build fails" test "$?" -ne 0
like "saying why: the host key, both fingerprints" "$(cat "$T/c2.err")" \
	"host key mismatch: it offered ssh-ed25519 $(fp "$M1_HOST_KEY_FILE"), expected ssh-ed25519 $(fp "$M2_HOST_KEY_FILE")"
is "not 'no machine can build'" "$(grep -c "no machine can build\|failed to find" "$T/c2.err")" 0
stop_daemon

# ---- d: the ACLs --------------------------------------------------------------
cp "$M1_CONFIG/acl" "$T/m1.acl"
cp "$MASTER_CONFIG/acl" "$T/master.acl"
sed -i '/^master:/d' "$M1_CONFIG/acl" # m1 does not trust us
sed -i '/^m2:/d' "$MASTER_CONFIG/acl" # we do not trust m2
{
	echo "(list"
	machine m1 "$M1_HOST_KEY" 4.0
	machine m2 "$M2_HOST_KEY" 2.0
	machine m3 "$M3_HOST_KEY" 1.0
	echo ")"
} >"$MASTER_CONFIG/machines.scm"
ok "the daemon starts with m1, m2, m3" start_daemon --max-jobs 0
d=$(drv acl "$HOSTNAME_OUT")
o=$(outof "$d")
M build "$d" >"$T/d.out" 2>"$T/d.err"
is "m1 and m2 refuse: the build is done on m3" "$?" 0
is "by m3" "$(M store query --built-by "$o")" m3
like "m1's ACL lacks our key" "$(cat "$T/d.err")" \
	"building on m1 failed \(.*that is: the ACL of m1 does not hold our key 'master' \(authorize our signing-key.pub there"
like "our ACL lacks m2's key" "$(cat "$T/d.err")" \
	"building on m2 failed \(.*the download was refused here: .*; that is: our ACL /etc/yonder/acl does not hold the key of m2 that signed it"
fails "nothing of it registered on m1" "$CL" exec 1 yonder store query --valid "$d"
fails "nor its output" "$CL" exec 1 yonder store query --valid "$o"
stop_daemon
# m2 alone: the build fails, saying why.
{ echo "(list"; machine m2 "$M2_HOST_KEY" 1.0; echo ")"; } >"$T/only-m2.scm"
ok "a daemon whose only machine is m2" start_daemon --max-jobs 0 --max-tries 1 --machines "$T/only-m2.scm"
d=$(drv acl2 "$HOSTNAME_OUT")
M build "$d" >"$T/d2.out" 2>"$T/d2.err"
ok "the build fails" test "$?" -ne 0
like "saying which ACL lacks which key" "$(cat "$T/d2.err")" "our ACL /etc/yonder/acl does not hold the key of m2"
fails "nothing registered here" M store query --valid "$(outof "$d")"
# Authorizing m2's key here and sending SIGHUP is enough: no restart.
cp "$T/master.acl" "$MASTER_CONFIG/acl"
n=$(grep -c "SIGHUP: .*reread" "$T/daemon.log")
kill -HUP "$DPID"
ok "SIGHUP: the daemon rereads its files" wait_for "the reread" 20 \
	sh -c '[ "$(grep -c "SIGHUP: .*reread" "$1")" -gt "$2" ]' sh "$T/daemon.log" "$n"
M build "$d" >"$T/d3.out" 2>"$T/d3.err"
is "with m2's key authorized and SIGHUP, the build succeeds" "$?" 0
is "built by m2" "$(M store query --built-by "$(outof "$d")")" m2
stop_daemon
cp "$T/m1.acl" "$M1_CONFIG/acl"

# ---- e: a full store ---------------------------------------------------------
head -c 3000000 /dev/urandom >"$T/input.bin"
cat >"$T/full.scm" <<S
(derivation (name "full") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "/bin/wc -c < " (local-file "input.bin") " > \$out; /bin/hostname >> \$out")))
S
d=$(M derivation "$T/full.scm")
o=$(outof "$d")
input=$(M store query --references "$d" | grep input.bin)
"$CL" fill 3 50000000 # 50 MB left: under 100 MiB
{
	echo "(list"
	machine m1 "$M1_HOST_KEY" 4.0
	machine m2 "$M2_HOST_KEY" 1.0
	machine m3 "$M3_HOST_KEY" 8.0
	echo ")"
} >"$MASTER_CONFIG/machines.scm"
# The daemon learns m1's and m3's free space from their handshakes only
# when it probes them: start it, then fill m1 (m1 reported room).
ok "the daemon starts" start_daemon --max-jobs 0
probed() { M offload status --json | python3 -c 'import json,sys; m={x["name"]:x for x in json.load(sys.stdin)["machines"]}; sys.exit(not all(m[k]["cores"] > 0 for k in sys.argv[1:]))' "$@"; }
ok "it probes every machine at once" wait_for "the probes" 20 probed m1 m2 m3
"$CL" fill 1 1000000 # 1 MB left: less than the 3 MB input
M offload status >"$T/e.st0"
like "m3 is shown short of space" "$(tr '\n' ' ' <"$T/e.st0")" "m3 .*free store space: 4[0-9]\.[0-9] MiB"
M build "$d" >"$T/e.out" 2>"$T/e.err"
is "m1's store is full: the build is done elsewhere" "$?" 0
is "by m2" "$(M store query --built-by "$o")" m2
like "m1 said why" "$(cat "$T/e.err")" "building on m1 failed \(.*(No space left on device|only [0-9.]+ MiB free in its store)"
is "m3, fastest but short of space, was not picked at all" "$(grep -c "on m3" "$T/e.err")" 0
fails "the input is not valid on m1" "$CL" exec 1 yonder store query --valid "$input"
is "and nothing of it is left in m1's store" "$("$CL" exec 1 sh -c 'ls -A /yonder/store | grep -v "^\.cluster-fill" | grep -c .')" 0
fails "nothing of it on m3" "$CL" exec 3 yonder store query --valid "$input"
M offload status >"$T/e.st"
like "m1 is shown down, with its free space" "$(tr '\n' ' ' <"$T/e.st")" "m1 .*free store space: [01]\.[0-9] MiB +health: down"
stop_daemon
# Room by the handshake's count, not for the input: the disk fills during
# the upload.
head -c 110000000 /dev/urandom >"$T/huge.bin"
cat >"$T/huge.scm" <<S
(derivation (name "huge") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "/bin/wc -c < " (local-file "huge.bin") " > \$out; /bin/hostname >> \$out")))
S
d=$(M derivation "$T/huge.scm")
o=$(outof "$d")
input=$(M store query --references "$d" | grep huge.bin)
"$CL" unfill 1
"$CL" fill 1 106000000 # 101 MiB free: enough to be picked, not for 110 MB
ok "the daemon starts again" start_daemon --max-jobs 0
ok "it probes every machine" wait_for "the probes" 20 probed m1 m2 m3
M build "$d" >"$T/e2.out" 2>"$T/e2.err"
is "m1's disk fills during the upload: the build is done elsewhere" "$?" 0
is "by m2" "$(M store query --built-by "$o")" m2
like "m1 said why" "$(cat "$T/e2.err")" "building on m1 failed \(.*No space left on device.*\); trying again"
fails "the input is not valid on m1" "$CL" exec 1 yonder store query --valid "$input"
is "and nothing of it is left in m1's store" "$("$CL" exec 1 sh -c 'ls -A /yonder/store | grep -v "^\.cluster-fill" | grep -c .')" 0
stop_daemon
"$CL" unfill 1
"$CL" unfill 3

# ---- f: preferLocalBuild -----------------------------------------------------
{ echo "(list"; machine m2 "$M2_HOST_KEY" 100.0; echo ")"; } >"$MASTER_CONFIG/machines.scm"
ok "a daemon with one local slot" start_daemon --max-jobs 1
d=$(drv local1 "$HOSTNAME_OUT" "(prefer-local #t)")
M build -Q "$d" >"$T/f.out"
is "a preferLocalBuild derivation builds here" "$(cat "$MASTER_STORE/$(basename "$(cat "$T/f.out")")")" master
d=$(drv remote1 "$HOSTNAME_OUT")
M build -Q "$d" >"$T/f2.out"
is "another goes to the much faster m2" "$(cat "$MASTER_STORE/$(basename "$(cat "$T/f2.out")")")" m2
stop_daemon
ok "a daemon with no local slot" start_daemon --max-jobs 0
d=$(drv local2 "$HOSTNAME_OUT" "(prefer-local #t)")
M build -Q "$d" >"$T/f3.out"
is "the preferLocalBuild derivation goes to m2" "$(cat "$MASTER_STORE/$(basename "$(cat "$T/f3.out")")")" m2
stop_daemon
is "the daemons reported no sanitizer error" "$(grep -c "Sanitizer\|runtime error" "$T/daemon.log")" 0
done_testing
