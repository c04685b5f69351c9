#!/bin/sh
# The key flow between two machines, A and B, each with its own store,
# state and config directories: both generate keys, authorize each other,
# A exports a closure with -r, B imports it; B's items carry A's signature
# and `yonder store query --built-by` names A.  Then back from B to A, and
# a deauthorized key is refused.
#
# Both stores must be at the same path (store paths name their store), so
# each command runs in a private mount namespace with its machine's store
# bind-mounted on $T/store, as the test cluster does (see DESIGN.md).
# Needs root and unshare(1); skipped otherwise.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1 ||
	! unshare -m --propagation private true 2>/dev/null; then
	echo "1..0 # SKIP needs root and unshare(1) for one store path per machine"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
export T
for m in a b; do mkdir -p "$T/$m/store" "$T/$m/state" "$T/$m/config"; done

# on MACHINE CMD...: runs CMD as MACHINE.
on() {
	_m=$1
	shift
	YONDER_STATE_DIR="$T/$_m/state" YONDER_CONFIG_DIR="$T/$_m/config" \
		unshare -m --propagation private \
		sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' on "$T/$_m/store" "$YONDER_STORE_DIR" "$@"
}

ok "A: generate a key" on a yonder archive --generate-key --name machine-a
ok "B: generate a key" on b yonder archive --generate-key --name machine-b
ok "A authorizes B's key" eval 'on a yonder archive --authorize < "$T/b/config/signing-key.pub"'
ok "B authorizes A's key" eval 'on b yonder archive --authorize < "$T/a/config/signing-key.pub"'

# A makes a closure: a tree, a text referring to it, one referring to both.
mkdir -p "$T/src/tree"
echo hello > "$T/src/tree/hello"
head -c 100000 /dev/urandom > "$T/src/tree/blob"
tree=$(on a yonder store add "$T/src/tree")
t1=$(echo "uses $tree" | on a yonder store add-text --ref "$tree" t1)
t2=$(echo "uses $tree and $t1" | on a yonder store add-text --ref "$tree" --ref "$t1" t2)
ok "A has three items" test -n "$tree" -a -n "$t1" -a -n "$t2"
closure=$(on a yonder store query --requisites "$t2")
is "A's closure of t2, references first" "$closure" "$(printf '%s\n%s\n%s' "$tree" "$t1" "$t2")"
is "B lacks all three (--missing)" "$(echo "$closure" | on b yonder archive --missing)" "$closure"
ok "B's store directory is empty" test -z "$(ls -A "$T/b/store")"

# A → B.
ok "A exports t2 -r" eval 'on a yonder archive --export -r "$t2" > "$T/a-to-b.yar"'
ok "B imports it" eval 'on b yonder archive --import < "$T/a-to-b.yar" > "$T/imported"'
is "B prints the three paths" "$(cat "$T/imported")" "$closure"
is "B lacks nothing now" "$(echo "$closure" | on b yonder archive --missing)" ""
for p in $closure; do
	n=$(basename "$p")
	like "B: $n carries A's signature" "$(on b yonder store query --sigs "$p")" "^machine-a:[A-Za-z0-9+/]{86}==$"
	is "B: $n was built by machine-a" "$(on b yonder store query --built-by "$p")" machine-a
	is "B: $n has A's NAR hash" "$(on b yonder store query --hash "$p")" "$(on a yonder store query --hash "$p")"
	is "B: $n has A's references" "$(on b yonder store query --references "$p")" "$(on a yonder store query --references "$p")"
done
ok "B: the contents verify" on b yonder store verify --check-contents $closure
ok "B: verify --sigs trusts them" on b yonder store verify --sigs $closure
like "... because of machine-a's key" "$(cat "$T/.out")" "^$t2: trusted \(a valid signature by key 'machine-a', which is in the ACL\)"
is "A's store still holds A's items only" "$(ls "$T/a/store" | wc -l)" 3

# B → A: B makes an item referring to A's; A gets it, built by B, and
# A's own items, already valid there, are left as they are.
t3=$(echo "B uses $t2" | on b yonder store add-text --ref "$t2" t3)
ok "B exports t3 -r" eval 'on b yonder archive --export -r "$t3" > "$T/b-to-a.yar"'
before=$(on a yonder store query --sigs $closure)
ok "A imports it" eval 'on a yonder archive --import < "$T/b-to-a.yar"'
is "A: t3 was built by machine-b" "$(on a yonder store query --built-by "$t3")" machine-b
like "A: t3 carries B's signature" "$(on a yonder store query --sigs "$t3")" "^machine-b:"
is "A: its own items were not rewritten" "$(on a yonder store query --sigs $closure)" "$before"
is "A: t2's builder is still unrecorded (it was made there)" "$(on a yonder store query --built-by "$t2")" ""
sigs=$(on b yonder archive --export -r --compression=none "$t3" | grep -a -o 'machine-[ab]:[A-Za-z0-9+/]\{86\}==' | cut -d: -f1 | sort | uniq -c | tr -s ' ')
is "B's stream carries A's signature on A's 3 items and B's on all 4" "$sigs" " 3 machine-a
 4 machine-b"

# A deauthorizes B: B's next item is refused, A's store unchanged.
ok "A deauthorizes B" eval 'on a yonder archive --deauthorize < "$T/b/config/signing-key.pub"'
echo new > "$T/src/new"
new=$(on b yonder store add "$T/src/new")
ok "B exports a new item" eval 'on b yonder archive --export "$new" > "$T/b-new.yar"'
before=$(ls -A "$T/a/store")
fails "A refuses it" eval 'on a yonder archive --import < "$T/b-new.yar"'
like "... naming it: machine-b is no longer trusted" "$(cat "$T/.err")" "item '$new': .*by key 'machine-b': no key of that name in the ACL"
is "A's store directory is unchanged" "$(ls -A "$T/a/store")" "$before"

done_testing
