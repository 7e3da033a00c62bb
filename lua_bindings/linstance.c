/*
 * linstance.c -- model instances: Lua tables whose metatable is their
 * model.  Metamethods (__index for pk and relations, __newindex, __eq,
 * __tostring), construction with defaults, save (insert or update),
 * delete, bulk_create, raw(), and decoding rows into instances.
 *
 * Whether an instance is stored in the database is kept in the weak
 * state table "saved"; related objects assigned or loaded through a
 * foreign key are cached in the weak table "related".
 */
#include "ltdo.h"

#include <stdlib.h>
#include <string.h>

void ltdo_push_saved(lua_State *L)
{
    ltdo_state_get(L, "saved");
}

static void set_saved(lua_State *L, int t, bool saved)
{
    t = lua_absindex(L, t);
    ltdo_push_saved(L);
    lua_pushvalue(L, t);
    if (saved)
        lua_pushboolean(L, 1);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static bool is_saved(lua_State *L, int t)
{
    t = lua_absindex(L, t);
    ltdo_push_saved(L);
    lua_pushvalue(L, t);
    lua_rawget(L, -2);
    bool r = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return r;
}

/* Pushes related[t] (creating it when create), or nil. */
static void push_related(lua_State *L, int t, bool create)
{
    t = lua_absindex(L, t);
    ltdo_state_get(L, "related");
    lua_pushvalue(L, t);
    if (lua_rawget(L, -2) == LUA_TNIL && create) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, t);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

/* Whether attribute attr of instance t is not loaded: t comes from
 * only() and attr was neither fetched nor assigned since. */
/* Whether a partial instance (only()) was ever made in this process:
 * until then no attribute can be deferred, and nothing is looked up. */
static bool any_partial;

void ltdo_note_partial(void)
{
    any_partial = true;
}

static bool deferred(lua_State *L, int t, const char *attr)
{
    if (!any_partial)
        return false;
    t = lua_absindex(L, t);
    ltdo_state_get(L, "partial");
    lua_pushvalue(L, t);
    bool r = false;
    if (lua_rawget(L, -2) == LUA_TTABLE) {
        lua_pushstring(L, attr);
        r = lua_rawget(L, -2) == LUA_TNIL;
        lua_pop(L, 1);
        if (r) {
            lua_pushstring(L, attr);
            r = lua_rawget(L, t) == LUA_TNIL;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    return r;
}

/* Marks attribute attr of a partial instance t as loaded (the set the
 * rows of one query share is copied first). */
static void mark_loaded(lua_State *L, int t, const char *attr)
{
    if (!deferred(L, t, attr))
        return;
    t = lua_absindex(L, t);
    ltdo_state_get(L, "partial");
    lua_pushvalue(L, t);
    lua_rawget(L, -2);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushstring(L, attr);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pushvalue(L, t);
    lua_insert(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 2);
}

/* Raises IncompleteInstanceError for reading a field only() left out. */
static int deferred_error(lua_State *L, const char *model, const char *attr)
{
    return ltdo_raise(L, TDO_ERR_INCOMPLETE_INSTANCE,
                      "%s is a partial model, field '%s' was not fetched "
                      "(only())",
                      model, attr);
}

/* Returns the model table's raw string field k (pushing nothing). */
static const char *raw_str(lua_State *L, int model, const char *k)
{
    lua_pushstring(L, k);
    lua_rawget(L, model);
    const char *s = lua_tostring(L, -1); /* anchored by the model table */
    lua_pop(L, 1);
    return s;
}

/* Pushes the primary key value of instance t (model at model idx): a
 * table of the fields' values for a composite key; nil when unset. */
static void push_pk(lua_State *L, int t, int model)
{
    t = lua_absindex(L, t);
    const char *pk = raw_str(L, model, "__pk");
    if (pk) {
        lua_getfield(L, t, pk);
        return;
    }
    /* a composite key: { field = value, ... }, nil while one is unset */
    lua_pushliteral(L, "__key");
    if (lua_rawget(L, model) != LUA_TTABLE)
        return; /* nil: no key */
    int key = lua_gettop(L);
    size_t n = lua_rawlen(L, key);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, key, (lua_Integer)i);
        lua_rawgeti(L, -1, 1); /* the field's name */
        lua_rawgeti(L, -2, 2); /* its attribute */
        lua_rawget(L, t);
        if (lua_isnil(L, -1)) {
            lua_settop(L, key - 1);
            lua_pushnil(L);
            return;
        }
        lua_rawset(L, -4);
        lua_pop(L, 1);
    }
    lua_remove(L, key);
}

/* Whether instances a and b (of the model at model) have the same key. */
static bool same_key(lua_State *L, int a, int b, int model)
{
    const char *pk = raw_str(L, model, "__pk");
    bool same = false;
    if (pk) {
        lua_getfield(L, a, pk);
        lua_getfield(L, b, pk);
        same = !lua_isnil(L, -1) && lua_compare(L, -1, -2, LUA_OPEQ);
        lua_pop(L, 2);
        return same;
    }
    lua_pushliteral(L, "__key");
    if (lua_rawget(L, model) != LUA_TTABLE) {
        lua_pop(L, 1);
        return false;
    }
    size_t n = lua_rawlen(L, -1);
    same = n > 0;
    for (size_t i = 1; i <= n && same; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        lua_rawgeti(L, -1, 2);
        lua_pushvalue(L, -1);
        lua_rawget(L, a);
        lua_insert(L, -2);
        lua_rawget(L, b);
        same = !lua_isnil(L, -1) && lua_compare(L, -1, -2, LUA_OPEQ);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    return same;
}

/* The attribute of the related model that FK f's id matches: "pk", or
 * its to_field. */
static const char *fk_key_attr(const tdo_field *f)
{
    return f && f->to_target ? f->to_target->name : "pk";
}

/* Pushes the instance of the foreign key k of instance 1 (model at
 * model) whose id is at id: the cached one when it still has that key,
 * else RelatedModel:get_or_none{pk = id} (or {to_field = id}), cached;
 * returns the results for __index (0: none). */
static int fk_instance(lua_State *L, int model, const char *k, int id)
{
    tdo_model *m = ltdo_tomodel(L, model);
    ltdo_resolve(L);
    const tdo_field *f = m ? tdo_model_field_by_name(m, k) : NULL;
    const char *key = fk_key_attr(f);
    push_related(L, 1, false);
    if (lua_istable(L, -1)) {
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, key);
            if (lua_compare(L, -1, id, LUA_OPEQ)) {
                lua_pop(L, 1);
                return 1;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (f == NULL || f->related_model == NULL)
        return 0;
    if (ltdo_state_get(L, "lazy_hook") == LUA_TFUNCTION) { /* the meter */
        lua_pushstring(L, tdo_model_name(m));
        lua_pushstring(L, k);
        lua_pushliteral(L, "select");
        lua_call(L, 3, 0);
    } else {
        lua_pop(L, 1);
    }
    ltdo_push_model(L, f->related_model);
    if (!lua_istable(L, -1))
        return 0;
    lua_getfield(L, -1, "get_or_none");
    lua_insert(L, -2);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, id);
    lua_setfield(L, -2, key);
    lua_call(L, 2, 1);
    if (!lua_isnil(L, -1)) {
        push_related(L, 1, true);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    return 1;
}

/* instance.k for a foreign key k (its attribute name in __fk): the
 * related instance, nil for a null id; -1 when k is no foreign key. */
static int fk_index(lua_State *L, int model, const char *k)
{
    lua_pushliteral(L, "__fk");
    if (lua_rawget(L, model) != LUA_TTABLE) {
        lua_pop(L, 1);
        return -1;
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TSTRING) {
        lua_pop(L, 2);
        return -1;
    }
    int attr = lua_gettop(L);
    if (deferred(L, 1, lua_tostring(L, attr)))
        return deferred_error(L, raw_str(L, model, "__name"),
                              lua_tostring(L, attr));
    lua_pushvalue(L, attr);
    lua_rawget(L, 1); /* the id */
    int id = lua_gettop(L);
    if (lua_isnil(L, id))
        return 1;
    return fk_instance(L, model, k, id);
}

/* instance.k beyond the model's members: a data field holding NULL (or
 * not loaded: IncompleteInstanceError), else a reverse relation or a
 * many-to-many manager (related.lua's rel_index). */
static int related_index(lua_State *L, int model)
{
    tdo_model *m = ltdo_tomodel(L, model);
    const tdo_field *f = m ? ltdo_field_by_attr(m, lua_tostring(L, 2)) : NULL;
    if (f && f->type != TDO_F_M2M) {
        const char *attr = ltdo_field_attr(L, f);
        if (deferred(L, 1, attr))
            return deferred_error(L, tdo_model_name(m), attr);
        lua_pop(L, 1);
        return 1; /* a data field holding NULL */
    }
    if (ltdo_state_get(L, "rel_index") != LUA_TFUNCTION)
        return 1;
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* __index of instances (1 = instance, 2 = key): pk, the class's members,
 * foreign keys as instances, orm.Model's methods, related managers. */
int ltdo_inst_index(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    if (!lua_getmetatable(L, 1))
        return 0;
    int model = lua_gettop(L);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (strcmp(k, "pk") == 0) {
            push_pk(L, 1, model);
            return 1;
        }
        lua_pushvalue(L, 2);
        if (lua_rawget(L, model) != LUA_TNIL)
            return 1;
        lua_pop(L, 1);
        int n = fk_index(L, model, k);
        if (n >= 0)
            return n;
    }
    /* methods of orm.Model through the model's metatable */
    lua_pushvalue(L, 2);
    if (lua_gettable(L, model) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    return related_index(L, model);
}

/* Stores v (at vidx) as attribute k of instance t; relations take an
 * instance (its pk is stored under <name>_id) or an id. */
static void set_attr(lua_State *L, int t, const char *k, int vidx)
{
    luaL_checkstack(L, 40, "testudo");
    t = lua_absindex(L, t);
    vidx = lua_absindex(L, vidx);
    lua_getmetatable(L, t);
    int model = lua_gettop(L);
    if (strcmp(k, "pk") == 0) {
        const char *pk = raw_str(L, model, "__pk");
        if (pk) {
            lua_pushvalue(L, vidx);
            lua_setfield(L, t, pk);
        } else {
            lua_pushliteral(L, "__key");
            if (lua_rawget(L, model) == LUA_TTABLE)
                ltdo_raise(L, TDO_ERR_OPERATIONAL,
                           "the pk of %s is a composite key: set its fields",
                           raw_str(L, model, "__name"));
        }
        lua_settop(L, model - 1);
        return;
    }
    lua_pushliteral(L, "__fk");
    if (lua_rawget(L, model) == LUA_TTABLE) {
        lua_pushstring(L, k);
        if (lua_rawget(L, -2) == LUA_TSTRING) {
            int attr = lua_gettop(L);
            mark_loaded(L, t, lua_tostring(L, attr));
            push_related(L, t, true);
            int rel = lua_gettop(L);
            lua_pushstring(L, k);
            tdo_model *given = ltdo_instance_model(L, vidx);
            if (given) {
                lua_pop(L, 1);
                tdo_model *m = ltdo_tomodel(L, model);
                const tdo_field *f = m ? tdo_model_field_by_name(m, k) : NULL;
                if (f)
                    ltdo_check_related(L, f, given);
                lua_getfield(L, vidx, "pk");
                if (lua_isnil(L, -1))
                    ltdo_raise(L, TDO_ERR_OPERATIONAL,
                               "You should first call .save() on %s before "
                               "referring to it",
                               luaL_tolstring(L, vidx, NULL));
                if (f && f->to_target) { /* the key holds its to_field */
                    lua_pop(L, 1);
                    lua_getfield(L, vidx, f->to_target->name);
                }
                lua_pushvalue(L, attr);
                lua_insert(L, -2);
                lua_rawset(L, t);
                lua_pushvalue(L, vidx);
            } else {
                lua_pushvalue(L, attr);
                if (ltdo_isnull(L, vidx))
                    lua_pushnil(L);
                else
                    lua_pushvalue(L, vidx);
                lua_rawset(L, t);
                lua_pushnil(L);
            }
            lua_rawset(L, rel);
            lua_settop(L, model - 1);
            return;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    mark_loaded(L, t, k);
    lua_pushstring(L, k);
    lua_pushvalue(L, vidx);
    lua_rawset(L, t);
}

int ltdo_inst_newindex(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        set_attr(L, 1, lua_tostring(L, 2), 3);
        return 0;
    }
    lua_rawset(L, 1);
    return 0;
}

int ltdo_inst_eq(lua_State *L)
{
    if (!lua_istable(L, 1) || !lua_istable(L, 2) || !lua_getmetatable(L, 1) ||
        !lua_getmetatable(L, 2) || !lua_rawequal(L, -1, -2)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, same_key(L, 1, 2, lua_gettop(L)));
    return 1;
}

int ltdo_inst_repr(lua_State *L)
{
    if (!lua_getmetatable(L, 1))
        return luaL_tolstring(L, 1, NULL), 1;
    int model = lua_gettop(L);
    const char *name = raw_str(L, model, "__name");
    push_pk(L, 1, model);
    if (lua_isnil(L, -1)) {
        lua_pushfstring(L, "<%s>", name ? name : "?");
        return 1;
    }
    if (!lua_istable(L, -1)) {
        lua_pushfstring(L, "<%s: %s>", name ? name : "?",
                        luaL_tolstring(L, -1, NULL));
        return 1;
    }
    /* a composite key: <PlaylistTrack: Playlist=1, Track=9>, key order */
    int pk = lua_gettop(L);
    lua_pushliteral(L, "__key");
    lua_rawget(L, model);
    int key = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, key);
    luaL_checkstack(L, (int)n + 4, "testudo");
    lua_pushfstring(L, "<%s", name ? name : "?");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, key, i);
        lua_rawgeti(L, -1, 1); /* the field's name */
        lua_pushvalue(L, -1);
        lua_rawget(L, pk);
        const char *v = luaL_tolstring(L, -1, NULL);
        lua_pushfstring(L, "%s%s=%s", i == 1 ? ": " : ", ", lua_tostring(L, -3),
                        v);
        lua_replace(L, -5); /* over the key entry */
        lua_pop(L, 3);
    }
    lua_pushliteral(L, ">");
    lua_concat(L, (int)n + 2);
    return 1;
}

int ltdo_inst_tostring(lua_State *L)
{
    return ltdo_inst_repr(L);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

/* Pushes _meta.fields_map[name] of the model at model (or nil). */
static void push_field_object(lua_State *L, int model, const char *name)
{
    lua_getfield(L, model, "_meta");
    lua_getfield(L, -1, "fields_map");
    lua_getfield(L, -1, name);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Converts attribute attr of t to f's canonical value and stores it back
 * (JSON values are kept as given). */
/* Whether the value at idx is already the canonical value of f (a
 * string for text, a boolean, an integer for integers, a float for a
 * float field): nothing to convert or store back. */
static bool canonical(lua_State *L, int idx, const tdo_field *f)
{
    switch (f->type) {
    case TDO_F_CHAR:
    case TDO_F_TEXT:
        return lua_type(L, idx) == LUA_TSTRING;
    case TDO_F_BOOL:
        return lua_type(L, idx) == LUA_TBOOLEAN;
    case TDO_F_INT:
    case TDO_F_BIGINT:
        return lua_isinteger(L, idx);
    case TDO_F_FLOAT:
        return lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx);
    default:
        return false;
    }
}

/* Pushes the attribute of instance t named by the string at key: the
 * raw value, unless a partial instance may exist (then __index says
 * whether it is deferred). */
static int get_attr_at(lua_State *L, int t, int key)
{
    lua_pushvalue(L, key);
    return any_partial ? lua_gettable(L, t) : lua_rawget(L, t);
}

/* Sets the attribute of instance t named by the string at key to the
 * value on top (popped): raw, unless a partial instance may exist (then
 * __newindex marks it loaded). */
static void set_attr_at(lua_State *L, int t, int key)
{
    lua_pushvalue(L, key);
    lua_insert(L, -2);
    if (any_partial)
        lua_settable(L, t);
    else
        lua_rawset(L, t);
}

static void canonicalize(lua_State *L, int t, const tdo_field *f, int key,
                         ltdo_vals *vb)
{
    get_attr_at(L, t, key);
    if (lua_isnil(L, -1) || canonical(L, -1, f)) {
        lua_pop(L, 1);
        return;
    }
    tdo_value *v = ltdo_field_value(L, -1, f, vb, false);
    if (f->type != TDO_F_JSON) {
        ltdo_push_value(L, v);
        set_attr_at(L, t, key);
    }
    lua_pop(L, 1);
}

/* Applies the defaults of the fields missing from t. */
static void apply_defaults(lua_State *L, int t, int model, tdo_model *m)
{
    size_t n = tdo_model_nfields(m);
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (!(f->flags & TDO_FIELD_HAS_DEFAULT) || f->type == TDO_F_M2M)
            continue;
        const char *attr = ltdo_field_attr(L, f);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, t) != LUA_TNIL) {
            lua_pop(L, 2);
            continue;
        }
        lua_pop(L, 1);
        push_field_object(L, model, f->name);
        lua_getfield(L, -1, "default");
        lua_remove(L, -2);
        if (lua_isfunction(L, -1)) {
            if (lua_pcall(L, 0, 1, 0) != LUA_OK)
                lua_error(L);
        } else if (lua_isnil(L, -1)) {
            tdo_value v; /* the core's constant default (step 1) */
            lua_pop(L, 1);
            if (tdo_field_default(f, &v))
                ltdo_push_value(L, &v);
            else
                lua_pushnil(L);
            tdo_value_release(&v);
        }
        if (ltdo_isnull(L, -1)) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        lua_setfield(L, t, attr);
        lua_pop(L, 1);
    }
}

