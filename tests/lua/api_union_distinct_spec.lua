-- Acceptance spec: union() and distinct("field", ...), which Tortoise
-- lacks; the semantics are Django's (QuerySet.union, distinct(*fields)),
-- made the same on every backend: distinct(fields) keeps the first row
-- of each value in the queryset's order, whatever that order starts
-- with (PostgreSQL's DISTINCT ON would need it to start with the
-- fields).  Expected rows are worked out by hand from the data below.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local fn = orm.functions

local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local UdShelf = Model:extend("UdShelf", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 10 },
  Meta = { table = "ud_shelves" },
})
local UdBook = Model:extend("UdBook", {
  id = fields.IntField{ primary_key = true },
  title = fields.CharField{ max_length = 10 },
  genre = fields.CharField{ max_length = 10 },
  pages = fields.IntField{},
  shelf = fields.ForeignKeyField("models.UdShelf", { related_name = "books" }),
  Meta = { table = "ud_books" },
})
local UdNote = Model:extend("UdNote", {
  id = fields.IntField{ primary_key = true },
  text = fields.CharField{ max_length = 10 },
  Meta = { table = "ud_notes", ordering = { "-id" } },
})

-- title genre pages shelf
--   a    sf    300   x
--   b    sf    100   y
--   c    crime 200   x
--   d    crime 500   y
--   e    poem  400   x
local function titles(qs)
  local t = {}
  for _, b in ipairs(qs:list()) do t[#t + 1] = b.title end
  return table.concat(t, ",")
end

describe("union and distinct(fields)", function()
  before_each(function()
    orm.testing.init{ models = { UdShelf, UdBook, UdNote } }
    local x = UdShelf:create{ id = 1, name = "x" }
    local y = UdShelf:create{ id = 2, name = "y" }
    for i, r in ipairs{ { "a", "sf", 300, x }, { "b", "sf", 100, y }, { "c", "crime", 200, x },
                        { "d", "crime", 500, y }, { "e", "poem", 400, x } } do
      UdBook:create{ id = i, title = r[1], genre = r[2], pages = r[3], shelf = r[4] }
    end
    UdNote:create{ id = 1, text = "n1" }
    UdNote:create{ id = 2, text = "n2" }
  end)
  after_each(function() orm.testing.finish() end)

  describe("distinct(fields)", function()
    it("keeps the first row of each value in the queryset's order", function()
      assert.are.equal("b,c,e", titles(UdBook:distinct("genre"):order_by("pages")))
      assert.are.equal("d,e,a", titles(UdBook:distinct("genre"):order_by("-pages")))
      -- without an order: the first by primary key, in key order
      assert.are.equal("a,c,e", titles(UdBook:distinct("genre"):order_by("id")))
      assert.are.equal(3, #UdBook:distinct("genre"):list())
    end)

    it("takes several fields and paths through relations", function()
      assert.are.equal("a,b", titles(UdBook:distinct("shelf__name"):order_by("title")))
      assert.are.equal("a,b,c,d,e", titles(UdBook:distinct("genre", "shelf"):order_by("title")))
      assert.are.equal("c,e", titles(UdBook:distinct("genre", "shelf"):filter{ shelf__name = "x" }
        :exclude{ title = "a" }:order_by("title")))
    end)

    it("applies after the filter, and count / exists / values / sql agree", function()
      local qs = UdBook:filter{ pages__gte = 200 }:distinct("genre"):order_by("title")
      assert.are.equal("a,c,e", titles(qs))
      assert.are.equal(3, qs:count())
      assert.is_true(qs:exists())
      assert.are.same({ "a", "c", "e" }, qs:values_list("title", { flat = true }):list())
      assert.are.equal("c", qs:offset(1):first().title)
      assert.are.equal(2, UdBook:filter{ title__in = { "a", "b", "c" } }:distinct("genre"):count())
      local sql = qs:sql()
      assert.truthy(sql:find("ROW_NUMBER() OVER (PARTITION BY", 1, true))
    end)

    it("update and delete change the rows it keeps", function()
      assert.are.equal(3, UdBook:distinct("genre"):order_by("pages"):update{ pages = 1 })
      assert.are.equal("b,c,e", titles(UdBook:filter{ pages = 1 }:order_by("title")))
      assert.are.equal(2, UdBook:distinct("shelf"):order_by("title"):delete())
      assert.are.equal("c,d,e", titles(UdBook:all():order_by("title")))
    end)

    it("distinct() without fields after it is a plain SELECT DISTINCT", function()
      assert.are.same({ "crime", "poem", "sf" },
        UdBook:distinct("genre"):distinct():order_by("genre"):values_list("genre", { flat = true }):list())
      assert.are.equal(3, UdBook:all():values_list("genre", { flat = true }):distinct():count())
    end)

    it("refuses unknown fields (FieldError) and aggregates (ParamsError)", function()
      is(E.FieldError, catch(function() return UdBook:distinct("nope") end))
      is(E.ParamsError, catch(function()
        return UdBook:distinct("genre"):annotate{ n = fn.Count("id") }:list()
      end))
    end)
  end)

  describe("union", function()
    it("combines rows, dropping duplicates unless all = true", function()
      local u = UdBook:filter{ genre = "sf" }:union(UdBook:filter{ pages__gt = 250 })
      assert.are.equal("a,b,d,e", titles(u:order_by("title")))
      assert.are.equal(4, u:count())
      assert.are.equal(5, UdBook:filter{ genre = "sf" }:union(UdBook:filter{ pages__gt = 250 }, { all = true }):count())
      assert.are.equal(2, UdBook:filter{ genre = "sf" }:union(UdBook:filter{ genre = "sf" }):count())
      assert.is_true(u:exists())
      assert.is_false(UdBook:filter{ pages = 0 }:union(UdBook:filter{ pages = 1 }):exists())
    end)

    it("orders, slices and takes several querysets (or models)", function()
      local u = UdBook:filter{ genre = "sf" }:union(UdBook:filter{ genre = "poem" }, UdBook:filter{ title = "c" })
      assert.are.equal("e,a,c,b", titles(u:order_by("-pages")))
      assert.are.equal("a,c", titles(u:order_by("-pages"):limit(2):offset(1)))
      assert.are.equal(4, #u:list())
      assert.are.equal(5, UdBook:filter{ genre = "sf" }:union(UdBook):count())
      assert.are.equal("b", u:order_by("pages"):first().title)
    end)

    it("of values across models, decoded by the first queryset's names", function()
      local rows = UdBook:filter{ genre = "sf" }:values("title", "pages")
        :union(UdNote:all():values("text", "id")):order_by("title"):list()
      local got = {}
      for _, r in ipairs(rows) do got[#got + 1] = r.title .. "=" .. r.pages end
      assert.are.equal("a=300,b=100,n1=1,n2=2", table.concat(got, ","))
    end)

    it("drops the first queryset's order (Meta.ordering too): order_by comes after", function()
      local u = UdNote:values("text"):union(UdBook:values("title"))
      assert.are.equal(7, #u:list())
      local first = UdNote:all():union(UdNote:all()):order_by("-text"):first()
      assert.are.equal("n2", first.text)
    end)

    it("first() takes any row unordered; last() needs an order_by (also grouped rows)", function()
      local u = UdBook:filter{ genre = "sf" }:union(UdBook:filter{ genre = "poem" })
      local t = u:first().title
      assert.truthy(t == "a" or t == "b" or t == "e")
      is(E.ParamsError, catch(function() return u:last() end))
      assert.are.equal("e", u:order_by("title"):last().title)
      local g = UdBook:annotate{ n = fn.Count("id") }:group_by("genre"):values("genre", "n")
      assert.is_not_nil(g:first().n)
      is(E.ParamsError, catch(function() return g:last() end))
      assert.are.same({ genre = "sf", n = 2 }, g:order_by("genre"):last())
      -- an aggregate alone groups by every field: first() orders by pk
      assert.are.equal("a", UdBook:annotate{ n = fn.Count("shelf") }:first().title)
    end)

    it("values() after it gives every part of instances the same columns", function()
      local u = UdBook:filter{ genre = "sf" }:union(UdBook:filter{ genre = "poem" })
      assert.are.same({ { title = "e", pages = 400 }, { title = "a", pages = 300 }, { title = "b", pages = 100 } },
        u:values("title", "pages"):order_by("-pages"):list())
      assert.are.same({ "a", "b", "e" }, u:values_list("title", { flat = true }):order_by("title"):list())
      -- a part with columns of its own keeps them; their number must match
      local mixed = UdBook:filter{ genre = "sf" }:values("title"):union(UdNote:all():values("text"))
      assert.are.same({ "a", "b", "n1", "n2" }, mixed:values_list("title", { flat = true }):order_by("title"):list())
      is(E.ParamsError, catch(function() return mixed:values("title", "pages") end))
    end)

    it("keeps select_related", function()
      local u = UdBook:select_related("shelf"):filter{ title = "a" }
        :union(UdBook:select_related("shelf"):filter{ title = "d" })
      local list = u:order_by("title"):list()
      assert.are.equal("x", list[1].shelf.name)
      assert.are.equal("y", list[2].shelf.name)
    end)

    it("refuses what cannot apply to combined rows: ParamsError, FieldError", function()
      local u = UdBook:filter{ genre = "sf" }:union(UdBook:filter{ genre = "poem" })
      is(E.ParamsError, catch(function() return u:filter{ pages = 1 } end))
      is(E.ParamsError, catch(function() return u:annotate{ n = fn.Count("id") } end))
      is(E.ParamsError, catch(function() return u:update{ pages = 1 } end))
      is(E.ParamsError, catch(function() return u:delete() end))
      is(E.ParamsError, catch(function() return UdBook:all():union(UdNote:all()) end))
      is(E.ParamsError, catch(function() return UdBook:limit(1):union(UdBook:all()) end))
      is(E.ParamsError, catch(function() return UdBook:all():union(UdBook:all(), { everything = true }) end))
      is(E.FieldError, catch(function()
        return UdBook:values("title"):union(UdNote:values("text")):order_by("pages"):list()
      end))
      assert.are.equal(5, UdBook:all():count())
    end)
  end)
end)
