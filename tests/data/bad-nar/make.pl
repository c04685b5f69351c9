#!/usr/bin/perl
# make.pl — regenerates the malformed NARs of this directory and EXPECT.
#
#   perl tests/data/bad-nar/make.pl
#
# Each case is one file, <name>.nar, that `yonder store restore` must refuse,
# and one line of EXPECT: "<name>.nar<TAB><extended regex>" that the error
# message must match.  Where the message names a byte offset, the regex pins
# it, so a parser that reports the wrong offset fails the test too.
#
# Only perl-base is needed (Debian 12 always has it).  The output is the same
# on every run.
use strict;
use warnings;

my $dir = $0 =~ m{^(.*)/[^/]*$} ? $1 : '.';
my @expect;

# ---- NAR building blocks ---------------------------------------------------

sub u64 { pack('Q<', $_[0]) }
sub pad { my $n = length $_[0]; "\0" x ((8 - $n % 8) % 8) }
sub str { u64(length $_[0]) . $_[0] . pad($_[0]) }
sub toks { join '', map { str($_) } @_ }

my $MAGIC = str('nix-archive-1');

sub file_node {
	my ($data, $exec) = @_;
	toks('(', 'type', 'regular') . ($exec ? toks('executable', '') : '') .
	  toks('contents') . str($data) . toks(')');
}
sub link_node { toks('(', 'type', 'symlink', 'target') . str($_[0]) . toks(')') }
sub dir_node {
	my @e = @_; # name, node, name, node ...
	my $s = toks('(', 'type', 'directory');
	while (@e) {
		my ($name, $node) = splice(@e, 0, 2);
		$s .= toks('entry', '(', 'name') . str($name) . toks('node') . $node . toks(')');
	}
	$s . toks(')');
}
sub nar { $MAGIC . $_[0] }

# An extended regex matching TEXT literally.
sub lit { my $t = shift; $t =~ s/([.\[\]()*+?{}|^\$\\])/\\$1/g; $t }

sub write_file {
	my ($name, $bytes) = @_;
	open(my $f, '>:raw', "$dir/$name") or die "$dir/$name: $!";
	print $f $bytes or die;
	close($f) or die "$dir/$name: $!";
}

# A NAR that is bad at byte length(BEFORE): the message must say
# "NAR byte <offset>: <MSG>" (MSG literal text).
sub bad_at {
	my ($name, $before, $after, $msg) = @_;
	write_file("$name.nar", $before . $after);
	push @expect, "$name.nar\t" . lit("NAR byte " . length($before) . ": $msg");
}
# A NAR that ends too early, after all of BYTES.
sub truncated {
	my ($name, $bytes) = @_;
	write_file("$name.nar", $bytes);
	push @expect, "$name.nar\t" . lit("unexpected end of input at byte " . length($bytes));
}

my $hello = file_node('hello');
my $ENTRY = sub { toks('entry', '(', 'name') . str($_[0]) . toks('node') }; # opens an entry
my $DIR = toks('(', 'type', 'directory');

# ---- the magic ---------------------------------------------------------------

bad_at('magic-bad', '', str('nix-archive-2') . $hello, "bad magic: expected 'nix-archive-1'");
bad_at('magic-long', '', str('nix-archive-1' x 3) . $hello,
       'expected the NAR magic, got a string of 39 bytes');
bad_at('magic-missing', '', $hello, "bad magic: expected 'nix-archive-1'");
truncated('empty', '');
truncated('magic-only', $MAGIC);

# ---- tags ----------------------------------------------------------------------

bad_at('tag-unknown-node-field', $MAGIC . toks('('), toks('kind', 'regular'), "expected 'type', got 'kind'");
bad_at('tag-no-open-paren', $MAGIC, toks('type', 'regular'), "expected '(', got 'type'");
bad_at('tag-unknown-type', $MAGIC . toks('(', 'type'), toks('fifo', ')'),
       "unknown node type 'fifo' (expected regular, symlink or directory)");
bad_at('tag-unknown-in-file', $MAGIC . toks('(', 'type', 'regular'), toks('size') . u64(0),
       "expected 'executable' or 'contents', got 'size'");
