#!/usr/bin/perl
# make.pl — writes the archives of tests/data/bad-archive: streams in
# yonder's archive format (doc/ARCHIVE.md) that must be refused, each for
# one reason, plus good.yar, which must be accepted.
#
#   perl make.pl OUTDIR STOREDIR KEY.sec
#
# STOREDIR is the store the paths are in; KEY.sec the secret key whose
# public half the importer trusts (tests/vectors/sig-key.sec, named
# yonder-test-1).  Signatures are made with `openssl pkeyutl` (Ed25519 is
# deterministic, so the output is the same on every run).  Two more keys
# are derived from fixed seeds: "other" (named yonder-test-2, in no ACL)
# and "wrong" (named like KEY, with other bytes).
#
# The committed files are `perl make.pl tests/data/bad-archive /yonder/store
# tests/vectors/sig-key.sec`; tests/t/t0511-archive-reject.sh checks that
# they are current and imports a set made for its own store.  EXPECT says
# what each must be refused with.
use strict;
use warnings;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use File::Temp qw(tempdir);

my ($out, $store, $keyfile) = @ARGV;
die "usage: make.pl OUTDIR STOREDIR KEY.sec\n" unless defined $keyfile;

sub slurp { my ($f) = @_; open my $h, '<:raw', $f or die "$f: $!"; local $/; <$h> }

my ($keyname, $keyb64) = split /:/, slurp($keyfile);
$keyb64 =~ s/\s+$//;
my %seed = (
	good  => [$keyname, substr(decode_base64($keyb64), 0, 32)],
	other => ['yonder-test-2', sha256('yonder bad-archive: other key')],
	wrong => [$keyname, sha256('yonder bad-archive: wrong key')],
);
my $tmp = tempdir(CLEANUP => 1);

sub sign {
	my ($key, $fp) = @_;
	my ($name, $seed) = @{$seed{$key}};
	my $der = pack('H*', '302e020100300506032b657004220420') . $seed;
	open my $k, '>', "$tmp/k.pem" or die;
	print $k "-----BEGIN PRIVATE KEY-----\n", encode_base64($der), "-----END PRIVATE KEY-----\n";
	close $k;
	open my $f, '>:raw', "$tmp/fp" or die;
	print $f $fp;
	close $f;
	system('openssl', 'pkeyutl', '-sign', '-inkey', "$tmp/k.pem", '-rawin', '-in', "$tmp/fp",
		'-out', "$tmp/sig") == 0 or die "openssl pkeyutl failed\n";
	unlink "$tmp/k.pem";
	return "$name:" . encode_base64(slurp("$tmp/sig"), '');
}

# Nix's base-32.
sub nix32 {
	my @b = unpack('C*', $_[0]);
	my $alpha = '0123456789abcdfghijklmnpqrsvwxyz';
	my $len = int((@b * 8 - 1) / 5) + 1;
	my $s = '';
	for (my $n = $len - 1; $n >= 0; $n--) {
		my ($i, $j) = (int($n * 5 / 8), ($n * 5) % 8);
		my $c = ($b[$i] >> $j) | ($i + 1 < @b ? $b[$i + 1] << (8 - $j) : 0);
		$s .= substr($alpha, $c & 0x1f, 1);
	}
	return $s;
}

sub u64 { pack('Q<', $_[0]) }
sub str { my ($s) = @_; u64(length $s) . $s . ("\0" x ((8 - length($s) % 8) % 8)) }

# NARs.
sub node_file { my ($c, $x) = @_; join '', map { str($_) } '(', 'type', 'regular', ($x ? ('executable', '') : ()), 'contents', $c, ')' }
sub node_dir {
	my (%e) = @_;
	my $s = str('(') . str('type') . str('directory');
	$s .= str('entry') . str('(') . str('name') . str($_) . str('node') . $e{$_} . str(')') for sort keys %e;
	return $s . str(')');
}
sub nar { str('nix-archive-1') . $_[0] }

sub path { my ($name) = @_; "$store/" . substr(nix32(sha256("bad-archive $name")), 0, 32) . "-$name" }

sub fingerprint {
	my ($it) = @_;
	return "1;$it->{path};sha256:" . nix32($it->{hash}) . ";$it->{size};" . join(',', sort @{$it->{refs}});
}

# A correct item: NAME, its NAR, its references; signed with the good key.
sub item {
	my ($name, $nar, @refs) = @_;
	my $it = {path => path($name), refs => [sort @refs], deriver => '', ca => '', nar => $nar,
		hash => sha256($nar), size => length($nar), built_by => 'bad-archive'};
	$it->{sigs} = [sign('good', fingerprint($it))];
	return $it;
}

