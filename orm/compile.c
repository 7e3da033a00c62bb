/*
 * compile.c -- turns a query AST into SQL text and bound parameters for a
 * dialect.  Pure: no I/O.  Every value becomes a placeholder and a
 * parameter (a canonical field value; the backend applies to_db when it
 * binds), every identifier comes from model metadata through the
 * dialect's quote_ident.  The result lives in one block (tdo_compiled).
 */
#include "tdo_int.h"

#include <jansson.h>
#include <stdalign.h>
#include <stdio.h>

/* Compiler state: the SQL being written, the parameters (values owned
 * when their owned flag is set, else borrowed from the query or the
 * caller until finish() copies them) and the output columns. */
/* One joined table: the target of rel from the parent node. */
typedef struct jnode {
    int parent;              /* index of the parent node, -1: the root */
    const tdo_relation *rel; /* the relation walked */
    int alias;               /* T<alias> names the target */
    int through;             /* m2m: T<through> names the through table */
    bool required;           /* a filter needs a match: INNER JOIN */
    bool inner;              /* settled join type */
} jnode;

/* The tables of one SELECT: the model (the root) and its joins, one per
 * distinct path. */
typedef struct scope {
    const tdo_model *m;
    int root;     /* T<root> aliases the root; 0: its table name */
    bool qualify; /* columns are written table.column */
    bool frozen;  /* FROM is settled: no new joins */
    jnode *j;     /* owned */
    size_t nj;
} scope;

/* Compiler state: the SQL being written, the parameters (values owned
 * when their owned flag is set, else borrowed from the query or the
 * caller until finish() copies them) and the output columns. */
typedef struct cstate {
    const tdo_dialect *d;
    const tdo_model *m;
    const tdo_query *q; /* the query compiled (annotations), or NULL */
    scope *sc;          /* the SELECT being written, or NULL */
    int nalias;         /* T<n> aliases handed out */
    tdo_sb sql;
    tdo_value *params;
    size_t np, ap;
    tdo_colinfo *cols;
    size_t nc, ac;
    bool returning;
    bool copy_params; /* borrowed values are copied (they do not outlive
                         the compile: update's resolved expressions) */
    bool in_distinct; /* writing distinct(fields)'s own subquery */
    bool proj_cols;   /* the SELECT being written outputs q's columns:
                         GROUP / ORDER BY may name them by position */
    bool lost_join;   /* a path was met after FROM was written (a bug) */
    bool oom;
} cstate;

typedef enum selmode {
    SEL_ROWS,  /* the output columns, ordered, sliced */
    SEL_COUNT, /* the output columns (aliased c0.. when joined), sliced */
    SEL_PK,    /* the primary key only (rows to update / delete) */
    SEL_PKD,   /* SELECT DISTINCT of the primary key only */
    SEL_SUB,   /* a subquery's columns (a query of instances: its key),
                  ordered, sliced */
    SEL_PART   /* a union() part: the output columns, neither ordered nor
                  sliced */
} selmode;

static void cs_init(cstate *cs, const tdo_dialect *d, const tdo_model *m)
{
    memset(cs, 0, sizeof(*cs));
    cs->d = d;
    cs->m = m;
    tdo_sb_init(&cs->sql);
    tdo_sb_grow(&cs->sql, 255); /* a statement's usual size: no regrowing */
}

static void cs_release(cstate *cs)
{
    for (size_t i = 0; i < cs->np; i++)
        tdo_value_release(&cs->params[i]);
    tdo_free(cs->params);
    tdo_free(cs->cols);
    tdo_sb_release(&cs->sql);
}

static void add(cstate *cs, const char *s)
{
    tdo_sb_adds(&cs->sql, s);
}

static void ident(cstate *cs, const char *name)
{
    cs->d->quote_ident(&cs->sql, name);
}

/* Appends name quoted: from *cache when it was quoted for this dialect,
 * else quoted and kept there (a model's fields and table are quoted once,
 * not per statement). */
static void quoted(cstate *cs, const char *name, char **cache,
                   const void **cache_dialect)
{
    if (*cache && *cache_dialect == cs->d) {
        tdo_sb_adds(&cs->sql, *cache);
        return;
    }
    tdo_sb q = TDO_SB_INIT;
    cs->d->quote_ident(&q, name);
    char *s = tdo_sb_detach(&q);
    if (!s) {
        cs->d->quote_ident(&cs->sql, name);
        return;
    }
    tdo_sb_adds(&cs->sql, s);
    tdo_free(*cache);
    *cache = s;
    *cache_dialect = cs->d;
}

static void column(cstate *cs, const tdo_field *f)
{
    if (!f->model) { /* a scratch field: nothing to keep it in */
        cs->d->quote_ident(&cs->sql, f->column);
        return;
    }
    tdo_field *mf = (tdo_field *)f; /* (only its quoting cache changes) */
    quoted(cs, f->column, &mf->qcolumn, &mf->qdialect);
}

static void table(cstate *cs, const tdo_model *m)
{
    tdo_model *mm = (tdo_model *)m; /* (only its quoting cache changes) */
    quoted(cs, m->table, &mm->qtable, &mm->qdialect);
}

/* Appends a placeholder and the parameter v.  take: v's bytes (if owned)
 * now belong to cs; otherwise v is borrowed. */
static void param(cstate *cs, const tdo_value *v, bool take)
{
    tdo_value pv = *v;
    if (!take && cs->copy_params) {
        if (tdo_value_copy(&pv, v)) {
            cs->oom = true;
            return;
        }
    } else if (!take) {
        pv.owned = false;
    }
    if (cs->np == cs->ap) {
        size_t na = cs->ap ? 2 * cs->ap : 8;
        tdo_value *p = tdo_realloc(cs->params, na * sizeof(*p));
        if (!p) {
            cs->oom = true;
            tdo_value_release(&pv);
            return;
        }
        cs->params = p;
        cs->ap = na;
    }
    cs->params[cs->np++] = pv;
    cs->d->placeholder(&cs->sql, cs->np);
}

static void add_col(cstate *cs, const char *name, const tdo_field *f)
{
    if (cs->nc == cs->ac) {
        size_t na = cs->ac ? 2 * cs->ac : 8;
        tdo_colinfo *p = tdo_realloc(cs->cols, na * sizeof(*p));
        if (!p) {
            cs->oom = true;
            return;
        }
        cs->cols = p;
        cs->ac = na;
    }
    cs->cols[cs->nc].name = name;
    cs->cols[cs->nc].field = f;
    cs->nc++;
}

static bool has_bytes(const tdo_value *v)
{
    return v->type == TDO_TEXT || v->type == TDO_BLOB || v->type == TDO_UUID ||
           v->type == TDO_JSON;
}

/* Packs the SQL, parameters and columns of cs into one new block. */
static tdo_status finish(cstate *cs, tdo_compiled **out, tdo_error *err)
{
    *out = NULL;
    if (cs->oom || cs->sql.oom)
        return tdo_nomem(err);
    size_t off_params = tdo_align_up_(sizeof(tdo_compiled), alignof(tdo_value));
    size_t off_cols = tdo_align_up_(off_params + cs->np * sizeof(tdo_value),
                                    alignof(tdo_colinfo));
    size_t off_text = off_cols + cs->nc * sizeof(tdo_colinfo);
    size_t size = off_text + cs->sql.len + 1;
    for (size_t i = 0; i < cs->np; i++)
        if (has_bytes(&cs->params[i]))
            size += cs->params[i].u.s.len + 1;
    for (size_t i = 0; i < cs->nc; i++)
        size += strlen(cs->cols[i].name) + 1;
    char *block = tdo_malloc(size);
    if (!block)
        return tdo_nomem(err);
    tdo_compiled *c = (tdo_compiled *)block;
    memset(c, 0, sizeof(*c));
    c->params = (tdo_value *)(block + off_params);
    c->cols = (tdo_colinfo *)(block + off_cols);
    c->nparams = cs->np;
    c->ncols = cs->nc;
    c->returning = cs->returning;
    char *p = block + off_text;
    c->sql = p;
    memcpy(p, cs->sql.buf, cs->sql.len + 1);
    p += cs->sql.len + 1;
    for (size_t i = 0; i < cs->np; i++) {
        tdo_value v = cs->params[i];
        if (has_bytes(&v)) {
            if (v.u.s.len)
                memcpy(p, v.u.s.ptr, v.u.s.len);
            p[v.u.s.len] = '\0';
            v.u.s.ptr = p;
            p += v.u.s.len + 1;
        }
        v.owned = false;
        c->params[i] = v;
    }
    for (size_t i = 0; i < cs->nc; i++) {
        size_t len = strlen(cs->cols[i].name);
        memcpy(p, cs->cols[i].name, len + 1);
        c->cols[i].name = p;
        c->cols[i].field = cs->cols[i].field;
        p += len + 1;
    }
    if (!c->nparams)
        c->params = NULL;
    if (!c->ncols)
        c->cols = NULL;
    *out = c;
    return TDO_OK;
}

/* ------------------------------------------------------------------ */
/* Joins                                                               */
/* ------------------------------------------------------------------ */

/* Appends the alias T<n>. */
static void alias_name(cstate *cs, int n)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "T%d", n);
    ident(cs, buf);
}

/* The join node reached by the first n relations of p in sc (created on
 * first use, unless the FROM clause is written); -1: the root. */
static int node_for(cstate *cs, scope *sc, const tdo_path *p, size_t n)
{
    int parent = -1;
    for (size_t i = 0; i < n; i++) {
        int found = -1;
        for (size_t k = 0; k < sc->nj; k++)
            if (sc->j[k].parent == parent && sc->j[k].rel == p->rels[i]) {
                found = (int)k;
                break;
            }
        if (found < 0) {
            if (sc->frozen) {
                cs->lost_join = true;
                return parent;
            }
            jnode *nj = tdo_realloc(sc->j, (sc->nj + 1) * sizeof(*nj));
            if (!nj) {
                cs->oom = true;
                return parent;
            }
            sc->j = nj;
            jnode *j = &sc->j[sc->nj];
            memset(j, 0, sizeof(*j));
            j->parent = parent;
            j->rel = p->rels[i];
            if (j->rel->kind == TDO_REL_M2M ||
                j->rel->kind == TDO_REL_REVERSE_M2M)
                j->through = ++cs->nalias;
            j->alias = ++cs->nalias;
            found = (int)sc->nj++;
        }
        parent = found;
    }
    return parent;
}

static int path_node(cstate *cs, scope *sc, const tdo_path *p)
{
    return node_for(cs, sc, p, p ? p->n : 0);
}

static void mark_required(scope *sc, int node)
{
    for (; node >= 0; node = sc->j[node].parent)
        sc->j[node].required = true;
}

static bool path_to_many(const tdo_path *p)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (tdo_relation_to_many_(p->rels[i]))
            return true;
    return false;
}

