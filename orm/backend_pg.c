/*
 * backend_pg.c -- the PostgreSQL driver over libpq: sessions opened from
 * the parsed URL, server-side prepared statements (named s1, s2 ...) in a
 * bounded per-session cache keyed by SQL text, parameters sent as text
 * (bytes in binary), whole results read in text form and decoded by
 * column type OID, cancellation with PQcancel, and the mapping of
 * SQLSTATEs to tdo statuses.  A lost connection is reset on the next
 * statement.
 */
#include "tdo_int.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

/* The libpq functions used here, resolved when the first session opens
 * (dlib.c): a program that never opens one never loads the library. */
#define PQL_FUNCS(X)                                                           \
    X(PQcancel)                                                                \
    X(PQclear)                                                                 \
    X(PQcmdStatus)                                                             \
    X(PQcmdTuples)                                                             \
    X(PQconndefaults)                                                          \
    X(PQconnectdbParams)                                                       \
    X(PQconninfoFree)                                                          \
    X(PQconsumeInput)                                                          \
    X(PQcopyResult)                                                            \
    X(PQerrorMessage)                                                          \
    X(PQexec)                                                                  \
    X(PQfinish)                                                                \
    X(PQfname)                                                                 \
    X(PQfreeCancel)                                                            \
    X(PQfreemem)                                                               \
    X(PQftype)                                                                 \
    X(PQgetCancel)                                                             \
    X(PQgetResult)                                                             \
    X(PQgetisnull)                                                             \
    X(PQgetlength)                                                             \
    X(PQgetvalue)                                                              \
    X(PQisBusy)                                                                \
    X(PQnfields)                                                               \
    X(PQntuples)                                                               \
    X(PQparameterStatus)                                                       \
    X(PQreset)                                                                 \
    X(PQresultErrorField)                                                      \
    X(PQresultErrorMessage)                                                    \
    X(PQresultStatus)                                                          \
    X(PQsendPrepare)                                                           \
    X(PQsendQuery)                                                             \
    X(PQsendQueryPrepared)                                                     \
    X(PQsetNoticeProcessor)                                                    \
    X(PQsetSingleRowMode)                                                      \
    X(PQsetvalue)                                                              \
    X(PQsocket)                                                                \
    X(PQstatus)                                                                \
    X(PQtransactionStatus)                                                     \
    X(PQunescapeBytea)

enum {
#define X(f) I_##f,
    PQL_FUNCS(X)
#undef X
        N_PQL
};
static void *pql_fns[N_PQL];
static const char *const pql_names[N_PQL] = {
#define X(f) #f,
    PQL_FUNCS(X)
#undef X
};
static tdo_dlib pql_lib = {
    "libpq.so.5", "PostgreSQL support", "libpq5", pql_names, pql_fns, N_PQL,
    false};
#define PQL(f)               ((__typeof__(f) *)pql_fns[I_##f])
#define PQcancel             PQL(PQcancel)
#define PQclear              PQL(PQclear)
#define PQcmdStatus          PQL(PQcmdStatus)
#define PQcmdTuples          PQL(PQcmdTuples)
#define PQconndefaults       PQL(PQconndefaults)
#define PQconnectdbParams    PQL(PQconnectdbParams)
#define PQconninfoFree       PQL(PQconninfoFree)
#define PQconsumeInput       PQL(PQconsumeInput)
#define PQcopyResult         PQL(PQcopyResult)
#define PQerrorMessage       PQL(PQerrorMessage)
#define PQexec               PQL(PQexec)
#define PQfinish             PQL(PQfinish)
#define PQfname              PQL(PQfname)
#define PQfreeCancel         PQL(PQfreeCancel)
#define PQfreemem            PQL(PQfreemem)
#define PQftype              PQL(PQftype)
#define PQgetCancel          PQL(PQgetCancel)
#define PQgetResult          PQL(PQgetResult)
#define PQgetisnull          PQL(PQgetisnull)
#define PQgetlength          PQL(PQgetlength)
#define PQgetvalue           PQL(PQgetvalue)
#define PQisBusy             PQL(PQisBusy)
#define PQnfields            PQL(PQnfields)
#define PQntuples            PQL(PQntuples)
#define PQparameterStatus    PQL(PQparameterStatus)
#define PQreset              PQL(PQreset)
#define PQresultErrorField   PQL(PQresultErrorField)
#define PQresultErrorMessage PQL(PQresultErrorMessage)
#define PQresultStatus       PQL(PQresultStatus)
#define PQsendPrepare        PQL(PQsendPrepare)
#define PQsendQuery          PQL(PQsendQuery)
#define PQsendQueryPrepared  PQL(PQsendQueryPrepared)
#define PQsetNoticeProcessor PQL(PQsetNoticeProcessor)
#define PQsetSingleRowMode   PQL(PQsetSingleRowMode)
#define PQsetvalue           PQL(PQsetvalue)
#define PQsocket             PQL(PQsocket)
#define PQstatus             PQL(PQstatus)
#define PQtransactionStatus  PQL(PQtransactionStatus)
#define PQunescapeBytea      PQL(PQunescapeBytea)

