/*
 * testudo.h -- the public C API of libtestudo, the ORM core of testudo.
 *
 * A C program can declare models, open a connection, build immutable
 * querysets and read typed rows without Lua.  Conventions:
 *   - every function that can fail returns an enum tdo_status (TDO_OK == 0)
 *     and fills the caller-owned tdo_error passed last; on success the
 *     error is left untouched, so calls chain with ||;
 *   - handles are created by tdo_x_new() and freed by tdo_x_free(), which
 *     accepts NULL; constructors set *out = NULL on failure;
 *   - by-value structs are set up by tdo_x_init() and released by
 *     tdo_x_release();
 *   - the header comment of each function says who owns what it returns.
 */
#ifndef TESTUDO_H
#define TESTUDO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TDO_API __attribute__((visibility("default")))
#define TDO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TDO_API
#define TDO_PRINTF(f, a)
#endif

#define TDO_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Status codes: one per exception class of the Lua API.               */
/* ------------------------------------------------------------------ */

typedef enum tdo_status {
    TDO_OK = 0,
    TDO_ERR_BASE,                /* BaseORMException */
    TDO_ERR_CONFIGURATION,       /* ConfigurationError */
    TDO_ERR_FIELD,               /* FieldError */
    TDO_ERR_PARAMS,              /* ParamsError */
    TDO_ERR_OPERATIONAL,         /* OperationalError */
    TDO_ERR_INTEGRITY,           /* IntegrityError */
    TDO_ERR_TRANSACTION,         /* TransactionManagementError */
    TDO_ERR_DOES_NOT_EXIST,      /* DoesNotExist */
    TDO_ERR_MULTIPLE_OBJECTS,    /* MultipleObjectsReturned */
    TDO_ERR_VALIDATION,          /* ValidationError */
    TDO_ERR_INCOMPLETE_INSTANCE, /* IncompleteInstanceError */
    TDO_ERR_NO_VALUES_FETCHED,   /* NoValuesFetched */
    TDO_ERR_NOMEM,               /* out of memory (OperationalError in Lua) */
    TDO_ERR_INTERRUPTED,         /* statement cancelled (OperationalError) */
    TDO_STATUS_COUNT
} tdo_status;

/* Returns the exception class name of a status ("IntegrityError"); static. */
TDO_API const char *tdo_status_name(tdo_status code);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef struct tdo_error {
    tdo_status code;  /* TDO_OK while no error is recorded */
    char sqlstate[6]; /* SQLSTATE if the server gave one, else "" */
    int driver_code;  /* the driver's own error number, or 0 */
    char *message;    /* malloc'd message, never a password; or NULL */
    char *sql;        /* malloc'd SQL that failed, or NULL */
} tdo_error;

#define TDO_ERROR_INIT {TDO_OK, {0}, 0, NULL, NULL}

/* Sets up an empty error. */
TDO_API void tdo_error_init(tdo_error *err);
/* Frees the error's strings and empties it. */
TDO_API void tdo_error_release(tdo_error *err);
/* Records code and a printf-style message in err (replacing any earlier
 * one) and returns code; err may be NULL.  Out of memory keeps the code. */
TDO_API tdo_status tdo_error_set(tdo_error *err, tdo_status code,
                                 const char *fmt, ...) TDO_PRINTF(3, 4);
/* Like tdo_error_set() with a va_list. */
TDO_API tdo_status tdo_error_vset(tdo_error *err, tdo_status code,
                                  const char *fmt, va_list ap);
/* Attaches a copy of sql to err (replacing any earlier one). */
TDO_API void tdo_error_set_sql(tdo_error *err, const char *sql);

/* ------------------------------------------------------------------ */
/* String builder (git's strbuf): buf is never NULL; a failed          */
/* allocation sets the sticky oom flag and later adds are ignored.     */
/* ------------------------------------------------------------------ */

typedef struct tdo_sb {
    char *buf;    /* NUL-terminated text; tdo_sb_empty_ until grown */
    size_t len;   /* bytes used, without the NUL */
    size_t alloc; /* bytes allocated, 0 while buf is the static empty */
    bool oom;     /* an allocation failed: the content is truncated */
} tdo_sb;

TDO_API extern char tdo_sb_empty_[1];
#define TDO_SB_INIT {tdo_sb_empty_, 0, 0, false}

/* Sets up an empty builder. */
TDO_API void tdo_sb_init(tdo_sb *sb);
/* Frees the builder's memory and empties it. */
TDO_API void tdo_sb_release(tdo_sb *sb);
/* Empties the builder, keeping its memory and clearing oom. */
TDO_API void tdo_sb_reset(tdo_sb *sb);
/* Makes room for extra more bytes; returns false on out of memory. */
TDO_API bool tdo_sb_grow(tdo_sb *sb, size_t extra);
/* Appends len bytes of s. */
TDO_API void tdo_sb_add(tdo_sb *sb, const char *s, size_t len);
/* Appends the NUL-terminated s. */
TDO_API void tdo_sb_adds(tdo_sb *sb, const char *s);
/* Appends one byte. */
TDO_API void tdo_sb_addc(tdo_sb *sb, char c);
/* Appends printf-style text. */
TDO_API void tdo_sb_addf(tdo_sb *sb, const char *fmt, ...) TDO_PRINTF(2, 3);
/* Appends printf-style text from a va_list. */
TDO_API void tdo_sb_vaddf(tdo_sb *sb, const char *fmt, va_list ap);
/* Returns the text as a malloc'd string owned by the caller (NULL on
 * out of memory, also when oom is set) and empties the builder. */
TDO_API char *tdo_sb_detach(tdo_sb *sb);

/* ------------------------------------------------------------------ */
/* Exact decimals: value = coef * 10^-scale, at most 38 digits.        */
/* ------------------------------------------------------------------ */

#define TDO_DECIMAL_MAX_DIGITS 38
#define TDO_DECIMAL_DIV_PRECISION 28 /* significant digits of a quotient */

typedef struct tdo_decimal {
    __int128 coef; /* signed coefficient */
    int32_t scale; /* digits after the point, 0..38 */
} tdo_decimal;

/* Parses "-12.50", "1e3", "  7 " into d (scale kept as written: "12.50"
 * has scale 2); ParamsError on bad text or more than 38 digits. */
TDO_API tdo_status tdo_decimal_parse(const char *s, size_t len,
                                     tdo_decimal *d, tdo_error *err);
/* Sets d to the integer i. */
TDO_API void tdo_decimal_from_int(int64_t i, tdo_decimal *d);
/* Sets d to the shortest decimal that round-trips x (0.1 -> "0.1");
 * ParamsError for NaN or infinity. */
TDO_API tdo_status tdo_decimal_from_double(double x, tdo_decimal *d,
                                           tdo_error *err);
/* Writes the canonical text of d ("-12.50", "0.001") into buf (NUL
 * terminated, truncated to cap); returns the full length. 48 bytes always
 * suffice. */
TDO_API size_t tdo_decimal_format(const tdo_decimal *d, char *buf,
                                  size_t cap);
/* Returns the nearest double to d. */
TDO_API double tdo_decimal_to_double(const tdo_decimal *d);
/* Compares numerically: <0, 0, >0 ("1.0" equals "1"). */
TDO_API int tdo_decimal_cmp(const tdo_decimal *a, const tdo_decimal *b);
/* out = a + b, a - b, a * b (exact; OperationalError on overflow). */
TDO_API tdo_status tdo_decimal_add(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err);
TDO_API tdo_status tdo_decimal_sub(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err);
TDO_API tdo_status tdo_decimal_mul(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err);
/* out = a / b to 28 significant digits, rounded half-even, trailing zeros
 * removed down to the larger of both scales; ParamsError on division by
 * zero. */
TDO_API tdo_status tdo_decimal_div(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err);
/* out = -a. */
TDO_API void tdo_decimal_neg(const tdo_decimal *a, tdo_decimal *out);
/* out = d rounded half-even to places digits after the point;
 * ValidationError when the result has more than max_digits digits
 * (max_digits <= 0: no limit). */
TDO_API tdo_status tdo_decimal_quantize(const tdo_decimal *d, int places,
                                        int max_digits, tdo_decimal *out,
                                        tdo_error *err);

/* ------------------------------------------------------------------ */
/* Dates, times, datetimes and durations                               */
/* ------------------------------------------------------------------ */

typedef struct tdo_datetime {
    int32_t year;       /* 1..9999 (0 for a pure time) */
    uint8_t month, day; /* 1..12, 1..31 (0 for a pure time) */
    uint8_t hour, minute, second;
    int32_t usec;       /* 0..999999 */
    int16_t offset_min; /* UTC offset in minutes when has_offset */
    bool has_offset;    /* aware (has a UTC offset) or naive */
} tdo_datetime;

/* ------------------------------------------------------------------ */
/* Tagged values: everything that crosses a layer.                     */
/* ------------------------------------------------------------------ */

typedef enum tdo_type {
    TDO_NULL = 0,
    TDO_BOOL,
    TDO_INT,      /* int64 */
    TDO_DOUBLE,
    TDO_TEXT,     /* UTF-8, ptr + len */
    TDO_BLOB,     /* bytes, ptr + len */
    TDO_DECIMAL,  /* exact */
    TDO_DATE,     /* dt: year, month, day */
    TDO_TIME,     /* dt: hour .. usec (+ offset) */
    TDO_DATETIME, /* dt: all of it */
    TDO_DURATION, /* us: microseconds */
    TDO_UUID,     /* canonical lower-case text in s */
    TDO_JSON      /* JSON text in s */
} tdo_type;

typedef struct tdo_value {
    tdo_type type;
    bool owned; /* s.ptr is malloc'd and freed by tdo_value_release() */
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *ptr;
            size_t len;
        } s; /* TEXT, BLOB, UUID, JSON */
        tdo_decimal dec;
        tdo_datetime dt; /* DATE, TIME, DATETIME */
        int64_t us;      /* DURATION */
    } u;
} tdo_value;

