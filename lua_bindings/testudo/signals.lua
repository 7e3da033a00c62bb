-- signals.lua -- orm.signals: pre_save, post_save, pre_delete,
-- post_delete, as Tortoise's tortoise.signals.  A handler is kept by the
-- core (orm/save.c) and run around an instance's save() / delete() (not
-- bulk or queryset statements) with (sender, instance, created_or_nil,
-- using_db, update_fields); an error in a pre_ handler cancels the
-- operation.
--   orm.signals.pre_save(User, function(sender, instance, ...) ... end)
--   local on_save = orm.signals.post_save(User, Order)  -- decorator
--   on_save(function(sender, instance, created) ... end)
local orm, C = ...
local E = orm.exceptions

local S = {}

for _, name in ipairs{ "pre_save", "post_save", "pre_delete", "post_delete" } do
  S[name] = function(...)
    local n = select("#", ...)
    local args = { ... }
    local fn = args[n]
    local senders = {}
    for i = 1, (type(fn) == "function" and n - 1 or n) do senders[#senders + 1] = args[i] end
    if #senders == 0 then
      error(E.ParamsError(("orm.signals.%s needs a model"):format(name)), 2)
    end
    local function connect(f)
      if type(f) ~= "function" then
        error(E.ParamsError(("orm.signals.%s: a handler is a function"):format(name)), 2)
      end
      for _, M in ipairs(senders) do C.connect_signal(M, name, f) end
      return f
    end
    if type(fn) == "function" then return connect(fn) end
    return connect
  end
end

orm.signals = S
