-- Acceptance spec (LUA_API.md "Expressions"): Q with | & ~ and join_type,
-- F with + - * / % ^ in filter, annotate and update.  As in Tortoise, ~Q{...} and
-- exclude are SQL NOT: rows where the condition is NULL stay out.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Q, F, D = orm.Q, orm.F, orm.Decimal

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local AeProduct = Model:extend("AeProduct", {
  id        = fields.IntField{ primary_key = true },
  name      = fields.CharField{ max_length = 50 },
  stock     = fields.IntField{ default = 0 },
  min_stock = fields.IntField{ default = 0 },
  price     = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  category  = fields.CharField{ max_length = 20, null = true },
  active    = fields.BooleanField{ default = true },
  Meta = { table = "ae_products" },
})

local ROWS = {
  -- name      stock min price    category   active
  { "pen",     10,   5,  "1.20",  "office",  true },  -- 1
  { "pencil",  0,    5,  "0.50",  "office",  true },  -- 2
  { "mug",     3,    3,  "7.00",  "kitchen", false }, -- 3
  { "kettle",  8,    2,  "25.00", "kitchen", true },  -- 4
  { "lamp",    1,    4,  "30.00", nil,       true },  -- 5
}

local function ids(qs)
  local t = qs:values_list("id", { flat = true }):list()
  table.sort(t)
  return t
end

local function column(name)
  return AeProduct:all():order_by("id"):values_list(name, { flat = true }):list()
end

