/*
 * migrate.c -- the differ of two schema states (schema.c): the SQL
 * statements that turn a database in one state into the other, in the
 * dialect's terms (its alter_style, drop_fk, drop_unique): tables and
 * columns renamed (only as confirmed by the caller, never guessed),
 * created and dropped; column type / null / default changes; unique
 * constraints, indexes and foreign keys by their names.  SQLite, whose
 * ALTER TABLE cannot change a column or a constraint, gets the table made
 * anew with its rows copied.  A downgrade is the diff the other way.
 */
#include "tdo_int.h"

#include <jansson.h>
#include <stdlib.h>

#define S tdo_jstr_
#define B tdo_jflag_

/* The statements in the order they run: each phase a list. */
enum {
    P_RENAME,      /* tables, then columns */
    P_DROP_CONS,   /* foreign keys, unique constraints, indexes going */
    P_CREATE,      /* new tables */
    P_COLUMNS,     /* columns added and changed */
    P_REBUILD,     /* SQLite tables made anew */
    P_ADD_CONS,    /* unique constraints, indexes, foreign keys coming */
    P_DROP_COLUMN, /* columns going */
    P_DROP_TABLE,  /* tables going */
    P_COUNT
};

typedef struct differ {
    const tdo_dialect *d;
    const tdo_rename *ren;
    size_t nren;
    json_t *phase[P_COUNT];
    tdo_sb sb;
    size_t rebuilds;
    bool oom;
} differ;

/* Ends the statement in x->sb and files it under phase p. */
static void emit(differ *x, int p)
{
    json_t *s = x->sb.oom ? NULL : json_string(x->sb.buf);
    if (!s || json_array_append_new(x->phase[p], s))
        x->oom = true;
    tdo_sb_reset(&x->sb);
}

/* ALTER TABLE "t" into x->sb. */
static void alter(differ *x, const char *table)
{
    tdo_sb_adds(&x->sb, "ALTER TABLE ");
    x->d->quote_ident(&x->sb, table);
}

/* The name table old has in the new state (a confirmed rename). */
static const char *new_table_name(const differ *x, const char *old)
{
    for (size_t i = 0; i < x->nren; i++)
        if (!x->ren[i].old_column && !strcmp(x->ren[i].old_table, old))
            return x->ren[i].new_table;
    return old;
}

/* The name column old of table (its new name) has in the new state. */
static const char *new_column_name(const differ *x, const char *table,
                                   const char *old)
{
    for (size_t i = 0; i < x->nren; i++)
        if (x->ren[i].old_column && !strcmp(x->ren[i].new_table, table) &&
            !strcmp(x->ren[i].old_column, old))
            return x->ren[i].new_column;
    return old;
}

/* The member of array arr whose key is name, or NULL. */
static const json_t *find(const json_t *arr, const char *key, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!strcmp(S(v, key), name)) return v;
    return NULL;
}

/* The column of old table f that is column name of the new state. */
static const json_t *old_column(const differ *x, const json_t *f,
                                const char *table, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(f, "columns"), i, c)
    {
        if (!strcmp(new_column_name(x, table, S(c, "name")), name))
            return c;
    }
    return NULL;
}

/* Whether two columns are the same but for their name, unique and fk. */
static bool same_column(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"type", "null", "pk", "generated",
                                       "default"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *u = json_object_get(a, keys[i]);
        const json_t *v = json_object_get(b, keys[i]);
        if (!(u == v || (u && v && json_equal(u, v))))
            return false;
    }
    return true;
}

