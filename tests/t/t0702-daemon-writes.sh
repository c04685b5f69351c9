#!/bin/sh
# The store-writing commands that go through the daemon when it runs
# (derivation, store delete, store gc, store sign, archive --import): the
# same output and exit codes with and without a daemon; what the daemon
# refuses (a referenced path, a path outside the store, a path a running
# build uses, a forged signature, an archive signed by a key that its own
# ACL lacks even when the client's ACL has it, a truncated archive); gc
# while a build runs keeps its input and its output; malformed payloads
# of DELETE, GC, ADD_SIGS and IMPORT get an error and the daemon goes on.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
sys=$(uname -m)-linux
SOCK=$YONDER_STATE_DIR/daemon-socket/socket
ZERO=$S/00000000000000000000000000000000

start_daemon() {
	yonder daemon "$@" 2>>"$T/daemon.log" &
	DPID=$!
	at_exit_kill $DPID
	wait_for "the daemon's socket" 20 test -S "$SOCK"
}
alive() { kill -0 "$DPID" 2>/dev/null; }

# Keys: K signs here (authorized), U is unknown to the store's ACL.
mkdir -p "$T/kconf" "$T/uconf"
YONDER_CONFIG_DIR=$T/kconf yonder archive --generate-key --name k.test >/dev/null 2>&1
YONDER_CONFIG_DIR=$T/uconf yonder archive --generate-key --name u.test >/dev/null 2>&1
printf '(derivation (name "one") (system "%s") (builder "/bin/sh") (args "-c" "echo one > $out"))\n' \
	"$sys" > "$T/one.scm"
echo a > "$T/a"
echo b > "$T/b"

# The scenario, run once in-process and once through the daemon: each
# step prints its exit code and its output (stdout and stderr).
step() { # label cmd...
	_l=$1
	shift
	_o=$("$@" 2>&1)
	echo "$_l [$?] $_o"
}
scenario() {
	# The sources of the archives, made in a store of their own.
	step derivation yonder derivation "$T/one.scm"
	a=$(yonder store add "$T/a")
	b=$(yonder store add-text --ref "$a" b.txt < "$T/b")
	step delete-referenced yonder store delete "$a"
	step delete-outside yonder store delete /etc/passwd
	step delete-invalid yonder store delete "$ZERO-x"
	step delete-b yonder store delete "$b"
	step query-b yonder store query --valid "$b"
	step sign yonder store sign --key-file "$T/kconf/signing-key.sec" "$a"
	step sign-again yonder store sign --key-file "$T/kconf/signing-key.sec" "$a"
	step sigs yonder store query --sigs "$a"
	step sign-invalid yonder store sign --key-file "$T/kconf/signing-key.sec" "$ZERO-x"
	mkdir "$S/11111111111111111111111111111111-junk"
	step gc yonder store gc
	step import-cut sh -c 'yonder archive --import < "$1"' - "$T/cut.yar"
	step import-unknown sh -c 'yonder archive --import < "$1"' - "$T/unknown.yar"
	step valid-before yonder store query --valid "$IMPORTED"
	step import-good sh -c 'yonder archive --import < "$1"' - "$T/good.yar"
	step valid-after yonder store query --valid "$IMPORTED"
}

# The archives: one item signed by K, the same by U, and a cut one.
mkdir -p "$T/src-store" "$T/src-state"
echo imported > "$T/imp"
IMPORTED=$(YONDER_STORE_DIR=$S YONDER_STATE_DIR=$T/src-state yonder store add "$T/imp")
for k in k u; do
	YONDER_STORE_DIR=$S YONDER_STATE_DIR=$T/src-state YONDER_CONFIG_DIR=$T/${k}conf \
		yonder archive --export "$IMPORTED" > "$T/$k.yar.tmp"
done
mv "$T/k.yar.tmp" "$T/good.yar"
mv "$T/u.yar.tmp" "$T/unknown.yar"
head -c $(($(wc -c < "$T/good.yar") - 40)) "$T/good.yar" > "$T/cut.yar"
chmod -R u+w "$S" && rm -rf "$S" && mkdir -p "$S"
ok "the store's ACL trusts K" sh -c 'yonder archive --authorize < "$1"' - "$T/kconf/signing-key.pub"

scenario > "$T/in-process.txt"
like "in-process: the scenario ran" "$(cat "$T/in-process.txt")" "^derivation \[0\] $S/"
chmod -R u+w "$S" && rm -rf "$S" "$YONDER_STATE_DIR" && mkdir -p "$S" "$YONDER_STATE_DIR"

