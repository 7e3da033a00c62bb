-- Acceptance spec: orm.migrations walks an app's models through a series
-- of changes -- a field added with a default, a field renamed (as
-- confirmed), a type changed, an index, a foreign key, a many-to-many,
-- a model dropped -- each step migrate + upgrade with the rows kept, then
-- downgrade back to the start with the rows of the surviving columns
-- intact; on SQLite, PostgreSQL and MariaDB (make test's matrix).
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local E = orm.exceptions
local sql = require "tests.lua.support.sql"
local check = require "tests.lua.support.check"
local catch, is = check.catch, check.is

local APP = "migspec"
local TABLES = { "mg_books_mg_tags", "mg_books", "mg_tags", "mg_notes", "mg_authors",
                 "mg_things", "mg_items" }

-- The app's models at step n (redeclared: the registry takes the new
-- definition).
local function models(n)
  local Author = Model:extend("MgAuthor", {
    id = fields.IntField{ primary_key = true },
    name = fields.CharField{ max_length = n >= 4 and 120 or 50 },
    rating = n >= 2 and fields.IntField{ default = 0 } or nil,
    Meta = { app = APP, table = "mg_authors" },
  })
  if n >= 7 then
    Model:extend("MgTag", {
      id = fields.IntField{ primary_key = true },
      label = fields.CharField{ max_length = 30 },
      Meta = { app = APP, table = "mg_tags" },
    })
  end
  Model:extend("MgBook", {
    id = fields.IntField{ primary_key = true },
    [n >= 3 and "heading" or "title"] = fields.CharField{ max_length = 100, index = n >= 5 },
    author = fields.ForeignKeyField(APP .. ".MgAuthor", { related_name = "books" }),
    editor = n >= 6 and fields.ForeignKeyField(APP .. ".MgAuthor",
      { related_name = "edited", null = true }) or nil,
    tags = n >= 7 and fields.ManyToManyField(APP .. ".MgTag", { related_name = "books" }) or nil,
    Meta = { app = APP, table = "mg_books" },
  })
  Model:extend("MgNote", {
    id = fields.IntField{ primary_key = true },
    text = fields.CharField{ max_length = 20 },
    Meta = { app = APP, table = "mg_notes", abstract = n >= 8 },
  })
  return Author
end

local function one(q)
  return sql.query(q)[1]
end

