#!/bin/sh
# yonder archive --export / --import / --missing and yonder store verify
# --sigs, in one store: export a closure (compressed or not), delete it,
# import it back, and compare everything the database says about it.
. "$(dirname "$0")/lib.sh"
export T

snapshot() { # everything an import may change
	ls -A "$YONDER_STORE_DIR"
	for p in "$@"; do
		for q in --hash --size --references --sigs --built-by --deriver; do
			yonder store query $q "$p" 2>&1
		done
	done
}

# Items with references: a tree, a text referring to it, a text referring
# to both; and one unrelated file.
mkdir -p "$T/src/tree/sub"
echo hello > "$T/src/tree/sub/hello"
printf '#!/bin/sh\necho hi\n' > "$T/src/tree/run" && chmod +x "$T/src/tree/run"
ln -s sub/hello "$T/src/tree/link"
echo other > "$T/src/other"
tree=$(yonder store add "$T/src/tree")
other=$(yonder store add "$T/src/other")
t1=$(echo "uses $tree" | yonder store add-text --ref "$tree" t1)
t2=$(echo "uses $tree $t1" | yonder store add-text --ref "$tree" --ref "$t1" t2)
ok "four items made" test -n "$tree" -a -n "$other" -a -n "$t1" -a -n "$t2"

# No key yet: export says which file it needs.
fails "export without a signing key fails" yonder archive --export "$t2"
like "... naming the key file" "$(cat "$T/.err")" "signing-key.sec.*--generate-key"
ok "generate a key" yonder archive --generate-key --name machine-a
ok "authorize it" sh -c 'yonder archive --authorize < "$YONDER_CONFIG_DIR/signing-key.pub"'

# Usage errors.
fails "--export needs a PATH" yonder archive --export
fails "--compression=gzip is refused" yonder archive --export --compression=gzip "$t2"
like "... as a usage error" "$(cat "$T/.err")" "not zstd\[:LEVEL\] or none"
fails "--compression=zstd:20 is refused" yonder archive --export --compression=zstd:20 "$t2"
fails "--trusted without --format=nix is refused" sh -c 'yonder archive --import --trusted < /dev/null'
like "... saying why" "$(cat "$T/.err")" "always checked against the ACL"
fails "--import --format=nix without --trusted is refused" sh -c 'yonder archive --import --format=nix < /dev/null'
like "... saying so" "$(cat "$T/.err")" "carries no signatures: importing it needs --trusted"
fails "-r goes with --export only" sh -c 'yonder archive --import -r < /dev/null'
fails "an unknown path is refused" yonder archive --export "$YONDER_STORE_DIR/00000000000000000000000000000000-x"
like "... naming it" "$(cat "$T/.err")" "00000000000000000000000000000000-x"

# Export: zstd by default, plain on request, references first.
ok "export -r t2" sh -c 'yonder archive --export -r "$1" > "$T/z.yar"' sh "$t2"
is "the default stream is zstd" "$(head -c 4 "$T/z.yar" | od -An -tx1 | tr -d ' ')" "28b52ffd"
ok "export -r t2 --compression=none" sh -c 'yonder archive --export -r --compression=none "$1" > "$T/p.yar"' sh "$t2"
is "a plain stream starts with its header" "$(head -c 22 "$T/p.yar" | tail -c 14)" "yonder-archive"
ok "export --compression=zstd:19" sh -c 'yonder archive --export -r --compression=zstd:19 "$1" > "$T/z19.yar"' sh "$t2"
is "zstd:19 decompresses to the plain stream" "$(zstd -dc < "$T/z19.yar" | cmp - "$T/p.yar" && echo same)" same
ok "export without -r, given in the wrong order" sh -c 'yonder archive --export --compression=none "$1" "$2" > "$T/two.yar"' sh "$t1" "$tree"
is "... writes references first" "$(grep -a -o -e '-tree' -e '-t1' "$T/two.yar" | head -2 | tr '\n' ' ')" "-tree -t1 "

