/*
 * test_field.c -- tdo_field_coerce and tdo_field_validate, per field type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_model *model;
static tdo_error err;

static int setup(void **state)
{
    ctx = tdo_ctx_new();
    tdo_error_init(&err);
    if (!ctx || tdo_model_new(ctx, "models", "User", &model, &err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

static const tdo_field *mkfield(const char *name, tdo_field_type type,
                                unsigned flags)
{
    tdo_field_decl t = tdo_field_template(name, type);
    tdo_field *f = NULL;
    t.flags = flags;
    if (type == TDO_F_CHAR || type == TDO_F_CHARENUM)
        t.max_length = 10;
    if (type == TDO_F_DECIMAL) {
        t.max_digits = 6;
        t.decimal_places = 2;
    }
    if (type == TDO_F_FK || type == TDO_F_O2O || type == TDO_F_M2M)
        t.related_ref = "models.Other";
    tdo_value ev[3];
    if (type == TDO_F_CHARENUM) {
        ev[0] = tdo_value_text("user", 4);
        ev[1] = tdo_value_text("admin", 5);
        ev[2] = tdo_value_text("editor", 6);
        t.enum_values = ev;
        t.n_enum = 3;
    } else if (type == TDO_F_INTENUM) {
        ev[0] = tdo_value_int(1);
        ev[1] = tdo_value_int(2);
        ev[2] = tdo_value_int(3);
        t.enum_values = ev;
        t.n_enum = 3;
    }
    assert_int_equal(tdo_model_add_field(model, &t, &f, &err), TDO_OK);
    return f;
}

/* Coerces in and compares the display form of the result. */
static void coerce_ok(const tdo_field *f, tdo_value in, tdo_type want_type,
                      const char *want)
{
    tdo_value out;
    tdo_sb sb = TDO_SB_INIT;
    tdo_status st = tdo_field_coerce(f, &in, &out, &err);
    if (st)
        fail_msg("coerce failed: %s", err.message);
    tdo_value_format(&sb, &out, false);
    if (out.type != want_type || strcmp(sb.buf, want) != 0)
        fail_msg("%s: got %s '%s', want %s '%s'", f->name,
                 tdo_type_name(out.type), sb.buf, tdo_type_name(want_type),
                 want);
    if (out.type == TDO_TEXT || out.type == TDO_BLOB || out.type == TDO_UUID ||
        out.type == TDO_JSON)
        assert_true(out.owned);
    tdo_sb_release(&sb);
    tdo_value_release(&out);
}

static void coerce_fails(const tdo_field *f, tdo_value in, tdo_status code)
{
    tdo_value out;
    tdo_status st = tdo_field_coerce(f, &in, &out, &err);
    if (st != code)
        fail_msg("%s: status %d, want %d", f->name, st, code);
    assert_int_equal(out.type, TDO_NULL);
    assert_non_null(strstr(err.message, f->name));
}

static tdo_value text(const char *s)
{
    return tdo_value_text(s, strlen(s));
}

static tdo_value dec(const char *s)
{
    tdo_decimal d;
    assert_int_equal(tdo_decimal_parse(s, strlen(s), &d, &err), TDO_OK);
    return tdo_value_decimal(&d);
}

static tdo_value dt(tdo_type kind, const char *s)
{
    tdo_value v;
    memset(&v, 0, sizeof(v));
    v.type = kind;
    assert_int_equal(tdo_datetime_parse(s, strlen(s), kind, &v.u.dt, &err),
                     TDO_OK);
    return v;
}

