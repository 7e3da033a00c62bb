-- Relations in the Lua bindings (issue 4): FK attributes and their
-- cache, instances as primary keys, related managers (querysets with
-- add/remove/clear), fetch_related, select_related decoding,
-- prefetch_related and orm.Prefetch (statement counts), orm.functions and
-- annotations, _meta and describe() of relations, to_table.  The shop
-- models of the reference document plus a table named `order`.  Runs on
-- SQLite, PostgreSQL and MariaDB (TESTUDO_TEST_DB_URL).
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Q, F = orm.Q, orm.F
local fn = orm.functions

local function catch(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- Statements run on the default connection since the call.
local function counter()
  local conn = orm.connection("default")
  local base = conn:query_count()
  return function() return conn:query_count() - base end
end

local function flat(qs, name)
  return qs:values_list(name, { flat = true }):list()
end

local TimestampMixin = Model:extend("TimestampMixin", {
  created_at = fields.DatetimeField{ auto_now_add = true },
  updated_at = fields.DatetimeField{ auto_now = true },
  Meta = { abstract = true },
})

local User = TimestampMixin:extend("User", {
  id            = fields.IntField{ primary_key = true },
  email         = fields.CharField{ max_length = 255, unique = true },
  username      = fields.CharField{ max_length = 100, unique = true },
  password_hash = fields.CharField{ max_length = 255, default = "h" },
  is_active     = fields.BooleanField{ default = true },
  Meta = { table = "users" },
})

local Category = Model:extend("Category", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 100, unique = true },
  slug   = fields.CharField{ max_length = 100, unique = true },
  parent = fields.ForeignKeyField{ "models.Category", null = true, related_name = "children" },
  Meta = { table = "categories" },
})

local Product = TimestampMixin:extend("Product", {
  id       = fields.IntField{ primary_key = true },
  name     = fields.CharField{ max_length = 255 },
  price    = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  category = fields.ForeignKeyField{ "models.Category", related_name = "products" },
  tags     = fields.ManyToManyField{ "models.Tag", related_name = "products" },
  Meta = { table = "products" },
})

local Tag = Model:extend("Tag", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 50, unique = true },
  Meta = { table = "tags" },
})

local Order = TimestampMixin:extend("Order", {
  id           = fields.IntField{ primary_key = true },
  order_number = fields.CharField{ max_length = 50, unique = true },
  customer     = fields.ForeignKeyField{ "models.User", related_name = "orders" },
  status       = fields.CharField{ max_length = 20, default = "pending" },
  total        = fields.DecimalField{ max_digits = 10, decimal_places = 2, default = 0 },
  Meta = { table = "order" },   -- a reserved word
})

local OrderLine = Model:extend("OrderLine", {
  id         = fields.IntField{ primary_key = true },
  order      = fields.ForeignKeyField{ "models.Order", related_name = "lines" },
  product    = fields.ForeignKeyField{ "models.Product", related_name = "order_lines" },
  quantity   = fields.IntField{},
  unit_price = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  Meta = { table = "order_lines" },
})

local MODELS = { User, Category, Product, Tag, Order, OrderLine }

-- ann: ORD-1 (2 lines), ORD-2 (1 line); bob: ORD-3 (1 line); cid: none
local D
local function seed()
  local d = {}
  d.ann = User:create{ email = "ann@x.org", username = "ann" }
  d.bob = User:create{ email = "bob@x.org", username = "bob" }
  d.cid = User:create{ email = "cid@x.org", username = "cid" }
  d.root = Category:create{ name = "Root", slug = "root" }
  d.kids = Category:create{ name = "Kids", slug = "kids", parent = d.root }
  d.toys = Category:create{ name = "Toys", slug = "toys", parent_id = d.kids.id }
  d.ball = Product:create{ name = "Ball", price = "3.50", category = d.toys }
  d.kite = Product:create{ name = "Kite", price = "12.00", category = d.toys }
  d.red = Tag:create{ name = "red" }
  d.big = Tag:create{ name = "big" }
  d.ball.tags:add(d.red, d.big)
  d.kite.tags:add(d.red)
  d.o1 = Order:create{ order_number = "ORD-1", customer = d.ann, total = "19.00" }
  d.o2 = Order:create{ order_number = "ORD-2", customer_id = d.ann.id, total = "3.50" }
  d.o3 = Order:create{ order_number = "ORD-3", customer = d.bob, total = "12.00" }
  d.l1 = OrderLine:create{ order = d.o1, product = d.ball, quantity = 2, unit_price = "3.50" }
  d.l2 = OrderLine:create{ order = d.o1, product = d.kite, quantity = 1, unit_price = "12.00" }
  d.l3 = OrderLine:create{ order = d.o2, product = d.ball, quantity = 1, unit_price = "3.50" }
  d.l4 = OrderLine:create{ order = d.o3, product = d.kite, quantity = 1, unit_price = "12.00" }
  return d
