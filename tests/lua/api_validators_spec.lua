-- Acceptance spec: orm.validators as Tortoise's tests/test_validators.py
-- pins them down, in our own words: each validator refuses a bad value
-- on create, save, save{update_fields} and nothing is written; the core
-- runs them (orm/validate.c), RegexValidator with PCRE2 matched at the
-- start of the value, as Python's re.match; plain functions validate too.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local D = orm.Decimal
local V = orm.validators
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local function no_spaces(v)
  if tostring(v):find(" ", 1, true) then
    error(E.ValidationError("Value must not hold spaces"))
  end
end

local VdModel = Model:extend("VdModel", {
  id = fields.IntField{ primary_key = true },
  regex = fields.CharField{ max_length = 100, null = true, validators = { V.RegexValidator("abc.+", "i") } },
  max_length = fields.CharField{ max_length = 5, null = true },
  min_length = fields.CharField{ max_length = 20, null = true, validators = { V.MinLengthValidator(3) } },
  min_value = fields.IntField{ null = true, validators = { V.MinValueValidator(10) } },
  max_value = fields.IntField{ null = true, validators = { V.MaxValueValidator(20) } },
  min_value_decimal = fields.DecimalField{ max_digits = 12, decimal_places = 3, null = true,
    validators = { V.MinValueValidator(D"1.0") } },
  max_value_decimal = fields.DecimalField{ max_digits = 12, decimal_places = 3, null = true,
    validators = { V.MaxValueValidator(D"2.0") } },
  ints = fields.CharField{ max_length = 50, null = true, validators = { V.CommaSeparatedIntegerListValidator() } },
  signed_ints = fields.CharField{ max_length = 50, null = true,
    validators = { V.CommaSeparatedIntegerListValidator(true) } },
  word = fields.CharField{ max_length = 50, null = true, validators = no_spaces },
  Meta = { table = "vd_models" },
})

local function refused(kw, needle)
  local before = VdModel:all():count()
  local e = catch(function() return VdModel:create(kw) end)
  is(E.ValidationError, e)
  if needle then assert.truthy(e.message:find(needle, 1, true), e.message) end
  assert.are.equal(before, VdModel:all():count()) -- nothing written
  return e
end

local n = 0
local function accepted(kw)
  n = n + 1
  kw.id = n
  return VdModel:create(kw)
end

describe("validators", function()
  before_each(function()
    orm.testing.init{ models = { VdModel } }
    n = 0
  end)
  after_each(function() orm.testing.finish() end)

  it("RegexValidator: PCRE2, anchored at the start, flags 'i'", function()
    refused({ id = 1, regex = "ccc" }, "regex: Value 'ccc' does not match regex 'abc.+'")
    refused({ id = 1, regex = "xabcd" })            -- re.match: from the start
    accepted{ regex = "abcd" }
    accepted{ regex = "ABCd tail" }                  -- flags "i"; only the start must match
    accepted{ regex = "abcé" }                        -- UTF-8
  end)

  it("max_length, MinLengthValidator", function()
    refused({ id = 1, max_length = "aaaaaa" }, "max_length: Length of 'aaaaaa' 6 > 5")
    accepted{ max_length = "aaaaa" }
    refused({ id = 99, min_length = "ab" }, "min_length: Length of 'ab' 2 < 3")
    accepted{ min_length = "abc" }
  end)

  it("MinValueValidator and MaxValueValidator, integers and decimals", function()
    refused({ id = 1, min_value = 9 }, "min_value: Value should be greater or equal to 10")
    accepted{ min_value = 10 }
    refused({ id = 99, min_value_decimal = D"0.9" }, "Value should be greater or equal to 1.0")
    accepted{ min_value_decimal = D"1.0" }
    refused({ id = 99, max_value = 21 }, "max_value: Value should be less or equal to 20")
    accepted{ max_value = 20 }
    refused({ id = 99, max_value_decimal = D"3.0" })
    accepted{ max_value_decimal = D"2.0" }
    assert.are.equal(4, VdModel:all():count())
  end)

  it("CommaSeparatedIntegerListValidator", function()
    refused({ id = 1, ints = "aaaaaa" }, "does not match regex")
    refused({ id = 1, ints = "1,2,3," })
    refused({ id = 1, ints = "-1,2" })
    accepted{ ints = "1,2,3" }
    accepted{ signed_ints = "-1,2,-3" }
  end)

  it("a plain function validates, its error message named by the field", function()
    refused({ id = 1, word = "two words" }, "word: Value must not hold spaces")
    accepted{ word = "one" }
  end)

  it("bulk_create runs them too, Lua functions included: nothing written", function()
    local e = catch(function()
      return VdModel:bulk_create{ VdModel{ id = 1, word = "one" }, VdModel{ id = 2, word = "t w o" } }
    end)
    is(E.ValidationError, e)
    assert.truthy(e.message:find("word: Value must not hold spaces", 1, true), e.message)
    is(E.ValidationError, catch(function()
      return VdModel:bulk_create{ VdModel{ id = 3, min_value = 9 } }
    end))
    assert.are.equal(0, VdModel:all():count())
    VdModel:bulk_create{ VdModel{ id = 1, word = "one" }, VdModel{ id = 2, word = "two" } }
    assert.are.equal(2, VdModel:all():count())
  end)

  it("save, save{update_fields} and a fixed value", function()
    local r = VdModel{ id = 1, min_value_decimal = D"0.9" }
    is(E.ValidationError, catch(function() r:save() end))
    assert.are.equal(0, VdModel:all():count())
    r.min_value_decimal = D"1.5"
    r:save()
    r.min_value_decimal = D"0.9"
    is(E.ValidationError, catch(function() r:save{ update_fields = { "min_value_decimal" } } end))
    is(E.ValidationError, catch(function() r:save() end))
    assert.are.equal(D"1.5", VdModel:get{ id = 1 }.min_value_decimal)
  end)

  it("NULL on a nullable field is not validated", function()
    accepted{ min_value = nil, regex = nil, min_length = nil }
    assert.are.equal(1, VdModel:all():count())
  end)

  it("called directly, a validator checks one value", function()
    V.MinValueValidator(10)(10)
    local e = catch(function() V.MinValueValidator(10)(9) end)
    is(E.ValidationError, e)
    assert.are.equal("Value should be greater or equal to 10", e.message)
    is(E.ValidationError, catch(function() V.MaxLengthValidator(2)("abc") end))
    is(E.ValidationError, catch(function() V.MinValueValidator(1)("x") end))
    V.RegexValidator("^[a-z]+$")("abc")
  end)

  it("a bad pattern is a ConfigurationError when the model is declared", function()
    local e = catch(function()
      Model:extend("VdBad", {
        s = fields.CharField{ max_length = 5, validators = { V.RegexValidator("(unclosed") } },
        Meta = { table = "vd_bad" },
      })
    end)
    is(E.ConfigurationError, e)
  end)
end)
