-- Acceptance spec: transactions as Tortoise's tests/test_transactions.py
-- pins them down, in our own words -- nested ones are savepoints, a
-- failure rolls back exactly its own level, an explicit commit or
-- rollback inside in_transaction ends it (the end then does nothing),
-- and a second commit or rollback is a TransactionManagementError.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local TxTeam = Model:extend("TxTeam", {
  id = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 30, unique = true },
  Meta = { table = "tx_teams" },
})

local function names()
  local t = TxTeam:all():order_by("id"):values_list("name", { flat = true }):list()
  return table.concat(t, ",")
end

local function boom(msg)
  error(E.OperationalError(msg), 0)
end

describe("transactions", function()
  before_each(function() orm.testing.init{ models = { TxTeam } } end)
  after_each(function() orm.testing.finish() end)

  it("an error rolls back everything the block did and is raised again", function()
    local e = catch(orm.in_transaction, function()
      local t = TxTeam:create{ name = "a" }
      TxTeam:filter{ id = t.id }:update{ name = "renamed" }
      assert.are.equal(1, TxTeam:filter{ name = "renamed" }:count())
      boom("some error")
    end)
    assert.truthy(tostring(e):find("some error", 1, true))
    assert.are.equal("", names())
    assert.is_false(orm.connection():in_transaction())
  end)

  it("consecutive nested blocks all commit with the outer one", function()
    orm.in_transaction(function()
      TxTeam:create{ name = "test" }
      orm.in_transaction(function() TxTeam:create{ name = "nested 1" } end)
      TxTeam:create{ name = "test 2" }
      orm.in_transaction(function() TxTeam:create{ name = "nested 2" } end)
    end)
    assert.are.equal("test,nested 1,test 2,nested 2", names())
  end)

  it("a failing nested block rolls back to its savepoint only", function()
    orm.in_transaction(function()
      TxTeam:create{ name = "outer 1" }
      catch(orm.in_transaction, function()
        TxTeam:create{ name = "inner 1" }
        boom("inner 1")
      end)
      TxTeam:create{ name = "outer 2" }
      orm.in_transaction(function() TxTeam:create{ name = "inner 2" } end)
      catch(orm.in_transaction, function()
        TxTeam:create{ name = "inner 3" }
        boom("inner 3")
      end)
      TxTeam:create{ name = "outer 3" }
    end)
    assert.are.equal("outer 1,outer 2,inner 2,outer 3", names())
  end)

  it("a failing statement inside two nested blocks leaves the data as before the outer one", function()
    TxTeam:create{ name = "before" }
    local e = catch(orm.in_transaction, function()
      TxTeam:create{ name = "outer" }
      orm.in_transaction(function()
        TxTeam:create{ name = "inner" }
        TxTeam:create{ name = "before" } -- UNIQUE: the database refuses
      end)
    end)
    is(E.IntegrityError, e)
    assert.are.equal("before", names())
    assert.is_false(orm.connection():in_transaction())
  end)

  it("a failing statement caught around its nested block lets the outer one go on", function()
    orm.in_transaction(function()
      TxTeam:create{ name = "outer" }
      is(E.IntegrityError, catch(orm.in_transaction, function()
        TxTeam:create{ name = "inner" }
        TxTeam:create{ name = "outer" }
      end))
      TxTeam:create{ name = "after" } -- the savepoint restored the transaction
    end)
    assert.are.equal("outer,after", names())
  end)

  it("a committed nested block is undone by its outer one failing", function()
    catch(orm.in_transaction, function()
      local t = TxTeam:create{ name = "test" }
      orm.in_transaction(function()
        t.name = "nested"
        t:save()
      end)
      boom("outer")
    end)
    assert.are.equal(0, TxTeam:all():count())
    catch(orm.in_transaction, function()
      TxTeam:create{ name = "t1" }
      catch(orm.in_transaction, function()
        TxTeam:create{ name = "t2" }
        boom("error 1")
      end)
      TxTeam:create{ name = "t3" }
      boom("error 2")
    end)
    assert.are.equal(0, TxTeam:all():count())
  end)

  it("three levels commit together", function()
    orm.in_transaction(function()
      TxTeam:create{ name = "a" }
      orm.in_transaction(function()
        TxTeam:create{ name = "b" }
        orm.in_transaction(function() TxTeam:create{ name = "c" } end)
      end)
    end)
    assert.are.equal("a,b,c", names())
  end)

  it("an explicit rollback inside in_transaction is honoured; the end commits nothing", function()
    local r = orm.in_transaction(function(tx)
      TxTeam:create{ name = "gone" }
      TxTeam:get_or_create{ name = "also gone", using_db = tx }
      tx:rollback()
      return "returned"
    end)
    assert.are.equal("returned", r)
    assert.are.equal("", names())
    assert.is_false(orm.connection():in_transaction())
    -- a nested one rolls back its savepoint only
    orm.in_transaction(function()
      TxTeam:create{ name = "kept" }
      orm.in_transaction(function(tx)
        TxTeam:create{ name = "dropped" }
        tx:rollback()
      end)
    end)
    assert.are.equal("kept", names())
  end)

  it("an explicit commit inside in_transaction ends it", function()
    orm.in_transaction(function(tx)
      TxTeam:create{ name = "x" }
      tx:commit()
      assert.is_false(orm.connection():in_transaction())
    end)
    assert.are.equal("x", names())
  end)

  it("a second commit or rollback is a TransactionManagementError", function()
    is(E.TransactionManagementError, catch(orm.in_transaction, function(tx)
      tx:rollback()
      tx:rollback()
    end))
    is(E.TransactionManagementError, catch(orm.in_transaction, function(tx)
      tx:commit()
      tx:commit()
    end))
    local tx = orm.transaction()
    tx:commit()
    is(E.TransactionManagementError, catch(function() tx:rollback() end))
    assert.is_false(orm.connection():in_transaction())
  end)

  it("the object passed is the connection too", function()
    orm.in_transaction(function(tx)
      assert.are.equal(orm.connection():dialect(), tx:dialect())
      tx:execute_query("INSERT INTO tx_teams (id, name) VALUES (7, 'raw')", {})
      assert.are.equal(1, #tx:execute_query("SELECT id FROM tx_teams", {}))
    end)
    assert.are.equal("raw", names())
  end)

  describe("using_db", function()
    local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
    local file
    before_each(function()
      orm.testing.finish()
      local url = TEST_URL
      if url:match("^sqlite") then -- two connections to one database
        file = os.tmpname()
        url = "sqlite://" .. file
      end
      orm.init{ connections = { default = url, other = url },
        apps = { models = { models = { TxTeam } } } }
      orm.connection():execute_script("DROP TABLE IF EXISTS tx_teams")
      orm.generate_schemas()
    end)
    after_each(function()
      orm.connection():execute_script("DROP TABLE IF EXISTS tx_teams")
      orm.close_connections()
      if file then os.remove(file) end
    end)

    it("create, get_or_create, update_or_create and save write through the transaction given", function()
      orm.in_transaction("other", function(tx)
        TxTeam:create{ id = 1, name = "a", using_db = tx }
        local b, created = TxTeam:get_or_create{ name = "b", defaults = { id = 2 }, using_db = tx }
        assert.is_true(created)
        TxTeam:update_or_create{ name = "a", defaults = { id = 1 }, using_db = tx }
        b.name = "B"
        b:save{ using_db = tx }
        assert.are.equal(2, TxTeam:all():using_db(tx):count())
        tx:rollback()
      end)
      -- had any of them gone through the default connection, it would
      -- have been committed there
      assert.are.equal(0, TxTeam:all():count())
      TxTeam:create{ id = 3, name = "c", using_db = "other" }
      assert.are.equal(1, TxTeam:all():count())
    end)
  end)
end)
