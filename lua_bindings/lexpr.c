/*
 * lexpr.c -- orm.Q (filter trees: | & ~, structural ==) and orm.F
 * (field expressions: + - * / and unary minus).
 */
#include "ltdo.h"

#include <stdlib.h>
#include <string.h>

typedef struct lq {
    tdo_qnode *q; /* one reference; NULL after __gc */
} lq;

typedef struct lf {
    tdo_expr *e; /* one reference; NULL after __gc */
} lf;

/* ------------------------------------------------------------------ */
/* Q                                                                   */
/* ------------------------------------------------------------------ */

static lq *push_q(lua_State *L)
{
    lq *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->q = NULL;
    luaL_setmetatable(L, LTDO_Q);
    return u;
}

tdo_qnode *ltdo_toq(lua_State *L, int idx)
{
    lq *u = lua_type(L, idx) == LUA_TUSERDATA ? luaL_testudata(L, idx, LTDO_Q)
                                              : NULL;
    return u ? u->q : NULL;
}

static int q_gc(lua_State *L)
{
    lq *u = luaL_checkudata(L, 1, LTDO_Q);
    tdo_qnode_free(u->q);
    u->q = NULL;
    return 0;
}

static int oom(lua_State *L)
{
    return ltdo_raise(L, TDO_ERR_NOMEM, "out of memory");
}

/* Raises ParamsError when a Q or F node of the given depth would nest
 * deeper than the core allows (TDO_MAX_DEPTH). */
static void check_depth(lua_State *L, int depth, char kind)
{
    if (depth <= TDO_MAX_DEPTH)
        return;
    if (kind == 'Q')
        ltdo_raise(L, TDO_ERR_PARAMS,
                   "Q expression nested more than %d levels deep (for a long "
                   "list of alternatives use field__in = {...}, or one "
                   "Q{..., join_type = \"OR\"})",
                   TDO_MAX_DEPTH);
    ltdo_raise(L, TDO_ERR_PARAMS,
               "F expression nested more than %d levels deep", TDO_MAX_DEPTH);
}

static int max_depth(int a, int b)
{
    return a > b ? a : b;
}

/* Pushes a new Q holding op(a, b) (b NULL for NOT). */
static void push_combined(lua_State *L, char op, tdo_qnode *a, tdo_qnode *b)
{
    check_depth(L,
                b ? 1 + max_depth(tdo_qnode_depth(a), tdo_qnode_depth(b))
                  : 1 + tdo_qnode_depth(a),
                'Q');
    lq *u = push_q(L);
    tdo_qnode_ref(a);
    tdo_qnode_ref(b);
    u->q = op == '&'   ? tdo_q_and(a, b)
           : op == '|' ? tdo_q_or(a, b)
                       : tdo_q_not(a);
    if (u->q == NULL)
        oom(L);
}

static int q_binop(lua_State *L, char op)
{
    tdo_qnode *a = ltdo_toq(L, 1), *b = ltdo_toq(L, 2);
    if (!a || !b)
        return ltdo_raise(L, TDO_ERR_OPERATIONAL,
                          "%s operation requires a "
                          "Q node",
                          op == '&' ? "AND" : "OR");
    push_combined(L, op, a, b);
    return 1;
}

static int q_band(lua_State *L)
{
    return q_binop(L, '&');
}

static int q_bor(lua_State *L)
{
    return q_binop(L, '|');
}

static int q_bnot(lua_State *L)
{
    tdo_qnode *a = ltdo_toq(L, 1);
    if (!a)
        return ltdo_raise(L, TDO_ERR_OPERATIONAL, "NOT requires a Q node");
    push_combined(L, '~', a, NULL);
    return 1;
}

static int q_eq(lua_State *L)
{
    tdo_qnode *a = ltdo_toq(L, 1), *b = ltdo_toq(L, 2);
    lua_pushboolean(L, a && b && tdo_qnode_equal(a, b));
    return 1;
}

static int q_tostring(lua_State *L)
{
    tdo_qnode *a = ltdo_toq(L, 1);
    tdo_sb sb = TDO_SB_INIT;
    tdo_sb_adds(&sb, "<Q: ");
    tdo_qnode_format(&sb, a);
    tdo_sb_addc(&sb, '>');
    lua_pushlstring(L, sb.buf, sb.len);
    tdo_sb_release(&sb);
    return 1;
}

