/*
 * dialect.c -- what the dialects (dialect_*.c) share: the table of
 * dialects, identifier quoting, "?" placeholders, column types built from
 * a dialect's type names, the value conversions all three make the same
 * way, and the decoding of driver values (integers, doubles, text, bytes,
 * decimals, booleans) into canonical field values.
 */
#include "tdo_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static const tdo_dialect *const dialects[] = {
    &tdo_dialect_sqlite,
    &tdo_dialect_postgres,
    &tdo_dialect_mysql,
    NULL,
};

/* Finds a dialect by name ("sqlite", "postgres", "mysql"); NULL if none.
 * Static. */
const tdo_dialect *tdo_dialect_by_name(const char *name)
{
    for (size_t i = 0; name && dialects[i]; i++)
        if (!strcmp(dialects[i]->name, name))
            return dialects[i];
    return NULL;
}

/* Returns the name of d ("sqlite"); static. */
const char *tdo_dialect_name(const tdo_dialect *d)
{
    return d ? d->name : NULL;
}

/* ------------------------------------------------------------------ */
/* SQL text                                                            */
/* ------------------------------------------------------------------ */

/* Appends ident between two q characters, a q inside it doubled. */
void tdo_dialect_quote_(tdo_sb *sb, const char *ident, char q)
{
    tdo_sb_addc(sb, q);
    /* whole runs between quote characters, each of those doubled */
    for (const char *p = ident;;) {
        const char *e = strchr(p, q);
        if (!e) {
            tdo_sb_adds(sb, p);
            break;
        }
        tdo_sb_add(sb, p, (size_t)(e - p) + 1);
        tdo_sb_addc(sb, q);
        p = e + 1;
    }
    tdo_sb_addc(sb, q);
}

/* Appends the placeholder "?" (any n). */
void tdo_dialect_qmark_(tdo_sb *sb, size_t n)
{
    (void)n;
    tdo_sb_addc(sb, '?');
}

/* Appends " LIMIT n OFFSET m" (a value < 0: absent); an OFFSET without a
 * limit gets the LIMIT no_limit when the database needs one (NULL: it
 * does not). */
void tdo_dialect_limit_offset_(tdo_sb *sb, int64_t limit, int64_t offset,
                               const char *no_limit)
{
    if (limit >= 0)
        tdo_sb_addf(sb, " LIMIT %" PRId64, limit);
    else if (offset >= 0 && no_limit)
        tdo_sb_addf(sb, " LIMIT %s", no_limit);
    if (offset >= 0)
        tdo_sb_addf(sb, " OFFSET %" PRId64, offset);
}

/* The VARCHAR length of a CharEnum without max_length: its longest value. */
static int enum_length(const tdo_field *f)
{
    size_t len = 1;
    for (size_t i = 0; i < f->n_enum; i++)
        if (f->enum_values[i].type == TDO_TEXT &&
            f->enum_values[i].u.s.len > len)
            len = f->enum_values[i].u.s.len;
    return (int)len;
}

/* The column a relation's key finally holds: the related model's to_field
 * or primary key, followed through keys that are themselves relations (a
 * one-to-one primary key); NULL when unresolved or circular. */
static const tdo_field *key_target(const tdo_field *f)
{
    for (int hops = 0; f && hops < 16; hops++) {
        if (f->type != TDO_F_FK && f->type != TDO_F_O2O)
            return f;
        const tdo_field *pk = tdo_field_key_target(f);
        if (pk == f)
            return NULL;
        f = pk;
    }
    return NULL;
}

/* Appends the data type of f (no key clause) from the dialect's names; a
 * relation takes the type of its target's primary key. */
