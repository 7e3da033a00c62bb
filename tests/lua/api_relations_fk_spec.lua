-- Acceptance spec (issue 4 "ForeignKeyField and OneToOneField"): on_delete
-- CASCADE / RESTRICT / SET_NULL / SET_DEFAULT / NO_ACTION enforced by the
-- database, db_constraint, null, Tortoise's default related_name
-- ("<db_table>s") and related_name = false, OneToOneField both ways.
-- Runs on SQLite, PostgreSQL and MariaDB (TESTUDO_TEST_DB_URL).
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local function catch(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local function counter()
  local conn = orm.connection()
  local base = conn:query_count()
  return function() return conn:query_count() - base end
end

-- Runs SQL without parameters, as another client would (no ORM logic).
local function raw(sql) orm.connection():execute_script(sql) end

local RdParent = Model:extend("RdParent", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 20, unique = true },
  Meta = { table = "rd_parents" },
})

local RdCascade = Model:extend("RdCascade", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.CASCADE, related_name = "cascades" },
  Meta = { table = "rd_cascade" },
})

local RdRestrict = Model:extend("RdRestrict", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.RESTRICT, related_name = "restricts" },
  Meta = { table = "rd_restrict" },
})

local RdSetNull = Model:extend("RdSetNull", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.SET_NULL, null = true, related_name = "set_nulls" },
  Meta = { table = "rd_set_null" },
})

-- the fallback parent is the first row made in each test (id 1)
local RdSetDefault = Model:extend("RdSetDefault", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.SET_DEFAULT, default = 1, related_name = "set_defaults" },
  Meta = { table = "rd_set_default" },
})

local RdNoAction = Model:extend("RdNoAction", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.NO_ACTION, related_name = "no_actions" },
  Meta = { table = "rd_no_action" },
})

local RdLoose = Model:extend("RdLoose", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", db_constraint = false, on_delete = orm.NO_ACTION, related_name = "looses" },
  Meta = { table = "rd_loose" },
})

-- no related_name: Tortoise names the reverse side "<db_table>s"
local RdNote = Model:extend("RdNote", {
  id     = fields.IntField{ primary_key = true },
  text   = fields.CharField{ max_length = 20 },
  parent = fields.ForeignKeyField{ "models.RdParent" },
  Meta = { table = "rd_notes" },
})

-- related_name = false: no reverse side (declared under pcall so that a
-- refusal fails its own test, not the file)
local hidden_ok, RdHidden = pcall(Model.extend, Model, "RdHidden", {
  id     = fields.IntField{ primary_key = true },
  parent = fields.ForeignKeyField{ "models.RdParent", related_name = false },
  Meta = { table = "rd_hidden" },
})

local RdProfile = Model:extend("RdProfile", {
  id    = fields.IntField{ primary_key = true },
  owner = fields.OneToOneField{ "models.RdParent", related_name = "profile" },
  bio   = fields.CharField{ max_length = 40 },
  Meta = { table = "rd_profiles" },
})

