/*
 * ltdo.h -- declarations shared by the files of the Lua module "testudo".
 *
 * Registry layout (one tdo_ctx per luaopen_testudo call):
 *   registry["testudo.ctx"]   the current context userdata (struct lctx);
 *                             its user value is the state table below.
 *   state table fields:       apps_conn {app = conn name}, models
 *                             {lightuserdata(tdo_model) = Model}, saved
 *                             (weak-keyed instance -> true), related
 *                             (weak-keyed instance -> {name = obj}),
 *                             errors {name = class}, Base (orm.Model),
 *                             ModelMeta, orm.
 */
#ifndef LTDO_H
#define LTDO_H

#include "testudo.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define LTDO_CTX       "testudo.ctx"
#define LTDO_CTXMT     "testudo.Context"
#define LTDO_QS        "testudo.QuerySet"
#define LTDO_QBOX      "testudo.Query"
#define LTDO_Q         "testudo.Q"
#define LTDO_F         "testudo.F"
#define LTDO_WHEN      "testudo.When"
#define LTDO_DECIMAL   "testudo.Decimal"
#define LTDO_DATETIME  "testudo.datetime"
#define LTDO_DATE      "testudo.date"
#define LTDO_TIME      "testudo.time"
#define LTDO_DURATION  "testudo.duration"
#define LTDO_NULL      "testudo.null"
#define LTDO_BOX       "testudo.Box"
#define LTDO_VALS      "testudo.Values"
#define LTDO_MODELREF  "testudo.ModelRef"
#define LTDO_FIELDSPEC "testudo.FieldSpec"
#define LTDO_CONN      "testudo.Connection"
#define LTDO_ROWS      "testudo.Rows"

/* The context userdata. */
/* The core context of L's testudo module, or NULL before it is loaded;
 * belongs to the module. */
tdo_ctx *ltdo_context(lua_State *L);

/* Reads the cursor rows (held by the box on top of the stack) into a
 * raw-SQL rows object (execute_query's) and closes it; pushes the object
 * and the row count (changes when the cursor has no columns). */
int ltdo_push_rows(lua_State *L, tdo_rows *rows, int64_t changes);

/* The connection name argument idx gives, or when it is absent the one
 * in use (the shell's .open NAME, else "default"); valid while the
 * argument or the state table holds it. */
const char *ltdo_conn_arg(lua_State *L, int idx);

typedef struct lctx {
    tdo_ctx *ctx; /* owned; freed by __gc */
    bool dirty;   /* models changed since the last tdo_ctx_resolve() */
    bool inited;  /* orm.init ran */
} lctx;

/* Records that a partial instance (only()) exists: attribute accesses
 * check for deferred fields from then on (linstance.c). */
void ltdo_note_partial(void);

/* A model table's handle (raw key "__tdo"); user value: the lctx. */
typedef struct lmodelref {
    tdo_model *m; /* belongs to the ctx */
} lmodelref;

/* A growable array of owned values, released by __gc. */
typedef struct ltdo_vals {
    tdo_value *v;
    size_t n, cap;
} ltdo_vals;

/* A box around one C object freed by free_fn on __gc/__close. */
typedef struct ltdo_box {
    void *p;
    void (*free_fn)(void *);
} ltdo_box;

/* ---- ltestudo.c ---------------------------------------------------- */

/* Returns the current context (raises ConfigurationError if none). */
lctx *ltdo_ctx(lua_State *L);
/* Pushes the state table of the current context. */
void ltdo_state(lua_State *L);
/* Pushes state[key]. */
int ltdo_state_get(lua_State *L, const char *key);
/* Resolves the registry when models changed; raises on failure. */
void ltdo_resolve(lua_State *L);
/* Returns the connection a model's writes run on (raises
 * ConfigurationError when there is none); ltdo_model_conn_for(L, m,
 * NULL, true). */
tdo_conn *ltdo_model_conn(lua_State *L, const tdo_model *m);
/* Returns the connection for a read or a write of m: the one named using
 * (not NULL), else the routers' db_for_read/db_for_write, else the
 * shell's current one, the app's default_connection, "default". */
tdo_conn *ltdo_model_conn_for(lua_State *L, const tdo_model *m,
                              const char *using, bool write);
