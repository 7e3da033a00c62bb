-- Bindings spec: orm.init forms, Model:extend (Meta, inheritance, order,
-- methods, redefinition), _meta / describe, instances and their methods.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local Stamped = Model:extend("BmStamped", {
  created_at = f.DatetimeField{ auto_now_add = true },
  updated_at = f.DatetimeField{ auto_now = true },
  Meta = { abstract = true },
  shout = function(self) return self.name:upper() end,
})

local Cat = Model:extend("BmCat", {
  id = f.IntField{ primary_key = true },
  name = f.CharField{ max_length = 30, unique = true },
  parent = f.ForeignKeyField{ "models.BmCat", null = true, related_name = "children" },
  Meta = { table = "bm_cats" },
})

local Item = Stamped:extend("BmItem", {
  zeta = f.CharField{ max_length = 10, default = "z" },
  name = f.CharField{ max_length = 20 },
  alpha = f.IntField{ default = function() return 41 + 1 end },
  price = f.DecimalField{ max_digits = 8, decimal_places = 2, default = 0 },
  stock = f.IntField{ default = 0, validators = { orm.validators.MinValueValidator(0) } },
  kind = f.CharEnumField{ enum_type = { "a", "b" }, default = "a" },
  cat = f.ForeignKeyField{ "models.BmCat", null = true, related_name = "items" },
  data = f.JSONField{ null = true },
  Meta = { table = "bm_items", unique_together = { { "name", "kind" } }, indexes = { { "stock" } } },
  label = function(self) return "#" .. self.name end,
  __tostring = function(self) return "Item " .. tostring(self.name) end,
})