/* Appends the table reference of the root of sc. */
static void root_ref(cstate *cs, const scope *sc)
{
    if (sc->root)
        alias_name(cs, sc->root);
    else
        table(cs, sc->m);
}

/* Appends the column of f reached through p, qualified when the scope
 * joins other tables. */
static void colref(cstate *cs, const tdo_path *p, const tdo_field *f)
{
    scope *sc = cs->sc;
    if (sc && sc->qualify) {
        int node = path_node(cs, sc, p);
        if (node < 0)
            root_ref(cs, sc);
        else
            alias_name(cs, sc->j[node].alias);
        add(cs, ".");
    }
    column(cs, f);
}

/* Appends the reference of the table of join node k (or the root). */
static void node_ref(cstate *cs, const scope *sc, int k)
{
    if (k < 0)
        root_ref(cs, sc);
    else
        alias_name(cs, sc->j[k].alias);
}

static const tdo_field *pk_of(const tdo_model *m)
{
    return tdo_model_pk(m);
}

/* Appends "<jt> table alias ON alias." (jt such as " INNER JOIN "); the
 * caller completes the join condition. */
static void join_on(cstate *cs, const char *jt, const char *table, int alias)
{
    add(cs, jt);
    ident(cs, table);
    add(cs, " ");
    alias_name(cs, alias);
    add(cs, " ON ");
    alias_name(cs, alias);
    add(cs, ".");
}

/* Appends " FROM root [JOIN ...]" of sc. */
static void from_clause(cstate *cs, scope *sc)
{
    add(cs, " FROM ");
    table(cs, sc->m);
    if (sc->root) {
        add(cs, " ");
        alias_name(cs, sc->root);
    }
    for (size_t k = 0; k < sc->nj; k++) {
        const jnode *j = &sc->j[k];
        const tdo_relation *r = j->rel;
        const char *jt = j->inner ? " INNER JOIN " : " LEFT OUTER JOIN ";
        switch (r->kind) {
        case TDO_REL_FK:
        case TDO_REL_O2O:
            join_on(cs, jt, tdo_model_table(r->target), j->alias);
            column(cs, tdo_field_key_target(r->field));
            add(cs, "=");
            node_ref(cs, sc, j->parent);
            add(cs, ".");
            column(cs, r->field);
            break;
        case TDO_REL_REVERSE_FK:
        case TDO_REL_REVERSE_O2O:
            join_on(cs, jt, tdo_model_table(r->target), j->alias);
            column(cs, r->field);
            add(cs, "=");
            node_ref(cs, sc, j->parent);
            add(cs, ".");
            column(cs, tdo_field_key_target(r->field));
            break;
        case TDO_REL_M2M:
        case TDO_REL_REVERSE_M2M:
            join_on(cs, jt, r->through, j->through);
            ident(cs, r->source_column);
            add(cs, "=");
            node_ref(cs, sc, j->parent);
            add(cs, ".");
            column(cs, pk_of(r->model));
            join_on(cs, jt, tdo_model_table(r->target), j->alias);
            column(cs, pk_of(r->target));
            add(cs, "=");
            alias_name(cs, j->through);
            add(cs, ".");
            ident(cs, r->target_column);
            break;
        }
    }
}

/* Decides the join types once every path is known: INNER where a join
 * cannot change the rows (a required match, or a non-null forward FK
 * below an INNER join), LEFT OUTER elsewhere; then freezes sc. */
static void settle(scope *sc)
{
    for (size_t k = 0; k < sc->nj; k++) {
        jnode *j = &sc->j[k];
        bool parent_inner = j->parent < 0 || sc->j[j->parent].inner;
        bool nonnull_fk =
            (j->rel->kind == TDO_REL_FK || j->rel->kind == TDO_REL_O2O) &&
            !(j->rel->field->flags & TDO_FIELD_NULL);
        j->inner = j->required || (nonnull_fk && parent_inner);
    }
    sc->qualify = sc->qualify || sc->nj > 0;
    sc->frozen = true;
}

/* ------------------------------------------------------------------ */
/* Gathering the paths of a query                                      */
/* ------------------------------------------------------------------ */

static const tdo_annot *annot_of(cstate *cs, size_t annot)
{
    return cs->q && annot && annot <= cs->q->nannots ? &cs->q->annots[annot - 1]
                                                     : NULL;
}

static void gather_where(cstate *cs, scope *sc, const tdo_qnode *n,
                         bool and_level, bool under_not);

static void gather_expr(cstate *cs, scope *sc, const tdo_expr *e)
{
    for (; e; e = e->kind == TDO_EXPR_BINOP ? e->b : NULL) {
        switch (e->kind) {
        case TDO_EXPR_FIELD: {
            const tdo_annot *a = annot_of(cs, e->annot);
            if (a)
                gather_expr(cs, sc, a->expr);
            else if (e->resolved)
                path_node(cs, sc, e->path);
            break;
        }
        case TDO_EXPR_BINOP:
        case TDO_EXPR_NEG:
            gather_expr(cs, sc, e->a);
            break;
        case TDO_EXPR_FUNC:
            for (size_t i = 0; i < e->nargs; i++)
                gather_expr(cs, sc, e->args[i]);
            if (e->filter)
                gather_where(cs, sc, e->filter, false, false);
            break;
        case TDO_EXPR_CASE:
            for (size_t i = 0; i < e->nargs; i++) {
                gather_where(cs, sc, e->conds[i], false, false);
                gather_expr(cs, sc, e->args[i]);
            }
            gather_expr(cs, sc, e->a);
            break;
        default:
            break;
        }
    }
}

/* Whether a leaf can hold for a row whose joined row is missing (its
 * column read as NULL). */
static bool accepts_null(const tdo_qnode *n)
{
    const tdo_value *v = n->nvals ? &n->vals[0] : NULL;
    if (TDO_LK_IS_DATE_PART(n->lookup))
        return v && v->type == TDO_NULL;
    switch (n->lookup) {
    case TDO_LK_EXACT:
    case TDO_LK_IEXACT:
        return !n->expr && v && v->type == TDO_NULL;
    case TDO_LK_NOT:
    case TDO_LK_NOT_IN:
        return true;
    case TDO_LK_ISNULL:
        return !(v && v->type == TDO_BOOL && !v->u.b);
    case TDO_LK_NOT_ISNULL:
        return v && v->type == TDO_BOOL && !v->u.b;
    default:
        return false;
    }
}

/* Whether the leaf n (under a NOT) is written as a subquery: a path
 * through a to-many relation must not multiply or drop rows. */
static bool leaf_subquery(const tdo_qnode *n, bool under_not)
{
    return under_not && !n->annot && path_to_many(n->path);
}

static void gather_where(cstate *cs, scope *sc, const tdo_qnode *n,
                         bool and_level, bool under_not)
{
    if (!n)
        return;
    switch (n->kind) {
    case TDO_Q_EMPTY:
        break;
    case TDO_Q_LEAF: {
        const tdo_annot *a = annot_of(cs, n->annot);
        if (a) {
            gather_expr(cs, sc, a->expr);
        } else if (leaf_subquery(n, under_not)) {
            sc->qualify = true; /* the subquery names the root's key */
            break;
        } else {
            int node = path_node(cs, sc, n->path);
            if (and_level && !accepts_null(n))
                mark_required(sc, node);
        }
        if (n->expr)
            gather_expr(cs, sc, n->expr);
        break;
    }
    case TDO_Q_AND:
        gather_where(cs, sc, n->a, and_level, under_not);
        gather_where(cs, sc, n->b, and_level, under_not);
        break;
    case TDO_Q_OR:
        gather_where(cs, sc, n->a, false, under_not);
        gather_where(cs, sc, n->b, false, under_not);
        break;
    case TDO_Q_NOT:
        gather_where(cs, sc, n->a, false, true);
        break;
    }
}

static void gather_terms(cstate *cs, scope *sc, const tdo_order *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const tdo_annot *a = annot_of(cs, t[i].annot);
        if (a)
            gather_expr(cs, sc, a->expr);
        else
            path_node(cs, sc, t[i].path);
    }
}

