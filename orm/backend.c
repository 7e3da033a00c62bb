/*
 * backend.c -- named connections over the drivers (backend_*.c): URL
 * parsing, lazy opening, statement execution with parameter conversion
 * through the dialect, tracing, transactions with savepoints, result
 * cursors, and the query shortcuts (compile, then run).
 */
#include "tdo_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

/* Every driver, found by URL scheme.  A new backend is one line here. */
static const tdo_backend *const backends[] = {
    &tdo_backend_sqlite,
    &tdo_backend_pg,
    &tdo_backend_mysql,
    NULL,
};

/* The URL schemes testudo knows and the engine (a driver's name) each
 * names: each engine's own name first, then its aliases (Tortoise's
 * among them).  The one list of schemes: the shell, the bindings, --help
 * and the man pages take theirs from here. */
static const struct {
    const char *scheme, *engine;
} url_schemes[] = {
    {"sqlite", "sqlite"},     {"sqlite3", "sqlite"},
    {"postgres", "postgres"}, {"postgresql", "postgres"},
    {"asyncpg", "postgres"},  {"psycopg", "postgres"},
    {"psycopg2", "postgres"}, {"pg", "postgres"},
    {"mysql", "mysql"},       {"mariadb", "mysql"},
    {"asyncmy", "mysql"},     {"aiomysql", "mysql"},
};

/* The engine of a URL scheme (case-insensitive), or NULL; static. */
const char *tdo_url_engine(const char *scheme, size_t len)
{
    for (size_t i = 0; i < sizeof url_schemes / sizeof *url_schemes; i++)
        if (strlen(url_schemes[i].scheme) == len &&
            strncasecmp(url_schemes[i].scheme, scheme, len) == 0)
            return url_schemes[i].engine;
    return NULL;
}

/* The i-th known URL scheme, or NULL past the end; static. */
const char *tdo_url_scheme(size_t i)
{
    return i < sizeof url_schemes / sizeof *url_schemes ? url_schemes[i].scheme
                                                        : NULL;
}

/* ---- URLs ----------------------------------------------------------- */

/* Releases what a parsed URL owns and zeroes it. */
void tdo_dsn_release(tdo_dsn *d)
{
    tdo_free(d->scheme);
    tdo_free(d->user);
    tdo_free(d->password);
    tdo_free(d->host);
    tdo_free(d->database);
    for (size_t i = 0; i < d->nparams; i++) {
        tdo_free(d->keys[i]);
        tdo_free(d->vals[i]);
    }
    tdo_free(d->keys);
    tdo_free(d->vals);
    memset(d, 0, sizeof(*d));
}

/* Returns a malloc'd, percent-decoded copy of len bytes of s ('+' stays
 * itself except in query strings, where plus is true). */
static char *decode(const char *s, size_t len, bool plus)
{
    char *out = tdo_malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else if (plus && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Returns the value of query parameter key of dsn, or NULL. */
const char *tdo_dsn_param(const tdo_dsn *dsn, const char *key)
{
    for (size_t i = 0; i < dsn->nparams; i++)
        if (strcmp(dsn->keys[i], key) == 0)
            return dsn->vals[i];
    return NULL;
}

static tdo_status bad_url(tdo_error *err, const char *fmt, ...)
    TDO_PRINTF(2, 3);

static tdo_status bad_url(tdo_error *err, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tdo_error_set(err, TDO_ERR_CONFIGURATION, "bad database URL: %s",
                         why);
}

/* Whether a query parameter carries a secret (its value is masked). */
/* Where the user info of a server URL's rest (after "://") ends: at its
 * last '@', since a password may hold '/', '?', '#' and '@' unencoded;
 * NULL when there is none. */
static const char *userinfo_end(const char *rest)
{
    return strrchr(rest, '@');
}

static bool secret_key(const char *key, size_t len)
{
    static const char *const words[] = {"password", "passwd", "pwd",
                                        "secret",   "token",  NULL};
    for (size_t i = 0; words[i]; i++) {
        size_t n = strlen(words[i]);
        for (size_t j = 0; j + n <= len; j++)
            if (strncasecmp(key + j, words[i], n) == 0)
                return true;
    }
    return false;
}

static tdo_status parse_query(const char *q, tdo_dsn *d, tdo_error *err)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        if (len) {
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            char **k = tdo_realloc(d->keys, (d->nparams + 1) * sizeof(char *));
            if (!k)
                return tdo_nomem(err);
            d->keys = k;
            char **v = tdo_realloc(d->vals, (d->nparams + 1) * sizeof(char *));
            if (!v)
                return tdo_nomem(err);
            d->vals = v;
            char *key = decode(q, klen, true);
            char *val =
                eq ? decode(eq + 1, len - klen - 1, true) : tdo_strdup("");
            if (!key || !val) {
                tdo_free(key);
                tdo_free(val);
                return tdo_nomem(err);
            }
            d->keys[d->nparams] = key;
            d->vals[d->nparams++] = val;
        }
        q += len;
        if (*q)
            q++;
    }
    return TDO_OK;
}

static bool parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > 1000000000)
        return false;
    *out = (int)v;
    return true;
}

/* Copies len bytes of s, cut to 40 with "..." (for messages). */
static void shorten(char *buf, size_t cap, const char *s, size_t len)
{
    if (len + 1 > cap)
        snprintf(buf, cap, "%.*s...", (int)(cap - 4), s);
    else
        snprintf(buf, cap, "%.*s", (int)len, s);
}

/* Parses scheme://[user[:password]@]host[:port][/database][?k=v&...]; for
 * sqlite everything between :// and ? is the path.  The host may be
 * [IPv6], or a percent-encoded socket directory (%2Fvar%2Frun%2F...). */
