/*
 * main.c -- the testudo executable: command line, startup, scripts and
 * -e chunks, after lua.c.
 *
 *   testudo [options] [DB_URL] [SCRIPT [ARGS...]]
 *
 * Startup creates one Lua state, preloads the module "testudo" (linked
 * in), makes `orm` a global, runs orm.init (from --demo, -c FILE,
 * ./testudo.lua, the URL, DATABASE_URL or sqlite://:memory:), makes every
 * model a global, then runs the -e chunks, the script, and the REPL.
 */
#include "shell.h"
#include "sugar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "testudo.h"

/* Declared by the bindings (lua_bindings/ltdo.h); linked in. */
int luaopen_testudo(lua_State *L);
tdo_ctx *ltdo_context(lua_State *L);

/* The embedded examples/shop Lua files (build/gen/shop_embed.c). */
struct tdo_embedded {
    const char *name;
    const char *src;
    size_t len;
};
extern const struct tdo_embedded tdo_shop_sources[];
/* shell/prelude.lua, embedded (build/gen/prelude_embed.c). */
extern const struct tdo_embedded tdo_prelude_sources[];

#define PRELUDE_KEY "testudo.shell"

struct shell shell = {
    .format = FMT_TABLE,
    .limit = 100,
};

/* The command line. */
struct options {
    const char *config; /* -c FILE */
    const char *url;    /* DB_URL */
    char *url_buf;      /* url, when a copy (of a file's path made a URL,
                           or of an argument whose secrets are hidden) */
    int url_arg;        /* argv index of a DB_URL given as is, or 0 */
    const char *format; /* -f FMT */
    const char **exec;  /* -e CHUNKs, in order */
    int nexec;
    int script;          /* argv index of SCRIPT, 0 if none */
    bool interactive;    /* -i */
    bool demo;           /* --demo */
    bool force;          /* --force: --demo may replace existing tables */
    bool echo_sql;       /* --echo-sql */
    bool no_introspect;  /* --no-introspect */
    bool help, version;  /* -h, -V */
    bool inspectdb;      /* testudo db inspectdb */
    int dbcmd;           /* testudo db COMMAND: argv index of COMMAND */
    bool read_only;      /* --read-only */
    bool sandbox;        /* --sandbox */
    bool atomic;         /* --atomic */
    const char **tables; /* its --table names, in order */
    int ntables;
};

static const char *progname = SHELL_PROGNAME;

/* Frees what the parsed command line owns. */
static void options_free(struct options *o)
{
    free(o->exec);
    free(o->tables);
    free(o->url_buf);
}

