/*
 * validate.c -- the validators of a field (Tortoise's tortoise.validators):
 * copied with the field, patterns compiled once with PCRE2, run by
 * tdo_field_validate() on every value a save writes, so a C caller of
 * libtestudo gets them as the Lua API does.  Messages are Tortoise's.
 */
#include "tdo_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The pattern of a comma-separated integer list. */
static const char *comma_pattern(bool negative)
{
    return negative ? "(-)?\\d+(?:,(-)?\\d+)*\\z" : "\\d+(?:,\\d+)*\\z";
}

/* Compiles the pattern of validator v of field name (REGEX, COMMA_INTS)
 * into *code; ConfigurationError for a bad one. */
static tdo_status compile(const char *field, const tdo_validator *v,
                          void **code, tdo_error *err)
{
    *code = NULL;
    const char *pat =
        v->kind == TDO_V_REGEX ? v->pattern : comma_pattern(v->allow_negative);
    if (!pat)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "field '%s': RegexValidator needs a pattern",
                             field);
    int code_err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_ANCHORED;
    if (v->ignore_case || v->kind == TDO_V_COMMA_INTS)
        opts |= PCRE2_CASELESS;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts,
                                   &code_err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "field '%s': bad RegexValidator pattern '%s': "
                             "%s (at %zu)",
                             field, pat, (const char *)msg, (size_t)off);
    }
    *code = re;
    return TDO_OK;
}

/* Gives f copies of the n validators at src, patterns compiled; f must
 * be freed with tdo_field_free_() even on failure. */
tdo_status tdo_validators_copy_(tdo_field *f, const tdo_validator *src,
                                size_t n, tdo_error *err)
{
    if (!n)
        return TDO_OK;
    f->validators = tdo_calloc(n, sizeof(*f->validators));
    f->vcode = tdo_calloc(n, sizeof(*f->vcode));
    if (!f->validators || !f->vcode)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        tdo_validator *d = &f->validators[i];
        *d = src[i];
        d->pattern = NULL;
        d->bound = tdo_value_null();
        f->nvalidators = i + 1;
        if (src[i].pattern && !(d->pattern = tdo_strdup(src[i].pattern)))
            return tdo_nomem(err);
        if (tdo_value_copy(&d->bound, &src[i].bound))
            return tdo_nomem(err);
        if (d->kind == TDO_V_REGEX || d->kind == TDO_V_COMMA_INTS) {
            tdo_status st =
                compile(f->name ? f->name : "value", d, &f->vcode[i], err);
            if (st)
                return st;
        }
    }
    return TDO_OK;
}

/* Frees the validators of f. */
void tdo_validators_free_(tdo_field *f)
{
    for (size_t i = 0; i < f->nvalidators; i++) {
        tdo_free((char *)f->validators[i].pattern);
        tdo_value_release(&f->validators[i].bound);
        if (f->vcode && f->vcode[i])
            pcre2_code_free(f->vcode[i]);
    }
    tdo_free(f->validators);
    tdo_free(f->vcode);
    f->validators = NULL;
    f->vcode = NULL;
    f->nvalidators = 0;
}

/* v as a decimal, when it is a number; false otherwise. */
static bool as_decimal(const tdo_value *v, tdo_decimal *d)
{
    tdo_error e = TDO_ERROR_INIT;
    switch (v->type) {
    case TDO_INT:
        tdo_decimal_from_int(v->u.i, d);
        return true;
    case TDO_DOUBLE: {
        bool ok = tdo_decimal_from_double(v->u.d, d, &e) == TDO_OK;
        tdo_error_release(&e);
        return ok;
    }
    case TDO_DECIMAL:
        *d = v->u.dec;
        return true;
    default:
        return false;
    }
}

static tdo_status fail(const tdo_field *f, tdo_error *err, const char *fmt, ...)
    TDO_PRINTF(3, 4);

/* ValidationError "<field>: <message>". */
static tdo_status fail(const tdo_field *f, tdo_error *err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!f->name) /* tdo_validator_check(): the message alone */
        return tdo_error_set(err, TDO_ERR_VALIDATION, "%s", msg);
    return tdo_error_set(err, TDO_ERR_VALIDATION, "%s: %s", f->name, msg);
}

