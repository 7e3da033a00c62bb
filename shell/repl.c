/*
 * repl.c -- the read-eval-print loop, after lua.c: read a line, try
 * `return <line>` for auto-print, detect `<eof>` for continuation, call
 * under a message handler, render the results.
 *
 * Input comes through one shell_readline(): GNU readline's callback
 * interface on a terminal (so Ctrl-C at the prompt can clear the line),
 * plain getline() otherwise (pipes), so pty and pipe tests drive the same
 * loop.  Chunks run with a REPL environment in which top-level locals
 * persist from one input to the next (see shell_sugar_locals()).
 */
#include "shell.h"
#include "sugar.h"
#include "testudo.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>

#define EOFMARK     "<eof>"
#define HISTORY_MAX 1000

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t sigint_seen; /* Ctrl-C since last check */
static volatile sig_atomic_t sigwinch_seen;
static volatile sig_atomic_t hook_armed; /* lstop set on running */
static volatile sig_atomic_t in_repl;    /* an interactive session */
static lua_State *volatile running;      /* Lua code is running */
static int running_depth;

/* The hook armed by SIGINT: raises "interrupted" in the running code. */
static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    lua_pushliteral(L, "interrupted");
    lua_error(L);
}

static tdo_ctx *volatile sig_ctx; /* whose statements Ctrl-C cancels */

void shell_set_ctx(tdo_ctx *ctx)
{
    sig_ctx = ctx;
}

/* Ctrl-C while Lua code runs: the running statements are cancelled on
 * their servers (each backend's cancel is async-signal-safe) and a hook
 * stops the Lua code at its next instruction; a second Ctrl-C cancels
 * again but never kills the REPL. */
static void on_sigint(int sig)
{
    sigint_seen = 1;
    lua_State *L = running;
    if (L != NULL && sig_ctx != NULL)
        tdo_ctx_interrupt(sig_ctx);
    if (L != NULL && !hook_armed) {
        hook_armed = 1;
        lua_sethook(L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
        return;
    }
    if (in_repl)
        return; /* at the prompt, or while rendering: just the flag */
    /* A script that does not stop (or a second Ctrl-C): die as usual. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_sigwinch(int sig)
{
    (void)sig;
    sigwinch_seen = 1;
}

void shell_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sigint; /* no SA_RESTART: select() sees EINTR */
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_sigwinch;
    sigaction(SIGWINCH, &sa, NULL);
}

bool shell_interrupted(void)
{
    bool was = sigint_seen != 0;
    sigint_seen = 0;
    return was;
}

bool shell_sigint_pending(void)
{
    return sigint_seen != 0;
}

void shell_set_running(lua_State *L)
{
    static lua_State *armed_on;
    if (L != NULL) {
        if (running_depth++ == 0) {
            armed_on = L;
            hook_armed = 0;
            sigint_seen = 0;
            running = L;
        }
        return;
    }
    if (running_depth == 0 || --running_depth > 0)
        return;
    running = NULL;
    if (hook_armed && armed_on != NULL)
        lua_sethook(armed_on, NULL, 0, 0);
    hook_armed = 0;
    armed_on = NULL;
}

/* ------------------------------------------------------------------ */
/* Reading lines                                                       */
/* ------------------------------------------------------------------ */

static char *rl_result;
static bool line_done;
static bool line_cancelled;

static void on_line(char *line)
{
    rl_result = line;
    line_done = true;
    rl_callback_handler_remove();
}

static char *read_plain(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* The text of a -e chunk being run, read line by line (NULL: none). */
static const char *text_src;
static size_t text_pos, text_len;

/* Returns a malloc'd copy of the next line of text_src, NULL at its end. */
static char *read_text(void)
{
    if (text_pos >= text_len)
        return NULL;
    const char *s = text_src + text_pos;
    const char *nl = memchr(s, '\n', text_len - text_pos);
    size_t n = nl ? (size_t)(nl - s) : text_len - text_pos;
    text_pos += n + (nl != NULL);
    if (n > 0 && s[n - 1] == '\r')
        n--;
    char *line = malloc(n + 1);
    if (line != NULL) {
        memcpy(line, s, n);
        line[n] = '\0';
    }
    return line;
}

char *shell_readline(const char *prompt)
{
    line_cancelled = false;
    if (text_src != NULL)
        return read_text();
    if (!shell.interactive)
        return read_plain();
    line_done = false;
    rl_result = NULL;
    sigint_seen = 0;
    /* SIGINT and SIGWINCH are blocked except inside pselect(), so they
     * are never missed between a check and the wait. */
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &orig);
    rl_callback_handler_install(prompt, on_line);
    while (!line_done) {
        if (sigwinch_seen) {
            sigwinch_seen = 0;
            rl_resize_terminal();
        }
        if (sigint_seen) {
            /* Ctrl-C: drop the line (and any statement in progress) */
            sigint_seen = 0;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_callback_handler_remove();
            FILE *out = rl_outstream ? rl_outstream : stdout;
            fputc('\n', out);
            fflush(out);
            line_cancelled = true;
            sigprocmask(SIG_SETMASK, &orig, NULL);
            return strdup("");
        }
        int fd = fileno(rl_instream ? rl_instream : stdin);
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &orig);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rl_callback_handler_remove();
            break;
        }
        rl_callback_read_char();
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return rl_result;
}

