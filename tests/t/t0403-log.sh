#!/bin/sh
# yonder log: the builder's output (standard output and error), kept
# zstd-compressed under $YONDER_STATE_DIR/log, printed back exactly, for
# a derivation or one of its outputs, for failed builds too.
. "$(dirname "$0")/lib.sh"

sys=$(uname -m)-linux
drv() { # name script
	printf '(derivation (name "%s") (system "%s") (builder "/bin/sh")\n  (args "-c" "%s"))\n' \
		"$1" "$sys" "$2" > "$T/$1.scm"
	yonder derivation "$T/$1.scm"
}

d=$(drv talk 'echo to stdout; echo to stderr >&2; printf \"no newline at the end\"; echo x > $out')
ok "build" yonder build "$T/talk.scm"
out=$(cat "$T/.out")
like "the output is shown while building" "$(cat "$T/.err")" "to stderr"
printf 'to stdout\nto stderr\nno newline at the end' > "$T/want"
ok "yonder log DRV" yonder log "$d"
cp "$T/.out" "$T/got"
ok "prints both streams, in order, byte for byte" cmp "$T/got" "$T/want"
ok "yonder log OUTPUT" yonder log "$out"
cp "$T/.out" "$T/got"
ok "prints the same" cmp "$T/got" "$T/want"
f="$YONDER_STATE_DIR/log/$(basename "$d").zst"
ok "the log is $f" test -f "$f"
is "a zstd frame" "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" 28b52ffd
if command -v zstd >/dev/null 2>&1; then
	ok "zstd reads it" sh -c "zstd -dc '$f' | cmp - '$T/want'"
fi
ls -A "$YONDER_STATE_DIR/log" > "$T/logs"
is "no temporary log is left" "$(grep -c '^\.' "$T/logs")" 0

# A big log: streamed through the compressor, still exact, much smaller.
d=$(drv big '/usr/bin/seq 1 400000; echo done > $out')
ok "build with 2.7 MB of output (-Q: not shown)" yonder build -Q "$T/big.scm"
is "-Q shows none of it" "$(grep -c '^399999$' "$T/.err")" 0
yonder log "$d" > "$T/big.log"
is "the whole log, exactly" "$(cksum < "$T/big.log")" "$(seq 1 400000 | cksum)"
f="$YONDER_STATE_DIR/log/$(basename "$d").zst"
ok "compressed to under a quarter" test "$(stat -c %s "$f")" -lt $(($(stat -c %s "$T/big.log") / 4))

# A failed build keeps its log; building again replaces it.
d=$(drv flaky "echo attempt; if [ -e $T/fixed ]; then echo fixed > \$out; else echo broken >&2; exit 1; fi")
fails "a failing build" yonder build "$T/flaky.scm"
ok "its log is kept" yonder log "$d"
is "with what it said" "$(cat "$T/.out")" "attempt
broken"
: > "$T/fixed"
ok "build again, successfully" yonder build "$T/flaky.scm"
ok "the log" yonder log "$d"
is "is the new one" "$(cat "$T/.out")" "attempt"

# Errors.
d=$(drv never 'echo x > $out')
fails "a derivation never built" yonder log "$d"
like "…: message" "$(cat "$T/.err")" "no build log for '$d'"
echo data > "$T/file"
p=$(yonder store add "$T/file")
fails "a path that was not built" yonder log "$p"
like "…: message" "$(cat "$T/.err")" "'$p' was not built here"
fails "not a store path" yonder log /etc/passwd
fails "no argument" yonder log

done_testing
