-- workload.lua -- the benchmark's work through testudo's Lua API, as users
-- write it: the operations of Tortoise's orm-benchmarks on a model of ten
-- fields of mixed types, plus values_list, a two-level prefetch and
-- streaming iteration.  bench.c times each test's run (after its prep,
-- untimed) beside its raw-driver twin of the same name (raw_sqlite.c),
-- which does the same SQL work.  Returns { open = fn(url), close = fn(),
-- tests = { { name =, run = fn(n), prep = fn(n) or nil }, ... } }.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model
local fmt = string.format

local Group = Model:extend("BenchGroup", {
  id = f.IntField{ primary_key = true },
  name = f.CharField{ max_length = 40 },
  Meta = { table = "bench_group" },
})
local Row = Model:extend("BenchRow", {
  name = f.CharField{ max_length = 32 },
  email = f.CharField{ max_length = 48 },
  age = f.IntField{},
  score = f.FloatField{},
  balance = f.DecimalField{ max_digits = 12, decimal_places = 2 },
  created = f.DatetimeField{},
  active = f.BooleanField{},
  bio = f.TextField{ null = true },
  group = f.ForeignKeyField{ "models.BenchGroup", related_name = "rows" },
  Meta = { table = "bench_row" },
})
Model:extend("BenchNote", {
  row = f.ForeignKeyField{ "models.BenchRow", related_name = "notes" },
  body = f.CharField{ max_length = 40 },
  Meta = { table = "bench_note" },
})

local W = { sink = 0 }

-- The values of row i, as bench_row_values() in bench.c makes them.
local function values_of(i)
  local s = i % 60
  return {
    name = fmt("name %d", i),
    email = fmt("user%d@example.com", i),
    age = 18 + i % 60,
    score = i * 0.5,
    balance = fmt("%d.%02d", i, (i % 4) * 25),
    created = fmt("2024-01-%02d %02d:%02d:%02d", 1 + i // 86400 % 28,
      i // 3600 % 24, i // 60 % 60, s),
    active = i % 2 == 0,
    bio = i % 3 ~= 0 and fmt("bio of row %d", i) or nil,
    group_id = 1 + i % 100,
  }
end
W.values_of = values_of

-- SQL joining two text expressions on the database being benchmarked.
function W.concat(a, b)
  if W.url:match("^mysql") then return "CONCAT(" .. a .. ", " .. b .. ")" end
  return a .. " || " .. b
end

function W.open(url)
  W.url = url
  orm.init{ db_url = url }
  local c = orm.connection()
  c:execute_script("DROP TABLE IF EXISTS bench_note; DROP TABLE IF EXISTS bench_row; "
    .. "DROP TABLE IF EXISTS bench_group")
  orm.generate_schemas()
  local groups = {}
  for i = 1, 100 do groups[i] = Group{ id = i, name = "group " .. i } end
  Group:bulk_create(groups)
end

function W.close()
  orm.close_connections()
end

local kept -- instances fetched by a prep, for the test after it
local data -- the rows' values, made by a prep (the raw side's are made ahead too)

-- A prep: the values of rows 1..n as tables, so that the timed work is
-- the ORM's, not string.format's (making them takes about 2 us a row).
local function make_data(n)
  data = {}
  for i = 1, n do data[i] = values_of(i) end
end

local tests = {
  { name = "insert_each", prep = make_data, run = function(n)
    orm.in_transaction(function()
      for i = 1, n do Row:create(data[i]) end
    end)
    data = nil
  end },
  { name = "fetch_all", run = function()
    W.sink = W.sink + #Row:all():list()
  end },
  { name = "filter_limit", run = function(n)
    for k = 0, n - 1, 20 do
      W.sink = W.sink + #Row:filter{ id__gt = k }:order_by("id"):limit(20):list()
    end
  end },
  { name = "get_pk", run = function(n)
    for k = 1, n do W.sink = W.sink + Row:get{ id = k }.age end
  end },
  { name = "values", run = function()
    W.sink = W.sink + #Row:all():values():list()
  end },
  { name = "values_list", run = function()
    W.sink = W.sink + #Row:all():values_list("id", "name", "age"):list()
  end },
  { name = "iter", run = function()
    for r in Row:all():iter() do W.sink = W.sink + r.age end
  end },
  { name = "prefetch",
    prep = function()
      orm.connection():execute_script("INSERT INTO bench_note (row_id, body) "
        .. "SELECT id, " .. W.concat("'note '", "id") .. " FROM bench_row")
    end,
    run = function()
      for _, g in ipairs(Group:all():prefetch_related("rows__notes"):list()) do
        W.sink = W.sink + #g.rows:list()
      end
    end },
  { name = "update_each",
    prep = function() kept = Row:all():order_by("id"):list() end,
    run = function()
      orm.in_transaction(function()
        for _, r in ipairs(kept) do
          r.age = r.age + 1
          r:save()
        end
      end)
    end },
  { name = "update_qs", run = function()
    Row:filter{ active = true }:update{ score = orm.F("score") + 1 }
  end },
  { name = "delete_each",
    prep = function()
      orm.connection():execute_script("DELETE FROM bench_note")
      kept = Row:all():order_by("id"):list()
    end,
    run = function()
      orm.in_transaction(function()
        for _, r in ipairs(kept) do r:delete() end
      end)
      kept = nil
    end },
  { name = "bulk_create", prep = make_data, run = function(n)
    local list = {}
    for i = 1, n do list[i] = Row(data[i]) end
    Row:bulk_create(list)
    data = nil
  end },
  { name = "delete_qs", run = function()
    Row:all():delete()
  end },
}
W.tests = tests
W.Row = Row

return W
