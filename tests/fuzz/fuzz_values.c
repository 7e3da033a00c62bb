/*
 * fuzz_values.c -- libFuzzer harness: decimal, date, time, datetime
 * parsing and formatting, and checked duration arithmetic.
 * Invariants: no crash or sanitizer report (UBSan: no signed overflow);
 * what parses formats and parses back to the same value.
 */
#include "tdo_int.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tdo_error err = TDO_ERROR_INIT;
    char buf[128];

    tdo_decimal d, d2;
    if (tdo_decimal_parse(s, size, &d, &err) == TDO_OK) {
        size_t n = tdo_decimal_format(&d, buf, sizeof buf);
        if (n >= sizeof buf || tdo_decimal_parse(buf, n, &d2, &err) ||
            tdo_decimal_cmp(&d, &d2) != 0)
            abort();
        tdo_decimal sum;
        tdo_decimal_add(&d, &d2, &sum, &err);
        tdo_decimal_mul(&d, &d2, &sum, &err);
        (void)tdo_decimal_to_double(&d);
    }
    static const tdo_type kinds[] = {TDO_DATE, TDO_TIME, TDO_DATETIME};
    for (size_t k = 0; k < 3; k++) {
        tdo_datetime dt, dt2, r;
        if (tdo_datetime_parse(s, size, kinds[k], &dt, &err) != TDO_OK)
            continue;
        size_t n = tdo_datetime_format(&dt, kinds[k], 'T', false, buf,
                                       sizeof buf);
        if (n >= sizeof buf ||
            tdo_datetime_parse(buf, n, kinds[k], &dt2, &err) != TDO_OK ||
            tdo_datetime_cmp(&dt, &dt2, kinds[k]) != 0)
            abort();
        int64_t us = 0;
        if (size >= 8)
            memcpy(&us, data, 8);
        tdo_datetime_add(&dt, kinds[k], us, &r, &err);
    }
    if (size >= 16) {
        int64_t a, b, r;
        double x;
        memcpy(&a, data, 8);
        memcpy(&b, data + 8, 8);
        memcpy(&x, data + 4, 8);
        tdo_duration_add(a, b, &r, &err);
        tdo_duration_mul(a, b, &r, &err);
        tdo_duration_scale(a, x, &r, &err);
        tdo_duration_from_double(x, &r, &err);
        tdo_duration_from_parts(a, b, a, &r, &err);
        tdo_duration_format(a, buf, sizeof buf);
    }
    tdo_error_release(&err);
    return 0;
}
