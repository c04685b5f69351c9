#!/bin/sh
# Every C file in the repository is formatted with .clang-format.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
if ! command -v clang-format >/dev/null 2>&1 || ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "1..0 # SKIP needs clang-format and a git checkout"
	exit 0
fi
for f in $(git ls-files '*.c' '*.h'); do
	ok "$f is clang-formatted" clang-format --dry-run -Werror "$f"
done
done_testing
