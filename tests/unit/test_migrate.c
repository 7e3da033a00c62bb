/*
 * test_migrate.c -- the differ of schema states (orm/migrate.c) without
 * Lua: a model changed (a field added with a default, one renamed as
 * confirmed, a type changed, a unique field, an index, a new model with a
 * foreign key and a many-to-many, a model dropped) upgraded on SQLite
 * with its rows kept, then downgraded back; the statements PostgreSQL and
 * MySQL get for the same change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <jansson.h>

#include "tdo_int.h"

static tdo_error err = TDO_ERROR_INIT;

#define CHECK(x)                                                               \
    do {                                                                       \
        if ((x) != TDO_OK)                                                     \
            fail_msg("%s: %s", #x, err.message);                               \
    } while (0)

static void add(tdo_model *m, tdo_field_decl f)
{
    CHECK(tdo_model_add_field(m, &f, NULL, &err));
}

static tdo_field_decl chr(const char *name, int len, unsigned flags)
{
    tdo_field_decl f = tdo_field_template(name, TDO_F_CHAR);
    f.flags |= flags;
    f.max_length = len;
    return f;
}

static tdo_field_decl fk(const char *name, const char *to)
{
    tdo_field_decl f = tdo_field_template(name, TDO_F_FK);
    f.related_ref = to;
    return f;
}

static tdo_model *model(tdo_ctx *ctx, const char *name, const char *table)
{
    tdo_model *m = NULL;
    CHECK(tdo_model_new(ctx, "models", name, &m, &err));
    CHECK(tdo_model_set_table(m, table, &err));
    return m;
}

/* v1: authors(name), books(title, author), notes(text). */
static tdo_ctx *v1(void)
{
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_model *a = model(ctx, "Author", "authors");
    add(a, chr("name", 50, 0));
    CHECK(tdo_model_finish(a, &err));
    tdo_model *b = model(ctx, "Book", "books");
    add(b, chr("title", 100, 0));
    add(b, fk("author", "models.Author"));
    CHECK(tdo_model_finish(b, &err));
    tdo_model *n = model(ctx, "Note", "notes");
    add(n, chr("text", 20, 0));
    CHECK(tdo_model_finish(n, &err));
    CHECK(tdo_ctx_resolve(ctx, &err));
    return ctx;
}

/* v2: authors(name wider, email unique null, rating default 0),
 * books(heading -- title renamed, indexed -- author, tags m2m), tags(label),
 * no notes. */
static tdo_ctx *v2(void)
{
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_model *a = model(ctx, "Author", "authors");
    add(a, chr("name", 80, 0));
    add(a, chr("email", 100, TDO_FIELD_NULL | TDO_FIELD_UNIQUE));
    tdo_field_decl rating = tdo_field_template("rating", TDO_F_INT);
    rating.flags |= TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    rating.default_value = tdo_value_int(0);
    add(a, rating);
    CHECK(tdo_model_finish(a, &err));
    tdo_model *t = model(ctx, "Tag", "tags");
    add(t, chr("label", 30, 0));
    CHECK(tdo_model_finish(t, &err));
    tdo_model *b = model(ctx, "Book", "books");
    add(b, chr("heading", 100, TDO_FIELD_INDEX));
    add(b, fk("author", "models.Author"));
    tdo_field_decl tags = tdo_field_template("tags", TDO_F_M2M);
    tags.related_ref = "models.Tag";
    add(b, tags);
    CHECK(tdo_model_finish(b, &err));
    CHECK(tdo_ctx_resolve(ctx, &err));
    return ctx;
}

static json_t *state_of(tdo_ctx *ctx, const tdo_dialect *d)
{
    json_t *s = NULL;
    CHECK(tdo_schema_state(ctx, d, NULL, NULL, &s, &err));
    return s;
}

static json_t *diff(const tdo_dialect *d, json_t *from, json_t *to,
                    const tdo_rename *r, size_t nr)
{
    json_t *out = NULL;
    CHECK(tdo_state_diff(d, from, to, r, nr, &out, &err));
    return json_object_get(out, "sql") ? out : NULL;
}

