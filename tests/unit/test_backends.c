/*
 * test_backends.c -- the connection layer end to end on PostgreSQL and
 * MySQL/MariaDB: the scenario of test_sqlite.c (schemas, inserts,
 * querysets, errors, transactions, the statement cache, cancellation)
 * plus round trips of every value type and the lookups whose SQL differs
 * per dialect.  Runs on the servers named by TESTUDO_PG_URL and
 * TESTUDO_MYSQL_URL (tests/backends/pg.sh and mysql.sh start them) and
 * skips a database whose variable is unset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "tdo_int.h"

static const char *url; /* of the group being run, or NULL: skip */
static bool is_pg;
static tdo_ctx *ctx;
static tdo_conn *conn;
static tdo_model *user, *thing;
static tdo_error err;
static const tdo_field *f_email, *f_name, *f_active, *f_balance;

#define CHECK(call)                                                            \
    do {                                                                       \
        tdo_status st_ = (call);                                               \
        if (st_)                                                               \
            fail_msg("%s: %s: %s", #call, tdo_status_name(st_),                \
                     err.message ? err.message : "");                          \
    } while (0)

static tdo_field *add(tdo_model *m, tdo_field_decl t)
{
    tdo_field *f = NULL;
    CHECK(tdo_model_add_field(m, &t, &f, &err));
    return f;
}

static void thing_fields(tdo_model *m)
{
    static const tdo_field_type types[] = {
        TDO_F_BIGINT, TDO_F_FLOAT,  TDO_F_TEXT,      TDO_F_DATETIME,
        TDO_F_DATE,   TDO_F_TIME,   TDO_F_TIMEDELTA, TDO_F_UUID,
        TDO_F_JSON,   TDO_F_BINARY, TDO_F_SMALLINT,  TDO_F_BOOL,
    };
    static const char *const names[] = {"big",  "fl",   "txt",   "at",
                                        "day",  "tm",   "span",  "uid",
                                        "data", "blob", "small", "flag"};
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
        tdo_field_decl t = tdo_field_template(names[i], types[i]);
        t.flags = TDO_FIELD_NULL;
        add(m, t);
    }
    tdo_field_decl t = tdo_field_template("price", TDO_F_DECIMAL);
    t.max_digits = 30;
    t.decimal_places = 10;
    t.flags = TDO_FIELD_NULL;
    add(m, t);
}

static int setup(void **state)
{
    if (!url)
        return 0;
    tdo_error_init(&err);
    ctx = tdo_ctx_new();
    CHECK(tdo_model_new(ctx, "models", "User", &user, &err));
    CHECK(tdo_model_set_table(user, "tb_users", &err));
    tdo_field_decl t = tdo_field_template("email", TDO_F_CHAR);
    t.max_length = 255;
    t.flags = TDO_FIELD_UNIQUE;
    f_email = add(user, t);
    t = tdo_field_template("username", TDO_F_CHAR);
    t.max_length = 100;
    t.flags = TDO_FIELD_INDEX;
    f_name = add(user, t);
    t = tdo_field_template("is_active", TDO_F_BOOL);
    t.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    t.default_value = tdo_value_bool(true);
    f_active = add(user, t);
    t = tdo_field_template("balance", TDO_F_DECIMAL);
    t.max_digits = 10;
    t.decimal_places = 2;
    t.flags = TDO_FIELD_NULL;
    f_balance = add(user, t);
    CHECK(tdo_model_finish(user, &err));
    CHECK(tdo_model_new(ctx, "models", "Thing", &thing, &err));
    CHECK(tdo_model_set_table(thing, "tb_things", &err));
    thing_fields(thing);
    CHECK(tdo_model_finish(thing, &err));
    CHECK(tdo_ctx_resolve(ctx, &err));
    CHECK(tdo_connect(ctx, "default", url, &conn, &err));
    CHECK(tdo_conn_execute_script(conn,
                                  "DROP TABLE IF EXISTS tb_users; "
                                  "DROP TABLE IF EXISTS tb_things; "
                                  "DROP TABLE IF EXISTS tb_raw",
                                  &err));
    CHECK(tdo_generate_schemas(ctx, conn, false, &err));
    return 0;
}

