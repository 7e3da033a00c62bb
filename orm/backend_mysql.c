/*
 * backend_mysql.c -- the MySQL/MariaDB driver over libmariadb: sessions in
 * utf8mb4 with time_zone +00:00, server-side prepared statements in a
 * bounded per-session cache keyed by SQL text (statements the server will
 * not prepare run as plain queries), results buffered on the client and
 * read through typed bindings, the last insert id, cancellation with KILL
 * QUERY sent from a helper thread over a second connection, and the
 * mapping of MySQL error numbers to tdo statuses.  A lost connection is
 * opened again on the next statement.
 */
#include "tdo_int.h"

#include <inttypes.h>
#include <mysql.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>

/* The libmariadb functions used here, resolved when the first session opens
 * (dlib.c): a program that never opens one never loads the library. */
#define MYL_FUNCS(X)                                                           \
    X(mysql_affected_rows)                                                     \
    X(mysql_close)                                                             \
    X(mysql_errno)                                                             \
    X(mysql_error)                                                             \
    X(mysql_fetch_fields)                                                      \
    X(mysql_fetch_lengths)                                                     \
    X(mysql_fetch_row)                                                         \
    X(mysql_field_count)                                                       \
    X(mysql_free_result)                                                       \
    X(mysql_get_server_info)                                                   \
    X(mysql_get_socket)                                                        \
    X(mysql_init)                                                              \
    X(mysql_more_results)                                                      \
    X(mysql_next_result)                                                       \
    X(mysql_num_fields)                                                        \
    X(mysql_options)                                                           \
    X(mysql_query)                                                             \
    X(mysql_real_connect)                                                      \
    X(mysql_real_query)                                                        \
    X(mysql_sqlstate)                                                          \
    X(mysql_stmt_affected_rows)                                                \
    X(mysql_stmt_attr_set)                                                     \
    X(mysql_stmt_bind_param)                                                   \
    X(mysql_stmt_bind_result)                                                  \
    X(mysql_stmt_close)                                                        \
    X(mysql_stmt_errno)                                                        \
    X(mysql_stmt_error)                                                        \
    X(mysql_stmt_execute)                                                      \
    X(mysql_stmt_fetch)                                                        \
    X(mysql_stmt_fetch_column)                                                 \
    X(mysql_stmt_field_count)                                                  \
    X(mysql_stmt_free_result)                                                  \
    X(mysql_stmt_init)                                                         \
    X(mysql_stmt_insert_id)                                                    \
    X(mysql_stmt_param_count)                                                  \
    X(mysql_stmt_prepare)                                                      \
    X(mysql_stmt_reset)                                                        \
    X(mysql_stmt_result_metadata)                                              \
    X(mysql_stmt_sqlstate)                                                     \
    X(mysql_stmt_store_result)                                                 \
    X(mysql_store_result)                                                      \
    X(mysql_thread_end)                                                        \
    X(mysql_thread_id)                                                         \
    X(mysql_thread_init)

enum {
#define X(f) I_##f,
    MYL_FUNCS(X)
#undef X
        N_MYL
};
static void *myl_fns[N_MYL];
static const char *const myl_names[N_MYL] = {
#define X(f) #f,
    MYL_FUNCS(X)
#undef X
};
static tdo_dlib myl_lib = {"libmariadb.so.3",
                           "MySQL/MariaDB support",
                           "libmariadb3",
                           myl_names,
                           myl_fns,
                           N_MYL,
                           false};
#define MYL(f)                     ((__typeof__(f) *)myl_fns[I_##f])
#define mysql_affected_rows        MYL(mysql_affected_rows)
#define mysql_close                MYL(mysql_close)
#define mysql_errno                MYL(mysql_errno)
#define mysql_error                MYL(mysql_error)
#define mysql_fetch_fields         MYL(mysql_fetch_fields)
#define mysql_fetch_lengths        MYL(mysql_fetch_lengths)
#define mysql_fetch_row            MYL(mysql_fetch_row)
#define mysql_field_count          MYL(mysql_field_count)
#define mysql_free_result          MYL(mysql_free_result)
#define mysql_get_server_info      MYL(mysql_get_server_info)
#define mysql_get_socket           MYL(mysql_get_socket)
#define mysql_init                 MYL(mysql_init)
#define mysql_more_results         MYL(mysql_more_results)
#define mysql_next_result          MYL(mysql_next_result)
#define mysql_num_fields           MYL(mysql_num_fields)
#define mysql_options              MYL(mysql_options)
#define mysql_query                MYL(mysql_query)
#define mysql_real_connect         MYL(mysql_real_connect)
#define mysql_real_query           MYL(mysql_real_query)
#define mysql_sqlstate             MYL(mysql_sqlstate)
#define mysql_stmt_affected_rows   MYL(mysql_stmt_affected_rows)
#define mysql_stmt_attr_set        MYL(mysql_stmt_attr_set)
#define mysql_stmt_bind_param      MYL(mysql_stmt_bind_param)
#define mysql_stmt_bind_result     MYL(mysql_stmt_bind_result)
#define mysql_stmt_close           MYL(mysql_stmt_close)
#define mysql_stmt_errno           MYL(mysql_stmt_errno)
#define mysql_stmt_error           MYL(mysql_stmt_error)
#define mysql_stmt_execute         MYL(mysql_stmt_execute)
#define mysql_stmt_fetch           MYL(mysql_stmt_fetch)
#define mysql_stmt_fetch_column    MYL(mysql_stmt_fetch_column)
#define mysql_stmt_field_count     MYL(mysql_stmt_field_count)
#define mysql_stmt_free_result     MYL(mysql_stmt_free_result)
#define mysql_stmt_init            MYL(mysql_stmt_init)
#define mysql_stmt_insert_id       MYL(mysql_stmt_insert_id)
#define mysql_stmt_param_count     MYL(mysql_stmt_param_count)
#define mysql_stmt_prepare         MYL(mysql_stmt_prepare)
#define mysql_stmt_reset           MYL(mysql_stmt_reset)
#define mysql_stmt_result_metadata MYL(mysql_stmt_result_metadata)
#define mysql_stmt_sqlstate        MYL(mysql_stmt_sqlstate)
#define mysql_stmt_store_result    MYL(mysql_stmt_store_result)
#define mysql_store_result         MYL(mysql_store_result)
#define mysql_thread_end           MYL(mysql_thread_end)
#define mysql_thread_id            MYL(mysql_thread_id)
#define mysql_thread_init          MYL(mysql_thread_init)

