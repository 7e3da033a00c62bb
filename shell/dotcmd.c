/*
 * dotcmd.c -- the shell's dot-commands.  One table drives dispatch, .help
 * and completion, as in SQLite's shell.  Each command is a lua_CFunction
 * run protected, with its arguments as strings on the stack, so it may
 * raise: the error prints as one line and the session goes on.
 */
#include "shell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

struct dotcmd {
    const char *name;  /* without the dot */
    lua_CFunction fn;  /* NULL: not implemented yet */
    const char *usage; /* arguments */
    const char *help;  /* one line */
};

static const struct dotcmd commands[];

/* The text after the running command's name, as typed (dispatch()). */
static const char *rest_of_line = "";

/* Raises unless the argument is on/off; returns it. */
static bool on_off(lua_State *L, int i, const char *cmd)
{
    const char *v = luaL_optstring(L, i, "");
    if (strcmp(v, "on") == 0)
        return true;
    if (strcmp(v, "off") == 0)
        return false;
    return luaL_error(L, "usage: .%s on|off", cmd), false;
}

static void say(const char *fmt, const char *arg)
{
    fprintf(shell.out, fmt, arg);
    fputc('\n', shell.out);
    fflush(shell.out);
}

static int cmd_help(lua_State *L)
{
    const char *which = luaL_optstring(L, 1, NULL);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (which != NULL) {
        if (which[0] == '.')
            which++;
        for (const struct dotcmd *c = commands; c->name; c++) {
            if (strcmp(c->name, which) != 0)
                continue;
            lua_pushfstring(L, ".%s%s%s\n    %s%s\n", c->name,
                            c->usage[0] ? " " : "", c->usage, c->help,
                            c->fn ? "" : " (not implemented yet)");
            luaL_addvalue(&b);
            luaL_pushresult(&b);
            shell_page(lua_tostring(L, -1), lua_rawlen(L, -1));
            return 0;
        }
        return luaL_error(L, "no such command '.%s' (see .help)", which);
    }
    int width = 0;
    for (const struct dotcmd *c = commands; c->name; c++) {
        int w = (int)(strlen(c->name) + strlen(c->usage) + 2);
        if (w > width)
            width = w;
    }
    for (const struct dotcmd *c = commands; c->name; c++) {
        char head[128];
        snprintf(head, sizeof head, ".%s%s%s", c->name, c->usage[0] ? " " : "",
                 c->usage);
        lua_pushfstring(L, "%s", head);
        luaL_addvalue(&b);
        for (int k = (int)strlen(head); k < width + 2; k++)
            luaL_addchar(&b, ' ');
        lua_pushfstring(L, "%s%s\n", c->help,
                        c->fn ? "" : " (not implemented yet)");
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, "\nAnything else is Lua; an expression is printed. "
                       "obj:method<...> is obj:method{...}.\n");
    luaL_pushresult(&b);
    shell_page(lua_tostring(L, -1), lua_rawlen(L, -1));
    return 0;
}

static int cmd_models(lua_State *L)
{
    shell_prelude(L, "models_grid");
    lua_call(L, 0, 1);
    shell_output_grid(L, -1);
    return 0;
}

/* Pushes the model named by the string at i, or raises. */
static void push_model(lua_State *L, int i)
{
    const char *name = lua_tostring(L, i);
    shell_prelude(L, "find_model");
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        shell_prelude(L, "model_names");
        lua_call(L, 0, 1);
        luaL_error(L, "no such model '%s' (models: %s)", name,
                   lua_tostring(L, -1));
    }
}

static void schema_one(lua_State *L, int model)
{
    shell_prelude(L, "schema_grid");
    lua_pushvalue(L, model);
    lua_call(L, 1, 3);
    if (shell.format == FMT_TABLE || shell.format == FMT_LINE)
        fprintf(shell.out, "%s\n", lua_tostring(L, -2));
    fflush(shell.out);
    shell_output_grid(L, -3);
    const char *tail = lua_tostring(L, -1);
    if (tail != NULL && tail[0] != '\0' &&
        (shell.format == FMT_TABLE || shell.format == FMT_LINE))
        fprintf(shell.out, "%s\n", tail);
    fflush(shell.out);
    lua_pop(L, 3);
}

