-- Acceptance spec (LUA_API.md "Querysets"): chaining, terminal methods,
-- evaluation (laziness, caching, #, [i], ipairs, iter, list), projections.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local AqPerson = Model:extend("AqPerson", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 50, unique = true },
  age    = fields.IntField{},
  city   = fields.CharField{ max_length = 50, null = true },
  active = fields.BooleanField{ default = true },
  Meta = { table = "aq_people" },
})

-- id name   age city     active
--  1 ann     31 Paris    true
--  2 bob     25 Berlin   true
--  3 cid     31 Paris    false
--  4 dan     40 nil      true
--  5 eve     25 Rome     true
--  6 fay     52 Berlin   false
local PEOPLE = {
  { "ann", 31, "Paris", true }, { "bob", 25, "Berlin", true },
  { "cid", 31, "Paris", false }, { "dan", 40, nil, true },
  { "eve", 25, "Rome", true }, { "fay", 52, "Berlin", false },
}

local function names(list)
  local t = {}
  for i, p in ipairs(list) do t[i] = p.name end
  return t
end

describe("querysets", function()
  before_each(function()
    orm.testing.init{ models = { AqPerson } }
    for _, p in ipairs(PEOPLE) do
      AqPerson:create{ name = p[1], age = p[2], city = p[3], active = p[4] }
    end
  end)
  after_each(function() orm.testing.finish() end)

  describe("chaining", function()
    it("all() and count()", function()
      assert.are.equal(6, AqPerson:all():count())
      assert.are.equal(6, AqPerson:count())
    end)

    it("filter with several keys ANDs them", function()
      assert.are.same({ "ann" }, names(AqPerson:filter{ age = 31, active = true }:order_by("id"):list()))
    end)

    it("filter chained ANDs the calls", function()
      local qs = AqPerson:filter{ city = "Paris" }:filter{ active = true }
      assert.are.same({ "ann" }, names(qs:list()))
    end)

    it("exclude (SQL NOT, as in Tortoise: a NULL city is not excluded-by-match, it drops out)", function()
      assert.are.same({ "bob", "eve", "fay" },
        names(AqPerson:exclude{ city = "Paris" }:order_by("name"):list()))
      assert.are.same({ "ann", "bob", "dan", "eve" },
        names(AqPerson:exclude{ active = false }:order_by("name"):list()))
    end)

    it("querysets are immutable: chaining returns a new one", function()
      local all = AqPerson:all()
      local some = all:filter{ age = 25 }
      assert.are_not.equal(all, some)
      assert.are.equal(6, all:count())
      assert.are.equal(2, some:count())
      local ordered = some:order_by("-name")
      assert.are.same({ "eve", "bob" }, names(ordered:list()))
      assert.are.equal(2, #some)
    end)

    it("order_by ascending, descending, by two keys", function()
      assert.are.same({ "ann", "bob", "cid", "dan", "eve", "fay" }, names(AqPerson:all():order_by("name"):list()))
      assert.are.same({ "fay", "eve", "dan", "cid", "bob", "ann" }, names(AqPerson:all():order_by("-name"):list()))
      assert.are.same({ "bob", "eve", "ann", "cid", "dan", "fay" }, names(AqPerson:all():order_by("age", "name"):list()))
      assert.are.same({ "fay", "dan", "cid", "ann", "eve", "bob" }, names(AqPerson:all():order_by("-age", "-name"):list()))
    end)

    it("order_by replaces an earlier ordering", function()
      assert.are.same({ "fay", "eve", "dan", "cid", "bob", "ann" },
        names(AqPerson:all():order_by("age"):order_by("-name"):list()))
    end)

    it("order_by pk", function()
      assert.are.same({ "fay", "eve", "dan", "cid", "bob", "ann" }, names(AqPerson:all():order_by("-pk"):list()))
    end)

    it("limit and offset", function()
      local qs = AqPerson:all():order_by("name")
      assert.are.same({ "ann", "bob" }, names(qs:limit(2):list()))
      assert.are.same({ "cid", "dan" }, names(qs:offset(2):limit(2):list()))
      assert.are.same({ "cid", "dan" }, names(qs:limit(2):offset(2):list()))
      assert.are.same({ "eve", "fay" }, names(qs:offset(4):list()))
      assert.are.same({}, names(qs:offset(10):list()))
      assert.are.same({}, names(qs:limit(0):list()))
    end)

    it("count honours limit and offset", function()
      assert.are.equal(2, AqPerson:all():order_by("id"):limit(2):count())
      assert.are.equal(1, AqPerson:all():order_by("id"):offset(5):count())
    end)

    it("a negative limit or offset raises ParamsError", function()
      assert.is_true(orm.exceptions.ParamsError:is(catch(function() return AqPerson:all():limit(-1) end)))
      assert.is_true(orm.exceptions.ParamsError:is(catch(function() return AqPerson:all():offset(-1) end)))
    end)

    it("distinct", function()
      local cities = AqPerson:filter{ city__not_isnull = true }:order_by("city")
        :values_list("city", { flat = true }):distinct():list()
      assert.are.same({ "Berlin", "Paris", "Rome" }, cities)
      assert.are.equal(4, #AqPerson:all():distinct():values("age"))
    end)
  end)

  describe("terminal methods", function()
    it("first() follows the ordering and gives nil when empty", function()
      assert.are.equal("fay", AqPerson:all():order_by("-age"):first().name)
      assert.are.equal("ann", AqPerson:all():order_by("name"):first().name)
      assert.is_nil(AqPerson:filter{ age = 99 }:first())
    end)

    it("exists()", function()
      assert.is_true(AqPerson:filter{ city = "Rome" }:exists())
      assert.is_false(AqPerson:filter{ city = "Oslo" }:exists())
      assert.is_true(AqPerson:exists{ name = "ann" })
      assert.is_false(AqPerson:exists{ name = "zed" })
    end)

    it("get() returns the one match", function()
      local p = AqPerson:get{ name = "dan" }
      assert.are.equal(40, p.age)
      assert.is_nil(p.city)
      assert.are.equal("dan", AqPerson:filter{ age = 40 }:get{}.name)
      assert.are.equal("eve", AqPerson:filter{ age = 25 }:get{ city = "Rome" }.name)
      assert.are.equal(p, AqPerson:get{ pk = p.id })
    end)

    it("get() raises DoesNotExist and MultipleObjectsReturned", function()
      local e1 = catch(function() return AqPerson:get{ name = "zed" } end)
      assert.is_true(orm.exceptions.DoesNotExist:is(e1))
      assert.is_true(AqPerson.DoesNotExist:is(e1))
      local e2 = catch(function() return AqPerson:get{ age = 25 } end)
      assert.is_true(orm.exceptions.MultipleObjectsReturned:is(e2))
    end)

    it("get_or_none()", function()
      assert.are.equal("ann", AqPerson:get_or_none{ name = "ann" }.name)
      assert.is_nil(AqPerson:get_or_none{ name = "zed" })
      assert.is_nil(AqPerson:filter{ active = false }:get_or_none{ name = "ann" })
    end)

    it("update() returns the rows changed", function()
      assert.are.equal(2, AqPerson:filter{ city = "Berlin" }:update{ city = "Bonn" })
      assert.are.equal(2, AqPerson:filter{ city = "Bonn" }:count())
      assert.are.equal(0, AqPerson:filter{ city = "Berlin" }:count())
      assert.are.equal(0, AqPerson:filter{ city = "Oslo" }:update{ age = 1 })
      assert.are.equal(1, AqPerson:filter{ name = "dan" }:update{ city = "Oslo", active = false })
      local d = AqPerson:get{ name = "dan" }
      assert.are.equal("Oslo", d.city)
      assert.is_false(d.active)
    end)

    it("update() can set NULL", function()
      assert.are.equal(1, AqPerson:filter{ name = "ann" }:update{ city = orm.null })
      assert.is_nil(AqPerson:get{ name = "ann" }.city)
    end)

    it("delete() returns the rows deleted", function()
      assert.are.equal(2, AqPerson:filter{ active = false }:delete())
      assert.are.equal(4, AqPerson:count())
      assert.are.equal(0, AqPerson:filter{ active = false }:delete())
    end)

    it("sql() returns the SQL and its parameters without running", function()
      local sql, params = AqPerson:filter{ age__gt = 30, city = "Paris" }:order_by("-name"):sql()
      assert.are.equal("string", type(sql))
      assert.are.equal("table", type(params))
      assert.truthy(sql:match("^SELECT"))
      assert.truthy(sql:find(require("tests.lua.support.sql").quote("aq_people"), 1, true))
      assert.truthy(sql:find("ORDER BY", 1, true))
      assert.are.equal(2, #params)
      local seen = {}
      for _, v in ipairs(params) do seen[tostring(v)] = true end
      assert.is_true(seen["30"])
      assert.is_true(seen["Paris"])
      -- values never appear in the SQL text
      assert.is_nil(sql:find("Paris", 1, true))
    end)
  end)

  describe("projections", function()
    it("values(...) gives tables", function()
      local rows = AqPerson:filter{ city = "Paris" }:order_by("name"):values("id", "name")
      assert.are.same({ { id = 1, name = "ann" }, { id = 3, name = "cid" } }, rows:list())
    end)

    it("values{...} with aliases", function()
      local rows = AqPerson:filter{ name = "eve" }:values{ "id", town = "city" }:list()
      assert.are.same({ { id = 5, town = "Rome" } }, rows)
    end)

    it("values_list(...) gives arrays", function()
      local rows = AqPerson:filter{ age = 25 }:order_by("name"):values_list("name", "age"):list()
      assert.are.same({ { "bob", 25 }, { "eve", 25 } }, rows)
    end)

    it("values_list(name, {flat=true}) gives scalars", function()
      local rows = AqPerson:all():order_by("-age", "name"):values_list("name", { flat = true }):list()
      assert.are.same({ "fay", "dan", "ann", "cid", "bob", "eve" }, rows)
    end)

    it("values of a NULL are nil", function()
      local r = AqPerson:filter{ name = "dan" }:values("name", "city"):first()
      assert.are.equal("dan", r.name)
      assert.is_nil(r.city)
    end)

    it("values on an unknown field raises FieldError", function()
      local err = catch(function() return AqPerson:all():values("nope"):list() end)
      assert.is_true(orm.exceptions.FieldError:is(err))
      assert.truthy(err.message:find("nope", 1, true))
    end)
  end)

  describe("evaluation", function()
    it("is lazy: rows created after building show up", function()
      local qs = AqPerson:filter{ age = 25 }
      AqPerson:create{ name = "gil", age = 25 }
      assert.are.equal(3, #qs)
    end)

    it("runs once and caches", function()
      local qs = AqPerson:all():order_by("id")
      local n = #qs
      local first = qs[1]
      AqPerson:create{ name = "hal", age = 60 }
      assert.are.equal(n, #qs)
      assert.is_true(rawequal(first, qs[1]))
      local a, b = qs:list(), qs:list()
      assert.are.equal(#a, #b)
      for i = 1, #a do assert.is_true(rawequal(a[i], b[i])) end
      -- a new queryset runs again
      assert.are.equal(n + 1, #AqPerson:all())
    end)

    it("#qs, qs[i] and out-of-range indexes", function()
      local qs = AqPerson:all():order_by("name")
      assert.are.equal(6, #qs)
      assert.are.equal("ann", qs[1].name)
      assert.are.equal("fay", qs[6].name)
      assert.is_nil(qs[7])
    end)

    it("ipairs", function()
      local got = {}
      for i, p in ipairs(AqPerson:all():order_by("name")) do got[i] = p.name end
      assert.are.same({ "ann", "bob", "cid", "dan", "eve", "fay" }, got)
    end)

    it("iter() streams instances", function()
      local got = {}
      for p in AqPerson:filter{ active = true }:order_by("-name"):iter() do
        assert.are.equal(AqPerson, getmetatable(p))
        got[#got + 1] = p.name
      end
      assert.are.same({ "eve", "dan", "bob", "ann" }, got)
    end)

    it("iter() over values and flat values_list", function()
      local got = {}
      for n in AqPerson:all():order_by("id"):values_list("name", { flat = true }):iter() do got[#got + 1] = n end
      assert.are.same({ "ann", "bob", "cid", "dan", "eve", "fay" }, got)
      got = {}
      for r in AqPerson:filter{ age = 25 }:order_by("id"):values("name"):iter() do got[#got + 1] = r.name end
      assert.are.same({ "bob", "eve" }, got)
    end)

    it("list() is a plain Lua array of instances", function()
      local l = AqPerson:filter{ city = "Paris" }:order_by("id"):list()
      assert.are.equal("table", type(l))
      assert.are.equal(2, #l)
      assert.are.equal(AqPerson, getmetatable(l[1]))
      assert.are.equal("ann", l[1].name)
    end)

    it("an empty queryset", function()
      local qs = AqPerson:filter{ name = "nobody" }
      assert.are.equal(0, #qs)
      assert.is_nil(qs[1])
      assert.are.same({}, qs:list())
      for _ in qs:iter() do error("no rows expected") end
    end)

    it("qs.model is the model", function()
      assert.are.equal(AqPerson, AqPerson:all().model)
    end)

    it("tostring of a queryset lists its instances", function()
      assert.are.equal("<QuerySet [<AqPerson: 1>, <AqPerson: 3>]>",
        tostring(AqPerson:filter{ city = "Paris" }:order_by("id")))
    end)
  end)

  describe("field errors", function()
    it("filter on an unknown field names it and lists valid fields", function()
      local err = catch(function() return AqPerson:filter{ nmae = "ann" }:list() end)
      assert.is_true(orm.exceptions.FieldError:is(err))
      assert.truthy(err.message:find("nmae", 1, true))
      assert.truthy(err.message:find("name", 1, true))
      assert.truthy(err.message:find("age", 1, true))
    end)

    it("order_by an unknown field raises FieldError", function()
      local err = catch(function() return AqPerson:all():order_by("-agee"):list() end)
      assert.is_true(orm.exceptions.FieldError:is(err))
      assert.truthy(err.message:find("agee", 1, true))
    end)

    it("an unknown lookup raises FieldError", function()
      local err = catch(function() return AqPerson:filter{ age__bigger = 3 }:list() end)
      assert.is_true(orm.exceptions.FieldError:is(err))
    end)
  end)
end)
