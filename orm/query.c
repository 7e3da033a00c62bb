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
    [TDO_LK_YEAR] = "year",
    [TDO_LK_QUARTER] = "quarter",
    [TDO_LK_MONTH] = "month",
    [TDO_LK_WEEK] = "week",
    [TDO_LK_DAY] = "day",
    [TDO_LK_HOUR] = "hour",
    [TDO_LK_MINUTE] = "minute",
    [TDO_LK_SECOND] = "second",
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

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/* A new path of n relations (copied); NULL on out of memory. */
static tdo_path *path_new(const tdo_relation *const *rels, size_t n)
{
    tdo_path *p = tdo_malloc(sizeof(*p) + (n ? n : 1) * sizeof(p->rels[0]));
    if (!p)
        return NULL;
    p->refs = 1;
    p->n = n;
    for (size_t i = 0; i < n; i++)
        p->rels[i] = rels[i];
    return p;
}

/* Adds a reference to p (NULL is fine); returns p. */
tdo_path *tdo_path_ref(tdo_path *p)
{
    if (p)
        p->refs++;
    return p;
}

/* Drops a reference to p, freeing it with the last one. */
void tdo_path_free(tdo_path *p)
{
    if (p && --p->refs == 0)
        tdo_free(p);
}

/* ------------------------------------------------------------------ */
/* F expressions                                                       */
/* ------------------------------------------------------------------ */

static tdo_expr *expr_alloc(tdo_expr_kind kind)
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

static int max_depth(int a, int b)
{
    return a > b ? a : b;
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
    int depth = 1 + max_depth(tdo_expr_depth(a), tdo_expr_depth(b));
    if (a && b && (op == '+' || op == '-' || op == '*' || op == '/') &&
        depth <= TDO_MAX_DEPTH)
        e = expr_alloc(TDO_EXPR_BINOP);
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
        a && a->depth < TDO_MAX_DEPTH ? expr_alloc(TDO_EXPR_NEG) : NULL;
    if (!e) {
        tdo_expr_free(a);
        return NULL;
    }
    e->a = a;
    e->depth = a->depth + 1;
    return e;
}

static bool is_aggregate_fn(tdo_func fn)
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
        depth = max_depth(depth, 1 + tdo_expr_depth(args[i]));
    }
    ok = ok && depth <= TDO_MAX_DEPTH;
    if (ok)
        e = expr_alloc(TDO_EXPR_FUNC);
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
    e->distinct = distinct && is_aggregate_fn(fn);
    e->filter = is_aggregate_fn(fn) ? filter : NULL;
    if (!is_aggregate_fn(fn))
        tdo_qnode_free(filter);
    return e;
}

/* A new raw SQL expression (orm.RawSQL); sql is copied. */
tdo_expr *tdo_expr_raw(const char *sql)
{
    tdo_expr *e = expr_alloc(TDO_EXPR_RAW);
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
        for (size_t i = 0; i < e->nargs; i++)
            tdo_expr_free(e->args[i]);
        tdo_free(e->args);
        tdo_qnode_free(e->filter);
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

static const char *const func_names[] = {
    [TDO_FN_COUNT] = "Count",   [TDO_FN_SUM] = "Sum",
    [TDO_FN_AVG] = "Avg",       [TDO_FN_MIN] = "Min",
    [TDO_FN_MAX] = "Max",       [TDO_FN_LOWER] = "Lower",
    [TDO_FN_UPPER] = "Upper",   [TDO_FN_LENGTH] = "Length",
    [TDO_FN_TRIM] = "Trim",     [TDO_FN_COALESCE] = "Coalesce",
    [TDO_FN_CONCAT] = "Concat",
};

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
    case TDO_EXPR_RAW:
        return !strcmp(a->name, b->name);
    case TDO_EXPR_VALUE:
        return a->val.type == b->val.type &&
               tdo_value_cmp(&a->val, &b->val) == 0;
    case TDO_EXPR_BINOP:
        return a->op == b->op && expr_equal(a->a, b->a) &&
               expr_equal(a->b, b->b);
    case TDO_EXPR_NEG:
        return expr_equal(a->a, b->a);
    case TDO_EXPR_FUNC:
        if (a->fn != b->fn || a->nargs != b->nargs ||
            a->distinct != b->distinct ||
            !tdo_qnode_equal(a->filter, b->filter))
            return false;
        for (size_t i = 0; i < a->nargs; i++)
            if (!expr_equal(a->args[i], b->args[i]))
                return false;
        return true;
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
        q->depth = 1;
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
        tdo_path_free(q->path);
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
    tdo_qnode *q = e->depth < TDO_MAX_DEPTH ? tdo_q_lookup(key, NULL, 0) : NULL;
    if (!q) {
        tdo_expr_free(e);
        return NULL;
    }
    q->expr = e;
    q->depth = e->depth + 1;
    return q;
}

static tdo_qnode *q_binary(tdo_qkind kind, tdo_qnode *a, tdo_qnode *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    int depth = 1 + max_depth(a->depth, b->depth);
    tdo_qnode *q = depth <= TDO_MAX_DEPTH ? qnode_alloc(kind) : NULL;
    if (!q) {
        tdo_qnode_free(a);
        tdo_qnode_free(b);
        return NULL;
    }
    q->a = a;
    q->b = b;
    q->depth = depth;
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
    tdo_qnode *q =
        a && a->depth < TDO_MAX_DEPTH ? qnode_alloc(TDO_Q_NOT) : NULL;
    if (!q) {
        tdo_qnode_free(a);
        return NULL;
    }
    q->a = a;
    q->depth = a->depth + 1;
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

static bool is_fk(const tdo_field *f)
{
    return f->type == TDO_F_FK || f->type == TDO_F_O2O;
}

/* A NUL-terminated copy of len bytes of s in buf (or a new string in
 * *tmp when it does not fit); NULL on out of memory. */
static const char *part_str(const char *s, size_t len, char *buf, size_t cap,
                            char **tmp)
{
    *tmp = NULL;
    if (len < cap) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        return buf;
    }
    return *tmp = tdo_strndup(s, len);
}

