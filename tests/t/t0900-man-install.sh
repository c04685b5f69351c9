#!/bin/sh
# The man pages (doc/man/*.1), make install / make uninstall, and the example
# systemd unit (contrib/yonder-daemon.service): every page renders without a
# groff warning, every option a page shows exists in the --help of the
# command it is shown for, install puts each file where it belongs (and the
# installed binary runs), uninstall removes exactly those files, and the unit
# passes systemd-analyze verify (skipped where systemd-analyze is missing).
. "$(dirname "$0")/lib.sh"

O=${O:-build}
skip() { _report 0 "$1 # SKIP $2"; }

# The pages that must exist; any other doc/man/*.1 is checked the same way.
for p in yonder yonder-store yonder-archive yonder-build yonder-daemon yonder-offload yonder-serve; do
	ok "doc/man/$p.1 exists" test -f "$TOP/doc/man/$p.1"
done
pages=$(cd "$TOP/doc/man" && ls -- *.1)

# --- rendering -----------------------------------------------------------
if command -v groff >/dev/null 2>&1; then
	for p in $pages; do
		w=$(groff -man -Tutf8 -ww -z "$TOP/doc/man/$p" 2>&1)
		is "$p: groff -man -ww renders it without a warning" "$w" ""
	done
else
	_report 1 "groff is installed (Debian: groff-base, scripts/install-deps.sh)"
fi
if command -v man >/dev/null 2>&1; then
	for p in $pages; do
		w=$(MANWIDTH=80 man --warnings -l "$TOP/doc/man/$p" 2>&1 >"$T/rendered")
		is "$p: man -l renders it without a warning" "$w" ""
		title=$(sed -n 1p "$T/rendered" | awk '{print $1}')
		is "$p: its title is its name" "$title" "$(echo "${p%.1}" | tr '[:lower:]' '[:upper:]')(1)"
	done
fi
for p in $pages; do
	for ref in $(sed -n 's/^\.BR* yonder\\-\([a-z-]*\) (1).*/yonder-\1/p' "$TOP/doc/man/$p" |
		sed 's/\\//g' | sort -u); do
		ok "$p: SEE ALSO $ref(1) is a page" test -f "$TOP/doc/man/$ref.1"
	done
done