local function titles(col)
  local out = {}
  for _, r in ipairs(sql.query(("SELECT %s AS t FROM mg_books ORDER BY id"):format(sql.quote(col)))) do
    out[#out + 1] = r.t
  end
  return table.concat(out, ",")
end

local function has_table(name)
  for _, t in ipairs(orm._tables("default")) do
    if t == name then return true end
  end
  return false
end

describe("migrations", function()
  local dir, M
  before_each(function()
    models(1)
    orm.testing.init{}
    orm._drop_tables(TABLES)
    orm._drop_tables{ "testudo_migrations" }
    dir = os.tmpname()
    os.remove(dir)
    M = orm.migrations
  end)
  after_each(function()
    os.execute("rm -rf '" .. dir .. "'")
    orm._drop_tables(TABLES)
    orm._drop_tables{ "testudo_migrations" }
    orm.testing.finish()
  end)

  it("walks a model through its changes and back, the rows kept", function()
    local o = { app = APP, location = dir }
    local path = M.init_db(o)
    assert.truthy(path:find("0000_init.lua", 1, true))
    assert.is_true(has_table("mg_authors") and has_table("mg_notes"))
    sql.query("INSERT INTO mg_authors (id, name) VALUES (1, 'Ann'), (2, 'Bob')")
    sql.query("INSERT INTO mg_books (id, title, author_id) VALUES (1, 'Dune', 1), (2, 'Emma', 2)")
    local _, why = M.migrate(o)
    assert.are.equal("no changes", why)

    local steps = {
      { 2, "rating" }, { 3, "heading", { { "mg_books", "mg_books", "title", "heading" } } },
      { 4, "wider" }, { 5, "index" }, { 6, "editor" }, { 7, "tags" }, { 8, "no_notes" },
    }
    for _, s in ipairs(steps) do
      models(s[1])
      local file = M.migrate{ app = APP, location = dir, name = s[2], renames = s[3] }
      assert.truthy(file, "step " .. s[2])
      assert.are.same({ ("%04d"):format(s[1] - 1) }, M.upgrade(o))
      assert.are.equal("Ann,Bob", (function()
        local t = {}
        for _, r in ipairs(sql.query("SELECT name FROM mg_authors ORDER BY id")) do t[#t + 1] = r.name end
        return table.concat(t, ",")
      end)())
      assert.are.equal("Dune,Emma", titles(s[1] >= 3 and "heading" or "title"))
    end
    assert.are.equal(0, tonumber(tostring(one("SELECT SUM(rating) AS s FROM mg_authors").s)))
    assert.is_false(has_table("mg_notes"))
    assert.is_true(has_table("mg_books_mg_tags"))
    -- the new columns and tables work through the ORM
    local Author = models(8)
    local a = Author:get{ id = 1 }
    a.name = string.rep("x", 100) -- wider than 50 now
    a:save()
    assert.are.equal(100, #Author:get{ id = 1 }.name)
    -- going back to 50 characters would cut it: refused, nothing lost
    if sql.dialect() ~= "sqlite" then -- (SQLite does not hold VARCHAR to its length)
      local e = catch(function() return M.downgrade{ app = APP, location = dir, version = "0000" } end)
      is(E.BaseORMException, e)
      assert.truthy(tostring(e):find("migration 0003 wider: step 1 of 1 failed", 1, true), tostring(e))
      assert.are.equal(100, #Author:get{ id = 1 }.name)
      -- 0007 to 0004 reverted and forgotten, 0003 (the widening) still recorded
      assert.are.equal(4, #M.heads(o))
      assert.are.equal(4, #M.upgrade(o))
    end
    a.name = "Ann"
    a:save()
    -- the model unchanged: nothing to migrate
    local _, again = M.migrate(o)
    assert.are.equal("no changes", again)
    assert.are.equal(8, #M.history(o))
    assert.are.same({}, M.heads(o))

    -- back to the start, the rows of the columns that were there kept
    local undone = M.downgrade{ app = APP, location = dir, version = "0000" }
    assert.are.same({ "0007", "0006", "0005", "0004", "0003", "0002", "0001" }, undone)
    assert.are.equal("Dune,Emma", titles("title"))
    assert.is_true(has_table("mg_notes"))
    assert.is_false(has_table("mg_tags"))
    assert.are.equal(7, #M.heads(o))
    -- and up again
    models(8)
    assert.are.equal(7, #M.upgrade(o))
    assert.are.equal("Dune,Emma", titles("heading"))
  end)

  it("runs data steps (Lua functions) between the statements, in the migration's transaction", function()
    local o = { app = APP, location = dir }
    M.init_db(o)
    sql.query("INSERT INTO mg_authors (id, name) VALUES (1, 'Ann'), (2, 'Bob')")
    sql.query("INSERT INTO mg_books (id, title, author_id) VALUES (1, 'Dune', 1)")
    -- a file edited by hand: a data step after the new column is made
    local function add_step(path, step)
      local fh = io.open(path)
      local text = fh:read("a")
      fh:close()
      text = text:gsub("\n  },\n  downgrade", "\n    " .. step .. ",\n  },\n  downgrade", 1)
      fh = io.open(path, "w")
      fh:write(text)
      fh:close()
    end
    models(2)
    add_step(M.migrate{ app = APP, location = dir, name = "rating" },
      [[function(orm) orm.connection():execute_script("UPDATE mg_authors SET rating = 5") end]])
    assert.are.same({ "0001" }, M.upgrade(o))
    assert.are.equal(10, tonumber(tostring(one("SELECT SUM(rating) AS s FROM mg_authors").s)))
    -- a data step that fails: the error as it was, the migration not recorded
    models(3)
    add_step(M.migrate{ app = APP, location = dir, name = "heading",
                        renames = { { "mg_books", "mg_books", "title", "heading" } } },
      [[function() error("refused by the data step", 0) end]])
    local e = catch(function() return M.upgrade(o) end)
    assert.are.equal("refused by the data step", e)
    assert.are.equal(1, #M.heads(o))
    if sql.dialect() ~= "mysql" then -- (MariaDB commits each schema change)
      assert.are.equal("Dune", titles("title")) -- the rename rolled back
    end
  end)

  it("renames a table as confirmed; null, default and unique_together changes", function()
    local function thing(n)
      return Model:extend("MgThing", {
        id = fields.IntField{ primary_key = true },
        code = fields.CharField{ max_length = 10, unique = n == 2 },
        qty = fields.IntField{ default = n >= 3 and 2 or 1 },
        note = fields.TextField{ null = n < 3, default = n >= 3 and "" or nil },
        Meta = { app = APP, table = n >= 2 and "mg_items" or "mg_things",
                 unique_together = n >= 3 and { { "code", "qty" } } or nil },
      })
    end
    local o = { app = APP, location = dir }
    thing(1)
    M.init_db(o)
    sql.query("INSERT INTO mg_things (id, code, qty, note) VALUES (1, 'a', 1, 'x'), (2, 'b', 1, 'y')")
    thing(2)
    assert.are.same({ { "mg_things", "mg_items" } }, M.rename_candidates(o))
    M.migrate{ app = APP, location = dir, name = "items", renames = { { "mg_things", "mg_items" } } }
    M.upgrade(o)
    assert.is_false(has_table("mg_things"))
    assert.are.equal("a,b", (function()
      local t = {}
      for _, r in ipairs(sql.query("SELECT code FROM mg_items ORDER BY id")) do t[#t + 1] = r.code end
      return table.concat(t, ",")
    end)())
    is(E.IntegrityError, catch(function()
      return sql.query("INSERT INTO mg_items (id, code, qty, note) VALUES (3, 'a', 1, 'z')")
    end))
    local Thing = thing(3)
    M.migrate{ app = APP, location = dir, name = "stricter" }
    M.upgrade(o)
    local t = Thing:create{ id = 3, code = "c" }
    assert.are.equal(2, Thing:get{ id = 3 }.qty) -- the new default
    is(E.IntegrityError, catch(function()
      return sql.query("INSERT INTO mg_items (id, code, qty, note) VALUES (4, 'd', 2, NULL)")
    end)) -- note is NOT NULL now
    sql.query("INSERT INTO mg_items (id, code) VALUES (5, 'e')") -- the defaults, in the database
    assert.are.equal(2, one("SELECT qty FROM mg_items WHERE id = 5").qty)
    assert.are.equal("", one("SELECT note FROM mg_items WHERE id = 5").note)
    is(E.IntegrityError, catch(function() -- unique_together (code, qty)
      return sql.query("INSERT INTO mg_items (id, code, qty, note) VALUES (6, 'e', 2, '')")
    end))
    -- code alone is no longer unique
    sql.query("INSERT INTO mg_items (id, code, qty, note) VALUES (6, 'e', 3, '')")
    _ = t
    -- (going back makes code unique again: the second 'e' would stop it)
    sql.query("DELETE FROM mg_items WHERE id = 6")
    -- all the way back: the table under its old name, its rows there
    M.downgrade{ app = APP, location = dir, version = "0000" }
    assert.is_true(has_table("mg_things"))
    assert.are.equal(4, #sql.query("SELECT id FROM mg_things")) -- rows 1, 2, 3 and 5
  end)

  it("refuses two migrations that follow the same one (multiple heads)", function()
    local o = { app = APP, location = dir }
    M.init_db(o)
    models(2)
    local first = M.migrate{ app = APP, location = dir, name = "a" }
    -- a second branch's migration with the same parent
    local text = io.open(first):read("a"):gsub('version = "0001"', 'version = "0002"')
    local fh = io.open(dir .. "/0002_b.lua", "w")
    fh:write(text)
    fh:close()
    local e = catch(function() return M.upgrade(o) end)
    is(E.ConfigurationError, e)
    assert.truthy(tostring(e):find("multiple heads", 1, true))
    assert.are.equal(0, #sql.query("SELECT * FROM testudo_migrations WHERE version <> '0000'"))
  end)

  it("upgrade --fake records without running; downgrade deletes files on request", function()
    local o = { app = APP, location = dir }
    M.init_db(o)
    models(2)
    local file = M.migrate{ app = APP, location = dir, name = "rating" }
    assert.are.same({ "0001" }, M.upgrade{ app = APP, location = dir, fake = true })
    assert.is_nil(sql.query("SELECT * FROM mg_authors")[1]) -- still no rating column? (no rows)
    local cols = {}
    local ok = pcall(sql.query, "SELECT rating FROM mg_authors")
    assert.is_false(ok) -- the column was not made
    M.downgrade{ app = APP, location = dir, fake = true, delete = true }
    assert.is_nil(io.open(file))
    assert.are.same({}, M.heads(o))
    _ = cols
  end)
end)
