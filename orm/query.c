/*
 * query.c -- immutable querysets: every chaining method (filter, order_by,
 * values, annotate, select_related ...) returns a new query sharing the
 * resolved trees of the old one.
 */
#include "tdo_int.h"

#include <stdio.h>
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
    if (tdo_field_is_fk_(f))
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
    /* every query of m starts from the same projection of its columns:
     * made once, shared (projections are never changed once made) */
    if (!m->all_proj)
        m->all_proj = proj_all(q, TDO_PROJ_INSTANCES);
    if (!(q->proj = m->all_proj)) {
        tdo_free(q);
        return NULL;
    }
    q->proj->refs++;
    return q;
}

/* Returns the row limit of q, or -1 without one. */
int64_t tdo_query_get_limit(const tdo_query *q)
{
    return q->limit;
}

/* Lets go of what m keeps compiled (model.c): the projection of its new
 * queries and its statements by shape. */
void tdo_model_free_proj_(tdo_model *m)
{
    proj_free(m->all_proj);
    m->all_proj = NULL;
    tdo_model_free_shapes_(m);
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
    terms_free(q->dist, q->ndist);
    for (size_t i = 0; i < q->nlock_of; i++)
        tdo_path_free(q->lock_of[i]);
    tdo_free(q->lock_of);
    for (size_t i = 0; i < q->nunions; i++)
        tdo_query_free(q->unions[i].q);
    tdo_free(q->unions);
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
    c->dist = terms_dup(q->dist, q->ndist);
    c->annots = q->nannots ? tdo_calloc(q->nannots, sizeof(*c->annots)) : NULL;
    c->related =
        q->nrelated ? tdo_calloc(q->nrelated, sizeof(*c->related)) : NULL;
    c->only = q->only ? tdo_malloc((q->nonly ? q->nonly : 1) * sizeof(*c->only))
                      : NULL;
    if (c->only && q->nonly)
        memcpy(c->only, q->only, q->nonly * sizeof(*c->only));
    bool ok = (c->order || !q->norder) && (c->group || !q->ngroup) &&
              (c->dist || !q->ndist) && (c->annots || !q->nannots) &&
              (c->related || !q->nrelated) && (c->only || !q->only);
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
        terms_free(c->dist, c->dist ? q->ndist : 0);
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
    c->unions = NULL;
    c->nunions = 0;
    c->lock_of = NULL;
    c->nlock_of = 0;
    if (q->nlock_of &&
        !(c->lock_of = tdo_calloc(q->nlock_of, sizeof(*c->lock_of)))) {
        tdo_query_free(c);
        return NULL;
    }
    for (size_t i = 0; i < q->nlock_of; i++)
        c->lock_of[c->nlock_of++] = tdo_path_ref(q->lock_of[i]);
    if (q->nunions &&
        !(c->unions = tdo_calloc(q->nunions, sizeof(*c->unions)))) {
        tdo_query_free(c);
        return NULL;
    }
    for (size_t i = 0; i < q->nunions; i++) {
        if (!(c->unions[i].q = query_clone(q->unions[i].q))) {
            tdo_query_free(c);
            return NULL;
        }
        c->unions[i].all = q->unions[i].all;
        c->nunions = i + 1;
    }
    return c;
}

/* ParamsError when q is a union(): only order_by, limit, offset and
 * the terminal methods apply to one. */
static tdo_status no_union(const tdo_query *q, const char *what, tdo_error *err)
{
    if (!q->nunions)
        return TDO_OK;
    return tdo_error_set(err, TDO_ERR_PARAMS,
                         "%s() after union() is not supported: only "
                         "order_by, limit, offset and values apply to the "
                         "combined rows (call %s() on each queryset before "
                         "union())",
                         what, what);
}

/* A new query: the rows of q and then of other (UNION ALL when all,
 * else UNION: duplicates removed); see testudo.h. */
