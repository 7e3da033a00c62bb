/*
 * tdo_int.h -- internal declarations shared by the files of orm/.
 * Never installed.  Sections say which files own what they declare.
 */
#ifndef TDO_INT_H
#define TDO_INT_H

#include "testudo.h"

#include <stdlib.h>
#include <string.h>

/* ---- memory helpers (sb.c) ------------------------------------------- */

/* Returns a malloc'd copy of s (NULL for NULL or out of memory). */
char *tdo_strdup(const char *s);
/* Returns a malloc'd copy of len bytes of s plus a NUL. */
char *tdo_strndup(const char *s, size_t len);

/* Allocation hooks: every allocation of orm/ goes through these so the
 * allocation-failure tests can fail the Nth one. */
void *tdo_malloc(size_t n);
void *tdo_calloc(size_t n, size_t size);
void *tdo_realloc(void *p, size_t n);
void tdo_free(void *p);
/* Test hook (not exported: the unit tests link libtestudo.a): fail the
 * nth allocation from now (0: never); every later
 * allocation succeeds again.  Arming it clears tdo_test_alloc_failed(). */
void tdo_test_fail_alloc_after(long nth);
/* Whether the armed failure has happened since the last arming. */
bool tdo_test_alloc_failed(void);

/* ---- errors (error.c) ------------------------------------------------ */

/* Sets err to "out of memory"; returns TDO_ERR_NOMEM. */
tdo_status tdo_nomem(tdo_error *err);

/* n rounded up to a multiple of a: the offset of the next part of a
 * block holding several arrays (compile.c, exec.c). */
