/*
 * ljson.c -- JSON text <-> Lua values for JSONField, through jansson (the
 * one JSON library of the project: orm/json.c writes, backend_sqlite.c's
 * containment parses): objects become tables, arrays sequences, JSON null
 * orm.null, and back.
 */
#include "ltdo.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Pushes a box owning the tree *t will hold (NULL until set). */
static json_t **push_tree_box(lua_State *L)
{
    json_t **t = lua_newuserdatauv(L, sizeof *t, 0);
    *t = NULL;
    if (luaL_newmetatable(L, LTDO_JSONTREE)) {
        lua_pushcfunction(L, tree_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return t;
}

void ltdo_push_json(lua_State *L, const char *s, size_t n)
{
    json_t **t = push_tree_box(L);
    json_error_t e;
    *t = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!*t)
        luaL_error(L, "invalid JSON at position %d: %s", e.position + 1,
                   e.text);
    push_json(L, *t);
    lua_remove(L, -2);
    json_decref(*t);
    *t = NULL;
}

bool ltdo_json_valid(const char *s, size_t n)
{
    json_t *t = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_decref(t);
    return t != NULL;
}

/* ---- writing ------------------------------------------------------- */

typedef struct enc {
    lua_State *L;
    bool lenient; /* for display: never fails */
    json_t **root;
} enc;

/* Raises the FieldError of a value JSON cannot hold. */
static int enc_fail(lua_State *L, const char *what)
{
    return ltdo_raise(L, TDO_ERR_FIELD, "cannot store as JSON: %s", what);
}

/* Whether the plain table at idx is a sequence 1..n with n > 0. */
static bool is_array(lua_State *L, int idx)
{
    lua_Unsigned n = lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        lua_Integer k;
        if (!lua_isinteger(L, -1) || (k = lua_tointeger(L, -1)) < 1 ||
            (lua_Unsigned)k > n) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    return count == n;
}

/* Attaches node to parent (an array when key is NULL) or makes it the
 * root, so that the tree box owns it before anything can raise. */
static json_t *attach(enc *e, json_t *parent, const char *key, json_t *node)
{
    if (!node)
        ltdo_raise(e->L, TDO_ERR_NOMEM, "out of memory");
    if (!parent) {
        *e->root = node;
    } else if (!key) {
        if (json_array_append_new(parent, node))
            ltdo_raise(e->L, TDO_ERR_NOMEM, "out of memory");
    } else if (json_object_set(parent, key, node) == 0) {
        json_decref(node); /* the object holds it */
    } else {
        /* a key that is not UTF-8: U+FFFD for its bad bytes */
        json_t *k = tdo_json_string(key, strlen(key));
        int rc = k ? json_object_set_new(parent, json_string_value(k), node)
                   : (json_decref(node), -1);
        json_decref(k);
        if (rc)
            ltdo_raise(e->L, TDO_ERR_NOMEM, "out of memory");
    }
    return node;
}

/* A display string of the value at idx (its __tostring). */
static json_t *text_of(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_tolstring(L, idx, &n);
    json_t *j = tdo_json_string(s, n);
    lua_pop(L, 1);
    return j;
}

static void encode_value(enc *e, int idx, int depth, json_t *parent,
                         const char *key)
{
    lua_State *L = e->L;
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "JSON value nested too deeply");
    if (e->lenient && depth > 50) {
        attach(e, parent, key, json_string("..."));
        return;
    }
    if (depth > 100)
        enc_fail(L, "JSON value nested too deeply");
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || ltdo_isnull(L, idx)) {
        attach(e, parent, key, json_null());
    } else if (t == LUA_TBOOLEAN) {
        attach(e, parent, key, json_boolean(lua_toboolean(L, idx)));
    } else if (t == LUA_TNUMBER) {
        if (lua_isinteger(L, idx)) {
            attach(e, parent, key, json_integer(lua_tointeger(L, idx)));
        } else if (isfinite(lua_tonumber(L, idx))) {
            attach(e, parent, key, json_real(lua_tonumber(L, idx)));
        } else if (e->lenient) {
            attach(e, parent, key, json_null());
        } else {
            enc_fail(L, "cannot encode a non-finite number as JSON");
        }
    } else if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        attach(e, parent, key, tdo_json_string(s, n));
    } else if (t == LUA_TTABLE && !lua_getmetatable(L, idx)) {
        bool arr = is_array(L, idx), empty = false;
        if (!arr && e->lenient) {
            lua_pushnil(L);
            empty = !lua_next(L, idx);
            if (!empty)
                lua_pop(L, 2);
        }
        if (arr || empty) {
            json_t *a = attach(e, parent, key, json_array());
            lua_Unsigned n = lua_rawlen(L, idx);
            for (lua_Unsigned i = 1; arr && i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                encode_value(e, -1, depth + 1, a, NULL);
                lua_pop(L, 1);
            }
            return;
        }
        json_t *o = attach(e, parent, key, json_object());
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *k;
            if (lua_type(L, -2) == LUA_TSTRING) {
                k = lua_tostring(L, -2);
            } else if (lua_type(L, -2) == LUA_TNUMBER || e->lenient) {
                lua_pushvalue(L, -2);
                k = luaL_tolstring(L, -1, NULL);
                lua_replace(L, -2);
                encode_value(e, -2, depth + 1, o, k);
                lua_pop(L, 2);
                continue;
            } else {
                enc_fail(L, "JSON object keys must be strings");
                return;
            }
            encode_value(e, -1, depth + 1, o, k);
            lua_pop(L, 1);
        }
    } else if (t == LUA_TTABLE) {
        lua_pop(L, 1); /* the metatable */
        attach(e, parent, key, text_of(L, idx));
    } else if (t == LUA_TUSERDATA) {
        const tdo_decimal *d = luaL_testudata(L, idx, LTDO_DECIMAL);
        json_t *j = d ? tdo_json_decimal(d) : NULL;
        if (d && !j && !e->lenient) {
            char buf[64];
            tdo_decimal_format(d, buf, sizeof buf);
            ltdo_raise(L, TDO_ERR_FIELD,
                       "cannot store as JSON: Decimal %s has more digits "
                       "than a JSON number keeps; store tostring(d)",
                       buf);
        }
        attach(e, parent, key, j ? j : text_of(L, idx));
    } else if (e->lenient) {
        attach(e, parent, key, text_of(L, idx));
    } else {
        lua_pushfstring(L, "cannot encode a %s as JSON", lua_typename(L, t));
        enc_fail(L, lua_tostring(L, -1));
    }
}

void ltdo_json_encode(lua_State *L, int idx, bool lenient)
{
    idx = lua_absindex(L, idx);
    enc e = {L, lenient, push_tree_box(L)};
    encode_value(&e, idx, 0, NULL, NULL);
    tdo_sb sb = TDO_SB_INIT;
    tdo_status st = tdo_json_dump(&sb, *e.root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(*e.root);
    *e.root = NULL;
    lua_pop(L, 1);
    ltdo_box *b = ltdo_box_new(L, free);
    size_t n = sb.len;
    b->p = tdo_sb_detach(&sb);
    if (st || !b->p)
        ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    lua_pushlstring(L, b->p, n);
    ltdo_box_close(b);
    lua_remove(L, -2);
}

/* orm._json_encode(v [, lenient]): the JSON text of v (the shell's
 * display passes lenient: what JSON cannot hold becomes text). */
static int c_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    ltdo_json_encode(L, 1, lua_toboolean(L, 2));
    return 1;
}

void ltdo_open_json(lua_State *L, int orm_idx)
{
    lua_pushcfunction(L, c_json_encode);
    lua_setfield(L, orm_idx, "_json_encode");
}
