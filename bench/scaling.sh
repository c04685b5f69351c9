#!/bin/bash
# bench/scaling.sh — how offload throughput grows with the number of build
# machines: 200 independent builds of `sleep 0.2` sent to 1, 2, 4 and 8
# machines of 2 slots each, by yonder (daemon with --max-jobs 0 in the
# master of a tests/cluster.sh cluster, machines in their own namespaces
# behind real sshd) and by Nix 2.8 (nix-store --realise --max-jobs 0
# --builders with one entry per peer of bench/nix-peers.sh, each peer an
# sshd on loopback with its own /nix).  The derivations are written
# beforehand (untimed), with a fresh nonce for every run, so each run builds
# everything afresh; the time is that of the build command alone, one run
# per point.  Writes bench/scaling.svg and the "scaling" section of
# BENCHMARKS.md.
#
# SCALING_BUILDS (default 200) and SCALING_MACHINES (default "1 2 4 8")
# make a shorter run for trying the script out; SCALING_SVG and SCALING_MD
# write the plot and the section elsewhere.
. "$(dirname "$0")/lib.sh"
set -o pipefail

NB=${SCALING_BUILDS:-200}
MACHINES=${SCALING_MACHINES:-"1 2 4 8"}
SLEEP=0.2
SLOTS=2
LIMIT=170 # seconds allowed to one build command before it counts as failed
CL=$BTOP/tests/cluster.sh
PEERS=$BTOP/bench/nix-peers.sh
SVG=${SCALING_SVG:-$BTOP/bench/scaling.svg}
sys=x86_64-linux

[ "$(id -u)" = 0 ] || { echo "bench/scaling.sh: needs root (namespaces, sshd)" >&2; exit 1; }
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
need_nix

