-- SQLite file faults spec: a database file that is full, not a database
-- at all, or cut short gives an OperationalError -- never a crash, never
-- half of a bulk_create -- and the connection goes on.  SQLite only.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local on_sqlite = TEST_URL:match("^sqlite") ~= nil

local Row = Model:extend("SfRow", {
  n = f.IntField{},
  text = f.TextField{ null = true },
  Meta = { table = "sf_rows" },
})

local function operational(fn, pattern)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_true(E.OperationalError:is(err), tostring(err))
  if pattern then
    assert.is_truthy(tostring(err):find(pattern, 1, true), tostring(err))
  end
  return err
end

local function write_file(path, bytes)
  local fh = assert(io.open(path, "wb"))
  fh:write(bytes)
  fh:close()
end

describe("SQLite file faults", function()
  if not on_sqlite then
    it("(SQLite only)", function() end)
    return
  end
  local path
  before_each(function()
    path = os.tmpname()
    os.remove(path)
  end)
  after_each(function()
    orm.close_connections()
    os.remove(path)
  end)

  it("a full database refuses a bulk_create whole, and goes on", function()
    orm.init{ db_url = "sqlite://" .. path, apps = { models = { models = { Row } } } }
    orm.generate_schemas()
    Row:create{ n = 0 }
    local conn = orm.connection()
    local pages = conn:execute_query("PRAGMA page_count")[1].page_count
    conn:execute_script(("PRAGMA max_page_count = %d"):format(pages + 20))
    local rows = {}
    for i = 1, 2000 do rows[i] = Row{ n = i, text = ("x"):rep(200) } end
    operational(function() Row:bulk_create(rows) end, "full")
    assert.are.equal(1, Row:all():count())        -- nothing half-written
    -- in batches too: the first batches are not kept without the rest
    operational(function() Row:bulk_create(rows, { batch_size = 100 }) end, "full")
    assert.are.equal(1, Row:all():count())
    assert.is_false(orm._in_transaction())
    Row:create{ n = 1 }                            -- small writes still fit
    assert.are.equal(2, Row:all():count())
  end)

  it("a file that is no database gives OperationalError", function()
    write_file(path, ("this is not a database\n"):rep(200))
    orm.init{ db_url = "sqlite://" .. path }
    local conn = orm.connection()
    operational(function() conn:execute_query("SELECT 1 FROM sqlite_master") end,
      "not a database")
  end)

  it("a database cut short gives OperationalError", function()
    orm.init{ db_url = "sqlite://" .. path, apps = { models = { models = { Row } } } }
    orm.generate_schemas()
    local rows = {}
    for i = 1, 500 do rows[i] = Row{ n = i, text = ("y"):rep(500) } end
    Row:bulk_create(rows)
    orm.close_connections()
    local fh = assert(io.open(path, "rb"))
    local bytes = fh:read("a")
    fh:close()
    write_file(path, bytes:sub(1, #bytes // 3))
    orm.init{ db_url = "sqlite://" .. path, apps = { models = { models = { Row } } } }
    local err = operational(function()
      local n = 0
      for r in Row:all():order_by("-n"):iter() do n = n + #r.text end
      return Row:filter{ text__contains = "z" }:count()
    end)
    assert.is_truthy(tostring(err):find("malformed", 1, true)
      or tostring(err):find("not a database", 1, true), tostring(err))
  end)
end)