static int cmd_schema(lua_State *L)
{
    int n = lua_gettop(L);
    bool sql = false;
    int model = 0;
    for (int i = 1; i <= n; i++) {
        const char *a = lua_tostring(L, i);
        if (strcmp(a, "--sql") == 0)
            sql = true;
        else if (model == 0 && a[0] != '-')
            model = i;
        else
            return luaL_error(L, "usage: .schema [Model] [--sql]");
    }
    if (model != 0) {
        push_model(L, model);
        model = lua_gettop(L);
    }
    if (sql) {
        shell_prelude(L, "schema_sql");
        if (model != 0)
            lua_pushvalue(L, model);
        else
            lua_pushnil(L);
        lua_call(L, 1, 1);
        size_t len;
        const char *text = luaL_tolstring(L, -1, &len);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, text, len);
        if (len == 0 || text[len - 1] != '\n')
            luaL_addchar(&b, '\n');
        luaL_pushresult(&b);
        shell_page(lua_tostring(L, -1), lua_rawlen(L, -1));
        return 0;
    }
    if (model != 0) {
        schema_one(L, model);
        return 0;
    }
    shell_prelude(L, "all_model_list");
    lua_call(L, 0, 1);
    int list = lua_gettop(L);
    lua_Integer count = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= count; i++) {
        if (i > 1)
            fputc('\n', shell.out);
        lua_rawgeti(L, list, i);
        schema_one(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (count == 0)
        say("%s", "(no models)");
    return 0;
}

static int cmd_tables(lua_State *L)
{
    shell_prelude(L, "tables_grid");
    lua_call(L, 0, 1);
    shell_output_grid(L, -1);
    return 0;
}

static int cmd_sql(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        say("sql echo is %s", shell.echo_sql ? "on" : "off");
        return 0;
    }
    shell_set_echo(L, on_off(L, 1, "sql"));
    return 0;
}

static int cmd_timing(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        say("timing is %s", shell.timing ? "on" : "off");
        return 0;
    }
    shell.timing = on_off(L, 1, "timing");
    return 0;
}

static int cmd_mode(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        say("%s", shell_format_name(shell.format));
        return 0;
    }
    const char *name = lua_tostring(L, 1);
    if (!shell_format_parse(name, &shell.format))
        return luaL_error(L,
                          "unknown mode '%s' (table, csv, json, markdown, "
                          "line)",
                          name);
    return 0;
}

static int cmd_limit(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        if (shell.limit > 0)
            fprintf(shell.out, "%ld\n", shell.limit);
        else
            say("%s", "0 (no limit)");
        return 0;
    }
    const char *s = lua_tostring(L, 1);
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || n < 0)
        return luaL_error(L, "usage: .limit N (a number of rows, 0 for all)");
    shell.limit = n;
    return 0;
}

static int cmd_read(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return luaL_error(L, "usage: .read FILE");
    shell_dofile(L, lua_tostring(L, 1)); /* reports its own errors */
    return 0;
}

static int cmd_output(lua_State *L)
{
    if (shell.out != stdout)
        fclose(shell.out);
    shell.out = stdout;
    if (lua_gettop(L) == 0)
        return 0;
    const char *path = lua_tostring(L, 1);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return luaL_error(L, "cannot open %s: %s", path, strerror(errno));
    shell.out = f;
    return 0;
}

static int cmd_open(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return luaL_error(L, "usage: .open URL | .open NAME");
    shell_prelude(L, "open");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isstring(L, -1))
        say("%s", lua_tostring(L, -1));
    shell_export_models(L);
    return 0;
}

/* .explain EXPR: the database's plan for the queryset EXPR evaluates to
 * (its explain()), rendered as a result. */
static int cmd_explain(lua_State *L)
{
    if (lua_gettop(L) == 0)
        return luaL_error(L, "usage: .explain EXPR (a queryset)");
    lua_settop(L, 0);
    shell_eval(L, rest_of_line);
    const char *what = luaL_typename(L, -1);
    bool qs = luaL_getmetafield(L, -1, "__name") == LUA_TSTRING &&
              strcmp(lua_tostring(L, -1), "testudo.QuerySet") == 0;
    if (!qs)
        return luaL_error(L, ".explain takes a queryset (got a %s)", what);
    lua_pop(L, 1);
    lua_getfield(L, -1, "explain");
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    shell_render(L, -1);
    return 0;
}

