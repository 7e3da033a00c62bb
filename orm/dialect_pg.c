/*
 * dialect_pg.c -- the PostgreSQL dialect: "x" quoting, $n placeholders,
 * column types as Tortoise's PostgreSQL schema generator chooses them
 * (SERIAL keys, TIMESTAMPTZ, JSONB, BYTEA ...), RETURNING, ILIKE,
 * ON CONFLICT DO NOTHING, TRUE/FALSE literals and transactional DDL.
 *
 * Values travel as text (the backend formats what to_db leaves typed):
 * decimals exact, datetimes ISO 8601 with their offset (the session runs
 * in UTC, so naive datetimes are UTC, as with use_tz), durations as
 * integer microseconds.  The backend reads columns by type OID, so
 * from_db gets integers, doubles, booleans, decimals, bytes and text; it
 * decodes them with the rules shared with the SQLite dialect.
 */
#include "tdo_int.h"

#include <inttypes.h>
#include <stdio.h>

static void pg_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_sb_addc(sb, '"');
    for (const char *p = ident; *p; p++) {
        if (*p == '"')
            tdo_sb_addc(sb, '"');
        tdo_sb_addc(sb, *p);
    }
    tdo_sb_addc(sb, '"');
}

static void pg_placeholder(tdo_sb *sb, size_t n)
{
    tdo_sb_addf(sb, "$%zu", n);
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
        if (f->type == TDO_F_BIGINT)
            tdo_sb_adds(sb, "BIGSERIAL PRIMARY KEY");
        else if (f->type == TDO_F_SMALLINT)
            tdo_sb_adds(sb, "SMALLSERIAL PRIMARY KEY");
        else
            tdo_sb_adds(sb, "SERIAL PRIMARY KEY");
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
        tdo_sb_adds(sb, "DOUBLE PRECISION");
        break;
    case TDO_F_DECIMAL:
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
        tdo_sb_adds(sb, "TEXT");
        break;
    case TDO_F_BOOL:
        tdo_sb_adds(sb, "BOOL");
        break;
    case TDO_F_DATETIME:
        tdo_sb_adds(sb, "TIMESTAMPTZ");
        break;
    case TDO_F_DATE:
        tdo_sb_adds(sb, "DATE");
        break;
    case TDO_F_TIME:
        tdo_sb_adds(sb, "TIME");
        break;
    case TDO_F_UUID:
        tdo_sb_adds(sb, "UUID");
        break;
    case TDO_F_JSON:
        tdo_sb_adds(sb, "JSONB");
        break;
    case TDO_F_BINARY:
        tdo_sb_adds(sb, "BYTEA");
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

static void pg_column_type(tdo_sb *sb, const tdo_field *f)
{
    base_type(sb, f, true);
}

static void pg_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    if (limit >= 0)
        tdo_sb_addf(sb, " LIMIT %" PRId64, limit);
    if (offset >= 0)
        tdo_sb_addf(sb, " OFFSET %" PRId64, offset);
}

static tdo_status owned_text(const char *s, size_t len, tdo_value *out,
                             tdo_error *err)
{
    char *p = tdo_strndup(s, len);
    if (!p)
        return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    *out = tdo_value_text(p, len);
    out->owned = true;
    return TDO_OK;
}

/* Canonical values to what the backend binds as text: temporal values
 * and decimals become ISO/decimal text; a naive datetime is written as
 * is (UTC under use_tz, the session's zone being UTC). */
static tdo_status pg_to_db(const tdo_field *f, const tdo_value *in,
                           tdo_value *out, bool use_tz, tdo_error *err)
{
    char buf[64];
    size_t len;
    *out = *in;
    out->owned = false;
    switch (in->type) {
    case TDO_DECIMAL:
        len = tdo_decimal_format(&in->u.dec, buf, sizeof(buf));
        return owned_text(buf, len, out, err);
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        len = tdo_datetime_format(&in->u.dt, in->type, ' ',
                                  in->type != TDO_DATE, buf, sizeof(buf));
        return owned_text(buf, len, out, err);
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

/* Driver values to canonical ones: booleans stay booleans, the rest is
 * decoded as the SQLite dialect decodes text and numbers. */
static tdo_status pg_from_db(const tdo_field *f, const tdo_value *in,
                             tdo_value *out, bool use_tz, tdo_error *err)
{
    if (f && in->type == TDO_BOOL) {
        const tdo_field *t = f;
        if ((t->type == TDO_F_FK || t->type == TDO_F_O2O) && t->related_model)
            t = tdo_model_pk(t->related_model);
        if (t && t->type == TDO_F_BOOL) {
            *out = *in;
            out->owned = false;
            return TDO_OK;
        }
        tdo_value i = tdo_value_int(in->u.b);
        return tdo_dialect_sqlite.from_db(f, &i, out, use_tz, err);
    }
    return tdo_dialect_sqlite.from_db(f, in, out, use_tz, err);
}

/* The PostgreSQL dialect (static). */
const tdo_dialect tdo_dialect_postgres = {
    .version = TDO_DIALECT_VERSION,
    .name = "postgres",
    .tables_sql = "SELECT tablename FROM pg_tables WHERE schemaname = "
                  "current_schema() ORDER BY tablename",
    .features = TDO_DF_RETURNING | TDO_DF_ILIKE | TDO_DF_BOOL_LITERALS |
                TDO_DF_TRANSACTIONAL_DDL,
    .quote_ident = pg_quote_ident,
    .placeholder = pg_placeholder,
    .column_type = pg_column_type,
    .limit_offset = pg_limit_offset,
    .to_db = pg_to_db,
    .from_db = pg_from_db,
};
