#!/bin/sh
# yonder daemon: ADD_NAR, QUERY_PATH_INFO, FOLLOW_LOG and --keep-failed
# over the socket; the store-writing commands through the daemon (same
# paths and exit codes as in-process); bad input for each request; the
# status line redrawn every second under a real terminal; the summary's
# "already valid"; JSON events parsed by python3.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
sys=$(uname -m)-linux
SOCK=$YONDER_STATE_DIR/daemon-socket/socket

start_daemon() {
	yonder daemon "$@" 2>>"$T/daemon.log" &
	DPID=$!
	at_exit_kill $DPID
	wait_for "the daemon's socket" 20 test -S "$SOCK"
}
stop_daemon() { kill -TERM $DPID; wait $DPID; is "SIGTERM: the daemon exits 0" "$?" 0; }
alive() { kill -0 "$DPID" 2>/dev/null; }
# A recipe of one derivation NAME whose builder runs SCRIPT.
recipe() {
	printf '(derivation (name "%s") (system "%s") (builder "/bin/sh") (args "-c" "%s"))\n' \
		"$1" "$sys" "$2" > "$T/$1.scm"
}

# ---- the store-writing commands: in-process, then through the daemon -----
mkdir -p "$T/src/sub"
echo hi > "$T/src/a"
echo run > "$T/src/sub/x"
chmod +x "$T/src/sub/x"
ln -s a "$T/src/l"
printf 'flat bytes\n' > "$T/flat"
recipe one 'echo one > $out'