tdo_status tdo_dsn_parse(const char *url, tdo_dsn *d, tdo_error *err)
{
    memset(d, 0, sizeof(*d));
    d->minsize = 1;
    d->maxsize = 5;
    d->connect_timeout = TDO_CONNECT_TIMEOUT;
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return bad_url(err, "expected scheme://... (such as "
                            "sqlite://:memory: or postgres://user@host/db)");
    for (const char *p = url; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return bad_url(err, "invalid scheme (letters, digits, '+', '-' "
                                "and '.' only)");
    if (!(d->scheme = tdo_strndup(url, (size_t)(sep - url))))
        return tdo_nomem(err);
    for (char *p = d->scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *rest = sep + 3;
    const char *engine = tdo_url_engine(d->scheme, strlen(d->scheme));
    bool sqlite = engine && strcmp(engine, "sqlite") == 0;
    const char *at = sqlite ? NULL : userinfo_end(rest);
    const char *qm = strchr(at ? at : rest, '?');
    size_t restlen = qm ? (size_t)(qm - rest) : strlen(rest);
    tdo_status st;
    if (qm && (st = parse_query(qm + 1, d, err)))
        return st;
    if (sqlite) {
        if (!restlen)
            return bad_url(err, "sqlite URL needs a file path or :memory:");
        if (!(d->database = decode(rest, restlen, false)))
            return tdo_nomem(err);
    } else {
        char buf[48];
        const char *host = at ? at + 1 : rest;
        const char *slash = memchr(host, '/', (size_t)(rest + restlen - host));
        size_t netlen = slash ? (size_t)(slash - rest) : restlen;
        if (at) {
            const char *colon = memchr(rest, ':', (size_t)(at - rest));
            size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
            if (ulen && !(d->user = decode(rest, ulen, false)))
                return tdo_nomem(err);
            if (colon && !(d->password = decode(
                               colon + 1, (size_t)(at - colon - 1), false)))
                return tdo_nomem(err);
            host = at + 1;
        }
        size_t hlen = (size_t)(rest + netlen - host);
        const char *pcolon = NULL;
        if (hlen && host[0] == '[') {
            const char *rb = memchr(host, ']', hlen);
            if (!rb)
                return bad_url(err, "unclosed '[' in the host");
            if ((size_t)(rb - host) + 1 < hlen) {
                if (rb[1] != ':')
                    return bad_url(err, "unexpected text after ']' in the "
                                        "host");
                pcolon = rb + 1;
            }
            if (rb == host + 1)
                return bad_url(err, "empty IPv6 address in '[]'");
            if (!(d->host = tdo_strndup(host + 1, (size_t)(rb - host - 1))))
                return tdo_nomem(err);
        } else {
            for (size_t i = 0; i < hlen; i++)
                if (host[i] == ':')
                    pcolon = host + i;
            size_t n = pcolon ? (size_t)(pcolon - host) : hlen;
            if (n && !(d->host = decode(host, n, false)))
                return tdo_nomem(err);
        }
        if (pcolon) {
            size_t plen = (size_t)(rest + netlen - pcolon - 1);
            char port[16];
            shorten(buf, sizeof(buf), pcolon + 1, plen);
            if (plen == 0)
                return bad_url(err, "empty port after ':'");
            bool bad = plen >= sizeof(port);
            if (!bad) {
                memcpy(port, pcolon + 1, plen);
                port[plen] = '\0';
                bad = !parse_int(port, &d->port) || d->port < 1 ||
                      d->port > 65535;
            }
            /* without user info, "user:word" may be a password with no
             * '@' after it: never quoted */
            if (bad && !at)
                return bad_url(err, "invalid port (1 to 65535) after the "
                                    "host, or a password without '@'");
            if (bad)
                return bad_url(err, "invalid port '%s' (1 to 65535)", buf);
        }
        if (slash && restlen > netlen + 1 &&
            !(d->database = decode(slash + 1, restlen - netlen - 1, false)))
            return tdo_nomem(err);
        /* user, password and database may come as parameters too */
        const char *v;
        if (!d->user && (v = tdo_dsn_param(d, "user")) &&
            !(d->user = tdo_strdup(v)))
            return tdo_nomem(err);
        if (!d->password && (v = tdo_dsn_param(d, "password")) &&
            !(d->password = tdo_strdup(v)))
            return tdo_nomem(err);
        if (!d->database &&
            ((v = tdo_dsn_param(d, "database")) ||
             (v = tdo_dsn_param(d, "dbname"))) &&
            !(d->database = tdo_strdup(v)))
            return tdo_nomem(err);
        if (!d->database || !*d->database)
            return bad_url(err,
                           "missing database name (%s://user@host/"
                           "DATABASE)",
                           d->scheme);
    }
    const char *v;
    if ((v = tdo_dsn_param(d, "minsize")) && !parse_int(v, &d->minsize))
        return bad_url(err, "minsize must be a non-negative integer");
    if ((v = tdo_dsn_param(d, "maxsize")) &&
        (!parse_int(v, &d->maxsize) || d->maxsize < 1))
        return bad_url(err, "maxsize must be a positive integer");
    if (d->minsize > d->maxsize)
        return bad_url(err, "minsize (%d) is larger than maxsize (%d)",
                       d->minsize, d->maxsize);
    if ((v = tdo_dsn_param(d, "connect_timeout")) &&
        !parse_int(v, &d->connect_timeout))
        return bad_url(err, "connect_timeout must be a whole number of "
                            "seconds");
    if ((v = tdo_dsn_param(d, "statement_timeout")) &&
        !parse_int(v, &d->statement_timeout))
        return bad_url(err, "statement_timeout must be a whole number of "
                            "milliseconds");
    return TDO_OK;
}

/* The byte ranges of url that hold secrets: the password of the user info
 * (whatever it holds, parsable or not) and the values of password-like
 * query parameters; at most max of them into spans ([i][0] start, [i][1]
 * end); returns how many there are. */
size_t tdo_url_secrets(const char *url, size_t (*spans)[2], size_t max)
{
    size_t n = 0;
    const char *sep = strstr(url, "://");
    if (!sep)
        return 0;
    const char *rest = sep + 3;
    /* the parser's rule: only an SQLite URL has no user info */
    const char *engine = tdo_url_engine(url, (size_t)(sep - url));
    bool sqlite = engine && strcmp(engine, "sqlite") == 0;
    const char *at = sqlite ? NULL : userinfo_end(rest);
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon && n < max) {
            spans[n][0] = (size_t)(colon + 1 - url);
            spans[n][1] = (size_t)(at - url);
        }
        n += colon != NULL;
    }
    const char *q = strchr(at ? at : rest, '?');
    while (q && *q) {
        q++;
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (eq && secret_key(q, (size_t)(eq - q))) {
            if (n < max) {
                spans[n][0] = (size_t)(eq + 1 - url);
                spans[n][1] = (size_t)(q + len - url);
            }
            n++;
        }
        q += len;
    }
    return n;
}