static void gather_proj(cstate *cs, scope *sc, const tdo_proj *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const tdo_annot *a = annot_of(cs, p->annots[i]);
        if (a)
            gather_expr(cs, sc, a->expr);
        else
            path_node(cs, sc, p->paths[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Expressions                                                         */
/* ------------------------------------------------------------------ */

/* The precedence of e as SQL writes it (MOD() and POWER() are atoms). */
static int prec(const tdo_expr *e, const tdo_dialect *d)
{
    if (e->kind == TDO_EXPR_BINOP && e->op != '^' &&
        !(e->op == '%' && !d->mod_infix))
        return (e->op == '+' || e->op == '-') ? 1 : 2;
    return 3;
}

static tdo_status where_sql(cstate *cs, const tdo_qnode *q, tdo_qkind parent,
                            bool under_not, tdo_error *err);

static bool is_agg(tdo_func fn)
{
    return fn <= TDO_FN_MAX;
}

static tdo_status expr_sql(cstate *cs, const tdo_expr *e, int min_prec,
                           tdo_error *err);

static tdo_status func_sql(cstate *cs, const tdo_expr *e, tdo_error *err)
{
    static const char *const names[] = {
        [TDO_FN_COUNT] = "COUNT",       [TDO_FN_SUM] = "SUM",
        [TDO_FN_AVG] = "AVG",           [TDO_FN_MIN] = "MIN",
        [TDO_FN_MAX] = "MAX",           [TDO_FN_LOWER] = "LOWER",
        [TDO_FN_UPPER] = "UPPER",       [TDO_FN_TRIM] = "TRIM",
        [TDO_FN_COALESCE] = "COALESCE",
    };
    bool concat_fn = cs->d->features & TDO_DF_CONCAT_FUNC;
    tdo_status st = TDO_OK;
    if (is_agg(e->fn)) {
        bool use_case = e->filter && !(cs->d->features & TDO_DF_AGG_FILTER);
        add(cs, names[e->fn]);
        add(cs, e->distinct ? "(DISTINCT " : "(");
        if (use_case) {
            add(cs, "CASE WHEN ");
            if ((st = where_sql(cs, e->filter, TDO_Q_LEAF, false, err)))
                return st;
            add(cs, " THEN ");
            if (e->nargs)
                st = expr_sql(cs, e->args[0], 0, err);
            else
                add(cs, "1");
            add(cs, " END");
        } else if (e->nargs) {
            st = expr_sql(cs, e->args[0], 0, err);
        } else {
            add(cs, "*");
        }
        add(cs, ")");
        if (!st && e->filter && !use_case) {
            add(cs, " FILTER (WHERE ");
            st = where_sql(cs, e->filter, TDO_Q_LEAF, false, err);
            add(cs, ")");
        }
        return st;
    }
    const char *sep = ",";
    switch (e->fn) {
    case TDO_FN_LENGTH:
        add(cs, concat_fn ? "CHAR_LENGTH(" : "LENGTH(");
        break;
    case TDO_FN_CONCAT:
        if (concat_fn) {
            add(cs, "CONCAT(");
        } else {
            add(cs, "(");
            sep = "||";
        }
        break;
    default:
        add(cs, names[e->fn]);
        add(cs, "(");
        break;
    }
    for (size_t i = 0; i < e->nargs && !st; i++) {
        if (i)
            add(cs, sep);
        st = expr_sql(cs, e->args[i], 0, err);
    }
    add(cs, ")");
    return st;
}

static tdo_status select_sql(cstate *cs, const tdo_query *q, selmode mode,
                             tdo_error *err);

/* (SELECT ...) of sub, written inside the statement being compiled (its
 * own scope and annotations; aliases and parameters continue).  MySQL
 * reads it through a derived table: no LIMIT in IN (...), no reading the
 * table an UPDATE writes. */
static tdo_status subquery_sql(cstate *cs, const tdo_query *sub, tdo_error *err)
{
    const tdo_query *saved_q = cs->q;
    const tdo_model *saved_m = cs->m;
    bool wrap = cs->d->features & TDO_DF_WRAP_LIMIT_SUBQUERY;
    add(cs, "(");
    if (wrap)
        add(cs, "SELECT * FROM (");
    cs->q = sub;
    cs->m = sub->model;
    tdo_status st = select_sql(cs, sub, SEL_SUB, err);
    cs->q = saved_q;
    cs->m = saved_m;
    if (wrap) {
        char name[24];
        snprintf(name, sizeof name, "sq%d", ++cs->nalias);
        add(cs, ") AS ");
        ident(cs, name);
    }
    add(cs, ")");
    return st;
}

/* A CASE's result: a value parameter cast where the dialect needs it. */
static tdo_status case_result_sql(cstate *cs, const tdo_expr *e, tdo_error *err)
{
    const char *cast = NULL;
    if (e->kind == TDO_EXPR_VALUE && cs->d->value_casts &&
        e->val.type != TDO_NULL)
        cast = cs->d->value_casts[e->val.type];
    if (cast)
        add(cs, "CAST(");
    tdo_status st = expr_sql(cs, e, 0, err);
    if (!st && cast) {
        add(cs, " AS ");
        add(cs, cast);
        add(cs, ")");
    }
    return st;
}

static tdo_status expr_sql(cstate *cs, const tdo_expr *e, int min_prec,
                           tdo_error *err)
{
    const tdo_field *f;
    tdo_status st;
    bool paren = prec(e, cs->d) < min_prec;
    if (paren)
        add(cs, "(");
    switch (e->kind) {
    case TDO_EXPR_FIELD:
        if (e->resolved) {
            const tdo_annot *a = annot_of(cs, e->annot);
            if (a) {
                if ((st = expr_sql(cs, a->expr, min_prec, err)))
                    return st;
            } else if (e->field) {
                colref(cs, e->path, e->field);
            }
            break;
        }
        if ((st = tdo_query_resolve_field(cs->m, e->name, &f, err)))
            return st;
        colref(cs, NULL, f);
        break;
    case TDO_EXPR_VALUE:
        param(cs, &e->val, false);
        break;
    case TDO_EXPR_RAW:
        add(cs, e->name);
        break;
    case TDO_EXPR_BINOP: {
        if (e->op == '^' || (e->op == '%' && !cs->d->mod_infix)) {
            /* POWER(a, b), MOD(a, b): whole operands, no precedence */
            add(cs, e->op == '^' ? "POWER(" : "MOD(");
            if ((st = expr_sql(cs, e->a, 0, err)))
                return st;
            add(cs, ", ");
            if ((st = expr_sql(cs, e->b, 0, err)))
                return st;
            add(cs, ")");
            break;
        }
        int p = prec(e, cs->d);
        /* a negation operand always gets parentheses: "a"-(-"b") */
        if ((st = expr_sql(cs, e->a, e->a->kind == TDO_EXPR_NEG ? 4 : p, err)))
            return st;
        tdo_sb_addc(&cs->sql, e->op);
        if ((st = expr_sql(cs, e->b, e->b->kind == TDO_EXPR_NEG ? 4 : p + 1,
                           err)))
            return st;
        break;
    }
    case TDO_EXPR_NEG:
        add(cs, "-");
        if ((st = expr_sql(cs, e->a, e->a->kind == TDO_EXPR_NEG ? 4 : 3, err)))
            return st;
        break;
    case TDO_EXPR_FUNC:
        if ((st = func_sql(cs, e, err)))
            return st;
        break;
    case TDO_EXPR_SUBQUERY:
        if ((st = subquery_sql(cs, e->sub, err)))
            return st;
        break;
    case TDO_EXPR_CASE:
        add(cs, "CASE");
        for (size_t i = 0; i < e->nargs; i++) {
            add(cs, " WHEN ");
            if ((st = where_sql(cs, e->conds[i], TDO_Q_LEAF, false, err)))
                return st;
            add(cs, " THEN ");
            if ((st = case_result_sql(cs, e->args[i], err)))
                return st;
        }
        if (e->a) {
            add(cs, " ELSE ");
            if ((st = case_result_sql(cs, e->a, err)))
                return st;
        }
        add(cs, " END");
        break;
    }
    if (paren)
        add(cs, ")");
    return TDO_OK;
}

static bool where_has_agg(cstate *cs, const tdo_qnode *n);

/* Whether the resolved expression e holds an aggregate. */
static bool expr_has_agg(cstate *cs, const tdo_expr *e)
{
    for (; e; e = e->kind == TDO_EXPR_BINOP ? e->b : NULL) {
        switch (e->kind) {
        case TDO_EXPR_FIELD: {
            const tdo_annot *a = annot_of(cs, e->annot);
            return a && a->aggregate;
        }
        case TDO_EXPR_FUNC:
            if (is_agg(e->fn))
                return true;
            for (size_t i = 0; i < e->nargs; i++)
                if (expr_has_agg(cs, e->args[i]))
                    return true;
            return false;
        case TDO_EXPR_BINOP:
        case TDO_EXPR_NEG:
            if (expr_has_agg(cs, e->a))
                return true;
            break;
        case TDO_EXPR_CASE:
            for (size_t i = 0; i < e->nargs; i++)
                if (expr_has_agg(cs, e->args[i]) ||
                    where_has_agg(cs, e->conds[i]))
                    return true;
            return expr_has_agg(cs, e->a);
        default:
            return false;
        }
    }
    return false;
}

static bool where_has_agg(cstate *cs, const tdo_qnode *n)
{
    if (!n)
        return false;
    switch (n->kind) {
    case TDO_Q_LEAF: {
        const tdo_annot *a = annot_of(cs, n->annot);
        return (a && a->aggregate) || (n->expr && expr_has_agg(cs, n->expr));
    }
    case TDO_Q_AND:
    case TDO_Q_OR:
        return where_has_agg(cs, n->a) || where_has_agg(cs, n->b);
    case TDO_Q_NOT:
        return where_has_agg(cs, n->a);
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ */
/* WHERE                                                               */
/* ------------------------------------------------------------------ */

/* Appends the LIKE or GLOB pattern of text v as a parameter: wildcards
 * before (lead) and after (trail), the text matched literally. */
static void pattern_param(cstate *cs, const tdo_value *v, bool lead, bool trail,
                          bool glob)
{
    if (v->type != TDO_TEXT) {
        param(cs, v, false); /* NULL: matches nothing */
        return;
    }
    tdo_sb sb = TDO_SB_INIT;
    if (lead)
        tdo_sb_addc(&sb, glob ? '*' : '%');
    for (size_t i = 0; i < v->u.s.len; i++) {
        char ch = v->u.s.ptr[i];
        if (glob && (ch == '*' || ch == '?' || ch == '[')) {
            tdo_sb_addc(&sb, '[');
            tdo_sb_addc(&sb, ch);
            tdo_sb_addc(&sb, ']');
            continue;
        }
        if (!glob && (ch == '%' || ch == '_' || ch == '\\'))
            tdo_sb_addc(&sb, '\\');
        tdo_sb_addc(&sb, ch);
    }
    if (trail)
        tdo_sb_addc(&sb, glob ? '*' : '%');
    if (sb.oom) {
        tdo_sb_release(&sb);
        cs->oom = true;
        return;
    }
    size_t len = sb.len;
    char *s = tdo_sb_detach(&sb);
    if (!s) {
        cs->oom = true;
        return;
    }
    tdo_value pv = tdo_value_text(s, len);
    pv.owned = true;
    param(cs, &pv, true);
}

/* Appends the left side of leaf q: its column (through its path) or the
 * annotation it compares. */
static tdo_status lhs(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    const tdo_annot *a = annot_of(cs, q->annot);
    if (a)
        return expr_sql(cs, a->expr, 3, err);
    colref(cs, q->path, q->field);
    return TDO_OK;
}

static tdo_status like_sql(cstate *cs, const tdo_qnode *q, const tdo_value *v,
                           bool lead, bool trail, bool ci, tdo_error *err)
{
    tdo_status st;
    if (!ci && (cs->d->features & TDO_DF_GLOB)) {
        if ((st = lhs(cs, q, err)))
            return st;
        add(cs, " GLOB ");
        pattern_param(cs, v, lead, trail, true);
        return TDO_OK;
    }
    if (ci && (cs->d->features & TDO_DF_ILIKE)) {
        if ((st = lhs(cs, q, err)))
            return st;
        add(cs, " ILIKE ");
        pattern_param(cs, v, lead, trail, false);
    } else if (ci) {
        add(cs, "LOWER(");
        if ((st = lhs(cs, q, err)))
            return st;
        add(cs, ") LIKE LOWER(");
        pattern_param(cs, v, lead, trail, false);
        add(cs, ")");
    } else {
        if ((st = lhs(cs, q, err)))
            return st;
        add(cs, " LIKE ");
        pattern_param(cs, v, lead, trail, false);
    }
    add(cs, cs->d->like_escape ? cs->d->like_escape : " ESCAPE '\\'");
    return TDO_OK;
}

/* Appends "<op> rhs" for a comparison: an expression or the value. */
static tdo_status rhs_sql(cstate *cs, const tdo_qnode *q, const char *op,
                          tdo_error *err)
{
    add(cs, op);
    if (q->expr)
        return expr_sql(cs, q->expr, 0, err);
    param(cs, &q->vals[0], false);
    return TDO_OK;
}

static bool is_null_rhs(const tdo_qnode *q)
{
    return !q->expr && q->vals[0].type == TDO_NULL;
}

/* lhs then "<op> rhs". */
static tdo_status cmp_sql(cstate *cs, const tdo_qnode *q, const char *op,
                          tdo_error *err)
{
    tdo_status st = lhs(cs, q, err);
    return st ? st : rhs_sql(cs, q, op, err);
}

/* lhs then a constant suffix (" IS NULL"). */
static tdo_status lhs_then(cstate *cs, const tdo_qnode *q, const char *s,
                           tdo_error *err)
{
    tdo_status st = lhs(cs, q, err);
    add(cs, s);
    return st;
}

/* A regex lookup: the dialect's operator; where it has no
 * case-insensitive one, the pattern gets a leading (?i).  A NULL pattern
 * matches nothing. */
static tdo_status regex_sql(cstate *cs, const tdo_qnode *q, bool icase,
                            tdo_error *err)
{
    const tdo_value *v = &q->vals[0];
    if (v->type == TDO_NULL) {
        add(cs, "0=1");
        return TDO_OK;
    }
    const char *op =
        icase && cs->d->iregex_op ? cs->d->iregex_op : cs->d->regex_op;
    if (!op)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "the %s dialect has no regular expressions",
                             cs->d->name);
    tdo_status st = lhs(cs, q, err);
    if (st)
        return st;
    if (icase && cs->d->iregex_collate)
        add(cs, cs->d->iregex_collate);
    add(cs, op);
    if (icase && !cs->d->iregex_op && v->type == TDO_TEXT) {
        tdo_sb pat = TDO_SB_INIT;
        tdo_sb_adds(&pat, "(?i)");
        tdo_sb_add(&pat, v->u.s.ptr, v->u.s.len);
        tdo_value pv = tdo_value_text(pat.buf ? pat.buf : "", pat.len);
        tdo_value owned;
        bool ok = tdo_value_copy(&owned, &pv) == TDO_OK;
        tdo_sb_release(&pat);
        if (!ok)
            return tdo_nomem(err);
        param(cs, &owned, true);
    } else {
        param(cs, v, false);
    }
    return TDO_OK;
}

/* A date part lookup: the dialect's extraction of the part around the
 * left side, compared for equality (IS NULL for a NULL value). */
static tdo_status date_part_sql(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    const char *const *dp = cs->d->date_part[TDO_DATE_PART_OF(q->lookup)];
    if (!dp[0] || !dp[1])
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "the %s dialect cannot extract the %s of a "
                             "date",
                             cs->d->name, tdo_lookup_name(q->lookup));
    add(cs, dp[0]);
    tdo_status st = lhs(cs, q, err);
    add(cs, dp[1]);
    if (st)
        return st;
    if (is_null_rhs(q)) {
        add(cs, " IS NULL");
        return TDO_OK;
    }
    return rhs_sql(cs, q, "=", err);
}

typedef enum json_style { JS_SQLITE, JS_PG, JS_MYSQL } json_style;

static json_style json_style_of(const cstate *cs)
{
    return !strcmp(cs->d->name, "postgres") ? JS_PG
           : !strcmp(cs->d->name, "mysql")  ? JS_MYSQL
                                            : JS_SQLITE;
}

/* Binds the text of sb as a new parameter. */
static void param_text(cstate *cs, const tdo_sb *sb)
{
    tdo_value t = tdo_value_text(sb->buf ? sb->buf : "", sb->len), own;
    if (tdo_value_copy(&own, &t)) {
        cs->oom = true;
        return;
    }
    param(cs, &own, true);
}

/* The JSON value at q's path: json_extract(col, '$."a"[0]') on SQLite,
 * JSON_EXTRACT on MySQL (its text when unquote: what MariaDB, without
 * JSON values, compares), col #> '{a,0}' on PostgreSQL. */
static tdo_status json_extract_sql(cstate *cs, const tdo_qnode *q, bool unquote,
                                   tdo_error *err)
{
    json_style js = json_style_of(cs);
    tdo_sb path = TDO_SB_INIT;
    if (js == JS_PG) {
        tdo_sb_addc(&path, '{');
        for (size_t i = 0; i < q->njpath; i++) {
            if (i)
                tdo_sb_addc(&path, ',');
            tdo_sb_addc(&path, '"');
            for (const char *s = q->jpath[i]; *s; s++) {
                if (*s == '"' || *s == '\\')
                    tdo_sb_addc(&path, '\\');
                tdo_sb_addc(&path, *s);
            }
            tdo_sb_addc(&path, '"');
        }
        tdo_sb_addc(&path, '}');
    } else {
        tdo_sb_addc(&path, '$');
        for (size_t i = 0; i < q->njpath; i++) {
            const char *s = q->jpath[i];
            if (*s && strspn(s, "0123456789") == strlen(s)) {
                tdo_sb_addf(&path, "[%s]", s);
            } else {
                tdo_sb_addc(&path, '.');
                tdo_json_quote(&path, s, strlen(s));
            }
        }
    }
    tdo_status st;
    if (js == JS_PG) {
        add(cs, "(");
        st = lhs_then(cs, q, " #> ", err);
        param_text(cs, &path);
        add(cs, "::text[])");
    } else {
        if (js == JS_MYSQL && unquote)
            add(cs, "JSON_UNQUOTE(");
        add(cs, js == JS_MYSQL ? "JSON_EXTRACT(" : "json_extract(");
        st = lhs_then(cs, q, ",", err);
        param_text(cs, &path);
        add(cs, js == JS_MYSQL && unquote ? "))" : ")");
    }
    tdo_sb_release(&path);
    return st;
}

/* A value compared with an extracted JSON value: as JSON on PostgreSQL
 * (typed comparisons), as itself on SQLite (json_extract gives SQL
 * values; booleans 1/0), and with the extracted text on MySQL (numbers
 * as numbers, text byte for byte, booleans as 'true' / 'false'). */
static tdo_status json_operand(cstate *cs, const tdo_value *v, tdo_error *err)
{
    json_style js = json_style_of(cs);
    if (js == JS_PG) {
        json_t *j = tdo_json_value(v, err);
        if (!j)
            return err ? err->code : TDO_ERR_FIELD;
        tdo_sb sb = TDO_SB_INIT;
        if (tdo_json_dump(&sb, j, JSON_COMPACT))
            cs->oom = true;
        json_decref(j);
        param_text(cs, &sb);
        add(cs, "::jsonb");
        tdo_sb_release(&sb);
        return TDO_OK;
    }
    if (v->type == TDO_BOOL) {
        if (js == JS_SQLITE) {
            tdo_value i = tdo_value_int(v->u.b);
            param(cs, &i, true);
        } else {
            tdo_value t =
                tdo_value_text(v->u.b ? "true" : "false", v->u.b ? 4 : 5);
            param(cs, &t, false);
        }
        return TDO_OK;
    }
    if (js == JS_SQLITE && v->type == TDO_DECIMAL) {
        /* json_extract gives a REAL, which a decimal (bound as text)
         * never equals */
        tdo_value d = tdo_value_double(tdo_decimal_to_double(&v->u.dec));
        param(cs, &d, true);
        return TDO_OK;
    }
    if (js == JS_MYSQL && (v->type == TDO_TEXT || v->type == TDO_UUID))
        add(cs, "BINARY ");
    param(cs, v, false);
    return TDO_OK;
}

/* The extracted value a comparison reads. */
static tdo_status json_cmp_lhs(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    return json_extract_sql(cs, q, true, err);
}

/* Whether the JSON value at q's path is null (JSON null or missing). */
static tdo_status json_null_sql(cstate *cs, const tdo_qnode *q, bool want,
                                tdo_error *err)
{
    json_style js = json_style_of(cs);
    tdo_status st;
    if (js == JS_SQLITE) {
        st = json_extract_sql(cs, q, false, err);
        add(cs, want ? " IS NULL" : " IS NOT NULL");
        return st;
    }
    add(cs, js == JS_PG ? "COALESCE(jsonb_typeof(" : "COALESCE(JSON_TYPE(");
    st = json_extract_sql(cs, q, false, err);
    add(cs, js == JS_PG ? "),'null')" : "),'NULL')");
    add(cs, want ? "=" : "<>");
    add(cs, js == JS_PG ? "'null'" : "'NULL'");
    return st;
}

/* data__filter = {path = value}: the JSON value at q's path compared. */
static tdo_status json_path_sql(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    tdo_status st = TDO_OK;
    const char *op = NULL;
    switch (q->lookup) {
    case TDO_LK_ISNULL:
    case TDO_LK_NOT_ISNULL: {
        bool yes = q->vals[0].type == TDO_BOOL ? q->vals[0].u.b
                                               : q->vals[0].type != TDO_NULL;
        return json_null_sql(cs, q, (q->lookup == TDO_LK_ISNULL) == yes, err);
    }
    case TDO_LK_IN:
    case TDO_LK_NOT_IN: {
        bool neg = q->lookup == TDO_LK_NOT_IN;
        if (!q->nvals) {
            add(cs, neg ? "1=1" : "0=1");
            return TDO_OK;
        }
        add(cs, neg ? "(NOT (" : "(");
        for (size_t i = 0; i < q->nvals && !st; i++) {
            if (i)
                add(cs, " OR ");
            st = json_cmp_lhs(cs, q, err);
            add(cs, "=");
            if (!st)
                st = json_operand(cs, &q->vals[i], err);
        }
        add(cs, neg ? ") OR " : ")");
        if (neg && !st) {
            st = json_null_sql(cs, q, true, err);
            add(cs, ")");
        }
        return st;
    }
    case TDO_LK_NOT:
        add(cs, "(");
        st = json_cmp_lhs(cs, q, err);
        add(cs, "<>");
        if (!st)
            st = json_operand(cs, &q->vals[0], err);
        add(cs, " OR ");
        if (!st)
            st = json_null_sql(cs, q, true, err);
        add(cs, ")");
        return st;
    case TDO_LK_GT:
        op = ">";
        break;
    case TDO_LK_GTE:
        op = ">=";
        break;
    case TDO_LK_LT:
        op = "<";
        break;
    case TDO_LK_LTE:
        op = "<=";
        break;
    default:
        if (q->vals[0].type == TDO_NULL)
            return json_null_sql(cs, q, true, err);
        op = "=";
        break;
    }
    st = json_cmp_lhs(cs, q, err);
    add(cs, op);
    if (!st)
        st = json_operand(cs, &q->vals[0], err);
    return st;
}

/* A JSONField contains (or is contained by) the JSON value given: PostgreSQL
 * @> / <@, MySQL JSON_CONTAINS, SQLite the registered
 * testudo_json_contains (backend_sqlite.c, same rules). */
static tdo_status json_contains_sql(cstate *cs, const tdo_qnode *q, bool by,
                                    tdo_error *err)
{
    json_style js = json_style_of(cs);
    tdo_status st = TDO_OK;
    if (js == JS_PG) {
        st = lhs_then(cs, q, by ? " <@ " : " @> ", err);
        param(cs, &q->vals[0], false);
        add(cs, "::jsonb");
        return st;
    }
    add(cs, js == JS_MYSQL ? "JSON_CONTAINS(" : "testudo_json_contains(");
    if (by) {
        param(cs, &q->vals[0], false);
        add(cs, ",");
        st = lhs_then(cs, q, ")", err);
    } else {
        st = lhs_then(cs, q, ",", err);
        param(cs, &q->vals[0], false);
        add(cs, ")");
    }
    if (js == JS_SQLITE)
        add(cs, "=1");
    return st;
}

static tdo_status leaf_sql(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    tdo_status st = TDO_OK;
    if (q->jpath)
        return json_path_sql(cs, q, err);
    if (q->field && q->field->type == TDO_F_JSON && !q->expr &&
        (q->lookup == TDO_LK_CONTAINS || q->lookup == TDO_LK_CONTAINED_BY))
        return json_contains_sql(cs, q, q->lookup == TDO_LK_CONTAINED_BY, err);
    switch (q->lookup) {
    case TDO_LK_EXACT:
        if (is_null_rhs(q))
            st = lhs_then(cs, q, " IS NULL", err);
        else
            st = cmp_sql(cs, q, "=", err);
        break;
    case TDO_LK_IEXACT:
        if (is_null_rhs(q)) {
            st = lhs_then(cs, q, " IS NULL", err);
            break;
        }
        add(cs, "LOWER(");
        st = lhs_then(cs, q, ")=LOWER(", err);
        param(cs, &q->vals[0], false);
        add(cs, ")");
        break;
    case TDO_LK_NOT:
        if (is_null_rhs(q)) {
            st = lhs_then(cs, q, " IS NOT NULL", err);
            break;
        }
        add(cs, "(");
        if ((st = cmp_sql(cs, q, "<>", err)))
            return st;
        add(cs, " OR ");
        st = lhs_then(cs, q, " IS NULL)", err);
        break;
    case TDO_LK_IN:
    case TDO_LK_NOT_IN: {
        bool neg = q->lookup == TDO_LK_NOT_IN;
        if (q->expr) { /* IN (SELECT ...) */
            if ((st = lhs_then(cs, q, neg ? " NOT IN " : " IN ", err)))
                return st;
            return expr_sql(cs, q->expr, 0, err);
        }
        if (!q->nvals) { /* nothing is in the empty list */
            add(cs, neg ? "1=1" : "0=1");
            break;
        }
        if (neg)
            add(cs, "(");
        if ((st = lhs_then(cs, q, neg ? " NOT IN (" : " IN (", err)))
            return st;
        for (size_t i = 0; i < q->nvals; i++) {
            if (i)
                add(cs, ",");
            param(cs, &q->vals[i], false);
        }
        add(cs, ")");
        if (neg) {
            add(cs, " OR ");
            st = lhs_then(cs, q, " IS NULL)", err);
        }
        break;
    }
    case TDO_LK_GT:
        st = cmp_sql(cs, q, ">", err);
        break;
    case TDO_LK_GTE:
        st = cmp_sql(cs, q, ">=", err);
        break;
    case TDO_LK_LT:
        st = cmp_sql(cs, q, "<", err);
        break;
    case TDO_LK_LTE:
        st = cmp_sql(cs, q, "<=", err);
        break;
    case TDO_LK_RANGE:
        if ((st = lhs_then(cs, q, " BETWEEN ", err)))
            return st;
        param(cs, &q->vals[0], false);
        add(cs, " AND ");
        param(cs, &q->vals[1], false);
        break;
    case TDO_LK_ISNULL:
    case TDO_LK_NOT_ISNULL: {
        const tdo_value *v = &q->vals[0];
        bool want_null = !(v->type == TDO_BOOL && !v->u.b);
        if (q->lookup == TDO_LK_NOT_ISNULL)
            want_null = !want_null;
        st = lhs_then(cs, q, want_null ? " IS NULL" : " IS NOT NULL", err);
        break;
    }
    case TDO_LK_CONTAINS:
        st = like_sql(cs, q, &q->vals[0], true, true, false, err);
        break;
    case TDO_LK_ICONTAINS:
        st = like_sql(cs, q, &q->vals[0], true, true, true, err);
        break;
    case TDO_LK_STARTSWITH:
        st = like_sql(cs, q, &q->vals[0], false, true, false, err);
        break;
    case TDO_LK_ISTARTSWITH:
        st = like_sql(cs, q, &q->vals[0], false, true, true, err);
        break;
    case TDO_LK_ENDSWITH:
        st = like_sql(cs, q, &q->vals[0], true, false, false, err);
        break;
    case TDO_LK_IENDSWITH:
        st = like_sql(cs, q, &q->vals[0], true, false, true, err);
        break;
    case TDO_LK_REGEX:
    case TDO_LK_POSIX_REGEX:
    case TDO_LK_IREGEX:
        st = regex_sql(cs, q, q->lookup == TDO_LK_IREGEX, err);
        break;
    default: /* the date parts */
        st = date_part_sql(cs, q, err);
        break;
    }
    return st;
}

/* Starts sub as a scope reading m again inside the statement: a root
 * alias of its own, every column qualified. */
static void self_scope(cstate *cs, scope *sub, const tdo_model *m)
{
    memset(sub, 0, sizeof(*sub));
    sub->m = m;
    sub->root = ++cs->nalias;
    sub->qualify = true;
}

/* A leaf under NOT that walks a to-many relation, as
 * root.pk IN (SELECT pk FROM root JOIN ... WHERE leaf): NOT then keeps
 * the rows none of whose related rows match. */
static tdo_status subquery_leaf(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    scope *outer = cs->sc;
    const tdo_field *pk = pk_of(outer->m);
    colref(cs, NULL, pk);
    add(cs, " IN (SELECT ");
    scope sub;
    self_scope(cs, &sub, outer->m);
    gather_where(cs, &sub, q, true, false);
    for (size_t k = 0; k < sub.nj; k++)
        sub.j[k].required = true;
    settle(&sub);
    cs->sc = &sub;
    colref(cs, NULL, pk);
    from_clause(cs, &sub);
    add(cs, " WHERE ");
    tdo_status st = leaf_sql(cs, q, err);
    add(cs, ")");
    cs->sc = outer;
    tdo_free(sub.j);
    return st;
}

/* Appends the condition of the resolved tree q; parent is the kind of
 * the enclosing node (AND inside OR and OR inside AND get parentheses,
 * chains of one operator are flat). */
static tdo_status where_sql(cstate *cs, const tdo_qnode *q, tdo_qkind parent,
                            bool under_not, tdo_error *err)
{
    tdo_status st;
    switch (q->kind) {
    case TDO_Q_EMPTY:
        add(cs, "1=1");
        return TDO_OK;
    case TDO_Q_LEAF:
        if (cs->sc && leaf_subquery(q, under_not))
            return subquery_leaf(cs, q, err);
        return leaf_sql(cs, q, err);
    case TDO_Q_NOT:
        add(cs, "NOT (");
        if ((st = where_sql(cs, q->a, TDO_Q_NOT, true, err)))
            return st;
        add(cs, ")");
        return TDO_OK;
    case TDO_Q_AND:
    case TDO_Q_OR: {
        bool paren = parent == TDO_Q_AND || parent == TDO_Q_OR;
        paren = paren && parent != q->kind;
        if (paren)
            add(cs, "(");
        if ((st = where_sql(cs, q->a, q->kind, under_not, err)))
            return st;
        add(cs, q->kind == TDO_Q_AND ? " AND " : " OR ");
        if ((st = where_sql(cs, q->b, q->kind, under_not, err)))
            return st;
        if (paren)
            add(cs, ")");
        return TDO_OK;
    }
    }
    return TDO_OK;
}

/* Appends the conjuncts of the top AND chain of n that hold an
 * aggregate (having) or not, joined by AND; *any counts them. */
static tdo_status conjuncts_sql(cstate *cs, const tdo_qnode *n, bool having,
                                const char *head, size_t *any, tdo_error *err)
{
    if (n->kind == TDO_Q_AND) {
        tdo_status st = conjuncts_sql(cs, n->a, having, head, any, err);
        return st ? st : conjuncts_sql(cs, n->b, having, head, any, err);
    }
    if (where_has_agg(cs, n) != having)
        return TDO_OK;
    add(cs, (*any)++ ? " AND " : head);
    return where_sql(cs, n, TDO_Q_AND, false, err);
}

static tdo_status term_sql(cstate *cs, const tdo_order *t, tdo_error *err);
static bool grouped(cstate *cs, const tdo_query *q);

/* distinct(fields) as a condition on the rows of q:
 * pk IN (SELECT _k FROM (SELECT pk AS _k, ROW_NUMBER() OVER (PARTITION
 * BY keys ORDER BY q's order, pk) AS _rn FROM ... WHERE q's filter) AS
 * _d WHERE _rn = 1). */
static tdo_status distinct_on_sql(cstate *cs, const tdo_query *q,
                                  tdo_error *err)
{
    const tdo_field *pk = pk_of(q->model);
    if (!pk)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "distinct(fields) needs a one-column primary "
                             "key");
    if (grouped(cs, q))
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "distinct(fields) cannot be combined with "
                             "aggregates or group_by");
    scope *outer = cs->sc;
    colref(cs, NULL, pk);
    add(cs, " IN (SELECT ");
    ident(cs, "_k");
    add(cs, " FROM (SELECT ");
    scope sub;
    self_scope(cs, &sub, q->model);
    gather_where(cs, &sub, q->where, true, false);
    gather_terms(cs, &sub, q->dist, q->ndist);
    gather_terms(cs, &sub, q->order, q->norder);
    settle(&sub);
    cs->sc = &sub;
    colref(cs, NULL, pk);
    add(cs, " AS ");
    ident(cs, "_k");
    add(cs, ",ROW_NUMBER() OVER (PARTITION BY ");
    tdo_status st = TDO_OK;
    for (size_t i = 0; i < q->ndist && !st; i++) {
        if (i)
            add(cs, ",");
        st = term_sql(cs, &q->dist[i], err);
    }
    add(cs, " ORDER BY ");
    for (size_t i = 0; i < q->norder && !st; i++) {
        st = term_sql(cs, &q->order[i], err);
        add(cs, q->order[i].desc ? " DESC," : ",");
    }
    colref(cs, NULL, pk);
    add(cs, ") AS ");
    ident(cs, "_rn");
    from_clause(cs, &sub);
    if (!st && q->where) {
        bool saved = cs->in_distinct;
        cs->in_distinct = true;
        add(cs, " WHERE ");
        st = where_sql(cs, q->where, TDO_Q_LEAF, false, err);
        cs->in_distinct = saved;
    }
    add(cs, ") ");
    ident(cs, "_d");
    add(cs, " WHERE ");
    ident(cs, "_rn");
    add(cs, "=1)");
    cs->sc = outer;
    tdo_free(sub.j);
    return st;
}

/* WHERE (and HAVING when having is true) of q; distinct(fields) is one
 * more condition of the WHERE. */
static tdo_status where_clause(cstate *cs, const tdo_query *q, bool having,
                               tdo_error *err)
{
    bool dist = !having && q->ndist && !cs->in_distinct;
    tdo_status st = TDO_OK;
    if (!q->where) {
        if (!dist)
            return TDO_OK;
        add(cs, " WHERE ");
        return distinct_on_sql(cs, q, err);
    }
    if (!where_has_agg(cs, q->where)) {
        if (having)
            return TDO_OK;
        add(cs, " WHERE ");
        st = where_sql(cs, q->where, dist ? TDO_Q_AND : TDO_Q_LEAF, false, err);
        if (!st && dist) {
            add(cs, " AND ");
            st = distinct_on_sql(cs, q, err);
        }
        return st;
    }
    size_t any = 0;
    st = conjuncts_sql(cs, q->where, having, having ? " HAVING " : " WHERE ",
                       &any, err);
    if (!st && dist) {
        add(cs, any ? " AND " : " WHERE ");
        st = distinct_on_sql(cs, q, err);
    }
    return st;
}

/* Appends one ORDER BY / GROUP BY term. */
static tdo_status term_sql(cstate *cs, const tdo_order *t, tdo_error *err)
{
    const tdo_annot *a = annot_of(cs, t->annot);
    if (a)
        return expr_sql(cs, a->expr, 0, err);
    colref(cs, t->path, t->field);
    return TDO_OK;
}

/* Whether e binds parameters when written (a value, a CASE, a
 * subquery, a filtered aggregate). */
static bool expr_binds(const tdo_expr *e)
{
    for (; e; e = e->kind == TDO_EXPR_BINOP ? e->b : NULL) {
        switch (e->kind) {
        case TDO_EXPR_VALUE:
        case TDO_EXPR_CASE:
        case TDO_EXPR_SUBQUERY:
            return true;
        case TDO_EXPR_FUNC:
            if (e->filter)
                return true;
            for (size_t i = 0; i < e->nargs; i++)
                if (expr_binds(e->args[i]))
                    return true;
            return false;
        case TDO_EXPR_BINOP:
        case TDO_EXPR_NEG:
            if (expr_binds(e->a))
                return true;
            break;
        default:
            return false;
        }
    }
    return false;
}

/* The 1-based output column of annotation annot when a GROUP / ORDER BY
 * should name it so: its expression binds parameters (PostgreSQL would
 * not see $4 as the $1 of the SELECT list) and the SELECT outputs it;
 * else 0. */
static size_t annot_position(cstate *cs, const tdo_query *q, size_t annot)
{
    const tdo_annot *a = annot_of(cs, annot);
    if (!a || !cs->proj_cols || !expr_binds(a->expr))
        return 0;
    for (size_t i = 0; i < q->proj->n; i++)
        if (q->proj->annots[i] == annot)
            return i + 1;
    return 0;
}

/* One GROUP / ORDER BY term of q: its output position, or itself. */
static tdo_status by_term_sql(cstate *cs, const tdo_query *q,
                              const tdo_order *t, tdo_error *err)
{
    size_t pos = annot_position(cs, q, t->annot);
    if (!pos)
        return term_sql(cs, t, err);
    char buf[24];
    snprintf(buf, sizeof buf, "%zu", pos);
    add(cs, buf);
    return TDO_OK;
}

static tdo_status order_clause(cstate *cs, const tdo_query *q, tdo_error *err)
{
    for (size_t i = 0; i < q->norder; i++) {
        add(cs, i ? "," : " ORDER BY ");
        tdo_status st = by_term_sql(cs, q, &q->order[i], err);
        if (st)
            return st;
        if (q->order[i].desc)
            add(cs, " DESC");
    }
    return TDO_OK;
}

static void limit_clause(cstate *cs, int64_t limit, int64_t offset)
{
    if (limit >= 0 || offset > 0)
        cs->d->limit_offset(&cs->sql, limit, offset > 0 ? offset : -1);
}

static bool sliced(const tdo_query *q)
{
    return q->limit >= 0 || q->offset > 0;
}

/* Whether the output of q holds an aggregate. */
static bool proj_has_agg(cstate *cs, const tdo_query *q)
{
    for (size_t i = 0; i < q->proj->n; i++) {
        const tdo_annot *a = annot_of(cs, q->proj->annots[i]);
        if (a && a->aggregate)
            return true;
    }
    return false;
}

/* Whether q aggregates rows (an aggregate in its output, its filters or
 * its ordering), or has an explicit group_by. */
static bool grouped(cstate *cs, const tdo_query *q)
{
    if (q->ngroup || proj_has_agg(cs, q) || where_has_agg(cs, q->where))
        return true;
    for (size_t i = 0; i < q->norder; i++) {
        const tdo_annot *a = annot_of(cs, q->order[i].annot);
        if (a && a->aggregate)
            return true;
    }
    return false;
}

/* Whether q outputs only aggregates without a group_by: one row over
 * every row (no GROUP BY, and no ORDER BY of plain columns, which
 * PostgreSQL refuses there). */
static bool one_agg_row(cstate *cs, const tdo_query *q)
{
    if (q->ngroup || !proj_has_agg(cs, q))
        return false;
    for (size_t i = 0; i < q->proj->n; i++) {
        const tdo_annot *a = annot_of(cs, q->proj->annots[i]);
        if (!a || !a->aggregate)
            return false;
    }
    return true;
}

/* GROUP BY of q: the explicit terms, or (when q aggregates and selects
 * anything else) every column of the model, then the other plain
 * outputs. */
static tdo_status group_clause(cstate *cs, const tdo_query *q, tdo_error *err)
{
    tdo_status st;
    if (q->ngroup) {
        for (size_t i = 0; i < q->ngroup; i++) {
            add(cs, i ? "," : " GROUP BY ");
            if ((st = by_term_sql(cs, q, &q->group[i], err)))
                return st;
        }
        return TDO_OK;
    }
    if (!grouped(cs, q))
        return TDO_OK;
    if (one_agg_row(cs, q))
        return TDO_OK; /* only aggregates: one row over every row */
    size_t n = 0, nf = tdo_model_nfields(q->model);
    for (size_t i = 0; i < nf; i++) {
        const tdo_field *f = tdo_model_field(q->model, i);
        if (f->type == TDO_F_M2M)
            continue;
        add(cs, n++ ? "," : " GROUP BY ");
        colref(cs, NULL, f);
    }
    for (size_t i = 0; i < q->proj->n; i++) {
        const tdo_annot *a = annot_of(cs, q->proj->annots[i]);
        if (a && a->aggregate)
            continue;
        if (!a && !q->proj->paths[i])
            continue; /* a column of the model: grouped already */
        add(cs, n++ ? "," : " GROUP BY ");
        size_t pos = a ? annot_position(cs, q, q->proj->annots[i]) : 0;
        if (pos) {
            char buf[24];
            snprintf(buf, sizeof buf, "%zu", pos);
            add(cs, buf);
        } else if (a)
            st = expr_sql(cs, a->expr, 0, err);
        else
            colref(cs, q->proj->paths[i], q->proj->fields[i]);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* Gathers the paths q uses into sc and settles the joins. */
static void gather_query(cstate *cs, scope *sc, const tdo_query *q,
                         selmode mode)
{
    bool pk = mode == SEL_PK || mode == SEL_PKD;
    if (!pk || grouped(cs, q))
        gather_proj(cs, sc, q->proj);
    gather_where(cs, sc, q->where, true, false);
    gather_terms(cs, sc, q->group, q->ngroup);
    if (mode == SEL_ROWS || mode == SEL_SUB || (mode == SEL_PK && sliced(q)))
        gather_terms(cs, sc, q->order, q->norder);
    settle(sc);
}

static bool same_path(const tdo_path *a, const tdo_path *b)
{
    if (!a || !b)
        return (!a || !a->n) && (!b || !b->n);
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->rels[i] != b->rels[i])
            return false;
    return true;
}

/* " UNION [ALL] SELECT ..." of each part of q's union(), then its ORDER
 * BY as output column positions (the same on every backend). */
static tdo_status union_sql(cstate *cs, const tdo_query *q, selmode mode,
                            tdo_error *err)
{
    tdo_status st = TDO_OK;
    if (mode != SEL_ROWS && mode != SEL_COUNT)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "a union() cannot be a subquery");
    for (size_t i = 0; i < q->nunions && !st; i++) {
        const tdo_query *part = q->unions[i].q;
        const tdo_query *saved_q = cs->q;
        const tdo_model *saved_m = cs->m;
        add(cs, q->unions[i].all ? " UNION ALL " : " UNION ");
        cs->q = part;
        cs->m = part->model;
        st = select_sql(cs, part, SEL_PART, err);
        cs->q = saved_q;
        cs->m = saved_m;
    }
    for (size_t i = 0; mode == SEL_ROWS && i < q->norder && !st; i++) {
        const tdo_order *t = &q->order[i];
        size_t pos = 0;
        for (size_t j = 0; j < q->proj->n && !pos; j++) {
            if (t->annot
                    ? q->proj->annots[j] == t->annot
                    : !q->proj->annots[j] && q->proj->fields[j] == t->field &&
                          same_path(q->proj->paths[j], t->path))
                pos = j + 1;
        }
        if (!pos)
            return tdo_error_set(err, TDO_ERR_FIELD,
                                 "order_by of a union() takes the columns "
                                 "it returns; '%s' is not one of them",
                                 t->field ? t->field->name : "?");
        char buf[40];
        snprintf(buf, sizeof buf, "%s%zu%s", i ? "," : " ORDER BY ", pos,
                 t->desc ? " DESC" : "");
        add(cs, buf);
    }
    return st;
}

/* " FOR [NO KEY] UPDATE [OF t, ...] [NOWAIT | SKIP LOCKED]" of q read
 * in scope sc.  MySQL has no OF: one naming every table read is a plain
 * FOR UPDATE there, one leaving a table out a ParamsError. */
static tdo_status lock_clause(cstate *cs, scope *sc, const tdo_query *q,
                              tdo_error *err)
{
    bool self = false;
    size_t nnodes = 0;
    for (size_t i = 0; i < q->nlock_of; i++) {
        if (!q->lock_of[i])
            self = true;
        else
            nnodes++;
    }
    /* select_related paths are distinct, so nnodes counts joins */
    bool every = self && nnodes >= sc->nj;
    bool of = q->nlock_of && (cs->d->features & TDO_DF_LOCK_OF);
    if (q->nlock_of && !of && !every)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "select_for_update of: this database locks the "
                             "rows of every table a query reads (it has no "
                             "FOR UPDATE OF); name them all, or none");
    add(cs, q->lock_no_key && (cs->d->features & TDO_DF_LOCK_OF)
                ? " FOR NO KEY UPDATE"
                : " FOR UPDATE");
    for (size_t i = 0; of && i < q->nlock_of; i++) {
        add(cs, i ? "," : " OF ");
        if (q->lock_of[i])
            alias_name(cs, sc->j[path_node(cs, sc, q->lock_of[i])].alias);
        else
            root_ref(cs, sc);
    }
    if (q->lock == TDO_LOCK_NOWAIT)
        add(cs, " NOWAIT");
    else if (q->lock == TDO_LOCK_SKIP_LOCKED)
        add(cs, " SKIP LOCKED");
    return TDO_OK;
}

