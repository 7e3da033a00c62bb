/*
 * test_relations.c -- relations in the core: the registry's forward and
 * reverse relations (Tortoise's default names, through tables, clashes),
 * the SQL of paths through relations per dialect (joins, join types,
 * distinct, count, annotations with GROUP BY / HAVING, select_related,
 * update/delete across relations), the DDL of through tables, and an
 * end-to-end run on SQLite (m2m add/remove, aggregates).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_model *user, *profile, *category, *tag, *product, *order, *line;
static tdo_error err;
static const tdo_dialect *dl[3];  /* sqlite, postgres, mysql */
static tdo_dialect sqlite_filter; /* sqlite with TDO_DF_AGG_FILTER */

#define CHECK(call)                                                            \
    do {                                                                       \
        tdo_status st_ = (call);                                               \
        if (st_)                                                               \
            fail_msg("%s: %s: %s", #call, tdo_status_name(st_),                \
                     err.message ? err.message : "");                          \
    } while (0)

/* ---- fixture: the shop of the reference document ----------------------- */

static tdo_field_decl fld(const char *name, tdo_field_type t, unsigned flags)
{
    tdo_field_decl f = tdo_field_template(name, t);
    f.flags |= flags;
    return f;
}

static void add(tdo_model *m, tdo_field_decl f)
{
    CHECK(tdo_model_add_field(m, &f, NULL, &err));
}

static tdo_field_decl chr(const char *name, int len, unsigned flags)
{
    tdo_field_decl f = fld(name, TDO_F_CHAR, flags);
    f.max_length = len;
    return f;
}

static tdo_field_decl dec(const char *name)
{
    tdo_field_decl f = fld(name, TDO_F_DECIMAL, 0);
    f.max_digits = 10;
    f.decimal_places = 2;
    return f;
}

static tdo_field_decl rel(const char *name, tdo_field_type t, const char *ref,
                          const char *related_name, unsigned flags)
{
    tdo_field_decl f = fld(name, t, flags);
    f.related_ref = ref;
    f.related_name = related_name;
    return f;
}

static tdo_model *model(tdo_ctx *c, const char *name, const char *table)
{
    tdo_model *m = NULL;
    CHECK(tdo_model_new(c, "models", name, &m, &err));
    if (table)
        CHECK(tdo_model_set_table(m, table, &err));
    return m;
}

static tdo_ctx *shop(void)
{
    tdo_ctx *c = tdo_ctx_new();
    assert_non_null(c);
    user = model(c, "User", "users");
    add(user, chr("email", 255, TDO_FIELD_UNIQUE));
    add(user, fld("is_active", TDO_F_BOOL, 0));
    CHECK(tdo_model_finish(user, &err));
    profile = model(c, "Profile", "profiles");
    add(profile, rel("user", TDO_F_O2O, "models.User", "profile", 0));
    add(profile, fld("bio", TDO_F_TEXT, TDO_FIELD_NULL));
    CHECK(tdo_model_finish(profile, &err));
    category = model(c, "Category", "categories");
    add(category, chr("name", 100, TDO_FIELD_UNIQUE));
    tdo_field_decl parent =
        rel("parent", TDO_F_FK, "models.Category", "children", TDO_FIELD_NULL);
    parent.on_delete = TDO_SET_NULL;
    add(category, parent);
    CHECK(tdo_model_finish(category, &err));
    tag = model(c, "Tag", "tags");
    add(tag, chr("name", 50, TDO_FIELD_UNIQUE));
    CHECK(tdo_model_finish(tag, &err));
    product = model(c, "Product", "products");
    add(product, chr("name", 255, 0));
    add(product, dec("price"));
    add(product, fld("stock", TDO_F_INT, 0));
    tdo_field_decl cat =
        rel("category", TDO_F_FK, "models.Category", "products", 0);
    cat.on_delete = TDO_RESTRICT;
    add(product, cat);
    add(product, rel("tags", TDO_F_M2M, "models.Tag", "products", 0));
    CHECK(tdo_model_finish(product, &err));
    order = model(c, "Order", "order"); /* a reserved word */
    add(order, rel("customer", TDO_F_FK, "models.User", "orders", 0));
    add(order, chr("status", 20, 0));
    add(order, dec("total"));
    CHECK(tdo_model_finish(order, &err));
    line = model(c, "OrderLine", "order_lines");
    add(line, rel("order", TDO_F_FK, "models.Order", "lines", 0));
    add(line, rel("product", TDO_F_FK, "models.Product", "order_lines", 0));
    add(line, fld("quantity", TDO_F_INT, 0));
    add(line, dec("unit_price"));
    CHECK(tdo_model_finish(line, &err));
    CHECK(tdo_ctx_resolve(c, &err));
    return c;
}

static int setup(void **state)
{
    tdo_error_init(&err);
    dl[0] = tdo_dialect_by_name("sqlite");
    dl[1] = tdo_dialect_by_name("postgres");
    dl[2] = tdo_dialect_by_name("mysql");
    sqlite_filter = *dl[0];
    sqlite_filter.features |= TDO_DF_AGG_FILTER;
    ctx = shop();
    return 0;
}

static int teardown(void **state)
{
    tdo_ctx_free(ctx);
    tdo_error_release(&err);
    return 0;
}

/* ---- builders: each consumes its query and node arguments ------------ */

static tdo_value T(const char *s)
{
    return tdo_value_text(s, strlen(s));
}
static tdo_value I(int64_t i)
{
    return tdo_value_int(i);
}

static tdo_qnode *L(const char *key, tdo_value v)
{
    return tdo_q_lookup(key, &v, 1);
}

static tdo_query *step(tdo_status st, tdo_query *old, tdo_query *nq)
{
    if (st)
        fail_msg("query building failed: %s", err.message);
    tdo_query_free(old);
    return nq;
}

static tdo_query *flt(tdo_query *q, tdo_qnode *c)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_filter(q, c, &nq, &err);
    tdo_qnode_free(c);
    return step(st, q, nq);
}

static tdo_query *exc(tdo_query *q, tdo_qnode *c)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_exclude(q, c, &nq, &err);
    tdo_qnode_free(c);
    return step(st, q, nq);
}

static tdo_query *ord(tdo_query *q, const char *key)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_order_by(q, &key, 1, &nq, &err);
    return step(st, q, nq);
}

static tdo_query *dist(tdo_query *q)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_distinct(q, &nq, &err);
    return step(st, q, nq);
}

static tdo_query *lim(tdo_query *q, int64_t n)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_limit(q, n, &nq, &err);
    return step(st, q, nq);
}

static tdo_query *vals(tdo_query *q, tdo_projection kind, int n, ...)
{
    const char *names[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        names[i] = va_arg(ap, const char *);
    va_end(ap);
    tdo_query *nq = NULL;
    tdo_status st =
        tdo_query_values(q, kind, names, NULL, (size_t)n, &nq, &err);
    return step(st, q, nq);
}

static tdo_query *ann(tdo_query *q, const char *name, tdo_expr *e)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_annotate(q, name, e, &nq, &err);
    tdo_expr_free(e);
    return step(st, q, nq);
}

static tdo_query *grp(tdo_query *q, const char *key)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_group_by(q, &key, 1, &nq, &err);
    return step(st, q, nq);
}

static tdo_query *selrel(tdo_query *q, const char *path)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_select_related(q, &path, 1, &nq, &err);
    return step(st, q, nq);
}

static tdo_expr *fn1(tdo_func f, const char *arg, bool distinct,
                     tdo_qnode *filter)
{
    tdo_expr *a = tdo_expr_field(arg);
    return tdo_expr_func(f, &a, 1, distinct, filter);
}

