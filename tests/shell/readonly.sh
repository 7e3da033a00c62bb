#!/bin/sh
# readonly.sh -- an SQLite file testudo may read but not write (mode 444
# in a folder it cannot write): queries work, every write gives an
# OperationalError naming the cause, a transaction ends rolled back, the
# file is left byte for byte as it was, and nothing crashes.  Tests run as
# root, which writes through file modes, so as root the reading process
# runs as nobody (setpriv), from a copy of the binary nobody can reach
# (the checkout may sit in root's home, mode 700).
. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

W=$(mktemp -d /tmp/testudo-ro.XXXXXX) || exit 2
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
cp "$T" "$W/testudo" && chmod 755 "$W/testudo" || exit 2
RT=$W/testudo
as_reader() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$W" "$@"
    else
        "$@"
    fi
}

cat >"$W/ro.lua" <<'LUA'
local f = orm.fields
local Row = orm.Model:extend("RoRow", { n = f.IntField{}, Meta = { table = "ro_rows" } })
orm.init{ db_url = "sqlite://" .. arg[1], apps = { models = { models = { Row } } } }
local E = orm.exceptions
if arg[2] == "make" then
  orm.generate_schemas()
  Row:create{ n = 1 }
  Row:create{ n = 2 }
  return
end
local function refused(name, fn)
  local ok, err = pcall(fn)
  local good = not ok and E.OperationalError:is(err)
    and tostring(err):find("readonly", 1, true) ~= nil
  print((good and "ok - " or "not ok - ") .. name .. " (OperationalError)")
  print("# " .. tostring(err))
end
print((Row:all():count() == 2 and "ok - " or "not ok - ") .. "the rows can be read")
refused("create is refused", function() Row:create{ n = 3 } end)
refused("update is refused", function() Row:filter{ n = 1 }:update{ n = 5 } end)
refused("delete is refused", function() Row:all():delete() end)
refused("bulk_create is refused", function()
  Row:bulk_create({ Row{ n = 7 }, Row{ n = 8 } }, { batch_size = 1 })
end)
refused("a transaction is refused", function()
  orm.in_transaction(function() Row:filter{ n = 2 }:update{ n = 6 } end)
end)
print((not orm.connection():in_transaction() and "ok - " or "not ok - ")
  .. "no transaction is left open")
print((Row:filter{ n = 1 }:count() == 1 and Row:all():count() == 2 and "ok - " or "not ok - ")
  .. "the rows are as they were, and can still be read")
LUA

"$T" "$W/ro.lua" "$W/ro.db" make >"$D/out" 2>"$D/err" </dev/null
rc=$?
expect_rc "a database of two rows is made" 0
cp "$W/ro.db" "$D/before.db"
chmod 444 "$W/ro.db"
chmod 555 "$W"

as_reader "$RT" "$W/ro.lua" "$W/ro.db" >"$D/out" 2>"$D/err" </dev/null
rc=$?
grep -E '^(not )?ok ' "$D/out"
if grep -q '^not ok ' "$D/out"; then notok "every write is refused on a read-only file"; fi
expect_rc "the script ends normally (status 0)" 0
if cmp -s "$W/ro.db" "$D/before.db"; then ok "the file is unchanged"; else notok "the file is unchanged"; fi
if ls "$W" | grep -q -- '-journal\|-wal'; then notok "no journal left beside it"; else ok "no journal left beside it"; fi

# a new database in a folder testudo cannot write: exit 2 at start
as_reader "$RT" -e 'print(1)' "$W/new.db" >"$D/out" 2>"$D/err" </dev/null
rc=$?
expect_rc "a new database where it cannot be created: exit 2" 2
err_has "the error says why" "cannot open SQLite database '.*new.db': unable to open"

chmod 755 "$W"
exit $((fails > 0))
