/*
 * introspect.c -- what a database holds, read from its catalogue
 * (issue 11): tables and views, their columns (type, NOT NULL, default,
 * place in the primary key), foreign keys and indexes, in a tdo_ischema.
 * Each dialect gives four catalogue queries (tdo_dialect.catalog_sql)
 * over the whole database, never one per table, whose rows this file
 * reads the same way for every backend.
 */
#include "tdo_int.h"

static void strings_free(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        tdo_free(s[i]);
    tdo_free(s);
}

/* Releases what the schema owns and zeroes it. */
void tdo_ischema_release(tdo_ischema *s)
{
    for (size_t i = 0; i < s->n; i++) {
        tdo_itable *t = &s->tables[i];
        tdo_free(t->name);
        for (size_t j = 0; j < t->ncols; j++) {
            tdo_free(t->cols[j].name);
            tdo_free(t->cols[j].sql_type);
            tdo_free(t->cols[j].default_sql);
        }
        tdo_free(t->cols);
        for (size_t j = 0; j < t->nfks; j++) {
            tdo_free(t->fks[j].table);
            strings_free(t->fks[j].from, t->fks[j].n);
            strings_free(t->fks[j].to, t->fks[j].n);
        }
        tdo_free(t->fks);
        for (size_t j = 0; j < t->nidx; j++) {
            tdo_free(t->idx[j].name);
            strings_free(t->idx[j].cols, t->idx[j].n);
        }
        tdo_free(t->idx);
    }
    tdo_free(s->tables);
    memset(s, 0, sizeof(*s));
}

/* Grows the array *p of *n elements of size sz by one zeroed element;
 * returns it, or NULL on out of memory. */
static void *grow(void **p, size_t *n, size_t sz)
{
    char *q = tdo_realloc(*p, (*n + 1) * sz);
    if (!q)
        return NULL;
    memset(q + *n * sz, 0, sz);
    *p = q;
    return q + (*n)++ * sz;
}

/* The table called name, or NULL. */
tdo_itable *tdo_ischema_table(tdo_ischema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->tables[i].name, name) == 0)
            return &s->tables[i];
    return NULL;
}

/* Adds a table (or view); NULL on out of memory. */
tdo_itable *tdo_ischema_add_table(tdo_ischema *s, const char *name, bool view)
{
    tdo_itable *t = grow((void **)&s->tables, &s->n, sizeof(*t));
    if (t && !(t->name = tdo_strdup(name))) {
        s->n--;
        return NULL;
    }
    if (t)
        t->view = view;
    return t;
}

/* Adds a column to t: its SQL type mapped (tdo_field_type_of_sql). */
tdo_icolumn *tdo_itable_add_column(tdo_itable *t, const char *name,
                                   const char *sql_type)
{
    tdo_icolumn *c = grow((void **)&t->cols, &t->ncols, sizeof(*c));
    if (!c)
        return NULL;
    c->name = tdo_strdup(name);
    c->sql_type = tdo_strdup(sql_type ? sql_type : "");
    if (!c->name || !c->sql_type) {
        tdo_free(c->name);
        tdo_free(c->sql_type);
        t->ncols--;
        return NULL;
    }
    tdo_field_type_of_sql(c->sql_type, &c->type);
    return c;
}

