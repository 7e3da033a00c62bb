/*
 * inspect_models.c -- models declared from what introspection read
 * (issue 11): one model per table or view that no model covers yet, named
 * by naming.c, its fields typed by sqltype.c, its key (one column, a
 * composite key, or none), its foreign keys of one column as
 * ForeignKeyFields with reverse relations; views are read-only.
 */
#include "tdo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* What tdo_models_from_schema works from: per table of s, the name of the
 * model it declares (NULL: none) or the model that already covers it. */
typedef struct plan {
    tdo_ctx *ctx;
    const char *app;
    const tdo_ischema *s;
    char **names;
    tdo_model **have;
} plan;

/* The number of primary key columns of t (0 for a view). */
static size_t key_size(const tdo_itable *t)
{
    size_t n = 0;
    for (size_t i = 0; !t->view && i < t->ncols; i++)
        n += t->cols[i].pk > 0;
    return n;
}

/* The single primary key column of t, or NULL (none, or composite). */
static const tdo_icolumn *single_pk(const tdo_itable *t)
{
    if (key_size(t) != 1)
        return NULL;
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].pk == 1)
            return &t->cols[i];
    return NULL;
}

/* Whether column c of t is alone in an index (unique: a unique one). */
static bool alone_in_index(const tdo_itable *t, const char *c, bool unique)
{
    for (size_t i = 0; i < t->nidx; i++)
        if (t->idx[i].unique == unique && t->idx[i].n == 1 &&
            strcmp(t->idx[i].cols[0], c) == 0)
            return true;
    return false;
}

/* Whether table j can be the target of a foreign key to column to ("":
 * its primary key): its model (new or existing) has that one-column key. */
static bool targetable(const plan *p, size_t j, const char *to)
{
    const char *key = NULL;
    if (p->have[j]) {
        const tdo_field *pk = tdo_model_pk(p->have[j]);
        key = pk ? pk->column : NULL;
    } else if (p->names[j]) {
        const tdo_icolumn *pk = single_pk(&p->s->tables[j]);
        key = pk ? pk->name : NULL;
    }
    return key && (!to[0] || strcmp(to, key) == 0);
}

/* The foreign key of t made of column c alone, referring to the one-
 * column key of a table with a model, or NULL; *target its index. */
static const tdo_iforeign *fk_of(const plan *p, const tdo_itable *t,
                                 const char *c, size_t *target)
{
    for (size_t i = 0; i < t->nfks; i++) {
        const tdo_iforeign *f = &t->fks[i];
        if (f->n != 1 || strcmp(f->from[0], c) != 0)
            continue;
        for (size_t j = 0; j < p->s->n; j++)
            if (strcmp(p->s->tables[j].name, f->table) == 0 &&
                targetable(p, j, f->to[0])) {
                *target = j;
                return f;
            }
    }
    return NULL;
}

/* How many foreign keys of t the function fk_of would take to table j. */
static size_t fks_to(const plan *p, const tdo_itable *t, size_t j)
{
    size_t n = 0, tgt;
    for (size_t i = 0; i < t->ncols; i++)
        if (fk_of(p, t, t->cols[i].name, &tgt) && tgt == j)
            n++;
    return n;
}

/* base with "_2", "_3" ... appended: the first such name taken(ud, name)
 * says is free; malloc'd, NULL on out of memory. */
static char *first_free(const char *base,
                        bool (*taken)(const void *ud, const char *name),
                        const void *ud)
{
    char *name = NULL;
    for (int k = 2; !name || taken(ud, name); k++) {
        tdo_free(name);
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_addf(&sb, "%s_%d", base, k);
        if (!(name = tdo_sb_detach(&sb)))
            return NULL;
    }
    return name;
}

/* Whether model ud (a declared one) has name already. */
static bool model_names(const void *ud, const char *name)
{
    return tdo_names_something_(ud, name);
}

/* The related_name for a foreign key of model (field fname, by: whether
 * the table refers to the target more than once) to table j: a model
 * declared before keeps its names, so a clash gets "_2", "_3" ...
 * malloc'd. */
static char *reverse_name(const plan *p, const char *model, const char *fname,
                          bool by, size_t j)
{
    char *base = tdo_name_reverse(model, by ? fname : NULL);
    if (!base || !p->have[j] || !tdo_names_something_(p->have[j], base))
        return base;
    char *name = first_free(base, model_names, p->have[j]);
    tdo_free(base);
    return name;
}

