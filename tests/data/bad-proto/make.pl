#!/usr/bin/perl
# make.pl — regenerates the malformed protocol streams of this directory
# and EXPECT.
#
#   perl tests/data/bad-proto/make.pl
#
# Each case is one file, <name>.bin: a byte stream as a peer might send it.
# tests/unit/test_proto.c decodes it frame by frame (handshake and error
# payloads parsed, other payloads taken as they are) with the file's name
# as the stream's name, and the first error must be exactly the message on
# the file's line of EXPECT ("<name>.bin<TAB><message>").  The same message
# must come out whether the stream is fed whole or one byte at a time.
# replay_fuzz_proto replays these files too.
#
# Only perl-base is needed.  The output is the same on every run.
use strict;
use warnings;

my $dir = $0 =~ m{^(.*)/[^/]*$} ? $1 : '.';
my @expect;

# ---- building blocks (doc/PROTOCOL.md) -------------------------------------

my $MAGIC = "yonder\n\0";
sub u64 { pack('Q<', $_[0]) }
sub u32 { pack('L<', $_[0]) }
sub str { u32(length $_[0]) . $_[0] }
sub strv { u32(scalar @_) . join('', map { str($_) } @_) }
sub frame {
	my ($op, $payload, %o) = @_;
	u32($o{len} // length $payload) . pack('S<', $op) . pack('S<', $o{flags} // 0) .
	    u32($o{id} // 0) . $payload;
}
sub hello_payload {
	my (%o) = @_;
	($o{magic} // $MAGIC) . u64($o{version} // 1) . str($o{name} // 'yonder 0.1.0') .
	    ($o{features} // strv());
}
my $HELLO = frame(1, hello_payload());

sub case {
	my ($name, $bytes, $msg) = @_;
	open(my $fh, '>:raw', "$dir/$name.bin") or die "$dir/$name.bin: $!";
	print $fh $bytes;
	close($fh) or die "$dir/$name.bin: $!";
	push @expect, "$name.bin\t$msg";
}

# ---- framing ---------------------------------------------------------------

case('garbage-http', "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
     'garbage-http.bin: byte 0: frame of 542393671 bytes exceeds the limit of 1048576');
case('huge-length', "\xff\xff\xff\xff" . pack('S<', 1) . "\0\0" . u32(0),
     'huge-length.bin: byte 0: frame of 4294967295 bytes exceeds the limit of 1048576');
case('over-limit', u32(1048577) . pack('S<', 5) . "\0\0" . u32(1) . "x" x 64,
     'over-limit.bin: byte 0: frame of 1048577 bytes exceeds the limit of 1048576');
case('over-limit-second', $HELLO . u32(1 << 24) . pack('S<', 5) . "\0\0" . u32(1),
     'over-limit-second.bin: byte ' . length($HELLO) .
     ': frame of 16777216 bytes exceeds the limit of 1048576');
case('truncated-header', substr($HELLO, 0, 5),
     'truncated-header.bin: byte 0: truncated frame: 5 of 12 header bytes');
case('truncated-payload', substr($HELLO, 0, 12 + 10),
     'truncated-payload.bin: byte 0: truncated frame: hello frame of ' .
     (length($HELLO) - 12) . ' bytes, got 10');
case('truncated-second', $HELLO . substr(frame(5, 'abcdefgh', id => 3), 0, 15),
     'truncated-second.bin: byte ' . length($HELLO) .
     ': truncated frame: data frame of 8 bytes, got 3');
case('unknown-op', frame(0x7777, ''),
     'unknown-op.bin: byte 0: unknown operation 0x7777');
case('unknown-op-zero', "\0" x 12,
     'unknown-op-zero.bin: byte 0: unknown operation 0x0000');
case('unknown-op-after-hello', $HELLO . frame(0x01ff, u64(1), id => 9),
     'unknown-op-after-hello.bin: byte ' . length($HELLO) . ': unknown operation 0x01ff');
case('unknown-flags', frame(5, 'x', flags => 0x8001, id => 1),
     'unknown-flags.bin: byte 0: unknown flags 0x8001 in a data frame');

# ---- handshake payloads ----------------------------------------------------

case('hello-empty', frame(1, ''),
     'hello-empty.bin: byte 0: hello: truncated integer at payload byte 0: 8 bytes needed, 0 left');
case('hello-bad-magic', frame(1, hello_payload(magic => "nix-daemon")),
     'hello-bad-magic.bin: byte 0: hello: bad magic 0x6d6561642d78696e at payload byte 0 (expected 0x000a7265646e6f79)');
case('hello-id', frame(1, hello_payload(), id => 5),
     'hello-id.bin: byte 0: hello: expected request id 0, got 5');
case('hello-name-too-long', frame(1, hello_payload(name => 'n' x 257)),
     'hello-name-too-long.bin: byte 0: hello: string of 257 bytes at payload byte 16 exceeds the limit of 256');
case('hello-bad-string-length',
     frame(1, $MAGIC . u64(1) . u32(200) . 'abc'),
     'hello-bad-string-length.bin: byte 0: hello: bad string length at payload byte 16: 200 bytes declared, 3 left');
case('hello-nul-in-name', frame(1, hello_payload(name => "yon\0der")),
     'hello-nul-in-name.bin: byte 0: hello: string at payload byte 16 contains a NUL byte');
case('hello-truncated-length', frame(1, $MAGIC . u64(1) . "\x05\0"),
     'hello-truncated-length.bin: byte 0: hello: truncated string length at payload byte 16: 4 bytes needed, 2 left');
case('hello-list-too-long', frame(1, hello_payload(features => u32(0xffffffff))),
     'hello-list-too-long.bin: byte 0: hello: list of 4294967295 strings at payload byte 32 exceeds the limit of 1024');
case('hello-bad-list-length', frame(1, hello_payload(features => u32(100) . str('kvm'))),
     'hello-bad-list-length.bin: byte 0: hello: bad list length at payload byte 32: 100 strings declared, 7 bytes left');
case('hello-trailing', frame(1, hello_payload() . "\0\0\0"),
     'hello-trailing.bin: byte 0: hello: 3 trailing bytes at payload byte 36');
case('welcome-truncated', frame(2, $MAGIC . u64(1) . str('yonder') . str('host') . str('/nix/store') .
     strv('x86_64-linux') . strv() . u64(2)),
     'welcome-truncated.bin: byte 0: welcome: truncated integer at payload byte 80: 8 bytes needed, 0 left');
case('welcome-store-dir-too-long', frame(2, $MAGIC . u64(1) . str('yonder') . str('host') .
     str('/' x 4097)),
     'welcome-store-dir-too-long.bin: byte 0: welcome: string of 4097 bytes at payload byte 34 exceeds the limit of 4096');
case('error-message-nul', frame(3, u64(4) . str("bad\0"), id => 1),
     'error-message-nul.bin: byte 0: error frame: string at payload byte 8 contains a NUL byte');

open(my $fh, '>', "$dir/EXPECT") or die "$dir/EXPECT: $!";
print $fh "# The first error of each stream of this directory, decoded as\n";
print $fh "# tests/unit/test_proto.c does (see make.pl, which writes this file):\n";
print $fh "# FILE<TAB>MESSAGE.\n";
print $fh map { "$_\n" } @expect;
close($fh) or die "$dir/EXPECT: $!";