typedef struct my_db my_db;

/* How a result column is read. */
enum col_kind { COL_INT, COL_DOUBLE, COL_TIME, COL_STRING };

typedef struct my_col {
    enum col_kind kind;
    enum enum_field_types type;
    bool blob;     /* binary character set: bytes, not text */
    bool decimal;  /* DECIMAL: exact */
    bool uns;      /* UNSIGNED integer */
    unsigned frac; /* COL_TIME: digits of the fraction (DATETIME(6): 6) */
    int64_t i;
    double d;
    MYSQL_TIME t;
    char *buf; /* COL_STRING; owned */
    unsigned long cap, len;
    my_bool is_null, error;
    char tbuf[48]; /* COL_TIME as text */
} my_col;

/* One statement handed out by prepare(). */
typedef struct my_stmt {
    my_db *db;
    MYSQL_STMT *st; /* NULL: a plain query (text) */
    char *sql;      /* owned */
    int slot;       /* its entry in db->cache, or -1: not cached */
    int64_t changes;
    MYSQL_RES *meta; /* result metadata, or NULL: no result set */
    MYSQL_RES *res;  /* plain query result */
    MYSQL_ROW row;   /* plain query: current row */
    unsigned long *lens;
    unsigned ncols;
    MYSQL_BIND *rbind;
    my_col *cols;
    bool failed;        /* an error since the last reset: reset before reuse */
    bool want_stream;   /* execute: leave the rows on the server */
    bool streaming;     /* rows still come from the server (db->stream) */
    bool parked;        /* the rest of the rows were read ahead into park */
    tdo_sb park;        /* parked rows, column after column (see park_row) */
    size_t park_pos;    /* where the next parked row starts */
    tdo_error park_err; /* the error that ended the parked rows */
} my_stmt;

struct my_db {
    MYSQL *conn;
    my_stmt *stream; /* the statement whose rows are being fetched */
    int refs;
    bool closed;
    bool lost; /* the connection broke: open it again before the next use */
    tdo_stmt_cache cache;
    int64_t last_id; /* id of the last row inserted */
    /* what a second connection needs (cancel) */
    char *host, *user, *password, *database, *socket, *charset;
    unsigned port;
    unsigned timeout;                     /* connect_timeout, seconds */
    unsigned read_timeout, write_timeout; /* seconds, 0: none */
    bool ssl;                             /* ?ssl=true: TLS or no connection */
    int stmt_timeout;                     /* statement_timeout, ms, 0: none */
    bool read_only; /* writes refused, again after a reconnection */
    volatile unsigned long thread_id;
    /* a statement in flight (a stream: until its rows end), numbered: the
     * cancel helper kills only the one Ctrl-C came during, never a later
     * one that its KILL QUERY would reach instead */
    volatile sig_atomic_t busy;
    volatile unsigned long run_seq, kill_seq;
    /* the cancel helper: cancel() posts sem, the thread sends KILL QUERY */
    pthread_t th;
    bool th_started;
    sem_t sem;
    volatile sig_atomic_t quit;
    /* cancel() calls so far: a statement during which it grew was
     * interrupted (SLEEP() and BENCHMARK() end quietly when killed) */
    volatile sig_atomic_t cancels;
};

/* A statement goes in flight on d (see my_db.busy). */
static void run_begin(my_db *d)
{
    d->run_seq++;
    d->busy = 1;
}

/* It came back (a stream: its last row was read). */
static void run_end(my_db *d)
{
    d->busy = 0;
}

static tdo_status map_error(my_db *d, unsigned no, const char *state,
                            const char *msg, tdo_error *err)
{
    tdo_status code = TDO_ERR_OPERATIONAL;
    switch (no) {
    case 1022: /* ER_DUP_KEY */
    case 1048: /* ER_BAD_NULL_ERROR */
    case 1062: /* ER_DUP_ENTRY */
    case 1169: /* ER_DUP_UNIQUE */
    case 1216: /* ER_NO_REFERENCED_ROW */
    case 1217: /* ER_ROW_IS_REFERENCED */
    case 1364: /* ER_NO_DEFAULT_FOR_FIELD */
    case 1451: /* ER_ROW_IS_REFERENCED_2 */
    case 1452: /* ER_NO_REFERENCED_ROW_2 */
    case 1557: /* ER_FOREIGN_DUPLICATE_KEY */
    case 1586: /* ER_DUP_ENTRY_WITH_KEY_NAME */
    case 3819: /* ER_CHECK_CONSTRAINT_VIOLATED (MySQL) */
    case 4025: /* ER_CONSTRAINT_FAILED (MariaDB) */
        code = TDO_ERR_INTEGRITY;
        break;
    case 1317: /* ER_QUERY_INTERRUPTED */
    case 3024: /* ER_QUERY_TIMEOUT */
        code = TDO_ERR_INTERRUPTED;
        break;
    case 2006: /* CR_SERVER_GONE_ERROR */
    case 2013: /* CR_SERVER_LOST */
    case 2055: /* CR_SERVER_LOST_EXTENDED */
    case 1927: /* ER_CONNECTION_KILLED */
    case 1053: /* ER_SERVER_SHUTDOWN */
        if (d)
            d->lost = true;
        break;
    default:
        break;
    }
    tdo_status st =
        tdo_error_set(err, code, "%s", msg && *msg ? msg : "MySQL error");
    if (err) {
        err->driver_code = (int)no;
        if (state && strlen(state) == 5 && strcmp(state, "00000") != 0)
            memcpy(err->sqlstate, state, 6);
    }
    return st;
}