/* Whether the field type t takes a literal of kind k ('s' string, 'i'
 * integer, 'f' number, 'b' boolean). */
static bool takes(tdo_field_type t, char k)
{
    switch (t) {
    case TDO_F_CHAR:
    case TDO_F_TEXT:
        return k == 's';
    case TDO_F_INT:
    case TDO_F_BIGINT:
    case TDO_F_SMALLINT:
        return k == 'i';
    case TDO_F_FLOAT:
        return k == 'i' || k == 'f';
    case TDO_F_BOOL:
        return k == 'b';
    default:
        return false;
    }
}

/* The constant a column default is when it is a plain literal the field
 * takes ('text', 42, -1.5, TRUE; in parentheses or with a PostgreSQL
 * ::type cast): *out (its text in *buf, malloc'd, for a string); false
 * for anything else (a function, an expression, NULL). */
static bool literal_default(const char *sql, tdo_field_type type,
                            tdo_value *out, char **buf)
{
    *buf = NULL;
    size_t n = strlen(sql);
    while (n >= 2 && sql[0] == '(' && sql[n - 1] == ')') {
        sql++;
        n -= 2;
    }
    if (n && sql[0] == '\'') {
        char *s = tdo_calloc(n + 1, 1);
        size_t k = 0, i = 1;
        for (; s && i < n; i++) {
            if (sql[i] == '\'' && i + 1 < n && sql[i + 1] == '\'')
                s[k++] = sql[i++];
            else if (sql[i] == '\'')
                break;
            else
                s[k++] = sql[i];
        }
        /* the closing quote, then nothing or a cast */
        bool whole =
            s && i < n && (i + 1 == n || !strncmp(sql + i + 1, "::", 2));
        if (!whole || !takes(type, 's')) {
            tdo_free(s);
            return false;
        }
        *buf = s;
        *out = tdo_value_text(s, k);
        return true;
    }
    const char *cast = strstr(sql, "::");
    size_t len = cast && (size_t)(cast - sql) < n ? (size_t)(cast - sql) : n;
    char num[64];
    if (len == 0 || len >= sizeof(num))
        return false;
    memcpy(num, sql, len);
    num[len] = '\0';
    if (!strcasecmp(num, "true") || !strcasecmp(num, "false")) {
        *out = tdo_value_bool(!strcasecmp(num, "true"));
        return takes(type, 'b');
    }
    char *end;
    long long i = strtoll(num, &end, 10);
    if (*end == '\0' && takes(type, 'i')) {
        *out = tdo_value_int(i);
        return true;
    }
    if (*end == '\0' && type == TDO_F_BOOL && (i == 0 || i == 1)) {
        *out = tdo_value_bool(i == 1);
        return true;
    }
    double d = strtod(num, &end);
    if (*end == '\0' && takes(type, 'f')) {
        *out = tdo_value_double(d);
        return true;
    }
    return false;
}

