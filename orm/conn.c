/*
 * conn.c -- named connections over the drivers (backend_*.c): the driver
 * of each URL scheme, the pool of sessions each connection keeps (opened
 * on first use, minsize to maxsize), and transactions with savepoints.
 * Running statements on them is exec.c's.
 */
#include "tdo_int.h"

#include <stdio.h>

/* Every driver, found by URL scheme.  A new backend is one line here. */
static const tdo_backend *const backends[] = {
    &tdo_backend_sqlite,
    &tdo_backend_pg,
    &tdo_backend_mysql,
    NULL,
};

static const tdo_backend *find_backend(const char *scheme)
{
    const char *engine = tdo_url_engine(scheme, strlen(scheme));
    for (size_t i = 0; engine && backends[i]; i++)
        if (strcmp(backends[i]->name, engine) == 0)
            return backends[i];
    return NULL;
}

/* ---- connections and their pools -------------------------------------- */

void tdo_session_unref(tdo_session *s)
{
    if (s && --s->refs == 0) {
        if (s->db)
            s->be->close(s->db);
        tdo_free(s);
    }
}

/* Closes s's driver session (cursors keep their statements) and drops
 * the pool's reference. */
static void session_drop(tdo_session *s)
{
    if (s->db) {
        s->be->close(s->db);
        s->db = NULL;
    }
    tdo_session_unref(s);
}

static bool session_broken(const tdo_conn *c, const tdo_session *s)
{
    return !s->db || (c->backend->is_broken && c->backend->is_broken(s->db));
}

/* Takes s out of c's pool and closes it. */
static void pool_remove(tdo_conn *c, size_t i)
{
    tdo_session *s = c->sessions[i];
    memmove(c->sessions + i, c->sessions + i + 1,
            (c->nsessions - i - 1) * sizeof(*c->sessions));
    c->nsessions--;
    if (c->pinned == s)
        c->pinned = NULL;
    if (c->db == s->db)
        c->db = NULL;
    session_drop(s);
}

/* Closes every session of c; the pool stays configured. */
void tdo_conn_close_sessions(tdo_conn *c)
{
    if (!c)
        return;
    while (c->nsessions)
        pool_remove(c, c->nsessions - 1);
    c->pinned = NULL;
    c->db = NULL;
    c->tx_depth = 0;
}

static void conn_free(tdo_conn *c)
{
    if (!c)
        return;
    tdo_conn_close_sessions(c);
    tdo_free(c->sessions);
    tdo_dsn_release(&c->dsn);
    tdo_free(c->name);
    tdo_free(c->url);
    tdo_free(c);
}

/* The most sessions c may hold. */
static size_t pool_limit(const tdo_conn *c)
{
    size_t lim = c->dsn.maxsize > 0 ? (size_t)c->dsn.maxsize : 1;
    if (c->backend->max_sessions > 0 && (size_t)c->backend->max_sessions < lim)
        lim = (size_t)c->backend->max_sessions;
    return lim;
}

/* Makes session s of c refuse writes (see tdo_ctx_set_read_only()). */
static tdo_status session_read_only(tdo_conn *c, tdo_session *s, tdo_error *err)
{
    const char *ro = c->backend->dialect->read_only_sql;
    if (!s->db)
        return TDO_OK;
    if (c->backend->set_read_only)
        return c->backend->set_read_only(s->db, err);
    return ro ? c->backend->exec_script(s->db, ro, err) : TDO_OK;
}

/* Opens one more session into c's pool; *out is it. */
static tdo_status pool_open(tdo_conn *c, tdo_session **out, tdo_error *err)
{
    *out = NULL;
    if (c->nsessions == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 4;
        tdo_session **ns = tdo_realloc(c->sessions, ncap * sizeof(*ns));
        if (!ns)
            return tdo_nomem(err);
        c->sessions = ns;
        c->cap = ncap;
    }
    tdo_session *s = tdo_calloc(1, sizeof(*s));
    if (!s)
        return tdo_nomem(err);
    s->be = c->backend;
    s->refs = 1;
    tdo_status st = c->backend->connect(&c->dsn, &s->db, err);
    if (!st && c->ctx->read_only && (st = session_read_only(c, s, err)))
        c->backend->close(s->db);
    if (st) {
        tdo_free(s);
        return st;
    }
    c->sessions[c->nsessions++] = s;
    c->nopened++;
    *out = s;
    return TDO_OK;
}

