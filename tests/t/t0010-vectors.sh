#!/bin/sh
# t0010-vectors.sh — yonder against Nix 2.8's vectors (tests/vectors/):
# NAR hashes in every base, NAR bytes, and store paths (source, fixed flat,
# fixed recursive) for /nix/store and /gnu/store.  Text paths are covered
# by tests/unit/test_storepath.c.
. "$(dirname "$0")/lib.sh"

V="$TOP/tests/vectors"
TSV="$V/vectors.tsv"
"$V/mktrees.sh" "$T/trees" || { echo "Bail out! tests/vectors/mktrees.sh failed"; exit 1; }

# vec KIND NAME STOREDIR FIELD — one value of vectors.tsv.
vec() {
	awk -F'\t' -v k="$1" -v n="$2" -v s="$3" -v f="$4" \
		'$1 == k && $2 == n && $3 == s && $4 == f { print $5; exit }' "$TSV"
}
# sri_of BASE16 — "sha256-" and the base64 of the digest.
sri_of() { printf 'sha256-%s' "$(printf '%s' "$1" | perl -ne 'print pack("H*", $_)' | base64)"; }

# Nothing may be written to the real store directories by --dry-run.
snapshot() { for d in /nix/store /gnu/store; do ls -a "$d" 2>&1; done; }
before=$(snapshot)

trees=$(awk -F'\t' '$1 == "tree" && $4 == "type" { print $2 }' "$TSV")
n=$(echo "$trees" | wc -l)
ok "at least 12 trees in the vectors ($n)" test "$n" -ge 12

for t in $trees; do
	P="$T/trees/$t"
	type=$(vec tree "$t" - type)
	b16=$(vec tree "$t" - nar_sha256_base16)
	n32=$(vec tree "$t" - nar_sha256_nix32)
	sri=$(vec tree "$t" - nar_sha256_sri)
	size=$(vec tree "$t" - nar_size)
	nar=$(vec tree "$t" - nar_file)

	is "$t: vectors' SRI is the base64 of the base16" "$(sri_of "$b16")" "$sri"
	is "$t: hash --base16" "$(yonder hash --base16 "$P")" "$b16"
	is "$t: hash (nix32)" "$(yonder hash "$P")" "$n32"
	is "$t: hash --base32" "$(yonder hash --base32 "$P")" "$n32"
	is "$t: hash --sri" "$(yonder hash --sri "$P")" "$(sri_of "$b16")"

	rm -f "$T/out.nar"
	if ok "$t: store dump exits 0" sh -c 'yonder store dump "$1" >"$2"' - "$P" "$T/out.nar"; then
		if [ -n "$nar" ]; then
			ok "$t: store dump = nix-store --dump ($nar)" cmp "$T/out.nar" "$V/$nar"
		else
			is "$t: SHA-256 of store dump" "$(sha256sum <"$T/out.nar" | cut -d' ' -f1)" "$b16"
		fi
		is "$t: NAR size" "$(wc -c <"$T/out.nar" | tr -d ' ')" "$size"
	fi

	# Nix's NAR restored by yonder hashes the same (and round-trips).
	if [ -n "$nar" ]; then
		ok "$t: store restore of Nix's NAR" sh -c 'yonder store restore "$1" <"$2"' - \
			"$T/restored-$t" "$V/$nar"
		is "$t: hash of the restored tree" "$(yonder hash --base16 "$T/restored-$t")" "$b16"
	fi

	for sd in /nix/store /gnu/store; do
		src=$(vec tree "$t" "$sd" source_path)
		is "$t: store add --dry-run in $sd" \
			"$(YONDER_STORE_DIR=$sd yonder store add --dry-run "$P")" "$src"
		is "$t: fixed recursive = source in $sd" "$(vec tree "$t" "$sd" fixed_recursive_path)" "$src"
		if [ "$type" = regular ] || [ "$type" = executable ]; then
			is "$t: store add --flat --dry-run in $sd" \
				"$(YONDER_STORE_DIR=$sd yonder store add --flat --dry-run "$P")" \
				"$(vec tree "$t" "$sd" fixed_flat_path)"
		fi
	done
done

# Several paths: one line each, in order.
want=$(printf '%s\n%s\n%s' "$(vec tree file-1 /gnu/store source_path)" \
	"$(vec tree sorting /gnu/store source_path)" "$(vec tree symlink-abs /gnu/store source_path)")
is "store add --dry-run of three paths" "$(YONDER_STORE_DIR=/gnu/store yonder store add --dry-run \
	"$T/trees/file-1" "$T/trees/sorting" "$T/trees/symlink-abs")" "$want"

# In the test's own store: the path is under it and nothing is written.
got=$(yonder store add --dry-run "$T/trees/mixed")
like "store add --dry-run in \$YONDER_STORE_DIR" "$got" "^$YONDER_STORE_DIR/[0-9a-df-np-sv-z]{32}-mixed\$"
is "store add --dry-run left the store empty" "$(ls -A "$YONDER_STORE_DIR")" ""
is "store add --dry-run wrote nothing in /nix/store or /gnu/store" "$(snapshot)" "$before"

done_testing
