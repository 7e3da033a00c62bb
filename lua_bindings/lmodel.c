/*
 * lmodel.c -- orm.Model and Model:extend(name, body): declares a model in
 * the core registry and builds its Lua table (the class of its instances:
 * methods, metamethods, _meta, DoesNotExist ...).
 *
 * A model table holds, raw: __tdo (a ModelRef userdata whose user value
 * keeps the context alive), __pk (the primary key attribute), __fk
 * ({customer = "customer_id"}), _meta, the instance metamethods, the body's
 * functions, DoesNotExist and MultipleObjectsReturned.  Its metatable is
 * ModelMeta (__index = orm.Model, __call = a new unsaved instance).
 */
#include "ltdo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Lookups between model tables and C models                           */
/* ------------------------------------------------------------------ */

tdo_model *ltdo_tomodel(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return NULL;
    if (lua_getfield(L, idx, "__tdo") != LUA_TUSERDATA) {
        lua_pop(L, 1);
        return NULL;
    }
    lmodelref *r = luaL_testudata(L, -1, LTDO_MODELREF);
    lua_pop(L, 1);
    /* instances reach __tdo through __index: only raw model tables count */
    if (r) {
        lua_pushliteral(L, "__tdo");
        if (lua_rawget(L, idx) == LUA_TNIL)
            r = NULL;
        lua_pop(L, 1);
    }
    return r ? r->m : NULL;
}

tdo_model *ltdo_checkmodel(lua_State *L, int idx)
{
    tdo_model *m = ltdo_tomodel(L, idx);
    if (m == NULL)
        luaL_typeerror(L, idx, "Model");
    return m;
}

void ltdo_push_model(lua_State *L, const tdo_model *m)
{
    intptr_t ref = (intptr_t)tdo_model_userdata(m);
    if (ref <= 0) {
        lua_pushnil(L);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, (lua_Integer)ref);
}

tdo_model *ltdo_instance_model(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return NULL;
    tdo_model *m = ltdo_tomodel(L, -1);
    if (m == NULL) {
        lua_pop(L, 1);
        return NULL;
    }
    /* the value itself must not be a model table */
    lua_pushliteral(L, "__tdo");
    if (lua_rawget(L, idx) != LUA_TNIL) {
        lua_pop(L, 2);
        return NULL;
    }
    lua_pop(L, 1);
    return m;
}

static bool is_fk(const tdo_field *f)
{
    return f->type == TDO_F_FK || f->type == TDO_F_O2O;
}

const char *ltdo_field_attr(lua_State *L, const tdo_field *f)
{
    if (f->userdata) { /* the interned name, kept by bind_core */
        lua_rawgeti(L, LUA_REGISTRYINDEX, (lua_Integer)f->userdata);
        return lua_tostring(L, -1);
    }
    if (is_fk(f))
        return lua_pushfstring(L, "%s_id", f->name);
    lua_pushstring(L, f->name);
    return lua_tostring(L, -1);
}

