-- Connections spec: URLs and their aliases, credentials tables, bad URLs,
-- passwords never shown, named connections, apps on different
-- connections, using_db, routers, pools, close_connections.  Runs on the
-- database of TESTUDO_TEST_DB_URL (default: SQLite).
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local DIALECT = TEST_URL:match("^postgres") and "postgres"
  or TEST_URL:match("^mysql") and "mysql" or "sqlite"

local function catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- A URL for a second connection to the same database (SQLite: one file
-- shared by both, so that both see the same tables).
local shared_file
local function shared_url()
  if DIALECT ~= "sqlite" then return TEST_URL end
  if not shared_file then shared_file = os.tmpname() end
  return "sqlite://" .. shared_file
end

local Note = Model:extend("CnNote", {
  title = f.CharField{ max_length = 40 },
  Meta = { table = "cn_notes" },
})

local Tag = Model:extend("CnTag", {
  label = f.CharField{ max_length = 40 },
  Meta = { table = "cn_tags", app = "other" },
})

-- Drops the spec's tables on a persistent database.
local function drop_tables(name)
  local conn = orm.connection(name)
  for _, t in ipairs{ "cn_notes", "cn_tags" } do
    pcall(conn.execute_script, conn, "DROP TABLE IF EXISTS " ..
      (DIALECT == "mysql" and ("`" .. t .. "`") or ('"' .. t .. '"')))
  end
end

