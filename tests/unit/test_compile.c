/*
 * test_compile.c -- the query AST and the SQL compiler: tables of
 * {query, dialect, expected SQL, expected parameters}, plus errors,
 * Q/F formatting and the SQLite dialect's value conversions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "tdo_int.h"

static tdo_ctx *ctx;
static tdo_model *user, *product, *category;
static const tdo_dialect *sqlite;

/* ---- fixture ---------------------------------------------------------- */

static tdo_field_decl fld(const char *name, tdo_field_type t, unsigned flags)
{
    tdo_field_decl f = tdo_field_template(name, t);
    f.flags |= flags;
    return f;
}

static void add(tdo_model *m, tdo_field_decl f)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = tdo_model_add_field(m, &f, NULL, &err);
    if (st)
        fail_msg("add_field %s: %s", f.name, err.message);
}

static tdo_field_decl chr(const char *name, int len, unsigned flags)
{
    tdo_field_decl f = fld(name, TDO_F_CHAR, flags);
    f.max_length = len;
    return f;
}

static int setup(void **state)
{
    (void)state;
    tdo_error err = TDO_ERROR_INIT;
    sqlite = tdo_dialect_by_name("sqlite");
    ctx = tdo_ctx_new();
    assert_non_null(ctx);
    /* User: the reference document's model */
    assert_int_equal(tdo_model_new(ctx, "models", "User", &user, &err), 0);
    assert_int_equal(tdo_model_set_table(user, "users", &err), 0);
    add(user, fld("id", TDO_F_INT, TDO_FIELD_PK));
    add(user, chr("email", 255, TDO_FIELD_UNIQUE | TDO_FIELD_INDEX));
    add(user, chr("username", 100, TDO_FIELD_UNIQUE));
    tdo_value roles[] = {tdo_value_text("user", 4), tdo_value_text("admin", 5)};
    tdo_field_decl role = fld("role", TDO_F_CHARENUM, 0);
    role.max_length = 20;
    role.enum_values = roles;
    role.n_enum = 2;
    add(user, role);
    tdo_field_decl act = fld("is_active", TDO_F_BOOL,
                             TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT);
    act.default_value = tdo_value_bool(true);
    add(user, act);
    add(user, fld("bio", TDO_F_TEXT, TDO_FIELD_NULL));
    add(user, fld("created_at", TDO_F_DATETIME, TDO_FIELD_AUTO_NOW_ADD));
    assert_int_equal(tdo_model_finish(user, &err), 0);
    /* Category, self-referencing */
    assert_int_equal(tdo_model_new(ctx, "models", "Category", &category, &err),
                     0);
    assert_int_equal(tdo_model_set_table(category, "categories", &err), 0);
    add(category, chr("name", 100, TDO_FIELD_UNIQUE));
    tdo_field_decl parent = fld("parent", TDO_F_FK, TDO_FIELD_NULL);
    parent.related_ref = "models.Category";
    add(category, parent);
    assert_int_equal(tdo_model_finish(category, &err), 0);
    /* Product */
    assert_int_equal(tdo_model_new(ctx, "models", "Product", &product, &err),
                     0);
    assert_int_equal(tdo_model_set_table(product, "products", &err), 0);
    add(product, fld("id", TDO_F_INT, TDO_FIELD_PK));
    add(product, chr("name", 255, TDO_FIELD_INDEX));
    tdo_field_decl price = fld("price", TDO_F_DECIMAL, 0);
    price.max_digits = 10;
    price.decimal_places = 2;
    add(product, price);
    add(product, fld("stock", TDO_F_INT, 0));
    add(product, fld("min_stock", TDO_F_INT, 0));
    tdo_field_decl cat = fld("category", TDO_F_FK, 0);
    cat.related_ref = "models.Category";
    add(product, cat);
    add(product, fld("created_at", TDO_F_DATETIME, 0));
    assert_int_equal(tdo_model_finish(product, &err), 0);
    if (tdo_ctx_resolve(ctx, &err))
        fail_msg("resolve: %s", err.message);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdo_ctx_free(ctx);
    return 0;
}

/* ---- builders: each consumes its query and node arguments ------------- */

static tdo_value T(const char *s)
{
    return tdo_value_text(s, strlen(s));
}
static tdo_value I(int64_t i)
{
    return tdo_value_int(i);
}
static tdo_value B(bool b)
{
    return tdo_value_bool(b);
}
static tdo_value N(void)
{
    return tdo_value_null();
}

static tdo_query *U(void)
{
    return tdo_query_new(user);
}
static tdo_query *P(void)
{
    return tdo_query_new(product);
}

/* A leaf with one value. */
static tdo_qnode *L(const char *key, tdo_value v)
{
    return tdo_q_lookup(key, &v, 1);
}

/* A leaf with n values. */
static tdo_qnode *Lv(const char *key, int n, ...)
{
    tdo_value vals[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        vals[i] = va_arg(ap, tdo_value);
    va_end(ap);
    return tdo_q_lookup(key, vals, (size_t)n);
}

static tdo_qnode *LE(const char *key, tdo_expr *e)
{
    return tdo_q_lookup_expr(key, e);
}

static tdo_expr *Ff(const char *name)
{
    return tdo_expr_field(name);
}
static tdo_expr *Fv(tdo_value v)
{
    return tdo_expr_value(&v);
}

static tdo_query *check(tdo_status st, tdo_query *old, tdo_query *nq,
                        tdo_error *err)
{
    if (st)
        fail_msg("query building failed: %s", err->message);
    tdo_query_free(old);
    return nq;
}

static tdo_query *flt(tdo_query *q, tdo_qnode *c)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_filter(q, c, &nq, &err);
    tdo_qnode_free(c);
    return check(st, q, nq, &err);
}

static tdo_query *exc(tdo_query *q, tdo_qnode *c)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_exclude(q, c, &nq, &err);
    tdo_qnode_free(c);
    return check(st, q, nq, &err);
}

static tdo_query *ord(tdo_query *q, int n, ...)
{
    const char *keys[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        keys[i] = va_arg(ap, const char *);
    va_end(ap);
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_order_by(q, keys, (size_t)n, &nq, &err);
    return check(st, q, nq, &err);
}

static tdo_query *lim(tdo_query *q, int64_t n)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_limit(q, n, &nq, &err);
    return check(st, q, nq, &err);
}