/* Whether one statement of the diff starts with prefix. */
static bool has_stmt(const json_t *res, const char *prefix)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(res, "sql"), i, s)
    {
        if (!strncmp(json_string_value(s), prefix, strlen(prefix)))
            return true;
    }
    return false;
}

/* Runs the diff's statements as migration version of app "models"
 * (tdo_migration_apply: one transaction, foreign keys off on SQLite). */
static void run(tdo_conn *c, const json_t *res, const char *version, bool down)
{
    tdo_migration m = {.app = "models",
                       .version = version,
                       .sql = json_object_get(res, "sql")};
    CHECK(
        tdo_migration_apply(c, &m, down ? TDO_MIG_DOWN : 0, NULL, NULL, &err));
}

/* The first value of a query, formatted. */
static void one(tdo_conn *c, const char *sql, char *out, size_t cap)
{
    tdo_rows *rows = NULL;
    bool has = false;
    tdo_value v;
    CHECK(tdo_conn_execute(c, sql, NULL, 0, &rows, NULL, &err));
    CHECK(tdo_rows_next(rows, &has, &err));
    assert_true(has);
    CHECK(tdo_rows_get(rows, 0, &v, &err));
    tdo_sb sb = TDO_SB_INIT;
    tdo_value_format(&sb, &v, false);
    snprintf(out, cap, "%s", sb.buf);
    tdo_sb_release(&sb);
    tdo_rows_free(rows);
}

static void test_no_changes(void **state)
{
    (void)state;
    tdo_ctx *a = v1();
    json_t *s = state_of(a, &tdo_dialect_sqlite);
    json_t *res = diff(&tdo_dialect_sqlite, s, s, NULL, 0);
    assert_int_equal(json_array_size(json_object_get(res, "sql")), 0);
    json_decref(res);
    json_decref(s);
    tdo_ctx_free(a);
}

static void test_sqlite_up_and_down(void **state)
{
    (void)state;
    tdo_ctx *a = v1(), *b = v2();
    const tdo_dialect *d = &tdo_dialect_sqlite;
    json_t *s1 = state_of(a, d), *s2 = state_of(b, d);
    tdo_conn *c = NULL;
    CHECK(tdo_connect(a, "default", "sqlite://:memory:", &c, &err));
    CHECK(tdo_generate_schemas(a, c, false, &err));
    CHECK(tdo_conn_execute_script(
        c,
        "INSERT INTO authors (id, name) VALUES (1, 'Ann'), (2, 'Bob');"
        "INSERT INTO books (id, title, author_id) VALUES (1, 'Dune', 1),"
        " (2, 'Emma', 2), (3, 'Ulysses', 2)",
        &err));

    tdo_rename up = {"books", "books", "title", "heading"};
    json_t *res = diff(d, s1, s2, &up, 1);
    assert_true(has_stmt(res, "ALTER TABLE \"books\" RENAME COLUMN \"title\" "
                              "TO \"heading\""));
    assert_true(has_stmt(res, "CREATE TABLE \"tags\""));
    assert_true(has_stmt(res, "CREATE TABLE \"books_tags\""));
    assert_true(has_stmt(res, "DROP TABLE \"notes\""));
    /* authors changes a column: made anew, its rows copied */
    assert_true(has_stmt(res, "CREATE TABLE \"_tdo_new_authors\""));
    assert_true(has_stmt(res, "INSERT INTO \"_tdo_new_authors\" (\"id\", "
                              "\"name\") SELECT"));
    assert_true(has_stmt(res, "CREATE INDEX \"idx_books_heading_"));
    run(c, res, "0001", false);
    json_decref(res);

    char buf[128];
    one(c,
        "SELECT group_concat(heading, ',') FROM (SELECT heading FROM books "
        "ORDER BY id)",
        buf, sizeof buf);
    assert_string_equal(buf, "Dune,Emma,Ulysses");
    one(c, "SELECT group_concat(name || ':' || rating, ',') FROM authors", buf,
        sizeof buf);
    assert_string_equal(buf, "Ann:0,Bob:0");
    /* the new unique constraint holds */
    CHECK(tdo_conn_execute_script(
        c, "UPDATE authors SET email = 'a@x' WHERE id = 1", &err));
    assert_int_not_equal(
        tdo_conn_execute_script(
            c, "UPDATE authors SET email = 'a@x' WHERE id = 2", &err),
        TDO_OK);
    tdo_error_release(&err);
    one(c, "SELECT count(*) FROM sqlite_master WHERE name = 'notes'", buf,
        sizeof buf);
    assert_string_equal(buf, "0");
    /* the state now is v2's: nothing more to do */
    json_t *s2b = state_of(b, d);
    json_t *again = diff(d, s2, s2b, NULL, 0);
    json_decref(s2b);
    assert_int_equal(json_array_size(json_object_get(again, "sql")), 0);
    json_decref(again);

    /* and back: the renamed column's rows are there under its old name */
    tdo_rename down = {"books", "books", "heading", "title"};
    res = diff(d, s2, s1, &down, 1);
    assert_true(has_stmt(res, "CREATE TABLE \"notes\""));
    assert_true(has_stmt(res, "DROP TABLE \"books_tags\""));
    run(c, res, "0001", true);
    json_decref(res);
    one(c,
        "SELECT group_concat(title, ',') FROM (SELECT title FROM books "
        "ORDER BY id)",
        buf, sizeof buf);
    assert_string_equal(buf, "Dune,Emma,Ulysses");
    one(c, "SELECT group_concat(name, ',') FROM authors", buf, sizeof buf);
    assert_string_equal(buf, "Ann,Bob");
    one(c, "SELECT count(*) FROM pragma_table_info('authors')", buf,
        sizeof buf);
    assert_string_equal(buf, "2"); /* email and rating gone */
    json_decref(s1);
    json_decref(s2);
    tdo_ctx_free(a);
    tdo_ctx_free(b);
}