/* How many alternative keys (tdo_field_is_alt_key) instances of m have. */
static size_t nalt_of(const tdo_model *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < tdo_model_nfields(m); i++)
        n += tdo_field_is_alt_key(tdo_model_field(m, i));
    return n;
}

/* Converts the value at idx into *pk and its nalt alternative keys into
 * alts: an instance of m gives its fields' values, anything else itself
 * for each.  The values are anchored in the table at anchor. */
static bool instance_keys(lua_State *L, int idx, const tdo_model *m,
                          tdo_value *pk, tdo_value *alts, size_t nalt,
                          int anchor)
{
    idx = lua_absindex(L, idx);
    if (!ltdo_to_value(L, idx, pk))
        return false;
    tdo_model *im = ltdo_instance_model(L, idx);
    if (im)
        lua_pop(L, 1);
    for (size_t i = 0, a = 0; a < nalt; i++) {
        if (im != m) {
            alts[a++] = *pk;
            continue;
        }
        const tdo_field *f = tdo_model_field(m, i);
        if (!tdo_field_is_alt_key(f))
            continue;
        lua_getfield(L, idx, f->name);
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
        if (!ltdo_to_value(L, -1, &alts[a++]))
            alts[a - 1] = tdo_value_null();
        lua_pop(L, 1);
    }
    return true;
}

/* The model whose instances the value at vidx holds (an instance, or a
 * list with one first among its elements) when that model has
 * alternative keys a to_field may name; NULL otherwise. */
static const tdo_model *keyed_instances(lua_State *L, int vidx)
{
    vidx = lua_absindex(L, vidx);
    const tdo_model *m = ltdo_instance_model(L, vidx);
    if (m) {
        lua_pop(L, 1);
        return nalt_of(m) ? m : NULL;
    }
    if (lua_type(L, vidx) != LUA_TTABLE)
        return NULL;
    size_t n = lua_rawlen(L, vidx);
    for (size_t i = 1; i <= n && !m; i++) {
        lua_rawgeti(L, vidx, (lua_Integer)i);
        if ((m = ltdo_instance_model(L, -1)))
            lua_pop(L, 1);
        lua_pop(L, 1);
    }
    return m && nalt_of(m) ? m : NULL;
}

/* Pushes a Q for key = instances of m (one at vidx, or a list of them
 * and plain values): their pks, and the alternative keys a relation's
 * to_field compares instead. */
static void push_instance_lookup(lua_State *L, const char *key, int vidx,
                                 const tdo_model *m)
{
    vidx = lua_absindex(L, vidx);
    bool list = !ltdo_instance_model(L, vidx);
    if (!list)
        lua_pop(L, 1);
    size_t n = list ? lua_rawlen(L, vidx) : 1, nalt = nalt_of(m);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    tdo_value *pks = lua_newuserdatauv(L, (n ? n : 1) * sizeof(tdo_value), 0);
    tdo_value *alts =
        lua_newuserdatauv(L, (n ? n : 1) * nalt * sizeof(tdo_value), 0);
    for (size_t i = 0; i < n; i++) {
        if (list)
            lua_rawgeti(L, vidx, (lua_Integer)i + 1);
        else
            lua_pushvalue(L, vidx);
        if (!instance_keys(L, -1, m, &pks[i], alts + i * nalt, nalt, anchor))
            ltdo_raise(L, TDO_ERR_PARAMS,
                       "bad value in the list of lookup '%s' (a %s)", key,
                       luaL_typename(L, -1));
        lua_pop(L, 1); /* anchored by the list or the caller */
    }
    lq *u = push_q(L);
    u->q = tdo_q_lookup_instances(key, m, pks, n, alts, nalt);
    if (u->q == NULL)
        oom(L);
    lua_replace(L, anchor);
    lua_settop(L, anchor);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n > t && !strcmp(s + n - t, tail);
}

/* The lookups a data__filter path may end with. */
static const char *const json_ops[] = {"exact",  "not",        "in", "not_in",
                                       "gt",     "gte",        "lt", "lte",
                                       "isnull", "not_isnull", NULL};

/* Pushes a Q for data__filter = {owner__name = "Bob", age__gt = 3}: one
 * JSON-path leaf per entry (keys in sorted order), ANDed. */
