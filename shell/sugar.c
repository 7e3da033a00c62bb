/*
 * sugar.c -- the `obj:name<...>` sugar and the REPL's persistent locals.
 *
 * Both walk the source with a small Lua lexer that knows exactly what it
 * must skip: short strings with escapes, long strings and long comments
 * (`[==[ ... ]==]`), line comments and numerals.  Everything else is read
 * as names and one-character operators.
 */
#include "sugar.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum tok_kind { T_EOF, T_NAME, T_STRING, T_NUMBER, T_COMMENT, T_OP };

struct tok {
    enum tok_kind kind;
    size_t pos; /* first byte */
    size_t len; /* bytes */
};

struct lexer {
    const char *s;
    size_t len;
    size_t pos;
};

static bool is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int at(const struct lexer *lx, size_t i)
{
    return i < lx->len ? (unsigned char)lx->s[i] : -1;
}

/* If a long bracket `[==[` starts at i, returns its level (number of `=`),
 * else -1. */
static int long_open_level(const struct lexer *lx, size_t i)
{
    if (at(lx, i) != '[')
        return -1;
    size_t j = i + 1;
    int level = 0;
    while (at(lx, j) == '=') {
        level++;
        j++;
    }
    return at(lx, j) == '[' ? level : -1;
}

/* Skips a long bracket of the given level whose `[` is at lx->pos; stops
 * at the end of the text when it is not closed. */
static void skip_long(struct lexer *lx, int level)
{
    lx->pos += (size_t)level + 2;
    while (lx->pos < lx->len) {
        if (lx->s[lx->pos] == ']') {
            size_t j = lx->pos + 1;
            int n = 0;
            while (at(lx, j) == '=') {
                n++;
                j++;
            }
            if (n == level && at(lx, j) == ']') {
                lx->pos = j + 1;
                return;
            }
            lx->pos = j;
        } else {
            lx->pos++;
        }
    }
}

static void skip_short_string(struct lexer *lx)
{
    int quote = lx->s[lx->pos++];
    while (lx->pos < lx->len) {
        int c = (unsigned char)lx->s[lx->pos];
        if (c == '\\') {
            lx->pos += 2;
            continue;
        }
        if (c == '\n' || c == '\r') /* unfinished string: Lua will say */
            return;
        lx->pos++;
        if (c == quote)
            return;
    }
    if (lx->pos > lx->len)
        lx->pos = lx->len;
}

static void skip_number(struct lexer *lx)
{
    const char *expo = "Ee";
    if (at(lx, lx->pos) == '0' &&
        (at(lx, lx->pos + 1) == 'x' || at(lx, lx->pos + 1) == 'X')) {
        expo = "Pp";
        lx->pos += 2;
    }
    for (;;) {
        int c = at(lx, lx->pos);
        if (c > 0 && strchr(expo, c) != NULL) {
            lx->pos++;
            if (at(lx, lx->pos) == '+' || at(lx, lx->pos) == '-')
                lx->pos++;
        } else if (is_name_char(c) || c == '.') {
            lx->pos++;
        } else {
            return;
        }
    }
}

/* Reads the next token, skipping white space. */
static void next(struct lexer *lx, struct tok *t)
{
    while (lx->pos < lx->len) {
        int c = (unsigned char)lx->s[lx->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
            c == '\v')
            lx->pos++;
        else
            break;
    }
    t->pos = lx->pos;
    if (lx->pos >= lx->len) {
        t->kind = T_EOF;
        t->len = 0;
        return;
    }
    int c = (unsigned char)lx->s[lx->pos];
    int level;
    if (c == '-' && at(lx, lx->pos + 1) == '-') {
        t->kind = T_COMMENT;
        lx->pos += 2;
        if ((level = long_open_level(lx, lx->pos)) >= 0) {
            skip_long(lx, level);
        } else {
            while (lx->pos < lx->len && lx->s[lx->pos] != '\n' &&
                   lx->s[lx->pos] != '\r')
                lx->pos++;
        }
    } else if (c == '"' || c == '\'') {
        t->kind = T_STRING;
        skip_short_string(lx);
    } else if ((level = long_open_level(lx, lx->pos)) >= 0) {
        t->kind = T_STRING;
        skip_long(lx, level);
    } else if (is_digit(c) || (c == '.' && is_digit(at(lx, lx->pos + 1)))) {
        t->kind = T_NUMBER;
        skip_number(lx);
    } else if (is_name_start(c)) {
        t->kind = T_NAME;
        while (lx->pos < lx->len && is_name_char((unsigned char)lx->s[lx->pos]))
            lx->pos++;
    } else if (c == ':' && at(lx, lx->pos + 1) == ':') {
        t->kind = T_OP; /* label delimiter `::` */
        lx->pos += 2;
    } else {
        t->kind = T_OP;
        lx->pos++;
    }
    t->len = lx->pos - t->pos;
}

