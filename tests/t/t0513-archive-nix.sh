#!/bin/sh
# `yonder archive --format=nix` speaks `nix-store --export` of Nix 2.8, in
# both directions: a closure made by Nix (a tree, text files with
# references, a built output with its deriver) goes from `nix-store
# --export` into yonder, and one made by yonder (referring to Nix's items)
# goes from yonder into `nix-store --import`; hashes, sizes, references
# and derivers agree, and both tools write the same bytes for the same
# items.
#
# Nix runs in its own store through nixrun.sh (a private mount namespace
# with $T/nix on /nix).  yonder's store is /nix/store too, so that the paths
# are the same: this test runs in a private mount namespace with a tmpfs on
# /nix, so the host's /nix is never touched.  Needs root, unshare(1), an
# existing /nix directory to mount over, nix-store and nixrun.sh ($NIXRUN,
# else ../shared/nix-reference/nixrun.sh beside the repository, else
# /work/shared/nix-reference/nixrun.sh); skipped otherwise.
if [ -z "${YONDER_T0513_NS:-}" ]; then
	TOP0=$(cd "$(dirname "$0")/../.." && pwd)
	for c in "${NIXRUN:-}" "$TOP0/../shared/nix-reference/nixrun.sh" /work/shared/nix-reference/nixrun.sh; do
		[ -n "$c" ] && [ -x "$c" ] && { NIXRUN=$c; break; }
	done
	if [ "$(id -u)" = 0 ] && [ -d /nix ] && command -v unshare >/dev/null 2>&1 &&
		command -v nix-store >/dev/null 2>&1 && [ -x "${NIXRUN:-}" ] &&
		unshare -m --propagation private true 2>/dev/null; then
		export NIXRUN
		YONDER_T0513_NS=1 exec unshare -m --propagation private \
			sh -c 'mount -t tmpfs -o mode=0755 yonder-t0513 /nix && exec "$0"' "$0"
	fi
	echo "1..0 # SKIP needs root, unshare, a /nix directory, nix-store and nixrun.sh"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
export T
export YONDER_STORE_DIR=/nix/store ORACLE_NIX_ROOT="$T/nix"
mkdir -p /nix/store
is "yonder's /nix/store is a private tmpfs" "$(ls -A /nix/store)" ""

nix() { "$NIXRUN" "$@" 2>>"$T/nix.err"; }

# What both sides must agree on, per path.
facts_y() { for p in "$@"; do echo "$p $(yonder store query --hash "$p") $(yonder store query --size "$p") $(yonder store query --deriver "$p")"; yonder store query --references "$p"; done; }
facts_n() { for p in "$@"; do echo "$p $(nix nix-store -q --hash "$p") $(nix nix-store -q --size "$p") $(nix nix-store -q --deriver "$p")"; nix nix-store -q --references "$p" | sort; done; }