static void count_calls(size_t done, size_t total, const char *sql, void *ud)
{
    (void)done;
    (void)total;
    (void)sql;
    ++*(int *)ud;
}

/* tdo_migration_apply on SQLite: recorded with its state, progress told;
 * a failing statement changes nothing and records nothing. */
static void test_apply_sqlite(void **state)
{
    (void)state;
    tdo_ctx *a = v1(), *b = v2();
    const tdo_dialect *d = &tdo_dialect_sqlite;
    json_t *s1 = state_of(a, d), *s2 = state_of(b, d);
    tdo_conn *c = NULL;
    CHECK(tdo_connect(a, "default", "sqlite://:memory:", &c, &err));
    CHECK(tdo_generate_schemas(a, c, false, &err));
    CHECK(tdo_conn_execute_script(
        c, "INSERT INTO authors (id, name) VALUES (1, 'Ann')", &err));
    /* a failure in the middle: all or nothing */
    json_t *bad = json_pack("[s,s]", "ALTER TABLE authors ADD COLUMN x INT",
                            "ALTER TABLE no_such_table ADD COLUMN y INT");
    tdo_migration mb = {.app = "models",
                        .version = "0001",
                        .name = "bad",
                        .sql = bad,
                        .state = s2};
    assert_int_not_equal(tdo_migration_apply(c, &mb, 0, NULL, NULL, &err),
                         TDO_OK);
    tdo_error_release(&err);
    char buf[64];
    one(c, "SELECT count(*) FROM pragma_table_info('authors')", buf,
        sizeof buf);
    assert_string_equal(buf, "2"); /* no column x */
    json_t *applied = NULL;
    CHECK(tdo_migrations_applied(c, "models", &applied, &err));
    assert_int_equal(json_array_size(applied), 0);
    json_decref(applied);
    json_decref(bad);

    tdo_rename up = {"books", "books", "title", "heading"};
    json_t *res = diff(d, s1, s2, &up, 1);
    tdo_migration m = {.app = "models",
                       .version = "0001",
                       .name = "more",
                       .sql = json_object_get(res, "sql"),
                       .state = s2};
    int calls = 0;
    CHECK(tdo_migration_apply(c, &m, 0, count_calls, &calls, &err));
    assert_int_equal(calls, (int)json_array_size(m.sql) + 1);
    CHECK(tdo_migrations_applied(c, "models", &applied, &err));
    assert_int_equal(json_array_size(applied), 1);
    json_t *rec = json_array_get(applied, 0);
    assert_string_equal(json_string_value(json_object_get(rec, "name")),
                        "more");
    assert_true(json_equal(json_object_get(rec, "state"), s2));
    json_decref(applied);
    one(c, "SELECT name || rating FROM authors", buf, sizeof buf);
    assert_string_equal(buf, "Ann0");
    /* foreign keys are back on */
    one(c, "PRAGMA foreign_keys", buf, sizeof buf);
    assert_string_equal(buf, "1");
    json_decref(res);
    json_decref(s1);
    json_decref(s2);
    tdo_ctx_free(a);
    tdo_ctx_free(b);
}

