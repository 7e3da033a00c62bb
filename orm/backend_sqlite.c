/*
 * backend_sqlite.c -- the SQLite driver: sessions with a bounded cache of
 * prepared statements keyed by SQL text, value binding and reading, and
 * the mapping of SQLite errors to tdo statuses.
 */
#include "tdo_int.h"

#include <ctype.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <time.h>

typedef struct sq_db sq_db;

/* One prepared statement handed out by prepare(). */
typedef struct sq_stmt {
    sq_db *db;
    sqlite3_stmt *st;
    int slot;        /* its entry in db->cache, or -1: not cached */
    int64_t changes; /* rows changed once the statement finished */
} sq_stmt;

/* One session; refcounted by the statements handed out, so that a cursor
 * outlives close(). */
struct sq_db {
    sqlite3 *db;
    int refs;
    bool closed;
    tdo_stmt_cache cache;
    int timeout_ms;   /* statement_timeout, 0: none */
    int64_t deadline; /* when the running statement must stop (ms) */
    bool timed_out;   /* the progress handler stopped it */
};

/* The progress handler of a session with a statement_timeout: stops the
 * statement (SQLITE_INTERRUPT) once its time is up. */
static int past_deadline(void *ud)
{
    sq_db *d = ud;
    if (d->deadline && tdo_now_ms() > d->deadline) {
        d->timed_out = true;
        return 1;
    }
    return 0;
}

/* A statement starts: its time runs from now. */
static void start_clock(sq_db *d)
{
    d->timed_out = false;
    d->deadline = d->timeout_ms ? tdo_now_ms() + d->timeout_ms : 0;
}

/* The error of rc, saying so when the statement_timeout stopped it. */
static tdo_status sq_error(sqlite3 *db, int rc, tdo_error *err);
static tdo_status step_error(sq_db *d, int rc, tdo_error *err)
{
    if (d->timed_out) {
        d->timed_out = false;
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "statement timeout: stopped after %d ms "
                             "(statement_timeout)",
                             d->timeout_ms);
    }
    return sq_error(d->db, rc, err);
}

static tdo_status sq_error(sqlite3 *db, int rc, tdo_error *err)
{
    int prim = rc & 0xff;
    tdo_status code = TDO_ERR_OPERATIONAL;
    if (prim == SQLITE_CONSTRAINT)
        code = TDO_ERR_INTEGRITY;
    else if (prim == SQLITE_INTERRUPT)
        code = TDO_ERR_INTERRUPTED;
    else if (prim == SQLITE_NOMEM)
        code = TDO_ERR_NOMEM;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    tdo_status st = tdo_error_set(err, code, "%s", msg);
    if (err) {
        err->driver_code = rc;
        if (code == TDO_ERR_INTEGRITY)
            memcpy(err->sqlstate, "23000", 6);
    }
    return st;
}

static void stmt_destroy(sq_stmt *s)
{
    sqlite3_finalize(s->st);
    tdo_free(s);
}

static void db_unref(sq_db *d)
{
    if (--d->refs > 0)
        return;
    sqlite3_close(d->db);
    tdo_free(d);
}

/* Applies a PRAGMA from a URL parameter when its value is a plain word. */
static tdo_status url_pragma(sq_db *d, const tdo_dsn *dsn, const char *key,
                             tdo_error *err)
{
    const char *v = tdo_dsn_param(dsn, key);
    if (!v)
        return TDO_OK;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "bad value for sqlite URL parameter '%s'",
                                 key);
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA %s=%.80s", key, v);
    int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TDO_OK : sq_error(d->db, rc, err);
}

/* Collation TDO_DECIMAL: orders decimal text numerically and exactly, for
 * DecimalFields too wide for a REAL (see dialect_sqlite.c); text that is
 * not a decimal sorts after decimals, bytewise. */
static int decimal_collate(void *ud, int na, const void *a, int nb,
                           const void *b)
{
    (void)ud;
    tdo_decimal da, db;
    bool oka = !tdo_decimal_parse(a, (size_t)na, &da, NULL);
    bool okb = !tdo_decimal_parse(b, (size_t)nb, &db, NULL);
    if (oka && okb)
        return tdo_decimal_cmp(&da, &db);
    if (oka != okb)
        return oka ? -1 : 1;
    int c = memcmp(a, b, (size_t)(na < nb ? na : nb));
    return c ? c : (na > nb) - (na < nb);
}

/* A statement leaves the cache: destroyed, or by release() when it is
 * still handed out. */
static void uncache(void *stmt, bool in_use, void *ud)
{
    sq_stmt *s = stmt;
    (void)ud;
    if (in_use)
        s->slot = -1;
    else
        stmt_destroy(s);
}