/* Whether name is a field (or "pk") or a relation of m. */
static bool names_something(const tdo_model *m, const char *name)
{
    return !strcmp(name, "pk") || tdo_model_field_by_name(m, name) ||
           tdo_model_relation_by_name(m, name);
}

/* Whether s (up to "__" or the end) is a lookup name. */
static bool is_lookup(const char *s)
{
    const char *sep = strstr(s, "__");
    return lookup_by_name(s, sep ? (size_t)(sep - s) : strlen(s)) >= 0;
}

static bool is_target_pk(const tdo_relation *r, const char *part)
{
    const tdo_field *pk = tdo_model_pk(r->target);
    return !strcmp(part, "pk") || (pk && !strcmp(part, pk->name));
}

/* Resolves the name part of len bytes at p on cur: a relation (*r) or a
 * column (*f); FieldError when it is neither, or an unresolved m2m. */
static tdo_status walk_part(const tdo_model *cur, const char *p, size_t len,
                            const tdo_relation **r, const tdo_field **f,
                            tdo_error *err)
{
    char buf[128], *tmp;
    *r = NULL;
    *f = NULL;
    const char *part = part_str(p, len, buf, sizeof(buf), &tmp);
    if (!part)
        return tdo_nomem(err);
    *r = tdo_model_relation_by_name(cur, part);
    if (!*r && strcmp(part, "pk") == 0)
        *f = tdo_model_pk(cur);
    if (!*r && !*f)
        *f = tdo_model_field_by_name(cur, part);
    tdo_status st = TDO_OK;
    if (!*r && !*f)
        st = tdo_model_field_error(cur, part, err);
    else if (*f && (*f)->type == TDO_F_M2M)
        st = tdo_error_set(err, TDO_ERR_FIELD,
                           "many-to-many field '%s' of model '%s' is not "
                           "resolved (tdo_ctx_resolve())",
                           (*f)->name, cur->name);
    tdo_free(tmp);
    return st;
}

/* The column a walk ending at relation r reaches: its own (FK, O2O), or
 * its target's primary key through it (reverse, m2m: r joins rels). */
static const tdo_field *relation_end(const tdo_relation *r,
                                     const tdo_relation **rels, size_t *n)
{
    if (r->kind == TDO_REL_FK || r->kind == TDO_REL_O2O)
        return r->field;
    rels[(*n)++] = r;
    return tdo_model_pk(r->target);
}

/* What the name part at next says after relation r: r's target's primary
 * key (*pk), a name of the target (*named); *after: what follows it. */
static tdo_status peek_part(const tdo_relation *r, const char *next, bool *pk,
                            bool *named, const char **after, tdo_error *err)
{
    char buf[128], *tmp;
    *pk = *named = false;
    *after = NULL;
    const char *sep = strstr(next, "__");
    size_t len = sep ? (size_t)(sep - next) : strlen(next);
    const char *part = part_str(next, len, buf, sizeof(buf), &tmp);
    if (!part)
        return tdo_nomem(err);
    *pk = is_target_pk(r, part);
    *named = names_something(r->target, part);
    *after = sep ? sep + 2 : NULL;
    tdo_free(tmp);
    return TDO_OK;
}

#define WALK_MAX 32 /* relations one path may go through */

/* Walks key ("customer__email__icontains") from m through relations.
 * *path gets a new path (NULL when no relation is walked), *field the
 * column reached, *rest what follows it (a lookup) or NULL.  A relation
 * at the end stands for its own column (FK/O2O) or for its target's
 * primary key (reverse, m2m); "<fk>__pk" and "<fk>__<target pk>" are the
 * FK column itself.  allow_rest: lookups may follow (else FieldError). */
static tdo_status walk(const tdo_model *m, const char *key, bool allow_rest,
                       tdo_path **path, const tdo_field **field,
                       const char **rest, tdo_error *err)
{
    const tdo_relation *rels[WALK_MAX + 1]; /* + the relation at the end */
    size_t n = 0;
    const tdo_model *cur = m;
    const char *p = key;
    *path = NULL;
    *field = NULL;
    *rest = NULL;
    for (;;) {
        const char *sep = strstr(p, "__");
        const char *next = sep ? sep + 2 : NULL;
        const tdo_relation *r;
        const tdo_field *f;
        tdo_status st =
            walk_part(cur, p, sep ? (size_t)(sep - p) : strlen(p), &r, &f, err);
        if (st)
            return st;
        if (f) { /* a column of cur; only a lookup may follow */
            *field = f;
            *rest = next;
            break;
        }
        if (!next) {
            *field = relation_end(r, rels, &n);
            break;
        }
        bool pk, named;
        const char *after;
        if ((st = peek_part(r, next, &pk, &named, &after, err)))
            return st;
        if (pk && (r->kind == TDO_REL_FK || r->kind == TDO_REL_O2O)) {
            *field = r->field; /* customer__id: the FK column itself */
            *rest = after;
            break;
        }
        if (!named && allow_rest && is_lookup(next)) {
            *field = relation_end(r, rels, &n);
            *rest = next;
            break;
        }
        if (n == WALK_MAX)
            return tdo_error_set(err, TDO_ERR_FIELD, "path '%s' is too long",
                                 key);
        rels[n++] = r;
        cur = r->target;
        p = next;
    }
    if (*rest && !allow_rest)
        return tdo_model_field_error(m, key, err);
    if (n && !(*path = path_new(rels, n)))
        return tdo_nomem(err);
    return TDO_OK;
}

