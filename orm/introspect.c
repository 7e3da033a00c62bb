/*
 * introspect.c -- what a database holds, read from its catalogue
 * (issue 11): tables and views, their columns (type, NOT NULL, default,
 * place in the primary key), foreign keys and indexes, in a tdo_ischema.
 * Each backend reads its own catalogue (introspect_sqlite.c, ...) with a
 * few queries for the whole database, never one per table; this file
 * holds the shared record keeping.
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
tdo_icolumn *tdo_itable_column(tdo_itable *t, const char *name)
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

/* Reads the catalogue of c's database (see tdo_int.h). */
tdo_status tdo_introspect(tdo_conn *c, tdo_ischema *out, tdo_error *err)
{
    memset(out, 0, sizeof(*out));
    const tdo_dialect *d = tdo_conn_dialect(c);
    if (!d->introspect)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "%s: reading the catalogue is not supported",
                             d->name);
    tdo_status st = d->introspect(c, out, err);
    if (st)
        tdo_ischema_release(out);
    return st;
}