/* Raises a FieldError for an unknown attribute k of m. */
static int unknown_field(lua_State *L, tdo_model *m, const char *k)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_model_field_error(m, k, &err);
    return ltdo_error(L, &err);
}

/* Raises ConfigurationError when k names a reverse relation of the model
 * of instance t (as Tortoise: set from the other side, or through the
 * many-to-many manager); returns otherwise. */
static void reverse_relation_check(lua_State *L, int t, const char *k)
{
    int top = lua_gettop(L);
    lua_getmetatable(L, t);
    if (lua_getfield(L, -1, "_meta") == LUA_TTABLE &&
        lua_getfield(L, -1, "fields_map") == LUA_TTABLE &&
        lua_getfield(L, -1, k) == LUA_TTABLE &&
        lua_getfield(L, -1, "reverse") != LUA_TNIL && lua_toboolean(L, -1)) {
        lua_getfield(L, -2, "field_type");
        const char *ft = lua_tostring(L, -1);
        if (ft && !strcmp(ft, "BackwardOneToOneRelation"))
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "You can't set backward one to one relations through "
                       "init, change related model instead");
        if (ft && !strcmp(ft, "ManyToManyField"))
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "You can't set m2m relations through init, use "
                       "m2m_manager instead");
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "You can't set backward relations through init, change "
                   "related model instead");
    }
    lua_settop(L, top);
}

