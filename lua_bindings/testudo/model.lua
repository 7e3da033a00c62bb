-- model.lua -- the parts of orm.Model written in Lua (not on hot paths):
-- create, get_or_create, update_or_create, bulk_update, describe, and the
-- instance methods refresh_from_db, update_from_dict, clone, to_table,
-- fetch_related.
local orm, C = ...
local Base = orm.Model
local state = C.state
local E = orm.exceptions

local function is_model(v)
  return type(v) == "table" and rawget(v, "__tdo") ~= nil
end

local function check_model(self, method)
  if not is_model(self) then
    error(E.ParamsError(("%s: call it on a model (Model:%s{...})")
      :format(method, method)), 3)
  end
end

local function check_instance(self, method)
  local M = orm._model_of(self)
  if not M then
    error(E.ParamsError(("%s: call it on an instance (obj:%s(...))")
      :format(method, method)), 3)
  end
  return M
end

-- The connection name a model's queries run on.
local function conn_name(M)
  local name = state.apps_conn and state.apps_conn[M._meta.app]
  if name and C.has_conn(name) then return name end
  if C.has_conn("default") then return "default" end
  return state.first_conn or "default"
end
C.conn_name = conn_name

-- A transaction on the connection using_db names (a name, a connection,
-- a transaction object), else on the model's own.
local function in_tx(M, fn, using)
  return orm.in_transaction(using ~= nil and C.using_name(using) or conn_name(M), fn)
end

-- The model's rows, on the connection using_db names when it is given.
local function rows(M, using)
  local qs = M:all()
  if using ~= nil then qs = qs:using_db(using) end
  return qs
end

function Base:create(kw)
  check_model(self, "create")
  local data = kw -- the constructor copies it
  local using = kw and kw.using_db
  if using ~= nil then
    data = {}
    for k, v in pairs(kw) do
      if k ~= "using_db" then data[k] = v end
    end
  end
  local obj = self(data)
  obj:save{ using_db = using }
  return obj
end

-- Splits get_or_create-style arguments into the lookup and the defaults.
local function split(kw)
  local lookup, defaults = {}, {}
  for k, v in pairs(kw or {}) do
    if k == "defaults" then
      defaults = v
    elseif k ~= "using_db" then
      lookup[k] = v
    end
  end
  return lookup, defaults
end

-- The values a new object gets from a lookup: plain field = value pairs.
-- A field that the lookup and the defaults both give, with different
-- values, is a ParamsError (as Tortoise, on the way to create only).
local function create_data(lookup, defaults)
  local data = {}
  for k, v in pairs(defaults or {}) do data[k] = v end
  for k, v in pairs(lookup) do
    local name
    if type(k) == "string" and not k:find("__", 1, true) then
      name = k
    elseif type(k) == "string" and k:sub(-7) == "__exact" then
      name = k:sub(1, -8)
    end
    if name then
      local d = defaults and defaults[name]
      if d ~= nil and d ~= v then
        error(E.ParamsError(("Conflict value with key='%s': default_value=%s vs query_value=%s")
          :format(name, tostring(d), tostring(v))), 3)
      end
      data[name] = v
    end
  end
  return data
end

function Base:get_or_create(kw)
  check_model(self, "get_or_create")
  local lookup, defaults = split(kw)
  local using = kw and kw.using_db
  local obj = rows(self, using):filter(lookup):get_or_none()
  if obj then return obj, false end
  local ok, res = pcall(in_tx, self, function()
    local data = create_data(lookup, defaults)
    data.using_db = using
    return self:create(data)
  end, using)
  if ok then return res, true end
  if E.IntegrityError:is(res) then
    obj = rows(self, using):filter(lookup):get_or_none()
    if obj then return obj, false end
  end
  error(res, 0)
end

function Base:update_or_create(kw)
  check_model(self, "update_or_create")
  local lookup, defaults = split(kw)
  local using = kw and kw.using_db
  return in_tx(self, function()
    local obj = rows(self, using):filter(lookup):get_or_none()
    if obj then
      obj:update_from_dict(defaults)
      obj:save{ using_db = using }
      return obj, false
    end
    local data = create_data(lookup, defaults)
    data.using_db = using
    return self:create(data), true
  end, using)
end

function Base:bulk_update(objs, field_names, opts)
  check_model(self, "bulk_update")
  if type(field_names) ~= "table" or #field_names == 0 then
    error(E.ParamsError("bulk_update needs a list of field names"), 2)
  end
  local n = 0
  local using = opts and opts.using_db
  in_tx(self, function()
    for _, obj in ipairs(objs) do
      obj:save{ update_fields = field_names, using_db = using }
      n = n + 1
    end
  end, using)
  return n
end

-- Instance methods ---------------------------------------------------------