/* Resolves "a__b__c" on m to a column reached through relations. */
tdo_status tdo_query_resolve_path(const tdo_model *m, const char *name,
                                  tdo_path **path, const tdo_field **field,
                                  tdo_error *err)
{
    const char *rest;
    return walk(m, name ? name : "", false, path, field, &rest, err);
}

/* Resolves a column name of m ("pk", "email", "customer_id", "customer",
 * "customer__id"); FieldError if unknown, a path through a relation, or
 * a to-many relation. */
tdo_status tdo_query_resolve_field(const tdo_model *m, const char *name,
                                   const tdo_field **out, tdo_error *err)
{
    *out = NULL;
    tdo_path *path = NULL;
    const tdo_field *f = NULL;
    tdo_status st = tdo_query_resolve_path(m, name, &path, &f, err);
    if (st)
        return st;
    if (path) {
        tdo_path_free(path);
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "'%s' on model '%s' goes through a relation; "
                             "only columns of the model can be used here",
                             name, tdo_model_name(m));
    }
    *out = f;
    return TDO_OK;
}

/* Whether date part lookup lk applies to f: year .. day to a date,
 * hour .. second to a time, all of them to a datetime. */
static bool date_part_applies(const tdo_field *f, tdo_lookup lk)
{
    bool date_part = lk <= TDO_LK_DAY;
    if (!f)
        return false;
    switch (f->type) {
    case TDO_F_DATETIME:
        return true;
    case TDO_F_DATE:
        return date_part;
    case TDO_F_TIME:
        return !date_part;
    default:
        return false;
    }
}

static tdo_status unknown_lookup(const tdo_field *f, const char *lk,
                                 tdo_error *err)
{
    tdo_sb sb = TDO_SB_INIT;
    for (int i = 0; i < TDO_LK_COUNT; i++) {
        if (TDO_LK_IS_DATE_PART(i) && !date_part_applies(f, (tdo_lookup)i))
            continue; /* only the parts the field has */
        if (i)
            tdo_sb_adds(&sb, ", ");
        tdo_sb_adds(&sb, lookup_names[i]);
    }
    tdo_status st = tdo_error_set(err, TDO_ERR_FIELD,
                                  "unknown lookup '%s' for field '%s' "
                                  "(lookups: %s)",
                                  lk, f ? f->name : "?", sb.buf);
    tdo_sb_release(&sb);
    return st;
}

/* The 1-based index of the annotation of q called name (len bytes), or
 * 0. */
static size_t find_annot(const tdo_query *q, const char *name, size_t len)
{
    for (size_t i = 0; q && i < q->nannots; i++)
        if (strlen(q->annots[i].name) == len &&
            !memcmp(q->annots[i].name, name, len))
            return i + 1;
    return 0;
}

/* Resolves a reference (no lookup) of q: an annotation name or a path. */
static tdo_status resolve_ref(const tdo_query *q, const char *name,
                              tdo_path **path, const tdo_field **field,
                              size_t *annot, tdo_error *err)
{
    *path = NULL;
    *field = NULL;
    *annot = find_annot(q, name, strlen(name));
    if (*annot)
        return TDO_OK;
    return tdo_query_resolve_path(q->model, name, path, field, err);
}

/* A resolved leaf key: the column (through path) or annotation, and the
 * lookup. */
typedef struct leafkey {
    tdo_path *path;
    const tdo_field *field;
    size_t annot;
    tdo_lookup lookup;
} leafkey;

/* FieldError for a date part lookup on a field it does not apply to. */
static tdo_status date_part_error(const tdo_query *q, const leafkey *k,
                                  const tdo_field *f, tdo_error *err)
{
    const char *lk = tdo_lookup_name(k->lookup);
    const char *takes = k->lookup <= TDO_LK_DAY
                            ? "a DateField or a DatetimeField"
                            : "a TimeField or a DatetimeField";
    if (k->annot)
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "lookup '%s' needs %s; annotation '%s' is not "
                             "one",
                             lk, takes, q->annots[k->annot - 1].name);
    return tdo_error_set(err, TDO_ERR_FIELD,
                         "lookup '%s' needs %s; '%s' is a %s", lk, takes,
                         f->name, tdo_field_type_name(f->type));
}

