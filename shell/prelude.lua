-- prelude.lua -- the Lua half of the testudo shell: startup, model
-- globals, the REPL environment, and turning values into grids for
-- render.c.  The build embeds it into the shell (tools/embed.sh); it
-- returns the table S, which the shell keeps in its registry.  Never a
-- global.
local S = {}
local orm

local type, pairs, ipairs, tostring, rawget, rawset, pcall, select =
  type, pairs, ipairs, tostring, rawget, rawset, pcall, select
local getmt = debug.getmetatable
local fmt, concat, sort = string.format, table.concat, table.sort

-- Field access that never raises (strict __index, missing module parts).
local function get(t, k)
  local ok, v = pcall(function() return t[k] end)
  if ok then return v end
  return nil
end

-- A model (its own _meta; an instance reaches its model's through
-- __index).
local function is_model(v)
  return type(v) == "table" and type(rawget(v, "_meta")) == "table"
end

-- Takes away the globals of the models named that are no longer the
-- app's (introspected models that were replaced or taken out).
local function drop_stale_globals(names)
  local models = get(orm, "apps") and orm.apps.models or {}
  for _, n in ipairs(names) do
    local g = rawget(_G, n)
    if is_model(g) and models[n] ~= g then rawset(_G, n, nil) end
  end
end