/* Returns the name of a value type ("text"); static. */
TDO_API const char *tdo_type_name(tdo_type t);
/* Constructors of borrowed values (text is not copied). */
TDO_API tdo_value tdo_value_null(void);
TDO_API tdo_value tdo_value_bool(bool b);
TDO_API tdo_value tdo_value_int(int64_t i);
TDO_API tdo_value tdo_value_double(double d);
TDO_API tdo_value tdo_value_text(const char *s, size_t len);
TDO_API tdo_value tdo_value_blob(const void *p, size_t len);
TDO_API tdo_value tdo_value_decimal(const tdo_decimal *d);
/* Frees the value's bytes if it owns them and makes it NULL. */
TDO_API void tdo_value_release(tdo_value *v);
/* Deep copy: dst owns its own bytes; free with tdo_value_release().
 * Returns TDO_ERR_NOMEM (dst NULL) on out of memory. */
TDO_API tdo_status tdo_value_copy(tdo_value *dst, const tdo_value *src);

/* ---- JSON text, written by jansson (orm/json.c) ---- */
struct json_t; /* jansson's node; include <jansson.h> to build one */
/* Appends s (n bytes) as a JSON string, quoted and escaped (bytes that
 * are not UTF-8 become U+FFFD). */
TDO_API void tdo_json_quote(tdo_sb *sb, const char *s, size_t n);
/* Appends j as JSON text written by jansson with its dump flags
 * (JSON_COMPACT, JSON_SORT_KEYS, ...); reals get the fewest digits, 15 to
 * 17, with which every real of the document reads back exactly.
 * TDO_ERR_NOMEM on failure, sb then as it was. */
TDO_API tdo_status tdo_json_dump(tdo_sb *sb, const struct json_t *j,
                                 size_t flags);
/* Returns a new jansson string of s (n bytes; not-UTF-8 bytes become
 * U+FFFD); NULL on out of memory. The caller owns the reference. */
TDO_API struct json_t *tdo_json_string(const char *s, size_t n);
/* Returns a new jansson number equal to d (an integer, or a real that
 * reads back as exactly d), NULL when no double holds d. The caller owns
 * the reference. */
TDO_API struct json_t *tdo_json_decimal(const tdo_decimal *d);
/* Returns a new jansson node of v: null, booleans, numbers, JSON text as
 * its tree, other values as their display text (ISO dates); NULL with a
 * FieldError for a decimal no double holds or a non-finite double, or on
 * out of memory. The caller owns the reference. */
TDO_API struct json_t *tdo_json_value(const tdo_value *v, tdo_error *err);
/* Appends a display form: NULL, true/false, 42, 1.5, 'text' (quoted with
 * '' escaping when quote is true, raw otherwise), x'0a0b', 12.50,
 * 2026-11-25T10:15:35, and so on. */
TDO_API void tdo_value_format(tdo_sb *sb, const tdo_value *v, bool quote);
/* Total order used for equality of values of one type; returns <0/0/>0.
 * Values of different types order by type. */
TDO_API int tdo_value_cmp(const tdo_value *a, const tdo_value *b);

/* Parses an ISO 8601 date ("2026-11-25"), time ("10:15[:35[.123456]]"
 * with optional offset) or datetime ("2026-11-25T10:15:35.5+01:00", a
 * space is accepted for T, "Z" for +00:00, a date alone is midnight),
 * kind being TDO_DATE, TDO_TIME or TDO_DATETIME; ParamsError on bad text. */
TDO_API tdo_status tdo_datetime_parse(const char *s, size_t len, tdo_type kind,
                                      tdo_datetime *out, tdo_error *err);
/* Writes ISO 8601 text of dt as kind into buf (NUL terminated, truncated
 * to cap), returns the full length; sep is 'T' or ' '; microseconds only
 * when nonzero unless fixed_usec; offset as +HH:MM when has_offset. */
TDO_API size_t tdo_datetime_format(const tdo_datetime *dt, tdo_type kind,
                                   char sep, bool fixed_usec, char *buf,
                                   size_t cap);
/* Sets out to the current time: UTC with offset 0 when utc, else the
 * local wall clock, naive. */
TDO_API void tdo_datetime_now(bool utc, tdo_datetime *out);
/* Compares two values of one kind (aware datetimes by their UTC instant). */
TDO_API int tdo_datetime_cmp(const tdo_datetime *a, const tdo_datetime *b,
                             tdo_type kind);
/* out = dt + us microseconds (kind DATE adds whole days only). */
TDO_API tdo_status tdo_datetime_add(const tdo_datetime *dt, tdo_type kind,
                                    int64_t us, tdo_datetime *out,
                                    tdo_error *err);
/* Returns a - b in microseconds. */
TDO_API int64_t tdo_datetime_diff(const tdo_datetime *a, const tdo_datetime *b,
                                  tdo_type kind);
/* Writes a duration as Python's timedelta prints ("1 day, 0:00:30",
 * "-1 day, 23:59:59.500000"); returns the full length. */
TDO_API size_t tdo_duration_format(int64_t us, char *buf, size_t cap);

/* Durations are microseconds within +-TDO_DURATION_MAX_DAYS days (what an
 * int64 holds, rounded down; Python's timedelta goes further).  The
 * operations below check every step and give ParamsError "duration out
 * of range" instead of wrapping around. */
#define TDO_DURATION_MAX_DAYS 100000000LL
#define TDO_DURATION_MAX_US (TDO_DURATION_MAX_DAYS * 86400000000LL)
/* *out = the duration a database printed: PostgreSQL's interval ("1 day
 * 02:00:00", "-3 days -00:00:01.5", "00:30:00") or MySQL's TIME
 * ("-838:59:59"); OperationalError for anything else, months and years
 * included. */
TDO_API tdo_status tdo_duration_parse(const char *s, size_t len, int64_t *out,
                                      tdo_error *err);
/* *out = days + seconds + us, each a whole number of its unit. */
TDO_API tdo_status tdo_duration_from_parts(int64_t days, int64_t seconds,
                                           int64_t us, int64_t *out,
                                           tdo_error *err);
/* *out = us rounded to a whole microsecond; ParamsError for NaN and
 * infinities too. */
TDO_API tdo_status tdo_duration_from_double(double us, int64_t *out,
                                            tdo_error *err);
/* *out = a + b; *out = a * n; *out = a * x (rounded). */
TDO_API tdo_status tdo_duration_add(int64_t a, int64_t b, int64_t *out,
                                    tdo_error *err);
TDO_API tdo_status tdo_duration_mul(int64_t a, int64_t n, int64_t *out,
                                    tdo_error *err);
TDO_API tdo_status tdo_duration_scale(int64_t a, double x, int64_t *out,
                                      tdo_error *err);

/* ------------------------------------------------------------------ */
/* Models and fields                                                   */
/* ------------------------------------------------------------------ */

typedef struct tdo_ctx tdo_ctx;         /* registry and connections */
typedef struct tdo_model tdo_model;     /* one model of the registry */
typedef struct tdo_query tdo_query;     /* immutable queryset */
typedef struct tdo_qnode tdo_qnode;     /* filter tree (Q), refcounted */
typedef struct tdo_expr tdo_expr;       /* expression (F), refcounted */
typedef struct tdo_compiled tdo_compiled; /* SQL text + parameters */
typedef struct tdo_dialect tdo_dialect; /* SQL dialect, static */
typedef struct tdo_conn tdo_conn;       /* named connection (pool) */
typedef struct tdo_rows tdo_rows;       /* result cursor */

typedef enum tdo_field_type {
    TDO_F_INT,
    TDO_F_BIGINT,
    TDO_F_SMALLINT,
    TDO_F_FLOAT,
    TDO_F_DECIMAL,
    TDO_F_CHAR,
    TDO_F_TEXT,
    TDO_F_BOOL,
    TDO_F_DATETIME,
    TDO_F_DATE,
    TDO_F_TIME,
    TDO_F_TIMEDELTA,
    TDO_F_UUID,
    TDO_F_JSON,
    TDO_F_BINARY,
    TDO_F_CHARENUM,
    TDO_F_INTENUM,
    TDO_F_FK,  /* ForeignKeyField: column <name>_id */
    TDO_F_O2O, /* OneToOneField: column <name>_id, unique */
    TDO_F_M2M, /* ManyToManyField: no column */
    TDO_F_COUNT
} tdo_field_type;

/* Field flags */
#define TDO_FIELD_NULL 0x0001        /* null=true */
#define TDO_FIELD_UNIQUE 0x0002      /* unique=true */
#define TDO_FIELD_INDEX 0x0004       /* index=true */
#define TDO_FIELD_PK 0x0008          /* primary_key=true */
#define TDO_FIELD_GENERATED 0x0010   /* value made by the database (serial pk) */
#define TDO_FIELD_AUTO_NOW 0x0020    /* DatetimeField auto_now */
#define TDO_FIELD_AUTO_NOW_ADD 0x0040 /* DatetimeField auto_now_add */
#define TDO_FIELD_HAS_DEFAULT 0x0080 /* a default exists (maybe callable) */
#define TDO_FIELD_CONST_DEFAULT 0x0100 /* default_value holds it */
#define TDO_FIELD_DB_CONSTRAINT 0x0200 /* relation: emit the FK constraint */
#define TDO_FIELD_INHERITED 0x0400   /* copied from an abstract parent */
#define TDO_FIELD_UUID4 0x0800       /* default: a new random UUID (version
                                        4) per row; implied for a UUIDField
                                        primary key without a default */

typedef enum tdo_on_delete {
    TDO_CASCADE = 0,
    TDO_RESTRICT,
    TDO_SET_NULL,
    TDO_SET_DEFAULT,
    TDO_NO_ACTION
} tdo_on_delete;

/* A validator a field runs on every value it saves (Tortoise's
 * tortoise.validators): a ValidationError "<field>: <message>" when the
 * value fails it.  NULL on a nullable field is not validated. */
