-- portable_check.lua -- issue 3's "done when" script, written from
-- LUA_API.md alone: models, CRUD, every lookup, Q, F, errors and decimals.
-- It prints output that must be identical on sqlite://, postgres:// and
-- mysql:// (portable_check.sh runs it three times and diffs).  Nothing
-- that may legitimately differ is printed: no automatic timestamps, no SQL,
-- no database error messages (only their class), no unordered results.
--
--   testudo tests/backends/portable_check.lua URL
--   lua5.4 tests/backends/portable_check.lua URL   (testudo.so on package.cpath)
--
-- An unexpected error (a lookup, method or section that fails) prints a
-- line starting with "!! "; the last line is "portable_check: done".
local orm = rawget(_G, "orm") or require "testudo"
local URL = arg and arg[1] or os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local fields, Model = orm.fields, orm.Model
local Q, F = orm.Q, orm.F
local E = orm.exceptions

------------------------------------------------------------------------
-- printing

-- database-originated errors: their messages differ per server
local DB_ORIGIN = { IntegrityError = true, OperationalError = true }

local function errtext(err)
  if type(err) == "table" and type(err.class) == "table" and err.class.name then
    if DB_ORIGIN[err.class.name] then return err.class.name end
    return err.class.name .. ": " .. tostring(err.message)
  end
  return nil
end

local show

