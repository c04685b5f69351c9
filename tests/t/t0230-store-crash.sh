#!/bin/sh
# Crash safety of yonder store add: SIGKILL at each named point of a large
# add (YONDER_TEST_CRASH_AT) and from outside while it copies; afterwards
# the store verifies, the path is absent or complete, gc removes the
# leftovers, and a fresh add succeeds.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
temps() { ls -A "$S" | grep -c '^\.tmp-'; }
has_temp() { [ "$(temps)" -ge 1 ]; }
temp_has() { for t in "$S"/.tmp-*; do [ -e "$t/$1" ] && return 0; done; return 1; }
temp_file_over() { for t in "$S"/.tmp-*/"$1"; do [ "$(stat -c %s "$t" 2>/dev/null || echo 0)" -gt "$2" ]; return; done; }

# 200 MiB and 2,000 small files; the walk copies d00…d19 before zz-big.
mkdir "$T/big"
for d in $(seq -w 0 19); do
	mkdir "$T/big/d$d"
	for f in $(seq 1 100); do printf 'file %s %s\n' "$d" "$f" >"$T/big/d$d/f$f"; done
done
head -c 200M /dev/urandom >"$T/big/zz-big"
P=$(yonder store add --dry-run "$T/big")
H=$(yonder hash "$T/big")

check_after_crash() { # label, expected validity (valid|invalid), expected gc output
	ok "$1: the store verifies" yonder store verify --check-contents
	if yonder store query --valid "$P" 2>/dev/null; then v=valid; else v=invalid; fi
	is "$1: the path is $2" "$v" "$2"
	if [ "$v" = valid ]; then
		is "$1: and complete" "$(yonder store query --hash "$P")" "sha256:$H"
	fi
	ok "$1: gc" yonder store gc
	like "$1: gc removes $3" "$(cat "$T/.out" | tr '\n' ' ')" "$4"
	is "$1: no temporary left" "$(temps)" 0
	if [ "$v" = valid ]; then yonder store delete "$P"; else [ ! -e "$P" ]; fi
	is "$1: reset" "$?" 0
}

for point in copied renamed synced registered-before-commit registered; do
	# (the braces keep the shell's "Killed" notice off the output)
	s=$( { YONDER_TEST_CRASH_AT=$point yonder store add "$T/big" >/dev/null 2>&1; echo $?; } 2>/dev/null)
	is "killed at '$point'" "$s" 137
	case $point in
	copied) check_after_crash "$point" invalid "the temporary" "^removed $S/\.tmp-[0-9a-f]{16} \$" ;;
	registered) check_after_crash "$point" valid "nothing" "^\$" ;;
	*) check_after_crash "$point" invalid "the unregistered path" "^removed $P \$" ;;
	esac
done

# Timed kills from outside, while the add runs.
kill_when() { # label, wait condition...
	label=$1; shift
	yonder store add "$T/big" >/dev/null 2>&1 &
	pid=$!
	at_exit_kill $pid
	wait_for "$label" 60 "$@"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	s=$?
	ok "$label: the store verifies" yonder store verify --check-contents
	if yonder store query --valid "$P" 2>/dev/null; then
		# the add got as far as registering: then it must be complete
		is "$label: the path is complete" "$(yonder store query --hash "$P")" "sha256:$H"
		yonder store delete "$P"
	else
		is "$label: the path is absent (add killed)" "$s" 137
	fi
	ok "$label: gc" yonder store gc
	is "$label: nothing left" "$(temps):$([ -e "$P" ] && echo there)" "0:"
}
kill_when "kill as the temporary appears" has_temp
kill_when "kill amid the small files" temp_has d10
kill_when "kill amid the big file" temp_file_over zz-big 104857600
kill_when "kill after the rename" test -e "$P"

ok "a fresh add succeeds" yonder store add "$T/big"
is "it prints the path" "$(cat "$T/.out")" "$P"
ok "the store verifies" yonder store verify --check-contents
is "the path has the source's hash" "$(yonder store query --hash "$P")" "sha256:$H"
is "no stale lock file" "$(ls -A "$YONDER_STATE_DIR/locks")" ""
done_testing
