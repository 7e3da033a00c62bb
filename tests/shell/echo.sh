#!/bin/sh
# echo.sh -- --echo-sql and `.sql on|off`: each statement the ORM runs
# goes to stderr as it runs, on one line, with its parameters
# ("SQL  -- params: v1, v2"), and nothing once it is off.  SQLite, and the
# test servers when they run (make test).
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

MODEL='E = orm.Model:extend("E", { a = orm.fields.BooleanField{}, Meta = { table = "e" } })
orm.connection():execute_script("DROP TABLE IF EXISTS e")
orm.generate_schemas()
'

# echo_on LABEL URL QUOTE PARAM: the statements echo with the dialect's
# quotes and placeholders.
echo_on() {
    label=$1 url=$2 q=$3 ph=$4
    pipe "$MODEL
.sql on
E:filter{ a = true }:count()
.sql off
E:all():count()
" "$url"
    expect_rc "$label: .sql on, a count, .sql off, a count" 0
    want="SELECT COUNT(*) FROM ${q}e${q} WHERE ${q}a${q}=$ph  -- params: true"
    if [ "$(grep -v '^sql echo' "$D/err")" = "$want" ]; then
        ok "$label: one statement echoed, on one line, with its parameters"
    else
        notok "$label: one statement echoed, on one line, with its parameters (want: $want)"
    fi

    run --echo-sql -e "$MODEL" -e 'print(E:filter{ a = false }:exists())' "$url"
    expect_rc "$label: --echo-sql" 0
    err_has "$label: --echo-sql echoes from the start (CREATE TABLE)" "^CREATE TABLE"
    err_has "$label: and every statement after" "LIMIT 1.*  -- params: false$"
    out_is "$label: stdout holds only the results" "false"
}

echo_on SQLite "sqlite://$D/echo.db" '"' '?'
[ -n "${TESTUDO_PG_URL:-}" ] && echo_on PostgreSQL "$TESTUDO_PG_URL" '"' '$1'
[ -n "${TESTUDO_MYSQL_URL:-}" ] && echo_on MariaDB "$TESTUDO_MYSQL_URL" '`' '?'

exit $((fails > 0))
