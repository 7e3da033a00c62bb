#!/bin/sh
# prelude.sh -- shell/prelude_lua.h is generated from shell/prelude.lua:
# check that it was regenerated after the last edit, and that the Lua
# parses.
cd "${TESTUDO_ROOT:?}" || exit 2
if sh shell/embed_prelude.sh | cmp -s - shell/prelude_lua.h; then
    echo "ok - shell/prelude_lua.h matches shell/prelude.lua"
else
    echo "not ok - shell/prelude_lua.h matches shell/prelude.lua"
    echo "#   run: sh shell/embed_prelude.sh > shell/prelude_lua.h"
fi
if lua5.4 -e 'assert(loadfile("shell/prelude.lua"))' 2>/dev/null; then
    echo "ok - shell/prelude.lua parses"
else
    echo "not ok - shell/prelude.lua parses"
fi