const tdo_field *ltdo_field_by_attr(const tdo_model *m, const char *key)
{
    if (strcmp(key, "pk") == 0)
        return tdo_model_pk(m);
    const tdo_field *f = tdo_model_field_by_name(m, key);
    if (f)
        return f;
    size_t n = strlen(key);
    if (n > 3 && strcmp(key + n - 3, "_id") == 0 && n < 256) {
        char buf[256];
        memcpy(buf, key, n - 3);
        buf[n - 3] = '\0';
        f = tdo_model_field_by_name(m, buf);
        if (f && is_fk(f))
            return f;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Field specs -> templates                                            */
/* ------------------------------------------------------------------ */

static bool optbool(lua_State *L, int t, const char *k, bool def)
{
    lua_getfield(L, t, k);
    bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static int optint(lua_State *L, int t, const char *k, int def)
{
    lua_getfield(L, t, k);
    int v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1))
            ltdo_raise(L, TDO_ERR_CONFIGURATION, "%s must be an integer", k);
        v = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Returns spec[k] as a string anchored in the anchor table, or NULL. */
static char *optstr(lua_State *L, int t, const char *k, int anchor)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        ltdo_raise(L, TDO_ERR_CONFIGURATION, "%s must be a string", k);
    const char *s = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return (char *)s;
}

/* Anchors the string on top of the stack and returns it. */
static char *anchor_top(lua_State *L, int anchor)
{
    const char *s = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return (char *)s;
}

static tdo_on_delete on_delete_of(lua_State *L, const char *s)
{
    static const char *const names[] = {"CASCADE", "RESTRICT", "SET NULL",
                                        "SET DEFAULT", "NO ACTION"};
    char buf[32];
    size_t i;
    for (i = 0; s[i] && i < sizeof buf - 1; i++)
        buf[i] = s[i] == '_'                    ? ' '
                 : (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32)
                                                : s[i];
    buf[i] = '\0';
    for (int k = 0; k < 5; k++)
        if (strcmp(buf, names[k]) == 0)
            return (tdo_on_delete)k;
    ltdo_raise(L, TDO_ERR_CONFIGURATION, "unknown on_delete '%s'", s);
    return TDO_CASCADE;
}

/* Pushes "app.Name" for a related-model reference at idx (a string or a
 * model table). */
static char *related_ref(lua_State *L, int idx, int anchor)
{
    tdo_model *rm = ltdo_tomodel(L, idx);
    if (rm) {
        lua_pushfstring(L, "%s.%s", tdo_model_app(rm), tdo_model_name(rm));
        return anchor_top(L, anchor);
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return NULL;
    lua_pushvalue(L, idx);
    return anchor_top(L, anchor);
}

/* The TDO_FIELD_* flags a spec sets over the type's defaults fl. */
static unsigned spec_flags(lua_State *L, int spec, unsigned fl)
{
    static const struct {
        const char *key, *alias;
        unsigned flag;
    } opts[] = {
        {"null", NULL, TDO_FIELD_NULL},
        {"unique", NULL, TDO_FIELD_UNIQUE},
        {"index", "db_index", TDO_FIELD_INDEX},
        {"primary_key", "pk", TDO_FIELD_PK},
        {"generated", NULL, TDO_FIELD_GENERATED},
        {"auto_now", NULL, TDO_FIELD_AUTO_NOW},
        {"auto_now_add", NULL, TDO_FIELD_AUTO_NOW_ADD},
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (optbool(L, spec, opts[i].key, false) ||
            (opts[i].alias && optbool(L, spec, opts[i].alias, false)))
            fl |= opts[i].flag;
    if (!optbool(L, spec, "db_constraint", true))
        fl &= ~(unsigned)TDO_FIELD_DB_CONSTRAINT;
    return fl;
}

/* The default of a spec: a value (constant) or a function (called per
 * instance); strings stay anchored by the spec table. */
static void spec_default(lua_State *L, int spec, tdo_field_decl *t)
{
    lua_getfield(L, spec, "default");
    if (!lua_isnil(L, -1)) {
        t->flags |= TDO_FIELD_HAS_DEFAULT;
        tdo_value v;
        if (!lua_isfunction(L, -1) && t->type != TDO_F_JSON &&
            ltdo_to_value(L, -1, &v)) {
            t->flags |= TDO_FIELD_CONST_DEFAULT;
            t->default_value = v;
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, spec, "db_default"); /* SQL text, anchored by spec */
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "db_default must be SQL text (a string)");
    t->db_default = lua_tostring(L, -1);
    lua_pop(L, 1);
}

/* Replaces the enum-like table at et ({USER = "user", ...}) by the sorted
 * array of its values, anchored. */
static void enum_values_of(lua_State *L, int et, int anchor)
{
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, et))
        lua_rawseti(L, -3, (lua_Integer)lua_rawlen(L, -3) + 1);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_remove(L, -2);
    lua_pushvalue(L, -2);
    lua_pcall(L, 1, 0, 0) == LUA_OK ? (void)0 : lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    lua_replace(L, et);
}

/* The allowed values of an enum field (enum_type: an array of values, or
 * an enum-like table). */
static void spec_enum(lua_State *L, int spec, const char *name,
                      tdo_field_decl *t, int anchor)
{
    lua_getfield(L, spec, "enum_type");
    if (lua_istable(L, -1)) {
        int et = lua_gettop(L);
        if (lua_rawlen(L, et) == 0)
            enum_values_of(L, et, anchor);
        size_t n = lua_rawlen(L, et);
        tdo_value *vals =
            lua_newuserdatauv(L, (n ? n : 1) * sizeof(tdo_value), 0);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, et, (lua_Integer)i + 1);
            if (!ltdo_to_value(L, -1, &vals[i]))
                ltdo_raise(L, TDO_ERR_CONFIGURATION,
                           "field '%s': bad enum value", name);
            lua_pop(L, 1);
        }
        t->enum_values = vals;
        t->n_enum = n;
    } else if (!lua_isnil(L, -1)) {
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "field '%s': enum_type must be a table of values", name);
    }
    lua_pop(L, 1);
}

/* A relation's options: the related model (first positional value,
 * model_name or to), related_name (false: no reverse side, "+" for the
 * core), on_delete, and a many-to-many's through table and keys.  The
 * core checks them (tdo_model_add_field). */
static void spec_relation(lua_State *L, int spec, const char *name,
                          tdo_field_decl *t, int anchor)
{
    lua_rawgeti(L, spec, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, spec, "model_name");
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, spec, "to");
    }
    t->related_ref = related_ref(L, lua_gettop(L), anchor);
    lua_pop(L, 1);
    if (t->related_ref == NULL)
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "field '%s': a relation needs the related model "
                   "(\"app.Model\")",
                   name);
    lua_getfield(L, spec, "related_name");
    bool no_reverse = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    t->related_name =
        no_reverse ? "+" : optstr(L, spec, "related_name", anchor);
    const char *od = optstr(L, spec, "on_delete", anchor);
    t->on_delete = od ? on_delete_of(L, od) : TDO_CASCADE;
    t->through = optstr(L, spec, "through", anchor);
    t->forward_key = optstr(L, spec, "forward_key", anchor);
    t->backward_key = optstr(L, spec, "backward_key", anchor);
    t->to_field = optstr(L, spec, "to_field", anchor);
}

