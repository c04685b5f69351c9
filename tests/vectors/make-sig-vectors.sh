#!/bin/sh
# make-sig-vectors.sh [--new-key] — regenerates tests/vectors/sigs.tsv with
# Nix 2.8 (Debian's nix-bin) as the oracle: store paths, what Nix's database
# says about them (NAR hash, NAR size, references) and the signature that
# `nix store sign` gives each with the test key in sig-key.sec.
#
# The test key pair (sig-key.sec, sig-key.pub, name "yonder-test-1") is
# made once with `nix-store --generate-binary-cache-key` and committed; it is
# reused on later runs (Ed25519 is deterministic, so the output is the same
# on every run), unless --new-key asks for a fresh pair.  It is a test key:
# it must never be trusted anywhere.
#
# sigs.tsv: tab-separated, header line first, one row per store path:
#   path  nar_hash  nar_size  refs  fingerprint  sig
# nar_hash is "sha256:<nix32>" (nix-store -q --hash), refs the references
# sorted by bytes and joined by "," ("-" for none), fingerprint the string
# that was signed as this script assembles it (Nix's fingerprint:
# "1;<path>;<nar_hash>;<nar_size>;<refs>"), sig the "<name>:<base64>" that
# `nix store sign` recorded (`nix path-info --json --sigs`).  The script
# checks that Nix accepts each signature with the public key
# (`nix store verify --sigs-needed 1`) and that no two rows share one.
#
# The paths: three trees of mktrees.sh added with `nix-store --add`
# (file-13, empty-dir, mixed: no references, so `yonder store add` makes the
# same paths), builtins.toFile texts with 0, 1 and 2 references (c.txt names
# b before a in its content), a .drv, and that derivation's output, which
# refers to itself and to a.txt.
#
# Runs Nix through nixrun.sh ($NIXRUN, else ../shared/nix-reference/nixrun.sh
# beside the repository, else /work/shared/nix-reference/nixrun.sh) in a fresh
# private store in a scratch directory.  Needs root.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
NEWKEY=0
case "${1:-}" in
--new-key) NEWKEY=1 ;;
"") ;;
*) echo "usage: $0 [--new-key]" >&2; exit 2 ;;
esac

if [ -z "${NIXRUN:-}" ]; then
	for c in "$TOP/../shared/nix-reference/nixrun.sh" /work/shared/nix-reference/nixrun.sh; do
		if [ -x "$c" ]; then NIXRUN=$c; break; fi
	done
fi
[ -n "${NIXRUN:-}" ] || { echo "make-sig-vectors.sh: nixrun.sh not found; set NIXRUN" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/yonder-sigvec.XXXXXX")
cleanup() { chmod -R u+w "$W" 2>/dev/null || :; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export ORACLE_NIX_ROOT="$W/nix"

nix() { "$NIXRUN" "$@" 2>"$W/stderr" || { cat "$W/stderr" >&2; exit 1; }; }
die() { echo "make-sig-vectors.sh: $*" >&2; exit 1; }

KEYNAME=yonder-test-1
if [ $NEWKEY = 1 ] || [ ! -f "$HERE/sig-key.sec" ] || [ ! -f "$HERE/sig-key.pub" ]; then
	nix nix-store --generate-binary-cache-key "$KEYNAME" "$W/sig-key.sec" "$W/sig-key.pub"
	cp "$W/sig-key.sec" "$W/sig-key.pub" "$HERE/"
	chmod 0644 "$HERE/sig-key.sec" "$HERE/sig-key.pub"
else
	cp "$HERE/sig-key.sec" "$HERE/sig-key.pub" "$W/"
fi
chmod 0600 "$W/sig-key.sec"
case "$(cat "$W/sig-key.pub")" in "$KEYNAME":*) ;; *) die "sig-key.pub is not named $KEYNAME" ;; esac

"$HERE/mktrees.sh" "$W/trees"
: >"$W/paths"
for t in file-13 empty-dir mixed; do
	nix nix-store --add "$W/trees/$t" >>"$W/paths"
done

LET='let a = builtins.toFile "a.txt" "A\n"; b = builtins.toFile "b.txt" "see ${a}\n"; in'
for expr in 'a' 'b' 'builtins.toFile "c.txt" "${b} and ${a}"'; do
	p=$(nix nix-instantiate --read-write-mode --eval --json -E "$LET $expr")
	p=${p#\"}; p=${p%\"}
	echo "$p" >>"$W/paths"
done
cat >"$W/selfref.nix" <<'EOF'
let a = builtins.toFile "a.txt" "A\n"; in
builtins.derivation {
  name = "self-ref";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "echo $out ${a} > $out" ];
}
EOF
drv=$(nix nix-instantiate "$W/selfref.nix")
echo "$drv" >>"$W/paths"
nix nix-store --realise "$drv" >>"$W/paths"

# `nix store sign PATH` and `nix path-info PATH` take a .drv path as its
# outputs in Nix 2.8, so everything is signed, verified and listed with
# --all (the scratch store holds only these paths and their inputs).
PUB=$(cat "$W/sig-key.pub")
nix nix store sign --all --key-file "$W/sig-key.sec"
nix nix store verify --all --option trusted-public-keys "$PUB" --sigs-needed 1
nix nix path-info --all --json --sigs | sed 's/},{/}\n{/g' >"$W/info"
printf 'path\tnar_hash\tnar_size\trefs\tfingerprint\tsig\n' >"$W/sigs.tsv"
while read -r p; do
	case "$p" in /nix/store/*) ;; *) die "odd path '$p'" ;; esac
	hash=$(nix nix-store -q --hash "$p")
	size=$(nix nix-store -q --size "$p")
	nix nix-store -q --references "$p" >"$W/refs"
	refs=$(LC_ALL=C sort "$W/refs" | paste -sd, -)
	sig=$(grep -F "\"path\":\"$p\"" "$W/info" |
		sed -n 's/.*"signatures":\["\([^"]*\)"\].*/\1/p')
	case "$sig" in "$KEYNAME":*) ;; *) die "$p: no single signature by $KEYNAME: '$sig'" ;; esac
	fp="1;$p;$hash;$size;$refs"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$hash" "$size" "${refs:--}" "$fp" "$sig" >>"$W/sigs.tsv"
done <"$W/paths"
[ "$(cut -f6 "$W/sigs.tsv" | sort -u | wc -l)" -eq 9 ] || die "two paths have the same signature"
[ "$(wc -l <"$W/sigs.tsv")" -eq 9 ] || die "expected 8 rows in sigs.tsv"

cp "$W/sigs.tsv" "$HERE/sigs.tsv"
echo "make-sig-vectors.sh: wrote $HERE/sigs.tsv ($(($(wc -l <"$W/sigs.tsv") - 1)) rows) with key $KEYNAME"
