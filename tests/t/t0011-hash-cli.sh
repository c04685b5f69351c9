#!/bin/sh
# t0011-hash-cli.sh — `yonder hash` as a user runs it: several paths,
# --flat, the bases, errors and exit codes, --help, --version.
. "$(dirname "$0")/lib.sh"

V="$TOP/tests/vectors"
TSV="$V/vectors.tsv"
"$V/mktrees.sh" "$T/trees" || { echo "Bail out! tests/vectors/mktrees.sh failed"; exit 1; }
vec() {
	awk -F'\t' -v k="$1" -v n="$2" -v s="$3" -v f="$4" \
		'$1 == k && $2 == n && $3 == s && $4 == f { print $5; exit }' "$TSV"
}
cd "$T/trees" || exit 1

# Several PATHs: one line per PATH, in the order given, relative paths too.
want=$(for t in file-1 sorting symlink-rel empty-dir file-1; do vec tree "$t" - nar_sha256_nix32; done)
is "hash of five paths, one line each" "$(yonder hash file-1 sorting symlink-rel empty-dir ./file-1)" "$want"
want=$(for t in exec-file utf8-names; do vec tree "$t" - nar_sha256_base16; done)
is "hash --base16 of two paths" "$(yonder hash --base16 exec-file "$T/trees/utf8-names")" "$want"
is "option after the paths" "$(yonder hash exec-file utf8-names --base16)" "$want"

# --flat: the file's bytes, as nix-hash --flat.
for t in empty-file file-7 file-13 exec-file big-file; do
	is "hash --flat $t" "$(yonder hash --flat "$t")" "$(vec tree "$t" - flat_sha256_nix32)"
	is "hash --flat --base16 $t" "$(yonder hash --flat --base16 "$t")" "$(vec tree "$t" - flat_sha256_base16)"
done
is "hash --flat --base16 big-file = sha256sum" "$(yonder hash --flat --base16 big-file)" \
	"$(sha256sum <big-file | cut -d' ' -f1)"
is "hash --flat --sri file-8" "$(yonder hash --flat --sri file-8)" "$(vec tree file-8 - flat_sha256_sri)"
is "hash --flat of two files" "$(yonder hash --flat file-1 file-8)" \
	"$(vec tree file-1 - flat_sha256_nix32; vec tree file-8 - flat_sha256_nix32)"
is "the last base option wins" "$(yonder hash --sri --base16 file-1)" "$(vec tree file-1 - nar_sha256_base16)"

# Errors: exit 1, one message on stderr naming the path.
yonder hash "$T/no-such-file" >"$T/out" 2>"$T/err"
is "missing path: exit 1" "$?" 1
like "missing path: message names it" "$(cat "$T/err")" "no-such-file"
is "missing path: nothing on stdout" "$(cat "$T/out")" ""
yonder hash --flat "$T/no-such-file" >"$T/out" 2>"$T/err"
is "--flat missing path: exit 1" "$?" 1
like "--flat missing path: message names it" "$(cat "$T/err")" "no-such-file"
yonder hash file-1 "$T/missing-2" file-8 >"$T/out" 2>"$T/err"
is "one missing path among three: exit 1" "$?" 1
like "one missing path among three: message names it" "$(cat "$T/err")" "missing-2"
yonder hash --flat "$T/trees/empty-dir" >"$T/out" 2>"$T/err"
is "--flat on a directory: exit 1" "$?" 1
like "--flat on a directory: message names it" "$(cat "$T/err")" "empty-dir"
mkdir "$T/withfifo" && mkfifo "$T/withfifo/fifo"
timeout 20 yonder hash "$T/withfifo" >"$T/out" 2>"$T/err"
is "tree with a FIFO: exit 1" "$?" 1
like "tree with a FIFO: message names it" "$(cat "$T/err")" "fifo"

# Usage errors: exit 2.
yonder hash --frobnicate file-1 >"$T/out" 2>"$T/err"
is "bad option: exit 2" "$?" 2
like "bad option: message names it" "$(cat "$T/err")" "frobnicate"
yonder hash >"$T/out" 2>"$T/err"
is "no PATH: exit 2" "$?" 2
yonder hash --base16 >"$T/out" 2>"$T/err"
is "option but no PATH: exit 2" "$?" 2

# --help and --version.
yonder hash --help >"$T/out" 2>"$T/err"
is "hash --help: exit 0" "$?" 0
like "hash --help: usage on stdout" "$(cat "$T/out")" "^Usage: yonder hash"
like "hash --help: documents --flat" "$(cat "$T/out")" "--flat"
yonder --version >"$T/out" 2>"$T/err"
is "--version: exit 0" "$?" 0
like "--version: prints the version" "$(cat "$T/out")" "^yonder [0-9]+\.[0-9]+\.[0-9]+"

done_testing