/* Returns a malloc'd copy of url with every secret (tdo_url_secrets)
 * replaced by "***". */
char *tdo_url_mask(const char *url)
{
    size_t spans[16][2];
    size_t n = tdo_url_secrets(url, spans, 16);
    tdo_sb sb = TDO_SB_INIT;
    size_t pos = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        tdo_sb_add(&sb, url + pos, spans[i][0] - pos);
        tdo_sb_adds(&sb, "***");
        pos = spans[i][1];
    }
    if (n > 16) { /* more secrets than spans: show nothing after them */
        tdo_sb_adds(&sb, "***");
        return tdo_sb_detach(&sb);
    }
    tdo_sb_adds(&sb, url + pos);
    return tdo_sb_detach(&sb);
}

/* ConfigurationError for a URL parameter that neither the core nor the
 * driver knows (a typo would otherwise be ignored without a word). */
static tdo_status check_params(const tdo_backend *be, const tdo_dsn *d,
                               tdo_error *err)
{
    static const char *const core[] = {"minsize", "maxsize", "connect_timeout",
                                       "statement_timeout", NULL};
    for (size_t i = 0; i < d->nparams; i++) {
        bool known = be->param_known && be->param_known(d->keys[i]);
        for (size_t j = 0; !known && core[j]; j++)
            known = strcmp(d->keys[i], core[j]) == 0;
        if (!known) {
            char key[48];
            shorten(key, sizeof(key), d->keys[i], strlen(d->keys[i]));
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "unknown %s URL parameter '%s' (see "
                                 "testudo(1), DATABASE URLS)",
                                 be->name, key);
        }
    }
    return TDO_OK;
}

static const tdo_backend *find_backend(const char *scheme)
{
    const char *engine = tdo_url_engine(scheme, strlen(scheme));
    for (size_t i = 0; engine && backends[i]; i++)
        if (strcmp(backends[i]->name, engine) == 0)
            return backends[i];
    return NULL;
}

/* ---- connections and their pools -------------------------------------- */

struct tdo_session {
    const tdo_backend *be;
    void *db;    /* driver session; NULL once closed */
    int refs;    /* the pool's reference plus one per cursor */
    int cursors; /* open cursors reading from it */
};

static void session_unref(tdo_session *s)
{
    if (s && --s->refs == 0) {
        if (s->db)
            s->be->close(s->db);
        tdo_free(s);
    }
}

/* Closes s's driver session (cursors keep their statements) and drops
 * the pool's reference. */
static void session_drop(tdo_session *s)
{
    if (s->db) {
        s->be->close(s->db);
        s->db = NULL;
    }
    session_unref(s);
}

static bool session_broken(const tdo_conn *c, const tdo_session *s)
{
    return !s->db || (c->backend->is_broken && c->backend->is_broken(s->db));
}

/* Takes s out of c's pool and closes it. */
static void pool_remove(tdo_conn *c, size_t i)
{
    tdo_session *s = c->sessions[i];
    memmove(c->sessions + i, c->sessions + i + 1,
            (c->nsessions - i - 1) * sizeof(*c->sessions));
    c->nsessions--;
    if (c->pinned == s)
        c->pinned = NULL;
    if (c->db == s->db)
        c->db = NULL;
    session_drop(s);
}

/* Closes every session of c; the pool stays configured. */
void tdo_conn_close_sessions(tdo_conn *c)
{
    if (!c)
        return;
    while (c->nsessions)
        pool_remove(c, c->nsessions - 1);
    c->pinned = NULL;
    c->db = NULL;
    c->tx_depth = 0;
}

static void conn_free(tdo_conn *c)
{
    if (!c)
        return;
    tdo_conn_close_sessions(c);
    tdo_free(c->sessions);
    tdo_dsn_release(&c->dsn);
    tdo_free(c->name);
    tdo_free(c->url);
    tdo_free(c);
}

/* The most sessions c may hold. */
static size_t pool_limit(const tdo_conn *c)
{
    size_t lim = c->dsn.maxsize > 0 ? (size_t)c->dsn.maxsize : 1;
    if (c->backend->max_sessions > 0 && (size_t)c->backend->max_sessions < lim)
        lim = (size_t)c->backend->max_sessions;
    return lim;
}

/* Opens one more session into c's pool; *out is it. */
static tdo_status pool_open(tdo_conn *c, tdo_session **out, tdo_error *err)
{
    *out = NULL;
    if (c->nsessions == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 4;
        tdo_session **ns = tdo_realloc(c->sessions, ncap * sizeof(*ns));
        if (!ns)
            return tdo_nomem(err);
        c->sessions = ns;
        c->cap = ncap;
    }
    tdo_session *s = tdo_calloc(1, sizeof(*s));
    if (!s)
        return tdo_nomem(err);
    s->be = c->backend;
    s->refs = 1;
    tdo_status st = c->backend->connect(&c->dsn, &s->db, err);
    if (st) {
        tdo_free(s);
        return st;
    }
    c->sessions[c->nsessions++] = s;
    c->nopened++;
    *out = s;
    return TDO_OK;
}

static tdo_status lost_in_tx(tdo_conn *c, tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "the connection to the database of '%s' was lost "
                         "inside a transaction; roll it back (nothing was "
                         "retried)",
                         c->name);
}

/* Picks the session for c's next statement: the pinned one inside a
 * transaction (lost: OperationalError, never a silent reconnect); else an
 * idle one (broken idle sessions are closed first), a new one while the
 * pool has room (the first use opens minsize), else the least busy. */