# Without a daemon, in a store of its own: the reference answers.
ref=$(YONDER_STORE_DIR=$S YONDER_STATE_DIR=$T/ref-state sh -c '
	yonder store add "$1/src" && yonder store add --flat "$1/flat" &&
	echo text | yonder store add-text t.txt && yonder build "$1/one.scm"
' - "$T" 2>/dev/null)
chmod -R u+w "$S" && rm -rf "$S" && mkdir -p "$S"

start_daemon
# The client's own state directory is empty: whatever becomes valid was
# registered by the daemon, in its database.
away() { env YONDER_STATE_DIR="$T/away" YONDER_DAEMON_SOCKET="$SOCK" "$@"; }
ok "store add through the daemon" away yonder store add "$T/src"
p_src=$(cat "$T/.out")
ok "store add --flat through the daemon" away yonder store add --flat "$T/flat"
p_flat=$(cat "$T/.out")
p_text=$(echo text | away yonder store add-text t.txt)
is "store add-text through the daemon" "$?" 0
ok "build FILE.scm: its .drv goes through the daemon" yonder build "$T/one.scm"
p_one=$(cat "$T/.out")
is "the same paths as in-process" "$p_src $p_flat $p_text $p_one" "$(echo $ref)"
ok "…valid in the daemon's database" yonder store query --valid "$p_src" "$p_flat" "$p_text"
is "…with the hashes of their NARs" "$(yonder store query --hash "$p_src")" "sha256:$(yonder hash "$T/src")"
ok "…and their contents verify" yonder store verify --check-contents "$p_src" "$p_flat" "$p_text"
test ! -e "$T/away/db"
is "the client wrote no database of its own" "$?" 0
is "adding again: the same path" "$(away yonder store add "$T/src")" "$p_src"
fails "a missing file: an error, as in-process" away yonder store add "$T/nothing"
like "…naming it" "$(cat "$T/.err")" "$T/nothing"
fails "add-text with a reference that is not valid" away yonder store add-text --ref "$S/00000000000000000000000000000000-x" y.txt
like "…refused by the daemon" "$(cat "$T/.err")" "reference '$S/0{32}-x' is not valid"
yonder derivation --dry-run "$T/one.scm" > "$T/one.drvpath"
cp "$(cat "$T/one.drvpath")" "$T/copy.drv"
ok "drv add through the daemon" yonder drv add "$T/copy.drv"
is "…the same .drv path" "$(cat "$T/.out")" "$(cat "$T/one.drvpath")"

# ---- bad requests on the socket: ADD_NAR, QUERY_PATH_INFO, FOLLOW_LOG ------
yonder store dump "$T/src" > "$T/src.nar"
NARHASH=sha256:$(yonder hash "$T/src")
printf 'other\n' > "$T/other"
OTHERHASH=sha256:$(yonder hash "$T/other")
NEWPATH=$(yonder store add --dry-run --name fresh "$T/src")
cat > "$T/raw.pl" <<'PERL'
# raw.pl SOCKET KIND ARGS: one request of KIND, prints its final frame.
use strict; use IO::Socket::UNIX;
my ($path, $kind, @a) = @ARGV;
my $s = IO::Socket::UNIX->new(Peer => $path) or die "connect: $!";
sub frame { my ($op, $id, $p, $fl) = @_; pack("VvvV", length $p, $op, $fl // 0, $id) . $p }
sub str { pack("V", length $_[0]) . $_[0] }
sub strv { pack("V", scalar @_) . join("", map { str($_) } @_) }
sub slurp { local $/; open(my $f, "<", $_[0]) or die "$_[0]: $!"; <$f> }
print $s frame(1, 0, pack("Q<2", 0x000a7265646e6f79, 1) . str("raw") . strv());
# add PATH HASH SIZE REFS(,) CA NARFILE [cut|extra|close]
sub add {
	my ($p, $h, $size, $refs, $ca, $nar, $how) = @_;
	my $data = slurp($nar);
	$data = substr($data, 0, length($data) / 2) if ($how // "") eq "cut";
	$data .= "trailing" if ($how // "") eq "extra";
	$size = length $data if $size eq "auto";
	print $s frame(0x102, 1, str($p) . str($h) . pack("Q<", $size) . str("")
		. strv(grep { length } split /,/, $refs) . strv() . str($ca));
	my $half = int(length($data) / 2);
	print $s frame(5, 1, substr($data, 0, $half));
	if (($how // "") eq "close") { close $s; exit 0 }
	print $s frame(5, 1, substr($data, $half), 1);
}
my %ops = (
	add => sub { add(@a) },
	query => sub { print $s frame(0x103, 1, strv(@a)) },
	follow => sub { print $s frame(0x104, 1, str($a[0]) . pack("Q<", $a[1] // 0)) },
);
$ops{$kind}->();
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
		if ($op == 4 && $id == 1) {
			if ($kind eq "query") {
				my ($n) = unpack("Q<", $p); my $o = 8; my @out;
				for (1 .. $n) {
					my ($v) = unpack("Q<", substr($p, $o)); $o += 8;
					if (!$v) { push @out, "invalid"; next }
					my @f;
					for my $t (qw(s s u s v v s s u)) {
						if ($t eq "u") { push @f, unpack("Q<", substr($p, $o)); $o += 8 }
						elsif ($t eq "s") { my $l = unpack("V", substr($p, $o)); push @f, substr($p, $o + 4, $l); $o += 4 + $l }
						else { my $c = unpack("V", substr($p, $o)); $o += 4; my @v;
							for (1 .. $c) { my $l = unpack("V", substr($p, $o)); push @v, substr($p, $o + 4, $l); $o += 4 + $l }
							push @f, join(",", @v) }
					}
					$f[8] = $f[8] > 1e9 ? "time" : "no-time";
					push @out, join(" ", map { length $_ ? $_ : "-" } @f);
				}
				print "ok ", join(" | ", @out), "\n";
			} else {
				print "ok", ($len == 8 ? " " . unpack("Q<", $p) : ""), "\n";
			}
			exit 0;
		}
	}
	my $got = sysread($s, $buf, 65536, length $buf);
	last unless $got;
}
print "no final frame\n"; exit 1;
PERL
raw() { perl "$T/raw.pl" "$SOCK" "$@" 2>&1; }

CA="fixed:r:$NARHASH"
like "ADD_NAR: a good NAR is added" "$(raw add "$NEWPATH" "$NARHASH" auto "" "$CA" "$T/src.nar")" "^ok$"
ok "…valid, and its contents verify" yonder store verify --check-contents "$NEWPATH"
is "…with its content address's hash" "$(yonder store query --hash "$NEWPATH")" "$NARHASH"
like "…again: accepted, nothing to do" "$(raw add "$NEWPATH" "$NARHASH" auto "" "$CA" "$T/src.nar")" "^ok$"
P2=$(yonder store add --dry-run --name two "$T/src")
CA2="fixed:r:$NARHASH"
for kind in cut wrong-hash outside oversize extra badref badca badhash close; do
	case $kind in
	cut) out=$(raw add "$P2" "" 0 "" "" "$T/src.nar" cut)
		want="error id=1 code=12: add nar '$P2': the NAR: unexpected end of input" ;;
	wrong-hash) out=$(raw add "$P2" "$OTHERHASH" auto "" "" "$T/src.nar")
		want="error id=1 code=8: add nar '$P2': NAR hash mismatch: declared $OTHERHASH, got $NARHASH" ;;
	outside) out=$(raw add "/etc/passwd" "$NARHASH" auto "" "" "$T/src.nar")
		want="error id=1 code=7: path '/etc/passwd' is not in the store $S" ;;
	oversize) out=$(raw add "$P2" "$NARHASH" 100 "" "" "$T/src.nar")
		want="error id=1 code=9: add nar '$P2': .*more NAR data than the declared 100 bytes" ;;
	extra) out=$(raw add "$P2" "" 0 "" "" "$T/src.nar" extra)
		want="error id=1 code=4: add nar '$P2': trailing bytes after the NAR" ;;
	badref) out=$(raw add "$P2" "$NARHASH" auto "$S/00000000000000000000000000000000-gone" "" "$T/src.nar")
		want="error id=1 code=5: add nar '$P2': its reference '$S/0{32}-gone' is not valid" ;;
	badca) out=$(raw add "$P2" "$NARHASH" auto "" "fixed:r:$OTHERHASH" "$T/src.nar")
		want="error id=1 code=8: add nar '$P2': content address 'fixed:r:$OTHERHASH': the NAR has another hash" ;;
	badhash) out=$(raw add "$P2" "sha256:xyz" auto "" "" "$T/src.nar")
		want="error id=1 code=4: add nar '$P2': nar_hash: " ;;
	close) out=$(raw add "$P2" "$NARHASH" auto "" "" "$T/src.nar" close; echo closed)
		want="^closed$" ;;
	esac
	like "ADD_NAR, bad input ($kind): refused" "$out" "$want"
	fails "…nothing registered ($kind)" yonder store query --valid "$P2"
	ok "…no temporary left ($kind)" wait_for "the temporaries to go" 10 sh -c "[ \$(ls -A '$S' | grep -c '^\.tmp-') = 0 ]"
	ok "…and the daemon still serves ($kind)" away yonder store add "$T/src"