typedef enum tdo_validator_kind {
    TDO_V_MIN_VALUE,  /* bound: a number; "Value should be greater or
                         equal to 10" */
    TDO_V_MAX_VALUE,  /* "Value should be less or equal to 20" */
    TDO_V_MIN_LENGTH, /* bound: an integer; "Length of 'ab' 2 < 3" */
    TDO_V_MAX_LENGTH, /* "Length of 'abcdef' 6 > 5" */
    TDO_V_REGEX,      /* pattern (PCRE2), matched at the start of the
                         text as Python's re.match */
    TDO_V_COMMA_INTS, /* "1,2,3" (negative numbers when allow_negative) */
    TDO_V_CALL        /* fn(field, value, ud, err) decides */
} tdo_validator_kind;

struct tdo_field;
/* A validator callback: TDO_OK, or an error set in err (a ValidationError
 * whose message is prefixed with the field's name). */
typedef tdo_status (*tdo_validator_fn)(const struct tdo_field *f,
                                       const tdo_value *v, void *ud,
                                       tdo_error *err);
/* One validator of a declaration (borrowed; the field copies it). */
typedef struct tdo_validator {
    tdo_validator_kind kind;
    tdo_value bound;        /* MIN/MAX_VALUE, MIN/MAX_LENGTH */
    const char *pattern;    /* REGEX */
    bool ignore_case;       /* REGEX */
    bool allow_negative;    /* COMMA_INTS */
    tdo_validator_fn fn;    /* CALL */
    void *ud;               /* CALL: passed to fn, owned by the caller */
} tdo_validator;

/* Runs validator v on value (no field: the message alone, "Value should
 * be greater or equal to 10"); ValidationError when it fails,
 * ConfigurationError for a bad pattern. */
TDO_API tdo_status tdo_validator_check(const tdo_validator *v,
                                       const tdo_value *value, tdo_error *err);

/* A field's declaration: what tdo_model_add_field() takes.  Every string
 * and value is borrowed (the model copies them); start from
 * tdo_field_template(). */
typedef struct tdo_field_decl {
    const char *name;         /* attribute name: "email", "customer" */
    const char *column;       /* db column, or NULL: name (name_id) */
    tdo_field_type type;
    unsigned flags;           /* TDO_FIELD_* */
    int max_length;           /* Char/CharEnum: required; 0 otherwise */
    int max_digits;           /* Decimal */
    int decimal_places;       /* Decimal */
    const char *description;  /* or NULL */
    const char *db_default;   /* SQL of the column's DEFAULT, or NULL: an
                                 insert leaves out the field when unset */
    tdo_value default_value;  /* when TDO_FIELD_CONST_DEFAULT */
    const tdo_value *enum_values; /* CharEnum/IntEnum allowed values */
    size_t n_enum;
    const char *related_ref;  /* "models.Category"; relations only */
    const char *related_name; /* or NULL for the default; "+": none */
    tdo_on_delete on_delete;
    const char *through;      /* m2m through table, or NULL */
    const char *forward_key;  /* m2m */
    const char *backward_key; /* m2m */
    const char *to_field;     /* FK/O2O: the unique field of the related
                                 model the key holds, or NULL: its pk */
    const tdo_validator *validators; /* run on save (tdo_field_validate) */
    size_t nvalidators;
} tdo_field_decl;

/* A field of a model: owned by it, read-only once added (made from a
 * tdo_field_decl by tdo_model_add_field()). */
typedef struct tdo_field {
    char *name;            /* attribute name: "email", "customer" */
    char *column;          /* db column: source_field, name, or name_id */
    tdo_field_type type;
    unsigned flags;        /* TDO_FIELD_* */
    int max_length;        /* Char/CharEnum: required; 0 otherwise */
    int max_digits;        /* Decimal */
    int decimal_places;    /* Decimal */
    char *description;     /* or NULL */
    char *db_default;      /* SQL of the column's DEFAULT, or NULL */
    tdo_value default_value; /* when TDO_FIELD_CONST_DEFAULT; owned */
    tdo_value *enum_values; /* CharEnum/IntEnum allowed values; owned */
    size_t n_enum;
    /* relations */
    char *related_ref;     /* "models.Category" as declared; or NULL */
    char *related_name;    /* or NULL for the default; "+": none (False) */
    tdo_on_delete on_delete;
    char *through;         /* m2m through table, or NULL */
    char *forward_key;     /* m2m */
    char *backward_key;    /* m2m */
    char *to_field;        /* FK/O2O: as declared, or NULL */
    tdo_validator *validators; /* owned copies (patterns, bounds) */
    size_t nvalidators;
    void **vcode;          /* per validator: its compiled PCRE2 pattern,
                              or NULL; owned */
    tdo_model *related_model; /* set by tdo_ctx_resolve() */
    const struct tdo_field *to_target; /* FK/O2O: the related model's field the
                                   key holds (to_field, else its pk); set
                                   by tdo_ctx_resolve() */
    /* set by tdo_model_add_field() */
    tdo_model *model;      /* owner */
    size_t index;          /* position among the model's fields */
    /* the column quoted for the dialect compiled for last (compile.c) */
    char *qcolumn;         /* owned, or NULL */
    const void *qdialect;
    intptr_t userdata;     /* the caller's (tdo_field_set_userdata()); 0 */
} tdo_field;

/* Keeps the caller's value ud with field f (the Lua bindings: a
 * reference to its attribute name); read it back as f->userdata. */
TDO_API void tdo_field_set_userdata(const tdo_field *f, intptr_t ud);
/* Returns a zeroed declaration of a field of the given name and type
 * (relations get TDO_FIELD_DB_CONSTRAINT). */
TDO_API tdo_field_decl tdo_field_template(const char *name,
                                          tdo_field_type type);
/* What a column's SQL type says of its field (tdo_field_type_of_sql). */
typedef struct tdo_sql_type {
    tdo_field_type type;
    int max_length;     /* Char: the n of VARCHAR(n) */
    int max_digits;     /* Decimal: NUMERIC(p, s) */
    int decimal_places;
    bool unknown;       /* no field fits: Text (Binary for blob-like
                           names), to be noted */
} tdo_sql_type;

/* The field type closest to a column's SQL type as SQLite, PostgreSQL or
 * MySQL/MariaDB write it in their catalogues (case and spacing do not
 * matter; MySQL's unsigned / zerofill are ignored; tinyint(1) is a
 * boolean, a varchar without a length text, an unknown type text or
 * binary with out->unknown set).  Fills *out and returns its type. */
TDO_API tdo_field_type tdo_field_type_of_sql(const char *type,
                                             tdo_sql_type *out);
/* Returns the Tortoise class name of a field type ("CharField"); static. */
TDO_API const char *tdo_field_type_name(tdo_field_type t);
/* Looks a field type up by its class name; returns TDO_F_COUNT if none. */
TDO_API tdo_field_type tdo_field_type_by_name(const char *name);
/* The field of the related model a FK/O2O's key holds: its to_field, or
 * the related primary key; NULL for other fields or before
 * tdo_ctx_resolve().  Belongs to the registry. */
TDO_API const tdo_field *tdo_field_key_target(const tdo_field *f);
/* Returns the value type the field holds (TDO_F_CHAR -> TDO_TEXT; FK ->
 * the type of the field its key holds, TDO_INT until resolved). */
TDO_API tdo_type tdo_field_value_type(const tdo_field *f);
/* Converts an input value to the field's canonical value: numbers to text
 * for Char/Text, integers and text to decimals (quantized to
 * decimal_places), ISO text to dates, 0/1 to booleans, and so on.  out
 * owns its bytes (tdo_value_release()).  FieldError naming the field when
 * the value cannot be converted.  NULL stays NULL. */
/* Checks that v (coerced for f) fits f's column on every database:
 * integers within their field's range (SmallIntField and IntEnumField
 * 16 bits, IntField 32 bits), floats finite.  ValidationError
 * ("n: Value should be less or equal to 32767") otherwise.  Every
 * INSERT and UPDATE the core compiles checks its values with it. */
TDO_API tdo_status tdo_field_check(const tdo_field *f, const tdo_value *v,
                                   tdo_error *err);
TDO_API tdo_status tdo_field_coerce(const tdo_field *f, const tdo_value *in,
                                    tdo_value *out, tdo_error *err);
/* Checks a canonical value against the field: NULL on a not-null field
 * (ValidationError "email: Value must not be None" for a char field, as
 * Tortoise's max_length validator says it; IntegrityError "NOT NULL
 * constraint failed: t.c" for any other, as the database would),
 * max_length, enum membership, max_digits (ValidationError naming the
 * field). */
TDO_API tdo_status tdo_field_validate(const tdo_field *f, const tdo_value *v,
                                      tdo_error *err);

/* Returns a new, empty context (registry + connections), or NULL on out of
 * memory; free with tdo_ctx_free(), which also frees its models and
 * closes its connections. */
TDO_API tdo_ctx *tdo_ctx_new(void);
TDO_API void tdo_ctx_free(tdo_ctx *ctx);
/* use_tz: datetimes are stored in UTC and returned aware. */
TDO_API void tdo_ctx_set_use_tz(tdo_ctx *ctx, bool use_tz);
TDO_API bool tdo_ctx_use_tz(const tdo_ctx *ctx);

/* Creates model app.name in ctx, which owns it; ConfigurationError if the
 * name is taken (tdo_model_detach() the old one first to redefine it).
 * The table defaults to the lower-cased name. */
TDO_API tdo_status tdo_model_new(tdo_ctx *ctx, const char *app,
                                 const char *name, tdo_model **out,
                                 tdo_error *err);
/* Takes m out of the registry (name lookups, resolve, schema, the model
 * list) without freeing it, so querysets and fields that point at it stay
 * valid until ctx is freed.  Used when a model is redefined. */
TDO_API void tdo_model_detach(tdo_model *m);
TDO_API tdo_status tdo_model_set_table(tdo_model *m, const char *table,
                                       tdo_error *err);
TDO_API void tdo_model_set_abstract(tdo_model *m, bool abstract);
/* Declares m's primary key as the n named fields, before
 * tdo_model_finish(): one name marks that field, several make a composite
 * key (tdo_model_pk() is then NULL; updates and deletes of one row match
 * every key field), none a model with no key (no `id` is added).  No
 * field may also be declared primary_key. */
