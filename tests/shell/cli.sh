#!/bin/sh
# cli.sh -- the testudo command line through pipes: exit codes, -e,
# scripts and their arguments, stdin, output formats when piped.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP (also the cwd).

. "$(dirname "$0")/lib.sh"

run -V
expect_rc "-V exits 0" 0
out_has "-V prints the version" '^testudo 0\.1\.0'
out_has "-V names Lua and SQLite" 'Lua 5\.4.*SQLite 3'

run --help
expect_rc "--help exits 0" 0
out_has "--help lists --demo" '--demo'
out_has "--help lists --execute" '-e, --execute'
out_has "--help lists testudo db" 'testudo db'

run --no-such-option
expect_rc "a bad option exits 2" 2
err_has "a bad option is named on stderr" "unknown option '--no-such-option'"

run -e
expect_rc "-e without its chunk exits 2" 2

run -f yaml -e 'x = 1'
expect_rc "a bad format exits 2" 2

run 'foo://nowhere'
expect_rc "an unknown URL scheme exits 2" 2

DATABASE_URL='nosuch://x' "$T" -e 'x = 1' >"$D/out" 2>"$D/err" </dev/null
rc=$?
expect_rc "a bad DATABASE_URL exits 2" 2

run db init
expect_rc "testudo db init without a config file exits 1" 1
err_has "testudo db init says it needs a config file to record its settings in" 'no config file'
run db
expect_rc "testudo db without a command exits 2" 2
err_has "testudo db without a command gives the usage" 'usage: testudo db COMMAND'

run -e 'print(1 + 1)'
expect_rc "-e exits 0" 0
out_has "-e runs the chunk" '^2$'

run -e 'x = 20' -e 'print(x + 1)'
out_has "-e chunks run in order in one state" '^21$'

run -e 'error("kaput")'
expect_rc "-e with an error exits 1" 1
err_has "the error goes to stderr" 'kaput'

run -e '1 +'
expect_rc "-e with a syntax error exits 1" 1

run -e 'print(type(orm), type(orm.init))'
out_has "orm is a global" '^table	function$'

run -e 'print(orm.exceptions.DoesNotExist ~= nil)'
out_has "orm.exceptions is there" '^true$'

cat >"$D/args.lua" <<'LUA'
print(arg[0], arg[1], arg[2], select("#", ...), ...)
LUA
run "$D/args.lua" one two
expect_rc "a script exits 0" 0
out_has "a script gets arg and ..." "args\.lua	one	two	2	one	two$"

run sqlite://:memory: "$D/args.lua" x
out_has "DB_URL then SCRIPT" "args\.lua	x	nil	1	x$"

# SCRIPT then DB_URL: the URL is the script's arg[1] and is opened too.
rm -f "$D/after.db"
cat >"$D/after.lua" <<'EOF2'
local M = orm.Model:extend("AfterUrl", { name = orm.fields.CharField{ max_length = 10 } })
orm.generate_schemas()
M:create{ name = "kept" }
print(arg[1], M:count())
EOF2
run "$D/after.lua" "sqlite://$D/after.db"
expect_rc "a script followed by a URL exits 0" 0
out_has "the script sees the URL as arg[1]" "^sqlite://.*after\.db	1$"
run -e 'print(orm.connection("default"):execute_query("SELECT name FROM afterurl")[1].name)' "sqlite://$D/after.db"
out_has "a URL after the script is the database used" '^kept$'

run -e 'error(orm.exceptions.OperationalError("server closed\n\tThis probably means\n"))'
expect_rc "an ORM error in -e exits 1" 1
if [ "$(wc -l <"$D/err")" -eq 1 ] && grep -q '^OperationalError: server closed This probably means$' "$D/err"; then
    ok "a multi-line server message prints as one line"
else
    notok "a multi-line server message prints as one line"
fi

printf 'error("from script")\n' >"$D/bad.lua"
run "$D/bad.lua"
expect_rc "a failing script exits 1" 1
err_has "the script error names the file" 'bad\.lua:1: from script'

run "$D/missing.lua"
expect_rc "a missing script exits 1" 1

printf '#!/usr/bin/env testudo\nprint("shebang ok")\n' >"$D/sh.lua"
run "$D/sh.lua"
out_has "a #! line is skipped" '^shebang ok$'

