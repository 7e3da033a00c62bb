-- Acceptance spec (issue 3, LUA_API.md "Connecting" and "Transactions"):
-- URL schemes and their Tortoise aliases, the credentials table, bad URLs
-- (ConfigurationError saying what is wrong, never the password), several
-- named connections with apps bound to each, using_db, routers,
-- orm.close_connections(), transactions and savepoints.
--
-- Runs on every backend of the matrix: the named-connection and router
-- tests use SQLite files (always available); transactions run on
-- TESTUDO_TEST_DB_URL; checks that need a PostgreSQL or MySQL server run
-- only when TESTUDO_TEST_DB_URL points at one.  Unreachable servers are
-- 127.0.0.1 port 1 (refused at once): connections open lazily, so
-- orm.init succeeds and the first query raises OperationalError.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL")
local TEST_SCHEME = TEST_URL and TEST_URL:match("^([%w%+]+)://")
local SERVER = (TEST_SCHEME == "postgres" or TEST_SCHEME == "postgresql" or TEST_SCHEME == "mysql") and TEST_SCHEME or nil
if SERVER == "postgresql" then SERVER = "postgres" end

local PASSWORD = "s3cr3tPW"

local function catch(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- The error must not reveal the password in any form.
local function no_password(err, pw)
  pw = pw or PASSWORD
  local text = tostring(err) .. " " .. tostring(type(err) == "table" and err.message or "")
    .. " " .. tostring(type(err) == "table" and err.sql or "")
  assert.is_nil(text:find(pw, 1, true), "password leaked: " .. text)
end

local tmpfiles = {}
local function tmpdb()
  local path = os.tmpname()
  os.remove(path)
  path = path .. ".sqlite3"
  tmpfiles[#tmpfiles + 1] = path
  return path
end

local function cleanup_files()
  for _, p in ipairs(tmpfiles) do
    os.remove(p)
    os.remove(p .. "-journal")
    os.remove(p .. "-wal")
    os.remove(p .. "-shm")
  end
  tmpfiles = {}
end

-- app `models` (default connection)
local BkLive = Model:extend("BkLive", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 20, unique = true },
  Meta = { table = "bk_live" },
})

-- app `archive` (its own connection)
local BkArchived = Model:extend("BkArchived", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 20 },
  Meta = { table = "bk_archived", app = "archive" },
})

local function table_set(conn_name)
  local t = {}
  for _, name in ipairs(orm._tables(conn_name)) do t[name] = true end
  return t
end

-- orm.init with app `models` on `default` and app `archive` on `other`.
local function init_two(default_url, other_url, extra)
  local cfg = {
    connections = { default = default_url, other = other_url },
    apps = {
      models = { models = {}, default_connection = "default" },
      archive = { models = {}, default_connection = "other" },
    },
  }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  orm.init(cfg)
end

-- Drops this file's tables on a connection (a server database may hold
-- tables of an earlier run).
local function drop_ours(name)
  local conn = orm.connection(name)
  conn:execute_script("DROP TABLE IF EXISTS bk_live")
  conn:execute_script("DROP TABLE IF EXISTS bk_archived")
end

-- Expects orm.init{cfg} to succeed (lazy connection) and the first query to
-- raise an OperationalError that does not show the password.
local function expect_unreachable(cfg, pw)
  orm.init(cfg)
  local err = catch(function() return BkLive:count() end)
  assert.is_true(E.OperationalError:is(err), tostring(err))
  no_password(err, pw)
  orm.close_connections()
end