static tdo_status conn_error(my_db *d, tdo_error *err)
{
    return map_error(d, mysql_errno(d->conn), mysql_sqlstate(d->conn),
                     mysql_error(d->conn), err);
}

static tdo_status stmt_error(my_stmt *s, tdo_error *err)
{
    s->failed = true;
    return map_error(s->db, mysql_stmt_errno(s->st), mysql_stmt_sqlstate(s->st),
                     mysql_stmt_error(s->st), err);
}

/* ---- sessions --------------------------------------------------------- */

/* Opens a connection with the session's parameters; NULL on failure
 * (*why gets a malloc'd message when it can). */
static MYSQL *open_conn(my_db *d, char **why)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return NULL;
    mysql_options(m, MYSQL_SET_CHARSET_NAME, d->charset);
    mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (d->read_only)
        mysql_options(m, MYSQL_INIT_COMMAND, tdo_dialect_mysql.read_only_sql);
    if (d->timeout)
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &d->timeout);
    if (d->read_timeout)
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &d->read_timeout);
    if (d->write_timeout)
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &d->write_timeout);
    if (d->ssl) {
        my_bool enforce = 1;
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &enforce);
    }
    if (!mysql_real_connect(m, d->host, d->user, d->password, d->database,
                            d->port, d->socket,
                            CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
        if (why)
            *why = tdo_strdup(mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    if (d->stmt_timeout) {
        /* the server stops a statement that runs longer: MariaDB's
         * max_statement_time (seconds), MySQL's max_execution_time (ms) */
        char sql[96];
        const char *info = mysql_get_server_info(m);
        if (info && strstr(info, "MariaDB"))
            snprintf(sql, sizeof(sql), "SET SESSION max_statement_time = %.3f",
                     d->stmt_timeout / 1000.0);
        else
            snprintf(sql, sizeof(sql), "SET SESSION max_execution_time = %d",
                     d->stmt_timeout);
        if (mysql_query(m, sql) != 0) {
            if (why)
                *why = tdo_strdup(mysql_error(m));
            mysql_close(m);
            return NULL;
        }
    }
    return m;
}

/* The cancel helper: waits for cancel() and kills the running query of
 * the session from a connection of its own. */
static void *cancel_main(void *arg)
{
    my_db *d = arg;
    mysql_thread_init();
    for (;;) {
        while (sem_wait(&d->sem) != 0)
            ;
        if (d->quit)
            break;
        unsigned long want = d->kill_seq;
        MYSQL *m = open_conn(d, NULL);
        if (m) {
            if (d->busy && d->run_seq == want) { /* still that statement */
                char sql[64];
                snprintf(sql, sizeof(sql), "KILL QUERY %lu", d->thread_id);
                mysql_query(m, sql);
            }
            mysql_close(m);
        }
    }
    mysql_thread_end();
    return NULL;
}

static void stmt_free_result(my_stmt *s)
{
    if (s->streaming) { /* mysql_stmt_free_result reads the rest */
        s->db->stream = NULL;
        s->streaming = false;
        run_end(s->db);
    }
    tdo_sb_release(&s->park);
    s->parked = false;
    s->park_pos = 0;
    tdo_error_release(&s->park_err);
    if (s->st && s->meta)
        mysql_stmt_free_result(s->st);
    if (s->meta)
        mysql_free_result(s->meta);
    if (s->res)
        mysql_free_result(s->res);
    s->meta = s->res = NULL;
    s->row = NULL;
    for (unsigned i = 0; s->cols && i < s->ncols; i++)
        tdo_free(s->cols[i].buf);
    tdo_free(s->cols);
    tdo_free(s->rbind);
    s->cols = NULL;
    s->rbind = NULL;
    s->ncols = 0;
}

static void stmt_destroy(my_stmt *s)
{
    stmt_free_result(s);
    if (s->st)
        mysql_stmt_close(s->st);
    tdo_free(s->sql);
    tdo_free(s);
}

static void db_unref(my_db *d)
{
    if (--d->refs > 0)
        return;
    if (d->th_started) {
        d->quit = 1;
        sem_post(&d->sem);
        pthread_join(d->th, NULL);
    }
    sem_destroy(&d->sem);
    if (d->conn)
        mysql_close(d->conn);
    tdo_free(d->host);
    tdo_free(d->user);
    tdo_free(d->password);
    tdo_free(d->database);
    tdo_free(d->socket);
    tdo_free(d->charset);
    tdo_free(d);
}

static bool dup_opt(char **dst, const char *src)
{
    if (!src)
        return true;
    return (*dst = tdo_strdup(src)) != NULL;
}

/* A statement leaves the cache: destroyed, or by release() when it is
 * still handed out. */
static void uncache(void *stmt, bool in_use, void *ud)
{
    my_stmt *s = stmt;
    (void)ud;
    if (in_use)
        s->slot = -1;
    else
        stmt_destroy(s);
}

static tdo_status my_connect(const tdo_dsn *dsn, void **out, tdo_error *err)
{
    *out = NULL;
    tdo_status ld = tdo_dlib_load(&myl_lib, err);
    if (ld)
        return ld;
    my_db *d = tdo_calloc(1, sizeof(*d));
    if (!d)
        return tdo_nomem(err);
    d->refs = 1;
    tdo_stmt_cache_init(&d->cache, false, uncache, NULL);
    sem_init(&d->sem, 0, 0);
    const char *host = tdo_dsn_param(dsn, "host");
    if (!host)
        host = dsn->host;
    const char *charset = tdo_dsn_param(dsn, "charset");
    bool ok = true;
    if (host && host[0] == '/') /* a unix socket */
        ok = dup_opt(&d->socket, host) && dup_opt(&d->host, "localhost");
    else
        ok = dup_opt(&d->host, host ? host : "localhost");
    ok = ok && dup_opt(&d->user, dsn->user) &&
         dup_opt(&d->password, dsn->password) &&
         dup_opt(&d->database, dsn->database) &&
         dup_opt(&d->charset, charset ? charset : "utf8mb4");
    if (!ok) {
        db_unref(d);
        return tdo_nomem(err);
    }
    d->port = (unsigned)dsn->port;
    d->timeout = (unsigned)dsn->connect_timeout;
    d->stmt_timeout = dsn->statement_timeout;
    const char *rt = tdo_dsn_param(dsn, "read_timeout");
    const char *wt = tdo_dsn_param(dsn, "write_timeout");
    const char *ssl = tdo_dsn_param(dsn, "ssl");
    char *end = NULL;
    d->read_timeout = rt ? (unsigned)strtoul(rt, &end, 10) : 0;
    if (rt && (!*rt || *end)) {
        db_unref(d);
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "read_timeout must be a whole number of seconds");
    }
    d->write_timeout = wt ? (unsigned)strtoul(wt, &end, 10) : 0;
    if (wt && (!*wt || *end)) {
        db_unref(d);
        return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                             "write_timeout must be a whole number of seconds");
    }
    d->ssl = ssl && strcmp(ssl, "false") && strcmp(ssl, "0") &&
             strcmp(ssl, "disable");
    /* a server that stops answering: the client gives up too (a second
     * past the server's own limit) */
    if (!rt && d->stmt_timeout)
        d->read_timeout = (unsigned)(d->stmt_timeout + 1999) / 1000 + 1;
    char *why = NULL;
    if (!(d->conn = open_conn(d, &why))) {
        tdo_status st = tdo_error_set(err, TDO_ERR_OPERATIONAL, "%s",
                                      why ? why : "cannot connect to MySQL");
        tdo_free(why);
        db_unref(d);
        return st;
    }
    d->thread_id = mysql_thread_id(d->conn);
    if (pthread_create(&d->th, NULL, cancel_main, d) == 0)
        d->th_started = true;
    *out = d;
    return TDO_OK;
}

