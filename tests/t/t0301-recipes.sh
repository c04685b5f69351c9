#!/bin/sh
# yonder derivation: the examples evaluate and write their .drv files with
# their inputs; the derivations of tests/vectors/drv written as a recipe
# (tests/data/recipes/nix-vectors.scm) give Nix's .drv paths for /nix/store
# and /gnu/store, and — with the store at /nix/store, in a private mount
# namespace with a tmpfs on /nix as in t0501 — Nix's .drv bytes; every bad
# recipe of tests/data/bad-recipe is refused with its FILE:LINE:COL message
# and adds nothing to the store.  Without root, unshare or /nix the part
# that writes to /nix/store is skipped.
if [ -z "${YONDER_T0301_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && [ -d /nix ] && command -v unshare >/dev/null 2>&1 &&
		unshare -m --propagation private true 2>/dev/null; then
		YONDER_T0301_NS=1 exec unshare -m --propagation private \
			sh -c 'mount -t tmpfs -o mode=0755 yonder-t0301 /nix && exec "$0"' "$0"
	fi
	YONDER_T0301_NS=none
fi
. "$(dirname "$0")/lib.sh"

V=$TOP/tests/vectors/drv
R=$TOP/tests/data/recipes/nix-vectors.scm
E=$TOP/examples
ATTRS="hello two-outputs only-bin fixed-flat-base16 fixed-flat-nix32
fixed-flat-sri fixed-flat-prefixed fixed-recursive-base16
fixed-recursive-nix32 fixed-recursive-sri fixed-flat-sha1 fixed-recursive-sha512
dependent dependent2 tofile escapes"
# want STOREDIR FIELD — that field of every attribute, one per line.
want() { for a in $ATTRS; do awk -F'\t' -v a="$a" -v s="$1" -v f="$2" '$1 == a && $2 == s && $3 == f { print $4 }' "$V/drvs.tsv"; done; }
err() { cat "$T/.err"; }
# show DRV — drv show's JSON of DRV, on one line per key (for like).
show() { yonder drv show "$1"; }

# ---- Nix's paths, without writing anything ----
for sd in /nix/store /gnu/store; do
	ok "nix-vectors.scm --dry-run in $sd" env YONDER_STORE_DIR=$sd yonder derivation --dry-run "$R"
	is "... Nix's sixteen .drv paths in $sd" "$(cat "$T/.out")" "$(want $sd drv_path)"
done

# ---- The examples ----
ok "hello.scm" yonder derivation "$E/hello.scm"
hello=$(cat "$T/.out")
like "... one .drv" "$hello" "^$YONDER_STORE_DIR/[0-9a-z]{32}-hello\\.drv\$"
ok "... again: the same path" yonder derivation "$E/hello.scm"
is "... printed again" "$(cat "$T/.out")" "$hello"
like "... builder and args" "$(show "$hello")" '"builder": "/bin/sh",'

ok "two-outputs.scm" yonder derivation "$E/two-outputs.scm"
set -- $(cat "$T/.out")
is "... two derivations" $# 2
like "... greeting has outputs doc and out" "$(show "$1" | tr -d ' \n')" \
	'"outputs":\{"doc":\{"path":"[^"]*-greeting-doc"\},"out":\{"path":"[^"]*-greeting"\}\}'
like "... leaflet uses both outputs of greeting" "$(show "$2" | tr -d ' \n')" \
	"\"inputDrvs\":\\{\"$1\":\\[\"doc\",\"out\"\\]\\}"

ok "fixed-output.scm" yonder derivation "$E/fixed-output.scm"
set -- $(cat "$T/.out")
like "... flat sha256" "$(show "$1" | tr -d ' \n')" \
	'"hashAlgo":"sha256","hash":"d916c0c7659db48649efb3573528ee513fb83c1371207eefa6bcd364a3a04b5c"'
like "... recursive sha256 (from SRI)" "$(show "$2" | tr -d ' \n')" \
	'"hashAlgo":"r:sha256","hash":"980180[0-9a-f]{58}".*"outputHashMode":"recursive"'

ok "hello-c.scm" yonder derivation "$E/hello-c/hello-c.scm"
set -- $(cat "$T/.out")
is "... the program and its run" $# 2
ok "... the closure: 3 objects, the link, the run" sh -c 'yonder drv show -r "$1" >"$2"' - "$2" "$T/c.json"
is "... five derivations" "$(grep -c '^  "/' "$T/c.json")" 5
for o in main greet count; do
	d=$(ls "$YONDER_STORE_DIR"/*-hello-c-$o.o.drv)
	refs=$(yonder store query --references "$d")
	like "$o.o: its .c file is an input source, valid" "$refs" "[0-9a-z]{32}-$o\\.c\$"
	like "$o.o: the include directory too" "$refs" "[0-9a-z]{32}-include\$"
	ok "$o.c in the store is the example's file" cmp "$(echo "$refs" | grep "\\-$o\\.c\$")" "$E/hello-c/$o.c"
done
like "the link step: objects in \$objects, gcc with -B/usr/bin/" "$(show "$1")" \
	'/usr/bin/gcc -B/usr/bin/ -o \$out/bin/hello-c \$objects'

# --dry-run prints the same paths and writes nothing, not even a state
# directory or a store directory.
ok "--dry-run" env YONDER_STATE_DIR="$T/fresh-state" yonder derivation --dry-run "$E/hello-c/hello-c.scm"
is "... the same paths" "$(tr '\n' ' ' <"$T/.out")" "$* "
ok "... no state directory made" test ! -e "$T/fresh-state"
ok "--dry-run with a store directory that does not exist" env YONDER_STORE_DIR="$T/fresh" \
	YONDER_STATE_DIR="$T/fresh-state" yonder derivation --dry-run "$E/hello-c/hello-c.scm"
ok "... does not make it" test ! -e "$T/fresh"

# Building the examples, when `yonder build` is there (and gcc for hello-c).
if yonder build --help >/dev/null 2>&1; then
	ok "yonder build examples/hello.scm" yonder build "$E/hello.scm"
	is "... its output says hello" "$(cat "$(cat "$T/.out")")" "Hello, world!"
	ok "yonder build examples/two-outputs.scm" yonder build "$E/two-outputs.scm"
	is "... leaflet read both outputs of greeting" "$(cat "$(tail -n 1 "$T/.out")")" \
		"Hello! Say it with a smile."
	ok "yonder build examples/fixed-output.scm (the hashes match)" yonder build "$E/fixed-output.scm"
	if [ -x /usr/bin/gcc ]; then
		ok "yonder build examples/hello-c/hello-c.scm" yonder build "$E/hello-c/hello-c.scm"
		is "... the program, compiled and linked in four derivations, ran" \
			"$(cat "$(tail -n 1 "$T/.out")")" "Hello, recipe reader! (2 words)"
	fi
else
	echo "# yonder build is not there: the examples are not built"
fi

# ---- Bad recipes ----
export YONDER_STORE_DIR="$T/bad" YONDER_STATE_DIR="$T/bad-state"
mkdir "$YONDER_STORE_DIR"
n=0
while IFS='	' read -r f msg; do
	case "$f" in '#'* | '') continue ;; esac
	(cd "$TOP/tests/data/bad-recipe" && yonder derivation "$f") >"$T/out" 2>"$T/err"
	st=$?
	if [ $st = 1 ] && [ "$(cat "$T/err")" = "yonder derivation: $msg" ] && [ ! -s "$T/out" ]; then
		n=$((n + 1))
	else
		is "bad recipe $f (exit $st)" "$(cat "$T/err")" "yonder derivation: $msg"
	fi
done <"$TOP/tests/data/bad-recipe/EXPECT"
is "$n bad recipes refused with their FILE:LINE:COL message" $((n >= 15)) 1
is "... nothing was added to the store" "$(ls -A "$YONDER_STORE_DIR")" ""
fails "a recipe that does not exist" yonder derivation "$T/nonexistent.scm"
like "... names it" "$(err)" "nonexistent.scm"
fails "no recipe given" yonder derivation

if [ "$YONDER_T0301_NS" = none ]; then
	echo "# skipping the /nix/store part: needs root, unshare and a /nix directory"
	done_testing
fi

# ---- Nix's bytes, in /nix/store ----
export YONDER_STORE_DIR=/nix/store YONDER_STATE_DIR="$T/nixstate"
mkdir -p /nix/store
is "the store is a private tmpfs" "$(ls -A /nix/store)" ""
ok "yonder derivation nix-vectors.scm in /nix/store" yonder derivation "$R"
is "... Nix's .drv paths" "$(cat "$T/.out")" "$(want /nix/store drv_path)"
n=0
for a in $ATTRS; do
	p=$(awk -F'\t' -v a="$a" '$1 == a && $2 == "/nix/store" && $3 == "drv_path" { print $4 }' "$V/drvs.tsv")
	if cmp -s "$p" "$V/nix/$a.drv"; then n=$((n + 1)); else is "$a: Nix's bytes" differ same; fi
	is "$a: registered, with its inputs as references" \
		"$(yonder store query --references "$p" | tr '\n' ' ')" \
		"$(tr -d '\n' <"$V/show/$a.json" | sed 's/"env".*//' | grep -o '"/nix/store/[^"]*"' |
			grep -v "$p" | tr -d '"' | grep -E '\.drv$|builder\.sh$|data\.txt$' | LC_ALL=C sort -u | tr '\n' ' ')"
done
is "all sixteen .drv files byte-identical to Nix's" $n 16
is "the two plain-files of tofile are Nix's toFile paths" \
	"$(ls /nix/store | grep -v '\.drv$' | tr '\n' ' ')" \
	"3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt "

done_testing