static tdo_status pool_acquire(tdo_conn *c, tdo_session **out, tdo_error *err)
{
    *out = NULL;
    if (c->tx_depth > 0) {
        if (!c->pinned || session_broken(c, c->pinned))
            return lost_in_tx(c, err);
        c->db = c->pinned->db;
        *out = c->pinned;
        return TDO_OK;
    }
    for (size_t i = c->nsessions; i-- > 0;)
        if (c->sessions[i]->cursors == 0 && session_broken(c, c->sessions[i]))
            pool_remove(c, i);
    tdo_session *best = NULL;
    for (size_t i = 0; i < c->nsessions; i++) {
        tdo_session *s = c->sessions[i];
        if (!best || s->cursors < best->cursors)
            best = s;
    }
    size_t lim = pool_limit(c);
    if (!best || (best->cursors > 0 && c->nsessions < lim)) {
        bool first = c->nsessions == 0;
        tdo_status st = pool_open(c, &best, err);
        if (st)
            return st;
        size_t want =
            (size_t)c->dsn.minsize < lim ? (size_t)c->dsn.minsize : lim;
        while (first && c->nsessions < want) {
            tdo_session *extra;
            if ((st = pool_open(c, &extra, err)))
                return st;
        }
    }
    c->db = best->db;
    *out = best;
    return TDO_OK;
}

/* Opens a session of c now when none is open (the URL, the server and
 * the credentials are checked at once instead of at the first query). */
tdo_status tdo_conn_open(tdo_conn *c, tdo_error *err)
{
    tdo_session *s;
    return pool_acquire(c, &s, err);
}

/* The pool of c: bounds, sessions open and busy. */
void tdo_conn_pool_stats(const tdo_conn *c, int *minsize, int *maxsize,
                         int *open, int *busy)
{
    int nbusy = 0;
    for (size_t i = 0; i < c->nsessions; i++)
        if (c->sessions[i]->cursors > 0 || c->sessions[i] == c->pinned)
            nbusy++;
    if (minsize)
        *minsize = c->dsn.minsize;
    if (maxsize)
        *maxsize = (int)pool_limit(c);
    if (open)
        *open = (int)c->nsessions;
    if (busy)
        *busy = nbusy;
}

/* Parses url and registers the connection name (closing and replacing an
 * existing one); sessions open on first use.  *out belongs to ctx. */
tdo_status tdo_connect(tdo_ctx *ctx, const char *name, const char *url,
                       tdo_conn **out, tdo_error *err)
{
    if (out)
        *out = NULL;
    if (!name || !*name)
        name = "default";
    if (!url || !*url)
        return bad_url(err, "empty URL");
    tdo_conn *c = tdo_calloc(1, sizeof(*c));
    if (!c)
        return tdo_nomem(err);
    c->ctx = ctx;
    tdo_status st = tdo_dsn_parse(url, &c->dsn, err);
    if (st) {
        conn_free(c);
        return st;
    }
    if ((c->backend = find_backend(c->dsn.scheme)) &&
        (st = check_params(c->backend, &c->dsn, err))) {
        conn_free(c);
        return st;
    }
    if (!c->backend) {
        tdo_sb known = TDO_SB_INIT;
        for (size_t i = 0; tdo_url_scheme(i); i++)
            tdo_sb_addf(&known, "%s%s", known.len ? ", " : "",
                        tdo_url_scheme(i));
        st = tdo_error_set(err, TDO_ERR_CONFIGURATION,
                           "unknown database scheme '%s' in URL (known: %s)",
                           c->dsn.scheme, known.buf);
        tdo_sb_release(&known);
        conn_free(c);
        return st;
    }
    c->name = tdo_strdup(name);
    c->url = tdo_url_mask(url);
    if (!c->name || !c->url) {
        conn_free(c);
        return tdo_nomem(err);
    }
    for (size_t i = 0; i < ctx->nconns; i++) {
        if (strcmp(ctx->conns[i]->name, name) == 0) {
            conn_free(ctx->conns[i]);
            ctx->conns[i] = c;
            if (out)
                *out = c;
            return TDO_OK;
        }
    }
    tdo_conn **nc =
        tdo_realloc(ctx->conns, (ctx->nconns + 1) * sizeof(*ctx->conns));
    if (!nc) {
        conn_free(c);
        return tdo_nomem(err);
    }
    ctx->conns = nc;
    ctx->conns[ctx->nconns++] = c;
    if (out)
        *out = c;
    return TDO_OK;
}

/* Finds a connection by name (NULL: "default"); NULL if none. */
tdo_conn *tdo_ctx_conn(const tdo_ctx *ctx, const char *name)
{
    if (!name)
        name = "default";
    for (size_t i = 0; i < ctx->nconns; i++)
        if (strcmp(ctx->conns[i]->name, name) == 0)
            return ctx->conns[i];
    return NULL;
}

/* Returns the number of connections of ctx. */
size_t tdo_ctx_nconns(const tdo_ctx *ctx)
{
    return ctx->nconns;
}

/* Returns the i-th connection of ctx (belongs to ctx), NULL past the end. */
tdo_conn *tdo_ctx_conn_at(const tdo_ctx *ctx, size_t i)
{
    return i < ctx->nconns ? ctx->conns[i] : NULL;
}

/* Closes and forgets every connection of ctx (open cursors stay usable
 * until freed). */
void tdo_close_connections(tdo_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nconns; i++)
        conn_free(ctx->conns[i]);
    tdo_free(ctx->conns);
    ctx->conns = NULL;
    ctx->nconns = 0;
}

/* Returns the connection's name; belongs to c. */
const char *tdo_conn_name(const tdo_conn *c)
{
    return c->name;
}

/* Returns the URL with any password masked as "***"; belongs to c. */
const char *tdo_conn_url(const tdo_conn *c)
{
    return c->url;
}

/* Returns the dialect of the connection's backend; static. */
const tdo_dialect *tdo_conn_dialect(const tdo_conn *c)
{
    return c->backend->dialect;
}

