-- api_examples_models.lua -- LUA_API.md's examples of models, fields,
-- validators, transactions and signals, as the document writes them
-- (its `...` filled in), run by api_examples.sh through the shell on
-- every backend: one line per example with a value the backends must
-- agree on, then a count.
local n = 0
local function ok(label, v) n = n + 1; print(("%-34s %s"):format(label, tostring(v))) end
-- tables of the same names (the demo's) go first, whatever refers to them
local function drop(t)
  local c = orm.connection()
  if c:dialect() == "postgres" then
    c:execute_script("DROP TABLE IF EXISTS " .. t .. " CASCADE")
  elseif c:dialect() == "mysql" then
    c:execute_script("SET FOREIGN_KEY_CHECKS = 0")
    c:execute_script("DROP TABLE IF EXISTS " .. t)
    c:execute_script("SET FOREIGN_KEY_CHECKS = 1")
  else
    c:execute_script("DROP TABLE IF EXISTS " .. t)
  end
end
for _, t in ipairs{ "users", "categories" } do drop(t) end

-- ## Models (verbatim)
local fields, Model = orm.fields, orm.Model

local TimestampMixin = Model:extend("TimestampMixin", {
  created_at = fields.DatetimeField{ auto_now_add = true },
  updated_at = fields.DatetimeField{ auto_now = true },
  Meta = { abstract = true },
})

local User = TimestampMixin:extend("User", {
  id            = fields.IntField{ primary_key = true },
  email         = fields.CharField{ max_length = 255, unique = true, index = true },
  username      = fields.CharField{ max_length = 100, unique = true },
  password_hash = fields.CharField{ max_length = 255 },
  role          = fields.CharEnumField{ enum_type = { "user", "admin", "editor", "archived" }, max_length = 20, default = "user" },
  is_active     = fields.BooleanField{ default = true },
  bio           = fields.TextField{ null = true },
  Meta = { table = "users", indexes = { { "email", "is_active" }, { "role" } } },
  __tostring = function(self) return ("User(id=%d, email=%s)"):format(self.id, self.email) end,
})

local Category = Model:extend("Category", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 100, unique = true },
  parent = fields.ForeignKeyField{ "models.Category", null = true, related_name = "children" },
  Meta = { table = "categories" },
})
orm.generate_schemas()

local u = User:create{ id = 1, email = "a@b.example", username = "ann", password_hash = "x" }
ok("Model:extend + create", tostring(u))
ok("defaults", u.role .. " " .. tostring(u.is_active))
ok("auto_now_add", u.created_at ~= nil and u.updated_at ~= nil)
ok("abstract mixin fields", User._meta.fields_map.created_at ~= nil)
local root = Category:create{ id = 1, name = "root" }
Category:create{ id = 2, name = "leaf", parent = root }
ok("self FK related_name", root.children:count())
ok("enum refused", pcall(User.create, User, { id = 2, email = "c@d", username = "c", password_hash = "x", role = "boss" }))

-- ## Values from the database
local Thing = Model:extend("ApiThing", {
  price = fields.DecimalField{ max_digits = 10, decimal_places = 2, default = "1.50" },
  at = fields.DatetimeField{ null = true },
  day = fields.DateField{ null = true },
  t = fields.TimeField{ null = true },
  dur = fields.TimeDeltaField{ null = true },
  key = fields.UUIDField{ null = true },
  doc = fields.JSONField{ null = true },
  raw = fields.BinaryField{ null = true },
  Meta = { table = "api_things" },
})
orm.connection():execute_script("DROP TABLE IF EXISTS api_things")
orm.generate_schemas()
local th = Thing:create{ price = orm.Decimal("2.25") + orm.Decimal("0.10"), at = "2026-11-25T10:15:35",
  day = "2026-11-25", t = "10:15:35", dur = orm.duration{ days = 1, seconds = 30, microseconds = 0 },
  key = "6F1C1A52-3B7E-4C7A-9D55-0C9E1F6A0001", doc = { a = { 1, 2 }, b = orm.null }, raw = "\0\1" }
th = Thing:get{ id = th.id }
ok("Decimal exact", th.price)
ok("datetime / date / time", tostring(th.at) .. " " .. tostring(th.day) .. " " .. tostring(th.t))
ok("duration", th.dur)
ok("UUID lower-case", th.key)
ok("JSON table", th.doc.a[2] .. " " .. tostring(th.doc.b == orm.null))
ok("Binary", #th.raw)
ok("datetime arithmetic", tostring(th.at + orm.duration{ days = 1 }))

-- Validators
local Priced = Model:extend("ApiPriced", {
  qty = fields.IntField{ validators = { orm.validators.MinValueValidator(0) } },
  Meta = { table = "api_priced" },
})
orm.connection():execute_script("DROP TABLE IF EXISTS api_priced")
orm.generate_schemas()
local vok, verr = pcall(Priced.create, Priced, { qty = -1 })
ok("MinValueValidator", tostring(vok) .. " " .. tostring(verr))

-- ## Transactions (their `...` filled in)
orm.in_transaction(function(conn) User:create{ id = 3, email = "t@x", username = "t", password_hash = "x" } end)
ok("in_transaction commits", User:filter{ id = 3 }:count())
local rok = pcall(orm.in_transaction, function(conn)
  User:create{ id = 4, email = "r@x", username = "r", password_hash = "x" }
  error("boom")
end)
ok("in_transaction rolls back", tostring(rok) .. " " .. User:filter{ id = 4 }:count())
do local tx <close> = orm.transaction() User:filter{ id = 3 }:update{ bio = "in tx" } tx:commit() end
ok("transaction() commit", User:get{ id = 3 }.bio)
do local tx <close> = orm.transaction() User:filter{ id = 3 }:update{ bio = "lost" } end
ok("<close> rolls back", User:get{ id = 3 }.bio)
orm.in_transaction(function()
  orm.in_transaction(function() User:filter{ id = 3 }:update{ bio = "nested" } end)
end)
ok("nested savepoints", User:get{ id = 3 }.bio)
orm.in_transaction("default", function() User:filter{ id = 3 }:update{ bio = "named" } end)
ok("in_transaction(name, fn)", User:get{ id = 3 }.bio)

-- ## Signals
local seen = {}
orm.signals.pre_save(User, function(sender, instance, created, using_db, update_fields)
  seen[#seen + 1] = "pre_save:" .. sender._meta.name .. ":" .. tostring(created)
end)
orm.signals.post_save(User, function(sender, instance, created) seen[#seen + 1] = "post_save:" .. tostring(created) end)
orm.signals.pre_delete(User, function() seen[#seen + 1] = "pre_delete" end)
orm.signals.post_delete(User, function() seen[#seen + 1] = "post_delete" end)
local s = User:create{ id = 5, email = "s@x", username = "s", password_hash = "x" }
s:delete()
ok("signals", table.concat(seen, ","))

-- ## Errors and testing helpers
local eok, e = pcall(User.create, User, { id = 1, email = "a@b.example", username = "dup", password_hash = "x" })
ok("IntegrityError:is", orm.exceptions.IntegrityError:is(e))
ok("User.DoesNotExist", orm.exceptions.DoesNotExist:is(select(2, pcall(User.get, User, { id = 99 }))))
for _, t in ipairs{ "users", "categories", "api_things", "api_priced" } do drop(t) end
print(n .. " examples ran")
