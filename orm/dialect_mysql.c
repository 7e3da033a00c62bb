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
 * decoded with the rules shared with the SQLite dialect.
 */
#include "tdo_int.h"

#include <inttypes.h>
#include <stdio.h>

static void my_quote_ident(tdo_sb *sb, const char *ident)
{
    tdo_sb_addc(sb, '`');
    for (const char *p = ident; *p; p++) {
        if (*p == '`')
            tdo_sb_addc(sb, '`');
        tdo_sb_addc(sb, *p);
    }
    tdo_sb_addc(sb, '`');
}

static void my_placeholder(tdo_sb *sb, size_t n)
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
    bool key = key_clause && (f->flags & TDO_FIELD_PK) &&
               (f->flags & TDO_FIELD_GENERATED);
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
        tdo_sb_adds(sb, "DOUBLE");
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
        tdo_sb_adds(sb, "LONGTEXT");
        break;
    case TDO_F_BOOL:
        tdo_sb_adds(sb, "BOOL");
        break;
    case TDO_F_DATETIME:
        tdo_sb_adds(sb, "DATETIME(6)");
        break;
    case TDO_F_DATE:
        tdo_sb_adds(sb, "DATE");
        break;
    case TDO_F_TIME:
        tdo_sb_adds(sb, "TIME(6)");
        break;
    case TDO_F_UUID:
        tdo_sb_adds(sb, "CHAR(36)");
        break;
    case TDO_F_JSON:
        tdo_sb_adds(sb, "JSON");
        break;
    case TDO_F_BINARY:
        tdo_sb_adds(sb, "LONGBLOB");
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
    if (key)
        tdo_sb_adds(sb, " PRIMARY KEY AUTO_INCREMENT");
}

static void my_column_type(tdo_sb *sb, const tdo_field *f)
{
    base_type(sb, f, true);
}

/* OFFSET needs a LIMIT: the largest one stands for "no limit". */
static void my_limit_offset(tdo_sb *sb, int64_t limit, int64_t offset)
{
    if (limit >= 0)
        tdo_sb_addf(sb, " LIMIT %" PRId64, limit);
    else if (offset >= 0)
        tdo_sb_adds(sb, " LIMIT 18446744073709551615");
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

static tdo_status my_to_db(const tdo_field *f, const tdo_value *in,
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
        return owned_text(buf, len, out, err);
    case TDO_DATE:
    case TDO_TIME:
        dt = in->u.dt;
        dt.has_offset = false; /* TIME has no zone */
        len = tdo_datetime_format(&dt, in->type, ' ', in->type == TDO_TIME, buf,
                                  sizeof(buf));
        return owned_text(buf, len, out, err);
    case TDO_DATETIME:
        dt = in->u.dt;
        if (dt.has_offset && dt.offset_min &&
            (st = tdo_datetime_add(&in->u.dt, TDO_DATETIME,
                                   -(int64_t)dt.offset_min * 60000000, &dt,
                                   err)))
            return st;
        dt.has_offset = false;
        dt.offset_min = 0;
        len =
            tdo_datetime_format(&dt, TDO_DATETIME, ' ', true, buf, sizeof(buf));
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

/* Driver values (integers, doubles, text, bytes; temporal values as ISO
 * text) decode as in SQLite. */
static tdo_status my_from_db(const tdo_field *f, const tdo_value *in,
                             tdo_value *out, bool use_tz, tdo_error *err)
{
    return tdo_dialect_sqlite.from_db(f, in, out, use_tz, err);
}

/* The MySQL/MariaDB dialect (static). */
const tdo_dialect tdo_dialect_mysql = {
    .version = TDO_DIALECT_VERSION,
    .name = "mysql",
    .tables_sql = "SELECT table_name FROM information_schema.tables WHERE "
                  "table_schema = DATABASE() ORDER BY table_name",
    .features = TDO_DF_BOOL_LITERALS | TDO_DF_OFFSET_NEEDS_LIMIT |
                TDO_DF_INSERT_OR_IGNORE | TDO_DF_WRAP_LIMIT_SUBQUERY,
    .quote_ident = my_quote_ident,
    .placeholder = my_placeholder,
    .column_type = my_column_type,
    .limit_offset = my_limit_offset,
    .to_db = my_to_db,
    .from_db = my_from_db,
    .like_escape = " ESCAPE '\\\\'",
    .insert_ignore = "INSERT IGNORE INTO ",
    .table_options =
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
};
