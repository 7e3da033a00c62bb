/*
 * introspect_sqlite.c -- SQLite's catalogue read into a tdo_ischema: four
 * queries over sqlite_master joined with the table-valued pragmas
 * (table_info, foreign_key_list, index_list / index_info), whatever the
 * number of tables.
 */
#include "tdo_int.h"

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

#define USER_TABLES                                                            \
    "m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"

static tdo_status read_tables(tdo_conn *c, tdo_ischema *s, tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(c,
                             "SELECT m.name, m.type FROM sqlite_master m "
                             "WHERE " USER_TABLES " ORDER BY m.name",
                             &k, err);
    while (!st && cat_next(&k, 2, &st, err))
        if (!tdo_ischema_add_table(s, k.s[0],
                                   k.s[1] && !strcmp(k.s[1], "view")))
            st = tdo_nomem(err);
    cat_close(&k);
    return st;
}

static tdo_status read_columns(tdo_conn *c, tdo_ischema *s, tdo_error *err)
{
    cat k;
    tdo_status st = cat_open(
        c,
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk "
        "FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE " USER_TABLES " ORDER BY m.name, p.cid",
        &k, err);
    while (!st && cat_next(&k, 6, &st, err)) {
        tdo_itable *t = tdo_ischema_table(s, k.s[0]);
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

static tdo_status read_foreign_keys(tdo_conn *c, tdo_ischema *s, tdo_error *err)
{
    cat k;
    tdo_status st =
        cat_open(c,
                 "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\" "
                 "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f "
                 "WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
                 &k, err);
    const char *last_table = NULL;
    int64_t last_id = -1;
    tdo_iforeign *fk = NULL;
    while (!st && cat_next(&k, 5, &st, err)) {
        tdo_itable *t = tdo_ischema_table(s, k.s[0]);
        if (!t)
            continue;
        if (!fk || last_table != t->name || last_id != k.i[1]) {
            if (!(fk = tdo_itable_add_fk(t, k.s[2] ? k.s[2] : ""))) {
                st = tdo_nomem(err);
                break;
            }
            last_table = t->name;
            last_id = k.i[1];
        }
        /* "to" is NULL when the key refers to the primary key: "" */
        size_t n = fk->n, n2 = fk->n;
        if (!tdo_strings_add(&fk->from, &n, k.s[3])) {
            st = tdo_nomem(err);
        } else if (!tdo_strings_add(&fk->to, &n2, k.s[4])) {
            tdo_free(fk->from[fk->n]);
            st = tdo_nomem(err);
        } else {
            fk->n = n;
        }
    }
    cat_close(&k);
    return st;
}

static tdo_status read_indexes(tdo_conn *c, tdo_ischema *s, tdo_error *err)
{
    cat k;
    tdo_status st =
        cat_open(c,
                 "SELECT m.name, il.name, il.\"unique\", il.origin, ii.name "
                 "FROM sqlite_master m JOIN pragma_index_list(m.name) il "
                 "JOIN pragma_index_info(il.name) ii "
                 "WHERE m.type = 'table' ORDER BY m.name, il.name, ii.seqno",
                 &k, err);
    tdo_iindex *x = NULL;
    while (!st && cat_next(&k, 5, &st, err)) {
        tdo_itable *t = tdo_ischema_table(s, k.s[0]);
        if (!t || (k.s[3] && !strcmp(k.s[3], "pk")))
            continue; /* the primary key is the columns' pk */
        if (!x || strcmp(x->name, k.s[1]) != 0) {
            if (!(x = tdo_itable_add_index(t, k.s[1], k.i[2] != 0))) {
                st = tdo_nomem(err);
                break;
            }
        }
        if (!tdo_strings_add(&x->cols, &x->n, k.s[4]))
            st = tdo_nomem(err);
    }
    cat_close(&k);
    return st;
}

/* Reads the whole catalogue of an SQLite database into out. */
tdo_status tdo_introspect_sqlite(tdo_conn *c, tdo_ischema *out, tdo_error *err)
{
    tdo_status st = read_tables(c, out, err);
    if (!st)
        st = read_columns(c, out, err);
    if (!st)
        st = read_foreign_keys(c, out, err);
    if (!st)
        st = read_indexes(c, out, err);
    return st;
}