static void test_server_statements(void **state)
{
    (void)state;
    tdo_ctx *a = v1(), *b = v2();
    tdo_rename up = {"books", "books", "title", "heading"};

    const tdo_dialect *pg = &tdo_dialect_postgres;
    json_t *s1 = state_of(a, pg), *s2 = state_of(b, pg);
    json_t *res = diff(pg, s1, s2, &up, 1);
    assert_true(has_stmt(res, "ALTER TABLE \"books\" RENAME COLUMN \"title\" "
                              "TO \"heading\""));
    /* the same kind of type, wider: no cast that could cut values */
    assert_true(has_stmt(res, "ALTER TABLE \"authors\" ALTER COLUMN \"name\" "
                              "TYPE VARCHAR(80)"));
    assert_false(has_stmt(res, "ALTER TABLE \"authors\" ALTER COLUMN \"name\" "
                               "TYPE VARCHAR(80) USING"));
    assert_true(has_stmt(res, "ALTER TABLE \"authors\" ADD COLUMN \"rating\" "
                              "INT NOT NULL DEFAULT 0"));
    assert_true(has_stmt(res, "ALTER TABLE \"authors\" ADD CONSTRAINT "
                              "\"uniq_authors_email_"));
    assert_true(has_stmt(res, "DROP TABLE \"notes\""));
    assert_false(has_stmt(res, "CREATE TABLE \"_tdo_new"));
    json_decref(res);
    /* down: columns dropped, the constraint by its name first */
    tdo_rename down = {"books", "books", "heading", "title"};
    res = diff(pg, s2, s1, &down, 1);
    assert_true(has_stmt(res, "ALTER TABLE \"authors\" DROP CONSTRAINT "
                              "\"uniq_authors_email_"));
    assert_true(has_stmt(res, "ALTER TABLE \"authors\" DROP COLUMN \"email\""));
    assert_true(has_stmt(res, "ALTER TABLE \"books_tags\" DROP CONSTRAINT "
                              "\"fk_books_tags_"));
    json_decref(res);
    json_decref(s1);
    json_decref(s2);

    const tdo_dialect *my = &tdo_dialect_mysql;
    s1 = state_of(a, my);
    s2 = state_of(b, my);
    res = diff(my, s1, s2, &up, 1);
    assert_true(has_stmt(res, "ALTER TABLE `authors` MODIFY COLUMN `name` "
                              "VARCHAR(80) NOT NULL"));
    json_decref(res);
    res = diff(my, s2, s1, &down, 1);
    assert_true(has_stmt(res, "ALTER TABLE `authors` DROP INDEX "
                              "`uniq_authors_email_"));
    assert_true(has_stmt(res, "DROP INDEX `idx_books_heading_"));
    json_decref(res);
    json_decref(s1);
    json_decref(s2);
    tdo_ctx_free(a);
    tdo_ctx_free(b);
}

/* Up and down on a server named by the environment variable var
 * (tests/backends/pg.sh, mysql.sh start them; unset: skipped). */
