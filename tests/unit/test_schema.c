/*
 * test_schema.c -- DDL text from the registry (tdo_schema_sql) and
 * generate_schemas on an in-memory SQLite database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <jansson.h>

#include "tdo_int.h"

static void add(tdo_model *m, tdo_field_decl f)
{
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_model_add_field(m, &f, NULL, &err))
        fail_msg("add_field %s: %s", f.name, err.message);
}

static tdo_field_decl fld(const char *name, tdo_field_type t, unsigned flags)
{
    tdo_field_decl f = tdo_field_template(name, t);
    f.flags |= flags;
    return f;
}

static tdo_field_decl chr(const char *name, int len, unsigned flags)
{
    tdo_field_decl f = fld(name, TDO_F_CHAR, flags);
    f.max_length = len;
    return f;
}

static tdo_model *model(tdo_ctx *ctx, const char *name, const char *table)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_model *m = NULL;
    assert_int_equal(tdo_model_new(ctx, "models", name, &m, &err), 0);
    if (table)
        assert_int_equal(tdo_model_set_table(m, table, &err), 0);
    return m;
}

static void finish(tdo_model *m)
{
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_model_finish(m, &err))
        fail_msg("finish: %s", err.message);
}

/* The shop's users/categories/products, declared products first so the
 * generator must order them. */
static tdo_ctx *shop(void)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_ctx *ctx = tdo_ctx_new();
    assert_non_null(ctx);

    tdo_model *ts = model(ctx, "TimestampMixin", NULL);
    tdo_model_set_abstract(ts, true);
    add(ts, fld("created_at", TDO_F_DATETIME, TDO_FIELD_AUTO_NOW_ADD));
    add(ts, fld("updated_at", TDO_F_DATETIME, TDO_FIELD_AUTO_NOW));
    finish(ts);

    tdo_model *p = model(ctx, "Product", "products");
    assert_int_equal(tdo_model_inherit(p, ts, &err), 0);
    add(p, fld("id", TDO_F_INT, TDO_FIELD_PK));
    add(p, chr("name", 255, TDO_FIELD_INDEX));
    tdo_field_decl price = fld("price", TDO_F_DECIMAL, 0);
    price.max_digits = 10;
    price.decimal_places = 2;
    add(p, price);
    tdo_field_decl stock = fld("stock", TDO_F_INT,
                               TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT);
    stock.default_value = tdo_value_int(0);
    add(p, stock);
    tdo_field_decl avail = fld("is_available", TDO_F_BOOL,
                               TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT);
    avail.default_value = tdo_value_bool(true);
    add(p, avail);
    tdo_field_decl cat = fld("category", TDO_F_FK, 0);
    cat.related_ref = "models.Category";
    add(p, cat);
    tdo_field_decl tags = fld("tags", TDO_F_M2M, 0);
    tags.related_ref = "models.Category";
    /* the default reverse name would clash with category's */
    tags.related_name = "tagged_products";
    add(p, tags);
    finish(p);

    tdo_model *c = model(ctx, "Category", "categories");
    add(c, fld("id", TDO_F_INT, TDO_FIELD_PK));
    add(c, chr("name", 100, TDO_FIELD_UNIQUE));
    tdo_field_decl slug =
        chr("slug", 100, TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT);
    slug.default_value = tdo_value_text("it's", 4);
    add(c, slug);
    tdo_field_decl parent = fld("parent", TDO_F_FK, TDO_FIELD_NULL);
    parent.related_ref = "models.Category";
    parent.on_delete = TDO_SET_NULL;
    add(c, parent);
    finish(c);

    tdo_model *u = model(ctx, "User", "users");
    assert_int_equal(tdo_model_inherit(u, ts, &err), 0);
    add(u, fld("id", TDO_F_INT, TDO_FIELD_PK));
    add(u, chr("email", 255, TDO_FIELD_UNIQUE | TDO_FIELD_INDEX));
    add(u, chr("role", 20, 0));
    add(u, fld("is_active", TDO_F_BOOL, 0));
    add(u, fld("bio", TDO_F_TEXT, TDO_FIELD_NULL));
    const char *ix1[] = {"email", "is_active"}, *ix2[] = {"role"};
    const char *ut[] = {"role", "bio"};
    assert_int_equal(tdo_model_add_index(u, ix1, 2, false, &err), 0);
    assert_int_equal(tdo_model_add_index(u, ix2, 1, false, &err), 0);
    assert_int_equal(tdo_model_add_index(u, ut, 2, true, &err), 0);
    finish(u);

    if (tdo_ctx_resolve(ctx, &err))
        fail_msg("resolve: %s", err.message);
    return ctx;
}

