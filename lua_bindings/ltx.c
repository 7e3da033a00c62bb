/*
 * ltx.c -- connections (orm.connection(name)) with execute_query and
 * execute_script, and the transaction primitives used by tx.lua
 * (orm.in_transaction, orm.transaction).
 */
#include "ltdo.h"

#include <string.h>
#include <strings.h>

/* The connection name argument idx gives, or when it is absent the one
 * in use: the shell's choice (.open NAME), else "default". */
const char *ltdo_conn_arg(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx))
        return luaL_checkstring(L, idx);
    const char *name = "default";
    if (ltdo_state_get(L, "use_conn") == LUA_TSTRING &&
        tdo_ctx_conn(ltdo_ctx(L)->ctx, lua_tostring(L, -1)))
        name = lua_tostring(L, -1); /* kept alive by the state table */
    lua_pop(L, 1);
    return name;
}

/* The connection object: a userdata whose user value is its name; it
 * finds its pool by name each time, so it follows orm.init and .open. */
tdo_conn *ltdo_conn_named(lua_State *L, const char *name)
{
    lctx *c = ltdo_ctx(L);
    tdo_conn *conn = tdo_ctx_conn(c->ctx, name);
    if (conn == NULL && strcmp(name, "default") == 0) {
        ltdo_state_get(L, "first_conn");
        if (lua_isstring(L, -1))
            conn = tdo_ctx_conn(c->ctx, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (conn == NULL)
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "no connection named '%s' (call orm.init first)", name);
    ltdo_resolve(L);
    return conn;
}

static tdo_conn *check_conn(lua_State *L, int idx)
{
    luaL_checkudata(L, idx, LTDO_CONN);
    lua_getiuservalue(L, idx, 1);
    tdo_conn *c = ltdo_conn_named(L, lua_tostring(L, -1));
    lua_pop(L, 1);
    return c;
}

/* Box finalizer of a cursor (see ltdo.h). */
void ltdo_rows_free(void *rows)
{
    tdo_rows_free(rows);
}

/* Runs sql with parameters from a Lua array (see ltdo.h). */
tdo_rows *ltdo_run_sql(lua_State *L, tdo_conn *c, const char *sql,
                       int params_idx, bool want_rows, int64_t *changes,
                       const char *what)
{
    luaL_checkstack(L, 40, "testudo");
    if (params_idx)
        params_idx = lua_absindex(L, params_idx);
    ltdo_vals *pv = ltdo_vals_new(L);
    size_t np = 0;
    if (params_idx && lua_istable(L, params_idx)) {
        np = lua_rawlen(L, params_idx);
        for (size_t i = 1; i <= np; i++) {
            lua_rawgeti(L, params_idx, (lua_Integer)i);
            tdo_value v;
            if (!ltdo_to_value(L, -1, &v))
                ltdo_raise(L, TDO_ERR_PARAMS, "%sbad parameter %d (a %s)", what,
                           (int)i, luaL_typename(L, -1));
            if (tdo_value_copy(ltdo_vals_add(L, pv), &v))
                ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
            lua_pop(L, 1);
        }
    }
    ltdo_box *box = ltdo_box_new(L, ltdo_rows_free);
    tdo_error err = TDO_ERROR_INIT;
    tdo_rows *rows = NULL;
    if (tdo_conn_execute(c, sql, pv->v, np, want_rows ? &rows : NULL, changes,
                         &err))
        ltdo_error(L, &err);
    box->p = rows;
    return rows;
}

/* Steps a cursor (see ltdo.h). */
bool ltdo_rows_step(lua_State *L, tdo_rows *rows)
{
    bool has = false;
    tdo_error err = TDO_ERROR_INIT;
    if (rows && tdo_rows_next(rows, &has, &err))
        ltdo_error(L, &err);
    return has;
}

/* Whether sql gives rows: SELECT, WITH, PRAGMA, VALUES, EXPLAIN, SHOW,
 * or a statement with RETURNING. */
static bool returns_rows(const char *sql)
{
    static const char *const kw[] = {"select",  "with", "pragma",   "values",
                                     "explain", "show", "describe", NULL};
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    for (int i = 0; kw[i]; i++) {
        size_t n = strlen(kw[i]);
        if (strncasecmp(p, kw[i], n) == 0 &&
            !((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z')))
            return true;
    }
    for (const char *q = p; *q; q++)
        if (strncasecmp(q, "returning", 9) == 0)
            return true;
    return false;
}

/* rows:tuple(i): the values of row i by position, NULLs as nil, with n
 * the number of columns (as table.pack makes it); nil past the end. */
static int rows_tuple(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
        return 1;
    int row = lua_gettop(L);
    lua_getfield(L, 1, "columns");
    lua_Integer nc = (lua_Integer)lua_rawlen(L, -1);
    lua_createtable(L, (int)nc, 1);
    for (lua_Integer j = 1; j <= nc; j++) {
        lua_rawgeti(L, row, j);
        lua_rawseti(L, -2, j);
    }
    lua_pushinteger(L, nc);
    lua_setfield(L, -2, "n");
    return 1;
}

/* tostring(rows): <Rows: 3 rows (id, email)>. */
static int rows_tostring(lua_State *L)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    lua_getfield(L, 1, "columns");
    int cols = lua_gettop(L);
    lua_Integer nc =
        lua_istable(L, cols) ? (lua_Integer)lua_rawlen(L, cols) : 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "<Rows: %I row%s", n, n == 1 ? "" : "s");
    luaL_addvalue(&b);
    for (lua_Integer j = 1; j <= nc; j++) {
        luaL_addstring(&b, j == 1 ? " (" : ", ");
        lua_rawgeti(L, cols, j);
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, nc ? ")>" : ">");
    luaL_pushresult(&b);
    return 1;
}

/* Pushes the metatable of the rows objects execute_query returns. */
static void push_rows_mt(lua_State *L)
{
    if (luaL_newmetatable(L, "testudo.Rows")) {
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, rows_tuple);
        lua_setfield(L, -2, "tuple");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, rows_tostring);
        lua_setfield(L, -2, "__tostring");
    }
}