TDO_API tdo_status tdo_model_set_key(tdo_model *m, const char *const *fields,
                                     size_t n, tdo_error *err);
/* Makes m read-only (a view), before tdo_model_finish(): inserts,
 * updates and deletes through it raise OperationalError,
 * tdo_generate_schemas() leaves its table alone, and it gets no implied
 * `id` key. */
TDO_API void tdo_model_set_read_only(tdo_model *m, bool read_only);
TDO_API bool tdo_model_read_only(const tdo_model *m);
TDO_API tdo_status tdo_model_set_description(tdo_model *m, const char *text,
                                             tdo_error *err);
/* Copies the fields, indexes and unique_together of an abstract parent
 * into m (before m's own fields). ConfigurationError if parent is not
 * abstract. */
TDO_API tdo_status tdo_model_inherit(tdo_model *m, const tdo_model *parent,
                                     tdo_error *err);
/* Adds a copy of the template f to m; *out (may be NULL) points at the
 * model's field.  A field of the same name (say, inherited) is replaced in
 * place.  ConfigurationError for a Char without max_length, a Decimal
 * without max_digits/decimal_places, a second primary key, an enum without
 * values. */
TDO_API tdo_status tdo_model_add_field(tdo_model *m, const tdo_field_decl *f,
                                       tdo_field **out, tdo_error *err);
/* Adds an index (unique: unique_together) over the named fields;
 * FieldError for an unknown name (checked by tdo_model_finish()). */
TDO_API tdo_status tdo_model_add_index(tdo_model *m, const char *const *fields,
                                       size_t n, bool unique, tdo_error *err);
/* Ends the declaration: adds an `id` IntField primary key (generated) when
 * there is none, checks the indexes. */
TDO_API tdo_status tdo_model_finish(tdo_model *m, tdo_error *err);
/* Binds the string references ("models.Category", "Category" within the
 * same app) of every model; ConfigurationError listing all that fail. */
TDO_API tdo_status tdo_ctx_resolve(tdo_ctx *ctx, tdo_error *err);

/* Accessors; the strings and fields belong to the model. */
TDO_API const char *tdo_model_name(const tdo_model *m);
TDO_API const char *tdo_model_app(const tdo_model *m);
TDO_API const char *tdo_model_table(const tdo_model *m);
TDO_API const char *tdo_model_description(const tdo_model *m);
TDO_API bool tdo_model_abstract(const tdo_model *m);
TDO_API size_t tdo_model_nfields(const tdo_model *m);
TDO_API const tdo_field *tdo_model_field(const tdo_model *m, size_t i);
/* Finds a field by attribute name, or by column for relations
 * ("customer_id"); NULL if none. */
TDO_API const tdo_field *tdo_model_field_by_name(const tdo_model *m,
                                                 const char *name);
TDO_API const tdo_field *tdo_model_pk(const tdo_model *m);
/* Fills out (up to cap) with the names of the lookups that suit f's type
 * (static strings): exact, not, in, isnull and their negations for all;
 * gt .. range for ordered types (numbers, text, dates, UUIDs, keys); the
 * text lookups (icontains ...) for Char/Text; the date parts a date, time
 * or datetime has.  What the shell's completion offers after `field__`;
 * the resolver refuses only date parts that do not apply.  Returns how
 * many suit. */
TDO_API size_t tdo_field_lookups(const tdo_field *f, const char **out,
                                 size_t cap);
/* The primary key's fields: how many (1; several for a composite key; 0
 * for none) and the i-th, owned by m. */
TDO_API size_t tdo_model_nkey(const tdo_model *m);
TDO_API const tdo_field *tdo_model_key(const tdo_model *m, size_t i);
/* Indexes: n-th index's field names and uniqueness. */
TDO_API size_t tdo_model_nindexes(const tdo_model *m);
TDO_API const char *const *tdo_model_index(const tdo_model *m, size_t i,
                                           size_t *nfields, bool *unique);
/* An opaque pointer for the caller (the Lua bindings keep a reference). */
TDO_API void *tdo_model_userdata(const tdo_model *m);
TDO_API void tdo_model_set_userdata(tdo_model *m, void *ud);
/* Models of ctx, in creation order (abstract ones included). */
TDO_API size_t tdo_ctx_nmodels(const tdo_ctx *ctx);
TDO_API tdo_model *tdo_ctx_model_at(const tdo_ctx *ctx, size_t i);
/* Finds app.name; app NULL: any app (first match). */
TDO_API tdo_model *tdo_ctx_model(const tdo_ctx *ctx, const char *app,
                                 const char *name);
/* Writes a FieldError naming the unknown field and listing the model's
 * fields: "no such field 'emial' on model 'User' (fields: id, email, ...)". */
TDO_API tdo_status tdo_model_field_error(const tdo_model *m, const char *name,
                                         tdo_error *err);

/* ------------------------------------------------------------------ */
/* Relations (after tdo_ctx_resolve()): forward FK/O2O/M2M fields and  */
/* the reverse sides the registry creates for them.                    */
/* ------------------------------------------------------------------ */

typedef enum tdo_rel_kind {
    TDO_REL_FK,          /* order.customer (ForeignKeyField) */
    TDO_REL_O2O,         /* user.profile (OneToOneField) */
    TDO_REL_M2M,         /* product.tags (ManyToManyField) */
    TDO_REL_REVERSE_FK,  /* user.orders */
    TDO_REL_REVERSE_O2O, /* profile.user's reverse side */
    TDO_REL_REVERSE_M2M  /* tag.products */
} tdo_rel_kind;

/* One relation attribute of a model; plain data owned by the registry. */
typedef struct tdo_relation {
    const char *name;         /* attribute: "customer", "orders", "tags" */
    tdo_rel_kind kind;
    tdo_model *model;         /* the model that has the attribute */
    tdo_model *target;        /* the model on the other side */
    const tdo_field *field;   /* the declaring FK/O2O/M2M field (on model
                                 for forward kinds, on target for reverse) */
    /* many-to-many only */
    const char *through;       /* through table */
    const char *source_column; /* through column referring to model's pk */
    const char *target_column; /* through column referring to target's pk */
    tdo_model *through_model;  /* a declared through model, or NULL */
} tdo_relation;

/* Relations of m (forward and reverse), valid after tdo_ctx_resolve(). */
TDO_API size_t tdo_model_nrelations(const tdo_model *m);
TDO_API const tdo_relation *tdo_model_relation(const tdo_model *m, size_t i);
/* Finds a relation by attribute name; NULL if none. */
TDO_API const tdo_relation *tdo_model_relation_by_name(const tdo_model *m,
                                                       const char *name);

/* ------------------------------------------------------------------ */
/* Expressions (F) and filter trees (Q); both immutable, refcounted.   */
/* Constructors return NULL on out of memory.                          */
/* ------------------------------------------------------------------ */

/* F("stock"): a field reference (checked when used in a query). */
TDO_API tdo_expr *tdo_expr_field(const char *name);
/* A literal value (copied). */
TDO_API tdo_expr *tdo_expr_value(const tdo_value *v);
/* a op b with op one of '+', '-', '*', '/', '%' (modulo), '^' (power);
 * takes a reference to a and b. */
TDO_API tdo_expr *tdo_expr_binop(char op, tdo_expr *a, tdo_expr *b);
/* -a; takes a reference to a. */
TDO_API tdo_expr *tdo_expr_neg(tdo_expr *a);
/* Adds a reference; returns e. */
TDO_API tdo_expr *tdo_expr_ref(tdo_expr *e);
/* Drops a reference (NULL is fine). */
TDO_API void tdo_expr_free(tdo_expr *e);
/* Appends a readable form ("F(stock) + 1"). */
TDO_API void tdo_expr_format(tdo_sb *sb, const tdo_expr *e);

/* Functions and aggregates of orm.functions. */
typedef enum tdo_func {
    TDO_FN_COUNT,
    TDO_FN_SUM,
    TDO_FN_AVG,
    TDO_FN_MIN,
    TDO_FN_MAX,
    TDO_FN_LOWER,
    TDO_FN_UPPER,
    TDO_FN_LENGTH,
    TDO_FN_TRIM,
    TDO_FN_COALESCE,
    TDO_FN_CONCAT
} tdo_func;

/* fn(args...) with DISTINCT and a FILTER (Q) for aggregates (filter may be
 * NULL); takes references to args and filter.  Field arguments may be
 * paths through relations ("orders", "lines__quantity"); Count("orders")
 * counts related rows (their primary keys). */
TDO_API tdo_expr *tdo_expr_func(tdo_func fn, tdo_expr *const *args,
                                size_t nargs, bool distinct,
                                tdo_qnode *filter);
/* Raw SQL text used as an expression (orm.RawSQL); copied. */
TDO_API tdo_expr *tdo_expr_raw(const char *sql);
/* CASE WHEN conds[0] THEN thens[0] ... [ELSE dflt] END (orm.Case): the
 * first condition that holds gives the result, else dflt (NULL: NULL).
 * Takes the references to conds, thens and dflt (dropped on failure);
 * NULL on out of memory, n == 0 or a NULL condition or result. */
/* (SELECT ...) of q (orm.Subquery): a scalar where one value is wanted
 * (annotate, a filter's value, update), a list after __in; q is copied.
 * A query of instances selects its primary key.  NULL on out of memory. */
TDO_API tdo_expr *tdo_expr_subquery(const tdo_query *q);
TDO_API tdo_expr *tdo_expr_case(tdo_qnode *const *conds,
                                tdo_expr *const *thens, size_t n,
                                tdo_expr *dflt);

/* One lookup "key = value", key being "field[__lookup]" (field may be a
 * column name such as customer_id, or "pk").  vals holds one value, two
 * for range, n for in / not_in.  Values are copied.  Names are checked
 * when the node is applied to a query. */
TDO_API tdo_qnode *tdo_q_lookup(const char *key, const tdo_value *vals,
                                size_t nvals);
/* Whether f is an alternative key of its model: a unique column that is
 * not the primary key, which a relation's to_field may name. */
