-- Decimal storage on SQLite: up to 15 digits in NUMERIC columns, wider
-- ones as text ordered by the exact TDO_DECIMAL collation.  Filters and
-- ordering must compare numerically and exactly in both.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local D = orm.Decimal

local Ledger = Model:extend("DsLedger", {
  id     = fields.IntField{ primary_key = true },
  amount = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  wide   = fields.DecimalField{ max_digits = 30, decimal_places = 12 },
  Meta = { table = "ds_ledger" },
})

describe("decimal storage", function()
  before_each(function()
    orm.testing.init{ models = { Ledger } }
    for _, r in ipairs{
      { "9.50", "100000000000.000000000001" },
      { "10.00", "99999999999.999999999999" },
      { "-3.25", "100000000000.000000000002" },
      { "100.01", "-0.000000000001" },
    } do
      Ledger:create{ amount = D(r[1]), wide = D(r[2]) }
    end
  end)
  after_each(function() orm.testing.finish() end)

  local function ids(qs)
    local out = {}
    for _, v in ipairs(qs:values_list("id", { flat = true })) do out[#out + 1] = v end
    return out
  end

  it("orders narrow decimals numerically", function()
    assert.are.same({ 3, 1, 2, 4 }, ids(Ledger:all():order_by("amount")))
  end)

  it("orders wide decimals numerically and exactly", function()
    assert.are.same({ 4, 2, 1, 3 }, ids(Ledger:all():order_by("wide")))
  end)

  it("filters wide decimals exactly", function()
    assert.are.same({ 3 }, ids(Ledger:filter{ wide__gt = D"100000000000.000000000001" }))
    assert.are.same({ 1 }, ids(Ledger:filter{ wide = D"100000000000.000000000001" }))
    assert.are.same({ 2, 4 }, ids(Ledger:filter{ wide__lt = 100000000000 }:order_by("id")))
  end)

  it("keeps every digit of a wide decimal", function()
    assert.are.equal("100000000000.000000000002", tostring(Ledger:get{ id = 3 }.wide))
  end)

  it("keeps narrow decimals exact", function()
    assert.are.equal("100.01", tostring(Ledger:get{ id = 4 }.amount))
    assert.are.same({ 4 }, ids(Ledger:filter{ amount__gte = D"100.01" }))
  end)
end)
