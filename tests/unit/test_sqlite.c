/*
 * test_sqlite.c -- the connection layer end to end over the real SQLite
 * backend: URLs, schemas, inserts, querysets, errors, transactions, the
 * statement cache and tracing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_conn *conn;
static tdo_model *user;
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

static int setup(void **state)
{
    tdo_error_init(&err);
    ctx = tdo_ctx_new();
    CHECK(tdo_model_new(ctx, "models", "User", &user, &err));
    CHECK(tdo_model_set_table(user, "users", &err));
    tdo_field_decl t = tdo_field_template("email", TDO_F_CHAR);
    t.max_length = 255;
    t.flags = TDO_FIELD_UNIQUE;
    f_email = add(user, t);
    t = tdo_field_template("username", TDO_F_CHAR);
    t.max_length = 100;
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
    CHECK(tdo_ctx_resolve(ctx, &err));
    CHECK(tdo_connect(ctx, "default", "sqlite://:memory:", &conn, &err));
    CHECK(tdo_generate_schemas(ctx, conn, true, &err));
    return 0;
}

static int teardown(void **state)
{
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

/* Inserts users (email, username, active, balance text or NULL). */
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

static tdo_query *filtered(const char *key, tdo_value v)
{
    tdo_query *all = tdo_query_new(user), *q = NULL;
    tdo_qnode *cond = tdo_q_lookup(key, &v, 1);
    assert_non_null(all);
    assert_non_null(cond);
    CHECK(tdo_query_filter(all, cond, &q, &err));
    tdo_qnode_free(cond);
    tdo_query_free(all);
    return q;
}

static void test_urls(void **state)
{
    tdo_conn *c = NULL;
    assert_int_equal(tdo_connect(ctx, "x", "foo://localhost/db", &c, &err),
                     TDO_ERR_CONFIGURATION);
    assert_null(c);
    assert_string_equal(err.message,
                        "unknown database scheme 'foo' in URL (known: "
                        "sqlite, sqlite3, postgres, postgresql, asyncpg, "
                        "psycopg, psycopg2, pg, mysql, mariadb, asyncmy, "
                        "aiomysql)");
    assert_int_equal(
        tdo_connect(ctx, "x", "nosuch://bob:s3cret@host/db", &c, &err),
        TDO_ERR_CONFIGURATION);
    assert_null(strstr(err.message, "s3cret"));
    assert_int_equal(tdo_connect(ctx, "x", "db.sqlite3", &c, &err),
                     TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "bad database URL"));
    assert_int_equal(tdo_connect(ctx, "x", "sqlite://", &c, &err),
                     TDO_ERR_CONFIGURATION);
    assert_int_equal(tdo_connect(ctx, "x", "", &c, &err),
                     TDO_ERR_CONFIGURATION);
    assert_null(tdo_ctx_conn(ctx, "x"));

    assert_ptr_equal(tdo_ctx_conn(ctx, "default"), conn);
    assert_ptr_equal(tdo_ctx_conn(ctx, NULL), conn);
    assert_string_equal(tdo_conn_name(conn), "default");
    assert_string_equal(tdo_conn_url(conn), "sqlite://:memory:");
    assert_string_equal(tdo_dialect_name(tdo_conn_dialect(conn)), "sqlite");

    /* parameters are parsed; pool bounds are checked */
    CHECK(tdo_connect(ctx, "p",
                      "sqlite://:memory:?journal_mode=memory&"
                      "minsize=2&maxsize=3",
                      &c, &err));
    assert_string_equal(tdo_dsn_param(&c->dsn, "journal_mode"), "memory");
    assert_int_equal(c->dsn.minsize, 2);
    assert_int_equal(c->dsn.maxsize, 3);
    assert_string_equal(c->dsn.database, ":memory:");
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    assert_int_equal(
        tdo_connect(ctx, "q", "sqlite://:memory:?maxsize=0", &c, &err),
        TDO_ERR_CONFIGURATION);
    assert_int_equal(tdo_connect(ctx, "q",
                                 "sqlite://:memory:?"
                                 "journal_mode=x;drop",
                                 &c, &err),
                     TDO_OK);
    assert_int_equal(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err),
                     TDO_ERR_CONFIGURATION);

    /* absolute and relative paths */
    CHECK(tdo_connect(ctx, "abs", "sqlite:///tmp/x.db", &c, &err));
    assert_string_equal(c->dsn.database, "/tmp/x.db");
    CHECK(tdo_connect(ctx, "rel", "sqlite://rel.db", &c, &err));
    assert_string_equal(c->dsn.database, "rel.db");

    /* the file opens on first use */
    CHECK(tdo_connect(ctx, "bad", "sqlite:///nonexistent/dir/x.db", &c, &err));
    assert_null(c->db);
    assert_int_equal(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    assert_non_null(strstr(err.message, "cannot open SQLite database "
                                        "'/nonexistent/dir/x.db'"));

    /* replacing a connection keeps one of that name */
    size_t n = ctx->nconns;
    CHECK(tdo_connect(ctx, "bad", "sqlite://:memory:", &c, &err));
    assert_int_equal(ctx->nconns, n);
    assert_ptr_equal(tdo_ctx_conn(ctx, "bad"), c);
}

