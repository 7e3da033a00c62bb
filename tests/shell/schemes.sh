#!/bin/sh
# schemes.sh -- the URL schemes have one home, the core's table: every
# scheme it knows is accepted by the shell, listed by --help and named in
# both man pages.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_ROOT, TESTUDO_TMP.

T=${TESTUDO:?}
D=${TESTUDO_TMP:?}
ROOT=${TESTUDO_ROOT:?}

"$T" -e 'for _, s in ipairs(orm._url_schemes()) do print(s) end' >"$D/schemes" 2>"$D/err" </dev/null
if [ "$(wc -l <"$D/schemes")" -ge 12 ]; then
    echo "ok - orm._url_schemes() lists the schemes"
else
    echo "not ok - orm._url_schemes() lists the schemes"
    sed -e 's/^/#   /' "$D/schemes" "$D/err"
fi
"$T" --help >"$D/help" 2>&1 </dev/null
for s in $(cat "$D/schemes"); do
    for f in "$D/help" "$ROOT/man/testudo.1" "$ROOT/man/testudo-lua.7"; do
        name=$(basename "$f")
        [ "$f" = "$D/help" ] && name=--help
        if grep -q -F -- "$s:" "$f"; then
            echo "ok - $name names $s://"
        else
            echo "not ok - $name names $s://"
        fi
    done
    # the shell takes it as a URL (not a script): sqlite opens, the
    # servers (port 1: nothing listens) fail to connect, exit 2
    case $s in
    sqlite*) url="$s://:memory:" want=0 ;;
    *) url="$s://u:p@127.0.0.1:1/db" want=2 ;;
    esac
    "$T" "$url" -e 'x = 1' >/dev/null 2>"$D/err" </dev/null
    rc=$?
    if [ $rc -eq $want ] && ! grep -q -E 'unsupported|cannot open' "$D/err"; then
        echo "ok - the shell takes $s:// as a database URL"
    else
        echo "not ok - the shell takes $s:// as a database URL (status $rc)"
        sed -e 's/^/#   /' "$D/err"
    fi
done
"$T" 'MARIADB://u:p@127.0.0.1:1/db' -e 'x = 1' >/dev/null 2>"$D/err" </dev/null
if [ $? -eq 2 ] && grep -q OperationalError "$D/err"; then
    echo "ok - schemes are case-insensitive"
else
    echo "not ok - schemes are case-insensitive"
fi
"$T" 'nosuch://x' >/dev/null 2>"$D/err" </dev/null
if [ $? -eq 2 ] && grep -q "unsupported database URL" "$D/err"; then
    echo "ok - an unknown scheme is refused"
else
    echo "not ok - an unknown scheme is refused"
fi
