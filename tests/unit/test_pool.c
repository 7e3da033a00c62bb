/*
 * test_pool.c -- the pool under a named connection: sessions opened
 * lazily (minsize of them on first use), never more than maxsize, a busy
 * session (open cursor) makes the pool grow, a transaction pins one
 * session, close_sessions, cursors outliving their pool; SQLite's pool of
 * one.  PostgreSQL and MariaDB from TESTUDO_PG_URL / TESTUDO_MYSQL_URL
 * (skipped when unset; tests/run.sh always sets them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "tdo_int.h"

static tdo_error err;

#define CHECK(call)                                                            \
    do {                                                                       \
        tdo_status st_ = (call);                                               \
        if (st_)                                                               \
            fail_msg("%s: %s: %s", #call, tdo_status_name(st_),                \
                     err.message ? err.message : "");                          \
    } while (0)

static int nopen(const tdo_conn *c)
{
    int open = -1;
    tdo_conn_pool_stats(c, NULL, NULL, &open, NULL);
    return open;
}

static int nbusy(const tdo_conn *c)
{
    int busy = -1;
    tdo_conn_pool_stats(c, NULL, NULL, NULL, &busy);
    return busy;
}

/* url plus ?params (or &params). */
static char *with_params(const char *url, const char *params)
{
    size_t n = strlen(url) + strlen(params) + 2;
    char *s = tdo_malloc(n);
    snprintf(s, n, "%s%c%s", url, strchr(url, '?') ? '&' : '?', params);
    return s;
}

/* A cursor over SELECT 1 whose row is not read yet. */
static tdo_rows *open_cursor(tdo_conn *c)
{
    tdo_rows *r = NULL;
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, &r, NULL, &err));
    return r;
}

static void read_one(tdo_rows *r)
{
    bool has = false;
    tdo_value v;
    CHECK(tdo_rows_next(r, &has, &err));
    assert_true(has);
    CHECK(tdo_rows_get(r, 0, &v, &err));
    assert_int_equal(v.type, TDO_INT);
    assert_int_equal(v.u.i, 1);
}

static void server_pool(const char *base)
{
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_conn *c = NULL;
    char *url = with_params(base, "minsize=0&maxsize=2");
    CHECK(tdo_connect(ctx, "p", url, &c, &err));
    tdo_free(url);
    int mn, mx;
    tdo_conn_pool_stats(c, &mn, &mx, NULL, NULL);
    assert_int_equal(mn, 0);
    assert_int_equal(mx, 2);
    assert_int_equal(nopen(c), 0); /* lazily */
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    assert_int_equal(nopen(c), 1);
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    assert_int_equal(nopen(c), 1); /* an idle session is reused */

    /* open cursors keep sessions busy: the pool grows, up to maxsize */
    tdo_rows *r1 = open_cursor(c);
    assert_int_equal(nbusy(c), 1);
    tdo_rows *r2 = open_cursor(c);
    assert_int_equal(nopen(c), 2);
    tdo_rows *r3 = open_cursor(c);
    tdo_rows *r4 = open_cursor(c);
    assert_int_equal(nopen(c), 2);
    assert_int_equal(nbusy(c), 2);
    read_one(r1);
    read_one(r2);
    read_one(r3);
    read_one(r4);
    tdo_rows_free(r1);
    tdo_rows_free(r2);
    tdo_rows_free(r3);
    tdo_rows_free(r4);
    assert_int_equal(nbusy(c), 0);
    assert_int_equal(c->nopened, 2);

    /* a transaction pins one session; its statements all go there */
    CHECK(tdo_conn_execute_script(c,
                                  "DROP TABLE IF EXISTS pool_t; "
                                  "CREATE TABLE pool_t (n INT)",
                                  &err));
    CHECK(tdo_conn_begin(c, &err));
    void *pinned = c->db;
    assert_int_equal(nbusy(c), 1);
    tdo_rows *r = open_cursor(c); /* a cursor inside: same session */
    assert_ptr_equal(c->db, pinned);
    CHECK(tdo_conn_execute(c, "INSERT INTO pool_t VALUES (1)", NULL, 0, NULL,
                           NULL, &err));
    assert_ptr_equal(c->db, pinned);
    CHECK(tdo_conn_begin(c, &err)); /* a savepoint */
    CHECK(tdo_conn_rollback(c, &err));
    tdo_rows_free(r);
    int64_t n = 0;
    tdo_rows *cnt = NULL;
    CHECK(tdo_conn_execute(c, "SELECT COUNT(*) FROM pool_t", NULL, 0, &cnt,
                           NULL, &err));
    bool has;
    tdo_value v;
    CHECK(tdo_rows_next(cnt, &has, &err));
    CHECK(tdo_rows_get(cnt, 0, &v, &err));
    n = v.type == TDO_INT ? v.u.i : -1;
    tdo_rows_free(cnt);
    assert_int_equal(n, 1); /* the transaction sees its own row */
    CHECK(tdo_conn_rollback(c, &err));
    assert_int_equal(nbusy(c), 0);
    assert_int_equal(tdo_conn_tx_depth(c), 0);
    CHECK(tdo_conn_execute_script(c, "DROP TABLE pool_t", &err));

    /* close_sessions; a cursor outlives it; the pool opens again */
    r = open_cursor(c);
    tdo_conn_close_sessions(c);
    assert_int_equal(nopen(c), 0);
    assert_null(c->db);
    read_one(r);
    tdo_rows_free(r);
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    assert_int_equal(nopen(c), 1);

    /* minsize sessions open on first use */
    url = with_params(base, "minsize=2&maxsize=3");
    CHECK(tdo_connect(ctx, "q", url, &c, &err));
    tdo_free(url);
    assert_int_equal(nopen(c), 0);
    CHECK(tdo_conn_execute(c, "SELECT 1", NULL, 0, NULL, NULL, &err));
    assert_int_equal(nopen(c), 2);

    /* a cursor outlives tdo_close_connections() too */
    r = open_cursor(c);
    tdo_close_connections(ctx);
    read_one(r);
    tdo_rows_free(r);
    tdo_ctx_free(ctx);
}