/* The rows object of LUA_API.md: rows[i] is a table of the row's values
 * by column name (the last of duplicate names wins) and by position
 * (NULLs as nil), rows.columns the names in the query's order,
 * duplicates kept, and rows:tuple(i) the values by position. */
int ltdo_execute_query(lua_State *L, tdo_conn *c, const char *sql,
                       int params_idx)
{
    int64_t changes = 0;
    /* the core fills *changes only when no cursor is asked for */
    tdo_rows *rows =
        ltdo_run_sql(L, c, sql, params_idx, returns_rows(sql), &changes, "");
    return ltdo_push_rows(L, rows, changes);
}

/* Reads the cursor of the box on top into a rows object (see above);
 * pushes it and the count (of rows, or changes without columns). */
int ltdo_push_rows(lua_State *L, tdo_rows *rows, int64_t changes)
{
    ltdo_box *box = lua_touserdata(L, -1);
    tdo_error err = TDO_ERROR_INIT;
    size_t nc = rows ? tdo_rows_ncols(rows) : 0;
    lua_createtable(L, (int)nc, 0);
    int names = lua_gettop(L);
    for (size_t i = 0; i < nc; i++) {
        lua_pushstring(L, tdo_rows_colname(rows, i));
        lua_rawseti(L, names, (lua_Integer)i + 1);
    }
    lua_createtable(L, 0, 1);
    int list = lua_gettop(L);
    lua_pushvalue(L, names);
    lua_setfield(L, list, "columns");
    push_rows_mt(L);
    lua_setmetatable(L, list);
    lua_Integer n = 0;
    while (nc > 0 && ltdo_rows_step(L, rows)) {
        lua_createtable(L, (int)nc, (int)nc);
        for (size_t i = 0; i < nc; i++) {
            tdo_value v;
            if (tdo_rows_get(rows, i, &v, &err))
                return ltdo_error(L, &err);
            if (v.type == TDO_NULL)
                continue;
            lua_rawgeti(L, names, (lua_Integer)i + 1);
            ltdo_push_value(L, &v);
            lua_pushvalue(L, -1);
            lua_rawseti(L, -4, (lua_Integer)i + 1);
            lua_rawset(L, -3);
        }
        lua_rawseti(L, list, ++n);
    }
    if (rows && nc == 0) {
        bool has = false;
        while (!tdo_rows_next(rows, &has, &err) && has)
            ;
        tdo_error_release(&err);
    }
    ltdo_box_close(box);
    lua_pushinteger(L, nc > 0 ? n : (lua_Integer)changes);
    return 2;
}

/* conn:execute_query(sql, params) -> rows, count */
static int conn_execute_query(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    return ltdo_execute_query(L, c, sql, lua_istable(L, 3) ? 3 : 0);
}

/* conn:execute_script(sql) */
static int conn_execute_script(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_conn_execute_script(c, sql, &err))
        return ltdo_error(L, &err);
    return 0;
}

