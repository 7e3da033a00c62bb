/*
 * lqueryset.c -- QuerySet userdata ("testudo.QuerySet"): lazy, immutable
 * querysets over a core tdo_query; evaluated once and cached.
 *
 * User values: 1 = the model table, 2 = the cached result list (or nil),
 * 3 = the order_by keys (for last()) or nil, 4 = the related-manager
 * info {instance =, rel =} (user.orders, product.tags) or nil, 5 = the
 * prefetch_related specs (array of strings and orm.Prefetch tables) or
 * nil, 6 = true when select_related paths add "<path>__<attr>" columns.
 *
 * Relations are resolved by the pure-Lua part related.lua, reached
 * through the state table: state.prefetch(list, Model, specs) loads the
 * prefetched relations of a result list, state.decode_selrel(Model, row)
 * turns a row of a select_related query into nested instances.
 */
#include "ltdo.h"

#include <stdlib.h>
#include <string.h>

#define UV_MODEL    1
#define UV_CACHE    2
#define UV_ORDER    3
#define UV_MANAGER  4
#define UV_PREFETCH 5
#define UV_SELREL   6
#define NUV         6

typedef struct lqs {
    tdo_query *q; /* owned; NULL after __gc */
    size_t count; /* rows in the cache, once evaluated */
    bool ordered; /* an ordering is set */
} lqs;

static lqs *checkqs(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, LTDO_QS);
}

tdo_query *ltdo_toquery(lua_State *L, int idx)
{
    lqs *u = lua_type(L, idx) == LUA_TUSERDATA ? luaL_testudata(L, idx, LTDO_QS)
                                               : NULL;
    return u ? u->q : NULL;
}

static int qs_gc(lua_State *L)
{
    lqs *u = luaL_checkudata(L, 1, LTDO_QS);
    tdo_query_free(u->q);
    u->q = NULL;
    return 0;
}

static lqs *getqs(lua_State *L, int idx)
{
    lqs *u = checkqs(L, idx);
    if (u->q == NULL)
        luaL_error(L, "queryset is closed");
    return u;
}

/* Pushes a new queryset sharing the model (and order keys when
 * keep_order) of the queryset at from; its q is still NULL. */
static lqs *push_derived(lua_State *L, int from, bool keep_order)
{
    from = lua_absindex(L, from);
    lqs *src = checkqs(L, from);
    lqs *u = lua_newuserdatauv(L, sizeof *u, NUV);
    u->q = NULL;
    u->count = 0;
    u->ordered = keep_order && src->ordered;
    luaL_setmetatable(L, LTDO_QS);
    lua_getiuservalue(L, from, UV_MODEL);
    lua_setiuservalue(L, -2, UV_MODEL);
    if (keep_order) {
        lua_getiuservalue(L, from, UV_ORDER);
        lua_setiuservalue(L, -2, UV_ORDER);
    }
    lua_getiuservalue(L, from, UV_PREFETCH);
    lua_setiuservalue(L, -2, UV_PREFETCH);
    lua_getiuservalue(L, from, UV_SELREL);
    lua_setiuservalue(L, -2, UV_SELREL);
    ltdo_qs_inherit_db(L, from, -1);
    return u;
}

static void push_model_of(lua_State *L, int qs)
{
    lua_getiuservalue(L, qs, UV_MODEL);
}

static tdo_model *qs_model(lua_State *L, int qs)
{
    lqs *u = getqs(L, qs);
    return tdo_query_model(u->q);
}

/* Sets the order keys (array at keys_idx) on the queryset at qs_idx. */
static void set_order(lua_State *L, int qs_idx, int keys_idx)
{
    lua_pushvalue(L, keys_idx);
    lua_setiuservalue(L, qs_idx, UV_ORDER);
}

/* Applies an ordering given as a Lua array at keys to the new queryset
 * at dst (whose q must already be set), replacing its q. */
static void apply_order(lua_State *L, int dst, int keys)
{
    dst = lua_absindex(L, dst);
    keys = lua_absindex(L, keys);
    lqs *u = checkqs(L, dst);
    size_t n = lua_rawlen(L, keys);
    const char **k = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, keys, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS, "order_by takes field names");
        k[i] = lua_tostring(L, -1); /* anchored by keys */
        lua_pop(L, 1);
    }
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *nq = NULL;
    if (tdo_query_order_by(u->q, k, n, &nq, &err))
        ltdo_error(L, &err);
    tdo_query_free(u->q);
    u->q = nq;
    u->ordered = n > 0;
    set_order(L, dst, keys);
    lua_pop(L, 1);
}

void ltdo_push_all(lua_State *L, int model_idx)
{
    model_idx = lua_absindex(L, model_idx);
    tdo_model *m = ltdo_checkmodel(L, model_idx);
    if (tdo_model_abstract(m))
        ltdo_raise(L, TDO_ERR_CONFIGURATION,
                   "model '%s' is abstract: it has no table",
                   tdo_model_name(m));
    ltdo_try_resolve(L);
    lqs *u = lua_newuserdatauv(L, sizeof *u, NUV);
    u->q = NULL;
    u->count = 0;
    u->ordered = false;
    luaL_setmetatable(L, LTDO_QS);
    lua_pushvalue(L, model_idx);
    lua_setiuservalue(L, -2, UV_MODEL);
    u->q = tdo_query_new(m);
    if (u->q == NULL)
        ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    /* Meta.ordering */
    lua_getfield(L, model_idx, "_meta");
    lua_getfield(L, -1, "ordering");
    if (lua_istable(L, -1) && lua_rawlen(L, -1) > 0)
        apply_order(L, -3, -1);
    lua_pop(L, 2);
}

/* ------------------------------------------------------------------ */
/* Chaining                                                            */
/* ------------------------------------------------------------------ */

/* Pushes the condition of the arguments from idx on: Q objects and
 * filter tables, ANDed. */
static tdo_qnode *args_condition(lua_State *L, int first)
{
    int top = lua_gettop(L);
    if (top < first) {
        return ltdo_build_q(L, 0, false);
    }
    tdo_qnode *acc = ltdo_build_q(L, first, false);
    int acc_idx = lua_gettop(L);
    for (int i = first + 1; i <= top; i++) {
        tdo_qnode *q = ltdo_build_q(L, i, false);
        /* combine into a fresh Q: acc AND q */
        lua_getfield(L, LUA_REGISTRYINDEX, LTDO_Q);
        lua_getfield(L, -1, "__band");
        lua_remove(L, -2);
        lua_pushvalue(L, acc_idx);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 1);
        lua_replace(L, acc_idx);
        lua_pop(L, 1);
        acc = ltdo_toq(L, acc_idx);
        (void)q;
    }
    return acc;
}

static int filter_or_exclude(lua_State *L, bool exclude)
{
    lqs *u = getqs(L, 1);
    int top = lua_gettop(L);
    tdo_qnode *cond = args_condition(L, 2);
    lqs *n = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = exclude ? tdo_query_exclude(u->q, cond, &n->q, &err)
                            : tdo_query_filter(u->q, cond, &n->q, &err);
    if (st)
        return ltdo_error(L, &err);
    (void)top;
    return 1;
}

static int qs_filter(lua_State *L)
{
    return filter_or_exclude(L, false);
}

static int qs_exclude(lua_State *L)
{
    return filter_or_exclude(L, true);
}

