-- Acceptance spec (LUA_API.md "Models"): declaring models with
-- Model:extend, fields, Meta, abstract mixins, defaults, tostring.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- raw SQL written for SQLite, run in the dialect of the connection
local sql = require "tests.lua.support.sql"
local raw, columns = sql.query, sql.columns

local AmStamped = Model:extend("AmStamped", {
  created_at = fields.DatetimeField{ auto_now_add = true },
  updated_at = fields.DatetimeField{ auto_now = true },
  Meta = { abstract = true },
})

local counter = 0
local AmUser = AmStamped:extend("AmUser", {
  id            = fields.IntField{ primary_key = true },
  email         = fields.CharField{ max_length = 255, unique = true, index = true },
  username      = fields.CharField{ max_length = 100, unique = true },
  role          = fields.CharEnumField{ enum_type = { "user", "admin", "editor" }, max_length = 20, default = "user" },
  is_active     = fields.BooleanField{ default = true },
  token         = fields.CharField{ max_length = 40, default = function() counter = counter + 1; return "tok" .. counter end },
  bio           = fields.TextField{ null = true },
  Meta = { table = "am_users", indexes = { { "email", "is_active" }, { "role" } } },
  __tostring = function(self) return ("AmUser(id=%d, email=%s)"):format(self.id, self.email) end,
  greeting = function(self, word) return (word or "hello") .. ", " .. self.username end,
})

-- No primary key declared: an `id` IntField primary key is added.
local AmNote = Model:extend("AmNote", {
  body  = fields.TextField{},
  label = fields.CharField{ max_length = 20, source_field = "note_label", null = true },
  Meta = { table = "am_notes" },
})

-- No Meta.table: the table name defaults to the lower-cased model name.
local AmPlainThing = Model:extend("AmPlainThing", {
  name = fields.CharField{ max_length = 10 },
})

local AmSection = Model:extend("AmSection", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 50 },
  Meta = { table = "am_sections" },
})
local AmArticle = Model:extend("AmArticle", {
  id      = fields.IntField{ primary_key = true },
  title   = fields.CharField{ max_length = 50 },
  section = fields.ForeignKeyField{ "models.AmSection", related_name = "articles" },
  Meta = { table = "am_articles" },
})