/* Fills *t from the field spec at spec for the attribute name. */
static void spec_template(lua_State *L, int spec, const char *name,
                          tdo_field_decl *t, int anchor)
{
    luaL_checkstack(L, 40, "testudo");
    lua_getfield(L, spec, "__type");
    const char *tn = lua_tostring(L, -1);
    tdo_field_type type = tdo_field_type_by_name(tn);
    lua_pop(L, 1);
    if (type == TDO_F_COUNT)
        ltdo_raise(L, TDO_ERR_CONFIGURATION, "field '%s': unknown type %s",
                   name, tn ? tn : "?");
    *t = tdo_field_template(name, type);
    t->flags = spec_flags(L, spec, t->flags);
    t->column = optstr(L, spec, "source_field", anchor);
    t->max_length = optint(L, spec, "max_length", 0);
    t->max_digits = optint(L, spec, "max_digits", 0);
    t->decimal_places = optint(L, spec, "decimal_places", 0);
    t->description = optstr(L, spec, "description", anchor);
    spec_default(L, spec, t);
    spec_enum(L, spec, name, t, anchor);
    ltdo_spec_validators(L, spec, name, t, anchor);
    if (type == TDO_F_FK || type == TDO_F_O2O || type == TDO_F_M2M)
        spec_relation(L, spec, name, t, anchor);
}

static bool is_spec(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, LTDO_FIELDSPEC);
    bool r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

typedef struct specref {
    const char *name;
    lua_Integer seq;
} specref;

static int cmp_spec(const void *a, const void *b)
{
    const specref *x = a, *y = b;
    return x->seq < y->seq   ? -1
           : x->seq > y->seq ? 1
                             : strcmp(x->name, y->name);
}

typedef struct group {
    const char **names;
    size_t n;
} group;

/* Parses Meta[key] (indexes / unique_together): a list of lists of names,
 * or one list of names; returns the groups (anchored userdata). */
static group *parse_groups(lua_State *L, int meta, const char *key,
                           size_t *ngroups, int anchor)
{
    *ngroups = 0;
    lua_getfield(L, meta, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1))
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "Meta.%s must be a list of lists of field names", key);
    int t = lua_gettop(L);
    lua_pushvalue(L, t);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    size_t n = lua_rawlen(L, t);
    bool flat = n > 0 && (lua_rawgeti(L, t, 1), lua_type(L, -1)) == LUA_TSTRING;
    if (n > 0)
        lua_pop(L, 1);
    size_t ng = flat ? 1 : n;
    group *g = lua_newuserdatauv(L, (ng ? ng : 1) * sizeof(group), 0);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    for (size_t i = 0; i < ng; i++) {
        int list;
        if (flat) {
            lua_pushvalue(L, t);
        } else {
            lua_rawgeti(L, t, (lua_Integer)i + 1);
            if (lua_type(L, -1) == LUA_TSTRING) {
                /* { "role" } inside: a one-name group */
                lua_createtable(L, 1, 0);
                lua_insert(L, -2);
                lua_rawseti(L, -2, 1);
                lua_pushvalue(L, -1);
                lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
            }
        }
        list = lua_gettop(L);
        if (!lua_istable(L, list))
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "Meta.%s must be a list of lists of field names", key);
        size_t m = lua_rawlen(L, list);
        const char **names =
            lua_newuserdatauv(L, (m ? m : 1) * sizeof(char *), 0);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
        for (size_t j = 0; j < m; j++) {
            lua_rawgeti(L, list, (lua_Integer)j + 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                ltdo_raise(L, TDO_ERR_CONFIGURATION,
                           "Meta.%s: field names must be strings", key);
            names[j] = lua_tostring(L, -1); /* anchored by list */
            lua_pop(L, 1);
        }
        g[i].names = names;
        g[i].n = m;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *ngroups = ng;
    return g;
}

/* ------------------------------------------------------------------ */
/* _meta                                                               */
/* ------------------------------------------------------------------ */

