/*
 * url.c -- database URLs: the one table of known schemes, parsing
 * scheme://user:password@host:port/database?k=v into a tdo_dsn (with the
 * core's own parameters: pool bounds and timeouts), and finding and
 * masking the secrets a URL holds, parsable or not.
 */
#include "tdo_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>

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

/* The URL parameters of the core: the pool bounds and the timeouts,
 * each an int field of tdo_dsn at least min. */
static const struct core_param {
    const char *key;
    size_t offset;
    int min;
    const char *what; /* the message when the value is bad */
} core_params[] = {
    {"minsize", offsetof(tdo_dsn, minsize), 0,
     "minsize must be a non-negative integer"},
    {"maxsize", offsetof(tdo_dsn, maxsize), 1,
     "maxsize must be a positive integer"},
    {"connect_timeout", offsetof(tdo_dsn, connect_timeout), 0,
     "connect_timeout must be a whole number of seconds"},
    {"statement_timeout", offsetof(tdo_dsn, statement_timeout), 0,
     "statement_timeout must be a whole number of milliseconds"},
};
#define NCORE (sizeof core_params / sizeof *core_params)

/* Reads the core's parameters into d (over its defaults). */
static tdo_status core_values(tdo_dsn *d, tdo_error *err)
{
    for (size_t i = 0; i < NCORE; i++) {
        const struct core_param *p = &core_params[i];
        const char *v = tdo_dsn_param(d, p->key);
        int *slot = (int *)((char *)d + p->offset);
        if (v && (!parse_int(v, slot) || *slot < p->min))
            return bad_url(err, "%s", p->what);
    }
    if (d->minsize > d->maxsize)
        return bad_url(err, "minsize (%d) is larger than maxsize (%d)",
                       d->minsize, d->maxsize);
    return TDO_OK;
}

/* ConfigurationError for a URL parameter that neither the core nor the
 * driver (param_known, may be NULL; engine names it) knows: a typo would
 * otherwise be ignored without a word. */
tdo_status tdo_dsn_check_params(const tdo_dsn *d,
                                bool (*param_known)(const char *key),
                                const char *engine, tdo_error *err)
{
    for (size_t i = 0; i < d->nparams; i++) {
        bool known = param_known && param_known(d->keys[i]);
        for (size_t j = 0; !known && j < NCORE; j++)
            known = strcmp(d->keys[i], core_params[j].key) == 0;
        if (!known) {
            char key[48];
            shorten(key, sizeof(key), d->keys[i], strlen(d->keys[i]));
            return tdo_error_set(err, TDO_ERR_CONFIGURATION,
                                 "unknown %s URL parameter '%s' (see "
                                 "testudo(1), DATABASE URLS)",
                                 engine, key);
        }
    }
    return TDO_OK;
}

/* Reads the scheme of url (lower-cased) into d; *rest: after "://". */
static tdo_status parse_scheme(const char *url, tdo_dsn *d, const char **rest,
                               tdo_error *err)
{
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
    *rest = sep + 3;
    return TDO_OK;
}

/* Reads the port of len bytes at p (after the host's ':'); has_user: the
 * URL had user info (else "host:word" may be a password missing its
 * '@', never quoted). */
static tdo_status parse_port(const char *p, size_t len, bool has_user,
                             tdo_dsn *d, tdo_error *err)
{
    char buf[48], port[16];
    shorten(buf, sizeof(buf), p, len);
    if (len == 0)
        return bad_url(err, "empty port after ':'");
    bool bad = len >= sizeof(port);
    if (!bad) {
        memcpy(port, p, len);
        port[len] = '\0';
        bad = !parse_int(port, &d->port) || d->port < 1 || d->port > 65535;
    }
    if (bad && !has_user)
        return bad_url(err, "invalid port (1 to 65535) after the host, or "
                            "a password without '@'");
    if (bad)
        return bad_url(err, "invalid port '%s' (1 to 65535)", buf);
    return TDO_OK;
}

/* Reads host[:port] (hlen bytes at host; [IPv6] or percent-encoded). */
static tdo_status parse_host(const char *host, size_t hlen, bool has_user,
                             tdo_dsn *d, tdo_error *err)
{
    const char *pcolon = NULL;
    if (hlen && host[0] == '[') {
        const char *rb = memchr(host, ']', hlen);
        if (!rb)
            return bad_url(err, "unclosed '[' in the host");
        if ((size_t)(rb - host) + 1 < hlen) {
            if (rb[1] != ':')
                return bad_url(err, "unexpected text after ']' in the host");
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
    if (!pcolon)
        return TDO_OK;
    return parse_port(pcolon + 1, (size_t)(host + hlen - pcolon - 1), has_user,
                      d, err);
}

/* Copies query parameter key into *slot unless it is set. */
static tdo_status from_param(const tdo_dsn *d, const char *key, char **slot,
                             tdo_error *err)
{
    const char *v = tdo_dsn_param(d, key);
    if (*slot || !v)
        return TDO_OK;
    return (*slot = tdo_strdup(v)) ? TDO_OK : tdo_nomem(err);
}

/* Reads [user[:password]@]host[:port][/database] (len bytes at rest; at:
 * the user info's '@' or NULL); user, password and database may come as
 * parameters too. */
static tdo_status parse_server(const char *rest, size_t len, const char *at,
                               tdo_dsn *d, tdo_error *err)
{
    const char *host = at ? at + 1 : rest;
    const char *slash = memchr(host, '/', (size_t)(rest + len - host));
    size_t netlen = slash ? (size_t)(slash - rest) : len;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        if (ulen && !(d->user = decode(rest, ulen, false)))
            return tdo_nomem(err);
        if (colon &&
            !(d->password = decode(colon + 1, (size_t)(at - colon - 1), false)))
            return tdo_nomem(err);
    }
    tdo_status st =
        parse_host(host, (size_t)(rest + netlen - host), at != NULL, d, err);
    if (st)
        return st;
    if (slash && len > netlen + 1 &&
        !(d->database = decode(slash + 1, len - netlen - 1, false)))
        return tdo_nomem(err);
    if ((st = from_param(d, "user", &d->user, err)) ||
        (st = from_param(d, "password", &d->password, err)) ||
        (st = from_param(d, "database", &d->database, err)) ||
        (st = from_param(d, "dbname", &d->database, err)))
        return st;
    if (!d->database || !*d->database)
        return bad_url(err, "missing database name (%s://user@host/DATABASE)",
                       d->scheme);
    return TDO_OK;
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
    const char *rest = NULL;
    if (!url || !*url)
        return bad_url(err, "empty URL");
    tdo_status st = parse_scheme(url, d, &rest, err);
    if (st)
        return st;
    const char *engine = tdo_url_engine(d->scheme, strlen(d->scheme));
    bool sqlite = engine && strcmp(engine, "sqlite") == 0;
    const char *at = sqlite ? NULL : userinfo_end(rest);
    const char *qm = strchr(at ? at : rest, '?');
    size_t restlen = qm ? (size_t)(qm - rest) : strlen(rest);
    if (qm && (st = parse_query(qm + 1, d, err)))
        return st;
    if (!sqlite)
        st = parse_server(rest, restlen, at, d, err);
    else if (!restlen)
        st = bad_url(err, "sqlite URL needs a file path or :memory:");
    else if (!(d->database = decode(rest, restlen, false)))
        st = tdo_nomem(err);
    return st ? st : core_values(d, err);
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
