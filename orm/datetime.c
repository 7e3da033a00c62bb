/*
 * datetime.c -- ISO 8601 dates, times and datetimes, and durations.
 *
 * Calendar arithmetic counts days from 0001-01-01 (day 0) in the
 * proleptic Gregorian calendar; years are limited to 1..9999.
 */
#include "tdo_int.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_MIN (60 * US_PER_SEC)
#define US_PER_DAY (86400 * US_PER_SEC)

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 0001-01-01 to y-m-d (y >= 1). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t py = y - 1;
    int64_t days = py * 365 + py / 4 - py / 100 + py / 400;
    int i;

    for (i = 1; i < m && i <= 12; i++)
        days += days_in_month(y, i);
    return days + d - 1;
}

/* Inverse of days_from_civil() for days >= 0. */
static void civil_from_days(int64_t days, int32_t *y, uint8_t *m, uint8_t *d)
{
    int64_t n400 = days / 146097, rest = days % 146097;
    int64_t n100, n4, n1, year;
    int month = 1;

    n100 = rest / 36524;
    if (n100 == 4) /* the last day of a 400-year cycle */
        n100 = 3;
    rest -= n100 * 36524;
    n4 = rest / 1461;
    rest -= n4 * 1461;
    n1 = rest / 365;
    if (n1 == 4) /* the last day of a leap year */
        n1 = 3;
    rest -= n1 * 365;
    year = n400 * 400 + n100 * 100 + n4 * 4 + n1 + 1;
    while (rest >= days_in_month(year, month)) {
        rest -= days_in_month(year, month);
        month++;
    }
    *y = (int32_t)year;
    *m = (uint8_t)month;
    *d = (uint8_t)(rest + 1);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Microseconds since midnight of the wall clock. */
static int64_t time_us(const tdo_datetime *t)
{
    return ((int64_t)t->hour * 3600 + t->minute * 60 + t->second) * US_PER_SEC +
           t->usec;
}

static int64_t offset_us(const tdo_datetime *t)
{
    return t->has_offset ? (int64_t)t->offset_min * US_PER_MIN : 0;
}

/* Microseconds since 0001-01-01T00:00 of the wall clock. */
static int64_t wall_us(const tdo_datetime *t)
{
    return days_from_civil(t->year, t->month, t->day) * US_PER_DAY + time_us(t);
}

static void set_time_us(tdo_datetime *t, int64_t us)
{
    t->usec = (int32_t)(us % US_PER_SEC);
    us /= US_PER_SEC;
    t->second = (uint8_t)(us % 60);
    us /= 60;
    t->minute = (uint8_t)(us % 60);
    t->hour = (uint8_t)(us / 60);
}

/* ---- parsing ---------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

/* Reads exactly n digits into *v. */
static bool digits(cursor *c, int n, int *v)
{
    int x = 0;

    if (c->end - c->p < n)
        return false;
    for (int i = 0; i < n; i++) {
        char ch = c->p[i];

        if (ch < '0' || ch > '9')
            return false;
        x = x * 10 + (ch - '0');
    }
    c->p += n;
    *v = x;
    return true;
}

static bool lit(cursor *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* YYYY-MM-DD; *why gets the reason of a range error. */
static bool parse_date(cursor *c, tdo_datetime *dt, const char **why)
{
    int y, m, d;

    if (!digits(c, 4, &y) || !lit(c, '-') || !digits(c, 2, &m) ||
        !lit(c, '-') || !digits(c, 2, &d))
        return false;
    if (y < 1) {
        *why = "year is out of range";
        return false;
    }
    if (m < 1 || m > 12) {
        *why = "month must be in 1..12";
        return false;
    }
    if (d < 1 || d > days_in_month(y, m)) {
        *why = "day is out of range for month";
        return false;
    }
    dt->year = y;
    dt->month = (uint8_t)m;
    dt->day = (uint8_t)d;
    return true;
}

/* HH:MM[:SS[.f{1,6}]][Z|+HH:MM|+HHMM|+HH] */
static bool parse_time(cursor *c, tdo_datetime *dt, const char **why)
{
    int h, mi, s = 0, us = 0;

    if (!digits(c, 2, &h) || !lit(c, ':') || !digits(c, 2, &mi))
        return false;
    if (lit(c, ':')) {
        if (!digits(c, 2, &s))
            return false;
        if (lit(c, '.')) {
            int n = 0;

            while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                if (++n > 6)
                    return false;
                us = us * 10 + (*c->p++ - '0');
            }
            if (n == 0)
                return false;
            for (; n < 6; n++)
                us *= 10;
        }
    }
    if (h > 23) {
        *why = "hour must be in 0..23";
        return false;
    }
    if (mi > 59) {
        *why = "minute must be in 0..59";
        return false;
    }
    if (s > 59) {
        *why = "second must be in 0..59";
        return false;
    }
    dt->hour = (uint8_t)h;
    dt->minute = (uint8_t)mi;
    dt->second = (uint8_t)s;
    dt->usec = us;
    dt->has_offset = false;
    dt->offset_min = 0;
    if (lit(c, 'Z') || lit(c, 'z')) {
        dt->has_offset = true;
    } else if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
        bool neg = *c->p++ == '-';
        int oh, om = 0;

        if (!digits(c, 2, &oh))
            return false;
        if (lit(c, ':')) {
            if (!digits(c, 2, &om))
                return false;
        } else if (c->p < c->end) {
            if (!digits(c, 2, &om))
                return false;
        }
        if (oh > 23 || om > 59) {
            *why = "UTC offset must be within a day";
            return false;
        }
        dt->has_offset = true;
        dt->offset_min = (int16_t)((neg ? -1 : 1) * (oh * 60 + om));
    }
    return true;
}

