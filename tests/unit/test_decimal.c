/* test_decimal.c -- exact decimals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "tdo_int.h"

static tdo_decimal D(const char *s)
{
    tdo_decimal d;
    tdo_error err = TDO_ERROR_INIT;

    if (tdo_decimal_parse(s, strlen(s), &d, &err) != TDO_OK)
        fail_msg("cannot parse '%s': %s", s, err.message);
    tdo_error_release(&err);
    return d;
}

static void assert_dec(const tdo_decimal *d, const char *want)
{
    char buf[64];

    tdo_decimal_format(d, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_parse_format(void **state)
{
    static const struct {
        const char *in, *out;
        int scale;
    } cases[] = {
        {"0", "0", 0},
        {"-12.50", "-12.50", 2},
        {"12.50", "12.50", 2},
        {"  7 ", "7", 0},
        {"+3.1", "3.1", 1},
        {"1e3", "1000", 0},
        {"1.5E2", "150", 0},
        {"1e-3", "0.001", 3},
        {"-0.05", "-0.05", 2},
        {"-0", "0", 0},
        {"0.00", "0.00", 2},
        {".5", "0.5", 1},
        {"5.", "5", 0},
        {"007.10", "7.10", 2},
        {"12.5e+1", "125", 0},
        {"99999999999999999999999999999999999999",
         "99999999999999999999999999999999999999", 0},
        {"-99999999999999999999999999999999999999",
         "-99999999999999999999999999999999999999", 0},
        {"0.00000000000000000000000000000000000001",
         "0.00000000000000000000000000000000000001", 38},
        {"1.2345678901234567890123456789012345678",
         "1.2345678901234567890123456789012345678", 37},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_decimal d = D(cases[i].in);

        assert_dec(&d, cases[i].out);
        assert_int_equal(d.scale, cases[i].scale);
    }
}

static void test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "  ",
        "abc",
        "1.2.3",
        "1e",
        "e5",
        "--1",
        "1 2",
        "nan",
        "inf",
        "0x10",
        ".",
        "-",
        "1e+",
        "12a",
        "100000000000000000000000000000000000000",   /* 39 digits */
        "1e38",                                      /* 39 digits */
        "0.000000000000000000000000000000000000001", /* scale 39 */
        "1.00000000000000000000000000000000000000",  /* 39 digits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        tdo_decimal d;
        tdo_error err = TDO_ERROR_INIT;

        assert_int_equal(tdo_decimal_parse(bad[i], strlen(bad[i]), &d, &err),
                         TDO_ERR_PARAMS);
        assert_int_equal(err.code, TDO_ERR_PARAMS);
        assert_non_null(err.message);
        assert_non_null(strstr(err.message, "decimal"));
        tdo_error_release(&err);
    }
    /* the length bounds the text */
    tdo_decimal d;
    assert_int_equal(tdo_decimal_parse("12.5xyz", 4, &d, NULL), TDO_OK);
    assert_dec(&d, "12.5");
}

static void test_format_truncates(void **state)
{
    tdo_decimal d = D("-1234.5678");
    char buf[6];

    assert_int_equal(tdo_decimal_format(&d, buf, sizeof(buf)), 10);
    assert_string_equal(buf, "-1234");
    assert_int_equal(tdo_decimal_format(&d, NULL, 0), 10);
}

static void test_from_int_double(void **state)
{
    static const struct {
        double x;
        const char *out;
    } cases[] = {
        {0.1, "0.1"},         {1.5, "1.5"},
        {-2.25, "-2.25"},     {3.0, "3"},
        {0.0, "0"},           {-0.0, "0"},
        {100.0, "100"},       {1e20, "100000000000000000000"},
        {1e-5, "0.00001"},    {0.3, "0.3"},
        {123.456, "123.456"}, {1.0 / 3.0, "0.3333333333333333"},
    };
    tdo_decimal d;
    tdo_error err = TDO_ERROR_INIT;

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(tdo_decimal_from_double(cases[i].x, &d, &err), TDO_OK);
        assert_dec(&d, cases[i].out);
        assert_true(tdo_decimal_to_double(&d) == cases[i].x);
    }
    assert_int_equal(tdo_decimal_from_double(NAN, &d, &err), TDO_ERR_PARAMS);
    tdo_error_release(&err);
    assert_int_equal(tdo_decimal_from_double(INFINITY, &d, &err),
                     TDO_ERR_PARAMS);
    tdo_error_release(&err);

    tdo_decimal_from_int(INT64_MIN, &d);
    assert_dec(&d, "-9223372036854775808");
    tdo_decimal_from_int(42, &d);
    assert_dec(&d, "42");
    assert_true(tdo_decimal_to_double(&d) == 42.0);
    d = D("12.50");
    assert_true(tdo_decimal_to_double(&d) == 12.5);
}

