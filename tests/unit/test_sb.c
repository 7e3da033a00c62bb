/* test_sb.c -- string builder, errors, allocation hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "tdo_int.h"

static int teardown(void **state)
{
    tdo_test_fail_alloc_after(0);
    return 0;
}

static void test_sb_basics(void **state)
{
    tdo_sb sb = TDO_SB_INIT;

    assert_non_null(sb.buf);
    assert_string_equal(sb.buf, "");
    assert_int_equal(sb.alloc, 0);
    tdo_sb_add(&sb, "", 0);
    assert_int_equal(sb.alloc, 0);
    tdo_sb_adds(&sb, "hello");
    tdo_sb_addc(&sb, ',');
    tdo_sb_addc(&sb, ' ');
    tdo_sb_addf(&sb, "%s #%d", "world", 42);
    tdo_sb_add(&sb, "!?", 1);
    assert_string_equal(sb.buf, "hello, world #42!");
    assert_int_equal(sb.len, strlen("hello, world #42!"));
    assert_true(sb.alloc > sb.len);
    assert_false(sb.oom);

    tdo_sb_reset(&sb);
    assert_int_equal(sb.len, 0);
    assert_string_equal(sb.buf, "");
    tdo_sb_addf(&sb, "%d", 7);
    assert_string_equal(sb.buf, "7");

    char *s = tdo_sb_detach(&sb);
    assert_string_equal(s, "7");
    assert_ptr_equal(sb.buf, tdo_sb_empty_);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.alloc, 0);
    tdo_free(s);

    /* detaching an empty builder gives an empty malloc'd string */
    s = tdo_sb_detach(&sb);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_ptr_not_equal(s, tdo_sb_empty_);
    tdo_free(s);

    tdo_sb_release(&sb);
    tdo_sb_release(&sb);
    assert_ptr_equal(sb.buf, tdo_sb_empty_);
    assert_string_equal(tdo_sb_empty_, "");
}

static void test_sb_large(void **state)
{
    tdo_sb sb;
    char big[5000];

    tdo_sb_init(&sb);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 1000; i++)
        tdo_sb_addf(&sb, "%d,", i);
    tdo_sb_addf(&sb, "%s", big);
    tdo_sb_adds(&sb, big);
    assert_false(sb.oom);
    assert_int_equal(sb.len, strlen(sb.buf));
    assert_memory_equal(sb.buf, "0,1,2,3,", 8);
    assert_int_equal(sb.buf[sb.len - 1], 'x');
    assert_true(tdo_sb_grow(&sb, 100000));
    assert_true(sb.alloc >= sb.len + 100001);
    tdo_sb_release(&sb);
}

static void test_sb_grow_overflow(void **state)
{
    tdo_sb sb = TDO_SB_INIT;

    tdo_sb_adds(&sb, "abc");
    assert_false(tdo_sb_grow(&sb, SIZE_MAX - 1));
    assert_true(sb.oom);
    tdo_sb_adds(&sb, "def"); /* ignored */
    assert_string_equal(sb.buf, "abc");
    assert_null(tdo_sb_detach(&sb));
    assert_ptr_equal(sb.buf, tdo_sb_empty_);
    assert_false(sb.oom);
}

/* Builds a long text; fails the nth allocation for n = 1, 2, ... until a
 * run succeeds: each failing run must end with oom set, the text a prefix
 * of the expected one, and detach returning NULL. */
static void test_sb_alloc_failure(void **state)
{
    char want[4096];
    size_t wlen = 0;
    bool done = false;

    for (int i = 0; i < 300; i++)
        wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, "%d;", i);
    for (long n = 1; n < 100 && !done; n++) {
        tdo_sb sb = TDO_SB_INIT;
        char *s;

        tdo_test_fail_alloc_after(n);
        for (int i = 0; i < 300; i++) {
            if (i % 2)
                tdo_sb_addf(&sb, "%d;", i);
            else {
                char tmp[16];
                snprintf(tmp, sizeof(tmp), "%d", i);
                tdo_sb_adds(&sb, tmp);
                tdo_sb_addc(&sb, ';');
            }
        }
        assert_int_equal(strlen(sb.buf), sb.len);
        assert_memory_equal(sb.buf, want, sb.len);
        if (tdo_test_alloc_failed()) {
            assert_true(sb.oom);
            assert_true(sb.len < wlen);
            assert_null(tdo_sb_detach(&sb));
        } else {
            assert_false(sb.oom);
            s = tdo_sb_detach(&sb);
            assert_string_equal(s, want);
            tdo_free(s);
            done = true;
        }
        tdo_sb_release(&sb);
    }
    assert_true(done);
    tdo_test_fail_alloc_after(0);
}

static void test_alloc_hook(void **state)
{
    void *p;

    tdo_test_fail_alloc_after(3);
    assert_false(tdo_test_alloc_failed());
    p = tdo_malloc(8);
    assert_non_null(p);
    tdo_free(p);
    p = tdo_calloc(2, 8);
    assert_non_null(p);
    assert_false(tdo_test_alloc_failed());
    assert_null(tdo_realloc(p, 64)); /* third: fails, p untouched */
    assert_true(tdo_test_alloc_failed());
    tdo_free(p);
    p = tdo_malloc(8); /* later ones succeed again */
    assert_non_null(p);
    tdo_free(p);
    assert_true(tdo_test_alloc_failed());
    tdo_test_fail_alloc_after(0);
    assert_false(tdo_test_alloc_failed());

    tdo_free(NULL);
    p = tdo_malloc(0);
    assert_non_null(p);
    tdo_free(p);

    assert_null(tdo_strdup(NULL));
    char *s = tdo_strdup("abc");
    assert_string_equal(s, "abc");
    tdo_free(s);
    s = tdo_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    tdo_free(s);
    s = tdo_strndup(NULL, 0);
    assert_string_equal(s, "");
    tdo_free(s);
    tdo_test_fail_alloc_after(1);
    assert_null(tdo_strdup("abc"));
    assert_true(tdo_test_alloc_failed());
    tdo_test_fail_alloc_after(0);
}