/* The unique constraint name of a column, or NULL. */
static const char *unique_of(const json_t *c)
{
    return B(c, "unique") ? S(c, "unique_name") : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool same_fk(const json_t *a, const json_t *b)
{
    const json_t *u = json_object_get(a, "fk"), *v = json_object_get(b, "fk");
    bool hu = json_is_object(u), hv = json_is_object(v);
    return hu == hv && (!hu || json_equal(u, v));
}

/* Whether table f must be made anew to become t (SQLite): a column
 * dropped or changed, a constraint changed, or a column added that ALTER
 * TABLE ADD COLUMN cannot add (NOT NULL without a default, unique, a
 * foreign key). */
static bool needs_rebuild(const differ *x, const json_t *f, const json_t *t)
{
    const char *table = S(t, "table");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        const json_t *o = old_column(x, f, table, S(c, "name"));
        if (!o) {
            if ((!B(c, "null") && !S(c, "default")) || B(c, "unique") ||
                json_is_object(json_object_get(c, "fk")) || B(c, "pk"))
                return true;
        } else if (!same_column(o, c) ||
                   !same_str(unique_of(o), unique_of(c)) || !same_fk(o, c)) {
            return true;
        }
    }
    json_array_foreach(json_object_get(f, "columns"), i, c)
    {
        const char *n = new_column_name(x, table, S(c, "name"));
        if (!find(json_object_get(t, "columns"), "name", n))
            return true; /* a column dropped */
    }
    const json_t *pf = json_object_get(f, "primary_key");
    const json_t *pt = json_object_get(t, "primary_key");
    return !json_equal(json_object_get(f, "uniques"),
                       json_object_get(t, "uniques")) ||
           ((pf || pt) && !(pf && pt && json_equal(pf, pt)));
}

/* SQLite: table f made anew as t, the rows of the columns both have
 * copied, its indexes made again. */
static void rebuild(differ *x, const json_t *f, const json_t *t)
{
    const tdo_dialect *d = x->d;
    const char *table = S(t, "table");
    tdo_sb tmp = TDO_SB_INIT;
    tdo_sb_addf(&tmp, "_tdo_new_%s", table);
    tdo_ddl_create_table_(&x->sb, d, t, tmp.buf, NULL, 0, false);
    emit(x, P_REBUILD);
    tdo_sb cols = TDO_SB_INIT;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (!old_column(x, f, table, S(c, "name")))
            continue; /* new: its default */
        if (cols.len)
            tdo_sb_adds(&cols, ", ");
        d->quote_ident(&cols, S(c, "name"));
    }
    if (cols.len) {
        tdo_sb_adds(&x->sb, "INSERT INTO ");
        d->quote_ident(&x->sb, tmp.buf);
        tdo_sb_addf(&x->sb, " (%s) SELECT %s FROM ", cols.buf, cols.buf);
        d->quote_ident(&x->sb, table);
        emit(x, P_REBUILD);
    }
    tdo_sb_adds(&x->sb, "DROP TABLE ");
    d->quote_ident(&x->sb, table);
    emit(x, P_REBUILD);
    alter(x, tmp.buf);
    tdo_sb_adds(&x->sb, " RENAME TO ");
    d->quote_ident(&x->sb, table);
    emit(x, P_REBUILD);
    json_array_foreach(json_object_get(t, "indexes"), i, c)
    {
        tdo_ddl_index_(&x->sb, d, table, c, false);
        emit(x, P_REBUILD);
    }
    if (tmp.oom || cols.oom)
        x->oom = true;
    tdo_sb_release(&tmp);
    tdo_sb_release(&cols);
    x->rebuilds++;
}

/* DROP INDEX of index ix of table. */
static void drop_index(differ *x, const char *table, const json_t *ix)
{
    tdo_sb_adds(&x->sb, "DROP INDEX ");
    x->d->quote_ident(&x->sb, S(ix, "name"));
    if (x->d->drop_index_on) {
        tdo_sb_adds(&x->sb, " ON ");
        x->d->quote_ident(&x->sb, table);
    }
    emit(x, P_DROP_CONS);
}

/* ALTER TABLE t DROP <what> name. */
static void drop_named(differ *x, const char *table, const char *what,
                       const char *name)
{
    alter(x, table);
    tdo_sb_adds(&x->sb, what);
    x->d->quote_ident(&x->sb, name);
    emit(x, P_DROP_CONS);
}

/* ALTER TABLE t ADD CONSTRAINT name UNIQUE (cols) of a Meta unique. */
static void add_unique(differ *x, const char *table, const json_t *u)
{
    alter(x, table);
    tdo_sb_adds(&x->sb, " ADD CONSTRAINT ");
    x->d->quote_ident(&x->sb, S(u, "name"));
    tdo_sb_adds(&x->sb, " UNIQUE ");
    tdo_ddl_names_(&x->sb, x->d, json_object_get(u, "columns"));
    emit(x, P_ADD_CONS);
}

