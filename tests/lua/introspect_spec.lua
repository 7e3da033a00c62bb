-- Introspection spec (issue 11): orm._introspect() declares models for
-- the tables and views of a database testudo did not create -- names
-- from the tables (singular CamelCase), fields from the columns, foreign
-- keys (named without their _id) with reverse relations, composite keys,
-- tables without a key, read-only views; mixed-case names (AlbumId ->
-- Album) are in tests/unit/test_introspect.c, since PostgreSQL folds
-- unquoted names to lower case -- and they query, follow relations and
-- write at once.  All three backends.
local orm = require "testudo"

local DDL = {
  "CREATE TABLE isp_artists (id INTEGER PRIMARY KEY, name VARCHAR(120) NOT NULL UNIQUE)",
  "CREATE TABLE isp_albums (album_id INTEGER PRIMARY KEY, title VARCHAR(50) NOT NULL, "
    .. "artist_id INTEGER NOT NULL REFERENCES isp_artists(id), price NUMERIC(10,2))",
  "CREATE TABLE isp_employees (id INTEGER PRIMARY KEY, name VARCHAR(40), "
    .. "manager_id INTEGER REFERENCES isp_employees(id))",
  "CREATE TABLE isp_tags (album_id INTEGER NOT NULL REFERENCES isp_albums(album_id), "
    .. "tag VARCHAR(20) NOT NULL, weight INTEGER, PRIMARY KEY (album_id, tag))",
  "CREATE TABLE isp_log (at_step INTEGER, note VARCHAR(20))",
  "CREATE VIEW isp_album_titles AS SELECT a.title AS title, r.name AS artist_name "
    .. "FROM isp_albums a JOIN isp_artists r ON r.id = a.artist_id",
  "INSERT INTO isp_artists VALUES (1, 'AC/DC'), (2, 'Accept')",
  "INSERT INTO isp_albums VALUES (1, 'For Those', 1, 9.99), (2, 'Balls', 2, 8.99), "
    .. "(3, 'Let There', 1, 7.50)",
  "INSERT INTO isp_employees VALUES (1, 'Andrew', NULL), (2, 'Nancy', 1), (3, 'Jane', 2)",
  "INSERT INTO isp_tags VALUES (1, 'rock', 1), (1, 'live', 2), (2, 'rock', 3)",
}

