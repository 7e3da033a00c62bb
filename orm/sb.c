/*
 * sb.c -- the string builder (git's strbuf with a sticky out-of-memory
 * flag) and the allocation hooks every file of orm/ allocates through.
 */
#include "tdo_int.h"

#include <stdio.h>

/* The text of every empty builder; never written to. */
char tdo_sb_empty_[1];

/*
 * The allocation-failure test hook, the only mutable global of the core:
 * > 0: allocations left before the failing one (1: the next one fails);
 * 0: disarmed; -1: the armed failure happened.
 */
static long fail_countdown;

void tdo_test_fail_alloc_after(long nth)
{
    fail_countdown = nth > 0 ? nth : 0;
}

bool tdo_test_alloc_failed(void)
{
    return fail_countdown == -1;
}

/* Counts one allocation; returns true when this one must fail. */
static bool should_fail(void)
{
    if (fail_countdown > 0 && --fail_countdown == 0) {
        fail_countdown = -1;
        return true;
    }
    return false;
}

/* malloc(n) through the test hook; n == 0 allocates one byte, so NULL
 * always means out of memory.  Free with tdo_free(). */
void *tdo_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

/* calloc(n, size) through the test hook (never NULL for a zero size). */
void *tdo_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    return calloc(n, size);
}

/* realloc(p, n) through the test hook; on failure p is left untouched.
 * n == 0 keeps a one-byte block (it never frees). */
void *tdo_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

/* Frees memory of the hooks above; NULL is fine. */
void tdo_free(void *p)
{
    free(p);
}

/* Returns a malloc'd copy of s (NULL for NULL or out of memory). */
char *tdo_strdup(const char *s)
{
    if (!s)
        return NULL;
    return tdo_strndup(s, strlen(s));
}

/* Returns a malloc'd copy of len bytes of s plus a NUL (NULL on out of
 * memory).  s may be NULL when len is 0. */
char *tdo_strndup(const char *s, size_t len)
{
    char *p;

    if (len == SIZE_MAX)
        return NULL;
    p = tdo_malloc(len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Sets up an empty builder. */
TDO_API void tdo_sb_init(tdo_sb *sb)
{
    sb->buf = tdo_sb_empty_;
    sb->len = 0;
    sb->alloc = 0;
    sb->oom = false;
}

/* Frees the builder's memory and empties it. */
TDO_API void tdo_sb_release(tdo_sb *sb)
{
    if (sb->alloc)
        tdo_free(sb->buf);
    tdo_sb_init(sb);
}

/* Empties the builder, keeping its memory and clearing oom. */
TDO_API void tdo_sb_reset(tdo_sb *sb)
{
    sb->len = 0;
    if (sb->alloc)
        sb->buf[0] = '\0';
    sb->oom = false;
}

/* Makes room for extra more bytes (and the NUL); returns false on out of
 * memory, which also sets the sticky oom flag. */
TDO_API bool tdo_sb_grow(tdo_sb *sb, size_t extra)
{
    size_t need, want;
    char *p;

    if (sb->oom)
        return false;
    if (extra > SIZE_MAX - sb->len - 1) {
        sb->oom = true;
        return false;
    }
    need = sb->len + extra + 1;
    if (need <= sb->alloc)
        return true;
    want = sb->alloc < 32 ? 32 : sb->alloc;
    while (want < need)
        want = want > SIZE_MAX / 2 ? need : want * 2;
    p = tdo_realloc(sb->alloc ? sb->buf : NULL, want);
    if (!p) {
        sb->oom = true;
        return false;
    }
    if (!sb->alloc)
        p[0] = '\0';
    sb->buf = p;
    sb->alloc = want;
    return true;
}

/* Appends len bytes of s (ignored after an out of memory). */
TDO_API void tdo_sb_add(tdo_sb *sb, const char *s, size_t len)
{
    if (len == 0 || !tdo_sb_grow(sb, len))
        return;
    memcpy(sb->buf + sb->len, s, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

/* Appends the NUL-terminated s. */
TDO_API void tdo_sb_adds(tdo_sb *sb, const char *s)
{
    tdo_sb_add(sb, s, strlen(s));
}

/* Appends one byte. */
TDO_API void tdo_sb_addc(tdo_sb *sb, char c)
{
    tdo_sb_add(sb, &c, 1);
}

/* Appends printf-style text. */
TDO_API void tdo_sb_addf(tdo_sb *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tdo_sb_vaddf(sb, fmt, ap);
    va_end(ap);
}

/* Appends printf-style text from a va_list (ap is consumed). */
TDO_API void tdo_sb_vaddf(tdo_sb *sb, const char *fmt, va_list ap)
{
    va_list cp;
    size_t avail;
    int n;

    if (sb->oom)
        return;
    avail = sb->alloc ? sb->alloc - sb->len : 0;
    va_copy(cp, ap);
    n = vsnprintf(avail ? sb->buf + sb->len : NULL, avail, fmt, cp);
    va_end(cp);
    if (n < 0) {
        if (sb->alloc)
            sb->buf[sb->len] = '\0';
        sb->oom = true;
        return;
    }
    if ((size_t)n >= avail) {
        if (!tdo_sb_grow(sb, (size_t)n)) {
            if (sb->alloc)
                sb->buf[sb->len] = '\0';
            return;
        }
        vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    }
    sb->len += (size_t)n;
}

/* Returns the text as a malloc'd string owned by the caller (NULL on out
 * of memory, also when oom is set) and empties the builder. */
TDO_API char *tdo_sb_detach(tdo_sb *sb)
{
    char *p;

    if (sb->oom) {
        tdo_sb_release(sb);
        return NULL;
    }
    if (!sb->alloc)
        return tdo_strndup("", 0);
    p = sb->buf;
    tdo_sb_init(sb);
    return p;
}