static inline size_t tdo_align_up_(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* ---- the prepared-statement cache of a session (stmt_cache.c) --------- */

#define TDO_STMT_CACHE_MAX 64 /* statements kept per session */
/* Rows per INSERT statement of a bulk insert given no batch size, and the
 * bound parameters a statement may hold on every backend (SQLite 32766,
 * PostgreSQL and MySQL 65535). */
#define TDO_INSERT_BATCH 100
#define TDO_MAX_PARAMS 32766

typedef struct tdo_cache_entry {
    char *sql;          /* the key; owned */
    uint64_t hash;      /* of sql (FNV-1a), compared first */
    void *stmt;         /* the backend's statement */
    uint64_t last_used; /* LRU tick */
    bool in_use;        /* handed out, not given back yet */
} tdo_cache_entry;

typedef struct tdo_stmt_cache {
    tdo_cache_entry e[TDO_STMT_CACHE_MAX];
    size_t n;
    uint64_t tick;
    uint64_t hits; /* lookups that found their statement */
    bool shared;   /* entries may be used by several at once (never in
                      use: PostgreSQL's named statements) */
    /* gives a statement back to its backend as it leaves the cache
     * (in_use: it is still handed out); ud is the cache's ud when the
     * statement is evicted, NULL when the whole cache is cleared (the
     * session is closing or has forgotten every statement) */
    void (*drop)(void *stmt, bool in_use, void *ud);
    void *ud;
} tdo_stmt_cache;

/* Looks sql up among the idle entries: its slot, now in use (unless the
 * cache is shared) and counted as a hit, or -1. */
int tdo_stmt_cache_find(tdo_stmt_cache *c, const char *sql);
/* Sets up an empty cache whose statements leave through drop(stmt,
 * in_use, ud); shared: see tdo_stmt_cache. */
void tdo_stmt_cache_init(tdo_stmt_cache *c, bool shared,
                         void (*drop)(void *stmt, bool in_use, void *ud),
                         void *ud);
/* Adds sql -> stmt, in use (unless shared), in a free slot or the one of
 * the least recently used idle entry, which is dropped.  Returns the
 * slot, or -1 when every entry is in use or memory ran out: stmt stays
 * uncached. */
int tdo_stmt_cache_add(tdo_stmt_cache *c, const char *sql, void *stmt);
/* Marks the entry of slot idle again. */
static inline void tdo_stmt_cache_done(tdo_stmt_cache *c, int slot)
{
    c->e[slot].in_use = false;
}
/* Empties the cache, dropping every entry. */
void tdo_stmt_cache_clear(tdo_stmt_cache *c);

/* Whether f holds a plain integer (Int, BigInt, SmallInt, IntEnum). */
static inline bool tdo_field_is_integer(const tdo_field *f)
{
    return f->type == TDO_F_INT || f->type == TDO_F_BIGINT ||
           f->type == TDO_F_SMALLINT || f->type == TDO_F_INTENUM;
}

/* ---- registry (registry.c, model.c, field.c) -------------------------- */

typedef struct tdo_index {
    char **fields; /* field names; owned */
    size_t n;
    bool unique;   /* unique_together */
} tdo_index;

struct tdo_model {
    tdo_ctx *ctx;
    char *app;            /* app label, "models" */
    char *name;           /* "User" */
    char *table;          /* "users" */
    char *description;    /* or NULL */
    bool abstract;
    bool finished;        /* tdo_model_finish() ran */
    bool detached;        /* tdo_model_detach() ran */
    tdo_field **fields;   /* declaration order; owned */
    size_t nfields;
    tdo_field *pk;        /* one of fields; NULL with a composite key */
    tdo_index keydecl;    /* tdo_model_set_key()'s names (n 0: none) */
    bool keyset;          /* tdo_model_set_key() ran: no `id` added */
    tdo_field **key;      /* a composite key's fields (nkey >= 2); owned */
    size_t nkey;
    bool read_only;       /* writes refused (a view) */
    char *qtable;         /* table quoted for qdialect (compile.c); owned */
    struct tdo_proj *all_proj; /* the projection new queries of m start
                                  from (query.c); a reference */
    struct tdo_shape *shapes; /* statements compiled for m by shape, reused
                                 with new values (exec.c); owned */
    size_t nshapes;
    uint64_t shape_tick;
    const void *qdialect;
    bool introspected;    /* declared by tdo_models_from_schema() */
    tdo_index *indexes;   /* owned */
    size_t nindexes;
    void *userdata;       /* the caller's */
    tdo_relation **relations; /* forward, then reverse (relation.c); owned */
    size_t nrelations;
    tdo_relation **retired; /* dropped by a later resolve, kept alive; owned */
    size_t nretired;
    struct tdo_handler *handlers[TDO_SIG_COUNT]; /* signals (save.c); owned */
    size_t nhandlers[TDO_SIG_COUNT];
};

/* One signal handler of a model. */
typedef struct tdo_handler {
    tdo_signal_fn fn;
    void *ud;
} tdo_handler;

/* Drops what m keeps compiled: the projection of its new queries
 * (query.c) and its statements by shape (exec.c); after any change to
 * its fields, table or key. */
void tdo_model_free_proj_(tdo_model *m);
/* Drops m's statements by shape (exec.c). */
void tdo_model_free_shapes_(tdo_model *m);
/* The checks of an UPDATE of the n fields of one row to vals: m
 * writable, some field, every value fits its field (compile.c). */
tdo_status tdo_update_check_(const tdo_model *m, const tdo_field *const *fields,
                             const tdo_value *vals, size_t n, tdo_error *err);
/* The values of pk (one per key field, in key order; NULL: all NULL)
 * coerced to m's key fields into out[tdo_model_nkey(m)], released by the
 * caller; OperationalError when m has no key (compile.c). */
tdo_status tdo_key_params_(const tdo_model *m, const tdo_value *pk,
                           tdo_value *out, tdo_error *err);
/* The checks of an INSERT of nrows rows of vals (row-major, nfields a
 * row): m writable, rows there, every value fits its field (compile.c). */
tdo_status tdo_insert_check_(const tdo_model *m, const tdo_field *const *fields,
                             size_t nfields, const tdo_value *vals,
                             size_t nrows, tdo_error *err);
/* OperationalError naming the operation (what: "save", "delete" ...)
 * when m is read-only (model.c). */
tdo_status tdo_model_check_writable_(const tdo_model *m, const char *what,
                                     tdo_error *err);

/* Relations (relation.c). */
/* Builds the relations of every live model after the references are
 * bound (tdo_ctx_resolve()); ConfigurationError naming clashes. */
tdo_status tdo_relations_build_(tdo_ctx *ctx, tdo_error *err);
/* Frees the relations (live and retired) of m. */
void tdo_model_free_relations_(tdo_model *m);
/* The declared through model of m2m field f, or NULL. */
tdo_model *tdo_field_through_model_(const tdo_field *f);
/* Whether r leads to many rows (reverse FK, m2m). */
bool tdo_relation_to_many_(const tdo_relation *r);
/* Finds the live model named by ref: "app.Model", or "Model" in the app
 * of m; NULL if none (model.c). */
tdo_model *tdo_model_lookup_ref_(const tdo_ctx *ctx, const tdo_model *m,
                                 const char *ref);
/* Emulates ON DELETE SET DEFAULT (InnoDB refuses to apply it): sets the
 * default in the FK columns pointing at the rows of q (or, q NULL, at the
 * row pk of m) that are about to be deleted (m2m.c).  Runs nothing when
 * no relation has on_delete SET_DEFAULT.  exec.c calls it before a
 * delete. */
tdo_status tdo_delete_set_defaults_(tdo_conn *c, const tdo_model *m,
                                    const tdo_query *q, const tdo_value *pk,
                                    tdo_error *err);

/* ---- connections (ctx.c, url.c, conn.c, exec.c) ------------------- */

struct tdo_ctx {
    tdo_model **models; /* live models, creation order; owned */
    size_t nmodels;
    tdo_model **detached; /* detached models, freed with ctx; owned */
    size_t ndetached;
    tdo_conn **conns;   /* owned */
    size_t nconns;
    bool use_tz;
    bool read_only; /* sessions refuse writes (tdo_ctx_set_read_only) */
    tdo_trace_fn trace;
    void *trace_ud;
};

/* ---- backends (backend.c, backend_*.c) ------------------------------- */

/* Internal helpers of the registry (ctx.c, model.c, field.c). */
/* Frees a model and all it owns. */
void tdo_model_free_(tdo_model *m);
/* Frees a field made by tdo_field_make_() (NULL is fine). */
void tdo_field_free_(tdo_field *f);

/* Number of UTF-8 characters of the len bytes at p (field.c). */
size_t tdo_utf8_len_(const char *p, size_t len);

/* validate.c: a field's validators -- copied (patterns compiled;
 * ConfigurationError for a bad one), freed, run on a canonical value. */
tdo_status tdo_validators_copy_(tdo_field *f, const tdo_validator *src,
                                size_t n, tdo_error *err);
void tdo_validators_free_(tdo_field *f);
tdo_status tdo_validators_run_(const tdo_field *f, const tdo_value *v,
                               tdo_error *err);
/* Deep copy of src into the zeroed dst (strings, default, enum values). */
tdo_status tdo_field_copy_(tdo_field *dst, const tdo_field *src,
                           tdo_error *err);
/* A scratch field of the given name and type, owning nothing (for
 * coercing a value or typing a column as one). */
tdo_field tdo_field_scratch_(const char *name, tdo_field_type type);
/* Checks the template t for model m and returns a new owned field with
 * column and implied flags filled in (not yet added to m). */
tdo_status tdo_field_make_(const tdo_model *m, const tdo_field_decl *t,
                           tdo_field **out, tdo_error *err);

/* A parsed database URL: scheme://user:password@host:port/database?k=v */
typedef struct tdo_dsn {
    char *scheme;   /* "sqlite"; owned */
    char *user;     /* or NULL; owned */
    char *password; /* or NULL; owned, never shown */
    char *host;     /* or NULL; owned */
    int port;       /* 0: default */
    char *database; /* sqlite: the file path or ":memory:"; owned */
    char **keys;    /* query parameters (decoded); owned */
    char **vals;
    size_t nparams;
    int minsize, maxsize; /* pool bounds (?minsize=&maxsize=), 1 and 5 */
    int connect_timeout;  /* seconds (?connect_timeout=), default
                             TDO_CONNECT_TIMEOUT; 0: wait for ever */
    int statement_timeout; /* milliseconds (?statement_timeout=), 0: none */
} tdo_dsn;

/* The seconds a connection attempt waits for a server by default. */
#define TDO_CONNECT_TIMEOUT 10

/* Milliseconds of the monotonic clock (for the drivers' timeouts). */
int64_t tdo_now_ms(void);

/* Returns the value of query parameter key of dsn, or NULL. */
const char *tdo_dsn_param(const tdo_dsn *dsn, const char *key);

/* A driver.  Handles are opaque (void *): db is one open session, stmt a
 * prepared statement of it.  A stmt stays usable after close(db) until
 * release(stmt) (drivers refcount their sessions).  Every op reports
 * errors through err (IntegrityError, OperationalError, Interrupted);
 * exec.c attaches the SQL. */
/* A client library loaded on first use (dlib.c): soname ("libpq.so.5"),
 * the n function names to resolve into fns, in order. */
typedef struct tdo_dlib {
    const char *soname;
    const char *what;    /* "PostgreSQL support" */
    const char *package; /* the Debian package that has it */
    const char *const *names;
    void **fns;
    size_t n;
    bool loaded;
} tdo_dlib;

/* Loads lib once (thread-safe); OperationalError saying what to install
 * when it cannot be loaded. */
tdo_status tdo_dlib_load(tdo_dlib *lib, tdo_error *err);

typedef struct tdo_backend {
    const char *name; /* "sqlite": its engine in the URL scheme table */
    /* whether key is a URL parameter of this driver (the core's own --
     * minsize, maxsize, connect_timeout, statement_timeout -- aside) */
    bool (*param_known)(const char *key);
    const tdo_dialect *dialect;
    /* opens a session from dsn */
    tdo_status (*connect)(const tdo_dsn *dsn, void **db, tdo_error *err);
    /* closes a session (NULL is fine); pending stmts stay valid */
    void (*close)(void *db);
    /* prepares one statement (may come from the driver's cache) */
    tdo_status (*prepare)(void *db, const char *sql, void **stmt,
                          tdo_error *err);
    /* binds driver values (see to_db) and starts the statement */
    tdo_status (*execute)(void *stmt, const tdo_value *params, size_t n,
                          tdo_error *err);
    /* like execute, but the rows may come from the server as the cursor
     * steps (constant memory); the backend reads the rest ahead when
     * another statement needs the session.  NULL: execute streams
     * already (SQLite) */
    tdo_status (*execute_stream)(void *stmt, const tdo_value *params,
                                 size_t n, tdo_error *err);
    /* advances to the next row; *has_row false at the end */
    tdo_status (*step)(void *stmt, bool *has_row, tdo_error *err);
    size_t (*ncols)(void *stmt);
    const char *(*colname)(void *stmt, size_t i);
    /* column i of the current row as a driver value (INT, DOUBLE, TEXT,
     * BLOB, NULL), borrowed until the next step */
    tdo_status (*column)(void *stmt, size_t i, tdo_value *out, tdo_error *err);
    /* rows changed by the last finished INSERT/UPDATE/DELETE of stmt */
    int64_t (*changes)(void *stmt);
    /* the id of the last inserted row of the session */
    tdo_status (*last_insert_id)(void *db, tdo_value *out, tdo_error *err);
    /* gives the statement back (reset into the cache or finalized) */
    void (*release)(void *stmt);
    /* runs ;-separated statements without parameters */
    tdo_status (*exec_script)(void *db, const char *sql, tdo_error *err);
    /* makes the session refuse writes (the dialect's read_only_sql), now
     * and after any reconnection of its own; NULL: exec_script of
     * read_only_sql (a backend that never reconnects) */
    tdo_status (*set_read_only)(void *db, tdo_error *err);
    /* asks the running statement to stop; async-signal-safe */
    void (*cancel)(void *db);
    /* whether a transaction is open on the session */
    bool (*in_transaction)(void *db);
    /* server (library) version text; static or belongs to db */
    const char *(*server_version)(void *db);
    /* statements served from the statement cache (tests); may be NULL */
    uint64_t (*cache_hits)(void *db);
    /* whether the session lost its server (an idle session checks its
     * socket without a round trip); NULL: never.  The core then opens a
     * new session outside a transaction, and refuses to go on inside one */
    bool (*is_broken)(void *db);
    /* most sessions one pool may open (SQLite: 1, so that :memory: stays
     * one shared database); 0: only maxsize bounds it */
    int max_sessions;
} tdo_backend;

extern const tdo_backend tdo_backend_sqlite;
extern const tdo_backend tdo_backend_pg;
extern const tdo_backend tdo_backend_mysql;

/* One physical session of a pool (conn.c); refcounted by the pool and
 * by the cursors reading from it, so a cursor outlives its pool. */
typedef struct tdo_session tdo_session;

/* A named connection: a pool of driver sessions opened lazily, at most
 * maxsize of them; a transaction pins one. */
struct tdo_conn {
    tdo_ctx *ctx;
    char *name; /* "default"; owned */
    char *url;  /* URL with the password masked; owned */
    tdo_dsn dsn;
    const tdo_backend *backend;
    void *db;               /* driver session of the last statement (the pinned
                               one in a transaction); NULL until first use */
    int tx_depth;      /* open transactions (savepoints) */
    uint64_t nqueries; /* statements run (BEGIN etc. excluded) */
    tdo_session **sessions; /* open sessions; referenced */
    size_t nsessions;
    size_t cap;             /* room in sessions */
    tdo_session *pinned;    /* the open transaction's session, or NULL */
    void *volatile running; /* driver session of the running statement */
    uint64_t nopened;       /* sessions opened since tdo_connect() */
};

/* One driver session of a connection's pool (conn.c). */
struct tdo_session {
    const tdo_backend *be;
    void *db;    /* driver session; NULL once closed */
    int refs;    /* the pool's reference plus one per cursor */
    int cursors; /* open cursors reading from it */
};

/* Drops a reference to s, closing it with the last (conn.c). */
void tdo_session_unref(tdo_session *s);
/* Picks the session for c's next statement (conn.c): the pinned one in a
 * transaction (lost: OperationalError), else an idle or new one. */
tdo_status tdo_pool_acquire(tdo_conn *c, tdo_session **out, tdo_error *err);
/* Parses url into the zeroed dsn (ConfigurationError saying what is
 * wrong, never quoting a password); release with tdo_dsn_release(). */
tdo_status tdo_dsn_parse(const char *url, tdo_dsn *dsn, tdo_error *err);
void tdo_dsn_release(tdo_dsn *dsn);
/* ConfigurationError naming the first URL parameter of dsn that neither
 * the core nor the driver (param_known, may be NULL) knows; engine names
 * the driver in the message. */
tdo_status tdo_dsn_check_params(const tdo_dsn *dsn,
                                bool (*param_known)(const char *key),
                                const char *engine, tdo_error *err);
/* Returns a malloc'd copy of url with the password (user info and any
 * password-like query parameter) replaced by "***"; NULL on OOM. */

/* ---- compiled statements (compile.c) ----------------------------------- */

/* One output column of a compiled SELECT. */
typedef struct tdo_colinfo {
    const char *name;       /* output name (alias or field name) */
    const tdo_field *field; /* decodes as this field, or NULL */
} tdo_colinfo;

/* How tdo_conn_run runs a statement. */
enum {
    TDO_RUN_COUNTED = 1, /* counts in tdo_conn_query_count() */
    TDO_RUN_STREAM = 2   /* the cursor's rows come as it steps */
};

/* Runs one statement on c (exec.c): trace, convert the parameters, then
 * hand a cursor out (rows) or run it to the end (*changes); flags are
 * TDO_RUN_* bits. */
tdo_status tdo_conn_run(tdo_conn *c, const char *sql, const tdo_value *params,
                        size_t n, const tdo_colinfo *cols, size_t ncols,
                        unsigned flags, tdo_rows **rows, int64_t *changes,
                        tdo_error *err);

struct tdo_compiled {
    char *sql;           /* SQL text */
    tdo_value *params;   /* bound parameters, owned values */
    size_t nparams;
    tdo_colinfo *cols;   /* output columns (SELECT only) */
    size_t ncols;
    bool returning;      /* the INSERT returns the primary keys */
    /* all of the above lives in one block freed by tdo_compiled_free() */
};

/* ---- query AST (query.c, compile.c) --------------------------------- */

typedef enum tdo_lookup {
    TDO_LK_EXACT = 0,
    TDO_LK_IEXACT,
    TDO_LK_NOT,
    TDO_LK_IN,
    TDO_LK_NOT_IN,
    TDO_LK_GT,
    TDO_LK_GTE,
    TDO_LK_LT,
    TDO_LK_LTE,
    TDO_LK_RANGE,
    TDO_LK_ISNULL,
    TDO_LK_NOT_ISNULL,
    TDO_LK_CONTAINS,
    TDO_LK_ICONTAINS,
    TDO_LK_STARTSWITH,
    TDO_LK_ISTARTSWITH,
    TDO_LK_ENDSWITH,
    TDO_LK_IENDSWITH,
    /* regular expressions (PCRE syntax on SQLite and MariaDB, POSIX on
     * PostgreSQL): the pattern matches anywhere in the text */
    TDO_LK_REGEX,
    TDO_LK_IREGEX,
    TDO_LK_POSIX_REGEX,
    /* date parts, compared for equality (as Tortoise does) */
    TDO_LK_YEAR,
    TDO_LK_QUARTER,
    TDO_LK_MONTH,
    TDO_LK_WEEK, /* ISO 8601 week number */
    TDO_LK_DAY,
    TDO_LK_HOUR,
    TDO_LK_MINUTE,
    TDO_LK_SECOND,
    /* a JSON value contained by the one given (contains on a JSONField
     * is the other way round) */
    TDO_LK_CONTAINED_BY,
    TDO_LK_COUNT
} tdo_lookup;

/* Whether lk extracts a date part (year .. second). */
#define TDO_LK_IS_DATE_PART(lk) ((lk) >= TDO_LK_YEAR && (lk) <= TDO_LK_SECOND)
/* The date part of lookup lk, 0-based: tdo_dialect.date_part[] index. */
#define TDO_DATE_PART_OF(lk) ((int)(lk) - (int)TDO_LK_YEAR)
#define TDO_DATE_PART_COUNT 8

/* Returns the name of a lookup ("icontains"); static. */
const char *tdo_lookup_name(tdo_lookup lk);

/* A chain of relations walked from a query's model ("lines__product");
 * immutable and refcounted.  A NULL path is the model itself. */
typedef struct tdo_path {
    int refs;
    size_t n;
    const tdo_relation *rels[]; /* rels[0] starts at the query's model */
} tdo_path;

/* Adds a reference (NULL is fine); returns p. */
tdo_path *tdo_path_ref(tdo_path *p);
/* Drops a reference (NULL is fine). */
void tdo_path_free(tdo_path *p);

typedef enum tdo_expr_kind {
    TDO_EXPR_FIELD = 0, /* name */
    TDO_EXPR_VALUE,     /* val */
    TDO_EXPR_BINOP,     /* a op b */
    TDO_EXPR_NEG,       /* -a */
    TDO_EXPR_FUNC,      /* fn(args) [DISTINCT] [FILTER] */
    TDO_EXPR_RAW,       /* name: raw SQL text */
    TDO_EXPR_CASE,      /* CASE WHEN conds[i] THEN args[i] ... ELSE a END */
    TDO_EXPR_SUBQUERY   /* (SELECT ...) of sub */
} tdo_expr_kind;

struct tdo_expr {
    int refs;
    int depth; /* levels below, this one included (at most TDO_MAX_DEPTH) */
    tdo_expr_kind kind;
    char op;       /* BINOP: '+', '-', '*', '/' */
    char *name;    /* FIELD: field name; RAW: SQL; owned */
    tdo_value val; /* VALUE: owned copy */
    tdo_expr *a;   /* BINOP, NEG: referenced */
    tdo_expr *b;   /* BINOP: referenced */
    /* FUNC */
    tdo_func fn;
    tdo_expr **args; /* referenced; owned array */
    size_t nargs;
    bool distinct;
    tdo_qnode *filter; /* referenced, or NULL (resolved in resolved copies) */
    /* CASE: a condition per result in args (nargs of them), referenced;
     * the default is a (NULL: ELSE NULL) */
    tdo_qnode **conds;
    tdo_query *sub; /* SUBQUERY: owned copy */
    /* resolved copies (query.c): FIELD names a column or an annotation */
    bool resolved;
    tdo_path *path;         /* FIELD: relations walked; referenced */
    const tdo_field *field; /* FIELD: the column, or NULL for an annotation */
    size_t annot;           /* FIELD: 1-based annotation index, or 0 */
};

typedef enum tdo_qkind {
    TDO_Q_EMPTY = 0, /* matches everything */
    TDO_Q_LEAF,      /* key = vals / expr */
    TDO_Q_AND,
    TDO_Q_OR,
    TDO_Q_NOT
} tdo_qkind;

struct tdo_qnode {
    int refs;
    int depth; /* levels of nodes and expressions below, this one included */
    tdo_qkind kind;
    tdo_qnode *a, *b; /* AND/OR operands, NOT: a; referenced */
    /* leaves */
    char *key;        /* "stock__gt" as given; owned */
    tdo_value *vals;  /* owned copies (coerced once resolved) */
    size_t nvals;
    tdo_expr *expr;   /* right-hand side expression, or NULL; referenced */
    const tdo_model *inst_model; /* vals are instances of it, or NULL */
    char **jpath;     /* data__filter: the JSON path compared (keys, array
                         indexes as digits); owned, or NULL */
    size_t njpath;
    tdo_value *alts;  /* their alternative keys: nvals rows of nalt */
    size_t nalt;
    /* resolved leaves (the copies a query holds; see query.c) */
    const tdo_field *field; /* the column compared, or NULL: unresolved
                               or an annotation */
    tdo_lookup lookup;
    tdo_path *path; /* relations walked to reach field; referenced */
    size_t annot;   /* 1-based index of the annotation compared, or 0 */
};

/* One ORDER BY / GROUP BY term: a column (through path) or an
 * annotation. */
typedef struct tdo_order {
    const tdo_field *field; /* or NULL for an annotation */
    bool desc;
    tdo_path *path; /* referenced */
    size_t annot;   /* 1-based annotation index, or 0 */
} tdo_order;

/* The output columns of a query; shared (refcounted) between copies. */
typedef struct tdo_proj {
    int refs;
    tdo_projection kind;
    size_t n;
    const tdo_field **fields; /* column i reads fields[i]'s column (or
                                 decodes as it, for annotations) */
    char **names;             /* output names; owned */
    tdo_path **paths;         /* relations walked (NULL: the model) */
    size_t *annots;           /* 1-based annotation index, or 0 */
    bool all;                 /* instances / values(): follows annotate */
} tdo_proj;

/* One annotation: name = resolved expression. */
typedef struct tdo_annot {
    char *name;             /* owned */
    tdo_expr *expr;         /* resolved copy; referenced */
    bool aggregate;         /* contains an aggregate function */
    const tdo_field *field; /* decodes as this field, or NULL */
} tdo_annot;

struct tdo_query {
    tdo_model *model;
    tdo_qnode *where; /* resolved filter tree, or NULL: every row; ref */
    tdo_order *order; /* owned; paths referenced */
    size_t norder;
    int64_t limit;    /* -1: none */
    int64_t offset;   /* -1: none */
    bool distinct;
    tdo_lock lock;    /* select_for_update's row locks */
    bool lock_no_key; /* FOR NO KEY UPDATE where the database has it */
    tdo_path **lock_of; /* the tables locked: select_related paths, NULL
                           for the model's own; none: every table */
    size_t nlock_of;
    tdo_proj *proj;   /* referenced */
    tdo_annot *annots; /* owned array (names owned, exprs referenced) */
    size_t nannots;
    tdo_order *group; /* group_by terms; owned; paths referenced */
    size_t ngroup;
    tdo_order *dist;  /* distinct(fields): one row per value of these
                         terms, the first in order; owned */
    size_t ndist;
    struct tdo_union_part *unions; /* union(): the queries after this one;
                                      owned */
    size_t nunions;
    tdo_path **related; /* select_related paths (prefixes included) */
    size_t nrelated;
    const tdo_field **only; /* only(): the model's fields loaded (pk
                               included), model order; owned; NULL: all */
    size_t nonly;
};

/* One query a union() adds: its rows joined with UNION or UNION ALL. */
typedef struct tdo_union_part {
    tdo_query *q; /* owned */
    bool all;
} tdo_union_part;

/* A copy of q (its parts shared by reference); NULL on out of memory. */
tdo_query *tdo_query_copy_(const tdo_query *q);

/* tdo_compile_insert with an upsert (u NULL: none). */
tdo_status tdo_compile_insert_(const tdo_model *m, const tdo_dialect *d,
                               const tdo_field *const *fields, size_t nfields,
                               const tdo_value *vals, size_t nrows,
                               bool ignore_conflicts, const tdo_upsert *u,
                               tdo_compiled **out, tdo_error *err);

/* Resolves a field name of m for queries: "pk", an attribute name, a
 * relation's column ("customer_id"); FieldError (listing the fields) if
 * unknown or not a column (m2m). */
tdo_status tdo_query_resolve_field(const tdo_model *m, const char *name,
                                   const tdo_field **out, tdo_error *err);

/* Resolves "a__b__c" on m through relations to a column: *path (new
 * reference or NULL) and *field.  A relation at the end stands for its
 * column (FK) or its target's primary key (reverse, m2m). */
tdo_status tdo_query_resolve_path(const tdo_model *m, const char *name,
                                  tdo_path **path, const tdo_field **field,
                                  tdo_error *err);

/* ---- internals shared by expr.c, qtree.c, resolve.c, query.c --------- */

static inline int tdo_max_depth_(int a, int b)
{
    return a > b ? a : b;
}
/* Whether f is a foreign key or a one-to-one (it has a column). */
static inline bool tdo_field_is_fk_(const tdo_field *f)
{
    return f->type == TDO_F_FK || f->type == TDO_F_O2O;
}
/* A new expression node of kind (refcount 1), or NULL (expr.c). */
tdo_expr *tdo_expr_alloc_(tdo_expr_kind kind);
/* Whether fn is an aggregate (Count, Sum, Avg, Min, Max) (expr.c). */
bool tdo_func_is_aggregate_(tdo_func fn);
/* The Tortoise name of function fn ("Count"); static (expr.c). */
const char *tdo_func_name_(tdo_func fn);
/* Whether two expressions are the same tree (expr.c). */
bool tdo_expr_equal_(const tdo_expr *a, const tdo_expr *b);
/* a KIND b, taking both references; NULL a or b: the other (qtree.c). */
tdo_qnode *tdo_q_binary_(tdo_qkind kind, tdo_qnode *a, tdo_qnode *b);
/* A new path through the n relations rels (refcount 1) (resolve.c). */
tdo_path *tdo_path_new_(const tdo_relation *const *rels, size_t n);
/* A NUL-terminated copy of len bytes of s in buf (cap bytes) or in a new
 * string *tmp when it does not fit; NULL on out of memory (resolve.c). */
const char *tdo_part_str_(const char *s, size_t len, char *buf, size_t cap,
                          char **tmp);
/* Whether name is a field, "pk" or a relation of m (resolve.c). */
bool tdo_names_something_(const tdo_model *m, const char *name);
/* The 1-based index of the annotation of q called name (len bytes), or 0
 * (resolve.c). */
size_t tdo_find_annot_(const tdo_query *q, const char *name, size_t len);
/* Resolves a reference (no lookup) of q: an annotation (*annot) or a
 * path to a column (resolve.c). */
tdo_status tdo_resolve_ref_(const tdo_query *q, const char *name,
                            tdo_path **path, const tdo_field **field,
                            size_t *annot, tdo_error *err);
/* A resolved copy of expression e for q; *agg set when it holds an
 * aggregate (resolve.c). */
tdo_status tdo_resolve_expr_(const tdo_query *q, tdo_expr *e, tdo_expr **out,
                             bool *agg, tdo_error *err);
/* A resolved copy of filter n for q (NULL: every row); *agg set when it
 * refers to an aggregate (resolve.c). */
tdo_status tdo_resolve_filter_(const tdo_query *q, const tdo_qnode *n,
                               tdo_qnode **out, bool *agg, tdo_error *err);

/* ---- introspection (introspect.c, introspect_*.c) --------------------- */

/* One column as the catalogue describes it. */
typedef struct tdo_icolumn {
    char *name;        /* owned */
    char *sql_type;    /* as the database spells it; owned */
    tdo_sql_type type; /* the closest field */
    bool notnull;
    int pk;            /* position in the primary key, 1-based; 0: none */
    char *default_sql; /* the default as SQL text, or NULL; owned */
} tdo_icolumn;

/* One foreign key: columns from (of the table) referring to columns to of
 * table ("" when the key refers to that table's primary key). */
typedef struct tdo_iforeign {
    char *table;
    char **from, **to;
    size_t n;
} tdo_iforeign;

/* One index (unique: a UNIQUE constraint or index) over cols. */
typedef struct tdo_iindex {
    char *name;
    char **cols;
    size_t n;
    bool unique;
} tdo_iindex;

typedef struct tdo_itable {
    char *name;
    bool view;
    tdo_icolumn *cols; /* in the table's order */
    size_t ncols;
    tdo_iforeign *fks;
    size_t nfks;
    tdo_iindex *idx;
    size_t nidx;
} tdo_itable;

/* What a database holds: its tables and views, sorted by name. */
typedef struct tdo_ischema {
    tdo_itable *tables;
    size_t n;
} tdo_ischema;

/* Reads the catalogue of c's database into *out (release it with
 * tdo_ischema_release()), through its dialect's reader. */
tdo_status tdo_introspect(tdo_conn *c, tdo_ischema *out, tdo_error *err);
void tdo_ischema_release(tdo_ischema *s);
/* Record keeping for the readers; each returns NULL on out of memory. */
tdo_itable *tdo_ischema_table(tdo_ischema *s, const char *name);
tdo_itable *tdo_ischema_add_table(tdo_ischema *s, const char *name, bool view);
tdo_icolumn *tdo_itable_add_column(tdo_itable *t, const char *name,
                                   const char *sql_type);
tdo_icolumn *tdo_itable_column(const tdo_itable *t, const char *name);
tdo_iforeign *tdo_itable_add_fk(tdo_itable *t, const char *table);
tdo_iindex *tdo_itable_add_index(tdo_itable *t, const char *name, bool unique);
/* Appends a copy of s ("" for NULL) to the array *a of *n; false on OOM. */
bool tdo_strings_add(char ***a, size_t *n, const char *s);

/* Declares in app of ctx a model for each table and view of s that no
 * live model covers yet (inspect_models.c), after taking out the models
 * an earlier call declared in app: named by tdo_name_models (a name a
 * declared model has gets "_2" ...), fields from the columns, the key
 * (one column, composite, or none), foreign keys of one column to a
 * table with a one-column key as ForeignKeyFields with reverse
 * relations; views read-only.  *skipped counts the tables left to a
 * declared model.  Resolves ctx. */
tdo_status tdo_models_from_schema(tdo_ctx *ctx, const char *app,
                                  const tdo_ischema *s, size_t *skipped,
                                  tdo_error *err);

/* ---- introspection names (naming.c) ---------------------------------- */

/* The model name of a table: CamelCase (words split at '_', ' ', '-',
 * each capitalised, the rest as written), the last word made singular
 * when singular and it is a regular English plural ("order_lines" ->
 * "OrderLine", "categories" -> "Category"; "address", "status",
 * "analysis" stay); malloc'd, NULL on out of memory. */
char *tdo_name_model(const char *table, bool singular);
/* The field name of a column: as written; a foreign key's drops a
 * trailing "_id" or "Id" ("customer_id" -> "customer", "AlbumId" ->
 * "Album"); malloc'd. */
char *tdo_name_field(const char *column, bool fk);
/* The reverse relation name for a referencing model: snake_case plural
 * ("InvoiceLine" -> "invoice_lines"), "_by_<by_field>" appended when
 * by_field is not NULL; malloc'd. */
char *tdo_name_reverse(const char *model, const char *by_field);
/* The model names of n tables (names[i] malloc'd, the caller frees):
 * tdo_name_model's, except that tables whose singular names clash keep
 * their names as written, and a name still taken by an earlier table
 * gets "_2", "_3" ... in table order. */
tdo_status tdo_name_models(const char *const *tables, size_t n, char **names,
                           tdo_error *err);

/* ---- dialects (dialect_*.c; used by compile.c, schema.c, backends) ----- */

#define TDO_DIALECT_VERSION 2 /* 2: date_part */

#define TDO_DF_RETURNING 0x0001      /* INSERT ... RETURNING */
#define TDO_DF_ILIKE 0x0002          /* ILIKE for case-insensitive LIKE */
#define TDO_DF_BOOL_LITERALS 0x0004  /* TRUE/FALSE (else 1/0) */
#define TDO_DF_OFFSET_NEEDS_LIMIT 0x0008 /* OFFSET only after a LIMIT */
#define TDO_DF_TRANSACTIONAL_DDL 0x0010
#define TDO_DF_GLOB 0x0020 /* LIKE ignores case: case-sensitive patterns GLOB */
#define TDO_DF_INSERT_OR_IGNORE 0x0040 /* INSERT OR IGNORE (else ON CONFLICT
                                          DO NOTHING) */