static tdo_query *Q(tdo_model *m)
{
    return tdo_query_new(m);
}

/* ---- comparing ---------------------------------------------------------- */

static char *params_text(const tdo_compiled *c)
{
    tdo_sb sb = TDO_SB_INIT;
    for (size_t i = 0; i < tdo_compiled_nparams(c); i++) {
        if (i)
            tdo_sb_adds(&sb, ", ");
        tdo_value_format(&sb, &tdo_compiled_params(c)[i], true);
    }
    return tdo_sb_detach(&sb);
}

#define SEL TDO_STMT_SELECT
#define CNT TDO_STMT_COUNT
#define UPD TDO_STMT_UPDATE
#define DEL TDO_STMT_DELETE
#define SQ  0 /* sqlite */
#define PG  1
#define MY  2
#define SF  3 /* sqlite with FILTER */

#define OCOLS                                                                  \
    "\"order\".\"id\",\"order\".\"customer_id\",\"order\".\"status\","         \
    "\"order\".\"total\""
#define UCOLS "\"users\".\"id\",\"users\".\"email\",\"users\".\"is_active\""
#define UGRP  " GROUP BY " UCOLS
#define PCOLS                                                                  \
    "\"products\".\"id\",\"products\".\"name\",\"products\".\"price\","        \
    "\"products\".\"stock\",\"products\".\"category_id\""
#define PTAGS                                                                  \
    " INNER JOIN \"products_tags\" \"T1\" ON "                                 \
    "\"T1\".\"products_id\"=\"products\".\"id\" INNER JOIN \"tags\" \"T2\" "   \
    "ON \"T2\".\"id\"=\"T1\".\"tag_id\""
#define UORD                                                                   \
    " LEFT OUTER JOIN \"order\" \"T1\" ON "                                    \
    "\"T1\".\"customer_id\"=\"users\".\"id\""

