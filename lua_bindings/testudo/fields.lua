-- fields.lua -- orm.fields: field constructors.  Each call takes a sequence
-- number so that Model:extend can restore the declaration order of a body
-- table (as Django's creation counter does).
local orm, C = ...
local FieldSpec = C.FieldSpec

local seq = 0

local types = {
  "IntField", "BigIntField", "SmallIntField", "FloatField", "DecimalField",
  "CharField", "TextField", "BooleanField", "DatetimeField", "DateField",
  "TimeField", "TimeDeltaField", "UUIDField", "JSONField", "BinaryField",
  "CharEnumField", "IntEnumField", "ForeignKeyField", "OneToOneField",
  "ManyToManyField",
}

local relations = {
  ForeignKeyField = true, OneToOneField = true, ManyToManyField = true,
}

local fields = {}

local function is_model(v)
  return type(v) == "table" and rawget(v, "__tdo") ~= nil
end

local function make(type_name)
  return function(a, b)
    local opts = {}
    if type(a) == "table" and not is_model(a) then
      for k, v in pairs(a) do opts[k] = v end
    elseif a ~= nil then
      -- positional first argument: the related model ("models.User" or a
      -- model table), or max_length for a CharField
      if relations[type_name] then
        opts[1] = a
      elseif type_name == "CharField" and math.type(a) == "integer" then
        opts.max_length = a
      else
        error(orm.exceptions.ConfigurationError(
          type_name .. " takes a table of options"), 2)
      end
      if type(b) == "table" then
        for k, v in pairs(b) do opts[k] = v end
      end
    end
    if opts.pk ~= nil and opts.primary_key == nil then
      opts.primary_key = opts.pk
    end
    if type(opts.validators) == "function" then
      opts.validators = { opts.validators }
    end
    seq = seq + 1
    opts.__type = type_name
    opts.__seq = seq
    return setmetatable(opts, FieldSpec)
  end
end

for _, t in ipairs(types) do
  fields[t] = make(t)
end
-- Tortoise spellings
fields.ForeignKeyRelation = fields.ForeignKeyField
fields.OneToOneRelation = fields.OneToOneField
fields.ManyToManyRelation = fields.ManyToManyField

-- on_delete values, as in tortoise.fields
local on_delete = {
  CASCADE = "CASCADE", RESTRICT = "RESTRICT", SET_NULL = "SET NULL",
  SET_DEFAULT = "SET DEFAULT", NO_ACTION = "NO ACTION",
}
for k, v in pairs(on_delete) do
  fields[k] = v
  orm[k] = v
end

orm.fields = fields