local MODELS = { RdParent, RdCascade, RdRestrict, RdSetNull, RdSetDefault, RdNoAction, RdLoose, RdNote, RdProfile }
if hidden_ok then MODELS[#MODELS + 1] = RdHidden end

describe("foreign keys and one-to-one", function()
  local fallback, p, q
  before_each(function()
    orm.testing.init{ models = MODELS }
    fallback = RdParent:create{ name = "fallback" }
    assert.are.equal(1, fallback.id)
    p = RdParent:create{ name = "p" }
    q = RdParent:create{ name = "q" }
  end)
  after_each(function() orm.testing.finish() end)

  describe("on_delete", function()
    it("CASCADE deletes the children (instance delete, queryset delete, raw SQL)", function()
      RdCascade:create{ parent = p }
      RdCascade:create{ parent = p }
      RdCascade:create{ parent = q }
      RdCascade:create{ parent = fallback }
      p:delete()
      assert.are.equal(2, RdCascade:count())
      assert.are.equal(1, RdParent:filter{ name = "q" }:delete())
      assert.are.equal(1, RdCascade:count())
      raw("DELETE FROM rd_parents WHERE name = 'fallback'")
      assert.are.equal(0, RdCascade:count())
    end)

    it("RESTRICT refuses to delete a parent with children (IntegrityError)", function()
      RdRestrict:create{ parent = p }
      local err = catch(function() p:delete() end)
      assert.is_true(E.IntegrityError:is(err), tostring(err))
      assert.is_true(E.IntegrityError:is(catch(function() return RdParent:filter{ name = "p" }:delete() end)))
      assert.is_true(E.IntegrityError:is(catch(function() raw("DELETE FROM rd_parents WHERE name = 'p'") end)))
      assert.are.equal(3, RdParent:count())
      assert.are.equal(1, RdRestrict:count())
      -- a parent without children goes
      q:delete()
      assert.are.equal(2, RdParent:count())
      -- once the child is gone, so can the parent
      RdRestrict:filter{ parent = p }:delete()
      p:delete()
      assert.are.equal(1, RdParent:count())
    end)

    it("SET_NULL sets the children's FK to NULL", function()
      local a = RdSetNull:create{ parent = p }
      local b = RdSetNull:create{ parent = q }
      p:delete()
      assert.is_nil(RdSetNull:get{ id = a.id }.parent_id)
      assert.is_nil(RdSetNull:get{ id = a.id }.parent)
      assert.are.equal(q.id, RdSetNull:get{ id = b.id }.parent_id)
      raw("DELETE FROM rd_parents WHERE name = 'q'")
      assert.is_nil(RdSetNull:get{ id = b.id }.parent_id)
      assert.are.equal(2, RdSetNull:count())
      assert.are.equal(2, RdSetNull:filter{ parent__isnull = true }:count())
    end)

    it("SET_DEFAULT sets the children's FK to the field's default", function()
      local a = RdSetDefault:create{ parent = p }
      local b = RdSetDefault:create{ parent = q }
      local c = RdSetDefault:create{}
      assert.are.equal(1, RdSetDefault:get{ id = c.id }.parent_id)
      p:delete()
      assert.are.equal(1, RdSetDefault:get{ id = a.id }.parent_id)
      assert.are.equal("fallback", RdSetDefault:get{ id = a.id }.parent.name)
      assert.are.equal(q.id, RdSetDefault:get{ id = b.id }.parent_id)
      assert.are.equal(1, RdParent:filter{ name = "q" }:delete())
      assert.are.equal(3, RdSetDefault:filter{ parent = fallback }:count())
      assert.are.equal(3, fallback.set_defaults:count())
    end)

    it("NO_ACTION refuses to delete a parent with children (IntegrityError)", function()
      RdNoAction:create{ parent = p }
      assert.is_true(E.IntegrityError:is(catch(function() p:delete() end)))
      assert.is_true(E.IntegrityError:is(catch(function() raw("DELETE FROM rd_parents WHERE name = 'p'") end)))
      assert.are.equal(3, RdParent:count())
      q:delete()
      assert.are.equal(2, RdParent:count())
    end)

    it("the DDL carries the constraints", function()
      local ddl = orm.utils.get_schema_sql{ model = RdCascade }
      assert.truthy(ddl:find("REFERENCES", 1, true), ddl)
      assert.truthy(ddl:find("CASCADE", 1, true), ddl)
      assert.truthy(orm.utils.get_schema_sql{ model = RdRestrict }:find("RESTRICT", 1, true))
      assert.truthy(orm.utils.get_schema_sql{ model = RdSetNull }:find("SET NULL", 1, true))
    end)
  end)

  describe("db_constraint = false", function()
    it("emits no FK constraint: dangling ids are accepted and survive", function()
      assert.is_nil(orm.utils.get_schema_sql{ model = RdLoose }:find("REFERENCES", 1, true))
      local a = RdLoose:create{ parent_id = 9999 }
      RdLoose:create{ parent = p }
      p:delete()
      assert.are.equal(2, RdLoose:count())
      assert.are.equal(9999, RdLoose:get{ id = a.id }.parent_id)
      -- joins still work for the rows that match
      RdLoose:create{ parent = q }
      assert.are.same({ "q" }, RdLoose:filter{ parent__name__not_isnull = true }:values_list("parent__name", { flat = true }):list())
      assert.are.equal(1, q.looses:count())
    end)
  end)

  describe("null", function()
    it("a FK that is not null must be given", function()
      local err = catch(function() return RdCascade:create{} end)
      assert.is_true(E.ValidationError:is(err) or E.IntegrityError:is(err), tostring(err))
      assert.are.equal(0, RdCascade:count())
    end)

    it("a nullable FK may be left out and filtered with isnull", function()
      RdSetNull:create{}
      RdSetNull:create{ parent = p }
      assert.are.equal(1, RdSetNull:filter{ parent__isnull = true }:count())
      assert.are.equal(1, RdSetNull:filter{ parent_id = orm.null }:count())
      assert.are.equal(1, RdSetNull:filter{ parent__name = "p" }:count())
      assert.are.equal(2, RdSetNull:all():select_related("parent"):count())
    end)
  end)

  describe("related_name", function()
    it("defaults to '<db_table>s' as in Tortoise", function()
      RdNote:create{ text = "a", parent = p }
      RdNote:create{ text = "b", parent = p }
      assert.are.equal(2, p.rd_notess:count())
      assert.are.same({ "p" }, RdParent:filter{ rd_notess__text = "b" }:values_list("name", { flat = true }):list())
      assert.are.same({ { "fallback", 0 }, { "p", 2 }, { "q", 0 } },
        RdParent:annotate{ n = orm.functions.Count("rd_notess") }:order_by("name"):values_list("name", "n"):list())
    end)

    it("false gives no reverse side", function()
      assert.is_true(hidden_ok, tostring(RdHidden))
      RdHidden:create{ parent = p }
      assert.are.equal("p", RdHidden:first().parent.name)
      assert.are.equal(1, RdHidden:filter{ parent__name = "p" }:count())
      assert.is_true(E.FieldError:is(catch(function()
        return RdParent:filter{ rd_hiddens__id = 1 }:list()
      end)))
      assert.is_true(E.FieldError:is(catch(function()
        return RdParent:filter{ rd_hiddenss__id = 1 }:list()
      end)))
    end)
  end)

  describe("OneToOneField", function()
    it("one row per parent (unique), forward access, filter both ways", function()
      local pr = RdProfile:create{ owner = p, bio = "hello" }
      assert.is_true(E.IntegrityError:is(catch(function() return RdProfile:create{ owner = p, bio = "again" } end)))
      RdProfile:create{ owner_id = q.id, bio = "other" }
      assert.are.equal(p.id, RdProfile:get{ id = pr.id }.owner_id)
      assert.are.equal("p", RdProfile:get{ id = pr.id }.owner.name)
      assert.are.same({ "p" }, RdParent:filter{ profile__bio = "hello" }:values_list("name", { flat = true }):list())
      assert.are.same({ "fallback" }, RdParent:filter{ profile__isnull = true }:values_list("name", { flat = true }):list())
      assert.are.same({ "other" }, RdProfile:filter{ owner__name = "q" }:values_list("bio", { flat = true }):list())
      assert.are.same({ { "p", "hello" }, { "q", "other" } },
        RdProfile:all():order_by("owner__name"):values_list("owner__name", "bio"):list())
    end)

    it("the reverse side is one instance (or nil) after fetch_related / prefetch_related", function()
      RdProfile:create{ owner = p, bio = "hello" }
      local pp = RdParent:get{ name = "p" }
      pp:fetch_related("profile")
      assert.are.equal(RdProfile, getmetatable(pp.profile))
      assert.are.equal("hello", pp.profile.bio)
      local f = RdParent:get{ name = "fallback" }
      f:fetch_related("profile")
      assert.is_nil(f.profile)
      local n = counter()
      local all = RdParent:all():order_by("name"):prefetch_related("profile"):list()
      assert.are.equal(2, n())
      assert.is_nil(all[1].profile)
      assert.are.equal("hello", all[2].profile.bio)
      assert.is_nil(all[3].profile)
      assert.are.equal(2, n())
    end)

    it("select_related over the forward side, cascade on delete", function()
      RdProfile:create{ owner = p, bio = "hello" }
      local n = counter()
      local pr = RdProfile:all():select_related("owner"):first()
      assert.are.equal("p", pr.owner.name)
      assert.are.equal(1, n())
      p:delete()
      assert.are.equal(0, RdProfile:count())
    end)
  end)

  -- last: a wrongly accepted model would stay registered for what follows
  describe("bad definitions", function()
    it("SET_NULL on a field that is not null is a ConfigurationError", function()
      local err = catch(function()
        return Model:extend("RdBadSetNull", {
          parent = fields.ForeignKeyField{ "models.RdParent", on_delete = orm.SET_NULL },
        })
      end)
      assert.is_true(E.ConfigurationError:is(err))
    end)
  end)
end)
