/*
 * test_compile_dialects.c -- the SQL each dialect writes (pure, no
 * server): the same queries compiled for sqlite, postgres and mysql, the
 * column types of the DDL, and the value conversions of the PostgreSQL
 * and MySQL dialects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_model *user;
static const tdo_dialect *dl[3]; /* sqlite, postgres, mysql */
static tdo_error err;

#define CHECK(call)                                                            \
    do {                                                                       \
        tdo_status st_ = (call);                                               \
        if (st_)                                                               \
            fail_msg("%s: %s: %s", #call, tdo_status_name(st_),                \
                     err.message ? err.message : "");                          \
    } while (0)

static void add(tdo_model *m, tdo_field_decl f)
{
    CHECK(tdo_model_add_field(m, &f, NULL, &err));
}

static int setup(void **state)
{
    tdo_error_init(&err);
    dl[0] = tdo_dialect_by_name("sqlite");
    dl[1] = tdo_dialect_by_name("postgres");
    dl[2] = tdo_dialect_by_name("mysql");
    ctx = tdo_ctx_new();
    CHECK(tdo_model_new(ctx, "models", "User", &user, &err));
    CHECK(tdo_model_set_table(user, "users", &err));
    tdo_field_decl f = tdo_field_template("email", TDO_F_CHAR);
    f.max_length = 255;
    f.flags = TDO_FIELD_UNIQUE;
    add(user, f);
    f = tdo_field_template("username", TDO_F_CHAR);
    f.max_length = 100;
    f.flags = TDO_FIELD_INDEX;
    add(user, f);
    f = tdo_field_template("is_active", TDO_F_BOOL);
    f.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    f.default_value = tdo_value_bool(true);
    add(user, f);
    f = tdo_field_template("balance", TDO_F_DECIMAL);
    f.max_digits = 10;
    f.decimal_places = 2;
    f.flags = TDO_FIELD_NULL;
    add(user, f);
    static const tdo_field_type types[] = {
        TDO_F_BIGINT,   TDO_F_SMALLINT, TDO_F_FLOAT, TDO_F_TEXT,
        TDO_F_DATETIME, TDO_F_DATE,     TDO_F_TIME,  TDO_F_TIMEDELTA,
        TDO_F_UUID,     TDO_F_JSON,     TDO_F_BINARY};
    static const char *const names[] = {"big", "small", "fl",  "bio",
                                        "at",  "day",   "tm",  "span",
                                        "uid", "data",  "blob"};
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
        f = tdo_field_template(names[i], types[i]);
        f.flags = TDO_FIELD_NULL;
        add(user, f);
    }
    CHECK(tdo_model_finish(user, &err));
    CHECK(tdo_ctx_resolve(ctx, &err));
    return 0;
}

