-- Acceptance spec: the edge cases Tortoise ORM's own tests pin down
-- (test_model_methods.py, test_queryset.py, test_values.py,
-- fields/test_fk.py, test_prefetching.py), written here in our own words:
-- the behaviour and the error class each asserts.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local TeLeague = Model:extend("TeLeague", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "te_leagues", ordering = { "name" } },
})

local TeClub = Model:extend("TeClub", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 30, unique = true },
  rank   = fields.IntField{ default = 0 },
  league = fields.ForeignKeyField("models.TeLeague", { related_name = "clubs" }),
  Meta = { table = "te_clubs" },
})

local TeBadge = Model:extend("TeBadge", {
  id    = fields.IntField{ primary_key = true },
  label = fields.CharField{ max_length = 30 },
  club  = fields.OneToOneField("models.TeClub", { related_name = "badge", null = true }),
  fans  = fields.ManyToManyField("models.TeLeague", { related_name = "badges" }),
  Meta = { table = "te_badges" },
})

local TeCode = Model:extend("TeCode", {
  code = fields.CharField{ primary_key = true, max_length = 5 },
  name = fields.CharField{ max_length = 10 },
  Meta = { table = "te_codes" },
})

-- a many-to-many to a model whose primary key is a one-to-one to a
-- BIGINT key: the through table's column is a BIGINT too
local TeBig = Model:extend("TeBig", {
  id = fields.BigIntField{ primary_key = true },
  Meta = { table = "te_bigs" },
})
local TeProfile = Model:extend("TeProfile", {
  big = fields.OneToOneField("models.TeBig", { primary_key = true, related_name = "profile" }),
  Meta = { table = "te_profiles" },
})
local TeGroup = Model:extend("TeGroup", {
  id = fields.IntField{ primary_key = true },
  members = fields.ManyToManyField("models.TeProfile", { related_name = "groups" }),
  Meta = { table = "te_groups" },
})

-- constant defaults become the columns' DEFAULT clauses
local TeDefaults = Model:extend("TeDefaults", {
  id    = fields.IntField{ primary_key = true },
  label = fields.CharField{ max_length = 10, default = "it's" },
  count = fields.IntField{ default = 7 },
  on    = fields.BooleanField{ default = true },
  price = fields.DecimalField{ max_digits = 6, decimal_places = 2, default = "1.50" },
  kind  = fields.CharEnumField{ enum_type = { "a", "b" }, max_length = 1, default = "b" },
  note  = fields.TextField{ null = true },
  Meta = { table = "te_defaults" },
})

local TeBase = Model:extend("TeBase", {
  name = fields.CharField{ max_length = 10 },
  Meta = { abstract = true },
})

