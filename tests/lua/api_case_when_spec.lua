-- Acceptance spec (LUA_API.md "Details": orm.Case / orm.When): a CASE
-- expression in annotate, filter, order_by and update; the first branch
-- that holds gives the value, else the default (NULL without one);
-- results may be values or expressions (F, functions); conditions may go
-- through relations in a SELECT.  Expected values are worked out by hand
-- from the rows below.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Case, When, Q, F, D = orm.Case, orm.When, orm.Q, orm.F, orm.Decimal

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local CwShelf = Model:extend("CwShelf", {
  id   = fields.IntField{ primary_key = true },
  room = fields.CharField{ max_length = 20 },
  Meta = { table = "cw_shelves" },
})

local CwItem = Model:extend("CwItem", {
  id    = fields.IntField{ primary_key = true },
  name  = fields.CharField{ max_length = 20 },
  stock = fields.IntField{ default = 0 },
  price = fields.DecimalField{ max_digits = 8, decimal_places = 2 },
  note  = fields.CharField{ max_length = 30, null = true },
  shelf = fields.ForeignKeyField("models.CwShelf", { related_name = "items", null = true }),
  Meta = { table = "cw_items" },
})

-- name, stock, price, shelf (1 attic, 2 cellar)
local ROWS = {
  { "nail",  120, "0.05", 1 },   -- 1
  { "hammer", 4,  "12.50", 1 },  -- 2
  { "saw",    0,  "20.00", 2 },  -- 3
  { "glue",   15, "3.20", 2 },   -- 4
  { "tape",   0,  "1.10", nil }, -- 5
}

local function col(qs, name)
  return qs:order_by("id"):values_list(name, { flat = true }):list()
end