/* Type OIDs of pg_type.h (stable across server versions). */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_OID     26
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

typedef struct pg_stmt pg_stmt;

/* One session; refcounted by the statements handed out, so that a cursor
 * outlives close(). */
typedef struct pg_db {
    pg_stmt *stream; /* the statement whose rows are arriving one by one */
    PGconn *conn;
    PGcancel *cancel; /* for PQcancel, from any thread or a signal handler */
    int refs;
    bool closed;
    tdo_stmt_cache cache; /* shared; statements are server-side names
                             ("s12", owned) */
    uint64_t next_name;
    int timeout_ms; /* statement_timeout (server side), 0: none */
    bool timed_out; /* the server gave no reply in time: closed */
    bool read_only; /* writes refused, again after a reset */
} pg_db;

/* One prepared statement handed out by prepare(); it holds its whole
 * result once executed, or, streaming, the current row's one-row result
 * (with the rows parked when another statement needed the session). */
struct pg_stmt {
    pg_db *db;
    char name[24];         /* "" when not prepared (the unnamed statement) */
    PGresult *res;         /* result of the execution, or NULL */
    PGresult *parked;      /* streaming: the rest of the rows, read ahead */
    PGresult *fail;        /* streaming: the error that ended the rows */
    bool streaming;        /* rows still arriving (s == db->stream) */
    bool lost;             /* streaming: the server stopped answering */
    int row, nrows;        /* current row (-1 before the first) */
    int64_t changes;       /* rows changed by an INSERT/UPDATE/DELETE */
    unsigned char **bytes; /* per column: unescaped bytea of the row */
    bool timed_out;        /* lost: because it gave no reply in time */
    bool nomem;            /* the parked rows ran out of memory */
};

/* Sets err from a libpq message (trailing newlines dropped). */
static tdo_status set_msg(tdo_error *err, tdo_status code, const char *msg)
{
    size_t len = msg ? strlen(msg) : 0;
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    if (!len)
        return tdo_error_set(err, code, "PostgreSQL error");
    return tdo_error_set(err, code, "%.*s", (int)len, msg);
}

/* Maps a failed result (or a failure without one) to a status: class 23
 * IntegrityError, 57014 Interrupted, the rest (08 lost connections
 * included) OperationalError; keeps the server's message. */
/* How long past its statement_timeout a statement may go without any
 * reply before the client gives up on a server that stopped answering. */
#define CLIENT_GRACE_MS 2000

/* The client's deadline for the server's next reply (0: none). */
static int64_t reply_deadline(const pg_db *d)
{
    return d->timeout_ms ? tdo_now_ms() + d->timeout_ms + CLIENT_GRACE_MS : 0;
}

/* Waits until a result can be read without blocking; false when the
 * server gave no reply by deadline: the session is then given up
 * (d->timed_out) and what it had started is dropped. */
static bool wait_reply(pg_db *d, int64_t deadline)
{
    while (PQisBusy(d->conn)) {
        int wait = -1;
        if (deadline) {
            int64_t left = deadline - tdo_now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd p = {.fd = PQsocket(d->conn), .events = POLLIN};
        int n = p.fd < 0 ? -1 : poll(&p, 1, wait);
        if (n == 0) { /* no reply in time: the session is given up */
            shutdown(p.fd, SHUT_RDWR);
            PQconsumeInput(d->conn);
            d->timed_out = true;
            PGresult *r;
            while ((r = PQgetResult(d->conn)) != NULL)
                PQclear(r);
            return false;
        }
        if (n < 0 && errno != EINTR)
            break;
        if (!PQconsumeInput(d->conn))
            break;
    }
    return true;
}

/* The next result of what a PQsend* call started (NULL: no more, or no
 * reply in time). */
static PGresult *next_result(pg_db *d)
{
    return wait_reply(d, reply_deadline(d)) ? PQgetResult(d->conn) : NULL;
}

/* Collects the results of what a PQsend* call started and returns the
 * last one (NULL: none, or no reply in time).  With a statement_timeout
 * the client waits for the server at most that long plus
 * CLIENT_GRACE_MS: a stopped server closes the session (d->timed_out)
 * instead of blocking the caller for ever. */
static PGresult *pg_result(pg_db *d)
{
    PGresult *last = NULL, *r;
    int64_t deadline = reply_deadline(d);
    for (;;) {
        if (!wait_reply(d, deadline)) {
            PQclear(last);
            return NULL;
        }
        if ((r = PQgetResult(d->conn)) == NULL)
            break;
        if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r); /* the first error stands */
            continue;
        }
        PQclear(last);
        last = r;
    }
    return last;
}

