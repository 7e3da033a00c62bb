-- Acceptance spec (LUA_API.md "Model-level": bulk_create, bulk_update): primary keys
-- filled on every backend; upserts (on_conflict + update_fields: ON
-- CONFLICT ... DO UPDATE, MariaDB's ON DUPLICATE KEY UPDATE);
-- ignore_conflicts with new and existing rows mixed; the option checks
-- Tortoise makes; bulk_update of JSON, enum, datetime and NULL values
-- and of models keyed otherwise than by an integer id.  Expected rows
-- are worked out by hand.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local BkItem = Model:extend("BkItem", {
  id   = fields.IntField{ primary_key = true },
  code = fields.CharField{ max_length = 10, unique = true },
  qty  = fields.IntField{ default = 0 },
  note = fields.CharField{ max_length = 20, null = true },
  Meta = { table = "bk_items" },
})

-- bulk_update of the column types Tortoise's test_update.py updates in
-- bulk: JSON, enums, nullable small ints, datetimes, and models keyed by
-- a char, a UUID, or a pk under another column name
local BkDoc = Model:extend("BkDoc", {
  id      = fields.IntField{ primary_key = true },
  data    = fields.JSONField{ null = true },
  service = fields.CharEnumField{ enum_type = { "php", "python", "lua" }, max_length = 10, default = "lua" },
  level   = fields.IntEnumField{ enum_type = { 1, 2, 3 }, default = 1 },
  small   = fields.SmallIntField{ null = true },
  at      = fields.DatetimeField{ null = true },
  Meta = { table = "bk_docs" },
})
local BkCode = Model:extend("BkCode", {
  code = fields.CharField{ primary_key = true, max_length = 8 },
  name = fields.CharField{ max_length = 20 },
  Meta = { table = "bk_codes" },
})
local BkTok = Model:extend("BkTok", {
  id   = fields.UUIDField{ primary_key = true },
  data = fields.JSONField{},
  Meta = { table = "bk_toks" },
})
local BkRen = Model:extend("BkRen", {
  rid  = fields.IntField{ primary_key = true, source_field = "renamed_id" },
  name = fields.CharField{ max_length = 20, source_field = "renamed_name" },
  Meta = { table = "bk_rens" },
})

local function state()
  local t = {}
  for _, r in ipairs(BkItem:all():order_by("code"):values("code", "qty", "note"):list()) do
    t[#t + 1] = ("%s:%d:%s"):format(r.code, r.qty, r.note or "-")
  end
  return table.concat(t, " ")
end

describe("bulk_create", function()
  before_each(function()
    orm.testing.init{ models = { BkItem } }
    BkItem:create{ code = "a", qty = 1, note = "first" }
  end)
  after_each(function() orm.testing.finish() end)

  it("fills the primary keys, which fetch the rows back", function()
    local list = {}
    for i = 1, 250 do list[i] = BkItem{ code = "c" .. i, qty = i } end
    BkItem:bulk_create(list, { batch_size = 100 })
    for i = 1, 250 do
      assert.is_not_nil(list[i].pk)
      assert.are.equal("c" .. i, BkItem:get{ id = list[i].pk }.code)
    end
  end)

  it("with on_conflict and update_fields updates the rows that clash", function()
    local list = { BkItem{ code = "a", qty = 5, note = "ignored" }, BkItem{ code = "b", qty = 2 } }
    BkItem:bulk_create(list, { on_conflict = { "code" }, update_fields = { "qty" } })
    assert.are.equal("a:5:first b:2:-", state())
    assert.are.equal(2, BkItem:all():count())
    -- the keys of both rows, the updated one's its old key
    assert.are.equal(BkItem:get{ code = "a" }.pk, list[1].pk)
    assert.are.equal(BkItem:get{ code = "b" }.pk, list[2].pk)
  end)

  it("updates several fields, in batches", function()
    local list = {}
    for i = 1, 30 do list[i] = BkItem{ code = i == 1 and "a" or ("n" .. i), qty = i, note = "v" .. i } end
    BkItem:bulk_create(list, { on_conflict = { "code" }, update_fields = { "qty", "note" }, batch_size = 7 })
    assert.are.equal(30, BkItem:all():count())
    local a = BkItem:get{ code = "a" }
    assert.are.equal(1, a.qty)
    assert.are.equal("v1", a.note)
    assert.are.equal(30, BkItem:get{ code = "n30" }.qty)
  end)

  it("ignore_conflicts writes the new rows among existing ones", function()
    BkItem:bulk_create({ BkItem{ code = "a", qty = 9 }, BkItem{ code = "b", qty = 2 }, BkItem{ code = "c", qty = 3 } },
                       { ignore_conflicts = true })
    assert.are.equal("a:1:first b:2:- c:3:-", state())
  end)

  it("without an option a clash is an IntegrityError and writes nothing", function()
    local e = catch(function()
      return BkItem:bulk_create({ BkItem{ code = "z", qty = 1 }, BkItem{ code = "a", qty = 2 } })
    end)
    assert.is_true(E.IntegrityError:is(e))
    assert.are.equal("a:1:first", state())
  end)

  it("checks its options as Tortoise does: ParamsError", function()
    local one = { BkItem{ code = "q" } }
    assert.is_true(E.ParamsError:is(catch(function()
      return BkItem:bulk_create(one, { ignore_conflicts = true, on_conflict = { "code" }, update_fields = { "qty" } })
    end)))
    assert.is_true(E.ParamsError:is(catch(function()
      return BkItem:bulk_create(one, { update_fields = { "qty" } })
    end)))
    assert.is_true(E.ParamsError:is(catch(function()
      return BkItem:bulk_create(one, { on_conflict = { "code" } })
    end)))
    assert.is_true(E.FieldError:is(catch(function()
      return BkItem:bulk_create(one, { on_conflict = { "code" }, update_fields = { "nope" } })
    end)))
    assert.are.equal(1, BkItem:all():count())
  end)
end)

describe("bulk_update", function()
  before_each(function()
    orm.testing.init{ models = { BkDoc, BkCode, BkTok, BkRen } }
  end)
  after_each(function() orm.testing.finish() end)

  local function raw(sql)
    return orm.connection():execute_query(sql, {})
  end

  it("writes JSON values, enums and NULL small ints, returning the rows changed", function()
    local a = BkDoc:create{ id = 1, data = { k = 1 }, small = 5 }
    local b = BkDoc:create{ id = 2, data = { 1, 2 }, small = 6 }
    a.data, a.service, a.level, a.small = { k = { "x", "y" } }, "python", 3, nil
    b.data, b.service, b.level, b.small = orm.null, "php", 2, nil
    assert.are.equal(2, BkDoc:bulk_update({ a, b }, { "data", "service", "level", "small" }))
    local x, y = BkDoc:get{ id = 1 }, BkDoc:get{ id = 2 }
    assert.are.same({ k = { "x", "y" } }, x.data)
    assert.are.equal("python", x.service)
    assert.are.equal(3, x.level)
    assert.is_nil(x.small)
    assert.is_nil(y.data)
    assert.are.equal("php", y.service)
    assert.are.equal(2, y.level)
    assert.are.equal(0, #raw("SELECT id FROM bk_docs WHERE small IS NOT NULL"))
  end)

  it("checks the values as save does: a bad enum value is a ValidationError", function()
    local a = BkDoc:create{ id = 1 }
    a.service = "cobol"
    assert.is_true(E.ValidationError:is(catch(function() BkDoc:bulk_update({ a }, { "service" }) end)))
    assert.are.equal("lua", BkDoc:get{ id = 1 }.service)
  end)

  it("writes datetimes", function()
    local a = BkDoc:create{ id = 1 }
    a.at = orm.datetime("2024-02-29T13:14:15")
    assert.are.equal(1, BkDoc:bulk_update({ a }, { "at" }))
    assert.are.equal(orm.datetime("2024-02-29T13:14:15"), BkDoc:get{ id = 1 }.at)
  end)

  it("keys rows by a char pk, a UUID pk and a pk under another column name", function()
    BkCode:create{ code = "a1", name = "one" }
    BkCode:create{ code = "b2", name = "two" }
    local cs = BkCode:all():order_by("code"):list()
    cs[1].name, cs[2].name = "ONE", "TWO"
    assert.are.equal(2, BkCode:bulk_update(cs, { "name" }, { batch_size = 1 }))
    assert.are.same({ "ONE", "TWO" }, BkCode:all():order_by("code"):values_list("name", { flat = true }):list())
    local t1 = BkTok:create{ id = "0b4b39d4-7d3a-4d67-8f5e-9c1c1f0a0001", data = { n = 1 } }
    local t2 = BkTok:create{ id = "0b4b39d4-7d3a-4d67-8f5e-9c1c1f0a0002", data = { n = 2 } }
    t1.data, t2.data = { n = 10 }, { n = 20 }
    assert.are.equal(2, BkTok:bulk_update({ t1, t2 }, { "data" }))
    assert.are.same({ n = 20 }, BkTok:get{ id = "0b4b39d4-7d3a-4d67-8f5e-9c1c1f0a0002" }.data)
    local r1 = BkRen:create{ rid = 7, name = "seven" }
    local r2 = BkRen:create{ rid = 8, name = "eight" }
    r1.name, r2.name = "SEVEN", "EIGHT"
    assert.are.equal(2, BkRen:bulk_update({ r1, r2 }, { "name" }))
    local rows = raw("SELECT renamed_id, renamed_name FROM bk_rens ORDER BY renamed_id")
    assert.are.equal("SEVEN", rows[1].renamed_name)
    assert.are.equal("EIGHT", rows[2].renamed_name)
  end)
end)