TDO_API bool tdo_field_is_alt_key(const tdo_field *f);
/* A lookup whose values are instances of m ("school = s1"): pks holds
 * their primary keys (n of them); alts, n rows of nalt values, their
 * values of m's alternative keys (tdo_field_is_alt_key(), in field
 * order; a plain value repeated for an element that is no instance).  A
 * relation whose to_field names one of those keys compares that value,
 * anything else the pk.  Everything is copied; NULL on out of memory. */
TDO_API tdo_qnode *tdo_q_lookup_instances(const char *key, const tdo_model *m,
                                          const tdo_value *pks, size_t n,
                                          const tdo_value *alts, size_t nalt);
/* data__filter = {owner__name = "Bob"}: a leaf comparing the JSON value
 * at path (npath keys; digits index arrays) of JSONField field with
 * lookup (exact when NULL: also not, in, not_in, gt, gte, lt, lte,
 * isnull, not_isnull; FieldError otherwise, when applied).  JSON null and
 * a missing key are both null.  Values are copied. */
TDO_API tdo_qnode *tdo_q_json_lookup(const char *field,
                                     const char *const *path, size_t npath,
                                     const char *lookup, const tdo_value *vals,
                                     size_t nvals);
/* A lookup whose right-hand side is an expression (stock__gt = F"min"). */
TDO_API tdo_qnode *tdo_q_lookup_expr(const char *key, tdo_expr *e);
/* How deep Q and F trees may nest (levels of AND/OR/NOT, operators and
 * function calls, one inside the other): every recursion over them stays
 * bounded, and SQLite (whose parser stops at 1000 levels) takes the SQL.
 * The constructors return NULL (dropping their operands) for a tree that
 * would be deeper; tdo_qnode_depth/tdo_expr_depth tell in advance. */
#define TDO_MAX_DEPTH 900
/* The depth of q / e (0 for NULL). */
TDO_API int tdo_qnode_depth(const tdo_qnode *q);
TDO_API int tdo_expr_depth(const tdo_expr *e);
/* a AND b, a OR b, NOT a; each takes references to its operands.
 * tdo_q_and/tdo_q_or accept NULL operands and return the other.  NULL on
 * out of memory, or when the result would nest deeper than
 * TDO_MAX_DEPTH. */
TDO_API tdo_qnode *tdo_q_and(tdo_qnode *a, tdo_qnode *b);
TDO_API tdo_qnode *tdo_q_or(tdo_qnode *a, tdo_qnode *b);
TDO_API tdo_qnode *tdo_q_not(tdo_qnode *a);
/* The node that matches everything (an empty Q{}). */
TDO_API tdo_qnode *tdo_q_empty(void);
TDO_API tdo_qnode *tdo_qnode_ref(tdo_qnode *q);
TDO_API void tdo_qnode_free(tdo_qnode *q);
/* Structural equality (Q objects built alike are equal). */
TDO_API bool tdo_qnode_equal(const tdo_qnode *a, const tdo_qnode *b);
/* Appends a readable form ("(role = 'admin' OR NOT (is_active = true))"). */
TDO_API void tdo_qnode_format(tdo_sb *sb, const tdo_qnode *q);

/* ------------------------------------------------------------------ */
/* Querysets: immutable; each chaining call makes a new query (free it */
/* with tdo_query_free()).  Names are checked when the call is made:   */
/* FieldError naming the bad field and listing the valid ones.         */
/* ------------------------------------------------------------------ */

typedef enum tdo_projection {
    TDO_PROJ_INSTANCES = 0, /* every column of the model, in field order */
    TDO_PROJ_VALUES,        /* values(...): named columns */
    TDO_PROJ_VALUES_LIST,   /* values_list(...) */
    TDO_PROJ_FLAT           /* values_list(name, {flat=true}) */
} tdo_projection;

/* Returns a new query over all rows of m (Model.all()); NULL on OOM. */
TDO_API tdo_query *tdo_query_new(tdo_model *m);
TDO_API void tdo_query_free(tdo_query *q);
TDO_API tdo_model *tdo_query_model(const tdo_query *q);
TDO_API tdo_status tdo_query_filter(const tdo_query *q, const tdo_qnode *cond,
                                    tdo_query **out, tdo_error *err);
TDO_API tdo_status tdo_query_exclude(const tdo_query *q,
                                     const tdo_qnode *cond, tdo_query **out,
                                     tdo_error *err);
/* keys like "-created_at", "name", "pk"; replaces any earlier ordering. */
TDO_API tdo_status tdo_query_order_by(const tdo_query *q,
                                      const char *const *keys, size_t n,
                                      tdo_query **out, tdo_error *err);
/* ParamsError for a negative count. */
TDO_API tdo_status tdo_query_limit(const tdo_query *q, int64_t n,
                                   tdo_query **out, tdo_error *err);
/* The row limit of q (limit() or a slice), or -1 without one. */
TDO_API int64_t tdo_query_get_limit(const tdo_query *q);
TDO_API tdo_status tdo_query_offset(const tdo_query *q, int64_t n,
                                    tdo_query **out, tdo_error *err);
TDO_API tdo_status tdo_query_distinct(const tdo_query *q, tdo_query **out,
                                      tdo_error *err);
/* distinct("role", "category__name"): a new query keeping, of the rows
 * of q, one per distinct value of the n keys: the first in q's order
 * (then by primary key).  The same rows on every backend (a window
 * function, not PostgreSQL's DISTINCT ON, which needs the order to start
 * with the keys).  n == 0: tdo_query_distinct().  FieldError for an
 * unknown key, OperationalError for a model without a one-column key;
 * combined with aggregates it fails when compiled (ParamsError). */
TDO_API tdo_status tdo_query_distinct_on(const tdo_query *q,
                                         const char *const *keys, size_t n,
                                         tdo_query **out, tdo_error *err);
/* qs1:union(qs2): a new query whose rows are q's and then other's
 * (UNION: duplicates removed; all: UNION ALL), decoded as q's, in no
 * order until an order_by after it (q's own is dropped).  Both
 * must return as many columns and be unsliced (ParamsError).  On the
 * result only order_by (by q's output columns), limit, offset, values
 * (given to every part still returning instances) and the terminal
 * statements apply; filter, annotate, ... raise ParamsError, as do
 * update and delete when compiled. */
TDO_API tdo_status tdo_query_union(const tdo_query *q, const tdo_query *other,
                                   bool all, tdo_query **out, tdo_error *err);

/* The row locks a query's SELECT takes (select_for_update). */
typedef enum tdo_lock {
    TDO_LOCK_NONE,
    TDO_LOCK_UPDATE,      /* FOR UPDATE: wait for rows others lock */
    TDO_LOCK_NOWAIT,      /* FOR UPDATE NOWAIT: fail at once instead */
    TDO_LOCK_SKIP_LOCKED, /* FOR UPDATE SKIP LOCKED: leave them out */
} tdo_lock;

/* A new query (*out, caller frees) whose rows are locked until the end of
 * the transaction (FOR UPDATE, with NOWAIT or SKIP LOCKED by lock);
 * SQLite takes no row locks: its write transactions (BEGIN IMMEDIATE)
 * already hold the whole database. */
TDO_API tdo_status tdo_query_for_update(const tdo_query *q, tdo_lock lock,
                                        tdo_query **out, tdo_error *err);
/* select_for_update{of = {...}, no_key = true}: a new query locking only
 * the rows of the tables named in of ("self": q's model; else a path q
 * select_related()s, FieldError otherwise), and with no_key taking
 * PostgreSQL's weaker FOR NO KEY UPDATE (FOR UPDATE elsewhere).  A
 * database that cannot lock some tables only (MySQL/MariaDB) refuses,
 * when compiled, an of that leaves out a table read (ParamsError). */
TDO_API tdo_status tdo_query_lock_of(const tdo_query *q,
                                     const char *const *of, size_t n,
                                     bool no_key, tdo_query **out,
                                     tdo_error *err);
/* Projection: names[i] are field names (n == 0: every field), aliases[i]
 * the output names (aliases or aliases[i] NULL: the name itself).
 * TDO_PROJ_FLAT needs exactly one name (ParamsError otherwise). */
TDO_API tdo_status tdo_query_values(const tdo_query *q, tdo_projection kind,
                                    const char *const *names,
                                    const char *const *aliases, size_t n,
                                    tdo_query **out, tdo_error *err);
TDO_API tdo_projection tdo_query_projection(const tdo_query *q);
/* only("id", "email"): instances carry only the named fields of the
 * model (attribute names, "pk", a relation's "customer" or column
 * "customer_id"), the primary key always among them, in field order;
 * select_related columns and annotations still follow.  FieldError for
 * an unknown name, a path through a relation or a many-to-many field. */
TDO_API tdo_status tdo_query_only(const tdo_query *q, const char *const *names,
                                  size_t n, tdo_query **out, tdo_error *err);
/* Whether only() leaves out some of the model's fields (partial
 * instances). */
TDO_API bool tdo_query_partial(const tdo_query *q);
/* Output column names of the query, in order (valid while q lives). */
TDO_API size_t tdo_query_ncolumns(const tdo_query *q);
TDO_API const char *tdo_query_column(const tdo_query *q, size_t i);
/* Whether the query has a filter, a limit or an offset (shell guards). */
TDO_API bool tdo_query_is_filtered(const tdo_query *q);
/* Whether q's rows are not the model's own: grouped by group_by (an
 * aggregate alone groups by every field, the pk included) or a union();
 * first() then adds no primary-key order. */
TDO_API bool tdo_query_is_combined(const tdo_query *q);

/* annotate{name = expr}: adds an output column (after the model's columns
 * for instances; filter/exclude/order_by/values can then use the name; a
 * filter on an aggregate becomes HAVING).  FieldError for a name that
 * clashes with a field. */
TDO_API tdo_status tdo_query_annotate(const tdo_query *q, const char *name,
                                      const tdo_expr *e, tdo_query **out,
                                      tdo_error *err);
/* group_by("role", "customer__email"). */
TDO_API tdo_status tdo_query_group_by(const tdo_query *q,
                                      const char *const *keys, size_t n,
                                      tdo_query **out, tdo_error *err);
