-- Acceptance spec (issue 4 "ManyToManyField" and "Where Tortoise falls
-- short"): the automatic through table with Tortoise's names, custom
-- through / forward_key / backward_key, a declared through model with extra
-- columns (add(obj, {through_defaults = {...}})), two ManyToManyFields to
-- the same model with separate through tables, a self-referential m2m.
-- Runs on SQLite, PostgreSQL and MariaDB (TESTUDO_TEST_DB_URL).
--
-- A through model is named by its table in `through` (Tortoise's `through`
-- is the through table's name), with forward_key / backward_key naming its
-- FK columns.
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

local function names(qs)
  return qs:order_by("name"):values_list("name", { flat = true }):list()
end

local function sorted(t)
  table.sort(t)
  return t
end

local function tables()
  local t = {}
  for _, name in ipairs(orm._tables()) do t[name] = true end
  return t
end

local RmPerson = Model:extend("RmPerson", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 20, unique = true },
  friends = fields.ManyToManyField{ "models.RmPerson", related_name = "friend_of" },
  Meta = { table = "rm_people" },
})

-- automatic through table, default related_name ("rm_bookss")
local RmBook = Model:extend("RmBook", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 20 },
  authors = fields.ManyToManyField{ "models.RmPerson" },
  Meta = { table = "rm_books" },
})

-- custom through table name and keys, no through model
local RmClub = Model:extend("RmClub", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 20 },
  members = fields.ManyToManyField{ "models.RmPerson", through = "rm_club_members",
                                    forward_key = "person_ref", backward_key = "club_ref",
                                    related_name = "clubs" },
  Meta = { table = "rm_clubs" },
})

-- a through model with extra columns
local RmTeam = Model:extend("RmTeam", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 20 },
  players = fields.ManyToManyField{ "models.RmPerson", through = "rm_memberships",
                                    forward_key = "person_id", backward_key = "team_id",
                                    related_name = "teams" },
  Meta = { table = "rm_teams" },
})

local RmMembership = Model:extend("RmMembership", {
  id     = fields.IntField{ primary_key = true },
  team   = fields.ForeignKeyField{ "models.RmTeam", related_name = "memberships" },
  person = fields.ForeignKeyField{ "models.RmPerson", related_name = "memberships" },
  role   = fields.CharField{ max_length = 20, default = "member" },
  number = fields.IntField{ null = true },
  Meta = { table = "rm_memberships" },
})

-- two ManyToManyFields to the same model
local RmAccount = Model:extend("RmAccount", {
  id        = fields.IntField{ primary_key = true },
  name      = fields.CharField{ max_length = 20 },
  followers = fields.ManyToManyField{ "models.RmPerson", related_name = "following" },
  blocked   = fields.ManyToManyField{ "models.RmPerson", related_name = "blocked_by" },
  Meta = { table = "rm_accounts" },
})

local MODELS = { RmPerson, RmBook, RmClub, RmTeam, RmMembership, RmAccount }

