/*
 * exec.c -- running statements on a connection: parameters converted
 * through the dialect, tracing, result cursors that decode each column,
 * and the query shortcuts (compile a query, then run it).
 */
#include "tdo_int.h"

#include <stdalign.h>

#include <stdio.h>
#include <string.h>

/* ---- cursors ---------------------------------------------------------- */

struct tdo_rows {
    const tdo_backend *be;
    void *stmt; /* NULL once finished */
    const tdo_dialect *dialect;
    bool use_tz;
    bool done;
    char *sql; /* for error messages; in the cursor's block */
    size_t ncols;
    char **names; /* in the cursor's block, as the strings */
    const tdo_field **fields;
    tdo_value *vals;   /* decoded values of the current row (in the block;
                          the values owned) */
    tdo_session *sess; /* the session read from while stmt lives; ref */
};

/* Gives the statement back and lets go of the session. */
static void rows_finish(tdo_rows *r)
{
    if (r->stmt)
        r->be->release(r->stmt);
    r->stmt = NULL;
    if (r->sess) {
        r->sess->cursors--;
        tdo_session_unref(r->sess);
        r->sess = NULL;
    }
}

/* Frees a cursor (NULL is fine); gives its statement back. */
void tdo_rows_free(tdo_rows *r)
{
    if (!r)
        return;
    rows_finish(r);
    for (size_t i = 0; r->vals && i < r->ncols; i++)
        tdo_value_release(&r->vals[i]);
    tdo_free(r); /* one block: the cursor, its arrays and its strings */
}

/* Makes a cursor over the started stmt (taken over even on failure):
 * one allocation for the cursor, its per-column arrays, the SQL and the
 * column names. */
static tdo_status rows_new(tdo_conn *c, tdo_session *sess, void *stmt,
                           const char *sql, const tdo_colinfo *cols,
                           size_t ncols, tdo_rows **out, tdo_error *err)
{
    *out = NULL;
    size_t nc = c->backend->ncols(stmt), n = nc ? nc : 1;
    size_t sqllen = strlen(sql) + 1, text = sqllen;
    for (size_t i = 0; i < nc; i++) {
        const char *name = i < ncols && cols[i].name
                               ? cols[i].name
                               : c->backend->colname(stmt, i);
        text += strlen(name ? name : "") + 1;
    }
    size_t off_names = tdo_align_up_(sizeof(tdo_rows), alignof(char *));
    size_t off_fields =
        tdo_align_up_(off_names + n * sizeof(char *), alignof(tdo_field *));
    size_t off_vals =
        tdo_align_up_(off_fields + n * sizeof(tdo_field *), alignof(tdo_value));
    size_t off_text = off_vals + n * sizeof(tdo_value);
    char *block = tdo_malloc(off_text + text);
    if (!block) {
        c->backend->release(stmt);
        return tdo_nomem(err);
    }
    tdo_rows *r = (tdo_rows *)block;
    memset(r, 0, sizeof(*r));
    r->be = c->backend;
    r->stmt = stmt;
    r->sess = sess;
    sess->refs++;
    sess->cursors++;
    r->dialect = c->backend->dialect;
    r->use_tz = c->ctx->use_tz;
    r->ncols = nc;
    r->names = (char **)(block + off_names);
    r->fields = (const tdo_field **)(block + off_fields);
    r->vals = (tdo_value *)(block + off_vals);
    char *p = block + off_text;
    r->sql = memcpy(p, sql, sqllen);
    p += sqllen;
    for (size_t i = 0; i < nc; i++) {
        const char *name =
            i < ncols && cols[i].name ? cols[i].name : r->be->colname(stmt, i);
        size_t len = strlen(name ? name : "") + 1;
        r->names[i] = memcpy(p, name ? name : "", len);
        p += len;
        r->fields[i] = i < ncols ? cols[i].field : NULL;
        r->vals[i] = tdo_value_null();
    }
    *out = r;
    return TDO_OK;
}

