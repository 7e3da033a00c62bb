/*
 * ltestudo.c -- luaopen_testudo: the context userdata, the state table,
 * small shared helpers (boxes, value arrays), connections and schemas
 * for the pure-Lua parts, and the loading of the embedded lua_bindings/testudo
 * chunks.
 */
#include "ltdo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tdo_embedded {
    const char *name;
    const char *src;
    size_t len;
};
extern const struct tdo_embedded tdo_lua_sources[];

/* Order in which the embedded chunks run; others follow by name. */
static const char *const chunk_order[] = {"fields", "validators", "model",
                                          "init",   "tx",         NULL};

/* ------------------------------------------------------------------ */
/* Context and state                                                   */
/* ------------------------------------------------------------------ */

static int ctx_gc(lua_State *L)
{
    lctx *c = luaL_checkudata(L, 1, LTDO_CTXMT);
    if (c->ctx) {
        tdo_ctx_free(c->ctx);
        c->ctx = NULL;
    }
    return 0;
}

lctx *ltdo_ctx(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_CTX);
    lctx *c = luaL_testudata(L, -1, LTDO_CTXMT);
    lua_pop(L, 1);
    if (c == NULL || c->ctx == NULL)
        luaL_error(L, "testudo: no context (module not loaded)");
    return c;
}

/* The core context of L's testudo module, or NULL before it is loaded
 * (the shell hands it to its SIGINT handler). */
tdo_ctx *ltdo_context(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_CTX);
    lctx *c = luaL_testudata(L, -1, LTDO_CTXMT);
    lua_pop(L, 1);
    return c ? c->ctx : NULL;
}

void ltdo_state(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_CTX);
    if (lua_getiuservalue(L, -1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_remove(L, -2);
}

int ltdo_state_get(lua_State *L, const char *key)
{
    ltdo_state(L);
    int t = lua_getfield(L, -1, key);
    lua_remove(L, -2);
    return t;
}

void ltdo_resolve(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    if (!c->dirty)
        return;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_ctx_resolve(c->ctx, &err))
        ltdo_error(L, &err);
    c->dirty = false;
}

/* Resolves the models' references when they changed, quietly: true when
 * they are all bound (see ltdo.h). */
bool ltdo_try_resolve(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    if (c->dirty) {
        tdo_error err = TDO_ERROR_INIT;
        if (tdo_ctx_resolve(c->ctx, &err) == TDO_OK)
            c->dirty = false;
        tdo_error_release(&err);
    }
    return !c->dirty;
}

/* Asks the routers (state.routers, an array) for the connection of m:
 * router:db_for_write(Model) or router:db_for_read(Model), the first
 * name returned wins.  Pushes the name or nil. */
static void route(lua_State *L, const tdo_model *m, bool write)
{
    luaL_checkstack(L, 8, "testudo");
    int top = lua_gettop(L);
    if (ltdo_state_get(L, "routers") != LUA_TTABLE) {
        lua_settop(L, top);
        lua_pushnil(L);
        return;
    }
    int routers = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, routers);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, routers, i);
        int r = lua_gettop(L);
        lua_getfield(L, r, write ? "db_for_write" : "db_for_read");
        if (!lua_isfunction(L, -1)) {
            lua_settop(L, routers);
            continue;
        }
        /* function Router:db_for_read(model), or db_for_read(model) */
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">u", &ar);
        bool method = !(ar.nparams == 1 && !ar.isvararg);
        if (method)
            lua_pushvalue(L, r);
        ltdo_push_model(L, m);
        /* a callback into Lua: under pcall, the error re-raised as is */
        if (lua_pcall(L, method ? 2 : 1, 1, 0) != LUA_OK)
            lua_error(L);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return;
        }
        if (!lua_isnil(L, -1))
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "router %s returned a %s (expected a connection name "
                       "or nil)",
                       write ? "db_for_write" : "db_for_read",
                       luaL_typename(L, -1));
        lua_settop(L, routers);
    }
    lua_settop(L, top);
    lua_pushnil(L);
}

