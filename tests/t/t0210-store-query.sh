#!/bin/sh
# yonder store query: every query, errors naming the path, usage errors.
# References are made with the sqlite3 shell when it is installed (yonder
# itself registers references only through later commands).
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
DB=$YONDER_STATE_DIR/db/db.sqlite
skip() { echo "ok $((_n + 1)) - $1 # SKIP $2"; _n=$((_n + 1)); }

for x in a b c; do mkdir -p "$T/$x"; printf '%s\n' "$x" >"$T/$x/f"; done
A=$(yonder store add "$T/a") && B=$(yonder store add "$T/b") && C=$(yonder store add "$T/c")
is "three paths added" "$(yonder store query --valid "$A" "$B" "$C"; echo $?)" 0

ok "--hash" yonder store query --hash "$A" "$B"
is "one sha256:<nix32> line per path" "$(cat "$T/.out")" \
	"$(printf 'sha256:%s\nsha256:%s' "$(yonder hash "$T/a")" "$(yonder hash "$T/b")")"
ok "--size" yonder store query --size "$A"
is "the NAR's size" "$(cat "$T/.out")" "$(yonder store dump "$T/a" | wc -c)"
ok "--deriver" yonder store query --deriver "$A"
is "unknown-deriver, as Nix prints it" "$(cat "$T/.out")" unknown-deriver
ok "--sigs" yonder store query --sigs "$A" "$B"
is "an empty line per unsigned path" "$(cat "$T/.out" | tr '\n' .)" ".."
ok "--built-by" yonder store query --built-by "$A"
is "empty for a local add" "$(cat "$T/.out")" ""
ok "--references of a path with none" yonder store query --references "$A"
is "prints nothing" "$(cat "$T/.out")" ""
ok "--referrers of a path with none" yonder store query --referrers "$A"
is "prints nothing" "$(cat "$T/.out")" ""
ok "--requisites of a path alone" yonder store query --requisites "$A"
is "is itself" "$(cat "$T/.out")" "$A"
ok "--valid prints nothing" yonder store query --valid "$A" "$B"
is "nothing" "$(cat "$T/.out")" ""

# Errors name the path.
N=$S/00000000000000000000000000000000-none
fails "--valid with an invalid path" yonder store query --valid "$A" "$N" "$B"
like "names it" "$(cat "$T/.err")" "^yonder store query: '$N' is not a valid store path\$"
fails "--hash of an invalid path" yonder store query --hash "$N"
like "names it" "$(cat "$T/.err")" "'$N' is not a valid"
fails "a path outside the store" yonder store query --hash "$T/a"
like "names it and the store" "$(cat "$T/.err")" "'$T/a' is not in the store directory '$S'"
fails "a path inside a store path" yonder store query --hash "$A/f"
like "names it" "$(cat "$T/.err")" "$A/f"
fails "not a store path name" yonder store query --valid "$S/short"
like "names it" "$(cat "$T/.err")" "'$S/short' is not a store path"
ln -s "$A" "$T/link"
fails "a symlink to a store path" yonder store query --valid "$T/link"
yonder store query "$A" >/dev/null 2>&1
is "no query: usage error" $? 2
yonder store query --hash --size "$A" >/dev/null 2>&1
is "two queries: usage error" $? 2
yonder store query --hash >/dev/null 2>&1
is "no PATH: usage error" $? 2
yonder store query --bogus "$A" >/dev/null 2>&1
is "unknown option: usage error" $? 2
ok "--help" yonder store query --help
like "lists the queries" "$(cat "$T/.out")" "--requisites"

# References: A -> B -> C, C -> C, written straight into the database.
if command -v sqlite3 >/dev/null 2>&1; then
	sqlite3 "$DB" "
	  INSERT INTO Refs SELECT a.id, b.id FROM ValidPaths a, ValidPaths b WHERE a.path = '$A' AND b.path = '$B';
	  INSERT INTO Refs SELECT a.id, b.id FROM ValidPaths a, ValidPaths b WHERE a.path = '$B' AND b.path = '$C';
	  INSERT INTO Refs SELECT a.id, a.id FROM ValidPaths a WHERE a.path = '$C';"
	is "--references" "$(yonder store query --references "$A")" "$B"
	is "--references of several, each once, sorted" \
		"$(yonder store query --references "$A" "$B" "$C")" "$(printf '%s\n' "$B" "$C" | sort)"
	is "--referrers, self included" "$(yonder store query --referrers "$C")" \
		"$(printf '%s\n' "$B" "$C" | sort)"
	is "--requisites: references first" "$(yonder store query --requisites "$A")" \
		"$(printf '%s\n' "$C" "$B" "$A")"
	is "--requisites of several, each once" "$(yonder store query --requisites "$C" "$B")" \
		"$(printf '%s\n' "$C" "$B")"
else
	for i in 1 2 3 4 5; do skip "references query $i" "no sqlite3 shell"; done
fi
done_testing