static void push_json_filter(lua_State *L, const char *key, int vidx)
{
    vidx = lua_absindex(L, vidx);
    size_t flen = strlen(key) - strlen("__filter");
    lua_pushlstring(L, key, flen);
    const char *field = lua_tostring(L, -1);
    int anchor = lua_gettop(L);
    lua_newtable(L); /* the keys, sorted */
    int keys = lua_gettop(L);
    size_t nk = 0;
    lua_pushnil(L);
    while (lua_next(L, vidx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            ltdo_raise(L, TDO_ERR_PARAMS,
                       "'%s' takes a table of JSON paths (\"owner__name\")",
                       key);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, (lua_Integer)++nk);
    }
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, keys);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    tdo_qnode *acc = NULL;
    for (size_t i = 1; i <= nk; i++) {
        lua_rawgeti(L, keys, (lua_Integer)i);
        const char *path = lua_tostring(L, -1);
        /* split path at "__" */
        const char *parts[64];
        size_t np = 0;
        lua_newtable(L); /* anchors the parts */
        int pa = lua_gettop(L);
        for (const char *p = path; np < 64;) {
            const char *sep = strstr(p, "__");
            lua_pushlstring(L, p, sep ? (size_t)(sep - p) : strlen(p));
            parts[np++] = lua_tostring(L, -1);
            lua_rawseti(L, pa, (lua_Integer)np);
            if (!sep)
                break;
            p = sep + 2;
        }
        const char *op = NULL;
        for (int j = 0; np > 1 && json_ops[j]; j++)
            if (!strcmp(parts[np - 1], json_ops[j]))
                op = json_ops[j];
        if (op)
            np--;
        lua_getfield(L, vidx, path);
        int v = lua_gettop(L);
        size_t nv = 1;
        tdo_value *vals;
        if (lua_type(L, v) == LUA_TTABLE && !ltdo_instance_model(L, v)) {
            nv = lua_rawlen(L, v);
            vals = lua_newuserdatauv(L, (nv ? nv : 1) * sizeof(tdo_value), 0);
            for (size_t j = 0; j < nv; j++) {
                lua_rawgeti(L, v, (lua_Integer)j + 1);
                if (!ltdo_to_value(L, -1, &vals[j]))
                    ltdo_raise(L, TDO_ERR_PARAMS, "bad value for '%s'", path);
                lua_pop(L, 1); /* anchored by the list */
            }
        } else {
            if (lua_type(L, v) == LUA_TTABLE)
                lua_pop(L, 1); /* the model ltdo_instance_model pushed */
            vals = lua_newuserdatauv(L, sizeof(tdo_value), 0);
            if (lua_isnil(L, v) || ltdo_isnull(L, v))
                vals[0] = tdo_value_null();
            else if (!ltdo_to_value(L, v, &vals[0]))
                ltdo_raise(L, TDO_ERR_PARAMS, "bad value for '%s' (a %s)", path,
                           luaL_typename(L, v));
        }
        tdo_qnode *leaf = tdo_q_json_lookup(field, parts, np, op, vals, nv);
        acc = leaf ? tdo_q_and(acc, leaf) : NULL;
        if (!acc)
            oom(L);
        lua_settop(L, keys);
    }
    lq *u = push_q(L);
    u->q = acc ? acc : tdo_q_empty();
    if (u->q == NULL)
        oom(L);
    lua_replace(L, anchor);
    lua_settop(L, anchor);
}

/* A table given to a JSONField's contains / contained_by: its JSON text,
 * pushed; false when the key is no such lookup or the value no plain
 * table. */
static bool json_value_of(lua_State *L, const char *key, int vidx)
{
    if (lua_type(L, vidx) != LUA_TTABLE || ltdo_isnull(L, vidx) ||
        (!ends_with(key, "__contains") && !ends_with(key, "__contained_by")))
        return false;
    if (ltdo_instance_model(L, vidx)) {
        lua_pop(L, 1);
        return false;
    }
    ltdo_json_encode(L, vidx, false);
    return true;
}