/* X(name, query, kind, dialect, sql, params) */
#define CASES(X)                                                               \
    X(fk_path, flt(Q(order), L("customer__email", T("a@b"))), SEL, SQ,         \
      "SELECT " OCOLS " FROM \"order\" INNER JOIN \"users\" \"T1\" ON "        \
      "\"T1\".\"id\"=\"order\".\"customer_id\" WHERE \"T1\".\"email\"=?",      \
      "'a@b'")                                                                 \
    X(fk_path_pg, flt(Q(order), L("customer__email__icontains", T("A"))), SEL, \
      PG,                                                                      \
      "SELECT " OCOLS " FROM \"order\" INNER JOIN \"users\" \"T1\" ON "        \
      "\"T1\".\"id\"=\"order\".\"customer_id\" WHERE \"T1\".\"email\" ILIKE "  \
      "$1 ESCAPE '\\'",                                                        \
      "'%A%'")                                                                 \
    X(fk_pk_no_join, flt(Q(order), L("customer__id", I(3))), SEL, SQ,          \
      "SELECT \"id\",\"customer_id\",\"status\",\"total\" FROM \"order\" "     \
      "WHERE \"customer_id\"=?",                                               \
      "3")                                                                     \
    X(fk_in,                                                                   \
      flt(Q(order),                                                            \
          tdo_q_lookup("customer__in", (tdo_value[]){I(1), I(2)}, 2)),         \
      SEL, SQ,                                                                 \
      "SELECT \"id\",\"customer_id\",\"status\",\"total\" FROM \"order\" "     \
      "WHERE \"customer_id\" IN (?,?)",                                        \
      "1, 2")                                                                  \
    X(m2m_distinct, dist(flt(Q(product), L("tags__name", T("python")))), SEL,  \
      SQ,                                                                      \
      "SELECT DISTINCT " PCOLS " FROM \"products\"" PTAGS                      \
      " WHERE \"T2\".\"name\"=?",                                              \
      "'python'")                                                              \
    X(m2m_count_distinct, dist(flt(Q(product), L("tags__name", T("python")))), \
      CNT, SQ,                                                                 \
      "SELECT COUNT(*) FROM (SELECT DISTINCT \"products\".\"id\" AS \"c0\","   \
      "\"products\".\"name\" AS \"c1\",\"products\".\"price\" AS \"c2\","      \
      "\"products\".\"stock\" AS \"c3\",\"products\".\"category_id\" AS "      \
      "\"c4\" FROM \"products\"" PTAGS " WHERE \"T2\".\"name\"=?) AS \"sub\"", \
      "'python'")                                                              \
    X(m2m_count_plain, flt(Q(product), L("tags__name", T("python"))), CNT, SQ, \
      "SELECT COUNT(*) FROM \"products\"" PTAGS " WHERE \"T2\".\"name\"=?",    \
      "'python'")                                                              \
    X(reverse_fk, flt(Q(user), L("orders__status", T("paid"))), SEL, MY,       \
      "SELECT `users`.`id`,`users`.`email`,`users`.`is_active` FROM `users` "  \
      "INNER JOIN `order` `T1` ON `T1`.`customer_id`=`users`.`id` WHERE "      \
      "`T1`.`status`=?",                                                       \
      "'paid'")                                                                \
    X(reverse_m2m,                                                             \
      flt(Q(tag),                                                              \
          tdo_q_lookup("products__id__in", (tdo_value[]){I(1), I(2)}, 2)),     \
      SEL, PG,                                                                 \
      "SELECT \"tags\".\"id\",\"tags\".\"name\" FROM \"tags\" INNER JOIN "     \
      "\"products_tags\" \"T1\" ON \"T1\".\"tag_id\"=\"tags\".\"id\" INNER "   \
      "JOIN \"products\" \"T2\" ON \"T2\".\"id\"=\"T1\".\"products_id\" "      \
      "WHERE \"T2\".\"id\" IN ($1,$2)",                                        \
      "1, 2")                                                                  \
    X(deep_path, flt(Q(order), L("lines__product__category__name", T("c"))),   \
      SEL, SQ,                                                                 \
      "SELECT " OCOLS " FROM \"order\" INNER JOIN \"order_lines\" \"T1\" ON "  \
      "\"T1\".\"order_id\"=\"order\".\"id\" INNER JOIN \"products\" \"T2\" "   \
      "ON \"T2\".\"id\"=\"T1\".\"product_id\" INNER JOIN \"categories\" "      \
      "\"T3\" ON \"T3\".\"id\"=\"T2\".\"category_id\" WHERE "                  \
      "\"T3\".\"name\"=?",                                                     \
      "'c'")                                                                   \
    X(one_join_per_path,                                                       \
      flt(flt(Q(order), L("customer__email", T("a"))),                         \
          L("customer__is_active", tdo_value_bool(true))),                     \
      SEL, SQ,                                                                 \
      "SELECT " OCOLS " FROM \"order\" INNER JOIN \"users\" \"T1\" ON "        \
      "\"T1\".\"id\"=\"order\".\"customer_id\" WHERE \"T1\".\"email\"=? AND "  \
      "\"T1\".\"is_active\"=?",                                                \
      "'a', true")                                                             \
    X(self_order_left, ord(Q(category), "-parent__name"), SEL, SQ,             \
      "SELECT \"categories\".\"id\",\"categories\".\"name\","                  \
      "\"categories\".\"parent_id\" FROM \"categories\" LEFT OUTER JOIN "      \
      "\"categories\" \"T1\" ON \"T1\".\"id\"=\"categories\".\"parent_id\" "   \
      "ORDER BY \"T1\".\"name\" DESC",                                         \
      "")                                                                      \
    X(nullable_or_left,                                                        \
      flt(Q(category),                                                         \
          tdo_q_or(L("parent__name", T("a")), L("name", T("b")))),             \
      SEL, SQ,                                                                 \
      "SELECT \"categories\".\"id\",\"categories\".\"name\","                  \
      "\"categories\".\"parent_id\" FROM \"categories\" LEFT OUTER JOIN "      \
      "\"categories\" \"T1\" ON \"T1\".\"id\"=\"categories\".\"parent_id\" "   \
      "WHERE \"T1\".\"name\"=? OR \"categories\".\"name\"=?",                  \
      "'a', 'b'")                                                              \
    X(isnull_path_left,                                                        \
      flt(Q(user), L("profile__bio__isnull", tdo_value_bool(true))), SEL, SQ,  \
      "SELECT " UCOLS " FROM \"users\" LEFT OUTER JOIN \"profiles\" \"T1\" "   \
      "ON \"T1\".\"user_id\"=\"users\".\"id\" WHERE \"T1\".\"bio\" IS NULL",   \
      "")                                                                      \
    X(values_paths,                                                            \
      vals(Q(order), TDO_PROJ_VALUES, 3, "id", "customer__email",              \
           "lines__quantity"),                                                 \
      SEL, SQ,                                                                 \
      "SELECT \"order\".\"id\",\"T1\".\"email\",\"T2\".\"quantity\" FROM "     \
      "\"order\" INNER JOIN \"users\" \"T1\" ON "                              \
      "\"T1\".\"id\"=\"order\".\"customer_id\" LEFT OUTER JOIN "               \
      "\"order_lines\" \"T2\" ON \"T2\".\"order_id\"=\"order\".\"id\"",        \
      "")                                                                      \
    X(exclude_to_many, exc(Q(user), L("orders__status", T("paid"))), SEL, SQ,  \
      "SELECT " UCOLS " FROM \"users\" WHERE NOT (\"users\".\"id\" IN "        \
      "(SELECT \"T1\".\"id\" FROM \"users\" \"T1\" INNER JOIN \"order\" "      \
      "\"T2\" ON \"T2\".\"customer_id\"=\"T1\".\"id\" WHERE "                  \
      "\"T2\".\"status\"=?))",                                                 \
      "'paid'")                                                                \
    X(annotate_count,                                                          \
      ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)), SEL, SQ,    \
      "SELECT " UCOLS                                                          \
      ",COUNT(\"T1\".\"id\") AS \"n\" FROM \"users\"" UORD UGRP,               \
      "")                                                                      \
    X(annotate_having,                                                         \
      flt(ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)),         \
          L("n__gte", I(5))),                                                  \
      SEL, PG,                                                                 \
      "SELECT " UCOLS                                                          \
      ",COUNT(\"T1\".\"id\") AS \"n\" FROM \"users\"" UORD UGRP                \
      " HAVING COUNT(\"T1\".\"id\")>=$1",                                      \
      "5")                                                                     \
    X(annotate_having_where,                                                   \
      flt(flt(ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)),     \
              L("n__gte", I(5))),                                              \
          L("is_active", tdo_value_bool(true))),                               \
      SEL, SQ,                                                                 \
      "SELECT " UCOLS ",COUNT(\"T1\".\"id\") AS \"n\" FROM \"users\"" UORD     \
      " WHERE \"users\".\"is_active\"=?" UGRP " HAVING "                       \
      "COUNT(\"T1\".\"id\")>=?",                                               \
      "true, 5")                                                               \
    X(annotate_count_rows,                                                     \
      flt(ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)),         \
          L("n__gte", I(5))),                                                  \
      CNT, SQ,                                                                 \
      "SELECT COUNT(*) FROM (SELECT \"users\".\"id\" AS \"c0\","               \
      "\"users\".\"email\" AS \"c1\",\"users\".\"is_active\" AS \"c2\","       \
      "COUNT(\"T1\".\"id\") AS \"c3\" FROM \"users\"" UORD UGRP " HAVING "     \
      "COUNT(\"T1\".\"id\")>=?) AS \"sub\"",                                   \
      "5")                                                                     \
    X(annotate_values_order,                                                   \
      ord(vals(ann(Q(user), "total",                                           \
                   fn1(TDO_FN_SUM, "orders__total", false, NULL)),             \
               TDO_PROJ_VALUES, 2, "email", "total"),                          \
          "-total"),                                                           \
      SEL, SQ,                                                                 \
      "SELECT \"users\".\"email\",SUM(\"T1\".\"total\") AS \"total\" FROM "    \
      "\"users\"" UORD UGRP " ORDER BY SUM(\"T1\".\"total\") DESC",            \
      "")                                                                      \
    X(count_filter_case,                                                       \
      ann(Q(user), "n",                                                        \
          fn1(TDO_FN_COUNT, "orders", true, L("orders__status", T("paid")))),  \
      SEL, MY,                                                                 \
      "SELECT `users`.`id`,`users`.`email`,`users`.`is_active`,COUNT("         \
      "DISTINCT CASE WHEN `T1`.`status`=? THEN `T1`.`id` END) AS `n` FROM "    \
      "`users` LEFT OUTER JOIN `order` `T1` ON "                               \
      "`T1`.`customer_id`=`users`.`id` GROUP BY `users`.`id`,`users`.`email`," \
      "`users`.`is_active`",                                                   \
      "'paid'")                                                                \
    X(count_filter_clause,                                                     \
      ann(Q(user), "n",                                                        \
          fn1(TDO_FN_COUNT, "orders", false, L("orders__status", T("paid")))), \
      SEL, SF,                                                                 \
      "SELECT " UCOLS ",COUNT(\"T1\".\"id\") FILTER (WHERE "                   \
      "\"T1\".\"status\"=?) AS \"n\" FROM \"users\"" UORD UGRP,                \
      "'paid'")                                                                \
    X(group_by_values,                                                         \
      vals(grp(ann(Q(order), "n", fn1(TDO_FN_COUNT, "id", false, NULL)),       \
               "status"),                                                      \
           TDO_PROJ_VALUES, 2, "status", "n"),                                 \
      SEL, SQ,                                                                 \
      "SELECT \"status\",COUNT(\"id\") AS \"n\" FROM \"order\" GROUP BY "      \
      "\"status\"",                                                            \
      "")                                                                      \
    X(aggregate_only,                                                          \
      vals(ann(Q(order), "n", fn1(TDO_FN_MAX, "total", false, NULL)),          \
           TDO_PROJ_VALUES, 1, "n"),                                           \
      SEL, SQ, "SELECT MAX(\"total\") AS \"n\" FROM \"order\"", "")            \
    X(annotate_path_column,                                                    \
      ann(flt(Q(tag),                                                          \
              tdo_q_lookup("products__id__in", (tdo_value[]){I(7)}, 1)),       \
          "pid", tdo_expr_field("products__id")),                              \
      SEL, SQ,                                                                 \
      "SELECT \"tags\".\"id\",\"tags\".\"name\",\"T2\".\"id\" AS \"pid\" "     \
      "FROM \"tags\" INNER JOIN \"products_tags\" \"T1\" ON "                  \
      "\"T1\".\"tag_id\"=\"tags\".\"id\" INNER JOIN \"products\" \"T2\" ON "   \
      "\"T2\".\"id\"=\"T1\".\"products_id\" WHERE \"T2\".\"id\" IN (?)",       \
      "7")                                                                     \
    X(functions_sqlite,                                                        \
      vals(ann(ann(Q(user), "e", fn1(TDO_FN_UPPER, "email", false, NULL)),     \
               "l", fn1(TDO_FN_LENGTH, "email", false, NULL)),                 \
           TDO_PROJ_VALUES, 2, "e", "l"),                                      \
      SEL, SQ,                                                                 \
      "SELECT UPPER(\"email\") AS \"e\",LENGTH(\"email\") AS \"l\" FROM "      \
      "\"users\"",                                                             \
      "")                                                                      \
    X(select_related, selrel(Q(line), "order__customer"), SEL, SQ,             \
      "SELECT \"order_lines\".\"id\",\"order_lines\".\"order_id\","            \
      "\"order_lines\".\"product_id\",\"order_lines\".\"quantity\","           \
      "\"order_lines\".\"unit_price\",\"T1\".\"id\",\"T1\".\"customer_id\","   \
      "\"T1\".\"status\",\"T1\".\"total\",\"T2\".\"id\",\"T2\".\"email\","     \
      "\"T2\".\"is_active\" FROM \"order_lines\" INNER JOIN \"order\" "        \
      "\"T1\" ON \"T1\".\"id\"=\"order_lines\".\"order_id\" INNER JOIN "       \
      "\"users\" \"T2\" ON \"T2\".\"id\"=\"T1\".\"customer_id\"",              \
      "")                                                                      \
    X(select_related_nullable, selrel(Q(category), "parent"), SEL, PG,         \
      "SELECT \"categories\".\"id\",\"categories\".\"name\","                  \
      "\"categories\".\"parent_id\",\"T1\".\"id\",\"T1\".\"name\","            \
      "\"T1\".\"parent_id\" FROM \"categories\" LEFT OUTER JOIN "              \
      "\"categories\" \"T1\" ON \"T1\".\"id\"=\"categories\".\"parent_id\"",   \
      "")                                                                      \
    X(update_across_sqlite, flt(Q(order), L("customer__email", T("a"))), UPD,  \
      SQ,                                                                      \
      "UPDATE \"order\" SET \"status\"=? WHERE \"id\" IN (SELECT "             \
      "\"order\".\"id\" FROM \"order\" INNER JOIN \"users\" \"T1\" ON "        \
      "\"T1\".\"id\"=\"order\".\"customer_id\" WHERE \"T1\".\"email\"=?)",     \
      "'x', 'a'")                                                              \
    X(update_across_pg, flt(Q(order), L("customer__email", T("a"))), UPD, PG,  \
      "UPDATE \"order\" SET \"status\"=$1 WHERE \"id\" IN (SELECT "            \
      "\"order\".\"id\" FROM \"order\" INNER JOIN \"users\" \"T1\" ON "        \
      "\"T1\".\"id\"=\"order\".\"customer_id\" WHERE \"T1\".\"email\"=$2)",    \
      "'x', 'a'")                                                              \
    X(update_across_mysql, flt(Q(order), L("customer__email", T("a"))), UPD,   \
      MY,                                                                      \
      "UPDATE `order` SET `status`=? WHERE `id` IN (SELECT `id` FROM (SELECT " \
      "DISTINCT `order`.`id` FROM `order` INNER JOIN `users` `T1` ON "         \
      "`T1`.`id`=`order`.`customer_id` WHERE `T1`.`email`=?) AS `sub`)",       \
      "'x', 'a'")                                                              \
    X(delete_m2m_mysql, flt(Q(product), L("tags__name", T("a"))), DEL, MY,     \
      "DELETE FROM `products` WHERE `id` IN (SELECT `id` FROM (SELECT "        \
      "DISTINCT `products`.`id` FROM `products` INNER JOIN `products_tags` "   \
      "`T1` ON `T1`.`products_id`=`products`.`id` INNER JOIN `tags` `T2` ON "  \
      "`T2`.`id`=`T1`.`tag_id` WHERE `T2`.`name`=?) AS `sub`)",                \
      "'a'")                                                                   \
    X(delete_sliced_mysql,                                                     \
      lim(ord(flt(Q(order), L("customer__email", T("a"))), "-id"), 2), DEL,    \
      MY,                                                                      \
      "DELETE FROM `order` WHERE `id` IN (SELECT `id` FROM (SELECT "           \
      "`order`.`id` FROM `order` INNER JOIN `users` `T1` ON "                  \
      "`T1`.`id`=`order`.`customer_id` WHERE `T1`.`email`=? ORDER BY "         \
      "`order`.`id` DESC LIMIT 2) AS `sub`)",                                  \
      "'a'")                                                                   \
    X(delete_plain_unchanged, flt(Q(order), L("status", T("a"))), DEL, MY,     \
      "DELETE FROM `order` WHERE `status`=?", "'a'")

