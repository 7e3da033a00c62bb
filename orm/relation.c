/*
 * relation.c -- the relations of the registry, built when it is resolved:
 * the forward FK/O2O/M2M attributes of each model and the reverse sides
 * the registry adds to their targets, with Tortoise's default names, the
 * many-to-many through tables and their columns.
 *
 * Relation objects stay at the same address across resolves when they do
 * not change (querysets and the bindings hold pointers to them); those a
 * later resolve drops are kept, retired, until the model is freed.
 */
#include "tdo_int.h"

#include <stdarg.h>
#include <stdio.h>

#include <ctype.h>

static bool push(tdo_relation ***arr, size_t *n, tdo_relation *r)
{
    tdo_relation **p = tdo_realloc(*arr, (*n + 1) * sizeof(**arr));
    if (!p)
        return false;
    p[(*n)++] = r;
    *arr = p;
    return true;
}

/* Frees one relation and its strings. */
static void rel_free(tdo_relation *r)
{
    if (!r)
        return;
    tdo_free((char *)r->name);
    tdo_free((char *)r->through);
    tdo_free((char *)r->source_column);
    tdo_free((char *)r->target_column);
    tdo_free(r);
}

/* Frees the relations (live and retired) of m. */
void tdo_model_free_relations_(tdo_model *m)
{
    for (size_t i = 0; i < m->nrelations; i++)
        rel_free(m->relations[i]);
    for (size_t i = 0; i < m->nretired; i++)
        rel_free(m->retired[i]);
    tdo_free(m->relations);
    tdo_free(m->retired);
    m->relations = m->retired = NULL;
    m->nrelations = m->nretired = 0;
}

static tdo_relation *rel_new(const char *name, tdo_rel_kind kind, tdo_model *m,
                             tdo_model *target, const tdo_field *f)
{
    tdo_relation *r = tdo_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kind = kind;
    r->model = m;
    r->target = target;
    r->field = f;
    if (!(r->name = tdo_strdup(name))) {
        tdo_free(r);
        return NULL;
    }
    return r;
}

static char *lower_dup(const char *s)
{
    char *d = tdo_strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static char *join2(const char *a, const char *sep, const char *b)
{
    tdo_sb sb = TDO_SB_INIT;
    tdo_sb_adds(&sb, a);
    tdo_sb_adds(&sb, sep);
    tdo_sb_adds(&sb, b);
    return tdo_sb_detach(&sb);
}

/* The declared through model of an m2m field (through names a live,
 * non-abstract model), or NULL: through is a table name. */
tdo_model *tdo_field_through_model_(const tdo_field *f)
{
    if (f->type != TDO_F_M2M || !f->through || !*f->through || !f->model)
        return NULL;
    const tdo_ctx *ctx = f->model->ctx;
    tdo_model *t = tdo_model_lookup_ref_(ctx, f->model, f->through);
    if (t && !t->abstract && !t->detached)
        return t;
    /* Tortoise names the through table: a model with that table is the
     * through model */
    for (size_t i = 0; i < ctx->nmodels; i++) {
        t = ctx->models[i];
        if (!t->abstract && !strcmp(t->table, f->through))
            return t;
    }
    return NULL;
}

/* The FK of through model t pointing at target, named key (attribute or
 * column) when key is set; skip: a field not to pick. */
static const tdo_field *through_fk(const tdo_model *t, const tdo_model *target,
                                   const char *key, const tdo_field *skip)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const tdo_field *f = t->fields[i];
        if ((f->type != TDO_F_FK && f->type != TDO_F_O2O) || f == skip)
            continue;
        if (key && *key) {
            if (!strcmp(f->name, key) || !strcmp(f->column, key))
                return f;
        } else if (f->related_model == target) {
            return f;
        }
    }
    return NULL;
}

/* Whether name is taken as a through table among the auto tables made so
 * far (names[0..n)) or as the table of a live model. */
static bool table_taken(const tdo_ctx *ctx, char *const *names, size_t n,
                        const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    for (size_t i = 0; i < ctx->nmodels; i++)
        if (!ctx->models[i]->abstract && !strcmp(ctx->models[i]->table, name))
            return true;
    return false;
}

/* Appends one relation problem to msg ("; "-separated) and counts it. */
static void problem(tdo_sb *msg, size_t *nbad, const char *fmt, ...)
    TDO_PRINTF(3, 4);

static void problem(tdo_sb *msg, size_t *nbad, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tdo_sb_addf(msg, "%s%s", *nbad ? "; " : "", buf);
    (*nbad)++;
}

/* r goes through the declared model tm: its foreign keys to r's model
 * (backward_key) and target (forward_key) are the columns. */
