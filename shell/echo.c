/*
 * echo.c -- --echo-sql and `.sql on`: every statement the ORM runs is
 * printed to stderr as it runs, on one line, with its parameters.  The
 * bindings hand the shell the context's trace hook (ltdo_set_trace); the
 * printing is the shell's.
 */
#include "shell.h"

#include <stdio.h>

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

/* The trace hook: "SQL  -- params: v1, v2" on stderr. */
static void echo_statement(void *ud, const char *conn_name, const char *sql,
                           const tdo_value *params, size_t nparams)
{
    (void)ud;
    (void)conn_name;
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
    ltdo_set_trace(L, on ? echo_statement : NULL, NULL);
    shell.echo_sql = on;
}
