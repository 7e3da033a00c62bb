/*
 * pager.c -- results taller than the terminal go through
 * $PAGER (default "less -SR"), as psql does; PAGER= (empty) turns it off.
 */
#include "shell.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True when text has more lines than the terminal shows (SHELL.md: the
 * pager is for results taller than the terminal; wide ones wrap). */
static bool too_tall(const char *text, size_t len, int rows)
{
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' && ++lines >= rows - 1)
            return true;
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
        too_tall(text, len, rows)) {
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