bad_at('tag-unknown-in-dir', $MAGIC . $DIR, toks('entries', ')'), "expected 'entry' or ')', got 'entries'");
bad_at('tag-unknown-in-entry', $MAGIC . $DIR . toks('entry', '('), toks('nom') . str('a'),
       "expected 'name', got 'nom'");
bad_at('tag-unknown-in-symlink', $MAGIC . toks('(', 'type', 'symlink'), toks('to') . str('a'),
       "expected 'target', got 'to'");
bad_at('tag-with-nul', $MAGIC, str("(\0") . toks('type'), "expected '(', got a string with a NUL byte");
bad_at('tag-control-chars', $MAGIC . toks('(', 'type'), str("\e[31mreg\n") . toks(')'),
       "unknown node type '\\x1b[31mreg\\x0a'");
bad_at('tag-length-max', $MAGIC . toks('('), u64(~0) . 'type',
       "expected 'type', got a string of 18446744073709551615 bytes");
bad_at('tag-length-max-8', $MAGIC . toks('('), u64(~0 - 7) . 'type',
       "expected 'type', got a string of 18446744073709551608 bytes");
bad_at('close-expected', $MAGIC . $DIR . $ENTRY->('a') . $hello, toks('entry', '(', 'name') . str('b'),
       "expected ')', got 'entry'");

# ---- field order and duplicates ----------------------------------------------

bad_at('order-contents-before-executable', $MAGIC . toks('(', 'type', 'regular', 'contents') . str(''),
       toks('executable', '', ')'), "expected ')', got 'executable'");
bad_at('order-executable-after-contents', $MAGIC . toks('(', 'type', 'regular', 'contents') . str('#!/bin/sh'),
       toks('executable', '', ')'), "expected ')', got 'executable'");
bad_at('order-name-after-node', $MAGIC . $DIR . toks('entry', '('), toks('node') . $hello . toks('name', 'a', ')', ')'),
       "expected 'name', got 'node'");
bad_at('order-target-before-type', $MAGIC . toks('('), toks('target', 'a', 'type', 'symlink', ')'),
       "expected 'type', got 'target'");
bad_at('order-entry-in-file', $MAGIC . toks('(', 'type', 'regular', 'contents') . str('x'), toks('entry'),
       "expected ')', got 'entry'");
bad_at('dup-type', $MAGIC . toks('(', 'type', 'regular'), toks('type', 'regular', 'contents') . str('x') . toks(')'),
       "expected 'executable' or 'contents', got 'type'");
bad_at('dup-contents', $MAGIC . toks('(', 'type', 'regular', 'contents') . str('x'),
       toks('contents') . str('x') . toks(')'), "expected ')', got 'contents'");
bad_at('dup-executable', $MAGIC . toks('(', 'type', 'regular', 'executable', ''),
       toks('executable', '', 'contents') . str('x') . toks(')'), "expected 'contents', got 'executable'");
bad_at('dup-target', $MAGIC . toks('(', 'type', 'symlink', 'target', 'a'), toks('target', 'b', ')'),
       "expected ')', got 'target'");
bad_at('dup-name', $MAGIC . $DIR . toks('entry', '(', 'name', 'a'), toks('name', 'b', 'node') . $hello . toks(')', ')'),
       "expected 'node', got 'name'");
bad_at('regular-no-contents', $MAGIC . toks('(', 'type', 'regular'), toks(')'),
       "expected 'executable' or 'contents', got ')'");
bad_at('executable-no-contents', $MAGIC . toks('(', 'type', 'regular', 'executable', ''), toks(')'),
       "expected 'contents', got ')'");
bad_at('symlink-no-target', $MAGIC . toks('(', 'type', 'symlink'), toks(')'), "expected 'target', got ')'");
bad_at('executable-in-symlink', $MAGIC . toks('(', 'type', 'symlink'), toks('executable', '', 'target', 'a', ')'),
       "expected 'target', got 'executable'");
bad_at('executable-in-dir', $MAGIC . $DIR, toks('executable', '', ')'), "expected 'entry' or ')', got 'executable'");
bad_at('executable-marker-nonempty', $MAGIC . toks('(', 'type', 'regular', 'executable'),
       str('1') . toks('contents') . str('x') . toks(')'), 'the executable marker must be empty, got 1 bytes');
bad_at('executable-marker-huge', $MAGIC . toks('(', 'type', 'regular', 'executable'),
       u64(~0), 'the executable marker must be empty, got 18446744073709551615 bytes');