/* Pushes a Q for one lookup key = value (value at vidx). */
static void push_lookup(lua_State *L, const char *key, int vidx)
{
    vidx = lua_absindex(L, vidx);
    if (ends_with(key, "__filter") && lua_type(L, vidx) == LUA_TTABLE &&
        !ltdo_isnull(L, vidx)) {
        push_json_filter(L, key, vidx);
        return;
    }
    if (json_value_of(L, key, vidx)) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        tdo_value v;
        memset(&v, 0, sizeof v);
        v.type = TDO_JSON;
        v.u.s.ptr = s;
        v.u.s.len = len;
        lq *u = push_q(L);
        u->q = tdo_q_lookup(key, &v, 1);
        if (u->q == NULL)
            oom(L);
        lua_remove(L, -2); /* the JSON text */
        return;
    }
    tdo_expr *e = ltdo_tof(L, vidx);
    lq *u;
    tdo_value v;
    if (e) {
        check_depth(L, 1 + tdo_expr_depth(e), 'Q');
        u = push_q(L);
        u->q = tdo_q_lookup_expr(key, tdo_expr_ref(e));
        if (u->q == NULL)
            oom(L);
        return;
    }
    if (ltdo_toq(L, vidx))
        ltdo_raise(L, TDO_ERR_PARAMS,
                   "a Q object cannot be the value of "
                   "lookup '%s'",
                   key);
    const tdo_model *im = keyed_instances(L, vidx);
    if (im) {
        push_instance_lookup(L, key, vidx, im);
        return;
    }
    if (lua_type(L, vidx) == LUA_TTABLE && !ltdo_instance_model(L, vidx)) {
        /* in / not_in / range: the array part */
        size_t n = lua_rawlen(L, vidx);
        tdo_value *vals =
            lua_newuserdatauv(L, (n ? n : 1) * sizeof(tdo_value), 0);
        int anchor = lua_gettop(L);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, vidx, (lua_Integer)i + 1);
            if (!ltdo_to_value(L, -1, &vals[i]))
                ltdo_raise(L, TDO_ERR_PARAMS,
                           "bad value in the list of lookup '%s' (a %s)", key,
                           luaL_typename(L, -1));
            /* strings stay anchored by the list table */
            lua_pop(L, 1);
        }
        u = push_q(L);
        u->q = tdo_q_lookup(key, vals, n);
        if (u->q == NULL)
            oom(L);
        lua_remove(L, anchor);
        return;
    }
    if (lua_type(L, vidx) == LUA_TTABLE)
        lua_pop(L, 1); /* the model pushed by ltdo_instance_model */
    if (!ltdo_to_value(L, vidx, &v))
        ltdo_raise(L, TDO_ERR_PARAMS, "bad value for lookup '%s' (a %s)", key,
                   luaL_typename(L, vidx));
    u = push_q(L);
    u->q = tdo_q_lookup(key, &v, 1);
    if (u->q == NULL)
        oom(L);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The join of a filter table's kwargs: '|' for join_type = "OR", else
 * '&' (OperationalError for anything but AND or OR). */
static char join_of(lua_State *L, int idx)
{
    char join = '&';
    lua_getfield(L, idx, "join_type");
    if (!lua_isnil(L, -1)) {
        const char *jt = lua_tostring(L, -1);
        if (jt && (strcmp(jt, "OR") == 0 || strcmp(jt, "or") == 0))
            join = '|';
        else if (!jt || (strcmp(jt, "AND") && strcmp(jt, "and")))
            ltdo_raise(L, TDO_ERR_OPERATIONAL, "join_type must be AND or OR");
    }
    lua_pop(L, 1);
    return join;
}

/* Whether key k (a string at -1) is a lookup of the filter table. */
static bool lookup_key(lua_State *L, bool honour_join)
{
    return lua_type(L, -1) == LUA_TSTRING &&
           !(honour_join && strcmp(lua_tostring(L, -1), "join_type") == 0);
}

/* The lookup keys of the filter table at idx, sorted for a stable SQL
 * text, in an array it pushes; *n their number. */
static const char **sorted_keys(lua_State *L, int idx, bool honour_join,
                                size_t *n)
{
    size_t nkeys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lookup_key(L, honour_join))
            nkeys++;
        else if (lua_type(L, -1) != LUA_TSTRING &&
                 lua_type(L, -1) != LUA_TNUMBER)
            ltdo_raise(L, TDO_ERR_PARAMS, "bad filter key (a %s)",
                       luaL_typename(L, -1));
    }
    const char **keys =
        lua_newuserdatauv(L, (nkeys ? nkeys : 1) * sizeof(char *), 0);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lookup_key(L, honour_join) && k < nkeys)
            keys[k++] = lua_tostring(L, -1); /* anchored by the table */
    }
    qsort(keys, k, sizeof *keys, cmp_keys);
    *n = k;
    return keys;
}

/* acc->q = acc->q JOIN piece (acc->q NULL: piece), within the depth
 * limit. */