static const char usage_text[] =
    "usage: testudo [options] [DB_URL] [SCRIPT.lua [ARGS...]]\n"
    "       testudo db COMMAND ...\n"
    "\n"
    "An interactive shell and scripting tool for querying databases through\n"
    "an ORM with the Tortoise ORM / Django queryset API, in Lua 5.4.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE     Lua config file returning an orm.init table\n"
    "                        (default: ./testudo.lua if present)\n"
    "  -e, --execute CHUNK   run a chunk (may repeat), then exit unless -i\n"
    "  -i, --interactive     enter the REPL after -e / SCRIPT\n"
    "      --demo            the example shop models with sample data in an\n"
    "                        in-memory SQLite database, or in DB_URL\n"
    "      --force           let --demo DB_URL replace existing demo tables\n"
    "  -f, --format FMT      table | csv | json | markdown | line\n"
    "                        (default: table on a terminal, csv otherwise)\n"
    "      --echo-sql        print each SQL statement (to stderr) as it runs\n"
    "      --no-introspect   no models for the database's own tables (by\n"
    "                        default every table and view no model covers\n"
    "                        becomes one)\n"
    "      --read-only       refuse writes (the database enforces it)\n"
    "      --sandbox         run the whole session in a transaction rolled\n"
    "                        back at exit\n"
    "      --atomic          run SCRIPT (and -e chunks) in one transaction:\n"
    "                        all or nothing\n"
    "  -y, --yes             do not ask before unfiltered update/delete\n"
    "      --no-color        no colors (also: NO_COLOR)\n"
    "  -q, --quiet           no banner\n"
    "  -h, --help            this help\n"
    "  -V, --version         version of testudo, Lua and SQLite\n"
    "\n"
    "DB_URL: sqlite://PATH (sqlite://:memory:, sqlite:///abs/path.db), or\n"
    "scheme://user:password@host:port/db?minsize=1&maxsize=5 (sslmode,\n"
    "connect_timeout, application_name, charset...); schemes:\n"
    "%s"
    "A path to an SQLite file (or a new one ending in .db, .sqlite,\n"
    ".sqlite3) is a DB_URL too.  Without one: $DATABASE_URL, else\n"
    "sqlite://:memory:.  A DB_URL right after SCRIPT (and none before) is\n"
    "also opened.  SCRIPT - reads a script from stdin; without SCRIPT or\n"
    "-e, statements piped to stdin run as at the prompt (batch mode).\n"
    "\n"
    "Commands:\n"
    "  testudo db inspectdb [--table T ...] [DB_URL]\n"
    "                        print Lua model definitions for the tables and\n"
    "                        views of the database (all, or those named)\n"
    "  testudo db init [--location DIR] [--app APP]\n"
    "                        record the migration settings in the config,\n"
    "                        make the folder\n"
    "  testudo db init-db    the app's tables and the first migration\n"
    "  testudo db migrate [--name N] [--empty] [-y]\n"
    "                        write the next migration from the models'\n"
    "                        changes (renames asked; -y: none)\n"
    "  testudo db upgrade [--fake] [--dry-run]\n"
    "  testudo db downgrade [--version V] [--delete] [--fake] [--dry-run] [-y]\n"
    "  testudo db history | heads\n"
    "\n"
    "In the shell, .help lists the dot-commands.  See testudo(1).\n";

/* Prints --help, with the URL schemes of the core's table: one line per
 * engine, its own name first. */
static void print_usage(void)
{
    char schemes[512];
    size_t n = 0;
    const char *engine = NULL;
    for (size_t i = 0; tdo_url_scheme(i) != NULL && n + 64 < sizeof schemes;
         i++) {
        const char *sc = tdo_url_scheme(i);
        const char *e = tdo_url_engine(sc, strlen(sc));
        const char *sep = ", ";
        if (engine == NULL || e == NULL || strcmp(e, engine) != 0)
            sep = engine == NULL ? "  " : "\n  ";
        n += (size_t)snprintf(schemes + n, sizeof schemes - n, "%s%s://", sep,
                              sc);
        engine = e;
    }
    snprintf(schemes + n, sizeof schemes - n, "\n");
    printf(usage_text, schemes);
}

void shell_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s", shell_sgr(SGR_RED, true));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", shell_sgr(SGR_RESET, true));
    fflush(stderr);
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", progname);
    exit(2);
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */
/* ------------------------------------------------------------------ */

/* True when s starts with scheme:// of a scheme the core knows. */
static bool known_scheme(const char *s)
{
    const char *sep = strstr(s, "://");
    return sep != NULL && tdo_url_engine(s, (size_t)(sep - s)) != NULL;
}

/* True when the file at path begins with the SQLite header. */
static bool sqlite_header(const char *path)
{
    static const char magic[16] = "SQLite format 3";
    char head[sizeof magic];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, magic, sizeof magic) == 0;
}

/* True when path ends in .db, .sqlite or .sqlite3. */
static bool db_suffix(const char *path)
{
    static const char *const suffixes[] = {".db", ".sqlite", ".sqlite3"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(path + n - k, suffixes[i]) == 0)
            return true;
    }
    return false;
}

/* Whether a positional argument names an SQLite database rather than a
 * script: an existing file with the SQLite header (or empty, with a
 * database suffix), or, when allow_new, a path with a database suffix
 * that does not exist yet (*is_new is set). */