static void setstr(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void setbool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static const char *const on_delete_names[] = {"CASCADE", "RESTRICT", "SET NULL",
                                              "SET DEFAULT", "NO ACTION"};

/* Pushes the field object of f; spec (0: none) is its declaration or the
 * parent's field object, for the Lua-only options. */
static void push_field_object(lua_State *L, const tdo_field *f, int spec)
{
    lua_createtable(L, 0, 20);
    setstr(L, "field_type", tdo_field_type_name(f->type));
    setstr(L, "name", f->name);
    if (f->column)
        setstr(L, "source_field", f->column);
    setbool(L, "null", f->flags & TDO_FIELD_NULL);
    setbool(L, "unique", f->flags & TDO_FIELD_UNIQUE);
    setbool(L, "index", f->flags & TDO_FIELD_INDEX);
    setbool(L, "pk", f->flags & TDO_FIELD_PK);
    setbool(L, "generated", f->flags & TDO_FIELD_GENERATED);
    if (f->flags & TDO_FIELD_AUTO_NOW)
        setbool(L, "auto_now", true);
    if (f->flags & TDO_FIELD_AUTO_NOW_ADD)
        setbool(L, "auto_now_add", true);
    if (f->max_length > 0) {
        lua_pushinteger(L, f->max_length);
        lua_setfield(L, -2, "max_length");
    }
    if (f->type == TDO_F_DECIMAL) {
        lua_pushinteger(L, f->max_digits);
        lua_setfield(L, -2, "max_digits");
        lua_pushinteger(L, f->decimal_places);
        lua_setfield(L, -2, "decimal_places");
    }
    setstr(L, "description", f->description);
    setstr(L, "db_default", f->db_default);
    if (f->related_ref) {
        setstr(L, "related_model", f->related_ref);
        if (f->related_name && strcmp(f->related_name, "+") == 0)
            setbool(L, "related_name", false);
        else
            setstr(L, "related_name", f->related_name);
        setstr(L, "on_delete", on_delete_names[f->on_delete % 5]);
        setstr(L, "through", f->through);
        setstr(L, "forward_key", f->forward_key);
        setstr(L, "backward_key", f->backward_key);
        setstr(L, "to_field", f->to_field);
        setbool(L, "db_constraint", f->flags & TDO_FIELD_DB_CONSTRAINT);
    }
    if (f->type == TDO_F_FK || f->type == TDO_F_O2O) {
        lua_pushfstring(L, "%s_id", f->name);
        lua_setfield(L, -2, "attr");
    } else {
        setstr(L, "attr", f->name);
    }
    if (f->n_enum) {
        lua_createtable(L, (int)f->n_enum, 0);
        for (size_t i = 0; i < f->n_enum; i++) {
            ltdo_push_value(L, &f->enum_values[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "enum_type");
    }
    if (spec) {
        static const char *const lua_only[] = {"default", "validators", NULL};
        for (int i = 0; lua_only[i]; i++) {
            lua_getfield(L, spec, lua_only[i]);
            lua_setfield(L, -2, lua_only[i]);
        }
    }
    if (f->flags & TDO_FIELD_CONST_DEFAULT) {
        lua_getfield(L, -1, "default");
        bool none = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (none) {
            ltdo_push_value(L, &f->default_value);
            lua_setfield(L, -2, "default");
        }
    }
}

/* Pushes the spec of field name: the body's (at body), else the one the
 * parent's _meta.fields_map holds (parent: its class, 0: none), else
 * nil. */
static void push_spec(lua_State *L, int body, int parent, const char *name)
{
    int top = lua_gettop(L);
    lua_getfield(L, body, name);
    if (is_spec(L, -1))
        return;
    lua_settop(L, top);
    lua_pushnil(L); /* top + 1: the answer */
    if (!parent)
        return;
    lua_getfield(L, parent, "_meta");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "fields_map");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, name);
            if (lua_istable(L, -1))
                lua_replace(L, top + 1);
        }
    }
    lua_settop(L, top + 1);
}

/* Appends the string s to the array at t. */
static void append_str(lua_State *L, int t, const char *s)
{
    lua_pushstring(L, s);
    lua_rawseti(L, t, (lua_Integer)lua_rawlen(L, t) + 1);
}

/* _meta's field tables: fields (attribute names, in order), fields_map
 * (name -> field object), fk_fields, m2m_fields, fields_db_projection
 * (attribute -> column). */
static void meta_fields(lua_State *L, tdo_model *m, int body, int parent,
                        int mt, int cls)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_newtable(L);
    lua_newtable(L);
    lua_newtable(L);
    int fields = mt + 1, map = mt + 2, fks = mt + 3, m2ms = mt + 4,
        proj = mt + 5;
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        push_spec(L, body, parent, f->name);
        push_field_object(L, f, lua_isnil(L, -1) ? 0 : lua_gettop(L));
        lua_pushvalue(L, cls);
        lua_setfield(L, -2, "model");
        lua_setfield(L, map, f->name);
        lua_pop(L, 1);
        if (f->type == TDO_F_M2M) {
            append_str(L, m2ms, f->name);
            continue;
        }
        const char *attr = ltdo_field_attr(L, f);
        lua_rawseti(L, fields, (lua_Integer)lua_rawlen(L, fields) + 1);
        lua_pushstring(L, f->column ? f->column : attr);
        lua_setfield(L, proj, attr);
        if (is_fk(f))
            append_str(L, fks, f->name);
    }
    lua_setfield(L, mt, "fields_db_projection");
    lua_setfield(L, mt, "m2m_fields");
    lua_setfield(L, mt, "fk_fields");
    lua_setfield(L, mt, "fields_map");
    lua_setfield(L, mt, "fields");
}

/* _meta.indexes and _meta.unique_together: arrays of field-name lists. */
static void meta_indexes(lua_State *L, tdo_model *m, int mt)
{
    lua_newtable(L);
    lua_newtable(L);
    for (size_t i = 0; i < tdo_model_nindexes(m); i++) {
        size_t nf;
        bool uniq;
        const char *const *names = tdo_model_index(m, i, &nf, &uniq);
        lua_createtable(L, (int)nf, 0);
        for (size_t j = 0; j < nf; j++) {
            lua_pushstring(L, names[j]);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        int dest = uniq ? -3 : -2;
        lua_rawseti(L, dest, (lua_Integer)lua_rawlen(L, dest) + 1);
    }
    lua_setfield(L, mt, "indexes");
    lua_setfield(L, mt, "unique_together");
}

/* _meta.ordering: Meta's (or the parent's), a string made an array. */
static void meta_ordering(lua_State *L, int meta, int parent, int mt)
{
    lua_getfield(L, meta, "ordering");
    if (lua_isnil(L, -1) && parent) {
        lua_pop(L, 1);
        lua_getfield(L, parent, "_meta");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "ordering");
            lua_remove(L, -2);
        }
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    }
    lua_setfield(L, mt, "ordering");
}