# ---- Nix → yonder ----------------------------------------------------------
mkdir -p "$T/src/ntree/sub"
echo "made by nix" > "$T/src/ntree/sub/file"
printf '#!/bin/sh\n' > "$T/src/ntree/exe" && chmod +x "$T/src/ntree/exe"
ln -s sub/file "$T/src/ntree/link"
ntree=$(nix nix-store --add "$T/src/ntree")
cat > "$T/n.nix" <<EOF
rec {
  t1 = builtins.toFile "n1.txt" "uses \${builtins.storePath "$ntree"}";
  t2 = builtins.toFile "n2.txt" "uses \${t1} and \${builtins.storePath "$ntree"}";
  out = derivation { name = "built"; system = builtins.currentSystem; builder = "/bin/sh";
                     args = [ "-c" "echo \${t2} > \$out" ]; };
}
EOF
n1=$(nix nix-instantiate --eval --read-write-mode -A t1 "$T/n.nix" | tr -d '"')
n2=$(nix nix-instantiate --eval --read-write-mode -A t2 "$T/n.nix" | tr -d '"')
nout=$(nix nix-build --no-out-link -A out "$T/n.nix")
ok "Nix made a tree, two texts and a built output" test -n "$ntree" -a -n "$n1" -a -n "$n2" -a -n "$nout"
nclosure=$(nix nix-store -qR "$nout")
is "the built output's closure is the four" "$(echo "$nclosure" | wc -l)" 4
ok "nix-store --export the closure" sh -c '"$NIXRUN" nix-store --export $1 > "$T/n.export" 2>/dev/null' sh "$nclosure"
fails "yonder refuses it without --trusted" sh -c 'yonder archive --import --format=nix < "$T/n.export"'
like "... saying why" "$(cat "$T/.err")" "carries no signatures: importing it needs --trusted"
fails "... and as a yonder archive" sh -c 'yonder archive --import < "$T/n.export"'
ok "yonder imports it with --trusted" sh -c 'yonder archive --import --format=nix --trusted < "$T/n.export" > "$T/imported"'
is "... printing the four paths" "$(sort "$T/imported")" "$(echo "$nclosure" | sort)"
is "hash, size, deriver and references agree with Nix's" "$(facts_y $nclosure)" "$(facts_n $nclosure)"
like "... (the facts are there)" "$(facts_n $nclosure)" "$n2 sha256:[0-9a-z]{52} [0-9]+ unknown-deriver"
like "the built output's deriver is its .drv" "$(yonder store query --deriver "$nout")" '\.drv$'
ok "the contents verify in yonder" yonder store verify --check-contents $nclosure
ok "yonder exports them back in Nix's format" sh -c 'yonder archive --export --format=nix $1 > "$T/y.export"' sh "$nclosure"
ok "... byte for byte what nix-store --export wrote" cmp "$T/y.export" "$T/n.export"

# ---- yonder → Nix ----------------------------------------------------------
mkdir -p "$T/src/ytree"
echo "made by yonder" > "$T/src/ytree/file"
head -c 70000 /dev/urandom > "$T/src/ytree/blob"
ytree=$(yonder store add "$T/src/ytree")
y1=$(echo "uses $ytree and $n2" | yonder store add-text --ref "$ytree" --ref "$n2" y1.txt)
ok "yonder made a tree and a text referring to it and to Nix's" test -n "$ytree" -a -n "$y1"
yclosure=$(yonder store query --requisites "$y1")
ok "yonder exports the closure in Nix's format, zstd" sh -c 'yonder archive --export -r --format=nix --compression=zstd "$1" > "$T/y1.export.zst"' sh "$y1"
ok "... and plain" sh -c 'yonder archive --export -r --format=nix "$1" > "$T/y1.export"' sh "$y1"
is "... the same stream" "$(zstd -dc < "$T/y1.export.zst" | cmp - "$T/y1.export" && echo same)" same
ok "nix-store --import takes it" sh -c '"$NIXRUN" nix-store --import < "$T/y1.export" > "$T/nimported" 2>>"$T/nix.err"'
is "... printing the paths" "$(sort "$T/nimported")" "$(echo "$yclosure" | sort)"
is "Nix agrees on hash, size, deriver and references" "$(facts_n $yclosure)" "$(facts_y $yclosure)"
like "... (the facts are there)" "$(facts_n $yclosure)" "$y1 sha256:[0-9a-z]{52} [0-9]+ unknown-deriver"
ok "nix-store --verify-path accepts them" sh -c '"$NIXRUN" nix-store --verify-path $1 2>>"$T/nix.err"' sh "$yclosure"
ok "nix-store --export of them" sh -c '"$NIXRUN" nix-store --export $1 > "$T/n1.export" 2>/dev/null' sh "$yclosure"
ok "... is byte for byte yonder's" cmp "$T/n1.export" "$T/y1.export"
ok "a zstd-compressed Nix export is detected on import" sh -c 'yonder archive --import --format=nix --trusted < "$T/y1.export.zst"'

done_testing
