/*
 * test_alloc.c -- allocation-failure loops: fail the Nth allocation for
 * N = 1, 2, ... until a run completes untouched; each run must fail
 * cleanly with TDO_ERR_NOMEM (or succeed where a failure only degrades,
 * such as the statement cache) and leak nothing (ASan checks leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdo_int.h"

/* Declares an abstract mixin, two models with a relation, a default and
 * indexes, then resolves. */
static tdo_status declare(tdo_ctx *ctx, tdo_error *err)
{
    tdo_model *mix, *user, *order;
    tdo_status st;
    if ((st = tdo_model_new(ctx, "models", "Mixin", &mix, err)))
        return st;
    tdo_model_set_abstract(mix, true);
    tdo_field_decl t = tdo_field_template("created_at", TDO_F_DATETIME);
    t.flags = TDO_FIELD_AUTO_NOW_ADD;
    t.description = "created";
    if ((st = tdo_model_add_field(mix, &t, NULL, err)))
        return st;
    const char *ix[] = {"created_at"};
    if ((st = tdo_model_add_index(mix, ix, 1, false, err)) ||
        (st = tdo_model_finish(mix, err)))
        return st;

    if ((st = tdo_model_new(ctx, "models", "User", &user, err)) ||
        (st = tdo_model_inherit(user, mix, err)) ||
        (st = tdo_model_set_table(user, "users", err)) ||
        (st = tdo_model_set_description(user, "people", err)))
        return st;
    t = tdo_field_template("email", TDO_F_CHAR);
    t.max_length = 255;
    t.flags = TDO_FIELD_UNIQUE;
    if ((st = tdo_model_add_field(user, &t, NULL, err)))
        return st;
    t = tdo_field_template("role", TDO_F_CHARENUM);
    tdo_value ev[2] = {tdo_value_text("user", 4), tdo_value_text("admin", 5)};
    t.enum_values = ev;
    t.n_enum = 2;
    t.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    t.default_value = tdo_value_text("user", 4);
    if ((st = tdo_model_add_field(user, &t, NULL, err)))
        return st;
    const char *ut[] = {"email", "role"};
    if ((st = tdo_model_add_index(user, ut, 2, true, err)) ||
        (st = tdo_model_finish(user, err)))
        return st;

    if ((st = tdo_model_new(ctx, "shop", "Order", &order, err)))
        return st;
    t = tdo_field_template("customer", TDO_F_FK);
    t.related_ref = "models.User";
    t.related_name = "orders";
    if ((st = tdo_model_add_field(order, &t, NULL, err)))
        return st;
    t = tdo_field_template("total", TDO_F_DECIMAL);
    t.max_digits = 10;
    t.decimal_places = 2;
    t.flags = TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
    t.default_value = tdo_value_text("0", 1);
    if ((st = tdo_model_add_field(order, &t, NULL, err)) ||
        (st = tdo_model_finish(order, err)))
        return st;
    tdo_model_detach(order); /* redefine it */
    if ((st = tdo_model_new(ctx, "shop", "Order", &order, err)))
        return st;
    t = tdo_field_template("customer", TDO_F_FK);
    t.related_ref = "models.User";
    if ((st = tdo_model_add_field(order, &t, NULL, err)) ||
        (st = tdo_model_finish(order, err)))
        return st;
    return tdo_ctx_resolve(ctx, err);
}

static void test_declare_oom(void **state)
{
    long n;
    for (n = 1;; n++) {
        tdo_error err = TDO_ERROR_INIT;
        tdo_test_fail_alloc_after(n);
        tdo_ctx *ctx = tdo_ctx_new();
        tdo_status st = ctx ? declare(ctx, &err) : TDO_ERR_NOMEM;
        bool failed = tdo_test_alloc_failed();
        tdo_test_fail_alloc_after(0);
        if (failed) {
            if (st != TDO_ERR_NOMEM)
                fail_msg("allocation %ld: status %s (%s)", n,
                         tdo_status_name(st), err.message ? err.message : "");
        } else {
            assert_int_equal(st, TDO_OK);
            assert_int_equal(tdo_ctx_nmodels(ctx), 3);
        }
        tdo_ctx_free(ctx);
        tdo_error_release(&err);
        if (!failed)
            break;
    }
    assert_true(n > 20);
}