static void test_int(void **state)
{
    const tdo_field *f = mkfield("age", TDO_F_INT, 0);
    coerce_ok(f, tdo_value_int(42), TDO_INT, "42");
    coerce_ok(f, tdo_value_double(5.0), TDO_INT, "5");
    coerce_ok(f, text("-17"), TDO_INT, "-17");
    coerce_ok(f, text(" 8 "), TDO_INT, "8");
    coerce_ok(f, dec("12.00"), TDO_INT, "12");
    coerce_ok(f, tdo_value_null(), TDO_NULL, "NULL");
    coerce_fails(f, tdo_value_double(1.5), TDO_ERR_FIELD);
    coerce_fails(f, text("12abc"), TDO_ERR_FIELD);
    coerce_fails(f, text(""), TDO_ERR_FIELD);
    coerce_fails(f, text("99999999999999999999"), TDO_ERR_FIELD);
    coerce_fails(f, tdo_value_bool(true), TDO_ERR_FIELD);
    coerce_fails(f, dec("1.5"), TDO_ERR_FIELD);
    assert_string_equal(err.message,
                        "invalid value 1.5 (decimal) for IntField 'age' on "
                        "model 'User': expected an integer");
    const tdo_field *b = mkfield("big", TDO_F_BIGINT, 0);
    coerce_ok(b, text("9223372036854775807"), TDO_INT, "9223372036854775807");
    const tdo_field *e = mkfield("level", TDO_F_INTENUM, 0);
    coerce_ok(e, tdo_value_int(2), TDO_INT, "2");
}

static void test_float(void **state)
{
    const tdo_field *f = mkfield("ratio", TDO_F_FLOAT, 0);
    coerce_ok(f, tdo_value_double(1.5), TDO_DOUBLE, "1.5");
    coerce_ok(f, tdo_value_int(3), TDO_DOUBLE, "3.0");
    coerce_ok(f, text("2.25"), TDO_DOUBLE, "2.25");
    coerce_ok(f, dec("0.5"), TDO_DOUBLE, "0.5");
    coerce_fails(f, text("x"), TDO_ERR_FIELD);
}

static void test_decimal(void **state)
{
    const tdo_field *f = mkfield("price", TDO_F_DECIMAL, 0);
    coerce_ok(f, tdo_value_int(5), TDO_DECIMAL, "5.00");
    coerce_ok(f, tdo_value_double(0.1), TDO_DECIMAL, "0.10");
    coerce_ok(f, text("12.345"), TDO_DECIMAL, "12.34"); /* half-even */
    coerce_ok(f, text("12.355"), TDO_DECIMAL, "12.36");
    coerce_ok(f, dec("-3.1"), TDO_DECIMAL, "-3.10");
    coerce_ok(f, text("9999.99"), TDO_DECIMAL, "9999.99");
    coerce_fails(f, text("12345.6"), TDO_ERR_VALIDATION);
    assert_string_equal(err.message,
                        "price: Value 12345.6 has more than 6 digits "
                        "(max_digits=6, decimal_places=2)");
    coerce_fails(f, text("abc"), TDO_ERR_FIELD);
    coerce_fails(f, tdo_value_bool(false), TDO_ERR_FIELD);
}

static void test_text(void **state)
{
    const tdo_field *c = mkfield("name", TDO_F_CHAR, 0);
    const tdo_field *t = mkfield("bio", TDO_F_TEXT, 0);
    coerce_ok(c, text("héllo"), TDO_TEXT, "héllo");
    coerce_ok(c, tdo_value_int(5), TDO_TEXT, "5");
    coerce_ok(c, tdo_value_double(1.5), TDO_TEXT, "1.5");
    coerce_ok(t, tdo_value_double(5.0), TDO_TEXT, "5.0");
    coerce_ok(t, tdo_value_double(0.1), TDO_TEXT, "0.1");
    coerce_ok(t, tdo_value_double(1e100), TDO_TEXT, "1e+100");
    coerce_ok(t, dec("12.50"), TDO_TEXT, "12.50");
    coerce_ok(t, text(""), TDO_TEXT, "");
    coerce_fails(c, tdo_value_bool(true), TDO_ERR_FIELD);
    assert_string_equal(err.message,
                        "invalid value true (bool) for CharField 'name' on "
                        "model 'User': expected a string");
    const tdo_field *e = mkfield("role", TDO_F_CHARENUM, 0);
    coerce_ok(e, text("admin"), TDO_TEXT, "admin");
}

