#!/bin/sh
# prelude.sh -- shell/prelude.lua (embedded into the shell by the build)
# parses on its own.
cd "${TESTUDO_ROOT:?}" || exit 2
if lua5.4 -e 'assert(loadfile("shell/prelude.lua"))' 2>/dev/null; then
    echo "ok - shell/prelude.lua parses"
else
    echo "not ok - shell/prelude.lua parses"
fi