static const char *kind_name(tdo_type kind)
{
    return kind == TDO_DATE ? "date" : kind == TDO_TIME ? "time" : "datetime";
}

/* Parses an ISO 8601 date, time or datetime (see testudo.h); surrounding
 * white space is ignored.  A DATE accepts a datetime text and keeps its
 * date.  ParamsError quoting the text on bad input. */
TDO_API tdo_status tdo_datetime_parse(const char *s, size_t len, tdo_type kind,
                                      tdo_datetime *out, tdo_error *err)
{
    cursor c = {s, s + len};
    tdo_datetime dt;
    const char *why = NULL;
    bool ok;

    memset(&dt, 0, sizeof(dt));
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\t'))
        c.p++;
    while (c.end > c.p && (c.end[-1] == ' ' || c.end[-1] == '\t' ||
                           c.end[-1] == '\n' || c.end[-1] == '\r'))
        c.end--;
    if (kind == TDO_TIME) {
        ok = parse_time(&c, &dt, &why);
    } else {
        ok = parse_date(&c, &dt, &why);
        if (ok && c.p < c.end) {
            tdo_datetime t = dt;

            ok = (lit(&c, 'T') || lit(&c, 't') || lit(&c, ' ')) &&
                 parse_time(&c, &t, &why);
            if (ok && kind != TDO_DATE)
                dt = t;
        }
    }
    if (ok && c.p != c.end)
        ok = false;
    if (!ok) {
        if (why)
            return tdo_error_set(err, TDO_ERR_PARAMS, "invalid %s '%.*s': %s",
                                 kind_name(kind), (int)len, s, why);
        return tdo_error_set(err, TDO_ERR_PARAMS, "invalid %s '%.*s'",
                             kind_name(kind), (int)len, s);
    }
    *out = dt;
    return TDO_OK;
}

/* ---- formatting ------------------------------------------------------- */

static size_t finish(const char *tmp, size_t n, char *buf, size_t cap)
{
    if (cap > 0) {
        size_t k = n < cap ? n : cap - 1;

        memcpy(buf, tmp, k);
        buf[k] = '\0';
    }
    return n;
}

/* Writes v as exactly width decimal digits (v < 10^width); returns
 * width. */
static int put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return width;
}

