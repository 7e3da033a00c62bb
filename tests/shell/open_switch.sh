#!/bin/sh
# open_switch.sh -- `.open NAME` switches everything to that connection:
# .tables, orm.connection() without a name, .begin/.commit and
# orm.transaction() without a name; `.open default` switches back.
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

rm -f "$D/a.db" "$D/b.db"
"$T" -q --no-introspect "sqlite://$D/a.db" -e 'orm.connection():execute_script("CREATE TABLE alpha (id INTEGER PRIMARY KEY)")' >/dev/null 2>&1
"$T" -q --no-introspect "sqlite://$D/b.db" -e 'orm.connection():execute_script("CREATE TABLE beta (id INTEGER PRIMARY KEY)")' >/dev/null 2>&1

run -q -e "orm.init{ connections = { default = [[sqlite://$D/a.db]], b = [[sqlite://$D/b.db]] } }" \
    -e '.open b' -e '.tables' \
    -e 'print("conn " .. orm.connection():execute_query("SELECT name FROM sqlite_master")[1].name)' \
    -e '.begin' \
    -e 'print("tx b " .. tostring(orm._in_transaction("b")) .. " default " .. tostring(orm._in_transaction("default")))' \
    -e '.rollback' \
    -e 'tx = orm.transaction()' -e 'print("orm.transaction on " .. tx.name)' -e 'tx:rollback()' \
    -e '.open default' \
    -e 'print("back " .. orm.connection():execute_query("SELECT name FROM sqlite_master")[1].name)'
expect_rc ".open NAME session runs" 0
out_has ".tables lists the tables of the connection in use" '^beta,table'
out_lacks "and not the other connection's" '^alpha,table'
out_has "orm.connection() is the connection in use" '^conn beta$'
out_has ".begin opens the transaction on it" '^tx b true default false$'
out_has "orm.transaction() without a name too" '^orm.transaction on b$'
out_has ".open default switches back" '^back alpha$'
exit $((fails > 0))
