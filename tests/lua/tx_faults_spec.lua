-- Transaction faults spec: a COMMIT that fails (SQLite: "database is
-- locked" while another connection holds a read transaction) ends the
-- transaction -- rolled back, closed, with the error -- so that later
-- autocommit writes are not swallowed by a transaction nobody commits.
-- SQLite only (two connections on one file); the server backends' lost
-- COMMIT is covered by tests/shell/reconnect.sh.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local on_sqlite = TEST_URL:match("^sqlite") ~= nil

local Row = Model:extend("TfRow", {
  n = f.IntField{},
  Meta = { table = "tf_rows" },
})

local function count_in_file(path)
  orm.init{ connections = { default = "sqlite://" .. path } }
  local rows = orm.connection():execute_query("SELECT COUNT(*) AS c FROM tf_rows")
  return rows[1].c
end

-- Another connection in a read transaction: it holds SQLite's SHARED
-- lock, so a writer's COMMIT (which needs it gone) times out.
local function hold_read_lock()
  local reader = orm.connection("reader")
  reader:execute_script("BEGIN DEFERRED")
  reader:execute_query("SELECT COUNT(*) FROM tf_rows")
  return reader
end

-- A fresh SQLite file open twice ("default" and the named connection),
-- with a short busy timeout and the rollback journal; returns its path.
local function open_two(second)
  local path = os.tmpname()
  os.remove(path)
  local url = "sqlite://" .. path .. "?busy_timeout=50&journal_mode=delete"
  orm.init{ connections = { default = url, [second] = url },
            apps = { models = { models = { Row } } } }
  orm.generate_schemas()
  return path
end

describe("transactions: a failed COMMIT", function()
  if not on_sqlite then
    it("(SQLite only)", function() end)
    return
  end
  local path
  before_each(function() path = open_two("reader") end)
  after_each(function()
    orm.close_connections()
    os.remove(path)
  end)

  it("ends the transaction, rolled back, and later writes are kept", function()
    local reader = hold_read_lock()
    local ok, err = pcall(orm.in_transaction, function()
      for i = 1, 3 do Row:create{ n = i } end
    end)
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    assert.is_truthy(tostring(err):find("locked", 1, true), tostring(err))
    assert.is_truthy(tostring(err):find("rolled back", 1, true), tostring(err))
    assert.is_false(orm._in_transaction("default"))
    reader:execute_script("COMMIT")
    for i = 1, 9 do Row:create{ n = i } end       -- autocommit writes
    assert.are.equal(9, Row:all():count())
    orm.close_connections()
    assert.are.equal(9, count_in_file(path))     -- nothing lost at exit
  end)

  it("ends a transaction object's commit the same way", function()
    local reader = hold_read_lock()
    local tx = orm.transaction()
    Row:create{ n = 1 }
    local ok, err = pcall(tx.commit, tx)
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    assert.is_false(orm._in_transaction("default"))
    reader:execute_script("COMMIT")
    assert.are.equal(0, Row:all():count())       -- rolled back, not pending
    Row:create{ n = 2 }
    orm.close_connections()
    assert.are.equal(1, count_in_file(path))
  end)
end)

describe("transactions on SQLite", function()
  if not on_sqlite then
    it("(SQLite only)", function() end)
    return
  end
  local path
  before_each(function() path = open_two("other") end)
  after_each(function()
    orm.close_connections()
    os.remove(path)
  end)

  it("take the write lock at BEGIN, where a busy database waits", function()
    local tx = orm.transaction("other")
    -- a second writer is turned away at its BEGIN, before any work
    local ok, err = pcall(orm.in_transaction, function() Row:create{ n = 1 } end)
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    assert.are.equal("BEGIN IMMEDIATE", err.sql)
    assert.is_false(orm._in_transaction("default"))
    tx:rollback()
    orm.in_transaction(function() Row:create{ n = 1 } end)
    assert.are.equal(1, Row:all():count())
  end)
end)
