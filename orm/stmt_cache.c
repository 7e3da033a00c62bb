/*
 * stmt_cache.c -- the bounded cache of prepared statements every session
 * keeps, keyed by SQL text, used by the three backends: a statement
 * prepared once runs again without preparing, and when the cache is full
 * the least recently used idle entry makes room.  The cache owns its keys;
 * the statements stay the backend's, which destroys what it gets back.
 */
#include "tdo_int.h"

/* Sets up an empty cache (see tdo_int.h). */
void tdo_stmt_cache_init(tdo_stmt_cache *c, bool shared,
                         void (*drop)(void *stmt, bool in_use, void *ud),
                         void *ud)
{
    memset(c, 0, sizeof(*c));
    c->shared = shared;
    c->drop = drop;
    c->ud = ud;
}

/* FNV-1a of s: statements of one shape share long prefixes, so the
 * texts are compared only when their hashes agree. */
static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Looks sql up (see tdo_int.h). */
int tdo_stmt_cache_find(tdo_stmt_cache *c, const char *sql)
{
    uint64_t h = sql_hash(sql);
    for (size_t i = 0; i < c->n; i++) {
        tdo_cache_entry *e = &c->e[i];
        if (!e->in_use && e->hash == h && strcmp(e->sql, sql) == 0) {
            e->in_use = !c->shared;
            e->last_used = ++c->tick;
            c->hits++;
            return (int)i;
        }
    }
    return -1;
}

/* Adds sql -> stmt (see tdo_int.h). */
int tdo_stmt_cache_add(tdo_stmt_cache *c, const char *sql, void *stmt)
{
    size_t slot = c->n;
    if (c->n == TDO_STMT_CACHE_MAX) {
        slot = TDO_STMT_CACHE_MAX;
        for (size_t i = 0; i < c->n; i++)
            if (!c->e[i].in_use && (slot == TDO_STMT_CACHE_MAX ||
                                    c->e[i].last_used < c->e[slot].last_used))
                slot = i;
        if (slot == TDO_STMT_CACHE_MAX)
            return -1;
    }
    char *key = tdo_strdup(sql);
    if (!key)
        return -1;
    tdo_cache_entry *e = &c->e[slot];
    if (slot < c->n) {
        c->drop(e->stmt, false, c->ud);
        tdo_free(e->sql);
    } else {
        c->n++;
    }
    e->sql = key;
    e->hash = sql_hash(key);
    e->stmt = stmt;
    e->in_use = !c->shared;
    e->last_used = ++c->tick;
    return (int)slot;
}

/* Empties the cache (see tdo_int.h). */
void tdo_stmt_cache_clear(tdo_stmt_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->drop(c->e[i].stmt, c->e[i].in_use, NULL);
        tdo_free(c->e[i].sql);
    }
    c->n = 0;
}
