#!/bin/sh
# make-drv-vectors.sh — regenerates the derivation vectors in this
# directory with Nix 2.8 (Debian's nix-bin) as the oracle: nix/*.drv and
# gnu/*.drv (the .drv files nix-instantiate writes for each attribute of
# drvs.nix, with store directory /nix/store and /gnu/store) and drvs.tsv
# (their store paths, output paths, and for /nix/store the NAR hash and size
# of each output as built by Nix).  See README.md here.
#
# Runs every Nix command through nixrun.sh ($NIXRUN, else
# ../shared/nix-reference/nixrun.sh beside the repository, else
# /work/shared/nix-reference/nixrun.sh) against fresh private stores in a
# scratch directory.  Needs root (nixrun.sh uses unshare/mount) and jq.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)

if [ -z "${NIXRUN:-}" ]; then
	for c in "$TOP/../shared/nix-reference/nixrun.sh" /work/shared/nix-reference/nixrun.sh; do
		if [ -x "$c" ]; then NIXRUN=$c; break; fi
	done
fi
[ -n "${NIXRUN:-}" ] || { echo "make-drv-vectors.sh: nixrun.sh not found; set NIXRUN" >&2; exit 1; }
command -v jq >/dev/null || { echo "make-drv-vectors.sh: needs jq" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/yonder-drv-vectors.XXXXXX")
cleanup() { chmod -R u+w "$W" 2>/dev/null || :; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export ORACLE_NIX_ROOT="$W/nix"
# /gnu/store: a Nix local store whose logical directory is /gnu/store and
# whose files live in the scratch directory.  Nix can instantiate there but
# not build (the builder would have to write to the real /gnu/store).
GNU="local?store=/gnu/store&real=$W/gnu/store&state=$W/gnu/var/nix&log=$W/gnu/var/log/nix"
mkdir -p "$W/gnu/store"

nix() { "$NIXRUN" "$@" 2>"$W/stderr" || { cat "$W/stderr" >&2; exit 1; }; }
nixs() {
	_sd=$1; shift
	_c=$1; shift
	if [ "$_sd" = /nix/store ]; then nix "$_c" "$@"; else nix "$_c" --store "$GNU" "$@"; fi
}
realdir() { if [ "$1" = /nix/store ]; then echo "$W/nix/store"; else echo "$W/gnu/store"; fi; }
die() { echo "make-drv-vectors.sh: $*" >&2; exit 1; }
same() { [ "$2" = "$3" ] || die "$1: '$2' != '$3'"; }

# The fixed outputs' contents, made here the way the builders make them, and
# their hashes in every encoding Nix accepts for outputHash.
printf 'fixed flat\n' >"$W/flat"
mkdir "$W/rec"
echo hi >"$W/rec/file"
echo there >"$W/rec/other"
flatB16=$(nix nix-hash --flat --type sha256 "$W/flat")
flatN32=$(nix nix-hash --flat --type sha256 --base32 "$W/flat")
flatSri=$(nix nix hash to-sri --type sha256 "$flatB16")
recB16=$(nix nix-hash --type sha256 "$W/rec")
recN32=$(nix nix-hash --type sha256 --base32 "$W/rec")
recSri=$(nix nix hash to-sri --type sha256 "$recB16")
flatSha1=$(nix nix-hash --flat --type sha1 "$W/flat")
recSha512=$(nix nix-hash --type sha512 --base32 "$W/rec")
same "flat hash vs sha256sum" "$flatB16" "$(sha256sum <"$W/flat" | cut -d' ' -f1)"
control=$(printf 'bell\007 esc\033[0m del\177 soh\001 end')

set -- --argstr flatB16 "$flatB16" --argstr flatN32 "$flatN32" \
	--argstr flatSri "$flatSri" --argstr flatPrefixed "sha256:$flatN32" \
	--argstr recB16 "$recB16" --argstr recN32 "$recN32" --argstr recSri "$recSri" \
	--argstr flatSha1 "$flatSha1" --argstr recSha512 "$recSha512" \
	--argstr control "$control"

ATTRS="hello two-outputs only-bin fixed-flat-base16 fixed-flat-nix32
fixed-flat-sri fixed-flat-prefixed fixed-recursive-base16
fixed-recursive-nix32 fixed-recursive-sri fixed-flat-sha1 fixed-recursive-sha512
dependent dependent2 tofile escapes"

OUT="$W/drvs.tsv"
printf 'attr\tstoredir\tfield\tvalue\n' >"$OUT"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$OUT"; }
mkdir "$W/out" "$W/out/nix" "$W/out/gnu"

for sd in /nix/store /gnu/store; do
	tag=${sd%/store}; tag=${tag#/}
	for a in $ATTRS; do
		drv=$(nixs "$sd" nix-instantiate "$@" "$HERE/drvs.nix" -A "$a")
		drv=${drv%%!*} # "….drv!bin" when the first output is not "out"
		case "$drv" in "$sd"/*.drv) ;; *) die "$a: odd .drv path '$drv'" ;; esac
		cp "$(realdir "$sd")/${drv#"$sd"/}" "$W/out/$tag/$a.drv"
		row "$a" "$sd" file "$tag/$a.drv"
		row "$a" "$sd" drv_path "$drv"
		# Output names and paths as the evaluator gives them ...
		nixs "$sd" nix-instantiate "$@" --eval --strict --json -E \
			"{ ... }@args: let d = (import $HERE/drvs.nix args).\"$a\"; in
			 map (o: [ o d.\${o}.outPath ]) (d.outputs or [ \"out\" ])" >"$W/outs.json"
		jq -r '.[] | "\(.[0])\t\(.[1])"' "$W/outs.json" >"$W/outs"
		# ... must be those written in the .drv.
		same "$a: outputs in $sd" "$(cut -f2 "$W/outs" | LC_ALL=C sort)" \
			"$(nixs "$sd" nix-store -q --outputs "$drv" | LC_ALL=C sort)"
		same "$a: outputs in the .drv in $sd" "$(LC_ALL=C sort "$W/outs")" \
			"$(nixs "$sd" nix show-derivation "$drv" >"$W/show.json"
			   jq -r '.[].outputs | to_entries[] | "\(.key)\t\(.value.path)"' "$W/show.json" |
				LC_ALL=C sort)"
		while IFS='	' read -r o p; do
			row "$a" "$sd" "out:$o" "$p"
		done <"$W/outs"
		if [ "$sd" = /nix/store ]; then
			nix nix-store --realise "$drv" >/dev/null
			while IFS='	' read -r o p; do
				h=$(nix nix-store -q --hash "$p")
				row "$a" "$sd" "nar_sha256:$o" "${h#sha256:}"
				row "$a" "$sd" "nar_size:$o" "$(nix nix-store -q --size "$p")"
			done <"$W/outs"
		fi
	done
	# Every encoding of a fixed hash gives the same output path.
	for kind in flat recursive; do
		first=
		for a in $ATTRS; do
			case "$a" in fixed-$kind-sha1 | fixed-$kind-sha512) continue ;; fixed-$kind-*) ;; *) continue ;; esac
			p=$(awk -F'\t' -v a="$a" -v s="$sd" '$1==a && $2==s && $3=="out:out" {print $4}' "$OUT")
			[ -n "$first" ] || first=$p
			same "$a: fixed output path in $sd" "$first" "$p"
		done
	done
done

rm -rf "$HERE/nix" "$HERE/gnu"
cp -R "$W/out/nix" "$W/out/gnu" "$HERE/"
cp "$OUT" "$HERE/drvs.tsv"
echo "make-drv-vectors.sh: wrote $HERE/drvs.tsv ($(($(wc -l <"$OUT") - 1)) rows), $HERE/nix/ and $HERE/gnu/"
