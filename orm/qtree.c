/*
 * qtree.c -- Q filter trees: lookups joined by AND, OR and NOT,
 * refcounted and never changed once built (queries and Lua objects share
 * them), compared and printed.
 */
#include "tdo_int.h"

#include <stdio.h>
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
        for (size_t i = 0; q->alts && i < q->nvals * q->nalt; i++)
            tdo_value_release(&q->alts[i]);
        tdo_free(q->alts);
        for (size_t i = 0; i < q->njpath; i++)
            tdo_free(q->jpath[i]);
        tdo_free(q->jpath);
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

/* Whether f is a unique column other than the primary key. */
bool tdo_field_is_alt_key(const tdo_field *f)
{
    return f && (f->flags & TDO_FIELD_UNIQUE) && !(f->flags & TDO_FIELD_PK) &&
           f->type != TDO_F_M2M;
}

/* A new leaf "key = instances of m" (see testudo.h): the pks as values,
 * the alternative keys beside them; NULL on out of memory. */
tdo_qnode *tdo_q_lookup_instances(const char *key, const tdo_model *m,
                                  const tdo_value *pks, size_t n,
                                  const tdo_value *alts, size_t nalt)
{
    tdo_qnode *q = tdo_q_lookup(key, pks, n);
    if (!q || !nalt || !n)
        return q;
    q->inst_model = m;
    q->alts = tdo_calloc(n * nalt, sizeof(*q->alts));
    if (!q->alts) {
        tdo_qnode_free(q);
        return NULL;
    }
    q->nalt = nalt;
    for (size_t i = 0; i < n * nalt; i++)
        if (tdo_value_copy(&q->alts[i], &alts[i]) != TDO_OK) {
            tdo_qnode_free(q);
            return NULL;
        }
    return q;
}

/* A new leaf comparing the JSON value at path of field (see testudo.h). */
tdo_qnode *tdo_q_json_lookup(const char *field, const char *const *path,
                             size_t npath, const char *lookup,
                             const tdo_value *vals, size_t nvals)
{
    tdo_sb key = TDO_SB_INIT;
    tdo_sb_adds(&key, field ? field : "");
    if (lookup && *lookup) {
        tdo_sb_adds(&key, "__");
        tdo_sb_adds(&key, lookup);
    }
    tdo_qnode *q = key.oom ? NULL : tdo_q_lookup(key.buf, vals, nvals);
    tdo_sb_release(&key);
    if (!q)
        return NULL;
    q->jpath = tdo_calloc(npath ? npath : 1, sizeof(char *));
    if (!q->jpath) {
        tdo_qnode_free(q);
        return NULL;
    }
    for (size_t i = 0; i < npath; i++, q->njpath++)
        if (!(q->jpath[i] = tdo_strdup(path[i] ? path[i] : ""))) {
            tdo_qnode_free(q);
            return NULL;
        }
    return q;
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

tdo_qnode *tdo_q_binary_(tdo_qkind kind, tdo_qnode *a, tdo_qnode *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    int depth = 1 + tdo_max_depth_(a->depth, b->depth);
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
    return tdo_q_binary_(TDO_Q_AND, a, b);
}

/* a OR b; takes both references; a NULL operand gives the other. */
tdo_qnode *tdo_q_or(tdo_qnode *a, tdo_qnode *b)
{
    return tdo_q_binary_(TDO_Q_OR, a, b);
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
                a->njpath != b->njpath || !tdo_expr_equal_(a->expr, b->expr))
                return false;
            for (size_t i = 0; i < a->njpath; i++)
                if (strcmp(a->jpath[i], b->jpath[i]))
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
