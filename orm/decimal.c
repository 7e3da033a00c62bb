/*
 * decimal.c -- exact decimals: value = coef * 10^-scale, |coef| < 10^38,
 * 0 <= scale <= 38.  Every operation checks for overflow before it can
 * happen (signed __int128 overflow is undefined behaviour).
 */
#include "tdo_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>

typedef unsigned __int128 u128;

#define MAXD TDO_DECIMAL_MAX_DIGITS

/* 10^n for 0 <= n <= 38. */
static u128 pow10u(int n)
{
    u128 r = 1;

    while (n-- > 0)
        r *= 10;
    return r;
}

/* Number of decimal digits of u (1 for 0). */
static int ndigits(u128 u)
{
    int n = 1;

    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

static u128 magnitude(__int128 c)
{
    return c < 0 ? -(u128)c : (u128)c;
}

/* Builds a decimal from sign and magnitude; false when u has more than 38
 * digits. */
static bool make(bool neg, u128 u, int scale, tdo_decimal *out)
{
    if (u >= pow10u(MAXD) || scale < 0 || scale > MAXD)
        return false;
    out->coef = neg ? -(__int128)u : (__int128)u;
    out->scale = scale;
    return true;
}

/* Divides *u by 10^drop rounding half-even; sticky says that nonzero
 * digits were already dropped below those of *u. */
static void round_drop(u128 *u, int drop, bool sticky)
{
    u128 p, rem, half, q;

    if (drop <= 0)
        return;
    if (drop > MAXD) {
        /* *u < 10^39 <= half of 10^drop: rounds to zero */
        *u = 0;
        return;
    }
    p = pow10u(drop);
    q = *u / p;
    rem = *u % p;
    half = p / 2;
    if (rem > half || (rem == half && (sticky || (q & 1))))
        q++;
    *u = q;
}

/* Parses "-12.50", "1e3", "  7 " into d (scale kept as written: "12.50"
 * has scale 2); ParamsError on bad text or more than 38 digits. */
TDO_API tdo_status tdo_decimal_parse(const char *s, size_t len, tdo_decimal *d,
                                     tdo_error *err)
{
    size_t i = 0, end = len;
    bool neg = false, any = false, dot = false;
    u128 u = 0;
    int sig = 0, frac = 0;
    long exp = 0;
    long scale;

    while (i < end && isspace((unsigned char)s[i]))
        i++;
    while (end > i && isspace((unsigned char)s[end - 1]))
        end--;
    if (i < end && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < end; i++) {
        char c = s[i];

        if (c == '.' && !dot) {
            dot = true;
        } else if (c >= '0' && c <= '9') {
            any = true;
            if (sig > 0 || c != '0')
                sig++;
            if (sig > MAXD)
                goto toolong;
            u = u * 10 + (u128)(c - '0');
            if (dot)
                frac++;
        } else {
            break;
        }
    }
    if (!any)
        goto bad;
    if (i < end && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false, edig = false;

        i++;
        if (i < end && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < end && s[i] >= '0' && s[i] <= '9'; i++) {
            edig = true;
            if (exp < 100000)
                exp = exp * 10 + (s[i] - '0');
        }
        if (!edig)
            goto bad;
        if (eneg)
            exp = -exp;
    }
    if (i != end)
        goto bad;
    scale = (long)frac - exp;
    if (scale < 0) {
        if (u != 0) {
            if (-scale > MAXD || sig - scale > MAXD)
                goto toolong;
            u *= pow10u((int)-scale);
        }
        scale = 0;
    } else if (scale > MAXD) {
        if (u != 0)
            goto toolong;
        scale = MAXD;
    }
    if (!make(neg, u, (int)scale, d))
        goto toolong;
    return TDO_OK;
bad:
    return tdo_error_set(err, TDO_ERR_PARAMS, "invalid decimal '%.*s'",
                         (int)len, s);
toolong:
    return tdo_error_set(err, TDO_ERR_PARAMS,
                         "decimal '%.*s' has more than %d digits", (int)len, s,
                         MAXD);
}

/* Sets d to the integer i. */
TDO_API void tdo_decimal_from_int(int64_t i, tdo_decimal *d)
{
    d->coef = i;
    d->scale = 0;
}

/* Sets d to the shortest decimal that round-trips x (0.1 -> "0.1");
 * ParamsError for NaN or infinity (or a magnitude beyond 38 digits). */
TDO_API tdo_status tdo_decimal_from_double(double x, tdo_decimal *d,
                                           tdo_error *err)
{
    char buf[64];
    int p;

    if (isnan(x) || isinf(x))
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "cannot convert %s to a decimal",
                             isnan(x) ? "NaN" : "infinity");
    /* The fast way, for the common case: the fewest decimal places s
     * with x * 10^s a whole number k below 2^53 such that k / 10^s (a
     * correctly rounded division of two exact doubles, as strtod of the
     * text would round) gives x back: then k scaled s is the shortest
     * decimal that round-trips, as the loop below would find. */
    static const double pow10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    for (int s = 0; s <= 22; s++) {
        double y = x * pow10[s];
        if (fabs(y) >= 9007199254740992.0) /* 2^53 */
            break;
        double k = nearbyint(y);
        if (k / pow10[s] == x) {
            d->coef = (int64_t)k;
            d->scale = s;
            return TDO_OK;
        }
    }
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return tdo_decimal_parse(buf, strlen(buf), d, err);
}