#define TDO_DF_WRAP_LIMIT_SUBQUERY 0x0080 /* "IN (SELECT .. LIMIT)" must read
                                             from a derived table */
#define TDO_DF_AGG_FILTER 0x0100 /* aggregates take FILTER (WHERE ...); else
                                    the compiler writes CASE WHEN */
#define TDO_DF_FK_ALTER 0x0200 /* FK constraints can be added by ALTER
                                  TABLE (cycles between tables); else
                                  they are always inline (SQLite) */
#define TDO_DF_CONCAT_FUNC 0x0400 /* CONCAT() and CHAR_LENGTH() (MySQL);
                                     else || and LENGTH() */
#define TDO_DF_ROW_LOCKS 0x0800 /* SELECT ... FOR UPDATE [NOWAIT | SKIP
                                   LOCKED]; else no row locks (SQLite) */
#define TDO_DF_LOCK_OF 0x4000 /* FOR [NO KEY] UPDATE OF t, ...: locks the
                                 rows of some of the tables read only */
#define TDO_DF_UPSERT_DUPLICATE_KEY 0x2000 /* upserts: ON DUPLICATE KEY
                                               UPDATE c=VALUES(c) (MySQL);
                                               else ON CONFLICT (..) DO
                                               UPDATE SET c=excluded.c */