/* Pushes _meta for model m; body and parent tables at their indexes. */
static void push_meta(lua_State *L, tdo_model *m, int body, int parent,
                      int meta, int cls)
{
    luaL_checkstack(L, 40, "testudo");
    lua_createtable(L, 0, 16);
    int mt = lua_gettop(L);
    setstr(L, "app", tdo_model_app(m));
    setstr(L, "name", tdo_model_name(m));
    setstr(L, "db_table", tdo_model_table(m));
    setbool(L, "abstract", tdo_model_abstract(m));
    setstr(L, "description", tdo_model_description(m));
    const tdo_field *pk = tdo_model_pk(m);
    if (pk)
        setstr(L, "pk_attr", pk->name);
    setbool(L, "read_only", tdo_model_read_only(m));
    lua_createtable(L, (int)tdo_model_nkey(m), 0);
    for (size_t i = 0; i < tdo_model_nkey(m); i++) {
        lua_pushstring(L, tdo_model_key(m, i)->name);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, mt, "primary_key");
    meta_fields(L, m, body, parent, mt, cls);
    meta_indexes(L, m, mt);
    meta_ordering(L, meta, parent, mt);
}

/* ------------------------------------------------------------------ */
/* Model:extend                                                        */
/* ------------------------------------------------------------------ */

static const char *const reserved[] = {"__tdo",
                                       "__pk",
                                       "__fk",
                                       "__key",
                                       "_meta",
                                       "__name",
                                       "__index",
                                       "__newindex",
                                       "__eq",
                                       "DoesNotExist",
                                       "MultipleObjectsReturned",
                                       NULL};

static bool is_reserved(const char *k)
{
    for (int i = 0; reserved[i]; i++)
        if (strcmp(k, reserved[i]) == 0)
            return true;
    return false;
}

/* What Meta says of a model, and the body's parts (model_extend). */
typedef struct model_decl {
    const char *name, *app, *table, *desc;
    bool abstract, read_only;
    bool keyset;          /* Meta.primary_key given */
    group key;            /* its field names */
    tdo_field_decl *tmpl; /* the field declarations, in order */
    size_t nspecs;
    group *idx, *uniq; /* indexes, unique_together */
    size_t nidx, nuniq;
} model_decl;

/* Reads Meta.primary_key (a list of field names: a composite key; empty:
 * no key) into d; names anchored. */
static void read_key(lua_State *L, int meta, int anchor, model_decl *d)
{
    lua_getfield(L, meta, "primary_key");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "Meta.primary_key must be a list of field names");
    int t = lua_gettop(L);
    lua_pushvalue(L, t);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    size_t n = lua_rawlen(L, t);
    d->key.names = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_CONFIGURATION,
                       "Meta.primary_key must be a list of field names");
        d->key.names[i] = lua_tostring(L, -1); /* anchored by the list */
        lua_pop(L, 1);
    }
    d->key.n = n;
    d->keyset = true;
    lua_pop(L, 1);
}

/* Reads Meta (at meta) into d: app (Meta.app, the current app, or
 * "models"), table, abstract, description; strings anchored. */
static void read_meta(lua_State *L, int meta, int anchor, model_decl *d)
{
    d->app = optstr(L, meta, "app", anchor);
    if (d->app == NULL) {
        ltdo_state_get(L, "current_app");
        if (lua_type(L, -1) == LUA_TSTRING)
            d->app = anchor_top(L, anchor);
        else
            lua_pop(L, 1);
    }
    if (d->app == NULL)
        d->app = "models";
    d->table = optstr(L, meta, "table", anchor);
    if (d->table == NULL)
        d->table = optstr(L, meta, "db_table", anchor);
    d->abstract = optbool(L, meta, "abstract", false);
    d->desc = optstr(L, meta, "table_description", anchor);
    if (d->desc == NULL)
        d->desc = optstr(L, meta, "description", anchor);
    d->idx = parse_groups(L, meta, "indexes", &d->nidx, anchor);
    d->uniq = parse_groups(L, meta, "unique_together", &d->nuniq, anchor);
    d->read_only = optbool(L, meta, "read_only", false);
    read_key(L, meta, anchor, d);
}

/* Reads the field specs of the body (at body) into templates, in
 * declaration order (their __seq); arrays anchored. */
static void read_fields(lua_State *L, int body, int anchor, model_decl *d)
{
    size_t nspecs = 0;
    lua_pushnil(L);
    while (lua_next(L, body)) {
        if (lua_type(L, -2) == LUA_TSTRING && is_spec(L, -1))
            nspecs++;
        lua_pop(L, 1);
    }
    specref *specs =
        lua_newuserdatauv(L, (nspecs ? nspecs : 1) * sizeof(specref), 0);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, body)) {
        if (lua_type(L, -2) == LUA_TSTRING && is_spec(L, -1) && k < nspecs) {
            specs[k].name = lua_tostring(L, -2);
            lua_getfield(L, -1, "__seq");
            specs[k].seq = lua_tointeger(L, -1);
            lua_pop(L, 1);
            k++;
        }
        lua_pop(L, 1);
    }
    qsort(specs, k, sizeof *specs, cmp_spec);
    d->nspecs = k;
    d->tmpl = lua_newuserdatauv(L, (k ? k : 1) * sizeof(tdo_field_decl), 0);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    for (size_t i = 0; i < k; i++) {
        lua_getfield(L, body, specs[i].name);
        spec_template(L, lua_gettop(L), specs[i].name, &d->tmpl[i], anchor);
        lua_pop(L, 1);
    }
}

