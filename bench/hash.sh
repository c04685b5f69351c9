#!/bin/sh
# bench/hash.sh — `yonder hash` and `yonder store add` against openssl and
# Nix 2.8, on a 1 GiB file and on 10,000 small files (100 directories of 100
# files of 10 B to 4 KiB).  Best of 3 runs each, warm page cache for all.
. "$(dirname "$0")/lib.sh"
need_nix
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

W=$(mktemp -d /tmp/yonder-bench.XXXXXX)
trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
export YONDER_STATE_DIR="$W/state" YONDER_CONFIG_DIR="$W/config"

echo "bench: making inputs in $W" >&2
head -c 1073741824 /dev/urandom > "$W/big"
perl -e '
	srand(42);
	for my $d (0..99) {
		mkdir "$ARGV[0]/d$d" or die;
		for my $f (0..99) {
			my $n = 10 + int(rand(4087));
			open my $h, ">", "$ARGV[0]/d$d/f$f" or die;
			print $h join("", map { chr(32 + int(rand(95))) } 1..$n);
			close $h;
		}
	}' "$(mkdir "$W/tree" && echo "$W/tree")"
"$YONDER" store dump "$W/tree" > "$W/tree.nar"

# A fresh store for each add, so every run does the whole work.  Each run
# gets new directories rather than reusing deleted ones: on ext4, creating
# many files right after deleting many is slow for a while, which would
# punish whichever tool runs second.
k=0
yadd() {
	k=$((k + 1))
	YONDER_STORE_DIR="$W/ys$k" YONDER_STATE_DIR="$W/yst$k" "$YONDER" store add "$1"
}
nadd() {
	k=$((k + 1))
	ORACLE_NIX_ROOT="$W/nix$k" "$NIXRUN" nix-store --add "$1"
}

y=$(best_of 3 "$YONDER" hash "$W/big")
o=$(best_of 3 openssl dgst -sha256 "$W/big")
n=$(best_of 3 nix-hash --type sha256 "$W/big")
row "hash, 1 GiB file" "$y" "$o" openssl 0.95 ge
row "hash, 1 GiB file" "$y" "$n" nix-hash 1.0 ge

y=$(best_of 3 "$YONDER" hash "$W/tree")
o=$(best_of 3 openssl dgst -sha256 "$W/tree.nar")
n=$(best_of 3 nix-hash --type sha256 "$W/tree")
row "hash, 10,000 files" "$y" "$o" "openssl on the NAR" - ge
row "hash, 10,000 files" "$y" "$n" nix-hash 1.0 ge

# Every add starts with no dirty data on the file system: otherwise yonder's
# syncfs would also wait for what earlier runs (and Nix, which never syncs)
# left to write.
BENCH_PRE=sync
y=$(best_of 3 yadd "$W/big")
n=$(best_of 3 nadd "$W/big")
row "store add, 1 GiB file (durable)" "$y" "$n" "nix-store --add" 0.8 le

# The floor for a durable copy of 1 GiB on this disk, for reading the row
# above: writing the bytes and waiting for them (Nix does not wait).
d=$(best_of 3 sh -c 'dd if="$1" of="$1.dd" bs=4M conv=fdatasync 2>/dev/null; rm -f "$1.dd"' sh "$W/big")
row "store add, 1 GiB file (durable)" "$y" "$d" "dd conv=fdatasync: the disk's floor" - ge

y=$(best_of 3 yadd "$W/tree")
n=$(best_of 3 nadd "$W/tree")
row "store add, 10,000 files (durable)" "$y" "$n" "nix-store --add" 0.8 le

# The same adds with both stores on tmpfs (/dev/shm): the disk's speed and
# other processes' dirty data (which syncfs also waits for) drop out, and
# what is left is each tool's own work.
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	S=$(mktemp -d /dev/shm/yonder-bench.XXXXXX)
	trap 'chmod -R u+w "$W" "$S" 2>/dev/null; rm -rf "$W" "$S"' EXIT
	cp "$W/big" "$S/big"
	cp -r "$W/tree" "$S/tree"
	W0=$W
	W=$S
	y=$(best_of 3 yadd "$S/big")
	n=$(best_of 3 nadd "$S/big")
	row "store add, 1 GiB file, on tmpfs" "$y" "$n" "nix-store --add" 0.8 le
	y=$(best_of 3 yadd "$S/tree")
	n=$(best_of 3 nadd "$S/tree")
	row "store add, 10,000 files, on tmpfs" "$y" "$n" "nix-store --add" 0.8 le
	W=$W0
fi

emit_table hash "Store core: hashing and adding (bench/hash.sh)"
