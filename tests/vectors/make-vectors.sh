#!/bin/sh
# make-vectors.sh — regenerates tests/vectors/vectors.tsv and
# tests/vectors/nar/*.nar with Nix 2.8 (Debian's nix-bin) as the oracle.
# See README.md in this directory for the format.
#
# Runs every Nix command through nixrun.sh ($NIXRUN, else
# ../shared/nix-reference/nixrun.sh beside the repository, else
# /work/shared/nix-reference/nixrun.sh) against fresh private stores in a
# scratch directory: /nix/store (nixrun's bind mount) and /gnu/store (a
# local store whose logical directory is /gnu/store and whose files live in
# the scratch directory).  Needs root (nixrun.sh uses unshare/mount).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

if [ -z "${NIXRUN:-}" ]; then
	for c in "$TOP/../shared/nix-reference/nixrun.sh" /work/shared/nix-reference/nixrun.sh; do
		if [ -x "$c" ]; then NIXRUN=$c; break; fi
	done
fi
[ -n "${NIXRUN:-}" ] || { echo "make-vectors.sh: nixrun.sh not found; set NIXRUN" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/yonder-vectors.XXXXXX")
cleanup() { chmod -R u+w "$W" 2>/dev/null || :; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export ORACLE_NIX_ROOT="$W/nix"
GNU="local?store=/gnu/store&real=$W/gnu/store&state=$W/gnu/var/nix&log=$W/gnu/var/log/nix"
mkdir -p "$W/gnu/store"

nix() { "$NIXRUN" "$@" 2>"$W/stderr" || { cat "$W/stderr" >&2; exit 1; }; }
# nixs STOREDIR CMD... — a Nix command against the store for STOREDIR.
nixs() {
	_sd=$1; shift
	_c=$1; shift
	if [ "$_sd" = /nix/store ]; then nix "$_c" "$@"; else nix "$_c" --store "$GNU" "$@"; fi
}
# ro_store STOREDIR — a store URL that only computes paths (no files).
ro_store() { echo "dummy://?store=$1"; }
die() { echo "make-vectors.sh: $*" >&2; exit 1; }
same() { [ "$2" = "$3" ] || die "$1: '$2' != '$3'"; }

OUT="$W/vectors.tsv"
printf 'kind\tname\tstoredir\tfield\tvalue\n' >"$OUT"
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT"; }

"$HERE/mktrees.sh" "$W/trees"
mkdir "$W/nar"
TREES="empty-file exec-file exec-empty file-1 file-7 file-8 file-13 big-file
empty-dir sorting symlink-rel symlink-abs dir-symlinks utf8-names mixed"
# Trees whose NAR is too big to commit: only its hash is recorded.
BIG="big-file"

for t in $TREES; do
	p="$W/trees/$t"
	[ -e "$p" ] || [ -L "$p" ] || die "mktrees.sh made no $t"
	if [ -L "$p" ]; then type=symlink
	elif [ -d "$p" ]; then type=directory
	elif [ -x "$p" ]; then type=executable
	else type=regular; fi
	row tree "$t" - type "$type"

	nix nix-store --dump "$p" >"$W/nar/$t.nar"
	size=$(wc -c <"$W/nar/$t.nar" | tr -d ' ')
	b16=$(nix nix-hash --type sha256 "$p")
	n32=$(nix nix-hash --type sha256 --base32 "$p")
	sri=$(nix nix hash to-sri --type sha256 "$b16")
	same "$t: nix-hash vs sha256sum of the dump" "$b16" \
		"$(sha256sum <"$W/nar/$t.nar" | cut -d' ' -f1)"
	same "$t: --to-base32" "$n32" "$(nix nix-hash --type sha256 --to-base32 "$b16")"
	case " $BIG " in
	*" $t "*) ;;
	*) row tree "$t" - nar_file "nar/$t.nar" ;;
	esac
	row tree "$t" - nar_size "$size"
	row tree "$t" - nar_sha256_base16 "$b16"
	row tree "$t" - nar_sha256_nix32 "$n32"
	row tree "$t" - nar_sha256_sri "$sri"
	if [ "$type" = regular ] || [ "$type" = executable ]; then
		fb16=$(nix nix-hash --flat --type sha256 "$p")
		fn32=$(nix nix-hash --flat --type sha256 --base32 "$p")
		same "$t: flat vs sha256sum" "$fb16" "$(sha256sum <"$p" | cut -d' ' -f1)"
		row tree "$t" - flat_sha256_base16 "$fb16"
		row tree "$t" - flat_sha256_nix32 "$fn32"
		row tree "$t" - flat_sha256_sri "$(nix nix hash to-sri --type sha256 "$fb16")"
	fi

	for sd in /nix/store /gnu/store; do
		src=$(nixs "$sd" nix-store --add "$p")
		rec=$(nixs "$sd" nix-store --add-fixed --recursive sha256 "$p")
		case "$src" in "$sd"/*-"$t") ;; *) die "$t: odd path '$src'" ;; esac
		same "$t: narSize in $sd" "$size" "$(nixs "$sd" nix-store -q --size "$src")"
		same "$t: narHash in $sd" "sha256:$n32" "$(nixs "$sd" nix-store -q --hash "$src")"
		same "$t: recursive fixed = source in $sd" "$src" "$rec"
		same "$t: print-fixed-path --recursive in $sd" "$src" \
			"$(nix nix-store --store "$(ro_store "$sd")" --print-fixed-path --recursive sha256 "$b16" "$t")"
		row tree "$t" "$sd" source_path "$src"
		row tree "$t" "$sd" fixed_recursive_path "$rec"
		if [ "$type" = regular ] || [ "$type" = executable ]; then
			flat=$(nixs "$sd" nix-store --add-fixed sha256 "$p")
			same "$t: print-fixed-path in $sd" "$flat" \
				"$(nix nix-store --store "$(ro_store "$sd")" --print-fixed-path sha256 "$fn32" "$t")"
			row tree "$t" "$sd" fixed_flat_path "$flat"
		fi
	done
done

# Text paths as builtins.toFile makes them.  Each line: NAME<tab>Nix string
# expression for the content, which may use a, b (earlier toFile paths).
LET='let a = builtins.toFile "a.txt" "A\n"; b = builtins.toFile "b.txt" "see ${a}\n"; in'
TAB=$(printf '\t')
while IFS="$TAB" read -r name expr; do
	for sd in /nix/store /gnu/store; do
		# The content as a JSON string body (quotes removed).
		content=$(nixs "$sd" nix-instantiate --eval --json -E "$LET $expr")
		content=${content#\"}; content=${content%\"}
		# --read-write-mode: really add it, so that its references can be
		# queried (nix-instantiate --eval alone only computes the path).
		path=$(nixs "$sd" nix-instantiate --read-write-mode --eval --json \
			-E "$LET builtins.toFile \"$name\" ($expr)")
		path=${path#\"}; path=${path%\"}
		same "$name: toFile in read-only mode in $sd" "$path" "$(nix nix-instantiate --readonly-mode \
			--store "$(ro_store "$sd")" --eval --json -E "$LET builtins.toFile \"$name\" ($expr)" | tr -d '"')"
		nixs "$sd" nix-store -q --references "$path" >"$W/refs"
		refs=$(LC_ALL=C sort "$W/refs" | paste -sd, -)
		row text "$name" "$sd" content "$content"
		row text "$name" "$sd" references "${refs:--}"
		row text "$name" "$sd" path "$path"
	done
done <<TEXTS
hello.txt	"hi\n"
empty.txt	""
a.txt	"A\n"
b.txt	"see \${a}\n"
c.txt	"\${b} and \${a}"
TEXTS

# Base conversions of a few digests: nix-hash --to-base32, and back.
for h in 0000000000000000000000000000000000000000000000000000000000000000 \
	ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff \
	0100000000000000000000000000000000000000000000000000000000000000 \
	0000000000000000000000000000000000000000000000000000000000000080 \
	0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff \
	e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855; do
	n32=$(nix nix-hash --type sha256 --to-base32 "$h")
	same "$h: back to base16" "$h" "$(nix nix-hash --type sha256 --to-base16 "$n32")"
	row conv "$h" - nix32 "$n32"
	row conv "$h" - base64 "$(nix nix hash to-base64 --type sha256 "$h")"
	row conv "$h" - sri "$(nix nix hash to-sri --type sha256 "$h")"
done

rm -f "$HERE"/nar/*.nar
mkdir -p "$HERE/nar"
for t in $TREES; do
	case " $BIG " in *" $t "*) continue ;; esac
	cp "$W/nar/$t.nar" "$HERE/nar/$t.nar"
done
cp "$OUT" "$HERE/vectors.tsv"
echo "make-vectors.sh: wrote $HERE/vectors.tsv ($(($(wc -l <"$OUT") - 1)) rows) and $HERE/nar/"
