/*
 * value.c -- tagged values: constructors, deep copy, display, ordering.
 */
#include "tdo_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static const char *const type_names[] = {
    [TDO_NULL] = "null",         [TDO_BOOL] = "bool",
    [TDO_INT] = "int",           [TDO_DOUBLE] = "double",
    [TDO_TEXT] = "text",         [TDO_BLOB] = "blob",
    [TDO_DECIMAL] = "decimal",   [TDO_DATE] = "date",
    [TDO_TIME] = "time",         [TDO_DATETIME] = "datetime",
    [TDO_DURATION] = "duration", [TDO_UUID] = "uuid",
    [TDO_JSON] = "json",
};

/* Returns the name of a value type ("text"); static ("unknown" for a
 * value outside the enum). */
TDO_API const char *tdo_type_name(tdo_type t)
{
    if ((int)t < 0 || (size_t)t >= sizeof(type_names) / sizeof(*type_names))
        return "unknown";
    return type_names[t];
}

/* Whether values of type t keep their bytes in u.s. */
static bool has_bytes(tdo_type t)
{
    return t == TDO_TEXT || t == TDO_BLOB || t == TDO_UUID || t == TDO_JSON;
}

/* Returns a NULL value. */
TDO_API tdo_value tdo_value_null(void)
{
    tdo_value v;

    memset(&v, 0, sizeof(v));
    v.type = TDO_NULL;
    return v;
}

/* Returns a boolean value. */
TDO_API tdo_value tdo_value_bool(bool b)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_BOOL;
    v.u.b = b;
    return v;
}

/* Returns an integer value. */
TDO_API tdo_value tdo_value_int(int64_t i)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_INT;
    v.u.i = i;
    return v;
}

/* Returns a double value. */
TDO_API tdo_value tdo_value_double(double d)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_DOUBLE;
    v.u.d = d;
    return v;
}

/* Returns a text value borrowing len bytes of s. */
TDO_API tdo_value tdo_value_text(const char *s, size_t len)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_TEXT;
    v.u.s.ptr = s;
    v.u.s.len = len;
    return v;
}

/* Returns a blob value borrowing len bytes at p. */
TDO_API tdo_value tdo_value_blob(const void *p, size_t len)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_BLOB;
    v.u.s.ptr = p;
    v.u.s.len = len;
    return v;
}

/* Returns a decimal value (a copy of *d). */
TDO_API tdo_value tdo_value_decimal(const tdo_decimal *d)
{
    tdo_value v = tdo_value_null();

    v.type = TDO_DECIMAL;
    v.u.dec = *d;
    return v;
}

/* Frees the value's bytes if it owns them and makes it NULL. */
TDO_API void tdo_value_release(tdo_value *v)
{
    if (!v)
        return;
    if (v->owned && has_bytes(v->type))
        tdo_free((void *)v->u.s.ptr);
    *v = tdo_value_null();
}

/* Deep copy: dst owns its own bytes (NUL-terminated after len); free with
 * tdo_value_release().  Returns TDO_ERR_NOMEM (dst NULL) on out of
 * memory.  dst may be src: a borrowed value then gets its own bytes, an
 * owned one stays as it is. */
TDO_API tdo_status tdo_value_copy(tdo_value *dst, const tdo_value *src)
{
    tdo_value v = *src;

    if (dst == src && src->owned)
        return TDO_OK;
    v.owned = false;
    if (has_bytes(src->type)) {
        char *p = tdo_strndup(src->u.s.ptr, src->u.s.len);

        if (!p) {
            *dst = tdo_value_null();
            return TDO_ERR_NOMEM;
        }
        v.u.s.ptr = p;
        v.owned = true;
    }
    *dst = v;
    return TDO_OK;
}

