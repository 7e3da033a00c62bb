-- Acceptance spec (LUA_API.md "Values from the database"): exact decimals,
-- datetimes, booleans, integers, NULL / orm.null, and the round trip of
-- every field type of the walking skeleton.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local D = orm.Decimal

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local AvRow = Model:extend("AvRow", {
  id    = fields.IntField{ primary_key = true },
  i     = fields.IntField{ null = true },
  big   = fields.BigIntField{ null = true },
  small = fields.SmallIntField{ null = true },
  f     = fields.FloatField{ null = true },
  price = fields.DecimalField{ max_digits = 12, decimal_places = 2, null = true },
  rate  = fields.DecimalField{ max_digits = 20, decimal_places = 10, null = true },
  c     = fields.CharField{ max_length = 20, null = true },
  t     = fields.TextField{ null = true },
  b     = fields.BooleanField{ null = true },
  dt    = fields.DatetimeField{ null = true },
  d     = fields.DateField{ null = true },
  ce    = fields.CharEnumField{ enum_type = { "red", "green" }, max_length = 5, null = true },
  ie    = fields.IntEnumField{ enum_type = { 1, 2, 3 }, null = true },
  Meta = { table = "av_rows" },
})

local function roundtrip(values)
  local r = AvRow:create(values)
  return AvRow:get{ id = r.id }, r
end

describe("orm.Decimal", function()
  it("adds exactly", function()
    assert.is_true(D"0.1" + D"0.2" == D"0.3")
    assert.are.equal(D"0.3", D"0.1" + D"0.2")
    local sum = D"0"
    for _ = 1, 1000 do sum = sum + D"0.001" end
    assert.is_true(sum == D"1")
  end)

  it("subtracts, multiplies and divides exactly", function()
    assert.is_true(D"1.00" - D"0.01" == D"0.99")
    assert.is_true(D"1.1" * D"1.1" == D"1.21")
    assert.is_true(D"10" / D"4" == D"2.5")
    assert.is_true(D"1" / D"8" == D"0.125")
    assert.is_true(-D"1.5" == D"-1.5")
  end)

  it("mixes with Lua numbers", function()
    assert.is_true(D"19.99" * 3 == D"59.97")
    assert.is_true(D"0.1" + 1 == D"1.1")
    assert.is_true(2 * D"0.35" == D"0.70")
  end)

  it("compares numerically", function()
    assert.is_true(D"1.0" == D"1")
    assert.is_true(D"1.10" == D"1.1")
    assert.is_true(D"1" < D"1.01")
    assert.is_true(D"-2" < D"-1.99")
    assert.is_true(D"2.50" <= D"2.5")
    assert.is_true(D"100" > D"99.99")
    assert.is_false(D"0.3" == D"0.30000000000000004")
  end)

  it("prints as written, keeping the scale", function()
    assert.are.equal("12.50", tostring(D"12.50"))
    assert.are.equal("0.3", tostring(D"0.1" + D"0.2"))
    assert.are.equal("-0.001", tostring(D"-0.001"))
    assert.are.equal("42", tostring(D"42"))
    assert.are.equal("12345678901234567890.123456789", tostring(D"12345678901234567890.123456789"))
  end)

  it("is built from numbers", function()
    assert.is_true(D(0.1) == D"0.1")
    assert.is_true(D(3) == D"3")
    assert.is_true(D(2.5) == D"2.5")
  end)

  it("converts to a Lua number", function()
    assert.are.equal(2.5, D"2.5":tonumber())
    assert.are.equal(0.1, D"0.1":tonumber())
  end)

  it("rejects bad text", function()
    local err = catch(function() return D"12.x" end)
    assert.is_true(orm.exceptions.BaseORMException:is(err))
  end)
end)

