#!/bin/sh
# api_examples.sh -- LUA_API.md's examples of querysets, expressions and
# instances (tests/shell/api_examples.lua) run unchanged in the shell on
# the demo shop, and those of models, fields, validators, transactions
# and signals (api_examples_models.lua) on the database alone: every one
# runs on SQLite, and on PostgreSQL and MariaDB
# when tests/run.sh has their URLs (TESTUDO_PG_URL, TESTUDO_MYSQL_URL;
# --demo --force reseeds their demo tables), with the same results
# everywhere (the line printing the SQL aside: placeholders and quotes
# are the backend's).
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP, TESTUDO_ROOT.

. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

M="$TESTUDO_ROOT/tests/shell/api_examples_models.lua"
mtotal=$(grep -o 'ok("' "$M" | wc -l)
run -q --no-introspect sqlite://:memory: "$M"
expect_rc "sqlite: the model examples run" 0
out_has "sqlite: all $mtotal model examples ran" "^$mtotal examples ran$"
cp "$D/out" "$D/sqlite.models"
for pair in "pg:${TESTUDO_PG_URL:-}" "mysql:${TESTUDO_MYSQL_URL:-}"; do
    name=${pair%%:*}
    url=${pair#*:}
    [ -n "$url" ] || continue
    run -q --no-introspect "$url" "$M"
    expect_rc "$name: the model examples run" 0
    if cmp -s "$D/sqlite.models" "$D/out"; then
        ok "$name: the model examples give what SQLite gives"
    else
        diff "$D/sqlite.models" "$D/out" >"$D/err"
        notok "$name: the model examples give what SQLite gives"
    fi
done

S="$TESTUDO_ROOT/tests/shell/api_examples.lua"
total=$(grep -o 'ok("' "$S" | wc -l)

run --demo -q "$S"
expect_rc "sqlite: the examples run" 0
out_has "sqlite: all $total examples ran" "^$total examples ran$"
grep -v '^sql ' "$D/out" >"$D/sqlite.out"

for pair in "pg:${TESTUDO_PG_URL:-}" "mysql:${TESTUDO_MYSQL_URL:-}"; do
    name=${pair%%:*}
    url=${pair#*:}
    [ -n "$url" ] || continue
    run --demo --force -q "$url" "$S"
    expect_rc "$name: the examples run" 0
    out_has "$name: all $total examples ran" "^$total examples ran$"
    grep -v '^sql ' "$D/out" >"$D/$name.out"
    if cmp -s "$D/sqlite.out" "$D/$name.out"; then
        ok "$name: the same results as SQLite"
    else
        diff "$D/sqlite.out" "$D/$name.out" >"$D/out"
        notok "$name: the same results as SQLite"
    fi
done
[ "$fails" -eq 0 ]