/* Appends the shortest text that reads back as d ("1.5", "3.0"). */
static void add_double(tdo_sb *sb, double d)
{
    char buf[40];
    int p;

    if (isnan(d)) {
        tdo_sb_adds(sb, "nan");
        return;
    }
    if (isinf(d)) {
        tdo_sb_adds(sb, d < 0 ? "-inf" : "inf");
        return;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    tdo_sb_adds(sb, buf);
    if (strspn(buf, "-0123456789") == strlen(buf))
        tdo_sb_adds(sb, ".0");
}

static void add_quoted(tdo_sb *sb, const char *s, size_t len)
{
    size_t i, start = 0;

    tdo_sb_addc(sb, '\'');
    for (i = 0; i < len; i++) {
        if (s[i] == '\'') {
            tdo_sb_add(sb, s + start, i + 1 - start);
            tdo_sb_addc(sb, '\'');
            start = i + 1;
        }
    }
    tdo_sb_add(sb, s + start, len - start);
    tdo_sb_addc(sb, '\'');
}

/* Appends a display form: NULL, true/false, 42, 1.5, 'text' (text, uuid
 * and json quoted with '' escaping when quote is true, raw otherwise),
 * x'0a0b', 12.50, 2026-11-25, 10:15:35, 2026-11-25T10:15:35, durations
 * as Python prints them ("1 day, 0:00:30"). */
TDO_API void tdo_value_format(tdo_sb *sb, const tdo_value *v, bool quote)
{
    char buf[96];
    size_t i;

    switch (v->type) {
    case TDO_NULL:
        tdo_sb_adds(sb, "NULL");
        break;
    case TDO_BOOL:
        tdo_sb_adds(sb, v->u.b ? "true" : "false");
        break;
    case TDO_INT:
        tdo_sb_addf(sb, "%" PRId64, v->u.i);
        break;
    case TDO_DOUBLE:
        add_double(sb, v->u.d);
        break;
    case TDO_TEXT:
    case TDO_UUID:
    case TDO_JSON:
        if (quote)
            add_quoted(sb, v->u.s.ptr, v->u.s.len);
        else
            tdo_sb_add(sb, v->u.s.ptr, v->u.s.len);
        break;
    case TDO_BLOB:
        tdo_sb_adds(sb, "x'");
        for (i = 0; i < v->u.s.len; i++)
            tdo_sb_addf(sb, "%02x", ((const unsigned char *)v->u.s.ptr)[i]);
        tdo_sb_addc(sb, '\'');
        break;
    case TDO_DECIMAL:
        tdo_decimal_format(&v->u.dec, buf, sizeof(buf));
        tdo_sb_adds(sb, buf);
        break;
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        tdo_datetime_format(&v->u.dt, v->type, 'T', false, buf, sizeof(buf));
        tdo_sb_adds(sb, buf);
        break;
    case TDO_DURATION:
        tdo_duration_format(v->u.us, buf, sizeof(buf));
        tdo_sb_adds(sb, buf);
        break;
    default:
        tdo_sb_addf(sb, "<%s>", tdo_type_name(v->type));
        break;
    }
}

static int cmp_bytes(const tdo_value *a, const tdo_value *b)
{
    size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int r = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;

    if (r)
        return r < 0 ? -1 : 1;
    return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
}

/* Total order used for equality of values of one type; returns <0/0/>0.
 * Values of different types order by type; NaN sorts after every other
 * double and equals itself; text and bytes compare bytewise. */
TDO_API int tdo_value_cmp(const tdo_value *a, const tdo_value *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case TDO_NULL:
        return 0;
    case TDO_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case TDO_INT:
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    case TDO_DOUBLE:
        if (isnan(a->u.d) || isnan(b->u.d)) {
            bool na = isnan(a->u.d), nb = isnan(b->u.d);

            return na == nb ? 0 : na ? 1 : -1;
        }
        return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
    case TDO_TEXT:
    case TDO_BLOB:
    case TDO_UUID:
    case TDO_JSON:
        return cmp_bytes(a, b);
    case TDO_DECIMAL:
        return tdo_decimal_cmp(&a->u.dec, &b->u.dec);
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        return tdo_datetime_cmp(&a->u.dt, &b->u.dt, a->type);
    case TDO_DURATION:
        return a->u.us < b->u.us ? -1 : a->u.us > b->u.us;
    default:
        return 0;
    }
}