done
ok "a fixed-output path whose address matches is accepted" sh -c "raw() { perl '$T/raw.pl' '$SOCK' \"\$@\"; }; raw add '$P2' '$NARHASH' auto '' '$CA2' '$T/src.nar' | grep -q '^ok$'"

# QUERY_PATH_INFO
like "QUERY_PATH_INFO: a valid path and one that is not" "$(raw query "$p_text" "$S/00000000000000000000000000000000-no")" \
	"^ok $p_text sha256:[0-9a-z]{52} [0-9]+ - - - text:sha256:[0-9a-z]{52} - time \| invalid$"
like "…a built output: its deriver" "$(raw query "$p_one")" "^ok $p_one sha256:[0-9a-z]{52} [0-9]+ $(cat "$T/one.drvpath") - - - [^ ]+ time$"
like "…a path outside the store is refused" "$(raw query /etc/passwd)" "error id=1 code=7: path '/etc/passwd' is not in the store"
like "…no path at all is refused" "$(raw query)" "error id=1 code=7: query path info: no path given"
many=$(i=0; while [ $i -le 1024 ]; do printf '%s ' "$p_text"; i=$((i + 1)); done)
like "…nor 1025 paths" "$(raw query $many)" "error id=1 code=9: query path info: list of 1025 strings .* exceeds the limit of 1024"
ok "…and the daemon still serves" alive

# FOLLOW_LOG
like "FOLLOW_LOG: a build that neither runs nor has a log" "$(raw follow "$S/00000000000000000000000000000000-x.drv" 1)" \
	"error id=1 code=5: no build of '$S/0{32}-x.drv' is running or waiting, and it has no saved log"
like "…without replay, a finished build is not followed" "$(raw follow "$(cat "$T/one.drvpath")" 0)" "error id=1 code=5: no build of"
like "…not a .drv" "$(raw follow "$p_text" 0)" "error id=1 code=7: '$p_text' is not a derivation"
like "…outside the store" "$(raw follow /tmp/x.drv 0)" "error id=1 code=7: path '/tmp/x.drv' is not in the store"
like "…unknown flags" "$(raw follow "$(cat "$T/one.drvpath")" 6)" "error id=1 code=4: follow log: unknown flags 0x6"
like "…a finished build with replay: its saved log, status built (0)" "$(raw follow "$(cat "$T/one.drvpath")" 1)" "^ok 0$"