static void test_bool(void **state)
{
    const tdo_field *f = mkfield("is_active", TDO_F_BOOL, 0);
    coerce_ok(f, tdo_value_bool(true), TDO_BOOL, "true");
    coerce_ok(f, tdo_value_int(0), TDO_BOOL, "false");
    coerce_ok(f, tdo_value_int(1), TDO_BOOL, "true");
    coerce_ok(f, text("TRUE"), TDO_BOOL, "true");
    coerce_ok(f, text("0"), TDO_BOOL, "false");
    coerce_fails(f, tdo_value_int(2), TDO_ERR_FIELD);
    coerce_fails(f, text("yes please"), TDO_ERR_FIELD);
}

static void test_dates(void **state)
{
    const tdo_field *f = mkfield("created_at", TDO_F_DATETIME, 0);
    const tdo_field *d = mkfield("birthday", TDO_F_DATE, 0);
    const tdo_field *t = mkfield("opens", TDO_F_TIME, 0);
    coerce_ok(f, text("2026-11-25T10:15:35"), TDO_DATETIME,
              "2026-11-25T10:15:35");
    coerce_ok(f, text("2026-11-25 10:15:35.5+01:00"), TDO_DATETIME,
              "2026-11-25T10:15:35.500000+01:00");
    coerce_ok(f, dt(TDO_DATE, "2026-11-25"), TDO_DATETIME,
              "2026-11-25T00:00:00");
    coerce_ok(f, dt(TDO_DATETIME, "2026-01-02T03:04:05"), TDO_DATETIME,
              "2026-01-02T03:04:05");
    coerce_fails(f, text("yesterday"), TDO_ERR_FIELD);
    coerce_fails(f, tdo_value_int(5), TDO_ERR_FIELD);
    coerce_ok(d, text("2026-11-25"), TDO_DATE, "2026-11-25");
    coerce_ok(d, text("2026-11-25T10:00:00"), TDO_DATE, "2026-11-25");
    coerce_ok(d, dt(TDO_DATETIME, "2026-01-02T03:04:05"), TDO_DATE,
              "2026-01-02");
    coerce_fails(d, text("2026-13-01"), TDO_ERR_FIELD);
    coerce_ok(t, text("10:15"), TDO_TIME, "10:15:00");
    coerce_ok(t, dt(TDO_DATETIME, "2026-01-02T03:04:05"), TDO_TIME, "03:04:05");
    coerce_fails(t, dt(TDO_DATE, "2026-01-02"), TDO_ERR_FIELD);
}

