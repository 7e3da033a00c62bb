#!/bin/sh
# introspect.sh -- `testudo DB_URL` on a database testudo did not create
# (issue 11): its tables and views become models at once (mixed-case
# names, a composite key holding foreign keys, a self-reference, a
# many-to-many join table, a view, defaults); queries through two foreign
# keys, aggregates over reverse relations and writes work; `testudo db
# inspectdb` prints models that, loaded with --no-introspect, give the
# same answers and the same .schema; a config's models win and
# introspection fills in the rest; .open introspects the new database;
# .tables marks tables without a model and models without a table.
# SQLite always; PostgreSQL and MariaDB when tests/run.sh has their URLs
# (TESTUDO_PG_URL, TESTUDO_MYSQL_URL; their databases are emptied, as the
# specs do): the same answers on all three.
# Environment (from tests/run.sh): TESTUDO, TESTUDO_TMP, TESTUDO_ROOT.

. "${TESTUDO_ROOT:?}/tests/shell/lib.sh"

# The schema, in double-quoted SQL (MariaDB gets backquotes).
cat >"$D/schema.sql" <<'SQL'
CREATE TABLE "Customer" ("CustomerId" INTEGER PRIMARY KEY, "Email" VARCHAR(80) NOT NULL UNIQUE,
  "ReferredBy" INTEGER REFERENCES "Customer" ("CustomerId"), status VARCHAR(10) NOT NULL DEFAULT 'new');
CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, price NUMERIC(8,2) NOT NULL,
  stock INTEGER NOT NULL DEFAULT 0);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL);
CREATE TABLE product_tags (product_id INTEGER NOT NULL REFERENCES products (id),
  tag_id INTEGER NOT NULL REFERENCES tags (id), PRIMARY KEY (product_id, tag_id));
CREATE TABLE orders (id INTEGER PRIMARY KEY, "CustomerId" INTEGER NOT NULL REFERENCES "Customer" ("CustomerId"),
  placed_at TIMESTAMP NULL);
CREATE TABLE order_lines (order_id INTEGER NOT NULL REFERENCES orders (id), line_no INTEGER NOT NULL,
  product_id INTEGER NOT NULL REFERENCES products (id), qty INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (order_id, line_no));
CREATE INDEX lines_product ON order_lines (product_id, qty);
CREATE VIEW customer_totals AS SELECT c."Email" AS email, COUNT(o.id) AS n
  FROM "Customer" c LEFT JOIN orders o ON o."CustomerId" = c."CustomerId" GROUP BY c."Email";
INSERT INTO "Customer" VALUES (1, 'ann@x.org', NULL, 'gold'), (2, 'bob@x.org', 1, 'new'), (3, 'cy@x.org', 1, 'new');
INSERT INTO products VALUES (1, 'Pen', 1.50, 10), (2, 'Ink', 4.25, 3);
INSERT INTO tags VALUES (1, 'office'), (2, 'blue'), (3, 'gift');
INSERT INTO product_tags VALUES (1, 1), (1, 2), (2, 1);
INSERT INTO orders VALUES (1, 1, NULL), (2, 1, NULL), (3, 2, NULL);
INSERT INTO order_lines VALUES (1, 1, 1, 2), (1, 2, 2, 1), (2, 1, 1, 5), (3, 1, 2, 1);
SQL

# The questions, one statement a line, answered in csv.
cat >"$D/ask.lua" <<'LUA'
OrderLine:filter{order__Customer__Email="ann@x.org"}:count()
OrderLine:filter{product__name="Pen"}:order_by("order_id","line_no"):values("order_id","line_no","qty","order__Customer__status")
Customer:annotate{n=Count("orders")}:order_by("CustomerId"):values("Email","n")
Customer:filter{ReferredBy__Email="ann@x.org"}:order_by("Email"):values_list("Email",{flat=true})
Tag:filter{product_tags__product__name="Pen"}:order_by("name"):values_list("name",{flat=true})
Product:annotate{sold=Sum("order_lines__qty")}:order_by("id"):values("name","sold")
CustomerTotal:order_by("email"):values("email","n")
OrderLine:get{order_id=1, line_no=2}.pk.line_no
local l = OrderLine:get{order_id=1, line_no=2}; l.qty = 9; l:save(); return OrderLine:filter{qty=9}:count()
OrderLine:filter{order_id=1}:order_by("line_no"):values_list("qty",{flat=true})
local c = Customer:create{CustomerId=4, Email="dee@x.org"}; return Customer:get{CustomerId=4}.status
Product:create{id=3, name="Cup", price="2.00"}.stock
select(2, pcall(function() CustomerTotal:create{email="x", n=1} end)).message:match("read%-only") ~= nil
LUA

