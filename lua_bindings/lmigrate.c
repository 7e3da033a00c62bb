/*
 * lmigrate.c -- the core's migrations (orm/migrate.c) for
 * testudo/migrations.lua: the schema state of the models, the diff of two
 * states, applying one migration, the migrations recorded.  States cross
 * as JSON text; every jansson tree is held by a box so that a Lua error
 * loses no C memory.
 */
#include "ltdo.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

static void free_json(void *p)
{
    json_decref(p);
}

/* Pushes a box owning tree j (NULL raises out of memory). */
static json_t *boxed(lua_State *L, json_t *j)
{
    ltdo_box *b = ltdo_box_new(L, free_json);
    if (!j)
        ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    b->p = j;
    return j;
}

/* The state at idx (JSON text; nil: no tables), boxed on the stack. */
static json_t *state_arg(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return boxed(L, json_pack("{s:i, s:[]}", "version", 1, "tables"));
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    json_error_t e;
    json_t *j = json_loadb(s, n, 0, &e);
    if (!j)
        ltdo_raise(L, TDO_ERR_CONFIGURATION, "bad schema state: %s", e.text);
    return boxed(L, j);
}

/* Pushes j as JSON text (pretty: indented, for files). */
static void push_text(lua_State *L, const json_t *j, bool pretty)
{
    char *s = json_dumps(j, pretty ? JSON_INDENT(1) : JSON_COMPACT);
    if (!s)
        ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    ltdo_box *b = ltdo_box_new(L, free);
    b->p = s;
    lua_pushstring(L, s);
    ltdo_box_close(b);
    lua_remove(L, -2);
}

/* C.schema_state(conn_name, pretty, app_or_nil): the models' state (of
 * one app) as JSON text for that connection's dialect. */
static int c_schema_state(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    tdo_conn *conn = ltdo_conn_named(L, luaL_checkstring(L, 1));
    c->dirty = true;
    ltdo_resolve(L);
    json_t *st = NULL;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_schema_state(c->ctx, tdo_conn_dialect(conn), NULL,
                         luaL_optstring(L, 3, NULL), &st, &err))
        return ltdo_error(L, &err);
    boxed(L, st);
    push_text(L, st, lua_toboolean(L, 2));
    return 1;
}

/* C.state_diff(conn_name, from_or_nil, to_or_nil, renames): the list of
 * statements and the number of tables SQLite makes anew.  renames: a
 * list of {old_table, new_table, old_column, new_column}. */
static int c_state_diff(lua_State *L)
{
    tdo_conn *conn = ltdo_conn_named(L, luaL_checkstring(L, 1));
    json_t *from = state_arg(L, 2), *to = state_arg(L, 3);
    size_t nr = lua_istable(L, 4) ? lua_rawlen(L, 4) : 0;
    tdo_rename *r = lua_newuserdatauv(L, (nr ? nr : 1) * sizeof(*r), 0);
    for (size_t i = 0; i < nr; i++) {
        lua_rawgeti(L, 4, (lua_Integer)i + 1);
        const char **slot[] = {&r[i].old_table, &r[i].new_table,
                               &r[i].old_column, &r[i].new_column};
        for (int k = 0; k < 4; k++) {
            lua_rawgeti(L, -1 - k, k + 1);
            *slot[k] = lua_tostring(L, -1); /* anchored by the list */
        }
        if (!r[i].old_table || !r[i].new_table)
            return luaL_error(L, "a rename needs its old and new table");
        lua_pop(L, 5);
    }
    json_t *out = NULL;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_state_diff(tdo_conn_dialect(conn), from, to, r, nr, &out, &err))
        return ltdo_error(L, &err);
    boxed(L, out);
    const json_t *sql = json_object_get(out, "sql");
    lua_createtable(L, (int)json_array_size(sql), 0);
    for (size_t i = 0; i < json_array_size(sql); i++) {
        lua_pushstring(L, json_string_value(json_array_get(sql, i)));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(
        L, (lua_Integer)json_integer_value(json_object_get(out, "rebuilds")));
    return 2;
}