/* The column of t called name, or NULL. */
tdo_icolumn *tdo_itable_column(const tdo_itable *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* Appends a copy of s to the string array *a of *n; false on OOM. */
bool tdo_strings_add(char ***a, size_t *n, const char *s)
{
    char *d = tdo_strdup(s ? s : "");
    if (!d)
        return false;
    char **q = tdo_realloc(*a, (*n + 1) * sizeof(*q));
    if (!q) {
        tdo_free(d);
        return false;
    }
    q[(*n)++] = d;
    *a = q;
    return true;
}

/* Adds an (empty) foreign key of t to table; NULL on out of memory. */
tdo_iforeign *tdo_itable_add_fk(tdo_itable *t, const char *table)
{
    tdo_iforeign *f = grow((void **)&t->fks, &t->nfks, sizeof(*f));
    if (f && !(f->table = tdo_strdup(table))) {
        t->nfks--;
        return NULL;
    }
    return f;
}

/* Adds an (empty) index of t; NULL on out of memory. */
tdo_iindex *tdo_itable_add_index(tdo_itable *t, const char *name, bool unique)
{
    tdo_iindex *x = grow((void **)&t->idx, &t->nidx, sizeof(*x));
    if (x && !(x->name = tdo_strdup(name))) {
        t->nidx--;
        return NULL;
    }
    if (x)
        x->unique = unique;
    return x;
}

/* The row cursor of one catalogue query and the strings of its row. */
typedef struct cat {
    tdo_rows *rows;
    char *s[6]; /* the text of columns 0..5 of the current row (NULL) */
    int64_t i[6];
} cat;

static void cat_clear(cat *k)
{
    for (int j = 0; j < 6; j++) {
        tdo_free(k->s[j]);
        k->s[j] = NULL;
        k->i[j] = 0;
    }
}

/* Steps to the next row, reading its first ncols columns as text (and
 * integers); false at the end or on an error (*st set). */
static bool cat_next(cat *k, size_t ncols, tdo_status *st, tdo_error *err)
{
    bool has = false;
    cat_clear(k);
    if ((*st = tdo_rows_next(k->rows, &has, err)) || !has)
        return false;
    for (size_t j = 0; j < ncols && j < 6; j++) {
        tdo_value v;
        if ((*st = tdo_rows_get(k->rows, j, &v, err)))
            return false;
        if (v.type == TDO_INT)
            k->i[j] = v.u.i;
        if (v.type == TDO_TEXT || v.type == TDO_BLOB) {
            if (!(k->s[j] = tdo_strndup(v.u.s.ptr, v.u.s.len))) {
                *st = tdo_nomem(err);
                return false;
            }
        }
    }
    return true;
}

static tdo_status cat_open(tdo_conn *c, const char *sql, cat *k, tdo_error *err)
{
    memset(k, 0, sizeof(*k));
    return tdo_conn_execute(c, sql, NULL, 0, &k->rows, NULL, err);
}

static void cat_close(cat *k)
{
    cat_clear(k);
    tdo_rows_free(k->rows);
    k->rows = NULL;
}

/* Query 0: (table, kind): a kind saying "view" (any case) or "v" is a
 * view. */
static tdo_status read_tables(tdo_conn *c, const char *sql, tdo_ischema *s,
                              tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(c, sql, &k, err);
    while (!st && cat_next(&k, 2, &st, err)) {
        const char *kind = k.s[1] ? k.s[1] : "";
        bool view =
            !strcmp(kind, "v") || strstr(kind, "view") || strstr(kind, "VIEW");
        if (!tdo_ischema_add_table(s, k.s[0], view))
            st = tdo_nomem(err);
    }
    cat_close(&k);
    return st;
}

/* Query 1: (table, column, type, not null 0/1, default or NULL, place in
 * the primary key or 0), in the tables' column order. */
static tdo_status read_columns(tdo_conn *c, const char *sql, tdo_ischema *s,
                               tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(c, sql, &k, err);
    while (!st && cat_next(&k, 6, &st, err)) {
        tdo_itable *t = k.s[0] ? tdo_ischema_table(s, k.s[0]) : NULL;
        tdo_icolumn *col = t ? tdo_itable_add_column(t, k.s[1], k.s[2]) : NULL;
        if (t && !col) {
            st = tdo_nomem(err);
            break;
        }
        if (!col)
            continue;
        col->notnull = k.i[3] != 0;
        col->pk = (int)k.i[5];
        if (k.s[4] && !(col->default_sql = tdo_strdup(k.s[4])))
            st = tdo_nomem(err);
    }
    cat_close(&k);
    return st;
}

/* Appends one column pair to fk; "to" NULL: the primary key (""). */
static bool fk_pair(tdo_iforeign *fk, const char *from, const char *to)
{
    size_t n = fk->n, n2 = fk->n;
    if (!tdo_strings_add(&fk->from, &n, from))
        return false;
    if (!tdo_strings_add(&fk->to, &n2, to)) {
        tdo_free(fk->from[fk->n]);
        return false;
    }
    fk->n = n;
    return true;
}

/* Query 2: (table, key name or number, referenced table, column,
 * referenced column or NULL), one row per column pair in key order. */
static tdo_status read_foreign_keys(tdo_conn *c, const char *sql,
                                    tdo_ischema *s, tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(c, sql, &k, err);
    tdo_iforeign *fk = NULL;
    tdo_itable *last = NULL;
    char *key = NULL;
    while (!st && cat_next(&k, 5, &st, err)) {
        tdo_itable *t = k.s[0] ? tdo_ischema_table(s, k.s[0]) : NULL;
        if (!t)
            continue;
        const char *name = k.s[1] ? k.s[1] : "";
        if (!fk || t != last || strcmp(key, name) != 0) {
            tdo_free(key);
            key = tdo_strdup(name);
            fk = key ? tdo_itable_add_fk(t, k.s[2] ? k.s[2] : "") : NULL;
            last = t;
            if (!fk) {
                st = tdo_nomem(err);
                break;
            }
        }
        if (!fk_pair(fk, k.s[3], k.s[4]))
            st = tdo_nomem(err);
    }
    tdo_free(key);
    cat_close(&k);
    return st;
}

/* Query 3: (table, index name, unique 0/1, column), one row per column
 * in index order; not the primary key's. */
static tdo_status read_indexes(tdo_conn *c, const char *sql, tdo_ischema *s,
                               tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(c, sql, &k, err);
    tdo_iindex *x = NULL;
    tdo_itable *last = NULL;
    while (!st && cat_next(&k, 4, &st, err)) {
        tdo_itable *t = k.s[0] ? tdo_ischema_table(s, k.s[0]) : NULL;
        if (!t || !k.s[1])
            continue;
        if (!x || t != last || strcmp(x->name, k.s[1]) != 0) {
            if (!(x = tdo_itable_add_index(t, k.s[1], k.i[2] != 0))) {
                st = tdo_nomem(err);
                break;
            }
            last = t;
        }
        if (!tdo_strings_add(&x->cols, &x->n, k.s[3]))
            st = tdo_nomem(err);
    }
    cat_close(&k);
    return st;
}

/* Reads the catalogue of c's database (see tdo_int.h). */
tdo_status tdo_introspect(tdo_conn *c, tdo_ischema *out, tdo_error *err)
{
    memset(out, 0, sizeof(*out));
    const tdo_dialect *d = tdo_conn_dialect(c);
    const char *const *q = d->catalog_sql;
    if (!q[0])
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "%s: reading the catalogue is not supported",
                             d->name);
    tdo_status st = read_tables(c, q[0], out, err);
    if (!st)
        st = read_columns(c, q[1], out, err);
    if (!st)
        st = read_foreign_keys(c, q[2], out, err);
    if (!st)
        st = read_indexes(c, q[3], out, err);
    if (st)
        tdo_ischema_release(out);
    return st;
}

