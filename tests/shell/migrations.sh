#!/bin/sh
# migrations.sh -- the migration commands as a new user meets them, on
# SQLite: db init records the settings in testudo.lua, init-db makes the
# tables and the first migration, migrate writes the next one (a rename
# confirmed on stdin, "no changes" when there are none), upgrade applies
# it (--dry-run prints the SQL), history / heads list them, downgrade
# reverts with the rows kept; and .db in the shell.
. "$TESTUDO_ROOT/tests/shell/lib.sh"

P="$D/proj"
rm -rf "$P"
mkdir -p "$P"
cd "$P" || exit 1
cat >models.lua <<'LUA'
local orm = require "testudo"
local f = orm.fields
local M = {}
M.Author = orm.Model:extend("Author", { name = f.CharField{ max_length = 50 }, Meta = { table = "authors" } })
return M
LUA
cat >testudo.lua <<'LUA'
return {
  db_url = "sqlite://app.db",
  apps = { models = { models = { "models" } } },
}
LUA

run db init
expect_rc "db init exits 0" 0
out_has "db init says where migrations go" '^Migrations of app models go in migrations'
if grep -q 'migrations = { location = "migrations", app = "models" }' testudo.lua && [ -d migrations ]; then
    ok "db init records the settings in testudo.lua and makes the folder"
else notok "db init records the settings in testudo.lua and makes the folder"; fi

run db init-db
expect_rc "db init-db exits 0" 0
out_has "db init-db names the first migration" 'migrations/0000_init\.lua'
run -e 'Author:create{ name = "Ann" }' -e 'Author:count()'
out_has "the table init-db made takes rows" '^1$'

run db migrate
out_is "db migrate with the models unchanged: no changes" "No changes."

sed -i 's/max_length = 50 }/max_length = 50 }, bio = f.TextField{ null = true }/' models.lua
run db migrate --name bio
out_has "db migrate --name writes the next migration" 'Wrote migrations/0001_bio\.lua'
run db heads
out_has "db heads lists it" '^0001_bio  \(not applied\)$'
run db upgrade --dry-run
out_has "upgrade --dry-run prints the SQL" '^ALTER TABLE "authors" ADD COLUMN "bio" TEXT;$'
run db history
out_has "--dry-run applied nothing" '^0001_bio  \(not applied\)$'
run db upgrade
expect_rc "db upgrade exits 0" 0
out_has "db upgrade says what it applied" '^Applied 0001\.$'
err_has "db upgrade shows its progress on stderr" '\[1/1\] ALTER TABLE'
run -e 'Author:get{ name = "Ann" }:update_from_dict{ bio = "b" }:save()' -e 'Author:get{ name = "Ann" }.bio'
out_has "the new column takes values, the old rows kept" '^b$'

sed -i 's/bio = f.TextField/about = f.TextField/' models.lua
pipe 'y
' db migrate --name about
out_has "db migrate asks about a rename" 'Rename field authors\.bio to about\? \[y/N\]'
if grep -q 'RENAME COLUMN "bio" TO "about"' migrations/0002_about.lua; then
    ok "a confirmed rename is a RENAME COLUMN, not a drop and an add"
else notok "a confirmed rename is a RENAME COLUMN, not a drop and an add"; fi
run db upgrade
run -e 'Author:get{ name = "Ann" }.about'
out_has "the renamed column keeps its values" '^b$'

run db downgrade --dry-run
out_has "downgrade --dry-run names the migration it would revert" '^-- 0002_about$'
out_has "downgrade --dry-run prints its SQL" 'RENAME COLUMN "about" TO "bio";$'
run db downgrade
out_has "downgrade asks first; no answer: nothing done" 'Nothing done\.$'
run db downgrade -y
out_has "db downgrade reverts the last migration" '^Reverted 0002\.$'
run -e 'orm.connection():execute_query("SELECT bio FROM authors")[1].bio'
out_has "downgrade gave the column its old name and values back" '^b$'
pipe '.db history
' --no-color
out_has ".db history in the shell lists the migrations" '0002_about  \(not applied\)'

run db downgrade --version 0000 -y
out_has "downgrade --version reverts every migration after it" '^Reverted 0001\.$'
run db migrate --empty --name by_hand
out_has "migrate --empty writes a migration to fill in by hand" 'Wrote migrations/0003_by_hand\.lua'
if grep -q '^  upgrade = {$' migrations/0003_by_hand.lua && [ "$(sed -n '/^  upgrade = {$/{n;p}' migrations/0003_by_hand.lua)" = "  }," ]; then
    ok "an empty migration has no statements"
else notok "an empty migration has no statements"; fi
run db frobnicate
expect_rc "an unknown db command exits 1" 1
err_has "an unknown db command prints the usage" 'usage: db COMMAND'

exit "$fails"