describe("connections: URLs", function()
  after_each(function() orm.testing.finish() end)

  it("accepts the Tortoise scheme aliases", function()
    local cases = {
      { "postgres://u:pw@db.example:5432/app", "postgres" },
      { "postgresql://u:pw@db.example/app", "postgres" },
      { "asyncpg://u:pw@db.example/app", "postgres" },
      { "psycopg://u:pw@db.example/app", "postgres" },
      { "mysql://u:pw@db.example:3306/app", "mysql" },
      { "asyncmy://u:pw@db.example/app", "mysql" },
      { "mariadb://u:pw@db.example/app", "mysql" },
      { "MariaDB://u:pw@db.example/app", "mysql" },
      { "aiomysql://u:pw@db.example/app", "mysql" },
      { "psycopg2://u:pw@db.example/app", "postgres" },
      { "pg://u:pw@db.example/app", "postgres" },
      { "sqlite://:memory:", "sqlite" },
      { "sqlite3://:memory:", "sqlite" },
    }
    for _, c in ipairs(cases) do
      orm.init{ db_url = c[1] } -- lazily: nothing is opened yet
      local conn = orm.connection("default")
      assert.are.equal(c[2], conn:dialect(), c[1])
      assert.are.equal(0, conn:open_sessions())
      assert.is_nil(conn:url():find("pw", 1, true), conn:url())
    end
  end)

  it("masks the password as *** in url(), tostring and _connections", function()
    orm.init{ connections = {
      default = "sqlite://:memory:",
      prod = "postgres://admin:s3cr%40t@db.example:5432/shop?sslmode=require",
    } }
    local prod = orm.connection("prod")
    assert.are.equal("postgres://admin:***@db.example:5432/shop?sslmode=require",
      prod:url())
    assert.is_nil(tostring(prod):find("s3cr", 1, true))
    assert.is_truthy(tostring(prod):find("prod", 1, true))
    for _, info in ipairs(orm._connections()) do
      assert.is_nil(info.url:find("s3cr", 1, true))
    end
  end)

  it("masks password parameters too", function()
    orm.init{ db_url = "postgres://db.example/shop?user=u&password=hunter2" }
    local url = orm.connection("default"):url()
    assert.is_nil(url:find("hunter2", 1, true))
    assert.is_truthy(url:find("password=***", 1, true))
  end)

  it("accepts query parameters, unix sockets and IPv6 hosts", function()
    orm.init{ connections = {
      default = "sqlite://:memory:",
      a = "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
      b = "postgres://u@/db?host=/var/run/postgresql",
      c = "postgres://u:pw@[::1]:5432/db?minsize=1&maxsize=20&connect_timeout=5&application_name=x",
      d = "mysql://u:pw@[2001:db8::1]/db?charset=utf8mb4&ssl=true",
    } }
    local pool = orm.connection("c"):pool()
    assert.are.equal(1, pool.minsize)
    assert.are.equal(20, pool.maxsize)
    assert.are.equal(0, pool.open)
    assert.are.equal("mysql", orm.connection("d"):dialect())
  end)

  it("takes every scheme from the core's one table", function()
    local list, map = orm._url_schemes()
    assert.are.same({ "sqlite", "sqlite3", "postgres", "postgresql", "asyncpg",
      "psycopg", "psycopg2", "pg", "mysql", "mariadb", "asyncmy", "aiomysql" },
      list)
    for _, s in ipairs(list) do
      orm.init{ db_url = s .. "://" .. (map[s] == "sqlite" and ":memory:"
        or "u:pw@db.example/app") }
      assert.are.equal(map[s], orm.connection("default"):dialect(), s)
    end
    local err = catch(orm.init, { db_url = "oracle://u:pw@h/db" })
    assert.is_truthy(err.message:find("mariadb", 1, true), err.message)
  end)

  it("says what is wrong with a bad URL, without the password", function()
    local cases = {
      { "nonsense", "scheme://" },
      { "oracle://u:hunter2@h/db", "unknown database URL scheme 'oracle'" },
      { "postgres://u:hunter2@h:99999/db", "invalid port" },
      { "postgres://u:hunter2@h:abc/db", "invalid port 'abc'" },
      { "postgres://u:hunter2@h", "missing database name" },
      { "mysql://u:hunter2@h:3306/", "missing database name" },
      { "postgres://u:hunter2@h/db?minsize=5&maxsize=2", "minsize (5) is larger than maxsize (2)" },
      { "postgres://u:hunter2@h/db?maxsize=0", "maxsize must be a positive integer" },
      { "postgres://u:hunter2@[::1/db", "unclosed '['" },
      { "sqlite://", "file path" },
    }
    for _, c in ipairs(cases) do
      local err = catch(orm.init, { db_url = c[1] })
      assert.is_true(E.ConfigurationError:is(err), c[1])
      assert.is_truthy(err.message:find(c[2], 1, true), err.message)
      assert.is_nil(tostring(err):find("hunter2", 1, true), tostring(err))
    end
  end)

  it("keeps the old connections when the new configuration is bad", function()
    orm.init{ db_url = "sqlite://:memory:" }
    catch(orm.init, { db_url = "postgres://u:x@h:0/db" })
    assert.are.equal("sqlite", orm.connection("default"):dialect())
  end)
end)