static void test_status_names(void **state)
{
    static const struct {
        tdo_status code;
        const char *name;
    } cases[] = {
        {TDO_OK, "OK"},
        {TDO_ERR_BASE, "BaseORMException"},
        {TDO_ERR_CONFIGURATION, "ConfigurationError"},
        {TDO_ERR_FIELD, "FieldError"},
        {TDO_ERR_PARAMS, "ParamsError"},
        {TDO_ERR_OPERATIONAL, "OperationalError"},
        {TDO_ERR_INTEGRITY, "IntegrityError"},
        {TDO_ERR_TRANSACTION, "TransactionManagementError"},
        {TDO_ERR_DOES_NOT_EXIST, "DoesNotExist"},
        {TDO_ERR_MULTIPLE_OBJECTS, "MultipleObjectsReturned"},
        {TDO_ERR_VALIDATION, "ValidationError"},
        {TDO_ERR_INCOMPLETE_INSTANCE, "IncompleteInstanceError"},
        {TDO_ERR_NO_VALUES_FETCHED, "NoValuesFetched"},
        {TDO_ERR_NOMEM, "OperationalError"},
        {TDO_ERR_INTERRUPTED, "OperationalError"},
    };
    assert_int_equal(sizeof(cases) / sizeof(*cases), TDO_STATUS_COUNT);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        assert_string_equal(tdo_status_name(cases[i].code), cases[i].name);
    assert_non_null(tdo_status_name(TDO_STATUS_COUNT));
}

static tdo_status wrap(tdo_error *err, const char *fmt, ...)
{
    va_list ap;
    tdo_status st;

    va_start(ap, fmt);
    st = tdo_error_vset(err, TDO_ERR_FIELD, fmt, ap);
    va_end(ap);
    return st;
}

static void test_error(void **state)
{
    tdo_error err;

    tdo_error_init(&err);
    assert_int_equal(err.code, TDO_OK);
    assert_null(err.message);
    assert_null(err.sql);
    assert_string_equal(err.sqlstate, "");

    assert_int_equal(tdo_error_set(&err, TDO_ERR_INTEGRITY,
                                   "UNIQUE constraint failed: %s.%s", "users",
                                   "email"),
                     TDO_ERR_INTEGRITY);
    assert_int_equal(err.code, TDO_ERR_INTEGRITY);
    assert_string_equal(err.message, "UNIQUE constraint failed: users.email");
    tdo_error_set_sql(&err, "INSERT INTO \"users\" VALUES (?)");
    assert_string_equal(err.sql, "INSERT INTO \"users\" VALUES (?)");
    tdo_error_set_sql(&err, err.sql); /* aliasing is fine */
    assert_string_equal(err.sql, "INSERT INTO \"users\" VALUES (?)");

    /* a new message may quote the old one */
    tdo_error_set(&err, TDO_ERR_OPERATIONAL, "while saving: %s", err.message);
    assert_int_equal(err.code, TDO_ERR_OPERATIONAL);
    assert_string_equal(err.message,
                        "while saving: UNIQUE constraint failed: users.email");
    assert_int_equal(wrap(&err, "no such field '%s'", "emial"), TDO_ERR_FIELD);
    assert_string_equal(err.message, "no such field 'emial'");
    tdo_error_set_sql(&err, NULL);
    assert_null(err.sql);

    tdo_error_release(&err);
    assert_int_equal(err.code, TDO_OK);
    assert_null(err.message);
    tdo_error_release(&err);
    tdo_error_release(NULL);

    /* NULL err: the code is still returned */
    assert_int_equal(tdo_error_set(NULL, TDO_ERR_PARAMS, "x"), TDO_ERR_PARAMS);
    tdo_error_set_sql(NULL, "x");

    /* out of memory keeps the code */
    tdo_error e2 = TDO_ERROR_INIT;
    tdo_test_fail_alloc_after(1);
    assert_int_equal(tdo_error_set(&e2, TDO_ERR_DOES_NOT_EXIST, "%s", "gone"),
                     TDO_ERR_DOES_NOT_EXIST);
    assert_true(tdo_test_alloc_failed());
    assert_int_equal(e2.code, TDO_ERR_DOES_NOT_EXIST);
    assert_null(e2.message);
    tdo_test_fail_alloc_after(1);
    tdo_error_set_sql(&e2, "SELECT 1");
    assert_null(e2.sql);
    tdo_test_fail_alloc_after(0);
    tdo_error_release(&e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sb_basics),
        cmocka_unit_test(test_sb_large),
        cmocka_unit_test(test_sb_grow_overflow),
        cmocka_unit_test_teardown(test_sb_alloc_failure, teardown),
        cmocka_unit_test_teardown(test_alloc_hook, teardown),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test_teardown(test_error, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