static tdo_status result_error(pg_db *d, const PGresult *res, tdo_error *err)
{
    if (!res && d->timed_out) {
        d->timed_out = false;
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "no reply from the server within %d ms "
                             "(statement_timeout %d ms + %d ms): the "
                             "connection was closed",
                             d->timeout_ms + CLIENT_GRACE_MS, d->timeout_ms,
                             CLIENT_GRACE_MS);
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    tdo_status code = TDO_ERR_OPERATIONAL;
    if (state && strncmp(state, "23", 2) == 0)
        code = TDO_ERR_INTEGRITY;
    else if (state && strcmp(state, "57014") == 0)
        code = TDO_ERR_INTERRUPTED;
    if (!msg && res)
        msg = PQresultErrorMessage(res);
    if (!msg || !*msg)
        msg = PQerrorMessage(d->conn);
    tdo_status st = set_msg(err, code, msg);
    if (err && state && strlen(state) == 5)
        memcpy(err->sqlstate, state, 6);
    return st;
}

/* Runs a statement of session setup; true when it worked. */
static bool exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Drops the server-side statement name. */
static void deallocate(pg_db *d, const char *name)
{
    char sql[48];
    snprintf(sql, sizeof(sql), "DEALLOCATE %s", name);
    exec_ok(d->conn, sql);
}

/* Frees a statement name leaving the cache; an evicted one (ud: the
 * session) is dropped on the server too. */
static void drop_name(void *name, bool in_use, void *ud)
{
    (void)in_use;
    if (ud)
        deallocate(ud, name);
    tdo_free(name);
}

static void cache_clear(pg_db *d)
{
    tdo_stmt_cache_clear(&d->cache);
}

static void db_unref(pg_db *d)
{
    if (--d->refs > 0)
        return;
    cache_clear(d);
    PQfreeCancel(d->cancel);
    PQfinish(d->conn);
    tdo_free(d);
}

/* Server notices (NOTICE, WARNING) are dropped: the core never prints. */
static void ignore_notice(void *arg, const char *message)
{
}

/* Sets the session up after (re)connecting: UTC, ISO dates, no notice
 * printing. */
static tdo_status session_setup(pg_db *d, tdo_error *err)
{
    PQsetNoticeProcessor(d->conn, ignore_notice, NULL);
    if (!exec_ok(d->conn, "SET TIME ZONE 'UTC'; SET DateStyle TO 'ISO, YMD'"))
        return set_msg(err, TDO_ERR_OPERATIONAL, PQerrorMessage(d->conn));
    char sql[64];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %d", d->timeout_ms);
    if (d->timeout_ms && !exec_ok(d->conn, sql))
        return set_msg(err, TDO_ERR_OPERATIONAL, PQerrorMessage(d->conn));
    if (d->read_only && !exec_ok(d->conn, tdo_dialect_postgres.read_only_sql))
        return set_msg(err, TDO_ERR_OPERATIONAL, PQerrorMessage(d->conn));
    PQfreeCancel(d->cancel);
    d->cancel = PQgetCancel(d->conn);
    return TDO_OK;
}

/* URL parameters passed through to libpq as they are. */
static const char *const pass_keys[] = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "application_name",
    "connect_timeout",
    "options",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "passfile",
    "host",
    "hostaddr",
    "gssencmode",
    NULL,
};

/* libpq's connection keywords and values (NULL-terminated, at most 32)
 * for dsn; numbers are written into port and timeout (16 bytes each). */
typedef struct pg_params {
    const char *keys[32], *vals[32];
    size_t n;
    char port[16], timeout[16];
    char options[512]; /* "-c search_path=..." for ?schema= */
} pg_params;

static void add_param(pg_params *p, const char *key, const char *val)
{
    if (val && p->n < 31) {
        p->keys[p->n] = key;
        p->vals[p->n++] = val;
    }
}

/* ?schema=NAME: the session's search_path is that schema alone (libpq's
 * options "-c search_path=\"NAME\"", spaces and backslashes escaped),
 * unless options is given. */
static void search_path_option(const tdo_dsn *dsn, pg_params *p)
{
    const char *schema = tdo_dsn_param(dsn, "schema");
    if (!schema || tdo_dsn_param(dsn, "options"))
        return;
    size_t k =
        (size_t)snprintf(p->options, sizeof(p->options), "-c search_path=\"");
    for (const char *c = schema; *c && k + 4 < sizeof(p->options); c++) {
        if (*c == ' ' || *c == '\\')
            p->options[k++] = '\\';
        if (*c == '"')
            p->options[k++] = '"';
        p->options[k++] = *c;
    }
    p->options[k++] = '"';
    p->options[k] = '\0';
    add_param(p, "options", p->options);
}

/* Fills p from dsn: the URL's parts, the parameters libpq takes as they
 * are, Tortoise's ssl=true/false, the default connect_timeout, and
 * testudo's application_name and client encoding. */