#define MAKE_FN(name, query, kind, d, sql, params)                             \
    static tdo_query *make_##name(void)                                        \
    {                                                                          \
        return query;                                                          \
    }
CASES(MAKE_FN)

static const struct rcase {
    const char *name;
    tdo_query *(*make)(void);
    tdo_stmt_kind kind;
    int dialect;
    const char *sql;
    const char *params;
} cases[] = {
#define MAKE_ROW(name, query, kind, d, sql, params)                            \
    {#name, make_##name, kind, d, sql, params},
    CASES(MAKE_ROW)
#undef MAKE_ROW
};

static void test_sql_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tdo_query *q = cases[i].make();
        if (!q)
            fail_msg("case %s: no query", cases[i].name);
        const tdo_dialect *d =
            cases[i].dialect == SF ? &sqlite_filter : dl[cases[i].dialect];
        tdo_compiled *c = NULL;
        tdo_value x = T("x");
        tdo_assign as = {"status", &x, NULL};
        bool upd = cases[i].kind == UPD;
        tdo_status st = tdo_compile(q, cases[i].kind, d, upd ? &as : NULL,
                                    upd ? 1 : 0, &c, &err);
        if (st)
            fail_msg("%s: compile failed: %s", cases[i].name, err.message);
        char *p = params_text(c);
        if (strcmp(tdo_compiled_sql(c), cases[i].sql) ||
            strcmp(p, cases[i].params))
            fail_msg("case %s:\n  got    %s  [%s]\n  wanted %s  [%s]",
                     cases[i].name, tdo_compiled_sql(c), p, cases[i].sql,
                     cases[i].params);
        free(p);
        tdo_compiled_free(c);
        tdo_query_free(q);
    }
}

/* ---- output columns ------------------------------------------------------ */

static void test_columns(void **state)
{
    tdo_query *q = selrel(Q(line), "product");
    q = ann(q, "mx", fn1(TDO_FN_MAX, "order__total", false, NULL));
    size_t n = tdo_query_ncolumns(q);
    assert_int_equal(n, 5 + 5 + 1);
    assert_string_equal(tdo_query_column(q, 5), "product__id");
    assert_string_equal(tdo_query_column(q, 9), "product__category_id");
    assert_string_equal(tdo_query_column(q, 10), "mx");
    tdo_compiled *c = NULL;
    CHECK(tdo_compile(q, SEL, dl[0], NULL, 0, &c, &err));
    assert_int_equal(c->ncols, 11);
    assert_string_equal(c->cols[7].name, "product__price");
    assert_ptr_equal(c->cols[7].field,
                     tdo_model_field_by_name(product, "price"));
    /* Max of a decimal decodes as that decimal field */
    assert_ptr_equal(c->cols[10].field,
                     tdo_model_field_by_name(order, "total"));
    tdo_compiled_free(c);
    tdo_query_free(q);

    q = ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL));
    assert_int_equal(tdo_query_ncolumns(q), 4);
    assert_string_equal(tdo_query_column(q, 3), "n");
    CHECK(tdo_compile(q, SEL, dl[0], NULL, 0, &c, &err));
    assert_null(c->cols[3].field);
    tdo_compiled_free(c);
    tdo_query_free(q);
}

/* ---- errors ---------------------------------------------------------------
 */

