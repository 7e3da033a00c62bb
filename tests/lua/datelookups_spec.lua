-- Spec (LUA_API.md "Querysets", lookups): the date part lookups year,
-- quarter, month, week, day, hour, minute and second on DateField,
-- DatetimeField and TimeField.  As in Tortoise they compare the part for
-- equality; week is the ISO 8601 week number (as Django's week lookup),
-- the same on every backend.  Expectations are computed by hand.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Q = orm.Q
local E = orm.exceptions

local DlEvent = Model:extend("DlEvent", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 20 },
  day  = fields.DateField{ null = true },
  at   = fields.DatetimeField{ null = true },
  tm   = fields.TimeField{ null = true },
  Meta = { table = "dl_events" },
})

local DlNote = Model:extend("DlNote", {
  id    = fields.IntField{ primary_key = true },
  event = fields.ForeignKeyField{ "models.DlEvent", related_name = "notes" },
  Meta = { table = "dl_notes" },
})

local ROWS = {
  -- day           at                              tm
  { "2021-01-03", "2021-01-03 23:59:59.999999", "23:59:59.999999" }, -- 1 Sun, ISO week 53 of 2020
  { "2021-01-04", "2021-01-04 00:00:00",        "00:00:00" },        -- 2 Mon, week 1
  { "2024-12-30", "2024-12-30 12:30:45.5",      "12:30:45" },        -- 3 Mon, week 1 of 2025
  { "2020-12-31", "2020-12-31 06:07:08",        "06:07:08" },        -- 4 Thu, week 53
  { "2024-02-29", "2024-02-29 18:00:30",        "18:00:30" },        -- 5 Thu, week 9
  { "2023-07-01", "2023-07-01 09:15:00",        "09:15:00" },        -- 6 Sat, week 26
  { "2023-10-01", nil,                          nil },               -- 7 Sun, week 39
}

local function ids(filter)
  local t = DlEvent:filter(filter):values_list("id", { flat = true }):list()
  table.sort(t)
  return t
end

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("date part lookups", function()
  before_each(function()
    orm.testing.init{ models = { DlEvent, DlNote } }
    for i, r in ipairs(ROWS) do
      DlEvent:create{ name = "e" .. i, day = r[1], at = r[2] or orm.null,
                      tm = r[3] or orm.null }
    end
  end)
  after_each(function() orm.testing.finish() end)

  it("year on a DateField", function()
    assert.same({ 1, 2 }, ids{ day__year = 2021 })
    assert.same({ 3, 5 }, ids{ day__year = 2024 })
    assert.same({ 4 }, ids{ day__year = 2020 })
    assert.same({}, ids{ day__year = 1999 })
  end)

  it("quarter and month", function()
    assert.same({ 1, 2, 5 }, ids{ day__quarter = 1 })
    assert.same({}, ids{ day__quarter = 2 })
    assert.same({ 6 }, ids{ day__quarter = 3 })
    assert.same({ 3, 4, 7 }, ids{ day__quarter = 4 })
    assert.same({ 1, 2 }, ids{ day__month = 1 })
    assert.same({ 5 }, ids{ day__month = 2 })
    assert.same({ 3, 4 }, ids{ day__month = 12 })
  end)

  it("week is the ISO 8601 week", function()
    -- 2021-01-03 belongs to week 53 of 2020; 2024-12-30 to week 1 of 2025
    assert.same({ 1, 4 }, ids{ day__week = 53 })
    assert.same({ 2, 3 }, ids{ day__week = 1 })
    assert.same({ 5 }, ids{ day__week = 9 })
    assert.same({ 6 }, ids{ day__week = 26 })
    assert.same({ 7 }, ids{ day__week = 39 })
    assert.same({}, ids{ day__week = 52 })
    assert.same({ 1, 4 }, ids{ at__week = 53 })
  end)

  it("day", function()
    assert.same({ 6, 7 }, ids{ day__day = 1 })
    assert.same({ 1 }, ids{ day__day = 3 })
    assert.same({ 5 }, ids{ day__day = 29 })
    assert.same({ 4 }, ids{ day__day = 31 })
  end)

  it("date parts of a DatetimeField", function()
    assert.same({ 3, 5 }, ids{ at__year = 2024 })
    assert.same({ 3, 4 }, ids{ at__quarter = 4 })
    assert.same({ 1, 2 }, ids{ at__month = 1 })
    assert.same({ 4 }, ids{ at__day = 31 })
  end)

  it("hour, minute and second of a DatetimeField", function()
    assert.same({ 1 }, ids{ at__hour = 23 })
    assert.same({ 2 }, ids{ at__hour = 0 })
    assert.same({ 3 }, ids{ at__hour = 12 })
    assert.same({ 2, 5 }, ids{ at__minute = 0 })
    assert.same({ 1 }, ids{ at__minute = 59 })
    assert.same({ 6 }, ids{ at__minute = 15 })
    -- whole seconds: 59.999999 is second 59, 45.5 is 45
    assert.same({ 1 }, ids{ at__second = 59 })
    assert.same({ 3 }, ids{ at__second = 45 })
    assert.same({ 2, 6 }, ids{ at__second = 0 })
    assert.same({ 5 }, ids{ at__second = 30 })
  end)

  it("hour, minute and second of a TimeField", function()
    assert.same({ 1 }, ids{ tm__hour = 23 })
    assert.same({ 4 }, ids{ tm__hour = 6 })
    assert.same({ 2, 5 }, ids{ tm__minute = 0 })
    assert.same({ 1 }, ids{ tm__second = 59 })
    assert.same({ 4 }, ids{ tm__second = 8 })
  end)

  it("combine with other lookups, Q and exclude", function()
    assert.same({ 5 }, ids{ day__year = 2024, day__month = 2 })
    assert.same({ 3, 5, 6 }, ids{ Q{ at__year = 2024 } | Q{ at__month = 7 } })
    local t = DlEvent:exclude{ day__year = 2021 }:values_list("id", { flat = true }):list()
    table.sort(t)
    assert.same({ 3, 4, 5, 6, 7 }, t)
    assert.equal(2, DlEvent:filter{ day__week = 1 }:count())
    assert.is_true(DlEvent:filter{ tm__hour = 18 }:exists())
  end)

  it("a value given as text is taken as an integer", function()
    assert.same({ 3, 5 }, ids{ day__year = "2024" })
  end)

  it("through a relation", function()
    local e3 = DlEvent:get{ name = "e3" }
    local e6 = DlEvent:get{ name = "e6" }
    DlNote:create{ event = e3 }
    DlNote:create{ event = e6 }
    local t = DlNote:filter{ event__at__year = 2024 }:values_list("event_id", { flat = true }):list()
    assert.same({ e3.id }, t)
    assert.equal(1, DlNote:filter{ event__day__week = 26 }:count())
  end)

  it("rejects a part the field does not have", function()
    local err = catch(function() return ids{ day__hour = 1 } end)
    assert.is_true(E.FieldError:is(err))
    assert.matches("hour", err.message)
    err = catch(function() return ids{ tm__year = 2024 } end)
    assert.is_true(E.FieldError:is(err))
    err = catch(function() return ids{ name__year = 2024 } end)
    assert.is_true(E.FieldError:is(err))
  end)

  it("takes equality only, as Tortoise does", function()
    local err = catch(function() return ids{ day__year__gte = 2021 } end)
    assert.is_true(E.FieldError:is(err))
  end)
end)
