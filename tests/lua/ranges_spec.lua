-- Ranges spec: values out of range raise instead of wrapping around or
-- being stored silently.  Fields: every integer is checked against its
-- field's range and floats must be finite, when saved, with
-- ValidationError, the same on every backend (SQLite stored 32768 in a
-- SmallIntField and NaN as NULL without a word).  Durations: every construction and operation
-- is checked (UBSan found signed overflow; orm.duration(math.maxinteger)
-- printed "-1 day, 23:59:59" and a date plus a huge duration went back
-- in time).
local orm = require "testudo"
local E = orm.exceptions

local function out_of_range(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_true(E.ParamsError:is(err), tostring(err))
  assert.is_truthy(tostring(err):find("out of range", 1, true), tostring(err))
end

describe("ranges: durations", function()
  local D = orm.duration

  it("refuse what an int64 of microseconds cannot hold", function()
    out_of_range(function() return D(math.maxinteger) end)
    out_of_range(function() return D(math.mininteger) end)
    out_of_range(function() return D(0 / 0) end)
    out_of_range(function() return D(1e300) end)
    out_of_range(function() return D(-math.huge) end)
    out_of_range(function() return D{ days = 1e9 } end)
    out_of_range(function() return D{ weeks = math.maxinteger // 2 } end)
    out_of_range(function() return D{ seconds = 0 / 0 } end)
  end)

  it("check their arithmetic", function()
    local big = D{ days = 99999999 }
    out_of_range(function() return big + big end)
    out_of_range(function() return -big - big end)
    out_of_range(function() return big * 2 end)
    out_of_range(function() return 2.5 * big end)
    out_of_range(function() return D(1) * 1e300 end)
    out_of_range(function() return D(1) * (0 / 0) end)
    out_of_range(function() return big / 0.5 end)
  end)

  it("never move a date the wrong way", function()
    out_of_range(function()
      return orm.date("2026-01-01") + D(math.maxinteger // 2)
    end)
    local ok, err = pcall(function()
      return orm.date("2026-01-01") + D{ days = 99999999 }
    end)
    assert.is_false(ok)
    assert.is_true(E.ParamsError:is(err), tostring(err))
  end)

  it("keep working in range", function()
    assert.are.equal("1 day, 0:00:30", tostring(D{ days = 1, seconds = 30 }))
    assert.are.equal("0:00:00.500000", tostring(D(1.5) / 3))
    assert.are.equal("99999999 days, 0:00:00", tostring(D{ days = 99999999 }))
    assert.are.equal("-1 day, 23:59:59", tostring(-D(1)))
    assert.are.equal("01:00:00", tostring(orm.time("23:00:00") + D{ hours = 2 }))
    assert.are.equal("2026-02-01", tostring(orm.date("2026-01-01") + D{ days = 31 }))
    assert.are.equal(2, D{ days = 4 } / D{ days = 2 })
    assert.are.equal("7 days, 0:00:00", tostring(D{ weeks = 1 }))
    assert.are.equal("0:00:01.000001", tostring(D{ seconds = 1, microseconds = 1 }))
  end)
end)

describe("ranges: fields on save", function()
  local f = orm.fields
  local Num = orm.Model:extend("RgNum", {
    small = f.SmallIntField{ null = true },
    int = f.IntField{ null = true },
    big = f.BigIntField{ null = true },
    real = f.FloatField{ null = true },
    Meta = { table = "rg_nums" },
  })
  setup(function() orm.testing.init{ models = { Num } } end)
  teardown(function() orm.testing.finish() end)
  before_each(function() Num:all():delete() end)

  local function invalid(pattern, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(E.ValidationError:is(err), tostring(err))
    assert.is_truthy(tostring(err):find(pattern, 1, true), tostring(err))
  end

  it("refuse integers outside their field's range", function()
    invalid("small: Value should be less or equal to 32767",
      function() Num:create{ small = 32768 } end)
    invalid("small: Value should be greater or equal to -32768",
      function() Num:create{ small = -32769 } end)
    invalid("int: Value should be less or equal to 2147483647",
      function() Num:create{ int = 2147483648 } end)
    invalid("int: Value should be greater or equal to -2147483648",
      function() Num:create{ int = -2147483649 } end)
    assert.are.equal(0, Num:all():count())
  end)

  it("check save, update and bulk_create alike", function()
    local n = Num:create{ small = 1 }
    n.small = 40000
    invalid("small:", function() n:save() end)
    invalid("small:", function() Num:all():update{ small = 40000 } end)
    invalid("int:", function() Num:bulk_create{ Num{ int = 1 }, Num{ int = 2^40 } } end)
    assert.are.equal(1, Num:all():count())
    assert.are.equal(1, Num:get{ id = n.id }.small)
  end)

  it("refuse NaN and infinities in floats", function()
    invalid("real: NaN cannot be stored", function() Num:create{ real = 0 / 0 } end)
    invalid("real: inf cannot be stored", function() Num:create{ real = math.huge } end)
    invalid("real: -inf cannot be stored", function() Num:create{ real = -math.huge } end)
    assert.are.equal(0, Num:all():count())
  end)

  it("store the limits themselves", function()
    local n = Num:create{ small = 32767, int = -2147483648, big = math.maxinteger,
                         real = 1.5 }
    local got = Num:get{ id = n.id }
    assert.are.equal(32767, got.small)
    assert.are.equal(-2147483648, got.int)
    assert.are.equal(math.maxinteger, got.big)
    assert.are.equal(-32768, Num:create{ small = -32768 }.small)
  end)
end)