maxn=0
for n in $MACHINES; do [ "$n" -le "$maxn" ] || maxn=$n; done
W=$(mktemp -d /tmp/yonder-scaling.XXXXXX)
DPID="" CPID=""
cleanup() {
	local keep=""
	trap - EXIT INT TERM
	if [ -n "$CPID" ]; then
		kill -TERM "$CPID" 2>/dev/null || true
		wait "$CPID" 2>/dev/null || true
	fi
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
	fi
	YONDER_CLUSTER_QUIET=1 "$CL" down "$W/cluster" || keep=1
	"$PEERS" down "$W/nix" || keep=1
	if [ -n "$keep" ]; then
		echo "bench/scaling.sh: could not stop everything; $W kept" >&2
		return
	fi
	chmod -R u+w "$W" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "bench/scaling.sh: interrupted" >&2; exit 130' INT TERM
# limited OUT ERR CMD...: CMD with a deadline of $LIMIT s, run in the
# background so that a signal to this script is acted upon at once.
limited() {
	local out=$1 err=$2 st=0
	shift 2
	timeout "$LIMIT" "$@" >"$out" 2>"$err" &
	CPID=$!
	wait "$CPID" || st=$?
	CPID=""
	return $st
}
say() { echo "scaling: $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---- the machines: one cluster of $maxn for yonder, $maxn Nix peers --------
export YONDER_CLUSTER_QUIET=1
"$CL" up "$maxn" "$W/cluster" >/dev/null
eval "$("$CL" env "$W/cluster")"
"$PEERS" up "$maxn" "$W/nix"
eval "$("$PEERS" env "$W/nix")"
say "$maxn yonder machines and $maxn Nix peers up"

# ---- yonder ------------------------------------------------------------------
SOCK=$MASTER_STATE/daemon-socket/socket
M() { "$CL" exec master "$YONDER" "$@"; }

# Every machine of the cluster shares this host's load average, which other
# work on the host drives up: with the default overload-threshold (0.8 per
# core) the machines would often all count as overloaded and each slot wait
# out the load report (10 s) between builds.  Nix 2.8 has no such check.
machines_scm() { # N
	echo "(list"
	for i in $(seq 1 "$1"); do
		eval "hk=\$M${i}_HOST_KEY"
		# shellcheck disable=SC2154
		printf '  (build-machine (name "m%s") (user "root") (host-key "%s")\n' "$i" "$hk"
		printf '    (systems (list "%s")) (parallel-builds %s) (overload-threshold #f))\n' "$sys" "$SLOTS"
	done
	echo ")"
}

recipe() { # NONCE
	cat <<EOF
(define (mk i) (derivation (name (string-append "scaling-" (number->string i)))
  (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "/bin/sleep $SLEEP; echo $1 " (number->string i) " > \$out"))))
EOF
	printf "(map mk '("
	seq -s ' ' 1 "$NB"
	echo "))"
}

daemon_up() {
	rm -f "$SOCK"
	"$CL" exec master "$YONDER" daemon --max-jobs 0 2>>"$W/daemon.log" &
	DPID=$!
	for _ in $(seq 1 1000); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.01
	done
	say "the daemon did not start; its log:"
	tail -20 "$W/daemon.log" >&2
	exit 1
}
daemon_down() {
	kill -TERM "$DPID"
	wait "$DPID" || true
	DPID=""
}

# yonder_run N / nix_run N: set RES to the seconds taken, or "fail"; each
# machine's count of builds goes to $W/yonder-N.by / $W/nix-N.by.  (Not run
# in $(...): the daemon's PID must stay visible to cleanup.)
yonder_run() {
	machines_scm "$1" >"$MASTER_CONFIG/machines.scm"
	recipe "y$1-$$-$(date +%s%N)" >"$W/y.scm"
	daemon_up
	M derivation "$W/y.scm" >"$W/y.drvs"
	[ "$(wc -l <"$W/y.drvs")" = "$NB" ] || { say "yonder derivation: expected $NB .drv paths"; exit 1; }
	mapfile -t drvs <"$W/y.drvs"
	_t0=$(now)
	if ! limited "$W/y.outs" "$W/y.err" "$CL" exec master "$YONDER" build -Q "${drvs[@]}"; then
		say "yonder: the build of $NB on $1 machines failed or took over $LIMIT s:"
		tail -5 "$W/y.err" >&2
		daemon_down
		RES=fail
		return 0
	fi
	_t=$(echo "$(now) - $_t0" | bc -l)
	[ "$(wc -l <"$W/y.outs")" = "$NB" ] || { say "yonder build: expected $NB outputs"; exit 1; }
	M offload status --json >"$W/y.status"
	daemon_down
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s:%d" % (m["name"], m["builds_done"]) for m in d["machines"] if m["builds_done"]))' \
		"$W/y.status" >"$W/yonder-$1.by"
	RES=$(printf '%.2f' "$_t")
}

# ---- Nix ---------------------------------------------------------------------
cat >"$W/scaling.nix" <<EOF
{ nonce, n }:
builtins.genList (i: builtins.derivation {
  name = "scaling-\${toString i}";
  system = "$sys";
  builder = "/bin/sh";
  args = [ "-c" "/bin/sleep $SLEEP; echo \${nonce} \${toString i} > \$out" ];
}) n
EOF

nix_run() {
	_b=$(echo "$NIX_PEERS_BUILDERS" | cut -d';' -f1-"$1")
	"$NIXRUN" nix-instantiate "$W/scaling.nix" --argstr nonce "n$1-$$-$(date +%s%N)" --arg n "$NB" \
		2>/dev/null >"$W/n.drvs"
	[ "$(wc -l <"$W/n.drvs")" = "$NB" ] || { say "nix-instantiate: expected $NB .drv paths"; exit 1; }
	mapfile -t drvs <"$W/n.drvs"
	_t0=$(now)
	if ! limited "$W/n.outs" "$W/n.err" "$NIXRUN" nix-store --realise --max-jobs 0 --builders "$_b" "${drvs[@]}"; then
		say "Nix: the build of $NB on $1 machines failed or took over $LIMIT s:"
		grep -v '^\(building\|copying\) ' "$W/n.err" | tail -5 >&2
		RES=fail
		return 0
	fi
	_t=$(echo "$(now) - $_t0" | bc -l)
	[ "$(wc -l <"$W/n.outs")" = "$NB" ] || { say "nix-store --realise: expected $NB outputs"; exit 1; }
	sed -n "s/^building .* on 'ssh:\/\/nix-peer\([0-9]*\)'.*/p\1/p" "$W/n.err" | sort | uniq -c |
		awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " } END { print "" }' >"$W/nix-$1.by"
	RES=$(printf '%.2f' "$_t")
}

# ---- measure: yonder then Nix at each size, so both see the same load -------
fmt_rate() { [ "$1" = fail ] && echo — || printf '%.1f' "$(echo "$NB / $1" | bc -l)"; }
fmt_time() { [ "$1" = fail ] && echo "failed or > $LIMIT" || echo "$1"; }
rows="" spread="" data=()
for n in $MACHINES; do
	ly=$(load1)
	yonder_run "$n"
	ty=$RES
	say "yonder, $n machines: $ty s (load $ly; builds per machine: $(cat "$W/yonder-$n.by" 2>/dev/null))"
	ln=$(load1)
	nix_run "$n"
	tn=$RES
	say "Nix,    $n machines: $tn s (load $ln; builds per machine: $(cat "$W/nix-$n.by" 2>/dev/null))"
	ideal=$(printf '%.2f' "$(echo "$NB * $SLEEP / ($SLOTS * $n)" | bc -l)")
	rows="$rows| $n | $(fmt_time "$ty") | $(fmt_time "$tn") | $ideal | $(fmt_rate "$ty") | $(fmt_rate "$tn") | $ly / $ln |
"
	data+=("$n:$ty:$tn")
	spread="$spread
- $n machine$([ "$n" = 1 ] || echo s): yonder $(cat "$W/yonder-$n.by" 2>/dev/null || echo —); Nix $(cat "$W/nix-$n.by" 2>/dev/null || echo —)"
done

# ---- the plot ------------------------------------------------------------------
python3 - "$SVG" "$NB" "$SLEEP" "$SLOTS" "${data[@]}" <<'PY'
import sys
out, nb, sleep, slots = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pts = []
for a in sys.argv[5:]:
    n, ty, tn = a.split(":")
    rate = lambda t: None if t == "fail" else nb / float(t)
    pts.append((int(n), rate(ty), rate(tn)))
ideal = lambda n: slots * n / sleep
W, H, L, R, T, B = 640, 440, 70, 60, 70, 60
xmax = max(p[0] for p in pts)
ymax = max([ideal(xmax)] + [v for p in pts for v in p[1:] if v is not None])
step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500) if ymax / s <= 8)
ytop = step * -(-ymax // step)
X = lambda n: L + (W - L - R) * n / xmax
Y = lambda v: H - B - (H - T - B) * v / ytop
o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
     'font-family="sans-serif" font-size="13">' % (W, H, W, H),
     '<rect width="100%" height="100%" fill="white"/>',
     '<text x="%d" y="26" font-size="16" font-weight="bold">Offload throughput against build machines</text>' % L,
     '<text x="%d" y="46" fill="#444">%d independent builds of sleep %g s, %d slots per machine</text>'
     % (L, nb, sleep, slots)]
