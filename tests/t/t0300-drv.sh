#!/bin/sh
# yonder drv add / drv show against Nix 2.8: Nix's .drv files of
# tests/vectors/drv (nix/*.drv), added in dependency order with the store
# at /nix/store, get Nix's .drv paths, and `yonder drv show` prints exactly
# the bytes `nix show-derivation` printed for them (show/*.json, made by
# make-show-vectors.sh).  A declared output path that does not match, and
# a missing input, are refused with messages naming the paths, and nothing
# is registered.
#
# The store has to be at /nix/store for the paths to be Nix's: the test
# runs in a private mount namespace with a tmpfs on /nix (as t0501), so the
# host's /nix is never touched.  Without root, unshare or /nix, the part
# that needs /nix/store is skipped and the rest runs in the scratch store.
if [ -z "${YONDER_T0300_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && [ -d /nix ] && command -v unshare >/dev/null 2>&1 &&
		unshare -m --propagation private true 2>/dev/null; then
		YONDER_T0300_NS=1 exec unshare -m --propagation private \
			sh -c 'mount -t tmpfs -o mode=0755 yonder-t0300 /nix && exec "$0"' "$0"
	fi
	YONDER_T0300_NS=none
fi
. "$(dirname "$0")/lib.sh"

V=$TOP/tests/vectors/drv
# drvpath ATTR — the .drv path Nix gave ATTR in /nix/store.
drvpath() { awk -F'\t' -v a="$1" '$1 == a && $2 == "/nix/store" && $3 == "drv_path" { print $4 }' "$V/drvs.tsv"; }
err() { cat "$T/.err"; }

# ---- Without /nix/store: the commands on derivations made by a recipe ----
ok "yonder derivation writes the recipe's .drv files" \
	yonder derivation "$TOP/tests/data/recipes/nix-vectors.scm"
set -- $(cat "$T/.out")
is "sixteen .drv paths" $# 16
mkdir "$T/copies"
for p in "$@"; do cp "$p" "$T/copies/"; done
dep2=${14}
ok "drv show --recursive of dependent2 in the scratch store" yonder drv show -r "$dep2"
is "... six derivations in its closure" "$(grep -c '^  "/' "$T/.out")" 6
# Delete them all, then add the copies back in dependency order: the same
# paths.
ok "delete the recipe's items" sh -c 'yonder store delete $(ls -d "$YONDER_STORE_DIR"/*)'
is "... the store is empty" "$(ls -A "$YONDER_STORE_DIR")" ""
ok "add-text the two sources of tofile" sh -c '
	b=$(printf "echo from-file > \$out\n" | yonder store add-text builder.sh) &&
	printf "see %s\n" "$b" | yonder store add-text --ref "$b" data.txt'
n=0
for p in "$@"; do
	got=$(yonder drv add "$T/copies/${p##*/}" 2>"$T/.err") || err
	[ "$got" = "$p" ] && n=$((n + 1))
done
is "all sixteen added back by drv add, under the same paths" $n 16
ok "drv show of a .drv file outside the store" yonder drv show "$T/copies/${1##*/}"
like "... is shown under its store path" "$(cat "$T/.out")" "^  \"$1\": \\{"
fails "drv show of a path not in the store database" yonder drv show "$YONDER_STORE_DIR/00000000000000000000000000000000-x.drv"
like "... says so" "$(err)" "is not valid in the store"
fails "drv add without a file" yonder drv add
fails "drv add of a file that does not exist" yonder drv add "$T/nonexistent.drv"
like "... names it" "$(err)" "nonexistent.drv"

if [ "$YONDER_T0300_NS" = none ]; then
	echo "# skipping the /nix/store part: needs root, unshare and a /nix directory"
	done_testing
fi

# ---- With /nix/store: Nix's own .drv files ----
export YONDER_STORE_DIR=/nix/store YONDER_STATE_DIR="$T/nixstate"
mkdir -p /nix/store
is "the store is a private tmpfs" "$(ls -A /nix/store)" ""

# A missing input: dependent needs hello, two-outputs and fixed-flat-base16.
fails "drv add dependent before its inputs" yonder drv add "$V/nix/dependent.drv"
like "... names the missing input" "$(err)" \
	"dependent.drv: input derivation '$(drvpath two-outputs)' is not valid in the store"
fails "drv add tofile before its sources" yonder drv add "$V/nix/tofile.drv"
like "... names the missing source" "$(err)" \
	"input source '/nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh' is not valid"
is "... nothing was added" "$(ls -A /nix/store)" ""

# A declared output path that is not the right one (the hash part of the
# out path of hello, changed everywhere it appears).
sed 's/fvchbymk0m4jvldpb9m5hy0bjy2lf30k/00000000000000000000000000000000/g' \
	"$V/nix/hello.drv" >"$T/bad-hello.drv"
fails "drv add of hello with a wrong output path" yonder drv add "$T/bad-hello.drv"
like "... names the declared and the right path" "$(err)" \
	"bad-hello.drv: derivation 'hello': output 'out' is declared as '/nix/store/00000000000000000000000000000000-hello', but its path is '/nix/store/fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello'"
# Only the environment variable wrong.
sed 's|("out","/nix/store/fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello")|("out","/nix/store/00000000000000000000000000000000-hello")|' \
	"$V/nix/hello.drv" >"$T/bad-env.drv"
fails "drv add of hello with a wrong \$out variable" yonder drv add "$T/bad-env.drv"
like "... names the variable and the path" "$(err)" \
	"environment variable 'out' is '/nix/store/0+-hello', but the output path is '/nix/store/fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello'"
# A fixed output whose declared path does not match its hash.
sed 's/9i6fn30v5c9mdw48gsbd3yz5876ybird/11111111111111111111111111111111/g' \
	"$V/nix/fixed-flat-sri.drv" >"$T/bad-fixed.drv"
fails "drv add of a fixed-output .drv with a wrong path" yonder drv add "$T/bad-fixed.drv"
like "... names both paths" "$(err)" \
	"is declared as '/nix/store/1{32}-fixed-flat', but its path is '/nix/store/9i6fn30v5c9mdw48gsbd3yz5876ybird-fixed-flat'"
is "nothing was added" "$(ls -A /nix/store)" ""

# The sources of tofile, as builtins.toFile made them.
b=$(printf 'echo from-file > $out\n' | yonder store add-text builder.sh)
is "builder.sh: Nix's path" "$b" /nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh
d=$(printf 'see %s\n' "$b" | yonder store add-text --ref "$b" data.txt)
is "data.txt: Nix's path" "$d" /nix/store/bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt

ATTRS="hello two-outputs only-bin fixed-flat-base16 fixed-flat-nix32
fixed-flat-sri fixed-flat-prefixed fixed-recursive-base16
fixed-recursive-nix32 fixed-recursive-sri fixed-flat-sha1 fixed-recursive-sha512
dependent dependent2 tofile escapes"
all=
for a in $ATTRS; do
	ok "drv add $a" yonder drv add "$V/nix/$a.drv"
	is "$a: Nix's .drv path" "$(cat "$T/.out")" "$(drvpath "$a")"
	ok "$a: the stored file is Nix's, byte for byte" cmp "$V/nix/$a.drv" "$(drvpath "$a")"
	ok "$a: drv show" sh -c 'yonder drv show "$1" >"$2"' - "$(drvpath "$a")" "$T/show.json"
	ok "$a: exactly what nix show-derivation printed" cmp "$T/show.json" "$V/show/$a.json"
	all="$all $(drvpath "$a")"
done
is "dependent2's references: its input derivations" \
	"$(yonder store query --references "$(drvpath dependent2)" | tr '\n' ' ')" \
	"$(drvpath dependent) $(drvpath two-outputs) $(drvpath fixed-recursive-sri) " 
ok "drv add again: the same path" yonder drv add "$V/nix/hello.drv"
is "... printed again" "$(cat "$T/.out")" "$(drvpath hello)"
yonder drv show $all >"$T/all.json"
ok "drv show of all sixteen at once: nix show-derivation's bytes (sorted by path)" \
	cmp "$T/all.json" "$V/show/all.json"
yonder drv show --recursive "$(drvpath dependent2)" >"$T/rec.json"
ok "drv show --recursive dependent2: nix show-derivation --recursive's bytes" \
	cmp "$T/rec.json" "$V/show/dependent2-recursive.json"
yonder drv show "$V/nix/escapes.drv" >"$T/file.json"
ok "drv show of Nix's escapes.drv outside the store: the same JSON" \
	cmp "$T/file.json" "$V/show/escapes.json"

# The JSON is JSON: perl's JSON::PP reads it back to the .drv's values.
if perl -MJSON::PP -e1 2>/dev/null; then
	ok "JSON::PP parses the output; escapes' env round-trips" perl -MJSON::PP -e '
		local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
		my $e = $j->{$ARGV[1]}{env} or die "no escapes";
		$e->{mixed} eq "\"\\\n\t\r\\\"" or die "mixed";
		$e->{control} eq "bell\x07 esc\x1b[0m del\x7f soh\x01 end" or die "control";
		keys %$j == 16 or die "count"' "$T/all.json" "$(drvpath escapes)"
fi

done_testing
