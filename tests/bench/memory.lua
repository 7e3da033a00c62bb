-- memory.lua MODE URL N -- the memory half of `make bench`, one process
-- per measure so that each peak is its own: `fill` makes N rows of the
-- workload's model (bench_row, ten fields of mixed types) at URL; `iter`
-- streams them (`for r in Row:all():iter()`); `list` loads them all as
-- instances (`Row:all():list()`).  iter and list print "ROWS BASE PEAK":
-- the rows seen, the process's resident memory before the query and its
-- peak (VmHWM), in KB.  Run with lua5.4 and build/testudo.so on the path.
local mode, url, n = arg[1], arg[2], tonumber(arg[3])
assert(mode and url and n, "usage: memory.lua fill|iter|list URL N")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local W = dofile(dir .. "/workload.lua")
local orm = require "testudo"
local Row = W.Row

local function kb(key)
  local fh = assert(io.open("/proc/self/status"))
  local s = fh:read("a")
  fh:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end

if mode == "fill" then
  W.open(url)
  local batch = 10000
  for first = 1, n, batch do
    local list = {}
    for i = first, math.min(n, first + batch - 1) do list[#list + 1] = Row(W.values_of(i)) end
    Row:bulk_create(list)
  end
  W.close()
  return
end

W.url = url
orm.init{ db_url = url }
assert(Row:all():count() == n, "memory.lua: run fill first")
collectgarbage()
local base, rows = kb("VmRSS"), 0
if mode == "iter" then
  for r in Row:all():iter() do
    rows = rows + 1
    if r.id == nil then error("no id") end
  end
elseif mode == "list" then
  local all = Row:all():list()
  rows = #all
else
  error("memory.lua: unknown mode " .. mode)
end
io.write(rows, " ", base, " ", kb("VmHWM"), "\n")
W.close()
