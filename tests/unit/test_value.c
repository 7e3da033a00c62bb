/* test_value.c -- tagged values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "tdo_int.h"

static int teardown(void **state)
{
    tdo_test_fail_alloc_after(0);
    return 0;
}

static tdo_value dec(const char *s)
{
    tdo_decimal d;

    assert_int_equal(tdo_decimal_parse(s, strlen(s), &d, NULL), TDO_OK);
    return tdo_value_decimal(&d);
}

static tdo_value dt(tdo_type kind, const char *s)
{
    tdo_value v = tdo_value_null();

    v.type = kind;
    assert_int_equal(tdo_datetime_parse(s, strlen(s), kind, &v.u.dt, NULL),
                     TDO_OK);
    return v;
}

static tdo_value typed(tdo_type t, const char *s)
{
    tdo_value v = tdo_value_text(s, strlen(s));

    v.type = t;
    return v;
}

static tdo_value duration(int64_t us)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_DURATION;
    v.u.us = us;
    return v;
}

static void test_type_names(void **state)
{
    static const char *const names[] = {
        "null", "bool", "int",      "double",   "text", "blob", "decimal",
        "date", "time", "datetime", "duration", "uuid", "json",
    };
    for (int t = TDO_NULL; t <= TDO_JSON; t++)
        assert_string_equal(tdo_type_name((tdo_type)t), names[t]);
    assert_non_null(tdo_type_name((tdo_type)99));
}

static void test_constructors(void **state)
{
    tdo_value v = tdo_value_null();
    assert_int_equal(v.type, TDO_NULL);
    assert_false(v.owned);
    v = tdo_value_bool(true);
    assert_int_equal(v.type, TDO_BOOL);
    assert_true(v.u.b);
    v = tdo_value_int(-5);
    assert_int_equal(v.type, TDO_INT);
    assert_int_equal(v.u.i, -5);
    v = tdo_value_double(2.5);
    assert_int_equal(v.type, TDO_DOUBLE);
    assert_true(v.u.d == 2.5);
    const char *s = "hello";
    v = tdo_value_text(s, 5);
    assert_int_equal(v.type, TDO_TEXT);
    assert_ptr_equal(v.u.s.ptr, s);
    assert_int_equal(v.u.s.len, 5);
    assert_false(v.owned);
    tdo_value_release(&v); /* borrowed: nothing freed */
    assert_int_equal(v.type, TDO_NULL);
    v = tdo_value_blob("\x01\x02", 2);
    assert_int_equal(v.type, TDO_BLOB);
    assert_int_equal(v.u.s.len, 2);
    v = dec("12.50");
    assert_int_equal(v.type, TDO_DECIMAL);
    assert_int_equal(v.u.dec.scale, 2);
    assert_true(v.u.dec.coef == 1250);
    tdo_value_release(NULL);
}

static void test_copy(void **state)
{
    char text[] = "it's";
    tdo_value src[] = {
        tdo_value_null(),
        tdo_value_bool(false),
        tdo_value_int(INT64_MIN),
        tdo_value_double(-0.5),
        tdo_value_text(text, 4),
        tdo_value_blob("a\0b", 3),
        tdo_value_text("", 0),
        tdo_value_text(NULL, 0),
        dec("-0.05"),
        dt(TDO_DATE, "2026-11-25"),
        dt(TDO_TIME, "10:15:35.5"),
        dt(TDO_DATETIME, "2026-11-25T10:15:35Z"),
        duration(-1),
        typed(TDO_UUID, "1b4e28ba-2fa1-11d2"),
        typed(TDO_JSON, "{\"a\": 1}"),
    };
    for (size_t i = 0; i < sizeof(src) / sizeof(*src); i++) {
        tdo_value c, c2;

        assert_int_equal(tdo_value_copy(&c, &src[i]), TDO_OK);
        assert_int_equal(c.type, src[i].type);
        assert_int_equal(tdo_value_cmp(&c, &src[i]), 0);
        if (c.type == TDO_TEXT || c.type == TDO_BLOB || c.type == TDO_UUID ||
            c.type == TDO_JSON) {
            assert_true(c.owned);
            assert_ptr_not_equal(c.u.s.ptr, src[i].u.s.ptr);
            assert_int_equal(c.u.s.ptr[c.u.s.len], '\0');
        } else {
            assert_false(c.owned);
        }
        /* a copy of a copy, and an in-place copy of an owned value */
        assert_int_equal(tdo_value_copy(&c2, &c), TDO_OK);
        assert_int_equal(tdo_value_copy(&c2, &c2), TDO_OK);
        assert_int_equal(tdo_value_cmp(&c2, &src[i]), 0);
        tdo_value_release(&c);
        tdo_value_release(&c2);
        assert_int_equal(c.type, TDO_NULL);
    }
    /* the copy does not follow changes of the source */
    tdo_value c;
    tdo_value t = tdo_value_text(text, 4);
    assert_int_equal(tdo_value_copy(&c, &t), TDO_OK);
    text[0] = 'I';
    assert_memory_equal(c.u.s.ptr, "it's", 4);
    tdo_value_release(&c);

    /* in-place copy of a borrowed value makes it owned */
    t = tdo_value_text(text, 4);
    assert_int_equal(tdo_value_copy(&t, &t), TDO_OK);
    assert_true(t.owned);
    assert_ptr_not_equal(t.u.s.ptr, text);
    tdo_value_release(&t);
}