void tdo_dialect_data_type_(tdo_sb *sb, const tdo_field *f,
                            const tdo_type_names *names)
{
    switch (f->type) {
    case TDO_F_INT:
        tdo_sb_adds(sb, "INT");
        break;
    case TDO_F_BIGINT:
    case TDO_F_TIMEDELTA:
        tdo_sb_adds(sb, "BIGINT");
        break;
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
        tdo_sb_adds(sb, "SMALLINT");
        break;
    case TDO_F_FLOAT:
        tdo_sb_adds(sb, names->float_type);
        break;
    case TDO_F_DECIMAL:
        if (names->decimal)
            names->decimal(sb, f);
        else
            tdo_sb_addf(sb, "DECIMAL(%d,%d)", f->max_digits, f->decimal_places);
        break;
    case TDO_F_CHAR:
        tdo_sb_addf(sb, "VARCHAR(%d)", f->max_length);
        break;
    case TDO_F_CHARENUM:
        tdo_sb_addf(sb, "VARCHAR(%d)",
                    f->max_length > 0 ? f->max_length : enum_length(f));
        break;
    case TDO_F_TEXT:
        tdo_sb_adds(sb, names->text_type);
        break;
    case TDO_F_BOOL:
        tdo_sb_adds(sb, names->bool_type);
        break;
    case TDO_F_DATETIME:
        tdo_sb_adds(sb, names->datetime_type);
        break;
    case TDO_F_DATE:
        tdo_sb_adds(sb, "DATE");
        break;
    case TDO_F_TIME:
        tdo_sb_adds(sb, names->time_type);
        break;
    case TDO_F_UUID:
        tdo_sb_adds(sb, names->uuid_type);
        break;
    case TDO_F_JSON:
        tdo_sb_adds(sb, names->json_type);
        break;
    case TDO_F_BINARY:
        tdo_sb_adds(sb, names->binary_type);
        break;
    case TDO_F_FK:
    case TDO_F_O2O: {
        const tdo_field *pk = key_target(f);
        if (pk)
            tdo_dialect_data_type_(sb, pk, names);
        else
            tdo_sb_adds(sb, "INT");
        break;
    }
    case TDO_F_M2M:
    case TDO_F_COUNT:
        break;
    }
}

/* Whether f is a primary key the database generates (its column type
 * carries the key clause). */
bool tdo_dialect_generated_pk_(const tdo_field *f)
{
    return (f->flags & TDO_FIELD_PK) && (f->flags & TDO_FIELD_GENERATED);
}

/* ------------------------------------------------------------------ */
/* Values to the database                                              */
/* ------------------------------------------------------------------ */

/* Sets out to an owned copy of the len bytes of s as type t. */
tdo_status tdo_dialect_text_(tdo_type t, const char *s, size_t len,
                             tdo_value *out, tdo_error *err)
{
    char *p = tdo_strndup(s, len);
    if (!p)
        return tdo_nomem(err);
    *out = tdo_value_text(p, len);
    out->type = t;
    out->owned = true;
    return TDO_OK;
}

/* Sets out to owned text of the temporal value dt of type kind
 * ("YYYY-MM-DD HH:MM:SS.ffffff" with frac; "+HH:MM" if dt has one). */
tdo_status tdo_dialect_temporal_text_(const tdo_datetime *dt, tdo_type kind,
                                      bool frac, tdo_value *out, tdo_error *err)
{
    char buf[64];
    size_t len = tdo_datetime_format(dt, kind, ' ', frac, buf, sizeof(buf));
    return tdo_dialect_text_(TDO_TEXT, buf, len, out, err);
}

/* dt moved to UTC (offset 0), keeping has_offset. */
tdo_status tdo_dialect_to_utc_(const tdo_datetime *dt, tdo_datetime *out,
                               tdo_error *err)
{
    if (!dt->has_offset || dt->offset_min == 0) {
        *out = *dt;
        out->offset_min = 0;
        return TDO_OK;
    }
    tdo_status st = tdo_datetime_add(
        dt, TDO_DATETIME, -(int64_t)dt->offset_min * 60000000, out, err);
    if (st)
        return st;
    out->offset_min = 0;
    out->has_offset = true;
    return TDO_OK;
}

/* The conversions to driver values every dialect makes: decimals to
 * exact text, durations to integer microseconds, uuids and json to text,
 * booleans to 0/1 when bool_ints; anything else as it is (out borrows
 * from in). */
tdo_status tdo_dialect_to_db_(const tdo_value *in, tdo_value *out,
                              bool bool_ints, tdo_error *err)
{
    char buf[64];
    size_t len;
    *out = *in;
    out->owned = false;
    switch (in->type) {
    case TDO_BOOL:
        if (bool_ints)
            *out = tdo_value_int(in->u.b ? 1 : 0);
        return TDO_OK;
    case TDO_DECIMAL:
        len = tdo_decimal_format(&in->u.dec, buf, sizeof(buf));
        return tdo_dialect_text_(TDO_TEXT, buf, len, out, err);
    case TDO_DURATION:
        *out = tdo_value_int(in->u.us);
        return TDO_OK;
    case TDO_UUID:
    case TDO_JSON:
        out->type = TDO_TEXT;
        return TDO_OK;
    default:
        return TDO_OK;
    }
}

/* to_db for dialects that store temporals as text (see tdo_int.h). */
tdo_status tdo_dialect_to_db_text_temporals_(const tdo_value *in,
                                             tdo_value *out, bool use_tz,
                                             bool zones, tdo_error *err)
{
    tdo_datetime dt;
    tdo_status st;
    switch (in->type) {
    case TDO_DATE:
    case TDO_TIME:
        dt = in->u.dt;
        dt.has_offset = dt.has_offset && zones;
        return tdo_dialect_temporal_text_(&dt, in->type, true, out, err);
    case TDO_DATETIME:
        /* aware: moved to UTC; naive: as written (UTC when use_tz) */
        if ((st = tdo_dialect_to_utc_(&in->u.dt, &dt, err)))
            return st;
        dt.has_offset = zones && use_tz;
        dt.offset_min = 0;
        return tdo_dialect_temporal_text_(&dt, TDO_DATETIME, true, out, err);
    default:
        return tdo_dialect_to_db_(in, out, true, err);
    }
}