# ---- entry names and their order -------------------------------------------------

my $name_at = $MAGIC . $DIR . toks('entry', '(', 'name');
bad_at('name-empty', $name_at, str('') . toks('node') . $hello . toks(')', ')'), 'empty entry name');
bad_at('name-dot', $name_at, str('.') . toks('node') . $hello . toks(')', ')'), "entry name '.' is not allowed");
bad_at('name-dotdot', $name_at, str('..') . toks('node') . $hello . toks(')', ')'), "entry name '..' is not allowed");
bad_at('name-slash', $name_at, str('a/b') . toks('node') . $hello . toks(')', ')'), "entry name 'a/b' contains '/'");
bad_at('name-slash-only', $name_at, str('/') . toks('node') . $hello . toks(')', ')'), "entry name '/' contains '/'");
bad_at('name-dotdot-slash', $name_at, str('../x') . toks('node') . $hello . toks(')', ')'), "entry name '../x' contains '/'");
bad_at('name-nul', $name_at, str("a\0b") . toks('node') . $hello . toks(')', ')'), 'entry name contains a NUL byte');
bad_at('name-256', $name_at, str('n' x 256) . toks('node') . $hello . toks(')', ')'),
       'entry name of 256 bytes is longer than the limit of 255');
bad_at('name-length-max', $name_at, u64(~0) . 'abcdefgh',
       'entry name of 18446744073709551615 bytes is longer than the limit of 255');
bad_at('name-length-max-8', $name_at, u64(~0 - 7) . 'abcdefgh',
       'entry name of 18446744073709551608 bytes is longer than the limit of 255');
my $one = $MAGIC . $DIR . $ENTRY->('b') . $hello . toks(')', 'entry', '(', 'name');
bad_at('entries-out-of-order', $one, str('a') . toks('node') . $hello . toks(')', ')'),
       "entry 'a' is out of order (entries must be sorted by bytes)");
bad_at('entries-duplicate', $one, str('b') . toks('node') . $hello . toks(')', ')'), "duplicate entry 'b'");
bad_at('entries-prefix-order', $MAGIC . $DIR . $ENTRY->('ab') . $hello . toks(')', 'entry', '(', 'name'),
       str('a') . toks('node') . $hello . toks(')', ')'), "entry 'a' is out of order");
bad_at('entries-locale-order', $MAGIC . $DIR . $ENTRY->('a') . $hello . toks(')', 'entry', '(', 'name'),
       str('B') . toks('node') . $hello . toks(')', ')'), "entry 'B' is out of order");
# 0xc3 0xa9 (é) sorts after 'z' by unsigned bytes; a signed comparison gets it wrong.
bad_at('entries-high-bytes-order', $MAGIC . $DIR . $ENTRY->("\xc3\xa9") . $hello . toks(')', 'entry', '(', 'name'),
       str('z') . toks('node') . $hello . toks(')', ')'), "entry 'z' is out of order");
bad_at('entries-duplicate-dirs', $MAGIC . $DIR . $ENTRY->('d') . dir_node() . toks(')', 'entry', '(', 'name'),
       str('d') . toks('node') . dir_node('f', $hello) . toks(')', ')'), "duplicate entry 'd'");

# CVE-2024-45593's shape: a symlink 'x' pointing outside the destination,
# then a directory 'x' with a file inside, which a lax restorer writes
# through the symlink.  The relative target resolves to <parent of the
# destination>/outside: the test runs restore there and checks it stays empty.
for my $case (['cve-2024-45593', '../outside'],
	      ['cve-2024-45593-abs', '/tmp/yonder-bad-nar-outside']) {
	my ($name, $target) = @$case;
	bad_at($name, $MAGIC . $DIR . $ENTRY->('x') . link_node($target) . toks(')', 'entry', '(', 'name'),
	       str('x') . toks('node') . dir_node('pwned', file_node("written through a symlink\n")) . toks(')', ')'),
	       "duplicate entry 'x'");
}

# ---- symlink targets -----------------------------------------------------------

