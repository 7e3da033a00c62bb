/*
 * sqltype.c -- the field type closest to a column's SQL type, as the
 * catalogues of SQLite, PostgreSQL and MySQL/MariaDB spell it
 * ("VARCHAR(120)", "character varying", "numeric(10,2)", "tinyint(1)",
 * "timestamp with time zone" ...): the type mapping of introspection
 * (issue 11), one table for the three databases.
 */
#include "tdo_int.h"

#include <ctype.h>
#include <stdlib.h>

/* A type name (lower case, the words as the catalogues write them) and
 * its field; the first entry whose name starts the normalised type wins,
 * so longer names come first. */
static const struct {
    const char *name;
    tdo_field_type type;
} type_names[] = {
    {"timestamp with time zone", TDO_F_DATETIME},
    {"timestamp without time zone", TDO_F_DATETIME},
    {"time with time zone", TDO_F_TIME},
    {"time without time zone", TDO_F_TIME},
    {"character varying", TDO_F_CHAR},
    {"double precision", TDO_F_FLOAT},
    {"bit varying", TDO_F_BINARY},
    {"unsigned big int", TDO_F_BIGINT},
    {"native character", TDO_F_CHAR},
    {"varying character", TDO_F_CHAR},
    {"nvarchar", TDO_F_CHAR},
    {"varchar2", TDO_F_CHAR},
    {"varchar", TDO_F_CHAR},
    {"nchar", TDO_F_CHAR},
    {"character", TDO_F_CHAR},
    {"char", TDO_F_CHAR},
    {"bpchar", TDO_F_CHAR},
    {"citext", TDO_F_TEXT},
    {"tinytext", TDO_F_TEXT},
    {"mediumtext", TDO_F_TEXT},
    {"longtext", TDO_F_TEXT},
    {"text", TDO_F_TEXT},
    {"clob", TDO_F_TEXT},
    {"enum", TDO_F_TEXT},
    {"set", TDO_F_TEXT},
    {"xml", TDO_F_TEXT},
    {"bigserial", TDO_F_BIGINT},
    {"smallserial", TDO_F_SMALLINT},
    {"serial", TDO_F_INT},
    {"bigint", TDO_F_BIGINT},
    {"int8", TDO_F_BIGINT},
    {"smallint", TDO_F_SMALLINT},
    {"int2", TDO_F_SMALLINT},
    {"tinyint", TDO_F_SMALLINT},
    {"mediumint", TDO_F_INT},
    {"integer", TDO_F_INT},
    {"int4", TDO_F_INT},
    {"int", TDO_F_INT},
    {"year", TDO_F_INT},
    {"boolean", TDO_F_BOOL},
    {"bool", TDO_F_BOOL},
    {"real", TDO_F_FLOAT},
    {"float8", TDO_F_FLOAT},
    {"float4", TDO_F_FLOAT},
    {"float", TDO_F_FLOAT},
    {"double", TDO_F_FLOAT},
    {"decimal", TDO_F_DECIMAL},
    {"numeric", TDO_F_DECIMAL},
    {"number", TDO_F_DECIMAL},
    {"money", TDO_F_DECIMAL},
    {"timestamptz", TDO_F_DATETIME},
    {"timestamp", TDO_F_DATETIME},
    {"datetime", TDO_F_DATETIME},
    {"date", TDO_F_DATE},
    {"timetz", TDO_F_TIME},
    {"time", TDO_F_TIME},
    {"interval", TDO_F_TIMEDELTA},
    {"uuid", TDO_F_UUID},
    {"jsonb", TDO_F_JSON},
    {"json", TDO_F_JSON},
    {"bytea", TDO_F_BINARY},
    {"tinyblob", TDO_F_BINARY},
    {"mediumblob", TDO_F_BINARY},
    {"longblob", TDO_F_BINARY},
    {"blob", TDO_F_BINARY},
    {"varbinary", TDO_F_BINARY},
    {"binary", TDO_F_BINARY},
    {"bit", TDO_F_BINARY},
};

/* Lower-cases the type into buf (cap bytes) with runs of blanks made one
 * space and "unsigned" / "zerofill" / "signed" dropped (MySQL); the
 * arguments "(...)" are cut out into *args (NULL: none). */
static void normalise(const char *type, char *buf, size_t cap,
                      const char **args)
{
    size_t n = 0;
    *args = NULL;
    for (const char *p = type; *p && n + 1 < cap; p++) {
        if (*p == '(') {
            *args = p + 1;
            p = strchr(p, ')');
            if (!p)
                break;
            continue;
        }
        char c = (char)tolower((unsigned char)*p);
        if (isspace((unsigned char)c)) {
            if (n && buf[n - 1] != ' ')
                buf[n++] = ' ';
            continue;
        }
        buf[n++] = c;
    }
    while (n && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    static const char *const drop[] = {" unsigned", " zerofill", " signed"};
    for (size_t i = 0; i < 3; i++) {
        char *w = strstr(buf, drop[i]);
        if (w)
            memmove(w, w + strlen(drop[i]), strlen(w + strlen(drop[i])) + 1);
    }
}

/* Whether buf starts with name as a whole word. */
static bool starts_word(const char *buf, const char *name)
{
    size_t n = strlen(name);
    return strncmp(buf, name, n) == 0 &&
           (buf[n] == '\0' || buf[n] == ' ' || buf[n] == '[');
}

/* Maps a column's SQL type (see testudo.h). */
tdo_field_type tdo_field_type_of_sql(const char *type, tdo_sql_type *out)
{
    char buf[96];
    const char *args;
    memset(out, 0, sizeof(*out));
    normalise(type ? type : "", buf, sizeof(buf), &args);
    long a1 = args ? strtol(args, NULL, 10) : 0;
    const char *comma = args ? strchr(args, ',') : NULL;
    long a2 =
        comma && comma < strchr(args, ')') ? strtol(comma + 1, NULL, 10) : 0;
    out->type = TDO_F_COUNT;
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
        if (starts_word(buf, type_names[i].name)) {
            out->type = type_names[i].type;
            break;
        }
    if (buf[0] && strchr(buf, '[')) /* PostgreSQL arrays */
        out->type = TDO_F_COUNT;
    switch (out->type) {
    case TDO_F_CHAR:
        if (a1 > 0)
            out->max_length = (int)a1;
        else
            out->type = TDO_F_TEXT; /* varchar without a length */
        break;
    case TDO_F_SMALLINT:
        /* MySQL's booleans are tinyint(1) */
        if (starts_word(buf, "tinyint") && a1 == 1)
            out->type = TDO_F_BOOL;
        break;
    case TDO_F_DECIMAL:
        if (a1 > 0 && a1 <= TDO_DECIMAL_MAX_DIGITS && a2 >= 0 && a2 <= a1) {
            out->max_digits = (int)a1;
            out->decimal_places = (int)a2;
        } else if (starts_word(buf, "money")) {
            out->max_digits = 19;
            out->decimal_places = 2;
        } else {
            out->max_digits = TDO_DECIMAL_MAX_DIGITS; /* unconstrained */
            out->decimal_places = 10;
        }
        break;
    case TDO_F_COUNT: /* unknown: text, or bytes for a binary-looking name */
        out->unknown = true;
        out->type = strstr(buf, "blob") || strstr(buf, "binary") ? TDO_F_BINARY
                                                                 : TDO_F_TEXT;
        break;
    default:
        break;
    }
    if (!buf[0]) { /* SQLite: no declared type at all */
        out->type = TDO_F_TEXT;
        out->unknown = false;
    }
    return out->type;
}
