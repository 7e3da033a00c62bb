/*
 * render.c -- auto-print: turns values into text in one of five formats.
 *
 * The prelude (S.grid, in Lua) turns a value into a grid -- column names
 * and rows of cell strings with a kind letter per cell -- or says how to
 * print it as text; this file lays grids out as a psql-like table, CSV,
 * JSON, Markdown or `column = value` lines.  Laying out never calls back
 * into Lua, so it cannot raise.
 */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include "shell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "testudo.h"

#include <jansson.h>

#include <lauxlib.h>

static const char *const format_names[] = {
    [FMT_TABLE] = "table",       [FMT_CSV] = "csv",   [FMT_JSON] = "json",
    [FMT_MARKDOWN] = "markdown", [FMT_LINE] = "line",
};

bool shell_format_parse(const char *name, enum shell_format *fmt)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *fmt = (enum shell_format)i;
            return true;
        }
    if (strcmp(name, "md") == 0) {
        *fmt = FMT_MARKDOWN;
        return true;
    }
    return false;
}

const char *shell_format_name(enum shell_format fmt)
{
    return format_names[fmt];
}

/* A grid read from the prelude's Lua table (strings stay owned by it). */
struct grid {
    int ncols, nrows;
    const char **col;
    size_t *col_len;
    const char **cell; /* nrows * ncols */
    size_t *cell_len;
    char *kind;        /* nrows * ncols kind letters */
    bool *numeric;     /* per column: every non-null cell a number */
    lua_Integer total; /* rows before the limit */
    bool count_line;   /* print "(N rows)" */
    bool single;       /* one instance: JSON object, not array */
};

static void grid_free(struct grid *g)
{
    free(g->col);
    free(g->col_len);
    free(g->cell);
    free(g->cell_len);
    free(g->kind);
    free(g->numeric);
}

static bool is_num_kind(char k)
{
    return k == 'n' || k == 'f' || k == 'd';
}

/* Reads the grid table at idx; false when out of memory or malformed. */
static bool grid_read(lua_State *L, int idx, struct grid *g)
{
    memset(g, 0, sizeof *g);
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, "cols");
    lua_getfield(L, idx, "rows");
    lua_getfield(L, idx, "kinds");
    int cols = lua_absindex(L, -3), rows = cols + 1, kinds = cols + 2;
    if (!lua_istable(L, cols) || !lua_istable(L, rows)) {
        lua_pop(L, 3);
        return false;
    }
    g->ncols = (int)lua_rawlen(L, cols);
    g->nrows = (int)lua_rawlen(L, rows);
    size_t nc = (size_t)g->ncols, ncell = nc * (size_t)g->nrows;
    g->col = calloc(nc + 1, sizeof *g->col);
    g->col_len = calloc(nc + 1, sizeof *g->col_len);
    g->numeric = calloc(nc + 1, sizeof *g->numeric);
    g->cell = calloc(ncell + 1, sizeof *g->cell);
    g->cell_len = calloc(ncell + 1, sizeof *g->cell_len);
    g->kind = calloc(ncell + 1, 1);
    if (!g->col || !g->col_len || !g->numeric || !g->cell || !g->cell_len ||
        !g->kind) {
        grid_free(g);
        lua_pop(L, 3);
        return false;
    }
    for (int j = 0; j < g->ncols; j++) {
        lua_rawgeti(L, cols, j + 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            g->col[j] = lua_tolstring(L, -1, &g->col_len[j]);
        else
            g->col[j] = "";
        lua_pop(L, 1); /* still referenced by the cols table */
    }
    for (int i = 0; i < g->nrows; i++) {
        lua_rawgeti(L, rows, i + 1);
        const char *ks = NULL;
        size_t klen = 0;
        if (lua_istable(L, kinds)) {
            lua_rawgeti(L, kinds, i + 1);
            if (lua_type(L, -1) == LUA_TSTRING)
                ks = lua_tolstring(L, -1, &klen);
            lua_pop(L, 1);
        }
        for (int j = 0; j < g->ncols; j++) {
            size_t k = (size_t)i * nc + (size_t)j;
            g->cell[k] = "";
            if (lua_istable(L, -1)) {
                lua_rawgeti(L, -1, j + 1);
                if (lua_type(L, -1) == LUA_TSTRING)
                    g->cell[k] = lua_tolstring(L, -1, &g->cell_len[k]);
                lua_pop(L, 1);
            }
            g->kind[k] = ks != NULL && (size_t)j < klen ? ks[j] : 's';
        }
        lua_pop(L, 1);
    }
    for (int j = 0; j < g->ncols; j++) {
        bool any = false, all = true;
        for (int i = 0; i < g->nrows; i++) {
            char k = g->kind[(size_t)i * nc + (size_t)j];
            if (k == '0')
                continue;
            any = true;
            all = all && is_num_kind(k);
        }
        g->numeric[j] = any && all;
    }
    lua_getfield(L, idx, "total");
    g->total = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : g->nrows;
    lua_getfield(L, idx, "count_line");
    g->count_line = lua_toboolean(L, -1);
    lua_getfield(L, idx, "single");
    g->single = lua_toboolean(L, -1);
    lua_pop(L, 6);
    return true;
}

