/*
 * m2m.c -- adding and removing many-to-many links: rows of the through
 * table of a relation (automatic or a declared through model).  add
 * reads the pairs that exist first and inserts only the missing ones, so
 * it never duplicates a pair on any backend.
 */
#include "tdo_int.h"

static tdo_status check_rel(const tdo_relation *r, tdo_error *err)
{
    if (!r || (r->kind != TDO_REL_M2M && r->kind != TDO_REL_REVERSE_M2M) ||
        !r->through || !r->source_column || !r->target_column)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "'%s' is not a many-to-many relation",
                             r && r->name ? r->name : "?");
    return TDO_OK;
}

/* Appends "col IN (?,...)" or "col=?" over n values to sb, the values
 * to params from index *np. */
static void in_list(tdo_sb *sb, const tdo_dialect *d, const char *col, size_t n,
                    size_t *np)
{
    d->quote_ident(sb, col);
    tdo_sb_adds(sb, n == 1 ? "=" : " IN (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            tdo_sb_addc(sb, ',');
        d->placeholder(sb, ++*np);
    }
    if (n != 1)
        tdo_sb_addc(sb, ')');
}

/* Coerces v to the primary key type of m into out (owned). */
static tdo_status coerce_pk(const tdo_model *m, const tdo_value *v,
                            tdo_value *out, tdo_error *err)
{
    const tdo_field *pk = tdo_model_pk(m);
    if (v->type == TDO_NULL)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "You should first call .save() on the %s "
                             "instance before referring to it",
                             tdo_model_name(m));
    return tdo_field_coerce(pk, v, out, err);
}

static void release_all(tdo_value *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        tdo_value_release(&v[i]);
    tdo_free(v);
}

/* The work of one tdo_m2m_add. */
typedef struct m2m_add_job {
    tdo_conn *c;
    const tdo_relation *r;
    const tdo_dialect *d;
    tdo_value *vals; /* [0] the pk, [1..nt] the targets, deduplicated */
    size_t nvals;    /* how many of vals are set (released at the end) */
    size_t nt;
    bool *have;           /* have[j]: target j is linked already */
    const tdo_field **xf; /* the extra columns' fields */
    size_t nextra;
    tdo_sb sb;
} m2m_add_job;

/* Coerces the pk and the targets (duplicates dropped) into j->vals. */
static tdo_status add_keys(m2m_add_job *j, const tdo_value *pk,
                           const tdo_value *targets, size_t n, tdo_error *err)
{
    tdo_status st = coerce_pk(j->r->model, pk, &j->vals[0], err);
    if (st)
        return st;
    j->nvals = 1;
    for (size_t i = 0; i < n; i++) {
        tdo_value v;
        if ((st = coerce_pk(j->r->target, &targets[i], &v, err)))
            return st;
        bool dup = false;
        for (size_t k = 0; k < j->nt && !dup; k++)
            dup = tdo_value_cmp(&j->vals[1 + k], &v) == 0;
        if (dup) {
            tdo_value_release(&v);
            continue;
        }
        j->vals[1 + j->nt++] = v;
        j->nvals = 1 + j->nt;
    }
    return TDO_OK;
}

/* Finds the fields of the extra columns in the through model. */
static tdo_status
add_extra_fields(m2m_add_job *j, const char *const *extra_cols, tdo_error *err)
{
    for (size_t i = 0; i < j->nextra; i++) {
        const tdo_field *f =
            tdo_model_field_by_name(j->r->through_model, extra_cols[i]);
        if (!f || f->type == TDO_F_M2M)
            return tdo_model_field_error(j->r->through_model, extra_cols[i],
                                         err);
        j->xf[i] = f;
    }
    return TDO_OK;
}