# --- every option shown exists -------------------------------------------
# The commands of the binary, from `yonder --help` ("  store add   summary").
COMMANDS=$(yonder --help | sed -n 's/^  \([a-z][a-z -]*[a-z]\)  .*/\1/p' | sed 's/ *$//')
export COMMANDS
like "yonder --help lists the commands" "$COMMANDS" "^store add$"
mkdir "$T/help"
help_of() { # command ("" or "." for yonder itself) -> file holding its --help
	[ "$1" = . ] && set -- ""
	_f="$T/help/$(printf '%s' "$1" | tr ' ' _).txt"
	if [ ! -f "$_f" ]; then
		# shellcheck disable=SC2086
		yonder $1 --help >"$_f" 2>&1 || echo "(yonder $1 --help failed)" >>"$_f"
		if [ -z "$1" ] && yonder --version >/dev/null 2>&1; then echo "--version" >>"$_f"; fi
	fi
	echo "$_f"
}
has_opt() { # help-file option
	grep -Eq -- "(^|[^A-Za-z0-9-])$2([^a-z0-9-]|\$)" "$1"
}
cat >"$T/opts.pl" <<'PERL'
# Prints "COMMAND<TAB>OPTION" for each long option in a man page; COMMAND is
# the yonder command the option belongs to, "." for yonder itself, "*" when
# the page does not say which (any command of the page will do), or "?NAME"
# for a heading naming a command that does not exist.
use strict;
use warnings;
my %cmd = map { chomp; ($_ => 1) } split /\n/, $ENV{COMMANDS};
my ($sec, $ctx) = ('', '*');
sub plain {
	my $s = shift;
	$s =~ s/\\f(?:\(..|\[[^]]*\]|.)//g;
	$s =~ s/\\\((?:lq|rq|dq)/"/g;
	$s =~ s/\\[-]/-/g;
	$s =~ s/\\[~ ]/ /g;
	$s =~ s/\\[&%c:|^]//g;
	$s =~ s/^\.[A-Za-z]+\s*//;
	$s =~ s/"//g;
	return $s;
}
# The longest command (two words, then one) at the start of a word list.
sub which {
	my @w = @_;
	for my $n (2, 1) {
		next if @w < $n;
		my $c = join ' ', @w[0 .. $n - 1];
		return $c if $cmd{$c};
	}
	return undef;
}
while (my $line = <STDIN>) {
	chomp $line;
	next if $line =~ /^\.\\"/;
	if ($line =~ /^\.SH\s+(.*)/) { ($sec = plain($1)) =~ s/\s+$//; $ctx = '*'; next; }
	if ($line =~ /^\.SS\s/) {
		my @w = split ' ', plain($line);
		$ctx = '*';
		if (@w && $w[0] eq 'yonder') {
			shift @w;
			$ctx = which(@w) // ('?' . join ' ', @w);
		}
		next;
	}
	my $t = plain($line);
	my @tok = split ' ', $t;
	if ($sec eq 'SYNOPSIS' && $line =~ /^\.B\s/ && @tok && $tok[0] eq 'yonder') {
		my @w = grep { /^[a-z][a-z-]*$/ } @tok[1 .. $#tok];
		my @lead;
		for (@tok[1 .. $#tok]) { last unless /^[a-z][a-z-]*$/; push @lead, $_; }
		$ctx = @lead ? (which(@lead) // '?' . join ' ', @lead) : '';
	}
	# On one line, the options after "yonder CMD" are CMD's, those after
	# another program's name (nix-store --dump) are not ours, and a pipe
	# or a ; or && ends either.
	my $cur = $ctx;
	for (my $i = 0; $i < @tok; $i++) {
		my $k = $tok[$i];
		if ($k eq 'yonder') {
			my @lead;
			for my $j ($i + 1 .. $#tok) { last unless $tok[$j] =~ /^[a-z][a-z-]*$/; push @lead, $tok[$j]; }
			my $c = which(@lead);
			$cur = defined $c ? $c : '';
			$i += scalar split ' ', $c if defined $c;
			next;
		}
		if ($k =~ /^(?:nix|nix-[a-z-]+|guix|ssh|zstd|tar|openssl)$/) { $cur = undef; next; }
		if ($k =~ /^(?:\||;|&&|\|\|)$/) { $cur = $ctx; next; }
		next unless defined $cur;
		while ($k =~ /(?<![A-Za-z0-9-])(--[a-z0-9][a-z0-9-]*)/g) { print(($cur eq '' ? '.' : $cur), "\t$1\n"); }
	}
}
PERL
for p in $pages; do
	perl "$T/opts.pl" <"$TOP/doc/man/$p" | sort -u >"$T/pairs"
	# The commands the page is about: those its SYNOPSIS and subsections
	# name; the overview page is about all of them.
	if [ "$p" = yonder.1 ]; then
		printf '%s\n' "$COMMANDS" >"$T/cmds"
	else
		cut -f1 "$T/pairs" | grep -v '^[*?]' | sort -u >"$T/cmds"
	fi
	echo >>"$T/cmds" # yonder itself
	n=$(wc -l <"$T/pairs")
	bad=""
	while IFS='	' read -r cmd opt; do
		case $cmd in
		\?*) bad="$bad [no command 'yonder ${cmd#?}' for $opt]"; continue ;;
		\*)
			found=""
			while IFS= read -r c; do
				if has_opt "$(help_of "$c")" "$opt"; then found=1; break; fi
			done <"$T/cmds"
			[ -n "$found" ] || bad="$bad [$opt: in no --help of this page's commands]"
			;;
		*) has_opt "$(help_of "$cmd")" "$opt" || bad="$bad [yonder $cmd $opt]" ;;
		esac
	done <"$T/pairs"
	ok "$p shows options ($n)" test "$n" -gt 0
	is "$p: every option it shows is in the --help of its command" "$bad" ""
done
# The check itself catches a wrong option, and one shown for the wrong command.
printf '.TH X 1\n.SH SYNOPSIS\n.B yonder store add\n.RB [ \\-\\-flat ]\n.SS yonder hash\n.B \\-\\-no\\-such\\-option\n.SS yonder store gc\n.B \\-\\-flat\n' |
	perl "$T/opts.pl" >"$T/pairs"
is "the extractor attributes each option to its command" "$(tr '\t\n' ':,' <"$T/pairs")" \
	"store add:--flat,hash:--no-such-option,store gc:--flat,"
fails "--no-such-option is not in yonder hash --help" has_opt "$(help_of hash)" --no-such-option
fails "--flat is not in yonder store gc --help" has_opt "$(help_of "store gc")" --flat

# --- make install / uninstall ----------------------------------------------
# Never rebuild here (-o): the binary was built by `make check` with its own
# flags, and other tests may be running it.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP" -o "$O/yonder" O="$O" "$@"; }
root="$T/root"
ok "make install DESTDIR=… PREFIX=/usr" mk install DESTDIR="$root" PREFIX=/usr
{
	echo "$root/usr/bin/yonder"
	for p in $pages; do echo "$root/usr/share/man/man1/$p"; done
	echo "$root/usr/share/doc/yonder/examples/yonder-daemon.service"
} | sort >"$T/want"
find "$root" -type f -o -type l | sort >"$T/got"
ok "it installs the binary, the pages and the unit, nothing else" cmp "$T/want" "$T/got"
[ -f "$T/got" ] && ! cmp -s "$T/want" "$T/got" && diff "$T/want" "$T/got" | sed 's/^/#   /'
is "the binary is executable (0755)" "$(stat -c %a "$root/usr/bin/yonder")" 755
is "a page is 0644" "$(stat -c %a "$root/usr/share/man/man1/yonder.1")" 644
ok "the installed binary runs --version" "$root/usr/bin/yonder" --version
like "and prints its version" "$(cat "$T/.out")" "^yonder [0-9]+\.[0-9]+\.[0-9]+$"
if command -v man >/dev/null 2>&1; then
	ok "man finds yonder-store(1) among the installed pages" \
		env MANPATH="$root/usr/share/man" man -w 1 yonder-store
	like "there" "$(cat "$T/.out")" "^$root/usr/share/man/man1/yonder-store\.1"
fi

# --- the unit ----------------------------------------------------------------
unit="$root/usr/share/doc/yonder/examples/yonder-daemon.service"
like "the unit runs yonder daemon" "$(grep '^ExecStart=' "$unit")" "^ExecStart=/usr/local/bin/yonder daemon( |$)"
like "the unit may write the store and the state directory" \
	"$(grep '^ReadWritePaths=' "$unit")" "^ReadWritePaths=/yonder/store /var/yonder$"
like "the rest is read-only" "$(grep '^ProtectSystem=' "$unit")" "=strict$"
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$T/unit"
	# verify wants ExecStart= to exist and looks up Documentation= with man.
	sed "s|/usr/local/bin/yonder|$root/usr/bin/yonder|" "$unit" >"$T/unit/yonder-daemon.service"
	w=$(MANPATH="$root/usr/share/man" systemd-analyze verify "$T/unit/yonder-daemon.service" 2>&1)
	s=$?
	is "systemd-analyze verify accepts the unit, silently" "$s:$w" "0:"
else
	skip "systemd-analyze verify" "systemd-analyze is not installed"
fi

ok "make uninstall with the same DESTDIR and PREFIX" mk uninstall DESTDIR="$root" PREFIX=/usr
is "leaves no file behind" "$(find "$root" -type f -o -type l)" ""
ok "nor the doc directory" test ! -e "$root/usr/share/doc/yonder"

# BINDIR and MANDIR override PREFIX's.
root2="$T/root2"
ok "make install BINDIR=… MANDIR=…" mk install DESTDIR="$root2" BINDIR=/opt/y/bin MANDIR=/opt/y/man
ok "the binary is in BINDIR" test -x "$root2/opt/y/bin/yonder"
ok "the pages are in MANDIR/man1" test -f "$root2/opt/y/man/man1/yonder-build.1"
ok "the unit is under the default PREFIX" \
	test -f "$root2/usr/local/share/doc/yonder/examples/yonder-daemon.service"
ok "make uninstall BINDIR=… MANDIR=…" mk uninstall DESTDIR="$root2" BINDIR=/opt/y/bin MANDIR=/opt/y/man
is "leaves no file behind" "$(find "$root2" -type f -o -type l)" ""

done_testing
