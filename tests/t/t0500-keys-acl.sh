#!/bin/sh
# yonder archive --generate-key / --authorize / --deauthorize, and the key
# checks of yonder store sign: modes, formats, refusals, idempotence, the
# ACL unchanged on every error, and the bad-key and bad-ACL corpora
# (tests/data/bad-key, tests/data/bad-acl) refused with FILE:LINE.
. "$(dirname "$0")/lib.sh"

C=$YONDER_CONFIG_DIR
ACL=$C/acl
DATA=$TOP/tests/data
TAB=$(printf '\t')
mode() { stat -c %a "$1"; }
# same "name" FILE COPY — FILE is byte for byte COPY (both may be missing).
same() {
	if [ ! -e "$2" ] && [ ! -e "$3" ]; then _report 0 "$1"; return; fi
	cmp -s "$2" "$3"; _report $? "$1"
}

# ---- --help and usage ------------------------------------------------------
ok "--help" yonder archive --help
like "lists --generate-key" "$(cat "$T/.out")" "--generate-key \[--name NAME\]"
like "lists --authorize and --deauthorize" "$(cat "$T/.out")" "--deauthorize"
like "lists --export, --import and --missing" "$(cat "$T/.out" | tr "\n" " ")" "--export.*--import.*--missing"
yonder archive >/dev/null 2>&1
is "no action: usage error" $? 2
yonder archive --generate-key --authorize </dev/null >/dev/null 2>&1
is "two actions: usage error" $? 2
yonder archive --authorize --name x </dev/null >/dev/null 2>&1
is "--name without --generate-key: usage error" $? 2
yonder archive --generate-key --name >/dev/null 2>&1
is "--name without its value: usage error" $? 2
yonder archive --bogus >/dev/null 2>&1
is "unknown option: usage error" $? 2
fails "--export without a PATH: usage error" yonder archive --export
like "and says so" "$(cat "$T/.err")" "no PATH given"

# ---- --generate-key -------------------------------------------------------
ok "generate a key pair" yonder archive --generate-key --name test-a
is "signing-key.sec is 0400" "$(mode "$C/signing-key.sec")" 400
is "signing-key.pub is 0444" "$(mode "$C/signing-key.pub")" 444
like "public key: NAME:base64 of 32 bytes" "$(cat "$C/signing-key.pub")" '^test-a:[A-Za-z0-9+/]{43}=$'
like "secret key: NAME:base64 of 64 bytes" "$(cat "$C/signing-key.sec")" '^test-a:[A-Za-z0-9+/]{86}==$'
is "no final newline, as Nix writes them" "$(wc -c <"$C/signing-key.pub") $(wc -c <"$C/signing-key.sec")" "51 95"
is "the secret key's second half is the public key" \
	"$(cut -d: -f2 "$C/signing-key.sec" | base64 -d | tail -c 32 | base64)" \
	"$(cut -d: -f2 "$C/signing-key.pub")"
cp "$C/signing-key.sec" "$T/a.sec"
cp "$C/signing-key.pub" "$T/a.pub"
fails "a second --generate-key is refused" yonder archive --generate-key --name test-b
like "naming the existing file" "$(cat "$T/.err")" "'$C/signing-key.sec' exists"
same "the secret key is untouched" "$C/signing-key.sec" "$T/a.sec"
same "the public key is untouched" "$C/signing-key.pub" "$T/a.pub"
rm -f "$C/signing-key.sec"
fails "refused with only the public key there too" yonder archive --generate-key --name test-b
like "naming it" "$(cat "$T/.err")" "'$C/signing-key.pub' exists"
is "and no secret key appeared" "$(ls "$C")" "signing-key.pub"
is "no temporary files are left" "$(ls -A "$C")" "signing-key.pub"

B=$T/cfg-b/sub
ok "the configuration directory is created when missing" \
	env YONDER_CONFIG_DIR="$B" yonder archive --generate-key
