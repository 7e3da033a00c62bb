#!/bin/sh
# embed_prelude.sh -- regenerates shell/prelude_lua.h from shell/prelude.lua
# (run from the repository root after editing prelude.lua; the shell tests
# check that the two agree).
set -e
src=${1:-shell/prelude.lua}
echo '/* prelude_lua.h -- generated from shell/prelude.lua by'
echo ' * shell/embed_prelude.sh; do not edit. */'
echo '/* clang-format off */'
echo 'static const char prelude_lua[] ='
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$src"
echo '    ;'
echo '/* clang-format on */'