/* The connection of a queryset at qs (its using_db, or as above). */
tdo_conn *ltdo_qs_conn(lua_State *L, int qs, const tdo_model *m, bool write);
/* Pushes the connection name given to using_db at idx (a name, an
 * orm.connection() object or a transaction; nil pushes nil and returns
 * NULL); raises when no such connection exists. */
const char *ltdo_using_name(lua_State *L, int idx);
/* Binds the queryset at qs to the connection name at name_idx. */
void ltdo_qs_set_db(lua_State *L, int qs, int name_idx);
/* Gives the queryset at to the using_db of the queryset at from. */
void ltdo_qs_inherit_db(lua_State *L, int from, int to);
/* Pushes a box holding nothing; set ->p after acquiring the object. */
ltdo_box *ltdo_box_new(lua_State *L, void (*free_fn)(void *));
/* Frees the box's object now (idempotent). */
void ltdo_box_close(ltdo_box *b);
/* Pushes an empty value array. */
ltdo_vals *ltdo_vals_new(lua_State *L);
/* Returns a fresh NULL slot at the end of the array (raises on OOM). */
tdo_value *ltdo_vals_add(lua_State *L, ltdo_vals *vb);

/* ---- lerror.c -------------------------------------------------------- */

/* Creates the exception classes into the state table and orm.exceptions
 * (the table at index orm_idx). */
void ltdo_open_errors(lua_State *L, int orm_idx);
/* Pushes the class called name (nil if none). */
void ltdo_push_class(lua_State *L, const char *name);
/* Pushes a new error object of class cls_idx. */
void ltdo_push_error_obj(lua_State *L, int cls_idx, const char *msg,
                         const char *sql);
/* Raises err (releasing it first) as an error object. */
int ltdo_error(lua_State *L, tdo_error *err);
/* Raises a new error of the class of code with a formatted message. */
int ltdo_raise(lua_State *L, tdo_status code, const char *fmt, ...);
/* Makes a subclass of the class at parent_idx named name; pushes it. */
void ltdo_subclass(lua_State *L, int parent_idx, const char *name);
/* Pushes the message of an error object or a string form of any value. */
const char *ltdo_error_message(lua_State *L, int idx);

/* ---- lvalue.c -------------------------------------------------------- */

void ltdo_open_values(lua_State *L, int orm_idx);
/* Whether idx is orm.null. */
bool ltdo_isnull(lua_State *L, int idx);
void ltdo_push_null(lua_State *L);
/* Pushes a value as Lua (NULL -> nil). */
void ltdo_push_value(lua_State *L, const tdo_value *v);
/* Converts a Lua value to a borrowed tdo_value (strings point into Lua
 * strings, which must stay anchored); instances become their primary
 * key.  Returns false when the value has no tdo form (tables, functions). */
bool ltdo_to_value(lua_State *L, int idx, tdo_value *out);
/* Converts a Lua value for field f into an owned canonical value appended
 * to vb (coerce + validate when validate); raises FieldError or
 * ValidationError naming the field. */
/* Raises ValidationError when an instance of model given is put in the
 * relation field f of another model (Tortoise's message). */
void ltdo_check_related(lua_State *L, const tdo_field *f,
                        const tdo_model *given);
/* tdo_field_validate() with L as the state Lua validators (TDO_V_CALL
 * made by ltdo_spec_validators) run in. */
tdo_status ltdo_validate(lua_State *L, const tdo_field *f, const tdo_value *v,
                         tdo_error *err);
/* Reads the validators of the field spec at spec (orm.validators objects
 * and plain functions) into t (arrays anchored in the table at anchor;
 * a function is kept for good in the registry). */
void ltdo_spec_validators(lua_State *L, int spec, const char *name,
                          tdo_field_decl *t, int anchor);
/* Reads one orm.validators object at idx into *out (strings anchored in
 * anchor); false when it is none (a plain callable). */
bool ltdo_builtin_validator(lua_State *L, int idx, tdo_validator *out,
                            int anchor);
/* The Lua state whose call into the core is under way (the core's
 * callbacks into Lua run in it), or NULL. */
lua_State *ltdo_caller(void);
/* Makes L the state of a call into the core; returns the one before,
 * to be restored with ltdo_enter() when the call returns. */
lua_State *ltdo_enter(lua_State *L);
/* What the Lua signal handlers of a save or delete are told: stack
 * indexes of the instance, of the using_db connection object and of the
 * update_fields list (0: nil).  The first member of the object the
 * bindings give the core as the instance. */
