/* test_introspect.c -- SQLite's catalogue read into a tdo_ischema:
 * tables and views, column types, NOT NULL, defaults, primary keys
 * (composite too), foreign keys (self-references, several columns),
 * unique constraints and indexes (orm/introspect*.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tdo_int.h"

static const char *const schema_sql =
    "CREATE TABLE artists (id INTEGER PRIMARY KEY, name NVARCHAR(120) NOT "
    "NULL UNIQUE);\n"
    "CREATE TABLE albums (AlbumId INTEGER PRIMARY KEY, Title TEXT DEFAULT "
    "'untitled', ArtistId INTEGER REFERENCES artists(id), price "
    "NUMERIC(10,2));\n"
    "CREATE TABLE employees (id INTEGER PRIMARY KEY, ReportsTo INTEGER "
    "REFERENCES employees);\n"
    "CREATE TABLE playlist_track (playlist INT NOT NULL, track INT NOT NULL, "
    "PRIMARY KEY (playlist, track));\n"
    "CREATE TABLE plays (playlist INT, track INT, at DATETIME, FOREIGN KEY "
    "(playlist, track) REFERENCES playlist_track (playlist, track));\n"
    "CREATE INDEX albums_title ON albums (Title, price);\n"
    "CREATE VIEW artist_names AS SELECT name FROM artists;\n";

/* A new context with an in-memory SQLite database as "default" (*conn),
 * script run on it (NULL: none). */
static tdo_ctx *open_sqlite(const char *script, tdo_conn **conn)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_ctx *ctx = tdo_ctx_new();
    assert_int_equal(
        tdo_connect(ctx, "default", "sqlite://:memory:", conn, &err), TDO_OK);
    if (script)
        assert_int_equal(tdo_conn_execute_script(*conn, script, &err), TDO_OK);
    return ctx;
}

static void test_sqlite_catalogue(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(schema_sql, &conn);
    tdo_ischema s;
    assert_int_equal(tdo_introspect(conn, &s, &err), TDO_OK);

    /* tables and views, by name */
    assert_int_equal(s.n, 6);
    assert_string_equal(s.tables[0].name, "albums");
    assert_string_equal(s.tables[1].name, "artist_names");
    assert_true(s.tables[1].view);
    assert_false(s.tables[0].view);

    tdo_itable *artists = tdo_ischema_table(&s, "artists");
    assert_non_null(artists);
    tdo_icolumn *name = tdo_itable_column(artists, "name");
    assert_int_equal(name->type.type, TDO_F_CHAR);
    assert_int_equal(name->type.max_length, 120);
    assert_true(name->notnull);
    assert_int_equal(tdo_itable_column(artists, "id")->pk, 1);
    assert_int_equal(artists->nidx, 1); /* the UNIQUE constraint */
    assert_true(artists->idx[0].unique);
    assert_string_equal(artists->idx[0].cols[0], "name");

    tdo_itable *albums = tdo_ischema_table(&s, "albums");
    tdo_icolumn *title = tdo_itable_column(albums, "Title");
    assert_string_equal(title->default_sql, "'untitled'");
    assert_int_equal(tdo_itable_column(albums, "price")->type.type,
                     TDO_F_DECIMAL);
    assert_int_equal(albums->nfks, 1);
    assert_string_equal(albums->fks[0].table, "artists");
    assert_string_equal(albums->fks[0].from[0], "ArtistId");
    assert_string_equal(albums->fks[0].to[0], "id");
    assert_int_equal(albums->nidx, 1);
    assert_false(albums->idx[0].unique);
    assert_int_equal(albums->idx[0].n, 2);
    assert_string_equal(albums->idx[0].cols[1], "price");

    /* a self-reference to the primary key: "to" is "" */
    tdo_itable *emp = tdo_ischema_table(&s, "employees");
    assert_int_equal(emp->nfks, 1);
    assert_string_equal(emp->fks[0].table, "employees");
    assert_string_equal(emp->fks[0].to[0], "");

    /* a composite key, and a foreign key over two columns */
    tdo_itable *pt = tdo_ischema_table(&s, "playlist_track");
    assert_int_equal(tdo_itable_column(pt, "playlist")->pk, 1);
    assert_int_equal(tdo_itable_column(pt, "track")->pk, 2);
    assert_int_equal(pt->nidx, 0); /* the key's own index is not listed */
    tdo_itable *plays = tdo_ischema_table(&s, "plays");
    assert_int_equal(plays->nfks, 1);
    assert_int_equal(plays->fks[0].n, 2);
    assert_string_equal(plays->fks[0].from[1], "track");
    assert_int_equal(tdo_itable_column(plays, "at")->type.type, TDO_F_DATETIME);

    tdo_ischema_release(&s);
    assert_int_equal(s.n, 0);
    tdo_ctx_free(ctx);
}