/* Declares the field of column c of table t (model m). */
static tdo_status add_column(const plan *p, tdo_model *m, const tdo_itable *t,
                             const tdo_icolumn *c, tdo_error *err)
{
    size_t tgt = 0;
    const tdo_iforeign *fk =
        c->pk && key_size(t) == 1 ? NULL : fk_of(p, t, c->name, &tgt);
    char *fname = tdo_name_field(c->name, fk != NULL);
    char *ref = NULL, *rname = NULL;
    if (fname && fk && tdo_itable_column(t, fname)) {
        tdo_free(fname); /* "customer" is a column too: keep the name */
        fname = tdo_strdup(c->name);
    }
    tdo_field_decl d = tdo_field_template(fname ? fname : "", c->type.type);
    d.column = c->name;
    char *note = NULL; /* the note an unknown type gets */
    if (c->type.unknown) {
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_addf(&sb, "column type %s: no closer field", c->sql_type);
        d.description = note = tdo_sb_detach(&sb);
    }
    d.max_length = c->type.max_length;
    d.max_digits = c->type.max_digits;
    d.decimal_places = c->type.decimal_places;
    if (!c->notnull && !c->pk)
        d.flags |= TDO_FIELD_NULL;
    if (c->pk && key_size(t) == 1)
        d.flags |= TDO_FIELD_PK;
    if (!c->pk && alone_in_index(t, c->name, true))
        d.flags |= TDO_FIELD_UNIQUE;
    else if (!c->pk && alone_in_index(t, c->name, false))
        d.flags |= TDO_FIELD_INDEX;
    char *lit = NULL; /* a constant default, else the database's DEFAULT */
    if (!c->pk && c->default_sql && strcasecmp(c->default_sql, "NULL") != 0) {
        if (!fk &&
            literal_default(c->default_sql, d.type, &d.default_value, &lit))
            d.flags |= TDO_FIELD_HAS_DEFAULT | TDO_FIELD_CONST_DEFAULT;
        else
            d.db_default = c->default_sql;
    }
    if (fk) {
        d.type = TDO_F_FK;
        d.flags |= TDO_FIELD_DB_CONSTRAINT;
        d.on_delete = TDO_NO_ACTION;
        tdo_sb sb = TDO_SB_INIT;
        if (p->have[tgt])
            tdo_sb_addf(&sb, "%s.%s", tdo_model_app(p->have[tgt]),
                        tdo_model_name(p->have[tgt]));
        else
            tdo_sb_addf(&sb, "%s.%s", p->app, p->names[tgt]);
        ref = tdo_sb_detach(&sb);
        rname = fname ? reverse_name(p, tdo_model_name(m), fname,
                                     fks_to(p, t, tgt) > 1, tgt)
                      : NULL;
        d.related_ref = ref;
        d.related_name = rname;
    }
    tdo_status st = !fname || (fk && (!ref || !rname))
                        ? tdo_nomem(err)
                        : tdo_model_add_field(m, &d, NULL, err);
    tdo_free(fname);
    tdo_free(ref);
    tdo_free(rname);
    tdo_free(lit);
    tdo_free(note);
    return st;
}

/* Declares m's key from t: a composite key by its fields' names in key
 * order, none for a view or a table without one (a one-column key is
 * its field's primary_key flag). */
static tdo_status set_key(tdo_model *m, const tdo_itable *t, tdo_error *err)
{
    size_t n = key_size(t);
    if (n == 1)
        return TDO_OK;
    const char **keys = tdo_calloc(n ? n : 1, sizeof(*keys));
    if (!keys)
        return tdo_nomem(err);
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        const tdo_icolumn *c = tdo_itable_column(t, f->column);
        if (c && c->pk > 0 && (size_t)c->pk <= n)
            keys[c->pk - 1] = f->name;
    }
    tdo_status st = tdo_model_set_key(m, keys, n, err);
    tdo_free(keys);
    return st;
}

/* Declares the indexes of t over several columns on m: unique ones as
 * unique_together (the primary key's own index left out). */
static tdo_status add_indexes(tdo_model *m, const tdo_itable *t, tdo_error *err)
{
    tdo_status st = TDO_OK;
    for (size_t i = 0; !st && i < t->nidx; i++) {
        const tdo_iindex *ix = &t->idx[i];
        if (ix->n < 2)
            continue;
        const char **names = tdo_calloc(ix->n, sizeof(*names));
        if (!names)
            return tdo_nomem(err);
        size_t inkey = 0, found = 0;
        for (size_t j = 0; j < ix->n; j++) {
            const tdo_icolumn *c = tdo_itable_column(t, ix->cols[j]);
            inkey += c && c->pk > 0;
            for (size_t k = 0; k < tdo_model_nfields(m); k++)
                if (!strcmp(tdo_model_field(m, k)->column, ix->cols[j])) {
                    names[found++] = tdo_model_field(m, k)->name;
                    break;
                }
        }
        if (found == ix->n &&
            !(ix->unique && inkey == ix->n && inkey == key_size(t)))
            st = tdo_model_add_index(m, names, ix->n, ix->unique, err);
        tdo_free(names);
    }
    return st;
}

/* Declares the model of table i of the plan. */
static tdo_status declare(const plan *p, size_t i, tdo_error *err)
{
    const tdo_itable *t = &p->s->tables[i];
    tdo_model *m = NULL;
    tdo_status st = tdo_model_new(p->ctx, p->app, p->names[i], &m, err);
    if (st)
        return st;
    m->introspected = true;
    tdo_model_set_read_only(m, t->view);
    st = tdo_model_set_table(m, t->name, err);
    for (size_t j = 0; !st && j < t->ncols; j++)
        st = add_column(p, m, t, &t->cols[j], err);
    if (!st)
        st = set_key(m, t, err);
    if (!st)
        st = add_indexes(m, t, err);
    if (!st)
        st = tdo_model_finish(m, err);
    if (st)
        tdo_model_detach(m);
    return st;
}

