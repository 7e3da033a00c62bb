/*
 * complete.c -- readline completion: dot-commands after `.`, file names
 * after .read/.output/.open/.import/.export, model names after .schema and
 * .import FILE; otherwise (and for the EXPR of .explain, .watch, .export)
 * the prelude's S.complete (globals and REPL locals, the methods that
 * exist after `x:`, field names and relation paths inside the calls that
 * take them, the lookups that suit a field after `field__`), always
 * called under lua_pcall.
 */
#include "shell.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <readline/readline.h>

static lua_State *cL;
static char **cands;
static size_t ncands, next_cand;

static void cands_clear(void)
{
    for (size_t i = 0; i < ncands; i++)
        free(cands[i]);
    free(cands);
    cands = NULL;
    ncands = next_cand = 0;
}

static void cands_add(const char *s)
{
    char **nc = realloc(cands, (ncands + 1) * sizeof *cands);
    if (nc == NULL)
        return;
    cands = nc;
    char *copy = strdup(s);
    if (copy != NULL)
        cands[ncands++] = copy;
}

static char *generator(const char *text, int state)
{
    (void)text;
    (void)state;
    if (next_cand < ncands)
        return strdup(cands[next_cand++]);
    return NULL;
}

/* Protected: calls the prelude function named by upvalue-less arg 1 with
 * the rest of the arguments; returns its table of strings. */
static int call_prelude(lua_State *L)
{
    const char *fn = lua_tostring(L, 1);
    int nargs = lua_gettop(L) - 1;
    shell_prelude(L, fn);
    lua_insert(L, 2);
    lua_call(L, nargs, 1);
    return 1;
}

/* Fills the candidates from the array of strings a prelude function
 * returns, keeping those that start with prefix (after skip chars). */