/* Sets the function called before each statement (NULL: none). */
void tdo_ctx_set_trace(tdo_ctx *ctx, tdo_trace_fn fn, void *ud)
{
    ctx->trace = fn;
    ctx->trace_ud = ud;
}

/* Returns the statements run on c (transaction control excluded). */
uint64_t tdo_conn_query_count(const tdo_conn *c)
{
    return c->nqueries;
}

/* Asks the running statement of c to stop; safe in a signal handler. */
void tdo_conn_interrupt(tdo_conn *c)
{
    void *db = c->running;
    if (!db)
        db = c->db;
    if (db && c->backend->cancel)
        c->backend->cancel(db);
}

/* Returns the depth of open transactions of c (0: autocommit). */
int tdo_conn_tx_depth(const tdo_conn *c)
{
    return c->tx_depth;
}

/* ---- cursors ---------------------------------------------------------- */

struct tdo_rows {
    const tdo_backend *be;
    void *stmt; /* NULL once finished */
    const tdo_dialect *dialect;
    bool use_tz;
    bool done;
    char *sql; /* owned, for error messages */
    size_t ncols;
    char **names; /* owned */
    const tdo_field **fields;
    tdo_value *vals;   /* decoded values of the current row; owned */
    tdo_session *sess; /* the session read from while stmt lives; ref */
};

/* Gives the statement back and lets go of the session. */
static void rows_finish(tdo_rows *r)
{
    if (r->stmt)
        r->be->release(r->stmt);
    r->stmt = NULL;
    if (r->sess) {
        r->sess->cursors--;
        session_unref(r->sess);
        r->sess = NULL;
    }
}

/* Frees a cursor (NULL is fine); gives its statement back. */
void tdo_rows_free(tdo_rows *r)
{
    if (!r)
        return;
    rows_finish(r);
    for (size_t i = 0; i < r->ncols; i++) {
        if (r->names)
            tdo_free(r->names[i]);
        if (r->vals)
            tdo_value_release(&r->vals[i]);
    }
    tdo_free(r->names);
    tdo_free(r->fields);
    tdo_free(r->vals);
    tdo_free(r->sql);
    tdo_free(r);
}

/* Makes a cursor over the started stmt (taken over even on failure). */
static tdo_status rows_new(tdo_conn *c, tdo_session *sess, void *stmt,
                           const char *sql, const tdo_colinfo *cols,
                           size_t ncols, tdo_rows **out, tdo_error *err)
{
    *out = NULL;
    tdo_rows *r = tdo_calloc(1, sizeof(*r));
    if (!r) {
        c->backend->release(stmt);
        return tdo_nomem(err);
    }
    r->be = c->backend;
    r->stmt = stmt;
    r->sess = sess;
    sess->refs++;
    sess->cursors++;
    r->dialect = c->backend->dialect;
    r->use_tz = c->ctx->use_tz;
    r->ncols = r->be->ncols(stmt);
    r->sql = tdo_strdup(sql);
    size_t n = r->ncols ? r->ncols : 1;
    r->names = tdo_calloc(n, sizeof(char *));
    r->fields = tdo_calloc(n, sizeof(tdo_field *));
    r->vals = tdo_calloc(n, sizeof(tdo_value));
    if (!r->sql || !r->names || !r->fields || !r->vals)
        goto oom;
    for (size_t i = 0; i < r->ncols; i++) {
        const char *name =
            i < ncols && cols[i].name ? cols[i].name : r->be->colname(stmt, i);
        if (!(r->names[i] = tdo_strdup(name ? name : "")))
            goto oom;
        r->fields[i] = i < ncols ? cols[i].field : NULL;
    }
    *out = r;
    return TDO_OK;
oom:
    tdo_rows_free(r);
    return tdo_nomem(err);
}

/* Steps the cursor; *has_row is false at the end. */
tdo_status tdo_rows_next(tdo_rows *r, bool *has_row, tdo_error *err)
{
    *has_row = false;
    for (size_t i = 0; i < r->ncols; i++)
        tdo_value_release(&r->vals[i]);
    if (r->done)
        return TDO_OK;
    tdo_status st = r->be->step(r->stmt, has_row, err);
    if (st)
        tdo_error_set_sql(err, r->sql);
    if (st || !*has_row) {
        r->done = true;
        rows_finish(r);
    }
    return st;
}

/* Returns the number of columns of the cursor. */
size_t tdo_rows_ncols(const tdo_rows *r)
{
    return r->ncols;
}

/* Returns the name of column i (belongs to r), NULL past the end. */
const char *tdo_rows_colname(const tdo_rows *r, size_t i)
{
    return i < r->ncols ? r->names[i] : NULL;
}

/* Returns the field column i decodes as, or NULL. */
const tdo_field *tdo_rows_colfield(const tdo_rows *r, size_t i)
{
    return i < r->ncols ? r->fields[i] : NULL;
}

/* Column i of the current row decoded through the dialect's from_db
 * when it has a field; borrowed until the next tdo_rows_next(). */
tdo_status tdo_rows_get(tdo_rows *r, size_t i, tdo_value *out, tdo_error *err)
{
    *out = tdo_value_null();
    if (i >= r->ncols)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "column %zu out of range (%zu columns)", i,
                             r->ncols);
    if (!r->stmt)
        return tdo_error_set(err, TDO_ERR_PARAMS, "no current row");
    tdo_value raw;
    tdo_status st = r->be->column(r->stmt, i, &raw, err);
    if (st)
        return st;
    if (!r->fields[i] || !r->dialect->from_db) {
        *out = raw;
        return TDO_OK;
    }
    tdo_value_release(&r->vals[i]);
    st = r->dialect->from_db(r->fields[i], &raw, &r->vals[i], r->use_tz, err);
    if (st)
        return st;
    *out = r->vals[i];
    return TDO_OK;
}

/* ---- execution -------------------------------------------------------- */

/* Runs one statement: trace, convert the parameters with to_db, prepare,
 * bind, then either hand a cursor out or run it to the end. */
