-- explain() spec (issue 13): the database's plan for a queryset's SELECT
-- (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's and MySQL's EXPLAIN), as a
-- rows object like execute_query's, with the queryset's parameters bound.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"

local Thing = Model:extend("ExThing", {
  name = f.CharField{ max_length = 40, index = true },
  n = f.IntField{},
  Meta = { table = "ex_things" },
})

describe("explain()", function()
  setup(function()
    orm.init{ db_url = TEST_URL, apps = { models = { models = { Thing } } } }
    orm._drop_tables{ "ex_things" }
    orm.generate_schemas()
    Thing:create{ name = "a", n = 1 }
  end)
  teardown(function() orm.close_connections() end)

  it("gives the plan as rows with columns", function()
    local plan = Thing:filter{ name = "a", n__gt = 0 }:order_by("n"):explain()
    assert.is_true(#plan >= 1)
    assert.is_true(#plan.columns >= 1)
    local text = {}
    for _, r in ipairs(plan) do
      for j = 1, #plan.columns do text[#text + 1] = tostring(r[j]) end
    end
    text = table.concat(text, " ")
    -- every database names the table it reads
    assert.matches("ex_things", text)
  end)

  it("does not run the query or change the queryset", function()
    local qs = Thing:filter{ name = "a" }
    qs:explain()
    assert.equal(1, #qs:list())
    assert.equal(1, Thing:all():count())
  end)
end)
