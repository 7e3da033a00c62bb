-- Acceptance spec (LUA_API.md "Errors"): every error class of the walking
-- skeleton, raised where Tortoise raises it, testable with
-- orm.exceptions.X:is(err), printing as "Class: message".
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local AerUser = Model:extend("AerUser", {
  id       = fields.IntField{ primary_key = true },
  email    = fields.CharField{ max_length = 40, unique = true },
  username = fields.CharField{ max_length = 20 },
  role     = fields.CharEnumField{ enum_type = { "user", "admin" }, max_length = 10, default = "user" },
  Meta = { table = "aer_users" },
})

local AerOther = Model:extend("AerOther", {
  name = fields.CharField{ max_length = 10 },
  Meta = { table = "aer_others" },
})

local CLASSES = {
  "BaseORMException", "ConfigurationError", "FieldError", "ParamsError",
  "OperationalError", "IntegrityError", "TransactionManagementError",
  "DoesNotExist", "MultipleObjectsReturned", "ValidationError",
  "IncompleteInstanceError", "NoValuesFetched",
}

-- Checks the common shape of an error object of class `name`.
local function check(err, name)
  assert.are.equal("table", type(err))
  local class = E[name]
  assert.is_true(class:is(err), "expected " .. name .. ", got " .. tostring(err))
  assert.is_true(E.BaseORMException:is(err))
  assert.are.equal("string", type(err.message))
  -- the class, or a model's own subclass of it (User.DoesNotExist)
  assert.are.equal(name, err.class.name)
  assert.are.equal(err.class.name .. ": " .. err.message, tostring(err))
  return err
end