static bool db_path(const char *path, bool allow_new, bool *is_new)
{
    struct stat st;
    *is_new = false;
    if (stat(path, &st) != 0) {
        *is_new = allow_new && errno == ENOENT && db_suffix(path);
        return *is_new;
    }
    if (!S_ISREG(st.st_mode))
        return false;
    return sqlite_header(path) || (st.st_size == 0 && db_suffix(path));
}

/* Overwrites the secrets of the URL s (an argument: the caller keeps a
 * copy) with 'x', as the MySQL client does, so that ps and
 * /proc/PID/cmdline never show a password. */
static void hide_secrets(char *s)
{
    size_t spans[8][2];
    size_t n = tdo_url_secrets(s, spans, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        memset(s + spans[i][0], 'x', spans[i][1] - spans[i][0]);
}

/* Returns the malloc'd sqlite:// URL of a file path ('%', '?' and '#'
 * percent-encoded), so that `testudo x.db` is `testudo sqlite://x.db`. */
static char *path_url(const char *path)
{
    size_t n = strlen(path);
    char *url = malloc(sizeof "sqlite://" + 3 * n);
    if (url == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }
    char *o = url + sprintf(url, "sqlite://");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            o += sprintf(o, "%%%02X", (unsigned char)*p);
        else
            *o++ = *p;
    }
    *o = '\0';
    return url;
}

/* True when s looks like scheme://... */
static bool has_scheme(const char *s)
{
    const char *p = s;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        p++;
    return p > s && strncmp(p, "://", 3) == 0;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

/* Returns the value of an option taking one: the rest of the cluster,
 * "--opt=value", or the next argument. */
static const char *opt_value(int argc, char **argv, int *i, const char *rest,
                             const char *name)
{
    if (rest != NULL && rest[0] != '\0')
        return rest;
    if (*i + 1 >= argc)
        die_usage("option '%s' needs an argument", name);
    return argv[++*i];
}

/* strdup, or exit 1 saying memory ran out. */
static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }
    return d;
}

/* Takes the positional argument i as the database when it is one (a URL
 * of a known scheme, or an SQLite file path) and none was given yet;
 * false: it is the SCRIPT. */
static bool take_database(char **argv, int i, struct options *o)
{
    const char *a = argv[i];
    if (o->url != NULL)
        return false;
    if (has_scheme(a)) {
        if (!known_scheme(a))
            die_usage("unsupported database URL '%s'", a);
        o->url = o->url_buf = xstrdup(a);
        o->url_arg = i;
        return true;
    }
    bool is_new;
    if (!db_path(a, true, &is_new))
        return false;
    if (is_new)
        fprintf(stderr,
                "%s: %s does not exist yet: it will be created as an "
                "SQLite database\n",
                progname, a);
    o->url = o->url_buf = path_url(a);
    return true;
}

/* One long option, argv[*i] ("--format=csv" or "--format csv"). */
static void long_option(int argc, char **argv, int *i, struct options *o)
{
    const char *a = argv[*i];
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const char *val = eq ? eq + 1 : NULL;
#define LONG(s) (n == strlen(s) && strncmp(name, s, n) == 0)
    if (LONG("config"))
        o->config = opt_value(argc, argv, i, val, "--config");
    else if (LONG("execute"))
        o->exec[o->nexec++] = opt_value(argc, argv, i, val, "--execute");
    else if (LONG("format"))
        o->format = opt_value(argc, argv, i, val, "--format");
    else if (val != NULL)
        die_usage("option '%s' takes no value", a);
    else if (LONG("interactive"))
        o->interactive = true;
    else if (LONG("demo"))
        o->demo = true;
    else if (LONG("force"))
        o->force = true;
    else if (LONG("echo-sql"))
        o->echo_sql = true;
    else if (LONG("no-introspect"))
        o->no_introspect = true;
    else if (LONG("no-color"))
        shell.no_color = true;
    else if (LONG("quiet"))
        shell.quiet = true;
    else if (LONG("yes"))
        shell.yes = true;
    else if (LONG("help"))
        o->help = true;
    else if (LONG("version"))
        o->version = true;
    else if (LONG("read-only"))
        o->read_only = true;
    else if (LONG("sandbox"))
        o->sandbox = true;
    else if (LONG("atomic"))
        o->atomic = true;
    else
        die_usage("unknown option '%s'", a);
#undef LONG
}

