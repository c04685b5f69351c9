#!/bin/bash
# `make demo` as a newcomer runs it: from a clean copy of the repository (the
# files `git ls-files -co --exclude-standard` lists, so new files count as a
# clone of the next commit would have them), with no make flags, no
# YONDER_* variables and a plain PATH.  It exits 0; every output it claims
# is valid in the master's store, built and signed by the machine it names
# (checked in a copy of that store the demo saves, YONDER_DEMO_SAVE); the
# "kvm" build ran on m2 and the "aarch64-linux" one on m3; it runs again;
# after a run killed with SIGKILL the next run cleans up and succeeds; and a
# run interrupted with SIGINT (as Ctrl-C sends it, to the whole process
# group) leaves no process, namespace, mount, route or temporary file.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
if ! git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then echo "1..0 # SKIP not a git checkout"; exit 0; fi
for c in /usr/sbin/sshd ssh ssh-keygen nsenter unshare setsid; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done

SRC=$T/src
export TMPDIR=$T/tmp # the demo's cluster directory and any temporary file go here
mkdir -p "$SRC" "$TMPDIR"
SYSPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DIRS="" PG=""

# Whatever happens: stop a demo still running, then any cluster it left.
cleanup_demo() {
	local d
	[ -z "$PG" ] || kill -9 -- "-$PG" 2>/dev/null
	for d in $DIRS "$TMPDIR"/yonder-demo-*; do
		[ -e "$d" ] || [[ $DIRS == *"$d"* ]] || continue
		YONDER_CLUSTER_QUIET=1 "$TOP/tests/cluster.sh" down "$d" >/dev/null 2>&1
	done
}
trap 'cleanup_demo; _cleanup' EXIT

(cd "$TOP" && git ls-files -co --exclude-standard -z) |
	while IFS= read -r -d '' f; do [ -e "$TOP/$f" ] && printf '%s\0' "$f"; done >"$T/files"
ok "copy the repository's files" sh -c 'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -' sh "$TOP" "$T/files" "$SRC"
ok "the copy has no build" test ! -e "$SRC/build"

# The environment of a fresh root shell: none of make's or the tests' own.
clean_env=(-u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u O -u SANITIZE -u DEVELOPER)
for v in $(compgen -e); do [[ $v != YONDER_* ]] || clean_env+=(-u "$v"); done
# make demo in the copy, output to OUT.  The timeout only keeps a hang from
# stalling CI: the first run also builds yonder.
demo() { # OUT [make args]
	local out=$1
	shift
	(cd "$SRC" && exec env "${clean_env[@]}" PATH="$SYSPATH" --default-signal=INT,TERM \
		timeout -k 10 600 make "$@" demo) </dev/null >"$out" 2>&1
}
# The cluster directory a demo printed: "... (tests/cluster.sh; in DIR):"
dir_of() { sed -n 's/.*(tests\/cluster\.sh; in \(\/[^)]*\)):$/\1/p' "$1" | head -1; }
# The output table: "  NAME  BUILT-BY  KEYS  /yonder/store/HASH8…-NAME"
table() { grep -E '^  [a-z0-9.-]+ +m[0-9] +[a-z0-9,]+ +/yonder/store/[a-z0-9]{8}…-' "$1"; }
nothing_left() { # DIR — the cluster of DIR is gone, and TMPDIR is empty
	local id
	id=$(printf '%s' "$1" | sha256sum | cut -c1-8)
	[ ! -e "$1" ] || { echo "# $1 still exists"; return 1; }
	[ -z "$(ip netns list | grep "^yonder-$id-")" ] || { echo "# namespaces of $1 left"; return 1; }
	! grep -qF "$1" /proc/self/mountinfo || { echo "# a mount under $1 left"; return 1; }
	[ -z "$(ls -A "$TMPDIR")" ] || { echo "# left in TMPDIR: $(ls -A "$TMPDIR")"; return 1; }
}
# S CMD... — yonder on the master's store as the demo saved it, mounted on
# /yonder/store in a private mount namespace (it dies with CMD).
mkdir -p /yonder/store
S() {
	unshare -m --propagation private sh -c 'mount --bind "$0" /yonder/store && exec "$@"' "$SAVE/store" \
		env YONDER_STORE_DIR=/yonder/store YONDER_STATE_DIR="$SAVE/state" YONDER_CONFIG_DIR="$SAVE/config" \
		"$SRC/build/yonder" "$@"
}