static tdo_status lost_in_tx(tdo_conn *c, tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "the connection to the database of '%s' was lost "
                         "inside a transaction; roll it back (nothing was "
                         "retried)",
                         c->name);
}

/* Picks the session for c's next statement: the pinned one inside a
 * transaction (lost: OperationalError, never a silent reconnect); else an
 * idle one (broken idle sessions are closed first), a new one while the
 * pool has room (the first use opens minsize), else the least busy. */
tdo_status tdo_pool_acquire(tdo_conn *c, tdo_session **out, tdo_error *err)
{
    *out = NULL;
    if (c->tx_depth > 0) {
        if (!c->pinned || session_broken(c, c->pinned))
            return lost_in_tx(c, err);
        c->db = c->pinned->db;
        *out = c->pinned;
        return TDO_OK;
    }
    for (size_t i = c->nsessions; i-- > 0;)
        if (c->sessions[i]->cursors == 0 && session_broken(c, c->sessions[i]))
            pool_remove(c, i);
    tdo_session *best = NULL;
    for (size_t i = 0; i < c->nsessions; i++) {
        tdo_session *s = c->sessions[i];
        if (!best || s->cursors < best->cursors)
            best = s;
    }
    size_t lim = pool_limit(c);
    if (!best || (best->cursors > 0 && c->nsessions < lim)) {
        bool first = c->nsessions == 0;
        tdo_status st = pool_open(c, &best, err);
        if (st)
            return st;
        size_t want =
            (size_t)c->dsn.minsize < lim ? (size_t)c->dsn.minsize : lim;
        while (first && c->nsessions < want) {
            tdo_session *extra;
            if ((st = pool_open(c, &extra, err)))
                return st;
        }
    }
    c->db = best->db;
    *out = best;
    return TDO_OK;
}

/* Opens a session of c now when none is open (the URL, the server and
 * the credentials are checked at once instead of at the first query). */
tdo_status tdo_conn_open(tdo_conn *c, tdo_error *err)
{
    tdo_session *s;
    return tdo_pool_acquire(c, &s, err);
}

/* The pool of c: bounds, sessions open and busy. */
void tdo_conn_pool_stats(const tdo_conn *c, int *minsize, int *maxsize,
                         int *open, int *busy)
{
    int nbusy = 0;
    for (size_t i = 0; i < c->nsessions; i++)
        if (c->sessions[i]->cursors > 0 || c->sessions[i] == c->pinned)
            nbusy++;
    if (minsize)
        *minsize = c->dsn.minsize;
    if (maxsize)
        *maxsize = (int)pool_limit(c);
    if (open)
        *open = (int)c->nsessions;
    if (busy)
        *busy = nbusy;
}

/* Parses url and registers the connection name (closing and replacing an
 * existing one); sessions open on first use.  *out belongs to ctx. */
tdo_status tdo_connect(tdo_ctx *ctx, const char *name, const char *url,
                       tdo_conn **out, tdo_error *err)
{
    if (out)
        *out = NULL;
    if (!name || !*name)
        name = "default";
    tdo_conn *c = tdo_calloc(1, sizeof(*c));
    if (!c)
        return tdo_nomem(err);
    c->ctx = ctx;
    tdo_status st = tdo_dsn_parse(url, &c->dsn, err);
    if (st) {
        conn_free(c);
        return st;
    }
    if ((c->backend = find_backend(c->dsn.scheme)) &&
        (st = tdo_dsn_check_params(&c->dsn, c->backend->param_known,
                                   c->backend->name, err))) {
        conn_free(c);
        return st;
    }
    if (!c->backend) {
        tdo_sb known = TDO_SB_INIT;
        for (size_t i = 0; tdo_url_scheme(i); i++)
            tdo_sb_addf(&known, "%s%s", known.len ? ", " : "",
                        tdo_url_scheme(i));
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION,
                           "unknown database scheme '%s' in URL (known: %s)",
                           c->dsn.scheme, known.buf);
        tdo_sb_release(&known);
        conn_free(c);
        return st;
    }
    c->name = tdo_strdup(name);
    c->url = tdo_url_mask(url);
    if (!c->name || !c->url) {
        conn_free(c);
        return tdo_nomem(err);
    }
    for (size_t i = 0; i < ctx->nconns; i++) {
        if (strcmp(ctx->conns[i]->name, name) == 0) {
            conn_free(ctx->conns[i]);
            ctx->conns[i] = c;
            if (out)
                *out = c;
            return TDO_OK;
        }
    }
    tdo_conn **nc =
        tdo_realloc(ctx->conns, (ctx->nconns + 1) * sizeof(*ctx->conns));
    if (!nc) {
        conn_free(c);
        return tdo_nomem(err);
    }
    ctx->conns = nc;
    ctx->conns[ctx->nconns++] = c;
    if (out)
        *out = c;
    return TDO_OK;
}