/* Writes ISO 8601 text of dt as kind into buf (NUL terminated, truncated
 * to cap; buf may be NULL when cap is 0) and returns the full length; sep
 * is 'T' or ' ' (0 means 'T'); microseconds only when nonzero unless
 * fixed_usec; offset as +HH:MM when has_offset. */
TDO_API size_t tdo_datetime_format(const tdo_datetime *dt, tdo_type kind,
                                   char sep, bool fixed_usec, char *buf,
                                   size_t cap)
{
    char tmp[96];
    int n = 0;

    /* digits by hand: this runs for every temporal value written */
    if (kind != TDO_TIME && dt->year >= 0 && dt->year <= 9999 &&
        dt->month <= 99 && dt->day <= 99) {
        n += put_digits(tmp + n, (unsigned)dt->year, 4);
        tmp[n++] = '-';
        n += put_digits(tmp + n, dt->month, 2);
        tmp[n++] = '-';
        n += put_digits(tmp + n, dt->day, 2);
    } else if (kind != TDO_TIME) {
        n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%04d-%02d-%02d",
                      (int)dt->year, dt->month, dt->day);
    }
    if (kind == TDO_DATETIME)
        tmp[n++] = sep ? sep : 'T';
    if (kind != TDO_DATE) {
        if (dt->hour <= 99 && dt->minute <= 99 && dt->second <= 99) {
            n += put_digits(tmp + n, dt->hour, 2);
            tmp[n++] = ':';
            n += put_digits(tmp + n, dt->minute, 2);
            tmp[n++] = ':';
            n += put_digits(tmp + n, dt->second, 2);
        } else {
            n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%02d:%02d:%02d",
                          dt->hour, dt->minute, dt->second);
        }
        if ((dt->usec || fixed_usec) && dt->usec >= 0 && dt->usec <= 999999) {
            tmp[n++] = '.';
            n += put_digits(tmp + n, (unsigned)dt->usec, 6);
        } else if (dt->usec || fixed_usec) {
            n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".%06d",
                          (int)dt->usec);
        }
        if (dt->has_offset) {
            int off = dt->offset_min;
            char sign = off < 0 ? '-' : '+';

            if (off < 0)
                off = -off;
            n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%c%02d:%02d", sign,
                          off / 60, off % 60);
        }
    }
    return finish(tmp, (size_t)n, buf, cap);
}

/* Sets out to the current time: UTC with offset 0 when utc, else the
 * local wall clock, naive. */
TDO_API void tdo_datetime_now(bool utc, tdo_datetime *out)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (utc)
        gmtime_r(&ts.tv_sec, &tm);
    else
        localtime_r(&ts.tv_sec, &tm);
    memset(out, 0, sizeof(*out));
    out->year = tm.tm_year + 1900;
    out->month = (uint8_t)(tm.tm_mon + 1);
    out->day = (uint8_t)tm.tm_mday;
    out->hour = (uint8_t)tm.tm_hour;
    out->minute = (uint8_t)tm.tm_min;
    out->second = (uint8_t)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
    out->usec = (int32_t)(ts.tv_nsec / 1000);
    out->has_offset = utc;
    out->offset_min = 0;
}

/* ---- arithmetic ------------------------------------------------------- */

/* The value of dt as kind, in microseconds (UTC instant for aware). */
static int64_t instant_us(const tdo_datetime *dt, tdo_type kind)
{
    switch (kind) {
    case TDO_DATE:
        return days_from_civil(dt->year, dt->month, dt->day) * US_PER_DAY;
    case TDO_TIME:
        return time_us(dt) - offset_us(dt);
    default:
        return wall_us(dt) - offset_us(dt);
    }
}

/* Compares two values of one kind (aware ones by their UTC instant; at
 * the same instant a naive value sorts before an aware one). */
TDO_API int tdo_datetime_cmp(const tdo_datetime *a, const tdo_datetime *b,
                             tdo_type kind)
{
    int64_t x = instant_us(a, kind), y = instant_us(b, kind);

    if (x != y)
        return x < y ? -1 : 1;
    if (kind != TDO_DATE && a->has_offset != b->has_offset)
        return a->has_offset ? 1 : -1;
    return 0;
}