# The answers on SQLite, as they must be on every backend.
cat >"$D/want" <<'EOF'
3
order_id,line_no,qty,order__Customer__status
1,1,2,gold
2,1,5,gold
Email,n
ann@x.org,2
bob@x.org,1
cy@x.org,0
Email
bob@x.org
cy@x.org
name
blue
office
name,sold
Pen,7
Ink,2
email,n
ann@x.org,2
bob@x.org,1
cy@x.org,0
2
1
qty
2
9
new
0
true
EOF

# setup URL -- (re)creates the schema; drop URL -- removes it.
setup() {
    drop "$1"
    if [ "${1%%:*}" = mysql ]; then
        sed -e 's/"/`/g' "$D/schema.sql" >"$D/schema.run"
    else
        cp "$D/schema.sql" "$D/schema.run"
    fi
    "$T" --no-introspect "$1" -e \
        'orm.connection():execute_script(io.open("schema.run"):read("a"))' \
        >"$D/out" 2>"$D/err"
}
drop() { # (the servers' test databases are emptied: every table)
    "$T" --no-introspect "$1" -e '
        local c = orm.connection()
        pcall(c.execute_script, c, "DROP VIEW customer_totals")
        orm._drop_tables(orm._tables())' >/dev/null 2>&1
}

# check LABEL URL -- the questions through introspected models, then
# through the models inspectdb printed.
check() {
    label=$1 url=$2
    setup "$url"
    [ -s "$D/err" ] && notok "$label: the schema is made"
    "$T" -f csv "$url" <"$D/ask.lua" >"$D/out" 2>"$D/err"
    if diff "$D/want" "$D/out" >"$D/diff"; then
        ok "$label: introspected models answer every question"
    else
        cat "$D/diff" >>"$D/err"
        notok "$label: introspected models answer every question"
    fi
    # the model names and their tables
    "$T" -f csv "$url" -e '.models' >"$D/out" 2>"$D/err"
    for pair in "Customer,Customer" "Product,products" "Tag,tags" \
        "ProductTag,product_tags" "Order,orders" \
        "OrderLine,order_lines" "CustomerTotal,customer_totals"; do
        grep -q "^$pair," "$D/out" || missing="$missing $pair"
    done
    [ -z "${missing:-}" ] && ok "$label: .models lists every model with its table" ||
        notok "$label: .models lists every model with its table (not:$missing)"
    missing=

    # inspectdb, then the printed models with --no-introspect
    setup "$url"
    "$T" db inspectdb "$url" >"$D/models.lua" 2>"$D/err"
    rc=$?
    expect_rc "$label: inspectdb exits 0" 0
    grep -q 'primary_key = { "order", "line_no" }' "$D/models.lua" &&
        grep -q 'read_only = true' "$D/models.lua" &&
        grep -q 'source_field = "ReferredBy"' "$D/models.lua" &&
        ok "$label: inspectdb prints the composite key, the view and the columns" ||
        { cp "$D/models.lua" "$D/out"; notok "$label: inspectdb prints the composite key, the view and the columns"; }
    "$T" -i --no-introspect -f csv "$url" "$D/models.lua" <"$D/ask.lua" >"$D/out" 2>"$D/err"
    if diff "$D/want" "$D/out" >"$D/diff"; then
        ok "$label: the printed models answer the same"
    else
        cat "$D/diff" >>"$D/err"
        notok "$label: the printed models answer the same"
    fi
    # the same models: every .schema alike, live and loaded
    schemas='.schema Customer
.schema Product
.schema Tag
.schema ProductTag
.schema Order
.schema OrderLine
.schema CustomerTotal
'
    printf '%s' "$schemas" | "$T" -f csv "$url" >"$D/live" 2>&1
    printf '%s' "$schemas" | "$T" -i --no-introspect -f csv "$url" "$D/models.lua" >"$D/loaded" 2>&1
    if diff "$D/live" "$D/loaded" >"$D/out" && grep -q "OrderLine" "$D/live"; then
        ok "$label: the printed models are the introspected ones"
    else
        notok "$label: the printed models are the introspected ones"
    fi
    drop "$url"
}

check sqlite "sqlite://$D/shop.db"
[ -n "${TESTUDO_PG_URL:-}" ] && check postgres "$TESTUDO_PG_URL"
[ -n "${TESTUDO_MYSQL_URL:-}" ] && check mariadb "$TESTUDO_MYSQL_URL"

# PostgreSQL's ?schema=: that schema alone is introspected and queried
if [ -n "${TESTUDO_PG_URL:-}" ]; then
    "$T" --no-introspect "$TESTUDO_PG_URL" -e 'orm.connection():execute_script([[
        DROP SCHEMA IF EXISTS "Shop Two" CASCADE; CREATE SCHEMA "Shop Two";
        CREATE TABLE "Shop Two".items (id INT PRIMARY KEY, name TEXT);
        INSERT INTO "Shop Two".items VALUES (1, '"'"'kettle'"'"')]])' >"$D/out" 2>"$D/err"
    case $TESTUDO_PG_URL in *\?*) sep='&' ;; *) sep='?' ;; esac
    run -f csv "$TESTUDO_PG_URL${sep}schema=Shop%20Two" -e '.tables' -e 'Item:get{id=1}.name'
    out_is "postgres ?schema=: that schema's tables alone" "table,kind,model,note
