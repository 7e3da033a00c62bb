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
/* Test hook: fail the nth allocation from now (0: never). */
TDO_API void tdo_test_fail_alloc_after(long nth);

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

/* ---- dialects (dialect_*.c; used by compile.c, schema.c, backends) ----- */

#define TDO_DIALECT_VERSION 1

#define TDO_DF_RETURNING 0x0001      /* INSERT ... RETURNING */
#define TDO_DF_ILIKE 0x0002          /* ILIKE for case-insensitive LIKE */
#define TDO_DF_BOOL_LITERALS 0x0004  /* TRUE/FALSE (else 1/0) */
#define TDO_DF_OFFSET_NEEDS_LIMIT 0x0008 /* OFFSET only after a LIMIT */
#define TDO_DF_TRANSACTIONAL_DDL 0x0010

struct tdo_dialect {
    int version;      /* TDO_DIALECT_VERSION */
    const char *name; /* "sqlite" */
    unsigned features; /* TDO_DF_* */
    /* appends a quoted identifier */
    void (*quote_ident)(tdo_sb *sb, const char *ident);
    /* appends the placeholder of the n-th parameter (1-based) */
    void (*placeholder)(tdo_sb *sb, size_t n);
    /* appends the column type of a field ("VARCHAR(255)") */
    void (*column_type)(tdo_sb *sb, const tdo_field *f);
    /* appends the LIMIT/OFFSET clause (a value < 0: absent), with a
     * leading space; values are inlined integers */
    void (*limit_offset)(tdo_sb *sb, int64_t limit, int64_t offset);
    /* converts a canonical field value to the value bound for the driver
     * (decimals and datetimes to text for SQLite, booleans to 0/1 ...);
     * out may borrow from in or own new bytes */
    tdo_status (*to_db)(const tdo_field *f, const tdo_value *in,
                        tdo_value *out, bool use_tz, tdo_error *err);
    /* converts a driver value of a column to the field's canonical value;
     * out may borrow from in */
    tdo_status (*from_db)(const tdo_field *f, const tdo_value *in,
                          tdo_value *out, bool use_tz, tdo_error *err);
};

extern const tdo_dialect tdo_dialect_sqlite;

#endif /* TDO_INT_H */