typedef struct lsig_args {
    int instance, db, fields;
} lsig_args;
/* tdo_row_save() of the instance at instance through io, obj (starting
 * with the lsig_args this fills) its object (lsignal.c): the Lua
 * handlers get (Model, instance, created or nil, the connection object
 * of conn, the update_fields list at fields or nil); raises on error, a
 * Lua error of a handler or of io as it was. */
void ltdo_save_row(lua_State *L, const tdo_model *m, int instance, int fields,
                   tdo_conn *conn, const tdo_row_io *io, lsig_args *obj,
                   const tdo_save_opts *o, bool *created);
/* Keeps the Lua error object on top of L (popped) for the bindings to
 * raise again once the core returns; sets err from its message. */
tdo_status ltdo_keep_error(lua_State *L, tdo_error *err);
/* Raises the error of a core call: the Lua error kept by
 * ltdo_keep_error() when there is one, else err. */
int ltdo_raise_kept(lua_State *L, tdo_error *err);
/* tdo_row_delete() of the instance at instance, its signals' Lua handlers
 * told; raises on error. */
tdo_status ltdo_delete_row(lua_State *L, const tdo_model *m, int instance,
                           tdo_conn *conn, const tdo_value *pk,
                           int64_t *deleted);
/* Pushes the Lua value of the JSON text s (n bytes), parsed by jansson
 * (lua error "invalid JSON at position N: ..." when it is not JSON). */
void ltdo_push_json(lua_State *L, const char *s, size_t n);
/* Whether s (n bytes) is JSON text. */
bool ltdo_json_valid(const char *s, size_t n);
/* Pushes the JSON text of the value at idx (written by orm/json.c: keys
 * sorted, compact); raises FieldError for what JSON cannot hold unless
 * lenient (display), where it becomes text. */
void ltdo_json_encode(lua_State *L, int idx, bool lenient);
/* Sets orm._json_encode(v [, lenient]) on the orm table at orm_idx. */
void ltdo_open_json(lua_State *L, int orm_idx);
/* C.connect_signal(Model, "pre_save" | ..., fn). */
int ltdo_c_connect_signal(lua_State *L);
/* Sets orm._run_validator on the orm table at orm_idx. */
void ltdo_open_validators(lua_State *L, int orm_idx);
/* Reads the Lua value at idx as what field f is given, not yet coerced:
 * an instance as its key (or to_field), a JSONField's table as JSON text
 * (pushed: *out borrows it, as it borrows strings from the Lua values);
 * raises for what f cannot hold. */
void ltdo_field_input(lua_State *L, int idx, const tdo_field *f,
                      tdo_value *out);
tdo_value *ltdo_field_value(lua_State *L, int idx, const tdo_field *f,
                            ltdo_vals *vb, bool validate);
/* Pushes a new Decimal / datetime-kind / duration userdata. */
tdo_decimal *ltdo_push_decimal(lua_State *L, const tdo_decimal *d);
void ltdo_push_datetime(lua_State *L, const tdo_datetime *dt, tdo_type kind);
void ltdo_push_duration(lua_State *L, int64_t us);

/* ---- lexpr.c --------------------------------------------------------- */

void ltdo_open_expr(lua_State *L, int orm_idx);
/* Returns the node of a Q userdata at idx, or NULL. */
tdo_qnode *ltdo_toq(lua_State *L, int idx);
/* Returns the expression of an F userdata at idx, or NULL. */
tdo_expr *ltdo_tof(lua_State *L, int idx);
/* Builds a Q userdata from the filter table at idx (array part: Q
 * objects, hash part: lookups; a Q or nil is accepted too) joined by AND
 * (or by the table's join_type when honour_join).  Pushes the Q userdata
 * and returns its node (owned by the userdata). */
tdo_qnode *ltdo_build_q(lua_State *L, int idx, bool honour_join);

/* ---- lmodel.c -------------------------------------------------------- */

void ltdo_open_model(lua_State *L, int orm_idx);
/* Returns the C model of a model table at idx, or NULL. */
tdo_model *ltdo_tomodel(lua_State *L, int idx);
/* Like ltdo_tomodel() but raises when idx is not a model. */
tdo_model *ltdo_checkmodel(lua_State *L, int idx);
/* Pushes the model table of m (nil if unknown). */
void ltdo_push_model(lua_State *L, const tdo_model *m);
/* Pushes the model of the instance at idx and returns its C model, or
 * returns NULL (pushing nothing) when idx is not an instance. */
