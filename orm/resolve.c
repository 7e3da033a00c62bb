/*
 * resolve.c -- names to columns: lookup names, paths through relations
 * ("customer__email__icontains"), and the resolution of a filter tree for
 * a query -- each leaf names its field, lookup and coerced values, so name
 * errors surface when filter() is called and compile.c only walks the
 * tree.
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
    [TDO_LK_REGEX] = "regex",
    [TDO_LK_IREGEX] = "iregex",
    [TDO_LK_POSIX_REGEX] = "posix_regex",
    [TDO_LK_YEAR] = "year",
    [TDO_LK_QUARTER] = "quarter",
    [TDO_LK_MONTH] = "month",
    [TDO_LK_WEEK] = "week",
    [TDO_LK_DAY] = "day",
    [TDO_LK_HOUR] = "hour",
    [TDO_LK_MINUTE] = "minute",
    [TDO_LK_SECOND] = "second",
    [TDO_LK_CONTAINED_BY] = "contained_by",
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
tdo_path *tdo_path_new_(const tdo_relation *const *rels, size_t n)
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
/* Name resolution                                                     */
/* ------------------------------------------------------------------ */

/* A NUL-terminated copy of len bytes of s in buf (or a new string in
 * *tmp when it does not fit); NULL on out of memory. */