# ---- the first run: builds yonder in the copy, then the demo ------------------
SAVE=$T/save1
start=$(date +%s)
YONDER_DEMO_SAVE=$SAVE demo "$T/run1"
is "make demo exits 0" "$?" 0
echo "# make demo (build and demo) took $(($(date +%s) - start)) s; the demo says: $(grep -o 'total [0-9.]* s' "$T/run1")"
D=$(dir_of "$T/run1")
DIRS="$DIRS $D"
ok "it says where its cluster is ($D)" test -n "$D"
like "it says how the cluster came up" "$(cat "$T/run1")" "^yonder demo: 3 build machines"
sed -n '/^yonder demo:/,/^torn down/p' "$T/run1" >"$T/run1.demo"
n=$(wc -l <"$T/run1.demo")
ok "its output fits on one screen ($n lines from 'yonder demo' to 'torn down')" test "$n" -gt 10 -a "$n" -le 40
like "the offload status table" "$(cat "$T/run1")" "^  m2 +x86_64-linux +kvm +2 +0/1 +up +[1-9]"
like "the store verified" "$(cat "$T/run1")" "^yonder store verify --check-contents: all [0-9]+ paths match"
table "$T/run1" >"$T/claims"
is "seven outputs claimed" "$(wc -l <"$T/claims")" 7
is "the outputs named" "$(awk '{ print $1 }' "$T/claims" | sort | tr '\n' ' ')" \
	"aarch64-hello hello-c hello-c-count.o hello-c-greet.o hello-c-greeting hello-c-main.o kvm-check "
is "kvm-check claimed built by m2 (the kvm machine)" "$(awk '$1 == "kvm-check" { print $2 }' "$T/claims")" m2
is "aarch64-hello claimed built by m3 (the aarch64-linux machine)" "$(awk '$1 == "aarch64-hello" { print $2 }' "$T/claims")" m3
bad=0
while read -r name by keys _; do
	grep -Eq "^  $by +built +$name " "$T/run1" || { echo "# no '$by built $name' line"; bad=1; }
done <"$T/claims"
is "each was built in this run, by the machine the table names" "$bad" 0
ok "nothing left of the first run" nothing_left "$D"