/* A cluster of short options, argv[*i]: -iq, -e CHUNK, -eCHUNK. */
static void short_options(int argc, char **argv, int *i, struct options *o)
{
    const char *a = argv[*i];
    for (const char *p = a + 1; *p != '\0'; p++) {
        char opt[3] = {'-', *p, '\0'};
        switch (*p) {
        case 'c':
            o->config = opt_value(argc, argv, i, p + 1, opt);
            return;
        case 'e':
            o->exec[o->nexec++] = opt_value(argc, argv, i, p + 1, opt);
            return;
        case 'f':
            o->format = opt_value(argc, argv, i, p + 1, opt);
            return;
        case 'i':
            o->interactive = true;
            break;
        case 'q':
            shell.quiet = true;
            break;
        case 'y':
            shell.yes = true;
            break;
        case 'h':
            o->help = true;
            break;
        case 'V':
            o->version = true;
            break;
        default:
            die_usage("unknown option '%s'", opt);
        }
    }
}

/* `testudo job.lua sqlite:///tmp/x.db`: with no DB_URL before SCRIPT, a
 * first script argument that is a database URL also opens it (the script
 * still sees it as arg[1]). */
static void database_after_script(int argc, char **argv, struct options *o)
{
    bool is_new;
    if (o->url != NULL || o->script <= 0 || o->script + 1 >= argc)
        return;
    const char *next = argv[o->script + 1];
    if (known_scheme(next)) {
        o->url = o->url_buf = xstrdup(next);
        o->url_arg = o->script + 1;
    } else if (db_path(next, false, &is_new)) {
        o->url = o->url_buf = path_url(next);
    }
}

/* `testudo db inspectdb [--table T ...] [DB_URL]`: the arguments from
 * argv[i] on (exits 2 on a usage error). */
static void inspectdb_args(int argc, char **argv, int i, struct options *o)
{
    o->inspectdb = true;
    o->tables = calloc((size_t)argc, sizeof(char *));
    if (o->tables == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--table=", 8) == 0)
            o->tables[o->ntables++] = a + 8;
        else if (strcmp(a, "--table") == 0)
            o->tables[o->ntables++] = opt_value(argc, argv, &i, NULL, a);
        else if (a[0] == '-')
            die_usage("inspectdb: unknown option '%s' (usage: testudo db "
                      "inspectdb [--table T ...] [DB_URL])",
                      a);
        else if (o->url != NULL || !take_database(argv, i, o))
            die_usage("inspectdb: unexpected argument '%s' (usage: testudo "
                      "db inspectdb [--table T ...] [DB_URL])",
                      a);
    }
}

/* Reads the command line into o (exits 2 on a usage error). */
static void parse_args(int argc, char **argv, struct options *o)
{
    o->exec = calloc((size_t)argc, sizeof(char *));
    if (o->exec == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (take_database(argv, i, o))
                continue;
            break; /* SCRIPT */
        }
        if (a[1] == '-')
            long_option(argc, argv, &i, o);
        else
            short_options(argc, argv, &i, o);
    }
    if (i < argc)
        o->script = i;
    if (o->script > 0 && strcmp(argv[o->script], "db") == 0 &&
        o->script + 1 < argc && strcmp(argv[o->script + 1], "inspectdb") == 0)
        inspectdb_args(argc, argv, o->script + 2, o);
    else if (o->script > 0 && strcmp(argv[o->script], "db") == 0)
        o->dbcmd = o->script + 1; /* the migration commands */
    else
        database_after_script(argc, argv, o);
}

/* ------------------------------------------------------------------ */
/* Loading and running Lua                                             */
/* ------------------------------------------------------------------ */

