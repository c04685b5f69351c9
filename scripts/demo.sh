#!/bin/bash
# scripts/demo.sh — what `make demo` runs: three build machines on this host
# (tests/cluster.sh: network namespaces, a real sshd each, signing keys
# authorized both ways), a machines.scm in Guix's form, the daemon with
# --max-jobs 0 so that every build is offloaded, and examples/ built
# through it — hello-c (one derivation per object file, a link and a test
# run), a "kvm"-featured derivation and an "aarch64-linux" one.  Then the
# offload status, who built and signed each output, a full
# `yonder store verify --check-contents`, and everything torn down.
#
# Root only.  Each run starts from empty stores, so everything is built.
# The cluster lives in ${TMPDIR:-/tmp}/yonder-demo-<hash of this checkout>;
# a run killed with SIGKILL leaves it behind and the next run removes it
# first.  SIGINT and SIGTERM tear everything down before exiting.
#
# YONDER_DEMO_SAVE=DIR (for tests/t/t0910-demo.sh): before tearing down,
# copy the master's store, state and configuration to DIR/{store,state,config}
# and write DIR/summary, one line per output:
#   NAME<TAB>OUTPUT PATH<TAB>BUILT BY<TAB>SIGNING KEY NAMES (comma-separated)
set -u -o pipefail
umask 022

TOP=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
CL=$TOP/tests/cluster.sh
export YONDER_CLUSTER_YONDER=$TOP/$O/yonder YONDER_CLUSTER_QUIET=1
TMP=${TMPDIR:-/tmp}
DIR=$(realpath -m -- "$TMP/yonder-demo-$(printf '%s' "$TOP" | sha256sum | cut -c1-8)")
SAVE=${YONDER_DEMO_SAVE:-}
SYS=$(uname -m)-linux
EXAMPLES=(examples/hello-c/hello-c.scm examples/kvm.scm examples/aarch64.scm)

die() { echo "demo: $*" >&2; exit 1; }
# CMD || fail MESSAGE: a CMD that stopped on Ctrl-C (exit 130, or 143 for
# SIGTERM) ends the demo quietly with that status; any other failure dies.
fail() {
	local rc=$?
	case $rc in 130 | 143) exit $rc ;; esac
	die "$@"
}
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
secs() { local ms=$1; printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)); } # ms -> "1.23"
T0=$(now_ms)

[ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces and starts sshd)"
[ -x "$YONDER_CLUSTER_YONDER" ] || die "$YONDER_CLUSTER_YONDER: not built (run: make demo)"
M() { "$CL" -d "$DIR" exec master "$@"; } # a command in the master's namespace

# One demo per checkout at a time: a second one would take the first one's
# cluster for a stale one.  The lock is fd 9; what outlives a killed demo
# (the cluster, the daemon, the build) is started with 9<&- so that it
# does not keep the lock.
exec 9<"$TOP"
flock -n 9 || die "another demo is running from $TOP"

# ---- teardown -----------------------------------------------------------------