static void test_cmp(void **state)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"1.0", "1", 0},
        {"1", "1.00000", 0},
        {"0", "-0.00", 0},
        {"1.01", "1.1", -1},
        {"-1", "1", -1},
        {"-1.5", "-1.25", -1},
        {"2", "1.99999999999999999999999999999999999", 1},
        {"99999999999999999999999999999999999999",
         "0.00000000000000000000000000000000000001", 1},
        {"-99999999999999999999999999999999999999",
         "-0.00000000000000000000000000000000000001", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_decimal a = D(cases[i].a), b = D(cases[i].b);
        int r = tdo_decimal_cmp(&a, &b), r2 = tdo_decimal_cmp(&b, &a);

        assert_int_equal((r > 0) - (r < 0), cases[i].want);
        assert_int_equal((r2 > 0) - (r2 < 0), -cases[i].want);
    }
}

typedef tdo_status (*binop)(const tdo_decimal *, const tdo_decimal *,
                            tdo_decimal *, tdo_error *);

static void check_op(binop op, const char *a, const char *b, const char *want)
{
    tdo_decimal x = D(a), y = D(b), r;
    tdo_error err = TDO_ERROR_INIT;

    if (op(&x, &y, &r, &err) != TDO_OK)
        fail_msg("%s op %s failed: %s", a, b, err.message);
    assert_dec(&r, want);
}

static void check_op_fails(binop op, const char *a, const char *b,
                           tdo_status code)
{
    tdo_decimal x = D(a), y = D(b), r;
    tdo_error err = TDO_ERROR_INIT;

    assert_int_equal(op(&x, &y, &r, &err), code);
    assert_int_equal(err.code, code);
    assert_non_null(err.message);
    tdo_error_release(&err);
}

