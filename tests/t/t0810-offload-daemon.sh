#!/bin/bash
# The daemon offloads: three machines of different systems and features
# (m1 x86_64, m2 x86_64 + "kvm", m3 "aarch64-linux" only: a label, m3's
# extra-systems file lets it build those), the daemon with --max-jobs 0.
# A machine down at the start (builds go elsewhere, status shows it down);
# a graph of 24 derivations, each output valid here and signed by the
# machine that built it, the "kvm" one on m2, the aarch64 one on m3;
# `yonder offload status`; no machine fits: immediate failure with the
# table; SIGHUP rereads machines.scm.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-cluster.sh"
cluster_up 3
# The block of machine $1 in a status report $2, on one line.
block() { awk -v m="$1" '/^[^ ]/ { on = ($1 == m) } on' "$2" | tr '\n' ' '; }
echo "aarch64-linux" >"$M3_CONFIG/extra-systems"
# No overload threshold: the machines share this host, whose load average
# says nothing about any one of them (under prove -j2 it is often > 0.8/core).
cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (overload-threshold #f) (host-key "$M1_HOST_KEY")
        (systems (list "$sys")) (parallel-builds 2))
      (build-machine (name "m2") (user "root") (overload-threshold #f) (host-key "$M2_HOST_KEY")
        (systems (list "$sys")) (features (list "kvm")) (parallel-builds 2))
      (build-machine (name "m3") (user "root") (overload-threshold #f) (host-key "$M3_HOST_KEY")
        (systems (list "aarch64-linux")) (parallel-builds 2)))
S

# ---- m1 down when the daemon starts -----------------------------------------
"$CL" stop 1
cat >"$T/a.scm" <<S
(list $(for i in 1 2 3 4; do
	printf '(derivation (name "early%s") (system "%s") (builder "/bin/sh") (args "-c" "echo early%s > $out"))\n' "$i" "$sys" "$i"
done))
S
mapfile -t early < <(M derivation "$T/a.scm")
ok "the daemon starts with --max-jobs 0" start_daemon --max-jobs 0
M build -Q "${early[@]}" >"$T/early.out" 2>"$T/early.err"
is "m1 down: the builds succeed elsewhere" "$?" 0
is "four outputs" "$(wc -l <"$T/early.out")" 4
by=$(while read -r o; do M store query --built-by "$o"; done <"$T/early.out" | sort -u | tr '\n' ' ')
is "none built by m1 ($by)" "$(echo "$by" | grep -c m1)" 0
M offload status >"$T/st1" 2>&1
like "status: m1 is down" "$(block m1 "$T/st1")" "^m1 +systems: $sys +features: - +speed: 1 +slots: 0/2 used .* health: down until [0-9T:Z-]+ \(.*root@m1"
like "status: m2 up and its builds counted" "$(block m2 "$T/st1")" "health: up .*builds done: [1-4] "
like "status: the local machine has no slot" "$(block localhost "$T/st1")" "^localhost \(local\) .*slots: 0/0 used"
M offload status --json >"$T/st1.json"
ok "status --json is JSON" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["daemon"]=="running"; m={x["name"]:x for x in d["machines"]}; assert m["m1"]["health"]=="down", m["m1"]; assert m["m2"]["health"]=="up"; assert m["m2"]["features"]==["kvm"]; assert m["m3"]["systems"]==["aarch64-linux"]' "$T/st1.json"
stop_daemon
"$CL" start 1

# ---- no daemon: the machines file's view ------------------------------------
like "status without a daemon" "$(M offload status)" "^daemon not running"

# ---- a graph of 23 derivations over the three machines ----------------------
{
	for i in $(seq 1 10); do
		printf '(define leaf%s (derivation (name "leaf%s") (system "%s") (builder "/bin/sh") (args "-c" "echo leaf%s > $out")))\n' "$i" "$i" "$sys" "$i"
	done
	for i in $(seq 1 5); do
		printf '(define mid%s (derivation (name "mid%s") (system "%s") (builder "/bin/sh") (args "-c" (string-append "/bin/cat " leaf%s " " leaf%s " > $out"))))\n' "$i" "$i" "$sys" $((2 * i - 1)) $((2 * i))
	done
	cat <<S
(define kvm (derivation (name "kvm-test") (system "$sys") (features "kvm") (builder "/bin/sh")
  (args "-c" (string-append "/bin/cat " mid1 " > \$out; /bin/hostname >> \$out"))))
(define arm (derivation (name "arm-build") (system "aarch64-linux") (builder "/bin/sh")
  (args "-c" (string-append "/bin/cat " leaf10 " > \$out; /bin/hostname >> \$out"))))
S
	for i in $(seq 1 6); do
		printf '(define top%s (derivation (name "top%s") (system "%s") (builder "/bin/sh") (args "-c" (string-append "/bin/cat " mid%s " " kvm " > $out"))))\n' "$i" "$i" "$sys" $(((i - 1) % 5 + 1))
	done
	cat <<S
(define all (derivation (name "all") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "/bin/cat " top1 " " top2 " " top3 " " top4 " " top5 " " top6 " " arm " > \$out"))))
(list leaf1 leaf2 leaf3 leaf4 leaf5 leaf6 leaf7 leaf8 leaf9 leaf10 mid1 mid2 mid3 mid4 mid5
      kvm arm top1 top2 top3 top4 top5 top6 all)