/* ------------------------------------------------------------------ */
/* Text helpers                                                        */
/* ------------------------------------------------------------------ */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and
 * sets *cp (-1 when invalid: the byte counts as one column). */
static size_t utf8_next(const unsigned char *s, size_t n, long *cp)
{
    unsigned c = s[0];
    size_t len = c < 0x80         ? 1
                 : (c >> 5) == 6  ? 2
                 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4
                                  : 0;
    if (len == 0 || len > n) {
        *cp = -1;
        return 1;
    }
    long v = len == 1 ? (long)c : (long)(c & (0x7f >> len));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

/* Control characters are shown escaped (\n, \t, \x01) in tables. */
static int esc_len(unsigned char c)
{
    if (c == '\n' || c == '\r' || c == '\t')
        return 2;
    if (c < 0x20 || c == 0x7f)
        return 4;
    return 0;
}

/* Display width of s once escaped; md: `|` shows as `\|`. */
static size_t text_width(const char *s, size_t n, bool md)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        int e = esc_len(p[i]);
        if (e) {
            w += (size_t)e;
            i++;
            continue;
        }
        if (md && p[i] == '|') {
            w += 2;
            i++;
            continue;
        }
        long cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        int cw = cp >= 0 ? wcwidth((wchar_t)cp) : 1;
        w += cw >= 0 ? (size_t)cw : 1;
        i += len;
    }
    return w;
}

static void put_text(FILE *f, const char *s, size_t n, bool md)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else if (md && c == '|')
            fputs("\\|", f);
        else
            fputc(c, f);
    }
}

static void pad(FILE *f, size_t n)
{
    while (n-- > 0)
        fputc(' ', f);
}

static void put_cell(FILE *f, const char *s, size_t n, size_t width, bool right,
                     bool last, bool md)
{
    size_t w = text_width(s, n, md);
    size_t gap = width > w ? width - w : 0;
    if (right)
        pad(f, gap);
    put_text(f, s, n, md);
    if (!right && !last)
        pad(f, gap);
}

#define CELL(g, i, j) ((size_t)(i) * (size_t)(g)->ncols + (size_t)(j))

static size_t *column_widths(const struct grid *g, bool md)
{
    size_t *w = calloc((size_t)g->ncols + 1, sizeof *w);
    if (w == NULL)
        return NULL;
    for (int j = 0; j < g->ncols; j++) {
        w[j] = text_width(g->col[j], g->col_len[j], md);
        for (int i = 0; i < g->nrows; i++) {
            size_t k = CELL(g, i, j);
            size_t cw = text_width(g->cell[k], g->cell_len[k], md);
            if (cw > w[j])
                w[j] = cw;
        }
        if (md && w[j] < 3)
            w[j] = 3;
    }
    return w;
}

static void count_line(FILE *f, const struct grid *g)
{
    if (!g->count_line)
        return;
    if (g->total < 0)
        fprintf(f,
                "(first %d rows; more exist: :count() counts them, .limit "
                "shows more)\n",
                g->nrows);
    else if (g->nrows < g->total)
        fprintf(f, "(showing %d of %lld rows; .limit to change)\n", g->nrows,
                (long long)g->total);
    else
        fprintf(f, "(%lld row%s)\n", (long long)g->total,
                g->total == 1 ? "" : "s");
}

/* ------------------------------------------------------------------ */
/* Formats                                                             */
/* ------------------------------------------------------------------ */

