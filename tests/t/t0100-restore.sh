#!/bin/sh
# t0100 — `yonder store restore` round trips: dump → restore → dump gives the
# same bytes, for trees with executables, symlinks (relative, absolute,
# dangling), empty files and directories, UTF-8 and odd names, a 255-byte
# name, a 4095-byte symlink target and the deepest nesting allowed; the
# restored tree has the same modes and targets; Nix 2.8's own NARs (the
# committed vectors and, when nix-store is installed, a fresh
# `nix-store --dump`) restore and dump back to themselves.
. "$(dirname "$0")/lib.sh"

umask 022
S=$T/src
mkdir -p "$S"

# roundtrip NAME PATH — dump PATH, restore it, dump the copy, compare.
roundtrip() {
	rm -rf "$T/copy"
	"$YONDER" store dump "$2" >"$T/a.nar" 2>"$T/err" || {
		_report 1 "$1: dump"; sed 's/^/#   /' "$T/err"; return 1; }
	ok "$1: restore" "$YONDER" store restore "$T/copy" <"$T/a.nar" || return 1
	"$YONDER" store dump "$T/copy" >"$T/b.nar"
	ok "$1: dump of the copy is byte-identical ($(wc -c <"$T/a.nar") bytes)" cmp "$T/a.nar" "$T/b.nar"
}

# A file tree with one of everything.
mkdir -p "$S/all/bin" "$S/all/empty-dir" "$S/all/lib/nested/deeper"
printf '#!/bin/sh\necho hello\n' >"$S/all/bin/hello"
chmod 0755 "$S/all/bin/hello"
printf '' >"$S/all/bin/exec-empty"
chmod 0700 "$S/all/bin/exec-empty"
printf '' >"$S/all/empty-file"
printf '12345678' >"$S/all/eight"
printf 'x' >"$S/all/lib/nested/deeper/one"
ln -s bin/hello "$S/all/rel-link"
ln -s /etc/passwd "$S/all/abs-link"
ln -s ../no/such/thing "$S/all/lib/dangling"
ln -s nested "$S/all/lib/dir-link"
printf 'é\n' >"$S/all/$(printf '\303\251t\303\251')"
mkdir "$S/all/$(printf '\346\227\245\346\234\254\350\252\236')"
printf '' >"$S/all/$(printf '\346\227\245\346\234\254\350\252\236')/$(printf '\360\237\230\200')"
printf 'sp' >"$S/all/a name with spaces"
printf 'nl' >"$S/all/$(printf 'new\nline')"
for n in B a A.b _x '~' Z9 a-b a.b aa; do printf '%s' "$n" >"$S/all/sort-$n"; done
roundtrip "mixed tree" "$S/all"

C=$T/copy
ok "the executable is still executable" test -x "$C/bin/hello"
ok "the 0700 empty file is executable" test -x "$C/bin/exec-empty"
fails "a plain file is not executable" test -x "$C/eight"
is "a relative symlink keeps its target" "$(readlink "$C/rel-link")" "bin/hello"
is "an absolute symlink keeps its target" "$(readlink "$C/abs-link")" "/etc/passwd"
is "a dangling symlink keeps its target" "$(readlink "$C/lib/dangling")" "../no/such/thing"
ok "a symlink to a directory is restored as a symlink" test -L "$C/lib/dir-link"
ok "the empty directory exists" test -d "$C/empty-dir"
is "the empty directory is empty" "$(ls -A "$C/empty-dir")" ""
is "a UTF-8 name and its contents" "$(cat "$C/$(printf '\303\251t\303\251')")" "é"
is "file contents" "$(cat "$C/bin/hello")" "$(printf '#!/bin/sh\necho hello')"
ok "same files, same contents (diff -r)" diff -r --no-dereference "$S/all" "$C"
# Modes without the umask: files 0666/0777, directories 0777, less 022.
is "modes of a file, an executable, a directory" \
	"$(stat -c %a "$C/eight" "$C/bin/hello" "$C/empty-dir" | tr '\n' ' ')" "644 755 755 "