local function attr_of(M, name)
  local f = M._meta.fields_map[name]
  if f then return f.attr, f end
  for _, fo in pairs(M._meta.fields_map) do
    if fo.attr == name then return fo.attr, fo end
  end
  if name == "pk" then return M._meta.pk_attr, M._meta.fields_map[M._meta.pk_attr] end
  return nil
end

function Base:refresh_from_db(opts)
  local M = check_instance(self, "refresh_from_db")
  local pk = self.pk
  if pk == nil then
    error(E.OperationalError("Can't refresh unpersisted record"), 2)
  end
  local fresh = M:filter{ pk = pk }:first()
  if fresh == nil then
    error(M.DoesNotExist(("%s: Object does not exist"):format(M._meta.name)), 2)
  end
  local names = opts and opts.fields or M._meta.fields
  for _, name in ipairs(names) do
    local attr = attr_of(M, name)
    if not attr then
      error(E.FieldError(("no such field '%s' on model '%s'"):format(name, M._meta.name)), 2)
    end
    rawset(self, attr, rawget(fresh, attr))
  end
  -- a partial instance (only()) now has these fields too
  local loaded = state.partial[self]
  if loaded then
    if opts and opts.fields then
      local copy = {}
      for k in pairs(loaded) do copy[k] = true end
      for _, name in ipairs(names) do copy[attr_of(M, name)] = true end
      state.partial[self] = copy
    else
      state.partial[self] = nil
    end
  end
  C.set_saved(self, true)
  return self
end

-- As Tortoise: names that are no field of the model are left alone; a
-- many-to-many or reverse relation raises ConfigurationError.
function Base:update_from_dict(data)
  local M = check_instance(self, "update_from_dict")
  for k, v in pairs(data or {}) do
    local f = type(k) == "string" and M._meta.fields_map[k]
    if f and (f.reverse or f.field_type == "ManyToManyField") then
      error(E.ConfigurationError(("You can't set m2m relations through "
        .. "update_from_dict: %s.%s (use its add() / remove())"):format(M._meta.name, k)), 2)
    end
    if f or (type(k) == "string" and (k == "pk" or attr_of(M, k))) then
      C.set_attr(self, k, v)
    end
  end
  return self
end

function Base:clone(opts)
  local M = check_instance(self, "clone")
  local copy = setmetatable({}, M)
  for _, attr in ipairs(M._meta.fields) do
    rawset(copy, attr, rawget(self, attr))
  end
  local pk = M._meta.pk_attr
  if pk then
    local f = M._meta.fields_map[pk]
    local given = opts and opts.pk
    if given == nil and f and not f.generated and f.default == nil then
      error(E.ParamsError(("%s's primary key is not generated: give the "
        .. "copy one, clone{ pk = ... }"):format(M._meta.name)), 2)
    end
    rawset(copy, f and f.attr or pk, given)
  end
  return copy
end

function Base:to_table()
  local M = check_instance(self, "to_table")
  local t = {}
  for _, attr in ipairs(M._meta.fields) do
    t[attr] = rawget(self, attr)
  end
  return t
end

-- fetch_related is in related.lua.

-- describe ----------------------------------------------------------------

local int_bounds = {
  IntField = { -2147483648, 2147483647 },
  SmallIntField = { -32768, 32767 },
  BigIntField = { math.mininteger, math.maxinteger },
}

local function describe_field(f)
  local default = f.default
  if type(default) == "function" then default = "<function>" end
  local constraints = {}
  if f.max_length then constraints.max_length = f.max_length end
  local b = int_bounds[f.field_type]
  if b then
    constraints.ge = f.generated and 1 or b[1]
    constraints.le = b[2]
  end
  local d = {
    name = f.name,
    field_type = f.field_type,
    db_column = f.source_field,
    nullable = f.null,
    unique = f.unique,
    indexed = f.index or f.unique or f.pk,
    generated = f.generated,
    default = default,
    description = f.description,
    constraints = constraints,
  }
  if f.related_model then
    d.python_type = f.related_model
    d.related_model = f.related_model
    d.related_name = f.related_name
    d.on_delete = f.on_delete
    d.raw_field = f.field_type ~= "ManyToManyField" and f.attr or nil
  end
  if f.field_type == "DecimalField" then
    d.max_digits = f.max_digits
    d.decimal_places = f.decimal_places
  end
  return d
end

-- The description of a reverse relation (BackwardFKRelation, ...).
local function describe_backward(rel)
  local M = rel.target
  return {
    name = rel.name,
    field_type = rel.model._meta.fields_map[rel.name].field_type,
    python_type = M._meta.app .. "." .. M._meta.name,
    related_model = M._meta.app .. "." .. M._meta.name,
    related_name = rel.field.name,
    generated = false,
    nullable = rel.kind ~= "reverse_m2m" and rel.field.null or false,
    unique = false,
    indexed = false,
    default = nil,
    description = rel.field.description,
    constraints = {},
    db_constraint = rel.field.db_constraint,
  }
