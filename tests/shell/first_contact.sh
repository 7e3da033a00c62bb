#!/bin/sh
# first_contact.sh -- the traps of a new user's first minutes: a database
# file given as it is, strict globals (the Python spellings True, False,
# None), explicit nil filter values, start-up errors reported at once,
# and --demo on an existing database.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP (also the cwd);
# TESTUDO_MYSQL_URL and TESTUDO_PG_URL when the test servers run.

. "$(dirname "$0")/lib.sh"

# ---- a database file is a database, not a script ----------------------

run "sqlite://$D/shop.db" -e 'orm.connection():execute_script("CREATE TABLE items (name TEXT); INSERT INTO items VALUES (\"pen\")")'
expect_rc "an SQLite file is made through its URL" 0
cd "$D" || exit 2
run shop.db -e '.tables'
expect_rc "testudo FILE.db opens it" 0
out_has "testudo FILE.db lists its tables" 'items'
run shop.db -f csv -e 'orm.connection():execute_query("SELECT name FROM items")'
out_has "testudo FILE.db queries the file" '^pen$'
cp shop.db "$D/shopcopy"
run "$D/shopcopy" -e 'print(#orm.connection():execute_query("SELECT name FROM items"))'
out_is "an SQLite file is known by its header, whatever its name" '1'
run "sqlite://$D/shop.db" -f csv -e 'orm.connection():execute_query("SELECT name FROM items")'
cp "$D/out" "$D/by-url"
run "$D/shop.db" -f csv -e 'orm.connection():execute_query("SELECT name FROM items")'
if cmp -s "$D/out" "$D/by-url"; then ok "testudo FILE and testudo sqlite://FILE are the same"; else notok "testudo FILE and testudo sqlite://FILE are the same"; fi
rm -f "$D/fresh.sqlite3"
run "$D/fresh.sqlite3" -e 'orm.connection():execute_script("CREATE TABLE t (a INTEGER)")'
expect_rc "a new .sqlite3 path opens" 0
err_has "a new database path is announced" 'does not exist yet: it will be created'
if [ -f "$D/fresh.sqlite3" ]; then ok "the new database file is created"; else notok "the new database file is created"; fi
printf 'print("a script")\n' >"$D/job.lua"
run "$D/job.lua"
out_is "a Lua file is still a script" 'a script'
printf 'print(arg[1])\n' >"$D/arg.lua"
run "$D/arg.lua" "$D/shop.db"
out_is "an SQLite file after a script is the script's argument" "$D/shop.db"
printf 'print(#orm.connection():execute_query("SELECT name FROM items"))\n' >"$D/count.lua"
run "$D/count.lua" "$D/shop.db"
out_is "an SQLite file after a script is also opened" '1'
run "$D/no-such-script.lua"
expect_rc "a missing script is an error" 1

# ---- strict globals ----------------------------------------------------

pipe 'n0 = User:count()
User:filter{is_active=False}:delete()
print(User:count() == n0)
' --demo
expect_rc "reading False exits 1" 1
err_has "the error names False and suggests false" "undefined global 'False' \\(did you mean false\\?\\)"
out_is "User:filter{is_active=False}:delete() deletes nothing" 'true'
run --demo -e 'User:filter{is_active=True}'
err_has "True suggests true" "undefined global 'True' \\(did you mean true\\?\\)"
run --demo -e 'User:filter{bio=None}'
err_has "None suggests orm.null" "undefined global 'None' \\(did you mean orm\\.null\\?\\)"
run --demo -e 'user:count()'
err_has "a name in the wrong case suggests the right one" "undefined global 'user' \\(did you mean User\\?\\)"
run --demo -e 'print(rawget(_G, "nope"))'
expect_rc "rawget(_G, name) tests for a global" 0
out_is "rawget(_G, name) gives nil" 'nil'
run --demo -e 'newglobal = 3' -e 'print(newglobal)'
out_is "assigning a global defines it" '3'
printf 'local x = undefined_thing\n' >"$D/strict.lua"
run --demo "$D/strict.lua"
expect_rc "a script reading an undefined global exits 1" 1
err_has "a script's error names the global" "strict\\.lua:1: undefined global 'undefined_thing'"
pipe 'local declared = nil
print(declared)
' --demo
out_is "a declared local holding nil is no undefined global" 'nil'

# ---- explicit nil values -----------------------------------------------

pipe 'n0 = User:count()
User:filter{is_active=nil}:delete()
User:filter<is_active=nil>:delete()
User:exclude{ email = nil }:delete()
print(User:count() == n0)
' --demo
expect_rc "an explicit nil filter value exits 1" 1
err_has "it raises FieldError pointing at orm.null" "FieldError: 'is_active' is given nil.*orm\\.null"
if [ "$(grep -c FieldError "$D/err")" -eq 3 ]; then ok "every form raises"; else notok "every form raises"; fi
out_is "nothing is deleted" 'true'
run --demo -e 'User:filter{ Q{role=nil} }:count()'
err_has "Q{key=nil} raises FieldError too" "FieldError: 'role' is given nil"
run --demo -e 'print(User:filter{is_active = orm.null}:count())'
out_is "orm.null still means IS NULL" '0'
run --demo -e 'x = { a = nil }; print(next(x))'
out_is "nil in other tables is untouched" 'nil'

# ---- start-up errors ---------------------------------------------------

