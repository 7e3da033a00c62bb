/*
 * json.c -- JSON text written by jansson, the one JSON library of
 * testudo (parsing is jansson's too: lua_bindings/ljson.c,
 * backend_sqlite.c). This file adds what jansson leaves to its caller:
 * the number of digits of reals, exact decimals, and text that is not
 * UTF-8.
 */
#include "tdo_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fewest significant digits (15 to 17) that read back as x. */
static int real_digits(double x)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

/* The digits every real of j needs to read back exactly. */
static int tree_digits(const json_t *j)
{
    int p = 1;
    if (json_is_real(j))
        return real_digits(json_real_value(j));
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            int q = tree_digits(v);
            p = q > p ? q : p;
        }
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int q = tree_digits(v);
            p = q > p ? q : p;
        }
    }
    return p;
}

static int dump_to_sb(const char *buf, size_t size, void *data)
{
    tdo_sb *sb = data;
    tdo_sb_add(sb, buf, size);
    return sb->oom ? -1 : 0;
}

/* Appends j as JSON text written by jansson with its flags (JSON_COMPACT,
 * JSON_SORT_KEYS...); reals get the fewest digits (15 to 17) with which
 * every real of the document reads back exactly. TDO_ERR_NOMEM on out of
 * memory; sb is left as it was on failure. */
TDO_API tdo_status tdo_json_dump(tdo_sb *sb, const struct json_t *j,
                                 size_t flags)
{
    size_t mark = sb->len;
    flags |= JSON_ENCODE_ANY | JSON_REAL_PRECISION(tree_digits(j));
    if (json_dump_callback(j, dump_to_sb, sb, flags) != 0) {
        if (!sb->oom) {
            sb->len = mark;
            sb->buf[mark] = '\0';
        }
        return TDO_ERR_NOMEM;
    }
    return TDO_OK;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if there is
 * none: no overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Returns a new jansson string of s (n bytes; bytes that are not UTF-8
 * become U+FFFD, as JSON text must be UTF-8); NULL on out of memory.
 * The caller owns the reference. */
TDO_API struct json_t *tdo_json_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j || n == 0)
        return j;
    tdo_sb fixed = TDO_SB_INIT;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k) {
            tdo_sb_add(&fixed, s + i, k);
            i += k;
        } else {
            tdo_sb_adds(&fixed, "\xef\xbf\xbd");
            i++;
        }
    }
    j = fixed.oom ? NULL : json_stringn(fixed.buf, fixed.len);
    tdo_sb_release(&fixed);
    return j;
}

/* Appends s (n bytes) as a JSON string: quoted, with '"', '\' and the
 * control characters escaped, as jansson writes it (the one JSON quoting
 * of testudo). */
TDO_API void tdo_json_quote(tdo_sb *sb, const char *s, size_t n)
{
    json_t *j = tdo_json_string(s, n);
    if (!j) {
        sb->oom = true;
        return;
    }
    tdo_json_dump(sb, j, 0);
    json_decref(j);
}

/* Returns a new jansson number equal to d: an integer when d is one that
 * fits, else a real when a double reads back as exactly d (12.50 is
 * 12.5); NULL when no JSON number a reader holds in a double is d. The
 * caller owns the reference. */
TDO_API struct json_t *tdo_json_decimal(const tdo_decimal *d)
{
    char buf[64];
    tdo_decimal_format(d, buf, sizeof buf);
    if (!strpbrk(buf, ".eE")) {
        errno = 0;
        char *end;
        long long i = strtoll(buf, &end, 10);
        if (errno == 0 && *end == '\0')
            return json_integer(i);
    }
    double x = tdo_decimal_to_double(d);
    tdo_decimal back;
    if (!isfinite(x) || tdo_decimal_from_double(x, &back, NULL) != TDO_OK ||
        tdo_decimal_cmp(&back, d) != 0)
        return NULL;
    return json_real(x);
}

/* Returns a new jansson node of v: null, true/false, numbers, JSON text
 * as its tree, and every other value as its display text in a string
 * (dates ISO 8601, durations as Python prints them). NULL with err set
 * (FieldError) for a decimal no double holds exactly or a non-finite
 * double, or on out of memory. The caller owns the reference. */
TDO_API struct json_t *tdo_json_value(const tdo_value *v, tdo_error *err)
{
    json_t *j = NULL;
    switch (v->type) {
    case TDO_NULL:
        j = json_null();
        break;
    case TDO_BOOL:
        j = json_boolean(v->u.b);
        break;
    case TDO_INT:
        j = json_integer((json_int_t)v->u.i);
        break;
    case TDO_DOUBLE:
        if (!isfinite(v->u.d)) {
            tdo_error_set(err, TDO_ERR_FIELD,
                          "cannot write a non-finite number as JSON");
            return NULL;
        }
        j = json_real(v->u.d);
        break;
    case TDO_DECIMAL:
        j = tdo_json_decimal(&v->u.dec);
        if (!j) {
            char buf[64];
            tdo_decimal_format(&v->u.dec, buf, sizeof buf);
            tdo_error_set(err, TDO_ERR_FIELD,
                          "Decimal %s has more digits than a JSON number "
                          "keeps; store its text (tostring) instead",
                          buf);
            return NULL;
        }
        break;
    case TDO_JSON:
        j = json_loadb(v->u.s.ptr, v->u.s.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                       NULL);
        if (!j)
            j = tdo_json_string(v->u.s.ptr, v->u.s.len);
        break;
    case TDO_TEXT:
    case TDO_UUID:
        j = tdo_json_string(v->u.s.ptr, v->u.s.len);
        break;
    default: {
        tdo_sb t = TDO_SB_INIT;
        tdo_value_format(&t, v, false);
        j = t.oom ? NULL : tdo_json_string(t.buf, t.len);
        tdo_sb_release(&t);
    }
    }
    if (!j)
        tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    return j;
}
