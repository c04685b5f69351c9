#!/bin/sh
# bench/nixrun.sh CMD [ARG...]
#
# Runs a Nix 2.8 command (Debian's nix-bin) as root against a private Nix
# store, for the benchmarks' reference figures: single-user (NIX_REMOTE=local,
# no nix-daemon), no sandbox, no build users, no substituters.  The store
# keeps its usual name, /nix/store, but lives in $ORACLE_NIX_ROOT (default
# /tmp/yonder-nix/local): CMD runs in a private mount namespace where that
# directory is bind-mounted on /nix, so the host's own /nix is never
# touched.  Settings: bench/nix/nix.conf.
set -eu
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=${ORACLE_NIX_ROOT:-/tmp/yonder-nix/local}
mkdir -p "$ROOT/home" /nix
export ORACLE_NIX_ROOT="$ROOT"
export NIX_CONF_DIR="$BENCH/nix"
export NIX_USER_CONF_FILES="$BENCH/nix/no-user-conf"
export NIX_REMOTE=local
# Nix writes ~/.nix-profile, ~/.nix-defexpr and ~/.cache: keep them in ROOT.
export HOME="$ROOT/home"
export XDG_CACHE_HOME="$ROOT/home/.cache"
exec unshare -m --propagation private \
	sh -c 'mount --bind "$ORACLE_NIX_ROOT" /nix && exec "$@"' bench-nixrun "$@"
