#!/bin/sh
# yonder daemon: builds of many clients through one scheduler, merged;
# clients that go away; bad input on the socket; SIGTERM; kill -9 and
# restart; the progress line on a terminal and the JSON events.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
sys=$(uname -m)-linux
SOCK=$YONDER_STATE_DIR/daemon-socket/socket
C=$T/count
mkdir -p "$C"

start_daemon() { # args...
	yonder daemon "$@" 2>>"$T/daemon.log" &
	DPID=$!
	at_exit_kill $DPID
	wait_for "the daemon's socket" 20 test -S "$SOCK"
}
alive() { kill -0 "$DPID" 2>/dev/null; }

# drv NAME SCRIPT [INPUT-VAR...] — a derivation definition (Scheme) whose
# builder counts its runs in $C/NAME; inputs are named by variables.
drv() {
	dn=$1 ds=$2; shift 2
	din=""
	for i in "$@"; do din="$din \" \" $i"; done
	printf '(define %s (derivation (name "%s") (system "%s") (builder "/bin/sh") (args "-c" (string-append "echo run >> %s/%s; %s; echo %s" %s " > $out"))))\n' \
		"$dn" "$dn" "$sys" "$C" "$dn" "$ds" "$dn" "$din"
}

# ---- one client ----------------------------------------------------------
start_daemon -j 4
is "the socket is private" "$(stat -c %a "$SOCK") $(stat -c %a "${SOCK%/*}")" "600 700"
{ drv one "echo hello-one"; echo one; } > "$T/one.scm"
ok "a build through the daemon" yonder build "$T/one.scm"
like "prints the output path" "$(cat "$T/.out")" "^$S/[0-9a-z]{32}-one\$"
like "the log names the machine" "$(cat "$T/.err")" "building '$S/[0-9a-z]{32}-one.drv' on localhost"
like "the builder's output arrives" "$(cat "$T/.err")" "hello-one"
is "built by the daemon (once)" "$(wc -l < "$C/one")" 1
ok "building again" yonder build "$T/one.scm"
is "runs nothing" "$(wc -l < "$C/one")" 1
{ drv bad "echo oops; exit 3"; echo bad; } > "$T/bad.scm"
yonder build "$T/bad.scm" >/dev/null 2>"$T/bad.err"
is "a failed build: exit 100, as in-process" "$?" 100
like "…and its message" "$(cat "$T/bad.err")" "error: builder for '.*-bad.drv' failed with exit code 3"
ok "YONDER_DAEMON_SOCKET names the socket" env YONDER_DAEMON_SOCKET="$SOCK" yonder build "$T/one.scm"
fails "…and when nobody listens there, that is an error" env YONDER_DAEMON_SOCKET="$T/nobody" yonder build "$T/one.scm"
like "…that names it" "$(cat "$T/.err")" "cannot connect to the daemon at '$T/nobody'"


# ---- 10 clients, 30 derivations, overlapping ------------------------------
# three layers of ten: l1_i needs l0_i and l0_(i+1); l2_i needs l1_i and
# l1_(i+1).  Client k wants l2_k and l2_(k+3).
{
	for i in 0 1 2 3 4 5 6 7 8 9; do drv "l0_$i" "/bin/sleep 0.2"; done
	for i in 0 1 2 3 4 5 6 7 8 9; do drv "l1_$i" "/bin/sleep 0.1" "l0_$i" "l0_$(((i + 1) % 10))"; done
	for i in 0 1 2 3 4 5 6 7 8 9; do drv "l2_$i" "true" "l1_$i" "l1_$(((i + 1) % 10))"; done
} > "$T/graph.scm"
pids=""
for k in 0 1 2 3 4 5 6 7 8 9; do
	{ cat "$T/graph.scm"; echo "(list l2_$k l2_$(((k + 3) % 10)))"; } > "$T/client$k.scm"
	yonder build "$T/client$k.scm" > "$T/client$k.out" 2> "$T/client$k.err" &
	pids="$pids $!"
done
st=0
for p in $pids; do wait "$p" || st=1; done
is "every client exits 0" "$st" 0
n=0
for f in "$C"/l[012]_*; do [ "$(wc -l < "$f")" = 1 ] && n=$((n + 1)); done
is "each of the 30 derivations was built exactly once" "$n" 30
good=0
for k in 0 1 2 3 4 5 6 7 8 9; do
	a=$(sed -n 1p "$T/client$k.out") b=$(sed -n 2p "$T/client$k.out")
	case "$a $b" in
	"$S/"*"-l2_$k $S/"*"-l2_$(((k + 3) % 10))") [ -e "$a" ] && [ -e "$b" ] && good=$((good + 1)) ;;
	esac
done
is "every client got its two paths" "$good" 10

# ---- a client killed mid-build -------------------------------------------
{ drv alone "echo \$\$ > $T/alone.pid; /bin/sleep 60"; echo alone; } > "$T/alone.scm"
yonder build "$T/alone.scm" >/dev/null 2>&1 &
cpid=$!
at_exit_kill $cpid
ok "its builder runs" wait_for "the builder" 20 test -s "$T/alone.pid"
bpid=$(cat "$T/alone.pid")
kill -9 $cpid
ok "killing the client kills its unshared build" wait_for "the builder to die" 20 sh -c "! kill -0 $bpid"
ok "the daemon is still up" alive
{ drv shared "echo \$\$ >> $T/shared.pids; /bin/sleep 1"; echo shared; } > "$T/shared.scm"
yonder build "$T/shared.scm" >/dev/null 2>&1 &
c1=$!
at_exit_kill $c1
ok "a shared build starts" wait_for "the shared builder" 20 test -s "$T/shared.pids"
yonder build --log-format=json "$T/shared.scm" > "$T/c2.out" 2> "$T/c2.err" &
c2=$!
at_exit_kill $c2
# The daemon has merged c2's request once c2 hears that its one build runs.
ok "a second client joins the running build" wait_for "the second client" 20 grep -q '"running":1' "$T/c2.err"
kill -9 $c1
wait $c2
is "the other client still gets the shared build" "$?" 0
is "built once, not killed" "$(wc -l < "$T/shared.pids") $(wc -l < "$C/shared")" "1 1"
ok "and the daemon serves the next client" yonder build "$T/one.scm"

# ---- bad input on the socket ---------------------------------------------
cat > "$T/raw.pl" <<'PERL'
# raw.pl SOCKET KIND: sends KIND of bad input, prints the ERROR it gets.
use strict; use IO::Socket::UNIX;
my ($path, $kind, $store) = @ARGV;
my $s = IO::Socket::UNIX->new(Peer => $path) or die "connect: $!";
sub frame { my ($op, $id, $p) = @_; pack("VvvV", length $p, $op, 0, $id) . $p }
sub str { pack("V", length $_[0]) . $_[0] }
my $hello = frame(1, 0, pack("Q<", 0x000a7265646e6f79) . pack("Q<", 1) . str("raw") . pack("V", 0));
my %send = (
	garbage => "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	huge => pack("VvvV", 0xffffffff, 1, 0, 0),
	truncated => $hello . substr(frame(0x101, 1, "x" x 40), 0, 20),
	unknown => $hello . frame(0x7777, 1, ""),
	outside => $hello . frame(0x101, 1, pack("Q<4", 0, 0, 0, 0) . pack("V", 1) . str("/etc/passwd")),
	relative => $hello . frame(0x101, 1, pack("Q<4", 0, 0, 0, 0) . pack("V", 1) . str("$store/../x.drv")),
	badpayload => $hello . frame(0x101, 1, "\x01\x02"),
);
print $s $send{$kind};
shutdown($s, 1) if $kind eq 'truncated';
my $buf = '';
while (1) {
	while (length $buf >= 12) {
		my ($len, $op, $fl, $id) = unpack("VvvV", $buf);
		last if length $buf < 12 + $len;
		my $p = substr($buf, 12, $len); $buf = substr($buf, 12 + $len);
		if ($op == 3) {
			my ($code, $n) = unpack("Q<V", $p);
			print "error id=$id code=$code: ", substr($p, 12, $n), "\n";
			exit 0;
		}
	}
	my $got = sysread($s, $buf, 65536, length $buf);
	last unless $got;
}
print "no error frame\n"; exit 1;
PERL
for kind in garbage huge truncated unknown outside relative badpayload; do
	perl "$T/raw.pl" "$SOCK" $kind "$S" > "$T/raw.$kind" 2>&1
	case $kind in
	garbage) want="error id=0 code=9: client [0-9]+: byte 0: frame of 542393671 bytes exceeds the limit" ;;
	huge) want="error id=0 code=9: client [0-9]+: byte 0: frame of 4294967295 bytes exceeds the limit of 1048576" ;;
	truncated) want="error id=0 code=12: client [0-9]+: byte [0-9]+: truncated frame" ;;
	unknown) want="error id=0 code=4: client [0-9]+: byte [0-9]+: unknown operation 0x7777" ;;
	outside) want="error id=1 code=7: path '/etc/passwd' is not in the store $S" ;;
	relative) want="error id=1 code=7: path '$S/../x.drv' is not in the store" ;;
	badpayload) want="error id=1 code=4: build: truncated integer" ;;
	esac
	like "bad input ($kind): the client gets an error" "$(cat "$T/raw.$kind")" "$want"
	ok "…and the daemon still serves ($kind)" yonder build "$T/one.scm"
done

# ---- progress: the status line on a terminal, JSON events ------------------
{ drv tty "echo tty-log; /bin/sleep 0.3"; echo tty; } > "$T/tty.scm"
script -q -c "yonder build $T/tty.scm" /dev/null > "$T/tty.out" 2>&1
like "on a terminal: the status line" "$(tr '\r' '\n' < "$T/tty.out")" "\[0/1\] building tty on localhost \([0-9]+s\) · 1 running · 0 waiting"
like "…and the summary" "$(cat "$T/tty.out")" "1 built \(localhost: 1\), 0 already valid, 0 failed, in [0-9.]+s"
{ drv js "echo json-line; echo second"; echo js; } > "$T/js.scm"
yonder build --log-format=json "$T/js.scm" > /dev/null 2> "$T/js.err"
is "JSON: every line parses, with the events expected" "$(perl -MJSON::PP -ne '
	my $e = decode_json($_); $n{$e->{event}}++;
	$m++ if ($e->{machine} // "localhost") ne "localhost";
	$d++ if $e->{event} eq "build-finished" && $e->{status} eq "built" && exists $e->{duration_ms};
	$l .= $e->{line} . "," if $e->{event} eq "log";
	END { $n{progress} = $n{progress} >= 1 ? "yes" : "no"; print join(" ", map { "$_=$n{$_}" } sort keys %n), " finished-ok=$d other-machines=", $m // 0, " lines=$l" }' "$T/js.err")" \
	"build-finished=1 build-started=1 log=2 progress=yes summary=1 finished-ok=1 other-machines=0 lines=json-line,second,"
yonder build -q "$T/bad.scm" > /dev/null 2> "$T/q.err"
is "--quiet: only the error" "$(grep -c . "$T/q.err") $(grep -c oops "$T/q.err")" "2 0"

# ---- SIGTERM ---------------------------------------------------------------
rm -f "$T/term.pid"
{ drv term "echo \$\$ > $T/term.pid; /bin/sleep 60"; echo term; } > "$T/term.scm"
yonder build "$T/term.scm" > "$T/term.out" 2> "$T/term.err" &
tc=$!
at_exit_kill $tc
ok "a long build runs" wait_for "the builder" 20 test -s "$T/term.pid"
kill -TERM $DPID
wait $DPID
is "SIGTERM: the daemon exits 0" "$?" 0
ok "…its builder is killed" wait_for "the builder to die" 20 sh -c "! kill -0 $(cat "$T/term.pid")"
ok "…the socket is removed" test ! -e "$SOCK"
wait $tc
is "…the client is told: exit 1" "$?" 1
like "…with a message" "$(cat "$T/term.err")" "cancelled"
out=$(yonder derivation "$T/term.scm" | xargs yonder drv show | perl -MJSON::PP -0 -ne 'my $j = decode_json($_); print((values %$j)[0]{outputs}{out}{path})')
fails "…and its output is not valid" yonder store query --hash "$out"

# ---- kill -9 mid-build, restart ---------------------------------------------
start_daemon -j 2
rm -f "$T/k9.pid"
{ drv k9 "echo \$\$ > $T/k9.pid; echo partial > \$out; /bin/sleep 2"; echo k9; } > "$T/k9.scm"
yonder build "$T/k9.scm" > /dev/null 2>&1 &
kc=$!
at_exit_kill $kc
ok "a build runs in the new daemon" wait_for "the builder" 20 test -s "$T/k9.pid"
kill -9 $DPID
wait $DPID 2>/dev/null
wait $kc
is "the client fails when the daemon dies" "$?" 1
kill -9 "$(cat "$T/k9.pid")" 2>/dev/null
ok "after kill -9: store verify --check-contents is clean" yonder store verify --check-contents
rm -f "$T/k9.pid"
start_daemon -j 2
ok "a restarted daemon builds it" yonder build "$T/k9.scm"
ok "…and its output verifies" yonder store verify --check-contents "$(cat "$T/.out")"
kill -TERM $DPID
wait $DPID

done_testing