/* The column changes of old column o into c (PostgreSQL, MySQL). */
static void change_column(differ *x, const char *table, const json_t *o,
                          const json_t *c)
{
    const tdo_dialect *d = x->d;
    const char *name = S(c, "name");
    if (d->alter_style == TDO_ALTER_MODIFY) {
        alter(x, table);
        tdo_sb_adds(&x->sb, " MODIFY COLUMN ");
        tdo_ddl_column_(&x->sb, d, c);
        emit(x, P_COLUMNS);
        return;
    }
    if (!same_str(S(o, "type"), S(c, "type"))) {
        alter(x, table);
        tdo_sb_adds(&x->sb, " ALTER COLUMN ");
        d->quote_ident(&x->sb, name);
        tdo_sb_addf(&x->sb, " TYPE %s", S(c, "type"));
        /* another kind of type needs an explicit cast; a narrower one of
         * the same kind (VARCHAR(120) -> VARCHAR(50)) must not get one,
         * which would cut the values that do not fit instead of failing */
        if (strcspn(S(o, "type"), "(") != strcspn(S(c, "type"), "(") ||
            strncmp(S(o, "type"), S(c, "type"), strcspn(S(c, "type"), "("))) {
            tdo_sb_adds(&x->sb, " USING ");
            d->quote_ident(&x->sb, name);
            tdo_sb_addf(&x->sb, "::%s", S(c, "type"));
        }
        emit(x, P_COLUMNS);
    }
    if (B(o, "null") != B(c, "null")) {
        alter(x, table);
        tdo_sb_adds(&x->sb, " ALTER COLUMN ");
        d->quote_ident(&x->sb, name);
        tdo_sb_adds(&x->sb, B(c, "null") ? " DROP NOT NULL" : " SET NOT NULL");
        emit(x, P_COLUMNS);
    }
    if (!same_str(S(o, "default"), S(c, "default"))) {
        alter(x, table);
        tdo_sb_adds(&x->sb, " ALTER COLUMN ");
        d->quote_ident(&x->sb, name);
        if (S(c, "default"))
            tdo_sb_addf(&x->sb, " SET DEFAULT %s", S(c, "default"));
        else
            tdo_sb_adds(&x->sb, " DROP DEFAULT");
        emit(x, P_COLUMNS);
    }
}

/* The statements that turn table f (old state) into t (new state). */
static void diff_table(differ *x, const json_t *f, const json_t *t)
{
    const tdo_dialect *d = x->d;
    const char *table = S(t, "table");
    size_t i;
    json_t *c;
    /* columns renamed, as confirmed */
    json_array_foreach(json_object_get(f, "columns"), i, c)
    {
        const char *to = new_column_name(x, table, S(c, "name"));
        if (to == S(c, "name") ||
            !find(json_object_get(t, "columns"), "name", to))
            continue;
        alter(x, table);
        tdo_sb_adds(&x->sb, " RENAME COLUMN ");
        d->quote_ident(&x->sb, S(c, "name"));
        tdo_sb_adds(&x->sb, " TO ");
        d->quote_ident(&x->sb, to);
        emit(x, P_RENAME);
    }
    bool remake = d->alter_style == TDO_ALTER_REBUILD && needs_rebuild(x, f, t);
    /* indexes by name: a change of columns changes the name */
    json_array_foreach(json_object_get(f, "indexes"), i, c)
    {
        if (!remake &&
            !find(json_object_get(t, "indexes"), "name", S(c, "name")))
            drop_index(x, table, c);
    }
    if (remake) {
        rebuild(x, f, t);
        return;
    }
    json_array_foreach(json_object_get(f, "uniques"), i, c)
    {
        if (!find(json_object_get(t, "uniques"), "name", S(c, "name")))
            drop_named(x, table, d->drop_unique, S(c, "name"));
    }
    /* columns going: their constraints first */
    json_array_foreach(json_object_get(f, "columns"), i, c)
    {
        const char *n = new_column_name(x, table, S(c, "name"));
        const json_t *nc = find(json_object_get(t, "columns"), "name", n);
        const json_t *fk = json_object_get(c, "fk");
        if (json_is_object(fk) && (!nc || !same_fk(c, nc)))
            drop_named(x, table, d->drop_fk, S(fk, "name"));
        if (unique_of(c) && (!nc || !same_str(unique_of(c), unique_of(nc))))
            drop_named(x, table, d->drop_unique, unique_of(c));
        if (!nc) {
            alter(x, table);
            tdo_sb_adds(&x->sb, " DROP COLUMN ");
            d->quote_ident(&x->sb, n);
            emit(x, P_DROP_COLUMN);
        }
    }
    /* columns coming or changing, then their constraints */
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        const json_t *o = old_column(x, f, table, S(c, "name"));
        if (!o) {
            alter(x, table);
            tdo_sb_adds(&x->sb, " ADD COLUMN ");
            tdo_ddl_column_(&x->sb, d, c);
            emit(x, P_COLUMNS);
        } else if (!same_column(o, c)) {
            change_column(x, table, o, c);
        }
        if (unique_of(c) && (!o || !same_str(unique_of(o), unique_of(c)))) {
            alter(x, table);
            tdo_sb_adds(&x->sb, " ADD ");
            tdo_ddl_unique_(&x->sb, d, c);
            emit(x, P_ADD_CONS);
        }
        if (json_is_object(json_object_get(c, "fk")) &&
            (!o || !same_fk(o, c))) {
            tdo_ddl_add_fk_(&x->sb, d, t, c);
            emit(x, P_ADD_CONS);
        }
    }
    json_array_foreach(json_object_get(t, "uniques"), i, c)
    {
        if (!find(json_object_get(f, "uniques"), "name", S(c, "name")))
            add_unique(x, table, c);
    }
    json_array_foreach(json_object_get(t, "indexes"), i, c)
    {
        if (!find(json_object_get(f, "indexes"), "name", S(c, "name"))) {
            tdo_ddl_index_(&x->sb, d, table, c, false);
            emit(x, P_ADD_CONS);
        }
    }
}