static void out_table(FILE *f, const struct grid *g, bool color)
{
    size_t *w = column_widths(g, false);
    if (w == NULL)
        return;
    if (g->ncols > 0) {
        fputs(color ? shell_sgr(SGR_BOLD, false) : "", f);
        for (int j = 0; j < g->ncols; j++) {
            fputs(j ? " | " : " ", f);
            put_cell(f, g->col[j], g->col_len[j], w[j], g->numeric[j],
                     j == g->ncols - 1, false);
        }
        fputs(color ? shell_sgr(SGR_RESET, false) : "", f);
        fputc('\n', f);
        for (int j = 0; j < g->ncols; j++) {
            if (j)
                fputc('+', f);
            for (size_t k = 0; k < w[j] + 2; k++)
                fputc('-', f);
        }
        fputc('\n', f);
        for (int i = 0; i < g->nrows; i++) {
            for (int j = 0; j < g->ncols; j++) {
                size_t k = CELL(g, i, j);
                fputs(j ? " | " : " ", f);
                put_cell(f, g->cell[k], g->cell_len[k], w[j],
                         is_num_kind(g->kind[k]), j == g->ncols - 1, false);
            }
            fputc('\n', f);
        }
    }
    count_line(f, g);
    free(w);
}

static void csv_header(FILE *f, const struct grid *g)
{
    for (int j = 0; j < g->ncols; j++) {
        if (j)
            fputc(',', f);
        shell_csv_field(f, g->col[j], g->col_len[j], false);
    }
    fputc('\n', f);
}

static void csv_rows(FILE *f, const struct grid *g)
{
    for (int i = 0; i < g->nrows; i++) {
        for (int j = 0; j < g->ncols; j++) {
            size_t k = CELL(g, i, j);
            if (j)
                fputc(',', f);
            shell_csv_field(f, g->cell[k], g->cell_len[k], g->kind[k] == '0');
        }
        fputc('\n', f);
    }
}

int shell_csv_grid(lua_State *L)
{
    luaL_Stream *st = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (st->closef == NULL)
        return luaL_error(L, "the CSV file is closed");
    struct grid g;
    if (!grid_read(L, 2, &g))
        return luaL_error(L, "not enough memory");
    if (lua_toboolean(L, 3) && g.ncols > 0)
        csv_header(st->f, &g);
    csv_rows(st->f, &g);
    grid_free(&g);
    if (ferror(st->f))
        return luaL_error(L, "cannot write the CSV file: %s", strerror(errno));
    return 0;
}

static void out_csv(FILE *f, const struct grid *g)
{
    if (g->ncols == 0)
        return;
    csv_header(f, g);
    csv_rows(f, g);
}

/* The JSON node of a cell: by its kind (numbers as numbers, decimals as
 * numbers when a double holds them exactly, else as text, JSON text as
 * its tree); NULL on out of memory. The caller owns it. */
static json_t *json_cell(const char *s, size_t n, char kind)
{
    switch (kind) {
    case '0':
    case 'f':
        return json_null();
    case 'b':
        return json_boolean(n == 4 && !memcmp(s, "true", 4));
    case 'n':
    case 'j': {
        json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return j ? j : tdo_json_string(s, n);
    }
    case 'd': {
        tdo_decimal d;
        json_t *j = NULL;
        if (tdo_decimal_parse(s, n, &d, NULL) == TDO_OK)
            j = tdo_json_decimal(&d);
        return j ? j : tdo_json_string(s, n);
    }
    default:
        return tdo_json_string(s, n);
    }
}

/* Writes j (a reference it takes) as JSON text: ", " and ": " between
 * items, keys in their order. */
static void json_put(FILE *f, json_t *j)
{
    tdo_sb sb = TDO_SB_INIT;
    if (j && tdo_json_dump(&sb, j, 0) == TDO_OK)
        fwrite(sb.buf, 1, sb.len, f);
    else
        fputs("null", f);
    tdo_sb_release(&sb);
    json_decref(j);
}

/* Row i of g as one JSON object (columns in their order). */
static void json_row(FILE *f, const struct grid *g, int i)
{
    json_t *o = json_object();
    for (int j = 0; o && j < g->ncols; j++) {
        size_t k = CELL(g, i, j);
        json_t *name = tdo_json_string(g->col[j], g->col_len[j]);
        json_t *v = json_cell(g->cell[k], g->cell_len[k], g->kind[k]);
        /* json_object_set_new takes v even when it fails */
        int rc = name && v ? json_object_set_new(o, json_string_value(name), v)
                           : (json_decref(v), -1);
        json_decref(name);
        if (rc) {
            json_decref(o);
            o = NULL;
        }
    }
    json_put(f, o);
}