end

-- The description of the raw column of a FK/O2O ("customer_id"), a data
-- field of the type of the related primary key, as Tortoise lists it.
local function describe_raw(f, rels)
  local rel = rels[f.name]
  local tpk = rel and rel.target._meta.fields_map[rel.target._meta.pk_attr]
  local d = describe_field{
    name = f.attr,
    field_type = tpk and tpk.field_type or "IntField",
    source_field = f.source_field or f.attr,
    null = f.null,
    unique = f.unique,
    index = f.index or f.unique,
    max_length = tpk and tpk.max_length,
    description = f.description,
  }
  if d.constraints.ge and tpk and tpk.generated then d.constraints.ge = 1 end
  return d
end

function Base:describe()
  check_model(self, "describe")
  local meta = self._meta
  local rels = C.relations and C.relations(self) or {}
  local data, fks, o2os, m2ms = {}, {}, {}, {}
  local bfks, bo2os = {}, {}
  local pk_field
  -- data fields in declaration order
  for _, attr in ipairs(meta.fields) do
    local f
    for _, fo in pairs(meta.fields_map) do
      if fo.attr == attr then f = fo end
    end
    if f then
      if f.pk then
        pk_field = describe_field(f)
      elseif f.field_type == "ForeignKeyField" then
        data[#data + 1] = describe_raw(f, rels)
        fks[#fks + 1] = describe_field(f)
      elseif f.field_type == "OneToOneField" then
        data[#data + 1] = describe_raw(f, rels)
        o2os[#o2os + 1] = describe_field(f)
      else
        data[#data + 1] = describe_field(f)
      end
    end
  end
  for _, name in ipairs(meta.m2m_fields) do
    m2ms[#m2ms + 1] = describe_field(meta.fields_map[name])
  end
  local names = {}
  for name in pairs(rels) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local rel = rels[name]
    if rel.kind == "reverse_fk" then
      bfks[#bfks + 1] = describe_backward(rel)
    elseif rel.kind == "reverse_o2o" then
      bo2os[#bo2os + 1] = describe_backward(rel)
    elseif rel.kind == "reverse_m2m" then
      m2ms[#m2ms + 1] = describe_backward(rel)
    end
  end
  return {
    name = meta.app .. "." .. meta.name,
    app = meta.app,
    table = meta.db_table,
    abstract = meta.abstract,
    description = meta.description,
    pk_field = pk_field,
    data_fields = data,
    fk_fields = fks,
    backward_fk_fields = bfks,
    o2o_fields = o2os,
    backward_o2o_fields = bo2os,
    m2m_fields = m2ms,
    unique_together = meta.unique_together,
    indexes = meta.indexes,
  }
end

-- A field holding an expression (u.stock = F"stock" + 1) is saved by an
-- UPDATE that computes it in the database, in one transaction with the
-- other fields; the attribute keeps the expression until refresh_from_db
-- (as Tortoise).  Only an instance already saved can take one.  u:save()
-- (linstance.c) comes here when a field holds one.
local F_MT = getmetatable(orm.F("x"))
local c_save = C.save_plain
function state.save_exprs(self, opts)
  local M = orm._model_of(self)
  local exprs
  local only = type(opts) == "table" and opts.update_fields
  local wanted
  if type(only) == "table" then
    wanted = {}
    for _, n in ipairs(only) do
      local f = M._meta.fields_map[n]
      wanted[f and f.attr or n] = true
    end
  end
  for _, attr in ipairs(M._meta.fields) do
    local v = rawget(self, attr)
    if getmetatable(v) == F_MT and (not wanted or wanted[attr]) then
      exprs = exprs or {}
      exprs[attr] = v
    end
  end
  if not exprs then return c_save(self, opts) end
  if not C.is_saved(self) or self.pk == nil then
    error(E.OperationalError(("%s: an expression (F) can only be saved to a "
      .. "row that exists: save the instance first"):format(M._meta.name)), 3)
  end
  -- the other fields as asked, then the expressions
  local rest = {}
  for _, attr in ipairs(M._meta.fields) do
    if not exprs[attr] and (not wanted or wanted[attr]) then rest[#rest + 1] = attr end
  end
  local o = {}
  if type(opts) == "table" then for k, v in pairs(opts) do o[k] = v end end
  o.update_fields = rest
  return in_tx(M, function()
    if #rest > 0 then c_save(self, o) end
    M:filter{ pk = self.pk }:update(exprs)
  end)
end
