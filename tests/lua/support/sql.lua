-- support/sql.lua -- raw SQL in specs, written once, run on every backend.
--
-- Specs write raw SQL the SQLite way ("ident" quoting, ? placeholders,
-- instr/substr/length); sql.portable(text) gives the same statement in
-- the dialect of the connection: `ident` quoting on MySQL, $1, $2 ... on
-- PostgreSQL (the backends' own placeholders, as LUA_API.md says), and
-- the few functions whose spelling differs.  Text inside '...' literals
-- is left alone.
local orm = require "testudo"

local M = {}

-- The dialect of a connection ("sqlite", "postgres", "mysql").
function M.dialect(name)
  return orm.connection(name or "default"):dialect()
end

-- ident quoted for the dialect of the connection.
function M.quote(ident, name)
  local q = M.dialect(name) == "mysql" and "`" or '"'
  return q .. ident:gsub(q, q .. q) .. q
end

-- Rewrites quoting and placeholders outside string literals.
local function tokens(sql, dialect)
  local out, n, i = {}, 0, 1
  while i <= #sql do
    local c = sql:sub(i, i)
    if c == "'" then
      local j = i + 1
      while true do
        local k = sql:find("'", j, true)
        if not k then j = #sql break end
        if sql:sub(k + 1, k + 1) == "'" then j = k + 2 else j = k break end
      end
      out[#out + 1] = sql:sub(i, j)
      i = j + 1
    elseif c == '"' then
      local k = assert(sql:find('"', i + 1, true), "unclosed quoted identifier")
      local ident = sql:sub(i + 1, k - 1)
      out[#out + 1] = dialect == "mysql" and ("`" .. ident .. "`") or ('"' .. ident .. '"')
      i = k + 1
    elseif c == "?" and dialect == "postgres" then
      n = n + 1
      out[#out + 1] = "$" .. n
      i = i + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

-- SQLite spellings of functions, as the other databases spell them.
local FUNCS = {
  postgres = {
    -- instr(a, b) > 0: the position of b in a
    { "instr%(", "strpos(" },
    -- substr(x, -n): the last n characters
    { "substr%(([%w_]+), %-([^,%)]+%b())%)", "right(%1, %2)" },
    { "substr%(([%w_]+), %-(%d+)%)", "right(%1, %2)" },
    -- length counts characters
    { "length%(", "char_length(" },
    -- no limit
    { "LIMIT %-1", "LIMIT ALL" },
  },
  mysql = {
    { "length%(", "char_length(" },
    { "LIMIT %-1", "LIMIT 18446744073709551615" },
  },
}

-- sql in the dialect of connection name (default "default").
function M.portable(sql, name)
  local dialect = M.dialect(name)
  for _, rule in ipairs(FUNCS[dialect] or {}) do
    -- "char_length(" contains "length(": rewrite whole words only
    sql = sql:gsub("%f[%w_]" .. rule[1], rule[2])
  end
  return tokens(sql, dialect)
end

-- Runs portable(sql) with params on connection name: rows, count.
function M.query(sql, params, name)
  return orm.connection(name or "default"):execute_query(M.portable(sql, name), params or {})
end

-- The column names of a table, in order.
function M.columns(tbl, name)
  local dialect, rows = M.dialect(name), nil
  if dialect == "sqlite" then
    rows = M.query(('PRAGMA table_info("%s")'):format(tbl), {}, name)
  else
    rows = M.query("SELECT column_name AS name FROM information_schema.columns"
      .. " WHERE table_name = ? AND table_schema = "
      .. (dialect == "mysql" and "DATABASE()" or "current_schema()")
      .. " ORDER BY ordinal_position", { tbl }, name)
  end
  local cols = {}
  for i, r in ipairs(rows) do cols[i] = r.name end
  return cols
end

-- The names of the indexes of a table (those the database makes for
-- primary keys and unique constraints included), sorted.
function M.indexes(tbl, name)
  local dialect, rows = M.dialect(name), nil
  if dialect == "sqlite" then
    rows = M.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", { tbl }, name)
  elseif dialect == "postgres" then
    rows = M.query("SELECT indexname AS name FROM pg_indexes WHERE tablename = ?"
      .. " AND schemaname = current_schema()", { tbl }, name)
  else
    rows = M.query("SELECT DISTINCT index_name AS name FROM information_schema.statistics"
      .. " WHERE table_name = ? AND table_schema = DATABASE()", { tbl }, name)
  end
  local list = {}
  for i, r in ipairs(rows) do list[i] = r.name end
  table.sort(list)
  return list
end

-- The tables of the database whose names start with prefix, sorted.
function M.tables(prefix, name)
  local list = {}
  for _, t in ipairs(orm._tables(name or "default")) do
    if t:sub(1, #prefix) == prefix then list[#list + 1] = t end
  end
  return list
end

return M
