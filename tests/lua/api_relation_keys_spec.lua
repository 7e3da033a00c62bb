-- Acceptance spec: relations whose key is not the plain "<name>_id" to a
-- primary key -- source_field (the column named otherwise, on the pk, a
-- self-referencing FK, a one-to-one and a many-to-many's keys) and
-- to_field (the key holds a unique non-pk field of the target), as
-- Tortoise's tests/test_source_field.py and fields/test_fk_with_unique.py
-- pin them down, written here in our own words.  Results are checked
-- against raw SQL on the declared columns.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local F, Q = orm.F, orm.Q
local fn = orm.functions

local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

-- every column named by source_field, the pk included
local RkNode = Model:extend("RkNode", {
  eyedee = fields.IntField{ primary_key = true, source_field = "node_key" },
  chars = fields.CharField{ max_length = 20, source_field = "node_chars", index = true },
  blip = fields.CharField{ max_length = 20, default = "BLIP", source_field = "node_blip" },
  nullable = fields.CharField{ max_length = 20, null = true, source_field = "node_nullable" },
  fk = fields.ForeignKeyField("models.RkNode", { related_name = "fkrev", null = true,
    source_field = "node_parent", on_delete = orm.NO_ACTION }),
  o2o = fields.OneToOneField("models.RkNode", { related_name = "o2o_rev", null = true,
    source_field = "node_twin", on_delete = orm.NO_ACTION }),
  rel_to = fields.ManyToManyField("models.RkNode", { related_name = "rel_from",
    through = "rk_node_links", forward_key = "link_to", backward_key = "link_from" }),
  Meta = { table = "rk_nodes" },
})

-- to_field: the key holds School.code (unique), not its pk
local RkSchool = Model:extend("RkSchool", {
  uuid = fields.UUIDField{ primary_key = true },
  name = fields.TextField{},
  code = fields.IntField{ unique = true },
  Meta = { table = "rk_schools" },
})
local RkStudent = Model:extend("RkStudent", {
  id = fields.IntField{ primary_key = true },
  name = fields.TextField{},
  school = fields.ForeignKeyField("models.RkSchool", { related_name = "students", to_field = "code" }),
  Meta = { table = "rk_students" },
})
local RkPrincipal = Model:extend("RkPrincipal", {
  id = fields.IntField{ primary_key = true },
  name = fields.TextField{},
  school = fields.OneToOneField("models.RkSchool", { related_name = "principal", to_field = "code",
    source_field = "school_code" }),
  Meta = { table = "rk_principals" },
})

local U1 = "6f1c1a52-3b7e-4c7a-9d55-0c9e1f6a0001"
local U2 = "6f1c1a52-3b7e-4c7a-9d55-0c9e1f6a0002"

local function raw(sql, params)
  return orm.connection():execute_query(sql, params or {})
end

local function chars_of(list)
  local out = {}
  for _, o in ipairs(list) do out[#out + 1] = o.chars end
  table.sort(out)
  return table.concat(out, ",")
end

describe("relation keys", function()
  before_each(function()
    orm.testing.init{ models = { RkNode, RkSchool, RkStudent, RkPrincipal } }
  end)
  after_each(function() orm.testing.finish() end)

  describe("source_field", function()
    it("names every column, the pk included, and reads them back", function()
      local a = RkNode:create{ chars = "aaa" }
      assert.is_not_nil(a.eyedee)
      assert.are.equal(a.eyedee, a.pk)
      local b = RkNode:create{ chars = "bbb", fk = a, o2o = a }
      local rows = raw("SELECT node_key, node_chars, node_blip, node_parent, node_twin FROM rk_nodes ORDER BY node_key")
      assert.are.equal(2, #rows)
      assert.are.equal("BLIP", rows[2].node_blip)
      assert.are.equal(a.eyedee, rows[2].node_parent)
      assert.are.equal(a.eyedee, rows[2].node_twin)
      assert.are.equal(a, RkNode:get{ eyedee = a.eyedee })
      assert.are.equal(b, RkNode:get{ chars = "bbb" })
      assert.are.equal(a.eyedee, b.fk_id)
    end)

    it("a self-referencing FK and O2O work through filters, paths and values", function()
      local a = RkNode:create{ chars = "aaa" }
      local b = RkNode:create{ chars = "bbb", fk = a }
      RkNode:create{ chars = "ccc", fk = a, o2o = b }
      assert.are.equal("bbb,ccc", chars_of(RkNode:filter{ fk = a }:list()))
      assert.are.equal("bbb,ccc", chars_of(RkNode:filter{ fk_id = a.pk }:list()))
      assert.are.equal("bbb,ccc", chars_of(RkNode:filter{ fk__chars = "aaa" }:list()))
      assert.are.equal("ccc", chars_of(RkNode:filter{ o2o__chars = "bbb" }:list()))
      assert.are.equal("aaa", chars_of(RkNode:filter{ fk__isnull = true }:list()))
      assert.are.equal("aaa", chars_of(RkNode:filter{ fkrev__chars = "ccc" }:list()))
      assert.are.equal("bbb", chars_of(RkNode:filter{ o2o_rev__chars = "ccc" }:list()))
      local v = RkNode:filter{ chars = "bbb" }:values("fk__chars")
      assert.are.same({ { fk__chars = "aaa" } }, v:list())
      local r = RkNode:filter{ chars = "aaa" }:values("fkrev__chars"):order_by("fkrev__chars"):list()
      assert.are.equal("bbb", r[1].fkrev__chars)
      assert.are.equal("ccc", r[2].fkrev__chars)
    end)

    it("loads related rows lazily, by select_related, fetch_related and prefetch_related", function()
      local a = RkNode:create{ chars = "aaa" }
      local b = RkNode:create{ chars = "bbb", fk = a }
      local c = RkNode:create{ chars = "ccc", fk = a, o2o = b }
      local c1 = RkNode:get{ eyedee = c.eyedee }
      assert.are.equal(a, c1.fk)
      assert.are.equal(b, c1.o2o)
      local c2 = RkNode:select_related("fk", "o2o"):get{ eyedee = c.eyedee }
      assert.are.equal("aaa", c2.fk.chars)
      assert.are.equal("bbb", c2.o2o.chars)
      local c3 = RkNode:get{ eyedee = c.eyedee }
      c3:fetch_related("fk")
      assert.are.equal(a, c3.fk)
      local a1 = RkNode:prefetch_related("fkrev", "o2o_rev"):get{ eyedee = a.eyedee }
      assert.are.equal("bbb,ccc", chars_of(a1.fkrev:list()))
      local b1 = RkNode:prefetch_related("o2o_rev"):get{ eyedee = b.eyedee }
      assert.are.equal(c, b1.o2o_rev)
      assert.are.equal("bbb,ccc", chars_of(RkNode:get{ eyedee = a.eyedee }.fkrev:list()))
    end)

    it("a many-to-many with forward_key / backward_key works both ways", function()
      local a = RkNode:create{ chars = "aaa" }
      local b = RkNode:create{ chars = "bbb" }
      a.rel_to:add(b)
      local rows = raw("SELECT link_from, link_to FROM rk_node_links")
      assert.are.equal(1, #rows)
      assert.are.equal(a.pk, rows[1].link_from)
      assert.are.equal(b.pk, rows[1].link_to)
      assert.are.equal("bbb", chars_of(RkNode:get{ eyedee = a.pk }.rel_to:list()))
      assert.are.equal("aaa", chars_of(RkNode:get{ pk = b.eyedee }.rel_from:list()))
      assert.are.equal("bbb", chars_of(RkNode:filter{ rel_from = a }:list()))
      assert.are.equal("aaa", chars_of(RkNode:filter{ rel_to = b }:list()))
      local b1 = RkNode:prefetch_related("rel_from"):get{ eyedee = b.eyedee }
      assert.are.equal("aaa", chars_of(b1.rel_from:list()))
      b.rel_from:add(b)
      assert.are.equal("aaa,bbb", chars_of(b.rel_from:list()))
    end)

    it("F, functions, aggregates and group_by read the named columns", function()
      local a = RkNode:create{ chars = "  aaa " }
      RkNode:filter{ eyedee = a.eyedee }:update{ chars = fn.Trim("chars") }
      assert.are.equal("aaa", RkNode:get{ eyedee = a.eyedee }.chars)
      RkNode:filter{ eyedee = a.eyedee }:update{ nullable = F"blip" }
      assert.are.equal("BLIP", RkNode:get{ eyedee = a.eyedee }.nullable)
      RkNode:create{ chars = "bbb", fk = a }
      RkNode:create{ chars = "ccc", fk = a }
      local o = RkNode:filter{ chars = "aaa" }:annotate{
        all = fn.Count("fkrev", { _filter = Q{ chars = "aaa" } }),
        one = fn.Count("fkrev", { _filter = Q{ fkrev__chars = "bbb" } }),
        no = fn.Count("fkrev", { _filter = Q{ fkrev__chars = "aaa" } }),
      }:first()
      assert.are.equal(2, o.all)
      assert.are.equal(1, o.one)
      assert.are.equal(0, o.no)
      assert.are.equal(a, RkNode:filter{ eyedee__lt = F"eyedee" + 1 }:order_by("eyedee"):first())
      local g = RkNode:annotate{ n = fn.Count("eyedee") }:group_by("blip"):values("blip", "n"):list()
      assert.are.same({ { blip = "BLIP", n = 3 } }, g)
    end)

    it("bulk_update writes source_field columns, keyed by a source_field pk", function()
      local a = RkNode:create{ chars = "aaa" }
      local b = RkNode:create{ chars = "bbb" }
      a.chars, b.chars = "AAA", "BBB"
      a.fk, b.fk = b, a
      assert.are.equal(2, RkNode:bulk_update({ a, b }, { "chars", "fk" }))
      local rows = raw("SELECT node_chars, node_parent FROM rk_nodes ORDER BY node_key")
      assert.are.equal("AAA", rows[1].node_chars)
      assert.are.equal(b.pk, rows[1].node_parent)
      assert.are.equal("BBB", rows[2].node_chars)
      assert.are.equal(a.pk, rows[2].node_parent)
    end)
  end)

  describe("to_field", function()
    local s1, s2
    before_each(function()
      s1 = RkSchool:create{ uuid = U1, name = "School1", code = 1024 }
      s2 = RkSchool:create{ uuid = U2, name = "School2", code = 2048 }
    end)

    it("the key holds the target's to_field, in the column and the attribute", function()
      local st = RkStudent:create{ name = "Jeon", school = s1 }
      assert.are.equal(1024, st.school_id)
      local rows = raw("SELECT school_id FROM rk_students")
      assert.are.equal(1024, rows[1].school_id)
      local st2 = RkStudent:create{ name = "Kim", school_id = s2.code }
      assert.are.equal(s2, st2.school)
      assert.are.equal(s1, RkStudent:get{ id = st.id }.school)
    end)

    it("follows to_field through filters, paths, values and reverse relations", function()
      RkStudent:create{ id = 1, name = "Jeon", school = s1 }
      RkStudent:create{ id = 2, name = "Kim", school = s2 }
      RkStudent:create{ id = 3, name = "Lee", school = s2 }
      assert.are.equal(1, RkStudent:filter{ school = s1 }:count())
      assert.are.equal(2, RkStudent:filter{ school_id = 2048 }:count())
      assert.are.equal(2, RkStudent:filter{ school__name = "School2" }:count())
      assert.are.equal(2, RkStudent:filter{ school__uuid = U2 }:count())
      assert.are.equal(2, RkStudent:filter{ school__pk = U2 }:count())
      assert.are.equal(2, RkStudent:filter{ school__code = 2048 }:count())
      assert.are.equal(1, RkSchool:filter{ students__name = "Lee" }:count())
      assert.are.equal(s2, RkSchool:get{ students__name = "Lee" })
      local v = RkStudent:filter{ id = 1 }:values("school_id", "school__name"):list()
      assert.are.same({ { school_id = 1024, school__name = "School1" } }, v)
      assert.are.equal(3, RkStudent:filter{ school__in = { s1, s2 } }:count())
      assert.are.equal(3, RkStudent:filter{ school__in = { s1, 2048 } }:count())
      assert.are.equal(1, RkStudent:filter(Q{ school = s2 } & Q{ name = "Lee" }):count())
      assert.are.equal(1, RkStudent:exclude{ school = s2 }:count())
      assert.are.equal(2, s2.students:count())
      assert.are.equal("Kim", s2.students:order_by("id"):first().name)
      assert.are.equal(0, RkSchool:get{ code = 1024 }.students:filter{ name = "Kim" }:count())
      local lee = RkStudent:get{ name = "Lee" }
      s1.students:add(lee)
      assert.are.equal(1024, raw("SELECT school_id FROM rk_students WHERE id = 3")[1].school_id)
    end)

    it("select_related, prefetch_related and fetch_related match on to_field", function()
      RkStudent:create{ id = 1, name = "Jeon", school = s1 }
      RkStudent:create{ id = 2, name = "Kim", school = s2 }
      local a = RkStudent:select_related("school"):order_by("id"):list()
      assert.are.equal("School1", a[1].school.name)
      assert.are.equal("School2", a[2].school.name)
      local b = RkStudent:prefetch_related("school"):order_by("id"):list()
      assert.are.equal("School1", b[1].school.name)
      assert.are.equal("School2", b[2].school.name)
      local s = RkSchool:prefetch_related("students"):order_by("code"):list()
      assert.are.equal("Jeon", s[1].students:list()[1].name)
      assert.are.equal("Kim", s[2].students:list()[1].name)
      local st = RkStudent:get{ id = 1 }
      st:fetch_related("school")
      assert.are.equal(s1, st.school)
    end)

    it("a one-to-one with to_field and source_field works both ways", function()
      local p = RkPrincipal:create{ name = "Park", school = s2 }
      assert.are.equal(2048, p.school_id)
      assert.are.equal(2048, raw("SELECT school_code FROM rk_principals")[1].school_code)
      assert.are.equal(p, RkSchool:get{ code = 2048 }.principal)
      assert.is_nil(RkSchool:get{ code = 1024 }.principal)
      assert.are.equal(p, RkSchool:prefetch_related("principal"):get{ code = 2048 }.principal)
      assert.are.equal(s2, RkSchool:get{ principal__name = "Park" })
      assert.are.equal("School2", RkPrincipal:select_related("school"):first().school.name)
      is(E.IntegrityError, catch(function() return RkPrincipal:create{ name = "Again", school = s2 } end))
    end)

    it("update and bulk_update write the to_field value", function()
      local st = RkStudent:create{ id = 1, name = "Jeon", school = s1 }
      RkStudent:filter{ id = 1 }:update{ school = s2 }
      assert.are.equal(2048, raw("SELECT school_id FROM rk_students")[1].school_id)
      assert.are.equal(0, s1.students:count())
      RkStudent:filter{ id = 1 }:update{ school_id = 1024 }
      assert.are.equal(s1, RkStudent:get{ id = 1 }.school)
      st = RkStudent:get{ id = 1 }
      st.school = s2
      st:save()
      assert.are.equal(2048, raw("SELECT school_id FROM rk_students")[1].school_id)
      st.school = s1
      RkStudent:bulk_update({ st }, { "school" })
      assert.are.equal(1024, raw("SELECT school_id FROM rk_students")[1].school_id)
    end)

    it("refuses an unsaved target, a missing key and a dangling value", function()
      local unsaved = RkSchool{ uuid = "6f1c1a52-3b7e-4c7a-9d55-0c9e1f6a0009", name = "S", code = 7 }
      is(E.OperationalError, catch(function() return RkStudent:create{ name = "x", school = unsaved } end))
      is(E.IntegrityError, catch(function() return RkStudent:create{ name = "x" } end))
      is(E.IntegrityError, catch(function() return RkStudent:create{ name = "x", school_id = 9999 } end))
      assert.are.equal(0, RkStudent:all():count())
    end)

    it("cascades deletes along to_field", function()
      RkStudent:create{ id = 1, name = "Jeon", school = s1 }
      RkStudent:create{ id = 2, name = "Kim", school = s2 }
      s1:delete()
      assert.are.equal(1, RkStudent:all():count())
      assert.are.equal("Kim", RkStudent:first().name)
    end)
  end)

  describe("declaring to_field", function()
    it("naming no field, or a field that is not unique, is a ConfigurationError", function()
      local Bad = Model:extend("RkBad", {
        school = fields.ForeignKeyField("models.RkSchool", { to_field = "nope" }),
        Meta = { table = "rk_bad" },
      })
      local e = catch(function() orm.testing.init{ models = { RkSchool, Bad } } end)
      is(E.ConfigurationError, e)
      assert.truthy(e.message:find("nope", 1, true))
      orm.testing.finish()
      local Bad2 = Model:extend("RkBad2", {
        school = fields.ForeignKeyField("models.RkSchool", { to_field = "name" }),
        Meta = { table = "rk_bad2" },
      })
      e = catch(function() orm.testing.init{ models = { RkSchool, Bad2 } } end)
      is(E.ConfigurationError, e)
      assert.truthy(e.message:find("not unique", 1, true))
    end)
  end)
end)
