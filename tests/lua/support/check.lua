-- check.lua -- assertions the specs share: catch(fn, ...) runs fn and
-- returns the error it must raise; is(class, err) checks the error's
-- class (orm.exceptions.X).
local assert = require "luassert" -- busted's, as in the specs

local M = {}

-- Runs fn(...), which must fail; returns its error.
function M.catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- Checks that err is of class (or a subclass of it).
function M.is(class, err)
  assert.is_true(class:is(err), "expected " .. tostring(class) .. ", got " .. tostring(err))
end

return M
