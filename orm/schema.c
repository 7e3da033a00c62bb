/*
 * schema.c -- DDL from the registry: CREATE TABLE per non-abstract model
 * (relation targets first; on a cycle the foreign keys to later tables
 * are added by ALTER TABLE where the dialect can), CREATE INDEX for
 * index=true fields and Meta.indexes, UNIQUE constraints for
 * unique_together, then the automatic many-to-many through tables.
 */
#include "tdo_int.h"

#include <inttypes.h>
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

/* Appends " REFERENCES "t" ("key") ON DELETE x" for a relation to model
 * rm whose key holds field key (NULL: rm's primary key). */
static void references(tdo_sb *sb, const tdo_dialect *d, const tdo_model *rm,
                       const tdo_field *key, tdo_on_delete od)
{
    const tdo_field *rpk = key ? key : tdo_model_pk(rm);
    if (!rpk || !rpk->column)
        return;
    tdo_sb_adds(sb, " REFERENCES ");
    d->quote_ident(sb, tdo_model_table(rm));
    tdo_sb_adds(sb, " (");
    d->quote_ident(sb, rpk->column);
    tdo_sb_addf(sb, ") ON DELETE %s", on_delete_sql(od));
}

/* Whether f gets an FK constraint written inline (not deferred to an
 * ALTER TABLE because its target is created later). */
static bool inline_fk(const tdo_field *f, tdo_model *const *later, size_t n)
{
    if (!tdo_field_is_fk_(f) || !(f->flags & TDO_FIELD_DB_CONSTRAINT) ||
        !f->related_model)
        return false;
    for (size_t i = 0; i < n; i++)
        if (later[i] == f->related_model && later[i] != f->model)
            return false;
    return true;
}

static void column_def(tdo_sb *sb, const tdo_dialect *d, const tdo_field *f,
                       bool refs)
{
    d->quote_ident(sb, f->column);
    tdo_sb_addc(sb, ' ');
    d->column_type(sb, f);
    bool pk = f->flags & TDO_FIELD_PK;
    if (pk && (f->flags & TDO_FIELD_GENERATED)) {
        tdo_sb_adds(sb, " NOT NULL"); /* the type carries the key clause */
        return;
    }
    if (pk || !(f->flags & TDO_FIELD_NULL))
        tdo_sb_adds(sb, " NOT NULL");
    if (pk)
        tdo_sb_adds(sb, " PRIMARY KEY");
    else if ((f->flags & TDO_FIELD_UNIQUE) || f->type == TDO_F_O2O)
        tdo_sb_adds(sb, " UNIQUE");
    default_clause(sb, d, f);
    if (refs)
        references(sb, d, f->related_model, tdo_field_key_target(f),
                   f->on_delete);
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

static void create_index(tdo_sb *sb, const tdo_dialect *d, const char *table,
                         const char *const *cols, size_t n, bool safe)
{
    tdo_sb_adds(sb,
                safe ? ";\nCREATE INDEX IF NOT EXISTS " : ";\nCREATE INDEX ");
    tdo_sb name = TDO_SB_INIT;
    index_name(&name, "idx", table, cols, n);
    d->quote_ident(sb, name.buf);
    if (name.oom)
        sb->oom = true;
    tdo_sb_release(&name);
    tdo_sb_adds(sb, " ON ");
    d->quote_ident(sb, table);
    tdo_sb_adds(sb, " (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            tdo_sb_adds(sb, ", ");
        d->quote_ident(sb, cols[i]);
    }
    tdo_sb_adds(sb, ")");
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

/* Appends the column definitions of m (references inline unless made
 * later by ALTER TABLE); *any: something was written. */
static void column_defs(tdo_sb *sb, const tdo_dialect *d, const tdo_model *m,
                        tdo_model *const *later, size_t nlater, bool *any)
{
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!has_column(f))
            continue; /* issue 4: m2m through tables are made after all */
        tdo_sb_adds(sb, *any ? ",\n    " : "\n    ");
        /* without ALTER TABLE (SQLite) references are always inline:
         * they are checked when rows change, not when tables are made */
        bool alter = d->features & TDO_DF_FK_ALTER;
        column_def(sb, d, f,
                   alter ? inline_fk(f, later, nlater) : inline_fk(f, NULL, 0));
        *any = true;
    }
}