/* Sets the keys of the table kw on instance t, checking the names. */
static void set_kwargs(lua_State *L, int t, tdo_model *m, int kw)
{
    lua_getmetatable(L, t);
    lua_pushliteral(L, "__fidx");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    int fidx = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, kw)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS, "field names must be strings");
        const char *k = lua_tostring(L, -2);
        const tdo_field *f = NULL;
        if (lua_istable(L, fidx)) { /* by hash, no strcmp over the fields */
            lua_pushvalue(L, -2);
            lua_rawget(L, fidx);
            f = lua_touserdata(L, -1);
            lua_pop(L, 1);
        }
        if (f && !any_partial && f->type != TDO_F_FK && f->type != TDO_F_O2O &&
            f->type != TDO_F_M2M) {
            lua_pushvalue(L, -2); /* a plain field: stored as it is */
            lua_insert(L, -2);
            lua_rawset(L, t); /* (lua_next's key stays) */
            continue;
        }
        if (!f)
            f = ltdo_field_by_attr(m, k);
        if (f == NULL) {
            reverse_relation_check(L, t, k);
            unknown_field(L, m, k);
        }
        if (f->type == TDO_F_M2M)
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "You can't set m2m relations through init, use "
                       "%s.add()",
                       k);
        set_attr(L, t, k, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* __fidx */
}