static void join_into(lua_State *L, lq *acc, tdo_qnode *piece, char join)
{
    tdo_qnode *old = acc->q;
    if (old)
        check_depth(L,
                    1 + max_depth(tdo_qnode_depth(old), tdo_qnode_depth(piece)),
                    'Q');
    acc->q = join == '&' ? tdo_q_and(old, tdo_qnode_ref(piece))
                         : tdo_q_or(old, tdo_qnode_ref(piece));
    if (!acc->q)
        oom(L);
}

tdo_qnode *ltdo_build_q(lua_State *L, int idx, bool honour_join)
{
    luaL_checkstack(L, 40, "testudo");
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx)) {
        lq *u = push_q(L);
        u->q = tdo_q_empty();
        if (!u->q)
            oom(L);
        return u->q;
    }
    if (ltdo_toq(L, idx)) {
        lua_pushvalue(L, idx);
        return ltdo_toq(L, -1);
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    char join = honour_join ? join_of(L, idx) : '&';
    size_t nkeys;
    const char **keys = sorted_keys(L, idx, honour_join, &nkeys);
    int keys_idx = lua_gettop(L);

    /* kwargs first, joined by join, then the positional Q children */
    lq *acc = push_q(L);
    for (size_t i = 0; i < nkeys; i++) {
        lua_getfield(L, idx, keys[i]);
        push_lookup(L, keys[i], lua_gettop(L));
        join_into(L, acc, ltdo_toq(L, -1), join);
        lua_pop(L, 2);
    }
    size_t n = lua_rawlen(L, idx);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        tdo_qnode *child = ltdo_toq(L, -1);
        if (!child)
            ltdo_raise(L, TDO_ERR_OPERATIONAL,
                       "All ordered arguments must be Q nodes (argument %d is "
                       "a %s)",
                       (int)i, luaL_typename(L, -1));
        join_into(L, acc, child, join);
        lua_pop(L, 1);
    }
    if (acc->q == NULL && (acc->q = tdo_q_empty()) == NULL)
        oom(L);
    lua_remove(L, keys_idx);
    return acc->q;
}

static int l_Q(lua_State *L)
{
    if (lua_gettop(L) > 1 ||
        (!lua_isnoneornil(L, 1) && !lua_istable(L, 1) && !ltdo_toq(L, 1))) {
        /* Q(q1, q2, ...) positional form */
        int n = lua_gettop(L);
        lua_createtable(L, n, 0);
        for (int i = 1; i <= n; i++) {
            if (lua_istable(L, i) && !ltdo_toq(L, i)) {
                /* a trailing options table */
                lua_pushnil(L);
                while (lua_next(L, i)) {
                    lua_pushvalue(L, -2);
                    lua_insert(L, -2);
                    lua_settable(L, n + 1);
                }
            } else {
                lua_pushvalue(L, i);
                lua_rawseti(L, n + 1, i);
            }
        }
        ltdo_build_q(L, n + 1, true);
        return 1;
    }
    ltdo_build_q(L, 1, true);
    return 1;
}

/* ------------------------------------------------------------------ */
/* F                                                                   */
/* ------------------------------------------------------------------ */

static lf *push_f(lua_State *L)
{
    lf *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->e = NULL;
    luaL_setmetatable(L, LTDO_F);
    return u;
}

tdo_expr *ltdo_tof(lua_State *L, int idx)
{
    lf *u = lua_type(L, idx) == LUA_TUSERDATA ? luaL_testudata(L, idx, LTDO_F)
                                              : NULL;
    return u ? u->e : NULL;
}

static int f_gc(lua_State *L)
{
    lf *u = luaL_checkudata(L, 1, LTDO_F);
    tdo_expr_free(u->e);
    u->e = NULL;
    return 0;
}

static int l_F(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lf *u = push_f(L);
    u->e = tdo_expr_field(name);
    if (!u->e)
        oom(L);
    return 1;
}

/* Returns a new reference to an expression for the operand at idx. */
static tdo_expr *operand(lua_State *L, int idx)
{
    tdo_expr *e = ltdo_tof(L, idx);
    if (e)
        return tdo_expr_ref(e);
    tdo_value v;
    if (!ltdo_to_value(L, idx, &v) || v.type == TDO_NULL)
        ltdo_raise(L, TDO_ERR_PARAMS,
                   "attempt to perform arithmetic on an F expression and a %s",
                   luaL_typename(L, idx));
    e = tdo_expr_value(&v);
    if (!e)
        oom(L);
    return e;
}