/* Appends a named CONSTRAINT .. UNIQUE (..) for each unique_together of
 * m; cols: room for the widest index. */
static tdo_status unique_constraints(tdo_sb *sb, const tdo_dialect *d,
                                     const tdo_model *m, const char **cols,
                                     bool any, tdo_error *err)
{
    for (size_t i = 0; i < tdo_model_nindexes(m); i++) {
        size_t n;
        bool unique;
        const char *const *names = tdo_model_index(m, i, &n, &unique);
        if (!unique || !n)
            continue;
        tdo_sb_adds(sb, any ? ",\n    CONSTRAINT " : "\n    CONSTRAINT ");
        any = true;
        tdo_sb list = TDO_SB_INIT, name = TDO_SB_INIT;
        tdo_status st = column_list(&list, d, m, names, n, cols, err);
        if (!st) {
            index_name(&name, "uid", tdo_model_table(m), cols, n);
            d->quote_ident(sb, name.buf);
            tdo_sb_adds(sb, " UNIQUE ");
            tdo_sb_add(sb, list.buf, list.len);
            if (list.oom || name.oom)
                sb->oom = true;
        }
        tdo_sb_release(&list);
        tdo_sb_release(&name);
        if (st)
            return st;
    }
    return TDO_OK;
}

/* Appends a CREATE INDEX for each indexed column (not the key nor a
 * unique one: indexed already) and each plain index of m. */
static tdo_status indexes_sql(tdo_sb *sb, const tdo_dialect *d,
                              const tdo_model *m, bool safe, const char **cols,
                              tdo_error *err)
{
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!has_column(f) || !(f->flags & TDO_FIELD_INDEX) ||
            (f->flags & (TDO_FIELD_PK | TDO_FIELD_UNIQUE)) ||
            f->type == TDO_F_O2O)
            continue;
        const char *c = f->column;
        create_index(sb, d, tdo_model_table(m), &c, 1, safe);
    }
    for (size_t i = 0; i < tdo_model_nindexes(m); i++) {
        size_t n;
        bool unique;
        const char *const *names = tdo_model_index(m, i, &n, &unique);
        if (unique || !n)
            continue;
        tdo_sb list = TDO_SB_INIT;
        tdo_status st = column_list(&list, d, m, names, n, cols, err);
        tdo_sb_release(&list);
        if (st)
            return st;
        create_index(sb, d, tdo_model_table(m), cols, n, safe);
    }
    return TDO_OK;
}