/* select_related("customer", "lines__product"): forward FK/O2O paths loaded
 * by JOINs in the same statement; their columns follow the model's, named
 * "<path>__<field attribute>" ("customer__email"), decoding as the related
 * fields.  FieldError for a path that is not a forward FK/O2O chain. */
TDO_API tdo_status tdo_query_select_related(const tdo_query *q,
                                            const char *const *paths,
                                            size_t n, tdo_query **out,
                                            tdo_error *err);

/* One assignment of update(): field = value or field = expression. */
typedef struct tdo_assign {
    const char *field;    /* field name */
    const tdo_value *value; /* or NULL when expr is set */
    const tdo_expr *expr;   /* or NULL */
} tdo_assign;

typedef enum tdo_stmt_kind {
    TDO_STMT_SELECT = 0,
    TDO_STMT_COUNT,
    TDO_STMT_EXISTS,
    TDO_STMT_UPDATE,
    TDO_STMT_DELETE
} tdo_stmt_kind;

/* Compiles q into SQL for dialect d (pure, no I/O).  assigns/nassigns are
 * for TDO_STMT_UPDATE.  *out is new; free with tdo_compiled_free(). */
TDO_API tdo_status tdo_compile(const tdo_query *q, tdo_stmt_kind kind,
                               const tdo_dialect *d, const tdo_assign *assigns,
                               size_t nassigns, tdo_compiled **out,
                               tdo_error *err);
/* Compiles an INSERT of nrows rows of the given fields (values row-major,
 * already coerced); with RETURNING of the primary key where the dialect
 * has it. ignore_conflicts: INSERT OR IGNORE / ON CONFLICT DO NOTHING. */
TDO_API tdo_status tdo_compile_insert(const tdo_model *m, const tdo_dialect *d,
                                      const tdo_field *const *fields,
                                      size_t nfields, const tdo_value *vals,
                                      size_t nrows, bool ignore_conflicts,
                                      tdo_compiled **out, tdo_error *err);
/* UPDATE of the given fields of the row whose primary key is pk (a
 * composite key: pk[0..tdo_model_nkey(m)) in key order). */
TDO_API tdo_status tdo_compile_update_pk(const tdo_model *m,
                                         const tdo_dialect *d,
                                         const tdo_field *const *fields,
                                         const tdo_value *vals, size_t n,
                                         const tdo_value *pk,
                                         tdo_compiled **out, tdo_error *err);
/* DELETE of the row whose primary key is pk (composite: one value per
 * key field). */
TDO_API tdo_status tdo_compile_delete_pk(const tdo_model *m,
                                         const tdo_dialect *d,
                                         const tdo_value *pk,
                                         tdo_compiled **out, tdo_error *err);
/* The SQL text and bound parameters (both belong to c). */
TDO_API const char *tdo_compiled_sql(const tdo_compiled *c);
TDO_API size_t tdo_compiled_nparams(const tdo_compiled *c);
TDO_API const tdo_value *tdo_compiled_params(const tdo_compiled *c);
TDO_API void tdo_compiled_free(tdo_compiled *c);

/* Dialects, static: "sqlite" (and, later, "postgres", "mysql"). */
TDO_API const tdo_dialect *tdo_dialect_by_name(const char *name);
TDO_API const char *tdo_dialect_name(const tdo_dialect *d);

/* ------------------------------------------------------------------ */
/* Schema (DDL)                                                        */
/* ------------------------------------------------------------------ */

/* Returns the schema state of ctx (or of only, or of the models declared
 * in app -- not those introspection made -- when app is not NULL) for
 * dialect d: a new
 * jansson tree {"version", "dialect", "tables": [...]} of the tables in
 * creation order, each {"table", "model" ("app.Model", null for a
 * through table), "columns": [{"name", "type", "null", "pk",
 * "generated", "unique", "default" (SQL text), "fk": {"table",
 * "column", "on_delete"}}], "primary_key" (composite only), "uniques":
 * [{"name", "columns"}], "indexes": [{"name", "columns", "unique"}]},
 * every constraint and index named deterministically.  The caller owns
 * *out (json_decref). */
TDO_API tdo_status tdo_schema_state(const tdo_ctx *ctx, const tdo_dialect *d,
                                    const tdo_model *only, const char *app,
                                    struct json_t **out, tdo_error *err);
/* A rename the user confirmed (the differ never guesses one): a table
 * (old_column NULL) or a column of table new_table. */
typedef struct tdo_rename {
    const char *old_table, *new_table;
    const char *old_column, *new_column;
} tdo_rename;
/* The SQL that turns a database in schema state from into state to, in
 * dialect d's terms: a new tree {"sql": [statements in the order they
 * run], "rebuilds": tables SQLite makes anew (their rows copied; run with
 * foreign key checks off)}; "sql" empty when nothing changed.  Renames
 * only as given; a downgrade is the diff the other way with the renames
 * turned round. The caller owns *out (json_decref). */
TDO_API tdo_status tdo_state_diff(const tdo_dialect *d,
                                  const struct json_t *from,
                                  const struct json_t *to,
                                  const tdo_rename *renames, size_t nrenames,
                                  struct json_t **out, tdo_error *err);
/* One migration as the core applies it (the files are the caller's). */
typedef struct tdo_migration {
    const char *app;            /* "models" */
    const char *version;        /* "0003", ordered as text */
    const char *name;           /* "add_rating", or NULL */
    const struct json_t *sql;   /* the steps, a JSON array: statements as
                                   text, data steps as null */
    const struct json_t *state; /* the schema state after it (recorded) */
    /* runs data step i (a null of sql) inside the migration's
     * transaction; NULL: a data step is an error */
    tdo_status (*data)(size_t i, void *ud, tdo_error *err);
    void *data_ud;
} tdo_migration;
enum {
    TDO_MIG_DOWN = 1, /* revert: run the downgrade sql, forget the record */
    TDO_MIG_FAKE = 2  /* record (or forget) without running the sql */
};
/* Told before each statement (sql) and once at the end (sql NULL). */
typedef void (*tdo_progress_fn)(size_t done, size_t total, const char *sql,
                                void *ud);
/* Creates the migration table (testudo_migrations: app, version, name,
 * content -- the state after the migration, JSON -- applied_at) where
 * there is none. */
TDO_API tdo_status tdo_migrations_table(tdo_conn *c, tdo_error *err);
/* Runs m's statements and records it (or with TDO_MIG_DOWN forgets it):
 * in one transaction where the database has transactional DDL
 * (PostgreSQL, SQLite -- foreign keys off while tables are made anew,
 * checked before COMMIT), so that a failure changes nothing; on MySQL,
 * where each DDL statement commits, a failure says which statements ran
 * and nothing is recorded. */
TDO_API tdo_status tdo_migration_apply(tdo_conn *c, const tdo_migration *m,
                                       unsigned flags,
                                       tdo_progress_fn progress, void *ud,
                                       tdo_error *err);
/* The migrations recorded for app, oldest first: a new JSON array of
 * {"version", "name", "applied_at", "state"} (empty when there is no
 * migration table: none is made); the caller owns it. */
TDO_API tdo_status tdo_migrations_applied(tdo_conn *c, const char *app,
                                          struct json_t **out,
                                          tdo_error *err);
/* Appends the DDL that creates the tables of a schema state; safe: IF
 * NOT EXISTS.  TDO_ERR_NOMEM on out of memory. */
TDO_API tdo_status tdo_state_sql(tdo_sb *sb, const tdo_dialect *d,
                                 const struct json_t *state, bool safe);
/* Returns the DDL (CREATE TABLE / CREATE INDEX, statements separated by
 * ";\n") for every non-abstract model of ctx, or for model only (not
 * NULL); safe: IF NOT EXISTS.  *out is malloc'd; free() it. */
TDO_API tdo_status tdo_schema_sql(const tdo_ctx *ctx, const tdo_dialect *d,
                                  const tdo_model *only, bool safe, char **out,
                                  tdo_error *err);
/* Reads the catalogue of c's database and declares in app of c's context
 * one model per table or view that no declared model covers (the models
 * an earlier call declared in app are taken out first): named after the
 * table (CamelCase, singular), fields typed from the columns, the key
 * (one column, composite, or none), foreign keys of one column as
 * ForeignKeyFields with reverse relations, views read-only; the context
 * is resolved.  *skipped counts the tables left to declared models. */
TDO_API tdo_status tdo_introspect_models(tdo_conn *c, const char *app,
                                         size_t *skipped, tdo_error *err);
/* Takes out (tdo_model_detach()) the models tdo_introspect_models()
 * declared in app (NULL: in every app). */
TDO_API void tdo_ctx_forget_introspected(tdo_ctx *ctx, const char *app);
/* Whether m was declared by tdo_introspect_models(). */
TDO_API bool tdo_model_introspected(const tdo_model *m);
/* The version of the SQLite library linked in ("3.40.1"); static. */
TDO_API const char *tdo_sqlite_version(void);
/* Drops the n tables named (DROP TABLE IF EXISTS, each name quoted by
 * the dialect), whatever references them: foreign key checks off around
 * them (SQLite, MySQL), CASCADE (PostgreSQL). */
TDO_API tdo_status tdo_drop_tables(tdo_conn *conn, const char *const *tables,
                                   size_t n, tdo_error *err);
/* Runs the schema of every non-abstract model of ctx on conn. */
TDO_API tdo_status tdo_generate_schemas(tdo_ctx *ctx, tdo_conn *conn,
                                        bool safe, tdo_error *err);

/* ------------------------------------------------------------------ */
/* Connections and execution                                           */
/* ------------------------------------------------------------------ */

/* Called before each statement runs: SQL text and bound parameters. */
typedef void (*tdo_trace_fn)(void *ud, const char *conn_name, const char *sql,
                             const tdo_value *params, size_t nparams);

/* Returns the engine ("sqlite", "postgres" or "mysql") that a URL scheme
 * names, case-insensitively, or NULL when unknown; len is the scheme's
 * length (without "://").  Static storage. */
TDO_API const char *tdo_url_engine(const char *scheme, size_t len);
/* Returns the i-th known URL scheme (each engine's own name first, then
 * its aliases), or NULL past the end.  Static storage. */