static tdo_status through_model_setup(tdo_relation *r, tdo_model *tm,
                                      tdo_sb *msg, size_t *nbad)
{
    const tdo_field *f = r->field;
    const tdo_field *src = through_fk(tm, r->model, f->backward_key, NULL);
    const tdo_field *dst = through_fk(tm, r->target, f->forward_key, src);
    if (!src || !dst || src == dst) {
        problem(msg, nbad,
                "ManyToManyField '%s' on model '%s': through model '%s' "
                "needs a foreign key to '%s' and one to '%s'",
                f->name, r->model->name, tm->name, r->model->name,
                r->target->name);
        return TDO_OK;
    }
    r->through_model = tm;
    r->through = tdo_strdup(tm->table);
    r->source_column = tdo_strdup(src->column);
    r->target_column = tdo_strdup(dst->column);
    if (!r->through || !r->source_column || !r->target_column)
        return TDO_ERR_NOMEM;
    return TDO_OK;
}

/* Tortoise's keys: forward_key "<target model name lower>_id",
 * backward_key "<table>_id" (or "<table>_rel_id" when equal); NULL when
 * out of memory. */
static void default_keys(const tdo_field *f, const tdo_model *m, char **fwd,
                         char **bwd)
{
    const char *ref = f->related_ref;
    const char *dot = strrchr(ref, '.');
    char *tname = lower_dup(dot ? dot + 1 : ref);
    *fwd = f->forward_key && *f->forward_key ? tdo_strdup(f->forward_key)
           : tname                           ? join2(tname, "", "_id")
                                             : NULL;
    tdo_free(tname);
    if (f->backward_key && *f->backward_key) {
        *bwd = tdo_strdup(f->backward_key);
        return;
    }
    *bwd = join2(m->table, "", "_id");
    if (*bwd && *fwd && !strcmp(*bwd, *fwd)) {
        tdo_free(*bwd);
        *bwd = join2(m->table, "", "_rel_id");
    }
}

/* Tortoise's through table: "<table>_<target table>"; a second m2m
 * between the same models gets "<table>_<field>" instead of a shared
 * table (then "<table>_<target table>_<field>"). */
static char *through_name(tdo_ctx *ctx, char **names, size_t nnames,
                          const tdo_field *f, const tdo_model *m,
                          const tdo_model *target)
{
    if (f->through && *f->through)
        return tdo_strdup(f->through);
    char *thr = join2(m->table, "_", target->table);
    if (thr && table_taken(ctx, names, nnames, thr)) {
        tdo_free(thr);
        thr = join2(m->table, "_", f->name);
    }
    if (thr && table_taken(ctx, names, nnames, thr)) {
        char *t2 = join2(m->table, "_", target->table);
        tdo_free(thr);
        thr = t2 ? join2(t2, "_", f->name) : NULL;
        tdo_free(t2);
    }
    return thr;
}

/* Fills the through table and columns of the forward m2m relation r;
 * names: the automatic through tables so far (r's joins them). */