describe("Case / When", function()
  before_each(function()
    orm.testing.init{ models = { CwShelf, CwItem } }
    CwShelf:create{ id = 1, room = "attic" }
    CwShelf:create{ id = 2, room = "cellar" }
    for i, r in ipairs(ROWS) do
      CwItem:create{ id = i, name = r[1], stock = r[2], price = D(r[3]),
                     shelf_id = r[4] == nil and orm.null or r[4] }
    end
  end)
  after_each(function() orm.testing.finish() end)

  it("annotates with the first branch that holds, else the default", function()
    local qs = CwItem:annotate{ level = Case(
      When(Q{ stock__gte = 100 }, "plenty"),
      When(Q{ stock__gt = 0 }, "some"),
      { default = "none" }) }
    assert.are.same({ "plenty", "some", "none", "some", "none" }, col(qs, "level"))
  end)

  it("groups by a Case annotation, with aggregates beside it", function()
    local qs = CwItem:annotate{
      level = Case(When(Q{ stock__gt = 0 }, "stocked"), { default = "out" }),
      n = orm.functions.Count("id"),
      total = orm.functions.Sum("stock"),
    }:group_by("level"):order_by("-level"):values("level", "n", "total")
    assert.are.same({ { level = "stocked", n = 3, total = 139 }, { level = "out", n = 2, total = 0 } },
      qs:list())
    -- a number-valued Case, grouped and ordered by
    local rows = CwItem:annotate{
      big = Case(When(Q{ price__gte = D"10" }, 1), { default = 0 }),
      n = orm.functions.Count("id"),
    }:group_by("big"):order_by("big"):values("big", "n"):list()
    assert.are.same({ { big = 0, n = 3 }, { big = 1, n = 2 } }, rows)
  end)

  it("takes a plain table of filters as a condition", function()
    local qs = CwItem:annotate{ cheap = Case(When({ price__lt = D"2" }, true), { default = false }) }
    local got = col(qs, "cheap")
    for i, want in ipairs{ true, false, false, false, true } do
      assert.are.equal(want, got[i] == true or got[i] == 1)
    end
  end)

  it("gives NULL where no branch holds and there is no default", function()
    local qs = CwItem:annotate{ big = Case(When({ stock__gt = 100 }, 1)) }
    local got = qs:order_by("id"):values_list("big"):list()
    assert.are.equal(1, got[1][1])
    for i = 2, 5 do assert.is_nil(got[i][1]) end
  end)

  it("returns expressions: F arithmetic and functions", function()
    local qs = CwItem:annotate{ want = Case(When({ stock = 0 }, F"stock" + 10),
                                           { default = F"stock" * 2 }) }
    assert.are.same({ 240, 8, 10, 30, 10 }, col(qs, "want"))
    local up = CwItem:annotate{ label = Case(When({ stock = 0 }, orm.functions.Upper("name")),
                                            { default = F"name" }) }
    assert.are.same({ "nail", "hammer", "SAW", "glue", "TAPE" }, col(up, "label"))
  end)

  it("conditions go through relations", function()
    local qs = CwItem:annotate{ where = Case(When({ shelf__room = "attic" }, "up"),
                                            When({ shelf__room = "cellar" }, "down"),
                                            { default = "?" }) }
    assert.are.same({ "up", "up", "down", "down", "?" }, col(qs, "where"))
  end)

  it("conditions combine with Q operators", function()
    local qs = CwItem:annotate{ flag = Case(When(Q{ stock = 0 } | Q{ price__gt = D"10" }, "look"),
                                           { default = "ok" }) }
    assert.are.same({ "ok", "look", "look", "ok", "look" }, col(qs, "flag"))
  end)

  it("filters on a Case annotation, and orders by one", function()
    local qs = CwItem:annotate{ out = Case(When({ stock = 0 }, 1), { default = 0 }) }
    assert.are.same({ 3, 5 }, col(qs:filter{ out = 1 }, "id"))
    local order = qs:order_by("-out", "name"):values_list("id", { flat = true }):list()
    assert.are.same({ 3, 5, 4, 2, 1 }, order)
  end)

  it("is a filter's value", function()
    local got = col(CwItem:filter{ stock = Case(When({ price__gt = D"15" }, 0), { default = 4 }) }, "id")
    assert.are.same({ 2, 3 }, got)
  end)

  it("updates each row with its branch", function()
    local n = CwItem:all():update{ note = Case(When({ stock = 0 }, "reorder"),
                                              When({ stock__lt = 10 }, "low")) }
    assert.are.equal(5, n)
    local notes = {}
    for i = 1, 5 do notes[i] = CwItem:get{ id = i }.note or "NULL" end
    assert.are.same({ "NULL", "low", "reorder", "NULL", "reorder" }, notes)
    CwItem:filter{ id__in = { 1, 2 } }:update{ stock = Case(When({ stock__gt = 50 }, F"stock" - 20),
                                                          { default = F"stock" + 1 }) }
    assert.are.same({ 100, 5, 0, 15, 0 }, col(CwItem:all(), "stock"))
  end)

  it("keeps decimals exact in its results", function()
    local qs = CwItem:annotate{ p = Case(When({ stock = 0 }, D"0.10"), { default = F"price" }) }
    local got = col(qs, "p")
    assert.are.equal(D"0.05", D(tostring(got[1])))
    assert.are.equal(D"0.10", D(tostring(got[3])))
  end)

  it("prints readably", function()
    local c = Case(When(Q{ stock__gte = 10 }, "many"), { default = "few" })
    assert.are.equal("Case(When(stock__gte = 10, 'many'), default='few')", tostring(c))
  end)

  it("refuses what is not a When, and a Case without one", function()
    assert.is_true(orm.exceptions.ParamsError:is(catch(Case)))
    assert.is_true(orm.exceptions.ParamsError:is(catch(Case, 1)))
    assert.is_true(orm.exceptions.ParamsError:is(catch(Case, { default = 1 })))
    assert.is_true(orm.exceptions.ParamsError:is(catch(When, 42, "x")))
  end)

  it("an unknown field in a condition raises FieldError", function()
    local e = catch(function()
      return CwItem:annotate{ x = Case(When({ nope = 1 }, 1)) }:list()
    end)
    assert.is_true(orm.exceptions.FieldError:is(e))
  end)

  it("update refuses a condition through a relation", function()
    local e = catch(function()
      return CwItem:all():update{ note = Case(When({ shelf__room = "attic" }, "up")) }
    end)
    assert.is_true(orm.exceptions.FieldError:is(e))
  end)
end)
