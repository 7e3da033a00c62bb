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
 * decodes them with the rules the dialects share (dialect.c).
 */
#include "tdo_int.h"

#include <inttypes.h>

static void pg_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_dialect_quote_(sb, ident, '"');
}

static void pg_placeholder(tdo_sb *sb, size_t n)
{
    tdo_sb_addf(sb, "$%zu", n);
}

static const tdo_type_names pg_types = {
    .float_type = "DOUBLE PRECISION",
    .text_type = "TEXT",
    .bool_type = "BOOL",
    .datetime_type = "TIMESTAMPTZ",
    .time_type = "TIME",
    .uuid_type = "UUID",
    .json_type = "JSONB",
    .binary_type = "BYTEA",
};

static void pg_column_type(tdo_sb *sb, const tdo_field *f)
{
    if (!tdo_dialect_generated_pk_(f))
        tdo_dialect_data_type_(sb, f, &pg_types);
    else if (f->type == TDO_F_BIGINT)
        tdo_sb_adds(sb, "BIGSERIAL PRIMARY KEY");
    else if (f->type == TDO_F_SMALLINT)
        tdo_sb_adds(sb, "SMALLSERIAL PRIMARY KEY");
    else
        tdo_sb_adds(sb, "SERIAL PRIMARY KEY");
}

static void pg_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    tdo_dialect_limit_offset_(sb, limit, offset, NULL);
}

/* Canonical values to what the backend binds as text: temporal values
 * and decimals become ISO/decimal text; a naive datetime is written as
 * is (UTC under use_tz, the session's zone being UTC). */
static tdo_status pg_to_db(const tdo_field *f, const tdo_value *in,
                           tdo_value *out, bool use_tz, tdo_error *err)
{
    switch (in->type) {
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        return tdo_dialect_temporal_text_(&in->u.dt, in->type,
                                          in->type != TDO_DATE, out, err);
    default:
        return tdo_dialect_to_db_(in, out, false, err);
    }
}

/* Driver values to canonical ones: booleans stay booleans, the rest is
 * decoded as the dialects share it. */
static tdo_status pg_from_db(const tdo_field *f, const tdo_value *in,
                             tdo_value *out, bool use_tz, tdo_error *err)
{
    if (f && in->type == TDO_BOOL) {
        const tdo_field *t = f;
        if ((t->type == TDO_F_FK || t->type == TDO_F_O2O) && t->related_model)
            t = tdo_field_key_target(t);
        if (t && t->type == TDO_F_BOOL) {
            *out = *in;
            out->owned = false;
            return TDO_OK;
        }
        tdo_value i = tdo_value_int(in->u.b);
        return tdo_dialect_from_db_(f, &i, out, use_tz, err);
    }
    return tdo_dialect_from_db_(f, in, out, use_tz, err);
}

/* The tables, views and columns of the schemas on the search path. */
#define PG_VISIBLE                                                             \
    "c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = "                       \
    "ANY (current_schemas(false))"
#define PG_RELS "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"

/* The PostgreSQL dialect (static). */
/* A CASE's results are parameters PostgreSQL cannot type. */
static const char *const pg_value_casts[] = {
    [TDO_BOOL] = "BOOLEAN",
    [TDO_INT] = "BIGINT",
    [TDO_DOUBLE] = "DOUBLE PRECISION",
    [TDO_DECIMAL] = "NUMERIC",
    [TDO_DATE] = "DATE",
    [TDO_TIME] = "TIME",
    [TDO_DATETIME] = "TIMESTAMP",
    [TDO_DURATION] = "INTERVAL",
    [TDO_UUID] = "UUID",
    [TDO_JSON] = "JSONB",
    [TDO_TEXT] = "TEXT",
    [TDO_BLOB] = "BYTEA",
};

const tdo_dialect tdo_dialect_postgres = {
    .version = TDO_DIALECT_VERSION,
    .regex_op = " ~ ",
    .iregex_op = " ~* ",
    .iregex_collate = " COLLATE \"und-x-icu\"",
    .explain = "EXPLAIN ",
    .value_casts = pg_value_casts,
    .read_only_sql = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    .name = "postgres",
    .drop_cascade = " CASCADE",
    .catalog_sql =
        {
            "SELECT c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' "
            "ELSE 'table' END FROM " PG_RELS " WHERE " PG_VISIBLE
            " ORDER BY c.relname",
            "SELECT c.relname, a.attname, format_type(a.atttypid, "
            "a.atttypmod), a.attnotnull::int, pg_get_expr(d.adbin, "
            "d.adrelid), COALESCE((SELECT k.ord::int FROM pg_index i CROSS "
            "JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS "
            "k(col, ord) WHERE i.indrelid = c.oid AND i.indisprimary AND "
            "k.col = a.attnum), 0) FROM " PG_RELS " JOIN pg_attribute a ON "
            "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = "
            "a.attnum WHERE " PG_VISIBLE " ORDER BY c.relname, a.attnum",
            "SELECT c.relname, con.conname, r.relname, a.attname, "
            "ra.attname FROM pg_constraint con JOIN " PG_RELS
            " ON c.oid = con.conrelid JOIN pg_class r ON r.oid = "
            "con.confrelid CROSS JOIN LATERAL unnest(con.conkey, "
            "con.confkey) WITH ORDINALITY AS k(col, refcol, ord) JOIN "
            "pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = "
            "k.col JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND "
            "ra.attnum = k.refcol WHERE con.contype = 'f' AND " PG_VISIBLE
            " ORDER BY c.relname, con.conname, k.ord",
            "SELECT c.relname, ic.relname, i.indisunique::int, a.attname "
            "FROM pg_index i JOIN " PG_RELS " ON c.oid = i.indrelid JOIN "
            "pg_class ic ON ic.oid = i.indexrelid CROSS JOIN LATERAL "
            "unnest(i.indkey::int2[]) WITH ORDINALITY AS k(col, ord) JOIN "
            "pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.col "
            "WHERE NOT i.indisprimary AND " PG_VISIBLE
            " ORDER BY c.relname, ic.relname, k.ord",
        },
    .tables_sql = "SELECT tablename FROM pg_tables WHERE schemaname = "
                  "current_schema() ORDER BY tablename",
    .features = TDO_DF_RETURNING | TDO_DF_ILIKE | TDO_DF_BOOL_LITERALS |
                TDO_DF_TRANSACTIONAL_DDL | TDO_DF_AGG_FILTER | TDO_DF_FK_ALTER |
                TDO_DF_ROW_LOCKS | TDO_DF_LOCK_OF,
    .quote_ident = pg_quote_ident,
    .placeholder = pg_placeholder,
    .column_type = pg_column_type,
    .limit_offset = pg_limit_offset,
    .to_db = pg_to_db,
    .from_db = pg_from_db,
    /* EXTRACT gives numeric (seconds with their fraction, cut off here);
     * WEEK is the ISO 8601 week; the session's zone is UTC */
    .date_part =
        {
            {"CAST(EXTRACT(YEAR FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(QUARTER FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(MONTH FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(WEEK FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(DAY FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(HOUR FROM ", ") AS INTEGER)"},
            {"CAST(EXTRACT(MINUTE FROM ", ") AS INTEGER)"},
            {"CAST(FLOOR(EXTRACT(SECOND FROM ", ")) AS INTEGER)"},
        },
    .alter_style = TDO_ALTER_COLUMN,
    .drop_fk = " DROP CONSTRAINT ",
    .drop_unique = " DROP CONSTRAINT ",
};
