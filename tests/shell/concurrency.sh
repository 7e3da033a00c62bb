#!/bin/sh
# concurrency.sh -- two processes incrementing the same row with F, the
# same row again by reading it with select_for_update and saving it in a
# transaction, and two inserting, at the same time: nothing is lost.  SQLite (a WAL file),
# and the test servers when they run (make test).
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP; TESTUDO_PG_URL and
# TESTUDO_MYSQL_URL when the test servers run.

. "$(dirname "$0")/lib.sh"

N=300
cat >"$D/model.lua" <<'LUA'
local orm = rawget(_G, "orm") or require "testudo"
local f = orm.fields
return {
  Counter = orm.Model:extend("CcCounter", { n = f.IntField{ default = 0 },
    Meta = { table = "cc_counters" } }),
  Entry = orm.Model:extend("CcEntry", { who = f.IntField{}, i = f.IntField{},
    Meta = { table = "cc_entries" } }),
}
LUA
cat >"$D/setup.lua" <<'LUA'
package.path = arg[2] .. "/?.lua;" .. package.path
local M = require "model"
orm.init{ db_url = arg[1], apps = { models = { models = { M.Counter, M.Entry } } } }
orm.generate_schemas()
M.Counter:all():delete()
M.Entry:all():delete()
M.Counter:create{ id = 1, n = 0 }
M.Counter:create{ id = 2, n = 0 }
LUA
cat >"$D/work.lua" <<'LUA'
package.path = arg[2] .. "/?.lua;" .. package.path
local M = require "model"
orm.init{ db_url = arg[1], apps = { models = { models = { M.Counter, M.Entry } } } }
local who, n = tonumber(arg[3]), tonumber(arg[4])
for i = 1, n do
  M.Counter:filter{ id = 1 }:update{ n = F"n" + 1 }
  M.Entry:create{ who = who, i = i }
  orm.in_transaction(function()
    local c = M.Counter:select_for_update():get{ id = 2 }
    c.n = c.n + 1
    c:save()
  end)
end
LUA
cat >"$D/check.lua" <<'LUA'
package.path = arg[2] .. "/?.lua;" .. package.path
local M = require "model"
orm.init{ db_url = arg[1], apps = { models = { models = { M.Counter, M.Entry } } } }
print(M.Counter:get{ id = 1 }.n, M.Entry:all():count(), M.Counter:get{ id = 2 }.n)
LUA

# concurrent LABEL URL: two workers at once, then the totals.
concurrent() {
    label=$1 url=$2
    if ! "$T" "$D/setup.lua" "$url" "$D" >"$D/out" 2>"$D/err" </dev/null; then
        notok "$label: set up"
        return
    fi
    "$T" "$D/work.lua" "$url" "$D" 1 $N >"$D/w1.out" 2>"$D/w1.err" </dev/null &
    p1=$!
    "$T" "$D/work.lua" "$url" "$D" 2 $N >"$D/w2.out" 2>"$D/w2.err" </dev/null &
    p2=$!
    wait $p1
    r1=$?
    wait $p2
    r2=$?
    if [ $r1 -eq 0 ] && [ $r2 -eq 0 ]; then
        ok "$label: two writers at once both finish"
    else
        notok "$label: two writers at once both finish ($r1, $r2)"
        sed -e 's/^/#   /' "$D/w1.err" "$D/w2.err" | head -10
    fi
    run "$D/check.lua" "$url" "$D"
    out_is "$label: no F increment, no row, no select_for_update increment is lost" \
        "$((2 * N))	$((2 * N))	$((2 * N))"
}

concurrent "SQLite (WAL)" "sqlite://$D/cc.db?journal_mode=wal"
concurrent "SQLite (rollback journal)" "sqlite://$D/cc-journal.db"
[ -n "${TESTUDO_PG_URL:-}" ] && concurrent PostgreSQL "$TESTUDO_PG_URL"
[ -n "${TESTUDO_MYSQL_URL:-}" ] && concurrent MariaDB "$TESTUDO_MYSQL_URL"

[ "$fails" -eq 0 ]
