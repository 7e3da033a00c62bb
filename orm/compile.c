/*
 * compile.c -- turns a query AST into SQL text and bound parameters for a
 * dialect.  Pure: no I/O.  Every value becomes a placeholder and a
 * parameter (a canonical field value; the backend applies to_db when it
 * binds), every identifier comes from model metadata through the
 * dialect's quote_ident.  The result lives in one block (tdo_compiled).
 */
#include "tdo_int.h"

#include <stdalign.h>

/* Compiler state: the SQL being written, the parameters (values owned
 * when their owned flag is set, else borrowed from the query or the
 * caller until finish() copies them) and the output columns. */
typedef struct cstate {
    const tdo_dialect *d;
    const tdo_model *m;
    tdo_sb sql;
    tdo_value *params;
    size_t np, ap;
    tdo_colinfo *cols;
    size_t nc, ac;
    bool returning;
    bool oom;
} cstate;

static void cs_init(cstate *cs, const tdo_dialect *d, const tdo_model *m)
{
    memset(cs, 0, sizeof(*cs));
    cs->d = d;
    cs->m = m;
    tdo_sb_init(&cs->sql);
}

static void cs_release(cstate *cs)
{
    for (size_t i = 0; i < cs->np; i++)
        tdo_value_release(&cs->params[i]);
    tdo_free(cs->params);
    tdo_free(cs->cols);
    tdo_sb_release(&cs->sql);
}

static tdo_status nomem(tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
}

static void add(cstate *cs, const char *s)
{
    tdo_sb_adds(&cs->sql, s);
}

static void ident(cstate *cs, const char *name)
{
    cs->d->quote_ident(&cs->sql, name);
}

static void column(cstate *cs, const tdo_field *f)
{
    cs->d->quote_ident(&cs->sql, f->column);
}

/* Appends a placeholder and the parameter v.  take: v's bytes (if owned)
 * now belong to cs; otherwise v is borrowed. */