static void test_postgres(void **state)
{
    (void)state;
    const char *u = getenv("TESTUDO_PG_URL");
    if (!u || !*u)
        skip();
    server_pool(u);
}

static void test_mysql(void **state)
{
    (void)state;
    const char *u = getenv("TESTUDO_MYSQL_URL");
    if (!u || !*u)
        skip();
    server_pool(u);
}

static void test_sqlite(void **state)
{
    (void)state;
    char path[] = "/tmp/testudo-pool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char url[96];
    snprintf(url, sizeof(url), "sqlite://%s?minsize=3&maxsize=10", path);
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_conn *c = NULL;
    CHECK(tdo_connect(ctx, "default", url, &c, &err));
    int mx = 0;
    tdo_conn_pool_stats(c, NULL, &mx, NULL, NULL);
    assert_int_equal(mx, 1); /* SQLite: a pool of one */
    assert_int_equal(nopen(c), 0);
    tdo_rows *r1 = open_cursor(c);
    tdo_rows *r2 = open_cursor(c);
    assert_int_equal(nopen(c), 1);
    read_one(r1);
    read_one(r2);
    tdo_rows_free(r1);
    tdo_rows_free(r2);

    /* :memory: stays one database across transactions and statements */
    CHECK(tdo_connect(ctx, "m", "sqlite://:memory:?maxsize=4", &c, &err));
    CHECK(tdo_conn_execute_script(c, "CREATE TABLE t (n INT)", &err));
    CHECK(tdo_conn_begin(c, &err));
    CHECK(tdo_conn_execute(c, "INSERT INTO t VALUES (1)", NULL, 0, NULL, NULL,
                           &err));
    CHECK(tdo_conn_commit(c, &err));
    tdo_rows *r = NULL;
    CHECK(tdo_conn_execute(c, "SELECT n FROM t", NULL, 0, &r, NULL, &err));
    read_one(r);
    tdo_rows_free(r);
    assert_int_equal(nopen(c), 1);
    tdo_ctx_free(ctx);
    unlink(path);
}

int main(void)
{
    tdo_error_init(&err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgres),
        cmocka_unit_test(test_mysql),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tdo_error_release(&err);
    return failed;
}