tdo_conn *ltdo_model_conn_for(lua_State *L, const tdo_model *m,
                              const char *using, bool write)
{
    if (using)
        return ltdo_conn_named(L, using);
    lctx *c = ltdo_ctx(L);
    tdo_conn *conn = NULL;
    int top = lua_gettop(L);
    route(L, m, write);
    if (lua_isstring(L, -1)) {
        conn = ltdo_conn_named(L, lua_tostring(L, -1));
        lua_settop(L, top);
        return conn;
    }
    lua_settop(L, top);
    ltdo_state(L);
    /* the shell's .open NAME */
    lua_getfield(L, -1, "use_conn");
    if (lua_isstring(L, -1))
        conn = tdo_ctx_conn(c->ctx, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "apps_conn");
    if (conn == NULL && lua_istable(L, -1)) {
        lua_getfield(L, -1, tdo_model_app(m));
        if (lua_isstring(L, -1))
            conn = tdo_ctx_conn(c->ctx, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (conn == NULL)
        conn = tdo_ctx_conn(c->ctx, "default");
    if (conn == NULL) {
        lua_getfield(L, -1, "first_conn");
        if (lua_isstring(L, -1))
            conn = tdo_ctx_conn(c->ctx, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (conn == NULL)
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "No DB associated to model %s (call orm.init first)",
                   tdo_model_name(m));
    ltdo_resolve(L);
    return conn;
}

tdo_conn *ltdo_model_conn(lua_State *L, const tdo_model *m)
{
    return ltdo_model_conn_for(L, m, NULL, true);
}

/* Pushes the weak table queryset -> using_db name. */
static void push_qs_db(lua_State *L)
{
    ltdo_state(L);
    if (lua_getfield(L, -1, "qs_db") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "qs_db");
    }
    lua_remove(L, -2);
}

const char *ltdo_using_name(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return NULL;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
    } else if (luaL_testudata(L, idx, LTDO_CONN)) {
        lua_getiuservalue(L, idx, 1);
    } else if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "name"); /* a Transaction object */
    } else {
        lua_pushnil(L);
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        ltdo_raise(L, TDO_ERR_PARAMS,
                   "using_db takes a connection name or a connection "
                   "(got a %s)",
                   luaL_typename(L, idx));
    const char *name = lua_tostring(L, -1);
    ltdo_conn_named(L, name); /* raises when there is no such connection */
    return name;
}