/* .import FILE.csv Model [--skip-errors]: the prelude's import. */
static int cmd_import(lua_State *L)
{
    const char *args[2] = {NULL, NULL};
    int nargs = 0;
    bool skip = false;
    for (int i = 1; i <= lua_gettop(L); i++) {
        const char *a = lua_tostring(L, i);
        if (strcmp(a, "--skip-errors") == 0)
            skip = true;
        else if (a[0] == '-' && a[1] == '-')
            return luaL_error(L, ".import: unknown option %s", a);
        else if (nargs < 2)
            args[nargs++] = a;
        else
            nargs = 3;
    }
    if (nargs != 2)
        return luaL_error(L, "usage: .import FILE.csv Model [--skip-errors]");
    shell_prelude(L, "import");
    lua_pushstring(L, args[0]);
    lua_pushstring(L, args[1]);
    lua_pushboolean(L, skip);
    lua_call(L, 3, 1);
    say("%s", lua_tostring(L, -1));
    return 0;
}

/* .export Model|EXPR FILE.csv: the last word is the file, what comes
 * before it a model or an expression giving a queryset. */
static int cmd_export(lua_State *L)
{
    int n = lua_gettop(L);
    if (n < 2)
        return luaL_error(L, "usage: .export Model|EXPR FILE.csv");
    size_t len = strlen(rest_of_line);
    while (len > 0 &&
           (rest_of_line[len - 1] == ' ' || rest_of_line[len - 1] == '\t'))
        len--;
    size_t start = len;
    char q = len > 0 ? rest_of_line[len - 1] : 0;
    if (q == '\'' || q == '"') {
        start = len - 1;
        while (start > 0 && rest_of_line[start - 1] != q)
            start--;
        start = start > 0 ? start - 1 : 0;
    } else {
        while (start > 0 && rest_of_line[start - 1] != ' ' &&
               rest_of_line[start - 1] != '\t')
            start--;
    }
    lua_pushlstring(L, rest_of_line, start);
    const char *expr = lua_tostring(L, -1);
    int path = n; /* push_words's last word: the file, unquoted */
    lua_settop(L, n + 1);
    shell_eval(L, expr);
    shell_prelude(L, "export_csv");
    lua_insert(L, -2);
    lua_pushvalue(L, path);
    lua_call(L, 2, 1);
    say("%s", lua_tostring(L, -1));
    return 0;
}

/* .watch N EXPR: evaluates EXPR and renders it every N seconds, under a
 * header with the time, until Ctrl-C (or an error). */
static int cmd_watch(lua_State *L)
{
    char *end = NULL;
    const char *arg = luaL_optstring(L, 1, "");
    double secs = strtod(arg, &end);
    if (lua_gettop(L) < 2 || end == arg || *end || !(secs > 0) || secs > 86400)
        return luaL_error(L, "usage: .watch N EXPR (N seconds, more than 0)");
    const char *expr = rest_of_line + strcspn(rest_of_line, " \t");
    expr += strspn(expr, " \t");
    shell_interrupted(); /* only a Ctrl-C from now on stops it */
    for (;;) {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
        fprintf(shell.out, "Every %gs: %s  (%s)\n\n", secs, expr, when);
        lua_settop(L, 0);
        shell_eval(L, expr);
        shell_render(L, 1);
        fputc('\n', shell.out);
        fflush(shell.out);
        for (double slept = 0; slept < secs; slept += 0.05) {
            if (shell_interrupted())
                return 0;
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
        if (shell_interrupted())
            return 0;
    }
}

/* .edit: the last statement in $EDITOR (or $VISUAL, else vi), then runs
 * what the editor leaves, as if typed. */
static int cmd_edit(lua_State *L)
{
    if (lua_gettop(L) != 0)
        return luaL_error(L, "usage: .edit");
    const char *editor = getenv("VISUAL");
    if (editor == NULL || *editor == '\0')
        editor = getenv("EDITOR");
    if (editor == NULL || *editor == '\0')
        editor = "vi";
    char path[] = "/tmp/testudo-edit-XXXXXX.lua";
    int fd = mkstemps(path, 4);
    if (fd < 0)
        return luaL_error(L, ".edit: cannot make a file: %s", strerror(errno));
    const char *last = shell.last_stmt ? shell.last_stmt : "";
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        return luaL_error(L, ".edit: %s", strerror(errno));
    }
    fprintf(f, "%s\n", last);
    fclose(f);
    lua_pushfstring(L, "%s '%s'", editor, path);
    int rc = system(lua_tostring(L, -1));
    size_t len = 0;
    char *text = rc == 0 ? shell_read_file(path, &len) : NULL;
    unlink(path);
    if (rc != 0)
        return luaL_error(L, ".edit: the editor (%s) failed; nothing run",
                          editor);
    if (text == NULL)
        return luaL_error(L, ".edit: cannot read the file back");
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (len > 0) {
        fprintf(shell.out, "%s\n", text);
        shell_batch(L, text);
    }
    free(text);
    return 0;
}

