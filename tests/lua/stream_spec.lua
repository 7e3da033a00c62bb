-- Streaming spec (issue 12): qs:iter() reads its rows from the server as
-- the loop goes (libpq's single-row mode, MySQL's unbuffered fetch;
-- SQLite steps its statement), in about the memory of one row.  The
-- session is the loop's while it streams, so anything else run on it
-- (inside a transaction the loop's body always shares it) first reads
-- the rest of the rows ahead; every loop must see every row once, in
-- order, whatever runs in its body.
local orm = require "testudo"
local f, Model = orm.fields, orm.Model

local TEST_URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local N = 600

local Item = Model:extend("StItem", {
  n = f.IntField{},
  label = f.CharField{ max_length = 40 },
  note = f.TextField{ null = true },
  Meta = { table = "st_items", ordering = { "n" } },
})

local function ns(qs)
  local out = {}
  for it in qs:iter() do out[#out + 1] = it.n end
  return out
end

local function range(a, b)
  local out = {}
  for i = a, b do out[#out + 1] = i end
  return out
end

-- Resident memory of this process, in KB (Linux).
local function rss_kb()
  local fh = io.open("/proc/self/status")
  if not fh then return nil end
  local s = fh:read("a")
  fh:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

describe("streaming iter()", function()
  setup(function()
    orm.init{ db_url = TEST_URL, apps = { models = { models = { Item } } } }
    orm._drop_tables{ "st_items" }
    orm.generate_schemas()
  end)
  teardown(function() orm.close_connections() end)

  before_each(function()
    Item:all():delete()
    local rows = {}
    for i = 1, N do
      local note = "note " .. i
      if i % 7 == 0 then note = nil end
      rows[i] = Item{ n = i, label = "item " .. i, note = note }
    end
    Item:bulk_create(rows)
  end)

  it("reads every row once, in order, with its values", function()
    local seen, nulls = 0, 0
    for it in Item:all():iter() do
      seen = seen + 1
      assert.equal(seen, it.n)
      assert.equal("item " .. seen, it.label)
      if it.note == nil then nulls = nulls + 1 else assert.equal("note " .. seen, it.note) end
    end
    assert.equal(N, seen)
    assert.equal(N // 7, nulls)
  end)

  it("saves in the loop's body inside a transaction (the same session)", function()
    orm.in_transaction(function()
      local k = 0
      for it in Item:all():iter() do
        k = k + 1
        it.label = "saved " .. it.n
        it:save()
      end
      assert.equal(N, k)
    end)
    assert.equal(N, Item:filter{ label__startswith = "saved " }:count())
    assert.equal("saved 17", Item:get{ n = 17 }.label)
  end)

  it("runs other queries in the body, outside a transaction too", function()
    local k = 0
    for it in Item:filter{ n__lte = 50 }:iter() do
      k = k + 1
      assert.equal(it.n, Item:get{ n = it.n }.n)
      assert.equal(N, Item:all():count())
    end
    assert.equal(50, k)
  end)

  it("nests loops over the same session", function()
    orm.in_transaction(function()
      local pairs_n = 0
      for a in Item:filter{ n__lte = 20 }:iter() do
        for b in Item:filter{ n__lte = 20 }:iter() do
          pairs_n = pairs_n + 1
          assert.is_true(a.n >= 1 and b.n >= 1)
        end
      end
      assert.equal(400, pairs_n)
      -- two loops stepped in turn
      local s1, s2 = Item:all():iter(), Item:all():order_by("-n"):iter()
      for i = 1, 10 do
        assert.equal(i, s1().n)
        assert.equal(N + 1 - i, s2().n)
      end
    end)
  end)

  it("stops early: the session serves the next statement, no row left behind", function()
    for it in Item:all():iter() do
      if it.n == 5 then break end
    end
    assert.equal(N, Item:all():count())
    assert.same(range(1, 3), ns(Item:filter{ n__lte = 3 }))
    -- a loop abandoned mid-way and never finished
    local step = Item:all():iter()
    assert.equal(1, step().n)
    assert.equal(2, step().n)
    assert.equal(N, Item:all():count())
    assert.equal(3, step().n) -- goes on from the rows read ahead
    step = nil
    collectgarbage()
    assert.same(range(1, 4), ns(Item:filter{ n__lte = 4 }))
  end)

  it("inside a transaction, a loop's rows read ahead survive a delete in its body", function()
    orm.in_transaction(function()
      local k = 0
      for it in Item:all():iter() do
        k = k + 1
        if k == 1 then Item:filter{ n__gt = 1 }:delete() end
      end
      assert.equal(N, k) -- the rows were already the loop's
      assert.equal(1, Item:all():count())
    end)
  end)

  it("an empty result ends at once", function()
    assert.same({}, ns(Item:filter{ n = -1 }))
    assert.equal(N, Item:all():count())
  end)

  it("values() and values_list() stream too", function()
    local k = 0
    for v in Item:all():values("n", "label"):iter() do
      k = k + 1
      assert.equal(k, v.n)
    end
    assert.equal(N, k)
    k = 0
    for n in Item:all():values_list("n", { flat = true }):iter() do
      k = k + 1
      assert.equal(k, n)
    end
    assert.equal(N, k)
  end)

  it("holds about one row in memory, not the whole result", function()
    if os.getenv("ASAN_OPTIONS") then return end -- freed memory is quarantined
    local big = string.rep("x", 900)
    Item:all():delete()
    local rows = {}
    for i = 1, 12000 do rows[i] = Item{ n = i, label = "r" .. i, note = big } end
    Item:bulk_create(rows)
    -- a process of its own reads them: its peak is the loop's
    local child = ([[
      package.cpath = %q
      local orm = require "testudo"
      local f = orm.fields
      local Item = orm.Model:extend("StItem", { n = f.IntField{},
        label = f.CharField{ max_length = 40 }, note = f.TextField{ null = true },
        Meta = { table = "st_items" } })
      orm.init{ db_url = %q, apps = { models = { models = { Item } } } }
      local function kb(key)
        local fh = io.open("/proc/self/status"); local s = fh:read("a"); fh:close()
        return tonumber(s:match(key .. ":%%s*(%%d+)"))
      end
      assert(Item:all():count() == 12000)
      collectgarbage()
      local base, k = kb("VmRSS"), 0
      for it in Item:all():iter() do
        k = k + 1
        if k %% 1000 == 0 then collectgarbage() end
      end
      io.write(k, " ", kb("VmHWM") - base)
    ]]):format(package.cpath, TEST_URL)
    if TEST_URL:match(":memory:") then return end -- not shared with a child
    local path = os.tmpname()
    local w = assert(io.open(path, "w"))
    w:write(child)
    w:close()
    local fh = assert(io.popen("lua5.4 " .. path .. " 2>&1"))
    local out = fh:read("a")
    fh:close()
    os.remove(path)
    local k, grew = out:match("^(%d+) (%-?%d+)$")
    assert.equal("12000", k, out)
    -- the whole result is more than 10 MB: a buffered read grows by that
    assert.is_true(tonumber(grew) < 4000,
      ("memory grew by %s KB while streaming 11 MB of rows"):format(grew))
  end)
end)
