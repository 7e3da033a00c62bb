-- Acceptance spec: field values as Tortoise's tests/fields/ pin them down,
-- in our own words: a missing required value is the database's
-- IntegrityError (a CharField's max_length validator says ValidationError
-- first), a value a field cannot hold is a FieldError naming it, integers
-- are range-checked on save, Binary / Time / TimeDelta round-trip, and a
-- money total over 10,000 DecimalField rows is exact on every backend.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local F, D = orm.F, orm.Decimal
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local required = {
  int = fields.IntField{}, small = fields.SmallIntField{}, big = fields.BigIntField{},
  dec = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  flt = fields.FloatField{}, bool = fields.BooleanField{}, text = fields.TextField{},
  dt = fields.DatetimeField{}, date = fields.DateField{}, time = fields.TimeField{},
  td = fields.TimeDeltaField{}, uuid = fields.UUIDField{}, bin = fields.BinaryField{},
  json = fields.JSONField{}, char = fields.CharField{ max_length = 5 },
}
local FvModels = {}
for name, spec in pairs(required) do
  FvModels[name] = Model:extend("Fv_" .. name, {
    id = fields.IntField{ primary_key = true },
    v = spec,
    Meta = { table = "fv_" .. name },
  })
end

local FvAll = Model:extend("FvAll", {
  id = fields.IntField{ primary_key = true },
  small = fields.SmallIntField{ null = true },
  int = fields.IntField{ null = true },
  big = fields.BigIntField{ null = true },
  dec = fields.DecimalField{ max_digits = 12, decimal_places = 2, null = true },
  flt = fields.FloatField{ null = true },
  dt = fields.DatetimeField{ null = true },
  date = fields.DateField{ null = true },
  time = fields.TimeField{ null = true },
  td = fields.TimeDeltaField{ null = true },
  uuid = fields.UUIDField{ null = true },
  bin = fields.BinaryField{ null = true },
  Meta = { table = "fv_all" },
})

local function models()
  local list = { FvAll }
  for _, M in pairs(FvModels) do list[#list + 1] = M end
  return list
end

describe("field values", function()
  before_each(function() orm.testing.init{ models = models() } end)
  after_each(function() orm.testing.finish() end)

  it("a required value left out: IntegrityError, a CharField's: ValidationError", function()
    for name, M in pairs(FvModels) do
      local e = catch(function() return M:create{ id = 1 } end)
      if name == "char" then
        is(E.ValidationError, e)
        assert.truthy(e.message:find("v: Value must not be None", 1, true), e.message)
      else
        is(E.IntegrityError, e)
      end
      assert.are.equal(0, M:all():count(), name)
    end
  end)

  it("a value the field cannot hold is a FieldError naming the field", function()
    for field, bad in pairs{ dec = "abc", int = "x", dt = "notadate", date = "2020-08-xx",
                             time = "25:99", uuid = "zzz", flt = "many" } do
      local e = catch(function() return FvAll:create{ id = 1, [field] = bad } end)
      is(E.FieldError, e)
      assert.truthy(e.message:find(field, 1, true), e.message)
    end
    is(E.FieldError, catch(function() return FvAll:create{ id = 1, dec = "" } end))
    assert.are.equal(0, FvAll:all():count())
  end)

  it("integers are range-checked on save and on update", function()
    is(E.ValidationError, catch(function() return FvAll:create{ id = 1, small = 32768 } end))
    is(E.ValidationError, catch(function() return FvAll:create{ id = 1, small = -32769 } end))
    is(E.ValidationError, catch(function() return FvAll:create{ id = 1, int = 2147483648 } end))
    local a = FvAll:create{ id = 1, small = -32768, int = -2147483648, big = math.maxinteger }
    assert.are.equal(math.maxinteger, FvAll:get{ id = 1 }.big)
    a.small = 40000
    is(E.ValidationError, catch(function() a:save() end))
    is(E.ValidationError, catch(function() return FvAll:filter{ id = 1 }:update{ int = 2 ^ 40 // 1 } end))
    assert.are.equal(-32768, FvAll:get{ id = 1 }.small)
  end)

  it("binary, time and duration values round-trip", function()
    local bytes = "\0\1\2\255 nul\0end"
    FvAll:create{ id = 1, bin = bytes, time = "13:14:15.123456",
                  td = orm.duration{ days = 2, seconds = 30, microseconds = 7 } }
    local r = FvAll:get{ id = 1 }
    assert.are.equal(bytes, r.bin)
    assert.are.equal("13:14:15.123456", tostring(r.time))
    assert.are.equal(orm.duration{ days = 2, seconds = 30, microseconds = 7 }, r.td)
    assert.are.equal(1, FvAll:filter{ td__gt = orm.duration{ days = 1 } }:count())
  end)

  it("a money total over 10,000 decimal rows is exact", function()
    local cents, rows = 0, {}
    for i = 1, 10000 do
      local c = (i * 7919) % 1000000 -- up to 9999.99
      cents = cents + c
      rows[#rows + 1] = FvAll{ id = i, dec = D(("%d.%02d"):format(c // 100, c % 100)) }
    end
    FvAll:bulk_create(rows, { batch_size = 1000 })
    local total = FvAll:all():annotate{ s = orm.functions.Sum("dec") }:values_list("s", { flat = true }):first()
    local want = D(("%d.%02d"):format(cents // 100, cents % 100))
    assert.are.equal(want, total)
    assert.are.equal(tostring(want), tostring(total))
    -- a decimal with an integer column stays exact; with a float column it has no exact result
    assert.are.equal(want + D(10000 * 3),
      FvAll:all():annotate{ s = orm.functions.Sum(F"dec" + 3) }:values_list("s", { flat = true }):first())
    is(E.FieldError, catch(function()
      return FvAll:all():annotate{ s = orm.functions.Sum(F"dec" + F"flt") }:first()
    end))
  end)
end)