static void test_url_parse(void **state)
{
    tdo_dsn d;
    /* the network form, for the backends of issue 3 */
    const char *url =
        "sqlite://bob:p%40ss@db.example.com:6543/shop?journal_mode=wal";
    (void)d;
    tdo_conn *c = NULL;
    CHECK(tdo_connect(ctx, "n", url, &c, &err));
    /* sqlite keeps everything up to ? as the path */
    assert_string_equal(c->dsn.database, "bob:p@ss@db.example.com:6543/shop");
    assert_string_equal(tdo_dsn_param(&c->dsn, "journal_mode"), "wal");
    assert_null(tdo_dsn_param(&c->dsn, "y"));
}

static void test_insert_and_query(void **state)
{
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
    assert_string_equal(tdo_rows_colname(r, 4), "balance");
    assert_ptr_equal(tdo_rows_colfield(r, 3), f_active);
    assert_null(tdo_rows_colname(r, 5));
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
    tdo_value v;
    assert_int_equal(tdo_rows_get(r, 9, &v, &err), TDO_ERR_PARAMS);
    CHECK(tdo_rows_next(r, &has, &err));
    assert_false(has);
    CHECK(tdo_rows_next(r, &has, &err));
    assert_false(has);
    tdo_rows_free(r);

    int64_t n = -1;
    CHECK(tdo_query_count(conn, all, &n, &err));
    assert_int_equal(n, 3);
    tdo_query *active = filtered("is_active", tdo_value_bool(true));
    CHECK(tdo_query_count(conn, active, &n, &err));
    assert_int_equal(n, 2);
    bool ex = false;
    CHECK(tdo_query_exists(conn, active, &ex, &err));
    assert_true(ex);
    tdo_query *nobody = filtered("email", tdo_value_text("z@z", 3));
    CHECK(tdo_query_exists(conn, nobody, &ex, &err));
    assert_false(ex);

    /* update through a filter, then delete */
    tdo_value newname = tdo_value_text("act", 3);
    tdo_assign as = {"username", &newname, NULL};
    int64_t changed = -1;
    CHECK(tdo_query_update(conn, active, &as, 1, &changed, &err));
    assert_int_equal(changed, 2);
    tdo_query *acts = filtered("username", newname);
    CHECK(tdo_query_count(conn, acts, &n, &err));
    assert_int_equal(n, 2);
    CHECK(tdo_query_delete(conn, nobody, &changed, &err));
    assert_int_equal(changed, 0);
    CHECK(tdo_query_delete(conn, acts, &changed, &err));
    assert_int_equal(changed, 2);
    CHECK(tdo_query_count(conn, all, &n, &err));
    assert_int_equal(n, 1);

    /* by primary key */
    tdo_value pk = tdo_value_int(2), nm = tdo_value_text("bobby", 5);
    const tdo_field *fl[] = {f_name};
    CHECK(tdo_update_pk(conn, user, fl, &nm, 1, &pk, &changed, &err));
    assert_int_equal(changed, 1);
    tdo_query *bobby = filtered("username", nm);
    CHECK(tdo_query_count(conn, bobby, &n, &err));
    assert_int_equal(n, 1);
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
    tdo_query_free(bobby);
}

