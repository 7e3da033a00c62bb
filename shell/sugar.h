/*
 * sugar.h -- source rewriting done by the shell before Lua sees a chunk:
 * the `obj:name<...>` sugar and, in the REPL, persistent top-level locals.
 * Pure C: no Lua, no readline (unit-tested on its own).
 */
#ifndef SHELL_SUGAR_H
#define SHELL_SUGAR_H

#include <stddef.h>

/* Name of the function the locals rewrite calls to declare REPL locals. */
#define SHELL_LOCAL_FN "__testudo_local"

/* Translates every `:name<...>` in the Lua source src[0..len) into
 * `:name{...}`: the `<` right after an identifier that follows a single
 * colon opens it, the first `>` at bracket depth 0 outside strings and
 * comments closes it (nesting allowed).  Strings, long brackets and
 * comments are never touched.  The result has the same length and line
 * structure as src.  Returns a new NUL-terminated string owned by the
 * caller (free()), or NULL when out of memory; *out_len (if not NULL)
 * receives its length. */
char *shell_sugar_translate(const char *src, size_t len, size_t *out_len);

/* Rewrites every explicit `key = nil` in the keyword table of
 * `:filter{`, `:exclude{`, `:get{`, `:get_or_none{`, `:update{` and `Q{`
 * (Lua would drop the key, and with it the condition) into
 * `key = orm._nil_arg("key")`, which raises FieldError pointing at
 * orm.null.  Line structure is kept.  Returns a new NUL-terminated string
 * owned by the caller, or NULL when out of memory; *out_len (if not NULL)
 * receives its length. */
char *shell_sugar_nils(const char *src, size_t len, size_t *out_len);

/* The rewriting of every chunk the shell runs: shell_sugar_translate,
 * then shell_sugar_nils.  Same ownership as they. */
char *shell_sugar_rewrite(const char *src, size_t len, size_t *out_len);

/* Rewrites the top-level `local` statements of a REPL chunk (outside any
 * block, function or brackets) into assignments preceded by a declaration:
 * `local a, b = e` becomes `;__testudo_local("a","b") a, b = e`,
 * `local x` becomes `;__testudo_local("x") x = nil` and
 * `local function f` becomes `;__testudo_local("f") function f`.
 * Statements with attributes (`<const>`, `<close>`) stay real locals.
 * Line structure is kept.  Returns a new NUL-terminated string owned by
 * the caller, or NULL when out of memory; *out_len receives its length. */
char *shell_sugar_locals(const char *src, size_t len, size_t *out_len);

#endif
