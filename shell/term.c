/*
 * term.c -- what the shell knows about terminals: sizes and colors.
 */
#include "shell.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void shell_term_init(void)
{
    const char *nc = getenv("NO_COLOR");
    if (nc != NULL && nc[0] != '\0')
        shell.no_color = true;
    const char *term = getenv("TERM");
    bool dumb = term != NULL && strcmp(term, "dumb") == 0;
    shell.color_out = !shell.no_color && !dumb && isatty(STDOUT_FILENO);
    shell.color_err = !shell.no_color && !dumb && isatty(STDERR_FILENO);
}

void shell_term_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = *cols = 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

const char *shell_sgr(enum shell_color c, bool err)
{
    if (!(err ? shell.color_err : shell.color_out))
        return "";
    switch (c) {
    case SGR_RESET:
        return "\033[0m";
    case SGR_BOLD:
        return "\033[1m";
    case SGR_RED:
        return "\033[31m";
    case SGR_DIM:
        return "\033[2m";
    case SGR_PROMPT:
        return "\033[1;32m";
    }
    return "";
}