describe("connections: credentials tables", function()
  after_each(function() orm.testing.finish() end)

  it("accepts every engine spelling", function()
    local cases = {
      { "tortoise.backends.asyncpg", "postgres" },
      { "tortoise.backends.psycopg", "postgres" },
      { "postgres", "postgres" },
      { "tortoise.backends.mysql", "mysql" },
      { "tortoise.backends.asyncmy", "mysql" },
      { "mysql", "mysql" },
      { "tortoise.backends.sqlite", "sqlite" },
    }
    for _, c in ipairs(cases) do
      orm.init{ connections = { default = { engine = c[1], credentials = {
        host = "db.example", port = 5433, user = "app", password = "p@ss:w/rd",
        database = "shop", minsize = 2, maxsize = 7, file_path = ":memory:",
      } } } }
      local conn = orm.connection("default")
      assert.are.equal(c[2], conn:dialect(), c[1])
      assert.is_nil(conn:url():find("p@ss", 1, true))
      if c[2] ~= "sqlite" then
        assert.is_truthy(conn:url():find("app:***@db.example:5433/shop", 1, true), conn:url())
        local pool = conn:pool()
        assert.are.equal(2, pool.minsize)
        assert.are.equal(7, pool.maxsize)
      end
    end
  end)

  it("puts a socket directory in ?host= and brackets an IPv6 host", function()
    orm.init{ connections = {
      default = { engine = "postgres", credentials = { host = "/var/run/postgresql", user = "u", database = "d" } },
      six = { engine = "postgres", credentials = { host = "::1", port = 5432, user = "u", database = "d" } },
    } }
    assert.is_truthy(orm.connection("default"):url():find("host=%2Fvar%2Frun%2Fpostgresql", 1, true))
    assert.is_truthy(orm.connection("six"):url():find("@[::1]:5432/d", 1, true))
  end)

  it("says what is wrong with a bad table", function()
    local err = catch(orm.init, { connections = { default = { engine = "oracle", credentials = {} } } })
    assert.is_true(E.ConfigurationError:is(err))
    assert.is_truthy(err.message:find("unknown engine 'oracle'", 1, true))
    err = catch(orm.init, { connections = { default = { engine = "postgres",
      credentials = { host = "h", password = "hunter2", user = "u" } } } })
    assert.is_truthy(err.message:find("database", 1, true))
    assert.is_nil(tostring(err):find("hunter2", 1, true))
    err = catch(orm.init, { connections = { default = { engine = "postgres",
      credentials = { host = "h", port = "x", password = "hunter2", user = "u", database = "d" } } } })
    assert.is_truthy(err.message:find("invalid port", 1, true))
    assert.is_nil(tostring(err):find("hunter2", 1, true))
  end)

  if DIALECT ~= "sqlite" then
    it("never shows the password of a failed login", function()
      local bad = TEST_URL:gsub(":[^:@/]*@", ":wr0ngpassw0rd@")
      orm.init{ db_url = bad }
      local err = catch(function()
        return orm.connection("default"):execute_query("SELECT 1")
      end)
      assert.is_true(E.OperationalError:is(err))
      assert.is_nil(tostring(err):find("wr0ngpassw0rd", 1, true), tostring(err))
    end)
  end
end)