describe("expressions", function()
  before_each(function()
    orm.testing.init{ models = { AeProduct } }
    for _, r in ipairs(ROWS) do
      AeProduct:create{ name = r[1], stock = r[2], min_stock = r[3], price = D(r[4]),
                        category = r[5] == nil and orm.null or r[5], active = r[6] }
    end
  end)
  after_each(function() orm.testing.finish() end)

  describe("Q", function()
    it("a single Q filters like its keys", function()
      assert.are.same({ 1, 2 }, ids(AeProduct:filter{ Q{ category = "office" } }))
      assert.are.same({ 1 }, ids(AeProduct:filter{ Q{ category = "office", stock__gt = 0 } }))
    end)

    it("| is OR", function()
      assert.are.same({ 1, 2, 4, 5 }, ids(AeProduct:filter{ Q{ category = "office" } | Q{ price__gt = 20 } }))
    end)

    it("& is AND", function()
      assert.are.same({ 4 }, ids(AeProduct:filter{ Q{ category = "kitchen" } & Q{ active = true } }))
    end)

    it("~ is NOT", function()
      assert.are.same({ 3 }, ids(AeProduct:filter{ ~Q{ active = true } }))
      assert.are.same({ 3, 4 }, ids(AeProduct:filter{ ~Q{ category = "office" } }))
      assert.are.same({ 1, 2, 4, 5 }, ids(AeProduct:filter{ ~~Q{ active = true } }))
    end)

    it("nests", function()
      local q = (Q{ category = "office" } | Q{ category = "kitchen" }) & ~Q{ stock = 0 }
      assert.are.same({ 1, 3, 4 }, ids(AeProduct:filter{ q }))
      local r = Q{ name = "lamp" } | (Q{ category = "kitchen" } & Q{ stock__lt = 5 })
      assert.are.same({ 3, 5 }, ids(AeProduct:filter{ r }))
    end)

    it("combines positional children with join_type", function()
      assert.are.same({ 2, 5 }, ids(AeProduct:filter{ Q{ Q{ name = "pencil" }, Q{ name = "lamp" }, join_type = "OR" } }))
      assert.are.same({ 4 }, ids(AeProduct:filter{ Q{ Q{ category = "kitchen" }, Q{ active = true } } }))
      assert.are.same({ 4 }, ids(AeProduct:filter{ Q{ Q{ category = "kitchen" }, Q{ active = true }, join_type = "AND" } }))
    end)

    it("mixes Q objects and keywords in one filter", function()
      local qs = AeProduct:filter{ Q{ category = "office" } | Q{ category = "kitchen" }, active = true }
      assert.are.same({ 1, 2, 4 }, ids(qs))
      assert.are.same({ 1 }, ids(AeProduct:filter{ Q{ category = "office" }, Q{ stock__gt = 0 } }))
    end)

    it("works in exclude, get, count, update and delete", function()
      local q = Q{ category = "office" } | Q{ stock = 1 }
      assert.are.same({ 3, 4 }, ids(AeProduct:exclude{ q }))
      assert.are.equal("lamp", AeProduct:get{ Q{ stock = 1 } | Q{ name = "nothing" } }.name)
      assert.are.equal(3, AeProduct:filter{ q }:count())
      assert.are.equal(3, AeProduct:filter{ q }:update{ active = false })
      assert.are.equal(4, AeProduct:filter{ active = false }:count())
      assert.are.equal(3, AeProduct:filter{ q }:delete())
      assert.are.equal(2, AeProduct:count())
    end)

    it("a Q can be reused", function()
      local q = Q{ active = true }
      assert.are.equal(4, AeProduct:filter{ q }:count())
      assert.are.equal(1, AeProduct:filter{ q, name = "pen" }:count())
      assert.are.equal(4, AeProduct:filter{ q }:count())
    end)

    it("an empty Q matches everything", function()
      assert.are.equal(5, AeProduct:filter{ Q{} }:count())
    end)

    it("Q objects built alike are equal", function()
      assert.is_true(Q{ name = "pen" } == Q{ name = "pen" })
      assert.is_false(Q{ name = "pen" } == Q{ name = "mug" })
      assert.is_true((Q{ a = 1 } | Q{ b = 2 }) == (Q{ a = 1 } | Q{ b = 2 }))
      assert.is_false((Q{ a = 1 } | Q{ b = 2 }) == (Q{ a = 1 } & Q{ b = 2 }))
      assert.is_false(Q{ a = 1 } == ~Q{ a = 1 })
    end)

    it("an unknown join_type raises OperationalError", function()
      local err = catch(function() return Q{ Q{ a = 1 }, Q{ b = 2 }, join_type = "XOR" } end)
      assert.is_true(orm.exceptions.OperationalError:is(err))
    end)

    it("combining a Q with a non-Q raises OperationalError", function()
      assert.is_true(orm.exceptions.OperationalError:is(catch(function() return Q{ a = 1 } | 5 end)))
      assert.is_true(orm.exceptions.OperationalError:is(catch(function() return Q{ a = 1 } & { b = 2 } end)))
    end)

    it("an unknown field inside a Q raises FieldError", function()
      local err = catch(function() return AeProduct:filter{ Q{ nme = "x" } | Q{ name = "pen" } }:list() end)
      assert.is_true(orm.exceptions.FieldError:is(err))
      assert.truthy(err.message:find("nme", 1, true))
    end)
  end)

  describe("F", function()
    it("compares two columns in filter", function()
      assert.are.same({ 2, 5 }, ids(AeProduct:filter{ stock__lt = F"min_stock" }))
      assert.are.same({ 3 }, ids(AeProduct:filter{ stock = F"min_stock" }))
      assert.are.same({ 1, 3, 4 }, ids(AeProduct:filter{ stock__gte = F"min_stock" }))
    end)

    it("does arithmetic in filter", function()
      assert.are.same({ 4 }, ids(AeProduct:filter{ stock__gt = F"min_stock" * 2 }))
      assert.are.same({ 1, 4 }, ids(AeProduct:filter{ stock__gte = F"min_stock" + 5 }))
      assert.are.same({ 2, 5 }, ids(AeProduct:filter{ stock__lte = F"min_stock" - 1 }))
      assert.are.same({ 1, 3, 4 }, ids(AeProduct:filter{ stock__gt = F"min_stock" / 2 }))
      assert.are.same({ 4 }, ids(AeProduct:filter{ stock__gt = F"min_stock" + F"min_stock" }))
    end)

    it("works inside Q", function()
      assert.are.same({ 1, 2, 5 }, ids(AeProduct:filter{ Q{ stock__lt = F"min_stock" } | Q{ name = "pen" } }))
      assert.are.same({ 1, 3, 4 }, ids(AeProduct:filter{ ~Q{ stock__lt = F"min_stock" } }))
    end)

    it("updates from the row's own values", function()
      assert.are.equal(4, AeProduct:filter{ active = true }:update{ stock = F"stock" + 1 })
      assert.are.same({ 11, 1, 3, 9, 2 }, column("stock"))
      AeProduct:all():update{ stock = F"stock" - F"min_stock" }
      assert.are.same({ 6, -4, 0, 7, -2 }, column("stock"))
      AeProduct:all():update{ min_stock = F"stock" * 2 }
      assert.are.same({ 12, -8, 0, 14, -4 }, column("min_stock"))
    end)

    it("accepts a number on the left and unary minus", function()
      AeProduct:all():update{ stock = 100 - F"stock" }
      assert.are.same({ 90, 100, 97, 92, 99 }, column("stock"))
      AeProduct:all():update{ min_stock = -F"min_stock" }
      assert.are.same({ -5, -5, -3, -2, -4 }, column("min_stock"))
    end)

    it("keeps decimals exact in update", function()
      AeProduct:filter{ name = "pen" }:update{ price = F"price" * 2 }
      assert.are.equal(D"2.40", AeProduct:get{ name = "pen" }.price)
      AeProduct:filter{ name = "pencil" }:update{ price = F"price" + D"0.25" }
      assert.are.equal(D"0.75", AeProduct:get{ name = "pencil" }.price)
    end)

    it("combines update with a filter on F", function()
      assert.are.equal(2, AeProduct:filter{ stock__lt = F"min_stock" }:update{ stock = F"min_stock" })
      assert.are.equal(0, AeProduct:filter{ stock__lt = F"min_stock" }:count())
    end)

    it("% is the remainder, in filter, annotate and update", function()
      -- stocks 10, 0, 3, 8, 1
      assert.are.same({ 5 }, ids(AeProduct:filter{ stock = F"min_stock" % 3 }))
      local m = AeProduct:all():order_by("id"):annotate{ m = F"stock" % 3 }
        :values_list("m", { flat = true }):list()
      assert.are.same({ 1, 0, 0, 2, 1 }, m)
      for _, v in ipairs(m) do assert.are.equal("integer", math.type(v)) end
      AeProduct:all():update{ min_stock = (F"stock" + 1) % 4 }
      assert.are.same({ 3, 1, 0, 1, 2 }, column("min_stock"))
    end)

    it("^ is the power", function()
      local p = AeProduct:all():order_by("id"):annotate{ p = F"stock" ^ 2 }
        :values_list("p", { flat = true }):list()
      assert.are.same({ 100, 0, 9, 64, 1 }, p)
      assert.are.same({ 3 }, ids(AeProduct:filter{ min_stock = 3, stock = F"min_stock" ^ 1 }))
      AeProduct:filter{ name = "mug" }:update{ stock = F"stock" ^ 2 + 1 }
      assert.are.equal(10, AeProduct:get{ name = "mug" }.stock)
    end)

    it("arithmetic on a decimal column stays an exact decimal, on every backend", function()
      local Sum = orm.functions.Sum
      local function one(e)
        return AeProduct:all():annotate{ v = e }:values_list("v", { flat = true }):first()
      end
      local function is_decimal(v) return getmetatable(v) == getmetatable(D"1") end
      local total = one(Sum("price"))
      assert.is_true(is_decimal(total))
      assert.are.equal(D"63.70", total)
      local doubled = one(Sum(F"price" * 2))
      assert.is_true(is_decimal(doubled))
      assert.are.equal(D"127.40", doubled)
      local plus = one(Sum(F"price" + 0.5)) -- a float operand: still the column's decimal
      assert.is_true(is_decimal(plus))
      assert.are.equal(D"66.20", plus)
      local row = AeProduct:filter{ name = "pen" }:annotate{ v = F"price" + 1 }
        :values_list("v", { flat = true }):first()
      assert.is_true(is_decimal(row))
      assert.are.equal(D"2.20", row)
    end)

    it("integer arithmetic sums to an integer, averages are floats, on every backend", function()
      local fn = orm.functions
      local function one(e)
        return AeProduct:all():annotate{ v = e }:values_list("v", { flat = true }):first()
      end
      -- stock 10 0 3 8 1, min_stock 5 5 3 2 4
      local sq = one(fn.Sum(F"stock" * F"stock"))
      assert.are.equal("integer", math.type(sq))
      assert.are.equal(174, sq)
      local diff = one(fn.Sum(F"stock" - F"min_stock" + 1))
      assert.are.equal("integer", math.type(diff))
      assert.are.equal(8, diff)
      local avg = one(fn.Avg("stock"))
      assert.are.equal("float", math.type(avg))
      assert.are.equal(4.4, avg)
      local avg2 = one(fn.Avg(F"stock" * 2))
      assert.are.equal("float", math.type(avg2))
      assert.are.equal(8.8, avg2)
      assert.are.equal(D"12.74", one(fn.Avg("price"))) -- a decimal stays one
    end)

    it("an unknown field in F raises FieldError", function()
      local e1 = catch(function() return AeProduct:filter{ stock__lt = F"nope" }:list() end)
      assert.is_true(orm.exceptions.FieldError:is(e1))
      assert.truthy(e1.message:find("nope", 1, true))
      local e2 = catch(function() return AeProduct:all():update{ stock = F"nada" + 1 } end)
      assert.is_true(orm.exceptions.FieldError:is(e2))
    end)
  end)
end)