describe("errors", function()
  before_each(function()
    orm.testing.init{ models = { AerUser, AerOther } }
    AerUser:create{ email = "a@x.org", username = "ann" }
    AerUser:create{ email = "b@x.org", username = "bob" }
    AerUser:create{ email = "c@x.org", username = "bob" }
  end)
  after_each(function() orm.testing.finish() end)

  it("every class exists, has its name and :is", function()
    for _, name in ipairs(CLASSES) do
      local class = E[name]
      assert.is_not_nil(class, name)
      assert.are.equal(name, class.name)
      assert.are.equal("function", type(class.is))
    end
  end)

  it(":is is false for other classes and for non-errors", function()
    local err = catch(function() return AerUser:get{ id = 999 } end)
    assert.is_false(E.IntegrityError:is(err))
    assert.is_false(E.FieldError:is(err))
    assert.is_false(E.DoesNotExist:is("DoesNotExist: x"))
    assert.is_false(E.DoesNotExist:is(nil))
    assert.is_false(E.DoesNotExist:is({}))
  end)

  describe("DoesNotExist", function()
    it("from get()", function()
      local err = check(catch(function() return AerUser:get{ username = "zed" } end), "DoesNotExist")
      assert.are.equal(AerUser.DoesNotExist, err.class)
    end)

    it("is also the model's own DoesNotExist, not another model's", function()
      local err = catch(function() return AerUser:get{ id = 999 } end)
      assert.is_not_nil(AerUser.DoesNotExist)
      assert.is_true(AerUser.DoesNotExist:is(err))
      assert.is_true(E.DoesNotExist:is(err))
      assert.is_false(AerOther.DoesNotExist:is(err))
      assert.truthy(tostring(err):match("^DoesNotExist: "))
    end)

    it("from a queryset's get()", function()
      check(catch(function() return AerUser:filter{ username = "ann" }:get{ email = "b@x.org" } end), "DoesNotExist")
    end)

    it("is not raised by get_or_none() or first()", function()
      assert.is_nil(AerUser:get_or_none{ id = 999 })
      assert.is_nil(AerUser:filter{ id = 999 }:first())
    end)
  end)

  it("MultipleObjectsReturned from get()", function()
    check(catch(function() return AerUser:get{ username = "bob" } end), "MultipleObjectsReturned")
    check(catch(function() return AerUser:all():get{} end), "MultipleObjectsReturned")
  end)

  describe("IntegrityError", function()
    it("on a unique violation, with the database's message and the SQL", function()
      local err = check(catch(function() return AerUser:create{ email = "a@x.org", username = "again" } end),
        "IntegrityError")
      -- the database's own words
      local message = ({
        sqlite = "UNIQUE constraint failed: aer_users.email",
        -- the constraint's deterministic name (schema.c), not one the database chose
        postgres = 'duplicate key value violates unique constraint "uniq_aer_users_email_23bb24"',
        mysql = "Duplicate entry 'a@x.org' for key 'uniq_aer_users_email_23bb24'",
      })[orm.connection("default"):dialect()]
      assert.are.equal("IntegrityError: " .. message, tostring(err))
      assert.are.equal(message, err.message)
      assert.are.equal("string", type(err.sql))
      assert.truthy(err.sql:find("INSERT", 1, true))
    end)

    it("from an update that breaks a unique constraint", function()
      check(catch(function() return AerUser:filter{ username = "ann" }:update{ email = "b@x.org" } end),
        "IntegrityError")
    end)

    it("is an OperationalError, as in Tortoise", function()
      local err = catch(function() return AerUser:create{ email = "a@x.org", username = "x" } end)
      assert.is_true(E.OperationalError:is(err))
    end)
  end)

  describe("FieldError", function()
    it("names the bad field and lists the valid ones", function()
      local err = check(catch(function() return AerUser:filter{ emial = "a@x.org" }:list() end), "FieldError")
      assert.truthy(err.message:find("emial", 1, true))
      assert.truthy(err.message:find("email", 1, true))
      assert.truthy(err.message:find("username", 1, true))
    end)

    it("from exclude, order_by, values, values_list, update and get", function()
      check(catch(function() return AerUser:exclude{ nope = 1 }:list() end), "FieldError")
      check(catch(function() return AerUser:all():order_by("nope"):list() end), "FieldError")
      check(catch(function() return AerUser:all():values("nope"):list() end), "FieldError")
      check(catch(function() return AerUser:all():values_list("nope", { flat = true }):list() end), "FieldError")
      check(catch(function() return AerUser:all():update{ nope = 1 } end), "FieldError")
      check(catch(function() return AerUser:get{ nope = 1 } end), "FieldError")
    end)
  end)

  describe("ValidationError", function()
    it("for a value longer than max_length, naming the field", function()
      local err = check(catch(function()
        return AerUser:create{ email = "long@x.org", username = ("x"):rep(21) }
      end), "ValidationError")
      assert.truthy(err.message:find("username", 1, true))
      assert.are.equal(3, AerUser:count())
    end)

    it("for a value outside a CharEnumField's enum_type", function()
      local err = check(catch(function()
        return AerUser:create{ email = "e@x.org", username = "e", role = "root" }
      end), "ValidationError")
      assert.truthy(err.message:find("role", 1, true))
    end)

    it("on save() of an instance", function()
      local u = AerUser:get{ username = "ann" }
      u.username = ("y"):rep(30)
      check(catch(function() u:save() end), "ValidationError")
      assert.are.equal("ann", AerUser:get{ id = u.id }.username)
    end)

    it("or IntegrityError for a missing non-null value, naming the field", function()
      local err = catch(function() return AerOther:create{} end)
      assert.is_true(E.ValidationError:is(err) or E.IntegrityError:is(err), tostring(err))
      assert.truthy(err.message:find("name", 1, true))
    end)

    it("from a validator, when orm.validators exists", function()
      if not (orm.validators and orm.validators.MinValueValidator) then
        pending("orm.validators is not there yet")
        return
      end
      local V = Model:extend("AerValidated", {
        qty = fields.IntField{ validators = { orm.validators.MinValueValidator(0) } },
        Meta = { table = "aer_validated" },
      })
      orm.generate_schemas()
      local err = check(catch(function() return V:create{ qty = -1 } end), "ValidationError")
      assert.truthy(err.message:find("qty", 1, true))
      assert.are.equal(0, V:create{ qty = 0 }.qty)
    end)
  end)

  describe("ParamsError", function()
    it("for a negative limit or offset", function()
      check(catch(function() return AerUser:all():limit(-1) end), "ParamsError")
      check(catch(function() return AerUser:all():offset(-5) end), "ParamsError")
    end)
  end)

  describe("ConfigurationError", function()
    it("for a bad model definition", function()
      check(catch(function()
        return Model:extend("AerBadModel", { name = fields.CharField{} })
      end), "ConfigurationError")
    end)

    it("for an unknown URL scheme", function()
      check(catch(function() orm.init{ db_url = "nosuchdb://localhost/x" } end), "ConfigurationError")
    end)
  end)

  describe("OperationalError", function()
    it("for raw SQL on a missing table, with the SQL", function()
      local sql = "SELECT * FROM no_such_table"
      local err = check(catch(function() return orm.connection("default"):execute_query(sql, {}) end),
        "OperationalError")
      assert.truthy(err.message:find("no_such_table", 1, true))
      assert.are.equal(sql, err.sql)
    end)

    it("for a syntax error in raw SQL", function()
      check(catch(function() return orm.connection("default"):execute_query("SELEC 1", {}) end),
        "OperationalError")
    end)

    it("for Q combined with a non-Q", function()
      check(catch(function() return orm.Q{ a = 1 } | 1 end), "OperationalError")
    end)
  end)

  it("error objects carry message, class and sql", function()
    local err = catch(function() return AerUser:get{ id = 999 } end)
    assert.are.equal("string", type(err.message))
    assert.is_true(err.class == E.DoesNotExist or err.class == AerUser.DoesNotExist)
    local err2 = catch(function() return AerUser:filter{ nope = 1 }:list() end)
    assert.are.equal(E.FieldError, err2.class)
    assert.are.equal(E.FieldError, getmetatable(err2))
    assert.are.equal("FieldError: " .. err2.message, tostring(err2))
  end)

  it("errors can be rethrown and caught again", function()
    local ok, err = pcall(function()
      local ok2, inner = pcall(function() return AerUser:get{ id = 999 } end)
      assert(not ok2)
      error(inner, 0)
    end)
    assert.is_false(ok)
    assert.is_true(E.DoesNotExist:is(err))
  end)
end)
