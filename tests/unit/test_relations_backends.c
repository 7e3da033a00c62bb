/*
 * test_relations_backends.c -- the end-to-end relation tests of
 * test_relations.c on real servers: PostgreSQL at TESTUDO_PG_URL and
 * MySQL/MariaDB at TESTUDO_MYSQL_URL (each skipped when unset).
 */
#define TEST_RELATIONS_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_relations.c"

static void test_postgres(void **state)
{
    const char *url = getenv("TESTUDO_PG_URL");
    if (!url || !*url)
        skip();
    end_to_end(url);
}

static void test_mysql(void **state)
{
    const char *url = getenv("TESTUDO_MYSQL_URL");
    if (!url || !*url)
        skip();
    end_to_end(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres),
        cmocka_unit_test(test_mysql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