/* ------------------------------------------------------------------ */
/* History                                                             */
/* ------------------------------------------------------------------ */

/* The history file holds one entry a line, as psql's does: a newline
 * inside an entry (a multi-line statement) is written as this byte. */
#define HIST_NL '\001'

static char *history_path;

/* Whether a line of the file is a timestamp line of readline's own
 * format (`#1733270000`), which older versions wrote: skipped. */
static bool timestamp_line(const char *s)
{
    if (s[0] != '#' || s[1] == '\0')
        return false;
    for (s++; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Reads the entries of the history file into a malloc'd array of n
 * malloc'd strings, decoded (NULL when there is no file). */
static char **history_read(size_t *n)
{
    *n = 0;
    FILE *f = fopen(history_path, "r");
    if (f == NULL)
        return NULL;
    char **list = NULL;
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || timestamp_line(line))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **nl = realloc(list, ncap * sizeof *nl);
            if (nl == NULL)
                break;
            list = nl;
            cap = ncap;
        }
        for (char *p = line; *p; p++)
            if (*p == HIST_NL)
                *p = '\n';
        if ((list[*n] = strdup(line)) == NULL)
            break;
        (*n)++;
    }
    free(line);
    fclose(f);
    return list;
}

/* Frees what history_read returned. */
static void history_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Writes entry to f as one line (its newlines as HIST_NL). */
static void history_put(FILE *f, const char *entry)
{
    for (const char *p = entry; *p; p++)
        fputc(*p == '\n' ? HIST_NL : *p, f);
    fputc('\n', f);
}

/* Finds the history file and loads its entries into readline's list. */
static void history_init(void)
{
    const char *p = getenv("TESTUDO_HISTORY");
    if (p != NULL) {
        if (p[0] == '\0')
            return; /* TESTUDO_HISTORY= turns the history file off */
        history_path = strdup(p);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            return;
        size_t n = strlen(home) + sizeof "/.testudo_history";
        history_path = malloc(n);
        if (history_path != NULL)
            snprintf(history_path, n, "%s/.testudo_history", home);
    }
    using_history();
    if (history_path == NULL)
        return;
    size_t n;
    char **list = history_read(&n);
    for (size_t i = 0; i < n; i++)
        add_history(list[i]);
    history_free(list, n);
}

/* Whether s holds only blanks (such an entry is not kept). */
static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Appends to sb the text from p up to the end of a secret value (a
 * quoted string, or a bare word up to & ; , ) } space) replaced by ***;
 * returns where the value ends. */
static const char *mask_value(luaL_Buffer *b, const char *p)
{
    if (*p == '"' || *p == '\'') {
        char q = *p;
        const char *e = p + 1;
        while (*e && *e != q) {
            if (*e == '\\' && e[1])
                e++;
            e++;
        }
        luaL_addchar(b, q);
        luaL_addstring(b, "***");
        if (*e == q) {
            luaL_addchar(b, q);
            e++;
        }
        return e;
    }
    const char *e = p + strcspn(p, "&;,)}] \t\n\r'\"");
    if (e > p)
        luaL_addstring(b, "***");
    return e;
}

/* Where the URL whose "://" is at sep ends in entry: at the closing
 * quote of the string it opens (backslash escapes skipped), else at the
 * first blank after its last '@' (a password may hold anything). */
static const char *url_end(const char *entry, const char *start,
                           const char *sep)
{
    char q = start > entry ? start[-1] : '\0';
    if (q == '"' || q == '\'') {
        const char *e = sep;
        while (*e && *e != q && *e != '\n')
            e += (*e == '\\' && e[1]) ? 2 : 1;
        return e;
    }
    const char *from = sep;
    for (const char *a = sep; *a && *a != '\n'; a++)
        if (*a == '@')
            from = a;
    return from + strcspn(from, " \t\r\n");
}

