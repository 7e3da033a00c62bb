#!/bin/sh
# run.sh BUILD_DIR [SANITIZE] [PART] -- runs testudo's tests and counts.
#
#   PART   unit   every BUILD_DIR/tests/test_* (cmocka)
#          lua    busted over tests/lua/ with lua5.4 and BUILD_DIR/testudo.so,
#                 once per backend: sqlite, postgres, mysql; then
#                 tests/backends/portable_check.sh (one script, the same
#                 output on every backend) with BUILD_DIR/testudo
#          shell  tests/shell/*.exp (expect, through a pty) and *.sh (pipes)
#          quick  unit, lua and shell (make check, with
#                 TESTUDO_TEST_BACKENDS=sqlite: no server is started, the
#                 unit tests of the servers skip, and the shell tests
#                 marked `# needs: servers` -- they start private ones --
#                 wait for make test)
#          (unit, lua and shell when absent)
#
# The unit and lua parts need a PostgreSQL and a MariaDB: unless
# TESTUDO_PG_URL / TESTUDO_MYSQL_URL name existing servers, private ones
# are started with tests/backends/pg.sh and mysql.sh (installing the
# server packages when missing) on 127.0.0.1, ports TESTUDO_PG_PORT
# (55432) and TESTUDO_MYSQL_PORT (53306), and stopped when the tests end,
# pass or fail or are interrupted.  A server that cannot be started is a
# failure, never a skip.  The URLs are exported, so the unit test of the
# backends runs against them; each busted run gets its URL in
# TESTUDO_TEST_DB_URL (orm.testing.init empties that database first).
# TESTUDO_TEST_BACKENDS (default "sqlite postgres mysql") picks the runs.
#
# Each part prints its runners' failures, then `part NAME: N passed, N
# failed`; the last line is always `N passed, N failed` over all parts.
# The exit status is non-zero when a test failed, or when a runner
# crashed or printed no results (each such runner counts as one failure).
# SANITIZE (e.g. address,undefined) preloads the sanitizer runtimes into
# lua5.4, which is not built with them.

B=${1:-build}
SAN=${2:-}
PART=${3:-all}

cd "$(dirname "$0")/.." || exit 2
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
ROOT=$(pwd)

total_pass=0
total_fail=0
part_pass=0
part_fail=0

TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/testudo-tests.XXXXXX") || exit 2
BACKENDS=${TESTUDO_TEST_BACKENDS:-sqlite postgres mysql}

# ---- database servers ---------------------------------------------------

STARTED=""     # the servers this run started (stopped at exit)
SERVER_FAIL="" # the servers that could not be started

# start_server KIND URL_VARIABLE LABEL: exports the URL of a running
# server (the given one, or a private one started now).
start_server() {
    kind=$1 var=$2 label=$3
    eval "given=\${$var:-}"
    [ -n "$given" ] && return 0
    log=$TMPROOT/$kind-start.log
    if url=$(sh tests/backends/$kind.sh start 2>"$log") && [ -n "$url" ]; then
        STARTED="$STARTED $kind"
        eval "$var=\$url"
        export "$var"
    else
        SERVER_FAIL="$SERVER_FAIL $kind"
        echo "--- $label: the test server could not be started:"
        sed -e 's/^/    /' "$log"
    fi
}

start_servers() {
    [ -n "${SERVERS_UP:-}" ] && return 0
    SERVERS_UP=1
    case " $BACKENDS " in *" postgres "*) need_pg=1 ;; *) need_pg= ;; esac
    case " $BACKENDS " in *" mysql "*) need_my=1 ;; *) need_my= ;; esac
    # the unit test of the backends always wants both
    if [ "$PART" = all ] || [ "$PART" = unit ]; then need_pg=1 need_my=1; fi
    [ -n "$need_pg" ] && start_server pg TESTUDO_PG_URL PostgreSQL
    [ -n "$need_my" ] && start_server mysql TESTUDO_MYSQL_URL MariaDB
}

