#!/bin/sh
# yonder build: every way a build can fail gives a clear message and the
# exit status Nix gives (100 failed, 101 timed out, 1 other), registers
# nothing, leaves no output behind and keeps the log.
. "$(dirname "$0")/lib.sh"

S=$YONDER_STORE_DIR
sys=$(uname -m)-linux

# drv NAME SCRIPT [MORE FIELDS] — writes $T/NAME.scm, prints its .drv path.
drv() {
	printf '(derivation (name "%s") (system "%s") (builder "/bin/sh")\n  (args "-c" "%s") %s)\n' \
		"$1" "$sys" "$2" "${3:-}" > "$T/$1.scm"
	yonder derivation "$T/$1.scm"
}
# The output paths of a derivation (from its JSON).
outputs_of() { yonder drv show "$1" | sed -n 's/^ *"path": "\(.*\)",\{0,1\}$/\1/p'; }
# Nothing of DRV is valid or on disk, and its log holds TEXT.
nothing_left() { # name drv text
	for p in $(outputs_of "$2"); do
		fails "$1: '$(basename "$p")' is not valid" yonder store query --valid "$p"
		ok "$1: nothing at '$(basename "$p")'" test ! -e "$p" -a ! -L "$p"
	done
	ok "$1: the log is kept" yonder log "$2"
	like "$1: and holds the builder's output" "$(cat "$T/.out")" "$3"
}
# status NAME WANT CMD... — CMD's exit status is WANT.
status() { _sn=$1 _sw=$2; shift 2; "$@" >"$T/.out" 2>"$T/.err"; is "$_sn: exit status $_sw" "$?" "$_sw"; }

# ---- the builder exits non-zero --------------------------------------
d=$(drv exit3 'echo about to fail; echo partial > $out; exit 3')
status "non-zero exit" 100 yonder build "$T/exit3.scm"
like "non-zero exit: message" "$(cat "$T/.err")" "error: builder for '$d' failed with exit code 3"
is "non-zero exit: nothing printed on stdout" "$(cat "$T/.out")" ""
nothing_left "non-zero exit" "$d" "about to fail"
ok "and no build directory is left" test -z "$(ls -A "$YONDER_STATE_DIR/builds")"

# ---- killed by a signal ----------------------------------------------
d=$(drv signal 'echo bye; kill -9 $$')
status "killed by a signal" 100 yonder build "$T/signal.scm"
like "killed by a signal: message" "$(cat "$T/.err")" "builder for '$d' failed due to signal 9"
nothing_left "killed by a signal" "$d" "bye"

# ---- a builder that does not exist -----------------------------------
printf '(derivation (name "nobuilder") (system "%s") (builder "/nonexistent/builder"))\n' "$sys" > "$T/nobuilder.scm"
d=$(yonder derivation "$T/nobuilder.scm")
status "missing builder" 100 yonder build "$T/nobuilder.scm"
like "missing builder: message" "$(cat "$T/.err")" "builder for '$d' failed: cannot run '/nonexistent/builder': No such file or directory"
nothing_left "missing builder" "$d" "cannot run the builder '/nonexistent/builder'"

# ---- no output, or only some ------------------------------------------
d=$(drv noout 'echo did nothing')
status "no output" 100 yonder build "$T/noout.scm"
like "no output: message" "$(cat "$T/.err")" "builder for '$d' failed to produce output path for output 'out' at '$S/[0-9a-z]{32}-noout'"
nothing_left "no output" "$d" "did nothing"
d=$(drv halfout 'echo made out; echo x > $out' '(outputs "out" "doc")')
status "one of two outputs" 100 yonder build "$T/halfout.scm"
like "one of two outputs: message" "$(cat "$T/.err")" "failed to produce output path for output 'doc'"
nothing_left "one of two outputs" "$d" "made out"

# A builder that exits 0 counts as a success at once, so what needs it
# may start before its outputs are checked: when the check fails, that
# build is stopped and fails too.
cat > "$T/late.scm" <<EOF
(define broken (derivation (name "broken") (system "$sys") (builder "/bin/sh")
  (args "-c" "echo exits 0 but makes nothing")))
(derivation (name "user") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "echo \$\$ > $T/user.pid; /bin/sleep 60; cat " broken " > \$out")))
EOF
d=$(yonder derivation "$T/late.scm")
t0=$(date +%s)
status "an input found bad after its user started" 100 yonder build "$T/late.scm"
t1=$(date +%s)
like "…: the input's failure" "$(cat "$T/.err")" "failed to produce output path for output 'out' at '$S/[0-9a-z]{32}-broken'"
like "…: the user cannot be built" "$(cat "$T/.err")" "cannot build '$d': one of its dependencies failed"
ok "…: it does not wait for the user's builder" test $((t1 - t0)) -lt 20
if [ -s "$T/user.pid" ]; then
	upid=$(cat "$T/user.pid")
	ok "…: the user's builder is stopped" wait_for "process $upid to end" 10 sh -c "! kill -0 $upid"
