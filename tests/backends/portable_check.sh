#!/bin/sh
# portable_check.sh [BUILD_DIR] -- the portability checks of issues 3 and
# 4: runs tests/backends/portable_check.lua and portable_relations.lua with
# BUILD_DIR/testudo (default build) on sqlite://:memory:, on
# $TESTUDO_PG_URL and on $TESTUDO_MYSQL_URL, and fails unless every output
# is identical to SQLite's.  A backend whose URL is unset is skipped (and
# said so).  Each run must also end with the line "NAME: done" and contain
# no "!! " line (an unexpected error in the script) and no "not ok " line
# (a result that differs from the one computed by hand).
#
# Prints TAP-like lines ("ok N - ..." / "not ok N - ..."), the diff of
# any output that differs, and exits non-zero on any failure.

B=${1:-build}
cd "$(dirname "$0")/../.." || exit 2
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
TESTUDO=${TESTUDO:-$B/testudo}

if [ ! -x "$TESTUDO" ]; then
    echo "not ok 1 - $TESTUDO is missing"
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portable-check.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

n=0
fail=0

ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}

not_ok() {
    n=$((n + 1))
    fail=$((fail + 1))
    echo "not ok $n - $*"
}

# run NAME URL: runs $SCRIPT, checks that it completed.
run() {
    name=$1 url=$2
    out=$TMP/$name.out
    # each run starts from an empty database: a server database still
    # holds what the spec runs before left (orm.testing.init drops every
    # table of a persistent database)
    case $url in sqlite://:memory:*) ;; *)
        PC_URL=$url "$TESTUDO" -q "$url" \
            -e 'orm.testing.init{ db_url = os.getenv("PC_URL") } orm.testing.finish()' \
            >/dev/null 2>"$TMP/$name.reset" ||
            sed -e 's/^/    # reset: /' "$TMP/$name.reset" ;;
    esac
    # the script's own orm.init uses arg[1]; stderr is kept apart
    "$TESTUDO" -q "$SCRIPT" "$url" >"$out" 2>"$TMP/$name.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        not_ok "$name: testudo exited with status $rc"
        sed -e 's/^/    # /' "$TMP/$name.err" | tail -n 20
        return 1
    fi
    if [ "$(tail -n 1 "$out")" != "$SNAME: done" ]; then
        not_ok "$name: the script did not finish"
        tail -n 20 "$out" | sed -e 's/^/    # /'
        return 1
    fi
    if grep -q '^!! ' "$out"; then
        not_ok "$name: unexpected errors in the script"
        grep '^!! ' "$out" | sed -e 's/^/    # /'
        return 1
    fi
    if grep -q '^not ok ' "$out"; then
        not_ok "$name: wrong results"
        grep '^not ok ' "$out" | sed -e 's/^/    # /'
        return 1
    fi
    ok "$name: the script ran to the end"
    return 0
}

for SNAME in portable_check portable_relations; do
    SCRIPT=tests/backends/$SNAME.lua
    run $SNAME.sqlite "sqlite://:memory:"

    for backend in postgres mysql; do
        if [ $backend = postgres ]; then url=${TESTUDO_PG_URL:-}; else url=${TESTUDO_MYSQL_URL:-}; fi
        if [ -z "$url" ]; then
            var=TESTUDO_PG_URL
            [ $backend = mysql ] && var=TESTUDO_MYSQL_URL
            echo "# $backend skipped: $var is not set"
            continue
        fi
        run $SNAME.$backend "$url"
        if [ -s "$TMP/$SNAME.$backend.out" ] && [ -s "$TMP/$SNAME.sqlite.out" ]; then
            if diff -u "$TMP/$SNAME.sqlite.out" "$TMP/$SNAME.$backend.out" >"$TMP/$SNAME.$backend.diff"; then
                ok "$SNAME.$backend prints what sqlite prints"
            else
                not_ok "$SNAME.$backend prints something else than sqlite"
                sed -e 's/^/    # /' "$TMP/$SNAME.$backend.diff" | head -n 100
            fi
        else
            not_ok "$SNAME.$backend: no output to compare"
        fi
    done
done

echo "1..$n"
[ $fail -eq 0 ]