/* A copy of the queryset (Q() matches everything). */
static int qs_all(lua_State *L)
{
    lqs *u = getqs(L, 1);
    tdo_qnode *empty = tdo_q_empty();
    if (empty == NULL)
        return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
    lqs *n = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = tdo_query_filter(u->q, empty, &n->q, &err);
    tdo_qnode_free(empty);
    if (st)
        return ltdo_error(L, &err);
    return 1;
}

static int qs_order_by(lua_State *L)
{
    getqs(L, 1);
    int top = lua_gettop(L);
    lua_newtable(L);
    int keys = lua_gettop(L);
    if (top == 2 && lua_istable(L, 2)) {
        size_t n = lua_rawlen(L, 2);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, (lua_Integer)i);
            lua_rawseti(L, keys, (lua_Integer)i);
        }
    } else {
        for (int i = 2; i <= top; i++) {
            if (lua_type(L, i) != LUA_TSTRING)
                return ltdo_raise(L, TDO_ERR_PARAMS,
                                  "order_by takes field names (argument %d "
                                  "is a %s)",
                                  i - 1, luaL_typename(L, i));
            lua_pushvalue(L, i);
            lua_rawseti(L, keys, i - 1);
        }
    }
    lua_pushcfunction(L, qs_all);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    int dst = lua_gettop(L);
    apply_order(L, dst, keys);
    return 1;
}

static lua_Integer check_count(lua_State *L, int idx, const char *what)
{
    if (!lua_isinteger(L, idx)) {
        if (lua_type(L, idx) == LUA_TNUMBER) {
            lua_Number x = lua_tonumber(L, idx);
            if (x == (lua_Number)(lua_Integer)x)
                return (lua_Integer)x;
        }
        ltdo_raise(L, TDO_ERR_PARAMS, "%s takes an integer (got a %s)", what,
                   luaL_typename(L, idx));
    }
    return lua_tointeger(L, idx);
}

static int qs_limit(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_Integer n = check_count(L, 2, "limit");
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_limit(u->q, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

static int qs_offset(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_Integer n = check_count(L, 2, "offset");
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_offset(u->q, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

static const char **string_args(lua_State *L, const char *what, size_t *n);

/* distinct() (SELECT DISTINCT), or distinct("role", ...): one row per
 * value of the fields, the first in the queryset's order. */
static int qs_distinct(lua_State *L)
{
    lqs *u = getqs(L, 1);
    size_t n;
    const char **keys = string_args(L, "distinct", &n);
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_distinct_on(u->q, keys, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

/* union(qs, ..., [{all = true}]): the rows of this queryset, then of
 * each other one (a model stands for all its rows); UNION ALL keeps
 * duplicates. */
static int qs_union(lua_State *L)
{
    lqs *u = getqs(L, 1);
    int top = lua_gettop(L);
    bool all = false;
    if (top >= 2 && lua_type(L, top) == LUA_TTABLE &&
        !lua_getmetatable(L, top)) {
        lua_pushnil(L);
        while (lua_next(L, top)) {
            const char *k =
                lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!k || strcmp(k, "all"))
                ltdo_raise(L, TDO_ERR_PARAMS,
                           "union: unknown option '%s' (options: all)",
                           k ? k : luaL_typename(L, -2));
            all = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        top--;
    } else if (top >= 2 && lua_type(L, top) == LUA_TTABLE) {
        lua_pop(L, 1); /* the metatable */
    }
    if (top < 2)
        return ltdo_raise(L, TDO_ERR_PARAMS,
                          "union takes one or more querysets");
    for (int i = 2; i <= top; i++) {
        if (lua_type(L, i) == LUA_TTABLE && ltdo_tomodel(L, i)) {
            lua_getfield(L, i, "all"); /* a model: all its rows */
            lua_pushvalue(L, i);
            lua_call(L, 1, 1);
            lua_replace(L, i);
        }
        if (!ltdo_toquery(L, i))
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "union takes querysets (argument %d is a %s)",
                              i - 1, luaL_typename(L, i));
    }
    lqs *d = push_derived(L, 1, false); /* unordered until order_by */
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *cur = NULL;
    for (int i = 2; i <= top; i++) {
        tdo_query *next = NULL;
        tdo_status st = tdo_query_union(cur ? cur : u->q, ltdo_toquery(L, i),
                                        all, &next, &err);
        tdo_query_free(cur);
        cur = next;
        if (st)
            return ltdo_error(L, &err);
    }
    d->q = cur;
    return 1;
}

/* select_for_update([{nowait = bool, skip_locked = bool, of = {"self",
 * "customer"}, no_key = bool}]) */
static int qs_select_for_update(lua_State *L)
{
    lqs *u = getqs(L, 1);
    tdo_lock lock = TDO_LOCK_UPDATE;
    bool no_key = false;
    int of = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k =
                lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            bool on = lua_toboolean(L, -1);
            if (k && !strcmp(k, "nowait")) {
                if (on && lock == TDO_LOCK_SKIP_LOCKED)
                    goto both;
                if (on)
                    lock = TDO_LOCK_NOWAIT;
            } else if (k && !strcmp(k, "skip_locked")) {
                if (on && lock == TDO_LOCK_NOWAIT)
                    goto both;
                if (on)
                    lock = TDO_LOCK_SKIP_LOCKED;
            } else if (k && !strcmp(k, "no_key")) {
                no_key = on;
            } else if (k && !strcmp(k, "of")) {
                if (lua_type(L, -1) == LUA_TSTRING) { /* one name */
                    lua_createtable(L, 1, 0);
                    lua_pushvalue(L, -2);
                    lua_rawseti(L, -2, 1);
                    lua_replace(L, -2);
                }
                luaL_argexpected(L, lua_istable(L, -1), 2,
                                 "of = a list of names");
                lua_pushvalue(L, -1);
                lua_insert(L, 3); /* below the key: kept for later */
                of = 3;
            } else {
                return ltdo_raise(L, TDO_ERR_PARAMS,
                                  "select_for_update takes nowait=, "
                                  "skip_locked=, of= and no_key=, not '%s'",
                                  k ? k : luaL_typename(L, -2));
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, of ? 3 : 1);
    size_t n = 0;
    const char **names = NULL;
    if (of) {
        lua_remove(L, 2); /* string_args reads the list at 2 */
        names = string_args(L, "select_for_update of", &n);
    }
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    tdo_query *locked = NULL;
    tdo_status st = tdo_query_for_update(u->q, lock, &locked, &err);
    if (!st && (of || no_key)) {
        st = tdo_query_lock_of(locked, names, n, no_key, &d->q, &err);
        tdo_query_free(locked);
    } else {
        d->q = locked;
    }
    if (st)
        return ltdo_error(L, &err);
    return 1;
both:
    return ltdo_raise(L, TDO_ERR_PARAMS,
                      "select_for_update: nowait and skip_locked cannot "
                      "both be true");
}

/* Appends name (at -1, popped) and its alias (at -2 unless same) to the
 * names and aliases arrays; n counts them. */
static void add_name(lua_State *L, int names, int aliases, size_t *n, bool same)
{
    if (same)
        lua_pushvalue(L, -1);
    lua_rawseti(L, names, (lua_Integer)++ * n);
    lua_rawseti(L, aliases, (lua_Integer)*n);
}

/* Reads one table argument of values() at i: names in its array part,
 * alias = name pairs (sorted by alias for a stable order) in its hash
 * part, flat = true; returns flat. */
static bool projection_table(lua_State *L, int i, int names, int aliases,
                             size_t *n)
{
    size_t an = lua_rawlen(L, i);
    for (size_t j = 1; j <= an; j++) {
        lua_rawgeti(L, i, (lua_Integer)j);
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS, "values takes field names");
        add_name(L, names, aliases, n, true);
    }
    lua_getfield(L, i, "flat");
    bool flat = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_newtable(L);
    int ak = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, i)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING &&
            strcmp(lua_tostring(L, -1), "flat") != 0) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, ak, (lua_Integer)lua_rawlen(L, ak) + 1);
        }
    }
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_remove(L, -2);
    lua_pushvalue(L, ak);
    lua_call(L, 1, 0);
    size_t nk = lua_rawlen(L, ak);
    for (size_t j = 1; j <= nk; j++) {
        lua_rawgeti(L, ak, (lua_Integer)j); /* the alias */
        lua_pushvalue(L, -1);
        lua_gettable(L, i); /* the name */
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS,
                       "values: alias '%s' must name a field",
                       lua_tostring(L, -2));
        add_name(L, names, aliases, n, false);
    }
    lua_pop(L, 1);
    return flat;
}

