-- migrations.lua -- orm.migrations, after Aerich: migration files in a
-- folder, one per change of the models, each holding its upgrade and
-- downgrade statements (written by the core's differ for one dialect)
-- and the schema state after it; the database's testudo_migrations
-- table records the ones applied.  The rules live in the core
-- (orm/migrate.c); this file reads and writes the files.
local orm, C = ...
local state = C.state
local E = orm.exceptions

local M = {}
orm.migrations = M

local DEFAULT_LOCATION = "migrations"

local function fail(msg)
  error(E.ConfigurationError(msg), 3)
end

local function opts_of(o)
  o = o or {}
  local cfg = state.migrations or {}
  o.location = o.location or cfg.location
  local app = o.app or cfg.app or "models"
  local using = o.using or (state.apps_conn and state.apps_conn[app]) or "default"
  return o, app, o.location or M.location or DEFAULT_LOCATION, using
end

-- ---- files ------------------------------------------------------------

-- A Lua long string of s, its level chosen so that s cannot end it.
local function long_string(s)
  local eq = ""
  while s:find("]" .. eq .. "]", 1, true) do eq = eq .. "=" end
  return "[" .. eq .. "[\n" .. s .. "]" .. eq .. "]"
end

-- The statements as lines of a Lua list (each after a newline).
local function list_of(stmts)
  local out = {}
  for _, s in ipairs(stmts) do out[#out + 1] = "\n    " .. long_string(s) .. "," end
  return table.concat(out)
end

-- The migration files of folder dir, by version: {version, name, path}.
local function files(dir)
  local p = io.popen("ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  local out = {}
  if p then
    for f in p:lines() do
      local v, name = f:match("^(%d+)_(.-)%.lua$")
      if v then out[#out + 1] = { version = v, name = name, path = dir .. "/" .. f } end
    end
    p:close()
  end
  table.sort(out, function(a, b) return a.version < b.version end)
  return out
end

-- The table a migration file returns.
local function load(f)
  -- data steps are functions(orm) between the statements: the file runs
  -- with the globals readable
  local chunk, err = loadfile(f.path, "t", setmetatable({}, { __index = _G }))
  if not chunk then fail("cannot read migration " .. f.path .. ": " .. err) end
  local ok, t = pcall(chunk)
  if not ok or type(t) ~= "table" then
    fail("migration " .. f.path .. " does not return a table: " .. tostring(t))
  end
  t.version = t.version or f.version
  t.name = t.name or f.name
  t.path = f.path
  return t
end

local function write_file(path, text)
  local fh, err = io.open(path, "w")
  if not fh then fail("cannot write " .. path .. ": " .. tostring(err)) end
  fh:write(text)
  fh:close()
end

local function write_migration(dir, m)
  local path = ("%s/%s_%s.lua"):format(dir, m.version, m.name)
  write_file(path, table.concat({
    ("-- testudo migration %s_%s (%s): edit by hand if you need to;"):format(m.version, m.name, m.dialect),
    "-- upgrade and downgrade run in order, the state is the schema after it.",
    "return {",
    ("  version = %q,"):format(m.version),
    ("  name = %q,"):format(m.name),
    m.parent and ("  parent = %q,"):format(m.parent) or "  parent = nil,",
    ("  dialect = %q,"):format(m.dialect),
    "  upgrade = {" .. list_of(m.upgrade) .. "\n  },",
    "  downgrade = {" .. list_of(m.downgrade) .. "\n  },",
    "  state = " .. long_string(m.state) .. ",",
    "}",
    "",
  }, "\n"))
  return path
end

-- The migrations of dir in order of their parents; ConfigurationError
-- when two share a parent (made on two branches: multiple heads).
local function chain(dir)
  local list = {}
  for _, f in ipairs(files(dir)) do list[#list + 1] = load(f) end
  local children = {}
  for _, m in ipairs(list) do
    local p = m.parent or ""
    if children[p] then
      fail(("multiple heads: migrations %s and %s both follow %s; merge them "
        .. "by hand (make one follow the other) before upgrading"):format(
        children[p].version, m.version, p == "" and "the start" or p))
    end
    children[p] = m
  end
  return list
end

local function dialect(using)
  return orm.connection(using):dialect()
end

local function check_dialect(m, using)
  if m.dialect and m.dialect ~= dialect(using) then
    fail(("migration %s was written for %s, the database is %s"):format(
      m.version, m.dialect, dialect(using)))
  end
end

local function applied_map(using, app)
  local map, list = {}, C.migrations_applied(using, app)
  for _, r in ipairs(list) do map[r.version] = r end
  return map, list
end

-- ---- the commands --------------------------------------------------------

-- init{location=}: makes the folder; returns its path.
function M.init(o)
  local _, _, dir = opts_of(o)
  local ok, err = C.mkdir(dir)
  if not ok then fail(err) end
  M.location = dir
  return dir
end

-- init_db{}: the tables of the models and the first migration; refused
-- when the folder already holds migrations.
function M.init_db(o)
  local o, app, dir, using = opts_of(o)
  M.init{ location = dir }
  if #files(dir) > 0 then
    fail(dir .. " already holds migrations: use migrate and upgrade")
  end
  local st = C.schema_state(using, true, app)
  local up = C.state_diff(using, nil, st, {})
  local down = C.state_diff(using, st, nil, {})
  -- tables made already (generate_schemas): recorded, not made again;
  -- some of them only: refused, naming them
  local there, have, missing = {}, {}, {}
  for _, t in ipairs(orm._tables(using)) do there[t] = true end
  for _, t in ipairs(C.json_decode(st).tables) do
    if there[t.table] then have[#have + 1] = t.table else missing[#missing + 1] = t.table end
  end
  if #have > 0 and #missing > 0 then
    fail(("init_db: the database holds some of the app's tables (%s) but not "
      .. "others (%s): drop them or make the rest first"):format(
      table.concat(have, ", "), table.concat(missing, ", ")))
  end
  local m = { version = "0000", name = o.name or "init", dialect = dialect(using),
              upgrade = up, downgrade = down, state = st }
  local path = write_migration(dir, m)
  C.migration_apply(using, app, m.version, m.name, up, st,
    { fake = o.fake or (#have > 0 and #missing == 0) }, o.progress)
  return path
end

-- migrate{name=, empty=, renames=}: writes the next migration from the
-- difference between the models and the last migration's state; nil and
-- "no changes" when there is none.  renames: confirmed renames,
-- { {"old_table", "new_table"}, {"table", "table", "old_col", "new_col"} }.
function M.migrate(o)
  local o, app, dir, using = opts_of(o)
  local list = chain(dir)
  local last = list[#list]
  if not last then fail("no migrations in " .. dir .. ": run init_db first") end
  local st = C.schema_state(using, true, app)
  local renames = o.renames or {}
  local up, rebuilds = C.state_diff(using, last.state, st, renames)
  if #up == 0 and not o.empty then return nil, "no changes" end
  local back = {}
  for i, r in ipairs(renames) do
    back[i] = { r[2], r[1], r[4], r[3] }
  end
  local down = C.state_diff(using, st, last.state, back)
  local m = { version = ("%04d"):format(tonumber(last.version) + 1),
              name = o.name or "update", parent = last.version, dialect = dialect(using),
              upgrade = o.empty and {} or up, downgrade = o.empty and {} or down,
              state = o.empty and last.state or st }
  return write_migration(dir, m), rebuilds
end

-- upgrade{fake=}: applies the migrations not applied yet, in order;
-- returns their versions.
function M.upgrade(o)
  local o, app, _, using = opts_of(o)
  local ran = {}
  for _, m in ipairs(M.pending(o)) do
    check_dialect(m, using)
    C.migration_apply(using, app, m.version, m.name, m.upgrade, m.state,
      { fake = o.fake }, o.progress)
    ran[#ran + 1] = m.version
  end
  return ran
end

-- downgrade{version=, delete=}: reverts the last migration applied, or
-- with version every one applied after it; delete: their files too.
-- Returns the versions reverted.
function M.downgrade(o)
  local o, app, _, using = opts_of(o)
  local undone = {}
  for _, m in ipairs(M.to_revert(o)) do
    check_dialect(m, using)
    C.migration_apply(using, app, m.version, m.name, m.downgrade, nil,
      { down = true, fake = o.fake }, o.progress)
    if o.delete then os.remove(m.path) end
    undone[#undone + 1] = m.version
  end
  return undone
end

-- history{}: every migration file in order, {version, name, applied}.
function M.history(o)
  local _, app, dir, using = opts_of(o)
  local done = applied_map(using, app)
  local out = {}
  for _, m in ipairs(chain(dir)) do
    out[#out + 1] = { version = m.version, name = m.name, applied = done[m.version] ~= nil }
  end
  return out
end

-- heads{}: the migrations not applied yet.
function M.heads(o)
  local out = {}
  for _, m in ipairs(M.pending(o)) do
    out[#out + 1] = { version = m.version, name = m.name, applied = false }
  end
  return out
end

-- pending{}: the migrations upgrade would apply, in order.
function M.pending(o)
  local _, app, dir, using = opts_of(o)
  local done = applied_map(using, app)
  local out = {}
  for _, m in ipairs(chain(dir)) do
    if not done[m.version] then out[#out + 1] = m end
  end
  return out
end

-- to_revert{version=}: the migrations downgrade would revert, in order.
function M.to_revert(o)
  local o, app, dir, using = opts_of(o)
  local done, list = applied_map(using, app)
  if o.version and not done[o.version] then
    fail("migration " .. o.version .. " is not applied")
  end
  local by = {}
  for _, m in ipairs(chain(dir)) do by[m.version] = m end
  local out = {}
  for i = #list, 1, -1 do
    local v = list[i].version
    if (o.version and v <= o.version) or (not o.version and #out == 1) then break end
    if v == "0000" and not o.version then
      fail("the first migration (0000) is not reverted: it made every table")
    end
    out[#out + 1] = by[v] or fail("migration " .. v .. " is applied but its file is gone")
  end
  return out
end

-- rename_candidates{}: what might be a rename between the last
-- migration's state and the models -- a table that went and one that
-- came with the same columns ({old, new}), a column that went and one
-- that came with the same type in one table ({table, table, old, new}) --
-- for the caller to confirm (the differ never guesses).
function M.rename_candidates(o)
  local _, app, dir, using = opts_of(o)
  local list = chain(dir)
  if #list == 0 then return {} end
  local old = C.json_decode(list[#list].state).tables
  local new = C.json_decode(C.schema_state(using, false, app)).tables
  local function by_name(ts)
    local t = {}
    for _, x in ipairs(ts) do t[x.table] = x end
    return t
  end
  local function cols(t)
    local c, names = {}, {}
    for _, x in ipairs(t.columns) do c[x.name] = x.type names[#names + 1] = x.name end
    table.sort(names)
    return c, table.concat(names, ",")
  end
  local ob, nb, out = by_name(old), by_name(new), {}
  for name, t in pairs(nb) do
    local f = ob[name]
    if f then
      local oc = cols(f)
      local nc = cols(t)
      for c, ty in pairs(oc) do
        if not nc[c] then
          for c2, ty2 in pairs(nc) do
            if not oc[c2] and ty2 == ty then out[#out + 1] = { name, name, c, c2 } end
          end
        end
      end
    else
      local _, sig = cols(t)
      for oname, ot in pairs(ob) do
        local _, osig = cols(ot)
        if not nb[oname] and osig == sig then out[#out + 1] = { oname, name } end
      end
    end
  end
  table.sort(out, function(a, b) return table.concat(a, ".") < table.concat(b, ".") end)
  return out
end