static void regex_free(void *p)
{
    pcre2_code_free(p);
}

/* Whether JSON value a contains b, by PostgreSQL's jsonb @> rules (MySQL's
 * JSON_CONTAINS agrees): an object holds each key of b with a value
 * containing b's, an array holds, for each element of b, one containing
 * it (and an array contains a scalar it holds), scalars are equal
 * (numbers by value). */
static bool json_contains(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && !json_is_array(b) && !json_is_object(b)) {
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x) if (json_contains(x, b)) return true;
        return false;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)b, k, v)
        {
            json_t *av = json_object_get(a, k);
            if (!av || !json_contains(av, v))
                return false;
        }
        return true;
    }
    if (json_is_array(b)) {
        size_t i, j;
        json_t *e, *x;
        json_array_foreach(b, i, e)
        {
            bool found = false;
            json_array_foreach(a, j, x) if (!found && json_contains(x, e))
                found = true;
            if (!found)
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* testudo_json_contains(a, b): 1 when JSON text a contains b (the
 * JSONField contains / contained_by lookups), 0 when not, NULL when
 * either is NULL or not JSON. */
static void json_contains_fn(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv)
{
    (void)argc;
    const char *ta = (const char *)sqlite3_value_text(argv[0]);
    const char *tb = (const char *)sqlite3_value_text(argv[1]);
    if (!ta || !tb) {
        sqlite3_result_null(ctx);
        return;
    }
    json_t *a = json_loads(ta, JSON_DECODE_ANY, NULL);
    json_t *b = a ? json_loads(tb, JSON_DECODE_ANY, NULL) : NULL;
    if (!a || !b)
        sqlite3_result_null(ctx);
    else
        sqlite3_result_int(ctx, json_contains(a, b));
    json_decref(a);
    json_decref(b);
}

/* regexp(pattern, text): SQLite's REGEXP operator (the regex lookups),
 * through PCRE2 (UTF-8, Unicode case folding); the compiled pattern is
 * kept for the statement. NULL for a NULL operand. */
static void regexp_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
        sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;
    pcre2_code *re = sqlite3_get_auxdata(ctx, 0);
    if (!re) {
        const unsigned char *pat = sqlite3_value_text(argv[0]);
        int n = sqlite3_value_bytes(argv[0]);
        int code;
        PCRE2_SIZE off;
        re = pcre2_compile(pat, (PCRE2_SIZE)n, PCRE2_UTF | PCRE2_UCP, &code,
                           &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            char *e = sqlite3_mprintf("invalid regular expression: %s (at "
                                      "offset %d)",
                                      (const char *)msg, (int)off);
            sqlite3_result_error(ctx, e ? e : "invalid regular expression", -1);
            sqlite3_free(e);
            return;
        }
        sqlite3_set_auxdata(ctx, 0, re, regex_free);
        re = sqlite3_get_auxdata(ctx, 0); /* NULL: SQLite freed it */
        if (!re) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    const unsigned char *s = sqlite3_value_text(argv[1]);
    int len = sqlite3_value_bytes(argv[1]);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int rc = pcre2_match(re, s, (PCRE2_SIZE)len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        sqlite3_result_error(ctx, (const char *)msg, -1);
        return;
    }
    sqlite3_result_int(ctx, rc >= 0);
}

static tdo_status sq_connect(const tdo_dsn *dsn, void **out, tdo_error *err)
{
    *out = NULL;
    sq_db *d = tdo_calloc(1, sizeof(*d));
    if (!d)
        return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    /* a session is used by one thread at a time (the pool hands it out;
     * sqlite3_interrupt needs no lock): SQLite's own per-call mutex is
     * a tenth of reading a row */
    int rc = sqlite3_open_v2(
        dsn->database, &d->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        tdo_status st = tdo_error_set(
            err, rc == SQLITE_NOMEM ? TDO_ERR_NOMEM : TDO_ERR_OPERATIONAL,
            "cannot open SQLite database '%s': %s", dsn->database,
            d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        sqlite3_close(d->db);
        tdo_free(d);
        return st;
    }
    d->refs = 1;
    tdo_stmt_cache_init(&d->cache, false, uncache, NULL);
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, 5000);
    sqlite3_create_function_v2(d->db, "testudo_json_contains", 2,
                               SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                               json_contains_fn, NULL, NULL, NULL);
    sqlite3_create_function_v2(d->db, "regexp", 2,
                               SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                               regexp_fn, NULL, NULL, NULL);
    d->timeout_ms = dsn->statement_timeout;
    if (d->timeout_ms)
        sqlite3_progress_handler(d->db, 1000, past_deadline, d);
    tdo_status st = TDO_OK;
    rc = sqlite3_exec(d->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_collation(d->db, "TDO_DECIMAL", SQLITE_UTF8, NULL,
                                      decimal_collate);
    if (rc != SQLITE_OK)
        st = sq_error(d->db, rc, err);
    static const char *const pragmas[] = {"foreign_keys", "journal_mode",
                                          "synchronous", "busy_timeout"};
    for (size_t i = 0; !st && i < sizeof(pragmas) / sizeof(*pragmas); i++)
        st = url_pragma(d, dsn, pragmas[i], err);
    if (st) {
        db_unref(d);
        return st;
    }
    *out = d;
    return TDO_OK;
}

static void sq_close(void *db)
{
    sq_db *d = db;
    if (!d)
        return;
    d->closed = true;
    tdo_stmt_cache_clear(&d->cache);
    db_unref(d);
}

/* Whether only blanks and semicolons are left in tail. */
static bool blank_tail(const char *tail)
{
    for (; tail && *tail; tail++)
        if (!isspace((unsigned char)*tail) && *tail != ';')
            return false;
    return true;
}

static tdo_status sq_prepare(void *db, const char *sql, void **out,
                             tdo_error *err)
{
    sq_db *d = db;
    *out = NULL;
    int slot = tdo_stmt_cache_find(&d->cache, sql);
    if (slot >= 0) {
        sq_stmt *s = d->cache.e[slot].stmt;
        s->changes = 0;
        d->refs++;
        *out = s;
        return TDO_OK;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                                &tail);
    if (rc != SQLITE_OK)
        return sq_error(d->db, rc, err);
    if (!st)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL, "empty statement");
    if (!blank_tail(tail)) {
        sqlite3_finalize(st);
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "only one statement can be executed at a time "
                             "(use execute_script for several)");
    }
    sq_stmt *s = tdo_calloc(1, sizeof(*s));
    if (!s) {
        sqlite3_finalize(st);
        return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
    }
    s->db = d;
    s->st = st;
    s->slot = tdo_stmt_cache_add(&d->cache, sql, s);
    d->refs++;
    *out = s;
    return TDO_OK;
}

/* Binds one value; types that to_db should have converted are written
 * as their text (or integer) form. */
static int bind_one(sqlite3_stmt *st, int i, const tdo_value *v)
{
    char buf[64];
    size_t n;
    switch (v->type) {
    case TDO_NULL:
        return sqlite3_bind_null(st, i);
    case TDO_BOOL:
        return sqlite3_bind_int(st, i, v->u.b ? 1 : 0);
    case TDO_INT:
        return sqlite3_bind_int64(st, i, v->u.i);
    case TDO_DURATION:
        return sqlite3_bind_int64(st, i, v->u.us);
    case TDO_DOUBLE:
        return sqlite3_bind_double(st, i, v->u.d);
    case TDO_TEXT:
    case TDO_UUID:
    case TDO_JSON:
        return sqlite3_bind_text64(st, i, v->u.s.len ? v->u.s.ptr : "",
                                   v->u.s.len, SQLITE_TRANSIENT, SQLITE_UTF8);
    case TDO_BLOB:
        return sqlite3_bind_blob64(st, i, v->u.s.len ? v->u.s.ptr : "",
                                   v->u.s.len, SQLITE_TRANSIENT);
    case TDO_DECIMAL:
        n = tdo_decimal_format(&v->u.dec, buf, sizeof(buf));
        return sqlite3_bind_text(st, i, buf,
                                 (int)(n < sizeof(buf) ? n : sizeof(buf) - 1),
                                 SQLITE_TRANSIENT);
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        n = tdo_datetime_format(&v->u.dt, v->type, ' ', v->type != TDO_DATE,
                                buf, sizeof(buf));
        return sqlite3_bind_text(st, i, buf,
                                 (int)(n < sizeof(buf) ? n : sizeof(buf) - 1),
                                 SQLITE_TRANSIENT);
    }
    return SQLITE_MISUSE;
}

static tdo_status sq_execute(void *stmt, const tdo_value *params, size_t n,
                             tdo_error *err)
{
    sq_stmt *s = stmt;
    int want = sqlite3_bind_parameter_count(s->st);
    if ((size_t)want != n)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "incorrect number of parameters: the statement "
                             "uses %d, %zu given",
                             want, n);
    for (size_t i = 0; i < n; i++) {
        int rc = bind_one(s->st, (int)i + 1, &params[i]);
        if (rc != SQLITE_OK)
            return sq_error(s->db->db, rc, err);
    }
    s->changes = 0;
    start_clock(s->db);
    return TDO_OK;
}