const char *tdo_part_str_(const char *s, size_t len, char *buf, size_t cap,
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
bool tdo_names_something_(const tdo_model *m, const char *name)
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

/* Whether part names the field r's own key holds on its target (the
 * primary key, "pk", or a to_field), so no join is needed to read it. */
static bool is_target_pk(const tdo_relation *r, const char *part)
{
    const tdo_field *pk = tdo_model_pk(r->target);
    const tdo_field *key = r->kind == TDO_REL_FK || r->kind == TDO_REL_O2O
                               ? tdo_field_key_target(r->field)
                               : pk;
    return (key == pk && !strcmp(part, "pk")) ||
           (key && !strcmp(part, key->name));
}

/* The column type an operand of arithmetic reads, or TDO_F_COUNT. */
static tdo_field_type operand_type(const tdo_expr *e)
{
    return e && e->kind == TDO_EXPR_FIELD && e->field ? e->field->type
                                                      : TDO_F_COUNT;
}

/* Arithmetic between a DecimalField and a FloatField column has no exact
 * result (Tortoise and Django refuse it): FieldError.  A decimal with an
 * integer column stays an exact decimal, and is allowed. */
static tdo_status check_mixed(const tdo_expr *r, tdo_error *err)
{
    tdo_field_type a = operand_type(r->a), b = operand_type(r->b);
    if ((a == TDO_F_DECIMAL && b == TDO_F_FLOAT) ||
        (a == TDO_F_FLOAT && b == TDO_F_DECIMAL))
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "Cannot use arithmetic expression between "
                             "different field type: %s %c %s (a decimal and "
                             "a float have no exact result)",
                             r->a->field->name, r->op, r->b->field->name);
    return TDO_OK;
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
    const char *part = tdo_part_str_(p, len, buf, sizeof(buf), &tmp);
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
 * its target's primary key through it (reverse, m2m: r joins rels; the
 * target's foreign key when it has no one-column key). */
static const tdo_field *relation_end(const tdo_relation *r,
                                     const tdo_relation **rels, size_t *n)
{
    if (r->kind == TDO_REL_FK || r->kind == TDO_REL_O2O)
        return r->field;
    rels[(*n)++] = r;
    const tdo_field *pk = tdo_model_pk(r->target);
    /* a target without a one-column key: its foreign key, set on every
     * row the join finds */
    if (!pk && r->kind != TDO_REL_M2M && r->kind != TDO_REL_REVERSE_M2M)
        return r->field;
    return pk;
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
    const char *part = tdo_part_str_(next, len, buf, sizeof(buf), &tmp);
    if (!part)
        return tdo_nomem(err);
    *pk = is_target_pk(r, part);
    *named = tdo_names_something_(r->target, part);
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
    if (n && !(*path = tdo_path_new_(rels, n)))
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

/* Whether lk compares text (its value is text, it suits text fields). */
static bool text_lookup(tdo_lookup lk)
{
    switch (lk) {
    case TDO_LK_IEXACT:
    case TDO_LK_CONTAINS:
    case TDO_LK_ICONTAINS:
    case TDO_LK_STARTSWITH:
    case TDO_LK_ISTARTSWITH:
    case TDO_LK_ENDSWITH:
    case TDO_LK_IENDSWITH:
    case TDO_LK_REGEX:
    case TDO_LK_IREGEX:
    case TDO_LK_POSIX_REGEX:
        return true;
    default:
        return false;
    }
}

/* Whether lookup lk suits f's type (see tdo_field_lookups()). */
static bool lookup_suits(const tdo_field *f, tdo_lookup lk)
{
    if (TDO_LK_IS_DATE_PART(lk))
        return date_part_applies(f, lk);
    if (f->type == TDO_F_JSON) /* containment, either way, and equality */
        return lk == TDO_LK_CONTAINS || lk == TDO_LK_CONTAINED_BY ||
               lk == TDO_LK_EXACT || lk == TDO_LK_NOT || lk == TDO_LK_ISNULL ||
               lk == TDO_LK_NOT_ISNULL;
    if (lk == TDO_LK_CONTAINED_BY)
        return false;
    bool text = false, ordered = false;
    switch (f->type) {
    case TDO_F_CHAR:
    case TDO_F_TEXT:
    case TDO_F_CHARENUM:
        text = ordered = true;
        break;
    case TDO_F_INT:
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
    case TDO_F_FLOAT:
    case TDO_F_DECIMAL:
    case TDO_F_INTENUM:
    case TDO_F_DATETIME:
    case TDO_F_DATE:
    case TDO_F_TIME:
    case TDO_F_TIMEDELTA:
    case TDO_F_UUID:
    case TDO_F_FK:
    case TDO_F_O2O:
        ordered = true;
        break;
    default:
        break;
    }
    if (text_lookup(lk))
        return text;
    switch (lk) {
    case TDO_LK_GT:
    case TDO_LK_GTE:
    case TDO_LK_LT:
    case TDO_LK_LTE:
    case TDO_LK_RANGE:
        return ordered;
    default:
        return true;
    }
}

size_t tdo_field_lookups(const tdo_field *f, const char **out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; f && i < TDO_LK_COUNT; i++)
        if (lookup_suits(f, (tdo_lookup)i) && n < cap)
            out[n++] = lookup_names[i];
    return n;
}

static tdo_status unknown_lookup(const tdo_field *f, const char *lk,
                                 tdo_error *err)
{
    tdo_sb sb = TDO_SB_INIT;
    for (int i = 0; i < TDO_LK_COUNT; i++) {
        if (TDO_LK_IS_DATE_PART(i) && !date_part_applies(f, (tdo_lookup)i))
            continue; /* only the parts the field has */
        if (i == TDO_LK_CONTAINED_BY && (!f || f->type != TDO_F_JSON))
            continue; /* JSONField only */
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
size_t tdo_find_annot_(const tdo_query *q, const char *name, size_t len)
{
    for (size_t i = 0; q && i < q->nannots; i++)
        if (strlen(q->annots[i].name) == len &&
            !memcmp(q->annots[i].name, name, len))
            return i + 1;
    return 0;
}

/* Resolves a reference (no lookup) of q: an annotation name or a path. */
tdo_status tdo_resolve_ref_(const tdo_query *q, const char *name,
                            tdo_path **path, const tdo_field **field,
                            size_t *annot, tdo_error *err)
{
    *path = NULL;
    *field = NULL;
    *annot = tdo_find_annot_(q, name, strlen(name));
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
    if (out->lookup == TDO_LK_CONTAINED_BY &&
        (!out->field || out->field->type != TDO_F_JSON)) {
        tdo_path_free(out->path);
        out->path = NULL;
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "lookup '%s' needs a JSONField ('%s' is not one)",
                             key, out->field ? out->field->name : key);
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

/* Returns in *out a resolved copy of e for q (field references bound to
 * columns through relations, or to annotations); *agg is set when it
 * holds an aggregate (directly or through an annotation). */
tdo_status tdo_resolve_expr_(const tdo_query *q, tdo_expr *e, tdo_expr **out,
                             bool *agg, tdo_error *err)
{
    tdo_status st = TDO_OK;
    *out = NULL;
    tdo_expr *r = tdo_expr_alloc_(e->kind);
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
        st = tdo_resolve_ref_(q, e->name, &r->path, &r->field, &r->annot, err);
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
        if (!(st = tdo_resolve_expr_(q, e->a, &r->a, agg, err)))
            st = tdo_resolve_expr_(q, e->b, &r->b, agg, err);
        if (!st)
            st = check_mixed(r, err);
        break;
    case TDO_EXPR_NEG:
        st = tdo_resolve_expr_(q, e->a, &r->a, agg, err);
        break;
    case TDO_EXPR_FUNC: {
        bool inner = false;
        r->fn = e->fn;
        r->distinct = e->distinct;
        if (tdo_func_is_aggregate_(e->fn))
            *agg = true;
        if (e->nargs && !(r->args = tdo_calloc(e->nargs, sizeof(*r->args)))) {
            st = tdo_nomem(err);
            break;
        }
        for (size_t i = 0; i < e->nargs && !st; i++) {
            st = tdo_resolve_expr_(q, e->args[i], &r->args[i], &inner, err);
            if (!st)
                r->nargs = i + 1;
        }
        if (!st && inner && tdo_func_is_aggregate_(e->fn))
            st = tdo_error_set(err, TDO_ERR_FIELD,
                               "aggregate %s() cannot contain another "
                               "aggregate",
                               tdo_func_name_(e->fn));
        if (inner)
            *agg = true;
        if (!st && e->filter) {
            bool fagg = false;
            st = tdo_resolve_filter_(q, e->filter, &r->filter, &fagg, err);
        }
        break;
    }
    case TDO_EXPR_SUBQUERY:
        if (!(r->sub = tdo_query_copy_(e->sub)))
            st = tdo_nomem(err);
        break;
    case TDO_EXPR_CASE:
        if (!(r->args = tdo_calloc(e->nargs, sizeof(*r->args))) ||
            !(r->conds = tdo_calloc(e->nargs, sizeof(*r->conds)))) {
            st = tdo_nomem(err);
            break;
        }
        for (size_t i = 0; i < e->nargs && !st; i++) {
            st = tdo_resolve_filter_(q, e->conds[i], &r->conds[i], agg, err);
            if (!st)
                st = tdo_resolve_expr_(q, e->args[i], &r->args[i], agg, err);
            r->nargs = i + 1;
        }
        if (!st && e->a)
            st = tdo_resolve_expr_(q, e->a, &r->a, agg, err);
        break;
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
    if (lk == TDO_LK_ISNULL || lk == TDO_LK_NOT_ISNULL) {
        tmp = tdo_field_scratch_(f->name, TDO_F_BOOL);
        as = &tmp;
    } else if (f->type == TDO_F_JSON &&
               (lk == TDO_LK_CONTAINS || lk == TDO_LK_CONTAINED_BY)) {
        as = f; /* a JSON value */
    } else if (text_lookup(lk)) {
        tmp = tdo_field_scratch_(f->name, TDO_F_TEXT);
        tmp.flags |= TDO_FIELD_NULL;
        as = &tmp;
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

/* A data__filter leaf: n compares the JSON value at n->jpath of a
 * JSONField; r gets the path and n's values as given (each backend
 * compares them in its own JSON terms, compile.c). */
static tdo_status json_path_leaf(const tdo_qnode *n, const leafkey *k,
                                 tdo_qnode *r, tdo_error *err)
{
    if (!k->field || k->field->type != TDO_F_JSON)
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "'%s': filter takes a JSONField", n->key);
    switch (k->lookup) {
    case TDO_LK_EXACT:
    case TDO_LK_NOT:
    case TDO_LK_IN:
    case TDO_LK_NOT_IN:
    case TDO_LK_GT:
    case TDO_LK_GTE:
    case TDO_LK_LT:
    case TDO_LK_LTE:
    case TDO_LK_ISNULL:
    case TDO_LK_NOT_ISNULL:
        break;
    default:
        return tdo_error_set(err, TDO_ERR_FIELD,
                             "lookup '%s' cannot follow a JSON path (filter "
                             "takes exact, not, in, not_in, gt, gte, lt, "
                             "lte, isnull, not_isnull)",
                             tdo_lookup_name(k->lookup));
    }
    tdo_status st = leaf_arity(k->lookup, n->nvals, n->key, err);
    if (st)
        return st;
    r->jpath = tdo_calloc(n->njpath ? n->njpath : 1, sizeof(char *));
    r->vals = tdo_calloc(n->nvals ? n->nvals : 1, sizeof(tdo_value));
    if (!r->jpath || !r->vals)
        return tdo_nomem(err);
    for (size_t i = 0; i < n->njpath; i++, r->njpath++)
        if (!(r->jpath[i] = tdo_strdup(n->jpath[i])))
            return tdo_nomem(err);
    for (size_t i = 0; i < n->nvals; i++, r->nvals++)
        if (tdo_value_copy(&r->vals[i], &n->vals[i]))
            return tdo_nomem(err);
    return TDO_OK;
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
    if (n->jpath && (st = json_path_leaf(n, &k, r, err))) {
        tdo_qnode_free(r);
        return st;
    }
    if (n->jpath) {
        *out = r;
        return TDO_OK;
    }
    if (n->expr) {
        switch (k.lookup) {
        case TDO_LK_EXACT:
        case TDO_LK_NOT:
        case TDO_LK_GT:
        case TDO_LK_GTE:
        case TDO_LK_LT:
        case TDO_LK_LTE:
            break;
        case TDO_LK_IN:
        case TDO_LK_NOT_IN:
            if (n->expr->kind == TDO_EXPR_SUBQUERY)
                break; /* IN (SELECT ...) */
            /* fall through */
        default:
            tdo_qnode_free(r);
            return tdo_error_set(err, TDO_ERR_PARAMS,
                                 "lookup '%s' does not take an expression",
                                 n->key);
        }
        if ((st = tdo_resolve_expr_(q, n->expr, &r->expr, agg, err))) {
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
        const tdo_value *src = n->vals;
        size_t stride = 1;
        const tdo_field *key = k.field && !TDO_LK_IS_DATE_PART(k.lookup)
                                   ? tdo_field_key_target(k.field)
                                   : NULL;
        if (n->inst_model && key && k.field->to_target &&
            k.field->related_model == n->inst_model) {
            /* instances given to a relation with a to_field: compare
             * their value of it */
            size_t a = 0;
            for (size_t j = 0; j < key->index; j++)
                if (tdo_field_is_alt_key(n->inst_model->fields[j]))
                    a++;
            if (a < n->nalt && tdo_field_is_alt_key(key)) {
                src = n->alts + a;
                stride = n->nalt;
            }
        }
        for (size_t i = 0; i < n->nvals; i++) {
            st = coerce_value(k.field, k.lookup, &src[i * stride], &r->vals[i],
                              err);
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
tdo_status tdo_resolve_filter_(const tdo_query *q, const tdo_qnode *n,
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
        if ((st = tdo_resolve_filter_(q, n->a, &a, agg, err)) || !a)
            return st;
        if (!(*out = tdo_q_not(a)))
            return tdo_nomem(err);
        return TDO_OK;
    case TDO_Q_AND:
    case TDO_Q_OR:
        if ((st = tdo_resolve_filter_(q, n->a, &a, agg, err)))
            return st;
        if ((st = tdo_resolve_filter_(q, n->b, &b, agg, err))) {
            tdo_qnode_free(a);
            return st;
        }
        if (!a || !b) {
            *out = a ? a : b;
            return TDO_OK;
        }
        if (!(*out = tdo_q_binary_(n->kind, a, b)))
            return tdo_nomem(err);
        return TDO_OK;
    }
    return TDO_OK;
}
