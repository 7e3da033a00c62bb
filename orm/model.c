/*
 * model.c -- models of the registry: declaration (fields, indexes,
 * abstract inheritance), the automatic primary key, lookups by name and
 * the resolution of string references between models.
 */
#include "tdo_int.h"

#include <ctype.h>
#include <stdio.h>

/* Grows *arr (elements of size bytes) to hold n elements. */
static bool grow_to(void *arr, size_t n, size_t size)
{
    void **p = arr;
    void *q = tdo_realloc(*p, (n ? n : 1) * size);
    if (!q)
        return false;
    *p = q;
    return true;
}

static void index_release(tdo_index *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        tdo_free(ix->fields[i]);
    tdo_free(ix->fields);
    ix->fields = NULL;
    ix->n = 0;
}

/* Frees a model and everything it owns (internal; ctx.c calls it). */
void tdo_model_free_(tdo_model *m)
{
    if (!m)
        return;
    tdo_model_free_relations_(m);
    tdo_model_free_proj_(m);
    for (size_t i = 0; i < m->nfields; i++)
        tdo_field_free_(m->fields[i]);
    tdo_free(m->fields);
    for (size_t i = 0; i < m->nindexes; i++)
        index_release(&m->indexes[i]);
    tdo_free(m->indexes);
    index_release(&m->keydecl);
    tdo_free(m->key);
    tdo_free(m->app);
    tdo_free(m->name);
    tdo_free(m->table);
    tdo_free(m->qtable);
    tdo_free(m->description);
    for (int s = 0; s < TDO_SIG_COUNT; s++)
        tdo_free(m->handlers[s]);
    tdo_free(m);
}

/* Creates model app.name in ctx, which owns it; ConfigurationError if the
 * name is taken or empty.  The table defaults to the lower-cased name. */
tdo_status tdo_model_new(tdo_ctx *ctx, const char *app, const char *name,
                         tdo_model **out, tdo_error *err)
{
    *out = NULL;
    if (!app || !*app)
        app = "models";
    if (!name || !*name)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "a model needs a name");
    if (tdo_ctx_model(ctx, app, name))
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "model '%s.%s' is already registered", app, name);
    /* Reserve room now so that tdo_model_detach() never allocates. */
    if (!grow_to(&ctx->models, ctx->nmodels + 1, sizeof(*ctx->models)) ||
        !grow_to(&ctx->detached, ctx->nmodels + ctx->ndetached + 1,
                 sizeof(*ctx->detached)))
        return tdo_nomem(err);
    tdo_model *m = tdo_calloc(1, sizeof(*m));
    if (!m)
        return tdo_nomem(err);
    m->ctx = ctx;
    m->app = tdo_strdup(app);
    m->name = tdo_strdup(name);
    m->table = tdo_strdup(name);
    if (!m->app || !m->name || !m->table) {
        tdo_model_free_(m);
        return tdo_nomem(err);
    }
    for (char *p = m->table; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    ctx->models[ctx->nmodels++] = m;
    *out = m;
    return TDO_OK;
}

/* Takes m out of the registry without freeing it (ctx frees it later);
 * a second call does nothing. */
void tdo_model_detach(tdo_model *m)
{
    if (!m || m->detached)
        return;
    tdo_ctx *ctx = m->ctx;
    for (size_t i = 0; i < ctx->nmodels; i++) {
        if (ctx->models[i] != m)
            continue;
        memmove(&ctx->models[i], &ctx->models[i + 1],
                (ctx->nmodels - i - 1) * sizeof(*ctx->models));
        ctx->nmodels--;
        ctx->detached[ctx->ndetached++] = m; /* room reserved by _new */
        m->detached = true;
        return;
    }
}

/* Sets the table name (copied); ConfigurationError if empty. */
tdo_status tdo_model_set_table(tdo_model *m, const char *table, tdo_error *err)
{
    if (!table || !*table)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "empty table name for model '%s'", m->name);
    char *t = tdo_strdup(table);
    if (!t)
        return tdo_nomem(err);
    tdo_free(m->table);
    m->table = t;
    tdo_free(m->qtable); /* quoted for the old name */
    m->qtable = NULL;
    tdo_model_free_proj_(m); /* statements name the old table */
    return TDO_OK;
}

/* Marks m abstract (no table; only inherited from) or not. */
void tdo_model_set_abstract(tdo_model *m, bool abstract)
{
    m->abstract = abstract;
}