/* Steps the cursor; *has_row is false at the end. */
tdo_status tdo_rows_next(tdo_rows *r, bool *has_row, tdo_error *err)
{
    *has_row = false;
    for (size_t i = 0; i < r->ncols; i++)
        tdo_value_release(&r->vals[i]);
    if (r->done)
        return TDO_OK;
    tdo_status st = r->be->step(r->stmt, has_row, err);
    if (st)
        tdo_error_set_sql(err, r->sql);
    if (st || !*has_row) {
        r->done = true;
        rows_finish(r);
    }
    return st;
}

/* Returns the number of columns of the cursor. */
size_t tdo_rows_ncols(const tdo_rows *r)
{
    return r->ncols;
}

/* Returns the name of column i (belongs to r), NULL past the end. */
const char *tdo_rows_colname(const tdo_rows *r, size_t i)
{
    return i < r->ncols ? r->names[i] : NULL;
}

/* Returns the field column i decodes as, or NULL. */
const tdo_field *tdo_rows_colfield(const tdo_rows *r, size_t i)
{
    return i < r->ncols ? r->fields[i] : NULL;
}

/* Column i of the current row decoded through the dialect's from_db
 * when it has a field; borrowed until the next tdo_rows_next(). */
tdo_status tdo_rows_get(tdo_rows *r, size_t i, tdo_value *out, tdo_error *err)
{
    *out = tdo_value_null();
    if (i >= r->ncols)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "column %zu out of range (%zu columns)", i,
                             r->ncols);
    if (!r->stmt)
        return tdo_error_set(err, TDO_ERR_PARAMS, "no current row");
    tdo_value raw;
    tdo_status st = r->be->column(r->stmt, i, &raw, err);
    if (st)
        return st;
    if (!r->fields[i] || !r->dialect->from_db) {
        *out = raw;
        return TDO_OK;
    }
    tdo_value_release(&r->vals[i]);
    st = r->dialect->from_db(r->fields[i], &raw, &r->vals[i], r->use_tz, err);
    if (st)
        return st;
    *out = r->vals[i];
    return TDO_OK;
}

/* ---- execution -------------------------------------------------------- */

/* Runs one statement: trace, convert the parameters with to_db, prepare,
 * bind, then either hand a cursor out or run it to the end. */
tdo_status tdo_conn_run(tdo_conn *c, const char *sql, const tdo_value *params,
                        size_t n, const tdo_colinfo *cols, size_t ncols,
                        unsigned flags, tdo_rows **rows, int64_t *changes,
                        tdo_error *err)
{
    const tdo_backend *be = c->backend;
    const tdo_dialect *d = be->dialect;
    tdo_status st;
    if (rows)
        *rows = NULL;
    if (changes)
        *changes = 0;
    tdo_session *sess = NULL;
    if ((st = tdo_pool_acquire(c, &sess, err))) {
        tdo_error_set_sql(err, sql);
        return st;
    }
    if (c->ctx->trace)
        c->ctx->trace(c->ctx->trace_ud, c->name, sql, params, n);
    if (flags & TDO_RUN_COUNTED)
        c->nqueries++;
    tdo_value *conv = NULL;
    if (n) {
        if (!(conv = tdo_calloc(n, sizeof(*conv))))
            return tdo_nomem(err);
        for (size_t i = 0; i < n; i++) {
            if (!d->to_db) {
                conv[i] = params[i];
                conv[i].owned = false;
            } else if ((st = d->to_db(NULL, &params[i], &conv[i],
                                      c->ctx->use_tz, err))) {
                for (size_t j = 0; j < i; j++)
                    tdo_value_release(&conv[j]);
                tdo_free(conv);
                tdo_error_set_sql(err, sql);
                return st;
            }
        }
    }
    void *stmt = NULL;
    c->running = sess->db;
    st = be->prepare(sess->db, sql, &stmt, err);
    if (!st && rows && (flags & TDO_RUN_STREAM) && be->execute_stream)
        st = be->execute_stream(stmt, conv, n, err);
    else if (!st)
        st = be->execute(stmt, conv, n, err);
    for (size_t i = 0; i < n; i++)
        tdo_value_release(&conv[i]);
    tdo_free(conv);
    if (!st && rows) {
        c->running = NULL;
        return rows_new(c, sess, stmt, sql, cols, ncols, rows, err);
    }
    bool has_row = !st;
    while (!st && has_row)
        st = be->step(stmt, &has_row, err);
    c->running = NULL;
    if (!st && changes)
        *changes = be->changes(stmt);
    if (stmt)
        be->release(stmt);
    if (st)
        tdo_error_set_sql(err, sql);
    return st;
}

