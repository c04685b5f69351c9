#!/bin/sh
# t0101 — `yonder store restore` refuses every malformed NAR of
# tests/data/bad-nar/ with the message its EXPECT line names (which pins the
# byte offset), exits 1, and leaves nothing behind: no DEST, nothing beside
# it, nothing written through a symlink it created.  It also refuses a DEST
# that exists in any form (directory, file, dangling or live symlink) and
# leaves it as it was.
. "$(dirname "$0")/lib.sh"

BAD=$TOP/tests/data/bad-nar
W=$T/w             # restore runs here: DEST is $W/dest
OUTSIDE=$W/outside # where the CVE-2024-45593 case's "../outside" points
ABS_OUTSIDE=/tmp/yonder-bad-nar-outside # where its absolute twin points
mkdir -p "$W" "$OUTSIDE"
# Made (and removed at exit, however the test ends) unless it exists.
if mkdir "$ABS_OUTSIDE" 2>/dev/null; then
	trap '_cleanup; rmdir "$ABS_OUTSIDE" 2>/dev/null' EXIT
fi

# restore_bad FILE REGEX — one TAP line for one malformed NAR.
restore_bad() {
	_f=$1 _re=$2 _why=
	(cd "$W" && exec "$YONDER" store restore dest <"$BAD/$_f" >"$T/out" 2>"$T/err")
	_s=$?
	_msg=$(cat "$T/err")
	[ $_s -eq 1 ] || _why="exit status $_s, not 1"
	[ -z "$_why" ] && ! grep -Eq -- "$_re" "$T/err" && _why="message does not match /$_re/"
	[ -z "$_why" ] && ! grep -q 'byte' "$T/err" && _why="message names no byte offset"
	[ -z "$_why" ] && [ "$(wc -l <"$T/err")" -ne 1 ] && _why="message is not one line"
	[ -z "$_why" ] && [ -s "$T/out" ] && _why="wrote to standard output"
	{ [ -z "$_why" ] && { [ -e "$W/dest" ] || [ -L "$W/dest" ]; }; } && _why="dest was left behind"
	[ -z "$_why" ] && [ "$(ls -A "$W")" != outside ] && _why="left files beside dest: $(ls -A "$W" | tr '\n' ' ')"
	[ -z "$_why" ] && [ -n "$(ls -A "$OUTSIDE")" ] && _why="wrote outside dest: $(ls -A "$OUTSIDE")"
	[ -z "$_why" ] && [ -d "$ABS_OUTSIDE" ] && [ -n "$(ls -A "$ABS_OUTSIDE")" ] &&
		_why="wrote into $ABS_OUTSIDE through a symlink"
	if [ -z "$_why" ]; then
		_report 0 "$_f refused: $_msg"
	else
		_report 1 "$_f refused"
		printf '#   %s\n#   stderr: %s\n' "$_why" "$_msg"
		chmod -R u+w "$W/dest" 2>/dev/null
		rm -rf "$W/dest"
	fi
}

count=0
while IFS='	' read -r f re; do
	[ -n "$f" ] || continue
	restore_bad "$f" "$re"
	count=$((count + 1))
done <"$BAD/EXPECT"
ok "EXPECT lists at least 30 malformed NARs ($count)" test "$count" -ge 30
listed=$(cut -f1 "$BAD/EXPECT" | sort)
present=$(cd "$BAD" && ls -- *.nar | sort)
is "every .nar file in tests/data/bad-nar has an EXPECT line" "$present" "$listed"

# The harness above must be able to pass a NAR: a valid one restores.
mkdir -p "$T/tree/sub"
printf 'hi\n' >"$T/tree/sub/f"
"$YONDER" store dump "$T/tree" >"$T/good.nar"
ok "a valid NAR restores in the same place" sh -c "cd '$W' && '$YONDER' store restore dest <'$T/good.nar'"
is "its file is there" "$(cat "$W/dest/sub/f" 2>&1)" "hi"
rm -rf "$W/dest"

# ---- DEST must not exist, in any form; it is left untouched -----------------

# refuse_dest NAME — restore into $W/NAME must fail with exit 1, "exists".
refuse_dest() {
	(cd "$W" && exec "$YONDER" store restore "$1" <"$T/good.nar" >/dev/null 2>"$T/err")
	_s=$?
	is "$2: exit status 1" "$_s" 1
	like "$2: the message says it exists" "$(cat "$T/err")" "exists"
}

mkdir "$W/existing-dir"
printf 'keep\n' >"$W/existing-dir/keep"
refuse_dest existing-dir "DEST is an existing directory"
is "the directory is untouched" "$(ls -A "$W/existing-dir")" "keep"
is "its file is untouched" "$(cat "$W/existing-dir/keep")" "keep"

printf 'keep\n' >"$W/existing-file"
refuse_dest existing-file "DEST is an existing file"
is "the file is untouched" "$(cat "$W/existing-file")" "keep"

ln -s "$T/dangling-target" "$W/dangling"
refuse_dest dangling "DEST is a dangling symlink"
ok "the dangling symlink is still a symlink" test -L "$W/dangling"
is "its target is unchanged" "$(readlink "$W/dangling")" "$T/dangling-target"
fails "nothing was created at its target" test -e "$T/dangling-target" -o -L "$T/dangling-target"

mkdir "$T/live-target"
ln -s "$T/live-target" "$W/live"
refuse_dest live "DEST is a symlink to an empty directory"
is "nothing was restored into the directory it points to" "$(ls -A "$T/live-target")" ""
ok "the symlink is still a symlink" test -L "$W/live"

# A file NAR and a symlink NAR over a dangling symlink: O_EXCL|O_NOFOLLOW
# and symlinkat must refuse too (the directory case above is mkdirat).
printf 'x' >"$T/one-file"
"$YONDER" store dump "$T/one-file" >"$T/file.nar"
ln -s "$T/one-file" "$T/one-link"
"$YONDER" store dump "$T/one-link" >"$T/link.nar"
(cd "$W" && "$YONDER" store restore dangling <"$T/file.nar" 2>"$T/err")
is "a file NAR onto a dangling symlink: exit status 1" "$?" 1
fails "no file was created through the symlink" test -e "$T/dangling-target"
(cd "$W" && "$YONDER" store restore dangling <"$T/link.nar" 2>"$T/err")
is "a symlink NAR onto a dangling symlink: exit status 1" "$?" 1
is "the symlink is unchanged" "$(readlink "$W/dangling")" "$T/dangling-target"

(cd "$W" && "$YONDER" store restore no-such-dir/dest <"$T/good.nar" 2>"$T/err")
is "DEST in a missing directory: exit status 1" "$?" 1
fails "and nothing was created" test -e "$W/no-such-dir"

done_testing