/* values / values_list argument parsing: names as arguments, or one table
 * with names in its array part and aliases (alias = name) in its hash
 * part; a trailing options table {flat = true}. */
static int projection(lua_State *L, tdo_projection kind)
{
    luaL_checkstack(L, 40, "testudo");
    lqs *u = getqs(L, 1);
    int top = lua_gettop(L);
    bool flat = false;
    lua_newtable(L); /* names */
    int names = lua_gettop(L);
    lua_newtable(L); /* aliases */
    int aliases = lua_gettop(L);
    size_t n = 0;
    for (int i = 2; i <= top; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            lua_pushvalue(L, i);
            add_name(L, names, aliases, &n, true);
        } else if (lua_istable(L, i)) {
            flat = projection_table(L, i, names, aliases, &n) || flat;
        } else {
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "values takes field names (argument %d is a "
                              "%s)",
                              i - 1, luaL_typename(L, i));
        }
    }
    if (kind == TDO_PROJ_VALUES_LIST && flat)
        kind = TDO_PROJ_FLAT;
    const char **nm = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    const char **al = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, names, (lua_Integer)i + 1);
        nm[i] = lua_tostring(L, -1); /* anchored by names */
        lua_rawgeti(L, aliases, (lua_Integer)i + 1);
        al[i] = lua_tostring(L, -1);
        lua_pop(L, 2);
    }
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_values(u->q, kind, nm, al, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

static int qs_values(lua_State *L)
{
    return projection(L, TDO_PROJ_VALUES);
}

static int qs_values_list(lua_State *L)
{
    return projection(L, TDO_PROJ_VALUES_LIST);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes a userdata array of the string keys of the table at idx, sorted,
 * and stores their number in *count; raises msg when a key is not a
 * string. The strings are anchored by the table. */
static const char **sorted_keys(lua_State *L, int idx, const char *msg,
                                size_t *count)
{
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            ltdo_raise(L, TDO_ERR_PARAMS, "%s", msg);
            return NULL;
        }
        n++;
    }
    const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (k < n)
            keys[k++] = lua_tostring(L, -1);
    }
    qsort(keys, k, sizeof *keys, cmp_str);
    *count = k;
    return keys;
}

static void expr_free(void *p)
{
    tdo_expr_free(p);
}

/* annotate{name = expr, ...}: expressions are F objects, orm.functions
 * results or orm.RawSQL; plain values become literals.  Names are added
 * in sorted order (a stable column order). */