/* out = dt + us microseconds.  DATE adds whole days (floor of us in days)
 * and zeroes the time fields; TIME wraps around midnight and zeroes the
 * date fields; DATETIME keeps the offset.  ParamsError when the result
 * leaves the years 1..9999. */
TDO_API tdo_status tdo_datetime_add(const tdo_datetime *dt, tdo_type kind,
                                    int64_t us, tdo_datetime *out,
                                    tdo_error *err)
{
    static const int64_t max_days = 3652058; /* 9999-12-31 */
    tdo_datetime r = *dt;
    int64_t total;

    if (kind == TDO_TIME) {
        total = time_us(dt) + us % US_PER_DAY;
        total = ((total % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
        r.year = 0;
        r.month = r.day = 0;
        set_time_us(&r, total);
        *out = r;
        return TDO_OK;
    }
    if (kind == TDO_DATE) {
        int64_t days = days_from_civil(dt->year, dt->month, dt->day) +
                       floor_div(us, US_PER_DAY);

        if (days < 0 || days > max_days)
            goto range;
        memset(&r, 0, sizeof(r));
        civil_from_days(days, &r.year, &r.month, &r.day);
        *out = r;
        return TDO_OK;
    }
    if (__builtin_add_overflow(wall_us(dt), us, &total) || total < 0 ||
        total / US_PER_DAY > max_days)
        goto range;
    civil_from_days(total / US_PER_DAY, &r.year, &r.month, &r.day);
    set_time_us(&r, total % US_PER_DAY);
    *out = r;
    return TDO_OK;
range:
    return tdo_error_set(err, TDO_ERR_PARAMS, "%s value out of range",
                         kind_name(kind));
}

/* Returns a - b in microseconds (aware values by their UTC instant). */
TDO_API int64_t tdo_datetime_diff(const tdo_datetime *a, const tdo_datetime *b,
                                  tdo_type kind)
{
    return instant_us(a, kind) - instant_us(b, kind);
}

/* Milliseconds of the monotonic clock (for the drivers' timeouts). */
int64_t tdo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- checked duration arithmetic --------------------------------------- */

static tdo_status duration_range(tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_PARAMS,
                         "duration out of range (at most %lld days either way)",
                         (long long)TDO_DURATION_MAX_DAYS);
}

/* *out = us when it is a duration in range. */
static tdo_status duration_ok(int64_t us, int64_t *out, tdo_error *err)
{
    if (us > TDO_DURATION_MAX_US || us < -TDO_DURATION_MAX_US)
        return duration_range(err);
    *out = us;
    return TDO_OK;
}

/* *out = days + seconds + us (each in its unit), checked. */
TDO_API tdo_status tdo_duration_from_parts(int64_t days, int64_t seconds,
                                           int64_t us, int64_t *out,
                                           tdo_error *err)
{
    int64_t d, s, t;
    if (__builtin_mul_overflow(days, US_PER_DAY, &d) ||
        __builtin_mul_overflow(seconds, US_PER_SEC, &s) ||
        __builtin_add_overflow(d, s, &t) || __builtin_add_overflow(t, us, &t))
        return duration_range(err);
    return duration_ok(t, out, err);
}

/* *out = us rounded; NaN, infinities and out of range: ParamsError. */
TDO_API tdo_status tdo_duration_from_double(double us, int64_t *out,
                                            tdo_error *err)
{
    if (!(us >= -(double)TDO_DURATION_MAX_US &&
          us <= (double)TDO_DURATION_MAX_US))
        return duration_range(err); /* NaN fails both comparisons */
    return duration_ok((int64_t)llround(us), out, err);
}

/* *out = a + b, checked. */
TDO_API tdo_status tdo_duration_add(int64_t a, int64_t b, int64_t *out,
                                    tdo_error *err)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return duration_range(err);
    return duration_ok(r, out, err);
}

