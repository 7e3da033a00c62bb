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
    const tdo_dialect *d = tdo_conn_dialect(c);
    /* values: [0] = pk, [1..n] = targets (deduplicated), then extras */
    tdo_value *vals = tdo_calloc(1 + n + nextra, sizeof(*vals));
    const tdo_field **xf = tdo_calloc(nextra ? nextra : 1, sizeof(*xf));
    bool *have = tdo_calloc(n, sizeof(*have));
    tdo_sb sb = TDO_SB_INIT;
    tdo_rows *rows = NULL;
    size_t nt = 0, nvals = 0;
    if (!vals || !xf || !have) {
        st = tdo_nomem(err);
        goto out;
    }
    if ((st = coerce_pk(r->model, pk, &vals[0], err)))
        goto out;
    nvals = 1;
    for (size_t i = 0; i < n; i++) {
        tdo_value v;
        if ((st = coerce_pk(r->target, &targets[i], &v, err)))
            goto out;
        bool dup = false;
        for (size_t j = 0; j < nt && !dup; j++)
            dup = tdo_value_cmp(&vals[1 + j], &v) == 0;
        if (dup) {
            tdo_value_release(&v);
            continue;
        }
        vals[1 + nt++] = v;
        nvals = 1 + nt;
    }
    for (size_t i = 0; i < nextra; i++) {
        const tdo_field *f =
            tdo_model_field_by_name(r->through_model, extra_cols[i]);
        if (!f || f->type == TDO_F_M2M) {
            st = tdo_model_field_error(r->through_model, extra_cols[i], err);
            goto out;
        }
        xf[i] = f;
    }
    /* which pairs exist already */
    size_t np = 0;
    tdo_sb_adds(&sb, "SELECT ");
    d->quote_ident(&sb, r->target_column);
    tdo_sb_adds(&sb, " FROM ");
    d->quote_ident(&sb, r->through);
    tdo_sb_adds(&sb, " WHERE ");
    in_list(&sb, d, r->source_column, 1, &np);
    tdo_sb_adds(&sb, " AND ");
    in_list(&sb, d, r->target_column, nt, &np);
    if (sb.oom) {
        st = tdo_nomem(err);
        goto out;
    }
    if ((st = tdo_conn_execute(c, sb.buf, vals, 1 + nt, &rows, NULL, err)))
        goto out;
    bool has_row;
    while (!(st = tdo_rows_next(rows, &has_row, err)) && has_row) {
        tdo_value raw, v;
        if ((st = tdo_rows_get(rows, 0, &raw, err)))
            break;
        if ((st = tdo_field_coerce(tdo_model_pk(r->target), &raw, &v, err)))
            break;
        for (size_t j = 0; j < nt; j++)
            if (tdo_value_cmp(&vals[1 + j], &v) == 0)
                have[j] = true;
        tdo_value_release(&v);
    }
    tdo_rows_free(rows);
    rows = NULL;
    if (st)
        goto out;
    /* insert the missing pairs in one statement */
    size_t nnew = 0;
    for (size_t j = 0; j < nt; j++)
        nnew += !have[j];
    if (!nnew)
        goto out;
    tdo_value *ins = tdo_calloc(nnew * (2 + nextra), sizeof(*ins));
    tdo_value *xv = tdo_calloc(nextra ? nextra : 1, sizeof(*xv));
    if (!ins || !xv) {
        tdo_free(ins);
        tdo_free(xv);
        st = tdo_nomem(err);
        goto out;
    }
    size_t nx = 0;
    for (; nx < nextra && !st; nx++)
        st = tdo_field_coerce(xf[nx], &extra_vals[nx], &xv[nx], err);
    if (!st) {
        tdo_sb_reset(&sb);
        np = 0;
        tdo_sb_adds(&sb, "INSERT INTO ");
        d->quote_ident(&sb, r->through);
        tdo_sb_adds(&sb, " (");
        d->quote_ident(&sb, r->source_column);
        tdo_sb_adds(&sb, ",");
        d->quote_ident(&sb, r->target_column);
        for (size_t i = 0; i < nextra; i++) {
            tdo_sb_adds(&sb, ",");
            d->quote_ident(&sb, xf[i]->column);
        }
        tdo_sb_adds(&sb, ") VALUES ");
        size_t k = 0;
        for (size_t j = 0; j < nt; j++) {
            if (have[j])
                continue;
            tdo_sb_adds(&sb, k ? ",(" : "(");
            ins[k * (2 + nextra)] = vals[0];
            ins[k * (2 + nextra) + 1] = vals[1 + j];
            for (size_t i = 0; i < 2 + nextra; i++) {
                if (i)
                    tdo_sb_addc(&sb, ',');
                d->placeholder(&sb, ++np);
                if (i >= 2)
                    ins[k * (2 + nextra) + i] = xv[i - 2];
            }
            tdo_sb_addc(&sb, ')');
            k++;
        }
        for (size_t i = 0; i < nnew * (2 + nextra); i++)
            ins[i].owned = false; /* borrowed from vals and xv */
        if (sb.oom)
            st = tdo_nomem(err);
        else
            st = tdo_conn_execute(c, sb.buf, ins, nnew * (2 + nextra), NULL,
                                  NULL, err);
    }
    for (size_t i = 0; i < nx; i++)
        tdo_value_release(&xv[i]);
    tdo_free(xv);
    tdo_free(ins);
out:
    tdo_rows_free(rows);
    release_all(vals, nvals);
    tdo_free(xf);
    tdo_free(have);
    tdo_sb_release(&sb);
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
