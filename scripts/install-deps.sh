#!/bin/sh
# Installs the Debian packages yonder needs to build and test, and nothing
# when they are all present (idempotent; run as root on Debian 12).
set -eu
PKGS="build-essential pkg-config libssl-dev libsqlite3-dev libzstd-dev
libssh-dev perl openssh-server openssh-client iproute2 zstd util-linux
sqlite3 clang-format openssl groff-base"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
