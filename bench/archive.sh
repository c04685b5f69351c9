#!/bin/sh
# bench/archive.sh — `yonder archive --export | yonder archive --import`
# between two stores, through a pipe, with and without zstd, against
# `nix-store --export | nix-store --import` (Nix 2.8, two separate stores)
# and `tar -c | tar -x` of the same trees, on a 1 GiB file and on 20,000
# small files (about 200 MiB, 100 directories of 200 files of 1 to 20 KiB).
#
# Both yonder stores are at the same path (store paths name their store),
# each bind-mounted there in its own mount namespace, as in the test
# cluster; so this needs root (Nix's nixrun.sh does too).
#
# Everything happens on a tmpfs (in a private mount namespace), so that
# the figures are those of the programs, not of this machine's disk: on
# the ext4 `discard` volume of the machines these were measured on, the
# same tar | tar ranged from 0.9 to 6 s from one run to the next, with
# the writeback and trims of earlier runs.  BENCH_DISK=1 runs on /tmp
# instead.  Best of 3, each run into a new, empty destination (removed
# after it, untimed).  yonder's import is durable (one syncfs() before the
# commit: nearly free on tmpfs), so tar is measured with `sync -f` of its
# destination too.
. "$(dirname "$0")/lib.sh"
need_nix
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

if [ -z "${BENCH_W:-}" ]; then
	W=$(mktemp -d /tmp/yonder-bench-archive.XXXXXX)
	_s=0
	if [ "${BENCH_DISK:-}" = 1 ]; then
		BENCH_W=$W sh "$0" || _s=$?
	else
		BENCH_W=$W unshare -m --propagation private \
			sh -c 'mount -t tmpfs -o size=16g yonder-bench "$BENCH_W" && exec sh "$0"' "$0" || _s=$?
	fi
	chmod -R u+w "$W" 2>/dev/null
	rm -rf "$W"
	exit $_s
fi
W=$BENCH_W
mkdir -p "$W/store" "$W/a/store" "$W/a/state" "$W/b" "$W/config" "$W/src/big"

# on MACHINE CMD...: runs CMD with MACHINE's store on $W/store.
on() {
	_m=$1
	shift
	mkdir -p "$W/$_m/store"
	YONDER_STORE_DIR="$W/store" YONDER_STATE_DIR="$W/$_m/state" YONDER_CONFIG_DIR="$W/config" \
		unshare -m --propagation private \
		sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' on "$W/$_m/store" "$W/store" "$@"
}
nixon() { # ROOT CMD...
	_r=$1
	shift
	ORACLE_NIX_ROOT="$W/$_r" "$NIXRUN" "$@" 2>/dev/null
}

# best_run N CMD: the best wall time of CMD over N runs; each run has a
# new $RUN (counted in a file: best_run runs in a subshell), to name its
# destination.
echo 0 > "$W/run"
best_run() {
	_n=$1 _cmd=$2 _best=""
	for _i in $(seq "$_n"); do
		RUN=$(($(cat "$W/run") + 1))
		echo $RUN > "$W/run"
		mkdir -p "$W/t$RUN"
		sync
		_t0=$(now)
		eval "$_cmd" >/dev/null 2>"$W/err" || { echo "bench: failed: $_cmd" >&2; cat "$W/err" >&2; return 1; }
		_t1=$(now)
		_t=$(echo "$_t1 - $_t0" | bc -l)
		if [ -z "$_best" ] || [ "$(echo "$_t < $_best" | bc -l)" = 1 ]; then _best=$_t; fi
		chmod -R u+w "$W/b$RUN" 2>/dev/null || true
		rm -rf "$W/b$RUN" "$W/nixB$RUN" "$W/t$RUN"
	done
	printf '%.3f\n' "$_best"
}

echo "bench: making inputs in $W" >&2
head -c 1073741824 /dev/urandom > "$W/src/big/big"
perl -e '
	srand(42);
	open my $r, "<", "/dev/urandom" or die;
	for my $d (0..99) {
		mkdir "$ARGV[0]/d$d" or die;
		for my $f (0..199) {
			my $n = 1024 + int(rand(19 * 1024));
			sysread($r, my $buf, $n) == $n or die;
			open my $h, ">", "$ARGV[0]/d$d/f$f" or die;
			print $h $buf;
			close $h;
		}
	}' "$(mkdir "$W/src/small" && echo "$W/src/small")"

on a "$YONDER" archive --generate-key --name bench-a >/dev/null
on a "$YONDER" archive --authorize < "$W/config/signing-key.pub"
ybig=$(on a "$YONDER" store add "$W/src/big/big")
ysmall=$(on a "$YONDER" store add "$W/src/small")
nbig=$(nixon nixA nix-store --add "$W/src/big/big")
nsmall=$(nixon nixA nix-store --add "$W/src/small")

for set in big small; do
	eval "yp=\$y$set np=\$n$set"
	if [ $set = big ]; then what="1 GiB file"; else what="20,000 files, 200 MiB"; fi
	yz=$(best_run 3 'on a "$YONDER" archive --export "$yp" | on b$RUN "$YONDER" archive --import')
	yn=$(best_run 3 'on a "$YONDER" archive --export --compression=none "$yp" | on b$RUN "$YONDER" archive --import')
	n=$(best_run 3 'nixon nixA nix-store --export "$np" | nixon nixB$RUN nix-store --import')
	ts=$(best_run 3 'tar -C "$W/src/$set" -cf - . | tar -C "$W/t$RUN" -xf - && sync -f "$W/t$RUN"')
	t=$(best_run 3 'tar -C "$W/src/$set" -cf - . | tar -C "$W/t$RUN" -xf -')
	row "export \\| import, $what, zstd:3" "$yz" "$n" "nix-store --export \\| --import" 2.0 ge
	row "export \\| import, $what, no compression" "$yn" "$n" "nix-store --export \\| --import" 2.0 ge
	row "export \\| import, $what, no compression (verified, durable)" "$yn" "$ts" "tar \\| tar, then sync -f" 1.5 le
	row "export \\| import, $what, no compression (verified, durable)" "$yn" "$t" "tar \\| tar, not synced" 1.5 le
done

if [ "${BENCH_DISK:-}" = 1 ]; then where="on disk (/tmp, ext4)"; else where="on tmpfs"; fi
emit_table archive "Archives: export | import between two stores, $where (bench/archive.sh)"