/* Runs sql with bound params; *rows (if rows is not NULL) gets a new
 * cursor (tdo_rows_free()), *changes the rows changed. */
tdo_status tdo_conn_execute(tdo_conn *c, const char *sql,
                            const tdo_value *params, size_t nparams,
                            tdo_rows **rows, int64_t *changes, tdo_error *err)
{
    return tdo_conn_run(c, sql, params, nparams, NULL, 0, TDO_RUN_COUNTED, rows,
                        changes, err);
}

/* Runs a compiled statement; the cursor decodes the compiled columns. */
tdo_status tdo_conn_execute_compiled(tdo_conn *c, const tdo_compiled *comp,
                                     tdo_rows **rows, int64_t *changes,
                                     tdo_error *err)
{
    return tdo_conn_run(c, comp->sql, comp->params, comp->nparams, comp->cols,
                        comp->ncols, TDO_RUN_COUNTED, rows, changes, err);
}

/* Frees an array of n malloc'd strings and the array itself. */
void tdo_free_strings(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        tdo_free(names[i]);
    tdo_free(names);
}

/* Lists the tables of c's database through the dialect's catalogue query. */
tdo_status tdo_conn_tables(tdo_conn *c, char ***names, size_t *n,
                           tdo_error *err)
{
    *names = NULL;
    *n = 0;
    const tdo_dialect *d = tdo_conn_dialect(c);
    if (d->tables_sql == NULL)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "listing tables is not supported on %s", d->name);
    tdo_rows *r = NULL;
    tdo_status st = tdo_conn_execute(c, d->tables_sql, NULL, 0, &r, NULL, err);
    char **out = NULL;
    size_t len = 0, cap = 0;
    bool has_row = false;
    while (!st && !(st = tdo_rows_next(r, &has_row, err)) && has_row) {
        tdo_value v;
        if ((st = tdo_rows_get(r, 0, &v, err)))
            break;
        if (v.type != TDO_TEXT && v.type != TDO_BLOB)
            continue;
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **grown = tdo_realloc(out, ncap * sizeof(*out));
            if (grown == NULL) {
                st = tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
                break;
            }
            out = grown;
            cap = ncap;
        }
        if ((out[len] = tdo_strndup(v.u.s.ptr, v.u.s.len)) == NULL) {
            st = tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
            break;
        }
        len++;
    }
    tdo_rows_free(r);
    if (st) {
        tdo_free_strings(out, len);
        return st;
    }
    *names = out;
    *n = len;
    return TDO_OK;
}

/* Runs ;-separated statements without parameters (DDL). */
tdo_status tdo_conn_execute_script(tdo_conn *c, const char *sql, tdo_error *err)
{
    tdo_session *sess = NULL;
    tdo_status st = tdo_pool_acquire(c, &sess, err);
    if (st)
        return st;
    if (c->ctx->trace)
        c->ctx->trace(c->ctx->trace_ud, c->name, sql, NULL, 0);
    c->nqueries++;
    c->running = sess->db;
    st = c->backend->exec_script(sess->db, sql, err);
    c->running = NULL;
    if (st)
        tdo_error_set_sql(err, sql);
    return st;
}

/* ---- query shortcuts -------------------------------------------------- */

/* Compiles q as a SELECT for c's dialect and runs it with flags; with a
 * prefix (EXPLAIN) before its SQL, the rows are the database's own
 * columns, not q's.  *rows is new. */