/* Appends to b the URL around the "://" at sep, masked by the core's one
 * masker (its scheme is already in b); returns where the URL ends. */
static const char *mask_url_at(luaL_Buffer *b, const char *entry,
                               const char *sep)
{
    const char *start = sep;
    while (start > entry &&
           (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
            start[-1] == '-' || start[-1] == '.'))
        start--;
    const char *end = url_end(entry, start, sep);
    char *url = strndup(start, (size_t)(end - start));
    char *masked = url ? tdo_url_mask(url) : NULL;
    if (masked != NULL) /* the scheme is in b already */
        luaL_addstring(b, masked + (sep - start));
    else
        luaL_addstring(b, "://***");
    free(url);
    free(masked);
    return end;
}

/* Pushes entry with every password masked as ***: the secrets of a URL
 * (through the core's masker), and the value of a password key
 * (password = "x", password: 'x', ?password=x), so that the history file
 * never holds one. */
static const char *mask_secrets(lua_State *L, const char *entry)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *p = entry;
    while (*p) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            p = mask_url_at(&b, entry, p);
            continue;
        }
        if ((strncasecmp(p, "password", 8) == 0 ||
             strncasecmp(p, "passwd", 6) == 0) &&
            (p == entry || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            size_t klen = strncasecmp(p, "password", 8) == 0 ? 8 : 6;
            const char *q = p + klen;
            while (*q == ' ' || *q == '\t' || *q == '"' || *q == '\'' ||
                   *q == ']')
                q++;
            if (*q == '=' || *q == ':') {
                q++;
                if (*q == '=') { /* == is a comparison: leave it */
                    luaL_addlstring(&b, p, (size_t)(q + 1 - p));
                    p = q + 1;
                    continue;
                }
                while (*q == ' ' || *q == '\t')
                    q++;
                luaL_addlstring(&b, p, (size_t)(q - p));
                p = mask_value(&b, q);
                continue;
            }
        }
        luaL_addchar(&b, *p++);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static void history_add_entry(const char *entry);

/* Protected: pushes the masked form of the light userdata entry. */
static int mask_entry(lua_State *L)
{
    mask_secrets(L, lua_touserdata(L, 1));
    return 1;
}

/* Keeps a statement just typed, its passwords masked, in the history. */
static void history_save(const char *entry)
{
    if (!shell.interactive || blank(entry))
        return;
    lua_State *L = shell.L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, mask_entry);
    lua_pushlightuserdata(L, (void *)entry);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1))
        entry = lua_tostring(L, -1); /* anchored until settop below */
    history_add_entry(entry);
    lua_settop(L, top);
}

