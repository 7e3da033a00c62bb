-- Acceptance spec (LUA_API.md "Details": orm.Subquery(qs)): a queryset's
-- SELECT inside another statement -- a list after __in / __not_in, a
-- value in filter, annotate and update (ordered and sliced; a queryset of
-- instances stands for its primary key).  Expected values are worked out
-- by hand from the rows below.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Subquery, F, D = orm.Subquery, orm.F, orm.Decimal

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local SqTeam = Model:extend("SqTeam", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 20 },
  Meta = { table = "sq_teams" },
})

local SqPlayer = Model:extend("SqPlayer", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 20 },
  goals  = fields.IntField{ default = 0 },
  salary = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  team   = fields.ForeignKeyField("models.SqTeam", { related_name = "players", null = true }),
  Meta = { table = "sq_players" },
})

-- name, goals, salary, team (1 reds, 2 blues, 3 greens)
local ROWS = {
  { "ann", 10, "100.50", 1 }, -- 1
  { "bob",  3, "80.00",  1 }, -- 2
  { "cid",  7, "120.25", 2 }, -- 3
  { "dee",  0, "60.00",  2 }, -- 4
  { "eve",  5, "95.00",  nil }, -- 5
}

local function ids(qs)
  return qs:order_by("id"):values_list("id", { flat = true }):list()
end

describe("Subquery", function()
  before_each(function()
    orm.testing.init{ models = { SqTeam, SqPlayer } }
    for i, n in ipairs{ "reds", "blues", "greens" } do SqTeam:create{ id = i, name = n } end
    for i, r in ipairs(ROWS) do
      SqPlayer:create{ id = i, name = r[1], goals = r[2], salary = D(r[3]),
                       team_id = r[4] == nil and orm.null or r[4] }
    end
  end)
  after_each(function() orm.testing.finish() end)

  it("is the list after __in", function()
    local reds = Subquery(SqTeam:filter{ name = "reds" }:values("id"))
    assert.are.same({ 1, 2 }, ids(SqPlayer:filter{ team_id__in = reds }))
  end)

  it("after __not_in (rows with a NULL column stay out, as with a list)", function()
    local reds = Subquery(SqTeam:filter{ name = "reds" }:values("id"))
    assert.are.same({ 3, 4 }, ids(SqPlayer:filter{ team_id__not_in = reds }))
  end)

  it("a queryset of instances stands for its primary key", function()
    local top2 = Subquery(SqPlayer:order_by("-goals"):limit(2))
    assert.are.same({ 1, 3 }, ids(SqPlayer:filter{ id__in = top2 }))
    local teams = Subquery(SqTeam:filter{ name__in = { "blues", "greens" } })
    assert.are.same({ 3, 4 }, ids(SqPlayer:filter{ team_id__in = teams }))
  end)

  it("is a value in filter", function()
    local best = Subquery(SqPlayer:order_by("-goals"):limit(1):values("goals"))
    assert.are.same({ 1 }, ids(SqPlayer:filter{ goals = best }))
    local avg_like = Subquery(SqPlayer:filter{ name = "eve" }:values("goals"))
    assert.are.same({ 1, 3 }, ids(SqPlayer:filter{ goals__gt = avg_like }))
  end)

  it("is a value in annotate, decoded as its column", function()
    local top = Subquery(SqPlayer:order_by("-salary"):limit(1):values("salary"))
    local rows = SqTeam:all():order_by("id"):annotate{ top = top }:values("name", "top"):list()
    assert.are.equal(3, #rows)
    for _, r in ipairs(rows) do assert.are.equal(D"120.25", r.top) end
  end)

  it("sets a column in update, reading the table it updates", function()
    local dee = Subquery(SqPlayer:filter{ name = "dee" }:values("goals"))
    assert.are.equal(2, SqPlayer:filter{ team_id = 1 }:update{ goals = dee })
    assert.are.same({ 0, 0, 7, 0, 5 },
      SqPlayer:all():order_by("id"):values_list("goals", { flat = true }):list())
  end)

  it("combines with F and filters of its own", function()
    local most = Subquery(SqPlayer:filter{ team_id = 2 }:order_by("-goals"):limit(1):values("goals"))
    assert.are.same({ 1 }, ids(SqPlayer:filter{ goals__gt = most }))
    assert.are.same({ 3 }, ids(SqPlayer:filter{ goals = most, team_id = 2 }))
  end)

  it("an empty subquery matches nothing after __in", function()
    local none = Subquery(SqTeam:filter{ name = "purples" }:values("id"))
    assert.are.same({}, ids(SqPlayer:filter{ team_id__in = none }))
  end)

  it("prints its model", function()
    assert.are.equal("Subquery(SqTeam)", tostring(Subquery(SqTeam:all())))
  end)

  it("takes a queryset only", function()
    assert.is_true(orm.exceptions.ParamsError:is(catch(Subquery, 1)))
    assert.is_true(orm.exceptions.ParamsError:is(catch(Subquery, SqTeam)))
  end)

  it("a lookup that takes no expression refuses it", function()
    local e = catch(function()
      return SqPlayer:filter{ name__contains = Subquery(SqTeam:all():values("name")) }:list()
    end)
    assert.is_true(orm.exceptions.ParamsError:is(e))
  end)
end)
