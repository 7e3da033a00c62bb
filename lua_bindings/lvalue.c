/*
 * lvalue.c -- orm.null, orm.Decimal, orm.datetime / orm.date / orm.time,
 * orm.duration, and the conversions between Lua values and tdo_value.
 */
#include "ltdo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ldt {
    tdo_datetime dt;
    tdo_type kind; /* TDO_DATETIME, TDO_DATE or TDO_TIME */
} ldt;

/* ------------------------------------------------------------------ */
/* orm.null                                                            */
/* ------------------------------------------------------------------ */

static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

bool ltdo_isnull(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TUSERDATA &&
           luaL_testudata(L, idx, LTDO_NULL) != NULL;
}

void ltdo_push_null(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, LTDO_NULL ".value") !=
        LUA_TUSERDATA) {
        lua_pop(L, 1);
        lua_newuserdatauv(L, 1, 0);
        luaL_setmetatable(L, LTDO_NULL);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LTDO_NULL ".value");
    }
}

/* ------------------------------------------------------------------ */
/* Decimal                                                             */
/* ------------------------------------------------------------------ */

tdo_decimal *ltdo_push_decimal(lua_State *L, const tdo_decimal *d)
{
    tdo_decimal *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = *d;
    luaL_setmetatable(L, LTDO_DECIMAL);
    return u;
}

/* Converts idx to a decimal: Decimal, integer, float or numeric string;
 * returns false if it is none of these. Raises on bad numbers. */
static bool todec(lua_State *L, int idx, tdo_decimal *d, bool strings)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_decimal *u;
    switch (lua_type(L, idx)) {
    case LUA_TUSERDATA:
        u = luaL_testudata(L, idx, LTDO_DECIMAL);
        if (u == NULL)
            return false;
        *d = *u;
        return true;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            tdo_decimal_from_int(lua_tointeger(L, idx), d);
            return true;
        }
        if (tdo_decimal_from_double(lua_tonumber(L, idx), d, &err))
            ltdo_error(L, &err);
        return true;
    case LUA_TSTRING:
        if (!strings)
            return false;
        {
            size_t len;
            const char *s = lua_tolstring(L, idx, &len);
            if (tdo_decimal_parse(s, len, d, &err))
                ltdo_error(L, &err);
        }
        return true;
    default:
        return false;
    }
}

static int dec_new(lua_State *L)
{
    tdo_decimal d;
    int idx = 2; /* orm.Decimal(x) goes through __call */
    if (lua_isnoneornil(L, idx)) {
        tdo_decimal_from_int(0, &d);
    } else if (!todec(L, idx, &d, true)) {
        return ltdo_raise(L, TDO_ERR_PARAMS, "cannot make a Decimal from a %s",
                          luaL_typename(L, idx));
    }
    ltdo_push_decimal(L, &d);
    return 1;
}

/* Forwards an arithmetic metamethod to an F operand, if any. */
static bool forward_expr(lua_State *L, const char *event)
{
    for (int i = 1; i <= 2; i++) {
        if (luaL_testudata(L, i, LTDO_F)) {
            luaL_getmetafield(L, i, event);
            lua_pushvalue(L, 1);
            lua_pushvalue(L, 2);
            lua_call(L, 2, 1);
            return true;
        }
    }
    return false;
}

static int dec_arith(lua_State *L, int op, const char *event)
{
    tdo_decimal a, b, r;
    tdo_error err = TDO_ERROR_INIT;
    if (forward_expr(L, event))
        return 1;
    if (!todec(L, 1, &a, false) || !todec(L, 2, &b, false))
        return ltdo_raise(L, TDO_ERR_PARAMS,
                          "attempt to perform arithmetic on a Decimal and a "
                          "%s value",
                          luaL_typename(L, todec(L, 1, &a, false) ? 2 : 1));
    tdo_status st;
    switch (op) {
    case '+':
        st = tdo_decimal_add(&a, &b, &r, &err);
        break;
    case '-':
        st = tdo_decimal_sub(&a, &b, &r, &err);
        break;
    case '*':
        st = tdo_decimal_mul(&a, &b, &r, &err);
        break;
    default:
        st = tdo_decimal_div(&a, &b, &r, &err);
        break;
    }
    if (st)
        return ltdo_error(L, &err);
    ltdo_push_decimal(L, &r);
    return 1;
}

static int dec_add(lua_State *L)
{
    return dec_arith(L, '+', "__add");
}
static int dec_sub(lua_State *L)
{
    return dec_arith(L, '-', "__sub");
}
static int dec_mul(lua_State *L)
{
    return dec_arith(L, '*', "__mul");
}
static int dec_div(lua_State *L)
{
    return dec_arith(L, '/', "__div");
}

