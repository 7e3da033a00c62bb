/*
 * dialect_sqlite.c -- the SQLite dialect: identifier quoting, "?"
 * placeholders, column types, LIMIT/OFFSET, and the storage rules:
 * datetimes as fixed-width text "YYYY-MM-DD HH:MM:SS.ffffff" (+HH:MM
 * only when use_tz), dates "YYYY-MM-DD", booleans 0/1, durations as
 * integer microseconds, decimals bound as text into DECIMAL(p,s) columns
 * (up to 15 digits, exact in NUMERIC affinity) or DECIMAL_TEXT(p,s)
 * columns ordered by the TDO_DECIMAL collation that backend_sqlite.c
 * registers (wider ones), and read back quantized to decimal_places.
 */
#include "tdo_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static void sqlite_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_sb_addc(sb, '"');
    for (const char *p = ident; *p; p++) {
        if (*p == '"')
            tdo_sb_addc(sb, '"');
        tdo_sb_addc(sb, *p);
    }
    tdo_sb_addc(sb, '"');
}

static void sqlite_placeholder(tdo_sb *sb, size_t n)
{
    (void)n;
    tdo_sb_addc(sb, '?');
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

static void base_type(tdo_sb *sb, const tdo_field *f, bool key_clause)
{
    if (key_clause && (f->flags & TDO_FIELD_PK) &&
        (f->flags & TDO_FIELD_GENERATED)) {
        tdo_sb_adds(sb, "INTEGER PRIMARY KEY AUTOINCREMENT");
        return;
    }
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
        tdo_sb_adds(sb, "REAL");
        break;
    case TDO_F_DECIMAL:
        /* A REAL keeps 15 significant digits: up to that, NUMERIC affinity
         * stores decimals exactly and compares them natively; wider ones
         * are stored as text and compared by testudo's exact collation. */
        if (f->max_digits <= 15)
            tdo_sb_addf(sb, "DECIMAL(%d,%d)", f->max_digits, f->decimal_places);
        else
            tdo_sb_addf(sb, "DECIMAL_TEXT(%d,%d) COLLATE TDO_DECIMAL",
                        f->max_digits, f->decimal_places);
        break;
    case TDO_F_CHAR:
        tdo_sb_addf(sb, "VARCHAR(%d)", f->max_length);
        break;
    case TDO_F_CHARENUM:
        tdo_sb_addf(sb, "VARCHAR(%d)",
                    f->max_length > 0 ? f->max_length : enum_length(f));
        break;
    case TDO_F_TEXT:
        tdo_sb_adds(sb, "TEXT");
        break;
    case TDO_F_BOOL:
        tdo_sb_adds(sb, "INT");
        break;
    case TDO_F_DATETIME:
        tdo_sb_adds(sb, "TIMESTAMP");
        break;
    case TDO_F_DATE:
        tdo_sb_adds(sb, "DATE");
        break;
    case TDO_F_TIME:
        tdo_sb_adds(sb, "TIME");
        break;
    case TDO_F_UUID:
        tdo_sb_adds(sb, "CHAR(36)");
        break;
    case TDO_F_JSON:
        tdo_sb_adds(sb, "JSON");
        break;
    case TDO_F_BINARY:
        tdo_sb_adds(sb, "BLOB");
        break;
    case TDO_F_FK:
    case TDO_F_O2O: {
        const tdo_field *pk =
            f->related_model ? tdo_model_pk(f->related_model) : NULL;
        if (pk && pk->type != TDO_F_FK && pk->type != TDO_F_O2O)
            base_type(sb, pk, false);
        else
            tdo_sb_adds(sb, "INT");
        break;
    }
    case TDO_F_M2M:
    case TDO_F_COUNT:
        break;
    }
}

static void sqlite_column_type(tdo_sb *sb, const tdo_field *f)
{
    base_type(sb, f, true);
}

static void sqlite_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    if (limit >= 0)
        tdo_sb_addf(sb, " LIMIT %" PRId64, limit);
    else if (offset >= 0)
        tdo_sb_adds(sb, " LIMIT -1");
    if (offset >= 0)
        tdo_sb_addf(sb, " OFFSET %" PRId64, offset);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static tdo_status nomem(tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
}