static tdo_status sq_step(void *stmt, bool *has_row, tdo_error *err)
{
    sq_stmt *s = stmt;
    int rc = sqlite3_step(s->st);
    *has_row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        return TDO_OK;
    if (rc == SQLITE_DONE) {
        s->changes =
            sqlite3_stmt_readonly(s->st) ? 0 : sqlite3_changes64(s->db->db);
        return TDO_OK;
    }
    tdo_status st = step_error(s->db, rc, err);
    sqlite3_reset(s->st);
    return st;
}

static size_t sq_ncols(void *stmt)
{
    sq_stmt *s = stmt;
    return (size_t)sqlite3_column_count(s->st);
}

static const char *sq_colname(void *stmt, size_t i)
{
    sq_stmt *s = stmt;
    return sqlite3_column_name(s->st, (int)i);
}

static tdo_status sq_column(void *stmt, size_t i, tdo_value *out,
                            tdo_error *err)
{
    sq_stmt *s = stmt;
    int c = (int)i;
    *out = tdo_value_null();
    switch (sqlite3_column_type(s->st, c)) {
    case SQLITE_INTEGER:
        *out = tdo_value_int(sqlite3_column_int64(s->st, c));
        break;
    case SQLITE_FLOAT:
        *out = tdo_value_double(sqlite3_column_double(s->st, c));
        break;
    case SQLITE_TEXT: {
        const unsigned char *p = sqlite3_column_text(s->st, c);
        if (!p)
            return tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
        *out = tdo_value_text((const char *)p,
                              (size_t)sqlite3_column_bytes(s->st, c));
        break;
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(s->st, c);
        size_t n = (size_t)sqlite3_column_bytes(s->st, c);
        *out = tdo_value_blob(p ? p : "", n);
        break;
    }
    default:
        break;
    }
    return TDO_OK;
}

