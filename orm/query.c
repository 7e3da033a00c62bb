/*
 * query.c -- F expressions, Q filter trees and immutable querysets.
 *
 * Q and F nodes are refcounted and never change once built, so queries
 * and Lua objects share them freely.  A query keeps a *resolved* copy of
 * each filter: the leaves name their field, lookup and coerced values, so
 * name errors surface when filter() is called and compile.c only walks
 * the tree.
 */
#include "tdo_int.h"

#include <stdio.h>

static const char *const lookup_names[TDO_LK_COUNT] = {
    [TDO_LK_EXACT] = "exact",
    [TDO_LK_IEXACT] = "iexact",
    [TDO_LK_NOT] = "not",
    [TDO_LK_IN] = "in",
    [TDO_LK_NOT_IN] = "not_in",
    [TDO_LK_GT] = "gt",
    [TDO_LK_GTE] = "gte",
    [TDO_LK_LT] = "lt",
    [TDO_LK_LTE] = "lte",
    [TDO_LK_RANGE] = "range",
    [TDO_LK_ISNULL] = "isnull",
    [TDO_LK_NOT_ISNULL] = "not_isnull",
    [TDO_LK_CONTAINS] = "contains",
    [TDO_LK_ICONTAINS] = "icontains",
    [TDO_LK_STARTSWITH] = "startswith",
    [TDO_LK_ISTARTSWITH] = "istartswith",
    [TDO_LK_ENDSWITH] = "endswith",
    [TDO_LK_IENDSWITH] = "iendswith",
};

/* Returns the name of a lookup ("icontains"); static. */
const char *tdo_lookup_name(tdo_lookup lk)
{
    return (unsigned)lk < TDO_LK_COUNT ? lookup_names[lk] : "?";
}

static int lookup_by_name(const char *s, size_t len)
{
    for (int i = 0; i < TDO_LK_COUNT; i++)
        if (strlen(lookup_names[i]) == len && !memcmp(lookup_names[i], s, len))
            return i;
    return -1;
}

