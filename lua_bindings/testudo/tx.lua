-- tx.lua -- orm.in_transaction(fn) and orm.transaction() (a to-be-closed
-- transaction object); nested ones use savepoints (the core's begin).
local orm, C = ...
local E = orm.exceptions

function orm.in_transaction(name, fn)
  if type(name) == "function" then name, fn = nil, name end
  if type(fn) ~= "function" then
    error(E.ParamsError("in_transaction takes a function"), 2)
  end
  name = name or orm._current_connection() or "default"
  C.begin(name)
  local conn = orm.connection(name)
  local res = table.pack(pcall(fn, conn))
  if res[1] then
    C.commit(name)
    return table.unpack(res, 2, res.n)
  end
  pcall(C.rollback, name)
  error(res[2], 0)
end

local Tx = {}
Tx.__index = Tx
Tx.__name = "testudo.Transaction"

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
  name = name or orm._current_connection() or "default"
  C.begin(name)
  return setmetatable({ name = name, done = false,
                        connection = orm.connection(name) }, Tx)
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
