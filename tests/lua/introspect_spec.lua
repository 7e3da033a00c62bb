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