static tdo_status nomem(tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------------ */
/* F expressions                                                       */
/* ------------------------------------------------------------------ */

static tdo_expr *expr_alloc(tdo_expr_kind kind)
{
    tdo_expr *e = tdo_calloc(1, sizeof(*e));
    if (e) {
        e->refs = 1;
        e->kind = kind;
    }
    return e;
}

/* F("stock"): a new field reference (NULL on out of memory); checked
 * against the model when a query uses it. */
tdo_expr *tdo_expr_field(const char *name)
{
    tdo_expr *e = expr_alloc(TDO_EXPR_FIELD);
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
    tdo_expr *e = expr_alloc(TDO_EXPR_VALUE);
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
 * when op is not one of + - * /, which returns NULL). */
tdo_expr *tdo_expr_binop(char op, tdo_expr *a, tdo_expr *b)
{
    tdo_expr *e = NULL;
    if (a && b && (op == '+' || op == '-' || op == '*' || op == '/'))
        e = expr_alloc(TDO_EXPR_BINOP);
    if (!e) {
        tdo_expr_free(a);
        tdo_expr_free(b);
        return NULL;
    }
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

/* A new -a; takes the reference to a (dropped on failure). */
tdo_expr *tdo_expr_neg(tdo_expr *a)
{
    tdo_expr *e = a ? expr_alloc(TDO_EXPR_NEG) : NULL;
    if (!e) {
        tdo_expr_free(a);
        return NULL;
    }
    e->a = a;
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
        if (e->kind == TDO_EXPR_BINOP) {
            tdo_expr_free(e->a);
            next = e->b;
        } else if (e->kind == TDO_EXPR_NEG) {
            next = e->a;
        }
        tdo_free(e);
        e = next;
    }
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

static bool expr_equal(const tdo_expr *a, const tdo_expr *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case TDO_EXPR_FIELD:
        return !strcmp(a->name, b->name);
    case TDO_EXPR_VALUE:
        return a->val.type == b->val.type &&
               tdo_value_cmp(&a->val, &b->val) == 0;
    case TDO_EXPR_BINOP:
        return a->op == b->op && expr_equal(a->a, b->a) &&
               expr_equal(a->b, b->b);
    case TDO_EXPR_NEG:
        return expr_equal(a->a, b->a);
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Q trees                                                             */
/* ------------------------------------------------------------------ */

static tdo_qnode *qnode_alloc(tdo_qkind kind)
{
    tdo_qnode *q = tdo_calloc(1, sizeof(*q));
    if (q) {
        q->refs = 1;
        q->kind = kind;
    }
    return q;
}

/* Adds a reference to q (NULL is fine); returns q. */
tdo_qnode *tdo_qnode_ref(tdo_qnode *q)
{
    if (q)
        q->refs++;
    return q;
}

/* Drops a reference to q, freeing it with the last one. */
void tdo_qnode_free(tdo_qnode *q)
{
    while (q && --q->refs == 0) {
        tdo_qnode *next = NULL;
        tdo_free(q->key);
        for (size_t i = 0; i < q->nvals; i++)
            tdo_value_release(&q->vals[i]);
        tdo_free(q->vals);
        tdo_expr_free(q->expr);
        if (q->kind == TDO_Q_AND || q->kind == TDO_Q_OR) {
            tdo_qnode_free(q->a);
            next = q->b;
        } else if (q->kind == TDO_Q_NOT) {
            next = q->a;
        }
        tdo_free(q);
        q = next;
    }
}

/* A new leaf "key = vals" holding copies of the nvals values (NULL on out
 * of memory); the names are checked when a query applies it. */
tdo_qnode *tdo_q_lookup(const char *key, const tdo_value *vals, size_t nvals)
{
    tdo_qnode *q = qnode_alloc(TDO_Q_LEAF);
    if (!q)
        return NULL;
    q->key = tdo_strdup(key ? key : "");
    if (!q->key)
        goto fail;
    if (nvals) {
        q->vals = tdo_calloc(nvals, sizeof(*q->vals));
        if (!q->vals)
            goto fail;
        for (size_t i = 0; i < nvals; i++) {
            if (tdo_value_copy(&q->vals[i], &vals[i]) != TDO_OK)
                goto fail;
            q->nvals = i + 1;
        }
    }
    return q;
fail:
    tdo_qnode_free(q);
    return NULL;
}

/* A new leaf "key = e"; takes the reference to e (dropped on failure). */
tdo_qnode *tdo_q_lookup_expr(const char *key, tdo_expr *e)
{
    if (!e)
        return NULL;
    tdo_qnode *q = tdo_q_lookup(key, NULL, 0);
    if (!q) {
        tdo_expr_free(e);
        return NULL;
    }
    q->expr = e;
    return q;
}

static tdo_qnode *q_binary(tdo_qkind kind, tdo_qnode *a, tdo_qnode *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    tdo_qnode *q = qnode_alloc(kind);
    if (!q) {
        tdo_qnode_free(a);
        tdo_qnode_free(b);
        return NULL;
    }
    q->a = a;
    q->b = b;
    return q;
}

/* a AND b; takes both references; a NULL operand gives the other. */
tdo_qnode *tdo_q_and(tdo_qnode *a, tdo_qnode *b)
{
    return q_binary(TDO_Q_AND, a, b);
}

/* a OR b; takes both references; a NULL operand gives the other. */
tdo_qnode *tdo_q_or(tdo_qnode *a, tdo_qnode *b)
{
    return q_binary(TDO_Q_OR, a, b);
}

/* NOT a; takes the reference to a (dropped on failure). */
tdo_qnode *tdo_q_not(tdo_qnode *a)
{
    tdo_qnode *q = a ? qnode_alloc(TDO_Q_NOT) : NULL;
    if (!q) {
        tdo_qnode_free(a);
        return NULL;
    }
    q->a = a;
    return q;
}

/* A new empty node (Q{}), which matches every row. */
tdo_qnode *tdo_q_empty(void)
{
    return qnode_alloc(TDO_Q_EMPTY);
}

/* Whether a and b were built alike (same shape, keys and values). */
bool tdo_qnode_equal(const tdo_qnode *a, const tdo_qnode *b)
{
    while (a != b) {
        if (!a || !b || a->kind != b->kind)
            return false;
        switch (a->kind) {
        case TDO_Q_EMPTY:
            return true;
        case TDO_Q_LEAF:
            if (strcmp(a->key, b->key) || a->nvals != b->nvals ||
                !expr_equal(a->expr, b->expr))
                return false;
            for (size_t i = 0; i < a->nvals; i++)
                if (a->vals[i].type != b->vals[i].type ||
                    tdo_value_cmp(&a->vals[i], &b->vals[i]))
                    return false;
            return true;
        case TDO_Q_AND:
        case TDO_Q_OR:
            if (!tdo_qnode_equal(a->a, b->a))
                return false;
            a = a->b;
            b = b->b;
            break;
        case TDO_Q_NOT:
            a = a->a;
            b = b->a;
            break;
        }
    }
    return true;
}

static void qnode_format(tdo_sb *sb, const tdo_qnode *q, tdo_qkind parent)
{
    switch (q->kind) {
    case TDO_Q_EMPTY:
        tdo_sb_adds(sb, "Q()");
        break;
    case TDO_Q_LEAF:
        tdo_sb_adds(sb, q->key);
        tdo_sb_adds(sb, " = ");
        if (q->expr) {
            tdo_expr_format(sb, q->expr);
        } else if (q->nvals == 1) {
            tdo_value_format(sb, &q->vals[0], true);
        } else {
            tdo_sb_addc(sb, '(');
            for (size_t i = 0; i < q->nvals; i++) {
                if (i)
                    tdo_sb_adds(sb, ", ");
                tdo_value_format(sb, &q->vals[i], true);
            }
            tdo_sb_addc(sb, ')');
        }
        break;
    case TDO_Q_AND:
    case TDO_Q_OR: {
        bool paren = parent != q->kind;
        if (paren)
            tdo_sb_addc(sb, '(');
        qnode_format(sb, q->a, q->kind);
        tdo_sb_adds(sb, q->kind == TDO_Q_AND ? " AND " : " OR ");
        qnode_format(sb, q->b, q->kind);
        if (paren)
            tdo_sb_addc(sb, ')');
        break;
    }
    case TDO_Q_NOT:
        tdo_sb_adds(sb, "NOT ");
        if (q->a->kind == TDO_Q_AND || q->a->kind == TDO_Q_OR) {
            qnode_format(sb, q->a, TDO_Q_NOT);
        } else {
            tdo_sb_addc(sb, '(');
            qnode_format(sb, q->a, TDO_Q_NOT);
            tdo_sb_addc(sb, ')');
        }
        break;
    }
}

/* Appends a readable form ("(role = 'admin' OR NOT (is_active = true))"). */
void tdo_qnode_format(tdo_sb *sb, const tdo_qnode *q)
{
    if (q)
        qnode_format(sb, q, TDO_Q_LEAF);
}

/* ------------------------------------------------------------------ */
/* Name resolution                                                     */
/* ------------------------------------------------------------------ */

static bool is_relation(const tdo_field *f)
{
    return f->type == TDO_F_FK || f->type == TDO_F_O2O || f->type == TDO_F_M2M;
}

/* Finds the field called name (len bytes) on m: "pk", an attribute name
 * or a relation column; FieldError if none. */
static tdo_status find_field(const tdo_model *m, const char *name, size_t len,
                             const tdo_field **out, tdo_error *err)
{
    char buf[128];
    char *tmp = NULL;
    const char *s = name;
    if (name[len] != '\0') {
        if (len < sizeof(buf)) {
            memcpy(buf, name, len);
            buf[len] = '\0';
            s = buf;
        } else {
            tmp = tdo_strndup(name, len);
            if (!tmp)
                return nomem(err);
            s = tmp;
        }
    }
    const tdo_field *f = NULL;
    if (!strcmp(s, "pk"))
        f = tdo_model_pk(m);
    if (!f)
        f = tdo_model_field_by_name(m, s);
    tdo_status st = TDO_OK;
    if (!f)
        st = tdo_model_field_error(m, s, err);
    tdo_free(tmp);
    *out = f;
    return st;
}

static tdo_status relation_path_error(const tdo_model *m, const char *key,
                                      tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_FIELD,
                         "relation paths are not supported yet: '%s' on "
                         "model '%s'",
                         key, tdo_model_name(m));
}

static tdo_status m2m_error(const tdo_model *m, const tdo_field *f,
                            tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_FIELD,
                         "field '%s' of model '%s' is a many-to-many "
                         "relation, not a column",
                         f->name, tdo_model_name(m));
}

/* Whether part (len bytes) names the primary key of relation f's target:
 * customer__id is the column customer_id. */
static bool is_related_pk(const tdo_field *f, const char *part, size_t len)
{
    if (f->type != TDO_F_FK && f->type != TDO_F_O2O)
        return false;
    if (len == 2 && !memcmp(part, "pk", 2))
        return true;
    const tdo_model *rm = f->related_model;
    const tdo_field *pk = rm ? tdo_model_pk(rm) : NULL;
    return pk && strlen(pk->name) == len && !memcmp(pk->name, part, len);
}

/* Resolves a column name of m ("pk", "email", "customer_id", "customer",
 * "customer__id"); FieldError if unknown, a relation path or an m2m. */
tdo_status tdo_query_resolve_field(const tdo_model *m, const char *name,
                                   const tdo_field **out, tdo_error *err)
{
    *out = NULL;
    const char *sep = strstr(name, "__");
    const tdo_field *f;
    tdo_status st =
        find_field(m, name, sep ? (size_t)(sep - name) : strlen(name), &f, err);
    if (st)
        return st;
    if (sep) {
        if (is_relation(f) && is_related_pk(f, sep + 2, strlen(sep + 2))) {
            *out = f;
            return TDO_OK;
        }
        if (is_relation(f))
            return relation_path_error(m, name, err);
        return tdo_model_field_error(m, name, err);
    }
    if (f->type == TDO_F_M2M)
        return m2m_error(m, f, err);
    *out = f;
    return TDO_OK;
}

static tdo_status unknown_lookup(const tdo_field *f, const char *lk,
                                 tdo_error *err)
{
    tdo_sb sb = TDO_SB_INIT;
    for (int i = 0; i < TDO_LK_COUNT; i++) {
        if (i)
            tdo_sb_adds(&sb, ", ");
        tdo_sb_adds(&sb, lookup_names[i]);
    }
    tdo_status st = tdo_error_set(err, TDO_ERR_FIELD,
                                  "unknown lookup '%s' for field '%s' "
                                  "(lookups: %s)",
                                  lk, f->name, sb.buf);
    tdo_sb_release(&sb);
    return st;
}

/* Splits key into a field and a lookup. */
static tdo_status parse_key(const tdo_model *m, const char *key,
                            const tdo_field **fout, tdo_lookup *lout,
                            tdo_error *err)
{
    const char *sep = strstr(key, "__");
    const tdo_field *f;
    tdo_status st =
        find_field(m, key, sep ? (size_t)(sep - key) : strlen(key), &f, err);
    if (st)
        return st;
    tdo_lookup lk = TDO_LK_EXACT;
    if (sep) {
        const char *rest = sep + 2;
        const char *sep2 = strstr(rest, "__");
        size_t len = sep2 ? (size_t)(sep2 - rest) : strlen(rest);
        int l = lookup_by_name(rest, len);
        if (is_relation(f) && is_related_pk(f, rest, len)) {
            /* customer__id[__lookup]: the relation's own column */
            if (sep2) {
                rest = sep2 + 2;
                len = strlen(rest);
                l = lookup_by_name(rest, len);
                if (l < 0)
                    return unknown_lookup(f, rest, err);
            } else {
                l = TDO_LK_EXACT;
            }
        } else if (l < 0 || sep2) {
            /* issue 4: walk the relation here and record the joins */
            if (is_relation(f))
                return relation_path_error(m, key, err);
            return unknown_lookup(f, rest, err);
        }
        lk = (tdo_lookup)l;
    }
    if (f->type == TDO_F_M2M)
        return relation_path_error(m, key, err);
    *fout = f;
    *lout = lk;
    return TDO_OK;
}

static tdo_status check_expr(const tdo_model *m, const tdo_expr *e,
                             tdo_error *err)
{
    for (; e; e = e->b) {
        const tdo_field *f;
        tdo_status st;
        switch (e->kind) {
        case TDO_EXPR_FIELD:
            return tdo_query_resolve_field(m, e->name, &f, err);
        case TDO_EXPR_VALUE:
            return TDO_OK;
        case TDO_EXPR_NEG:
            return check_expr(m, e->a, err);
        case TDO_EXPR_BINOP:
            if ((st = check_expr(m, e->a, err)))
                return st;
            break;
        }
    }
    return TDO_OK;
}

/* Coerces v for lookup lk on field f into out (owned). */
static tdo_status coerce_value(const tdo_field *f, tdo_lookup lk,
                               const tdo_value *v, tdo_value *out,
                               tdo_error *err)
{
    tdo_field tmp;
    const tdo_field *as = f;
    switch (lk) {
    case TDO_LK_ISNULL:
    case TDO_LK_NOT_ISNULL:
        tmp = tdo_field_template(f->name, TDO_F_BOOL);
        as = &tmp;
        break;
    case TDO_LK_IEXACT:
    case TDO_LK_CONTAINS:
    case TDO_LK_ICONTAINS:
    case TDO_LK_STARTSWITH:
    case TDO_LK_ISTARTSWITH:
    case TDO_LK_ENDSWITH:
    case TDO_LK_IENDSWITH:
        tmp = tdo_field_template(f->name, TDO_F_TEXT);
        tmp.flags |= TDO_FIELD_NULL;
        as = &tmp;
        break;
    default:
        break;
    }
    if (v->type == TDO_NULL) {
        *out = tdo_value_null();
        return TDO_OK;
    }
    return tdo_field_coerce(as, v, out, err);
}

static tdo_status leaf_arity(const tdo_field *f, tdo_lookup lk, size_t n,
                             const char *key, tdo_error *err)
{
    if (lk == TDO_LK_IN || lk == TDO_LK_NOT_IN)
        return TDO_OK;
    size_t want = lk == TDO_LK_RANGE ? 2 : 1;
    if (n == want)
        return TDO_OK;
    return tdo_error_set(err, TDO_ERR_PARAMS,
                         "lookup '%s' takes %zu value%s, got %zu", key, want,
                         want == 1 ? "" : "s", n);
}

/* Returns in *out a resolved copy of the leaf q for model m. */
static tdo_status resolve_leaf(const tdo_model *m, const tdo_qnode *q,
                               tdo_qnode **out, tdo_error *err)
{
    const tdo_field *f = NULL;
    tdo_lookup lk = TDO_LK_EXACT;
    tdo_status st = parse_key(m, q->key, &f, &lk, err);
    if (st)
        return st;
    if (q->expr) {
        switch (lk) {
        case TDO_LK_EXACT:
        case TDO_LK_NOT:
        case TDO_LK_GT:
        case TDO_LK_GTE:
        case TDO_LK_LT:
        case TDO_LK_LTE:
            break;
        default:
            return tdo_error_set(err, TDO_ERR_PARAMS,
                                 "lookup '%s' does not take an expression",
                                 q->key);
        }
        if ((st = check_expr(m, q->expr, err)))
            return st;
    } else if ((st = leaf_arity(f, lk, q->nvals, q->key, err))) {
        return st;
    }
    tdo_qnode *r = tdo_q_lookup(q->key, NULL, 0);
    if (!r)
        return nomem(err);
    r->field = f;
    r->lookup = lk;
    r->expr = tdo_expr_ref(q->expr);
    if (q->nvals) {
        r->vals = tdo_calloc(q->nvals, sizeof(*r->vals));
        if (!r->vals) {
            tdo_qnode_free(r);
            return nomem(err);
        }
        for (size_t i = 0; i < q->nvals; i++) {
            st = coerce_value(f, lk, &q->vals[i], &r->vals[i], err);
            if (st) {
                tdo_qnode_free(r);
                return st;
            }
            r->nvals = i + 1;
        }
    }
    *out = r;
    return TDO_OK;
}

/* Returns in *out a resolved copy of q for m, or NULL when q matches
 * every row (empty nodes vanish: Q() & x is x, Q() | x is x, ~Q() is
 * Q()). */
static tdo_status resolve(const tdo_model *m, const tdo_qnode *q,
                          tdo_qnode **out, tdo_error *err)
{
    *out = NULL;
    if (!q)
        return TDO_OK;
    tdo_qnode *a = NULL, *b = NULL;
    tdo_status st;
    switch (q->kind) {
    case TDO_Q_EMPTY:
        return TDO_OK;
    case TDO_Q_LEAF:
        return resolve_leaf(m, q, out, err);
    case TDO_Q_NOT:
        if ((st = resolve(m, q->a, &a, err)) || !a)
            return st;
        if (!(*out = tdo_q_not(a)))
            return nomem(err);
        return TDO_OK;
    case TDO_Q_AND:
    case TDO_Q_OR:
        if ((st = resolve(m, q->a, &a, err)))
            return st;
        if ((st = resolve(m, q->b, &b, err))) {
            tdo_qnode_free(a);
            return st;
        }
        if (!a || !b) {
            *out = a ? a : b;
            return TDO_OK;
        }
        if (!(*out = q_binary(q->kind, a, b)))
            return nomem(err);
        return TDO_OK;
    }
    return TDO_OK;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static void proj_free(tdo_proj *p)
{
    if (!p || --p->refs > 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        tdo_free(p->names[i]);
    tdo_free(p->names);
    tdo_free(p->fields);
    tdo_free(p);
}

static tdo_proj *proj_new(tdo_projection kind, size_t n)
{
    tdo_proj *p = tdo_calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->refs = 1;
    p->kind = kind;
    p->n = n;
    p->fields = tdo_calloc(n ? n : 1, sizeof(*p->fields));
    p->names = tdo_calloc(n ? n : 1, sizeof(*p->names));
    if (!p->fields || !p->names) {
        p->n = 0;
        proj_free(p);
        return NULL;
    }
    return p;
}

/* The output name of a field among a model's columns: its attribute name,
 * "<name>_id" for a relation; a new string. */
static char *column_attr_name(const tdo_field *f)
{
    if (f->type == TDO_F_FK || f->type == TDO_F_O2O) {
        size_t len = strlen(f->name);
        char *s = tdo_malloc(len + 4);
        if (s) {
            memcpy(s, f->name, len);
            memcpy(s + len, "_id", 4);
        }
        return s;
    }
    return tdo_strdup(f->name);
}

/* Every column of m, in field order, with kind. */
static tdo_proj *proj_all(const tdo_model *m, tdo_projection kind)
{
    size_t n = 0, nf = tdo_model_nfields(m);
    for (size_t i = 0; i < nf; i++)
        if (tdo_model_field(m, i)->type != TDO_F_M2M)
            n++;
    tdo_proj *p = proj_new(kind, n);
    if (!p)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < nf; i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (f->type == TDO_F_M2M)
            continue;
        p->fields[j] = f;
        if (!(p->names[j] = column_attr_name(f))) {
            proj_free(p);
            return NULL;
        }
        j++;
    }
    return p;
}

/* Returns a new query over every row of m (Model.all()); NULL on out of
 * memory.  Free with tdo_query_free(). */
tdo_query *tdo_query_new(tdo_model *m)
{
    if (!m)
        return NULL;
    tdo_query *q = tdo_calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->model = m;
    q->limit = -1;
    q->offset = -1;
    if (!(q->proj = proj_all(m, TDO_PROJ_INSTANCES))) {
        tdo_free(q);
        return NULL;
    }
    return q;
}

/* Frees q (NULL is fine); the nodes it shares live on while referenced. */
void tdo_query_free(tdo_query *q)
{
    if (!q)
        return;
    tdo_qnode_free(q->where);
    tdo_free(q->order);
    proj_free(q->proj);
    tdo_free(q);
}

/* Returns the model q reads. */
tdo_model *tdo_query_model(const tdo_query *q)
{
    return q->model;
}

static tdo_query *query_clone(const tdo_query *q)
{
    tdo_query *c = tdo_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *q;
    c->order = NULL;
    if (q->norder) {
        c->order = tdo_malloc(q->norder * sizeof(*c->order));
        if (!c->order) {
            tdo_free(c);
            return NULL;
        }
        memcpy(c->order, q->order, q->norder * sizeof(*c->order));
    }
    tdo_qnode_ref(c->where);
    c->proj->refs++;
    return c;
}

static tdo_status add_filter(const tdo_query *q, const tdo_qnode *cond,
                             bool negate, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_qnode *r;
    tdo_status st = resolve(q->model, cond, &r, err);
    if (st)
        return st;
    if (r && negate && !(r = tdo_q_not(r)))
        return nomem(err);
    tdo_query *c = query_clone(q);
    if (!c) {
        tdo_qnode_free(r);
        return nomem(err);
    }
    if (r) {
        tdo_qnode *w = tdo_q_and(c->where, r); /* takes both */
        c->where = w;
        if (!w) {
            tdo_query_free(c);
            return nomem(err);
        }
    }
    *out = c;
    return TDO_OK;
}

/* A new query: q's rows that match cond (AND with earlier filters). */
tdo_status tdo_query_filter(const tdo_query *q, const tdo_qnode *cond,
                            tdo_query **out, tdo_error *err)
{
    return add_filter(q, cond, false, out, err);
}

/* A new query: q's rows that do not match cond. */
tdo_status tdo_query_exclude(const tdo_query *q, const tdo_qnode *cond,
                             tdo_query **out, tdo_error *err)
{
    return add_filter(q, cond, true, out, err);
}

/* A new query ordered by keys ("-created_at", "name", "pk"), replacing
 * any earlier ordering; FieldError for an unknown name. */
tdo_status tdo_query_order_by(const tdo_query *q, const char *const *keys,
                              size_t n, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_order *order = NULL;
    if (n && !(order = tdo_malloc(n * sizeof(*order))))
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i] ? keys[i] : "";
        bool desc = false;
        if (*k == '-' || *k == '+') {
            desc = *k == '-';
            k++;
        }
        tdo_status st =
            tdo_query_resolve_field(q->model, k, &order[i].field, err);
        if (st) {
            tdo_free(order);
            return st;
        }
        order[i].desc = desc;
    }
    tdo_query *c = query_clone(q);
    if (!c) {
        tdo_free(order);
        return nomem(err);
    }
    tdo_free(c->order);
    c->order = order;
    c->norder = n;
    *out = c;
    return TDO_OK;
}

