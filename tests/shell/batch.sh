#!/bin/sh
# batch.sh -- batch mode, as `psql -c` and `sqlite3` users expect: -e
# chunks and statements piped to stdin print each expression's value in
# the -f format (csv and json read back by Python's csv and json modules
# to the rows of the same query run as raw SQL), dot-commands work on
# their own lines, and the exit status is 1 after any error.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP (also the cwd).

. "$(dirname "$0")/lib.sh"

# py NAME SCRIPT -- a Python check that exits 0 when it holds.
py() {
    if python3 -c "$2" >"$D/py.out" 2>&1; then
        ok "$1"
    else
        notok "$1"
        sed -e 's/^/#   py: /' "$D/py.out" | head -10
    fi
}

QS='User:filter{is_active=true}:values("id","email")'
# The same rows as raw SQL, tab-separated, printed by a script.
run --demo -e 'for _, r in ipairs(orm.connection():execute_query("SELECT id, email FROM users WHERE is_active ORDER BY id")) do print(r.id .. "\t" .. r.email) end'
cp "$D/out" "$D/raw.tsv"
if [ "$(wc -l <"$D/raw.tsv")" -ge 2 ]; then ok "the raw query has rows"; else notok "the raw query has rows"; fi

run --demo -f csv -e "$QS"
expect_rc "-f csv -e exits 0" 0
cp "$D/out" "$D/e.csv"
py "-f csv reads back to the rows of the query" "
import csv
rows = list(csv.DictReader(open('$D/e.csv', newline='')))
raw = [l.rstrip('\n').split('\t') for l in open('$D/raw.tsv')]
got = sorted([r['id'], r['email']] for r in rows)
assert got == sorted(raw), (got, raw)
"

run --demo -f json -e "$QS"
expect_rc "-f json -e exits 0" 0
cp "$D/out" "$D/e.json"
py "-f json is one JSON document with the rows of the query" "
import json
rows = json.load(open('$D/e.json'))
raw = [l.rstrip('\n').split('\t') for l in open('$D/raw.tsv')]
got = sorted([str(r['id']), r['email']] for r in rows)
assert got == sorted(raw), (got, raw)
assert all(isinstance(r['id'], int) for r in rows)
"

pipe "$QS
" --demo -f csv
expect_rc "piped statements exit 0" 0
if cmp -s "$D/out" "$D/e.csv"; then ok "piped statements print the csv of -e"; else notok "piped statements print the csv of -e"; fi
pipe "$QS
" --demo -f json
if cmp -s "$D/out" "$D/e.json"; then ok "piped statements print the json of -e"; else notok "piped statements print the json of -e"; fi

# Without -f, piped output is csv.
pipe 'User:count()
' --demo
out_has "a piped expression prints its value" '^[0-9]+$'

# One JSON document per result.
run --demo -f json -e 'User:count()' -e '"a,\"b\""' -e 'User:get{id=1}' -e 'Product:filter{id=-1}'
cp "$D/out" "$D/multi.json"
py "-f json prints one valid document per result" "
import json
docs = [json.loads(l) for l in open('$D/multi.json') if l.strip()]
assert isinstance(docs[0], int), docs
assert docs[1] == 'a,\"b\"', docs
assert docs[2]['id'] == 1 and 'email' in docs[2], docs
assert docs[3] == [], docs
assert len(docs) == 4, docs
"
# Numbers keep every digit; decimals are numbers; tables are JSON trees.
run --demo -f json -e '1/3, 3.0, orm.Decimal("1.50"), {b = {1, 2.5}, a = "x"}' \
    -e 'Product:filter{id = 1}:values("price", "is_available")'
cp "$D/out" "$D/num.json"
py "-f json writes exact numbers, decimals and nested tables" "
import json
lines = [l.strip() for l in open('$D/num.json') if l.strip()]
assert lines[:4] == ['0.3333333333333333', '3.0', '1.5', '{\"a\": \"x\", \"b\": [1, 2.5]}'], lines
assert json.loads(lines[0]) == 1/3, lines
rows = json.loads(''.join(lines[4:]))
assert rows == [{'price': 1899.0, 'is_available': True}], rows
"
run --demo -f csv -e '"a,b"' -e 'User:count(), "x"'
py "-f csv quotes a scalar and puts several values on one row" "
import csv
rows = list(csv.reader(open('$D/out', newline='')))
assert rows[0] == ['a,b'], rows
assert rows[1][1] == 'x' and rows[1][0].isdigit(), rows
"

# Dot-commands on their own lines.
pipe '.tables
' --demo
expect_rc ".tables in piped input exits 0" 0
out_has ".tables in piped input lists the tables" 'users'
run --demo -e '.tables'
out_has ".tables works in -e" 'users'
run --demo -f csv -e 'x = 2
.mode json
x * 21'
out_has "a -e chunk mixes Lua and dot-commands" '^42$'

# Errors: exit 1; -e stops, piped input goes on.
run --demo -e 'error("first")' -e 'print("second")'
expect_rc "an error in -e exits 1" 1
out_lacks "later -e chunks do not run" 'second'
err_has "the error is on stderr" 'first'
run --demo -e 'error("first")
print("same chunk")'
out_lacks "the rest of a failing -e chunk does not run" 'same chunk'
pipe 'error("first")
print("after")
' --demo
expect_rc "an error in piped input exits 1" 1
out_has "piped input goes on after an error" '^after$'
pipe '.nosuchcommand
' --demo
expect_rc "a bad dot-command in piped input exits 1" 1

# A multi-line statement in piped input is one statement.
pipe 'for i = 1, 2 do
  print("line " .. i)
end
' --demo
out_has "a multi-line piped statement runs" '^line 2$'

# Script files stay plain Lua: only print prints.
printf 'User:count()\nprint("printed")\n' >"$D/plain.lua"
run --demo "$D/plain.lua"
expect_rc "a script exits 0" 0
if [ "$(cat "$D/out")" = "printed" ]; then ok "a script prints only what print prints"; else notok "a script prints only what print prints"; fi
"$T" --demo - <"$D/plain.lua" >"$D/out" 2>"$D/err"
if [ "$(cat "$D/out")" = "printed" ]; then ok "testudo - runs stdin as a plain script"; else notok "testudo - runs stdin as a plain script"; fi

[ "$fails" -eq 0 ]
