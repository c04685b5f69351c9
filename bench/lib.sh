# bench/lib.sh — shared by the benchmark scripts.
#
#   best_of N CMD...        runs CMD N times, prints the best wall time (s);
#                           $BENCH_PRE, if set, runs untimed before each run
#   row FIGURE YONDER REF TARGET_RATIO DIRECTION
#                           appends a table row; DIRECTION "le" means the
#                           target is ratio <= TARGET, "ge" ratio >= TARGET
#   emit_table TITLE        prints the table and rewrites its section in
#                           BENCHMARKS.md (between <!-- bench:NAME --> marks)
set -eu
BTOP=$(cd "$(dirname "$0")/.." && pwd)
YONDER=${YONDER:-$BTOP/build/yonder}
NIXRUN=${NIXRUN:-$BTOP/bench/nixrun.sh} # Nix 2.8 against a private store
_rows=""

now() { date +%s.%N; }

best_of() { # n cmd...
	_n=$1; shift
	_best=""
	_i=0
	while [ $_i -lt "$_n" ]; do
		# BENCH_PRE (e.g. sync) runs before each timed run, untimed.
		if [ -n "${BENCH_PRE:-}" ]; then $BENCH_PRE; fi
		_t0=$(now)
		"$@" >/dev/null 2>&1 || { echo "bench: command failed: $*" >&2; return 1; }
		_t1=$(now)
		_t=$(echo "$_t1 - $_t0" | bc -l)
		if [ -z "$_best" ] || [ "$(echo "$_t < $_best" | bc -l)" = 1 ]; then _best=$_t; fi
		_i=$((_i + 1))
	done
	printf '%.3f\n' "$_best"
}

# row "figure" yonder_seconds reference_seconds reference_name target direction
# The ratio is yonder's time over the reference's time (lower is better);
# for "ge" targets it is expressed as throughput (reference time / yonder's).
row() {
	_fig=$1 _y=$2 _r=$3 _rname=$4 _tgt=$5 _dir=$6
	if [ "$_tgt" = - ]; then # for information: no target
		_ratio=$(printf '%.2f' "$(echo "$_r / $_y" | bc -l)")
		_rows="$_rows| $_fig | ${_y} s | ${_r} s ($_rname) | $_ratio (throughput) | — | — |
"
		return
	fi
	if [ "$_dir" = ge ]; then
		_ratio=$(printf '%.2f' "$(echo "$_r / $_y" | bc -l)")
		_met=$([ "$(echo "$_ratio >= $_tgt" | bc -l)" = 1 ] && echo yes || echo no)
		_tdesc="throughput ≥ ${_tgt}×"
	else
		_ratio=$(printf '%.2f' "$(echo "$_y / $_r" | bc -l)")
		_met=$([ "$(echo "$_ratio <= $_tgt" | bc -l)" = 1 ] && echo yes || echo no)
		_tdesc="time ≤ ${_tgt}×"
	fi
	_rows="$_rows| $_fig | ${_y} s | ${_r} s ($_rname) | $_ratio | $_tdesc | $_met |
"
}

machine_line() {
	_cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
	echo "$(date -u +%Y-%m-%d), $(nproc) cores, $_cpu; yonder $("$YONDER" --version | cut -d' ' -f2), $(openssl version | cut -d' ' -f1-2), $(nix-store --version 2>/dev/null || echo 'Nix not installed')"
}

emit_table() { # name title
	_name=$1 _title=$2
	_table="### $_title

Measured $(machine_line).

| figure | yonder | reference | ratio | target | met |
| --- | --- | --- | --- | --- | --- |
$_rows"
	printf '%s\n' "$_table"
	_bm="$BTOP/BENCHMARKS.md"
	[ -f "$_bm" ] || printf '# Benchmarks\n\nWritten by `make bench`; each section by its `bench/` script.\n' > "$_bm"
	_tmp=$(mktemp)
	if grep -q "<!-- bench:$_name -->" "$_bm"; then
		awk -v name="$_name" -v table="$_table" '
			$0 == "<!-- bench:" name " -->" { print; print table; skip = 1; next }
			$0 == "<!-- /bench:" name " -->" { skip = 0 }
			!skip { print }' "$_bm" > "$_tmp"
	else
		{ cat "$_bm"; printf '\n<!-- bench:%s -->\n%s\n<!-- /bench:%s -->\n' "$_name" "$_table" "$_name"; } > "$_tmp"
	fi
	mv "$_tmp" "$_bm"
}

need_nix() {
	command -v nix-store >/dev/null 2>&1 && return 0
	echo "bench: installing nix-bin (the reference)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
}