fi
for p in $(outputs_of "$d"); do
	fails "…: the user's output is not valid" yonder store query --valid "$p"
	ok "…: and not on disk" test ! -e "$p"
done

# ---- fixed-output hash mismatch --------------------------------------
want=$(printf 'expected\n' | sha256sum | cut -d' ' -f1)
d=$(drv mismatch 'printf got > $out' "(hash \"sha256\" \"$want\")")
status "hash mismatch" 100 yonder build "$T/mismatch.scm"
like "hash mismatch: Nix's message" "$(cat "$T/.err")" \
	"hash mismatch in fixed-output derivation '$d': specified sha256-[A-Za-z0-9+/]{43}=, got sha256-[A-Za-z0-9+/]{43}="
got=$(printf got | openssl dgst -sha256 -binary | base64)
is "hash mismatch: the hash it got" "$(grep -cF "got sha256-$got" "$T/.err")" 1
nothing_left "hash mismatch" "$d" ""
# A recursive one that makes a file where a tree was declared: same.
d=$(drv mismatch-r 'echo x > $out' "(hash \"sha256\" \"$want\" #:recursive #t)")
status "recursive hash mismatch" 100 yonder build "$T/mismatch-r.scm"
like "recursive hash mismatch: message" "$(cat "$T/.err")" "hash mismatch in fixed-output derivation '$d'"
# A flat one that makes a directory.
d=$(drv flatdir '/bin/mkdir $out' "(hash \"sha256\" \"$want\")")
status "flat fixed output that is a directory" 100 yonder build "$T/flatdir.scm"
like "flat fixed output that is a directory: message" "$(cat "$T/.err")" "should be a non-executable regular file"
# A fixed output may not refer to a store path.
dep=$(drv dep 'echo dep > $out')
deppath=$(outputs_of "$dep")
sum=$(printf '%s\n' "$deppath" | sha256sum | cut -d' ' -f1)
cat > "$T/fixref.scm" <<EOF
(define dep (derivation (name "dep") (system "$sys") (builder "/bin/sh") (args "-c" "echo dep > \$out")))
(derivation (name "fixref") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "echo " dep " > \$out")) (hash "sha256" "$sum"))
EOF
d=$(yonder derivation "$T/fixref.scm")
status "fixed output with a reference" 100 yonder build "$T/fixref.scm"
like "fixed output with a reference: message" "$(cat "$T/.err")" \
	"the fixed-output derivation '$d' must not reference store paths"
nothing_left "fixed output with a reference" "$d" ""
ok "its input was built and stays valid" yonder store query --valid "$deppath"

# ---- timeouts: the whole process group is killed ---------------------
d=$(drv slow "( /bin/sleep 60; echo late > $T/late ) & echo \$! > $T/slow.bg; echo started; /bin/sleep 60")
t0=$(date +%s)
status "--timeout" 101 yonder build --timeout 1 "$T/slow.scm"
t1=$(date +%s)
like "--timeout: message" "$(cat "$T/.err")" "building of '$d' timed out after 1 seconds$"
ok "--timeout: it took about a second, not a minute" test $((t1 - t0)) -lt 20
bg=$(cat "$T/slow.bg")
ok "--timeout: the builder's background child is killed too" wait_for "process $bg to end" 10 sh -c "! kill -0 $bg"
nothing_left "--timeout" "$d" "started"
like "--timeout: the log says why" "$(yonder log "$d")" "timed out after 1 seconds"

d=$(drv silent 'echo one line; /bin/sleep 60')
status "--max-silent-time" 101 yonder build --max-silent-time 1 "$T/silent.scm"
like "--max-silent-time: message" "$(cat "$T/.err")" "building of '$d' timed out after 1 seconds of silence"
nothing_left "--max-silent-time" "$d" "one line"
d=$(drv chatty 'for i in 1 2 3 4 5 6; do echo tick $i; /bin/sleep 0.3; done; echo ok > $out')
status "a builder that keeps talking is not silent" 0 yonder build --max-silent-time 1 "$T/chatty.scm"