#define TDO_DF_ONE_ROW_LAST_ID 0x1000 /* a one-row INSERT reads its key from
                                          the backend's last_insert_id, not
                                          RETURNING (SQLite: RETURNING
                                          costs a temporary table a row) */

struct tdo_dialect {
    int version;      /* TDO_DIALECT_VERSION */
    const char *name; /* "sqlite" */
    unsigned features; /* TDO_DF_* */
    /* appends a quoted identifier */
    void (*quote_ident)(tdo_sb *sb, const char *ident);
    /* appends the placeholder of the n-th parameter (1-based) */
    void (*placeholder)(tdo_sb *sb, size_t n);
    /* appends the column type of a field ("VARCHAR(255)"); for a generated
     * primary key the whole key clause ("INTEGER PRIMARY KEY AUTOINCREMENT") */
    void (*column_type)(tdo_sb *sb, const tdo_field *f);
    /* appends the LIMIT/OFFSET clause (a value < 0: absent), with a
     * leading space; values are inlined integers */
    void (*limit_offset)(tdo_sb *sb, int64_t limit, int64_t offset);
    /* converts a canonical field value to the value bound for the driver
     * (decimals and datetimes to text for SQLite, booleans to 0/1 ...);
     * out may borrow from in or own new bytes; f may be NULL (by type) */
    tdo_status (*to_db)(const tdo_field *f, const tdo_value *in,
                        tdo_value *out, bool use_tz, tdo_error *err);
    /* converts a driver value of a column to the field's canonical value;
     * out may borrow from in; f NULL: out = in */
    tdo_status (*from_db)(const tdo_field *f, const tdo_value *in,
                          tdo_value *out, bool use_tz, tdo_error *err);
    /* the ESCAPE clause of LIKE, with a leading space (SQL text, NULL:
     * the standard  ESCAPE '\'  with one backslash) */
    const char *like_escape;
    /* the head of an INSERT that ignores conflicts (TDO_DF_INSERT_OR_IGNORE);
     * NULL: "INSERT OR IGNORE INTO " */
    const char *insert_ignore;
    /* the end of an INSERT of a row without columns, with a leading space
     * (NULL: " DEFAULT VALUES") */
    const char *default_values;
    /* appended after the ")" of CREATE TABLE (" ENGINE=InnoDB"); or NULL */
    const char *table_options;
    /* a query whose first column lists the user tables, sorted by name */
    const char *tables_sql;
    /* the statements that turn foreign key checks off and on again around
     * DROP TABLEs (NULL: none needed), and what DROP TABLE appends so that
     * the constraints referencing the table go too (NULL: nothing) */
    const char *fk_checks_off, *fk_checks_on, *drop_cascade;
    /* the four catalogue queries introspection runs (introspect.c), each
     * over the whole database: tables (name, kind), columns (table,
     * column, type, not null, default, place in the primary key), foreign
     * keys (table, key, referenced table, column, referenced column) and
     * indexes other than the primary key's (table, index, unique,
     * column); NULL: not supported */
    const char *catalog_sql[4];
    /* the SQL around an operand that extracts a date part as an integer
     * (date_part[p][0], operand, date_part[p][1]); p follows the lookups
     * year, quarter, month, week (ISO 8601), day, hour, minute, second
     * (TDO_DATE_PART_OF()); the operand is written once */
    const char *date_part[TDO_DATE_PART_COUNT][2];
    /* the statement that opens a transaction (NULL: "BEGIN"); SQLite's
     * takes the write lock at once, so that a busy database makes BEGIN
     * wait (under the busy timeout), never COMMIT fail */
    const char *begin;
    /* the statement that makes a new session refuse writes
     * (tdo_ctx_set_read_only()) */
    const char *read_only_sql;
    /* what goes before a SELECT to get the plan instead of the rows
     * (tdo_query_explain()) */
    const char *explain;
    /* modulo: true writes a % b (integers stay integers), false MOD(a, b)
     * (PostgreSQL's % has no float operands) */
    bool mod_infix;
    /* the SQL type a parameter of value type t is cast to where nothing
     * else gives it one (a CASE's results: PostgreSQL would take an
     * untyped parameter as text); NULL entries: no cast */
    const char *const *value_casts; /* indexed by tdo_type, or NULL */
    /* the operators of the regex lookups, with spaces around them:
     * case-sensitive and case-insensitive (NULL: the pattern gets a
     * leading (?i) and the case-sensitive operator is used) */
    const char *regex_op, *iregex_op;
    /* what follows the text of a case-insensitive regex match so that
     * case folds for every letter, not only ASCII (PostgreSQL in a C
     * locale: an ICU collation); or NULL */
    const char *iregex_collate;
    /* migrations (migrate.c): how a table's columns and constraints
     * change -- TDO_ALTER_REBUILD (SQLite: the table is made anew and its
     * rows copied), TDO_ALTER_COLUMN (PostgreSQL: ALTER COLUMN .. TYPE /
     * SET NOT NULL / SET DEFAULT) or TDO_ALTER_MODIFY (MySQL: MODIFY
     * COLUMN with the whole definition) */
    int alter_style;
    /* after ALTER TABLE "t": what drops a named foreign key and a named
     * unique constraint (" DROP CONSTRAINT ", MySQL " DROP FOREIGN KEY " /
     * " DROP INDEX ") */
    const char *drop_fk, *drop_unique;
    /* DROP INDEX names its table (MySQL: DROP INDEX i ON t) */
    bool drop_index_on;
};