static int dec_unm(lua_State *L)
{
    tdo_decimal *a = luaL_checkudata(L, 1, LTDO_DECIMAL), r;
    tdo_decimal_neg(a, &r);
    ltdo_push_decimal(L, &r);
    return 1;
}

static int dec_cmp(lua_State *L, bool *ok)
{
    tdo_decimal a, b;
    *ok = todec(L, 1, &a, false) && todec(L, 2, &b, false);
    return *ok ? tdo_decimal_cmp(&a, &b) : 0;
}

static int dec_eq(lua_State *L)
{
    bool ok;
    int c = dec_cmp(L, &ok);
    lua_pushboolean(L, ok && c == 0);
    return 1;
}

static int dec_lt(lua_State *L)
{
    bool ok;
    int c = dec_cmp(L, &ok);
    if (!ok)
        return luaL_error(L, "attempt to compare a Decimal with %s",
                          luaL_typename(L, 2));
    lua_pushboolean(L, c < 0);
    return 1;
}

static int dec_le(lua_State *L)
{
    bool ok;
    int c = dec_cmp(L, &ok);
    if (!ok)
        return luaL_error(L, "attempt to compare a Decimal with %s",
                          luaL_typename(L, 2));
    lua_pushboolean(L, c <= 0);
    return 1;
}

static int dec_tostring(lua_State *L)
{
    tdo_decimal *a = luaL_checkudata(L, 1, LTDO_DECIMAL);
    char buf[64];
    size_t n = tdo_decimal_format(a, buf, sizeof buf);
    lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf - 1);
    return 1;
}

static int dec_concat(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    luaL_tolstring(L, 2, NULL);
    lua_concat(L, 2);
    return 1;
}

static int dec_tonumber(lua_State *L)
{
    tdo_decimal *a = luaL_checkudata(L, 1, LTDO_DECIMAL);
    if (a->scale == 0 && a->coef >= INT64_MIN && a->coef <= INT64_MAX)
        lua_pushinteger(L, (lua_Integer)a->coef);
    else
        lua_pushnumber(L, tdo_decimal_to_double(a));
    return 1;
}

static int dec_quantize(lua_State *L)
{
    tdo_decimal *a = luaL_checkudata(L, 1, LTDO_DECIMAL), r;
    tdo_error err = TDO_ERROR_INIT;
    int places = (int)luaL_checkinteger(L, 2);
    if (tdo_decimal_quantize(a, places, 0, &r, &err))
        return ltdo_error(L, &err);
    ltdo_push_decimal(L, &r);
    return 1;
}

static const luaL_Reg dec_meth[] = {
    {"tonumber", dec_tonumber},
    {"quantize", dec_quantize},
    {NULL, NULL},
};

static const luaL_Reg dec_metameth[] = {
    {"__add", dec_add},       {"__sub", dec_sub}, {"__mul", dec_mul},
    {"__div", dec_div},       {"__unm", dec_unm}, {"__eq", dec_eq},
    {"__lt", dec_lt},         {"__le", dec_le},   {"__tostring", dec_tostring},
    {"__concat", dec_concat}, {NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* Dates and times                                                     */
/* ------------------------------------------------------------------ */

static const char *kind_meta(tdo_type kind)
{
    return kind == TDO_DATE   ? LTDO_DATE
           : kind == TDO_TIME ? LTDO_TIME
                              : LTDO_DATETIME;
}

void ltdo_push_datetime(lua_State *L, const tdo_datetime *dt, tdo_type kind)
{
    ldt *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->dt = *dt;
    u->kind = kind;
    if (kind == TDO_DATE) {
        u->dt.hour = u->dt.minute = u->dt.second = 0;
        u->dt.usec = 0;
        u->dt.has_offset = false;
        u->dt.offset_min = 0;
    } else if (kind == TDO_TIME) {
        u->dt.year = 0;
        u->dt.month = u->dt.day = 0;
    }
    luaL_setmetatable(L, kind_meta(kind));
}

static ldt *todt(lua_State *L, int idx)
{
    ldt *u;
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return NULL;
    if ((u = luaL_testudata(L, idx, LTDO_DATETIME)) ||
        (u = luaL_testudata(L, idx, LTDO_DATE)) ||
        (u = luaL_testudata(L, idx, LTDO_TIME)))
        return u;
    return NULL;
}

static int64_t *todur(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TUSERDATA
               ? luaL_testudata(L, idx, LTDO_DURATION)
               : NULL;
}

static int dt_tostring(lua_State *L)
{
    ldt *u = todt(L, 1);
    char buf[64];
    size_t n =
        tdo_datetime_format(&u->dt, u->kind, 'T', false, buf, sizeof buf);
    lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf - 1);
    return 1;
}

static int dt_isoformat(lua_State *L)
{
    ldt *u = todt(L, 1);
    luaL_argcheck(L, u != NULL, 1, "date or time expected");
    const char *sep = luaL_optstring(L, 2, "T");
    char buf[64];
    size_t n = tdo_datetime_format(&u->dt, u->kind, sep[0] ? sep[0] : 'T',
                                   false, buf, sizeof buf);
    lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf - 1);
    return 1;
}

