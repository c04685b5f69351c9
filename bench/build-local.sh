#!/bin/sh
# bench/build-local.sh — local builds: 1,000 independent trivial
# derivations, and a chain of 300 where each reads the one before, built by
# `yonder build` and by Nix 2.8's `nix-build` (no sandbox, no daemon:
# nixrun.sh), both with --max-jobs 2 and the same builders (/bin/sh -c
# "echo …"), a fresh store each run, best of 3.
#
# Two figures for each: from the source (recipe or Nix expression: the
# evaluation, the .drv files and the builds), and the builds alone (the
# .drv files written beforehand: `yonder build DRV…` against
# `nix-store --realise DRV…`).  Both stores are durable the way each
# makes them: yonder syncs outputs and the database before it calls a
# path valid; Nix 2.8 does not sync outputs.
. "$(dirname "$0")/lib.sh"
need_nix
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

N=1000
DEPTH=300
W=$(mktemp -d /tmp/yonder-bench.XXXXXX)
trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
export YONDER_CONFIG_DIR="$W/config"
sys=x86_64-linux

# ---- the same derivations, as recipes and as Nix expressions ----------
{
	echo "(define (mk i) (derivation (name (string-append \"t-\" (number->string i)))"
	echo "  (system \"$sys\") (builder \"/bin/sh\")"
	echo "  (args \"-c\" (string-append \"echo \" (number->string i) \" > \$out\"))))"
	printf "(map mk '("
	seq -s ' ' 1 $N
	echo "))"
} > "$W/many.scm"
cat > "$W/many.nix" <<EOF
let mk = i: builtins.derivation {
  name = "t-\${toString i}"; system = "$sys"; builder = "/bin/sh";
  args = [ "-c" "echo \${toString i} > \$out" ];
}; in map mk (builtins.genList (i: i + 1) $N)
EOF
{
	echo "(define c0 (derivation (name \"c-0\") (system \"$sys\") (builder \"/bin/sh\")"
	echo "  (args \"-c\" \"echo 0 > \$out\")))"
	i=1
	while [ $i -le $DEPTH ]; do
		echo "(define c$i (derivation (name \"c-$i\") (system \"$sys\") (builder \"/bin/sh\")"
		echo "  (args \"-c\" (string-append \"read v < \" c$((i - 1)) \"; echo \$((v + 1)) > \$out\"))))"
		i=$((i + 1))
	done
	echo "c$DEPTH"
} > "$W/chain.scm"
cat > "$W/chain.nix" <<EOF
let
  c = n: builtins.derivation ({ name = "c-\${toString n}"; system = "$sys"; builder = "/bin/sh"; }
    // (if n == 0 then { args = [ "-c" "echo 0 > \$out" ]; }
        else { args = [ "-c" "read v < \${c (n - 1)}; echo \$((v + 1)) > \$out" ]; }));
in c $DEPTH
EOF

yfresh() { rm -rf "$W/ys" "$W/ystate"; }
nfresh() { rm -rf "$W/nix"; }
ybuild() { YONDER_STORE_DIR="$W/ys" YONDER_STATE_DIR="$W/ystate" "$YONDER" build -Q -j 2 "$@"; }
nixr() { ORACLE_NIX_ROOT="$W/nix" "$NIXRUN" "$@"; }

# From the source.
y_src() { yfresh; ybuild "$1"; }
n_src() { nfresh; nixr nix-build --no-out-link -Q --max-jobs 2 "$1"; }

# The builds alone: best of 3 of the build step, after an untimed
# instantiation into a fresh store.
build_only() { # y|n file
	_best=""
	for _i in 1 2 3; do
		if [ "$1" = y ]; then
			yfresh
			YONDER_STORE_DIR="$W/ys" YONDER_STATE_DIR="$W/ystate" "$YONDER" derivation "$2" > "$W/drvs"
			_t0=$(now)
			ybuild $(cat "$W/drvs") >/dev/null 2>&1 || { echo "bench: yonder build failed" >&2; return 1; }
		else
			nfresh
			nixr nix-instantiate "$2" > "$W/drvs" 2>/dev/null
			_t0=$(now)
			nixr nix-store --realise -Q --max-jobs 2 $(cat "$W/drvs") >/dev/null 2>&1 ||
				{ echo "bench: nix-store --realise failed" >&2; return 1; }
		fi
		_t=$(echo "$(now) - $_t0" | bc -l)
		if [ -z "$_best" ] || [ "$(echo "$_t < $_best" | bc -l)" = 1 ]; then _best=$_t; fi
	done
	printf '%.3f\n' "$_best"
}

per() { printf '%.1f' "$(echo "$1 * 1000 / $2" | bc -l)"; } # seconds count → ms each

# Check once that both build what they should (and warm the caches).
y_src "$W/chain.scm" > "$W/y.out" 2>&1 || { cat "$W/y.out"; exit 1; }
[ "$(cat "$(tail -1 "$W/y.out")")" = $DEPTH ] || { echo "bench: yonder's chain is wrong" >&2; exit 1; }
n_src "$W/chain.nix" > "$W/n.out" 2>/dev/null
[ "$(nixr cat "$(tail -1 "$W/n.out")")" = $DEPTH ] || { echo "bench: Nix's chain is wrong" >&2; exit 1; }

y=$(best_of 3 y_src "$W/many.scm")
n=$(best_of 3 n_src "$W/many.nix")
row "$N independent builds, from the source (per build: $(per "$y" $N) ms vs $(per "$n" $N) ms)" "$y" "$n" "nix-build" 0.5 le
y=$(build_only y "$W/many.scm")
n=$(build_only n "$W/many.nix")
row "$N independent builds, builds alone (per build: $(per "$y" $N) ms vs $(per "$n" $N) ms)" "$y" "$n" "nix-store --realise" 0.5 le
y=$(best_of 3 y_src "$W/chain.scm")
n=$(best_of 3 n_src "$W/chain.nix")
row "chain of $DEPTH, from the source (per build: $(per "$y" $((DEPTH + 1))) ms vs $(per "$n" $((DEPTH + 1))) ms)" "$y" "$n" "nix-build" 0.5 le
y=$(build_only y "$W/chain.scm")
n=$(build_only n "$W/chain.nix")
row "chain of $DEPTH, builds alone (per build: $(per "$y" $((DEPTH + 1))) ms vs $(per "$n" $((DEPTH + 1))) ms)" "$y" "$n" "nix-store --realise" 0.5 le

emit_table build-local "Local builds (bench/build-local.sh, --max-jobs 2, best of 3)"