enum { TDO_ALTER_REBUILD = 0, TDO_ALTER_COLUMN, TDO_ALTER_MODIFY };

/* ---- DDL of schema states (schema.c), for migrate.c ---- */
struct json_t;
/* A string / boolean member of a JSON object (NULL / false if none). */
const char *tdo_jstr_(const struct json_t *o, const char *key);
bool tdo_jflag_(const struct json_t *o, const char *key);
/* ("a", "b") of a JSON array of names. */
void tdo_ddl_names_(tdo_sb *sb, const tdo_dialect *d,
                    const struct json_t *cols);
/* A column definition of the state: "c" TYPE [NOT NULL] [PRIMARY KEY]
 * [DEFAULT x] (its UNIQUE and FOREIGN KEY are table constraints). */
void tdo_ddl_column_(tdo_sb *sb, const tdo_dialect *d, const struct json_t *c);
/* CONSTRAINT "uniq_.." UNIQUE ("c") of a unique column. */
void tdo_ddl_unique_(tdo_sb *sb, const tdo_dialect *d, const struct json_t *c);
/* CONSTRAINT "fk_.." FOREIGN KEY ("c") REFERENCES .. of a column. */
void tdo_ddl_fk_(tdo_sb *sb, const tdo_dialect *d, const struct json_t *c);
/* ALTER TABLE "t" ADD CONSTRAINT "fk_.." FOREIGN KEY .. of column c of
 * table t. */