tdo_status tdo_query_union(const tdo_query *q, const tdo_query *other, bool all,
                           tdo_query **out, tdo_error *err)
{
    *out = NULL;
    if (q->limit >= 0 || q->offset > 0 || other->limit >= 0 ||
        other->offset > 0)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "union() of a sliced queryset: slice the "
                             "combined rows instead");
    if (q->lock != TDO_LOCK_NONE || other->lock != TDO_LOCK_NONE)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "union() cannot lock rows (select_for_update)");
    size_t nq = tdo_query_ncolumns(q), no = tdo_query_ncolumns(other);
    if (nq != no)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "union() of querysets with different columns: "
                             "%zu and %zu (use values() to pick the same)",
                             nq, no);
    tdo_query *c = query_clone(q);
    tdo_union_part *u =
        c ? tdo_realloc(c->unions,
                        (c->nunions + 1 + other->nunions) * sizeof(*u))
          : NULL;
    if (!u) {
        tdo_query_free(c);
        return tdo_nomem(err);
    }
    c->unions = u;
    /* other's own union parts follow it, flattened */
    tdo_query *first = query_clone(other);
    if (first) {
        for (size_t i = 0; i < first->nunions; i++) {
            u[c->nunions + 1 + i] = first->unions[i];
            first->unions[i].q = NULL;
        }
        size_t n = first->nunions;
        tdo_free(first->unions);
        first->unions = NULL;
        first->nunions = 0;
        u[c->nunions] = (tdo_union_part){first, all};
        c->nunions += 1 + n;
        /* the combined rows are ordered only by an order_by after it */
        terms_free(c->order, c->norder);
        c->order = NULL;
        c->norder = 0;
    } else {
        tdo_query_free(c);
        return tdo_nomem(err);
    }
    *out = c;
    return TDO_OK;
}

tdo_query *tdo_query_copy_(const tdo_query *q)
{
    return query_clone(q);
}

static tdo_status add_filter(const tdo_query *q, const tdo_qnode *cond,
                             bool negate, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    /* all() (an empty filter) copies a union() */
    tdo_status nu = cond && cond->kind == TDO_Q_EMPTY
                        ? TDO_OK
                        : no_union(q, negate ? "exclude" : "filter", err);
    if (nu)
        return nu;
    tdo_qnode *r;
    bool agg = false;
    tdo_status st = tdo_resolve_filter_(q, cond, &r, &agg, err);
    if (st)
        return st;
    int rd = tdo_qnode_depth(r) + (negate ? 1 : 0);
    int nd = q->where ? 1 + tdo_max_depth_(tdo_qnode_depth(q->where), rd) : rd;
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
            tdo_resolve_ref_(q, k, &t[i].path, &t[i].field, &t[i].annot, err);
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
    tdo_status nu = no_union(q, "group_by", err);
    if (nu)
        return nu;
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
    tdo_status nu = no_union(q, "distinct", err);
    if (nu)
        return nu;
    tdo_query *c = query_clone(q);
    if (!c)
        return tdo_nomem(err);
    c->distinct = true;
    terms_free(c->dist, c->ndist);
    c->dist = NULL;
    c->ndist = 0;
    *out = c;
    return TDO_OK;
}

/* A new query keeping one row per value of the n keys (see header). */
tdo_status tdo_query_distinct_on(const tdo_query *q, const char *const *keys,
                                 size_t n, tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_status nu = no_union(q, "distinct", err);
    if (nu)
        return nu;
    if (n == 0)
        return tdo_query_distinct(q, out, err);
    if (!tdo_model_pk(q->model))
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "distinct(fields) on model '%s' needs a "
                             "one-column primary key",
                             tdo_model_name(q->model));
    tdo_order *dist;
    tdo_status st = make_terms(q, keys, n, false, &dist, err);
    if (st)
        return st;
    tdo_query *c = query_clone(q);
    if (!c) {
        terms_free(dist, n);
        return tdo_nomem(err);
    }
    terms_free(c->dist, c->ndist);
    c->dist = dist;
    c->ndist = n;
    c->distinct = false;
    *out = c;
    return TDO_OK;
}

/* A new query whose rows are locked for update (see header). */
tdo_status tdo_query_for_update(const tdo_query *q, tdo_lock lock,
                                tdo_query **out, tdo_error *err)
{
    *out = NULL;
    tdo_status nu = no_union(q, "select_for_update", err);
    if (nu)
        return nu;
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

/* Whether path p spells key ("customer__address"). */
static bool path_is(const tdo_path *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++) {
        size_t len = strlen(p->rels[i]->name);
        if (i && strncmp(key, "__", 2) == 0)
            key += 2;
        else if (i)
            return false;
        if (strncmp(key, p->rels[i]->name, len))
            return false;
        key += len;
    }
    return *key == '\0';
}

