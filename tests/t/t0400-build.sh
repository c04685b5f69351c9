#!/bin/sh
# yonder build: local builds with Nix's environment, canonical outputs,
# references, derivers, several at once; and Nix 2.8's own derivations
# (tests/vectors/drv) built at /nix/store give Nix's output paths and NAR
# hashes.
#
# The /nix/store part runs in a private mount namespace with a tmpfs on
# /nix (the host's /nix is never touched), so it needs root and unshare;
# without them it is skipped and the rest runs.
if [ -z "${YONDER_T0400_NS:-}" ] && [ "$(id -u)" = 0 ] && [ -d /nix ] &&
	command -v unshare >/dev/null 2>&1 && unshare -m --propagation private true 2>/dev/null; then
	YONDER_T0400_NS=1 exec unshare -m --propagation private \
		sh -c 'mount -t tmpfs -o mode=0755 yonder-t0400 /nix && exec "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
sys=$(uname -m)-linux

# recipe FILE NAME OUTPUTS SCRIPT — a one-derivation recipe in FILE.
recipe() {
	cat > "$1" <<EOF
(derivation (name "$2") (system "$sys") (builder "/bin/sh") (outputs $3)
  (args "-c" "$4"))
EOF
}

# ---- one build, its environment and its process ----------------------
recipe "$T/env.scm" env '"out"' \
	'read x || echo stdin-empty; printf \"%s\\n\" \"out=$out\" \"top=$NIX_BUILD_TOP\" \"tmp=$TMPDIR $TEMPDIR $TMP $TEMP\" \"home=$HOME\" \"path=$PATH\" \"store=$NIX_STORE\" \"cores=$NIX_BUILD_CORES\" \"pwd=$(pwd)\" \"name=$name\" \"system=$system\" > $out; read a b c d e rest < /proc/$$/stat; echo \"pid=$a pgrp=$e\" >> $out; echo built-env'
ok "build a recipe" yonder build --cores 3 "$T/env.scm"
out=$(cat "$T/.out")
like "prints the output path" "$out" "^$S/[0-9a-z]{32}-env\$"
like "the builder's output is shown" "$(cat "$T/.err")" "built-env"
like "and what is being built" "$(cat "$T/.err")" "building '$S/[0-9a-z]{32}-env.drv'"
is "\$out is the output path" "$(sed -n 's/^out=//p' "$out")" "$out"
top=$(sed -n 's/^top=//p' "$out")
like "NIX_BUILD_TOP is a build directory under the state directory" "$top" "^$YONDER_STATE_DIR/builds/env-"
is "TMPDIR, TEMPDIR, TMP, TEMP are the build directory" "$(sed -n 's/^tmp=//p' "$out")" "$top $top $top $top"
is "it is the working directory" "$(sed -n 's/^pwd=//p' "$out")" "$top"
is "HOME" "$(sed -n 's/^home=//p' "$out")" /homeless-shelter
is "PATH" "$(sed -n 's/^path=//p' "$out")" /path-not-set
is "NIX_STORE" "$(sed -n 's/^store=//p' "$out")" "$S"
is "NIX_BUILD_CORES from --cores" "$(sed -n 's/^cores=//p' "$out")" 3
is "the derivation's own environment" "$(sed -n 's/^name=//p;s/^system=//p' "$out" | tr '\n' ' ')" "env $sys "
like "standard input is /dev/null (empty)" "$(cat "$T/.err")" "^stdin-empty$"
pg=$(sed -n 's/^pid=//p' "$out")
is "the builder leads its own process group" "${pg% *}" "${pg#*pgrp=}"
ok "the build directory is gone after a success" test ! -e "$top"
is "builds/ is private" "$(stat -c %a "$YONDER_STATE_DIR/builds")" 700
is "the output is registered with its deriver" "$(yonder store query --deriver "$out")" \
	"$(yonder derivation "$T/env.scm")"
