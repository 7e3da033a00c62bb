#!/bin/sh
# deps.sh -- installs the Debian packages testudo needs to build and test,
# when any is missing.  Run as root (or it tells you what to install).
#   sh tools/deps.sh        what make, make run and make test need
#   sh tools/deps.sh fuzz   and clang with libFuzzer, for make fuzz
pkgs="build-essential pkg-config libsqlite3-dev libpq-dev libmariadb-dev
      liblua5.4-dev lua5.4 libreadline-dev libcsv-dev libpcre2-dev uuid-dev libjansson-dev libcmocka-dev lua-busted expect
      python3"
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "testudo: missing packages:$missing" >&2
    echo "testudo: run 'sudo make deps' or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "testudo: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
apt-get install -y -qq --no-install-recommends $missing >/dev/null || \
    apt-get install -y --no-install-recommends $missing
