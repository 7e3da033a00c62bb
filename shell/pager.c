/*
 * pager.c -- results taller than the terminal go through
 * $PAGER (default "less -SR"), as psql does; PAGER= (empty) turns it off.
 * less gets LESS=FRSX when the user has not set LESS; a pager that would
 * show color escape codes as text gets the text without them.
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

/* Whether the pager command is less (its program's base name). */
static bool is_less(const char *pager)
{
    while (*pager == ' ')
        pager++;
    size_t n = strcspn(pager, " \t");
    const char *base = pager;
    for (size_t i = 0; i < n; i++)
        if (pager[i] == '/')
            base = pager + i + 1;
    return (size_t)(pager + n - base) == 4 && strncmp(base, "less", 4) == 0;
}

/* Whether less will show colors rather than their escape codes: -R or
 * -r (--RAW-CONTROL-CHARS, --raw-control-chars) among the options after
 * its program, or in $LESS. */
static bool less_colors(const char *pager)
{
    const char *p = pager + strspn(pager, " \t");
    p += strcspn(p, " \t"); /* the program: a path may hold '-' */
    while (*(p += strspn(p, " \t"))) {
        size_t n = strcspn(p, " \t");
        if (n > 2 && p[0] == '-' && p[1] == '-') {
            if ((n == 19 && !strncmp(p, "--RAW-CONTROL-CHARS", n)) ||
                (n == 19 && !strncmp(p, "--raw-control-chars", n)))
                return true;
        } else if (p[0] == '-') {
            for (size_t i = 1; i < n; i++)
                if (p[i] == 'R' || p[i] == 'r')
                    return true;
        }
        p += n;
    }
    const char *env = getenv("LESS");
    return env && (strchr(env, 'R') || strchr(env, 'r'));
}

/* Writes text without its terminal escape sequences (ESC [ ... letter). */
static void write_plain(FILE *p, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\033' || i + 1 >= len || text[i + 1] != '[')
            continue;
        fwrite(text + start, 1, i - start, p);
        size_t j = i + 2;
        while (j < len && !((text[j] >= '@' && text[j] <= '~')))
            j++;
        i = j;
        start = j + 1;
    }
    if (start < len)
        fwrite(text + start, 1, len - start, p);
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
    if (rows > 2 && cols > 0 && pager[0] != '\0' && too_tall(text, len, rows)) {
        fflush(stdout);
        /* less gets psql's settings unless the user has chosen some:
         * quit if one screen, colors, chop long lines, keep the screen */
        bool less = is_less(pager);
        if (less)
            setenv("LESS", "FRSX", 0);
        bool plain = !less || !less_colors(pager);
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        FILE *p = popen(pager, "w");
        if (p != NULL) {
            if (plain) /* a pager that would show the escape codes */
                write_plain(p, text, len);
            else
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