/* 1,000 tables are read with four queries, whatever their number. */
static void test_four_queries(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(NULL, &conn);
    tdo_sb sql = TDO_SB_INIT;
    for (int i = 0; i < 1000; i++)
        tdo_sb_addf(
            &sql, "CREATE TABLE t%04d (id INTEGER PRIMARY KEY, v TEXT);\n", i);
    assert_int_equal(tdo_conn_execute_script(conn, sql.buf, &err), TDO_OK);
    tdo_sb_release(&sql);
    uint64_t before = tdo_conn_query_count(conn);
    tdo_ischema s;
    assert_int_equal(tdo_introspect(conn, &s, &err), TDO_OK);
    assert_int_equal(s.n, 1000);
    assert_int_equal(s.tables[999].ncols, 2);
    assert_int_equal(tdo_conn_query_count(conn) - before, 4);
    tdo_ischema_release(&s);
    tdo_ctx_free(ctx);
}

/* Count of model m's rows matching key = v. */
static int64_t count_where(tdo_conn *conn, tdo_model *m, const char *key,
                           tdo_value v)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *all = tdo_query_new(m), *q = NULL;
    tdo_qnode *n = tdo_q_lookup(key, &v, 1);
    assert_int_equal(tdo_query_filter(all, n, &q, &err), TDO_OK);
    int64_t count = -1;
    assert_int_equal(tdo_query_count(conn, q, &count, &err), TDO_OK);
    tdo_qnode_free(n);
    tdo_query_free(all);
    tdo_query_free(q);
    return count;
}

/* Models declared from the catalogue, and queries through their keys. */
static void test_models_from_schema(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(schema_sql, &conn);
    assert_int_equal(
        tdo_conn_execute_script(
            conn,
            "INSERT INTO artists VALUES (1, 'AC/DC'), (2, 'Accept');"
            "INSERT INTO albums VALUES (1, 'For Those', 1, 9.99), (2, "
            "'Balls', 2, 8.99), (3, 'Let There', 1, 7.99);"
            "INSERT INTO employees VALUES (1, NULL), (2, 1), (3, 1);",
            &err),
        TDO_OK);
    tdo_ischema s;
    assert_int_equal(tdo_introspect(conn, &s, &err), TDO_OK);
    size_t skipped = 0;
    assert_int_equal(tdo_models_from_schema(ctx, "models", &s, &skipped, &err),
                     TDO_OK);
    tdo_ischema_release(&s);
    /* every table and the view get a model */
    assert_int_equal(skipped, 0);
    assert_int_equal(tdo_ctx_nmodels(ctx), 6);
    /* a composite key; none (plays); a read-only view */
    tdo_model *pt = tdo_ctx_model(ctx, "models", "PlaylistTrack");
    assert_non_null(pt);
    assert_null(tdo_model_pk(pt));
    assert_int_equal(tdo_model_nkey(pt), 2);
    assert_string_equal(tdo_model_key(pt, 0)->name, "playlist");
    assert_string_equal(tdo_model_key(pt, 1)->name, "track");
    tdo_model *plays = tdo_ctx_model(ctx, "models", "Play");
    assert_non_null(plays);
    assert_int_equal(tdo_model_nkey(plays), 0);
    assert_null(tdo_model_field_by_name(plays, "id"));
    tdo_model *view = tdo_ctx_model(ctx, "models", "ArtistName");
    assert_non_null(view);
    assert_true(tdo_model_read_only(view));
    assert_false(tdo_model_read_only(pt));
    assert_true(tdo_model_introspected(view));
    tdo_model *album = tdo_ctx_model(ctx, "models", "Album");
    tdo_model *artist = tdo_ctx_model(ctx, "models", "Artist");
    tdo_model *emp = tdo_ctx_model(ctx, "models", "Employee");
    assert_non_null(album);
    assert_non_null(artist);
    assert_non_null(emp);
    assert_string_equal(tdo_model_table(album), "albums");
    const tdo_field *fk = tdo_model_field_by_name(album, "Artist");
    assert_non_null(fk);
    assert_int_equal(fk->type, TDO_F_FK);
    assert_string_equal(fk->column, "ArtistId");
    assert_string_equal(tdo_model_pk(album)->name, "AlbumId");
    assert_int_equal(tdo_model_field_by_name(artist, "name")->max_length, 120);
    assert_non_null(tdo_model_relation_by_name(artist, "albums"));
    assert_non_null(tdo_model_relation_by_name(emp, "employees"));
    /* through the foreign key, the reverse side and the self-reference */
    assert_int_equal(
        count_where(conn, album, "Artist__name", tdo_value_text("AC/DC", 5)),
        2);
    assert_int_equal(
        count_where(conn, artist, "albums__Title", tdo_value_text("Balls", 5)),
        1);
    assert_int_equal(count_where(conn, emp, "ReportsTo__id", tdo_value_int(1)),
                     2);
    tdo_ctx_free(ctx);
}