describe("bindings: models", function()
  before_each(function() orm.testing.init{} end)
  after_each(function() orm.testing.finish() end)

  it("keeps the declaration order, the added id and inherited fields first", function()
    assert.are.same({ "id", "created_at", "updated_at", "zeta", "name", "alpha", "price",
      "stock", "kind", "cat_id", "data" }, Item._meta.fields)
  end)

  it("fills _meta", function()
    local m = Item._meta
    assert.are.equal("models", m.app)
    assert.are.equal("BmItem", m.name)
    assert.are.equal("bm_items", m.db_table)
    assert.is_false(m.abstract)
    assert.are.equal("id", m.pk_attr)
    assert.are.equal("CharField", m.fields_map.name.field_type)
    assert.are.equal(20, m.fields_map.name.max_length)
    assert.are.equal("models.BmCat", m.fields_map.cat.related_model)
    assert.are.equal("cat_id", m.fields_map.cat.source_field)
    assert.is_true(m.fields_map.id.pk)
    assert.is_true(m.fields_map.id.generated)
    assert.are.equal("z", m.fields_map.zeta.default)
    assert.are.equal("function", type(m.fields_map.alpha.default))
    assert.is_true(Stamped._meta.abstract)
    assert.are.same({ { "name", "kind" } }, m.unique_together)
    assert.are.same({ { "stock" } }, m.indexes)
  end)

  it("describes the model", function()
    local d = Item:describe()
    assert.are.equal("models.BmItem", d.name)
    assert.are.equal("bm_items", d.table)
    assert.are.equal("id", d.pk_field.name)
    assert.are.equal(1, #d.fk_fields)
    assert.are.equal("cat", d.fk_fields[1].name)
    local byname = {}
    for _, fd in ipairs(d.data_fields) do byname[fd.name] = fd end
    assert.are.equal(20, byname.name.constraints.max_length)
    assert.is_false(byname.name.nullable)
    assert.are.equal("name", d.data_fields[4].name)
  end)

  it("registers models in orm.apps", function()
    assert.are.equal(Item, orm.apps.models.BmItem)
    assert.are.equal(Cat, orm.apps.models.BmCat)
  end)

  it("makes unsaved instances with defaults", function()
    local it = Item{ name = "x" }
    assert.are.equal(Item, getmetatable(it))
    assert.are.equal(Item, orm._model_of(it))
    assert.is_nil(orm._model_of(Item))
    assert.is_nil(it.pk)
    assert.are.equal("z", it.zeta)
    assert.are.equal(42, it.alpha)
    assert.are.equal("0.00", tostring(it.price))
    assert.are.equal("Item x", tostring(it))
    it:save()
    assert.are.equal("<QuerySet [<BmItem: 1>]>", tostring(Item:all()))
    assert.are.equal("#x", it:label())
    assert.are.equal("X", it:shout())
  end)

  it("rejects unknown fields naming them", function()
    local err = catch(function() return Item{ nmae = "x" } end)
    assert.is_true(E.FieldError:is(err))
    assert.truthy(err.message:find("nmae", 1, true))
    assert.truthy(err.message:find("name", 1, true))
  end)

  it("saves: insert then update, with auto_now", function()
    local it = Item{ name = "x", price = "1.5" }
    it:save()
    assert.are.equal(1, it.pk)
    assert.is_not_nil(it.created_at)
    local first = it.updated_at
    it.stock = 3
    it:save()
    assert.are.equal(1, Item:count())
    local back = Item:get{ pk = 1 }
    assert.are.equal(3, back.stock)
    assert.are.equal("1.50", tostring(back.price))
    assert.is_true(back.updated_at >= first)
    assert.is_true(back.created_at == it.created_at)
  end)

  it("saves only update_fields", function()
    local it = Item:create{ name = "x" }
    it.stock = 5
    it.name = "y"
    it:save{ update_fields = { "stock" } }
    local back = Item:get{ pk = it.pk }
    assert.are.equal(5, back.stock)
    assert.are.equal("x", back.name)
  end)

  it("validates on save", function()
    local err = catch(function() return Item:create{ name = "x", stock = -1 } end)
    assert.is_true(E.ValidationError:is(err))
    assert.are.equal("ValidationError: stock: Value should be greater or equal to 0", tostring(err))
    err = catch(function() return Item:create{ name = string.rep("n", 21) } end)
    assert.is_true(E.ValidationError:is(err))
    assert.truthy(err.message:match("^name: "))
    err = catch(function() return Item:create{ name = "x", kind = "c" } end)
    assert.is_true(E.ValidationError:is(err))
    err = catch(function() return Item:create{ } end)
    assert.is_true(E.ValidationError:is(err))
    assert.are.equal(0, Item:count())
  end)

  it("compares instances by model and pk", function()
    local a = Item:create{ name = "a" }
    assert.is_true(a == Item:get{ pk = a.pk })
    assert.is_false(a == Item:create{ name = "b" })
    assert.is_false(Item{ name = "c" } == Item{ name = "c" })
  end)

  it("deletes, refreshes, updates from a dict, clones, converts to a table", function()
    local a = Item:create{ name = "a", stock = 1 }
    Item:filter{ pk = a.pk }:update{ stock = 9 }
    a:refresh_from_db()
    assert.are.equal(9, a.stock)
    a.stock = 1
    a:refresh_from_db{ fields = { "name" } }
    assert.are.equal(1, a.stock)
    assert.are.equal(a, a:update_from_dict{ stock = 4, name = "b" })
    assert.are.equal("b", a.name)
    local c = a:clone()
    assert.is_nil(c.pk)
    c.name = "c"
    c:save()
    assert.are.equal(2, Item:count())
    local t = a:to_table()
    assert.is_nil(getmetatable(t))
    assert.are.equal("b", t.name)
    a:delete()
    assert.are.equal(1, Item:count())
    local err = catch(function() return Item{ name = "z" }:delete() end)
    assert.is_true(E.OperationalError:is(err))
  end)

  it("stores relations as <name>_id and loads them", function()
    local root = Cat:create{ name = "root" }
    local kid = Cat:create{ name = "kid", parent = root }
    assert.are.equal(root.pk, kid.parent_id)
    local it = Item:create{ name = "a", cat = kid }
    assert.are.equal(kid.id, it.cat_id)
    local back = Item:get{ pk = it.pk }
    assert.are.equal(kid.id, back.cat_id)
    assert.is_true(back.cat == kid)
    assert.are.equal(1, Item:filter{ cat = kid }:count())
    assert.are.equal(1, Item:filter{ cat_id = kid.id }:count())
    assert.are.equal(1, Item:filter{ cat__id = kid.id }:count())
    Item:filter{ pk = it.pk }:update{ cat = root }
    assert.are.equal(root.id, Item:get{ pk = it.pk }.cat_id)
    back.cat = nil
    assert.is_nil(back.cat_id)
    local err = catch(function() return Item:create{ name = "b", cat = Cat{ name = "new" } } end)
    assert.is_true(E.OperationalError:is(err))
  end)

  it("stores JSON", function()
    local it = Item:create{ name = "j", data = { a = 1, list = { 1, 2, "x" }, none = orm.null } }
    local back = Item:get{ pk = it.pk }
    assert.are.equal(1, back.data.a)
    assert.are.same({ 1, 2, "x" }, back.data.list)
    assert.are.equal(orm.null, back.data.none)
    local err = catch(function() return Item:create{ name = "k", data = "{bad" } end)
    assert.is_true(E.FieldError:is(err))
  end)

  it("replaces a model redefined with the same name", function()
    local Tmp1 = Model:extend("BmTmp", { a = f.IntField{}, Meta = { table = "bm_tmp" } })
    local Tmp2 = Model:extend("BmTmp", { b = f.IntField{}, Meta = { table = "bm_tmp" } })
    assert.are.equal(Tmp2, orm.apps.models.BmTmp)
    assert.are_not.equal(Tmp1, Tmp2)
    orm.generate_schemas()
    Tmp2:create{ b = 1 }
    assert.are.equal(1, Tmp2:count())
  end)

  it("honours Meta.app", function()
    local X = Model:extend("BmX", { a = f.IntField{}, Meta = { app = "other", table = "bm_x" } })
    assert.are.equal(X, orm.apps.other.BmX)
    assert.are.equal("other", X._meta.app)
    orm.generate_schemas()
    X:create{ a = 1 }
    assert.are.equal(1, X:count())
  end)
end)

describe("bindings: init", function()
  after_each(function() orm.close_connections() end)

  it("accepts db_url alone and can be called again", function()
    orm.init{ db_url = "sqlite://:memory:" }
    orm.generate_schemas()
    Item:create{ name = "a" }
    assert.are.equal(1, Item:count())
    orm.init{ db_url = "sqlite://:memory:" }
    orm.generate_schemas{ safe = true }
    assert.are.equal(0, Item:count())
  end)

  it("accepts connections and apps, requiring the modules", function()
    package.preload["bm_shop"] = function()
      return { Thing = orm.Model:extend("BmThing", { n = orm.fields.IntField{}, Meta = { table = "bm_things" } }) }
    end
    orm.init{
      connections = { main = { engine = "tortoise.backends.sqlite", credentials = { file_path = ":memory:" } } },
      apps = { shop = { models = { "bm_shop" }, default_connection = "main" } },
    }
    local Thing = orm.apps.shop.BmThing
    assert.is_not_nil(Thing)
    assert.are.equal("shop", Thing._meta.app)
    orm.generate_schemas()
    Thing:create{ n = 3 }
    assert.are.equal(3, Thing:first().n)
    assert.are.equal(1, #orm.connection("main"):execute_query('SELECT * FROM "bm_things"'))
  end)

  it("accepts the modules form", function()
    package.preload["bm_mod"] = function()
      return orm.Model:extend("BmMod", { n = orm.fields.IntField{}, Meta = { table = "bm_mod" } })
    end
    orm.init{ db_url = "sqlite://:memory:", modules = { models = { "bm_mod" } } }
    orm.generate_schemas()
    assert.are.equal(0, orm.apps.models.BmMod:count())
  end)

  it("raises ConfigurationError for bad configurations", function()
    local err = catch(orm.init, { db_url = "nosuch://x" })
    assert.is_true(E.ConfigurationError:is(err))
    err = catch(orm.init, {})
    assert.is_true(E.ConfigurationError:is(err))
    err = catch(function() return Item:count() end)
    assert.is_true(E.ConfigurationError:is(err))
  end)

  it("gives the schema SQL", function()
    orm.init{ db_url = "sqlite://:memory:" }
    local sql = orm.utils.get_schema_sql{ model = Item }
    assert.truthy(sql:find('CREATE TABLE "bm_items"', 1, true))
    assert.falsy(sql:find('"bm_cats"', 1, true) and sql:find('CREATE TABLE "bm_cats"', 1, true))
    assert.truthy(orm.utils.get_schema_sql{ safe = true }:find("IF NOT EXISTS", 1, true))
  end)
end)
