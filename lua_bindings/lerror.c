/*
 * lerror.c -- exception classes (orm.exceptions) and error objects.
 *
 * A class is a table { name = "IntegrityError", _parent = <class>,
 * __index = <itself>, __tostring = ... } whose metatable's __index is the
 * parent class; an error object is a table { message, sql, class } whose
 * metatable is its class.  Errors are raised with lua_error() on the
 * object itself (no position prefix).
 */
#include "ltdo.h"

#include <stdarg.h>
#include <string.h>

/* Tortoise's exception tree: name, parent. */
static const char *const classes[][2] = {
    {"BaseORMException", NULL},
    {"FieldError", "BaseORMException"},
    {"ParamsError", "BaseORMException"},
    {"ConfigurationError", "BaseORMException"},
    {"TransactionManagementError", "BaseORMException"},
    {"OperationalError", "BaseORMException"},
    {"IntegrityError", "OperationalError"},
    {"NoValuesFetched", "OperationalError"},
    {"NotExistOrMultiple", "OperationalError"},
    {"MultipleObjectsReturned", "NotExistOrMultiple"},
    {"DoesNotExist", "NotExistOrMultiple"},
    {"ObjectDoesNotExistError", "OperationalError"},
    {"IncompleteInstanceError", "OperationalError"},
    {"DBConnectionError", "BaseORMException"},
    {"ValidationError", "BaseORMException"},
    {"UnSupportedError", "BaseORMException"},
};

static int err_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_getfield(L, 1, "class");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "name");
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
        lua_getfield(L, 1, "name");
    }
    if (lua_isstring(L, -1))
        luaL_addvalue(&b);
    else
        lua_pop(L, 1);
    lua_getfield(L, 1, "message");
    if (lua_isstring(L, -1)) {
        luaL_addstring(&b, ": ");
        luaL_addvalue(&b);
    } else {
        lua_pop(L, 1);
    }
    luaL_pushresult(&b);
    return 1;
}

static int class_tostring(lua_State *L)
{
    lua_getfield(L, 1, "name");
    lua_pushfstring(L, "<class %s>", luaL_optstring(L, -1, "?"));
    return 1;
}

/* cls:is(err): err is an instance of cls or of a subclass. */
static int class_is(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_getmetatable(L, 2)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    for (int depth = 0; depth < 64 && lua_istable(L, -1); depth++) {
        if (lua_rawequal(L, -1, 1)) {
            lua_pushboolean(L, 1);
            return 1;
        }
        lua_getfield(L, -1, "_parent");
        lua_remove(L, -2);
    }
    lua_pushboolean(L, 0);
    return 1;
}

/* cls(message): a new error object (for validators and user code). */
static int class_call(lua_State *L)
{
    const char *msg = luaL_optstring(L, 2, NULL);
    if (msg == NULL) {
        lua_getfield(L, 1, "name");
        msg = lua_tostring(L, -1);
    }
    ltdo_push_error_obj(L, 1, msg, NULL);
    return 1;
}

static void push_class_meta(lua_State *L, int parent_idx)
{
    lua_createtable(L, 0, 3);
    if (parent_idx) {
        lua_pushvalue(L, parent_idx);
        lua_setfield(L, -2, "__index");
    }
    lua_pushcfunction(L, class_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, class_call);
    lua_setfield(L, -2, "__call");
}

/* Pushes a new class table named name with the parent at parent_idx (0:
 * none). */
static void new_class(lua_State *L, int parent_idx, const char *name)
{
    if (parent_idx)
        parent_idx = lua_absindex(L, parent_idx);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushfstring(L, "testudo.%s", name);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, class_is);
    lua_setfield(L, -2, "is");
    if (parent_idx) {
        lua_pushvalue(L, parent_idx);
        lua_setfield(L, -2, "_parent");
    }
    push_class_meta(L, parent_idx);
    lua_setmetatable(L, -2);
}

void ltdo_subclass(lua_State *L, int parent_idx, const char *name)
{
    new_class(L, parent_idx, name);
}

void ltdo_open_errors(lua_State *L, int orm_idx)
{
    orm_idx = lua_absindex(L, orm_idx);
    lua_newtable(L); /* errors */
    int errs = lua_gettop(L);
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        int parent = 0;
        if (classes[i][1]) {
            lua_getfield(L, errs, classes[i][1]);
            parent = lua_gettop(L);
        }
        new_class(L, parent, classes[i][0]);
        lua_setfield(L, errs, classes[i][0]);
        if (parent)
            lua_pop(L, 1);
    }
    ltdo_state(L);
    lua_pushvalue(L, errs);
    lua_setfield(L, -2, "errors");
    lua_pop(L, 1);
    lua_setfield(L, orm_idx, "exceptions");
}

void ltdo_push_class(lua_State *L, const char *name)
{
    ltdo_state(L);
    lua_getfield(L, -1, "errors");
    lua_remove(L, -2);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, name);
        lua_remove(L, -2);
    }
}

void ltdo_push_error_obj(lua_State *L, int cls_idx, const char *msg,
                         const char *sql)
{
    cls_idx = lua_absindex(L, cls_idx);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, msg ? msg : "");
    lua_setfield(L, -2, "message");
    if (sql) {
        lua_pushstring(L, sql);
        lua_setfield(L, -2, "sql");
    }
    lua_pushvalue(L, cls_idx);
    lua_setfield(L, -2, "class");
    lua_pushvalue(L, cls_idx);
    lua_setmetatable(L, -2);
}

static const char *class_of(tdo_status code)
{
    switch (code) {
    case TDO_ERR_NOMEM:
    case TDO_ERR_INTERRUPTED:
        return "OperationalError";
    case TDO_OK:
    case TDO_STATUS_COUNT:
        return "BaseORMException";
    default:
        return tdo_status_name(code);
    }
}

int ltdo_error(lua_State *L, tdo_error *err)
{
    tdo_status code = err->code;
    ltdo_push_class(L, class_of(code));
    int cls = lua_gettop(L);
    const char *msg = err->message;
    if (msg == NULL)
        msg = code == TDO_ERR_NOMEM ? "out of memory" : class_of(code);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    if (err->sql) {
        lua_pushstring(L, err->sql);
        lua_setfield(L, -2, "sql");
    }
    tdo_error_release(err);
    lua_pushvalue(L, cls);
    lua_setfield(L, -2, "class");
    lua_pushvalue(L, cls);
    lua_setmetatable(L, -2);
    return lua_error(L);
}

int ltdo_raise(lua_State *L, tdo_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    int msg_idx = lua_gettop(L);
    ltdo_push_class(L, class_of(code));
    ltdo_push_error_obj(L, -1, lua_tostring(L, msg_idx), NULL);
    (void)msg;
    return lua_error(L);
}

const char *ltdo_error_message(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx) && lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        lua_getfield(L, idx, "message");
        if (lua_isstring(L, -1))
            return lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    return luaL_tolstring(L, idx, NULL);
}