static tdo_query *off(tdo_query *q, int64_t n)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_offset(q, n, &nq, &err);
    return check(st, q, nq, &err);
}

static tdo_query *dist(tdo_query *q)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st = tdo_query_distinct(q, &nq, &err);
    return check(st, q, nq, &err);
}

/* values/values_list: n names, then n aliases (NULL: the name). */
static tdo_query *vals(tdo_query *q, tdo_projection kind, int n, ...)
{
    const char *names[8], *aliases[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        names[i] = va_arg(ap, const char *);
    for (int i = 0; i < n; i++)
        aliases[i] = va_arg(ap, const char *);
    va_end(ap);
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq;
    tdo_status st =
        tdo_query_values(q, kind, names, aliases, (size_t)n, &nq, &err);
    return check(st, q, nq, &err);
}

/* ---- comparing -------------------------------------------------------- */

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

static void expect(const tdo_compiled *c, const char *sql, const char *params)
{
    assert_string_equal(tdo_compiled_sql(c), sql);
    char *p = params_text(c);
    assert_string_equal(p, params);
    free(p);
}

static void expect_query(tdo_query *q, tdo_stmt_kind kind, const char *sql,
                         const char *params)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_compiled *c = NULL;
    tdo_status st = tdo_compile(q, kind, sqlite, NULL, 0, &c, &err);
    if (st)
        fail_msg("compile failed: %s", err.message);
    expect(c, sql, params);
    tdo_compiled_free(c);
    tdo_query_free(q);
}

/* ---- the table -------------------------------------------------------- */

#define UCOLS                                                                  \
    "\"id\",\"email\",\"username\",\"role\",\"is_active\",\"bio\","            \
    "\"created_at\""
#define SELU "SELECT " UCOLS " FROM \"users\""
#define PCOLS                                                                  \
    "\"id\",\"name\",\"price\",\"stock\",\"min_stock\",\"category_id\","       \
    "\"created_at\""
#define SELP "SELECT " PCOLS " FROM \"products\""

#define SEL TDO_STMT_SELECT
#define CNT TDO_STMT_COUNT
#define EXI TDO_STMT_EXISTS
#define DEL TDO_STMT_DELETE