/* Finds a connection by name (NULL: "default"); NULL if none. */
tdo_conn *tdo_ctx_conn(const tdo_ctx *ctx, const char *name)
{
    if (!name)
        name = "default";
    for (size_t i = 0; i < ctx->nconns; i++)
        if (strcmp(ctx->conns[i]->name, name) == 0)
            return ctx->conns[i];
    return NULL;
}

/* Returns the number of connections of ctx. */
size_t tdo_ctx_nconns(const tdo_ctx *ctx)
{
    return ctx->nconns;
}

/* Returns the i-th connection of ctx (belongs to ctx), NULL past the end. */
tdo_conn *tdo_ctx_conn_at(const tdo_ctx *ctx, size_t i)
{
    return i < ctx->nconns ? ctx->conns[i] : NULL;
}

/* Closes and forgets every connection of ctx (open cursors stay usable
 * until freed). */
void tdo_close_connections(tdo_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nconns; i++)
        conn_free(ctx->conns[i]);
    tdo_free(ctx->conns);
    ctx->conns = NULL;
    ctx->nconns = 0;
}

/* Returns the connection's name; belongs to c. */
const char *tdo_conn_name(const tdo_conn *c)
{
    return c->name;
}

/* Returns the URL with any password masked as "***"; belongs to c. */
const char *tdo_conn_url(const tdo_conn *c)
{
    return c->url;
}

/* Returns the dialect of the connection's backend; static. */
const tdo_dialect *tdo_conn_dialect(const tdo_conn *c)
{
    return c->backend->dialect;
}

/* Sets the function called before each statement (NULL: none). */
void tdo_ctx_set_trace(tdo_ctx *ctx, tdo_trace_fn fn, void *ud)
{
    ctx->trace = fn;
    ctx->trace_ud = ud;
}

/* Returns the statements run on c (transaction control excluded). */
uint64_t tdo_conn_query_count(const tdo_conn *c)
{
    return c->nqueries;
}

/* Asks the running statement of c to stop; safe in a signal handler:
 * the statement being prepared or started, else the statements of every
 * session an open cursor is reading (a SQLite step, a streamed result).
 * An idle session is left alone (SQLite would interrupt its next
 * statement instead). */
void tdo_conn_interrupt(tdo_conn *c)
{
    if (!c->backend->cancel)
        return;
    void *db = c->running;
    if (db) {
        c->backend->cancel(db);
        return;
    }
    for (size_t i = 0; i < c->nsessions; i++) {
        tdo_session *s = c->sessions[i];
        if (s && s->cursors > 0 && s->db)
            c->backend->cancel(s->db);
    }
}

/* Makes every session of ctx's connections refuse writes from now on:
 * the open ones at once, those opened later as they open. */
tdo_status tdo_ctx_set_read_only(tdo_ctx *ctx, tdo_error *err)
{
    ctx->read_only = true;
    for (size_t i = 0; i < ctx->nconns; i++) {
        tdo_conn *c = ctx->conns[i];
        for (size_t j = 0; c && j < c->nsessions; j++) {
            tdo_status st = session_read_only(c, c->sessions[j], err);
            if (st)
                return st;
        }
    }
    return TDO_OK;
}

/* Interrupts the running statements of every connection of ctx. */
void tdo_ctx_interrupt(tdo_ctx *ctx)
{
    for (size_t i = 0; ctx && i < ctx->nconns; i++)
        if (ctx->conns[i])
            tdo_conn_interrupt(ctx->conns[i]);
}

/* Returns the depth of open transactions of c (0: autocommit). */
int tdo_conn_tx_depth(const tdo_conn *c)
{
    return c->tx_depth;
}

/* ---- transactions ----------------------------------------------------- */

static tdo_status tx_exec(tdo_conn *c, const char *sql, tdo_error *err)
{
    return tdo_conn_run(c, sql, NULL, 0, NULL, 0, 0, NULL, NULL, err);
}

