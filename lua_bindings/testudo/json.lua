-- json.lua -- JSON text <-> Lua values for JSONField (orm.null is JSON null):
-- parsed by jansson (C.json_decode), written here.
local orm, C = ...
local state = C.state
local null = orm.null

local concat, format = table.concat, string.format
local mtype = math.type

-- Strings are quoted by the core (tdo_json_quote): one JSON quoting for
-- the bindings and the shell.
local encode_string = C.json_quote

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if mtype(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local encode

-- lenient (for display): what JSON cannot hold becomes text or null
-- instead of an error, nesting is cut at 50 levels, and an empty table
-- is [].
local function encode_value(v, out, depth, lenient)
  if lenient and depth > 50 then out[#out + 1] = '"..."' return end
  if depth > 100 then error("JSON value nested too deeply", 0) end
  local t = type(v)
  if v == nil or v == null then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if mtype(v) == "integer" then
      out[#out + 1] = format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      if lenient then out[#out + 1] = "null" return end
      error("cannot encode a non-finite number as JSON", 0)
    else
      local s = format("%.17g", v)
      if tonumber(format("%.15g", v)) == v then s = format("%.15g", v) end
      out[#out + 1] = s
    end
  elseif t == "string" then
    out[#out + 1] = encode_string(v)
  elseif t == "table" and getmetatable(v) == nil then
    if is_array(v) or (lenient and next(v) == nil) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode_value(v[i], out, depth + 1, lenient)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" and type(k) ~= "number" and not lenient then
          error("JSON object keys must be strings", 0)
        end
        keys[#keys + 1] = tostring(k)
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode_value(val, out, depth + 1, lenient)
      end
      out[#out + 1] = "}"
    end
  elseif t == "userdata" or t == "table" then
    -- Decimal as a number, dates and durations as ISO strings
    local name = (getmetatable(v) or {}).__name
    if name == "Decimal" then
      out[#out + 1] = tostring(v)
    else
      out[#out + 1] = encode_string(tostring(v))
    end
  elseif lenient then
    out[#out + 1] = encode_string(tostring(v))
  else
    error("cannot encode a " .. t .. " as JSON", 0)
  end
end

function encode(v, lenient)
  local out = {}
  encode_value(v, out, 0, lenient)
  return concat(out)
end

-- Decoding: jansson (lua_bindings/ljson.c), the project's JSON library.
local decode = C.json_decode

state.json_encode = function(v)
  local ok, res = pcall(encode, v)
  if not ok then
    error(orm.exceptions.FieldError("cannot store as JSON: " .. tostring(res)), 0)
  end
  return res
end
state.json_decode = decode
state.json_check = function(s)
  return (pcall(decode, s))
end
C.json = { encode = encode, decode = decode }
-- orm._json_encode(v, lenient): the encoder the shell displays with
orm._json_encode = encode