static int qs_annotate(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    getqs(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    size_t k;
    const char **keys =
        sorted_keys(L, 2, "annotate takes name = expression pairs", &k);
    lua_pushvalue(L, 1);
    int cur = lua_gettop(L);
    for (size_t i = 0; i < k; i++) {
        lua_getfield(L, 2, keys[i]);
        tdo_expr *e = ltdo_tof(L, -1);
        ltdo_box *box = ltdo_box_new(L, expr_free);
        if (e == NULL) {
            tdo_value v;
            if (!ltdo_to_value(L, -2, &v))
                return ltdo_raise(L, TDO_ERR_PARAMS,
                                  "annotate: '%s' must be an expression (a "
                                  "%s)",
                                  keys[i], luaL_typename(L, -2));
            if ((box->p = e = tdo_expr_value(&v)) == NULL)
                return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
        }
        lqs *src = getqs(L, cur);
        lqs *d = push_derived(L, cur, true);
        tdo_error err = TDO_ERROR_INIT;
        if (tdo_query_annotate(src->q, keys[i], e, &d->q, &err))
            return ltdo_error(L, &err);
        lua_replace(L, cur);
        lua_pop(L, 2);
    }
    if (k == 0) {
        lua_settop(L, 1);
        return qs_all(L);
    }
    return 1;
}

/* Collects the string arguments from 2 on (or one array table) into a
 * C array anchored on the stack; returns it and sets *n. */
static const char **string_args(lua_State *L, const char *what, size_t *n)
{
    int top = lua_gettop(L);
    lua_newtable(L);
    int names = lua_gettop(L);
    size_t k = 0;
    for (int i = 2; i <= top; i++) {
        if (lua_istable(L, i)) {
            size_t an = lua_rawlen(L, i);
            for (size_t j = 1; j <= an; j++) {
                lua_rawgeti(L, i, (lua_Integer)j);
                lua_rawseti(L, names, (lua_Integer)++k);
            }
        } else {
            lua_pushvalue(L, i);
            lua_rawseti(L, names, (lua_Integer)++k);
        }
    }
    const char **arr = lua_newuserdatauv(L, (k ? k : 1) * sizeof(char *), 1);
    lua_pushvalue(L, names);
    lua_setiuservalue(L, -2, 1);
    for (size_t i = 0; i < k; i++) {
        lua_rawgeti(L, names, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS, "%s takes field names (a %s)", what,
                       luaL_typename(L, -1));
        arr[i] = lua_tostring(L, -1); /* anchored by names */
        lua_pop(L, 1);
    }
    lua_remove(L, names);
    *n = k;
    return arr;
}

/* group_by("role", "customer__email") */
static int qs_group_by(lua_State *L)
{
    lqs *u = getqs(L, 1);
    size_t n;
    const char **keys = string_args(L, "group_by", &n);
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_group_by(u->q, keys, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

/* select_related("customer", "lines__product"): forward FK/O2O paths
 * loaded by JOINs; rows decode into nested instances. */
static int qs_select_related(lua_State *L)
{
    lqs *u = getqs(L, 1);
    size_t n;
    const char **paths = string_args(L, "select_related", &n);
    if (n == 0) {
        lua_settop(L, 1);
        return qs_all(L);
    }
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_select_related(u->q, paths, n, &d->q, &err))
        return ltdo_error(L, &err);
    lua_pushboolean(L, 1);
    lua_setiuservalue(L, -2, UV_SELREL);
    return 1;
}

/* only("id", "email"): instances with those fields (and the primary
 * key) loaded; the others raise IncompleteInstanceError when read. */
static int qs_only(lua_State *L)
{
    lqs *u = getqs(L, 1);
    size_t n;
    const char **names = string_args(L, "only", &n);
    lqs *d = push_derived(L, 1, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_only(u->q, names, n, &d->q, &err))
        return ltdo_error(L, &err);
    return 1;
}

/* prefetch_related("lines__product", "customer", orm.Prefetch(...)):
 * the specs are kept and run after the main query, one statement per
 * relation level (state.prefetch). */
static int qs_prefetch_related(lua_State *L)
{
    getqs(L, 1);
    int top = lua_gettop(L);
    lua_newtable(L);
    int specs = lua_gettop(L);
    lua_Integer k = 0;
    if (lua_getiuservalue(L, 1, UV_PREFETCH) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_rawseti(L, specs, ++k);
        }
    }
    lua_pop(L, 1);
    for (int i = 2; i <= top; i++) {
        if (lua_type(L, i) != LUA_TSTRING && !lua_istable(L, i))
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "prefetch_related takes relation names or "
                              "orm.Prefetch objects (argument %d is a %s)",
                              i - 1, luaL_typename(L, i));
        lua_pushvalue(L, i);
        lua_rawseti(L, specs, ++k);
    }
    lua_pushcfunction(L, qs_all);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_pushvalue(L, specs);
    lua_setiuservalue(L, -2, UV_PREFETCH);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

/* State of a run: indexes of the helper values on the stack. */
typedef struct run {
    tdo_rows *rows;
    tdo_projection proj;
    int model, names, saved, box;
    int decode;  /* state.decode_selrel for select_related rows, or 0 */
    int loaded;  /* only(): the set of loaded attributes, or 0 */
    int partial; /* only(): state.partial, or 0 */
} run;

/* Runs q (for the queryset at qs) and pushes: box, model, names, saved,
 * decode, loaded, partial (nil when unused). */
static void start_run(lua_State *L, int qs, const tdo_query *q, run *r,
                      bool stream)
{
    luaL_checkstack(L, 40, "testudo");
    qs = lua_absindex(L, qs);
    tdo_model *m = tdo_query_model(q);
    tdo_conn *conn = ltdo_qs_conn(L, qs, m, false);
    ltdo_box *box = ltdo_box_new(L, ltdo_rows_free);
    r->box = lua_gettop(L);
    push_model_of(L, qs);
    r->model = lua_gettop(L);
    size_t nc = tdo_query_ncolumns(q);
    lua_createtable(L, (int)nc, 0);
    for (size_t i = 0; i < nc; i++) {
        lua_pushstring(L, tdo_query_column(q, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    r->names = lua_gettop(L);
    ltdo_push_saved(L);
    r->saved = lua_gettop(L);
    r->proj = tdo_query_projection(q);
    r->decode = 0;
    lua_getiuservalue(L, qs, UV_SELREL);
    bool selrel = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (selrel && r->proj == TDO_PROJ_INSTANCES) {
        ltdo_state_get(L, "decode_selrel");
        r->decode = lua_gettop(L);
    } else {
        lua_pushnil(L);
    }
    r->loaded = r->partial = 0;
    if (r->proj == TDO_PROJ_INSTANCES && tdo_query_partial(q)) {
        lua_createtable(L, 0, (int)nc);
        for (size_t i = 0; i < nc; i++) {
            lua_pushstring(L, tdo_query_column(q, i));
            lua_pushboolean(L, 1);
            lua_rawset(L, -3);
        }
        r->loaded = lua_gettop(L);
        ltdo_note_partial();
        ltdo_state_get(L, "partial");
        r->partial = lua_gettop(L);
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    tdo_error err = TDO_ERROR_INIT;
    r->rows = NULL;
    if ((stream ? tdo_query_stream : tdo_query_run)(conn, q, &r->rows, &err))
        ltdo_error(L, &err);
    box->p = r->rows;
}

/* Steps the run and pushes the next row; false (nothing pushed) at the
 * end. */
static bool next_row(lua_State *L, run *r)
{
    bool has = false;
    tdo_error err = TDO_ERROR_INIT;
    if (r->rows == NULL)
        return false;
    if (tdo_rows_next(r->rows, &has, &err))
        ltdo_error(L, &err);
    if (!has)
        return false;
    size_t n = tdo_rows_ncols(r->rows);
    tdo_value v;
    switch (r->proj) {
    case TDO_PROJ_INSTANCES:
        if (r->decode) {
            /* select_related: state.decode_selrel(Model, {col = value}) */
            lua_pushvalue(L, r->decode);
            lua_pushvalue(L, r->model);
            lua_createtable(L, 0, (int)n);
            for (size_t i = 0; i < n; i++) {
                if (tdo_rows_get(r->rows, i, &v, &err))
                    ltdo_error(L, &err);
                if (v.type == TDO_NULL)
                    continue;
                lua_rawgeti(L, r->names, (lua_Integer)i + 1);
                ltdo_push_value(L, &v);
                lua_rawset(L, -3);
            }
            lua_call(L, 2, 1);
        } else {
            ltdo_push_instance_row(L, r->rows, r->model, r->names, r->saved);
        }
        if (r->partial) { /* partial[instance] = the loaded set */
            lua_pushvalue(L, -1);
            lua_pushvalue(L, r->loaded);
            lua_rawset(L, r->partial);
        }
        break;
    case TDO_PROJ_VALUES:
        lua_createtable(L, 0, (int)n);
        for (size_t i = 0; i < n; i++) {
            if (tdo_rows_get(r->rows, i, &v, &err))
                ltdo_error(L, &err);
            lua_rawgeti(L, r->names, (lua_Integer)i + 1);
            ltdo_push_value(L, &v);
            lua_rawset(L, -3);
        }
        break;
    case TDO_PROJ_VALUES_LIST:
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            if (tdo_rows_get(r->rows, i, &v, &err))
                ltdo_error(L, &err);
            ltdo_push_value(L, &v);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case TDO_PROJ_FLAT:
        if (tdo_rows_get(r->rows, 0, &v, &err))
            ltdo_error(L, &err);
        ltdo_push_value(L, &v);
        break;
    }
    return true;
}

/* Loads the prefetch_related specs of the queryset at qs into the list
 * of instances at list (state.prefetch), if it has any. */
static void prefetch(lua_State *L, int qs, int list)
{
    list = lua_absindex(L, list);
    if (lua_getiuservalue(L, qs, UV_PREFETCH) != LUA_TTABLE ||
        lua_rawlen(L, -1) == 0 || lua_rawlen(L, list) == 0) {
        lua_pop(L, 1);
        return;
    }
    int specs = lua_gettop(L);
    ltdo_state_get(L, "prefetch");
    lua_pushvalue(L, list);
    push_model_of(L, qs);
    lua_pushvalue(L, specs);
    lua_call(L, 3, 0);
    lua_pop(L, 1);
}

/* Whether the queryset at qs has prefetch_related specs. */
static bool has_prefetch(lua_State *L, int qs)
{
    bool r = lua_getiuservalue(L, qs, UV_PREFETCH) == LUA_TTABLE &&
             lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
    return r;
}

/* Runs q and pushes the list of results; returns the count. */
static size_t run_list(lua_State *L, int qs, const tdo_query *q)
{
    qs = lua_absindex(L, qs);
    int top = lua_gettop(L);
    run r;
    start_run(L, qs, q, &r, false);
    lua_newtable(L);
    int list = lua_gettop(L);
    size_t n = 0;
    while (next_row(L, &r))
        lua_rawseti(L, list, (lua_Integer)++n);
    ltdo_box_close(lua_touserdata(L, r.box));
    if (r.proj == TDO_PROJ_INSTANCES)
        prefetch(L, qs, list);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return n;
}

/* Evaluates the queryset at idx once; pushes the cached list. */
static size_t evaluate(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lqs *u = getqs(L, idx);
    if (lua_getiuservalue(L, idx, UV_CACHE) == LUA_TTABLE)
        return u->count;
    lua_pop(L, 1);
    size_t n = run_list(L, idx, u->q);
    u->count = n;
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, UV_CACHE);
    return n;
}

static void query_free(void *p)
{
    tdo_query_free(p);
}

/* qs:_peek(n) -> list, whole: at most n of the queryset's rows, through
 * a query limited to n, for the shell to show the first rows of a large
 * result without loading it; whole is true when list is every row (the
 * queryset's own cache, or its own limit within n). */
static int qs_peek(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_Integer n = check_count(L, 2, "_peek");
    if (lua_getiuservalue(L, 1, UV_CACHE) == LUA_TTABLE) {
        lua_pushboolean(L, 1);
        return 2;
    }
    lua_pop(L, 1);
    int64_t own = tdo_query_get_limit(u->q);
    if (own >= 0 && own <= n) {
        run_list(L, 1, u->q);
        lua_pushboolean(L, 1);
        return 2;
    }
    tdo_query *q = NULL;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_limit(u->q, n, &q, &err))
        return ltdo_error(L, &err);
    ltdo_box *box = ltdo_box_new(L, query_free);
    box->p = q;
    run_list(L, 1, q);
    lua_pushboolean(L, 0);
    return 2;
}

static int qs_list(lua_State *L)
{
    size_t n = evaluate(L, 1);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i);
        lua_rawseti(L, -2, (lua_Integer)i);
    }
    return 1;
}

static int qs_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)evaluate(L, 1));
    return 1;
}

