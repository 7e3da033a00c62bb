/* test_dlib.c -- client libraries loaded on first use (dlib.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tdo_int.h"

static const char *const libm_names[] = {"cos", "sqrt"};

/* A library that is there: each name resolves, in order; loading again
 * is a no-op. */
static void test_loads_and_resolves(void **state)
{
    (void)state;
    void *fns[2] = {NULL, NULL};
    tdo_dlib lib = {"libm.so.6", "maths", "libc6", libm_names, fns, 2, false};
    tdo_error err = TDO_ERROR_INIT;
    assert_int_equal(tdo_dlib_load(&lib, &err), TDO_OK);
    assert_true(lib.loaded);
    double (*my_sqrt)(double) = (double (*)(double))fns[1];
    assert_true(my_sqrt(16.0) == 4.0);
    fns[0] = NULL;
    assert_int_equal(tdo_dlib_load(&lib, &err), TDO_OK);
    assert_null(fns[0]); /* not resolved twice */
}

/* A library that is missing: OperationalError naming it and the package
 * to install; nothing marked loaded, so a later try tries again. */
static void test_missing_library(void **state)
{
    (void)state;
    void *fns[2] = {NULL, NULL};
    tdo_dlib lib = {"libtestudo-nonexistent.so.9",
                    "PostgreSQL support",
                    "libpq5",
                    libm_names,
                    fns,
                    2,
                    false};
    tdo_error err = TDO_ERROR_INIT;
    assert_int_equal(tdo_dlib_load(&lib, &err), TDO_ERR_OPERATIONAL);
    assert_non_null(strstr(err.message, "PostgreSQL support needs "
                                        "libtestudo-nonexistent.so.9"));
    assert_non_null(strstr(err.message, "install the libpq5 package"));
    assert_false(lib.loaded);
    tdo_error_release(&err);
}

/* A library without one of the functions: says which. */
static void test_missing_function(void **state)
{
    (void)state;
    static const char *const names[] = {"cos", "tdo_no_such_function"};
    void *fns[2] = {NULL, NULL};
    tdo_dlib lib = {"libm.so.6", "maths", "libc6", names, fns, 2, false};
    tdo_error err = TDO_ERROR_INIT;
    assert_int_equal(tdo_dlib_load(&lib, &err), TDO_ERR_OPERATIONAL);
    assert_non_null(strstr(err.message, "no function tdo_no_such_function"));
    assert_false(lib.loaded);
    tdo_error_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_and_resolves),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
