-- Limits spec: Q and F trees nest at most TDO_MAX_DEPTH (900) levels.
-- Deeper ones raise ParamsError when they are built, so the recursive
-- resolver and compiler never overflow the C stack (a Q chain of 30,000
-- `&`, or an F expression 100,000 levels deep, crashed the process).
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions
local Q, F = orm.Q, orm.F

local Item = Model:extend("LimItem", {
  n = f.IntField{ default = 0 },
  Meta = { table = "lim_items" },
})

local Node = Model:extend("LimNode", {
  parent = f.ForeignKeyField{ "models.LimNode", null = true, related_name = "children" },
  Meta = { table = "lim_nodes" },
})

local function params_error(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_true(E.ParamsError:is(err), tostring(err))
  return err
end

describe("limits: nesting of Q and F", function()
  setup(function()
    orm.testing.init{ models = { Item, Node } }
    Item:bulk_create{ Item{ n = 1 }, Item{ n = 2 }, Item{ n = 3 } }
  end)
  teardown(function() orm.testing.finish() end)

  it("refuse a Q chain of 30,000 & with ParamsError, not a crash", function()
    local q = Q{ n = 0 }
    local err = params_error(function()
      for i = 1, 30000 do q = q & Q{ n = i } end
    end)
    assert.is_truthy(err.message:find("900 levels", 1, true), err.message)
    assert.is_truthy(err.message:find("__in", 1, true), err.message)
    -- the last tree that could be built still compiles and runs
    assert.is_truthy(Item:filter{ q }:sql())
  end)

  it("refuse ~ and | chains the same way", function()
    local q = Q{ n = 0 }
    params_error(function() for _ = 1, 5000 do q = ~q end end)
    local r = Q{ n = 0 }
    params_error(function() for i = 1, 5000 do r = r | Q{ n = i } end end)
    params_error(function()
      local t = { Q{ n = 0 } }
      for i = 1, 5000 do t = { Q{ n = i }, Q(table.unpack(t)) } end
    end)
  end)

  it("refuse an F expression 100,000 levels deep", function()
    local e = F"n"
    local err = params_error(function()
      for _ = 1, 100000 do e = e + 1 end
    end)
    assert.is_truthy(err.message:find("F expression", 1, true), err.message)
    params_error(function() for _ = 1, 5000 do e = -e end end)
  end)

  it("refuse a queryset filtered more than 900 times", function()
    local qs = Item:all()
    params_error(function()
      for i = 1, 5000 do qs = qs:filter{ n__gte = -i } end
    end)
  end)

  it("run deep trees within the limit", function()
    local q = Q{ n = 1 }
    for i = 1, 400 do q = q | Q{ n = 1000 + i } end
    assert.are.equal(1, Item:filter{ q }:count())
    local e = F"n"
    for _ = 1, 100 do e = e + 0 end
    assert.are.equal(3, Item:filter{ n = e }:count())
  end)

  it("walk a path of 32 relations ending at a reverse one, or refuse a longer one", function()
    -- 32 forward steps and a reverse relation at the end: 33 joins (the
    -- last one wrote past the walker's array of 32)
    local key = ("parent__"):rep(32) .. "children"
    local sql = Node:filter{ [key] = 1 }:sql()
    assert.is_truthy(sql:find("lim_nodes", 1, true))
    assert.are.equal(0, Node:filter{ [key] = 1 }:count())
    local ok, err = pcall(function()
      return Node:filter{ [("parent__"):rep(34) .. "id"] = 1 }:sql()
    end)
    assert.is_false(ok)
    assert.is_true(E.FieldError:is(err), tostring(err))
    assert.is_truthy(tostring(err):find("too long", 1, true))
  end)
end)
