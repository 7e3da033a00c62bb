/*
 * echo.c -- --echo-sql and `.sql on`: every statement the ORM runs is
 * printed to stderr as it runs, on one line, with its parameters.  The
 * bindings hand the shell the context's trace hook (ltdo_set_trace); the
 * printing is the shell's.
 */
#include "shell.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testudo.h"

/* Declared by the bindings (lua_bindings/ltdo.h); linked in. */
void ltdo_set_trace(lua_State *L, tdo_trace_fn fn, void *ud);

/* Appends sql to sb on one line: line breaks and the indentation after
 * them become one space. */
static void one_line(tdo_sb *sb, const char *sql)
{
    bool space = false;
    for (const char *p = sql; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            while (sb->len > 0 && sb->buf[sb->len - 1] == ' ')
                sb->buf[--sb->len] = '\0';
            space = true;
            continue;
        }
        if (space) {
            if (*p == ' ' || *p == '\t')
                continue;
            if (sb->len > 0)
                tdo_sb_addc(sb, ' ');
            space = false;
        }
        tdo_sb_addc(sb, *p);
    }
}

/* ---- the meter: statements run by one REPL statement ---------------- */

#define METER_SLOTS 64

static struct meter {
    unsigned queries;
    struct {
        uint64_t hash;
        unsigned count;
    } slot[METER_SLOTS];
    unsigned top;     /* the most runs of one statement text */
    char top_sql[96]; /* its text, cut */
} meter;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Transaction control is not a query of the meter. */
static bool tx_control(const char *sql)
{
    static const char *const kw[] = {"BEGIN",    "COMMIT",
                                     "ROLLBACK", "SAVEPOINT",
                                     "RELEASE",  "START TRANSACTION",
                                     NULL};
    for (int i = 0; kw[i]; i++)
        if (strncmp(sql, kw[i], strlen(kw[i])) == 0)
            return true;
    return false;
}

static void meter_count(const char *sql)
{
    if (tx_control(sql))
        return;
    meter.queries++;
    uint64_t h = fnv1a(sql);
    for (unsigned i = 0; i < METER_SLOTS; i++) {
        unsigned k = (unsigned)((h + i) % METER_SLOTS);
        if (meter.slot[k].count == 0 || meter.slot[k].hash == h) {
            meter.slot[k].hash = h;
            if (++meter.slot[k].count > meter.top) {
                meter.top = meter.slot[k].count;
                snprintf(meter.top_sql, sizeof meter.top_sql, "%s", sql);
            }
            return;
        }
    }
}

/* Calls the prelude's function name (no arguments); its first result is
 * left on the stack (nil after an error). */
static void prelude_try(lua_State *L, const char *name)
{
    shell_prelude(L, name);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Starts counting for one REPL statement. */
void shell_meter_begin(lua_State *L)
{
    memset(&meter, 0, sizeof meter);
    if (shell.meter && shell.interactive) {
        prelude_try(L, "lazy_reset");
        lua_pop(L, 1);
    }
}

/* After a REPL statement: "3 queries, 12.0 ms" on stderr when it ran
 * queries, and a note when it ran one statement text many times (a loop
 * that loads related rows one at a time: an N+1). */
void shell_meter_end(lua_State *L, double ms)
{
    if (!shell.meter || !shell.interactive || meter.queries == 0)
        return;
    const char *dim = shell_sgr(SGR_DIM, true);
    const char *off = shell_sgr(SGR_RESET, true);
    fprintf(stderr, "%s%u quer%s, %.1f ms%s\n", dim, meter.queries,
            meter.queries == 1 ? "y" : "ies", ms, off);
    if (meter.top >= 10) {
        int top = lua_gettop(L);
        prelude_try(L, "lazy_hint"); /* the relation loaded one at a time */
        if (lua_isstring(L, -1))
            fprintf(stderr, "%sN+1: %s%s\n", dim, lua_tostring(L, -1), off);
        else
            fprintf(stderr,
                    "%sN+1: one query ran %u times (%.60s%s); select_related "
                    "or prefetch_related of the relation the loop reads "
                    "loads them at once%s\n",
                    dim, meter.top, meter.top_sql,
                    strlen(meter.top_sql) > 60 ? "..." : "", off);
        lua_settop(L, top);
    }
    fflush(stderr);
}

/* The trace hook: counts for the meter; with .sql on, "SQL  -- params:
 * v1, v2" on stderr. */
static void echo_statement(void *ud, const char *conn_name, const char *sql,
                           const tdo_value *params, size_t nparams)
{
    (void)ud;
    (void)conn_name;
    meter_count(sql);
    if (!shell.echo_sql)
        return;
    tdo_sb sb = TDO_SB_INIT;
    one_line(&sb, sql);
    if (nparams > 0) {
        tdo_sb_adds(&sb, "  -- params: ");
        for (size_t i = 0; i < nparams; i++) {
            if (i)
                tdo_sb_adds(&sb, ", ");
            tdo_value_format(&sb, &params[i], true);
        }
    }
    fprintf(stderr, "%s\n", sb.buf);
    fflush(stderr);
    tdo_sb_release(&sb);
}

/* Turns the echo of statements on or off. */
void shell_set_echo(lua_State *L, bool on)
{
    ltdo_set_trace(L, echo_statement, NULL); /* the meter counts too */
    shell.echo_sql = on;
}