/* *out = a * n, checked. */
TDO_API tdo_status tdo_duration_mul(int64_t a, int64_t n, int64_t *out,
                                    tdo_error *err)
{
    int64_t r;
    if (__builtin_mul_overflow(a, n, &r))
        return duration_range(err);
    return duration_ok(r, out, err);
}

/* *out = a * x rounded to a microsecond, checked. */
TDO_API tdo_status tdo_duration_scale(int64_t a, double x, int64_t *out,
                                      tdo_error *err)
{
    return tdo_duration_from_double((double)a * x, out, err);
}

/* Writes a duration as Python's timedelta prints ("1 day, 0:00:30",
 * "-1 day, 23:59:59.500000") into buf (truncated to cap); returns the
 * full length. */
TDO_API size_t tdo_duration_format(int64_t us, char *buf, size_t cap)
{
    char tmp[80];
    int64_t days = floor_div(us, US_PER_DAY);
    int64_t rest = us % US_PER_DAY; /* made 0 <= rest < one day */
    int64_t secs;
    int n = 0;

    if (rest < 0)
        rest += US_PER_DAY;
    secs = rest / US_PER_SEC;

    if (days != 0)
        n += snprintf(tmp, sizeof(tmp), "%lld day%s, ", (long long)days,
                      days == 1 || days == -1 ? "" : "s");
    n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%d:%02d:%02d",
                  (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    if (rest % US_PER_SEC)
        n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".%06d",
                      (int)(rest % US_PER_SEC));
    return finish(tmp, (size_t)n, buf, cap);
}

/* Reads a signed whole number at *p (advancing it); false if none. */
static bool read_int(const char **p, const char *end, int64_t *out)
{
    const char *q = *p;
    bool neg = false;
    if (q < end && (*q == '-' || *q == '+'))
        neg = *q++ == '-';
    int64_t v = 0;
    const char *digits = q;
    while (q < end && *q >= '0' && *q <= '9' && v < 1000000000000LL)
        v = v * 10 + (*q++ - '0');
    if (q == digits)
        return false;
    *out = neg ? -v : v;
    *p = q;
    return true;
}

/* Parses a duration as databases print one (see testudo.h). */
tdo_status tdo_duration_parse(const char *s, size_t len, int64_t *out,
                              tdo_error *err)
{
    const char *p = s, *end = s + len;
    int64_t days = 0, secs = 0, us = 0;
    bool any = false;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        const char *start = p;
        int64_t n;
        if (!read_int(&p, end, &n))
            goto bad;
        if (p < end && *p == ':') { /* [-]H:MM[:SS[.ffffff]] */
            int64_t m = 0, sec = 0, frac = 0;
            bool neg = *start == '-';
            p++;
            if (!read_int(&p, end, &m))
                goto bad;
            if (p < end && *p == ':') {
                p++;
                if (!read_int(&p, end, &sec))
                    goto bad;
            }
            if (p < end && *p == '.') {
                int k = 0;
                for (p++; p < end && *p >= '0' && *p <= '9'; p++, k++)
                    if (k < 6)
                        frac = frac * 10 + (*p - '0');
                for (; k < 6; k++)
                    frac *= 10;
            }
            int64_t h = n < 0 ? -n : n;
            int64_t t = (h * 3600 + m * 60 + sec) * 1000000 + frac;
            us += neg ? -t : t;
            any = true;
            continue;
        }
        while (p < end && *p == ' ')
            p++;
        const char *unit = p;
        while (p < end && *p != ' ')
            p++;
        size_t ul = (size_t)(p - unit);
        if (ul >= 3 && !strncmp(unit, "days", ul < 4 ? ul : 4))
            days += n;
        else if (n != 0) /* months and years have no fixed length */
            goto bad;
        any = true;
    }
    if (!any)
        goto bad;
    return tdo_duration_from_parts(days, secs, us, out, err);
bad:
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "cannot read '%.*s' as a duration (days and time "
                         "only: months and years have no fixed length)",
                         (int)(len > 60 ? 60 : len), s);
}
