#!/bin/bash
# An idle warm session whose link goes silent is found by its keepalives
# and dropped (the kernel gives up on the unacknowledged keepalive data
# after the socket's user timeout, which the next keepalive sees), so the
# next build connects afresh instead of waiting for a timeout on a dead
# session; after the link is back, that build runs there at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cluster.sh"
command -v ss >/dev/null 2>&1 || { echo "1..0 # SKIP ss (iproute2) missing"; exit 0; }
cluster_up 1
# The master's established SSH connections to m1 (the master shares the
# host's network).
has_session() { [ "$(ss -Htn state established dst "$M1_ADDR:22" | wc -l)" -ge 1 ]; }
# None left but those closing.
no_session() { [ "$(ss -Htn dst "$M1_ADDR:22" | grep -vc 'TIME-WAIT\|FIN-WAIT')" -eq 0 ]; }
cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (parallel-builds 1) (overload-threshold #f)))
S
cat >"$T/r.scm" <<S
(list (derivation (name "before") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/hostname > \$out"))
      (derivation (name "after") (system "$sys") (builder "/bin/sh")
        (args "-c" "/bin/hostname > \$out")))
S
mapfile -t drvs < <(M derivation "$T/r.scm")
out=$("$CL" exec master env YONDER_OFFLOAD_IDLE_TIMEOUT=soon "$YONDER" daemon --max-jobs 0 2>&1)
is "a bad YONDER_OFFLOAD_IDLE_TIMEOUT: the daemon does not start" "$?" 1
like "…saying what was expected" "$out" "YONDER_OFFLOAD_IDLE_TIMEOUT: expected seconds from 0 \\(never close\\) to 10000000, got 'soon'"
# No idle timeout: only the keepalive may end the session.
ok "the daemon starts" start_daemon YONDER_OFFLOAD_IDLE_TIMEOUT=0 --max-jobs 0
ok "a build on m1" M build "${drvs[0]}"
ok "its session stays open" wait_for "an established session" 10 has_session

"$CL" cut 1
# Keepalives every 10 s; the kernel gives up on unacknowledged data after
# the socket's user timeout (25 s): the session is gone within a minute.
ok "the silent session is found and dropped" wait_for "no session to m1" 75 no_session
"$CL" heal 1
M build "${drvs[1]}" >"$T/after.out" 2>"$T/after.err"
is "the next build succeeds" "$?" 0
is "on m1" "$(M store query --built-by "$(cat "$T/after.out")")" m1
is "with a new session, not a retry after a timeout" "$(grep -c "trying again" "$T/after.err")" 0
stop_daemon
is "the daemon reported no sanitizer error" "$(grep -c "Sanitizer\|runtime error" "$T/daemon.log")" 0
done_testing