void ltdo_qs_set_db(lua_State *L, int qs, int name_idx)
{
    qs = lua_absindex(L, qs);
    name_idx = lua_absindex(L, name_idx);
    push_qs_db(L);
    lua_pushvalue(L, qs);
    lua_pushvalue(L, name_idx);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void ltdo_qs_inherit_db(lua_State *L, int from, int to)
{
    from = lua_absindex(L, from);
    to = lua_absindex(L, to);
    push_qs_db(L);
    lua_pushvalue(L, from);
    if (lua_rawget(L, -2) != LUA_TNIL) {
        lua_pushvalue(L, to);
        lua_insert(L, -2);
        lua_rawset(L, -3);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

tdo_conn *ltdo_qs_conn(lua_State *L, int qs, const tdo_model *m, bool write)
{
    qs = lua_absindex(L, qs);
    push_qs_db(L);
    lua_pushvalue(L, qs);
    lua_rawget(L, -2);
    const char *name = lua_tostring(L, -1); /* anchored in qs_db */
    lua_pop(L, 2);
    return ltdo_model_conn_for(L, m, name, write);
}

/* ------------------------------------------------------------------ */
/* Boxes and value arrays                                              */
/* ------------------------------------------------------------------ */

void ltdo_box_close(ltdo_box *b)
{
    if (b && b->p) {
        void *p = b->p;
        b->p = NULL;
        if (b->free_fn)
            b->free_fn(p);
    }
}

static int box_gc(lua_State *L)
{
    ltdo_box_close(luaL_checkudata(L, 1, LTDO_BOX));
    return 0;
}

ltdo_box *ltdo_box_new(lua_State *L, void (*free_fn)(void *))
{
    ltdo_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    b->free_fn = free_fn;
    luaL_setmetatable(L, LTDO_BOX);
    return b;
}

static int vals_gc(lua_State *L)
{
    ltdo_vals *vb = luaL_checkudata(L, 1, LTDO_VALS);
    for (size_t i = 0; i < vb->n; i++)
        tdo_value_release(&vb->v[i]);
    free(vb->v);
    vb->v = NULL;
    vb->n = vb->cap = 0;
    return 0;
}

ltdo_vals *ltdo_vals_new(lua_State *L)
{
    ltdo_vals *vb = lua_newuserdatauv(L, sizeof *vb, 0);
    vb->v = NULL;
    vb->n = vb->cap = 0;
    luaL_setmetatable(L, LTDO_VALS);
    return vb;
}

tdo_value *ltdo_vals_add(lua_State *L, ltdo_vals *vb)
{
    if (vb->n == vb->cap) {
        size_t cap = vb->cap ? vb->cap * 2 : 16;
        tdo_value *v = realloc(vb->v, cap * sizeof *v);
        if (v == NULL)
            luaL_error(L, "not enough memory");
        vb->v = v;
        vb->cap = cap;
    }
    tdo_value *slot = &vb->v[vb->n++];
    *slot = tdo_value_null();
    return slot;
}

/* ------------------------------------------------------------------ */
/* Trace                                                               */
/* ------------------------------------------------------------------ */

/* Sets the trace hook of the context of L (see ltdo.h). */
void ltdo_set_trace(lua_State *L, tdo_trace_fn fn, void *ud)
{
    tdo_ctx_set_trace(ltdo_ctx(L)->ctx, fn, ud);
}

/* ------------------------------------------------------------------ */
/* Private functions for the Lua parts (the C table)                   */
/* ------------------------------------------------------------------ */

/* C.connect(name, url) */
static int c_connect(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    const char *name = luaL_checkstring(L, 1);
    const char *url = luaL_checkstring(L, 2);
    tdo_error err = TDO_ERROR_INIT;
    tdo_conn *conn;
    if (tdo_connect(c->ctx, name, url, &conn, &err))
        return ltdo_error(L, &err);
    return 0;
}

static int c_close_connections(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    tdo_close_connections(c->ctx);
    return 0;
}

/* C.check_url(url): raises the ConfigurationError tdo_connect would give
 * (checked on a scratch context, nothing opened). */
static int c_check_url(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    tdo_ctx *scratch = tdo_ctx_new();
    if (scratch == NULL)
        return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = tdo_connect(scratch, "check", url, NULL, &err);
    tdo_ctx_free(scratch);
    if (st)
        return ltdo_error(L, &err);
    return 0;
}

/* C.mask_url(url) -> the URL with its secrets masked as *** by the
 * core's one masker (a URL that does not parse is masked too). */
static int c_mask_url(lua_State *L)
{
    char *m = tdo_url_mask(luaL_checkstring(L, 1));
    if (m == NULL)
        return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    lua_pushstring(L, m);
    free(m);
    return 1;
}

static int c_has_conn(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    lua_pushboolean(L, tdo_ctx_conn(c->ctx, luaL_checkstring(L, 1)) != NULL);
    return 1;
}

/* C.url_schemes() -> { scheme = engine, ... } and the array of schemes
 * in the core's order: the one table of URL schemes. */
static int c_url_schemes(lua_State *L)
{
    lua_newtable(L);
    lua_newtable(L);
    for (size_t i = 0; tdo_url_scheme(i) != NULL; i++) {
        const char *s = tdo_url_scheme(i);
        lua_pushstring(L, tdo_url_engine(s, strlen(s)));
        lua_setfield(L, -3, s);
        lua_pushstring(L, s);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

/* C.open_conn(name): connects the named connection now. */
static int c_open_conn(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    const char *name = luaL_checkstring(L, 1);
    tdo_conn *conn = tdo_ctx_conn(c->ctx, name);
    if (conn == NULL)
        return luaL_error(L, "no connection '%s'", name);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_conn_open(conn, &err) != TDO_OK)
        return ltdo_error(L, &err);
    return 0;
}

static int c_set_use_tz(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    tdo_ctx_set_use_tz(c->ctx, lua_toboolean(L, 1));
    return 0;
}

static int c_set_inited(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    c->inited = lua_toboolean(L, 1);
    return 0;
}

static int c_inited(lua_State *L)
{
    lua_pushboolean(L, ltdo_ctx(L)->inited);
    return 1;
}

/* C.resolve(force) */
static int c_resolve(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    if (lua_toboolean(L, 1))
        c->dirty = true;
    ltdo_resolve(L);
    return 0;
}

/* C.generate_schemas(conn_name, safe) */
static int c_generate_schemas(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    const char *name = luaL_checkstring(L, 1);
    bool safe = lua_toboolean(L, 2);
    tdo_conn *conn = tdo_ctx_conn(c->ctx, name);
    tdo_error err = TDO_ERROR_INIT;
    if (conn == NULL)
        return ltdo_raise(L, TDO_ERR_CONFIGURATION, "no connection named '%s'",
                          name);
    c->dirty = true;
    ltdo_resolve(L);
    if (tdo_generate_schemas(c->ctx, conn, safe, &err))
        return ltdo_error(L, &err);
    return 0;
}

static void free_str(void *p)
{
    free(p);
}

/* C.schema_sql(safe, model_or_nil, conn_name_or_nil) */
static int c_schema_sql(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    bool safe = lua_toboolean(L, 1);
    tdo_model *only = lua_isnoneornil(L, 2) ? NULL : ltdo_checkmodel(L, 2);
    const tdo_dialect *d = NULL;
    if (lua_isstring(L, 3)) {
        tdo_conn *conn = tdo_ctx_conn(c->ctx, lua_tostring(L, 3));
        if (conn)
            d = tdo_conn_dialect(conn);
    }
    if (d == NULL)
        d = tdo_dialect_by_name("sqlite");
    c->dirty = true;
    ltdo_resolve(L);
    ltdo_box *b = ltdo_box_new(L, free_str);
    tdo_error err = TDO_ERROR_INIT;
    char *out = NULL;
    if (tdo_schema_sql(c->ctx, d, only, safe, &out, &err))
        return ltdo_error(L, &err);
    b->p = out;
    lua_pushstring(L, out ? out : "");
    ltdo_box_close(b);
    return 1;
}

/* C.dialect(conn_name) -> name of the dialect or nil */
static int c_dialect(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    tdo_conn *conn = tdo_ctx_conn(c->ctx, luaL_checkstring(L, 1));
    if (conn == NULL)
        return 0;
    lua_pushstring(L, tdo_dialect_name(tdo_conn_dialect(conn)));
    return 1;
}

static const luaL_Reg cfuncs[] = {
    {"connect", c_connect},
    {"close_connections", c_close_connections},
    {"has_conn", c_has_conn},
    {"open_conn", c_open_conn},
    {"url_schemes", c_url_schemes},
    {"check_url", c_check_url},
    {"mask_url", c_mask_url},
    {"set_use_tz", c_set_use_tz},
    {"set_inited", c_set_inited},
    {"inited", c_inited},
    {"resolve", c_resolve},
    {"generate_schemas", c_generate_schemas},
    {"schema_sql", c_schema_sql},
    {"dialect", c_dialect},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* Embedded Lua                                                        */
/* ------------------------------------------------------------------ */

static void run_chunk(lua_State *L, const struct tdo_embedded *e, int orm,
                      int cfn)
{
    lua_pushfstring(L, "=testudo/%s.lua", e->name);
    const char *chunkname = lua_tostring(L, -1);
    if (luaL_loadbuffer(L, e->src, e->len, chunkname) != LUA_OK)
        lua_error(L);
    lua_remove(L, -2);
    lua_pushvalue(L, orm);
    lua_pushvalue(L, cfn);
    lua_call(L, 2, 0);
}

static void load_chunks(lua_State *L, int orm, int cfn)
{
    for (size_t i = 0; chunk_order[i]; i++)
        for (const struct tdo_embedded *e = tdo_lua_sources; e->name; e++)
            if (strcmp(e->name, chunk_order[i]) == 0)
                run_chunk(L, e, orm, cfn);
    for (const struct tdo_embedded *e = tdo_lua_sources; e->name; e++) {
        bool listed = false;
        for (size_t i = 0; chunk_order[i]; i++)
            if (strcmp(e->name, chunk_order[i]) == 0)
                listed = true;
        if (!listed)
            run_chunk(L, e, orm, cfn);
    }
}

/* The metatables of the helper userdata: boxes, value lists, context. */
static void helper_metatables(lua_State *L)
{
    luaL_newmetatable(L, LTDO_BOX);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newmetatable(L, LTDO_VALS);
    lua_pushcfunction(L, vals_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, LTDO_CTXMT);
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

/* The shared state table (in the context's user value): orm, the
 * per-app connections, the models, and the weak-keyed tables of saved
 * instances, their related objects and the fields loaded in partial
 * instances (only()); also C.state. */
static void init_state(lua_State *L, int orm, int cfn)
{
    ltdo_state(L);
    int st = lua_gettop(L);
    lua_pushvalue(L, orm);
    lua_setfield(L, st, "orm");
    lua_pushvalue(L, st);
    lua_setfield(L, cfn, "state");
    lua_newtable(L);
    lua_setfield(L, st, "apps_conn");
    lua_newtable(L);
    lua_setfield(L, st, "models");
    static const char *const weak[] = {"saved", "related", "partial"};
    for (int i = 0; i < 3; i++) {
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_setfield(L, st, weak[i]);
    }
    lua_pop(L, 1);
}

/* Opens the module (require "testudo"): returns the orm table. */
__attribute__((visibility("default"))) int luaopen_testudo(lua_State *L)
{
    helper_metatables(L);
    /* the context: userdata first, then the C object */
    lctx *c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, LTDO_CTXMT);
    c->ctx = tdo_ctx_new();
    if (c->ctx == NULL)
        return luaL_error(L, "testudo: out of memory");
    lua_newtable(L); /* state */
    lua_setiuservalue(L, -2, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, LTDO_CTX);

    lua_newtable(L); /* orm */
    int orm = lua_gettop(L);
    lua_newtable(L); /* C */
    int cfn = lua_gettop(L);
    luaL_setfuncs(L, cfuncs, 0);
    init_state(L, orm, cfn);

    lua_pushliteral(L, TDO_VERSION);
    lua_setfield(L, orm, "VERSION");

    ltdo_open_errors(L, orm);
    ltdo_open_values(L, orm);
    ltdo_open_validators(L, orm);
    ltdo_open_json(L, orm);
    ltdo_open_migrate(L, cfn);
    ltdo_open_expr(L, orm);
    ltdo_open_model(L, orm);
    ltdo_state_get(L, "Base");
    int base = lua_gettop(L);
    ltdo_open_instance(L, base, cfn);
    ltdo_open_queryset(L, base, cfn);
    lua_pop(L, 1);
    ltdo_open_tx(L, orm, cfn);

    /* the field spec metatable for fields.lua */
    luaL_newmetatable(L, LTDO_FIELDSPEC);
    lua_pushliteral(L, "testudo.Field");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, cfn, "FieldSpec");

    load_chunks(L, orm, cfn);
    lua_settop(L, orm);
    return 1;
}
