-- Acceptance spec (issue 2, "Done when"): every lookup, Q and F operation,
-- and the CRUD methods give the results that the same operation written
-- in raw SQL gives, through orm.connection("default"):execute_query(), on
-- the same data.  The raw SQL is written the way a user would write it
-- for SQLite (booleans as TRUE/FALSE, which all three databases accept),
-- and run on every backend through tests/lua/support/sql.lua, which
-- turns quoting, placeholders and the few SQLite function names into the
-- connection's dialect; where Tortoise's meaning differs from a naive SQL
-- reading (not / not_in also match NULL; contains is a substring test, so
-- LIKE metacharacters in the value are literal) the SQL spells that out.
local orm = require "testudo"
local fields, Model = orm.fields, orm.Model
local Q, F, D = orm.Q, orm.F, orm.Decimal

local ArItem = Model:extend("ArItem", {
  id      = fields.IntField{ primary_key = true },
  name    = fields.CharField{ max_length = 100, null = true },
  n       = fields.IntField{ null = true },
  m       = fields.IntField{ default = 0 },
  price   = fields.DecimalField{ max_digits = 10, decimal_places = 2, null = true },
  active  = fields.BooleanField{ default = true },
  created = fields.DatetimeField{ null = true },
  Meta = { table = "ar_items" },
})

local ROWS = {
  --  name            n    m  price     active created
  { "apple",         1,   2, "1.50",   true,  "2025-01-01 10:00:00" },
  { "Apple pie",     2,   2, "3.25",   true,  "2025-02-01 00:00:00" },
  { "banana",        3,   1, "0.99",   false, "2025-02-15 12:30:00" },
  { "100% juice",    4,   8, "2.00",   true,  "2025-03-01 00:00:00" },
  { "100 percent",   5,   5, "2.00",   false, nil },
  { "a_b",           nil, 3, "10.00",  true,  "2025-03-10 08:00:00" },
  { "axb",           7,   9, nil,      false, "2025-04-01 23:59:59" },
  { "back\\slash",   8,   4, "5.55",   true,  "2025-04-02 00:00:00" },
  { "backXslash",    nil, 0, "5.55",   true,  "2025-05-05 05:05:05" },
  { nil,             10,  10, "1.00",  false, "2025-06-06 06:06:06" },
  { "cherry",        11,  0, "100.00", true,  "2025-06-07 00:00:00" },
  { "CHERRY",        12,  6, "99.99",  false, "2025-06-08 00:00:00" },
  { "Ünïcode ß",     13,  1, "7.77",   true,  "2025-07-01 00:00:00" },
}

local function nz(v) if v == nil then return orm.null end return v end

local function seed()
  for _, r in ipairs(ROWS) do
    ArItem:create{ name = nz(r[1]), n = nz(r[2]), m = r[3], price = r[4] and D(r[4]) or orm.null,
                   active = r[5], created = nz(r[6]) }
  end
end

local function fresh()
  orm.testing.init{ models = { ArItem } }
  seed()
end

local raw = require("tests.lua.support.sql").query

-- ids of raw SQL rows, in the order given (sorted when sort is true)
local function raw_ids(where, params, sort)
  local rows = raw('SELECT id FROM "ar_items" WHERE ' .. where .. (sort and " ORDER BY id" or ""), params)
  local t = {}
  for i, r in ipairs(rows) do t[i] = r.id end
  return t
end

local function orm_ids(qs)
  return qs:order_by("id"):values_list("id", { flat = true }):list()
end