static const char categories_ddl[] =
    "CREATE TABLE \"categories\" (\n"
    "    \"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n"
    "    \"name\" VARCHAR(100) NOT NULL,\n"
    "    \"slug\" VARCHAR(100) NOT NULL DEFAULT 'it''s',\n"
    "    \"parent_id\" INT,\n"
    "    CONSTRAINT \"uniq_categories_name_a11b8e\" UNIQUE (\"name\"),\n"
    "    CONSTRAINT \"fk_categories_parent_id_8ef4ed\" FOREIGN KEY "
    "(\"parent_id\") REFERENCES \"categories\" (\"id\") ON DELETE SET NULL\n"
    ")";

static const char products_ddl[] =
    "CREATE TABLE \"products\" (\n"
    "    \"created_at\" TIMESTAMP NOT NULL,\n"
    "    \"updated_at\" TIMESTAMP NOT NULL,\n"
    "    \"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n"
    "    \"name\" VARCHAR(255) NOT NULL,\n"
    "    \"price\" DECIMAL(10,2) NOT NULL,\n"
    "    \"stock\" INT NOT NULL DEFAULT 0,\n"
    "    \"is_available\" INT NOT NULL DEFAULT 1,\n"
    "    \"category_id\" INT NOT NULL,\n"
    "    CONSTRAINT \"fk_products_category_id_429109\" FOREIGN KEY "
    "(\"category_id\") REFERENCES \"categories\" (\"id\") ON DELETE CASCADE\n"
    ")";

static void test_model_ddl(void **state)
{
    (void)state;
    tdo_ctx *ctx = shop();
    tdo_error err = TDO_ERROR_INIT;
    char *sql = NULL;
    tdo_model *c = tdo_ctx_model(ctx, "models", "Category");
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, c, false, &sql, &err), 0);
    char want[1024];
    snprintf(want, sizeof(want), "%s;", categories_ddl);
    assert_string_equal(sql, want);
    free(sql);

    tdo_model *p = tdo_ctx_model(ctx, "models", "Product");
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, p, false, &sql, &err), 0);
    assert_non_null(strstr(sql, products_ddl));
    /* index=true field: one index, named deterministically */
    const char *ix = strstr(sql, ";\nCREATE INDEX \"idx_products_name_");
    assert_non_null(ix);
    assert_non_null(strstr(ix, "\" ON \"products\" (\"name\");"));
    /* m2m: no column */
    assert_null(strstr(sql, "tags"));
    free(sql);

    /* an abstract model has no table */
    tdo_model *ts = tdo_ctx_model(ctx, "models", "TimestampMixin");
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, ts, false, &sql, &err), 0);
    assert_string_equal(sql, "");
    free(sql);
    tdo_ctx_free(ctx);
}

static void test_indexes(void **state)
{
    (void)state;
    tdo_ctx *ctx = shop();
    tdo_error err = TDO_ERROR_INIT;
    char *sql = NULL, *again = NULL;
    tdo_model *u = tdo_ctx_model(ctx, "models", "User");
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, u, true, &sql, &err), 0);
    assert_int_equal(
        strncmp(sql, "CREATE TABLE IF NOT EXISTS \"users\" (\n", 37), 0);
    /* unique email: a named UNIQUE constraint, no extra index */
    assert_non_null(strstr(sql, "\"email\" VARCHAR(255) NOT NULL,"));
    assert_non_null(strstr(sql, "CONSTRAINT \"uniq_users_email_"));
    assert_non_null(strstr(sql, "\" UNIQUE (\"email\"),\n"));
    assert_null(strstr(sql, "(\"email\");"));
    assert_non_null(strstr(sql, "\"bio\" TEXT,\n"));
    /* unique_together */
    assert_non_null(strstr(sql, ",\n    CONSTRAINT \"uid_users_role_bio_"));
    assert_non_null(strstr(sql, "\" UNIQUE (\"role\", \"bio\")\n);"));
    /* Meta.indexes */
    assert_non_null(strstr(sql, "CREATE INDEX IF NOT EXISTS "
                                "\"idx_users_email_is_active_"));
    assert_non_null(strstr(sql, "\" ON \"users\" (\"email\", \"is_active\");"));
    assert_non_null(
        strstr(sql, "\" ON \"users\" (\"role\");")); /* the last statement */
    assert_int_equal(sql[strlen(sql) - 1], ';');
    /* deterministic */
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, u, true, &again, &err), 0);
    assert_string_equal(sql, again);
    free(again);
    /* names stay within 63 bytes */
    for (const char *p = sql; (p = strstr(p, "\"idx_")); p++) {
        const char *end = strchr(p + 1, '"');
        assert_true(end - p - 1 <= 63);
    }
    free(sql);
    tdo_ctx_free(ctx);
}

