#!/bin/bash
# The daemon offloading over links that fail: the link of m1 cut in the
# middle of an upload (found, the build done on m2, nothing of it
# registered on m1, m1 shown down); a half-open connection in the middle of
# a build (packets dropped silently: found within 30 s, the build done on
# m2); every fitting machine down (the build waits and starts when the
# machine's down period ends, by a timer); a warm SSH connection reused by
# every build, and closed once idle for YONDER_OFFLOAD_IDLE_TIMEOUT; m1's
# side of the cut upload gives up after 60 s and drops what it received.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-cluster.sh"
cluster_up 2
now() { date +%s%N; }                 # nanoseconds
ms_since() { echo $((($(now) - $1) / 1000000)); }
# probed NAME: the daemon's probe of NAME reported (its cores are known).
probed() { M offload status --json | python3 -c 'import json,sys; m={x["name"]:x for x in json.load(sys.stdin)["machines"]}; sys.exit(m[sys.argv[1]]["cores"] == 0)' "$1"; }
# m1 is faster: it is picked first while it is up.  The machines share
# this host's load average: no overload threshold.
cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (speed 4.0) (overload-threshold #f))
      (build-machine (name "m2") (user "root") (host-key "$M2_HOST_KEY")
        (systems (list "$sys")) (overload-threshold #f)))
S
head -c 24000000 /dev/urandom >"$T/big.bin"
cat >"$T/r.scm" <<S
(define big (local-file "big.bin"))
(list (derivation (name "upload") (system "$sys") (builder "/bin/sh")
        (args "-c" (string-append "/bin/wc -c < " big " > \$out; /bin/hostname >> \$out")))
      (derivation (name "halfopen") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/hostname > \$out.host; [ \$(/bin/hostname) = m2 ] || /bin/sleep 45; /bin/hostname > \$out"))
      (derivation (name "waits") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/date +%s%N > \$out"))
      (derivation (name "warm1") (system "$sys") (builder "/bin/sh") (args "-c" "echo 1 > \$out"))
      (derivation (name "warm2") (system "$sys") (builder "/bin/sh") (args "-c" "echo 2 > \$out"))
      (derivation (name "warm3") (system "$sys") (builder "/bin/sh") (args "-c" "echo 3 > \$out"))
      (derivation (name "warm4") (system "$sys") (builder "/bin/sh") (args "-c" "echo 4 > \$out")))
S
mapfile -t drvs < <(M derivation "$T/r.scm")
is "7 derivations" "${#drvs[@]}" 7
up_drv=${drvs[0]} ho_drv=${drvs[1]} wait_drv=${drvs[2]}
up_out=$(outof "$up_drv") ho_out=$(outof "$ho_drv") wait_out=$(outof "$wait_drv")
big=$(M store query --references "$up_drv" | grep big.bin)
like "the big input is a store path" "$big" "^/yonder/store/.*-big.bin$"

# ---- a: the link cut in the middle of an upload --------------------------------
# 24 MB at 16 Mbit/s take 12 s: the cut comes after 3 MB.
"$CL" slow 1 16mbit
ok "the daemon starts" start_daemon -- --max-jobs 0
TX=/sys/class/net/y${CLUSTER_ID}m1/statistics/tx_bytes
tx0=$(cat "$TX")
M build "$up_drv" >"$T/a.out" 2>"$T/a.err" &
cpid=$!
at_exit_kill $cpid
sent_3mb() { [ $(($(cat "$TX") - tx0)) -gt 3000000 ]; }
ok "the upload to m1 is under way" wait_for "3 MB sent to m1" 30 sent_3mb
"$CL" cut 1
t0=$(now)
ok "the failure is found" wait_for "the retry" 40 grep -q "trying again" "$T/a.err"
took=$(ms_since "$t0")
ok "within 30 s ($took ms)" test "$took" -le 31000
wait $cpid
is "the build succeeds all the same" "$?" 0
is "built by m2" "$(M store query --built-by "$up_out")" m2
like "made on m2" "$(tr '\n' ' ' <"$MASTER_STORE/${up_out#/yonder/store/}")" "^24000000 m2 $"
like "the retry names the lost connection" "$(cat "$T/a.err")" "building on m1 failed \(.*connection to root@m1 lost.*\); trying again"
fails "the input is not valid on m1" "$CL" exec 1 yonder store query --valid "$big"
fails "nor the .drv" "$CL" exec 1 yonder store query --valid "$up_drv"
fails "nor the output" "$CL" exec 1 yonder store query --valid "$up_out"
tmp_on_m1() { ls -A "$M1_STORE/" | grep -q '^\.tmp-'; }
ok "m1 holds what it received, unregistered, under a temporary name" tmp_on_m1
M offload status >"$T/st.a"
like "m1 is shown down, with the reason" "$(tr '\n' ' ' <"$T/st.a")" "m1 .*health: down until [0-9T:Z-]+ \(.*lost"
stop_daemon
"$CL" heal 1
"$CL" slow 1 off

# ---- b: a half-open connection in the middle of a build --------------------------
ok "the daemon starts again" start_daemon -- --max-jobs 0
M build "$ho_drv" >"$T/b.out" 2>"$T/b.err" &
cpid=$!
at_exit_kill $cpid
ok "the build runs on m1" wait_for "the build on m1" 20 test -e "$M1_STORE/${ho_out#/yonder/store/}.host"
"$CL" cut 1 # m1 goes on building: nothing says the connection is gone
t0=$(now)
ok "the silence is found" wait_for "the retry" 40 grep -q "trying again" "$T/b.err"
took=$(ms_since "$t0")
ok "within 30 s, by the keepalives ($took ms)" test "$took" -le 31000
wait $cpid
is "the build succeeds all the same" "$?" 0
is "built by m2" "$(M store query --built-by "$ho_out")" m2
like "the retry says why" "$(cat "$T/b.err")" "building on m1 failed \(.*connection to root@m1 lost: .*\); trying again"
stop_daemon
"$CL" heal 1

# ---- h: a warm connection for every build, closed when idle ----------------------
accepted() { grep -c "Accepted publickey for root" "$D/m2/sshd.log"; }
# SSH connections open to m2, as m2 sees them.
conns() { "$CL" exec 2 ss -Htn state established '( sport = :22 )' | grep -c .; }
cat >"$T/only-m2.scm" <<S
(list (build-machine (name "m2") (user "root") (host-key "$M2_HOST_KEY")
        (systems (list "$sys")) (overload-threshold #f)))
S
a0=$(accepted)
ok "a daemon with a 4 s idle timeout" start_daemon YONDER_OFFLOAD_IDLE_TIMEOUT=4 -- --max-jobs 0 --machines "$T/only-m2.scm"
ok "it probes m2 at once" wait_for "the probe" 20 probed m2
bad=0
for i in 3 4 5 6; do
	M build -Q "${drvs[$i]}" >/dev/null 2>"$T/h.err" || bad=$((bad + 1))
done
t_last=$(now)
is "four builds, one after the other, on m2" "$bad" 0
is "one SSH connection for them all (sshd accepted $(($(accepted) - a0)))" "$(($(accepted) - a0))" 1
is "it is still open" "$(conns)" 1
no_conn() { [ "$(conns)" = 0 ]; }
ok "the idle connection is closed" wait_for "the close" 20 no_conn
idle=$(ms_since "$t_last")
ok "after the idle timeout ($idle ms)" test "$idle" -ge 3500 -a "$idle" -le 9000
cat >"$T/w5.scm" <<S
(derivation (name "warm5") (system "$sys") (builder "/bin/sh") (args "-c" "echo 5 > \$out"))
S
ok "a build after that" M build -Q "$(M derivation "$T/w5.scm")"
is "on a new connection" "$(($(accepted) - a0))" 2
stop_daemon

# ---- a, the end: m1's side of the cut connection ------------------------------
# Nothing tells m1 that the client went: its yonder serve gives up after
# 60 s without a byte, and drops what it had received.  (Before g, whose
# `cluster.sh stop 1` kills every process of m1's sshd.)
ok "m1 drops the half-received upload once its serve gives up" \
	wait_for "the temporary item on m1 to go" 90 sh -c "! ls -A '$M1_STORE/' | grep -q '^\.tmp-'" ||
	ls -la "$M1_STORE/" | sed 's/^/# /'

# ---- g: every fitting machine down: the build waits for the end of the backoff ----
cat >"$T/only-m1.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (overload-threshold #f)))
S
ok "a daemon whose only machine is m1" start_daemon -- --max-jobs 0 --machines "$T/only-m1.scm"
ok "it probes m1 at once" wait_for "the probe" 20 probed m1
"$CL" stop 1 # the warm session dies with it
M build "$wait_drv" >"$T/g.out" 2>"$T/g.err" &
cpid=$!
at_exit_kill $cpid
ok "m1 refuses: the build waits" wait_for "the first failure" 20 grep -q "trying again" "$T/g.err"
t_fail=$(now)
"$CL" start 1
wait $cpid
is "the build succeeds once m1 is back" "$?" 0
started=$(cat "$MASTER_STORE/${wait_out#/yonder/store/}")
waited=$(((started - t_fail) / 1000000))
# The first down period is 5 s; a poll would start it at its next tick.
ok "it started when the 5 s down period ended ($waited ms after the failure was seen)" \
	test "$waited" -ge 4000 -a "$waited" -le 6500
is "one failure, one retry" "$(grep -c "trying again" "$T/g.err")" 1
like "it said once why it waits" "$(grep -c "no machine can take '$wait_drv' now; it waits:" "$T/g.err")" "^1$"
like "machine by machine" "$(grep -A1 "it waits:" "$T/g.err" | tail -1)" "^  m1: down since .* \\(1 failure\\): "
is "built by m1" "$(M store query --built-by "$wait_out")" m1
stop_daemon
is "the daemons reported no sanitizer error" "$(grep -c "Sanitizer\|runtime error" "$T/daemon.log")" 0
done_testing
