-- init.lua -- orm.init, orm.generate_schemas, orm.close_connections,
-- orm.utils.get_schema_sql, orm.testing.
local orm, C = ...
local state = C.state
local E = orm.exceptions

local function config_error(msg)
  error(E.ConfigurationError(msg), 3)
end

-- URL schemes and their engines, from the core's one table (Tortoise's
-- names are aliases there); scheme_list keeps its order.
local schemes, scheme_list = C.url_schemes()

local engines = {
  ["tortoise.backends.asyncpg"] = "postgres",
  ["tortoise.backends.psycopg"] = "postgres",
  ["tortoise.backends.postgres"] = "postgres",
  ["tortoise.backends.asyncmy"] = "mysql",
  ["tortoise.backends.mysql"] = "mysql",
  ["tortoise.backends.sqlite"] = "sqlite",
}

local function known_schemes()
  return table.concat(scheme_list, ", ")
end

-- The known URL schemes, in the core's order (each engine's name first),
-- and a table { scheme = engine }: for --help, tests and tools.
function orm._url_schemes()
  local list, map = {}, {}
  for i, s in ipairs(scheme_list) do list[i] = s; map[s] = schemes[s] end
  return list, map
end

-- Checks a URL and gives it the scheme the core knows; errors never
-- quote the URL (it may hold a password).
local function normalize_url(name, url)
  if type(url) ~= "string" then
    config_error(("connection '%s': expected a URL or a table, got a %s")
      :format(name, type(url)))
  end
  local scheme, rest = url:match("^([%w_%+%-%.]+)://(.*)$")
  if not scheme then
    config_error(("connection '%s': bad database URL: expected scheme://... "
      .. "(such as sqlite://:memory: or postgres://user:password@host:5432/db)")
      :format(name))
  end
  local s = schemes[scheme:lower()]
  if not s then
    config_error(("connection '%s': unknown database URL scheme '%s' (known: %s)")
      :format(name, scheme, known_schemes()))
  end
  url = s .. "://" .. rest
  local ok, err = pcall(C.check_url, url)
  if not ok then
    local msg = type(err) == "table" and err.message or tostring(err)
    config_error(("connection '%s': %s"):format(name, msg))
  end
  return url
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

local cred_skip = { user = true, password = true, host = true, port = true,
  database = true, file_path = true, path = true, db = true, username = true }