/* SELECT [DISTINCT] cols FROM t [JOIN] [WHERE] [GROUP BY] [HAVING]
 * [UNION ...] [ORDER BY] [LIMIT]. */
static tdo_status select_sql(cstate *cs, const tdo_query *q, selmode mode,
                             tdo_error *err)
{
    tdo_status st = TDO_OK;
    scope *saved = cs->sc;
    scope sc;
    memset(&sc, 0, sizeof(sc));
    sc.m = q->model;
    gather_query(cs, &sc, q, mode);
    cs->sc = &sc;
    bool alias_cols = mode == SEL_COUNT && (sc.nj || q->nannots);
    bool sub_key = mode == SEL_SUB && q->proj->kind == TDO_PROJ_INSTANCES;
    bool saved_cols = cs->proj_cols;
    cs->proj_cols = !(mode == SEL_PK || mode == SEL_PKD || sub_key);
    if (mode == SEL_PK || mode == SEL_PKD || sub_key) {
        add(cs, mode == SEL_PKD || (sub_key && q->distinct) ? "SELECT DISTINCT "
                                                            : "SELECT ");
        for (size_t i = 0; i < tdo_model_nkey(q->model); i++) {
            if (i)
                add(cs, ",");
            colref(cs, NULL, tdo_model_key(q->model, i));
        }
    } else {
        add(cs, q->distinct ? "SELECT DISTINCT " : "SELECT ");
        for (size_t i = 0; i < q->proj->n && !st; i++) {
            const tdo_annot *a = annot_of(cs, q->proj->annots[i]);
            if (i)
                add(cs, ",");
            if (a)
                st = expr_sql(cs, a->expr, 0, err);
            else
                colref(cs, q->proj->paths[i], q->proj->fields[i]);
            if (alias_cols) {
                char buf[24];
                snprintf(buf, sizeof(buf), "c%zu", i);
                add(cs, " AS ");
                ident(cs, buf);
            } else if (a) {
                add(cs, " AS ");
                ident(cs, q->proj->names[i]);
            }
            if (mode == SEL_ROWS)
                add_col(cs, q->proj->names[i], q->proj->fields[i]);
        }
    }
    if (!st)
        from_clause(cs, &sc);
    if (!st)
        st = where_clause(cs, q, false, err);
    if (!st)
        st = group_clause(cs, q, err);
    if (!st)
        st = where_clause(cs, q, true, err);
    if (!st && q->nunions)
        st = union_sql(cs, q, mode, err);
    else if (!st &&
             (mode == SEL_ROWS || mode == SEL_SUB ||
              (mode == SEL_PK && sliced(q))) &&
             !one_agg_row(cs, q))
        st = order_clause(cs, q, err);
    if ((mode != SEL_PK || sliced(q)) && mode != SEL_PART)
        limit_clause(cs, q->limit, q->offset);
    if (!st && mode == SEL_ROWS && q->lock != TDO_LOCK_NONE &&
        (cs->d->features & TDO_DF_ROW_LOCKS))
        st = lock_clause(cs, &sc, q, err);
    cs->sc = saved;
    cs->proj_cols = saved_cols;
    tdo_free(sc.j);
    if (!st && cs->lost_join)
        st = tdo_error_set(err, TDO_ERR_BASE,
                           "internal error: a join was missed");
    return st;
}