static tdo_status run(tdo_conn *c, const char *sql, const tdo_value *params,
                      size_t n, const tdo_colinfo *cols, size_t ncols,
                      bool counted, tdo_rows **rows, int64_t *changes,
                      tdo_error *err)
{
    const tdo_backend *be = c->backend;
    const tdo_dialect *d = be->dialect;
    tdo_status st;
    if (rows)
        *rows = NULL;
    if (changes)
        *changes = 0;
    tdo_session *sess = NULL;
    if ((st = pool_acquire(c, &sess, err))) {
        tdo_error_set_sql(err, sql);
        return st;
    }
    if (c->ctx->trace)
        c->ctx->trace(c->ctx->trace_ud, c->name, sql, params, n);
    if (counted)
        c->nqueries++;
    tdo_value *conv = NULL;
    if (n) {
        if (!(conv = tdo_calloc(n, sizeof(*conv))))
            return tdo_nomem(err);
        for (size_t i = 0; i < n; i++) {
            if (!d->to_db) {
                conv[i] = params[i];
                conv[i].owned = false;
            } else if ((st = d->to_db(NULL, &params[i], &conv[i],
                                      c->ctx->use_tz, err))) {
                for (size_t j = 0; j < i; j++)
                    tdo_value_release(&conv[j]);
                tdo_free(conv);
                tdo_error_set_sql(err, sql);
                return st;
            }
        }
    }
    void *stmt = NULL;
    c->running = sess->db;
    st = be->prepare(sess->db, sql, &stmt, err);
    if (!st)
        st = be->execute(stmt, conv, n, err);
    for (size_t i = 0; i < n; i++)
        tdo_value_release(&conv[i]);
    tdo_free(conv);
    if (!st && rows) {
        c->running = NULL;
        return rows_new(c, sess, stmt, sql, cols, ncols, rows, err);
    }
    bool has_row = !st;
    while (!st && has_row)
        st = be->step(stmt, &has_row, err);
    c->running = NULL;
    if (!st && changes)
        *changes = be->changes(stmt);
    if (stmt)
        be->release(stmt);
    if (st)
        tdo_error_set_sql(err, sql);
    return st;
}

/* Runs sql with bound params; *rows (if rows is not NULL) gets a new
 * cursor (tdo_rows_free()), *changes the rows changed. */
tdo_status tdo_conn_execute(tdo_conn *c, const char *sql,
                            const tdo_value *params, size_t nparams,
                            tdo_rows **rows, int64_t *changes, tdo_error *err)
{
    return run(c, sql, params, nparams, NULL, 0, true, rows, changes, err);
}

/* Runs a compiled statement; the cursor decodes the compiled columns. */
tdo_status tdo_conn_execute_compiled(tdo_conn *c, const tdo_compiled *comp,
                                     tdo_rows **rows, int64_t *changes,
                                     tdo_error *err)
{
    return run(c, comp->sql, comp->params, comp->nparams, comp->cols,
               comp->ncols, true, rows, changes, err);
}

/* Frees an array of n malloc'd strings and the array itself. */
void tdo_free_strings(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        tdo_free(names[i]);
    tdo_free(names);
}

/* Lists the tables of c's database through the dialect's catalogue query. */
tdo_status tdo_conn_tables(tdo_conn *c, char ***names, size_t *n,
                           tdo_error *err)
{
    *names = NULL;
    *n = 0;
    const tdo_dialect *d = tdo_conn_dialect(c);
    if (d->tables_sql == NULL)
        return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                             "listing tables is not supported on %s", d->name);
    tdo_rows *r = NULL;
    tdo_status st = tdo_conn_execute(c, d->tables_sql, NULL, 0, &r, NULL, err);
    char **out = NULL;
    size_t len = 0, cap = 0;
    bool has_row = false;
    while (!st && !(st = tdo_rows_next(r, &has_row, err)) && has_row) {
        tdo_value v;
        if ((st = tdo_rows_get(r, 0, &v, err)))
            break;
        if (v.type != TDO_TEXT && v.type != TDO_BLOB)
            continue;
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **grown = tdo_realloc(out, ncap * sizeof(*out));
            if (grown == NULL) {
                st = tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
                break;
            }
            out = grown;
            cap = ncap;
        }
        if ((out[len] = tdo_strndup(v.u.s.ptr, v.u.s.len)) == NULL) {
            st = tdo_error_set(err, TDO_ERR_NOMEM, "out of memory");
            break;
        }
        len++;
    }
    tdo_rows_free(r);
    if (st) {
        tdo_free_strings(out, len);
        return st;
    }
    *names = out;
    *n = len;
    return TDO_OK;
}

/* Runs ;-separated statements without parameters (DDL). */
tdo_status tdo_conn_execute_script(tdo_conn *c, const char *sql, tdo_error *err)
{
    tdo_session *sess = NULL;
    tdo_status st = pool_acquire(c, &sess, err);
    if (st)
        return st;
    if (c->ctx->trace)
        c->ctx->trace(c->ctx->trace_ud, c->name, sql, NULL, 0);
    c->nqueries++;
    c->running = sess->db;
    st = c->backend->exec_script(sess->db, sql, err);
    c->running = NULL;
    if (st)
        tdo_error_set_sql(err, sql);
    return st;
}

/* ---- transactions ----------------------------------------------------- */

static tdo_status tx_exec(tdo_conn *c, const char *sql, tdo_error *err)
{
    return run(c, sql, NULL, 0, NULL, 0, false, NULL, NULL, err);
}

/* The pool's session whose driver session is db, or NULL. */
static tdo_session *session_of(const tdo_conn *c, const void *db)
{
    for (size_t i = 0; db && i < c->nsessions; i++)
        if (c->sessions[i]->db == db)
            return c->sessions[i];
    return NULL;
}

/* Ends the outermost transaction: the session goes back to the pool. */
static void tx_end(tdo_conn *c)
{
    c->tx_depth = 0;
    c->pinned = NULL;
}

/* Starts a transaction (pinning one session of the pool until it ends),
 * or a savepoint inside an open one. */