is "the name defaults to the host name" "$(cut -d: -f1 "$B/signing-key.pub")" "$(hostname)"
fails "a bad key name is refused" env YONDER_CONFIG_DIR="$T/cfg-c" yonder archive --generate-key --name "a:b"
like "saying why" "$(cat "$T/.err")" "key name"
is "and nothing is written" "$(ls -A "$T/cfg-c" 2>/dev/null)" ""
(umask 077 && YONDER_CONFIG_DIR=$T/cfg-d yonder archive --generate-key --name d)
is "the modes do not depend on the umask" "$(mode "$T/cfg-d/signing-key.sec") $(mode "$T/cfg-d/signing-key.pub")" "400 444"

# ---- --authorize / --deauthorize --------------------------------------------
fails "deauthorize with no ACL" sh -c 'yonder archive --deauthorize <"$1"' - "$T/a.pub"
like "says the key is not there" "$(cat "$T/.err")" "is not in the ACL"
ok "authorize a key (no final newline)" sh -c 'yonder archive --authorize <"$1"' - "$T/a.pub"
ok "the ACL exists" test -f "$ACL"
is "its mode is 0644" "$(mode "$ACL")" 644
is "it holds the key" "$(grep -v '^#' "$ACL")" "$(cat "$T/a.pub")"
cp "$ACL" "$T/acl.1"
ok "authorize it again" sh -c 'yonder archive --authorize <"$1"' - "$T/a.pub"
same "the ACL is unchanged (kept once)" "$ACL" "$T/acl.1"
(cat "$T/a.pub"; echo) >"$T/a-nl.pub"
ok "a key with a final newline is the same key" sh -c 'yonder archive --authorize <"$1"' - "$T/a-nl.pub"
same "still unchanged" "$ACL" "$T/acl.1"
ok "authorize a second key" sh -c 'yonder archive --authorize <"$1"' - "$B/signing-key.pub"
is "two keys, in order" "$(grep -v '^#' "$ACL" | cut -d: -f1 | tr '\n' ' ')" "test-a $(hostname) "
ok "deauthorize the first" sh -c 'yonder archive --deauthorize <"$1"' - "$T/a.pub"
is "only the second is left" "$(grep -v '^#' "$ACL")" "$(cat "$B/signing-key.pub")"
cp "$ACL" "$T/acl.2"
fails "deauthorize it again" sh -c 'yonder archive --deauthorize <"$1"' - "$T/a.pub"
like "names the key and the ACL" "$(cat "$T/.err")" "key 'test-a:.*' is not in the ACL '$ACL'"
same "the ACL is unchanged" "$ACL" "$T/acl.2"
fails "a secret key is not authorized" sh -c 'yonder archive --authorize <"$1"' - "$T/a.sec"
like "and the message says so" "$(cat "$T/.err")" "looks like a secret key"
same "the ACL is unchanged" "$ACL" "$T/acl.2"
fails "empty standard input" sh -c 'yonder archive --authorize </dev/null'
same "the ACL is unchanged" "$ACL" "$T/acl.2"
is "no temporary files are left" "$(ls -A "$C" | tr '\n' ' ')" "acl acl.lock signing-key.pub "

# Every bad public key of the corpus, on standard input.
while IFS="$TAB" read -r f line why; do
	case "$f" in "#"* | *.sec) continue ;; esac
	fails "bad key $f refused" sh -c 'yonder archive --authorize <"$1"' - "$DATA/bad-key/$f"
	like "$f: standard input:$line: $why" "$(cat "$T/.err")" \
		"^yonder archive: standard input:$line: .*$(printf '%s' "$why" | sed 's/[][\.*^$()+?{}|]/\\&/g')"
	same "$f: the ACL is unchanged" "$ACL" "$T/acl.2"
done <"$DATA/bad-key/MANIFEST"

# Concurrent authorizations: none is lost.
pids=""
for i in 1 2 3 4 5 6; do
	YONDER_CONFIG_DIR=$T/cfg-p$i yonder archive --generate-key --name "p$i" 2>/dev/null
	yonder archive --authorize <"$T/cfg-p$i/signing-key.pub" &
	pids="$pids $!"
	at_exit_kill $!
done
st=0
for p in $pids; do wait "$p" || st=1; done
is "six concurrent --authorize all succeed" $st 0
is "and the ACL holds all of them" "$(grep -c '^p[1-6]:' "$ACL")" 6