describe("introspection", function()
  local M, names, skipped
  setup(function()
    orm.testing.init{}
    local conn = orm.connection()
    for _, sql in ipairs(DDL) do conn:execute_script(sql) end
    names, skipped = orm._introspect("default", "inspected")
    M = orm.apps.inspected
  end)
  teardown(function()
    orm.connection():execute_script("DROP VIEW isp_album_titles")
    orm._drop_tables{ "isp_tags", "isp_log", "isp_albums", "isp_employees", "isp_artists" }
    orm.testing.finish()
  end)

  it("names a model per table and view, singular and CamelCase", function()
    table.sort(names)
    assert.are.same({ "IspAlbum", "IspAlbumTitle", "IspArtist", "IspEmployee",
                      "IspLog", "IspTag" }, names)
    assert.are.equal(0, skipped)
    assert.are.equal("isp_albums", M.IspAlbum._meta.db_table)
    assert.are.equal("album_id", M.IspAlbum._meta.pk_attr)
  end)

  it("types the fields from the columns", function()
    local f = M.IspAlbum._meta.fields_map
    assert.are.equal("CharField", f.title.field_type)
    assert.are.equal("DecimalField", f.price.field_type)
    assert.are.equal("ForeignKeyField", f.artist.field_type)
    assert.are.equal("CharField", M.IspArtist._meta.fields_map.name.field_type)
  end)

  it("reads, follows foreign keys and reverse relations", function()
    assert.are.equal(2, M.IspAlbum:filter{ artist__name = "AC/DC" }:count())
    local accept = M.IspArtist:get{ name = "Accept" }
    assert.are.equal(1, accept.isp_albums:count())
    assert.are.equal("Accept", M.IspAlbum:get{ album_id = 2 }.artist.name)
    assert.are.equal(orm.Decimal("7.50"), M.IspAlbum:get{ title = "Let There" }.price)
    -- a self-reference, through two keys
    assert.are.same({ "Jane" }, M.IspEmployee:filter{ manager__manager__name = "Andrew" }
      :values_list("name", { flat = true }):list())
    assert.are.equal(1, M.IspEmployee:get{ name = "Nancy" }.isp_employees:count())
  end)

  it("writes through the models", function()
    local accept = M.IspArtist:get{ name = "Accept" }
    M.IspAlbum:create{ album_id = 4, title = "Restless", artist = accept, price = "9.00" }
    assert.are.equal(2, accept.isp_albums:count())
    assert.are.equal(4, M.IspAlbum:filter{ artist_id = accept.pk }:order_by("-album_id"):first().album_id)
  end)

  it("takes a composite key: get, filters, pk as a table, saves by the whole key", function()
    local T = M.IspTag
    assert.are.same({ "album", "tag" }, T._meta.primary_key)
    assert.is_nil(T._meta.pk_attr)
    local t = T:get{ album_id = 1, tag = "live" }
    assert.are.equal(2, t.weight)
    assert.are.same({ album = 1, tag = "live" }, t.pk)
    assert.are.equal(t, T:get(t.pk))
    -- first / last order by the whole key
    assert.are.same({ album = 1, tag = "live" }, T:first().pk)
    assert.are.same({ album = 2, tag = "rock" }, T:last().pk)
    assert.are.same({ album = 2, tag = "rock" }, T:latest("album", "tag").pk)
    -- latest() names its fields (Tortoise: FieldError without them)
    assert.is_true(orm.exceptions.FieldError:is(select(2, pcall(T.latest, T))))
    assert.are.equal("For Those", t.album.title)
    t.weight = 7
    t:save()
    -- only that row changed: (1, rock) and (2, rock) keep their weights
    assert.are.same({ 1, 7, 3 }, T:all():order_by("album_id", "-tag")
      :values_list("weight", { flat = true }):list())
    assert.has_error(function() t.pk = { album = 2, tag = "x" } end)
    T:create{ album_id = 3, tag = "rock", weight = 4 }
    assert.are.equal(3, T:filter{ tag = "rock" }:count())
    T:get{ album_id = 1, tag = "rock" }:delete()
    assert.are.equal(2, T:filter{ tag = "rock" }:count())
    -- the reverse relation, and a path through it
    assert.are.equal(1, M.IspAlbum:get{ album_id = 1 }.isp_tags:count())
    assert.are.same({ "AC/DC", "Accept" }, M.IspArtist:filter{ isp_albums__isp_tags__tag = "rock" }
      :order_by("name"):values_list("name", { flat = true }):list())
    -- a queryset update through a relation picks rows by the whole key
    assert.are.equal(1, T:filter{ album__title = "Balls" }:update{ weight = 30 })
    assert.are.equal(30, T:get{ album_id = 2, tag = "rock" }.weight)
  end)

  it("takes a table without a key: reads and inserts", function()
    M.IspLog:create{ at_step = 1, note = "first" }
    assert.are.equal("first", M.IspLog:get{ at_step = 1 }.note)
    assert.is_nil(M.IspLog:get{ at_step = 1 }.pk)
    assert.are.equal(1, M.IspLog:filter{ at_step = 1 }:update{ note = "one" })
  end)

  it("reads views as read-only models", function()
    local V = M.IspAlbumTitle
    assert.is_true(V._meta.read_only)
    assert.are.same({ "Balls", "Restless" }, V:filter{ artist_name = "Accept" }
      :order_by("title"):values_list("title", { flat = true }):list())
    local ok, e = pcall(function() V:create{ title = "x", artist_name = "y" } end)
    assert.is_false(ok)
    assert.are.equal("OperationalError", e.class.name)
    assert.matches("read%-only", e.message)
    ok, e = pcall(function() V:filter{ title = "Balls" }:delete() end)
    assert.is_false(ok)
    assert.matches("read%-only", e.message)
    local row = V:get{ title = "Balls" }
    row.title = "z"
    ok, e = pcall(function() row:save() end)
    assert.is_false(ok)
    assert.matches("read%-only", e.message)
  end)

  it("introspecting again replaces the models, leaving declared ones", function()
    local Mine = orm.Model:extend("Mine", {
      id = orm.fields.IntField{ primary_key = true },
      name = orm.fields.CharField{ max_length = 120 },
      Meta = { app = "inspected", table = "isp_artists" },
    })
    local again, skipped2, replaced = orm._introspect("default", "inspected")
    assert.are.equal(1, skipped2)
    assert.are.equal(6, #replaced)
    table.sort(again)
    assert.are.same({ "IspAlbum", "IspAlbumTitle", "IspEmployee", "IspLog", "IspTag" }, again)
    assert.is_nil(M.IspArtist)
    -- the albums' foreign key now leads to the declared model
    local a = M.IspAlbum:get{ album_id = 2 }
    assert.are.equal(Mine, getmetatable(a.artist))
    assert.are.equal(2, Mine:get{ name = "AC/DC" }.isp_albums:count())
  end)
end)

-- A many-to-many join table, and each backend's less common column types.
local URL = os.getenv("TESTUDO_TEST_DB_URL") or "sqlite://:memory:"
local DIALECT = URL:match("^postgres") and "postgres" or URL:match("^mysql") and "mysql" or "sqlite"
local TYPES = {
  sqlite = {
    "CREATE TABLE isu_types (id INTEGER PRIMARY KEY, raw BLOB, ratio REAL, flag BOOLEAN, "
      .. "anything, at DATETIME, born DATE, big BIGINT, geo GEOMETRY)",
    "INSERT INTO isu_types VALUES (1, X'00FF', 0.5, 1, 'x', '2024-01-02 03:04:05', '2024-01-02', "
      .. "9007199254740993, 'POINT(1 2)')",
  },
  postgres = {
    "CREATE TABLE isu_types (id SERIAL PRIMARY KEY, raw BYTEA, ratio DOUBLE PRECISION, flag BOOLEAN, "
      .. "anything JSONB, at TIMESTAMP, born DATE, big BIGINT, geo INET, u UUID, span INTERVAL, "
      .. "t TIME, small SMALLINT)",
    "INSERT INTO isu_types (raw, ratio, flag, anything, at, born, big, geo, u, span, t, small) "
      .. "VALUES ('\\x00ff', 0.5, TRUE, '{\"a\": [1, 2]}', '2024-01-02 03:04:05', '2024-01-02', "
      .. "9007199254740993, '10.0.0.1', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '1 day 02:00:00', "
      .. "'12:30:00', 7)",
  },
  mysql = {
    "CREATE TABLE isu_types (id INT AUTO_INCREMENT PRIMARY KEY, raw BLOB, ratio DOUBLE, flag BOOLEAN, "
      .. "anything JSON, at DATETIME, born DATE, big BIGINT, geo ENUM('a', 'b'), t TIME, "
      .. "small SMALLINT, tiny TINYINT UNSIGNED)",
    "INSERT INTO isu_types (raw, ratio, flag, anything, at, born, big, geo, t, small, tiny) "
      .. "VALUES (X'00FF', 0.5, TRUE, '{\"a\": [1, 2]}', '2024-01-02 03:04:05', '2024-01-02', "
      .. "9007199254740993, 'b', '12:30:00', 7, 200)",
  },
}

describe("introspection of a join table and column types", function()
  local M
  setup(function()
    orm.testing.init{}
    local conn = orm.connection()
    for _, sql in ipairs{
      "CREATE TABLE isu_products (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)",
      "CREATE TABLE isu_labels (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)",
      "CREATE TABLE isu_product_labels (product_id INTEGER NOT NULL REFERENCES isu_products (id), "
        .. "label_id INTEGER NOT NULL REFERENCES isu_labels (id), PRIMARY KEY (product_id, label_id))",
      "INSERT INTO isu_products VALUES (1, 'pen'), (2, 'ink')",
      "INSERT INTO isu_labels VALUES (1, 'blue'), (2, 'office'), (3, 'gift')",
      "INSERT INTO isu_product_labels VALUES (1, 1), (1, 2), (2, 2)",
    } do conn:execute_script(sql) end
    for _, sql in ipairs(TYPES[DIALECT]) do conn:execute_script(sql) end
    orm._introspect("default", "inspected2")
    M = orm.apps.inspected2
  end)
  teardown(function()
    orm._drop_tables{ "isu_product_labels", "isu_products", "isu_labels", "isu_types" }
    orm.testing.finish()
  end)

  it("follows a join table both ways", function()
    local J = M.IsuProductLabel
    assert.are.same({ "product", "label" }, J._meta.primary_key)
    assert.are.same({ "blue", "office" }, M.IsuLabel:filter{ isu_product_labels__product__name = "pen" }
      :order_by("name"):values_list("name", { flat = true }):list())
    assert.are.same({ "ink", "pen" }, M.IsuProduct:filter{ isu_product_labels__label__name = "office" }
      :order_by("name"):values_list("name", { flat = true }):list())
    local counts = {}
    for _, r in ipairs(M.IsuLabel:annotate{ n = orm.functions.Count("isu_product_labels") }
        :order_by("id"):values("name", "n"):list()) do
      counts[#counts + 1] = r.name .. "=" .. r.n
    end
    assert.are.same({ "blue=1", "office=2", "gift=0" }, counts)
    J:create{ product_id = 2, label_id = 3 }
    assert.are.equal(1, M.IsuProduct:get{ name = "ink" }.isu_product_labels:filter{ label__name = "gift" }:count())
  end)

  it("types the columns and reads their values", function()
    local T = M.IsuType
    local f = T._meta.fields_map
    local r = T:first()
    assert.are.equal("BinaryField", f.raw.field_type)
    assert.are.equal("\0\255", r.raw)
    assert.are.equal("FloatField", f.ratio.field_type)
    assert.are.equal(0.5, r.ratio)
    assert.are.equal("BooleanField", f.flag.field_type)
    assert.is_true(r.flag)
    assert.are.equal("DatetimeField", f.at.field_type)
    assert.are.equal("2024-01-02T03:04:05", tostring(r.at))
    assert.are.equal("DateField", f.born.field_type)
    assert.are.equal("2024-01-02", tostring(r.born))
    assert.are.equal("BigIntField", f.big.field_type)
    assert.are.equal(9007199254740993, r.big)
    if DIALECT == "postgres" then
      assert.are.equal("JSONField", f.anything.field_type)
      assert.are.same({ a = { 1, 2 } }, r.anything)
      assert.are.equal("UUIDField", f.u.field_type)
      assert.are.equal("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", r.u)
      assert.are.equal("TimeDeltaField", f.span.field_type)
      assert.are.equal(orm.duration{ days = 1, hours = 2 }, r.span)
      assert.are.equal("TimeField", f.t.field_type)
      assert.are.equal("SmallIntField", f.small.field_type)
      -- inet: no closer field, text with a note
      assert.are.equal("TextField", f.geo.field_type)
      assert.matches("inet", f.geo.description)
      assert.are.equal("10.0.0.1", r.geo)
    elseif DIALECT == "mysql" then
      assert.are.equal("JSONField", f.anything.field_type)
      assert.are.same({ a = { 1, 2 } }, r.anything)
      assert.are.equal("TimeField", f.t.field_type)
      assert.are.equal("SmallIntField", f.small.field_type)
      assert.are.equal(200, r.tiny)
      assert.are.equal("b", r.geo)
    else
      assert.are.equal("TextField", f.anything.field_type) -- no declared type
      assert.are.equal("TextField", f.geo.field_type)
      assert.matches("GEOMETRY", f.geo.description)
    end
  end)
end)