/* ------------------------------------------------------------------ */
/* Values from the database                                            */
/* ------------------------------------------------------------------ */

static tdo_status decode_error(const tdo_field *f, const tdo_value *in,
                               tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "cannot read a %s from the database as %s '%s'",
                         tdo_type_name(in->type), tdo_field_type_name(f->type),
                         f->name);
}

/* Copies text of in (TEXT/BLOB) into buf as a C string; false if long. */
static bool cstr(const tdo_value *in, char *buf, size_t cap)
{
    if (in->u.s.len >= cap)
        return false;
    memcpy(buf, in->u.s.ptr, in->u.s.len);
    buf[in->u.s.len] = '\0';
    return true;
}

static tdo_status decode_int(const tdo_field *f, const tdo_value *in,
                             tdo_value *out, tdo_error *err)
{
    char buf[64], *end;
    switch (in->type) {
    case TDO_INT:
        *out = *in;
        out->owned = false;
        return TDO_OK;
    case TDO_DOUBLE:
        if (in->u.d != floor(in->u.d) || fabs(in->u.d) > 9.2e18)
            return decode_error(f, in, err);
        *out = tdo_value_int((int64_t)in->u.d);
        return TDO_OK;
    case TDO_DECIMAL: { /* SUM() of integers on MySQL, of BIGINTs on PG */
        __int128 c = in->u.dec.coef;
        for (int32_t i = 0; i < in->u.dec.scale; i++) {
            if (c % 10)
                return decode_error(f, in, err);
            c /= 10;
        }
        if (c > INT64_MAX || c < INT64_MIN)
            return decode_error(f, in, err);
        *out = tdo_value_int((int64_t)c);
        return TDO_OK;
    }
    case TDO_TEXT:
        if (!cstr(in, buf, sizeof(buf)))
            return decode_error(f, in, err);
        errno = 0;
        long long i = strtoll(buf, &end, 10);
        if (errno || end == buf || *end)
            return decode_error(f, in, err);
        *out = tdo_value_int(i);
        return TDO_OK;
    default:
        return decode_error(f, in, err);
    }
}

static tdo_status decode_decimal(const tdo_field *f, const tdo_value *in,
                                 tdo_value *out, tdo_error *err)
{
    tdo_decimal d;
    tdo_status st;
    switch (in->type) {
    case TDO_INT:
        tdo_decimal_from_int(in->u.i, &d);
        break;
    case TDO_DOUBLE:
        if ((st = tdo_decimal_from_double(in->u.d, &d, err)))
            return st;
        break;
    case TDO_TEXT:
        if ((st = tdo_decimal_parse(in->u.s.ptr, in->u.s.len, &d, err)))
            return st;
        break;
    case TDO_DECIMAL:
        d = in->u.dec;
        break;
    default:
        return decode_error(f, in, err);
    }
    tdo_decimal q;
    if ((st = tdo_decimal_quantize(&d, f->decimal_places, 0, &q, err)))
        return st;
    *out = tdo_value_decimal(&q);
    return TDO_OK;
}

/* Formats a number of the database as owned text of type t. */
static tdo_status number_text(tdo_type t, const tdo_value *in, tdo_value *out,
                              tdo_error *err)
{
    char buf[64];
    size_t len;
    if (in->type == TDO_INT) {
        len = (size_t)snprintf(buf, sizeof(buf), "%" PRId64, in->u.i);
    } else {
        tdo_decimal d;
        tdo_status st = tdo_decimal_from_double(in->u.d, &d, err);
        if (st)
            return st;
        len = tdo_decimal_format(&d, buf, sizeof(buf));
    }
    return tdo_dialect_text_(t, buf, len, out, err);
}

static tdo_status decode_datetime(const tdo_field *f, const tdo_value *in,
                                  tdo_type kind, tdo_value *out, bool use_tz,
                                  tdo_error *err)
{
    tdo_datetime dt;
    tdo_status st;
    if (in->type != TDO_TEXT)
        return decode_error(f, in, err);
    if ((st = tdo_datetime_parse(in->u.s.ptr, in->u.s.len, kind, &dt, err)))
        return st;
    if (kind == TDO_DATETIME) {
        if (use_tz && !dt.has_offset) {
            dt.has_offset = true; /* stored in UTC */
            dt.offset_min = 0;
        } else if (!use_tz && dt.has_offset) {
            tdo_datetime u;
            if ((st = tdo_dialect_to_utc_(&dt, &u, err)))
                return st;
            dt = u;
            dt.has_offset = false;
        }
    }
    memset(out, 0, sizeof(*out));
    out->type = kind;
    out->u.dt = dt;
    return TDO_OK;
}