static tdo_status run_select(tdo_conn *c, const tdo_query *q,
                             const char *prefix, unsigned flags,
                             tdo_rows **rows, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    *rows = NULL;
    tdo_status st = tdo_compile(q, TDO_STMT_SELECT, tdo_conn_dialect(c), NULL,
                                0, &comp, err);
    tdo_sb sql = TDO_SB_INIT;
    if (!st && prefix) {
        tdo_sb_adds(&sql, prefix);
        tdo_sb_adds(&sql, comp->sql);
        st = sql.oom ? tdo_nomem(err)
                     : tdo_conn_run(c, sql.buf, comp->params, comp->nparams,
                                    NULL, 0, flags, rows, NULL, err);
    } else if (!st) {
        st = tdo_conn_run(c, comp->sql, comp->params, comp->nparams, comp->cols,
                          comp->ncols, flags, rows, NULL, err);
    }
    tdo_sb_release(&sql);
    tdo_compiled_free(comp);
    return st;
}

/* Compiles q as a SELECT for c's dialect and runs it; *rows is new. */
tdo_status tdo_query_run(tdo_conn *c, const tdo_query *q, tdo_rows **rows,
                         tdo_error *err)
{
    return run_select(c, q, NULL, TDO_RUN_COUNTED, rows, err);
}

/* Compiles q for c's dialect and runs it, its rows streamed. */
tdo_status tdo_query_stream(tdo_conn *c, const tdo_query *q, tdo_rows **rows,
                            tdo_error *err)
{
    return run_select(c, q, NULL, TDO_RUN_COUNTED | TDO_RUN_STREAM, rows, err);
}

/* Compiles q for c's dialect and runs it behind the dialect's EXPLAIN. */
tdo_status tdo_query_explain(tdo_conn *c, const tdo_query *q, tdo_rows **rows,
                             tdo_error *err)
{
    const tdo_dialect *d = tdo_conn_dialect(c);
    *rows = NULL;
    if (!d->explain)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL, "%s has no EXPLAIN",
                             d->name);
    return run_select(c, q, d->explain, TDO_RUN_COUNTED, rows, err);
}

/* Runs a one-row, one-column statement; *v gets column 0 (an integer). */
static tdo_status scalar(tdo_conn *c, const tdo_query *q, tdo_stmt_kind kind,
                         int64_t *v, bool *any, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    tdo_rows *r = NULL;
    *v = 0;
    *any = false;
    tdo_status st =
        tdo_compile(q, kind, tdo_conn_dialect(c), NULL, 0, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, &r, NULL, err);
    if (!st)
        st = tdo_rows_next(r, any, err);
    if (!st && *any) {
        tdo_value val;
        st = tdo_rows_get(r, 0, &val, err);
        if (!st) {
            if (val.type == TDO_INT)
                *v = val.u.i;
            else if (val.type == TDO_BOOL)
                *v = val.u.b;
            else if (val.type == TDO_DOUBLE)
                *v = (int64_t)val.u.d;
            else if (val.type != TDO_NULL)
                *v = 1;
        }
    }
    tdo_rows_free(r);
    tdo_compiled_free(comp);
    return st;
}

/* Counts the rows of q. */
tdo_status tdo_query_count(tdo_conn *c, const tdo_query *q, int64_t *count,
                           tdo_error *err)
{
    bool any;
    return scalar(c, q, TDO_STMT_COUNT, count, &any, err);
}

/* Whether q matches any row. */
tdo_status tdo_query_exists(tdo_conn *c, const tdo_query *q, bool *exists,
                            tdo_error *err)
{
    int64_t v;
    bool any;
    tdo_status st = scalar(c, q, TDO_STMT_EXISTS, &v, &any, err);
    *exists = !st && any && v != 0;
    return st;
}

static tdo_status run_changes(tdo_conn *c, const tdo_query *q,
                              tdo_stmt_kind kind, const tdo_assign *assigns,
                              size_t n, int64_t *changed, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    int64_t ch = 0;
    tdo_status st =
        tdo_compile(q, kind, tdo_conn_dialect(c), assigns, n, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, NULL, &ch, err);
    tdo_compiled_free(comp);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}

/* UPDATE of the rows of q; *changed gets the rows changed. */
tdo_status tdo_query_update(tdo_conn *c, const tdo_query *q,
                            const tdo_assign *assigns, size_t n,
                            int64_t *changed, tdo_error *err)
{
    return run_changes(c, q, TDO_STMT_UPDATE, assigns, n, changed, err);
}