-- A connection spec: a URL or { engine = ..., credentials = {...} }.
local function spec_url(name, spec)
  if type(spec) == "string" then return normalize_url(name, spec) end
  if type(spec) ~= "table" then
    config_error(("connection '%s': expected a URL or a table { engine = ..., "
      .. "credentials = {...} }, got a %s"):format(name, type(spec)))
  end
  if spec.db_url or spec.url then
    return normalize_url(name, spec.db_url or spec.url)
  end
  if spec.engine == nil then
    config_error(("connection '%s': missing engine (such as "
      .. "\"tortoise.backends.asyncpg\" or \"postgres\")"):format(name))
  end
  local engine = tostring(spec.engine)
  local scheme = engines[engine] or schemes[engine:lower()]
    or (engine:match("^tortoise%.backends%.") and schemes[engine:match("([%w_]+)$")])
  if not scheme then
    config_error(("connection '%s': unknown engine '%s' (such as "
      .. "tortoise.backends.asyncpg, tortoise.backends.mysql, "
      .. "tortoise.backends.sqlite, postgres, mysql, sqlite)"):format(name, engine))
  end
  local cr = spec.credentials or {}
  if type(cr) ~= "table" then
    config_error(("connection '%s': credentials must be a table"):format(name))
  end
  local q = {}
  for k, v in pairs(cr) do
    if not cred_skip[k] and type(k) == "string" then
      if type(v) == "boolean" then v = v and "true" or "false" end
      q[#q + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
  end
  if scheme == "sqlite" then
    table.sort(q)
    local path = cr.file_path or cr.path or cr.database or ":memory:"
    return normalize_url(name, "sqlite://" .. tostring(path)
      .. (#q > 0 and ("?" .. table.concat(q, "&")) or ""))
  end
  local user = cr.user or cr.username
  local auth = ""
  if user then
    auth = urlencode(user)
    if cr.password then auth = auth .. ":" .. urlencode(cr.password) end
    auth = auth .. "@"
  end
  local host = cr.host and tostring(cr.host) or "localhost"
  if host:sub(1, 1) == "/" then
    q[#q + 1] = "host=" .. urlencode(host)        -- a unix socket directory
    host = ""
  elseif host:find(":", 1, true) and host:sub(1, 1) ~= "[" then
    host = "[" .. host .. "]"                     -- IPv6
  end
  local port = cr.port and (":" .. tostring(cr.port)) or ""
  if host == "" then port = "" ; if cr.port then q[#q + 1] = "port=" .. urlencode(cr.port) end end
  table.sort(q)
  local query = #q > 0 and ("?" .. table.concat(q, "&")) or ""
  local db = cr.database or cr.db
  if db == nil or db == "" then
    config_error(("connection '%s': credentials need a database"):format(name))
  end
  return normalize_url(name, ("%s://%s%s%s/%s%s"):format(scheme, auth, host,
    port, urlencode(db), query))
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- require a models module with app as the current app
local function load_module(app, name)
  if type(name) == "table" then return end -- a model table: already declared
  if name == "aerich.models" then return end
  local prev = state.current_app
  state.current_app = app
  local ok, err = pcall(require, name)
  state.current_app = prev
  if not ok then error(err, 0) end
end

-- The URL of every connection of cfg (db_url is "default"), checked.
local function config_urls(cfg)
  local conns = {}
  if cfg.db_url then conns.default = cfg.db_url end
  for name, spec in pairs(cfg.connections or {}) do conns[name] = spec end
  if next(conns) == nil then
    config_error("You must specify 'db_url' or 'connections' in orm.init")
  end
  local urls = {}
  for _, name in ipairs(sorted_keys(conns)) do
    if type(name) ~= "string" or name == "" then
      config_error("connection names must be non-empty strings")
    end
    urls[name] = spec_url(name, conns[name])
  end
  return urls
end

-- The routers of cfg: tables (or module names to require) with
-- db_for_read / db_for_write.
local function config_routers(cfg)
  local routers = {}
  for i, r in ipairs(cfg.routers or {}) do
    if type(r) == "string" then
      local ok, mod = pcall(require, r)
      if not ok then
        config_error(("router '%s' cannot be loaded: %s"):format(r,
          type(mod) == "table" and tostring(mod.message) or tostring(mod)))
      end
      r = mod
    end
    if type(r) ~= "table" and type(r) ~= "userdata" then
      config_error(("router %d: expected a table with db_for_read / "
        .. "db_for_write, got a %s"):format(i, type(r)))
    end
    routers[#routers + 1] = r
  end
  return routers
end

-- The apps of cfg (apps = {label = {models=, default_connection=}} and
-- Tortoise's modules = {label = {...}}), each on a known connection.
local function config_apps(cfg, urls)
  local apps = {}
  for label, app in pairs(cfg.apps or {}) do
    if type(app) ~= "table" then
      config_error(("app '%s': expected a table { models = {...} }"):format(label))
    end
    apps[label] = {
      models = app.models or {},
      default_connection = app.default_connection or "default",
    }
  end
  for label, mods in pairs(cfg.modules or {}) do
    apps[label] = {
      models = type(mods) == "table" and mods or { mods },
      default_connection = "default",
    }
  end
  for label, app in pairs(apps) do
    if not urls[app.default_connection] then
      config_error(("app '%s': unknown connection '%s'")
        :format(label, tostring(app.default_connection)))
    end
  end
  return apps
end

function orm.init(cfg)
  if state.closed then
    state.closed = false
    C.close_connections()
  end
  if type(cfg) ~= "table" then
    config_error("orm.init takes a table: { db_url = ... } or { connections = ..., apps = ... }")
  end
  if type(cfg.config) == "table" then cfg = cfg.config end
  -- check everything before closing anything
  local urls = config_urls(cfg)
  local routers = config_routers(cfg)
  local apps = config_apps(cfg, urls)

  -- models introspected from the database being replaced go with it
  orm._forget_introspected()
  C.close_connections()
  C.set_inited(false)
  state.apps_conn = {}
  state.first_conn = nil
  state.use_conn = nil
  state.routers = routers
  state.migrations = type(cfg.migrations) == "table" and cfg.migrations or nil
  C.set_use_tz(cfg.use_tz and true or false)
  state.timezone = cfg.timezone or "UTC"
  local names = sorted_keys(urls)
  for _, name in ipairs(names) do
    C.connect(name, urls[name])
  end
  state.first_conn = urls.default and "default" or names[1]
  for _, label in ipairs(sorted_keys(apps)) do
    local app = apps[label]
    state.apps_conn[label] = app.default_connection
    local list = app.models
    if type(list) == "string" then list = { list } end
    for _, mod in ipairs(list) do load_module(label, mod) end
  end
  C.set_inited(true)
  C.resolve(true)
end

-- The connection names that hold tables: those apps use, or the first.
local function schema_conns()
  local seen, list = {}, {}
  for _, name in pairs(state.apps_conn or {}) do
    if not seen[name] and C.has_conn(name) then
      seen[name] = true
      list[#list + 1] = name
    end
  end
  local first = C.has_conn("default") and "default" or state.first_conn
  if first and not seen[first] and C.has_conn(first) then
    list[#list + 1] = first
  end
  table.sort(list)
  return list
end

-- The connection each non-abstract model's table lives on.
local function model_conns()
  local out = {}
  for app, models in pairs(orm.apps or {}) do
    local cname = state.apps_conn and state.apps_conn[app]
    if not (cname and C.has_conn(cname)) then
      cname = C.has_conn("default") and "default" or state.first_conn
    end
    for _, M in pairs(models) do
      if not M._meta.abstract and cname then out[M] = cname end
    end
  end
  return out
end

-- Models in an order where every foreign key target comes first.
local function fk_order(list)
  local by_name, done, out = {}, {}, {}
  for _, M in ipairs(list) do
    by_name[M._meta.app .. "." .. M._meta.name] = M
  end
  local function targets(M)
    local t = {}
    for _, f in pairs(M._meta.fields_map or {}) do
      local ref = type(f) == "table" and f.related_model
      if type(ref) == "table" and ref._meta then
        ref = ref._meta.app .. "." .. ref._meta.name
      end
      if type(ref) == "string" then
        if not ref:find(".", 1, true) then ref = M._meta.app .. "." .. ref end
        local T = by_name[ref]
        if T and T ~= M and f.field_type ~= "ManyToManyField" then t[#t + 1] = T end
      end
    end
    return t
  end
  table.sort(list, function(a, b) return a._meta.name < b._meta.name end)
  local left = list
  while #left > 0 do
    local rest, progress = {}, false
    for _, M in ipairs(left) do
      local ready = true
      for _, T in ipairs(targets(M)) do
        if not done[T] then ready = false end
      end
      if ready then
        done[M] = true
        out[#out + 1] = M
        progress = true
      else
        rest[#rest + 1] = M
      end
    end
    if not progress then -- a cycle: the rest as they come
      for _, M in ipairs(rest) do out[#out + 1] = M end
      break
    end
    left = rest
  end
  return out
end

function orm.generate_schemas(opts)
  local safe = true
  if type(opts) == "table" and opts.safe ~= nil then safe = opts.safe and true or false end
  if type(opts) == "boolean" then safe = opts end
  local list = schema_conns()
  if #list == 0 then
    config_error("no connection: call orm.init first")
  end
  local per = {}
  for M, cname in pairs(model_conns()) do
    per[cname] = per[cname] or {}
    table.insert(per[cname], M)
  end
  local used = {}
  for cname in pairs(per) do used[#used + 1] = cname end
  if #used <= 1 then
    -- one database holds every table: the core's whole schema
    C.generate_schemas(used[1] or list[1], safe)
    return
  end
  -- each app's tables on its own connection
  table.sort(used)
  for _, cname in ipairs(used) do
    local parts = {}
    for _, M in ipairs(fk_order(per[cname])) do
      local sql = C.schema_sql(safe, M, cname)
      sql = sql:gsub(";%s*$", "")
      if sql:match("%S") then parts[#parts + 1] = sql end
    end
    if #parts > 0 then
      orm.connection(cname):execute_script(table.concat(parts, ";\n") .. ";")
    end
  end
end

-- Closes every pool's sessions; the configuration stays, so the next
-- query opens its connection again (as Tortoise does).  The next
-- orm.init forgets the closed connections, even when it fails.
function orm.close_connections()
  C.close_sessions()
  state.closed = true
end

-- The shell rewrites an explicit `key = nil` in filter/exclude/get/
-- update arguments (which Lua would drop, and the condition with it) into
-- a call of this: FieldError pointing at orm.null.
function orm._nil_arg(key)
  error(E.FieldError(("'%s' is given nil, which Lua drops from the table "
    .. "(and the condition with it): use orm.null for NULL"):format(
    tostring(key))), 2)
end

-- Connects every configured connection now (they open lazily): the
-- shell checks at start that the servers answer.
function orm._connect_all()
  for _, info in ipairs(orm._connections()) do C.open_conn(info.name) end
end

-- The shell's current connection (`.open NAME`): models with no
-- using_db and no router go there.  nil: back to the apps' own.
function orm._use_connection(name)
  if name ~= nil then orm.connection(name) end -- raises when unknown
  state.use_conn = name
end

-- orm._set_guard(fn): fn(action, qs) ("update" or "delete") is asked
-- before a queryset without a filter, limit or offset updates or deletes
-- every row of its table, and returns true to go on (the shell's guard at
-- an interactive prompt).  nil: no guard.
function orm._set_guard(fn)
  state.guard = fn
end

-- orm._set_lazy_hook(fn): fn(model_name, field, how) is told each time an
-- instance loads a foreign key's row on first access (how "select") or
-- hands out a reverse relation or many-to-many not prefetched (how
-- "prefetch"): one query per instance; the shell's meter names the
-- relation of an N+1 loop and the call that avoids it.
function orm._set_lazy_hook(fn)
  state.lazy_hook = fn
end

-- The name of the connection in use: the shell's choice, else "default",
-- else the first configured; nil before orm.init.
function orm._current_connection()
  if state.use_conn and C.has_conn(state.use_conn) then return state.use_conn end
  if C.has_conn("default") then return "default" end
  if state.first_conn and C.has_conn(state.first_conn) then return state.first_conn end
  return nil
end

-- `.open URL`: the default connection now opens url (other connections
-- and the models stay); it becomes the connection in use.
function orm._open(url)
  url = normalize_url("default", url)
  C.connect("default", url)
  state.first_conn = state.first_conn or "default"
  state.use_conn = nil
  local others = false
  for _, info in ipairs(orm._connections()) do
    if info.name ~= "default" then others = true end
  end
  if others then state.use_conn = "default" end
  C.set_inited(true)
end

-- A URL with its secrets masked by the core (nil when it is no URL).
function orm._mask_url(url)
  url = tostring(url)
  if not url:find("://", 1, true) then return nil end
  return C.mask_url(url)
end

orm.utils = orm.utils or {}

function orm.utils.get_schema_sql(opts)
  opts = opts or {}
  local list = schema_conns()
  return C.schema_sql(opts.safe and true or false, opts.model, list[1])
end

-- Testing helpers ------------------------------------------------------------

orm.testing = {}

function orm.testing.init(opts)
  opts = opts or {}
  local url = opts.db_url or os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
  local modules = {}
  for _, m in ipairs(opts.models or {}) do
    if type(m) == "string" then modules[#modules + 1] = m end
  end
  orm.init{ db_url = url, modules = { models = modules }, use_tz = opts.use_tz }
  if not url:find(":memory:", 1, true) then
    -- a persistent test database: start from an empty one (every table
    -- dropped, whatever references it)
    orm._drop_tables(orm._tables("default"))
  end
  orm.generate_schemas{ safe = true }
end

function orm.testing.finish()
  C.close_connections()
end