/* Makes the core model of d (replacing any model of the same app and
 * name); raises its error, with nothing of it left registered. */
static tdo_model *make_core_model(lua_State *L, lctx *c, tdo_model *parent,
                                  const model_decl *d)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_model *old = tdo_ctx_model(c->ctx, d->app, d->name);
    if (old)
        tdo_model_detach(old);
    tdo_model *m = NULL;
    tdo_status st = tdo_model_new(c->ctx, d->app, d->name, &m, &err);
    if (!st && d->table)
        st = tdo_model_set_table(m, d->table, &err);
    if (!st) {
        tdo_model_set_abstract(m, d->abstract);
        tdo_model_set_read_only(m, d->read_only);
        if (d->keyset)
            st = tdo_model_set_key(m, d->key.names, d->key.n, &err);
        if (d->desc)
            st = tdo_model_set_description(m, d->desc, &err);
    }
    if (!st && parent)
        st = tdo_model_inherit(m, parent, &err);
    for (size_t i = 0; !st && i < d->nspecs; i++)
        st = tdo_model_add_field(m, &d->tmpl[i], NULL, &err);
    for (size_t i = 0; !st && i < d->nidx; i++)
        st = tdo_model_add_index(m, d->idx[i].names, d->idx[i].n, false, &err);
    for (size_t i = 0; !st && i < d->nuniq; i++)
        st = tdo_model_add_index(m, d->uniq[i].names, d->uniq[i].n, true, &err);
    if (!st)
        st = tdo_model_finish(m, &err);
    if (st) {
        if (m)
            tdo_model_detach(m);
        ltdo_error(L, &err);
    }
    c->dirty = true;
    return m;
}

/* Copies the string keys of the table at from into cls, except those
 * skip(L, key, value) refuses. */
static void copy_members(lua_State *L, int from, int cls,
                         bool (*skip)(lua_State *L, const char *k))
{
    lua_pushnil(L);
    while (lua_next(L, from)) {
        if (lua_type(L, -2) == LUA_TSTRING && !skip(L, lua_tostring(L, -2))) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, cls);
        } else {
            lua_pop(L, 1);
        }
    }
}

static bool skip_reserved(lua_State *L, const char *k)
{
    return is_reserved(k);
}

/* A body member that is neither Meta nor a field spec (value at -1). */
static bool skip_decl(lua_State *L, const char *k)
{
    return strcmp(k, "Meta") == 0 || is_spec(L, -1);
}

/* Pushes the class table: the parent's members (at parent, 0: none),
 * the body's methods (at body), the instance metamethods, __name. */
static int push_class(lua_State *L, int parent, int body, const char *name)
{
    lua_createtable(L, 0, 16);
    int cls = lua_gettop(L);
    if (parent)
        copy_members(L, parent, cls, skip_reserved);
    copy_members(L, body, cls, skip_decl);
    lua_pushcfunction(L, ltdo_inst_index);
    lua_setfield(L, cls, "__index");
    lua_pushcfunction(L, ltdo_inst_newindex);
    lua_setfield(L, cls, "__newindex");
    lua_pushcfunction(L, ltdo_inst_eq);
    lua_setfield(L, cls, "__eq");
    lua_getfield(L, cls, "__tostring");
    if (lua_isnil(L, -1)) {
        lua_pushcfunction(L, ltdo_inst_tostring);
        lua_setfield(L, cls, "__tostring");
    }
    lua_pop(L, 1);
    lua_pushstring(L, name);
    lua_setfield(L, cls, "__name");
    return cls;
}

/* Ties the class at cls to its core model: __tdo, __pk, __fk (the
 * foreign keys' attribute names). */
static void bind_core(lua_State *L, int cls, tdo_model *m)
{
    /* each field keeps a registry reference to its interned attribute
     * name (ltdo_field_attr reads it without interning it again), and
     * __fidx finds the field by its name and its attribute name (light
     * userdata), for constructors that look names up without strcmp */
    lua_createtable(L, 0, (int)tdo_model_nfields(m) * 2);
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        lua_pushlightuserdata(L, (void *)f);
        lua_setfield(L, -2, f->name);
        ltdo_field_attr(L, f);
        if (!f->userdata) {
            lua_pushvalue(L, -1);
            tdo_field_set_userdata(f, luaL_ref(L, LUA_REGISTRYINDEX));
        }
        lua_pushlightuserdata(L, (void *)f);
        lua_rawset(L, -3);
    }
    lua_setfield(L, cls, "__fidx");
    lmodelref *ref = lua_newuserdatauv(L, sizeof *ref, 1);
    ref->m = m;
    luaL_setmetatable(L, LTDO_MODELREF);
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_CTX);
    lua_setiuservalue(L, -2, 1);
    lua_setfield(L, cls, "__tdo");
    const tdo_field *pk = tdo_model_pk(m);
    if (pk) {
        ltdo_field_attr(L, pk);
        lua_setfield(L, cls, "__pk");
    } else if (tdo_model_nkey(m) > 1) {
        /* a composite key: { {field name, attribute}, ... } */
        lua_createtable(L, (int)tdo_model_nkey(m), 0);
        for (size_t i = 0; i < tdo_model_nkey(m); i++) {
            const tdo_field *f = tdo_model_key(m, i);
            lua_createtable(L, 2, 0);
            lua_pushstring(L, f->name);
            lua_rawseti(L, -2, 1);
            ltdo_field_attr(L, f);
            lua_rawseti(L, -2, 2);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, cls, "__key");
    }
    lua_newtable(L);
    for (size_t i = 0; i < tdo_model_nfields(m); i++) {
        const tdo_field *f = tdo_model_field(m, i);
        if (is_fk(f)) {
            ltdo_field_attr(L, f);
            lua_setfield(L, -2, f->name);
        }
    }
    lua_setfield(L, cls, "__fk");
}