static void connect_params(const tdo_dsn *dsn, pg_params *p)
{
    p->n = 0;
    add_param(p, "host", dsn->host);
    if (dsn->port) {
        snprintf(p->port, sizeof(p->port), "%d", dsn->port);
        add_param(p, "port", p->port);
    }
    add_param(p, "user", dsn->user);
    add_param(p, "password", dsn->password);
    add_param(p, "dbname", dsn->database);
    for (size_t i = 0; pass_keys[i]; i++)
        add_param(p, pass_keys[i], tdo_dsn_param(dsn, pass_keys[i]));
    const char *ssl = tdo_dsn_param(dsn, "ssl");
    if (ssl && !tdo_dsn_param(dsn, "sslmode"))
        add_param(p, "sslmode",
                  (!strcmp(ssl, "false") || !strcmp(ssl, "0") ||
                   !strcmp(ssl, "disable"))
                      ? "disable"
                      : "require");
    if (!tdo_dsn_param(dsn, "connect_timeout")) {
        snprintf(p->timeout, sizeof(p->timeout), "%d", dsn->connect_timeout);
        add_param(p, "connect_timeout", p->timeout);
    }
    if (!tdo_dsn_param(dsn, "application_name"))
        add_param(p, "application_name", "testudo");
    search_path_option(dsn, p);
    add_param(p, "client_encoding", "UTF8");
    p->keys[p->n] = NULL;
    p->vals[p->n] = NULL;
}

static tdo_status pg_connect(const tdo_dsn *dsn, void **out, tdo_error *err)
{
    *out = NULL;
    tdo_status ld = tdo_dlib_load(&pql_lib, err);
    if (ld)
        return ld;
    pg_params p;
    connect_params(dsn, &p);
    pg_db *d = tdo_calloc(1, sizeof(*d));
    if (!d)
        return tdo_nomem(err);
    d->refs = 1;
    tdo_stmt_cache_init(&d->cache, true, drop_name, d);
    d->timeout_ms = dsn->statement_timeout;
    d->conn = PQconnectdbParams(p.keys, p.vals, 0);
    if (!d->conn) {
        tdo_free(d);
        return tdo_nomem(err);
    }
    tdo_status st = TDO_OK;
    if (PQstatus(d->conn) != CONNECTION_OK)
        st = set_msg(err, TDO_ERR_OPERATIONAL, PQerrorMessage(d->conn));
    else
        st = session_setup(d, err);
    if (st) {
        db_unref(d);
        return st;
    }
    *out = d;
    return TDO_OK;
}

static void pg_close(void *db)
{
    pg_db *d = db;
    if (!d)
        return;
    d->closed = true;
    db_unref(d);
}

/* Makes sure the session is connected: a lost connection is reset (the
 * server forgot the prepared statements). */
static void stream_park(pg_db *d);

static tdo_status ensure_connected(pg_db *d, tdo_error *err)
{
    if (d->closed)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "the connection is closed");
    stream_park(d); /* the session is wanted: a stream reads ahead */
    if (PQstatus(d->conn) == CONNECTION_OK)
        return TDO_OK;
    cache_clear(d);
    PQreset(d->conn);
    if (PQstatus(d->conn) != CONNECTION_OK)
        return set_msg(err, TDO_ERR_OPERATIONAL, PQerrorMessage(d->conn));
    return session_setup(d, err);
}

/* Prepares sql as name on the server. */
static tdo_status server_prepare(pg_db *d, const char *name, const char *sql,
                                 tdo_error *err)
{
    PGresult *r =
        PQsendPrepare(d->conn, name, sql, 0, NULL) ? pg_result(d) : NULL;
    tdo_status st = TDO_OK;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        st = result_error(d, r, err);
    PQclear(r);
    return st;
}

static tdo_status pg_prepare(void *db, const char *sql, void **out,
                             tdo_error *err)
{
    pg_db *d = db;
    *out = NULL;
    tdo_status st = ensure_connected(d, err);
    if (st)
        return st;
    pg_stmt *s = tdo_calloc(1, sizeof(*s));
    if (!s)
        return tdo_nomem(err);
    s->row = -1;
    int slot = tdo_stmt_cache_find(&d->cache, sql);
    if (slot >= 0) {
        snprintf(s->name, sizeof(s->name), "%s",
                 (const char *)d->cache.e[slot].stmt);
        goto done;
    }
    snprintf(s->name, sizeof(s->name), "s%" PRIu64, ++d->next_name);
    char *name = tdo_strdup(s->name);
    if (!name) {
        tdo_free(s);
        return tdo_nomem(err);
    }
    if ((st = server_prepare(d, s->name, sql, err))) {
        tdo_free(name);
        tdo_free(s);
        return st;
    }
    /* a new cache entry: the least recently used one makes room */
    if (tdo_stmt_cache_add(&d->cache, sql, name) < 0)
        drop_name(name, false, d); /* not kept: the server forgets it too */
done:
    s->db = d;
    d->refs++;
    *out = s;
    return TDO_OK;
}

/* Forgets every prepared statement of the session (after DDL: a cached
 * plan whose result type changed cannot run again). */
static void forget_statements(pg_db *d)
{
    if (!d->cache.n)
        return;
    cache_clear(d);
    exec_ok(d->conn, "DEALLOCATE ALL");
}

/* Whether a command tag is one of DDL (CREATE TABLE, ALTER ..., DROP ...). */
static bool changes_schema(const char *cmd)
{
    return !strncmp(cmd, "CREATE", 6) || !strncmp(cmd, "ALTER", 5) ||
           !strncmp(cmd, "DROP", 4) || !strncmp(cmd, "COMMENT", 7);
}

/* Whether res failed because a cached plan no longer fits the schema
 * changed by another session ("cached plan must not change result
 * type"), outside a transaction, so that preparing again can help. */