/* DELETE of the rows of q; *deleted gets the rows deleted. */
tdo_status tdo_query_delete(tdo_conn *c, const tdo_query *q, int64_t *deleted,
                            tdo_error *err)
{
    tdo_status st = tdo_delete_set_defaults_(c, q->model, q, NULL, err);
    if (st) {
        if (deleted)
            *deleted = 0;
        return st;
    }
    return run_changes(c, q, TDO_STMT_DELETE, NULL, 0, deleted, err);
}

/* The pk value row i gave explicitly (not NULL), or NULL. */
static const tdo_value *given_pk(const tdo_model *m,
                                 const tdo_field *const *fields, size_t nfields,
                                 const tdo_value *vals, size_t i)
{
    for (size_t j = 0; j < nfields; j++)
        if (fields[j] == m->pk && vals[i * nfields + j].type != TDO_NULL)
            return &vals[i * nfields + j];
    return NULL;
}

static tdo_status insert_run(tdo_conn *c, const tdo_model *m,
                             const tdo_field *const *fields, size_t nfields,
                             const tdo_value *vals, size_t nrows,
                             const tdo_compiled *comp, tdo_value *pks,
                             tdo_error *err);

/* One INSERT with an upsert: compiled for this call (not kept by shape). */
static tdo_status insert_upsert_one(tdo_conn *c, const tdo_model *m,
                                    const tdo_field *const *fields,
                                    size_t nfields, const tdo_value *vals,
                                    size_t nrows, const tdo_upsert *u,
                                    tdo_value *pks, tdo_error *err)
{
    for (size_t i = 0; pks && i < nrows; i++)
        pks[i] = tdo_value_null();
    tdo_compiled *comp = NULL;
    tdo_status st = tdo_compile_insert_(m, tdo_conn_dialect(c), fields, nfields,
                                        vals, nrows, false, u, &comp, err);
    /* without RETURNING the keys are unknown: an updated row changes no
     * insert id (and MySQL counts it twice) */
    if (!st)
        st = insert_run(c, m, fields, nfields, vals, nrows, comp,
                        comp->returning ? pks : NULL, err);
    tdo_compiled_free(comp);
    return st;
}

static tdo_status insert_batches(tdo_conn *c, const tdo_model *m,
                                 const tdo_field *const *fields, size_t nfields,
                                 const tdo_value *values, size_t nrows,
                                 size_t batch, bool ignore_conflicts,
                                 const tdo_upsert *u, tdo_value *pks,
                                 tdo_error *err);

tdo_status tdo_insert_upsert(tdo_conn *c, const tdo_model *m,
                             const tdo_field *const *fields, size_t nfields,
                             const tdo_value *values, size_t nrows,
                             size_t batch, const tdo_upsert *u, tdo_value *pks,
                             tdo_error *err)
{
    if (!u || !u->non || !u->nset)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "an upsert needs on_conflict (the unique fields "
                             "a new row may clash on) and update_fields (the "
                             "fields it then updates)");
    return insert_batches(c, m, fields, nfields, values, nrows, batch, false, u,
                          pks, err);
}

/* tdo_insert in batches, all or nothing (see testudo.h). */
tdo_status tdo_insert_batches(tdo_conn *c, const tdo_model *m,
                              const tdo_field *const *fields, size_t nfields,
                              const tdo_value *values, size_t nrows,
                              size_t batch, bool ignore_conflicts,
                              tdo_value *pks, tdo_error *err)
{
    return insert_batches(c, m, fields, nfields, values, nrows, batch,
                          ignore_conflicts, NULL, pks, err);
}

