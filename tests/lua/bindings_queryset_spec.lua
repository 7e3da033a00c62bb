-- Bindings spec: QuerySet userdata (laziness, caching, evaluation forms,
-- projections, terminal methods), model-level methods, raw SQL,
-- transactions (the echo of statements: tests/shell/echo.sh).
local orm = require "testudo"
local f, Model, Q, F, D = orm.fields, orm.Model, orm.Q, orm.F, orm.Decimal
local E = orm.exceptions

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local P = Model:extend("BqPerson", {
  name = f.CharField{ max_length = 20, unique = true },
  age = f.IntField{},
  city = f.CharField{ max_length = 20, null = true },
  score = f.DecimalField{ max_digits = 6, decimal_places = 1, default = 0 },
  Meta = { table = "bq_people" },
})

-- raw SQL written for SQLite, run in the dialect of the connection
local sql = require "tests.lua.support.sql"

local function names(list)
  local t = {}
  for i, p in ipairs(list) do t[i] = p.name end
  return t
end

describe("bindings: querysets", function()
  before_each(function()
    orm.testing.init{}
    P:bulk_create({
      P{ name = "ann", age = 31, city = "Paris" }, P{ name = "bob", age = 25, city = "Berlin" },
      P{ name = "cid", age = 31, city = "Paris" }, P{ name = "dan", age = 40 },
    })
  end)
  after_each(function() orm.testing.finish() end)

  it("is a userdata with a model", function()
    local qs = P:all()
    assert.are.equal("userdata", type(qs))
    assert.are.equal("testudo.QuerySet", getmetatable(qs).__name)
    assert.are.equal(P, qs.model)
  end)

  it("is lazy and evaluated once", function()
    local qs = P:filter{ city = "Paris" }:order_by("name")
    P:create{ name = "eve", age = 1, city = "Paris" }
    assert.are.equal(3, #qs)
    P:create{ name = "fay", age = 1, city = "Paris" }
    assert.are.equal(3, #qs)
    assert.are.equal(3, qs:count())
    assert.are.same({ "ann", "cid", "eve" }, names(qs:list()))
    assert.are.equal("ann", qs[1].name)
    assert.are.equal("eve", qs[-1].name)
    local seen = {}
    for i, p in ipairs(qs) do seen[i] = p.name end
    assert.are.same({ "ann", "cid", "eve" }, seen)
    assert.are.equal(4, qs:all():count())
  end)

  it("is immutable", function()
    local base = P:all()
    local a = base:filter{ age = 31 }
    assert.are.equal(4, base:count())
    assert.are.equal(2, a:count())
    assert.are_not.equal(base, a)
  end)

  it("streams with iter() and closes on break", function()
    local got = {}
    for p in P:order_by("-age"):iter() do got[#got + 1] = p.name end
    assert.are.same({ "dan", "ann", "cid", "bob" }, got)
    for p in P:all():iter() do break end
    assert.are.equal(4, P:count())
  end)

  it("prints like Django", function()
    assert.are.equal("<QuerySet [<BqPerson: 1>, <BqPerson: 2>]>", tostring(P:order_by("id"):limit(2)))
    assert.are.equal("<QuerySet [{id = 2, name = 'bob'}]>", tostring(P:filter{ name = "bob" }:values("id", "name")))
    assert.are.equal("<QuerySet []>", tostring(P:filter{ age = 99 }))
  end)

  it("projects values and values_list", function()
    assert.are.same({ { name = "bob", age = 25 } }, P:filter{ name = "bob" }:values("name", "age"):list())
    assert.are.same({ { n = "bob", age = 25 } }, P:filter{ name = "bob" }:values{ "age", n = "name" }:list())
    assert.are.same({ { "bob", 25 } }, P:filter{ name = "bob" }:values_list("name", "age"):list())
    assert.are.same({ 25, 31, 31, 40 }, P:order_by("age"):values_list("age", { flat = true }):list())
    local qs = P:all():values{ "age", n = "name" }
    assert.are.same({ "age", "n" }, qs:_columns())
    assert.are.equal("values", qs:_projection())
    assert.are.equal("flat", P:all():values_list("age", { flat = true }):_projection())
    assert.are.equal("instances", P:all():_projection())
    assert.are.same(P._meta.fields, P:all():_columns())
  end)

  it("says whether it is filtered", function()
    assert.is_false(P:all():_filtered())
    assert.is_false(P:order_by("age"):_filtered())
    assert.is_true(P:filter{ age = 1 }:_filtered())
    assert.is_true(P:all():limit(1):_filtered())
  end)

  it("first, last, latest, earliest", function()
    assert.are.equal("ann", P:first().name)
    assert.are.equal("dan", P:last().name)
    assert.are.equal("bob", P:order_by("age", "name"):first().name)
    assert.are.equal("dan", P:order_by("age", "name"):last().name)
    assert.are.equal("dan", P:latest("age").name)
    assert.are.equal("bob", P:earliest("age").name)
    assert.is_nil(P:filter{ age = 99 }:first())
  end)

  it("get, get_or_none, exists, count", function()
    assert.are.equal("bob", P:get{ name = "bob" }.name)
    assert.are.equal("bob", P:filter{ age = 25 }:get().name)
    assert.is_nil(P:get_or_none{ name = "zed" })
    local err = catch(function() return P:get{ name = "zed" } end)
    assert.is_true(P.DoesNotExist:is(err))
    assert.is_true(E.DoesNotExist:is(err))
    err = catch(function() return P:get{ age = 31 } end)
    assert.is_true(P.MultipleObjectsReturned:is(err))
    assert.is_true(E.MultipleObjectsReturned:is(err))
    err = catch(function() return P:get_or_none{ age = 31 } end)
    assert.is_true(E.MultipleObjectsReturned:is(err))
    assert.is_true(P:exists{ name = "ann" })
    assert.is_false(P:filter{ name = "zed" }:exists())
    assert.are.equal(2, P:filter{ age = 31 }:count())
  end)

  it("filters with Q, F and lookups", function()
    assert.are.same({ "ann", "bob" }, names(P:filter{ Q{ name = "ann" } | Q{ name = "bob" } }:order_by("name")))
    assert.are.same({ "bob" }, names(P:filter{ ~Q{ city = "Paris" } }:order_by("name")))
    assert.are.same({ "dan" }, names(P:filter{ city = orm.null }))
    assert.are.same({ "dan" }, names(P:filter{ city__isnull = true }))
    assert.are.same({ "ann", "cid", "dan" }, names(P:filter{ age__gt = F"score" + 30 }:order_by("name")))
    assert.are.same({ "bob", "dan" }, names(P:exclude{ age = 31 }:order_by("name")))
    assert.are.same({ "ann", "bob" }, names(P:filter{ name__in = { "ann", "bob", "zed" } }:order_by("name")))
    assert.are.same({ "ann", "cid" }, names(P:filter{ Q{ age = 31 }, city = "Paris" }:order_by("name")))
  end)

  it("limit and offset reject bad values", function()
    local err = catch(function() return P:all():limit(-1) end)
    assert.is_true(E.ParamsError:is(err))
    err = catch(function() return P:all():offset(-1) end)
    assert.is_true(E.ParamsError:is(err))
    assert.are.same({ "bob", "cid" }, names(P:order_by("name"):offset(1):limit(2)))
  end)

  it("update and delete return the rows touched", function()
    assert.are.equal(2, P:filter{ age = 31 }:update{ age = F"age" + 1, score = D"2.5" })
    assert.are.equal(2, P:filter{ age = 32 }:count())
    assert.are.equal("2.5", tostring(P:get{ name = "ann" }.score))
    assert.are.equal(1, P:filter{ name = "bob" }:delete())
    assert.are.equal(3, P:count())
    local err = catch(function() return P:all():update{ nosuch = 1 } end)
    assert.is_true(E.FieldError:is(err))
    assert.truthy(err.message:find("nosuch", 1, true))
  end)

  it("gives its SQL and parameters without running", function()
    local sql, params = P:filter{ age__gte = 30 }:sql()
    assert.are.equal("string", type(sql))
    assert.truthy(sql:find("SELECT", 1, true))
    assert.truthy(sql:find(require("tests.lua.support.sql").quote("bq_people"), 1, true))
    assert.are.same({ 30 }, params)
  end)

  it("in_bulk maps keys to instances", function()
    local m = P:in_bulk({ 1, 2 })
    assert.are.equal("ann", m[1].name)
    assert.are.equal("bob", m[2].name)
    assert.is_nil(m[3])
    local byname = P:all():in_bulk({ "cid" }, "name")
    assert.are.equal(3, byname.cid.id)
  end)

  it("bulk_create fills primary keys", function()
    local objs = P:bulk_create({ P{ name = "x1", age = 1 }, P{ name = "x2", age = 2 }, P{ name = "x3", age = 3 } },
      { batch_size = 2 })
    assert.are.same({ 5, 6, 7 }, { objs[1].pk, objs[2].pk, objs[3].pk })
    objs[1].age = 10
    objs[1]:save()
    assert.are.equal(10, P:get{ name = "x1" }.age)
    assert.are.equal(7, P:count())
    P:bulk_create({ P{ name = "x1", age = 1 } }, { ignore_conflicts = true })
    assert.are.equal(7, P:count())
  end)

  it("get_or_create and update_or_create", function()
    local o, created = P:get_or_create{ name = "ann", defaults = { age = 1 } }
    assert.is_false(created)
    assert.are.equal(31, o.age)
    o, created = P:get_or_create{ name = "new", defaults = { age = 7 } }
    assert.is_true(created)
    assert.are.equal(7, P:get{ name = "new" }.age)
    o, created = P:update_or_create{ name = "new", defaults = { age = 8 } }
    assert.is_false(created)
    assert.are.equal(8, P:get{ name = "new" }.age)
  end)

  it("raw SQL: Model:raw and connection:execute_query / execute_script", function()
    local objs = P:raw(sql.portable('SELECT * FROM "bq_people" WHERE age > ? ORDER BY id'), { 30 })
    assert.are.same({ "ann", "cid", "dan" }, names(objs))
    assert.are.equal(P, getmetatable(objs[1]))
    local conn = orm.connection("default")
    local rows, n = conn:execute_query(sql.portable('SELECT name FROM "bq_people" WHERE age = ?'), { 31 })
    assert.are.equal(2, n)
    assert.are.equal("ann", rows[1].name)
    rows, n = conn:execute_query(sql.portable('UPDATE "bq_people" SET age = age + 1 WHERE age = ?'), { 31 })
    assert.are.equal(2, n)
    conn:execute_script('CREATE TABLE bq_x (a INT); INSERT INTO bq_x VALUES (1)')
    assert.are.equal(1, conn:execute_query("SELECT a FROM bq_x")[1].a)
  end)

  it("transactions commit and roll back", function()
    local ok = pcall(orm.in_transaction, function()
      P:create{ name = "t1", age = 1 }
      error("boom")
    end)
    assert.is_false(ok)
    assert.is_nil(P:get_or_none{ name = "t1" })
    assert.are.equal(5, orm.in_transaction(function(conn)
      P:create{ name = "t2", age = 1 }
      return 5
    end))
    assert.is_not_nil(P:get_or_none{ name = "t2" })
    do
      local tx <close> = orm.transaction()
      P:create{ name = "t3", age = 1 }
    end
    assert.is_nil(P:get_or_none{ name = "t3" })
    do
      local tx <close> = orm.transaction()
      P:create{ name = "t4", age = 1 }
      tx:commit()
    end
    assert.is_not_nil(P:get_or_none{ name = "t4" })
    -- a queryset built outside runs inside
    local qs = P:filter{ name = "t5" }
    orm.in_transaction(function()
      P:create{ name = "t5", age = 1 }
      assert.are.equal(1, qs:count())
    end)
  end)

  it("maps database errors to IntegrityError with the SQL", function()
    local err = catch(function() return P:create{ name = "ann", age = 1 } end)
    assert.is_true(E.IntegrityError:is(err))
    assert.are.equal("IntegrityError: " .. ({
      sqlite = "UNIQUE constraint failed: bq_people.name",
      postgres = 'duplicate key value violates unique constraint "uniq_bq_people_name_cf1e81"',
      mysql = "Duplicate entry 'ann' for key 'uniq_bq_people_name_cf1e81'",
    })[sql.dialect()], tostring(err))
    assert.truthy(err.sql:find("INSERT", 1, true))
  end)
end)