void tdo_ddl_add_fk_(tdo_sb *sb, const tdo_dialect *d, const struct json_t *t,
                     const struct json_t *c);
/* CREATE [UNIQUE] INDEX of index ix on table. */
void tdo_ddl_index_(tdo_sb *sb, const tdo_dialect *d, const char *table,
                    const struct json_t *ix, bool safe);
/* CREATE TABLE of t (named as, or its own name), without its indexes;
 * foreign keys inline (to tables made later in tables: by ALTER TABLE
 * after, tables NULL: always inline). */
void tdo_ddl_create_table_(tdo_sb *sb, const tdo_dialect *d,
                           const struct json_t *t, const char *as,
                           const struct json_t *tables, size_t pos, bool safe);

extern const tdo_dialect tdo_dialect_sqlite;
extern const tdo_dialect tdo_dialect_postgres;
extern const tdo_dialect tdo_dialect_mysql;

/* What the dialects share (dialect.c). */

/* The names of the column types that differ between dialects. */
typedef struct tdo_type_names {
    const char *float_type;    /* FloatField: "REAL" */
    const char *text_type;     /* TextField: "TEXT" */
    const char *bool_type;     /* BooleanField: "INT" */
    const char *datetime_type; /* DatetimeField: "TIMESTAMP" */
    const char *time_type;     /* TimeField: "TIME" */
    const char *uuid_type;     /* UUIDField: "CHAR(36)" */
    const char *json_type;     /* JSONField: "JSON" */
    const char *binary_type;   /* BinaryField: "BLOB" */
    /* appends a DecimalField's type; NULL: DECIMAL(max_digits,places) */
    void (*decimal)(tdo_sb *sb, const tdo_field *f);
} tdo_type_names;

