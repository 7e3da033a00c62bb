/*
 * dialect_mysql.c -- the MySQL/MariaDB dialect: `x` quoting, "?"
 * placeholders, column types as Tortoise's MySQL schema generator chooses
 * them (INT AUTO_INCREMENT keys, DATETIME(6), LONGTEXT, LONGBLOB ...),
 * LIMIT before OFFSET, INSERT IGNORE, the LIKE escape with its backslash
 * doubled (backslashes escape in MySQL string literals), and tables in
 * InnoDB with utf8mb4 and a binary collation, so that comparisons, LIKE
 * and ordering are case-sensitive as on the other databases (the
 * case-insensitive lookups use LOWER() on both sides).
 *
 * Storage: datetimes as naive DATETIME(6) in UTC (an aware value is moved
 * to UTC; the session's time_zone is +00:00), booleans 0/1, decimals as
 * exact text, durations as integer microseconds.  Driver values are
 * decoded with the rules the dialects share (dialect.c).
 */
#include "tdo_int.h"

#include <inttypes.h>

static void my_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_dialect_quote_(sb, ident, '`');
}

static const tdo_type_names my_types = {
    .float_type = "DOUBLE",
    .text_type = "LONGTEXT",
    .bool_type = "BOOL",
    .datetime_type = "DATETIME(6)",
    .time_type = "TIME(6)",
    .uuid_type = "CHAR(36)",
    .json_type = "JSON",
    .binary_type = "LONGBLOB",
};

static void my_column_type(tdo_sb *sb, const tdo_field *f)
{
    tdo_dialect_data_type_(sb, f, &my_types);
    if (tdo_dialect_generated_pk_(f))
        tdo_sb_adds(sb, " PRIMARY KEY AUTO_INCREMENT");
}

/* OFFSET needs a LIMIT: the largest one stands for "no limit". */
static void my_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    tdo_dialect_limit_offset_(sb, limit, offset, "18446744073709551615");
}

/* Booleans as 0/1; times without a zone; datetimes naive in UTC (an
 * aware one moved there). */
static tdo_status my_to_db(const tdo_field *f, const tdo_value *in,
                           tdo_value *out, bool use_tz, tdo_error *err)
{
    (void)f;
    return tdo_dialect_to_db_text_temporals_(in, out, use_tz, false, err);
}

/* The MySQL/MariaDB dialect (static). */
const tdo_dialect tdo_dialect_mysql = {
    .version = TDO_DIALECT_VERSION,
    .regex_op = " REGEXP ",
    .iregex_op = NULL,
    .explain = "EXPLAIN ",
    .read_only_sql = "SET SESSION TRANSACTION READ ONLY",
    .name = "mysql",
    .catalog_sql =
        {
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = DATABASE() ORDER BY table_name",
            /* MariaDB's JSON is LONGTEXT with a json_valid CHECK named
             * after the column; the key columns and those checks are
             * joined, not looked up per column (slow on 1,000 tables) */
            "SELECT c.table_name, c.column_name, CASE WHEN j.column_name IS "
            "NOT NULL THEN 'json' ELSE c.column_type END, c.is_nullable = "
            "'NO', c.column_default, COALESCE(k.ordinal_position, 0) FROM "
            "information_schema.columns c LEFT JOIN (SELECT table_name, "
            "column_name, ordinal_position FROM "
            "information_schema.key_column_usage WHERE table_schema = "
            "DATABASE() AND constraint_name = 'PRIMARY') k ON k.table_name = "
            "c.table_name AND k.column_name = c.column_name LEFT JOIN (SELECT "
            "DISTINCT tc.table_name, tc.constraint_name AS column_name FROM "
            "information_schema.table_constraints tc JOIN "
            "information_schema.check_constraints cc ON "
            "cc.constraint_schema = tc.constraint_schema AND "
            "cc.constraint_name = tc.constraint_name WHERE tc.table_schema = "
            "DATABASE() AND tc.constraint_type = 'CHECK' AND cc.check_clause "
            "= CONCAT('json_valid(`', tc.constraint_name, '`)')) j ON "
            "j.table_name = c.table_name AND j.column_name = c.column_name "
            "AND c.data_type = 'longtext' WHERE c.table_schema = DATABASE() "
            "ORDER BY c.table_name, c.ordinal_position",
            "SELECT table_name, constraint_name, referenced_table_name, "
            "column_name, referenced_column_name FROM "
            "information_schema.key_column_usage WHERE table_schema = "
            "DATABASE() AND referenced_table_name IS NOT NULL ORDER BY "
            "table_name, constraint_name, ordinal_position",
            "SELECT table_name, index_name, non_unique = 0, column_name FROM "
            "information_schema.statistics WHERE table_schema = DATABASE() "
            "AND index_name <> 'PRIMARY' ORDER BY table_name, index_name, "
            "seq_in_index",
        },
    .fk_checks_off = "SET FOREIGN_KEY_CHECKS = 0",
    .fk_checks_on = "SET FOREIGN_KEY_CHECKS = 1",
    .tables_sql = "SELECT table_name FROM information_schema.tables WHERE "
                  "table_schema = DATABASE() ORDER BY table_name",
    .features = TDO_DF_UPSERT_DUPLICATE_KEY | TDO_DF_BOOL_LITERALS |
                TDO_DF_OFFSET_NEEDS_LIMIT | TDO_DF_INSERT_OR_IGNORE |
                TDO_DF_WRAP_LIMIT_SUBQUERY | TDO_DF_CONCAT_FUNC |
                TDO_DF_FK_ALTER | TDO_DF_ROW_LOCKS,
    .quote_ident = my_quote_ident,
    .placeholder = tdo_dialect_qmark_,
    .column_type = my_column_type,
    .limit_offset = my_limit_offset,
    .to_db = my_to_db,
    .from_db = tdo_dialect_from_db_,
    .like_escape = " ESCAPE '\\\\'",
    .insert_ignore = "INSERT IGNORE INTO ",
    .default_values = " () VALUES ()",
    .table_options =
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    /* WEEK(x, 3): weeks start on Monday, week 1 holds the year's first
     * Thursday (ISO 8601) */
    .date_part =
        {
            {"YEAR(", ")"},
            {"QUARTER(", ")"},
            {"MONTH(", ")"},
            {"WEEK(", ",3)"},
            {"DAYOFMONTH(", ")"},
            {"HOUR(", ")"},
            {"MINUTE(", ")"},
            {"SECOND(", ")"},
        },
    .alter_style = TDO_ALTER_MODIFY,
    .drop_fk = " DROP FOREIGN KEY ",
    .drop_unique = " DROP INDEX ",
    .drop_index_on = true,
};
