#!/bin/bash
# The daemon offloading when things go wrong: m1's sshd killed mid-build
# (the build is tried again on m2, nothing half-registered on either side,
# m1 shown down); a failing builder on a machine (permanent: exit 100, the
# log kept here, not tried again); two clients wanting the same derivation
# (built once, both told); SIGTERM while a build runs on a machine (the
# daemon stops at once, nothing of the build registered anywhere).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-cluster.sh"
cluster_up 2
# No overload threshold: the machines share this host, whose load average
# says nothing about any one of them (under prove -j2 it is often > 0.8/core).
# m1 is faster: it is picked first while it is up.
cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (overload-threshold #f) (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (speed 4.0))
      (build-machine (name "m2") (user "root") (overload-threshold #f) (host-key "$M2_HOST_KEY")
        (systems (list "$sys"))))
S
cat >"$T/r.scm" <<S
(list (derivation (name "slow") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/hostname > \$out.host; /bin/sleep 2; /bin/hostname > \$out; /bin/rm \$out.host"))
      (derivation (name "bad") (system "$sys") (builder "/bin/sh")
        (args "-c" "echo about to fail; exit 3"))
      (derivation (name "long") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/hostname > \$out.host; /bin/sleep 60; /bin/hostname > \$out"))
      (derivation (name "shared") (system "$sys") (builder "/bin/sh")
        (args "-c" "echo built >> $T/shared.count; /bin/sleep 1; /bin/hostname > \$out")))
S
mapfile -t drvs < <(M derivation "$T/r.scm")
slow=${drvs[0]} bad=${drvs[1]} long=${drvs[2]} shared=${drvs[3]}
slow_out=$(outof "$slow") bad_out=$(outof "$bad") long_out=$(outof "$long") shared_out=$(outof "$shared")
ok "the daemon starts" start_daemon --max-jobs 0

# ---- sshd killed mid-build ----------------------------------------------------
M build "$slow" >"$T/slow.out" 2>"$T/slow.err" &
cpid=$!
at_exit_kill $cpid
ok "the build runs on m1" wait_for "the build on m1" 20 test -e "$M1_STORE/${slow_out#/yonder/store/}.host"
"$CL" stop 1
wait $cpid
is "killed mid-build: the build succeeds all the same" "$?" 0
is "built by m2" "$(M store query --built-by "$slow_out")" m2
is "made on m2" "$(cat "$MASTER_STORE/${slow_out#/yonder/store/}")" m2
like "signed by m2" "$(M store query --sigs "$slow_out")" "^m2:"
like "the retry was said" "$(cat "$T/slow.err")" "building on m1 failed .*trying again"
fails "nothing registered on m1" "$CL" exec 1 yonder store query --valid "$slow_out"
M offload status >"$T/st"
like "m1 is shown down" "$(tr '\n' ' ' <"$T/st")" "m1 .*health: down until"
"$CL" start 1

# ---- a failing builder: permanent -----------------------------------------------
M build "$bad" >"$T/bad.out" 2>"$T/bad.err"
is "a failing builder on a machine: exit 100" "$?" 100
like "its message" "$(cat "$T/bad.err")" "builder for '$bad' failed with exit code 3"
is "its log is kept here" "$(M log "$bad")" "about to fail"
fails "nothing registered here" M store query --valid "$bad_out"
fails "nor on m2" "$CL" exec 2 yonder store query --valid "$bad_out"
is "not tried again" "$(grep -c "trying again" "$T/bad.err")" 0

# ---- two clients, one build ---------------------------------------------------
M build "$shared" >"$T/c1.out" 2>"$T/c1.err" &
c1=$!
M build "$shared" >"$T/c2.out" 2>"$T/c2.err" &
c2=$!
at_exit_kill $c1
at_exit_kill $c2
wait $c1
is "client 1 succeeds" "$?" 0
wait $c2
is "client 2 succeeds" "$?" 0
is "built once" "$(wc -l <"$T/shared.count")" 1
is "both got the output" "$(cat "$T/c1.out" "$T/c2.out" | sort -u)" "$shared_out"

# ---- SIGTERM while a build runs on a machine ------------------------------------
M build "$long" >/dev/null 2>&1 &
c3=$!
at_exit_kill $c3
ok "a long build runs on a machine" wait_for "the long build" 20 sh -c "ls '$M1_STORE' '$M2_STORE' | grep -q 'long.host\$'"
t0=$(date +%s)
kill -TERM "$DPID"
wait "$DPID"
DPID=
ok "the daemon stops at once all the same" test $(($(date +%s) - t0)) -lt 5
wait $c3
rc=$?
ok "the client is told it failed" test "$rc" != 0
fails "nothing of it registered here" M store query --valid "$long_out"
fails "nor on m1" "$CL" exec 1 yonder store query --valid "$long_out"
fails "nor on m2" "$CL" exec 2 yonder store query --valid "$long_out"
done_testing