/* Appends ident between two q characters, a q inside it doubled. */
void tdo_dialect_quote_(tdo_sb *sb, const char *ident, char q);
/* Appends the placeholder "?" (any n). */
void tdo_dialect_qmark_(tdo_sb *sb, size_t n);
/* Appends " LIMIT n OFFSET m" (a value < 0: absent); an OFFSET alone gets
 * " LIMIT no_limit" first unless no_limit is NULL. */
void tdo_dialect_limit_offset_(tdo_sb *sb, int64_t limit, int64_t offset,
                               const char *no_limit);
/* Appends the data type of f (no key clause) from the dialect's names; a
 * relation takes the type of its target's primary key. */
void tdo_dialect_data_type_(tdo_sb *sb, const tdo_field *f,
                            const tdo_type_names *names);
/* Whether f is a primary key the database generates. */
bool tdo_dialect_generated_pk_(const tdo_field *f);
/* Sets out to an owned copy of the len bytes of s as type t. */
tdo_status tdo_dialect_text_(tdo_type t, const char *s, size_t len,
                             tdo_value *out, tdo_error *err);
/* Sets out to owned text of the temporal value dt of type kind. */
tdo_status tdo_dialect_temporal_text_(const tdo_datetime *dt, tdo_type kind,
                                      bool frac, tdo_value *out,
                                      tdo_error *err);