static tdo_status insert_batches(tdo_conn *c, const tdo_model *m,
                                 const tdo_field *const *fields, size_t nfields,
                                 const tdo_value *values, size_t nrows,
                                 size_t batch, bool ignore_conflicts,
                                 const tdo_upsert *u, tdo_value *pks,
                                 tdo_error *err)
{
    /* without a batch size: statements of TDO_INSERT_BATCH rows (within
     * every database's parameter limit), the same text each time, so
     * each is prepared once */
    if (batch == 0) {
        size_t limit = TDO_MAX_PARAMS / (nfields ? nfields : 1);
        batch =
            limit < TDO_INSERT_BATCH ? (limit ? limit : 1) : TDO_INSERT_BATCH;
    }
    size_t per = batch < nrows ? batch : nrows;
    bool tx = nrows > per;
    tdo_status st = tx ? tdo_conn_begin(c, err) : TDO_OK;
    for (size_t start = 0; !st && start < nrows; start += per) {
        size_t cnt = nrows - start < per ? nrows - start : per;
        st =
            u ? insert_upsert_one(c, m, fields, nfields,
                                  values + start * nfields, cnt, u,
                                  pks ? pks + start : NULL, err)
              : tdo_insert(c, m, fields, nfields, values + start * nfields, cnt,
                           ignore_conflicts, pks ? pks + start : NULL, err);
    }
    if (tx && st) {
        tdo_error e2 = TDO_ERROR_INIT;
        tdo_conn_rollback(c, &e2);
        tdo_error_release(&e2);
    } else if (tx) {
        st = tdo_conn_commit(c, err);
    }
    return st;
}

/* ---- statements by shape ---------------------------------------------- */

/* A model keeps the statements it compiled for one-row writes and
 * inserts, by shape: what the SQL text depends on (the kind, the dialect,
 * the fields, the rows, the conflict mode), not the values.  Saving the
 * same shape again binds new values to the same text: no compiling, and
 * the session's statement cache finds it prepared. */
enum { SHAPE_INSERT, SHAPE_UPDATE, SHAPE_DELETE, MAX_SHAPES = 8 };

struct tdo_shape {
    int kind;
    const tdo_dialect *d;
    const tdo_field **fields; /* owned copy of the field list */
    size_t nfields, nrows;
    bool flag;          /* INSERT: ignore conflicts */
    tdo_compiled *comp; /* its text, RETURNING and columns; owned */
    uint64_t used;      /* m->shape_tick when last used */
};

/* Drops m's statements by shape. */
void tdo_model_free_shapes_(tdo_model *m)
{
    for (size_t i = 0; i < m->nshapes; i++) {
        tdo_free(m->shapes[i].fields);
        tdo_compiled_free(m->shapes[i].comp);
    }
    tdo_free(m->shapes);
    m->shapes = NULL;
    m->nshapes = 0;
}

/* The statement of this shape m keeps, or NULL. */
static const tdo_compiled *shape_find(const tdo_model *cm, int kind,
                                      const tdo_dialect *d,
                                      const tdo_field *const *fields,
                                      size_t nfields, size_t nrows, bool flag)
{
    tdo_model *m = (tdo_model *)cm; /* the cache is not the model's value */
    for (size_t i = 0; i < m->nshapes; i++) {
        struct tdo_shape *e = &m->shapes[i];
        if (e->kind == kind && e->d == d && e->nfields == nfields &&
            e->nrows == nrows && e->flag == flag &&
            (!nfields ||
             !memcmp(e->fields, fields, nfields * sizeof(*fields)))) {
            e->used = ++m->shape_tick;
            return e->comp;
        }
    }
    return NULL;
}

/* Keeps comp as m's statement of this shape (taking it over: freed now
 * when it cannot be kept); the least recently used one makes room. */
static void shape_keep(const tdo_model *cm, int kind, const tdo_dialect *d,
                       const tdo_field *const *fields, size_t nfields,
                       size_t nrows, bool flag, tdo_compiled *comp)
{
    tdo_model *m = (tdo_model *)cm;
    const tdo_field **copy =
        tdo_malloc((nfields ? nfields : 1) * sizeof(*copy));
    if (!copy) {
        tdo_compiled_free(comp);
        return;
    }
    if (nfields)
        memcpy(copy, fields, nfields * sizeof(*fields));
    struct tdo_shape *e = NULL;
    if (m->nshapes < MAX_SHAPES) {
        struct tdo_shape *grown =
            tdo_realloc(m->shapes, (m->nshapes + 1) * sizeof(*grown));
        if (grown) {
            m->shapes = grown;
            e = &m->shapes[m->nshapes++];
            memset(e, 0, sizeof(*e));
        }
    }
    if (!e) { /* full: the least recently used one goes */
        for (size_t i = 0; i < m->nshapes; i++)
            if (!e || m->shapes[i].used < e->used)
                e = &m->shapes[i];
    }
    if (!e) {
        tdo_free(copy);
        tdo_compiled_free(comp);
        return;
    }
    tdo_free(e->fields);
    tdo_compiled_free(e->comp);
    *e = (struct tdo_shape){kind,  d,    copy, nfields,
                            nrows, flag, comp, ++m->shape_tick};
}

