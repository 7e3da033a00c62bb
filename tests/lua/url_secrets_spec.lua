-- URL secrets spec: passwords never leave through the URL parser's
-- errors or the masker, whatever they hold.  (Of 3,000 random printable
-- passwords, 657 came out of the old masker unmasked, and one holding an
-- unencoded '/' showed in "invalid port 'Hunter2Xyz'".)
local orm = require "testudo"
local E = orm.exceptions

-- A deterministic generator (the same passwords on every run).
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local function password()
  local t = {}
  for i = 1, 1 + rand(24) do t[i] = string.char(32 + rand(95)) end
  return table.concat(t)
end

describe("URL secrets", function()
  after_each(function() orm.testing.finish() end)

  it("mask every random printable password exactly", function()
    local leaks = {}
    for _ = 1, 3000 do
      local pw = password()
      for _, scheme in ipairs{ "postgres", "mysql" } do
        local url = scheme .. "://user:" .. pw .. "@db.invalid:5432/shop"
        local masked = orm._mask_url(url)
        if masked ~= scheme .. "://user:***@db.invalid:5432/shop" then
          leaks[#leaks + 1] = ("%q -> %q"):format(url, tostring(masked))
        end
      end
    end
    assert.are.same({}, leaks)
  end)

  it("parse passwords holding / ? # @ : unencoded", function()
    for _, pw in ipairs{ "Hunter2/Xyz", "a?b", "x#y", "p@ss", "c:o:l",
                         "/?#@:", "end@" } do
      orm.init{ db_url = "postgres://user:" .. pw .. "@db.invalid:5432/shop?sslmode=disable" }
      assert.are.equal("postgres://user:***@db.invalid:5432/shop?sslmode=disable",
        orm.connection():url())
    end
  end)

  it("never quote a password in a URL error", function()
    for _, url in ipairs{
      "postgres://user:Hunter2Xyz/shop",          -- no '@': not a port
      "postgres://user:Hunter2Xyz@db.invalid:99999/shop",
      "mysql://user:Hunter2Xyz@[::1/shop",
      "postgres://user:Hunter2Xyz@db.invalid/shop?minsize=9&maxsize=1",
      "postgres://user:Hunter2Xyz@db.invalid",
    } do
      local ok, err = pcall(orm.init, { db_url = url })
      assert.is_false(ok, url)
      assert.is_true(E.ConfigurationError:is(err), tostring(err))
      assert.is_nil(tostring(err):find("Hunter2Xyz", 1, true), tostring(err))
    end
  end)

  it("mask password parameters and URLs that do not parse", function()
    assert.are.equal("postgres://db.invalid/shop?user=u&password=***&x=1",
      orm._mask_url("postgres://db.invalid/shop?user=u&password=s3cret&x=1"))
    assert.are.equal("postgres://user:***@db.invalid:abc/shop",
      orm._mask_url("postgres://user:s3cret@db.invalid:abc/shop"))
    assert.are.equal("nosuch://user:***@host/db",
      orm._mask_url("nosuch://user:s3cret@host/db"))
    -- (found by fuzz_url: a scheme that starts like sqlite was taken for
    -- one, and its password shown)
    assert.are.equal("sqlitex://user:***@host/db",
      orm._mask_url("sqlitex://user:s3cret@host/db"))
  end)
end)
