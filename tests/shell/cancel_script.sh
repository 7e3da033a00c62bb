#!/bin/sh
# cancel_script.sh -- SIGINT to a script (a -e chunk or a SCRIPT file)
# cancels its running query on the server and exits with status 130,
# within 2 s: SQLite always, PostgreSQL and MariaDB with TESTUDO_PG_URL /
# TESTUDO_MYSQL_URL (make test starts them).
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

# interrupt NAME ARGS...: starts testudo ARGS, sends SIGINT after 1 s,
# checks the status and the time it took to stop
interrupt() {
    name=$1
    shift
    t0=$(date +%s%N)
    "$T" --no-introspect "$@" >"$D/out" 2>"$D/err" </dev/null &
    pid=$!
    sleep 1
    kill -INT $pid
    i=0 # a testudo that does not stop is killed after 5 s
    while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL $pid 2>/dev/null
    wait $pid
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000 - 1000))
    expect_rc "$name: exits with status 130" 130
    if [ "$ms" -lt 2000 ]; then ok "$name: stops within 2 s"; else notok "$name: took $ms ms to stop"; fi
    err_has "$name: says it was interrupted" "interrupted"
}

check() {
    db=$1 url=$2 sql=$3
    interrupt "$db -e" "$url" -e "orm.connection():execute_query([[$sql]])"
    printf 'orm.connection():execute_query([[%s]])\nprint("not reached")\n' "$sql" >"$D/long.lua"
    interrupt "$db SCRIPT" "$url" "$D/long.lua"
    out_lacks "$db SCRIPT: the rest of the script does not run" "not reached"
}

check sqlite sqlite://:memory: \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
[ -n "${TESTUDO_PG_URL:-}" ] && check postgres "$TESTUDO_PG_URL" "SELECT pg_sleep(60)"
[ -n "${TESTUDO_MYSQL_URL:-}" ] && check mariadb "$TESTUDO_MYSQL_URL" "SELECT SLEEP(60)"
exit $((fails > 0))
