-- Introspection spec (issue 11, first part): orm._introspect() declares
-- models for the tables of a database testudo did not create -- names
-- from the tables (singular CamelCase), fields from the columns, foreign
-- keys (named without their _id) with reverse relations; mixed-case
-- names (AlbumId -> Album) are in tests/unit/test_introspect.c, since
-- PostgreSQL folds unquoted names to lower case -- and they
-- query, follow relations and write at once.  All three backends.
local orm = require "testudo"

local DDL = {
  "CREATE TABLE isp_artists (id INTEGER PRIMARY KEY, name VARCHAR(120) NOT NULL UNIQUE)",
  "CREATE TABLE isp_albums (album_id INTEGER PRIMARY KEY, title VARCHAR(50) NOT NULL, "
    .. "artist_id INTEGER NOT NULL REFERENCES isp_artists(id), price NUMERIC(10,2))",
  "CREATE TABLE isp_employees (id INTEGER PRIMARY KEY, name VARCHAR(40), "
    .. "manager_id INTEGER REFERENCES isp_employees(id))",
  "CREATE TABLE isp_tags (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))",
  "INSERT INTO isp_artists VALUES (1, 'AC/DC'), (2, 'Accept')",
  "INSERT INTO isp_albums VALUES (1, 'For Those', 1, 9.99), (2, 'Balls', 2, 8.99), "
    .. "(3, 'Let There', 1, 7.50)",
  "INSERT INTO isp_employees VALUES (1, 'Andrew', NULL), (2, 'Nancy', 1), (3, 'Jane', 2)",
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
    orm._drop_tables{ "isp_albums", "isp_employees", "isp_tags", "isp_artists" }
    orm.testing.finish()
  end)

  it("names a model per table with a key, singular and CamelCase", function()
    table.sort(names)
    assert.are.same({ "IspAlbum", "IspArtist", "IspEmployee" }, names)
    assert.are.equal(1, skipped) -- isp_tags: a composite key, for later
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
end)