/* Model{...}: a new unsaved instance with defaults applied. */
int ltdo_inst_new(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    tdo_model *m = ltdo_checkmodel(L, 1);
    if (tdo_model_abstract(m))
        return ltdo_raise(L, TDO_ERR_CONFIGURATION,
                          "model '%s' is abstract: it has no instances",
                          tdo_model_name(m));
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_createtable(L, 0, (int)tdo_model_nfields(m));
    int t = 3;
    lua_pushvalue(L, 1);
    lua_setmetatable(L, t);
    if (!lua_isnil(L, 2))
        set_kwargs(L, t, m, 2);
    apply_defaults(L, t, 1, m);
    ltdo_vals *vb = ltdo_vals_new(L);
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (f->type == TDO_F_M2M)
            continue;
        ltdo_field_attr(L, f);
        canonicalize(L, t, f, lua_gettop(L), vb);
        lua_pop(L, 1);
    }
    lua_settop(L, t);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

/* The object the core saves (tdo_row_save, tdo_bulk_create): the
 * instance at inst of L, or row of the list at list, read and written in
 * one protected call each, so that a Lua error never crosses the core
 * (it is kept and raised again). */
typedef struct lsave {
    lsig_args a; /* first: what the signal handlers are told */
    lua_State *L;
    int inst; /* the instance's stack index, or 0: */
    int list; /* the list at list holds it at row */
    lua_Integer row;
    const tdo_model *m;
    const bool *want; /* read */
    tdo_value *values;
    bool *given;
    const tdo_value *out; /* write */
    const bool *written;
    bool inserted;
} lsave;

/* Reads the fields wanted of the instance (argument 2). */
static int io_read_p(lua_State *L)
{
    lsave *s = lua_touserdata(L, 1);
    size_t n = tdo_model_nfields(s->m);
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f = tdo_model_field(s->m, i);
        s->given[i] = false;
        s->values[i] = tdo_value_null();
        if (f->type == TDO_F_M2M || (s->want && !s->want[i]))
            continue;
        ltdo_field_attr(L, f);
        get_attr_at(L, 2, 3);
        tdo_value in;
        ltdo_field_input(L, 4, f, &in);
        /* strings are the instance's, but JSON text was made here */
        if (in.type == TDO_JSON) {
            if (tdo_value_copy(&s->values[i], &in))
                return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
        } else {
            s->values[i] = in;
        }
        s->given[i] = true; /* nil is NULL: an instance sets every field */
        lua_settop(L, 2);
    }
    return 0;
}

/* Stores what the save wrote back into the instance (argument 2), where
 * the attribute does not hold that value already (JSON values are kept
 * as given); marks it saved when inserted. */
static int io_write_p(lua_State *L)
{
    lsave *s = lua_touserdata(L, 1);
    size_t n = tdo_model_nfields(s->m);
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f = tdo_model_field(s->m, i);
        if (!s->written[i] || f->type == TDO_F_JSON)
            continue;
        ltdo_field_attr(L, f);
        get_attr_at(L, 2, 3);
        const tdo_value *v = &s->out[i];
        if (v->type == TDO_NULL || lua_isnil(L, 4) || !canonical(L, 4, f)) {
            ltdo_push_value(L, v);
            set_attr_at(L, 2, 3);
        }
        lua_settop(L, 2);
    }
    if (s->inserted)
        set_saved(L, 2, true);
    return 0;
}