/* Inserts nrows rows; pks (may be NULL) receives their primary keys
 * (owned by the caller; NULL where unknown). */
tdo_status tdo_insert(tdo_conn *c, const tdo_model *m,
                      const tdo_field *const *fields, size_t nfields,
                      const tdo_value *vals, size_t nrows,
                      bool ignore_conflicts, tdo_value *pks, tdo_error *err)
{
    tdo_status st;
    for (size_t i = 0; pks && i < nrows; i++)
        pks[i] = tdo_value_null();
    const tdo_dialect *d = tdo_conn_dialect(c);
    /* the parameters are the values as given, row after row */
    const tdo_compiled *comp = shape_find(m, SHAPE_INSERT, d, fields, nfields,
                                          nrows, ignore_conflicts);
    if (comp) {
        st = tdo_insert_check_(m, fields, nfields, vals, nrows, err);
    } else {
        tdo_compiled *made = NULL;
        st = tdo_compile_insert(m, d, fields, nfields, vals, nrows,
                                ignore_conflicts, &made, err);
        if (!st) {
            shape_keep(m, SHAPE_INSERT, d, fields, nfields, nrows,
                       ignore_conflicts, made);
            comp = shape_find(m, SHAPE_INSERT, d, fields, nfields, nrows,
                              ignore_conflicts);
            if (!comp) /* not kept (out of memory) */
                st = tdo_nomem(err);
        }
    }
    if (st)
        return st;
    return insert_run(c, m, fields, nfields, vals, nrows, comp, pks, err);
}

/* Runs the compiled INSERT comp of nrows rows; pks as tdo_insert. */
static tdo_status insert_run(tdo_conn *c, const tdo_model *m,
                             const tdo_field *const *fields, size_t nfields,
                             const tdo_value *vals, size_t nrows,
                             const tdo_compiled *comp, tdo_value *pks,
                             tdo_error *err)
{
    tdo_status st = TDO_OK;
    size_t np = nrows * nfields;
    if (comp->returning && pks) {
        tdo_rows *r = NULL;
        tdo_colinfo pkcol = {m->pk ? m->pk->name : "pk", m->pk};
        st = tdo_conn_run(
            c, comp->sql, vals, np, comp->ncols ? comp->cols : &pkcol,
            comp->ncols ? comp->ncols : 1, TDO_RUN_COUNTED, &r, NULL, err);
        size_t got = 0;
        bool has = !st;
        while (!st && has) {
            st = tdo_rows_next(r, &has, err);
            if (st || !has)
                break;
            tdo_value v;
            if (!(st = tdo_rows_get(r, 0, &v, err)) && got < nrows) {
                if (tdo_value_copy(&pks[got], &v))
                    st = tdo_nomem(err);
                else
                    got++;
            }
        }
        tdo_rows_free(r);
        if (!st && got != nrows) {
            /* conflicts were ignored: keep only what the caller gave */
            for (size_t i = 0; i < nrows; i++) {
                tdo_value_release(&pks[i]);
                const tdo_value *g = given_pk(m, fields, nfields, vals, i);
                if (g && tdo_value_copy(&pks[i], g))
                    st = tdo_nomem(err);
            }
        }
    } else {
        int64_t changes = 0;
        st = tdo_conn_run(c, comp->sql, vals, np, comp->cols, comp->ncols,
                          TDO_RUN_COUNTED, NULL, &changes, err);
        tdo_value last = tdo_value_null();
        bool need_last = false;
        for (size_t i = 0; !st && pks && i < nrows; i++)
            if (!given_pk(m, fields, nfields, vals, i))
                need_last = true;
        if (!st && need_last && changes == (int64_t)nrows &&
            c->backend->last_insert_id)
            st = c->backend->last_insert_id(c->db, &last, err);
        for (size_t i = 0; !st && pks && i < nrows; i++) {
            const tdo_value *g = given_pk(m, fields, nfields, vals, i);
            if (g) {
                if (tdo_value_copy(&pks[i], g))
                    st = tdo_nomem(err);
            } else if (last.type == TDO_INT) {
                tdo_value id =
                    tdo_value_int(last.u.i - (int64_t)(nrows - 1 - i));
                if (m->pk)
                    st = tdo_field_coerce(m->pk, &id, &pks[i], err);
                else
                    pks[i] = id;
            }
        }
        tdo_value_release(&last);
    }
    if (st && pks)
        for (size_t i = 0; i < nrows; i++)
            tdo_value_release(&pks[i]);
    return st;
}