/* X(name, query, kind, sql, params) */
#define CASES(X)                                                               \
    X(all, U(), SEL, SELU, "")                                                 \
    X(exact, flt(U(), L("email", T("a@b"))), SEL, SELU " WHERE \"email\"=?",   \
      "'a@b'")                                                                 \
    X(exact_explicit, flt(U(), L("email__exact", T("a@b"))), SEL,              \
      SELU " WHERE \"email\"=?", "'a@b'")                                      \
    X(exact_null, flt(U(), L("bio", N())), SEL, SELU " WHERE \"bio\" IS NULL", \
      "")                                                                      \
    X(iexact, flt(U(), L("email__iexact", T("A@B"))), SEL,                     \
      SELU " WHERE LOWER(\"email\")=LOWER(?)", "'A@B'")                        \
    X(not, flt(U(), L("role__not", T("admin"))), SEL,                          \
      SELU " WHERE (\"role\"<>? OR \"role\" IS NULL)", "'admin'")              \
    X(not_null, flt(U(), L("bio__not", N())), SEL,                             \
      SELU " WHERE \"bio\" IS NOT NULL", "")                                   \
    X(in, flt(U(), Lv("id__in", 3, I(1), I(2), I(3))), SEL,                    \
      SELU " WHERE \"id\" IN (?,?,?)", "1, 2, 3")                              \
    X(in_coerced, flt(U(), Lv("id__in", 2, T("4"), I(5))), SEL,                \
      SELU " WHERE \"id\" IN (?,?)", "4, 5")                                   \
    X(in_empty, flt(U(), Lv("id__in", 0)), SEL, SELU " WHERE 0=1", "")         \
    X(not_in, flt(U(), Lv("id__not_in", 2, I(1), I(2))), SEL,                  \
      SELU " WHERE (\"id\" NOT IN (?,?) OR \"id\" IS NULL)", "1, 2")           \
    X(not_in_empty, flt(U(), Lv("id__not_in", 0)), SEL, SELU " WHERE 1=1", "") \
    X(gt, flt(U(), L("id__gt", I(1))), SEL, SELU " WHERE \"id\">?", "1")       \
    X(gte, flt(U(), L("id__gte", I(1))), SEL, SELU " WHERE \"id\">=?", "1")    \
    X(lt, flt(U(), L("id__lt", I(1))), SEL, SELU " WHERE \"id\"<?", "1")       \
    X(lte, flt(U(), L("id__lte", I(1))), SEL, SELU " WHERE \"id\"<=?", "1")    \
    X(range, flt(U(), Lv("id__range", 2, I(1), I(5))), SEL,                    \
      SELU " WHERE \"id\" BETWEEN ? AND ?", "1, 5")                            \
    X(isnull_true, flt(U(), L("bio__isnull", B(true))), SEL,                   \
      SELU " WHERE \"bio\" IS NULL", "")                                       \
    X(isnull_false, flt(U(), L("bio__isnull", B(false))), SEL,                 \
      SELU " WHERE \"bio\" IS NOT NULL", "")                                   \
    X(not_isnull_true, flt(U(), L("bio__not_isnull", B(true))), SEL,           \
      SELU " WHERE \"bio\" IS NOT NULL", "")                                   \
    X(not_isnull_false, flt(U(), L("bio__not_isnull", B(false))), SEL,         \
      SELU " WHERE \"bio\" IS NULL", "")                                       \
    X(contains, flt(U(), L("email__contains", T("ab"))), SEL,                  \
      SELU " WHERE \"email\" GLOB ?", "'*ab*'")                                \
    X(contains_glob_escape, flt(U(), L("email__contains", T("a*b?c[d]%_\\"))), \
      SEL, SELU " WHERE \"email\" GLOB ?", "'*a[*]b[?]c[[]d]%_\\*'")           \
    X(contains_number, flt(U(), L("username__contains", I(5))), SEL,           \
      SELU " WHERE \"username\" GLOB ?", "'*5*'")                              \
    X(icontains, flt(U(), L("email__icontains", T("Ab"))), SEL,                \
      SELU " WHERE LOWER(\"email\") LIKE LOWER(?) ESCAPE '\\'", "'%Ab%'")      \
    X(icontains_escape, flt(U(), L("email__icontains", T("50%_a\\b"))), SEL,   \
      SELU " WHERE LOWER(\"email\") LIKE LOWER(?) ESCAPE '\\'",                \
      "'%50\\%\\_a\\\\b%'")                                                    \
    X(startswith, flt(U(), L("email__startswith", T("ab"))), SEL,              \
      SELU " WHERE \"email\" GLOB ?", "'ab*'")                                 \
    X(istartswith, flt(U(), L("email__istartswith", T("a_"))), SEL,            \
      SELU " WHERE LOWER(\"email\") LIKE LOWER(?) ESCAPE '\\'", "'a\\_%'")     \
    X(endswith, flt(U(), L("email__endswith", T(".org"))), SEL,                \
      SELU " WHERE \"email\" GLOB ?", "'*.org'")                               \
    X(iendswith, flt(U(), L("email__iendswith", T(".ORG"))), SEL,              \
      SELU " WHERE LOWER(\"email\") LIKE LOWER(?) ESCAPE '\\'", "'%.ORG'")     \
    X(contains_null, flt(U(), L("email__contains", N())), SEL,                 \
      SELU " WHERE \"email\" GLOB ?", "NULL")                                  \
    X(pk, flt(U(), L("pk", I(3))), SEL, SELU " WHERE \"id\"=?", "3")           \
    X(coerce_int, flt(U(), L("id", T("7"))), SEL, SELU " WHERE \"id\"=?", "7") \
    X(coerce_bool, flt(U(), L("is_active", I(1))), SEL,                        \
      SELU " WHERE \"is_active\"=?", "true")                                   \
    X(coerce_decimal, flt(P(), L("price__gte", I(100))), SEL,                  \
      SELP " WHERE \"price\">=?", "100.00")                                    \
    X(fk_attr, flt(P(), L("category", I(3))), SEL,                             \
      SELP " WHERE \"category_id\"=?", "3")                                    \
    X(fk_column, flt(P(), Lv("category_id__in", 2, I(3), I(4))), SEL,          \
      SELP " WHERE \"category_id\" IN (?,?)", "3, 4")                          \
    X(fk_related_pk, flt(P(), L("category__id", I(3))), SEL,                   \
      SELP " WHERE \"category_id\"=?", "3")                                    \
    X(fk_related_pk_lookup, flt(P(), L("category__pk__gt", I(3))), SEL,        \
      SELP " WHERE \"category_id\">?", "3")                                    \
    X(and_leaves,                                                              \
      flt(U(), tdo_q_and(L("role", T("admin")), L("is_active", B(true)))),     \
      SEL, SELU " WHERE \"role\"=? AND \"is_active\"=?", "'admin', true")      \
    X(or_not,                                                                  \
      flt(U(), tdo_q_or(L("role", T("admin")),                                 \
                        tdo_q_not(L("is_active", B(true))))),                  \
      SEL, SELU " WHERE \"role\"=? OR NOT (\"is_active\"=?)", "'admin', true") \
    X(or_then_filter,                                                          \
      flt(flt(U(), tdo_q_or(L("role", T("admin")), L("role", T("user")))),     \
          L("is_active", B(true))),                                            \
      SEL, SELU " WHERE (\"role\"=? OR \"role\"=?) AND \"is_active\"=?",       \
      "'admin', 'user', true")                                                 \
    X(and_in_or,                                                               \
      flt(U(),                                                                 \
          tdo_q_or(tdo_q_and(L("role", T("admin")), L("is_active", B(false))), \
                   L("id", I(1)))),                                            \
      SEL, SELU " WHERE (\"role\"=? AND \"is_active\"=?) OR \"id\"=?",         \
      "'admin', false, 1")                                                     \
    X(flat_chains,                                                             \
      flt(U(),                                                                 \
          tdo_q_or(tdo_q_or(L("id", I(1)), L("id", I(2))), L("id", I(3)))),    \
      SEL, SELU " WHERE \"id\"=? OR \"id\"=? OR \"id\"=?", "1, 2, 3")          \
    X(not_of_and,                                                              \
      flt(U(), tdo_q_not(tdo_q_and(L("role", T("admin")),                      \
                                   L("bio__isnull", B(true))))),               \
      SEL, SELU " WHERE NOT (\"role\"=? AND \"bio\" IS NULL)", "'admin'")      \
    X(exclude, exc(U(), L("role", T("admin"))), SEL,                           \
      SELU " WHERE NOT (\"role\"=?)", "'admin'")                               \
    X(exclude_and_filter,                                                      \
      exc(flt(U(), L("is_active", B(true))),                                   \
          tdo_q_and(L("role", T("admin")), L("id__gt", I(5)))),                \
      SEL, SELU " WHERE \"is_active\"=? AND NOT (\"role\"=? AND \"id\">?)",    \
      "true, 'admin', 5")                                                      \
    X(empty_q, flt(U(), tdo_q_empty()), SEL, SELU, "")                         \
    X(empty_or, flt(U(), tdo_q_or(tdo_q_empty(), L("id", I(1)))), SEL,         \
      SELU " WHERE \"id\"=?", "1")                                             \
    X(exclude_empty, exc(U(), tdo_q_empty()), SEL, SELU, "")                   \
    X(f_field, flt(P(), LE("stock__gt", Ff("min_stock"))), SEL,                \
      SELP " WHERE \"stock\">\"min_stock\"", "")                               \
    X(f_arith,                                                                 \
      flt(P(), LE("stock__lt",                                                 \
                  tdo_expr_binop(                                              \
                      '+', tdo_expr_binop('*', Ff("min_stock"), Fv(I(2))),     \
                      Fv(I(1))))),                                             \
      SEL, SELP " WHERE \"stock\"<\"min_stock\"*?+?", "2, 1")                  \
    X(f_parens,                                                                \
      flt(P(),                                                                 \
          LE("stock",                                                          \
             tdo_expr_binop('*', tdo_expr_binop('+', Ff("stock"), Fv(I(1))),   \
                            Fv(I(2))))),                                       \
      SEL, SELP " WHERE \"stock\"=(\"stock\"+?)*?", "1, 2")                    \
    X(f_right_sub,                                                             \
      flt(P(),                                                                 \
          LE("stock__gte",                                                     \
             tdo_expr_binop('-', Ff("stock"),                                  \
                            tdo_expr_binop('-', Ff("min_stock"), Fv(I(1)))))), \
      SEL, SELP " WHERE \"stock\">=\"stock\"-(\"min_stock\"-?)", "1")          \
    X(f_neg,                                                                   \
      flt(P(),                                                                 \
          LE("stock__lte", tdo_expr_binop('-', Ff("stock"),                    \
                                          tdo_expr_neg(Ff("min_stock"))))),    \
      SEL, SELP " WHERE \"stock\"<=\"stock\"-(-\"min_stock\")", "")            \
    X(f_neg_neg,                                                               \
      flt(P(), LE("stock__not", tdo_expr_neg(tdo_expr_neg(Ff("pk"))))), SEL,   \
      SELP " WHERE (\"stock\"<>-(-\"id\") OR \"stock\" IS NULL)", "")          \
    X(order_desc, ord(U(), 1, "-created_at"), SEL,                             \
      SELU " ORDER BY \"created_at\" DESC", "")                                \
    X(order_many, ord(U(), 2, "role", "-pk"), SEL,                             \
      SELU " ORDER BY \"role\",\"id\" DESC", "")                               \
    X(order_replaced, ord(ord(U(), 1, "role"), 1, "email"), SEL,               \
      SELU " ORDER BY \"email\"", "")                                          \
    X(order_fk, ord(P(), 1, "category"), SEL,                                  \
      SELP " ORDER BY \"category_id\"", "")                                    \
    X(limit, lim(U(), 10), SEL, SELU " LIMIT 10", "")                          \
    X(limit0, lim(U(), 0), SEL, SELU " LIMIT 0", "")                           \
    X(offset, off(U(), 5), SEL, SELU " LIMIT -1 OFFSET 5", "")                 \
    X(limit_offset, off(lim(U(), 10), 5), SEL, SELU " LIMIT 10 OFFSET 5", "")  \
    X(distinct, dist(U()), SEL, "SELECT DISTINCT " UCOLS " FROM \"users\"",    \
      "")                                                                      \
    X(brief_example,                                                           \
      lim(ord(flt(vals(U(), TDO_PROJ_VALUES, 2, "id", "email", NULL, NULL),    \
                  L("is_active", B(true))),                                    \
              1, "-created_at"),                                               \
          10),                                                                 \
      SEL,                                                                     \
      "SELECT \"id\",\"email\" FROM \"users\" WHERE \"is_active\"=? ORDER "    \
      "BY \"created_at\" DESC LIMIT 10",                                       \
      "true")                                                                  \
    X(values_list,                                                             \
      vals(U(), TDO_PROJ_VALUES_LIST, 2, "pk", "role", NULL, NULL), SEL,       \
      "SELECT \"id\",\"role\" FROM \"users\"", "")                             \
    X(values_flat, vals(U(), TDO_PROJ_FLAT, 1, "email", NULL), SEL,            \
      "SELECT \"email\" FROM \"users\"", "")                                   \
    X(values_fk,                                                               \
      vals(P(), TDO_PROJ_VALUES, 2, "category", "category_id", "cat", NULL),   \
      SEL, "SELECT \"category_id\",\"category_id\" FROM \"products\"", "")     \
    X(values_all, vals(P(), TDO_PROJ_VALUES, 0), SEL, SELP, "")                \
    X(count, flt(U(), L("is_active", B(true))), CNT,                           \
      "SELECT COUNT(*) FROM \"users\" WHERE \"is_active\"=?", "true")          \
    X(count_ignores_order, ord(U(), 1, "email"), CNT,                          \
      "SELECT COUNT(*) FROM \"users\"", "")                                    \
    X(count_limit, off(lim(U(), 10), 2), CNT,                                  \
      "SELECT COUNT(*) FROM (" SELU " LIMIT 10 OFFSET 2) AS \"sub\"", "")      \
    X(count_distinct,                                                          \
      dist(flt(vals(U(), TDO_PROJ_FLAT, 1, "role", NULL), L("id__gt", I(1)))), \
      CNT,                                                                     \
      "SELECT COUNT(*) FROM (SELECT DISTINCT \"role\" FROM \"users\" WHERE "   \
      "\"id\">?) AS \"sub\"",                                                  \
      "1")                                                                     \
    X(exists, flt(U(), L("is_active", B(true))), EXI,                          \
      "SELECT 1 FROM \"users\" WHERE \"is_active\"=? LIMIT 1", "true")         \
    X(exists_offset, off(U(), 3), EXI,                                         \
      "SELECT 1 FROM \"users\" LIMIT 1 OFFSET 3", "")                          \
    X(exists_limit0, lim(U(), 0), EXI, "SELECT 1 FROM \"users\" LIMIT 0", "")  \
    X(delete, flt(U(), L("is_active", B(false))), DEL,                         \
      "DELETE FROM \"users\" WHERE \"is_active\"=?", "false")                  \
    X(delete_all, U(), DEL, "DELETE FROM \"users\"", "")                       \
    X(delete_limit, lim(ord(U(), 1, "-id"), 2), DEL,                           \
      "DELETE FROM \"users\" WHERE \"id\" IN (SELECT \"id\" FROM \"users\" "   \
      "ORDER BY \"id\" DESC LIMIT 2)",                                         \
      "")