# Round trip through an empty store.
before=$(snapshot "$tree" "$t1" "$t2")
ok "delete the closure" yonder store delete "$t2" "$t1" "$tree"
printf '%s\n%s\n%s\n%s\n' "$tree" "$other" "$t1" "$t2" > "$T/want"
ok "--missing" sh -c 'yonder archive --missing < "$T/want" > "$T/missing"'
is "... prints the paths not valid, in input order" "$(cat "$T/missing")" "$(printf '%s\n%s\n%s' "$tree" "$t1" "$t2")"
ok "import the zstd stream" sh -c 'yonder archive --import < "$T/z.yar" > "$T/imported"'
is "... prints the stream's paths" "$(cat "$T/imported")" "$(printf '%s\n%s\n%s' "$tree" "$t1" "$t2")"
after=$(snapshot "$tree" "$t1" "$t2")
like "the items came back signed by machine-a" "$(yonder store query --sigs "$t2")" "^machine-a:"
is "built by machine-a" "$(yonder store query --built-by "$t2")" machine-a
is "references as before" "$(yonder store query --references "$t2")" "$(printf '%s\n%s' "$tree" "$t1" | sort)"
ok "contents verify" yonder store verify --check-contents "$tree" "$t1" "$t2"
is "--missing prints nothing when all are valid" "$(yonder archive --missing < "$T/want")" ""
# Everything but the new signature and builder is as before.
strip() { grep -v -e '^machine-a:' -e '^machine-a$' -e '^$'; }
is "hash, size, references, deriver as before" "$(echo "$after" | strip)" "$(echo "$before" | strip)"

# Again: the items are valid, so nothing is written, and nothing changes.
ok "import the plain stream over valid items" sh -c 'yonder archive --import < "$T/p.yar" > "$T/imported"'
is "... prints the paths all the same" "$(wc -l < "$T/imported")" 3
is "... changes nothing" "$(snapshot "$tree" "$t1" "$t2")" "$after"

# A stream without a reference's item is refused when it is not valid.
ok "export t2 alone" sh -c 'yonder archive --export "$1" > "$T/t2.yar"' sh "$t2"
ok "delete the closure again" yonder store delete "$t2" "$t1" "$tree"
fails "importing t2 alone is refused" sh -c 'yonder archive --import < "$T/t2.yar"'
like "... naming the item and the reference" "$(cat "$T/.err")" "item '$t2': reference '($tree|$t1)' is neither valid here nor an earlier item"
ok "import the closure" sh -c 'yonder archive --import < "$T/z.yar"'
ok "now t2 alone imports (already valid)" sh -c 'yonder archive --import < "$T/t2.yar"'

# --missing refuses what is not a store path.
fails "--missing refuses a line that is not a store path" sh -c 'printf "/etc/passwd\n" | yonder archive --missing'
like "... naming the line" "$(cat "$T/.err")" "standard input:1: .*/etc/passwd"

# store verify --sigs.
ok "verify --sigs: trusted" yonder store verify --sigs "$t2"
like "... says by which key" "$(cat "$T/.out")" "^$t2: trusted \(a valid signature by key 'machine-a', which is in the ACL\)"
like "... and what each signature is" "$(cat "$T/.out")" "^  machine-a: valid, by a key in the ACL"
fails "verify --sigs: an unsigned item is not trusted" yonder store verify --sigs "$other"
like "... says so" "$(cat "$T/.out")" "^$other: NOT trusted.*
  \(no signature\)"
mkdir -p "$T/other-config"
YONDER_CONFIG_DIR="$T/other-config" yonder archive --generate-key --name machine-x >/dev/null
ok "sign with an unknown key" yonder store sign --key-file "$T/other-config/signing-key.sec" "$other"
fails "still not trusted" yonder store verify --sigs "$other"
like "... by an unknown key" "$(cat "$T/.out")" "  machine-x: by an unknown key"
ok "deauthorize machine-a" sh -c 'yonder archive --deauthorize < "$YONDER_CONFIG_DIR/signing-key.pub"'
fails "verify --sigs: no longer trusted" yonder store verify --sigs "$t2"
like "... but valid by this machine's key" "$(cat "$T/.out")" "  machine-a: valid, by this machine's key \(not in the ACL\)"
fails "import is refused now" sh -c 'yonder archive --import < "$T/z.yar"'
like "... the ACL holds no key" "$(cat "$T/.err")" "holds no key"

done_testing