describe("connections: named connections", function()
  local url_b
  before_each(function()
    url_b = DIALECT == "sqlite" and "sqlite://:memory:" or TEST_URL
    orm.init{
      connections = { a = TEST_URL, b = url_b },
      apps = {
        models = { models = {}, default_connection = "a" },
        other = { models = {}, default_connection = "b" },
      },
    }
    if DIALECT ~= "sqlite" then drop_tables("a") end
    orm.generate_schemas()
  end)
  after_each(function()
    if DIALECT ~= "sqlite" then drop_tables("a") end
    orm.testing.finish()
  end)

  it("runs each app's queries on its own connection", function()
    local a, b = orm.connection("a"), orm.connection("b")
    local a0, b0 = a:query_count(), b:query_count()
    Note:create{ title = "n" }
    assert.are.equal(1, Note:count())
    assert.are.equal(a0 + 2, a:query_count())
    assert.are.equal(b0, b:query_count())
    Tag:create{ label = "t" }
    assert.are.equal(1, Tag:count())
    assert.are.equal(b0 + 2, b:query_count())
    assert.are.equal(a0 + 2, a:query_count())
  end)

  it("creates each app's tables on its own connection", function()
    local ta, tb = {}, {}
    for _, t in ipairs(orm._tables("a")) do ta[t] = true end
    for _, t in ipairs(orm._tables("b")) do tb[t] = true end
    assert.is_true(ta.cn_notes)
    assert.is_true(tb.cn_tags)
    if DIALECT == "sqlite" then -- two separate databases
      assert.is_nil(ta.cn_tags)
      assert.is_nil(tb.cn_notes)
    end
  end)

  it("orm.connection(name) and orm.in_transaction(name, fn)", function()
    assert.are.equal("b", orm.connection("b"):name())
    local err = catch(orm.connection, "nope")
    assert.is_true(E.ConfigurationError:is(err))
    local inside
    orm.in_transaction("b", function(conn)
      inside = orm.connection("b"):in_transaction()
      assert.is_false(orm.connection("a"):in_transaction())
      Tag:create{ label = "in" }
    end)
    assert.is_true(inside)
    assert.is_false(orm.connection("b"):in_transaction())
    assert.are.equal(1, Tag:count())
    pcall(orm.in_transaction, "b", function()
      Tag:create{ label = "gone" }
      error("boom")
    end)
    assert.are.equal(1, Tag:count())
  end)

  it("using_db sends a queryset to the named connection", function()
    Note:create{ title = "x" }
    local a, b = orm.connection("a"), orm.connection("b")
    if DIALECT == "sqlite" then
      -- b is another database: no such table there
      local err = catch(function() return Note:all():using_db("b"):count() end)
      assert.is_true(E.OperationalError:is(err))
    else
      local b0 = b:query_count()
      assert.are.equal(1, Note:using_db("b"):count())
      assert.are.equal(1, Note:filter{ title = "x" }:using_db(b):count())
      assert.are.equal(1, #Note:using_db("b"):filter{ title = "x" })
      assert.are.equal(b0 + 3, b:query_count())
    end
    local a0 = a:query_count()
    assert.are.equal(1, Note:all():using_db("a"):count())
    assert.are.equal(a0 + 1, a:query_count())
    local err = catch(function() return Note:using_db("nope") end)
    assert.is_true(E.ConfigurationError:is(err))
  end)
end)

describe("connections: transactions and querysets", function()
  before_each(function()
    orm.testing.init{}
    if DIALECT ~= "sqlite" then drop_tables("default") end
    orm.generate_schemas()
  end)
  after_each(function() orm.testing.finish() end)

  it("runs a queryset built outside a transaction inside it", function()
    local qs = Note:filter{ title = "t" }
    pcall(orm.in_transaction, function()
      Note:create{ title = "t" }
      assert.are.equal(1, qs:count()) -- sees the uncommitted row
      assert.are.equal(1, #Note:filter{ title = "t" })
      error("roll back")
    end)
    assert.are.equal(0, Note:filter{ title = "t" }:count())
  end)

  it("pins one session for the transaction", function()
    local conn = orm.connection("default")
    orm.in_transaction(function()
      for i = 1, 5 do Note:create{ title = "p" .. i } end
      assert.are.equal(5, Note:count())
      assert.is_true(conn:pool().busy >= 1)
    end)
    assert.are.equal(5, Note:count())
  end)
end)

describe("connections: routers", function()
  local log
  local Router = {}
  function Router:db_for_read(model)
    log[#log + 1] = "read " .. model._meta.name
    return "replica"
  end
  function Router:db_for_write(model)
    log[#log + 1] = "write " .. model._meta.name
    return "primary"
  end

  before_each(function()
    log = {}
    orm.init{
      connections = { primary = shared_url(), replica = shared_url() },
      apps = { models = { models = {}, default_connection = "primary" },
               other = { models = {}, default_connection = "primary" } },
      routers = { Router },
    }
    drop_tables("primary")
    orm.generate_schemas()
  end)
  after_each(function()
    drop_tables("primary")
    orm.testing.finish()
  end)

  it("sends reads to db_for_read and writes to db_for_write", function()
    local p, r = orm.connection("primary"), orm.connection("replica")
    local p0, r0 = p:query_count(), r:query_count()
    local n = Note:create{ title = "w" }
    assert.are.equal(p0 + 1, p:query_count())
    assert.are.equal(r0, r:query_count())
    assert.are.equal(1, Note:count())
    assert.are.equal("w", Note:get{ id = n.id }.title)
    assert.are.equal(1, #Note:all())
    assert.is_true(Note:filter{ title = "w" }:exists())
    assert.are.equal(r0 + 4, r:query_count())
    assert.are.equal(p0 + 1, p:query_count())
    Note:filter{ title = "w" }:update{ title = "v" }
    n.title = "u"
    n:save()
    Note:filter{ title = "u" }:delete()
    assert.are.equal(p0 + 4, p:query_count())
    assert.are.equal(r0 + 4, r:query_count())
    assert.is_truthy(#log >= 8)
    assert.are.equal("write CnNote", log[1])
  end)

  it("lets using_db win over the routers, and nil fall through", function()
    local p, r = orm.connection("primary"), orm.connection("replica")
    local p0 = p:query_count()
    Note:all():using_db("primary"):count()
    assert.are.equal(p0 + 1, p:query_count())
    local r0 = r:query_count()
    Router.db_for_read = function(self, model) return nil end
    Note:count() -- falls back to the app's connection
    assert.are.equal(r0, r:query_count())
    assert.are.equal(p0 + 2, p:query_count())
    Router.db_for_read = function(model) return "replica" end -- plain function
    Note:count()
    assert.are.equal(r0 + 1, r:query_count())
  end)

  it("rejects a bad router", function()
    local err = catch(orm.init, { db_url = "sqlite://:memory:", routers = { 42 } })
    assert.is_true(E.ConfigurationError:is(err))
  end)
end)

describe("connections: pools", function()
  after_each(function() orm.testing.finish() end)

  it("opens sessions lazily, at least minsize of them, at most maxsize", function()
    local url = shared_url()
    local sep = url:find("?", 1, true) and "&" or "?"
    orm.init{ connections = { default = url .. sep .. "minsize=2&maxsize=3" } }
    local conn = orm.connection("default")
    assert.are.equal(0, conn:open_sessions())
    conn:execute_query("SELECT 1")
    local want = DIALECT == "sqlite" and 1 or 2 -- SQLite: one session
    assert.are.equal(want, conn:open_sessions())
    assert.are.equal(DIALECT == "sqlite" and 1 or 3, conn:pool().maxsize)
    drop_tables("default")
    orm.generate_schemas()
    for i = 1, 6 do Note:create{ title = "n" .. i } end
    -- nested cursors: the pool grows to maxsize and no further
    local most = 0
    for a in Note:all():iter() do
      for b in Note:all():iter() do
        for c in Note:all():iter() do
          for d in Note:all():iter() do
            most = math.max(most, conn:open_sessions())
            break
          end
          break
        end
        break
      end
      break
    end
    assert.is_true(most <= (DIALECT == "sqlite" and 1 or 3), tostring(most))
    assert.is_true(conn:open_sessions() <= 3)
    drop_tables("default")
  end)

  it("keeps :memory: one shared database", function()
    orm.init{ db_url = "sqlite://:memory:?minsize=3&maxsize=10" }
    orm.generate_schemas()
    orm.in_transaction(function() Note:create{ title = "m" } end)
    assert.are.equal(1, Note:count())
    assert.are.equal(1, orm.connection("default"):open_sessions())
  end)

  it("close_connections closes every session; they open again on use", function()
    orm.init{ connections = { default = TEST_URL, b = shared_url() } }
    local conn, b = orm.connection("default"), orm.connection("b")
    conn:execute_query("SELECT 1")
    b:execute_query("SELECT 1")
    assert.is_true(conn:open_sessions() >= 1)
    conn:close() -- one pool
    assert.are.equal(0, conn:open_sessions())
    assert.are.equal(1, #conn:execute_query("SELECT 1 AS one"))
    orm.close_connections() -- every pool
    assert.are.equal(0, conn:open_sessions())
    assert.are.equal(0, b:open_sessions())
    assert.are.equal(1, #conn:execute_query("SELECT 1 AS one"))
    assert.are.equal(1, conn:open_sessions())
    assert.are.equal(0, b:open_sessions())
  end)
end)