static void param(cstate *cs, const tdo_value *v, bool take)
{
    tdo_value pv = *v;
    if (!take)
        pv.owned = false;
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

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Packs the SQL, parameters and columns of cs into one new block. */
static tdo_status finish(cstate *cs, tdo_compiled **out, tdo_error *err)
{
    *out = NULL;
    if (cs->oom || cs->sql.oom)
        return nomem(err);
    size_t off_params = align_up(sizeof(tdo_compiled), alignof(tdo_value));
    size_t off_cols =
        align_up(off_params + cs->np * sizeof(tdo_value), alignof(tdo_colinfo));
    size_t off_text = off_cols + cs->nc * sizeof(tdo_colinfo);
    size_t size = off_text + cs->sql.len + 1;
    for (size_t i = 0; i < cs->np; i++)
        if (has_bytes(&cs->params[i]))
            size += cs->params[i].u.s.len + 1;
    for (size_t i = 0; i < cs->nc; i++)
        size += strlen(cs->cols[i].name) + 1;
    char *block = tdo_malloc(size);
    if (!block)
        return nomem(err);
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
/* Expressions                                                         */
/* ------------------------------------------------------------------ */

static int prec(const tdo_expr *e)
{
    if (e->kind == TDO_EXPR_BINOP)
        return (e->op == '+' || e->op == '-') ? 1 : 2;
    return 3;
}

static tdo_status expr_sql(cstate *cs, const tdo_expr *e, int min_prec,
                           tdo_error *err)
{
    const tdo_field *f;
    tdo_status st;
    bool paren = prec(e) < min_prec;
    if (paren)
        add(cs, "(");
    switch (e->kind) {
    case TDO_EXPR_FIELD:
        if ((st = tdo_query_resolve_field(cs->m, e->name, &f, err)))
            return st;
        column(cs, f);
        break;
    case TDO_EXPR_VALUE:
        param(cs, &e->val, false);
        break;
    case TDO_EXPR_BINOP: {
        int p = prec(e);
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
    }
    if (paren)
        add(cs, ")");
    return TDO_OK;
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

static void like_sql(cstate *cs, const tdo_field *f, const tdo_value *v,
                     bool lead, bool trail, bool ci)
{
    if (!ci && (cs->d->features & TDO_DF_GLOB)) {
        column(cs, f);
        add(cs, " GLOB ");
        pattern_param(cs, v, lead, trail, true);
        return;
    }
    if (ci && (cs->d->features & TDO_DF_ILIKE)) {
        column(cs, f);
        add(cs, " ILIKE ");
        pattern_param(cs, v, lead, trail, false);
    } else if (ci) {
        add(cs, "LOWER(");
        column(cs, f);
        add(cs, ") LIKE LOWER(");
        pattern_param(cs, v, lead, trail, false);
        add(cs, ")");
    } else {
        column(cs, f);
        add(cs, " LIKE ");
        pattern_param(cs, v, lead, trail, false);
    }
    add(cs, cs->d->like_escape ? cs->d->like_escape : " ESCAPE '\\'");
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

static tdo_status leaf_sql(cstate *cs, const tdo_qnode *q, tdo_error *err)
{
    const tdo_field *f = q->field;
    tdo_status st = TDO_OK;
    switch (q->lookup) {
    case TDO_LK_EXACT:
        column(cs, f);
        if (is_null_rhs(q))
            add(cs, " IS NULL");
        else
            st = rhs_sql(cs, q, "=", err);
        break;
    case TDO_LK_IEXACT:
        if (is_null_rhs(q)) {
            column(cs, f);
            add(cs, " IS NULL");
            break;
        }
        add(cs, "LOWER(");
        column(cs, f);
        add(cs, ")=LOWER(");
        param(cs, &q->vals[0], false);
        add(cs, ")");
        break;
    case TDO_LK_NOT:
        if (is_null_rhs(q)) {
            column(cs, f);
            add(cs, " IS NOT NULL");
            break;
        }
        add(cs, "(");
        column(cs, f);
        if ((st = rhs_sql(cs, q, "<>", err)))
            return st;
        add(cs, " OR ");
        column(cs, f);
        add(cs, " IS NULL)");
        break;
    case TDO_LK_IN:
    case TDO_LK_NOT_IN: {
        bool neg = q->lookup == TDO_LK_NOT_IN;
        if (!q->nvals) { /* nothing is in the empty list */
            add(cs, neg ? "1=1" : "0=1");
            break;
        }
        if (neg)
            add(cs, "(");
        column(cs, f);
        add(cs, neg ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < q->nvals; i++) {
            if (i)
                add(cs, ",");
            param(cs, &q->vals[i], false);
        }
        add(cs, ")");
        if (neg) {
            add(cs, " OR ");
            column(cs, f);
            add(cs, " IS NULL)");
        }
        break;
    }
    case TDO_LK_GT:
        column(cs, f);
        st = rhs_sql(cs, q, ">", err);
        break;
    case TDO_LK_GTE:
        column(cs, f);
        st = rhs_sql(cs, q, ">=", err);
        break;
    case TDO_LK_LT:
        column(cs, f);
        st = rhs_sql(cs, q, "<", err);
        break;
    case TDO_LK_LTE:
        column(cs, f);
        st = rhs_sql(cs, q, "<=", err);
        break;
    case TDO_LK_RANGE:
        column(cs, f);
        add(cs, " BETWEEN ");
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
        column(cs, f);
        add(cs, want_null ? " IS NULL" : " IS NOT NULL");
        break;
    }
    case TDO_LK_CONTAINS:
        like_sql(cs, f, &q->vals[0], true, true, false);
        break;
    case TDO_LK_ICONTAINS:
        like_sql(cs, f, &q->vals[0], true, true, true);
        break;
    case TDO_LK_STARTSWITH:
        like_sql(cs, f, &q->vals[0], false, true, false);
        break;
    case TDO_LK_ISTARTSWITH:
        like_sql(cs, f, &q->vals[0], false, true, true);
        break;
    case TDO_LK_ENDSWITH:
        like_sql(cs, f, &q->vals[0], true, false, false);
        break;
    case TDO_LK_IENDSWITH:
        like_sql(cs, f, &q->vals[0], true, false, true);
        break;
    case TDO_LK_COUNT:
        break;
    }
    return st;
}

/* Appends the condition of the resolved tree q; parent is the kind of
 * the enclosing node (AND inside OR and OR inside AND get parentheses,
 * chains of one operator are flat). */
static tdo_status where_sql(cstate *cs, const tdo_qnode *q, tdo_qkind parent,
                            tdo_error *err)
{
    tdo_status st;
    switch (q->kind) {
    case TDO_Q_EMPTY:
        add(cs, "1=1");
        return TDO_OK;
    case TDO_Q_LEAF:
        return leaf_sql(cs, q, err);
    case TDO_Q_NOT:
        add(cs, "NOT (");
        if ((st = where_sql(cs, q->a, TDO_Q_NOT, err)))
            return st;
        add(cs, ")");
        return TDO_OK;
    case TDO_Q_AND:
    case TDO_Q_OR: {
        bool paren = parent == TDO_Q_AND || parent == TDO_Q_OR;
        paren = paren && parent != q->kind;
        if (paren)
            add(cs, "(");
        if ((st = where_sql(cs, q->a, q->kind, err)))
            return st;
        add(cs, q->kind == TDO_Q_AND ? " AND " : " OR ");
        if ((st = where_sql(cs, q->b, q->kind, err)))
            return st;
        if (paren)
            add(cs, ")");
        return TDO_OK;
    }
    }
    return TDO_OK;
}

static tdo_status where_clause(cstate *cs, const tdo_query *q, tdo_error *err)
{
    if (!q->where)
        return TDO_OK;
    add(cs, " WHERE ");
    return where_sql(cs, q->where, TDO_Q_LEAF, err);
}

static void order_clause(cstate *cs, const tdo_query *q)
{
    for (size_t i = 0; i < q->norder; i++) {
        add(cs, i ? "," : " ORDER BY ");
        column(cs, q->order[i].field);
        if (q->order[i].desc)
            add(cs, " DESC");
    }
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

static void from_table(cstate *cs, const tdo_query *q)
{
    add(cs, " FROM ");
    ident(cs, tdo_model_table(q->model));
}

/* SELECT [DISTINCT] cols FROM t [WHERE] [ORDER BY] [LIMIT]; with_cols:
 * record the output columns. */
static tdo_status select_sql(cstate *cs, const tdo_query *q, bool order,
                             bool with_cols, tdo_error *err)
{
    tdo_status st;
    add(cs, q->distinct ? "SELECT DISTINCT " : "SELECT ");
    for (size_t i = 0; i < q->proj->n; i++) {
        if (i)
            add(cs, ",");
        column(cs, q->proj->fields[i]);
        if (with_cols)
            add_col(cs, q->proj->names[i], q->proj->fields[i]);
    }
    from_table(cs, q);
    if ((st = where_clause(cs, q, err)))
        return st;
    if (order)
        order_clause(cs, q);
    limit_clause(cs, q->limit, q->offset);
    return TDO_OK;
}

/* WHERE for UPDATE/DELETE: a sliced query picks its rows by primary key. */
static tdo_status target_rows(cstate *cs, const tdo_query *q, tdo_error *err)
{
    if (!sliced(q))
        return where_clause(cs, q, err);
    const tdo_field *pk = tdo_model_pk(q->model);
    tdo_status st;
    /* MySQL refuses LIMIT in an IN subquery and a subquery reading the
     * table being changed: it reads them from a derived table instead */
    bool wrap = cs->d->features & TDO_DF_WRAP_LIMIT_SUBQUERY;
    add(cs, " WHERE ");
    column(cs, pk);
    add(cs, " IN (SELECT ");
    column(cs, pk);
    if (wrap) {
        add(cs, " FROM (SELECT ");
        column(cs, pk);
    }
    from_table(cs, q);
    if ((st = where_clause(cs, q, err)))
        return st;
    order_clause(cs, q);
    limit_clause(cs, q->limit, q->offset);
    if (wrap) {
        add(cs, ") AS ");
        ident(cs, "sub");
    }
    add(cs, ")");
    return TDO_OK;
}

static tdo_status update_sql(cstate *cs, const tdo_query *q,
                             const tdo_assign *assigns, size_t n,
                             tdo_error *err)
{
    tdo_status st;
    if (!n)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "update() needs at least one field");
    add(cs, "UPDATE ");
    ident(cs, tdo_model_table(q->model));
    add(cs, " SET ");
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f;
        const char *name = assigns[i].field ? assigns[i].field : "";
        if ((st = tdo_query_resolve_field(q->model, name, &f, err)))
            return st;
        if (i)
            add(cs, ",");
        column(cs, f);
        add(cs, "=");
        if (assigns[i].expr) {
            if ((st = expr_sql(cs, assigns[i].expr, 0, err)))
                return st;
        } else {
            tdo_value null = tdo_value_null(), v;
            const tdo_value *in = assigns[i].value ? assigns[i].value : &null;
            if ((st = tdo_field_coerce(f, in, &v, err)))
                return st;
            param(cs, &v, true);
        }
    }
    return target_rows(cs, q, err);
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
    tdo_status st = TDO_OK;
    switch (kind) {
    case TDO_STMT_SELECT:
        st = select_sql(&cs, q, true, true, err);
        break;
    case TDO_STMT_COUNT:
        add_col(&cs, "count", NULL);
        if (q->distinct || sliced(q)) {
            add(&cs, "SELECT COUNT(*) FROM (");
            st = select_sql(&cs, q, false, false, err);
            add(&cs, ") AS ");
            ident(&cs, "sub");
        } else {
            add(&cs, "SELECT COUNT(*)");
            from_table(&cs, q);
            st = where_clause(&cs, q, err);
        }
        break;
    case TDO_STMT_EXISTS:
        add_col(&cs, "exists", NULL);
        if (q->distinct && q->offset > 0) {
            add(&cs, "SELECT 1 FROM (");
            st = select_sql(&cs, q, false, false, err);
            add(&cs, ") AS ");
            ident(&cs, "sub");
            limit_clause(&cs, 1, -1);
        } else {
            add(&cs, "SELECT 1");
            from_table(&cs, q);
            st = where_clause(&cs, q, err);
            limit_clause(&cs, q->limit >= 0 && q->limit < 1 ? q->limit : 1,
                         q->offset);
        }
        break;
    case TDO_STMT_UPDATE:
        st = update_sql(&cs, q, assigns, nassigns, err);
        break;
    case TDO_STMT_DELETE:
        add(&cs, "DELETE FROM ");
        ident(&cs, tdo_model_table(q->model));
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
tdo_status tdo_compile_insert(const tdo_model *m, const tdo_dialect *d,
                              const tdo_field *const *fields, size_t nfields,
                              const tdo_value *vals, size_t nrows,
                              bool ignore_conflicts, tdo_compiled **out,
                              tdo_error *err)
{
    *out = NULL;
    if (!nrows)
        return tdo_error_set(err, TDO_ERR_PARAMS, "no rows to insert");
    if (!nfields && nrows > 1)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "cannot insert several rows without columns in "
                             "one statement");
    cstate cs;
    cs_init(&cs, d, m);
    bool or_ignore =
        ignore_conflicts && (d->features & TDO_DF_INSERT_OR_IGNORE);
    if (!or_ignore)
        add(&cs, "INSERT INTO ");
    else
        add(&cs, d->insert_ignore ? d->insert_ignore : "INSERT OR IGNORE INTO ");
    ident(&cs, tdo_model_table(m));
    if (!nfields) {
        add(&cs, " DEFAULT VALUES");
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
    const tdo_field *pk = tdo_model_pk(m);
    if (pk && (d->features & TDO_DF_RETURNING)) {
        add(&cs, " RETURNING ");
        column(&cs, pk);
        add_col(&cs, pk->name, pk);
        cs.returning = true;
    }
    tdo_status st = finish(&cs, out, err);
    cs_release(&cs);
    return st;
}

/* WHERE "pk"=? with pk coerced to the primary key's type. */
static tdo_status pk_where(cstate *cs, const tdo_value *pk, tdo_error *err)
{
    const tdo_field *f = tdo_model_pk(cs->m);
    if (!f)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "model '%s' has no primary key",
                             tdo_model_name(cs->m));
    tdo_value null = tdo_value_null(), v;
    tdo_status st = tdo_field_coerce(f, pk ? pk : &null, &v, err);
    if (st)
        return st;
    add(cs, " WHERE ");
    column(cs, f);
    add(cs, "=");
    param(cs, &v, true);
    return TDO_OK;
}

/* Compiles UPDATE t SET f1=?,... WHERE pk=? (values bound as given). */
tdo_status tdo_compile_update_pk(const tdo_model *m, const tdo_dialect *d,
                                 const tdo_field *const *fields,
                                 const tdo_value *vals, size_t n,
                                 const tdo_value *pk, tdo_compiled **out,
                                 tdo_error *err)
{
    *out = NULL;
    if (!n)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "update of model '%s' names no field",
                             tdo_model_name(m));
    cstate cs;
    cs_init(&cs, d, m);
    add(&cs, "UPDATE ");
    ident(&cs, tdo_model_table(m));
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

/* Compiles DELETE FROM t WHERE pk=?. */
tdo_status tdo_compile_delete_pk(const tdo_model *m, const tdo_dialect *d,
                                 const tdo_value *pk, tdo_compiled **out,
                                 tdo_error *err)
{
    *out = NULL;
    cstate cs;
    cs_init(&cs, d, m);
    add(&cs, "DELETE FROM ");
    ident(&cs, tdo_model_table(m));
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