# Single nodes as the root.
printf '' >"$S/empty"
roundtrip "an empty file as the root" "$S/empty"
printf '#!/bin/sh\n' >"$S/exe"
chmod 0755 "$S/exe"
roundtrip "an executable as the root" "$S/exe"
ok "  and it is executable" test -x "$T/copy"
ln -s /nix/store/does-not-exist "$S/link"
roundtrip "a dangling symlink as the root" "$S/link"
is "  with its target" "$(readlink "$T/copy")" "/nix/store/does-not-exist"
mkdir "$S/emptydir"
roundtrip "an empty directory as the root" "$S/emptydir"

# The caps, at their limits.
mkdir "$S/caps"
long_name=$(printf '%0255d' 0)
printf 'n' >"$S/caps/$long_name"
long_target=$(printf '%04095d' 0)
ln -s "$long_target" "$S/caps/long-link"
roundtrip "a 255-byte name and a 4095-byte symlink target" "$S/caps"
is "  the target is intact" "$(readlink "$T/copy/long-link" | wc -c)" 4096

# 256 directories below the root (NAR_MAX_DEPTH), with a file in the last.
deep=$S/deep
i=0
p=$deep
while [ $i -le 256 ]; do p=$p/d; i=$((i + 1)); done
# $p is 257 components below $deep's parent: $deep/d/.../d (256 d's) + file.
p=${p%/d}
mkdir -p "$p"
printf 'bottom' >"$p/file"
roundtrip "256 nested directories with a file at the bottom" "$deep"
ok "  the deepest file is there" test -f "$T/copy$(printf '/d%.0s' $(seq 256))/file"

# The NARs that Nix 2.8 wrote (tests/vectors/nar, from nix-store --dump).
for nar in "$TOP"/tests/vectors/nar/*.nar; do
	[ -f "$nar" ] || continue
	name=$(basename "$nar" .nar)
	rm -rf "$T/v"
	if "$YONDER" store restore "$T/v" <"$nar" 2>"$T/err" &&
		"$YONDER" store dump "$T/v" >"$T/v.nar" 2>>"$T/err" && cmp -s "$nar" "$T/v.nar"; then
		_report 0 "Nix 2.8 vector $name: restores and dumps back to the same bytes"
	else
		_report 1 "Nix 2.8 vector $name: restores and dumps back to the same bytes"
		sed 's/^/#   /' "$T/err"
	fi
done

# A NAR that nix-store --dump writes now, when Nix is installed.
if command -v nix-store >/dev/null 2>&1 && nix-store --dump "$S/all" >"$T/nix.nar" 2>"$T/err"; then
	rm -rf "$T/copy"
	ok "nix-store --dump's NAR restores" "$YONDER" store restore "$T/copy" <"$T/nix.nar"
	"$YONDER" store dump "$T/copy" >"$T/ours.nar"
	ok "and yonder dumps the copy to the same bytes" cmp "$T/nix.nar" "$T/ours.nar"
	ok "and the copy equals the original (diff -r)" diff -r --no-dereference "$S/all" "$T/copy"
	rm -rf "$T/nixcopy"
	if nix-store --restore "$T/nixcopy" <"$T/ours.nar" 2>"$T/err"; then
		ok "nix-store --restore accepts yonder's NAR, same tree" diff -r --no-dereference "$S/all" "$T/nixcopy"
	else
		_report 1 "nix-store --restore accepts yonder's NAR"
		sed 's/^/#   /' "$T/err"
	fi
else
	_n=$((_n + 1)); echo "ok $_n # skip nix-store is not installed"
	_n=$((_n + 1)); echo "ok $_n # skip nix-store is not installed"
	_n=$((_n + 1)); echo "ok $_n # skip nix-store is not installed"
	_n=$((_n + 1)); echo "ok $_n # skip nix-store is not installed"
fi

done_testing
