#!/bin/sh
# run.sh BENCH_BIN N RUNS "TARGETS" BACKENDS -- make bench: the benchmark
# for each SQLite target (memory, file), then, with BACKENDS=all, on
# PostgreSQL and MariaDB: the servers named by TESTUDO_PG_URL and
# TESTUDO_MYSQL_URL, else the private ones of the test suite
# (tests/backends/*.sh), started here and stopped again at the end.

BIN=$1 N=$2 RUNS=$3 TARGETS=$4 BACKENDS=${5:-sqlite}
cd "$(dirname "$0")/../.." || exit 2

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

status=0
for t in $TARGETS; do
    "$BIN" --n "$N" --runs "$RUNS" --target "$t" || status=1
    echo
done

case $BACKENDS in
all | *postgres* | *mysql*) ;;
*) exit $status ;;
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
    else
        echo "bench: the $want server could not be started" >&2
        status=1
    fi
done
exit $status