# ---- yonder log -f: a build's log as it runs -------------------------------
# The builders wait for a file the test creates (the test waits for
# nothing but files, with deadlines).
recipe slow "echo first-line; : > $T/slow.started; while [ ! -e $T/gate ]; do /bin/sleep 0.05; done; echo second-line; echo done > \$out"
slow=$(yonder derivation --dry-run "$T/slow.scm")
yonder build "$T/slow.scm" > /dev/null 2>&1 &
bp=$!
at_exit_kill $bp
ok "a slow build starts" wait_for "the build to run" 20 test -e "$T/slow.started"
yonder log -f "$slow" > "$T/follow.out" 2> "$T/follow.err" &
fp=$!
at_exit_kill $fp
ok "log -f: the lines so far are replayed" wait_for "the first line" 20 grep -q first-line "$T/follow.out"
ok "…and it waits for the build" kill -0 $fp
touch "$T/gate"
wait $fp
is "…it ends with the build: exit 0" "$?" 0
is "…having shown the whole log" "$(cat "$T/follow.out")" "first-line
second-line"
wait $bp
ok "log -f on a build that is over: its saved log" yonder log -f "$slow"
is "…the same" "$(cat "$T/.out")" "first-line
second-line"
recipe fails "echo about-to-fail; : > $T/fails.started; while [ ! -e $T/gate2 ]; do /bin/sleep 0.05; done; exit 4"
failing=$(yonder derivation --dry-run "$T/fails.scm")
yonder build "$T/fails.scm" > /dev/null 2>&1 &
bp=$!
at_exit_kill $bp
wait_for "the failing build to run" 20 test -e "$T/fails.started"
yonder log -f "$failing" > "$T/follow2.out" 2>&1 &
fp=$!
ok "log -f on a build that will fail" wait_for "its line" 20 grep -q about-to-fail "$T/follow2.out"
touch "$T/gate2"
wait $fp
is "…exit 100, as the build" "$?" 100
wait $bp
fails "log -f without a daemon is an error" env YONDER_DAEMON_SOCKET="$T/none" yonder log -f "$slow"

# ---- --keep-failed over the socket ------------------------------------------
recipe kept "echo in-build > marker; exit 2"
yonder build -K "$T/kept.scm" > /dev/null 2> "$T/kept.err"
is "-K through the daemon: exit 100" "$?" 100
like "…the kept directory is named" "$(cat "$T/kept.err")" "note: keeping build directory '$YONDER_STATE_DIR/builds/kept-[^']*'"
dir=$(sed -n "s/^note: keeping build directory '\(.*\)'$/\1/p" "$T/kept.err")
is "…and kept, with what the builder left" "$(cat "$dir/marker" 2>&1)" "in-build"
yonder build "$T/kept.scm" > /dev/null 2> "$T/notkept.err"
is "without -K nothing is kept" "$(grep -c 'keeping build directory' "$T/notkept.err")" 0

# ---- progress: the line redrawn every second, the summary ------------------
recipe tick "/bin/sleep 2.5; echo > \$out"
script -qfec "yonder build $T/tick.scm" /dev/null > "$T/tick.out" 2>&1
is "on a terminal, through the daemon: exit 0" "$?" 0
like "the status line is redrawn while the builder is silent" "$(tr '\r' '\n' < "$T/tick.out")" "\[0/1\] building tick on localhost \(2s\) · 1 running · 0 waiting"
like "…the summary" "$(cat "$T/tick.out")" "1 built \(localhost: 1\), 0 already valid, 0 failed, in [0-9.]+s"
script -qfec "yonder build $T/tick.scm" /dev/null > "$T/tick2.out" 2>&1
like "…a build already valid is counted as such" "$(cat "$T/tick2.out")" "0 built, 1 already valid, 0 failed"
yonder build --log-format=json "$T/tick.scm" "$T/one.scm" > /dev/null 2> "$T/valid.json"
is "JSON (python3): the summary counts the valid ones" "$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
s = [e for e in ev if e["event"] == "summary"][0]
print(s["built"], s["valid"], s["failed"], type(s["seconds"]).__name__)' "$T/valid.json")" "0 2 0 float"
stop_daemon
recipe tick2 "/bin/sleep 2.5; echo > \$out"
script -qfec "yonder build $T/tick2.scm" /dev/null > "$T/tick3.out" 2>&1
like "in-process, too: redrawn every second" "$(tr '\r' '\n' < "$T/tick3.out")" "\[0/1\] building tick2 on localhost \(2s\) · 1 running · 0 waiting"
script -qfec "yonder build $T/tick2.scm" /dev/null > "$T/tick4.out" 2>&1
like "…and the already valid one counted" "$(cat "$T/tick4.out")" "0 built, 1 already valid, 0 failed"
yonder build --log-format=json "$T/kept.scm" > /dev/null 2> "$T/kept.json"
is "JSON in-process (python3): events of a failure and the kept directory" "$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
fin = [e for e in ev if e["event"] == "build-finished"][0]
kept = [e for e in ev if e["event"] == "kept"]
print(fin["status"], fin["machine"], len(kept), [e for e in ev if e["event"] == "summary"][0]["failed"])' "$T/kept.json")" "failed localhost 0 1"

done_testing
