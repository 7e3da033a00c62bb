-- shop/models.lua -- the shop of the Tortoise ORM overview, in testudo's Lua.
--
-- Load it as a module while the app `models` is current:
--     orm.init{ db_url = "sqlite://shop.db",
--               apps = { models = { models = { "shop.models" } } } }
-- It returns the concrete models by name: { User = User, Category = ..., }.

local orm = rawget(_G, "orm") or require "testudo"
local fields, Model = orm.fields, orm.Model

-- MinValueValidator(0) on stock, when the validators are there.
local stock_validators
if orm.validators and orm.validators.MinValueValidator then
  stock_validators = { orm.validators.MinValueValidator(0) }
end

-- Adds created_at and updated_at to the models that extend it.
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
  role          = fields.CharEnumField{
    enum_type = { "user", "admin", "editor", "archived" },
    max_length = 20, default = "user",
  },
  is_active     = fields.BooleanField{ default = true },
  bio           = fields.TextField{ null = true },
  -- orders: the reverse relation of Order.customer
  Meta = { table = "users", indexes = { { "email", "is_active" }, { "role" } } },
  __tostring = function(self)
    return ("User(id=%s, email=%s)"):format(tostring(self.id), tostring(self.email))
  end,
})

local Category = Model:extend("Category", {
  id     = fields.IntField{ primary_key = true },
  name   = fields.CharField{ max_length = 100, unique = true },
  slug   = fields.CharField{ max_length = 100, unique = true },
  parent = fields.ForeignKeyField{ "models.Category", null = true, related_name = "children" },
  Meta = { table = "categories" },
})

local Product = TimestampMixin:extend("Product", {
  id           = fields.IntField{ primary_key = true },
  name         = fields.CharField{ max_length = 255, index = true },
  description  = fields.TextField{ default = "" },
  price        = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  stock        = fields.IntField{ default = 0, validators = stock_validators },
  is_available = fields.BooleanField{ default = true },
  category     = fields.ForeignKeyField{ "models.Category", related_name = "products" },
  tags         = fields.ManyToManyField{ "models.Tag", related_name = "products" },
  Meta = { table = "products" },
})

local Tag = Model:extend("Tag", {
  id   = fields.IntField{ primary_key = true },
  name = fields.CharField{ max_length = 50, unique = true },
  Meta = { table = "tags" },
})

local Order = TimestampMixin:extend("Order", {
  id           = fields.IntField{ primary_key = true },
  order_number = fields.CharField{ max_length = 50, unique = true },
  customer     = fields.ForeignKeyField{ "models.User", related_name = "orders" },
  status       = fields.CharField{ max_length = 20, default = "pending" },
  total        = fields.DecimalField{ max_digits = 10, decimal_places = 2, default = 0 },
  Meta = { table = "orders" },
})

local OrderLine = Model:extend("OrderLine", {
  id         = fields.IntField{ primary_key = true },
  order      = fields.ForeignKeyField{ "models.Order", related_name = "lines" },
  product    = fields.ForeignKeyField{ "models.Product", related_name = "order_lines" },
  quantity   = fields.IntField{},
  unit_price = fields.DecimalField{ max_digits = 10, decimal_places = 2 },
  Meta = { table = "order_lines" },
})

-- The concrete models (TimestampMixin is abstract: it has no table).
return {
  User = User,
  Category = Category,
  Product = Product,
  Tag = Tag,
  Order = Order,
  OrderLine = OrderLine,
}
