/*
 * test_url.c -- database URLs: parsing (schemes, user info, percent
 * encoding, IPv6 and socket hosts, parameters, pool bounds), the
 * ConfigurationError messages of bad URLs (never quoting a password) and
 * the masking of passwords.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "tdo_int.h"

static tdo_dsn parse_ok(const char *url)
{
    tdo_dsn d;
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = tdo_dsn_parse(url, &d, &err);
    if (st)
        fail_msg("%s: %s", url, err.message ? err.message : "?");
    return d;
}

/* Parses a bad URL: checks the ConfigurationError mentions want and not
 * the password "hunter2". */
static void parse_bad(const char *url, const char *want)
{
    tdo_dsn d;
    tdo_error err = TDO_ERROR_INIT;
    assert_int_equal(tdo_dsn_parse(url, &d, &err), TDO_ERR_CONFIGURATION);
    tdo_dsn_release(&d);
    assert_non_null(err.message);
    if (!strstr(err.message, want))
        fail_msg("%s: '%s' lacks '%s'", url, err.message, want);
    assert_null(strstr(err.message, "hunter2"));
    tdo_error_release(&err);
}

static void test_parts(void **state)
{
    (void)state;
    tdo_dsn d =
        parse_ok("postgres://app:pw@db.example:5433/shop?sslmode=require");
    assert_string_equal(d.scheme, "postgres");
    assert_string_equal(d.user, "app");
    assert_string_equal(d.password, "pw");
    assert_string_equal(d.host, "db.example");
    assert_int_equal(d.port, 5433);
    assert_string_equal(d.database, "shop");
    assert_string_equal(tdo_dsn_param(&d, "sslmode"), "require");
    assert_int_equal(d.minsize, 1);
    assert_int_equal(d.maxsize, 5);
    tdo_dsn_release(&d);

    /* percent-encoded user and password, a password holding ':' and '@' */
    d = parse_ok("mysql://us%40er:p%3Aw%40rd%2F@h/db?minsize=2&maxsize=9");
    assert_string_equal(d.user, "us@er");
    assert_string_equal(d.password, "p:w@rd/");
    assert_int_equal(d.port, 0);
    assert_int_equal(d.minsize, 2);
    assert_int_equal(d.maxsize, 9);
    tdo_dsn_release(&d);

    /* a raw '@' in the password: the last '@' ends the user info */
    d = parse_ok("postgres://u:a@b@h/db");
    assert_string_equal(d.password, "a@b");
    assert_string_equal(d.host, "h");
    tdo_dsn_release(&d);

    /* IPv6 */
    d = parse_ok("postgres://u@[::1]:5432/db");
    assert_string_equal(d.host, "::1");
    assert_int_equal(d.port, 5432);
    tdo_dsn_release(&d);
    d = parse_ok("mysql://u@[2001:db8::7]/db");
    assert_string_equal(d.host, "2001:db8::7");
    tdo_dsn_release(&d);

    /* unix sockets: an encoded directory, or ?host= */
    d = parse_ok("postgres://u@%2Fvar%2Frun%2Fpostgresql/db");
    assert_string_equal(d.host, "/var/run/postgresql");
    assert_string_equal(d.database, "db");
    tdo_dsn_release(&d);
    d = parse_ok("postgres://u@/db?host=/var/run/postgresql&"
                 "application_name=my+app&connect_timeout=3");
    assert_null(d.host);
    assert_string_equal(tdo_dsn_param(&d, "host"), "/var/run/postgresql");
    assert_string_equal(tdo_dsn_param(&d, "application_name"), "my app");
    tdo_dsn_release(&d);

    /* user, password and database as parameters */
    d = parse_ok("postgres://h?user=u&password=p&dbname=x");
    assert_string_equal(d.user, "u");
    assert_string_equal(d.password, "p");
    assert_string_equal(d.database, "x");
    tdo_dsn_release(&d);

    /* sqlite: the path as written */
    d = parse_ok("sqlite:///tmp/a%20b.db?journal_mode=wal");
    assert_string_equal(d.database, "/tmp/a b.db");
    tdo_dsn_release(&d);
    d = parse_ok("SQLITE://:memory:");
    assert_string_equal(d.scheme, "sqlite");
    tdo_dsn_release(&d);
}

static void test_bad(void **state)
{
    (void)state;
    parse_bad("nonsense", "expected scheme://");
    parse_bad("://x", "expected scheme://");
    parse_bad("po$t://u:hunter2@h/db", "invalid scheme");
    parse_bad("postgres://u:hunter2@h:0/db", "invalid port '0'");
    parse_bad("postgres://u:hunter2@h:65536/db", "invalid port '65536'");
    parse_bad("postgres://u:hunter2@h:x1/db", "invalid port 'x1'");
    parse_bad("postgres://u:hunter2@h:/db", "empty port");
    parse_bad("postgres://u:hunter2@[::1/db", "unclosed '['");
    parse_bad("postgres://u:hunter2@[::1]x/db", "after ']'");
    parse_bad("postgres://u:hunter2@h", "missing database name");
    parse_bad("mysql://u:hunter2@h/", "missing database name");
    parse_bad("postgres://u:hunter2@h/d?maxsize=0", "maxsize must be");
    parse_bad("postgres://u:hunter2@h/d?minsize=-1", "minsize must be");
    parse_bad("postgres://u:hunter2@h/d?minsize=4&maxsize=3",
              "minsize (4) is larger than maxsize (3)");
    parse_bad("postgres://u:hunter2@h/d?connect_timeout=soon",
              "connect_timeout");
    parse_bad("sqlite://", "file path");

    /* tdo_connect: unknown schemes, and nothing registered on failure */
    tdo_ctx *ctx = tdo_ctx_new();
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *c = NULL;
    assert_int_equal(tdo_connect(ctx, "x", "oracle://u:hunter2@h/db", &c, &err),
                     TDO_ERR_CONFIGURATION);
    assert_null(c);
    assert_non_null(strstr(err.message, "unknown database scheme 'oracle'"));
    assert_null(strstr(err.message, "hunter2"));
    tdo_error_release(&err);
    assert_int_equal(tdo_ctx_nconns(ctx), 0);
    tdo_ctx_free(ctx);
}