static void my_close(void *db)
{
    my_db *d = db;
    if (!d)
        return;
    d->closed = true;
    tdo_stmt_cache_clear(&d->cache);
    db_unref(d);
}

/* Opens the session again after a lost connection. */
static void stream_park(my_db *d);

static tdo_status ensure_connected(my_db *d, tdo_error *err)
{
    if (d->closed)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "the connection is closed");
    stream_park(d); /* the session is wanted: a stream reads ahead */
    if (!d->lost && d->conn)
        return TDO_OK;
    tdo_stmt_cache_clear(&d->cache);
    char *why = NULL;
    MYSQL *m = open_conn(d, &why);
    if (!m) {
        tdo_status st = tdo_error_set(err, TDO_ERR_OPERATIONAL, "%s",
                                      why ? why : "cannot connect to MySQL");
        tdo_free(why);
        return st;
    }
    /* statements still handed out keep working on their buffered rows */
    mysql_close(d->conn);
    d->conn = m;
    d->lost = false;
    d->thread_id = mysql_thread_id(m);
    return TDO_OK;
}

/* ---- statements ------------------------------------------------------- */

static tdo_status my_prepare(void *db, const char *sql, void **out,
                             tdo_error *err)
{
    my_db *d = db;
    *out = NULL;
    tdo_status st = ensure_connected(d, err);
    if (st)
        return st;
    int slot = tdo_stmt_cache_find(&d->cache, sql);
    if (slot >= 0) {
        my_stmt *s = d->cache.e[slot].stmt;
        s->changes = 0;
        d->refs++;
        *out = s;
        return TDO_OK;
    }
    my_stmt *s = tdo_calloc(1, sizeof(*s));
    if (!s || !(s->sql = tdo_strdup(sql))) {
        tdo_free(s);
        return tdo_nomem(err);
    }
    s->db = d;
    s->slot = -1;
    tdo_sb_init(&s->park);
    if (!(s->st = mysql_stmt_init(d->conn))) {
        stmt_destroy(s);
        return conn_error(d, err);
    }
    my_bool on = 1;
    mysql_stmt_attr_set(s->st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (mysql_stmt_prepare(s->st, sql, (unsigned long)strlen(sql))) {
        if (mysql_stmt_errno(s->st) != 1295) { /* ER_UNSUPPORTED_PS */
            st = stmt_error(s, err);
            stmt_destroy(s);
            return st;
        }
        mysql_stmt_close(s->st); /* run as a plain query */
        s->st = NULL;
    }
    s->slot = tdo_stmt_cache_add(&d->cache, sql, s);
    d->refs++;
    *out = s;
    return TDO_OK;
}

/* Binds the result columns of a prepared statement by their type. */
static tdo_status bind_result(my_stmt *s, tdo_error *err)
{
    MYSQL_FIELD *fs = mysql_fetch_fields(s->meta);
    s->ncols = mysql_num_fields(s->meta);
    s->rbind = tdo_calloc(s->ncols ? s->ncols : 1, sizeof(*s->rbind));
    s->cols = tdo_calloc(s->ncols ? s->ncols : 1, sizeof(*s->cols));
    if (!s->rbind || !s->cols)
        return tdo_nomem(err);
    for (unsigned i = 0; i < s->ncols; i++) {
        my_col *c = &s->cols[i];
        MYSQL_BIND *b = &s->rbind[i];
        c->type = fs[i].type;
        c->uns = fs[i].flags & UNSIGNED_FLAG;
        b->is_null = &c->is_null;
        b->error = &c->error;
        b->length = &c->len;
        switch (fs[i].type) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_LONGLONG:
        case MYSQL_TYPE_YEAR:
            c->kind = COL_INT;
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
            b->is_unsigned = c->uns;
            break;
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE:
            c->kind = COL_DOUBLE;
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->d;
            break;
        case MYSQL_TYPE_DATE:
        case MYSQL_TYPE_TIME:
        case MYSQL_TYPE_DATETIME:
        case MYSQL_TYPE_TIMESTAMP:
            c->kind = COL_TIME;
            c->frac = fs[i].decimals <= 6 ? fs[i].decimals : 0;
            b->buffer_type = fs[i].type;
            b->buffer = &c->t;
            break;
        default:
            c->kind = COL_STRING;
            c->blob = fs[i].charsetnr == 63 &&
                      fs[i].type != MYSQL_TYPE_NEWDECIMAL &&
                      fs[i].type != MYSQL_TYPE_DECIMAL;
            c->decimal = fs[i].type == MYSQL_TYPE_NEWDECIMAL ||
                         fs[i].type == MYSQL_TYPE_DECIMAL;
            c->cap = fs[i].max_length + 1;
            if (c->cap < 64)
                c->cap = 64;
            if (!(c->buf = tdo_malloc(c->cap)))
                return tdo_nomem(err);
            b->buffer_type = c->blob ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
            b->buffer = c->buf;
            b->buffer_length = c->cap;
            break;
        }
    }
    if (mysql_stmt_bind_result(s->st, s->rbind))
        return stmt_error(s, err);
    return TDO_OK;
}

