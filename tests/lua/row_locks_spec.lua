-- Row locks spec: select_for_update{nowait=, skip_locked=, of=, no_key=} takes FOR UPDATE
-- row locks on PostgreSQL and MariaDB (a second connection waits, fails at
-- once with nowait, or skips the rows with skip_locked), and none on
-- SQLite, whose write transactions hold the whole database.  Two processes
-- incrementing one row through it: tests/shell/concurrency.sh.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local on_server = not TEST_URL:match("^sqlite")
local on_pg = TEST_URL:match("^postgres") ~= nil

local Box = Model:extend("RlBox", {
  label = f.CharField{ max_length = 10 },
  Meta = { table = "rl_boxes" },
})
local Slot = Model:extend("RlSlot", {
  n = f.IntField{},
  box = f.ForeignKeyField("models.RlBox", { related_name = "slots", null = true }),
  Meta = { table = "rl_slots" },
})

describe("select_for_update", function()
  before_each(function()
    orm.init{ connections = { default = TEST_URL, other = TEST_URL },
      apps = { models = { models = { Box, Slot } } } }
    orm.connection():execute_script("DROP TABLE IF EXISTS rl_slots")
    orm.connection():execute_script("DROP TABLE IF EXISTS rl_boxes")
    orm.generate_schemas()
    local b = Box:create{ id = 1, label = "b1" }
    for i = 1, 3 do Slot:create{ id = i, n = i, box = i == 1 and b or nil } end
  end)
  after_each(function()
    local other = orm.connection("other")
    pcall(other.execute_script, other, "ROLLBACK")
    orm.connection():execute_script("DROP TABLE IF EXISTS rl_slots")
    orm.connection():execute_script("DROP TABLE IF EXISTS rl_boxes")
    orm.close_connections()
  end)

  it("is lazy and chains like any queryset method", function()
    local qs = Slot:filter{ n__gte = 2 }:select_for_update():order_by("id")
    local sql = qs:sql()
    assert.are.equal(on_server, sql:find("FOR UPDATE", 1, true) ~= nil, sql)
    assert.is_nil(sql:find("NOWAIT", 1, true))
    assert.are.same({ 2, 3 }, Slot:filter{ n__gte = 2 }:select_for_update()
      :order_by("id"):values_list("n", { flat = true }):list())
    local nw = Slot:select_for_update{ nowait = true }:sql()
    local sk = Slot:all():select_for_update{ skip_locked = true }:sql()
    assert.are.equal(on_server, nw:find("FOR UPDATE NOWAIT", 1, true) ~= nil, nw)
    assert.are.equal(on_server, sk:find("FOR UPDATE SKIP LOCKED", 1, true) ~= nil, sk)
    -- counting and existence take no locks (no FOR UPDATE on an aggregate)
    assert.are.equal(3, Slot:select_for_update():count())
    assert.is_true(Slot:select_for_update():exists())
  end)

  it("of names the tables locked: 'self' and select_related paths", function()
    local qs = Slot:select_related("box"):select_for_update{ of = { "self" } }
    if on_pg then
      local sql = qs:sql()
      assert.truthy(sql:find('FOR UPDATE OF "rl_slots"', 1, true), sql)
      local both = Slot:select_related("box"):select_for_update{ of = { "self", "box" }, nowait = true }:sql()
      assert.truthy(both:find('FOR UPDATE OF "rl_slots","T%d+" NOWAIT$'), both)
    elseif on_server then
      -- MariaDB has no FOR UPDATE OF: locking only some tables is refused,
      -- naming them all is a plain FOR UPDATE
      local e = select(2, pcall(function() return qs:sql() end))
      assert.is_true(E.ParamsError:is(e), tostring(e))
      local sql = Slot:select_related("box"):select_for_update{ of = { "self", "box" } }:sql()
      assert.truthy(sql:find("FOR UPDATE$"), sql)
      assert.is_nil(sql:find(" OF ", 1, true))
    end
    assert.are.equal(on_server, Slot:select_for_update{ of = "self" }:sql():find("FOR UPDATE", 1, true) ~= nil)
    -- a name that is neither 'self' nor a relation the query joins
    for _, bad in ipairs{ "box", "nope" } do
      local ok, err = pcall(function() return Slot:select_for_update{ of = { bad } } end)
      assert.is_false(ok)
      assert.is_true(E.FieldError:is(err), tostring(err))
    end
    -- no_key: PostgreSQL's FOR NO KEY UPDATE, FOR UPDATE elsewhere
    local nk = Slot:select_for_update{ no_key = true }:sql()
    if on_pg then
      assert.truthy(nk:find("FOR NO KEY UPDATE", 1, true), nk)
    elseif on_server then
      assert.truthy(nk:find("FOR UPDATE", 1, true), nk)
    end
    assert.are.equal(1, #Slot:select_related("box"):filter{ box__label = "b1" }
      :select_for_update{ of = { "self", "box" } }:list())
  end)

  it("of = self leaves the related rows free (PostgreSQL)", function()
    if not on_pg then return end
    local other = orm.connection("other")
    other:execute_script("BEGIN")
    other:execute_query("SELECT id FROM rl_boxes WHERE id = 1 FOR UPDATE")
    local n = orm.in_transaction(function()
      return #Slot:select_related("box"):filter{ id = 1 }
        :select_for_update{ of = { "self" }, nowait = true }:list()
    end)
    assert.are.equal(1, n)
    local ok, err = pcall(orm.in_transaction, function()
      return Slot:select_related("box"):filter{ box__label = "b1" }
        :select_for_update{ of = { "self", "box" }, nowait = true }:list()
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("lock", 1, true), tostring(err))
    ok, err = pcall(orm.in_transaction, function()
      return Slot:select_related("box"):filter{ box__label = "b1" }
        :select_for_update{ nowait = true }:list()
    end)
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    other:execute_script("ROLLBACK")
  end)

  it("refuses options it does not know, and nowait with skip_locked", function()
    for _, opts in ipairs{ { nowait = true, skip_locked = true }, { wait = true }, { "x" } } do
      local ok, err = pcall(Slot.select_for_update, Slot, opts)
      assert.is_false(ok)
      assert.is_true(E.ParamsError:is(err), tostring(err))
    end
    assert.has_error(function() Slot:select_for_update("nowait") end)
  end)

  it("locks the rows it reads until the transaction ends", function()
    if not on_server then
      -- SQLite: no row locks; inside a transaction the database is held
      orm.in_transaction(function()
        local s = Slot:select_for_update():get{ id = 1 }
        s.n = s.n + 10
        s:save()
      end)
      assert.are.equal(11, Slot:get{ id = 1 }.n)
      return
    end
    local other = orm.connection("other")
    other:execute_script("BEGIN")
    other:execute_query("SELECT id FROM rl_slots WHERE id = 1 FOR UPDATE")
    -- nowait: fails at once on the locked row
    local ok, err = pcall(orm.in_transaction, function()
      return Slot:filter{ id = 1 }:select_for_update{ nowait = true }:list()
    end)
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    assert.is_false(orm.connection():in_transaction())
    -- skip_locked: the other rows only
    local ids = orm.in_transaction(function()
      return Slot:select_for_update{ skip_locked = true }:order_by("id")
        :values_list("id", { flat = true }):list()
    end)
    assert.are.same({ 2, 3 }, ids)
    -- the lock ends with the other transaction
    other:execute_script("ROLLBACK")
    local n = orm.in_transaction(function()
      return #Slot:filter{ id = 1 }:select_for_update{ nowait = true }:list()
    end)
    assert.are.equal(1, n)
  end)
end)
