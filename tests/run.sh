#!/bin/sh
# run.sh BUILD_DIR [SANITIZE] [PART] -- runs testudo's tests and counts.
#
#   PART   unit   every BUILD_DIR/tests/test_* (cmocka)
#          lua    busted over tests/lua/ with lua5.4 and BUILD_DIR/testudo.so
#          shell  tests/shell/*.exp (expect, through a pty) and *.sh (pipes)
#          (all three when absent)
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
trap 'rm -rf "$TMPROOT"' EXIT INT TERM

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
                 p && /^#/ { print }' "$file" | sed -e 's/^/    /' |
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

run_unit() {
    part_begin
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

# One run of the busted specs.  The backend matrix (issue 3) will call
# this once per URL in TESTUDO_TEST_DB_URLS with TESTUDO_TEST_DB_URL set.
run_lua_once() {
    label=$1
    out=$TMPROOT/lua.out
    pre=$(san_preload)
    if [ -n "$pre" ]; then
        LD_PRELOAD="$pre" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
            lua5.4 /usr/bin/busted --lpath='./?.lua' --cpath="$B/?.so" \
            -o TAP tests/lua >"$out" 2>&1
    else
        lua5.4 /usr/bin/busted --lpath='./?.lua' --cpath="$B/?.so" \
            -o TAP tests/lua >"$out" 2>&1
    fi
    rc=$?
    # no plan line: busted died before reporting
    if ! grep -q -E '^1\.\.[0-9]+' "$out"; then
        echo "# busted printed no TAP plan line" >>"$out"
        [ $rc -eq 0 ] && rc=1
    fi
    count "busted $label" "$out" $rc '^ok ' '^not ok '
}

run_lua() {
    part_begin
    if ls tests/lua/*_spec.lua >/dev/null 2>&1; then
        run_lua_once "${TESTUDO_TEST_DB_URL:-sqlite}"
    else
        echo "    (no specs in tests/lua)"
    fi
    part_end lua
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
                TESTUDO_TMP=$dir PAGER=cat TERM=xterm \
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
shell) run_shell ;;
*)
    echo "run.sh: unknown part '$PART' (unit, lua, shell)" >&2
    exit 2
    ;;
esac

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