/* Splits key into a column (or annotation) and a lookup. */
static tdo_status parse_key(const tdo_query *q, const char *key, leafkey *out,
                            tdo_error *err)
{
    memset(out, 0, sizeof(*out));
    out->lookup = TDO_LK_EXACT;
    const char *rest = NULL;
    for (size_t i = 0; i < q->nannots; i++) {
        size_t len = strlen(q->annots[i].name);
        if (!strncmp(key, q->annots[i].name, len) &&
            (key[len] == '\0' || !strncmp(key + len, "__", 2))) {
            out->annot = i + 1;
            rest = key[len] ? key + len + 2 : NULL;
            break;
        }
    }
    if (!out->annot) {
        tdo_status st =
            walk(q->model, key, true, &out->path, &out->field, &rest, err);
        if (st)
            return st;
    }
    if (rest) {
        int l = lookup_by_name(rest, strlen(rest));
        if (l < 0) {
            tdo_path_free(out->path);
            out->path = NULL;
            if (out->annot)
                return tdo_error_set(err, TDO_ERR_FIELD,
                                     "unknown lookup '%s' for annotation "
                                     "'%s'",
                                     rest, q->annots[out->annot - 1].name);
            return unknown_lookup(out->field, rest, err);
        }
        out->lookup = (tdo_lookup)l;
    }
    if (TDO_LK_IS_DATE_PART(out->lookup)) {
        const tdo_field *f =
            out->annot ? q->annots[out->annot - 1].field : out->field;
        if (!date_part_applies(f, out->lookup)) {
            tdo_path_free(out->path);
            out->path = NULL;
            return date_part_error(q, out, f, err);
        }
    }
    return TDO_OK;
}

static tdo_status resolve(const tdo_query *q, const tdo_qnode *n,
                          tdo_qnode **out, bool *agg, tdo_error *err);

/* Returns in *out a resolved copy of e for q (field references bound to
 * columns through relations, or to annotations); *agg is set when it
 * holds an aggregate (directly or through an annotation). */
static tdo_status resolve_expr(const tdo_query *q, tdo_expr *e, tdo_expr **out,
                               bool *agg, tdo_error *err)
{
    tdo_status st = TDO_OK;
    *out = NULL;
    tdo_expr *r = expr_alloc(e->kind);
    if (!r)
        return tdo_nomem(err);
    r->resolved = true;
    r->op = e->op;
    switch (e->kind) {
    case TDO_EXPR_FIELD:
        if (!(r->name = tdo_strdup(e->name))) {
            st = tdo_nomem(err);
            break;
        }
        st = resolve_ref(q, e->name, &r->path, &r->field, &r->annot, err);
        if (!st && r->annot && q->annots[r->annot - 1].aggregate)
            *agg = true;
        break;
    case TDO_EXPR_VALUE:
        if (tdo_value_copy(&r->val, &e->val))
            st = tdo_nomem(err);
        break;
    case TDO_EXPR_RAW:
        if (!(r->name = tdo_strdup(e->name)))
            st = tdo_nomem(err);
        break;
    case TDO_EXPR_BINOP:
        if (!(st = resolve_expr(q, e->a, &r->a, agg, err)))
            st = resolve_expr(q, e->b, &r->b, agg, err);
        break;
    case TDO_EXPR_NEG:
        st = resolve_expr(q, e->a, &r->a, agg, err);
        break;
    case TDO_EXPR_FUNC: {
        bool inner = false;
        r->fn = e->fn;
        r->distinct = e->distinct;
        if (is_aggregate_fn(e->fn))
            *agg = true;
        if (e->nargs && !(r->args = tdo_calloc(e->nargs, sizeof(*r->args)))) {
            st = tdo_nomem(err);
            break;
        }
        for (size_t i = 0; i < e->nargs && !st; i++) {
            st = resolve_expr(q, e->args[i], &r->args[i], &inner, err);
            if (!st)
                r->nargs = i + 1;
        }
        if (!st && inner && is_aggregate_fn(e->fn))
            st = tdo_error_set(err, TDO_ERR_FIELD,
                               "aggregate %s() cannot contain another "
                               "aggregate",
                               func_names[e->fn]);
        if (inner)
            *agg = true;
        if (!st && e->filter) {
            bool fagg = false;
            st = resolve(q, e->filter, &r->filter, &fagg, err);
        }
        break;
    }
    }
    if (st) {
        tdo_expr_free(r);
        return st;
    }
    *out = r;
    return TDO_OK;
}

/* Coerces v for lookup lk on field f into out (owned); f NULL (an
 * annotation): a copy. */