/* Marks in j->have the targets linked already (one SELECT). */
static tdo_status mark_existing(m2m_add_job *j, tdo_error *err)
{
    const tdo_relation *r = j->r;
    size_t np = 0;
    tdo_sb_reset(&j->sb);
    tdo_sb_adds(&j->sb, "SELECT ");
    j->d->quote_ident(&j->sb, r->target_column);
    tdo_sb_adds(&j->sb, " FROM ");
    j->d->quote_ident(&j->sb, r->through);
    tdo_sb_adds(&j->sb, " WHERE ");
    in_list(&j->sb, j->d, r->source_column, 1, &np);
    tdo_sb_adds(&j->sb, " AND ");
    in_list(&j->sb, j->d, r->target_column, j->nt, &np);
    if (j->sb.oom)
        return tdo_nomem(err);
    tdo_rows *rows = NULL;
    tdo_status st =
        tdo_conn_execute(j->c, j->sb.buf, j->vals, 1 + j->nt, &rows, NULL, err);
    bool has_row;
    while (!st && !(st = tdo_rows_next(rows, &has_row, err)) && has_row) {
        tdo_value raw, v;
        if ((st = tdo_rows_get(rows, 0, &raw, err)))
            break;
        if ((st = tdo_field_coerce(tdo_model_pk(r->target), &raw, &v, err)))
            break;
        for (size_t k = 0; k < j->nt; k++)
            if (tdo_value_cmp(&j->vals[1 + k], &v) == 0)
                j->have[k] = true;
        tdo_value_release(&v);
    }
    tdo_rows_free(rows);
    return st;
}

/* Appends "INSERT INTO through (source, target, extras...) VALUES" and a
 * row of placeholders per missing pair, filling ins (borrowed values:
 * the keys of j->vals and the extras xv). */
static void insert_sql(m2m_add_job *j, const tdo_value *xv, tdo_value *ins)
{
    const tdo_relation *r = j->r;
    size_t w = 2 + j->nextra, np = 0, k = 0;
    tdo_sb_reset(&j->sb);
    tdo_sb_adds(&j->sb, "INSERT INTO ");
    j->d->quote_ident(&j->sb, r->through);
    tdo_sb_adds(&j->sb, " (");
    j->d->quote_ident(&j->sb, r->source_column);
    tdo_sb_adds(&j->sb, ",");
    j->d->quote_ident(&j->sb, r->target_column);
    for (size_t i = 0; i < j->nextra; i++) {
        tdo_sb_adds(&j->sb, ",");
        j->d->quote_ident(&j->sb, j->xf[i]->column);
    }
    tdo_sb_adds(&j->sb, ") VALUES ");
    for (size_t t = 0; t < j->nt; t++) {
        if (j->have[t])
            continue;
        tdo_sb_adds(&j->sb, k ? ",(" : "(");
        ins[k * w] = j->vals[0];
        ins[k * w + 1] = j->vals[1 + t];
        for (size_t i = 0; i < w; i++) {
            if (i)
                tdo_sb_addc(&j->sb, ',');
            j->d->placeholder(&j->sb, ++np);
            if (i >= 2)
                ins[k * w + i] = xv[i - 2];
            ins[k * w + i].owned = false;
        }
        tdo_sb_addc(&j->sb, ')');
        k++;
    }
}

/* Inserts the missing pairs in one statement, with the extra values. */
static tdo_status insert_missing(m2m_add_job *j, const tdo_value *extra_vals,
                                 tdo_error *err)
{
    size_t nnew = 0;
    for (size_t t = 0; t < j->nt; t++)
        nnew += !j->have[t];
    if (!nnew)
        return TDO_OK;
    size_t w = 2 + j->nextra;
    tdo_value *ins = tdo_calloc(nnew * w, sizeof(*ins));
    tdo_value *xv = tdo_calloc(j->nextra ? j->nextra : 1, sizeof(*xv));
    tdo_status st = ins && xv ? TDO_OK : tdo_nomem(err);
    size_t nx = 0;
    for (; !st && nx < j->nextra; nx++)
        st = tdo_field_coerce(j->xf[nx], &extra_vals[nx], &xv[nx], err);
    if (!st) {
        insert_sql(j, xv, ins);
        st = j->sb.oom ? tdo_nomem(err)
                       : tdo_conn_execute(j->c, j->sb.buf, ins, nnew * w, NULL,
                                          NULL, err);
    }
    for (size_t i = 0; i < nx; i++)
        tdo_value_release(&xv[i]);
    tdo_free(xv);
    tdo_free(ins);
    return st;
}

