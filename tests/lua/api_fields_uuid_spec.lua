-- Acceptance spec: UUIDField, as Tortoise's tests/fields/test_uuid.py and
-- test_fk_uuid.py pin it down, in our own words: a UUID primary key gets
-- a random version-4 value when none is given (libuuid), values are
-- canonical lower-case strings, they round-trip on every backend, and
-- UUID keys work in bulk operations and as the target of relations.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local V4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local UuDoc = Model:extend("UuDoc", {
  id = fields.UUIDField{ primary_key = true },
  data = fields.UUIDField{},
  other = fields.UUIDField{ null = true, default = orm.uuid4 },
  title = fields.CharField{ max_length = 20, null = true },
  Meta = { table = "uu_docs" },
})
local UuNote = Model:extend("UuNote", {
  id = fields.IntField{ primary_key = true },
  doc = fields.ForeignKeyField("models.UuDoc", { related_name = "notes" }),
  Meta = { table = "uu_notes" },
})

local function raw(sql)
  return orm.connection():execute_query(sql, {})
end

describe("UUIDField", function()
  before_each(function() orm.testing.init{ models = { UuDoc, UuNote } } end)
  after_each(function() orm.testing.finish() end)

  it("a primary key without a value gets a new random UUID4", function()
    local a = UuDoc:create{ data = orm.uuid4() }
    local b = UuDoc:create{ data = orm.uuid4() }
    assert.matches(V4, a.id)
    assert.matches(V4, b.id)
    assert.are_not.equal(a.id, b.id)
    assert.are.equal(a.id, a.pk)
    -- given at construction (as Tortoise's default=uuid4): known before save
    local c = UuDoc{ data = orm.uuid4() }
    assert.matches(V4, c.id)
    c:save()
    assert.are.equal(3, UuDoc:all():count())
    assert.matches(V4, a.other) -- default = orm.uuid4 on another field
  end)

  it("round-trips: stored, read back, filtered by, canonical lower case", function()
    local id = "7A1C3E2B-9D4F-4E6A-8B1C-2D3E4F5A6B7C"
    local d = UuDoc:create{ id = id, data = "00000000-0000-4000-8000-000000000001" }
    assert.are.equal(id:lower(), d.id)
    local back = UuDoc:get{ id = id:lower() }
    assert.are.equal("00000000-0000-4000-8000-000000000001", back.data)
    assert.are.equal(d, UuDoc:get{ pk = id })
    assert.are.equal(1, UuDoc:filter{ id__in = { id, orm.uuid4() } }:count())
    assert.are.equal(1, #raw("SELECT * FROM uu_docs"))
    is(E.FieldError, catch(function() return UuDoc:create{ data = "not-a-uuid" } end))
    is(E.IntegrityError, catch(function() return UuDoc:create{} end)) -- data is required
  end)

  it("bulk_create fills each object's key, bulk_update finds rows by it", function()
    local list = UuDoc:bulk_create({ UuDoc{ data = orm.uuid4(), title = "a" },
                                     UuDoc{ data = orm.uuid4(), title = "b" } })
    assert.matches(V4, list[1].id)
    assert.are_not.equal(list[1].id, list[2].id)
    assert.are.equal("b", UuDoc:get{ id = list[2].id }.title)
    list[1].title, list[2].title = "A", "B"
    assert.are.equal(2, UuDoc:bulk_update(list, { "title" }))
    assert.are.equal("A", UuDoc:get{ id = list[1].id }.title)
    local ids = UuDoc:in_bulk({ list[1].id, list[2].id })
    assert.are.equal("B", ids[list[2].id].title)
    assert.are.equal(2, UuDoc:filter{ id__in = { list[1].id, list[2].id } }:delete())
  end)

  it("is the target of a foreign key", function()
    local d = UuDoc:create{ data = orm.uuid4() }
    local n = UuNote:create{ id = 1, doc = d }
    assert.are.equal(d.id, n.doc_id)
    assert.are.equal(d, UuNote:get{ id = 1 }.doc)
    assert.are.equal(1, d.notes:count())
    assert.are.equal(d.id, UuNote:select_related("doc"):first().doc.id)
    assert.are.equal(1, UuNote:filter{ doc__data = d.data }:count())
    assert.are.equal(1, #UuDoc:prefetch_related("notes"):get{ id = d.id }.notes:list())
  end)
end)
