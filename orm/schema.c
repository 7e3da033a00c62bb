/*
 * schema.c -- DDL from the registry, through a schema state (a JSON tree
 * of the tables, the one description migrations compare): CREATE TABLE
 * per non-abstract model (relation targets first; on a cycle the foreign
 * keys to later tables are added by ALTER TABLE where the dialect can),
 * CREATE INDEX for index=true fields and Meta.indexes, UNIQUE
 * constraints for unique_together, then the automatic many-to-many
 * through tables.
 */
#include "tdo_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>

static bool has_column(const tdo_field *f)
{
    return f->type != TDO_F_M2M && f->column;
}

static const char *on_delete_sql(tdo_on_delete od)
{
    switch (od) {
    case TDO_CASCADE:
        return "CASCADE";
    case TDO_RESTRICT:
        return "RESTRICT";
    case TDO_SET_NULL:
        return "SET NULL";
    case TDO_SET_DEFAULT:
        return "SET DEFAULT";
    case TDO_NO_ACTION:
        return "NO ACTION";
    }
    return "CASCADE";
}

/* 32-bit FNV-1a over the NUL-separated strings. */
static uint32_t hash_add(uint32_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    h ^= 0xff; /* separator */
    h *= 16777619u;
    return h;
}

/* Appends a deterministic constraint/index name of at most 63 bytes:
 * <prefix>_<table>_<col>_<col>..._<6 hex digits of a hash of all>. */
static void index_name(tdo_sb *sb, const char *prefix, const char *table,
                       const char *const *cols, size_t n)
{
    uint32_t h = hash_add(2166136261u, prefix);
    h = hash_add(h, table);
    tdo_sb mid = TDO_SB_INIT;
    tdo_sb_adds(&mid, table);
    for (size_t i = 0; i < n; i++) {
        h = hash_add(h, cols[i]);
        tdo_sb_addc(&mid, '_');
        tdo_sb_adds(&mid, cols[i]);
    }
    /* prefix + '_' + mid + '_' + 6 hex <= 63 */
    size_t room = 63 - strlen(prefix) - 1 - 1 - 6;
    size_t len = mid.len < room ? mid.len : room;
    tdo_sb_adds(sb, prefix);
    tdo_sb_addc(sb, '_');
    tdo_sb_add(sb, mid.buf, len);
    tdo_sb_addf(sb, "_%06" PRIx32, h & 0xffffff);
    if (mid.oom)
        sb->oom = true;
    tdo_sb_release(&mid);
}

/* Appends a DEFAULT clause: the field's db_default, else its simple
 * constant default. */
static void default_clause(tdo_sb *sb, const tdo_dialect *d, const tdo_field *f)
{
    if (f->db_default) {
        tdo_sb_addf(sb, " DEFAULT %s", f->db_default);
        return;
    }
    if (!(f->flags & TDO_FIELD_CONST_DEFAULT) || (f->flags & TDO_FIELD_PK))
        return;
    const tdo_value *v = &f->default_value;
    char buf[64];
    switch (v->type) {
    case TDO_BOOL:
        if (d->features & TDO_DF_BOOL_LITERALS)
            tdo_sb_adds(sb, v->u.b ? " DEFAULT TRUE" : " DEFAULT FALSE");
        else
            tdo_sb_adds(sb, v->u.b ? " DEFAULT 1" : " DEFAULT 0");
        break;
    case TDO_INT:
        if (f->type == TDO_F_BOOL)
            tdo_sb_adds(sb, v->u.i ? " DEFAULT 1" : " DEFAULT 0");
        else
            tdo_sb_addf(sb, " DEFAULT %" PRId64, v->u.i);
        break;
    case TDO_DOUBLE:
        if (isfinite(v->u.d)) {
            tdo_sb_adds(sb, " DEFAULT ");
            tdo_value_format(sb, v, false);
        }
        break;
    case TDO_DECIMAL:
        tdo_decimal_format(&v->u.dec, buf, sizeof(buf));
        tdo_sb_addf(sb, " DEFAULT %s", buf);
        break;
    case TDO_TEXT:
        if (f->type != TDO_F_CHAR && f->type != TDO_F_CHARENUM &&
            f->type != TDO_F_TEXT)
            break;
        if (memchr(v->u.s.ptr, '\0', v->u.s.len))
            break;
        tdo_sb_adds(sb, " DEFAULT '");
        for (size_t i = 0; i < v->u.s.len; i++) {
            if (v->u.s.ptr[i] == '\'')
                tdo_sb_addc(sb, '\'');
            tdo_sb_addc(sb, v->u.s.ptr[i]);
        }
        tdo_sb_addc(sb, '\'');
        break;
    default:
        break;
    }
}

