# tests/t/lib.sh — shared by the shell tests; source it first.
#
# Gives each test its own scratch directory ($T) with its own store, state
# and config directories, a TAP producer, and cleanup of everything the test
# registers (processes by PID, directories).
#
#   . "$(dirname "$0")/lib.sh"
#   ok "name" cmd args...            passes when cmd exits 0
#   fails "name" cmd args...         passes when cmd exits non-zero (not 2+128)
#   is "name" "got" "want"
#   like "name" "text" "pattern"     grep -E pattern in text
#   wait_for "what" SECONDS cmd...   polls cmd until it succeeds or the deadline
#   at_exit_kill PID                 the PID is killed on exit
#   done_testing

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
YONDER="$TOP/${O:-build}/yonder"
PATH="$TOP/${O:-build}:$PATH"
export PATH
T=$(mktemp -d "${TMPDIR:-/tmp}/yonder-t.XXXXXX")
export YONDER_STORE_DIR="$T/store" YONDER_STATE_DIR="$T/state" YONDER_CONFIG_DIR="$T/config"
mkdir -p "$YONDER_STORE_DIR" "$YONDER_STATE_DIR" "$YONDER_CONFIG_DIR"
_n=0 _fail=0 _pids=""

_cleanup() {
	for p in $_pids; do kill -9 "$p" 2>/dev/null; done
	chmod -R u+w "$T" 2>/dev/null
	rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

_report() { # status name
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _fail=$((_fail + 1)); fi
}
ok() { _name=$1; shift; "$@" >"$T/.out" 2>"$T/.err"; _s=$?; _report $_s "$_name"; [ $_s -eq 0 ] || sed 's/^/#   /' "$T/.err" | head -20; return $_s; }
fails() { _name=$1; shift; "$@" >"$T/.out" 2>"$T/.err"; _s=$?; if [ $_s -ne 0 ] && [ $_s -lt 128 ]; then _report 0 "$_name"; else _report 1 "$_name"; echo "#   exit status $_s"; fi; }
is() { if [ "$2" = "$3" ]; then _report 0 "$1"; else _report 1 "$1"; printf '#   got:  %s\n#   want: %s\n' "$2" "$3"; fi; }
like() { if printf '%s\n' "$2" | grep -Eq -- "$3"; then _report 0 "$1"; else _report 1 "$1"; printf '#   text: %s\n#   want: /%s/\n' "$2" "$3"; fi; }
wait_for() { # what seconds cmd...
	_what=$1 _secs=$2; shift 2
	_end=$(($(date +%s) + _secs))
	while ! "$@" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$_end" ]; then echo "# timed out waiting for $_what"; return 1; fi
		sleep 0.02
	done
}
at_exit_kill() { _pids="$_pids $1"; }
done_testing() { echo "1..$_n"; [ $_fail -eq 0 ]; exit $?; }