/* Adds the (masked) entry to the history and appends it to the file. */
static void history_add_entry(const char *entry)
{
    HIST_ENTRY *last = history_length > 0
                           ? history_get(history_base + history_length - 1)
                           : NULL;
    if (last != NULL && strcmp(last->line, entry) == 0)
        return;
    add_history(entry);
    if (history_path == NULL)
        return;
    int fd =
        open(history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    fchmod(fd, 0600);
    FILE *f = fdopen(fd, "a");
    if (f == NULL) {
        close(fd);
        return;
    }
    history_put(f, entry); /* at once: a crash loses nothing */
    fclose(f);
}

/* Keeps the last HISTORY_MAX entries of the file (rewritten through a
 * temporary file in the same folder, mode 0600). */
static void history_truncate(void)
{
    size_t n;
    char **list = history_read(&n);
    size_t len = strlen(history_path) + sizeof ".XXXXXX";
    char *tmp = n > HISTORY_MAX ? malloc(len) : NULL;
    if (tmp != NULL) {
        snprintf(tmp, len, "%s.XXXXXX", history_path);
        int fd = mkstemp(tmp);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        bool done = false;
        if (f != NULL) {
            fchmod(fd, 0600);
            for (size_t i = n - HISTORY_MAX; i < n; i++)
                history_put(f, list[i]);
            done = fclose(f) == 0 && rename(tmp, history_path) == 0;
        } else if (fd >= 0) {
            close(fd);
        }
        if (!done && fd >= 0)
            unlink(tmp);
        free(tmp);
    }
    history_free(list, n);
}

/* At exit: cuts the file to its last entries, frees the history. */
static void history_done(void)
{
    if (history_path != NULL)
        history_truncate();
    free(history_path);
    history_path = NULL;
    clear_history();
}

/* ------------------------------------------------------------------ */
/* Loading input                                                       */
/* ------------------------------------------------------------------ */

#define ENV_KEY   "testudo.repl_env"
#define RESET_KEY "testudo.repl_reset"

static char prompt_buf[192];
static bool prompt_color;

static char prompt_text[160];

static const char *make_prompt(lua_State *L, bool first)
{
    const char *text = "..> ";
    if (first) {
        int top = lua_gettop(L);
        snprintf(prompt_text, sizeof prompt_text, "testudo> ");
        shell_prelude(L, "prompt");
        if (lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isstring(L, -1))
            snprintf(prompt_text, sizeof prompt_text, "%s",
                     lua_tostring(L, -1));
        lua_settop(L, top);
        text = prompt_text;
    }
    if (!prompt_color)
        return text;
    /* \001 and \002 tell readline the escapes take no room */
    snprintf(prompt_buf, sizeof prompt_buf, "\001%s\002%s\001%s\002",
             "\033[1;32m", text, "\033[0m");
    return prompt_buf;
}

/* Loads src as a REPL chunk (sugar, then persistent locals when
 * locals is true) with the REPL environment; pushes the function or an
 * error message. */
static int load_repl(lua_State *L, const char *src, size_t len, bool locals)
{
    size_t n = 0;
    char *code = shell_sugar_rewrite(src, len, &n);
    if (code != NULL && locals) {
        char *c2 = shell_sugar_locals(code, n, &n);
        free(code);
        code = c2;
    }
    if (code == NULL) {
        lua_pushliteral(L, "not enough memory");
        return LUA_ERRMEM;
    }
    int status =
        luaL_loadbuffer(L, code, n, text_src ? "=(command line)" : "=stdin");
    free(code);
    if (status == LUA_OK) {
        lua_getfield(L, LUA_REGISTRYINDEX, ENV_KEY);
        if (lua_setupvalue(L, -2, 1) == NULL)
            lua_pop(L, 1);
    }
    return status;
}

/* Whether a syntax error only says the input stopped early (the
 * statement goes on on the next line).  A quoted string left open is an
 * error on its own line (a string does not span lines unless its line
 * ends with a backslash); a long string [[...]] may. */
/* Evaluates the expression expr as the REPL would (sugar, its
 * environment); raises its error; pushes its first value. */
void shell_eval(lua_State *L, const char *expr)
{
    size_t n = strlen(expr) + sizeof "return ";
    char *src = malloc(n);
    if (src == NULL)
        luaL_error(L, "not enough memory");
    snprintf(src, n, "return %s", expr);
    int st = load_repl(L, src, strlen(src), false);
    free(src);
    if (st != LUA_OK)
        lua_error(L);
    lua_call(L, 0, 1);
}

static bool incomplete(lua_State *L, int status, const char *buf, size_t len)
{
    if (status != LUA_ERRSYNTAX)
        return false;
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    size_t mark = sizeof(EOFMARK) - 1;
    if (msg == NULL || lmsg < mark || strcmp(msg + lmsg - mark, EOFMARK) != 0)
        return false;
    if (strstr(msg, "unfinished string") != NULL &&
        !(len > 0 && buf[len - 1] == '\\'))
        return false;
    return true;
}

#define MORE (-3)

/* Tries buf as `return buf`, then as statements; returns LUA_OK with the
 * function pushed, an error status with the message pushed, or MORE
 * (nothing pushed) when the statement is incomplete. */
static int try_load(lua_State *L, const char *buf, size_t len)
{
    size_t rn = len + sizeof "return ";
    char *ret = malloc(rn);
    bool ret_more = false;
    if (ret != NULL) {
        snprintf(ret, rn, "return %s", buf);
        int st = load_repl(L, ret, strlen(ret), false);
        free(ret);
        if (st == LUA_OK)
            return LUA_OK;
        ret_more = incomplete(L, st, buf, len); /* `{` goes on */
        lua_pop(L, 1);
    }
    int st = load_repl(L, buf, len, true);
    if (st != LUA_OK && (ret_more || incomplete(L, st, buf, len))) {
        lua_pop(L, 1);
        return MORE;
    }
    return st;
}

/* A dot-command is a line whose first non-blank is '.' and a letter
 * (so `.5 + 1` stays Lua). */
static bool is_dotcmd(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    return line[0] == '.' && ((line[1] >= 'a' && line[1] <= 'z') ||
                              (line[1] >= 'A' && line[1] <= 'Z'));
}

#define GOT_EOF (-1)
#define NOTHING (-2)

static void remember(const char *stmt)
{
    char *copy = strdup(stmt);
    if (copy != NULL) {
        free(shell.last_stmt);
        shell.last_stmt = copy;
    }
}

/* Reads one statement (maybe several lines); returns GOT_EOF, NOTHING
 * (blank line, Ctrl-C, a dot-command that already ran) or a load status
 * with the function or the error message pushed. */
static int loadline(lua_State *L)
{
    char *line = shell_readline(make_prompt(L, true));
    if (line == NULL)
        return GOT_EOF;
    if (line_cancelled || blank(line)) {
        free(line);
        return NOTHING;
    }
    if (is_dotcmd(line)) {
        history_save(line);
        shell_dotcmd(L, line);
        free(line);
        return NOTHING;
    }
    size_t len = strlen(line), cap = len + 1;
    char *buf = line;
    int status;
    for (;;) {
        status = try_load(L, buf, len);
        if (status != MORE)
            break;
        char *more = shell_readline(make_prompt(L, false));
        if (more == NULL) { /* end of input inside a statement */
            status = load_repl(L, buf, len, true);
            break;
        }
        if (line_cancelled) {
            free(more);
            free(buf);
            return NOTHING;
        }
        size_t mlen = strlen(more);
        if (len + mlen + 2 > cap) {
            cap = (len + mlen + 2) * 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(more);
                free(buf);
                lua_pushliteral(L, "not enough memory");
                return LUA_ERRMEM;
            }
            buf = nb;
        }
        buf[len++] = '\n';
        memcpy(buf + len, more, mlen + 1);
        len += mlen;
        free(more);
    }
    history_save(buf);
    remember(buf);
    free(buf);
    return status;
}