/* Appends the statements of one model; first: no ";\n" before it. */
static tdo_status model_sql(tdo_sb *sb, const tdo_dialect *d,
                            const tdo_model *m, bool safe, bool first,
                            tdo_model *const *later, size_t nlater,
                            tdo_error *err)
{
    if (!first)
        tdo_sb_adds(sb, ";\n");
    tdo_sb_adds(sb, safe ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
    d->quote_ident(sb, tdo_model_table(m));
    tdo_sb_adds(sb, " (");
    bool any = false;
    column_defs(sb, d, m, later, nlater, &any);
    if (tdo_model_nkey(m) > 1) {
        tdo_sb_adds(sb, any ? ",\n    PRIMARY KEY (" : "\n    PRIMARY KEY (");
        for (size_t i = 0; i < tdo_model_nkey(m); i++) {
            if (i)
                tdo_sb_adds(sb, ", ");
            d->quote_ident(sb, tdo_model_key(m, i)->column);
        }
        tdo_sb_adds(sb, ")");
        any = true;
    }
    const char **cols = tdo_calloc(widest_index(m), sizeof(*cols));
    if (!cols)
        return tdo_nomem(err);
    tdo_status st = unique_constraints(sb, d, m, cols, any, err);
    if (!st) {
        tdo_sb_adds(sb, "\n)");
        if (d->table_options)
            tdo_sb_adds(sb, d->table_options);
        st = indexes_sql(sb, d, m, safe, cols, err);
    }
    tdo_free(cols);
    return st;
}

/* Appends ";\nALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY" for each FK
 * of m whose target is among later[0..n) (made after m; dialects with
 * TDO_DF_FK_ALTER only). */
static void deferred_fks(tdo_sb *sb, const tdo_dialect *d, const tdo_model *m,
                         tdo_model *const *later, size_t n)
{
    if (!(d->features & TDO_DF_FK_ALTER))
        return;
    size_t nf = tdo_model_nfields(m);
    for (size_t i = 0; i < nf; i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!tdo_field_is_fk_(f) || !(f->flags & TDO_FIELD_DB_CONSTRAINT) ||
            !f->related_model || inline_fk(f, later, n))
            continue;
        const char *col = f->column;
        tdo_sb_adds(sb, ";\nALTER TABLE ");
        d->quote_ident(sb, tdo_model_table(m));
        tdo_sb_adds(sb, " ADD CONSTRAINT ");
        tdo_sb name = TDO_SB_INIT;
        index_name(&name, "fk", tdo_model_table(m), &col, 1);
        d->quote_ident(sb, name.buf);
        if (name.oom)
            sb->oom = true;
        tdo_sb_release(&name);
        tdo_sb_adds(sb, " FOREIGN KEY (");
        d->quote_ident(sb, col);
        tdo_sb_adds(sb, ")");
        references(sb, d, f->related_model, tdo_field_key_target(f),
                   f->on_delete);
    }
}

/* Appends one column of an automatic through table. */
static void through_column(tdo_sb *sb, const tdo_dialect *d, const char *col,
                           tdo_model *target, bool refs)
{
    tdo_field t = tdo_field_scratch_(col, TDO_F_FK);
    t.column = (char *)col; /* read, never freed */
    t.related_model = target;
    d->quote_ident(sb, col);
    tdo_sb_addc(sb, ' ');
    d->column_type(sb, &t);
    tdo_sb_adds(sb, " NOT NULL");
    if (refs)
        references(sb, d, target, NULL, TDO_CASCADE);
}

/* Appends the automatic through tables of the m2m relations of every
 * model of ctx (or of only): the two key columns (ON DELETE CASCADE),
 * a unique index on the pair and an index on the target column. */