static void test_path_errors(void **state)
{
    tdo_query *q = Q(order), *out = (tdo_query *)1;
    tdo_qnode *n = L("customer__emial", T("x"));
    assert_int_equal(tdo_query_filter(q, n, &out, &err), TDO_ERR_FIELD);
    assert_null(out);
    assert_non_null(
        strstr(err.message, "no such field 'emial' on model 'User'"));
    tdo_qnode_free(n);
    n = L("customer__email__foo", T("x"));
    assert_int_equal(tdo_query_filter(q, n, &out, &err), TDO_ERR_FIELD);
    assert_non_null(strstr(err.message, "unknown lookup 'foo'"));
    tdo_qnode_free(n);
    const char *bad[] = {"lines"};
    assert_int_equal(tdo_query_select_related(q, bad, 1, &out, &err),
                     TDO_ERR_FIELD);
    assert_non_null(strstr(err.message, "not a foreign key"));
    tdo_expr *e = tdo_expr_field("x");
    assert_int_equal(tdo_query_annotate(q, "status", e, &out, &err),
                     TDO_ERR_FIELD);
    tdo_expr_free(e);
    /* update can only set columns of the model */
    tdo_compiled *c = NULL;
    tdo_value v = T("x");
    tdo_assign as = {"customer__email", &v, NULL};
    assert_int_equal(tdo_compile(q, UPD, dl[0], &as, 1, &c, &err),
                     TDO_ERR_FIELD);
    tdo_query_free(q);
    tdo_error_release(&err);
}

/* ---- registry --------------------------------------------------------------
 */

static const tdo_relation *relation(const tdo_model *m, const char *name)
{
    const tdo_relation *r = tdo_model_relation_by_name(m, name);
    if (!r)
        fail_msg("no relation '%s' on '%s'", name, tdo_model_name(m));
    return r;
}

static void test_registry(void **state)
{
    const tdo_relation *r = relation(order, "customer");
    assert_int_equal(r->kind, TDO_REL_FK);
    assert_ptr_equal(r->target, user);
    r = relation(user, "orders");
    assert_int_equal(r->kind, TDO_REL_REVERSE_FK);
    assert_ptr_equal(r->model, user);
    assert_ptr_equal(r->target, order);
    assert_ptr_equal(r->field, tdo_model_field_by_name(order, "customer"));
    r = relation(user, "profile");
    assert_int_equal(r->kind, TDO_REL_REVERSE_O2O);
    r = relation(category, "children");
    assert_int_equal(r->kind, TDO_REL_REVERSE_FK);
    assert_ptr_equal(r->target, category);
    r = relation(product, "tags");
    assert_int_equal(r->kind, TDO_REL_M2M);
    assert_string_equal(r->through, "products_tags");
    assert_string_equal(r->source_column, "products_id");
    assert_string_equal(r->target_column, "tag_id");
    assert_null(r->through_model);
    r = relation(tag, "products");
    assert_int_equal(r->kind, TDO_REL_REVERSE_M2M);
    assert_string_equal(r->through, "products_tags");
    assert_string_equal(r->source_column, "tag_id");
    assert_string_equal(r->target_column, "products_id");
    /* forward relations first, in field order, then the reverse ones */
    assert_string_equal(tdo_model_relation(product, 0)->name, "category");
    assert_string_equal(tdo_model_relation(product, 1)->name, "tags");
    assert_string_equal(tdo_model_relation(product, 2)->name, "order_lines");
    assert_null(tdo_model_relation(product, 3));
    assert_int_equal(tdo_model_nrelations(user), 2);
    /* a second resolve keeps the relation objects */
    const tdo_relation *before = relation(user, "orders");
    CHECK(tdo_ctx_resolve(ctx, &err));
    assert_ptr_equal(relation(user, "orders"), before);
}

static void test_defaults_and_through(void **state)
{
    tdo_ctx *c = tdo_ctx_new();
    tdo_model *p = model(c, "Person", "person");
    add(p, chr("name", 10, 0));
    add(p, rel("friends", TDO_F_M2M, "models.Person", "friend_of", 0));
    CHECK(tdo_model_finish(p, &err));
    tdo_model *g = model(c, "Group", NULL); /* table "group" */
    add(g, rel("owner", TDO_F_FK, "models.Person", NULL, 0));
    add(g, rel("members", TDO_F_M2M, "models.Person", "member_of", 0));
    add(g, rel("admins", TDO_F_M2M, "models.Person", "admin_of", 0));
    tdo_field_decl custom =
        rel("guests", TDO_F_M2M, "models.Person", "guest_of", 0);
    custom.through = "group_guest_list";
    custom.forward_key = "guest";
    custom.backward_key = "grp";
    add(g, custom);
    tdo_field_decl viam =
        rel("staff", TDO_F_M2M, "models.Person", "staff_of", 0);
    viam.through = "models.Membership";
    add(g, viam);
    CHECK(tdo_model_finish(g, &err));
    tdo_model *ms = model(c, "Membership", "memberships");
    add(ms, rel("group", TDO_F_FK, "models.Group", "memberships", 0));
    add(ms, rel("person", TDO_F_FK, "models.Person", "memberships", 0));
    add(ms, chr("role", 20, 0));
    CHECK(tdo_model_finish(ms, &err));
    CHECK(tdo_ctx_resolve(c, &err));

    /* Tortoise's default reverse name: "<table>s" */
    const tdo_relation *r = relation(p, "groups");
    assert_int_equal(r->kind, TDO_REL_REVERSE_FK);
    assert_ptr_equal(r->target, g);
    /* self m2m: forward "<target name>_id", backward "<table>_id", made
     * "<table>_rel_id" when they are equal */
    r = relation(p, "friends");
    assert_string_equal(r->through, "person_person");
    assert_string_equal(r->target_column, "person_id");
    assert_string_equal(r->source_column, "person_rel_id");
    r = relation(p, "friend_of");
    assert_int_equal(r->kind, TDO_REL_REVERSE_M2M);
    assert_string_equal(r->source_column, "person_id");
    /* two m2m between the same models get separate through tables */
    r = relation(g, "members");
    assert_string_equal(r->through, "group_person");
    assert_string_equal(r->source_column, "group_id");
    assert_string_equal(r->target_column, "person_id");
    r = relation(g, "admins");
    assert_string_equal(r->through, "group_admins");
    /* custom through table and keys */
    r = relation(g, "guests");
    assert_string_equal(r->through, "group_guest_list");
    assert_string_equal(r->source_column, "grp");
    assert_string_equal(r->target_column, "guest");
    /* a declared through model */
    r = relation(g, "staff");
    assert_ptr_equal(r->through_model, ms);
    assert_string_equal(r->through, "memberships");
    assert_string_equal(r->source_column, "group_id");
    assert_string_equal(r->target_column, "person_id");
    r = relation(p, "staff_of");
    assert_ptr_equal(r->through_model, ms);
    assert_string_equal(r->source_column, "person_id");

    /* DDL: through tables after the models, FKs cascade, unique pair */
    char *sql = NULL;
    CHECK(tdo_schema_sql(c, dl[0], NULL, false, &sql, &err));
    assert_non_null(strstr(sql, "CREATE TABLE \"group_person\" (\n"
                                "    \"group_id\" INT NOT NULL,\n"
                                "    \"person_id\" INT NOT NULL,\n"
                                "    CONSTRAINT \"fk_group_person_group_id_"));
    assert_non_null(strstr(sql, "\" FOREIGN KEY (\"group_id\") REFERENCES "
                                "\"group\" (\"id\") ON DELETE CASCADE,\n"));
    assert_non_null(strstr(sql, "\" FOREIGN KEY (\"person_id\") REFERENCES "
                                "\"person\" (\"id\") ON DELETE CASCADE\n)"));
    assert_non_null(strstr(sql, "CREATE UNIQUE INDEX \"uidx_group_person_"
                                "group_id_person_id_"));
    assert_non_null(strstr(sql, "\" ON \"group_person\" (\"group_id\", "
                                "\"person_id\")"));
    assert_non_null(strstr(sql, "CREATE TABLE \"group_admins\""));
    assert_non_null(strstr(sql, "CREATE TABLE \"group_guest_list\" (\n"
                                "    \"grp\" INT NOT NULL"));
    assert_null(strstr(sql, "CREATE TABLE \"memberships\" (\n    \"group"));
    assert_non_null(strstr(sql, "CREATE TABLE \"memberships\""));
    const char *tp = strstr(sql, "CREATE TABLE \"person_person\"");
    const char *tm = strstr(sql, "CREATE TABLE \"memberships\"");
    assert_non_null(tp);
    assert_true(tm < tp);
    free(sql);
    /* and it runs */
    tdo_conn *conn = NULL;
    CHECK(tdo_connect(c, "default", "sqlite://:memory:", &conn, &err));
    CHECK(tdo_generate_schemas(c, conn, false, &err));
    CHECK(tdo_generate_schemas(c, conn, true, &err));
    tdo_ctx_free(c);
}