/* The table of the old state that becomes table name of the new one. */
static const json_t *old_table(const differ *x, const json_t *from,
                               const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(from, "tables"), i, t)
    {
        if (!strcmp(new_table_name(x, S(t, "table")), name))
            return t;
    }
    return NULL;
}

/* The statements from state from to state to (see testudo.h). */
tdo_status tdo_state_diff(const tdo_dialect *d, const struct json_t *from,
                          const struct json_t *to, const tdo_rename *renames,
                          size_t nrenames, struct json_t **out, tdo_error *err)
{
    *out = NULL;
    differ x = {.d = d, .ren = renames, .nren = nrenames, .sb = TDO_SB_INIT};
    for (int p = 0; p < P_COUNT; p++)
        if (!(x.phase[p] = json_array()))
            x.oom = true;
    const json_t *told = json_object_get(from, "tables");
    const json_t *tnew = json_object_get(to, "tables");
    size_t i;
    json_t *t;
    /* tables renamed, as confirmed */
    json_array_foreach(told, i, t)
    {
        const char *n = new_table_name(&x, S(t, "table"));
        if (n == S(t, "table") || !find(tnew, "table", n))
            continue;
        alter(&x, S(t, "table"));
        tdo_sb_adds(&x.sb, " RENAME TO ");
        d->quote_ident(&x.sb, n);
        emit(&x, P_RENAME);
    }
    json_array_foreach(tnew, i, t)
    {
        const json_t *f = old_table(&x, from, S(t, "table"));
        if (f) {
            diff_table(&x, f, t);
            continue;
        }
        /* a new table: its keys to tables made later come after */
        tdo_ddl_create_table_(&x.sb, d, t, NULL, tnew, i, false);
        emit(&x, P_CREATE);
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(t, "indexes"), k, c)
        {
            tdo_ddl_index_(&x.sb, d, S(t, "table"), c, false);
            emit(&x, P_CREATE);
        }
        json_array_foreach(json_object_get(t, "columns"), k, c)
        {
            const json_t *fk = json_object_get(c, "fk");
            if (!json_is_object(fk) || !(d->features & TDO_DF_FK_ALTER))
                continue;
            bool later = false;
            for (size_t j = i + 1; j < json_array_size(tnew) && !later; j++)
                later = !strcmp(S(json_array_get(tnew, j), "table"),
                                S(fk, "table")) &&
                        strcmp(S(fk, "table"), S(t, "table"));
            if (later) {
                tdo_ddl_add_fk_(&x.sb, d, t, c);
                emit(&x, P_ADD_CONS);
            }
        }
    }
    /* tables going, the last made first; their keys to tables that stay
     * first of all */
    for (size_t k = json_array_size(told); k-- > 0;) {
        t = json_array_get(told, k);
        if (find(tnew, "table", new_table_name(&x, S(t, "table"))))
            continue;
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(t, "columns"), j, c)
        {
            const json_t *fk = json_object_get(c, "fk");
            if (json_is_object(fk) && (d->features & TDO_DF_FK_ALTER))
                drop_named(&x, S(t, "table"), d->drop_fk, S(fk, "name"));
        }
        tdo_sb_adds(&x.sb, "DROP TABLE ");
        d->quote_ident(&x.sb, S(t, "table"));
        emit(&x, P_DROP_TABLE);
    }
    json_t *all = json_array();
    for (int p = 0; p < P_COUNT && all && !x.oom; p++)
        if (json_array_extend(all, x.phase[p]))
            x.oom = true;
    for (int p = 0; p < P_COUNT; p++)
        json_decref(x.phase[p]);
    tdo_sb_release(&x.sb);
    json_t *res = all && !x.oom ? json_pack("{s:o, s:I}", "sql", all,
                                            "rebuilds", (json_int_t)x.rebuilds)
                                : NULL;
    if (!res) {
        json_decref(all);
        return tdo_nomem(err);
    }
    *out = res;
    return TDO_OK;
}

