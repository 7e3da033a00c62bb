-- Timeouts and URL parameters spec: ?statement_timeout= (milliseconds)
-- stops a long statement on every backend (SQLite: a progress handler;
-- PostgreSQL: statement_timeout; MariaDB: max_statement_time), the
-- connection stays usable, and a URL parameter nobody knows is refused
-- instead of being ignored.
local orm = require "testudo"
local E = orm.exceptions

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local DIALECT = TEST_URL:match("^postgres") and "postgres"
  or TEST_URL:match("^mysql") and "mysql" or "sqlite"

local function with_params(url, params)
  return url .. (url:find("?", 1, true) and "&" or "?") .. params
end

-- A statement that runs for many seconds on each backend.
local LONG = {
  sqlite = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
    .. "SELECT COUNT(*) AS n FROM r",
  postgres = "SELECT pg_sleep(30) AS n",
  mysql = "SELECT SUM(a.seq * b.seq) AS n FROM seq_1_to_100000 a, "
    .. "seq_1_to_100000 b",
}

describe("timeouts", function()
  after_each(function() orm.testing.finish() end)

  it("stop a statement at statement_timeout, and the connection goes on", function()
    orm.init{ db_url = with_params(TEST_URL, "statement_timeout=300") }
    local conn = orm.connection()
    local t0 = os.time()
    local ok, err = pcall(conn.execute_query, conn, LONG[DIALECT])
    assert.is_false(ok)
    assert.is_true(E.OperationalError:is(err), tostring(err))
    assert.is_truthy(tostring(err):lower():find("time", 1, true), tostring(err))
    assert.is_true(os.time() - t0 < 10)
    assert.are.equal(1, conn:execute_query("SELECT 1 AS one")[1].one)
  end)

  it("refuse a statement_timeout that is not a number", function()
    local ok, err = pcall(orm.init, { db_url = with_params(TEST_URL, "statement_timeout=soon") })
    assert.is_false(ok)
    assert.is_true(E.ConfigurationError:is(err), tostring(err))
    assert.is_truthy(err.message:find("statement_timeout", 1, true), err.message)
  end)
end)

describe("URL parameters", function()
  after_each(function() orm.testing.finish() end)

  it("refuse a parameter nobody knows, naming it", function()
    for _, p in ipairs{ "statment_timeout=5", "foo=bar", "journal=wal" } do
      local ok, err = pcall(orm.init, { db_url = with_params(TEST_URL, p) })
      assert.is_false(ok, p)
      assert.is_true(E.ConfigurationError:is(err), tostring(err))
      local key = p:match("^([^=]+)")
      assert.is_truthy(err.message:find("unknown " .. DIALECT .. " URL parameter '"
        .. key .. "'", 1, true), err.message)
    end
  end)

  it("take the parameters each backend knows", function()
    local known = {
      sqlite = { "sqlite://:memory:?journal_mode=memory&busy_timeout=100&foreign_keys=on&synchronous=off" },
      postgres = { "postgres://u:pw@db.invalid/app?sslmode=disable&application_name=x&keepalives=1&options=-c%20work_mem%3D4MB&ssl=false" },
      mysql = { "mysql://u:pw@db.invalid/app?charset=utf8mb4&read_timeout=5&write_timeout=5&ssl=false" },
    }
    for _, urls in pairs(known) do
      for _, url in ipairs(urls) do
        orm.init{ db_url = with_params(url, "minsize=1&maxsize=2&connect_timeout=3&statement_timeout=1000") }
      end
    end
  end)
end)