describe("models", function()
  before_each(function()
    orm.testing.init{ models = { AmUser, AmNote, AmPlainThing, AmSection, AmArticle } }
  end)
  after_each(function() orm.testing.finish() end)

  it("are registered under the app `models`", function()
    assert.are.equal(AmUser, orm.apps.models.AmUser)
    assert.are.equal(AmNote, orm.apps.models.AmNote)
  end)

  it("keep fields in declaration order, inherited fields first", function()
    assert.are.same(
      { "created_at", "updated_at", "id", "email", "username", "role", "is_active", "token", "bio" },
      AmUser._meta.fields)
    assert.are.same({ "created_at", "updated_at", "id", "email", "username", "role", "is_active", "token", "bio" },
      columns("am_users"))
  end)

  it("use Meta.table and default to the lower-cased model name", function()
    assert.are.equal("am_users", AmUser._meta.db_table)
    assert.are.equal("amplainthing", AmPlainThing._meta.db_table)
    AmPlainThing:create{ name = "x" }
    assert.are.equal(1, raw('SELECT COUNT(*) AS n FROM "amplainthing"')[1].n)
  end)

  it("get an id primary key when none is declared", function()
    assert.are.equal("id", AmNote._meta.pk_attr)
    assert.are.same({ "id", "body", "note_label" }, columns("am_notes"))
    local n = AmNote:create{ body = "first" }
    assert.are.equal("integer", math.type(n.id))
    assert.are.equal(n.id, n.pk)
  end)

  it("honour source_field as the column name", function()
    local n = AmNote:create{ body = "b", label = "lbl" }
    assert.are.equal("lbl", raw('SELECT note_label FROM "am_notes" WHERE id = ?', { n.id })[1].note_label)
    assert.are.equal(1, AmNote:filter{ label = "lbl" }:count())
    assert.are.same({ "lbl" }, AmNote:all():values_list("label", { flat = true }):list())
  end)

  it("an abstract model has no table, its children inherit its fields", function()
    assert.is_true(AmStamped._meta.abstract)
    local names = {}
    for _, t in ipairs(sql.tables("am")) do names[t] = true end
    assert.is_nil(names.amstamped)
    assert.is_true(names.am_users)
    local u = AmUser:create{ email = "a@x.org", username = "a" }
    assert.is_not_nil(u.created_at)
    assert.is_not_nil(u.updated_at)
  end)

  it("create the indexes of Meta.indexes and of index/unique fields", function()
    local n = #sql.indexes("am_users")
    -- email (index+unique), username (unique), (email, is_active), (role)
    assert.is_true(n >= 4)
  end)

  it("apply defaults: values and functions", function()
    local u = AmUser:create{ email = "d@x.org", username = "d" }
    assert.are.equal("user", u.role)
    assert.are.equal(true, u.is_active)
    assert.is_nil(u.bio)
    assert.are.equal("string", type(u.token))
    local v = AmUser:create{ email = "e@x.org", username = "e" }
    assert.are_not.equal(u.token, v.token)
    local w = AmUser{ email = "f@x.org", username = "f" }
    assert.are.equal("user", w.role)
  end)

  it("instances have the model as metatable and use the body's functions", function()
    local u = AmUser:create{ email = "m@x.org", username = "meth" }
    assert.are.equal(AmUser, getmetatable(u))
    assert.are.equal("hello, meth", u:greeting())
    assert.are.equal("hi, meth", u:greeting("hi"))
    assert.are.equal(AmUser, orm._model_of(u))
    assert.is_nil(orm._model_of({}))
  end)

  it("print through __tostring, or as <Model: pk>", function()
    local u = AmUser:create{ email = "t@x.org", username = "t" }
    assert.are.equal(("AmUser(id=%d, email=t@x.org)"):format(u.id), tostring(u))
    local n = AmNote:create{ body = "x" }
    assert.are.equal(("<AmNote: %d>"):format(n.id), tostring(n))
  end)

  it("store a foreign key as <name>_id", function()
    local s = AmSection:create{ name = "news" }
    local a = AmArticle:create{ title = "t1", section_id = s.id }
    assert.are.equal(s.id, a.section_id)
    assert.are.same({ "id", "title", "section_id" }, columns("am_articles"))
    local b = AmArticle:create{ title = "t2", section = s }
    assert.are.equal(s.id, b.section_id)
    assert.are.equal(2, AmArticle:filter{ section_id = s.id }:count())
  end)

  it("declared after init are registered at once and get tables from generate_schemas", function()
    local Late = Model:extend("AmLate", {
      name = fields.CharField{ max_length = 10 },
      Meta = { table = "am_late" },
    })
    assert.are.equal(Late, orm.apps.models.AmLate)
    orm.generate_schemas()
    Late:create{ name = "ok" }
    assert.are.equal(1, Late:all():count())
  end)

  it("redefining a model replaces it", function()
    local A = Model:extend("AmRedef", { a = fields.IntField{}, Meta = { table = "am_redef" } })
    local B = Model:extend("AmRedef", { b = fields.IntField{}, Meta = { table = "am_redef2" } })
    assert.are.equal(B, orm.apps.models.AmRedef)
    assert.are_not.equal(A, B)
    assert.are.same({ "id", "b" }, B._meta.fields)
  end)

  it("reject a CharField without max_length with ConfigurationError", function()
    local err = catch(function()
      return Model:extend("AmBad1", { name = fields.CharField{} })
    end)
    assert.is_true(orm.exceptions.ConfigurationError:is(err))
  end)

  it("reject a DecimalField without digits with ConfigurationError", function()
    local err = catch(function()
      return Model:extend("AmBad2", { price = fields.DecimalField{} })
    end)
    assert.is_true(orm.exceptions.ConfigurationError:is(err))
  end)

  it("reject two primary keys with ConfigurationError", function()
    local err = catch(function()
      return Model:extend("AmBad3", {
        a = fields.IntField{ primary_key = true },
        b = fields.IntField{ primary_key = true },
      })
    end)
    assert.is_true(orm.exceptions.ConfigurationError:is(err))
  end)

  it("accept every field type of the walking skeleton", function()
    local All = Model:extend("AmAllTypes", {
      i   = fields.IntField{ null = true },
      bi  = fields.BigIntField{ null = true },
      si  = fields.SmallIntField{ null = true },
      f   = fields.FloatField{ null = true },
      d   = fields.DecimalField{ max_digits = 8, decimal_places = 3, null = true },
      c   = fields.CharField{ max_length = 5, null = true },
      t   = fields.TextField{ null = true },
      b   = fields.BooleanField{ null = true },
      dt  = fields.DatetimeField{ null = true },
      da  = fields.DateField{ null = true },
      ce  = fields.CharEnumField{ enum_type = { "a", "b" }, max_length = 1, null = true },
      ie  = fields.IntEnumField{ enum_type = { 1, 2, 3 }, null = true },
      Meta = { table = "am_all_types" },
    })
    orm.generate_schemas()
    local x = All:create{}
    assert.is_not_nil(x.id)
    assert.are.same({ "id", "i", "bi", "si", "f", "d", "c", "t", "b", "dt", "da", "ce", "ie" }, columns("am_all_types"))
  end)
end)