/* Connects, creates the tables, inserts, queries and runs a transaction. */
static tdo_status use_db(tdo_ctx *ctx, tdo_error *err)
{
    tdo_conn *c;
    tdo_status st;
    if ((st = tdo_connect(ctx, "default",
                          "sqlite://:memory:?journal_mode=memory", &c, err)) ||
        (st = tdo_generate_schemas(ctx, c, true, err)))
        return st;
    tdo_model *user = tdo_ctx_model(ctx, "models", "User");
    const tdo_field *fields[] = {tdo_model_field_by_name(user, "email"),
                                 tdo_model_field_by_name(user, "role"),
                                 tdo_model_field_by_name(user, "created_at")};
    tdo_value in[3] = {tdo_value_text("a@b", 3), tdo_value_text("admin", 5),
                       tdo_value_text("2026-11-25 10:00", 16)};
    tdo_value vals[3] = {tdo_value_null(), tdo_value_null(), tdo_value_null()},
              pk;
    for (int i = 0; i < 3 && !st; i++)
        st = tdo_field_coerce(fields[i], &in[i], &vals[i], err);
    if (!st && !(st = tdo_conn_begin(c, err)) &&
        !(st = tdo_insert(c, user, fields, 3, vals, 1, false, &pk, err))) {
        tdo_value_release(&pk);
        st = tdo_conn_commit(c, err);
    }
    for (int i = 0; i < 3; i++)
        tdo_value_release(&vals[i]);
    if (st)
        return st;
    tdo_query *q = tdo_query_new(user), *qo = NULL, *qf = NULL;
    /* a partial query (only) filtered by a date part */
    const char *only[] = {"email"};
    tdo_value year = tdo_value_int(2026);
    tdo_qnode *cond = tdo_q_lookup("created_at__year", &year, 1);
    if (!q || !cond) {
        tdo_query_free(q);
        tdo_qnode_free(cond);
        return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    }
    int64_t n = 0;
    tdo_rows *r = NULL;
    bool has;
    tdo_value v;
    if (!(st = tdo_query_only(q, only, 1, &qo, err)) &&
        !(st = tdo_query_filter(qo, cond, &qf, err)) &&
        !(st = tdo_query_count(c, qf, &n, err)) &&
        !(st = tdo_query_run(c, qf, &r, err)) &&
        !(st = tdo_rows_next(r, &has, err)))
        st = tdo_rows_get(r, 1, &v, err);
    if (!st && (n != 1 || !has))
        st = tdo_error_set(err, TDO_ERR_BASE, "expected one row");
    tdo_rows_free(r);
    tdo_qnode_free(cond);
    tdo_query_free(qf);
    tdo_query_free(qo);
    tdo_query_free(q);
    return st;
}

static void test_db_oom(void **state)
{
    long n;
    for (n = 1;; n++) {
        tdo_error err = TDO_ERROR_INIT;
        tdo_ctx *ctx = tdo_ctx_new();
        assert_non_null(ctx);
        assert_int_equal(declare(ctx, &err), TDO_OK);
        tdo_test_fail_alloc_after(n);
        tdo_status st = use_db(ctx, &err);
        bool failed = tdo_test_alloc_failed();
        tdo_test_fail_alloc_after(0);
        if (failed && st && st != TDO_ERR_NOMEM)
            fail_msg("allocation %ld: status %s (%s)\n", n, tdo_status_name(st),
                     err.message ? err.message : "");
        if (!failed)
            assert_int_equal(st, TDO_OK);
        tdo_ctx_free(ctx);
        tdo_error_release(&err);
        if (!failed)
            break;
    }
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declare_oom),
        cmocka_unit_test(test_db_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