/* Whether changing the rows of q needs them picked by primary key: a
 * slice, a join, a subquery or an aggregate. */
static bool pick_by_pk(cstate *cs, const tdo_query *q)
{
    if (sliced(q) || grouped(cs, q))
        return true;
    scope sc;
    memset(&sc, 0, sizeof(sc));
    sc.m = q->model;
    int saved = cs->nalias;
    gather_where(cs, &sc, q->where, true, false);
    bool pick = sc.nj > 0 || sc.qualify;
    tdo_free(sc.j);
    cs->nalias = saved;
    return pick;
}

/* The key columns of m, unqualified: "pk", or "(a,b)" for a composite
 * key (a row value) when row is set, else "a,b". */
static void key_columns(cstate *cs, const tdo_model *m, bool row)
{
    size_t n = tdo_model_nkey(m);
    if (n > 1 && row)
        add(cs, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            add(cs, ",");
        column(cs, tdo_model_key(m, i));
    }
    if (n > 1 && row)
        add(cs, ")");
}

/* WHERE for UPDATE/DELETE: rows picked by primary key in a subquery when
 * q is sliced or goes through relations (never UPDATE ... JOIN). */
static tdo_status target_rows(cstate *cs, const tdo_query *q, tdo_error *err)
{
    if (!pick_by_pk(cs, q))
        return where_clause(cs, q, false, err);
    if (!tdo_model_nkey(q->model))
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "model '%s' has no primary key: its rows can "
                             "be changed only by a plain filter (no "
                             "slice, relation or aggregate)",
                             tdo_model_name(q->model));
    tdo_status st;
    /* MySQL refuses LIMIT in an IN subquery and a subquery reading the
     * table being changed: it reads them from a derived table instead
     * (DISTINCT or LIMIT keep it from being merged away) */
    bool wrap = cs->d->features & TDO_DF_WRAP_LIMIT_SUBQUERY;
    add(cs, " WHERE ");
    key_columns(cs, q->model, true);
    add(cs, " IN (");
    if (wrap) {
        add(cs, "SELECT ");
        key_columns(cs, q->model, false);
        add(cs, " FROM (");
    }
    if ((st = select_sql(cs, q, wrap && !sliced(q) ? SEL_PKD : SEL_PK, err)))
        return st;
    if (wrap) {
        add(cs, ") AS ");
        ident(cs, "sub");
    }
    add(cs, ")");
    return TDO_OK;
}

