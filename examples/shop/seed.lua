-- shop/seed.lua -- sample data for the shop models (testudo --demo runs it).
--
-- Runs with `orm` as a global, after orm.init and orm.generate_schemas:
-- 12 users, a category tree, 20 products, 5 tags, 15 orders and their lines.
-- Timestamps are given explicitly so ordering by created_at means something.

local orm = rawget(_G, "orm") or require "testudo"
local ok, M = pcall(require, "shop.models")
if not ok or type(M) ~= "table" then M = orm.apps.models end
local User, Category, Product, Tag, Order, OrderLine =
  M.User, M.Category, M.Product, M.Tag, M.Order, M.OrderLine
local D = orm.Decimal

-- Users: username, role, is_active, bio (nil: none), created_at.
local users = {}
for _, u in ipairs{
  { "alice",   "admin",    true,  "Runs the shop.",              "2025-01-03 09:15:00" },
  { "bob",     "user",     true,  nil,                           "2025-01-11 14:02:31" },
  { "carol",   "editor",   true,  "Writes the product pages.",   "2025-01-20 08:45:10" },
  { "dave",    "user",     false, nil,                           "2025-02-02 17:30:00" },
  { "erin",    "user",     true,  "Board games and tea.",        "2025-02-14 12:00:00" },
  { "frank",   "archived", false, "Left in March.",              "2025-02-28 23:59:59" },
  { "grace",   "editor",   true,  nil,                           "2025-03-09 10:10:10" },
  { "heidi",   "user",     true,  "Buys keyboards. Many.",       "2025-03-21 16:45:00" },
  { "ivan",    "user",     false, nil,                           "2025-04-01 07:05:00" },
  { "judy",    "admin",    true,  "Handles refunds.",            "2025-04-18 13:20:00" },
  { "mallory", "user",     true,  nil,                           "2025-05-05 19:00:00" },
  { "oscar",   "user",     true,  "50% coffee, 50% code.",       "2025-05-30 11:11:11" },
} do
  local name = u[1]
  users[name] = User:create{
    email = name .. "@example.com",
    username = name,
    password_hash = "pbkdf2_sha256$demo$" .. name,
    role = u[2],
    is_active = u[3],
    bio = u[4],
    created_at = u[5],
  }
end

-- A category tree: two roots with children, one grandchild.
local cats = {}
for _, c in ipairs{
  { "Electronics",  "electronics",  nil },
  { "Computers",    "computers",    "electronics" },
  { "Peripherals",  "peripherals",  "computers" },
  { "Audio",        "audio",        "electronics" },
  { "Home",         "home",         nil },
  { "Kitchen",      "kitchen",      "home" },
  { "Clothing",     "clothing",     nil },
  { "Games",        "games",        nil },
} do
  local parent = c[3] and cats[c[3]]
  cats[c[2]] = Category:create{
    name = c[1], slug = c[2], parent_id = parent and parent.id or nil,
  }
end

-- Products: name, category slug, price, stock, is_available, created_at.
local products = {}
for i, p in ipairs{
  { "Laptop Pro 14",         "computers",   "1899.00", 7,   true,  "2025-01-05 10:00:00" },
  { "Laptop Air 13",         "computers",   "1199.00", 0,   false, "2025-01-06 10:00:00" },
  { "Mechanical Keyboard",   "peripherals", "129.00",  25,  true,  "2025-01-10 09:00:00" },
  { "Ergonomic Keyboard",    "peripherals", "249.00",  8,   true,  "2025-01-12 09:30:00" },
  { "Keyboard Cleaning Kit", "peripherals", "12.50",   40,  true,  "2025-01-15 11:00:00" },
  { "Wireless Mouse",        "peripherals", "39.99",   60,  true,  "2025-01-18 15:00:00" },
  { "27in Monitor",          "peripherals", "329.00",  5,   true,  "2025-02-01 08:00:00" },
  { "USB-C Hub",             "peripherals", "45.00",   0,   true,  "2025-02-03 12:00:00" },
  { "Noise-Cancelling Headphones", "audio", "299.00",  12,  true,  "2025-02-10 10:30:00" },
  { "Bookshelf Speakers",    "audio",       "189.50",  3,   true,  "2025-02-20 14:00:00" },
  { "Espresso Machine",      "kitchen",     "549.00",  4,   true,  "2025-03-01 09:00:00" },
  { "Chef's Knife",          "kitchen",     "79.00",   15,  true,  "2025-03-02 09:00:00" },
  { "Cast Iron Pan",         "kitchen",     "42.00",   22,  true,  "2025-03-05 13:00:00" },
  { "Desk Lamp",             "home",        "34.90",   18,  true,  "2025-03-12 16:00:00" },
  { "100% Cotton T-Shirt",   "clothing",    "19.99",   100, true,  "2025-03-20 10:00:00" },
  { "Rain_Jacket",           "clothing",    "89.00",   9,   true,  "2025-04-02 10:00:00" },
  { "Wool Socks",            "clothing",    "12.00",   0,   false, "2025-04-10 10:00:00" },
  { "Chess Set",             "games",       "59.00",   6,   true,  "2025-04-15 18:00:00" },
  { "Strategy Board Game",   "games",       "44.95",   11,  true,  "2025-05-01 18:00:00" },
  { "Jigsaw Puzzle 1000pc",  "games",       "24.00",   14,  true,  "2025-05-20 18:00:00" },
} do
  products[i] = Product:create{
    name = p[1],
    description = p[1] .. " from the demo catalogue.",
    category_id = cats[p[2]].id,
    price = D(p[3]),
    stock = p[4],
    is_available = p[5],
    created_at = p[6],
  }