static void up_and_down_on(const char *var)
{
    const char *url = getenv(var);
    if (!url || !*url) {
        printf("# %s unset: skipped\n", var);
        return;
    }
    tdo_ctx *a = v1(), *b = v2();
    tdo_conn *c = NULL;
    CHECK(tdo_connect(a, "default", url, &c, &err));
    const tdo_dialect *d = tdo_conn_dialect(c);
    bool tx = d->alter_style != TDO_ALTER_MODIFY; /* MySQL: DDL commits */
    const char *tables[] = {"books_tags", "tags", "notes", "books", "authors"};
    CHECK(tdo_drop_tables(c, tables, 5, &err));
    CHECK(tdo_generate_schemas(a, c, false, &err));
    CHECK(tdo_conn_execute_script(
        c,
        "INSERT INTO authors (name) VALUES ('Ann'), ('Bob');"
        "INSERT INTO books (title, author_id) VALUES ('Dune', 1),"
        " ('Emma', 2), ('Ulysses', 2)",
        &err));
    json_t *s1 = state_of(a, d), *s2 = state_of(b, d);
    tdo_rename up = {"books", "books", "title", "heading"};
    tdo_rename down = {"books", "books", "heading", "title"};
    for (int dir = 0; dir < 2; dir++) {
        json_t *res = dir ? diff(d, s2, s1, &down, 1) : diff(d, s1, s2, &up, 1);
        tdo_migration m = {.app = "models",
                           .version = "0002",
                           .name = "rename_and_more",
                           .sql = json_object_get(res, "sql"),
                           .state = dir ? s1 : s2};
        CHECK(tdo_migration_apply(c, &m, dir ? TDO_MIG_DOWN : 0, NULL, NULL,
                                  &err));
        json_decref(res);
        json_t *applied = NULL;
        CHECK(tdo_migrations_applied(c, "models", &applied, &err));
        assert_int_equal(json_array_size(applied), dir ? 0 : 1);
        json_decref(applied);
        char buf[128];
        one(c,
            dir ? "SELECT COUNT(*) FROM books WHERE title IN ('Dune', 'Emma', "
                  "'Ulysses')"
                : "SELECT COUNT(*) FROM books WHERE heading IN ('Dune', "
                  "'Emma', 'Ulysses')",
            buf, sizeof buf);
        assert_string_equal(buf, "3");
        one(c, "SELECT COUNT(*) FROM authors WHERE name IN ('Ann', 'Bob')", buf,
            sizeof buf);
        assert_string_equal(buf, "2");
        if (!dir) {
            one(c, "SELECT SUM(rating) FROM authors", buf, sizeof buf);
            assert_string_equal(buf, "0");
            CHECK(tdo_conn_execute_script(
                c, "UPDATE authors SET email = 'a@x' WHERE name = 'Ann'",
                &err));
            assert_int_not_equal(
                tdo_conn_execute_script(
                    c, "UPDATE authors SET email = 'a@x' WHERE name = 'Bob'",
                    &err),
                TDO_OK);
            tdo_error_release(&err);
        }
    }
    if (!tx) {
        /* MySQL: a failure says which statements ran, records nothing */
        json_t *bad = json_pack("[s,s]", "CREATE TABLE tmp_ok (id INT)",
                                "ALTER TABLE no_such_table ADD COLUMN x INT");
        tdo_migration m = {.app = "models",
                           .version = "0009",
                           .name = "bad",
                           .sql = bad,
                           .state = s1};
        assert_int_not_equal(tdo_migration_apply(c, &m, 0, NULL, NULL, &err),
                             TDO_OK);
        assert_non_null(strstr(err.message, "step 2 of 2 failed"));
        assert_non_null(strstr(err.message, "CREATE TABLE tmp_ok"));
        tdo_error_release(&err);
        json_t *applied = NULL;
        CHECK(tdo_migrations_applied(c, "models", &applied, &err));
        assert_int_equal(json_array_size(applied), 0);
        json_decref(applied);
        json_decref(bad);
        CHECK(tdo_conn_execute_script(c, "DROP TABLE tmp_ok", &err));
    }
    const char *mt = "testudo_migrations";
    CHECK(tdo_drop_tables(c, &mt, 1, &err));
    CHECK(tdo_drop_tables(c, tables, 5, &err));
    json_decref(s1);
    json_decref(s2);
    tdo_ctx_free(a);
    tdo_ctx_free(b);
}

static void test_servers(void **state)
{
    (void)state;
    up_and_down_on("TESTUDO_PG_URL");
    up_and_down_on("TESTUDO_MYSQL_URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_changes),
        cmocka_unit_test(test_sqlite_up_and_down),
        cmocka_unit_test(test_apply_sqlite),
        cmocka_unit_test(test_server_statements),
        cmocka_unit_test(test_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
