-- validators.lua -- orm.validators: Tortoise's validators, checked on
-- save and create by the core (orm/validate.c: Tortoise's messages,
-- PCRE2 patterns) through the field's validators list; any Lua function
-- (or callable) is a validator too.  Called directly, v(value) raises
-- ValidationError when the value fails.
local orm = ...

local V = {}

local mt = {
  __call = function(self, value) return orm._run_validator(self, value) end,
  __tostring = function(self) return "<" .. self.name .. ">" end,
}

local function validator(name)
  return function(...)
    return setmetatable({ name = name, args = table.pack(...) }, mt)
  end
end

V.MinValueValidator = validator("MinValueValidator")
V.MaxValueValidator = validator("MaxValueValidator")
V.MinLengthValidator = validator("MinLengthValidator")
V.MaxLengthValidator = validator("MaxLengthValidator")
-- RegexValidator(pattern[, flags]): a PCRE2 pattern matched at the start
-- of the value (Python's re.match); flags "i" ignores case (re.I).
V.RegexValidator = validator("RegexValidator")
-- CommaSeparatedIntegerListValidator([allow_negative]): "1,2,3".
V.CommaSeparatedIntegerListValidator = validator("CommaSeparatedIntegerListValidator")

orm.validators = V