/* iter(): streams rows (constant memory) unless already cached; a NULL
 * of a flat values_list comes as orm.null so that the loop goes on. */
static int iter_step(lua_State *L)
{
    run r;
    r.box = lua_upvalueindex(1);
    ltdo_box *box = lua_touserdata(L, r.box);
    r.rows = box->p;
    r.model = lua_upvalueindex(2);
    r.names = lua_upvalueindex(3);
    r.saved = lua_upvalueindex(4);
    r.decode = lua_isnil(L, lua_upvalueindex(5)) ? 0 : lua_upvalueindex(5);
    r.loaded = lua_isnil(L, lua_upvalueindex(6)) ? 0 : lua_upvalueindex(6);
    r.partial = lua_isnil(L, lua_upvalueindex(7)) ? 0 : lua_upvalueindex(7);
    r.proj = (tdo_projection)lua_tointeger(L, lua_upvalueindex(8));
    if (r.rows == NULL)
        return 0;
    if (!next_row(L, &r)) {
        ltdo_box_close(box);
        return 0;
    }
    if (lua_isnil(L, -1)) { /* a NULL of a flat list must not end the loop */
        lua_pop(L, 1);
        ltdo_push_null(L);
    }
    return 1;
}

static int cache_step(lua_State *L)
{
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2)) + 1;
    lua_Integer n = lua_tointeger(L, lua_upvalueindex(3));
    if (i > n)
        return 0;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(2));
    if (lua_rawgeti(L, lua_upvalueindex(1), i) == LUA_TNIL) {
        lua_pop(L, 1);
        ltdo_push_null(L); /* a NULL of a flat list must not end the loop */
    }
    return 1;
}

static int qs_iter(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_settop(L, 1);
    if (has_prefetch(L, 1) &&
        tdo_query_projection(u->q) == TDO_PROJ_INSTANCES) {
        /* prefetching needs every parent row at once */
        evaluate(L, 1);
        lua_pop(L, 1);
    }
    if (lua_getiuservalue(L, 1, UV_CACHE) == LUA_TTABLE) {
        lua_pushinteger(L, 0);
        lua_pushinteger(L, (lua_Integer)u->count);
        lua_pushcclosure(L, cache_step, 3);
        return 1;
    }
    lua_pop(L, 1);
    run r;
    /* box, model, names, saved, decode, loaded, partial */
    start_run(L, 1, u->q, &r, true);
    lua_pushinteger(L, r.proj);
    lua_pushcclosure(L, iter_step, 8);
    lua_pushnil(L);
    lua_pushnil(L);
    /* the box closes the cursor when the loop breaks */
    lua_getupvalue(L, -3, 1);
    return 4;
}

/* Pushes the first row of q (or nil). */
static void first_of(lua_State *L, int qs, const tdo_query *q)
{
    run r;
    int top = lua_gettop(L);
    start_run(L, qs, q, &r, false);
    if (!next_row(L, &r))
        lua_pushnil(L);
    ltdo_box_close(lua_touserdata(L, r.box));
    if (r.proj == TDO_PROJ_INSTANCES && !lua_isnil(L, -1) &&
        has_prefetch(L, qs)) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, 1);
        prefetch(L, qs, -1);
        lua_pop(L, 1);
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
}

/* Pushes the names that order model m by its key, '-' first when
 * reverse: "pk", each field of a composite key, none without a key;
 * returns how many. */
/* Pushes the order key k, reversed ("-name" <-> "name") when reverse. */
static void push_order_key(lua_State *L, const char *k, bool reverse)
{
    if (!reverse)
        lua_pushstring(L, k);
    else if (k[0] == '-')
        lua_pushstring(L, k + 1);
    else
        lua_pushfstring(L, "-%s", k);
}

static int push_key_order(lua_State *L, const tdo_model *m, bool reverse)
{
    size_t n = tdo_model_pk(m) ? 1 : tdo_model_nkey(m);
    luaL_checkstack(L, (int)n + 1, "testudo");
    for (size_t i = 0; i < n; i++)
        lua_pushfstring(L, "%s%s", reverse ? "-" : "",
                        tdo_model_pk(m) ? "pk" : tdo_model_key(m, i)->name);
    return (int)n;
}

/* Pushes a new queryset limited to n rows, ordered by pk when unordered
 * (reverse: every order key reversed, or -pk). */
static lqs *limited(lua_State *L, int qs, int64_t n, bool reverse)
{
    luaL_checkstack(L, 40, "testudo");
    qs = lua_absindex(L, qs);
    lqs *u = getqs(L, qs);
    if (!u->ordered && tdo_query_is_combined(u->q)) {
        /* grouped rows or a union have no primary key to order by */
        if (reverse)
            ltdo_raise(L, TDO_ERR_PARAMS,
                       "last() of a grouped or union() queryset needs an "
                       "order_by");
    } else if (reverse || !u->ordered) {
        lua_newtable(L);
        int keys = lua_gettop(L);
        if (u->ordered && lua_getiuservalue(L, qs, UV_ORDER) == LUA_TTABLE) {
            size_t nk = lua_rawlen(L, -1);
            for (size_t i = 1; i <= nk; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                const char *k = lua_tostring(L, -1);
                if (reverse) {
                    push_order_key(L, k, true);
                    lua_remove(L, -2);
                }
                lua_rawseti(L, keys, (lua_Integer)i);
            }
            lua_pop(L, 1);
        } else {
            if (u->ordered)
                lua_pop(L, 1);
            for (int k = push_key_order(L, tdo_query_model(u->q), reverse);
                 k > 0; k--)
                lua_rawseti(L, keys, k);
        }
        lua_pushcfunction(L, qs_all);
        lua_pushvalue(L, qs);
        lua_call(L, 1, 1);
        apply_order(L, -1, keys);
        lua_remove(L, keys);
        qs = lua_gettop(L);
        u = getqs(L, qs);
    }
    lqs *d = push_derived(L, qs, true);
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_query_limit(u->q, n, &d->q, &err))
        ltdo_error(L, &err);
    return d;
}

