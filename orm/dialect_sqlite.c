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

#include <inttypes.h>

static void sqlite_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_dialect_quote_(sb, ident, '"');
}

/* A REAL keeps 15 significant digits: up to that, NUMERIC affinity stores
 * decimals exactly and compares them natively; wider ones are stored as
 * text and compared by testudo's exact collation. */
static void sqlite_decimal(tdo_sb *sb, const tdo_field *f)
{
    if (f->max_digits <= 15)
        tdo_sb_addf(sb, "DECIMAL(%d,%d)", f->max_digits, f->decimal_places);
    else
        tdo_sb_addf(sb, "DECIMAL_TEXT(%d,%d) COLLATE TDO_DECIMAL",
                    f->max_digits, f->decimal_places);
}

static const tdo_type_names sqlite_types = {
    .float_type = "REAL",
    .text_type = "TEXT",
    .bool_type = "INT",
    .datetime_type = "TIMESTAMP",
    .time_type = "TIME",
    .uuid_type = "CHAR(36)",
    .json_type = "JSON",
    .binary_type = "BLOB",
    .decimal = sqlite_decimal,
};

static void sqlite_column_type(tdo_sb *sb, const tdo_field *f)
{
    if (tdo_dialect_generated_pk_(f))
        tdo_sb_adds(sb, "INTEGER PRIMARY KEY AUTOINCREMENT");
    else
        tdo_dialect_data_type_(sb, f, &sqlite_types);
}

static void sqlite_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    tdo_dialect_limit_offset_(sb, limit, offset, "-1");
}

/* Booleans as 0/1; dates, times and datetimes as fixed-width text, an
 * aware datetime moved to UTC (marked +00:00 under use_tz). */
static tdo_status sqlite_to_db(const tdo_field *f, const tdo_value *in,
                               tdo_value *out, bool use_tz, tdo_error *err)
{
    (void)f;
    return tdo_dialect_to_db_text_temporals_(in, out, use_tz, true, err);
}

/* The user's tables and views of sqlite_master m. */
#define USER_TABLES                                                            \
    "m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' "            \
    "ESCAPE '\\'"

/* The SQLite dialect (static). */
const tdo_dialect tdo_dialect_sqlite = {
    .version = TDO_DIALECT_VERSION,
    .regex_op = " REGEXP ",
    .iregex_op = NULL,
    .explain = "EXPLAIN QUERY PLAN ",
    .mod_infix = true,
    .read_only_sql = "PRAGMA query_only = ON",
    .name = "sqlite",
    .begin = "BEGIN IMMEDIATE",
    .catalog_sql =
        {
            "SELECT m.name, m.type FROM sqlite_master m WHERE " USER_TABLES
            " ORDER BY m.name",
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk "
            "FROM sqlite_master m JOIN pragma_table_info(m.name) p "
            "WHERE " USER_TABLES " ORDER BY m.name, p.cid",
            "SELECT m.name, CAST(f.id AS TEXT), f.\"table\", f.\"from\", "
            "f.\"to\" FROM sqlite_master m JOIN "
            "pragma_foreign_key_list(m.name) "
            "f WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
            "SELECT m.name, il.name, il.\"unique\", ii.name FROM sqlite_master "
            "m JOIN pragma_index_list(m.name) il JOIN "
            "pragma_index_info(il.name) ii WHERE m.type = 'table' AND "
            "il.origin <> 'pk' ORDER BY m.name, il.name, ii.seqno",
        },
    .fk_checks_off = "PRAGMA foreign_keys = OFF",
    .fk_checks_on = "PRAGMA foreign_keys = ON",
    .tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' "
                  "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    .features = TDO_DF_RETURNING | TDO_DF_ONE_ROW_LAST_ID |
                TDO_DF_OFFSET_NEEDS_LIMIT | TDO_DF_TRANSACTIONAL_DDL |
                TDO_DF_GLOB | TDO_DF_INSERT_OR_IGNORE | TDO_DF_AGG_FILTER,
    .quote_ident = sqlite_quote_ident,
    .placeholder = tdo_dialect_qmark_,
    .column_type = sqlite_column_type,
    .limit_offset = sqlite_limit_offset,
    .to_db = sqlite_to_db,
    .from_db = tdo_dialect_from_db_,
    /* strftime() reads the stored text; the ISO week is that of the
     * Thursday of the date's week (Monday first), which lies in the
     * week's ISO year: its day of the year, 0-based, divided by 7.  Date
     * arithmetic rounds to milliseconds (23:59:59.9999 would become the
     * next day), so it starts from the date alone */
    .date_part =
        {
            {"CAST(strftime('%Y',", ") AS INTEGER)"},
            {"((CAST(strftime('%m',", ") AS INTEGER)+2)/3)"},
            {"CAST(strftime('%m',", ") AS INTEGER)"},
            {"((CAST(strftime('%j',date(substr(",
             ",1,10),'-3 days','weekday 4')) AS INTEGER)-1)/7+1)"},
            {"CAST(strftime('%d',", ") AS INTEGER)"},
            {"CAST(strftime('%H',", ") AS INTEGER)"},
            {"CAST(strftime('%M',", ") AS INTEGER)"},
            {"CAST(strftime('%S',", ") AS INTEGER)"},
        },
    .alter_style = TDO_ALTER_REBUILD,
};