static void out_json(FILE *f, const struct grid *g)
{
    if (g->single && g->nrows == 1) {
        json_row(f, g, 0);
        fputc('\n', f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < g->nrows; i++) {
        fputs(i ? ",\n  " : "\n  ", f);
        json_row(f, g, i);
    }
    fputs(g->nrows ? "\n]\n" : "]\n", f);
}

static void out_markdown(FILE *f, const struct grid *g)
{
    if (g->ncols == 0)
        return;
    size_t *w = column_widths(g, true);
    if (w == NULL)
        return;
    fputc('|', f);
    for (int j = 0; j < g->ncols; j++) {
        fputc(' ', f);
        put_cell(f, g->col[j], g->col_len[j], w[j], g->numeric[j], false, true);
        fputs(" |", f);
    }
    fputs("\n|", f);
    for (int j = 0; j < g->ncols; j++) {
        fputc(' ', f);
        for (size_t k = 0; k + 1 < w[j]; k++)
            fputc('-', f);
        fputs(g->numeric[j] ? ":" : "-", f);
        fputs(" |", f);
    }
    fputc('\n', f);
    for (int i = 0; i < g->nrows; i++) {
        fputc('|', f);
        for (int j = 0; j < g->ncols; j++) {
            size_t k = CELL(g, i, j);
            fputc(' ', f);
            put_cell(f, g->cell[k], g->cell_len[k], w[j],
                     is_num_kind(g->kind[k]), false, true);
            fputs(" |", f);
        }
        fputc('\n', f);
    }
    free(w);
}

static void out_line(FILE *f, const struct grid *g)
{
    size_t name_w = 0;
    for (int j = 0; j < g->ncols; j++) {
        size_t w = text_width(g->col[j], g->col_len[j], false);
        if (w > name_w)
            name_w = w;
    }
    for (int i = 0; i < g->nrows; i++) {
        if (i)
            fputc('\n', f);
        for (int j = 0; j < g->ncols; j++) {
            size_t k = CELL(g, i, j);
            put_cell(f, g->col[j], g->col_len[j], name_w, true, false, false);
            fputs(" = ", f);
            put_text(f, g->cell[k], g->cell_len[k], false);
            fputc('\n', f);
        }
    }
    if (g->total < 0)
        fprintf(f,
                "\n(first %d rows; more exist: :count() counts them, .limit "
                "shows more)\n",
                g->nrows);
    else if (g->nrows < g->total)
        fprintf(f, "\n(showing %d of %lld rows; .limit to change)\n", g->nrows,
                (long long)g->total);
}

/* Writes the grid table at idx in the current format to shell.out. */
static void output_grid(lua_State *L, int idx)
{
    struct grid g;
    if (!grid_read(L, idx, &g))
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        grid_free(&g);
        return;
    }
    bool color = shell.out == stdout && shell.color_out;
    switch (shell.format) {
    case FMT_TABLE:
        out_table(f, &g, color);
        break;
    case FMT_CSV:
        out_csv(f, &g);
        break;
    case FMT_JSON:
        out_json(f, &g);
        break;
    case FMT_MARKDOWN:
        out_markdown(f, &g);
        break;
    case FMT_LINE:
        out_line(f, &g);
        break;
    }
    fclose(f);
    grid_free(&g);
    shell_page(buf, len);
    free(buf);
}

void shell_output_grid(lua_State *L, int idx)
{
    output_grid(L, idx);
}

static bool is_queryset(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return false;
    int t = luaL_getmetafield(L, idx, "__name");
    bool qs = t == LUA_TSTRING &&
              strcmp(lua_tostring(L, -1), "testudo.QuerySet") == 0;
    if (t != LUA_TNIL)
        lua_pop(L, 1);
    return qs;
}

/* Writes every row of the queryset at qs in the csv or json format
 * straight to shell.out, a chunk of rows at a time, as they are read
 * (constant memory: .output FILE, a pipe, batch mode). */
