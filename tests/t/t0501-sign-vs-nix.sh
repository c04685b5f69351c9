#!/bin/sh
# yonder store sign gives exactly Nix 2.8's signatures: the items of
# tests/vectors/sigs.tsv that `yonder store add` can make (the mktrees.sh
# trees, which have no references) are added to a yonder store at
# /nix/store, signed with the committed Nix test key, and their recorded
# signatures compared with the ones `nix store sign` gave.  The items with
# references are covered by tests/unit/test_pki.c (fingerprints and
# signatures of every row).
#
# The store has to be at /nix/store for the paths (and so the signatures)
# to be Nix's: the test runs in a private mount namespace with a tmpfs on
# /nix, so the host's /nix is never touched.  Needs root, unshare(1) and an
# existing /nix directory to mount over; skipped otherwise.
if [ -z "${YONDER_T0501_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && [ -d /nix ] && command -v unshare >/dev/null 2>&1 &&
		unshare -m --propagation private true 2>/dev/null; then
		YONDER_T0501_NS=1 exec unshare -m --propagation private \
			sh -c 'mount -t tmpfs -o mode=0755 yonder-t0501 /nix && exec "$0"' "$0"
	fi
	echo "1..0 # SKIP needs root, unshare and a /nix directory to mount a tmpfs over"
	exit 0
fi
. "$(dirname "$0")/lib.sh"

V=$TOP/tests/vectors
export YONDER_STORE_DIR=/nix/store
mkdir -p /nix/store
is "the store is a private tmpfs" "$(ls -A /nix/store)" ""

# row PATH-SUFFIX FIELD-NUMBER — a field of the sigs.tsv row whose path ends so.
row() { awk -F'\t' -v s="$1" -v f="$2" 'NR > 1 && substr($1, length($1) - length(s) + 1) == s { print $f }' "$V/sigs.tsv"; }

cp "$V/sig-key.sec" "$T/k.sec" && chmod 0600 "$T/k.sec"
"$V/mktrees.sh" "$T/trees"
n=0
for t in file-13 empty-dir mixed; do
	want=$(row "-$t" 1)
	[ -n "$want" ] || { is "sigs.tsv has a row for $t" "" "a row"; continue; }
	ok "add $t" yonder store add "$T/trees/$t"
	is "$t: the same store path as Nix's" "$(cat "$T/.out")" "$want"
	is "$t: the same NAR hash" "$(yonder store query --hash "$want")" "$(row "-$t" 2)"
	is "$t: the same NAR size" "$(yonder store query --size "$want")" "$(row "-$t" 3)"
	ok "sign $t with the Nix test key" yonder store sign --key-file "$T/k.sec" "$want"
	is "$t: yonder's signature is Nix's, byte for byte" \
		"$(yonder store query --sigs "$want")" "$(row "-$t" 6)"
	n=$((n + 1))
done
is "three items compared" $n 3

# All at once, and again: nothing changes.
set -- $(awk -F'\t' 'NR > 1 && $4 == "-" && $1 !~ /a\.txt$/ { print $1 }' "$V/sigs.tsv")
ok "sign them all again in one call" yonder store sign --key-file "$T/k.sec" "$@"
for p in "$@"; do
	is "$(basename "$p"): still exactly Nix's one signature" \
		"$(yonder store query --sigs "$p")" "$(row "$p" 6)"
done

done_testing