is "canonical: mode 0444" "$(stat -c %a "$out")" 444
is "canonical: mtime 1" "$(stat -c %Y "$out")" 1
ok "the NAR hash in the database is right" yonder store verify --check-contents "$out"

ok "building again" yonder build "$T/env.scm"
is "gives the same path" "$(cat "$T/.out")" "$out"
is "and runs nothing" "$(cat "$T/.err")" ""

# ---- canonical form of a tree ----------------------------------------
recipe "$T/tree.scm" tree '"out"' \
	'/bin/mkdir -p $out/sub/deeper && echo x > $out/plain && echo y > $out/sub/tool && /bin/chmod 4777 $out/sub/tool && /bin/chmod 0600 $out/plain && /bin/chmod 1777 $out/sub && /bin/chmod 0700 $out/sub/deeper && /bin/ln -s plain $out/link'
ok "build a tree with odd modes" yonder build "$T/tree.scm"
tree=$(cat "$T/.out")
is "directories 0555, files 0444/0555, no setuid or sticky" \
	"$(cd "$tree" && stat -c '%n %a' . plain sub sub/tool sub/deeper | tr '\n' ' ')" \
	". 555 plain 444 sub 555 sub/tool 555 sub/deeper 555 "
is "every mtime is 1, symlinks too" "$(find "$tree" -newermt @1 | wc -l)" 0
is "the symlink is kept" "$(readlink "$tree/link")" plain

