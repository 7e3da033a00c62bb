#!/bin/sh
# modes.sh -- --sandbox (the whole session in a transaction rolled back at
# exit), --read-only (writes refused by the database) and --atomic (a
# script all or nothing: exit status 1 and nothing written on an error),
# with the modes shown in the prompt.  SQLite always; PostgreSQL and
# MariaDB with TESTUDO_PG_URL / TESTUDO_MYSQL_URL.
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

count() { # URL: the rows of modes_t, on stdout of its own
    "$T" -q --no-introspect "$1" -e 'print(orm.connection():execute_query("SELECT COUNT(*) AS n FROM modes_t")[1].n)' 2>/dev/null
}

check() {
    db=$1 url=$2
    run -q --no-introspect "$url" -e 'orm.connection():execute_script("DROP TABLE IF EXISTS modes_t; CREATE TABLE modes_t (x INTEGER)")' \
        -e 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (1)")'
    expect_rc "$db: table made" 0

    # --sandbox: writes are seen inside, gone after
    run -q --sandbox --no-introspect "$url" \
        -e 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (2)")' \
        -e 'orm.in_transaction(function() orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (3)") end)' \
        -e 'print("inside " .. orm.connection():execute_query("SELECT COUNT(*) AS n FROM modes_t")[1].n)'
    expect_rc "$db --sandbox: runs" 0
    out_has "$db --sandbox: the writes are seen inside (a nested transaction too)" '^inside 3$'
    n=$(count "$url")
    if [ "$n" = 1 ]; then ok "$db --sandbox: the database is unchanged after"; else notok "$db --sandbox: $n rows after"; fi
    pipe 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (4)")
' -q --sandbox --no-introspect "$url"
    n=$(count "$url")
    if [ "$n" = 1 ]; then ok "$db --sandbox: piped statements are rolled back too"; else notok "$db --sandbox (piped): $n rows after"; fi

    # --read-only: reads work, a write is refused by the database
    run -q --read-only --no-introspect "$url" -e 'print("rows " .. orm.connection():execute_query("SELECT COUNT(*) AS n FROM modes_t")[1].n)'
    out_has "$db --read-only: reads work" '^rows 1$'
    run -q --read-only --no-introspect "$url" -e 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (5)")'
    expect_rc "$db --read-only: a write fails" 1
    err_has "$db --read-only: with the database's clear error" 'OperationalError: .*(read-?only|READ ONLY)'
    run -q --read-only --no-introspect "$url" -e 'orm.in_transaction(function() orm.connection():execute_query("DELETE FROM modes_t") end)'
    expect_rc "$db --read-only: a write in a transaction fails too" 1
    n=$(count "$url")
    if [ "$n" = 1 ]; then ok "$db --read-only: nothing written"; else notok "$db --read-only: $n rows after"; fi

    # --read-only survives a lost session: the one opened after it refuses too
    case $db in
    postgres) pid='SELECT pg_backend_pid() AS p' kill='SELECT pg_terminate_backend(%d) AS k' ;;
    mariadb) pid='SELECT CONNECTION_ID() AS p' kill='KILL %d' ;;
    *) pid='' ;;
    esac
    if [ -n "$pid" ]; then
        run -q --read-only --no-introspect "$url" \
            -e "orm.init{ connections = { default = [[$url]], other = [[$url]] } }" \
            -e "p = orm.connection():execute_query([[$pid]])[1].p" \
            -e "orm.connection('other'):execute_query(([[$kill]]):format(p))" \
            -e 'pcall(function() orm.connection():execute_query("SELECT 1 AS one") end)' \
            -e 'print("again " .. orm.connection():execute_query("SELECT COUNT(*) AS n FROM modes_t")[1].n)' \
            -e 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (8)")'
        out_has "$db --read-only: a new session after a lost one reads" '^again 1$'
        err_has "$db --read-only: and refuses a write too" 'OperationalError: .*(read-?only|READ ONLY)'
    fi

    # --atomic: all or nothing
    printf 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (6)")\norm.connection():execute_query("INSERT INTO modes_t (x) VALUES (7)")\nerror("boom")\n' >"$D/fail.lua"
    run -q --atomic --no-introspect "$url" "$D/fail.lua"
    expect_rc "$db --atomic: a failing script exits 1" 1
    err_has "$db --atomic: with its error" 'boom'
    n=$(count "$url")
    if [ "$n" = 1 ]; then ok "$db --atomic: nothing written after the failure"; else notok "$db --atomic: $n rows after a failure"; fi
    printf 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (6)")\norm.connection():execute_query("INSERT INTO modes_t (x) VALUES (7)")\n' >"$D/good.lua"
    run -q --atomic --no-introspect "$url" "$D/good.lua"
    expect_rc "$db --atomic: a good script exits 0" 0
    n=$(count "$url")
    if [ "$n" = 3 ]; then ok "$db --atomic: everything written after success"; else notok "$db --atomic: $n rows after success"; fi
    # --sandbox and .open URL: the database opened is sandboxed too
    run -q --sandbox --no-introspect "sqlite://$D/other.db" \
        -e '.open '"$url" \
        -e 'orm.connection():execute_query("INSERT INTO modes_t (x) VALUES (9)")' \
        -e 'print("seen " .. orm.connection():execute_query("SELECT COUNT(*) AS n FROM modes_t")[1].n)'
    out_has "$db --sandbox: .open URL says the new database is sandboxed" 'sandbox: its changes are rolled back at exit'
    out_has "$db --sandbox: writes after .open are seen inside" '^seen 4$'
    n=$(count "$url")
    if [ "$n" = 3 ]; then ok "$db --sandbox: and rolled back at exit"; else notok "$db --sandbox after .open: $n rows after"; fi
    run -q --atomic --no-introspect "sqlite://$D/other.db" -e ".open $url"
    err_has "$db --atomic: .open URL refused" 'cannot switch databases in an --atomic script'

    run -q --no-introspect "$url" -e 'orm.connection():execute_script("DROP TABLE modes_t")'
}

check sqlite "sqlite://$D/modes.db"
[ -n "${TESTUDO_PG_URL:-}" ] && check postgres "$TESTUDO_PG_URL"
[ -n "${TESTUDO_MYSQL_URL:-}" ] && check mariadb "$TESTUDO_MYSQL_URL"

run -q --atomic
expect_rc "--atomic without a script is a usage error" 2
err_has "--atomic without a script says why" 'give one'
run -q --atomic --sandbox -e '1'
expect_rc "--atomic with --sandbox is a usage error" 2
exit $((fails > 0))