/* Runs a statement the server will not prepare, as a plain query. */
static tdo_status exec_text(my_stmt *s, size_t n, tdo_error *err)
{
    my_db *d = s->db;
    if (n)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "this statement cannot take parameters");
    run_begin(d);
    bool failed =
        mysql_real_query(d->conn, s->sql, (unsigned long)strlen(s->sql));
    run_end(d);
    if (failed)
        return conn_error(d, err);
    s->res = mysql_store_result(d->conn);
    if (!s->res && mysql_field_count(d->conn))
        return conn_error(d, err);
    if (s->res)
        s->ncols = mysql_num_fields(s->res);
    else
        s->changes = (int64_t)mysql_affected_rows(d->conn);
    while (mysql_more_results(d->conn) && mysql_next_result(d->conn) == 0) {
        MYSQL_RES *r = mysql_store_result(d->conn);
        if (r)
            mysql_free_result(r);
    }
    return TDO_OK;
}

/* Whether a statement failed because the table it reads changed shape
 * since it was prepared (a column more or less: the result binding no
 * longer fits), so that preparing it again helps. */
static bool stale_stmt(const my_stmt *s)
{
    unsigned no = s->st ? mysql_stmt_errno(s->st) : 0;
    return no == 2057 /* CR_NEW_STMT_METADATA */ ||
           no == 1615; /* ER_NEED_REPREPARE */
}

/* Prepares the statement of s again, on a new handle (closing the old
 * one drops what the failed execution left unread). */