#define MAKE_FN(name, query, kind, sql, params)                                \
    static tdo_query *make_##name(void)                                        \
    {                                                                          \
        return query;                                                          \
    }
CASES(MAKE_FN)

static const struct ccase {
    const char *name;
    tdo_query *(*make)(void);
    tdo_stmt_kind kind;
    const char *sql;
    const char *params;
} cases[] = {
#define MAKE_ROW(name, query, kind, sql, params)                               \
    {#name, make_##name, kind, sql, params},
    CASES(MAKE_ROW)
#undef MAKE_ROW
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tdo_query *q = cases[i].make();
        assert_non_null(q);
        tdo_error err = TDO_ERROR_INIT;
        tdo_compiled *c = NULL;
        tdo_status st =
            tdo_compile(q, cases[i].kind, sqlite, NULL, 0, &c, &err);
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

/* ---- columns and projections ------------------------------------------ */

static void test_columns(void **state)
{
    (void)state;
    tdo_query *q = P();
    assert_int_equal(tdo_query_projection(q), TDO_PROJ_INSTANCES);
    assert_int_equal(tdo_query_ncolumns(q), 7);
    assert_string_equal(tdo_query_column(q, 5), "category_id");
    assert_null(tdo_query_column(q, 7));
    assert_false(tdo_query_is_filtered(q));

    tdo_error err = TDO_ERROR_INIT;
    tdo_compiled *c;
    assert_int_equal(tdo_compile(q, SEL, sqlite, NULL, 0, &c, &err), 0);
    assert_int_equal(c->ncols, 7);
    assert_string_equal(c->cols[2].name, "price");
    assert_ptr_equal(c->cols[2].field,
                     tdo_model_field_by_name(product, "price"));
    assert_string_equal(c->cols[5].name, "category_id");
    assert_int_equal(c->cols[5].field->type, TDO_F_FK);
    tdo_compiled_free(c);

    tdo_query *v = vals(tdo_query_new(product), TDO_PROJ_VALUES, 2, "name",
                        "pk", "title", NULL);
    assert_int_equal(tdo_query_projection(v), TDO_PROJ_VALUES);
    assert_int_equal(tdo_query_ncolumns(v), 2);
    assert_string_equal(tdo_query_column(v, 0), "title");
    assert_string_equal(tdo_query_column(v, 1), "pk");
    assert_int_equal(tdo_compile(v, SEL, sqlite, NULL, 0, &c, &err), 0);
    assert_string_equal(c->cols[0].name, "title");
    assert_int_equal(c->cols[1].field->type, TDO_F_INT);
    tdo_compiled_free(c);

    /* count/exists decode raw */
    assert_int_equal(tdo_compile(v, CNT, sqlite, NULL, 0, &c, &err), 0);
    assert_int_equal(c->ncols, 1);
    assert_null(c->cols[0].field);
    tdo_compiled_free(c);

    tdo_query *f = flt(tdo_query_new(product), L("id", I(1)));
    assert_true(tdo_query_is_filtered(f));
    tdo_query *l = lim(tdo_query_new(product), 3);
    assert_true(tdo_query_is_filtered(l));
    /* immutability: the parent is unchanged */
    tdo_query *f2 = flt(tdo_query_new(product), L("id", I(1)));
    tdo_query *f3;
    tdo_qnode *n = L("stock", I(0));
    assert_int_equal(tdo_query_filter(f2, n, &f3, &err), 0);
    tdo_qnode_free(n);
    expect_query(f2, SEL, SELP " WHERE \"id\"=?", "1");
    expect_query(f3, SEL, SELP " WHERE \"id\"=? AND \"stock\"=?", "1, 0");
    tdo_query_free(q);
    tdo_query_free(v);
    tdo_query_free(f);
    tdo_query_free(l);
}

/* ---- update ----------------------------------------------------------- */

static void compile_update(tdo_query *q, const tdo_assign *a, size_t n,
                           const char *sql, const char *params)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_compiled *c = NULL;
    tdo_status st = tdo_compile(q, TDO_STMT_UPDATE, sqlite, a, n, &c, &err);
    if (st)
        fail_msg("update failed: %s", err.message);
    expect(c, sql, params);
    tdo_compiled_free(c);
    tdo_query_free(q);
}

static void test_update(void **state)
{
    (void)state;
    tdo_value archived = T("archived");
    tdo_assign a1[] = {{"role", &archived, NULL}};
    compile_update(flt(U(), L("is_active", B(false))), a1, 1,
                   "UPDATE \"users\" SET \"role\"=? WHERE \"is_active\"=?",
                   "'archived', false");

    tdo_expr *dec = tdo_expr_binop('-', Ff("stock"), Fv(I(1)));
    tdo_value price = T("9.5");
    tdo_assign a2[] = {{"stock", NULL, dec}, {"price", &price, NULL}};
    compile_update(flt(P(), L("id", I(1))), a2, 2,
                   "UPDATE \"products\" SET \"stock\"=\"stock\"-?,"
                   "\"price\"=? WHERE \"id\"=?",
                   "1, 9.50, 1");
    tdo_expr_free(dec);

    tdo_value nul = N(), three = I(3);
    tdo_assign a3[] = {{"category", &three, NULL}, {"created_at", &nul, NULL}};
    compile_update(lim(ord(P(), 1, "name"), 2), a3, 2,
                   "UPDATE \"products\" SET \"category_id\"=?,"
                   "\"created_at\"=? WHERE \"id\" IN (SELECT \"id\" FROM "
                   "\"products\" ORDER BY \"name\" LIMIT 2)",
                   "3, NULL");

    tdo_expr *mul = tdo_expr_binop(
        '*', tdo_expr_binop('+', Ff("stock"), Ff("min_stock")), Fv(I(2)));
    tdo_assign a4[] = {{"min_stock", NULL, mul}};
    compile_update(P(), a4, 1,
                   "UPDATE \"products\" SET \"min_stock\"=(\"stock\"+"
                   "\"min_stock\")*?",
                   "2");
    tdo_expr_free(mul);

    /* datetime values are coerced from ISO text */
    tdo_value when = T("2026-11-25T10:15:35");
    tdo_assign a5[] = {{"created_at", &when, NULL}};
    compile_update(P(), a5, 1, "UPDATE \"products\" SET \"created_at\"=?",
                   "2026-11-25T10:15:35");
}

/* ---- insert and by-primary-key statements ------------------------------ */

static void test_insert(void **state)
{
    (void)state;
    tdo_error err = TDO_ERROR_INIT;
    tdo_compiled *c;
    const tdo_field *f[] = {tdo_model_field_by_name(user, "email"),
                            tdo_model_field_by_name(user, "is_active")};
    tdo_value v[] = {T("a@b"), B(true), T("c@d"), B(false)};

    assert_int_equal(
        tdo_compile_insert(user, sqlite, f, 2, v, 1, false, &c, &err), 0);
    /* one row: SQLite's last_insert_rowid gives the key (no RETURNING,
     * which costs a temporary table a row) */
    expect(c, "INSERT INTO \"users\" (\"email\",\"is_active\") VALUES (?,?)",
           "'a@b', true");
    assert_false(c->returning);
    tdo_compiled_free(c);

    assert_int_equal(
        tdo_compile_insert(user, sqlite, f, 2, v, 2, false, &c, &err), 0);
    expect(c,
           "INSERT INTO \"users\" (\"email\",\"is_active\") VALUES "
           "(?,?),(?,?) RETURNING \"id\"",
           "'a@b', true, 'c@d', false");
    assert_true(c->returning);
    assert_int_equal(c->ncols, 1);
    assert_string_equal(c->cols[0].name, "id");
    assert_ptr_equal(c->cols[0].field, tdo_model_pk(user));
    tdo_compiled_free(c);

    assert_int_equal(
        tdo_compile_insert(user, sqlite, f, 2, v, 2, true, &c, &err), 0);
    expect(c,
           "INSERT OR IGNORE INTO \"users\" (\"email\",\"is_active\") "
           "VALUES (?,?),(?,?) RETURNING \"id\"",
           "'a@b', true, 'c@d', false");
    tdo_compiled_free(c);

    assert_int_equal(
        tdo_compile_insert(user, sqlite, NULL, 0, NULL, 1, false, &c, &err), 0);
    expect(c, "INSERT INTO \"users\" DEFAULT VALUES", "");
    tdo_compiled_free(c);

    assert_int_equal(
        tdo_compile_insert(user, sqlite, NULL, 0, NULL, 2, false, &c, &err),
        TDO_ERR_PARAMS);
    assert_null(c);
    tdo_error_release(&err);

    /* a dialect without RETURNING, with ON CONFLICT DO NOTHING */
    tdo_dialect plain = *sqlite;
    plain.features &= ~(unsigned)(TDO_DF_RETURNING | TDO_DF_INSERT_OR_IGNORE);
    assert_int_equal(
        tdo_compile_insert(user, &plain, f, 2, v, 1, true, &c, &err), 0);
    expect(c,
           "INSERT INTO \"users\" (\"email\",\"is_active\") VALUES (?,?) "
           "ON CONFLICT DO NOTHING",
           "'a@b', true");
    assert_false(c->returning);
    assert_int_equal(c->ncols, 0);
    tdo_compiled_free(c);

    tdo_value upd[] = {T("x@y"), N()};
    const tdo_field *uf[] = {tdo_model_field_by_name(user, "email"),
                             tdo_model_field_by_name(user, "bio")};
    tdo_value pk = I(7);
    assert_int_equal(
        tdo_compile_update_pk(user, sqlite, uf, upd, 2, &pk, &c, &err), 0);
    expect(c, "UPDATE \"users\" SET \"email\"=?,\"bio\"=? WHERE \"id\"=?",
           "'x@y', NULL, 7");
    tdo_compiled_free(c);

    tdo_value tpk = T("8");
    assert_int_equal(tdo_compile_delete_pk(user, sqlite, &tpk, &c, &err), 0);
    expect(c, "DELETE FROM \"users\" WHERE \"id\"=?", "8");
    tdo_compiled_free(c);
}

/* ---- errors ----------------------------------------------------------- */

static void expect_filter_error(tdo_query *q, tdo_qnode *n, tdo_status code,
                                const char *msg)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *out = (tdo_query *)1;
    assert_int_equal(tdo_query_filter(q, n, &out, &err), code);
    assert_null(out);
    if (!err.message || !strstr(err.message, msg))
        fail_msg("message '%s' lacks '%s'", err.message, msg);
    tdo_error_release(&err);
    tdo_qnode_free(n);
    tdo_query_free(q);
}

