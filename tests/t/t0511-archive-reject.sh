#!/bin/sh
# yonder archive --import refuses every bad stream, naming the item and the
# reason, and leaves the store exactly as it was (the same valid paths,
# signatures and builders, no file left in the store directory):
#   - the archives of tests/data/bad-archive (made by its make.pl for this
#     test's store, with the messages of its EXPECT): unsigned items,
#     unknown keys, the right name with the wrong key, malformed and
#     truncated signatures, A's signature on B, references added, removed,
#     missing or coming later, NARs flipped, longer or shorter than
#     declared, bad structure;
#   - every truncation of a good stream, at every item boundary and inside
#     the NARs;
#   - corrupt and truncated zstd frames;
#   - an ACL that is malformed, missing or writable by others, and a secret
#     key that is malformed, missing or readable by others.
# Also checks that the committed archives are what make.pl makes.
. "$(dirname "$0")/lib.sh"
export T
V=$TOP/tests/vectors
BA=$TOP/tests/data/bad-archive

if ! command -v openssl >/dev/null 2>&1; then
	echo "1..0 # SKIP make.pl signs with openssl(1), which is missing"
	exit 0
fi

# What an import may change: the store directory's entries and lock files,
# and what the database says about each entry (valid or not, hash,
# references, signatures, builder).
files() {
	ls -A "$YONDER_STORE_DIR"
	ls -A "$YONDER_STATE_DIR/locks" 2>/dev/null
}
snapshot() {
	files
	for e in $(ls "$YONDER_STORE_DIR"); do
		for q in --valid --hash --references --sigs --built-by; do
			yonder store query $q "$YONDER_STORE_DIR/$e" 2>&1
		done
	done
}

