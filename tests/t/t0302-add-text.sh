#!/bin/sh
# yonder store add-text: standard input as a text path, the path Nix's
# builtins.toFile gives (the text rows of tests/vectors/vectors.tsv, for
# /nix/store and /gnu/store with --dry-run), the same path as a recipe's
# plain-file; references with --ref; bad names and references refused with
# nothing added.
. "$(dirname "$0")/lib.sh"

VT=$TOP/tests/vectors/vectors.tsv
# field NAME STOREDIR FIELD — a text row's value.
field() { awk -F'\t' -v n="$1" -v s="$2" -v f="$3" '$1 == "text" && $2 == n && $3 == s && $4 == f { print $5 }' "$VT"; }
# content NAME STOREDIR — the content, its JSON escapes (\n, \\, \") undone.
content() { field "$1" "$2" content | perl -pe 'chomp; s/\\(.)/$1 eq "n" ? "\n" : $1/ge'; }

n=0
for sd in /nix/store /gnu/store; do
	for name in $(awk -F'\t' '$1 == "text" { print $2 }' "$VT" | sort -u); do
		set --
		refs=$(field "$name" $sd references)
		[ "$refs" = - ] || for r in $(echo "$refs" | tr ',' ' '); do set -- "$@" --ref "$r"; done
		content "$name" $sd >"$T/in"
		got=$(YONDER_STORE_DIR=$sd yonder store add-text --dry-run "$@" "$name" <"$T/in")
		is "$name in $sd: builtins.toFile's path" "$got" "$(field "$name" $sd path)"
		n=$((n + 1))
	done
done
is "$n vectors" $((n >= 10)) 1
a=$(field a.txt /nix/store path)
is "a --ref given twice counts once" \
	"$(content b.txt /nix/store | YONDER_STORE_DIR=/nix/store yonder store add-text --dry-run --ref "$a" --ref "$a" b.txt)" \
	"$(field b.txt /nix/store path)"

# Into the store.
ok "add-text hello.txt" sh -c 'printf "hi\n" | yonder store add-text hello.txt'
p=$(cat "$T/.out")
like "... a store path named hello.txt" "$p" "^$YONDER_STORE_DIR/[0-9a-z]{32}-hello\\.txt\$"
is "... --dry-run says the same" "$(printf 'hi\n' | yonder store add-text --dry-run hello.txt)" "$p"
is "... holds the text" "$(cat "$p")" hi
is "... read-only, not executable" "$(stat -c %a "$p")" 444
ok "... is valid" yonder store verify --check-contents "$p"
is "... no references" "$(yonder store query --references "$p")" ""
ok "adding it again" sh -c 'printf "hi\n" | yonder store add-text hello.txt'
is "... the same path" "$(cat "$T/.out")" "$p"

ok "a text that refers to it" sh -c 'printf "see %s\n" "$1" | yonder store add-text --ref "$1" see.txt' - "$p"
q=$(cat "$T/.out")
is "... has it as its reference" "$(yonder store query --references "$q")" "$p"
ok "an empty text" sh -c 'yonder store add-text empty.txt </dev/null'
is "... is empty" "$(stat -c %s "$(cat "$T/.out")")" 0

# The same path as a recipe's plain-file.
cat >"$T/r.scm" <<'SCM'
(derivation (name "uses-hello") (system "x86_64-linux") (builder "/bin/sh")
  (args (plain-file "hello.txt" "hi\n")))
SCM
ok "a recipe with a plain-file hello.txt of the same text" yonder derivation "$T/r.scm"
is "... its input source is the add-text path" \
	"$(yonder store query --references "$(cat "$T/.out")")" "$p"

# Refusals.
before=$(ls "$YONDER_STORE_DIR" | wc -l)
fails "a bad name" sh -c 'echo x | yonder store add-text "a b"'
like "... says why" "$(cat "$T/.err")" "bad NAME"
fails "no name" sh -c 'echo x | yonder store add-text'
fails "two names" sh -c 'echo x | yonder store add-text a b'
fails "a --ref outside the store" sh -c 'echo x | yonder store add-text --ref /tmp/x x.txt'
like "... names it" "$(cat "$T/.err")" "/tmp/x"
fails "a --ref that is not valid" sh -c 'echo x | yonder store add-text --ref "$1" x.txt' - \
	"$YONDER_STORE_DIR/00000000000000000000000000000000-missing"
like "... names it" "$(cat "$T/.err")" "00000000000000000000000000000000-missing"
is "nothing was added" "$(ls "$YONDER_STORE_DIR" | wc -l)" "$before"

done_testing