/* cls.DoesNotExist and cls.MultipleObjectsReturned: subclasses of the
 * orm's, whose .model is the class. */
static void add_model_exceptions(lua_State *L, int cls)
{
    static const char *const names[] = {"DoesNotExist",
                                        "MultipleObjectsReturned"};
    for (size_t i = 0; i < 2; i++) {
        ltdo_push_class(L, names[i]);
        ltdo_subclass(L, -1, names[i]);
        lua_pushvalue(L, cls);
        lua_setfield(L, -2, "model");
        lua_setfield(L, cls, names[i]);
        lua_pop(L, 1);
    }
}

/* Pushes t[key], a table made when missing. */
static void field_table(lua_State *L, int t, const char *key)
{
    t = lua_absindex(L, t);
    lua_getfield(L, t, key);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, t, key);
    }
}

/* Registers the class at cls: the core model's userdata refers to it,
 * and orm.apps[app][name] is it. */
static void register_class(lua_State *L, int cls, tdo_model *m,
                           const model_decl *d)
{
    lua_pushvalue(L, cls);
    int r = luaL_ref(L, LUA_REGISTRYINDEX);
    tdo_model_set_userdata(m, (void *)(intptr_t)r);
    ltdo_state_get(L, "orm");
    field_table(L, -1, "apps");
    field_table(L, -1, d->app);
    lua_pushvalue(L, cls);
    lua_setfield(L, -2, d->name);
    lua_pop(L, 3);
}