/* Links pk (of r->model) to each of targets through r, skipping pairs
 * that exist; extra through columns (a declared through model's fields,
 * by name) are set on the new rows. */
tdo_status tdo_m2m_add(tdo_conn *c, const tdo_relation *r, const tdo_value *pk,
                       const tdo_value *targets, size_t n,
                       const char *const *extra_cols,
                       const tdo_value *extra_vals, size_t nextra,
                       tdo_error *err)
{
    tdo_status st = check_rel(r, err);
    if (st || !n)
        return st;
    if (nextra && !r->through_model)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "through_defaults need a through model: the "
                             "through table '%s' of '%s' has no other "
                             "columns",
                             r->through, r->name);
    m2m_add_job j = {.c = c,
                     .r = r,
                     .d = tdo_conn_dialect(c),
                     .nextra = nextra,
                     .sb = TDO_SB_INIT};
    j.vals = tdo_calloc(1 + n, sizeof(*j.vals));
    j.xf = tdo_calloc(nextra ? nextra : 1, sizeof(*j.xf));
    j.have = tdo_calloc(n, sizeof(*j.have));
    if (!j.vals || !j.xf || !j.have)
        st = tdo_nomem(err);
    if (!st)
        st = add_keys(&j, pk, targets, n, err);
    if (!st)
        st = add_extra_fields(&j, extra_cols, err);
    if (!st)
        st = mark_existing(&j, err);
    if (!st)
        st = insert_missing(&j, extra_vals, err);
    release_all(j.vals, j.nvals);
    tdo_free(j.xf);
    tdo_free(j.have);
    tdo_sb_release(&j.sb);
    return st;
}

/* Unlinks pk (of r->model) from each of targets through r, or from every
 * target when n == 0 (clear). */
tdo_status tdo_m2m_remove(tdo_conn *c, const tdo_relation *r,
                          const tdo_value *pk, const tdo_value *targets,
                          size_t n, tdo_error *err)
{
    tdo_status st = check_rel(r, err);
    if (st)
        return st;
    const tdo_dialect *d = tdo_conn_dialect(c);
    tdo_value *vals = tdo_calloc(1 + n, sizeof(*vals));
    size_t nvals = 0, np = 0;
    tdo_sb sb = TDO_SB_INIT;
    if (!vals)
        return tdo_nomem(err);
    if ((st = coerce_pk(r->model, pk, &vals[0], err)))
        goto out;
    nvals = 1;
    for (size_t i = 0; i < n; i++) {
        if ((st = coerce_pk(r->target, &targets[i], &vals[1 + i], err)))
            goto out;
        nvals = 2 + i;
    }
    tdo_sb_adds(&sb, "DELETE FROM ");
    d->quote_ident(&sb, r->through);
    tdo_sb_adds(&sb, " WHERE ");
    in_list(&sb, d, r->source_column, 1, &np);
    if (n) {
        tdo_sb_adds(&sb, " AND ");
        in_list(&sb, d, r->target_column, n, &np);
    }
    if (sb.oom)
        st = tdo_nomem(err);
    else
        st = tdo_conn_execute(c, sb.buf, vals, nvals, NULL, NULL, err);
out:
    release_all(vals, nvals);
    tdo_sb_release(&sb);
    return st;
}

