#!/bin/bash
# The commands shown in README.md and doc/offload.md run as written.
#
# They are read from the files at test time. The convention (stated at the
# end of doc/offload.md too):
#   - a command is a line of a ```sh fenced block that starts with a prompt:
#     "$ " (the machine you are on: in doc/offload.md the master) or
#     "HOST$ " (doc/offload.md: build1 or build2); a line ending in "\"
#     goes on on the next one. Other lines of the block are output.
#   - each command runs in its own `bash -c`, in a scratch directory that
#     holds a copy of examples/; it must exit 0, or the test fails naming
#     the file and line (a command that runs over 120 s fails too).
#     A command ending in " &" runs in the background
#     until the end (for `yonder daemon`, the test waits for its socket).
#   - `make …` lines are not run: the test runs on the build it tests, and
#     t0900 checks make install.
#   - a ```sh block whose first line starts with "# illustrative:" is not
#     run; each of its commands is reported as a SKIP with the reason.
#   - in doc/offload.md, a ```scheme block whose first line is
#     "; /ABSOLUTE/PATH" is written to that path on the master when it is
#     reached; every other ```scheme block must load as a machines file
#     (`yonder offload status` without a daemon).
# README.md runs on this host with the YONDER_* directories in $T.
# doc/offload.md runs on tests/cluster.sh machines (root and ip netns
# needed, else skipped): m1 and m2 are build1 and build2 (names added to the
# master's /etc/hosts and known_hosts, and each machine's own sshd host key
# bind-mounted on its /etc/ssh, in its private mount namespace); the keys and
# ACLs that cluster.sh made are removed first, so the guide's steps are what
# makes offloading work. The README's command table is checked too: each
# command of `yonder --help` is in it, each option it shows in the --help of
# its command.
. "$(dirname "$0")/lib.sh"