static void test_errors(void **state)
{
    (void)state;
    expect_filter_error(U(), L("emial", T("x")), TDO_ERR_FIELD,
                        "no such field 'emial' on model 'User' (fields: id, "
                        "email, username, role, is_active, bio, created_at)");
    expect_filter_error(
        U(), L("email__foo", T("x")), TDO_ERR_FIELD,
        "unknown lookup 'foo' for field 'email' (lookups: "
        "exact, iexact, not, in, not_in, gt, gte, lt, lte, "
        "range, isnull, not_isnull, contains, icontains, "
        "startswith, istartswith, endswith, iendswith, regex, iregex, "
        "posix_regex)");
    expect_filter_error(U(), L("email__gt__x", T("x")), TDO_ERR_FIELD,
                        "unknown lookup 'gt__x' for field 'email'");
    expect_filter_error(P(), L("category__nope", T("x")), TDO_ERR_FIELD,
                        "no such field 'nope' on model 'Category'");
    expect_filter_error(U(), L("id", T("abc")), TDO_ERR_FIELD, "id");
    expect_filter_error(U(), Lv("id__range", 1, I(1)), TDO_ERR_PARAMS,
                        "id__range");
    expect_filter_error(U(),
                        tdo_q_or(L("id", I(1)), tdo_q_not(L("nope__in", I(1)))),
                        TDO_ERR_FIELD, "no such field 'nope' on model 'User'");
    expect_filter_error(P(), LE("stock__gt", Ff("stok")), TDO_ERR_FIELD,
                        "no such field 'stok' on model 'Product'");
    expect_filter_error(P(), LE("name__contains", Ff("name")), TDO_ERR_PARAMS,
                        "does not take an expression");

    tdo_error err = TDO_ERROR_INIT;
    tdo_query *q = U(), *out = (tdo_query *)1;
    assert_int_equal(tdo_query_limit(q, -1, &out, &err), TDO_ERR_PARAMS);
    assert_null(out);
    assert_string_equal(err.message, "Limit should be non-negative number");
    tdo_error_release(&err);
    assert_int_equal(tdo_query_offset(q, -2, &out, &err), TDO_ERR_PARAMS);
    tdo_error_release(&err);

    const char *bad[] = {"-emial"};
    assert_int_equal(tdo_query_order_by(q, bad, 1, &out, &err), TDO_ERR_FIELD);
    assert_non_null(strstr(err.message, "no such field 'emial'"));
    tdo_error_release(&err);

    const char *two[] = {"id", "email"};
    assert_int_equal(
        tdo_query_values(q, TDO_PROJ_FLAT, two, NULL, 2, &out, &err),
        TDO_ERR_PARAMS);
    tdo_error_release(&err);
    const char *unknown[] = {"id", "mail"};
    assert_int_equal(
        tdo_query_values(q, TDO_PROJ_VALUES, unknown, NULL, 2, &out, &err),
        TDO_ERR_FIELD);
    assert_non_null(strstr(err.message, "no such field 'mail'"));
    tdo_error_release(&err);

    tdo_compiled *c = (tdo_compiled *)1;
    tdo_value x = T("x");
    tdo_assign bad_assign[] = {{"rol", &x, NULL}};
    assert_int_equal(
        tdo_compile(q, TDO_STMT_UPDATE, sqlite, bad_assign, 1, &c, &err),
        TDO_ERR_FIELD);
    assert_null(c);
    assert_non_null(strstr(err.message, "no such field 'rol'"));
    tdo_error_release(&err);
    assert_int_equal(tdo_compile(q, TDO_STMT_UPDATE, sqlite, NULL, 0, &c, &err),
                     TDO_ERR_PARAMS);
    tdo_error_release(&err);
    tdo_query_free(q);
}

