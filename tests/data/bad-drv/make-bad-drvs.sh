#!/bin/sh
# make-bad-drvs.sh — writes the malformed .drv files of this directory, each
# one a real Nix 2.8 .drv from tests/vectors/drv/nix/ with one defect.
# EXPECT (maintained by hand) holds the message drv_parse() must give for
# each, with the file's base name as the input's name; tests/unit/test_drv.c
# checks them all (with store directory /nix/store).
#
# The caps (64 MiB strings, 1 Mi list elements, 256 MiB files) are tested
# by test_drv.c with inputs it generates, not with files here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
V="$HERE/../../vectors/drv/nix"
cd "$HERE"
rm -f ./*.drv

# mk NAME < bytes
mk() { cat >"$1.drv"; }
# ed NAME BASE SED-SCRIPT: BASE.drv edited with sed (no newline added).
ed() { sed -e "$3" "$V/$2.drv" | mk "$1"; }
S=/nix/store
HELLO=fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello

# Syntax.
printf '' | mk empty
head -c 100 "$V/hello.drv" | mk truncated-in-string
head -c 81 "$V/hello.drv" | mk truncated-after-comma
head -c 259 "$V/hello.drv" | mk truncated-last-paren
head -c 84 "$V/two-outputs.drv" | mk truncated-in-list
printf 'Derive([("out","%s/%s","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \\' "$S" "$HELLO" | mk escape-at-end
ed unknown-constructor hello 's/^Derive(/DeriveX(/'
ed lowercase-constructor hello 's/^Derive(/derive(/'
ed bad-escape hello 's/echo hello/echo \\x41/'
ed missing-comma hello 's/,"","")\],\[\],\[\],/,"","")][],[],/'
ed space hello 's/\],\[\],\[\],/], [],[],/'
ed wrong-arity-output hello 's/,"","")\]/,"")]/'
ed wrong-arity-derive hello 's/,\[("builder".*$/)/'
ed extra-field hello 's/)\])$/)],"extra")/'
ed number-arg hello 's/\["-c","echo hello > $out"\]/["-c",1]/'
ed unquoted-string hello 's/"x86_64-linux"/x86_64-linux/'
{ cat "$V/hello.drv"; printf '\n'; } | mk trailing-newline
{ cat "$V/hello.drv"; printf '\r\n'; } | mk trailing-crlf
{ cat "$V/hello.drv"; cat "$V/hello.drv"; } | mk two-derivations
ed raw-newline hello 's/echo hello/echo\
hello/'
ed raw-tab hello 's/echo hello/echo	hello/'
ed nul-byte hello 's/echo hello/echo\x00hello/'
ed raw-cr hello 's/echo hello/echo\rhello/'

# Order and duplicates: Nix 2.8 accepts these (it reads into sorted maps and
# sets, the last duplicate winning) and would print the derivation back
# differently, so yonder rejects them.
ed unsorted-env hello 's/("builder","\/bin\/sh"),("name","hello"),/("name","hello"),("builder","\/bin\/sh"),/'
ed duplicate-env hello 's/("name","hello"),/("name","hello"),("name","hello"),/'
ed unsorted-outputs two-outputs 's/^Derive(\[\(("dev",[^)]*)\),\(("out",[^)]*)\)\]/Derive([\2,\1]/'
ed duplicate-output hello 's/^Derive(\[\(("out",[^)]*)\)\]/Derive([\1,\1]/'
ed unsorted-inputs dependent 's/\],\[\(("[^"]*-two-outputs.drv",\["dev"\])\),\(("[^"]*-fixed-flat.drv",\["out"\])\),/],[\2,\1,/'
ed duplicate-input dependent 's/\],\[\(("[^"]*-two-outputs.drv",\["dev"\])\),/],[\1,\1,/'
ed unsorted-input-outputs dependent2 's/\["dev","out"\]/["out","dev"]/'
ed duplicate-input-output dependent2 's/\["dev","out"\]/["dev","dev","out"]/'
ed unsorted-srcs tofile 's/\["\([^"]*builder.sh\)","\([^"]*data.txt\)"\]/["\2","\1"]/'
ed duplicate-src tofile 's/\["\([^"]*builder.sh\)",/["\1","\1",/'

# Values.
ed no-outputs hello 's/^Derive(\[[^]]*\]/Derive([]/'
ed output-not-in-store hello "s|(\"out\",\"$S/$HELLO\"|(\"out\",\"/usr/local/hello\"|"
ed output-path-empty hello "s|(\"out\",\"$S/$HELLO\"|(\"out\",\"\"|"
ed output-path-bad-hash hello "s|(\"out\",\"$S/fvchbymk0m4jvldpb9m5hy0bjy2lf30k|(\"out\",\"$S/evchbymk0m4jvldpb9m5hy0bjy2lf30k|"
ed gnu-store-path hello "s|(\"out\",\"$S/|(\"out\",\"/gnu/store/|"
ed bad-output-name hello 's/^Derive(\[("out"/Derive([("o ut"/'
ed output-named-drv hello 's/^Derive(\[("out"/Derive([("drv"/'
ed bad-hash-algo fixed-flat-base16 's/,"sha256","/,"sha3","/'
ed text-hash-algo fixed-flat-base16 's/,"sha256","/,"text:sha256","/'
ed uppercase-hash fixed-flat-base16 's/"4f1eeda7540e/"4F1EEDA7540E/'
ed short-hash fixed-flat-base16 's/cc40bb37e"/cc40bb37"/'
ed nix32-hash fixed-flat-base16 's/"4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e")/"0zmk1g26rnvclyngr4a4f9mawiih7n4f7if5bpn6jc8fajkys7jg")/'
ed hash-without-algo fixed-flat-base16 's/,"sha256","/,"","/'
ed algo-without-hash fixed-flat-base16 's/,"sha256","[0-9a-f]*")/,"sha256","")/'
ed fixed-two-outputs two-outputs 's/two-outputs-dev","",""/two-outputs-dev","sha256","4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e"/'
ed fixed-not-out only-bin 's/-only-bin-bin","",""/-only-bin-bin","r:sha256","4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e"/'
ed input-not-drv dependent 's/-two-outputs.drv"/-two-outputs"/'
ed input-no-outputs dependent 's/\["dev"\]/[]/'
ed input-relative dependent 's|"/nix/store/aa9k62hdhm56m699y2i67pyr9ssr4sy7-two-outputs.drv"|"aa9k62hdhm56m699y2i67pyr9ssr4sy7-two-outputs.drv"|'
ed src-not-store-path tofile 's|\["/nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh",|["/nix/store/builder.sh",|'

ls ./*.drv | wc -l | sed 's/$/ files/'