TDO_API const char *tdo_url_scheme(size_t i);

/* Opens (lazily) the connection called name from a URL such as
 * "sqlite://:memory:", "sqlite:///tmp/x.db", "sqlite://db.sqlite3";
 * ctx owns it.  An existing connection of that name is closed and
 * replaced.  ConfigurationError for a bad URL or unknown scheme (never
 * quoting a password). */
TDO_API tdo_status tdo_connect(tdo_ctx *ctx, const char *name, const char *url,
                               tdo_conn **out, tdo_error *err);
/* Finds a connection by name; NULL if none. */
TDO_API tdo_conn *tdo_ctx_conn(const tdo_ctx *ctx, const char *name);
/* The connections of ctx in the order they were first configured; the
 * i-th one (belongs to ctx) or NULL past the end. */
TDO_API size_t tdo_ctx_nconns(const tdo_ctx *ctx);
TDO_API tdo_conn *tdo_ctx_conn_at(const tdo_ctx *ctx, size_t i);
/* Closes and forgets every connection of ctx. */
TDO_API void tdo_close_connections(tdo_ctx *ctx);
TDO_API const char *tdo_conn_name(const tdo_conn *c);
/* The byte ranges of url that hold secrets (the password of the user
 * info -- the text between the first ':' after "://" and the last '@',
 * whatever it holds -- and the values of password-like query
 * parameters), valid or not as a URL: up to max into spans ([0] start,
 * [1] end); returns how many there are. */
TDO_API size_t tdo_url_secrets(const char *url, size_t (*spans)[2],
                               size_t max);
/* Returns a malloc'd copy of url (free()) with every secret replaced by
 * "***"; NULL on out of memory.  The one masker: the shell, the bindings
 * and the core's messages all show URLs through it. */
TDO_API char *tdo_url_mask(const char *url);
/* The URL with any password masked as "***"; belongs to c. */
TDO_API const char *tdo_conn_url(const tdo_conn *c);
TDO_API const tdo_dialect *tdo_conn_dialect(const tdo_conn *c);
TDO_API void tdo_ctx_set_trace(tdo_ctx *ctx, tdo_trace_fn fn, void *ud);
/* Statements run on c since it was opened (to count queries). */
TDO_API uint64_t tdo_conn_query_count(const tdo_conn *c);
/* Asks the running statement of c to stop (from a signal handler too):
 * it fails with an Interrupted error; idle sessions are left alone. */
TDO_API void tdo_conn_interrupt(tdo_conn *c);
/* tdo_conn_interrupt() on every connection of ctx (from a signal handler
 * too, unless connections are being opened or closed at that moment). */
TDO_API void tdo_ctx_interrupt(tdo_ctx *ctx);
/* Makes every session of ctx's connections, open or opened later, refuse
 * writes from now on, enforced by the database (SQLite's PRAGMA
 * query_only, PostgreSQL's and MySQL's read-only session transactions):
 * a write is then an OperationalError.  There is no way back. */
TDO_API tdo_status tdo_ctx_set_read_only(tdo_ctx *ctx, tdo_error *err);
/* The pool of c: its bounds (minsize, maxsize), the sessions open and
 * those busy (pinned by a transaction or read by an open cursor); any
 * pointer may be NULL. */
TDO_API void tdo_conn_pool_stats(const tdo_conn *c, int *minsize,
                                 int *maxsize, int *open, int *busy);
/* Connects c now (connections open lazily, on their first statement):
 * OperationalError when the server cannot be reached or refuses the
 * credentials. */
TDO_API tdo_status tdo_conn_open(tdo_conn *c, tdo_error *err);
/* Closes every session of c (an open transaction is rolled back by the
 * server); c stays configured and opens sessions again on next use. */
TDO_API void tdo_conn_close_sessions(tdo_conn *c);

/* Runs sql with bound params.  rows (may be NULL: results discarded)
 * receives a new cursor; free with tdo_rows_free().  changes (may be NULL)
 * receives the rows changed by an INSERT/UPDATE/DELETE.  Database errors
 * map to IntegrityError / OperationalError with the SQL attached. */
TDO_API tdo_status tdo_conn_execute(tdo_conn *c, const char *sql,
                                    const tdo_value *params, size_t nparams,
                                    tdo_rows **rows, int64_t *changes,
                                    tdo_error *err);
/* Runs a compiled statement; rows decode as the compiled columns' fields. */
TDO_API tdo_status tdo_conn_execute_compiled(tdo_conn *c,
                                             const tdo_compiled *comp,
                                             tdo_rows **rows, int64_t *changes,
                                             tdo_error *err);
/* Runs several ;-separated statements without parameters (DDL). */
TDO_API tdo_status tdo_conn_execute_script(tdo_conn *c, const char *sql,
                                           tdo_error *err);
/* Lists the tables of c's database (with or without a model), sorted;
 * *names is a malloc'd array of *n malloc'd strings: free each, then the
 * array (tdo_free_strings()). */
TDO_API tdo_status tdo_conn_tables(tdo_conn *c, char ***names, size_t *n,
                                   tdo_error *err);
/* Frees an array of n malloc'd strings and the array (NULL is fine). */
TDO_API void tdo_free_strings(char **names, size_t n);
/* The tables and the views of c's database as introspection reads them
 * (PostgreSQL: those of the search_path), each list sorted by name; free
 * both with tdo_free_strings(). */
TDO_API tdo_status tdo_conn_relations(tdo_conn *c, char ***tables,
                                      size_t *ntables, char ***views,
                                      size_t *nviews, tdo_error *err);
/* Transactions; nested begins use savepoints. */
TDO_API tdo_status tdo_conn_begin(tdo_conn *c, tdo_error *err);
TDO_API tdo_status tdo_conn_commit(tdo_conn *c, tdo_error *err);
TDO_API tdo_status tdo_conn_rollback(tdo_conn *c, tdo_error *err);
/* Depth of open transactions (0: autocommit). */
TDO_API int tdo_conn_tx_depth(const tdo_conn *c);

/* Steps the cursor: *has_row is false at the end. */
TDO_API tdo_status tdo_rows_next(tdo_rows *r, bool *has_row, tdo_error *err);
TDO_API size_t tdo_rows_ncols(const tdo_rows *r);
TDO_API const char *tdo_rows_colname(const tdo_rows *r, size_t i);
/* The field a column decodes as, or NULL (raw SQL, COUNT(*)). */
TDO_API const tdo_field *tdo_rows_colfield(const tdo_rows *r, size_t i);
/* Column i of the current row, decoded to the field's type (booleans,
 * decimals, datetimes); borrowed until the next tdo_rows_next(). */
TDO_API tdo_status tdo_rows_get(tdo_rows *r, size_t i, tdo_value *out,
                                tdo_error *err);
TDO_API void tdo_rows_free(tdo_rows *r);

/* Query shortcuts (compile for c's dialect, then run). */
TDO_API tdo_status tdo_query_run(tdo_conn *c, const tdo_query *q,
                                 tdo_rows **rows, tdo_error *err);
/* Like tdo_query_run(), but the rows come from the server as the cursor
 * steps, in constant memory (libpq's single-row mode, MySQL's unbuffered
 * fetch; SQLite always does): for a long loop over many rows.  Another
 * statement on the same session reads the rest of the rows ahead first. */
TDO_API tdo_status tdo_query_stream(tdo_conn *c, const tdo_query *q,
                                    tdo_rows **rows, tdo_error *err);
/* The database's plan for q's SELECT (SQLite's EXPLAIN QUERY PLAN,
 * PostgreSQL's and MySQL's EXPLAIN) as rows; free with tdo_rows_free(). */
TDO_API tdo_status tdo_query_explain(tdo_conn *c, const tdo_query *q,
                                     tdo_rows **rows, tdo_error *err);
TDO_API tdo_status tdo_query_count(tdo_conn *c, const tdo_query *q,
                                   int64_t *count, tdo_error *err);
TDO_API tdo_status tdo_query_exists(tdo_conn *c, const tdo_query *q,
                                    bool *exists, tdo_error *err);
/* Returns the rows changed in *changed. */
TDO_API tdo_status tdo_query_update(tdo_conn *c, const tdo_query *q,
                                    const tdo_assign *assigns, size_t n,
                                    int64_t *changed, tdo_error *err);
TDO_API tdo_status tdo_query_delete(tdo_conn *c, const tdo_query *q,
                                    int64_t *deleted, tdo_error *err);

/* Many-to-many links of the row pk (of r->model) through relation r
 * (TDO_REL_M2M or TDO_REL_REVERSE_M2M).  add inserts the pairs that do not
 * exist yet (never duplicates), with extra through-table columns
 * (through_defaults) given by name; remove deletes the given pairs, or
 * every pair of pk when n == 0 (clear). */
TDO_API tdo_status tdo_m2m_add(tdo_conn *c, const tdo_relation *r,
                               const tdo_value *pk, const tdo_value *targets,
                               size_t n, const char *const *extra_cols,
                               const tdo_value *extra_vals, size_t nextra,
                               tdo_error *err);
TDO_API tdo_status tdo_m2m_remove(tdo_conn *c, const tdo_relation *r,
                                  const tdo_value *pk,
                                  const tdo_value *targets, size_t n,
                                  tdo_error *err);

/* Signals (Tortoise's tortoise.signals): callbacks a model runs around
 * the save and the delete of one row -- tdo_row_insert(),
 * tdo_row_update() and tdo_row_delete() send them, and so do the Lua
 * API's save() and delete(); bulk and queryset statements do not (as
 * Tortoise). */
typedef enum tdo_signal {
    TDO_SIG_PRE_SAVE,
    TDO_SIG_POST_SAVE,
    TDO_SIG_PRE_DELETE,
    TDO_SIG_POST_DELETE,
    TDO_SIG_COUNT
} tdo_signal;