static int dt_date(lua_State *L)
{
    ldt *u = todt(L, 1);
    luaL_argcheck(L, u && u->kind != TDO_TIME, 1, "datetime expected");
    ltdo_push_datetime(L, &u->dt, TDO_DATE);
    return 1;
}

static int dt_time(lua_State *L)
{
    ldt *u = todt(L, 1);
    luaL_argcheck(L, u && u->kind != TDO_DATE, 1, "datetime expected");
    ltdo_push_datetime(L, &u->dt, TDO_TIME);
    return 1;
}

/* Day of the week, Monday == 0 (Python's weekday()). */
static int dt_weekday(lua_State *L)
{
    ldt *u = todt(L, 1);
    luaL_argcheck(L, u && u->kind != TDO_TIME, 1, "date expected");
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    int y = u->dt.year, m = u->dt.month, d = u->dt.day;
    if (m < 3)
        y -= 1;
    int w = (y + y / 4 - y / 100 + y / 400 + t[(m - 1) % 12] + d) % 7;
    lua_pushinteger(L, (w + 6) % 7); /* 0 = Sunday -> Monday = 0 */
    return 1;
}

static int dt_index(lua_State *L)
{
    ldt *u = todt(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const tdo_datetime *d = &u->dt;
    lua_Integer v;
    if (strcmp(k, "year") == 0 && u->kind != TDO_TIME)
        v = d->year;
    else if (strcmp(k, "month") == 0 && u->kind != TDO_TIME)
        v = d->month;
    else if (strcmp(k, "day") == 0 && u->kind != TDO_TIME)
        v = d->day;
    else if (strcmp(k, "hour") == 0 && u->kind != TDO_DATE)
        v = d->hour;
    else if (strcmp(k, "minute") == 0 && u->kind != TDO_DATE)
        v = d->minute;
    else if (strcmp(k, "second") == 0 && u->kind != TDO_DATE)
        v = d->second;
    else if (strcmp(k, "microsecond") == 0 && u->kind != TDO_DATE)
        v = d->usec;
    else if (strcmp(k, "utcoffset") == 0) {
        if (d->has_offset)
            ltdo_push_duration(L, (int64_t)d->offset_min * 60000000);
        else
            lua_pushnil(L);
        return 1;
    } else {
        luaL_getmetafield(L, 1, "__methods");
        lua_getfield(L, -1, k);
        return 1;
    }
    lua_pushinteger(L, v);
    return 1;
}

static int dt_cmp(lua_State *L, bool *ok)
{
    ldt *a = todt(L, 1), *b = todt(L, 2);
    *ok = a && b && a->kind == b->kind;
    return *ok ? tdo_datetime_cmp(&a->dt, &b->dt, a->kind) : 0;
}

static int dt_eq(lua_State *L)
{
    bool ok;
    int c = dt_cmp(L, &ok);
    lua_pushboolean(L, ok && c == 0);
    return 1;
}

static int dt_lt(lua_State *L)
{
    bool ok;
    int c = dt_cmp(L, &ok);
    if (!ok)
        return luaL_error(L, "attempt to compare %s with %s",
                          luaL_typename(L, 1), luaL_typename(L, 2));
    lua_pushboolean(L, c < 0);
    return 1;
}

static int dt_le(lua_State *L)
{
    bool ok;
    int c = dt_cmp(L, &ok);
    if (!ok)
        return luaL_error(L, "attempt to compare %s with %s",
                          luaL_typename(L, 1), luaL_typename(L, 2));
    lua_pushboolean(L, c <= 0);
    return 1;
}

static int dt_shift(lua_State *L, ldt *u, int64_t us)
{
    tdo_datetime r;
    tdo_error err = TDO_ERROR_INIT;
    if (tdo_datetime_add(&u->dt, u->kind, us, &r, &err))
        return ltdo_error(L, &err);
    ltdo_push_datetime(L, &r, u->kind);
    return 1;
}

static int dt_add(lua_State *L)
{
    ldt *u = todt(L, 1);
    int64_t *d = todur(L, 2);
    if (!u) {
        u = todt(L, 2);
        d = todur(L, 1);
    }
    if (!u || !d)
        return luaL_error(L, "attempt to add %s and %s", luaL_typename(L, 1),
                          luaL_typename(L, 2));
    return dt_shift(L, u, *d);
}

static int dt_sub(lua_State *L)
{
    ldt *a = todt(L, 1), *b = todt(L, 2);
    int64_t *d = todur(L, 2);
    if (a && d)
        return dt_shift(L, a, -*d);
    if (a && b && a->kind == b->kind) {
        if (a->kind == TDO_TIME)
            return luaL_error(L, "cannot subtract times");
        ltdo_push_duration(L, tdo_datetime_diff(&a->dt, &b->dt, a->kind));
        return 1;
    }
    return luaL_error(L, "attempt to subtract %s from %s", luaL_typename(L, 2),
                      luaL_typename(L, 1));
}

static lua_Integer optfield(lua_State *L, int t, const char *k, lua_Integer def)
{
    lua_getfield(L, t, k);
    lua_Integer v = lua_isnil(L, -1) ? def : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The parts of a date, time or datetime as given, before checking. */
typedef struct dt_parts {
    lua_Integer y, mo, d, h, mi, s, us, off;
    bool has_off;
} dt_parts;

/* Reads the parts from a table {year=, month=, ..., utcoffset=} at idx. */
static void parts_of_table(lua_State *L, int idx, tdo_type kind, dt_parts *p)
{
    if (kind != TDO_TIME) {
        p->y = optfield(L, idx, "year", -1);
        p->mo = optfield(L, idx, "month", 1);
        p->d = optfield(L, idx, "day", 1);
        if (p->y < 0)
            luaL_argerror(L, idx, "year is required");
    }
    if (kind == TDO_DATE)
        return;
    p->h = optfield(L, idx, "hour", 0);
    p->mi = optfield(L, idx, "minute", 0);
    p->s = optfield(L, idx, "second", 0);
    p->us = optfield(L, idx, "microsecond", 0);
    lua_getfield(L, idx, "utcoffset");
    if (!lua_isnil(L, -1)) {
        int64_t *dur = todur(L, -1);
        p->off = dur ? *dur / 60000000 : luaL_checkinteger(L, -1);
        p->has_off = true;
    }
    lua_pop(L, 1);
}

/* Reads the parts from integer arguments starting at idx. */
static void parts_of_args(lua_State *L, int idx, tdo_type kind, dt_parts *p)
{
    int i = idx;
    if (kind != TDO_TIME) {
        p->y = luaL_checkinteger(L, i++);
        p->mo = luaL_optinteger(L, i++, 1);
        p->d = luaL_optinteger(L, i++, 1);
    }
    if (kind != TDO_DATE) {
        p->h = luaL_optinteger(L, i++, 0);
        p->mi = luaL_optinteger(L, i++, 0);
        p->s = luaL_optinteger(L, i++, 0);
        p->us = luaL_optinteger(L, i++, 0);
    }
}

/* Checks the parts through the parser (ParamsError naming the value) and
 * sets out from them. */
static void parts_to_dt(lua_State *L, const dt_parts *p, tdo_type kind,
                        tdo_datetime *out)
{
    tdo_error err = TDO_ERROR_INIT;
    char text[80];
    if (kind == TDO_DATE)
        snprintf(text, sizeof text, "%04lld-%02lld-%02lld", (long long)p->y,
                 (long long)p->mo, (long long)p->d);
    else if (kind == TDO_TIME)
        snprintf(text, sizeof text, "%02lld:%02lld:%02lld", (long long)p->h,
                 (long long)p->mi, (long long)p->s);
    else
        snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                 (long long)p->y, (long long)p->mo, (long long)p->d,
                 (long long)p->h, (long long)p->mi, (long long)p->s);
    if (p->y > 9999 || p->mo > 99 || p->d > 99 || p->h > 99 || p->mi > 99 ||
        p->s > 99 || p->y < 0 || p->mo < 0 || p->d < 0 || p->h < 0 ||
        p->mi < 0 || p->s < 0 ||
        tdo_datetime_parse(text, strlen(text), kind, out, &err)) {
        tdo_error_release(&err);
        ltdo_raise(L, TDO_ERR_PARAMS, "invalid %s: %s",
                   kind == TDO_DATE   ? "date"
                   : kind == TDO_TIME ? "time"
                                      : "datetime",
                   text);
    }
    if (p->us < 0 || p->us > 999999)
        ltdo_raise(L, TDO_ERR_PARAMS, "microsecond must be in 0..999999");
    out->usec = (int32_t)p->us;
    if (p->has_off) {
        out->has_offset = true;
        out->offset_min = (int16_t)p->off;
    }
}

/* Builds a datetime of kind from the arguments starting at idx: an ISO
 * string, a table {year=, ...}, integers, or another date/time value. */
static void make_dt(lua_State *L, int idx, tdo_type kind, tdo_datetime *out)
{
    memset(out, 0, sizeof *out);
    ldt *u;
    if (lua_type(L, idx) == LUA_TSTRING) {
        tdo_error err = TDO_ERROR_INIT;
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (tdo_datetime_parse(s, len, kind, out, &err))
            ltdo_error(L, &err);
        return;
    }
    if ((u = todt(L, idx)) != NULL) {
        *out = u->dt;
        if (u->kind == TDO_DATE && kind == TDO_TIME)
            luaL_argerror(L, idx, "cannot make a time from a date");
        if (u->kind == TDO_TIME && kind != TDO_TIME)
            luaL_argerror(L, idx, "cannot make a date from a time");
        return;
    }
    dt_parts p = {0};
    if (lua_istable(L, idx))
        parts_of_table(L, idx, kind, &p);
    else
        parts_of_args(L, idx, kind, &p);
    parts_to_dt(L, &p, kind, out);
}

static int dt_call(lua_State *L, tdo_type kind)
{
    tdo_datetime dt;
    make_dt(L, 2, kind, &dt);
    ltdo_push_datetime(L, &dt, kind);
    return 1;
}

static int datetime_call(lua_State *L)
{
    return dt_call(L, TDO_DATETIME);
}
static int date_call(lua_State *L)
{
    return dt_call(L, TDO_DATE);
}
static int time_call(lua_State *L)
{
    return dt_call(L, TDO_TIME);
}

static bool use_tz(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LTDO_CTX);
    lctx *c = luaL_testudata(L, -1, LTDO_CTXMT);
    lua_pop(L, 1);
    return c && c->ctx && tdo_ctx_use_tz(c->ctx);
}