static void test_long_index_name(void **state)
{
    (void)state;
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_error err = TDO_ERROR_INIT;
    tdo_model *m =
        model(ctx, "Long", "a_table_with_a_really_quite_long_name_indeed");
    add(m, chr("first_very_long_column_name", 10, 0));
    add(m, chr("second_very_long_column_name", 10, 0));
    const char *ix[] = {"first_very_long_column_name",
                        "second_very_long_column_name"};
    assert_int_equal(tdo_model_add_index(m, ix, 2, false, &err), 0);
    const char *ix2[] = {"second_very_long_column_name",
                         "first_very_long_column_name"};
    assert_int_equal(tdo_model_add_index(m, ix2, 2, false, &err), 0);
    finish(m);
    char *sql = NULL;
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, NULL, false, &sql, &err), 0);
    const char *a = strstr(sql, "CREATE INDEX \"");
    assert_non_null(a);
    const char *b = strstr(a + 1, "CREATE INDEX \"");
    assert_non_null(b);
    a += 14;
    b += 14;
    size_t la = (size_t)(strchr(a, '"') - a), lb = (size_t)(strchr(b, '"') - b);
    assert_int_equal(la, 63);
    assert_int_equal(lb, 63);
    /* same truncated prefix, different hashes */
    assert_memory_not_equal(a, b, 63);
    free(sql);
    tdo_ctx_free(ctx);
}

static void test_order_and_run(void **state)
{
    (void)state;
    tdo_ctx *ctx = shop();
    tdo_error err = TDO_ERROR_INIT;
    char *sql = NULL;
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_sqlite, NULL, false, &sql, &err), 0);
    /* FK targets first: categories before products */
    const char *c = strstr(sql, "CREATE TABLE \"categories\"");
    const char *p = strstr(sql, "CREATE TABLE \"products\"");
    const char *u = strstr(sql, "CREATE TABLE \"users\"");
    assert_non_null(c);
    assert_non_null(p);
    assert_non_null(u);
    assert_true(c < p);
    assert_null(strstr(sql, "TimestampMixin"));
    assert_null(strstr(sql, "timestampmixin"));
    free(sql);

    /* runs on SQLite, twice in safe mode */
    tdo_conn *conn = NULL;
    if (tdo_connect(ctx, "default", "sqlite://:memory:", &conn, &err))
        fail_msg("connect: %s", err.message);
    if (tdo_generate_schemas(ctx, conn, false, &err))
        fail_msg("generate: %s", err.message);
    assert_int_equal(tdo_generate_schemas(ctx, conn, true, &err), 0);
    assert_int_not_equal(tdo_generate_schemas(ctx, conn, false, &err), 0);
    tdo_error_release(&err);
    tdo_ctx_free(ctx);
}

/* The schema state: tables in creation order, columns as the dialect
 * types them, named constraints and indexes; its JSON text read back
 * writes the same DDL as the registry. */
static void test_state(void **state)
{
    (void)state;
    tdo_ctx *ctx = shop();
    tdo_error err = TDO_ERROR_INIT;
    json_t *st = NULL;
    assert_int_equal(
        tdo_schema_state(ctx, &tdo_dialect_postgres, NULL, NULL, &st, &err),
        TDO_OK);
    assert_string_equal(json_string_value(json_object_get(st, "dialect")),
                        "postgres");
    json_t *tables = json_object_get(st, "tables");
    assert_int_equal(json_array_size(tables), 4); /* + products_category */
    json_t *cat = json_array_get(tables, 0);
    assert_string_equal(json_string_value(json_object_get(cat, "table")),
                        "categories");
    assert_string_equal(json_string_value(json_object_get(cat, "model")),
                        "models.Category");
    json_t *parent = json_array_get(json_object_get(cat, "columns"), 3);
    assert_string_equal(json_string_value(json_object_get(parent, "name")),
                        "parent_id");
    assert_true(json_is_true(json_object_get(parent, "null")));
    json_t *fk = json_object_get(parent, "fk");
    assert_string_equal(json_string_value(json_object_get(fk, "on_delete")),
                        "SET NULL");
    json_t *slug = json_array_get(json_object_get(cat, "columns"), 2);
    assert_string_equal(json_string_value(json_object_get(slug, "default")),
                        "'it''s'");
    json_t *through = json_array_get(tables, 3);
    assert_true(json_is_null(json_object_get(through, "model")));
    json_t *uidx = json_array_get(json_object_get(through, "indexes"), 0);
    assert_true(json_is_true(json_object_get(uidx, "unique")));
    assert_non_null(
        strstr(json_string_value(json_object_get(uidx, "name")), "uidx_"));

    /* text and back: the same DDL */
    char *text = json_dumps(st, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    char *sql = NULL;
    assert_int_equal(
        tdo_schema_sql(ctx, &tdo_dialect_postgres, NULL, false, &sql, &err), 0);
    tdo_sb sb = TDO_SB_INIT;
    assert_int_equal(tdo_state_sql(&sb, &tdo_dialect_postgres, back, false), 0);
    assert_string_equal(sb.buf, sql);
    tdo_sb_release(&sb);
    free(sql);
    free(text);
    json_decref(back);
    json_decref(st);
    tdo_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_ddl),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_long_index_name),
        cmocka_unit_test(test_order_and_run),
        cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
