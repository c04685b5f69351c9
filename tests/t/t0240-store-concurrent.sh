#!/bin/sh
# Concurrent adds: the same tree twice at once (both print the path, it is
# registered once), forced interleavings (YONDER_TEST_STOP_AT), and many
# different trees at once (the database makes writers wait, not fail).
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
DB=$YONDER_STATE_DIR/db/db.sqlite
skip() { echo "ok $((_n + 1)) - $1 # SKIP $2"; _n=$((_n + 1)); }
stopped() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = T ]; }
temps() { ls -A "$S" | grep -c '^\.tmp-'; }
rows() { sqlite3 "$DB" "SELECT count(*) || ':' || group_concat(id || '@' || registrationTime) FROM ValidPaths WHERE path = '$1'"; }

mkdir "$T/tree"
for d in $(seq -w 0 9); do
	mkdir "$T/tree/d$d"
	for f in $(seq 1 100); do printf 'file %s %s\n' "$d" "$f" >"$T/tree/d$d/f$f"; done
done
head -c 30M /dev/urandom >"$T/tree/big"
P=$(yonder store add --dry-run "$T/tree")

# The same tree twice at once, a few times over.
for round in 1 2 3; do
	yonder store add "$T/tree" >"$T/a.out" 2>"$T/a.err" &
	a=$!
	yonder store add "$T/tree" >"$T/b.out" 2>"$T/b.err" &
	b=$!
	at_exit_kill $a
	at_exit_kill $b
	wait $a
	sa=$?
	wait $b
	sb=$?
	is "round $round: both succeed" "$sa$sb" 00
	is "round $round: both print the path" "$(cat "$T/a.out" "$T/b.out")" "$(printf '%s\n%s' "$P" "$P")"
	ok "round $round: it is valid" yonder store query --valid "$P"
	ok "round $round: and verifies" yonder store verify --check-contents
	is "round $round: the store holds it once, no temporary" "$(ls -A "$S")" "$(basename "$P")"
	if command -v sqlite3 >/dev/null 2>&1; then
		like "round $round: one row" "$(rows "$P")" "^1:"
	else
		skip "round $round: one row" "no sqlite3 shell"
	fi
	yonder store delete "$P"
done

# A stops with its copy done; B adds and registers; A then finds the path
# valid, drops its copy and prints the path too.
YONDER_TEST_STOP_AT=copied yonder store add "$T/tree" >"$T/a.out" 2>&1 &
a=$!
at_exit_kill $a
wait_for "A to stop after copying" 30 stopped $a
ok "B adds while A is stopped" yonder store add "$T/tree"
is "B prints the path" "$(cat "$T/.out")" "$P"
have_sqlite=$(command -v sqlite3)
[ -n "$have_sqlite" ] && before=$(rows "$P")
kill -CONT $a
wait $a
is "A succeeds and prints the path" "$?:$(cat "$T/a.out")" "0:$P"
is "A dropped its copy" "$(temps)" 0
if [ -n "$have_sqlite" ]; then
	is "registered once: A did not touch the row" "$(rows "$P")" "$before"
else
	skip "registered once" "no sqlite3 shell"
fi
ok "the store verifies" yonder store verify --check-contents
yonder store delete "$P"

# A stops after the rename, holding the path's lock; B must wait for it.
YONDER_TEST_STOP_AT=renamed yonder store add "$T/tree" >"$T/a.out" 2>&1 &
a=$!
at_exit_kill $a
wait_for "A to stop after renaming" 30 stopped $a
ino=$(stat -c %i "$YONDER_STATE_DIR/locks/$(basename "$P" | cut -c1-32).lock")
yonder store add "$T/tree" >"$T/b.out" 2>&1 &
b=$!
at_exit_kill $b
ok "B blocks on the path's lock" wait_for "B to wait for the lock" 30 \
	grep -Eq -- "-> OFDLCK +ADVISORY +WRITE +-1 +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks
ok "B is still running" kill -0 $b
kill -CONT $a
wait $a
sa=$?
wait $b
is "both succeed" "$sa$?" 00
is "both print the path" "$(cat "$T/a.out" "$T/b.out")" "$(printf '%s\n%s' "$P" "$P")"
ok "it verifies" yonder store verify --check-contents "$P"
is "the store holds it once, no temporary" "$(ls -A "$S")" "$(basename "$P")"

# Eight different trees at once.
pids=""
for i in 1 2 3 4 5 6 7 8; do
	mkdir -p "$T/many/$i"
	printf 'tree %s\n' "$i" >"$T/many/$i/f"
	head -c 1M /dev/urandom >"$T/many/$i/g"
done
for i in 1 2 3 4 5 6 7 8; do
	yonder store add "$T/many/$i" >"$T/many.$i.out" 2>"$T/many.$i.err" &
	pids="$pids $!"
	at_exit_kill $!
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "eight adds at once all succeed" "$fails" 0
is "eight paths printed" "$(cat "$T"/many.*.out | sort -u | wc -l)" 8
ok "all valid" yonder store query --valid $(cat "$T"/many.*.out)
ok "the store verifies" yonder store verify --check-contents
is "no lock file left" "$(ls -A "$YONDER_STATE_DIR/locks")" ""
done_testing