static void test_bulk_insert(void **state)
{
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
    /* explicit primary keys, and ignored conflicts */
    const tdo_field *f3[] = {tdo_model_pk(user), f_email, f_name};
    tdo_value v3[6] = {
        tdo_value_int(10), tdo_value_text("d@x", 3), tdo_value_text("d", 1),
        tdo_value_int(11), tdo_value_text("a@x", 3), tdo_value_text("dup", 3),
    };
    CHECK(tdo_insert(conn, user, f3, 3, v3, 2, true, pks, &err));
    assert_int_equal(pks[0].u.i, 10);
    assert_int_equal(pks[1].u.i, 11);
    int64_t n;
    tdo_query *all = tdo_query_new(user);
    CHECK(tdo_query_count(conn, all, &n, &err));
    assert_int_equal(n, 4);
    tdo_query_free(all);
    /* pks may be NULL */
    tdo_value one[2] = {tdo_value_text("e@x", 3), tdo_value_text("e", 1)};
    CHECK(tdo_insert(conn, user, fields, 2, one, 1, false, NULL, &err));
}

static void test_integrity_error(void **state)
{
    assert_int_equal(insert_user("a@x.org", "ann", true, NULL), 1);
    assert_int_equal(insert_user("a@x.org", "ann2", true, NULL),
                     -(int64_t)TDO_ERR_INTEGRITY);
    assert_string_equal(err.message, "UNIQUE constraint failed: users.email");
    assert_non_null(err.sql);
    assert_non_null(strstr(err.sql, "INSERT INTO \"users\""));
    assert_string_equal(err.sqlstate, "23000");
    assert_int_not_equal(err.driver_code, 0);
    /* not-null */
    tdo_value null = tdo_value_null();
    const tdo_field *fl[] = {f_email};
    tdo_value pk;
    assert_int_equal(tdo_insert(conn, user, fl, 1, &null, 1, false, &pk, &err),
                     TDO_ERR_INTEGRITY);
    assert_non_null(strstr(err.message, "NOT NULL constraint failed"));
    /* a syntax error is an OperationalError with the SQL */
    assert_int_equal(
        tdo_conn_execute(conn, "SELEKT 1", NULL, 0, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_string_equal(err.sql, "SELEKT 1");
    assert_int_equal(tdo_conn_execute(conn, "SELECT * FROM nowhere", NULL, 0,
                                      NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    assert_string_equal(err.message, "no such table: nowhere");
    /* wrong parameter count, several statements, empty SQL */
    tdo_value one = tdo_value_int(1);
    assert_int_equal(
        tdo_conn_execute(conn, "SELECT ?, ?", &one, 1, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_int_equal(
        tdo_conn_execute(conn, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL, &err),
        TDO_ERR_OPERATIONAL);
    assert_int_equal(tdo_conn_execute(conn, "  ", NULL, 0, NULL, NULL, &err),
                     TDO_ERR_OPERATIONAL);
    CHECK(tdo_conn_execute(conn, "SELECT 1;  ", NULL, 0, NULL, NULL, &err));
}

static int64_t count_users(void)
{
    int64_t n = -1;
    tdo_query *all = tdo_query_new(user);
    CHECK(tdo_query_count(conn, all, &n, &err));
    tdo_query_free(all);
    return n;
}

static void test_transactions(void **state)
{
    assert_int_equal(tdo_conn_tx_depth(conn), 0);
    assert_int_equal(tdo_conn_commit(conn, &err), TDO_ERR_TRANSACTION);
    assert_string_equal(err.message, "commit without an open transaction on "
                                     "connection 'default'");
    assert_int_equal(tdo_conn_rollback(conn, &err), TDO_ERR_TRANSACTION);

    CHECK(tdo_conn_begin(conn, &err));
    assert_int_equal(tdo_conn_tx_depth(conn), 1);
    insert_user("a@x", "a", true, NULL);
    CHECK(tdo_conn_begin(conn, &err));
    assert_int_equal(tdo_conn_tx_depth(conn), 2);
    insert_user("b@x", "b", true, NULL);
    CHECK(tdo_conn_begin(conn, &err));
    insert_user("c@x", "c", true, NULL);
    CHECK(tdo_conn_commit(conn, &err)); /* RELEASE sp_2 */
    assert_int_equal(count_users(), 3);
    CHECK(tdo_conn_rollback(conn, &err)); /* back to sp_1: b, c gone */
    assert_int_equal(tdo_conn_tx_depth(conn), 1);
    assert_int_equal(count_users(), 1);
    CHECK(tdo_conn_commit(conn, &err));
    assert_int_equal(tdo_conn_tx_depth(conn), 0);
    assert_int_equal(count_users(), 1);

    CHECK(tdo_conn_begin(conn, &err));
    insert_user("d@x", "d", true, NULL);
    CHECK(tdo_conn_rollback(conn, &err));
    assert_int_equal(tdo_conn_tx_depth(conn), 0);
    assert_int_equal(count_users(), 1);

    /* an error inside keeps the transaction usable */
    CHECK(tdo_conn_begin(conn, &err));
    insert_user("e@x", "e", true, NULL);
    assert_true(insert_user("e@x", "e", true, NULL) < 0);
    CHECK(tdo_conn_commit(conn, &err));
    assert_int_equal(count_users(), 2);
}

typedef struct trace_log {
    int calls;
    char last_sql[256];
    size_t last_nparams;
    tdo_value first_param;
} trace_log;

static void tracer(void *ud, const char *name, const char *sql,
                   const tdo_value *params, size_t n)
{
    trace_log *t = ud;
    t->calls++;
    snprintf(t->last_sql, sizeof(t->last_sql), "%s", sql);
    t->last_nparams = n;
    t->first_param = n ? params[0] : tdo_value_null();
    assert_string_equal(name, "default");
}

static void test_cache_trace_counter(void **state)
{
    trace_log log = {0};
    tdo_ctx_set_trace(ctx, tracer, &log);
    uint64_t q0 = tdo_conn_query_count(conn);
    insert_user("a@x", "a", true, "1");
    insert_user("b@x", "b", false, "2");
    assert_int_equal(log.calls, 2);
    assert_int_equal(tdo_conn_query_count(conn), q0 + 2);
    assert_non_null(strstr(log.last_sql, "INSERT INTO"));
    assert_int_equal(log.last_nparams, 4);
    /* the canonical value, before to_db */
    assert_int_equal(log.first_param.type, TDO_TEXT);

    uint64_t h0 = conn->backend->cache_hits(conn->db);
    tdo_query *active = filtered("is_active", tdo_value_bool(true));
    int64_t n;
    CHECK(tdo_query_count(conn, active, &n, &err));
    CHECK(tdo_query_count(conn, active, &n, &err));
    CHECK(tdo_query_count(conn, active, &n, &err));
    assert_int_equal(n, 1);
    assert_true(conn->backend->cache_hits(conn->db) >= h0 + 2);
    assert_non_null(strstr(log.last_sql, "SELECT COUNT(*)"));
    assert_int_equal(log.first_param.type, TDO_BOOL);

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

    /* tracing and transaction control */
    int before = log.calls;
    uint64_t qb = tdo_conn_query_count(conn);
    CHECK(tdo_conn_begin(conn, &err));
    assert_string_equal(log.last_sql, "BEGIN IMMEDIATE"); /* SQLite */
    CHECK(tdo_conn_begin(conn, &err));
    assert_string_equal(log.last_sql, "SAVEPOINT sp_1");
    CHECK(tdo_conn_rollback(conn, &err));
    assert_string_equal(log.last_sql, "RELEASE SAVEPOINT sp_1");
    CHECK(tdo_conn_commit(conn, &err));
    assert_string_equal(log.last_sql, "COMMIT");
    assert_int_equal(log.calls, before + 5);
    assert_int_equal(tdo_conn_query_count(conn), qb);

    tdo_ctx_set_trace(ctx, NULL, NULL);
    tdo_query_free(active);
    tdo_query_free(all);
}

/* Counts the rows of users whose username is name. */
static int64_t count_named(const char *name)
{
    tdo_query *q = filtered("username", tdo_value_text(name, strlen(name)));
    int64_t n = -1;
    CHECK(tdo_query_count(conn, q, &n, &err));
    tdo_query_free(q);
    return n;
}

/* One-row writes keep their statement by shape (fields, rows, kind):
 * the same shape again binds new values to the same SQL; a renamed table
 * drops what was kept; at most 8 shapes a model, every one right. */
static void test_statements_by_shape(void **state)
{
    int64_t a = insert_user("a@x", "a", true, "1");
    int64_t b = insert_user("b@x", "b", true, "2");
    assert_true(a > 0 && b > a);
    assert_int_equal(user->nshapes, 1);
    const tdo_field *fl[] = {f_name, f_email};
    for (int i = 0; i < 2; i++) {
        tdo_value v[2] = {tdo_value_text(i ? "bb" : "aa", 2),
                          tdo_value_text(i ? "bb@x" : "aa@x", 4)};
        tdo_value pk = tdo_value_int(i ? b : a);
        int64_t ch = 0;
        CHECK(tdo_update_pk(conn, user, fl, v, 2, &pk, &ch, &err));
        assert_int_equal(ch, 1);
    }
    assert_int_equal(user->nshapes, 2);
    assert_int_equal(count_named("aa"), 1);
    assert_int_equal(count_named("bb"), 1);
    /* the same fields in another order: another statement */
    const tdo_field *rev[] = {f_email, f_name};
    tdo_value v2[2] = {tdo_value_text("c@x", 3), tdo_value_text("cc", 2)};
    tdo_value pka = tdo_value_int(a);
    CHECK(tdo_update_pk(conn, user, rev, v2, 2, &pka, NULL, &err));
    assert_int_equal(count_named("cc"), 1);
    assert_int_equal(user->nshapes, 3);
    /* nine shapes: the oldest makes room, each statement still right */
    for (int k = 0; k < 9; k++) {
        const tdo_field *some[] = {f_name, f_email, f_active, f_balance};
        const tdo_field *single[] = {k % 2 ? f_active : f_balance};
        tdo_value vals[4] = {tdo_value_text("k", 1), tdo_value_text("k@x", 3),
                             tdo_value_bool(false), tdo_value_null()};
        size_t n = 1 + (size_t)k % 4;
        const tdo_field **fs = some;
        if (k >= 4) { /* other shapes: one field */
            fs = single;
            n = 1;
            vals[0] = k % 2 ? tdo_value_bool(k % 3 == 0) : tdo_value_null();
        }
        int64_t ch = 0;
        CHECK(tdo_update_pk(conn, user, fs, vals, n, &pka, &ch, &err));
        assert_int_equal(ch, 1);
        assert_true(user->nshapes <= 8);
    }
    int64_t ch = 0;
    tdo_value pkb = tdo_value_int(b);
    CHECK(tdo_delete_pk(conn, user, &pkb, &ch, &err));
    assert_int_equal(ch, 1);
    CHECK(tdo_delete_pk(conn, user, &pkb, &ch, &err));
    assert_int_equal(ch, 0);
    assert_int_equal(count_named("bb"), 0);
    /* a renamed table: nothing kept names the old one */
    CHECK(tdo_model_set_table(user, "users_renamed", &err));
    assert_int_equal(user->nshapes, 0);
    assert_true(insert_user("d@x", "d", true, "4") < 0);
    assert_non_null(strstr(err.message, "users_renamed"));
    tdo_error_release(&err);
    CHECK(tdo_model_set_table(user, "users", &err));
    assert_true(insert_user("d@x", "d", true, "4") > 0);
    assert_int_equal(count_named("d"), 1);
}

static void test_raw_and_script(void **state)
{
    CHECK(tdo_conn_execute_script(conn,
                                  "CREATE TABLE t (a INTEGER, b TEXT, c "
                                  "REAL, d BLOB);\n"
                                  "INSERT INTO t VALUES (1, 'x', 1.5, "
                                  "x'0102');; -- comment\n"
                                  "INSERT INTO t VALUES (2, NULL, NULL, "
                                  "NULL);\n-- trailing comment",
                                  &err));
    tdo_rows *r = NULL;
    tdo_value p = tdo_value_int(0);
    CHECK(tdo_conn_execute(conn,
                           "SELECT a, b AS bee, c, d FROM t WHERE a > ? "
                           "ORDER BY a",
                           &p, 1, &r, NULL, &err));
    assert_int_equal(tdo_rows_ncols(r), 4);
    assert_string_equal(tdo_rows_colname(r, 1), "bee");
    assert_null(tdo_rows_colfield(r, 1));
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
    assert_int_equal(v.type, TDO_BLOB);
    assert_int_equal(v.u.s.len, 2);
    CHECK(tdo_rows_next(r, &has, &err));
    CHECK(tdo_rows_get(r, 1, &v, &err));
    assert_int_equal(v.type, TDO_NULL);
    CHECK(tdo_rows_next(r, &has, &err));
    assert_false(has);
    tdo_rows_free(r);

    /* canonical values bound without a dialect conversion of their own */
    tdo_value ps[2] = {tdo_value_bool(true), tdo_value_text("x", 1)};
    int64_t changes = 0;
    CHECK(tdo_conn_execute(conn, "UPDATE t SET a = a + ? WHERE b = ?", ps, 2,
                           NULL, &changes, &err));
    assert_int_equal(changes, 1);

    /* a script error carries the SQL */
    assert_int_equal(tdo_conn_execute_script(conn, "CREATE TABLE t (x);", &err),
                     TDO_ERR_OPERATIONAL);
    assert_string_equal(err.message, "table t already exists");
    assert_non_null(err.sql);

    /* a cursor survives the closing of its connection */
    CHECK(tdo_conn_execute(conn, "SELECT a FROM t ORDER BY a", NULL, 0, &r,
                           NULL, &err));
    tdo_close_connections(ctx);
    conn = NULL;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    CHECK(tdo_rows_get(r, 0, &v, &err));
    assert_int_equal(v.u.i, 2);
    tdo_rows_free(r);
}

/* tdo_conn_tables lists every user table, modelled or not, sorted. */
static void test_tables(void **state)
{
    CHECK(tdo_conn_execute_script(conn,
                                  "CREATE TABLE zeta (a INT);"
                                  "CREATE TABLE alpha (b INT);",
                                  &err));
    char **names = NULL;
    size_t n = 0;
    CHECK(tdo_conn_tables(conn, &names, &n, &err));
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "users");
    assert_string_equal(names[2], "zeta");
    tdo_free_strings(names, n);
}

static void test_interrupt(void **state)
{
    /* interrupting an idle connection is harmless */
    tdo_conn_interrupt(conn);
    CHECK(tdo_conn_execute(conn, "SELECT 1", NULL, 0, NULL, NULL, &err));
    tdo_rows *r = NULL;
    CHECK(tdo_conn_execute(conn,
                           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                           "SELECT x + 1 FROM c) SELECT x FROM c",
                           NULL, 0, &r, NULL, &err));
    bool has;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    tdo_conn_interrupt(conn);
    tdo_status st;
    int steps = 0;
    while (!(st = tdo_rows_next(r, &has, &err)) && has && steps < 1000000)
        steps++;
    assert_int_equal(st, TDO_ERR_INTERRUPTED);
    assert_non_null(err.sql);
    tdo_rows_free(r);
    CHECK(tdo_conn_execute(conn, "SELECT 1", NULL, 0, NULL, NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_and_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integrity_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_trace_counter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statements_by_shape, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raw_and_script, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
