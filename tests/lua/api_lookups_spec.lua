-- Acceptance spec (LUA_API.md "Querysets", lookups): every lookup of the
-- walking skeleton, with NULLs, empty lists and LIKE metacharacters.
-- Where LUA_API.md is silent this follows Tortoise: `not` and `not_in`
-- also match NULL, `in {}` matches nothing, `not_in {}` everything.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local D = orm.Decimal

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local AlItem = Model:extend("AlItem", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 100, null = true },
  n       = fields.IntField{ null = true },
  price   = fields.DecimalField{ max_digits = 10, decimal_places = 2, null = true },
  active  = fields.BooleanField{ default = true },
  created = fields.DatetimeField{ null = true },
  Meta = { table = "al_items" },
})

local ROWS = {
  --  name            n    price     active created
  { "apple",         1,   "1.50",   true,  "2025-01-01 10:00:00" }, -- 1
  { "Apple pie",     2,   "3.25",   true,  "2025-02-01 00:00:00" }, -- 2
  { "banana",        3,   "0.99",   false, "2025-02-15 12:30:00" }, -- 3
  { "100% juice",    4,   "2.00",   true,  "2025-03-01 00:00:00" }, -- 4
  { "100 percent",   5,   "2.00",   false, nil },                   -- 5
  { "a_b",           nil, "10.00",  true,  "2025-03-10 08:00:00" }, -- 6
  { "axb",           7,   nil,      false, "2025-04-01 23:59:59" }, -- 7
  { "back\\slash",   8,   "5.55",   true,  "2025-04-02 00:00:00" }, -- 8
  { "backXslash",    nil, "5.55",   true,  "2025-05-05 05:05:05" }, -- 9
  { nil,             10,  "1.00",   false, "2025-06-06 06:06:06" }, -- 10
  { "cherry",        11,  "100.00", true,  "2025-06-07 00:00:00" }, -- 11
  { "CHERRY",        12,  "99.99",  false, "2025-06-08 00:00:00" }, -- 12
}

local function ids(filter)
  local t = AlItem:filter(filter):values_list("id", { flat = true }):list()
  table.sort(t)
  return t
end

local function all_but(...)
  local skip, t = {}, {}
  for _, i in ipairs{ ... } do skip[i] = true end
  for i = 1, #ROWS do if not skip[i] then t[#t + 1] = i end end
  return t
end