end

describe("relations in the bindings", function()
  before_each(function()
    orm.testing.init{ models = MODELS }
    D = seed()
  end)
  after_each(function() orm.testing.finish() end)

  describe("foreign key attributes", function()
    it("loads the related instance on first access and caches it", function()
      local o = Order:get{ order_number = "ORD-1" }
      assert.are.equal(D.ann.id, o.customer_id)
      local n = counter()
      local c = o.customer
      assert.are.equal(1, n())
      assert.are.equal("ann", c.username)
      assert.are.equal(User, getmetatable(c))
      assert.are.equal(c, D.ann)
      assert.is_true(rawequal(c, o.customer))
      assert.are.equal(1, n())
    end)

    it("assigning an instance sets <name>_id and the cache; an id drops it", function()
      local o = Order:get{ order_number = "ORD-3" }
      o.customer = D.ann
      assert.are.equal(D.ann.id, o.customer_id)
      local n = counter()
      assert.is_true(rawequal(D.ann, o.customer))
      assert.are.equal(0, n())
      o:save()
      assert.are.equal(D.ann.id, Order:get{ order_number = "ORD-3" }.customer_id)
      o.customer_id = D.bob.id
      assert.are.equal("bob", o.customer.username)
      local cat = Category:get{ name = "Root" }
      cat.parent = D.toys
      assert.are.equal(D.toys.id, cat.parent_id)
      cat.parent = nil
      assert.is_nil(cat.parent_id)
      assert.is_nil(cat.parent)
      cat.parent = orm.null
      assert.is_nil(cat.parent_id)
    end)

    it("an unsaved instance cannot be assigned", function()
      local u = User{ email = "new@x.org", username = "new" }
      assert.is_true(orm.exceptions.OperationalError:is(catch(function()
        D.o1.customer = u
      end)))
    end)

    it("instances are primary keys in create, filter, exclude, get and update", function()
      assert.are.equal(2, Order:filter{ customer = D.ann }:count())
      assert.are.equal(1, Order:exclude{ customer = D.ann }:count())
      assert.are.equal(3, Order:filter{ customer__in = { D.ann, D.bob } }:count())
      assert.are.equal(2, Order:filter{ customer_id__in = { D.ann } }:count())
      assert.are.equal(1, Order:filter{ customer__not_in = { D.ann, D.cid } }:count())
      assert.are.equal(1, Order:filter{ Q{ customer = D.bob } }:count())
      assert.are.equal("ORD-3", Order:get{ customer = D.bob }.order_number)
      assert.are.same({ "ORD-1", "ORD-2" },
        flat(Order:filter{ customer = D.ann }:order_by("order_number"), "order_number"))
      assert.are.equal(1, Order:filter{ order_number = "ORD-3" }:update{ customer = D.cid })
      assert.are.equal(D.cid.id, Order:get{ order_number = "ORD-3" }.customer_id)
      assert.are.equal(2, OrderLine:filter{ product = D.kite }:count())
      assert.are.same({ [D.ball.id] = true, [D.kite.id] = true },
        (function()
          local t = {}
          for k in pairs(Product:in_bulk({ D.ball, D.kite })) do t[k] = true end
          return t
        end)())
    end)

    it("relation attributes print as primary keys, not queries", function()
      local t = D.l1:to_table()
      assert.are.equal(D.o1.id, t.order_id)
      assert.are.equal(D.ball.id, t.product_id)
      assert.is_nil(t.order)
      assert.is_nil(t.lines)
      assert.are.equal("<OrderLine: " .. D.l1.id .. ">", tostring(D.l1))
      assert.are.same({ "id", "order_id", "product_id", "quantity", "unit_price" },
        OrderLine._meta.fields)
    end)
  end)

  describe("related managers", function()
    it("a reverse FK manager is a queryset of the related rows", function()
      local m = D.ann.orders
      assert.are.equal("testudo.QuerySet", getmetatable(m).__name)
      assert.are.equal(Order, m.model)
      assert.are.equal(2, #m)
      assert.are.equal(2, m:count())
      local seen = {}
      for i, o in ipairs(m) do seen[i] = o.order_number end
      table.sort(seen)
      assert.are.same({ "ORD-1", "ORD-2" }, seen)
      local k = 0
      for o in D.ann.orders:iter() do k = k + 1 assert.are.equal(D.ann.id, o.customer_id) end
      assert.are.equal(2, k)
      assert.are.equal(2, #D.ann.orders:list())
      assert.are.equal(0, #D.cid.orders)
      assert.is_false(D.cid.orders:exists())
      assert.are.same({ "ORD-2" }, flat(D.ann.orders:filter{ total__lt = 10 }, "order_number"))
      assert.are.equal("ORD-1", D.ann.orders:order_by("order_number"):first().order_number)
      assert.are.equal("ORD-2", D.ann.orders:order_by("order_number")[2].order_number)
      assert.matches("^<QuerySet %[<Order: %d+>, <Order: %d+>%]>$",
        tostring(D.ann.orders:order_by("id")))
    end)

    it("self-reference: category.children, and parent back", function()
      assert.are.same({ "Kids" }, flat(D.root.children:all(), "name"))
      assert.are.same({ "Toys" }, flat(D.kids.children:all(), "name"))
      assert.are.equal(0, D.toys.children:count())
      assert.are.equal("Root", D.toys.parent.parent.name)
      assert.are.same({ "Ball", "Kite" }, flat(D.toys.products:order_by("name"), "name"))
    end)

    it("managers update and delete their own rows only", function()
      assert.are.equal(2, D.ann.orders:update{ status = "paid" })
      assert.are.equal(1, Order:filter{ status = "pending" }:count())
      assert.are.equal(2, D.o1.lines:delete())
      assert.are.equal(2, OrderLine:count())
    end)

    it("create() and add() on a reverse FK manager", function()
      local o = D.cid.orders:create{ order_number = "ORD-9" }
      assert.are.equal(D.cid.id, o.customer_id)
      assert.are.equal(1, D.cid.orders:count())
      D.cid.orders:add(D.o3)
      assert.are.equal(2, D.cid.orders:count())
      assert.are.equal(D.cid.id, Order:get{ order_number = "ORD-3" }.customer_id)
    end)

    it("m2m: add, remove, clear on both sides; a pair is never duplicated", function()
      assert.are.same({ "big", "red" }, flat(D.ball.tags:order_by("name"), "name"))
      assert.are.same({ "Ball", "Kite" }, flat(D.red.products:order_by("name"), "name"))
      D.kite.tags:add(D.red, D.big)
      D.kite.tags:add(D.big)
      D.kite.tags:add({ D.red })
      assert.are.equal(2, D.kite.tags:count())
      D.big.products:remove(D.ball)
      assert.are.same({ "red" }, flat(D.ball.tags:all(), "name"))
      D.red.products:clear()
      assert.are.equal(0, D.ball.tags:count())
      assert.are.same({ "big" }, flat(D.kite.tags:all(), "name"))
      assert.are.equal(2, Tag:count())
      local green = D.kite.tags:create{ name = "green" }
      assert.are.same({ "big", "green" }, flat(D.kite.tags:order_by("name"), "name"))
      assert.are.equal(1, green.products:count())
    end)

    it("m2m: wrong objects are refused", function()
      assert.is_true(orm.exceptions.ParamsError:is(catch(function() D.ball.tags:add(D.ann) end)))
      assert.is_true(orm.exceptions.OperationalError:is(catch(function()
        D.ball.tags:add(Tag{ name = "unsaved" })
      end)))
      assert.is_true(orm.exceptions.OperationalError:is(catch(function()
        D.ann.orders:remove(D.o1)
      end)))
      assert.is_true(orm.exceptions.OperationalError:is(catch(function()
        local _ = User{ email = "u@x.org", username = "u" }.orders
      end)))
    end)
  end)

  describe("loading", function()
    it("fetch_related: one statement per level, then no statement", function()
      local u = User:get{ username = "ann" }
      local n = counter()
      assert.are.equal(u, u:fetch_related("orders__lines__product", "orders__customer"))
      assert.are.equal(4, n())
      local qty = 0
      for _, o in ipairs(u.orders) do
        assert.are.equal("ann", o.customer.username)
        for _, l in ipairs(o.lines) do qty = qty + l.quantity; assert.is_string(l.product.name) end
      end
      assert.are.equal(4, qty)
      assert.are.equal(2, #u.orders)
      assert.are.equal(2, u.orders:count())
      assert.are.equal(4, n())
      -- chaining on a prefetched manager queries again
      assert.are.equal(1, u.orders:filter{ order_number = "ORD-2" }:count())
      assert.are.equal(5, n())
      assert.is_true(orm.exceptions.FieldError:is(catch(function() u:fetch_related("nope") end)))
    end)

    it("prefetch_related: the reference example", function()
      local n = counter()
      local orders = Order:filter{ customer__id = D.ann.id }:order_by("order_number")
        :prefetch_related("lines__product", "customer"):list()
      assert.are.equal(4, n())
      local out = {}
      for _, o in ipairs(orders) do
        for _, line in ipairs(o.lines) do
          out[#out + 1] = ("%s %s x%d"):format(o.customer.username, line.product.name, line.quantity)
        end
      end
      table.sort(out)
      assert.are.same({ "ann Ball x1", "ann Ball x2", "ann Kite x1" }, out)
      assert.are.equal(4, n())
    end)

    it("prefetch_related works with first(), get() and iter()", function()
      local n = counter()
      local o = Order:all():prefetch_related("lines"):order_by("order_number"):first()
      assert.are.equal(2, n())
      assert.are.equal(2, #o.lines)
      o = Order:all():prefetch_related("customer"):get{ order_number = "ORD-3" }
      assert.are.equal(4, n())
      assert.are.equal("bob", o.customer.username)
      local k = 0
      for x in Order:all():prefetch_related("lines"):iter() do k = k + #x.lines end
      assert.are.equal(6, n())
      assert.are.equal(4, k)
    end)

    it("many-to-many and self-reference prefetch", function()
      local n = counter()
      local ps = Product:all():order_by("name"):prefetch_related("tags", "category__parent"):list()
      assert.are.equal(4, n())
      local names = {}
      for _, t in ipairs(ps[1].tags) do names[#names + 1] = t.name end
      table.sort(names)
      assert.are.same({ "big", "red" }, names)
      assert.are.equal(1, #ps[2].tags)
      assert.are.equal("Kids", ps[1].category.parent.name)
      local tags = Tag:all():order_by("name"):prefetch_related("products"):list()
      assert.are.equal(1, #tags[1].products)
      assert.are.equal(2, #tags[2].products)
      assert.are.equal(6, n())
      local roots = Category:filter{ parent = orm.null }:prefetch_related("children__children"):list()
      assert.are.equal("Toys", roots[1].children[1].children[1].name)
    end)

    it("orm.Prefetch with a queryset and to_attr", function()
      local n = counter()
      local o = Order:filter{ order_number = "ORD-1" }
        :prefetch_related(orm.Prefetch("lines", OrderLine:filter{ quantity__gt = 1 })):first()
      assert.are.equal(2, n())
      assert.are.equal(1, #o.lines)
      assert.are.equal(2, o.lines[1].quantity)
      o = Order:filter{ order_number = "ORD-1" }
        :prefetch_related(orm.Prefetch("lines", OrderLine:filter{ quantity = 1 }, { to_attr = "single" }))
        :first()
      assert.are.equal(1, #o.single)
      assert.are.equal(12, o.single[1].unit_price:tonumber())
      assert.are.equal(2, #o.lines) -- the relation itself is untouched
      assert.is_true(orm.exceptions.FieldError:is(catch(function()
        Order:all():prefetch_related("lines__nope"):list()
      end)))
    end)

    it("select_related: nested instances from one statement", function()
      local n = counter()
      local lines = OrderLine:all():select_related("order__customer", "product__category")
        :order_by("id"):list()
      assert.are.equal(1, n())
      assert.are.equal(4, #lines)
      assert.are.equal("ann", lines[1].order.customer.username)
      assert.are.equal(Order, getmetatable(lines[1].order))
      assert.are.equal("Toys", lines[4].product.category.name)
      assert.are.equal("bob", lines[4].order.customer.username)
      assert.are.equal(1, n())
      local t = lines[1]:to_table()
      assert.is_nil(t["order__order_number"])
      local cats = Category:all():select_related("parent"):order_by("id"):list()
      assert.is_nil(cats[1].parent)
      assert.are.equal("Root", cats[2].parent.name)
      assert.are.equal(2, n())
    end)
  end)

  describe("annotations", function()
    it("orm.functions build expressions", function()
      for _, name in ipairs{ "Count", "Sum", "Avg", "Min", "Max", "Lower", "Upper",
                              "Length", "Trim", "Coalesce", "Concat" } do
        assert.is_function(fn[name], name)
      end
      assert.is_function(orm.RawSQL)
    end)

    it("Count over a reverse relation, HAVING, order_by and values", function()
      local rows = User:annotate{ n = fn.Count("orders") }:order_by("-n", "username")
        :values("username", "n"):list()
      assert.are.same({ { username = "ann", n = 2 }, { username = "bob", n = 1 },
                        { username = "cid", n = 0 } }, rows)
      local u = User:annotate{ n = fn.Count("orders") }:get{ username = "ann" }
      assert.are.equal(2, u.n)
      assert.is_nil(u:to_table().n)
      assert.are.same({ "ann" },
        flat(User:annotate{ n = fn.Count("orders") }:filter{ n__gte = 2 }, "username"))
      assert.are.same({ "cid" },
        flat(User:annotate{ n = fn.Count("orders", { distinct = true,
          _filter = Q{ orders__status = "pending" } }) }:filter{ n = 0 }:order_by("username"), "username"))
    end)

    it("Sum, Min, Max over paths; scalar functions; RawSQL", function()
      local u = User:annotate{ s = fn.Sum("orders__lines__quantity"), m = fn.Max("orders__total") }
        :get{ username = "ann" }
      assert.are.equal(4, u.s)
      assert.are.equal(19, tonumber(tostring(u.m)))
      assert.are.same({ "ANN@X.ORG" },
        flat(User:annotate{ e = fn.Upper("email") }:filter{ username = "ann" }, "e"))
      assert.are.same({ 9 },
        flat(User:annotate{ l = fn.Length("email") }:filter{ username = "bob" }, "l"))
      assert.are.same({ 3 }, flat(User:annotate{ r = orm.RawSQL("1 + 2") }:filter{ username = "bob" }, "r"))
      assert.are.same({ { category_id = D.toys.id, n = 2 } },
        Product:annotate{ n = fn.Count("id") }:group_by("category_id"):values("category_id", "n"):list())
    end)
  end)

  describe("_meta and describe()", function()
    it("fields_map has the relations and the reverse sides", function()
      local fm = Order._meta.fields_map
      assert.are.equal("ForeignKeyField", fm.customer.field_type)
      assert.are.equal("models.User", fm.customer.related_model)
      assert.are.equal("orders", fm.customer.related_name)
      assert.are.equal("CASCADE", fm.customer.on_delete)
      assert.are.equal("BackwardFKRelation", User._meta.fields_map.orders.field_type)
      assert.are.equal("models.Order", User._meta.fields_map.orders.related_model)
      assert.are.equal("ManyToManyField", Product._meta.fields_map.tags.field_type)
      assert.are.equal("ManyToManyField", Tag._meta.fields_map.products.field_type)
      assert.are.same({ "tags" }, Product._meta.m2m_fields)
    end)

    it("describe() lists fk, backward fk and m2m fields", function()
      local d = Order:describe()
      assert.are.equal("order", d.table)
      assert.are.equal("customer", d.fk_fields[1].name)
      assert.are.equal("customer_id", d.fk_fields[1].raw_field)
      local raw
      for _, f in ipairs(d.data_fields) do if f.name == "customer_id" then raw = f end end
      assert.are.equal("IntField", raw.field_type)
      local names = {}
      for _, f in ipairs(d.backward_fk_fields) do names[#names + 1] = f.name end
      assert.are.same({ "lines" }, names)
      assert.are.equal("BackwardFKRelation", d.backward_fk_fields[1].field_type)
      local t = Tag:describe()
      assert.are.equal("products", t.m2m_fields[1].name)
      assert.are.same({}, t.fk_fields)
      assert.are.same({}, Product:describe().backward_o2o_fields)
    end)
  end)
end)

describe("prefetch cost", function()
  before_each(function() orm.testing.init{ models = MODELS } end)
  after_each(function() orm.testing.finish() end)

  -- n orders of one user, each with one line; a tag on every product
  local function make(n)
    local u = User:create{ email = "n@x.org", username = "n" }
    local c = Category:create{ name = "C", slug = "c" }
    local t = Tag:create{ name = "t" }
    local orders, lines, products = {}, {}, {}
    for i = 1, n do
      products[i] = Product{ id = i, name = "P" .. i, price = "1.00", category = c }
      orders[i] = Order{ id = i, order_number = "N" .. i, customer = u }
      lines[i] = OrderLine{ id = i, order_id = i, product_id = i, quantity = 1, unit_price = "1.00" }
    end
    Product:bulk_create(products, { batch_size = 250 })
    Order:bulk_create(orders, { batch_size = 250 })
    OrderLine:bulk_create(lines, { batch_size = 250 })
    t.products:add(products)
  end

  local function statements()
    local n = counter()
    local orders = Order:all():prefetch_related("lines__product__tags", "customer"):list()
    local count = n()
    for _, o in ipairs(orders) do
      assert.are.equal(1, #o.lines)
      assert.are.equal("t", o.lines[1].product.tags[1].name)
      assert.are.equal("n", o.customer.username)
    end
    assert.are.equal(count, n())
    return count, #orders
  end

  it("is the same for N = 2 and N = 1000", function()
    make(2)
    local c2, n2 = statements()
    orm.testing.init{ models = MODELS }
    make(1000)
    local c1000, n1000 = statements()
    assert.are.equal(2, n2)
    assert.are.equal(1000, n1000)
    assert.are.equal(5, c2) -- orders, lines, products, tags, customers
    assert.are.equal(c2, c1000)
  end)
end)

describe("one relation graph", function()
  after_each(function() orm.testing.finish() end)

  it("gives filters and instances the same relations, from the core", function()
    orm.init{ db_url = "sqlite://:memory:" }
    local A = Model:extend("OgA", { name = fields.CharField{ max_length = 10 },
      Meta = { table = "og_a" } })
    Model:extend("OgB", {
      a = fields.ForeignKeyField{ "models.OgA", related_name = "bs" },
      c = fields.ForeignKeyField{ "models.OgC" },
      Meta = { table = "og_b" },
    })
    -- OgB's reference to OgC is not bound yet: no graph, for filters and
    -- instances alike (before: instances had a reverse side filters lacked)
    local err = catch(function() return A:filter{ bs__id = 1 }:sql() end)
    assert.is_true(orm.exceptions.FieldError:is(err), tostring(err))
    assert.is_nil(A._meta.fields_map.bs)
    Model:extend("OgC", { n = fields.IntField{}, Meta = { table = "og_c" } })
    assert.is_truthy(A:filter{ bs__id = 1 }:sql():find('"og_b"', 1, true))
    assert.are.equal("BackwardFKRelation", A._meta.fields_map.bs.field_type)
    orm.generate_schemas()
    local a = A:create{ name = "x" }
    assert.are.equal(0, a.bs:count())
  end)
end)