tdo_status tdo_conn_begin(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    if (c->tx_depth == 0)
        snprintf(sql, sizeof(sql), "%s",
                 tdo_conn_dialect(c)->begin ? tdo_conn_dialect(c)->begin
                                            : "BEGIN");
    else
        snprintf(sql, sizeof(sql), "SAVEPOINT sp_%d", c->tx_depth);
    tdo_status st = tx_exec(c, sql, err);
    if (!st) {
        if (c->tx_depth == 0)
            c->pinned = session_of(c, c->db);
        c->tx_depth++;
    }
    return st;
}

static tdo_status no_tx(tdo_conn *c, const char *what, tdo_error *err)
{
    return tdo_error_set(err, TDO_ERR_TRANSACTION,
                         "%s without an open transaction on connection '%s'",
                         what, c->name);
}

/* After a failed COMMIT the transaction always ends: rolled back when
 * the database still holds it open (SQLite keeps it after "database is
 * locked"), so that later statements never run inside a transaction
 * nobody will commit.  A session lost during COMMIT leaves the outcome
 * unknown, and err says so. */
static void commit_failed(tdo_conn *c, tdo_error *err)
{
    bool lost = !c->pinned || session_broken(c, c->pinned);
    if (!lost && (!c->backend->in_transaction ||
                  c->backend->in_transaction(c->pinned->db))) {
        tdo_error e2 = TDO_ERROR_INIT;
        tx_exec(c, "ROLLBACK", &e2);
        tdo_error_release(&e2);
        if (err && err->message)
            tdo_error_set(err, err->code,
                          "%s (the transaction was rolled back)", err->message);
    }
    if (lost && err)
        tdo_error_set(err, TDO_ERR_OPERATIONAL,
                      "connection lost during COMMIT: the transaction may or "
                      "may not have been committed (%s)",
                      err->message ? err->message : "no reply");
    tx_end(c);
}

/* Commits the innermost transaction (RELEASE of a savepoint); a failed
 * COMMIT ends the transaction all the same (see commit_failed). */
tdo_status tdo_conn_commit(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    if (c->tx_depth == 0)
        return no_tx(c, "commit", err);
    if (c->tx_depth == 1)
        snprintf(sql, sizeof(sql), "COMMIT");
    else
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp_%d", c->tx_depth - 1);
    tdo_status st = tx_exec(c, sql, err);
    if (!st) {
        if (--c->tx_depth == 0)
            tx_end(c);
    } else if (c->tx_depth == 1) {
        commit_failed(c, err);
    }
    return st;
}

/* Rolls the innermost transaction back (to its savepoint); the depth
 * drops even when the database already ended the transaction. */
tdo_status tdo_conn_rollback(tdo_conn *c, tdo_error *err)
{
    char sql[48];
    if (c->tx_depth == 0)
        return no_tx(c, "rollback", err);
    tdo_status st;
    if (c->tx_depth == 1 && (!c->pinned || session_broken(c, c->pinned))) {
        st = TDO_OK; /* the server dropped the transaction with the session */
    } else if (c->tx_depth == 1) {
        tdo_error e2 = TDO_ERROR_INIT;
        st = tx_exec(c, "ROLLBACK", &e2);
        if (st && c->db && c->backend->in_transaction &&
            !c->backend->in_transaction(c->db))
            st = TDO_OK; /* the database rolled back already */
        if (st && err) {
            tdo_error_release(err);
            *err = e2;
        } else {
            tdo_error_release(&e2);
        }
    } else {
        int n = c->tx_depth - 1;
        snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sp_%d", n);
        st = tx_exec(c, sql, err);
        if (!st) {
            snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp_%d", n);
            st = tx_exec(c, sql, err);
        }
    }
    if (--c->tx_depth == 0)
        tx_end(c);
    return st;
}

/* ---- query shortcuts -------------------------------------------------- */

/* Compiles q as a SELECT for c's dialect and runs it; *rows is new. */
tdo_status tdo_query_run(tdo_conn *c, const tdo_query *q, tdo_rows **rows,
                         tdo_error *err)
{
    tdo_compiled *comp = NULL;
    *rows = NULL;
    tdo_status st = tdo_compile(q, TDO_STMT_SELECT, tdo_conn_dialect(c), NULL,
                                0, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, rows, NULL, err);
    tdo_compiled_free(comp);
    return st;
}

/* Runs a one-row, one-column statement; *v gets column 0 (an integer). */
static tdo_status scalar(tdo_conn *c, const tdo_query *q, tdo_stmt_kind kind,
                         int64_t *v, bool *any, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    tdo_rows *r = NULL;
    *v = 0;
    *any = false;
    tdo_status st =
        tdo_compile(q, kind, tdo_conn_dialect(c), NULL, 0, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, &r, NULL, err);
    if (!st)
        st = tdo_rows_next(r, any, err);
    if (!st && *any) {
        tdo_value val;
        st = tdo_rows_get(r, 0, &val, err);
        if (!st) {
            if (val.type == TDO_INT)
                *v = val.u.i;
            else if (val.type == TDO_BOOL)
                *v = val.u.b;
            else if (val.type == TDO_DOUBLE)
                *v = (int64_t)val.u.d;
            else if (val.type != TDO_NULL)
                *v = 1;
        }
    }
    tdo_rows_free(r);
    tdo_compiled_free(comp);
    return st;
}

/* Counts the rows of q. */
tdo_status tdo_query_count(tdo_conn *c, const tdo_query *q, int64_t *count,
                           tdo_error *err)
{
    bool any;
    return scalar(c, q, TDO_STMT_COUNT, count, &any, err);
}

/* Whether q matches any row. */
tdo_status tdo_query_exists(tdo_conn *c, const tdo_query *q, bool *exists,
                            tdo_error *err)
{
    int64_t v;
    bool any;
    tdo_status st = scalar(c, q, TDO_STMT_EXISTS, &v, &any, err);
    *exists = !st && any && v != 0;
    return st;
}