static void test_copy_alloc_failure(void **state)
{
    tdo_value src = tdo_value_text("some text", 9), c;
    bool done = false;

    for (long n = 1; n < 10 && !done; n++) {
        tdo_status st;

        tdo_test_fail_alloc_after(n);
        st = tdo_value_copy(&c, &src);
        if (tdo_test_alloc_failed()) {
            assert_int_equal(st, TDO_ERR_NOMEM);
            assert_int_equal(c.type, TDO_NULL);
            assert_false(c.owned);
        } else {
            assert_int_equal(st, TDO_OK);
            assert_int_equal(tdo_value_cmp(&c, &src), 0);
            done = true;
        }
        tdo_value_release(&c);
    }
    assert_true(done);

    /* copying an array of values, unwinding on failure */
    tdo_value arr[4] = {tdo_value_text("a", 1), tdo_value_int(1),
                        tdo_value_blob("bc", 2), typed(TDO_JSON, "[1]")};
    done = false;
    for (long n = 1; n < 20 && !done; n++) {
        tdo_value out[4];
        size_t i;

        tdo_test_fail_alloc_after(n);
        for (i = 0; i < 4; i++)
            if (tdo_value_copy(&out[i], &arr[i]) != TDO_OK)
                break;
        if (i < 4) {
            assert_true(tdo_test_alloc_failed());
            assert_int_equal(out[i].type, TDO_NULL);
        } else {
            assert_false(tdo_test_alloc_failed());
            done = true;
        }
        while (i-- > 0)
            tdo_value_release(&out[i]);
    }
    assert_true(done);
    tdo_test_fail_alloc_after(0);
}

static void check_format(const tdo_value *v, bool quote, const char *want)
{
    tdo_sb sb = TDO_SB_INIT;

    tdo_sb_adds(&sb, "<");
    tdo_value_format(&sb, v, quote);
    tdo_sb_adds(&sb, ">");
    assert_false(sb.oom);
    assert_int_equal(sb.len, strlen(want) + 2);
    assert_memory_equal(sb.buf + 1, want, strlen(want));
    tdo_sb_release(&sb);
}

