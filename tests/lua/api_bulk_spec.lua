-- Acceptance spec (LUA_API.md "Model-level": bulk_create): primary keys
-- filled on every backend; upserts (on_conflict + update_fields: ON
-- CONFLICT ... DO UPDATE, MariaDB's ON DUPLICATE KEY UPDATE);
-- ignore_conflicts with new and existing rows mixed; the option checks
-- Tortoise makes.  Expected rows are worked out by hand.
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