static void from_prelude(const char *fn, const char *a1, const char *a2,
                         bool env, const char *text, const char *add_prefix)
{
    lua_State *L = cL;
    int top = lua_gettop(L);
    lua_pushcfunction(L, call_prelude);
    lua_pushstring(L, fn);
    int n = 0;
    if (a1 != NULL) {
        lua_pushstring(L, a1);
        n++;
    }
    if (a2 != NULL) {
        lua_pushstring(L, a2);
        n++;
    }
    if (env) {
        lua_getfield(L, LUA_REGISTRYINDEX, "testudo.repl_env");
        n++;
    }
    if (lua_pcall(L, n + 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
        size_t plen = strlen(add_prefix);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, -1, i);
            const char *s = lua_tostring(L, -1);
            if (s != NULL) {
                size_t slen = strlen(s);
                char *full = malloc(plen + slen + 1);
                if (full != NULL) {
                    memcpy(full, add_prefix, plen);
                    memcpy(full + plen, s, slen + 1);
                    if (strncmp(full, text, strlen(text)) == 0)
                        cands_add(full);
                    free(full);
                }
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}

/* Lua words break at operators and brackets, and at `:` and `.` so that
 * a method or key is completed on its own. */
static const char lua_breaks[] = " \t\n\"\\'`@$><=;|&{([,+-*/%^~#:.";
static const char file_breaks[] = " \t\n\"'";

/* The dot-command the line starts with (its name's length in *n), or
 * NULL. */
static const char *dot_command(const char *line, size_t *n)
{
    line += strspn(line, " \t");
    if (line[0] != '.' || !(line[1] >= 'a' && line[1] <= 'z'))
        return NULL;
    *n = strcspn(line + 1, " \t");
    return line + 1;
}

static bool is_cmd(const char *cmd, size_t n, const char *name)
{
    return cmd != NULL && strlen(name) == n && strncmp(cmd, name, n) == 0;
}

/* How many words (space separated) come before offset start after the
 * command's name; quotes and brackets are not looked into. */
static int arg_index(const char *line, int start)
{
    int words = 0;
    bool in_word = false;
    const char *p = line + strspn(line, " \t");
    p += strcspn(p, " \t"); /* the command */
    for (; p < line + start; p++) {
        bool space = *p == ' ' || *p == '\t';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return in_word ? words - 1 : words;
}

/* readline asks which characters end the word being completed: file
 * names (.read, .output, .open, .import's file, .export's file) break at
 * spaces only. */
static char *word_breaks(void)
{
    size_t n = 0;
    const char *cmd = dot_command(rl_line_buffer, &n);
    if (cmd == NULL)
        return (char *)lua_breaks;
    if (is_cmd(cmd, n, "read") || is_cmd(cmd, n, "output") ||
        is_cmd(cmd, n, "open") || is_cmd(cmd, n, "import"))
        return (char *)file_breaks;
    if (is_cmd(cmd, n, "export") && arg_index(rl_line_buffer, rl_point) >= 1)
        return (char *)file_breaks;
    return (char *)lua_breaks;
}

/* Lua completion of text, with before the Lua text before it. */
static void complete_lua(const char *text, const char *before, size_t len)
{
    char *b = strndup(before, len);
    if (b != NULL) {
        from_prelude("complete", text, b, true, text, "");
        free(b);
    }
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;
    rl_completion_append_character = '\0';
    cands_clear();
    const char *line = rl_line_buffer;
    int i = (int)strspn(line, " \t");
    size_t n = 0;
    const char *cmd = dot_command(line, &n);
    if (line[i] == '.' && (cmd != NULL || line[i + 1] == '\0') &&
        start <= i + 1) {
        const char *word = text[0] == '.' ? text + 1 : text;
        const char *dot = text[0] == '.' ? "." : "";
        for (int k = 0; shell_dotcmd_name(k) != NULL; k++) {
            const char *name = shell_dotcmd_name(k);
            if (strncmp(name, word, strlen(word)) == 0) {
                char buf[64];
                snprintf(buf, sizeof buf, "%s%s", dot, name);
                cands_add(buf);
            }
        }
        rl_completion_append_character = ' ';
    } else if (cmd != NULL) {
        int arg = arg_index(line, start);
        const char *args = cmd + n + strspn(cmd + n, " \t");
        if (is_cmd(cmd, n, "read") || is_cmd(cmd, n, "output") ||
            is_cmd(cmd, n, "open") || (is_cmd(cmd, n, "import") && arg == 0) ||
            (is_cmd(cmd, n, "export") && arg >= 1)) {
            rl_attempted_completion_over = 0; /* file names */
            return NULL;
        } else if (is_cmd(cmd, n, "help")) {
            for (int k = 0; shell_dotcmd_name(k) != NULL; k++)
                if (strncmp(shell_dotcmd_name(k), text, strlen(text)) == 0)
                    cands_add(shell_dotcmd_name(k));
        } else if (is_cmd(cmd, n, "schema") ||
                   (is_cmd(cmd, n, "import") && arg == 1)) {
            from_prelude("model_list_names", NULL, NULL, false, text, "");
        } else if (is_cmd(cmd, n, "explain") || is_cmd(cmd, n, "export")) {
            if (line + start >= args)
                complete_lua(text, args, (size_t)(line + start - args));
        } else if (is_cmd(cmd, n, "watch") && arg >= 1) {
            const char *expr = args + strcspn(args, " \t");
            expr += strspn(expr, " \t");
            if (line + start >= expr)
                complete_lua(text, expr, (size_t)(line + start - expr));
        }
    } else {
        complete_lua(text, line, (size_t)start);
    }
    if (ncands == 0)
        return NULL;
    return rl_completion_matches(text, generator);
}

void shell_complete_init(lua_State *L)
{
    cL = L;
    rl_attempted_completion_function = complete;
    rl_completion_word_break_hook = word_breaks;
    rl_basic_word_break_characters = lua_breaks;
    rl_completer_quote_characters = "\"'";
}