static void test_add_sub_mul(void **state)
{
    static const struct {
        const char *a, *b, *sum, *diff, *prod;
    } cases[] = {
        {"1", "2", "3", "-1", "2"},
        {"0.1", "0.2", "0.3", "-0.1", "0.02"},
        {"12.50", "0.5", "13.00", "12.00", "6.250"},
        {"19.99", "3", "22.99", "16.99", "59.97"},
        {"-1.5", "1.5", "0.0", "-3.0", "-2.25"},
        {"0", "-0.001", "-0.001", "0.001", "0.000"},
        {"1e10", "1e-10", "10000000000.0000000001", "9999999999.9999999999",
         "1.0000000000"},
        {"99999999999999999999999999999999999998", "1",
         "99999999999999999999999999999999999999",
         "99999999999999999999999999999999999997",
         "99999999999999999999999999999999999998"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        check_op(tdo_decimal_add, cases[i].a, cases[i].b, cases[i].sum);
        check_op(tdo_decimal_sub, cases[i].a, cases[i].b, cases[i].diff);
        check_op(tdo_decimal_mul, cases[i].a, cases[i].b, cases[i].prod);
    }
    tdo_decimal a = D("-3.25"), n;
    tdo_decimal_neg(&a, &n);
    assert_dec(&n, "3.25");
}

static void test_overflow(void **state)
{
    const char *max = "99999999999999999999999999999999999999";
    const char *min = "-99999999999999999999999999999999999999";

    check_op_fails(tdo_decimal_add, max, "1", TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_add, max, max, TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_sub, min, "1", TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_sub, min, max, TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_mul, max, "2", TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_mul, max, max, TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_mul, "1e37", "-1e37", TDO_ERR_OPERATIONAL);
    /* aligning scales overflows too */
    check_op_fails(tdo_decimal_add, "1e37", "0.1", TDO_ERR_OPERATIONAL);
    check_op_fails(tdo_decimal_div, max, "0.01", TDO_ERR_OPERATIONAL);
    /* tiny products round to 38 places */
    check_op(tdo_decimal_mul, "0.00000000000000000001",
             "0.000000000000000000015",
             "0.00000000000000000000000000000000000000");
    check_op(tdo_decimal_mul, "0.00000000000000000001", "0.0000000000000000015",
             "0.00000000000000000000000000000000000002");
}

static void test_div(void **state)
{
    static const struct {
        const char *a, *b, *want;
    } cases[] = {
        {"1", "3", "0.3333333333333333333333333333"},
        {"2", "3", "0.6666666666666666666666666667"},
        {"10.00", "4", "2.50"},
        {"1", "4", "0.25"},
        {"1", "8", "0.125"},
        {"6", "3", "2"},
        {"6.0", "3", "2.0"},
        {"10", "4.00", "2.50"},
        {"-1", "3", "-0.3333333333333333333333333333"},
        {"1", "-4", "-0.25"},
        {"0", "5", "0"},
        {"0.00", "-5", "0.00"},
        {"100", "7", "14.28571428571428571428571429"},
        {"1e30", "0.001", "1000000000000000000000000000000000.000"},
        {"123456789012345678901234567890", "1",
         "123456789012345678901234567900"},
        {"1", "0.0001", "10000.0000"},
        {"22", "7", "3.142857142857142857142857143"},
        {"0.5", "2", "0.25"},
        {"99999999999999999999999999999999999999",
         "99999999999999999999999999999999999999", "1"},
        {"1", "99999999999999999999999999999999999999",
         "0.00000000000000000000000000000000000001"},
        /* half-even on an exact tie at the 29th digit */
        {"1000000000000000000000000000.5", "1",
         "1000000000000000000000000000.0"},
        {"1000000000000000000000000001.5", "1",
         "1000000000000000000000000002.0"},
        {"10000000000000000000000000005", "10", "1000000000000000000000000000"},
        {"10000000000000000000000000015", "10", "1000000000000000000000000002"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        check_op(tdo_decimal_div, cases[i].a, cases[i].b, cases[i].want);
    check_op_fails(tdo_decimal_div, "1", "0", TDO_ERR_PARAMS);
    check_op_fails(tdo_decimal_div, "1", "0.000", TDO_ERR_PARAMS);
}

static void test_quantize(void **state)
{
    static const struct {
        const char *in;
        int places, max_digits;
        const char *want; /* NULL: ValidationError */
    } cases[] = {
        {"12.5", 2, 5, "12.50"},     {"12.345", 2, 5, "12.34"},
        {"12.355", 2, 5, "12.36"},   {"12.365", 2, 0, "12.36"},
        {"-12.365", 2, 0, "-12.36"}, {"-0.004", 2, 0, "0.00"},
        {"0.5", 0, 0, "0"},          {"1.5", 0, 0, "2"},
        {"2.5", 0, 0, "2"},          {"2.5000001", 0, 0, "3"},
        {"7", 3, 4, "7.000"},        {"12345.6", 2, 7, "12345.60"},
        {"12345.6", 2, 6, NULL},     {"999.995", 2, 5, NULL},
        {"999.994", 2, 5, "999.99"}, {"0.05", 2, 2, "0.05"},
        {"1", 38, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_decimal d = D(cases[i].in), r;
        tdo_error err = TDO_ERROR_INIT;
        tdo_status st = tdo_decimal_quantize(&d, cases[i].places,
                                             cases[i].max_digits, &r, &err);

        if (cases[i].want) {
            assert_int_equal(st, TDO_OK);
            assert_dec(&r, cases[i].want);
            assert_int_equal(r.scale, cases[i].places);
        } else {
            assert_int_equal(st, TDO_ERR_VALIDATION);
            assert_non_null(err.message);
            tdo_error_release(&err);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_from_int_double),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_add_sub_mul),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_div),
        cmocka_unit_test(test_quantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