/* What a signal handler is told (valid during the call). */
typedef struct tdo_signal_event {
    tdo_signal signal;
    const tdo_model *model;   /* the sender */
    void *instance;           /* the caller's object for the row (the Lua
                                 instance), or NULL */
    const tdo_value *values;  /* tdo_row_insert(): the row in field
                                 order (changeable by a pre_save handler
                                 before the row is prepared); or NULL */
    const tdo_value *pk;      /* delete: the key; post_save: the new key
                                 when known; or NULL */
    bool created;             /* post_save: the row was inserted */
    const char *const *update_fields; /* save{update_fields}, or NULL */
    size_t nupdate_fields;
    tdo_conn *conn;           /* where the statement runs */
} tdo_signal_event;

/* A signal handler: TDO_OK, or an error set in err; an error from a pre_
 * handler cancels the save or delete (nothing written), one from a
 * post_ handler is returned after it. */
typedef tdo_status (*tdo_signal_fn)(const tdo_signal_event *ev, void *ud,
                                    tdo_error *err);
/* Adds fn (with ud, the caller's) to m's handlers of sig, run in the
 * order added. */
TDO_API tdo_status tdo_model_connect(tdo_model *m, tdo_signal sig,
                                     tdo_signal_fn fn, void *ud,
                                     tdo_error *err);
/* How many handlers m has for sig. */
TDO_API size_t tdo_model_nhandlers(const tdo_model *m, tdo_signal sig);
/* Runs the handlers of ev->model for ev->signal, stopping at the first
 * error (returned). */
TDO_API tdo_status tdo_signal_emit(const tdo_signal_event *ev,
                                   tdo_error *err);
/* Deletes the row of m with key pk as one instance's delete: pre_delete,
 * the DELETE, post_delete (instance: the caller's object, for the
 * handlers).  *deleted (may be NULL) counts the rows deleted. */
TDO_API tdo_status tdo_row_delete(tdo_conn *c, const tdo_model *m,
                                  const tdo_value *pk, void *instance,
                                  int64_t *deleted, tdo_error *err);

/* Saving a row, one step at a time (tdo_row_prepare runs them all).
 * Step 1: *out gets a copy of f's constant default, or a new random
 * UUID for TDO_FIELD_UUID4 (owned: tdo_value_release()); false (out
 * NULL) when f has none (another default computed per row is the
 * caller's). */
TDO_API bool tdo_field_default(const tdo_field *f, tdo_value *out);
/* Writes a new random UUID (version 4, libuuid) into out: 36 lower-case
 * characters and a NUL. */
TDO_API void tdo_uuid4(char out[37]);
/* Step 2: whether f takes the time now on this save -- auto_now always,
 * auto_now_add when creating a row that does not set it -- and *out that
 * time as f's type (date, time or datetime). */
TDO_API bool tdo_field_auto_now(const tdo_field *f, bool creating,
                                bool is_set, const tdo_datetime *now,
                                tdo_value *out);
/* Steps 3 and 4 are tdo_field_coerce() and tdo_field_validate() with
 * tdo_field_check().  tdo_row_prepare runs the four on a row of m:
 * values[i] and set[i] for field i (set: given); creating: an INSERT.
 * Fields not set take their constant default (when creating), auto_now
 * fields the time now, and every set value is made canonical (replacing
 * values[i], owned) and checked (ValidationError naming the field). */
TDO_API tdo_status tdo_row_prepare(const tdo_model *m, tdo_value *values,
                                   bool *set, bool creating,
                                   const tdo_datetime *now, tdo_error *err);
/* Updates the row of m with key pk from the fields set (the key itself
 * is never written) as one instance's save: pre_save (a handler may
 * still change values), tdo_row_prepare (not creating), the UPDATE,
 * post_save (created false); instance: the caller's object, for the
 * handlers.  *changed (may be NULL) counts the rows changed. */
TDO_API tdo_status tdo_row_update(tdo_conn *c, const tdo_model *m,
                                  tdo_value *values, bool *set,
                                  const tdo_value *pk, void *instance,
                                  int64_t *changed, tdo_error *err);
/* How the core reads and writes a caller's object for one row while it
 * saves it (the Lua bindings: an instance); neither may longjmp. */
typedef struct tdo_row_io {
    /* Reads the row obj holds: for each field i of m that want[i] asks
     * for (want NULL: every one), values[i] (owned by the core when
     * values[i].owned, else valid until the save returns) and given[i]
     * (whether obj sets it: a field not given takes its default). */
    tdo_status (*read)(void *obj, const tdo_model *m, const bool *want,
                       tdo_value *values, bool *given, tdo_error *err);
    /* Stores back what the save wrote: values[i] (borrowed) for each
     * field i with written[i] (canonical values, auto_now times,
     * defaults, the new key); inserted: the row was just inserted (mark
     * obj saved).  Runs before post_save. */
    tdo_status (*write)(void *obj, const tdo_model *m, const tdo_value *values,
                        const bool *written, bool inserted, tdo_error *err);
} tdo_row_io;

/* How tdo_row_save() saves (Tortoise's save() arguments). */
typedef struct tdo_save_opts {
    bool saved;        /* the object is a row already: UPDATE it */
    bool force_create; /* INSERT whatever saved says */
    bool force_update; /* UPDATE; no such row is an IntegrityError */
    const char *const *update_fields; /* the field names an UPDATE
                                         writes (NULL: every field) */
    size_t nupdate_fields;
} tdo_save_opts;

/* Saves the row the caller's object obj holds, as an instance's save():
 * an INSERT when it is not saved (or force_create, or an unsaved key),
 * else an UPDATE of its fields (update_fields only, when given) by its
 * key.  pre_save (instance obj; a handler may still change it), then per
 * field: the value read, its default (creating), auto_now time,
 * coercion, validators and checks, the value stored back; the statement;
 * the generated key stored back; post_save.  *created (may be NULL) says
 * which. Errors: FieldError for an unknown update field,
 * ValidationError, IntegrityError (force_update of no row), the
 * database's, a handler's. */
TDO_API tdo_status tdo_row_save(tdo_conn *c, const tdo_model *m,
                                const tdo_row_io *io, void *obj,
                                const tdo_save_opts *opts, bool *created,
                                tdo_error *err);
/* How tdo_bulk_create() inserts (bulk_create's arguments). */
typedef struct tdo_bulk_opts {
    size_t batch_size;     /* rows a statement (0: tdo_insert_batches') */
    bool ignore_conflicts; /* rows clashing with a unique key are skipped */
    const struct tdo_upsert *upsert; /* or NULL */
} tdo_bulk_opts;
/* Inserts the rows the caller's n objects objs[] hold (read and written
 * through io) as bulk_create: each prepared as tdo_row_save() prepares
 * an INSERT, all setting the same fields (ParamsError otherwise), with
 * no signals (as Tortoise); a generated key is left to the database for
 * every row unless all rows have one.  Then, unless ignore_conflicts,
 * each object gets its key (after an upsert where the database does not
 * report keys, read back by the one conflict field) and is marked
 * inserted.  All or nothing when there are several statements. */
TDO_API tdo_status tdo_bulk_create(tdo_conn *c, const tdo_model *m,
                                   const tdo_row_io *io, void *const *objs,
                                   size_t n, const tdo_bulk_opts *o,
                                   tdo_error *err);
/* tdo_row_prepare (creating, now) and the INSERT of the fields set; *pk
 * (may be NULL) gets the primary key, owned by the caller. */
TDO_API tdo_status tdo_row_insert(tdo_conn *c, const tdo_model *m,
                                  tdo_value *values, bool *set, tdo_value *pk,
                                  tdo_error *err);
/* Inserts nrows rows (values row-major over fields, already coerced);
 * pks (may be NULL) receives nrows primary keys, owned by the caller
 * (tdo_value_release() each). */
TDO_API tdo_status tdo_insert(tdo_conn *c, const tdo_model *m,
                              const tdo_field *const *fields, size_t nfields,
                              const tdo_value *vals, size_t nrows,
                              bool ignore_conflicts, tdo_value *pks,
                              tdo_error *err);
/* An upsert (bulk_create's on_conflict / update_fields): a row whose
 * columns on[] clash with an existing row's (a unique constraint) updates
 * that row's columns set[] from the new row instead of failing. */
typedef struct tdo_upsert {
    const tdo_field *const *on; /* the conflict target: unique columns */
    size_t non;
    const tdo_field *const *set; /* the columns the new row overwrites */
    size_t nset;
} tdo_upsert;
/* tdo_insert_batches with an upsert (ON CONFLICT ... DO UPDATE; MySQL:
 * ON DUPLICATE KEY UPDATE, whose target is any unique key); pks as
 * tdo_insert: where the database reports them (RETURNING), the keys of
 * the rows inserted or updated. ParamsError without on / set. */
TDO_API tdo_status tdo_insert_upsert(tdo_conn *c, const tdo_model *m,
                                     const tdo_field *const *fields,
                                     size_t nfields, const tdo_value *values,
                                     size_t nrows, size_t batch,
                                     const tdo_upsert *u, tdo_value *pks,
                                     tdo_error *err);
/* tdo_insert in batches of batch rows (0: statements of 100 rows, fewer
 * when that many would pass 32766 parameters): when there are several
 * they are all or nothing, in one transaction (a savepoint inside an
 * open one) that a failure rolls back. */
TDO_API tdo_status tdo_insert_batches(tdo_conn *c, const tdo_model *m,
                                      const tdo_field *const *fields,
                                      size_t nfields, const tdo_value *values,
                                      size_t nrows, size_t batch,
                                      bool ignore_conflicts, tdo_value *pks,
                                      tdo_error *err);
/* Updates fields of the row with primary key pk (composite: one value
 * per key field, in key order); *changed gets 0 or 1. */
TDO_API tdo_status tdo_update_pk(tdo_conn *c, const tdo_model *m,
                                 const tdo_field *const *fields,
                                 const tdo_value *vals, size_t n,
                                 const tdo_value *pk, int64_t *changed,
                                 tdo_error *err);
/* Deletes the row with primary key pk (composite: one value per key
 * field); *changed gets 0 or 1. */
TDO_API tdo_status tdo_delete_pk(tdo_conn *c, const tdo_model *m,
                                 const tdo_value *pk, int64_t *changed,
                                 tdo_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TESTUDO_H */