static int f_arith(lua_State *L, char op)
{
    lf *u = push_f(L);
    tdo_expr *a = operand(L, 1);
    /* a is owned here: keep it in the result box while converting b */
    u->e = a;
    tdo_expr *b = operand(L, 2);
    if (1 + max_depth(tdo_expr_depth(a), tdo_expr_depth(b)) > TDO_MAX_DEPTH) {
        tdo_expr_free(b); /* a stays in the box */
        check_depth(L, TDO_MAX_DEPTH + 1, 'F');
    }
    u->e = tdo_expr_binop(op, a, b);
    if (!u->e)
        oom(L);
    return 1;
}

static int f_add(lua_State *L)
{
    return f_arith(L, '+');
}
static int f_sub(lua_State *L)
{
    return f_arith(L, '-');
}
static int f_mul(lua_State *L)
{
    return f_arith(L, '*');
}
static int f_div(lua_State *L)
{
    return f_arith(L, '/');
}
static int f_mod(lua_State *L)
{
    return f_arith(L, '%');
}
static int f_pow(lua_State *L)
{
    return f_arith(L, '^');
}

static int f_unm(lua_State *L)
{
    lf *u = push_f(L);
    u->e = operand(L, 1); /* in the box while checked */
    check_depth(L, 1 + tdo_expr_depth(u->e), 'F');
    u->e = tdo_expr_neg(u->e);
    if (!u->e)
        oom(L);
    return 1;
}

static int f_tostring(lua_State *L)
{
    tdo_expr *e = ltdo_tof(L, 1);
    tdo_sb sb = TDO_SB_INIT;
    tdo_expr_format(&sb, e);
    lua_pushlstring(L, sb.buf, sb.len);
    tdo_sb_release(&sb);
    return 1;
}

/* ------------------------------------------------------------------ */
/* orm.functions and orm.RawSQL                                        */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    tdo_func fn;
} functions[] = {
    {"Count", TDO_FN_COUNT},   {"Sum", TDO_FN_SUM},
    {"Avg", TDO_FN_AVG},       {"Min", TDO_FN_MIN},
    {"Max", TDO_FN_MAX},       {"Lower", TDO_FN_LOWER},
    {"Upper", TDO_FN_UPPER},   {"Length", TDO_FN_LENGTH},
    {"Trim", TDO_FN_TRIM},     {"Coalesce", TDO_FN_COALESCE},
    {"Concat", TDO_FN_CONCAT}, {NULL, TDO_FN_COUNT},
};

/* Holds the argument expressions of a call being built (freed on
 * __gc, so a raising conversion leaks nothing). */
typedef struct fargs {
    tdo_expr *e[72]; /* a function's 16 arguments; a Case's 64 + default */
    size_t n;
} fargs;

static void fargs_free(void *p)
{
    fargs *a = p;
    for (size_t i = 0; i < a->n; i++)
        tdo_expr_free(a->e[i]);
    free(a);
}

/* Count("orders", {distinct = true, _filter = Q{...}}), Sum("total"),
 * Lower("email"), Coalesce("bio", "none"), Concat("name", " ", F"slug"):
 * a string names a field when it is the first argument (any argument
 * of Concat that is not a plain literal must be F"..."), later strings
 * and other values are literals; F objects and function results nest.
 * Upvalue 1: the index into functions[]. */