/* Model:extend(name, body): a new model class (see LUA_API.md). */
static int model_extend(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lua_settop(L, 3);
    tdo_model *parent = ltdo_tomodel(L, 1);
    model_decl d = {.name = luaL_checkstring(L, 2)};
    if (lua_isnil(L, 3)) {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lctx *c = ltdo_ctx(L);
    lua_newtable(L); /* 4: anchor */
    int anchor = 4;
    lua_getfield(L, 3, "Meta"); /* 5: Meta */
    if (!lua_istable(L, 5)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int meta = 5;
    read_meta(L, meta, anchor, &d);
    read_fields(L, 3, anchor, &d);

    tdo_model *m = make_core_model(L, c, parent, &d);
    int cls = push_class(L, parent ? 1 : 0, 3, d.name);
    bind_core(L, cls, m);
    push_meta(L, m, 3, parent ? 1 : 0, meta, cls);
    lua_setfield(L, cls, "_meta");
    add_model_exceptions(L, cls);
    ltdo_state_get(L, "ModelMeta");
    lua_setmetatable(L, cls);
    register_class(L, cls, m, &d);

    if (c->inited) {
        /* declared after init: bind at once when possible */
        tdo_error rerr = TDO_ERROR_INIT;
        if (tdo_ctx_resolve(c->ctx, &rerr) == TDO_OK)
            c->dirty = false;
        tdo_error_release(&rerr);
    }
    /* the relation map and the reverse sides in _meta (related.lua) */
    if (ltdo_state_get(L, "on_model_declared") == LUA_TFUNCTION) {
        if (lua_pcall(L, 0, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    lua_pushvalue(L, cls);
    return 1;
}

/* Makes the Lua class of core model m, declared without Lua (its body
 * and Meta empty): the same steps as Model:extend after the core. */
static void wrap_core_model(lua_State *L, tdo_model *m)
{
    model_decl d = {.name = tdo_model_name(m), .app = tdo_model_app(m)};
    lua_newtable(L); /* the body */
    int body = lua_gettop(L);
    lua_newtable(L); /* Meta */
    int meta = lua_gettop(L);
    int cls = push_class(L, 0, body, d.name);
    bind_core(L, cls, m);
    push_meta(L, m, body, 0, meta, cls);
    lua_setfield(L, cls, "_meta");
    add_model_exceptions(L, cls);
    ltdo_state_get(L, "ModelMeta");
    lua_setmetatable(L, cls);
    register_class(L, cls, m, &d);
    lua_settop(L, body - 1);
}

/* Pushes the names of the models introspection declared in app (NULL:
 * every app), removed from orm.apps; returns the list's index. */
static int forget_classes(lua_State *L, lctx *c, const char *app)
{
    lua_newtable(L);
    int gone = lua_gettop(L);
    ltdo_state_get(L, "orm");
    field_table(L, -1, "apps");
    int apps = lua_gettop(L);
    for (size_t i = 0; i < tdo_ctx_nmodels(c->ctx); i++) {
        tdo_model *m = tdo_ctx_model_at(c->ctx, i);
        if (!tdo_model_introspected(m) ||
            (app && strcmp(tdo_model_app(m), app) != 0))
            continue;
        field_table(L, apps, tdo_model_app(m));
        lua_pushstring(L, tdo_model_name(m));
        lua_pushvalue(L, -1);
        lua_rawseti(L, gone, (lua_Integer)lua_rawlen(L, gone) + 1);
        lua_pushnil(L);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    lua_settop(L, gone);
    return gone;
}

/* orm._forget_introspected() -> names: takes out every model
 * introspection declared (orm.init does, as they belong to the database
 * it replaces). */
static int l_forget_introspected(lua_State *L)
{
    lctx *c = ltdo_ctx(L);
    forget_classes(L, c, NULL);
    tdo_ctx_forget_introspected(c->ctx, NULL);
    return 1;
}

/* orm._introspect([conn[, app]]) -> names, skipped, replaced: models for
 * the tables of the database of connection conn ("default") that no
 * model covers, declared by the core (tdo_introspect_models) in app
 * ("models"), with their Lua classes; replaced lists the names of an
 * earlier introspection's models, taken out. */
static int l_introspect(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    const char *name = ltdo_conn_arg(L, 1);
    const char *app = luaL_optstring(L, 2, "models");
    tdo_conn *conn = ltdo_conn_named(L, name);
    lctx *c = ltdo_ctx(L);
    /* the classes of an earlier introspection, which the core replaces */
    int gone = forget_classes(L, c, app);
    size_t skipped = 0;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_introspect_models(conn, app, &skipped, &err))
        return ltdo_error(L, &err);

    c->dirty = false;
    lua_newtable(L);
    int names = lua_gettop(L);
    for (size_t i = 0; i < tdo_ctx_nmodels(c->ctx); i++) {
        tdo_model *m = tdo_ctx_model_at(c->ctx, i); /* new: no class yet */
        if (tdo_model_userdata(m))
            continue;
        wrap_core_model(L, m);
        lua_pushstring(L, tdo_model_name(m));
        lua_rawseti(L, names, (lua_Integer)lua_rawlen(L, names) + 1);
    }
    if (ltdo_state_get(L, "on_model_declared") == LUA_TFUNCTION) {
        if (lua_pcall(L, 0, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    lua_pushinteger(L, (lua_Integer)skipped);
    lua_pushvalue(L, gone);
    return 3;
}

static int model_tostring(lua_State *L)
{
    tdo_model *m = ltdo_tomodel(L, 1);
    if (m)
        lua_pushfstring(L, "<Model %s.%s>", tdo_model_app(m),
                        tdo_model_name(m));
    else
        lua_pushliteral(L, "<Model>");
    return 1;
}

/* orm._model_of(v): the model of an instance, else nil. */
static int l_model_of(lua_State *L)
{
    if (ltdo_instance_model(L, 1))
        return 1;
    lua_pushnil(L);
    return 1;
}

/* orm._lookups(Model, name): the lookups suiting the field's type (for
 * completion), or nil when the model has no such field. */
static int l_lookups(lua_State *L)
{
    tdo_model *m = ltdo_tomodel(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const tdo_field *f = m ? tdo_model_field_by_name(m, name) : NULL;
    if (f == NULL) {
        lua_pushnil(L);
        return 1;
    }
    const char *names[64];
    size_t n = tdo_field_lookups(f, names, 64);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

void ltdo_open_model(lua_State *L, int orm_idx)
{
    orm_idx = lua_absindex(L, orm_idx);
    luaL_newmetatable(L, LTDO_MODELREF);
    lua_pop(L, 1);

    lua_newtable(L); /* Base = orm.Model */
    int base = lua_gettop(L);
    lua_pushcfunction(L, model_extend);
    lua_setfield(L, base, "extend");
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, model_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, base);

    lua_createtable(L, 0, 4); /* ModelMeta */
    lua_pushvalue(L, base);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ltdo_inst_new);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, model_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "testudo.Model");
    lua_setfield(L, -2, "__name");

    ltdo_state(L);
    lua_insert(L, -2);
    lua_setfield(L, -2, "ModelMeta");
    lua_pushvalue(L, base);
    lua_setfield(L, -2, "Base");
    lua_pop(L, 1);

    lua_pushvalue(L, base);
    lua_setfield(L, orm_idx, "Model");
    lua_newtable(L);
    lua_setfield(L, orm_idx, "apps");
    lua_pushcfunction(L, l_model_of);
    lua_setfield(L, orm_idx, "_model_of");
    lua_pushcfunction(L, l_lookups);
    lua_setfield(L, orm_idx, "_lookups");
    lua_pushcfunction(L, l_introspect);
    lua_setfield(L, orm_idx, "_introspect");
    lua_pushcfunction(L, l_forget_introspected);
    lua_setfield(L, orm_idx, "_forget_introspected");
    lua_pop(L, 1);
}