static void test_clashes(void **state)
{
    tdo_ctx *c = tdo_ctx_new();
    tdo_model *p = model(c, "Person", "people");
    CHECK(tdo_model_finish(p, &err));
    tdo_model *g = model(c, "Team", "teams");
    add(g, rel("lead", TDO_F_FK, "models.Person", NULL, 0));
    add(g, rel("members", TDO_F_M2M, "models.Person", NULL, 0));
    CHECK(tdo_model_finish(g, &err));
    assert_int_equal(tdo_ctx_resolve(c, &err), TDO_ERR_CONFIGURATION);
    assert_string_equal(err.message,
                        "backward relation 'teamss' of Team.members clashes "
                        "with backward relation 'teamss' of Team.lead on "
                        "model 'Person' (set related_name)");
    tdo_model *h = model(c, "Hat", "hats");
    add(h, rel("wearer", TDO_F_FK, "models.Person", "lead", 0));
    CHECK(tdo_model_finish(h, &err));
    tdo_model *q = model(c, "Other", "others");
    add(q, chr("x", 3, 0));
    add(q, rel("self", TDO_F_FK, "models.Other", "x", 0));
    CHECK(tdo_model_finish(q, &err));
    assert_int_equal(tdo_ctx_resolve(c, &err), TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "2 relation problems: "));
    assert_non_null(strstr(err.message, "backward relation 'x' of "
                                        "Other.self clashes with field 'x' "
                                        "of model 'Other'"));
    tdo_error_release(&err);
    tdo_ctx_free(c);
}

/* ---- to_field: a key holding a unique non-pk field ------------------------
 */

static char *compiled_sql(tdo_query *q, const tdo_dialect *d, char **params)
{
    tdo_compiled *c = NULL;
    CHECK(tdo_compile(q, SEL, d, NULL, 0, &c, &err));
    char *sql = strdup(tdo_compiled_sql(c));
    *params = params_text(c);
    tdo_compiled_free(c);
    tdo_query_free(q);
    return sql;
}

static void test_to_field(void **state)
{
    tdo_ctx *c = tdo_ctx_new();
    tdo_model *s = model(c, "School", "schools");
    add(s, fld("uuid", TDO_F_UUID, TDO_FIELD_PK));
    add(s, chr("name", 20, 0));
    add(s, fld("code", TDO_F_INT, TDO_FIELD_UNIQUE));
    CHECK(tdo_model_finish(s, &err));
    tdo_model *st = model(c, "Student", "students");
    tdo_field_decl fk = rel("school", TDO_F_FK, "models.School", "students", 0);
    fk.to_field = "code";
    add(st, fk);
    CHECK(tdo_model_finish(st, &err));
    CHECK(tdo_ctx_resolve(c, &err));
    const tdo_field *f = tdo_model_field_by_name(st, "school");
    assert_ptr_equal(tdo_field_key_target(f),
                     tdo_model_field_by_name(s, "code"));
    assert_int_equal(tdo_field_value_type(f), TDO_INT);
    /* the column is typed and constrained as the to_field */
    char *ddl = NULL;
    CHECK(tdo_schema_sql(c, dl[1], st, false, &ddl, &err));
    assert_non_null(strstr(ddl, "\"school_id\" INT NOT NULL,"));
    assert_non_null(strstr(ddl, "FOREIGN KEY (\"school_id\") REFERENCES "
                                "\"schools\" (\"code\")"));
    free(ddl);
    /* joins both ways match on the to_field */
    char *p;
    tdo_value nm = T("A");
    char *sql = compiled_sql(flt(Q(st), tdo_q_lookup("school__name", &nm, 1)),
                             dl[0], &p);
    assert_non_null(strstr(sql, ".\"code\"=\"students\".\"school_id\""));
    free(sql);
    free(p);
    sql = compiled_sql(
        flt(Q(s), tdo_q_lookup("students__id",
                               &(tdo_value){.type = TDO_INT, .u.i = 1}, 1)),
        dl[0], &p);
    assert_non_null(strstr(sql, ".\"school_id\"=\"schools\".\"code\""));
    free(sql);
    free(p);
    /* school__code reads the key column itself; school__pk joins */
    tdo_value one = {.type = TDO_INT, .u.i = 7};
    sql = compiled_sql(flt(Q(st), tdo_q_lookup("school__code", &one, 1)), dl[0],
                       &p);
    assert_null(strstr(sql, "JOIN"));
    free(sql);
    free(p);
    /* an instance compares its to_field, not its pk */
    tdo_value pk = T("6f1c1a52-3b7e-4c7a-9d55-0c9e1f6a0001");
    tdo_value alt = {.type = TDO_INT, .u.i = 1024};
    sql = compiled_sql(
        flt(Q(st), tdo_q_lookup_instances("school", s, &pk, 1, &alt, 1)), dl[0],
        &p);
    assert_string_equal(p, "1024");
    free(sql);
    free(p);
    tdo_ctx_free(c);

    /* a to_field naming no field, or a field that is not unique */
    c = tdo_ctx_new();
    s = model(c, "School", "schools");
    add(s, chr("name", 20, 0));
    CHECK(tdo_model_finish(s, &err));
    st = model(c, "Student", "students");
    fk = rel("school", TDO_F_FK, "models.School", NULL, 0);
    fk.to_field = "name";
    add(st, fk);
    fk = rel("other", TDO_F_FK, "models.School", "others", 0);
    fk.to_field = "nope";
    add(st, fk);
    CHECK(tdo_model_finish(st, &err));
    assert_int_equal(tdo_ctx_resolve(c, &err), TDO_ERR_CONFIGURATION);
    assert_non_null(strstr(err.message, "to_field 'name': it names a field "
                                        "that is not unique"));
    assert_non_null(strstr(err.message, "to_field 'nope': it names no field"));
    tdo_error_release(&err);
    tdo_ctx_free(c);
}

/* ---- distinct(fields) and union() ------------------------------------------
 */

static tdo_query *ordered(tdo_query *q, const char *key)
{
    tdo_query *nq = NULL;
    tdo_status st = tdo_query_order_by(q, &key, 1, &nq, &err);
    return step(st, q, nq);
}

