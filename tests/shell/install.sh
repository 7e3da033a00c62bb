#!/bin/sh
# install.sh -- `make install DESTDIR=STAGE PREFIX=/usr/local` puts every
# file where its users look: pkg-config finds testudo.pc (naming the
# prefix), a C program builds against the headers and library it gives and
# runs, lua5.4 requires the module from the staged folder, the shell and
# man pages are there; `make uninstall` takes every file away again.  It
# installs from the build under test (same build folder and SANITIZE), so
# nothing is compiled again.  TESTUDO_SANITIZE and TESTUDO_LUA_PRELOAD
# come from tests/run.sh.
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

ROOT=$TESTUDO_ROOT
BUILD=$(dirname "$T")
# the build folder as the Makefile names it (relative to the checkout),
# so that the flags it records stay the same and nothing is rebuilt
case $BUILD in "$ROOT"/*) BUILD=${BUILD#"$ROOT"/} ;; esac
SAN=${TESTUDO_SANITIZE:-}
STAGE=$D/stage
MK="make -s -C $ROOT B=$BUILD SANITIZE=$SAN DESTDIR=$STAGE PREFIX=/usr/local"

if $MK install >"$D/out" 2>"$D/err"; then ok "make install into a stage"; else notok "make install into a stage"; fi
for f in bin/testudo lib/libtestudo.so lib/libtestudo.a include/testudo.h \
    lib/pkgconfig/testudo.pc lib/lua/5.4/testudo.so share/man/man1/testudo.1 \
    share/man/man3/libtestudo.3 share/man/man7/testudo-lua.7; do
    if [ -f "$STAGE/usr/local/$f" ]; then ok "installed: $f"; else notok "installed: $f"; fi
done

# pkg-config, with the stage as the system root
# (only for these calls: a make run under them would read other flags)
PC="env PKG_CONFIG_PATH=$STAGE/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$STAGE pkg-config"
flags=$($PC --cflags --libs testudo 2>"$D/err")
echo "$flags" >"$D/out"
out_has "pkg-config --cflags --libs testudo names the staged folders" \
    "-I$STAGE/usr/local/include .*-L$STAGE/usr/local/lib -ltestudo"
if [ "$(env PKG_CONFIG_PATH="$STAGE/usr/local/lib/pkgconfig" pkg-config --variable=prefix testudo)" = /usr/local ]; then
    ok "testudo.pc says prefix=/usr/local"
else
    notok "testudo.pc says prefix=/usr/local"
fi

# a C program built against it
sanflags=
[ -n "$SAN" ] && sanflags="-fsanitize=$SAN"
if cc $sanflags -o "$D/shop_report" "$ROOT/examples/c/shop_report.c" $flags \
    >"$D/out" 2>"$D/err"; then
    ok "a C program builds against the installed library"
else
    notok "a C program builds against the installed library"
fi
LD_LIBRARY_PATH="$STAGE/usr/local/lib" "$D/shop_report" >"$D/out" 2>"$D/err"
rc=$?
expect_rc "and runs" 0
out_has "and prints its report" "[0-9]+ products"

# the Lua module from the staged folder (a sanitized build needs the
# sanitizer runtimes preloaded into lua5.4: TESTUDO_LUA_PRELOAD)
LUA_CPATH="$STAGE/usr/local/lib/lua/5.4/?.so" \
    LD_PRELOAD="${TESTUDO_LUA_PRELOAD:-}" ASAN_OPTIONS=detect_leaks=0 lua5.4 -e \
    'local orm = require "testudo"; print(package.searchpath("testudo", package.cpath), type(orm.Model))' \
    >"$D/out" 2>"$D/err"
rc=$?
expect_rc "lua5.4 requires the staged module" 0
out_has "from the staged folder" "^$STAGE/usr/local/lib/lua/5.4/testudo.so	table"

"$STAGE/usr/local/bin/testudo" --version >"$D/out" 2>"$D/err"
rc=$?
expect_rc "the staged shell runs" 0

if $MK uninstall >"$D/out" 2>"$D/err" && [ -z "$(find "$STAGE" -type f)" ]; then
    ok "make uninstall removes every file"
else
    notok "make uninstall removes every file ($(find "$STAGE" -type f | wc -l) left)"
fi
exit $((fails > 0))
