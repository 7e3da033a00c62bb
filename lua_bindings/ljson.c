/*
 * ljson.c -- JSON text to Lua values for JSONField, parsed by jansson
 * (the JSON library of the project: orm/backend_sqlite.c's containment
 * too): objects become tables, arrays sequences, JSON null orm.null.
 */
#include "ltdo.h"

#include <jansson.h>

/* Pushes the Lua value of j (depth-checked by jansson's parser). */
static void push_json(lua_State *L, const json_t *j)
{
    luaL_checkstack(L, 4, "testudo: JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        lua_createtable(L, 0, (int)json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            push_json(L, v);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        lua_createtable(L, (int)json_array_size(j), 0);
        json_array_foreach(j, i, v)
        {
            push_json(L, v);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        ltdo_push_null(L);
        break;
    }
}

#define LTDO_JSONTREE "testudo.JSONTree"

/* A parsed tree held by a userdata, freed by its __gc if the conversion
 * raises (no C memory lost across a Lua error). */
static int tree_gc(lua_State *L)
{
    json_t **t = luaL_checkudata(L, 1, LTDO_JSONTREE);
    json_decref(*t);
    *t = NULL;
    return 0;
}

int ltdo_c_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    json_t **t = lua_newuserdatauv(L, sizeof *t, 0);
    *t = NULL;
    if (luaL_newmetatable(L, LTDO_JSONTREE)) {
        lua_pushcfunction(L, tree_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    json_error_t e;
    *t = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!*t)
        return luaL_error(L, "invalid JSON at position %d: %s", e.position + 1,
                          e.text);
    push_json(L, *t);
    json_decref(*t);
    *t = NULL;
    return 1;
}