static bool where_joins(const tdo_qnode *n);

/* Whether the resolved expression e reaches a column through a relation
 * (or an annotation): an UPDATE's SET has no joins. */
static bool expr_joins(const tdo_expr *e)
{
    if (!e)
        return false;
    switch (e->kind) {
    case TDO_EXPR_FIELD:
        return e->path != NULL || e->annot != 0;
    case TDO_EXPR_BINOP:
        return expr_joins(e->a) || expr_joins(e->b);
    case TDO_EXPR_NEG:
        return expr_joins(e->a);
    case TDO_EXPR_FUNC:
    case TDO_EXPR_CASE:
        for (size_t i = 0; i < e->nargs; i++)
            if (expr_joins(e->args[i]) ||
                (e->conds && where_joins(e->conds[i])))
                return true;
        return expr_joins(e->a) || where_joins(e->filter);
    default:
        return false;
    }
}

static bool where_joins(const tdo_qnode *n)
{
    if (!n)
        return false;
    if (n->kind == TDO_Q_LEAF)
        return n->path != NULL || n->annot != 0 || expr_joins(n->expr);
    return where_joins(n->a) || where_joins(n->b);
}

/* SET col = expr: e resolved for q's model, without relations. */
static tdo_status set_expr_sql(cstate *cs, const tdo_query *q,
                               const tdo_expr *e, tdo_error *err)
{
    tdo_expr *r = NULL;
    bool agg = false;
    tdo_status st = tdo_resolve_expr_(q, (tdo_expr *)e, &r, &agg, err);
    if (st)
        return st;
    if (agg || expr_joins(r))
        st = tdo_error_set(err, TDO_ERR_FIELD,
                           "update(): an expression can only use the "
                           "columns of model '%s' (no relation, annotation "
                           "or aggregate)",
                           tdo_model_name(q->model));
    else {
        cs->copy_params = true; /* r goes before the statement runs */
        st = expr_sql(cs, r, 0, err);
        cs->copy_params = false;
    }
    tdo_expr_free(r);
    return st;
}

