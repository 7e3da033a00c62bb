-- tx.lua -- orm.in_transaction(fn) and orm.transaction() (a to-be-closed
-- transaction object); nested ones use savepoints (the core's begin).
local orm, C = ...
local E = orm.exceptions

local Tx = {}
Tx.__name = "testudo.Transaction"

-- A transaction object is also its connection: what it does not define
-- itself (execute_query, dialect, ...) goes to the connection.
function Tx.__index(self, k)
  local m = Tx[k]
  if m ~= nil then return m end
  local conn = rawget(self, "connection")
  local v = conn and conn[k]
  if type(v) == "function" then
    return function(s, ...)
      if s == self then s = conn end
      return v(s, ...)
    end
  end
  return v
end

local function new_tx(name)
  C.begin(name)
  return setmetatable({ name = name, done = false,
                        connection = orm.connection(name) }, Tx)
end

-- orm.in_transaction([name,] fn): fn(tx) runs in a transaction (a
-- savepoint when nested) committed when it returns, rolled back when it
-- raises; tx:commit() / tx:rollback() inside end it at once (the end
-- then does nothing; a second one is a TransactionManagementError), as
-- Tortoise's in_transaction() connection does.
function orm.in_transaction(name, fn)
  if type(name) == "function" then name, fn = nil, name end
  if type(fn) ~= "function" then
    error(E.ParamsError("in_transaction takes a function"), 2)
  end
  name = name or orm._current_connection() or "default"
  local tx = new_tx(name)
  local res = table.pack(pcall(fn, tx))
  if res[1] then
    if not tx.done then
      tx.done = true
      C.commit(name)
    end
    return table.unpack(res, 2, res.n)
  end
  if not tx.done then
    tx.done = true
    pcall(C.rollback, name)
  end
  error(res[2], 0)
end

function Tx:commit()
  if self.done then
    error(E.TransactionManagementError("transaction already finished"), 2)
  end
  self.done = true
  C.commit(self.name)
end

function Tx:rollback()
  if self.done then
    error(E.TransactionManagementError("transaction already finished"), 2)
  end
  self.done = true
  C.rollback(self.name)
end

function Tx:execute_query(sql, params)
  return self.connection:execute_query(sql, params)
end

function Tx:execute_script(sql)
  return self.connection:execute_script(sql)
end

function Tx.__close(self)
  if not self.done then
    self.done = true
    pcall(C.rollback, self.name)
  end
end

function Tx.__tostring(self)
  return ("<Transaction %s%s>"):format(self.name, self.done and " (done)" or "")
end

function orm.transaction(name)
  return new_tx(name or orm._current_connection() or "default")
end

-- orm._in_transaction([name]) -> true while a transaction is open on the
-- connection (the shell's `testudo*>` prompt asks).
function orm._in_transaction(name)
  return C.tx_depth(name or orm._current_connection()) > 0
end

-- orm._end_transaction(name, commit): commits (or rolls back) the
-- innermost transaction open on the connection, whoever began it (the
-- shell's .commit and .rollback).
function orm._end_transaction(name, commit)
  name = name or orm._current_connection() or "default"
  if commit then C.commit(name) else C.rollback(name) end
end

-- orm._tx_depth(name): open transactions (savepoints) on the connection.
function orm._tx_depth(name)
  return C.tx_depth(name or orm._current_connection())
end

-- orm._set_read_only(): every session of every connection refuses
-- writes from now on, as the database enforces it (the shell's
-- --read-only).
function orm._set_read_only()
  C.set_read_only()
end