describe("backends", function()
  after_each(function()
    pcall(orm.close_connections)
    cleanup_files()
  end)

  describe("URLs", function()
    it("sqlite://PATH and sqlite://:memory:", function()
      local path = tmpdb()
      orm.init{ db_url = "sqlite://" .. path }
      orm.generate_schemas()
      BkLive:create{ name = "a" }
      orm.close_connections()
      orm.init{ db_url = "sqlite://" .. path }
      assert.are.equal(1, BkLive:count())
      orm.init{ db_url = "sqlite://:memory:" }
      orm.generate_schemas()
      assert.are.equal(0, BkLive:count())
    end)

    it("the credentials table with a Tortoise engine name (sqlite)", function()
      local path = tmpdb()
      orm.init{ connections = { default = { engine = "tortoise.backends.sqlite", credentials = { file_path = path } } } }
      orm.generate_schemas()
      BkLive:create{ name = "a" }
      assert.are.equal(1, BkLive:count())
    end)

    it("db_url + modules is accepted", function()
      orm.init{ db_url = "sqlite://:memory:", modules = { models = {} } }
      orm.generate_schemas()
      assert.are.equal(0, BkLive:count())
    end)

    for _, scheme in ipairs{ "postgres", "asyncpg", "psycopg", "mysql", "asyncmy" } do
      it(scheme .. ":// is accepted; an unreachable server gives OperationalError without the password", function()
        expect_unreachable{ db_url = ("%s://user:%s@127.0.0.1:1/testdb"):format(scheme, PASSWORD) }
      end)
    end

    it("query parameters, percent-encoded credentials and socket hosts are accepted", function()
      expect_unreachable{ db_url = ("postgres://user:%s@127.0.0.1:1/testdb?minsize=1&maxsize=5&connect_timeout=2&application_name=testudo&sslmode=disable"):format(PASSWORD) }
      expect_unreachable{ db_url = ("mysql://user:%s@127.0.0.1:1/testdb?minsize=1&maxsize=3&connect_timeout=2&charset=utf8mb4"):format(PASSWORD) }
      -- "p@ss/w:rd" percent-encoded: neither form may show
      local enc = "p%40ss%2Fw%3Ard"
      expect_unreachable({ db_url = ("postgres://us%%40er:%s@127.0.0.1:1/testdb"):format(enc) }, "p@ss/w:rd")
      expect_unreachable({ db_url = ("postgres://user:%s@127.0.0.1:1/testdb"):format(enc) }, enc)
      expect_unreachable({ db_url = ("mysql://user:%s@127.0.0.1:1/testdb"):format(enc) }, "p@ss/w:rd")
      -- a unix-socket directory that does not exist
      expect_unreachable{ db_url = ("postgres://user:%s@%%2Fnonexistent%%2Fdir/testdb"):format(PASSWORD) }
    end)

    it("the credentials table with engine = \"tortoise.backends.asyncpg\" (and mysql)", function()
      local creds = { host = "127.0.0.1", port = 1, user = "user", password = PASSWORD, database = "testdb", minsize = 1, maxsize = 20 }
      expect_unreachable{ connections = { default = { engine = "tortoise.backends.asyncpg", credentials = creds } } }
      expect_unreachable{ connections = { default = { engine = "tortoise.backends.psycopg", credentials = creds } } }
      expect_unreachable{ connections = { default = { engine = "tortoise.backends.mysql", credentials = creds } } }
      expect_unreachable{ connections = { default = { engine = "tortoise.backends.asyncpg", credentials = creds } },
                          apps = { models = { models = {}, default_connection = "default" } } }
    end)

    describe("a bad URL is a ConfigurationError that says what is wrong", function()
      it("unknown scheme", function()
        local err = catch(function() orm.init{ db_url = ("nosuchdb://user:%s@localhost/x"):format(PASSWORD) } end)
        assert.is_true(E.ConfigurationError:is(err), tostring(err))
        assert.truthy(err.message:find("nosuchdb", 1, true), err.message)
        no_password(err)
      end)

      it("not a URL at all", function()
        local err = catch(function() orm.init{ db_url = "just some text" } end)
        assert.is_true(E.ConfigurationError:is(err), tostring(err))
      end)

      it("a port that is not a number", function()
        for _, scheme in ipairs{ "postgres", "mysql" } do
          local err = catch(function() orm.init{ db_url = ("%s://user:%s@localhost:abc/x"):format(scheme, PASSWORD) } end)
          assert.is_true(E.ConfigurationError:is(err), tostring(err))
          assert.truthy(err.message:lower():find("port", 1, true), err.message)
          no_password(err)
        end
      end)

      it("an unknown engine in the credentials table", function()
        local err = catch(function()
          orm.init{ connections = { default = { engine = "tortoise.backends.oracle", credentials = { password = PASSWORD } } } }
        end)
        assert.is_true(E.ConfigurationError:is(err), tostring(err))
        assert.truthy(err.message:find("oracle", 1, true), err.message)
        no_password(err)
      end)

      it("an app bound to an unknown connection", function()
        local err = catch(function()
          orm.init{ connections = { default = "sqlite://:memory:" },
                    apps = { models = { models = {}, default_connection = "nope" } } }
        end)
        assert.is_true(E.ConfigurationError:is(err), tostring(err))
        assert.truthy(err.message:find("nope", 1, true), err.message)
      end)

      it("no connection at all", function()
        assert.is_true(E.ConfigurationError:is(catch(function() orm.init{} end)))
      end)

      it("a failed init leaves the previous configuration working", function()
        local path = tmpdb()
        orm.init{ db_url = "sqlite://" .. path }
        orm.generate_schemas()
        BkLive:create{ name = "kept" }
        catch(function() orm.init{ db_url = "nosuchdb://x" } end)
        assert.are.equal(1, BkLive:count())
      end)
    end)
  end)

  describe("named connections", function()
    local a_path, b_path
    before_each(function()
      a_path, b_path = tmpdb(), tmpdb()
      init_two("sqlite://" .. a_path, "sqlite://" .. b_path)
      orm.generate_schemas()
    end)

    it("each app's tables live on its connection", function()
      local a, b = table_set("default"), table_set("other")
      assert.is_true(a.bk_live)
      assert.is_nil(a.bk_archived)
      assert.is_true(b.bk_archived)
      assert.is_nil(b.bk_live)
    end)

    it("queries go to the model's connection", function()
      BkLive:create{ name = "live" }
      BkArchived:create{ name = "old" }
      BkArchived:create{ name = "older" }
      assert.are.equal(1, BkLive:count())
      assert.are.equal(2, BkArchived:count())
      local rows = orm.connection("other"):execute_query("SELECT name FROM bk_archived ORDER BY name")
      assert.are.same({ "old", "older" }, { rows[1].name, rows[2].name })
      assert.are.equal(1, #orm.connection("default"):execute_query("SELECT name FROM bk_live"))
      assert.are.equal(1, BkArchived:filter{ name = "old" }:update{ name = "oldest" })
      assert.are.equal(1, BkArchived:filter{ name = "oldest" }:delete())
      assert.are.same({ "older" }, BkArchived:all():values_list("name", { flat = true }):list())
    end)

    it("orm.apps lists both apps", function()
      assert.are.equal(BkLive, orm.apps.models.BkLive)
      assert.are.equal(BkArchived, orm.apps.archive.BkArchived)
    end)

    it("using_db sends a queryset (or the model's queries) to another connection", function()
      -- the same table on `other`, made by hand
      orm.connection("other"):execute_script(orm.utils.get_schema_sql{ model = BkLive, safe = true })
      BkLive:create{ name = "on-default" }
      orm.connection("other"):execute_script("INSERT INTO bk_live (name) VALUES ('on-other')")
      assert.are.same({ "on-default" }, BkLive:all():values_list("name", { flat = true }):list())
      assert.are.same({ "on-other" }, BkLive:all():using_db("other"):values_list("name", { flat = true }):list())
      assert.are.same({ "on-other" }, BkLive:using_db("other"):values_list("name", { flat = true }):list())
      assert.are.equal(1, BkLive:filter{ name__startswith = "on" }:using_db("other"):count())
      assert.are.equal(1, BkLive:filter{ name = "on-other" }:using_db("other"):update{ name = "moved" })
      assert.are.equal(0, BkLive:filter{ name = "on-other" }:count())
      assert.are.equal("moved", BkLive:using_db("other"):get{ name = "moved" }.name)
    end)

    it("in_transaction and transaction() name a connection", function()
      local ok = pcall(orm.in_transaction, "other", function()
        BkArchived:create{ name = "gone" }
        error("boom")
      end)
      assert.is_false(ok)
      assert.are.equal(0, BkArchived:count())
      orm.in_transaction("other", function() BkArchived:create{ name = "kept" } end)
      assert.are.equal(1, BkArchived:count())
      do
        local tx <close> = orm.transaction("other")
        BkArchived:create{ name = "rolled back" }
      end
      assert.are.equal(1, BkArchived:count())
    end)

    it("orm.close_connections() closes them; they reopen on the next query", function()
      BkLive:create{ name = "x" }
      BkArchived:create{ name = "y" }
      orm.close_connections()
      assert.are.equal(1, BkLive:count())
      assert.are.equal(1, BkArchived:count())
    end)

    it("orm.init again closes the old connections and opens the new ones", function()
      BkLive:create{ name = "x" }
      local c_path = tmpdb()
      init_two("sqlite://" .. c_path, "sqlite://" .. b_path)
      orm.generate_schemas()
      assert.are.equal(0, BkLive:count())
    end)
  end)

  describe("routers", function()
    -- a router method may be called as router:db_for_read(model) or
    -- router.db_for_read(model): accept both
    local function model_arg(a, b)
      if b ~= nil then return b end
      return a
    end

    local reads, writes
    local function start(router)
      local a_path, b_path = tmpdb(), tmpdb()
      orm.init{
        connections = { default = "sqlite://" .. a_path, replica = "sqlite://" .. b_path },
        apps = { models = { models = {}, default_connection = "default" } },
        routers = { router },
      }
      orm.generate_schemas()
      orm.connection("replica"):execute_script(orm.utils.get_schema_sql{ model = BkLive, safe = true })
      orm.connection("replica"):execute_script("INSERT INTO bk_live (name) VALUES ('on-replica')")
    end

    before_each(function() reads, writes = 0, 0 end)

    it("db_for_read sends reads to a replica, writes stay on the app's connection", function()
      start{
        db_for_read = function(a, b)
          local m = model_arg(a, b)
          reads = reads + 1
          if m == BkLive then return "replica" end
          return nil
        end,
        db_for_write = function(a, b) writes = writes + 1 return nil end,
      }
      BkLive:create{ name = "written" }
      assert.is_true(writes > 0)
      assert.are.same({ "on-replica" }, BkLive:all():values_list("name", { flat = true }):list())
      assert.are.equal(1, BkLive:count())
      assert.are.equal("on-replica", BkLive:first().name)
      assert.is_true(reads > 0)
      -- the write went to default
      local rows = orm.connection("default"):execute_query("SELECT name FROM bk_live")
      assert.are.equal(1, #rows)
      assert.are.equal("written", rows[1].name)
      -- update and delete are writes: they run on default
      assert.are.equal(0, BkLive:filter{ name = "on-replica" }:update{ name = "x" })
      assert.are.equal(1, BkLive:filter{ name = "written" }:update{ name = "w2" })
      -- using_db wins over the router
      assert.are.same({ "w2" }, BkLive:all():using_db("default"):values_list("name", { flat = true }):list())
    end)

    it("db_for_write sends writes elsewhere", function()
      start{
        db_for_read = function() return nil end,
        db_for_write = function(a, b)
          if model_arg(a, b) == BkLive then return "replica" end
          return nil
        end,
      }
      BkLive:create{ name = "written" }
      assert.are.equal(0, BkLive:count()) -- reads: default, still empty
      assert.are.equal(2, #orm.connection("replica"):execute_query("SELECT name FROM bk_live"))
      assert.are.equal(1, BkLive:filter{ name = "on-replica" }:delete())
      assert.are.equal(1, #orm.connection("replica"):execute_query("SELECT name FROM bk_live"))
    end)

    it("a router returning nil leaves the app's connection", function()
      start{ db_for_read = function() return nil end, db_for_write = function() return nil end }
      BkLive:create{ name = "a" }
      assert.are.same({ "a" }, BkLive:all():values_list("name", { flat = true }):list())
    end)
  end)

  describe("transactions", function()
    before_each(function()
      if SERVER then
        orm.init{ db_url = TEST_URL }
        drop_ours("default")
      else
        orm.init{ db_url = "sqlite://" .. tmpdb() }
      end
      orm.generate_schemas()
    end)

    local function names()
      return BkLive:all():order_by("name"):values_list("name", { flat = true }):list()
    end

    it("in_transaction commits on return and returns the function's results", function()
      local a, b = orm.in_transaction(function(conn)
        assert.is_not_nil(conn)
        BkLive:create{ name = "a" }
        return 1, 2
      end)
      assert.are.same({ 1, 2 }, { a, b })
      assert.are.same({ "a" }, names())
    end)

    it("in_transaction rolls back and re-raises on error", function()
      local ok, err = pcall(orm.in_transaction, function()
        BkLive:create{ name = "a" }
        error("boom")
      end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("boom", 1, true))
      assert.are.same({}, names())
      -- an ORM error keeps its class
      BkLive:create{ name = "dup" }
      local err2 = catch(function()
        orm.in_transaction(function()
          BkLive:create{ name = "b" }
          BkLive:create{ name = "dup" }
        end)
      end)
      assert.is_true(E.IntegrityError:is(err2))
      assert.are.same({ "dup" }, names())
    end)

    it("transaction() with <close>: commit, or rollback when the block exits without it", function()
      do
        local tx <close> = orm.transaction()
        BkLive:create{ name = "a" }
        tx:commit()
      end
      do
        local tx <close> = orm.transaction()
        BkLive:create{ name = "b" }
      end
      assert.are.same({ "a" }, names())
      local ok = pcall(function()
        local tx <close> = orm.transaction()
        BkLive:create{ name = "c" }
        error("boom")
      end)
      assert.is_false(ok)
      assert.are.same({ "a" }, names())
      do
        local tx <close> = orm.transaction()
        BkLive:create{ name = "d" }
        tx:rollback()
      end
      assert.are.same({ "a" }, names())
    end)

    it("finishing a transaction twice is a TransactionManagementError", function()
      local tx = orm.transaction()
      tx:commit()
      assert.is_true(E.TransactionManagementError:is(catch(function() tx:commit() end)))
      assert.is_true(E.TransactionManagementError:is(catch(function() tx:rollback() end)))
    end)

    it("nested in_transaction uses a savepoint", function()
      orm.in_transaction(function()
        BkLive:create{ name = "outer" }
        local ok = pcall(orm.in_transaction, function()
          BkLive:create{ name = "inner" }
          error("boom")
        end)
        assert.is_false(ok)
        orm.in_transaction(function() BkLive:create{ name = "inner2" } end)
        BkLive:create{ name = "after" }
      end)
      assert.are.same({ "after", "inner2", "outer" }, names())
    end)

    it("a database error in a savepoint does not spoil the outer transaction", function()
      BkLive:create{ name = "dup" }
      orm.in_transaction(function()
        BkLive:create{ name = "a" }
        local err = catch(function()
          orm.in_transaction(function() BkLive:create{ name = "dup" } end)
        end)
        assert.is_true(E.IntegrityError:is(err))
        BkLive:create{ name = "b" }
      end)
      assert.are.same({ "a", "b", "dup" }, names())
    end)

    it("nested transaction() objects", function()
      do
        local outer <close> = orm.transaction()
        BkLive:create{ name = "a" }
        do
          local inner <close> = orm.transaction()
          BkLive:create{ name = "b" }
        end -- no commit: back to the savepoint
        do
          local inner <close> = orm.transaction()
          BkLive:create{ name = "c" }
          inner:commit()
        end
        outer:commit()
      end
      assert.are.same({ "a", "c" }, names())
      do
        local outer <close> = orm.transaction()
        BkLive:create{ name = "d" }
        do
          local inner <close> = orm.transaction()
          BkLive:create{ name = "e" }
          inner:commit()
        end
      end -- the outer rollback takes the committed savepoint with it
      assert.are.same({ "a", "c" }, names())
    end)

    it("a queryset built outside a transaction runs inside it", function()
      local qs = BkLive:filter{ name = "t" }
      local seen
      local ok = pcall(orm.in_transaction, function()
        BkLive:create{ name = "t" }
        seen = qs:count()
        error("undo")
      end)
      assert.is_false(ok)
      assert.are.equal(1, seen)
      assert.are.equal(0, BkLive:filter{ name = "t" }:count())
    end)
  end)

  describe("against the test server", function()
    local function parse(url)
      local scheme, user, pw, host, port, db = url:match("^([%w]+)://([^:@/]*):([^@/]*)@([^:/]+):(%d+)/([^?]+)")
      return { scheme = scheme, user = user, password = pw, host = host, port = tonumber(port), database = db }
    end

    local function roundtrip()
      drop_ours("default")
      orm.generate_schemas()
      BkLive:create{ name = "x" }
      assert.are.equal(1, BkLive:count())
    end

    it("Tortoise's scheme aliases reach the server", function()
      if not SERVER then return end
      local rest = TEST_URL:match("^[%w%+]+://(.*)$")
      local aliases = SERVER == "postgres" and { "postgres", "asyncpg", "psycopg" } or { "mysql", "asyncmy" }
      for _, s in ipairs(aliases) do
        orm.init{ db_url = s .. "://" .. rest }
        roundtrip()
      end
    end)

    it("the credentials table reaches the server", function()
      if not SERVER then return end
      local u = parse(TEST_URL)
      assert.is_not_nil(u.scheme, "cannot parse TESTUDO_TEST_DB_URL")
      local engine = SERVER == "postgres" and "tortoise.backends.asyncpg" or "tortoise.backends.mysql"
      orm.init{ connections = { default = { engine = engine, credentials = {
        host = u.host, port = u.port, user = u.user, password = u.password, database = u.database,
        minsize = 1, maxsize = 3,
      } } } }
      roundtrip()
    end)

    it("pool parameters in the URL", function()
      if not SERVER then return end
      local sep = TEST_URL:find("?", 1, true) and "&" or "?"
      orm.init{ db_url = TEST_URL .. sep .. "minsize=1&maxsize=2&connect_timeout=5" }
      roundtrip()
      for i = 1, 5 do BkLive:create{ name = "p" .. i } end
      assert.are.equal(6, BkLive:count())
    end)

    it("a wrong password is an OperationalError that does not show it", function()
      if not SERVER then return end
      local u = parse(TEST_URL)
      local bad = "Wr0ngPassw0rd"
      orm.init{ db_url = ("%s://%s:%s@%s:%d/%s"):format(u.scheme, u.user, bad, u.host, u.port, u.database) }
      local err = catch(function() return BkLive:count() end)
      assert.is_true(E.OperationalError:is(err), tostring(err))
      no_password(err, bad)
    end)

    it("the server and a SQLite file as two named connections", function()
      if not SERVER then return end
      init_two(TEST_URL, "sqlite://" .. tmpdb())
      drop_ours("default")
      orm.generate_schemas()
      BkLive:create{ name = "on-server" }
      BkArchived:create{ name = "in-file" }
      assert.are.same({ "on-server" }, BkLive:all():values_list("name", { flat = true }):list())
      assert.are.same({ "in-file" }, BkArchived:all():values_list("name", { flat = true }):list())
      assert.is_nil(table_set("default").bk_archived)
    end)
  end)
end)