/* One validator on the canonical value v. */
static tdo_status run_one(const tdo_field *f, size_t i, const tdo_value *v,
                          tdo_error *err)
{
    const tdo_validator *val = &f->validators[i];
    bool text = v->type == TDO_TEXT || v->type == TDO_BLOB;
    tdo_sb shown = TDO_SB_INIT;
    tdo_value_format(&shown, v, false);
    const char *s = shown.buf ? shown.buf : "";
    tdo_status st = TDO_OK;
    switch (val->kind) {
    case TDO_V_MIN_VALUE:
    case TDO_V_MAX_VALUE: {
        tdo_decimal a, b;
        tdo_sb bs = TDO_SB_INIT;
        tdo_value_format(&bs, &val->bound, false);
        if (!as_decimal(v, &a) || !as_decimal(&val->bound, &b)) {
            st = fail(f, err, "Value must be a numeric value and is required");
        } else if (val->kind == TDO_V_MIN_VALUE &&
                   tdo_decimal_cmp(&a, &b) < 0) {
            st = fail(f, err, "Value should be greater or equal to %s",
                      bs.buf ? bs.buf : "");
        } else if (val->kind == TDO_V_MAX_VALUE &&
                   tdo_decimal_cmp(&a, &b) > 0) {
            st = fail(f, err, "Value should be less or equal to %s",
                      bs.buf ? bs.buf : "");
        }
        tdo_sb_release(&bs);
        break;
    }
    case TDO_V_MIN_LENGTH:
    case TDO_V_MAX_LENGTH: {
        if (v->type == TDO_NULL) {
            st = fail(f, err, "Value must not be None");
            break;
        }
        if (!text)
            break;
        size_t n = v->type == TDO_TEXT ? tdo_utf8_len_(v->u.s.ptr, v->u.s.len)
                                       : v->u.s.len;
        int64_t lim = val->bound.type == TDO_INT ? val->bound.u.i : 0;
        if (val->kind == TDO_V_MIN_LENGTH && (int64_t)n < lim)
            st =
                fail(f, err, "Length of '%s' %zu < %lld", s, n, (long long)lim);
        else if (val->kind == TDO_V_MAX_LENGTH && (int64_t)n > lim)
            st =
                fail(f, err, "Length of '%s' %zu > %lld", s, n, (long long)lim);
        break;
    }
    case TDO_V_REGEX:
    case TDO_V_COMMA_INTS: {
        pcre2_code *re = f->vcode ? f->vcode[i] : NULL;
        pcre2_match_data *md = re ? pcre2_match_data_create(1, NULL) : NULL;
        int rc =
            md ? pcre2_match(re, (PCRE2_SPTR)s, shown.len, 0, 0, md, NULL) : -1;
        pcre2_match_data_free(md);
        if (rc < 0)
            st = fail(f, err, "Value '%s' does not match regex '%s'", s,
                      val->kind == TDO_V_REGEX
                          ? val->pattern
                          : comma_pattern(val->allow_negative));
        break;
    }
    case TDO_V_CALL:
        if (val->fn && (st = val->fn(f, v, val->ud, err)) &&
            err->code == TDO_ERR_VALIDATION && err->message && f->name &&
            strncmp(err->message, f->name, strlen(f->name)) != 0) {
            char *m = tdo_strdup(err->message);
            if (m) {
                st = fail(f, err, "%s", m);
                tdo_free(m);
            }
        }
        break;
    }
    tdo_sb_release(&shown);
    return st;
}

/* Runs the validators of f on the canonical value v (NULL on a nullable
 * field is not validated); ValidationError naming the field. */
tdo_status tdo_validators_run_(const tdo_field *f, const tdo_value *v,
                               tdo_error *err)
{
    if (v->type == TDO_NULL && (f->flags & TDO_FIELD_NULL))
        return TDO_OK;
    for (size_t i = 0; i < f->nvalidators; i++) {
        tdo_status st = run_one(f, i, v, err);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* Runs validator v on value alone (see testudo.h). */
tdo_status tdo_validator_check(const tdo_validator *v, const tdo_value *value,
                               tdo_error *err)
{
    tdo_field f;
    memset(&f, 0, sizeof f);
    f.flags = TDO_FIELD_NULL;
    tdo_status st = tdo_validators_copy_(&f, v, 1, err);
    if (!st)
        st = run_one(&f, 0, value, err);
    tdo_validators_free_(&f);
    return st;
}