local north, south
describe("Tortoise's edge cases", function()
  before_each(function()
    orm.testing.init{ models = { TeLeague, TeClub, TeBadge, TeCode, TeBig, TeProfile, TeGroup, TeDefaults, TeBase } }
    north = TeLeague:create{ id = 1, name = "north" }
    south = TeLeague:create{ id = 2, name = "south" }
    -- generated keys (an explicit one would leave PostgreSQL's sequence
    -- behind, and the copies below take the next generated key)
    TeClub:create{ name = "ants", rank = 3, league = north }
    TeClub:create{ name = "bees", rank = 1, league = north }
    TeClub:create{ name = "cats", rank = 2, league = south }
  end)
  after_each(function() orm.testing.finish() end)

  describe("latest / earliest", function()
    it("name their fields, else FieldError (no Meta.ordering)", function()
      is(E.FieldError, catch(function() return TeClub:latest() end))
      is(E.FieldError, catch(function() return TeClub:all():earliest() end))
      assert.are.equal("ants", TeClub:latest("rank").name)
      assert.are.equal("bees", TeClub:earliest("rank").name)
      assert.are.equal("ants", TeClub:latest("-name").name)
    end)

    it("follow Meta.ordering when the model has one", function()
      assert.are.equal("south", TeLeague:latest().name)
      assert.are.equal("north", TeLeague:earliest().name)
    end)

    it("an unknown field is a FieldError", function()
      is(E.FieldError, catch(function() return TeClub:latest("nope") end))
    end)
  end)

  describe("queryset update", function()
    it("of the primary key is an IntegrityError, nothing changed", function()
      local e = catch(function() return TeClub:filter{ name = "ants" }:update{ id = 10 } end)
      is(E.IntegrityError, e)
      assert.truthy(e.message:find("PK", 1, true))
      assert.are.equal(3, TeClub:all():count())
      assert.is_not_nil(TeClub:get_or_none{ name = "ants" })
    end)

    it("of a many-to-many or an unknown name is a FieldError", function()
      is(E.FieldError, catch(function() return TeBadge:all():update{ fans = 1 } end))
      is(E.FieldError, catch(function() return TeClub:all():update{ nope = 1 } end))
    end)
  end)

  describe("values", function()
    it("refuses a key named twice", function()
      local e = catch(function() return TeClub:all():values("name", "name"):list() end)
      is(E.FieldError, e)
      assert.truthy(e.message:find("Duplicate key name", 1, true))
      is(E.FieldError, catch(function() return TeClub:all():values{ "name", name = "rank" }:list() end))
    end)

    it("values_list allows it (its columns are positional)", function()
      local rows = TeClub:filter{ name = "ants" }:values_list("name", "name"):list()
      assert.are.same({ { "ants", "ants" } }, rows)
    end)

    it("an alias to an unknown field is a FieldError", function()
      is(E.FieldError, catch(function() return TeClub:all():values{ x = "nope" }:list() end))
    end)
  end)

  describe("saving copies", function()
    it("pk set to nil, then save: a new row", function()
      local c = TeClub:get{ name = "ants" }
      c.pk = nil
      c.name = "ants2"
      c:save()
      assert.is_not_nil(c.pk)
      assert.are_not.equal(TeClub:get{ name = "ants" }.pk, c.pk)
      assert.are.equal(4, TeClub:all():count())
      assert.are.equal("ants", TeClub:get{ name = "ants" }.name)
    end)

    it("clone() is unsaved without a pk; save inserts it", function()
      local c = TeClub:get{ name = "bees" }:clone()
      assert.is_nil(c.pk)
      c.name = "bees2"
      c:save()
      assert.are.equal(4, TeClub:all():count())
    end)

    it("clone{pk=} inserts once, then updates", function()
      local c = TeClub:get{ name = "bees" }:clone{ pk = 50 }
      c.name = "bees50"
      c:save()
      c.rank = 9
      c:save()
      assert.are.equal(4, TeClub:all():count())
      assert.are.equal(9, TeClub:get{ id = 50 }.rank)
    end)

    it("an unsaved instance carrying an existing pk inserts: IntegrityError", function()
      local c = TeClub{ id = TeClub:get{ name = "ants" }.id, name = "again", league = north }
      is(E.IntegrityError, catch(function() c:save() end))
      assert.are.equal("ants", TeClub:get{ name = "ants" }.name)
    end)

    it("an unsaved instance is not deleted, whatever pk it carries: OperationalError", function()
      local ants = TeClub:get{ name = "ants" }
      local c = TeClub{ id = ants.id, name = "ants", league = north }
      local e = catch(function() c:delete() end)
      is(E.OperationalError, e)
      assert.truthy(e.message:find("unpersisted", 1, true))
      is(E.OperationalError, catch(function() ants:clone():delete() end))
      assert.are.equal(3, TeClub:all():count())
      -- rows read back (a raw query too) are saved ones
      TeClub:raw("SELECT * FROM te_clubs WHERE name = 'ants'")[1]:delete()
      assert.are.equal(2, TeClub:all():count())
    end)
  end)

  describe("copies of a model whose key is not generated", function()
    it("clone() without a pk is a ParamsError; clone{pk=} saves a second row", function()
      local a = TeCode:create{ code = "A", name = "first" }
      is(E.ParamsError, catch(function() return a:clone() end))
      local b = a:clone{ pk = "B" }
      b:save()
      assert.are.equal(2, TeCode:all():count())
      assert.are.equal("first", TeCode:get{ code = "B" }.name)
    end)

    it("pk set to nil, then save: ValidationError (the key is required)", function()
      local a = TeCode:create{ code = "A", name = "first" }
      a.pk = nil
      is(E.ValidationError, catch(function() a:save() end))
      assert.are.equal(1, TeCode:all():count())
    end)
  end)

  describe("saving an expression", function()
    it("F in a field is computed by the database; the attribute keeps it", function()
      local c = TeClub:get{ name = "ants" }
      c.rank = orm.F"rank" + 10
      c.name = "ants!"
      c:save()
      assert.are.equal("F(rank) + 10", tostring(c.rank))
      c:refresh_from_db()
      assert.are.equal(13, c.rank)
      assert.are.equal("ants!", c.name)
    end)

    it("with update_fields, only those", function()
      local c = TeClub:get{ name = "bees" }
      c.rank = orm.F"rank" * 5
      c.name = "not saved"
      c:save{ update_fields = { "rank" } }
      local fresh = TeClub:get{ id = c.id }
      assert.are.equal(5, fresh.rank)
      assert.are.equal("bees", fresh.name)
    end)

    it("an unsaved instance cannot take one: OperationalError", function()
      local c = TeClub{ name = "new", league = north }
      c.rank = orm.F"rank" + 1
      is(E.OperationalError, catch(function() c:save() end))
      assert.are.equal(3, TeClub:all():count())
    end)
  end)

  describe("the schema", function()
    it("gives constant defaults to the columns: a row inserted by plain SQL gets them", function()
      orm.connection():execute_query("INSERT INTO te_defaults (id) VALUES (1)", {})
      local d = TeDefaults:get{ id = 1 }
      assert.are.equal("it's", d.label)
      assert.are.equal(7, d.count)
      assert.is_true(d.on)
      assert.are.equal(orm.Decimal("1.50"), d.price)
      assert.are.equal("b", d.kind)
      assert.is_nil(d.note)
    end)
  end)

  describe("update with a function", function()
    it("computes the value in the database: Upper, Concat, Length", function()
      TeClub:filter{ name = "ants" }:update{ name = orm.functions.Upper("name") }
      assert.is_not_nil(TeClub:get_or_none{ name = "ANTS" })
      TeClub:filter{ name = "bees" }:update{ name = orm.functions.Concat("name", "!") }
      assert.is_not_nil(TeClub:get_or_none{ name = "bees!" })
      TeClub:filter{ name = "cats" }:update{ rank = orm.functions.Length("name") }
      assert.are.equal(4, TeClub:get{ name = "cats" }.rank)
    end)
  end)

  describe("annotations", function()
    it("a RawSQL annotation may be named like a field, and wins in values", function()
      local id = TeClub:get{ name = "ants" }.id
      local rows = TeClub:filter{ id = id }:annotate{ id = orm.RawSQL("id + 1") }:values("id"):list()
      assert.are.equal(id + 1, rows[1].id)
      is(E.FieldError, catch(function() return TeClub:annotate{ id = orm.F"rank" + 1 } end))
    end)
  end)

  describe("update_from_dict", function()
    it("leaves names that are no field alone", function()
      local c = TeClub:get{ name = "ants" }
      assert.are.equal(c, c:update_from_dict{ rank = "7", bad_name = "x" })
      assert.are.equal(7, c.rank)
      assert.is_nil(rawget(c, "bad_name"))
      c:save()
      assert.are.equal(7, TeClub:get{ name = "ants" }.rank)
    end)

    it("a many-to-many is a ConfigurationError", function()
      local b = TeBadge:create{ id = 1, label = "x" }
      is(E.ConfigurationError, catch(function() return b:update_from_dict{ fans = {} } end))
    end)
  end)

  describe("get_or_create / update_or_create with defaults", function()
    it("a field the lookup and the defaults give differently: ParamsError on create", function()
      local e = catch(function()
        return TeClub:get_or_create{ name = "dogs", defaults = { name = "eels", league = north } }
      end)
      is(E.ParamsError, e)
      assert.truthy(e.message:find("Conflict value with key='name'", 1, true))
      assert.are.equal(3, TeClub:all():count())
    end)

    it("no check when the row is found: the defaults update it", function()
      local c, created = TeClub:update_or_create{ name = "ants", defaults = { rank = 8 } }
      assert.is_false(created)
      assert.are.equal(8, TeClub:get{ name = "ants" }.rank)
      local d, made = TeClub:get_or_create{ name = "dogs", defaults = { name = "dogs", league = south } }
      assert.is_true(made)
      assert.are.equal("dogs", d.name)
    end)
  end)

  describe("the constructor", function()
    it("refuses reverse relations and many-to-many: ConfigurationError", function()
      is(E.ConfigurationError, catch(function() return TeLeague{ clubs = {} } end))
      is(E.ConfigurationError, catch(function() return TeClub{ badge = {} } end))
      is(E.ConfigurationError, catch(function() return TeLeague{ badges = {} } end))
      is(E.ConfigurationError, catch(function() return TeBadge{ fans = {} } end))
    end)

    it("an abstract model has no instances: ConfigurationError", function()
      is(E.ConfigurationError, catch(function() return TeBase{ name = "x" } end))
    end)
  end)

  describe("foreign keys", function()
    it("an instance of another model is a ValidationError", function()
      local c = TeClub:get{ name = "ants" }
      local other = TeClub:get{ name = "bees" }
      is(E.ValidationError, catch(function() c.league = other end))
      is(E.ValidationError, catch(function() return TeClub:create{ id = 9, name = "x", league = other } end))
      is(E.ValidationError, catch(function() return TeClub:filter{ name = "ants" }:update{ league = other } end))
      is(E.ValidationError, catch(function()
        return TeClub:bulk_create{ TeClub{ id = 9, name = "x", league = other } }
      end))
      c.league = south
      c:save()
      assert.are.equal(2, TeClub:get{ name = "ants" }.league_id)
    end)

    it("a required one saved as null is an IntegrityError", function()
      is(E.IntegrityError, catch(function() return TeClub:create{ id = 9, name = "x" } end))
      local c = TeClub:get{ name = "ants" }
      c.league_id = orm.null
      is(E.IntegrityError, catch(function() c:save() end))
      assert.are.equal(1, TeClub:get{ name = "ants" }.league_id)
    end)
  end)

  describe("keys that are relations", function()
    it("a many-to-many to a one-to-one primary key over a BIGINT", function()
      local big = TeBig:create{ id = 5000000000 }
      local p = TeProfile:create{ big = big }
      local g = TeGroup:create{ id = 1 }
      g.members:add(p)
      local got = g.members:list()
      assert.are.equal(1, #got)
      assert.are.equal(5000000000, got[1].pk)
      assert.are.equal(1, p.groups:count())
    end)
  end)

  describe("prefetch_related", function()
    it("an unknown relation: FieldError by name, OperationalError in a Prefetch", function()
      is(E.FieldError, catch(function() return TeLeague:all():prefetch_related("nope"):list() end))
      is(E.OperationalError, catch(function()
        return TeLeague:all():prefetch_related(orm.Prefetch("nope", TeClub:all())):list()
      end))
      is(E.FieldError, catch(function() return TeLeague:all():prefetch_related("name"):list() end))
    end)
  end)
end)