my $target_at = $MAGIC . toks('(', 'type', 'symlink', 'target');
bad_at('target-empty', $target_at, str('') . toks(')'), 'empty symlink target');
bad_at('target-nul', $target_at, str("/etc\0passwd") . toks(')'), 'symlink target contains a NUL byte');
bad_at('target-4096', $target_at, str('t' x 4096) . toks(')'),
       'symlink target of 4096 bytes is longer than the limit of 4095');
bad_at('target-length-max', $target_at, u64(~0) . 'abcdefgh',
       'symlink target of 18446744073709551615 bytes is longer than the limit of 4095');
bad_at('target-length-max-8', $target_at, u64(~0 - 7) . 'abcdefgh',
       'symlink target of 18446744073709551608 bytes is longer than the limit of 4095');

# ---- padding -----------------------------------------------------------------------

bad_at('padding-magic', u64(13) . "nix-archive-1\0\0", "\1" . toks('(', 'type', 'regular', 'contents') . str('') . toks(')'),
       'non-zero padding byte');
bad_at('padding-tag', $MAGIC . u64(1) . "(\0\0\0\0\0\0", "\x80" . toks('type', 'regular', 'contents') . str('') . toks(')'),
       'non-zero padding byte');
bad_at('padding-name', $name_at . u64(3) . "abc\0\0\0\0", " " . toks('node') . $hello . toks(')', ')'),
       'non-zero padding byte');
bad_at('padding-contents', $MAGIC . toks('(', 'type', 'regular', 'contents') . u64(5) . 'hello',
       "\1\0\0" . toks(')'), 'non-zero padding byte');
bad_at('padding-target', $target_at . u64(4) . "/etc\0\0\0", "/" . toks(')'), 'non-zero padding byte');

# ---- truncation ------------------------------------------------------------------------

my $full = nar(dir_node('bin', dir_node('hello', file_node("#!/bin/sh\necho hi\n", 1)),
		       'lib', link_node('bin'), 'readme', file_node("hello\n")));
truncated('truncated-in-length', $MAGIC . toks('(', 'type') . substr(u64(7), 0, 3));
truncated('truncated-in-string', $MAGIC . toks('(', 'type') . u64(7) . 'regu');
truncated('truncated-in-padding', $MAGIC . toks('(', 'type') . u64(7) . "regular");
truncated('truncated-in-name', $name_at . u64(6) . 're');
truncated('truncated-in-contents', $MAGIC . toks('(', 'type', 'regular', 'contents') . u64(100) . ('x' x 40));
truncated('truncated-before-close', substr($full, 0, length($full) - 8));
truncated('truncated-in-target', $target_at . u64(20) . '/nix/store');
truncated('file-size-too-large', $MAGIC . toks('(', 'type', 'regular', 'contents') . u64(4096) . str('abc') . toks(')'));
truncated('file-size-max', $MAGIC . toks('(', 'type', 'regular', 'contents') . u64(~0) . str('abc') . toks(')'));
truncated('file-size-max-8', $MAGIC . toks('(', 'type', 'regular', 'contents') . u64(~0 - 7) . str('abc') . toks(')'));

# ---- trailing bytes -------------------------------------------------------------------------

bad_at('trailing-zeros', $full, "\0" x 8, 'trailing bytes after the end of the NAR');
bad_at('trailing-byte', $full, "\n", 'trailing bytes after the end of the NAR');
bad_at('trailing-nar', $full, $full, 'trailing bytes after the end of the NAR');

# ---- nesting -----------------------------------------------------------------------------------

# One level: a directory whose only entry "d" opens the next level.
my $level = $DIR . $ENTRY->('d');
# NAR_MAX_DEPTH is 256 directories below the root: the directory at depth
# 257 is refused (at its 'directory' tag).
my $deep = $MAGIC . ($level x 257) . toks('(', 'type');
bad_at('nesting-257', $deep, toks('directory', ')') . (toks(')', ')') x 257), 'directories nested deeper than 256');
# 100,000 levels, cut after the last opened level (13.6 MB; it compresses
# to almost nothing in git).
bad_at('nesting-100000', $deep, toks('directory') . $ENTRY->('d') . ($level x (100000 - 258)), 'directories nested deeper than 256');

open(my $e, '>', "$dir/EXPECT") or die "$dir/EXPECT: $!";
print $e "$_\n" for @expect;
close($e) or die;
printf "%d malformed NARs written to %s\n", scalar @expect, $dir;
