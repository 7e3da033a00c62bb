/*
 * expr.c -- F expressions: field references, values, arithmetic,
 * functions and raw SQL, refcounted and never changed once built; their
 * depth is limited (TDO_MAX_DEPTH) so that no recursion over them
 * overflows the stack.
 */
#include <string.h>

#include "tdo_int.h"

#include <stdio.h>
/* ------------------------------------------------------------------ */
/* F expressions                                                       */
/* ------------------------------------------------------------------ */

tdo_expr *tdo_expr_alloc_(tdo_expr_kind kind)
{
    tdo_expr *e = tdo_calloc(1, sizeof(*e));
    if (e) {
        e->refs = 1;
        e->depth = 1;
        e->kind = kind;
    }
    return e;
}

/* The depth of q / e (0 for NULL). */
int tdo_qnode_depth(const tdo_qnode *q)
{
    return q ? q->depth : 0;
}

int tdo_expr_depth(const tdo_expr *e)
{
    return e ? e->depth : 0;
}

/* F("stock"): a new field reference (NULL on out of memory); checked
 * against the model when a query uses it. */
tdo_expr *tdo_expr_field(const char *name)
{
    tdo_expr *e = tdo_expr_alloc_(TDO_EXPR_FIELD);
    if (!e)
        return NULL;
    e->name = tdo_strdup(name ? name : "");
    if (!e->name) {
        tdo_free(e);
        return NULL;
    }
    return e;
}

/* A new literal expression holding a copy of v (NULL on out of memory). */
tdo_expr *tdo_expr_value(const tdo_value *v)
{
    tdo_expr *e = tdo_expr_alloc_(TDO_EXPR_VALUE);
    if (!e)
        return NULL;
    tdo_value null = tdo_value_null();
    if (tdo_value_copy(&e->val, v ? v : &null) != TDO_OK) {
        tdo_free(e);
        return NULL;
    }
    return e;
}

/* A new a op b; takes the references to a and b (dropped on failure, or
 * when op is not one of + - * / % ^, which returns NULL). */
tdo_expr *tdo_expr_binop(char op, tdo_expr *a, tdo_expr *b)
{
    tdo_expr *e = NULL;
    int depth = 1 + tdo_max_depth_(tdo_expr_depth(a), tdo_expr_depth(b));
    if (a && b && op != '\0' && strchr("+-*/%^", op) != NULL &&
        depth <= TDO_MAX_DEPTH)
        e = tdo_expr_alloc_(TDO_EXPR_BINOP);
    if (!e) {
        tdo_expr_free(a);
        tdo_expr_free(b);
        return NULL;
    }
    e->op = op;
    e->a = a;
    e->b = b;
    e->depth = depth;
    return e;
}

/* A new -a; takes the reference to a (dropped on failure). */
tdo_expr *tdo_expr_neg(tdo_expr *a)
{
    tdo_expr *e =
        a && a->depth < TDO_MAX_DEPTH ? tdo_expr_alloc_(TDO_EXPR_NEG) : NULL;
    if (!e) {
        tdo_expr_free(a);
        return NULL;
    }
    e->a = a;
    e->depth = a->depth + 1;
    return e;
}

bool tdo_func_is_aggregate_(tdo_func fn)
{
    return fn == TDO_FN_COUNT || fn == TDO_FN_SUM || fn == TDO_FN_AVG ||
           fn == TDO_FN_MIN || fn == TDO_FN_MAX;
}

/* A new fn(args...) [DISTINCT] [FILTER]; takes the references to args
 * and filter (dropped on failure).  NULL on out of memory, an unknown
 * function, a NULL argument, or no argument where one is needed. */
tdo_expr *tdo_expr_func(tdo_func fn, tdo_expr *const *args, size_t nargs,
                        bool distinct, tdo_qnode *filter)
{
    tdo_expr *e = NULL;
    bool ok = (unsigned)fn <= TDO_FN_CONCAT && (nargs || fn == TDO_FN_COUNT);
    int depth = 1 + tdo_qnode_depth(filter);
    for (size_t i = 0; i < nargs; i++) {
        ok = ok && args[i];
        depth = tdo_max_depth_(depth, 1 + tdo_expr_depth(args[i]));
    }
    ok = ok && depth <= TDO_MAX_DEPTH;
    if (ok)
        e = tdo_expr_alloc_(TDO_EXPR_FUNC);
    if (e && nargs && !(e->args = tdo_calloc(nargs, sizeof(*e->args)))) {
        tdo_free(e);
        e = NULL;
    }
    if (!e) {
        for (size_t i = 0; i < nargs; i++)
            tdo_expr_free(args[i]);
        tdo_qnode_free(filter);
        return NULL;
    }
    e->fn = fn;
    e->depth = depth;
    for (size_t i = 0; i < nargs; i++)
        e->args[i] = args[i];
    e->nargs = nargs;
    e->distinct = distinct && tdo_func_is_aggregate_(fn);
    e->filter = tdo_func_is_aggregate_(fn) ? filter : NULL;
    if (!tdo_func_is_aggregate_(fn))
        tdo_qnode_free(filter);
    return e;
}