/* Sets the description (copied; NULL clears it). */
tdo_status tdo_model_set_description(tdo_model *m, const char *text,
                                     tdo_error *err)
{
    char *t = NULL;
    if (text && !(t = tdo_strdup(text)))
        return tdo_nomem(err);
    tdo_free(m->description);
    m->description = t;
    return TDO_OK;
}

static tdo_field *find_field(const tdo_model *m, const char *name)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i]->name, name) == 0)
            return m->fields[i];
    return NULL;
}

static void renumber(tdo_model *m)
{
    for (size_t i = 0; i < m->nfields; i++)
        m->fields[i]->index = i;
}

/* Inserts the owned field f at position pos. */
static tdo_status insert_field(tdo_model *m, tdo_field *f, size_t pos,
                               tdo_error *err)
{
    if (!grow_to(&m->fields, m->nfields + 1, sizeof(*m->fields))) {
        tdo_field_free_(f);
        return tdo_nomem(err);
    }
    memmove(&m->fields[pos + 1], &m->fields[pos],
            (m->nfields - pos) * sizeof(*m->fields));
    m->fields[pos] = f;
    m->nfields++;
    f->model = m;
    tdo_model_free_proj_(m); /* new queries see the new field */
    if (f->flags & TDO_FIELD_PK)
        m->pk = f;
    renumber(m);
    return TDO_OK;
}

/* Adds a copy of the template f to m (replacing a field of the same name
 * in place); *out (may be NULL) gets the model's field. */
tdo_status tdo_model_add_field(tdo_model *m, const tdo_field_decl *f,
                               tdo_field **out, tdo_error *err)
{
    if (out)
        *out = NULL;
    tdo_field *nf = NULL;
    tdo_status st = tdo_field_make_(m, f, &nf, err);
    if (st)
        return st;
    tdo_field *old = find_field(m, nf->name);
    if ((nf->flags & TDO_FIELD_PK) && m->pk && m->pk != old) {
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION,
                           "model '%s' has two primary keys: '%s' and '%s'",
                           m->name, m->pk->name, nf->name);
        tdo_field_free_(nf);
        return st;
    }
    if (old) {
        tdo_model_free_proj_(m); /* it names the old field */
        nf->model = m;
        nf->index = old->index;
        m->fields[old->index] = nf;
        if (m->pk == old)
            m->pk = NULL;
        if (nf->flags & TDO_FIELD_PK)
            m->pk = nf;
        tdo_field_free_(old);
    } else if ((st = insert_field(m, nf, m->nfields, err))) {
        return st;
    }
    if (out)
        *out = nf;
    return TDO_OK;
}

static tdo_status add_index_copy(tdo_model *m, const char *const *fields,
                                 size_t n, bool unique, tdo_error *err)
{
    if (!grow_to(&m->indexes, m->nindexes + 1, sizeof(*m->indexes)))
        return tdo_nomem(err);
    tdo_index ix = {tdo_calloc(n ? n : 1, sizeof(char *)), 0, unique};
    if (!ix.fields)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        if (!(ix.fields[i] = tdo_strdup(fields[i]))) {
            index_release(&ix);
            return tdo_nomem(err);
        }
        ix.n++;
    }
    m->indexes[m->nindexes++] = ix;
    return TDO_OK;
}

/* Copies the fields, indexes and unique_together of the abstract parent
 * into m, before m's own fields (fields m already has are kept). */
tdo_status tdo_model_inherit(tdo_model *m, const tdo_model *parent,
                             tdo_error *err)
{
    if (!parent->abstract || parent == m)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "model '%s' cannot inherit from '%s.%s': it is "
                             "not abstract",
                             m->name, parent->app, parent->name);
    size_t pos = 0;
    while (pos < m->nfields && (m->fields[pos]->flags & TDO_FIELD_INHERITED))
        pos++;
    for (size_t i = 0; i < parent->nfields; i++) {
        const tdo_field *pf = parent->fields[i];
        if (find_field(m, pf->name))
            continue;
        if ((pf->flags & TDO_FIELD_PK) && m->pk)
            continue;
        tdo_field *nf = tdo_calloc(1, sizeof(*nf));
        tdo_status st;
        if (!nf)
            return tdo_nomem(err);
        if ((st = tdo_field_copy_(nf, pf, err))) {
            tdo_field_free_(nf);
            return st;
        }
        nf->flags |= TDO_FIELD_INHERITED;
        if ((st = insert_field(m, nf, pos++, err)))
            return st;
    }
    for (size_t i = 0; i < parent->nindexes; i++) {
        const tdo_index *ix = &parent->indexes[i];
        tdo_status st = add_index_copy(m, (const char *const *)ix->fields,
                                       ix->n, ix->unique, err);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* Declares the primary key as the n named fields (see testudo.h). */
tdo_status tdo_model_set_key(tdo_model *m, const char *const *fields, size_t n,
                             tdo_error *err)
{
    tdo_index ix = {tdo_calloc(n ? n : 1, sizeof(char *)), 0, false};
    if (!ix.fields)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        if (!(ix.fields[i] = tdo_strdup(fields[i] ? fields[i] : ""))) {
            index_release(&ix);
            return tdo_nomem(err);
        }
        ix.n++;
    }
    index_release(&m->keydecl);
    m->keydecl = ix;
    m->keyset = true;
    return TDO_OK;
}