DPID="" CLEANED=0
stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	local i
	for ((i = 0; i < 500; i++)); do # 10 s
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=""
}
# `down` runs in its own session: a second Ctrl-C cannot cut it short.
cluster_down() { setsid -w "$CL" down "$DIR" </dev/null 9<&-; }
cleanup() {
	trap '' INT TERM
	[ $CLEANED = 0 ] || return 0
	CLEANED=1
	local t r=0
	t=$(now_ms)
	stop_daemon
	cluster_down || r=1
	if [ $r = 0 ]; then
		echo "torn down in $(secs $(($(now_ms) - t))) s (namespaces, sshd, daemon, stores); total $(secs $(($(now_ms) - T0))) s"
	else
		echo "demo: teardown failed; run: tests/cluster.sh down $DIR" >&2
	fi
	return $r
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'st=$?; cleanup || st=1; exit $st' EXIT

# ---- the live view of the builds ------------------------------------------------

# drv path -> its name: /yonder/store/<32 chars>-NAME.drv -> NAME
drv_name() { local n=${1##*/}; n=${n:33}; echo "${n%.drv}"; }

# Reads `yonder build --log-format=json` events on stdin.  Prints a line for
# each finished build (machine, status, name, time) and, when stdout is a
# terminal, a status line under them, redrawn in place, saying which
# machine builds what.  Writes the derivations that finished to $W/drvs.
render() {
	local tty=0 cols=80 line part='' r drv m st ms msg n shown=0 done_=0 total=0 t0
	local -A on=()
	[ -t 1 ] && tty=1 && cols=$(tput cols 2>/dev/null || echo 80)
	t0=$(now_ms)
	clear_line() { [ $shown = 0 ] || printf '\r\033[K'; shown=0; }
	draw() {
		[ $tty = 1 ] || return 0
		local s="" k mm
		local -A per=()
		for k in "${!on[@]}"; do per[${on[$k]}]+="${per[${on[$k]}]:+, }$(drv_name "$k")"; done
		[ "$total" = 0 ] || s="[$done_/$total] "
		s+="$(secs $(($(now_ms) - t0))) s"
		for mm in $(printf '%s\n' "${!per[@]}" | sort); do s+=" · $mm: ${per[$mm]}"; done
		clear_line
		printf '%s' "${s:0:$((cols - 1))}"
		shown=1
	}
	while :; do
		line=""
		IFS= read -r -t 0.2 line
		r=$?
		if [ $r -gt 128 ]; then # timeout: keep what came of the line, tick the clock
			part+=$line
			draw
			continue
		fi
		line=$part$line part=""
		[ $r = 0 ] || [ -n "$line" ] || break # end of input
		drv="" m=""
		[[ $line =~ \"drv\":\"([^\"]*)\" ]] && drv=${BASH_REMATCH[1]}
		[[ $line =~ \"machine\":\"([^\"]*)\" ]] && m=${BASH_REMATCH[1]}
		case $line in
		'{"event":"build-started"'*)
			on[$drv]=$m
			;;
		'{"event":"build-finished"'*)
			[[ $line =~ \"status\":\"([^\"]*)\" ]] && st=${BASH_REMATCH[1]}
			[[ $line =~ \"duration_ms\":([0-9]+) ]] && ms=${BASH_REMATCH[1]}
			[[ $line =~ \"message\":\"(.*)\"\} ]] && msg=${BASH_REMATCH[1]}
			unset "on[$drv]"
			n=$(drv_name "$drv")
			clear_line
			if [ "$st" = built ] || [ "$st" = valid ]; then
				printf '  %-3s %-6s %-18s %5s s\n' "$m" "$st" "$n" "$(secs "$ms")"
				echo "$drv" >>"$W/drvs"
			else
				printf '  %-3s %s %s: %s\n' "$m" "$st" "$n" "${msg:-}"
			fi
			;;
		'{"event":"progress"'*)
			[[ $line =~ \"done\":([0-9]+),\"total\":([0-9]+) ]] &&
				done_=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]}
			;;
		'{"event":"summary"'*) echo "$line" >"$W/summary.json" ;;
		'{"event":'*) ;;
		*)
			clear_line
			printf '%s\n' "$line"
			;;
		esac
		draw
	done
	clear_line
}

# ---- the offload status, one line per machine -------------------------------------

# `yonder offload status` prints a block per machine ("NAME", then
# "  field: value" lines); this makes a table of it.  Whatever it does not
# recognise is printed as it is.
status_table() {
	awk '
	function human(b) { return b >= 1048576 ? sprintf("%.1fM", b / 1048576) : b >= 1024 ? sprintf("%.1fk", b / 1024) : b "" }
	/^[^ ]/ { n++; name[n] = $1; next }
	/^  [a-z ]+: / { k = $0; sub(/^  /, "", k); v = k; sub(/:.*/, "", k); sub(/^[^:]*: /, "", v); f[n, k] = v; next }
	{ other = other $0 "\n" }
	END {
		if (!n || !((1, "slots") in f)) { printf "%s", raw; exit 1 }
		fmt = "  %-9s %-26s %-8s %5s %5s %-5s %5s %s\n"
		printf fmt, "machine", "systems", "features", "speed", "slots", "state", "built", "up/down"
		for (i = 1; i <= n; i++) {
			s = f[i, "slots"]; sub(/ used$/, "", s)
			h = f[i, "health"]; sub(/ .*/, "", h)
			split(f[i, "sent"], sr, " bytes, received: ")
			printf fmt, name[i], f[i, "systems"], f[i, "features"], f[i, "speed"], s, h, f[i, "builds done"], human(sr[1] + 0) "/" human(sr[2] + 0)
		}
		printf "%s", other
	}' raw="$1" <<<"$1"
}

# ---- the run ----------------------------------------------------------------------

# A run killed with SIGKILL leaves its cluster (and daemon) running: remove it.
if [ -e "$DIR" ] || ip netns list 2>/dev/null | grep -q "^yonder-$(printf '%s' "$DIR" | sha256sum | cut -c1-8)-m"; then
	echo "cleaning up what a previous run left in $DIR"
	cluster_down || fail "could not remove the previous run's cluster in $DIR"
fi

t=$(now_ms)
"$CL" up 3 "$DIR" >/dev/null </dev/null 9<&- || fail "the cluster did not start (tests/cluster.sh up 3 $DIR)"
W=$DIR/demo
mkdir "$W"
eval "$("$CL" env "$DIR")"
echo "yonder demo: 3 build machines, each a network namespace with its own sshd"
echo "and store, up in $(secs $(($(now_ms) - t))) s (tests/cluster.sh; in $DIR):"

# m3 declares aarch64-linux: the system is a label here (m3 is this host's
# CPU), which its extra-systems file lets it build.
echo aarch64-linux >"$M3_CONFIG/extra-systems"
cat >"$MASTER_CONFIG/machines.scm" <<EOF
;; The build machines of \`make demo\` (scripts/demo.sh), in Guix's form.
;; They share this host's CPUs, so their load is the host's: never hold a
;; build back for it (overload-threshold #f).
(list (build-machine
       (name "m1") (user "root") (host-key "$M1_HOST_KEY")
       (systems (list "$SYS"))
       (parallel-builds 2) (speed 1.) (overload-threshold #f))
      (build-machine
       (name "m2") (user "root") (host-key "$M2_HOST_KEY")
       (systems (list "$SYS"))
       (features '("kvm"))
       (parallel-builds 1) (speed 2.) (overload-threshold #f))
      (build-machine
       (name "m3") (user "root") (host-key "$M3_HOST_KEY")
       (systems (list "$SYS" "aarch64-linux"))
       (parallel-builds 2) (speed .5) (overload-threshold #f)))
EOF
echo "  m1  $SYS                 2 slots, speed 1"
echo "  m2  $SYS, feature kvm    1 slot,  speed 2"
echo "  m3  $SYS, aarch64-linux  2 slots, speed 0.5"

t=$(now_ms)
# In its own session: Ctrl-C reaches the demo, which stops the daemon last.
M setsid yonder daemon --max-jobs 0 </dev/null >"$W/daemon.log" 2>&1 9<&- &
DPID=$!
sock=$MASTER_STATE/daemon-socket/socket
for ((i = 0; i < 1000; i++)); do # 20 s
	[ -S "$sock" ] && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.02
done
if ! [ -S "$sock" ]; then
	tail -5 "$W/daemon.log" >&2
	die "the daemon did not start (its log is above)"
fi
echo "daemon started with --max-jobs 0, so every build goes to a machine ($(secs $(($(now_ms) - t))) s)"
echo "building ${EXAMPLES[*]}:"

: >"$W/drvs"
cd "$TOP" || fail "cannot enter $TOP"
# The socket named explicitly: if the daemon were gone, fail rather than
# build here.  --foreground: Ctrl-C must reach the build too.
timeout --foreground -k 5 75 "$CL" -d "$DIR" exec master \
	env YONDER_DAEMON_SOCKET=/var/yonder/daemon-socket/socket \
	yonder build --log-format=json -Q "${EXAMPLES[@]}" \
	2>&1 >"$W/outs" </dev/null 9<&- | render
rc=${PIPESTATUS[0]}
case $rc in 130 | 143) exit "$rc" ;; esac
if [ "$rc" != 0 ]; then
	[ "$rc" != 124 ] || echo "demo: the builds took more than 75 s; stopped" >&2
	echo "demo: the build failed (exit $rc); the daemon's last words:" >&2
	tail -8 "$W/daemon.log" >&2
	exit 1
fi
built=0
if [[ $(cat "$W/summary.json" 2>/dev/null) =~ \"built\":([0-9]+).*\"seconds\":([0-9.]+) ]]; then
	built=${BASH_REMATCH[1]}
	echo "$built derivations built in ${BASH_REMATCH[2]} s"
fi
[ "$built" -gt 0 ] || die "nothing was built (was every output valid already?)"

echo "yonder offload status (up/down: bytes copied to / from each machine):"
st=$(M yonder offload status 2>&1) || fail "yonder offload status failed: $st"
status_table "$st"

mapfile -t drvs <"$W/drvs"
mapfile -t outs < <(M yonder build -q "${drvs[@]}" 2>"$W/outs.err")
[ ${#outs[@]} = ${#drvs[@]} ] && [ ${#outs[@]} -gt 0 ] ||
	fail "could not list the outputs of the builds: $(head -3 "$W/outs.err")"
echo "outputs, where each was built and by whose key it is signed:"
printf '  %-18s %-8s %-9s %s\n' output "built by" "signed by" "store path"
: >"$W/summary"
for ((i = 0; i < ${#outs[@]}; i++)); do
	o=${outs[$i]}
	n=$(drv_name "${drvs[$i]}")
	builder=$(M yonder store query --built-by "$o") || fail "$o: no builder recorded"
	keys=$(M yonder store query --sigs "$o" | cut -d: -f1 | paste -sd,) || fail "$o: no signatures"
	b=${o##*/}
	printf '  %-18s %-8s %-9s %s\n' "$n" "$builder" "${keys:-NONE}" "${o%/*}/${b:0:8}…${b:32}"
	printf '%s\t%s\t%s\t%s\n' "$n" "$o" "$builder" "$keys" >>"$W/summary"
done
M yonder store verify --sigs "${outs[@]}" >/dev/null 2>"$W/sigs.err" ||
	die "the outputs' signatures do not verify: $(head -3 "$W/sigs.err")"
echo "  every signature verifies, by a machine's key in the master's ACL"
for o in "${outs[@]}"; do
	case $o in
	*-hello-c-greeting | *-kvm-check | *-aarch64-hello)
		printf '  %s says: %s\n' "$(basename "$o" | cut -c34-)" "$(head -1 "$MASTER_STORE/${o##*/}")"
		;;
	esac
done

t=$(now_ms)
npaths=$(find "$MASTER_STORE" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
M yonder store verify --check-contents || fail "yonder store verify --check-contents found the problems above"
echo "yonder store verify --check-contents: all $npaths paths match their hashes ($(secs $(($(now_ms) - t))) s)"

stop_daemon
if [ -n "$SAVE" ]; then
	mkdir -p "$SAVE"
	cp -a "$MASTER_STORE" "$SAVE/store" && cp -a "$MASTER_STATE" "$SAVE/state" &&
		cp -a "$MASTER_CONFIG" "$SAVE/config" && cp "$W/summary" "$SAVE/summary" ||
		die "could not save the master's store to $SAVE"
fi
exit 0
