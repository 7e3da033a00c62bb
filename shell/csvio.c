/*
 * csvio.c -- CSV for .import, .export and the csv output format, through
 * libcsv: a streaming reader that knows each record's line number, the
 * writer of one field, and the progress bar of long imports and exports.
 *
 * The reader is Lua userdata (testudo.CsvReader) for the prelude:
 * r:next() -> fields, line (fields[i] a string, or false for an empty
 * unquoted field; nil at the end of the file), r:progress() -> bytes read,
 * file size (nil when not a regular file), r:close().
 */
#include "shell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>
#include <lauxlib.h>

#define READER_MT "testudo.CsvReader"

struct field {
    char *s; /* NULL: empty and unquoted */
    size_t len;
};

struct record {
    struct field *f;
    size_t n, cap;
    long line; /* the line it starts on */
};

struct reader {
    FILE *fp;
    struct csv_parser p;
    bool parser_live;
    bool eof;
    long line;     /* lines fed so far */
    long rec_line; /* where the record being parsed starts */
    long long bytes, size;
    char *buf; /* getline's */
    size_t bufcap;
    struct record cur;    /* being parsed */
    struct record *queue; /* complete, not yet taken */
    size_t qhead, qlen, qcap;
    bool oom;
};

static void record_clear(struct record *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i].s);
    free(r->f);
    memset(r, 0, sizeof *r);
}

/* libcsv: a field ended. */
static void on_field(void *s, size_t len, void *data)
{
    struct reader *rd = data;
    struct record *r = &rd->cur;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct field *nf = realloc(r->f, cap * sizeof *nf);
        if (nf == NULL) {
            rd->oom = true;
            return;
        }
        r->f = nf;
        r->cap = cap;
    }
    struct field *f = &r->f[r->n];
    f->len = len;
    f->s = NULL;
    if (s != NULL) {
        f->s = malloc(len + 1);
        if (f->s == NULL) {
            rd->oom = true;
            return;
        }
        memcpy(f->s, s, len);
        f->s[len] = '\0';
    }
    r->n++;
}

/* libcsv: a record ended; it joins the queue. */
static void on_record(int c, void *data)
{
    (void)c;
    struct reader *rd = data;
    if (rd->qlen == rd->qcap) {
        if (rd->qhead > 0) {
            memmove(rd->queue, rd->queue + rd->qhead,
                    (rd->qlen - rd->qhead) * sizeof *rd->queue);
            rd->qlen -= rd->qhead;
            rd->qhead = 0;
        }
        if (rd->qlen == rd->qcap) {
            size_t cap = rd->qcap ? rd->qcap * 2 : 8;
            struct record *nq = realloc(rd->queue, cap * sizeof *nq);
            if (nq == NULL) {
                rd->oom = true;
                record_clear(&rd->cur);
                return;
            }
            rd->queue = nq;
            rd->qcap = cap;
        }
    }
    rd->cur.line = rd->rec_line;
    rd->queue[rd->qlen++] = rd->cur;
    memset(&rd->cur, 0, sizeof rd->cur);
}

/* Nothing is trimmed: a field's spaces are its own (as Python's csv). */
static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static struct reader *check_reader(lua_State *L)
{
    struct reader *rd = luaL_checkudata(L, 1, READER_MT);
    if (rd->fp == NULL && !rd->eof)
        luaL_error(L, "the CSV file is closed");
    return rd;
}

static void reader_close(struct reader *rd)
{
    if (rd->fp != NULL)
        fclose(rd->fp);
    rd->fp = NULL;
    if (rd->parser_live)
        csv_free(&rd->p);
    rd->parser_live = false;
    record_clear(&rd->cur);
    for (size_t i = rd->qhead; i < rd->qlen; i++)
        record_clear(&rd->queue[i]);
    free(rd->queue);
    rd->queue = NULL;
    rd->qhead = rd->qlen = rd->qcap = 0;
    free(rd->buf);
    rd->buf = NULL;
}

/* Raises the parser's error, naming the line. */
static int parse_error(lua_State *L, struct reader *rd)
{
    long line = rd->line, start = rd->rec_line;
    int e = csv_error(&rd->p);
    bool oom = rd->oom || e == CSV_ENOMEM || e == CSV_ETOOBIG;
    if (oom)
        return luaL_error(L, "line %d: not enough memory", (int)line);
    if (rd->eof)
        return luaL_error(L,
                          "line %d: a quoted field that starts on line %d "
                          "is never closed",
                          (int)line, (int)start);
    return luaL_error(L,
                      "line %d: malformed CSV (a quote inside an unquoted "
                      "field, or text after a closing quote)",
                      (int)line);
}

/* Feeds lines to the parser until a record is queued or the file ends. */
static void fill(lua_State *L, struct reader *rd)
{
    while (rd->qhead == rd->qlen && !rd->eof) {
        errno = 0;
        ssize_t n = getline(&rd->buf, &rd->bufcap, rd->fp);
        if (n < 0) {
            if (ferror(rd->fp))
                luaL_error(L, "cannot read the CSV file: %s", strerror(errno));
            rd->eof = true;
            if (csv_fini(&rd->p, on_field, on_record, rd) != 0 || rd->oom)
                parse_error(L, rd);
            break;
        }
        rd->line++;
        rd->bytes += n;
        bool blank = strspn(rd->buf, "\r\n") == (size_t)n;
        if (rd->p.pstate == 0 && !blank) /* libcsv: ROW_NOT_BEGUN */
            rd->rec_line = rd->line;
        if (csv_parse(&rd->p, rd->buf, (size_t)n, on_field, on_record, rd) !=
                (size_t)n ||
            rd->oom)
            parse_error(L, rd);
    }
}