static int teardown(void **state)
{
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

static void test_by_name(void **state)
{
    assert_non_null(dl[0]);
    assert_non_null(dl[1]);
    assert_non_null(dl[2]);
    assert_string_equal(tdo_dialect_name(dl[1]), "postgres");
    assert_string_equal(tdo_dialect_name(dl[2]), "mysql");
    assert_null(tdo_dialect_by_name("oracle"));
    for (int i = 0; i < 3; i++)
        assert_int_equal(dl[i]->version, TDO_DIALECT_VERSION);
}

/* Compiles q (a SELECT, or kind) for dialect i and compares the SQL. */
static void expect(const tdo_query *q, tdo_stmt_kind kind, int i,
                   const char *sql)
{
    tdo_compiled *c = NULL;
    tdo_value v = tdo_value_text("n", 1);
    tdo_assign as = {"username", &v, NULL};
    CHECK(tdo_compile(q, kind, dl[i], kind == TDO_STMT_UPDATE ? &as : NULL,
                      kind == TDO_STMT_UPDATE ? 1 : 0, &c, &err));
    assert_string_equal(tdo_compiled_sql(c), sql);
    tdo_compiled_free(c);
}

static tdo_query *where(const char *key, tdo_value v)
{
    tdo_query *all = tdo_query_new(user), *q = NULL;
    tdo_qnode *n = tdo_q_lookup(key, &v, 1);
    CHECK(tdo_query_filter(all, n, &q, &err));
    tdo_qnode_free(n);
    tdo_query_free(all);
    return q;
}

static void test_quoting_placeholders(void **state)
{
    tdo_query *q = where("username", tdo_value_text("a", 1)), *q2 = NULL;
    tdo_value two[2] = {tdo_value_int(1), tdo_value_int(2)};
    tdo_qnode *n = tdo_q_lookup("id__in", two, 2);
    CHECK(tdo_query_filter(q, n, &q2, &err));
    tdo_qnode_free(n);
    tdo_query *qv = NULL;
    const char *cols[] = {"id", "email"};
    CHECK(tdo_query_values(q2, TDO_PROJ_VALUES, cols, NULL, 2, &qv, &err));
    expect(qv, TDO_STMT_SELECT, 0,
           "SELECT \"id\",\"email\" FROM \"users\" WHERE \"username\"=? AND "
           "\"id\" IN (?,?)");
    expect(qv, TDO_STMT_SELECT, 1,
           "SELECT \"id\",\"email\" FROM \"users\" WHERE \"username\"=$1 AND "
           "\"id\" IN ($2,$3)");
    expect(qv, TDO_STMT_SELECT, 2,
           "SELECT `id`,`email` FROM `users` WHERE `username`=? AND "
           "`id` IN (?,?)");
    expect(q2, TDO_STMT_COUNT, 1,
           "SELECT COUNT(*) FROM \"users\" WHERE \"username\"=$1 AND \"id\" "
           "IN ($2,$3)");
    tdo_query_free(q);
    tdo_query_free(q2);
    tdo_query_free(qv);
}

static void test_like(void **state)
{
    tdo_query *q = where("username__contains", tdo_value_text("a%", 2));
    expect(q, TDO_STMT_COUNT, 0,
           "SELECT COUNT(*) FROM \"users\" WHERE \"username\" GLOB ?");
    expect(q, TDO_STMT_COUNT, 1,
           "SELECT COUNT(*) FROM \"users\" WHERE \"username\" LIKE $1 "
           "ESCAPE '\\'");
    expect(q, TDO_STMT_COUNT, 2,
           "SELECT COUNT(*) FROM `users` WHERE `username` LIKE ? "
           "ESCAPE '\\\\'");
    tdo_query_free(q);
    q = where("username__icontains", tdo_value_text("a", 1));
    expect(q, TDO_STMT_COUNT, 0,
           "SELECT COUNT(*) FROM \"users\" WHERE LOWER(\"username\") LIKE "
           "LOWER(?) ESCAPE '\\'");
    expect(q, TDO_STMT_COUNT, 1,
           "SELECT COUNT(*) FROM \"users\" WHERE \"username\" ILIKE $1 "
           "ESCAPE '\\'");
    expect(q, TDO_STMT_COUNT, 2,
           "SELECT COUNT(*) FROM `users` WHERE LOWER(`username`) LIKE "
           "LOWER(?) ESCAPE '\\\\'");
    /* the pattern parameter escapes wildcards the same way everywhere */
    tdo_compiled *c = NULL;
    tdo_query_free(q);
    q = where("username__startswith", tdo_value_text("5%_\\", 4));
    CHECK(tdo_compile(q, TDO_STMT_SELECT, dl[2], NULL, 0, &c, &err));
    assert_int_equal(tdo_compiled_nparams(c), 1);
    assert_string_equal(tdo_compiled_params(c)[0].u.s.ptr, "5\\%\\_\\\\%");
    tdo_compiled_free(c);
    tdo_query_free(q);
}

static void test_slices(void **state)
{
    tdo_query *all = tdo_query_new(user), *lim = NULL, *off = NULL, *lo = NULL;
    CHECK(tdo_query_limit(all, 10, &lim, &err));
    CHECK(tdo_query_offset(all, 5, &off, &err));
    CHECK(tdo_query_offset(lim, 5, &lo, &err));
    tdo_query *p = NULL;
    const char *cols[] = {"id"};
    CHECK(tdo_query_values(off, TDO_PROJ_FLAT, cols, NULL, 1, &p, &err));
    expect(p, TDO_STMT_SELECT, 0,
           "SELECT \"id\" FROM \"users\" LIMIT -1 "
           "OFFSET 5");
    expect(p, TDO_STMT_SELECT, 1, "SELECT \"id\" FROM \"users\" OFFSET 5");
    expect(p, TDO_STMT_SELECT, 2,
           "SELECT `id` FROM `users` LIMIT 18446744073709551615 OFFSET 5");
    tdo_query_free(p);
    CHECK(tdo_query_values(lo, TDO_PROJ_FLAT, cols, NULL, 1, &p, &err));
    expect(p, TDO_STMT_SELECT, 1,
           "SELECT \"id\" FROM \"users\" LIMIT 10 OFFSET 5");
    expect(p, TDO_STMT_SELECT, 2, "SELECT `id` FROM `users` LIMIT 10 OFFSET 5");
    /* sliced UPDATE/DELETE: MySQL reads the keys from a derived table */
    expect(lim, TDO_STMT_DELETE, 1,
           "DELETE FROM \"users\" WHERE \"id\" IN (SELECT \"id\" FROM "
           "\"users\" LIMIT 10)");
    expect(lim, TDO_STMT_DELETE, 2,
           "DELETE FROM `users` WHERE `id` IN (SELECT `id` FROM (SELECT "
           "`id` FROM `users` LIMIT 10) AS `sub`)");
    expect(lim, TDO_STMT_UPDATE, 0,
           "UPDATE \"users\" SET \"username\"=? WHERE \"id\" IN (SELECT "
           "\"id\" FROM \"users\" LIMIT 10)");
    expect(lim, TDO_STMT_UPDATE, 2,
           "UPDATE `users` SET `username`=? WHERE `id` IN (SELECT `id` FROM "
           "(SELECT `id` FROM `users` LIMIT 10) AS `sub`)");
    tdo_query_free(p);
    tdo_query_free(all);
    tdo_query_free(lim);
    tdo_query_free(off);
    tdo_query_free(lo);
}

static void test_insert(void **state)
{
    const tdo_field *fs[] = {tdo_model_field_by_name(user, "email")};
    tdo_value v[2] = {tdo_value_text("a", 1), tdo_value_text("b", 1)};
    static const char *const want[3][2] = {
        {"INSERT INTO \"users\" (\"email\") VALUES (?),(?) RETURNING \"id\"",
         "INSERT OR IGNORE INTO \"users\" (\"email\") VALUES (?),(?) "
         "RETURNING \"id\""},
        {"INSERT INTO \"users\" (\"email\") VALUES ($1),($2) RETURNING "
         "\"id\"",
         "INSERT INTO \"users\" (\"email\") VALUES ($1),($2) ON CONFLICT DO "
         "NOTHING RETURNING \"id\""},
        {"INSERT INTO `users` (`email`) VALUES (?),(?)",
         "INSERT IGNORE INTO `users` (`email`) VALUES (?),(?)"},
    };
    for (int i = 0; i < 3; i++) {
        for (int ig = 0; ig < 2; ig++) {
            tdo_compiled *c = NULL;
            CHECK(tdo_compile_insert(user, dl[i], fs, 1, v, 2, ig, &c, &err));
            assert_string_equal(tdo_compiled_sql(c), want[i][ig]);
            assert_int_equal(c->returning, i < 2);
            tdo_compiled_free(c);
        }
    }
}

static void test_ddl(void **state)
{
    char *sql = NULL;
    CHECK(tdo_schema_sql(ctx, dl[1], NULL, false, &sql, &err));
    assert_string_equal(sql, "CREATE TABLE \"users\" (\n"
                             "    \"id\" SERIAL PRIMARY KEY NOT NULL,\n"
                             "    \"email\" VARCHAR(255) NOT NULL,\n"
                             "    \"username\" VARCHAR(100) NOT NULL,\n"
                             "    \"is_active\" BOOL NOT NULL DEFAULT TRUE,\n"
                             "    \"balance\" DECIMAL(10,2),\n"
                             "    \"big\" BIGINT,\n"
                             "    \"small\" SMALLINT,\n"
                             "    \"fl\" DOUBLE PRECISION,\n"
                             "    \"bio\" TEXT,\n"
                             "    \"at\" TIMESTAMPTZ,\n"
                             "    \"day\" DATE,\n"
                             "    \"tm\" TIME,\n"
                             "    \"span\" BIGINT,\n"
                             "    \"uid\" UUID,\n"
                             "    \"data\" JSONB,\n"
                             "    \"blob\" BYTEA,\n"
                             "    CONSTRAINT \"uniq_users_email_2f4769\" "
                             "UNIQUE (\"email\")\n"
                             ");\n"
                             "CREATE INDEX \"idx_users_username_4bf831\" ON "
                             "\"users\" (\"username\");");
    free(sql);
    CHECK(tdo_schema_sql(ctx, dl[2], NULL, true, &sql, &err));
    assert_string_equal(
        sql, "CREATE TABLE IF NOT EXISTS `users` (\n"
             "    `id` INT PRIMARY KEY AUTO_INCREMENT NOT NULL,\n"
             "    `email` VARCHAR(255) NOT NULL,\n"
             "    `username` VARCHAR(100) NOT NULL,\n"
             "    `is_active` BOOL NOT NULL DEFAULT TRUE,\n"
             "    `balance` DECIMAL(10,2),\n"
             "    `big` BIGINT,\n"
             "    `small` SMALLINT,\n"
             "    `fl` DOUBLE,\n"
             "    `bio` LONGTEXT,\n"
             "    `at` DATETIME(6),\n"
             "    `day` DATE,\n"
             "    `tm` TIME(6),\n"
             "    `span` BIGINT,\n"
             "    `uid` CHAR(36),\n"
             "    `data` JSON,\n"
             "    `blob` LONGBLOB,\n"
             "    CONSTRAINT `uniq_users_email_2f4769` UNIQUE (`email`)\n"
             ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n"
             "CREATE INDEX IF NOT EXISTS `idx_users_username_4bf831` ON "
             "`users` (`username`);");
    free(sql);
}

/* to_db of one value for dialect i, formatted. */
static void to_db(int i, tdo_value in, bool use_tz, const char *want)
{
    tdo_value out;
    CHECK(dl[i]->to_db(NULL, &in, &out, use_tz, &err));
    tdo_sb sb = TDO_SB_INIT;
    tdo_sb_addf(&sb, "%s:", tdo_type_name(out.type));
    tdo_value_format(&sb, &out, false);
    assert_string_equal(sb.buf, want);
    tdo_sb_release(&sb);
    tdo_value_release(&out);
}

static void test_values(void **state)
{
    tdo_decimal d;
    CHECK(tdo_decimal_parse("-12.50", 6, &d, &err));
    to_db(1, tdo_value_decimal(&d), false, "text:-12.50");
    to_db(2, tdo_value_decimal(&d), false, "text:-12.50");
    to_db(1, tdo_value_bool(true), false, "bool:true");
    to_db(2, tdo_value_bool(true), false, "int:1");
    tdo_value dt;
    memset(&dt, 0, sizeof(dt));
    dt.type = TDO_DATETIME;
    CHECK(tdo_datetime_parse("2026-11-25T10:15:35+01:00", 25, TDO_DATETIME,
                             &dt.u.dt, &err));
    /* PostgreSQL keeps the offset; MySQL stores naive UTC */
    to_db(1, dt, false, "text:2026-11-25 10:15:35.000000+01:00");
    to_db(2, dt, true, "text:2026-11-25 09:15:35.000000");
    /* from_db: booleans and decimals from their driver forms */
    const tdo_field *act = tdo_model_field_by_name(user, "is_active");
    const tdo_field *bal = tdo_model_field_by_name(user, "balance");
    tdo_value in = tdo_value_bool(true), out;
    CHECK(dl[1]->from_db(act, &in, &out, false, &err));
    assert_int_equal(out.type, TDO_BOOL);
    in = tdo_value_int(0);
    CHECK(dl[2]->from_db(act, &in, &out, false, &err));
    assert_int_equal(out.type, TDO_BOOL);
    assert_false(out.u.b);
    in = tdo_value_text("3.456", 5);
    CHECK(dl[2]->from_db(bal, &in, &out, false, &err));
    assert_int_equal(out.type, TDO_DECIMAL);
    char buf[48];
    tdo_decimal_format(&out.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "3.46");
    /* a PostgreSQL timestamptz read back */
    const tdo_field *at = tdo_model_field_by_name(user, "at");
    in = tdo_value_text("2026-11-25 09:15:35.5+00", 24);
    CHECK(dl[1]->from_db(at, &in, &out, true, &err));
    assert_int_equal(out.type, TDO_DATETIME);
    assert_true(out.u.dt.has_offset);
    assert_int_equal(out.u.dt.hour, 9);
    assert_int_equal(out.u.dt.usec, 500000);
}

/* only(): the named columns and the primary key, in field order; the
 * query is partial until every column is named. */
static void test_only(void **state)
{
    tdo_query *all = tdo_query_new(user), *q = NULL, *q2 = NULL;
    const char *names[] = {"username", "email"};
    CHECK(tdo_query_only(all, names, 2, &q, &err));
    assert_true(tdo_query_partial(q));
    assert_false(tdo_query_partial(all));
    assert_int_equal(tdo_query_ncolumns(q), 3);
    assert_string_equal(tdo_query_column(q, 0), "id");
    assert_string_equal(tdo_query_column(q, 1), "email");
    assert_string_equal(tdo_query_column(q, 2), "username");
    expect(q, TDO_STMT_SELECT, 2,
           "SELECT `id`,`email`,`username` FROM `users`");
    /* kept by later chaining */
    CHECK(tdo_query_limit(q, 1, &q2, &err));
    assert_int_equal(tdo_query_ncolumns(q2), 3);
    tdo_query_free(q2);
    /* values() names its own columns */
    const char *v[] = {"is_active"};
    CHECK(tdo_query_values(q, TDO_PROJ_VALUES, v, NULL, 1, &q2, &err));
    assert_int_equal(tdo_query_ncolumns(q2), 1);
    tdo_query_free(q2);
    tdo_query_free(q);
    /* unknown names and paths through relations */
    const char *bad[] = {"nope"};
    assert_int_equal(tdo_query_only(all, bad, 1, &q, &err), TDO_ERR_FIELD);
    assert_null(q);
    tdo_error_release(&err);
    tdo_query_free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_name),
        cmocka_unit_test(test_quoting_placeholders),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_ddl),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