static void test_format(void **state)
{
    const struct {
        tdo_value v;
        const char *raw, *quoted;
    } cases[] = {
        {tdo_value_null(), "NULL", "NULL"},
        {tdo_value_bool(true), "true", "true"},
        {tdo_value_bool(false), "false", "false"},
        {tdo_value_int(42), "42", "42"},
        {tdo_value_int(INT64_MIN), "-9223372036854775808",
         "-9223372036854775808"},
        {tdo_value_double(1.5), "1.5", "1.5"},
        {tdo_value_double(3), "3.0", "3.0"},
        {tdo_value_double(-0.1), "-0.1", "-0.1"},
        {tdo_value_double(1e100), "1e+100", "1e+100"},
        {tdo_value_double(INFINITY), "inf", "inf"},
        {tdo_value_text("it's", 4), "it's", "'it''s'"},
        {tdo_value_text("''", 2), "''", "''''''"},
        {tdo_value_text("", 0), "", "''"},
        {tdo_value_text("abcdef", 3), "abc", "'abc'"},
        {tdo_value_blob("\x0a\x0b", 2), "x'0a0b'", "x'0a0b'"},
        {tdo_value_blob("", 0), "x''", "x''"},
        {dec("12.50"), "12.50", "12.50"},
        {dec("-0.05"), "-0.05", "-0.05"},
        {dt(TDO_DATE, "2026-11-25"), "2026-11-25", "2026-11-25"},
        {dt(TDO_TIME, "10:15:35"), "10:15:35", "10:15:35"},
        {dt(TDO_DATETIME, "2026-11-25 10:15:35"), "2026-11-25T10:15:35",
         "2026-11-25T10:15:35"},
        {dt(TDO_DATETIME, "2026-11-25 10:15:35.25+01:00"),
         "2026-11-25T10:15:35.250000+01:00",
         "2026-11-25T10:15:35.250000+01:00"},
        {duration(86400000000 + 30000000), "1 day, 0:00:30", "1 day, 0:00:30"},
        {typed(TDO_UUID, "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
         "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
         "'1b4e28ba-2fa1-11d2-883f-0016d3cca427'"},
        {typed(TDO_JSON, "{\"a\": \"b'c\"}"), "{\"a\": \"b'c\"}",
         "'{\"a\": \"b''c\"}'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        check_format(&cases[i].v, false, cases[i].raw);
        check_format(&cases[i].v, true, cases[i].quoted);
    }
    /* embedded NUL bytes are kept */
    tdo_value t = tdo_value_text("a\0b", 3);
    tdo_sb sb = TDO_SB_INIT;
    tdo_value_format(&sb, &t, true);
    assert_int_equal(sb.len, 5);
    assert_memory_equal(sb.buf, "'a\0b'", 5);
    tdo_sb_release(&sb);
}

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

static void test_cmp(void **state)
{
    const struct {
        tdo_value a, b;
        int want;
    } cases[] = {
        {tdo_value_null(), tdo_value_null(), 0},
        {tdo_value_null(), tdo_value_int(0), -1},
        {tdo_value_int(5), tdo_value_text("5", 1), -1},
        {tdo_value_bool(false), tdo_value_bool(true), -1},
        {tdo_value_bool(true), tdo_value_bool(true), 0},
        {tdo_value_int(-1), tdo_value_int(1), -1},
        {tdo_value_int(INT64_MAX), tdo_value_int(INT64_MIN), 1},
        {tdo_value_double(1.5), tdo_value_double(1.5), 0},
        {tdo_value_double(-1), tdo_value_double(2), -1},
        {tdo_value_double(NAN), tdo_value_double(NAN), 0},
        {tdo_value_double(NAN), tdo_value_double(INFINITY), 1},
        {tdo_value_text("abc", 3), tdo_value_text("abd", 3), -1},
        {tdo_value_text("ab", 2), tdo_value_text("abc", 3), -1},
        {tdo_value_text("b", 1), tdo_value_text("abc", 3), 1},
        {tdo_value_text("", 0), tdo_value_text(NULL, 0), 0},
        {tdo_value_blob("\xff", 1), tdo_value_blob("\x01", 1), 1},
        {dec("1.0"), dec("1"), 0},
        {dec("1.01"), dec("1.1"), -1},
        {dt(TDO_DATE, "2026-01-01"), dt(TDO_DATE, "2025-12-31"), 1},
        {dt(TDO_DATETIME, "2026-01-01T10:00+01:00"),
         dt(TDO_DATETIME, "2026-01-01T09:00Z"), 0},
        {dt(TDO_TIME, "10:00"), dt(TDO_TIME, "10:00:00.000001"), -1},
        {duration(-5), duration(5), -1},
        {typed(TDO_UUID, "a"), typed(TDO_UUID, "a"), 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(sign(tdo_value_cmp(&cases[i].a, &cases[i].b)),
                         cases[i].want);
        assert_int_equal(sign(tdo_value_cmp(&cases[i].b, &cases[i].a)),
                         -cases[i].want);
    }
}

/* tdo_json_quote: the one JSON string quoting (bindings and shell). */
static void test_json_quote(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"l1\nl2\tt\r\b\f", 10, "\"l1\\nl2\\tt\\r\\b\\f\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001F\""}, /* as jansson writes */
        {"nul\0in", 6, "\"nul\\u0000in\""},
        {"\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\""}, /* UTF-8 as is */
        /* bytes that are not UTF-8 (a stray continuation, an overlong
         * '/', a surrogate, a cut sequence) become U+FFFD */
        {"a\x80"
         "b",
         3,
         "\"a\xef\xbf\xbd"
         "b\""},
        {"\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"x\xe2\x82", 3, "\"x\xef\xbf\xbd\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tdo_sb sb = TDO_SB_INIT;
        tdo_json_quote(&sb, cases[i].in, cases[i].n);
        assert_string_equal(sb.buf, cases[i].out);
        tdo_sb_release(&sb);
    }
}

/* Text of a tree dumped compact with sorted keys; frees the tree. */
static char *dump(json_t *j)
{
    tdo_sb sb = TDO_SB_INIT;
    assert_non_null(j);
    assert_int_equal(tdo_json_dump(&sb, j, JSON_COMPACT | JSON_SORT_KEYS),
                     TDO_OK);
    json_decref(j);
    return tdo_sb_detach(&sb);
}

/* tdo_json_dump: reals with the fewest digits that read back exactly. */
static void test_json_dump_reals(void **state)
{
    (void)state;
    char *s = dump(json_pack("[f,f,f,i]", 0.1, 2.5, 3.0, 7));
    assert_string_equal(s, "[0.1,2.5,3.0,7]");
    free(s);
    s = dump(json_pack("{s:f,s:f}", "b", 1.0 / 3, "a", 1e300));
    assert_string_equal(s, "{\"a\":1e300,\"b\":0.3333333333333333}");
    free(s);
    /* one real needing 17 digits: every real of the document gets 17,
     * and each still reads back exactly */
    double x = 0.1 + 0.2;
    s = dump(json_pack("[f,f]", x, 0.5));
    json_t *back = json_loads(s, 0, NULL);
    assert_non_null(back);
    assert_true(json_real_value(json_array_get(back, 0)) == x);
    assert_true(json_real_value(json_array_get(back, 1)) == 0.5);
    json_decref(back);
    free(s);
}

/* tdo_json_decimal / tdo_json_value: exact numbers or an error. */
static void test_json_values(void **state)
{
    (void)state;
    tdo_decimal d;
    assert_int_equal(tdo_decimal_parse("12.50", 5, &d, NULL), TDO_OK);
    char *s = dump(tdo_json_decimal(&d));
    assert_string_equal(s, "12.5");
    free(s);
    assert_int_equal(tdo_decimal_parse("-42", 3, &d, NULL), TDO_OK);
    s = dump(tdo_json_decimal(&d));
    assert_string_equal(s, "-42");
    free(s);
    const char *big = "123456789012345678901234.5";
    assert_int_equal(tdo_decimal_parse(big, strlen(big), &d, NULL), TDO_OK);
    assert_null(tdo_json_decimal(&d));
    tdo_error err = TDO_ERROR_INIT;
    tdo_value v = tdo_value_decimal(&d);
    assert_null(tdo_json_value(&v, &err));
    assert_int_equal(err.code, TDO_ERR_FIELD);
    tdo_error_release(&err);
    v = tdo_value_double(INFINITY);
    assert_null(tdo_json_value(&v, &err));
    assert_int_equal(err.code, TDO_ERR_FIELD);
    tdo_error_release(&err);
    v.type = TDO_JSON;
    v.u.s.ptr = "{\"k\": [1, null]}";
    v.u.s.len = strlen(v.u.s.ptr);
    s = dump(tdo_json_value(&v, &err));
    assert_string_equal(s, "{\"k\":[1,null]}");
    free(s);
    v = tdo_value_text("caf\xc3\xa9", 5);
    s = dump(tdo_json_value(&v, &err));
    assert_string_equal(s, "\"caf\xc3\xa9\"");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_copy),
        cmocka_unit_test_teardown(test_copy_alloc_failure, teardown),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_json_quote),
        cmocka_unit_test(test_json_dump_reals),
        cmocka_unit_test(test_json_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
