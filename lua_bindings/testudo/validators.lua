-- validators.lua -- orm.validators: callables checked on save and create;
-- they raise ValidationError (the field name is added by save).
local orm = ...
local ValidationError = orm.exceptions.ValidationError

local V = {}

local function validator(name, check)
  return function(...)
    local args = table.pack(...)
    return setmetatable({ name = name, args = args }, {
      __call = function(_, value)
        local msg = check(value, table.unpack(args, 1, args.n))
        if msg then error(ValidationError(msg), 0) end
      end,
      __tostring = function() return "<" .. name .. ">" end,
    })
  end
end

local function len(v)
  if type(v) == "string" then return utf8.len(v) or #v end
  if type(v) == "table" then return #v end
  return nil
end

V.MinValueValidator = validator("MinValueValidator", function(v, min)
  if v ~= nil and v < min then
    return ("Value should be greater or equal to %s"):format(tostring(min))
  end
end)

V.MaxValueValidator = validator("MaxValueValidator", function(v, max)
  if v ~= nil and v > max then
    return ("Value should be less or equal to %s"):format(tostring(max))
  end
end)

V.MinLengthValidator = validator("MinLengthValidator", function(v, min)
  local n = len(v)
  if n and n < min then
    return ("Length of '%s' %d < %d"):format(tostring(v), n, min)
  end
end)

V.MaxLengthValidator = validator("MaxLengthValidator", function(v, max)
  local n = len(v)
  if n and n > max then
    return ("Length of '%s' %d > %d"):format(tostring(v), n, max)
  end
end)

-- The pattern is a Lua pattern, anchored at neither end (as re.search).
V.RegexValidator = validator("RegexValidator", function(v, pattern)
  if v ~= nil and not tostring(v):find(pattern) then
    return ("Value '%s' does not match regex '%s'"):format(tostring(v), pattern)
  end
end)

orm.validators = V
