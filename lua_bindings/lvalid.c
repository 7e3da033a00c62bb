/*
 * lvalid.c -- field validators from Lua: orm.validators objects become the
 * core's own validators (orm/validate.c: PCRE2 patterns, Tortoise's
 * messages), any other callable a TDO_V_CALL validator calling it back;
 * orm._run_validator runs one on a value through the core.
 */
#include "ltdo.h"

#include <string.h>

/* A Lua validator kept for the core: the registry reference of the
 * callable. */
typedef struct lua_validator {
    int ref;
} lua_validator;

/* TDO_V_CALL for a Lua callable: calls it with the value; a raised error
 * becomes the ValidationError (its message). */
static tdo_status call_lua(const tdo_field *f, const tdo_value *v, void *ud,
                           tdo_error *err)
{
    lua_State *L = ltdo_caller();
    const lua_validator *lv = ud;
    if (!L)
        return tdo_error_set(err, TDO_ERR_VALIDATION,
                             "%s: a Lua validator cannot run here", f->name);
    int top = lua_gettop(L);
    luaL_checkstack(L, 4, "testudo");
    lua_rawgeti(L, LUA_REGISTRYINDEX, lv->ref);
    ltdo_push_value(L, v);
    tdo_status st = TDO_OK;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        st = tdo_error_set(err, TDO_ERR_VALIDATION, "%s: %s", f->name,
                           ltdo_error_message(L, -1));
    lua_settop(L, top);
    return st;
}

tdo_status ltdo_validate(lua_State *L, const tdo_field *f, const tdo_value *v,
                         tdo_error *err)
{
    lua_State *saved = ltdo_enter(L);
    tdo_status st = tdo_field_validate(f, v, err);
    ltdo_enter(saved);
    return st;
}

static const struct {
    const char *name;
    tdo_validator_kind kind;
} builtin[] = {
    {"MinValueValidator", TDO_V_MIN_VALUE},
    {"MaxValueValidator", TDO_V_MAX_VALUE},
    {"MinLengthValidator", TDO_V_MIN_LENGTH},
    {"MaxLengthValidator", TDO_V_MAX_LENGTH},
    {"RegexValidator", TDO_V_REGEX},
    {"CommaSeparatedIntegerListValidator", TDO_V_COMMA_INTS},
};

bool ltdo_builtin_validator(lua_State *L, int idx, tdo_validator *out,
                            int anchor)
{
    idx = lua_absindex(L, idx);
    memset(out, 0, sizeof *out);
    if (!lua_istable(L, idx))
        return false;
    lua_getfield(L, idx, "name");
    const char *name = lua_tostring(L, -1);
    size_t k = 0;
    while (name && k < sizeof builtin / sizeof builtin[0] &&
           strcmp(builtin[k].name, name))
        k++;
    lua_pop(L, 1);
    if (!name || k == sizeof builtin / sizeof builtin[0] ||
        lua_getfield(L, idx, "args") != LUA_TTABLE) {
        if (name)
            lua_pop(L, 1);
        return false;
    }
    int args = lua_gettop(L);
    out->kind = builtin[k].kind;
    lua_rawgeti(L, args, 1);
    lua_rawgeti(L, args, 2);
    switch (out->kind) {
    case TDO_V_REGEX:
        if (lua_type(L, -2) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "RegexValidator takes a pattern (a string)");
        lua_pushvalue(L, -2);
        out->pattern = lua_tostring(L, -1);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
        /* flags: "i" (or true) ignores case, as re.I */
        out->ignore_case =
            lua_toboolean(L, -1) && (lua_type(L, -1) != LUA_TSTRING ||
                                     strchr(lua_tostring(L, -1), 'i'));
        break;
    case TDO_V_COMMA_INTS:
        out->allow_negative = lua_toboolean(L, -2);
        break;
    default:
        if (!ltdo_to_value(L, -2, &out->bound) ||
            (out->bound.type != TDO_INT && out->bound.type != TDO_DOUBLE &&
             out->bound.type != TDO_DECIMAL) ||
            (out->kind >= TDO_V_MIN_LENGTH && out->bound.type != TDO_INT))
            ltdo_raise(L, TDO_ERR_CONFIGURATION, "%s takes a number%s", name,
                       out->kind >= TDO_V_MIN_LENGTH ? " (an integer)" : "");
        break;
    }
    lua_pop(L, 3);
    return true;
}

void ltdo_spec_validators(lua_State *L, int spec, const char *name,
                          tdo_field_decl *t, int anchor)
{
    lua_getfield(L, spec, "validators");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int list = lua_gettop(L);
    bool one = !lua_istable(L, list);
    if (!one) { /* an orm.validators object given alone */
        one = lua_getfield(L, list, "args") == LUA_TTABLE;
        lua_pop(L, 1);
    }
    if (one) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, list);
        lua_rawseti(L, -2, 1);
        lua_replace(L, list);
    }
    size_t n = lua_rawlen(L, list);
    tdo_validator *vs =
        lua_newuserdatauv(L, (n ? n : 1) * sizeof(tdo_validator), 0);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, list, (lua_Integer)i + 1);
        if (!ltdo_builtin_validator(L, -1, &vs[i], anchor)) {
            bool callable = lua_isfunction(L, -1);
            if (!callable && lua_getmetatable(L, -1)) {
                callable = lua_getfield(L, -1, "__call") != LUA_TNIL;
                lua_pop(L, 2);
            }
            if (!callable)
                ltdo_raise(L, TDO_ERR_CONFIGURATION,
                           "field '%s': validators must be functions or "
                           "orm.validators objects (got a %s)",
                           name, luaL_typename(L, -1));
            /* kept for as long as the process: the core holds it */
            lua_validator *lv = lua_newuserdatauv(L, sizeof *lv, 0);
            lua_pushvalue(L, -2);
            lv->ref = luaL_ref(L, LUA_REGISTRYINDEX);
            luaL_ref(L, LUA_REGISTRYINDEX); /* the userdata itself */
            memset(&vs[i], 0, sizeof vs[i]);
            vs[i].kind = TDO_V_CALL;
            vs[i].fn = call_lua;
            vs[i].ud = lv;
        }
        lua_pop(L, 1);
    }
    t->validators = vs;
    t->nvalidators = n;
    lua_pop(L, 1);
}

/* orm._run_validator(v, value): an orm.validators object called on a
 * value, through the core (ValidationError with Tortoise's message). */
static int l_run_validator(lua_State *L)
{
    lua_settop(L, 2);
    lua_newtable(L); /* anchors */
    tdo_validator v;
    if (!ltdo_builtin_validator(L, 1, &v, 3))
        return ltdo_raise(L, TDO_ERR_PARAMS, "not an orm.validators object");
    tdo_value in;
    if (lua_isnil(L, 2))
        in = tdo_value_null();
    else if (!ltdo_to_value(L, 2, &in))
        return ltdo_raise(L, TDO_ERR_VALIDATION, "cannot validate a %s",
                          luaL_typename(L, 2));
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_validator_check(&v, &in, &err))
        return ltdo_error(L, &err);
    return 0;
}

void ltdo_open_validators(lua_State *L, int orm_idx)
{
    lua_pushcfunction(L, l_run_validator);
    lua_setfield(L, orm_idx, "_run_validator");
}