char *shell_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (buf == NULL) {
        errno = saved;
        return NULL;
    }
    buf[n] = '\0';
    /* A first line starting with '#' (#!/usr/bin/env testudo) is skipped
     * as lua does; keep its newline so line numbers stay right. */
    if (n > 0 && buf[0] == '#') {
        size_t j = 0;
        while (j < n && buf[j] != '\n')
            j++;
        memmove(buf, buf + j, n - j + 1);
        n -= j;
    }
    *len = n;
    return buf;
}

int shell_load(lua_State *L, const char *text, size_t len, const char *name)
{
    size_t n = 0;
    char *code = shell_sugar_rewrite(text, len, &n);
    if (code == NULL) {
        lua_pushliteral(L, "not enough memory");
        return LUA_ERRMEM;
    }
    int status = luaL_loadbuffer(L, code, n, name);
    free(code);
    return status;
}

/* Pushes msg with every run of white space that holds a line break
 * folded into one space, so a multi-line server message stays one line. */
static const char *one_line(lua_State *L, const char *msg)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *p = msg; *p;) {
        const char *q = p;
        bool newline = false;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            newline |= (*q == '\n' || *q == '\r'), q++;
        if (q != p && newline) {
            if (p != msg && *q)
                luaL_addchar(&b, ' ');
            p = q;
        } else if (q != p) {
            luaL_addlstring(&b, p, (size_t)(q - p));
            p = q;
        } else {
            luaL_addchar(&b, *p++);
        }
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Lua error objects become one line: tostring(err), and the SQL when
 * the statements are echoed. */
static int msghandler(lua_State *L)
{
    const char *msg = NULL;
    if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
        msg = lua_tostring(L, 1);
    } else if (luaL_callmeta(L, 1, "__tostring") &&
               lua_type(L, -1) == LUA_TSTRING) {
        msg = lua_tostring(L, -1);
    } else {
        msg = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
    }
    if (lua_type(L, 1) == LUA_TTABLE)
        msg = one_line(L, msg);
    if (shell.echo_sql && lua_type(L, 1) == LUA_TTABLE) {
        lua_pushstring(L, "sql");
        lua_rawget(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushfstring(L, "%s\n  SQL: %s", msg, lua_tostring(L, -1));
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pushstring(L, msg);
    return 1;
}

int shell_docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    shell_set_running(L);
    int status = lua_pcall(L, narg, nres, base);
    shell_set_running(NULL);
    lua_remove(L, base);
    return status;
}

void shell_report(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL)
        msg = "(error object is not a string)";
    shell_error("%s", msg);
    lua_pop(L, 1);
    shell.errors++;
}

/* Loads the file at path ("-": stdin) as a chunk: LUA_OK with the
 * function pushed, or the error reported. */
static int load_file(lua_State *L, const char *path)
{
    size_t len = 0;
    char *text = shell_read_file(path, &len);
    if (text == NULL) {
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        shell_report(L);
        return LUA_ERRFILE;
    }
    const char *name = strcmp(path, "-") == 0 ? lua_pushliteral(L, "=stdin")
                                              : lua_pushfstring(L, "@%s", path);
    int status = shell_load(L, text, len, name);
    free(text);
    lua_remove(L, -2);
    if (status != LUA_OK)
        shell_report(L);
    return status;
}

int shell_dofile(lua_State *L, const char *path)
{
    int status = load_file(L, path);
    if (status != LUA_OK)
        return status;
    status = shell_docall(L, 0, 0);
    if (status != LUA_OK)
        shell_report(L);
    return status;
}

void shell_prelude(lua_State *L, const char *fn)
{
    lua_getfield(L, LUA_REGISTRYINDEX, PRELUDE_KEY);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
}

static int export_models(lua_State *L)
{
    shell_prelude(L, "export");
    lua_call(L, 0, 0);
    return 0;
}

void shell_export_models(lua_State *L)
{
    lua_pushcfunction(L, export_models);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        lua_pop(L, 1); /* nothing useful to say: best effort */
}