-- Each case: a filter (table given to filter{}) or a function building the
-- queryset, and the raw WHERE clause with its parameters.
local CASES = {
  -- exact / iexact / not
  { "exact",                 { name = "apple" },                 "name = ?", { "apple" } },
  { "exact (case matters)",  { name = "APPLE" },                 "name = ?", { "APPLE" } },
  { "exact int",             { n = 3 },                          "n = ?", { 3 } },
  { "exact decimal",         { price = D"2" },                   "price = ?", { 2 } },
  { "exact bool true",       { active = true },                  "active = TRUE", {} },
  { "exact bool false",      { active = false },                 "active = FALSE", {} },
  { "exact null",            { name = orm.null },                "name IS NULL", {} },
  { "exact pk",              { pk = 4 },                         "id = ?", { 4 } },
  { "iexact",                { name__iexact = "cherry" },        "lower(name) = lower(?)", { "cherry" } },
  { "iexact upper",          { name__iexact = "APPLE PIE" },     "lower(name) = lower(?)", { "APPLE PIE" } },
  { "not",                   { n__not = 5 },                     "(n <> ? OR n IS NULL)", { 5 } },
  { "not string",            { name__not = "apple" },            "(name <> ? OR name IS NULL)", { "apple" } },
  -- in / not_in
  { "in",                    { n__in = { 1, 3, 5, 99 } },        "n IN (?, ?, ?, ?)", { 1, 3, 5, 99 } },
  { "in strings",            { name__in = { "apple", "cherry" } }, "name IN (?, ?)", { "apple", "cherry" } },
  { "in decimals",           { price__in = { D"2", D"5.55" } },  "price IN (?, ?)", { 2, 5.55 } },
  { "in empty",              { n__in = {} },                     "FALSE", {} },
  { "not_in",                { n__not_in = { 1, 3, 5 } },        "(n NOT IN (?, ?, ?) OR n IS NULL)", { 1, 3, 5 } },
  { "not_in empty",          { n__not_in = {} },                 "TRUE", {} },
  -- comparisons
  { "gt",                    { n__gt = 8 },                      "n > ?", { 8 } },
  { "gte",                   { n__gte = 8 },                     "n >= ?", { 8 } },
  { "lt",                    { n__lt = 3 },                      "n < ?", { 3 } },
  { "lte",                   { n__lte = 3 },                     "n <= ?", { 3 } },
  { "gt decimal",            { price__gt = D"5.55" },            "price > ?", { 5.55 } },
  { "lte decimal",           { price__lte = D"1.5" },            "price <= ?", { 1.5 } },
  { "gte datetime",          { created__gte = "2025-03-01" },    "created >= ?", { "2025-03-01 00:00:00.000000" } },
  { "lt datetime",           { created__lt = "2025-02-15T12:30:00" }, "created < ?", { "2025-02-15 12:30:00.000000" } },
  { "gt string",             { name__gt = "b" },                 "name > ?", { "b" } },
  { "range",                 { n__range = { 3, 7 } },            "n BETWEEN ? AND ?", { 3, 7 } },
  { "range decimal",         { price__range = { D"2", D"5.55" } }, "price BETWEEN ? AND ?", { 2, 5.55 } },
  { "range datetime",        { created__range = { "2025-02-01", "2025-03-01" } }, "created BETWEEN ? AND ?",
                             { "2025-02-01 00:00:00.000000", "2025-03-01 00:00:00.000000" } },
  -- null tests
  { "isnull true",           { n__isnull = true },               "n IS NULL", {} },
  { "isnull false",          { n__isnull = false },              "n IS NOT NULL", {} },
  { "not_isnull true",       { price__not_isnull = true },       "price IS NOT NULL", {} },
  { "not_isnull false",      { price__not_isnull = false },      "price IS NULL", {} },
  -- substring lookups: instr() is the case-sensitive substring test
  { "contains",              { name__contains = "pple" },        "instr(name, ?) > 0", { "pple" } },
  { "contains case",         { name__contains = "HERR" },        "instr(name, ?) > 0", { "HERR" } },
  { "contains %",            { name__contains = "0%" },          "instr(name, ?) > 0", { "0%" } },
  { "contains _",            { name__contains = "a_b" },         "instr(name, ?) > 0", { "a_b" } },
  { "contains \\",           { name__contains = "k\\s" },        "instr(name, ?) > 0", { "k\\s" } },
  { "contains non-ASCII",    { name__contains = "ïc" },          "instr(name, ?) > 0", { "ïc" } },
  { "icontains",             { name__icontains = "APPLE" },      "instr(lower(name), lower(?)) > 0", { "APPLE" } },
  { "icontains %",           { name__icontains = "0% J" },       "instr(lower(name), lower(?)) > 0", { "0% J" } },
  { "icontains _",           { name__icontains = "A_" },         "instr(lower(name), lower(?)) > 0", { "A_" } },
  { "startswith",            { name__startswith = "Apple" },     "substr(name, 1, length(?)) = ?", { "Apple", "Apple" } },
  { "startswith %",          { name__startswith = "100%" },      "substr(name, 1, length(?)) = ?", { "100%", "100%" } },
  { "startswith _",          { name__startswith = "a_" },        "substr(name, 1, length(?)) = ?", { "a_", "a_" } },
  { "istartswith",           { name__istartswith = "APP" },      "lower(substr(name, 1, length(?))) = lower(?)", { "APP", "APP" } },
  { "endswith",              { name__endswith = "rry" },         "substr(name, -length(?)) = ?", { "rry", "rry" } },
  { "endswith \\",           { name__endswith = "\\slash" },     "substr(name, -length(?)) = ?", { "\\slash", "\\slash" } },
  { "iendswith",             { name__iendswith = "RRY" },        "lower(substr(name, -length(?))) = lower(?)", { "RRY", "RRY" } },
  { "iendswith _",           { name__iendswith = "_B" },         "lower(substr(name, -length(?))) = lower(?)", { "_B", "_B" } },
  -- several keys
  { "two keys AND",          { n__gte = 2, active = true },      "n >= ? AND active = TRUE", { 2 } },
  { "two lookups one field", { n__gt = 2, n__lt = 8 },           "n > ? AND n < ?", { 2, 8 } },
  -- Q
  { "Q |",   function() return ArItem:filter{ Q{ n__lt = 3 } | Q{ name = "cherry" } } end,
             "(n < ? OR name = ?)", { 3, "cherry" } },
  { "Q &",   function() return ArItem:filter{ Q{ active = true } & Q{ price__gt = 2 } } end,
             "(active = TRUE AND price > ?)", { 2 } },
  { "~Q",    function() return ArItem:filter{ ~Q{ active = true } } end,
             "NOT (active = TRUE)", {} },
  { "~Q over NULLs", function() return ArItem:filter{ ~Q{ n = 5 } } end,
             "NOT (n = ?)", { 5 } },
  { "~(Q | Q)", function() return ArItem:filter{ ~(Q{ n__lt = 3 } | Q{ n__gt = 10 }) } end,
             "NOT (n < ? OR n > ?)", { 3, 10 } },
  { "nested", function() return ArItem:filter{ (Q{ active = true } | Q{ n__gte = 10 }) & ~Q{ name__contains = "a" } } end,
             "(active = TRUE OR n >= ?) AND NOT (instr(name, ?) > 0)", { 10, "a" } },
  { "join_type OR", function() return ArItem:filter{ Q{ Q{ n = 1 }, Q{ n = 2 }, Q{ name = "axb" }, join_type = "OR" } } end,
             "(n = ? OR n = ? OR name = ?)", { 1, 2, "axb" } },
  { "Q and keyword", function() return ArItem:filter{ Q{ n__lt = 4 } | Q{ n__gt = 10 }, active = true } end,
             "(n < ? OR n > ?) AND active = TRUE", { 4, 10 } },
  { "Q with two keys", function() return ArItem:filter{ Q{ active = false, m__gt = 4 } } end,
             "active = FALSE AND m > ?", { 4 } },
  { "exclude", function() return ArItem:exclude{ n__gt = 5 } end,
             "NOT (n > ?)", { 5 } },
  { "exclude Q", function() return ArItem:exclude{ Q{ active = true } | Q{ m = 0 } } end,
             "NOT (active = TRUE OR m = ?)", { 0 } },
  { "filter + exclude", function() return ArItem:filter{ active = true }:exclude{ name__startswith = "a" } end,
             "active = TRUE AND NOT (substr(name, 1, 1) = 'a')", {} },
  -- F
  { "F =",   { n = F"m" },                 "n = m", {} },
  { "F lt",  { n__lt = F"m" },             "n < m", {} },
  { "F +",   { n__gte = F"m" + 3 },        "n >= m + ?", { 3 } },
  { "F -",   { n__gt = F"m" - 1 },         "n > m - ?", { 1 } },
  { "F *",   { n__lte = F"m" * 2 },        "n <= m * ?", { 2 } },
  { "F F",   { n__gt = F"m" + F"m" },      "n > m + m", {} },
  { "F in Q", function() return ArItem:filter{ Q{ n__lt = F"m" } | Q{ m = 0 } } end,
             "(n < m OR m = ?)", { 0 } },
}

