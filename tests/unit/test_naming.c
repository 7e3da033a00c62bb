/* test_naming.c -- the names introspection gives: models from tables,
 * fields from columns, reverse relations, clashes (orm/naming.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "tdo_int.h"

static void model_is(const char *table, const char *want)
{
    char *got = tdo_name_model(table, true);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("table '%s': model '%s', wanted '%s'", table, got, want);
    tdo_free(got);
}

static void test_model_names(void **state)
{
    model_is("order_lines", "OrderLine");
    model_is("categories", "Category");
    model_is("Album", "Album");
    model_is("InvoiceLine", "InvoiceLine");
    model_is("users", "User");
    model_is("address", "Address");   /* -ss: no plural */
    model_is("status", "Status");     /* -us */
    model_is("analysis", "Analysis"); /* -is */
    model_is("addresses", "Address");
    model_is("boxes", "Box");
    model_is("matches", "Match");
    model_is("wishes", "Wish");
    model_is("media_types", "MediaType");
    model_is("order items", "OrderItem");
    model_is("CATEGORIES", "CATEGORY");
    model_is("2fa_codes", "T2faCode");
    model_is("s", "S");
}

static void field_is(const char *column, bool fk, const char *want)
{
    char *got = tdo_name_field(column, fk);
    assert_non_null(got);
    assert_string_equal(got, want);
    tdo_free(got);
}

static void test_field_names(void **state)
{
    field_is("Name", false, "Name");
    field_is("created_at", false, "created_at");
    field_is("customer_id", true, "customer");
    field_is("AlbumId", true, "Album");
    field_is("customer_id", false, "customer_id"); /* not a key: as is */
    field_is("_id", true, "_id");                  /* nothing would be left */
    field_is("Id", true, "Id");
    field_is("parent", true, "parent");
}

static void reverse_is(const char *model, const char *by, const char *want)
{
    char *got = tdo_name_reverse(model, by);
    assert_non_null(got);
    assert_string_equal(got, want);
    tdo_free(got);
}

static void test_reverse_names(void **state)
{
    reverse_is("Track", NULL, "tracks");
    reverse_is("InvoiceLine", NULL, "invoice_lines");
    reverse_is("Category", NULL, "categories");
    reverse_is("Address", NULL, "addresses");
    reverse_is("Day", NULL, "days");
    reverse_is("HTTPLog", NULL, "http_logs");
    reverse_is("Employee", "ReportsTo", "employees_by_ReportsTo");
}

static void test_clashes(void **state)
{
    tdo_error err = TDO_ERROR_INIT;
    const char *tables[] = {"user", "users", "order_lines", "Order_Line",
                            "album"};
    char *names[5];
    assert_int_equal(tdo_name_models(tables, 5, names, &err), TDO_OK);
    /* user and users both want User: each keeps its own spelling */
    assert_string_equal(names[0], "User");
    assert_string_equal(names[1], "Users");
    /* order_lines and Order_Line: OrderLines and OrderLine */
    assert_string_equal(names[2], "OrderLines");
    assert_string_equal(names[3], "OrderLine");
    assert_string_equal(names[4], "Album");
    for (int i = 0; i < 5; i++)
        tdo_free(names[i]);

    /* names that stay the same get a number, in table order */
    const char *same[] = {"a-b", "a_b", "a b"};
    char *n3[3];
    assert_int_equal(tdo_name_models(same, 3, n3, &err), TDO_OK);
    assert_string_equal(n3[0], "AB");
    assert_string_equal(n3[1], "AB_2");
    assert_string_equal(n3[2], "AB_3");
    for (int i = 0; i < 3; i++)
        tdo_free(n3[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_names),
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_reverse_names),
        cmocka_unit_test(test_clashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
