/*
 * fuzz_url.c -- libFuzzer harness: the URL parser and the masker.
 * Invariants: no crash or sanitizer report; the secret spans are ordered
 * and within the URL; the masked URL never holds the parsed password
 * when it is at least 4 bytes and appears in the URL only once.
 */
#include "tdo_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    size_t len = strlen(url); /* up to the first NUL */

    size_t spans[8][2];
    size_t n = tdo_url_secrets(url, spans, 8);
    size_t end = 0;
    for (size_t i = 0; i < n && i < 8; i++) {
        if (spans[i][0] < end || spans[i][1] < spans[i][0] ||
            spans[i][1] > len)
            abort();
        end = spans[i][1];
    }
    char *masked = tdo_url_mask(url);

    tdo_dsn d;
    tdo_error err = TDO_ERROR_INIT;
    tdo_status st = tdo_dsn_parse(url, &d, &err);
    /* a password of 4 bytes or more that the URL holds only once (and
     * that the URL's own text around it cannot spell) must show nowhere */
    size_t pl = d.password ? strlen(d.password) : 0;
    const char *first = pl ? strstr(url, d.password) : NULL;
    bool once = first && !strstr(first + 1, d.password) && pl >= 4 &&
                !strchr(d.password, '%');
    if (st == TDO_OK && once && masked && strstr(masked, d.password))
        abort(); /* a password shown by the masker */
    if (once && err.message && strstr(err.message, d.password) && n > 0 &&
        n <= 8) {
        /* unless the message says it without the password too (the
         * words of its own text: "user@host") */
        char *other = malloc(len + n + 1);
        size_t o = 0, pos = 0;
        for (size_t i = 0; other && i < n; i++) {
            memcpy(other + o, url + pos, spans[i][0] - pos);
            o += spans[i][0] - pos;
            other[o++] = '#';
            pos = spans[i][1];
        }
        if (other) {
            memcpy(other + o, url + pos, len - pos + 1);
            tdo_dsn d2;
            tdo_error e2 = TDO_ERROR_INIT;
            tdo_dsn_parse(other, &d2, &e2);
            if (!e2.message || !strstr(e2.message, d.password))
                abort(); /* a password in an error message */
            tdo_dsn_release(&d2);
            tdo_error_release(&e2);
            free(other);
        }
    }
    tdo_dsn_release(&d);
    tdo_error_release(&err);
    free(masked);
    free(url);
    return 0;
}
