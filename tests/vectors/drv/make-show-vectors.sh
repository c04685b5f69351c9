#!/bin/sh
# make-show-vectors.sh — regenerates show/*.json here: what Nix 2.8's
# `nix show-derivation` prints (the exact bytes) for the /nix/store
# derivations of drvs.nix, one attribute at a time (show/<attr>.json), all
# sixteen in one call (show/all.json), and dependent2 with --recursive
# (show/dependent2-recursive.json).  tests/t/t0300-drv.sh compares
# `yonder drv show` with them byte for byte.
#
# Runs Nix through nixrun.sh ($NIXRUN, else ../shared/nix-reference/nixrun.sh
# beside the repository, else /work/shared/nix-reference/nixrun.sh) against a
# fresh private store in a scratch directory.  Needs root.  The hashes passed
# to drvs.nix are computed as make-drv-vectors.sh computes them, and the
# script stops unless every .drv it instantiates is byte-identical to the
# committed nix/<attr>.drv.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)

if [ -z "${NIXRUN:-}" ]; then
	for c in "$TOP/../shared/nix-reference/nixrun.sh" /work/shared/nix-reference/nixrun.sh; do
		if [ -x "$c" ]; then NIXRUN=$c; break; fi
	done
fi
[ -n "${NIXRUN:-}" ] || { echo "make-show-vectors.sh: nixrun.sh not found; set NIXRUN" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/yonder-show-vectors.XXXXXX")
cleanup() { chmod -R u+w "$W" 2>/dev/null || :; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export ORACLE_NIX_ROOT="$W/nix"

nix() { "$NIXRUN" "$@" 2>"$W/stderr" || { cat "$W/stderr" >&2; exit 1; }; }
die() { echo "make-show-vectors.sh: $*" >&2; exit 1; }

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

mkdir "$W/show"
all=
for a in $ATTRS; do
	drv=$(nix nix-instantiate "$@" "$HERE/drvs.nix" -A "$a")
	drv=${drv%%!*}
	cmp -s "$W/nix/store/${drv#/nix/store/}" "$HERE/nix/$a.drv" ||
		die "$a: $drv differs from nix/$a.drv (run make-drv-vectors.sh first?)"
	nix nix show-derivation "$drv" >"$W/show/$a.json"
	all="$all $drv"
	[ "$a" != dependent2 ] || dep2=$drv
done
nix nix show-derivation $all >"$W/show/all.json"
nix nix show-derivation --recursive "$dep2" >"$W/show/dependent2-recursive.json"

rm -rf "$HERE/show"
cp -R "$W/show" "$HERE/show"
echo "make-show-vectors.sh: wrote $(ls "$HERE/show" | wc -l) files in $HERE/show/"