printf 'print(6 * 7)\n' | "$T" >"$D/out" 2>"$D/err"
rc=$?
expect_rc "a script on stdin exits 0" 0
out_has "statements piped to stdin run" '^42$'

printf 'print(arg[1])\n' | "$T" - hello >"$D/out" 2>"$D/err"
out_has "- reads the script from stdin" '^hello$'

printf 'x = 5\n' | "$T" -i -e 'y = 1' >"$D/out" 2>"$D/err"
rc=$?
expect_rc "-e then -i reads the REPL from a pipe" 0

printf 'local a = 2\na * 21\n"x" .. "y"\n' | "$T" -i >"$D/out" 2>"$D/err"
out_has "a piped REPL auto-prints" '^42$'
out_has "a piped REPL keeps locals" '^xy$'

printf 'error("bad")\nprint("after")\n' | "$T" -i >"$D/out" 2>"$D/err"
out_has "a piped REPL goes on after an error" '^after$'
err_has "and reports the error on stderr" 'bad'

printf 'print(1)\n' >"$D/inc.lua"
printf '.read %s\n' "$D/inc.lua" | "$T" -i >"$D/out" 2>"$D/err"
out_has ".read runs a file" '^1$'

# The demo and querysets (need the bindings and examples/shop).
run --demo -e 'print(User:filter{is_active=true}:order_by("-created_at"):count())'
expect_rc "--demo -e exits 0" 0
out_has "--demo -e prints a number" '^[0-9]+$'

run --demo -e 'print(User:filter<is_active=true>:order_by("-created_at"):count())'
expect_rc "the sugar in -e exits 0" 0
out_has "the sugar in -e prints a number" '^[0-9]+$'

printf 'print(User:filter<is_active=true>:count() == User:filter{is_active=true}:count())\n' >"$D/sugar.lua"
run --demo "$D/sugar.lua"
out_has "the sugar works in scripts" '^true$'

run --demo -e 's = "x:m<a>"; print(s)'
out_has "the sugar leaves strings alone" '^x:m<a>$'

run --demo -e 'User:get{id=987654}'
expect_rc "an ORM error in -e exits 1" 1
err_has "an ORM error prints Class: message" '^DoesNotExist: '
if [ "$(wc -l <"$D/err")" -eq 1 ]; then ok "an ORM error is one line"; else notok "an ORM error is one line"; fi

run --demo --echo-sql -e 'User:filter{is_active=true}:count()'
err_has "--echo-sql echoes to stderr" 'SELECT COUNT\(\*\)'

run --demo -e 'print(type(Q), type(F), Count ~= nil)'
out_has "Q, F and Count are globals" '^table|function|userdata'

printf "User:filter{username='bob'}:values('username', 'is_active')\n" | "$T" --demo -i >"$D/out" 2>"$D/err"
out_has "piped output is csv" '^username,is_active$'
out_has "csv rows" '^bob,true$'

printf "User:filter{username='bob'}:values('username')\n" | "$T" --demo -i -f json >"$D/out" 2>"$D/err"
out_has "-f json" '"username": "bob"'

printf "User:filter{username='bob'}:values('username')\n" | "$T" --demo -i -f table >"$D/out" 2>"$D/err"
out_has "-f table" '^ username$'
out_has "-f table counts rows" '^\(1 row\)$'

cat >"$D/crud.lua" <<'LUA'
local fields = orm.fields
local Note = orm.Model:extend("Note", {
  id = fields.IntField{ primary_key = true },
  title = fields.CharField{ max_length = 50 },
  Meta = { table = "notes" },
})
orm.init{ db_url = arg[1] }
orm.generate_schemas()
Note:create<title = "one">
Note:create{ title = "two" }
print(Note:filter<title__startswith = "t">:count(), Note:all():count())
LUA
run "$D/crud.lua" "sqlite://$D/crud.db"
expect_rc "a script with its own orm.init exits 0" 0
out_has "a script with its own orm.init works" '^1	2$'

if [ -f "$D/crud.db" ]; then ok "the script made its SQLite file"; else notok "the script made its SQLite file"; fi

exit $((fails > 0))