/* .meter [on|off]: the per-statement query count and time. */
static int cmd_meter(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        say("meter is %s", shell.meter ? "on" : "off");
        return 0;
    }
    shell.meter = on_off(L, 1, "meter");
    return 0;
}

/* .begin, .commit, .rollback: through the prelude (tx_begin, tx_end). */
static int tx_cmd(lua_State *L, const char *cmd, int commit)
{
    if (lua_gettop(L) != 0)
        return luaL_error(L, "usage: .%s", cmd);
    shell_prelude(L, commit < 0 ? "tx_begin" : "tx_end");
    if (commit >= 0)
        lua_pushboolean(L, commit);
    lua_call(L, commit < 0 ? 0 : 1, 1);
    say("%s", lua_tostring(L, -1));
    return 0;
}

static int cmd_begin(lua_State *L)
{
    return tx_cmd(L, "begin", -1);
}

static int cmd_commit(lua_State *L)
{
    return tx_cmd(L, "commit", 1);
}

static int cmd_rollback(lua_State *L)
{
    return tx_cmd(L, "rollback", 0);
}

static int cmd_connections(lua_State *L)
{
    shell_prelude(L, "connections_grid");
    lua_call(L, 0, 1);
    shell_output_grid(L, -1);
    return 0;
}

/* .db inspectdb [--table T ...]: the models of the database in use as
 * Lua source (as `testudo db inspectdb`); the migration commands are not
 * built yet. */
static int cmd_db(lua_State *L)
{
    int n = lua_gettop(L);
    const char *sub = n ? lua_tostring(L, 1) : NULL;
    if (!sub || strcmp(sub, "inspectdb") != 0) {
        /* the migration commands (the prelude's, as `testudo db`) */
        shell_prelude(L, "db_command");
        lua_createtable(L, n ? n : 1, 0);
        for (int i = 1; i <= n; i++) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i);
        }
        if (!n) {
            lua_pushliteral(L, "help");
            lua_rawseti(L, -2, 1);
        }
        lua_call(L, 1, 0);
        return 0;
    }
    lua_createtable(L, n, 0);
    int tables = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        const char *a = lua_tostring(L, i);
        if (strncmp(a, "--table=", 8) == 0) {
            lua_pushstring(L, a + 8);
        } else if (strcmp(a, "--table") == 0 && i < n) {
            lua_pushvalue(L, ++i);
        } else {
            return luaL_error(L, "usage: .db inspectdb [--table T ...]");
        }
        lua_rawseti(L, tables, (lua_Integer)lua_rawlen(L, tables) + 1);
    }
    shell_prelude(L, "inspectdb_here");
    lua_pushvalue(L, tables);
    lua_call(L, 1, 1);
    fputs(lua_tostring(L, -1), shell.out);
    fflush(shell.out);
    return 0;
}

static int cmd_quit(lua_State *L)
{
    (void)L;
    shell.quit = true;
    return 0;
}