static void stream_rows(lua_State *L, int qs)
{
    FILE *f = shell.out;
    bool json = shell.format == FMT_JSON;
    shell_prelude(L, "qs_chunks");
    lua_pushvalue(L, qs);
    lua_pushinteger(L, 1000);
    lua_call(L, 2, 1);
    int it = lua_gettop(L);
    long rows = 0;
    bool first = true;
    for (;;) {
        lua_pushvalue(L, it);
        lua_call(L, 0, 1);
        if (lua_isnil(L, -1))
            break;
        struct grid g;
        if (!grid_read(L, -1, &g))
            luaL_error(L, "not enough memory");
        if (first && json)
            fputc('[', f);
        else if (first && g.ncols > 0)
            csv_header(f, &g);
        first = false;
        if (json) {
            for (int i = 0; i < g.nrows; i++) {
                fputs(rows++ ? ",\n  " : "\n  ", f);
                json_row(f, &g, i);
            }
        } else {
            csv_rows(f, &g);
        }
        grid_free(&g);
        lua_pop(L, 1);
    }
    if (json)
        fputs(rows ? "\n]\n" : "]\n", f);
    fflush(f);
}

/* Writes the n values from idx on (not grids) as one line to shell.out:
 * a csv row, or one JSON document (an array when n > 1). */
static void output_scalars(lua_State *L, int idx, int n)
{
    idx = lua_absindex(L, idx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        luaL_error(L, "not enough memory");
    bool json = shell.format == FMT_JSON;
    if (json && n > 1)
        fputc('[', f);
    for (int i = 0; i < n; i++) {
        shell_prelude(L, "scalar");
        lua_pushvalue(L, idx + i);
        lua_call(L, 1, 2);
        size_t sn;
        const char *s = lua_tolstring(L, -2, &sn);
        const char *kind = lua_tostring(L, -1);
        if (i > 0)
            fputs(json ? ", " : ",", f);
        if (json)
            json_put(f,
                     json_cell(s ? s : "", s ? sn : 0, kind ? kind[0] : 's'));
        else
            shell_csv_field(f, s ? s : "", s ? sn : 0,
                            kind == NULL || kind[0] == '0');
        lua_pop(L, 2);
    }
    if (json && n > 1)
        fputc(']', f);
    fputc('\n', f);
    fclose(f);
    shell_page(buf, len);
    free(buf);
}

/* Protected: writes the values on the stack with output_scalars. */
static int render_scalars(lua_State *L)
{
    output_scalars(L, 1, lua_gettop(L));
    return 0;
}

void shell_render_scalars(lua_State *L, int idx, int n)
{
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    lua_pushcfunction(L, render_scalars);
    for (int i = 0; i < n; i++)
        lua_pushvalue(L, idx + i);
    if (shell_docall(L, n, 0) != LUA_OK)
        shell_report(L);
    lua_settop(L, top);
}

/* Protected: renders argument 1. */
static int render(lua_State *L)
{
    lua_Integer limit = 0;
    if (shell.format == FMT_TABLE || shell.format == FMT_LINE)
        limit = shell.limit;
    bool data = shell.format == FMT_CSV || shell.format == FMT_JSON;
    if (data && is_queryset(L, 1) &&
        !(shell.out == stdout && shell.interactive && isatty(STDOUT_FILENO))) {
        stream_rows(L, 1);
        return 0;
    }
    shell_prelude(L, "grid");
    lua_pushvalue(L, 1);
    lua_pushinteger(L, limit);
    lua_pushboolean(L, shell.format == FMT_CSV || shell.format == FMT_JSON);
    lua_call(L, 3, 2);
    if (lua_istable(L, -2)) {
        output_grid(L, -2);
        return 0;
    }
    size_t len;
    const char *s;
    if (shell.format == FMT_CSV || shell.format == FMT_JSON) {
        output_scalars(L, 1, 1);
        return 0;
    }
    if (lua_type(L, -1) == LUA_TSTRING)
        s = lua_tolstring(L, -1, &len);
    else
        s = luaL_tolstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, s, len);
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    s = lua_tolstring(L, -1, &len);
    shell_page(s, len);
    return 0;
}

void shell_render(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    lua_pushcfunction(L, render);
    lua_pushvalue(L, idx);
    if (shell_docall(L, 1, 0) != LUA_OK)
        shell_report(L);
    lua_settop(L, top);
}