# The committed archives are current.
mkdir "$T/static" "$T/bad"
ok "make.pl runs for /yonder/store" perl "$BA/make.pl" "$T/static" /yonder/store "$V/sig-key.sec"
n=0 stale=""
for f in "$T"/static/*.yar; do
	n=$((n + 1))
	cmp -s "$f" "$BA/$(basename "$f")" || stale="$stale $(basename "$f")"
done
is "the $n committed archives are what make.pl makes" "$stale" ""

# A store with something in it, trusting the test key.
echo kept > "$T/kept"
kept=$(yonder store add "$T/kept")
ok "authorize the test key" sh -c 'yonder archive --authorize < "$1"' sh "$V/sig-key.pub"
ok "make.pl runs for this store" perl "$BA/make.pl" "$T/bad" "$YONDER_STORE_DIR" "$V/sig-key.sec"
s0=$(snapshot)
like "the snapshot sees the kept item" "$s0" "$(basename "$kept")"

# Each bad archive: refused, with its reason, store unchanged.
grep -v '^#' "$BA/EXPECT" > "$T/expect"
while IFS='	' read -r f re; do
	fails "$f is refused" sh -c 'yonder archive --import < "$1"' sh "$T/bad/$f"
	like "$f: the message names the item and the reason" "$(cat "$T/.err")" "^yonder archive: nothing imported: $re"
	is "$f: nothing printed" "$(cat "$T/.out")" ""
	is "$f: the store is unchanged" "$(snapshot)" "$s0"
done < "$T/expect"

# Truncations of good.yar (two items): at every 8 bytes (which is every
# field and item boundary: the format is 8-aligned) and at odd offsets
# inside the NARs.
size=$(wc -c < "$T/bad/good.yar")
bad=0 unchanged=0 cuts=0 nomsg=0
f0=$(files)
off=0
while [ $off -lt "$size" ]; do
	for cut in $off $((off + 3)); do
		[ $cut -lt "$size" ] || continue
		cuts=$((cuts + 1))
		head -c $cut "$T/bad/good.yar" > "$T/cut.yar"
		if yonder archive --import < "$T/cut.yar" > /dev/null 2> "$T/cut.err"; then
			bad=$((bad + 1))
		fi
		grep -Eq 'truncated|shorter than 8 bytes|ends inside' "$T/cut.err" || nomsg=$((nomsg + 1))
		[ "$(files)" = "$f0" ] && unchanged=$((unchanged + 1))
	done
	off=$((off + 8))
done
is "all $cuts truncations of a $size-byte stream are refused" $bad 0
is "... each saying it is truncated" $nomsg 0
is "... each leaving no file behind" $unchanged $cuts
is "... and the store is unchanged" "$(snapshot)" "$s0"
cut=$((size - 8))
head -c $cut "$T/bad/good.yar" > "$T/cut.yar"
fails "a stream cut before its end marker is refused" sh -c 'yonder archive --import < "$T/cut.yar"'
like "... after its last item" "$(cat "$T/.err")" "truncated: the stream ends after 2 items, without the end marker"

# zstd: a real closure exported compressed, then deleted, then imported
# from corrupt copies.
mkdir -p "$T/src/d"
head -c 1500000 /dev/urandom > "$T/src/d/random" # over 1 MiB: hashed on a second thread
yes yonder | head -c 200000 > "$T/src/d/text"
d=$(yonder store add "$T/src/d")
t=$(echo "uses $d" | yonder store add-text --ref "$d" t)
YONDER_CONFIG_DIR="$T/keys" yonder archive --generate-key --name machine-z >/dev/null
ok "authorize machine-z" sh -c 'yonder archive --authorize < "$T/keys/signing-key.pub"'
ok "export a closure with zstd" sh -c 'YONDER_CONFIG_DIR="$T/keys" yonder archive --export -r "$1" > "$T/z.yar"' sh "$t"
ok "delete it" yonder store delete "$t" "$d"
s0=$(snapshot)
zsize=$(wc -c < "$T/z.yar")
for at in 100 $((zsize / 3)) $((zsize / 2)) $((zsize - 6)); do
	cp "$T/z.yar" "$T/zc.yar"
	printf '\377' | dd of="$T/zc.yar" bs=1 seek=$at conv=notrunc 2>/dev/null
	fails "zstd byte $at of $zsize corrupted: refused" sh -c 'yonder archive --import < "$T/zc.yar"'
	# The frame's checksum is at its end: what comes out before it is
	# checked too, so whichever check sees the damage first reports it.
	like "... saying why" "$(cat "$T/.err")" "corrupt zstd data|NAR hash mismatch|the NAR: NAR byte|has the byte"
	is "... store unchanged" "$(snapshot)" "$s0"
done
head -c $((zsize - 5)) "$T/z.yar" > "$T/zc.yar"
fails "a truncated zstd frame is refused" sh -c 'yonder archive --import < "$T/zc.yar"'
like "... saying so" "$(cat "$T/.err")" "zstd data ends inside a frame"
is "... store unchanged" "$(snapshot)" "$s0"
{ cat "$T/z.yar"; printf 'junk'; } > "$T/zc.yar"
fails "bytes after the zstd frame are refused" sh -c 'yonder archive --import < "$T/zc.yar"'
like "... as corrupt zstd data" "$(cat "$T/.err")" "corrupt zstd data"
is "... store unchanged" "$(snapshot)" "$s0"

# The ACL.
acl=$YONDER_CONFIG_DIR/acl
cp "$acl" "$T/acl.good"
printf 'this is not a key\n' >> "$acl"
fails "a malformed ACL: refused" sh -c 'yonder archive --import < "$T/z.yar"'
like "... naming the ACL's line" "$(cat "$T/.err")" "$acl:[0-9]+"
is "... store unchanged" "$(snapshot)" "$s0"
cp "$T/acl.good" "$acl" && chmod 0666 "$acl"
fails "an ACL others may write: refused" sh -c 'yonder archive --import < "$T/z.yar"'
like "... naming it and its mode" "$(cat "$T/.err")" "$acl.*0?666"
is "... store unchanged" "$(snapshot)" "$s0"
rm -f "$acl"
fails "no ACL: refused" sh -c 'yonder archive --import < "$T/z.yar"'
like "... the ACL holds no key" "$(cat "$T/.err")" "item '[^']*': not signed by a key in the ACL \(the ACL $acl holds no key\)"
is "... store unchanged" "$(snapshot)" "$s0"
cp "$T/acl.good" "$acl" && chmod 0644 "$acl"

# The secret key.
sec=$T/keys/signing-key.sec
chmod 0644 "$sec"
fails "a secret key others may read: export refused" sh -c 'YONDER_CONFIG_DIR="$T/keys" yonder archive --export "$1" > "$T/x.yar"' sh "$kept"
like "... naming it and its mode" "$(cat "$T/.err")" "$sec.*644"
chmod 0600 "$sec"
cp "$sec" "$T/sec.good"
printf 'garbage\n' > "$sec"
fails "a malformed secret key: export refused" sh -c 'YONDER_CONFIG_DIR="$T/keys" yonder archive --export "$1" > "$T/x.yar"' sh "$kept"
like "... naming it" "$(cat "$T/.err")" "$sec"
rm -f "$sec"
fails "no secret key: export refused" sh -c 'YONDER_CONFIG_DIR="$T/keys" yonder archive --export "$1" > "$T/x.yar"' sh "$kept"
like "... naming it" "$(cat "$T/.err")" "$sec.*--generate-key"

# And the good ones go in.
ok "good.yar is imported" sh -c 'yonder archive --import < "$T/bad/good.yar"'
ok "the zstd closure is imported" sh -c 'yonder archive --import < "$T/z.yar"'
ok "it verifies" yonder store verify --check-contents --sigs "$t" "$d"
is "no temporary left in the store" "$(ls -A "$YONDER_STORE_DIR" | grep -c '^\.tmp')" 0

done_testing
