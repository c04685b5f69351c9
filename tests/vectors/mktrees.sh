#!/bin/sh
# mktrees.sh DIR — creates the vector trees under DIR (made if missing),
# deterministically: same names, bytes, modes and symlink targets on every
# run.  The trees themselves are not committed; make-vectors.sh records what
# Nix 2.8 says about them and the tests rebuild them with this script.
#
# Every tree's name is a valid store path name (nix-store --add names the
# store path after it).  Needs only sh, printf, chmod, ln and perl-base.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
D=$1
mkdir -p "$D"
cd "$D"
umask 022

# file NAME CONTENT-FORMAT [ARGS] — a non-executable regular file.
file() { _f=$1; shift; printf "$@" >"$_f"; chmod 0644 "$_f"; }
xfile() { _f=$1; shift; printf "$@" >"$_f"; chmod 0755 "$_f"; }

# Deterministic pseudo-random bytes: xorshift32 with a fixed seed, written
# little-endian, cut to N bytes.
prng() { # N FILE
	perl -e '
		my ($n, $x) = ($ARGV[0], 2463534242);
		binmode STDOUT;
		while ($n > 0) {
			my $buf = "";
			for (1 .. 16384) {
				$x ^= ($x << 13) & 0xffffffff;
				$x ^= $x >> 17;
				$x ^= ($x << 5) & 0xffffffff;
				$buf .= pack("V", $x);
			}
			$buf = substr($buf, 0, $n) if length($buf) > $n;
			print $buf;
			$n -= length($buf);
		}' "$1" >"$2"
	chmod 0644 "$2"
}

E_ACUTE=$(printf '\303\251')      # é
N_TILDE=$(printf '\303\261')      # ñ
A_UMLAUT=$(printf '\303\204')     # Ä
NIHONGO=$(printf '\346\227\245\346\234\254\350\252\236') # 日本語
GRIN=$(printf '\360\237\230\200') # U+1F600

file empty-file ''
xfile exec-file '#!/bin/sh\necho hello\n'
xfile exec-empty ''
file file-1 'a'
file file-7 '1234567'
file file-8 '12345678'
file file-13 'hello, world\n'
prng 3145741 big-file # 3 MiB + 13 bytes: the last 8-byte word is padded

mkdir empty-dir

# Entry names whose byte order differs from any locale's collation:
# "A.b" < "B" < "Z9" < "_x" < "a" < "a-b" < "a.b" < "aa" < "~" < "é",
# while a locale such as en_US.UTF-8 collates them otherwise (case folded,
# punctuation ignored, "é" next to "e").
mkdir sorting sorting/B sorting/_x sorting/B/deeper "sorting/$E_ACUTE"
file sorting/a 'a\n'
file sorting/A.b 'A.b\n'
file sorting/Z9 'Z9\n'
file sorting/a-b 'a-b\n'
file sorting/a.b 'a.b\n'
file sorting/aa 'aa\n'
file sorting/~ 'tilde\n'
file sorting/B/z 'z\n'
file sorting/B/Y 'Y\n'
file sorting/B/deeper/1 '1\n'
file sorting/B/deeper/10 '10\n'
file sorting/B/deeper/9 '9\n'
file sorting/_x/b 'b\n'
file sorting/_x/C 'C\n'
file "sorting/$E_ACUTE/e" 'e\n'
file "sorting/$E_ACUTE/E" 'E\n'

ln -s target/file symlink-rel
ln -s /absolute/target/file symlink-abs

mkdir dir-symlinks dir-symlinks/sub
file dir-symlinks/file 'the target\n'
ln -s file dir-symlinks/rel
ln -s ../file dir-symlinks/sub/up
ln -s /absolute/target dir-symlinks/abs
ln -s sub dir-symlinks/to-dir
ln -s dangling-nowhere dir-symlinks/dangling

mkdir utf8-names "utf8-names/$NIHONGO"
file "utf8-names/$E_ACUTE" 'e acute\n'
file "utf8-names/${N_TILDE}and${N_TILDE}u.txt" 'rhea\n'
file "utf8-names/$A_UMLAUT" 'A umlaut\n'
file "utf8-names/emoji-$GRIN" 'grin\n'
file "utf8-names/$NIHONGO/$NIHONGO.txt" 'nihongo\n'
ln -s "$NIHONGO/$NIHONGO.txt" "utf8-names/link-$E_ACUTE"

mkdir mixed mixed/bin mixed/lib mixed/lib/empty mixed/share mixed/share/doc
xfile mixed/bin/tool '#!/bin/sh\nexit 0\n'
ln -s tool mixed/bin/tool-alias
file mixed/lib/libx.a '!<arch>\n'
file mixed/lib/empty-file ''
file mixed/share/doc/README 'Mixed tree: files, executables, symlinks and directories.\n'
file "mixed/share/doc/with space" 'a name with a space\n'
file mixed/share/16-bytes '0123456789abcdef'
ln -s /usr/bin/env mixed/share/env
ln -s ../bin mixed/share/bin