S
} >"$T/g.scm"
mapfile -t drvs < <(M derivation "$T/g.scm")
is "24 derivations" "${#drvs[@]}" 24
ok "the daemon starts again" start_daemon --max-jobs 0
M build -v "${drvs[23]}" >"$T/g.out" 2>"$T/g.err"
is "the graph builds" "$?" 0
like "progress names the machine" "$(cat "$T/g.err")" "on m[123]"
like "the summary counts the builds of each machine" "$(tail -1 "$T/g.err")" "^24 built \\((m[123]: [0-9]+(, )?){3}\\), 0 already valid, 0 failed"
mapfile -t outs < <(M build -Q "${drvs[@]}")
is "24 outputs" "${#outs[@]}" 24
kvm_out=${outs[15]} arm_out=${outs[16]} all_out=${outs[23]}
is "the kvm derivation was built by m2" "$(M store query --built-by "$kvm_out")" m2
like "on m2 indeed" "$(cat "$MASTER_STORE/${kvm_out#/yonder/store/}")" "m2$"
is "the aarch64 derivation was built by m3" "$(M store query --built-by "$arm_out")" m3
like "on m3 indeed" "$(cat "$MASTER_STORE/${arm_out#/yonder/store/}")" "m3$"
like "the top output has everything" "$(tr '\n' ' ' <"$MASTER_STORE/${all_out#/yonder/store/}")" "^leaf1 leaf2 .*m2 .*leaf10 m3 $"
bad=0 seen=""
for o in "${outs[@]}"; do
	b=$(M store query --built-by "$o")
	M store query --valid "$o" || bad=$((bad + 1))
	M store query --sigs "$o" | grep -q "^$b:" || {
		bad=$((bad + 1))
		echo "# $o: built by '$b', sigs: $(M store query --sigs "$o")"
	}
	seen="$seen $b"
done
is "each valid here and signed by the machine that built it" "$bad" 0
like "m1 built some" "$seen" " m1"
like "m2 built some" "$seen" " m2"
M offload status --json >"$T/st2.json"
ok "status: 24 builds in all, no slot in use, load/space/bytes reported" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert sum(x["builds_done"] for x in d["machines"])==24, d; assert all(x["used"]==0 for x in d["machines"]); m={x["name"]:x for x in d["machines"]}; assert all(m[k]["free"]>0 and m[k]["cores"]>0 and m[k]["bytes_sent"]>0 for k in ("m1","m2","m3")), m' "$T/st2.json"

# ---- no machine fits: immediate failure with the table ----------------------
cat >"$T/n.scm" <<S
(derivation (name "nowhere") (system "riscv64-linux") (features "gpu") (builder "/bin/sh") (args "-c" "echo > \$out"))
S
nd=$(M derivation "$T/n.scm")
start=$(date +%s%N)
M build "$nd" >"$T/n.out" 2>"$T/n.err"
rc=$?
is "no machine fits: the build fails (exit 1, as a build that cannot start)" "$rc" 1
ok "at once" test $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000
like "with the table" "$(cat "$T/n.err")" "no machine can build '$nd' \(system riscv64-linux, features: gpu\)"
like "the local machine's row" "$(cat "$T/n.err")" "localhost: "
like "m1's row" "$(cat "$T/n.err")" "m1: .*riscv64-linux"
like "m3's row" "$(cat "$T/n.err")" "m3: "

# ---- SIGHUP rereads machines.scm -------------------------------------------
sed -i 's/(list "aarch64-linux")/(list "aarch64-linux" "riscv64-linux")) (features (list "gpu")/' "$MASTER_CONFIG/machines.scm"
echo "riscv64-linux" >>"$M3_CONFIG/extra-systems"
kill -HUP "$DPID"
ok "the daemon rereads the file" wait_for "the reread" 20 grep -q "SIGHUP: .*reread: 3 build machines" "$T/daemon.log"
M build -Q "$nd" >"$T/h.out" 2>"$T/h.err"
is "after SIGHUP the riscv64/gpu build runs on m3" "$?" 0
is "built by m3" "$(M store query --built-by "$(cat "$T/h.out")")" m3
M offload status >"$T/st3"
like "m3's counters were kept" "$(block m3 "$T/st3")" "gpu .*builds done: [2-9]"
stop_daemon
ok "the daemon stopped cleanly" test -z "$DPID"
done_testing
