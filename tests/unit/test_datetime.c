/* test_datetime.c -- ISO 8601 dates, times, datetimes and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <stdio.h>

#include "tdo_int.h"

#define SEC INT64_C(1000000)
#define DAY (86400 * SEC)

static tdo_datetime P(const char *s, tdo_type kind)
{
    tdo_datetime dt;
    tdo_error err = TDO_ERROR_INIT;

    if (tdo_datetime_parse(s, strlen(s), kind, &dt, &err) != TDO_OK)
        fail_msg("cannot parse '%s': %s", s, err.message);
    tdo_error_release(&err);
    return dt;
}

static void assert_fmt(const tdo_datetime *dt, tdo_type kind, const char *want)
{
    char buf[64];

    assert_int_equal(
        tdo_datetime_format(dt, kind, 'T', false, buf, sizeof(buf)),
        strlen(want));
    assert_string_equal(buf, want);
}

static void test_parse_roundtrip(void **state)
{
    static const struct {
        tdo_type kind;
        const char *in, *out;
    } cases[] = {
        {TDO_DATE, "2026-11-25", "2026-11-25"},
        {TDO_DATE, "0001-01-01", "0001-01-01"},
        {TDO_DATE, "9999-12-31", "9999-12-31"},
        {TDO_DATE, "2024-02-29", "2024-02-29"},
        {TDO_DATE, "2000-02-29", "2000-02-29"},
        {TDO_DATE, " 2026-11-25\n", "2026-11-25"},
        {TDO_DATE, "2026-11-25 10:15:35", "2026-11-25"},
        {TDO_DATE, "2026-11-25T10:15:35+02:00", "2026-11-25"},
        {TDO_DATETIME, "2026-11-25", "2026-11-25T00:00:00"},
        {TDO_DATETIME, "2026-11-25T10:15", "2026-11-25T10:15:00"},
        {TDO_DATETIME, "2026-11-25T10:15:35", "2026-11-25T10:15:35"},
        {TDO_DATETIME, "2026-11-25 10:15:35", "2026-11-25T10:15:35"},
        {TDO_DATETIME, "2026-11-25T10:15:35.5", "2026-11-25T10:15:35.500000"},
        {TDO_DATETIME, "2026-11-25T10:15:35.000123",
         "2026-11-25T10:15:35.000123"},
        {TDO_DATETIME, "2026-11-25T10:15:35.000000", "2026-11-25T10:15:35"},
        {TDO_DATETIME, "2026-11-25T10:15:35Z", "2026-11-25T10:15:35+00:00"},
        {TDO_DATETIME, "2026-11-25T10:15:35.5+01:00",
         "2026-11-25T10:15:35.500000+01:00"},
        {TDO_DATETIME, "2026-11-25T10:15:35-0530", "2026-11-25T10:15:35-05:30"},
        {TDO_DATETIME, "2026-11-25 10:15:35.123456+00",
         "2026-11-25T10:15:35.123456+00:00"},
        {TDO_DATETIME, "2026-11-25T23:59:59-23:59",
         "2026-11-25T23:59:59-23:59"},
        {TDO_TIME, "10:15", "10:15:00"},
        {TDO_TIME, "10:15:35", "10:15:35"},
        {TDO_TIME, "00:00:00.000001", "00:00:00.000001"},
        {TDO_TIME, "23:59:59.999999", "23:59:59.999999"},
        {TDO_TIME, "10:15:35+01:00", "10:15:35+01:00"},
        {TDO_TIME, "10:15:35Z", "10:15:35+00:00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_datetime dt = P(cases[i].in, cases[i].kind);

        assert_fmt(&dt, cases[i].kind, cases[i].out);
    }
    tdo_datetime dt = P("2026-11-25T10:15:35.5-01:30", TDO_DATETIME);
    assert_int_equal(dt.year, 2026);
    assert_int_equal(dt.month, 11);
    assert_int_equal(dt.day, 25);
    assert_int_equal(dt.hour, 10);
    assert_int_equal(dt.minute, 15);
    assert_int_equal(dt.second, 35);
    assert_int_equal(dt.usec, 500000);
    assert_true(dt.has_offset);
    assert_int_equal(dt.offset_min, -90);
    dt = P("12:00", TDO_TIME);
    assert_int_equal(dt.year, 0);
    assert_int_equal(dt.month, 0);
    assert_false(dt.has_offset);
}

static void test_parse_bad(void **state)
{
    static const struct {
        tdo_type kind;
        const char *in;
    } cases[] = {
        {TDO_DATE, ""},
        {TDO_DATE, "2026-11"},
        {TDO_DATE, "2026-13-01"},
        {TDO_DATE, "2026-00-01"},
        {TDO_DATE, "2026-11-31"},
        {TDO_DATE, "2026-11-00"},
        {TDO_DATE, "2023-02-29"},
        {TDO_DATE, "1900-02-29"},
        {TDO_DATE, "0000-01-01"},
        {TDO_DATE, "26-11-25"},
        {TDO_DATE, "2026/11/25"},
        {TDO_DATE, "2026-11-25x"},
        {TDO_DATE, "2026-11-25T"},
        {TDO_DATETIME, "2026-11-25T24:00"},
        {TDO_DATETIME, "2026-11-25T10:60"},
        {TDO_DATETIME, "2026-11-25T10:15:60"},
        {TDO_DATETIME, "2026-11-25T10"},
        {TDO_DATETIME, "2026-11-25T10:15:35."},
        {TDO_DATETIME, "2026-11-25T10:15:35.1234567"},
        {TDO_DATETIME, "2026-11-25T10:15:35+1"},
        {TDO_DATETIME, "2026-11-25T10:15:35+24:00"},
        {TDO_DATETIME, "2026-11-25T10:15:35+01:60"},
        {TDO_DATETIME, "2026-11-25T10:15:35 +01:00"},
        {TDO_DATETIME, "2026-11-25X10:15:35"},
        {TDO_DATETIME, "hello"},
        {TDO_TIME, "2026-11-25"},
        {TDO_TIME, "1:15"},
        {TDO_TIME, "10:15:35junk"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_datetime dt;
        tdo_error err = TDO_ERROR_INIT;
        const char *s = cases[i].in;

        if (tdo_datetime_parse(s, strlen(s), cases[i].kind, &dt, &err) !=
            TDO_ERR_PARAMS)
            fail_msg("'%s' parsed", s);
        assert_int_equal(err.code, TDO_ERR_PARAMS);
        assert_non_null(err.message);
        /* the message quotes the bad text */
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "'%s'", s);
        assert_non_null(strstr(err.message, quoted));
        tdo_error_release(&err);
    }
    tdo_datetime dt;
    tdo_error err = TDO_ERROR_INIT;
    tdo_datetime_parse("2023-02-29", 10, TDO_DATE, &dt, &err);
    assert_string_equal(err.message,
                        "invalid date '2023-02-29': day is out of range for "
                        "month");
    tdo_error_release(&err);
}

