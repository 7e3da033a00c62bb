-- Acceptance spec (LUA_API.md "Instances", model-level methods): create,
-- Model{...} + save, save{update_fields}, delete, refresh_from_db,
-- get_or_create, bulk_create, equality, auto_now / auto_now_add.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- raw SQL written for SQLite, run in the dialect of the connection
local raw = require("tests.lua.support.sql").query

local AiUser = Model:extend("AiUser", {
  id         = fields.IntField{ primary_key = true },
  email      = fields.CharField{ max_length = 100, unique = true },
  username   = fields.CharField{ max_length = 50 },
  age        = fields.IntField{ default = 0 },
  bio        = fields.TextField{ null = true },
  created_at = fields.DatetimeField{ auto_now_add = true },
  updated_at = fields.DatetimeField{ auto_now = true },
  Meta = { table = "ai_users" },
})

local AiNote = Model:extend("AiNote", {
  text = fields.CharField{ max_length = 50 },
  Meta = { table = "ai_notes" },
})

local function count() return raw('SELECT COUNT(*) AS n FROM "ai_users"')[1].n end

describe("instances", function()
  before_each(function() orm.testing.init{ models = { AiUser, AiNote } } end)
  after_each(function() orm.testing.finish() end)

  describe("create", function()
    it("inserts a row and returns the instance with its primary key", function()
      local u = AiUser:create{ email = "a@x.org", username = "a" }
      assert.are.equal(AiUser, getmetatable(u))
      assert.are.equal("integer", math.type(u.id))
      assert.are.equal(u.id, u.pk)
      assert.are.equal("a@x.org", u.email)
      assert.are.equal(0, u.age)
      assert.is_nil(u.bio)
      assert.are.equal(1, count())
      local r = raw('SELECT email, username, age FROM "ai_users" WHERE id = ?', { u.id })[1]
      assert.are.same({ email = "a@x.org", username = "a", age = 0 },
        { email = r.email, username = r.username, age = r.age })
      assert.are.same({ "a@x.org", "a", 0 }, { r[1], r[2], r[3] }) -- by position too
    end)

    it("gives consecutive primary keys", function()
      local a = AiNote:create{ text = "1" }
      local b = AiNote:create{ text = "2" }
      assert.are.equal(a.id + 1, b.id)
    end)

    it("accepts an explicit primary key", function()
      local u = AiUser:create{ id = 42, email = "p@x.org", username = "p" }
      assert.are.equal(42, u.id)
      assert.are.equal("p", AiUser:get{ id = 42 }.username)
    end)

    it("sets created_at and updated_at", function()
      local u = AiUser:create{ email = "t@x.org", username = "t" }
      assert.is_not_nil(u.created_at)
      assert.is_not_nil(u.updated_at)
      local back = AiUser:get{ id = u.id }
      assert.are.equal(tostring(u.created_at), tostring(back.created_at))
      assert.truthy(tostring(back.created_at):match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d"))
    end)

    it("keeps an explicit created_at (auto_now_add only fills a missing value)", function()
      local u = AiUser:create{ email = "o@x.org", username = "o", created_at = "2020-05-06T07:08:09" }
      assert.are.equal("2020-05-06T07:08:09", tostring(AiUser:get{ id = u.id }.created_at))
    end)
  end)

  describe("Model{...} and save()", function()
    it("calling the model makes an unsaved instance", function()
      local u = AiUser{ email = "u@x.org", username = "u" }
      assert.are.equal(AiUser, getmetatable(u))
      assert.is_nil(u.id)
      assert.are.equal(0, count())
      u:save()
      assert.is_not_nil(u.id)
      assert.are.equal(1, count())
      assert.are.equal("u", AiUser:get{ email = "u@x.org" }.username)
    end)

    it("save() on a saved instance updates it", function()
      local u = AiUser:create{ email = "s@x.org", username = "s" }
      u.username = "changed"
      u.bio = "text"
      u:save()
      assert.are.equal(1, count())
      local back = AiUser:get{ id = u.id }
      assert.are.equal("changed", back.username)
      assert.are.equal("text", back.bio)
    end)

    it("save() of nil stores NULL", function()
      local u = AiUser:create{ email = "n@x.org", username = "n", bio = "x" }
      u.bio = nil
      u:save()
      assert.is_nil(AiUser:get{ id = u.id }.bio)
      assert.are.equal(1, AiUser:filter{ bio = orm.null }:count())
    end)

    it("save() moves updated_at forward, not created_at", function()
      local u = AiUser:create{ email = "m@x.org", username = "m", created_at = "2020-01-01T00:00:00" }
      AiUser:filter{ id = u.id }:update{ updated_at = "2020-01-01T00:00:00" }
      u:refresh_from_db()
      u.age = 5
      u:save()
      local back = AiUser:get{ id = u.id }
      assert.are.equal("2020-01-01T00:00:00", tostring(back.created_at))
      assert.is_true(tostring(back.updated_at) > "2020-01-01T00:00:00")
    end)

    it("save{update_fields=...} writes only those fields", function()
      local u = AiUser:create{ email = "f@x.org", username = "f", age = 1 }
      local other = AiUser:get{ id = u.id }
      other.username = "from other"
      other:save()
      u.age = 2
      u.username = "stale"
      u:save{ update_fields = { "age" } }
      local back = AiUser:get{ id = u.id }
      assert.are.equal(2, back.age)
      assert.are.equal("from other", back.username)
    end)

    it("save() raises IntegrityError on a duplicate unique value", function()
      AiUser:create{ email = "dup@x.org", username = "a" }
      local u = AiUser{ email = "dup@x.org", username = "b" }
      assert.is_true(orm.exceptions.IntegrityError:is(catch(function() u:save() end)))
      assert.are.equal(1, count())
    end)
  end)

  describe("delete()", function()
    it("removes the row", function()
      local u = AiUser:create{ email = "d@x.org", username = "d" }
      AiUser:create{ email = "k@x.org", username = "k" }
      u:delete()
      assert.are.equal(1, count())
      assert.is_nil(AiUser:get_or_none{ email = "d@x.org" })
    end)

    it("of an unsaved instance raises OperationalError", function()
      local u = AiUser{ email = "z@x.org", username = "z" }
      assert.is_true(orm.exceptions.OperationalError:is(catch(function() u:delete() end)))
    end)
  end)

  describe("refresh_from_db()", function()
    it("reloads every field", function()
      local u = AiUser:create{ email = "r@x.org", username = "r", age = 1 }
      AiUser:filter{ id = u.id }:update{ age = 30, bio = "new" }
      u:refresh_from_db()
      assert.are.equal(30, u.age)
      assert.are.equal("new", u.bio)
    end)

    it("{fields=...} reloads only those", function()
      local u = AiUser:create{ email = "q@x.org", username = "q", age = 1 }
      AiUser:filter{ id = u.id }:update{ age = 30, username = "other" }
      u:refresh_from_db{ fields = { "age" } }
      assert.are.equal(30, u.age)
      assert.are.equal("q", u.username)
    end)

    it("turns a NULL into nil", function()
      local u = AiUser:create{ email = "b@x.org", username = "b", bio = "x" }
      AiUser:filter{ id = u.id }:update{ bio = orm.null }
      u:refresh_from_db()
      assert.is_nil(u.bio)
    end)

    it("of a deleted row raises DoesNotExist", function()
      local u = AiUser:create{ email = "g@x.org", username = "g" }
      AiUser:filter{ id = u.id }:delete()
      assert.is_true(orm.exceptions.DoesNotExist:is(catch(function() u:refresh_from_db() end)))
    end)
  end)

  describe("get_or_create()", function()
    it("creates with the defaults when missing", function()
      local u, created = AiUser:get_or_create{ email = "c@x.org", defaults = { username = "c", age = 7 } }
      assert.is_true(created)
      assert.are.equal("c", u.username)
      assert.are.equal(7, u.age)
      assert.is_not_nil(u.id)
      assert.are.equal(1, count())
    end)

    it("gets an existing row and ignores the defaults", function()
      local a = AiUser:create{ email = "c@x.org", username = "orig" }
      local u, created = AiUser:get_or_create{ email = "c@x.org", defaults = { username = "other" } }
      assert.is_false(created)
      assert.are.equal(a.id, u.id)
      assert.are.equal("orig", u.username)
      assert.are.equal(1, count())
    end)

    it("raises MultipleObjectsReturned when several match", function()
      AiUser:create{ email = "1@x.org", username = "same" }
      AiUser:create{ email = "2@x.org", username = "same" }
      local err = catch(function() return AiUser:get_or_create{ username = "same", defaults = { email = "3@x.org" } } end)
      assert.is_true(orm.exceptions.MultipleObjectsReturned:is(err))
    end)
  end)

  describe("bulk_create()", function()
    it("inserts a list and fills the primary keys", function()
      local list = {}
      for i = 1, 5 do list[i] = AiUser{ email = i .. "@b.org", username = "b" .. i, age = i } end
      AiUser:bulk_create(list)
      assert.are.equal(5, count())
      for i = 1, 5 do
        assert.is_not_nil(list[i].id)
        assert.are.equal("b" .. i, AiUser:get{ id = list[i].id }.username)
      end
      assert.are.same({ 1, 2, 3, 4, 5 }, AiUser:all():order_by("id"):values_list("age", { flat = true }):list())
    end)

    it("honours batch_size", function()
      local list = {}
      for i = 1, 7 do list[i] = AiNote{ text = "n" .. i } end
      AiNote:bulk_create(list, { batch_size = 3 })
      assert.are.equal(7, AiNote:count())
    end)

    it("applies defaults", function()
      AiUser:bulk_create{ AiUser{ email = "x@b.org", username = "x" } }
      local u = AiUser:get{ email = "x@b.org" }
      assert.are.equal(0, u.age)
      assert.is_not_nil(u.created_at)
    end)

    it("raises IntegrityError on a duplicate", function()
      local err = catch(function()
        AiUser:bulk_create{ AiUser{ email = "y@b.org", username = "y" }, AiUser{ email = "y@b.org", username = "y2" } }
      end)
      assert.is_true(orm.exceptions.IntegrityError:is(err))
    end)

    it("ignore_conflicts skips duplicates", function()
      AiUser:create{ email = "i@b.org", username = "i" }
      AiUser:bulk_create({ AiUser{ email = "i@b.org", username = "i2" }, AiUser{ email = "j@b.org", username = "j" } },
        { ignore_conflicts = true })
      assert.are.equal(2, count())
      assert.are.equal("i", AiUser:get{ email = "i@b.org" }.username)
    end)
  end)

  describe("identity", function()
    it("instances of one row are equal, others are not", function()
      local a = AiUser:create{ email = "e1@x.org", username = "e" }
      local b = AiUser:create{ email = "e2@x.org", username = "e" }
      assert.is_true(AiUser:get{ id = a.id } == AiUser:get{ id = a.id })
      assert.is_true(a == AiUser:get{ id = a.id })
      assert.is_false(a == b)
    end)

    it("instances of different models are not equal", function()
      local u = AiUser:create{ email = "e@x.org", username = "e" }
      local n = AiNote:create{ text = "x" }
      assert.are.equal(u.id, n.id)
      assert.is_false(u == n)
    end)

    it("print as <Model: pk>", function()
      local n = AiNote:create{ text = "x" }
      assert.are.equal("<AiNote: " .. n.id .. ">", tostring(n))
    end)
  end)
end)