/* ---- applying migrations ---------------------------------------------- */

#define MIG_TABLE "testudo_migrations"

/* Appends the SQL type of a scratch field of type t (max_length len). */
static void scratch_type(tdo_sb *sb, const tdo_dialect *d, tdo_field_type t,
                         int len)
{
    tdo_field f = tdo_field_scratch_("x", t);
    f.max_length = len;
    d->column_type(sb, &f);
}

/* Creates the migration table where there is none (see testudo.h). */
tdo_status tdo_migrations_table(tdo_conn *c, tdo_error *err)
{
    const tdo_dialect *d = tdo_conn_dialect(c);
    tdo_sb sb = TDO_SB_INIT;
    tdo_sb_adds(&sb, "CREATE TABLE IF NOT EXISTS ");
    d->quote_ident(&sb, MIG_TABLE);
    static const struct {
        const char *name;
        tdo_field_type type;
        int len;
    } cols[] = {{"app", TDO_F_CHAR, 100},
                {"version", TDO_F_CHAR, 100},
                {"name", TDO_F_CHAR, 255},
                {"content", TDO_F_TEXT, 0},
                {"applied_at", TDO_F_CHAR, 32}};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        tdo_sb_adds(&sb, i ? ",\n    " : " (\n    ");
        d->quote_ident(&sb, cols[i].name);
        tdo_sb_addc(&sb, ' ');
        scratch_type(&sb, d, cols[i].type, cols[i].len);
        tdo_sb_adds(&sb, " NOT NULL");
    }
    tdo_sb_adds(&sb, ",\n    PRIMARY KEY (");
    d->quote_ident(&sb, "app");
    tdo_sb_adds(&sb, ", ");
    d->quote_ident(&sb, "version");
    tdo_sb_adds(&sb, ")\n)");
    if (d->table_options)
        tdo_sb_adds(&sb, d->table_options);
    tdo_status st =
        sb.oom ? tdo_nomem(err) : tdo_conn_execute_script(c, sb.buf, err);
    tdo_sb_release(&sb);
    return st;
}

/* Appends "a", "b", ... (names) or $1, $2, ... (placeholders) of n
 * columns. */
static void column_names(tdo_sb *sb, const tdo_dialect *d,
                         const char *const *names, size_t n, bool params)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            tdo_sb_adds(sb, ", ");
        if (params)
            d->placeholder(sb, i + 1);
        else
            d->quote_ident(sb, names[i]);
    }
}