static tdo_status restmt(my_stmt *s, tdo_error *err)
{
    mysql_stmt_close(s->st);
    if (!(s->st = mysql_stmt_init(s->db->conn)))
        return conn_error(s->db, err);
    my_bool on = 1;
    mysql_stmt_attr_set(s->st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (mysql_stmt_prepare(s->st, s->sql, (unsigned long)strlen(s->sql))) {
        tdo_status st = stmt_error(s, err);
        mysql_stmt_close(s->st);
        s->st = NULL; /* runs as a plain query from now on */
        return st;
    }
    return TDO_OK;
}

static tdo_status execute(my_stmt *s, const tdo_value *params, size_t n,
                          tdo_error *err);

static tdo_status my_execute(void *stmt, const tdo_value *params, size_t n,
                             tdo_error *err)
{
    my_stmt *s = stmt;
    sig_atomic_t before = s->db->cancels;
    tdo_status st = execute(s, params, n, err);
    /* (a result set that no longer fits: reading it again is harmless,
     * even inside a transaction) */
    if (st && stale_stmt(s)) {
        tdo_error_release(err);
        if (!(st = restmt(s, err)))
            st = execute(s, params, n, err);
    }
    if (!st && s->db->cancels != before)
        st = tdo_error_set(err, TDO_ERR_INTERRUPTED,
                           "Query execution was interrupted");
    return st;
}

/* Like my_execute, but the rows stay on the server until the cursor
 * steps to them (an unbuffered fetch); another statement on the session
 * reads the rest ahead (stream_park). */
static tdo_status my_execute_stream(void *stmt, const tdo_value *params,
                                    size_t n, tdo_error *err)
{
    my_stmt *s = stmt;
    s->want_stream = true;
    tdo_status st = my_execute(stmt, params, n, err);
    s->want_stream = false;
    return st;
}

/* Fills the parameter binding b of v; integers go to *i, decimals and
 * temporals as text to scratch (64 bytes). */
static void bind_param(MYSQL_BIND *b, const tdo_value *v, int64_t *i,
                       char *scratch)
{
    size_t len;
    switch (v->type) {
    case TDO_NULL:
        b->buffer_type = MYSQL_TYPE_NULL;
        break;
    case TDO_BOOL:
    case TDO_INT:
    case TDO_DURATION:
        *i = v->type == TDO_BOOL  ? v->u.b
             : v->type == TDO_INT ? v->u.i
                                  : v->u.us;
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = i;
        break;
    case TDO_DOUBLE:
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = (void *)&v->u.d;
        break;
    case TDO_TEXT:
    case TDO_UUID:
    case TDO_JSON:
    case TDO_BLOB:
        b->buffer_type =
            v->type == TDO_BLOB ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
        b->buffer = (void *)(v->u.s.len ? v->u.s.ptr : "");
        b->buffer_length = (unsigned long)v->u.s.len;
        break;
    case TDO_DECIMAL:
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        len = v->type == TDO_DECIMAL
                  ? tdo_decimal_format(&v->u.dec, scratch, 64)
                  : tdo_datetime_format(&v->u.dt, v->type, ' ',
                                        v->type != TDO_DATE, scratch, 64);
        b->buffer_type = MYSQL_TYPE_STRING;
        b->buffer = scratch;
        b->buffer_length = (unsigned long)(len < 64 ? len : 63);
        break;
    }
}

/* After a statement ran: its changed rows and last insert id, or its
 * result set stored and bound. */
static tdo_status take_result(my_stmt *s, tdo_error *err)
{
    if (mysql_stmt_field_count(s->st) == 0) {
        my_ulonglong ch = mysql_stmt_affected_rows(s->st);
        s->changes = ch == (my_ulonglong)-1 ? 0 : (int64_t)ch;
        my_ulonglong id = mysql_stmt_insert_id(s->st);
        if (id && s->changes > 0)
            s->db->last_id = (int64_t)id + s->changes - 1;
        return TDO_OK;
    }
    if ((!s->want_stream && mysql_stmt_store_result(s->st)) ||
        !(s->meta = mysql_stmt_result_metadata(s->st)))
        return stmt_error(s, err);
    tdo_status st = bind_result(s, err);
    if (!st && s->want_stream) {
        s->streaming = true;
        s->db->stream = s;
    }
    return st;
}

/* Binds the parameters, runs the statement and binds its result. */
static tdo_status execute(my_stmt *s, const tdo_value *params, size_t n,
                          tdo_error *err)
{
    stmt_free_result(s);
    stream_park(s->db);
    s->changes = 0;
    if (!s->st)
        return exec_text(s, n, err);
    unsigned long want = mysql_stmt_param_count(s->st);
    if (want != n)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "incorrect number of parameters: the statement "
                             "uses %lu, %zu given",
                             want, n);
    MYSQL_BIND *b = n ? tdo_calloc(n, sizeof(*b)) : NULL;
    int64_t *ints = n ? tdo_calloc(n, sizeof(*ints)) : NULL;
    char(*scratch)[64] = n ? tdo_calloc(n, sizeof(*scratch)) : NULL;
    tdo_status st = TDO_OK;
    if (n && (!b || !ints || !scratch))
        st = tdo_nomem(err);
    for (size_t i = 0; !st && i < n; i++)
        bind_param(&b[i], &params[i], &ints[i], scratch[i]);
    if (!st && n && mysql_stmt_bind_param(s->st, b))
        st = stmt_error(s, err);
    if (!st) {
        run_begin(s->db);
        if (mysql_stmt_execute(s->st))
            st = stmt_error(s, err);
        if (!st)
            st = take_result(s, err);
        if (st || !s->streaming)
            run_end(s->db);
    }
    tdo_free(b);
    tdo_free(ints);
    tdo_free(scratch);
    return st;
}

/* Makes string column i of s hold len bytes and a NUL: its buffer grows
 * and is bound again; false on out of memory (in err). */
static bool col_reserve(my_stmt *s, unsigned i, unsigned long len,
                        tdo_error *err)
{
    my_col *c = &s->cols[i];
    if (len + 1 <= c->cap)
        return true;
    char *nb = tdo_realloc(c->buf, len + 1);
    if (!nb) {
        tdo_nomem(err);
        return false;
    }
    c->buf = nb;
    c->cap = len + 1;
    s->rbind[i].buffer = nb;
    s->rbind[i].buffer_length = c->cap;
    return true;
}

/* Fetches the next row of a prepared statement into its bindings: 1 a
 * row, 0 the end, -1 an error (in err). */
static int fetch_row(my_stmt *s, tdo_error *err)
{
    int rc = mysql_stmt_fetch(s->st);
    if (rc == MYSQL_NO_DATA)
        return 0;
    if (rc == 1) {
        stmt_error(s, err);
        return -1;
    }
    if (rc == MYSQL_DATA_TRUNCATED) {
        /* a value longer than the buffer: grow it and read it again */
        for (unsigned i = 0; i < s->ncols; i++) {
            my_col *c = &s->cols[i];
            if (c->kind != COL_STRING || c->is_null || c->len < c->cap)
                continue;
            if (!col_reserve(s, i, c->len, err))
                return -1;
            if (mysql_stmt_fetch_column(s->st, &s->rbind[i], i, 0)) {
                stmt_error(s, err);
                return -1;
            }
        }
    }
    return 1;
}

/* Appends the current row of s to its parked rows: per column a null
 * byte, then the value's bytes (strings: their length first). */
static void park_row(my_stmt *s)
{
    for (unsigned i = 0; i < s->ncols; i++) {
        const my_col *c = &s->cols[i];
        tdo_sb_addc(&s->park, (char)(c->is_null != 0));
        if (c->is_null)
            continue;
        switch (c->kind) {
        case COL_INT:
            tdo_sb_add(&s->park, (const char *)&c->i, sizeof(c->i));
            break;
        case COL_DOUBLE:
            tdo_sb_add(&s->park, (const char *)&c->d, sizeof(c->d));
            break;
        case COL_TIME:
            tdo_sb_add(&s->park, (const char *)&c->t, sizeof(c->t));
            break;
        case COL_STRING: {
            unsigned long len = c->len < c->cap ? c->len : c->cap - 1;
            tdo_sb_add(&s->park, (const char *)&len, sizeof(len));
            tdo_sb_add(&s->park, c->buf, len);
            break;
        }
        }
    }
}

/* Puts the next parked row of s into its columns: 1 a row, 0 the end,
 * -1 out of memory (in err). */
