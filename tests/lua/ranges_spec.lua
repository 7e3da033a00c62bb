-- Ranges spec: values out of range raise instead of wrapping around or
-- being stored silently.  Durations: every construction and operation
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