# ---- several outputs, references -------------------------------------
cat > "$T/refs.scm" <<EOF
(define dep (derivation (name "dep") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo dep > \$out")))
(define other (derivation (name "other") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo other > \$out")))
(define two (derivation (name "two") (system "$sys") (builder "/bin/sh")
  (outputs "out" "dev")
  (args "-c" (string-append "echo \$dev > \$out; echo \$dev " dep " > \$dev; echo \$out >> \$dev; "
                            "echo $S/00000000000000000000000000000000-not-an-input >> \$out; echo unused=\$unused"))
  (env ("unused" other))))
two
EOF
ok "build two outputs and an input" yonder build "$T/refs.scm"
set -- $(cat "$T/.out")
is "both outputs printed, in output order" "$#" 2
dev=$1 two=$2
like "dev first" "$dev" "-two-dev\$"
dep=$(sed -n 's/^[^ ]* \([^ ]*\)$/\1/p' "$dev")
is "out refers to dev only (not to a path outside its inputs)" \
	"$(yonder store query --references "$two")" "$dev"
is "dev refers to itself, out and its input" \
	"$(yonder store query --references "$dev" | tr '\n' ' ')" \
	"$(printf '%s\n' "$dev" "$two" "$dep" | sort | tr '\n' ' ')"
otherp=$(sed -n 's/^unused=//p' "$T/.err")
like "an input's output path is in the builder's environment" "$otherp" "^$S/[0-9a-z]{32}-other\$"
ok "that input was built first" yonder store query --valid "$otherp"
is "an input the output does not mention is not a reference" \
	"$(yonder store query --references "$two" "$dev" | grep -c -- '-other$')" 0

# ---- dependency order and several builds at once ---------------------
cat > "$T/chain.scm" <<EOF
(define (link n prev)
  (derivation (name (string-append "link-" (number->string n))) (system "$sys")
    (builder "/bin/sh")
    (args "-c" (string-append "read v < " prev "; echo \$((v + 1)) > \$out; echo " prev " >> \$out"))))
(define base (derivation (name "link-0") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo 0 > \$out")))
(define l1 (link 1 base))
(define l2 (link 2 l1))
(define l3 (link 3 l2))
(link 4 l3)
EOF
ok "a chain of 5 builds, -j 3" yonder build -j 3 "$T/chain.scm"
top=$(cat "$T/.out")
is "each ran after the one it reads" "$(head -1 "$top")" 4
is "five builds ran" "$(grep -c '^building' "$T/.err")" 5
# Each link names the one before: a reference, though that one was
# registered together with it (a link starts before the previous one is
# registered).
is "a link refers to the one before" "$(yonder store query --references "$top")" "$(sed -n 2p "$top")"
is "the closure is the whole chain" "$(yonder store query --requisites "$top" | wc -l)" 5

# Two builds that can only finish together: each waits for the other to
# have started (the builder polls; --timeout bounds it).
mkdir "$T/meet"
cat > "$T/pair.scm" <<EOF
(define (half me other)
  (derivation (name me) (system "$sys") (builder "/bin/sh")
    (args "-c" (string-append ": > $T/meet/" me "; n=0; while [ ! -e $T/meet/" other " ]; do /bin/sleep 0.05; done; echo " me " > \$out"))))
(list (half "left" "right") (half "right" "left"))
EOF
ok "-j 2 runs two builds at once" yonder build -j 2 --timeout 60 "$T/pair.scm"
is "both built" "$(wc -l < "$T/.out")" 2

# ---- arguments -------------------------------------------------------
fails "no argument" yonder build
fails "--max-jobs 0 is refused" yonder build -j 0 "$T/env.scm"
like "with a message" "$(cat "$T/.err")" "at least 1"
fails "a path that is not a derivation" yonder build "$out"

# ---- Nix's derivations at /nix/store ---------------------------------
if [ -z "${YONDER_T0400_NS:-}" ]; then
	echo "# skipped the /nix/store part: needs root, unshare and a /nix directory"
	done_testing
fi
V=$TOP/tests/vectors/drv
export YONDER_STORE_DIR=/nix/store YONDER_STATE_DIR="$T/nixstate"
mkdir -p /nix/store
is "/nix/store is a private tmpfs" "$(ls -A /nix/store)" ""
# tofile's two sources, as builtins.toFile made them.
b=$(printf 'echo from-file > $out\n' | yonder store add-text builder.sh)
is "builder.sh: Nix's path" "$b" /nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh
d=$(printf 'see %s\n' "$b" | yonder store add-text --ref "$b" data.txt)
is "data.txt: Nix's path" "$d" /nix/store/bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt

# field ATTR FIELD — a value of drvs.tsv for /nix/store.
field() { awk -F'\t' -v a="$1" -v f="$2" '$1 == a && $2 == "/nix/store" && $3 == f { print $4 }' "$V/drvs.tsv"; }
attrs=$(awk -F'\t' '$2 == "/nix/store" && $3 == "file" { print $1 }' "$V/drvs.tsv")
files=""
for a in $attrs; do files="$files $V/$(field "$a" file)"; done
ok "build all $(echo $attrs | wc -w) of Nix's derivations at once (-j 2; inputs given in any order)" \
	yonder build -j 2 $files
n=0
for a in $attrs; do
	outs=$(awk -F'\t' -v a="$a" '$1 == a && $2 == "/nix/store" && $3 ~ /^out:/ { sub(/^out:/, "", $3); print $3 }' "$V/drvs.tsv")
	for o in $outs; do
		p=$(field "$a" "out:$o")
		ok "$a.$o: built at Nix's output path" yonder store query --valid "$p"
		is "$a.$o: Nix's NAR hash" "$(yonder store query --hash "$p")" "sha256:$(field "$a" "nar_sha256:$o")"
		is "$a.$o: Nix's NAR size" "$(yonder store query --size "$p")" "$(field "$a" "nar_size:$o")"
		is "$a.$o: its deriver" "$(yonder store query --deriver "$p" | grep -c '\.drv$')" 1
		n=$((n + 1))
	done
done
is "every output of the vectors compared" "$n" 17
is "dependent2's references: what its output names" \
	"$(yonder store query --references "$(field dependent2 out:out)" | tr '\n' ' ')" \
	"$(printf '%s\n' "$(field dependent out:out)" "$(field two-outputs out:out)" \
		"$(field two-outputs out:dev)" "$(field fixed-recursive-sri out:out)" | sort | tr '\n' ' ')"

done_testing