static tdo_status update_sql(cstate *cs, const tdo_query *q,
                             const tdo_assign *assigns, size_t n,
                             tdo_error *err)
{
    tdo_status st;
    if (!n)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "update() needs at least one field (a field "
                             "given nil is dropped by Lua: use orm.null to "
                             "store NULL)");
    add(cs, "UPDATE ");
    table(cs, q->model);
    add(cs, " SET ");
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f;
        const char *name = assigns[i].field ? assigns[i].field : "";
        if ((st = tdo_query_resolve_field(q->model, name, &f, err)))
            return st;
        if (f->flags & TDO_FIELD_PK)
            return tdo_error_set(err, TDO_ERR_INTEGRITY,
                                 "Field %s is PK and can not be updated",
                                 f->name);
        if (i)
            add(cs, ",");
        column(cs, f);
        add(cs, "=");
        if (assigns[i].expr) {
            if ((st = set_expr_sql(cs, q, assigns[i].expr, err)))
                return st;
        } else {
            tdo_value null = tdo_value_null(), v;
            const tdo_value *in = assigns[i].value ? assigns[i].value : &null;
            if ((st = tdo_field_coerce(f, in, &v, err)))
                return st;
            if ((st = tdo_field_check(f, &v, err))) {
                tdo_value_release(&v);
                return st;
            }
            param(cs, &v, true);
        }
    }
    return target_rows(cs, q, err);
}

/* SELECT COUNT(*) / SELECT 1 over q: straight when q is a plain filter
 * (joins included), else over q's rows as a subquery. */
static tdo_status count_sql(cstate *cs, const tdo_query *q, bool exists,
                            tdo_error *err)
{
    tdo_status st;
    bool sub = exists ? (q->distinct && q->offset > 0) || grouped(cs, q)
                      : q->distinct || sliced(q) || grouped(cs, q);
    sub = sub || q->nunions;
    if (sub) {
        add(cs, exists ? "SELECT 1 FROM (" : "SELECT COUNT(*) FROM (");
        st = select_sql(cs, q, SEL_COUNT, err);
        add(cs, ") AS ");
        ident(cs, "sub");
        if (exists)
            limit_clause(cs, 1, -1);
        return st;
    }
    scope sc;
    memset(&sc, 0, sizeof(sc));
    sc.m = q->model;
    gather_where(cs, &sc, q->where, true, false);
    settle(&sc);
    cs->sc = &sc;
    add(cs, exists ? "SELECT 1" : "SELECT COUNT(*)");
    from_clause(cs, &sc);
    st = where_clause(cs, q, false, err);
    if (exists)
        limit_clause(cs, q->limit >= 0 && q->limit < 1 ? q->limit : 1,
                     q->offset);
    cs->sc = NULL;
    tdo_free(sc.j);
    return st;
}