static int datetime_now(lua_State *L)
{
    tdo_datetime dt;
    tdo_datetime_now(use_tz(L), &dt);
    ltdo_push_datetime(L, &dt, TDO_DATETIME);
    return 1;
}

static int datetime_utcnow(lua_State *L)
{
    tdo_datetime dt;
    tdo_datetime_now(true, &dt);
    ltdo_push_datetime(L, &dt, TDO_DATETIME);
    return 1;
}

static int date_today(lua_State *L)
{
    tdo_datetime dt;
    tdo_datetime_now(false, &dt);
    ltdo_push_datetime(L, &dt, TDO_DATE);
    return 1;
}

static const luaL_Reg dt_meth[] = {
    {"isoformat", dt_isoformat}, {"date", dt_date}, {"time", dt_time},
    {"weekday", dt_weekday},     {NULL, NULL},
};

static const luaL_Reg dt_metameth[] = {
    {"__tostring", dt_tostring},
    {"__index", dt_index},
    {"__eq", dt_eq},
    {"__lt", dt_lt},
    {"__le", dt_le},
    {"__add", dt_add},
    {"__sub", dt_sub},
    {"__concat", dec_concat},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* Durations                                                           */
/* ------------------------------------------------------------------ */

void ltdo_push_duration(lua_State *L, int64_t us)
{
    int64_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = us;
    luaL_setmetatable(L, LTDO_DURATION);
}

/* Raises the core's error unless st is TDO_OK. */
static void dur_check(lua_State *L, tdo_status st, tdo_error *err)
{
    if (st != TDO_OK)
        ltdo_error(L, err);
}

/* The microseconds of field k of the table at t (a number of the unit
 * per_us microseconds), added to *acc: exact for integers, rounded for
 * floats; every step checked. */
static void add_part(lua_State *L, int t, const char *k, int64_t per_us,
                     int64_t *acc)
{
    tdo_error err = TDO_ERROR_INIT;
    int64_t us;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_isinteger(L, -1))
        dur_check(L, tdo_duration_mul(lua_tointeger(L, -1), per_us, &us, &err),
                  &err);
    else
        dur_check(L,
                  tdo_duration_from_double(
                      luaL_checknumber(L, -1) * (double)per_us, &us, &err),
                  &err);
    lua_pop(L, 1);
    dur_check(L, tdo_duration_add(*acc, us, acc, &err), &err);
}

