-- related.lua -- relations on the Lua side: the relation map of every
-- model, as the core computes it (relation.c: forward FK/O2O/M2M fields
-- and the reverse sides, with Tortoise's names), reverse relations and many-to-many as instance attributes
-- (related managers: querysets with add/remove/clear), prefetch_related
-- and fetch_related (one statement per relation level, never one per
-- row), orm.Prefetch, and the decoding of select_related rows into
-- nested instances.
--
-- Forward FK/O2O attributes (order.customer) are read by linstance.c,
-- which loads and caches them in state.related; this file fills the same
-- cache when it prefetches.
local orm, C = ...
local state = C.state
local E = orm.exceptions
local Base = orm.Model

local pairs, ipairs, rawget, rawset, getmetatable, setmetatable, type =
  pairs, ipairs, rawget, rawset, getmetatable, setmetatable, type

-- A cached "no related object" (reverse one-to-one without a row).
local NONE = setmetatable({}, { __name = "testudo.NoRelated" })

-- ---------------------------------------------------------------------
-- The relation map
-- ---------------------------------------------------------------------

-- rels[Model] = { [name] = rel }; rel = { name, kind ("fk", "o2o",
-- "m2m", "reverse_fk", "reverse_o2o", "reverse_m2m"), model, target,
-- field (the declaring field object), attr (fk/o2o: "customer_id" on
-- model), remote_attr (reverse fk/o2o: "customer_id" on target),
-- opposite (the name of the other side on target, or nil), key (fk/o2o:
-- the attribute of target the key holds; reverse: the attribute of
-- model the remote key holds: "pk", or the declared to_field) }.
local rels = setmetatable({}, { __mode = "k" })
local built_gen

local backward_type = {
  fk = "BackwardFKRelation", o2o = "BackwardOneToOneRelation",
  m2m = "ManyToManyField",
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

-- The map is the core's relation graph (C.core_relations, relation.c:
-- the one home of the relation rules -- names, reverse sides, clashes),
-- completed with the Lua field objects; the reverse sides are added to
-- the targets' _meta.fields_map (field_type BackwardFKRelation, ...).
local function add_reverse_field(T, rel, f, D)
  local kind = rel.kind:sub(9) -- "reverse_fk" -> "fk"
  T._meta.fields_map[rel.name] = {
    field_type = backward_type[kind], name = rel.name, reverse = true,
    related_model = D._meta.app .. "." .. D._meta.name,
    related_name = rel.opposite, null = kind ~= "m2m" and f.null or false,
    unique = false, index = false, pk = false, generated = false,
    description = f.description, model = T,
  }
end

local function rebuild()
  rels = setmetatable({}, { __mode = "k" })
  local models = {}
  for _, app in ipairs(sorted_keys(orm.apps)) do
    for _, name in ipairs(sorted_keys(orm.apps[app])) do
      local M = orm.apps[app][name]
      if type(M) == "table" and type(rawget(M, "_meta")) == "table" then
        models[#models + 1] = M
        local fmap = M._meta.fields_map
        for k, f in pairs(fmap) do
          if type(f) == "table" and f.reverse then fmap[k] = nil end
        end
        rels[M] = {}
      end
    end
  end
  for _, M in ipairs(models) do
    if not M._meta.abstract then
      for name, rel in pairs(C.core_relations(M)) do
        local reverse = rel.kind:sub(1, 8) == "reverse_"
        local D = reverse and rel.target or M -- the declaring model
        local f = D._meta.fields_map[rel.field_name]
        if f and rels[rel.target] then
          rel.model, rel.field = M, f
          if rel.kind == "fk" or rel.kind == "o2o" then
            rel.attr = f.attr
          elseif rel.kind == "reverse_fk" or rel.kind == "reverse_o2o" then
            rel.remote_attr = f.attr
          end
          rels[M][name] = rel
          if reverse then add_reverse_field(M, rel, f, D) end
        end
      end
    end
  end
  built_gen = state.rel_gen
end

-- Returns the relations of model M ({ [name] = rel }).
local function relations(M)
  if built_gen == nil or built_gen ~= state.rel_gen then rebuild() end
  return rels[M] or {}
end
C.relations = relations

-- Called by Model:extend after a model is declared.
function state.on_model_declared()
  state.rel_gen = (state.rel_gen or 0) + 1
  rebuild()
end

-- An unknown relation: FieldError for a name, OperationalError for an
-- orm.Prefetch object (the classes Tortoise raises).
local function relation_error(M, name, class)
  local names = sorted_keys(relations(M))
  return (class or E.FieldError)(("no relation '%s' on model '%s' (relations: %s)")
    :format(tostring(name), M._meta.name, table.concat(names, ", ")))
end

-- ---------------------------------------------------------------------
-- The related cache (state.related[instance][name])
-- ---------------------------------------------------------------------

local function set_related(obj, name, v)
  local t = state.related[obj]
  if not t then
    t = {}
    state.related[obj] = t
  end
  t[name] = v
end

local function get_related(obj, name)
  local t = state.related[obj]
  return t and t[name]
end

-- ---------------------------------------------------------------------
-- Related managers
-- ---------------------------------------------------------------------

local function owner_pk(obj, rel)
  local pk = obj.pk
  if pk == nil then
    error(E.OperationalError(("This objects hasn't been instanced, call "
      .. ".save() before calling related queries (%s.%s)")
      :format(rel.model._meta.name, rel.name)), 3)
  end
  return pk
end

-- The value obj's reverse relation rel matches in its targets' key: the
-- pk, or the field a to_field names.
local function owner_key(obj, rel)
  local pk = owner_pk(obj, rel)
  if rel.key == "pk" then return pk end
  return obj[rel.key]
end

-- A queryset of the rows related to obj through rel (reverse FK or
-- m2m); list (optional) is its prefetched result.
local function manager(obj, rel, list)
  local qs
  if rel.kind == "reverse_fk" then
    qs = rel.target:filter{ [rel.remote_attr] = owner_key(obj, rel) }
  else
    qs = rel.target:filter{ [rel.opposite .. "__pk"] = owner_pk(obj, rel) }
  end
  C.qs_set_manager(qs, { instance = obj, rel = rel })
  if list then C.qs_set_cache(qs, list) end
  return qs
end

-- Instance attribute hook (linstance.c): reverse relations and m2m.
function state.rel_index(obj, key)
  local M = getmetatable(obj)
  local rel = relations(M)[key]
  if not rel or rel.kind == "fk" or rel.kind == "o2o" then return nil end
  local cached = get_related(obj, key)
  if cached ~= nil then
    if cached == NONE then return nil end
    return cached
  end
  if state.lazy_hook then state.lazy_hook(M._meta.name, key, "prefetch") end
  if rel.kind == "reverse_o2o" then
    local v = rel.target:get_or_none{ [rel.remote_attr] = owner_key(obj, rel) }
    set_related(obj, key, v == nil and NONE or v)
    return v
  end
  return manager(obj, rel)
end

-- The instances among the arguments: instances, arrays of instances; a
-- trailing plain table with option keys is returned as options.
local option_keys = { through_defaults = true, using_db = true }
local function targets_of(rel, ...)
  local n = select("#", ...)
  local args = { ... }
  local opts = {}
  local last = args[n]
  if n > 0 and type(last) == "table" and getmetatable(last) == nil then
    local is_opts = next(last) == nil
    for k in pairs(last) do
      if option_keys[k] then is_opts = true end
    end
    if is_opts then
      opts = last
      n = n - 1
    end
  end
  local list = {}
  local function add(v)
    if orm._model_of(v) then
      if getmetatable(v) ~= rel.target then
        error(E.ParamsError(("%s.%s takes %s instances, not %s")
          :format(rel.model._meta.name, rel.name, rel.target._meta.name,
                  tostring(v))), 4)
      end
      if v.pk == nil then
        error(E.OperationalError(("You should first call .save() on %s")
          :format(tostring(v))), 4)
      end
      list[#list + 1] = v
    elseif type(v) == "table" and getmetatable(v) == nil then
      for _, x in ipairs(v) do add(x) end
    else
      error(E.ParamsError(("%s.%s takes %s instances (got a %s)")
        :format(rel.model._meta.name, rel.name, rel.target._meta.name,
                type(v))), 4)
    end
  end
  for i = 1, n do add(args[i]) end
  return list, opts
end

local function forget(qs, info)
  set_related(info.instance, info.rel.name, nil)
  C.qs_set_manager(qs, info)
end

local Manager = {}

-- product.tags:add(tag1, tag2, {through_defaults = {...}}); for a
-- reverse FK (user.orders:add(order)) the objects are re-pointed and
-- saved, as Django does.
function Manager.add(qs, ...)
  local info = C.qs_manager(qs)
  local rel = info.rel
  local list, opts = targets_of(rel, ...)
  if rel.kind == "reverse_fk" then
    for _, o in ipairs(list) do
      o[rel.field.name] = info.instance
      o:save{ update_fields = { rel.remote_attr } }
    end
  elseif rel.kind == "m2m" or rel.kind == "reverse_m2m" then
    if #list > 0 then
      C.m2m_add(rel.model, rel.name, owner_pk(info.instance, rel), list,
                opts.through_defaults)
    end
  else
    error(E.OperationalError(("%s.%s has no add()")
      :format(rel.model._meta.name, rel.name)), 2)
  end
  forget(qs, info)
end

-- product.tags:remove(tag1, ...)
function Manager.remove(qs, ...)
  local info = C.qs_manager(qs)
  local rel = info.rel
  local list = targets_of(rel, ...)
  if rel.kind ~= "m2m" and rel.kind ~= "reverse_m2m" then
    error(E.OperationalError(("%s.%s has no remove(): it is not a "
      .. "many-to-many relation"):format(rel.model._meta.name, rel.name)), 2)
  end
  if #list == 0 then
    error(E.OperationalError("remove() called on no instances"), 2)
  end
  C.m2m_remove(rel.model, rel.name, owner_pk(info.instance, rel), list)
  forget(qs, info)
end

-- product.tags:clear()
function Manager.clear(qs)
  local info = C.qs_manager(qs)
  local rel = info.rel
  if rel.kind ~= "m2m" and rel.kind ~= "reverse_m2m" then
    error(E.OperationalError(("%s.%s has no clear(): it is not a "
      .. "many-to-many relation"):format(rel.model._meta.name, rel.name)), 2)
  end
  C.m2m_remove(rel.model, rel.name, owner_pk(info.instance, rel), {})
  forget(qs, info)
end

-- user.orders:create{...} / product.tags:create{...}: a new related row.
function Manager.create(qs, kw)
  local info = C.qs_manager(qs)
  local rel = info.rel
  local data = {}
  for k, v in pairs(kw or {}) do data[k] = v end
  if rel.kind == "reverse_fk" or rel.kind == "reverse_o2o" then
    data[rel.field.name] = info.instance
    local obj = rel.target:create(data)
    forget(qs, info)
    return obj
  end
  local obj = rel.target:create(data)
  Manager.add(qs, obj)
  return obj
end

C.qs_manager_methods(Manager)

-- ---------------------------------------------------------------------
-- orm.Prefetch and prefetching
-- ---------------------------------------------------------------------

local Prefetch = { __name = "testudo.Prefetch" }
Prefetch.__index = Prefetch
function Prefetch.__tostring(p)
  return ("<Prefetch %s>"):format(p.relation)
end

-- orm.Prefetch("lines", OrderLine:filter{...}, {to_attr = "big_lines"})
-- (to_attr may also be the third argument itself, or a key of a single
-- table argument: orm.Prefetch{"lines", qs, to_attr = ...}).
function orm.Prefetch(relation, queryset, opts)
  if type(relation) == "table" and getmetatable(relation) == nil then
    local t = relation
    relation, queryset, opts = t[1] or t.relation, t[2] or t.queryset, t
  end
  if type(relation) ~= "string" then
    error(E.ParamsError("Prefetch takes a relation name"), 2)
  end
  local to_attr = type(opts) == "string" and opts
    or (type(opts) == "table" and opts.to_attr) or nil
  if queryset ~= nil and not (type(queryset) == "userdata"
      and getmetatable(queryset).__name == "testudo.QuerySet") then
    if type(queryset) == "table" and rawget(queryset, "__tdo") then
      queryset = queryset:all()
    else
      error(E.ParamsError("Prefetch: the queryset must be a QuerySet"), 2)
    end
  end
  return setmetatable({ relation = relation, queryset = queryset,
                        to_attr = to_attr }, Prefetch)
end

local function split_path(path)
  local parts = {}
  for part in (path .. "__"):gmatch("(.-)__") do parts[#parts + 1] = part end
  return parts
end

-- The tree of levels: node = { rel, qs, to_attr, key, children, order }.
local function build_tree(M, specs)
  local root = { children = {}, order = {} }
  for _, spec in ipairs(specs) do
    local path, qs, to_attr, by_object
    if type(spec) == "string" then
      path = spec
    elseif getmetatable(spec) == Prefetch then
      path, qs, to_attr = spec.relation, spec.queryset, spec.to_attr
      by_object = true
    else
      error(E.ParamsError(("prefetch_related takes relation names or "
        .. "orm.Prefetch objects (got %s)"):format(tostring(spec))), 0)
    end
    local parts = split_path(path)
    local node, cur = root, M
    for i, part in ipairs(parts) do
      local rel = relations(cur)[part]
      if not rel then
        error(relation_error(cur, part, by_object and E.OperationalError), 0)
      end
      local last = i == #parts
      local key = (last and to_attr) or part
      local child = node.children[key]
      if not child then
        child = { rel = rel, key = key, children = {}, order = {} }
        node.children[key] = child
        node.order[#node.order + 1] = key
      end
      if last then
        if qs then child.qs = qs end
        if to_attr then child.to_attr = to_attr end
      end
      node, cur = child, rel.target
    end
  end
  return root
end

-- Unique non-nil values, in first-seen order.
local function unique(objs, get)
  local seen, list = {}, {}
  for _, o in ipairs(objs) do
    local v = get(o)
    if v ~= nil and not seen[v] then
      seen[v] = true
      list[#list + 1] = v
    end
  end
  return list
end

local function base_qs(node)
  return node.qs or node.rel.target:all()
end

local run_node

-- Loads node's relation for every instance of objs with one statement,
-- then its children for the instances it fetched.
function run_node(objs, node)
  local rel = node.rel
  local fetched = {}
  local name = node.to_attr or rel.name
  if rel.kind == "fk" or rel.kind == "o2o" then
    local attr = rel.attr
    local ids = unique(objs, function(o) return rawget(o, attr) end)
    local by_id = {}
    if #ids > 0 then
      local key = rel.key
      for _, t in ipairs(base_qs(node):filter{ [key .. "__in"] = ids }:list()) do
        by_id[t[key]] = t
        fetched[#fetched + 1] = t
      end
    end
    for _, o in ipairs(objs) do
      local id = rawget(o, attr)
      local t = id ~= nil and by_id[id] or nil
      if node.to_attr then
        rawset(o, node.to_attr, t)
      elseif t ~= nil then
        set_related(o, rel.name, t)
      end
    end
  else
    local key = rel.key or "pk"
    local pks = unique(objs, function(o) return o[key] end)
    local groups = {}
    if #pks > 0 then
      local qs, src
      if rel.kind == "reverse_fk" or rel.kind == "reverse_o2o" then
        qs = base_qs(node):filter{ [rel.remote_attr .. "__in"] = pks }
        src = rel.remote_attr
      else
        src = "_prefetch_src"
        qs = base_qs(node):filter{ [rel.opposite .. "__pk__in"] = pks }
          :annotate{ [src] = orm.F(rel.opposite .. "__pk") }
      end
      for _, t in ipairs(qs:list()) do
        local key = rawget(t, src)
        if src == "_prefetch_src" then rawset(t, src, nil) end
        local g = groups[key]
        if not g then
          g = {}
          groups[key] = g
        end
        g[#g + 1] = t
        fetched[#fetched + 1] = t
      end
    end
    for _, o in ipairs(objs) do
      local list = groups[o[key]] or {}
      if rel.kind == "reverse_fk" or rel.kind == "reverse_o2o" then
        -- each child knows its parent without a query
        for _, t in ipairs(list) do set_related(t, rel.field.name, o) end
      end
      if rel.kind == "reverse_o2o" then
        if node.to_attr then
          rawset(o, node.to_attr, list[1])
        else
          set_related(o, name, list[1] == nil and NONE or list[1])
        end
      elseif node.to_attr then
        rawset(o, node.to_attr, list)
      else
        set_related(o, name, manager(o, rel, list))
      end
    end
  end
  if #node.order > 0 and #fetched > 0 then
    for _, key in ipairs(node.order) do run_node(fetched, node.children[key]) end
  end
end

-- state.prefetch(list, Model, specs): prefetch_related for a result list.
function state.prefetch(list, M, specs)
  local root = build_tree(M, specs)
  for _, key in ipairs(root.order) do run_node(list, root.children[key]) end
end

-- obj:fetch_related("customer", "orders__lines", orm.Prefetch(...))
function Base:fetch_related(...)
  local M = orm._model_of(self)
  if not M then
    error(E.ParamsError("fetch_related: call it on an instance "
      .. "(obj:fetch_related(...))"), 2)
  end
  local specs = { ... }
  if #specs > 0 then state.prefetch({ self }, M, specs) end
  return self
end

-- ---------------------------------------------------------------------
-- select_related rows
-- ---------------------------------------------------------------------

-- state.decode_selrel(Model, row): row maps column names to values; the
-- model's own columns (and annotations) have plain names, the related
-- ones "<path>__<attr>".
function state.decode_selrel(M, row)
  local obj = setmetatable({}, M)
  local nested, paths = {}, {}
  for k, v in pairs(row) do
    local path, attr = k:match("^(.+)__([^_][^%s]-)$")
    if path and not rawget(M._meta.fields_map, k) then
      local t = nested[path]
      if not t then
        t = {}
        nested[path] = t
        paths[#paths + 1] = path
      end
      t[attr] = v
    else
      rawset(obj, k, v)
    end
  end
  state.saved[obj] = true
  table.sort(paths, function(a, b)
    local da, db = #split_path(a), #split_path(b)
    if da ~= db then return da < db end
    return a < b
  end)
  local objs = { [""] = obj }
  for _, path in ipairs(paths) do
    local parent_path, name = path:match("^(.+)__([^_].-)$")
    if not parent_path then parent_path, name = "", path end
    local parent = objs[parent_path]
    if parent then
      local rel = relations(getmetatable(parent))[name]
      if rel then
        local child = setmetatable(nested[path], rel.target)
        state.saved[child] = true
        set_related(parent, name, child)
        objs[path] = child
      end
    end
  end
  return obj
end
