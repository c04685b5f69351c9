#!/bin/sh
# yonder store verify, delete and gc.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
DB=$YONDER_STATE_DIR/db/db.sqlite
skip() { echo "ok $((_n + 1)) - $1 # SKIP $2"; _n=$((_n + 1)); }
stopped() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = T ]; }
temps() { ls -A "$S" | grep -c '^\.tmp-'; }

for x in a b c d; do mkdir -p "$T/$x"; printf '%s\n' "$x" >"$T/$x/f"; done
A=$(yonder store add "$T/a") && B=$(yonder store add "$T/b") && C=$(yonder store add "$T/c")

# verify
ok "verify: a clean store" yonder store verify
is "says nothing" "$(cat "$T/.out" "$T/.err")" ""
ok "verify --check-contents: clean" yonder store verify --check-contents
ok "verify of given paths" yonder store verify --check-contents "$A" "$B"
chmod u+w "$B/f" && printf 'tampered\n' >"$B/f"
ok "a changed file passes without --check-contents" yonder store verify
fails "verify --check-contents finds it" yonder store verify --check-contents
like "names the path, expected and got" "$(cat "$T/.err")" \
	"^yonder store verify: '$B': contents changed: expected NAR sha256:[0-9a-z]{52} \([0-9]+ bytes\), got sha256:[0-9a-z]{52}"
is "one line, only that path" "$(wc -l <"$T/.err")" 1
chmod u+w "$C" && rm -rf "$C"
fails "verify finds missing files" yonder store verify
like "names the path" "$(cat "$T/.err")" "'$C': valid, but its files are missing"
fails "verify of an invalid path" yonder store verify "$S/00000000000000000000000000000000-x"
like "names it" "$(cat "$T/.err")" "00000000000000000000000000000000-x' is not a valid"
fails "verify of a path outside the store" yonder store verify "$T/a"
yonder store verify --bogus >/dev/null 2>&1
is "verify: unknown option is a usage error" $? 2

# delete
ok "delete" yonder store delete "$B" "$C"
is "files gone" "$(ls -A "$S" | grep -c "$(basename "$B")\|$(basename "$C")")" 0
fails "no longer valid" yonder store query --valid "$B"
ok "verify is clean again" yonder store verify --check-contents
fails "delete of an invalid path" yonder store delete "$B"
like "names it" "$(cat "$T/.err")" "'$B' is not a valid store path"
fails "delete of a path outside the store" yonder store delete "$T/a"
like "names it" "$(cat "$T/.err")" "'$T/a' is not in the store"
yonder store delete >/dev/null 2>&1
is "delete without PATH: usage error" $? 2

B=$(yonder store add "$T/b") && C=$(yonder store add "$T/c")
if command -v sqlite3 >/dev/null 2>&1; then
	# B -> A, C -> C
	sqlite3 "$DB" "
	  INSERT INTO Refs SELECT a.id, b.id FROM ValidPaths a, ValidPaths b WHERE a.path = '$B' AND b.path = '$A';
	  INSERT INTO Refs SELECT a.id, a.id FROM ValidPaths a WHERE a.path = '$C';"
	fails "delete of a referenced path" yonder store delete "$A"
	like "is refused, naming the referrer" "$(cat "$T/.err")" \
		"cannot delete '$A': '$B' refers to it"
	ok "it is still valid" yonder store query --valid "$A"
	is "and its files are there" "$(cat "$A/f")" a
	fails "deleting it with another path is refused too" yonder store delete "$A" "$C"
	ok "which stays valid" yonder store query --valid "$C"
	ok "a self-referring path is deletable" yonder store delete "$C"
	ok "a path with its referrer, together" yonder store delete "$A" "$B"
	fails "both gone" yonder store query --valid "$A"
	A=$(yonder store add "$T/a") && B=$(yonder store add "$T/b")
else
	for i in 1 2 3 4 5 6 7 8 9; do skip "delete with references $i" "no sqlite3 shell"; done
	yonder store delete "$C" >/dev/null
fi

# gc: dead temporaries and unregistered final names go; valid paths,
# live temporaries and unrelated entries stay.
mkdir -p "$S/.tmp-0123456789abcdef/x" && chmod 555 "$S/.tmp-0123456789abcdef"
N=$S/11111111111111111111111111111111-leftover
mkdir -p "$N/y"
mkdir -p "$S/lost+found"
ok "gc" yonder store gc
is "says what it removed" "$(cat "$T/.out")" \
	"$(printf 'removed %s\nremoved %s' "$S/.tmp-0123456789abcdef" "$N")"
is "removed them" "$(ls -A "$S" | sort)" "$(printf '%s\n' "$(basename "$A")" "$(basename "$B")" lost+found | sort)"
ok "valid paths stay valid" yonder store verify --check-contents
ok "gc again" yonder store gc
is "removes nothing" "$(cat "$T/.out")" ""
yonder store gc extra >/dev/null 2>&1
is "gc with an argument: usage error" $? 2
ok "gc --help" yonder store gc --help
like "says unreachable paths come later" "$(cat "$T/.out")" "later"

# A live add stopped with its temporary complete: gc leaves it alone.
YONDER_TEST_STOP_AT=copied yonder store add "$T/d" >"$T/add.out" 2>&1 &
pid=$!
at_exit_kill $pid
wait_for "the add to stop after copying" 10 stopped $pid
is "its temporary exists" "$(temps)" 1
ok "gc during the add" yonder store gc
is "keeps the live temporary" "$(temps)" 1
kill -CONT $pid
wait $pid
is "the add then succeeds" "$?:$(cat "$T/add.out")" "0:$(yonder store add --dry-run "$T/d")"
is "no temporary left" "$(temps)" 0

# Stopped after the rename, before registering: the final name is not
# valid yet, but its lock is held: gc leaves it alone.
printf 'e\n' >"$T/e"
E=$(yonder store add --dry-run "$T/e")
YONDER_TEST_STOP_AT=renamed yonder store add "$T/e" >"$T/add.out" 2>&1 &
pid=$!
at_exit_kill $pid
wait_for "the add to stop after renaming" 10 stopped $pid
fails "the path is in place but not valid" yonder store query --valid "$E"
ok "gc during the add" yonder store gc
is "keeps the locked final name" "$(cat "$E")" e
kill -CONT $pid
wait $pid
is "the add then succeeds" "$?:$(cat "$T/add.out")" "0:$E"
ok "and it verifies" yonder store verify --check-contents "$E"
is "no lock file left behind" "$(ls -A "$YONDER_STATE_DIR/locks")" ""

# A path a live process lists as a temporary root (as `yonder serve` does
# for what its builds use) is not deleted; a dead process's list is ignored.
echo rooted >"$T/rooted"
R=$(yonder store add "$T/rooted")
mkdir -p "$YONDER_STATE_DIR/temproots"
echo "$R" >"$YONDER_STATE_DIR/temproots/$$"
out=$(yonder store delete "$R" 2>&1)
is "delete of a temporary root: refused" "$?" 1
like "the message names the path and the process" "$out" "cannot delete '$R': process $$ uses it \\(a temporary root in .*/temproots/$$\\)"
ok "the path is still valid" yonder store query --valid "$R"
rm "$YONDER_STATE_DIR/temproots/$$"
sh -c 'echo "$1" >"$2/temproots/$$"' sh "$R" "$YONDER_STATE_DIR"
ok "the list of a process that is gone does not count" yonder store delete "$R"
done_testing
