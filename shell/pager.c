/*
 * pager.c -- results taller (or wider) than the terminal go through
 * $PAGER (default "less -SR"), as psql does; PAGER= (empty) turns it off.
 */
#include "shell.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True when text does not fit in rows x cols. */
static bool too_big(const char *text, size_t len, int rows, int cols)
{
    int lines = 0;
    size_t width = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            if (++lines >= rows - 1)
                return true;
            width = 0;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80 &&
                   ++width > (size_t)cols) {
            return true;
        }
    }
    return false;
}

void shell_page(const char *text, size_t len)
{
    FILE *out = shell.out ? shell.out : stdout;
    int rows = 0, cols = 0;
    if (out == stdout && shell.interactive && isatty(STDOUT_FILENO))
        shell_term_size(&rows, &cols);
    const char *pager = getenv("PAGER");
    if (pager == NULL)
        pager = "less -SR";
    if (rows > 2 && cols > 0 && pager[0] != '\0' &&
        too_big(text, len, rows, cols)) {
        fflush(stdout);
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        FILE *p = popen(pager, "w");
        if (p != NULL) {
            fwrite(text, 1, len, p);
            pclose(p);
            signal(SIGPIPE, old);
            shell_interrupted(); /* a Ctrl-C in the pager was for it */
            return;
        }
        signal(SIGPIPE, old);
    }
    fwrite(text, 1, len, out);
    fflush(out);
}