/* Decodes a driver value (INT, DOUBLE, TEXT, BLOB, DECIMAL, NULL) of f's
 * column into f's canonical value: integers from numbers or text, exact
 * decimals quantized to decimal_places, booleans from 0/1, datetimes
 * from ISO text (naive ones are UTC when use_tz), durations from integer
 * microseconds.  out may borrow from in; f NULL: out = in. */
tdo_status tdo_dialect_from_db_(const tdo_field *f, const tdo_value *in,
                                tdo_value *out, bool use_tz, tdo_error *err)
{
    *out = *in;
    out->owned = false;
    if (!f || in->type == TDO_NULL)
        return TDO_OK;
    if (tdo_field_is_integer(f))
        return decode_int(f, in, out, err);
    switch (f->type) {
    case TDO_F_FLOAT:
        if (in->type == TDO_INT) {
            *out = tdo_value_double((double)in->u.i);
            return TDO_OK;
        }
        if (in->type == TDO_DOUBLE)
            return TDO_OK;
        if (in->type == TDO_DECIMAL) { /* AVG() on PG and MySQL */
            *out = tdo_value_double(tdo_decimal_to_double(&in->u.dec));
            return TDO_OK;
        }
        return decode_error(f, in, err);
    case TDO_F_DECIMAL:
        return decode_decimal(f, in, out, err);
    case TDO_F_CHAR:
    case TDO_F_TEXT:
    case TDO_F_CHARENUM:
        if (in->type == TDO_INT || in->type == TDO_DOUBLE)
            return number_text(TDO_TEXT, in, out, err);
        if (in->type == TDO_BLOB)
            out->type = TDO_TEXT;
        return TDO_OK;
    case TDO_F_BOOL:
        if (in->type == TDO_INT) {
            *out = tdo_value_bool(in->u.i != 0);
            return TDO_OK;
        }
        if (in->type == TDO_DOUBLE) {
            *out = tdo_value_bool(in->u.d != 0);
            return TDO_OK;
        }
        if (in->type == TDO_TEXT && in->u.s.len == 1 &&
            (in->u.s.ptr[0] == '0' || in->u.s.ptr[0] == '1')) {
            *out = tdo_value_bool(in->u.s.ptr[0] == '1');
            return TDO_OK;
        }
        return decode_error(f, in, err);
    case TDO_F_DATETIME:
        return decode_datetime(f, in, TDO_DATETIME, out, use_tz, err);
    case TDO_F_DATE:
        return decode_datetime(f, in, TDO_DATE, out, use_tz, err);
    case TDO_F_TIME:
        return decode_datetime(f, in, TDO_TIME, out, use_tz, err);
    case TDO_F_TIMEDELTA: {
        int64_t parsed;
        if (in->type == TDO_TEXT) { /* an interval (or TIME) column */
            tdo_status pst =
                tdo_duration_parse(in->u.s.ptr, in->u.s.len, &parsed, err);
            if (!pst) {
                memset(out, 0, sizeof(*out));
                out->type = TDO_DURATION;
                out->u.us = parsed;
            }
            return pst;
        }
        tdo_status st = decode_int(f, in, out, err);
        if (!st) {
            int64_t us = out->u.i;
            memset(out, 0, sizeof(*out));
            out->type = TDO_DURATION;
            out->u.us = us;
        }
        return st;
    }
    case TDO_F_UUID:
        if (in->type != TDO_TEXT)
            return decode_error(f, in, err);
        out->type = TDO_UUID;
        return TDO_OK;
    case TDO_F_JSON:
        if (in->type == TDO_INT || in->type == TDO_DOUBLE)
            return number_text(TDO_JSON, in, out, err);
        if (in->type != TDO_TEXT && in->type != TDO_BLOB)
            return decode_error(f, in, err);
        out->type = TDO_JSON;
        return TDO_OK;
    case TDO_F_BINARY:
        if (in->type == TDO_TEXT)
            out->type = TDO_BLOB;
        return TDO_OK;
    case TDO_F_FK:
    case TDO_F_O2O: {
        const tdo_field *pk = key_target(f);
        if (pk)
            return tdo_dialect_from_db_(pk, in, out, use_tz, err);
        return TDO_OK;
    }
    case TDO_F_INT: /* the integers: decoded above */
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
    case TDO_F_M2M:
    case TDO_F_COUNT:
        return TDO_OK;
    }
    return TDO_OK;
}