/* Records (up) or forgets (down) migration m in the migration table. */
static tdo_status record(tdo_conn *c, const tdo_migration *m, bool down,
                         tdo_error *err)
{
    static const char *const names[] = {"app", "version", "name", "content",
                                        "applied_at"};
    const tdo_dialect *d = tdo_conn_dialect(c);
    tdo_sb sb = TDO_SB_INIT, when = TDO_SB_INIT;
    char *content = NULL;
    tdo_value v[5] = {tdo_value_text(m->app, strlen(m->app)),
                      tdo_value_text(m->version, strlen(m->version))};
    size_t n = 2;
    if (down) {
        tdo_sb_adds(&sb, "DELETE FROM ");
        d->quote_ident(&sb, MIG_TABLE);
        for (size_t i = 0; i < n; i++) {
            tdo_sb_adds(&sb, i ? " AND " : " WHERE ");
            d->quote_ident(&sb, names[i]);
            tdo_sb_adds(&sb, " = ");
            d->placeholder(&sb, i + 1);
        }
    } else {
        content = m->state ? json_dumps(m->state, JSON_COMPACT) : NULL;
        tdo_value now = {.type = TDO_DATETIME};
        tdo_datetime_now(true, &now.u.dt);
        tdo_value_format(&when, &now, false);
        const char *name = m->name ? m->name : "";
        v[2] = tdo_value_text(name, strlen(name));
        v[3] = tdo_value_text(content ? content : "{}",
                              content ? strlen(content) : 2);
        v[4] = tdo_value_text(when.buf, when.len);
        n = 5;
        tdo_sb_adds(&sb, "INSERT INTO ");
        d->quote_ident(&sb, MIG_TABLE);
        tdo_sb_adds(&sb, " (");
        column_names(&sb, d, names, n, false);
        tdo_sb_adds(&sb, ") VALUES (");
        column_names(&sb, d, names, n, true);
        tdo_sb_adds(&sb, ")");
    }
    tdo_status st = sb.oom || when.oom
                        ? tdo_nomem(err)
                        : tdo_conn_execute(c, sb.buf, v, n, NULL, NULL, err);
    tdo_sb_release(&when);
    tdo_sb_release(&sb);
    free(content);
    return st;
}

/* SQLite: the rows a foreign key no longer finds, as an IntegrityError. */
static tdo_status fk_check(tdo_conn *c, tdo_error *err)
{
    tdo_rows *rows = NULL;
    bool has = false;
    tdo_status st = tdo_conn_execute(c, "PRAGMA foreign_key_check", NULL, 0,
                                     &rows, NULL, err);
    if (!st)
        st = tdo_rows_next(rows, &has, err);
    if (!st && has) {
        tdo_value t = tdo_value_null();
        tdo_rows_get(rows, 0, &t, err);
        st = tdo_error_set(err, TDO_ERR_INTEGRITY,
                           "a foreign key of table %.*s no longer finds its "
                           "row after the migration",
                           (int)(t.type == TDO_TEXT ? t.u.s.len : 1),
                           t.type == TDO_TEXT ? t.u.s.ptr : "?");
    }
    tdo_rows_free(rows);
    return st;
}

/* Applies or reverts one migration (see testudo.h). */
tdo_status tdo_migration_apply(tdo_conn *c, const tdo_migration *m,
                               unsigned flags, tdo_progress_fn progress,
                               void *ud, tdo_error *err)
{
    const tdo_dialect *d = tdo_conn_dialect(c);
    bool down = flags & TDO_MIG_DOWN, fake = flags & TDO_MIG_FAKE;
    bool tx = d->alter_style != TDO_ALTER_MODIFY; /* DDL in transactions */
    bool sqlite = d->alter_style == TDO_ALTER_REBUILD;
    size_t total = fake ? 0 : json_array_size(m->sql), done = 0;
    tdo_status st = tdo_migrations_table(c, err);
    if (st)
        return st;
    /* SQLite: foreign keys off while tables are made anew (a table
     * dropped would otherwise take its children's rows along) */
    bool fk_off = sqlite && total && tdo_conn_tx_depth(c) == 0;
    if (fk_off &&
        (st = tdo_conn_execute_script(c, "PRAGMA foreign_keys = OFF", err)))
        return st;
    if (tx && (st = tdo_conn_begin(c, err)))
        goto out;
    size_t failed = 0; /* the statement that failed, from 1 */
    for (; !st && done < total; done++) {
        const char *sql = json_string_value(json_array_get(m->sql, done));
        if (progress)
            progress(done, total, sql ? sql : "-- data step", ud);
        if (!sql) /* a data step, between the statements */
            st = m->data ? m->data(done, m->data_ud, err)
                         : tdo_error_set(err, TDO_ERR_PARAMS,
                                         "a data step and nothing to run it");
        else
            st = tdo_conn_execute_script(c, sql, err);
        if (st)
            failed = done + 1;
    }
    if (!st && fk_off)
        st = fk_check(c, err);
    if (!st)
        st = record(c, m, down, err);
    if (tx) {
        if (st) {
            tdo_error e2 = TDO_ERROR_INIT;
            tdo_conn_rollback(c, &e2);
            tdo_error_release(&e2);
        } else {
            st = tdo_conn_commit(c, err);
        }
    }
    if (st && failed && err) {
        /* which migration, which statement; on MySQL, which ran before */
        tdo_sb sb = TDO_SB_INIT;
        tdo_sb_addf(&sb, "migration %s%s%s: step %zu of %zu failed: %s",
                    m->version, m->name ? " " : "", m->name ? m->name : "",
                    failed, total, err->message ? err->message : "");
        if (tx) {
            tdo_sb_adds(&sb, "; nothing was changed");
        } else {
            tdo_sb_adds(&sb, "; applied before it (MySQL commits each schema "
                             "change), not recorded:");
            for (size_t i = 0; i + 1 < failed; i++) {
                const char *q = json_string_value(json_array_get(m->sql, i));
                tdo_sb_addf(&sb, "\n  %s", q ? q : "-- data step");
            }
            if (failed == 1)
                tdo_sb_adds(&sb, " none");
        }
        tdo_error_set(err, err->code, "%s", sb.buf);
        tdo_sb_release(&sb);
    }
out:
    if (fk_off) {
        tdo_error e2 = TDO_ERROR_INIT;
        tdo_conn_execute_script(c, "PRAGMA foreign_keys = ON", &e2);
        tdo_error_release(&e2);
    }
    if (progress && !st)
        progress(total, total, NULL, ud);
    return st;
}