/* A new CASE expression (see testudo.h). */
tdo_expr *tdo_expr_case(tdo_qnode *const *conds, tdo_expr *const *thens,
                        size_t n, tdo_expr *dflt)
{
    tdo_expr *e = NULL;
    bool ok = n > 0;
    int depth = 1 + tdo_expr_depth(dflt);
    for (size_t i = 0; i < n; i++) {
        ok = ok && conds[i] && thens[i];
        depth = tdo_max_depth_(depth, 1 + tdo_expr_depth(thens[i]));
        depth = tdo_max_depth_(depth, 1 + tdo_qnode_depth(conds[i]));
    }
    ok = ok && depth <= TDO_MAX_DEPTH;
    if (ok)
        e = tdo_expr_alloc_(TDO_EXPR_CASE);
    if (e && (!(e->args = tdo_calloc(n, sizeof(*e->args))) ||
              !(e->conds = tdo_calloc(n, sizeof(*e->conds))))) {
        tdo_free(e->args);
        tdo_free(e);
        e = NULL;
    }
    if (!e) {
        for (size_t i = 0; i < n; i++) {
            tdo_qnode_free(conds[i]);
            tdo_expr_free(thens[i]);
        }
        tdo_expr_free(dflt);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        e->conds[i] = conds[i];
        e->args[i] = thens[i];
    }
    e->nargs = n;
    e->a = dflt;
    e->depth = depth;
    return e;
}

/* A new subquery expression (see testudo.h). */
tdo_expr *tdo_expr_subquery(const tdo_query *q)
{
    tdo_expr *e = q ? tdo_expr_alloc_(TDO_EXPR_SUBQUERY) : NULL;
    if (!e)
        return NULL;
    if (!(e->sub = tdo_query_copy_(q))) {
        tdo_free(e);
        return NULL;
    }
    return e;
}

/* A new raw SQL expression (orm.RawSQL); sql is copied. */
tdo_expr *tdo_expr_raw(const char *sql)
{
    tdo_expr *e = tdo_expr_alloc_(TDO_EXPR_RAW);
    if (!e)
        return NULL;
    if (!(e->name = tdo_strdup(sql ? sql : ""))) {
        tdo_free(e);
        return NULL;
    }
    return e;
}

/* Adds a reference to e (NULL is fine); returns e. */
tdo_expr *tdo_expr_ref(tdo_expr *e)
{
    if (e)
        e->refs++;
    return e;
}

/* Drops a reference to e, freeing it with the last one. */
void tdo_expr_free(tdo_expr *e)
{
    while (e && --e->refs == 0) {
        tdo_expr *next = NULL;
        tdo_free(e->name);
        tdo_value_release(&e->val);
        tdo_path_free(e->path);
        for (size_t i = 0; i < e->nargs; i++) {
            tdo_expr_free(e->args[i]);
            if (e->conds)
                tdo_qnode_free(e->conds[i]);
        }
        tdo_free(e->args);
        tdo_free(e->conds);
        tdo_qnode_free(e->filter);
        if (e->sub)
            tdo_query_free(e->sub);
        if (e->kind == TDO_EXPR_CASE) {
            next = e->a;
        } else if (e->kind == TDO_EXPR_BINOP) {
            tdo_expr_free(e->a);
            next = e->b;
        } else if (e->kind == TDO_EXPR_NEG) {
            next = e->a;
        }
        tdo_free(e);
        e = next;
    }
}

static const char *const func_names[] = {
    [TDO_FN_COUNT] = "Count",   [TDO_FN_SUM] = "Sum",
    [TDO_FN_AVG] = "Avg",       [TDO_FN_MIN] = "Min",
    [TDO_FN_MAX] = "Max",       [TDO_FN_LOWER] = "Lower",
    [TDO_FN_UPPER] = "Upper",   [TDO_FN_LENGTH] = "Length",
    [TDO_FN_TRIM] = "Trim",     [TDO_FN_COALESCE] = "Coalesce",
    [TDO_FN_CONCAT] = "Concat",
};