local function show_table(t)
  if orm._model_of and orm._model_of(t) then
    return tostring(t)
  end
  local keys, arr = {}, (#t > 0)
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    if arr and type(k) == "number" then
      parts[#parts + 1] = show(t[k])
    else
      parts[#parts + 1] = tostring(k) .. "=" .. show(t[k])
    end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function show(v)
  if v == nil then return "nil" end
  if rawequal(v, orm.null) then return "null" end
  local t = type(v)
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if math.type(v) == "integer" then return ("%d"):format(v) end
    return ("%.4f"):format(v)
  end
  if t == "string" then
    if v:find("[%z\1-\8\14-\31\127-\255]") and not v:find("^[%g%s\128-\255]*$") then
      return "x'" .. v:gsub(".", function(c) return ("%02x"):format(c:byte()) end) .. "'"
    end
    return ("%q"):format(v)
  end
  if t == "table" and getmetatable(v) == nil then return show_table(v) end
  if t == "table" and orm._model_of and orm._model_of(v) then return tostring(v) end
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name") or t
  return tostring(name) .. "(" .. tostring(v) .. ")"
end

local function out(label, ...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = show((select(i, ...))) end
  print(label .. ": " .. table.concat(parts, " "))
end

-- Runs f and prints its result, or the error class (and ORM message).
local function try(label, f)
  local res = table.pack(pcall(f))
  if res[1] then
    out(label, table.unpack(res, 2, res.n))
  else
    local e = errtext(res[2])
    if e then print(label .. ": raised " .. e)
    else print("!! " .. label .. ": " .. tostring(res[2])) end
  end
end

-- Like try, for calls that must not fail: any error is marked "!! ".
local function must(label, f)
  local res = table.pack(pcall(f))
  if res[1] then
    out(label, table.unpack(res, 2, res.n))
  else
    print("!! " .. label .. ": " .. (errtext(res[2]) or tostring(res[2])))
  end
end

local function section(name, f)
  print("== " .. name)
  local ok, err = pcall(f)
  if not ok then
    print("!! section " .. name .. " failed: " .. (errtext(err) or tostring(err)))
  end
end

------------------------------------------------------------------------
-- models

local Author = Model:extend("PcAuthor", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 40, unique = true },
  age    = fields.SmallIntField{},
  email  = fields.CharField{ max_length = 100, null = true },
  active = fields.BooleanField{ default = true },
  score  = fields.FloatField{ null = true },
  big    = fields.BigIntField{ default = 0 },
  joined = fields.DateField{},
  seen   = fields.DatetimeField{ null = true },
  wake   = fields.TimeField{ null = true },
  nap    = fields.TimeDeltaField{ null = true },
  uid    = fields.UUIDField{ null = true },
  meta   = fields.JSONField{ null = true },
  blob   = fields.BinaryField{ null = true },
  role   = fields.CharEnumField{ enum_type = { "reader", "writer", "editor" }, max_length = 10, default = "reader" },
  level  = fields.IntEnumField{ enum_type = { 1, 2, 3 }, default = 1 },
  bio    = fields.TextField{ default = "" },
  Meta = { table = "pc_authors" },
})

local Book = Model:extend("PcBook", {
  id     = fields.IntField{ primary_key = true },
  title  = fields.CharField{ max_length = 60 },
  price  = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  wide   = fields.DecimalField{ max_digits = 30, decimal_places = 10, default = "0" },
  stock  = fields.IntField{ default = 0, validators = { orm.validators.MinValueValidator(0) } },
  code   = fields.CharField{ max_length = 8, validators = { orm.validators.RegexValidator("^[A-Z]+$") }, default = "X" },
  Meta = { table = "pc_books" },
})

orm.init{ db_url = URL }
do
  local conn = orm.connection()
  conn:execute_script("DROP TABLE IF EXISTS pc_books")
  conn:execute_script("DROP TABLE IF EXISTS pc_authors")
end
orm.generate_schemas()

local function ids(qs)
  return qs:order_by("id"):values_list("id", { flat = true }):list()
end

local function look(label, filter)
  must(label, function() return ids(Author:filter(filter)) end)
end

------------------------------------------------------------------------

section("create", function()
  local a = Author:create{
    name = "ann", age = 31, email = "ann@example.org", score = 4.5,
    big = 9007199254740993, joined = "2024-01-01", seen = "2024-02-29T13:45:30.123456",
    wake = "07:30:00", nap = orm.duration{ minutes = 20 },
    uid = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
    meta = { tags = { "a", "b" }, n = 1, ok = true, name = "x" },
    blob = "\0\1\255abc", role = "writer", level = 2, bio = "héllo ✓",
  }
  out("ann", a.id, a.name, a.big, a.uid, a.level, a.role)
  Author:create{ name = "bob", age = 25, score = 3.25, big = -5, joined = "2023-01-01",
                 seen = "2023-12-31 23:59:59.000001", nap = orm.duration{ days = 1, seconds = 30 } }
  Author:create{ name = "Cid", age = 31, email = "CID@Example.org", active = false,
                 joined = "2023-06-15", role = "editor", level = 3, wake = "23:15:59" }
  Author:create{ name = "dan_x", age = 40, email = "d@x.org", joined = "2022-11-30",
                 seen = "2022-11-30 00:00:00", bio = "50% off" }
  Author:create{ name = "eve", age = 52, email = "e%e@x.org", joined = "2024-04-01",
                 seen = "2024-04-01T08:09:10", bio = "a\\b" }
  local f = Author{ name = "fay", age = 19, email = "FAY@x.org", active = false, joined = "2021-07-04",
                    seen = "2021-07-04 12:00:00", score = -0.5 }
  f:save()
  out("fay", f.id, f.active)
  out("count", Author:count())
  Author:bulk_create({
    Author{ name = "gil", age = 60, joined = "2020-02-29" },
    Author{ name = "hal", age = 33, joined = "2020-03-01", email = "a_b@x.org" },
  }, { batch_size = 1 })
  out("count after bulk_create", Author:count())
  local obj, created = Author:get_or_create{ name = "ann", defaults = { age = 1, joined = "2000-01-01" } }
  out("get_or_create existing", obj.id, created)
  obj, created = Author:get_or_create{ name = "ivy", defaults = { age = 22, joined = "2019-05-05" } }
  out("get_or_create new", obj.id, obj.age, created)
  obj, created = Author:update_or_create{ name = "ivy", defaults = { age = 23 } }
  out("update_or_create", obj.id, obj.age, created)
end)

section("read back every type", function()
  local a = Author:get{ name = "ann" }
  for _, k in ipairs{ "id", "name", "age", "email", "active", "score", "big", "joined", "seen",
                      "wake", "nap", "uid", "meta", "blob", "role", "level", "bio" } do
    out("ann." .. k, a[k])
  end
  local b = Author:get{ name = "bob" }
  for _, k in ipairs{ "email", "seen", "nap", "wake", "uid", "meta", "blob", "bio" } do
    out("bob." .. k, b[k])
  end
  out("to_table keys", (function()
    local t, keys = a:to_table(), {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    return table.concat(keys, ",")
  end)())
end)

section("values and values_list", function()
  out("values", Author:filter{ age = 31 }:order_by("id"):values("id", "name", "active"):list())
  out("values alias", Author:filter{ name = "bob" }:values{ "id", who = "name" }:list())
  out("values_list", Author:filter{ age__lt = 30 }:order_by("id"):values_list("name", "age", "joined"):list())
  out("flat", Author:all():order_by("-age", "id"):values_list("name", { flat = true }):list())
  out("distinct ages", Author:all():order_by("age"):values_list("age", { flat = true }):distinct():list())
  local it = {}
  for n in Author:filter{ active = true }:order_by("id"):values_list("name", { flat = true }):iter() do it[#it + 1] = n end
  out("iter", it)
end)

section("queryset terminals", function()
  local qs = Author:all():order_by("id")
  out("first", qs:first().name)
  out("last", qs:last().name)
  out("latest joined", Author:latest("joined").name)
  out("earliest joined", Author:earliest("joined").name)
  out("exists", Author:filter{ age = 52 }:exists(), Author:filter{ age = 53 }:exists())
  out("exists model", Author:exists{ name = "eve" })
  out("#qs", #qs, qs[2].name, qs[100])
  out("limit offset", ids(Author:all():order_by("id"):offset(2):limit(3)))
  out("count limit", Author:all():order_by("id"):limit(4):count())
  out("get_or_none", Author:get_or_none{ name = "nobody" })
  local bulk = Author:in_bulk({ 1, 2, 99 }, "id")
  out("in_bulk", bulk[1] and bulk[1].name, bulk[2] and bulk[2].name, bulk[99])
  local by_name = Author:in_bulk({ "eve", "fay" }, "name")
  out("in_bulk by name", by_name.eve and by_name.eve.age, by_name.fay and by_name.fay.age)
  must("only", function()
    local a = Author:filter{ name = "eve" }:only("id", "name"):first()
    return a.id, a.name
  end)
end)

section("lookups", function()
  look("exact", { name = "bob" })
  look("exact other case", { name = "BOB" })
  look("exact explicit", { name__exact = "Cid" })
  look("exact null", { email = orm.null })
  look("exact bool", { active = false })
  look("iexact", { name__iexact = "cid" })
  look("iexact email", { email__iexact = "cid@example.org" })
  look("not", { age__not = 31 })
  look("not null-able", { email__not = "d@x.org" })
  look("in", { age__in = { 25, 31, 99 } })
  look("in strings", { name__in = { "ann", "Cid", "zed" } })
  look("in empty", { age__in = {} })
  look("not_in", { age__not_in = { 25, 31 } })
  look("not_in nullable", { email__not_in = { "d@x.org", "ann@example.org" } })
  look("not_in empty", { age__not_in = {} })
  look("gt", { age__gt = 33 })
  look("gte", { age__gte = 33 })
  look("lt", { age__lt = 31 })
  look("lte", { age__lte = 31 })
  look("gt date", { joined__gt = "2023-06-15" })
  look("lt datetime", { seen__lt = "2023-12-31 23:59:59.000001" })
  look("gte datetime", { seen__gte = "2023-12-31 23:59:59.000001" })
  look("range", { age__range = { 25, 40 } })
  look("range dates", { joined__range = { "2022-01-01", "2023-12-31" } })
  look("isnull", { email__isnull = true })
  look("isnull false", { email__isnull = false })
  look("not_isnull", { seen__not_isnull = true })
  look("contains", { email__contains = "x.org" })
  look("contains case", { email__contains = "Example" })
  look("icontains", { email__icontains = "EXAMPLE" })
  look("contains percent", { email__contains = "%" })
  look("contains underscore", { name__contains = "_" })
  look("contains backslash", { bio__contains = "\\" })
  look("contains percent text", { bio__contains = "0% o" })
  look("startswith", { name__startswith = "C" })
  look("startswith case", { name__startswith = "c" })
  look("istartswith", { name__istartswith = "c" })
  look("endswith", { email__endswith = "x.org" })
  look("endswith case", { email__endswith = "X.ORG" })
  look("iendswith", { email__iendswith = "X.ORG" })
  look("contains utf8", { bio__contains = "✓" })
  look("year", { joined__year = 2024 })
  look("quarter", { joined__quarter = 2 })
  look("month", { joined__month = 1 })
  look("week", { joined__week = 1 })
  look("week 52", { joined__week = 52 })
  look("day", { joined__day = 1 })
  look("datetime year", { seen__year = 2023 })
  look("hour", { seen__hour = 13 })
  look("minute", { seen__minute = 59 })
  look("second", { seen__second = 10 })
  look("enum", { role = "editor" })
  look("int enum in", { level__in = { 2, 3 } })
  look("uuid", { uid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" })
  look("uuid upper", { uid = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11" })
  look("bigint", { big = 9007199254740993 })
  look("bigint neighbour", { big = 9007199254740992 })
  look("float gt", { score__gt = 0 })
  look("pk", { pk = 3 })
  look("pk in", { pk__in = { 1, 5 } })
  look("several keys", { age = 31, active = true })
  must("exclude", function() return ids(Author:exclude{ age = 31 }) end)
  must("exclude nullable", function() return ids(Author:exclude{ email__contains = "x" }) end)
  must("filter then exclude", function() return ids(Author:filter{ age__gte = 30 }:exclude{ active = false }) end)
end)

section("Q", function()
  look("or", { Q{ name = "ann" } | Q{ name = "bob" } })
  look("and", { Q{ age = 31 } & Q{ active = true } })
  look("not", { ~Q{ age__gte = 30 } })
  look("nested", { (Q{ age__lt = 30 } | Q{ age__gt = 50 }) & ~Q{ name = "fay" } })
  look("join_type OR", { Q{ Q{ role = "editor" }, Q{ level = 2 }, join_type = "OR" } })
  look("Q with kwargs", { Q{ email__isnull = true } | Q{ age = 40 }, active = true })
  look("not null-able", { ~Q{ email = "d@x.org" } })
  out("Q equality", Q{ a = 1 } == Q{ a = 1 }, Q{ a = 1 } == Q{ a = 2 })
  try("bad join_type", function() return Q{ Q{ a = 1 }, join_type = "XOR" } end)
  try("Q combined with a non-Q", function() return Q{ a = 1 } | 3 end)
end)

section("F", function()
  look("F compare", { age__gt = F"level" * 15 })
  must("update F", function() return Author:filter{ age__lt = 30 }:update{ age = F"age" + 1 } end)
  out("after", Author:all():order_by("id"):values_list("age", { flat = true }):list())
  must("update F expr", function() return Author:filter{ name = "dan_x" }:update{ big = F"big" * 3 - 1 } end)
  out("dan big", Author:get{ name = "dan_x" }.big)
  must("annotate F", function()
    return Author:filter{ name__in = { "ann", "bob" } }:annotate{ twice = F"age" * 2 }:order_by("id"):values_list("name", "twice"):list()
  end)
end)

section("instances", function()
  local a = Author:get{ name = "bob" }
  a.bio = "edited"
  a.score = 1.5
  a:save()
  out("saved", Author:get{ name = "bob" }.bio, Author:get{ name = "bob" }.score)
  a.bio = "only bio"
  a.age = 99
  a:save{ update_fields = { "bio" } }
  local r = Author:get{ name = "bob" }
  out("update_fields", r.bio, r.age)
  a:refresh_from_db()
  out("refresh_from_db", a.age, a.bio)
  a:update_from_dict{ email = "bob@x.org", age = 27 }:save()
  out("update_from_dict", Author:get{ name = "bob" }.email, Author:get{ name = "bob" }.age)
  local c = a:clone()
  c.name = "bob2"
  c:save()
  out("clone", c.id ~= a.id, Author:filter{ name__startswith = "bob" }:count())
  out("equality", Author:get{ name = "bob" } == a, Author:get{ name = "bob2" } == a)
  out("pk", a.pk == a.id)
  out("tostring", tostring(Author:get{ id = 1 }))
  a.email = nil
  a:save()
  out("set nil", Author:get{ name = "bob" }.email)
  out("delete", c:delete(), Author:filter{ name = "bob2" }:count())
  out("number to char", Author:create{ name = 12345, age = 1, joined = "2001-01-01" }.name,
    Author:get{ name = "12345" }.age)
  local list = Author:filter{ age__lt = 30 }:order_by("id"):list()
  for _, x in ipairs(list) do x.bio = "bulk " .. x.name end
  must("bulk_update", function() return Author:bulk_update(list, { "bio" }, { batch_size = 2 }) end)
  out("bulk_updated", Author:filter{ bio__startswith = "bulk " }:order_by("id"):values_list("bio", { flat = true }):list())
end)

section("update and delete", function()
  out("update", Author:filter{ role = "reader", age__gt = 50 }:update{ role = "writer", active = false })
  out("update none", Author:filter{ name = "nobody" }:update{ age = 1 })
  out("update null", Author:filter{ name = "eve" }:update{ email = orm.null })
  out("eve", Author:get{ name = "eve" }.email, Author:get{ name = "eve" }.role)
  out("delete", Author:filter{ name__in = { "gil", "hal" } }:delete())
  out("count", Author:count())
end)

section("decimals", function()
  local b = Book:create{ title = "one", price = "19.99", wide = "12345678901234567890.1234567890" }
  out("created", b.price, b.wide)
  Book:create{ title = "two", price = 5, wide = "0.0000000001" }
  Book:create{ title = "three", price = orm.Decimal("1234.5"), wide = "-99999999999999999999.9999999999" }
  Book:create{ title = "four", price = "0.10", wide = "12345678901234567890.1234567891" }
  for _, x in ipairs(Book:all():order_by("id"):list()) do out("book " .. x.title, x.price, x.wide) end
  out("order by price", Book:all():order_by("-price"):values_list("title", { flat = true }):list())
  out("order by wide", Book:all():order_by("wide"):values_list("title", { flat = true }):list())
  out("gt", Book:filter{ price__gt = "5.00" }:order_by("id"):values_list("title", { flat = true }):list())
  out("exact", Book:filter{ price = orm.Decimal("19.99") }:values_list("title", { flat = true }):list())
  out("exact number", Book:filter{ price = 5 }:values_list("title", { flat = true }):list())
  out("wide exact", Book:filter{ wide = "12345678901234567890.1234567890" }:values_list("title", { flat = true }):list())
  out("wide gt", Book:filter{ wide__gt = "12345678901234567890.123456789" }:order_by("id"):values_list("title", { flat = true }):list())
  out("wide range", Book:filter{ wide__range = { "0", "1" } }:values_list("title", { flat = true }):list())
  local one = Book:get{ title = "one" }
  out("arith", one.price + orm.Decimal("0.01"), one.price * 3, one.price - 20, one.wide + orm.Decimal("0.0000000001"))
  out("compare", one.price > orm.Decimal("19.98"), one.price == orm.Decimal("19.990"), one.price < 20)
  out("tonumber", one.price:tonumber())
  out("update F decimal", Book:filter{ title = "one" }:update{ price = F"price" + orm.Decimal("0.01") })
  out("after", Book:get{ title = "one" }.price)
  out("quantized", Book:create{ title = "five", price = "2.345" }.price, Book:get{ title = "five" }.price)
end)

section("errors", function()
  try("DoesNotExist", function() return Author:get{ name = "nobody" } end)
  try("model DoesNotExist", function()
    local ok, err = pcall(Author.get, Author, { name = "nobody" })
    return ok, Author.DoesNotExist:is(err), E.DoesNotExist:is(err)
  end)
  try("MultipleObjectsReturned", function() return Author:get{ age = 31 } end)
  try("IntegrityError unique", function() return Author:create{ name = "ann", age = 1, joined = "2000-01-01" } end)
  try("IntegrityError via save", function()
    local x = Author:get{ name = "bob" }
    x.name = "ann"
    x:save()
  end)
  try("ValidationError max_length", function() return Author:create{ name = ("x"):rep(41), age = 1, joined = "2000-01-01" } end)
  try("ValidationError not null", function() return Author:create{ name = "nn", joined = "2000-01-01" } end)
  try("ValidationError enum", function() return Author:create{ name = "en", age = 1, joined = "2000-01-01", role = "boss" } end)
  try("ValidationError min value", function() return Book:create{ title = "neg", price = 1, stock = -1 } end)
  try("ValidationError regex", function() return Book:create{ title = "rx", price = 1, code = "abc" } end)
  try("FieldError unknown field", function() return Author:filter{ nmae = "x" }:list() end)
  try("FieldError unknown lookup", function() return Author:filter{ age__bigger = 1 }:list() end)
  try("FieldError order_by", function() return Author:all():order_by("nope"):list() end)
  try("FieldError values", function() return Author:all():values("nope"):list() end)
  try("FieldError json", function() return Author:create{ name = "js", age = 1, joined = "2000-01-01", meta = "{not json" } end)
  try("ParamsError limit", function() return Author:all():limit(-1) end)
  try("ParamsError offset", function() return Author:all():offset(-1) end)
  try("OperationalError", function() return orm.connection():execute_query("SELECT * FROM pc_no_such_table") end)
  try("ConfigurationError", function() return Model:extend("PcBad", { name = fields.CharField{} }) end)
  out("count unchanged", Author:count(), Book:count())
end)

section("transactions", function()
  local ok = pcall(orm.in_transaction, function()
    Author:create{ name = "tx1", age = 1, joined = "2000-01-01" }
    error("boom")
  end)
  out("rolled back", ok, Author:filter{ name = "tx1" }:count())
  orm.in_transaction(function()
    Author:create{ name = "tx2", age = 1, joined = "2000-01-01" }
    pcall(orm.in_transaction, function()
      Author:create{ name = "tx3", age = 1, joined = "2000-01-01" }
      Author:create{ name = "ann", age = 1, joined = "2000-01-01" }
    end)
  end)
  out("savepoint", Author:filter{ name__startswith = "tx" }:order_by("name"):values_list("name", { flat = true }):list())
  do
    local tx <close> = orm.transaction()
    Author:create{ name = "tx4", age = 1, joined = "2000-01-01" }
  end
  out("close without commit", Author:filter{ name = "tx4" }:count())
end)

section("raw", function()
  local rows = Author:raw("SELECT * FROM pc_authors WHERE age > 50 ORDER BY id")
  out("raw", #rows, rows[1] and rows[1].name)
  local r = orm.connection():execute_query("SELECT name FROM pc_authors WHERE age < 30 ORDER BY id")
  local names = {}
  for i, row in ipairs(r) do names[i] = row.name end
  out("execute_query", names)
end)

print("portable_check: done")