static bool stale_plan(pg_db *d, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && !strcmp(state, "0A000") &&
           PQtransactionStatus(d->conn) == PQTRANS_IDLE;
}

/* Prepares the statement of s again under a new name (its cache entry
 * follows). */
static tdo_status reprepare(pg_db *d, pg_stmt *s)
{
    for (size_t i = 0; i < d->cache.n; i++) {
        tdo_cache_entry *e = &d->cache.e[i];
        if (strcmp(e->stmt, s->name) != 0)
            continue;
        char name[24];
        tdo_error e2 = TDO_ERROR_INIT;
        snprintf(name, sizeof(name), "s%" PRIu64, ++d->next_name);
        char *copy = tdo_strdup(name);
        tdo_status st =
            copy ? server_prepare(d, name, e->sql, &e2) : TDO_ERR_NOMEM;
        tdo_error_release(&e2);
        if (st) {
            tdo_free(copy);
            return st;
        }
        deallocate(d, s->name);
        tdo_free(e->stmt);
        e->stmt = copy;
        memcpy(s->name, name, sizeof(name));
        return TDO_OK;
    }
    return TDO_ERR_OPERATIONAL;
}

/* Appends the shortest text that reads back as d (5.55, not
 * 5.5499999999999998): the server may read it as an exact NUMERIC. */
static void shortest_double(tdo_sb *sb, double d)
{
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    tdo_sb_adds(sb, buf);
}

/* Appends the text form of v to sb (NUL terminated); false for NULL. */
static bool text_param(tdo_sb *sb, const tdo_value *v)
{
    char buf[64];
    size_t n;
    switch (v->type) {
    case TDO_NULL:
        return false;
    case TDO_DURATION:
        tdo_sb_addf(sb, "%" PRId64, v->u.us);
        break;
    case TDO_DOUBLE:
        if (isnan(v->u.d))
            tdo_sb_adds(sb, "NaN");
        else if (isinf(v->u.d))
            tdo_sb_adds(sb, v->u.d > 0 ? "Infinity" : "-Infinity");
        else
            shortest_double(sb, v->u.d);
        break;
    case TDO_BLOB:
        tdo_sb_add(sb, v->u.s.ptr, v->u.s.len);
        break;
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        n = tdo_datetime_format(&v->u.dt, v->type, ' ', v->type != TDO_DATE,
                                buf, sizeof(buf));
        tdo_sb_add(sb, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
        break;
    default: /* true/false, integers, decimals, text as it is */
        tdo_value_format(sb, v, false);
        break;
    }
    tdo_sb_addc(sb, '\0');
    return true;
}

static bool has_text(const tdo_value *v)
{
    return v->type == TDO_TEXT || v->type == TDO_UUID || v->type == TDO_JSON;
}

static void free_bytes(pg_stmt *s)
{
    if (!s->bytes || !s->res)
        return;
    int nf = PQnfields(s->res);
    for (int i = 0; i < nf; i++) {
        if (s->bytes[i])
            PQfreemem(s->bytes[i]);
        s->bytes[i] = NULL;
    }
}

/* The parameters of one execution in libpq's form. */
typedef struct pg_args {
    const char **pv;
    int *plen, *pfmt;
    size_t *off; /* where each text form starts in text (SIZE_MAX: NULL) */
    tdo_sb text; /* the text forms, one after the other */
} pg_args;

static void args_release(pg_args *a)
{
    tdo_free(a->pv);
    tdo_free(a->plen);
    tdo_free(a->pfmt);
    tdo_free(a->off);
    tdo_sb_release(&a->text);
}

/* Converts the n params: bytes (and text holding a NUL, which the text
 * form would cut short: the server then refuses it in its own words) go
 * in binary form, the rest as text. */
static tdo_status make_args(pg_args *a, const tdo_value *params, size_t n,
                            tdo_error *err)
{
    memset(a, 0, sizeof(*a));
    a->text = (tdo_sb)TDO_SB_INIT;
    if (!n)
        return TDO_OK;
    a->pv = tdo_calloc(n, sizeof(*a->pv));
    a->plen = tdo_calloc(n, sizeof(*a->plen));
    a->pfmt = tdo_calloc(n, sizeof(*a->pfmt));
    a->off = tdo_calloc(n, sizeof(*a->off));
    if (!a->pv || !a->plen || !a->pfmt || !a->off)
        return tdo_nomem(err);
    /* text forms first (the buffer moves as it grows), pointers after */
    for (size_t i = 0; i < n; i++) {
        const tdo_value *v = &params[i];
        a->off[i] = a->text.len;
        if (v->type == TDO_BLOB ||
            (has_text(v) && memchr(v->u.s.ptr, '\0', v->u.s.len))) {
            a->pfmt[i] = 1;
            a->plen[i] = (int)v->u.s.len;
        } else if (!text_param(&a->text, v)) {
            a->off[i] = SIZE_MAX;
        }
    }
    if (a->text.oom)
        return tdo_nomem(err);
    for (size_t i = 0; i < n; i++) {
        if (a->pfmt[i])
            a->pv[i] = params[i].u.s.len ? params[i].u.s.ptr : "";
        else if (a->off[i] != SIZE_MAX)
            a->pv[i] = a->text.buf + a->off[i];
    }
    return TDO_OK;
}

/* Sends the prepared statement of s with a and waits for its result. */
static PGresult *send_prepared(pg_stmt *s, const pg_args *a, size_t n)
{
    return PQsendQueryPrepared(s->db->conn, s->name, (int)n, a->pv, a->plen,
                               a->pfmt, 0)
               ? pg_result(s->db)
               : NULL;
}

/* Reads what s->res says: rows, changes (DDL forgets the session's
 * prepared statements), or the error. */
static tdo_status take_result(pg_stmt *s, tdo_error *err)
{
    s->row = -1;
    s->nrows = 0;
    s->changes = 0;
    ExecStatusType es = s->res ? PQresultStatus(s->res) : PGRES_FATAL_ERROR;
    if (es == PGRES_EMPTY_QUERY)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL, "empty statement");
    if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK)
        return result_error(s->db, s->res, err);
    s->nrows = es == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
    const char *cmd = PQcmdStatus(s->res);
    if (cmd && strncmp(cmd, "SELECT", 6) != 0)
        s->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
    if (cmd && changes_schema(cmd))
        forget_statements(s->db);
    int nf = PQnfields(s->res);
    if (nf && !(s->bytes = tdo_calloc((size_t)nf, sizeof(*s->bytes))))
        return tdo_nomem(err);
    return TDO_OK;
}

