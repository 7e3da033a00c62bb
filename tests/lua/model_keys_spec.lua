-- Model keys spec (issue 11): a model declared with Meta.primary_key
-- over several fields (a composite key), or none; read-only models;
-- db_default (the database's DEFAULT fills in a column left unset).  The
-- DDL, saves and deletes by the whole key, and the errors for misuse.
-- Introspected models get the same through tests/lua/introspect_spec.lua.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"

local Seat = Model:extend("MkSeat", {
  hall = f.CharField{ max_length = 10 },
  num = f.IntField{},
  taken_at = f.DatetimeField{ db_default = "CURRENT_TIMESTAMP" },
  label = f.CharField{ max_length = 20, null = true },
  Meta = { table = "mk_seats", primary_key = { "hall", "num" } },
})
local Log = Model:extend("MkLog", {
  msg = f.CharField{ max_length = 20 },
  Meta = { table = "mk_log", primary_key = {} },
})
local Report = Model:extend("MkReport", {
  hall = f.CharField{ max_length = 10 },
  seats = f.IntField{},
  Meta = { table = "mk_report", read_only = true },
})

local function error_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok, "no error")
  return e
end

describe("model keys", function()
  setup(function()
    orm.init{ db_url = TEST_URL, apps = { models = { models = { Seat, Log, Report } } } }
    local c = orm.connection()
    pcall(c.execute_script, c, "DROP VIEW mk_report")
    orm._drop_tables{ "mk_seats", "mk_log", "mk_report" }
    orm.generate_schemas()
    c:execute_script("CREATE VIEW mk_report AS SELECT hall, COUNT(*) AS seats FROM mk_seats GROUP BY hall")
  end)
  teardown(function()
    local c = orm.connection()
    pcall(c.execute_script, c, "DROP VIEW mk_report")
    orm._drop_tables{ "mk_seats", "mk_log" }
    orm.close_connections()
  end)

  it("creates a composite key and a db_default in the DDL, and no table for a read-only model", function()
    local sql = orm.utils.get_schema_sql{}
    assert.matches('PRIMARY KEY %(.hall., .num.%)', sql)
    assert.matches("DEFAULT CURRENT_TIMESTAMP", sql)
    assert.is_nil(sql:find("mk_report", 1, true))
    assert.is_nil(Seat._meta.fields_map.id)
    assert.is_nil(Log._meta.fields_map.id)
    assert.are.same({ "hall", "num" }, Seat._meta.primary_key)
    assert.are.same({}, Log._meta.primary_key)
  end)

  it("saves, finds and deletes by the whole key", function()
    Seat:create{ hall = "A", num = 1 }
    Seat:create{ hall = "A", num = 2, label = "aisle" }
    Seat:create{ hall = "B", num = 1 }
    local s = Seat:get{ hall = "A", num = 2 }
    assert.are.same({ hall = "A", num = 2 }, s.pk)
    assert.are.equal("<MkSeat: hall=A, num=2>", tostring(s))
    assert.is_not_nil(s.taken_at) -- the database's DEFAULT
    s.label = "window"
    s:save()
    assert.are.same({ 2 }, Seat:filter{ label = "window" }:values_list("num", { flat = true }):list())
    assert.are.equal(1, Seat:filter{ label__isnull = false }:count())
    assert.are.equal(s, Seat:get(s.pk))
    assert.are_not.equal(s, Seat:get{ hall = "A", num = 1 })
    Seat:get{ hall = "A", num = 1 }:delete()
    assert.are.same({ "A2", "B1" }, (function()
      local out = {}
      for _, r in ipairs(Seat:all():order_by("hall", "num"):values("hall", "num"):list()) do
        out[#out + 1] = r.hall .. r.num
      end
      return out
    end)())
    local e = error_of(function() Seat:create{ hall = "B", num = 1 } end)
    assert.are.equal("IntegrityError", e.class.name)
    e = error_of(function() s.pk = { hall = "C", num = 9 } end)
    assert.matches("composite key", e.message)
  end)

  it("reads and inserts a model without a key, and refuses to save one row", function()
    Log:create{ msg = "hello" }
    local l = Log:get{ msg = "hello" }
    assert.is_nil(l.pk)
    l.msg = "bye"
    local e = error_of(function() l:save() end)
    assert.matches("primary key", e.message)
    assert.are.equal(1, Log:filter{ msg = "hello" }:update{ msg = "bye" })
    assert.are.equal(1, Log:filter{ msg = "bye" }:count())
  end)

  it("reads a read-only model and refuses every write", function()
    assert.are.equal(1, Report:get{ hall = "B" }.seats)
    for what, fn in pairs{
      create = function() Report:create{ hall = "Z", seats = 1 } end,
      update = function() Report:filter{ hall = "B" }:update{ seats = 2 } end,
      delete = function() Report:all():delete() end,
      bulk_create = function() Report:bulk_create{ Report{ hall = "Z", seats = 1 } } end,
    } do
      local e = error_of(fn)
      assert.are.equal("OperationalError", e.class.name, what)
      assert.matches("read%-only", e.message, 1, false, what)
    end
  end)

  it("refuses a relation to a composite key and a key declared twice", function()
    local e = error_of(function()
      Model:extend("MkBad", {
        seat = f.ForeignKeyField{ "models.MkSeat" },
        Meta = { table = "mk_bad" },
      })
      MkBad = nil
      return orm.apps.models.MkBad:all():sql()
    end)
    assert.are.equal("ConfigurationError", e.class.name)
    assert.matches("one%-field primary key", e.message)
    orm.Model:extend("MkBad", { n = f.IntField{}, Meta = { table = "mk_bad" } })
    e = error_of(function()
      Model:extend("MkTwice", {
        a = f.IntField{ primary_key = true },
        b = f.IntField{},
        Meta = { table = "mk_twice", primary_key = { "a", "b" } },
      })
    end)
    assert.are.equal("ConfigurationError", e.class.name)
    e = error_of(function()
      Model:extend("MkUnknown", { a = f.IntField{}, Meta = { primary_key = { "a", "zz" } } })
    end)
    assert.matches("zz", e.message)
  end)
end)
