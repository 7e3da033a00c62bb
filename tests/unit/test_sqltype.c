/* test_sqltype.c -- the field type of a column's SQL type, as the three
 * databases' catalogues write them (orm/sqltype.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "testudo.h"

static void is(const char *sql, tdo_field_type want, int a, int b, bool unknown)
{
    tdo_sql_type t;
    tdo_field_type got = tdo_field_type_of_sql(sql, &t);
    if (got != want || t.type != want || t.unknown != unknown)
        fail_msg("'%s': %s (unknown %d), wanted %s", sql,
                 tdo_field_type_name(got), t.unknown,
                 tdo_field_type_name(want));
    if (want == TDO_F_CHAR)
        assert_int_equal(t.max_length, a);
    if (want == TDO_F_DECIMAL) {
        assert_int_equal(t.max_digits, a);
        assert_int_equal(t.decimal_places, b);
    }
}

static void test_sqlite_types(void **state)
{
    is("INTEGER", TDO_F_INT, 0, 0, false);
    is("NVARCHAR(120)", TDO_F_CHAR, 120, 0, false);
    is("VARCHAR(40)", TDO_F_CHAR, 40, 0, false);
    is("TEXT", TDO_F_TEXT, 0, 0, false);
    is("NUMERIC(10,2)", TDO_F_DECIMAL, 10, 2, false);
    is("NUMERIC", TDO_F_DECIMAL, 38, 10, false);
    is("REAL", TDO_F_FLOAT, 0, 0, false);
    is("DATETIME", TDO_F_DATETIME, 0, 0, false);
    is("BLOB", TDO_F_BINARY, 0, 0, false);
    is("", TDO_F_TEXT, 0, 0, false); /* no declared type */
    is("BOOLEAN", TDO_F_BOOL, 0, 0, false);
    is("unsigned big int", TDO_F_BIGINT, 0, 0, false);
    is("GEOMETRY", TDO_F_TEXT, 0, 0, true);
    is("SOMEBLOBTYPE", TDO_F_BINARY, 0, 0, true);
}

static void test_postgres_types(void **state)
{
    is("character varying(255)", TDO_F_CHAR, 255, 0, false);
    is("character varying", TDO_F_TEXT, 0, 0, false);
    is("character(2)", TDO_F_CHAR, 2, 0, false);
    is("timestamp with time zone", TDO_F_DATETIME, 0, 0, false);
    is("timestamp(6) without time zone", TDO_F_DATETIME, 0, 0, false);
    is("time without time zone", TDO_F_TIME, 0, 0, false);
    is("double precision", TDO_F_FLOAT, 0, 0, false);
    is("numeric(12,4)", TDO_F_DECIMAL, 12, 4, false);
    is("interval", TDO_F_TIMEDELTA, 0, 0, false);
    is("uuid", TDO_F_UUID, 0, 0, false);
    is("jsonb", TDO_F_JSON, 0, 0, false);
    is("bytea", TDO_F_BINARY, 0, 0, false);
    is("smallint", TDO_F_SMALLINT, 0, 0, false);
    is("bigint", TDO_F_BIGINT, 0, 0, false);
    is("integer[]", TDO_F_TEXT, 0, 0, true);
    is("tsvector", TDO_F_TEXT, 0, 0, true);
    is("money", TDO_F_DECIMAL, 19, 2, false);
}

static void test_mysql_types(void **state)
{
    is("int(11)", TDO_F_INT, 0, 0, false);
    is("int(10) unsigned", TDO_F_INT, 0, 0, false);
    is("tinyint(1)", TDO_F_BOOL, 0, 0, false);
    is("tinyint(4)", TDO_F_SMALLINT, 0, 0, false);
    is("decimal(10,2) unsigned zerofill", TDO_F_DECIMAL, 10, 2, false);
    is("varchar(255)", TDO_F_CHAR, 255, 0, false);
    is("longtext", TDO_F_TEXT, 0, 0, false);
    is("mediumblob", TDO_F_BINARY, 0, 0, false);
    is("enum('a','b')", TDO_F_TEXT, 0, 0, false);
    is("datetime(6)", TDO_F_DATETIME, 0, 0, false);
    is("year(4)", TDO_F_INT, 0, 0, false);
    is("  VarChar ( 10 )  ", TDO_F_CHAR, 10, 0, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_types),
        cmocka_unit_test(test_postgres_types),
        cmocka_unit_test(test_mysql_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