static int conn_name(lua_State *L)
{
    luaL_checkudata(L, 1, LTDO_CONN);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int conn_dialect(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    lua_pushstring(L, tdo_dialect_name(tdo_conn_dialect(c)));
    return 1;
}

static int conn_url(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    lua_pushstring(L, tdo_conn_url(c));
    return 1;
}

static int conn_query_count(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    lua_pushinteger(L, (lua_Integer)tdo_conn_query_count(c));
    return 1;
}

/* conn:open_sessions() -> sessions of the pool open now */
static int conn_open_sessions(lua_State *L)
{
    tdo_conn *c = check_conn(L, 1);
    int open = 0;
    tdo_conn_pool_stats(c, NULL, NULL, &open, NULL);
    lua_pushinteger(L, open);
    return 1;
}

/* Pushes {name, url, dialect, minsize, maxsize, open, busy, queries,
 * in_transaction} of c. */
static void push_info(lua_State *L, tdo_conn *c)
{
    int mn = 0, mx = 0, open = 0, busy = 0;
    tdo_conn_pool_stats(c, &mn, &mx, &open, &busy);
    lua_createtable(L, 0, 9);
    lua_pushstring(L, tdo_conn_name(c));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, tdo_conn_url(c));
    lua_setfield(L, -2, "url");
    lua_pushstring(L, tdo_dialect_name(tdo_conn_dialect(c)));
    lua_setfield(L, -2, "dialect");
    lua_pushinteger(L, mn);
    lua_setfield(L, -2, "minsize");
    lua_pushinteger(L, mx);
    lua_setfield(L, -2, "maxsize");
    lua_pushinteger(L, open);
    lua_setfield(L, -2, "open");
    lua_pushinteger(L, busy);
    lua_setfield(L, -2, "busy");
    lua_pushinteger(L, (lua_Integer)tdo_conn_query_count(c));
    lua_setfield(L, -2, "queries");
    lua_pushboolean(L, tdo_conn_tx_depth(c) > 0);
    lua_setfield(L, -2, "in_transaction");
}

/* conn:pool() -> {minsize =, maxsize =, open =, busy =, ...} */
static int conn_pool(lua_State *L)
{
    push_info(L, check_conn(L, 1));
    return 1;
}

static int conn_in_transaction(lua_State *L)
{
    lua_pushboolean(L, tdo_conn_tx_depth(check_conn(L, 1)) > 0);
    return 1;
}

/* conn:close(): closes the pool's sessions (they open again on use). */
static int conn_close(lua_State *L)
{
    tdo_conn_close_sessions(check_conn(L, 1));
    return 0;
}

static int conn_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, LTDO_CONN);
    lua_getiuservalue(L, 1, 1);
    const char *name = lua_tostring(L, -1);
    lctx *x = ltdo_ctx(L);
    tdo_conn *c = tdo_ctx_conn(x->ctx, name);
    if (c)
        lua_pushfstring(L, "<Connection %s %s>", name, tdo_conn_url(c));
    else
        lua_pushfstring(L, "<Connection %s (closed)>", name);
    return 1;
}

/* orm._connections() -> array of connection infos (see push_info), in
 * configuration order. */
static int l_connections(lua_State *L)
{
    lctx *x = ltdo_ctx(L);
    lua_newtable(L);
    size_t n = tdo_ctx_nconns(x->ctx);
    for (size_t i = 0; i < n; i++) {
        push_info(L, tdo_ctx_conn_at(x->ctx, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* C.close_sessions(): every pool's sessions closed, pools kept. */
static int c_close_sessions(lua_State *L)
{
    lctx *x = ltdo_ctx(L);
    size_t n = tdo_ctx_nconns(x->ctx);
    for (size_t i = 0; i < n; i++)
        tdo_conn_close_sessions(tdo_ctx_conn_at(x->ctx, i));
    return 0;
}

/* orm.connection([name]): the connection name, else the one in use */
static int l_connection(lua_State *L)
{
    const char *name = ltdo_conn_arg(L, 1);
    ltdo_conn_named(L, name);
    lua_newuserdatauv(L, 1, 1);
    luaL_setmetatable(L, LTDO_CONN);
    lua_pushstring(L, name);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* Transactions for tx.lua: C.begin(name), C.commit(name),
 * C.rollback(name), C.tx_depth(name). */
static int c_begin(lua_State *L)
{
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 1));
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_conn_begin(c, &err))
        return ltdo_error(L, &err);
    return 0;
}

static int c_commit(lua_State *L)
{
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 1));
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_conn_commit(c, &err))
        return ltdo_error(L, &err);
    return 0;
}

static int c_rollback(lua_State *L)
{
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 1));
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_conn_rollback(c, &err))
        return ltdo_error(L, &err);
    return 0;
}

static int c_tx_depth(lua_State *L)
{
    lctx *x = ltdo_ctx(L);
    tdo_conn *c = tdo_ctx_conn(x->ctx, ltdo_conn_arg(L, 1));
    lua_pushinteger(L, c ? tdo_conn_tx_depth(c) : 0);
    return 1;
}

/* C.set_read_only(): every session refuses writes from now on. */
static int c_set_read_only(lua_State *L)
{
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_ctx_set_read_only(ltdo_ctx(L)->ctx, &err))
        return ltdo_error(L, &err);
    return 0;
}

