#!/bin/sh
# t0102 — every truncation of a valid multi-entry NAR is refused.
#
# For each prefix length 0 .. size-1 of the NAR of a small tree (a directory
# with an executable, a symlink, empty and odd-sized files, nested and empty
# directories; about 1.8 KB), `yonder store restore` must exit 1 with
# "unexpected end of input at byte <length>" (a prefix of a valid NAR can only
# fail there) and remove whatever it had created.
. "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S/bin" "$S/doc/sub" "$S/empty"
printf '#!/bin/sh\necho hi\n' >"$S/bin/hi"
chmod 0755 "$S/bin/hi"
printf '' >"$S/doc/none"
printf '1234567' >"$S/doc/sub/seven"
printf '12345678' >"$S/eight"
ln -s bin/hi "$S/link"

"$YONDER" store dump "$S" >"$T/full.nar"
size=$(wc -c <"$T/full.nar")
ok "the NAR is between 1 and 3 KiB ($size bytes)" test "$size" -ge 1024 -a "$size" -le 3072
ok "the whole NAR restores" "$YONDER" store restore "$T/whole" <"$T/full.nar"
"$YONDER" store dump "$T/whole" >"$T/again.nar"
ok "and dumps back to the same bytes" cmp "$T/full.nar" "$T/again.nar"

# All prefixes at once (one perl, not one head per prefix): 0.nar .. N.nar.
mkdir "$T/p"
perl -e 'local $/; binmode STDIN; my $d = <STDIN>;
	for my $n (0 .. length($d) - 1) {
		open(my $f, ">:raw", "$ARGV[0]/$n.nar") or die "$n: $!";
		print $f substr($d, 0, $n); close($f) or die;
	}' "$T/p" <"$T/full.nar"
W=$T/w
mkdir "$W"
bad_status= bad_msg= left= first_msg=
n=0
while [ "$n" -lt "$size" ]; do
	"$YONDER" store restore "$W/dest" <"$T/p/$n.nar" 2>"$T/err"
	s=$?
	[ "$s" -eq 1 ] || bad_status="$bad_status $n:$s"
	msg=
	read -r msg <"$T/err"
	if [ "$msg" != "yonder store restore: standard input: unexpected end of input at byte $n" ]; then
		bad_msg="$bad_msg $n"
		[ -n "$first_msg" ] || first_msg="prefix $n: $msg"
	fi
	if [ -e "$W/dest" ] || [ -L "$W/dest" ]; then
		left="$left $n"
		chmod -R u+w "$W/dest"
		rm -rf "$W/dest"
	fi
	n=$((n + 1))
done
[ -z "$(ls -A "$W")" ] || left="$left (and beside it: $(ls -A "$W"))"
is "every prefix 0..$((size - 1)) exits with status 1" "${bad_status:-none}" none
is "every prefix is refused as truncated at its own length" "${bad_msg:-none}" none
is "no prefix leaves anything behind" "${left:-none}" none
[ -z "$first_msg" ] || echo "#   first wrong message, $first_msg"
done_testing