static int unpark_row(my_stmt *s, tdo_error *err)
{
    if (s->park_pos >= s->park.len)
        return 0;
    const char *p = s->park.buf + s->park_pos;
    for (unsigned i = 0; i < s->ncols; i++) {
        my_col *c = &s->cols[i];
        c->is_null = *p++;
        if (c->is_null)
            continue;
        switch (c->kind) {
        case COL_INT:
            memcpy(&c->i, p, sizeof(c->i));
            p += sizeof(c->i);
            break;
        case COL_DOUBLE:
            memcpy(&c->d, p, sizeof(c->d));
            p += sizeof(c->d);
            break;
        case COL_TIME:
            memcpy(&c->t, p, sizeof(c->t));
            p += sizeof(c->t);
            break;
        case COL_STRING: {
            unsigned long len;
            memcpy(&len, p, sizeof(len));
            p += sizeof(len);
            if (!col_reserve(s, i, len, err))
                return -1;
            memcpy(c->buf, p, len);
            c->len = len;
            p += len;
            break;
        }
        }
    }
    s->park_pos = (size_t)(p - s->park.buf);
    return 1;
}

/* Reads the rest of d's stream into its statement's parked rows, so
 * that another statement can use the session; the loop reading the
 * stream goes on from them (and meets the error that ended the rows, if
 * any, after the last one). */
static void stream_park(my_db *d)
{
    my_stmt *s = d->stream;
    if (!s)
        return;
    d->stream = NULL;
    s->streaming = false;
    s->parked = true;
    s->park_pos = 0;
    tdo_sb_reset(&s->park);
    int rc;
    while ((rc = fetch_row(s, &s->park_err)) == 1 && !s->park.oom)
        park_row(s);
    run_end(d);
    if (s->park.oom && !s->park_err.code)
        tdo_nomem(&s->park_err);
}

static tdo_status my_step(void *stmt, bool *has_row, tdo_error *err)
{
    my_stmt *s = stmt;
    *has_row = false;
    if (s->res) {
        s->row = mysql_fetch_row(s->res);
        s->lens = s->row ? mysql_fetch_lengths(s->res) : NULL;
        *has_row = s->row != NULL;
        return TDO_OK;
    }
    if (!s->meta)
        return TDO_OK;
    if (s->parked) {
        int rc = unpark_row(s, err);
        if (rc != 0) {
            *has_row = rc == 1;
            return rc == 1 ? TDO_OK : TDO_ERR_NOMEM;
        }
        if (s->park_err.code) { /* the error that ended the rows */
            tdo_status st = s->park_err.code;
            tdo_error_release(err);
            *err = s->park_err;
            s->park_err = (tdo_error)TDO_ERROR_INIT;
            return st;
        }
        return TDO_OK;
    }
    int rc = fetch_row(s, err);
    if (rc <= 0 && s->streaming) {
        s->db->stream = NULL;
        s->streaming = false;
        run_end(s->db);
    }
    if (rc < 0)
        return err->code;
    *has_row = rc == 1;
    return TDO_OK;
}

static size_t my_ncols(void *stmt)
{
    my_stmt *s = stmt;
    return s->ncols;
}

static const char *my_colname(void *stmt, size_t i)
{
    my_stmt *s = stmt;
    MYSQL_RES *r = s->meta ? s->meta : s->res;
    if (!r || i >= s->ncols)
        return NULL;
    return mysql_fetch_fields(r)[i].name;
}

/* Formats a MYSQL_TIME as ISO text of its kind into c->tbuf, with as
 * many digits of fraction as the column has (as the server shows it). */
static size_t time_text(my_col *c)
{
    const MYSQL_TIME *t = &c->t;
    if (c->type == MYSQL_TYPE_TIME) { /* hours may pass 24: a duration */
        char frac[24] = "";
        if (c->frac) {
            snprintf(frac, sizeof(frac), ".%06lu", t->second_part % 1000000);
            frac[1 + c->frac] = '\0';
        } else if (t->second_part) {
            snprintf(frac, sizeof(frac), ".%06lu", t->second_part % 1000000);
        }
        return (size_t)snprintf(c->tbuf, sizeof(c->tbuf), "%s%02u:%02u:%02u%s",
                                t->neg ? "-" : "", t->hour + t->day * 24,
                                t->minute, t->second, frac);
    }
    /* dates and datetimes: the core's formatter, the fraction as the
     * column declares it (DATETIME(3): three digits) */
    tdo_datetime dt = {.year = (int32_t)t->year,
                       .month = (uint8_t)t->month,
                       .day = (uint8_t)t->day,
                       .hour = (uint8_t)t->hour,
                       .minute = (uint8_t)t->minute,
                       .second = (uint8_t)t->second,
                       .usec = (int32_t)(t->second_part % 1000000)};
    size_t n = tdo_datetime_format(
        &dt, c->type == MYSQL_TYPE_DATE ? TDO_DATE : TDO_DATETIME, ' ',
        c->frac > 0, c->tbuf, sizeof(c->tbuf));
    if (c->frac > 0 && c->frac < 6 && n > (size_t)(6 - c->frac)) {
        n -= (size_t)(6 - c->frac);
        c->tbuf[n] = '\0';
    }
    return n;
}

/* Text of a DECIMAL as an exact decimal, else as text. */
static tdo_value decimal_or_text(const char *p, size_t len)
{
    tdo_decimal dec;
    tdo_error e2 = TDO_ERROR_INIT;
    if (!tdo_decimal_parse(p, len, &dec, &e2))
        return tdo_value_decimal(&dec);
    tdo_error_release(&e2);
    return tdo_value_text(p, len);
}