static tdo_status coerce_value(const tdo_field *f, tdo_lookup lk,
                               const tdo_value *v, tdo_value *out,
                               tdo_error *err)
{
    tdo_field tmp;
    const tdo_field *as = f;
    if (!f) {
        if (tdo_value_copy(out, v))
            return tdo_nomem(err);
        return TDO_OK;
    }
    if (TDO_LK_IS_DATE_PART(lk)) {
        tmp = tdo_field_scratch_(f->name, TDO_F_INT);
        tmp.flags |= TDO_FIELD_NULL;
        as = &tmp;
    }
    switch (lk) {
    case TDO_LK_ISNULL:
    case TDO_LK_NOT_ISNULL:
        tmp = tdo_field_scratch_(f->name, TDO_F_BOOL);
        as = &tmp;
        break;
    case TDO_LK_IEXACT:
    case TDO_LK_CONTAINS:
    case TDO_LK_ICONTAINS:
    case TDO_LK_STARTSWITH:
    case TDO_LK_ISTARTSWITH:
    case TDO_LK_ENDSWITH:
    case TDO_LK_IENDSWITH:
        tmp = tdo_field_scratch_(f->name, TDO_F_TEXT);
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

static tdo_status leaf_arity(tdo_lookup lk, size_t n, const char *key,
                             tdo_error *err)
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

/* Returns in *out a resolved copy of the leaf n for q. */
static tdo_status resolve_leaf(const tdo_query *q, const tdo_qnode *n,
                               tdo_qnode **out, bool *agg, tdo_error *err)
{
    leafkey k;
    tdo_status st = parse_key(q, n->key, &k, err);
    if (st)
        return st;
    if (k.annot && q->annots[k.annot - 1].aggregate)
        *agg = true;
    tdo_qnode *r = tdo_q_lookup(n->key, NULL, 0);
    if (!r) {
        tdo_path_free(k.path);
        return tdo_nomem(err);
    }
    r->field = k.field;
    r->lookup = k.lookup;
    r->path = k.path;
    r->annot = k.annot;
    if (n->expr) {
        switch (k.lookup) {
        case TDO_LK_EXACT:
        case TDO_LK_NOT:
        case TDO_LK_GT:
        case TDO_LK_GTE:
        case TDO_LK_LT:
        case TDO_LK_LTE:
            break;
        default:
            tdo_qnode_free(r);
            return tdo_error_set(err, TDO_ERR_PARAMS,
                                 "lookup '%s' does not take an expression",
                                 n->key);
        }
        if ((st = resolve_expr(q, n->expr, &r->expr, agg, err))) {
            tdo_qnode_free(r);
            return st;
        }
    } else if ((st = leaf_arity(k.lookup, n->nvals, n->key, err))) {
        tdo_qnode_free(r);
        return st;
    }
    if (n->nvals) {
        r->vals = tdo_calloc(n->nvals, sizeof(*r->vals));
        if (!r->vals) {
            tdo_qnode_free(r);
            return tdo_nomem(err);
        }
        for (size_t i = 0; i < n->nvals; i++) {
            st = coerce_value(k.field, k.lookup, &n->vals[i], &r->vals[i], err);
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

/* Returns in *out a resolved copy of n for q, or NULL when n matches
 * every row (empty nodes vanish: Q() & x is x, Q() | x is x, ~Q() is
 * Q()); *agg is set when it refers to an aggregate. */
static tdo_status resolve(const tdo_query *q, const tdo_qnode *n,
                          tdo_qnode **out, bool *agg, tdo_error *err)
{
    *out = NULL;
    if (!n)
        return TDO_OK;
    tdo_qnode *a = NULL, *b = NULL;
    tdo_status st;
    switch (n->kind) {
    case TDO_Q_EMPTY:
        return TDO_OK;
    case TDO_Q_LEAF:
        return resolve_leaf(q, n, out, agg, err);
    case TDO_Q_NOT:
        if ((st = resolve(q, n->a, &a, agg, err)) || !a)
            return st;
        if (!(*out = tdo_q_not(a)))
            return tdo_nomem(err);
        return TDO_OK;
    case TDO_Q_AND:
    case TDO_Q_OR:
        if ((st = resolve(q, n->a, &a, agg, err)))
            return st;
        if ((st = resolve(q, n->b, &b, agg, err))) {
            tdo_qnode_free(a);
            return st;
        }
        if (!a || !b) {
            *out = a ? a : b;
            return TDO_OK;
        }
        if (!(*out = q_binary(n->kind, a, b)))
            return tdo_nomem(err);
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
    for (size_t i = 0; i < p->n; i++) {
        tdo_free(p->names[i]);
        tdo_path_free(p->paths[i]);
    }
    tdo_free(p->names);
    tdo_free(p->fields);
    tdo_free(p->paths);
    tdo_free(p->annots);
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
    p->paths = tdo_calloc(n ? n : 1, sizeof(*p->paths));
    p->annots = tdo_calloc(n ? n : 1, sizeof(*p->annots));
    if (!p->fields || !p->names || !p->paths || !p->annots) {
        p->n = 0;
        proj_free(p);
        return NULL;
    }
    return p;
}

/* Appends the output name of a field among a model's columns: its
 * attribute name, "<name>_id" for a relation. */
static void add_attr_name(tdo_sb *sb, const tdo_field *f)
{
    tdo_sb_adds(sb, f->name);
    if (is_fk(f))
        tdo_sb_adds(sb, "_id");
}

/* Appends "a__b" for path p. */
static void add_path_name(tdo_sb *sb, const tdo_path *p)
{
    for (size_t i = 0; p && i < p->n; i++) {
        if (i)
            tdo_sb_adds(sb, "__");
        tdo_sb_adds(sb, p->rels[i]->name);
    }
}

static size_t ncolumns_of(const tdo_model *m)
{
    size_t n = 0, nf = tdo_model_nfields(m);
    for (size_t i = 0; i < nf; i++)
        if (tdo_model_field(m, i)->type != TDO_F_M2M)
            n++;
    return n;
}

/* Whether instance rows of q (kind) load the column of f, a field of
 * q's model: every one, or those only() names. */
static bool loads(const tdo_query *q, tdo_projection kind, const tdo_field *f)
{
    if (!q->only || kind != TDO_PROJ_INSTANCES)
        return true;
    for (size_t i = 0; i < q->nonly; i++)
        if (q->only[i] == f)
            return true;
    return false;
}

/* Every column of q's model in field order (those only() names, for
 * instances), then those of the select_related models
 * ("customer__email"), then the annotations. */
static tdo_proj *proj_all(const tdo_query *q, tdo_projection kind)
{
    size_t n = q->nannots;
    size_t nf0 = tdo_model_nfields(q->model);
    for (size_t i = 0; i < nf0; i++) {
        const tdo_field *f = tdo_model_field(q->model, i);
        if (f->type != TDO_F_M2M && loads(q, kind, f))
            n++;
    }
    for (size_t i = 0; i < q->nrelated; i++) {
        const tdo_path *p = q->related[i];
        n += ncolumns_of(p->rels[p->n - 1]->target);
    }
    tdo_proj *p = proj_new(kind, n);
    if (!p)
        return NULL;
    p->all = true;
    size_t j = 0;
    for (size_t r = 0; r <= q->nrelated; r++) {
        tdo_path *path = r ? q->related[r - 1] : NULL;
        const tdo_model *m = path ? path->rels[path->n - 1]->target : q->model;
        size_t nf = tdo_model_nfields(m);
        for (size_t i = 0; i < nf; i++) {
            const tdo_field *f = tdo_model_field(m, i);
            if (f->type == TDO_F_M2M || (!path && !loads(q, kind, f)))
                continue;
            tdo_sb sb = TDO_SB_INIT;
            if (path) {
                add_path_name(&sb, path);
                tdo_sb_adds(&sb, "__");
            }
            add_attr_name(&sb, f);
            p->fields[j] = f;
            p->paths[j] = tdo_path_ref(path);
            if (!(p->names[j++] = tdo_sb_detach(&sb))) {
                proj_free(p);
                return NULL;
            }
        }
    }
    for (size_t i = 0; i < q->nannots; i++, j++) {
        p->fields[j] = q->annots[i].field;
        p->annots[j] = i + 1;
        if (!(p->names[j] = tdo_strdup(q->annots[i].name))) {
            proj_free(p);
            return NULL;
        }
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
    if (!(q->proj = proj_all(q, TDO_PROJ_INSTANCES))) {
        tdo_free(q);
        return NULL;
    }
    return q;
}

static void terms_free(tdo_order *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tdo_path_free(t[i].path);
    tdo_free(t);
}

static void annots_free(tdo_annot *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tdo_free(a[i].name);
        tdo_expr_free(a[i].expr);
    }
    tdo_free(a);
}

/* Frees q (NULL is fine); the nodes it shares live on while referenced. */
void tdo_query_free(tdo_query *q)
{
    if (!q)
        return;
    tdo_qnode_free(q->where);
    terms_free(q->order, q->norder);
    terms_free(q->group, q->ngroup);
    annots_free(q->annots, q->nannots);
    for (size_t i = 0; i < q->nrelated; i++)
        tdo_path_free(q->related[i]);
    tdo_free(q->related);
    tdo_free(q->only);
    proj_free(q->proj);
    tdo_free(q);
}

/* Returns the model q reads. */
tdo_model *tdo_query_model(const tdo_query *q)
{
    return q->model;
}

/* A new copy of n terms (paths referenced); NULL with n > 0 on OOM. */
static tdo_order *terms_dup(const tdo_order *t, size_t n)
{
    if (!n)
        return NULL;
    tdo_order *c = tdo_malloc(n * sizeof(*c));
    if (!c)
        return NULL;
    memcpy(c, t, n * sizeof(*c));
    for (size_t i = 0; i < n; i++)
        tdo_path_ref(c[i].path);
    return c;
}

static tdo_query *query_clone(const tdo_query *q)
{
    tdo_query *c = tdo_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *q;
    c->order = terms_dup(q->order, q->norder);
    c->group = terms_dup(q->group, q->ngroup);
    c->annots = q->nannots ? tdo_calloc(q->nannots, sizeof(*c->annots)) : NULL;
    c->related =
        q->nrelated ? tdo_calloc(q->nrelated, sizeof(*c->related)) : NULL;
    c->only = q->only ? tdo_malloc((q->nonly ? q->nonly : 1) * sizeof(*c->only))
                      : NULL;
    if (c->only && q->nonly)
        memcpy(c->only, q->only, q->nonly * sizeof(*c->only));
    bool ok = (c->order || !q->norder) && (c->group || !q->ngroup) &&
              (c->annots || !q->nannots) && (c->related || !q->nrelated) &&
              (c->only || !q->only);
    for (size_t i = 0; ok && i < q->nannots; i++) {
        c->annots[i] = q->annots[i];
        if (!(c->annots[i].name = tdo_strdup(q->annots[i].name))) {
            ok = false;
            c->nannots = i;
            break;
        }
        tdo_expr_ref(c->annots[i].expr);
    }
    if (!ok) {
        if (c->annots && c->nannots == q->nannots)
            c->nannots = 0;
        terms_free(c->order, c->order ? q->norder : 0);
        terms_free(c->group, c->group ? q->ngroup : 0);
        annots_free(c->annots, c->annots ? c->nannots : 0);
        tdo_free(c->related);
        tdo_free(c->only);
        tdo_free(c);
        return NULL;
    }
    for (size_t i = 0; i < q->nrelated; i++)
        c->related[i] = tdo_path_ref(q->related[i]);
    tdo_qnode_ref(c->where);
    c->proj->refs++;
    return c;
}

static tdo_status add_filter(const tdo_query *q, const tdo_qnode *cond,
                             bool negate, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_qnode *r;
    bool agg = false;
    tdo_status st = resolve(q, cond, &r, &agg, err);
    if (st)
        return st;
    int rd = tdo_qnode_depth(r) + (negate ? 1 : 0);
    int nd = q->where ? 1 + max_depth(tdo_qnode_depth(q->where), rd) : rd;
    if (r && nd > TDO_MAX_DEPTH) {
        tdo_qnode_free(r);
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "the filter nests more than %d levels deep "
                             "(filter() called that often on one queryset?)",
                             TDO_MAX_DEPTH);
    }
    if (r && negate && !(r = tdo_q_not(r)))
        return tdo_nomem(err);
    tdo_query *c = query_clone(q);
    if (!c) {
        tdo_qnode_free(r);
        return tdo_nomem(err);
    }
    if (r) {
        tdo_qnode *w = tdo_q_and(c->where, r); /* takes both */
        c->where = w;
        if (!w) {
            tdo_query_free(c);
            return tdo_nomem(err);
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

/* Resolves n keys ("-a__b", annotation names) into new terms. */
static tdo_status make_terms(const tdo_query *q, const char *const *keys,
                             size_t n, bool signs, tdo_order **out,
                             tdo_error *err)
{
    *out = NULL;
    tdo_order *t = NULL;
    if (n && !(t = tdo_calloc(n, sizeof(*t))))
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i] ? keys[i] : "";
        if (signs && (*k == '-' || *k == '+')) {
            t[i].desc = *k == '-';
            k++;
        }
        tdo_status st =
            resolve_ref(q, k, &t[i].path, &t[i].field, &t[i].annot, err);
        if (st) {
            terms_free(t, n);
            return st;
        }
    }
    *out = t;
    return TDO_OK;
}

/* A new query ordered by keys ("-created_at", "customer__email", an
 * annotation), replacing any earlier ordering; FieldError for an unknown
 * name. */
tdo_status tdo_query_order_by(const tdo_query *q, const char *const *keys,
                              size_t n, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_order *order;
    tdo_status st = make_terms(q, keys, n, true, &order, err);
    if (st)
        return st;
    tdo_query *c = query_clone(q);
    if (!c) {
        terms_free(order, n);
        return tdo_nomem(err);
    }
    terms_free(c->order, c->norder);
    c->order = order;
    c->norder = n;
    *out = c;
    return TDO_OK;
}

/* A new query grouped by keys ("role", "customer__email", annotation
 * names), replacing any earlier grouping. */
tdo_status tdo_query_group_by(const tdo_query *q, const char *const *keys,
                              size_t n, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_order *group;
    tdo_status st = make_terms(q, keys, n, false, &group, err);
    if (st)
        return st;
    tdo_query *c = query_clone(q);
    if (!c) {
        terms_free(group, n);
        return tdo_nomem(err);
    }
    terms_free(c->group, c->ngroup);
    c->group = group;
    c->ngroup = n;
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
        return tdo_nomem(err);
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
        return tdo_nomem(err);
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
        return tdo_nomem(err);
    c->distinct = true;
    *out = c;
    return TDO_OK;
}

/* A new query whose rows are locked for update (see header). */
tdo_status tdo_query_for_update(const tdo_query *q, tdo_lock lock,
                                tdo_query **out, tdo_error *err)
{
    *out = NULL;
    if (lock < TDO_LOCK_NONE || lock > TDO_LOCK_SKIP_LOCKED)
        return tdo_error_set(err, TDO_ERR_PARAMS, "unknown row lock %d",
                             (int)lock);
    tdo_query *c = query_clone(q);
    if (!c)
        return tdo_nomem(err);
    c->lock = lock;
    *out = c;
    return TDO_OK;
}

/* A new query with projection kind over the named fields (see header):
 * names may be paths ("customer__email") or annotation names. */
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
        if (!(p = proj_all(q, kind)))
            return tdo_nomem(err);
    } else {
        if (!(p = proj_new(kind, n)))
            return tdo_nomem(err);
        for (size_t i = 0; i < n; i++) {
            const char *name = names[i] ? names[i] : "";
            tdo_status st = resolve_ref(q, name, &p->paths[i], &p->fields[i],
                                        &p->annots[i], err);
            if (st) {
                proj_free(p);
                return st;
            }
            if (p->annots[i])
                p->fields[i] = q->annots[p->annots[i] - 1].field;
            const char *alias = aliases && aliases[i] ? aliases[i] : name;
            if (!(p->names[i] = tdo_strdup(alias))) {
                proj_free(p);
                return tdo_nomem(err);
            }
        }
    }
    tdo_query *c = query_clone(q);
    if (!c) {
        proj_free(p);
        return tdo_nomem(err);
    }
    proj_free(c->proj);
    c->proj = p;
    *out = c;
    return TDO_OK;
}

/* only(names): a new query whose instances load the named fields of
 * the model and its primary key. */
tdo_status tdo_query_only(const tdo_query *q, const char *const *names,
                          size_t n, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    size_t nf = tdo_model_nfields(q->model);
    const tdo_field **want = tdo_calloc(nf ? nf : 1, sizeof(*want));
    if (!want)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f;
        tdo_status st = tdo_query_resolve_field(
            q->model, names[i] ? names[i] : "", &f, err);
        if (st) {
            tdo_free(want);
            return st;
        }
        want[f->index] = f;
    }
    const tdo_field *pk = tdo_model_pk(q->model);
    if (pk)
        want[pk->index] = pk;
    size_t k = 0; /* in field order, each once */
    for (size_t i = 0; i < nf; i++)
        if (want[i])
            want[k++] = want[i];
    tdo_query *c = query_clone(q);
    if (!c) {
        tdo_free(want);
        return tdo_nomem(err);
    }
    tdo_free(c->only);
    c->only = want;
    c->nonly = k;
    tdo_proj *p = proj_all(c, c->proj->kind);
    if (!p) {
        tdo_query_free(c);
        return tdo_nomem(err);
    }
    if (c->proj->kind == TDO_PROJ_INSTANCES) {
        proj_free(c->proj);
        c->proj = p;
    } else {
        proj_free(p);
    }
    *out = c;
    return TDO_OK;
}

/* Whether only() leaves out some of the model's fields. */
bool tdo_query_partial(const tdo_query *q)
{
    return q->only && q->nonly < ncolumns_of(q->model);
}

/* Rebuilds c's projection when it follows the model's columns (after
 * annotate or select_related). */
static tdo_status refresh_proj(tdo_query *c, tdo_error *err)
{
    if (!c->proj->all)
        return TDO_OK;
    tdo_proj *p = proj_all(c, c->proj->kind);
    if (!p)
        return tdo_nomem(err);
    proj_free(c->proj);
    c->proj = p;
    return TDO_OK;
}

/* The field an annotation decodes as: Min/Max/Sum/Coalesce of a column
 * (and Avg of a decimal) decode as that column; others raw. */
static const tdo_field *annot_field(const tdo_expr *e)
{
    if (e->kind == TDO_EXPR_FIELD)
        return e->field;
    if (e->kind != TDO_EXPR_FUNC || !e->nargs)
        return NULL;
    const tdo_field *f = annot_field(e->args[0]);
    if (!f)
        return NULL;
    switch (e->fn) {
    case TDO_FN_MIN:
    case TDO_FN_MAX:
    case TDO_FN_SUM:
    case TDO_FN_COALESCE:
        return f;
    case TDO_FN_AVG:
        return f->type == TDO_F_DECIMAL ? f : NULL;
    default:
        return NULL;
    }
}

/* annotate{name = e}: a new query with the annotation added. */
tdo_status tdo_query_annotate(const tdo_query *q, const char *name,
                              const tdo_expr *e, tdo_query **out,
                              tdo_error *err)
{
    *out = NULL;
    if (!name || !*name || !e)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "annotate() needs a name and an expression");
    if (names_something(q->model, name) || find_annot(q, name, strlen(name)))
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "annotation '%s' conflicts with a field or an "
                             "annotation of model '%s'",
                             name, tdo_model_name(q->model));
    tdo_expr *r;
    bool agg = false;
    tdo_status st = resolve_expr(q, (tdo_expr *)e, &r, &agg, err);
    if (st)
        return st;
    tdo_query *c = query_clone(q);
    tdo_annot *a =
        c ? tdo_realloc(c->annots, (c->nannots + 1) * sizeof(*a)) : NULL;
    char *nm = tdo_strdup(name);
    if (!c || !a || !nm) {
        if (c && a)
            c->annots = a;
        tdo_free(nm);
        tdo_expr_free(r);
        tdo_query_free(c);
        return tdo_nomem(err);
    }
    c->annots = a;
    a[c->nannots].name = nm;
    a[c->nannots].expr = r;
    a[c->nannots].aggregate = agg;
    a[c->nannots].field = annot_field(r);
    c->nannots++;
    if ((st = refresh_proj(c, err))) {
        tdo_query_free(c);
        return st;
    }
    *out = c;
    return TDO_OK;
}

/* select_related(paths): a new query joining forward FK/O2O chains. */
tdo_status tdo_query_select_related(const tdo_query *q,
                                    const char *const *paths, size_t n,
                                    tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_query *c = query_clone(q);
    if (!c)
        return tdo_nomem(err);
    tdo_status st = TDO_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const char *key = paths[i] ? paths[i] : "";
        const tdo_relation *rels[32];
        size_t nr = 0;
        const tdo_model *cur = q->model;
        const char *p = key;
        while (!st) {
            const char *sep = strstr(p, "__");
            size_t len = sep ? (size_t)(sep - p) : strlen(p);
            char buf[128], *tmp;
            const char *part = part_str(p, len, buf, sizeof(buf), &tmp);
            if (!part) {
                st = tdo_nomem(err);
                break;
            }
            const tdo_relation *r = tdo_model_relation_by_name(cur, part);
            if (!r || (r->kind != TDO_REL_FK && r->kind != TDO_REL_O2O)) {
                st = r || tdo_model_field_by_name(cur, part)
                         ? tdo_error_set(err, TDO_ERR_FIELD,
                                         "select_related: '%s' of model "
                                         "'%s' is not a foreign key or "
                                         "one-to-one relation",
                                         part, tdo_model_name(cur))
                         : tdo_model_field_error(cur, part, err);
                tdo_free(tmp);
                break;
            }
            tdo_free(tmp);
            if (nr == sizeof(rels) / sizeof(rels[0])) {
                st =
                    tdo_error_set(err, TDO_ERR_FIELD,
                                  "select_related: path '%s' is too long", key);
                break;
            }
            rels[nr++] = r;
            /* every prefix is selected too, once */
            bool have = false;
            for (size_t j = 0; j < c->nrelated && !have; j++) {
                const tdo_path *hp = c->related[j];
                have = hp->n == nr &&
                       !memcmp(hp->rels, rels, nr * sizeof(rels[0]));
            }
            if (!have) {
                tdo_path *np = path_new(rels, nr);
                tdo_path **arr =
                    np ? tdo_realloc(c->related,
                                     (c->nrelated + 1) * sizeof(*arr))
                       : NULL;
                if (!arr) {
                    tdo_path_free(np);
                    st = tdo_nomem(err);
                    break;
                }
                c->related = arr;
                arr[c->nrelated++] = np;
            }
            cur = r->target;
            if (!sep)
                break;
            p = sep + 2;
        }
    }
    if (!st)
        st = refresh_proj(c, err);
    if (st) {
        tdo_query_free(c);
        return st;
    }
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
