-- json.lua -- JSON text <-> Lua values for JSONField (orm.null is JSON null).
local orm, C = ...
local state = C.state
local null = orm.null

local concat, format, byte, char = table.concat, string.format, string.byte, string.char
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

-- Decoding ----------------------------------------------------------------

local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function fail(s, i, what)
  error(format("invalid JSON at position %d: %s", i, what), 0)
end

local function utf8char(cp)
  return utf8.char(cp)
end

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then fail(s, j, "unterminated string") end
    if c == '"' then return concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
                    ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
      if map[e] then
        out[#out + 1] = map[e]
        j = j + 2
      elseif e == "u" then
        local hex = s:sub(j + 2, j + 5)
        if not hex:match("^%x%x%x%x$") then fail(s, j, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
          local lo = tonumber(s:sub(j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            j = j + 6
          end
        end
        out[#out + 1] = utf8char(cp)
      else
        fail(s, j, "bad escape")
      end
    else
      local k = s:find('["\\]', j)
      if not k then fail(s, j, "unterminated string") end
      local chunk = s:sub(j, k - 1)
      if chunk:find("%c") then fail(s, j, "control character in string") end
      out[#out + 1] = chunk
      j = k
    end
  end
end

function decode_value(s, i, depth)
  if depth > 200 then fail(s, i, "nested too deeply") end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return t, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      local v
      v, i = decode_value(s, i + 1, depth + 1)
      t[k] = v
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return t, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local t, n = {}, 0
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return t, i + 1 end
    while true do
      local v
      v, i = decode_value(s, i, depth + 1)
      n = n + 1
      t[n] = v
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return t, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if not num or num == "" or num == "-" then fail(s, i, "unexpected character") end
    local v = math.tointeger(tonumber(num)) or tonumber(num)
    if num:find("[.eE]") then v = tonumber(num) end
    if v == nil then fail(s, i, "bad number") end
    return v, i + #num
  end
end

local function decode(s)
  local v, i = decode_value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then fail(s, i, "trailing characters") end
  return v
end

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