start_daemon
scenario > "$T/daemon.txt"
is "the same outputs and exit codes through the daemon" "$(diff "$T/in-process.txt" "$T/daemon.txt")" ""
like "…and the daemon did the delete" "$(cat "$T/daemon.log")" "deleted $S/"
txt=$(cat "$T/daemon.txt")
like "delete of a referenced path: refused" "$txt" "delete-referenced \[1\] .*refers to it"
like "delete outside the store: refused" "$txt" "delete-outside \[1\] .*/etc/passwd"
like "gc removed the leftover" "$txt" "gc \[0\] removed $S/1{32}-junk"
like "sign: the signature is recorded" "$txt" "sigs \[0\] k.test:"
like "import of a good archive: its path" "$txt" "import-good \[0\] $IMPORTED"
like "import signed by an unknown key: refused" "$txt" "import-unknown \[1\] yonder archive: nothing imported: .*u.test"
like "import of a cut archive: refused" "$txt" "import-cut \[1\] yonder archive: nothing imported: .*truncated"
like "…neither it nor the unknown one registered anything" "$txt" "valid-before \[1\] "

# ---- the daemon's ACL, not the client's ---------------------------------
yonder store delete "$IMPORTED" 2>/dev/null
mkdir -p "$T/client-conf"
cp "$T/config/acl" "$T/client-conf/acl"
YONDER_CONFIG_DIR=$T/client-conf yonder archive --authorize < "$T/uconf/signing-key.pub"
fails "an archive by U, which only the client's ACL trusts: refused" \
	env YONDER_CONFIG_DIR="$T/client-conf" sh -c 'yonder archive --import < "$1"' - "$T/unknown.yar"
like "…naming the key" "$(cat "$T/.err")" "u.test"
fails "…nothing registered" yonder store query --valid "$IMPORTED"
ok "the daemon still serves" alive

