#!/bin/sh
# yonder store add: paths as Nix computes them, canonical copies, flat adds,
# names, leftovers replaced, errors.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
mode() { stat -c %a "$1"; }
mtime() { stat -c %Y "$1"; }

mkdir -p "$T/src/d/e"
printf 'hi\n' >"$T/src/a"
printf 'x' >"$T/src/d/b"
printf '#!/bin/sh\n' >"$T/src/d/run"
chmod 4755 "$T/src/d/run" # setuid must not survive
ln -s a "$T/src/l"

# Paths Nix 2.8 gives these very trees (`nix-store --add` and
# `nix-store --add-fixed sha256`), checked against /nix/store.
mkdir -p "$T/nix/src/d"
printf 'hi\n' >"$T/nix/src/a"
printf 'x\n' >"$T/nix/src/d/b"
ln -s a "$T/nix/src/l"
is "--dry-run in /nix/store: as nix-store --add" \
	"$(YONDER_STORE_DIR=/nix/store yonder store add --dry-run "$T/nix/src")" \
	/nix/store/abcd9fi74kqlha3hvynf88xxd9yrlz6l-src
is "--dry-run --flat in /nix/store: as nix-store --add-fixed sha256" \
	"$(YONDER_STORE_DIR=/nix/store yonder store add --dry-run --flat "$T/nix/src/a")" \
	/nix/store/hrvjkyf8i9yx8dmgfbqlsr7xlxa6wmfw-a
is "--dry-run writes nothing" "$(ls -A "$S")" ""

P=$(yonder store add --dry-run "$T/src")
ok "add a tree" yonder store add "$T/src"
is "it prints the path --dry-run predicted" "$(cat "$T/.out")" "$P"
like "named after the source" "$P" "^$S/[0-9a-z]{32}-src\$"
ok "it is valid" yonder store query --valid "$P"
is "contents copied" "$(cat "$P/a")$(readlink "$P/l")" "hia"
is "file mode 0444" "$(mode "$P/a")" 444
is "executable mode 0555, no setuid" "$(mode "$P/d/run")" 555
is "directory mode 0555" "$(mode "$P")$(mode "$P/d")$(mode "$P/d/e")" 555555555
is "mtimes are 1" "$(mtime "$P")$(mtime "$P/a")$(mtime "$P/d/e")$(stat -c %Y "$P/l")" 1111
is "owned by us" "$(stat -c %u "$P/a")" "$(id -u)"
is "hash as yonder hash computes it" "$(yonder store query --hash "$P")" \
	"sha256:$(yonder hash "$T/src")"
is "size is the NAR's" "$(yonder store query --size "$P")" \
	"$(yonder store dump "$T/src" | wc -c)"
is "nothing else in the store" "$(ls -A "$S")" "$(basename "$P")"

ok "adding it again" yonder store add "$T/src"
is "prints the same path" "$(cat "$T/.out")" "$P"
is "still nothing else in the store" "$(ls -A "$S")" "$(basename "$P")"

ok "add several paths" yonder store add "$T/src/a" "$T/src/d"
is "one line each" "$(wc -l <"$T/.out")" 2
like "the second is named d" "$(sed -n 2p "$T/.out")" "-d\$"

ok "--name" yonder store add --name my-src "$T/src"
like "gives the name" "$(cat "$T/.out")" "^$S/[0-9a-z]{32}-my-src\$"
ok "add '.'" sh -c "cd '$T/src/d' && yonder store add ."
like "names it after the directory" "$(cat "$T/.out")" "-d\$"

F=$(yonder store add --dry-run --flat "$T/src/d/run")
ok "--flat" yonder store add --flat "$T/src/d/run"
is "prints the path --dry-run predicted" "$(cat "$T/.out")" "$F"
is "flat file mode 0444 (not executable)" "$(mode "$F")" 444
is "flat content" "$(cat "$F")" "#!/bin/sh"
is "flat: its hash is the NAR's" "$(yonder store query --hash "$F")" "sha256:$(yonder hash "$F")"
is "a flat file's path differs from the recursive one" \
	"$([ "$F" != "$(yonder store add --dry-run "$T/src/d/run")" ] && echo differ)" differ
fails "--flat of a directory" yonder store add --flat "$T/src"
like "says so" "$(cat "$T/.err")" "src.*not a regular file"

# An unregistered leftover at the final name (crashed add) is replaced.
mkdir -p "$T/src2/sub"
printf 'content\n' >"$T/src2/sub/f"
Q=$(yonder store add --dry-run "$T/src2")
mkdir -p "$Q/junk"
printf 'partial' >"$Q/sub"
chmod 555 "$Q"
ok "add over an unregistered leftover" yonder store add "$T/src2"
is "the leftover is replaced" "$(ls "$Q")" sub
ok "and verifies" yonder store verify --check-contents "$Q"

# Errors.
fails "a missing source" yonder store add "$T/nope"
like "names it" "$(cat "$T/.err")" "^yonder store add: .*$T/nope"
is "no leftover from a failed add" "$(ls -A "$S" | grep -c '^\.tmp-')" 0
mkfifo "$T/fifo-dir" 2>/dev/null && {
	mkdir "$T/withfifo" && mv "$T/fifo-dir" "$T/withfifo/p"
	fails "a tree with a FIFO" yonder store add "$T/withfifo"
	is "no leftover from a half-copied tree" "$(ls -A "$S" | grep -c '^\.tmp-')" 0
}
printf 'x' >"$T/a b"
fails "a base name that is not a valid store path name" yonder store add "$T/a b"
like "names the source and the bad character" "$(cat "$T/.err")" "'$T/a b'.*character"
yonder store add --name 'bad name' "$T/src/a" >/dev/null 2>&1
is "a bad --name is a usage error" $? 2
yonder store add >/dev/null 2>&1
is "no PATH: usage error" $? 2
yonder store add --bogus "$T/src" >/dev/null 2>&1
is "unknown option: usage error" $? 2
yonder store add --name >/dev/null 2>&1
is "--name without a value: usage error" $? 2
ok "--help" yonder store add --help
like "--help shows usage" "$(cat "$T/.out")" "^Usage: yonder store add"
YONDER_STORE_DIR=relative yonder store add "$T/src/a" >/dev/null 2>"$T/.err"
is "a relative store dir fails" $? 1
like "naming it" "$(cat "$T/.err")" "relative"

ok "the store verifies" yonder store verify --check-contents
done_testing
