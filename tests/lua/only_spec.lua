-- Spec (LUA_API.md "Querysets": only("id", "email"); "Errors":
-- IncompleteInstanceError).  As in Tortoise, only() makes partial
-- instances: the named fields (and, as in Django, always the primary key)
-- are loaded; reading another one raises; save() needs update_fields
-- naming loaded (or assigned) fields, else IncompleteInstanceError.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local OnCustomer = Model:extend("OnCustomer", {
  id    = fields.IntField{ primary_key = true },
  name  = fields.CharField{ max_length = 40 },
  Meta = { table = "on_customers" },
})

local OnUser = Model:extend("OnUser", {
  id       = fields.IntField{ primary_key = true },
  email    = fields.CharField{ max_length = 100, unique = true },
  username = fields.CharField{ max_length = 40 },
  bio      = fields.TextField{ null = true },
  age      = fields.IntField{ default = 0 },
  customer = fields.ForeignKeyField{ "models.OnCustomer", null = true, related_name = "users" },
  Meta = { table = "on_users" },
})

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("only()", function()
  local c1
  before_each(function()
    orm.testing.init{ models = { OnCustomer, OnUser } }
    c1 = OnCustomer:create{ name = "acme" }
    OnUser:create{ email = "a@x.org", username = "ann", bio = "hi", age = 30, customer = c1 }
    OnUser:create{ email = "b@x.org", username = "bob", age = 40 }
  end)
  after_each(function() orm.testing.finish() end)

  it("loads the named fields and the primary key", function()
    local u = OnUser:filter{ username = "ann" }:only("email"):first()
    assert.equal("a@x.org", u.email)
    assert.is_number(u.id)
    assert.equal(u.id, u.pk)
    assert.equal(OnUser, getmetatable(u))
    assert.same({ "id", "email" }, OnUser:all():only("email", "id"):_columns())
    assert.equal("instances", OnUser:all():only("email"):_projection())
  end)

  it("keeps the model's field order and the instance's identity", function()
    local qs = OnUser:all():only("username", "id", "email"):order_by("id")
    assert.same({ "id", "email", "username" }, qs:_columns())
    local list = qs:list()
    assert.equal(2, #list)
    assert.equal("bob", list[2].username)
    assert.is_true(list[1] == OnUser:get{ username = "ann" })
    assert.equal(("<OnUser: %d>"):format(list[1].id), tostring(list[1]))
  end)

  it("reading a field that was not fetched raises", function()
    local u = OnUser:all():only("id", "email"):order_by("id"):first()
    local err = catch(function() return u.bio end)
    assert.is_true(E.IncompleteInstanceError:is(err))
    assert.matches("bio", err.message)
    catch(function() return u.username end)
    catch(function() return u.customer_id end)
    catch(function() return u.customer end)
  end)

  it("a loaded NULL reads as nil", function()
    local u = OnUser:filter{ username = "bob" }:only("bio", "customer_id"):get()
    assert.is_nil(u.bio)
    assert.is_nil(u.customer_id)
    assert.is_nil(u.customer)
  end)

  it("a relation by name loads its column", function()
    local u = OnUser:filter{ username = "ann" }:only("customer"):first()
    assert.equal(c1.id, u.customer_id)
    assert.equal("acme", u.customer.name)
  end)

  it("iter() and get() give partial instances too", function()
    for u in OnUser:all():only("email"):iter() do
      assert.is_string(u.email)
      catch(function() return u.age end)
    end
    local u = OnUser:all():only("email"):get{ username = "bob" }
    catch(function() return u.age end)
  end)

  it("save() without update_fields raises IncompleteInstanceError", function()
    local u = OnUser:all():only("id", "email"):get{ username = "ann" }
    u.email = "new@x.org"
    local err = catch(function() u:save() end)
    assert.is_true(E.IncompleteInstanceError:is(err))
    assert.is_true(E.OperationalError:is(err)) -- its parent, as in Tortoise
    assert.equal("a@x.org", OnUser:get{ username = "ann" }.email)
  end)

  it("save{update_fields} of loaded fields works", function()
    local u = OnUser:all():only("id", "email"):get{ username = "ann" }
    u.email = "new@x.org"
    u:save{ update_fields = { "email" } }
    local r = OnUser:get{ username = "ann" }
    assert.equal("new@x.org", r.email)
    assert.equal("hi", r.bio)   -- untouched
    assert.equal(30, r.age)
  end)

  it("save{update_fields} of a field not loaded raises", function()
    local u = OnUser:all():only("id", "email"):get{ username = "ann" }
    local err = catch(function() u:save{ update_fields = { "bio" } } end)
    assert.is_true(E.IncompleteInstanceError:is(err))
    assert.matches("bio", err.message)
  end)

  it("a field assigned after loading can be saved and read", function()
    local u = OnUser:all():only("id"):get{ username = "bob" }
    u.bio = "assigned"
    assert.equal("assigned", u.bio)
    u.age = 41
    u:save{ update_fields = { "bio", "age" } }
    local r = OnUser:get{ username = "bob" }
    assert.equal("assigned", r.bio)
    assert.equal(41, r.age)
    assert.equal("b@x.org", r.email)
  end)

  it("refresh_from_db() completes the instance", function()
    local u = OnUser:all():only("id"):get{ username = "ann" }
    u:refresh_from_db{ fields = { "bio" } }
    assert.equal("hi", u.bio)
    catch(function() return u.age end)
    u:refresh_from_db()
    assert.equal(30, u.age)
    u.age = 31
    u:save()
    assert.equal(31, OnUser:get{ username = "ann" }.age)
  end)

  it("delete() works on a partial instance", function()
    local u = OnUser:all():only("id"):get{ username = "bob" }
    u:delete()
    assert.equal(1, OnUser:count())
  end)

  it("other chaining methods keep only()", function()
    local qs = OnUser:all():only("email"):filter{ age__gte = 35 }:order_by("-id")
    assert.same({ "id", "email" }, qs:_columns())
    assert.equal(1, qs:count())
    local u = qs:first()
    assert.equal("b@x.org", u.email)
    catch(function() return u.username end)
  end)

  it("values() after only() names its own columns", function()
    local rows = OnUser:all():only("email"):order_by("id"):values("username", "age"):list()
    assert.same({ { username = "ann", age = 30 }, { username = "bob", age = 40 } }, rows)
  end)

  it("unknown names raise FieldError", function()
    local err = catch(function() return OnUser:all():only("nope") end)
    assert.is_true(E.FieldError:is(err))
    err = catch(function() return OnUser:all():only("customer__name") end)
    assert.is_true(E.FieldError:is(err))
  end)

  it("only() with every field gives complete instances", function()
    local u = OnUser:all():only("id", "email", "username", "bio", "age", "customer_id")
      :get{ username = "ann" }
    u.age = 32
    u:save()
    assert.equal(32, OnUser:get{ username = "ann" }.age)
  end)
end)