static int qs_first(lua_State *L)
{
    lua_settop(L, 1);
    lqs *d = limited(L, 1, 1, false);
    first_of(L, lua_gettop(L), d->q);
    return 1;
}

static int qs_last(lua_State *L)
{
    lua_settop(L, 1);
    lqs *d = limited(L, 1, 1, true);
    first_of(L, lua_gettop(L), d->q);
    return 1;
}

/* latest("field", ...) / earliest("field", ...) */
static int latest_earliest(lua_State *L, bool latest)
{
    getqs(L, 1);
    if (lua_gettop(L) < 2) { /* Meta.ordering's keys, else FieldError */
        lua_getiuservalue(L, 1, UV_MODEL);
        lua_getfield(L, -1, "_meta");
        lua_getfield(L, -1, "ordering");
        lua_replace(L, 2);
        lua_settop(L, 2);
        size_t nk = lua_istable(L, 2) ? lua_rawlen(L, 2) : 0;
        if (nk == 0)
            return ltdo_raise(L, TDO_ERR_FIELD,
                              "%s() needs a field name: no fields passed and "
                              "model '%s' has no Meta.ordering",
                              latest ? "latest" : "earliest",
                              tdo_model_name(tdo_query_model(getqs(L, 1)->q)));
        luaL_checkstack(L, (int)nk + 1, "testudo");
        for (size_t i = 1; i <= nk; i++)
            lua_rawgeti(L, 2, (lua_Integer)i); /* the keys, as arguments */
        lua_remove(L, 2);
    }
    int top = lua_gettop(L);
    lua_pushcfunction(L, qs_order_by);
    lua_pushvalue(L, 1);
    for (int i = 2; i <= top; i++)
        push_order_key(L, luaL_checkstring(L, i), latest);
    lua_call(L, lua_gettop(L) - top - 1, 1);
    lua_replace(L, 1);
    lua_settop(L, 1);
    return qs_first(L);
}

static int qs_latest(lua_State *L)
{
    return latest_earliest(L, true);
}

static int qs_earliest(lua_State *L)
{
    return latest_earliest(L, false);
}

/* Raises the model's class (DoesNotExist / MultipleObjectsReturned). */
static int raise_model_error(lua_State *L, int qs, const char *cls,
                             const char *msg)
{
    push_model_of(L, qs);
    lua_getfield(L, -1, cls);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        ltdo_push_class(L, cls);
    }
    /* the metatable is the model's subclass (User.DoesNotExist:is(err));
     * err.class is that subclass for DoesNotExist and, as Tortoise raises
     * the generic one, orm.exceptions.MultipleObjectsReturned */
    ltdo_push_error_obj(L, -1, msg, NULL);
    if (strcmp(cls, "DoesNotExist") != 0) {
        ltdo_push_class(L, cls);
        lua_setfield(L, -2, "class");
    }
    return lua_error(L);
}

static int get_impl(lua_State *L, bool or_none)
{
    luaL_checkstack(L, 40, "testudo");
    lqs *u = getqs(L, 1);
    tdo_model *m = qs_model(L, 1);
    tdo_error err = TDO_ERROR_INIT;
    /* one derived queryset, filtered then limited to 2 rows (no
     * intermediate filter() queryset) */
    tdo_qnode *cond = lua_gettop(L) >= 2 ? args_condition(L, 2) : NULL;
    lqs *d = push_derived(L, 1, true);
    int didx = lua_gettop(L);
    if (cond && tdo_query_filter(u->q, cond, &d->q, &err))
        return ltdo_error(L, &err);
    tdo_query *limited2 = NULL;
    if (tdo_query_limit(d->q ? d->q : u->q, 2, &limited2, &err))
        return ltdo_error(L, &err);
    tdo_query_free(d->q);
    d->q = limited2;
    size_t n = run_list(L, didx, d->q);
    if (n == 0) {
        if (or_none) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushfstring(L, "%s: Object does not exist", tdo_model_name(m));
        return raise_model_error(L, 1, "DoesNotExist", lua_tostring(L, -1));
    }
    if (n > 1) {
        lua_pushfstring(L,
                        "Multiple objects returned for \"%s\", expected "
                        "exactly one",
                        tdo_model_name(m));
        return raise_model_error(L, 1, "MultipleObjectsReturned",
                                 lua_tostring(L, -1));
    }
    lua_rawgeti(L, -1, 1);
    return 1;
}

static int qs_get(lua_State *L)
{
    return get_impl(L, false);
}

static int qs_get_or_none(lua_State *L)
{
    return get_impl(L, true);
}

/* count(): from the cache when evaluated. */
static int qs_count(lua_State *L)
{
    lqs *u = getqs(L, 1);
    if (lua_getiuservalue(L, 1, UV_CACHE) == LUA_TTABLE) {
        lua_pushinteger(L, (lua_Integer)u->count);
        return 1;
    }
    tdo_conn *conn = ltdo_qs_conn(L, 1, tdo_query_model(u->q), false);
    tdo_error err = TDO_ERROR_INIT;
    int64_t n = 0;
    if (tdo_query_count(conn, u->q, &n, &err))
        return ltdo_error(L, &err);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* exists([filter]) */
static int qs_exists(lua_State *L)
{
    if (lua_gettop(L) >= 2) {
        lua_pushcfunction(L, qs_filter);
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, 1);
    }
    lqs *u = getqs(L, 1);
    tdo_conn *conn = ltdo_qs_conn(L, 1, tdo_query_model(u->q), false);
    tdo_error err = TDO_ERROR_INIT;
    bool e = false;
    if (tdo_query_exists(conn, u->q, &e, &err))
        return ltdo_error(L, &err);
    lua_pushboolean(L, e);
    return 1;
}

/* update{field = value | F expr}: returns the rows changed. */
/* Asks the guard (orm._set_guard) before an update or delete of every
 * row (a queryset without filter, limit or offset); raises when it says
 * no. */
static void guard(lua_State *L, int qs, const char *action)
{
    lqs *u = getqs(L, qs);
    if (tdo_query_is_filtered(u->q))
        return;
    if (ltdo_state_get(L, "guard") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    lua_pushstring(L, action);
    lua_pushvalue(L, qs);
    lua_call(L, 2, 1);
    bool go = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!go)
        ltdo_raise(L, TDO_ERR_INTERRUPTED, "cancelled: no row was %s",
                   strcmp(action, "delete") == 0 ? "deleted" : "updated");
}