static bool tok_is(const struct lexer *lx, const struct tok *t,
                   const char *word)
{
    size_t n = strlen(word);
    return t->len == n && memcmp(lx->s + t->pos, word, n) == 0;
}

static bool op_is(const struct lexer *lx, const struct tok *t, char c)
{
    return t->kind == T_OP && t->len == 1 && lx->s[t->pos] == c;
}

/* ------------------------------------------------------------------ */
/* The :name<...> sugar                                                */
/* ------------------------------------------------------------------ */

#define MAX_NEST 200

char *shell_sugar_translate(const char *src, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, src, len);
    out[len] = '\0';
    if (out_len != NULL)
        *out_len = len;

    /* Stack of open brackets: '(' '[' '{' or 's' for an open sugar. */
    char stack[MAX_NEST];
    int sp = 0;
    int sugars = 0; /* open sugars on the stack */
    struct lexer lx = {src, len, 0};
    struct tok t;
    for (next(&lx, &t); t.kind != T_EOF; next(&lx, &t)) {
        if (t.kind != T_OP)
            continue;
        char c = src[t.pos];
        if (t.len == 1 && c == ':' && is_name_start(at(&lx, lx.pos))) {
            size_t j = lx.pos;
            while (is_name_char(at(&lx, j)))
                j++;
            if (at(&lx, j) == '<' && sp < MAX_NEST) {
                out[j] = '{';
                stack[sp++] = 's';
                sugars++;
                lx.pos = j + 1;
            }
        } else if (t.len == 1 && (c == '(' || c == '[' || c == '{')) {
            if (sp < MAX_NEST)
                stack[sp++] = c;
        } else if (t.len == 1 && (c == ')' || c == ']' || c == '}')) {
            /* A closer never ends an open sugar: that is Lua's error. */
            if (sp > 0 && stack[sp - 1] != 's')
                sp--;
        } else if (c == '>' && sugars > 0 && sp > 0 && stack[sp - 1] == 's') {
            out[t.pos] = '}';
            sp--;
            sugars--;
        }
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Persistent REPL locals                                              */
/* ------------------------------------------------------------------ */

struct outbuf {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void out_add(struct outbuf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_adds(struct outbuf *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/* Appends the n bytes of rest and hands the text over (the caller owns
 * it; *out_len, when not NULL, gets its length); NULL when out of
 * memory. */
static char *out_finish(struct outbuf *o, const char *rest, size_t n,
                        size_t *out_len)
{
    out_add(o, rest, n);
    if (o->oom) {
        free(o->buf);
        return NULL;
    }
    if (out_len != NULL)
        *out_len = o->len;
    return o->buf;
}

/* ------------------------------------------------------------------ */
/* Explicit nil values in filter arguments                             */
/* ------------------------------------------------------------------ */

/* Whether the name token t opens a watched argument table: a method
 * whose keyword table drops a nil value silently. */
static bool watched_method(const struct lexer *lx, const struct tok *t)
{
    static const char *const names[] = {"filter", "exclude",     "get",
                                        "update", "get_or_none", NULL};
    for (int i = 0; names[i] != NULL; i++)
        if (tok_is(lx, t, names[i]))
            return true;
    return false;
}

char *shell_sugar_nils(const char *src, size_t len, size_t *out_len)
{
    struct outbuf o = {0};
    out_add(&o, "", 0);
    /* per open bracket: whether it is a watched argument table */
    bool watched[MAX_NEST];
    int sp = 0;
    struct tok prev[3] = {{T_EOF, 0, 0}, {T_EOF, 0, 0}, {T_EOF, 0, 0}};
    struct lexer lx = {src, len, 0};
    size_t copied = 0;
    struct tok t;
    for (next(&lx, &t); t.kind != T_EOF; next(&lx, &t)) {
        if (t.kind == T_COMMENT)
            continue;
        if (t.kind == T_OP && t.len == 1 &&
            (src[t.pos] == '(' || src[t.pos] == '[' || src[t.pos] == '{')) {
            /* `:filter{`, `:filter({`, `Q{`, `Q({` */
            struct tok *p = &prev[0], *pp = &prev[1];
            if (p->kind == T_OP && src[p->pos] == '(' && sp > 0)
                p = &prev[1], pp = &prev[2];
            bool w = src[t.pos] == '{' && p->kind == T_NAME &&
                     ((watched_method(&lx, p) && pp->kind == T_OP &&
                       src[pp->pos] == ':') ||
                      tok_is(&lx, p, "Q"));
            if (sp < MAX_NEST)
                watched[sp++] = w;
        } else if (t.kind == T_OP && t.len == 1 &&
                   (src[t.pos] == ')' || src[t.pos] == ']' ||
                    src[t.pos] == '}')) {
            if (sp > 0)
                sp--;
        } else if (t.kind == T_NAME && tok_is(&lx, &t, "nil") && sp > 0 &&
                   watched[sp - 1] && prev[0].kind == T_OP &&
                   src[prev[0].pos] == '=' && prev[1].kind == T_NAME &&
                   prev[2].kind == T_OP &&
                   strchr("{,;", src[prev[2].pos]) != NULL) {
            /* `key = nil` followed by , ; or } */
            struct lexer ahead = lx;
            struct tok n;
            do
                next(&ahead, &n);
            while (n.kind == T_COMMENT);
            if (n.kind == T_OP && strchr(",;}", src[n.pos]) != NULL) {
                out_add(&o, src + copied, t.pos - copied);
                out_adds(&o, "orm._nil_arg(\"");
                out_add(&o, src + prev[1].pos, prev[1].len);
                out_adds(&o, "\")");
                copied = t.pos + t.len;
            }
        }
        prev[2] = prev[1];
        prev[1] = prev[0];
        prev[0] = t;
    }
    return out_finish(&o, src + copied, len - copied, out_len);
}

#define MAX_NAMES 64

/* Parses a local statement's name list after `local` (lx just past it).
 * Fills names[] (token positions), *end (byte just after the list) and
 * *has_eq; returns the count, or -1 when it must not be rewritten
 * (attribs, malformed).  Leaves lx after the list. */
/* Parses the names of a local declaration, each maybe with <const> (a
 * <close> variable keeps Lua's own scope: -1); *end is where the list
 * ends, *attrs whether some name had an attribute (the caller then
 * writes the names without them). */
static int parse_namelist(struct lexer *lx, struct tok *names, size_t *end,
                          bool *has_eq, bool *attrs)
{
    int n = 0;
    struct tok t;
    *attrs = false;
    for (;;) {
        next(lx, &t);
        if (t.kind != T_NAME || n == MAX_NAMES)
            return -1;
        names[n++] = t;
        *end = lx->pos;
        size_t save = lx->pos;
        next(lx, &t);
        if (op_is(lx, &t, '<')) { /* an attribute: <const> */
            struct tok a, gt;
            next(lx, &a);
            next(lx, &gt);
            if (a.kind != T_NAME || !tok_is(lx, &a, "const") ||
                !op_is(lx, &gt, '>'))
                return -1;
            *attrs = true;
            *end = lx->pos;
            save = lx->pos;
            next(lx, &t);
        }
        if (op_is(lx, &t, ','))
            continue;
        *has_eq = op_is(lx, &t, '=') && at(lx, t.pos + 1) != '=';
        lx->pos = save;
        return n;
    }
}

static bool is_reserved(const struct lexer *lx, const struct tok *t)
{
    static const char *const words[] = {
        "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
        "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
        "repeat",   "return", "then", "true", "until",  "while", NULL};
    for (int i = 0; words[i] != NULL; i++)
        if (tok_is(lx, t, words[i]))
            return true;
    return false;
}

static void emit_decl(struct outbuf *o, const struct lexer *lx,
                      const struct tok *names, int n)
{
    out_adds(o, ";" SHELL_LOCAL_FN "(");
    for (int i = 0; i < n; i++) {
        if (i > 0)
            out_adds(o, ",");
        out_adds(o, "\"");
        out_add(o, lx->s + names[i].pos, names[i].len);
        out_adds(o, "\"");
    }
    out_adds(o, ")");
}

char *shell_sugar_locals(const char *src, size_t len, size_t *out_len)
{
    struct outbuf o = {NULL, 0, 0, false};
    struct lexer lx = {src, len, 0};
    struct tok t, names[MAX_NAMES];
    size_t copied = 0; /* src[0..copied) already in o */
    int block = 0;     /* function/if/do/repeat nesting */
    int brackets = 0;  /* ( [ { nesting */

    out_add(&o, "", 0);
    for (next(&lx, &t); t.kind != T_EOF; next(&lx, &t)) {
        if (t.kind == T_OP && t.len == 1) {
            char c = src[t.pos];
            if (c == '(' || c == '[' || c == '{')
                brackets++;
            else if ((c == ')' || c == ']' || c == '}') && brackets > 0)
                brackets--;
            continue;
        }
        if (t.kind != T_NAME)
            continue;
        if (tok_is(&lx, &t, "function") || tok_is(&lx, &t, "if") ||
            tok_is(&lx, &t, "do") || tok_is(&lx, &t, "repeat")) {
            block++;
            continue;
        }
        if (tok_is(&lx, &t, "end") || tok_is(&lx, &t, "until")) {
            if (block > 0)
                block--;
            continue;
        }
        if (!tok_is(&lx, &t, "local") || block > 0 || brackets > 0)
            continue;

        struct tok local = t;
        size_t after_local = lx.pos;
        next(&lx, &t);
        if (t.kind == T_NAME && tok_is(&lx, &t, "function")) {
            struct tok fname;
            next(&lx, &fname);
            if (fname.kind != T_NAME || is_reserved(&lx, &fname)) {
                lx.pos = after_local;
                continue;
            }
            out_add(&o, src + copied, local.pos - copied);
            emit_decl(&o, &lx, &fname, 1);
            copied = local.pos + local.len;
            lx.pos = t.pos + t.len; /* after `function`: count its block */
            block++;
            continue;
        }
        lx.pos = after_local;
        size_t end = 0;
        bool has_eq = false, attrs = false;
        int n = parse_namelist(&lx, names, &end, &has_eq, &attrs);
        bool ok = n > 0;
        for (int i = 0; ok && i < n; i++)
            ok = !is_reserved(&lx, &names[i]);
        if (!ok) {
            lx.pos = after_local;
            continue;
        }
        out_add(&o, src + copied, local.pos - copied);
        emit_decl(&o, &lx, names, n);
        copied = local.pos + local.len;
        if (attrs) { /* the names without their <const>: a REPL variable */
            for (int i = 0; i < n; i++) {
                out_adds(&o, i ? ", " : " ");
                out_add(&o, src + names[i].pos, names[i].len);
            }
            copied = end;
        }
        if (!has_eq) {
            out_add(&o, src + copied, end - copied);
            out_adds(&o, " =");
            for (int i = 0; i < n; i++)
                out_adds(&o, i ? ", nil" : " nil");
            copied = end;
        }
        lx.pos = end;
    }
    return out_finish(&o, src + copied, len - copied, out_len);
}

char *shell_sugar_rewrite(const char *src, size_t len, size_t *out_len)
{
    size_t n = 0;
    char *sugared = shell_sugar_translate(src, len, &n);
    if (sugared == NULL)
        return NULL;
    char *out = shell_sugar_nils(sugared, n, out_len);
    free(sugared);
    return out;
}