# A malformed ACL: every case of the corpus makes --authorize fail naming
# FILE:LINE, and the ACL is left as it was.
for f in "$DATA"/bad-acl/*.acl; do
	b=$(basename "$f")
	line=$(awk -F'\t' -v f="$b" '$1 == f { print $2 }' "$DATA/bad-acl/MANIFEST")
	cp "$f" "$ACL" && chmod 0644 "$ACL" && cp "$ACL" "$T/acl.bad"
	fails "authorize into the malformed ACL $b" sh -c 'yonder archive --authorize <"$1"' - "$T/a.pub"
	like "$b: the message names $ACL:$line" "$(head -c 300 "$T/.err")" "^yonder archive: $ACL:$line: "
	same "$b: the ACL is unchanged" "$ACL" "$T/acl.bad"
done
cp "$T/acl.2" "$ACL"
chmod 0664 "$ACL"
fails "a group-writable ACL is refused" sh -c 'yonder archive --authorize <"$1"' - "$T/a.pub"
like "naming it and its mode" "$(cat "$T/.err")" "'$ACL' has mode 0664"
chmod 0644 "$ACL"

# ---- store sign: the secret key's checks --------------------------------------
mkdir "$T/item" && echo hello >"$T/item/f"
P=$(yonder store add "$T/item")
is "an item to sign" "$(yonder store query --valid "$P"; echo $?)" 0
cp "$T/a.sec" "$T/k.sec"
for m in 0440 0404 0640 0604 0444 0600; do
	chmod "$m" "$T/k.sec"
	if [ "$m" = 0600 ]; then continue; fi
	fails "store sign refuses a secret key with mode $m" yonder store sign --key-file "$T/k.sec" "$P"
	like "naming the file and its mode" "$(cat "$T/.err")" "'$T/k.sec' has mode $m"
done
is "nothing was signed" "$(yonder store query --sigs "$P")" ""
ok "a 0600 key signs" yonder store sign --key-file "$T/k.sec" "$P"
like "the signature is test-a's" "$(yonder store query --sigs "$P")" '^test-a:[A-Za-z0-9+/]{86}==$'
yonder store query --sigs "$P" >"$T/sigs.1"
ok "signing again" yonder store sign --key-file "$T/k.sec" "$P"
is "keeps one signature" "$(yonder store query --sigs "$P")" "$(cat "$T/sigs.1")"
ln -s "$T/k.sec" "$T/link.sec"
fails "a symlinked key file is refused" yonder store sign --key-file "$T/link.sec" "$P"
like "naming it" "$(cat "$T/.err")" "'$T/link.sec' is a symbolic link"
fails "a missing key file" yonder store sign --key-file "$T/none.sec" "$P"
like "is named" "$(cat "$T/.err")" "'$T/none.sec'"
fails "the default key file is the config's (missing here)" yonder store sign "$P"
like "and named" "$(cat "$T/.err")" "'$C/signing-key.sec'"
ok "with YONDER_CONFIG_DIR pointing to a pair, the default key signs" \
	env YONDER_CONFIG_DIR="$B" yonder store sign "$P"
like "two signatures now" "$(yonder store query --sigs "$P")" "^test-a:.* $(hostname):|^$(hostname):.* test-a:"
fails "an invalid path is refused" yonder store sign --key-file "$T/k.sec" "$YONDER_STORE_DIR/00000000000000000000000000000000-none"
like "naming it" "$(cat "$T/.err")" "00000000000000000000000000000000-none"
yonder store sign --key-file "$T/k.sec" >/dev/null 2>&1
is "no PATH: usage error" $? 2

# Every bad secret key of the corpus (private 0600 copies).
while IFS="$TAB" read -r f line why; do
	case "$f" in *.sec) ;; *) continue ;; esac
	cp "$DATA/bad-key/$f" "$T/bad.sec" && chmod 0600 "$T/bad.sec"
	fails "bad secret key $f refused" yonder store sign --key-file "$T/bad.sec" "$P"
	like "$f: $T/bad.sec:$line: $why" "$(cat "$T/.err")" \
		"^yonder store sign: $T/bad.sec:$line: .*$(printf '%s' "$why" | sed 's/[][\.*^$()+?{}|]/\\&/g')"
	rm -f "$T/bad.sec"
done <"$DATA/bad-key/MANIFEST"

done_testing
