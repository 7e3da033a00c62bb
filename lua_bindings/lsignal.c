/*
 * lsignal.c -- orm.signals from Lua: a handler is a core signal handler
 * (orm/save.c) that calls the Lua function back with Tortoise's
 * arguments (sender, instance, created_or_nil, using_db, update_fields);
 * save() and delete() send the signals through the core.
 */
#include "ltdo.h"

#include <string.h>

/* The Lua state whose call into the core is under way: the core's
 * callbacks into Lua (signal handlers, validators, an instance's row io)
 * run in it. */
static lua_State *caller;

lua_State *ltdo_caller(void)
{
    return caller;
}

lua_State *ltdo_enter(lua_State *L)
{
    lua_State *before = caller;
    caller = L;
    return before;
}

/* A Lua handler kept for the core: its registry reference. */
typedef struct lsig_handler {
    int ref;
} lsig_handler;

#define SIG_ERROR "testudo.signal_error" /* the raised Lua error, kept */

static const char *const sig_names[] = {"pre_save", "post_save", "pre_delete",
                                        "post_delete", NULL};

/* The core handler of a Lua function: calls it; a raised error is kept
 * (SIG_ERROR) for the bindings to raise again as it was. */
static tdo_status lua_handler(const tdo_signal_event *ev, void *ud,
                              tdo_error *err)
{
    lua_State *L = caller;
    const lsig_handler *h = ud;
    const lsig_args *a = ev->instance;
    if (!L || !a) /* sent by a C caller of libtestudo: no Lua instance */
        return TDO_OK;
    int top = lua_gettop(L);
    luaL_checkstack(L, 8, "testudo");
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
    ltdo_push_model(L, ev->model);
    lua_pushvalue(L, a->instance);
    if (ev->signal == TDO_SIG_POST_SAVE)
        lua_pushboolean(L, ev->created);
    else
        lua_pushnil(L);
    lua_pushvalue(L, a->db);
    if (a->fields && ev->update_fields) /* not when creating */
        lua_pushvalue(L, a->fields);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 5, 0, 0) == LUA_OK) {
        lua_settop(L, top);
        return TDO_OK;
    }
    tdo_status st = ltdo_keep_error(L, err);
    lua_settop(L, top);
    return st;
}

tdo_status ltdo_keep_error(lua_State *L, tdo_error *err)
{
    int e = lua_gettop(L);
    tdo_status st =
        tdo_error_set(err, TDO_ERR_BASE, "%s", ltdo_error_message(L, e));
    lua_settop(L, e);
    lua_setfield(L, LUA_REGISTRYINDEX, SIG_ERROR); /* raised again later */
    return st;
}

/* Raises the error of a signal: the handler's own Lua error when one
 * raised, else err. */
int ltdo_raise_kept(lua_State *L, tdo_error *err)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, SIG_ERROR) != LUA_TNIL) {
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, SIG_ERROR);
        tdo_error_release(err);
        return lua_error(L);
    }
    lua_pop(L, 1);
    return ltdo_error(L, err);
}

/* Pushes the using_db of a save or delete: the connection object. */
static void push_db(lua_State *L, const char *conn_name)
{
    ltdo_state_get(L, "orm");
    lua_getfield(L, -1, "connection");
    lua_remove(L, -2);
    lua_pushstring(L, conn_name);
    lua_call(L, 1, 1);
}

/* Fills *a for handlers of m's signals s1 and s2 about the instance at
 * instance (update_fields at fields, or 0): the using_db connection is
 * pushed only when one of them has a handler; returns how many values
 * were pushed. */
static int signal_args(lua_State *L, const tdo_model *m, tdo_signal s1,
                       tdo_signal s2, int instance, int fields, tdo_conn *conn,
                       lsig_args *a)
{
    *a = (lsig_args){lua_absindex(L, instance), 0,
                     fields ? lua_absindex(L, fields) : 0};
    if (!tdo_model_nhandlers(m, s1) && !tdo_model_nhandlers(m, s2))
        return 0;
    push_db(L, tdo_conn_name(conn));
    a->db = lua_gettop(L);
    return 1;
}

void ltdo_save_row(lua_State *L, const tdo_model *m, int instance, int fields,
                   tdo_conn *conn, const tdo_row_io *io, lsig_args *obj,
                   const tdo_save_opts *o, bool *created)
{
    int pushed = signal_args(L, m, TDO_SIG_PRE_SAVE, TDO_SIG_POST_SAVE,
                             instance, fields, conn, obj);
    tdo_error err = TDO_ERROR_INIT;
    lua_State *saved = ltdo_enter(L);
    tdo_status st = tdo_row_save(conn, m, io, obj, o, created, &err);
    ltdo_enter(saved);
    lua_pop(L, pushed);
    if (st)
        ltdo_raise_kept(L, &err);
}

tdo_status ltdo_delete_row(lua_State *L, const tdo_model *m, int instance,
                           tdo_conn *conn, const tdo_value *pk,
                           int64_t *deleted)
{
    lsig_args a;
    int pushed = signal_args(L, m, TDO_SIG_PRE_DELETE, TDO_SIG_POST_DELETE,
                             instance, 0, conn, &a);
    tdo_error err = TDO_ERROR_INIT;
    lua_State *saved = ltdo_enter(L);
    tdo_status st = tdo_row_delete(conn, m, pk, &a, deleted, &err);
    ltdo_enter(saved);
    lua_pop(L, pushed);
    if (st)
        ltdo_raise_kept(L, &err);
    return st;
}

/* C.connect_signal(Model, "pre_save", fn): fn runs on that signal of the
 * model, for as long as the process (the core holds it). */
int ltdo_c_connect_signal(lua_State *L)
{
    tdo_model *m = ltdo_checkmodel(L, 1);
    int sig = luaL_checkoption(L, 2, NULL, sig_names);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lsig_handler *h = lua_newuserdatauv(L, sizeof *h, 0);
    lua_pushvalue(L, 3);
    h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_ref(L, LUA_REGISTRYINDEX); /* the handler block itself */
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_model_connect(m, (tdo_signal)sig, lua_handler, h, &err))
        return ltdo_error(L, &err);
    return 0;
}