static void test_format_options(void **state)
{
    tdo_datetime dt = P("2026-01-02T03:04:05", TDO_DATETIME);
    char buf[64];

    tdo_datetime_format(&dt, TDO_DATETIME, ' ', true, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-02 03:04:05.000000");
    tdo_datetime_format(&dt, TDO_DATETIME, ' ', false, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-02 03:04:05");
    tdo_datetime_format(&dt, TDO_TIME, 'T', true, buf, sizeof(buf));
    assert_string_equal(buf, "03:04:05.000000");
    tdo_datetime_format(&dt, TDO_DATE, 'T', true, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-02");
    dt.has_offset = true;
    dt.offset_min = 0;
    tdo_datetime_format(&dt, TDO_DATETIME, ' ', true, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-02 03:04:05.000000+00:00");
    dt.offset_min = -330;
    tdo_datetime_format(&dt, TDO_DATETIME, 'T', false, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-02T03:04:05-05:30");
    /* truncation */
    char small[5];
    assert_int_equal(
        tdo_datetime_format(&dt, TDO_DATE, 'T', false, small, sizeof(small)),
        10);
    assert_string_equal(small, "2026");
    assert_int_equal(tdo_datetime_format(&dt, TDO_DATE, 'T', false, NULL, 0),
                     10);
}

static void test_cmp_diff(void **state)
{
    tdo_datetime a = P("2026-11-25T10:00:00+01:00", TDO_DATETIME);
    tdo_datetime b = P("2026-11-25T09:00:00Z", TDO_DATETIME);
    tdo_datetime c = P("2026-11-25T09:30:00+00:00", TDO_DATETIME);

    assert_int_equal(tdo_datetime_cmp(&a, &b, TDO_DATETIME), 0);
    assert_true(tdo_datetime_cmp(&a, &c, TDO_DATETIME) < 0);
    assert_true(tdo_datetime_cmp(&c, &a, TDO_DATETIME) > 0);
    assert_int_equal(tdo_datetime_diff(&c, &a, TDO_DATETIME), 30 * 60 * SEC);

    tdo_datetime d1 = P("2024-03-01", TDO_DATE), d2 = P("2024-02-28", TDO_DATE);
    assert_int_equal(tdo_datetime_diff(&d1, &d2, TDO_DATE), 2 * DAY);
    assert_true(tdo_datetime_cmp(&d2, &d1, TDO_DATE) < 0);
    d1 = P("9999-12-31", TDO_DATE);
    d2 = P("0001-01-01", TDO_DATE);
    assert_int_equal(tdo_datetime_diff(&d1, &d2, TDO_DATE),
                     INT64_C(3652058) * DAY);

    tdo_datetime t1 = P("10:00:00.5", TDO_TIME), t2 = P("09:59:59", TDO_TIME);
    assert_int_equal(tdo_datetime_diff(&t1, &t2, TDO_TIME), 1500000);
    assert_true(tdo_datetime_cmp(&t1, &t2, TDO_TIME) > 0);

    tdo_datetime n = P("2026-11-25T12:00:00.000001", TDO_DATETIME);
    tdo_datetime m = P("2026-11-25T12:00:00", TDO_DATETIME);
    assert_true(tdo_datetime_cmp(&n, &m, TDO_DATETIME) > 0);
    assert_int_equal(tdo_datetime_diff(&n, &m, TDO_DATETIME), 1);
}

/* Day counting against a naive walk through the calendar. */
static void test_calendar_walk(void **state)
{
    tdo_datetime d = P("0001-01-01", TDO_DATE), next;
    int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 1, m = 1, day = 1;
    tdo_error err = TDO_ERROR_INIT;

    for (long i = 0; i < 3652058; i++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int n = dim[m] + (m == 2 && leap);

        if (++day > n) {
            day = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        assert_int_equal(tdo_datetime_add(&d, TDO_DATE, DAY, &next, &err),
                         TDO_OK);
        if (next.year != y || next.month != m || next.day != day)
            fail_msg("day %ld: got %d-%d-%d want %d-%d-%d", i + 1,
                     (int)next.year, next.month, next.day, y, m, day);
        d = next;
    }
    assert_int_equal(y, 9999);
    assert_int_equal(tdo_datetime_add(&d, TDO_DATE, DAY, &next, &err),
                     TDO_ERR_PARAMS);
    tdo_error_release(&err);
}

static void test_add(void **state)
{
    static const struct {
        tdo_type kind;
        const char *in;
        int64_t us;
        const char *out;
    } cases[] = {
        {TDO_DATETIME, "2026-11-25T10:15:35", SEC, "2026-11-25T10:15:36"},
        {TDO_DATETIME, "2026-12-31T23:59:59.5", SEC / 2, "2027-01-01T00:00:00"},
        {TDO_DATETIME, "2024-02-28T12:00", DAY, "2024-02-29T12:00:00"},
        {TDO_DATETIME, "2024-03-01T00:00", -1, "2024-02-29T23:59:59.999999"},
        {TDO_DATETIME, "2026-11-25T10:00+05:00", 2 * DAY,
         "2026-11-27T10:00:00+05:00"},
        {TDO_DATETIME, "2000-01-01", -365 * DAY, "1999-01-01T00:00:00"},
        {TDO_DATETIME, "2001-01-01", -366 * DAY, "2000-01-01T00:00:00"},
        {TDO_DATE, "2026-11-25", DAY, "2026-11-26"},
        {TDO_DATE, "2026-11-25", DAY + 5 * SEC, "2026-11-26"},
        {TDO_DATE, "2026-11-25", -1, "2026-11-24"},
        {TDO_DATE, "2026-03-01", -DAY, "2026-02-28"},
        {TDO_DATE, "2100-02-28", DAY, "2100-03-01"},
        {TDO_TIME, "23:59:00", 120 * SEC, "00:01:00"},
        {TDO_TIME, "00:00:00", -1, "23:59:59.999999"},
        {TDO_TIME, "10:00:00+01:00", 3 * DAY + SEC, "10:00:01+01:00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tdo_datetime dt = P(cases[i].in, cases[i].kind), r;
        tdo_error err = TDO_ERROR_INIT;

        assert_int_equal(
            tdo_datetime_add(&dt, cases[i].kind, cases[i].us, &r, &err),
            TDO_OK);
        assert_fmt(&r, cases[i].kind, cases[i].out);
    }
    static const struct {
        tdo_type kind;
        const char *in;
        int64_t us;
    } bad[] = {
        {TDO_DATETIME, "9999-12-31T23:59:59.999999", 1},
        {TDO_DATETIME, "0001-01-01T00:00", -1},
        {TDO_DATETIME, "2026-01-01", INT64_MAX},
        {TDO_DATETIME, "2026-01-01", INT64_MIN},
        {TDO_DATE, "0001-01-01", -1},
        {TDO_DATE, "2026-01-01", INT64_MIN},
        {TDO_DATE, "2026-01-01", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        tdo_datetime dt = P(bad[i].in, bad[i].kind), r;
        tdo_error err = TDO_ERROR_INIT;

        assert_int_equal(
            tdo_datetime_add(&dt, bad[i].kind, bad[i].us, &r, &err),
            TDO_ERR_PARAMS);
        assert_non_null(err.message);
        tdo_error_release(&err);
    }
}

static void test_duration_format(void **state)
{
    static const struct {
        int64_t us;
        const char *out;
    } cases[] = {
        {0, "0:00:00"},
        {SEC, "0:00:01"},
        {DAY + 30 * SEC, "1 day, 0:00:30"},
        {-SEC / 2, "-1 day, 23:59:59.500000"},
        {2 * DAY + 3723 * SEC + 4, "2 days, 1:02:03.000004"},
        {-DAY, "-1 day, 0:00:00"},
        {-2 * DAY - 1, "-3 days, 23:59:59.999999"},
        {10 * 3600 * SEC, "10:00:00"},
        {999999, "0:00:00.999999"},
        {INT64_MAX, "106751991 days, 4:00:54.775807"},
        {INT64_MIN, "-106751992 days, 19:59:05.224192"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char buf[64];

        assert_int_equal(tdo_duration_format(cases[i].us, buf, sizeof(buf)),
                         strlen(cases[i].out));
        assert_string_equal(buf, cases[i].out);
    }
}

static void test_now(void **state)
{
    tdo_datetime a, b;
    char buf[64];
    tdo_error err = TDO_ERROR_INIT;

    tdo_datetime_now(true, &a);
    assert_true(a.has_offset);
    assert_int_equal(a.offset_min, 0);
    assert_true(a.year >= 2024);
    tdo_datetime_format(&a, TDO_DATETIME, 'T', true, buf, sizeof(buf));
    assert_int_equal(
        tdo_datetime_parse(buf, strlen(buf), TDO_DATETIME, &b, &err), TDO_OK);
    assert_int_equal(tdo_datetime_cmp(&a, &b, TDO_DATETIME), 0);
    tdo_datetime_now(false, &b);
    assert_false(b.has_offset);
    assert_true(b.month >= 1 && b.month <= 12);
}

/* Checked duration arithmetic: out of range is ParamsError, never a
 * wrapped value. */
static void test_duration_checked(void **state)
{
    (void)state;
    tdo_error err = TDO_ERROR_INIT;
    int64_t us = 0;
    assert_int_equal(tdo_duration_from_parts(1, 30, 5, &us, &err), TDO_OK);
    assert_int_equal(us, 86400000000LL + 30000000 + 5);
    assert_int_equal(tdo_duration_from_parts(INT64_MAX / 2, 0, 0, &us, &err),
                     TDO_ERR_PARAMS);
    assert_non_null(strstr(err.message, "out of range"));
    assert_int_equal(
        tdo_duration_from_parts(TDO_DURATION_MAX_DAYS, 0, 1, &us, &err),
        TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_from_double(0.0 / 0.0, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_from_double(1e300, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_from_double(-1.5, &us, &err), TDO_OK);
    assert_int_equal(us, -2);
    assert_int_equal(tdo_duration_add(TDO_DURATION_MAX_US, 1, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_add(INT64_MAX, INT64_MAX, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_mul(INT64_MAX / 3, 4, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_mul(-7, 3, &us, &err), TDO_OK);
    assert_int_equal(us, -21);
    assert_int_equal(tdo_duration_scale(1000, 1e300, &us, &err),
                     TDO_ERR_PARAMS);
    assert_int_equal(tdo_duration_scale(1000, 0.5, &us, &err), TDO_OK);
    assert_int_equal(us, 500);
    tdo_error_release(&err);
}

/* Durations as PostgreSQL (interval) and MySQL (TIME) print them. */
static void test_duration_parse(void **state)
{
    static const struct {
        const char *text;
        int64_t us;
    } ok[] = {
        {"1 day 02:00:00", (26LL * 3600) * 1000000},
        {"3 days", 3LL * 86400000000LL},
        {"00:30:00", 1800LL * 1000000},
        {"-00:00:01.5", -1500000},
        {"-3 days -00:00:01.25", -3LL * 86400000000LL - 1250000},
        {"-838:59:59", -(838LL * 3600 + 59 * 60 + 59) * 1000000},
        {"1 day -01:00:00", 23LL * 3600 * 1000000},
        {"0 mons 2 days", 2LL * 86400000000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        tdo_error err = TDO_ERROR_INIT;
        int64_t us = 0;
        if (tdo_duration_parse(ok[i].text, strlen(ok[i].text), &us, &err))
            fail_msg("'%s': %s", ok[i].text, err.message);
        if (us != ok[i].us)
            fail_msg("'%s': %lld, wanted %lld", ok[i].text, (long long)us,
                     (long long)ok[i].us);
    }
    static const char *const bad[] = {"1 mon", "2 years 1 day", "",
                                      "x",     "12:",           "1 day 02:xx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tdo_error err = TDO_ERROR_INIT;
        int64_t us = 0;
        assert_int_equal(tdo_duration_parse(bad[i], strlen(bad[i]), &us, &err),
                         TDO_ERR_OPERATIONAL);
        tdo_error_release(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_checked),
        cmocka_unit_test(test_parse_roundtrip),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format_options),
        cmocka_unit_test(test_cmp_diff),
        cmocka_unit_test(test_calendar_walk),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