/* Runs fn(s, instance) protected; a raised error is kept for the
 * bindings. */
static tdo_status io_call(lsave *s, lua_CFunction fn, tdo_error *err)
{
    lua_State *L = s->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, s);
    if (s->inst)
        lua_pushvalue(L, s->inst);
    else
        lua_rawgeti(L, s->list, s->row);
    tdo_status st = TDO_OK;
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        st = ltdo_keep_error(L, err);
    lua_settop(L, top);
    return st;
}

static tdo_status io_read(void *obj, const tdo_model *m, const bool *want,
                          tdo_value *values, bool *given, tdo_error *err)
{
    lsave *s = obj;
    s->m = m;
    s->want = want;
    s->values = values;
    s->given = given;
    return io_call(s, io_read_p, err);
}

static tdo_status io_write(void *obj, const tdo_model *m,
                           const tdo_value *values, const bool *written,
                           bool inserted, tdo_error *err)
{
    lsave *s = obj;
    s->m = m;
    s->out = values;
    s->written = written;
    s->inserted = inserted;
    return io_call(s, io_write_p, err);
}

static const tdo_row_io instance_io = {io_read, io_write};

/* Checks that the value at idx is an instance and returns its model
 * (pushed). */
static tdo_model *check_instance(lua_State *L, int idx)
{
    tdo_model *m = ltdo_instance_model(L, idx);
    if (m == NULL)
        luaL_typeerror(L, idx, "model instance");
    return m;
}

/* The key of instance obj (model m) as values of its fields appended to
 * a new buffer (left on the stack): the first of tdo_model_nkey(m)
 * values, or NULL when the model has no key or one of them is unset. */
static tdo_value *key_values(lua_State *L, int obj, const tdo_model *m)
{
    obj = lua_absindex(L, obj);
    ltdo_vals *vb = ltdo_vals_new(L);
    int top = lua_gettop(L);
    size_t n = tdo_model_nkey(m);
    for (size_t i = 0; i < n; i++) {
        const tdo_field *f = tdo_model_key(m, i);
        ltdo_field_attr(L, f);
        if (lua_gettable(L, obj) == LUA_TNIL) {
            lua_settop(L, top);
            return NULL;
        }
        ltdo_field_value(L, -1, f, vb, false);
        lua_settop(L, top);
    }
    return n ? vb->v : NULL;
}

/* A partial instance (only()) saves only with update_fields naming
 * loaded (or assigned) fields; IncompleteInstanceError otherwise, as in
 * Tortoise.  only: the update_fields list, or 0. */
static void check_partial_save(lua_State *L, tdo_model *m, int only)
{
    if (!any_partial)
        return;
    ltdo_state_get(L, "partial");
    lua_pushvalue(L, 1);
    bool partial = lua_rawget(L, -2) == LUA_TTABLE;
    lua_pop(L, 2);
    if (!partial)
        return;
    if (!only)
        ltdo_raise(L, TDO_ERR_INCOMPLETE_INSTANCE,
                   "%s is a partial model, can only be saved with the "
                   "relevant update_field provided",
                   tdo_model_name(m));
    size_t nl = lua_rawlen(L, only);
    for (size_t j = 1; j <= nl; j++) {
        lua_rawgeti(L, only, (lua_Integer)j);
        const tdo_field *f = ltdo_field_by_attr(m, lua_tostring(L, -1));
        const char *attr = ltdo_field_attr(L, f);
        if (deferred(L, 1, attr))
            ltdo_raise(L, TDO_ERR_INCOMPLETE_INSTANCE,
                       "%s is a partial model, field '%s' is not available",
                       tdo_model_name(m), lua_tostring(L, -2));
        lua_pop(L, 2);
    }
}

/* obj:save{update_fields=, force_create=, force_update=} */
/* Whether a field of the instance at 1 holds an expression (an F). */
static bool holds_expr(lua_State *L, tdo_model *m)
{
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (f->type == TDO_F_M2M)
            continue;
        ltdo_field_attr(L, f);
        bool e = lua_rawget(L, 1) == LUA_TUSERDATA && ltdo_tof(L, -1);
        lua_pop(L, 1);
        if (e)
            return true;
    }
    return false;
}

static int save(lua_State *L, bool exprs);

/* u:save([opts]); a field holding an F is saved by model.lua's
 * save_exprs (an UPDATE computing it), which saves the rest through
 * C.save_plain. */
static int inst_save(lua_State *L)
{
    return save(L, true);
}

static int c_save_plain(lua_State *L)
{
    return save(L, false);
}

static int save(lua_State *L, bool exprs)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 2);
    tdo_model *m = check_instance(L, 1);
    if (exprs && holds_expr(L, m)) {
        ltdo_state_get(L, "save_exprs");
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 0);
        return 0;
    }
    tdo_save_opts o = {0};
    int only = 0;
    const char *using = NULL; /* save{using_db = conn}: anchored below */
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "using_db");
        int u = lua_gettop(L);
        using = ltdo_using_name(L, u); /* pushes the name (or nil) */
        lua_replace(L, u);
        lua_getfield(L, 2, "update_fields");
        if (lua_istable(L, -1)) {
            only = lua_gettop(L);
            size_t nl = lua_rawlen(L, only);
            const char **names =
                lua_newuserdatauv(L, (nl ? nl : 1) * sizeof(*names), 0);
            for (size_t j = 1; j <= nl; j++) {
                lua_rawgeti(L, only, (lua_Integer)j);
                const char *s = lua_tostring(L, -1);
                const tdo_field *f = s ? ltdo_field_by_attr(m, s) : NULL;
                if (!f)
                    unknown_field(L, m, s ? s : "?");
                names[j - 1] = f->name; /* the model's */
                lua_pop(L, 1);
            }
            o.update_fields = names;
            o.nupdate_fields = nl;
        } else {
            lua_pop(L, 1);
        }
        lua_getfield(L, 2, "force_create");
        o.force_create = lua_toboolean(L, -1);
        lua_getfield(L, 2, "force_update");
        o.force_update = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    check_partial_save(L, m, only);
    tdo_conn *conn = ltdo_model_conn_for(L, m, using, true);
    o.saved = is_saved(L, 1);
    lsave s = {.L = L, .inst = 1};
    ltdo_save_row(L, m, 1, only, conn, &instance_io, &s.a, &o, NULL);
    return 0;
}