/* ------------------------------------------------------------------ */
/* Printing results                                                    */
/* ------------------------------------------------------------------ */

static bool scalar(lua_State *L, int i)
{
    int t = lua_type(L, i);
    return t != LUA_TTABLE && t != LUA_TUSERDATA;
}

/* Prints the n values on the stack: one is rendered; several scalars
 * are printed tab-separated as lua does; otherwise each is rendered. */
static void print_results(lua_State *L, int n)
{
    /* execute_query's (rows, count): a SELECT shows as its grid, whose
     * count line says the count; another statement as the count */
    if (n == 2 && lua_istable(L, 1) && lua_isinteger(L, 2) &&
        luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) {
        bool rows = strcmp(lua_tostring(L, -1), "testudo.Rows") == 0;
        lua_pop(L, 1);
        if (rows) {
            lua_getfield(L, 1, "columns");
            bool cols = lua_istable(L, -1) && lua_rawlen(L, -1) > 0;
            lua_pop(L, 1);
            shell_render(L, cols ? 1 : 2);
            return;
        }
    }
    if (n == 1) {
        shell_render(L, 1);
        return;
    }
    bool all_scalar = true;
    for (int i = 1; i <= n; i++)
        all_scalar = all_scalar && scalar(L, i);
    if (all_scalar && (shell.format == FMT_CSV || shell.format == FMT_JSON)) {
        shell_render_scalars(L, 1, n);
        return;
    }
    if (!all_scalar) {
        for (int i = 1; i <= n; i++)
            shell_render(L, i);
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    shell_page(s, len);
    lua_pop(L, 1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Protected: makes the REPL environment and keeps it in the registry. */
static int make_env(lua_State *L)
{
    shell_prelude(L, "repl_env");
    lua_call(L, 0, 2);
    lua_setfield(L, LUA_REGISTRYINDEX, RESET_KEY);
    lua_setfield(L, LUA_REGISTRYINDEX, ENV_KEY);
    return 0;
}

static void reset_pending(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, RESET_KEY);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        lua_pop(L, 1);
}

static void banner(lua_State *L)
{
    if (shell.quiet)
        return;
    FILE *f = rl_outstream ? rl_outstream : stdout;
    fprintf(f, "testudo %s (%s) -- type .help for help, Ctrl-D to quit\n",
            SHELL_VERSION, LUA_RELEASE);
    if (shell.demo) {
        shell_prelude(L, "model_names");
        if (lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isstring(L, -1))
            fprintf(f, "demo shop loaded; models: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    } else {
        shell_prelude(L, "introspected_summary");
        if (lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isstring(L, -1))
            fprintf(f, "%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    fflush(f);
}

/* Protected: makes the REPL environment once (it outlives -e chunks). */
static int ensure_env(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, ENV_KEY) != LUA_TNIL)
        return 0;
    return make_env(L);
}

/* Whether the REPL may end: with a transaction open, the user says
 * whether to commit it, roll it back or stay (the prelude asks). */
static bool confirm_quit(lua_State *L)
{
    int top = lua_gettop(L);
    shell_prelude(L, "confirm_quit");
    bool quit = false;
    if (lua_pcall(L, 0, 1, 0) != LUA_OK)
        shell_report(L); /* a failed COMMIT: stay, the user decides */
    else
        quit = lua_toboolean(L, -1);
    lua_settop(L, top);
    return quit;
}

/* After Ctrl-C stopped a statement: the cursors it left are closed now
 * (an SQLite session stays interrupted while one is open), and an open
 * transaction is reported, with what ends it. */
static void after_interrupt(lua_State *L);

void shell_after_interrupt(lua_State *L)
{
    after_interrupt(L);
}

static void after_interrupt(lua_State *L)
{
    int top = lua_gettop(L);
    lua_gc(L, LUA_GCCOLLECT);
    shell_prelude(L, "after_interrupt");
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        lua_pop(L, 1);
    lua_settop(L, top);
}

/* Runs statements until the input ends (or .quit; or, with
 * stop_on_error, the first error), each printed as the REPL does;
 * returns the number of errors reported. */
static int run_statements(lua_State *L, bool stop_on_error)
{
    int errors0 = shell.errors;
    for (;;) {
        lua_settop(L, 0);
        int before = shell.errors;
        int status = loadline(L);
        if (status == GOT_EOF && !(shell.interactive && !confirm_quit(L)))
            break;
        if (status == GOT_EOF)
            continue;
        if (status != NOTHING) {
            double t0 = now_ms();
            shell_meter_begin(L);
            if (status == LUA_OK)
                status = shell_docall(L, 0, LUA_MULTRET);
            double t1 = now_ms();
            if (status == LUA_OK) {
                int n = lua_gettop(L);
                if (n > 0)
                    print_results(L, n);
            } else {
                shell_report(L);
                if (sigint_seen)
                    after_interrupt(L);
            }
            if (shell.timing)
                fprintf(shell.out, "Time: %.3f ms\n", t1 - t0);
            shell_meter_end(L, t1 - t0);
            reset_pending(L);
            shell_export_models(L);
        }
        fflush(shell.out);
        if (shell.quit && shell.interactive && !confirm_quit(L))
            shell.quit = false;
        if (shell.quit || (stop_on_error && shell.errors > before))
            break;
    }
    lua_settop(L, 0);
    return shell.errors - errors0;
}

int shell_batch(lua_State *L, const char *chunk)
{
    lua_settop(L, 0);
    lua_pushcfunction(L, ensure_env);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    text_src = chunk;
    text_pos = 0;
    text_len = strlen(chunk);
    int errors = run_statements(L, true);
    text_src = NULL;
    return errors > 0;
}

int shell_repl(lua_State *L)
{
    shell.interactive = isatty(STDIN_FILENO);
    in_repl = shell.interactive;
    lua_settop(L, 0);
    lua_pushcfunction(L, ensure_env);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        shell_report(L);
        return 1;
    }
    if (shell.interactive) {
        rl_readline_name = "testudo";
        /* Plain echo of pasted lines (they continue as typed ones); an
         * ~/.inputrc setting still wins, being read later. */
        rl_variable_bind("enable-bracketed-paste", "off");
        rl_catch_signals = 0;
        rl_catch_sigwinch = 0;
        rl_outstream = isatty(STDOUT_FILENO) ? stdout : stderr;
        /* (results piped: prompts still on the screen) */
        prompt_color = !shell.no_color && isatty(fileno(rl_outstream)) &&
                       (shell.color_out || shell.color_err);
        history_init();
        shell_complete_init(L);
        banner(L);
        if (!shell.yes) { /* unfiltered update/delete ask first */
            shell_prelude(L, "install_guard");
            if (lua_pcall(L, 0, 0, 0) != LUA_OK)
                shell_report(L);
        }
    }
    int errors = run_statements(L, false);
    if (shell.interactive) {
        if (!shell.quit)
            fputc('\n', rl_outstream ? rl_outstream : stdout);
        history_done();
        rl_callback_handler_remove();
    }
    in_repl = 0;
    /* piped statements, as sqlite3 and psql: status 1 after any error */
    return !shell.interactive && errors > 0;
}