/* A new query locking the rows of the tables of of only (see header). */
tdo_status tdo_query_lock_of(const tdo_query *q, const char *const *of,
                             size_t n, bool no_key, tdo_query **out,
                             tdo_error *err)
{
    *out = NULL;
    tdo_query *c = query_clone(q);
    tdo_path **paths = c ? tdo_calloc(n ? n : 1, sizeof(*paths)) : NULL;
    if (!paths) {
        tdo_query_free(c);
        return tdo_nomem(err);
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = of[i] ? of[i] : "";
        const tdo_path *found = NULL;
        for (size_t j = 0; j < q->nrelated && !found; j++)
            if (path_is(q->related[j], key))
                found = q->related[j];
        if (!found && strcmp(key, "self")) {
            tdo_free(paths);
            tdo_query_free(c);
            return tdo_error_set(err, TDO_ERR_FIELD,
                                 "select_for_update of: '%s' is neither "
                                 "'self' nor a relation the query "
                                 "select_related()s",
                                 key);
        }
        paths[i] = tdo_path_ref((tdo_path *)found);
    }
    for (size_t i = 0; i < c->nlock_of; i++)
        tdo_path_free(c->lock_of[i]);
    tdo_free(c->lock_of);
    c->lock_of = paths;
    c->nlock_of = n;
    c->lock_no_key = no_key;
    *out = c;
    return TDO_OK;
}

/* A new query with projection kind over the named fields (see header):
 * names may be paths ("customer__email") or annotation names. */
static tdo_status values_of(const tdo_query *q, tdo_projection kind,
                            const char *const *names,
                            const char *const *aliases, size_t n,
                            tdo_query **out, tdo_error *err);

tdo_status tdo_query_values(const tdo_query *q, tdo_projection kind,
                            const char *const *names,
                            const char *const *aliases, size_t n,
                            tdo_query **out, tdo_error *err)
{
    tdo_status st = values_of(q, kind, names, aliases, n, out, err);
    if (st || !q->nunions)
        return st;
    /* a union(): the parts still returning instances take the same
     * columns (as Django does); each must end up with as many */
    tdo_query *c = *out;
    for (size_t i = 0; i < c->nunions && !st; i++) {
        tdo_query *part = c->unions[i].q, *np = NULL;
        if (part->proj->kind == TDO_PROJ_INSTANCES) {
            if ((st = values_of(part, kind, names, aliases, n, &np, err)))
                break;
            tdo_query_free(part);
            c->unions[i].q = part = np;
        }
        if (tdo_query_ncolumns(part) != tdo_query_ncolumns(c))
            st = tdo_error_set(err, TDO_ERR_PARAMS,
                               "union() of querysets with different "
                               "columns: %zu and %zu",
                               tdo_query_ncolumns(c), tdo_query_ncolumns(part));
    }
    if (st) {
        tdo_query_free(c);
        *out = NULL;
    }
    return st;
}