/* The migrations recorded for app (see testudo.h). */
tdo_status tdo_migrations_applied(tdo_conn *c, const char *app,
                                  struct json_t **out, tdo_error *err)
{
    *out = NULL;
    const tdo_dialect *d = tdo_conn_dialect(c);
    /* no table: nothing applied (reading makes no table) */
    char **tables = NULL;
    size_t nt = 0;
    bool there = false;
    tdo_status st = tdo_conn_tables(c, &tables, &nt, err);
    for (size_t i = 0; !st && i < nt; i++)
        there = there || !strcmp(tables[i], MIG_TABLE);
    tdo_free_strings(tables, nt);
    if (st)
        return st;
    if (!there) {
        *out = json_array();
        return *out ? TDO_OK : tdo_nomem(err);
    }
    tdo_sb sb = TDO_SB_INIT;
    const char *names[] = {"version", "name", "applied_at", "content"};
    tdo_sb_adds(&sb, "SELECT ");
    column_names(&sb, d, names, 4, false);
    tdo_sb_adds(&sb, " FROM ");
    d->quote_ident(&sb, MIG_TABLE);
    tdo_sb_adds(&sb, " WHERE ");
    d->quote_ident(&sb, "app");
    tdo_sb_adds(&sb, " = ");
    d->placeholder(&sb, 1);
    tdo_sb_adds(&sb, " ORDER BY ");
    d->quote_ident(&sb, "version");
    tdo_value a = tdo_value_text(app, strlen(app));
    tdo_rows *rows = NULL;
    st = sb.oom ? tdo_nomem(err)
                : tdo_conn_execute(c, sb.buf, &a, 1, &rows, NULL, err);
    tdo_sb_release(&sb);
    json_t *list = st ? NULL : json_array();
    bool has = false;
    while (!st && list && !(st = tdo_rows_next(rows, &has, err)) && has) {
        json_t *row = json_object();
        for (size_t i = 0; i < 4 && !st; i++) {
            tdo_value v;
            if ((st = tdo_rows_get(rows, i, &v, err)))
                break;
            json_t *j =
                i == 3 ? json_loadb(v.u.s.ptr, v.u.s.len, 0, NULL)
                       : json_stringn(v.u.s.ptr ? v.u.s.ptr : "", v.u.s.len);
            json_object_set_new(row, i == 3 ? "state" : names[i],
                                j ? j : json_null());
        }
        json_array_append_new(list, row);
    }
    tdo_rows_free(rows);
    if (st) {
        json_decref(list);
        return st;
    }
    if (!list)
        return tdo_nomem(err);
    *out = list;
    return TDO_OK;
}