describe("many-to-many", function()
  local ann, bob, cid
  before_each(function()
    orm.testing.init{ models = MODELS }
    ann = RmPerson:create{ name = "ann" }
    bob = RmPerson:create{ name = "bob" }
    cid = RmPerson:create{ name = "cid" }
  end)
  after_each(function() orm.testing.finish() end)

  describe("automatic through table", function()
    it("is named <table>_<related table> with columns <table>_id and <model>_id", function()
      local t = tables()
      assert.is_true(t.rm_books_rm_people, "rm_books_rm_people")
      local b = RmBook:create{ name = "Lua" }
      b.authors:add(ann, bob)
      local rows = orm.connection():execute_query("SELECT rm_books_id, rmperson_id FROM rm_books_rm_people")
      assert.are.equal(2, #rows)
      local got = {}
      for _, r in ipairs(rows) do
        assert.are.equal(b.id, r.rm_books_id)
        got[#got + 1] = r.rmperson_id
      end
      assert.are.same(sorted{ ann.id, bob.id }, sorted(got))
    end)

    it("the default related_name is <table>s", function()
      local b = RmBook:create{ name = "Lua" }
      b.authors:add(ann)
      assert.are.same({ "Lua" }, names(ann.rm_bookss))
      assert.are.same({ "ann" }, names(RmPerson:filter{ rm_bookss__name = "Lua" }))
    end)

    it("self-referential m2m", function()
      assert.is_true(tables().rm_people_rm_people, "rm_people_rm_people")
      ann.friends:add(bob, cid)
      bob.friends:add(cid)
      assert.are.same({ "bob", "cid" }, names(ann.friends))
      assert.are.same({ "ann", "bob" }, names(cid.friend_of))
      assert.are.same({ "ann" }, names(bob.friend_of))
      assert.are.same({ "ann", "bob" }, names(RmPerson:filter{ friends__name = "cid" }))
      assert.are.same({ { "ann", 2 }, { "bob", 1 }, { "cid", 0 } },
        RmPerson:annotate{ n = orm.functions.Count("friends") }:order_by("name"):values_list("name", "n"):list())
    end)
  end)

  describe("custom through, forward_key and backward_key", function()
    it("uses the given table and columns", function()
      assert.is_true(tables().rm_club_members)
      local chess = RmClub:create{ name = "chess" }
      local go = RmClub:create{ name = "go" }
      chess.members:add(ann, bob)
      go.members:add(bob)
      local rows = orm.connection():execute_query("SELECT club_ref, person_ref FROM rm_club_members")
      assert.are.equal(3, #rows)
      assert.are.same({ "ann", "bob" }, names(chess.members))
      assert.are.same({ "chess", "go" }, names(bob.clubs))
      assert.are.same({ "bob" }, names(RmPerson:filter{ clubs__name = "go" }))
      assert.are.same({ "chess" }, names(RmClub:filter{ members__name = "ann" }))
      bob.clubs:remove(chess)
      assert.are.same({ "ann" }, names(chess.members))
      go.members:clear()
      assert.are.equal(1, #orm.connection():execute_query("SELECT club_ref FROM rm_club_members"))
    end)

    it("prefetch over a custom through table", function()
      local chess = RmClub:create{ name = "chess" }
      chess.members:add(ann, cid)
      RmClub:create{ name = "go" }
      local n = counter()
      local clubs = RmClub:all():order_by("name"):prefetch_related("members"):list()
      assert.are.equal(2, n())
      local m = {}
      for _, p in ipairs(clubs[1].members) do m[#m + 1] = p.name end
      assert.are.same({ "ann", "cid" }, sorted(m))
      assert.are.equal(0, #clubs[2].members)
      assert.are.equal(2, n())
    end)
  end)

  describe("a through model with extra columns", function()
    it("add() with through_defaults fills the extra columns; defaults apply otherwise", function()
      local red = RmTeam:create{ name = "red" }
      red.players:add(ann, { through_defaults = { role = "captain", number = 10 } })
      red.players:add(bob)
      assert.are.same({ "ann", "bob" }, names(red.players))
      local m = RmMembership:get{ team = red, person = ann }
      assert.are.equal("captain", m.role)
      assert.are.equal(10, m.number)
      local mb = RmMembership:get{ team_id = red.id, person_id = bob.id }
      assert.are.equal("member", mb.role)
      assert.is_nil(mb.number)
      assert.are.equal(2, RmMembership:count())
    end)

    it("adding the same pair again keeps one row", function()
      local red = RmTeam:create{ name = "red" }
      red.players:add(ann, { through_defaults = { role = "captain" } })
      red.players:add(ann)
      ann.teams:add(red)
      assert.are.equal(1, RmMembership:count())
      assert.are.equal("captain", RmMembership:first().role)
    end)

    it("the relation and the through model's FKs work together in paths", function()
      local red = RmTeam:create{ name = "red" }
      local blue = RmTeam:create{ name = "blue" }
      red.players:add(ann, { through_defaults = { role = "captain" } })
      red.players:add(bob)
      blue.players:add(bob, { through_defaults = { role = "captain" } })
      assert.are.same({ "blue", "red" }, names(bob.teams))
      assert.are.same({ "ann", "bob" }, names(RmPerson:filter{ memberships__role = "captain" }))
      assert.are.same({ "red" }, names(RmTeam:filter{ memberships__person__name = "ann" }))
      assert.are.same({ "blue", "red" }, names(RmTeam:filter{ players__name = "bob" }))
      assert.are.same({ { "blue", 1 }, { "red", 2 } },
        RmTeam:annotate{ n = orm.functions.Count("players") }:order_by("name"):values_list("name", "n"):list())
      assert.are.same({ { team__name = "blue", person__name = "bob", role = "captain" } },
        RmMembership:filter{ team = blue }:values("team__name", "person__name", "role"):list())
      red.players:remove(bob)
      assert.are.equal(2, RmMembership:count())
      assert.are.same({ "ann" }, names(red.players))
      red:delete()
      assert.are.equal(1, RmMembership:count())
    end)
  end)

  describe("two ManyToManyFields to the same model", function()
    it("keep separate through tables", function()
      local acct = RmAccount:create{ name = "shop" }
      acct.followers:add(ann, bob)
      acct.blocked:add(cid)
      assert.are.same({ "ann", "bob" }, names(acct.followers))
      assert.are.same({ "cid" }, names(acct.blocked))
      assert.are.same({ "shop" }, names(ann.following))
      assert.are.equal(0, ann.blocked_by:count())
      assert.are.same({ "shop" }, names(cid.blocked_by))
      assert.are.equal(0, cid.following:count())
      assert.are.same({ "shop" }, names(RmAccount:filter{ blocked__name = "cid" }))
      assert.are.equal(0, RmAccount:filter{ followers__name = "cid" }:count())
      acct.followers:clear()
      assert.are.same({ "cid" }, names(acct.blocked))
      local n = counter()
      local a = RmAccount:all():prefetch_related("followers", "blocked"):first()
      assert.are.equal(3, n())
      assert.are.equal(0, #a.followers)
      assert.are.equal(1, #a.blocked)
    end)
  end)

  describe("manager errors", function()
    it("remove() with no instances is an OperationalError", function()
      local b = RmBook:create{ name = "Lua" }
      assert.is_true(E.OperationalError:is(catch(function() b.authors:remove() end)))
    end)

    it("add() of an unsaved instance is an OperationalError", function()
      local b = RmBook:create{ name = "Lua" }
      assert.is_true(E.OperationalError:is(catch(function() b.authors:add(RmPerson{ name = "zed" }) end)))
      assert.are.equal(0, b.authors:count())
    end)
  end)
end)