# The claims against the master's store as it was before the teardown.
ok "the demo saved the master's store and a summary" test -s "$SAVE/summary" -a -d "$SAVE/store"
bad=0 checked=0
while IFS=$'\t' read -r name path by keys; do
	claim=$(awk -v n="$name" '$1 == n { print $2 " " $3 " " $4 }' "$T/claims")
	b=${path##*/}
	[ "$claim" = "$by $keys /yonder/store/${b:0:8}…${b:32}" ] || { echo "# $name: shown '$claim', summary '$by $keys $path'"; bad=1; }
	S store query --valid "$path" || { echo "# $path: not valid"; bad=1; }
	[ "$(S store query --built-by "$path")" = "$by" ] || { echo "# $path: not built by $by"; bad=1; }
	S store query --sigs "$path" | grep -q "^$by:" || { echo "# $path: no signature by $by"; bad=1; }
	S store verify --sigs "$path" >/dev/null || { echo "# $path: not trusted"; bad=1; }
	checked=$((checked + 1))
done <"$SAVE/summary"
is "every output shown is valid, built by and signed by the machine shown" "$bad/$checked" 0/7
ok "the saved store verifies (--check-contents)" S store verify --check-contents
kvm=$(awk -F'\t' '$1 == "kvm-check" { print $2 }' "$SAVE/summary")
arm=$(awk -F'\t' '$1 == "aarch64-hello" { print $2 }' "$SAVE/summary")
greet=$(awk -F'\t' '$1 == "hello-c-greeting" { print $2 }' "$SAVE/summary")
like "the kvm build ran on m2" "$(cat "$SAVE/store/${kvm##*/}")" "^built on m2,"
like "the aarch64-linux build ran on m3" "$(cat "$SAVE/store/${arm##*/}")" "^built on m3 for aarch64-linux$"
is "the C program ran" "$(cat "$SAVE/store/${greet##*/}")" "Hello, recipe reader! (2 words)"

# ---- it runs again, and builds again -------------------------------------------
demo "$T/run2"
is "a second run exits 0" "$?" 0
is "and builds all seven again" "$(grep -cE '^  m[0-9] +built ' "$T/run2")" 7
ok "nothing left of the second run" nothing_left "$(dir_of "$T/run2")"

# ---- killed with SIGKILL; the next run cleans up --------------------------------
# bg_demo OUT: make demo in its own session, whose id is PG (as a terminal's
# process group); its exit status goes to OUT.rc.  The wrapper's stderr is
# /dev/null: bash's "Killed" notice is not the test's output.
bg_demo() {
	(
		cd "$SRC" || exit 1
		setsid env "${clean_env[@]}" PATH="$SYSPATH" --default-signal=INT,TERM \
			make demo </dev/null >"$1" 2>&1 &
		echo $! >"$1.pid"
		wait $!
		echo $? >"$1.rc"
	) 2>/dev/null &
	wait_for "the demo to start" 10 test -s "$1.pid"
	PG=$(cat "$1.pid")
}
session_gone() { [ -z "$(ps -o pid= -s "$1")" ]; }
bg_demo "$T/run3"
ok "a third run gets to its builds" wait_for "the builds to start" 60 grep -q "^building " "$T/run3"
D=$(dir_of "$T/run3")
DIRS="$DIRS $D"
kill -9 -- "-$PG"
ok "killed with SIGKILL: its own processes are gone" wait_for "the session to end" 10 session_gone "$PG"
PG=""
ok "its cluster is left behind" test -e "$D/cluster"
demo "$T/run4"
is "the next run exits 0" "$?" 0
like "it cleaned up first" "$(cat "$T/run4")" "^cleaning up what a previous run left in $D$"
is "and built all seven" "$(grep -cE '^  m[0-9] +built ' "$T/run4")" 7
ok "nothing left after it" nothing_left "$D"

# ---- interrupted with SIGINT: nothing left --------------------------------------
bg_demo "$T/run5"
ok "a fifth run gets to its builds" wait_for "the builds to start" 60 grep -q "^building " "$T/run5"
D=$(dir_of "$T/run5")
DIRS="$DIRS $D"
read -r mnt <"$D/master/holder.mnt"
nets=""
for k in 1 2 3; do nets="$nets $(stat -L -c %i "/run/netns/yonder-$(printf '%s' "$D" | sha256sum | cut -c1-8)-m$k")"; done
kill -INT -- "-$PG"
ok "interrupted: make ends" wait_for "make to end" 60 test -s "$T/run5.rc"
rc=$(cat "$T/run5.rc")
ok "with a failure status ($rc)" test "$rc" -ne 0
ok "every process of its session ends" wait_for "the session to end" 10 session_gone "$PG"
PG=""
ok "no cluster, namespace, mount or temporary file left" nothing_left "$D"
in_ns() { # ns inode text, and inode numbers: any process still in one of them?
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" != "$1" ] || return 0
		for n in $nets; do [ "$(readlink "$p/ns/net" 2>/dev/null)" != "net:[$n]" ] || return 0; done
	done
	return 1
}
fails "no process left in the master's or the machines' namespaces" in_ns "$mnt"
like "the demo said it tore down" "$(cat "$T/run5")" "^torn down in "
done_testing