sub resign { my ($it, $key) = @_; $it->{sigs} = [sign($key // 'good', fingerprint($it))]; $it }

sub header { str('yonder-archive') . u64(1) }
sub meta {
	my ($it) = @_;
	return u64(1) . str($it->{path}) . u64(scalar @{$it->{refs}}) . join('', map { str($_) } @{$it->{refs}})
		. str($it->{deriver}) . str($it->{ca}) . $it->{hash} . u64($it->{size})
		. u64(scalar @{$it->{sigs}}) . join('', map { str($_) } @{$it->{sigs}}) . str($it->{built_by});
}
sub enc_item { my ($it) = @_; meta($it) . $it->{nar} }
sub stream { header() . join('', map { enc_item($_) } @_) . u64(0) }

sub put {
	my ($file, $bytes) = @_;
	open my $h, '>:raw', "$out/$file" or die "$out/$file: $!";
	print $h $bytes;
	close $h or die;
}

my $a = item('a', nar(node_file("hello\n")));
my $b = item('b', nar(node_dir('f' => node_file("b refers to " . path('a') . "\n"),
	'x' => node_file("#!/bin/sh\n", 1), 'l' => str('(') . str('type') . str('symlink') . str('target') . str('f') . str(')'))), path('a'));
put('good.yar', stream($a, $b));

# Signatures.
my $u = item('unsigned', nar(node_file("u\n")));
$u->{sigs} = [];
put('unsigned.yar', stream($u));
put('unknown-key.yar', stream(resign(item('unknown-key', nar(node_file("k\n"))), 'other')));
put('wrong-key.yar', stream(resign(item('wrong-key', nar(node_file("w\n"))), 'wrong')));
my $m = item('sig-malformed', nar(node_file("m\n")));
$m->{sigs} = ["$keyname:not-base64!"];
put('sig-malformed.yar', stream($m));
my $esc = item('sig-escape', nar(node_file("e\n")));
$esc->{sigs} = ["$keyname:\e[31mred"];
put('sig-escape.yar', stream($esc));
my $t = item('sig-truncated', nar(node_file("t\n")));
$t->{sigs} = [substr($t->{sigs}[0], 0, -4)];
put('sig-truncated.yar', stream($t));
my $n = item('sig-no-name', nar(node_file("n\n")));
$n->{sigs}[0] =~ s/^[^:]*://;
put('sig-no-name.yar', stream($n));
my $o = item('sig-of-other', nar(node_file("o\n")));
$o->{sigs} = $a->{sigs};
put('sig-of-other.yar', stream($a, $o));

# NARs.
my $f = item('nar-flipped', nar(node_file("flip me\n")));
substr($f->{nar}, -20, 1) = 'F';
put('nar-flipped.yar', stream($f));
my $l = item('nar-longer', nar(node_file("longer\n")));
$l->{size} -= 8;
put('nar-longer.yar', stream(resign($l)));
my $s = item('nar-shorter', nar(node_file("shorter\n")));
$s->{size} += 8;
$s->{nar} .= u64(0);
$s->{hash} = sha256($s->{nar});
put('nar-shorter.yar', stream(resign($s)));
my $g = item('nar-garbage', "not a NAR at all");
put('nar-garbage.yar', stream($g));
my $ex = item('nar-exec-marker', nar(str('(') . str('type') . str('regular') . str('executable') . str('x') . str('contents') . str('') . str(')')));
put('nar-bad-executable.yar', stream($ex));

# References.
my $ra = item('ref-added', nar(node_file("ra\n")));
push @{$ra->{refs}}, $a->{path};
put('ref-added.yar', stream($a, $ra));
my $rr = item('ref-removed', nar(node_file("rr\n")), $a->{path});
$rr->{refs} = [];
put('ref-removed.yar', stream($a, $rr));
put('ref-missing.yar', stream(item('ref-missing', nar(node_file("rm\n")), path('nowhere'))));
put('ref-later.yar', stream(item('ref-later', nar(node_file("rl\n")), $a->{path}), $a));
my $uo = item('refs-unsorted', nar(node_file("ru\n")), $a->{path}, $b->{path});
$uo->{refs} = [reverse @{$uo->{refs}}];
put('refs-unsorted.yar', stream($a, $b, $uo));
my $dup = item('refs-repeated', nar(node_file("rd\n")), $a->{path});
$dup->{refs} = [$a->{path}, $a->{path}];
put('refs-repeated.yar', stream($a, resign($dup)));
my $ro = item('ref-outside', nar(node_file("ro\n")));
$ro->{refs} = ['/elsewhere/store/' . substr(nix32(sha256('x')), 0, 32) . '-x'];
put('ref-outside-store.yar', stream(resign($ro)));

# The stream's own structure.
put('duplicate.yar', stream($a, $a));
put('no-end-marker.yar', substr(stream($a), 0, -8));
put('empty.yar', '');
put('short.yar', 'yonder');
put('only-header.yar', header());
put('trailing-bytes.yar', stream($a) . u64(0));
put('bad-magic.yar', str('yonder-archivf') . u64(1) . u64(0));
put('bad-version.yar', str('yonder-archive') . u64(2) . u64(0));
put('nix-format.yar', u64(1) . $a->{nar} . u64(0x4558494e) . str($a->{path}) . u64(0) . str('') . u64(0) . u64(0));
put('bad-tag.yar', header() . u64(2));
my $pd = item('padded', nar(node_file("pad\n")));
my $pad = stream($pd);
substr($pad, length(header()) + 8 + 8 + length($pd->{path}), 1) = "\1"; # the path's padding
die "make.pl: the path of 'padded' needs padding\n" unless length($pd->{path}) % 8;
put('bad-padding.yar', $pad);
my $nul = item("nul", nar(node_file("nul\n")));
$nul->{path} .= "\0";
put('path-nul.yar', stream($nul));
my $far = item('far', nar(node_file("far\n")));
$far->{path} =~ s/^\Q$store\E/\/elsewhere\/store/;
put('path-outside-store.yar', stream(resign($far)));
my $bp = item('bad-name', nar(node_file("bn\n")));
$bp->{path} .= '/sub';
put('path-not-store-path.yar', stream($bp));
put('path-huge.yar', header() . u64(1) . u64(1 << 40));
put('refs-too-many.yar', header() . u64(1) . str($a->{path}) . u64(1 << 20));
my $ms = item('sigs-too-many', nar(node_file("ms\n")));
put('sigs-too-many.yar', header() . u64(1) . str($ms->{path}) . u64(0) . str('') . str('') . $ms->{hash} . u64($ms->{size}) . u64(65));
my $bb = item('built-by-space', nar(node_file("bb\n")));
$bb->{built_by} = 'a machine';
put('built-by-space.yar', stream($bb));