/* Compiles q as a statement of the given kind for dialect d (pure).
 * assigns are for TDO_STMT_UPDATE: their values are coerced to their
 * fields.  *out is new; free with tdo_compiled_free(). */
tdo_status tdo_compile(const tdo_query *q, tdo_stmt_kind kind,
                       const tdo_dialect *d, const tdo_assign *assigns,
                       size_t nassigns, tdo_compiled **out, tdo_error *err)
{
    *out = NULL;
    cstate cs;
    cs_init(&cs, d, q->model);
    cs.q = q;
    tdo_status st = TDO_OK;
    if (q->nunions && (kind == TDO_STMT_UPDATE || kind == TDO_STMT_DELETE)) {
        st = tdo_error_set(err, TDO_ERR_PARAMS,
                           "%s() of a union() is not supported",
                           kind == TDO_STMT_UPDATE ? "update" : "delete");
        cs_release(&cs);
        return st;
    }
    switch (kind) {
    case TDO_STMT_SELECT:
        st = select_sql(&cs, q, SEL_ROWS, err);
        break;
    case TDO_STMT_COUNT:
        add_col(&cs, "count", NULL);
        st = count_sql(&cs, q, false, err);
        break;
    case TDO_STMT_EXISTS:
        add_col(&cs, "exists", NULL);
        st = count_sql(&cs, q, true, err);
        break;
    case TDO_STMT_UPDATE:
        st = tdo_model_check_writable_(q->model, "update", err);
        if (!st)
            st = update_sql(&cs, q, assigns, nassigns, err);
        break;
    case TDO_STMT_DELETE:
        if ((st = tdo_model_check_writable_(q->model, "delete", err)))
            break;
        add(&cs, "DELETE FROM ");
        table(&cs, q->model);
        st = target_rows(&cs, q, err);
        break;
    }
    if (!st)
        st = finish(&cs, out, err);
    cs_release(&cs);
    return st;
}

/* Compiles a multi-row INSERT (values row-major over fields, bound as
 * given), RETURNING the primary key where the dialect can.  ParamsError
 * for no rows, or several rows without any column. */
/* The checks of an INSERT of nrows rows of vals: m writable, rows there,
 * every value fits its field (see tdo_int.h). */
tdo_status tdo_insert_check_(const tdo_model *m, const tdo_field *const *fields,
                             size_t nfields, const tdo_value *vals,
                             size_t nrows, tdo_error *err)
{
    tdo_status wst = tdo_model_check_writable_(m, "insert", err);
    if (wst)
        return wst;
    if (!nrows)
        return tdo_error_set(err, TDO_ERR_PARAMS, "no rows to insert");
    for (size_t i = 0; i < nrows; i++)
        for (size_t j = 0; j < nfields; j++) {
            tdo_status st =
                tdo_field_check(fields[j], &vals[i * nfields + j], err);
            if (st)
                return st;
        }
    if (!nfields && nrows > 1)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "cannot insert several rows without columns in "
                             "one statement");
    return TDO_OK;
}

tdo_status tdo_compile_insert(const tdo_model *m, const tdo_dialect *d,
                              const tdo_field *const *fields, size_t nfields,
                              const tdo_value *vals, size_t nrows,
                              bool ignore_conflicts, tdo_compiled **out,
                              tdo_error *err)
{
    return tdo_compile_insert_(m, d, fields, nfields, vals, nrows,
                               ignore_conflicts, NULL, out, err);
}

/* The upsert clause of an INSERT: the dialect's form. */
static void upsert_clause(cstate *cs, const tdo_upsert *u)
{
    if (cs->d->features & TDO_DF_UPSERT_DUPLICATE_KEY) {
        add(cs, " ON DUPLICATE KEY UPDATE ");
        for (size_t i = 0; i < u->nset; i++) {
            if (i)
                add(cs, ",");
            column(cs, u->set[i]);
            add(cs, "=VALUES(");
            column(cs, u->set[i]);
            add(cs, ")");
        }
        return;
    }
    add(cs, " ON CONFLICT (");
    for (size_t i = 0; i < u->non; i++) {
        if (i)
            add(cs, ",");
        column(cs, u->on[i]);
    }
    add(cs, ") DO UPDATE SET ");
    for (size_t i = 0; i < u->nset; i++) {
        if (i)
            add(cs, ",");
        column(cs, u->set[i]);
        add(cs, "=excluded.");
        column(cs, u->set[i]);
    }
}

tdo_status tdo_compile_insert_(const tdo_model *m, const tdo_dialect *d,
                               const tdo_field *const *fields, size_t nfields,
                               const tdo_value *vals, size_t nrows,
                               bool ignore_conflicts, const tdo_upsert *u,
                               tdo_compiled **out, tdo_error *err)
{
    *out = NULL;
    tdo_status cst = tdo_insert_check_(m, fields, nfields, vals, nrows, err);
    if (cst)
        return cst;
    cstate cs;
    cs_init(&cs, d, m);
    bool or_ignore =
        ignore_conflicts && (d->features & TDO_DF_INSERT_OR_IGNORE);
    if (!or_ignore)
        add(&cs, "INSERT INTO ");
    else
        add(&cs,
            d->insert_ignore ? d->insert_ignore : "INSERT OR IGNORE INTO ");
    table(&cs, m);
    if (!nfields) {
        add(&cs, d->default_values ? d->default_values : " DEFAULT VALUES");
    } else {
        add(&cs, " (");
        for (size_t j = 0; j < nfields; j++) {
            if (j)
                add(&cs, ",");
            column(&cs, fields[j]);
        }
        add(&cs, ") VALUES ");
        for (size_t i = 0; i < nrows; i++) {
            add(&cs, i ? ",(" : "(");
            for (size_t j = 0; j < nfields; j++) {
                if (j)
                    add(&cs, ",");
                param(&cs, &vals[i * nfields + j], false);
            }
            add(&cs, ")");
        }
    }
    if (ignore_conflicts && !or_ignore)
        add(&cs, " ON CONFLICT DO NOTHING");
    else if (u)
        upsert_clause(&cs, u);
    const tdo_field *pk = tdo_model_pk(m);
    /* an upsert that updates leaves the last insert id behind */
    bool last_id = nrows == 1 && !u && (d->features & TDO_DF_ONE_ROW_LAST_ID);
    if (pk && (d->features & TDO_DF_RETURNING) && !last_id) {
        add(&cs, " RETURNING ");
        column(&cs, pk);
        add_col(&cs, pk->name, pk);
        cs.returning = true;
    }
    tdo_status st = finish(&cs, out, err);
    cs_release(&cs);
    return st;
}

/* The values of pk coerced to m's key fields (see tdo_int.h). */
tdo_status tdo_key_params_(const tdo_model *m, const tdo_value *pk,
                           tdo_value *out, tdo_error *err)
{
    size_t nkey = tdo_model_nkey(m);
    if (!nkey)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "model '%s' has no primary key: its rows can "
                             "only be changed through a queryset",
                             tdo_model_name(m));
    for (size_t i = 0; i < nkey; i++) {
        tdo_value null = tdo_value_null();
        tdo_status st = tdo_field_coerce(tdo_model_key(m, i),
                                         pk ? &pk[i] : &null, &out[i], err);
        if (st) {
            for (size_t j = 0; j < i; j++)
                tdo_value_release(&out[j]);
            return st;
        }
    }
    return TDO_OK;
}

/* WHERE "pk"=? with pk coerced to the primary key's type; for a
 * composite key, pk holds one value per key field (in key order) and
 * every one is matched. */
static tdo_status pk_where(cstate *cs, const tdo_value *pk, tdo_error *err)
{
    size_t nkey = tdo_model_nkey(cs->m);
    tdo_value *kv = tdo_calloc(nkey ? nkey : 1, sizeof(*kv));
    if (!kv)
        return tdo_nomem(err);
    tdo_status st = tdo_key_params_(cs->m, pk, kv, err);
    if (!st) {
        add(cs, " WHERE ");
        for (size_t i = 0; i < nkey; i++) {
            if (i)
                add(cs, " AND ");
            column(cs, tdo_model_key(cs->m, i));
            add(cs, "=");
            param(cs, &kv[i], true);
        }
    }
    tdo_free(kv);
    return st;
}

/* The checks of an UPDATE of the n fields of one row (see tdo_int.h). */
tdo_status tdo_update_check_(const tdo_model *m, const tdo_field *const *fields,
                             const tdo_value *vals, size_t n, tdo_error *err)
{
    tdo_status wst = tdo_model_check_writable_(m, "save", err);
    if (wst)
        return wst;
    if (!n)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "update of model '%s' names no field",
                             tdo_model_name(m));
    for (size_t i = 0; i < n; i++) {
        tdo_status st = tdo_field_check(fields[i], &vals[i], err);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* Compiles UPDATE t SET f1=?,... WHERE pk=? (values bound as given; pk:
 * one value per key field). */
tdo_status tdo_compile_update_pk(const tdo_model *m, const tdo_dialect *d,
                                 const tdo_field *const *fields,
                                 const tdo_value *vals, size_t n,
                                 const tdo_value *pk, tdo_compiled **out,
                                 tdo_error *err)
{
    *out = NULL;
    tdo_status cst = tdo_update_check_(m, fields, vals, n, err);
    if (cst)
        return cst;
    cstate cs;
    cs_init(&cs, d, m);
    add(&cs, "UPDATE ");
    table(&cs, m);
    add(&cs, " SET ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            add(&cs, ",");
        column(&cs, fields[i]);
        add(&cs, "=");
        param(&cs, &vals[i], false);
    }
    tdo_status st = pk_where(&cs, pk, err);
    if (!st)
        st = finish(&cs, out, err);
    cs_release(&cs);
    return st;
}

/* Compiles DELETE FROM t WHERE pk=? (pk: one value per key field). */
tdo_status tdo_compile_delete_pk(const tdo_model *m, const tdo_dialect *d,
                                 const tdo_value *pk, tdo_compiled **out,
                                 tdo_error *err)
{
    *out = NULL;
    tdo_status wst = tdo_model_check_writable_(m, "delete", err);
    if (wst)
        return wst;
    cstate cs;
    cs_init(&cs, d, m);
    add(&cs, "DELETE FROM ");
    table(&cs, m);
    tdo_status st = pk_where(&cs, pk, err);
    if (!st)
        st = finish(&cs, out, err);
    cs_release(&cs);
    return st;
}

/* The SQL text of c; belongs to c. */
const char *tdo_compiled_sql(const tdo_compiled *c)
{
    return c->sql;
}

/* The number of bound parameters of c. */
size_t tdo_compiled_nparams(const tdo_compiled *c)
{
    return c->nparams;
}

/* The bound parameters of c (canonical values); belong to c. */
const tdo_value *tdo_compiled_params(const tdo_compiled *c)
{
    return c->params;
}

/* Frees c and everything in it (NULL is fine). */
void tdo_compiled_free(tdo_compiled *c)
{
    tdo_free(c);
}
