-- Acceptance spec: JSONField lookups as Tortoise's tests/fields/test_json.py
-- pins them down, in our own words, with the same results on SQLite,
-- PostgreSQL and MariaDB: contains / contained_by (PostgreSQL's @> / <@
-- rules; MariaDB's JSON_CONTAINS; SQLite a function on jansson), filter
-- with key paths and lookups, and isnull telling SQL NULL from JSON null.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local JsDoc = Model:extend("JsDoc", {
  id = fields.IntField{ primary_key = true },
  data = fields.JSONField{ null = true },
  Meta = { table = "js_docs" },
})

local function ids(qs)
  local t = qs:order_by("id"):values_list("id", { flat = true }):list()
  return table.concat(t, ",")
end

describe("JSONField lookups", function()
  before_each(function()
    orm.testing.init{ models = { JsDoc } }
    JsDoc:create{ id = 1, data = { breed = "labrador", age = 3, good = true,
      owner = { name = "Bob", last = orm.null, other_pets = { { name = "Fishy" } } } } }
    JsDoc:create{ id = 2, data = { breed = "husky", age = 7, good = false,
      owner = { name = "Goldast", last = orm.null, other_pets = { { name = orm.null } } } } }
    JsDoc:create{ id = 3, data = { "text", 3, { msg = "msg2" } } }
    JsDoc:create{ id = 4, data = { "text", "tortoise" } }
    JsDoc:create{ id = 5, data = "null" }   -- JSON null (JSON text)
    JsDoc:create{ id = 6, data = orm.null } -- SQL NULL
  end)
  after_each(function() orm.testing.finish() end)

  it("filter compares the value at a key path", function()
    assert.are.equal(1, JsDoc:get{ data__filter = { breed = "labrador" } }.id)
    assert.are.equal(2, JsDoc:get{ data__filter = { owner__name = "Goldast" } }.id)
    assert.are.equal(1, JsDoc:get{ data__filter = { owner__other_pets__0__name = "Fishy" } }.id)
    is(JsDoc.DoesNotExist, catch(function() return JsDoc:get{ data__filter = { breed = "NotFound" } } end))
    is(JsDoc.DoesNotExist, catch(function()
      return JsDoc:get{ data__filter = { owner__other_pets__0__name = "NotFound" } }
    end))
    assert.are.equal("1", ids(JsDoc:filter{ data__filter = { breed = "labrador", age = 3 } }))
    assert.are.equal("", ids(JsDoc:filter{ data__filter = { breed = "Labrador" } })) -- case matters
    assert.are.equal("3", ids(JsDoc:filter{ data__filter = { ["2__msg"] = "msg2" } }))
  end)

  it("filter takes not, comparisons, in, booleans", function()
    assert.are.equal(1, JsDoc:get{ data__filter = { breed__not = "husky", age__gt = 0 } }.id)
    assert.are.equal("2", ids(JsDoc:filter{ data__filter = { age__gt = 5 } }))
    assert.are.equal("1,2", ids(JsDoc:filter{ data__filter = { age__gte = 3 } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__filter = { age__lt = 5 } }))
    assert.are.equal("1,2", ids(JsDoc:filter{ data__filter = { age__in = { 3, 7 } } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__filter = { breed__in = { "labrador", "x" } } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__filter = { good = true } }))
    assert.are.equal("2", ids(JsDoc:filter{ data__filter = { good = false } }))
  end)

  it("filter isnull: JSON null or no such key", function()
    assert.are.equal("2", ids(JsDoc:filter{ data__filter = { owner__other_pets__0__name__isnull = true,
                                                           breed__isnull = false } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__filter = { owner__other_pets__0__name__not_isnull = true } }))
    assert.are.equal("1,2", ids(JsDoc:filter{ data__filter = { owner__last__isnull = true, breed__not_isnull = true } }))
    assert.are.equal("", ids(JsDoc:filter{ data__filter = { owner__name__isnull = false, breed = "x" } }))
  end)

  it("contains: objects by their keys, arrays by their elements", function()
    assert.are.equal("3", ids(JsDoc:filter{ data__contains = { { msg = "msg2" } } }))
    assert.are.equal("2", ids(JsDoc:filter{ data__contains = { breed = "husky" } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__contains = { owner = { name = "Bob" } } }))
    assert.are.equal("1", ids(JsDoc:filter{ data__contains = { owner = { other_pets = { { name = "Fishy" } } } } }))
    assert.are.equal("3,4", ids(JsDoc:filter{ data__contains = { "text" } }))
    assert.are.equal("3,4", ids(JsDoc:filter{ data__contains = '"text"' })) -- an array holds a scalar
    assert.are.equal("", ids(JsDoc:filter{ data__contains = { breed = "husky", age = 3 } }))
  end)

  it("contained_by: every part of the row's value is in the one given", function()
    assert.are.equal("4", ids(JsDoc:filter{ data__contained_by = { "text", "tortoise", "msg" } }))
    assert.are.equal("3,4", ids(JsDoc:filter{ data__contained_by = { "text", "tortoise", 3, { msg = "msg2" } } }))
    assert.are.equal("", ids(JsDoc:filter{ data__contained_by = { "tortoise" } }))
  end)

  it("isnull tells SQL NULL from a JSON null", function()
    assert.are.equal("6", ids(JsDoc:filter{ data__isnull = true }))
    assert.are.equal("1,2,3,4,5", ids(JsDoc:filter{ data__isnull = false }))
    assert.are.equal("6", ids(JsDoc:filter{ data = orm.null }))
    assert.is_nil(JsDoc:get{ id = 6 }.data)
  end)

  it("reads JSON written by others back (jansson): escapes, numbers, nesting", function()
    local text = '{"s": "caf\\u00e9 \\"q\\"", "n": [1, -2.5, 1e3, 9007199254740993], "z": null, "t": [true, false, []]}'
    require("tests.lua.support.sql").query("INSERT INTO js_docs (id, data) VALUES (9, ?)", { text })
    local d = JsDoc:get{ id = 9 }.data
    assert.are.equal('café "q"', d.s)
    assert.are.equal(1, d.n[1])
    assert.are.equal("integer", math.type(d.n[1]))
    assert.are.equal(-2.5, d.n[2])
    assert.are.equal(1000.0, d.n[3])
    assert.are.equal(9007199254740993, d.n[4]) -- exact past 2^53
    assert.are.equal(orm.null, d.z)
    assert.is_true(d.t[1])
    assert.is_false(d.t[2])
    assert.are.same({}, d.t[3])
    is(E.FieldError, catch(function() return JsDoc:create{ id = 10, data = "{bad" } end))
  end)

  it("writes JSON through jansson: numbers exact, Decimals as numbers when exact", function()
    local big = 9007199254740993 -- 2^53 + 1: an integer stays one
    JsDoc:create{ id = 11, data = { f = 0.1, third = 1 / 3, g = 3.0, i = 7, big = big,
      d = orm.Decimal("12.50"), s = "caf\xc3\xa9 \x80" } }
    local d = JsDoc:get{ id = 11 }.data
    assert.are.equal(0.1, d.f)
    assert.are.equal(1 / 3, d.third) -- every digit kept
    assert.are.equal("float", math.type(d.g))
    assert.are.equal(3.0, d.g)
    assert.are.equal("integer", math.type(d.i))
    assert.are.equal(big, d.big)
    assert.are.equal(12.5, d.d)
    assert.are.equal("caf\xc3\xa9 \xef\xbf\xbd", d.s) -- a byte that is no UTF-8: U+FFFD
    -- Decimals compare as the numbers they are, in filter and contains
    assert.are.equal("11", ids(JsDoc:filter{ data__filter = { d = orm.Decimal("12.5") } }))
    assert.are.equal("11", ids(JsDoc:filter{ data__contains = { d = orm.Decimal("12.50") } }))
    -- a Decimal no JSON number holds exactly is refused, and nothing is written
    local e = catch(function()
      return JsDoc:create{ id = 12, data = { d = orm.Decimal("123456789012345678901234.5") } }
    end)
    is(E.FieldError, e)
    assert.matches("more digits than a JSON number keeps", tostring(e), 1, true)
    assert.are.equal(0, JsDoc:filter{ id = 12 }:count())
    is(E.FieldError, catch(function() return JsDoc:create{ id = 12, data = { x = 0 / 0 } } end))
    is(E.FieldError, catch(function() return JsDoc:create{ id = 12, data = { [true] = 1 } } end))
  end)

  it("refuses what is no JSON lookup", function()
    is(E.FieldError, catch(function() return JsDoc:filter{ id__contained_by = { 1 } }:list() end))
    is(E.FieldError, catch(function() return JsDoc:filter{ id__filter = { a = 1 } }:list() end))
  end)
end)