/* ---- Q and F objects ---------------------------------------------------- */

static void test_format_equal(void **state)
{
    (void)state;
    tdo_qnode *a =
        tdo_q_or(L("role", T("admin")), tdo_q_not(L("is_active", B(true))));
    tdo_qnode *b =
        tdo_q_or(L("role", T("admin")), tdo_q_not(L("is_active", B(true))));
    tdo_qnode *c =
        tdo_q_or(L("role", T("admin")), tdo_q_not(L("is_active", B(false))));
    assert_true(tdo_qnode_equal(a, b));
    assert_false(tdo_qnode_equal(a, c));
    assert_false(tdo_qnode_equal(a, a->a));
    tdo_sb sb = TDO_SB_INIT;
    tdo_qnode_format(&sb, a);
    assert_string_equal(sb.buf, "(role = 'admin' OR NOT (is_active = true))");
    tdo_sb_reset(&sb);

    tdo_qnode *d =
        tdo_q_and(Lv("id__in", 2, I(1), I(2)),
                  LE("stock__gt", tdo_expr_binop('+', Ff("min"), Fv(I(1)))));
    tdo_qnode_format(&sb, d);
    assert_string_equal(sb.buf, "(id__in = (1, 2) AND stock__gt = F(min) + 1)");
    tdo_sb_reset(&sb);

    tdo_expr *e = tdo_expr_binop(
        '-', Ff("a"), tdo_expr_binop('*', tdo_expr_neg(Ff("b")), Fv(T("x"))));
    tdo_expr_format(&sb, e);
    assert_string_equal(sb.buf, "F(a) - -F(b) * 'x'");
    tdo_sb_reset(&sb);
    tdo_expr *e2 =
        tdo_expr_binop('*', tdo_expr_binop('-', Ff("a"), Fv(I(1))), Ff("c"));
    tdo_expr_format(&sb, e2);
    assert_string_equal(sb.buf, "(F(a) - 1) * F(c)");
    tdo_sb_release(&sb);

    tdo_qnode *e1 = tdo_q_lookup_expr("x", tdo_expr_ref(e));
    tdo_qnode *e3 = tdo_q_lookup_expr("x", tdo_expr_ref(e));
    assert_true(tdo_qnode_equal(e1, e3));
    tdo_qnode_free(e1);
    tdo_qnode_free(e3);
    assert_null(tdo_expr_binop('&', Ff("a"), Ff("b")));
    tdo_expr *m = tdo_expr_binop('%', Ff("a"), Ff("b"));
    tdo_sb_reset(&sb);
    tdo_expr_format(&sb, m);
    assert_string_equal(sb.buf, "F(a) % F(b)");
    tdo_sb_release(&sb);
    tdo_expr_free(m);
    assert_null(tdo_q_and(NULL, NULL));
    tdo_expr_free(e);
    tdo_expr_free(e2);
    tdo_qnode_free(a);
    tdo_qnode_free(b);
    tdo_qnode_free(c);
    tdo_qnode_free(d);
    /* sharing: one Q in two queries, freed in any order */
    tdo_qnode *shared = L("id", I(1));
    tdo_query *q1 = flt(U(), tdo_qnode_ref(shared));
    tdo_query *q2 = exc(U(), shared);
    expect_query(q1, SEL, SELU " WHERE \"id\"=?", "1");
    expect_query(q2, SEL, SELU " WHERE NOT (\"id\"=?)", "1");
}