-- orm.init (a script's) takes out the introspected models: their
-- globals go too, and none is listed as introspected any more.
function S.setup(o)
  orm = o
  local init = o.init
  o.init = function(...)
    local r = init(...)
    drop_stale_globals(S.introspected or {})
    S.introspected = {}
    return r
  end
end

-- Startup: orm.init from --demo, a config file, a URL or the default.
-- Drops the tables of the models (the demo's) so that a database given
-- to --demo is seeded afresh.
local function drop_model_tables()
  local tables = {}
  for _, models in pairs(orm.apps) do
    for _, m in pairs(models) do
      if not m._meta.abstract then tables[#tables + 1] = m._meta.db_table end
    end
  end
  sort(tables)
  orm._drop_tables(tables)
end

-- The demo's tables that already exist in the database of "default".
local function existing_model_tables()
  local have = {}
  for _, t in ipairs(orm._tables("default")) do have[t] = true end
  local found = {}
  for _, models in pairs(orm.apps) do
    for _, m in pairs(models) do
      local meta = m._meta
      if not meta.abstract and have[meta.db_table] then
        found[#found + 1] = meta.db_table
      end
    end
  end
  sort(found)
  return found
end

-- Loads the config file cfg (a path from the current directory); the
-- model modules it names are looked for beside it first.  Returns the
-- table for orm.init; errors are one line naming the file.
local function load_config(cfg)
  local chunk, err = loadfile(cfg, "t")
  if not chunk then error("config " .. err, 0) end
  local dir = cfg:match("^(.*)/[^/]*$")
  if dir and dir ~= "." then
    package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
  end
  local ok, t = pcall(chunk)
  if not ok then
    error(("config %s: %s"):format(cfg, tostring(t)), 0)
  end
  if type(t) ~= "table" then
    error(cfg .. ": the config must return a table for orm.init", 0)
  end
  return t
end

-- The first line of a module-not-found error, which lists every path
-- searched on lines of its own.
local function short_error(e)
  if type(e) ~= "string" then return e end
  local first = e:match("^(module '[^']*' not found):")
  if first then
    return first .. " (looked for it beside the config file and on "
      .. "package.path)"
  end
  return (e:gsub("%s*\n%s*", " "))
end

-- Models for the tables no model covers (issue 11): the database of the
-- default connection introspected into the app "models", replacing the
-- models an earlier introspection made (their globals go too).  A
-- failure is a warning on stderr: the session goes on without them.
local introspect_on = true
S.introspected = {}
function S.introspect()
  if not introspect_on then return end
  local ok, names, _, replaced = pcall(orm._introspect, "default", "models")
  if not ok then
    io.stderr:write("testudo: cannot introspect the database: ",
      tostring(short_error(names)), "\n")
    return
  end
  drop_stale_globals(replaced)
  sort(names)
  S.introspected = names
end

-- The banner's line on introspected models, or nil.
function S.introspected_summary()
  local names = S.introspected
  if #names == 0 then return nil end
  local shown = {}
  for i = 1, math.min(#names, 12) do shown[i] = names[i] end
  local more = #names > 12 and (" and %d more"):format(#names - 12) or ""
  return ("%d models from the database's tables: %s%s (.models lists "
    .. "them)"):format(#names, concat(shown, ", "), more)
end

function S.init(url, cfg, demo, force, introspect)
  introspect_on = introspect and not demo
  if demo then
    orm.init{ db_url = url or "sqlite://:memory:",
              apps = { models = { models = { "shop.models" } } } }
    orm._connect_all()
    if url and not url:find(":memory:", 1, true) then
      local found = existing_model_tables()
      if #found > 0 and not force then
        error(("--demo: the database already holds %s (%s); --force drops "
          .. "and recreates the demo tables"):format(
          #found == 1 and "a demo table" or "demo tables", concat(found, ", ")),
          0)
      end
      drop_model_tables()
    end
    orm.generate_schemas()
    return
  end
  S.config_file = cfg
  if cfg then
    local t = load_config(cfg)
    if url then
      if type(t.connections) == "table" then
        t.connections.default = url
      else
        t.db_url = url
      end
    end
    S.migration_settings = type(t.migrations) == "table" and t.migrations or nil
    local ok, e = pcall(orm.init, t)
    if not ok then error(short_error(e), 0) end
    orm._connect_all()
  else
    orm.init{ db_url = url or "sqlite://:memory:" }
    orm._connect_all()
  end
  S.introspect()
end

-- Every model becomes a global by its name; Q, F and the aggregates too.
function S.export()
  local apps = get(orm, "apps")
  if type(apps) == "table" then
    for _, models in pairs(apps) do
      if type(models) == "table" then
        for name, m in pairs(models) do
          local cur = rawget(_G, name)
          if type(name) == "string" and (cur == nil or is_model(cur)) then
            rawset(_G, name, m)
          end
        end
      end
    end
  end
  for _, n in ipairs{ "Q", "F" } do
    local f = get(orm, n)
    if f ~= nil and rawget(_G, n) == nil then rawset(_G, n, f) end
  end
  local functions = get(orm, "functions")
  for _, n in ipairs{ "Count", "Sum", "Avg", "Min", "Max" } do
    local f = type(functions) == "table" and get(functions, n) or get(orm, n)
    if f ~= nil and rawget(_G, n) == nil then rawset(_G, n, f) end
  end
end

-- Names of the models, sorted, for the banner.
function S.model_names()
  local names = {}
  local apps = get(orm, "apps")
  if type(apps) == "table" then
    for _, models in pairs(apps) do
      for name in pairs(models) do names[#names + 1] = name end
    end
  end
  sort(names)
  return concat(names, ", ")
end

-- True inside a transaction, when the module can tell.
-- The connection in use, or nil.
local function current_conn()
  local f = get(orm, "_current_connection")
  if type(f) ~= "function" then return nil end
  local ok, r = pcall(f)
  return ok and r or nil
end

-- Whether the user has a transaction open on the connection in use
-- (--sandbox's and --atomic's own transaction aside).
function S.in_transaction()
  local f = get(orm, "_tx_depth")
  if type(f) ~= "function" then return false end
  local name = current_conn()
  local ok, d = pcall(f, name)
  return ok and type(d) == "number" and d > ((S.base_depth or {})[name or ""] or 0)
end

-- The user's transaction levels on name (above --sandbox's own).
local function user_depth(name)
  return orm._tx_depth(name) - ((S.base_depth or {})[name] or 0)
end

-- --read-only: every session refuses writes; shown in the prompt.
function S.set_read_only()
  orm._set_read_only()
  S.modes = (S.modes or "") .. "(read-only)"
end

-- --sandbox (sandbox true) and --atomic: a transaction on every
-- connection, around everything the user runs; the user's own
-- transactions inside it are savepoints.
function S.wrap_begin(sandbox)
  S.wrapped, S.base_depth = {}, {}
  for _, info in ipairs(orm._connections()) do
    S.wrapped[#S.wrapped + 1] = orm.transaction(info.name)
    S.base_depth[info.name] = orm._tx_depth(info.name)
  end
  S.sandboxed = sandbox
  if sandbox then S.modes = (S.modes or "") .. "(sandbox)" end
end

-- Ends what wrap_begin began: the user's levels left open are rolled
-- back, then each wrapping transaction committed (commit) or rolled back.
function S.wrap_end(commit)
  local wrapped = S.wrapped or {}
  S.wrapped = nil
  for i = #wrapped, 1, -1 do
    local t = wrapped[i]
    while user_depth(t.name) > 0 do orm._end_transaction(t.name, false) end
    if not t.done then
      if commit then t:commit() else t:rollback() end
    end
  end
  S.base_depth = nil
end

-- 1234567 -> "1,234,567"
local function thousands(n)
  local s = tostring(n)
  local sign, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end
  local out = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return sign .. out:gsub("^,", "")
end

-- Asks a yes/no question on the terminal; true for y or yes.
local function ask(question)
  io.stdout:write(question)
  io.stdout:flush()
  local answer = io.stdin:read("l")
  return answer ~= nil and (answer:match("^%s*[yY]%s*$") or answer:match("^%s*[yY][eE][sS]%s*$")) ~= nil
end

-- The guard of an interactive prompt: an update or delete of every row of
-- a table asks first, with the number of rows it would touch.
function S.install_guard()
  orm._set_guard(function(action, qs)
    local n = qs:count()
    if n == 0 then return true end
    local meta = get(qs.model, "_meta")
    local tbl = meta and get(meta, "db_table") or "?"
    return ask(("%s all %s row%s of %s? [y/N] "):format(
      action == "delete" and "Delete" or "Update", thousands(n), n == 1 and "" or "s", tbl))
  end)
end

-- Leaving the REPL with a transaction open asks what to do with it: true
-- to leave (after a commit or a rollback), false to stay.
function S.confirm_quit()
  if not S.in_transaction() then return true end
  io.stdout:write(("A transaction is open on connection '%s': "
    .. "(c)ommit, (r)ollback, or anything else to stay? "):format(current_conn()))
  io.stdout:flush()
  local answer = (io.stdin:read("l") or ""):lower():match("^%s*(%a*)")
  if answer == "c" or answer == "commit" or answer == "r" or answer == "rollback" then
    local commit = answer:sub(1, 1) == "c"
    local name = current_conn()
    while user_depth(name) > 0 do orm._end_transaction(name, commit) end
    S.txs = {}
    io.stdout:write(commit and "COMMIT\n" or "ROLLBACK\n")
    return true
  end
  return false
end

-- The meter's record of foreign keys loaded one instance at a time
-- during a statement ("Order.customer" -> count).
S.lazy, S.lazy_how = {}, {}

function S.lazy_reset()
  if next(S.lazy) ~= nil then S.lazy, S.lazy_how = {}, {} end
  if not S.lazy_hooked then
    S.lazy_hooked = true
    orm._set_lazy_hook(function(model, field, how)
      local k = model .. "." .. field
      S.lazy[k] = (S.lazy[k] or 0) + 1
      S.lazy_how[k] = how
    end)
  end
end

-- The relation an N+1 loop loaded most, as advice; nil when none did.
function S.lazy_hint()
  local best, n = nil, 0
  for k, c in pairs(S.lazy) do
    if c > n then best, n = k, c end
  end
  if not best or n < 10 then return nil end
  local model, field = best:match("^(.-)%.(.*)$")
  if S.lazy_how[best] == "prefetch" then
    return ("%s was queried %d times, once per %s: %s:...:prefetch_related(%q) "
      .. "loads them all in one more query"):format(best, n, model, model, field)
  end
  return ("%s was loaded %d times, one %s at a time: %s:...:select_related(%q) "
    .. "(or prefetch_related) loads them with the query"):format(best, n, model, model, field)
end

-- .begin / .commit / .rollback on the connection in use; a .begin inside
-- a transaction opens a savepoint.  Returns what to print.
function S.tx_begin()
  local name = current_conn()
  local depth = S.in_transaction() and 1 or 0
  S.txs = S.txs or {}
  S.txs[#S.txs + 1] = orm.transaction(name)
  return depth > 0 and "SAVEPOINT" or "BEGIN"
end

function S.tx_end(commit)
  local name = current_conn()
  if not S.in_transaction() then
    error(get(get(orm, "exceptions"), "TransactionManagementError")(
      ("no transaction is open on connection '%s'"):format(name)), 0)
  end
  local txs = S.txs or {}
  local t = txs[#txs]
  if t and t.name == name and not t.done then
    txs[#txs] = nil
    if commit then t:commit() else t:rollback() end
  else -- one begun in Lua: its innermost level
    orm._end_transaction(name, commit)
  end
  if S.in_transaction() then return commit and "RELEASE SAVEPOINT" or "ROLLBACK TO SAVEPOINT" end
  return commit and "COMMIT" or "ROLLBACK"
end

-- After Ctrl-C stopped a statement inside a transaction: the
-- transaction stays open, and the user is told so and how to end it.
-- Rolls back the transactions of conn above depth (an import's, after an
-- error); errors are swallowed (an interrupted statement may still hold
-- the session: collected, then tried again).
function S.unwind_to(conn, depth)
  for _ = 1, 8 do
    local ok, d = pcall(orm._tx_depth, conn)
    if not ok or d <= depth then return end
    if not pcall(orm._end_transaction, conn, false) then collectgarbage() end
  end
end

function S.after_interrupt()
  local u = S.unwind
  S.unwind = nil
  if u then S.unwind_to(u.conn, u.depth) end
  if not S.in_transaction() then return end
  io.stderr:write(("note: the transaction on connection '%s' is still open; "
    .. "end it with commit() or rollback() (on PostgreSQL the interrupted "
    .. "statement aborted it: only a rollback ends it)\n"):format(current_conn()))
end

-- The first-line prompt: testudo>, testudo*> in a transaction, and the
-- connection in use when it is neither the only one nor "default":
-- testudo[prod]>.
function S.prompt()
  local name = current_conn()
  local list = get(orm, "_connections")
  local n = 0
  if type(list) == "function" then
    local ok, conns = pcall(list)
    if ok and type(conns) == "table" then n = #conns end
  end
  local tag = ""
  if name and n > 1 and name ~= "default" then tag = "[" .. name .. "]" end
  return "testudo" .. (S.modes or "") .. tag .. (S.in_transaction() and "*" or "") .. "> "
end

-- Strict globals: reading a global that does not exist raises an error
-- naming it (the Python spellings True/False/None get a did-you-mean), so
-- that a misspelt name never turns into nil and drops a filter condition.
-- rawget(_G, name) still tests for one; assignment makes new ones.
local hints = { True = "true", False = "false", None = "orm.null",
  null = "orm.null", NULL = "orm.null" }

-- Raises the strict-globals error for k at the given level.
local function undefined(k, level)
  local hint = hints[k]
  if hint == nil and type(k) == "string" then
    -- a model or global differing only in case: usr -> User
    local lk = k:lower()
    for name in pairs(_G) do
      if type(name) == "string" and name:lower() == lk then hint = name end
    end
  end
  error(("undefined global '%s'%s"):format(tostring(k),
    hint and (" (did you mean %s?)"):format(hint) or ""), level + 1)
end

local function strict_index(_, k) undefined(k, 2) end

function S.strict()
  local mt = getmt(_G) or {}
  mt.__index = strict_index
  setmetatable(_G, mt)
end

-- The REPL's environment: top-level `local x = ...` lines are rewritten
-- (sugar.c) into `__testudo_local("x") x = ...`; the declared names live in
-- env, everything else goes through to _G.  A name is "pending" from its
-- declaration until its first assignment, so `local User = User` still
-- reads the global on the right-hand side.
function S.repl_env()
  local declared, pending = {}, {}
  local env = {}
  local function declare(...)
    for i = 1, select("#", ...) do
      local k = select(i, ...)
      if not declared[k] then pending[k] = true end
    end
  end
  setmetatable(env, {
    __index = function(_, k)
      if declared[k] then return nil end
      if k == "__testudo_local" then return declare end
      local v = rawget(_G, k)
      if v ~= nil then return v end
      local mt = getmt(_G)
      if mt and mt.__index == strict_index then undefined(k, 2) end
      return _G[k]
    end,
    __newindex = function(t, k, v)
      if declared[k] or pending[k] then
        declared[k], pending[k] = true, nil
        rawset(t, k, v)
      else
        _G[k] = v
      end
    end,
  })
  local function reset() pending = {} end
  return env, reset
end

-- Names visible in the REPL (locals and globals), for completion.
function S.visible_names(env)
  local seen, names = {}, {}
  local function add(t)
    for k in pairs(t) do
      if type(k) == "string" and not seen[k] and k:match("^[%a_][%w_]*$")
         and k ~= "__testudo_local" then
        seen[k] = true
        names[#names + 1] = k
      end
    end
  end
  if env then add(env) end
  add(_G)
  sort(names)
  return names
end

-- Method names of a value for completion after `x:`.
local qs_methods = {
  "all", "filter", "exclude", "order_by", "limit", "offset", "distinct",
  "annotate", "group_by", "only", "select_related", "prefetch_related",
  "values", "values_list", "count", "exists", "first", "last", "get",
  "get_or_none", "latest", "earliest", "in_bulk", "update", "delete", "sql",
  "explain", "iter", "list", "create", "get_or_create", "update_or_create",
  "bulk_create", "bulk_update", "raw", "describe", "using_db",
  "select_for_update",
}
local instance_methods = {
  "save", "delete", "refresh_from_db", "update_from_dict", "clone",
  "fetch_related", "to_table",
}

function S.methods(v)
  local seen, names = {}, {}
  local function add(k)
    if type(k) == "string" and not seen[k] and k:match("^[%a_][%w_]*$")
       and k:sub(1, 2) ~= "__" then
      seen[k] = true
      names[#names + 1] = k
    end
  end
  local model_of = get(orm, "_model_of")
  local function add_existing(list) -- those of list that v has
    for _, m in ipairs(list) do
      if type(get(v, m)) == "function" then add(m) end
    end
  end
  if is_model(v) then
    add_existing(qs_methods)
  elseif model_of and model_of(v) then
    add_existing(instance_methods)
    local m = model_of(v)
    for k, f in pairs(m) do if type(f) == "function" then add(k) end end
  else
    local mt = getmt(v)
    if mt and rawget(mt, "__name") == "testudo.QuerySet" then
      add_existing(qs_methods)
    end
    local idx = mt and rawget(mt, "__index")
    if type(idx) == "table" then
      for k, f in pairs(idx) do if type(f) == "function" then add(k) end end
    end
    if type(v) == "table" then
      for k, f in pairs(v) do if type(f) == "function" then add(k) end end
    end
  end
  sort(names)
  return names
end

-- Field names of a model (for completion inside filter{ ... }).
function S.fields(m)
  local meta = is_model(m) and get(m, "_meta")
  return meta and get(meta, "fields") or {}
end

-- ------------------------------------------------------------------
-- Grids for render.c: { cols = {...}, rows = { {"1", "a"}, ... },
-- kinds = { "ns", ... } (one letter per cell: 0 null, b boolean,
-- n number, f non-finite number, d decimal, j JSON text, s string),
-- total = rows before the limit, count_line = boolean, single = boolean }
-- ------------------------------------------------------------------

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

-- JSON text of a value for display: the ORM's encoder (orm._json_encode,
-- lenient: what JSON cannot hold shows as text or null).
local function json_value(v)
  return get(orm, "_json_encode")(v, true)
end

local function json_string(s)
  return json_value(tostring(s))
end
S.json_string = json_string

-- One value as (text, kind).
local function cell(v)
  local null = get(orm, "null")
  if v == nil or (null ~= nil and v == null) then return "", "0" end
  local t = type(v)
  if t == "boolean" then return tostring(v), "b" end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      return tostring(v), "f"
    end
    if math.type(v) == "float" then
      -- every digit that tells v apart (tostring keeps 14)
      local s
      for p = 15, 17 do
        s = string.format("%." .. p .. "g", v)
        if tonumber(s) == v then break end
      end
      if not s:find("[.eEn]") then s = s .. ".0" end
      return s, "n"
    end
    return tostring(v), "n"
  end
  if t == "string" then return v, "s" end
  local mt = getmt(v)
  if t == "table" and mt == nil then return json_value(v), "j" end
  local name = mt and rawget(mt, "__name")
  local s = tostring(v)
  if type(name) == "string" and name:find("Decimal", 1, true) then
    return s, "d"
  end
  return s, "s"
end

local function add_row(g, vals, n)
  local row, kinds = {}, {}
  for j = 1, n do
    local s, k = cell(vals[j])
    row[j], kinds[j] = s, k
  end
  g.rows[#g.rows + 1] = row
  g.kinds[#g.kinds + 1] = concat(kinds)
end

local function new_grid(cols)
  return { cols = cols, rows = {}, kinds = {}, total = 0, count_line = true,
           single = false }
end

local function is_queryset(v)
  local mt = getmt(v)
  return mt ~= nil and rawget(mt, "__name") == "testudo.QuerySet"
end

local function model_of(v)
  local f = get(orm, "_model_of")
  if type(f) ~= "function" then return nil end
  return f(v)
end

local function meta_fields(m)
  local meta = get(m, "_meta")
  local f = meta and get(meta, "fields")
  return type(f) == "table" and f or {}
end

-- A default tostring (`<User: 1>`) means the model has no __tostring.
local function custom_tostring(v, m)
  local s = tostring(v)
  local meta = get(m, "_meta")
  local name = meta and get(meta, "name") or "?"
  if s:sub(1, #name + 3) == "<" .. name .. ": " and s:sub(-1) == ">" then
    return nil
  end
  return s
end

-- The values of one row of a queryset, in its columns' order.
local function row_values(r, proj, cols, n)
  local vals = {}
  if proj == "flat" then
    vals[1] = r
  elseif proj == "values_list" then
    for j = 1, n do vals[j] = r[j] end
  else
    for j = 1, n do vals[j] = r[cols[j]] end
  end
  return vals
end

-- A queryset's first rows: with a row limit, only limit + 1 rows are
-- fetched (one more tells that more exist: total -1, "more" in the note).
local function qs_grid(qs, limit)
  local cols = qs:_columns()
  local proj = qs:_projection()
  local list, whole
  if limit > 0 then
    list, whole = qs:_peek(limit + 1)
  else
    list, whole = qs:list(), true
  end
  local g = new_grid(cols)
  g.total = #list
  if not whole and #list > limit then
    g.total = -1 -- more than shown, not counted
  end
  local n = #cols
  local shown = (limit > 0 and limit < #list) and limit or #list
  for i = 1, shown do
    add_row(g, row_values(list[i], proj, cols, n), n)
  end
  return g
end

-- A queryset's rows as grids of up to size rows each, read with iter()
-- (constant memory): returns a function giving the next grid, nil after
-- the last; the first grid is given even when there are no rows.
function S.qs_chunks(qs, size)
  local cols, proj = qs:_columns(), qs:_projection()
  local n = #cols
  local f, st, ctl = qs:iter()
  local first, done = true, false
  return function()
    if done then return nil end
    local g = new_grid(cols)
    while #g.rows < size do
      local r = f(st, ctl)
      if r == nil then done = true; break end
      ctl = r
      add_row(g, row_values(r, proj, cols, n), n)
    end
    if #g.rows == 0 and not first then return nil end
    first = false
    g.total = #g.rows
    return g
  end
end

local function instances_grid(list, limit)
  local cols, seen = {}, {}
  for _, r in ipairs(list) do
    for _, c in ipairs(meta_fields(model_of(r))) do
      if not seen[c] then seen[c] = true; cols[#cols + 1] = c end
    end
  end
  local g = new_grid(cols)
  g.total = #list
  local shown = (limit > 0 and limit < #list) and limit or #list
  for i = 1, shown do
    local vals = {}
    for j, c in ipairs(cols) do vals[j] = get(list[i], c) end
    add_row(g, vals, #cols)
  end
  return g
end

local function tables_grid(list, limit)
  local positional = true
  local width = 0
  for _, r in ipairs(list) do
    if not is_array(r) then positional = false end
    if #r > width then width = #r end
  end
  local cols = {}
  if positional and width > 0 then
    for j = 1, width do cols[j] = tostring(j) end
  else
    local seen = {}
    for _, r in ipairs(list) do
      for k in pairs(r) do
        if not seen[k] then seen[k] = true; cols[#cols + 1] = k end
      end
    end
    sort(cols, function(a, b)
      local ra = (a == "id" and 0) or (a == "pk" and 1) or 2
      local rb = (b == "id" and 0) or (b == "pk" and 1) or 2
      if ra ~= rb then return ra < rb end
      if type(a) ~= type(b) then return type(a) == "number" end
      return a < b
    end)
  end
  local names = {}
  for j, c in ipairs(cols) do names[j] = tostring(c) end
  local g = new_grid(names)
  g.total = #list
  local shown = (limit > 0 and limit < #list) and limit or #list
  for i = 1, shown do
    local vals = {}
    for j, c in ipairs(cols) do
      if positional then vals[j] = list[i][j] else vals[j] = list[i][c] end
    end
    add_row(g, vals, #cols)
  end
  return g
end

local function is_rows(v)
  local mt = getmt(v)
  return type(v) == "table" and mt ~= nil and rawget(mt, "__name") == "testudo.Rows"
end

-- A raw-SQL result (execute_query): its columns in the query's order,
-- duplicate names and NULL-only columns kept, values by position.
local function rows_grid(rows, limit)
  local cols = rawget(rows, "columns") or {}
  local names = {}
  for j, c in ipairs(cols) do names[j] = tostring(c) end
  local g = new_grid(names)
  g.total = #rows
  local shown = (limit > 0 and limit < #rows) and limit or #rows
  for i = 1, shown do
    local r, vals = rows[i], {}
    for j = 1, #names do vals[j] = r[j] end
    add_row(g, vals, #names)
  end
  return g
end

-- A plain table that is not a grid, as a short Lua literal: { 1, "a" },
-- { email = "a@b", n = 2 } (nested ones as {...}).
local function literal(v, depth)
  if type(v) == "string" then return fmt("%q", v) end
  if type(v) ~= "table" or getmt(v) ~= nil then
    local null = get(orm, "null")
    if null ~= nil and v == null then return "orm.null" end
    return tostring(v)
  end
  if depth > 1 then return "{...}" end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = literal(v[i], depth + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k
      or "[" .. literal(k, depth + 1) .. "]"
    parts[#parts + 1] = key .. " = " .. literal(v[k], depth + 1)
  end
  if #parts == 0 then return "{}" end
  return "{ " .. concat(parts, ", ") .. " }"
end

-- Returns a grid for v, or nil and the text to print (nil: as `lua`).
-- With data true (csv, json) an instance is always a record, never its
-- __tostring.
function S.grid(v, limit, data)
  if is_queryset(v) then return qs_grid(v, limit) end
  if is_rows(v) then return rows_grid(v, limit) end
  local m = model_of(v)
  if m then
    local s = not data and custom_tostring(v, m)
    if s then return nil, s end
    local cols = meta_fields(m)
    local g = new_grid(cols)
    local vals = {}
    for j, c in ipairs(cols) do vals[j] = v[c] end
    add_row(g, vals, #cols)
    g.total, g.count_line, g.single = 1, false, true
    return g
  end
  if type(v) == "table" and getmt(v) == nil and #v > 0 and is_array(v) then
    local all_inst, all_tab = true, true
    for _, r in ipairs(v) do
      if type(r) ~= "table" then all_inst, all_tab = false, false; break end
      if model_of(r) then all_tab = false
      elseif getmt(r) == nil then all_inst = false
      else all_inst, all_tab = false, false end
    end
    if all_inst then return instances_grid(v, limit) end
    if all_tab then return tables_grid(v, limit) end
  end
  if type(v) == "table" and getmt(v) == nil and not data then
    return nil, literal(v, 0)
  end
  return nil
end

-- A value that is not a grid as (text, kind), for the csv and json
-- formats: a cell of its own.
function S.scalar(v)
  return cell(v)
end

-- ------------------------------------------------------------------
-- Dot-command helpers
-- ------------------------------------------------------------------

-- All models as a sorted list of { app, name, model }.
local function all_models()
  local list = {}
  local apps = get(orm, "apps")
  if type(apps) == "table" then
    for app, models in pairs(apps) do
      if type(models) == "table" then
        for name, m in pairs(models) do
          list[#list + 1] = { app = app, name = name, model = m }
        end
      end
    end
  end
  sort(list, function(a, b)
    if a.app ~= b.app then return tostring(a.app) < tostring(b.app) end
    return a.name < b.name
  end)
  return list
end

local function find_model(name)
  local app, mname = name:match("^([%w_]+)%.([%w_]+)$")
  for _, e in ipairs(all_models()) do
    if (app and e.app == app and e.name == mname) or e.name == name then
      return e.model
    end
  end
  return nil
end
S.find_model = find_model

-- .models
function S.models_grid()
  local g = new_grid{ "model", "table", "rows", "fields" }
  for _, e in ipairs(all_models()) do
    local meta = get(e.model, "_meta") or {}
    if get(meta, "abstract") then goto continue end
    local ok, n = pcall(function() return e.model:all():count() end)
    add_row(g, { e.name, get(meta, "db_table"),
                 ok and n or "?", #meta_fields(e.model) }, 4)
    ::continue::
  end
  g.total = #g.rows
  g.count_line = false
  return g
end

local function field_type(f)
  local t = tostring(get(f, "field_type") or "?")
  local ml = get(f, "max_length")
  if ml then t = t .. "(" .. tostring(ml) .. ")" end
  local md, dp = get(f, "max_digits"), get(f, "decimal_places")
  if md and dp then t = t .. "(" .. tostring(md) .. "," .. tostring(dp) .. ")" end
  return t
end

local function field_flags(f)
  local flags = {}
  if get(f, "pk") then flags[#flags + 1] = "primary key" end
  if get(f, "generated") then flags[#flags + 1] = "generated" end
  if get(f, "null") then flags[#flags + 1] = "null" else flags[#flags + 1] = "not null" end
  if get(f, "unique") and not get(f, "pk") then flags[#flags + 1] = "unique" end
  if get(f, "index") and not get(f, "unique") and not get(f, "pk") then
    flags[#flags + 1] = "index"
  end
  local rel = get(f, "related_model")
  if rel then flags[#flags + 1] = "-> " .. tostring(rel) end
  local d = get(f, "default")
  if d ~= nil and type(d) ~= "function" then
    flags[#flags + 1] = "default " .. (type(d) == "string" and json_string(d) or tostring(d))
  elseif type(d) == "function" then
    flags[#flags + 1] = "default (function)"
  end
  if get(f, "auto_now") then flags[#flags + 1] = "auto_now" end
  if get(f, "auto_now_add") then flags[#flags + 1] = "auto_now_add" end
  return concat(flags, ", ")
end

-- .schema Model: a heading and a grid of fields; extra lines after.
function S.schema_grid(m)
  local meta = get(m, "_meta") or {}
  local g = new_grid{ "field", "type", "column", "flags" }
  local fmap = get(meta, "fields_map") or {}
  local listed = {}
  for _, name in ipairs(meta_fields(m)) do
    local f = fmap[name]
    -- a FK `customer` is listed as customer_id: find its field
    if f == nil and name:sub(-3) == "_id" then
      f = fmap[name:sub(1, -4)]
    end
    listed[name] = true
    if f then
      add_row(g, { name, field_type(f), get(f, "source_field") or name,
                   field_flags(f) }, 4)
    else
      add_row(g, { name, "?", name, "" }, 4)
    end
  end
  -- relations not in `fields` (FK objects, m2m, reverse relations)
  local extra = {}
  for name, f in pairs(fmap) do
    if not listed[name] and not listed[name .. "_id"] and type(f) == "table" then
      extra[#extra + 1] = name
    end
  end
  sort(extra)
  for _, name in ipairs(extra) do
    local f = fmap[name]
    local rel = get(f, "related_model")
    local desc = rel and ("-> " .. tostring(rel)) or nil
    if rel and get(f, "reverse") then
      -- a reverse relation: the FK/M2M field on the other model
      desc = "<- " .. tostring(rel) .. "." .. tostring(get(f, "related_name"))
    end
    add_row(g, { name, tostring(get(f, "field_type") or "?"), nil, desc }, 4)
  end
  g.total = #g.rows
  g.count_line = false
  local head = fmt('%s (table "%s")', tostring(get(meta, "name") or "?"),
                   tostring(get(meta, "db_table") or "?"))
  local tail = {}
  local key = get(meta, "primary_key")
  if type(key) == "table" and #key ~= 1 and not get(meta, "abstract") then
    tail[#tail + 1] = #key == 0 and "no primary key"
      or "primary key (" .. concat(key, ", ") .. ")"
  end
  if get(meta, "read_only") then
    tail[#tail + 1] = "read-only: writes raise OperationalError"
  end
  local idx = get(meta, "indexes")
  if type(idx) == "table" then
    for _, cols in ipairs(idx) do
      if type(cols) == "table" then
        tail[#tail + 1] = "index (" .. concat(cols, ", ") .. ")"
      end
    end
  end
  local ut = get(meta, "unique_together")
  if type(ut) == "table" then
    for _, cols in ipairs(ut) do
      if type(cols) == "table" then
        tail[#tail + 1] = "unique (" .. concat(cols, ", ") .. ")"
      end
    end
  end
  return g, head, concat(tail, "\n")
end

function S.schema_sql(m)
  local utils = get(orm, "utils")
  local f = utils and get(utils, "get_schema_sql")
  if type(f) ~= "function" then
    error("orm.utils.get_schema_sql is not available", 0)
  end
  return f{ safe = false, model = m }
end

function S.all_model_list()
  local list = {}
  for _, e in ipairs(all_models()) do
    local meta = get(e.model, "_meta") or {}
    if not get(meta, "abstract") then list[#list + 1] = e.model end
  end
  return list
end

-- .tables: the tables and views of the database, each with its model;
-- a table without one is marked, and so is a model whose table the
-- database does not have.
function S.tables_grid()
  local by_table = {}
  for _, e in ipairs(all_models()) do
    local meta = get(e.model, "_meta") or {}
    local t = get(meta, "db_table")
    if t and not get(meta, "abstract") then
      by_table[t] = by_table[t] and (by_table[t] .. ", " .. e.name) or e.name
    end
  end
  local tables, views, through = orm._relations()
  for t, rel in pairs(through) do
    by_table[t] = by_table[t] or ("(" .. rel .. ")")
  end
  local kind = {}
  for _, t in ipairs(tables) do kind[t] = "table" end
  for _, t in ipairs(views) do kind[t] = "view" end
  local names = {}
  for t in pairs(kind) do names[#names + 1] = t end
  for t in pairs(by_table) do
    if not kind[t] then names[#names + 1] = t end
  end
  sort(names)
  local g = new_grid{ "table", "kind", "model", "note" }
  for _, t in ipairs(names) do
    local note
    if not kind[t] then
      note = "missing: the database has no such table"
    elseif through[t] and by_table[t]:sub(1, 1) == "(" then
      note = "many-to-many through table"
    elseif not by_table[t] then
      note = "no model"
    end
    add_row(g, { t, kind[t], by_table[t], note }, 4) -- nil: a blank cell
  end
  g.total = #g.rows
  g.count_line = false
  return g
end

-- ------------------------------------------------------------------
-- testudo db inspectdb: the introspected models as Lua source, in
-- LUA_API.md's style; loading it declares the same models.
-- ------------------------------------------------------------------

local lua_keywords = {}
for k in ("and break do else elseif end false for function goto if in "
  .. "local nil not or repeat return then true until while"):gmatch("%a+") do
  lua_keywords[k] = true
end

-- A Lua literal for v (strings quoted with %q, numbers exact).
local function lua_literal(v)
  if type(v) == "string" then return fmt("%q", v) end
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return fmt("%.17g", v) end
  return tostring(v)
end

-- A table key: name, or ["name"] when it is no Lua identifier.
local function lua_key(name)
  if name:match("^[%a_][%w_]*$") and not lua_keywords[name] then return name end
  return "[" .. fmt("%q", name) .. "]"
end

local function lua_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = lua_literal(v) end
  return "{ " .. concat(out, ", ") .. " }"
end

-- The options of field f (of a model whose key has nkey fields) as Lua.
local function field_options(f, nkey)
  local o = {}
  local function add(k, v) o[#o + 1] = k .. " = " .. v end
  local rel = f.related_model
  if rel then o[1] = lua_literal(rel) end
  if f.pk and nkey == 1 then add("primary_key", "true") end
  if f.max_length and f.field_type ~= "CharEnumField" then add("max_length", f.max_length) end
  if f.field_type == "DecimalField" then
    add("max_digits", f.max_digits)
    add("decimal_places", f.decimal_places)
  end
  if f.null then add("null", "true") end
  if f.unique and not f.pk then add("unique", "true") end
  if f.index then add("index", "true") end
  if f.default ~= nil and type(f.default) ~= "function" then
    add("default", lua_literal(f.default))
  end
  if f.db_default then add("db_default", lua_literal(f.db_default)) end
  local natural = rel and (f.name .. "_id") or f.name
  if f.source_field and f.source_field ~= natural then
    add("source_field", lua_literal(f.source_field))
  end
  if rel then
    if f.related_name == false then add("related_name", "false")
    elseif f.related_name then add("related_name", lua_literal(f.related_name)) end
    add("on_delete", "orm." .. f.on_delete:gsub(" ", "_"))
    if not f.db_constraint then add("db_constraint", "false") end
  end
  if f.description then add("description", lua_literal(f.description)) end
  return concat(o, ", ")
end

-- The source of model m.
local function model_source(name, m)
  local meta = m._meta
  local by_attr = {}
  for _, f in pairs(meta.fields_map) do
    if f.attr then by_attr[f.attr] = f end
  end
  local mkey = lua_key(name)
  local lines = { fmt("M%s = Model:extend(%q, {", mkey:sub(1, 1) == "[" and mkey
    or "." .. mkey, name) }
  local width = 0
  for _, attr in ipairs(meta.fields) do
    local f = by_attr[attr]
    if f then width = math.max(width, #lua_key(f.name)) end
  end
  for _, attr in ipairs(meta.fields) do
    local f = by_attr[attr]
    if f then
      local key = lua_key(f.name)
      local opts = field_options(f, #meta.primary_key)
      lines[#lines + 1] = fmt("  %s%s = fields.%s%s,", key, (" "):rep(width - #key),
        f.field_type, opts == "" and "{}" or "{ " .. opts .. " }")
    end
  end
  local mo = { "table = " .. lua_literal(meta.db_table) }
  if #meta.primary_key ~= 1 then mo[#mo + 1] = "primary_key = " .. lua_list(meta.primary_key) end
  if meta.read_only then mo[#mo + 1] = "read_only = true" end
  local function groups(key)
    if #meta[key] == 0 then return end
    local gs = {}
    for i, g in ipairs(meta[key]) do gs[i] = lua_list(g) end
    mo[#mo + 1] = key .. " = { " .. concat(gs, ", ") .. " }"
  end
  groups("unique_together")
  groups("indexes")
  lines[#lines + 1] = "  Meta = { " .. concat(mo, ", ") .. " },"
  lines[#lines + 1] = "})"
  return concat(lines, "\n")
end

-- testudo db inspectdb: the source for the introspected models, or those
-- of the tables named in only (a list); url names the database in the
-- heading.  Raises naming a table that is not there.
function S.inspectdb(only, url)
  local models = orm.apps.models or {}
  local by_table = {}
  for _, name in ipairs(S.introspected) do
    by_table[models[name]._meta.db_table] = name
  end
  local names = {}
  if only and #only > 0 then
    for _, t in ipairs(only) do
      if not by_table[t] then
        for _, e in ipairs(all_models()) do
          if get(get(e.model, "_meta"), "db_table") == t then
            error(("inspectdb: table '%s' has a declared model, %s (not one "
              .. "introspection made): .schema %s shows it"):format(t, e.name, e.name), 0)
          end
        end
        error(("inspectdb: the database has no table or view '%s'"):format(t), 0)
      end
      names[#names + 1] = by_table[t]
    end
  else
    for _, n in ipairs(S.introspected) do names[#names + 1] = n end
  end
  local out = {
    "-- Models for the tables of " .. url .. ",",
    "-- written by `testudo db inspectdb`: a starting point for a models file.",
    "-- Load it with `testudo --no-introspect DB_URL models.lua`, or name it",
    "-- in a config's apps; it returns the models by name.",
    "local orm = rawget(_G, \"orm\") or require \"testudo\"",
    "local fields, Model = orm.fields, orm.Model",
    "",
    "local M = {}",
  }
  for _, name in ipairs(names) do
    out[#out + 1] = ""
    out[#out + 1] = model_source(name, models[name])
  end
  out[#out + 1] = ""
  out[#out + 1] = "return M"
  return concat(out, "\n") .. "\n"
end

-- ---- migrations: `testudo db CMD` and `.db CMD` ---------------------------

local DB_USAGE = [[usage: db COMMAND [options]
  init [--location DIR] [--app APP]   record the settings in the config, make the folder
  init-db                             the app's tables and the first migration
  migrate [--name N] [--empty] [-y]   write the next migration (renames asked, -y: none)
  upgrade [--fake] [--dry-run]        apply the migrations not applied yet
  downgrade [--version V] [--delete] [--fake] [--dry-run] [-y]
                                      revert the last migration (or those after V)
  history                             every migration, applied or not
  heads                               the migrations not applied yet
  inspectdb [--table T ...]           Lua models for the tables of the database]]

local function db_args(list)
  local o, cmd = {}, list[1]
  local i = 2
  while i <= #list do
    local a = list[i]
    local key, val = a:match("^%-%-([%w-]+)=(.*)$")
    key = key or a:match("^%-%-([%w-]+)$")
    if a == "-y" then key = "yes" end
    if not key then error(("db %s: unexpected argument '%s'\n%s"):format(cmd, a, DB_USAGE), 0) end
    key = key:gsub("-", "_")
    if val == nil and (key == "name" or key == "version" or key == "location" or key == "app") then
      i = i + 1
      val = list[i]
      if not val then error(("db %s: --%s needs a value"):format(cmd, key), 0) end
    end
    o[key] = val == nil and true or val
    i = i + 1
  end
  return cmd, o
end

-- Records migrations = { location =, app = } in the config file.
local function record_settings(path, o)
  if not path then
    error("db init: no config file (testudo.lua or -c FILE) to record the "
      .. "settings in: write one first (see README, Migrations)", 0)
  end
  local fh = io.open(path)
  local text = fh and fh:read("a")
  if fh then fh:close() end
  if not text then error("db init: cannot read " .. path, 0) end
  local line = ("  migrations = { location = %q, app = %q },"):format(o.location, o.app)
  if text:find("\n%s*migrations%s*=") then
    text = text:gsub("\n(%s*)migrations%s*=%s*%b{}%s*,?", "\n" .. line, 1)
  else
    local n
    text, n = text:gsub("return%s*{", "return {\n" .. line, 1)
    if n == 0 then error("db init: " .. path .. " does not 'return {' a table", 0) end
  end
  fh = io.open(path, "w")
  fh:write(text)
  fh:close()
end

-- Asks about each table whose columns went and came: renamed? (-y: no)
local function say(text)
  io.stdout:write(text, "\n")
end

local function ask_renames(o)
  local renames = {}
  for _, c in ipairs(orm.migrations.rename_candidates(o)) do
    local q = c[3] and ("Rename field %s.%s to %s? [y/N] "):format(c[2], c[3], c[4])
      or ("Rename table %s to %s? [y/N] "):format(c[1], c[2])
    if not o.yes and ask(q) then renames[#renames + 1] = c end
  end
  return renames
end

local function print_list(title, list)
  if #list == 0 then say(title .. ": none") return end
  for _, m in ipairs(list) do
    say(("%s_%s%s"):format(m.version, m.name, m.applied == nil and "" or
      (m.applied and "  (applied)" or "  (not applied)")))
  end
end

-- --dry-run: the steps (key "upgrade" or "downgrade") of migrations.
local function print_steps(list, key)
  for _, m in ipairs(list) do
    say(("-- %s_%s"):format(m.version, m.name))
    for _, q in ipairs(m[key]) do
      say(type(q) == "function" and "-- a data step (a Lua function)" or q .. ";")
    end
  end
end

-- The progress of an upgrade, on stderr: a line per statement.
local function progress(done, total, sql)
  if sql then
    io.stderr:write(("  [%d/%d] %s\n"):format(done + 1, total,
      (sql:gsub("%s+", " "):sub(1, 70))))
  end
end

function S.db_command(list)
  local cmd, o = db_args(list)
  local M = orm.migrations
  local cfg = S.migration_settings or {}
  o.location = o.location or M.location or cfg.location
  o.app = o.app or M.app or cfg.app
  o.progress = progress
  if cmd == "init" then
    o.location = o.location or "migrations"
    o.app = o.app or "models"
    record_settings(S.config_file, o)
    local dir = M.init(o)
    say(("Migrations of app %s go in %s (recorded in %s)."):format(o.app, dir, S.config_file))
  elseif cmd == "init-db" then
    local path = M.init_db(o)
    say("Made the tables and the first migration: " .. path)
  elseif cmd == "migrate" then
    o.renames = ask_renames(o)
    local path, why = M.migrate(o)
    say(path and ("Wrote " .. path) or "No changes.")
    _ = why
  elseif cmd == "upgrade" then
    if o.dry_run then return print_steps(M.pending(o), "upgrade") end
    local ran = M.upgrade(o)
    say(#ran == 0 and "Nothing to upgrade." or ("Applied " .. table.concat(ran, ", ") .. "."))
  elseif cmd == "downgrade" then
    if o.dry_run then return print_steps(M.to_revert(o), "downgrade") end
    if not o.yes then
      local what = o.version and ("every migration after " .. o.version) or "the last migration"
      if not ask(("Revert %s%s? [y/N] "):format(what, o.delete and " and delete its file" or "")) then
        say("Nothing done.")
        return
      end
    end
    local undone = M.downgrade(o)
    say(#undone == 0 and "Nothing to downgrade." or ("Reverted " .. table.concat(undone, ", ") .. "."))
  elseif cmd == "history" then
    print_list("Migrations", M.history(o))
  elseif cmd == "heads" then
    print_list("Not applied", M.heads(o))
  else
    error(DB_USAGE, 0)
  end
end

-- .db inspectdb: the same for the database in use (its URL masked).
function S.inspectdb_here(only)
  return S.inspectdb(only, orm.connection():url())
end

-- .open URL: the default connection opens URL; .open NAME: the
-- configured connection NAME becomes the one in use.  Returns a note.
local function is_connection(name)
  for _, c in ipairs(orm._connections()) do
    if c.name == name then return true end
  end
  return false
end

-- ------------------------------------------------------------------
-- .import FILE.csv Model [--skip-errors] and .export Model|EXPR FILE.csv
-- ------------------------------------------------------------------

local TEXT_TYPES = { CharField = true, TextField = true }

-- The columns a CSV header may name for model m: each field with a
-- column, by its name, its attribute (category_id) and its column.
local function import_columns(m)
  local fmap = get(get(m, "_meta"), "fields_map") or {}
  local by = {}
  for name, f in pairs(fmap) do
    local attr = get(f, "attr")
    if attr then
      by[name] = f
      by[attr] = f
      local col = get(f, "source_field")
      if col then by[col] = f end
    end
  end
  return by
end

local function required(f)
  return not (get(f, "null") or get(f, "generated") or get(f, "default") ~= nil
              or get(f, "auto_now") or get(f, "auto_now_add"))
end

-- One error's text without the Lua position.
local function reason(e)
  local s = tostring(e)
  return (s:gsub("^[^:\n]*:%d+: ", ""))
end

-- Loads the rows of a CSV file (a header naming fields, then one row per
-- record) into model mname: streamed, in one transaction, batches of 500
-- in savepoints (a failing batch is retried row by row to find the bad
-- ones).  Bad rows are listed on stderr with their line numbers; with
-- skip false nothing is written when any is bad (an error), with skip
-- true the good rows are.  Returns the summary line.
function S.import(path, mname, skip)
  local m = find_model(mname)
  if not m then error(("no such model '%s' (models: %s)"):format(mname, S.model_names()), 0) end
  local meta = get(m, "_meta")
  local tbl = get(meta, "db_table") or mname
  local r = S.csv_open(path)
  local header = r:next()
  if not header then error(path .. ": the file is empty (its first line must name the columns)", 0) end
  local by, attrs, seen = import_columns(m), {}, {}
  local fields = {}
  for j, h in ipairs(header) do
    h = h or ""
    if j == 1 then h = h:gsub("^\239\187\191", "") end -- a UTF-8 BOM
    local f = by[h]
    if not f then
      local names = {}
      for _, c in ipairs(meta_fields(m)) do names[#names + 1] = c end
      error(("%s line 1: column '%s' is not a field of %s (fields: %s)"):format(
        path, h, mname, concat(names, ", ")), 0)
    end
    local attr = get(f, "attr")
    if seen[attr] then
      error(("%s line 1: columns %d and %d both name %s"):format(path, seen[attr], j, attr), 0)
    end
    seen[attr] = j
    attrs[j], fields[j] = attr, f
  end
  for name, f in pairs(get(meta, "fields_map") or {}) do
    if get(f, "attr") and required(f) and not seen[get(f, "attr")]
       and not get(f, "pk") then
      error(("%s line 1: no column for %s, which is required"):format(path, name), 0)
    end
  end
  local null = get(orm, "null")
  local ncols = #attrs
  local conn = current_conn()
  local depth0 = orm._tx_depth(conn)
  local written, bad, rows = 0, 0, 0
  local pending = {} -- bad rows not yet listed (those of the open batch)
  local function bad_row(line, why)
    bad = bad + 1
    pending[#pending + 1] = { line, reason(why) }
  end
  local function list_bad()
    if #pending == 0 then return end
    sort(pending, function(a, b) return a[1] < b[1] end)
    S.progress()
    for _, p in ipairs(pending) do
      io.stderr:write(("line %d: %s\n"):format(p[1], p[2]))
    end
    pending = {}
  end
  local function stop_if_interrupted()
    if S.interrupted() then error("interrupted", 0) end
  end
  local batch, lines = {}, {}
  local function flush()
    if #batch == 0 then list_bad() return end
    local sp = orm.transaction(conn)
    local ok = pcall(m.bulk_create, m, batch)
    if ok then
      sp:commit()
      written = written + #batch
    else
      sp:rollback()
      stop_if_interrupted()
      for i, inst in ipairs(batch) do
        local one = orm.transaction(conn)
        local ok1, e = pcall(inst.save, inst)
        if ok1 then
          one:commit()
          written = written + 1
        else
          one:rollback()
          stop_if_interrupted()
          bad_row(lines[i], e)
        end
      end
    end
    batch, lines = {}, {}
    list_bad()
  end
  -- Ctrl-C may stop this anywhere (a Lua hook, apart from the cancelled
  -- statement): the REPL's after_interrupt ends what is left open
  S.unwind = { conn = conn, depth = depth0 }
  local tx = orm.transaction(conn)
  local ok, e = pcall(function()
    while true do
      local rec, line = r:next()
      if not rec then break end
      rows = rows + 1
      if #rec ~= ncols then
        bad_row(line, ("%d fields where the header has %d"):format(#rec, ncols))
      else
        local data = {}
        for j = 1, ncols do
          local v, f = rec[j], fields[j]
          if v == false then
            if TEXT_TYPES[get(f, "field_type")] and not get(f, "null") then
              data[attrs[j]] = ""
            elseif get(f, "null") then
              data[attrs[j]] = null
            end
          else
            data[attrs[j]] = v
          end
        end
        local ok1, inst = pcall(m, data)
        if ok1 then
          lines[#batch + 1] = line
          batch[#batch + 1] = inst
          if #batch >= 500 then flush() end
        else
          stop_if_interrupted()
          bad_row(line, inst)
          if #pending >= 500 then flush() end
        end
      end
      if rows % 1000 == 0 then
        local done, total = r:progress()
        S.progress(done, total, ("%s rows"):format(thousands(rows)))
      end
    end
    flush()
  end)
  list_bad()
  S.progress()
  r:close()
  if not ok then
    -- every level this import opened (a Ctrl-C may have left a
    -- savepoint without its Lua object)
    S.unwind_to(conn, depth0)
    if orm._tx_depth(conn) <= depth0 then S.unwind = nil end
    error(e, 0)
  end
  if bad > 0 and not skip then
    tx:rollback()
    S.unwind = nil
    error(("%s: %s bad row%s (listed above); nothing written (--skip-errors writes the good rows)"):format(
      path, thousands(bad), bad == 1 and "" or "s"), 0)
  end
  tx:commit()
  S.unwind = nil
  local s = ("Imported %s row%s into %s"):format(thousands(written), written == 1 and "" or "s", tbl)
  if bad > 0 then
    s = s .. ("; %s bad row%s skipped (listed above)"):format(thousands(bad), bad == 1 and "" or "s")
  end
  return s
end

-- Writes the rows of v (a model: all its rows; a queryset) to a CSV file
-- at path: a header, then a row per record, streamed; NULL as an empty
-- field, an empty string as "".  On error the file is removed.  Returns
-- the summary line.
function S.export_csv(v, path)
  if is_model(v) then v = v:all() end
  if not is_queryset(v) then
    error((".export takes a model or a queryset (got a %s)"):format(type(v)), 0)
  end
  local total = S.stderr_tty() and v:count() or nil
  local fh, err = io.open(path, "w")
  if not fh then error("cannot open " .. tostring(err), 0) end
  local n = 0
  local ok, e = pcall(function()
    local first = true
    for g in S.qs_chunks(v, 1000) do -- the writer of .mode csv
      S.csv_grid(fh, g, first)
      first = false
      n = n + #g.rows
      S.progress(n, total, ("%s rows"):format(thousands(n)))
    end
    local okc, ce = fh:close()
    if not okc then error(ce, 0) end
  end)
  S.progress()
  if not ok then
    pcall(fh.close, fh)
    os.remove(path)
    error(e, 0)
  end
  return ("Exported %s row%s to %s"):format(thousands(n), n == 1 and "" or "s", path)
end

function S.open(what)
  if not what:find("://", 1, true) then
    if is_connection(what) then
      orm._use_connection(what ~= "default" and what or nil)
      return "using connection '" .. what .. "'"
    end
    local f = io.open(what, "rb")
    if f then f:close() end
    if not f and not what:match("%.db$") and not what:match("%.sqlite3?$") then
      error(("no connection named '%s' and no SQLite file '%s' (a new one "
        .. "ends in .db, .sqlite or .sqlite3)"):format(what, what), 0)
    end
    what = "sqlite://" .. what
  end
  -- --sandbox: the previous default's transaction is rolled back, and
  -- the new default gets one; --atomic refuses (its writes would end apart)
  local wrapped = S.wrapped
  if wrapped and not S.sandboxed then
    error(".open URL cannot switch databases in an --atomic script: its "
      .. "writes would no longer be all or nothing", 0)
  end
  if wrapped then
    for i, t in ipairs(wrapped) do
      if t.name == "default" then
        while user_depth("default") > 0 do orm._end_transaction("default", false) end
        if not t.done then t:rollback() end
        table.remove(wrapped, i)
        break
      end
    end
  end
  local ok, e = pcall(orm._open, what)
  if wrapped then -- on the new default, or the old one when that failed
    wrapped[#wrapped + 1] = orm.transaction("default")
    S.base_depth.default = orm._tx_depth("default")
  end
  if not ok then error(e, 0) end
  S.introspect()
  S.export()
  local info = orm.connection("default")
  local note = "default connection: " .. info:url()
  if wrapped then note = note .. " (sandbox: its changes are rolled back at exit)" end
  local summary = S.introspected_summary()
  return summary and (note .. "\n" .. summary) or note
end

-- .connections: name, dialect, URL (password masked), pool bounds, open
-- sessions and statements run; * marks the connection in use.
function S.connections_grid()
  local cur = current_conn()
  local g = new_grid{ "", "name", "dialect", "url", "pool", "open", "queries" }
  for _, c in ipairs(orm._connections()) do
    add_row(g, { c.name == cur and "*" or nil, c.name, c.dialect, c.url,
      c.minsize .. ".." .. c.maxsize, c.open .. (c.in_transaction and " (in transaction)" or ""),
      c.queries }, 7)
  end
  g.total = #g.rows
  g.count_line = false
  return g
end

-- ------------------------------------------------------------------
-- Completion: candidates (whole words) for the text before the cursor.
-- ------------------------------------------------------------------

local keywords = {
  "and", "break", "do", "else", "elseif", "end", "false", "for",
  "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat",
  "return", "then", "true", "until", "while",
}
-- What each queryset method takes, for completion inside its call:
-- lookup keys (field paths, relation hops, lookups after field__), field
-- names, field paths (values, order_by: no lookups), relation paths.
local arg_kind = {
  filter = "lookups", exclude = "lookups", get = "lookups",
  get_or_none = "lookups", exists = "lookups", count = "lookups",
  create = "fields", update = "fields", get_or_create = "fields",
  update_or_create = "fields", new = "fields",
  values = "paths", values_list = "paths", order_by = "paths",
  only = "paths", group_by = "paths", distinct = "paths",
  latest = "paths", earliest = "paths",
  select_related = "relations", prefetch_related = "relations",
  fetch_related = "relations",
}
-- What a method of a model or queryset gives back: a queryset of the
-- same model ("qs") or one of its instances ("inst").
local returns = {
  all = "qs", filter = "qs", exclude = "qs", order_by = "qs", limit = "qs",
  offset = "qs", distinct = "qs", annotate = "qs", group_by = "qs",
  only = "qs", select_related = "qs", prefetch_related = "qs",
  values = "qs", values_list = "qs", using_db = "qs",
  select_for_update = "qs",
  get = "inst", get_or_none = "inst", first = "inst", last = "inst",
  latest = "inst", earliest = "inst", create = "inst",
  get_or_create = "inst", update_or_create = "inst",
}

-- Resolves a dotted name (a.b.c) through env without calling anything
-- but __index; never through an instance (its relations would query).
local function resolve(path, env)
  if not path:match("^[%a_][%w_]*[%w_%.]*$") then return nil end
  local v = env
  for name in path:gmatch("[^.]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    if model_of(v) then return nil end
    v = get(v, name)
    if v == nil then return nil end
  end
  return v
end

-- The end of the string literal or bracket that opens at i of s (the
-- index after it), or nil when it is not closed.
local closers = { ["("] = ")", ["{"] = "}", ["["] = "]", ["<"] = ">" }
local function skip(s, i)
  local c = s:sub(i, i)
  if c == '"' or c == "'" then
    local j = i + 1
    while j <= #s do
      local d = s:sub(j, j)
      if d == "\\" then j = j + 2
      elseif d == c then return j + 1
      else j = j + 1 end
    end
    return nil
  end
  local close = closers[c]
  local j = i + 1
  while j <= #s do
    local d = s:sub(j, j)
    if d == close then return j + 1 end
    if closers[d] or d == '"' or d == "'" then
      j = skip(s, j)
      if not j then return nil end
    else
      j = j + 1
    end
  end
  return nil
end

-- The kind ("model", "qs", "inst", "value") and model of an expression:
-- a name (a.b) and a chain of :method(...) calls, read without running
-- anything; nil when it cannot tell.
local function chain_kind(expr, env)
  local base, i = expr:match("^%s*([%a_][%w_%.]*)()")
  if not base then return nil end
  local v = resolve(base, env)
  if v == nil then return nil end
  local kind, m
  if is_model(v) then kind, m = "model", v
  elseif is_queryset(v) then kind, m = "qs", get(v, "model")
  elseif model_of(v) then kind, m = "inst", model_of(v)
  else kind = "value" end
  while i <= #expr do
    local meth, j = expr:match("^%s*:%s*([%a_][%w_]*)%s*()", i)
    if not meth or kind == "value" then return nil end
    local c = expr:sub(j, j)
    local k = (closers[c] and c ~= "[") and skip(expr, j)
      or ((c == '"' or c == "'") and skip(expr, j))
    if not k then return nil end
    i = k
    local r = (kind == "model" or kind == "qs") and returns[meth]
    if not r then return nil end
    kind, v = r, nil
  end
  return kind, m, v
end

local function model_by_label(label)
  if type(label) ~= "string" then return nil end
  local app, name = label:match("^([%w_]+)%.([%w_]+)$")
  local apps = get(orm, "apps")
  if app and type(apps) == "table" and type(apps[app]) == "table" then
    return apps[app][name]
  end
  return find_model(label)
end

-- Field names of m for completion: names, and attributes (category_id).
local function field_names(m, relations_only)
  local names = {}
  local fmap = get(get(m, "_meta"), "fields_map") or {}
  for name, f in pairs(fmap) do
    if type(name) == "string" then
      local rel = get(f, "related_model")
      if not relations_only or rel then names[#names + 1] = name end
      local attr = get(f, "attr")
      if not relations_only and attr and attr ~= name then names[#names + 1] = attr end
    end
  end
  return names
end

-- Candidates for a field path being typed (t) on model m: relation hops
-- (customer__email), and with lookups true the lookups that suit the
-- field after field__ (orm._lookups).
local function path_candidates(m, t, kind)
  local out = {}
  if kind == "fields" then
    if not t:find("__", 1, true) then out = field_names(m) end
    return out
  end
  local prefix, cur, hop = "", m, nil
  local parts = {}
  for part in (t .. "__"):gmatch("(.-)__") do parts[#parts + 1] = part end
  for i = 1, #parts - 1 do
    local fmap = get(get(cur, "_meta"), "fields_map") or {}
    local f = fmap[parts[i]]
    local rel = f and model_by_label(get(f, "related_model"))
    if rel then
      hop = { model = cur, name = parts[i] }
      cur = rel
    elseif f and kind == "lookups" and i == #parts - 1 then
      for _, l in ipairs(orm._lookups(cur, parts[i]) or {}) do
        out[#out + 1] = prefix .. parts[i] .. "__" .. l
      end
      return out
    else
      return out
    end
    prefix = prefix .. parts[i] .. "__"
  end
  for _, n in ipairs(field_names(cur, kind == "relations")) do
    out[#out + 1] = prefix .. n
  end
  if hop and kind == "lookups" then
    local ls = orm._lookups(hop.model, hop.name)
      or { "exact", "not", "in", "not_in", "isnull", "not_isnull" }
    for _, l in ipairs(ls) do out[#out + 1] = prefix .. l end
  end
  return out
end

-- The innermost bracket open at the end of s: its index and character,
-- and the index of an unclosed string literal after it (or nil).
local function open_bracket(s)
  local stack, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == '"' or c == "'" then
      local j = skip(s, i)
      if not j then return stack[#stack], i end
      i = j
    elseif c == "-" and s:sub(i + 1, i + 1) == "-" then
      return nil -- a comment
    elseif c == "(" or c == "{" or c == "[" then
      stack[#stack + 1] = i
      i = i + 1
    elseif c == "<" and s:sub(1, i - 1):match(":%s*[%a_][%w_]*%s*$") then
      stack[#stack + 1] = i -- the sugar: filter<...>
      i = i + 1
    elseif c == ")" or c == "}" or c == "]" or (c == ">" and #stack > 0
        and s:sub(stack[#stack], stack[#stack]) == "<") then
      stack[#stack] = nil
      i = i + 1
    else
      i = i + 1
    end
  end
  return stack[#stack], nil
end

-- The expression that ends at the end of s (a name, a chain of calls):
-- back to the first operator, comma or opening bracket outside brackets.
local function expr_before(s)
  local k, depth = #s, 0
  while k > 0 do
    local c = s:sub(k, k)
    if c == ")" or c == "}" or c == "]" or c == ">" then depth = depth + 1
    elseif c == "(" or c == "{" or c == "[" or c == "<" then
      if depth == 0 then break end
      depth = depth - 1
    elseif depth == 0 and not c:match("[%w_%.:\"']") then break end
    k = k - 1
  end
  return s:sub(k + 1)
end

-- Completion inside a queryset method's call: field names, relation
-- paths and lookups of the receiver's model.  Returns candidates for
-- text, or nil when the cursor is not in such a place.
local function complete_args(text, before, env)
  local b, q = open_bracket(before)
  if not b then return nil end
  local opener = before:sub(b, b)
  local head = before:sub(1, b - 1)
  local recv, meth = head:match("^(.-)%s*:%s*([%a_][%w_]*)%s*$")
  if not recv then
    recv, meth = head:match("^(.-[%w_%]%)}])%s*$"), "new" -- Model{...}
    if not recv or opener ~= "{" then return nil end
    recv = recv:match("([%a_][%w_%.]*)$")
    if not recv then return nil end
  else
    recv = expr_before(recv) -- the expression the method is called on
  end
  local kind = arg_kind[meth]
  if not kind then return nil end
  local what, m = chain_kind(recv, env)
  if meth == "new" then
    if what ~= "model" then return nil end
  elseif what ~= "model" and what ~= "qs" and not (what == "inst" and meth == "fetch_related") then
    return nil
  end
  if not is_model(m) then return nil end
  local typed = ""
  if q then -- inside a string: values("...", order_by("-...
    if opener ~= "(" or kind == "lookups" or kind == "fields" then return nil end
    typed = before:sub(q + 1)
  else
    if opener == "(" then return nil end
    -- a key: right after the opener, a comma or a semicolon
    local seg = before:sub(b + 1)
    local i, last = 1, ""
    while i <= #seg do
      local c = seg:sub(i, i)
      local j = (closers[c] or c == '"' or c == "'") and skip(seg, i)
      if j then i = j; last = "x"
      elseif c:match("%s") then i = i + 1
      else last = c; i = i + 1 end
    end
    if not (last == "" or last == "," or last == ";") then return nil end
  end
  -- typed: what of the string is before text (readline usually starts
  -- text right after the quote)
  local full, sign = typed .. text, ""
  if meth == "order_by" and full:sub(1, 1) == "-" then
    sign, full = "-", full:sub(2)
  end
  local out = {}
  for _, c in ipairs(path_candidates(m, full, kind)) do
    if c:sub(1, #full) == full then
      out[#out + 1] = (sign .. c):sub(#typed + 1)
    end
  end
  sort(out)
  return out
end

-- Method names after `expr:`: for a model or queryset the queryset
-- methods that exist, for an instance its methods (a chain like
-- User:filter{...}:first() is followed without running it).
local function chain_methods(expr, env)
  local kind, m, v = chain_kind(expr, env)
  if not kind then return nil end
  if v ~= nil then return S.methods(v) end
  if kind == "qs" and is_model(m) then
    local ok, qs = pcall(function() return m:all() end)
    return ok and S.methods(qs) or nil
  end
  if kind == "inst" and is_model(m) then
    local ok, inst = pcall(m)
    return ok and S.methods(inst) or nil
  end
  return nil
end

function S.complete(text, before, env)
  env = env or _G
  local args = complete_args(text, before, env)
  if args then return args end
  local out, seen = {}, {}
  local function add(s)
    if not seen[s] and s:sub(1, #text) == text then
      seen[s] = true
      out[#out + 1] = s
    end
  end
  -- after `expr:` its methods, after `expr.` a table's keys
  local sep = before:sub(-1)
  if sep == ":" or sep == "." then
    local expr = expr_before(before:sub(1, -2))
    if expr ~= "" and not expr:match("^%d") then
      local names
      if sep == ":" then
        names = chain_methods(expr, env)
      else
        local v = resolve(expr, env)
        if type(v) == "table" then
          names = {}
          for k in pairs(v) do
            if type(k) == "string" then names[#names + 1] = k end
          end
        end
      end
      for _, n in ipairs(names or {}) do add(n) end
      sort(out)
      return out
    end
  end
  for _, n in ipairs(S.visible_names(env)) do add(n) end
  for _, k in ipairs(keywords) do add(k) end
  sort(out)
  return out
end

function S.model_list_names()
  local names = {}
  for _, e in ipairs(all_models()) do names[#names + 1] = e.name end
  return names
end

return S