/* ---- streaming -------------------------------------------------------- */

/* A stream's rows arrive one result at a time (libpq's single-row mode)
 * while the loop reading them runs: memory stays that of one row.  The
 * session cannot run anything else meanwhile, so a statement that needs
 * it first parks the stream: reads its remaining rows into one result
 * that the loop then goes on reading. */

/* Reads what is left of d's stream and drops it (a loop that stopped
 * early). */
static void stream_drop(pg_db *d)
{
    pg_stmt *s = d->stream;
    if (!s)
        return;
    d->stream = NULL;
    s->streaming = false;
    PGresult *r;
    while ((r = next_result(d)) != NULL)
        PQclear(r);
    d->timed_out = false; /* nobody waits for an answer any more */
}

/* Appends row 0 of r to the parked rows of s; false on out of memory. */
static bool park_row(pg_stmt *s, const PGresult *r)
{
    if (!s->parked && !(s->parked = PQcopyResult(r, PG_COPYRES_ATTRS)))
        return false;
    int t = PQntuples(s->parked), nf = PQnfields(r);
    for (int c = 0; c < nf; c++) {
        bool null = PQgetisnull(r, 0, c);
        if (!PQsetvalue(s->parked, t, c, null ? NULL : PQgetvalue(r, 0, c),
                        null ? -1 : PQgetlength(r, 0, c)))
            return false;
    }
    return true;
}

/* Reads the rest of d's stream into its statement (see above). */
static void stream_park(pg_db *d)
{
    pg_stmt *s = d->stream;
    if (!s)
        return;
    d->stream = NULL;
    s->streaming = false;
    PGresult *r;
    bool ended = false;
    while ((r = next_result(d)) != NULL) {
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_SINGLE_TUPLE && !s->fail && !s->nomem)
            s->nomem = !park_row(s, r);
        else if (es == PGRES_TUPLES_OK)
            ended = true;
        else if (es != PGRES_SINGLE_TUPLE && !s->fail) {
            s->fail = r; /* the first error stands */
            continue;
        }
        PQclear(r);
    }
    if (!ended && !s->fail) { /* the session broke or stopped answering */
        s->lost = true;
        s->timed_out = d->timed_out;
        d->timed_out = false;
    }
}

/* Ends s's stream after its last result r (TUPLES_OK, an error, or NULL:
 * the session broke); reads to the end of the statement's results. */
static void stream_end(pg_stmt *s, PGresult *r)
{
    pg_db *d = s->db;
    d->stream = NULL;
    s->streaming = false;
    if (!r) {
        s->lost = true;
        s->timed_out = d->timed_out;
        d->timed_out = false;
        return;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        s->fail = r;
    else
        PQclear(r);
    PGresult *x;
    while ((x = next_result(d)) != NULL)
        PQclear(x);
}

/* Forgets what the last execution of s left (its stream dropped). */
static void stmt_reset(pg_stmt *s)
{
    if (s->streaming)
        stream_drop(s->db);
    free_bytes(s);
    tdo_free(s->bytes);
    s->bytes = NULL;
    PQclear(s->res);
    PQclear(s->parked);
    PQclear(s->fail);
    s->res = s->parked = s->fail = NULL;
    s->lost = s->timed_out = s->nomem = false;
}

/* What both executes do first: the parameters checked and made into a
 * (released by the caller, whatever this returns), what s's last
 * execution left forgotten, and another stream's rows read ahead so
 * that the session is free. */
static tdo_status execute_begin(pg_stmt *s, const tdo_value *params, size_t n,
                                pg_args *a, tdo_error *err)
{
    memset(a, 0, sizeof(*a));
    a->text = (tdo_sb)TDO_SB_INIT;
    if (n > 65535)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "too many parameters (%zu, at most 65535)", n);
    tdo_status st = make_args(a, params, n, err);
    if (!st) {
        stmt_reset(s);
        stream_park(s->db);
    }
    return st;
}

