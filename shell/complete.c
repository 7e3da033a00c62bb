/*
 * complete.c -- readline completion: dot-commands after `.`, file names
 * after .read/.output/.open, model names after .schema; otherwise the
 * prelude's S.complete (globals and REPL locals, methods after `x:`,
 * field names inside filter{ / exclude{ / get{, lookups after `field__`),
 * always called under lua_pcall.
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

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;
    rl_completion_append_character = '\0';
    cands_clear();
    const char *line = rl_line_buffer;
    int i = 0;
    while (line[i] == ' ' || line[i] == '\t')
        i++;
    if (line[i] == '.' &&
        (line[i + 1] == '\0' || (line[i + 1] >= 'a' && line[i + 1] <= 'z'))) {
        if (start <= i + 1) {
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
        } else if (strncmp(line + i, ".read ", 6) == 0 ||
                   strncmp(line + i, ".output ", 8) == 0 ||
                   strncmp(line + i, ".open ", 6) == 0) {
            rl_attempted_completion_over = 0; /* file names */
            return NULL;
        } else if (strncmp(line + i, ".help ", 6) == 0) {
            for (int k = 0; shell_dotcmd_name(k) != NULL; k++)
                if (strncmp(shell_dotcmd_name(k), text, strlen(text)) == 0)
                    cands_add(shell_dotcmd_name(k));
        } else if (strncmp(line + i, ".schema ", 8) == 0) {
            from_prelude("model_list_names", NULL, NULL, false, text, "");
        }
    } else {
        char *before = strndup(line, (size_t)start);
        if (before != NULL) {
            from_prelude("complete", text, before, true, text, "");
            free(before);
        }
    }
    if (ncands == 0)
        return NULL;
    return rl_completion_matches(text, generator);
}

void shell_complete_init(lua_State *L)
{
    cL = L;
    rl_attempted_completion_function = complete;
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{([,+-*/%^~#";
    rl_completer_quote_characters = "\"'";
}