static tdo_status m2m_setup(tdo_ctx *ctx, tdo_relation *r, char ***names,
                            size_t *nnames, tdo_sb *msg, size_t *nbad)
{
    const tdo_field *f = r->field;
    tdo_model *tm = tdo_field_through_model_(f);
    if (tm)
        return through_model_setup(r, tm, msg, nbad);
    char *fwd, *bwd;
    default_keys(f, r->model, &fwd, &bwd);
    char *thr = through_name(ctx, *names, *nnames, f, r->model, r->target);
    r->through = thr;
    r->source_column = bwd;
    r->target_column = fwd;
    if (!thr || !fwd || !bwd)
        return TDO_ERR_NOMEM;
    if (!strcmp(fwd, bwd))
        problem(msg, nbad,
                "ManyToManyField '%s' on model '%s': forward_key and "
                "backward_key are both '%s'",
                f->name, r->model->name, fwd);
    char **p = tdo_realloc(*names, (*nnames + 1) * sizeof(*p));
    if (!p)
        return TDO_ERR_NOMEM;
    *names = p;
    if (!(p[*nnames] = tdo_strdup(thr)))
        return TDO_ERR_NOMEM;
    (*nnames)++;
    return TDO_OK;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool rel_same(const tdo_relation *a, const tdo_relation *b)
{
    return a->kind == b->kind && a->model == b->model &&
           a->target == b->target && a->field == b->field &&
           a->through_model == b->through_model && str_eq(a->name, b->name) &&
           str_eq(a->through, b->through) &&
           str_eq(a->source_column, b->source_column) &&
           str_eq(a->target_column, b->target_column);
}

/* The new relation lists of one pass, one per live model. */
typedef struct newrels {
    tdo_relation **r;
    size_t n;
} newrels;

static size_t model_pos(const tdo_ctx *ctx, const tdo_model *m)
{
    for (size_t i = 0; i < ctx->nmodels; i++)
        if (ctx->models[i] == m)
            return i;
    return ctx->nmodels;
}

/* Describes where relation r comes from ("Order.customer"). */
static void rel_origin(tdo_sb *sb, const tdo_relation *r)
{
    if (r->kind <= TDO_REL_M2M)
        tdo_sb_addf(sb, "field '%s'", r->name);
    else
        tdo_sb_addf(sb, "backward relation '%s' of %s.%s", r->name,
                    r->field->model->name, r->field->name);
}

/* Checks the names of the relations of model m (list nr) against its
 * fields and each other; appends problems to msg. */
static void check_clashes(const tdo_model *m, const newrels *nr, tdo_sb *msg,
                          size_t *nbad)
{
    for (size_t i = 0; i < nr->n; i++) {
        const tdo_relation *a = nr->r[i];
        if (a->kind <= TDO_REL_M2M)
            continue; /* forward relations are fields */
        const tdo_field *f = tdo_model_field_by_name(m, a->name);
        if (f) {
            tdo_sb_addf(msg, "%s", *nbad ? "; " : "");
            rel_origin(msg, a);
            tdo_sb_addf(msg, " clashes with field '%s' of model '%s'", f->name,
                        m->name);
            (*nbad)++;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const tdo_relation *b = nr->r[j];
            if (strcmp(a->name, b->name))
                continue;
            tdo_sb_addf(msg, "%s", *nbad ? "; " : "");
            rel_origin(msg, a);
            tdo_sb_adds(msg, " clashes with ");
            rel_origin(msg, b);
            tdo_sb_addf(msg, " on model '%s' (set related_name)", m->name);
            (*nbad)++;
            break;
        }
    }
}

/* Swaps the new list into m, keeping old relation objects that did not
 * change and retiring the others. */
static tdo_status install(tdo_model *m, newrels *nr)
{
    size_t nret = m->nretired + m->nrelations;
    tdo_relation **ret =
        tdo_realloc(m->retired, (nret ? nret : 1) * sizeof(*ret));
    if (!ret)
        return TDO_ERR_NOMEM;
    m->retired = ret;
    for (size_t i = 0; i < nr->n; i++) {
        for (size_t j = 0; j < m->nrelations; j++) {
            tdo_relation *old = m->relations[j];
            if (old && rel_same(old, nr->r[i])) {
                rel_free(nr->r[i]);
                nr->r[i] = old;
                m->relations[j] = NULL;
                break;
            }
        }
    }
    for (size_t j = 0; j < m->nrelations; j++)
        if (m->relations[j])
            m->retired[m->nretired++] = m->relations[j];
    tdo_free(m->relations);
    m->relations = nr->r;
    m->nrelations = nr->n;
    nr->r = NULL;
    nr->n = 0;
    return TDO_OK;
}

/* The work of one tdo_relations_build_. */
typedef struct build {
    tdo_ctx *ctx;
    newrels *nr;  /* per model of ctx, the relations built */
    char **names; /* through-table names seen (m2m_setup) */
    size_t nnames;
    tdo_sb msg; /* the clashes, "; "-separated */
    size_t nbad;
} build;

/* The forward relation kind of field f into *kind; false: none. */
static bool forward_kind(const tdo_field *f, tdo_rel_kind *kind)
{
    *kind = f->type == TDO_F_FK    ? TDO_REL_FK
            : f->type == TDO_F_O2O ? TDO_REL_O2O
                                   : TDO_REL_M2M;
    return f->type == TDO_F_FK || f->type == TDO_F_O2O || f->type == TDO_F_M2M;
}

/* The forward relations of every model, in field order. */
static tdo_status build_forward(build *b)
{
    tdo_status st = TDO_OK;
    for (size_t i = 0; i < b->ctx->nmodels && !st; i++) {
        tdo_model *m = b->ctx->models[i];
        for (size_t j = 0; !m->abstract && j < m->nfields && !st; j++) {
            tdo_field *f = m->fields[j];
            tdo_rel_kind kind;
            if (!forward_kind(f, &kind) || !f->related_model)
                continue;
            tdo_relation *r = rel_new(f->name, kind, m, f->related_model, f);
            if (!r || !push(&b->nr[i].r, &b->nr[i].n, r)) {
                rel_free(r);
                return TDO_ERR_NOMEM;
            }
            if (kind == TDO_REL_M2M)
                st = m2m_setup(b->ctx, r, &b->names, &b->nnames, &b->msg,
                               &b->nbad);
        }
    }
    return st;
}

/* The reverse side of forward relation fw on its target (t: the target's
 * position), named by related_name or "<table>s". */
static tdo_status add_reverse(build *b, const tdo_relation *fw, size_t t)
{
    const tdo_field *f = fw->field;
    char *name = f->related_name && *f->related_name
                     ? tdo_strdup(f->related_name)
                     : join2(fw->model->table, "", "s");
    tdo_rel_kind kind = fw->kind == TDO_REL_FK    ? TDO_REL_REVERSE_FK
                        : fw->kind == TDO_REL_O2O ? TDO_REL_REVERSE_O2O
                                                  : TDO_REL_REVERSE_M2M;
    tdo_relation *r =
        name ? rel_new(name, kind, fw->target, fw->model, f) : NULL;
    tdo_free(name);
    if (!r || !push(&b->nr[t].r, &b->nr[t].n, r)) {
        rel_free(r);
        return TDO_ERR_NOMEM;
    }
    if (kind == TDO_REL_REVERSE_M2M) {
        r->through_model = fw->through_model;
        r->through = tdo_strdup(fw->through);
        r->source_column = tdo_strdup(fw->target_column);
        r->target_column = tdo_strdup(fw->source_column);
        if (!r->through || !r->source_column || !r->target_column)
            return TDO_ERR_NOMEM;
    }
    return TDO_OK;
}

/* The reverse relations on the targets (none for related_name "+"). */
static tdo_status build_reverse(build *b)
{
    tdo_status st = TDO_OK;
    size_t nm = b->ctx->nmodels;
    for (size_t i = 0; i < nm && !st; i++) {
        for (size_t j = 0; j < b->nr[i].n && !st; j++) {
            const tdo_relation *fw = b->nr[i].r[j];
            if (fw->kind > TDO_REL_M2M)
                continue; /* a reverse side added by this loop */
            const char *rn = fw->field->related_name;
            size_t t = model_pos(b->ctx, fw->target);
            if ((rn && !strcmp(rn, "+")) || t == nm)
                continue;
            st = add_reverse(b, fw, t);
        }
    }
    return st;
}

/* Builds the relations of every live, non-abstract model of ctx (after
 * the references are bound); ConfigurationError naming every clash. */
tdo_status tdo_relations_build_(tdo_ctx *ctx, tdo_error *err)
{
    size_t nm = ctx->nmodels;
    build b = {.ctx = ctx, .msg = TDO_SB_INIT};
    b.nr = tdo_calloc(nm ? nm : 1, sizeof(*b.nr));
    if (!b.nr)
        return tdo_nomem(err);
    tdo_status st = build_forward(&b);
    if (!st)
        st = build_reverse(&b);
    for (size_t i = 0; i < nm && !st; i++)
        if (!ctx->models[i]->abstract)
            check_clashes(ctx->models[i], &b.nr[i], &b.msg, &b.nbad);
    if (!st && b.msg.oom)
        st = TDO_ERR_NOMEM;
    for (size_t i = 0; i < nm && !st && !b.nbad; i++)
        if (!ctx->models[i]->abstract)
            st = install(ctx->models[i], &b.nr[i]);
    if (st == TDO_ERR_NOMEM)
        tdo_nomem(err);
    else if (!st && b.nbad == 1)
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION, "%s", b.msg.buf);
    else if (!st && b.nbad)
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION,
                           "%zu relation problems: %s", b.nbad, b.msg.buf);
    for (size_t i = 0; i < nm; i++) {
        for (size_t j = 0; j < b.nr[i].n; j++)
            rel_free(b.nr[i].r[j]);
        tdo_free(b.nr[i].r);
    }
    tdo_free(b.nr);
    for (size_t i = 0; i < b.nnames; i++)
        tdo_free(b.names[i]);
    tdo_free(b.names);
    tdo_sb_release(&b.msg);
    return st;
}

/* ---- accessors ------------------------------------------------------- */

/* Returns the number of relations of m (forward, then reverse). */
size_t tdo_model_nrelations(const tdo_model *m)
{
    return m->nrelations;
}

/* Returns the i-th relation of m (belongs to the registry), NULL past the
 * end. */
const tdo_relation *tdo_model_relation(const tdo_model *m, size_t i)
{
    return i < m->nrelations ? m->relations[i] : NULL;
}

/* Finds the relation called name on m; NULL if none. */
const tdo_relation *tdo_model_relation_by_name(const tdo_model *m,
                                               const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < m->nrelations; i++)
        if (!strcmp(m->relations[i]->name, name))
            return m->relations[i];
    return NULL;
}

/* Whether r leads to many rows (reverse FK, m2m either way). */
bool tdo_relation_to_many_(const tdo_relation *r)
{
    return r->kind == TDO_REL_M2M || r->kind == TDO_REL_REVERSE_FK ||
           r->kind == TDO_REL_REVERSE_M2M;
}