run postgres://testudo:secret@127.0.0.1:1/x -e 'print("ran")'
expect_rc "an unreachable PostgreSQL exits 2" 2
one_err_line "an unreachable PostgreSQL is one line"
err_has "it is an OperationalError" 'OperationalError'
if grep -q secret "$D/err"; then notok "the password is not shown"; else ok "the password is not shown"; fi
if [ -s "$D/out" ]; then notok "nothing runs after a failed connection"; else ok "nothing runs after a failed connection"; fi
run mysql://root@127.0.0.1:1/x
expect_rc "an unreachable MySQL exits 2 before any prompt" 2
one_err_line "an unreachable MySQL is one line"
# a listener that never answers: the connect_timeout gives up on it
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$D/port" &
listener=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$D/port" ] && break; sleep 0.2; done
port=$(cat "$D/port")
for scheme in postgres mysql; do
    t0=$(date +%s)
    run "$scheme://u:p@127.0.0.1:$port/db?connect_timeout=1" -e 'print("ran")'
    t1=$(date +%s)
    expect_rc "a $scheme server that never answers exits 2" 2
    if [ $((t1 - t0)) -le 6 ]; then ok "after its connect_timeout ($((t1 - t0)) s)"; else notok "after its connect_timeout ($((t1 - t0)) s)"; fi
    one_err_line "a $scheme server that never answers is one line"
done
kill "$listener" 2>/dev/null

mkdir -p "$D/proj/models" "$D/elsewhere"
cat >"$D/proj/testudo.lua" <<'LUA'
return { db_url = "sqlite://:memory:", apps = { models = { models = { "shopmodels" } } } }
LUA
cat >"$D/proj/shopmodels.lua" <<'LUA'
local orm = rawget(_G, "orm") or require "testudo"
orm.Model:extend("Thing", { name = orm.fields.CharField{ max_length = 10 } })
LUA
(cd "$D/elsewhere" && "$T" -c ../proj/testudo.lua -e 'print(Thing._meta.db_table)' >"$D/out" 2>"$D/err" </dev/null)
rc=$?
expect_rc "-c from another directory finds the config's modules" 0
out_has "its models are loaded" 'thing'
(cd "$D/proj" && "$T" -e 'print(Thing._meta.db_table)' >"$D/out" 2>"$D/err" </dev/null)
out_has "./testudo.lua is read" 'thing'
run -c "$D/proj/missing.lua"
expect_rc "a missing config exits 2" 2
one_err_line "a missing config is one line"
printf 'return { db_url = "sqlite://:memory:", apps = { models = { models = { "nosuchmodule" } } } }\n' >"$D/badmod.lua"
run -c "$D/badmod.lua"
expect_rc "a config naming a missing module exits 2" 2
one_err_line "a missing model module is one line"
err_has "it names the module" "module 'nosuchmodule' not found"
printf 'return { db_url = \n' >"$D/broken.lua"
run -c "$D/broken.lua"
expect_rc "a broken config exits 2" 2
one_err_line "a broken config is one line"
err_has "it names the file" 'broken\.lua'

# ---- --demo on an existing database -----------------------------------

rm -f "$D/demo.db"
run --demo "sqlite://$D/demo.db" -e 'print(User:count())'
expect_rc "--demo fills a new database" 0
run --demo "sqlite://$D/demo.db" -e 'User:filter{id=1}:delete()'
expect_rc "--demo refuses a database holding demo tables" 2
one_err_line "the refusal is one line"
err_has "the refusal names --force" 'demo tables.*--force'
run "$D/demo.db" -e 'print(#orm.connection():execute_query("SELECT id FROM users WHERE id = 1"))'
out_is "the refused run changed nothing" '1'
run --demo --force "sqlite://$D/demo.db" -e 'print(User:count() > 0)'
expect_rc "--demo --force replaces the demo tables" 0
out_is "and seeds them again" 'true'

# ---- no password in ps ------------------------------------------------

CMDLINE='local f = io.open("/proc/self/cmdline", "rb"); print((f:read("a"):gsub("%z", " ")))'

# ---- the test servers, when they run -----------------------------------

if [ -n "${TESTUDO_MYSQL_URL:-}" ]; then
    murl=mariadb://${TESTUDO_MYSQL_URL#*://}
    run "$murl" -e 'print(orm.connection():dialect())'
    expect_rc "a mariadb:// URL connects" 0
    out_is "to MariaDB" 'mysql'
    run --demo --force "$murl" -e 'print(User:count() > 0)'
    out_is "--demo --force works on MariaDB" 'true'
    run --demo "$murl" -e 'print(User:count())'
    expect_rc "--demo refuses MariaDB holding demo tables" 2
    u=${TESTUDO_MYSQL_URL#*://}
    run "$TESTUDO_MYSQL_URL" -e "$CMDLINE"
    if grep -q secret "$D/out" || ! grep -q 'testudo:xxxxxx@' "$D/out"; then
        notok "the password is hidden from ps (/proc/PID/cmdline)"
    else
        ok "the password is hidden from ps (/proc/PID/cmdline)"
    fi
    printf 'print(arg[1] == "%s")\n' "$TESTUDO_MYSQL_URL" >"$D/argurl.lua"
    run "$D/argurl.lua" "$TESTUDO_MYSQL_URL"
    out_is "a URL after the script is still the script's arg[1]" 'true'
    run "mysql://nosuchuser:wrong@${u#*@}" -e 'print("ran")'
    expect_rc "a refused login exits 2" 2
    one_err_line "a refused login is one line"
    if grep -q wrong "$D/err"; then notok "the refused password is not shown"; else ok "the refused password is not shown"; fi
else
    echo "# no TESTUDO_MYSQL_URL: the MariaDB checks need make test (not make check)"
fi
if [ -n "${TESTUDO_PG_URL:-}" ]; then
    run "postgresql://${TESTUDO_PG_URL#*://}" -e 'print(orm.connection():dialect())'
    out_is "a postgresql:// URL connects" 'postgres'
fi

[ "$fails" -eq 0 ]