# ---- raw requests: a forged signature, malformed payloads ----------------
cat > "$T/raw.pl" <<'PERL'
# raw.pl SOCKET OP HEXPAYLOAD [DATAFILE]: one request, prints its final frame.
use strict; use IO::Socket::UNIX;
my ($path, $op, $hex, $data) = @ARGV;
my $s = IO::Socket::UNIX->new(Peer => $path) or die "connect: $!";
sub frame { my ($o, $id, $p, $fl) = @_; pack("VvvV", length $p, $o, $fl // 0, $id) . $p }
sub str { pack("V", length $_[0]) . $_[0] }
print $s frame(1, 0, pack("Q<2", 0x000a7265646e6f79, 1) . str("raw") . pack("V", 0));
print $s frame(hex $op, 1, pack("H*", $hex));
if (defined $data) {
	local $/; open(my $f, "<", $data) or die; my $d = <$f>;
	print $s frame(5, 1, $d, 1);
}
my $buf = '';
while (sysread($s, $buf, 65536, length $buf)) {
	while (length $buf >= 12) {
		my ($len, $o, $fl, $id) = unpack("VvvV", $buf);
		last if length $buf < 12 + $len;
		my $p = substr($buf, 12, $len); $buf = substr($buf, 12 + $len);
		next unless $id == 1 || $o == 3;
		if ($o == 3) { my ($c, $n) = unpack("Q<V", $p); print "error $c: ", substr($p, 12, $n), "\n"; exit 0 }
		if ($o == 4) { print "ok\n"; exit 0 }
	}
}
print "no final frame\n";
PERL
hexstr() { printf '%s' "$1" | perl -e 'local $/; my $s = <STDIN>; print unpack("H*", pack("V", length $s) . $s)'; }
hexv() { printf '%08x' "$1" | perl -ne 'print unpack("H*", pack("V", hex $_))'; } # a u32
raw() { perl "$T/raw.pl" "$SOCK" "$@" 2>&1; }

a=$(yonder store add "$T/a")
sig=$(yonder store query --sigs "$a" | head -n 1)
pub=$(cat "$T/kconf/signing-key.pub")
# The same signature with one base64 character changed.
forged=$(printf '%s' "$sig" | perl -pe 's/:(.)/":" . ($1 eq "A" ? "B" : "A")/e')
like "ADD_SIGS: a forged signature is refused, naming the path" \
	"$(raw 0108 "$(hexstr "$a")$(hexv 1)$(hexstr "$forged")$(hexv 1)$(hexstr "$pub")")" \
	"^error 8: signature of '$a' refused"
is "…and not recorded" "$(yonder store query --sigs "$a")" "$sig"
like "ADD_SIGS: a signature by a key not sent is refused" \
	"$(raw 0108 "$(hexstr "$a")$(hexv 1)$(hexstr "other:$(echo "$sig" | cut -d: -f2)")$(hexv 1)$(hexstr "$pub")")" \
	"^error .*signature of '$a' refused"
like "ADD_SIGS: a path outside the store" \
	"$(raw 0108 "$(hexstr /etc/passwd)$(hexv 1)$(hexstr "$sig")$(hexv 1)$(hexstr "$pub")")" \
	"^error 7: path '/etc/passwd' is not in the store"
like "ADD_SIGS: the signature again is accepted" \
	"$(raw 0108 "$(hexstr "$a")$(hexv 1)$(hexstr "$sig")$(hexv 1)$(hexstr "$pub")")" "^ok$"
like "ADD_SIGS: no signature" "$(raw 0108 "$(hexstr "$a")$(hexv 0)$(hexv 1)$(hexstr "$pub")")" \
	"^error 4: add sigs: no signature given"
like "ADD_SIGS: truncated" "$(raw 0108 "$(hexstr "$a")$(hexv 3)")" "^error 4: add sigs: "
like "DELETE: no path" "$(raw 0106 "$(hexv 0)")" "^error 4: delete: no path given"
like "DELETE: trailing bytes" "$(raw 0106 "$(hexv 1)$(hexstr "$ZERO-x")ff")" "^error 4: delete: 1 trailing bytes"
like "DELETE: a huge list" "$(raw 0106 "ffffffff")" "^error 9: delete: list of"
like "DELETE: outside the store" "$(raw 0106 "$(hexv 1)$(hexstr /etc/passwd)")" "^error 7: path '/etc/passwd' is not in the store"
like "GC: a payload" "$(raw 0107 "00")" "^error 4: gc: the request carries no payload"
like "IMPORT: unknown flags" "$(raw 0109 "0400000000000000")" "^error 4: import: unknown flags 0x4"
like "IMPORT: trusted without the Nix format" "$(raw 0109 "0200000000000000")" "^error 7: import: a yonder archive is always checked"
like "IMPORT: no flags" "$(raw 0109 "")" "^error 4: import-archive: truncated integer"
like "IMPORT: garbage instead of an archive" "$(raw 0109 "0000000000000000" "$T/a")" "^error [0-9]+: "
fails "…nothing registered" yonder store query --valid "$IMPORTED"
like "IMPORT: a good archive, raw" "$(raw 0109 "0000000000000000" "$T/good.yar")" "^ok$"
ok "…registered" yonder store query --valid "$IMPORTED"
ok "the daemon still serves after all of them" yonder store query --valid "$a"
ok "…and is up" alive

# ---- a running build: its input and output are kept ----------------------
cat > "$T/slow.scm" <<EOF
(derivation (name "slow") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "echo \$\$ > $T/slow.pid; i=0; while [ ! -e $T/go ] && [ \$i -lt 600 ]; do /bin/sleep 0.05; i=\$((i+1)); done; /bin/cat "
             (plain-file "slow-in.txt" "the input") " > \$out")))
EOF
yonder build "$T/slow.scm" > "$T/slow.out" 2>&1 &
bpid=$!
at_exit_kill $bpid
ok "a slow build runs" wait_for "the builder" 20 test -s "$T/slow.pid"
drv=$(yonder derivation --dry-run "$T/slow.scm")
input=$(ls -d "$S"/*-slow-in.txt)
fails "delete of the running build's input: refused" yonder store delete "$input"
like "…saying a running build uses it" "$(cat "$T/.err")" "it is an input of the running build of '$drv'"
fails "delete of its .drv: refused" yonder store delete "$drv"
like "…saying so" "$(cat "$T/.err")" "it is the derivation of the running build"
ok "gc while it runs" yonder store gc
ok "…keeps its input" yonder store query --valid "$input"
touch "$T/go"
wait $bpid
is "the build then succeeds" "$?" 0
like "…with its output" "$(cat "$T/slow.out")" "$S/[a-z0-9]{32}-slow"
is "…made from its input" "$(cat "$(tail -n 1 "$T/slow.out")")" "the input"
ok "the daemon is still up" alive

kill -TERM $DPID
wait $DPID
is "SIGTERM: the daemon exits 0" "$?" 0
done_testing