items,table,Item,
kettle"
    "$T" --no-introspect "$TESTUDO_PG_URL" -e \
        'orm.connection():execute_script([[DROP SCHEMA "Shop Two" CASCADE]])' >/dev/null 2>&1
fi

# --- the rest on SQLite ---------------------------------------------
DB=$D/shop.db
setup "sqlite://$DB"

run "$DB" -f table -e '.schema OrderLine' -e '.schema CustomerTotal'
out_has ".schema shows a composite key" '^primary key \(order, line_no\)$'
out_has ".schema shows a read-only model" '^read-only'

run --no-introspect "$DB" -f csv -e '.models'
out_is "--no-introspect: no models" "model,table,rows,fields"
run --no-introspect "$DB" -f csv -e '.tables'
out_has "--no-introspect: .tables marks a table without a model" '^orders,table,,no model$'
out_has ".tables lists the views" '^customer_totals,view,,no model$'

# a config's models win; introspected ones fill in, pointing at them
cat >"$D/testudo.lua" <<'LUA'
local orm = require "testudo"
orm.Model:extend("Client", {
  CustomerId = orm.fields.IntField{ primary_key = true },
  Email = orm.fields.CharField{ max_length = 80 },
  Meta = { table = "Customer" },
})
orm.Model:extend("Ghost", {
  Meta = { table = "ghosts" },
})
return { db_url = "sqlite://:memory:" }
LUA
(cd "$D" && "$T" "sqlite://$DB" -f csv -e '.models' -e \
    'Client:get{Email="ann@x.org"}.orders:count()' -e 'Order:get{id=3}.Customer.Email' \
    >"$D/out" 2>"$D/err" </dev/null)
out_has "a config's model keeps its table" '^Client,Customer,'
out_lacks "no second model for that table" '^Customer,'
out_has "introspected models fill in the rest" '^OrderLine,order_lines,'
out_has "their foreign keys lead to the config's model" '^2$'
out_has "... both ways" '^bob@x.org$'
(cd "$D" && "$T" "sqlite://$DB" -f csv -e '.tables' >"$D/out" 2>"$D/err" </dev/null)
out_has ".tables marks a model whose table is missing" '^ghosts,,Ghost,missing'
rm -f "$D/testudo.lua"

# a script's orm.init takes the introspected models (and globals) away
cat >"$D/reinit.lua" <<'LUA'
print(Customer ~= nil, orm.apps.models.Customer ~= nil)
orm.init{ db_url = "sqlite://:memory:" }
print(rawget(_G, "Customer") == nil, orm.apps.models.Customer == nil)
LUA
run "$DB" "$D/reinit.lua"
out_is "a script's orm.init drops the introspected models" "true	true
true	true"
pipe ".db inspectdb
" -i "$DB" "$D/reinit.lua"
expect_rc "after a script's orm.init, .db inspectdb works" 0
out_lacks "... and lists none of the dropped models" 'Model:extend'
out_has "... but the empty module" '^return M$'

# .db inspectdb in the shell: the same source, for the tables named
pipe ".db inspectdb --table orders
.db upgrade
" "$DB"
out_has ".db inspectdb prints the model of the table named" '^M.Order = Model:extend\("Order", \{$'
out_lacks ".db inspectdb prints only that table" 'Model:extend\("Customer"'
out_has ".db upgrade with no migrations says there is nothing to do" '^Nothing to upgrade\.$'

# .db inspectdb --table T where T has a declared model: says so
run -q --demo -e '.db inspectdb --table tags'
err_has ".db inspectdb: a table with a declared model is named as such" "table 'tags' has a declared model, Tag"

# .open introspects the new database and drops the old models
sqlite3 "$D/other.db" 'CREATE TABLE "Genre" ("GenreId" INTEGER PRIMARY KEY, "Name" TEXT); INSERT INTO "Genre" VALUES (1, '"'"'Rock'"'"')' 2>/dev/null ||
    "$T" "sqlite://$D/other.db" -e 'orm.connection():execute_script([[CREATE TABLE "Genre" ("GenreId" INTEGER PRIMARY KEY, "Name" TEXT); INSERT INTO "Genre" VALUES (1, '"'"'Rock'"'"')]])' >/dev/null 2>&1
pipe ".open $D/other.db
Genre:get{GenreId=1}.Name
Customer
" -f csv "$DB"
out_has ".open: the new database's models" '^Rock$'
err_has ".open: the old database's models are gone" "undefined global 'Customer'"
out_has ".open: says which models it made" '1 models? from the database'

drop "sqlite://$DB"
[ "$fails" -eq 0 ]
