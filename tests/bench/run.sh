#!/bin/sh
# run.sh BENCH_BIN N RUNS "TARGETS" BACKENDS -- make bench: the benchmark
# for each SQLite target (memory, file), then, with BACKENDS=all, on
# PostgreSQL and MariaDB: the servers named by TESTUDO_PG_URL and
# TESTUDO_MYSQL_URL, else the private ones of the test suite
# (tests/backends/*.sh), started here and stopped again at the end.

BIN=$1 N=$2 RUNS=$3 TARGETS=$4 BACKENDS=${5:-sqlite}
MEM_N=${BENCH_MEM_N:-1000000}
cd "$(dirname "$0")/../.." || exit 2
BUILD=$(dirname "$(dirname "$BIN")")
MEMROWS=""

STARTED=""
cleanup() {
    for kind in $STARTED; do
        env -u TESTUDO_PG_URL -u TESTUDO_MYSQL_URL \
            sh tests/backends/$kind.sh stop >/dev/null 2>&1
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# median_ms CMD...: the median wall time of 21 runs of CMD, in ms
median_ms() {
    i=0
    while [ $i -lt 21 ]; do
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
        i=$((i + 1))
    done | sort -n | sed -n 11p | awk '{ printf "%.1f", $1 / 1000 }'
}

# memory NAME URL: fills MEM_N rows at URL, then the peak memory of a
# process streaming them (iter) and of one loading them all (list)
memory() {
    LUA_CPATH="$BUILD/?.so;;" lua5.4 tests/bench/memory.lua fill "$2" "$MEM_N" ||
        return 1
    it=$(LUA_CPATH="$BUILD/?.so;;" lua5.4 tests/bench/memory.lua iter "$2" "$MEM_N") ||
        return 1
    li=$(LUA_CPATH="$BUILD/?.so;;" lua5.4 tests/bench/memory.lua list "$2" "$MEM_N") ||
        return 1
    MEMROWS="$MEMROWS$(echo "$1 $it $li" | awk '{ printf "| %-10s | %8.1f MB | %8.1f MB | %8.1f MB |\\n", $1, $3 / 1024, $4 / 1024, $7 / 1024 }')"
}

memory_table() {
    [ -n "$MEMROWS" ] || return 0
    echo "Memory, $MEM_N rows of the benchmark's model (peak resident memory of"
    echo "a process of its own; targets: iter under 32 MB, list under 400 MB)"
    echo
    echo "| database   | before query | iter() peak | list() peak |"
    echo "|------------|-------------:|------------:|------------:|"
    printf "$MEMROWS"
    echo
}

status=0
for t in $TARGETS; do
    "$BIN" --n "$N" --runs "$RUNS" --target "$t" || status=1
    echo
done

echo "Start-up (median of 21 runs): testudo -e '' $(median_ms "$BUILD/testudo" -e '') ms" \
    "(target 15), testudo --demo -e '' $(median_ms "$BUILD/testudo" --demo -e '') ms (target 25)"
echo
if [ "$MEM_N" -gt 0 ]; then
    db=${TMPDIR:-/tmp}/testudo-bench-memory-$$.db
    memory sqlite "sqlite://$db" || status=1
    rm -f "$db"
fi

case $BACKENDS in
all | *postgres* | *mysql*) ;;
*)
    memory_table
    exit $status
    ;;
esac

# start KIND VAR: URL gets VAR's value, else the private server's URL
# (started here, stopped at exit)
start() {
    eval "URL=\${$2:-}"
    [ -n "$URL" ] && return 0
    URL=$(sh tests/backends/$1.sh start 2>/dev/null) || return 1
    STARTED="$STARTED $1"
    [ -n "$URL" ]
}

for kind in pg mysql; do
    case $kind in
    pg) var=TESTUDO_PG_URL want=postgres ;;
    *) var=TESTUDO_MYSQL_URL want=mysql ;;
    esac
    case $BACKENDS in all | *$want*) ;; *) continue ;; esac
    if start $kind $var; then
        "$BIN" --n "$N" --runs "$RUNS" --target "$URL" || status=1
        echo
        if [ "$MEM_N" -gt 0 ]; then
            memory $want "$URL" || status=1
        fi
    else
        echo "bench: the $want server could not be started" >&2
        status=1
    fi
done
memory_table
exit $status