# ---- missing inputs and other errors before anything runs ------------
status "a .drv that is not in the store" 1 yonder build "$S/00000000000000000000000000000000-x.drv"
like "…: message" "$(cat "$T/.err")" "derivation '$S/00000000000000000000000000000000-x.drv' is not in the store"
printf 'Derive([("out","%s/00000000000000000000000000000000-miss","","")],[],["%s/11111111111111111111111111111111-gone"],"%s","/bin/sh",[],[("name","miss")])' \
	"$S" "$S" "$sys" > "$T/miss.drv"
status "a missing input source" 1 yonder build "$T/miss.drv"
like "…: message" "$(cat "$T/.err")" "its input '$S/11111111111111111111111111111111-gone' is not valid"
printf 'Derive([("out","%s/00000000000000000000000000000000-miss","","")],[("%s/22222222222222222222222222222222-dep.drv",["out"])],[],"%s","/bin/sh",[],[("name","miss")])' \
	"$S" "$S" "$sys" > "$T/missdrv.drv"
status "a missing input derivation" 1 yonder build "$T/missdrv.drv"
like "…: message" "$(cat "$T/.err")" "input derivation '$S/22222222222222222222222222222222-dep.drv' is not in the store"
printf '(derivation (name "other-system") (system "mips64-hurd") (builder "/bin/sh"))\n' > "$T/othersys.scm"
status "another system" 1 yonder build "$T/othersys.scm"
like "…: message" "$(cat "$T/.err")" "a 'mips64-hurd' system is required to build"

# ---- --keep-failed ----------------------------------------------------
d=$(drv keep 'echo scratch > leftover; exit 1')
status "--keep-failed" 100 yonder build --keep-failed "$T/keep.scm"
kept=$(sed -n "s/^note: keeping build directory '\(.*\)'$/\1/p" "$T/.err")
like "--keep-failed: says where" "$kept" "^$YONDER_STATE_DIR/builds/keep-"
is "--keep-failed: the directory holds what the builder left" "$(cat "$kept/leftover")" scratch

# ---- --keep-going, and stopping without it ---------------------------
cat > "$T/mixed.scm" <<EOF
(define bad (derivation (name "bad") (system "$sys") (builder "/bin/sh") (args "-c" "exit 1")))
(define good (derivation (name "good") (system "$sys") (builder "/bin/sh") (args "-c" "echo good > \$out")))
(define after (derivation (name "after") (system "$sys") (builder "/bin/sh")
  (args "-c" (string-append "cat " bad " > \$out"))))
(list bad after good)
EOF
set -- $(yonder derivation "$T/mixed.scm")
bad=$1 after=$2 good=$3
status "without --keep-going" 100 yonder build "$T/mixed.scm"
like "…: the failure" "$(cat "$T/.err")" "builder for '$bad' failed with exit code 1"
like "…: the build that needs it cannot run" "$(cat "$T/.err")" "cannot build '$after': one of its dependencies failed"
like "…: the summary" "$(cat "$T/.err")" "1 build failed, 1 could not run, 1 not started"
fails "…: an unrelated build is not started" yonder store query --valid "$(outputs_of "$good")"
status "with --keep-going" 100 yonder build --keep-going "$T/mixed.scm"
is "…: the unrelated build's path is printed" "$(cat "$T/.out")" "$(outputs_of "$good")"
ok "…: and valid" yonder store query --valid "$(outputs_of "$good")"
fails "…: the one that needs the failure did not" yonder store query --valid "$(outputs_of "$after")"

# ---- an interrupt kills the build ------------------------------------
d=$(drv interrupted "echo \$\$ > $T/int.pid; /bin/sleep 60")
yonder build "$T/interrupted.scm" >"$T/int.out" 2>"$T/int.err" &
ypid=$!
at_exit_kill $ypid
ok "interrupt: the builder runs" wait_for "the builder's pid" 20 test -s "$T/int.pid"
kill -INT $ypid
wait $ypid
is "interrupt: exit status 1" "$?" 1
like "interrupt: message" "$(cat "$T/int.err")" "interrupted by the user"
bpid=$(cat "$T/int.pid")
ok "interrupt: the builder is gone" wait_for "process $bpid to end" 10 sh -c "! kill -0 $bpid"
nothing_left "interrupt" "$d" ""

# Nothing that failed is registered: only the successful outputs are valid.
is "only the three successes are valid, besides the .drv files and sources" \
	"$(yonder store gc >/dev/null; for p in $S/*; do case $p in *.drv) ;; *) yonder store query --valid "$p" 2>/dev/null && basename "$p" | cut -c34-;; esac; done | sort | tr '\n' ' ')" \
	"chatty dep good "

done_testing