static int64_t sq_changes(void *stmt)
{
    sq_stmt *s = stmt;
    return s->changes;
}

static tdo_status sq_last_insert_id(void *db, tdo_value *out, tdo_error *err)
{
    sq_db *d = db;
    *out = tdo_value_int(sqlite3_last_insert_rowid(d->db));
    return TDO_OK;
}

static void sq_release(void *stmt)
{
    sq_stmt *s = stmt;
    if (!s)
        return;
    sq_db *d = s->db;
    if (s->slot >= 0 && !d->closed) {
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        tdo_stmt_cache_done(&d->cache, s->slot);
    } else {
        stmt_destroy(s);
    }
    db_unref(d);
}

static tdo_status sq_exec_script(void *db, const char *sql, tdo_error *err)
{
    sq_db *d = db;
    const char *p = sql;
    while (p && *p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(d->db, p, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return sq_error(d->db, rc, err);
        if (!st) { /* blanks, a comment or an empty statement */
            if (!tail || tail == p)
                break;
            p = tail;
            continue;
        }
        start_clock(d);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE) {
            tdo_status s = step_error(d, rc, err);
            sqlite3_finalize(st);
            return s;
        }
        sqlite3_finalize(st);
        p = tail;
    }
    return TDO_OK;
}

static void sq_cancel(void *db)
{
    sq_db *d = db;
    sqlite3_interrupt(d->db);
}

static bool sq_in_transaction(void *db)
{
    sq_db *d = db;
    return !sqlite3_get_autocommit(d->db);
}

static const char *sq_server_version(void *db)
{
    return sqlite3_libversion();
}

/* The version of the SQLite library linked in ("3.40.1"); static. */
TDO_API const char *tdo_sqlite_version(void)
{
    return sqlite3_libversion();
}

static uint64_t sq_cache_hits(void *db)
{
    sq_db *d = db;
    return d->cache.hits;
}

/* The URL parameters of SQLite: the PRAGMAs it sets. */
static bool sq_param_known(const char *key)
{
    return !strcmp(key, "foreign_keys") || !strcmp(key, "journal_mode") ||
           !strcmp(key, "synchronous") || !strcmp(key, "busy_timeout");
}

const tdo_backend tdo_backend_sqlite = {
    .name = "sqlite",
    .param_known = sq_param_known,
    .dialect = &tdo_dialect_sqlite,
    .connect = sq_connect,
    .close = sq_close,
    .prepare = sq_prepare,
    .execute = sq_execute,
    .step = sq_step,
    .ncols = sq_ncols,
    .colname = sq_colname,
    .column = sq_column,
    .changes = sq_changes,
    .last_insert_id = sq_last_insert_id,
    .release = sq_release,
    .exec_script = sq_exec_script,
    .cancel = sq_cancel,
    .in_transaction = sq_in_transaction,
    .server_version = sq_server_version,
    .cache_hits = sq_cache_hits,
    .max_sessions = 1, /* one session: :memory: stays one database */
};
