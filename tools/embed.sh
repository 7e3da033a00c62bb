#!/bin/sh
# embed.sh NAME FILE... -- writes C source defining NAME, a NULL-terminated
# array of {module name, source, length} for the given Lua files.  The
# module name is the file name without .lua ("queryset" for
# lua_bindings/testudo/queryset.lua).
set -e
name=$1; shift
echo '#include <stddef.h>'
echo 'struct tdo_embedded { const char *name; const char *src; size_t len; };'
i=0
for f in "$@"; do
    printf 'static const char src_%d[] = {' "$i"
    od -An -v -tx1 "$f" | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'
    echo '0x00};'
    i=$((i + 1))
done
printf 'const struct tdo_embedded %s[] = {\n' "$name"
i=0
for f in "$@"; do
    base=$(basename "$f" .lua)
    printf '    {"%s", src_%d, sizeof(src_%d) - 1},\n' "$base" "$i" "$i"
    i=$((i + 1))
done
echo '    {NULL, NULL, 0}};'