/* Sets out to an owned copy of the len bytes of s as type t. */
static tdo_status owned_text(tdo_type t, const char *s, size_t len,
                             tdo_value *out, tdo_error *err)
{
    char *p = tdo_strndup(s, len);
    if (!p)
        return nomem(err);
    *out = tdo_value_text(p, len);
    out->type = t;
    out->owned = true;
    return TDO_OK;
}

/* dt moved to UTC (offset 0), keeping has_offset. */
static tdo_status to_utc(const tdo_datetime *dt, tdo_datetime *out,
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

static tdo_status sqlite_to_db(const tdo_field *f, const tdo_value *in,
                               tdo_value *out, bool use_tz, tdo_error *err)
{
    char buf[64];
    size_t len;
    tdo_datetime dt;
    tdo_status st;
    *out = *in;
    out->owned = false;
    switch (in->type) {
    case TDO_BOOL:
        *out = tdo_value_int(in->u.b ? 1 : 0);
        return TDO_OK;
    case TDO_DECIMAL:
        len = tdo_decimal_format(&in->u.dec, buf, sizeof(buf));
        return owned_text(TDO_TEXT, buf, len, out, err);
    case TDO_DATE:
        len = tdo_datetime_format(&in->u.dt, TDO_DATE, ' ', true, buf,
                                  sizeof(buf));
        return owned_text(TDO_TEXT, buf, len, out, err);
    case TDO_TIME:
        len = tdo_datetime_format(&in->u.dt, TDO_TIME, ' ', true, buf,
                                  sizeof(buf));
        return owned_text(TDO_TEXT, buf, len, out, err);
    case TDO_DATETIME:
        /* aware: moved to UTC; naive: as written (UTC when use_tz) */
        if ((st = to_utc(&in->u.dt, &dt, err)))
            return st;
        dt.has_offset = use_tz;
        dt.offset_min = 0;
        len =
            tdo_datetime_format(&dt, TDO_DATETIME, ' ', true, buf, sizeof(buf));
        return owned_text(TDO_TEXT, buf, len, out, err);
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
    return owned_text(t, buf, len, out, err);
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
            if ((st = to_utc(&dt, &u, err)))
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

static tdo_status sqlite_from_db(const tdo_field *f, const tdo_value *in,
                                 tdo_value *out, bool use_tz, tdo_error *err)
{
    *out = *in;
    out->owned = false;
    if (!f || in->type == TDO_NULL)
        return TDO_OK;
    switch (f->type) {
    case TDO_F_INT:
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
    case TDO_F_INTENUM:
        return decode_int(f, in, out, err);
    case TDO_F_FLOAT:
        if (in->type == TDO_INT) {
            *out = tdo_value_double((double)in->u.i);
            return TDO_OK;
        }
        if (in->type == TDO_DOUBLE)
            return TDO_OK;
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
        const tdo_field *pk =
            f->related_model ? tdo_model_pk(f->related_model) : NULL;
        if (pk && pk != f && pk->type != TDO_F_FK && pk->type != TDO_F_O2O)
            return sqlite_from_db(pk, in, out, use_tz, err);
        return TDO_OK;
    }
    case TDO_F_M2M:
    case TDO_F_COUNT:
        return TDO_OK;
    }
    return TDO_OK;
}

/* The SQLite dialect (static). */
const tdo_dialect tdo_dialect_sqlite = {
    .version = TDO_DIALECT_VERSION,
    .name = "sqlite",
    .tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' "
                  "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    .features = TDO_DF_RETURNING | TDO_DF_OFFSET_NEEDS_LIMIT |
                TDO_DF_TRANSACTIONAL_DDL | TDO_DF_GLOB |
                TDO_DF_INSERT_OR_IGNORE,
    .quote_ident = sqlite_quote_ident,
    .placeholder = sqlite_placeholder,
    .column_type = sqlite_column_type,
    .limit_offset = sqlite_limit_offset,
    .to_db = sqlite_to_db,
    .from_db = sqlite_from_db,
};

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