static void progress_cb(size_t done, size_t total, const char *sql, void *ud)
{
    lua_State *L = ud;
    if (lua_isnil(L, 8))
        return;
    lua_pushvalue(L, 8);
    lua_pushinteger(L, (lua_Integer)done);
    lua_pushinteger(L, (lua_Integer)total);
    if (sql)
        lua_pushstring(L, sql);
    else
        lua_pushnil(L);
    /* a raising callback is reported, not thrown across the core */
    if (lua_pcall(L, 3, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

/* Runs data step i (a function of the list at 5) with orm, protected;
 * its error is kept to be raised as it was. */
static tdo_status data_step(size_t i, void *ud, tdo_error *err)
{
    lua_State *L = ud;
    int top = lua_gettop(L);
    lua_rawgeti(L, 5, (lua_Integer)i + 1);
    ltdo_state_get(L, "orm");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        tdo_status st = ltdo_keep_error(L, err);
        lua_settop(L, top);
        return st;
    }
    lua_settop(L, top);
    return TDO_OK;
}

/* C.migration_apply(conn_name, app, version, name, sql_list, state_text,
 * flags {down=, fake=}, progress_fn_or_nil) */
static int c_migration_apply(lua_State *L)
{
    lua_settop(L, 8);
    tdo_conn *conn = ltdo_conn_named(L, luaL_checkstring(L, 1));
    tdo_migration m = {.app = luaL_checkstring(L, 2),
                       .version = luaL_checkstring(L, 3),
                       .name = luaL_optstring(L, 4, NULL)};
    luaL_checktype(L, 5, LUA_TTABLE);
    json_t *sql = boxed(L, json_array());
    for (size_t i = 1; i <= lua_rawlen(L, 5); i++) {
        lua_rawgeti(L, 5, (lua_Integer)i);
        const char *s = lua_tostring(L, -1);
        bool fn = lua_isfunction(L, -1); /* a data step */
        if (!s && !fn)
            return luaL_error(L,
                              "migration %s: step %d is neither SQL text "
                              "nor a function",
                              m.version, (int)i);
        if (json_array_append_new(sql, fn ? json_null() : json_string(s)))
            return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
        lua_pop(L, 1);
    }
    m.data = data_step;
    m.data_ud = L;
    m.sql = sql;
    m.state = lua_isnoneornil(L, 6) ? NULL : state_arg(L, 6);
    unsigned flags = 0;
    if (lua_istable(L, 7)) {
        lua_getfield(L, 7, "down");
        flags |= lua_toboolean(L, -1) ? TDO_MIG_DOWN : 0;
        lua_getfield(L, 7, "fake");
        flags |= lua_toboolean(L, -1) ? TDO_MIG_FAKE : 0;
        lua_pop(L, 2);
    }
    tdo_error err = TDO_ERROR_INIT;
    lua_State *before = ltdo_enter(L);
    tdo_status st = tdo_migration_apply(conn, &m, flags, progress_cb, L, &err);
    ltdo_enter(before);
    if (st)
        return ltdo_raise_kept(L, &err);
    return 0;
}

/* C.migrations_applied(conn_name, app): {{version=, name=, applied_at=,
 * state = text}, ...}, oldest first. */
static int c_migrations_applied(lua_State *L)
{
    tdo_conn *conn = ltdo_conn_named(L, luaL_checkstring(L, 1));
    const char *app = luaL_checkstring(L, 2);
    json_t *list = NULL;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_migrations_applied(conn, app, &list, &err))
        return ltdo_error(L, &err);
    boxed(L, list);
    lua_createtable(L, (int)json_array_size(list), 0);
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        lua_createtable(L, 0, 4);
        static const char *const keys[] = {"version", "name", "applied_at"};
        for (int k = 0; k < 3; k++) {
            lua_pushstring(L, json_string_value(json_object_get(row, keys[k])));
            lua_setfield(L, -2, keys[k]);
        }
        const json_t *st = json_object_get(row, "state");
        if (json_is_object(st)) {
            push_text(L, st, false);
            lua_setfield(L, -2, "state");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* C.mkdir(path): makes the folder (and its parents); true if it is there. */
static int c_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return luaL_error(L, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, 0777);
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot make %s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* C.json_decode(text): the Lua value of JSON text. */
static int c_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    ltdo_push_json(L, s, n);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"json_decode", c_json_decode},
    {"schema_state", c_schema_state},
    {"state_diff", c_state_diff},
    {"migration_apply", c_migration_apply},
    {"migrations_applied", c_migrations_applied},
    {"mkdir", c_mkdir},
    {NULL, NULL},
};

void ltdo_open_migrate(lua_State *L, int C_idx)
{
    C_idx = lua_absindex(L, C_idx);
    lua_pushvalue(L, C_idx);
    luaL_setfuncs(L, funcs, 0);
    lua_pop(L, 1);
}