static const struct dotcmd commands[] = {
    {"help", cmd_help, "[COMMAND]", "list the commands / explain one"},
    {"models", cmd_models, "", "models with table, row count and field count"},
    {"schema", cmd_schema, "[Model] [--sql]",
     "fields, types, flags and indexes; --sql shows the DDL"},
    {"tables", cmd_tables, "",
     "tables and views of the database, their models; marks tables with "
     "no model and models with no table"},
    {"sql", cmd_sql, "on|off", "echo each statement with its parameters"},
    {"timing", cmd_timing, "on|off", "show how long each statement took"},
    {"mode", cmd_mode, "table|csv|json|markdown|line", "output format"},
    {"limit", cmd_limit, "N", "rows shown before truncation (0: all)"},
    {"output", cmd_output, "[FILE]", "send results to FILE / back to stdout"},
    {"open", cmd_open, "URL|FILE|NAME",
     "open URL (or SQLite FILE) as the default connection, its tables "
     "introspected / use connection NAME"},
    {"connections", cmd_connections, "",
     "list connections: dialect, URL (passwords masked), pool, sessions"},
    {"read", cmd_read, "FILE", "run a Lua file"},
    {"import", cmd_import, "FILE.csv Model [--skip-errors]",
     "load rows from a CSV file (header: field names) in one transaction; "
     "any bad row (listed with its line) writes nothing, unless "
     "--skip-errors"},
    {"export", cmd_export, "Model|EXPR FILE.csv",
     "write a model's rows or a queryset's to a CSV file, streaming"},
    {"explain", cmd_explain, "EXPR", "the database's plan for a queryset"},
    {"begin", cmd_begin, "",
     "begin a transaction on the connection in use (inside one: a "
     "savepoint)"},
    {"commit", cmd_commit, "", "commit the innermost transaction"},
    {"rollback", cmd_rollback, "", "roll the innermost transaction back"},
    {"watch", cmd_watch, "N EXPR",
     "re-run and re-render EXPR every N seconds until Ctrl-C"},
    {"edit", cmd_edit, "", "edit the last statement in $EDITOR, then run it"},
    {"meter", cmd_meter, "[on|off]",
     "after each statement: its query count and time, and N+1 loops"},
    {"db", cmd_db,
     "init|init-db|migrate|upgrade|downgrade|history|heads|inspectdb ...",
     "migrations (after Aerich); inspectdb: the database's models as Lua"},
    {"quit", cmd_quit, "", "exit"},
    {"exit", cmd_quit, "", "exit"},
    {NULL, NULL, NULL, NULL},
};

const char *shell_dotcmd_name(int i)
{
    int n = (int)(sizeof commands / sizeof *commands) - 1;
    return i >= 0 && i < n ? commands[i].name : NULL;
}

/* Splits line into words (quotes '...' and "..." group) pushed as
 * strings; returns their count. */
static int push_words(lua_State *L, const char *line)
{
    int n = 0;
    luaL_Buffer b;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        luaL_checkstack(L, 2, "too many arguments");
        luaL_buffinit(L, &b);
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p != '\0' && *p != q)
                    luaL_addchar(&b, *p++);
                if (*p == q)
                    p++;
            } else {
                luaL_addchar(&b, *p++);
            }
        }
        luaL_pushresult(&b);
        n++;
    }
    return n;
}

/* Protected: finds the command named by the first word and runs it. */
static int dispatch(lua_State *L)
{
    const char *line = lua_touserdata(L, 1);
    lua_settop(L, 0);
    while (*line == ' ' || *line == '\t')
        line++;
    /* what follows the command's name, as typed (an EXPR keeps its quotes) */
    rest_of_line = line + 1 + strcspn(line + 1, " \t");
    rest_of_line += strspn(rest_of_line, " \t");
    int n = push_words(L, line + 1); /* after the dot */
    if (n == 0)
        return luaL_error(L, "empty command (see .help)");
    const char *name = lua_tostring(L, 1);
    for (const struct dotcmd *c = commands; c->name; c++) {
        if (strcmp(c->name, name) != 0)
            continue;
        if (c->fn == NULL)
            return luaL_error(L, ".%s is not implemented yet", name);
        lua_remove(L, 1);
        return c->fn(L);
    }
    return luaL_error(L, "unknown command '.%s' (see .help)", name);
}

void shell_dotcmd(lua_State *L, const char *line)
{
    int top = lua_gettop(L);
    lua_pushcfunction(L, dispatch);
    lua_pushlightuserdata(L, (void *)line);
    if (shell_docall(L, 1, 0) != LUA_OK) {
        shell_report(L);
        if (shell_sigint_pending())
            shell_after_interrupt(L);
    }
    lua_settop(L, top);
    fflush(shell.out);
}