/* ---- dialect ---------------------------------------------------------- */

static void test_dialect(void **state)
{
    (void)state;
    assert_ptr_equal(tdo_dialect_by_name("sqlite"), &tdo_dialect_sqlite);
    assert_null(tdo_dialect_by_name("oracle"));
    assert_string_equal(tdo_dialect_name(sqlite), "sqlite");
    tdo_sb sb = TDO_SB_INIT;
    sqlite->quote_ident(&sb, "we\"ird");
    assert_string_equal(sb.buf, "\"we\"\"ird\"");
    tdo_sb_reset(&sb);
    sqlite->limit_offset(&sb, -1, 4);
    assert_string_equal(sb.buf, " LIMIT -1 OFFSET 4");
    tdo_sb_reset(&sb);

    const tdo_field *price = tdo_model_field_by_name(product, "price");
    const tdo_field *created = tdo_model_field_by_name(product, "created_at");
    const tdo_field *active = tdo_model_field_by_name(user, "is_active");
    tdo_error err = TDO_ERROR_INIT;
    tdo_value out, in;
    char buf[64];

    /* decimals: REAL, INTEGER and TEXT all come back exact */
    in = tdo_value_double(99.99);
    assert_int_equal(sqlite->from_db(price, &in, &out, false, &err), 0);
    assert_int_equal(out.type, TDO_DECIMAL);
    tdo_decimal_format(&out.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "99.99");
    in = tdo_value_int(12);
    assert_int_equal(sqlite->from_db(price, &in, &out, false, &err), 0);
    tdo_decimal_format(&out.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "12.00");
    in = T("12345678901234567.5");
    assert_int_equal(sqlite->from_db(price, &in, &out, false, &err), 0);
    tdo_decimal_format(&out.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "12345678901234567.50");
    in = tdo_value_double(0.1 + 0.2);
    assert_int_equal(sqlite->from_db(price, &in, &out, false, &err), 0);
    tdo_decimal_format(&out.u.dec, buf, sizeof(buf));
    assert_string_equal(buf, "0.30");

    tdo_decimal d;
    assert_int_equal(tdo_decimal_parse("9.50", 4, &d, &err), 0);
    in = tdo_value_decimal(&d);
    assert_int_equal(sqlite->to_db(price, &in, &out, false, &err), 0);
    assert_int_equal(out.type, TDO_TEXT);
    assert_string_equal(out.u.s.ptr, "9.50");
    tdo_value_release(&out);

    /* booleans */
    in = B(true);
    assert_int_equal(sqlite->to_db(active, &in, &out, false, &err), 0);
    assert_int_equal(out.type, TDO_INT);
    assert_int_equal(out.u.i, 1);
    in = I(0);
    assert_int_equal(sqlite->from_db(active, &in, &out, false, &err), 0);
    assert_int_equal(out.type, TDO_BOOL);
    assert_false(out.u.b);

    /* datetimes: fixed width, offset only with use_tz, stored in UTC */
    tdo_value dt = {.type = TDO_DATETIME};
    assert_int_equal(tdo_datetime_parse("2026-11-25T10:15:35", 19, TDO_DATETIME,
                                        &dt.u.dt, &err),
                     0);
    assert_int_equal(sqlite->to_db(created, &dt, &out, false, &err), 0);
    assert_string_equal(out.u.s.ptr, "2026-11-25 10:15:35.000000");
    tdo_value_release(&out);
    assert_int_equal(sqlite->to_db(created, &dt, &out, true, &err), 0);
    assert_string_equal(out.u.s.ptr, "2026-11-25 10:15:35.000000+00:00");
    tdo_value_release(&out);
    assert_int_equal(tdo_datetime_parse("2026-11-25T01:15:35.5+02:00", 27,
                                        TDO_DATETIME, &dt.u.dt, &err),
                     0);
    assert_int_equal(sqlite->to_db(created, &dt, &out, true, &err), 0);
    assert_string_equal(out.u.s.ptr, "2026-11-24 23:15:35.500000+00:00");
    tdo_value_release(&out);
    /* f NULL: by value type */
    assert_int_equal(sqlite->to_db(NULL, &dt, &out, false, &err), 0);
    assert_string_equal(out.u.s.ptr, "2026-11-24 23:15:35.500000");
    tdo_value_release(&out);

    in = T("2026-11-25 10:15:35.000250");
    assert_int_equal(sqlite->from_db(created, &in, &out, false, &err), 0);
    assert_int_equal(out.type, TDO_DATETIME);
    assert_int_equal(out.u.dt.usec, 250);
    assert_false(out.u.dt.has_offset);
    assert_int_equal(sqlite->from_db(created, &in, &out, true, &err), 0);
    assert_true(out.u.dt.has_offset);
    assert_int_equal(out.u.dt.offset_min, 0);

    /* column types */
    const struct {
        tdo_model *m;
        const char *field, *type;
    } types[] = {
        {user, "id", "INTEGER PRIMARY KEY AUTOINCREMENT"},
        {user, "email", "VARCHAR(255)"},
        {user, "role", "VARCHAR(20)"},
        {user, "is_active", "INT"},
        {user, "bio", "TEXT"},
        {user, "created_at", "TIMESTAMP"},
        {product, "price", "DECIMAL(10,2)"},
        {product, "category", "INT"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        tdo_sb_reset(&sb);
        sqlite->column_type(
            &sb, tdo_model_field_by_name(types[i].m, types[i].field));
        assert_string_equal(sb.buf, types[i].type);
    }
    tdo_sb_release(&sb);
}

/* ---- allocation failures ------------------------------------------------ */

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n < 400; n++) {
        tdo_test_fail_alloc_after(n);
        tdo_error err = TDO_ERROR_INIT;
        tdo_query *q0 = tdo_query_new(user), *q1 = NULL, *q2 = NULL;
        tdo_compiled *c = NULL;
        tdo_value v = T("a%b");
        tdo_qnode *l = tdo_q_lookup("email__icontains", &v, 1);
        tdo_value t = B(true);
        tdo_qnode *o =
            tdo_q_or(l, tdo_q_not(tdo_q_lookup("bio__isnull", &t, 1)));
        bool ok = q0 && o && !tdo_query_filter(q0, o, &q1, &err);
        const char *keys[] = {"-created_at"};
        ok = ok && !tdo_query_order_by(q1, keys, 1, &q2, &err);
        ok = ok && !tdo_compile(q2, TDO_STMT_COUNT, sqlite, NULL, 0, &c, &err);
        tdo_test_fail_alloc_after(0);
        tdo_compiled_free(c);
        tdo_qnode_free(o);
        tdo_query_free(q0);
        tdo_query_free(q1);
        tdo_query_free(q2);
        tdo_error_release(&err);
        if (ok)
            return;
    }
    fail_msg("never succeeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),   cmocka_unit_test(test_columns),
        cmocka_unit_test(test_update),  cmocka_unit_test(test_insert),
        cmocka_unit_test(test_errors),  cmocka_unit_test(test_format_equal),
        cmocka_unit_test(test_dialect), cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