/* orm._tables([name]) -> sorted array of the database's table names. */
static int l_tables(lua_State *L)
{
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 1));
    tdo_error err = TDO_ERROR_INIT;
    char **names = NULL;
    size_t n = 0;
    if (tdo_conn_tables(c, &names, &n, &err))
        return ltdo_error(L, &err);
    if (!lua_checkstack(L, 4)) {
        tdo_free_strings(names, n);
        return luaL_error(L, "stack overflow");
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]); /* may raise only on out of memory */
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    tdo_free_strings(names, n);
    return 1;
}

/* Pushes the n strings of names as an array; frees them (also when
 * pushing raises, as it only can on out of memory: then they leak). */
static void push_strings(lua_State *L, char **names, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    tdo_free_strings(names, n);
}

/* orm._relations([name]) -> tables, views, through: sorted arrays of the
 * names of the database's tables and views, as introspection reads them,
 * and the models' automatic many-to-many through tables ({ [table] =
 * "Model.field" }). */
static int l_relations(lua_State *L)
{
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 1));
    ltdo_resolve(L);
    tdo_error err = TDO_ERROR_INIT;
    char **tables = NULL, **views = NULL;
    size_t nt = 0, nv = 0;
    if (tdo_conn_relations(c, &tables, &nt, &views, &nv, &err))
        return ltdo_error(L, &err);
    if (!lua_checkstack(L, 6)) {
        tdo_free_strings(tables, nt);
        tdo_free_strings(views, nv);
        return luaL_error(L, "stack overflow");
    }
    char **v = views;
    views = NULL;
    push_strings(L, tables, nt);
    push_strings(L, v, nv);
    /* the automatic many-to-many through tables: "Model.field" */
    lua_newtable(L);
    lctx *x = ltdo_ctx(L);
    for (size_t i = 0; i < tdo_ctx_nmodels(x->ctx); i++) {
        const tdo_model *m = tdo_ctx_model_at(x->ctx, i);
        for (size_t k = 0; k < tdo_model_nrelations(m); k++) {
            const tdo_relation *r = tdo_model_relation(m, k);
            if (r->kind != TDO_REL_M2M || r->through_model || !r->through)
                continue;
            lua_pushfstring(L, "%s.%s", tdo_model_name(m), r->name);
            lua_setfield(L, -2, r->through);
        }
    }
    return 3;
}

/* orm._drop_tables(names[, conn]): tdo_drop_tables. */
static int l_drop_tables(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    tdo_conn *c = ltdo_conn_named(L, ltdo_conn_arg(L, 2));
    size_t n = lua_rawlen(L, 1);
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*names), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        names[i] = lua_tostring(L, -1); /* anchored by the table */
        if (!names[i])
            return ltdo_raise(L, TDO_ERR_PARAMS, "table names are strings");
        lua_pop(L, 1);
    }
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_drop_tables(c, names, n, &err))
        return ltdo_error(L, &err);
    return 0;
}

static const luaL_Reg conn_meth[] = {
    {"execute_query", conn_execute_query},
    {"execute_script", conn_execute_script},
    {"name", conn_name},
    {"dialect", conn_dialect},
    {"url", conn_url},
    {"query_count", conn_query_count},
    {"open_sessions", conn_open_sessions},
    {"pool", conn_pool},
    {"in_transaction", conn_in_transaction},
    {"close", conn_close},
    {NULL, NULL},
};

static const luaL_Reg c_meth[] = {
    {"begin", c_begin},
    {"commit", c_commit},
    {"rollback", c_rollback},
    {"tx_depth", c_tx_depth},
    {"set_read_only", c_set_read_only},
    {"close_sessions", c_close_sessions},
    {NULL, NULL},
};

void ltdo_open_tx(lua_State *L, int orm_idx, int C_idx)
{
    orm_idx = lua_absindex(L, orm_idx);
    C_idx = lua_absindex(L, C_idx);
    luaL_newmetatable(L, LTDO_CONN);
    lua_newtable(L);
    luaL_setfuncs(L, conn_meth, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, conn_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_connection);
    lua_setfield(L, orm_idx, "connection");
    lua_pushcfunction(L, l_tables);
    lua_setfield(L, orm_idx, "_tables");
    lua_pushcfunction(L, l_relations);
    lua_setfield(L, orm_idx, "_relations");
    lua_pushcfunction(L, l_drop_tables);
    lua_setfield(L, orm_idx, "_drop_tables");
    lua_pushcfunction(L, l_connections);
    lua_setfield(L, orm_idx, "_connections");
    lua_pushvalue(L, C_idx);
    luaL_setfuncs(L, c_meth, 0);
    lua_pop(L, 1);
}