static tdo_status run_changes(tdo_conn *c, const tdo_query *q,
                              tdo_stmt_kind kind, const tdo_assign *assigns,
                              size_t n, int64_t *changed, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    int64_t ch = 0;
    tdo_status st =
        tdo_compile(q, kind, tdo_conn_dialect(c), assigns, n, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, NULL, &ch, err);
    tdo_compiled_free(comp);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}

/* UPDATE of the rows of q; *changed gets the rows changed. */
tdo_status tdo_query_update(tdo_conn *c, const tdo_query *q,
                            const tdo_assign *assigns, size_t n,
                            int64_t *changed, tdo_error *err)
{
    return run_changes(c, q, TDO_STMT_UPDATE, assigns, n, changed, err);
}

/* DELETE of the rows of q; *deleted gets the rows deleted. */
tdo_status tdo_query_delete(tdo_conn *c, const tdo_query *q, int64_t *deleted,
                            tdo_error *err)
{
    tdo_status st = tdo_delete_set_defaults_(c, q->model, q, NULL, err);
    if (st) {
        if (deleted)
            *deleted = 0;
        return st;
    }
    return run_changes(c, q, TDO_STMT_DELETE, NULL, 0, deleted, err);
}

/* The pk value row i gave explicitly (not NULL), or NULL. */
static const tdo_value *given_pk(const tdo_model *m,
                                 const tdo_field *const *fields, size_t nfields,
                                 const tdo_value *vals, size_t i)
{
    for (size_t j = 0; j < nfields; j++)
        if (fields[j] == m->pk && vals[i * nfields + j].type != TDO_NULL)
            return &vals[i * nfields + j];
    return NULL;
}

/* Inserts nrows rows; pks (may be NULL) receives their primary keys
 * (owned by the caller; NULL where unknown). */
tdo_status tdo_insert(tdo_conn *c, const tdo_model *m,
                      const tdo_field *const *fields, size_t nfields,
                      const tdo_value *vals, size_t nrows,
                      bool ignore_conflicts, tdo_value *pks, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    tdo_status st;
    for (size_t i = 0; pks && i < nrows; i++)
        pks[i] = tdo_value_null();
    st = tdo_compile_insert(m, tdo_conn_dialect(c), fields, nfields, vals,
                            nrows, ignore_conflicts, &comp, err);
    if (st)
        return st;
    if (comp->returning && pks) {
        tdo_rows *r = NULL;
        tdo_colinfo pkcol = {m->pk ? m->pk->name : "pk", m->pk};
        st = run(c, comp->sql, comp->params, comp->nparams,
                 comp->ncols ? comp->cols : &pkcol,
                 comp->ncols ? comp->ncols : 1, true, &r, NULL, err);
        size_t got = 0;
        bool has = !st;
        while (!st && has) {
            st = tdo_rows_next(r, &has, err);
            if (st || !has)
                break;
            tdo_value v;
            if (!(st = tdo_rows_get(r, 0, &v, err)) && got < nrows) {
                if (tdo_value_copy(&pks[got], &v))
                    st = tdo_nomem(err);
                else
                    got++;
            }
        }
        tdo_rows_free(r);
        if (!st && got != nrows) {
            /* conflicts were ignored: keep only what the caller gave */
            for (size_t i = 0; i < nrows; i++) {
                tdo_value_release(&pks[i]);
                const tdo_value *g = given_pk(m, fields, nfields, vals, i);
                if (g && tdo_value_copy(&pks[i], g))
                    st = tdo_nomem(err);
            }
        }
    } else {
        int64_t changes = 0;
        st = tdo_conn_execute_compiled(c, comp, NULL, &changes, err);
        tdo_value last = tdo_value_null();
        bool need_last = false;
        for (size_t i = 0; !st && pks && i < nrows; i++)
            if (!given_pk(m, fields, nfields, vals, i))
                need_last = true;
        if (!st && need_last && changes == (int64_t)nrows &&
            c->backend->last_insert_id)
            st = c->backend->last_insert_id(c->db, &last, err);
        for (size_t i = 0; !st && pks && i < nrows; i++) {
            const tdo_value *g = given_pk(m, fields, nfields, vals, i);
            if (g) {
                if (tdo_value_copy(&pks[i], g))
                    st = tdo_nomem(err);
            } else if (last.type == TDO_INT) {
                tdo_value id =
                    tdo_value_int(last.u.i - (int64_t)(nrows - 1 - i));
                if (m->pk)
                    st = tdo_field_coerce(m->pk, &id, &pks[i], err);
                else
                    pks[i] = id;
            }
        }
        tdo_value_release(&last);
    }
    tdo_compiled_free(comp);
    if (st && pks)
        for (size_t i = 0; i < nrows; i++)
            tdo_value_release(&pks[i]);
    return st;
}

/* UPDATE of fields of the row with primary key pk; *changed 0 or 1. */
tdo_status tdo_update_pk(tdo_conn *c, const tdo_model *m,
                         const tdo_field *const *fields, const tdo_value *vals,
                         size_t n, const tdo_value *pk, int64_t *changed,
                         tdo_error *err)
{
    tdo_compiled *comp = NULL;
    int64_t ch = 0;
    tdo_status st = tdo_compile_update_pk(m, tdo_conn_dialect(c), fields, vals,
                                          n, pk, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, NULL, &ch, err);
    tdo_compiled_free(comp);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}

/* DELETE of the row with primary key pk; *changed 0 or 1. */
tdo_status tdo_delete_pk(tdo_conn *c, const tdo_model *m, const tdo_value *pk,
                         int64_t *changed, tdo_error *err)
{
    tdo_compiled *comp = NULL;
    int64_t ch = 0;
    tdo_status st = tdo_delete_set_defaults_(c, m, NULL, pk, err);
    if (!st)
        st = tdo_compile_delete_pk(m, tdo_conn_dialect(c), pk, &comp, err);
    if (!st)
        st = tdo_conn_execute_compiled(c, comp, NULL, &ch, err);
    tdo_compiled_free(comp);
    if (changed)
        *changed = st ? 0 : ch;
    return st;
}