/* Writes the canonical text of d into buf (NUL terminated, truncated to
 * cap; buf may be NULL when cap is 0); returns the full length. */
TDO_API size_t tdo_decimal_format(const tdo_decimal *d, char *buf, size_t cap)
{
    char digits[48], out[48];
    u128 u = magnitude(d->coef);
    int nd = 0, scale = d->scale, i;
    size_t n = 0;

    do {
        digits[nd++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (nd <= scale)
        digits[nd++] = '0';
    if (d->coef < 0)
        out[n++] = '-';
    for (i = nd - 1; i >= 0; i--) {
        out[n++] = digits[i];
        if (i == scale && scale > 0)
            out[n++] = '.';
    }
    out[n] = '\0';
    if (cap > 0) {
        size_t k = n < cap ? n : cap - 1;

        memcpy(buf, out, k);
        buf[k] = '\0';
    }
    return n;
}

/* Returns the nearest double to d. */
TDO_API double tdo_decimal_to_double(const tdo_decimal *d)
{
    char buf[48];

    tdo_decimal_format(d, buf, sizeof(buf));
    return strtod(buf, NULL);
}

/* Compares numerically: <0, 0, >0 ("1.0" equals "1"). */
TDO_API int tdo_decimal_cmp(const tdo_decimal *a, const tdo_decimal *b)
{
    int sa = a->coef < 0 ? -1 : a->coef > 0;
    int sb = b->coef < 0 ? -1 : b->coef > 0;
    u128 ua, ub;
    int r;

    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    ua = magnitude(a->coef);
    ub = magnitude(b->coef);
    if (a->scale < b->scale) {
        if (__builtin_mul_overflow(ua, pow10u(b->scale - a->scale), &ua))
            return sa; /* |a| is the larger */
    } else if (b->scale < a->scale) {
        if (__builtin_mul_overflow(ub, pow10u(a->scale - b->scale), &ub))
            return -sa;
    }
    r = ua < ub ? -1 : ua > ub;
    return sa * r;
}

static tdo_status overflow(tdo_error *err, const char *what)
{
    return tdo_error_set(err, TDO_ERR_OPERATIONAL,
                         "decimal %s overflows %d digits", what, MAXD);
}

/* a + b, or a - b when sub.  The operands are aligned as magnitudes in
 * unsigned 128 bits: an aligned operand that overflows them exceeds
 * 3 * 10^38 while the other is below 10^38, so the result overflows too. */
static tdo_status addsub(const tdo_decimal *a, const tdo_decimal *b, bool sub,
                         tdo_decimal *out, tdo_error *err)
{
    int s = a->scale > b->scale ? a->scale : b->scale;
    u128 ua = magnitude(a->coef), ub = magnitude(b->coef), r;
    bool na = a->coef < 0, nb = (b->coef < 0) != sub, neg;

    if (__builtin_mul_overflow(ua, pow10u(s - a->scale), &ua) ||
        __builtin_mul_overflow(ub, pow10u(s - b->scale), &ub))
        goto fail;
    if (na == nb) {
        if (__builtin_add_overflow(ua, ub, &r))
            goto fail;
        neg = na;
    } else if (ua >= ub) {
        r = ua - ub;
        neg = na;
    } else {
        r = ub - ua;
        neg = nb;
    }
    if (r == 0)
        neg = false;
    if (!make(neg, r, s, out))
        goto fail;
    return TDO_OK;
fail:
    return overflow(err, sub ? "subtraction" : "addition");
}

/* out = a + b (exact; OperationalError on overflow). */
TDO_API tdo_status tdo_decimal_add(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err)
{
    return addsub(a, b, false, out, err);
}

/* out = a - b (exact; OperationalError on overflow). */
TDO_API tdo_status tdo_decimal_sub(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err)
{
    return addsub(a, b, true, out, err);
}

/* out = a * b (exact; OperationalError on overflow).  A product needing
 * more than 38 places after the point is rounded half-even to 38. */
TDO_API tdo_status tdo_decimal_mul(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err)
{
    bool neg = (a->coef < 0) != (b->coef < 0);
    u128 u;
    int s = a->scale + b->scale;

    if (__builtin_mul_overflow(magnitude(a->coef), magnitude(b->coef), &u))
        return overflow(err, "multiplication");
    while (s > MAXD && u % 10 == 0 && u) {
        u /= 10;
        s--;
    }
    if (s > MAXD) {
        round_drop(&u, s - MAXD, false);
        s = MAXD;
    }
    if (u == 0)
        neg = false;
    if (!make(neg, u, s, out))
        return overflow(err, "multiplication");
    return TDO_OK;
}

/* out = a / b to 28 significant digits, rounded half-even, trailing zeros
 * removed down to the larger of both scales; ParamsError on division by
 * zero, OperationalError when the quotient needs more than 38 digits. */
TDO_API tdo_status tdo_decimal_div(const tdo_decimal *a, const tdo_decimal *b,
                                   tdo_decimal *out, tdo_error *err)
{
    const int prec = TDO_DECIMAL_DIV_PRECISION;
    const u128 lim = pow10u(prec);
    bool neg = (a->coef < 0) != (b->coef < 0);
    u128 ua = magnitude(a->coef), ub = magnitude(b->coef);
    u128 q, r;
    int f = 0, s, target;

    if (ub == 0)
        return tdo_error_set(err, TDO_ERR_PARAMS, "decimal division by zero");
    target = a->scale > b->scale ? a->scale : b->scale;
    q = ua / ub;
    r = ua % ub;
    /* long division until prec + 1 significant digits or exact; r < ub
     * and ub < 10^38, so the running sums below stay under 2 * 10^38 */
    while (r != 0 && q < lim) {
        u128 acc = 0;
        int digit = 0, k;

        for (k = 0; k < 10; k++) {
            acc += r;
            if (acc >= ub) {
                acc -= ub;
                digit++;
            }
        }
        q = q * 10 + (u128)digit;
        r = acc;
        f++;
    }
    if (q >= lim) {
        int drop = ndigits(q) - prec;

        round_drop(&q, drop, r != 0);
        f -= drop;
        if (q >= lim) { /* rounded up to 10^prec */
            q /= 10;
            f--;
        }
    }
    s = f + a->scale - b->scale;
    if (s > MAXD) {
        round_drop(&q, s - MAXD, false);
        s = MAXD;
    }
    while (s > target && q != 0 && q % 10 == 0) {
        q /= 10;
        s--;
    }
    if (q == 0 && s > target)
        s = target;
    if (s < 0) {
        if (q != 0 && (-s > MAXD || ndigits(q) - s > MAXD))
            return overflow(err, "division");
        q *= pow10u(-s);
        s = 0;
    }
    while (s < target && q < pow10u(MAXD - 1)) {
        q *= 10;
        s++;
    }
    if (q == 0)
        neg = false;
    if (!make(neg, q, s, out))
        return overflow(err, "division");
    return TDO_OK;
}

/* out = -a. */
TDO_API void tdo_decimal_neg(const tdo_decimal *a, tdo_decimal *out)
{
    out->coef = -a->coef;
    out->scale = a->scale;
}

/* out = d rounded half-even to places digits after the point;
 * ValidationError when the result has more than max_digits digits
 * (max_digits <= 0: no limit) or more than 38; ParamsError for places
 * outside 0..38. */
TDO_API tdo_status tdo_decimal_quantize(const tdo_decimal *d, int places,
                                        int max_digits, tdo_decimal *out,
                                        tdo_error *err)
{
    bool neg = d->coef < 0;
    u128 u = magnitude(d->coef);
    int nd;
    char text[48];

    if (places < 0 || places > MAXD)
        return tdo_error_set(err, TDO_ERR_PARAMS,
                             "decimal places %d out of range 0..%d", places,
                             MAXD);
    if (places < d->scale) {
        round_drop(&u, d->scale - places, false);
    } else if (places > d->scale) {
        if (u != 0 && ndigits(u) + (places - d->scale) > MAXD)
            goto toolong;
        u *= pow10u(places - d->scale);
    }
    nd = ndigits(u);
    if (nd < places)
        nd = places;
    if (max_digits > 0 && nd > max_digits)
        goto toolong;
    if (u == 0)
        neg = false;
    if (!make(neg, u, places, out))
        goto toolong;
    return TDO_OK;
toolong:
    tdo_decimal_format(d, text, sizeof(text));
    return tdo_error_set(err, TDO_ERR_VALIDATION,
                         "decimal %s has more than %d digits with %d decimal "
                         "places",
                         text, max_digits > 0 ? max_digits : MAXD, places);
}