static void check_mask(const char *url, const char *want)
{
    char *m = tdo_url_mask(url);
    assert_non_null(m);
    assert_string_equal(m, want);
    tdo_free(m);
}

/* The one table of URL schemes: every alias maps to its engine, case
 * does not matter, the list ends and holds no scheme twice. */
static void test_schemes(void **state)
{
    (void)state;
    static const char *const want[][2] = {
        {"sqlite", "sqlite"},     {"sqlite3", "sqlite"},
        {"postgres", "postgres"}, {"postgresql", "postgres"},
        {"asyncpg", "postgres"},  {"psycopg", "postgres"},
        {"psycopg2", "postgres"}, {"pg", "postgres"},
        {"mysql", "mysql"},       {"mariadb", "mysql"},
        {"asyncmy", "mysql"},     {"aiomysql", "mysql"},
    };
    size_t nwant = sizeof want / sizeof *want;
    for (size_t i = 0; i < nwant; i++) {
        const char *e = tdo_url_engine(want[i][0], strlen(want[i][0]));
        assert_non_null(e);
        assert_string_equal(e, want[i][1]);
    }
    assert_string_equal(tdo_url_engine("MariaDB", 7), "mysql");
    assert_string_equal(tdo_url_engine("mariadb://x", 7), "mysql");
    assert_null(tdo_url_engine("maria", 5));
    assert_null(tdo_url_engine("mariadbx", 8));
    assert_null(tdo_url_engine("", 0));
    size_t n = 0;
    while (tdo_url_scheme(n) != NULL)
        n++;
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_true(strcmp(tdo_url_scheme(i), tdo_url_scheme(j)) != 0);
    /* each engine's own name comes first among its schemes */
    assert_string_equal(tdo_url_scheme(0), "sqlite");
    /* and a URL of every scheme finds its driver */
    for (size_t i = 0; i < n; i++) {
        char url[128];
        snprintf(url, sizeof url, "%s://u@localhost/db", tdo_url_scheme(i));
        tdo_dsn d;
        tdo_error err = TDO_ERROR_INIT;
        assert_int_equal(tdo_dsn_parse(url, &d, &err), TDO_OK);
        tdo_dsn_release(&d);
    }
}

/* The timeouts: connect_timeout defaults to TDO_CONNECT_TIMEOUT seconds,
 * statement_timeout to none; both must be whole numbers. */
static void test_timeouts(void **state)
{
    (void)state;
    tdo_dsn d;
    tdo_error err = TDO_ERROR_INIT;
    assert_int_equal(tdo_dsn_parse("postgres://u@h/db", &d, &err), TDO_OK);
    assert_int_equal(d.connect_timeout, TDO_CONNECT_TIMEOUT);
    assert_int_equal(d.statement_timeout, 0);
    tdo_dsn_release(&d);
    assert_int_equal(
        tdo_dsn_parse("mysql://u@h/db?connect_timeout=0&statement_timeout=250",
                      &d, &err),
        TDO_OK);
    assert_int_equal(d.connect_timeout, 0);
    assert_int_equal(d.statement_timeout, 250);
    tdo_dsn_release(&d);
    assert_int_equal(
        tdo_dsn_parse("sqlite://:memory:?statement_timeout=-1", &d, &err),
        TDO_ERR_CONFIGURATION);
    tdo_dsn_release(&d);
    tdo_error_release(&err);
}

static void test_mask(void **state)
{
    (void)state;
    check_mask("postgres://u:hunter2@h:1/db", "postgres://u:***@h:1/db");
    check_mask("postgres://u@h/db", "postgres://u@h/db");
    check_mask("mysql://u:p%40ss@h/db?charset=utf8mb4",
               "mysql://u:***@h/db?charset=utf8mb4");
    check_mask("postgres://h/db?user=u&password=hunter2&sslpassword=x",
               "postgres://h/db?user=u&password=***&sslpassword=***");
    check_mask("sqlite://:memory:", "sqlite://:memory:");

    /* aliases, and tdo_conn_url() masks */
    static const char *const aliases[][2] = {
        {"postgresql://u:pw@h/d", "postgres"},
        {"asyncpg://u:pw@h/d", "postgres"},
        {"psycopg://u:pw@h/d", "postgres"},
        {"mysql://u:pw@h/d", "mysql"},
        {"asyncmy://u:pw@h/d", "mysql"},
        {"mariadb://u:pw@h/d", "mysql"},
        {"sqlite3://:memory:", "sqlite"},
    };
    tdo_ctx *ctx = tdo_ctx_new();
    for (size_t i = 0; i < sizeof(aliases) / sizeof(*aliases); i++) {
        tdo_error err = TDO_ERROR_INIT;
        tdo_conn *c = NULL;
        if (tdo_connect(ctx, "a", aliases[i][0], &c, &err))
            fail_msg("%s: %s", aliases[i][0], err.message);
        assert_string_equal(tdo_dialect_name(tdo_conn_dialect(c)),
                            aliases[i][1]);
        assert_null(strstr(tdo_conn_url(c), ":pw@"));
        int open = -1;
        tdo_conn_pool_stats(c, NULL, NULL, &open, NULL);
        assert_int_equal(open, 0); /* lazily */
    }
    tdo_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),    cmocka_unit_test(test_bad),
        cmocka_unit_test(test_mask),     cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