v = 0
while v <= ytop:
    o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, Y(v), Y(v)))
    o.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (L - 6, Y(v) + 4, v))
    v += step
for n in [0] + [p[0] for p in pts]:
    o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>' % (X(n), X(n), H - B, H - B + 5))
    o.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (X(n), H - B + 20, n))
o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>' % (L, W - R, H - B, H - B))
o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>' % (L, L, T, H - B))
o.append('<text x="%.1f" y="%d" text-anchor="middle">build machines</text>' % ((L + W - R) / 2, H - 14))
o.append('<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">builds per second</text>'
         % ((T + H - B) / 2))
series = [("ideal (2 slots × N / 0.2 s)", "#888", [(0, 0)] + [(p[0], ideal(p[0])) for p in pts], "6 4"),
          ("yonder", "#1f6fd1", [(p[0], p[1]) for p in pts if p[1] is not None], None),
          ("Nix 2.8", "#d1541f", [(p[0], p[2]) for p in pts if p[2] is not None], None)]
for i, (name, colour, xy, dash) in enumerate(series):
    if xy:
        o.append('<polyline fill="none" stroke="%s" stroke-width="2.5"%s points="%s"/>' % (
            colour, ' stroke-dasharray="%s"' % dash if dash else "",
            " ".join("%.1f,%.1f" % (X(n), Y(r)) for n, r in xy)))
        if not dash:
            for n, r in xy:
                o.append('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s, %d machines: %.1f builds/s'
                         '</title></circle>' % (X(n), Y(r), colour, name, n, r))
                # yonder's figures right of its points (the ideal runs
                # above them), Nix's above and left of its own.
                right = name == "yonder"
                o.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="%s" fill="%s">%.1f</text>' % (
                    X(n) + (8 if right else -5), Y(r) + (4 if right else -7),
                    "start" if right else "end", colour, r))
    ly = T + 12 + 22 * i  # the legend, in the empty top left corner
    o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/>' % (
        L + 14, L + 38, ly, ly, colour, ' stroke-dasharray="%s"' % dash if dash else ""))
    o.append('<text x="%d" y="%d" font-size="12">%s</text>' % (L + 44, ly + 4, name))
