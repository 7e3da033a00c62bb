/*
 * inspect_models.c -- models declared from what introspection read
 * (issue 11): one model per table with a primary key of one column, named
 * by naming.c, its fields typed by sqltype.c, its foreign keys of one
 * column as ForeignKeyFields with reverse relations.  Composite keys and
 * views come later (they need read-only and composite-key models).
 */
#include "tdo_int.h"

#include <stdio.h>

/* The single primary key column of t, or NULL (none, or composite). */
static const tdo_icolumn *single_pk(const tdo_itable *t)
{
    const tdo_icolumn *pk = NULL;
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->cols[i].pk > 1)
            return NULL;
        if (t->cols[i].pk == 1)
            pk = &t->cols[i];
    }
    return t->view ? NULL : pk;
}

/* Whether column c of t is alone in a unique index. */
static bool unique_alone(const tdo_itable *t, const char *c)
{
    for (size_t i = 0; i < t->nidx; i++)
        if (t->idx[i].unique && t->idx[i].n == 1 &&
            strcmp(t->idx[i].cols[0], c) == 0)
            return true;
    return false;
}

/* The foreign key of t made of column c alone, referring to the one-
 * column key of a table that gets a model (names[j] set), or NULL;
 * *target its index. */
static const tdo_iforeign *fk_of(const tdo_ischema *s, char *const *names,
                                 const tdo_itable *t, const char *c,
                                 size_t *target)
{
    for (size_t i = 0; i < t->nfks; i++) {
        const tdo_iforeign *f = &t->fks[i];
        if (f->n != 1 || strcmp(f->from[0], c) != 0)
            continue;
        for (size_t j = 0; j < s->n; j++) {
            /* (names[j] is set only for a table with a one-column key) */
            if (!names[j] || strcmp(s->tables[j].name, f->table) != 0)
                continue;
            const tdo_icolumn *pk = single_pk(&s->tables[j]);
            if (!f->to[0][0] || strcmp(f->to[0], pk->name) == 0) {
                *target = j;
                return f;
            }
        }
    }
    return NULL;
}

/* How many foreign keys of t the function fk_of would take to table j. */
static size_t fks_to(const tdo_ischema *s, char *const *names,
                     const tdo_itable *t, size_t j)
{
    size_t n = 0, tgt;
    for (size_t i = 0; i < t->ncols; i++)
        if (fk_of(s, names, t, t->cols[i].name, &tgt) && tgt == j)
            n++;
    return n;
}

/* Declares the field of column c of table t (model m). */
static tdo_status add_column(tdo_model *m, const tdo_ischema *s,
                             char *const *names, const tdo_itable *t,
                             const tdo_icolumn *c, const char *app,
                             tdo_error *err)
{
    size_t tgt = 0;
    const tdo_iforeign *fk = c->pk ? NULL : fk_of(s, names, t, c->name, &tgt);
    char *fname = tdo_name_field(c->name, fk != NULL);
    char *ref = NULL, *rname = NULL;
    if (fname && fk && tdo_itable_column(t, fname)) {
        tdo_free(fname); /* "customer" is a column too: keep the name */
        fname = tdo_strdup(c->name);
    }
    tdo_field_decl d = tdo_field_template(fname ? fname : "", c->type.type);
    d.column = c->name;
    d.max_length = c->type.max_length;
    d.max_digits = c->type.max_digits;
    d.decimal_places = c->type.decimal_places;
    if (!c->notnull && !c->pk)
        d.flags |= TDO_FIELD_NULL;
    if (c->pk)
        d.flags |= TDO_FIELD_PK;
    if (!c->pk && unique_alone(t, c->name))
        d.flags |= TDO_FIELD_UNIQUE;
    if (fk) {
        d.type = TDO_F_FK;
        d.flags |= TDO_FIELD_DB_CONSTRAINT;
        d.on_delete = TDO_NO_ACTION;
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_addf(&sb, "%s.%s", app, names[tgt]);
        ref = tdo_sb_detach(&sb);
        rname = tdo_name_reverse(tdo_model_name(m),
                                 fks_to(s, names, t, tgt) > 1 ? fname : NULL);
        d.related_ref = ref;
        d.related_name = rname;
    }
    tdo_status st = !fname || (fk && (!ref || !rname))
                        ? tdo_nomem(err)
                        : tdo_model_add_field(m, &d, NULL, err);
    tdo_free(fname);
    tdo_free(ref);
    tdo_free(rname);
    return st;
}

/* Declares the models of schema s in app of ctx (see tdo_int.h). */
tdo_status tdo_models_from_schema(tdo_ctx *ctx, const char *app,
                                  const tdo_ischema *s, size_t *skipped,
                                  tdo_error *err)
{
    const char **tables = tdo_calloc(s->n ? s->n : 1, sizeof(*tables));
    char **names = tdo_calloc(s->n ? s->n : 1, sizeof(*names));
    tdo_status st = tables && names ? TDO_OK : tdo_nomem(err);
    for (size_t i = 0; !st && i < s->n; i++)
        tables[i] = s->tables[i].name;
    if (!st)
        st = tdo_name_models(tables, s->n, names, err);
    *skipped = 0;
    for (size_t i = 0; !st && i < s->n; i++) /* a model only with a key */
        if (!single_pk(&s->tables[i])) {
            tdo_free(names[i]);
            names[i] = NULL;
            (*skipped)++;
        }
    for (size_t i = 0; !st && i < s->n; i++) {
        const tdo_itable *t = &s->tables[i];
        tdo_model *m = NULL;
        if (!names[i])
            continue;
        st = tdo_model_new(ctx, app, names[i], &m, err);
        if (!st)
            st = tdo_model_set_table(m, t->name, err);
        for (size_t j = 0; !st && j < t->ncols; j++)
            st = add_column(m, s, names, t, &t->cols[j], app, err);
        if (!st)
            st = tdo_model_finish(m, err);
    }
    if (!st)
        st = tdo_ctx_resolve(ctx, err);
    for (size_t i = 0; names && i < s->n; i++)
        tdo_free(names[i]);
    tdo_free(names);
    tdo_free(tables);
    return st;
}

/* Introspects c's database and declares its models (see testudo.h). */
tdo_status tdo_introspect_models(tdo_conn *c, const char *app, size_t *skipped,
                                 tdo_error *err)
{
    tdo_ischema s;
    *skipped = 0;
    tdo_status st = tdo_introspect(c, &s, err);
    if (st)
        return st;
    st = tdo_models_from_schema(c->ctx, app, &s, skipped, err);
    tdo_ischema_release(&s);
    return st;
}
