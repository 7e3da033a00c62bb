-- init.lua -- orm.init, orm.generate_schemas, orm.close_connections,
-- orm.utils.get_schema_sql, orm.testing.
local orm, C = ...
local state = C.state
local E = orm.exceptions

local function config_error(msg)
  error(E.ConfigurationError(msg), 3)
end

-- URL scheme aliases (Tortoise names accepted).
local schemes = {
  sqlite = "sqlite", sqlite3 = "sqlite",
  postgres = "postgres", postgresql = "postgres", asyncpg = "postgres",
  psycopg = "postgres", psycopg2 = "postgres", pg = "postgres",
  mysql = "mysql", mariadb = "mysql", asyncmy = "mysql", aiomysql = "mysql",
}

local engines = {
  ["tortoise.backends.asyncpg"] = "postgres",
  ["tortoise.backends.psycopg"] = "postgres",
  ["tortoise.backends.postgres"] = "postgres",
  ["tortoise.backends.asyncmy"] = "mysql",
  ["tortoise.backends.mysql"] = "mysql",
  ["tortoise.backends.sqlite"] = "sqlite",
}

local function normalize_url(url)
  local scheme, rest = url:match("^([%w_%+%-%.]+)://(.*)$")
  if not scheme then
    config_error(("unknown DB URL '%s' (expected sqlite://, postgres:// or mysql://)")
      :format(url:gsub(":[^:@/]*@", ":***@")))
  end
  local s = schemes[scheme:lower()]
  if not s then
    config_error(("unknown DB URL scheme '%s'"):format(scheme))
  end
  return s .. "://" .. rest
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

-- A connection spec: a URL or { engine = ..., credentials = {...} }.
local function spec_url(name, spec)
  if type(spec) == "string" then return normalize_url(spec) end
  if type(spec) ~= "table" then
    config_error(("connection '%s': expected a URL or a table"):format(name))
  end
  if spec.db_url or spec.url then return normalize_url(spec.db_url or spec.url) end
  local engine = spec.engine or "sqlite"
  local scheme = engines[engine] or schemes[tostring(engine):lower()]
    or schemes[tostring(engine):match("([%w_]+)$") or ""]
  if not scheme then
    config_error(("connection '%s': unknown engine '%s'"):format(name, tostring(engine)))
  end
  local cr = spec.credentials or {}
  if scheme == "sqlite" then
    return "sqlite://" .. (cr.file_path or cr.database or cr.path or ":memory:")
  end
  local auth = ""
  if cr.user then
    auth = urlencode(cr.user)
    if cr.password then auth = auth .. ":" .. urlencode(cr.password) end
    auth = auth .. "@"
  end
  local host = cr.host or "localhost"
  local port = cr.port and (":" .. tostring(cr.port)) or ""
  local q = {}
  for k, v in pairs(cr) do
    if k ~= "user" and k ~= "password" and k ~= "host" and k ~= "port"
      and k ~= "database" then
      q[#q + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
  end
  table.sort(q)
  local query = #q > 0 and ("?" .. table.concat(q, "&")) or ""
  return ("%s://%s%s%s/%s%s"):format(scheme, auth, host, port,
    cr.database or "", query)
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

function orm.init(cfg)
  if type(cfg) ~= "table" then
    config_error("orm.init takes a table: { db_url = ... } or { connections = ..., apps = ... }")
  end
  if type(cfg.config) == "table" then cfg = cfg.config end
  local conns = {}
  if cfg.db_url then conns.default = cfg.db_url end
  for name, spec in pairs(cfg.connections or {}) do conns[name] = spec end
  if next(conns) == nil then
    config_error("You must specify 'db_url' or 'connections' in orm.init")
  end
  -- check every URL before closing anything
  local urls = {}
  for _, name in ipairs(sorted_keys(conns)) do
    urls[name] = spec_url(name, conns[name])
  end
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
    if not conns[app.default_connection] then
      config_error(("app '%s': unknown connection '%s'")
        :format(label, tostring(app.default_connection)))
    end
  end

  C.close_connections()
  C.set_inited(false)
  state.apps_conn = {}
  state.first_conn = nil
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

function orm.generate_schemas(opts)
  local safe = true
  if type(opts) == "table" and opts.safe ~= nil then safe = opts.safe and true or false end
  if type(opts) == "boolean" then safe = opts end
  local list = schema_conns()
  if #list == 0 then
    config_error("no connection: call orm.init first")
  end
  for _, name in ipairs(list) do
    C.generate_schemas(name, safe)
  end
end

function orm.close_connections()
  C.close_connections()
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
    -- a persistent test database: start from empty tables
    local conn = orm.connection("default")
    for _, app in pairs(orm.apps) do
      for _, M in pairs(app) do
        if not M._meta.abstract then
          pcall(conn.execute_script, conn,
            ('DROP TABLE IF EXISTS "%s"'):format(M._meta.db_table))
        end
      end
    end
  end
  orm.generate_schemas{ safe = true }
end

function orm.testing.finish()
  C.close_connections()
end