/* orm.duration(seconds), orm.duration{ days=, seconds=, ... },
 * orm.duration(d): out of range, NaN and infinities raise ParamsError. */
static int duration_call(lua_State *L)
{
    int64_t us = 0;
    int64_t *d;
    tdo_error err = TDO_ERROR_INIT;
    if (lua_istable(L, 2)) {
        static const struct {
            const char *key;
            int64_t us;
        } parts[] = {
            {"weeks", 7 * 86400000000LL}, {"days", 86400000000LL},
            {"hours", 3600000000LL},      {"minutes", 60000000},
            {"seconds", 1000000},         {"milliseconds", 1000},
            {"microseconds", 1},
        };
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
            add_part(L, 2, parts[i].key, parts[i].us, &us);
    } else if ((d = todur(L, 2)) != NULL) {
        us = *d;
    } else if (lua_isinteger(L, 2)) {
        dur_check(L, tdo_duration_mul(lua_tointeger(L, 2), 1000000, &us, &err),
                  &err);
    } else {
        dur_check(
            L,
            tdo_duration_from_double(luaL_optnumber(L, 2, 0) * 1e6, &us, &err),
            &err);
    }
    ltdo_push_duration(L, us);
    return 1;
}

static int dur_tostring(lua_State *L)
{
    int64_t *u = luaL_checkudata(L, 1, LTDO_DURATION);
    char buf[64];
    size_t n = tdo_duration_format(*u, buf, sizeof buf);
    lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf - 1);
    return 1;
}

