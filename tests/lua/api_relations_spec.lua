-- Acceptance spec (issue 4, LUA_API.md "Instances"/"Querysets" and the
-- reference document's "Relationships" and "Advanced Querying"): the shop
-- models declared inline -- foreign keys, reverse relations, self
-- references, many-to-many, related managers, loading (lazy, fetch_related,
-- select_related, prefetch_related), paths in every queryset method,
-- aggregates over relations, and a model whose table is the reserved word
-- `order`.  Written to pass on SQLite, PostgreSQL and MariaDB
-- (TESTUDO_TEST_DB_URL).
--
-- Statements are counted with orm.connection():query_count() (the
-- connection's statement counter).
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Q = orm.Q
local fn = orm.functions or {} -- (a missing table fails the tests that use it, not the file)
local Count, Sum, Avg, Min, Max = fn.Count, fn.Sum, fn.Avg, fn.Min, fn.Max

local function catch(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- Statements run on the default connection since the call.
local function counter()
  local conn = orm.connection()
  local base = conn:query_count()
  return function() return conn:query_count() - base end
end

-- Exact decimal comparison whatever the value's Lua type.
local function dec_eq(expected, v)
  assert.is_not_nil(v, "expected " .. expected .. ", got nil")
  assert.is_true(orm.Decimal(tostring(v)) == orm.Decimal(expected),
    "expected " .. expected .. ", got " .. tostring(v))
end

local function num(v) return tonumber(tostring(v)) end

local function sorted(t)
  table.sort(t)
  return t
end

local function attr(list, name)
  local out = {}
  for i, x in ipairs(list) do out[i] = x[name] end
  return out
end

-- Names of the instances a related manager / list holds (iterated with
-- ipairs, as after a prefetch), sorted.
local function names_of(rel)
  local out = {}
  for _, x in ipairs(rel) do out[#out + 1] = x.name end
  return sorted(out)
end

------------------------------------------------------------------------
-- The models of the reference document
------------------------------------------------------------------------

local TimestampMixin = Model:extend("TimestampMixin", {
  created_at = fields.DatetimeField{ auto_now_add = true },
  updated_at = fields.DatetimeField{ auto_now = true },
  Meta = { abstract = true },
})

local User = TimestampMixin:extend("User", {
  id            = fields.IntField{ primary_key = true },
  email         = fields.CharField{ max_length = 255, unique = true, index = true },
  username      = fields.CharField{ max_length = 100, unique = true },
  password_hash = fields.CharField{ max_length = 255 },
  role          = fields.CharEnumField{ enum_type = { "user", "admin", "editor", "archived" }, max_length = 20, default = "user" },
  is_active     = fields.BooleanField{ default = true },
  bio           = fields.TextField{ null = true },
  Meta = { table = "users", indexes = { { "email", "is_active" }, { "role" } } },
})

local Category = Model:extend("Category", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 100, unique = true },
  slug   = fields.CharField{ max_length = 100, unique = true },
  parent = fields.ForeignKeyField{ "models.Category", null = true, related_name = "children" },
  Meta = { table = "categories" },
})

local Product = TimestampMixin:extend("Product", {
  id           = fields.IntField{ primary_key = true },
  name         = fields.CharField{ max_length = 255, index = true },
  description  = fields.TextField{ default = "" },
  price        = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  stock        = fields.IntField{ default = 0 },
  is_available = fields.BooleanField{ default = true },
  category     = fields.ForeignKeyField{ "models.Category", related_name = "products" },
  tags         = fields.ManyToManyField{ "models.Tag", related_name = "products" },
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
  Meta = { table = "orders" },
})

local OrderLine = Model:extend("OrderLine", {
  id         = fields.IntField{ primary_key = true },
  order      = fields.ForeignKeyField{ "models.Order", related_name = "lines" },
  product    = fields.ForeignKeyField{ "models.Product", related_name = "order_lines" },
  quantity   = fields.IntField{},
  unit_price = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  Meta = { table = "order_lines" },
})

-- Reserved words as table and column names: table `order`, columns
-- `group`, `order_id` of table `select`.
local Purchase = Model:extend("Purchase", {
  id       = fields.IntField{ primary_key = true },
  group    = fields.CharField{ max_length = 20 },
  customer = fields.ForeignKeyField{ "models.User", related_name = "purchases" },
  labels   = fields.ManyToManyField{ "models.Tag", related_name = "purchases" },
  Meta = { table = "order" },
})

local PurchaseItem = Model:extend("PurchaseItem", {
  id    = fields.IntField{ primary_key = true },
  order = fields.ForeignKeyField{ "models.Purchase", related_name = "items" },
  desc  = fields.CharField{ max_length = 20 },
  Meta = { table = "select" },
})

local MODELS = { User, Category, Product, Tag, Order, OrderLine, Purchase, PurchaseItem }

------------------------------------------------------------------------
-- The data, by hand
------------------------------------------------------------------------
-- users:      ann (admin), bob, cid (no orders), dan (editor, inactive)
-- categories: Electronics > Computers > Laptops; Electronics > Phones; Books
-- products:   Keyboard  49.90 stock 10 Computers  tags hardware, sale
--             Mouse     19.50 stock  0 Computers  tags hardware
--             Phone X  699.00 stock  5 Phones     tags hardware, sale
--             Lua Book  35.00 stock  3 Books      tags lua, python, sale
--             Ultrabook 1299.99 stock 2 Laptops   tags hardware
-- orders:     ORD-1 ann paid       119.30  lines L1 Keyboard x2 @49.90, L2 Mouse x1 @19.50
--             ORD-2 ann pending    699.00        L3 Phone X x1 @699.00
--             ORD-3 bob paid        93.50        L4 Lua Book x1 @35.00, L5 Mouse x3 @19.50
--             ORD-4 dan cancelled 1299.99        L6 Ultrabook x1 @1299.99
local D

local function seed()
  local d = {}
  d.ann = User:create{ email = "ann@x.org", username = "ann", password_hash = "h", role = "admin" }
  d.bob = User:create{ email = "bob@x.org", username = "bob", password_hash = "h" }
  d.cid = User:create{ email = "cid@x.org", username = "cid", password_hash = "h" }
  d.dan = User:create{ email = "dan@x.org", username = "dan", password_hash = "h", role = "editor", is_active = false }

  d.elec = Category:create{ name = "Electronics", slug = "electronics" }
  d.comp = Category:create{ name = "Computers", slug = "computers", parent = d.elec }
  d.phones = Category:create{ name = "Phones", slug = "phones", parent_id = d.elec.id }
  d.books = Category:create{ name = "Books", slug = "books" }
  d.laptops = Category:create{ name = "Laptops", slug = "laptops", parent = d.comp }

  d.keyboard = Product:create{ name = "Keyboard", price = "49.90", stock = 10, category = d.comp }
  d.mouse = Product:create{ name = "Mouse", price = "19.50", stock = 0, category_id = d.comp.id }
  d.phone = Product:create{ name = "Phone X", price = "699.00", stock = 5, category = d.phones }
  d.book = Product:create{ name = "Lua Book", price = "35.00", stock = 3, category = d.books }
  d.ultra = Product:create{ name = "Ultrabook", price = "1299.99", stock = 2, category = d.laptops }

  d.python = Tag:create{ name = "python" }
  d.lua = Tag:create{ name = "lua" }
  d.hardware = Tag:create{ name = "hardware" }
  d.sale = Tag:create{ name = "sale" }
  d.keyboard.tags:add(d.hardware, d.sale)
  d.mouse.tags:add(d.hardware)
  d.phone.tags:add(d.hardware, d.sale)
  d.book.tags:add(d.lua, d.python, d.sale)
  d.ultra.tags:add(d.hardware)

  d.o1 = Order:create{ order_number = "ORD-1", customer = d.ann, status = "paid", total = "119.30" }
  d.o2 = Order:create{ order_number = "ORD-2", customer = d.ann, total = "699.00" }
  d.o3 = Order:create{ order_number = "ORD-3", customer_id = d.bob.id, status = "paid", total = "93.50" }
  d.o4 = Order:create{ order_number = "ORD-4", customer = d.dan, status = "cancelled", total = "1299.99" }

  d.l1 = OrderLine:create{ order = d.o1, product = d.keyboard, quantity = 2, unit_price = "49.90" }
  d.l2 = OrderLine:create{ order = d.o1, product = d.mouse, quantity = 1, unit_price = "19.50" }
  d.l3 = OrderLine:create{ order = d.o2, product = d.phone, quantity = 1, unit_price = "699.00" }
  d.l4 = OrderLine:create{ order_id = d.o3.id, product_id = d.book.id, quantity = 1, unit_price = "35.00" }
  d.l5 = OrderLine:create{ order = d.o3, product = d.mouse, quantity = 3, unit_price = "19.50" }
  d.l6 = OrderLine:create{ order = d.o4, product = d.ultra, quantity = 1, unit_price = "1299.99" }
  return d
end

local function fresh()
  orm.testing.init{ models = MODELS }
  D = seed()
end

------------------------------------------------------------------------

describe("relations (shop models)", function()
  -- read-only tests share one seeded database
  describe("reading", function()
    setup(fresh)
    teardown(function() orm.testing.finish() end)

    describe("foreign keys", function()
      it("the FK is stored as <name>_id; _meta.fields lists customer_id", function()
        assert.are.equal(D.ann.id, D.o1.customer_id)
        local o = Order:get{ order_number = "ORD-3" }
        assert.are.equal(D.bob.id, o.customer_id)
        local has_id, has_name = false, false
        for _, f in ipairs(Order._meta.fields) do
          if f == "customer_id" then has_id = true end
          if f == "customer" then has_name = true end
        end
        assert.is_true(has_id)
        assert.is_false(has_name)
        assert.are.equal(D.ann.id, Order:filter{ order_number = "ORD-1" }:values_list("customer_id", { flat = true }):first())
      end)

      it("filter by instance, by <name>_id, by <name>__id and by pk path", function()
        assert.are.equal(2, Order:filter{ customer = D.ann }:count())
        assert.are.equal(2, Order:filter{ customer_id = D.ann.id }:count())
        assert.are.equal(2, Order:filter{ customer__id = D.ann.id }:count())
        assert.are.equal(0, Order:filter{ customer = D.cid }:count())
        assert.are.same({ "ORD-3" }, Order:filter{ customer = D.bob }:values_list("order_number", { flat = true }):list())
      end)

      it("customer__in accepts instances and ids", function()
        assert.are.same({ "ORD-1", "ORD-2", "ORD-3" },
          Order:filter{ customer__in = { D.ann, D.bob } }:order_by("order_number"):values_list("order_number", { flat = true }):list())
        assert.are.same({ "ORD-1", "ORD-2", "ORD-4" },
          Order:filter{ customer__in = { D.ann.id, D.dan.id } }:order_by("order_number"):values_list("order_number", { flat = true }):list())
        assert.are.same({ "ORD-3", "ORD-4" },
          Order:filter{ customer__not_in = { D.ann } }:order_by("order_number"):values_list("order_number", { flat = true }):list())
      end)

      it("a null FK: isnull and orm.null filters", function()
        assert.are.same({ "Books", "Electronics" },
          Category:filter{ parent__isnull = true }:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "Books", "Electronics" },
          Category:filter{ parent = orm.null }:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "Computers", "Laptops", "Phones" },
          Category:filter{ parent_id__not_isnull = true }:order_by("name"):values_list("name", { flat = true }):list())
        assert.is_nil(Category:get{ name = "Books" }.parent_id)
      end)

      it("the related instance loads on first access, then comes from the cache", function()
        local o = Order:get{ order_number = "ORD-3" }
        local n = counter()
        local c = o.customer
        assert.are.equal(User, getmetatable(c))
        assert.are.equal("bob", c.username)
        assert.are.equal(1, n())
        assert.is_true(rawequal(c, o.customer))
        assert.are.equal("bob@x.org", o.customer.email)
        assert.are.equal(1, n())
      end)

      it("a NULL FK gives nil", function()
        local books = Category:get{ name = "Books" }
        assert.is_nil(books.parent)
      end)

      it("self-reference: parent and grandparent", function()
        local laptops = Category:get{ name = "Laptops" }
        assert.are.equal("Computers", laptops.parent.name)
        assert.are.equal("Electronics", laptops.parent.parent.name)
        assert.is_nil(laptops.parent.parent.parent)
      end)

      it("instances compare equal to the related instance", function()
        local o = Order:get{ order_number = "ORD-1" }
        assert.are.equal(D.ann, o.customer)
      end)
    end)

    describe("reverse relations and related managers", function()
      it("user.orders is a manager: count, filter, all, order_by, first, exists", function()
        local ann = User:get{ username = "ann" }
        assert.are.equal(2, ann.orders:count())
        local pending = ann.orders:filter{ status = "pending" }:all():list()
        assert.are.equal(1, #pending)
        assert.are.equal("ORD-2", pending[1].order_number)
        assert.are.equal(Order, getmetatable(pending[1]))
        assert.are.equal("ORD-2", ann.orders:all():order_by("-total"):first().order_number)
        assert.are.same({ "ORD-1", "ORD-2" }, ann.orders:order_by("order_number"):values_list("order_number", { flat = true }):list())
        assert.is_true(ann.orders:exists())
        assert.is_false(D.cid.orders:exists())
        assert.are.equal(0, D.cid.orders:count())
        assert.is_nil(D.cid.orders:first())
      end)

      it("every queryset method: exclude, get, limit, offset, values, annotate, sql", function()
        local ann = D.ann
        assert.are.same({ "ORD-2" }, ann.orders:exclude{ status = "paid" }:values_list("order_number", { flat = true }):list())
        assert.are.equal("ORD-1", ann.orders:get{ status = "paid" }.order_number)
        assert.is_nil(ann.orders:get_or_none{ status = "cancelled" })
        assert.are.same({ "ORD-2" }, ann.orders:order_by("order_number"):offset(1):limit(1):values_list("order_number", { flat = true }):list())
        assert.are.same({ { order_number = "ORD-1", status = "paid" } },
          ann.orders:filter{ status = "paid" }:values("order_number", "status"):list())
        local rows = ann.orders:annotate{ n = Count("lines") }:order_by("order_number"):values_list("order_number", "n"):list()
        assert.are.same({ { "ORD-1", 2 }, { "ORD-2", 1 } }, rows)
        local sql = ann.orders:filter{ status = "paid" }:sql()
        assert.are.equal("string", type(sql))
        assert.is_true(orm.exceptions.DoesNotExist:is(catch(function() return ann.orders:get{ status = "nope" } end)))
      end)

      it("category.children (self-reference, reverse side)", function()
        assert.are.same({ "Computers", "Phones" },
          D.elec.children:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "Laptops" }, D.comp.children:all():values_list("name", { flat = true }):list())
        assert.are.equal(0, D.books.children:count())
      end)

      it("category.products and product.order_lines", function()
        assert.are.same({ "Keyboard", "Mouse" },
          D.comp.products:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.equal(2, D.mouse.order_lines:count())
        assert.are.same({ 1, 3 }, sorted(D.mouse.order_lines:values_list("quantity", { flat = true }):list()))
      end)

      it("product.tags and the reverse tag.products", function()
        assert.are.same({ "lua", "python", "sale" },
          D.book.tags:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "Keyboard", "Mouse", "Phone X", "Ultrabook" },
          D.hardware.products:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.equal(3, D.sale.products:count())
        assert.are.equal(Product, getmetatable(D.sale.products:order_by("id"):first()))
        assert.are.same({ "Keyboard" },
          D.sale.products:filter{ price__lt = 100, category__name = "Computers" }:values_list("name", { flat = true }):list())
      end)
    end)

    describe("fetch_related", function()
      it("loads a forward FK", function()
        local o = Order:get{ order_number = "ORD-4" }
        o:fetch_related("customer")
        local n = counter()
        assert.are.equal("dan@x.org", o.customer.email)
        assert.are.equal(0, n())
      end)

      it("loads reverse relations over two levels", function()
        local ann = User:get{ username = "ann" }
        ann:fetch_related("orders__lines")
        local n = counter()
        local got = {}
        for _, o in ipairs(ann.orders) do
          local q = 0
          for _, l in ipairs(o.lines) do q = q + l.quantity end
          got[o.order_number] = q
        end
        assert.are.same({ ["ORD-1"] = 3, ["ORD-2"] = 1 }, got)
        assert.are.equal(2, #ann.orders)
        assert.are.equal(0, n())
      end)

      it("several paths at once, including m2m", function()
        local o = Order:get{ order_number = "ORD-3" }
        o:fetch_related("customer", "lines__product__tags")
        local n = counter()
        assert.are.equal("bob", o.customer.username)
        local tags = {}
        for _, l in ipairs(o.lines) do
          for _, t in ipairs(l.product.tags) do tags[#tags + 1] = l.product.name .. ":" .. t.name end
        end
        assert.are.same({ "Lua Book:lua", "Lua Book:python", "Lua Book:sale", "Mouse:hardware" }, sorted(tags))
        assert.are.equal(0, n())
      end)

      it("an unknown relation raises FieldError", function()
        local o = Order:get{ order_number = "ORD-3" }
        assert.is_true(orm.exceptions.FieldError:is(catch(function() o:fetch_related("nope") end)))
      end)
    end)

    describe("select_related", function()
      it("loads FK chains with JOINs in one statement", function()
        local n = counter()
        local lines = OrderLine:all():select_related("order__customer", "product__category"):order_by("id"):list()
        assert.are.equal(1, n())
        assert.are.equal(6, #lines)
        assert.are.equal("ann", lines[1].order.customer.username)
        assert.are.equal("ORD-1", lines[1].order.order_number)
        assert.are.equal("Computers", lines[1].product.category.name)
        assert.are.equal("bob", lines[5].order.customer.username)
        assert.are.equal("Laptops", lines[6].product.category.name)
        assert.are.equal("dan", lines[6].order.customer.username)
        dec_eq("1299.99", lines[6].product.price)
        assert.are.equal(1, n())
      end)

      it("a nullable FK is a LEFT JOIN: rows without a parent stay, with nil", function()
        local n = counter()
        local cats = Category:all():select_related("parent"):order_by("id"):list()
        assert.are.equal(5, #cats)
        assert.are.equal(1, n())
        local by = {}
        for _, c in ipairs(cats) do by[c.name] = c end
        assert.is_nil(by.Electronics.parent)
        assert.is_nil(by.Books.parent)
        assert.are.equal("Electronics", by.Computers.parent.name)
        assert.are.equal("Computers", by.Laptops.parent.name)
        assert.are.equal(1, n())
      end)

      it("self-reference over two levels", function()
        local n = counter()
        local l = Category:filter{ name = "Laptops" }:select_related("parent__parent"):first()
        assert.are.equal("Electronics", l.parent.parent.name)
        assert.are.equal(1, n())
      end)

      it("combines with filters across the same relation", function()
        local orders = Order:filter{ customer__username = "ann" }:select_related("customer"):order_by("order_number"):list()
        assert.are.same({ "ORD-1", "ORD-2" }, attr(orders, "order_number"))
        assert.are.equal("ann@x.org", orders[2].customer.email)
      end)

      it("a reverse or m2m path is a FieldError", function()
        assert.is_true(orm.exceptions.FieldError:is(catch(function() return User:all():select_related("orders"):list() end)))
        assert.is_true(orm.exceptions.FieldError:is(catch(function() return Product:all():select_related("tags"):list() end)))
      end)
    end)

    describe("prefetch_related", function()
      it("the reference example: one statement per level, none per row", function()
        local n = counter()
        local orders = Order:filter{ customer__id = D.ann.id }:order_by("order_number")
          :prefetch_related("lines__product", "customer"):list()
        -- orders, lines, products, customers
        assert.are.equal(4, n())
        local got = {}
        for _, o in ipairs(orders) do
          for _, line in ipairs(o.lines) do
            got[#got + 1] = ("%s %s x%d %s"):format(o.order_number, line.product.name, line.quantity, o.customer.email)
          end
        end
        assert.are.same({
          "ORD-1 Keyboard x2 ann@x.org", "ORD-1 Mouse x1 ann@x.org", "ORD-2 Phone X x1 ann@x.org",
        }, sorted(got))
        assert.are.equal(4, n())
      end)

      it("a parent without children gets an empty relation", function()
        local n = counter()
        local users = User:all():order_by("username"):prefetch_related("orders"):list()
        assert.are.equal(2, n())
        local counts = {}
        for _, u in ipairs(users) do counts[#counts + 1] = #u.orders end
        assert.are.same({ 2, 1, 0, 1 }, counts)
        assert.are.equal(2, n())
      end)

      it("orm.Prefetch with a filtered queryset", function()
        local n = counter()
        local orders = Order:all():order_by("order_number")
          :prefetch_related(orm.Prefetch("lines", OrderLine:filter{ quantity__gte = 2 })):list()
        assert.are.equal(2, n())
        local got = {}
        for _, o in ipairs(orders) do
          local q = {}
          for _, l in ipairs(o.lines) do q[#q + 1] = l.quantity end
          got[o.order_number] = sorted(q)
        end
        assert.are.same({ ["ORD-1"] = { 2 }, ["ORD-2"] = {}, ["ORD-3"] = { 3 }, ["ORD-4"] = {} }, got)
      end)

      it("many-to-many, both sides", function()
        local n = counter()
        local products = Product:all():order_by("id"):prefetch_related("tags"):list()
        assert.are.equal(2, n())
        assert.are.same({ "hardware", "sale" }, names_of(products[1].tags))
        assert.are.same({ "hardware" }, names_of(products[2].tags))
        assert.are.same({ "lua", "python", "sale" }, names_of(products[4].tags))
        assert.are.equal(2, n())
        n = counter()
        local tags = Tag:all():order_by("name"):prefetch_related("products"):list()
        assert.are.equal(2, n())
        assert.are.same({ "Keyboard", "Mouse", "Phone X", "Ultrabook" }, names_of(tags[1].products))
        assert.are.same({ "Lua Book" }, names_of(tags[2].products))
        assert.are.same({ "Keyboard", "Lua Book", "Phone X" }, names_of(tags[4].products))
        assert.are.equal(2, n())
      end)

      it("self-reference over two levels", function()
        local n = counter()
        local roots = Category:filter{ parent__isnull = true }:order_by("name"):prefetch_related("children__children"):list()
        assert.are.equal(3, n())
        assert.are.same({ "Books", "Electronics" }, attr(roots, "name"))
        assert.are.equal(0, #roots[1].children)
        assert.are.same({ "Computers", "Phones" }, names_of(roots[2].children))
        for _, c in ipairs(roots[2].children) do
          if c.name == "Computers" then
            assert.are.same({ "Laptops" }, names_of(c.children))
          else
            assert.are.same({}, names_of(c.children))
          end
        end
        assert.are.equal(3, n())
      end)

      it("a forward FK prefetched from deep paths", function()
        local n = counter()
        local lines = OrderLine:filter{ order__order_number = "ORD-3" }:prefetch_related("product__category__parent", "order__customer"):list()
        assert.are.equal(1 + 3 + 2, n())
        local got = {}
        for _, l in ipairs(lines) do
          got[#got + 1] = l.product.name .. "/" .. l.product.category.name .. "/" ..
            tostring(l.product.category.parent and l.product.category.parent.name) .. "/" .. l.order.customer.username
        end
        assert.are.same({ "Lua Book/Books/nil/bob", "Mouse/Computers/Electronics/bob" }, sorted(got))
        assert.are.equal(6, n())
      end)

      it("an unknown path raises FieldError", function()
        assert.is_true(orm.exceptions.FieldError:is(catch(function()
          return Order:all():prefetch_related("lienz"):list()
        end)))
      end)
    end)

    describe("paths in filter and exclude", function()
      it("forward paths, one and several levels", function()
        assert.are.same({ "ORD-3" }, Order:filter{ customer__email = "bob@x.org" }:values_list("order_number", { flat = true }):list())
        assert.are.equal(3, OrderLine:filter{ product__category__name = "Computers" }:count())
        assert.are.equal(3, OrderLine:filter{ order__customer__username = "ann" }:count())
        assert.are.equal(4, OrderLine:filter{ product__category__parent__name = "Electronics" }:count())
        assert.are.same({ 6 }, OrderLine:filter{ product__category__parent__parent__name = "Electronics" }:values_list("id", { flat = true }):list())
        assert.are.same({ "ORD-1", "ORD-3" },
          Order:filter{ customer__role__in = { "admin", "user" }, status = "paid" }:order_by("order_number"):values_list("order_number", { flat = true }):list())
      end)

      it("lookups on paths: icontains, gte, isnull", function()
        assert.are.equal(2, Product:filter{ category__name__icontains = "COMP" }:count())
        assert.are.equal(2, OrderLine:filter{ product__price__gte = 699 }:count())
        assert.are.same({ "Lua Book" }, Product:filter{ category__parent__isnull = true }:values_list("name", { flat = true }):list())
      end)

      it("reverse paths (to-many): duplicates until distinct()", function()
        assert.are.same({ "ann", "bob" },
          User:filter{ orders__status = "paid" }:order_by("username"):values_list("username", { flat = true }):list())
        local qs = User:filter{ orders__lines__quantity__gte = 1 }
        assert.are.equal(6, #qs:list())
        assert.are.equal(6, qs:count())
        local d = qs:distinct()
        assert.are.equal(3, #d:list())
        assert.are.equal(3, d:count())
        assert.are.same({ "ann", "bob", "dan" }, d:order_by("username"):values_list("username", { flat = true }):list())
      end)

      it("m2m paths and the reference's distinct()", function()
        assert.are.same({ "Lua Book" },
          Product:filter{ tags__name = "python" }:distinct():values_list("name", { flat = true }):list())
        assert.are.same({ "Keyboard", "Lua Book", "Phone X" },
          Product:filter{ tags__name = "sale" }:order_by("name"):values_list("name", { flat = true }):list())
        local qs = Product:filter{ tags__name__in = { "sale", "hardware" } }
        assert.are.equal(7, qs:count())
        assert.are.equal(7, #qs)
        assert.are.equal(5, qs:distinct():count())
        assert.are.equal(5, #qs:distinct():list())
        assert.are.same({ "hardware", "sale" },
          Tag:filter{ products__category__name = "Computers" }:distinct():order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "ann", "bob" },
          User:filter{ orders__lines__product__tags__name = "hardware", orders__status = "paid" }:distinct()
            :order_by("username"):values_list("username", { flat = true }):list())
      end)

      it("Q objects over paths", function()
        local names = User:filter{ Q{ orders__status = "cancelled" } | Q{ role = "admin" } }:distinct()
          :order_by("username"):values_list("username", { flat = true }):list()
        assert.are.same({ "ann", "dan" }, names)
        assert.are.same({ "ORD-2", "ORD-4" },
          Order:filter{ ~Q{ customer__username = "bob" }, ~Q{ status = "paid" } }:order_by("order_number"):values_list("order_number", { flat = true }):list())
      end)

      it("exclude on forward paths", function()
        assert.are.same({ "ORD-3", "ORD-4" },
          Order:exclude{ customer__username = "ann" }:order_by("order_number"):values_list("order_number", { flat = true }):list())
        assert.are.same({ 3, 4, 6 },
          OrderLine:exclude{ product__category__name = "Computers" }:order_by("id"):values_list("id", { flat = true }):list())
      end)

      it("exclude on a reverse path", function()
        -- Keyboard, Phone X and Lua Book each have exactly one order line
        assert.are.same({ "Lua Book", "Phone X" },
          Product:filter{ name__in = { "Keyboard", "Phone X", "Lua Book" } }:exclude{ order_lines__quantity__gte = 2 }
            :order_by("name"):values_list("name", { flat = true }):list())
      end)

      it("an unknown field in a path names it", function()
        local err = catch(function() return Order:filter{ customer__emial = "x" }:list() end)
        assert.is_true(orm.exceptions.FieldError:is(err))
        assert.truthy(err.message:find("emial", 1, true))
      end)
    end)

    describe("paths in order_by, values and values_list", function()
      it("order_by forward paths", function()
        assert.are.same({ "ORD-2", "ORD-1", "ORD-3", "ORD-4" },
          Order:all():order_by("customer__username", "-total"):values_list("order_number", { flat = true }):list())
        assert.are.same({ 6, 3, 1, 4, 2, 5 },
          OrderLine:all():order_by("-product__price", "id"):values_list("id", { flat = true }):list())
        assert.are.same({ "Laptops", "Computers", "Phones" },
          Category:filter{ parent__isnull = false }:order_by("parent__name", "name"):values_list("name", { flat = true }):list())
      end)

      it("values with forward paths and aliases", function()
        assert.are.same({ { order_number = "ORD-1", customer__username = "ann" }, { order_number = "ORD-3", customer__username = "bob" } },
          Order:filter{ status = "paid" }:order_by("order_number"):values("order_number", "customer__username"):list())
        assert.are.same({ { order_number = "ORD-4", who = "dan@x.org" } },
          Order:filter{ status = "cancelled" }:values{ "order_number", who = "customer__email" }:list())
      end)

      it("values_list with paths", function()
        assert.are.same({ { "Lua Book", 1 }, { "Mouse", 3 } },
          OrderLine:filter{ order__order_number = "ORD-3" }:order_by("id"):values_list("product__name", "quantity"):list())
      end)

      it("a NULL in the middle of a path keeps the row (LEFT JOIN)", function()
        local rows = OrderLine:all():order_by("id"):values("id", "product__category__parent__name"):list()
        assert.are.equal(6, #rows)
        local parents = {}
        for i, r in ipairs(rows) do parents[i] = r.product__category__parent__name or "-" end
        assert.are.same({ "Electronics", "Electronics", "Electronics", "-", "Electronics", "Computers" }, parents)
      end)

      it("values through reverse and m2m paths", function()
        assert.are.same({ { username = "bob", orders__order_number = "ORD-3" } },
          User:filter{ username = "bob" }:values("username", "orders__order_number"):list())
        assert.are.same({ { username = "cid" } },
          User:filter{ username = "cid" }:values("username", "orders__order_number"):list())
        assert.are.same({ { name = "lua", products__name = "Lua Book" } },
          Tag:filter{ name = "lua" }:values("name", "products__name"):list())
        assert.are.same({ "hardware", "sale" },
          Product:filter{ name = "Keyboard" }:order_by("tags__name"):values_list("tags__name", { flat = true }):list())
      end)
    end)

    describe("aggregates over relations", function()
      it("Count(\"orders\") counts zero for users without orders", function()
        assert.are.same({ { "ann", 2 }, { "bob", 1 }, { "cid", 0 }, { "dan", 1 } },
          User:annotate{ n = Count("orders") }:order_by("username"):values_list("username", "n"):list())
        local users = User:annotate{ n = Count("orders") }:order_by("id"):list()
        assert.are.equal(4, #users)
        assert.are.same({ 2, 1, 0, 1 }, attr(users, "n"))
        assert.are.equal(User, getmetatable(users[1]))
      end)

      it("the reference's annotate + filter + values (HAVING)", function()
        assert.are.same({ { id = D.ann.id, email = "ann@x.org", order_count = 2 } },
          User:annotate{ order_count = Count("orders") }:filter{ order_count__gte = 2 }
            :values("id", "email", "order_count"):list())
        assert.are.same({ "cid" },
          User:annotate{ n = Count("orders") }:filter{ n = 0 }:values_list("username", { flat = true }):list())
        assert.are.same({ "ann", "bob" },
          User:filter{ is_active = true }:annotate{ n = Count("orders") }:filter{ n__gt = 0 }
            :order_by("username"):values_list("username", { flat = true }):list())
        assert.are.equal(3, User:annotate{ n = Count("orders") }:filter{ n__gte = 1 }:count())
      end)

      it("order_by an aggregate", function()
        assert.are.same({ "hardware", "sale", "lua", "python" },
          Tag:annotate{ n = Count("products") }:order_by("-n", "name"):values_list("name", { flat = true }):list())
      end)

      it("Sum over one and two levels; NULL for no rows", function()
        assert.are.same({ { "ORD-1", 3 }, { "ORD-2", 1 }, { "ORD-3", 4 }, { "ORD-4", 1 } },
          Order:annotate{ qty = Sum("lines__quantity") }:order_by("order_number"):values_list("order_number", "qty"):list())
        local rows = User:annotate{ items = Sum("orders__lines__quantity") }:order_by("username"):values("username", "items"):list()
        assert.are.same({ { username = "ann", items = 4 }, { username = "bob", items = 4 }, { username = "cid" }, { username = "dan", items = 1 } }, rows)
        dec_eq("818.30", User:annotate{ spent = Sum("orders__total") }:filter{ username = "ann" }:values_list("spent", { flat = true }):first())
      end)

      it("Min, Max and Avg over paths", function()
        local c = Category:annotate{ lo = Min("products__price"), hi = Max("products__price") }:get{ name = "Computers" }
        dec_eq("19.50", c.lo)
        dec_eq("49.90", c.hi)
        local o = Order:annotate{ avgq = Avg("lines__quantity") }:get{ order_number = "ORD-3" }
        assert.is_true(math.abs(num(o.avgq) - 2) < 1e-9)
        local r = User:annotate{ top = Max("orders__lines__product__price") }:filter{ username = "bob" }:values("top"):first()
        dec_eq("35.00", r.top)
      end)

      it("Count distinct and two aggregates over one to-many join", function()
        assert.are.same({ { "ann", 3 }, { "bob", 2 }, { "cid", 0 }, { "dan", 1 } },
          User:annotate{ np = Count("orders__lines__product", { distinct = true }) }:order_by("username"):values_list("username", "np"):list())
        assert.are.same({ { "ann", 2, 3 }, { "bob", 1, 2 }, { "cid", 0, 0 }, { "dan", 1, 1 } },
          User:annotate{ n = Count("orders", { distinct = true }), l = Count("orders__lines") }
            :order_by("username"):values_list("username", "n", "l"):list())
      end)

      it("Count with _filter", function()
        assert.are.same({ { "ann", 1 }, { "bob", 1 }, { "cid", 0 }, { "dan", 0 } },
          User:annotate{ paid = Count("orders", { _filter = Q{ orders__status = "paid" } }) }
            :order_by("username"):values_list("username", "paid"):list())
      end)

      it("group_by a path with values", function()
        assert.are.same({ { customer__username = "ann", n = 2 }, { customer__username = "bob", n = 1 }, { customer__username = "dan", n = 1 } },
          Order:annotate{ n = Count("id") }:group_by("customer__username"):order_by("customer__username")
            :values("customer__username", "n"):list())
      end)

      it("annotate on an m2m path with a filter on the same path", function()
        assert.are.same({ { "Keyboard", 2 }, { "Lua Book", 3 }, { "Mouse", 1 }, { "Phone X", 2 }, { "Ultrabook", 1 } },
          Product:annotate{ nt = Count("tags") }:order_by("name"):values_list("name", "nt"):list())
      end)
    end)

    describe("through tables", function()
      it("the automatic through table is named as Tortoise names it", function()
        local tables = {}
        for _, t in ipairs(orm._tables()) do tables[t] = true end
        assert.is_true(tables.products_tags, "products_tags")
        assert.is_true(tables.order_tags, "order_tags")
        local rows = orm.connection():execute_query("SELECT products_id, tag_id FROM products_tags")
        assert.are.equal(9, #rows)
        local pairs_ = {}
        for _, r in ipairs(rows) do pairs_[#pairs_ + 1] = ("%d-%d"):format(r.products_id, r.tag_id) end
        local seen = {}
        for _, p in ipairs(pairs_) do seen[p] = true end
        assert.is_true(seen[("%d-%d"):format(D.book.id, D.python.id)])
        assert.is_true(seen[("%d-%d"):format(D.keyboard.id, D.sale.id)])
      end)

      it("the through table refuses a duplicate pair (unique index)", function()
        local err = catch(function()
          orm.connection():execute_script(("INSERT INTO products_tags (products_id, tag_id) VALUES (%d, %d)")
            :format(D.keyboard.id, D.hardware.id))
        end)
        assert.is_true(orm.exceptions.IntegrityError:is(err))
      end)
    end)
  end)

  ----------------------------------------------------------------------
  describe("writing", function()
    before_each(fresh)
    after_each(function() orm.testing.finish() end)

    it("create with customer = obj and customer_id = id; an unsaved instance with save()", function()
      local a = Order:create{ order_number = "N-1", customer = D.cid }
      local b = Order:create{ order_number = "N-2", customer_id = D.cid.id }
      local c = Order{ order_number = "N-3", customer = D.cid }
      c:save()
      for _, o in ipairs{ a, b, c } do
        local r = Order:get{ pk = o.pk }
        assert.are.equal(D.cid.id, r.customer_id)
        assert.are.equal("cid", r.customer.username)
      end
      assert.are.equal(3, D.cid.orders:count())
    end)

    it("update{customer = obj} and update{customer_id = id} on querysets", function()
      assert.are.equal(1, Order:filter{ order_number = "ORD-2" }:update{ customer = D.bob })
      assert.are.equal(2, D.bob.orders:count())
      assert.are.equal(1, Order:filter{ order_number = "ORD-4" }:update{ customer_id = D.cid.id })
      assert.are.equal(1, D.cid.orders:count())
      assert.are.equal(1, Order:filter{ customer = D.bob, order_number = "ORD-3" }:update{ customer = D.ann })
      assert.are.equal(2, D.ann.orders:count())
    end)

    it("assigning an instance to the FK sets <name>_id; save() stores it", function()
      local o = Order:get{ order_number = "ORD-2" }
      o.customer = D.cid
      assert.are.equal(D.cid.id, o.customer_id)
      assert.are.equal("cid", o.customer.username)
      o:save()
      assert.are.equal(D.cid.id, Order:get{ order_number = "ORD-2" }.customer_id)
      local o2 = Order:get{ order_number = "ORD-3" }
      o2.customer_id = D.dan.id
      o2:save()
      assert.are.equal("dan", Order:get{ order_number = "ORD-3" }.customer.username)
    end)

    it("a nullable FK set to nil stores NULL; set again to an instance", function()
      local comp = Category:get{ name = "Computers" }
      comp.parent = nil
      comp:save()
      assert.is_nil(Category:get{ name = "Computers" }.parent_id)
      comp.parent = D.books
      comp:save()
      assert.are.equal("Books", Category:get{ name = "Computers" }.parent.name)
      assert.are.equal(1, Category:filter{ name = "Laptops" }:update{ parent = orm.null })
      assert.is_nil(Category:get{ name = "Laptops" }.parent_id)
    end)

    it("a FK to a row that does not exist is an IntegrityError", function()
      assert.is_true(orm.exceptions.IntegrityError:is(catch(function()
        return Order:create{ order_number = "BAD", customer_id = 99999 }
      end)))
    end)

    it("update() on a queryset filtered across relations", function()
      assert.are.equal(2, Order:filter{ customer__username = "ann" }:update{ status = "shipped" })
      assert.are.same({ "ORD-1", "ORD-2" }, Order:filter{ status = "shipped" }:order_by("order_number"):values_list("order_number", { flat = true }):list())
      assert.are.equal(3, OrderLine:filter{ product__category__name = "Computers" }:update{ quantity = 9 })
      assert.are.same({ 9, 9, 1, 1, 9, 1 }, OrderLine:all():order_by("id"):values_list("quantity", { flat = true }):list())
      -- a to-many path: each product changes once, however many tags match
      assert.are.equal(3, Product:filter{ tags__name__in = { "lua", "sale" } }:update{ is_available = false })
      assert.are.same({ "Keyboard", "Lua Book", "Phone X" },
        Product:filter{ is_available = false }:order_by("name"):values_list("name", { flat = true }):list())
      -- quantity 9 now: L1, L2 (ann, one order) and L5 (bob): ann matches twice
      assert.are.equal(2, User:filter{ orders__lines__quantity = 9 }:update{ bio = "buyer" })
      assert.are.same({ "ann", "bob" }, User:filter{ bio = "buyer" }:order_by("username"):values_list("username", { flat = true }):list())
    end)

    it("update() with F over a filtered relation", function()
      assert.are.equal(2, OrderLine:filter{ order__customer__username = "bob" }:update{ quantity = orm.F"quantity" + 10 })
      assert.are.same({ 2, 1, 1, 11, 13, 1 }, OrderLine:all():order_by("id"):values_list("quantity", { flat = true }):list())
    end)

    it("delete() on a queryset filtered across relations", function()
      assert.are.equal(2, OrderLine:filter{ order__customer__username = "bob" }:delete())
      assert.are.equal(4, OrderLine:count())
      assert.are.equal(0, D.bob.orders:filter{ lines__id__not_isnull = true }:count())
      -- a to-many path: rows deleted once each; cascades to orders and lines
      assert.are.equal(1, User:filter{ orders__status = "cancelled" }:delete())
      assert.are.equal(3, User:count())
      assert.are.equal(3, Order:count())
      assert.are.equal(3, OrderLine:count())
      assert.are.equal(2, Product:filter{ tags__name__in = { "lua", "python" } }:exclude{ name = "Keyboard" }:count())
      assert.are.equal(1, Product:filter{ tags__name__in = { "lua", "python" } }:distinct():count())
    end)

    it("related managers update and delete only their own rows", function()
      assert.are.equal(2, D.ann.orders:update{ status = "archived" })
      assert.are.equal(2, Order:filter{ status = "archived" }:count())
      assert.are.equal("paid", Order:get{ order_number = "ORD-3" }.status)
      assert.are.equal(2, D.ann.orders:delete())
      assert.are.equal(2, Order:count())
      assert.are.equal(0, D.ann.orders:count())
    end)

    it("deleting a parent cascades (default on_delete) through FKs and m2m links", function()
      D.o1:delete()
      assert.are.equal(4, OrderLine:count())
      D.book:delete()
      assert.are.equal(3, OrderLine:count())
      assert.are.equal(0, D.lua.products:count())
      assert.are.equal(4, Tag:count())
      D.elec:delete() -- Electronics > Computers > Laptops, Phones: products cascade too
      assert.are.same({ "Books" }, Category:all():values_list("name", { flat = true }):list())
      assert.are.equal(0, Product:count())
      assert.are.equal(0, OrderLine:count())
    end)

    describe("many-to-many managers", function()
      it("add, remove, clear", function()
        local kb = Product:get{ name = "Keyboard" }
        kb.tags:add(D.python)
        assert.are.same({ "hardware", "python", "sale" }, kb.tags:order_by("name"):values_list("name", { flat = true }):list())
        kb.tags:remove(D.sale)
        assert.are.same({ "hardware", "python" }, kb.tags:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.equal(2, D.sale.products:count())
        kb.tags:remove(D.hardware, D.python)
        assert.are.equal(0, kb.tags:count())
        D.book.tags:clear()
        assert.are.equal(0, D.book.tags:count())
        assert.are.equal(0, D.lua.products:count())
        assert.are.equal(4, Tag:count())
        assert.are.equal(5, Product:count())
      end)

      it("adding the same pair twice does not duplicate it", function()
        D.keyboard.tags:add(D.hardware)
        D.keyboard.tags:add(D.hardware, D.sale)
        D.hardware.products:add(D.keyboard)
        assert.are.equal(2, D.keyboard.tags:count())
        local rows = orm.connection():execute_query(("SELECT tag_id FROM products_tags WHERE products_id = %d"):format(D.keyboard.id))
        assert.are.equal(2, #rows)
      end)

      it("the reverse side adds and removes too", function()
        D.python.products:add(D.keyboard, D.mouse)
        assert.are.same({ "hardware", "python", "sale" }, D.keyboard.tags:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.equal(3, D.python.products:count())
        D.python.products:remove(D.book)
        assert.are.same({ "lua", "sale" }, D.book.tags:order_by("name"):values_list("name", { flat = true }):list())
        D.hardware.products:clear()
        assert.are.same({ "python" }, D.mouse.tags:all():values_list("name", { flat = true }):list())
        assert.are.equal(0, D.ultra.tags:count())
        assert.are.same({ "sale" }, D.phone.tags:all():values_list("name", { flat = true }):list())
      end)

      it("manager queryset methods after changes", function()
        local kb = D.keyboard
        assert.are.equal(1, kb.tags:filter{ name__startswith = "h" }:count())
        assert.are.equal("sale", kb.tags:exclude{ name = "hardware" }:get{}.name)
        assert.is_true(kb.tags:filter{ name = "sale" }:exists())
        assert.are.same({ "sale" }, kb.tags:order_by("-name"):limit(1):values_list("name", { flat = true }):list())
        -- the tag rows themselves can be updated through the manager
        assert.are.equal(1, kb.tags:filter{ name = "sale" }:update{ name = "promo" })
        assert.are.same({ "hardware", "promo" }, kb.tags:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.equal(3, Tag:get{ name = "promo" }.products:count())
      end)

      it("adding an unsaved instance is an OperationalError", function()
        local t = Tag{ name = "new" }
        assert.is_true(orm.exceptions.OperationalError:is(catch(function() D.keyboard.tags:add(t) end)))
        local p = Product{ name = "Unsaved", price = "1.00", category = D.books }
        assert.is_true(orm.exceptions.OperationalError:is(catch(function() p.tags:add(D.lua) end)))
      end)
    end)

    describe("a table named `order`", function()
      it("CRUD, relations, paths, loading and aggregates", function()
        local tables = {}
        for _, t in ipairs(orm._tables()) do tables[t] = true end
        assert.is_true(tables.order)
        assert.is_true(tables["select"])
        local p1 = Purchase:create{ group = "a", customer = D.ann }
        local p2 = Purchase:create{ group = "b", customer_id = D.bob.id }
        PurchaseItem:create{ order = p1, desc = "x" }
        PurchaseItem:create{ order = p1, desc = "y" }
        PurchaseItem:create{ order_id = p2.id, desc = "z" }
        p1.labels:add(D.lua, D.sale)
        p1.labels:add(D.lua)
        assert.are.equal(2, Purchase:count())
        assert.are.equal("a", Purchase:get{ group = "a" }.group)
        assert.are.equal(1, Purchase:filter{ group = "b" }:update{ group = "c" })
        assert.are.same({ "a", "c" }, Purchase:all():order_by("group"):values_list("group", { flat = true }):list())
        assert.are.same({ "x", "y" }, PurchaseItem:filter{ order__group = "a" }:order_by("desc"):values_list("desc", { flat = true }):list())
        assert.are.same({ "ann" }, User:filter{ purchases__items__desc = "y" }:values_list("username", { flat = true }):list())
        assert.are.same({ { "a", 2 }, { "c", 1 } },
          Purchase:annotate{ n = Count("items") }:order_by("group"):values_list("group", "n"):list())
        assert.are.same({ "lua", "sale" }, p1.labels:order_by("name"):values_list("name", { flat = true }):list())
        assert.are.same({ "a" }, Purchase:filter{ labels__name = "lua" }:values_list("group", { flat = true }):list())
        assert.are.same({ "a" }, D.sale.purchases:all():values_list("group", { flat = true }):list())
        local n = counter()
        local items = PurchaseItem:all():select_related("order__customer"):order_by("desc"):list()
        assert.are.equal(1, n())
        assert.are.equal("bob", items[3].order.customer.username)
        n = counter()
        local ps = Purchase:all():order_by("group"):prefetch_related("items", "labels"):list()
        assert.are.equal(3, n())
        assert.are.equal(2, #ps[1].items)
        assert.are.equal(2, #ps[1].labels)
        assert.are.equal(0, #ps[2].labels)
        assert.are.equal(3, n())
        assert.are.equal(2, Purchase:get{ group = "a" }.items:count())
        assert.are.equal(1, PurchaseItem:filter{ order__customer__username = "bob" }:update{ desc = "w" })
        assert.are.equal(1, PurchaseItem:filter{ order__group = "c" }:delete())
        p1:delete()
        assert.are.equal(0, PurchaseItem:count())
        assert.are.equal(1, Purchase:count())
      end)
    end)
  end)

  ----------------------------------------------------------------------
  describe("prefetch cost does not grow with the rows", function()
    before_each(function() orm.testing.init{ models = MODELS } end)
    after_each(function() orm.testing.finish() end)

    -- Makes orders first..last for one user, each with one line; returns
    -- the statements a prefetch over all orders runs.
    local user, cat, prod, tag
    local function grow(first, last)
      if not user then
        user = User:create{ email = "n@x.org", username = "n", password_hash = "h" }
        cat = Category:create{ name = "C", slug = "c" }
        prod = Product:create{ name = "P", price = "1.00", category = cat }
        tag = Tag:create{ name = "t" }
      end
      local orders, lines, products = {}, {}, {}
      for i = first, last do
        orders[#orders + 1] = Order{ id = i, order_number = ("N-%04d"):format(i), customer = user }
        lines[#lines + 1] = OrderLine{ id = i, order_id = i, product = prod, quantity = i, unit_price = "1.00" }
        products[#products + 1] = Product{ id = 1000 + i, name = ("P%04d"):format(i), price = "2.00", category = cat }
      end
      Order:bulk_create(orders, { batch_size = 500 })
      OrderLine:bulk_create(lines, { batch_size = 500 })
      Product:bulk_create(products, { batch_size = 500 })
      tag.products:add(table.unpack(products))
    end

    local function cost(expect_orders, expect_products)
      local n = counter()
      local orders = Order:all():prefetch_related("lines__product", "customer"):list()
      local fk = n()
      assert.are.equal(expect_orders, #orders)
      local total = 0
      for _, o in ipairs(orders) do
        for _, l in ipairs(o.lines) do
          total = total + l.quantity
          assert.are.equal("P", l.product.name)
        end
        assert.are.equal("n", o.customer.username)
      end
      assert.are.equal(fk, n())
      n = counter()
      local products = Product:filter{ id__gt = 1000 }:prefetch_related("tags", "category"):list()
      local m2m = n()
      assert.are.equal(expect_products, #products)
      for _, p in ipairs(products) do
        assert.are.equal(1, #p.tags)
        assert.are.equal("C", p.category.name)
      end
      assert.are.equal(m2m, n())
      return fk, m2m, total
    end

    it("N = 2 and N = 1000 issue the same number of statements", function()
      user = nil
      grow(1, 2)
      local fk2, m2m2, total2 = cost(2, 2)
      assert.are.equal(3, total2)
      grow(3, 1000)
      local fk1000, m2m1000, total1000 = cost(1000, 1000)
      assert.are.equal(1000 * 1001 // 2, total1000)
      assert.are.equal(4, fk2)      -- orders, lines, products, customers
      assert.are.equal(fk2, fk1000)
      assert.are.equal(3, m2m2)     -- products, tags, categories
      assert.are.equal(m2m2, m2m1000)
    end)
  end)
end)