/* Runs the statement of shape kind (UPDATE or DELETE by key) of m with
 * the values vals[0..n) then the key pk: compiled by make the first time,
 * kept by shape; *changed gets the rows changed. */
static tdo_status run_by_key(tdo_conn *c, const tdo_model *m, int kind,
                             const tdo_field *const *fields,
                             const tdo_value *vals, size_t n,
                             const tdo_value *pk, int64_t *changed,
                             tdo_error *err)
{
    const tdo_dialect *d = tdo_conn_dialect(c);
    const tdo_compiled *comp = shape_find(m, kind, d, fields, n, 1, false);
    tdo_status st = TDO_OK;
    if (!comp) {
        tdo_compiled *made = NULL;
        st = kind == SHAPE_UPDATE
                 ? tdo_compile_update_pk(m, d, fields, vals, n, pk, &made, err)
                 : tdo_compile_delete_pk(m, d, pk, &made, err);
        if (st)
            return st;
        shape_keep(m, kind, d, fields, n, 1, false, made);
        if (!(comp = shape_find(m, kind, d, fields, n, 1, false)))
            return tdo_nomem(err);
    } else if (kind == SHAPE_UPDATE) {
        st = tdo_update_check_(m, fields, vals, n, err);
    } else {
        st = tdo_model_check_writable_(m, "delete", err);
    }
    if (st)
        return st;
    size_t nkey = tdo_model_nkey(m), np = n + nkey;
    tdo_value *pv = tdo_malloc((np ? np : 1) * sizeof(*pv));
    if (!pv)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        pv[i] = vals[i];
        pv[i].owned = false; /* borrowed */
    }
    st = tdo_key_params_(m, pk, pv + n, err);
    if (!st) {
        st = tdo_conn_run(c, comp->sql, pv, np, NULL, 0, TDO_RUN_COUNTED, NULL,
                          changed, err);
        for (size_t i = n; i < np; i++)
            tdo_value_release(&pv[i]);
    }
    tdo_free(pv);
    return st;
}

/* UPDATE of fields of the row with primary key pk; *changed 0 or 1. */
tdo_status tdo_update_pk(tdo_conn *c, const tdo_model *m,
                         const tdo_field *const *fields, const tdo_value *vals,
                         size_t n, const tdo_value *pk, int64_t *changed,
                         tdo_error *err)
{
    int64_t ch = 0;
    tdo_status st =
        run_by_key(c, m, SHAPE_UPDATE, fields, vals, n, pk, &ch, err);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}

/* DELETE of the row with primary key pk; *changed 0 or 1. */
tdo_status tdo_delete_pk(tdo_conn *c, const tdo_model *m, const tdo_value *pk,
                         int64_t *changed, tdo_error *err)
{
    int64_t ch = 0;
    tdo_status st = tdo_delete_set_defaults_(c, m, NULL, pk, err);
    if (!st)
        st = run_by_key(c, m, SHAPE_DELETE, NULL, NULL, 0, pk, &ch, err);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}
