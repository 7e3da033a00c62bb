-- Acceptance spec (issue 14: regex / iregex / posix_regex lookups): a
-- pattern that matches anywhere in the text; iregex ignores case, Unicode
-- letters included; the same results on SQLite (REGEXP through PCRE2),
-- PostgreSQL (~, ~*) and MariaDB (REGEXP); exclude keeps NULLs out as
-- other lookups do; a bad pattern is an OperationalError.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model

local RxWord = Model:extend("RxWord", {
  id   = fields.IntField{ primary_key = true },
  text = fields.CharField{ max_length = 40, null = true },
  Meta = { table = "rx_words" },
})

local WORDS = { "Apple pie", "apple tart", "Banana 42", "ÉCLAIR", "éclair 7", "cherry" }

local function ids(qs)
  return qs:order_by("id"):values_list("id", { flat = true }):list()
end

describe("regex lookups", function()
  before_each(function()
    orm.testing.init{ models = { RxWord } }
    for i, w in ipairs(WORDS) do RxWord:create{ id = i, text = w } end
    RxWord:create{ id = 7, text = orm.null }
  end)
  after_each(function() orm.testing.finish() end)

  it("regex is case-sensitive and matches anywhere", function()
    assert.are.same({ 1 }, ids(RxWord:filter{ text__regex = "^Apple" }))
    assert.are.same({ 1, 2 }, ids(RxWord:filter{ text__regex = "p{2}" }))
    assert.are.same({ 3, 5 }, ids(RxWord:filter{ text__regex = "[0-9]+$" }))
    assert.are.same({ 2, 6 }, ids(RxWord:filter{ text__regex = "^(apple|cherry)" }))
  end)

  it("iregex ignores case, Unicode letters too", function()
    assert.are.same({ 1, 2 }, ids(RxWord:filter{ text__iregex = "^apple" }))
    assert.are.same({ 4, 5 }, ids(RxWord:filter{ text__iregex = "^éclair" }))
  end)

  it("posix_regex takes the POSIX classes", function()
    assert.are.same({ 3, 5 }, ids(RxWord:filter{ text__posix_regex = "[[:digit:]]" }))
  end)

  it("exclude keeps the NULL row out, as other lookups", function()
    assert.are.same({ 2, 3, 4, 5, 6 }, ids(RxWord:exclude{ text__regex = "^Apple" }))
  end)

  it("works through Q and in counts", function()
    assert.are.equal(3, RxWord:filter{ orm.Q{ text__regex = "^a" } | orm.Q{ text__iregex = "^É" } }:count())
  end)

  it("a bad pattern is an OperationalError", function()
    local ok, e = pcall(function() return RxWord:filter{ text__regex = "(" }:count() end)
    assert.is_false(ok)
    assert.is_true(orm.exceptions.OperationalError:is(e))
  end)
end)