/* obj:delete() (Model:delete() deletes every row, as a queryset does) */
static int inst_delete(lua_State *L)
{
    if (ltdo_tomodel(L, 1))
        return ltdo_qs_method(L, "delete");
    tdo_model *m = check_instance(L, 1);
    tdo_value *pk = key_values(L, 1, m);
    /* an instance never saved is not deleted, whatever its pk says
     * (read-only models: the core says so) */
    if ((!pk || !is_saved(L, 1)) && !tdo_model_read_only(m))
        return ltdo_raise(L, TDO_ERR_OPERATIONAL,
                          tdo_model_nkey(m) ? "Can't delete unpersisted record"
                                            : "cannot delete an instance of "
                                              "a model without a primary key");
    tdo_conn *conn = ltdo_model_conn(L, m);
    int64_t changed = 0;
    ltdo_delete_row(L, m, 1, conn, pk, &changed); /* signals; raises */
    set_saved(L, 1, false);
    return 0;
}

/* Checks that every object of the list at 2 is an instance of m;
 * whether every one has a primary key (then it is written). */
static void bulk_objects(lua_State *L, tdo_model *m, size_t nrows)
{
    for (size_t i = 1; i <= nrows; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i);
        if (check_instance(L, -1) != m)
            ltdo_raise(L, TDO_ERR_PARAMS, "bulk_create: object %d is not a %s",
                       (int)i, tdo_model_name(m));
        lua_pop(L, 2);
    }
}

/* Reads opts[key], an array of field names of m, into a new userdata
 * array of fields (left on the stack); returns their count (0: absent). */
static size_t field_list(lua_State *L, int opts, const char *key, tdo_model *m,
                         const tdo_field ***out)
{
    *out = NULL;
    if (lua_getfield(L, opts, key) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return 0;
    }
    if (!lua_istable(L, -1))
        ltdo_raise(L, TDO_ERR_PARAMS,
                   "bulk_create: %s takes a list of field "
                   "names",
                   key);
    size_t n = lua_rawlen(L, -1);
    const tdo_field **fs = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*fs), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        const char *name = lua_tostring(L, -1);
        const tdo_field *f = name ? ltdo_field_by_attr(m, name) : NULL;
        if (!f && name)
            f = tdo_model_field_by_name(m, name);
        if (!f || f->type == TDO_F_M2M)
            unknown_field(L, m, name ? name : "?");
        fs[i] = f;
        lua_pop(L, 1);
    }
    lua_remove(L, -2);
    *out = fs;
    return n;
}

/* Model:bulk_create(list, {batch_size=, ignore_conflicts=, on_conflict=,
 * update_fields=}) */
static int model_bulk_create(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 3);
    tdo_model *m = ltdo_checkmodel(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer batch = 0;
    bool ignore = false;
    tdo_upsert up = {NULL, 0, NULL, 0};
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "batch_size");
        batch = luaL_optinteger(L, -1, 0);
        lua_getfield(L, 3, "ignore_conflicts");
        ignore = lua_toboolean(L, -1);
        lua_pop(L, 2);
        const tdo_field **on, **set;
        up.non = field_list(L, 3, "on_conflict", m, &on);
        up.nset = field_list(L, 3, "update_fields", m, &set);
        up.on = on;
        up.set = set; /* both anchored on the stack */
        if (ignore && (up.non || up.nset))
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "bulk_create: ignore_conflicts and "
                              "update_fields / on_conflict exclude each "
                              "other");
        if (!up.non != !up.nset)
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "bulk_create: update_fields and on_conflict "
                              "go together (the fields to update, the "
                              "unique fields a row may clash on)");
    }
    bool upsert = up.non > 0;
    size_t nrows = lua_rawlen(L, 2);
    if (nrows == 0) {
        lua_pushvalue(L, 2);
        return 1;
    }
    tdo_conn *conn = ltdo_model_conn(L, m);
    bulk_objects(L, m, nrows);
    /* the core reads and writes each object through an lsave */
    lsave *objs = lua_newuserdatauv(L, nrows * sizeof(*objs), 0);
    void **ptrs = lua_newuserdatauv(L, nrows * sizeof(*ptrs), 0);
    for (size_t i = 0; i < nrows; i++) {
        objs[i] = (lsave){.L = L, .list = 2, .row = (lua_Integer)i + 1};
        ptrs[i] = &objs[i];
    }
    tdo_bulk_opts o = {batch > 0 ? (size_t)batch : 0, ignore,
                       upsert ? &up : NULL};
    tdo_error err = TDO_ERROR_INIT;
    lua_State *before = ltdo_enter(L); /* Lua validators run in L */
    tdo_status st =
        tdo_bulk_create(conn, m, &instance_io, ptrs, nrows, &o, &err);
    ltdo_enter(before);
    if (st)
        ltdo_raise_kept(L, &err);
    lua_pushvalue(L, 2);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

void ltdo_push_instance_row(lua_State *L, tdo_rows *r, int model_idx,
                            int names_idx, int saved_idx)
{
    size_t n = tdo_rows_ncols(r);
    tdo_error err = TDO_ERROR_INIT;
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        tdo_value v;
        if (tdo_rows_get(r, i, &v, &err))
            ltdo_error(L, &err);
        if (v.type == TDO_NULL)
            continue;
        lua_rawgeti(L, names_idx, (lua_Integer)i + 1);
        ltdo_push_value(L, &v);
        lua_rawset(L, -3);
    }
    lua_pushvalue(L, model_idx);
    lua_setmetatable(L, -2);
    if (saved_idx) {
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, saved_idx);
    }
}