static int qs_update(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    lqs *u = getqs(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    guard(L, 1, "update");
    tdo_model *m = tdo_query_model(u->q);
    size_t k;
    const char **keys =
        sorted_keys(L, 2, "update takes field = value pairs", &k);
    tdo_assign *as = lua_newuserdatauv(L, (k ? k : 1) * sizeof(*as), 0);
    size_t *vix = lua_newuserdatauv(L, (k ? k : 1) * sizeof(size_t), 0);
    ltdo_vals *vb = ltdo_vals_new(L);
    for (size_t i = 0; i < k; i++) {
        const tdo_field *f = ltdo_field_by_attr(m, keys[i]);
        if (f == NULL) {
            tdo_error err = TDO_ERROR_INIT;
            tdo_model_field_error(m, keys[i], &err);
            return ltdo_error(L, &err);
        }
        as[i].field = f->name;
        as[i].value = NULL;
        as[i].expr = NULL;
        lua_getfield(L, 2, keys[i]);
        tdo_expr *e = ltdo_tof(L, -1);
        if (e) {
            as[i].expr = e; /* anchored by the table */
            vix[i] = (size_t)-1;
        } else {
            ltdo_field_value(L, -1, f, vb, true);
            vix[i] = vb->n - 1;
        }
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < k; i++)
        if (vix[i] != (size_t)-1)
            as[i].value = &vb->v[vix[i]];
    tdo_conn *conn = ltdo_qs_conn(L, 1, m, true);
    tdo_error err = TDO_ERROR_INIT;
    int64_t changed = 0;
    if (tdo_query_update(conn, u->q, as, k, &changed, &err))
        return ltdo_error(L, &err);
    lua_pushinteger(L, (lua_Integer)changed);
    return 1;
}

static int qs_delete(lua_State *L)
{
    lqs *u = getqs(L, 1);
    guard(L, 1, "delete");
    tdo_conn *conn = ltdo_qs_conn(L, 1, tdo_query_model(u->q), true);
    tdo_error err = TDO_ERROR_INIT;
    int64_t n = 0;
    if (tdo_query_delete(conn, u->q, &n, &err))
        return ltdo_error(L, &err);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static void compiled_free(void *p)
{
    tdo_compiled_free(p);
}

/* explain(): the database's plan for the queryset's SELECT, as a rows
 * object (as execute_query gives). */
static int qs_explain(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_settop(L, 1);
    tdo_conn *conn = ltdo_qs_conn(L, 1, tdo_query_model(u->q), false);
    ltdo_resolve(L);
    ltdo_box *box = ltdo_box_new(L, ltdo_rows_free);
    tdo_error err = TDO_ERROR_INIT;
    tdo_rows *rows = NULL;
    if (tdo_query_explain(conn, u->q, &rows, &err))
        return ltdo_error(L, &err);
    box->p = rows;
    ltdo_push_rows(L, rows, 0);
    lua_pop(L, 1); /* the count */
    return 1;
}

/* sql([kind]): the SQL text and the parameter list, without running. */
static int qs_sql(lua_State *L)
{
    lqs *u = getqs(L, 1);
    static const char *const kinds[] = {"select", "count", "exists", "delete",
                                        NULL};
    int kind = luaL_checkoption(L, 2, "select", kinds);
    tdo_stmt_kind sk = kind == 0   ? TDO_STMT_SELECT
                       : kind == 1 ? TDO_STMT_COUNT
                       : kind == 2 ? TDO_STMT_EXISTS
                                   : TDO_STMT_DELETE;
    tdo_model *m = tdo_query_model(u->q);
    const tdo_dialect *d = NULL;
    /* the model's connection when there is one */
    lctx *c = ltdo_ctx(L);
    ltdo_state_get(L, "apps_conn");
    const char *cn = NULL;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, tdo_model_app(m));
        cn = lua_tostring(L, -1);
    }
    tdo_conn *conn = tdo_ctx_conn(c->ctx, cn ? cn : "default");
    if (conn)
        d = tdo_conn_dialect(conn);
    if (d == NULL)
        d = tdo_dialect_by_name("sqlite");
    ltdo_resolve(L);
    ltdo_box *box = ltdo_box_new(L, compiled_free);
    tdo_error err = TDO_ERROR_INIT;
    tdo_compiled *comp = NULL;
    if (tdo_compile(u->q, sk, d, NULL, 0, &comp, &err))
        return ltdo_error(L, &err);
    box->p = comp;
    lua_pushstring(L, tdo_compiled_sql(comp));
    size_t np = tdo_compiled_nparams(comp);
    const tdo_value *p = tdo_compiled_params(comp);
    lua_createtable(L, (int)np, 0);
    for (size_t i = 0; i < np; i++) {
        if (p[i].type == TDO_NULL)
            ltdo_push_null(L);
        else
            ltdo_push_value(L, &p[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    ltdo_box_close(box);
    return 2;
}

/* in_bulk(ids, field = "pk"): {value = instance} */
static int qs_in_bulk(lua_State *L)
{
    luaL_checkstack(L, 40, "testudo");
    getqs(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *field = luaL_optstring(L, 3, "pk");
    lua_settop(L, 3);
    lua_pushcfunction(L, qs_filter);
    lua_pushvalue(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushfstring(L, "%s__in", field);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    lua_call(L, 2, 1);
    int qs = lua_gettop(L);
    size_t n = evaluate(L, qs);
    int list = lua_gettop(L);
    lua_newtable(L);
    tdo_model *m = qs_model(L, qs);
    const tdo_field *f = ltdo_field_by_attr(m, field);
    const char *attr = f ? ltdo_field_attr(L, f) : field;
    int attr_idx = lua_gettop(L);
    (void)attr;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, list, (lua_Integer)i);
        lua_pushvalue(L, attr_idx);
        lua_gettable(L, -2);
        lua_insert(L, -2);
        lua_settable(L, attr_idx - 1);
    }
    lua_pop(L, 1);
    return 1;
}

static int qs_columns(lua_State *L)
{
    lqs *u = getqs(L, 1);
    size_t n = tdo_query_ncolumns(u->q);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, tdo_query_column(u->q, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int qs_projection(lua_State *L)
{
    lqs *u = getqs(L, 1);
    static const char *const names[] = {"instances", "values", "values_list",
                                        "flat"};
    tdo_projection p = tdo_query_projection(u->q);
    lua_pushstring(L, names[(unsigned)p < 4 ? p : 0]);
    return 1;
}

static int qs_filtered(lua_State *L)
{
    lqs *u = getqs(L, 1);
    lua_pushboolean(L, tdo_query_is_filtered(u->q));
    return 1;
}

/* Calls table.<fn> with the n values on top of the stack. */
static void table_call(lua_State *L, const char *fn, int nargs, int nres)
{
    lua_getglobal(L, "table");
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, -1 - nargs);
    lua_call(L, nargs, nres);
}

/* Pushes a short representation of the value at idx; cols (0: none) is
 * the list of column names giving the order of a values row. */
static void push_repr(lua_State *L, int idx, int depth, int cols)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, NULL);
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
        return;
    }
    if (ltdo_instance_model(L, idx)) {
        /* Tortoise's repr, whatever the model's __tostring says */
        lua_pushcfunction(L, ltdo_inst_repr);
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        lua_remove(L, -2);
        return;
    }
    bool plain = lua_istable(L, idx) && depth < 2;
    if (plain && lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        plain = false;
    }
    if (!plain) {
        luaL_tolstring(L, idx, NULL);
        return;
    }
    lua_newtable(L);
    int parts = lua_gettop(L);
    lua_Integer np = 0;
    size_t n = lua_rawlen(L, idx);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        push_repr(L, -1, depth + 1, 0);
        lua_remove(L, -2);
        lua_rawseti(L, parts, ++np);
    }
    lua_newtable(L);
    int keys = lua_gettop(L);
    if (cols && n == 0) {
        size_t nc = lua_rawlen(L, cols);
        for (size_t i = 1; i <= nc; i++) {
            lua_rawgeti(L, cols, (lua_Integer)i);
            lua_rawseti(L, keys, (lua_Integer)i);
        }
    }
    lua_pushnil(L);
    if (cols && n == 0)
        lua_pop(L, 1);
    while (!(cols && n == 0) && lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING &&
            !(n > 0 && strcmp(lua_tostring(L, -1), "n") == 0)) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, (lua_Integer)lua_rawlen(L, keys) + 1);
        }
    }
    if (!(cols && n == 0)) {
        lua_pushvalue(L, keys);
        table_call(L, "sort", 1, 0);
    }
    size_t nk = lua_rawlen(L, keys);
    for (size_t i = 1; i <= nk; i++) {
        lua_rawgeti(L, keys, (lua_Integer)i);
        lua_pushvalue(L, -1);
        lua_rawget(L, idx);
        push_repr(L, -1, depth + 1, 0);
        lua_pushfstring(L, "%s = %s", lua_tostring(L, -3), lua_tostring(L, -1));
        lua_rawseti(L, parts, ++np);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    lua_pushliteral(L, ", ");
    table_call(L, "concat", 2, 1);
    lua_pushfstring(L, "{%s}", lua_tostring(L, -1));
    lua_remove(L, -2);
}