end

-- Tags, linked to products only once many-to-many relations exist.
local tags = {}
for _, name in ipairs{ "new", "sale", "gift", "bestseller", "eco" } do
  tags[name] = Tag:create{ name = name }
end
local function can_link(product)
  local has, mgr = pcall(function() return product.tags end)
  if not has or mgr == nil then return false end
  local t = type(mgr)
  if t ~= "table" and t ~= "userdata" then return false end
  local got, add = pcall(function() return mgr.add end)
  return got and add ~= nil
end
if can_link(products[1]) then
  local links = {
    [1] = { "new", "bestseller" }, [3] = { "bestseller", "gift" },
    [4] = { "new" }, [9] = { "gift", "bestseller" }, [11] = { "gift" },
    [15] = { "sale", "eco" }, [17] = { "sale", "eco" }, [18] = { "gift" },
    [19] = { "new", "gift" }, [20] = { "sale" },
  }
  for i, names in pairs(links) do
    local list = {}
    for k, n in ipairs(names) do list[k] = tags[n] end
    products[i].tags:add(table.unpack(list))
  end
end

-- Orders: number, customer, status, created_at, lines {product index, qty}.
for i, o in ipairs{
  { "alice",   "delivered", "2025-03-01 10:00:00", { { 3, 1 }, { 6, 2 } } },
  { "alice",   "delivered", "2025-03-15 12:30:00", { { 11, 1 } } },
  { "alice",   "shipped",   "2025-04-20 09:00:00", { { 18, 1 }, { 19, 1 } } },
  { "alice",   "paid",      "2025-05-28 17:45:00", { { 7, 2 } } },
  { "alice",   "pending",   "2025-06-02 08:15:00", { { 5, 3 } } },
  { "bob",     "delivered", "2025-02-10 11:00:00", { { 1, 1 } } },
  { "bob",     "cancelled", "2025-03-03 15:20:00", { { 2, 1 } } },
  { "carol",   "pending",   "2025-06-01 20:00:00", { { 15, 4 }, { 16, 1 } } },
  { "erin",    "delivered", "2025-03-22 10:40:00", { { 18, 1 }, { 20, 2 } } },
  { "erin",    "paid",      "2025-05-12 14:00:00", { { 12, 1 }, { 13, 1 } } },
  { "heidi",   "shipped",   "2025-04-05 09:30:00", { { 3, 2 }, { 4, 1 }, { 5, 1 } } },
  { "heidi",   "pending",   "2025-05-30 22:10:00", { { 4, 1 } } },
  { "judy",    "delivered", "2025-04-25 13:00:00", { { 9, 1 } } },
  { "mallory", "cancelled", "2025-05-08 16:00:00", { { 10, 2 } } },
  { "oscar",   "pending",   "2025-06-03 07:30:00", { { 14, 1 }, { 15, 2 } } },
} do
  local total = D"0"
  for _, l in ipairs(o[4]) do
    total = total + products[l[1]].price * D(l[2])
  end
  local order = Order:create{
    order_number = ("ORD-%04d"):format(i),
    customer_id = users[o[1]].id,
    status = o[2],
    total = total,
    created_at = o[3],
  }
  local lines = {}
  for k, l in ipairs(o[4]) do
    local p = products[l[1]]
    lines[k] = OrderLine{
      order_id = order.id, product_id = p.id, quantity = l[2], unit_price = p.price,
    }
  end
  OrderLine:bulk_create(lines)
end
