#!/bin/sh
# Two (or more) yonder build processes that need the same derivation build
# it once: the others wait on the output locks and then find it valid.
# Builds are counted from the builders' own side effect: each run appends
# a line to a file outside the store.
. "$(dirname "$0")/lib.sh"

sys=$(uname -m)-linux

# ---- two processes, one derivation -----------------------------------
# The builder records its run, then waits for the test's go-ahead, so the
# second process surely arrives while the first is building.
cat > "$T/gated.scm" <<EOF
(derivation (name "gated") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo run >> $T/gated.count; while [ ! -e $T/go ]; do /bin/sleep 0.02; done; echo done > \$out"))
EOF
yonder build --timeout 120 "$T/gated.scm" >"$T/a.out" 2>"$T/a.err" &
a=$!
at_exit_kill $a
ok "the first build starts" wait_for "the first builder" 20 test -s "$T/gated.count"
yonder build --timeout 120 "$T/gated.scm" >"$T/b.out" 2>"$T/b.err" &
b=$!
at_exit_kill $b
ok "the second one waits for the first" wait_for "the second to wait" 20 grep -q "waiting for another build" "$T/b.err"
: > "$T/go"
wait $a
is "the first exits 0" "$?" 0
wait $b
is "the second exits 0" "$?" 0
is "the builder ran once" "$(wc -l < "$T/gated.count")" 1
like "both print the output path" "$(cat "$T/a.out")" "-gated\$"
is "the same one" "$(cat "$T/b.out")" "$(cat "$T/a.out")"
is "the second built nothing" "$(grep -c '^building' "$T/b.err")" 0
is "its output is what the first made" "$(cat "$(cat "$T/b.out")")" done

# ---- four processes, a graph with shared parts -----------------------
# Twelve leaves and a top that needs them all; each process builds the
# top with -j 3.  Every derivation must have run exactly once.
cat > "$T/graph.scm" <<EOF
(define (leaf n)
  (derivation (name (string-append "leaf-" (number->string n))) (system "$sys")
    (builder "/bin/sh")
    (args "-c" (string-append "echo leaf-" (number->string n) " >> $T/graph.count; echo "
                              (number->string n) " > \$out"))))
(derivation (name "top") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "echo top >> $T/graph.count; : " (leaf 1) " " (leaf 2) " " (leaf 3)
                            " " (leaf 4) " " (leaf 5) " " (leaf 6) " " (leaf 7) " " (leaf 8)
                            " " (leaf 9) " " (leaf 10) " " (leaf 11) " " (leaf 12)
                            "; echo top > \$out")))
EOF
pids=""
for i in 1 2 3 4; do
	yonder build -j 3 "$T/graph.scm" >"$T/g$i.out" 2>"$T/g$i.err" &
	pids="$pids $!"
	at_exit_kill $!
done
st=0
for p in $pids; do wait $p || st=$?; done
is "four racing processes all succeed" "$st" 0
is "and agree on the output" "$(cat "$T"/g[1-4].out | sort -u | wc -l)" 1
is "every derivation ran exactly once" "$(sort "$T/graph.count" | uniq -c | awk '$1 != 1' | wc -l)" 0
is "thirteen derivations ran" "$(wc -l < "$T/graph.count")" 13

# ---- a build whose yonder dies is built again ------------------------
cat > "$T/orphan.scm" <<EOF
(derivation (name "orphan") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo \$\$ >> $T/orphan.pids; echo half > \$out; while [ ! -e $T/go2 ]; do /bin/sleep 0.02; done; echo whole > \$out"))
EOF
yonder build --timeout 120 "$T/orphan.scm" >/dev/null 2>&1 &
a=$!
at_exit_kill $a
ok "a first build starts" wait_for "the builder" 20 test -s "$T/orphan.pids"
kill -9 $a
wait $a 2>/dev/null
# Its builder outlives it (no sandbox): stop it, as an admin would.
kill -9 "$(head -1 "$T/orphan.pids")"
: > "$T/go2"
ok "the next yonder builds it (the dead one's lock is free)" yonder build --timeout 120 "$T/orphan.scm"
is "the builder ran twice in all" "$(wc -l < "$T/orphan.pids")" 2
is "the output is the finished one, not the leftover" "$(cat "$(cat "$T/.out")")" whole

done_testing
