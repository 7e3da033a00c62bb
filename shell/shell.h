/*
 * shell.h -- declarations shared by the files of the testudo executable.
 *
 * main.c    command line, startup, scripts and -e chunks
 * repl.c    the read-eval-print loop, shell_readline(), history, signals
 * sugar.c   the :name<...> sugar and persistent REPL locals (sugar.h)
 * dotcmd.c  the dot-commands, from one table
 * render.c  auto-print: tables, csv, json, markdown, line
 * complete.c readline completion
 * pager.c   long output through $PAGER
 * term.c    terminal facts and colors
 */
#ifndef SHELL_H
#define SHELL_H

#include <stdbool.h>
#include <stdio.h>

#include <lua.h>

#include "testudo.h"

#define SHELL_VERSION  "0.1.0"
#define SHELL_PROGNAME "testudo"

/* Output formats of the renderer. */
enum shell_format {
    FMT_TABLE,
    FMT_CSV,
    FMT_JSON,
    FMT_MARKDOWN,
    FMT_LINE,
};

/* The session's settings (one shell per process). */
struct shell {
    lua_State *L;
    enum shell_format format; /* current output format */
    long limit;               /* rows shown before truncation; 0 = all */
    bool interactive;         /* REPL reading from a terminal */
    bool color_out;           /* colors on stdout */
    bool color_err;           /* colors on stderr */
    bool no_color;            /* --no-color or NO_COLOR */
    bool quiet;               /* -q: no banner */
    bool yes;                 /* -y: no guard before unfiltered writes */
    bool timing;              /* .timing on */
    bool meter;               /* .meter on (the default) */
    bool echo_sql;            /* .sql on / --echo-sql */
    bool quit;                /* .quit asked */
    bool demo;                /* --demo */
    int errors;               /* errors reported so far */
    FILE *out;                /* where results go (stdout or .output) */
    char *last_stmt;          /* the last statement run (malloc'd) */
};

extern struct shell shell;

/* ---- main.c ---- */

/* Loads a Lua file or text with the sugar translated, leaving the chunk
 * (or an error message) on the stack; returns a lua_load status.  name is
 * the chunk name ("@file", "=stdin"). */
int shell_load(lua_State *L, const char *text, size_t len, const char *name);
/* Reads a whole file ("-" is stdin) into a malloc'd buffer, without a
 * leading "#!" line; NULL (errno set) on failure. */
char *shell_read_file(const char *path, size_t *len);
/* Calls the function under the stack top's narg arguments with the
 * message handler and SIGINT armed; returns a lua_pcall status. */
int shell_docall(lua_State *L, int narg, int nres);
/* Prints the error object at the stack top as one line on stderr (red on
 * a terminal) and pops it. */
void shell_report(lua_State *L);
/* Runs a Lua file as a script (the sugar translated); 0 or an error status
 * (the error already reported). */
int shell_dofile(lua_State *L, const char *path);
/* Makes every model in orm.apps a global by its name. */
void shell_export_models(lua_State *L);
/* Pushes the prelude's function fn (shell/prelude.lua). */
void shell_prelude(lua_State *L, const char *fn);
/* Prints a shell error message ("Error: ...") on stderr. */
void shell_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- repl.c ---- */

/* Runs the REPL until Ctrl-D or .quit: on a terminal, or over the
 * statements of a non-tty stdin (printed as at the prompt, going on after
 * errors); returns the exit status (1 after an error in piped input). */
int shell_repl(lua_State *L);
/* Runs the statements and dot-commands of a -e chunk line by line as the
 * REPL does, stopping at the first error; returns 0, or 1 after an error. */
int shell_batch(lua_State *L, const char *chunk);
/* Reads one line with the prompt (readline on a terminal, fgets else);
 * returns a malloc'd line without its newline, or NULL at end of input. */
char *shell_readline(const char *prompt);
/* Evaluates the Lua expression expr in the REPL's environment (with the
 * sugar) and pushes its value; raises its error. */
void shell_eval(lua_State *L, const char *expr);
/* The meter (echo.c): counts the queries of one REPL statement, then
 * prints "3 queries, 12.0 ms" (and an N+1 note) when .meter is on. */
void shell_meter_begin(lua_State *L);
void shell_meter_end(lua_State *L, double ms);
/* Installs the SIGINT handler used while Lua code runs. */
void shell_signals_init(void);
/* True (and cleared) when Ctrl-C was pressed since the last call. */
bool shell_interrupted(void);
/* Whether Ctrl-C was pressed and not yet taken (shell_interrupted()). */
bool shell_sigint_pending(void);
/* After Ctrl-C stopped a statement: closes its cursors, ends what it left
 * (an import's transaction) and reports a transaction still open. */
void shell_after_interrupt(lua_State *L);
/* Arms the hook that raises "interrupted" in L on SIGINT (NULL disarms). */
void shell_set_running(lua_State *L);
/* The context whose running statements SIGINT cancels (NULL: none; set
 * back to NULL before the Lua state closes). */
void shell_set_ctx(tdo_ctx *ctx);

/* ---- dotcmd.c ---- */

/* Runs a line starting with '.'; prints its own errors. */
void shell_dotcmd(lua_State *L, const char *line);
/* Returns the name of the i-th dot-command (without '.'), NULL past the
 * end; static. */
const char *shell_dotcmd_name(int i);

/* ---- render.c ---- */

/* Renders the value at idx in the current format to shell.out (paged
 * when interactive and long); errors are reported, never raised. */
void shell_render(lua_State *L, int idx);
/* Writes n values from idx, none a grid, as one csv row or one JSON
 * document (for the csv and json formats). */
void shell_render_scalars(lua_State *L, int idx, int n);
/* Writes the grid table at idx (as made by the prelude: cols, rows,
 * kinds, total, count_line) in the current format; never raises. */
void shell_output_grid(lua_State *L, int idx);
/* Parses a format name; returns false when unknown. */
bool shell_format_parse(const char *name, enum shell_format *fmt);
/* Returns the name of a format; static. */
const char *shell_format_name(enum shell_format fmt);

/* ---- echo.c ---- */

/* Turns the echo of every statement (to stderr, one line, with its
 * parameters) on or off. */
void shell_set_echo(lua_State *L, bool on);

/* ---- complete.c ---- */

/* Installs readline completion over L. */
void shell_complete_init(lua_State *L);

/* ---- pager.c ---- */

/* Writes text to shell.out, through $PAGER (default "less -S") when the
 * session is interactive and text is taller than the terminal. */
void shell_page(const char *text, size_t len);

/* csvio.c: writes one CSV field (quoted when it must be, "" for an empty
 * string; nothing for NULL). */
void shell_csv_field(FILE *f, const char *s, size_t n, bool null);
/* csv_grid(fh, grid, header): writes a grid's rows (and its header line
 * when header) in the csv format to the Lua file handle fh (render.c). */
int shell_csv_grid(lua_State *L);
/* Puts csv_open, csv_grid and progress into the prelude table at idx. */
void shell_csv_setup(lua_State *L, int prelude);

/* ---- term.c ---- */

/* Sets up shell.color_* from the streams and NO_COLOR. */
void shell_term_init(void);
/* Returns the terminal's rows and columns (0 when unknown). */
void shell_term_size(int *rows, int *cols);
/* Colors of the shell. */
enum shell_color { SGR_RESET, SGR_BOLD, SGR_RED, SGR_DIM, SGR_PROMPT };
/* Returns the escape sequence of c for stdout (err false) or stderr, or
 * "" when colors are off for that stream; static. */
const char *shell_sgr(enum shell_color c, bool err);

#endif