/* Appends ("a", "b") of the columns of the named fields; FieldError for
 * an unknown name. */
static tdo_status column_list(tdo_sb *sb, const tdo_dialect *d,
                              const tdo_model *m, const char *const *names,
                              size_t n, const char **cols, tdo_error *err)
{
    tdo_sb_adds(sb, "(");
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f = tdo_model_field_by_name(m, names[i]);
        if (!f || !has_column(f))
            return tdo_model_field_error(m, names[i], err);
        cols[i] = f->column;
        if (i)
            tdo_sb_adds(sb, ", ");
        d->quote_ident(sb, f->column);
    }
    tdo_sb_adds(sb, ")");
    return TDO_OK;
}

/* The most columns one index of m names (at least 1). */
static size_t widest_index(const tdo_model *m)
{
    size_t maxn = 1;
    for (size_t i = 0; i < tdo_model_nindexes(m); i++) {
        size_t n;
        tdo_model_index(m, i, &n, NULL);
        if (n > maxn)
            maxn = n;
    }
    return maxn;
}

/* Whether every relation target of m among todo[0..n) is done or m. */
static bool ready(const tdo_model *m, tdo_model *const *todo, size_t n)
{
    size_t nf = tdo_model_nfields(m);
    for (size_t i = 0; i < nf; i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!tdo_field_is_fk_(f) || !f->related_model || f->related_model == m)
            continue;
        for (size_t j = 0; j < n; j++)
            if (todo[j] == f->related_model)
                return false;
    }
    return true;
}

/* ---- the schema as a state ------------------------------------------ */
/*
 * The schema of a registry for one dialect is first written as a state:
 * a JSON tree of its tables in creation order (relation targets first,
 * then the automatic many-to-many through tables), each with its columns
 * (name, type as the dialect writes it, null, pk, generated, unique,
 * default as SQL text, fk {table, column, on_delete}), its composite key,
 * named unique constraints and named indexes.  The DDL is written from the
 * state (tdo_schema_sql), and migrations compare two states.
 */