stop_servers() {
    for kind in $STARTED; do
        # (with its URL set, the script would leave the server alone)
        env -u TESTUDO_PG_URL -u TESTUDO_MYSQL_URL \
            sh tests/backends/$kind.sh stop >/dev/null 2>&1
    done
    STARTED=""
}

CHILD="" # the busted run in progress

cleanup() {
    [ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null
    stop_servers
    rm -rf "$TMPROOT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

part_begin() {
    part_pass=0
    part_fail=0
}

part_end() {
    echo "part $1: $part_pass passed, $part_fail failed"
    total_pass=$((total_pass + part_pass))
    total_fail=$((total_fail + part_fail))
}

# count NAME OUTPUT_FILE STATUS PASS_PATTERN FAIL_PATTERN [RUN_PATTERN]
# Adds a runner's results to the part; prints its output when it failed.
count() {
    name=$1 file=$2 rc=$3
    np=$(grep -c -E "$4" "$file")
    nf=$(grep -c -E "$5" "$file")
    nskip=0
    if [ -n "${6:-}" ]; then
        # cmocka: failed = run - passed - skipped (from its summaries)
        nrun=$(grep -c -E "$6" "$file")
        nskip=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s).*/\1/p' \
            "$file" | awk '{ n += $1 } END { print n + 0 }')
        nf=$((nrun - np - nskip))
        [ "$nf" -lt 0 ] && nf=0
    fi
    bad=""
    if [ $((np + nf + nskip)) -eq 0 ]; then
        bad="printed no results"
        nf=1
    elif [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
        bad="exited with status $rc"
        nf=1
    fi
    part_pass=$((part_pass + np))
    part_fail=$((part_fail + nf))
    if [ "$nf" -gt 0 ]; then
        echo "--- $name: $np passed, $nf failed${bad:+ ($bad)}"
        if grep -q '^not ok' "$file"; then
            # TAP: each failure with its diagnostics
            awk '/^not ok/ { p = 1; print; next }
                 /^(ok |1\.\.)/ { p = 0 }
                 p && /^[ \t]*#/ { print }' "$file" | sed -e 's/^/    /' |
                head -n 200
        else
            sed -e 's/^/    /' "$file" | tail -n 60
        fi
    else
        if [ "$nskip" -gt 0 ]; then
            echo "    $name: $np passed, $nskip skipped"
        else
            echo "    $name: $np passed"
        fi
    fi
}

# Sanitizer runtimes to preload into a program not built with them.
san_preload() {
    libs=""
    case ",$SAN," in
    *,address,*) libs="$libs $(${CC:-cc} -print-file-name=libasan.so)" ;;
    esac
    case ",$SAN," in
    *,undefined,*) libs="$libs $(${CC:-cc} -print-file-name=libubsan.so)" ;;
    esac
    echo $libs
}

# Counts a server that is missing as one failure of the part.
server_failures() {
    for kind in $SERVER_FAIL; do
        echo "--- $kind: no server, its tests cannot run"
        part_fail=$((part_fail + 1))
    done
}

run_unit() {
    start_servers
    part_begin
    server_failures
    found=0
    for t in "$B"/tests/test_*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        found=1
        out=$TMPROOT/unit.out
        CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$out" 2>&1
        count "$(basename "$t")" "$out" $? '^\[       OK \]' 'x^' \
            '^\[ RUN      \]'
    done
    [ $found -eq 1 ] || echo "    (no unit test binaries in $B/tests)"
    part_end unit
}