/* Appends the primary key values of the rows of q (copies) to *pks. */
static tdo_status collect_pks(tdo_conn *c, const tdo_query *q, tdo_value **pks,
                              size_t *n, tdo_error *err)
{
    const char *pkname = "pk";
    tdo_query *v = NULL;
    tdo_rows *rows = NULL;
    tdo_status st =
        tdo_query_values(q, TDO_PROJ_FLAT, &pkname, NULL, 1, &v, err);
    if (!st)
        st = tdo_query_run(c, v, &rows, err);
    bool has;
    while (!st && !(st = tdo_rows_next(rows, &has, err)) && has) {
        tdo_value val;
        if ((st = tdo_rows_get(rows, 0, &val, err)))
            break;
        tdo_value *p = tdo_realloc(*pks, (*n + 1) * sizeof(*p));
        if (!p) {
            st = tdo_nomem(err);
            break;
        }
        *pks = p;
        if (tdo_value_copy(&p[*n], &val)) {
            st = tdo_nomem(err);
            break;
        }
        (*n)++;
    }
    tdo_rows_free(rows);
    tdo_query_free(v);
    return st;
}

/* Emulates ON DELETE SET DEFAULT, which InnoDB accepts but refuses to
 * apply: before the rows of q (or, q NULL, the row pk of m) are deleted,
 * the FK columns that point at them with on_delete SET_DEFAULT get their
 * default.  Does nothing (no statement) when no relation asks for it. */
tdo_status tdo_delete_set_defaults_(tdo_conn *c, const tdo_model *m,
                                    const tdo_query *q, const tdo_value *pk,
                                    tdo_error *err)
{
    size_t nr = tdo_model_nrelations(m), want = 0;
    for (size_t i = 0; i < nr; i++) {
        const tdo_relation *r = tdo_model_relation(m, i);
        want +=
            (r->kind == TDO_REL_REVERSE_FK || r->kind == TDO_REL_REVERSE_O2O) &&
            r->field->on_delete == TDO_SET_DEFAULT;
    }
    if (!want)
        return TDO_OK;
    tdo_value *pks = NULL;
    size_t npk = 0;
    tdo_status st = TDO_OK;
    if (q) {
        st = collect_pks(c, q, &pks, &npk, err);
    } else if (pk) {
        if (!(pks = tdo_calloc(1, sizeof(*pks))))
            return tdo_nomem(err);
        if ((st = tdo_field_coerce(tdo_model_pk(m), pk, &pks[0], err)) == 0)
            npk = 1;
    }
    const tdo_dialect *d = tdo_conn_dialect(c);
    for (size_t i = 0; i < nr && !st && npk; i++) {
        const tdo_relation *r = tdo_model_relation(m, i);
        const tdo_field *f = r->field;
        if ((r->kind != TDO_REL_REVERSE_FK && r->kind != TDO_REL_REVERSE_O2O) ||
            f->on_delete != TDO_SET_DEFAULT)
            continue;
        tdo_value *params = tdo_calloc(npk + 1, sizeof(*params));
        if (!params) {
            st = tdo_nomem(err);
            break;
        }
        params[0] = (f->flags & TDO_FIELD_CONST_DEFAULT) ? f->default_value
                                                         : tdo_value_null();
        params[0].owned = false;
        for (size_t k = 0; k < npk; k++) {
            params[1 + k] = pks[k];
            params[1 + k].owned = false;
        }
        tdo_sb sb = TDO_SB_INIT;
        size_t np = 1;
        tdo_sb_adds(&sb, "UPDATE ");
        d->quote_ident(&sb, tdo_model_table(r->target));
        tdo_sb_adds(&sb, " SET ");
        d->quote_ident(&sb, f->column);
        tdo_sb_addc(&sb, '=');
        d->placeholder(&sb, 1);
        tdo_sb_adds(&sb, " WHERE ");
        in_list(&sb, d, f->column, npk, &np);
        st = sb.oom ? tdo_nomem(err)
                    : tdo_conn_execute(c, sb.buf, params, npk + 1, NULL, NULL,
                                       err);
        tdo_sb_release(&sb);
        tdo_free(params);
    }
    release_all(pks, npk);
    return st;
}