static tdo_status through_tables(tdo_sb *sb, const tdo_dialect *d,
                                 const tdo_ctx *ctx, const tdo_model *only,
                                 bool safe, bool *first, tdo_error *err)
{
    size_t nm = tdo_ctx_nmodels(ctx);
    const char **done = NULL;
    size_t ndone = 0;
    for (size_t i = 0; i < nm; i++) {
        const tdo_model *m = tdo_ctx_model_at(ctx, i);
        if (tdo_model_abstract(m) || (only && m != only))
            continue;
        size_t nr = tdo_model_nrelations(m);
        for (size_t k = 0; k < nr; k++) {
            const tdo_relation *r = tdo_model_relation(m, k);
            if (r->kind != TDO_REL_M2M || r->through_model)
                continue;
            bool seen = false;
            for (size_t j = 0; j < ndone && !seen; j++)
                seen = !strcmp(done[j], r->through);
            if (seen)
                continue;
            const char **nd = tdo_realloc(done, (ndone + 1) * sizeof(*nd));
            if (!nd) {
                tdo_free(done);
                return tdo_nomem(err);
            }
            done = nd;
            done[ndone++] = r->through;
            bool refs = r->field->flags & TDO_FIELD_DB_CONSTRAINT;
            tdo_sb_adds(sb, *first ? "" : ";\n");
            *first = false;
            tdo_sb_adds(sb,
                        safe ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ");
            d->quote_ident(sb, r->through);
            tdo_sb_adds(sb, " (\n    ");
            through_column(sb, d, r->source_column, r->model, refs);
            tdo_sb_adds(sb, ",\n    ");
            through_column(sb, d, r->target_column, r->target, refs);
            tdo_sb_adds(sb, "\n)");
            if (d->table_options)
                tdo_sb_adds(sb, d->table_options);
            const char *cols[2] = {r->source_column, r->target_column};
            tdo_sb_adds(sb, safe ? ";\nCREATE UNIQUE INDEX IF NOT EXISTS "
                                 : ";\nCREATE UNIQUE INDEX ");
            tdo_sb name = TDO_SB_INIT;
            index_name(&name, "uidx", r->through, cols, 2);
            d->quote_ident(sb, name.buf);
            if (name.oom)
                sb->oom = true;
            tdo_sb_release(&name);
            tdo_sb_adds(sb, " ON ");
            d->quote_ident(sb, r->through);
            tdo_sb_adds(sb, " (");
            d->quote_ident(sb, cols[0]);
            tdo_sb_adds(sb, ", ");
            d->quote_ident(sb, cols[1]);
            tdo_sb_adds(sb, ")");
            create_index(sb, d, r->through, &cols[1], 1, safe);
        }
    }
    tdo_free(done);
    return TDO_OK;
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

/* Returns the DDL of every non-abstract, writable model of ctx (or of
 * only), FK targets first; safe: IF NOT EXISTS.  *out is malloc'd; free() it.
 */
tdo_status tdo_schema_sql(const tdo_ctx *ctx, const tdo_dialect *d,
                          const tdo_model *only, bool safe, char **out,
                          tdo_error *err)
{
    *out = NULL;
    size_t nm = tdo_ctx_nmodels(ctx), n = 0;
    tdo_model **todo = tdo_calloc(nm ? nm : 1, sizeof(*todo));
    if (!todo)
        return tdo_nomem(err);
    if (only) {
        if (!tdo_model_abstract(only) && !tdo_model_read_only(only))
            todo[n++] = (tdo_model *)only;
    } else {
        for (size_t i = 0; i < nm; i++) {
            tdo_model *m = tdo_ctx_model_at(ctx, i);
            if (!tdo_model_abstract(m) && !tdo_model_read_only(m))
                todo[n++] = m;
        }
    }
    tdo_sb sb = TDO_SB_INIT, fks = TDO_SB_INIT;
    tdo_status st = TDO_OK;
    bool first = true;
    while (n && !st) {
        /* the first model whose targets are all created; on a cycle the
         * first one left (SQLite checks references at run time) */
        size_t pick = 0;
        for (size_t i = 0; i < n; i++)
            if (ready(todo[i], todo, n)) {
                pick = i;
                break;
            }
        st = model_sql(&sb, d, todo[pick], safe, first, todo, n, err);
        deferred_fks(&fks, d, todo[pick], todo, n);
        first = false;
        memmove(todo + pick, todo + pick + 1, (n - pick - 1) * sizeof(*todo));
        n--;
    }
    /* foreign keys to tables made later (cycles), then the automatic
     * many-to-many through tables */
    if (!st && fks.len) {
        tdo_sb_adds(&sb, fks.buf);
        first = false;
    }
    if (fks.oom)
        sb.oom = true;
    tdo_sb_release(&fks);
    if (!st)
        st = through_tables(&sb, d, ctx, only, safe, &first, err);
    if (!first && !st)
        tdo_sb_addc(&sb, ';');
    tdo_free(todo);
    if (st) {
        tdo_sb_release(&sb);
        return st;
    }
    if (!(*out = tdo_sb_detach(&sb)))
        return tdo_nomem(err);
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