# One run of the busted specs on TESTUDO_TEST_DB_URL (or SQLite).
run_lua_once() {
    label=$1
    out=$TMPROOT/lua-$label.out
    pre=$(san_preload)
    # in the background, so that a signal stops the run at once (the
    # trap kills it and stops the servers)
    if [ -n "$pre" ]; then
        LD_PRELOAD="$pre" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
            lua5.4 /usr/bin/busted --lpath='./?.lua' --cpath="$B/?.so" \
            -o TAP tests/lua >"$out" 2>&1 &
    else
        # a runaway spec fails on its own, without starving the machine
        (
            ulimit -v 4194304 2>/dev/null
            exec lua5.4 /usr/bin/busted --lpath='./?.lua' --cpath="$B/?.so" \
                -o TAP tests/lua
        ) >"$out" 2>&1 &
    fi
    CHILD=$!
    wait $CHILD
    rc=$?
    CHILD=
    # no plan line: busted died before reporting
    if ! grep -q -E '^1\.\.[0-9]+' "$out"; then
        echo "# busted printed no TAP plan line" >>"$out"
        [ $rc -eq 0 ] && rc=1
    fi
    count "busted $label" "$out" $rc '^ok ' '^not ok '
}

run_lua() {
    if ! ls tests/lua/*_spec.lua >/dev/null 2>&1; then
        part_begin
        echo "    (no specs in tests/lua)"
        part_end lua
        return
    fi
    start_servers
    part_begin
    for backend in $BACKENDS; do
        case $backend in
        sqlite) url=${TESTUDO_SQLITE_URL:-sqlite://:memory:} kind=sqlite ;;
        postgres) url=${TESTUDO_PG_URL:-} kind=pg ;;
        mysql) url=${TESTUDO_MYSQL_URL:-} kind=mysql ;;
        *)
            echo "--- busted $backend: unknown backend (sqlite, postgres, mysql)"
            part_fail=$((part_fail + 1))
            continue
            ;;
        esac
        if [ -z "$url" ]; then
            echo "--- busted $backend: 0 passed, 1 failed (no $kind server)"
            part_fail=$((part_fail + 1))
            continue
        fi
        export TESTUDO_TEST_DB_URL="$url"
        run_lua_once "$backend"
    done
    unset TESTUDO_TEST_DB_URL
    run_portable_check
    part_end lua
}

# issue 3's portability check, once, while the servers are up: the same
# script must print the same output on sqlite and on every server whose
# URL is set (tests/backends/portable_check.sh).
run_portable_check() {
    out=$TMPROOT/portable.out
    sh tests/backends/portable_check.sh "$B" >"$out" 2>&1
    count "portable_check" "$out" $? '^ok ' '^not ok '
}

run_shell() {
    part_begin
    if [ ! -x "$B/testudo" ]; then
        echo "--- $B/testudo is missing"
        part_fail=$((part_fail + 1))
        part_end shell
        return
    fi
    for t in tests/shell/*.exp tests/shell/*.sh; do
        [ -f "$t" ] || continue
        name=$(basename "$t")
        [ "$name" = lib.sh ] && continue # helpers, sourced by the tests
        if [ "$PART" = quick ] && grep -q '^# needs: servers' "$t"; then
            echo "    $name: left to make test (it starts servers)"
            continue
        fi
        dir=$TMPROOT/shell-${name%.*}
        mkdir -p "$dir/home"
        out=$TMPROOT/shell.out
        case $t in
        *.exp) runner="expect -f" ;;
        *) runner="sh" ;;
        esac
        (
            cd "$dir" || exit 2
            unset DATABASE_URL TESTUDO_HISTORY NO_COLOR
            HOME=$dir/home TESTUDO=$B/testudo TESTUDO_ROOT=$ROOT \
                TESTUDO_TMP=$dir TESTUDO_SANITIZE=$SAN \
                TESTUDO_LUA_PRELOAD="$(san_preload)" PAGER=cat TERM=xterm \
                $runner "$ROOT/$t"
        ) >"$out" 2>&1
        count "$name" "$out" $? '^ok ' '^not ok '
    done
    part_end shell
}

case $PART in
all)
    run_unit
    run_lua
    run_shell
    ;;
unit) run_unit ;;
lua) run_lua ;;
quick)
    run_unit
    run_lua
    run_shell
    ;;
shell) run_shell ;;
*)
    echo "run.sh: unknown part '$PART' (unit, lua, shell, quick)" >&2
    exit 2
    ;;
esac

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