/* A new query returning at most n rows; ParamsError if n < 0. */
tdo_status tdo_query_limit(const tdo_query *q, int64_t n, tdo_query **out,
                           tdo_error *err)
{
    *out = NULL;
    if (n < 0)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "Limit should be non-negative number");
    tdo_query *c = query_clone(q);
    if (!c)
        return nomem(err);
    c->limit = n;
    *out = c;
    return TDO_OK;
}

/* A new query skipping the first n rows; ParamsError if n < 0. */
tdo_status tdo_query_offset(const tdo_query *q, int64_t n, tdo_query **out,
                            tdo_error *err)
{
    *out = NULL;
    if (n < 0)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "Offset should be non-negative number");
    tdo_query *c = query_clone(q);
    if (!c)
        return nomem(err);
    c->offset = n;
    *out = c;
    return TDO_OK;
}

/* A new query returning distinct rows. */
tdo_status tdo_query_distinct(const tdo_query *q, tdo_query **out,
                              tdo_error *err)
{
    *out = NULL;
    tdo_query *c = query_clone(q);
    if (!c)
        return nomem(err);
    c->distinct = true;
    *out = c;
    return TDO_OK;
}

/* A new query with projection kind over the named fields (see header). */
tdo_status tdo_query_values(const tdo_query *q, tdo_projection kind,
                            const char *const *names,
                            const char *const *aliases, size_t n,
                            tdo_query **out, tdo_error *err)
{
    *out = NULL;
    if (kind == TDO_PROJ_FLAT && n != 1)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "values_list with flat=true takes exactly one "
                             "field, got %zu",
                             n);
    tdo_proj *p;
    if (kind == TDO_PROJ_INSTANCES || n == 0) {
        if (!(p = proj_all(q->model, kind)))
            return nomem(err);
    } else {
        if (!(p = proj_new(kind, n)))
            return nomem(err);
        for (size_t i = 0; i < n; i++) {
            const char *name = names[i] ? names[i] : "";
            tdo_status st =
                tdo_query_resolve_field(q->model, name, &p->fields[i], err);
            if (st) {
                proj_free(p);
                return st;
            }
            const char *alias = aliases && aliases[i] ? aliases[i] : name;
            if (!(p->names[i] = tdo_strdup(alias))) {
                proj_free(p);
                return nomem(err);
            }
        }
    }
    tdo_query *c = query_clone(q);
    if (!c) {
        proj_free(p);
        return nomem(err);
    }
    proj_free(c->proj);
    c->proj = p;
    *out = c;
    return TDO_OK;
}

/* Returns the projection of q. */
tdo_projection tdo_query_projection(const tdo_query *q)
{
    return q->proj->kind;
}

/* Returns the number of output columns of q. */
size_t tdo_query_ncolumns(const tdo_query *q)
{
    return q->proj->n;
}

/* Returns the output name of column i (valid while q lives), or NULL. */
const char *tdo_query_column(const tdo_query *q, size_t i)
{
    return i < q->proj->n ? q->proj->names[i] : NULL;
}

/* Whether q has a filter, a limit or an offset. */
bool tdo_query_is_filtered(const tdo_query *q)
{
    return q->where != NULL || q->limit >= 0 || q->offset > 0;
}