/* The pool's session whose driver session is db, or NULL. */
static tdo_session *session_of(const tdo_conn *c, const void *db)
{
    for (size_t i = 0; db && i < c->nsessions; i++)
        if (c->sessions[i]->db == db)
            return c->sessions[i];
    return NULL;
}

/* Ends the outermost transaction: the session goes back to the pool. */
static void tx_end(tdo_conn *c)
{
    c->tx_depth = 0;
    c->pinned = NULL;
}

/* Starts a transaction (pinning one session of the pool until it ends),
 * or a savepoint inside an open one. */
tdo_status tdo_conn_begin(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    const char *begin = tdo_conn_dialect(c)->begin;
    if (!begin || c->ctx->read_only) /* SQLite's takes the write lock */
        begin = "BEGIN";
    if (c->tx_depth == 0)
        snprintf(sql, sizeof(sql), "%s", begin);
    else
        snprintf(sql, sizeof(sql), "SAVEPOINT sp_%d", c->tx_depth);
    tdo_status st = tx_exec(c, sql, err);
    if (!st) {
        if (c->tx_depth == 0)
            c->pinned = session_of(c, c->db);
        c->tx_depth++;
    }
    return st;
}

static tdo_status no_tx(tdo_conn *c, const char *what, tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_TRANSACTION,
                         "%s without an open transaction on connection '%s'",
                         what, c->name);
}

/* After a failed COMMIT the transaction always ends: rolled back when
 * the database still holds it open (SQLite keeps it after "database is
 * locked"), so that later statements never run inside a transaction
 * nobody will commit.  A session lost during COMMIT leaves the outcome
 * unknown, and err says so. */
static void commit_failed(tdo_conn *c, tdo_error *err)
{
    bool lost = !c->pinned || session_broken(c, c->pinned);
    if (!lost && (!c->backend->in_transaction ||
                  c->backend->in_transaction(c->pinned->db))) {
        tdo_error e2 = TDO_ERROR_INIT;
        tx_exec(c, "ROLLBACK", &e2);
        tdo_error_release(&e2);
        if (err && err->message)
            tdo_error_set(err, err->code,
                          "%s (the transaction was rolled back)", err->message);
    }
    if (lost && err)
        tdo_error_set(err, TDO_ERR_OPERATIONAL,
                      "connection lost during COMMIT: the transaction may or "
                      "may not have been committed (%s)",
                      err->message ? err->message : "no reply");
    tx_end(c);
}

/* Commits the innermost transaction (RELEASE of a savepoint); a failed
 * COMMIT ends the transaction all the same (see commit_failed). */
tdo_status tdo_conn_commit(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    if (c->tx_depth == 0)
        return no_tx(c, "commit", err);
    if (c->tx_depth == 1)
        snprintf(sql, sizeof(sql), "COMMIT");
    else
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp_%d", c->tx_depth - 1);
    tdo_status st = tx_exec(c, sql, err);
    if (!st) {
        if (--c->tx_depth == 0)
            tx_end(c);
    } else if (c->tx_depth == 1) {
        commit_failed(c, err);
    }
    return st;
}

/* Rolls the innermost transaction back (to its savepoint); the depth
 * drops even when the database already ended the transaction. */
tdo_status tdo_conn_rollback(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    if (c->tx_depth == 0)
        return no_tx(c, "rollback", err);
    tdo_status st;
    if (c->tx_depth == 1 && (!c->pinned || session_broken(c, c->pinned))) {
        st = TDO_OK; /* the server dropped the transaction with the session */
    } else if (c->tx_depth == 1) {
        tdo_error e2 = TDO_ERROR_INIT;
        st = tx_exec(c, "ROLLBACK", &e2);
        if (st && c->db && c->backend->in_transaction &&
            !c->backend->in_transaction(c->db))
            st = TDO_OK; /* the database rolled back already */
        if (st && err) {
            tdo_error_release(err);
            *err = e2;
        } else {
            tdo_error_release(&e2);
        }
    } else {
        int n = c->tx_depth - 1;
        snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sp_%d", n);
        st = tx_exec(c, sql, err);
        if (!st) {
            snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp_%d", n);
            st = tx_exec(c, sql, err);
        }
    }
    if (--c->tx_depth == 0)
        tx_end(c);
    return st;
}