o.append("</svg>")
with open(out + ".tmp", "w") as f:
    f.write("\n".join(o) + "\n")
import os
os.replace(out + ".tmp", out)
PY

# ---- the section of BENCHMARKS.md ----------------------------------------------
section="### Offload scaling with the number of machines (bench/scaling.sh)

Measured $(machine_line). $NB independent builds of \`sleep $SLEEP\`, every machine $SLOTS slots, the master with \`--max-jobs 0\`; one run per point (the .drv files written beforehand, untimed). yonder: \`yonder build\` through the daemon to machines of a \`tests/cluster.sh\` cluster (network namespaces, real sshd), \`(overload-threshold #f)\` since they all share this host's load average. Nix: \`nix-store --realise --max-jobs 0 --builders\` with one entry per peer of \`bench/nix-peers.sh\` (sshd on loopback, own /nix). All machines share this host's cores. Load is the 1-minute load average when each run started. Nix's master starts remote builds at a rate of its own whatever the number of machines (builds of \`sleep 2\` do spread over 8 peers), so with builds this short it keeps only a few peers busy: see the builds per machine below the table.

![builds per second against the number of machines, yonder and Nix 2.8](bench/scaling.svg)

| machines | yonder s | Nix s | ideal s ($NB×$SLEEP/($SLOTS·N)) | yonder builds/s | Nix builds/s | load (yonder / Nix) |
| --- | --- | --- | --- | --- | --- | --- |
$rows
Builds per machine (yonder: \`yonder offload status\`; Nix: its \`building … on\` lines):
$spread
"
printf '%s\n' "$section"
BM=${SCALING_MD:-$BTOP/BENCHMARKS.md}
[ -f "$BM" ] || printf '# Benchmarks\n\nWritten by `make bench`; each section by its `bench/` script.\n' >"$BM"
tmp=$(mktemp)
if grep -q '^<!-- bench:scaling -->$' "$BM"; then
	awk -v text="$section" '
		$0 == "<!-- bench:scaling -->" { print; print text; skip = 1; next }
		$0 == "<!-- /bench:scaling -->" { skip = 0 }
		!skip { print }' "$BM" >"$tmp"
else
	{ cat "$BM"; printf '\n<!-- bench:scaling -->\n%s\n<!-- /bench:scaling -->\n' "$section"; } >"$tmp"
fi
cat "$tmp" >"$BM"
rm -f "$tmp"