static int teardown(void **state)
{
    if (!url)
        return 0;
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

#define NEED_SERVER()                                                          \
    do {                                                                       \
        if (!url)                                                              \
            skip();                                                            \
    } while (0)

static int64_t insert_user(const char *email, const char *name, bool active,
                           const char *balance)
{
    const tdo_field *fields[] = {f_email, f_name, f_active, f_balance};
    tdo_value in[4] = {
        tdo_value_text(email, strlen(email)),
        tdo_value_text(name, strlen(name)), tdo_value_bool(active),
        balance ? tdo_value_text(balance, strlen(balance)) : tdo_value_null()};
    tdo_value vals[4], pk;
    for (int i = 0; i < 4; i++)
        CHECK(tdo_field_coerce(fields[i], &in[i], &vals[i], &err));
    tdo_status st =
        tdo_insert(conn, user, fields, 4, vals, 1, false, &pk, &err);
    for (int i = 0; i < 4; i++)
        tdo_value_release(&vals[i]);
    if (st)
        return -(int64_t)st;
    assert_int_equal(pk.type, TDO_INT);
    return pk.u.i;
}

static tdo_query *filtered(tdo_model *m, const char *key, tdo_value v)
{
    tdo_query *all = tdo_query_new(m), *q = NULL;
    tdo_qnode *cond = tdo_q_lookup(key, &v, 1);
    assert_non_null(all);
    assert_non_null(cond);
    CHECK(tdo_query_filter(all, cond, &q, &err));
    tdo_qnode_free(cond);
    tdo_query_free(all);
    return q;
}

static int64_t count_of(tdo_query *q)
{
    int64_t n = -1;
    CHECK(tdo_query_count(conn, q, &n, &err));
    return n;
}

static int64_t count_where(const char *key, const char *text)
{
    tdo_query *q = filtered(user, key, tdo_value_text(text, strlen(text)));
    int64_t n = count_of(q);
    tdo_query_free(q);
    return n;
}

static int64_t count_users(void)
{
    tdo_query *all = tdo_query_new(user);
    int64_t n = count_of(all);
    tdo_query_free(all);
    return n;
}

static void test_connect(void **state)
{
    NEED_SERVER();
    assert_string_equal(tdo_dialect_name(tdo_conn_dialect(conn)),
                        is_pg ? "postgres" : "mysql");
    assert_null(strstr(tdo_conn_url(conn), ":secret@"));
    const char *v = conn->backend->server_version(conn->db);
    assert_true(v && *v);
    /* a wrong password: OperationalError, the password never shown */
    tdo_conn *c = NULL;
    char bad[512];
    const char *at = strchr(url, '@');
    assert_non_null(at);
    snprintf(bad, sizeof(bad), "%s://testudo:wr0ngpass%s",
             is_pg ? "postgres" : "mysql", at);
    CHECK(tdo_connect(ctx, "bad", bad, &c, &err));
    assert_int_equal(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    assert_null(strstr(err.message, "wr0ngpass"));
    /* every alias of the scheme */
    const char *aliases[] = {is_pg ? "postgresql" : "asyncmy",
                             is_pg ? "asyncpg" : "mysql",
                             is_pg ? "psycopg" : "mariadb"};
    const char *rest = strstr(url, "://");
    for (int i = 0; i < 3; i++) {
        snprintf(bad, sizeof(bad), "%s%s", aliases[i], rest);
        CHECK(tdo_connect(ctx, "alias", bad, &c, &err));
        CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    }
}

static void test_insert_and_query(void **state)
{
    NEED_SERVER();
    assert_int_equal(insert_user("a@x.org", "ann", true, "10.5"), 1);
    assert_int_equal(insert_user("b@x.org", "bob", false, NULL), 2);
    assert_int_equal(insert_user("c@x.org", "cy", true, "0.125"), 3);

    tdo_query *all = tdo_query_new(user), *ordered = NULL;
    const char *keys[] = {"-username"};
    CHECK(tdo_query_order_by(all, keys, 1, &ordered, &err));
    tdo_rows *r = NULL;
    CHECK(tdo_query_run(conn, ordered, &r, &err));
    assert_int_equal(tdo_rows_ncols(r), 5);
    assert_string_equal(tdo_rows_colname(r, 0), "id");
    const char *names[] = {"cy", "bob", "ann"};
    const char *bal[] = {"0.12", NULL, "10.50"}; /* half-even */
    bool has;
    for (int i = 0; i < 3; i++) {
        tdo_value v;
        CHECK(tdo_rows_next(r, &has, &err));
        assert_true(has);
        CHECK(tdo_rows_get(r, 2, &v, &err));
        assert_int_equal(v.type, TDO_TEXT);
        assert_int_equal(v.u.s.len, strlen(names[i]));
        assert_memory_equal(v.u.s.ptr, names[i], v.u.s.len);
        CHECK(tdo_rows_get(r, 3, &v, &err));
        assert_int_equal(v.type, TDO_BOOL);
        assert_int_equal(v.u.b, i != 1);
        CHECK(tdo_rows_get(r, 4, &v, &err));
        if (!bal[i]) {
            assert_int_equal(v.type, TDO_NULL);
        } else {
            char buf[48];
            assert_int_equal(v.type, TDO_DECIMAL);
            tdo_decimal_format(&v.u.dec, buf, sizeof(buf));
            assert_string_equal(buf, bal[i]);
        }
        CHECK(tdo_rows_get(r, 0, &v, &err));
        assert_int_equal(v.type, TDO_INT);
        assert_int_equal(v.u.i, 3 - i);
    }
    CHECK(tdo_rows_next(r, &has, &err));
    assert_false(has);
    tdo_rows_free(r);

    assert_int_equal(count_users(), 3);
    tdo_query *active = filtered(user, "is_active", tdo_value_bool(true));
    assert_int_equal(count_of(active), 2);
    bool ex = false;
    CHECK(tdo_query_exists(conn, active, &ex, &err));
    assert_true(ex);
    tdo_query *nobody = filtered(user, "email", tdo_value_text("z@z", 3));
    CHECK(tdo_query_exists(conn, nobody, &ex, &err));
    assert_false(ex);

    /* slices: LIMIT, OFFSET alone, and counts of them */
    tdo_query *lim = NULL, *off = NULL;
    CHECK(tdo_query_limit(ordered, 2, &lim, &err));
    CHECK(tdo_query_offset(ordered, 1, &off, &err));
    assert_int_equal(count_of(lim), 2);
    assert_int_equal(count_of(off), 2);

    /* update through a filter, then delete; a sliced update */
    tdo_value newname = tdo_value_text("act", 3);
    tdo_assign as = {"username", &newname, NULL};
    int64_t changed = -1;
    CHECK(tdo_query_update(conn, active, &as, 1, &changed, &err));
    assert_int_equal(changed, 2);
    /* the same value again still counts the rows matched */
    CHECK(tdo_query_update(conn, active, &as, 1, &changed, &err));
    assert_int_equal(changed, 2);
    tdo_value zz = tdo_value_text("zz", 2);
    tdo_assign as2 = {"username", &zz, NULL};
    CHECK(tdo_query_update(conn, lim, &as2, 1, &changed, &err));
    assert_int_equal(changed, 2);
    assert_int_equal(count_where("username", "zz"), 2);
    CHECK(tdo_query_update(conn, active, &as, 1, &changed, &err));
    tdo_query *acts = filtered(user, "username", newname);
    assert_int_equal(count_of(acts), 2);
    CHECK(tdo_query_delete(conn, nobody, &changed, &err));
    assert_int_equal(changed, 0);
    CHECK(tdo_query_delete(conn, acts, &changed, &err));
    assert_int_equal(changed, 2);
    assert_int_equal(count_users(), 1);

    /* by primary key */
    tdo_value pk = tdo_value_int(2), nm = tdo_value_text("bobby", 5);
    const tdo_field *fl[] = {f_name};
    CHECK(tdo_update_pk(conn, user, fl, &nm, 1, &pk, &changed, &err));
    assert_int_equal(changed, 1);
    CHECK(tdo_update_pk(conn, user, fl, &nm, 1, &pk, &changed, &err));
    assert_int_equal(changed, 1);
    tdo_value pk9 = tdo_value_int(9);
    CHECK(tdo_update_pk(conn, user, fl, &nm, 1, &pk9, &changed, &err));
    assert_int_equal(changed, 0);
    CHECK(tdo_delete_pk(conn, user, &pk, &changed, &err));
    assert_int_equal(changed, 1);
    CHECK(tdo_delete_pk(conn, user, &pk, &changed, &err));
    assert_int_equal(changed, 0);

    tdo_query_free(all);
    tdo_query_free(ordered);
    tdo_query_free(active);
    tdo_query_free(nobody);
    tdo_query_free(acts);
    tdo_query_free(lim);
    tdo_query_free(off);
}

static void test_lookups(void **state)
{
    NEED_SERVER();
    insert_user("Ann@X.org", "Ann", true, "1");
    insert_user("bob@x.org", "bob_b", true, "2");
    insert_user("c%d@x.org", "c\\d", true, "3");
    /* exact and LIKE lookups are case-sensitive everywhere */
    assert_int_equal(count_where("username", "ann"), 0);
    assert_int_equal(count_where("username", "Ann"), 1);
    assert_int_equal(count_where("username__iexact", "ann"), 1);
    assert_int_equal(count_where("username__contains", "nn"), 1);
    assert_int_equal(count_where("username__contains", "NN"), 0);
    assert_int_equal(count_where("username__icontains", "NN"), 1);
    assert_int_equal(count_where("username__startswith", "a"), 0);
    assert_int_equal(count_where("username__istartswith", "a"), 1);
    assert_int_equal(count_where("email__endswith", "X.org"), 1);
    assert_int_equal(count_where("email__iendswith", "X.ORG"), 3);
    /* wildcards and the escape character are matched literally */
    assert_int_equal(count_where("username__contains", "_"), 1);
    assert_int_equal(count_where("email__contains", "%"), 1);
    assert_int_equal(count_where("username__contains", "\\"), 1);
    assert_int_equal(count_where("username__icontains", "C\\"), 1);
    /* decimals compare exactly */
    tdo_decimal d;
    CHECK(tdo_decimal_parse("2.00", 4, &d, &err));
    tdo_query *q = filtered(user, "balance__gte", tdo_value_decimal(&d));
    assert_int_equal(count_of(q), 2);
    tdo_query_free(q);
}

static void test_bulk_insert(void **state)
{
    NEED_SERVER();
    const tdo_field *fields[] = {f_email, f_name};
    tdo_value vals[6] = {
        tdo_value_text("a@x", 3), tdo_value_text("a", 1),
        tdo_value_text("b@x", 3), tdo_value_text("b", 1),
        tdo_value_text("c@x", 3), tdo_value_text("c", 1),
    };
    tdo_value pks[3];
    CHECK(tdo_insert(conn, user, fields, 2, vals, 3, false, pks, &err));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pks[i].type, TDO_INT);
        assert_int_equal(pks[i].u.i, i + 1);
    }
    const tdo_field *f3[] = {tdo_model_pk(user), f_email, f_name};
    tdo_value v3[6] = {
        tdo_value_int(10), tdo_value_text("d@x", 3), tdo_value_text("d", 1),
        tdo_value_int(11), tdo_value_text("a@x", 3), tdo_value_text("dup", 3),
    };
    CHECK(tdo_insert(conn, user, f3, 3, v3, 2, true, pks, &err));
    assert_int_equal(pks[0].u.i, 10);
    assert_int_equal(pks[1].u.i, 11);
    for (int i = 0; i < 2; i++)
        tdo_value_release(&pks[i]);
    assert_int_equal(count_users(), 4);
    tdo_value one[2] = {tdo_value_text("e@x", 3), tdo_value_text("e", 1)};
    CHECK(tdo_insert(conn, user, fields, 2, one, 1, false, NULL, &err));
    assert_int_equal(count_users(), 5);
}

