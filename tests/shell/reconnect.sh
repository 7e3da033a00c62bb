#!/bin/sh
# reconnect.sh -- a database server stopped in the middle of a session:
# the next query gives an OperationalError (no crash), a transaction
# that lost its server is never retried, and once the server is back the
# next query works.  A server killed in the middle of a bulk_create keeps
# none of it (and every row committed before).  Private PostgreSQL and MariaDB servers on ports of
# their own (TESTUDO_RECONNECT_PG_PORT, TESTUDO_RECONNECT_MYSQL_PORT),
# started and stopped with tests/backends/*.sh.  A server that cannot be
# started is a failure.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_ROOT, TESTUDO_TMP.
# needs: servers

T=${TESTUDO:?}
D=${TESTUDO_TMP:?}
ROOT=${TESTUDO_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0

ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    fails=$((fails + 1))
    [ -f "$D/out" ] && sed -e 's/^/#   out: /' "$D/out" | head -30
    [ -f "$D/err" ] && sed -e 's/^/#   err: /' "$D/err" | head -30
    return 0
}

cat >"$D/reconnect.lua" <<'LUA'
-- arg[1] URL, arg[2] the command that stops the server, arg[3] the one
-- that starts it again
local url, stop, start = arg[1], arg[2], arg[3]
local E = orm.exceptions
orm.init{ db_url = url }
local conn = orm.connection("default")
local function one()
  local rows = conn:execute_query("SELECT 1 AS one")
  return rows[1].one
end
local function check(name, cond) print((cond and "ok - " or "not ok - ") .. name) end
local function fails_operational(name)
  local ok, err = pcall(one)
  check(name .. " (OperationalError)", not ok and E.OperationalError:is(err))
  if not ok then print("# " .. tostring(err)) end
  return err
end

check("a query works", one() == 1)
assert(os.execute(stop))
fails_operational("the next query after the server stopped fails")
fails_operational("and the one after it too, while the server is down")
assert(os.execute(start))
check("once the server is back, the next query works", one() == 1)

-- inside a transaction: never a silent reconnect
orm.in_transaction(function() one() end)
local ok, err = pcall(orm.in_transaction, function()
  one()
  assert(os.execute(stop))
  assert(os.execute(start))
  one()
end)
check("a transaction that lost its server fails (OperationalError)",
  not ok and E.OperationalError:is(err))
print("# " .. tostring(err))
check("the transaction is over", not conn:in_transaction())
check("the next query works again", one() == 1)

-- a server that stops answering (SIGSTOP): the statement_timeout gives
-- up on it instead of blocking for as long as it is stopped
local pause, resume = arg[4], arg[5]
local slow_url = url .. (url:find("?", 1, true) and "&" or "?")
  .. "statement_timeout=300"
orm.init{ connections = { default = url, slow = slow_url } }
local slow = orm.connection("slow")
slow:execute_query("SELECT 1 AS one")
assert(os.execute(pause))
local t0 = os.time()
local ok2, err2 = pcall(slow.execute_query, slow, "SELECT 1 AS one")
local waited = os.time() - t0
assert(os.execute(resume))
check("a stalled server: the query fails (OperationalError)",
  not ok2 and E.OperationalError:is(err2))
print("# " .. tostring(err2) .. " after " .. waited .. " s")
check("within the statement_timeout and a grace (< 10 s)", waited < 10)
check("once it answers again, the next query works",
  slow:execute_query("SELECT 1 AS one")[1].one == 1)

-- a server killed in the middle of a bulk_create: its first batches
-- are sent, the sixth waits for a row another connection holds, and the
-- server is killed then (crash: no clean shutdown).  Once it is back,
-- nothing of the bulk_create is there, and the row committed before is.
local kill = arg[6]
local f = orm.fields
local Row = orm.Model:extend("KillRow", {
  id = f.IntField{ pk = true },
  n = f.IntField{},
  Meta = { table = "kill_rows" },
})
orm.init{ connections = { default = url, other = url },
  apps = { models = { models = { Row } } } }
conn = orm.connection("default")
conn:execute_script("DROP TABLE IF EXISTS kill_rows")
orm.generate_schemas()
Row:create{ id = 1, n = 0 }
local other = orm.connection("other")
other:execute_script("BEGIN")
other:execute_script("INSERT INTO kill_rows (id, n) VALUES (1550, 0)")
local rows = {}
for i = 1001, 3000 do rows[#rows + 1] = Row{ id = i, n = i } end
assert(os.execute("(sleep 2; " .. kill .. ") >/dev/null 2>&1 &"))
local t1 = os.time()
local ok3, err3 = pcall(Row.bulk_create, Row, rows, { batch_size = 100 })
check("a bulk_create whose server is killed fails (OperationalError)",
  not ok3 and E.OperationalError:is(err3))
print("# " .. tostring(err3) .. " after " .. (os.time() - t1) .. " s")
check("no transaction is left open", not conn:in_transaction())
assert(os.execute(start))
local ok4, n = pcall(function() return Row:all():count() end)
check("once the server is back: nothing of the bulk_create, the row before kept",
  ok4 and n == 1 and Row:get{ id = 1 }.n == 0)
if not ok4 then print("# " .. tostring(n)) else print("# rows: " .. n) end
LUA

for kind in pg mysql; do
    if [ $kind = pg ]; then
        port=${TESTUDO_RECONNECT_PG_PORT:-55491}
        env="env -u TESTUDO_PG_URL TESTUDO_PG_PORT=$port"
        label=PostgreSQL
    else
        port=${TESTUDO_RECONNECT_MYSQL_PORT:-53391}
        env="env -u TESTUDO_MYSQL_URL TESTUDO_MYSQL_PORT=$port"
        label=MariaDB
    fi
    ctl="$env sh $ROOT/tests/backends/$kind.sh"
    if ! url=$($ctl start 2>"$D/err") || [ -z "$url" ]; then
        notok "$label: a private server starts on port $port"
        continue
    fi
    ok "$label: a private server starts on port $port"
    "$T" "$D/reconnect.lua" "$url" "$ctl stop >/dev/null 2>&1" \
        "$ctl start >/dev/null 2>&1" "$ctl pause" "$ctl resume" \
        "$ctl kill" \
        >"$D/out" 2>"$D/err" </dev/null
    rc=$?
    sed -e "s/^ok - /ok - $label: /" -e "s/^not ok - /not ok - $label: /" "$D/out" |
        grep -E '^(not )?ok ' >"$D/res"
    cat "$D/res"
    if grep -q '^not ok ' "$D/res"; then
        fails=$((fails + 1))
        sed -e 's/^/#   /' "$D/out" "$D/err" | head -30
    fi
    if [ $rc -eq 0 ] && [ "$(grep -c '^ok ' "$D/res")" -eq 13 ]; then
        ok "$label: the session survived, exit status 0"
    else
        notok "$label: the session survived, exit status 0 (status $rc)"
    fi
    $ctl stop >/dev/null 2>&1
done

exit $((fails > 0))