describe("lookups", function()
  before_each(function()
    orm.testing.init{ models = { AlItem } }
    for _, r in ipairs(ROWS) do
      AlItem:create{
        name = r[1] == nil and orm.null or r[1],
        n = r[2] == nil and orm.null or r[2],
        price = r[3] and D(r[3]) or orm.null,
        active = r[4],
        created = r[5] == nil and orm.null or r[5],
      }
    end
  end)
  after_each(function() orm.testing.finish() end)

  it("exact (implicit and explicit)", function()
    assert.are.same({ 1 }, ids{ name = "apple" })
    assert.are.same({ 1 }, ids{ name__exact = "apple" })
    assert.are.same({ 3 }, ids{ n = 3 })
    assert.are.same({}, ids{ name = "APPLE" })
    assert.are.same({ 4, 5 }, ids{ price = D"2" })
    assert.are.same({ 4, 5 }, ids{ price = D"2.00" })
  end)

  it("exact with orm.null is IS NULL", function()
    assert.are.same({ 10 }, ids{ name = orm.null })
    assert.are.same({ 6, 9 }, ids{ n = orm.null })
  end)

  it("exact on booleans", function()
    assert.are.same({ 1, 2, 4, 6, 8, 9, 11 }, ids{ active = true })
    assert.are.same({ 3, 5, 7, 10, 12 }, ids{ active = false })
  end)

  it("pk and id", function()
    assert.are.same({ 5 }, ids{ pk = 5 })
    assert.are.same({ 5 }, ids{ id = 5 })
    assert.are.same({ 2, 3 }, ids{ pk__in = { 2, 3 } })
  end)

  it("iexact", function()
    assert.are.same({ 11, 12 }, ids{ name__iexact = "cherry" })
    assert.are.same({ 1 }, ids{ name__iexact = "APPLE" })
  end)

  it("not (matches NULL too, as in Tortoise)", function()
    assert.are.same(all_but(5), ids{ n__not = 5 })
    assert.are.same(all_but(1), ids{ name__not = "apple" })
  end)

  it("in", function()
    assert.are.same({ 1, 3, 5 }, ids{ n__in = { 1, 3, 5, 99 } })
    assert.are.same({ 1, 11 }, ids{ name__in = { "apple", "cherry" } })
    assert.are.same({ 4 }, ids{ n__in = { 4 } })
    assert.are.same({ 4, 5, 8, 9 }, ids{ price__in = { D"2", D"5.55" } })
  end)

  it("in with an empty list matches nothing", function()
    assert.are.same({}, ids{ n__in = {} })
    assert.are.equal(0, AlItem:filter{ name__in = {} }:count())
  end)

  it("not_in (matches NULL too, as in Tortoise)", function()
    assert.are.same(all_but(1, 3, 5), ids{ n__not_in = { 1, 3, 5 } })
  end)

  it("not_in with an empty list matches everything", function()
    assert.are.same(all_but(), ids{ n__not_in = {} })
  end)

  it("gt, gte, lt, lte on integers", function()
    assert.are.same({ 10, 11, 12 }, ids{ n__gt = 8 })
    assert.are.same({ 8, 10, 11, 12 }, ids{ n__gte = 8 })
    assert.are.same({ 1, 2 }, ids{ n__lt = 3 })
    assert.are.same({ 1, 2, 3 }, ids{ n__lte = 3 })
  end)

  it("gt, gte, lt, lte on decimals", function()
    assert.are.same({ 6, 11, 12 }, ids{ price__gt = D"5.55" })
    assert.are.same({ 6, 8, 9, 11, 12 }, ids{ price__gte = D"5.55" })
    assert.are.same({ 3, 10 }, ids{ price__lt = D"1.50" })
    assert.are.same({ 1, 3, 10 }, ids{ price__lte = D"1.5" })
    assert.are.same({ 11 }, ids{ price__gt = 99.99 })
    assert.are.same({ 11 }, ids{ price__gte = 100 })
  end)

  it("gt, gte, lt, lte on datetimes given as ISO text", function()
    assert.are.same({ 4, 6, 7, 8, 9, 10, 11, 12 }, ids{ created__gte = "2025-03-01" })
    assert.are.same({ 6, 7, 8, 9, 10, 11, 12 }, ids{ created__gt = "2025-03-01T00:00:00" })
    assert.are.same({ 1, 2 }, ids{ created__lt = "2025-02-15" })
    assert.are.same({ 1, 2, 3 }, ids{ created__lte = "2025-02-15 12:30:00" })
  end)

  it("gt on strings compares as text", function()
    assert.are.same({ 11 }, ids{ name__gt = "ca" })
  end)

  it("range is inclusive", function()
    assert.are.same({ 3, 4, 5, 7 }, ids{ n__range = { 3, 7 } })
    assert.are.same({ 2, 4, 5, 8, 9 }, ids{ price__range = { D"2", D"5.55" } })
    assert.are.same({ 2, 3, 4 }, ids{ created__range = { "2025-02-01", "2025-03-01" } })
  end)

  it("isnull and not_isnull", function()
    assert.are.same({ 6, 9 }, ids{ n__isnull = true })
    assert.are.same(all_but(6, 9), ids{ n__isnull = false })
    assert.are.same(all_but(7), ids{ price__not_isnull = true })
    assert.are.same({ 7 }, ids{ price__not_isnull = false })
    assert.are.same({ 5 }, ids{ created__isnull = true })
  end)

  it("contains is case-sensitive", function()
    assert.are.same({ 1, 2 }, ids{ name__contains = "pple" })
    assert.are.same({ 2 }, ids{ name__contains = "Apple" })
    assert.are.same({ 12 }, ids{ name__contains = "HERR" })
    assert.are.same({ 11 }, ids{ name__contains = "herr" })
  end)

  it("icontains is case-insensitive", function()
    assert.are.same({ 1, 2 }, ids{ name__icontains = "APPLE" })
    assert.are.same({ 11, 12 }, ids{ name__icontains = "hErR" })
  end)

  it("startswith / istartswith", function()
    assert.are.same({ 2 }, ids{ name__startswith = "Apple" })
    assert.are.same({ 1 }, ids{ name__startswith = "app" })
    assert.are.same({ 1, 2 }, ids{ name__istartswith = "APP" })
  end)

  it("endswith / iendswith", function()
    assert.are.same({ 2 }, ids{ name__endswith = "pie" })
    assert.are.same({ 11 }, ids{ name__endswith = "rry" })
    assert.are.same({ 11, 12 }, ids{ name__iendswith = "RRY" })
  end)

  it("% in a value is matched literally", function()
    assert.are.same({ 4 }, ids{ name__contains = "%" })
    assert.are.same({ 4 }, ids{ name__contains = "0% j" })
    assert.are.same({ 4 }, ids{ name__startswith = "100%" })
    assert.are.same({ 4 }, ids{ name__icontains = "0% J" })
    assert.are.same({}, ids{ name__endswith = "%" })
    assert.are.same({}, ids{ name__iendswith = "%" })
  end)

  it("_ in a value is matched literally", function()
    assert.are.same({ 6 }, ids{ name__contains = "_" })
    assert.are.same({ 6 }, ids{ name__contains = "a_b" })
    assert.are.same({ 6 }, ids{ name__startswith = "a_" })
    assert.are.same({ 6 }, ids{ name__iendswith = "_B" })
    assert.are.same({ 6 }, ids{ name__istartswith = "A_" })
  end)

  it("\\ in a value is matched literally", function()
    assert.are.same({ 8 }, ids{ name__contains = "\\" })
    assert.are.same({ 8 }, ids{ name__contains = "k\\s" })
    assert.are.same({ 8 }, ids{ name__icontains = "K\\S" })
    assert.are.same({ 8 }, ids{ name__startswith = "back\\" })
  end)

  it("contains on a NULL column never matches", function()
    assert.are.equal(0, AlItem:filter{ id = 10, name__contains = "" }:count())
    assert.are.equal(11, AlItem:filter{ name__contains = "" }:count())
  end)

  it("several lookups on one field combine with AND", function()
    assert.are.same({ 4, 5 }, ids{ n__gte = 4, n__lte = 5 })
    assert.are.same({ 3, 4, 5 }, ids{ n__gt = 2, n__lt = 8, n__not = 7 })
  end)

  it("lookups work in exclude", function()
    -- exclude is NOT (...): as in SQL, rows where the test is NULL stay out
    assert.are.same({ 1, 2, 3, 4, 5, 7, 8 }, AlItem:exclude{ n__gt = 8 }:values_list("id", { flat = true }):order_by("id"):list())
    assert.are.same({ 1, 2, 3, 4, 5, 7, 8, 10 },
      AlItem:exclude{ n__isnull = true }:exclude{ n__gt = 10 }:order_by("id"):values_list("id", { flat = true }):list())
  end)

  it("lookups work in update and delete", function()
    assert.are.equal(2, AlItem:filter{ name__icontains = "cherry" }:update{ active = true })
    assert.are.equal(1, AlItem:filter{ name__contains = "%" }:delete())
    assert.are.equal(11, AlItem:count())
  end)

  it("an unknown lookup raises FieldError", function()
    local err = catch(function() return AlItem:filter{ n__almost = 3 }:list() end)
    assert.is_true(orm.exceptions.FieldError:is(err))
  end)

  it("an unknown field raises FieldError naming it and the valid fields", function()
    local err = catch(function() return AlItem:filter{ nam__contains = "a" }:list() end)
    assert.is_true(orm.exceptions.FieldError:is(err))
    assert.truthy(err.message:find("nam", 1, true))
    assert.truthy(err.message:find("price", 1, true))
  end)
end)