static void test_integrity_error(void **state)
{
    NEED_SERVER();
    assert_int_equal(insert_user("a@x.org", "ann", true, NULL), 1);
    assert_int_equal(insert_user("a@x.org", "ann2", true, NULL),
                     -(int64_t)TDO_ERR_INTEGRITY);
    assert_non_null(err.message);
    assert_non_null(err.sql);
    assert_non_null(strstr(err.sql, "INSERT INTO"));
    assert_memory_equal(err.sqlstate, "23", 2);
    tdo_value null = tdo_value_null();
    const tdo_field *fl[] = {f_email};
    tdo_value pk;
    assert_int_equal(tdo_insert(conn, user, fl, 1, &null, 1, false, &pk, &err),
                     TDO_ERR_INTEGRITY);
    assert_int_equal(
        tdo_conn_execute(conn, "SELEKT 1", NULL, 0, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_string_equal(err.sql, "SELEKT 1");
    assert_int_equal(tdo_conn_execute(conn, "SELECT * FROM nowhere", NULL, 0,
                                      NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    assert_non_null(strstr(err.message, "nowhere"));
    tdo_value one = tdo_value_int(1);
    assert_int_equal(
        tdo_conn_execute(conn,
                         is_pg ? "SELECT $1::int, $2::int" : "SELECT ?, ?",
                         &one, 1, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_int_equal(
        tdo_conn_execute(conn, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_int_equal(tdo_conn_execute(conn, "  ", NULL, 0, NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    CHECK(tdo_conn_execute(conn, "SELECT 1;  ", NULL, 0, NULL, NULL, &err));
}

static void test_transactions(void **state)
{
    NEED_SERVER();
    assert_int_equal(tdo_conn_commit(conn, &err), TDO_ERR_TRANSACTION);
    CHECK(tdo_conn_begin(conn, &err));
    assert_true(conn->backend->in_transaction(conn->db));
    insert_user("a@x", "a", true, NULL);
    CHECK(tdo_conn_begin(conn, &err));
    insert_user("b@x", "b", true, NULL);
    CHECK(tdo_conn_begin(conn, &err));
    insert_user("c@x", "c", true, NULL);
    CHECK(tdo_conn_commit(conn, &err));
    assert_int_equal(count_users(), 3);
    CHECK(tdo_conn_rollback(conn, &err));
    assert_int_equal(tdo_conn_tx_depth(conn), 1);
    assert_int_equal(count_users(), 1);
    CHECK(tdo_conn_commit(conn, &err));
    assert_false(conn->backend->in_transaction(conn->db));
    assert_int_equal(count_users(), 1);

    CHECK(tdo_conn_begin(conn, &err));
    insert_user("d@x", "d", true, NULL);
    CHECK(tdo_conn_rollback(conn, &err));
    assert_int_equal(count_users(), 1);

    /* an error inside a savepoint: rolling the savepoint back keeps the
     * transaction usable on every database */
    CHECK(tdo_conn_begin(conn, &err));
    insert_user("e@x", "e", true, NULL);
    CHECK(tdo_conn_begin(conn, &err));
    assert_true(insert_user("e@x", "e", true, NULL) < 0);
    CHECK(tdo_conn_rollback(conn, &err));
    CHECK(tdo_conn_commit(conn, &err));
    assert_int_equal(count_users(), 2);
}

static void test_cache(void **state)
{
    NEED_SERVER();
    insert_user("a@x", "a", true, "1");
    insert_user("b@x", "b", true, "2");
    uint64_t h0 = conn->backend->cache_hits(conn->db);
    tdo_query *active = filtered(user, "is_active", tdo_value_bool(true));
    for (int i = 0; i < 3; i++)
        assert_int_equal(count_of(active), 2);
    assert_true(conn->backend->cache_hits(conn->db) >= h0 + 2);
    /* the same statement nested inside its own open cursor */
    tdo_query *all = tdo_query_new(user);
    tdo_rows *outer = NULL, *inner = NULL;
    CHECK(tdo_query_run(conn, all, &outer, &err));
    bool has;
    int rows = 0;
    for (;;) {
        CHECK(tdo_rows_next(outer, &has, &err));
        if (!has)
            break;
        rows++;
        CHECK(tdo_query_run(conn, all, &inner, &err));
        int in = 0;
        for (;;) {
            CHECK(tdo_rows_next(inner, &has, &err));
            if (!has)
                break;
            in++;
        }
        assert_int_equal(in, 2);
        tdo_rows_free(inner);
    }
    assert_int_equal(rows, 2);
    tdo_rows_free(outer);
    /* a cursor survives the closing of its connection */
    CHECK(tdo_query_run(conn, all, &outer, &err));
    tdo_rows *r = outer;
    tdo_close_connections(ctx);
    conn = NULL;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    tdo_rows_free(r);
    tdo_query_free(active);
    tdo_query_free(all);
}

/* Inserts one Thing of the given values (text, coerced) and reads it
 * back; returns the formatted values "v1|v2|...". */
static void roundtrip(const char *const *names, const char *const *texts,
                      size_t n, const char *expect)
{
    const tdo_field *fields[16];
    tdo_value vals[16], pk;
    for (size_t i = 0; i < n; i++) {
        fields[i] = tdo_model_field_by_name(thing, names[i]);
        assert_non_null(fields[i]);
        tdo_value in = texts[i] ? tdo_value_text(texts[i], strlen(texts[i]))
                                : tdo_value_null();
        CHECK(tdo_field_coerce(fields[i], &in, &vals[i], &err));
    }
    CHECK(tdo_insert(conn, thing, fields, n, vals, 1, false, &pk, &err));
    for (size_t i = 0; i < n; i++)
        tdo_value_release(&vals[i]);
    tdo_query *q = filtered(thing, "id", pk), *qv = NULL;
    CHECK(tdo_query_values(q, TDO_PROJ_VALUES_LIST, names, NULL, n, &qv, &err));
    tdo_rows *r = NULL;
    CHECK(tdo_query_run(conn, qv, &r, &err));
    bool has;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    tdo_sb sb = TDO_SB_INIT;
    for (size_t i = 0; i < n; i++) {
        tdo_value v;
        CHECK(tdo_rows_get(r, i, &v, &err));
        if (i)
            tdo_sb_addc(&sb, '|');
        tdo_sb_addf(&sb, "%s:", tdo_type_name(v.type));
        tdo_value_format(&sb, &v, false);
    }
    tdo_rows_free(r);
    tdo_query_free(q);
    tdo_query_free(qv);
    assert_string_equal(sb.buf, expect);
    tdo_sb_release(&sb);
}

static void test_value_types(void **state)
{
    NEED_SERVER();
    const char *names[] = {"big", "fl",    "txt",  "day",   "tm",
                           "uid", "small", "flag", "price", "data"};
    const char *texts[] = {"9007199254740993",
                           "1.5",
                           "héllo 'q' \"d\" \\",
                           "2026-11-25",
                           "10:15:35.123456",
                           "0b1c2d3e-0000-4000-8000-00000000abcd",
                           "-7",
                           "1",
                           "12345678901234567890.0123456789",
                           "[1, 2]"};
    char expect[512];
    snprintf(expect, sizeof(expect),
             "int:9007199254740993|double:1.5|text:héllo 'q' \"d\" \\|"
             "date:2026-11-25|time:10:15:35.123456|"
             "uuid:0b1c2d3e-0000-4000-8000-00000000abcd|int:-7|bool:true|"
             "decimal:12345678901234567890.0123456789|json:[1, 2]");
    roundtrip(names, texts, 10, expect);
    const char *nn[] = {"txt", "day", "price", "flag"};
    const char *nt[] = {NULL, NULL, NULL, "0"};
    roundtrip(nn, nt, 4, "null:NULL|null:NULL|null:NULL|bool:false");

    /* datetimes: aware values come back naive in UTC without use_tz */
    const char *dn[] = {"at"};
    const char *dt[] = {"2026-11-25T10:15:35.5+01:00"};
    char buf[128];
    roundtrip(dn, dt, 1, "datetime:2026-11-25T09:15:35.500000");
    const char *dt2[] = {"2026-11-25 10:15:35"};
    roundtrip(dn, dt2, 1, "datetime:2026-11-25T10:15:35");
    tdo_ctx_set_use_tz(ctx, true);
    roundtrip(dn, dt, 1, "datetime:2026-11-25T09:15:35.500000+00:00");
    tdo_ctx_set_use_tz(ctx, false);
    (void)buf;

    /* durations and bytes */
    const tdo_field *fs[] = {tdo_model_field_by_name(thing, "span"),
                             tdo_model_field_by_name(thing, "blob")};
    tdo_value in[2], pk;
    memset(in, 0, sizeof(in));
    in[0].type = TDO_DURATION;
    in[0].u.us = 86400000000LL + 30000000;
    in[1] = tdo_value_blob("\x00\x01\xff'\\", 5);
    CHECK(tdo_insert(conn, thing, fs, 2, in, 1, false, &pk, &err));
    tdo_query *q = filtered(thing, "id", pk);
    tdo_rows *r = NULL;
    CHECK(tdo_query_run(conn, q, &r, &err));
    bool has;
    CHECK(tdo_rows_next(r, &has, &err));
    for (size_t i = 0; i < tdo_rows_ncols(r); i++) {
        const tdo_field *f = tdo_rows_colfield(r, i);
        tdo_value v;
        CHECK(tdo_rows_get(r, i, &v, &err));
        if (f == fs[0]) {
            assert_int_equal(v.type, TDO_DURATION);
            assert_int_equal(v.u.us, in[0].u.us);
        } else if (f == fs[1]) {
            assert_int_equal(v.type, TDO_BLOB);
            assert_int_equal(v.u.s.len, 5);
            assert_memory_equal(v.u.s.ptr, "\x00\x01\xff'\\", 5);
        }
    }
    tdo_rows_free(r);
    tdo_query_free(q);
}

static void test_raw(void **state)
{
    NEED_SERVER();
    CHECK(tdo_conn_execute_script(conn,
                                  "CREATE TABLE tb_raw (a INTEGER, b TEXT, "
                                  "c DOUBLE PRECISION, d DECIMAL(10,3));\n"
                                  "INSERT INTO tb_raw VALUES (1, 'x', 1.5, "
                                  "2.125);\n"
                                  "INSERT INTO tb_raw VALUES (2, NULL, NULL, "
                                  "NULL);",
                                  &err));
    tdo_rows *r = NULL;
    tdo_value p = tdo_value_int(0);
    CHECK(tdo_conn_execute(conn,
                           is_pg ? "SELECT a, b AS bee, c, d FROM tb_raw "
                                   "WHERE a > $1 ORDER BY a"
                                 : "SELECT a, b AS bee, c, d FROM tb_raw "
                                   "WHERE a > ? ORDER BY a",
                           &p, 1, &r, NULL, &err));
    assert_int_equal(tdo_rows_ncols(r), 4);
    assert_string_equal(tdo_rows_colname(r, 1), "bee");
    bool has;
    tdo_value v;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    CHECK(tdo_rows_get(r, 0, &v, &err));
    assert_int_equal(v.type, TDO_INT);
    CHECK(tdo_rows_get(r, 1, &v, &err));
    assert_int_equal(v.type, TDO_TEXT);
    CHECK(tdo_rows_get(r, 2, &v, &err));
    assert_int_equal(v.type, TDO_DOUBLE);
    CHECK(tdo_rows_get(r, 3, &v, &err));
    assert_int_equal(v.type, TDO_DECIMAL);
    CHECK(tdo_rows_next(r, &has, &err));
    CHECK(tdo_rows_get(r, 1, &v, &err));
    assert_int_equal(v.type, TDO_NULL);
    CHECK(tdo_rows_next(r, &has, &err));
    assert_false(has);
    tdo_rows_free(r);
    int64_t changes = 0;
    tdo_value ps[2] = {tdo_value_int(5), tdo_value_text("x", 1)};
    CHECK(tdo_conn_execute(conn,
                           is_pg ? "UPDATE tb_raw SET a = a + $1 WHERE b = $2"
                                 : "UPDATE tb_raw SET a = a + ? WHERE b = ?",
                           ps, 2, NULL, &changes, &err));
    assert_int_equal(changes, 1);
    assert_int_equal(
        tdo_conn_execute_script(conn, "CREATE TABLE tb_raw (x INT);", &err),
        TDO_ERR_OPERATIONAL);
    assert_non_null(err.sql);
}

static atomic_bool statement_done;

/* Interrupts the connection every 300 ms until the statement returned, so
 * a statement that reaches the server late (a loaded machine) is still
 * cancelled; interrupting an idle connection is harmless. */
static void *interrupter(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    do {
        nanosleep(&ts, NULL);
        if (!atomic_load(&statement_done))
            tdo_conn_interrupt(arg);
    } while (!atomic_load(&statement_done));
    return NULL;
}

static void test_interrupt(void **state)
{
    NEED_SERVER();
    tdo_conn_interrupt(conn); /* idle: harmless */
    CHECK(tdo_conn_execute(conn, "SELECT 1", NULL, 0, NULL, NULL, &err));
    pthread_t th;
    atomic_store(&statement_done, false);
    assert_int_equal(pthread_create(&th, NULL, interrupter, conn), 0);
    tdo_status st = tdo_conn_execute(
        conn, is_pg ? "SELECT pg_sleep(20)" : "SELECT SLEEP(20)", NULL, 0, NULL,
        NULL, &err);
    atomic_store(&statement_done, true);
    pthread_join(th, NULL);
    assert_int_equal(st, TDO_ERR_INTERRUPTED);
    assert_non_null(err.sql);
    CHECK(tdo_conn_execute(conn, "SELECT 1", NULL, 0, NULL, NULL, &err));
}

static void test_schema_sql(void **state)
{
    NEED_SERVER();
    char *sql = NULL;
    CHECK(tdo_schema_sql(ctx, tdo_conn_dialect(conn), user, true, &sql, &err));
    if (is_pg)
        assert_non_null(strstr(sql, "\"id\" SERIAL PRIMARY KEY NOT NULL"));
    else
        assert_non_null(strstr(sql, "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"));
    /* safe: running it again is fine */
    CHECK(tdo_conn_execute_script(conn, sql, &err));
    free(sql);
}

#define BACKEND_TESTS                                                          \
    cmocka_unit_test_setup_teardown(test_connect, setup, teardown),            \
        cmocka_unit_test_setup_teardown(test_insert_and_query, setup,          \
                                        teardown),                             \
        cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),        \
        cmocka_unit_test_setup_teardown(test_bulk_insert, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_integrity_error, setup,           \
                                        teardown),                             \
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),   \
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_value_types, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_raw, setup, teardown),            \
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),      \
        cmocka_unit_test_setup_teardown(test_schema_sql, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {BACKEND_TESTS};
    int failed = 0;
    const char *u = getenv("TESTUDO_PG_URL");
    url = u && *u ? u : NULL;
    is_pg = true;
    failed += _cmocka_run_group_tests(
        "postgres", tests, sizeof(tests) / sizeof(*tests), NULL, NULL);
    u = getenv("TESTUDO_MYSQL_URL");
    url = u && *u ? u : NULL;
    is_pg = false;
    failed += _cmocka_run_group_tests(
        "mysql", tests, sizeof(tests) / sizeof(*tests), NULL, NULL);
    return failed;
}