/* The Tortoise name of function fn ("Count"); static. */
const char *tdo_func_name_(tdo_func fn)
{
    return func_names[fn];
}

static int expr_prec(const tdo_expr *e)
{
    if (e->kind == TDO_EXPR_BINOP)
        return (e->op == '+' || e->op == '-') ? 1 : 2;
    return 3;
}

static void expr_format(tdo_sb *sb, const tdo_expr *e, int min_prec)
{
    bool paren = expr_prec(e) < min_prec;
    if (paren)
        tdo_sb_addc(sb, '(');
    switch (e->kind) {
    case TDO_EXPR_FIELD:
        tdo_sb_addf(sb, "F(%s)", e->name);
        break;
    case TDO_EXPR_VALUE:
        tdo_value_format(sb, &e->val, true);
        break;
    case TDO_EXPR_BINOP: {
        int p = expr_prec(e);
        expr_format(sb, e->a, p);
        tdo_sb_addf(sb, " %c ", e->op);
        /* a - (b - c), a / (b * c): the right side binds tighter */
        expr_format(sb, e->b, p + 1);
        break;
    }
    case TDO_EXPR_NEG:
        tdo_sb_addc(sb, '-');
        expr_format(sb, e->a, 3);
        break;
    case TDO_EXPR_FUNC:
        tdo_sb_addf(sb, "%s(", func_names[e->fn]);
        if (e->distinct)
            tdo_sb_adds(sb, "DISTINCT ");
        for (size_t i = 0; i < e->nargs; i++) {
            if (i)
                tdo_sb_adds(sb, ", ");
            expr_format(sb, e->args[i], 0);
        }
        if (e->filter) {
            tdo_sb_adds(sb, ", filter=");
            tdo_qnode_format(sb, e->filter);
        }
        tdo_sb_addc(sb, ')');
        break;
    case TDO_EXPR_RAW:
        tdo_sb_addf(sb, "RawSQL(%s)", e->name);
        break;
    case TDO_EXPR_SUBQUERY:
        tdo_sb_addf(sb, "Subquery(%s)", tdo_model_name(e->sub->model));
        break;
    case TDO_EXPR_CASE:
        tdo_sb_adds(sb, "Case(");
        for (size_t i = 0; i < e->nargs; i++) {
            tdo_sb_adds(sb, i ? ", When(" : "When(");
            tdo_qnode_format(sb, e->conds[i]);
            tdo_sb_adds(sb, ", ");
            expr_format(sb, e->args[i], 0);
            tdo_sb_addc(sb, ')');
        }
        if (e->a) {
            tdo_sb_adds(sb, ", default=");
            expr_format(sb, e->a, 0);
        }
        tdo_sb_addc(sb, ')');
        break;
    }
    if (paren)
        tdo_sb_addc(sb, ')');
}

/* Appends a readable form of e ("F(stock) + 1"). */
void tdo_expr_format(tdo_sb *sb, const tdo_expr *e)
{
    if (e)
        expr_format(sb, e, 0);
}

bool tdo_expr_equal_(const tdo_expr *a, const tdo_expr *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case TDO_EXPR_FIELD:
    case TDO_EXPR_RAW:
        return !strcmp(a->name, b->name);
    case TDO_EXPR_VALUE:
        return a->val.type == b->val.type &&
               tdo_value_cmp(&a->val, &b->val) == 0;
    case TDO_EXPR_BINOP:
        return a->op == b->op && tdo_expr_equal_(a->a, b->a) &&
               tdo_expr_equal_(a->b, b->b);
    case TDO_EXPR_NEG:
        return tdo_expr_equal_(a->a, b->a);
    case TDO_EXPR_FUNC:
        if (a->fn != b->fn || a->nargs != b->nargs ||
            a->distinct != b->distinct ||
            !tdo_qnode_equal(a->filter, b->filter))
            return false;
        for (size_t i = 0; i < a->nargs; i++)
            if (!tdo_expr_equal_(a->args[i], b->args[i]))
                return false;
        return true;
    case TDO_EXPR_SUBQUERY:
        return a->sub == b->sub;
    case TDO_EXPR_CASE:
        if (a->nargs != b->nargs || !tdo_expr_equal_(a->a, b->a))
            return false;
        for (size_t i = 0; i < a->nargs; i++)
            if (!tdo_expr_equal_(a->args[i], b->args[i]) ||
                !tdo_qnode_equal(a->conds[i], b->conds[i]))
                return false;
        return true;
    }
    return false;
}
