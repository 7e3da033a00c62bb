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
/* Test hook: fail the nth allocation from now (0: never); every later
 * allocation succeeds again.  Arming it clears tdo_test_alloc_failed(). */
TDO_API void tdo_test_fail_alloc_after(long nth);
/* Whether the armed failure has happened since the last arming. */
TDO_API bool tdo_test_alloc_failed(void);

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
    tdo_field *pk;        /* one of fields */
    tdo_index *indexes;   /* owned */
    size_t nindexes;
    void *userdata;       /* the caller's */
};

/* ---- connections (ctx.c, backend.c) ----------------------------------- */

struct tdo_ctx {
    tdo_model **models; /* live models, creation order; owned */
    size_t nmodels;
    tdo_model **detached; /* detached models, freed with ctx; owned */
    size_t ndetached;
    tdo_conn **conns;   /* owned */
    size_t nconns;
    bool use_tz;
    tdo_trace_fn trace;
    void *trace_ud;
};

/* ---- backends (backend.c, backend_*.c) — owned by H2a ------------------ */

/* Internal helpers of the registry (ctx.c, model.c, field.c). */
/* Frees a model and all it owns. */
void tdo_model_free_(tdo_model *m);
/* Frees a field made by tdo_field_make_() (NULL is fine). */
void tdo_field_free_(tdo_field *f);
/* Deep copy of src into the zeroed dst (strings, default, enum values). */
tdo_status tdo_field_copy_(tdo_field *dst, const tdo_field *src,
                           tdo_error *err);
/* Checks the template t for model m and returns a new owned field with
 * column and implied flags filled in (not yet added to m). */
tdo_status tdo_field_make_(const tdo_model *m, const tdo_field *t,
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
} tdo_dsn;

/* Returns the value of query parameter key of dsn, or NULL. */
const char *tdo_dsn_param(const tdo_dsn *dsn, const char *key);

/* A driver.  Handles are opaque (void *): db is one open session, stmt a
 * prepared statement of it.  A stmt stays usable after close(db) until
 * release(stmt) (drivers refcount their sessions).  Every op reports
 * errors through err (IntegrityError, OperationalError, Interrupted);
 * backend.c attaches the SQL. */
typedef struct tdo_backend {
    const char *name;           /* "sqlite" */
    const char *const *schemes; /* URL schemes, NULL-terminated */
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
    /* asks the running statement to stop; async-signal-safe */
    void (*cancel)(void *db);
    /* whether a transaction is open on the session */
    bool (*in_transaction)(void *db);
    /* server (library) version text; static or belongs to db */
    const char *(*server_version)(void *db);
    /* statements served from the statement cache (tests); may be NULL */
    uint64_t (*cache_hits)(void *db);
} tdo_backend;

extern const tdo_backend tdo_backend_sqlite;
extern const tdo_backend tdo_backend_pg;
extern const tdo_backend tdo_backend_mysql;

struct tdo_conn {
    tdo_ctx *ctx;
    char *name; /* "default"; owned */
    char *url;  /* URL with the password masked; owned */
    tdo_dsn dsn;
    const tdo_backend *backend;
    void *db;          /* driver session; NULL until first use */
    int tx_depth;      /* open transactions (savepoints) */
    uint64_t nqueries; /* statements run (BEGIN etc. excluded) */
};

/* The driver session of c, opened on first use. */
tdo_status tdo_conn_open_(tdo_conn *c, tdo_error *err);

/* ---- compiled statements (compile.c) ----------------------------------- */

/* One output column of a compiled SELECT. */
typedef struct tdo_colinfo {
    const char *name;       /* output name (alias or field name) */
    const tdo_field *field; /* decodes as this field, or NULL */
} tdo_colinfo;

struct tdo_compiled {
    char *sql;           /* SQL text */
    tdo_value *params;   /* bound parameters, owned values */
    size_t nparams;
    tdo_colinfo *cols;   /* output columns (SELECT only) */
    size_t ncols;
    bool returning;      /* the INSERT returns the primary keys */
    /* all of the above lives in one block freed by tdo_compiled_free() */
};

/* ---- query AST (query.c, compile.c) — owned by H2b --------------------- */

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
    TDO_LK_COUNT
} tdo_lookup;

/* Returns the name of a lookup ("icontains"); static. */
const char *tdo_lookup_name(tdo_lookup lk);

typedef enum tdo_expr_kind {
    TDO_EXPR_FIELD = 0, /* name */
    TDO_EXPR_VALUE,     /* val */
    TDO_EXPR_BINOP,     /* a op b */
    TDO_EXPR_NEG        /* -a */
} tdo_expr_kind;

struct tdo_expr {
    int refs;
    tdo_expr_kind kind;
    char op;       /* BINOP: '+', '-', '*', '/' */
    char *name;    /* FIELD: field name; owned */
    tdo_value val; /* VALUE: owned copy */
    tdo_expr *a;   /* BINOP, NEG: referenced */
    tdo_expr *b;   /* BINOP: referenced */
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
    tdo_qkind kind;
    tdo_qnode *a, *b; /* AND/OR operands, NOT: a; referenced */
    /* leaves */
    char *key;        /* "stock__gt" as given; owned */
    tdo_value *vals;  /* owned copies (coerced once resolved) */
    size_t nvals;
    tdo_expr *expr;   /* right-hand side expression, or NULL; referenced */
    /* resolved leaves (the copies a query holds; see query.c) */
    const tdo_field *field; /* the column compared, or NULL: unresolved */
    tdo_lookup lookup;
    /* issue 4: the relation fields walked to reach field (joins) go here */
};

/* One ORDER BY term. */
typedef struct tdo_order {
    const tdo_field *field;
    bool desc;
} tdo_order;

/* The output columns of a query; shared (refcounted) between copies. */
typedef struct tdo_proj {
    int refs;
    tdo_projection kind;
    size_t n;
    const tdo_field **fields; /* column i reads fields[i]'s column */
    char **names;             /* output names; owned */
} tdo_proj;

struct tdo_query {
    tdo_model *model;
    tdo_qnode *where; /* resolved filter tree, or NULL: every row; ref */
    tdo_order *order; /* owned */
    size_t norder;
    int64_t limit;    /* -1: none */
    int64_t offset;   /* -1: none */
    bool distinct;
    tdo_proj *proj;   /* referenced */
};

/* Resolves a field name of m for queries: "pk", an attribute name, a
 * relation's column ("customer_id"); FieldError (listing the fields) if
 * unknown or not a column (m2m). */
tdo_status tdo_query_resolve_field(const tdo_model *m, const char *name,
                                   const tdo_field **out, tdo_error *err);

/* ---- dialects (dialect_*.c; used by compile.c, schema.c, backends) ----- */

#define TDO_DIALECT_VERSION 1

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
    /* appended after the ")" of CREATE TABLE (" ENGINE=InnoDB"); or NULL */
    const char *table_options;
    /* a query whose first column lists the user tables, sorted by name */
    const char *tables_sql;
};

extern const tdo_dialect tdo_dialect_sqlite;
extern const tdo_dialect tdo_dialect_postgres;
extern const tdo_dialect tdo_dialect_mysql;

#endif /* TDO_INT_H */