static void test_misc_types(void **state)
{
    const tdo_field *u = mkfield("uid", TDO_F_UUID, 0);
    coerce_ok(u, text("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), TDO_UUID,
              "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    coerce_ok(u, text("6ba7b8109dad11d180b400c04fd430c8"), TDO_UUID,
              "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    coerce_fails(u, text("6ba7b810-9dad"), TDO_ERR_FIELD);
    coerce_fails(u, text("6ba7b810-9dad-11d1-80b4-00c04fd430cg"),
                 TDO_ERR_FIELD);

    const tdo_field *j = mkfield("data", TDO_F_JSON, 0);
    coerce_ok(j, text("{\"a\": 1}"), TDO_JSON, "{\"a\": 1}");
    coerce_ok(j, tdo_value_int(3), TDO_JSON, "3");
    coerce_ok(j, tdo_value_bool(false), TDO_JSON, "false");

    const tdo_field *b = mkfield("raw", TDO_F_BINARY, 0);
    coerce_ok(b, text("ab"), TDO_BLOB, "x'6162'");
    coerce_fails(b, tdo_value_int(1), TDO_ERR_FIELD);

    const tdo_field *td = mkfield("took", TDO_F_TIMEDELTA, 0);
    tdo_value us = tdo_value_int(30000000);
    tdo_value out;
    assert_int_equal(tdo_field_coerce(td, &us, &out, &err), TDO_OK);
    assert_int_equal(out.type, TDO_DURATION);
    assert_int_equal(out.u.us, 30000000);

    const tdo_field *fk = mkfield("owner", TDO_F_FK, 0);
    coerce_ok(fk, text("12"), TDO_INT, "12");
    coerce_fails(fk, text("x"), TDO_ERR_FIELD);
    const tdo_field *m2m = mkfield("tags", TDO_F_M2M, 0);
    coerce_fails(m2m, tdo_value_int(1), TDO_ERR_FIELD);
}

static void validate_fails(const tdo_field *f, tdo_value v, const char *msg)
{
    assert_int_equal(tdo_field_validate(f, &v, &err), TDO_ERR_VALIDATION);
    assert_string_equal(err.message, msg);
}

static void test_validate(void **state)
{
    const tdo_field *email = mkfield("email", TDO_F_CHAR, 0);
    const tdo_field *bio = mkfield("bio", TDO_F_TEXT, TDO_FIELD_NULL);
    tdo_value null = tdo_value_null();
    validate_fails(email, null, "email: Value must not be None");
    assert_int_equal(tdo_field_validate(bio, &null, &err), TDO_OK);

    tdo_value ok = text("ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "cd");
    assert_int_equal(tdo_field_validate(email, &ok, &err), TDO_OK); /* 10 */
    validate_fails(email, text("abcdefghijk"),
                   "email: Length of 'abcdefghijk' 11 > 10");

    const tdo_field *role = mkfield("role", TDO_F_CHARENUM, 0);
    tdo_value admin = text("admin");
    assert_int_equal(tdo_field_validate(role, &admin, &err), TDO_OK);
    validate_fails(role, text("boss"),
                   "role: 'boss' is not a valid value ('user', 'admin', "
                   "'editor')");
    const tdo_field *level = mkfield("level", TDO_F_INTENUM, 0);
    validate_fails(level, tdo_value_int(7),
                   "level: 7 is not a valid value (1, 2, 3)");

    const tdo_field *price = mkfield("price", TDO_F_DECIMAL, 0);
    tdo_value p = dec("9999.99");
    assert_int_equal(tdo_field_validate(price, &p, &err), TDO_OK);
    validate_fails(price, dec("10000.00"),
                   "price: Value 10000.00 has more than 6 digits "
                   "(max_digits=6, decimal_places=2)");

    /* a generated primary key may be NULL (the database makes it) */
    assert_int_equal(tdo_model_finish(model, &err), TDO_OK);
    assert_int_equal(tdo_field_validate(tdo_model_pk(model), &null, &err),
                     TDO_OK);
}

static void test_defaults_coerced(void **state)
{
    tdo_field_decl t = tdo_field_template("price", TDO_F_DECIMAL);
    t.max_digits = 8;
    t.decimal_places = 2;
    t.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    t.default_value = tdo_value_int(3);
    tdo_field *f = NULL;
    assert_int_equal(tdo_model_add_field(model, &t, &f, &err), TDO_OK);
    assert_int_equal(f->default_value.type, TDO_DECIMAL);
    char buf[48];
    tdo_decimal_format(&f->default_value.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "3.00");

    tdo_field_decl c = tdo_field_template("role", TDO_F_CHARENUM);
    tdo_value ev[2] = {text("user"), text("administrator")};
    c.enum_values = ev;
    c.n_enum = 2;
    c.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    c.default_value = text("user");
    assert_int_equal(tdo_model_add_field(model, &c, &f, &err), TDO_OK);
    assert_int_equal(f->max_length, 13); /* from the longest value */
    assert_true(f->default_value.owned);
    assert_string_equal(f->default_value.u.s.ptr, "user");

    tdo_field_decl bad = tdo_field_template("n", TDO_F_INT);
    bad.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    bad.default_value = text("many");
    assert_int_equal(tdo_model_add_field(model, &bad, &f, &err), TDO_ERR_FIELD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misc_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_coerced, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