cat >"$T/extract.pl" <<'PERL'
# extract.pl FILE BLOCKDIR: one record per line, fields separated by tabs:
#   cmd LINE HOST TEXT (HOST "-" for "$ ") | skip LINE REASON TEXT | make LINE - TEXT |
#   file LINE PATH BLOCKFILE | scheme LINE - BLOCKFILE
use strict;
use warnings;
my ($file, $dir) = @ARGV;
open(my $in, '<', $file) or die "$file: $!";
my ($info, $first, $skip, $n, $pending, $pline) = (undef, 0, undef, 0, undef, 0);
my ($bfh, $bname, $bline, $bpath);
while (my $l = <$in>) {
	chomp $l;
	if (!defined $info) {
		next unless $l =~ /^```(\S*)\s*$/;
		($info, $first, $skip) = ($1, 1, undef);
		if ($info eq 'scheme') {
			$n++;
			$bname = "$dir/block$n.scm";
			open($bfh, '>', $bname) or die "$bname: $!";
			($bline, $bpath) = ($. + 1, undef);
		}
		next;
	}
	if ($l =~ /^```\s*$/) {
		if ($info eq 'scheme') {
			close($bfh) or die;
			print defined $bpath ? "file\t$bline\t$bpath\t$bname\n" : "scheme\t$bline\t-\t$bname\n";
		}
		$info = undef;
		next;
	}
	if ($info eq 'scheme') {
		$bpath = $1 if $first && $l =~ m{^;\s*(/\S+)\s*$};
		print $bfh "$l\n";
		$first = 0;
		next;
	}
	next unless $info eq 'sh';
	if ($first && $l =~ /^#\s*illustrative:\s*(.*)$/) { $skip = $1; }
	$first = 0;
	if (defined $pending) {
		$pending .= "\n$l";
	} elsif ($l =~ /^([A-Za-z0-9._-]*)\$ (.*)$/) {
		($pending, $pline) = ("$1\t$2", $.);
	} else {
		next;
	}
	next if $pending =~ /\\$/;
	my ($host, $text) = split /\t/, $pending, 2;
	$pending = undef;
	$text =~ s/\n/ /g;
	if (defined $skip) { print "skip\t$pline\t$skip\t$text\n"; }
	elsif ($text =~ /^make(\s|$)/) { print "make\t$pline\t-\t$text\n"; }
	else { print "cmd\t$pline\t", ($host eq '' ? '-' : $host), "\t$text\n"; }
}
die "$file: a ``` block is not closed\n" if defined $info;
PERL

skip() { _report 0 "$1 # SKIP $2"; }
unset YONDER_DAEMON_SOCKET # the README runs without a daemon
LIMIT=120 # seconds for one command: a hang fails the command, not the run
BG="" # background commands, killed at the end
stop_bg() {
	for p in $BG; do kill -TERM "$p" 2>/dev/null; done
	for p in $BG; do wait "$p" 2>/dev/null; done
	BG=""
}
setup_work() { # DIR: a scratch working directory with a copy of examples/
	mkdir -p "$1" && cp -R "$TOP/examples" "$1/"
}

# RUNNER FILE LABEL: runs the records of FILE; RUNNER HOST TEXT runs one
# command (in the background when BGMODE=1), FILEWRITER PATH BLOCKFILE
# writes a file block, SCHEMECHECK BLOCKFILE checks a Scheme block.
run_doc() {
	local file=$1 rel=$2 kind line a text s recs
	recs=$T/records.$(echo "$rel" | tr / _)
	mkdir -p "$T/blocks/$rel"
	if ! perl "$T/extract.pl" "$file" "$T/blocks/$rel" >"$recs" 2>"$T/extract.err"; then
		_report 1 "$rel: the commands can be extracted"
		sed 's/^/#   /' "$T/extract.err"
		return
	fi
	ok "$rel shows commands" test -s "$recs"
	while IFS='	' read -r kind line a text <&3; do
		[ "$a" != - ] || a=""
		case $kind in
		make) echo "# $rel:$line: not run (make): $text" ;;
		skip) skip "$rel:$line: $text" "illustrative: $a" ;;
		file) ok "$rel:$line: the block is written to $a" write_file "$a" "$text" ;;
		scheme) ok "$rel:$line: the machines file loads" check_scheme "$text" ;;
		cmd)
			if [[ $text =~ ^(.*[^&])[[:space:]]*\&[[:space:]]*(#.*)?$ ]]; then
				run_bg "$a" "${BASH_REMATCH[1]}"
				s=$?
				_report $s "$rel:$line: ${a:+$a\$ }$text"
				[ $s -eq 0 ] || sed 's/^/#   /' "$T/bg.err" | tail -20
			else
				ok "$rel:$line: ${a:+$a\$ }$text" run_cmd "$a" "$text"
			fi
			;;
		esac
	done 3<"$recs"
}

# --- README.md --------------------------------------------------------------
R=$T/readme
setup_work "$R/work"
export YONDER_STORE_DIR="$R/store" YONDER_STATE_DIR="$R/state" YONDER_CONFIG_DIR="$R/config"
mkdir -p "$YONDER_STORE_DIR" "$YONDER_STATE_DIR" "$YONDER_CONFIG_DIR"
run_cmd() { # HOST TEXT
	[ -z "$1" ] || { echo "no host '$1' for the README" >&2; return 1; }
	(cd "$R/work" && timeout -k 5 "$LIMIT" bash -c "$2") >&2 # shown on failure
}
run_bg() { # HOST TEXT
	(cd "$R/work" && exec bash -c "$2") >"$T/bg.out" 2>"$T/bg.err" &
	BG="$BG $!"
	at_exit_kill $!
	case $2 in *"yonder daemon"*) wait_for "the daemon's socket" 20 test -S "$YONDER_STATE_DIR/daemon-socket/socket" ;; esac
	kill -0 $! 2>/dev/null
}
write_file() { echo "README.md shows no file blocks" >&2; return 1; }
check_scheme() { echo "README.md shows no Scheme blocks" >&2; return 1; }
run_doc "$TOP/README.md" README.md
stop_bg

# The command table: every command of `yonder --help`, and only options of
# each command's --help.
COMMANDS=$(yonder --help | sed -n 's/^  \([a-z][a-z -]*[a-z]\)  .*/\1/p' | sed 's/ *$//')
like "yonder --help lists the commands" "$COMMANDS" "^store add$"
sed -n 's/^| `\(yonder [^`]*\)` |.*/\1/p' "$TOP/README.md" | sed 's/\\|/|/g' >"$T/table"
missing="" bad=""
while IFS= read -r c; do
	grep -q "^yonder $c\( \|$\)" "$T/table" || missing="$missing [$c]"
done <<<"$COMMANDS"
is "the README's table has every command" "$missing" ""
set -f # the rows hold [ and *: no globbing
while IFS= read -r row; do
	# shellcheck disable=SC2086
	set -- $row
	shift
	c=$1
	grep -Fqx "$1 ${2:-}" <<<"$COMMANDS" && c="$1 $2"
	yonder $c --help >"$T/help" 2>&1 || { bad="$bad [yonder $c --help fails]"; continue; }
	for o in $(grep -o -- '--[a-z][a-z0-9-]*' <<<"$row"); do
		grep -Eq -- "(^|[^A-Za-z0-9-])$o([^a-z0-9-]|\$)" "$T/help" || bad="$bad [yonder $c $o]"
	done
done <"$T/table"
set +f
is "every option in the table is in its command's --help" "$bad" ""

# --- doc/offload.md, on a cluster -----------------------------------------
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
	skip "doc/offload.md" "needs root and ip netns for tests/cluster.sh"
	done_testing
fi
CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
trap 'stop_bg; "$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT
ok "cluster up 2" "$CL" up 2 "$D" || done_testing
eval "$("$CL" env "$D")"
W=$T/offload
setup_work "$W"
for c in "$MASTER_CONFIG" "$M1_CONFIG" "$M2_CONFIG"; do rm -f "$c/signing-key.sec" "$c/signing-key.pub" "$c/acl"; done
for k in 1 2; do
	addr_var=M${k}_ADDR
	addr=${!addr_var}
	# Appending keeps the files' inodes: they are bind-mounted or linked.
	echo "$addr build$k" >>"$D/master/hosts"
	echo "build$k $(cut -d' ' -f1,2 "$D/m$k/host_key.pub")" >>"$D/master/known_hosts"
	mkdir "$T/etc-ssh-m$k"
	cp "$D/m$k/host_key.pub" "$T/etc-ssh-m$k/ssh_host_ed25519_key.pub"
	ok "m$k's host key is on its /etc/ssh" "$CL" exec "$k" mount --bind "$T/etc-ssh-m$k" /etc/ssh
done
target() { # the doc's host -> a cluster target
	case $1 in "" | master) echo master ;; build1) echo 1 ;; build2) echo 2 ;; *) return 1 ;; esac
}
run_cmd() {
	local t
	t=$(target "$1") || { echo "no machine '$1' in the cluster" >&2; return 1; }
	(cd "$W" && timeout -k 5 "$LIMIT" "$CL" exec "$t" bash -c "$2") >&2
}
run_bg() {
	local t
	t=$(target "$1") || { echo "no machine '$1' in the cluster" >&2 >"$T/bg.err"; return 1; }
	(cd "$W" && exec "$CL" exec "$t" bash -c "$2") >"$T/bg.out" 2>"$T/bg.err" &
	BG="$BG $!"
	case $2 in *"yonder daemon"*) wait_for "the daemon's socket" 20 test -S "$MASTER_STATE/daemon-socket/socket" ;; esac
	kill -0 $! 2>/dev/null
}
write_file() { # PATH BLOCKFILE, on the master
	"$CL" exec master sh -c 'cat >"$1"' sh "$1" <"$2"
}
check_scheme() { # BLOCKFILE loads as a machines file, on the master
	local c=$T/chk.$RANDOM
	mkdir -p "$c/config" "$c/state"
	cp "$1" "$c/config/machines.scm"
	"$CL" exec master env YONDER_CONFIG_DIR="$c/config" YONDER_STATE_DIR="$c/state" \
		yonder offload status >"$c/out" || return 1
	grep -q '^daemon not running' "$c/out"
}
run_doc "$TOP/doc/offload.md" doc/offload.md

# What the guide's steps made is what offloading needs.
ok "after the guide, yonder offload test is all green" "$CL" exec master yonder offload test
is "ten checks passed" "$(grep -c ': ok: ' "$T/.out")" 10
ok "the guide's build is valid on the master" \
	"$CL" exec master bash -c "cd '$W' && yonder store query --valid \$(yonder build -Q examples/hello.scm)"
like "and was built by a build machine" \
	"$(cd "$W" && "$CL" exec master bash -c 'yonder store query --built-by $(yonder build -Q examples/hello.scm)')" "^m[12]$"
stop_bg
done_testing