static int reader_next(lua_State *L)
{
    struct reader *rd = check_reader(L);
    if (rd->fp != NULL)
        fill(L, rd);
    if (rd->qhead == rd->qlen) {
        lua_pushnil(L);
        return 1;
    }
    struct record *r = &rd->queue[rd->qhead];
    lua_createtable(L, (int)r->n, 0);
    for (size_t i = 0; i < r->n; i++) {
        if (r->f[i].s == NULL)
            lua_pushboolean(L, 0);
        else
            lua_pushlstring(L, r->f[i].s, r->f[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, r->line);
    record_clear(r);
    rd->qhead++;
    return 2;
}

static int reader_progress(lua_State *L)
{
    struct reader *rd = luaL_checkudata(L, 1, READER_MT);
    lua_pushinteger(L, rd->bytes);
    if (rd->size >= 0)
        lua_pushinteger(L, rd->size);
    else
        lua_pushnil(L);
    return 2;
}

static int reader_gc(lua_State *L)
{
    reader_close(luaL_checkudata(L, 1, READER_MT));
    return 0;
}

/* csv_open(path) -> reader, or raises "cannot open PATH: reason". */
static int csv_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct reader *rd = lua_newuserdatauv(L, sizeof *rd, 0);
    memset(rd, 0, sizeof *rd);
    rd->size = -1;
    if (luaL_getmetatable(L, READER_MT) == LUA_TNIL) {
        lua_pop(L, 1);
        luaL_newmetatable(L, READER_MT);
        static const luaL_Reg methods[] = {{"next", reader_next},
                                           {"progress", reader_progress},
                                           {"close", reader_gc},
                                           {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    rd->fp = fopen(path, "r");
    if (rd->fp == NULL)
        return luaL_error(L, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(rd->fp), &st) == 0 && S_ISREG(st.st_mode))
        rd->size = (long long)st.st_size;
    if (csv_init(&rd->p, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0)
        return luaL_error(L, "not enough memory");
    rd->parser_live = true;
    csv_set_space_func(&rd->p, no_space);
    return 1;
}

void shell_csv_field(FILE *f, const char *s, size_t n, bool null)
{
    if (null)
        return;
    bool quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (quote)
        csv_fwrite(f, s, n);
    else
        fwrite(s, 1, n, f);
}

/* progress(done, total, unit): a bar on stderr when it is a terminal,
 * redrawn at most ten times a second; progress() clears it. */
static int progress(lua_State *L)
{
    static struct timespec last;
    static bool drawn;
    if (!isatty(STDERR_FILENO))
        return 0;
    if (lua_isnoneornil(L, 1)) {
        if (drawn)
            fputs("\r\033[K", stderr);
        drawn = false;
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double since = (double)(now.tv_sec - last.tv_sec) +
                   (double)(now.tv_nsec - last.tv_nsec) / 1e9;
    if (drawn && since < 0.1)
        return 0;
    last = now;
    drawn = true;
    double done = luaL_checknumber(L, 1);
    double total = luaL_optnumber(L, 2, 0);
    const char *what = luaL_optstring(L, 3, "");
    int cols = 80, rows = 24;
    shell_term_size(&rows, &cols);
    if (total > 0) {
        double frac = done / total > 1 ? 1 : done / total;
        int width = cols > 60 ? 30 : 10;
        int fill = (int)(frac * width);
        fputs("\r[", stderr);
        for (int i = 0; i < width; i++)
            fputc(i < fill ? '#' : ' ', stderr);
        fprintf(stderr, "] %3d%% %s\033[K", (int)(frac * 100), what);
    } else {
        fprintf(stderr, "\r%s\033[K", what);
    }
    fflush(stderr);
    return 0;
}

/* interrupted() -> whether Ctrl-C was pressed since the statement began. */
static int interrupted(lua_State *L)
{
    lua_pushboolean(L, shell_sigint_pending());
    return 1;
}

static int stderr_tty(lua_State *L)
{
    lua_pushboolean(L, isatty(STDERR_FILENO));
    return 1;
}

void shell_csv_setup(lua_State *L, int prelude)
{
    prelude = lua_absindex(L, prelude);
    lua_pushcfunction(L, interrupted);
    lua_setfield(L, prelude, "interrupted");
    lua_pushcfunction(L, stderr_tty);
    lua_setfield(L, prelude, "stderr_tty");
    lua_pushcfunction(L, csv_open);
    lua_setfield(L, prelude, "csv_open");
    lua_pushcfunction(L, shell_csv_grid);
    lua_setfield(L, prelude, "csv_grid");
    lua_pushcfunction(L, progress);
    lua_setfield(L, prelude, "progress");
}