describe("the ORM against raw SQL", function()
  before_each(fresh)
  after_each(function() orm.testing.finish() end)

  for _, case in ipairs(CASES) do
    local label, how, where, params = case[1], case[2], case[3], case[4]
    it("filter: " .. label, function()
      local qs = type(how) == "function" and how() or ArItem:filter(how)
      local expected = raw_ids(where, params, true)
      assert.are.same(expected, orm_ids(qs))
      assert.are.equal(#expected, qs:count())
      assert.are.equal(#expected > 0, qs:exists())
    end)
  end

  it("the cases are not vacuous", function()
    -- a filter that matches nothing and one that matches everything prove
    -- little; most cases must split the rows
    local split = 0
    for _, case in ipairs(CASES) do
      local n = #raw_ids(case[3], case[4])
      if n > 0 and n < #ROWS then split = split + 1 end
    end
    assert.is_true(split >= #CASES - 4)
  end)

  it("count", function()
    assert.are.equal(raw('SELECT COUNT(*) AS c FROM "ar_items"')[1].c, ArItem:all():count())
    assert.are.equal(raw('SELECT COUNT(*) AS c FROM "ar_items" WHERE active = TRUE')[1].c,
      ArItem:filter{ active = true }:count())
  end)

  it("order_by two keys, with NULLs", function()
    local expected = raw_ids("TRUE ORDER BY price DESC, name ASC", {})
    local got = ArItem:all():order_by("-price", "name"):values_list("id", { flat = true }):list()
    assert.are.same(expected, got)
    expected = raw_ids("TRUE ORDER BY m ASC, n DESC", {})
    got = ArItem:all():order_by("m", "-n"):values_list("id", { flat = true }):list()
    assert.are.same(expected, got)
  end)

  it("limit and offset", function()
    assert.are.same(raw_ids("TRUE ORDER BY name LIMIT 3 OFFSET 2", {}),
      ArItem:all():order_by("name"):limit(3):offset(2):values_list("id", { flat = true }):list())
    assert.are.same(raw_ids("TRUE ORDER BY id LIMIT -1 OFFSET 10", {}),
      ArItem:all():order_by("id"):offset(10):values_list("id", { flat = true }):list())
  end)

  it("distinct", function()
    local rows = raw('SELECT DISTINCT m FROM "ar_items" ORDER BY m')
    local expected = {}
    for i, r in ipairs(rows) do expected[i] = r.m end
    assert.are.same(expected, ArItem:all():order_by("m"):distinct():values_list("m", { flat = true }):list())
  end)

  it("distinct decimals", function()
    local rows = raw('SELECT DISTINCT price FROM "ar_items" WHERE price IS NOT NULL ORDER BY price')
    local got = ArItem:filter{ price__not_isnull = true }:order_by("price"):distinct()
      :values_list("price", { flat = true }):list()
    assert.are.equal(#rows, #got)
    for i, r in ipairs(rows) do assert.is_true(D(r.price) == got[i], tostring(r.price)) end
  end)

  it("values with aliases", function()
    local rows = raw('SELECT id, name AS label, n FROM "ar_items" WHERE id <= 3 ORDER BY id')
    local by_name = {} -- a raw row holds its values by position too
    for i, r in ipairs(rows) do by_name[i] = { id = r.id, label = r.label, n = r.n } end
    assert.are.equal(3, #by_name)
    assert.are.same(by_name, ArItem:filter{ id__lte = 3 }:order_by("id"):values{ "id", "n", label = "name" }:list())
  end)

  it("first and get", function()
    local top = raw('SELECT id FROM "ar_items" ORDER BY m DESC, id LIMIT 1')[1].id
    assert.are.equal(top, ArItem:all():order_by("-m", "id"):first().id)
    local r = raw('SELECT id, n FROM "ar_items" WHERE name = ?', { "banana" })[1]
    local g = ArItem:get{ name = "banana" }
    assert.are.equal(r.id, g.id)
    assert.are.equal(r.n, g.n)
  end)

  -- Runs the ORM operation and the raw SQL on fresh copies of the data and
  -- compares the rows changed and the table afterwards.
  local function same_effect(orm_op, sql, params)
    local orm_changed = orm_op()
    local after_orm = raw('SELECT id, name, n, m, price, active, created FROM "ar_items" ORDER BY id')
    orm.testing.finish()
    fresh()
    local _, raw_changed = raw(sql, params)
    local after_raw = raw('SELECT id, name, n, m, price, active, created FROM "ar_items" ORDER BY id')
    assert.are.equal(raw_changed, orm_changed)
    assert.are.same(after_raw, after_orm)
  end

  it("update with a value", function()
    same_effect(function() return ArItem:filter{ name__contains = "a" }:update{ m = 42 } end,
      'UPDATE "ar_items" SET m = ? WHERE instr(name, ?) > 0', { 42, "a" })
  end)

  it("update to NULL", function()
    same_effect(function() return ArItem:filter{ n__gt = 10 }:update{ name = orm.null } end,
      'UPDATE "ar_items" SET name = NULL WHERE n > ?', { 10 })
  end)

  it("update with F", function()
    same_effect(function() return ArItem:filter{ active = true, n__not_isnull = true }:update{ m = F"m" + F"n" * 2 } end,
      'UPDATE "ar_items" SET m = m + n * ? WHERE active = TRUE AND n IS NOT NULL', { 2 })
  end)

  it("update with F and Q", function()
    same_effect(function()
      return ArItem:filter{ Q{ n__lt = F"m" } | Q{ name__iendswith = "E" } }:update{ n = F"m" - 1, active = false }
    end, 'UPDATE "ar_items" SET n = m - ?, active = FALSE WHERE n < m OR lower(substr(name, -1)) = ?', { 1, "e" })
  end)

  it("update of every row", function()
    same_effect(function() return ArItem:all():update{ m = F"m" * 10 } end,
      'UPDATE "ar_items" SET m = m * ?', { 10 })
  end)

  it("delete", function()
    same_effect(function() return ArItem:filter{ n__not_in = { 1, 2, 3 }, active = false }:delete() end,
      'DELETE FROM "ar_items" WHERE (n NOT IN (?, ?, ?) OR n IS NULL) AND active = FALSE', { 1, 2, 3 })
  end)

  it("delete with ~Q", function()
    same_effect(function() return ArItem:filter{ ~Q{ price__gte = 2 } }:delete() end,
      'DELETE FROM "ar_items" WHERE NOT (price >= ?)', { 2 })
  end)

  it("create is an INSERT", function()
    local item = ArItem:create{ name = "kiwi", n = 99, m = 1, price = D"3.10", active = false, created = "2025-08-09T10:11:12" }
    local r = raw('SELECT name, n, m, price, active, created FROM "ar_items" WHERE id = ?', { item.id })[1]
    assert.are.equal("kiwi", r.name)
    assert.are.equal(99, r.n)
    assert.are.equal(1, r.m)
    assert.is_true(D(r.price) == D"3.10")
    -- as each database stores them
    local stored = ({
      sqlite = { 0, "2025-08-09 10:11:12.000000" },
      postgres = { false, "2025-08-09 10:11:12+00" },
      mysql = { 0, "2025-08-09 10:11:12.000000" },
    })[orm.connection("default"):dialect()]
    assert.are.equal(stored[1], r.active)
    assert.are.equal(stored[2], r.created)
  end)

  it("save and delete of an instance", function()
    local item = ArItem:get{ name = "banana" }
    item.m = 77
    item:save()
    assert.are.equal(77, raw('SELECT m FROM "ar_items" WHERE id = ?', { item.id })[1].m)
    item:delete()
    assert.are.equal(0, raw('SELECT COUNT(*) AS c FROM "ar_items" WHERE id = ?', { item.id })[1].c)
  end)

  it("raw rows and row count", function()
    local rows, count = raw('SELECT id FROM "ar_items" WHERE n < ?', { 4 })
    assert.are.equal(3, #rows)
    assert.are.equal("number", type(count))
  end)

  -- LUA_API.md: a rows object with the columns in the query's order
  -- (duplicates kept), each row by name (the last duplicate wins) and by
  -- position (NULL columns included), tuple(i), # and ipairs
  it("a rows object keeps the columns' order, duplicates and NULLs", function()
    local rows, count = raw('SELECT a.id AS z, a.name, b.id, NULL AS nada, a.n AS id '
      .. 'FROM "ar_items" a JOIN "ar_items" b ON b.id = a.id WHERE a.n = ? OR a.n = ? '
      .. 'ORDER BY a.id', { 1, 2 })
    assert.are.same({ "z", "name", "id", "nada", "id" }, rows.columns)
    assert.are.equal(2, #rows)
    assert.are.equal(2, count)
    local first = rows[1]
    assert.are.equal(1, first.id) -- the last "id" column: a.n
    assert.are.equal("apple", first.name)
    assert.is_nil(first.nada)
    local id1 = first[1]
    assert.are.equal(id1, first[3]) -- b.id by position
    assert.are.equal("apple", first[2])
    assert.is_nil(first[4])
    assert.are.equal(1, first[5])
    local t = rows:tuple(2)
    assert.are.equal(5, t.n)
    assert.are.equal("Apple pie", t[2])
    assert.is_nil(t[4])
    assert.are.equal(2, t[5])
    assert.is_nil(rows:tuple(3))
    local seen = 0
    for i, r in ipairs(rows) do
      seen = seen + 1
      assert.are.equal(rows[i], r)
    end
    assert.are.equal(2, seen)
    assert.matches("^<Rows: 2 rows %(z, name, id, nada, id%)>$", tostring(rows))
  end)

  it("an empty result still names its columns", function()
    local rows, count = raw('SELECT id, name FROM "ar_items" WHERE n < ?', { -1 })
    assert.are.equal(0, #rows)
    assert.are.equal(0, count)
    assert.are.same({ "id", "name" }, rows.columns)
  end)

  it("a statement without rows gives an empty rows object and its count", function()
    local rows, count = raw('UPDATE "ar_items" SET m = m WHERE n < ?', { 3 })
    assert.are.equal(0, #rows)
    assert.are.same({}, rows.columns)
    assert.are.equal(2, count)
  end)
end)
