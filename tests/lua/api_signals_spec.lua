-- Acceptance spec: orm.signals as Tortoise's tests/test_signals.py pins
-- them down, in our own words: pre_save / post_save around create() and
-- save(), pre_delete / post_delete around delete(), each once, with
-- (sender, instance, created_or_nil, using_db, update_fields) as
-- LUA_API.md says; a raising pre_ handler writes nothing; bulk and
-- queryset statements send none (as Tortoise).
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local SgItem = Model:extend("SgItem", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "sg_items" },
})
local SgOther = Model:extend("SgOther", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "sg_others" },
})
local SgThird = Model:extend("SgThird", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "sg_thirds" },
})
-- each of these two gets a handler of its own test (handlers stay)
local SgResave = Model:extend("SgResave", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "sg_resaves" },
})
local SgBoom = Model:extend("SgBoom", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30 },
  Meta = { table = "sg_booms" },
})

local calls = {}
local function log(kind)
  return function(sender, instance, created, using_db, update_fields)
    calls[#calls + 1] = { kind = kind, sender = sender, instance = instance, created = created,
                          using_db = using_db, update_fields = update_fields,
                          name = instance.name, pk = instance.pk }
  end
end
local refuse -- set by a test: pre_save / pre_delete raise
orm.signals.pre_save(SgItem, function(...)
  if refuse then error(E.ValidationError("refused by pre_save")) end
  return log("pre_save")(...)
end)
orm.signals.post_save(SgItem, log("post_save"))
local on_delete = orm.signals.pre_delete(SgItem) -- decorator style
on_delete(function(...)
  if refuse then error(E.OperationalError("refused by pre_delete")) end
  return log("pre_delete")(...)
end)
orm.signals.post_delete(SgItem, SgOther, log("post_delete")) -- two senders

local function kinds()
  local t = {}
  for _, c in ipairs(calls) do t[#t + 1] = c.kind end
  return table.concat(t, ",")
end

describe("signals", function()
  before_each(function()
    orm.testing.init{ models = { SgItem, SgOther, SgThird, SgResave, SgBoom } }
    calls, refuse = {}, false
  end)
  after_each(function() orm.testing.finish() end)

  it("create sends pre_save then post_save, once each, with Tortoise's arguments", function()
    local it_ = SgItem:create{ id = 1, name = "a" }
    assert.are.equal("pre_save,post_save", kinds())
    local pre, post = calls[1], calls[2]
    assert.are.equal(SgItem, pre.sender)
    assert.are.equal(it_, pre.instance)
    assert.is_nil(pre.created)
    assert.is_true(post.created)
    assert.are.equal(1, post.pk)
    assert.are.equal(orm.connection():dialect(), post.using_db:dialect())
    assert.is_nil(post.update_fields)
  end)

  it("save of a saved instance: created false, update_fields passed", function()
    local a = SgItem:create{ id = 1, name = "a" }
    calls = {}
    a.name = "b"
    a:save{ update_fields = { "name" } }
    assert.are.equal("pre_save,post_save", kinds())
    assert.is_false(calls[2].created)
    assert.are.same({ "name" }, calls[2].update_fields)
    assert.are.equal("b", calls[1].name)
  end)

  it("a pre_save handler's changes are saved", function()
    local h = orm.signals.pre_save(SgOther, function(_, instance) instance.name = instance.name:upper() end)
    assert.is_function(h)
    SgOther:create{ id = 1, name = "low" }
    assert.are.equal("LOW", SgOther:get{ id = 1 }.name)
  end)

  it("delete sends pre_delete then post_delete; the second sender too", function()
    local a = SgItem:create{ id = 1, name = "a" }
    calls = {}
    a:delete()
    assert.are.equal("pre_delete,post_delete", kinds())
    assert.are.equal(a, calls[1].instance)
    assert.is_nil(calls[1].created)
    SgOther:create{ id = 1, name = "o" }:delete()
    assert.are.equal("pre_delete,post_delete,post_delete", kinds())
    assert.are.equal(SgOther, calls[3].sender)
  end)

  it("a raising pre_ handler cancels: nothing written, its error raised", function()
    refuse = true
    local e = catch(function() return SgItem:create{ id = 1, name = "a" } end)
    is(E.ValidationError, e)
    assert.truthy(tostring(e):find("refused by pre_save", 1, true))
    refuse = false
    assert.are.equal(0, SgItem:all():count())
    local a = SgItem:create{ id = 2, name = "b" }
    refuse = true
    a.name = "changed"
    is(E.ValidationError, catch(function() a:save() end))
    is(E.OperationalError, catch(function() a:delete() end))
    refuse = false
    assert.are.equal("b", SgItem:get{ id = 2 }.name)
  end)

  it("post_save sees the instance saved: saving it there again updates the row", function()
    local runs = 0
    orm.signals.post_save(SgResave, function(_, instance, created)
      runs = runs + 1
      if created then
        instance.name = instance.name .. "+"
        instance:save() -- an UPDATE of the row just inserted, not a second INSERT
      end
    end)
    local o = SgResave:create{ id = 5, name = "o" }
    assert.are.equal(2, runs)
    assert.are.equal(1, SgResave:all():count())
    assert.are.equal("o+", SgResave:get{ id = 5 }.name)
    assert.are.equal("o+", o.name)
  end)

  it("a pre_save handler's Lua error while the core saves is raised as it was", function()
    local boom = setmetatable({}, { __tostring = function() return "boom object" end })
    orm.signals.pre_save(SgBoom, function() error(boom) end)
    local ok, e = pcall(function() return SgBoom:create{ id = 1, name = "x" } end)
    assert.is_false(ok)
    assert.are.equal(boom, e) -- the very object, not a copy or its text
    assert.are.equal(0, SgBoom:all():count())
  end)

  it("bulk and queryset statements send none", function()
    SgItem:bulk_create{ SgItem{ id = 1, name = "a" }, SgItem{ id = 2, name = "b" } }
    SgItem:filter{ id = 1 }:update{ name = "x" }
    SgItem:filter{ id = 2 }:delete()
    assert.are.equal("", kinds())
  end)

  it("Tortoise's test_signals: handlers that update other rows", function()
    local watch = SgThird:create{ id = 10, name = "test1" }
    orm.signals.post_save(SgThird, function(_, instance)
      if instance.id ~= 10 then SgThird:filter{ name = "test1" }:update{ name = "test_post-save" } end
    end)
    SgThird:create{ id = 11, name = "other" }
    assert.are.equal("test_post-save", SgThird:get{ id = watch.id }.name)
  end)

  it("needs a model and a function", function()
    is(E.ParamsError, catch(function() orm.signals.pre_save(function() end) end))
    is(E.ParamsError, catch(function() orm.signals.pre_save(SgItem)(42) end))
  end)
end)