/* The live model of ctx (not abstract) whose table is name, or NULL. */
static tdo_model *model_of_table(const tdo_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < tdo_ctx_nmodels(ctx); i++) {
        tdo_model *m = tdo_ctx_model_at(ctx, i);
        if (!m->abstract && strcmp(m->table, name) == 0)
            return m;
    }
    return NULL;
}

/* Whether table name is the automatic many-to-many through table of a
 * live model's relation. */
static bool through_table(const tdo_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < tdo_ctx_nmodels(ctx); i++) {
        const tdo_model *m = tdo_ctx_model_at(ctx, i);
        for (size_t k = 0; k < m->nrelations; k++) {
            const tdo_relation *r = m->relations[k];
            if (r->kind == TDO_REL_M2M && !r->through_model && r->through &&
                strcmp(r->through, name) == 0)
                return true;
        }
    }
    return false;
}

/* The plan and the table whose model name first_free looks for. */
typedef struct naming {
    const plan *p;
    size_t i;
} naming;

/* Whether name is taken: by a model of app, or by another table's. */
static bool name_taken(const void *ud, const char *name)
{
    const naming *nm = ud;
    const plan *p = nm->p;
    if (tdo_ctx_model(p->ctx, p->app, name))
        return true;
    for (size_t j = 0; j < p->s->n; j++)
        if (j != nm->i && p->names[j] && strcmp(p->names[j], name) == 0)
            return true;
    return false;
}

/* Makes p->names[i] a name no model of app has yet: "_2", "_3" ...
 * appended when a declared model has it; false on out of memory. */
static bool free_name(const plan *p, size_t i)
{
    if (!tdo_ctx_model(p->ctx, p->app, p->names[i]))
        return true;
    naming nm = {p, i};
    char *name = first_free(p->names[i], name_taken, &nm);
    if (!name)
        return false;
    tdo_free(p->names[i]);
    p->names[i] = name;
    return true;
}

/* Takes out the models introspection declared (see testudo.h). */
void tdo_ctx_forget_introspected(tdo_ctx *ctx, const char *app)
{
    for (size_t i = tdo_ctx_nmodels(ctx); i-- > 0;) {
        tdo_model *m = tdo_ctx_model_at(ctx, i);
        if (m->introspected && (!app || strcmp(m->app, app) == 0))
            tdo_model_detach(m);
    }
}

/* Declares the models of schema s in app of ctx (see tdo_int.h). */
tdo_status tdo_models_from_schema(tdo_ctx *ctx, const char *app,
                                  const tdo_ischema *s, size_t *skipped,
                                  tdo_error *err)
{
    size_t n = s->n ? s->n : 1;
    const char **tables = tdo_calloc(n, sizeof(*tables));
    plan p = {ctx, app, s, tdo_calloc(n, sizeof(char *)),
              tdo_calloc(n, sizeof(tdo_model *))};
    tdo_status st = tables && p.names && p.have ? TDO_OK : tdo_nomem(err);
    *skipped = 0;
    if (!st)
        tdo_ctx_forget_introspected(ctx, app);
    for (size_t i = 0; !st && i < s->n; i++)
        tables[i] = s->tables[i].name;
    if (!st)
        st = tdo_name_models(tables, s->n, p.names, err);
    for (size_t i = 0; !st && i < s->n; i++) {
        p.have[i] = model_of_table(ctx, s->tables[i].name);
        if (p.have[i] || through_table(ctx, s->tables[i].name)) {
            tdo_free(p.names[i]); /* a declared model wins */
            p.names[i] = NULL;
            (*skipped)++;
        }
    }
    for (size_t i = 0; !st && i < s->n; i++)
        if (p.names[i] && !free_name(&p, i))
            st = tdo_nomem(err);
    for (size_t i = 0; !st && i < s->n; i++)
        if (p.names[i])
            st = declare(&p, i, err);
    if (!st)
        st = tdo_ctx_resolve(ctx, err);
    for (size_t i = 0; p.names && i < s->n; i++)
        tdo_free(p.names[i]);
    tdo_free(p.names);
    tdo_free(p.have);
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

/* Whether m was declared by introspection. */
bool tdo_model_introspected(const tdo_model *m)
{
    return m->introspected;
}