/* Binds tdo_model_set_key()'s names to fields at finish: one name makes
 * that field the primary key, several a composite key, none no key. */
static tdo_status bind_key(tdo_model *m, tdo_error *err)
{
    size_t n = m->keydecl.n;
    tdo_model_free_proj_(m); /* statements match the old key */
    tdo_free(m->key);
    m->key = NULL;
    m->nkey = 0;
    for (size_t i = 0; i < m->nfields; i++)
        if ((m->fields[i]->flags & TDO_FIELD_PK) && n > 0)
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "model '%s' declares its primary key twice: "
                                 "field '%s' and Meta.primary_key",
                                 m->name, m->fields[i]->name);
    if (n > 1 && !(m->key = tdo_calloc(n, sizeof(*m->key))))
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        tdo_field *f = find_field(m, m->keydecl.fields[i]);
        if (!f || f->type == TDO_F_M2M)
            return tdo_model_field_error(m, m->keydecl.fields[i], err);
        for (size_t j = 0; j < i; j++)
            if (m->key[j] == f)
                return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                     "model '%s': field '%s' is twice in "
                                     "its primary key",
                                     m->name, f->name);
        if (n == 1) {
            f->flags |= TDO_FIELD_PK;
            m->pk = f;
        } else {
            m->key[m->nkey++] = f;
        }
    }
    return TDO_OK;
}

/* Makes m read-only (see testudo.h). */
void tdo_model_set_read_only(tdo_model *m, bool read_only)
{
    m->read_only = read_only;
}

/* Whether m refuses writes. */
bool tdo_model_read_only(const tdo_model *m)
{
    return m->read_only;
}

/* The number of fields of m's primary key: 1, several for a composite
 * key, 0 for none. */
size_t tdo_model_nkey(const tdo_model *m)
{
    return m->pk ? 1 : m->nkey;
}

/* Field i of m's primary key (tdo_model_pk() for a one-field key). */
const tdo_field *tdo_model_key(const tdo_model *m, size_t i)
{
    if (m->pk)
        return i == 0 ? m->pk : NULL;
    return i < m->nkey ? m->key[i] : NULL;
}

/* OperationalError unless m takes writes (what names the operation). */
tdo_status tdo_model_check_writable_(const tdo_model *m, const char *what,
                                     tdo_error *err)
{
    if (!m->read_only)
        return TDO_OK;
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "cannot %s: model '%s' is read-only (it reads "
                         "\"%s\", a view or a table declared read_only)",
                         what, m->name, m->table);
}

/* Adds an index (unique: unique_together) over the named fields; the
 * names are checked by tdo_model_finish(). */
tdo_status tdo_model_add_index(tdo_model *m, const char *const *fields,
                               size_t n, bool unique, tdo_error *err)
{
    if (n == 0)
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "empty %s on model '%s'",
                             unique ? "unique_together" : "index", m->name);
    for (size_t i = 0; i < n; i++)
        if (!fields[i] || !*fields[i])
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "empty field name in an index of model "
                                 "'%s'",
                                 m->name);
    return add_index_copy(m, fields, n, unique, err);
}

/* Ends the declaration: adds the `id` primary key when m (not abstract,
 * not read-only, no tdo_model_set_key()) has none, checks columns and
 * indexes. */