static void test_distinct_on_union(void **state)
{
    /* distinct("category__name"): a window over the filtered rows */
    const char *key = "category__name";
    tdo_query *d = NULL;
    tdo_value five = {.type = TDO_INT, .u.i = 5};
    tdo_query *q =
        ordered(flt(Q(product), tdo_q_lookup("stock__gt", &five, 1)), "-price");
    CHECK(tdo_query_distinct_on(q, &key, 1, &d, &err));
    tdo_query_free(q);
    char *p, *sql = compiled_sql(d, dl[1], &p);
    assert_string_equal(
        sql, "SELECT \"id\",\"name\",\"price\",\"stock\",\"category_id\" "
             "FROM \"products\" WHERE \"stock\">$1 AND \"id\" IN (SELECT "
             "\"_k\" FROM (SELECT \"T1\".\"id\" AS \"_k\",ROW_NUMBER() OVER "
             "(PARTITION BY \"T2\".\"name\" ORDER BY \"T1\".\"price\" DESC,"
             "\"T1\".\"id\") AS \"_rn\" FROM \"products\" \"T1\" INNER JOIN "
             "\"categories\" \"T2\" ON \"T2\".\"id\"=\"T1\".\"category_id\" "
             "WHERE \"T1\".\"stock\">$2) \"_d\" WHERE \"_rn\"=1) ORDER BY "
             "\"price\" DESC");
    assert_string_equal(p, "5, 5");
    free(sql);
    free(p);
    key = "nope";
    q = Q(product);
    assert_int_equal(tdo_query_distinct_on(q, &key, 1, &d, &err),
                     TDO_ERR_FIELD);
    tdo_query_free(q);
    tdo_error_release(&err);

    /* union: parts joined, the order as column positions */
    tdo_value one = {.type = TDO_INT, .u.i = 1};
    tdo_query *a = flt(Q(tag), tdo_q_lookup("id", &one, 1));
    tdo_query *b = Q(tag);
    tdo_query *u = NULL;
    CHECK(tdo_query_union(a, b, true, &u, &err));
    u = ordered(u, "-name");
    sql = compiled_sql(u, dl[2], &p);
    assert_string_equal(sql, "SELECT `id`,`name` FROM `tags` WHERE `id`=? "
                             "UNION ALL SELECT `id`,`name` FROM `tags` "
                             "ORDER BY 2 DESC");
    free(sql);
    free(p);
    /* what cannot apply to combined rows */
    CHECK(tdo_query_union(a, b, false, &u, &err));
    tdo_query *x = NULL;
    tdo_qnode *cond = tdo_q_lookup("id", &one, 1);
    assert_int_equal(tdo_query_filter(u, cond, &x, &err), TDO_ERR_PARAMS);
    tdo_qnode_free(cond);
    tdo_error_release(&err);
    tdo_compiled *c = NULL;
    assert_int_equal(tdo_compile(u, TDO_STMT_DELETE, dl[0], NULL, 0, &c, &err),
                     TDO_ERR_PARAMS);
    tdo_error_release(&err);
    tdo_query_free(u);
    x = Q(user);
    assert_int_equal(tdo_query_union(a, x, false, &u, &err), TDO_ERR_PARAMS);
    tdo_query_free(x);
    assert_non_null(strstr(err.message, "different columns"));
    tdo_error_release(&err);
    tdo_query_free(a);
    tdo_query_free(b);
}

/* ---- select_for_update of / no_key ------------------------------------------
 */

static void test_lock_of(void **state)
{
    tdo_query *q = selrel(Q(product), "category"), *l = NULL, *o = NULL;
    CHECK(tdo_query_for_update(q, TDO_LOCK_SKIP_LOCKED, &l, &err));
    const char *self[] = {"self"}, *both[] = {"self", "category"};
    CHECK(tdo_query_lock_of(l, self, 1, true, &o, &err));
    tdo_compiled *c = NULL;
    CHECK(tdo_compile(o, SEL, dl[1], NULL, 0, &c, &err));
    const char *sql = tdo_compiled_sql(c);
    assert_non_null(
        strstr(sql, " FOR NO KEY UPDATE OF \"products\" SKIP LOCKED"));
    tdo_compiled_free(c);
    /* MySQL: no OF; naming a part of the tables is refused */
    assert_int_equal(tdo_compile(o, SEL, dl[2], NULL, 0, &c, &err),
                     TDO_ERR_PARAMS);
    tdo_error_release(&err);
    tdo_query_free(o);
    CHECK(tdo_query_lock_of(l, both, 2, false, &o, &err));
    CHECK(tdo_compile(o, SEL, dl[2], NULL, 0, &c, &err));
    sql = tdo_compiled_sql(c);
    assert_non_null(strstr(sql, " FOR UPDATE SKIP LOCKED"));
    assert_null(strstr(sql, " OF "));
    tdo_compiled_free(c);
    tdo_query_free(o);
    const char *bad[] = {"tags"};
    assert_int_equal(tdo_query_lock_of(l, bad, 1, false, &o, &err),
                     TDO_ERR_FIELD);
    tdo_error_release(&err);
    tdo_query_free(l);
    tdo_query_free(q);
}

/* ---- end to end on SQLite ---------------------------------------------------
 */

static int64_t insert1(tdo_conn *c, tdo_model *m, int n, ...)
{
    const tdo_field *fs[8];
    tdo_value vs[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        fs[i] = tdo_model_field_by_name(m, va_arg(ap, const char *));
        assert_non_null(fs[i]);
        tdo_value in = va_arg(ap, tdo_value);
        CHECK(tdo_field_coerce(fs[i], &in, &vs[i], &err));
    }
    va_end(ap);
    tdo_value pk;
    CHECK(tdo_insert(c, m, fs, (size_t)n, vs, 1, false, &pk, &err));
    for (int i = 0; i < n; i++)
        tdo_value_release(&vs[i]);
    assert_int_equal(pk.type, TDO_INT);
    return pk.u.i;
}

static int64_t count_of(tdo_conn *c, tdo_query *q)
{
    int64_t n = -1;
    CHECK(tdo_query_count(c, q, &n, &err));
    tdo_query_free(q);
    return n;
}

/* Runs q and returns column col of every row as "a,b,c" (integers or
 * text), freeing q. */
static char *column_text(tdo_conn *c, tdo_query *q, size_t col)
{
    tdo_rows *r = NULL;
    tdo_sb sb = TDO_SB_INIT;
    bool has;
    CHECK(tdo_query_run(c, q, &r, &err));
    while (!tdo_rows_next(r, &has, &err) && has) {
        tdo_value v;
        CHECK(tdo_rows_get(r, col, &v, &err));
        if (sb.len)
            tdo_sb_addc(&sb, ',');
        tdo_value_format(&sb, &v, false);
    }
    tdo_rows_free(r);
    tdo_query_free(q);
    return tdo_sb_detach(&sb);
}

static void expect_text(char *got, const char *want)
{
    if (strcmp(got, want))
        fail_msg("got '%s', wanted '%s'", got, want);
    free(got);
}

/* Drops the shop's tables (for a server database left by an earlier
 * run). */
static void drop_shop(tdo_conn *c)
{
    static const char *const tables[] = {
        "products_tags", "order_lines", "order",      "products",
        "tags",          "profiles",    "categories", "users"};
    bool mysql = !strcmp(tdo_dialect_name(tdo_conn_dialect(c)), "mysql");
    if (mysql)
        CHECK(tdo_conn_execute_script(c, "SET FOREIGN_KEY_CHECKS = 0", &err));
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_adds(&sb, "DROP TABLE IF EXISTS ");
        tdo_conn_dialect(c)->quote_ident(&sb, tables[i]);
        if (!strcmp(tdo_dialect_name(tdo_conn_dialect(c)), "postgres"))
            tdo_sb_adds(&sb, " CASCADE");
        CHECK(tdo_conn_execute_script(c, sb.buf, &err));
        tdo_sb_release(&sb);
    }
    if (mysql)
        CHECK(tdo_conn_execute_script(c, "SET FOREIGN_KEY_CHECKS = 1", &err));
}