static int dur_total_seconds(lua_State *L)
{
    int64_t *u = luaL_checkudata(L, 1, LTDO_DURATION);
    lua_pushnumber(L, (double)*u / 1e6);
    return 1;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int dur_index(lua_State *L)
{
    int64_t us = *(int64_t *)luaL_checkudata(L, 1, LTDO_DURATION);
    const char *k = luaL_checkstring(L, 2);
    int64_t days = floordiv(us, 86400000000LL);
    int64_t rest = us - days * 86400000000LL;
    if (strcmp(k, "days") == 0)
        lua_pushinteger(L, days);
    else if (strcmp(k, "seconds") == 0)
        lua_pushinteger(L, rest / 1000000);
    else if (strcmp(k, "microseconds") == 0)
        lua_pushinteger(L, rest % 1000000);
    else if (strcmp(k, "total_seconds") == 0)
        lua_pushcfunction(L, dur_total_seconds);
    else
        lua_pushnil(L);
    return 1;
}

static int dur_arith(lua_State *L, char op)
{
    int64_t *a = todur(L, 1), *b = todur(L, 2);
    int64_t r;
    tdo_error err = TDO_ERROR_INIT;
    if (op == '+' || op == '-') {
        if (!a || !b) {
            if (op == '+' && (todt(L, 1) || todt(L, 2)))
                return dt_add(L);
            return luaL_error(L, "attempt to combine a duration with a %s",
                              luaL_typename(L, a ? 2 : 1));
        }
        dur_check(L, tdo_duration_add(*a, op == '+' ? *b : -*b, &r, &err),
                  &err);
        ltdo_push_duration(L, r);
        return 1;
    }
    if (op == '*') {
        int64_t *d = a ? a : b;
        int n = a ? 2 : 1;
        if (!d || !lua_isnumber(L, n))
            return luaL_error(L, "a duration multiplies by a number");
        if (lua_isinteger(L, n))
            dur_check(L, tdo_duration_mul(*d, lua_tointeger(L, n), &r, &err),
                      &err);
        else
            dur_check(L, tdo_duration_scale(*d, lua_tonumber(L, n), &r, &err),
                      &err);
        ltdo_push_duration(L, r);
        return 1;
    }
    /* '/' */
    if (a && b) {
        if (*b == 0)
            return luaL_error(L, "division by a zero duration");
        lua_pushnumber(L, (double)*a / (double)*b);
        return 1;
    }
    if (a && lua_isnumber(L, 2)) {
        double n = lua_tonumber(L, 2);
        if (n == 0)
            return luaL_error(L, "division of a duration by zero");
        dur_check(L, tdo_duration_from_double((double)*a / n, &r, &err), &err);
        ltdo_push_duration(L, r);
        return 1;
    }
    return luaL_error(L, "bad operands for duration division");
}

static int dur_add(lua_State *L)
{
    return dur_arith(L, '+');
}
static int dur_sub(lua_State *L)
{
    return dur_arith(L, '-');
}
static int dur_mul(lua_State *L)
{
    return dur_arith(L, '*');
}
static int dur_div(lua_State *L)
{
    return dur_arith(L, '/');
}

static int dur_unm(lua_State *L)
{
    ltdo_push_duration(L, -*(int64_t *)luaL_checkudata(L, 1, LTDO_DURATION));
    return 1;
}

static int dur_eq(lua_State *L)
{
    int64_t *a = todur(L, 1), *b = todur(L, 2);
    lua_pushboolean(L, a && b && *a == *b);
    return 1;
}

static int dur_lt(lua_State *L)
{
    int64_t *a = todur(L, 1), *b = todur(L, 2);
    if (!a || !b)
        return luaL_error(L, "attempt to compare a duration with a %s",
                          luaL_typename(L, a ? 2 : 1));
    lua_pushboolean(L, *a < *b);
    return 1;
}

static int dur_le(lua_State *L)
{
    int64_t *a = todur(L, 1), *b = todur(L, 2);
    if (!a || !b)
        return luaL_error(L, "attempt to compare a duration with a %s",
                          luaL_typename(L, a ? 2 : 1));
    lua_pushboolean(L, *a <= *b);
    return 1;
}

static const luaL_Reg dur_metameth[] = {
    {"__tostring", dur_tostring},
    {"__index", dur_index},
    {"__add", dur_add},
    {"__sub", dur_sub},
    {"__mul", dur_mul},
    {"__div", dur_div},
    {"__unm", dur_unm},
    {"__eq", dur_eq},
    {"__lt", dur_lt},
    {"__le", dur_le},
    {"__concat", dec_concat},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* Conversions                                                         */
/* ------------------------------------------------------------------ */

void ltdo_push_value(lua_State *L, const tdo_value *v)
{
    switch (v->type) {
    case TDO_NULL:
        lua_pushnil(L);
        break;
    case TDO_BOOL:
        lua_pushboolean(L, v->u.b);
        break;
    case TDO_INT:
        lua_pushinteger(L, (lua_Integer)v->u.i);
        break;
    case TDO_DOUBLE:
        lua_pushnumber(L, v->u.d);
        break;
    case TDO_TEXT:
    case TDO_BLOB:
    case TDO_UUID:
        lua_pushlstring(L, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
        break;
    case TDO_JSON:
        ltdo_push_json(L, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
        break;
    case TDO_DECIMAL:
        ltdo_push_decimal(L, &v->u.dec);
        break;
    case TDO_DATE:
    case TDO_TIME:
    case TDO_DATETIME:
        ltdo_push_datetime(L, &v->u.dt, v->type);
        break;
    case TDO_DURATION:
        ltdo_push_duration(L, v->u.us);
        break;
    }
}

bool ltdo_to_value(lua_State *L, int idx, tdo_value *out)
{
    idx = lua_absindex(L, idx);
    size_t len;
    const char *s;
    void *u;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL:
        *out = tdo_value_null();
        return true;
    case LUA_TBOOLEAN:
        *out = tdo_value_bool(lua_toboolean(L, idx));
        return true;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            *out = tdo_value_int(lua_tointeger(L, idx));
        else
            *out = tdo_value_double(lua_tonumber(L, idx));
        return true;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        *out = tdo_value_text(s, len);
        return true;
    case LUA_TUSERDATA:
        if (ltdo_isnull(L, idx)) {
            *out = tdo_value_null();
            return true;
        }
        if ((u = luaL_testudata(L, idx, LTDO_DECIMAL)) != NULL) {
            *out = tdo_value_decimal(u);
            return true;
        }
        if ((u = todt(L, idx)) != NULL) {
            memset(out, 0, sizeof *out);
            out->type = ((ldt *)u)->kind;
            out->u.dt = ((ldt *)u)->dt;
            return true;
        }
        if ((u = todur(L, idx)) != NULL) {
            memset(out, 0, sizeof *out);
            out->type = TDO_DURATION;
            out->u.us = *(int64_t *)u;
            return true;
        }
        return false;
    case LUA_TTABLE:
        if (ltdo_instance_model(L, idx)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "pk");
            lua_gettable(L, idx);
            /* the pk is anchored by the instance table */
            bool ok = lua_type(L, -1) != LUA_TTABLE &&
                      ltdo_to_value(L, lua_gettop(L), out);
            lua_pop(L, 1);
            return ok;
        }
        return false;
    default:
        return false;
    }
}

void ltdo_check_related(lua_State *L, const tdo_field *f,
                        const tdo_model *given)
{
    if (given && f->related_model && given != f->related_model)
        ltdo_raise(L, TDO_ERR_VALIDATION,
                   "Invalid type for relationship field '%s'. Expected model "
                   "type '%s', but got '%s'",
                   f->name, tdo_model_name(f->related_model),
                   tdo_model_name(given));
}

void ltdo_field_input(lua_State *L, int idx, const tdo_field *f, tdo_value *out)
{
    tdo_value in;
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    bool isnull = lua_isnoneornil(L, idx) || ltdo_isnull(L, idx);
    if (f->related_model && lua_type(L, idx) == LUA_TTABLE) {
        ltdo_check_related(L, f, ltdo_instance_model(L, idx));
        lua_settop(L, top);
        if (f->to_target && ltdo_instance_model(L, idx)) {
            /* the key holds the instance's to_field, not its pk */
            lua_getfield(L, idx, f->to_target->name);
            idx = lua_gettop(L); /* anchored by the instance */
            isnull = lua_isnil(L, idx);
        } else {
            lua_settop(L, top);
        }
    }
    if (f->type == TDO_F_JSON && !isnull) {
        if (lua_type(L, idx) == LUA_TSTRING) {
            /* a string is JSON text: check it parses */
            size_t n;
            const char *s = lua_tolstring(L, idx, &n);
            if (!ltdo_json_valid(s, n))
                ltdo_raise(L, TDO_ERR_FIELD, "%s: invalid JSON text: %s",
                           f->name, s);
            lua_pushvalue(L, idx);
        } else {
            ltdo_json_encode(L, idx, false);
        }
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        memset(&in, 0, sizeof in);
        in.type = TDO_JSON;
        in.u.s.ptr = s;
        in.u.s.len = len;
    } else if (!ltdo_to_value(L, idx, &in)) {
        ltdo_raise(L, TDO_ERR_FIELD, "%s: cannot store a %s in a %s", f->name,
                   luaL_typename(L, idx), tdo_field_type_name(f->type));
    } else if (f->type == TDO_F_BINARY && in.type == TDO_TEXT) {
        in = tdo_value_blob(in.u.s.ptr, in.u.s.len);
    }
    *out = in;
}

tdo_value *ltdo_field_value(lua_State *L, int idx, const tdo_field *f,
                            ltdo_vals *vb, bool validate)
{
    tdo_error err = TDO_ERROR_INIT;
    tdo_value in;
    int top = lua_gettop(L);
    ltdo_field_input(L, idx, f, &in);
    tdo_value *slot = ltdo_vals_add(L, vb);
    if (tdo_field_coerce(f, &in, slot, &err))
        ltdo_error(L, &err);
    if (validate && ltdo_validate(L, f, slot, &err))
        ltdo_error(L, &err);
    lua_settop(L, top);
    return slot;
}

/* ------------------------------------------------------------------ */

static void new_kind(lua_State *L, int orm_idx, const char *meta,
                     const char *name, lua_CFunction call,
                     const luaL_Reg *extra)
{
    luaL_newmetatable(L, meta);
    luaL_setfuncs(L, dt_metameth, 0);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_newtable(L); /* the public table: orm.datetime */
    luaL_setfuncs(L, dt_meth, 0);
    if (extra)
        luaL_setfuncs(L, extra, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__methods");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, orm_idx, name);
    lua_pop(L, 1);
}

/* orm.uuid4(): a new random UUID string (UUIDField{default = orm.uuid4}). */
static int l_uuid4(lua_State *L)
{
    char text[37];
    tdo_uuid4(text);
    lua_pushlstring(L, text, 36);
    return 1;
}

void ltdo_open_values(lua_State *L, int orm_idx)
{
    orm_idx = lua_absindex(L, orm_idx);
    lua_pushcfunction(L, l_uuid4);
    lua_setfield(L, orm_idx, "uuid4");
    /* null */
    luaL_newmetatable(L, LTDO_NULL);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    ltdo_push_null(L);
    lua_setfield(L, orm_idx, "null");

    /* Decimal */
    luaL_newmetatable(L, LTDO_DECIMAL);
    luaL_setfuncs(L, dec_metameth, 0);
    lua_pushliteral(L, "Decimal");
    lua_setfield(L, -2, "__name");
    lua_newtable(L);
    luaL_setfuncs(L, dec_meth, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, dec_new);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, orm_idx, "Decimal");

    /* dates and times */
    static const luaL_Reg dtx[] = {
        {"now", datetime_now}, {"utcnow", datetime_utcnow}, {NULL, NULL}};
    static const luaL_Reg dx[] = {{"today", date_today}, {NULL, NULL}};
    new_kind(L, orm_idx, LTDO_DATETIME, "datetime", datetime_call, dtx);
    new_kind(L, orm_idx, LTDO_DATE, "date", date_call, dx);
    new_kind(L, orm_idx, LTDO_TIME, "time", time_call, NULL);

    /* durations */
    luaL_newmetatable(L, LTDO_DURATION);
    luaL_setfuncs(L, dur_metameth, 0);
    lua_pushliteral(L, "duration");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, duration_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, orm_idx, "duration");
}