tdo_status tdo_model_finish(tdo_model *m, tdo_error *err)
{
    tdo_status st;
    if (m->keyset && (st = bind_key(m, err)))
        return st;
    if (!m->pk && !m->abstract && !m->keyset && !m->read_only) {
        tdo_field *id = find_field(m, "id");
        if (id)
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "model '%s' has a field 'id' that is not "
                                 "the primary key (mark it primary_key or "
                                 "declare another primary key)",
                                 m->name);
        tdo_field_decl t = tdo_field_template("id", TDO_F_INT);
        t.flags = TDO_FIELD_PK;
        tdo_field *nf = NULL;
        if ((st = tdo_field_make_(m, &t, &nf, err)))
            return st;
        if ((st = insert_field(m, nf, 0, err)))
            return st;
    }
    for (size_t i = 0; i < m->nfields; i++) {
        const tdo_field *a = m->fields[i];
        if (!a->column)
            continue;
        for (size_t j = 0; j < i; j++) {
            const tdo_field *b = m->fields[j];
            if (b->column && strcmp(a->column, b->column) == 0)
                return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                     "fields '%s' and '%s' of model '%s' "
                                     "use the same column '%s'",
                                     b->name, a->name, m->name, a->column);
        }
    }
    for (size_t i = 0; i < m->nindexes; i++)
        for (size_t j = 0; j < m->indexes[i].n; j++) {
            const char *n = m->indexes[i].fields[j];
            const tdo_field *f = tdo_model_field_by_name(m, n);
            if (!f || (f->type == TDO_F_M2M))
                return tdo_model_field_error(m, n, err);
        }
    m->finished = true;
    return TDO_OK;
}

/* Finds the live model named by ref: "app.Model", or "Model" in the app
 * of m. */
tdo_model *tdo_model_lookup_ref_(const tdo_ctx *ctx, const tdo_model *m,
                                 const char *ref)
{
    const char *dot = strrchr(ref, '.');
    if (!dot)
        return tdo_ctx_model(ctx, m->app, ref);
    size_t applen = (size_t)(dot - ref);
    for (size_t i = 0; i < ctx->nmodels; i++) {
        tdo_model *r = ctx->models[i];
        if (strlen(r->app) == applen && memcmp(r->app, ref, applen) == 0 &&
            strcmp(r->name, dot + 1) == 0)
            return r;
    }
    return NULL;
}

/* Binds the string references of every live, non-abstract model, then
 * builds the relations (forward and reverse, m2m through tables); on
 * failure the error lists every reference that failed or every clash. */
tdo_status tdo_ctx_resolve(tdo_ctx *ctx, tdo_error *err)
{
    tdo_sb msg = TDO_SB_INIT;
    size_t nbad = 0;
    for (size_t i = 0; i < ctx->nmodels; i++) {
        tdo_model *m = ctx->models[i];
        if (m->abstract)
            continue;
        for (size_t j = 0; j < m->nfields; j++) {
            tdo_field *f = m->fields[j];
            if (f->type != TDO_F_FK && f->type != TDO_F_O2O &&
                f->type != TDO_F_M2M)
                continue;
            const char *why = NULL;
            char whybuf[160];
            tdo_model *r = NULL;
            if (!f->related_ref || !*f->related_ref) {
                why = "has no related model";
            } else {
                r = tdo_model_lookup_ref_(ctx, m, f->related_ref);
                if (!r)
                    why = "refers to unknown model";
                else if (r->abstract)
                    why = "refers to abstract model";
                else if (!r->pk)
                    why = "refers to a model without a one-field primary "
                          "key:";
                else if (f->type == TDO_F_M2M && !m->pk)
                    why = "is on a model without a one-field primary key "
                          "and refers to";
            }
            const tdo_field *to = NULL;
            if (!why && f->to_field && *f->to_field) {
                to = f->type == TDO_F_M2M ? NULL : find_field(r, f->to_field);
                if (f->type == TDO_F_M2M)
                    why = "has a to_field (only foreign keys have one); it "
                          "refers to";
                else if (!to || to->type == TDO_F_M2M)
                    why = "names no field of";
                else if (!(to->flags & (TDO_FIELD_UNIQUE | TDO_FIELD_PK)))
                    why = "names a field that is not unique on";
                if (why && f->type != TDO_F_M2M) {
                    snprintf(whybuf, sizeof whybuf,
                             "has to_field '%.60s': it %s", f->to_field, why);
                    why = whybuf;
                }
            }
            if (!why) {
                f->related_model = r;
                f->to_target = to && to != r->pk ? to : NULL;
                continue;
            }
            f->related_model = NULL;
            f->to_target = NULL;
            tdo_sb_adds(&msg, nbad ? "; " : "");
            tdo_sb_addf(&msg, "%s '%s' on model '%s' %s",
                        tdo_field_type_name(f->type), f->name, m->name, why);
            if (f->related_ref && strchr(f->related_ref, '.'))
                tdo_sb_addf(&msg, " '%s'", f->related_ref);
            else if (f->related_ref && *f->related_ref)
                tdo_sb_addf(&msg, " '%s.%s'", m->app, f->related_ref);
            nbad++;
        }
    }
    if (!nbad) {
        tdo_sb_release(&msg);
        return tdo_relations_build_(ctx, err);
    }
    tdo_status st;
    if (msg.oom)
        st = tdo_nomem(err);
    else if (nbad == 1)
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION, "%s", msg.buf);
    else
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION,
                           "%zu relations cannot be resolved: %s", nbad,
                           msg.buf);
    tdo_sb_release(&msg);
    return st;
}