/* The shop on the database at url: m2m links, paths, aggregates,
 * select_related, update and delete across relations, FK actions. */
static void end_to_end(const char *url)
{
    tdo_conn *c = NULL;
    CHECK(tdo_connect(ctx, "e2e", url, &c, &err));
    drop_shop(c);
    CHECK(tdo_generate_schemas(ctx, c, false, &err));
    int64_t u1 = insert1(c, user, 2, "email", T("a@x"), "is_active",
                         tdo_value_bool(true));
    int64_t u2 = insert1(c, user, 2, "email", T("b@x"), "is_active",
                         tdo_value_bool(true));
    int64_t cat = insert1(c, category, 1, "name", T("kbd"));
    int64_t sub = insert1(c, category, 2, "name", T("mech"), "parent", I(cat));
    int64_t t1 = insert1(c, tag, 1, "name", T("python"));
    int64_t t2 = insert1(c, tag, 1, "name", T("async"));
    int64_t t3 = insert1(c, tag, 1, "name", T("c"));
    int64_t p1 = insert1(c, product, 4, "name", T("K1"), "price", T("10.50"),
                         "stock", I(3), "category", I(sub));
    int64_t p2 = insert1(c, product, 4, "name", T("K2"), "price", T("20"),
                         "stock", I(1), "category", I(cat));
    int64_t o1 = insert1(c, order, 3, "customer", I(u1), "status", T("paid"),
                         "total", T("31"));
    insert1(c, order, 3, "customer", I(u1), "status", T("new"), "total",
            T("5"));
    insert1(c, line, 4, "order", I(o1), "product", I(p1), "quantity", I(2),
            "unit_price", T("10.50"));
    insert1(c, line, 4, "order", I(o1), "product", I(p2), "quantity", I(1),
            "unit_price", T("10"));

    /* m2m add twice does not duplicate; remove; clear */
    const tdo_relation *tags = relation(product, "tags");
    tdo_value pk1 = I(p1), pk2 = I(p2);
    tdo_value two[] = {I(t1), I(t2)}, three[] = {I(t1), T("2"), I(t3), I(t3)};
    CHECK(tdo_m2m_add(c, tags, &pk1, two, 2, NULL, NULL, 0, &err));
    CHECK(tdo_m2m_add(c, tags, &pk1, three, 4, NULL, NULL, 0, &err));
    CHECK(tdo_m2m_add(c, tags, &pk2, two, 1, NULL, NULL, 0, &err));
    assert_int_equal(count_of(c, flt(Q(product), L("tags__id__gt", I(0)))), 4);
    assert_int_equal(
        count_of(c, dist(flt(Q(product), L("tags__id__gt", I(0))))), 2);
    CHECK(tdo_m2m_remove(c, tags, &pk1, &three[3], 1, &err));
    assert_int_equal(count_of(c, flt(Q(product), L("tags__id", I(t3)))), 0);
    /* the reverse side */
    const tdo_relation *products = relation(tag, "products");
    tdo_value tk = I(t3);
    CHECK(tdo_m2m_add(c, products, &tk, &pk2, 1, NULL, NULL, 0, &err));
    assert_int_equal(count_of(c, flt(Q(product), L("tags__name", T("c")))), 1);
    CHECK(tdo_m2m_remove(c, tags, &pk2, NULL, 0, &err)); /* clear */
    assert_int_equal(count_of(c, flt(Q(product), L("pk", I(p2)))), 1);
    assert_int_equal(count_of(c, flt(Q(tag), L("products", I(p2)))), 0);

    /* prefetch style: tags of products {p1}, with the product id */
    tdo_value ids[] = {I(p1), I(p2)};
    tdo_query *q = ann(flt(Q(tag), tdo_q_lookup("products__id__in", ids, 2)),
                       "pid", tdo_expr_field("products__id"));
    q = ord(q, "name");
    expect_text(column_text(c, q, 1), "async,python");

    /* Count over a reverse FK: zero for a user without orders */
    q = ord(ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)), "id");
    expect_text(column_text(c, q, 3), "2,0");
    q = flt(ann(Q(user), "n", fn1(TDO_FN_COUNT, "orders", false, NULL)),
            L("n__gte", I(1)));
    assert_int_equal(count_of(c, q), 1);
    /* Sum over a two-step path (decodes as the IntField; MySQL's SUM gives
     * a DECIMAL, which its integer decoding does not take yet), filtered
     * count */
    q = ord(ann(Q(user), "q",
                fn1(TDO_FN_SUM, "orders__lines__quantity", false, NULL)),
            "id");
    if (strcmp(tdo_dialect_name(tdo_conn_dialect(c)), "mysql"))
        expect_text(column_text(c, q, 3), "3,NULL");
    else
        tdo_query_free(q);
    q = ord(
        ann(Q(user), "n",
            fn1(TDO_FN_COUNT, "orders", false, L("orders__status", T("paid")))),
        "id");
    expect_text(column_text(c, q, 3), "1,0");
    q = ann(Q(user), "t", fn1(TDO_FN_MAX, "orders__total", false, NULL));
    q = flt(q, L("id", I(u1)));
    expect_text(column_text(c, q, 3), "31.00");

    /* select_related decodes the related columns */
    q = ord(selrel(Q(category), "parent"), "id");
    expect_text(column_text(c, q, 4), "NULL,kbd");
    (void)u2;

    /* update and delete across relations */
    tdo_value shipped = T("shipped");
    tdo_assign as = {"status", &shipped, NULL};
    int64_t changed = 0;
    q = flt(Q(order), L("customer__email", T("a@x")));
    CHECK(tdo_query_update(c, q, &as, 1, &changed, &err));
    tdo_query_free(q);
    assert_int_equal(changed, 2);
    q = exc(Q(user), L("orders__status", T("shipped")));
    CHECK(tdo_query_delete(c, q, &changed, &err));
    tdo_query_free(q);
    assert_int_equal(changed, 1); /* b@x has no shipped order */
    assert_int_equal(count_of(c, Q(user)), 1);

    /* on_delete: RESTRICT refuses, SET NULL empties, CASCADE follows */
    int64_t deleted = 0;
    tdo_value catpk = I(cat);
    assert_int_equal(tdo_delete_pk(c, category, &catpk, &deleted, &err),
                     TDO_ERR_INTEGRITY);
    tdo_error_release(&err);
    tdo_value p2pk = I(p2);
    CHECK(tdo_delete_pk(c, product, &p2pk, &deleted, &err));
    CHECK(tdo_delete_pk(c, category, &catpk, &deleted, &err));
    assert_int_equal(deleted, 1);
    assert_int_equal(count_of(c, flt(Q(category), L("parent__isnull",
                                                    tdo_value_bool(true)))),
                     1);
    tdo_value u1pk = I(u1);
    CHECK(tdo_delete_pk(c, user, &u1pk, &deleted, &err));
    assert_int_equal(count_of(c, Q(order)), 0);
    assert_int_equal(count_of(c, Q(line)), 0);
    drop_shop(c);
    tdo_close_connections(ctx);
}

static void test_sqlite_end_to_end(void **state)
{
    end_to_end("sqlite://:memory:");
}

#ifndef TEST_RELATIONS_NO_MAIN
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sql_table),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_path_errors),
        cmocka_unit_test(test_defaults_and_through),
        cmocka_unit_test(test_clashes),
        cmocka_unit_test(test_to_field),
        cmocka_unit_test(test_distinct_on_union),
        cmocka_unit_test(test_lock_of),
        cmocka_unit_test(test_sqlite_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