/* ------------------------------------------------------------------ */
/* Startup                                                             */
/* ------------------------------------------------------------------ */

static const struct tdo_embedded *shop_source(const char *name)
{
    for (const struct tdo_embedded *e = tdo_shop_sources; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Loads an embedded shop file; raises when it is missing or bad. */
static void load_shop(lua_State *L, const char *name)
{
    const struct tdo_embedded *e = shop_source(name);
    if (e == NULL)
        luaL_error(L, "the demo file examples/shop/%s.lua is not built in",
                   name);
    const char *chunk = lua_pushfstring(L, "@examples/shop/%s.lua", name);
    int status = shell_load(L, e->src, e->len, chunk);
    lua_remove(L, -2);
    if (status != LUA_OK)
        lua_error(L);
}

/* Protected: require "testudo" as the global orm, load the prelude. */
static int boot(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_testudo);
    lua_setfield(L, -2, "testudo");
    lua_pop(L, 1);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "testudo");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "orm");

    const struct tdo_embedded *prelude = &tdo_prelude_sources[0];
    if (luaL_loadbuffer(L, prelude->src, prelude->len, "=prelude") != LUA_OK)
        lua_error(L);
    lua_call(L, 0, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, PRELUDE_KEY);
    shell_csv_setup(L, -1);
    lua_getfield(L, -1, "setup");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    return 0;
}

/* Protected: orm.init from (url, config, demo, force, introspect),
 * connected, the database introspected. */
static int init_orm(lua_State *L)
{
    if (lua_toboolean(L, 3)) {
        luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
        load_shop(L, "models");
        lua_setfield(L, -2, "shop.models");
        lua_pop(L, 1);
    }
    shell_prelude(L, "init");
    for (int i = 1; i <= 5; i++)
        lua_pushvalue(L, i);
    lua_call(L, 5, 0);
    return 0;
}

/* Builds the global `arg` as lua does: arg[0] the script (or program),
 * the script's arguments at 1.., the rest at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, char **argv, int argc, int script)
{
    int status = load_file(L, argv[script]);
    if (status != LUA_OK)
        return status;
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many script arguments");
    for (int i = script + 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    status = shell_docall(L, n, 0);
    if (status != LUA_OK)
        shell_report(L);
    return status;
}

static int print_version(void)
{
    printf("testudo %s (%s, SQLite %s)\n", SHELL_VERSION, LUA_RELEASE,
           tdo_sqlite_version());
    return 0;
}

/* --help, --version and `testudo db`: the exit status, or -1 to go on. */
static int early_exit(const struct options *o, char **argv)
{
    if (o->help) {
        print_usage();
        return 0;
    }
    if (o->version)
        return print_version();
    return -1;
}

/* The configuration (-c FILE, else ./testudo.lua, not with --demo) and
 * the database URL (the command line's, else DATABASE_URL when there is
 * no configuration): 0, or 2 after saying what is wrong. */
static int choose_database(const struct options *o, const char **config,
                           const char **url)
{
    struct stat st;
    *config = o->config;
    if (*config == NULL && !o->demo && stat("testudo.lua", &st) == 0 &&
        S_ISREG(st.st_mode))
        *config = "testudo.lua";
    if (o->config != NULL && access(o->config, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read config file '%s': %s\n", progname,
                o->config, strerror(errno));
        return 2;
    }
    *url = o->url;
    const char *env = getenv("DATABASE_URL");
    if (*url == NULL && *config == NULL && env != NULL && env[0] != '\0') {
        if (!known_scheme(env)) {
            fprintf(stderr,
                    "%s: unsupported database URL in DATABASE_URL: '%s'\n",
                    progname, env);
            return 2;
        }
        *url = env;
    }
    return 0;
}

/* Runs the demo's seed script (its models exported as globals first). */
static int seed_demo(lua_State *L)
{
    lua_pushcfunction(L, export_models); /* seed may use the globals */
    lua_call(L, 0, 0);
    const struct tdo_embedded *e = shop_source("seed");
    if (e == NULL)
        return LUA_OK;
    int st = shell_load(L, e->src, e->len, "@examples/shop/seed.lua");
    if (st == LUA_OK)
        st = shell_docall(L, 0, 0);
    return st;
}

