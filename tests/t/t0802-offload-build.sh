#!/bin/bash
# One build carried to m1 (yonder offload build, the debugging entry point):
# the input uploaded, the log streamed back and kept, the output valid here,
# signed by m1 and built by m1, and valid on m1.  A failing builder there is
# a permanent failure (exit 100, log kept here, nothing registered); sshd
# stopped is a transient one (exit 1).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
trap '"$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT
ok "cluster up 2" "$CL" up 2 "$D" || done_testing
eval "$("$CL" env "$D")"
M() { "$CL" exec master "$YONDER" "$@"; }
cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY")))
S
cat >"$T/r.scm" <<'S'
(define dep (derivation (name "dep") (system %current-system) (builder "/bin/sh")
  (args "-c" "echo dep-made-here > $out")))
(list (derivation (name "use") (system %current-system) (builder "/bin/sh")
        (args "-c" (string-append "echo building on $(/bin/hostname); /bin/cat " dep " > $out")))
      (derivation (name "bad") (system %current-system) (builder "/bin/sh")
        (args "-c" "echo about to fail; exit 3"))
      dep)
S
mapfile -t drvs < <(M derivation "$T/r.scm")
use=${drvs[0]} bad=${drvs[1]} depdrv=${drvs[2]}
ok "the input is built here" M build -Q "$depdrv"
dep=$(M build -Q "$depdrv")
out=$(M drv show "$use" | grep -o '"path": *"[^"]*"' | head -1 | cut -d'"' -f4)

ok "offload build of one derivation to m1" M offload build --machine m1 "$use"
like "the log came back live, with the machine's name" "$(cat "$T/.err")" "^m1> building on m1$"
ok "the output is valid here" M store query --valid "$out"
is "with the input's content" "$(cat "$MASTER_STORE/${out#/yonder/store/}")" "dep-made-here"
like "signed by m1" "$(M store query --sigs "$out")" "^m1:"
is "built by m1" "$(M store query --built-by "$out")" "m1"
ok "the output is valid on m1" "$CL" exec 1 yonder store query --valid "$out"
ok "the input was uploaded to m1" "$CL" exec 1 yonder store query --valid "$dep"
is "yonder log shows the log here" "$(M log "$use")" "building on m1"
ok "no temporary roots left on m1" test -z "$(ls "$M1_STATE/temproots" 2>/dev/null)"
ok "again: already valid there, nothing to copy" M offload build --machine m1 "$use"

M offload build --machine m1 "$bad" >"$T/o" 2>"$T/e"
is "a failing builder there is permanent: exit 100" "$?" 100
like "its message" "$(cat "$T/e")" "builder for '$bad' failed with exit code 3 \(on m1\)"
like "its log streamed" "$(cat "$T/e")" "^m1> about to fail$"
is "and kept here" "$(M log "$bad")" "about to fail"
badout=$(M drv show "$bad" | grep -o '"path": *"[^"]*"' | head -1 | cut -d'"' -f4)
fails "nothing registered here" M store query --valid "$badout"
fails "nor there" "$CL" exec 1 yonder store query --valid "$badout"

"$CL" stop 1
M offload build --machine m1 "$bad" >"$T/o" 2>"$T/e"
is "sshd stopped: transient, exit 1" "$?" 1
like "cannot connect" "$(cat "$T/e")" "cannot connect to root@m1"
"$CL" start 1
done_testing