/* ---- accessors ---------------------------------------------------- */

/* Returns the model's name ("User"); belongs to m. */
const char *tdo_model_name(const tdo_model *m)
{
    return m->name;
}

/* Returns the model's app label ("models"); belongs to m. */
const char *tdo_model_app(const tdo_model *m)
{
    return m->app;
}

/* Returns the model's table name; belongs to m. */
const char *tdo_model_table(const tdo_model *m)
{
    return m->table;
}

/* Returns the model's description or NULL; belongs to m. */
const char *tdo_model_description(const tdo_model *m)
{
    return m->description;
}

/* Returns whether m is abstract. */
bool tdo_model_abstract(const tdo_model *m)
{
    return m->abstract;
}

/* Returns the number of fields of m (m2m included). */
size_t tdo_model_nfields(const tdo_model *m)
{
    return m->nfields;
}

/* Returns the i-th field in declaration order, NULL past the end. */
const tdo_field *tdo_model_field(const tdo_model *m, size_t i)
{
    return i < m->nfields ? m->fields[i] : NULL;
}

/* Finds a field by attribute name, by column for FK/O2O ("customer_id"),
 * or "pk" for the primary key; NULL if none. */
const tdo_field *tdo_model_field_by_name(const tdo_model *m, const char *name)
{
    if (!name)
        return NULL;
    const tdo_field *f = find_field(m, name);
    if (f)
        return f;
    for (size_t i = 0; i < m->nfields; i++) {
        f = m->fields[i];
        if ((f->type == TDO_F_FK || f->type == TDO_F_O2O) && f->column &&
            strcmp(f->column, name) == 0)
            return f;
    }
    /* "<fk>_id" reads a foreign key's raw value whatever its column
     * (source_field) is called */
    size_t n = strlen(name);
    for (size_t i = 0; n > 3 && i < m->nfields; i++) {
        f = m->fields[i];
        if ((f->type == TDO_F_FK || f->type == TDO_F_O2O) &&
            strcmp(name + n - 3, "_id") == 0 && strlen(f->name) == n - 3 &&
            strncmp(f->name, name, n - 3) == 0)
            return f;
    }
    if (strcmp(name, "pk") == 0)
        return m->pk;
    return NULL;
}

/* Returns the primary key field, NULL before tdo_model_finish() when none
 * was declared. */
const tdo_field *tdo_model_pk(const tdo_model *m)
{
    return m->pk;
}

/* Returns the number of indexes (unique_together included). */
size_t tdo_model_nindexes(const tdo_model *m)
{
    return m->nindexes;
}

/* Returns the field names of the i-th index (belong to m), with their
 * count in *nfields and whether it is unique_together in *unique; NULL
 * past the end. */
const char *const *tdo_model_index(const tdo_model *m, size_t i,
                                   size_t *nfields, bool *unique)
{
    if (i >= m->nindexes) {
        if (nfields)
            *nfields = 0;
        return NULL;
    }
    if (nfields)
        *nfields = m->indexes[i].n;
    if (unique)
        *unique = m->indexes[i].unique;
    return (const char *const *)m->indexes[i].fields;
}

/* Returns the caller's opaque pointer. */
void *tdo_model_userdata(const tdo_model *m)
{
    return m->userdata;
}

/* Sets the caller's opaque pointer. */
void tdo_model_set_userdata(tdo_model *m, void *ud)
{
    m->userdata = ud;
}

/* Writes FieldError "no such field 'x' on model 'M' (fields: a, b, ...)"
 * and returns TDO_ERR_FIELD. */
tdo_status tdo_model_field_error(const tdo_model *m, const char *name,
                                 tdo_error *err)
{
    tdo_sb sb = TDO_SB_INIT;
    for (size_t i = 0; i < m->nfields; i++)
        tdo_sb_addf(&sb, "%s%s", i ? ", " : "", m->fields[i]->name);
    tdo_status st = tdo_error_set(err, TDO_ERR_FIELD,
                                  "no such field '%s' on model '%s' "
                                  "(fields: %s)",
                                  name ? name : "", m->name, sb.buf);
    tdo_sb_release(&sb);
    return st;
}