const char *tdo_jstr_(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

bool tdo_jflag_(const json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

/* Sets key of o to v (a new reference, may be NULL); false when either
 * is missing (out of memory). */
static bool put(json_t *o, const char *key, json_t *v)
{
    return o && v && json_object_set_new(o, key, v) == 0;
}

static bool append(json_t *a, json_t *v)
{
    return a && v && json_array_append_new(a, v) == 0;
}

/* A JSON array of the strings cols[0..n). */
static json_t *names_array(const char *const *cols, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (!append(a, json_string(cols[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"name": <prefix>_..., "columns": [...], "unique": unique} */
static json_t *index_state(const char *prefix, const char *table,
                           const char *const *cols, size_t n, bool unique)
{
    tdo_sb name = TDO_SB_INIT;
    index_name(&name, prefix, table, cols, n);
    json_t *o = json_object();
    bool ok = !name.oom && put(o, "name", json_string(name.buf)) &&
              put(o, "columns", names_array(cols, n)) &&
              put(o, "unique", json_boolean(unique));
    tdo_sb_release(&name);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The deterministic name of a one-column constraint: <prefix>_<table>_
 * <column>_<hash>, as a new JSON string. */
static json_t *constraint_name(const char *prefix, const char *table,
                               const char *col)
{
    tdo_sb name = TDO_SB_INIT;
    index_name(&name, prefix, table, &col, 1);
    json_t *j = name.oom ? NULL : json_string(name.buf);
    tdo_sb_release(&name);
    return j;
}

/* {"name", "table", "column", "on_delete"} of column col of table to
 * model rm by key (NULL: its primary key). */
static json_t *fk_state(const char *table, const char *col, const tdo_model *rm,
                        const tdo_field *key, tdo_on_delete od)
{
    const tdo_field *rpk = key ? key : tdo_model_pk(rm);
    if (!rpk || !rpk->column)
        return json_null();
    return json_pack("{s:o, s:s, s:s, s:s}", "name",
                     constraint_name("fk", table, col), "table",
                     tdo_model_table(rm), "column", rpk->column, "on_delete",
                     on_delete_sql(od));
}

/* One column: f of a model, or (f NULL) a through table's key column
 * named col to target. */
static json_t *column_state(const tdo_dialect *d, const char *table,
                            const tdo_field *f)
{
    tdo_sb type = TDO_SB_INIT, def = TDO_SB_INIT;
    d->column_type(&type, f);
    default_clause(&def, d, f);
    bool pk = f->flags & TDO_FIELD_PK;
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:b, s:b, s:b}", "name", f->column, "type", type.buf,
        "null", !pk && (f->flags & TDO_FIELD_NULL), "pk", pk, "generated",
        pk && (f->flags & TDO_FIELD_GENERATED), "unique",
        !pk && ((f->flags & TDO_FIELD_UNIQUE) || f->type == TDO_F_O2O));
    bool ok = o && !type.oom && !def.oom;
    if (ok && def.len) /* " DEFAULT x" */
        ok = put(o, "default", json_string(def.buf + 9));
    if (ok && tdo_jflag_(o, "unique"))
        ok = put(o, "unique_name", constraint_name("uniq", table, f->column));
    if (ok && tdo_field_is_fk_(f) && (f->flags & TDO_FIELD_DB_CONSTRAINT) &&
        f->related_model)
        ok = put(o, "fk",
                 fk_state(table, f->column, f->related_model,
                          tdo_field_key_target(f), f->on_delete));
    tdo_sb_release(&type);
    tdo_sb_release(&def);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The state of one model's table. */
static tdo_status model_state(const tdo_dialect *d, const tdo_model *m,
                              json_t **out, tdo_error *err)
{
    const char *table = tdo_model_table(m);
    json_t *t = json_object(), *cols = json_array(), *uniq = json_array(),
           *idx = json_array();
    tdo_sb label = TDO_SB_INIT;
    tdo_sb_addf(&label, "%s.%s", tdo_model_app(m), tdo_model_name(m));
    bool ok = put(t, "table", json_string(table)) &&
              put(t, "model", json_string(label.buf)) && !label.oom;
    tdo_sb_release(&label);
    for (size_t i = 0; ok && i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (has_column(f))
            ok = append(cols, column_state(d, table, f));
    }
    if (ok && tdo_model_nkey(m) > 1) {
        json_t *pk = json_array();
        for (size_t i = 0; i < tdo_model_nkey(m); i++)
            ok = ok && append(pk, json_string(tdo_model_key(m, i)->column));
        ok = ok && put(t, "primary_key", pk);
    }
    const char **cc = tdo_calloc(widest_index(m), sizeof(*cc));
    tdo_status st = cc ? TDO_OK : tdo_nomem(err);
    /* each indexed column (not the key nor a unique one: indexed
     * already), then Meta.indexes: unique ones as constraints */
    for (size_t i = 0; ok && !st && i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!has_column(f) || !(f->flags & TDO_FIELD_INDEX) ||
            (f->flags & (TDO_FIELD_PK | TDO_FIELD_UNIQUE)) ||
            f->type == TDO_F_O2O)
            continue;
        const char *c = f->column;
        ok = append(idx, index_state("idx", table, &c, 1, false));
    }
    for (size_t i = 0; ok && !st && i < tdo_model_nindexes(m); i++) {
        size_t n;
        bool unique;
        const char *const *names = tdo_model_index(m, i, &n, &unique);
        if (!n)
            continue;
        tdo_sb list = TDO_SB_INIT;
        st = column_list(&list, d, m, names, n, cc, err);
        tdo_sb_release(&list);
        if (!st)
            ok = unique ? append(uniq, index_state("uid", table, cc, n, true))
                        : append(idx, index_state("idx", table, cc, n, false));
    }
    tdo_free(cc);
    ok = ok && put(t, "columns", cols) && put(t, "uniques", uniq) &&
         put(t, "indexes", idx);
    if (!ok || st) {
        if (!put(t, "columns", cols))
            json_decref(cols);
        json_decref(uniq);
        json_decref(idx);
        json_decref(t);
        return st ? st : tdo_nomem(err);
    }
    *out = t;
    return TDO_OK;
}

/* A through table's key column col to target. */
static json_t *through_state(const tdo_dialect *d, const char *table,
                             const char *col, tdo_model *target, bool refs)
{
    tdo_field f = tdo_field_scratch_(col, TDO_F_FK);
    f.column = (char *)col; /* read, never freed */
    f.related_model = target;
    tdo_sb type = TDO_SB_INIT;
    d->column_type(&type, &f);
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:b, s:b, s:b}", "name", col, "type",
                  type.buf, "null", 0, "pk", 0, "generated", 0, "unique", 0);
    bool ok = o && !type.oom;
    tdo_sb_release(&type);
    if (ok && refs)
        ok = put(o, "fk", fk_state(table, col, target, NULL, TDO_CASCADE));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Appends the automatic through tables of the m2m relations of every
 * model of ctx (or of only): the two key columns (ON DELETE CASCADE), a
 * unique index on the pair and an index on the target column. */
static bool through_states(json_t *tables, const tdo_dialect *d,
                           const tdo_ctx *ctx, const tdo_model *only,
                           const char *app)
{
    size_t nm = tdo_ctx_nmodels(ctx);
    bool ok = true;
    for (size_t i = 0; ok && i < nm; i++) {
        const tdo_model *m = tdo_ctx_model_at(ctx, i);
        if (tdo_model_abstract(m) || (only && m != only) ||
            (app && strcmp(tdo_model_app(m), app)))
            continue;
        for (size_t k = 0; ok && k < tdo_model_nrelations(m); k++) {
            const tdo_relation *r = tdo_model_relation(m, k);
            if (r->kind != TDO_REL_M2M || r->through_model)
                continue;
            bool seen = false;
            for (size_t j = 0; j < json_array_size(tables) && !seen; j++)
                seen = !strcmp(json_string_value(json_object_get(
                                   json_array_get(tables, j), "table")),
                               r->through);
            if (seen)
                continue;
            bool refs = r->field->flags & TDO_FIELD_DB_CONSTRAINT;
            const char *cols[2] = {r->source_column, r->target_column};
            json_t *t = json_object(), *c = json_array(), *ix = json_array();
            ok = put(t, "table", json_string(r->through)) &&
                 put(t, "model", json_null()) &&
                 append(c, through_state(d, r->through, cols[0], r->model,
                                         refs)) &&
                 append(c, through_state(d, r->through, cols[1], r->target,
                                         refs)) &&
                 put(t, "columns", c) && put(t, "uniques", json_array()) &&
                 append(ix, index_state("uidx", r->through, cols, 2, true)) &&
                 append(ix,
                        index_state("idx", r->through, &cols[1], 1, false)) &&
                 put(t, "indexes", ix) && append(tables, t);
            if (!ok) {
                json_decref(c);
                json_decref(ix);
                json_decref(t);
            }
        }
    }
    return ok;
}

/* The schema state of ctx (see testudo.h). */
tdo_status tdo_schema_state(const tdo_ctx *ctx, const tdo_dialect *d,
                            const tdo_model *only, const char *app,
                            struct json_t **out, tdo_error *err)
{
    *out = NULL;
    size_t nm = tdo_ctx_nmodels(ctx), n = 0;
    tdo_model **todo = tdo_calloc(nm ? nm : 1, sizeof(*todo));
    json_t *tables = json_array();
    if (!todo || !tables) {
        tdo_free(todo);
        json_decref(tables);
        return tdo_nomem(err);
    }
    for (size_t i = 0; i < nm; i++) {
        tdo_model *m = tdo_ctx_model_at(ctx, i);
        if ((!only || m == only) && !tdo_model_abstract(m) &&
            !tdo_model_read_only(m) &&
            (!app || (!strcmp(tdo_model_app(m), app) && !m->introspected)))
            todo[n++] = m;
    }
    tdo_status st = TDO_OK;
    while (n && !st) {
        /* the first model whose targets are all made; on a cycle the
         * first one left (its keys to later tables come after) */
        size_t pick = 0;
        for (size_t i = 0; i < n; i++)
            if (ready(todo[i], todo, n)) {
                pick = i;
                break;
            }
        json_t *t = NULL;
        st = model_state(d, todo[pick], &t, err);
        if (!st && !append(tables, t))
            st = tdo_nomem(err);
        memmove(todo + pick, todo + pick + 1, (n - pick - 1) * sizeof(*todo));
        n--;
    }
    tdo_free(todo);
    if (!st && !through_states(tables, d, ctx, only, app))
        st = tdo_nomem(err);
    json_t *state = st ? NULL
                       : json_pack("{s:i, s:s, s:o}", "version", 1, "dialect",
                                   d->name, "tables", tables);
    if (st || !state) {
        if (!state)
            json_decref(tables);
        return st ? st : tdo_nomem(err);
    }
    *out = state;
    return TDO_OK;
}

/* ---- DDL from a state ------------------------------------------------ */

/* Appends ("a", "b") of a JSON array of column names. */
void tdo_ddl_names_(tdo_sb *sb, const tdo_dialect *d, const json_t *cols)
{
    size_t i;
    json_t *c;
    tdo_sb_adds(sb, "(");
    json_array_foreach(cols, i, c)
    {
        if (i)
            tdo_sb_adds(sb, ", ");
        d->quote_ident(sb, json_string_value(c));
    }
    tdo_sb_adds(sb, ")");
}

/* Appends " REFERENCES "t" ("c") ON DELETE x" of a column's fk. */
static void references_of(tdo_sb *sb, const tdo_dialect *d, const json_t *fk)
{
    tdo_sb_adds(sb, " REFERENCES ");
    d->quote_ident(sb, tdo_jstr_(fk, "table"));
    tdo_sb_adds(sb, " (");
    d->quote_ident(sb, tdo_jstr_(fk, "column"));
    tdo_sb_addf(sb, ") ON DELETE %s", tdo_jstr_(fk, "on_delete"));
}

/* Appends a column definition (its constraints are the table's). */
void tdo_ddl_column_(tdo_sb *sb, const tdo_dialect *d, const json_t *c)
{
    d->quote_ident(sb, tdo_jstr_(c, "name"));
    tdo_sb_addc(sb, ' ');
    tdo_sb_adds(sb, tdo_jstr_(c, "type"));
    bool pk = tdo_jflag_(c, "pk");
    if (pk && tdo_jflag_(c, "generated")) {
        tdo_sb_adds(sb, " NOT NULL"); /* the type carries the key clause */
        return;
    }
    if (!tdo_jflag_(c, "null"))
        tdo_sb_adds(sb, " NOT NULL");
    if (pk)
        tdo_sb_adds(sb, " PRIMARY KEY");
    if (tdo_jstr_(c, "default"))
        tdo_sb_addf(sb, " DEFAULT %s", tdo_jstr_(c, "default"));
}

/* Appends CONSTRAINT "name" UNIQUE ("c"). */
void tdo_ddl_unique_(tdo_sb *sb, const tdo_dialect *d, const json_t *c)
{
    tdo_sb_adds(sb, "CONSTRAINT ");
    d->quote_ident(sb, tdo_jstr_(c, "unique_name"));
    tdo_sb_adds(sb, " UNIQUE (");
    d->quote_ident(sb, tdo_jstr_(c, "name"));
    tdo_sb_adds(sb, ")");
}

/* Appends CONSTRAINT "fk_.." FOREIGN KEY ("c") REFERENCES .. of column
 * c. */
void tdo_ddl_fk_(tdo_sb *sb, const tdo_dialect *d, const json_t *c)
{
    const json_t *fk = json_object_get(c, "fk");
    tdo_sb_adds(sb, "CONSTRAINT ");
    d->quote_ident(sb, tdo_jstr_(fk, "name"));
    tdo_sb_adds(sb, " FOREIGN KEY (");
    d->quote_ident(sb, tdo_jstr_(c, "name"));
    tdo_sb_adds(sb, ")");
    references_of(sb, d, fk);
}

/* Whether the table named is among tables[from..). */
static bool made_later(const json_t *tables, size_t from, const char *name)
{
    for (size_t i = from; i < json_array_size(tables); i++)
        if (!strcmp(tdo_jstr_(json_array_get(tables, i), "table"), name))
            return true;
    return false;
}

/* Whether column c's fk is written inline in table t at position pos
 * (not deferred to an ALTER TABLE because its target comes later). */
static bool fk_inline(const tdo_dialect *d, const json_t *tables, size_t pos,
                      const json_t *t, const json_t *c)
{
    const json_t *fk = json_object_get(c, "fk");
    if (!json_is_object(fk))
        return false;
    /* without ALTER TABLE (SQLite) references are always inline: they
     * are checked when rows change, not when tables are made */
    if (!(d->features & TDO_DF_FK_ALTER))
        return true;
    const char *target = tdo_jstr_(fk, "table");
    return !strcmp(target, tdo_jstr_(t, "table")) ||
           !made_later(tables, pos + 1, target);
}

/* Appends CREATE INDEX of index ix (its JSON) on table. */
void tdo_ddl_index_(tdo_sb *sb, const tdo_dialect *d, const char *table,
                    const json_t *ix, bool safe)
{
    tdo_sb_adds(sb, tdo_jflag_(ix, "unique") ? "CREATE UNIQUE INDEX "
                                             : "CREATE INDEX ");
    if (safe)
        tdo_sb_adds(sb, "IF NOT EXISTS ");
    d->quote_ident(sb, tdo_jstr_(ix, "name"));
    tdo_sb_adds(sb, " ON ");
    d->quote_ident(sb, table);
    tdo_sb_addc(sb, ' ');
    tdo_ddl_names_(sb, d, json_object_get(ix, "columns"));
}

/* Appends CREATE TABLE of table t (named as, or its own name when as is
 * NULL) without its indexes; its foreign keys inline unless fk_inline
 * says otherwise for position pos of tables (tables NULL: all inline). */
void tdo_ddl_create_table_(tdo_sb *sb, const tdo_dialect *d, const json_t *t,
                           const char *as, const json_t *tables, size_t pos,
                           bool safe)
{
    tdo_sb_adds(sb, safe ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
    d->quote_ident(sb, as ? as : tdo_jstr_(t, "table"));
    tdo_sb_adds(sb, " (");
    bool any = false;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        tdo_sb_adds(sb, any ? ",\n    " : "\n    ");
        tdo_ddl_column_(sb, d, c);
        any = true;
    }
    const json_t *pk = json_object_get(t, "primary_key");
    if (json_array_size(pk)) {
        tdo_sb_adds(sb, any ? ",\n    PRIMARY KEY " : "\n    PRIMARY KEY ");
        tdo_ddl_names_(sb, d, pk);
        any = true;
    }
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (tdo_jflag_(c, "unique")) {
            tdo_sb_adds(sb, any ? ",\n    " : "\n    ");
            tdo_ddl_unique_(sb, d, c);
            any = true;
        }
        if (json_is_object(json_object_get(c, "fk")) &&
            (!tables || fk_inline(d, tables, pos, t, c))) {
            tdo_sb_adds(sb, any ? ",\n    " : "\n    ");
            tdo_ddl_fk_(sb, d, c);
            any = true;
        }
    }
    json_array_foreach(json_object_get(t, "uniques"), i, c)
    {
        tdo_sb_adds(sb, any ? ",\n    CONSTRAINT " : "\n    CONSTRAINT ");
        any = true;
        d->quote_ident(sb, tdo_jstr_(c, "name"));
        tdo_sb_adds(sb, " UNIQUE ");
        tdo_ddl_names_(sb, d, json_object_get(c, "columns"));
    }
    tdo_sb_adds(sb, "\n)");
    if (d->table_options)
        tdo_sb_adds(sb, d->table_options);
}

/* Appends CREATE TABLE and the indexes of table pos of the state. */
static void table_sql(tdo_sb *sb, const tdo_dialect *d, const json_t *tables,
                      size_t pos, bool safe)
{
    const json_t *t = json_array_get(tables, pos);
    tdo_ddl_create_table_(sb, d, t, NULL, tables, pos, safe);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "indexes"), i, c)
    {
        tdo_sb_adds(sb, ";\n");
        tdo_ddl_index_(sb, d, tdo_jstr_(t, "table"), c, safe);
    }
}

/* Appends ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY for column c of
 * table t. */
void tdo_ddl_add_fk_(tdo_sb *sb, const tdo_dialect *d, const json_t *t,
                     const json_t *c)
{
    tdo_sb_adds(sb, "ALTER TABLE ");
    d->quote_ident(sb, tdo_jstr_(t, "table"));
    tdo_sb_adds(sb, " ADD ");
    tdo_ddl_fk_(sb, d, c);
}

/* Appends the DDL of a state (see testudo.h). */
tdo_status tdo_state_sql(tdo_sb *sb, const tdo_dialect *d,
                         const struct json_t *state, bool safe)
{
    const json_t *tables = json_object_get(state, "tables");
    size_t n = json_array_size(tables);
    bool first = true;
    /* the models' tables, the foreign keys to tables made later (cycles),
     * then the through tables (model null) */
    for (int pass = 0; pass < 3; pass++)
        for (size_t pos = 0; pos < n; pos++) {
            const json_t *t = json_array_get(tables, pos);
            bool through = json_is_null(json_object_get(t, "model"));
            if (pass == 1) {
                size_t i;
                json_t *c;
                json_array_foreach(json_object_get(t, "columns"), i, c)
                {
                    if (!json_is_object(json_object_get(c, "fk")) ||
                        fk_inline(d, tables, pos, t, c))
                        continue;
                    tdo_sb_adds(sb, first ? "" : ";\n");
                    first = false;
                    tdo_ddl_add_fk_(sb, d, t, c);
                }
                continue;
            }
            if (through != (pass == 2))
                continue;
            tdo_sb_adds(sb, first ? "" : ";\n");
            first = false;
            table_sql(sb, d, tables, pos, safe);
        }
    if (!first)
        tdo_sb_addc(sb, ';');
    return sb->oom ? TDO_ERR_NOMEM : TDO_OK;
}

/* Returns the DDL of every non-abstract, writable model of ctx (or of
 * only), FK targets first; safe: IF NOT EXISTS.  *out is malloc'd; free() it.
 */
tdo_status tdo_schema_sql(const tdo_ctx *ctx, const tdo_dialect *d,
                          const tdo_model *only, bool safe, char **out,
                          tdo_error *err)
{
    *out = NULL;
    json_t *state = NULL;
    tdo_status st = tdo_schema_state(ctx, d, only, NULL, &state, err);
    if (st)
        return st;
    tdo_sb sb = TDO_SB_INIT;
    st = tdo_state_sql(&sb, d, state, safe);
    json_decref(state);
    if (st || !(*out = tdo_sb_detach(&sb))) {
        tdo_sb_release(&sb);
        return tdo_nomem(err);
    }
    return TDO_OK;
}

/* Drops the tables named (see testudo.h). */
tdo_status tdo_drop_tables(tdo_conn *conn, const char *const *tables, size_t n,
                           tdo_error *err)
{
    if (!n)
        return TDO_OK;
    const tdo_dialect *d = tdo_conn_dialect(conn);
    tdo_sb sb = TDO_SB_INIT;
    if (d->fk_checks_off)
        tdo_sb_addf(&sb, "%s;\n", d->fk_checks_off);
    for (size_t i = 0; i < n; i++) {
        tdo_sb_adds(&sb, "DROP TABLE IF EXISTS ");
        d->quote_ident(&sb, tables[i]);
        if (d->drop_cascade)
            tdo_sb_adds(&sb, d->drop_cascade);
        tdo_sb_adds(&sb, ";\n");
    }
    if (d->fk_checks_on)
        tdo_sb_adds(&sb, d->fk_checks_on);
    tdo_status st =
        sb.oom ? tdo_nomem(err) : tdo_conn_execute_script(conn, sb.buf, err);
    tdo_sb_release(&sb);
    return st;
}

/* Runs the DDL of every non-abstract model of ctx on conn. */
tdo_status tdo_generate_schemas(tdo_ctx *ctx, tdo_conn *conn, bool safe,
                                tdo_error *err)
{
    char *sql = NULL;
    tdo_status st =
        tdo_schema_sql(ctx, tdo_conn_dialect(conn), NULL, safe, &sql, err);
    if (!st && *sql)
        st = tdo_conn_execute_script(conn, sql, err);
    tdo_free(sql);
    return st;
}