static tdo_status pg_execute(void *stmt, const tdo_value *params, size_t n,
                             tdo_error *err)
{
    pg_stmt *s = stmt;
    pg_args a;
    tdo_status st = execute_begin(s, params, n, &a, err);
    if (!st) {
        s->res = send_prepared(s, &a, n);
        if (stale_plan(s->db, s->res) && reprepare(s->db, s) == TDO_OK) {
            PQclear(s->res);
            s->res = send_prepared(s, &a, n);
        }
        st = take_result(s, err);
    }
    args_release(&a);
    return st;
}

/* Sends the prepared statement of s with a, its rows to come one by one,
 * and waits for the first result. */
static PGresult *send_stream(pg_stmt *s, const pg_args *a, size_t n)
{
    if (!PQsendQueryPrepared(s->db->conn, s->name, (int)n, a->pv, a->plen,
                             a->pfmt, 0))
        return NULL;
    PQsetSingleRowMode(s->db->conn);
    return next_result(s->db);
}

/* Reads the results after first (the first error stands) and returns the
 * last, as pg_result() does. */
static PGresult *rest_of_results(pg_db *d, PGresult *first)
{
    PGresult *last = first, *r;
    while (last && (r = next_result(d)) != NULL) {
        if (PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
    }
    return last;
}

/* Like pg_execute, but the rows come from the server as the loop steps
 * (single-row mode); a statement without rows runs as pg_execute runs it. */
static tdo_status pg_execute_stream(void *stmt, const tdo_value *params,
                                    size_t n, tdo_error *err)
{
    pg_stmt *s = stmt;
    pg_db *d = s->db;
    pg_args a;
    tdo_status st = execute_begin(s, params, n, &a, err);
    if (st) {
        args_release(&a);
        return st;
    }
    PGresult *r = send_stream(s, &a, n);
    if (r && stale_plan(d, r)) {
        PQclear(rest_of_results(d, r));
        r = reprepare(d, s) == TDO_OK ? send_stream(s, &a, n) : NULL;
    }
    args_release(&a);
    if (r && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
        s->res = r;
        s->row = -1;
        s->nrows = 1;
        s->changes = 0;
        int nf = PQnfields(r);
        if (nf && !(s->bytes = tdo_calloc((size_t)nf, sizeof(*s->bytes)))) {
            stmt_reset(s); /* drops the stream */
            return tdo_nomem(err);
        }
        s->streaming = true;
        d->stream = s;
        return TDO_OK;
    }
    s->res = rest_of_results(d, r);
    return take_result(s, err);
}

/* Moves s to its next row: the next row of the result in hand, else the
 * next row from the server (streaming) or from the parked rows; at the
 * end, the error that ended a stream, if any. */
static tdo_status pg_step(void *stmt, bool *has_row, tdo_error *err)
{
    pg_stmt *s = stmt;
    pg_db *d = s->db;
    free_bytes(s);
    *has_row = false;
    if (s->row + 1 < s->nrows) {
        s->row++;
        *has_row = true;
        return TDO_OK;
    }
    if (s->streaming) {
        PGresult *r = next_result(d);
        if (r && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
            PQclear(s->res);
            s->res = r;
            s->row = 0;
            *has_row = true;
            return TDO_OK;
        }
        stream_end(s, r);
    }
    if (s->parked) {
        PQclear(s->res);
        s->res = s->parked;
        s->parked = NULL;
        s->row = 0;
        s->nrows = PQntuples(s->res);
        if (s->nrows > 0) {
            *has_row = true;
            return TDO_OK;
        }
    }
    s->row = s->nrows;
    tdo_status st = TDO_OK;
    if (s->fail) {
        st = result_error(d, s->fail, err);
        PQclear(s->fail);
        s->fail = NULL;
    } else if (s->lost) {
        d->timed_out = s->timed_out;
        st = result_error(d, NULL, err);
    } else if (s->nomem) {
        st = tdo_nomem(err);
    }
    s->lost = s->nomem = false;
    return st;
}

static size_t pg_ncols(void *stmt)
{
    pg_stmt *s = stmt;
    return s->res ? (size_t)PQnfields(s->res) : 0;
}

static const char *pg_colname(void *stmt, size_t i)
{
    pg_stmt *s = stmt;
    return s->res ? PQfname(s->res, (int)i) : NULL;
}

static tdo_status pg_column(void *stmt, size_t i, tdo_value *out,
                            tdo_error *err)
{
    pg_stmt *s = stmt;
    int c = (int)i;
    *out = tdo_value_null();
    if (!s->res || s->row < 0 || s->row >= s->nrows || c >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, c))
        return TDO_OK;
    const char *p = PQgetvalue(s->res, s->row, c);
    size_t len = (size_t)PQgetlength(s->res, s->row, c);
    char *end;
    switch (PQftype(s->res, c)) {
    case OID_BOOL:
        *out = tdo_value_bool(p[0] == 't');
        return TDO_OK;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        *out = tdo_value_int(strtoll(p, &end, 10));
        return TDO_OK;
    case OID_FLOAT4:
    case OID_FLOAT8:
        *out = tdo_value_double(strtod(p, &end));
        return TDO_OK;
    case OID_NUMERIC: {
        tdo_decimal dec;
        tdo_error e2 = TDO_ERROR_INIT;
        if (!tdo_decimal_parse(p, len, &dec, &e2)) {
            *out = tdo_value_decimal(&dec);
            return TDO_OK;
        }
        tdo_error_release(&e2); /* NaN, or too many digits: as text */
        *out = tdo_value_text(p, len);
        return TDO_OK;
    }
    case OID_BYTEA: {
        size_t blen = 0;
        if (s->bytes[c])
            PQfreemem(s->bytes[c]);
        s->bytes[c] = PQunescapeBytea((const unsigned char *)p, &blen);
        if (!s->bytes[c])
            return tdo_nomem(err);
        *out = tdo_value_blob(s->bytes[c], blen);
        return TDO_OK;
    }
    default:
        *out = tdo_value_text(p, len);
        return TDO_OK;
    }
}