/* The tables and views of c's database (see testudo.h). */
tdo_status tdo_conn_relations(tdo_conn *c, char ***tables, size_t *ntables,
                              char ***views, size_t *nviews, tdo_error *err)
{
    *tables = *views = NULL;
    *ntables = *nviews = 0;
    tdo_ischema s;
    memset(&s, 0, sizeof(s));
    const char *q0 = tdo_conn_dialect(c)->catalog_sql[0];
    tdo_status st = q0 ? read_tables(c, q0, &s, err)
                       : tdo_error_set(err, TDO_ERR_OPERATIONAL,
                                       "%s: reading the catalogue is not "
                                       "supported",
                                       tdo_conn_dialect(c)->name);
    if (!st && s.n) {
        *tables = tdo_calloc(s.n, sizeof(**tables));
        *views = tdo_calloc(s.n, sizeof(**views));
        if (!*tables || !*views)
            st = tdo_nomem(err);
    }
    for (size_t i = 0; !st && i < s.n; i++) {
        if (s.tables[i].view)
            (*views)[(*nviews)++] = s.tables[i].name; /* moved out of s */
        else
            (*tables)[(*ntables)++] = s.tables[i].name;
        s.tables[i].name = NULL;
    }
    if (st) {
        tdo_free_strings(*tables, *ntables);
        tdo_free_strings(*views, *nviews);
        *tables = *views = NULL;
        *ntables = *nviews = 0;
    }
    tdo_ischema_release(&s);
    return st;
}