static int l_function(lua_State *L)
{
    int fi = (int)lua_tointeger(L, lua_upvalueindex(1));
    int top = lua_gettop(L);
    bool distinct = false;
    tdo_qnode *filter = NULL;
    int nargs = top;
    if (top >= 1 && lua_istable(L, top) && !ltdo_instance_model(L, top)) {
        nargs = top - 1;
        lua_getfield(L, top, "distinct");
        distinct = lua_toboolean(L, -1);
        lua_getfield(L, top, "_filter");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_getfield(L, top, "filter");
        }
        if (!lua_isnil(L, -1)) {
            filter = ltdo_toq(L, -1);
            if (filter == NULL)
                filter = ltdo_build_q(L, lua_gettop(L), false);
        }
        /* the Q stays anchored on the stack */
    }
    if (nargs < 1 && functions[fi].fn != TDO_FN_COUNT)
        return ltdo_raise(L, TDO_ERR_PARAMS, "%s takes at least one argument",
                          functions[fi].name);
    if (nargs > 16)
        return ltdo_raise(L, TDO_ERR_PARAMS, "%s: too many arguments",
                          functions[fi].name);
    ltdo_box *box = ltdo_box_new(L, fargs_free);
    fargs *a = calloc(1, sizeof *a);
    if (a == NULL)
        return oom(L);
    box->p = a;
    for (int i = 1; i <= nargs; i++) {
        tdo_expr *e = ltdo_tof(L, i);
        tdo_value v;
        if (e) {
            e = tdo_expr_ref(e);
        } else if (i == 1 && lua_type(L, i) == LUA_TSTRING) {
            e = tdo_expr_field(lua_tostring(L, i));
        } else if (ltdo_to_value(L, i, &v)) {
            e = tdo_expr_value(&v);
        } else {
            return ltdo_raise(L, TDO_ERR_PARAMS, "%s: bad argument %d (a %s)",
                              functions[fi].name, i, luaL_typename(L, i));
        }
        if (e == NULL)
            return oom(L);
        a->e[a->n++] = e;
    }
    int depth = 1 + tdo_qnode_depth(filter);
    for (size_t i = 0; i < a->n; i++)
        depth = max_depth(depth, 1 + tdo_expr_depth(a->e[i]));
    check_depth(L, depth, 'F'); /* the box frees the arguments */
    lf *u = push_f(L);
    if (filter)
        tdo_qnode_ref(filter);
    size_t n = a->n;
    a->n = 0; /* the call takes the references, even when it fails */
    u->e = tdo_expr_func(functions[fi].fn, a->e, n, distinct, filter);
    if (u->e == NULL)
        return oom(L);
    return 1;
}

/* orm.RawSQL("COUNT(*) + 1"): raw SQL used as an expression. */
static int l_rawsql(lua_State *L)
{
    const char *sql = luaL_checkstring(L, 1);
    lf *u = push_f(L);
    u->e = tdo_expr_raw(sql);
    if (u->e == NULL)
        return oom(L);
    return 1;
}

/* orm.When(cond, value): one branch of orm.Case; cond a Q or a table of
 * filter keys, value a value (nil: NULL) or an expression.  A table
 * {cond = Q, value = v} with the When metatable. */
static int l_when(lua_State *L)
{
    lua_settop(L, 2);
    if (!ltdo_toq(L, 1) && !(lua_istable(L, 1) && !ltdo_instance_model(L, 1) &&
                             lua_getmetatable(L, 1) == 0))
        return ltdo_raise(L, TDO_ERR_PARAMS,
                          "When takes a Q or a table of filters, then the "
                          "value (got a %s)",
                          luaL_typename(L, 1));
    ltdo_build_q(L, 1, true); /* the Q, on the stack */
    lua_createtable(L, 0, 2);
    lua_insert(L, -2);
    lua_setfield(L, -2, "cond");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "value");
    luaL_setmetatable(L, LTDO_WHEN);
    return 1;
}

/* The expression of a Case's result or default at idx (a new reference):
 * an expression as is, nil / orm.null as NULL, else a value. */
static tdo_expr *case_value(lua_State *L, int idx, const char *what)
{
    tdo_expr *e = ltdo_tof(L, idx);
    if (e)
        return tdo_expr_ref(e);
    tdo_value v = tdo_value_null();
    if (!lua_isnil(L, idx) && !ltdo_to_value(L, idx, &v))
        ltdo_raise(L, TDO_ERR_PARAMS, "Case: %s cannot be a %s", what,
                   luaL_typename(L, idx));
    e = tdo_expr_value(&v);
    if (!e)
        oom(L);
    return e;
}

/* Whether the value at idx is a When (a table with the When metatable). */
static bool is_when(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, LTDO_WHEN);
    bool when = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return when;
}

/* orm.Case(orm.When(...), ..., {default = v}): CASE WHEN ... END, an
 * expression for annotate, filter, update, order_by. */