static tdo_status my_column(void *stmt, size_t i, tdo_value *out,
                            tdo_error *err)
{
    my_stmt *s = stmt;
    *out = tdo_value_null();
    if (i >= s->ncols)
        return TDO_OK;
    if (s->res) { /* plain query: text */
        if (!s->row || !s->row[i])
            return TDO_OK;
        MYSQL_FIELD *f = &mysql_fetch_fields(s->res)[i];
        const char *p = s->row[i];
        size_t len = s->lens[i];
        if (IS_NUM(f->type) && f->type != MYSQL_TYPE_NEWDECIMAL &&
            f->type != MYSQL_TYPE_DECIMAL) {
            if (f->type == MYSQL_TYPE_FLOAT || f->type == MYSQL_TYPE_DOUBLE)
                *out = tdo_value_double(strtod(p, NULL));
            else
                *out = tdo_value_int(strtoll(p, NULL, 10));
        } else if (f->type == MYSQL_TYPE_NEWDECIMAL) {
            *out = decimal_or_text(p, len);
        } else if (f->charsetnr == 63) {
            *out = tdo_value_blob(p, len);
        } else {
            *out = tdo_value_text(p, len);
        }
        return TDO_OK;
    }
    if (!s->cols)
        return TDO_OK;
    my_col *c = &s->cols[i];
    if (c->is_null)
        return TDO_OK;
    switch (c->kind) {
    case COL_INT:
        if (c->uns && (uint64_t)c->i > INT64_MAX) {
            size_t n = (size_t)snprintf(c->tbuf, sizeof(c->tbuf), "%" PRIu64,
                                        (uint64_t)c->i);
            *out = decimal_or_text(c->tbuf, n);
        } else {
            *out = tdo_value_int(c->i);
        }
        break;
    case COL_DOUBLE:
        *out = tdo_value_double(c->d);
        break;
    case COL_TIME:
        *out = tdo_value_text(c->tbuf, time_text(c));
        break;
    case COL_STRING: {
        size_t len = c->len < c->cap ? c->len : c->cap - 1;
        if (c->decimal)
            *out = decimal_or_text(c->buf, len);
        else if (c->blob)
            *out = tdo_value_blob(c->buf, len);
        else
            *out = tdo_value_text(c->buf, len);
        break;
    }
    }
    return TDO_OK;
}

static int64_t my_changes(void *stmt)
{
    my_stmt *s = stmt;
    return s->changes;
}

static tdo_status my_last_insert_id(void *db, tdo_value *out, tdo_error *err)
{
    my_db *d = db;
    *out = d->last_id ? tdo_value_int(d->last_id) : tdo_value_null();
    return TDO_OK;
}

static void my_release(void *stmt)
{
    my_stmt *s = stmt;
    if (!s)
        return;
    my_db *d = s->db;
    if (s->slot >= 0 && !d->closed) {
        stmt_free_result(s);
        /* every result is stored and freed: only a failed statement needs
         * mysql_stmt_reset (a round trip to the server) before reuse */
        if (s->st && s->failed) {
            mysql_stmt_reset(s->st);
            s->failed = false;
        }
        tdo_stmt_cache_done(&d->cache, s->slot);
    } else {
        stmt_destroy(s);
    }
    db_unref(d);
}

static tdo_status my_exec_script(void *db, const char *sql, tdo_error *err)
{
    my_db *d = db;
    tdo_status st = ensure_connected(d, err);
    if (st)
        return st;
    run_begin(d);
    bool failed = mysql_real_query(d->conn, sql, (unsigned long)strlen(sql));
    run_end(d);
    if (failed)
        return conn_error(d, err);
    for (;;) {
        MYSQL_RES *r = mysql_store_result(d->conn);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(d->conn))
            return conn_error(d, err);
        int rc = mysql_next_result(d->conn);
        if (rc < 0)
            break;
        if (rc > 0)
            return conn_error(d, err);
    }
    return TDO_OK;
}

static tdo_status my_set_read_only(void *db, tdo_error *err)
{
    my_db *d = db;
    d->read_only = true; /* open_conn sets it again on a new connection */
    return my_exec_script(d, tdo_dialect_mysql.read_only_sql, err);
}

static void my_cancel(void *db)
{
    my_db *d = db;
    if (d->th_started && d->busy) {
        d->kill_seq = d->run_seq;
        d->cancels++;
        sem_post(&d->sem);
    }
}

static bool my_in_transaction(void *db)
{
    my_db *d = db;
    return d->conn && (d->conn->server_status & SERVER_STATUS_IN_TRANS);
}

static const char *my_server_version(void *db)
{
    my_db *d = db;
    const char *v = d->conn ? mysql_get_server_info(d->conn) : NULL;
    return v ? v : "";
}

static uint64_t my_cache_hits(void *db)
{
    my_db *d = db;
    return d->cache.hits;
}

/* Whether the session lost its server: between statements nothing is
 * left to read, so a readable socket means the server closed it. */
static bool my_is_broken(void *db)
{
    my_db *d = db;
    if (d->lost || !d->conn)
        return true;
    if (d->stream) /* rows waiting on the socket: in use, not broken */
        return false;
    struct pollfd p = {.fd = (int)mysql_get_socket(d->conn), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

/* The URL parameters of MySQL and MariaDB. */
static bool my_param_known(const char *key)
{
    static const char *const keys[] = {
        "charset", "host", "user",         "password",      "database",
        "dbname",  "ssl",  "read_timeout", "write_timeout", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (!strcmp(key, keys[i]))
            return true;
    return false;
}

const tdo_backend tdo_backend_mysql = {
    .name = "mysql",
    .param_known = my_param_known,
    .dialect = &tdo_dialect_mysql,
    .connect = my_connect,
    .close = my_close,
    .prepare = my_prepare,
    .execute = my_execute,
    .execute_stream = my_execute_stream,
    .step = my_step,
    .ncols = my_ncols,
    .colname = my_colname,
    .column = my_column,
    .changes = my_changes,
    .last_insert_id = my_last_insert_id,
    .release = my_release,
    .exec_script = my_exec_script,
    .set_read_only = my_set_read_only,
    .cancel = my_cancel,
    .in_transaction = my_in_transaction,
    .server_version = my_server_version,
    .cache_hits = my_cache_hits,
    .is_broken = my_is_broken,
};