/* Writes through a composite key match every key field; a view refuses
 * writes; a table without a key is read and inserted into. */
static void test_composite_and_views(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(schema_sql, &conn);
    assert_int_equal(
        tdo_conn_execute_script(conn,
                                "INSERT INTO artists VALUES (1, 'AC/DC');"
                                "INSERT INTO playlist_track VALUES (1, 1), "
                                "(1, 2), (2, 1);",
                                &err),
        TDO_OK);
    size_t skipped = 0;
    assert_int_equal(tdo_introspect_models(conn, "models", &skipped, &err),
                     TDO_OK);
    tdo_model *pt = tdo_ctx_model(ctx, "models", "PlaylistTrack");
    const tdo_field *track = tdo_model_key(pt, 1);
    tdo_value key[2] = {tdo_value_int(1), tdo_value_int(2)};
    tdo_value nine = tdo_value_int(9);
    int64_t changed = -1;
    assert_int_equal(
        tdo_update_pk(conn, pt, &track, &nine, 1, key, &changed, &err), TDO_OK);
    assert_int_equal(changed, 1); /* (1, 2) only, not (1, 1) */
    assert_int_equal(count_where(conn, pt, "track", tdo_value_int(9)), 1);
    key[1] = tdo_value_int(9);
    assert_int_equal(tdo_delete_pk(conn, pt, key, &changed, &err), TDO_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(count_where(conn, pt, "playlist", tdo_value_int(1)), 1);

    tdo_model *view = tdo_ctx_model(ctx, "models", "ArtistName");
    assert_int_equal(
        count_where(conn, view, "name", tdo_value_text("AC/DC", 5)), 1);
    const tdo_field *name = tdo_model_field_by_name(view, "name");
    tdo_value v = tdo_value_text("x", 1);
    assert_int_equal(tdo_insert(conn, view, &name, 1, &v, 1, false, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    assert_non_null(strstr(err.message, "read-only"));
    tdo_error_release(&err);

    tdo_model *plays = tdo_ctx_model(ctx, "models", "Play");
    const tdo_field *pl = tdo_model_field_by_name(plays, "playlist");
    tdo_value one = tdo_value_int(1);
    assert_int_equal(
        tdo_insert(conn, plays, &pl, 1, &one, 1, false, NULL, &err), TDO_OK);
    assert_int_equal(count_where(conn, plays, "playlist", one), 1);
    tdo_ctx_free(ctx);
}

/* A declared model keeps its table (foreign keys of introspected tables
 * point at it, its names win); introspecting again replaces the models
 * the first run declared. */
static void test_declared_models_win(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(schema_sql, &conn);
    tdo_model *singer = NULL, *album = NULL;
    assert_int_equal(tdo_model_new(ctx, "models", "Singer", &singer, &err),
                     TDO_OK);
    assert_int_equal(tdo_model_set_table(singer, "artists", &err), TDO_OK);
    tdo_field_decl d = tdo_field_template("name", TDO_F_CHAR);
    d.max_length = 120;
    assert_int_equal(tdo_model_add_field(singer, &d, NULL, &err), TDO_OK);
    /* a model named like a table's model: the introspected one is Album_2 */
    assert_int_equal(tdo_model_new(ctx, "models", "Album", &album, &err),
                     TDO_OK);
    assert_int_equal(tdo_model_set_table(album, "my_albums", &err), TDO_OK);
    assert_int_equal(tdo_model_finish(singer, &err), TDO_OK);
    assert_int_equal(tdo_model_finish(album, &err), TDO_OK);
    size_t skipped = 0;
    assert_int_equal(tdo_introspect_models(conn, "models", &skipped, &err),
                     TDO_OK);
    assert_int_equal(skipped, 1);
    assert_null(tdo_ctx_model(ctx, "models", "Artist"));
    tdo_model *a2 = tdo_ctx_model(ctx, "models", "Album_2");
    assert_non_null(a2);
    assert_string_equal(tdo_model_table(a2), "albums");
    const tdo_field *fk = tdo_model_field_by_name(a2, "Artist");
    assert_ptr_equal(fk->related_model, singer);
    assert_non_null(tdo_model_relation_by_name(singer, "album_2s"));
    size_t n = tdo_ctx_nmodels(ctx);
    assert_int_equal(tdo_introspect_models(conn, "models", &skipped, &err),
                     TDO_OK);
    assert_int_equal(tdo_ctx_nmodels(ctx), n);
    assert_ptr_not_equal(tdo_ctx_model(ctx, "models", "Album_2"), a2);
    tdo_ctx_free(ctx);
}

/* tdo_conn_relations: the tables and the views, each sorted. */
static void test_relations(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn = NULL;
    tdo_ctx *ctx = open_sqlite(schema_sql, &conn);
    char **tables = NULL, **views = NULL;
    size_t nt = 0, nv = 0;
    assert_int_equal(tdo_conn_relations(conn, &tables, &nt, &views, &nv, &err),
                     TDO_OK);
    assert_int_equal(nt, 5);
    assert_int_equal(nv, 1);
    assert_string_equal(tables[0], "albums");
    assert_string_equal(tables[4], "plays");
    assert_string_equal(views[0], "artist_names");
    tdo_free_strings(tables, nt);
    tdo_free_strings(views, nv);
    tdo_ctx_free(ctx);
}

/* The same schema on a server (TESTUDO_PG_URL, TESTUDO_MYSQL_URL): the
 * catalogue queries of PostgreSQL and MariaDB give the same picture. */
static void server_catalogue(const char *url, bool pg)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_conn *conn = NULL;
    assert_int_equal(tdo_connect(ctx, "default", url, &conn, &err), TDO_OK);
    const char *drop[] = {"is_plays", "is_playlist_track", "is_albums",
                          "is_artists", "is_employees"};
    tdo_conn_execute_script(conn, "DROP VIEW IF EXISTS is_artist_names", &err);
    tdo_error_release(&err);
    assert_int_equal(tdo_drop_tables(conn, drop, 5, &err), TDO_OK);
    const char *ddl =
        "CREATE TABLE is_artists (id INTEGER PRIMARY KEY, name VARCHAR(120) "
        "NOT NULL UNIQUE);\n"
        "CREATE TABLE is_albums (AlbumId INTEGER PRIMARY KEY, Title "
        "VARCHAR(50) DEFAULT 'untitled', ArtistId INTEGER REFERENCES "
        "is_artists(id), price NUMERIC(10,2));\n"
        "CREATE TABLE is_employees (id INTEGER PRIMARY KEY, ReportsTo INTEGER "
        "REFERENCES is_employees(id));\n"
        "CREATE TABLE is_playlist_track (playlist INT NOT NULL, track INT NOT "
        "NULL, PRIMARY KEY (playlist, track));\n"
        "CREATE TABLE is_plays (playlist INT, track INT, at TIMESTAMP NULL, "
        "FOREIGN KEY (playlist, track) REFERENCES is_playlist_track "
        "(playlist, track));\n"
        "CREATE INDEX is_albums_title ON is_albums (Title, price);\n"
        "CREATE VIEW is_artist_names AS SELECT name FROM is_artists;\n";
    assert_int_equal(tdo_conn_execute_script(conn, ddl, &err), TDO_OK);
    tdo_ischema s;
    assert_int_equal(tdo_introspect(conn, &s, &err), TDO_OK);
    tdo_itable *view = tdo_ischema_table(&s, "is_artist_names");
    assert_non_null(view);
    assert_true(view->view);
    tdo_itable *artists = tdo_ischema_table(&s, "is_artists");
    tdo_icolumn *name = tdo_itable_column(artists, "name");
    assert_int_equal(name->type.type, TDO_F_CHAR);
    assert_int_equal(name->type.max_length, 120);
    assert_true(name->notnull);
    assert_int_equal(tdo_itable_column(artists, "id")->pk, 1);
    assert_int_equal(artists->nidx, 1);
    assert_true(artists->idx[0].unique);
    /* PostgreSQL folds unquoted names to lower case */
    tdo_itable *albums = tdo_ischema_table(&s, "is_albums");
    const char *artist_col = pg ? "artistid" : "ArtistId";
    assert_non_null(
        strstr(tdo_itable_column(albums, pg ? "title" : "Title")->default_sql,
               "untitled"));
    assert_int_equal(tdo_itable_column(albums, "price")->type.type,
                     TDO_F_DECIMAL);
    assert_int_equal(tdo_itable_column(albums, "price")->type.max_digits, 10);
    assert_int_equal(albums->nfks, 1);
    assert_string_equal(albums->fks[0].table, "is_artists");
    assert_string_equal(albums->fks[0].from[0], artist_col);
    assert_string_equal(albums->fks[0].to[0], "id");
    /* the plain index, and (MariaDB) the one made for the foreign key */
    bool title_idx = false;
    for (size_t i = 0; i < albums->nidx; i++)
        title_idx =
            title_idx || (!strcmp(albums->idx[i].name, "is_albums_title") &&
                          albums->idx[i].n == 2 && !albums->idx[i].unique);
    assert_true(title_idx);
    tdo_itable *emp = tdo_ischema_table(&s, "is_employees");
    assert_int_equal(emp->nfks, 1);
    assert_string_equal(emp->fks[0].table, "is_employees");
    tdo_itable *pt = tdo_ischema_table(&s, "is_playlist_track");
    assert_int_equal(tdo_itable_column(pt, "playlist")->pk, 1);
    assert_int_equal(tdo_itable_column(pt, "track")->pk, 2);
    tdo_itable *plays = tdo_ischema_table(&s, "is_plays");
    assert_int_equal(plays->nfks, 1);
    assert_int_equal(plays->fks[0].n, 2);
    assert_string_equal(plays->fks[0].from[1], "track");
    assert_int_equal(tdo_itable_column(plays, "at")->type.type, TDO_F_DATETIME);
    tdo_ischema_release(&s);
    tdo_conn_execute_script(conn, "DROP VIEW IF EXISTS is_artist_names", &err);
    tdo_error_release(&err);
    assert_int_equal(tdo_drop_tables(conn, drop, 5, &err), TDO_OK);
    tdo_ctx_free(ctx);
}

static void test_postgres_catalogue(void **state)
{
    const char *url = getenv("TESTUDO_PG_URL");
    if (!url || !*url)
        skip();
    server_catalogue(url, true);
}

static void test_mysql_catalogue(void **state)
{
    const char *url = getenv("TESTUDO_MYSQL_URL");
    if (!url || !*url)
        skip();
    server_catalogue(url, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_catalogue),
        cmocka_unit_test(test_four_queries),
        cmocka_unit_test(test_models_from_schema),
        cmocka_unit_test(test_composite_and_views),
        cmocka_unit_test(test_declared_models_win),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_postgres_catalogue),
        cmocka_unit_test(test_mysql_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