tdo_model *ltdo_instance_model(lua_State *L, int idx);
/* The query of the queryset at idx (borrowed), or NULL when it is none. */
tdo_query *ltdo_toquery(lua_State *L, int idx);
/* Pushes and returns the attribute key of field f in instances
 * ("customer_id" for a FK). */
const char *ltdo_field_attr(lua_State *L, const tdo_field *f);
/* Finds the field for an attribute key (name, "customer_id" or "pk"). */
const tdo_field *ltdo_field_by_attr(const tdo_model *m, const char *key);

/* ---- linstance.c ----------------------------------------------------- */

void ltdo_open_instance(lua_State *L, int base_idx, int C_idx);
/* Pushes the weak "saved" table. */
void ltdo_push_saved(lua_State *L);
/* Reads the current row of r into a new instance of the model at
 * model_idx; names_idx: an array of attribute names per column; saved_idx
 * the saved table. Pushes it. */
void ltdo_push_instance_row(lua_State *L, tdo_rows *r, int model_idx,
                            int names_idx, int saved_idx);
/* Instance metamethods, shared by every model table. */
int ltdo_inst_index(lua_State *L);
int ltdo_inst_newindex(lua_State *L);
int ltdo_inst_eq(lua_State *L);
int ltdo_inst_tostring(lua_State *L);
/* Tortoise's repr of an instance: <User: 1> (or <User> without a pk). */
int ltdo_inst_repr(lua_State *L);
int ltdo_inst_new(lua_State *L);

/* ---- lqueryset.c ----------------------------------------------------- */

void ltdo_open_queryset(lua_State *L, int base_idx, int C_idx);
/* Pushes a new queryset over all rows of the model at model_idx. */
void ltdo_push_all(lua_State *L, int model_idx);
/* Replaces argument 1 (a model) by Model:all() and calls the queryset
 * method name with the arguments; returns its results. */
int ltdo_qs_method(lua_State *L, const char *name);

/* Sets the trace hook of the context of L: fn(ud, ...) sees every
 * statement before it runs (NULL: none).  The shell's echo uses it. */
void ltdo_set_trace(lua_State *L, tdo_trace_fn fn, void *ud);

/* Resolves the models' references if they changed, without raising:
 * true when every reference is bound (ltdo_resolve raises instead). */
bool ltdo_try_resolve(lua_State *L);

/* Opens the module (require "testudo"): returns the orm table. */
int luaopen_testudo(lua_State *L);

/* Adds the migration functions (lmigrate.c) to the C table at C_idx. */
void ltdo_open_migrate(lua_State *L, int C_idx);

/* ---- ltx.c ----------------------------------------------------------- */

void ltdo_open_tx(lua_State *L, int orm_idx, int C_idx);
/* Finds the connection called name ("default" falls back to the first
 * one configured); raises ConfigurationError when there is none. */
tdo_conn *ltdo_conn_named(lua_State *L, const char *name);
/* Runs sql with Lua params (table at params_idx, 0: none) on c and pushes
 * the rows as an array of tables and the row count. */
/* Box finalizer of a cursor (tdo_rows_free). */
void ltdo_rows_free(void *rows);
/* Runs sql on c with the values of the array at params_idx (0, or not a
 * table: none) as its parameters; pushes the parameter values and a box
 * that closes the cursor (2 slots) and returns the cursor (NULL: none
 * asked for -- want_rows false -- or no result set); *changes (may be
 * NULL) the rows changed.  what prefixes the message of a bad parameter
 * ("raw: ").  Raises on error. */
tdo_rows *ltdo_run_sql(lua_State *L, tdo_conn *c, const char *sql,
                       int params_idx, bool want_rows, int64_t *changes,
                       const char *what);
/* Steps rows (NULL: no rows) to its next row: true, or false at the end;
 * raises the driver's error. */
bool ltdo_rows_step(lua_State *L, tdo_rows *rows);
int ltdo_execute_query(lua_State *L, tdo_conn *c, const char *sql,
                       int params_idx);

#endif /* LTDO_H */