/* dt moved to UTC (offset 0), keeping has_offset. */
tdo_status tdo_dialect_to_utc_(const tdo_datetime *dt, tdo_datetime *out,
                               tdo_error *err);
/* The conversions to driver values every dialect makes (decimals to
 * text, durations to microseconds, uuids and json to text, booleans to
 * 0/1 when bool_ints; the rest as it is); out may borrow from in. */
tdo_status tdo_dialect_to_db_(const tdo_value *in, tdo_value *out,
                              bool bool_ints, tdo_error *err);
/* tdo_dialect_to_db_ with booleans as 0/1 and dates, times and datetimes
 * as fixed-width text, an aware datetime moved to UTC.  zones: a time
 * keeps its offset, and datetimes are marked +00:00 under use_tz
 * (SQLite); else no text carries a zone (MySQL). */
tdo_status tdo_dialect_to_db_text_temporals_(const tdo_value *in,
                                             tdo_value *out, bool use_tz,
                                             bool zones, tdo_error *err);
/* Decodes a driver value of f's column into f's canonical value; out may
 * borrow from in; f NULL: out = in. */
tdo_status tdo_dialect_from_db_(const tdo_field *f, const tdo_value *in,
                                tdo_value *out, bool use_tz, tdo_error *err);

#endif /* TDO_INT_H */