static int qs_tostring(lua_State *L)
{
    size_t n = evaluate(L, 1);
    int list = lua_gettop(L);
    lqs *u = getqs(L, 1);
    int cols = 0;
    if (tdo_query_projection(u->q) == TDO_PROJ_VALUES) {
        qs_columns(L);
        cols = lua_gettop(L);
    }
    lua_newtable(L);
    int parts = lua_gettop(L);
    int np = 0;
    for (size_t i = 1; i <= n && i <= 21; i++) {
        if (i == 21) {
            lua_pushliteral(L, "...");
        } else {
            lua_rawgeti(L, list, (lua_Integer)i);
            push_repr(L, -1, 0, cols);
            lua_remove(L, -2);
        }
        lua_rawseti(L, parts, ++np);
    }
    lua_pushvalue(L, parts);
    lua_pushliteral(L, ", ");
    table_call(L, "concat", 2, 1);
    lua_pushfstring(L, "<QuerySet [%s]>", lua_tostring(L, -1));
    return 1;
}

/* using_db(name | connection | nil): a copy bound to that connection
 * (checked now, used when the queryset runs). */
static int qs_using_db(lua_State *L)
{
    getqs(L, 1);
    lua_settop(L, 2);
    ltdo_using_name(L, 2);
    lua_pushcfunction(L, qs_all);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    ltdo_qs_set_db(L, -1, 3);
    return 1;
}

static const luaL_Reg qs_meth[] = {
    {"filter", qs_filter},
    {"exclude", qs_exclude},
    {"all", qs_all},
    {"order_by", qs_order_by},
    {"limit", qs_limit},
    {"offset", qs_offset},
    {"distinct", qs_distinct},
    {"union", qs_union},
    {"select_for_update", qs_select_for_update},
    {"values", qs_values},
    {"values_list", qs_values_list},
    {"annotate", qs_annotate},
    {"group_by", qs_group_by},
    {"select_related", qs_select_related},
    {"only", qs_only},
    {"prefetch_related", qs_prefetch_related},
    {"using_db", qs_using_db},
    {"count", qs_count},
    {"exists", qs_exists},
    {"first", qs_first},
    {"last", qs_last},
    {"latest", qs_latest},
    {"earliest", qs_earliest},
    {"get", qs_get},
    {"get_or_none", qs_get_or_none},
    {"update", qs_update},
    {"delete", qs_delete},
    {"sql", qs_sql},
    {"in_bulk", qs_in_bulk},
    {"iter", qs_iter},
    {"list", qs_list},
    {"_peek", qs_peek},
    {"explain", qs_explain},
    {"_columns", qs_columns},
    {"_projection", qs_projection},
    {"_filtered", qs_filtered},
    {NULL, NULL},
};

static int qs_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = lua_tointeger(L, 2);
        size_t n = evaluate(L, 1);
        if (i < 0)
            i += (lua_Integer)n + 1;
        lua_rawgeti(L, -1, i);
        return 1;
    }
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "model") == 0) {
        push_model_of(L, 1);
        return 1;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_QS);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
        return 1;
    /* related managers: add, remove, clear, create (related.lua) */
    if (lua_getiuservalue(L, 1, UV_MANAGER) == LUA_TTABLE &&
        lua_getfield(L, -4, "__manager") == LUA_TTABLE) {
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* C.qs_set_manager(qs, info): makes qs a related manager (info: a table
 * {instance =, rel =}, or nil to make it plain again). */
static int c_qs_set_manager(lua_State *L)
{
    checkqs(L, 1);
    lua_settop(L, 2);
    lua_setiuservalue(L, 1, UV_MANAGER);
    return 0;
}

/* C.qs_manager(qs) -> the manager info of qs, or nil. */
static int c_qs_manager(lua_State *L)
{
    checkqs(L, 1);
    lua_getiuservalue(L, 1, UV_MANAGER);
    return 1;
}

/* C.qs_set_cache(qs, list): the result of qs is list (prefetched rows),
 * so evaluating it runs no query. */
static int c_qs_set_cache(lua_State *L)
{
    lqs *u = checkqs(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    u->count = lua_rawlen(L, 2);
    lua_settop(L, 2);
    lua_setiuservalue(L, 1, UV_CACHE);
    return 0;
}

/* C.qs_manager_methods(t): the methods of related managers. */
static int c_qs_manager_methods(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_QS);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "__manager");
    return 0;
}

static const luaL_Reg qs_cfuncs[] = {
    {"qs_set_manager", c_qs_set_manager},
    {"qs_manager", c_qs_manager},
    {"qs_set_cache", c_qs_set_cache},
    {"qs_manager_methods", c_qs_manager_methods},
    {NULL, NULL},
};

static int qs_close(lua_State *L)
{
    return qs_gc(L);
}

static const luaL_Reg qs_metameth[] = {
    {"__index", qs_index}, {"__len", qs_len},     {"__tostring", qs_tostring},
    {"__gc", qs_gc},       {"__close", qs_close}, {NULL, NULL},
};

/* Model-level methods: Model:filter{...} is Model:all():filter{...}. */
int ltdo_qs_method(lua_State *L, const char *name)
{
    ltdo_push_all(L, 1);
    lua_replace(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_QS);
    lua_getfield(L, -1, "__methods");
    lua_getfield(L, -1, name);
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int model_delegate(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    if (!ltdo_tomodel(L, 1))
        return luaL_error(L, "%s: call it on a model (Model:%s(...))", name,
                          name);
    return ltdo_qs_method(L, name);
}

void ltdo_open_queryset(lua_State *L, int base_idx, int C_idx)
{
    base_idx = lua_absindex(L, base_idx);
    C_idx = lua_absindex(L, C_idx);
    luaL_newmetatable(L, LTDO_QS);
    luaL_setfuncs(L, qs_metameth, 0);
    lua_newtable(L);
    luaL_setfuncs(L, qs_meth, 0);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
    for (const luaL_Reg *r = qs_meth; r->name; r++) {
        if (r->name[0] == '_' || strcmp(r->name, "delete") == 0)
            continue;
        lua_pushstring(L, r->name);
        lua_pushcclosure(L, model_delegate, 1);
        lua_setfield(L, base_idx, r->name);
    }
    lua_pushvalue(L, C_idx);
    luaL_setfuncs(L, qs_cfuncs, 0);
    lua_pop(L, 1);
}