describe("values from the database", function()
  before_each(function() orm.testing.init{ models = { AvRow } } end)
  after_each(function() orm.testing.finish() end)

  it("decimals come back exact, as orm.Decimal, at the field's scale", function()
    local r = roundtrip{ price = D"19.99", rate = D"0.1234567891" }
    assert.are.equal("19.99", tostring(r.price))
    assert.are.equal("0.1234567891", tostring(r.rate))
    assert.is_true(r.price == D"19.99")
    assert.are.equal("5.00", tostring(roundtrip{ price = 5 }.price))
    assert.are.equal("0.30", tostring(roundtrip{ price = D"0.1" + D"0.2" }.price))
    assert.are.equal("0.10", tostring(roundtrip{ price = "0.1" }.price))
  end)

  it("a large decimal keeps every digit", function()
    local r = roundtrip{ price = D"9999999999.99" }
    assert.are.equal("9999999999.99", tostring(r.price))
    local r2 = roundtrip{ rate = D"1234567890.0000000001" }
    assert.are.equal("1234567890.0000000001", tostring(r2.rate))
  end)

  it("decimals add up exactly after a round trip", function()
    for _ = 1, 10 do AvRow:create{ price = D"0.10" } end
    local sum = D"0"
    for _, p in ipairs(AvRow:filter{ price__not_isnull = true }:values_list("price", { flat = true }):list()) do
      sum = sum + p
    end
    assert.is_true(sum == D"1")
  end)

  it("decimals too wide for max_digits raise ValidationError", function()
    local err = catch(function() return AvRow:create{ price = D"12345678901.00" } end)
    assert.is_true(orm.exceptions.ValidationError:is(err))
    assert.truthy(err.message:find("price", 1, true))
  end)

  it("integers are exact 64-bit", function()
    local r = roundtrip{ i = 7, big = math.maxinteger, small = -32768 }
    assert.are.equal("integer", math.type(r.i))
    assert.are.equal(7, r.i)
    assert.are.equal(math.maxinteger, r.big)
    assert.are.equal(-32768, r.small)
    assert.are.equal(9007199254740993, roundtrip{ big = 9007199254740993 }.big)
  end)

  it("floats", function()
    local r = roundtrip{ f = 1.5 }
    assert.are.equal("float", math.type(r.f))
    assert.are.equal(1.5, r.f)
    assert.are.equal(0.1, roundtrip{ f = 0.1 }.f)
  end)

  it("strings, with a number given to a CharField stored as text", function()
    local r = roundtrip{ c = "héllo wörld", t = ("long "):rep(1000) }
    assert.are.equal("héllo wörld", r.c)
    assert.are.equal(("long "):rep(1000), r.t)
    assert.are.equal("42", roundtrip{ c = 42 }.c)
    assert.are.equal("", roundtrip{ c = "" }.c)
  end)

  it("text with NUL bytes and quotes survives", function()
    local s = "it's \"quoted\"\0and more"
    if orm.connection("default"):dialect() == "postgres" then
      -- PostgreSQL's text cannot hold a NUL: the server refuses it, in its
      -- own words, and nothing is cut off silently
      local err = catch(roundtrip, { t = s })
      assert.is_true(orm.exceptions.OperationalError:is(err), tostring(err))
      assert.truthy(err.message:find("0x00", 1, true), err.message)
      s = "it's \"quoted\" and more"
    end
    assert.are.equal(s, roundtrip{ t = s }.t)
  end)

  it("booleans", function()
    local yes, no = roundtrip{ b = true }, roundtrip{ b = false }
    assert.are.equal(true, yes.b)
    assert.are.equal(false, no.b)
    assert.are.equal(1, AvRow:filter{ b = true }:count())
    assert.are.equal(1, AvRow:filter{ b = false }:count())
    assert.are.same({ true }, AvRow:filter{ id = yes.id }:values_list("b", { flat = true }):list())
  end)

  it("datetimes round-trip as orm.datetime with ISO 8601 tostring", function()
    local r = roundtrip{ dt = "2025-03-04T05:06:07" }
    assert.are.equal("2025-03-04T05:06:07", tostring(r.dt))
    assert.are.equal("2025-03-04T05:06:07.123456", tostring(roundtrip{ dt = "2025-03-04 05:06:07.123456" }.dt))
    assert.are.equal("2025-03-04T00:00:00", tostring(roundtrip{ dt = "2025-03-04" }.dt))
  end)

  it("datetimes from the database can be stored again", function()
    local a = roundtrip{ dt = "2024-02-29T23:59:59.5" }
    local b = roundtrip{ dt = a.dt }
    assert.are.equal(tostring(a.dt), tostring(b.dt))
    assert.are.equal(1, AvRow:filter{ id = b.id, dt = a.dt }:count())
  end)

  it("datetimes compare in time order", function()
    local a = roundtrip{ dt = "2025-01-01T00:00:00" }.dt
    local b = roundtrip{ dt = "2025-01-01T00:00:00.000001" }.dt
    local c = roundtrip{ dt = "2025-01-01T00:00:00" }.dt
    assert.is_true(a < b)
    assert.is_true(b > a)
    assert.is_true(a == c)
    assert.is_true(a <= c)
    local order = AvRow:filter{ dt__not_isnull = true }:order_by("-dt", "id"):values_list("id", { flat = true }):list()
    assert.are.equal(2, order[1])
  end)

  it("datetimes add durations when orm.duration exists", function()
    if not orm.duration then pending("orm.duration is not there yet") return end
    local r = roundtrip{ dt = "2025-12-31T23:00:00" }
    assert.are.equal("2026-01-01T00:00:30", tostring(r.dt + orm.duration{ hours = 1, seconds = 30 }))
  end)

  it("dates round-trip as orm.date", function()
    local r = roundtrip{ d = "2025-03-04" }
    assert.are.equal("2025-03-04", tostring(r.d))
    local s = roundtrip{ d = "2025-12-31" }
    assert.is_true(r.d < s.d)
    assert.are.equal(1, AvRow:filter{ d__gt = "2025-06-01" }:count())
  end)

  it("bad datetime text raises an error naming the field", function()
    local err = catch(function() return AvRow:create{ dt = "not a date" } end)
    assert.is_true(orm.exceptions.BaseORMException:is(err))
    assert.truthy(err.message:find("dt", 1, true))
  end)

  it("enum fields come back as stored", function()
    local r = roundtrip{ ce = "green", ie = 3 }
    assert.are.equal("green", r.ce)
    assert.are.equal(3, r.ie)
    assert.are.equal("integer", math.type(r.ie))
  end)

  it("an IntEnumField rejects a value outside enum_type", function()
    local err = catch(function() return AvRow:create{ ie = 5 } end)
    assert.is_true(orm.exceptions.ValidationError:is(err))
  end)

  it("NULL is nil; orm.null stores NULL", function()
    local r = roundtrip{}
    for _, k in ipairs{ "i", "big", "small", "f", "price", "rate", "c", "t", "b", "dt", "d", "ce", "ie" } do
      assert.is_nil(r[k], k)
    end
    local s = roundtrip{ c = orm.null, b = orm.null }
    assert.is_nil(s.c)
    assert.is_nil(s.b)
    assert.are.equal(2, AvRow:filter{ c = orm.null }:count())
    assert.are.equal(2, AvRow:filter{ c__isnull = true }:count())
  end)

  it("orm.null is a unique sentinel", function()
    assert.is_not_nil(orm.null)
    assert.are_not.equal(nil, orm.null)
    assert.are_not.equal(false, orm.null)
  end)

  it("values() and values_list() decode like instances", function()
    local r = AvRow:create{ price = D"1.25", b = true, dt = "2025-01-02T03:04:05", i = 9 }
    local v = AvRow:filter{ id = r.id }:values("price", "b", "dt", "i", "c"):first()
    assert.is_true(v.price == D"1.25")
    assert.are.equal("1.25", tostring(v.price))
    assert.are.equal(true, v.b)
    assert.are.equal("2025-01-02T03:04:05", tostring(v.dt))
    assert.are.equal(9, v.i)
    assert.is_nil(v.c)
  end)
end)