/* Boots the Lua state, connects (init_orm), turns --echo-sql on and
 * seeds the demo: 0, or the exit status after reporting the error (2:
 * no connection). */
static int start_session(lua_State *L, const struct options *o, const char *url,
                         const char *config)
{
    lua_pushcfunction(L, boot);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    lua_pushcfunction(L, init_orm);
    if (url)
        lua_pushstring(L, url);
    else
        lua_pushnil(L);
    if (config)
        lua_pushstring(L, config);
    else
        lua_pushnil(L);
    lua_pushboolean(L, o->demo);
    lua_pushboolean(L, o->force);
    lua_pushboolean(L, !o->no_introspect);
    if (shell_docall(L, 5, 0) != LUA_OK) {
        shell_report(L);
        return 2;
    }
    shell_set_echo(L, o->echo_sql); /* the trace hook also feeds .meter */
    if (o->demo && seed_demo(L) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    return 0;
}

/* Calls the prelude's function name with one boolean; false when it
 * raised (reported). */
static bool prelude_call(lua_State *L, const char *name, int arg)
{
    shell_prelude(L, name);
    if (arg >= 0)
        lua_pushboolean(L, arg);
    if (shell_docall(L, arg >= 0 ? 1 : 0, 0) != LUA_OK) {
        shell_report(L);
        return false;
    }
    return true;
}

/* --read-only, --sandbox, --atomic: set up before the user's code runs;
 * the exit status (2 when one cannot be set up). */
static int session_modes(lua_State *L, const struct options *o)
{
    if (o->atomic && o->script == 0 && o->nexec == 0)
        die_usage("%s runs a SCRIPT or -e chunks in one transaction: give "
                  "one",
                  "--atomic");
    if (o->atomic && o->sandbox)
        die_usage("%s and --sandbox cannot go together", "--atomic");
    if (o->read_only && !prelude_call(L, "set_read_only", -1))
        return 2;
    if ((o->sandbox || o->atomic) &&
        !prelude_call(L, "wrap_begin", o->sandbox ? 1 : 0))
        return 2;
    return 0;
}

/* The end of --sandbox (everything rolled back) and --atomic (committed
 * after success, rolled back after an error: status 1); the status. */
static int end_modes(lua_State *L, const struct options *o, int status)
{
    if (o->sandbox)
        prelude_call(L, "wrap_end", 0);
    if (o->atomic && !prelude_call(L, "wrap_end", status == 0) && status == 0)
        status = 1;
    return status;
}

/* Runs what the user asked for: each -e chunk, the SCRIPT, then the REPL
 * (no SCRIPT and no -e, or -i); the exit status. */
static int run_user_code(lua_State *L, const struct options *o, char **argv,
                         int argc)
{
    shell_export_models(L);
    create_arg_table(L, argv, argc, o->script);
    if (o->url_arg > 0 && o->url_arg > o->script && o->script > 0)
        hide_secrets(argv[o->url_arg]); /* the script's arg[1] keeps it */
    shell_prelude(L, "strict");         /* from here on, user code runs */
    lua_call(L, 0, 0);
    /* a script stopped by Ctrl-C exits as one killed by SIGINT would */
    for (int i = 0; i < o->nexec; i++)
        if (shell_batch(L, o->exec[i]) != 0)
            return shell_interrupted() ? 130 : 1;
    if (o->script > 0) {
        if (run_script(L, argv, argc, o->script) != LUA_OK)
            return shell_interrupted() ? 130 : 1;
        shell_export_models(L);
    }
    /* With no SCRIPT and no -e, the REPL reads the terminal, or the
     * statements of a piped stdin (batch mode); `testudo -` runs stdin
     * as a plain script. */
    if (o->interactive || (o->script == 0 && o->nexec == 0))
        return shell_repl(L);
    return 0;
}

/* Protected: prints the prelude's inspectdb source for the tables of
 * the options at 1 (a light userdata). */
static int inspectdb(lua_State *L)
{
    const struct options *o = lua_touserdata(L, 1);
    shell_prelude(L, "inspectdb_here"); /* as .db inspectdb does */
    lua_createtable(L, o->ntables, 0);
    for (int i = 0; i < o->ntables; i++) {
        lua_pushstring(L, o->tables[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 1, 1);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    fwrite(src, 1, len, stdout);
    return 0;
}

/* Protected: runs the prelude's db_command with the arguments of
 * `testudo db` (a light userdata: argv from the command, NULL-ended). */
static int dbcommand(lua_State *L)
{
    char **args = lua_touserdata(L, 1);
    shell_prelude(L, "db_command");
    lua_newtable(L);
    for (int i = 0; args[i]; i++) {
        lua_pushstring(L, args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 1, 0);
    return 0;
}

/* testudo db COMMAND ...: the exit status (1 when it fails). */
static int run_dbcommand(lua_State *L, char **args)
{
    lua_pushcfunction(L, dbcommand);
    lua_pushlightuserdata(L, args);
    if (shell_docall(L, 1, 0) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    return 0;
}

/* testudo db inspectdb: the exit status. */
static int run_inspectdb(lua_State *L, const struct options *o)
{
    lua_pushcfunction(L, inspectdb);
    lua_pushlightuserdata(L, (void *)o);
    if (shell_docall(L, 1, 0) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    parse_args(argc, argv, &o);
    if (o.url_arg > 0 && (o.script == 0 || o.url_arg < o.script || o.inspectdb))
        hide_secrets(argv[o.url_arg]); /* o.url is a copy */
    const char *config = NULL, *url = NULL;
    int status = early_exit(&o, argv);
    if (status < 0) {
        if (o.format != NULL && !shell_format_parse(o.format, &shell.format))
            die_usage("unknown format '%s' (table, csv, json, markdown, "
                      "line)",
                      o.format);
        if (o.format == NULL)
            shell.format = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_CSV;
        status = choose_database(&o, &config, &url);
    }
    if (status == 0 && o.inspectdb) {
        /* every table: no config's models, no default database */
        if (o.config == NULL && o.url == NULL && config != NULL)
            url = getenv("DATABASE_URL");
        config = NULL;
        if (url == NULL || url[0] == '\0') {
            fprintf(stderr,
                    "%s: inspectdb: which database? Give a DB_URL (or "
                    "DATABASE_URL)\n",
                    progname);
            status = 2;
        }
    }
    if (status != 0) {
        options_free(&o);
        return status;
    }
    shell_term_init();
    shell.out = stdout;
    shell.meter = true; /* SHELL.md: on unless .meter off */
    shell.demo = o.demo;

    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create the Lua state\n", progname);
        options_free(&o);
        return 1;
    }
    shell.L = L;
    shell_signals_init();
    status = start_session(L, &o, url, config);
    shell_set_ctx(ltdo_context(L));
    if (status == 0 && !o.inspectdb && !o.dbcmd)
        status = session_modes(L, &o);
    if (status == 0 && o.inspectdb)
        status = run_inspectdb(L, &o);
    else if (status == 0 && o.dbcmd > 0)
        status = o.dbcmd < argc ? run_dbcommand(L, argv + o.dbcmd)
                                : (fprintf(stderr,
                                           "%s: usage: testudo db COMMAND "
                                           "(init, init-db, migrate, upgrade, "
                                           "downgrade, history, heads, "
                                           "inspectdb)\n",
                                           progname),
                                   2);
    else if (status == 0) {
        status = run_user_code(L, &o, argv, argc);
        status = end_modes(L, &o, status);
    }

    fflush(stdout);
    if (shell.out != NULL && shell.out != stdout)
        fclose(shell.out);
    shell_set_ctx(NULL);
    lua_close(L);
    free(shell.last_stmt);
    options_free(&o);
    return status;
}