/* Model:raw(sql, params): instances from any SELECT on the model's
 * table; columns are matched to fields by attribute or column name. */
static int model_raw(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 3);
    tdo_model *m = ltdo_checkmodel(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    tdo_conn *conn = ltdo_model_conn(L, m);
    /* 4 parameters, 5 the cursor's box */
    tdo_rows *rows = ltdo_run_sql(L, conn, sql, 3, true, NULL, "raw: ");
    ltdo_box *box = lua_touserdata(L, 5);
    tdo_error err = TDO_ERROR_INIT;
    size_t nc = rows ? tdo_rows_ncols(rows) : 0;
    const tdo_field **cf =
        lua_newuserdatauv(L, (nc ? nc : 1) * sizeof(*cf), 0); /* 6 */
    lua_createtable(L, (int)nc, 0);                           /* 7 names */
    for (size_t i = 0; i < nc; i++) {
        const char *cn = tdo_rows_colname(rows, i);
        const tdo_field *f = ltdo_field_by_attr(m, cn);
        for (size_t j = 0; !f && j < tdo_model_nfields(m); j++) {
            const tdo_field *g = tdo_model_field(m, j);
            if (g->column && strcmp(g->column, cn) == 0)
                f = g;
        }
        cf[i] = f;
        if (f)
            ltdo_field_attr(L, f);
        else
            lua_pushstring(L, cn);
        lua_rawseti(L, 7, (lua_Integer)i + 1);
    }
    ltdo_push_saved(L);                /* 8 */
    lua_newtable(L);                   /* 9 result */
    ltdo_vals *tmp = ltdo_vals_new(L); /* 10 */
    size_t count = 0;
    while (ltdo_rows_step(L, rows)) {
        lua_createtable(L, 0, (int)nc);
        for (size_t i = 0; i < nc; i++) {
            tdo_value v;
            if (tdo_rows_get(rows, i, &v, &err))
                return ltdo_error(L, &err);
            if (v.type == TDO_NULL)
                continue;
            lua_rawgeti(L, 7, (lua_Integer)i + 1);
            if (cf[i] && cf[i]->type != TDO_F_M2M) {
                tdo_value *c = ltdo_vals_add(L, tmp);
                if (tdo_field_coerce(cf[i], &v, c, &err))
                    return ltdo_error(L, &err);
                ltdo_push_value(L, c);
            } else {
                ltdo_push_value(L, &v);
            }
            lua_rawset(L, -3);
        }
        lua_pushvalue(L, 1);
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, 8);
        lua_rawseti(L, 9, (lua_Integer)++count);
    }
    ltdo_box_close(box);
    lua_pushvalue(L, 9);
    return 1;
}

/* C._set_saved(obj, flag) / C._is_saved(obj) for the Lua parts */
static int c_set_saved(lua_State *L)
{
    set_saved(L, 1, lua_toboolean(L, 2));
    return 0;
}

static int c_is_saved(lua_State *L)
{
    lua_pushboolean(L, is_saved(L, 1));
    return 1;
}

/* The field of the instance at 1 named by the string at 2 (stored in
 * *k); raises when the model has no such field. */
static const tdo_field *arg_field(lua_State *L, const char **k)
{
    tdo_model *m = check_instance(L, 1);
    *k = luaL_checkstring(L, 2);
    const tdo_field *f = ltdo_field_by_attr(m, *k);
    if (f == NULL)
        unknown_field(L, m, *k);
    return f;
}

/* Stores field f of the instance at 1 in canonical form. */
static void canonical_attr(lua_State *L, const tdo_field *f)
{
    ltdo_vals *vb = ltdo_vals_new(L);
    ltdo_field_attr(L, f);
    canonicalize(L, 1, f, lua_gettop(L), vb);
}

/* C.canonical(obj, attr): stores attr of obj in canonical form. */
static int c_canonical(lua_State *L)
{
    const char *k;
    const tdo_field *f = arg_field(L, &k);
    if (f->type == TDO_F_M2M)
        return ltdo_raise(L, TDO_ERR_CONFIGURATION,
                          "%s is a many-to-many relation", k);
    canonical_attr(L, f);
    return 0;
}

/* C.set_attr(obj, key, value): sets with relation handling and checks. */
static int c_set_attr(lua_State *L)
{
    const char *k;
    const tdo_field *f = arg_field(L, &k);
    set_attr(L, 1, k, 3);
    if (f->type != TDO_F_M2M)
        canonical_attr(L, f);
    return 0;
}

/* Converts the primary keys of the instances in the array at idx to
 * values of field pkf appended to vb; returns the first slot index. */
static size_t pk_values(lua_State *L, int idx, const tdo_field *pkf,
                        ltdo_vals *vb)
{
    size_t first = vb->n, n = lua_rawlen(L, idx);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        lua_getfield(L, -1, "pk");
        ltdo_field_value(L, -1, pkf, vb, false);
        lua_pop(L, 2);
    }
    return first;
}

/* The arguments C.m2m_add and C.m2m_remove share, read. */
typedef struct m2m_args {
    const tdo_relation *r; /* the many-to-many relation */
    tdo_conn *conn;        /* of its model */
    ltdo_vals *vb;         /* the instance's pk, then the targets' pks */
    size_t t0;             /* where the targets' pks start in vb */
} m2m_args;

/* Reads (Model, relname, pk, targets) at 1..4: the model's many-to-many
 * relation relname (FieldError when there is none), the pk and the
 * targets' pks into a new value list it pushes. */