/* tdo_query_values() of one query (a union's parts not included). */
static tdo_status values_of(const tdo_query *q, tdo_projection kind,
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
            tdo_status st = tdo_resolve_ref_(q, name, &p->paths[i],
                                             &p->fields[i], &p->annots[i], err);
            if (st) {
                proj_free(p);
                return st;
            }
            if (p->annots[i])
                p->fields[i] = q->annots[p->annots[i] - 1].field;
            const char *alias = aliases && aliases[i] ? aliases[i] : name;
            /* values(): each key once (values_list's columns are
             * positional: a name may repeat) */
            for (size_t j = 0; kind == TDO_PROJ_VALUES && j < i; j++)
                if (!strcmp(p->names[j], alias)) {
                    proj_free(p);
                    return tdo_error_set(err, TDO_ERR_FIELD, "Duplicate key %s",
                                         alias);
                }
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
    tdo_status nu = no_union(q, "only", err);
    if (nu)
        return nu;
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

static bool is_int_field(const tdo_field *f)
{
    tdo_type t = f ? tdo_field_value_type(f) : TDO_NULL;
    return t == TDO_INT;
}

/* Whether e is an integer: an integer column or value, or + - * of
 * them. */
static bool int_expr(const tdo_expr *e)
{
    switch (e ? e->kind : TDO_EXPR_RAW) {
    case TDO_EXPR_FIELD:
        return is_int_field(e->field);
    case TDO_EXPR_VALUE:
        return e->val.type == TDO_INT;
    case TDO_EXPR_NEG:
        return int_expr(e->a);
    case TDO_EXPR_BINOP:
        return strchr("+-*", e->op) && int_expr(e->a) && int_expr(e->b);
    default:
        return false;
    }
}

/* What an average of integers or floats decodes as, on every backend (a
 * float; PostgreSQL and MySQL send numerics). */
static const tdo_field avg_float = {.name = (char *)"avg",
                                    .column = (char *)"avg",
                                    .type = TDO_F_FLOAT,
                                    .flags = TDO_FIELD_NULL};

/* The field an annotation decodes as: Min/Max/Sum/Coalesce of a column
 * (and Avg of a decimal) decode as that column, Avg of other numbers as
 * a float; others raw. */
static const tdo_field *annot_field(const tdo_expr *e)
{
    if (e->kind == TDO_EXPR_FIELD)
        return e->field;
    if (e->kind == TDO_EXPR_BINOP || e->kind == TDO_EXPR_NEG) {
        /* arithmetic on a decimal column stays decimal, in its places
         * (Tortoise: the operands' field), on every backend; + - * of
         * integers an integer (MySQL would send a DECIMAL) */
        const tdo_field *a = annot_field(e->a);
        const tdo_field *b =
            e->kind == TDO_EXPR_BINOP ? annot_field(e->b) : NULL;
        if (e->op == '^' || e->op == '%')
            return NULL;
        if (a && a->type == TDO_F_DECIMAL)
            return a;
        if (b && b->type == TDO_F_DECIMAL)
            return b;
        if (int_expr(e))
            return is_int_field(a) ? a : is_int_field(b) ? b : NULL;
        return NULL;
    }
    if (e->kind == TDO_EXPR_SUBQUERY) /* decodes as its one column */
        return e->sub->proj->n == 1 && !e->sub->proj->annots[0]
                   ? e->sub->proj->fields[0]
                   : NULL;
    if (e->kind != TDO_EXPR_FUNC || !e->nargs)
        return NULL;
    const tdo_field *f = annot_field(e->args[0]);
    if (!f)
        return e->fn == TDO_FN_AVG && int_expr(e->args[0]) ? &avg_float : NULL;
    switch (e->fn) {
    case TDO_FN_MIN:
    case TDO_FN_MAX:
    case TDO_FN_SUM:
    case TDO_FN_COALESCE:
        return f;
    case TDO_FN_AVG: {
        tdo_type t = tdo_field_value_type(f);
        return f->type == TDO_F_DECIMAL          ? f
               : t == TDO_INT || t == TDO_DOUBLE ? &avg_float
                                                 : NULL;
    }
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
    tdo_status nu = no_union(q, "annotate", err);
    if (nu)
        return nu;
    if (!name || !*name || !e)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "annotate() needs a name and an expression");
    /* a RawSQL annotation may take a field's name (it wins, as in
     * Tortoise: values("id") reads it); other expressions may not */
    if ((tdo_names_something_(q->model, name) && e->kind != TDO_EXPR_RAW) ||
        tdo_find_annot_(q, name, strlen(name)))
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "annotation '%s' conflicts with a field or an "
                             "annotation of model '%s'",
                             name, tdo_model_name(q->model));
    tdo_expr *r;
    bool agg = false;
    tdo_status st = tdo_resolve_expr_(q, (tdo_expr *)e, &r, &agg, err);
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
    tdo_status nu = no_union(q, "select_related", err);
    if (nu)
        return nu;
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
            const char *part = tdo_part_str_(p, len, buf, sizeof(buf), &tmp);
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
                tdo_path *np = tdo_path_new_(rels, nr);
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

/* Whether q is grouped or a union (see header). */
bool tdo_query_is_combined(const tdo_query *q)
{
    return q->ngroup || q->nunions;
}