static int l_case(lua_State *L)
{
    int n = lua_gettop(L);
    int opts = 0;
    if (n > 0 && lua_type(L, n) == LUA_TTABLE && !is_when(L, n) &&
        !ltdo_instance_model(L, n))
        opts = n--;
    if (n == 0)
        return ltdo_raise(L, TDO_ERR_PARAMS, "Case takes at least one When");
    if (n > 64)
        return ltdo_raise(L, TDO_ERR_PARAMS, "Case: too many When branches");
    for (int i = 1; i <= n; i++)
        if (!is_when(L, i))
            return ltdo_raise(L, TDO_ERR_PARAMS,
                              "Case: argument %d is not a When (a %s)", i,
                              luaL_typename(L, i));
    ltdo_box *box = ltdo_box_new(L, fargs_free); /* the results, held */
    fargs *a = calloc(1, sizeof *a);
    if (a == NULL)
        return oom(L);
    box->p = a;
    tdo_qnode *conds[64];
    tdo_expr *thens[64];
    int depth = 1;
    for (int i = 1; i <= n; i++) {
        lua_getfield(L, i, "value");
        a->e[a->n++] = case_value(L, -1, "a result");
        lua_pop(L, 1);
        lua_getfield(L, i, "cond");
        conds[i - 1] = ltdo_toq(L, -1);
        lua_pop(L, 1); /* the When keeps it */
        depth = max_depth(depth, 1 + tdo_qnode_depth(conds[i - 1]));
        depth = max_depth(depth, 1 + tdo_expr_depth(a->e[i - 1]));
    }
    tdo_expr *dflt = NULL;
    if (opts) {
        lua_getfield(L, opts, "default");
        if (!lua_isnil(L, -1)) {
            dflt = case_value(L, -1, "the default");
            a->e[a->n++] = dflt; /* held by the box until the end */
            depth = max_depth(depth, 1 + tdo_expr_depth(dflt));
        }
        lua_pop(L, 1);
    }
    check_depth(L, depth, 'F');
    lf *u = push_f(L);
    for (int i = 0; i < n; i++) {
        tdo_qnode_ref(conds[i]);
        thens[i] = a->e[i];
    }
    a->n = 0; /* the call takes the references, even when it fails */
    u->e = tdo_expr_case(conds, thens, (size_t)n, dflt);
    if (u->e == NULL)
        return oom(L);
    return 1;
}

/* orm.Subquery(qs): the queryset's SELECT inside another statement (a
 * value in annotate, filter and update; a list after __in). */
static int l_subquery(lua_State *L)
{
    tdo_query *q = ltdo_toquery(L, 1);
    if (q == NULL)
        return ltdo_raise(L, TDO_ERR_PARAMS,
                          "Subquery takes a queryset (got a %s)",
                          luaL_typename(L, 1));
    lf *u = push_f(L);
    u->e = tdo_expr_subquery(q);
    if (u->e == NULL)
        return oom(L);
    return 1;
}

static const luaL_Reg q_metameth[] = {
    {"__gc", q_gc},
    {"__close", q_gc},
    {"__band", q_band},
    {"__bor", q_bor},
    {"__bnot", q_bnot},
    {"__eq", q_eq},
    {"__tostring", q_tostring},
    {NULL, NULL},
};

static const luaL_Reg f_metameth[] = {
    {"__gc", f_gc},   {"__close", f_gc},
    {"__add", f_add}, {"__sub", f_sub},
    {"__mul", f_mul}, {"__div", f_div},
    {"__mod", f_mod}, {"__pow", f_pow},
    {"__unm", f_unm}, {"__tostring", f_tostring},
    {NULL, NULL},
};

void ltdo_open_expr(lua_State *L, int orm_idx)
{
    orm_idx = lua_absindex(L, orm_idx);
    luaL_newmetatable(L, LTDO_Q);
    luaL_setfuncs(L, q_metameth, 0);
    lua_pushliteral(L, "Q");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_newmetatable(L, LTDO_F);
    luaL_setfuncs(L, f_metameth, 0);
    lua_pushliteral(L, "F");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_Q);
    lua_setfield(L, orm_idx, "Q");
    lua_pushcfunction(L, l_F);
    lua_setfield(L, orm_idx, "F");
    lua_newtable(L); /* orm.functions */
    for (int i = 0; functions[i].name; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, l_function, 1);
        lua_setfield(L, -2, functions[i].name);
    }
    lua_setfield(L, orm_idx, "functions");
    lua_pushcfunction(L, l_rawsql);
    lua_setfield(L, orm_idx, "RawSQL");
    luaL_newmetatable(L, LTDO_WHEN);
    lua_pushliteral(L, "When");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_when);
    lua_setfield(L, orm_idx, "When");
    lua_pushcfunction(L, l_case);
    lua_setfield(L, orm_idx, "Case");
    lua_pushcfunction(L, l_subquery);
    lua_setfield(L, orm_idx, "Subquery");
}