static void m2m_read_args(lua_State *L, m2m_args *a)
{
    tdo_model *m = ltdo_checkmodel(L, 1);
    const char *name = luaL_checkstring(L, 2);
    ltdo_resolve(L);
    a->r = tdo_model_relation_by_name(m, name);
    if (!a->r ||
        (a->r->kind != TDO_REL_M2M && a->r->kind != TDO_REL_REVERSE_M2M))
        ltdo_raise(L, TDO_ERR_FIELD,
                   "no many-to-many relation '%s' on model '%s'", name,
                   tdo_model_name(m));
    luaL_checktype(L, 4, LUA_TTABLE);
    a->conn = ltdo_model_conn(L, m);
    a->vb = ltdo_vals_new(L);
    ltdo_field_value(L, 3, tdo_model_pk(m), a->vb, false);
    a->t0 = pk_values(L, 4, tdo_model_pk(a->r->target), a->vb);
}

/* C.m2m_add(Model, relname, pk, targets, through_defaults_or_nil) */
static int c_m2m_add(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 5);
    m2m_args a;
    m2m_read_args(L, &a);
    ltdo_vals *vb = a.vb;
    size_t t0 = a.t0;
    size_t nt = vb->n - t0;
    size_t nextra = 0;
    const char **cols = NULL;
    size_t e0 = vb->n;
    if (lua_istable(L, 5)) {
        lua_pushnil(L);
        while (lua_next(L, 5)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                return ltdo_raise(L, TDO_ERR_PARAMS,
                                  "through_defaults takes column = value "
                                  "pairs");
            nextra++;
        }
        cols = lua_newuserdatauv(L, (nextra ? nextra : 1) * sizeof(char *), 0);
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, 5)) {
            tdo_value v;
            if (!ltdo_to_value(L, -1, &v))
                return ltdo_raise(L, TDO_ERR_PARAMS,
                                  "through_defaults: bad value for '%s' (a "
                                  "%s)",
                                  lua_tostring(L, -2), luaL_typename(L, -1));
            tdo_value *slot = ltdo_vals_add(L, vb);
            if (tdo_value_copy(slot, &v))
                return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
            lua_pop(L, 1);
            cols[k++] = lua_tostring(L, -1); /* anchored by the table */
        }
    }
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_m2m_add(a.conn, a.r, &vb->v[0], &vb->v[t0], nt, cols, &vb->v[e0],
                    nextra, &err))
        return ltdo_error(L, &err);
    return 0;
}

/* C.m2m_remove(Model, relname, pk, targets): {} clears every link. */
static int c_m2m_remove(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 4);
    m2m_args a;
    m2m_read_args(L, &a);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_m2m_remove(a.conn, a.r, &a.vb->v[0], &a.vb->v[a.t0], a.vb->n - a.t0,
                       &err))
        return ltdo_error(L, &err);
    return 0;
}

/* The name of the other side of relation r (on its target), or NULL. */
static const char *opposite_of(const tdo_relation *r)
{
    if (r->kind >= TDO_REL_REVERSE_FK)
        return r->field->name;
    for (size_t i = 0; i < tdo_model_nrelations(r->target); i++) {
        const tdo_relation *o = tdo_model_relation(r->target, i);
        if (o->kind >= TDO_REL_REVERSE_FK && o->field == r->field)
            return o->name;
    }
    return NULL;
}

/* C.core_relations(Model): the core's relations of the model (forward
 * and reverse), { [name] = { name, kind = "fk" | "o2o" | "m2m" |
 * "reverse_fk" | ..., target = Model, field_name = the declaring field's
 * name, opposite = the other side's name or nil, key = the attribute the
 * FK's column holds on the model it points at: "pk", or its to_field }
 * }; empty until the models' references resolve. */
static int c_core_relations(lua_State *L)
{
    static const char *const kinds[] = {
        "fk", "o2o", "m2m", "reverse_fk", "reverse_o2o", "reverse_m2m"};
    luaL_checkstack(L, 20, "testudo");
    tdo_model *m = ltdo_checkmodel(L, 1);
    bool resolved = ltdo_try_resolve(L);
    lua_newtable(L);
    for (size_t i = 0; resolved && i < tdo_model_nrelations(m); i++) {
        const tdo_relation *r = tdo_model_relation(m, i);
        lua_createtable(L, 0, 5);
        lua_pushstring(L, r->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, kinds[r->kind]);
        lua_setfield(L, -2, "kind");
        ltdo_push_model(L, r->target);
        lua_setfield(L, -2, "target");
        lua_pushstring(L, r->field->name);
        lua_setfield(L, -2, "field_name");
        lua_pushstring(L, fk_key_attr(r->field));
        lua_setfield(L, -2, "key");
        const char *opp = opposite_of(r);
        if (opp) {
            lua_pushstring(L, opp);
            lua_setfield(L, -2, "opposite");
        }
        lua_setfield(L, -2, r->name);
    }
    return 1;
}

static const luaL_Reg inst_meth[] = {
    {"save", inst_save},
    {"delete", inst_delete},
    {"bulk_create", model_bulk_create},
    {"raw", model_raw},
    {NULL, NULL},
};

/* C.using_name(x): the connection name a using_db value names (a name, a
 * connection, a transaction object); ParamsError otherwise. */
static int c_using_name(lua_State *L)
{
    ltdo_using_name(L, 1);
    return 1;
}

static const luaL_Reg c_meth[] = {
    {"using_name", c_using_name},
    {"connect_signal", ltdo_c_connect_signal},
    {"set_saved", c_set_saved},
    {"save_plain", c_save_plain},
    {"is_saved", c_is_saved},
    {"canonical", c_canonical},
    {"set_attr", c_set_attr},
    {"m2m_add", c_m2m_add},
    {"m2m_remove", c_m2m_remove},
    {"core_relations", c_core_relations},
    {NULL, NULL},
};

void ltdo_open_instance(lua_State *L, int base_idx, int C_idx)
{
    base_idx = lua_absindex(L, base_idx);
    C_idx = lua_absindex(L, C_idx);
    lua_pushvalue(L, base_idx);
    luaL_setfuncs(L, inst_meth, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, C_idx);
    luaL_setfuncs(L, c_meth, 0);
    lua_pop(L, 1);
}