static int64_t pg_changes(void *stmt)
{
    pg_stmt *s = stmt;
    return s->changes;
}

static void pg_release(void *stmt)
{
    pg_stmt *s = stmt;
    if (!s)
        return;
    stmt_reset(s);
    pg_db *d = s->db;
    tdo_free(s);
    db_unref(d);
}

static tdo_status pg_exec_script(void *db, const char *sql, tdo_error *err)
{
    pg_db *d = db;
    tdo_status st = ensure_connected(d, err);
    if (st)
        return st;
    PGresult *r = PQsendQuery(d->conn, sql) ? pg_result(d) : NULL;
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK &&
        es != PGRES_EMPTY_QUERY)
        st = result_error(d, r, err);
    PQclear(r);
    /* scripts are DDL: the cached plans may no longer fit */
    forget_statements(d);
    return st;
}

static tdo_status pg_set_read_only(void *db, tdo_error *err)
{
    pg_db *d = db;
    d->read_only = true; /* session_setup sets it again after a reset */
    return pg_exec_script(d, tdo_dialect_postgres.read_only_sql, err);
}

static void pg_cancel(void *db)
{
    pg_db *d = db;
    char errbuf[256];
    if (d->cancel)
        PQcancel(d->cancel, errbuf, (int)sizeof(errbuf));
}

static bool pg_in_transaction(void *db)
{
    pg_db *d = db;
    PGTransactionStatusType ts = PQtransactionStatus(d->conn);
    return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR ||
           ts == PQTRANS_ACTIVE;
}

static const char *pg_server_version(void *db)
{
    pg_db *d = db;
    const char *v = PQparameterStatus(d->conn, "server_version");
    return v ? v : "";
}

static uint64_t pg_cache_hits(void *db)
{
    pg_db *d = db;
    return d->cache.hits;
}

/* Whether the session lost its server: an idle session reads what the
 * server sent (a shutdown notice, EOF) without a round trip. */
static bool pg_is_broken(void *db)
{
    pg_db *d = db;
    if (PQstatus(d->conn) == CONNECTION_OK && !PQisBusy(d->conn))
        PQconsumeInput(d->conn);
    return PQstatus(d->conn) != CONNECTION_OK;
}

/* The URL parameters of PostgreSQL: every libpq connection keyword,
 * Tortoise's ssl=true/false, and schema (the search_path). */
static bool pg_param_known(const char *key)
{
    if (!strcmp(key, "ssl") || !strcmp(key, "database") ||
        !strcmp(key, "schema"))
        return true;
    tdo_error e = TDO_ERROR_INIT;
    if (tdo_dlib_load(&pql_lib, &e)) { /* connecting will say what is missing */
        tdo_error_release(&e);
        return true;
    }
    PQconninfoOption *opts = PQconndefaults();
    bool known = false;
    for (PQconninfoOption *o = opts; o && o->keyword && !known; o++)
        known = strcmp(o->keyword, key) == 0;
    PQconninfoFree(opts);
    return known;
}

const tdo_backend tdo_backend_pg = {
    .name = "postgres",
    .param_known = pg_param_known,
    .dialect = &tdo_dialect_postgres,
    .connect = pg_connect,
    .close = pg_close,
    .prepare = pg_prepare,
    .execute = pg_execute,
    .execute_stream = pg_execute_stream,
    .step = pg_step,
    .ncols = pg_ncols,
    .colname = pg_colname,
    .column = pg_column,
    .changes = pg_changes,
    .last_insert_id = NULL, /* INSERT ... RETURNING */
    .release = pg_release,
    .exec_script = pg_exec_script,
    .set_read_only = pg_set_read_only,
    .cancel = pg_cancel,
    .in_transaction = pg_in_transaction,
    .server_version = pg_server_version,
    .cache_hits = pg_cache_hits,
    .is_broken = pg_is_broken,
};
